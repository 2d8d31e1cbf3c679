//! Backpressure: the per-thread state machine (NORMAL → PRESSURE → DROPPING → RECOVERY, R-BP-1,
//! R-BP-2), how drops are counted ([`drops`]), and the parking lot `Policy::Block` waits in.
//! Moved by the recording threads (their cold paths) and by the drain (recovery checks).
//!
//! ```text
//!            pool free < pressure           no ring / quota hit
//!  NORMAL ───────────────────────▶ PRESSURE ───────────────────▶ DROPPING
//!    ▲                               │  ▲                           │
//!    │ stability_period in RECOVERY  │  │ free < pressure            │ free > recovery
//!    │ without new pressure          ▼  │                           ▼ (and quota room)
//!    └──────────────────────────── RECOVERY ◀──────────────────────┘
//!                                    │  no ring / quota hit → DROPPING
//! ```
//!
//! Valid transitions: NORMAL→PRESSURE, PRESSURE→DROPPING, PRESSURE→RECOVERY,
//! DROPPING→RECOVERY, RECOVERY→NORMAL, RECOVERY→PRESSURE, RECOVERY→DROPPING. A thread that
//! hits its quota while NORMAL goes NORMAL→PRESSURE→DROPPING (two counted transitions).
//!
//! # Who moves a thread
//!
//! - Its **producer**, on the cold path: entering PRESSURE when it takes a ring and leaves
//!   fewer than `pressure_watermark` of the pool free (from NORMAL or RECOVERY), entering
//!   DROPPING when it finds no room (from PRESSURE or RECOVERY, via PRESSURE from NORMAL).
//! - The **drain**, after every pass: PRESSURE or DROPPING → RECOVERY once more than
//!   `recovery_watermark` of the pool is free (and, for DROPPING, the thread is below its
//!   quota), RECOVERY → NORMAL after `stability_period` in RECOVERY.
//!
//! # One word, one CAS
//!
//! The state and the tick at which it was entered share one `AtomicU64`
//! (`since << 2 | state`), read as a [`StateWord`]. A transition is a single
//! `compare_exchange` from the exact word the caller read and based its decision on: it
//! succeeds only if nobody moved the thread in between, so two parties racing on the same
//! transition (the producer's RECOVERY→PRESSURE against the drain's RECOVERY→NORMAL, say)
//! produce exactly one winner and never a torn state. The winner adds the time spent in the
//! old state and counts the transition (Relaxed counters).
//!
//! A failed CAS is never retried inside [`StateCell::transition`]: the same state can come
//! back with another `since` (RECOVERY@t1 → PRESSURE → RECOVERY@t2), and a decision made on
//! the old word ("`stability_period` has passed since t1") does not hold for the new one.
//! The caller reads the word again and decides again.
//!
//! Ordering: the CAS is AcqRel. Nothing else is published through the state word — it is a
//! health label; the data the drain reads is ordered by the ring protocols — so Relaxed would
//! do; AcqRel keeps a transition and the counters of the party that made it in one order for
//! readers of `metrics()`.

pub(crate) mod drops;

use crate::sync::{fence, thread, AtomicU64, AtomicUsize, Mutex, Ordering};
use drops::Counters;
use std::fmt;

/// A thread's backpressure state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum ThreadState {
    /// Records fit; the pool has room.
    Normal = 0,
    /// The pool is running low (fewer than `pressure_watermark` of the rings free).
    Pressure = 1,
    /// The thread is losing events (no ring, or its quota is used up).
    Dropping = 2,
    /// The pool has recovered; the thread returns to NORMAL after `stability_period`.
    Recovery = 3,
}

impl ThreadState {
    /// Every state.
    pub const ALL: [ThreadState; 4] =
        [ThreadState::Normal, ThreadState::Pressure, ThreadState::Dropping, ThreadState::Recovery];

