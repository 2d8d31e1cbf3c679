//! Acceptance for backpressure (R-BP-1 … R-BP-6): the policies, the same-thread rule,
//! isolation, and the load scenarios. Every assertion is on counts, orderings and states; the
//! drain is held inside a sink ("gate") to make "the pool is dry" deterministic rather than
//! a matter of timing.

// These tests use the real atomics; under `--features loom` only the loom models run.
#![cfg(not(feature = "loom"))]

mod common;

use ringtrace::{
    Batch, Diagnostic, DiagnosticKind, DiagnosticSink, DropReason, Policy, RecordKind, Sink, SinkError, ThreadState,
};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One delivered event: its message or, for a loss record, the events it reports.
#[derive(Debug, Clone, PartialEq)]
enum Got {
    Event(String, String),
    Loss(u64),
}

type Gate = common::Gate<Got>;

fn gate() -> Gate {
    Gate::new(false, |ev| match ev.kind() {
        RecordKind::Loss => Got::Loss(ev.loss().unwrap().events),
        _ => Got::Event(ev.thread().name.clone(), ev.message()),
    })
}

/// Messages of the events of one thread, in order.
fn messages_of(gate: &Gate, thread: &str) -> Vec<String> {
    gate.got()
        .into_iter()
        .filter_map(|g| if let Got::Event(t, m) = g { (t == thread).then_some(m) } else { None })
        .collect()
}

/// Two 4 KiB rings, at most two per thread: 128 records of 32 bytes per ring.
fn small_pool(policy: Policy) -> ringtrace::Builder {
    ringtrace::Builder::new()
        .ring_size(4096)
        .ring_count(2)
        .max_rings_per_thread(2)
        .max_record_size(256)
        .policy(policy)
        .diagnostics(DiagnosticSink::Off)
}

/// Records event 0, waits until the drain took it and is held in the gate.
fn hold_drain(gate: &Gate) {
    ringtrace::info!("e {}", 0u64);
    assert!(common::eventually(|| gate.entered() >= 1), "drain entered the gate");
}

fn my_state(g: &ringtrace::Guard) -> ThreadState {
    let me = std::thread::current().name().unwrap().to_string();
    g.metrics().threads.iter().find(|t| t.name == me).map(|t| t.state).unwrap()
}

#[test]
fn drop_newest_drops_exactly_the_records_that_did_not_fit() {
    let _s = common::serial();
    let gate = gate();
    let guard = small_pool(Policy::DropNewest).sink(gate.clone()).install().unwrap();
    hold_drain(&gate);
    // Ring A has room for events 1..=128, ring B for 129..=256; the quota stops the rest.
    for i in 1..300u64 {
        ringtrace::info!("e {}", i);
    }
    assert_eq!(my_state(&guard), ThreadState::Dropping);
    gate.set(true);
    assert!(common::eventually(|| guard.metrics().recorded == 257), "the drain took everything that fit");
    ringtrace::info!("after");
    let report = guard.shutdown(Duration::from_secs(10));

    let me = std::thread::current().name().unwrap().to_string();
    let mut expected: Vec<String> = (0..=256u64).map(|i| format!("e {i}")).collect();
    expected.push("after".into());
    assert_eq!(messages_of(&gate, &me), expected, "the oldest 257 fit, the newest 43 were dropped");
    assert_eq!(report.dropped.get(DropReason::QuotaExceeded), 43);
    assert_eq!(report.dropped.total(), 43);
    assert_eq!(report.recorded + report.dropped.total(), 301, "attempted == recorded + dropped");
    // The loss record sits exactly where the gap is: after e 256, before "after".
    let got = gate.got();
    let at = got.iter().position(|g| *g == Got::Loss(43)).expect("a loss record for the 43");
    assert_eq!(got[at - 1], Got::Event(me.clone(), "e 256".into()));
    assert_eq!(got[at + 1], Got::Event(me, "after".into()));
    assert_eq!(report.loss_records, 1);
    assert_eq!(report.sink("gate").unwrap().written, report.recorded + report.loss_records);
}

