//! The recording thread's cold paths: finding room when the ring has none (a fresh ring, a
//! `DropOldest` reclaim, a bounded `Block` wait), dropping and counting what cannot be
//! recorded, and the state moves NORMAL → PRESSURE → DROPPING. Runs on the recording thread.

use crate::backpressure::drops::DropReason;
use crate::backpressure::ThreadState;
use crate::config::Policy;
use crate::diag::DiagnosticKind;
use crate::recording::producer::{Producer, LOSS_LEN};
use crate::rings::pool::NIL;
use crate::sync::Ordering;
use crate::wire::record::{align8, LossInfo, RecordKind, HEADER_LEN};
use std::sync::atomic::Ordering as StdOrdering;

/// Tries for room a `Block`ed record makes before it parks. One under loom: every try is a
/// dozen atomic steps, and the spins only repeat what the first one checked.
const BLOCK_SPINS: u32 = if cfg!(feature = "loom") { 1 } else { 256 };

/// What looking for room produced.
enum Room {
    /// A reservation of the requested length.
    Reserved(*mut u8),
    /// Room was made in a way that changed what must be written first (a `DropOldest`
    /// reclaim opened a loss gap): ask again.
    Retry,
    /// No room; the record is dropped for this reason.
    Refused(DropReason),
}

impl Producer {
    /// Cold path: close an open loss gap first (a loss record goes before the record that
    /// ends the gap, R-BP-6), then find room for the record, or drop it and count it as
    /// `counted` bytes (`len` but for records reserved at `max_record_size` because their
    /// size is known only after writing, `event_unsized`).
    #[cold]
    #[inline(never)]
    pub(super) fn reserve_slow(&mut self, len: usize, counted: usize) -> Option<*mut u8> {
        if self.gap_open {
            if let Some(reason) = self.drops_as_before().or_else(|| self.still_dropping()) {
                // DROPPING fast path (§7): nothing changed since the last drop; count it and
                // go, without reading the clock (the gap's times are its opening and closing).
                let entry = self.entry();
                entry.counters.drop_event(reason, counted as u64);
                entry.gap.add_drop(counted as u64);
                return None;
            }
        }
        // At most: a reclaim (Retry), the loss record, the record.
        for _ in 0..4 {
            let need = if self.gap_open { LOSS_LEN } else { len };
            match self.find_room(need) {
                Room::Reserved(p) if self.gap_open => self.write_loss(p),
                Room::Reserved(p) => return Some(p),
                Room::Retry => {}
                Room::Refused(reason) => {
                    self.dropped(reason, counted);
                    return None;
                }
            }
        }
        self.dropped(DropReason::PoolExhausted, counted);
        None
    }

    /// With a loss gap open: `Some(reason)` if [`find_room`](Self::find_room) would drop the
    /// loss record for `reason` and change nothing (DROPPING, `DropNewest`, no room in the
    /// ring, the quota reached or the pool empty), so the record can be dropped at once.
    /// `None`: anything could have changed (room, a ring, another state or policy); the full
    /// path decides. A free count read just before another thread takes the last ring only
    /// sends this record down the full path, which then drops it.
    ///
    /// A positive answer is cached with the drain's epoch read before the checks
    /// (`drop_cache`, used by [`drops_as_before`](Self::drops_as_before)).
    #[inline]
    fn still_dropping(&mut self) -> Option<DropReason> {
        self.drop_cache = None;
        let epoch = self.entry().epoch();
        if self.ring == NIL || self.writer.fits(LOSS_LEN) {
            return None;
        }
        let entry = self.entry();
        if entry.state.get().state != ThreadState::Dropping || self.policy() != Policy::DropNewest {
            return None;
        }
        let reason = if entry.rings_held(true) >= self.quota {
            DropReason::QuotaExceeded
        } else if self.shared.pool.free_list().free() == 0 {
            DropReason::PoolExhausted
        } else {
            return None;
        };
        self.drop_cache = Some((reason, epoch));
        Some(reason)
    }

