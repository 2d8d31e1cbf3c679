//! Tests written for mutants that survived the mutation pass over the recording path, the
//! drain's collect/merge and the state machine (docs/mutants.md lists the mutants, the
//! command and the verdicts). Each test names the mutant it kills. Every assertion is on
//! counts, orderings and states; durations only size the windows the states last.

// These tests use the real atomics; under `--features loom` only the loom models run.
#![cfg(not(feature = "loom"))]

mod common;

use ringtrace::{DiagnosticSink, DropReason, Policy, RecordKind, ThreadState};
use std::time::Duration;

/// One delivered event: its message or, for a loss record, the events it reports.
#[derive(Debug, Clone, PartialEq)]
enum Got {
    Event(String),
    Loss(u64),
}

type Gate = common::Gate<Got>;

fn gate() -> Gate {
    Gate::new(false, |ev| match ev.kind() {
        RecordKind::Loss => Got::Loss(ev.loss().unwrap().events),
        _ => Got::Event(ev.message()),
    })
}

/// Records event 0, waits until the drain took it and is held in the gate.
fn hold_drain(gate: &Gate) {
    let entered = gate.entered();
    ringtrace::info!("e {}", 0u64);
    assert!(common::eventually(|| gate.entered() > entered), "drain entered the gate");
}

/// The calling thread's state and the drain's deep-sleep count, in that order (the count is
/// read after the state).
fn sample(g: &ringtrace::Guard) -> (ThreadState, u64) {
    let me = std::thread::current().name().unwrap().to_string();
    let m = g.metrics();
    let state = m.threads.iter().find(|t| t.name == me).map(|t| t.state).unwrap();
    (state, m.drain.deep_sleeps)
}

/// A thread in RECOVERY needs the drain's recovery check after every pass to get back to
/// NORMAL, so the drain must not fall into a deep sleep (woken only by a record or after
/// `IDLE_TIMEOUT`) while any thread is not NORMAL: it naps for `flush_interval` instead.
///
/// Kills `drain.rs Drain::pass: replace |= with &=` (`unsettled` never set: the drain sleeps
/// deeply in RECOVERY and the thread stays there until the idle timeout or its next record)
/// and `Drain::check_recovery: replace >= with <` on the stability period (NORMAL at once).
#[test]
fn the_drain_never_sleeps_deeply_while_a_thread_recovers() {
    let _s = common::serial();
    let gate = gate();
    // RECOVERY lasts `stability_period`, far longer than the drain's LINGER (100 ms) after
    // its last work, after which an idle drain with nothing unsettled sleeps deeply.
    let guard = ringtrace::Builder::new()
        .ring_size(4096)
        .ring_count(2)
        .max_rings_per_thread(2)
        .max_record_size(256)
        .policy(Policy::DropNewest)
        .stability_period(Duration::from_millis(800))
        .diagnostics(DiagnosticSink::Off)
        .ignore_env()
        .sink(gate.clone())
        .install()
        .unwrap();
    hold_drain(&gate);
    for i in 1..300u64 {
        ringtrace::info!("e {}", i);
    }
    assert_eq!(sample(&guard).0, ThreadState::Dropping);
    gate.set(true);
    // Sample until NORMAL; nothing is recorded meanwhile, so the thread goes DROPPING →
    // RECOVERY → NORMAL once and every RECOVERY sample lies in one stretch.
    let mut samples = Vec::new();
    assert!(
        common::eventually(|| {
            let s = sample(&guard);
            samples.push(s);
            s.0 == ThreadState::Normal
        }),
        "back to NORMAL: {:?}",
        samples.last()
    );
    let recovering: Vec<usize> =
        samples.iter().enumerate().filter(|(_, s)| s.0 == ThreadState::Recovery).map(|(i, _)| i).collect();
    assert!(recovering.len() >= 3, "RECOVERY seen in at least three samples: {samples:?}");
    let (first, last) = (recovering[0], *recovering.last().unwrap());
    // The count of sample `last - 1` was read before the state of sample `last`, which was
    // still RECOVERY: every deep sleep counted there began while the thread recovered.
    assert_eq!(
        samples[first].1,
        samples[last - 1].1,
        "the drain slept deeply while the thread was in RECOVERY (samples {first}..{last} of {})",
        samples.len()
    );
    // RECOVERY → NORMAL only once `stability_period` has passed in RECOVERY (the drain's
    // condition on the clock; a lower bound, never an upper one). A millisecond of slack for
    // the tick/nanosecond conversions.
    let spent = me(&guard).time_in_state[ThreadState::Recovery as usize];
    assert!(spent >= Duration::from_millis(799), "NORMAL after only {spent:?} in RECOVERY");
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(report.dropped.get(DropReason::QuotaExceeded), 43);
    assert_eq!(report.transitions.get(ThreadState::Recovery, ThreadState::Normal), 1);
}

