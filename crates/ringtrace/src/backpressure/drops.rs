//! How drops are counted: the reason of every dropped event ([`DropReason`]), a thread's
//! counters ([`Counters`]) and its open loss gap ([`LossGap`], closed into a loss record).
//! Written by the recording thread on its cold paths, read by the drain and `metrics()`.

use crate::sync::{AtomicU64, Ordering, StatCounter};
use crate::wire::record::LossInfo;
use std::fmt;

/// Why an event was dropped instead of recorded. Every dropped event is counted under exactly
/// one reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DropReason {
    /// The thread's ring was full and the pool had no free ring (`DropNewest`).
    PoolExhausted,
    /// The thread already held `max_rings_per_thread` rings (per-thread quota, R-BP-5).
    QuotaExceeded,
    /// Overwritten by newer events: `DropOldest` reclaimed the ring holding them.
    Overwritten,
    /// `Block { timeout }` waited `timeout` for a free ring and none came.
    BlockTimeout,
    /// Recorded on the drain thread or inside a sink while the pool was exhausted: such
    /// records never wait, even under `Block` (R-BP-4).
    DrainContext,
    /// The runtime was shut down while the record waited for room under `Block`.
    Shutdown,
    /// Larger than `max_record_size` (strict serialization, or even the fixed-size part of
    /// the arguments does not fit).
    Oversized,
    /// An argument could not be encoded (strict serialization).
    Invalid,
    /// Recorded from inside a recording call on the same thread (an argument's `Display`
    /// implementation recorded an event), which cannot be nested.
    Reentrant,
}

impl DropReason {
    /// Every reason, in a fixed order.
    pub const ALL: [DropReason; 9] = [
        DropReason::PoolExhausted,
        DropReason::QuotaExceeded,
        DropReason::Overwritten,
        DropReason::BlockTimeout,
        DropReason::DrainContext,
        DropReason::Shutdown,
        DropReason::Oversized,
        DropReason::Invalid,
        DropReason::Reentrant,
    ];

    /// The snake_case name used in reports, JSON and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            DropReason::PoolExhausted => "pool_exhausted",
            DropReason::QuotaExceeded => "quota_exceeded",
            DropReason::Overwritten => "overwritten",
            DropReason::BlockTimeout => "block_timeout",
            DropReason::Shutdown => "shutdown",
            DropReason::DrainContext => "drain_context",
            DropReason::Oversized => "oversized",
            DropReason::Invalid => "invalid",
            DropReason::Reentrant => "reentrant",
        }
    }

    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A thread's open loss gap (R-BP-6): the events dropped since its last loss record. One
/// writer at a time, so plain loads and stores do (no locked read-modify-write on the
/// DROPPING path):
///
/// - the **producer** adds to it ([`add`](Self::add)) and closes it into a loss record
///   ([`take`](Self::take)) while it is inside a call ([`Presence`](crate::rings::slot::Presence));
/// - the **drain** takes it only when the producer can no longer touch it: after the thread
///   exited (the slot's Release store of EXITED, which the drain loads with Acquire), or after
///   the close handshake at shutdown (`Presence::wait_outside`).
#[derive(Debug, Default)]
pub(crate) struct LossGap {
    events: AtomicU64,
    bytes: AtomicU64,
    first_ticks: AtomicU64,
    last_ticks: AtomicU64,
}

impl LossGap {
    /// The gap as it is (a snapshot, for the writer or after the hand-over above).
    fn get(&self) -> LossInfo {
        // Relaxed: single writer, and the hand-over to the drain is ordered (type doc).
        LossInfo {
            events: self.events.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            first_ticks: self.first_ticks.load(Ordering::Relaxed),
            last_ticks: self.last_ticks.load(Ordering::Relaxed),
        }
    }

    fn set(&self, l: LossInfo) {
        // Relaxed: as in `get`.
        self.events.store(l.events, Ordering::Relaxed);
        self.bytes.store(l.bytes, Ordering::Relaxed);
        self.first_ticks.store(l.first_ticks, Ordering::Relaxed);
        self.last_ticks.store(l.last_ticks, Ordering::Relaxed);
    }

    /// Adds `l` to the gap (its current writer only, see the type doc).
    pub(crate) fn add(&self, l: LossInfo) {
        let mut cur = self.get();
        cur.merge(l);
        self.set(cur);
    }