    /// The DROPPING path at the cost of a branch and a counter (issue 18): `Some(reason)` if
    /// the last full check (`still_dropping`) found this thread dropping and nothing it read
    /// has changed since — the drain's epoch for the thread is the same (it took no ring from
    /// the chain, released no space of the active ring, moved no state), the thread's policy is
    /// still `DropNewest`, and, for a dropping thread that had quota left, the pool is still
    /// empty. The ring cannot have gained room by the producer's own doing: it writes nothing
    /// while it drops.
    #[inline(always)]
    fn drops_as_before(&mut self) -> Option<DropReason> {
        let (reason, epoch) = self.drop_cache?;
        let same = self.entry().epoch() == epoch
            && (reason != DropReason::PoolExhausted || self.shared.pool.free_list().free() == 0)
            && self.policy() == Policy::DropNewest;
        if same {
            Some(reason)
        } else {
            self.drop_cache = None;
            None
        }
    }

    /// Room for `need` bytes: the current ring, else a fresh ring from the pool, else what the
    /// policy says (R-BP-3).
    fn find_room(&mut self, need: usize) -> Room {
        if let Some(p) = self.writer.reserve(need) {
            return Room::Reserved(p);
        }
        let reason = match self.take_fresh_ring() {
            Ok(()) => return self.writer.reserve(need).map_or(Room::Refused(DropReason::Oversized), Room::Reserved),
            Err(reason) => reason,
        };
        self.enter_dropping();
        match self.policy() {
            Policy::DropNewest => Room::Refused(reason),
            Policy::DropOldest => {
                if self.reclaim_oldest() {
                    Room::Retry
                } else {
                    Room::Refused(reason)
                }
            }
            Policy::Block { timeout } => {
                if self.is_drain {
                    self.drain_context_drop();
                    return Room::Refused(DropReason::DrainContext);
                }
                match self.block(need, timeout) {
                    Ok(p) => Room::Reserved(p),
                    Err(reason) => Room::Refused(reason),
                }
            }
        }
    }

    /// Swaps the full current ring (if any) for a free one from the pool, within the quota.
    pub(super) fn take_fresh_ring(&mut self) -> Result<(), DropReason> {
        let shared = self.shared_ref();
        if self.ring != NIL {
            let held = self.entry().rings_held(true);
            if held >= self.quota {
                return Err(DropReason::QuotaExceeded);
            }
        }
        let fresh = shared.pool.free_list().pop().ok_or(DropReason::PoolExhausted)?;
        self.install_ring(fresh);
        if shared.pool.free_list().free() < shared.pressure_below {
            self.enter_pressure();
        }
        // No wake-up for the full ring now in the chain (issue 18: a swap is a few stores, no
        // system call): a napping drain finds it within its nap (at most `NAP_LIMIT`, 0.5 ms,
        // drain/mod.rs), and a drain in deep sleep is woken by the record about to be written
        // into the fresh ring (`after_publish`), as by any record.
        Ok(())
    }

    /// Hands the current ring (if any) to the drain and starts writing into `fresh`.
    fn install_ring(&mut self, fresh: u32) {
        let shared = self.shared_ref();
        let entry = self.entry();
        if self.ring != NIL {
            entry.push_full(self.ring);
        }
        // Release: a drain that loads the new `active` (Acquire) also sees the chain push
        // above. (The Dekker pair with the drain's `reading` is closed by the SeqCst fence in
        // `wait_unread`, rings/slot.rs.)
        // Before the first record goes in (a pool file's reader orders a thread's rings by it).
        shared.pool.set_owner(fresh, entry.thread_id.load(Ordering::Relaxed), self.rings_taken);
        entry.active.store(fresh, Ordering::Release);
        self.rings_taken += 1;
        self.ring = fresh;
        // SAFETY: `fresh` is this thread's (popped from the pool or reclaimed), so it is its
        // only producer; the pool (inside `shared`) outlives the writer.
        unsafe { self.writer.attach(shared.pool.base(fresh), shared.pool.ctl(fresh), self.ring_size) };
    }