#[test]
fn drop_oldest_loses_whole_oldest_rings_and_keeps_the_newest() {
    let _s = common::serial();
    let gate = gate();
    let guard = small_pool(Policy::DropOldest).sink(gate.clone()).install().unwrap();
    hold_drain(&gate);
    const N: u64 = 1_000;
    for i in 1..N {
        ringtrace::info!("e {}", i);
    }
    gate.set(true);
    let report = guard.shutdown(Duration::from_secs(10));

    let me = std::thread::current().name().unwrap().to_string();
    let seqs: Vec<u64> = messages_of(&gate, &me).iter().map(|m| m[2..].parse().unwrap()).collect();
    assert_eq!(seqs[0], 0, "event 0 was delivered before the pool ran dry");
    // Everything after event 0 is one contiguous run ending with the newest event: whole
    // oldest rings were reclaimed, the newest records survive.
    let rest = &seqs[1..];
    assert_eq!(*rest.last().unwrap(), N - 1, "the newest event survived");
    assert!(rest.windows(2).all(|w| w[1] == w[0] + 1), "survivors are contiguous: {rest:?}");
    let lost = N - seqs.len() as u64;
    assert!(lost > 0);
    assert_eq!(report.dropped.get(DropReason::Overwritten), lost);
    assert_eq!(report.dropped.total(), lost, "only overwritten, never dropped newest");
    assert_eq!(report.recorded + report.dropped.total(), N);
    // The overwritten events are reported by loss records, in total exactly.
    let reported: u64 = gate.got().iter().map(|g| if let Got::Loss(n) = g { *n } else { 0 }).sum();
    assert_eq!(reported, lost);
    // At most two rings survive (the quota): the oldest survivor is at most two rings back.
    assert!(rest.len() <= 2 * 128, "{} survivors", rest.len());
}

#[test]
fn block_waits_until_the_drain_frees_a_ring_then_succeeds() {
    let _s = common::serial();
    let gate = gate();
    let guard = small_pool(Policy::Block { timeout: Duration::from_secs(30) }).sink(gate.clone()).install().unwrap();
    hold_drain(&gate);
    let returned = Arc::new(AtomicBool::new(false));
    let r2 = returned.clone();
    let producer = std::thread::Builder::new()
        .name("blocked".into())
        .spawn(move || {
            for i in 1..=300u64 {
                ringtrace::info!("b {}", i);
            }
            r2.store(true, Ordering::Release);
        })
        .unwrap();
    // The producer fills the free ring and blocks (it is DROPPING, i.e. out of room).
    assert!(common::eventually(|| guard
        .metrics()
        .threads
        .iter()
        .any(|t| t.name == "blocked" && t.state == ThreadState::Dropping)));
    std::thread::sleep(Duration::from_millis(50));
    assert!(!returned.load(Ordering::Acquire), "still blocked while the drain is held");
    gate.set(true);
    producer.join().unwrap();
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(report.dropped.total(), 0, "{:?}", report.dropped);
    assert_eq!(messages_of(&gate, "blocked"), (1..=300u64).map(|i| format!("b {i}")).collect::<Vec<_>>());
    assert_eq!(report.recorded, 301);
}

#[test]
fn block_times_out_and_counts_it() {
    let _s = common::serial();
    let gate = gate();
    let guard = small_pool(Policy::Block { timeout: Duration::from_millis(30) }).sink(gate.clone()).install().unwrap();
    hold_drain(&gate);
    for i in 1..=258u64 {
        ringtrace::info!("e {}", i); // 1..=256 fit; 257 and 258 wait 30 ms each and give up
    }
    gate.set(true);
    assert!(common::eventually(|| guard.metrics().recorded == 257), "the drain took everything that fit");
    ringtrace::info!("after");
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(report.dropped.get(DropReason::BlockTimeout), 2);
    assert_eq!(report.dropped.total(), 2);
    assert_eq!(report.recorded + report.dropped.total(), 260);
    assert!(gate.got().contains(&Got::Loss(2)));
}

