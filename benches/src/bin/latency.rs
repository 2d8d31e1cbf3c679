//! Per-call latency of `ringtrace::info!` on the calling thread when 1, 4, 16 and 64 threads
//! record at the same time: the §7 target "64 recording threads: per-call p50 within 1.5× of
//! 1 thread".
//!
//! ```text
//! cargo run --release -p ringtrace-benches --bin latency                  # full run, markdown table
//! cargo run --release -p ringtrace-benches --bin latency -- --quick       # a tenth of the calls
//! cargo run --release -p ringtrace-benches --bin latency -- --json        # one JSON object on stdout
//! cargo run --release -p ringtrace-benches --bin latency -- --threads 1,64
//! ```
//!
//! # Method
//!
//! The same as the per-call measurement of the peers run (`peers/harness.rs`), so the figures
//! compare: every recording thread makes bursts of [`BURST`] calls of
//! `info!("order {} filled at {} qty {}", u64, f64, u32)` (arguments that change per call,
//! through `black_box`), each call timed alone between two fenced TSC reads
//! ([`ticks`]), then sleeps so the drain keeps up. The first bursts are warm-up and not
//! recorded. Each thread keeps its own HDR histogram (ns, 3 significant figures); they are
//! merged at the end, and the spread of the per-thread medians is reported beside the merged
//! figures. The threads wait at a gate until all of them exist, then start together.
//!
//! The pause after a burst is the peers run's [`PAUSE`] (20 ms) up to 4 threads. Beyond that
//! it grows with the thread count ([`pause`]) so that all threads together offer at most
//! [`OFFERED_RATE`] events/s: the drain (measured at 1.1–1.6 M events/s into a `NullSink` on
//! the idle 2-vCPU development machine, about half that while a build shares it) falls behind
//! at 16 threads × 20 ms pauses (1.6 M events/s offered) and by far at 64 (6.4 M events/s),
//! and a run that long would then end in PRESSURE and dropped events, which is not what a
//! per-call latency row is about. Only the first call of a burst sees the longer pause
//! (colder caches); the table shows each row's pause, and how many rings were in use at most
//! (when that approaches the pool, the drain was falling behind).
//!
//! # Isolation
//!
//! Every row runs in a child process (this binary re-executed with the hidden `--child ROW`),
//! so each thread count gets a fresh process-wide runtime, a fresh pool mapping and no threads
//! left over from the previous row. The runtime is installed with `ignore_env()`, a
//! [`NullSink`] (the drain decodes and batches every event, the sink only counts them), the
//! default 64 KiB rings, and a pool of [`RINGS_PER_THREAD`] rings per thread (at least 64) with
//! the same per-thread quota, so no thread runs out of rings while the drain catches up. After
//! the shutdown the [`DrainReport`](ringtrace::DrainReport) must show every call recorded and
//! nothing dropped; a row that dropped is flagged in the output and the exit code.
//!
//! The `tsc_read` row times nothing between the two clock reads (one thread, no runtime): the
//! cost of the measurement itself, which every other row includes; `p50 net` subtracts it.
//!
//! # Reading the figures on a small machine
//!
//! With more recording threads than CPUs, most threads are waiting for a CPU at any moment,
//! and a thread preempted between its two clock reads records the whole time it waited
//! (microseconds to milliseconds). The tails (p99.9 and beyond) of such rows measure the
//! scheduler more than ringtrace; the medians and the mean of the fastest 99 % do not.

use hdrhistogram::Histogram;
use ringtrace_benches::clock::{ticks, Stopwatch, CLOCK_NAME};
use ringtrace_benches::{event_args as args, machine, mean_below, NullSink};
use serde_json::{json, Map, Value};
use std::io::{Read, Write};
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The usage text of `--help`.
const USAGE: &str = "\
Per-call latency of ringtrace::info! with 1, 4, 16 and 64 threads recording at once.

Usage: latency [--quick] [--json] [--threads N[,N...]]

Options:
  --quick          a tenth of the calls (20 k measured per thread; well under a minute)
  --json           print one JSON object on stdout (the markdown table goes to stderr)
  --threads LIST   thread counts to run, comma-separated, each 1 to 256 (default 1,4,16,64)
  -h, --help       print this help

Every thread makes bursts of 2000 calls of info!(\"order {} filled at {} qty {}\", u64, f64,
u32), each call timed alone between two fenced TSC reads, with a 20 ms pause after each burst
so the drain keeps up (the peers run's method; beyond 4 threads the pause grows so all threads
together offer at most 400 k events/s: 80 ms at 16, 320 ms at 64); warm-up calls are not
recorded. Latency is in ns and includes the clock read pair (the tsc_read row); `p50 net`
subtracts the tsc_read p50, `mean ≤p99` is the mean of the fastest 99 %, `×1 thr` the ratio
to the 1-thread row, `rings used` the pool's high-water mark (near the pool size: the drain
fell behind). Each thread count runs in its own process with a fresh runtime (NullSink,
64 KiB rings, 16 rings per thread). Exit code 1 when a row failed or its runtime dropped
events, 2 on bad arguments.
";