    /// The upper-case name (`"PRESSURE"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            ThreadState::Normal => "NORMAL",
            ThreadState::Pressure => "PRESSURE",
            ThreadState::Dropping => "DROPPING",
            ThreadState::Recovery => "RECOVERY",
        }
    }

    const fn from_bits(b: u64) -> ThreadState {
        match b & 3 {
            0 => ThreadState::Normal,
            1 => ThreadState::Pressure,
            2 => ThreadState::Dropping,
            _ => ThreadState::Recovery,
        }
    }

    /// Whether `self → to` is one of the valid transitions (module doc).
    pub const fn can_go_to(self, to: ThreadState) -> bool {
        use ThreadState::*;
        matches!(
            (self, to),
            (Normal, Pressure)
                | (Pressure, Dropping)
                | (Pressure, Recovery)
                | (Dropping, Recovery)
                | (Recovery, Normal)
                | (Recovery, Pressure)
                | (Recovery, Dropping)
        )
    }

    /// Index of the transition `self → to` in per-pair counters.
    pub(crate) const fn pair(self, to: ThreadState) -> usize {
        self as usize * 4 + to as usize
    }
}

impl fmt::Display for ThreadState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Why a transition did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransitionError {
    /// `from → to` is not a valid transition.
    Invalid {
        /// The state the caller asked to leave.
        from: ThreadState,
        /// The state the caller asked to enter.
        to: ThreadState,
    },
    /// The thread was no longer in the state the caller read (someone else moved it first).
    Lost {
        /// The state found instead.
        current: ThreadState,
    },
}

impl fmt::Display for TransitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransitionError::Invalid { from, to } => write!(f, "invalid transition {from}->{to}"),
            TransitionError::Lost { current } => write!(f, "lost the race: the thread is already {current}"),
        }
    }
}

impl std::error::Error for TransitionError {}

/// A thread's state as read from its [`StateCell`]: the state, the tick it was entered at,
/// and the exact word, which a [`StateCell::transition`] based on this reading must still find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StateWord {
    /// The state.
    pub(crate) state: ThreadState,
    /// The tick at which it was entered.
    pub(crate) since: u64,
    /// `since << 2 | state`, as loaded.
    raw: u64,
}

impl StateWord {
    fn from_raw(raw: u64) -> Self {
        Self { state: ThreadState::from_bits(raw), since: raw >> 2, raw }
    }
}

/// A thread's state word (see the module doc).
#[derive(Debug)]
pub(crate) struct StateCell {
    /// `since_ticks << 2 | state`.
    word: AtomicU64,
}

fn pack(state: ThreadState, since: u64) -> u64 {
    (since << 2) | state as u64
}

impl StateCell {
    pub(crate) fn new(now: u64) -> Self {
        Self { word: AtomicU64::new(pack(ThreadState::Normal, now)) }
    }

    /// The current state and the tick it was entered at.
    pub(crate) fn get(&self) -> StateWord {
        // Acquire: pairs with the AcqRel CAS of whoever set it (module doc).
        StateWord::from_raw(self.word.load(Ordering::Acquire))
    }

    /// Moves the thread from the state it was in when `seen` was read to `to`, at tick `now`,
    /// if the word is still exactly `seen` (one CAS; module doc). On success adds the time
    /// spent in the old state and counts the transition. A word that changed in any way —
    /// also the same state entered again at another tick — is [`TransitionError::Lost`]: read
    /// again and decide again.
    pub(crate) fn transition(
        &self,
        counters: &Counters,
        seen: StateWord,
        to: ThreadState,
        now: u64,
    ) -> Result<(), TransitionError> {
        let from = seen.state;
        if !from.can_go_to(to) {
            return Err(TransitionError::Invalid { from, to });
        }
        // `now` may be a tick or two behind `since` if another party just moved the thread:
        // keep time monotonic in the word.
        let at = now.max(seen.since) & (u64::MAX >> 2);
        match self.word.compare_exchange(seen.raw, pack(to, at), Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                counters.time_in_state[from as usize].fetch_add(at - seen.since, Ordering::Relaxed);
                counters.transitions[from.pair(to)].fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(actual)
                if ThreadState::from_bits(actual) == from
                    && crate::sync::weaken::active(crate::sync::Mutation::StaleStateRetry) =>
            {
                self.transition(counters, StateWord::from_raw(actual), to, now)
            }
            Err(actual) => Err(TransitionError::Lost { current: ThreadState::from_bits(actual) }),
        }
    }

