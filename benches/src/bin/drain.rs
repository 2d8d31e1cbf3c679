//! The drain benchmark: how fast the drain thread empties the rings into a sink, how promptly
//! it wakes after a ring swap, and how rarely it runs when nothing is recorded (the drain rows
//! of MISSION §7, R-CORE-5).
//!
//! ```text
//! cargo run --release -p ringtrace-benches --bin drain              # full run (well under 3 min)
//! cargo run --release -p ringtrace-benches --bin drain -- --quick   # well under a minute
//! cargo run --release -p ringtrace-benches --bin drain -- --json    # one JSON object on stdout
//! ```
//!
//! Four measurements, each on its own freshly installed runtime (a runtime can be installed
//! again after a shutdown in the same process; every producer thread is joined before the
//! shutdown, so the accounting is exact):
//!
//! 1. **Throughput, binary file.** One thread records N events of
//!    `info!("order {} filled at {} qty {}", u64, f64, u32)` as fast as it can under
//!    `Policy::Block` (nothing may be dropped), after a warm-up that the drain has taken out of
//!    the rings before the clock starts. Timed from the first measured record until
//!    `Guard::shutdown` has returned, so everything is written and flushed to the OS (not
//!    fsynced). Reported: events/s end to end, the producer's own rate (it includes the time it
//!    waited for rings under `Block`, and how often it had to wait), recorded, dropped, bytes
//!    written. The same run with a `NullSink` (no rendering, no I/O) shows the drain's own cost:
//!    copying records out of the rings, merging by timestamp, batching. The pool is the default
//!    one (64 rings of 64 KiB, at most 8 per thread).
//! 2. **Throughput, JSON lines file**: the same, through `FmtSink` in JSON.
//! 3. **Wake latency after a ring swap.** 4 KiB rings (about a hundred of these records fill
//!    one), `flush_interval` at its maximum (60 s), and `merge_window` 0 so no record is held
//!    back. A swap wakes nobody (it makes no system call): the napping drain's nap lasts at
//!    most 1 ms and its end finds the swapped ring. Each round waits until the drain has
//!    napped, then records until a record's call swapped a ring (the pool's free count fell
//!    during that call), and a sink notes when `write_batch` is first entered. The
//!    latency is sink entry − the end of the swapping call. It includes the drain copying and
//!    batching the swapped ring, but not what the producer spends inside the call after the
//!    swap (mostly its futex wake, reported as the call's duration). Sink entry − the *start*
//!    of the swapping call is reported beside it: a strict upper bound, which also counts any
//!    time the producer was descheduled inside its own call.
//! 4. **Idle wake-ups.** Default configuration: record one event, wait until the drain sleeps
//!    deeply, then count its loop iterations over a few seconds with nothing recorded.
//!
//! Where the time goes: on a shared machine the wall-clock figures depend on what else runs, so
//! each throughput run also reports, from Linux's per-thread `schedstat`, the time the producer
//! and the drain spent on a CPU (per event) and waiting in the run queue. The drain's reading
//! at the end is taken by a do-nothing sink registered first, hence stopped last, on the drain
//! thread itself.
//!
//! Output files go to `$TMPDIR/ringtrace-drain-<pid>/` and are deleted at the end.

use ringtrace::sinks::rotate::Rotation;
use ringtrace::sinks::{BinarySink, FmtSink, Format};
use ringtrace::{
    Batch, Builder, Diagnostic, DiagnosticSink, DrainMetrics, Guard, Policy, Sink, SinkError, ThreadState,
    TransitionCounts,
};
use ringtrace_benches::{machine, wait_drained, NullSink};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// The usage text of `--help`.
const USAGE: &str = "\
Drain throughput, wake latency after a ring swap, and idle wake-ups of ringtrace.

Usage: drain [--quick] [--json] [--only NAME[,NAME...]]

Options:
  --quick         a shorter run (1 M events per throughput run, 500 k to JSON, 50 wake rounds,
                  2 s idle; under a minute)
  --json          print one JSON object on stdout (the markdown table goes to stderr)
  --only NAMES    run only these measurements (comma-separated): throughput_binary,
                  throughput_null, throughput_json, wake_latency, idle
  -h, --help      print this help

Throughput: one thread records `info!(\"order {} filled at {} qty {}\", u64, f64, u32)` as fast
as it can under Policy::Block, timed from the first record until shutdown has returned (all
written and flushed), to a binary trace file, to a NullSink (no I/O) and to a JSON lines file.
Wake latency: from the end of the record call that swapped a ring (waking the napping drain)
until a sink's write_batch is entered (and from the call's start: a strict upper bound).
Idle: drain loop iterations per second with nothing recorded, once the drain sleeps deeply.
";