/// Thread counts run without `--threads`.
const DEFAULT_THREADS: &[usize] = &[1, 4, 16, 64];

/// The most threads `--threads` accepts (the pool then takes 256 MiB).
const MAX_THREADS: usize = 256;

/// Calls per burst, as in the peers run: the first call after a pause is cold, and at 2000
/// calls per burst it falls beyond p99.9 (it is reported on its own as `first call p50`).
const BURST: usize = 2_000;

/// Sleep after each burst, as in the peers run (the least pause of every row; see [`pause`]).
const PAUSE: Duration = Duration::from_millis(20);

/// The most events per second all recording threads together offer the drain (bursts of
/// [`BURST`] calls, then a pause): a quarter of what the drain takes into a `NullSink` on the
/// idle 2-vCPU development machine, so it keeps up while other work shares the machine (at
/// 800 k events/s it fell 500 rings behind during a concurrent build).
const OFFERED_RATE: f64 = 400_000.0;

/// The pause after each burst with `threads` recording threads: [`PAUSE`], or longer when
/// that would offer more than [`OFFERED_RATE`] events/s (16 threads: 80 ms, 64: 320 ms).
fn pause(threads: usize) -> Duration {
    PAUSE.max(Duration::from_secs_f64((threads * BURST) as f64 / OFFERED_RATE))
}

/// Rings in the pool per recording thread, and each thread's quota. A burst fills about 1.2
/// rings of 64 KiB (40-byte records), so a thread whose rings the drain has not yet taken
/// back has room for more than ten bursts before it could drop.
const RINGS_PER_THREAD: usize = 16;

/// The smallest pool (the default ring count).
const MIN_RINGS: usize = 64;

/// Significant figures of the histograms.
const SIGFIG: u8 = 3;

/// What a child prints before its JSON result, so other output on stdout is ignored.
const RESULT_PREFIX: &str = "@@latency-result ";

/// How much every thread measures.
#[derive(Debug, Clone, Copy)]
struct Settings {
    /// Calls made before recording starts (a whole number of bursts).
    warmup: usize,
    /// Calls recorded in the histogram.
    measured: usize,
}

impl Settings {
    /// The full run: 200 k measured calls per thread.
    const FULL: Settings = Settings { warmup: 20_000, measured: 200_000 };
    /// `--quick`: a tenth of the measured calls (the warm-up of the peers run's quick mode).
    const QUICK: Settings = Settings { warmup: 4_000, measured: 20_000 };

    /// The settings of a run.
    fn of(quick: bool) -> Settings {
        if quick {
            Settings::QUICK
        } else {
            Settings::FULL
        }
    }
}

/// One row of the result, and the argument of the hidden `--child`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Row {
    /// Two clock reads with nothing between them, one thread.
    TscRead,
    /// `info!` from this many threads at once.
    Threads(usize),
    /// The floor: a bare `rtrb` push of a 32-byte record from this many threads at once, each
    /// into its own ring, one consumer thread emptying them all (as ringtrace's drain does).
    Rtrb(usize),
}

impl Row {
    /// The key in the JSON `rows` object and the `--child` argument.
    fn key(self) -> String {
        match self {
            Row::TscRead => "tsc_read".to_string(),
            Row::Threads(n) => format!("threads_{n}"),
            Row::Rtrb(n) => format!("rtrb_{n}"),
        }
    }

    /// The inverse of [`Row::key`].
    fn parse(s: &str) -> Option<Row> {
        match s {
            "tsc_read" => Some(Row::TscRead),
            _ if s.starts_with("rtrb_") => {
                s.strip_prefix("rtrb_")?.parse().ok().filter(|n| (1..=MAX_THREADS).contains(n)).map(Row::Rtrb)
            }
            _ => s.strip_prefix("threads_")?.parse().ok().filter(|n| (1..=MAX_THREADS).contains(n)).map(Row::Threads),
        }
    }
}

/// Parsed command line.
#[derive(Debug)]
struct Options {
    /// `--quick`.
    quick: bool,
    /// `--json`.
    json: bool,
    /// `--threads`: thread counts, in the order given, without repeats.
    threads: Vec<usize>,
    /// Hidden `--child ROW`: measure one row and print its result line.
    child: Option<Row>,
}

/// Parses `args` (without the program name); `Ok(None)` asks for the usage, `Err` carries the
/// message for the user.
fn parse(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut o = Options { quick: false, json: false, threads: DEFAULT_THREADS.to_vec(), child: None };
    while let Some(a) = args.next() {
        let mut value = |flag: &str| args.next().ok_or_else(|| format!("{flag} needs a value"));
        match a.as_str() {
            "-h" | "--help" => return Ok(None),
            "--quick" => o.quick = true,
            "--json" => o.json = true,
            "--threads" => o.threads = parse_threads(&value("--threads")?)?,
            "--child" => {
                let v = value("--child")?;
                o.child = Some(Row::parse(&v).ok_or_else(|| format!("unknown row {v:?}"))?);
            }
            // `cargo bench` passes this to every bench target; accept it and ignore it.
            "--bench" => {}
            other => match other.strip_prefix("--threads=") {
                Some(v) => o.threads = parse_threads(v)?,
                None => return Err(format!("unknown argument {other:?} (see --help)")),
            },
        }
    }
    Ok(Some(o))
}

