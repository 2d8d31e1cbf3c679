//! loom models of ringtrace's lock-free protocols. Each explores every interleaving (up to
//! `LOOM_MAX_PREEMPTIONS` preemptions) of the real code and checks the protocol's promise:
//! records arrive intact, in order and once, a ring is owned by one party at a time, no
//! wake-up is lost, every event is counted exactly once.
//!
//! The models are functions here so that two test binaries can run them: `tests/models.rs`
//! runs each one on the correct code, `tests/weakened.rs` runs each one with a deliberate bug
//! switched on (`ringtrace::loom_api::Mutation`) and checks that it fails. They exist only
//! with the `loom` feature: `cargo test --features loom` at the repository root (see
//! `scripts/loom.sh` for the bounds used in CI). Each model drives the real protocol code
//! through `ringtrace::loom_api`, which exists only under that feature.

#![cfg(feature = "loom")]

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::Arc;
use loom::thread;
use ringtrace::loom_api::{Chain, Free, Ring, Signal, Threads};

/// Ring publish/consume across the wrap-around: 24-byte records in a 64-byte ring, so the
/// third record needs a pad record and a wrap. The consumer sees every record once, in order,
/// with its bytes intact; loom's access tracking fails the model if a read of ring bytes is
/// not ordered after their write.
pub fn ring_publish_consume_with_wraparound() {
    loom::model(|| {
        let ring = Ring::new(64);
        let mut w = ring.writer();
        let producer = thread::spawn(move || {
            for i in 0..3u32 {
                while !w.try_push(i, &[i as u8 + 1; 8]) {
                    thread::yield_now();
                }
            }
        });
        let mut seen = Vec::new();
        while seen.len() < 3 {
            ring.consume(|id, payload| {
                assert_eq!(payload, &[id as u8 + 1; 8], "record {id} corrupted");
                seen.push(id);
            });
            if seen.len() < 3 {
                thread::yield_now();
            }
        }
        producer.join().unwrap();
        assert_eq!(seen, [0, 1, 2]);
        assert!(ring.is_drained());
    });
}

/// The free list hands a ring to one owner at a time, including the ABA interleaving: one
/// thread pops (reads head and next) while the other pops both rings and pushes them back in a
/// different order.
pub fn free_list_never_hands_a_ring_to_two_owners() {
    loom::model(|| {
        let free = Arc::new(Free::new(2));
        let owned: Arc<[AtomicBool; 2]> = Arc::new([AtomicBool::new(false), AtomicBool::new(false)]);
        let take = |free: &Free, owned: &[AtomicBool; 2]| {
            let i = free.pop()?;
            assert!(!owned[i as usize].swap(true, Ordering::SeqCst), "ring {i} owned twice");
            Some(i)
        };
        let give = |free: &Free, owned: &[AtomicBool; 2], i: u32| {
            owned[i as usize].store(false, Ordering::SeqCst);
            free.push(i);
        };
        let (f2, o2) = (free.clone(), owned.clone());
        let t = thread::spawn(move || {
            if let Some(i) = take(&f2, &o2) {
                give(&f2, &o2, i);
            }
        });
        let a = take(&free, &owned);
        let b = take(&free, &owned);
        for i in [a, b].into_iter().flatten() {
            give(&free, &owned, i);
        }
        t.join().unwrap();
        assert_eq!(free.free(), 2);
        let mut all = [free.pop(), free.pop()];
        all.sort();
        assert_eq!(all, [Some(0), Some(1)]);
        assert_eq!(free.pop(), None);
    });
}

/// Taking the oldest full ring: the drain and a reclaiming producer race on the same chain
/// while the producer also pushes; every ring is taken exactly once, oldest first.
pub fn chain_take_is_decided_by_one_cas() {
    loom::model(|| {
        let chain = Arc::new(Chain::new(4));
        chain.push_full(10);
        chain.push_full(11);
        let c2 = chain.clone();
        let drain = thread::spawn(move || {
            let mut got = Vec::new();
            for _ in 0..2 {
                if let Some(r) = c2.take_oldest() {
                    got.push(r);
                }
            }
            got
        });
        let reclaimed = chain.take_oldest();
        chain.push_full(12);
        let mut got = drain.join().unwrap();
        // Ascending per taker: FIFO.
        assert!(got.windows(2).all(|w| w[0] < w[1]), "{got:?}");
        got.extend(reclaimed);
        while let Some(r) = chain.take_oldest() {
            got.push(r);
        }
        got.sort();
        assert_eq!(got, [10, 11, 12]);
    });
}