    /// `DropOldest`: takes back this thread's oldest full ring that the drain has not taken
    /// (one CAS on the chain decides against the drain), counts its records as overwritten and
    /// makes it the active ring. `false` if there is none.
    fn reclaim_oldest(&mut self) -> bool {
        let shared = self.shared_ref();
        let entry = self.entry();
        let Some(ring) = entry.take_oldest() else { return false };
        // The drain may still be copying this ring, read as an active ring before it was
        // swapped out: wait for it to finish (rings/slot.rs).
        entry.wait_unread(ring, || shared.drain_exited.load(Ordering::Acquire));
        let ctl = shared.pool.ctl(ring);
        let mut lost = LossInfo::default();
        let mut folded = LossInfo::default();
        // We own the ring now: consuming it as its reader just walks what the drain never
        // took, without copying.
        // SAFETY: `ring` is exclusively ours (won from the chain, the drain is not reading it);
        // base and size are the pool's.
        unsafe {
            ctl.consume(shared.pool.base(ring), self.ring_size, |h, rec| match h.kind() {
                Some(RecordKind::Loss) => {
                    // An overwritten loss record: carry its report into the next one.
                    let l = LossInfo::from_bytes(&rec[HEADER_LEN..]).unwrap_or_default();
                    folded.merge(l);
                }
                _ => lost.merge(LossInfo {
                    events: 1,
                    bytes: align8(h.size as usize) as u64,
                    first_ticks: h.ts,
                    last_ticks: h.ts,
                }),
            })
        };
        ctl.reset();
        if lost.events > 0 {
            entry.counters.drop_events(DropReason::Overwritten, lost.events, lost.bytes);
        }
        lost.merge(folded);
        self.add_to_gap(lost);
        self.install_ring(ring);
        // No wake-up, as for a swap (`take_fresh_ring`).
        true
    }

    /// `Block`: spin, then park, until room appears or `timeout` passes.
    /// The wait also ends when the runtime is shut down (the closer waits for this call to
    /// leave, and wakes the waiters): the record is then dropped as [`DropReason::Shutdown`].
    fn block(&mut self, need: usize, timeout: std::time::Duration) -> Result<*mut u8, DropReason> {
        let shared = self.shared_ref();
        let deadline = std::time::Instant::now() + timeout;
        for _ in 0..BLOCK_SPINS {
            if let Some(p) = self.try_room(need) {
                return Ok(p);
            }
            std::hint::spin_loop();
        }
        shared.waiters.enter();
        let room = loop {
            // Checked after announcing ourselves: a ring freed from now on unparks us.
            if let Some(p) = self.try_room(need) {
                break Ok(p);
            }
            // Relaxed: a shutdown's closer wakes every waiter after setting `closed`, and
            // waits for this call to end; seeing it late costs one more poll.
            if shared.closed.load(Ordering::Relaxed) {
                break Err(DropReason::Shutdown);
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                break Err(DropReason::BlockTimeout);
            }
            shared.signal.notify();
            crate::sync::park_timeout((deadline - now).min(std::time::Duration::from_millis(1)));
        };
        shared.waiters.leave();
        room
    }

    fn try_room(&mut self, need: usize) -> Option<*mut u8> {
        if let Some(p) = self.writer.reserve(need) {
            return Some(p);
        }
        self.take_fresh_ring().ok()?;
        self.writer.reserve(need)
    }