/// The backpressure timeout of the throughput runs: generous, so nothing is dropped unless the
/// drain stalls for this long.
const BLOCK_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `shutdown` may take before the run counts as failed.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(120);
/// Ring size of the throughput runs (bytes): the default. Larger rings with a larger quota
/// (256 KiB, 32 per thread) made the drain slower here, not faster: it then copies far more
/// per pass into an arena that keeps growing.
const TP_RING_SIZE: usize = ringtrace::DEFAULT_RING_SIZE;
/// Rings in the pool of the throughput runs: the default.
const TP_RING_COUNT: u32 = ringtrace::DEFAULT_RING_COUNT;
/// Most rings the producer may hold in the throughput runs: the default.
const TP_QUOTA: usize = ringtrace::DEFAULT_MAX_RINGS_PER_THREAD;
/// Ring size of the wake-latency run: a few dozen records fill a ring (the minimum size).
const WAKE_RING_SIZE: usize = 4096;
/// Rings in the pool of the wake-latency run (far from the PRESSURE watermark: the only thing
/// that can wake the napping drain is a swap).
const WAKE_RING_COUNT: u32 = 16;
/// `flush_interval` of the wake-latency run: the longest allowed, so the nap never times out.
const WAKE_FLUSH_INTERVAL: Duration = Duration::from_secs(60);
/// How long the drain's loop counter must stay still for it to count as parked.
const PARKED_QUIET: Duration = Duration::from_millis(2);
/// Liveness bound of every wait for the drain (not a timing assertion).
const WAIT_LIMIT: Duration = Duration::from_secs(10);
/// Records per wake round without a wake-up after which the round fails: several rings' worth
/// of records, so a swap must have happened without waking the drain.
const WAKE_RECORD_LIMIT: u64 = 4 * (WAKE_RING_SIZE as u64 / 40);
/// Never-rotated output files.
const NEVER: Rotation = Rotation { max_bytes: 0, max_files: 0 };

/// The measurement sizes of a run.
#[derive(Debug, Clone, Copy)]
struct Settings {
    /// Measured events per binary and NullSink throughput run.
    events: u64,
    /// Measured events per JSON throughput run.
    json_events: u64,
    /// Events recorded and drained before each throughput clock starts.
    warmup: u64,
    /// Wake-latency rounds.
    wake_rounds: usize,
    /// Seconds of idle counting.
    idle: Duration,
}

impl Settings {
    /// The full run.
    const FULL: Settings = Settings {
        events: 10_000_000,
        json_events: 3_000_000,
        warmup: 200_000,
        wake_rounds: 200,
        idle: Duration::from_secs(5),
    };
    /// The `--quick` run.
    const QUICK: Settings = Settings {
        events: 1_000_000,
        json_events: 500_000,
        warmup: 50_000,
        wake_rounds: 50,
        idle: Duration::from_secs(2),
    };
}

/// The measurements, in the order they run (also the keys of the JSON output).
const MEASUREMENTS: [&str; 5] = ["throughput_binary", "throughput_null", "throughput_json", "wake_latency", "idle"];

/// Parsed command line.
#[derive(Debug, Default)]
struct Options {
    /// `--quick`.
    quick: bool,
    /// `--json`.
    json: bool,
    /// `--only`: the measurements to run (all when empty).
    only: Vec<String>,
}