/// No lost wake-up when the drain sleeps deeply: the producer publishes and checks the state
/// (asymmetric fence pair), the drain announces ASLEEP and re-checks the ring. Under loom a
/// sleep has no timeout, so a lost wake-up is a deadlock and fails the model.
pub fn deep_sleep_handshake_loses_no_wakeup() {
    loom::model(|| {
        let ring = Ring::new(64);
        let mut w = ring.writer();
        let signal = Arc::new(Signal::default());
        let (r2, s2) = (ring.clone(), signal.clone());
        let drain = thread::spawn(move || {
            s2.register_drain();
            let mut seen = 0;
            loop {
                seen += r2.consume(|_, _| {});
                if seen == 1 {
                    return;
                }
                s2.prepare(true);
                if !r2.is_drained() {
                    s2.cancel();
                    continue;
                }
                s2.sleep();
            }
        });
        assert!(w.try_push(1, b"x"));
        signal.after_publish();
        drain.join().unwrap();
    });
}

/// No lost wake-up when the drain naps: a full ring handed to the chain and `notify` (the
/// cold paths that wake a napping drain: PRESSURE, a thread exit, a `Block` wait; a plain
/// swap does not notify since issue 18, the nap's timeout finds its ring).
pub fn nap_handshake_wakes_on_swap() {
    loom::model(|| {
        let chain = Arc::new(Chain::new(2));
        let signal = Arc::new(Signal::default());
        let (c2, s2) = (chain.clone(), signal.clone());
        let drain = thread::spawn(move || {
            s2.register_drain();
            loop {
                if c2.take_oldest() == Some(5) {
                    return;
                }
                s2.prepare(false);
                if !c2.is_empty() {
                    s2.cancel();
                    continue;
                }
                s2.sleep();
            }
        });
        chain.push_full(5);
        signal.notify();
        drain.join().unwrap();
    });
}

/// The drain reads a thread's active ring while the producer swaps it out and, under
/// `DropOldest`, reclaims it from the chain and writes into it again. Every record is either
/// delivered by the drain or counted by the reclaim, exactly once; and the producer never
/// writes into the ring while the drain is copying it (loom's access tracking would flag the
/// race).
pub fn active_read_vs_drop_oldest_reclaim() {
    loom::model(|| {
        const A: u32 = 0;
        const C: u32 = 1;
        let a = Ring::new(64);
        let thread = Arc::new(Chain::new(2));
        let mut wa = a.writer();
        assert!(wa.try_push(1, b"one"));
        assert!(wa.try_push(2, b"two"));
        drop(wa);
        thread.set_active(A);

        let (a2, t2) = (a.clone(), thread.clone());
        let drain = thread::spawn(move || {
            let mut delivered = 0;
            while let Some(r) = t2.take_oldest() {
                assert_eq!(r, A);
                delivered += a2.consume(|_, _| {});
            }
            t2.read_active(A, || delivered += a2.consume(|_, _| {}));
            delivered
        });

        // Producer: swap A out (C becomes active), then reclaim the oldest ring.
        thread.push_full(A);
        thread.set_active(C);
        let mut reclaimed = 0;
        if thread.take_oldest() == Some(A) {
            thread.wait_unread(A);
            reclaimed = a.consume(|_, _| {});
            a.reset();
            let mut w = a.writer();
            assert!(w.try_push(9, b"new data"));
        }
        let delivered = drain.join().unwrap();
        assert_eq!(delivered + reclaimed, 2, "delivered {delivered}, reclaimed {reclaimed}");
    });
}

/// The producer (RECOVERY→PRESSURE) and the drain (RECOVERY→NORMAL) race on a thread's
/// state: exactly one transition happens, counted once, and the state is the winner's.
pub fn state_transition_race_has_one_winner() {
    use ringtrace::ThreadState::*;
    loom::model(|| {
        let t = Arc::new(Chain::new(1));
        t.transition(Normal, Pressure).unwrap();
        t.transition(Pressure, Recovery).unwrap();
        let t2 = t.clone();
        let producer = thread::spawn(move || t2.transition(Recovery, Pressure).is_ok());
        let drain = t.transition(Recovery, Normal).is_ok();
        let producer = producer.join().unwrap();
        assert!(producer ^ drain, "exactly one winner");
        assert_eq!(t.state(), if producer { Pressure } else { Normal });
        assert_eq!(t.transitions(), 3);
    });
}

