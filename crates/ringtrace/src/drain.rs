//! The drain thread: takes records out of every thread's rings, merges them by timestamp and
//! feeds the sinks (R-CORE-5).
//!
//! # A pass
//!
//! 1. For every registry slot that is not FREE: take the thread's full rings from its chain,
//!    oldest first, copy their records into the pass's arena and return the rings to the pool;
//!    then read the thread's *active* ring the same way (this is how partly filled rings are
//!    flushed). The active ring is read under the `reading` announcement described in
//!    `threads.rs`, and only once the chain is empty, so one thread's records always come out
//!    in recording order.
//! 2. A slot whose thread exited and whose rings are all drained has its counters folded into
//!    the runtime's totals and is freed for reuse.
//! 3. Sort the pass's records by timestamp (stable, with each thread's keys made monotonic, so
//!    a thread's order is never changed) and hold back those younger than `merge_window`: a
//!    thread may still be about to publish an older record. What is older goes to the sinks in
//!    batches of at most `batch_size`; the held-back records lead the next pass. So the merge
//!    is exact unless a thread is descheduled for longer than `merge_window` between reading
//!    the clock and publishing.
//!
//! # Sleeping
//!
//! After a pass that found records the drain keeps polling for a grace period (`GRACE`,
//! yielding), so under steady load it never parks and producers never pay for a wake-up. Then
//! it flushes the sinks and parks, with the protocol of `signal.rs`: *napping* (at most
//! `flush_interval`, so partly filled rings are flushed in time; producers wake it only on a
//! ring swap) while records arrived within `LINGER`, *asleep* (woken by the next record, with a
//! safety timeout of `IDLE_TIMEOUT`) after that. An idle drain wakes at most once per
//! `IDLE_TIMEOUT`.
//!
//! # Shutdown
//!
//! When `stop` is set the drain makes passes with no hold-back until one finds nothing, stops
//! the sinks in reverse order and reports.

use crate::backpressure::ThreadState;
use crate::diag::DiagnosticKind;
use crate::event::{Batch, CallsiteInfo, CallsiteTable, RecRef, ThreadInfo};
use crate::flight::{SnapshotError, SnapshotReport};
use crate::pool::NIL;
use crate::record::{Header, LossInfo, RecordKind, HEADER_LEN};
use crate::runtime::{panic_message, Shared, SinkPhase};
use crate::sink::Sink;
use crate::sync::Ordering;
use crate::threads::{occupied, DropReason, ThreadEntry, SLOT_EXITED};
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering as StdOrdering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the drain polls after finding work before it parks.
const GRACE: Duration = Duration::from_micros(200);
/// How long after the last record the drain naps (bounded sleeps) before it sleeps deeply.
const LINGER: Duration = Duration::from_millis(100);
/// The longest a deep sleep lasts without a wake-up (so an idle drain wakes ≤ 1/s).
const IDLE_TIMEOUT: Duration = Duration::from_secs(1);
/// How many times one pass retries reading a thread's active ring when it keeps swapping.
const ACTIVE_RETRIES: u32 = 4;
/// How often a long dispatch stops to check recovery (R-BP-2: detected within 1 s).
const RECOVERY_SWEEP: Duration = Duration::from_millis(5);
/// The arena's and the record list's first capacities (they grow as needed). Small under
/// loom, where every model iteration builds a drain and a megabyte each time is most of the
/// model's run time.
const INITIAL_ARENA: usize = if cfg!(feature = "loom") { 256 } else { 1 << 20 };
const INITIAL_REFS: usize = if cfg!(feature = "loom") { 8 } else { 16 * 1024 };
/// Upper bound on final passes at shutdown (threads may still be recording).
const MAX_FINAL_PASSES: u32 = 1000;

/// What the drain thread hands back when it finishes.
#[derive(Debug)]
pub(crate) struct DrainOutcome {
    /// Events kept in the rings on purpose (flight-recorder mode without sinks).
    pub retained_events: u64,
}

/// Events (not loss records) in a run of ring records.
fn count_events(records: &[u8]) -> u64 {
    crate::record::padded_records(records).filter(|(_, h)| h.kind() != Some(RecordKind::Loss)).count() as u64
}

