//! Acceptance: an idle drain thread barely runs, and a ring swap wakes a napping drain
//! (R-CORE-5). Counts only: the drain's loop iterations and the wake-ups producers issued.

// These tests use the real atomics; under `--features loom` only the loom models run.
#![cfg(not(feature = "loom"))]

mod common;

use std::time::{Duration, Instant};

fn metrics(g: &ringtrace::Guard) -> ringtrace::DrainMetrics {
    g.metrics().drain
}

/// Polls `cond` for up to `limit` (a liveness bound, not a timing assertion).
fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    cond()
}

#[test]
fn idle_drain_iterates_at_most_three_times_a_second() {
    let _s = common::serial();
    let guard = ringtrace::Builder::new().sink(common::Collect::new("mem")).install().unwrap();
    let before = metrics(&guard).iterations;
    std::thread::sleep(Duration::from_secs(1));
    let after = metrics(&guard);
    assert!(after.iterations - before <= 3, "{} iterations in 1 s idle: {after:?}", after.iterations - before);
    assert_eq!(after.wakeups_by_producers, 0, "nobody recorded, nobody woke it");
    assert!(after.deep_sleeps >= 1);
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(report.recorded, 0);
}

#[test]
fn a_ring_swap_wakes_a_napping_drain() {
    let _s = common::serial();
    let sink = common::Collect::new("mem");
    // A long flush interval: a napping drain would not come back on its own during the test.
    let guard = ringtrace::Builder::new()
        .ring_size(4096)
        .ring_count(16)
        .max_record_size(256)
        .flush_interval(Duration::from_secs(60))
        .merge_window(Duration::ZERO)
        .sink(sink.clone())
        .install()
        .unwrap();

    // Once the drain is asleep, the first record wakes it (one wake-up); it drains, then naps.
    assert!(eventually(Duration::from_secs(20), || metrics(&guard).deep_sleeps >= 1), "drain fell asleep");
    let asleep = metrics(&guard);
    ringtrace::info!("first");
    assert!(eventually(Duration::from_secs(20), || sink.events().len() == 1), "first record drained");
    let woken = metrics(&guard);
    assert_eq!(woken.wakeups_by_producers - asleep.wakeups_by_producers, 1);
    assert!(eventually(Duration::from_secs(20), || metrics(&guard).sleeps > asleep.sleeps), "drain napped again");
    let napping = metrics(&guard);

    // Ordinary records do not wake a napping drain...
    for i in 0..10u64 {
        ringtrace::info!("quiet {}", i);
    }
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(metrics(&guard).wakeups_by_producers, napping.wakeups_by_producers, "no wake-up for ordinary records");
    assert_eq!(sink.events().len(), 1, "still napping: nothing new delivered");

    // ...filling the ring does: the swap wakes it (once), and everything is delivered.
    let mut n = 10;
    while guard.metrics().pool.free == 16 - 1 {
        ringtrace::info!("filler {}", n);
        n += 1;
    }
    assert!(eventually(Duration::from_secs(20), || sink.events().len() == 1 + n as usize), "swap woke the drain");
    assert_eq!(metrics(&guard).wakeups_by_producers, napping.wakeups_by_producers + 1);
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(report.recorded, 1 + n);
}