/// Threads register while the drain recycles exited slots and traverses the list: every
/// traversal sees initialised slots, a recycled slot is reused rather than leaked, and no two
/// live threads share a slot.
pub fn registry_claim_and_recycle_vs_traversal() {
    loom::model(|| {
        let reg = Arc::new(Threads::default());
        let first = reg.claim();
        reg.exit(first);
        let r2 = reg.clone();
        let newcomer = thread::spawn(move || r2.claim());
        let recycled = reg.recycle();
        let live = reg.live();
        let id = newcomer.join().unwrap();
        assert!(live.iter().all(|&t| t == first || t == id), "{live:?}");
        assert_ne!(id, first);
        let live = reg.live();
        assert_eq!(live, vec![id], "only the newcomer is live");
        // Either the newcomer reused the recycled slot or it was registered before the
        // recycle and got a new one: never more slots than threads that ever lived.
        assert!(reg.slots() <= 2);
        assert!(recycled <= 1);
    });
}

/// A flight-recorder snapshot: `Drain::peek_thread`'s loop (`Chain::peek_rings`, the real
/// `ThreadEntry::peek_rings`) copying each ring with `peek` (records stay in the ring). Checks
/// every record on the way: its payload is the one the producer wrote for its id.
fn snapshot(t: &Chain, rings: &[std::sync::Arc<Ring>; 2]) -> Vec<u32> {
    /// `ACTIVE_RETRIES` in drain.rs is 4; 2 under loom, because every pass multiplies the
    /// interleavings (4: 1–2 min, 2: about 25 s). Two passes already reach every ring copy
    /// the model can make (A before and after its reuse, B from the chain and as active); a
    /// schedule that would need a third ends without it, as the drain does out of retries.
    const ACTIVE_RETRIES: u32 = 2;
    let mut out = Vec::new();
    t.peek_rings(ACTIVE_RETRIES, |ring| {
        rings[ring as usize].peek(|id, payload| {
            assert_eq!(payload, &[id as u8; 8], "record {id} torn or reset under the reader");
            out.push(id);
        });
    });
    out
}

/// A snapshot races with a producer that swaps rings and, under `DropOldest`, reclaims the
/// ring the snapshot may be copying (take_oldest, wait_unread, consume, reset, make it active
/// again and write into it). The snapshot only ever sees complete committed records the
/// producer wrote, each once and oldest first (ids strictly increasing), never one being reset
/// or rewritten under it: loom's access tracking fails the model if a copy of ring bytes is
/// not ordered before the producer's reuse of them. Once the producer is done, a snapshot sees
/// exactly what is left (record 1 was overwritten). Kept small for loom: A holds record 1 and
/// B record 2 before the race (B as if written right after the swap); record 3 is written
/// into the reclaimed A during it.
///
/// It found two bugs (fixed in cb5e74c): the snapshot's announcements were Relaxed stores, so
/// a producer whose `wait_unread` saw the announcement of the *next* ring was not ordered after
/// the copy of the previous one (which `peek`, unlike `consume`, does not publish with a store
/// of `head`) and reset it under the copy (loom: causality violation); and between a swap's
/// `push_full` and its store of `active` the old ring was copied from the chain and again as
/// the still-active ring (loom: `[1, 1]`).
pub fn snapshot_peek_vs_swap_and_drop_oldest_reclaim() {
    loom::model(|| {
        const A: u32 = 0;
        const B: u32 = 1;
        let rings = [Ring::new(64), Ring::new(64)];
        assert!(rings[A as usize].writer().try_push(1, &[1; 8]));
        assert!(rings[B as usize].writer().try_push(2, &[2; 8]));
        let t = Arc::new(Chain::new(2));
        t.set_active(A);

        let (t2, a) = (t.clone(), rings[A as usize].clone());
        let producer = thread::spawn(move || {
            // Swap (as `install_ring`): A full → chain, B active.
            t2.push_full(A);
            t2.set_active(B);
            // DropOldest (as `reclaim_oldest`): win A back, wait out a reader, reuse it.
            assert_eq!(t2.take_oldest(), Some(A), "the snapshot never takes a ring");
            t2.wait_unread(A);
            assert_eq!(a.consume(|_, _| {}), 1);
            a.reset();
            t2.push_full(B);
            t2.set_active(A);
            assert!(a.writer().try_push(3, &[3; 8]));
        });

        let seen = snapshot(&t, &rings);
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "out of order or twice: {seen:?}");
        assert!(seen.iter().all(|id| (1..=3).contains(id)), "not written: {seen:?}");
        producer.join().unwrap();
        assert_eq!(snapshot(&t, &rings), [2, 3]);
    });
}