/// The calling thread's metrics.
fn me(g: &ringtrace::Guard) -> ringtrace::ThreadMetrics {
    let name = std::thread::current().name().unwrap().to_string();
    g.metrics().threads.into_iter().find(|t| t.name == name).unwrap()
}

/// Waits until the drain has begun two more iterations of its loop, so at least one whole
/// pass (and its recovery check of every thread) ran after this call.
fn two_drain_passes(g: &ringtrace::Guard) {
    let i0 = g.metrics().drain.iterations;
    assert!(common::eventually(|| g.metrics().drain.iterations >= i0 + 2), "the drain made two more passes");
}

/// Flight-recorder mode (the drain leaves live threads' rings alone and hands an exited
/// thread's rings back only when the pool runs short), four 4 KiB rings (128 records each),
/// a quota of all four, `DropNewest`.
fn flight_pool(recovery_watermark: f64, sink: &common::Collect) -> ringtrace::Guard {
    ringtrace::Builder::new()
        .ring_size(4096)
        .ring_count(4)
        .max_rings_per_thread(4)
        .max_record_size(256)
        .policy(Policy::DropNewest)
        .flight_recorder(true)
        .recovery_watermark(recovery_watermark)
        .diagnostics(DiagnosticSink::Off)
        .ignore_env()
        .sink(sink.clone())
        .install()
        .unwrap()
}

/// Spawns a thread "holder" that records 200 events (two rings of 4 KiB) and stays alive,
/// holding them, until the returned sender is used or dropped; returns once it has recorded.
fn spawn_holder() -> (std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let (ready, recorded) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::Builder::new()
        .name("holder".into())
        .spawn(move || {
            for i in 0..200u64 {
                ringtrace::info!("h {}", i);
            }
            ready.send(()).unwrap();
            let _ = wait.recv();
        })
        .unwrap();
    recorded.recv().unwrap();
    (go, holder)
}

/// A thread "holder" records 200 events (two of the four rings) and stays alive until the
/// returned sender is used (or dropped); then this thread records 300 events: two rings fit,
/// the pool is empty, the rest is dropped (below the quota: `PoolExhausted`) and the thread
/// is DROPPING with a full ring and an open gap. Returns the holder and the drops.
fn dry_the_pool_below_the_quota(
    guard: &ringtrace::Guard,
) -> (std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>, u64) {
    let (go, holder) = spawn_holder();
    assert_eq!(guard.metrics().pool.free, 2, "the holder keeps two rings");
    for i in 0..300u64 {
        ringtrace::info!("a {}", i);
    }
    let m = guard.metrics();
    assert_eq!(m.pool.free, 0);
    let dropped = m.dropped.get(DropReason::PoolExhausted);
    assert!(dropped > 0, "{:?}", m.dropped);
    assert_eq!(m.dropped.total(), dropped, "only PoolExhausted: the quota was never reached");
    assert_eq!(me(guard).state, ThreadState::Dropping);
    (go, holder, dropped)
}

/// A DROPPING thread whose ring is full, with a loss gap open, below its quota: once the pool
/// has a free ring again, its next record takes that ring (closing the gap with a loss
/// record) even though the thread is still DROPPING — the fast drop path (`still_dropping`)
/// must not drop it. And DROPPING → RECOVERY waits for `recovery_watermark`, even though the
/// thread has room.
///
/// Kills `producer.rs Producer::still_dropping: replace == with !=` (free rings taken for an
/// empty pool), `Producer::still_dropping: replace >= with <` (a thread below its quota taken
/// for one at it) and `drain.rs Drain::check_recovery: replace && with ||` (RECOVERY on room
/// alone, with the pool still short).
#[test]
fn a_dropping_thread_takes_a_freed_ring_but_stays_dropping_until_the_pool_recovers() {
    let _s = common::serial();
    let sink = common::Collect::new("all");
    // Recovery needs all four rings free, which cannot happen while this thread holds one:
    // the thread stays DROPPING for the rest of the test.
    let guard = flight_pool(1.0, &sink);
    let (go, holder, dropped) = dry_the_pool_below_the_quota(&guard);
    // The holder exits; the pool is short of rings, so the drain hands its two back.
    go.send(()).unwrap();
    holder.join().unwrap();
    assert!(common::eventually(|| guard.metrics().pool.free == 2), "the exited holder's rings came back");
    two_drain_passes(&guard);
    assert_eq!(me(&guard).state, ThreadState::Dropping, "2 of 4 rings free is below recovery_watermark");
    ringtrace::info!("after");
    let m = guard.metrics();
    assert_eq!(m.dropped.total(), dropped, "the record after the refill found a ring: {:?}", m.dropped);
    assert_eq!(m.pool.free, 1);
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(report.dropped.total(), dropped);
    assert_eq!(report.recorded, 200 + 300 - dropped + 1);
    let me_name = std::thread::current().name().unwrap().to_string();
    let mine: Vec<_> = sink.events().into_iter().filter(|e| e.thread == me_name).collect();
    let n = mine.len();
    assert!(n >= 2);
    assert_eq!(mine[n - 2].kind, RecordKind::Loss, "the gap is closed right before the record that ended it");
    assert_eq!(mine[n - 1].message, "after");
}

