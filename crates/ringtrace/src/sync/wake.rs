//! The drain's sleep/wake handshake (R-CORE-5).
//!
//! Waking a parked thread costs the waker 7–16 µs here (a futex wake in a nested VM), a
//! relaxed load costs 1 ns. So producers never wake the drain on the ordinary path; the drain
//! says how deeply it sleeps in one word, `state`, and producers read it:
//!
//! | state | drain is… | producers wake it… |
//! |---|---|---|
//! | `AWAKE` | working or polling for a grace period after work | never |
//! | `NAPPING` | parked for at most 0.5 ms (`NAP_LIMIT`, or `flush_interval` if shorter: work was seen recently) | on entering PRESSURE, on thread exit, from a `Block` wait — not on a ring swap: the nap's end finds a swapped ring |
//! | `ASLEEP` | parked until woken (nothing recorded for a while) | on the first record after it fell asleep |
//!
//! Under steady load the drain is `AWAKE` or `NAPPING`, so the hot path pays one relaxed load
//! and nothing else, a ring swap included; after an idle spell (the drain `ASLEEP`) the first
//! record pays for one wake-up.
//!
//! # No lost wake-ups: two Dekker pairs
//!
//! *ASLEEP.* Producer: store ring `tail` (Release), [`asymmetric_light`] (a compiler barrier),
//! load `state`. Drain: store `state = ASLEEP`, [`asymmetric_heavy`] (`membarrier`), load every
//! ring's `tail`. Together the barriers order like two SeqCst fences, so either the producer
//! sees `ASLEEP` and wakes the drain, or the drain sees the new tail and does not sleep. If the
//! kernel has no `membarrier` (not Linux, or refused by a seccomp policy), a record that races
//! with the announcement can go unnoticed until the deep sleep's timeout (1 s): records are
//! never lost, but in that race they are flushed late.
//!
//! *NAPPING.* Producer (cold path: a state change, a thread exit): change state / push the
//! ring, `fence(SeqCst)`, load `state`. Drain: store `state = NAPPING`, `fence(SeqCst)`, check
//! the chains and states. (A ring swap does not take part: a nap is at most 0.5 ms, and its end
//! finds the swapped ring.)
//!
//! Waking is a `swap(AWAKE)`: only the producer that changes the state from non-AWAKE unparks,
//! so a burst of records after an idle spell costs one unpark, not one per thread. An unpark
//! that arrives after the drain woke by itself leaves a token that makes the next park return
//! at once: one spare loop iteration, never a missed record.
//!
//! [`asymmetric_light`]: crate::sync::asymmetric_light
//! [`asymmetric_heavy`]: crate::sync::asymmetric_heavy

