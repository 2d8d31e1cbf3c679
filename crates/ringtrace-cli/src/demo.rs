//! `ringtrace demo`: a multi-threaded workload through a real runtime.
//!
//! Every worker thread records bursts of realistic events — order fills with fields, book
//! updates, raw payloads, the occasional rejected order with an error chain — inside a bound
//! request context, pausing between bursts. Each call is timed with the recording clock into an
//! HDR histogram. The runtime writes JSON lines, text and a binary trace under `--out` (in
//! flight-recorder mode, a pool file and a snapshot instead: `flight.rs`); at the end the demo
//! prints what was attempted, recorded, dropped (per reason) and written (per sink), the
//! per-call latency distribution, and a per-thread state timeline (`timeline.rs`: each column
//! the most severe state of its step, from the transition counters). The commands it prints
//! work as printed (`shell.rs`).

use clap::Args;
use hdrhistogram::Histogram;
use ringtrace::sinks::rotate::Rotation;
use ringtrace::sinks::{BinarySink, FmtSink, Format};
use ringtrace::{Builder, DrainReport};
use ringtrace::{Diagnostic, DiagnosticKind, DiagnosticSink, Level, ThreadState};
use serde_json::json;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

mod flight;
mod shell;
mod timeline;

use flight::Flight;
use timeline::Timeline;

/// How often the timeline samples the threads' states (one column each).
const TIMELINE_STEP: Duration = Duration::from_millis(100);

/// Options of `ringtrace demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Recording threads.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1024))]
    threads: u32,
    /// How long the workload runs, in seconds.
    #[arg(long, default_value_t = 3.0)]
    duration: f64,
    /// Directory for the outputs (created if missing).
    #[arg(long, default_value = "ringtrace-demo")]
    out: PathBuf,
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    json: bool,
    /// Events per burst per thread.
    #[arg(long, default_value_t = 8)]
    burst: u32,
    /// Pause between bursts, in microseconds.
    #[arg(long, default_value_t = 1000)]
    pause_us: u64,
    /// A TOML configuration file for the runtime (see `ringtrace::config_source`);
    /// `RINGTRACE_*` variables still override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Start from a preset's runtime settings: dev, production or flight_recorder. The demo
    /// keeps its own three outputs, except in flight-recorder mode, where it writes the pool
    /// file (`OUT/ringtrace.flight`) and a snapshot instead and prints the commands that read
    /// them.
    #[arg(long)]
    preset: Option<String>,
}

#[derive(Debug)]
struct VenueError {
    source: std::io::Error,
}

impl fmt::Display for VenueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("venue rejected the order")
    }
}

impl std::error::Error for VenueError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