/// The same dry pool, but a reachable `recovery_watermark` (half the rings): once the exited
/// holder's rings are back, the DROPPING thread — below its quota, its active ring full —
/// has room and moves to RECOVERY.
///
/// Kills `drain.rs Drain::has_room: replace || with &&` (room only if the active ring is
/// also at most half full).
#[test]
fn a_dropping_thread_below_its_quota_recovers_when_the_pool_does() {
    let _s = common::serial();
    let sink = common::Collect::new("all");
    let guard = flight_pool(0.5, &sink);
    let (go, holder, dropped) = dry_the_pool_below_the_quota(&guard);
    go.send(()).unwrap();
    holder.join().unwrap();
    assert!(common::eventually(|| guard.metrics().pool.free == 2), "the exited holder's rings came back");
    assert!(
        common::eventually(|| me(&guard).state != ThreadState::Dropping),
        "2 of 4 rings free reaches recovery_watermark, and the thread is below its quota: {:?}",
        me(&guard)
    );
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(report.transitions.get(ThreadState::Dropping, ThreadState::Recovery), 1);
    assert_eq!(report.dropped.total(), dropped);
}

/// A thread at its quota stays DROPPING however free the pool is, as long as its active ring
/// is full (`has_room`: below the quota, or the active ring at most half full). Flight-
/// recorder mode keeps the rings, so the thread stays at its quota.
///
/// Kills `drain.rs Drain::has_room: replace < with <=` (a thread at its quota taken for one
/// below it).
#[test]
fn a_thread_at_its_quota_stays_dropping_in_a_free_pool() {
    let _s = common::serial();
    let sink = common::Collect::new("all");
    let guard = ringtrace::Builder::new()
        .ring_size(4096)
        .ring_count(16)
        .max_rings_per_thread(2)
        .max_record_size(256)
        .policy(Policy::DropNewest)
        .flight_recorder(true)
        .diagnostics(DiagnosticSink::Off)
        .ignore_env()
        .sink(sink.clone())
        .install()
        .unwrap();
    for i in 0..300u64 {
        ringtrace::info!("a {}", i);
    }
    let m = guard.metrics();
    assert_eq!(m.dropped.get(DropReason::QuotaExceeded), 300 - 256, "{:?}", m.dropped);
    assert_eq!(m.pool.free, 14, "far above recovery_watermark");
    two_drain_passes(&guard);
    assert_eq!(me(&guard).state, ThreadState::Dropping, "at its quota with a full active ring: no room");
    assert_eq!(guard.metrics().transitions.get(ThreadState::Dropping, ThreadState::Recovery), 0);
    // (The final passes of the shutdown do take the rings, and then the thread recovers.)
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(report.recorded, 256);
}

/// Records that fit are never reported as cut: the best-effort serialization diagnostic
/// names events that were truncated, and there are none here.
///
/// Kills `drain.rs Drain::consume: replace > with >=` (a "0 event(s) … were cut"
/// diagnostic after every ring read).
#[test]
fn no_truncation_diagnostic_when_nothing_was_cut() {
    let _s = common::serial();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<ringtrace::Diagnostic>::new()));
    let s2 = seen.clone();
    let sink = common::Collect::new("all");
    let guard = ringtrace::Builder::new()
        .diagnostics(DiagnosticSink::Hook(std::sync::Arc::new(move |d: &ringtrace::Diagnostic| {
            s2.lock().unwrap().push(d.clone())
        })))
        .ignore_env()
        .sink(sink.clone())
        .install()
        .unwrap();
    for i in 0..100u64 {
        ringtrace::info!("fits {} {}", i, "a short string");
    }
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(report.recorded, 100);
    assert_eq!(sink.events().len(), 100);
    let seen = seen.lock().unwrap();
    let serialization: Vec<_> =
        seen.iter().filter(|d| d.kind == ringtrace::DiagnosticKind::Serialization).map(|d| &d.message).collect();
    assert!(serialization.is_empty(), "{serialization:?}");
}