/// Parses the `--threads` list: comma-separated counts from 1 to [`MAX_THREADS`].
fn parse_threads(list: &str) -> Result<Vec<usize>, String> {
    let mut out = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let n: usize = item.parse().map_err(|_| format!("--threads: {item:?} is not a whole number"))?;
        if !(1..=MAX_THREADS).contains(&n) {
            return Err(format!("--threads: {n} is out of range (1 to {MAX_THREADS})"));
        }
        if !out.contains(&n) {
            out.push(n);
        }
    }
    if out.is_empty() {
        return Err("--threads needs at least one thread count, such as 1,4,16,64".to_string());
    }
    Ok(out)
}

fn main() -> ExitCode {
    let opts = match parse(std::env::args().skip(1)) {
        Ok(Some(o)) => o,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("latency: {e}");
            return ExitCode::from(2);
        }
    };
    match opts.child {
        Some(row) => child(row, opts.quick),
        None => parent(&opts),
    }
}

// ---------------------------------------------------------------------------------------------
// Child: one row.
// ---------------------------------------------------------------------------------------------

/// Child mode: measures `row` and prints its result line.
fn child(row: Row, quick: bool) -> ExitCode {
    let s = Settings::of(quick);
    let sw = Stopwatch::calibrate(Duration::from_millis(if quick { 20 } else { 100 }));
    let result = match row {
        Row::TscRead => run_threads(1, &s, &sw, false).and_then(|h| row_figures(h, &sw, pause(1))),
        Row::Threads(n) => measure_runtime(n, &s, &sw),
        Row::Rtrb(n) => measure_rtrb(n, &s, &sw),
    };
    match result {
        Ok(v) => {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{RESULT_PREFIX}{}", Value::Object(v));
            let _ = out.flush();
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}: {e}", row.key());
            ExitCode::from(1)
        }
    }
}

/// Installs a runtime sized for `n` threads, runs them, shuts the runtime down and returns
/// the row: the latency figures and what the [`DrainReport`](ringtrace::DrainReport) says.
fn measure_runtime(n: usize, s: &Settings, sw: &Stopwatch) -> Result<Map<String, Value>, String> {
    let sink = NullSink::default();
    let sink_events = sink.events.clone();
    let rings = (RINGS_PER_THREAD * n).max(MIN_RINGS);
    let guard = ringtrace::Builder::new()
        .ignore_env()
        .ring_count(rings as u32)
        .max_rings_per_thread(RINGS_PER_THREAD)
        .sink(sink)
        .install()
        .map_err(|e| format!("cannot install the runtime: {e}"))?;
    let threads = run_threads(n, s, sw, true);
    let pool = guard.metrics().pool;
    let report = guard.shutdown(Duration::from_secs(60));
    let mut row = row_figures(threads?, sw, pause(n))?;

    let expected = (n * (s.warmup + s.measured)) as u64;
    let dropped = report.dropped.total();
    let by_reason: Map<String, Value> = report.dropped.iter().map(|(r, k)| (r.to_string(), json!(k))).collect();
    let mut problems = Vec::new();
    if dropped > 0 {
        let reasons: Vec<String> = report.dropped.iter().map(|(r, k)| format!("{r}={k}")).collect();
        problems.push(format!("DROPPED {dropped} events ({})", reasons.join(" ")));
    }
    if report.recorded != expected {
        problems.push(format!("recorded {} of {expected} calls", report.recorded));
    }
    if report.timed_out {
        problems.push("shutdown timed out".to_string());
    }
    if let Some(p) = &report.drain_panic {
        problems.push(format!("drain failed: {p}"));
    }
    row.extend([
        ("threads".to_string(), json!(n)),
        ("expected".to_string(), json!(expected)),
        ("recorded".to_string(), json!(report.recorded)),
        ("dropped".to_string(), json!(dropped)),
        ("dropped_by_reason".to_string(), Value::Object(by_reason)),
        ("dropped_bytes".to_string(), json!(report.dropped_bytes)),
        ("sink_events".to_string(), json!(sink_events.load(std::sync::atomic::Ordering::Relaxed))),
        ("transitions".to_string(), json!(report.transitions.total())),
        ("ring_size".to_string(), json!(pool.ring_size)),
        ("ring_count".to_string(), json!(pool.rings)),
        ("max_rings_per_thread".to_string(), json!(RINGS_PER_THREAD)),
        ("pool_high_water".to_string(), json!(pool.high_water)),
        ("shutdown_ms".to_string(), json!((report.duration.as_secs_f64() * 1e4).round() / 10.0)),
        ("status".to_string(), json!(if problems.is_empty() { "ok".to_string() } else { problems.join("; ") })),
    ]);
    Ok(row)
}

