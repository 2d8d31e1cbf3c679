//! Rate limits and sampling (issue 20): a limited callsite passes at most its rate per
//! (injected) second and counts the rest exactly; sampling keeps exactly 1 of N per thread;
//! suppressed events are not losses, and attempted = recorded + dropped + rate_limited +
//! sampled.

// These tests use the real atomics; under `--features loom` only the loom models run.
#![cfg(not(feature = "loom"))]

mod common;

use ringtrace::__private::__set_limit_clock;
use std::time::Duration;

/// The injected clock, reset when the test ends (also when it fails).
struct InjectedClock;

impl InjectedClock {
    fn at(second: u64) -> Self {
        __set_limit_clock(Some(second));
        InjectedClock
    }

    fn set(&self, second: u64) {
        __set_limit_clock(Some(second));
    }
}

impl Drop for InjectedClock {
    fn drop(&mut self) {
        __set_limit_clock(None);
    }
}

fn install(sink: &common::Collect) -> ringtrace::Guard {
    ringtrace::Builder::new()
        .ignore_env()
        .policy(ringtrace::Policy::Block { timeout: Duration::from_secs(5) })
        .sink(sink.clone())
        .install()
        .unwrap()
}

#[test]
fn a_rate_limited_callsite_passes_its_rate_per_second_and_counts_the_rest() {
    let _s = common::serial();
    let clock = InjectedClock::at(1_000);
    let sink = common::Collect::new("all");
    let guard = install(&sink);
    // One callsite (one macro invocation), called from every loop.
    let retry = |i: u32| ringtrace::warn!(rate: 10, "retry {}", i);
    for i in 0..25u32 {
        retry(i);
    }
    clock.set(1_001);
    for i in 25..50u32 {
        retry(i);
    }
    // The 15 suppressed in second 1001 are reported on the first event that passes in 1002.
    clock.set(1_002);
    retry(50);
    let m = guard.metrics();
    assert_eq!(m.rate_limited, 30, "{m:?}");
    let report = guard.shutdown(Duration::from_secs(10));

    assert_eq!(report.recorded, 21, "{report:?}");
    assert_eq!(report.rate_limited, 30);
    assert_eq!(report.sampled, 0);
    assert_eq!(report.dropped.total(), 0, "suppressed events are not losses: {report:?}");
    assert_eq!(report.recorded + report.dropped.total() + report.rate_limited + report.sampled, 51);

    let events = sink.events();
    let messages: Vec<&str> = events.iter().map(|e| e.message.as_str()).collect();
    let expected: Vec<String> = (0..10).chain(25..35).chain(50..51).map(|i| format!("retry {i}")).collect();
    assert_eq!(messages, expected);
    // The first event that passes after suppression says how many this thread suppressed.
    assert!(!events[0].text.contains("rate_limited="), "{}", events[0].text);
    assert!(events[10].text.contains("rate_limited=15"), "{}", events[10].text);
    assert!(!events[11].text.contains("rate_limited="), "{}", events[11].text);
    assert!(events[20].text.contains("rate_limited=15"), "{}", events[20].text);
    assert!(events[20].json.contains("\"rate_limited\":15"), "{}", events[20].json);
    assert!(report.summary_line().contains("rate_limited=30"), "{}", report.summary_line());
}