#[test]
fn a_sink_recording_under_block_never_waits_on_its_own_drain() {
    let _s = common::serial();
    /// Records 1 000 events from inside the drain's first `write_batch`.
    #[derive(Clone, Default)]
    struct Chatty {
        recorded: Arc<AtomicBool>,
    }
    impl Sink for Chatty {
        fn name(&self) -> &str {
            "chatty"
        }

        fn metadata(&self) -> ringtrace::SinkMetadata {
            ringtrace::SinkMetadata::new("chatty", env!("CARGO_PKG_VERSION"))
        }

        fn write_batch(&mut self, _: &Batch<'_>) -> Result<(), SinkError> {
            if !self.recorded.load(Ordering::Acquire) {
                for i in 0..1_000u64 {
                    ringtrace::info!("from the sink {}", i);
                }
                self.recorded.store(true, Ordering::Release);
            }
            Ok(())
        }
    }
    let seen = Arc::new(Mutex::new(Vec::<Diagnostic>::new()));
    let s2 = seen.clone();
    let chatty = Chatty::default();
    let guard = small_pool(Policy::Block { timeout: Duration::from_secs(3600) })
        .sink(chatty.clone())
        .diagnostics(DiagnosticSink::Hook(Arc::new(move |d: &Diagnostic| s2.lock().unwrap().push(d.clone()))))
        .install()
        .unwrap();
    ringtrace::info!("trigger");
    assert!(common::eventually(|| chatty.recorded.load(Ordering::Acquire)));
    // With an hour-long Block timeout, finishing at all shows nothing waited.
    let report = guard.shutdown(Duration::from_secs(30));
    assert!(!report.timed_out);
    let drain_drops = report.dropped.get(DropReason::DrainContext);
    assert!(drain_drops > 0, "the sink's records overflowed its ring: {:?}", report.dropped);
    assert_eq!(report.dropped.total(), drain_drops);
    assert_eq!(report.recorded + drain_drops, 1 + 1_000, "accounting stays exact");
    let seen = seen.lock().unwrap();
    let specific: Vec<_> = seen.iter().filter(|d| d.kind == DiagnosticKind::DrainContextDrop).collect();
    assert_eq!(specific.len(), 1, "emitted once: {specific:?}");
    let m = &specific[0].message;
    assert!(m.contains("block(3600000ms)"), "names the policy: {m}");
    assert!(m.contains("1 such drops so far"), "the drop total: {m}");
    assert!(m.contains("high-water mark 2 of 2 rings"), "high-water mark and capacity: {m}");
}

#[test]
fn a_flooding_thread_cannot_make_a_quiet_one_lose_events() {
    let _s = common::serial();
    /// Counts per thread; checks the quiet thread's sequence.
    #[derive(Clone, Default)]
    struct Count {
        quiet: Arc<Mutex<Vec<u64>>>,
        flood: Arc<AtomicU64>,
    }
    impl Sink for Count {
        fn name(&self) -> &str {
            "count"
        }

        fn metadata(&self) -> ringtrace::SinkMetadata {
            ringtrace::SinkMetadata::new("count", env!("CARGO_PKG_VERSION"))
        }

        fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
            for ev in batch.iter() {
                if ev.thread().name == "quiet" && ev.kind() == RecordKind::Event {
                    if let Some(ringtrace::Value::U64(i)) = ev.args().next() {
                        self.quiet.lock().unwrap().push(i);
                    }
                } else {
                    self.flood.fetch_add(1, Ordering::Relaxed);
                }
            }
            // A slow sink: the drain cannot keep up with the flood.
            std::thread::sleep(Duration::from_micros(200));
            Ok(())
        }
    }
    let sink = Count::default();
    let guard = ringtrace::Builder::new()
        .ring_count(16)
        .ring_size(1 << 16)
        .max_rings_per_thread(4)
        .sink(sink.clone())
        .install()
        .unwrap();
    let (stop, flood) = common::spawn_flood();
    let quiet = std::thread::Builder::new()
        .name("quiet".into())
        .spawn(|| {
            // 1 000 events per second for 2 seconds.
            let start = Instant::now();
            for i in 0..2_000u64 {
                ringtrace::info!("quiet {}", i);
                let next = start + Duration::from_millis(i + 1);
                if let Some(d) = next.checked_duration_since(Instant::now()) {
                    std::thread::sleep(d);
                }
            }
        })
        .unwrap();
    quiet.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    let flooded = flood.join().unwrap();
    let report = guard.shutdown(Duration::from_secs(60));
    assert_eq!(*sink.quiet.lock().unwrap(), (0..2_000).collect::<Vec<_>>(), "the quiet thread lost nothing");
    let m = report.dropped.total();
    assert!(m > 0, "the flooding thread dropped (it recorded {flooded})");
    assert_eq!(report.recorded + m, flooded + 2_000);
}
