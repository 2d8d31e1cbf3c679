//! A driver for instruction counts of the drain thread's formatting under callgrind: one
//! producer records N events of the benchmark's event under `Policy::Block`, the drain renders
//! them through a [`FmtSink`] (text or JSON lines) into a file, or hands them to a `NullSink`
//! (the drain's own cost), or to a `BinarySink`.
//!
//! ```text
//! cargo build --release -p ringtrace-benches --example drainfmt
//! for n in 200000 400000; do
//!   valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file=/tmp/cg.text.$n \
//!     target/release/examples/drainfmt text $n
//! done
//! scripts/drain-instructions.sh /tmp/cg.text.200000 /tmp/cg.text.400000 200000
//! ```
//!
//! Instructions per event on the drain thread = (Ir at 2N − Ir at N) / N, which cancels the
//! start-up and shutdown. The drain polls for a short grace period after work before it parks,
//! and how often it does depends on scheduling, so take the median of a few runs; the sink's
//! own `write_batch` (inclusive) is steadier and is reported beside it by the script.

use ringtrace::sinks::rotate::Rotation;
use ringtrace::sinks::{BinarySink, FmtSink, Format};
use ringtrace::{Builder, Policy};
use ringtrace_benches::{event_args, NullSink};
use std::time::Duration;

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_default();
    let n: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    if !matches!(mode.as_str(), "text" | "json" | "null" | "binary") || n == 0 {
        eprintln!("usage: drainfmt text|json|null|binary EVENTS");
        std::process::exit(2);
    }
    let dir = std::env::temp_dir().join(format!("ringtrace-drainfmt-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("drainfmt: cannot create {}: {e}", dir.display());
        std::process::exit(1);
    }
    let never = Rotation { max_bytes: 0, max_files: 0 };
    let b = Builder::new()
        .ignore_env()
        .diagnostics(ringtrace::DiagnosticSink::Off)
        .policy(Policy::Block { timeout: Duration::from_secs(60) });
    let b = match mode.as_str() {
        "text" => FmtSink::file(dir.join("out.log"), Format::Text, never).map(|s| b.sink(s)),
        "json" => FmtSink::file(dir.join("out.jsonl"), Format::Json, never).map(|s| b.sink(s)),
        "binary" => BinarySink::file(dir.join("out.bin"), never).map(|s| b.sink(s)),
        _ => Ok(b.sink(NullSink::default())),
    };
    let guard = match b.map_err(|e| e.to_string()).and_then(|b| b.install().map_err(|e| e.to_string())) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("drainfmt: {e}");
            std::process::exit(1);
        }
    };
    let producer = std::thread::Builder::new()
        .name("producer".into())
        .spawn(move || {
            for i in 0..n {
                let (id, price, qty) = event_args(i);
                ringtrace::info!("order {} filled at {} qty {}", id, price, qty);
            }
        })
        .expect("spawn the producer");
    producer.join().expect("the producer panicked");
    let report = guard.shutdown(Duration::from_secs(600));
    eprintln!("{}", report.summary_line());
    let _ = std::fs::remove_dir_all(&dir);
}
