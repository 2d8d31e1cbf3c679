//! `ringtrace demo`: a multi-threaded workload through a real runtime.
//!
//! Every worker thread records bursts of realistic events — order fills with fields, book
//! updates, raw payloads, the occasional rejected order with an error chain — inside a bound
//! request context, pausing between bursts. Each call is timed with the recording clock into an
//! HDR histogram. The runtime writes JSON lines, text and a binary trace under `--out`; at the
//! end the demo prints what was attempted, recorded, dropped (per reason) and written (per
//! sink), and the per-call latency distribution.

use clap::Args;
use hdrhistogram::Histogram;
use ringtrace::sinks::rotate::Rotation;
use ringtrace::sinks::{BinarySink, FmtSink, Format};
use ringtrace::{Builder, DrainReport};
use serde_json::json;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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
fn work(index: u32, deadline: Instant, burst: u32, pause: Duration, clock: ringtrace::ClockCalibration) -> Worker {
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
    while Instant::now() < deadline {
        request += 1;
        let _ctx = ringtrace::with_context!(request_id = request, worker = index);
        for k in 0..burst {
            order += 1;
            let sym = symbols[(order % 5) as usize];
            let price = 100.0 + (order % 1000) as f64 * 0.25;
            let qty = (order % 500) as u32 + 1;
            match k % 8 {
                0..=4 => timed(&mut || {
                    ringtrace::info!(target: "demo::orders", side = if order % 2 == 0 { "buy" } else { "sell" }, symbol = sym,
                        "order {} filled at {} qty {}", order, price, qty)
                }),
                5 => timed(
                    &mut || ringtrace::debug!(target: "demo::book", depth = qty % 20, "book {} updated, best bid {:.2}", sym, price - 0.01),
                ),
                6 => timed(&mut || ringtrace::record_bytes(42, &payload)),
                _ if order % 64 == 7 => timed(
                    &mut || ringtrace::warn!(target: "demo::orders", error = %reject, attempt = (order % 3) as u8, "order {} rejected", order),
                ),
                _ => timed(
                    &mut || ringtrace::trace!(target: "demo::risk", "exposure check for {} ok: {:.3}", sym, price * qty as f64),
                ),
            }
            attempted += 1;
        }
        drop(_ctx);
        if !pause.is_zero() {
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
    for p in [&jsonl, &text, &binary] {
        match std::fs::remove_file(p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("cannot replace {}: {e}", p.display())),
        }
    }
    let no_rotation = Rotation { max_bytes: 0, max_files: 0 };
    let guard = Builder::new()
        .sink(FmtSink::file(&jsonl, Format::Json, no_rotation.clone()).map_err(|e| e.to_string())?)
        .sink(FmtSink::file(&text, Format::Text, no_rotation.clone()).map_err(|e| e.to_string())?)
        .sink(BinarySink::file(&binary, no_rotation).map_err(|e| e.to_string())?)
        .install()
        .map_err(|e| e.to_string())?;

    let clock = guard.clock();
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(args.duration);
    let pause = Duration::from_micros(args.pause_us);
    let handles: Vec<_> = (0..args.threads)
        .map(|i| {
            std::thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(move || work(i, deadline, args.burst.max(1), pause, clock))
                .map_err(|e| format!("cannot spawn worker thread: {e}"))
        })
        .collect::<Result<_, _>>()?;
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
    if args.json {
        println!("{}", summary_json(&args, attempted, &latency, &report, ran));
    } else {
        print!("{}", summary_text(&args, attempted, &latency, &report, ran, &metrics));
    }
    if report.timed_out {
        return Err("the drain thread did not finish in time".into());
    }
    Ok(())
}

fn summary_json(
    args: &DemoArgs,
    attempted: u64,
    latency: &Histogram<u64>,
    r: &DrainReport,
    ran: Duration,
) -> serde_json::Value {
    let dropped: serde_json::Map<String, serde_json::Value> =
        r.dropped.iter().map(|(k, n)| (k.to_string(), json!(n))).collect();
    let written: serde_json::Map<String, serde_json::Value> =
        r.sinks.iter().map(|s| (s.name.clone(), json!(s.written))).collect();
    let sink_dropped: serde_json::Map<String, serde_json::Value> =
        r.sinks.iter().map(|s| (s.name.clone(), json!(s.dropped))).collect();
    let outputs: Vec<String> = r.sinks.iter().flat_map(|s| s.outputs.iter().map(|p| p.display().to_string())).collect();
    json!({
        "threads": args.threads,
        "duration_s": ran.as_secs_f64(),
        "attempted": attempted,
        "recorded": r.recorded,
        "dropped": dropped,
        "dropped_bytes": r.dropped_bytes,
        "written": written,
        "sink_dropped": sink_dropped,
        "loss_records": r.loss_records,
        "transitions": serde_json::Map::new(),
        "latency_ns": {
            "p50": latency.value_at_quantile(0.50),
            "p90": latency.value_at_quantile(0.90),
            "p99": latency.value_at_quantile(0.99),
            "p999": latency.value_at_quantile(0.999),
            "max": latency.max(),
            "samples": latency.len(),
        },
        "outputs": outputs,
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
) -> String {
    let mut s = String::new();
    let rate = attempted as f64 / ran.as_secs_f64();
    s += &format!("ringtrace demo: {} threads for {:.1} s ({:.0} events/s)\n\n", args.threads, ran.as_secs_f64(), rate);
    s += &format!("  attempted   {attempted} events\n");
    s += &format!("  recorded    {}\n", r.recorded);
    s += &format!("  dropped     {} ({})\n", r.dropped.total(), r.dropped);
    let ok = attempted == r.recorded + r.dropped.total();
    s += &format!(
        "  accounting  attempted {} recorded + dropped: {}\n",
        if ok { "==" } else { "!=" },
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
    s += "\n  outputs\n";
    for k in &r.sinks {
        for p in &k.outputs {
            s += &format!("    {}\n", p.display());
        }
    }
    for e in &r.sink_errors {
        s += &format!("  error: {e}\n");
    }
    s += &format!("\n  decode the binary trace with: ringtrace decode {}\n", output_paths(&args.out).2.display());
    s
}