// ---------------------------------------------------------------------------------------------
// Models of the real compositions: `Producer` (recording, swaps, DropOldest reclaim, Block,
// retire), `Drain` (passes, the run loop, shutdown's final passes) and `Shared` (the close
// handshake, stop and snapshot requests), through `loom_api::Model`.
// ---------------------------------------------------------------------------------------------

use ringtrace::loom_api::{Model, ModelConfig};
use ringtrace::Policy;

/// A payload that makes a record fill a model ring (16-byte header + 40 = 56 of 64 bytes).
const BIG: usize = 40;

/// Checks what a model's sink received against what the runtime counted: no event twice, each
/// thread's events in recording order (ascending ids), and every event recorded by the
/// producers (`attempted`) delivered or dropped exactly once, with nothing left undelivered.
fn assert_exact(m: &Model, attempted: u64) {
    let seen = m.delivered();
    let mut ids: Vec<u32> = seen.iter().map(|&(_, id)| id).collect();
    for t in seen.iter().map(|&(t, _)| t) {
        let mine: Vec<u32> = seen.iter().filter(|s| s.0 == t).map(|s| s.1).collect();
        assert!(mine.windows(2).all(|w| w[0] < w[1]), "thread {t}: out of order or twice: {mine:?}");
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), seen.len(), "an event delivered twice: {seen:?}");
    let t = m.totals();
    assert_eq!(t.recorded, seen.len() as u64, "recorded vs delivered: {t:?}, {seen:?}");
    assert_eq!(t.recorded + t.dropped, attempted, "every event once: {t:?}, delivered {seen:?}");
    assert_eq!(t.undelivered, 0, "{t:?}");
}

/// Issue 14, finding 1, on the real compositions: two successive `Drain::pass`es read a
/// thread's active ring while the real `Producer` (`DropOldest`) swaps that ring out, runs out
/// of rings and reclaims it. The second pass announces the *next* active ring; a producer that sees that
/// announcement instead of the first one's withdrawal must still be ordered after the first
/// read, or it consumes the reclaimed ring from a stale `head` and counts records the drain
/// already delivered as overwritten (and rewrites the ring unordered with the drain's copy).
/// That interleaving needs three preemptions, past this model's bound (`model_bounded`); the
/// primitive model `successive_active_reads_vs_take_oldest_and_wait_unread` catches the
/// Relaxed announcement at 3. At its bound of 2 this model catches a Relaxed ring publish
/// (`Mutation::RingPublish`).
pub fn successive_passes_vs_drop_oldest_reclaim() {
    model_bounded(2, || {
        let m = Model::new(ModelConfig { rings: 2, quota: 2, policy: Policy::DropOldest, ..ModelConfig::default() });
        let mut p = m.producer();
        // Ring A is active and full: one 56-byte record fills a 64-byte ring.
        assert!(p.record(1, &[1; BIG]));
        let mut d = m.drain();
        let drain = thread::spawn(move || {
            d.pass();
            d.pass();
            d
        });
        // 2 swaps A out (C active) and fills C, 3 finds no ring and reclaims the oldest, A.
        for id in 2..=3u32 {
            assert!(p.record(id, &[id as u8; BIG]));
        }
        let d = drain.join().unwrap();
        p.exit();
        m.shutdown();
        d.run();
        assert_exact(&m, 3);
    });
}