    /// Resets to NORMAL (a recycled registry slot).
    pub(crate) fn reset(&self, now: u64) {
        // Release: the next claimer's Acquire CAS on the slot orders after this.
        self.word.store(pack(ThreadState::Normal, now), Ordering::Release);
    }
}

/// Threads waiting under `Policy::Block`: a count the drain checks after each pass (one
/// load), and their handles to unpark.
#[derive(Debug, Default)]
pub(crate) struct Waiters {
    count: AtomicUsize,
    threads: Mutex<Vec<thread::Thread>>,
    /// Times `wake_all` found waiters and unparked them (metrics; Relaxed counter).
    wakes: AtomicU64,
}

impl Waiters {
    /// A blocked producer announces itself before its last check for room (so a ring freed
    /// after that check finds it registered).
    ///
    /// A Dekker pair with [`wake_all`](Self::wake_all): the producer increments `count` then
    /// checks the free list; the drain pushes to the free list then loads `count`. A
    /// `SeqCst` fence between the store and the load on each side guarantees that at least
    /// one of them sees the other's store: the producer finds the ring, or the drain finds
    /// the waiter and unparks it. (The free list's own orderings are Acquire/Release, which
    /// alone would not order a store before a later load.)
    pub(crate) fn enter(&self) {
        // The handle first: a drain that sees the count (Release part of the RMW, paired
        // with its load) then finds the handle under the lock.
        self.threads.lock().unwrap_or_else(|e| e.into_inner()).push(thread::current());
        self.count.fetch_add(1, Ordering::SeqCst);
        if !crate::sync::weaken::active(crate::sync::Mutation::NoWaiterAnnounce) {
            fence(Ordering::SeqCst);
        }
    }

    /// The producer stops waiting.
    pub(crate) fn leave(&self) {
        let me = thread::current().id();
        let mut t = self.threads.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = t.iter().position(|h| h.id() == me) {
            t.swap_remove(i);
        }
        drop(t);
        self.count.fetch_sub(1, Ordering::SeqCst);
    }

    /// Times `wake_all` found producers waiting and unparked them.
    pub(crate) fn wakes(&self) -> u64 {
        self.wakes.load(Ordering::Relaxed)
    }

    /// Drain: after freeing rings, unparks every waiting producer (cheap when none wait).
    pub(crate) fn wake_all(&self) {
        // The drain's half of the Dekker pair in `enter`: the rings it freed (stores) are
        // ordered before this load of `count`.
        fence(Ordering::SeqCst);
        if self.count.load(Ordering::SeqCst) == 0 {
            return;
        }
        self.wakes.fetch_add(1, Ordering::Relaxed);
        for t in self.threads.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            t.unpark();
        }
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use ThreadState::*;

    #[test]
    fn every_valid_transition_succeeds_and_is_counted() {
        let valid = [
            (Normal, Pressure),
            (Pressure, Dropping),
            (Pressure, Recovery),
            (Dropping, Recovery),
            (Recovery, Normal),
            (Recovery, Pressure),
            (Recovery, Dropping),
        ];
        for (from, to) in valid {
            let c = Counters::new();
            let s = StateCell::new(0);
            s.word.store(pack(from, 10), Ordering::Relaxed);
            assert_eq!(s.transition(&c, s.get(), to, 25), Ok(()), "{from}->{to}");
            assert_eq!((s.get().state, s.get().since), (to, 25));
            assert_eq!(c.transitions[from.pair(to)].load(Ordering::Relaxed), 1);
            assert_eq!(c.time_in_state[from as usize].load(Ordering::Relaxed), 15);
        }
    }