/// The drain's view of one registry slot.
#[derive(Debug)]
struct SlotView {
    generation: u32,
    /// Index into `threads`.
    thread: u32,
    /// Last merge key handed out for this thread.
    last_key: u64,
    /// The thread's state word and counters when the drain last reported on them (for
    /// transition and serialization diagnostics).
    seen_word: (ThreadState, u64),
    seen_transitions: [u64; 16],
    seen_strict: [u64; 2],
}

/// A sink (its index in `sinks` is its index in `Shared::sink_stats`).
struct SinkSlot {
    sink: Box<dyn Sink>,
    /// Written to since the last flush.
    dirty: bool,
}

/// The drain thread's state.
pub(crate) struct Drain {
    shared: Arc<Shared>,
    sinks: Vec<SinkSlot>,
    /// Record bytes of the current pass (held-back records from the last pass first).
    arena: Vec<u8>,
    /// Spare arena, swapped in when held-back records are carried over.
    spare: Vec<u8>,
    refs: Vec<RecRef>,
    /// Thread descriptions referenced by `refs`.
    threads: Vec<ThreadInfo>,
    /// Indices of `threads` whose thread is gone, reusable once no held-back record refers
    /// to them.
    retired_threads: Vec<u32>,
    free_threads: Vec<u32>,
    slots: HashMap<usize, SlotView>,
    callsites: CallsiteTable,
    /// Some thread was not NORMAL after the last pass.
    unsettled: bool,
    /// The current pass gave rings back to the pool or released ring space (then blocked
    /// producers may proceed, whether or not it read records).
    released: bool,
}

impl std::fmt::Debug for Drain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Drain").field("sinks", &self.sinks.len()).field("threads", &self.threads.len()).finish()
    }
}

impl Drain {
    pub(crate) fn new(shared: Arc<Shared>, sinks: Vec<Box<dyn Sink>>) -> Self {
        Self {
            shared,
            sinks: sinks.into_iter().map(|sink| SinkSlot { sink, dirty: false }).collect(),
            arena: Vec::with_capacity(INITIAL_ARENA),
            spare: Vec::new(),
            refs: Vec::with_capacity(INITIAL_REFS),
            threads: Vec::new(),
            retired_threads: Vec::new(),
            free_threads: Vec::new(),
            slots: HashMap::new(),
            callsites: CallsiteTable::new(),
            unsettled: false,
            released: false,
        }
    }

    /// The drain thread's body.
    pub(crate) fn run(mut self) -> DrainOutcome {
        crate::producer::mark_drain_thread();
        // Before the drain can first sleep, so no wake-up can find the handle missing.
        self.shared.signal.set_thread(crate::sync::thread::current());
        let stats = &self.shared.clone();
        let stats = &stats.drain_stats;
        // Nothing recorded yet: start as if idle for a long time.
        let mut last_work: Option<Instant> = None;
        loop {
            stats.iterations.fetch_add(1, StdOrdering::Relaxed);
            // Acquire: pairs with the SeqCst store in `shutdown`.
            if self.shared.stop.load(Ordering::Acquire) {
                break;
            }
            // Acquire: pairs with the SeqCst store in `request_snapshot`; the request is in
            // the list (behind its mutex anyway).
            if self.shared.snapshot_pending.load(Ordering::Acquire) {
                self.serve_snapshots();
            }
            if let Some(path) = crate::flight::signalled_snapshot() {
                self.snapshot_for_signal(&path);
            }
            let found = self.pass(false);
            if found > 0 {
                stats.busy_passes.fetch_add(1, StdOrdering::Relaxed);
                last_work = Some(Instant::now());
                continue;
            }
            let since = last_work.map_or(Duration::MAX, crate::sync::elapsed);
            if since < GRACE {
                crate::sync::thread::yield_now();
                continue;
            }
            self.flush_sinks();
            // A thread that is not NORMAL needs recovery checks: nap, do not sleep. In
            // flight-recorder mode records are not the drain's work, so it naps (producers
            // wake a napping drain only on a thread exit or pressure, never per record) for as
            // long as a deep sleep; snapshots wake it themselves.
            let flight = self.keeps_rings(false);
            let deep = !flight && since >= LINGER && self.refs.is_empty() && !self.unsettled;
            // Without membarrier a deep sleep is still taken (see signal.rs): the idle budget
            // holds, and a record racing with the announcement waits at most IDLE_TIMEOUT.
            let _reliable = self.shared.signal.prepare(deep);
            if self.has_work() || self.shared.stop.load(Ordering::Acquire) {
                self.shared.signal.cancel();
                continue;
            }
            stats.sleeps.fetch_add(1, StdOrdering::Relaxed);
            let timeout = if deep {
                stats.deep_sleeps.fetch_add(1, StdOrdering::Relaxed);
                IDLE_TIMEOUT
            } else if !self.refs.is_empty() {
                // Held-back records: come back when they are old enough.
                self.shared.config.merge_window.max(Duration::from_micros(100))
            } else if flight {
                IDLE_TIMEOUT
            } else {
                self.shared.config.flush_interval
            };
            self.shared.signal.sleep(timeout);
        }
        self.finish()
    }