    /// R-BP-4: a record made on the drain thread (or in a sink) found no room under `Block`.
    /// It cannot wait for the thread that would free a ring; say so, once per runtime (the
    /// drops are all counted as `DrainContext`).
    #[cold]
    fn drain_context_drop(&self) {
        let shared = &self.shared;
        if shared.drain_context_reported.swap(true, StdOrdering::Relaxed) {
            return;
        }
        let dropped = self.entry().counters.dropped[DropReason::DrainContext.index()].load(Ordering::Relaxed) + 1;
        shared.diag.emit(
            DiagnosticKind::DrainContextDrop,
            None,
            format!(
                "a record made on the drain thread (inside a sink or diagnostics hook) was dropped although the policy is {}: \
                 the drain cannot wait for a ring only it can free. {} such drops so far; pool high-water mark {} of {} rings. \
                 Record from sinks sparingly, report sink failures by returning a SinkError, or give the pool more rings; \
                 the running total is the drain_context drop count in metrics() and the DrainReport",
                self.policy(),
                dropped,
                shared.pool.free_list().high_water(),
                shared.pool.ring_count()
            ),
        );
    }

    /// Counts a dropped record and adds it to the open loss gap.
    #[cold]
    pub(super) fn dropped(&mut self, reason: DropReason, bytes: usize) {
        self.entry().counters.drop_event(reason, bytes as u64);
        if self.gap_open {
            self.entry().gap.add_drop(bytes as u64);
        } else {
            // The gap opens now: the one clock read of a loss gap until it closes (R-BP-6).
            let now = crate::clock::now_ticks();
            self.add_to_gap(LossInfo { events: 1, bytes: bytes as u64, first_ticks: now, last_ticks: now });
        }
        if !matches!(reason, DropReason::Reentrant | DropReason::Oversized | DropReason::Invalid | DropReason::Shutdown)
        {
            self.enter_dropping();
        }
    }

    /// Adds to the open gap (mirrored in the slot so the drain can report a gap the thread
    /// never closes).
    fn add_to_gap(&mut self, l: LossInfo) {
        if l.events == 0 {
            return;
        }
        // This producer is the gap's writer while it is inside a call (`backpressure::drops::LossGap`).
        self.entry().gap.add(l);
        self.gap_open = true;
    }

    /// Writes the loss record for the open gap into a reservation of `LOSS_LEN` bytes and
    /// closes the gap (R-BP-6).
    pub(super) fn write_loss(&mut self, p: *mut u8) {
        self.drop_cache = None;
        let mut loss = self.entry().gap.take();
        // The gap closes now: its last time is this record's (R-BP-6), at least the newest
        // overwritten record's.
        loss.last_ticks = loss.last_ticks.max(crate::clock::now_ticks());
        self.gap_open = false;
        // SAFETY: the caller reserved LOSS_LEN bytes at `p` for this record.
        let buf = unsafe { std::slice::from_raw_parts_mut(p, LOSS_LEN) };
        buf.copy_from_slice(&loss.record());
        self.writer.commit(LOSS_LEN);
    }

    /// The thread found no room: it is DROPPING (via PRESSURE from NORMAL).
    fn enter_dropping(&self) {
        let entry = self.entry();
        for _ in 0..4 {
            let seen = entry.state.get();
            let step = match seen.state {
                ThreadState::Dropping => return,
                ThreadState::Normal => ThreadState::Pressure,
                ThreadState::Pressure | ThreadState::Recovery => ThreadState::Dropping,
            };
            // A lost race (the drain moved the thread) just means: look again.
            let now = crate::clock::now_ticks();
            if entry.state.transition(&entry.counters, seen, step, now).is_ok() && step == ThreadState::Pressure {
                self.shared.signal.notify();
            }
        }
    }

    /// The pool ran low when this thread took a ring: NORMAL or RECOVERY → PRESSURE, and wake
    /// the drain (R-CORE-5).
    fn enter_pressure(&self) {
        let entry = self.entry();
        let seen = entry.state.get();
        if matches!(seen.state, ThreadState::Normal | ThreadState::Recovery)
            && entry.state.transition(&entry.counters, seen, ThreadState::Pressure, crate::clock::now_ticks()).is_ok()
        {
            self.shared.signal.notify();
        }
    }
}