/// Runs `f` as a loom model with at most `bound` preemptions (or `LOOM_MAX_PREEMPTIONS`, if
/// lower). The models of the real compositions take ~100 atomic steps in their racing part,
/// and the schedules to explore grow as (steps)^(preemptions): at 2 they take a minute or two,
/// at 3 an hour. Their protocols are also modelled at 3 on the primitives.
fn model_bounded(bound: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(b.preemption_bound.map_or(bound, |env| env.min(bound)));
    b.check(f);
}

/// Issue 14, finding 1, on the primitives (the real `ThreadEntry` and ring code): the drain
/// reads a thread's active ring A, then — the next pass — the new active ring C, while the
/// producer swaps A out, wins it back from the chain (`take_oldest`, as `DropOldest` does) and
/// waits out any reader (`wait_unread`) before consuming and rewriting it. If the second
/// announcement were Relaxed, a producer that loads it (C, not A) would not be ordered after
/// the first read: it would consume A from a stale `head` — counting delivered records again
/// (`delivered 2, reclaimed 2`) — and rewrite A unordered with the drain's copy. Fails with
/// `Mutation::AnnounceRelease`.
pub fn successive_active_reads_vs_take_oldest_and_wait_unread() {
    loom::model(|| {
        const A: u32 = 0;
        const C: u32 = 1;
        let (a, c) = (Ring::new(64), Ring::new(64));
        let t = Arc::new(Chain::new(2));
        let mut wa = a.writer();
        assert!(wa.try_push(1, b"one"));
        assert!(wa.try_push(2, b"two"));
        drop(wa);
        t.set_active(A);
        let (a2, c2, t2) = (a.clone(), c.clone(), t.clone());
        let drain = thread::spawn(move || {
            let mut delivered = 0;
            // This pass: A is the active ring.
            t2.read_active(A, || delivered += a2.consume(|_, _| {}));
            // The next pass: the active ring is C now (if the swap is seen).
            t2.read_active(C, || {
                c2.consume(|_, _| {});
            });
            delivered
        });
        // Swap: A full → chain, C active. Then DropOldest: win A back, wait, reuse it.
        t.push_full(A);
        t.set_active(C);
        let mut reclaimed = 0;
        if t.take_oldest() == Some(A) {
            t.wait_unread(A);
            reclaimed = a.consume(|_, _| {});
            a.reset();
            assert!(a.writer().try_push(9, b"new data"));
        }
        let mut delivered = drain.join().unwrap();
        // Whatever the drain did not take is still in A's chain slot or was reclaimed.
        while let Some(r) = t.take_oldest() {
            assert_eq!(r, A);
            delivered += a.consume(|_, _| {});
        }
        assert_eq!(delivered + reclaimed, 2, "delivered {delivered}, reclaimed {reclaimed}");
    });
}

/// A drain that unwinds in the middle of an active-ring read (a bug in the drain, caught by
/// the drain thread's `catch_unwind`) withdraws its announcement as it unwinds (the
/// `RingRead` guard), so a producer reclaiming that ring under `DropOldest` does not wait
/// forever. Fails (the producer spins without end) with `Mutation::NoWithdrawOnUnwind`.
pub fn drain_unwinding_mid_read_does_not_hold_a_producer() {
    loom::model(|| {
        const A: u32 = 0;
        let a = Ring::new(64);
        let t = Arc::new(Chain::new(2));
        assert!(a.writer().try_push(1, b"one"));
        t.set_active(A);
        let t2 = t.clone();
        let drain = thread::spawn(move || {
            let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                t2.read_active(A, || panic!("a bug in the drain, mid-read"));
            }));
            // Either it read (and unwound) or the ring was no longer active.
            let _ = unwound;
        });
        t.push_full(A);
        t.set_active(1);
        if t.take_oldest() == Some(A) {
            t.wait_unread(A);
        }
        drain.join().unwrap();
    });
}