struct Worker {
    attempted: u64,
    latency: Histogram<u64>,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

/// One worker's loop; returns how many events it attempted and their per-call costs.
/// The workload's phases: steady bursts with pauses, then a flood (no pauses, a fixed volume)
/// that drives the pool dry, then steady again until told to stop (so every thread recovers).
#[derive(Debug, Clone)]
struct Plan {
    burst_start: Instant,
    /// Events each worker records back to back once `burst_start` has passed: enough to fill
    /// its ring quota several times over, so the pool runs dry whatever the machine's speed.
    burst_events: u64,
    /// Workers that have recorded their whole flood.
    flooded: Arc<AtomicU32>,
    stop: Arc<AtomicBool>,
}

fn work(index: u32, plan: Plan, burst: u32, pause: Duration, clock: ringtrace::ClockCalibration) -> Worker {
    let mut latency = histogram();
    let mut attempted = 0u64;
    let symbols = ["AAPL", "MSFT", "NVDA", "AMZN", "GOOG"];
    let reject = VenueError { source: std::io::Error::other("connection reset by venue gateway") };
    let payload = [0xABu8; 24];
    let mut order = u64::from(index) << 40;
    let mut request = 0u64;
    let mut timed = |f: &mut dyn FnMut()| {
        let t0 = ringtrace::now_ticks();
        f();
        let t1 = ringtrace::now_ticks();
        let _ = latency.record(clock.ticks_to_ns(t1.wrapping_sub(t0)).max(1));
    };
    let mut flood_left = plan.burst_events;
    while !plan.stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        let flooding = now >= plan.burst_start && flood_left > 0;
        let burst = if flooding { 512.min(flood_left) as u32 } else { burst };
        if flooding {
            flood_left -= u64::from(burst);
        }
        request += 1;
        let _ctx = ringtrace::with_context!(request_id = request, worker = index);
        for k in 0..burst {
            order += 1;
            let sym = symbols[(order % 5) as usize];
            let price = 100.0 + (order % 1000) as f64 * 0.25;
            let qty = (order % 500) as u32 + 1;
            // Events above the runtime's level are filtered before they are attempted.
            let level = match k % 8 {
                0..=4 => Level::Info,
                5 => Level::Debug,
                6 => Level::Info, // record_bytes has no level: always recorded
                _ if order % 64 == 0 => Level::Warn,
                _ => Level::Trace,
            };
            match k % 8 {
                0..=4 => timed(&mut || {
                    ringtrace::info!(target: "demo::orders", side = if order % 2 == 0 { "buy" } else { "sell" }, symbol = sym,
                        "order {} filled at {} qty {}", order, price, qty)
                }),
                5 => timed(
                    // Sampled: one book update of every ten per thread is recorded.
                    &mut || ringtrace::debug!(target: "demo::book", sample: 10, depth = qty % 20, "book {} updated, best bid {:.2}", sym, price - 0.01),
                ),
                6 => timed(&mut || ringtrace::record_bytes(42, &payload)),
                _ if order % 64 == 0 => timed(
                    // Rate-limited: at most 20 rejections a second over all workers; the first
                    // one after a suppressed spell says how many this thread suppressed.
                    &mut || ringtrace::warn!(target: "demo::orders", rate: 20, error = %reject, attempt = (order % 3) as u8, "order {} rejected", order),
                ),
                _ => timed(
                    &mut || ringtrace::trace!(target: "demo::risk", "exposure check for {} ok: {:.3}", sym, price * qty as f64),
                ),
            }
            if level <= ringtrace::max_level() || k % 8 == 6 {
                attempted += 1;
            }
        }
        drop(_ctx);
        if flooding && flood_left == 0 {
            plan.flooded.fetch_add(1, Ordering::Relaxed);
        }
        if !pause.is_zero() && !flooding {
            std::thread::sleep(pause);
        }
    }
    Worker { attempted, latency }
}

fn output_paths(out: &Path) -> (PathBuf, PathBuf, PathBuf) {
    (out.join("demo.jsonl"), out.join("demo.log"), out.join("demo.rtrace"))
}

