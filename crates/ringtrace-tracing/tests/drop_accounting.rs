//! Issue 19 item 5: `tracing` events dropped for want of room are counted at the size their
//! records would really have taken — in the metrics (`dropped_bytes`) and in the loss
//! records (`lost_bytes`) — not at the `max_record_size` reservation.
//!
//! A thread floods a small pool through the layer while the only sink holds the drain (a
//! gate), so its rings fill and it drops (`DropNewest`). Every flood event has the same shape,
//! `info!(n = i, "flood")`: a 16-byte header, the `u64` (9 bytes) and the message (3 + 5):
//! 33 bytes, 40 with padding. Then the gate opens, the thread records again (which writes its
//! loss record first), and the counts are compared. A second flood of events with a message
//! too long for the one-pass capture (recorded the general way, size known only after
//! writing) must be counted at no more than their real size.
#![cfg(not(feature = "loom"))]

use ringtrace::{Batch, Policy, RecordKind, Sink, SinkError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tracing_subscriber::prelude::*;

/// Record size of a flood event (see the module doc).
const FLOOD_RECORD: u64 = 40;

#[derive(Default)]
struct State {
    open: bool,
    /// (events, bytes) of every loss record seen.
    losses: Vec<(u64, u64)>,
    /// Sizes of the long events that were recorded.
    long_sizes: Vec<u64>,
}

/// Holds the drain in its first batch until the gate opens; notes loss records.
struct Gate(Arc<(Mutex<State>, Condvar)>);

impl Sink for Gate {
    fn name(&self) -> &str {
        "gate"
    }

    fn metadata(&self) -> ringtrace::SinkMetadata {
        ringtrace::SinkMetadata::new("gate", env!("CARGO_PKG_VERSION"))
    }

    fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        let (lock, cv) = &*self.0;
        let mut st = lock.lock().unwrap();
        while !st.open {
            st = cv.wait(st).unwrap();
        }
        for ev in batch.iter() {
            if let Some(l) = ev.loss() {
                st.losses.push((l.events, l.bytes));
            } else if ev.kind() == RecordKind::Event && ev.message().starts_with("long") {
                st.long_sizes.push((ringtrace::HEADER_LEN + ev.payload().len()) as u64);
            }
        }
        Ok(())
    }
}

fn open(gate: &Arc<(Mutex<State>, Condvar)>) {
    gate.0.lock().unwrap().open = true;
    gate.1.notify_all();
}

fn close(gate: &Arc<(Mutex<State>, Condvar)>) {
    gate.0.lock().unwrap().open = false;
}

/// Waits until the drain has taken every record of the pool back.
fn drained(guard: &ringtrace::Guard) {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(10) {
        let m = guard.metrics();
        if m.pool.free == m.pool.rings {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    panic!("the drain did not catch up");
}

#[test]
fn dropped_tracing_events_count_their_real_size() {
    let gate = Arc::new((Mutex::new(State::default()), Condvar::new()));
    let guard = ringtrace::Builder::new()
        .ignore_env()
        .ring_size(16 * 1024)
        .ring_count(4)
        .max_rings_per_thread(2)
        .policy(Policy::DropNewest)
        .sink(Gate(gate.clone()))
        .install()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(ringtrace_tracing::RingtraceLayer::new());
    tracing::subscriber::set_global_default(subscriber).unwrap();

    // Flood 1: fixed-size events, captured in one pass.
    let flood = std::thread::spawn(|| {
        for i in 0..20_000u64 {
            tracing::info!(n = i, "flood");
        }
    });
    flood.join().unwrap();
    let m = guard.metrics();
    let dropped = m.dropped.total();
    assert!(dropped > 10_000, "the flood must drop: {m:?}");
    assert_eq!(m.dropped_bytes, dropped * FLOOD_RECORD, "{dropped} events dropped");
    open(&gate);
    drained(&guard);

    // Flood 2: events whose message is too long for the capture (recorded the general way).
    close(&gate);
    let long = "x".repeat(600);
    let before = guard.metrics();
    let l2 = long.clone();
    std::thread::spawn(move || {
        for i in 0..2_000u64 {
            tracing::info!(n = i, "long {}", l2);
        }
    })
    .join()
    .unwrap();
    let m = guard.metrics();
    let (events, bytes) = (m.dropped.total() - before.dropped.total(), m.dropped_bytes - before.dropped_bytes);
    assert!(events > 0, "{m:?}");
    // header 16 + u64 9 + the message's 3 + 605 = 633, 640 with padding, never the 4096-byte
    // reservation. (The capture saw that the text is at least 605 bytes long when it did not
    // fit: that is what is counted. In general, a record whose size is known only after
    // writing is counted at its smallest possible size.)
    assert_eq!(bytes, events * 640, "{bytes} bytes for {events} events");
    open(&gate);
    drained(&guard);

    let report = guard.shutdown(Duration::from_secs(10));
    let st = gate.0.lock().unwrap();
    // Loss records (one per gap: a gap closes whenever the drain gave the thread room again,
    // and when the thread exits) add up to the metrics, each at its events' real size: 40
    // bytes per flood event, 640 per long event.
    let total = st.losses.iter().fold((0, 0), |(e, b), l| (e + l.0, b + l.1));
    assert_eq!(total, (dropped + events, dropped * FLOOD_RECORD + bytes), "{:?}", st.losses);
    let flood1: u64 = st.losses.iter().filter(|l| l.1 == l.0 * FLOOD_RECORD).map(|l| l.0).sum();
    assert_eq!(flood1, dropped, "{:?}", st.losses);
    assert!(st.losses.iter().all(|l| l.1 == l.0 * FLOOD_RECORD || l.1 == l.0 * 640), "{:?}", st.losses);
    assert!(st.long_sizes.iter().all(|&s| s == 633), "{:?}", &st.long_sizes[..4.min(st.long_sizes.len())]);
    assert_eq!(report.dropped.total(), dropped + events);
}