/// The free list with three rings and three threads, each taking and returning a ring:
/// a ring is owned by one thread at a time, and what its last owner wrote into it (a plain,
/// non-atomic cell, as the ring's bytes and reset positions are) is visible to the next one.
/// Fails with `Mutation::FreeListPopRelaxed` (loom: causality violation).
pub fn free_list_three_rings_three_threads() {
    use loom::cell::UnsafeCell;
    loom::model(|| {
        let free = Arc::new(Free::new(3));
        let cells: Arc<[UnsafeCell<u32>; 3]> = Arc::new([UnsafeCell::new(0), UnsafeCell::new(0), UnsafeCell::new(0)]);
        let worker = |me: u32, rounds: u32, free: Arc<Free>, cells: Arc<[UnsafeCell<u32>; 3]>| {
            for _ in 0..rounds {
                if let Some(i) = free.pop() {
                    // SAFETY: the ring is ours until pushed (the claim under test: loom reports
                    // an access not ordered after the previous owner's as a causality error).
                    cells[i as usize].with_mut(|c| unsafe { *c = me });
                    // SAFETY: as above.
                    let seen = cells[i as usize].with(|c| unsafe { *c });
                    assert_eq!(seen, me, "ring {i} written by another owner");
                    free.push(i);
                }
            }
        };
        let hs: Vec<_> = (1..3u32)
            .map(|me| {
                let (f, c) = (free.clone(), cells.clone());
                thread::spawn(move || worker(me, 1, f, c))
            })
            .collect();
        worker(3, 1, free.clone(), cells.clone());
        for h in hs {
            h.join().unwrap();
        }
        let mut all = [free.pop(), free.pop(), free.pop()];
        all.sort();
        assert_eq!(all, [Some(0), Some(1), Some(2)]);
        assert_eq!(free.pop(), None);
    });
}

/// Issue 14, finding 5: the drain reads a thread's word (RECOVERY since t1) and decides
/// RECOVERY→NORMAL; meanwhile the producer goes RECOVERY→PRESSURE→RECOVERY (since t2). The
/// drain's decision was made on t1 and must not be applied to the word of t2: the outcome is
/// never all three transitions. Fails with `Mutation::StaleStateRetry`.
pub fn a_state_decision_on_a_stale_word_is_not_applied() {
    use ringtrace::ThreadState::*;
    loom::model(|| {
        let t = Arc::new(Chain::new(1));
        t.transition(Normal, Pressure).unwrap();
        t.transition(Pressure, Recovery).unwrap();
        let t1 = t.since();
        let t2 = t.clone();
        let producer = thread::spawn(move || {
            let first = t2.transition(Recovery, Pressure).is_ok();
            let second = first && t2.transition(Pressure, Recovery).is_ok();
            (first, second)
        });
        // "In RECOVERY since t1 for long enough": only that reading allows NORMAL.
        let drain = t.transition_if_since(Recovery, t1, Normal);
        let (first, second) = producer.join().unwrap();
        assert!(!(drain && first && second), "the drain applied a decision made on the old word");
    });
}

/// Issue 14, finding 4 / issue 15, item 2: shutdown (the real `Shared::close` and
/// `stop_drain`) races a producer's record (the real `Producer`) while the drain runs its real
/// loop (`Drain::run`: it finds nothing and sleeps deeply). The drain is always woken — by the
/// record or by the shutdown — and ends; the record is either made before the close, and then
/// delivered by the final passes, or sees the runtime closed and is unrecorded: never lost.
/// Fails with `Mutation::NoCloseWait` (the record lands after the final passes).
pub fn shutdown_vs_a_record_and_a_sleeping_drain() {
    model_bounded(2, || {
        let m = Model::new(ModelConfig::default());
        let mut p = m.producer();
        let d = m.drain();
        let drain = thread::spawn(move || d.run());
        let producer = thread::spawn(move || p.record(1, b"x"));
        m.shutdown();
        let recorded_in = producer.join().unwrap();
        drain.join().unwrap();
        assert_exact(&m, u64::from(recorded_in));
    });
}

/// A flush request (`request_snapshot(None)`'s queue, flag and wake) reaches a drain that is
/// falling asleep: it is served, then the runtime shuts down. A missed request is a deadlock
/// (the drain sleeps, the asker waits). Fails with `Mutation::NoSnapshotCheck` (the drain's
/// re-check before it sleeps ignores the request's flag). (The request's fence has no mutation:
/// the drain's sleep announcement is a read-modify-write of the word the request's wake swaps,
/// so the fence is a second guarantee, and removing it is not a bug a model can show.)
pub fn flush_request_reaches_a_sleeping_drain() {
    model_bounded(2, || {
        let m = Model::new(ModelConfig::default());
        let d = m.drain();
        let drain = thread::spawn(move || d.run());
        let reply = m.request_flush();
        loop {
            match reply.try_recv() {
                Ok(r) => {
                    r.expect("a flush succeeds");
                    break;
                }
                Err(_) => thread::yield_now(),
            }
        }
        m.shutdown();
        drain.join().unwrap();
    });
}

