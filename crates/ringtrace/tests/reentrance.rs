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

/// Records an event and binds context from inside its own `Display`, as a context value's
/// formatting might.
struct ChattyBinder;
impl fmt::Display for ChattyBinder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        ringtrace::info!("from inside a context value");
        let nested = ringtrace::with_context!(inner = 1u8);
        assert!(!nested.is_complete(), "a binding inside a binding is refused");
        f.write_str("bound")
    }
}

#[test]
fn an_eager_context_value_that_records_is_reentrant_and_the_context_is_intact() {
    let _s = common::serial();
    let sink = common::Collect::new("mem");
    let guard = ringtrace::Builder::new().sink(sink.clone()).install().unwrap();
    ringtrace::info!("registers the thread");
    let _outer = ringtrace::with_context!(first = 7u32);
    let ctx = ringtrace::with_context!(who = ringtrace::display(&ChattyBinder));
    assert!(ctx.is_complete());
    ringtrace::info!("after binding");
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(report.recorded, 2);
    assert_eq!(report.dropped.get(DropReason::Reentrant), 1, "{:?}", report.dropped);
    let ev = &sink.events()[1];
    assert_eq!(ev.message, "after binding");
    assert!(ev.text.contains(" {first=7 who=bound} "), "{}", ev.text);
}
