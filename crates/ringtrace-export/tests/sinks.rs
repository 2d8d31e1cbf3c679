//! The export sinks on a live runtime: two threads record nested spans and events, the
//! runtime feeds a `ChromeSink` and a `CtfSink`, and both outputs hold exactly what was
//! recorded. (One runtime per process: this binary has one test.)

// These tests use the real atomics; under `--features loom` only the loom models run.
#![cfg(not(feature = "loom"))]

use ringtrace::{Callsite, CallsiteKind, Level, Metadata};
use ringtrace_export::{ChromeSink, CtfSink};
use serde_json::Value;
use std::time::Duration;

fn edge(name: &'static str, kind: CallsiteKind) -> &'static Callsite {
    let meta: &'static Metadata = Box::leak(Box::new(Metadata {
        level: Level::Info,
        target: "sinks",
        module_path: module_path!(),
        file: file!(),
        line: line!(),
        format: name,
        fields: &[],
        kind,
    }));
    Box::leak(Box::new(Callsite::new(meta)))
}

#[test]
fn chrome_and_ctf_sinks_write_what_the_runtime_recorded() {
    let dir = std::env::temp_dir().join(format!("ringtrace-export-sinks-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("trace.json");
    let ctf = dir.join("ctf");
    let guard = ringtrace::Builder::new()
        .ignore_env()
        .sink(ChromeSink::create(&json).unwrap())
        .sink(CtfSink::create(&ctf).unwrap())
        .install()
        .unwrap();
    let outer = (edge("outer", CallsiteKind::SpanBegin), edge("outer", CallsiteKind::SpanEnd));
    let inner = (edge("inner", CallsiteKind::SpanBegin), edge("inner", CallsiteKind::SpanEnd));
    let threads: Vec<_> = (0..2)
        .map(|t| {
            std::thread::Builder::new()
                .name(format!("t{t}"))
                .spawn(move || {
                    for i in 0..5u32 {
                        ringtrace::__private::record_event(outer.0, &((), ()));
                        ringtrace::__private::record_event(inner.0, &((), ()));
                        ringtrace::info!(i = i, "step {}", i);
                        ringtrace::__private::record_event(inner.1, &((), ()));
                        ringtrace::__private::record_event(outer.1, &((), ()));
                    }
                })
                .unwrap()
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(report.recorded, 50);
    for s in ["chrome", "ctf"] {
        let r = report.sink(s).unwrap();
        assert_eq!((r.written, r.dropped, r.errors), (50, 0, 0), "{s}: {r:?}");
    }

    let v: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let events = v["traceEvents"].as_array().unwrap();
    let mut names: Vec<&str> =
        events.iter().filter(|e| e["name"] == "thread_name").map(|e| e["args"]["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["t0", "t1"]);
    assert_eq!(events.iter().filter(|e| e["ph"] == "X" && e["name"] == "outer").count(), 10);
    assert_eq!(events.iter().filter(|e| e["ph"] == "X" && e["name"] == "inner").count(), 10);
    assert_eq!(events.iter().filter(|e| e["ph"] == "I").count(), 10);
    assert!(events.iter().all(|e| e["args"].get("ringtrace.unclosed").is_none()));

    assert!(std::fs::read_to_string(ctf.join("metadata")).unwrap().starts_with("/* CTF 1.8 */"));
    let streams: Vec<_> = std::fs::read_dir(&ctf)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("stream-"))
        .collect();
    assert_eq!(streams.len(), 2);
    for s in streams {
        let b = std::fs::read(&s).unwrap();
        assert_eq!(b[..4], 0xC1FC_1FC1u32.to_le_bytes(), "{s:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