/// A thread that exits (the real `Producer::retire`: its ring to the chain, EXITED) races the
/// drain's passes (which drain the slot, fold its counters and recycle it:
/// `retire_slot`/`reset_for_reuse`) and a new thread registering (`Registry::claim`, maybe
/// into the recycled slot) and recording. Both events are delivered exactly once and counted
/// once. Fails with `Mutation::ExitRelaxed`.
pub fn thread_exit_vs_slot_recycling_and_a_new_thread() {
    model_bounded(2, || {
        let m = Arc::new(Model::new(ModelConfig { rings: 3, quota: 1, ..ModelConfig::default() }));
        let mut first = m.producer();
        assert!(first.record(1, b"a"));
        let mut d = m.drain();
        let exiting = thread::spawn(move || first.exit());
        let m2 = m.clone();
        let newcomer = thread::spawn(move || {
            let mut p = m2.producer();
            assert!(p.record(2, b"b"));
            p
        });
        d.pass();
        d.pass();
        exiting.join().unwrap();
        let p = newcomer.join().unwrap();
        p.exit();
        m.shutdown();
        d.run();
        assert_exact(&m, 2);
    });
}

/// A producer under `Block` (the real `Producer::block`) finds no room and parks; the drain's
/// pass (the real `Drain::pass`) releases the ring's space and wakes it (`Waiters`); its record
/// then fits. Under loom a park has no timeout, so a lost wake-up is a deadlock. Fails with
/// `Mutation::NoWaiterAnnounce`.
pub fn blocked_producer_is_woken_when_the_drain_frees_space() {
    model_bounded(2, || {
        let m = Model::new(ModelConfig {
            rings: 1,
            quota: 1,
            policy: Policy::Block { timeout: std::time::Duration::from_secs(3600) },
            ..ModelConfig::default()
        });
        let mut p = m.producer();
        assert!(p.record(1, &[1; BIG]));
        let mut d = m.drain();
        let producer = thread::spawn(move || {
            assert!(p.record(2, &[2; BIG]));
            p
        });
        while d.pass() == 0 {
            thread::yield_now();
        }
        let p = producer.join().unwrap();
        p.exit();
        m.shutdown();
        d.run();
        assert_exact(&m, 2);
        assert_eq!(m.totals().dropped, 0, "the blocked record waited and fit");
    });
}

/// Issue 14, finding 6: a producer under `Block` waits for a ring from the pool (its own ring
/// is drained, but the next record does not fit before the ring's end), and the ring that
/// comes back is another thread's — empty, handed over at its exit — so the pass that frees
/// it reads no record. The drain still wakes the waiter. Under loom a park has no timeout, so
/// a missed wake-up leaves the waiter parked while the drain spins: loom gives up. Fails with
/// `Mutation::WakeOnlyOnRecords`.
pub fn blocked_producer_is_woken_by_a_ring_freed_without_records() {
    model_bounded(2, || {
        let m = Model::new(ModelConfig {
            rings: 2,
            quota: 2,
            policy: Policy::Block { timeout: std::time::Duration::from_secs(3600) },
            ..ModelConfig::default()
        });
        let mut exiting = m.producer();
        assert!(exiting.record(1, b"x"));
        let mut waiter = m.producer();
        // A 40-byte record: the next 56-byte one cannot fit before the end of the ring.
        assert!(waiter.record(2, &[2; 24]));
        let mut d = m.drain();
        d.pass();
        assert_eq!(m.delivered().len(), 2, "both rings read and emptied");
        let done = Arc::new(AtomicBool::new(false));
        let done2 = done.clone();
        let blocked = thread::spawn(move || {
            assert!(waiter.record(3, &[3; BIG]), "waits for the exiting thread's ring");
            done2.store(true, Ordering::SeqCst);
            waiter
        });
        exiting.exit();
        while !done.load(Ordering::SeqCst) {
            d.pass();
            thread::yield_now();
        }
        let waiter = blocked.join().unwrap();
        waiter.exit();
        m.shutdown();
        d.run();
        assert_exact(&m, 3);
    });
}
