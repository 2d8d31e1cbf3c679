//! Acceptance: threads that record and exit lose nothing, and accounting is exact (R-CORE-3).

// These tests use the real atomics; under `--features loom` only the loom models run.
#![cfg(not(feature = "loom"))]

mod common;

use std::collections::HashMap;
use std::time::Duration;

#[test]
fn hundred_short_lived_threads_deliver_every_event() {
    let _s = common::serial();
    let sink = common::Collect::new("all");
    let guard = ringtrace::Builder::new().ring_count(256).ring_size(1 << 16).sink(sink.clone()).install().unwrap();

    let threads: Vec<_> = (0..100u64)
        .map(|t| {
            std::thread::Builder::new()
                .name(format!("worker-{t}"))
                .spawn(move || {
                    for i in 0..1_000u64 {
                        ringtrace::info!(thread = t, seq = i, "event {} of thread {}", i, t);
                    }
                })
                .unwrap()
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let report = guard.shutdown(Duration::from_secs(30));

    assert!(!report.timed_out);
    let attempted = 100 * 1_000;
    assert_eq!(report.dropped.total(), 0, "{report:?}");
    assert_eq!(report.recorded + report.dropped.total(), attempted, "attempted == recorded + dropped");
    let all = report.sink("all").unwrap();
    assert_eq!(all.written, report.recorded, "written == recorded");
    assert_eq!(all.dropped, 0);
    assert_eq!(report.threads, 100);

    // Every event arrived once, and each thread's events in recording order.
    let events = sink.events();
    assert_eq!(events.len() as u64, attempted);
    let mut next: HashMap<String, u64> = HashMap::new();
    for e in &events {
        let seq = next.entry(e.thread.clone()).or_insert(0);
        let t: u64 = e.thread.strip_prefix("worker-").unwrap().parse().unwrap();
        assert_eq!(e.message, format!("event {} of thread {}", seq, t), "out of order on {}", e.thread);
        *seq += 1;
    }
    assert_eq!(next.len(), 100);
    assert!(next.values().all(|&n| n == 1_000));
}
