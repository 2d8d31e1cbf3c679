//! The export sinks on a live runtime: two threads record nested spans and events, and the
//! runtime writes them as trace-event JSON and as a CTF trace at once.
//!
//! ```text
//! cargo run -p ringtrace-export --example live -- OUT_DIR
//! # then open OUT_DIR/trace.json in https://ui.perfetto.dev, or: babeltrace2 OUT_DIR/ctf
//! ```
//!
//! Spans are recorded as an integration records them: a leaked [`Metadata`] of kind
//! `SpanBegin` or `SpanEnd` per span edge, and `__private::record_event`.

use ringtrace::{Callsite, CallsiteKind, Level, Metadata};
use ringtrace_export::{ChromeSink, CtfSink};
use std::path::PathBuf;
use std::time::Duration;

/// A leaked callsite for one edge of the span `name`.
fn edge(name: &'static str, fields: &'static [&'static str], kind: CallsiteKind) -> &'static Callsite {
    let meta: &'static Metadata = Box::leak(Box::new(Metadata {
        level: Level::Info,
        target: "live",
        module_path: module_path!(),
        file: file!(),
        line: line!(),
        format: name,
        fields,
        kind,
    }));
    Box::leak(Box::new(Callsite::new(meta)))
}

fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "ringtrace-live".into()));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("live: cannot create {}: {e}", dir.display());
        std::process::exit(1);
    }
    let sinks = ChromeSink::create(dir.join("trace.json")).and_then(|c| Ok((c, CtfSink::create(dir.join("ctf"))?)));
    let (chrome, ctf) = sinks.unwrap_or_else(|e| {
        eprintln!("live: {e}");
        std::process::exit(1);
    });
    let guard = ringtrace::Builder::new().sink(chrome).sink(ctf).install().unwrap_or_else(|e| {
        eprintln!("live: {e}");
        std::process::exit(1);
    });

    let job = (edge("job", &["n"], CallsiteKind::SpanBegin), edge("job", &[], CallsiteKind::SpanEnd));
    let step = (edge("step", &[], CallsiteKind::SpanBegin), edge("step", &[], CallsiteKind::SpanEnd));
    let threads: Vec<_> = (0..2u64)
        .map(|t| {
            std::thread::Builder::new()
                .name(format!("worker-{t}"))
                .spawn(move || {
                    for n in 0..3u64 {
                        ringtrace::__private::record_event(job.0, &((&n,), ()));
                        for s in 0..2u32 {
                            ringtrace::__private::record_event(step.0, &((), ()));
                            ringtrace::info!(target: "live", step = s, "working on {}", n);
                            std::thread::sleep(Duration::from_micros(200));
                            ringtrace::__private::record_event(step.1, &((), ()));
                        }
                        ringtrace::__private::record_event(job.1, &((), ()));
                    }
                })
                .expect("spawn")
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
    let report = guard.shutdown(Duration::from_secs(10));
    println!("{}", report.summary_line());
    for s in &report.sinks {
        for p in &s.outputs {
            println!("{}: {}", s.name, p.display());
        }
    }
}