/// A thread's records can still be held back in the merge window after its slot was retired;
/// its description (name, id) must stay theirs until they are delivered, even if a new thread
/// arrives meanwhile and the drain hands out descriptions again.
///
/// Kills `drain.rs Drain::dispatch: replace == with !=` (a retired description freed while
/// held-back records refer to it: the exited thread's last records carry the next thread's
/// name).
#[test]
fn held_back_records_of_an_exited_thread_keep_its_name() {
    let _s = common::serial();
    let sink = common::Collect::new("all");
    // A merge window far longer than the test: every record is held back until shutdown.
    let guard = ringtrace::Builder::new()
        .flush_interval(Duration::from_secs(60))
        .merge_window(Duration::from_secs(60))
        .diagnostics(DiagnosticSink::Off)
        .ignore_env()
        .sink(sink.clone())
        .install()
        .unwrap();
    let record_in = |name: &str| {
        let n = name.to_string();
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                for i in 0..10u64 {
                    ringtrace::info!("{} {}", n.as_str(), i);
                }
            })
            .unwrap()
            .join()
            .unwrap();
    };
    record_in("first");
    // The drain read the exited thread's records (held back) and retired its slot.
    assert!(
        common::eventually(|| {
            let m = guard.metrics();
            m.threads.is_empty() && m.recorded == 10
        }),
        "the exited thread's slot was retired"
    );
    assert!(sink.events().is_empty(), "held back in the merge window");
    record_in("second");
    assert!(common::eventually(|| guard.metrics().recorded == 20));
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(report.recorded, 20);
    let events = sink.events();
    assert_eq!(events.len(), 20);
    for e in &events {
        let owner = e.message.split(' ').next().unwrap();
        assert_eq!(e.thread, owner, "{e:?}");
    }
}

/// PRESSURE means fewer than `pressure_watermark` of the rings free (R-BP-2): with four rings
/// and a watermark of a quarter, taking the third ring (one left free) is still NORMAL,
/// taking the last one is PRESSURE.
///
/// Kills `producer.rs Producer::take_fresh_ring: replace < with <=` (PRESSURE at the
/// watermark itself).
#[test]
fn pressure_starts_below_the_watermark_not_at_it() {
    let _s = common::serial();
    let gate = gate();
    let guard = ringtrace::Builder::new()
        .ring_size(4096)
        .ring_count(4)
        .max_rings_per_thread(4)
        .max_record_size(256)
        .pressure_watermark(0.25)
        .policy(Policy::DropNewest)
        .diagnostics(DiagnosticSink::Off)
        .ignore_env()
        .sink(gate.clone())
        .install()
        .unwrap();
    // The drain is held: no ring comes back while this thread takes them, 128 records each.
    hold_drain(&gate);
    for i in 1..300u64 {
        ringtrace::info!("e {}", i);
    }
    let m = guard.metrics();
    assert_eq!(m.pool.free, 1, "three rings taken");
    assert_eq!(me(&guard).state, ThreadState::Normal, "one ring of four free is not below a quarter");
    for i in 300..400u64 {
        ringtrace::info!("e {}", i);
    }
    let m = guard.metrics();
    assert_eq!(m.pool.free, 0, "the fourth ring taken");
    assert_eq!(me(&guard).state, ThreadState::Pressure);
    assert_eq!(m.dropped.total(), 0);
    gate.set(true);
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(report.recorded, 400);
    assert_eq!(report.transitions.get(ThreadState::Normal, ThreadState::Pressure), 1);
}

