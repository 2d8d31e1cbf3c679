//! Shared pieces of the ringtrace benchmarks (`benches/`): sinks that cost nothing or stall
//! the drain on purpose, and a helper that waits until the drain has caught up, so timed
//! regions measure only the recording thread; the fenced-TSC stopwatch ([`clock`]) and the
//! machine description ([`machine`]) every harness binary reports.

pub mod clock;

use ringtrace::{Batch, Guard, Sink, SinkError};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Counts events and discards them.
#[derive(Debug, Clone, Default)]
pub struct NullSink {
    /// Events received.
    pub events: Arc<AtomicU64>,
}

impl Sink for NullSink {
    fn name(&self) -> &str {
        "null"
    }

    fn metadata(&self) -> ringtrace::SinkMetadata {
        ringtrace::SinkMetadata::new("null", env!("CARGO_PKG_VERSION"))
    }

    fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        self.events.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// Blocks the drain inside `write_batch` while `stalled` is set, so rings are not freed and
/// recording threads stay out of room (for measuring the dropping path).
#[derive(Debug, Clone, Default)]
pub struct StallSink {
    /// While true, `write_batch` waits.
    pub stalled: Arc<AtomicBool>,
}

impl Sink for StallSink {
    fn name(&self) -> &str {
        "stall"
    }

    fn metadata(&self) -> ringtrace::SinkMetadata {
        ringtrace::SinkMetadata::new("stall", env!("CARGO_PKG_VERSION"))
    }

    fn write_batch(&mut self, _: &Batch<'_>) -> Result<(), SinkError> {
        while self.stalled.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_micros(100));
        }
        Ok(())
    }
}

/// Waits (up to 10 s) until the drain has taken `events` records plus drops out of the rings.
pub fn wait_drained(guard: &Guard, events: u64) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        let m = guard.metrics();
        // Every attempt is accounted for: recorded, dropped, or left out by a rate limit or
        // sampling (issue 20).
        if m.recorded + m.dropped.total() + m.rate_limited + m.sampled >= events {
            return;
        }
        std::thread::yield_now();
    }
}

/// The runtime the NORMAL-path benchmarks record into: a pool roomy enough (256 rings, 64 a
/// thread) that bursts never fill it, and a [`NullSink`].
pub fn roomy_runtime() -> Guard {
    ringtrace::Builder::new()
        .ignore_env()
        .ring_count(256)
        .max_rings_per_thread(64)
        .sink(NullSink::default())
        .install()
        .unwrap()
}

/// Calls per timed burst in [`bursts`].
pub const BURST: u64 = 1_000;

/// Times `iters` calls of `f` (each recording one event) in bursts of [`BURST`], waiting
/// (untimed) after each burst until the drain has taken everything, so rings never fill.
/// `total` is the running count of events recorded through `guard`'s runtime.
pub fn bursts(guard: &Guard, total: &mut u64, iters: u64, mut f: impl FnMut(u64)) -> Duration {
    let mut spent = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let n = BURST.min(iters - done);
        let t = Instant::now();
        for i in 0..n {
            f(done + i);
        }
        spent += t.elapsed();
        done += n;
        *total += n;
        wait_drained(guard, *total);
    }
    spent
}

/// The machine: CPU model (from `/proc/cpuinfo`), logical cores, kernel release, and the TSC
/// flags that make the time-stamp counter usable as a clock.
pub fn machine() -> serde_json::Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |key: &str| {
        cpuinfo
            .lines()
            .find(|l| l.split(':').next().is_some_and(|k| k.trim() == key))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    };
    let flags = field("flags").unwrap_or_default();
    let tsc_flags: Vec<&str> =
        flags.split_whitespace().filter(|f| matches!(*f, "constant_tsc" | "nonstop_tsc" | "tsc_known_freq")).collect();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_string()).ok();
    serde_json::json!({
        "cpu": field("model name").unwrap_or_else(|| std::env::consts::ARCH.to_string()),
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "kernel": kernel,
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
        "tsc_flags": tsc_flags.join(" "),
    })
}

/// The arguments of call number `i` of the logical event every harness records,
/// `("order {} filled at {} qty {}", u64, f64, u32)`: an order id, a price and a quantity that
/// change from call to call, hidden from the optimiser.
#[inline(always)]
pub fn event_args(i: u64) -> (u64, f64, u32) {
    use std::hint::black_box;
    (black_box(1_000_000 + i), black_box(100.0 + (i % 997) as f64 * 0.25), black_box((i % 500) as u32 + 1))
}

/// The mean of the fastest `quantile` of the samples in `hist`. Unlike the plain mean it is
/// not carried by the few calls during which the thread was preempted (milliseconds each on a
/// shared machine), and unlike a percentile it is not quantised by the clock's step.
pub fn mean_below(hist: &hdrhistogram::Histogram<u64>, quantile: f64) -> f64 {
    let limit = hist.value_at_quantile(quantile);
    let (mut sum, mut n) = (0f64, 0u64);
    for v in hist.iter_recorded() {
        if v.value_iterated_to() > limit {
            break;
        }
        sum += hist.median_equivalent(v.value_iterated_to()) as f64 * v.count_at_value() as f64;
        n += v.count_at_value();
    }
    if n == 0 {
        0.0
    } else {
        sum / n as f64
    }
}