/// Runs the demo.
pub(crate) fn run(args: DemoArgs) -> Result<(), String> {
    if !(args.duration.is_finite() && args.duration > 0.0 && args.duration <= 3600.0) {
        return Err(format!("invalid --duration {}: must be between 0 and 3600 seconds", args.duration));
    }
    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("cannot create output directory {}: {e}", args.out.display()))?;
    let (jsonl, text, binary) = output_paths(&args.out);
    // This run's outputs replace an earlier run's; the flight recorder's pool file is moved
    // aside by `install` (to `ringtrace.flight.prev`), and the snapshot is replaced when taken
    // (removed here so that a failed one does not leave an earlier one in its place).
    for p in [&jsonl, &text, &binary, &args.out.join(flight::SNAPSHOT_FILE)] {
        match std::fs::remove_file(p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("cannot replace {}: {e}", p.display())),
        }
    }
    let no_rotation = Rotation { max_bytes: 0, max_files: 0 };
    // Diagnostics (state transitions, drops) are collected and summarised at the end rather
    // than interleaved with the output.
    let diagnostics: Arc<Mutex<Vec<Diagnostic>>> = Arc::default();
    let d2 = diagnostics.clone();
    let mut builder = Builder::new();
    if let Some(p) = &args.preset {
        builder = builder.preset(p.parse::<ringtrace::Preset>().map_err(|e| e.to_string())?);
    }
    if let Some(f) = &args.config {
        builder = builder.config_file(f);
    }
    let config = builder.resolved_config().map_err(|e| e.to_string())?;
    let flight_mode = config.flight_recorder;
    builder = builder.diagnostics(DiagnosticSink::Hook(Arc::new(move |d: &Diagnostic| {
        // A summary ends the run (a termination signal's flush, or a drain that failed): shown
        // at once, for the process may end right after it (the flush re-raises the signal).
        if d.kind == DiagnosticKind::Summary {
            eprintln!("ringtrace demo: {d}");
        }
        d2.lock().unwrap_or_else(|e| e.into_inner()).push(d.clone())
    })));
    if flight_mode {
        // No sinks: at shutdown they would take every record out of the pool file (flight.rs).
        // The preset's "sinks": none, and the pool file OUT/ringtrace.flight unless one was
        // chosen (a file's or a variable's `pool_file` still overrides it).
        (builder, _) = builder.preset_sinks(ringtrace::Preset::FlightRecorder, &args.out).map_err(|e| e.to_string())?;
    } else {
        builder = builder
            .sink(FmtSink::file(&jsonl, Format::Json, no_rotation.clone()).map_err(|e| e.to_string())?)
            .sink(FmtSink::file(&text, Format::Text, no_rotation.clone()).map_err(|e| e.to_string())?)
            .sink(BinarySink::file(&binary, no_rotation).map_err(|e| e.to_string())?);
    }
    let guard = builder.install().map_err(|e| e.to_string())?;
    // Ctrl-C or `kill -TERM` on a long demo: the runtime shuts down first (every ring
    // drained, the sinks flushed and stopped), so the outputs are complete, then the process
    // ends as the signal would have ended it. A signal the environment already handles or
    // ignores is left alone (the demo runs without the flush for it).
    #[cfg(unix)]
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let _ = ringtrace::flush_on_signals(&[signal]);
    }
    let mut flight = flight_mode.then(|| Flight::new(&args.out, guard.pool_file()));
    if let Some(f) = &flight {
        eprint!("{}", f.announce());
    }

    let clock = guard.clock();
    let started = Instant::now();
    let total = Duration::from_secs_f64(args.duration);
    let plan = Plan {
        burst_start: started + total.mul_f64(0.35),
        // 4 × (ring quota in bytes / a ~40-byte record).
        burst_events: 4 * (config.max_rings_per_thread * config.ring_size / 40) as u64,
        flooded: Arc::new(AtomicU32::new(0)),
        stop: Arc::new(AtomicBool::new(false)),
    };
    let pause = Duration::from_micros(args.pause_us);
    let handles: Vec<_> = (0..args.threads)
        .map(|i| {
            let plan = plan.clone();
            std::thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(move || work(i, plan, args.burst.max(1), pause, clock))
                .map_err(|e| format!("cannot spawn worker thread: {e}"))
        })
        .collect::<Result<_, _>>()?;

    // Sample every thread's state for the timeline; after the planned duration, let the
    // workers run on (at their steady rate) until every one of them is NORMAL again, at most
    // 10 s more, so the recovery completes before they exit. A flight recorder's workers never
    // return to NORMAL (flight.rs): it stops at the planned duration, after its snapshot.
    let mut timeline = Timeline::default();
    let deadline = started + total;
    loop {
        std::thread::sleep(TIMELINE_STEP);
        let m = guard.metrics();
        timeline.sample(&m.threads);
        let now = Instant::now();
        if let Some(f) = flight.as_mut().filter(|f| f.wants_snapshot()) {
            if plan.flooded.load(Ordering::Relaxed) >= args.threads || now >= deadline {
                eprint!("{}", f.take_snapshot(started.elapsed()));
            }
        }
        let settled =
            m.threads.iter().filter(|t| t.name.starts_with("worker-")).all(|t| t.state == ThreadState::Normal);
        if now >= deadline && (flight.is_some() || settled || now >= deadline + Duration::from_secs(10)) {
            break;
        }
    }
    plan.stop.store(true, Ordering::Relaxed);
    let mut attempted = 0;
    let mut latency = histogram();
    for h in handles {
        let w = h.join().map_err(|_| "a worker thread panicked".to_string())?;
        attempted += w.attempted;
        latency.add(&w.latency).map_err(|e| format!("cannot merge latency histograms: {e}"))?;
    }
    let ran = started.elapsed();
    let metrics = guard.metrics();
    let report = guard.shutdown(Duration::from_secs(30));
    let mut out = String::new();
    if args.json {
        out = format!(
            "{}\n",
            summary_json(&args, attempted, &latency, &report, ran, timeline.samples(), flight.as_ref())
        );
    } else {
        out += &summary_text(&args, attempted, &latency, &report, ran, &metrics, flight.as_ref());
        out += &timeline.render(TIMELINE_STEP);
        if flight.is_some() {
            out += "    (flight recorder: a worker that filled its rings writes over its oldest one for each new one,\n     \
                    counted as overwritten: DROPPING is its steady state)\n";
        }
        let diags = diagnostics.lock().unwrap_or_else(|e| e.into_inner());
        out += &format!(
            "\n  diagnostics: {} delivered, {} suppressed by rate limiting; the first ones:\n",
            diags.len(),
            metrics.diagnostics_suppressed
        );
        for d in diags.iter().take(6) {
            out += &format!("    {d}\n");
        }
    }
    // A closed pipe (`ringtrace demo | head`) is not an error.
    match std::io::Write::write_all(&mut std::io::stdout().lock(), out.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(format!("cannot write the summary: {e}")),
        _ => {}
    }
    if report.timed_out {
        return Err("the drain thread did not finish in time".into());
    }
    if let Some(e) = flight.as_ref().and_then(|f| f.error()) {
        return Err(e.to_string());
    }
    Ok(())
}

