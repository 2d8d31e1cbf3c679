//! The text and JSON `FmtSink`s write exactly what `render_text` / `render_json` make of the
//! same batches (the sinks keep each line's constant part per callsite and thread, and the
//! last second's text; none of that may change a byte), in writes of `write_at` bytes.

// These tests use the real atomics; under `--features loom` only the loom models run.
#![cfg(not(feature = "loom"))]

mod common;

use ringtrace::sinks::rotate::Rotation;
use ringtrace::sinks::{FmtSink, Format};
use std::time::Duration;

#[test]
fn fmt_sinks_write_what_render_makes_of_the_same_batches() {
    let _s = common::serial();
    let dir = std::env::temp_dir().join(format!("ringtrace-fmt-sink-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let never = Rotation { max_bytes: 0, max_files: 0 };
    let collect = common::Collect::new("mem");
    let guard = ringtrace::Builder::new()
        .ignore_env()
        .sink(collect.clone())
        .sink(FmtSink::file(dir.join("a.log"), Format::Text, never.clone()).unwrap())
        .sink(FmtSink::file(dir.join("a.jsonl"), Format::Json, never.clone()).unwrap().named("jsonl"))
        // Tiny writes: a line at a time.
        .sink(FmtSink::file(dir.join("b.log"), Format::Text, never).unwrap().named("small").write_at(1))
        .install()
        .unwrap();
    let workers: Vec<_> = (0..3u64)
        .map(|t| {
            std::thread::Builder::new()
                .name(format!("w\"{t}\""))
                .spawn(move || {
                    for i in 0..3_000u64 {
                        let price = 100.0 + (i % 997) as f64 * 0.25;
                        ringtrace::info!("order {} filled at {} qty {}", i, price, (i % 500) as u32 + 1);
                        if i % 5 == 0 {
                            let _c = ringtrace::with_context!(req = i, who = "a\"b");
                            ringtrace::warn!(target: "db", k = i, s = "x\ny", "slow {:>8.3} {:?} {}", price / 7.0, "q", t);
                        }
                        if i % 7 == 0 {
                            ringtrace::error!("a \"quoted\" {}\n{} {}", 'c', f32::from_bits(0x474d_e910), i as f64 / 3.0);
                        }
                    }
                })
                .unwrap()
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let report = guard.shutdown(Duration::from_secs(30));
    assert_eq!(report.dropped.total(), 0);
    let seen = collect.events();
    let text: String = seen.iter().map(|e| e.text.as_str()).collect();
    let json: String = seen.iter().map(|e| e.json.as_str()).collect();
    assert!(seen.len() > 12_000, "{}", seen.len());
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    // Line by line first, for a readable failure.
    for (name, want) in [("a.log", &text), ("a.jsonl", &json), ("b.log", &text)] {
        let got = read(name);
        for (i, (g, w)) in got.lines().zip(want.lines()).enumerate() {
            assert_eq!(g, w, "{name} line {i}");
        }
        assert_eq!(got, *want, "{name}");
    }
    assert!(text.contains("52713.063"));
    let small = report.sink("small").unwrap();
    assert_eq!(small.written, seen.len() as u64);
    let _ = std::fs::remove_dir_all(&dir);
}
