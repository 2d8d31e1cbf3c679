//! Issue 19 item 3, the other way in: `ringtrace_tracing::init()` sets up `tracing` and `log`
//! at once (the `log` records go straight to ringtrace, no bridge), and the documented
//! `RingtraceLogger::init().expect(…)` after it still succeeds: `log`'s logger is already
//! ringtrace's.
#![cfg(not(feature = "loom"))]

mod common;

use common::Capture;
use std::time::Duration;

#[test]
fn one_call_sets_up_tracing_and_log() {
    let (capture, seen) = Capture::new();
    let guard = ringtrace::Builder::new().ignore_env().sink(capture).install().unwrap();
    ringtrace_tracing::init().unwrap();
    ringtrace_tracing::RingtraceLogger::init().expect("log's logger is ringtrace's already");
    assert!(matches!(ringtrace_tracing::init(), Err(ringtrace_tracing::InitError::Tracing(_))));

    let line = line!() + 1;
    log::info!(target: "net", "retry {} of {}", 1, 3);
    tracing::info!(n = 1u64, "from tracing");
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(report.recorded, 2);
    let seen = seen.lock().unwrap().clone();
    assert_eq!((seen[0].target.as_str(), seen[0].message.as_str(), seen[0].line), ("net", "retry 1 of 3", line));
    assert_eq!((seen[1].target.as_str(), seen[1].plain_fields().as_str()), (module_path!(), "n=1"));
}
