//! The two measurements every contender goes through, generic over [`Contender`] so each
//! contender's call is inlined into the timed loop (no virtual call in the measurement).
//!
//! - **Per-call latency** ([`latency`]): bursts of [`Settings::burst`] calls, each timed alone
//!   between two fenced clock reads, then a [`Settings::pause`] so a healthy background thread
//!   catches up; the first [`Settings::warmup`] calls are not recorded. The recorded calls go
//!   into an HDR histogram in nanoseconds. Events the contender lost during the run are counted
//!   from its file afterwards, so a contender that dropped (and so did less work) shows it.
//! - **End to end** ([`end_to_end`]): [`Settings::e2e_events`] calls from one thread as fast as
//!   it can, then the contender's own flush/shutdown; the clock stops when the file stops
//!   growing (normally the moment the shutdown returns). The events in the file are counted;
//!   `lost` is what is missing.
//!
//! The logical event is the same everywhere: `order {id} filled at {price} qty {qty}` with a
//! `u64`, an `f64` and a `u32` that change from call to call.

use hdrhistogram::Histogram;
use ringtrace_benches::clock::{ticks, Stopwatch};
use ringtrace_benches::{event_args as args, mean_below};
use serde_json::{json, Value};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The text every output line of the event contains, and no other line does (a contender's own
/// reports, such as slog-async's "dropped messages" line, are not counted).
pub const EVENT_MARK: &[u8] = b" filled at ";

/// How much to measure.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Calls made before recording starts (a whole number of bursts).
    pub warmup: usize,
    /// Calls recorded in the histogram.
    pub measured: usize,
    /// Calls per burst.
    pub burst: usize,
    /// Sleep after each burst.
    pub pause: Duration,
    /// Events of the end-to-end run.
    pub e2e_events: u64,
}

impl Settings {
    /// The full run: 200 k measured calls, 2 M end-to-end events.
    pub const FULL: Settings =
        Settings { warmup: 20_000, measured: 200_000, burst: BURST, pause: PAUSE, e2e_events: 2_000_000 };
    /// `--quick`: the same shape, a tenth of the calls.
    pub const QUICK: Settings =
        Settings { warmup: 4_000, measured: 20_000, burst: BURST, pause: PAUSE, e2e_events: 200_000 };
}

/// Calls per burst. The first call after a pause is cold (caches and predictors were used by
/// other work meanwhile) and is 1/`BURST` of the calls: at 1 000 it would sit exactly on the
/// p99.9 boundary, which would then flip between the warm and the cold tail from run to run.
/// At 2 000 p99.9 is the warm tail, p99.99 includes the cold calls, and the first calls are
/// also reported on their own (`first_call_p50_ns`).
pub const BURST: usize = 2_000;

/// Sleep after each burst: long enough for the slowest peer's background thread (slog-async's
/// worker formats and writes about 100 k events/s on a busy 2-core machine) to empty its queue.
pub const PAUSE: Duration = Duration::from_millis(20);

/// What a contender says when it has shut down.
#[derive(Debug, Default)]
pub struct Finished {
    /// Events the contender itself counted as lost, if it counts them.
    pub reported_lost: Option<u64>,
    /// Events in the output, for an output that is not counted by lines (a binary trace).
    pub written: Option<u64>,
}

/// A logger set up in this process, writing the event to its file from a background thread.
pub trait Contender {
    /// Records `order {id} filled at {price} qty {qty}`. This is the timed call.
    fn log(&mut self, id: u64, price: f64, qty: u32);

    /// Flushes and shuts down, returning once the contender says its output is written.
    fn finish(self) -> Finished;
}