    #[test]
    fn every_invalid_transition_is_rejected_without_change() {
        for from in ThreadState::ALL {
            for to in ThreadState::ALL {
                if from.can_go_to(to) {
                    continue;
                }
                let c = Counters::new();
                let s = StateCell::new(0);
                s.word.store(pack(from, 3), Ordering::Relaxed);
                assert_eq!(
                    s.transition(&c, s.get(), to, 9),
                    Err(TransitionError::Invalid { from, to }),
                    "{from}->{to}"
                );
                assert_eq!((s.get().state, s.get().since), (from, 3));
                assert!(c.transitions.iter().all(|t| t.load(Ordering::Relaxed) == 0));
            }
        }
        assert_eq!(
            ThreadState::ALL.iter().flat_map(|a| ThreadState::ALL.map(|b| a.can_go_to(b))).filter(|&v| v).count(),
            7
        );
    }

    #[test]
    fn a_transition_from_a_state_the_thread_is_not_in_is_lost() {
        let c = Counters::new();
        let s = StateCell::new(0);
        let seen = s.get();
        s.transition(&c, seen, Pressure, 1).unwrap();
        assert_eq!(s.transition(&c, seen, Pressure, 2), Err(TransitionError::Lost { current: Pressure }));
    }

    #[test]
    fn a_decision_on_an_old_word_is_lost_even_if_the_state_came_back() {
        // The drain reads RECOVERY@10 and decides RECOVERY→NORMAL (stability period over);
        // meanwhile the producer goes RECOVERY→PRESSURE→RECOVERY@50. The same state with
        // another `since`: the stale decision must not be applied.
        let c = Counters::new();
        let s = StateCell::new(0);
        s.word.store(pack(Recovery, 10), Ordering::Relaxed);
        let drain_saw = s.get();
        s.transition(&c, s.get(), Pressure, 40).unwrap();
        s.transition(&c, s.get(), Recovery, 50).unwrap();
        assert_eq!(s.transition(&c, drain_saw, Normal, 60), Err(TransitionError::Lost { current: Recovery }));
        assert_eq!((s.get().state, s.get().since), (Recovery, 50));
        assert_eq!(c.transitions[Recovery.pair(Normal)].load(Ordering::Relaxed), 0);
    }

    #[test]
    fn producer_and_drain_racing_on_recovery_have_exactly_one_winner() {
        // The producer (RECOVERY→PRESSURE) and the drain (RECOVERY→NORMAL) race on the same
        // word, many times over; exactly one wins each round and the state is never torn.
        // Fewer rounds under Miri, which interprets every step.
        for round in 0..if cfg!(miri) { 20 } else { 2_000u64 } {
            let c = std::sync::Arc::new(Counters::new());
            let s = std::sync::Arc::new(StateCell::new(0));
            s.word.store(pack(Recovery, round), Ordering::Relaxed);
            // Both decide on the same reading, as the producer and the drain do.
            let seen = s.get();
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
            let (s2, c2, b2) = (s.clone(), c.clone(), barrier.clone());
            let producer = std::thread::spawn(move || {
                b2.wait();
                s2.transition(&c2, seen, Pressure, round + 1)
            });
            barrier.wait();
            let drain = s.transition(&c, seen, Normal, round + 2);
            let producer = producer.join().unwrap();
            assert!(producer.is_ok() ^ drain.is_ok(), "exactly one winner: {producer:?} {drain:?}");
            let state = s.get().state;
            if producer.is_ok() {
                assert_eq!(state, Pressure);
                assert_eq!(drain, Err(TransitionError::Lost { current: Pressure }));
            } else {
                assert_eq!(state, Normal);
                assert_eq!(producer, Err(TransitionError::Lost { current: Normal }));
            }
            let total: u64 = c.transitions.iter().map(|t| t.load(Ordering::Relaxed)).sum();
            assert_eq!(total, 1);
        }
    }
}
