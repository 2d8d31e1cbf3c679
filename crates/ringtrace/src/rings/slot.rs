//! One recording thread's shared state: which ring it writes, the full rings it has handed to
//! the drain, and its counters.
//!
//! A producer thread owns at most `max_rings_per_thread` rings at a time: its **active** ring
//! and the **chain** of full rings it swapped out and the drain has not taken yet, in swap
//! order. The drain reads a thread's rings oldest first: the chain from its head, then the
//! active ring, so records of one thread come out in the order they were recorded.
//!
//! # Who writes what
//!
//! | field | written by | read by |
//! |---|---|---|
//! | `active` | producer (swap, exit; Release) | drain (Acquire) |
//! | `chain[i]`, `chain_tail` | producer (push; Release on `chain_tail`) | drain, producer |
//! | `chain_head` | whoever takes the oldest ring: the drain, or the producer reclaiming it under `DropOldest`, by one CAS | both |
//! | `reading` | drain (Release + SeqCst fence; Release for NIL), see [`ReadingAnnouncement`] | producer (SeqCst fence + Acquire) |
//! | `dropped*` | producer (cold path) | metrics, drain |
//! | `delivered` | drain | metrics |
//!
//! # Taking the oldest ring: one atomic step
//!
//! `take_oldest` loads `chain_head`, reads the ring index in that slot and CASes `chain_head`
//! one further. Whoever wins the CAS owns the ring; the loser sees the new head and retries.
//! This is how the drain's take and a producer's `DropOldest` reclaim of the same ring are
//! decided. `chain_head` is a monotonic `u64`, so there is no ABA: the slot is rewritten only
//! after `chain_tail` has gone a full lap, which needs `chain_head` to have moved past it.
//!
//! # Reading the active ring
//!
//! To flush partly filled rings the drain reads a thread's *active* ring while the producer
//! writes to it, which the SPSC protocol allows. The one hazard is a `DropOldest` reclaim: the
//! producer could swap the ring out and reclaim it while the drain is still copying it. The
//! drain therefore announces the ring it is about to read in `reading` and then re-checks
//! `active`; the producer, before reusing a reclaimed ring, checks `reading`. A SeqCst fence
//! on each side between its store and its load makes this a Dekker pair: either the drain sees
//! that the ring is no longer active and backs off, or the producer sees the drain reading it
//! and waits for the drain's Release store of NIL (`begin_active_read`, `wait_unread`).
//! (Fences rather than SeqCst accesses: loom checks SeqCst fences exactly, while it treats
//! SeqCst loads and stores as AcqRel.) Every read the drain makes of a ring it does not own —
//! the active ring in a pass, a chain or active ring in a snapshot — goes through this one
//! protocol, [`ReadingAnnouncement`], and ends when the [`RingRead`] guard it hands out is
//! dropped, also when the drain unwinds.

use crate::backpressure::drops::{Counters, LossGap};
use crate::backpressure::StateCell;
use crate::rings::pool::NIL;
use crate::sync::{fence, AtomicU32, AtomicU64, CachePadded, Mutex, Ordering};
use std::sync::Arc as StdArc;

/// The drain's announcement of the ring it is reading without owning it (a thread's active
/// ring in a pass, or a chain or active ring in a snapshot), and the producer's wait for it
/// to end before it reuses a ring it reclaimed under `DropOldest`. One protocol, used by
/// every such read (module doc, "Reading the active ring"):
///
/// | who | step | ordering | pairs with / why |
/// |---|---|---|---|
/// | drain | store the ring ([`announce`](Self::announce)) | Release | the producer's Acquire load in `wait_unread`: a producer that sees this announcement *instead of* the previous one is ordered after the drain's reads of the previous ring (a `peek` publishes nothing else; a `consume`'s `head` store is not enough once the ring is reset) |
/// | drain | `fence(SeqCst)`, then load `active` / `chain_head` | SeqCst | the producer's fence in `wait_unread`: the Dekker pair — the drain sees the ring gone, or the producer sees the announcement |
/// | drain | store NIL (dropping the [`RingRead`]) | Release | the producer's Acquire load: the drain's reads of the ring happen before its reuse |
/// | producer | `fence(SeqCst)`, then load the announcement | SeqCst, Acquire | the two above |
///
/// The announcement is withdrawn when the [`RingRead`] guard is dropped, so a drain that
/// unwinds mid-read cannot leave a producer waiting forever.
#[derive(Debug)]
pub(crate) struct ReadingAnnouncement {
    /// The announced ring, or `NIL`. Written only by the drain, read by producers.
    ring: AtomicU32,
}

