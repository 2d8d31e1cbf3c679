//! The drain's memory under load (MISSION §7 "drain memory ≤ pool size + 32 MiB whatever the
//! sink's speed", R-CORE-9): the peak resident set of a process whose drain feeds a slow sink
//! or takes a long flood, less what the process held before the runtime was installed.
//!
//! ```text
//! cargo run --release -p ringtrace-benches --bin drain_memory            # ~10 s
//! cargo run --release -p ringtrace-benches --bin drain_memory -- --json  # one JSON object
//! ```
//!
//! Each scenario runs in a child process of its own (this binary with `--child NAME`), so one
//! scenario's peak does not hide another's. The peak is Linux's `VmHWM` (the high-water mark
//! of the resident set); the baseline is `VmRSS` just before `install`. Scenarios, each at the
//! default configuration (a pool of 64 rings × 64 KiB, `DropNewest`):
//!
//! - `slow_sink`: one thread floods for 3 s into a sink that sleeps 10 ms per batch of 1 024
//!   (the drain is ~1 000× slower than the producer);
//! - `flood_text`: one thread records 4 M events back to back into a text file;
//! - `flood_binary`: the same into a binary trace.

use ringtrace::sinks::rotate::Rotation;
use ringtrace::sinks::{BinarySink, FmtSink, Format};
use ringtrace::{Batch, Builder, DiagnosticSink, Sink, SinkError};
use serde_json::{json, Value};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

/// A sink that sleeps per batch.
#[derive(Debug)]
struct Sleepy(Duration);

impl Sink for Sleepy {
    fn name(&self) -> &str {
        "sleepy"
    }

    fn metadata(&self) -> ringtrace::SinkMetadata {
        ringtrace::SinkMetadata::new("sleepy", env!("CARGO_PKG_VERSION"))
    }

    fn write_batch(&mut self, _: &Batch<'_>) -> Result<(), SinkError> {
        std::thread::sleep(self.0);
        Ok(())
    }
}

/// A field of `/proc/self/status` in KiB.
fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines().find_map(|l| l.strip_prefix(field)?.trim().strip_suffix("kB")?.trim().parse().ok()).unwrap_or(0)
}

/// Runs one scenario in this process; prints its JSON line.
fn child(name: &str) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("ringtrace-drain-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let never = Rotation { max_bytes: 0, max_files: 0 };
    let sink: Box<dyn Sink> = match name {
        "slow_sink" => Box::new(Sleepy(Duration::from_millis(10))),
        "flood_text" => Box::new(FmtSink::file(dir.join("out.log"), Format::Text, never).map_err(|e| e.to_string())?),
        "flood_binary" => Box::new(BinarySink::file(dir.join("out.rtrace"), never).map_err(|e| e.to_string())?),
        other => return Err(format!("unknown scenario {other}")),
    };
    let baseline = status_kib("VmRSS:");
    let guard = Builder::new()
        .ignore_env()
        .diagnostics(DiagnosticSink::Off)
        .boxed_sink(sink)
        .install()
        .map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut n = 0u64;
    let until = |n: u64| if name == "slow_sink" { start.elapsed() < Duration::from_secs(3) } else { n < 4_000_000 };
    while until(n) {
        ringtrace::info!("order {} filled at {} qty {}", n, 101.25f64, 7u32);
        n += 1;
    }
    let peak_running = status_kib("VmHWM:");
    let m = guard.metrics();
    // Shutting down behind the slow sink would take minutes; its memory is what matters.
    let report = guard.shutdown(Duration::from_secs(if name == "slow_sink" { 0 } else { 120 }));
    let peak = status_kib("VmHWM:");
    let pool = (ringtrace::DEFAULT_RING_COUNT as u64 * ringtrace::DEFAULT_RING_SIZE as u64) / 1024;
    println!(
        "{}",
        json!({
            "scenario": name,
            "attempted": n,
            "recorded": report.recorded,
            "dropped": report.dropped.total(),
            "baseline_kib": baseline,
            "peak_kib": peak.max(peak_running),
            "peak_over_baseline_kib": peak.max(peak_running).saturating_sub(baseline),
            "pool_kib": pool,
            "drain_buffer_high_water_bytes": m.drain.buffer_bytes_high_water,
            "drain_held_rings": m.drain.held_rings,
        })
    );
    let _ = std::fs::remove_dir_all(&dir);
    // Do not wait for a slow sink's detached drain.
    std::process::exit(0);
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, name] = args.as_slice() {
        if flag == "--child" {
            return match child(name) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("drain_memory: {e}");
                    ExitCode::FAILURE
                }
            };
        }
    }
    let json_out = args.iter().any(|a| a == "--json");
    let exe = std::env::current_exe().expect("current exe");
    let mut rows = Vec::new();
    for name in ["slow_sink", "flood_text", "flood_binary"] {
        let out = Command::new(&exe).args(["--child", name]).output().expect("run a scenario");
        let line = String::from_utf8_lossy(&out.stdout);
        let v: Value = match serde_json::from_str(line.trim()) {
            Ok(v) => v,
            Err(_) => {
                eprintln!("drain_memory: {name} failed: {}", String::from_utf8_lossy(&out.stderr));
                return ExitCode::FAILURE;
            }
        };
        rows.push(v);
    }
    let mut text = String::from(
        "| scenario | attempted | recorded | dropped | peak RSS over baseline | pool | drain buffers (high water) | target ≤ pool + 32 MiB |\n|---|--:|--:|--:|--:|--:|--:|---|\n",
    );
    for r in &rows {
        let over = r["peak_over_baseline_kib"].as_u64().unwrap_or(0);
        let pool = r["pool_kib"].as_u64().unwrap_or(0);
        let met = if over <= pool + 32 * 1024 { "met" } else { "**not met**" };
        text.push_str(&format!(
            "| {} | {} | {} | {} | {:.1} MiB | {:.1} MiB | {:.1} KiB | {met} |\n",
            r["scenario"].as_str().unwrap_or("?"),
            r["attempted"],
            r["recorded"],
            r["dropped"],
            over as f64 / 1024.0,
            pool as f64 / 1024.0,
            r["drain_buffer_high_water_bytes"].as_u64().unwrap_or(0) as f64 / 1024.0,
        ));
    }
    if json_out {
        eprint!("{text}");
        println!("{}", json!({ "machine": ringtrace_benches::machine(), "rows": rows }));
    } else {
        print!("{text}");
    }
    ExitCode::SUCCESS
}