/// Measures the per-call latency of `c` and shuts it down; `file` (if any) is where its events
/// go, counted afterwards for the calls lost during the run.
pub fn latency<C: Contender>(mut c: C, sw: &Stopwatch, s: &Settings, file: Option<&Path>) -> Value {
    let mut hist = Histogram::<u64>::new(3).expect("3 significant figures is valid");
    let mut first = Histogram::<u64>::new(3).expect("3 significant figures is valid");
    let mut samples = vec![0u64; s.burst];
    let total = s.warmup + s.measured;
    let mut done = 0usize;
    while done < total {
        let n = s.burst.min(total - done);
        for (k, slot) in samples[..n].iter_mut().enumerate() {
            let (id, price, qty) = args((done + k) as u64);
            let t0 = ticks();
            c.log(id, price, qty);
            let t1 = ticks();
            *slot = t1.wrapping_sub(t0);
        }
        if done >= s.warmup {
            for &t in &samples[..n] {
                hist.record(sw.to_ns(t)).expect("the histogram resizes itself");
            }
            first.record(sw.to_ns(samples[0])).expect("the histogram resizes itself");
        }
        done += n;
        std::thread::sleep(s.pause);
    }
    let fin = c.finish();
    let lost = match file {
        Some(f) => {
            settle(f, Instant::now());
            Some(total as u64 - count_events(f).min(total as u64))
        }
        None => fin.reported_lost,
    };
    json!({
        "p50_ns": hist.value_at_quantile(0.50),
        "p90_ns": hist.value_at_quantile(0.90),
        "p99_ns": hist.value_at_quantile(0.99),
        "p999_ns": hist.value_at_quantile(0.999),
        "p9999_ns": hist.value_at_quantile(0.9999),
        "max_ns": hist.max(),
        "mean_ns": (hist.mean() * 10.0).round() / 10.0,
        "mean_p99_ns": (mean_below(&hist, 0.99) * 10.0).round() / 10.0,
        "samples": hist.len(),
        "first_call_p50_ns": first.value_at_quantile(0.5),
        "first_call_max_ns": first.max(),
        "latency_lost": lost,
        "tsc_ghz": (sw.ghz() * 1e4).round() / 1e4,
    })
}

/// Runs the end-to-end throughput measurement of `c`, whose events go to `file`.
pub fn end_to_end<C: Contender>(mut c: C, s: &Settings, file: &Path) -> Value {
    let start = Instant::now();
    for i in 0..s.e2e_events {
        let (id, price, qty) = args(i);
        c.log(id, price, qty);
    }
    let offered = start.elapsed();
    let fin = c.finish();
    let done = settle(file, start);
    let written = fin.written.unwrap_or_else(|| count_events(file)).min(s.e2e_events);
    let secs = done.as_secs_f64();
    json!({
        "e2e_events": s.e2e_events,
        "e2e_secs": (secs * 1e4).round() / 1e4,
        "e2e_offer_secs": (offered.as_secs_f64() * 1e4).round() / 1e4,
        "e2e_written": written,
        "e2e_events_per_s": (written as f64 / secs.max(1e-9)).round(),
        "lost": s.e2e_events - written,
        "peer_reported_lost": fin.reported_lost,
    })
}

/// After a contender's shutdown returned: waits until `file` has not grown for 200 ms (a
/// worker that outlives its guard's time-out keeps writing) and returns when, measured from
/// `start`, it last grew, or when the shutdown returned if it did not grow after that.
fn settle(file: &Path, start: Instant) -> Duration {
    const QUIET: Duration = Duration::from_millis(200);
    const LIMIT: Duration = Duration::from_secs(120);
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let mut last_len = size(file);
    let mut last_change = start.elapsed();
    loop {
        std::thread::sleep(Duration::from_millis(5));
        let len = size(file);
        let now = start.elapsed();
        if len != last_len {
            last_len = len;
            last_change = now;
        } else if now - last_change >= QUIET || now >= LIMIT {
            return last_change;
        }
    }
}

/// Counts the lines of `file` that hold the event ([`EVENT_MARK`]); 0 if it cannot be read.
pub fn count_events(file: &Path) -> u64 {
    let Ok(f) = File::open(file) else { return 0 };
    let mut r = BufReader::with_capacity(1 << 20, f);
    let mut line = Vec::with_capacity(256);
    let mut n = 0;
    loop {
        line.clear();
        match r.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return n,
            Ok(_) => {
                if line.windows(EVENT_MARK.len()).any(|w| w == EVENT_MARK) {
                    n += 1;
                }
            }
        }
    }
}

/// The file a contender writes in `dir` for `phase`.
pub fn output_path(dir: &Path, name: &str, phase: &str) -> PathBuf {
    dir.join(format!("{name}-{phase}.log"))
}