/// An announced read (see [`ReadingAnnouncement`]); dropping it withdraws the announcement.
#[derive(Debug)]
#[must_use = "the read ends when the guard is dropped"]
pub(crate) struct RingRead<'a> {
    announcement: &'a ReadingAnnouncement,
}

impl Drop for RingRead<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() && crate::sync::weaken::active(crate::sync::Mutation::NoWithdrawOnUnwind) {
            return;
        }
        self.announcement.withdraw();
    }
}

impl ReadingAnnouncement {
    pub(crate) fn new() -> Self {
        Self { ring: AtomicU32::new(NIL) }
    }

    /// Drain: announces a read of `ring`; the caller then checks that the ring is still the
    /// one it meant to read (and drops the guard if not).
    pub(crate) fn announce(&self, ring: u32) -> RingRead<'_> {
        // Release (see the type's table): a producer that sees this store instead of the
        // previous announcement is ordered after the previous read.
        self.ring.store(ring, crate::sync::weaken::ordering(crate::sync::Mutation::AnnounceRelease, Ordering::Release));
        // SeqCst fence: the drain's half of the Dekker pair with `wait_unread`.
        fence(Ordering::SeqCst);
        RingRead { announcement: self }
    }

    /// Drain: the read is over (called by the guard's drop).
    fn withdraw(&self) {
        // Release: pairs with the producer's Acquire load in `wait_unread`; the reads of the
        // ring happen before a producer that sees NIL reuses it.
        self.ring.store(NIL, Ordering::Release);
    }

    /// The announced ring (tests).
    #[cfg(all(test, not(feature = "loom")))]
    pub(crate) fn current(&self) -> u32 {
        self.ring.load(Ordering::Acquire)
    }

    /// Producer: waits while `ring` is announced. `drain_gone` ends the wait if the drain
    /// thread has ended (see `ThreadEntry::wait_unread`).
    pub(crate) fn wait_unread(&self, ring: u32, drain_gone: impl Fn() -> bool) {
        // SeqCst fence: the producer's half of the Dekker pair. The producer stored the new
        // `active` (a swap) or CASed `chain_head` (a reclaim) before this fence; the drain
        // stored its announcement before its fence. Either the drain sees the change and
        // backs off, or we see its announcement and wait.
        fence(Ordering::SeqCst);
        let mut i = 0;
        // Acquire: pairs with the drain's Release stores (the withdrawal, or the next
        // announcement).
        while self.ring.load(Ordering::Acquire) == ring {
            if i >= 64 && drain_gone() {
                return;
            }
            crate::sync::spin_wait(i);
            i = i.saturating_add(1);
        }
    }
}

/// Whether a thread's producer is inside a call that touches this runtime (a record, or the
/// hand-over at exit), and how many events it has committed to its rings. The close
/// handshake that makes shutdown exact:
///
/// | who | steps | ordering |
/// |---|---|---|
/// | producer | [`enter`](Self::enter) (store `committed << 1 \| 1`), light fence, load `Shared::closed`: if the runtime is still open, record; [`leave`](Self::leave) (store `committed << 1`) | Relaxed store; [`asymmetric_light`](crate::sync::asymmetric_light) (a SeqCst fence where the heavy half is unavailable); Release store on leave |
/// | closer (shutdown, then the drain) | store `closed = true`, heavy fence, [`wait_outside`](Self::wait_outside) on every slot | [`asymmetric_heavy`](crate::sync::asymmetric_heavy) (or a SeqCst fence); Acquire loads |
///
/// The fences make a Dekker pair: either the producer sees the runtime gone (and records
/// nothing into it: the event is *unrecorded*), or the closer sees it inside and waits for its
/// `leave`, whose Release makes every byte and count of that call visible. After the wait no
/// producer will touch the runtime's rings, counters or gap again, so the drain's final
/// passes read everything that was ever recorded, and `committed` is final.
#[derive(Debug)]
pub(crate) struct Presence {
    /// `committed << 1 | inside`. Written only by the producer; read by the closer.
    word: CachePadded<AtomicU64>,
}