#[test]
fn the_rate_holds_over_all_threads() {
    let _s = common::serial();
    let _clock = InjectedClock::at(2_000);
    let sink = common::Collect::new("all");
    let guard = install(&sink);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(|| {
                for i in 0..1_000u32 {
                    ringtrace::info!(rate: 100, "n {}", i);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let report = guard.shutdown(Duration::from_secs(10));
    // At most the rate in the one second; passes a thread took but did not spend are
    // forfeited, so never more, and the counts add up exactly.
    assert!(report.recorded <= 100 && report.recorded > 0, "{report:?}");
    assert_eq!(report.recorded + report.rate_limited, 4_000, "{report:?}");
    assert_eq!(report.dropped.total(), 0);
}

#[test]
fn on_the_recording_clock_a_thread_spends_the_passes_it_holds_and_no_more() {
    // The recording clock, not the injected one: calls inside the window a thread holds
    // passes of take the fast path (no second worked out, nothing shared read).
    let _s = common::serial();
    let sink = common::Collect::new("all");
    let guard = install(&sink);
    // A rate no loop reaches: every call passes, from the passes the thread holds.
    for i in 0..10_000u32 {
        ringtrace::info!(rate: 1_000_000_000, "fast {}", i);
    }
    // A rate of 1: one pass per second of the loop, every other call suppressed.
    let started = std::time::Instant::now();
    for i in 0..10_000u32 {
        ringtrace::info!(rate: 1, "slow {}", i);
    }
    let seconds = started.elapsed().as_secs();
    let report = guard.shutdown(Duration::from_secs(10));
    let slow = sink.events().iter().filter(|e| e.message.starts_with("slow ")).count() as u64;
    assert_eq!(report.recorded, 10_000 + slow, "{report:?}");
    assert!(slow >= 1 && slow <= seconds + 2, "{slow} passes in {seconds} s: {report:?}");
    assert_eq!(report.rate_limited, 10_000 - slow, "{report:?}");
    assert_eq!(report.dropped.total(), 0);
}

/// The whole second of the recording clock at `ticks`, as the rate windows count them.
fn second_at(guard: &ringtrace::Guard, ticks: u64) -> u32 {
    let q = ((1u128 << 64) / u128::from(guard.clock().ticks_per_sec.max(1))).min(u128::from(u64::MAX));
    ((u128::from(ticks) * q) >> 64) as u32
}

/// Waits (bounded, for a state, not a time) until `done` holds.
fn wait_for(what: &str, done: impl FnMut() -> bool) {
    assert!(common::eventually(done), "timed out waiting until {what}");
}

#[test]
fn a_spent_window_opens_in_the_next_second_by_the_drains_clock() {
    // A sparse caller: its window spent, it suppresses without reading the clock; the first
    // call after the drain moved the shared second past its window passes.
    let _s = common::serial();
    let sink = common::Collect::new("all");
    let guard = install(&sink);
    let call = |i: u32| ringtrace::info!(rate: 1, "sparse {}", i);
    call(0);
    let window = second_at(&guard, ringtrace::now_ticks());
    call(1);
    wait_for("the drain moves the second past the window", || ringtrace::__private::__limit_clock_second() > window);
    call(2);
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(report.rate_limited, 1, "{report:?}");
    let events = sink.events();
    let messages: Vec<&str> = events.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(messages, ["sparse 0", "sparse 2"]);
    assert!(events[1].text.contains("rate_limited=1"), "{}", events[1].text);
}

#[test]
fn with_the_drain_held_a_spent_window_opens_at_most_64_calls_late() {
    // The drain held in a sink cannot move the shared second on: a thread whose window is
    // spent then reads the clock itself on its 65th suppressed call, and passes.
    let _s = common::serial();
    let gate = common::Gate::new(false, |_| ());
    let sink = common::Collect::new("all");
    let guard = ringtrace::Builder::new().ignore_env().sink(gate.clone()).sink(sink.clone()).install().unwrap();
    let call = |i: u32| ringtrace::info!(rate: 1, "dense {}", i);
    // Start just after a second begins, so that the drain is held before the next one.
    let start = second_at(&guard, ringtrace::now_ticks());
    wait_for("a second begins", || second_at(&guard, ringtrace::now_ticks()) > start);
    call(0);
    let window = second_at(&guard, ringtrace::now_ticks());
    call(1);
    wait_for("the drain is held in the gate", || gate.entered() > 0);
    wait_for("the recording clock is past the window", || second_at(&guard, ringtrace::now_ticks()) > window);
    assert!(ringtrace::__private::__limit_clock_second() <= window, "the drain is held: it cannot have moved on");
    for i in 2..67 {
        call(i);
    }
    let m = guard.metrics();
    gate.set(true);
    let report = guard.shutdown(Duration::from_secs(10));
    // Call 1, then calls 2..=65 (64) suppressed without a clock reading; call 66 read it.
    assert_eq!(m.rate_limited, 1 + 64, "{m:?}");
    let messages: Vec<String> = sink.events().iter().map(|e| e.message.clone()).collect();
    assert_eq!(messages, ["dense 0", "dense 66"]);
    assert_eq!(report.rate_limited, 65);
}

#[test]
fn sampling_keeps_exactly_one_of_n_per_thread() {
    let _s = common::serial();
    let sink = common::Collect::new("all");
    let guard = install(&sink);
    let run = |calls: u32| {
        std::thread::spawn(move || {
            for i in 0..calls {
                ringtrace::trace!(sample: 4, "s {}", i);
            }
        })
    };
    let (a, b) = (run(10), run(7));
    a.join().unwrap();
    b.join().unwrap();
    let report = guard.shutdown(Duration::from_secs(10));
    // The first call of every four on each thread: 0, 4, 8 of ten; 0, 4 of seven.
    assert_eq!(report.recorded, 5, "{report:?}");
    assert_eq!(report.sampled, 12);
    assert_eq!(report.rate_limited, 0);
    assert_eq!(report.dropped.total(), 0);
    let mut kept: Vec<String> = sink.events().iter().map(|e| e.message.clone()).collect();
    kept.sort();
    assert_eq!(kept, ["s 0", "s 0", "s 4", "s 4", "s 8"]);
}

#[test]
fn a_per_target_rate_from_the_configuration_limits_callsites_without_their_own() {
    let _s = common::serial();
    let clock = InjectedClock::at(3_000);
    let sink = common::Collect::new("all");
    let guard = ringtrace::Builder::new()
        .ignore_env()
        .policy(ringtrace::Policy::Block { timeout: Duration::from_secs(5) })
        .target_rate("noisy_lib", 3)
        .sink(sink.clone())
        .install()
        .unwrap();
    for i in 0..10u32 {
        ringtrace::info!(target: "noisy_lib::conn", "noisy {}", i);
        ringtrace::info!(target: "noisy_library", "other {}", i);
        ringtrace::info!(target: "noisy_lib", sample: 5, "own limit {}", i);
    }
    clock.set(3_001);
    ringtrace::info!(target: "noisy_lib::conn", "noisy {}", 10u32);
    let report = guard.shutdown(Duration::from_secs(10));
    // noisy_lib::conn: 3 + 1 pass, 7 suppressed; noisy_library is not under the prefix;
    // the callsite with its own `sample:` keeps 2 of 10.
    assert_eq!(report.rate_limited, 7, "{report:?}");
    assert_eq!(report.sampled, 8);
    assert_eq!(report.recorded, 4 + 10 + 2);
    assert_eq!(report.recorded + report.dropped.total() + report.rate_limited + report.sampled, 31);

    // Without the runtime the per-target rate is gone: a new runtime without it records all.
    let sink2 = common::Collect::new("all");
    let guard = install(&sink2);
    for i in 0..10u32 {
        ringtrace::info!(target: "noisy_lib::conn", "noisy {}", i);
    }
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!((report.recorded, report.rate_limited), (10, 0), "{report:?}");
}

#[test]
fn the_counts_are_in_the_prometheus_text() {
    let _s = common::serial();
    let _clock = InjectedClock::at(4_000);
    let sink = common::Collect::new("all");
    let guard = install(&sink);
    for i in 0..5u32 {
        ringtrace::info!(rate: 2, "r {}", i);
        ringtrace::info!(sample: 5, "s {}", i);
    }
    let text = guard.metrics().to_prometheus();
    assert!(text.contains("ringtrace_events_rate_limited_total 3\n"), "{text}");
    assert!(text.contains("ringtrace_events_sampled_total 4\n"), "{text}");
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(report.recorded, 3);
}