/// Parses `args` (without the program name): `Ok(None)` for `--help`, `Err` with the message
/// for the user.
fn parse(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut o = Options::default();
    while let Some(a) = args.next() {
        match a.as_str() {
            "-h" | "--help" => return Ok(None),
            "--quick" => o.quick = true,
            "--json" => o.json = true,
            "--only" => {
                let names = args.next().ok_or("--only needs a value (see --help)")?;
                for name in names.split(',').filter(|n| !n.is_empty()) {
                    if !MEASUREMENTS.contains(&name) {
                        return Err(format!("unknown measurement {name:?} (see --help)"));
                    }
                    o.only.push(name.to_string());
                }
            }
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    Ok(Some(o))
}

/// The event every measurement records: three arguments, 40 bytes in a ring.
#[inline(always)]
fn record(i: u64) {
    ringtrace::info!("order {} filled at {} qty {}", i, 100.0 + (i % 1000) as f64 * 0.25, (i % 500) as u32 + 1);
}

/// The output directory, deleted when dropped.
#[derive(Debug)]
struct TempDir {
    /// Its path.
    path: PathBuf,
}

impl TempDir {
    /// Creates `$TMPDIR/ringtrace-drain-<pid>/`.
    fn create() -> Result<Self, String> {
        let path = std::env::temp_dir().join(format!("ringtrace-drain-{}", std::process::id()));
        std::fs::create_dir_all(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        Ok(Self { path })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Counts the runtime's diagnostics per kind, keeping the first message of each.
#[derive(Debug, Clone, Default)]
struct DiagCounter {
    /// Kind (its `Debug` name) → (count, first message).
    seen: Arc<Mutex<BTreeMap<String, (u64, String)>>>,
}

impl DiagCounter {
    /// A diagnostics destination that feeds this counter (and keeps stderr clean).
    fn sink(&self) -> DiagnosticSink {
        let seen = self.seen.clone();
        DiagnosticSink::Hook(Arc::new(move |d: &Diagnostic| {
            let mut m = seen.lock().unwrap_or_else(|e| e.into_inner());
            let e = m.entry(format!("{:?}", d.kind)).or_insert_with(|| (0, d.to_string()));
            e.0 += 1 + d.suppressed_before;
        }))
    }

    /// `{kind: {"count": n, "first": message}}`.
    fn to_json(&self) -> Value {
        let m = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        Value::Object(m.iter().map(|(k, (n, first))| (k.clone(), json!({"count": n, "first": first}))).collect())
    }
}

/// Which sink a throughput run writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Output {
    /// `BinarySink` to a file.
    Binary,
    /// `NullSink`: counts and discards.
    Null,
    /// `FmtSink` JSON lines to a file.
    Json,
}

impl Output {
    /// What the run writes to, for the report.
    fn describe(self) -> &'static str {
        match self {
            Output::Binary => "BinarySink to a file",
            Output::Null => "NullSink (no rendering, no I/O)",
            Output::Json => "FmtSink JSON lines to a file",
        }
    }
}

/// Transitions into DROPPING: each one is an episode in which the producer found no room and
/// (under `Block`) waited for the drain to free a ring.
fn entries_into_dropping(t: &TransitionCounts) -> u64 {
    ThreadState::ALL.iter().map(|&from| t.get(from, ThreadState::Dropping)).sum()
}

/// Time a thread spent on a CPU and waiting for one (run queue), in ns, from Linux's
/// `schedstat` file of the thread (`task` is `/proc/thread-self` or `/proc/self/task/<tid>`).
/// `None` where the kernel does not provide it.
fn schedstat(task: &Path) -> Option<(u64, u64)> {
    let s = std::fs::read_to_string(task.join("schedstat")).ok()?;
    let mut f = s.split_whitespace().map(|x| x.parse::<u64>().ok());
    Some((f.next()??, f.next()??))
}

/// The `/proc` directory of the running drain thread (the only thread named
/// `ringtrace-drain`: earlier runtimes' drains were joined), if there is one.
fn drain_task() -> Option<PathBuf> {
    std::fs::read_dir("/proc/self/task")
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| std::fs::read_to_string(p.join("comm")).is_ok_and(|c| c.trim() == "ringtrace-drain"))
}

/// A sink that does nothing but read the drain thread's [`schedstat`] when it is stopped:
/// registered first, it is stopped last, after the measured sink has flushed and stopped.
#[derive(Debug, Clone, Default)]
struct CpuProbe {
    /// The drain thread's reading at `stop`.
    at_stop: Arc<Mutex<Option<(u64, u64)>>>,
    /// Takes records the way the measured sink does (raw beside the binary sink), so the
    /// probe adds no path of its own to the drain's work.
    raw: bool,
}

impl Sink for CpuProbe {
    fn name(&self) -> &str {
        "cpu-probe"
    }

    fn metadata(&self) -> ringtrace::SinkMetadata {
        ringtrace::SinkMetadata::new("cpu-probe", env!("CARGO_PKG_VERSION"))
    }

    fn write_batch(&mut self, _: &Batch<'_>) -> Result<(), SinkError> {
        Ok(())
    }

    fn takes_raw(&self) -> bool {
        self.raw
    }

    fn write_raw(&mut self, _: &ringtrace::RawBatch<'_>) -> Result<(), SinkError> {
        Ok(())
    }

    fn stop(&mut self) -> Result<(), SinkError> {
        *self.at_stop.lock().unwrap_or_else(|e| e.into_inner()) = schedstat(Path::new("/proc/thread-self"));
        Ok(())
    }
}

/// The difference of two [`schedstat`] readings as JSON seconds, `null` if either is missing.
fn cpu_json(before: Option<(u64, u64)>, after: Option<(u64, u64)>) -> Value {
    match (before, after) {
        (Some(b), Some(a)) => json!({
            "on_cpu_secs": round(a.0.saturating_sub(b.0) as f64 / 1e9, 4),
            "runqueue_wait_secs": round(a.1.saturating_sub(b.1) as f64 / 1e9, 4),
        }),
        _ => Value::Null,
    }
}

/// Rounds `x` to `digits` decimals (for the JSON).
fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// One throughput run (see the module doc).
fn throughput(output: Output, s: &Settings, dir: &Path) -> Result<Value, String> {
    let events = if output == Output::Json { s.json_events } else { s.events };
    let warmup = s.warmup;
    let diags = DiagCounter::default();
    let null = NullSink::default();
    let probe = CpuProbe { raw: output == Output::Binary, ..CpuProbe::default() };
    let path = dir.join(match output {
        Output::Binary => "trace.bin",
        Output::Null => "none",
        Output::Json => "events.jsonl",
    });
    let builder = Builder::new()
        .ignore_env()
        .ring_size(TP_RING_SIZE)
        .ring_count(TP_RING_COUNT)
        .max_rings_per_thread(TP_QUOTA)
        .policy(Policy::Block { timeout: BLOCK_TIMEOUT })
        .diagnostics(diags.sink())
        .sink(probe.clone());
    let builder = match output {
        Output::Binary => builder.sink(BinarySink::file(&path, NEVER).map_err(|e| e.to_string())?),
        Output::Null => builder.sink(null.clone()),
        Output::Json => builder.sink(FmtSink::file(&path, Format::Json, NEVER).map_err(|e| e.to_string())?),
    };
    let guard = builder.install().map_err(|e| format!("cannot install the runtime: {e}"))?;

    // The producer records the warm-up, says so, waits for the go, then records the measured
    // events as fast as it can and returns when it started and finished.
    let (warm_tx, warm_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let producer = std::thread::Builder::new()
        .name("producer".into())
        .spawn(move || {
            for i in 0..warmup {
                record(i);
            }
            let _ = warm_tx.send(());
            go_rx.recv().ok()?;
            let me = Path::new("/proc/thread-self");
            let cpu0 = schedstat(me);
            let start = Instant::now();
            for i in warmup..warmup + events {
                record(i);
            }
            let end = Instant::now();
            Some((start, end, cpu_json(cpu0, schedstat(me))))
        })
        .map_err(|e| format!("cannot spawn the producer: {e}"))?;
    warm_rx.recv().map_err(|_| "the producer thread died in the warm-up".to_string())?;
    wait_drained(&guard, warmup);
    // Let the drain hand the warm-up to the sink and go idle before the clock starts.
    std::thread::sleep(Duration::from_millis(50));
    let before = guard.metrics();
    let drain = drain_task();
    let drain_cpu0 = drain.as_deref().and_then(schedstat);
    go_tx.send(()).map_err(|_| "the producer thread died".to_string())?;
    let (start, offered_end, producer_cpu) = producer
        .join()
        .map_err(|_| "the producer thread panicked".to_string())?
        .ok_or_else(|| "the producer thread stopped early".to_string())?;
    let report = guard.shutdown(SHUTDOWN_TIMEOUT);
    let end = Instant::now();
    if report.timed_out {
        return Err(format!("shutdown timed out after {} s", SHUTDOWN_TIMEOUT.as_secs()));
    }

    let secs = (end - start).as_secs_f64();
    let offered_secs = (offered_end - start).as_secs_f64();
    let total = warmup + events;
    let drain_cpu = cpu_json(drain_cpu0, *probe.at_stop.lock().unwrap_or_else(|e| e.into_inner()));
    let sink = report.sinks.iter().find(|k| k.name != probe.name());
    let written = match output {
        Output::Null => null.events.load(Ordering::Relaxed),
        _ => sink.map_or(0, |k| k.written),
    };
    let bytes: u64 =
        sink.map(|k| k.outputs.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum()).unwrap_or(0);
    for p in sink.map(|k| k.outputs.clone()).unwrap_or_default() {
        let _ = std::fs::remove_file(p);
    }
    let bytes_per_event = bytes as f64 / written.max(1) as f64;
    let events_per_s = events as f64 / secs;
    let dropped = report.dropped.total();
    let waits = entries_into_dropping(&report.transitions).saturating_sub(entries_into_dropping(&before.transitions));
    let complete = dropped == 0 && report.recorded == total && written == total;
    let (target, met) = match output {
        Output::Binary => (Some(50e6), Some(complete && events_per_s >= 50e6)),
        Output::Json => (Some(3e6), Some(complete && events_per_s >= 3e6)),
        Output::Null => (None, None),
    };
    Ok(json!({
        "sink": output.describe(),
        "events": events,
        "warmup_events": warmup,
        "secs": round(secs, 4),
        "events_per_s": events_per_s.round(),
        "producer_secs": round(offered_secs, 4),
        "producer_events_per_s": (events as f64 / offered_secs).round(),
        "producer_waits": waits,
        "shutdown_secs": round(report.duration.as_secs_f64(), 4),
        "recorded": report.recorded,
        "dropped": dropped,
        "dropped_by_reason": report.dropped.to_string(),
        "written": written,
        "bytes_written": bytes,
        "bytes_per_event": round(bytes_per_event, 1),
        "mb_per_s": round(bytes_per_event * events as f64 / secs / 1e6, 1),
        "batches": sink.map_or(0, |k| k.batches),
        "sink_errors": report.sink_errors.len(),
        "transitions": report.transitions.to_string(),
        "producer_cpu": producer_cpu,
        "drain_cpu": drain_cpu,
        "diagnostics": diags.to_json(),
        "target_events_per_s": target,
        "met": met,
    }))
}

/// Notes when `write_batch` is first entered after being armed, and counts events.
#[derive(Debug, Clone, Default)]
struct EntrySink {
    /// The first entry since the last [`EntrySink::arm`].
    entered: Arc<Mutex<Option<Instant>>>,
    /// Events received.
    events: Arc<AtomicU64>,
}

impl EntrySink {
    /// Forgets the last entry.
    fn arm(&self) {
        *self.entered.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// The first entry since the last [`EntrySink::arm`].
    fn entered(&self) -> Option<Instant> {
        *self.entered.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Events received so far.
    fn events(&self) -> u64 {
        self.events.load(Ordering::Acquire)
    }
}

impl Sink for EntrySink {
    fn name(&self) -> &str {
        "entry"
    }

    fn metadata(&self) -> ringtrace::SinkMetadata {
        ringtrace::SinkMetadata::new("entry", env!("CARGO_PKG_VERSION"))
    }

    fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        let now = Instant::now();
        self.entered.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(now);
        self.events.fetch_add(batch.len() as u64, Ordering::Release);
        Ok(())
    }
}

/// Waits until the drain has delivered `delivered` events (but the last one, see below) and
/// parked since the snapshot `after` (its sleep counter moved and its loop counter then stays
/// still for `PARKED_QUIET`); returns the snapshot of the parked drain.
///
/// The last record may stay in its ring: the call that swapped rings wakes the drain *before*
/// it writes its own record into the fresh ring, and when the woken drain runs first (it is
/// often scheduled on the recording thread's CPU) it reads the full ring, finds the fresh one
/// still empty, polls for its grace period and naps. A napping drain is woken by the next
/// swap, not by a record, so that record waits for the next round's swap (or
/// `flush_interval`, 60 s here), as designed. It is counted when the next round delivers it.
fn wait_parked(guard: &Guard, sink: &EntrySink, delivered: u64, after: &DrainMetrics) -> Result<DrainMetrics, String> {
    let start = Instant::now();
    while start.elapsed() < WAIT_LIMIT {
        let m = guard.metrics().drain;
        if sink.events() + 1 >= delivered && m.sleeps > after.sleeps {
            // Napping: naps last at most 1 ms (the drain wakes itself to look for swapped
            // rings), so "parked" is "has napped since the last delivery", not "stays still".
            std::thread::sleep(PARKED_QUIET);
            return Ok(guard.metrics().drain);
        } else {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    let (m, all) = (guard.metrics().drain, guard.metrics());
    Err(format!(
        "the drain did not park within {} s (delivered {} of {delivered}, recorded {}, dropped {}; drain since the \
         last park: {} iterations, {} busy passes, {} sleeps, {} corrupt rings; threads: {:?})",
        WAIT_LIMIT.as_secs(),
        sink.events(),
        all.recorded,
        all.dropped.total(),
        m.iterations - after.iterations,
        m.busy_passes - after.busy_passes,
        m.sleeps - after.sleeps,
        m.corrupt_rings - after.corrupt_rings,
        all.threads.iter().map(|t| (t.name.as_str(), t.recorded, t.state, t.exited)).collect::<Vec<_>>()
    ))
}

/// The `p`-th percentile (nearest rank) of sorted `v`.
fn percentile(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// p50, p99 and max of `v` in µs (sorted in place), as JSON.
fn summary_us(v: &mut [f64]) -> Value {
    v.sort_by(f64::total_cmp);
    json!({
        "p50_us": round(percentile(v, 50.0), 1),
        "p99_us": round(percentile(v, 99.0), 1),
        "max_us": round(v.last().copied().unwrap_or(0.0), 1),
    })
}

/// The wake-latency run (see the module doc).
fn wake_latency(s: &Settings) -> Result<Value, String> {
    let sink = EntrySink::default();
    let diags = DiagCounter::default();
    let guard = Builder::new()
        .ignore_env()
        .ring_size(WAKE_RING_SIZE)
        .ring_count(WAKE_RING_COUNT)
        .max_record_size(256)
        .flush_interval(WAKE_FLUSH_INTERVAL)
        .merge_window(Duration::ZERO)
        .sink(sink.clone())
        .diagnostics(diags.sink())
        .install()
        .map_err(|e| format!("cannot install the runtime: {e}"))?;

    // Nothing recorded yet, the drain sleeps deeply: one record wakes it, then it naps.
    let mut parked = guard.metrics().drain;
    record(0);
    let mut delivered = 1u64;
    parked = wait_parked(&guard, &sink, delivered, &parked)?;
    let first = parked;

    let (mut from_start, mut from_end, mut call) = (Vec::new(), Vec::new(), Vec::new());
    let (mut per_round_min, mut per_round_max) = (u64::MAX, 0u64);
    let (mut exact_wakes, mut discarded, mut record_wakes, mut early) = (0usize, 0usize, 0usize, 0usize);
    let mut i = 1u64;
    for _ in 0..s.wake_rounds {
        sink.arm();
        let wakes = parked.wakeups_by_producers;
        let mut n = 0u64;
        // Record until a call swapped a ring (took one from the pool); keep that call's start
        // and end. The swap wakes nobody: the napping drain's nap (≤ 1 ms) ends and finds it.
        let free = guard.metrics().pool.free;
        let (call_start, call_end) = loop {
            let t0 = Instant::now();
            record(i);
            let t1 = Instant::now();
            i += 1;
            n += 1;
            // The drain returns the rings it emptied when it gets to them (on a busy machine
            // it can be descheduled for a while): a return during the fill can hide the swap
            // from the free count. Then the drain has delivered, the sink was entered during
            // the fill, and the round is discarded below (entered before this call started).
            if guard.metrics().pool.free < free || sink.entered().is_some() {
                break (t0, t1);
            }
            if n >= WAKE_RECORD_LIMIT {
                return Err(format!("{n} records (several 4 KiB rings) did not swap a ring"));
            }
        };
        delivered += n;
        let start = Instant::now();
        let entered = loop {
            if let Some(t) = sink.entered() {
                break t;
            }
            if start.elapsed() > WAIT_LIMIT {
                return Err(format!("the drain did not deliver within {} s of being woken", WAIT_LIMIT.as_secs()));
            }
            std::thread::sleep(Duration::from_micros(100));
        };
        let next = wait_parked(&guard, &sink, delivered, &parked)?;
        if next.deep_sleeps != parked.deep_sleeps || n == 1 {
            // Asleep, not napping: the first record woke it, not the nap's end.
            record_wakes += 1;
        }
        if next.wakeups_by_producers == wakes {
            // No producer woke the drain: the swap made no system call.
            exact_wakes += 1;
        }
        if entered < call_start {
            // The drain delivered during the fill: it was not parked after all.
            discarded += 1;
        } else {
            from_start.push((entered - call_start).as_secs_f64() * 1e6);
            // The drain may start before the producer's call returns (0 then).
            early += usize::from(entered < call_end);
            from_end.push(entered.saturating_duration_since(call_end).as_secs_f64() * 1e6);
            call.push((call_end - call_start).as_secs_f64() * 1e6);
            per_round_min = per_round_min.min(n);
            per_round_max = per_round_max.max(n);
        }
        parked = next;
    }
    let last = guard.metrics().drain;
    let report = guard.shutdown(SHUTDOWN_TIMEOUT);
    let rounds = from_start.len();
    let slow_calls = call.iter().filter(|&&us| us > 1000.0).count();
    let end_summary = summary_us(&mut from_end);
    let p99 = end_summary["p99_us"].as_f64().unwrap_or(f64::MAX);
    Ok(json!({
        "rounds": s.wake_rounds,
        "measured_rounds": rounds,
        "discarded_rounds": discarded,
        "from_swap_call_end": end_summary,
        "from_swap_call_start": summary_us(&mut from_start),
        "swap_call": summary_us(&mut call),
        "swap_calls_over_1ms": slow_calls,
        "rounds_sink_entered_before_call_end": early,
        "records_per_round_min": if rounds > 0 { per_round_min } else { 0 },
        "records_per_round_max": per_round_max,
        "woken_by": "the nap's end (at most 1 ms; producers do not wake a napping drain, so a swap makes no system call)",
        "rounds_woken_by_an_ordinary_record": record_wakes,
        "rounds_without_a_producer_wakeup": exact_wakes,
        "wakeups_by_producers": last.wakeups_by_producers - first.wakeups_by_producers,
        "deep_sleeps_during_rounds": last.deep_sleeps - first.deep_sleeps,
        "recorded": report.recorded,
        "dropped": report.dropped.total(),
        "settings": {
            "ring_size": WAKE_RING_SIZE,
            "ring_count": WAKE_RING_COUNT,
            "flush_interval_ms": WAKE_FLUSH_INTERVAL.as_millis() as u64,
            "merge_window_ms": 0,
        },
        "diagnostics": diags.to_json(),
        "target_p99_us": 1000.0,
        "met": rounds > 0 && p99 <= 1000.0 && record_wakes == 0,
    }))
}

/// The idle run (see the module doc).
fn idle(s: &Settings) -> Result<Value, String> {
    let sink = NullSink::default();
    let diags = DiagCounter::default();
    let guard = Builder::new()
        .ignore_env()
        .sink(sink.clone())
        .diagnostics(diags.sink())
        .install()
        .map_err(|e| format!("cannot install the runtime: {e}"))?;
    record(0);
    let start = Instant::now();
    while sink.events.load(Ordering::Relaxed) < 1 {
        if start.elapsed() > WAIT_LIMIT {
            return Err(format!("the drain did not deliver one event within {} s", WAIT_LIMIT.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    // After delivering, the drain naps for LINGER (100 ms), then sleeps deeply.
    let delivered = guard.metrics().drain;
    while guard.metrics().drain.deep_sleeps <= delivered.deep_sleeps {
        if start.elapsed() > WAIT_LIMIT {
            return Err(format!("the drain did not fall asleep within {} s", WAIT_LIMIT.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let (t0, m0) = (Instant::now(), guard.metrics().drain);
    std::thread::sleep(s.idle);
    let (t1, m1) = (Instant::now(), guard.metrics().drain);
    let report = guard.shutdown(SHUTDOWN_TIMEOUT);
    let secs = (t1 - t0).as_secs_f64();
    let per_s = (m1.iterations - m0.iterations) as f64 / secs;
    Ok(json!({
        "secs": round(secs, 3),
        "iterations": m1.iterations - m0.iterations,
        "sleeps": m1.sleeps - m0.sleeps,
        "deep_sleeps": m1.deep_sleeps - m0.deep_sleeps,
        "wakeups_by_producers": m1.wakeups_by_producers - m0.wakeups_by_producers,
        "wakeups_per_s": round(per_s, 2),
        "recorded": report.recorded,
        "diagnostics": diags.to_json(),
        "target_wakeups_per_s": 2.0,
        "met": per_s <= 2.0,
    }))
}

/// `x` events/s as `12.3 M/s`.
fn rate(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2} M/s", x / 1e6)
    } else {
        format!("{:.0} k/s", x / 1e3)
    }
}

/// `met` / `not met` / `—` for a JSON `met` field.
fn verdict(v: &Value) -> &'static str {
    match v.get("met").and_then(Value::as_bool) {
        Some(true) => "met",
        Some(false) => "**not met**",
        None => "—",
    }
}

/// A JSON number as text (`?` when missing).
fn num(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::Number(n)) => n.to_string(),
        _ => "?".into(),
    }
}

/// One measurement to run: its JSON section, or why it failed.
type Measurement<'a> = &'a dyn Fn() -> Result<Value, String>;

/// The 1-minute load average (Linux), to tell a quiet machine from a busy one.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}

/// `secs` of CPU per event, in ns, from a [`cpu_json`] value.
fn ns_per_event(cpu: &Value, events: f64) -> String {
    match cpu.get("on_cpu_secs").and_then(Value::as_f64) {
        Some(secs) => format!("{:.0}", secs * 1e9 / events.max(1.0)),
        None => "?".into(),
    }
}

/// The summary row of a measurement: its figure, or why it failed.
fn figure(r: &Value, ok: impl FnOnce(&Value) -> String) -> String {
    match r.get("error") {
        Some(e) => format!("failed: {}", e.as_str().unwrap_or("?")),
        None => ok(r),
    }
}

/// The markdown report of `doc`.
fn table(doc: &Value, s: &Settings) -> String {
    let m = &doc["machine"];
    let mut o = format!(
        "Drain benchmark: {} ({} cores, kernel {}); {} run, {:.0} s; load average {} at the start, {} at the end.\n\n",
        m["cpu"].as_str().unwrap_or("?"),
        m["cores"],
        m["kernel"].as_str().unwrap_or("?"),
        if doc["settings"]["quick"].as_bool() == Some(true) { "quick" } else { "full" },
        doc["run_secs"].as_f64().unwrap_or(0.0),
        num(&doc["settings"], "load_average_start"),
        num(&doc["settings"], "load_average_end"),
    );
    o.push_str("| what | measured | target (MISSION §7) | |\n|---|--:|---|---|\n");
    let rows: [(&str, &str, &str); 5] = [
        ("throughput_binary", "drain, binary file, 1 producer", "≥ 50 M events/s, nothing dropped"),
        ("throughput_null", "drain, NullSink (no I/O), 1 producer", "— (the drain's own cost)"),
        ("throughput_json", "drain, JSON lines file, 1 producer", "≥ 3 M events/s"),
        ("wake_latency", "drain wake latency after a swap", "p99 ≤ 1 ms"),
        ("idle", "idle drain thread", "≤ 2 wake-ups/s"),
    ];
    for (key, what, target) in rows {
        let r = &doc[key];
        if r.is_null() {
            continue;
        }
        let f = figure(r, |r| match key {
            "wake_latency" => format!(
                "p99 {} µs (p50 {}; from the call's start: p99 {})",
                num(&r["from_swap_call_end"], "p99_us"),
                num(&r["from_swap_call_end"], "p50_us"),
                num(&r["from_swap_call_start"], "p99_us"),
            ),
            "idle" => format!("{} wake-ups/s", num(r, "wakeups_per_s")),
            _ => format!("{} ({} dropped)", rate(r["events_per_s"].as_f64().unwrap_or(0.0)), num(r, "dropped")),
        });
        o.push_str(&format!("| {what} | {f} | {target} | {} |\n", verdict(r)));
    }

    let tp: Vec<&Value> = ["throughput_binary", "throughput_null", "throughput_json"]
        .iter()
        .map(|k| &doc[*k])
        .filter(|r| !r.is_null() && r.get("error").is_none())
        .collect();
    if !tp.is_empty() {
        o.push_str(&format!(
            "\nThroughput: one producer, {} measured events ({} to JSON) after a drained warm-up of {}; \
             Policy::Block {{ timeout: {} s }}, the default pool ({} rings of {} KiB, at most {} per thread); timed \
             from the first measured record until shutdown returned (written and flushed to the OS, not fsynced).\n\n",
            s.events,
            s.json_events,
            s.warmup,
            BLOCK_TIMEOUT.as_secs(),
            TP_RING_COUNT,
            TP_RING_SIZE / 1024,
            TP_QUOTA,
        ));
        o.push_str(
            "| sink | end to end | producer alone | producer waits | shutdown s | recorded | dropped | written | \
             bytes/event | MB/s | producer CPU ns/event | drain CPU ns/event | run-queue wait s (producer, drain) |\n\
             |---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n",
        );
        for r in tp {
            let events = r["events"].as_f64().unwrap_or(1.0);
            let wait = |k: &str| num(&r[k], "runqueue_wait_secs");
            o.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {}, {} |\n",
                r["sink"].as_str().unwrap_or("?"),
                rate(r["events_per_s"].as_f64().unwrap_or(0.0)),
                rate(r["producer_events_per_s"].as_f64().unwrap_or(0.0)),
                num(r, "producer_waits"),
                num(r, "shutdown_secs"),
                num(r, "recorded"),
                num(r, "dropped"),
                num(r, "written"),
                num(r, "bytes_per_event"),
                num(r, "mb_per_s"),
                ns_per_event(&r["producer_cpu"], events),
                ns_per_event(&r["drain_cpu"], events),
                wait("producer_cpu"),
                wait("drain_cpu"),
            ));
        }
        o.push_str(
            "\n`producer alone`: the recording thread's own rate, including the time it waited for free rings under \
             Block; `producer waits`: how often it had to (entries into DROPPING). `recorded` and `written` include \
             the warm-up. CPU ns/event: time on a CPU per measured event (Linux schedstat; the drain's until its \
             sinks stopped); run-queue wait: time the thread was ready but another process had the CPU.\n",
        );
    }

    let w = &doc["wake_latency"];
    if !w.is_null() && w.get("error").is_none() {
        let f = |k: &str, q: &str| num(&w[k], q);
        o.push_str(&format!(
            "\nWake latency: {} rounds ({} measured, {} discarded), {}-byte rings, flush_interval {} s (so the nap \
             never ends on its own), merge_window 0; {}–{} records per round until a swap woke the drain.\n\n\
             | interval | p50 µs | p99 µs | max µs |\n|---|--:|--:|--:|\n\
             | end of the swapping call → sink entered (vs target) | {} | {} | {} |\n\
             | start of the swapping call → sink entered (strict upper bound) | {} | {} | {} |\n\
             | the swapping call itself (incl. its futex wake) | {} | {} | {} |\n\n\
             Woken by: {}. Rounds woken by an ordinary record instead: {}; wakeups_by_producers grew by {} over {} \
             rounds ({} rounds without one); deep sleeps during the rounds: {}. Sink entered before the \
             swapping call returned: {} rounds (counted as 0); swapping calls over 1 ms (the producer descheduled \
             inside its call): {}. Every figure includes the drain copying and batching the swapped ring.\n",
            num(w, "rounds"),
            num(w, "measured_rounds"),
            num(w, "discarded_rounds"),
            WAKE_RING_SIZE,
            WAKE_FLUSH_INTERVAL.as_secs(),
            num(w, "records_per_round_min"),
            num(w, "records_per_round_max"),
            f("from_swap_call_end", "p50_us"),
            f("from_swap_call_end", "p99_us"),
            f("from_swap_call_end", "max_us"),
            f("from_swap_call_start", "p50_us"),
            f("from_swap_call_start", "p99_us"),
            f("from_swap_call_start", "max_us"),
            f("swap_call", "p50_us"),
            f("swap_call", "p99_us"),
            f("swap_call", "max_us"),
            w["woken_by"].as_str().unwrap_or("?"),
            num(w, "rounds_woken_by_an_ordinary_record"),
            num(w, "wakeups_by_producers"),
            num(w, "rounds"),
            num(w, "rounds_without_a_producer_wakeup"),
            num(w, "deep_sleeps_during_rounds"),
            num(w, "rounds_sink_entered_before_call_end"),
            num(w, "swap_calls_over_1ms"),
        ));
    }
    let i = &doc["idle"];
    if !i.is_null() && i.get("error").is_none() {
        o.push_str(&format!(
            "\nIdle: default configuration, one event recorded, then {} s with nothing recorded once the drain \
             slept deeply: {} loop iterations, {} parks ({} deep), {} producer wake-ups.\n",
            num(i, "secs"),
            num(i, "iterations"),
            num(i, "sleeps"),
            num(i, "deep_sleeps"),
            num(i, "wakeups_by_producers"),
        ));
    }
    o
}

/// Parses the command line, runs the measurements and prints the report.
fn main() -> ExitCode {
    let opts = match parse(std::env::args().skip(1)) {
        Ok(Some(o)) => o,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("drain: {e}");
            return ExitCode::from(2);
        }
    };
    let s = if opts.quick { Settings::QUICK } else { Settings::FULL };
    let started = Instant::now();
    let load_start = load_average();
    let dir = match TempDir::create() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("drain: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut failed = false;
    let mut results = Map::new();
    let runs: [(&str, Measurement<'_>); 5] = [
        ("throughput_binary", &|| throughput(Output::Binary, &s, &dir.path)),
        ("throughput_null", &|| throughput(Output::Null, &s, &dir.path)),
        ("throughput_json", &|| throughput(Output::Json, &s, &dir.path)),
        ("wake_latency", &|| wake_latency(&s)),
        ("idle", &|| idle(&s)),
    ];
    for (name, run) in runs {
        if !opts.only.is_empty() && !opts.only.iter().any(|o| o == name) {
            continue;
        }
        let t = Instant::now();
        let v = match run() {
            Ok(v) => {
                eprintln!("drain: {name}: {:.1} s", t.elapsed().as_secs_f64());
                v
            }
            Err(e) => {
                eprintln!("drain: {name}: failed: {e}");
                failed = true;
                json!({ "error": e })
            }
        };
        results.insert(name.to_string(), v);
    }
    drop(dir);

    let mut doc = json!({
        "machine": machine(),
        "settings": {
            "quick": opts.quick,
            "events": s.events,
            "json_events": s.json_events,
            "warmup_events": s.warmup,
            "policy": format!("block({} s)", BLOCK_TIMEOUT.as_secs()),
            "throughput_ring_size": TP_RING_SIZE,
            "throughput_ring_count": TP_RING_COUNT,
            "throughput_max_rings_per_thread": TP_QUOTA,
            "wake_rounds": s.wake_rounds,
            "idle_secs": s.idle.as_secs(),
            "load_average_start": load_start,
            "load_average_end": load_average(),
        },
        "run_secs": round(started.elapsed().as_secs_f64(), 1),
    });
    if let Value::Object(d) = &mut doc {
        d.extend(results);
    }
    let text = table(&doc, &s);
    if opts.json {
        eprint!("\n{text}");
        println!("{doc}");
    } else {
        print!("{text}");
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