impl Presence {
    fn new() -> Self {
        Self { word: CachePadded::new(AtomicU64::new(0)) }
    }

    /// Producer: entering a call, having committed `committed` events so far. The caller then
    /// fences and checks that the runtime is still installed (table above).
    #[inline(always)]
    pub(crate) fn enter(&self, committed: u64) {
        // Relaxed: ordered before the caller's load of `closed` by its fence (table above).
        self.word.store(committed << 1 | 1, Ordering::Relaxed);
    }

    /// Producer: leaving the call, having committed `committed` events in all.
    #[inline(always)]
    pub(crate) fn leave(&self, committed: u64) {
        // Release: pairs with the Acquire load in `wait_outside`; the call's ring writes,
        // counters and gap are visible to a closer that sees the producer outside.
        self.word.store(committed << 1, Ordering::Release);
    }

    /// Closer, after its heavy fence: waits until the producer is outside any call and
    /// returns the events it committed. Bounded by one call (a `Block` wait ends when it sees
    /// the runtime gone).
    pub(crate) fn wait_outside(&self) -> u64 {
        let mut i = 0;
        loop {
            // Acquire: pairs with the Release store in `leave`.
            let w = self.word.load(Ordering::Acquire);
            if w & 1 == 0 {
                return w >> 1;
            }
            crate::sync::spin_wait(i);
            i = i.saturating_add(1);
        }
    }

    /// Whether the producer is inside a call now (a snapshot).
    pub(crate) fn is_inside(&self) -> bool {
        // Acquire: as in `wait_outside`.
        self.word.load(Ordering::Acquire) & 1 == 1
    }

    /// Events committed as of the producer's last `enter` or `leave` (exact once it is outside).
    pub(crate) fn committed(&self) -> u64 {
        // Acquire: as in `wait_outside`.
        self.word.load(Ordering::Acquire) >> 1
    }

    /// Drain: a recycled slot starts from zero (its count was folded into the totals).
    fn reset(&self) {
        // Relaxed: published to the next claimer by the slot's Release store of FREE.
        self.word.store(0, Ordering::Relaxed);
    }
}

/// Registry slot states.
pub(crate) const SLOT_FREE: u32 = 0;
pub(crate) const SLOT_LIVE: u32 = 1;
pub(crate) const SLOT_EXITED: u32 = 2;
/// Claimed by a registering thread that is still writing the slot's identity fields; readers
/// skip it until it is LIVE.
pub(crate) const SLOT_CLAIMING: u32 = 3;

/// Whether a slot state belongs to a thread (LIVE, or EXITED and not yet drained).
pub(crate) fn occupied(slot: u32) -> bool {
    slot == SLOT_LIVE || slot == SLOT_EXITED
}