/// The `rtrb` floor with `n` threads (see [`Row::Rtrb`]).
fn measure_rtrb(n: usize, s: &Settings, sw: &Stopwatch) -> Result<Map<String, Value>, String> {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (mut producers, mut consumers) = (Vec::new(), Vec::new());
    for _ in 0..n {
        // As many 32-byte records as a thread's ringtrace rings hold 40-byte ones.
        let (p, c) = rtrb::RingBuffer::<[u8; 32]>::new(RINGS_PER_THREAD * 64 * 1024 / 40);
        producers.push(p);
        consumers.push(c);
    }
    let stop2 = stop.clone();
    let consumer = std::thread::spawn(move || {
        let mut popped = 0u64;
        loop {
            let done = stop2.load(std::sync::atomic::Ordering::Acquire);
            let mut any = false;
            for c in consumers.iter_mut() {
                while let Ok(r) = c.pop() {
                    std::hint::black_box(r);
                    popped += 1;
                    any = true;
                }
            }
            if done && !any {
                return popped;
            }
            if !any {
                std::thread::yield_now();
            }
        }
    });
    let pause = pause(n);
    let gate = Arc::new(Gate::default());
    let handles: Vec<_> = producers
        .into_iter()
        .enumerate()
        .map(|(t, mut p)| {
            let (gate, s, sw) = (gate.clone(), *s, *sw);
            std::thread::spawn(move || {
                gate.arrive();
                measure(
                    |id, price, qty| {
                        let mut rec = [0u8; 32];
                        rec[..8].copy_from_slice(&id.to_le_bytes());
                        rec[8..16].copy_from_slice(&price.to_le_bytes());
                        rec[16..20].copy_from_slice(&qty.to_le_bytes());
                        let _ = p.push(rec);
                    },
                    t as u64 * 100_000_000,
                    &sw,
                    &s,
                    pause,
                )
            })
        })
        .collect();
    gate.open(n, true);
    let threads: Vec<Hists> = handles.into_iter().filter_map(|h| h.join().ok()).collect();
    stop.store(true, std::sync::atomic::Ordering::Release);
    let popped = consumer.join().map_err(|_| "the rtrb consumer panicked".to_string())?;
    let mut row = row_figures(threads, sw, pause)?;
    row.extend([
        ("threads".to_string(), json!(n)),
        ("popped".to_string(), json!(popped)),
        ("status".to_string(), json!("ok")),
    ]);
    Ok(row)
}

/// What one thread measured.
#[derive(Debug)]
struct Hists {
    /// Every measured call, ns.
    all: Histogram<u64>,
    /// The first call of each measured burst (after a pause), ns.
    first: Histogram<u64>,
}

/// An empty histogram of [`SIGFIG`] significant figures that grows as needed.
fn histogram() -> Histogram<u64> {
    Histogram::new(SIGFIG).expect("3 significant figures is valid")
}

/// Records `ns` in `hist`, which grows to hold it. (`saturating_record` does not grow an
/// auto-resizing histogram: it clamps to the current highest trackable value, about 2 µs for
/// a new one, which would hide every preemption.)
fn record(hist: &mut Histogram<u64>, ns: u64) {
    if hist.record(ns).is_err() {
        // Growing failed (the counts array would not fit in memory): keep the call, clamped.
        hist.saturating_record(ns);
    }
}

/// Holds the recording threads until all of them are waiting, then lets them go at once (or
/// sends them home when not all of them could be started).
#[derive(Debug, Default)]
struct Gate {
    /// Threads waiting, and the verdict (`Some(true)`: go; `Some(false)`: give up).
    state: Mutex<(usize, Option<bool>)>,
    /// Notified on every arrival and on the verdict.
    cv: Condvar,
}