    /// One more dropped event of `bytes` in a gap that is already open (its current writer
    /// only): no time is taken (the gap's times are when it opened and when it closes).
    pub(crate) fn add_drop(&self, bytes: u64) {
        // Relaxed: as in `get`.
        self.events.store(self.events.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        self.bytes.store(self.bytes.load(Ordering::Relaxed) + bytes, Ordering::Relaxed);
    }

    /// Takes the whole gap, leaving it empty (its current writer only).
    pub(crate) fn take(&self) -> LossInfo {
        let l = self.get();
        self.set(LossInfo::default());
        l
    }
}

/// Per-thread counters (all `Relaxed` [`StatCounter`]s: plain event counts).
#[derive(Debug)]
pub(crate) struct Counters {
    /// Events dropped, per [`DropReason`]. Written by the producer.
    pub dropped: [StatCounter; DropReason::ALL.len()],
    /// Bytes of dropped events. Written by the producer.
    pub dropped_bytes: StatCounter,
    /// Records the drain has taken out of this thread's rings. Written by the drain.
    pub delivered: StatCounter,
    /// Events committed to rings. Only the registry's totals of exited threads use it (folded
    /// in from the slot's [`Presence`](crate::rings::slot::Presence) when the slot is retired); a live thread's count is in
    /// its `Presence`.
    pub committed: StatCounter,
    /// Events a rate-limited callsite suppressed (not losses). Written by the producer.
    pub rate_limited: StatCounter,
    /// Events a sampled callsite left out (not losses). Written by the producer.
    pub sampled: StatCounter,
    /// Transitions per (from, to) pair, index `from * 4 + to`. Written by whoever makes the
    /// transition.
    pub transitions: [StatCounter; 16],
    /// Ticks spent in each state (closed intervals; the current one is open in the state
    /// word). Written by whoever makes the transition.
    pub time_in_state: [StatCounter; 4],
}

impl Counters {
    pub(crate) fn new() -> Self {
        Self {
            dropped: std::array::from_fn(|_| StatCounter::new(0)),
            dropped_bytes: StatCounter::new(0),
            delivered: StatCounter::new(0),
            committed: StatCounter::new(0),
            rate_limited: StatCounter::new(0),
            sampled: StatCounter::new(0),
            transitions: std::array::from_fn(|_| StatCounter::new(0)),
            time_in_state: std::array::from_fn(|_| StatCounter::new(0)),
        }
    }

    /// Adds one dropped event (single writer: see [`drop_events`](Self::drop_events)).
    pub(crate) fn drop_event(&self, reason: DropReason, bytes: u64) {
        self.drop_events(reason, 1, bytes);
    }

    /// Single writer: only the thread that owns the slot counts its drops (the drain zeroes
    /// them in [`absorb`](Self::absorb) only after the thread exited, ordered by the slot's
    /// Release/Acquire), so a load and a store do what a `fetch_add` would, without the
    /// locked read-modify-write on the DROPPING path. Relaxed: counters.
    pub(crate) fn drop_events(&self, reason: DropReason, events: u64, bytes: u64) {
        let d = &self.dropped[reason.index()];
        d.store(d.load(Ordering::Relaxed) + events, Ordering::Relaxed);
        self.dropped_bytes.store(self.dropped_bytes.load(Ordering::Relaxed) + bytes, Ordering::Relaxed);
    }

    #[cfg(all(test, not(feature = "loom")))]
    pub(crate) fn dropped_total(&self) -> u64 {
        self.dropped.iter().map(|d| d.load(Ordering::Relaxed)).sum()
    }

    /// Adds `other` into `self` and zeroes `other` (folding an exited thread into totals).
    pub(crate) fn absorb(&self, other: &Counters) {
        for (a, b) in self.dropped.iter().zip(&other.dropped) {
            a.fetch_add(b.swap(0, Ordering::Relaxed), Ordering::Relaxed);
        }
        self.dropped_bytes.fetch_add(other.dropped_bytes.swap(0, Ordering::Relaxed), Ordering::Relaxed);
        self.delivered.fetch_add(other.delivered.swap(0, Ordering::Relaxed), Ordering::Relaxed);
        self.committed.fetch_add(other.committed.swap(0, Ordering::Relaxed), Ordering::Relaxed);
        self.rate_limited.fetch_add(other.rate_limited.swap(0, Ordering::Relaxed), Ordering::Relaxed);
        self.sampled.fetch_add(other.sampled.swap(0, Ordering::Relaxed), Ordering::Relaxed);
        for (a, b) in self.transitions.iter().zip(&other.transitions) {
            a.fetch_add(b.swap(0, Ordering::Relaxed), Ordering::Relaxed);
        }
        for (a, b) in self.time_in_state.iter().zip(&other.time_in_state) {
            a.fetch_add(b.swap(0, Ordering::Relaxed), Ordering::Relaxed);
        }
    }
}