/// When the drain hands rings back it wakes the producers blocked under `Policy::Block`
/// (counted as `blocked_wakeups`), also when the freed rings are no use to them. Flight-
/// recorder mode makes it deterministic: the blocked thread is at its quota (the drain does
/// not take a live thread's rings), so it is still waiting when an exited thread's rings come
/// back.
///
/// Kills `backpressure.rs Waiters::wake_all: replace with ()`, `Waiters::wake_all: replace
/// == with !=` and `Waiters::wakes: replace -> u64 with 0`.
#[test]
fn freed_rings_wake_the_blocked_producers() {
    let _s = common::serial();
    let sink = common::Collect::new("all");
    let guard = ringtrace::Builder::new()
        .ring_size(4096)
        .ring_count(4)
        .max_rings_per_thread(2)
        .max_record_size(256)
        .policy(Policy::Block { timeout: Duration::from_secs(3600) })
        .flight_recorder(true)
        .diagnostics(DiagnosticSink::Off)
        .ignore_env()
        .sink(sink.clone())
        .install()
        .unwrap();
    let (go, holder) = spawn_holder();
    // Two rings fit, the 257th record waits: the thread is at its quota.
    let blocked = std::thread::Builder::new()
        .name("blocked".into())
        .spawn(|| {
            for i in 0..257u64 {
                ringtrace::info!("b {}", i);
            }
        })
        .unwrap();
    let state_of = |name: &str| guard.metrics().threads.iter().find(|t| t.name == name).map(|t| t.state);
    assert!(common::eventually(|| state_of("blocked") == Some(ThreadState::Dropping)), "the thread blocks");
    // The blocked call announces itself after a few hundred tries for room (microseconds);
    // give it ample time to be parked before the rings come back.
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(guard.metrics().drain.blocked_wakeups, 0);
    go.send(()).unwrap();
    holder.join().unwrap();
    assert!(common::eventually(|| guard.metrics().pool.free == 2), "the exited holder's rings came back");
    assert!(
        common::eventually(|| guard.metrics().drain.blocked_wakeups >= 1),
        "the drain woke the blocked producer when it freed rings"
    );
    assert!(!blocked.is_finished(), "still at its quota: still blocked");
    // Shutdown ends the wait: the waiting record is dropped as a shutdown drop.
    let report = guard.shutdown(Duration::from_secs(10));
    blocked.join().unwrap();
    assert_eq!(report.dropped.get(DropReason::Shutdown), 1, "{:?}", report.dropped);
    assert_eq!(report.dropped.total(), 1);
    assert_eq!(report.recorded, 200 + 256);
}

/// A producer that stops waiting leaves the waiters: once no producer is blocked, rings the
/// drain frees wake nobody (`blocked_wakeups` stays put).
///
/// Kills `backpressure.rs Waiters::leave: replace with ()` (the waiter count never goes
/// down: every later pass that frees a ring "wakes" a producer that is long gone).
#[test]
fn no_wakeups_once_no_producer_waits() {
    let _s = common::serial();
    let gate = gate();
    let guard = ringtrace::Builder::new()
        .ring_size(4096)
        .ring_count(2)
        .max_rings_per_thread(2)
        .max_record_size(256)
        .policy(Policy::Block { timeout: Duration::from_secs(3600) })
        .diagnostics(DiagnosticSink::Off)
        .ignore_env()
        .sink(gate.clone())
        .install()
        .unwrap();
    hold_drain(&gate);
    // Two rings fit; the rest waits until the drain is let go.
    let producer = std::thread::Builder::new()
        .name("blocked".into())
        .spawn(|| {
            for i in 1..=300u64 {
                ringtrace::info!("b {}", i);
            }
        })
        .unwrap();
    let state_of = |name: &str| guard.metrics().threads.iter().find(|t| t.name == name).map(|t| t.state);
    assert!(common::eventually(|| state_of("blocked") == Some(ThreadState::Dropping)), "the thread blocks");
    gate.set(true);
    producer.join().unwrap();
    assert!(common::eventually(|| guard.metrics().recorded == 301));
    two_drain_passes(&guard);
    let woken = guard.metrics().drain.blocked_wakeups;
    // Nobody waits now. This thread (which never waits: `DropNewest` for it) records in
    // chunks smaller than a ring and lets the drain catch up after each: it swaps rings
    // again and again, and the drain frees each one.
    ringtrace::set_thread_policy(Some(Policy::DropNewest));
    for chunk in 0..20u64 {
        for i in 0..100u64 {
            ringtrace::info!("e {}", chunk * 100 + i);
        }
        assert!(common::eventually(|| guard.metrics().recorded == 301 + (chunk + 1) * 100));
        two_drain_passes(&guard);
    }
    ringtrace::set_thread_policy(None);
    assert_eq!(guard.metrics().drain.blocked_wakeups, woken, "wake-ups counted with no producer waiting");
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(report.dropped.total(), 0, "{:?}", report.dropped);
}