impl Gate {
    /// Called by a recording thread: waits for the verdict and returns it.
    fn arrive(&self) -> bool {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.0 += 1;
        self.cv.notify_all();
        while st.1.is_none() {
            st = self.cv.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        st.1 == Some(true)
    }

    /// Called by the spawner: with `go`, waits until `n` threads have arrived, then gives the
    /// verdict to all of them.
    fn open(&self, n: usize, go: bool) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        while go && st.0 < n {
            st = self.cv.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        st.1 = Some(go);
        self.cv.notify_all();
    }
}

/// Runs `n` threads that start together and measure [`info!`](ringtrace::info) (`log`) or
/// nothing at all (the clock reads alone), pausing [`pause`]`(n)` after each burst; returns
/// each thread's histograms.
fn run_threads(n: usize, s: &Settings, sw: &Stopwatch, log: bool) -> Result<Vec<Hists>, String> {
    let pause = pause(n);
    let gate = Arc::new(Gate::default());
    let mut handles = Vec::with_capacity(n);
    let mut error = None;
    for t in 0..n {
        let (gate, s, sw) = (gate.clone(), *s, *sw);
        // Thread `t`'s order ids start at its own offset, so no two threads record alike.
        let base = t as u64 * 100_000_000;
        let spawned = std::thread::Builder::new().name(format!("recorder-{t}")).spawn(move || {
            if !gate.arrive() {
                return None;
            }
            Some(if log {
                measure(
                    |id, price, qty| ringtrace::info!("order {} filled at {} qty {}", id, price, qty),
                    base,
                    &sw,
                    &s,
                    pause,
                )
            } else {
                measure(|_, _, _| {}, base, &sw, &s, pause)
            })
        });
        match spawned {
            Ok(h) => handles.push(h),
            Err(e) => {
                error = Some(format!("cannot start recording thread {t} of {n}: {e}"));
                break;
            }
        }
    }
    gate.open(handles.len(), error.is_none());
    let mut out = Vec::with_capacity(n);
    for h in handles {
        match h.join() {
            Ok(Some(hists)) => out.push(hists),
            Ok(None) => {}
            Err(_) => {
                error.get_or_insert_with(|| "a recording thread panicked".to_string());
            }
        }
    }
    match error {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// Times `call` in bursts on this thread (see the module doc); `base` offsets the arguments.
fn measure<F: FnMut(u64, f64, u32)>(mut call: F, base: u64, sw: &Stopwatch, s: &Settings, pause: Duration) -> Hists {
    let (mut all, mut first) = (histogram(), histogram());
    let mut samples = vec![0u64; BURST];
    let total = s.warmup + s.measured;
    let mut done = 0usize;
    while done < total {
        let n = BURST.min(total - done);
        for (k, slot) in samples[..n].iter_mut().enumerate() {
            let (id, price, qty) = args(base + (done + k) as u64);
            let t0 = ticks();
            call(id, price, qty);
            let t1 = ticks();
            *slot = t1.wrapping_sub(t0);
        }
        if done >= s.warmup {
            for &t in &samples[..n] {
                record(&mut all, sw.to_ns(t));
            }
            record(&mut first, sw.to_ns(samples[0]));
        }
        done += n;
        std::thread::sleep(pause);
    }
    Hists { all, first }
}

/// The latency figures of a row: the merged histograms' percentiles and the spread of the
/// per-thread medians (and the pause the threads took after each burst).
fn row_figures(threads: Vec<Hists>, sw: &Stopwatch, pause: Duration) -> Result<Map<String, Value>, String> {
    let (mut all, mut first) = (histogram(), histogram());
    let (mut p50s, mut means) = (Vec::new(), Vec::new());
    for h in &threads {
        all.add(&h.all).map_err(|e| format!("cannot merge histograms: {e:?}"))?;
        first.add(&h.first).map_err(|e| format!("cannot merge histograms: {e:?}"))?;
        p50s.push(h.all.value_at_quantile(0.5));
        means.push(mean_below(&h.all, 0.99));
    }
    let round1 = |v: f64| (v * 10.0).round() / 10.0;
    let min_max = |v: &[f64]| (v.iter().copied().fold(f64::INFINITY, f64::min), v.iter().copied().fold(0.0, f64::max));
    let p50s: Vec<f64> = p50s.iter().map(|&p| p as f64).collect();
    let (p50_min, p50_max) = min_max(&p50s);
    let (mean_min, mean_max) = min_max(&means);
    let mut m = Map::new();
    m.extend([
        ("p50_ns".to_string(), json!(all.value_at_quantile(0.50))),
        ("p90_ns".to_string(), json!(all.value_at_quantile(0.90))),
        ("p99_ns".to_string(), json!(all.value_at_quantile(0.99))),
        ("p999_ns".to_string(), json!(all.value_at_quantile(0.999))),
        ("p9999_ns".to_string(), json!(all.value_at_quantile(0.9999))),
        ("max_ns".to_string(), json!(all.max())),
        ("mean_ns".to_string(), json!(round1(all.mean()))),
        ("mean_p99_ns".to_string(), json!(round1(mean_below(&all, 0.99)))),
        ("samples".to_string(), json!(all.len())),
        ("first_call_p50_ns".to_string(), json!(first.value_at_quantile(0.5))),
        ("thread_p50_min_ns".to_string(), json!(p50_min)),
        ("thread_p50_max_ns".to_string(), json!(p50_max)),
        ("thread_mean_p99_min_ns".to_string(), json!(round1(mean_min))),
        ("thread_mean_p99_max_ns".to_string(), json!(round1(mean_max))),
        ("tsc_ghz".to_string(), json!((sw.ghz() * 1e4).round() / 1e4)),
        ("pause_ms".to_string(), json!(pause.as_millis() as u64)),
    ]);
    Ok(m)
}

// ---------------------------------------------------------------------------------------------
// Parent: every row in a child, then the report.
// ---------------------------------------------------------------------------------------------

/// Runs the child for `row` and returns its result, or why there is none, and the first lines
/// it wrote to stderr (runtime diagnostics, if any).
fn run_child(row: Row, quick: bool) -> (Result<Map<String, Value>, String>, Vec<String>) {
    let mut notes = Vec::new();
    let result = run_child_inner(row, quick, &mut notes);
    (result, notes)
}

/// [`run_child`], with the stderr lines put in `notes`.
fn run_child_inner(row: Row, quick: bool, notes: &mut Vec<String>) -> Result<Map<String, Value>, String> {
    let mut cmd = Command::new(this_program()?);
    cmd.args(["--child", &row.key()]);
    if quick {
        cmd.arg("--quick");
    }
    let mut proc = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start: {e}"))?;
    let reader = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut r) = r {
                let _ = r.read_to_string(&mut s);
            }
            s
        })
    };
    let out = reader(proc.stdout.take().map(|r| Box::new(r) as Box<dyn Read + Send>));
    let err = reader(proc.stderr.take().map(|r| Box::new(r) as Box<dyn Read + Send>));
    let limit = Duration::from_secs(if quick { 120 } else { 600 });
    let start = Instant::now();
    let status = loop {
        match proc.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if start.elapsed() > limit => {
                let _ = proc.kill();
                let _ = proc.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(format!("cannot wait: {e}")),
        }
    };
    let (out, err) = (out.join().unwrap_or_default(), err.join().unwrap_or_default());
    notes.extend(err.lines().filter(|l| !l.trim().is_empty()).take(5).map(str::to_string));
    let Some(status) = status else { return Err(format!("timed out after {} s", limit.as_secs())) };
    let result = out.lines().rev().find_map(|l| l.strip_prefix(RESULT_PREFIX));
    match (status.success(), result) {
        (true, Some(json)) => match serde_json::from_str(json) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err("unreadable result".into()),
        },
        _ => {
            let why = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message").trim();
            let why: String = why.chars().take(160).collect();
            Err(format!("{status}: {why}"))
        }
    }
}

