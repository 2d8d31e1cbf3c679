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

/// A thread's exit hands its ring and its slot to the drain while the runtime runs: the slot
/// is drained, folded into the totals and reused by the next thread, and what the thread
/// recorded is delivered before any shutdown. (Without the hand-over at exit — the
/// thread-local's destructor retiring the producer — every exited thread would keep a live
/// slot of its own until shutdown, and none of this would hold.)
#[test]
fn an_exited_threads_slot_is_drained_and_reused_before_shutdown() {
    let _s = common::serial();
    let sink = common::Collect::new("all");
    let guard = ringtrace::Builder::new().sink(sink.clone()).ignore_env().install().unwrap();
    for t in 0..20u64 {
        std::thread::spawn(move || {
            for i in 0..10u64 {
                ringtrace::info!("event {} of thread {}", i, t);
            }
        })
        .join()
        .unwrap();
        // The drain retires the exited slot: no live thread is left (the main thread does not
        // record), and the next thread reuses the slot.
        assert!(
            common::eventually(|| guard.metrics().threads.is_empty()),
            "thread {t}: its slot was not retired: {:?}",
            guard.metrics().threads
        );
    }
    let m = guard.metrics();
    assert_eq!(m.recorded, 200, "every event delivered before shutdown");
    assert_eq!(m.threads_seen, 20);
    // Taken out of the rings, they reach the sink once the merge window has passed.
    assert!(common::eventually(|| sink.events().len() == 200), "{} delivered", sink.events().len());
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(report.recorded, 200);
}

/// A thread that exits while dropping closes its loss gap at exit (a loss record in its ring,
/// or reported by the drain when it retires the slot), so the loss is visible before shutdown.
#[test]
fn an_exited_threads_loss_is_reported_before_shutdown() {
    let _s = common::serial();
    let gate = common::Gate::new(false, |ev| ev.kind());
    let guard = ringtrace::Builder::new()
        .ring_size(4096)
        .ring_count(2)
        .max_rings_per_thread(2)
        .max_record_size(256)
        .sink(gate.clone())
        .ignore_env()
        .diagnostics(ringtrace::DiagnosticSink::Off)
        .install()
        .unwrap();
    // The drain is held in the sink by the first batch, so the pool runs dry and the thread
    // drops; then it exits while dropping.
    let g2 = gate.clone();
    std::thread::spawn(move || {
        ringtrace::info!("first");
        assert!(common::eventually(|| g2.entered() > 0), "the drain took the first batch");
        for i in 0..2_000u64 {
            ringtrace::info!("flood {}", i);
        }
    })
    .join()
    .unwrap();
    gate.set(true);
    assert!(
        common::eventually(|| gate.got().contains(&ringtrace::RecordKind::Loss)),
        "no loss record before shutdown: {:?}",
        guard.metrics().drain
    );
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(report.loss_records, 1);
    assert_eq!(report.recorded + report.dropped.total(), 2_001);
}