use crate::sync::{asymmetric_heavy, asymmetric_light, fence, thread, AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

pub(crate) const AWAKE: u32 = 0;
pub(crate) const NAPPING: u32 = 1;
pub(crate) const ASLEEP: u32 = 2;

/// See the module doc.
#[derive(Debug)]
pub(crate) struct DrainSignal {
    /// `AWAKE`, `NAPPING` or `ASLEEP`. Written by the drain (before sleeping, after waking)
    /// and by waking producers (`swap`); read by every record. On a cache line of its own,
    /// apart from `wakes` (written on each wake-up).
    state: crate::sync::CachePadded<AtomicU32>,
    /// The drain thread, set once when it starts.
    thread: OnceLock<thread::Thread>,
    /// Unparks issued by producers (metrics).
    wakes: AtomicU64,
}

impl DrainSignal {
    pub(crate) fn new() -> Self {
        Self {
            state: crate::sync::CachePadded::new(AtomicU32::new(AWAKE)),
            thread: OnceLock::new(),
            wakes: AtomicU64::new(0),
        }
    }

    /// Records which thread to unpark. Called by the drain thread when it starts.
    pub(crate) fn set_thread(&self, t: thread::Thread) {
        let _ = self.thread.set(t);
    }

    /// Hot path, after publishing a record: wake the drain only if it is fully asleep.
    #[inline(always)]
    pub(crate) fn after_publish(&self) {
        asymmetric_light();
        // Relaxed: the ordering comes from the asymmetric fence pair (module doc).
        if self.state.load(Ordering::Relaxed) == ASLEEP {
            self.wake();
        }
    }

    /// Cold path (PRESSURE, thread exit, a `Block` wait): wake the drain unless it is working.
    #[cold]
    pub(crate) fn notify(&self) {
        // SeqCst fence: the NAPPING Dekker pair (module doc). The caller's preceding stores
        // (chain push, state change) are ordered before the load of `state`.
        if !crate::sync::weaken::active(crate::sync::Mutation::NoNotifyFence) {
            fence(Ordering::SeqCst);
        }
        if self.state.load(Ordering::Relaxed) != AWAKE {
            self.wake();
        }
    }

    /// A producer's wake-up (counted in [`wakes`](Self::wakes)): unparks the drain if this
    /// call is the one that moves it out of a sleeping state.
    #[cold]
    #[inline(never)]
    pub(crate) fn wake(&self) {
        if self.rouse() {
            self.wakes.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Wakes the drain for another thread's request (a snapshot, a flush) or for shutdown:
    /// the same as [`wake`](Self::wake), not counted as a producer wake-up.
    pub(crate) fn wake_now(&self) {
        self.rouse();
    }

    /// Unparks the drain if this call is the one that moves it out of a sleeping state, and
    /// says whether it was.
    fn rouse(&self) -> bool {
        // AcqRel: the swap orders with the drain's own state stores; only the winner unparks.
        let woke = self.state.swap(AWAKE, Ordering::AcqRel) != AWAKE;
        if woke {
            if let Some(t) = self.thread.get() {
                t.unpark();
            }
        }
        woke
    }

    /// Drain: announce a sleep. Where the asymmetric fence is unavailable (no `membarrier`) a
    /// deep sleep is still announced: producers still wake the drain on their next record, but
    /// one racing with the announcement may be missed, so the sleep is only as prompt as its
    /// timeout (the idle budget holds). After this the caller must re-check for work and call
    /// [`DrainSignal::cancel`] if it finds any.
    pub(crate) fn prepare(&self, deep: bool) {
        // Relaxed: ordered by the fence that follows (module doc). A swap rather than a store
        // (here and in `cancel` and `sleep`, all on the drain's cold path): as a
        // read-modify-write it is ordered after every earlier wake-up's swap in the word's
        // modification order, which the language guarantees for a store too, but loom's model
        // leaves open for a store by a thread that never read the word — it then let a later
        // wake-up read a stale AWAKE and reported a lost wake-up that cannot happen.
        self.state.swap(if deep { ASLEEP } else { NAPPING }, Ordering::Relaxed);
        if deep && asymmetric_heavy() {
            return;
        }
        fence(Ordering::SeqCst);
    }

    /// Drain: work was found after `prepare`; stay awake.
    pub(crate) fn cancel(&self) {
        // Relaxed: nothing is published by staying awake. A swap: see `prepare`.
        self.state.swap(AWAKE, Ordering::Relaxed);
    }

    /// Drain: parks for at most `timeout` (until unparked), then marks itself awake.
    pub(crate) fn sleep(&self, timeout: Duration) {
        crate::sync::park_timeout(timeout);
        // Relaxed: the drain re-reads every ring with Acquire loads after this. A swap: see
        // `prepare`.
        self.state.swap(AWAKE, Ordering::Relaxed);
    }

    /// The current state (for tests).
    #[cfg(all(test, not(feature = "loom")))]
    pub(crate) fn state(&self) -> u32 {
        self.state.load(Ordering::Relaxed)
    }

    /// Unparks issued by producers so far.
    pub(crate) fn wakes(&self) -> u64 {
        self.wakes.load(Ordering::Relaxed)
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    #[test]
    fn producers_wake_an_asleep_drain_exactly_once() {
        let s = Arc::new(DrainSignal::new());
        s.set_thread(std::thread::current());
        s.prepare(true);
        assert_eq!(s.state(), ASLEEP);
        s.after_publish();
        s.after_publish();
        let expected = if s.state() == AWAKE { 1 } else { 0 };
        assert_eq!(s.wakes(), expected);
        assert_eq!(s.state(), AWAKE);
    }

    #[test]
    fn napping_drain_ignores_records_but_not_swaps() {
        let s = DrainSignal::new();
        s.set_thread(std::thread::current());
        s.prepare(false);
        s.after_publish();
        assert_eq!(s.wakes(), 0, "ordinary records never wake a napping drain");
        s.notify();
        assert_eq!(s.wakes(), 1);
        assert_eq!(s.state(), AWAKE);
    }

    #[test]
    fn a_woken_sleeper_returns() {
        let s = Arc::new(DrainSignal::new());
        let done = Arc::new(AtomicBool::new(false));
        let (s2, d2) = (s.clone(), done.clone());
        let t = std::thread::spawn(move || {
            s2.set_thread(std::thread::current());
            s2.prepare(false);
            // Long timeout: only the unpark below ends this promptly (the assertion is on
            // the flag, not on the clock).
            s2.sleep(Duration::from_secs(3600));
            d2.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        while s.thread.get().is_none() || s.state() == AWAKE {
            std::thread::yield_now();
        }
        s.notify();
        t.join().unwrap();
        assert!(done.load(std::sync::atomic::Ordering::SeqCst));
    }
}
