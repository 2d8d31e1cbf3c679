//! Issue 20: a per-target rate from the configuration tames a library that logs through
//! `tracing` without a change to its code: the layer's callsites carry the `tracing` target,
//! so `Builder::target_rate("noisy", 5)` caps each callsite of `noisy` and `noisy::client` at
//! 5 events a second, counts the rest as `rate_limited` (not as losses), and leaves other
//! targets alone. The rate windows run on
//! the injected clock (`__set_limit_clock`), so the counts are exact.
#![cfg(not(feature = "loom"))]

mod common;

use ringtrace::__private::__set_limit_clock;
use std::time::Duration;
use tracing_subscriber::prelude::*;

/// Puts the rate windows back on the recording clock when the test ends (also if it fails).
struct InjectedClock;

impl Drop for InjectedClock {
    fn drop(&mut self) {
        __set_limit_clock(None);
    }
}

#[test]
fn a_per_target_rate_limits_a_library_that_logs_through_tracing() {
    __set_limit_clock(Some(10));
    let _clock = InjectedClock;
    let (sink, seen) = common::Capture::new();
    let guard = ringtrace::Builder::new()
        .ignore_env()
        .policy(ringtrace::Policy::Block { timeout: Duration::from_secs(5) })
        .target_rate("noisy", 5)
        .sink(sink)
        .install()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(ringtrace_tracing::RingtraceLayer::new());
    tracing::subscriber::with_default(subscriber, || {
        // One callsite (one macro invocation), called from every loop.
        let retry = |i: u32| tracing::warn!(target: "noisy::client", attempt = i, "retrying");
        for i in 0..100u32 {
            retry(i);
        }
        for i in 0..10u32 {
            // Another callsite of the target, capped on its own.
            tracing::debug!(target: "noisy", n = i, "polled");
            tracing::info!(target: "noisy_neighbour", n = i, "not under the prefix");
            tracing::info!(target: "quiet", n = i, "served");
        }
        // The next second: the callsite passes again and says what it suppressed before.
        __set_limit_clock(Some(11));
        retry(100);
    });
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(report.rate_limited, 95 + 5, "{report:?}");
    assert_eq!(report.recorded, 5 + 1 + 5 + 20, "{report:?}");
    assert_eq!(report.dropped.total(), 0, "suppressed events are not losses: {report:?}");

    let seen = seen.lock().unwrap();
    let noisy: Vec<&common::Seen> = seen.iter().filter(|s| s.target == "noisy::client").collect();
    let attempts: Vec<String> = noisy.iter().map(|s| s.plain_fields()).collect();
    let expected: Vec<String> = (0..5).chain(100..101).map(|i| format!("attempt={i}")).collect();
    assert_eq!(attempts, expected);
    assert!(noisy[5].text.contains("rate_limited=95"), "{}", noisy[5].text);
    assert!(!noisy[4].text.contains("rate_limited="), "{}", noisy[4].text);
    let polled: Vec<String> = seen.iter().filter(|s| s.target == "noisy").map(|s| s.plain_fields()).collect();
    assert_eq!(polled, (0..5).map(|i| format!("n={i}")).collect::<Vec<_>>());
    assert_eq!(seen.iter().filter(|s| s.target == "quiet").count(), 10);
    assert_eq!(seen.iter().filter(|s| s.target == "noisy_neighbour").count(), 10);
}