fn summary_json(
    args: &DemoArgs,
    attempted: u64,
    latency: &Histogram<u64>,
    r: &DrainReport,
    ran: Duration,
    timeline_samples: usize,
    flight: Option<&Flight>,
) -> serde_json::Value {
    let dropped: serde_json::Map<String, serde_json::Value> =
        r.dropped.iter().map(|(k, n)| (k.to_string(), json!(n))).collect();
    let written: serde_json::Map<String, serde_json::Value> =
        r.sinks.iter().map(|s| (s.name.clone(), json!(s.written))).collect();
    let sink_dropped: serde_json::Map<String, serde_json::Value> =
        r.sinks.iter().map(|s| (s.name.clone(), json!(s.dropped))).collect();
    let flight_outputs = flight.map(Flight::outputs).unwrap_or_default();
    let outputs: Vec<String> =
        r.sinks.iter().flat_map(|s| s.outputs.iter()).chain(&flight_outputs).map(|p| p.display().to_string()).collect();
    json!({
        "threads": args.threads,
        "duration_s": ran.as_secs_f64(),
        "attempted": attempted,
        "recorded": r.recorded,
        "retained": r.retained,
        "dropped": dropped,
        "dropped_bytes": r.dropped_bytes,
        "rate_limited": r.rate_limited,
        "sampled": r.sampled,
        "written": written,
        "sink_dropped": sink_dropped,
        "loss_records": r.loss_records,
        "transitions": r.transitions.iter().map(|(a, b, n)| (format!("{a}->{b}"), json!(n))).collect::<serde_json::Map<_, _>>(),
        "latency_ns": {
            "p50": latency.value_at_quantile(0.50),
            "p90": latency.value_at_quantile(0.90),
            "p99": latency.value_at_quantile(0.99),
            "p999": latency.value_at_quantile(0.999),
            "max": latency.max(),
            "samples": latency.len(),
        },
        "outputs": outputs,
        "timeline_samples": timeline_samples,
        "flight": flight.map(Flight::json),
        "sink_errors": r.sink_errors.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
        "timed_out": r.timed_out,
    })
}

