//! Recording from inside a recording call (an argument's `Display` records, or panics) never
//! corrupts the outer record and never wedges the thread.

// These tests use the real atomics; under `--features loom` only the loom models run.
#![cfg(not(feature = "loom"))]

mod common;

use ringtrace::DropReason;
use std::fmt;
use std::time::Duration;

struct Chatty;
impl fmt::Display for Chatty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        ringtrace::info!("from inside Display");
        f.write_str("chatty")
    }
}

struct Panicky;
impl fmt::Display for Panicky {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        panic!("Display panics");
    }
}

#[test]
fn nested_record_is_dropped_as_reentrant_and_outer_survives() {
    let _s = common::serial();
    let sink = common::Collect::new("mem");
    let guard = ringtrace::Builder::new().sink(sink.clone()).install().unwrap();
    ringtrace::info!(who = %Chatty, "outer {}", 1u8);
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(report.recorded, 1);
    assert_eq!(report.dropped.get(DropReason::Reentrant), 1);
    let ev = &sink.events()[0];
    assert_eq!(ev.message, "outer 1");
    assert!(ev.text.ends_with(" who=chatty\n"), "{}", ev.text);
}

#[test]
fn a_panicking_capture_leaves_the_thread_able_to_record() {
    let _s = common::serial();
    let sink = common::Collect::new("mem");
    let guard = ringtrace::Builder::new().sink(sink.clone()).install().unwrap();
    ringtrace::info!("before");
    let caught = std::panic::catch_unwind(|| ringtrace::info!(bad = %Panicky, "never recorded"));
    assert!(caught.is_err());
    ringtrace::info!("after");
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(report.dropped.total(), 0, "{:?}", report.dropped);
    let msgs: Vec<String> = sink.events().into_iter().map(|e| e.message).collect();
    assert_eq!(msgs, ["before", "after"]);
}