/// The file to re-execute for a child: `/proc/self/exe` where there is one, which names the
/// running program even after a concurrent `cargo build` replaced it on disk (the children
/// then run the same code as the parent, and do not fail to start); elsewhere the path it was
/// started from.
fn this_program() -> Result<std::path::PathBuf, String> {
    let proc_exe = std::path::Path::new("/proc/self/exe");
    if proc_exe.exists() {
        return Ok(proc_exe.to_path_buf());
    }
    std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))
}

/// Parent mode: runs every row in a child, then prints the table or the JSON.
fn parent(opts: &Options) -> ExitCode {
    let started = Instant::now();
    let s = Settings::of(opts.quick);
    // The rtrb floor at 1 and 4 threads, beside ringtrace's rows (issue 18's ratios).
    let floors = [1usize, 4].into_iter().filter(|n| opts.threads.contains(n)).map(Row::Rtrb);
    let order: Vec<Row> =
        std::iter::once(Row::TscRead).chain(floors).chain(opts.threads.iter().map(|&n| Row::Threads(n))).collect();
    let mut rows = Map::new();
    for &row in &order {
        let t = Instant::now();
        let (result, notes) = run_child(row, opts.quick);
        let took = t.elapsed().as_secs_f64();
        let mut m = match result {
            Ok(m) => {
                eprintln!("latency: {}: {took:.1} s", row.key());
                m
            }
            Err(e) => {
                eprintln!("latency: {}: failed: {e}", row.key());
                let mut m = Map::new();
                m.insert("status".into(), json!(format!("failed: {e}")));
                m
            }
        };
        for line in notes {
            eprintln!("    {line}");
        }
        m.entry("status").or_insert_with(|| json!("ok"));
        m.insert("run_secs".into(), json!((took * 10.0).round() / 10.0));
        rows.insert(row.key(), Value::Object(m));
    }
    derive(&mut rows);

    let elapsed = started.elapsed().as_secs_f64();
    let machine = machine();
    let cores = machine["cores"].as_u64().unwrap_or(1) as usize;
    let doc = json!({
        "machine": machine,
        "settings": {
            "quick": opts.quick,
            "clock": CLOCK_NAME,
            "threads": opts.threads,
            "warmup_calls_per_thread": s.warmup,
            "measured_calls_per_thread": s.measured,
            "burst": BURST,
            "pause_ms": format!(
                "{} (longer beyond 4 threads: at most {OFFERED_RATE} events/s offered in all; see each row's pause_ms)",
                PAUSE.as_millis()
            ),
            "event": "info!(\"order {} filled at {} qty {}\", u64, f64, u32)",
            "runtime": format!(
                "Builder::new().ignore_env(), NullSink, default ring_size and policy, ring_count = max({MIN_RINGS}, \
                 {RINGS_PER_THREAD} × threads), max_rings_per_thread = {RINGS_PER_THREAD}; one child process per row"
            ),
        },
        "run_secs": (elapsed * 10.0).round() / 10.0,
        "rows": rows,
    });
    let (text, ok) = report(&doc, &order, cores, elapsed);
    if opts.json {
        eprint!("\n{text}");
        println!("{doc}");
    } else {
        print!("{text}");
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Adds the figures computed across rows: net of the `tsc_read` row, and ratios to the
/// 1-thread row.
fn derive(rows: &mut Map<String, Value>) {
    let get = |rows: &Map<String, Value>, row: &str, key: &str| rows.get(row).and_then(|r| r.get(key)?.as_f64());
    let tsc_p50 = get(rows, "tsc_read", "p50_ns");
    let tsc_mean = get(rows, "tsc_read", "mean_p99_ns");
    let one_p50 = get(rows, "threads_1", "p50_ns");
    let one_mean = get(rows, "threads_1", "mean_p99_ns");
    let one_mean_net = one_mean.zip(tsc_mean).map(|(a, b)| a - b);
    let round = |v: f64, digits: i32| (v * 10f64.powi(digits)).round() / 10f64.powi(digits);
    for row in rows.values_mut() {
        let Some(row) = row.as_object_mut() else { continue };
        let (Some(p50), Some(mean)) =
            (row.get("p50_ns").and_then(Value::as_f64), row.get("mean_p99_ns").and_then(Value::as_f64))
        else {
            continue;
        };
        if let Some(t) = tsc_p50 {
            row.insert("p50_net_ns".into(), json!((p50 - t).max(0.0)));
        }
        if let Some(t) = tsc_mean {
            row.insert("mean_p99_net_ns".into(), json!(round((mean - t).max(0.0), 1)));
        }
        if !row.contains_key("threads") {
            continue;
        }
        if let Some(b) = one_p50.filter(|&b| b > 0.0) {
            row.insert("p50_vs_1".into(), json!(round(p50 / b, 3)));
        }
        if let Some(b) = one_mean.filter(|&b| b > 0.0) {
            row.insert("mean_p99_vs_1".into(), json!(round(mean / b, 3)));
        }
        if let (Some(b), Some(t)) = (one_mean_net.filter(|&b| b > 0.0), tsc_mean) {
            row.insert("mean_p99_net_vs_1".into(), json!(round((mean - t) / b, 3)));
        }
    }
    // ringtrace against the rtrb floor at the same thread count (issue 18).
    for n in [1usize, 4] {
        let (Some(fp50), Some(f999)) =
            (get(rows, &format!("rtrb_{n}"), "p50_ns"), get(rows, &format!("rtrb_{n}"), "p999_ns"))
        else {
            continue;
        };
        if let Some(row) = rows.get_mut(&format!("threads_{n}")).and_then(Value::as_object_mut) {
            let (p50, p999) = (row.get("p50_ns").and_then(Value::as_f64), row.get("p999_ns").and_then(Value::as_f64));
            if let Some(p) = p50.filter(|_| fp50 > 0.0) {
                row.insert("p50_vs_rtrb".into(), json!(round(p / fp50, 2)));
            }
            if let Some(p) = p999.filter(|_| f999 > 0.0) {
                row.insert("p999_vs_rtrb".into(), json!(round(p / f999, 2)));
            }
        }
    }
}

/// Nanoseconds for the table: as is below 10 µs (a mean keeps one decimal), then µs below
/// 1 ms, then ms.
fn ns(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(v) if v < 1_000.0 && v.fract() != 0.0 => format!("{v:.1}"),
        Some(v) if v < 10_000.0 => format!("{v:.0}"),
        Some(v) if v < 1_000_000.0 => format!("{:.1} µs", v / 1e3),
        Some(v) => format!("{:.1} ms", v / 1e6),
    }
}

/// A ratio as "×r.rr", or "—".
fn times(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), |r| format!("×{r:.2}"))
}