/// One slot of the registry: a recording thread's shared state (see the module doc).
#[derive(Debug)]
pub(crate) struct ThreadEntry {
    /// `SLOT_FREE`, `SLOT_CLAIMING`, `SLOT_LIVE` or `SLOT_EXITED`. FREE→CLAIMING by a
    /// registering thread (CAS, Acquire), CLAIMING→LIVE once its identity is written (Release), LIVE→EXITED by the owner at exit (Release), EXITED→FREE by the drain once
    /// everything is drained (Release).
    pub(crate) slot: AtomicU32,
    /// Bumped on every claim, so the drain can tell a recycled slot from the old thread.
    pub(crate) generation: AtomicU32,
    /// The runtime's number for the thread occupying the slot (unique per runtime).
    pub(crate) thread_id: AtomicU64,
    /// The OS thread id.
    pub(crate) os_tid: AtomicU64,
    /// The thread's name (set at registration; the drain copies it once per generation).
    pub(crate) name: Mutex<StdArc<str>>,
    /// The ring the producer writes, or `NIL`.
    pub(crate) active: AtomicU32,
    /// The ring the drain is reading without owning it, or `NIL`.
    pub(crate) reading: ReadingAnnouncement,
    /// Full rings in swap order; slot `i % len` (len a power of two).
    chain: Box<[AtomicU32]>,
    /// Next chain position to take (monotonic).
    chain_head: AtomicU64,
    /// Next chain position to fill (monotonic; written only by the producer).
    chain_tail: AtomicU64,
    /// Counters.
    pub(crate) counters: Counters,
    /// Backpressure state (backpressure/mod.rs).
    pub(crate) state: StateCell,
    /// The open loss gap ([`LossGap`]): the producer's while it runs, the drain's to report
    /// once the thread exited or the runtime closed while it was dropping.
    pub(crate) gap: LossGap,
    /// Whether the producer is inside a call, and what it committed ([`Presence`]).
    pub(crate) presence: Presence,
    /// Bumped by the drain whenever it changes something a dropping producer's decision
    /// depends on: it took a ring from the chain, released active-ring space, or moved the
    /// thread's state. A producer that found itself dropping caches the value and, while it is
    /// unchanged, drops at the cost of one load (`Producer::drops_as_before`). Relaxed both
    /// ways: a stale value only delays the producer's noticing by a record (as any drop racing
    /// with the drain does), and the full path it then takes re-reads everything with its own
    /// orderings.
    drain_epoch: AtomicU32,
}

impl ThreadEntry {
    /// A free slot whose chain holds up to `chain_len` rings (rounded up to a power of two).
    pub(crate) fn new(chain_len: usize) -> Self {
        let len = chain_len.max(1).next_power_of_two();
        Self {
            slot: AtomicU32::new(SLOT_FREE),
            generation: AtomicU32::new(0),
            thread_id: AtomicU64::new(0),
            os_tid: AtomicU64::new(0),
            name: Mutex::new(StdArc::from("")),
            active: AtomicU32::new(NIL),
            reading: ReadingAnnouncement::new(),
            chain: (0..len).map(|_| AtomicU32::new(NIL)).collect(),
            chain_head: AtomicU64::new(0),
            chain_tail: AtomicU64::new(0),
            counters: Counters::new(),
            state: StateCell::new(crate::clock::now_ticks()),
            gap: LossGap::default(),
            presence: Presence::new(),
            drain_epoch: AtomicU32::new(0),
        }
    }

    /// Producer: appends a full ring to the chain. The caller guarantees there is room (it
    /// holds fewer rings than the chain's length).
    pub(crate) fn push_full(&self, ring: u32) {
        // Relaxed: only this producer writes chain_tail.
        let t = self.chain_tail.load(Ordering::Relaxed);
        debug_assert!(t - self.chain_head.load(Ordering::Relaxed) < self.chain.len() as u64);
        // Relaxed: published by the Release store of chain_tail below.
        self.chain[(t as usize) & (self.chain.len() - 1)].store(ring, Ordering::Relaxed);
        // Release: pairs with the Acquire load in `take_oldest`; the slot (and the ring's
        // records, already published by its tail) are visible to whoever sees the new tail.
        self.chain_tail.store(t + 1, Ordering::Release);
    }

    /// Takes the oldest full ring, or `None` if the chain is empty. Called by the drain, and
    /// by the producer reclaiming under `DropOldest`; one CAS decides (module doc).
    pub(crate) fn take_oldest(&self) -> Option<u32> {
        // Acquire: pairs with the AcqRel CAS of a previous taker (we may reuse what it freed).
        let mut h = self.chain_head.load(Ordering::Acquire);
        loop {
            // Acquire: pairs with the Release in `push_full`.
            if h == self.chain_tail.load(Ordering::Acquire) {
                return None;
            }
            // Relaxed: ordered by the chain_tail Acquire above; a slot rewritten since then
            // would mean chain_head moved, and the CAS below fails.
            let ring = self.chain[(h as usize) & (self.chain.len() - 1)].load(Ordering::Relaxed);
            match self.chain_head.compare_exchange(h, h + 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Some(ring),
                Err(actual) => h = actual,
            }
        }
    }

