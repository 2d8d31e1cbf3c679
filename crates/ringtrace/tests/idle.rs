//! Acceptance: an idle drain thread barely runs, and bursts cost no wake-ups while the drain
//! naps (R-CORE-5, issue 18). Counts only: the drain's loop iterations and the wake-ups producers issued.

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

/// Issue 18: a bursty workload whose pauses are shorter than the drain's linger (100 ms)
/// makes no producer-issued wake-up after the first record (a ring swap makes no system call:
/// the napping drain's own nap, at most 1 ms, finds the swapped rings), and no burst waits
/// long: each is delivered before the burst after next ends.
#[test]
fn bursts_shorter_than_the_linger_cost_one_wake_up_and_none_waits_long() {
    let _s = common::serial();
    let sink = common::Collect::new("mem");
    let guard = ringtrace::Builder::new()
        .ignore_env()
        .ring_size(4096)
        .ring_count(16)
        .max_record_size(256)
        .merge_window(Duration::ZERO)
        .sink(sink.clone())
        .install()
        .unwrap();
    assert!(eventually(Duration::from_secs(20), || metrics(&guard).deep_sleeps >= 1), "drain fell asleep");
    let asleep = metrics(&guard);
    const BURST: usize = 300; // about three rings: every burst swaps rings
    const BURSTS: usize = 20;
    for b in 0..BURSTS {
        for i in 0..BURST {
            ringtrace::info!("burst {} event {}", b as u64, i as u64);
        }
        if b >= 2 {
            let delivered = sink.events().len();
            assert!(delivered >= (b - 1) * BURST, "burst {} not delivered by the end of burst {b}: {delivered}", b - 2);
        }
        // A pause far shorter than the linger: the drain naps, never sleeps deeply.
        std::thread::sleep(Duration::from_millis(20));
    }
    let m = metrics(&guard);
    assert_eq!(m.wakeups_by_producers - asleep.wakeups_by_producers, 1, "one wake-up: the first record");
    let swaps = guard.metrics().pool.high_water;
    assert!(swaps > 1, "the bursts swapped rings");
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(report.recorded, (BURST * BURSTS) as u64);
}