fn ns(v: u64) -> String {
    match v {
        0..=9_999 => format!("{v} ns"),
        10_000..=9_999_999 => format!("{:.1} µs", v as f64 / 1e3),
        _ => format!("{:.1} ms", v as f64 / 1e6),
    }
}

fn summary_text(
    args: &DemoArgs,
    attempted: u64,
    latency: &Histogram<u64>,
    r: &DrainReport,
    ran: Duration,
    m: &ringtrace::Metrics,
    flight: Option<&Flight>,
) -> String {
    let mut s = String::new();
    let rate = attempted as f64 / ran.as_secs_f64();
    let mode = if flight.is_some() { ", flight-recorder mode" } else { "" };
    s += &format!(
        "ringtrace demo: {} threads for {:.1} s ({:.0} events/s){mode}\n\n",
        args.threads,
        ran.as_secs_f64(),
        rate
    );
    s += &format!("  attempted   {attempted} events\n");
    s += &format!("  recorded    {}\n", r.recorded);
    // Flight-recorder mode without sinks: the events left in the rings (the pool file).
    let retained = flight.is_some() || r.retained > 0;
    if retained {
        s += &format!("  retained    {} (left in the rings, for snapshots and `ringtrace recover`)\n", r.retained);
    }
    s += &format!("  dropped     {} ({})\n", r.dropped.total(), r.dropped);
    s += &format!(
        "  not losses  rate_limited {} (demo::orders rejections, rate: 20), sampled {} (demo::book, sample: 10)\n",
        r.rate_limited, r.sampled
    );
    let ok = attempted == r.recorded + r.dropped.total() + r.rate_limited + r.sampled + r.retained;
    s += &format!("  transitions {}\n", r.transitions);
    s += &format!(
        "  accounting  attempted {} recorded + dropped + rate_limited + sampled{}: {}\n",
        if ok { "==" } else { "!=" },
        if retained { " + retained" } else { "" },
        if ok { "exact" } else { "MISMATCH" }
    );
    for k in &r.sinks {
        s += &format!(
            "  sink {:<7}wrote {}, lost {}, {} batches, {} errors\n",
            k.name, k.written, k.dropped, k.batches, k.errors
        );
    }
    s += &format!(
        "  per call    p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  (includes one clock read)\n",
        ns(latency.value_at_quantile(0.5)),
        ns(latency.value_at_quantile(0.9)),
        ns(latency.value_at_quantile(0.99)),
        ns(latency.value_at_quantile(0.999)),
        ns(latency.max())
    );
    s += &format!(
        "  pool        {} rings × {} KiB, at most {} in use\n",
        m.pool.rings,
        m.pool.ring_size / 1024,
        m.pool.high_water
    );
    s += &format!(
        "  drain       {} batches, {} busy passes, {} sleeps, woken {} times by producers\n",
        m.drain.batches, m.drain.busy_passes, m.drain.sleeps, m.drain.wakeups_by_producers
    );
    if let Some(f) = flight {
        s += &f.summary_text(r.retained);
        return s;
    }
    s += "\n  outputs\n";
    for k in &r.sinks {
        for p in &k.outputs {
            s += &format!("    {}\n", p.display());
        }
    }
    for e in &r.sink_errors {
        s += &format!("  error: {e}\n");
    }
    s += &format!("\n  decode the binary trace with: {}\n", shell::decode_command(&output_paths(&args.out).2));
    s
}