    /// Drain: announces that it will read `active` as the thread's active ring, then checks
    /// that it still is, and that no older ring waits in the chain. `Some`: read it while the
    /// guard lives (dropping it ends the read, also on unwind). `None`: the announcement is
    /// withdrawn; take the chain first (module doc, "Reading the active ring").
    pub(crate) fn begin_active_read(&self, active: u32) -> Option<RingRead<'_>> {
        let read = self.reading.announce(active);
        // Acquire: pairs with the producer's Release store of `active` (and of `chain_tail`).
        if self.active.load(Ordering::Acquire) != active || self.chain_len() > 0 {
            return None;
        }
        Some(read)
    }

    /// Drain, for a snapshot: the chain's positions `(head, tail)`; the rings at positions
    /// `head..tail` are waiting, oldest first.
    pub(crate) fn chain_bounds(&self) -> (u64, u64) {
        // Acquire/Acquire: as in `take_oldest`; the slots below `tail` are visible.
        let h = self.chain_head.load(Ordering::Acquire);
        (h, self.chain_tail.load(Ordering::Acquire))
    }

    /// Drain, for a snapshot: the ring at chain position `pos` (from `chain_bounds`). Only
    /// meaningful if `begin_chain_read` then confirms it is still there.
    pub(crate) fn chain_ring(&self, pos: u64) -> u32 {
        // Relaxed: ordered by the Acquire load of chain_tail in `chain_bounds`; a slot
        // rewritten since then means chain_head moved past `pos`, which `begin_chain_read`
        // detects.
        self.chain[(pos as usize) & (self.chain.len() - 1)].load(Ordering::Relaxed)
    }

    /// Drain, for a snapshot: announces that it will copy `ring`, found at chain position
    /// `pos`, without taking it, then checks that no one has taken it since. `Some`: copy it
    /// while the guard lives; a producer reclaiming it under `DropOldest` waits in
    /// `wait_unread` meanwhile. `None`: it was taken (its records are overwritten or
    /// delivered); the announcement is withdrawn.
    ///
    /// The same Dekker pair as `begin_active_read`: the drain announces (store, fence), loads
    /// `chain_head`; the reclaiming producer CASes `chain_head`, fences (in `wait_unread`),
    /// loads `reading`. Either the drain sees the ring taken, or the producer sees the
    /// announcement.
    pub(crate) fn begin_chain_read(&self, ring: u32, pos: u64) -> Option<RingRead<'_>> {
        let read = self.reading.announce(ring);
        // Acquire: pairs with the AcqRel CAS of a taker.
        if self.chain_head.load(Ordering::Acquire) > pos {
            return None;
        }
        Some(read)
    }

    /// Drain, for a snapshot: announces that it will copy the thread's active ring `active`
    /// without taking it, and checks that it still is the active ring. Unlike
    /// `begin_active_read` it does not require the chain to be empty (a snapshot reads the
    /// chain without taking it). `Some`: copy it while the guard lives.
    pub(crate) fn begin_active_peek(&self, active: u32) -> Option<RingRead<'_>> {
        let read = self.reading.announce(active);
        // Acquire: pairs with the producer's Release store of `active`.
        if self.active.load(Ordering::Acquire) != active {
            return None;
        }
        Some(read)
    }

    /// Drain, for a snapshot: passes each of the thread's rings to `copy`, oldest first, without
    /// taking them: the chain from its head, then the active ring, each under the `reading`
    /// announcement (`begin_chain_read`, `begin_active_peek`), so a producer reclaiming one
    /// under `DropOldest` waits for the copy. A ring taken before it is copied is skipped (its
    /// records were overwritten or delivered). Rings pushed onto the chain meanwhile (a swap,
    /// or the thread's exit, which pushes its active ring and clears `active`) are read before
    /// the active ring; a ring just copied from the chain and still active mid-swap is not
    /// copied twice. Gives up after `retries` rounds of a thread that keeps swapping.
    pub(crate) fn peek_rings(&self, retries: u32, mut copy: impl FnMut(u32)) {
        let (mut pos, mut end) = self.chain_bounds();
        // The last ring copied from the chain, and its position.
        let mut last_copied: Option<(u32, u64)> = None;
        for _ in 0..retries {
            while pos < end {
                let ring = self.chain_ring(pos);
                if let Some(_read) = self.begin_chain_read(ring, pos) {
                    copy(ring);
                    last_copied = Some((ring, pos));
                }
                pos += 1;
            }
            // Acquire: pairs with the producer's Release store of `active` in a swap or exit,
            // so the chain push before it is visible to `chain_bounds` below.
            let active = self.active.load(Ordering::Acquire);
            if active == NIL {
                let (_, now) = self.chain_bounds();
                if now == end {
                    break;
                }
                end = now;
                continue;
            }
            if let Some(_read) = self.begin_active_peek(active) {
                // Rings swapped out since the chain was read are older than what the active
                // ring holds now: read them first.
                let (_, now) = self.chain_bounds();
                if now == end {
                    if last_copied != Some((active, end.wrapping_sub(1))) {
                        copy(active);
                    }
                    break;
                }
                end = now;
            } else {
                end = self.chain_bounds().1;
            }
        }
    }

    /// Producer (`DropOldest`): after winning `ring` from the chain, waits while the drain is
    /// still reading it (it announced so before the ring was swapped out or taken). Bounded
    /// by one ring's copy on a running drain; `drain_gone` is the way out if the drain thread
    /// has ended (its guards withdraw every announcement as it unwinds, so this is a second
    /// line of defence, not the normal way out).
    pub(crate) fn wait_unread(&self, ring: u32, drain_gone: impl Fn() -> bool) {
        self.reading.wait_unread(ring, drain_gone)
    }

    /// Rings this thread holds for its quota (R-BP-5): its active ring (if `active`) and the
    /// full rings waiting in its chain. (The drain holds at most as many more, the rings it
    /// took and is handing to the sinks: drain/mod.rs.)
    pub(crate) fn rings_held(&self, active: bool) -> usize {
        usize::from(active) + self.chain_len() as usize
    }

    /// Drain: something a dropping producer's decision depends on changed (see `drain_epoch`).
    pub(crate) fn bump_epoch(&self) {
        // Relaxed: see `drain_epoch`; only the drain writes it.
        self.drain_epoch.store(self.drain_epoch.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
    }

    /// Producer: the drain's epoch (see `drain_epoch`).
    #[inline]
    pub(crate) fn epoch(&self) -> u32 {
        // Relaxed: see `drain_epoch`.
        self.drain_epoch.load(Ordering::Relaxed)
    }

    /// Full rings waiting in the chain (a snapshot).
    pub(crate) fn chain_len(&self) -> u64 {
        // Acquire/Acquire: callers use a non-zero answer to decide to take rings.
        let h = self.chain_head.load(Ordering::Acquire);
        self.chain_tail.load(Ordering::Acquire).saturating_sub(h)
    }

    /// Capacity of the chain.
    #[cfg(all(test, not(feature = "loom")))]
    pub(crate) fn chain_capacity(&self) -> usize {
        self.chain.len()
    }

    /// Whether the slot belongs to a thread now: LIVE, or EXITED and not yet drained
    /// ([`occupied`]). Acquire: pairs with the Release stores of LIVE (the claimer's identity
    /// fields are written) and of EXITED (everything the thread did before it exited).
    pub(crate) fn is_occupied(&self) -> bool {
        occupied(self.slot.load(Ordering::Acquire))
    }

    /// The description of the thread in this slot now (its identity was written before it
    /// became LIVE).
    pub(crate) fn info(&self) -> crate::output::event::ThreadInfo {
        // Relaxed: written at claim, before the Release store of LIVE the caller observed.
        crate::output::event::ThreadInfo {
            id: self.thread_id.load(Ordering::Relaxed),
            name: self.name.lock().map(|n| n.to_string()).unwrap_or_default(),
            os_tid: self.os_tid.load(Ordering::Relaxed),
        }
    }

    /// Drain: prepares a drained EXITED slot for reuse. Counters must have been folded.
    pub(crate) fn reset_for_reuse(&self) {
        debug_assert_eq!(self.chain_len(), 0);
        debug_assert_eq!(self.active.load(Ordering::Relaxed), NIL);
        self.state.reset(crate::clock::now_ticks());
        let _ = self.gap.take();
        self.presence.reset();
        // Release: the next claimer's Acquire CAS on `slot` sees the reset state.
        self.slot.store(SLOT_FREE, Ordering::Release);
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use crate::backpressure::drops::DropReason;

    #[test]
    fn chain_is_fifo() {
        let e = ThreadEntry::new(3);
        assert_eq!(e.chain_capacity(), 4);
        assert_eq!(e.take_oldest(), None);
        e.push_full(7);
        e.push_full(8);
        assert_eq!(e.chain_len(), 2);
        assert_eq!(e.take_oldest(), Some(7));
        e.push_full(9);
        assert_eq!(e.take_oldest(), Some(8));
        assert_eq!(e.take_oldest(), Some(9));
        assert_eq!(e.take_oldest(), None);
        for lap in 0..10 {
            e.push_full(lap);
            assert_eq!(e.take_oldest(), Some(lap), "wraps around the slots");
        }
    }

    #[test]
    fn concurrent_takers_split_rings_exactly() {
        let e = std::sync::Arc::new(ThreadEntry::new(1024));
        for r in 0..1000 {
            e.push_full(r);
        }
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let e = e.clone();
                std::thread::spawn(move || std::iter::from_fn(|| e.take_oldest()).collect::<Vec<_>>())
            })
            .collect();
        let mut all: Vec<u32> = hs.into_iter().flat_map(|h| h.join().unwrap()).collect();
        all.sort();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn a_read_that_unwinds_withdraws_its_announcement() {
        let e = ThreadEntry::new(2);
        e.active.store(5, Ordering::Release);
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _read = e.begin_active_read(5).expect("5 is active and the chain empty");
            assert_eq!(e.reading.current(), 5);
            panic!("a bug in the drain, mid-read");
        }));
        assert!(unwound.is_err());
        assert_eq!(e.reading.current(), NIL, "the guard withdrew the announcement");
        // A reclaiming producer does not wait (it would spin forever on the old code).
        e.wait_unread(5, || panic!("no need for the way out"));
    }

    #[test]
    fn a_read_of_a_ring_that_is_no_longer_active_is_refused_and_withdrawn() {
        let e = ThreadEntry::new(2);
        e.active.store(5, Ordering::Release);
        assert!(e.begin_active_read(6).is_none());
        assert_eq!(e.reading.current(), NIL);
        e.push_full(5);
        assert!(e.begin_active_read(5).is_none(), "an older ring waits in the chain");
        assert_eq!(e.reading.current(), NIL);
    }

    #[test]
    fn the_wait_for_a_reader_ends_when_the_drain_is_gone() {
        let e = ThreadEntry::new(2);
        e.active.store(5, Ordering::Release);
        let read = e.begin_active_read(5).unwrap();
        // The announcement stays (the guard is forgotten, as if the drain thread vanished).
        std::mem::forget(read);
        e.wait_unread(5, || true);
        assert_eq!(e.reading.current(), 5);
    }

    #[test]
    fn absorb_moves_counts() {
        let a = Counters::new();
        let b = Counters::new();
        b.drop_event(DropReason::PoolExhausted, 40);
        b.delivered.store(5, Ordering::Relaxed);
        a.absorb(&b);
        assert_eq!(a.dropped_total(), 1);
        assert_eq!(a.dropped_bytes.load(Ordering::Relaxed), 40);
        assert_eq!(a.delivered.load(Ordering::Relaxed), 5);
        assert_eq!(b.dropped_total(), 0);
    }

    #[test]
    fn reason_names_are_unique() {
        let names: std::collections::HashSet<_> = DropReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(names.len(), DropReason::ALL.len());
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
    }
}