    /// Final passes, then stop the sinks in reverse order.
    fn finish(mut self) -> DrainOutcome {
        // Snapshots asked for before the shutdown are still taken.
        self.serve_snapshots();
        // The close handshake's wait (shutdown fenced and waited, but within its timeout):
        // from here on no producer touches this runtime's rings, counters or gaps, so the
        // final passes read everything and the gaps of live threads are ours to report.
        self.shared.wait_producers_outside(None);
        // Records the drain thread itself made (from sinks) go out in the final passes.
        crate::producer::retire_current_thread();
        for _ in 0..MAX_FINAL_PASSES {
            if self.pass(true) == 0 && self.refs.is_empty() {
                break;
            }
        }
        // Threads still dropping when intake stopped never wrote their last loss record (no
        // producer can touch a gap after the handshake above, `threads::LossGap`).
        let shared = self.shared.clone();
        for entry in shared.registry.iter() {
            if occupied(entry.slot.load(Ordering::Acquire)) {
                self.report_open_gap(entry);
            }
        }
        if !self.refs.is_empty() {
            self.dispatch(u64::MAX);
        }
        self.flush_sinks();
        let shared = self.shared.clone();
        for (i, slot) in self.sinks.iter_mut().enumerate().rev() {
            match catch_unwind(AssertUnwindSafe(|| slot.sink.stop())) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => shared.sink_failed(i, SinkPhase::Stop, e.to_string(), false),
                Err(p) => shared.sink_failed(i, SinkPhase::Stop, panic_message(&p), true),
            }
            let outputs = slot.sink.outputs();
            *shared.sink_stats[i].outputs.lock().unwrap_or_else(|e| e.into_inner()) = outputs;
        }
        // Flight-recorder mode without sinks keeps the live threads' records in the rings.
        let mut retained_events = 0;
        if self.keeps_rings(true) {
            for entry in shared.registry.iter() {
                if occupied(entry.slot.load(Ordering::Acquire)) {
                    retained_events += count_events(&self.peek_thread(entry));
                }
            }
        }
        DrainOutcome { retained_events }
    }

    /// Whether live threads' rings stay untouched: always in flight-recorder mode, except in
    /// the final passes when there are sinks to hand the records to.
    fn keeps_rings(&self, final_pass: bool) -> bool {
        self.shared.config.flight_recorder && (!final_pass || self.sinks.is_empty())
    }

    /// Fewer free rings than the pressure watermark (flight-recorder mode then hands exited
    /// threads' rings back to the pool).
    fn short_of_rings(&self) -> bool {
        self.shared.pool.free_list().free() < self.shared.pressure_below.max(1)
    }

    /// Takes every snapshot asked for so far (flight.rs).
    fn serve_snapshots(&mut self) {
        // SeqCst: a request pushed after this store sets the flag again.
        self.shared.snapshot_pending.store(false, Ordering::SeqCst);
        let requests = std::mem::take(&mut *self.shared.snapshots.lock().unwrap_or_else(|e| e.into_inner()));
        for r in requests {
            let result = match &r.path {
                Some(path) => self.take_snapshot(path),
                None => {
                    self.flush_now();
                    Ok(SnapshotReport { path: Default::default(), records: 0, threads: 0, bytes: 0 })
                }
            };
            let _ = r.reply.send(result);
        }
    }

    /// A snapshot asked for by a signal (`flight::snapshot_on_signal`): nobody waits for it,
    /// so the outcome goes to the diagnostics.
    fn snapshot_for_signal(&mut self, path: &std::path::Path) {
        let message = match self.take_snapshot(path) {
            Ok(r) => format!(
                "signal: snapshot of {} records from {} threads written to {}",
                r.records,
                r.threads,
                path.display()
            ),
            Err(e) => format!("signal: snapshot to {} failed: {e}", path.display()),
        };
        self.shared.diag.emit(DiagnosticKind::Snapshot, None, message);
    }

    /// Delivers everything the rings hold (no hold-back) and flushes the sinks (the panic
    /// hook; not in flight-recorder mode, whose records stay in the rings).
    fn flush_now(&mut self) {
        if !self.shared.config.flight_recorder {
            self.pass(true);
            if !self.refs.is_empty() {
                self.dispatch(u64::MAX);
            }
        }
        self.flush_sinks();
    }

    /// Copies every live thread's rings, without taking them, into a trace at `path`.
    fn take_snapshot(&mut self, path: &std::path::Path) -> Result<SnapshotReport, SnapshotError> {
        let shared = self.shared.clone();
        let mut threads = Vec::new();
        for entry in shared.registry.iter() {
            if !occupied(entry.slot.load(Ordering::Acquire)) {
                continue;
            }
            let records = self.peek_thread(entry);
            if records.is_empty() {
                continue;
            }
            let info = ThreadInfo {
                id: entry.thread_id.load(StdOrdering::Relaxed),
                name: entry.name.lock().map(|n| n.to_string()).unwrap_or_default(),
                os_tid: entry.os_tid.load(StdOrdering::Relaxed),
            };
            threads.push((info, records));
        }
        let (trace, records) = crate::flight::write_trace(&shared.clock, &threads);
        // Mode 0600, through `PATH.partial` and a rename: a reader never sees half a snapshot.
        crate::flight::write_private(path, &trace).map_err(SnapshotError::Io)?;
        Ok(SnapshotReport {
            path: path.to_path_buf(),
            records,
            threads: threads.len() as u64,
            bytes: trace.len() as u64,
        })
    }

    /// Copies a thread's committed records, oldest first, without taking its rings
    /// (`ThreadEntry::peek_rings`). Each record is padded to 8 bytes, as in a ring.
    fn peek_thread(&self, entry: &ThreadEntry) -> Vec<u8> {
        let pool = &self.shared.pool;
        let mut out = Vec::new();
        let copy = |out: &mut Vec<u8>, ring: u32| {
            // SAFETY: the caller holds the `reading` announcement for `ring`, so no producer
            // resets it during the copy, and the drain (this thread) is its only reader;
            // base/size are the pool's.
            unsafe {
                pool.ctl(ring).peek(pool.base(ring), pool.ring_size(), |_, rec| {
                    out.extend_from_slice(rec);
                    out.resize(out.len() + (crate::record::align8(rec.len()) - rec.len()), 0);
                })
            };
        };
        entry.peek_rings(ACTIVE_RETRIES, |ring| copy(&mut out, ring));
        out
    }

    /// Whether any ring has unread records or any chain holds a full ring (in flight-recorder
    /// mode: whether a thread exited), or a snapshot is asked for.
    fn has_work(&self) -> bool {
        let pool = &self.shared.pool;
        // Acquire: as in `run`.
        if self.shared.snapshot_pending.load(Ordering::Acquire) {
            return true;
        }
        let keep = self.keeps_rings(false);
        self.shared.registry.iter().any(|e| {
            if !occupied(e.slot.load(Ordering::Acquire)) {
                return false;
            }
            if keep {
                return e.slot.load(Ordering::Acquire) == SLOT_EXITED && self.short_of_rings();
            }
            if e.slot.load(Ordering::Acquire) == SLOT_EXITED {
                return true;
            }
            if e.chain_len() > 0 {
                return true;
            }
            // Acquire: pairs with the producer's Release store of `active`; the fences of the
            // NAPPING/ASLEEP pairs (signal.rs) order it after the state announcement.
            let a = e.active.load(Ordering::Acquire);
            a != NIL && !pool.ctl(a).is_drained()
        })
    }

    /// One pass (module doc). Returns the number of records read from rings.
    pub(crate) fn pass(&mut self, final_pass: bool) -> usize {
        let shared = self.shared.clone();
        let now = crate::clock::now_ticks();
        let window = shared.clock.ns_to_ticks(shared.config.merge_window.as_nanos() as u64);
        let cutoff = if final_pass { u64::MAX } else { now.saturating_sub(window) };
        let mut read = 0;
        let mut unsettled = false;
        let keep = self.keeps_rings(final_pass);
        for entry in shared.registry.iter() {
            let state = entry.slot.load(Ordering::Acquire);
            if !occupied(state) {
                continue;
            }
            // Flight-recorder mode: a thread's records stay in its rings, also after it exits
            // (its last records may be the ones that matter), until the pool runs short of
            // free rings: then exited threads' records go to the sinks and their rings return
            // to the pool.
            if keep && !(state == SLOT_EXITED && self.short_of_rings()) {
                // The pool does not refill in this mode, so a thread that is not NORMAL stays
                // so: no reason to keep napping for its recovery.
                Self::check_recovery(&shared, entry, now);
                self.report_changes(entry);
                continue;
            }
            read += self.collect_thread(entry);
            if state == SLOT_EXITED && entry.chain_len() == 0 && entry.active.load(Ordering::Acquire) == NIL {
                self.retire_slot(entry);
                continue;
            }
            unsettled |= Self::check_recovery(&shared, entry, now);
            self.report_changes(entry);
        }
        self.unsettled = unsettled;
        // Rings went back to the pool or ring space was released (also by rings that held no
        // records: an exited thread's empty ring, pad-only space): blocked producers may
        // proceed.
        let released = if crate::sync::weaken::active(crate::sync::Mutation::WakeOnlyOnRecords) {
            read > 0
        } else {
            std::mem::take(&mut self.released)
        };
        if released {
            shared.waiters.wake_all();
        }
        if !self.refs.is_empty() {
            self.dispatch(cutoff);
        }
        read
    }

    /// After a pass (R-BP-2): PRESSURE/DROPPING → RECOVERY once the pool has recovered (and a
    /// DROPPING thread has room again), RECOVERY → NORMAL after `stability_period` without new
    /// pressure. Returns whether the thread is not NORMAL (the drain then keeps napping, not
    /// sleeping, so it can finish the recovery). A lost CAS race means the producer moved the
    /// thread meanwhile: nothing to do until the next pass.
    fn check_recovery(shared: &Shared, entry: &ThreadEntry, now: u64) -> bool {
        let seen = entry.state.get();
        let (state, since) = (seen.state, seen.since);
        if state == ThreadState::Normal {
            return false;
        }
        let free = shared.pool.free_list().free();
        let to = match state {
            ThreadState::Pressure if free >= shared.recovery_at => ThreadState::Recovery,
            ThreadState::Dropping if free >= shared.recovery_at && Self::has_room(shared, entry) => {
                ThreadState::Recovery
            }
            ThreadState::Recovery
                if free >= shared.pressure_below
                    && now.saturating_sub(since)
                        >= shared.clock.ns_to_ticks(shared.config.stability_period.as_nanos() as u64) =>
            {
                ThreadState::Normal
            }
            _ => return true,
        };
        // A lost CAS: the producer moved the thread after `seen` was read, so the decision
        // is void (the thread is not NORMAL either way; the next pass decides again).
        entry.state.transition(&entry.counters, seen, to, now).is_err() || to != ThreadState::Normal
    }

    /// [`check_recovery`](Self::check_recovery) over every registered thread, as a pass
    /// does, from any thread (benchmarks only: `Guard::__recovery_check`). Returns the threads
    /// that are not NORMAL afterwards. Registry nodes are never freed while the runtime lives,
    /// so the walk is safe beside the drain; a transition is one CAS, so a race with the
    /// drain's own check has one winner and counts once.
    pub(crate) fn recovery_check_all(shared: &Shared) -> usize {
        let now = crate::clock::now_ticks();
        shared
            .registry
            .iter()
            .filter(|e| occupied(e.slot.load(Ordering::Acquire)))
            .map(|e| usize::from(Self::check_recovery(shared, e, now)))
            .sum()
    }

    /// Whether a thread can record again: below its ring quota, or its active ring has room.
    fn has_room(shared: &Shared, entry: &ThreadEntry) -> bool {
        let pool = &shared.pool;
        // Acquire: pairs with the producer's Release store of `active`.
        let active = entry.active.load(Ordering::Acquire);
        let held = entry.chain_len() as usize + usize::from(active != NIL);
        held < shared.config.max_rings_per_thread
            || (active != NIL && pool.ctl(active).used() as usize <= pool.ring_size() / 2)
    }

    /// Diagnostics for what changed on a thread since the last pass: state transitions
    /// (R-BP-1: old state, new state, thread, pool free count) and strict-mode drops
    /// (R-LIFE-3). Counts are exact; diagnostics are rate-limited.
    fn report_changes(&mut self, entry: &ThreadEntry) {
        let key = entry as *const ThreadEntry as usize;
        let Some(view) = self.slots.get_mut(&key) else { return };
        let word = {
            let w = entry.state.get();
            (w.state, w.since)
        };
        let strict = [DropReason::Oversized, DropReason::Invalid]
            .map(|r| entry.counters.dropped[r.index()].load(StdOrdering::Relaxed));
        if word == view.seen_word && strict == view.seen_strict {
            return;
        }
        let shared = &self.shared;
        let name = &self.threads[view.thread as usize].name;
        if word != view.seen_word {
            view.seen_word = word;
            let free = shared.pool.free_list().free();
            for from in ThreadState::ALL {
                for to in ThreadState::ALL {
                    let i = from.pair(to);
                    let n = entry.counters.transitions[i].load(StdOrdering::Relaxed);
                    let new = n.saturating_sub(view.seen_transitions[i]);
                    view.seen_transitions[i] = n;
                    if new > 0 {
                        let times = if new > 1 { format!(" ({new} times)") } else { String::new() };
                        shared.diag.emit(
                            DiagnosticKind::StateTransition,
                            None,
                            format!(
                                "thread {name:?}: {from}->{to}{times}; pool {free} of {} rings free",
                                shared.pool.ring_count()
                            ),
                        );
                    }
                }
            }
        }
        for (i, reason) in [DropReason::Oversized, DropReason::Invalid].into_iter().enumerate() {
            let new = strict[i].saturating_sub(view.seen_strict[i]);
            view.seen_strict[i] = strict[i];
            if new > 0 {
                shared.diag.emit(
                    DiagnosticKind::Serialization,
                    None,
                    format!(
                        "strict serialization: thread {name:?} dropped {new} event(s): {} (max_record_size {})",
                        if reason == DropReason::Oversized {
                            "larger than max_record_size"
                        } else {
                            "an argument failed to format"
                        },
                        shared.config.max_record_size
                    ),
                );
            }
        }
    }

    /// Delivers a loss record for a gap the thread could not report itself (it exited, or the
    /// runtime is shutting down, while it was dropping).
    fn report_open_gap(&mut self, entry: &ThreadEntry) {
        // The caller observed EXITED (Acquire), or the close handshake is done: the producer
        // no longer writes the gap (`threads::LossGap`).
        let loss = entry.gap.take();
        if loss.events == 0 {
            return;
        }
        let key = entry as *const ThreadEntry as usize;
        let tidx = self.thread_index(entry, key, entry.generation.load(StdOrdering::Relaxed));
        let view = self.slots.get_mut(&key).expect("slot registered by thread_index");
        let len = HEADER_LEN + LossInfo::LEN;
        let h = Header { size: len as u16, flags: RecordKind::Loss.bits(), id: 0, ts: loss.first_ticks };
        let offset = self.arena.len();
        self.arena.extend_from_slice(&h.to_bytes());
        self.arena.extend_from_slice(&loss.to_bytes());
        view.last_key = view.last_key.max(h.ts);
        self.refs.push(RecRef { key: view.last_key, thread: tidx, offset, len: len as u32 });
        self.shared.drain_stats.loss_records.fetch_add(1, StdOrdering::Relaxed);
    }

    /// Reads a thread's chain then its active ring (module doc).
    fn collect_thread(&mut self, entry: &ThreadEntry) -> usize {
        let shared = self.shared.clone();
        let pool = &shared.pool;
        let mut read = 0;
        let mut tries = 0;
        loop {
            while let Some(ring) = entry.take_oldest() {
                read += self.consume(entry, ring);
                pool.ctl(ring).reset();
                pool.free_list().push(ring);
                self.released = true;
            }
            // Acquire: pairs with the producer's Release store in a swap, so the chain push
            // that preceded it is visible to the chain check in `begin_active_read`.
            let active = entry.active.load(Ordering::Acquire);
            if active == NIL || pool.ctl(active).is_drained() {
                break;
            }
            let Some(_read) = entry.begin_active_read(active) else {
                // Swapped meanwhile: its older rings are in the chain now. Take them first.
                tries += 1;
                if tries >= ACTIVE_RETRIES {
                    break;
                }
                continue;
            };
            // The guard withdraws the announcement when this scope ends, also on unwind.
            read += self.consume(entry, active);
            break;
        }
        read
    }

    /// Copies every record of `ring` into the arena.
    fn consume(&mut self, entry: &ThreadEntry, ring: u32) -> usize {
        let shared = self.shared.clone();
        let pool = &shared.pool;
        let key = entry as *const ThreadEntry as usize;
        let generation = entry.generation.load(StdOrdering::Relaxed);
        let tidx = self.thread_index(entry, key, generation);
        let view = self.slots.get_mut(&key).expect("slot registered by thread_index");
        let (arena, refs, callsites) = (&mut self.arena, &mut self.refs, &mut self.callsites);
        let mut events = 0u64;
        let mut losses = 0u64;
        let mut truncated = 0u64;
        // SAFETY: `ring` is either taken from the chain (we own it) or the active ring under
        // the `reading` announcement; the drain is the only consumer; base/size are the pool's.
        let consumed = unsafe {
            pool.ctl(ring).consume(pool.base(ring), pool.ring_size(), |h: Header, rec: &[u8]| {
                let offset = arena.len();
                arena.extend_from_slice(rec);
                view.last_key = view.last_key.max(h.ts);
                refs.push(RecRef { key: view.last_key, thread: tidx, offset, len: rec.len() as u32 });
                if h.flags & crate::record::FLAG_TRUNCATED != 0 {
                    truncated += 1;
                }
                match h.kind() {
                    Some(RecordKind::Event) => {
                        events += 1;
                        if !callsites.contains(h.id) {
                            let info = crate::callsite::lookup(h.id)
                                .map_or_else(|| CallsiteInfo::unknown(h.id), |m| CallsiteInfo::from_metadata(h.id, m));
                            callsites.insert(info);
                        }
                    }
                    Some(RecordKind::Loss) => losses += 1,
                    _ => events += 1,
                }
            })
        };
        if consumed.corrupt {
            shared.drain_stats.corrupt_rings.fetch_add(1, StdOrdering::Relaxed);
            shared.diag.emit(
                crate::diag::DiagnosticKind::CorruptRing,
                None,
                format!(
                    "ring {ring} of thread {:?} held an unreadable record; the rest of it was skipped",
                    self.threads[tidx as usize].name
                ),
            );
        }
        // Relaxed: a count (only the drain writes it).
        if truncated > 0 {
            shared.diag.emit(
                DiagnosticKind::Serialization,
                None,
                format!(
                    "best_effort serialization: {truncated} event(s) of thread {:?} were cut to fit max_record_size ({} bytes); \
                     the output marks them [truncated] / \"truncated\":true",
                    self.threads[tidx as usize].name, shared.config.max_record_size
                ),
            );
        }
        entry.counters.delivered.fetch_add(events, StdOrdering::Relaxed);
        shared.drain_stats.loss_records.fetch_add(losses, StdOrdering::Relaxed);
        self.released |= consumed.bytes > 0;
        consumed.records as usize
    }

    /// The `threads` index for a slot's current occupant, creating it on first sight.
    fn thread_index(&mut self, entry: &ThreadEntry, key: usize, generation: u32) -> u32 {
        if let Some(v) = self.slots.get(&key) {
            if v.generation == generation {
                return v.thread;
            }
        }
        let info = ThreadInfo {
            id: entry.thread_id.load(StdOrdering::Relaxed),
            name: entry.name.lock().map(|n| n.to_string()).unwrap_or_default(),
            os_tid: entry.os_tid.load(StdOrdering::Relaxed),
        };
        let idx = match self.free_threads.pop() {
            Some(i) => {
                self.threads[i as usize] = info;
                i
            }
            None => {
                self.threads.push(info);
                (self.threads.len() - 1) as u32
            }
        };
        let view = SlotView {
            generation,
            thread: idx,
            last_key: 0,
            seen_word: (ThreadState::Normal, 0),
            seen_transitions: [0; 16],
            seen_strict: [0; 2],
        };
        if let Some(old) = self.slots.insert(key, view) {
            self.retired_threads.push(old.thread);
        }
        idx
    }

    /// An exited thread's rings are all drained: fold its counters and free the slot.
    fn retire_slot(&mut self, entry: &ThreadEntry) {
        self.report_open_gap(entry);
        let shared = self.shared.clone();
        let reg = &shared.registry;
        reg.retired.absorb(&entry.counters);
        // Relaxed: a count; the producer's last `leave` came before its EXITED store, which
        // the caller observed with Acquire.
        reg.retired.committed.fetch_add(entry.presence.committed(), StdOrdering::Relaxed);
        reg.retired_threads.fetch_add(1, StdOrdering::Relaxed);
        if let Some(v) = self.slots.remove(&(entry as *const ThreadEntry as usize)) {
            self.retired_threads.push(v.thread);
        }
        entry.reset_for_reuse();
    }

    /// Sorts, hands the records older than `cutoff` to the sinks, carries the rest.
    fn dispatch(&mut self, cutoff: u64) {
        // Stable: equal keys keep their (per-thread, recording) order. Keys are monotonic per
        // thread, so with one busy thread the refs are usually in order already: check first,
        // because the stable sort allocates (and for a large pass maps and unmaps) a scratch
        // buffer every time.
        if !self.refs.is_sorted_by_key(|r| r.key) {
            self.refs.sort_by_key(|r| r.key);
        }
        let ready = self.refs.partition_point(|r| r.key <= cutoff);
        let shared = self.shared.clone();
        let batch_size = shared.config.batch_size;
        let mut last_sweep = Instant::now();
        for chunk in self.refs[..ready].chunks(batch_size) {
            // A long backlog takes many batches: keep checking recovery meanwhile, so a thread
            // is not held in DROPPING or RECOVERY while the drain formats old records.
            if crate::sync::elapsed(last_sweep) >= RECOVERY_SWEEP {
                last_sweep = Instant::now();
                let now = crate::clock::now_ticks();
                for entry in shared.registry.iter() {
                    if occupied(entry.slot.load(Ordering::Acquire)) {
                        Self::check_recovery(&shared, entry, now);
                    }
                }
            }
            let batch = Batch::new(chunk, &self.arena, &self.threads, &self.callsites, &shared.clock);
            shared.drain_stats.batches.fetch_add(1, StdOrdering::Relaxed);
            for (i, slot) in self.sinks.iter_mut().enumerate() {
                let n = chunk.len() as u64;
                let stats = &shared.sink_stats[i];
                slot.dirty = true;
                match catch_unwind(AssertUnwindSafe(|| slot.sink.write_batch(&batch))) {
                    Ok(Ok(())) => {
                        stats.batches.fetch_add(1, StdOrdering::Relaxed);
                        stats.written.fetch_add(n, StdOrdering::Relaxed);
                    }
                    Ok(Err(e)) => {
                        stats.dropped.fetch_add(n, StdOrdering::Relaxed);
                        shared.sink_failed(i, SinkPhase::Write, format!("batch of {n} events lost: {e}"), false);
                    }
                    Err(p) => {
                        stats.dropped.fetch_add(n, StdOrdering::Relaxed);
                        shared.sink_failed(
                            i,
                            SinkPhase::Write,
                            format!("batch of {n} events lost: {}", panic_message(&p)),
                            true,
                        );
                    }
                }
            }
        }
        // Carry the held-back records into a fresh arena.
        self.spare.clear();
        for r in &mut self.refs[ready..] {
            let start = r.offset;
            r.offset = self.spare.len();
            self.spare.extend_from_slice(&self.arena[start..start + r.len as usize]);
        }
        self.refs.drain(..ready);
        std::mem::swap(&mut self.arena, &mut self.spare);
        // Thread descriptions no held-back record refers to can be reused.
        if !self.retired_threads.is_empty() {
            let refs = &self.refs;
            let free = &mut self.free_threads;
            self.retired_threads.retain(|&t| {
                let still_used = refs.iter().any(|r| r.thread == t);
                if !still_used {
                    free.push(t);
                }
                still_used
            });
        }
    }

    fn flush_sinks(&mut self) {
        let shared = self.shared.clone();
        for (i, slot) in self.sinks.iter_mut().enumerate() {
            if !std::mem::take(&mut slot.dirty) {
                continue;
            }
            match catch_unwind(AssertUnwindSafe(|| slot.sink.flush())) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => shared.sink_failed(i, SinkPhase::Flush, e.to_string(), false),
                Err(p) => shared.sink_failed(i, SinkPhase::Flush, panic_message(&p), true),
            }
        }
    }
}