/// The text report of `doc`: a header, the markdown table (rows in `order`) and the notes;
/// and whether every row is clean (measured, nothing dropped).
fn report(doc: &Value, order: &[Row], cores: usize, elapsed: f64) -> (String, bool) {
    let m = &doc["machine"];
    let st = &doc["settings"];
    let rows = &doc["rows"];
    let ghz = order.iter().find_map(|r| rows[r.key()]["tsc_ghz"].as_f64()).unwrap_or(0.0);
    let mut out = format!(
        "Per-call latency of ringtrace::info! by recording threads: {} ({} cores, kernel {}), clock {} at {:.3} GHz; \
         per thread {} warm-up + {} measured calls in bursts of {}, each followed by a pause (column `pause`); {:.0} s.\n\n",
        m["cpu"].as_str().unwrap_or("?"),
        m["cores"],
        m["kernel"].as_str().unwrap_or("?"),
        CLOCK_NAME,
        ghz,
        st["warmup_calls_per_thread"],
        st["measured_calls_per_thread"],
        BURST,
        elapsed,
    );
    out.push_str(
        "| row | pause | p50 ns | p50 net | mean ≤p99 | p90 | p99 | p99.9 | p99.99 | max | first call p50 | p50 ×1 thr \
         | mean ≤p99 ×1 thr | thread p50 min–max | rings used | recorded | dropped |\n",
    );
    out.push_str("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
    let (mut warnings, mut notes) = (Vec::new(), Vec::new());
    for row in order {
        let key = row.key();
        let r = &rows[&key];
        let name = match row {
            Row::TscRead => "tsc_read (2 fenced TSC reads)".to_string(),
            Row::Threads(1) => "1 thread".to_string(),
            Row::Threads(n) => format!("{n} threads"),
            Row::Rtrb(n) => format!("rtrb floor, {n} thread(s)"),
        };
        let status = r["status"].as_str().unwrap_or("missing");
        let f = |k: &str| r[k].as_f64();
        if r.get("p50_ns").is_none() {
            out.push_str(&format!("| {name} | | **{status}** | | | | | | | | | | | | | | |\n"));
            warnings.push(format!("{key}: {status}"));
            continue;
        }
        let flag = if status == "ok" { String::new() } else { " ⚠".to_string() };
        if status != "ok" {
            warnings.push(format!("{key}: {status}"));
        }
        let spread = match (f("thread_p50_min_ns"), f("thread_p50_max_ns"), row) {
            (_, _, Row::TscRead | Row::Threads(1)) | (None, _, _) | (_, None, _) => "—".to_string(),
            (Some(a), Some(b), _) => format!("{}–{}", ns(Some(a)), ns(Some(b))),
        };
        let used = match (r["pool_high_water"].as_u64(), r["ring_count"].as_u64()) {
            (Some(h), Some(c)) => format!("{h} of {c}"),
            _ => "—".to_string(),
        };
        if r["transitions"].as_u64().is_some_and(|t| t > 0) {
            notes.push(format!(
                "{key}: the drain fell behind: {} backpressure transitions, up to {used} rings in use",
                r["transitions"]
            ));
        }
        let count = |k: &str| r[k].as_u64().map_or_else(|| "—".to_string(), |v| v.to_string());
        let dropped = match r["dropped"].as_u64() {
            Some(0) => "0".to_string(),
            Some(d) => format!("**{d}** ⚠"),
            None => "—".to_string(),
        };
        out.push_str(&format!(
            "| {name}{flag} | {} ms | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {spread} | {used} | {} | {dropped} |\n",
            r["pause_ms"],
            ns(f("p50_ns")),
            ns(f("p50_net_ns")),
            ns(f("mean_p99_ns")),
            ns(f("p90_ns")),
            ns(f("p99_ns")),
            ns(f("p999_ns")),
            ns(f("p9999_ns")),
            ns(f("max_ns")),
            ns(f("first_call_p50_ns")),
            times(f("p50_vs_1")),
            times(f("mean_p99_vs_1")),
            count("recorded"),
        ));
    }
    out.push('\n');

    // The §7 target, for the largest thread count measured beside the 1-thread row.
    let largest = order.iter().filter_map(|r| if let Row::Threads(n) = r { Some(*n) } else { None }).max();
    if let Some(n) = largest.filter(|&n| n > 1) {
        let r = &rows[Row::Threads(n).key()];
        if let (Some(p), Some(mr)) = (r["p50_vs_1"].as_f64(), r["mean_p99_vs_1"].as_f64()) {
            out.push_str(&format!(
                "§7 target, {n} threads: per-call p50 within ×1.5 of 1 thread: {} (p50 ×{p:.2}, mean ≤p99 ×{mr:.2}{}).\n",
                if p <= 1.5 { "met" } else { "NOT met" },
                r["mean_p99_net_vs_1"].as_f64().map_or_else(String::new, |v| format!(", mean ≤p99 net of tsc_read ×{v:.2}")),
            ));
        }
    }
    for n in [1usize, 4] {
        let Some(r) = doc["rows"].get(format!("threads_{n}")) else { continue };
        if let (Some(p), Some(q)) = (r["p50_vs_rtrb"].as_f64(), r["p999_vs_rtrb"].as_f64()) {
            out.push_str(&format!(
                "Against the rtrb floor, {n} thread(s): p50 ×{p:.2} (issue 18 target ≤ ×1.2), p99.9 ×{q:.2} (target ≤ ×{}).\n",
                if n == 1 { 2 } else { 3 }
            ));
        }
    }
    if order.iter().any(|r| matches!(r, Row::Threads(n) if *n > cores)) {
        out.push_str(&format!(
            "Note: this machine has {cores} logical CPUs. With more recording threads than CPUs most threads are waiting \
             for a CPU at any moment, and a thread preempted between its two clock reads records the whole time it \
             waited (µs to ms): from p99 on, those rows measure the scheduler more than ringtrace. p50 and mean ≤p99 \
             are not carried by those calls.\n",
        ));
    }
    out.push_str(
        "The clock advances in steps (10 ns on AMD and VMs on it), so single-call percentiles are multiples of a \
         step; mean ≤p99 (the mean of the fastest 99 %) is not quantised. `p50 net` subtracts the tsc_read p50.\n",
    );
    for n in &notes {
        out.push_str(&format!("Note: {n}\n"));
    }
    for w in &warnings {
        out.push_str(&format!("WARNING: {w}\n"));
    }
    (out, warnings.is_empty())
}
