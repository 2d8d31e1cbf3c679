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

use crate::event::{Batch, CallsiteInfo, CallsiteTable, RecRef, ThreadInfo};
use crate::pool::NIL;
use crate::record::{Header, RecordKind};
use crate::runtime::{panic_message, Shared, SinkPhase};
use crate::sink::Sink;
use crate::sync::Ordering;
use crate::threads::{ThreadEntry, SLOT_EXITED, SLOT_FREE};
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
/// Upper bound on final passes at shutdown (threads may still be recording).
const MAX_FINAL_PASSES: u32 = 1000;

/// What the drain thread hands back when it finishes.
#[derive(Debug)]
pub(crate) struct DrainOutcome {
    /// Bytes still in rings after the final pass (records made during shutdown).
    pub undelivered_bytes: u64,
}

/// The drain's view of one registry slot.
#[derive(Debug)]
struct SlotView {
    generation: u32,
    /// Index into `threads`.
    thread: u32,
    /// Last merge key handed out for this thread.
    last_key: u64,
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
            arena: Vec::with_capacity(1 << 20),
            spare: Vec::new(),
            refs: Vec::with_capacity(16 * 1024),
            threads: Vec::new(),
            retired_threads: Vec::new(),
            free_threads: Vec::new(),
            slots: HashMap::new(),
            callsites: CallsiteTable::new(),
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
            let found = self.pass(false);
            if found > 0 {
                stats.busy_passes.fetch_add(1, StdOrdering::Relaxed);
                last_work = Some(Instant::now());
                continue;
            }
            let since = last_work.map_or(Duration::MAX, |t| t.elapsed());
            if since < GRACE {
                std::thread::yield_now();
                continue;
            }
            self.flush_sinks();
            let deep = since >= LINGER && self.refs.is_empty();
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
            } else {
                self.shared.config.flush_interval
            };
            self.shared.signal.sleep(timeout);
        }
        self.finish()
    }

    /// Final passes, then stop the sinks in reverse order.
    fn finish(mut self) -> DrainOutcome {
        // Records the drain thread itself made (from sinks) go out in the final passes.
        crate::producer::retire_current_thread();
        for _ in 0..MAX_FINAL_PASSES {
            if self.pass(true) == 0 && self.refs.is_empty() {
                break;
            }
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
        let pool = &self.shared.pool;
        let undelivered_bytes = (0..pool.ring_count() as u32).map(|i| pool.ctl(i).used()).sum();
        DrainOutcome { undelivered_bytes }
    }

    /// Whether any ring has unread records or any chain holds a full ring.
    fn has_work(&self) -> bool {
        let pool = &self.shared.pool;
        self.shared.registry.iter().any(|e| {
            if e.slot.load(Ordering::Acquire) == SLOT_FREE {
                return false;
            }
            if e.chain_len() > 0 || e.slot.load(Ordering::Acquire) == SLOT_EXITED {
                return true;
            }
            // SeqCst: part of the NAPPING/ASLEEP Dekker pairs (signal.rs).
            let a = e.active.load(Ordering::SeqCst);
            a != NIL && !pool.ctl(a).is_drained()
        })
    }

    /// One pass (module doc). Returns the number of records read from rings.
    fn pass(&mut self, final_pass: bool) -> usize {
        let shared = self.shared.clone();
        let now = crate::clock::now_ticks();
        let window = shared.clock.ns_to_ticks(shared.config.merge_window.as_nanos() as u64);
        let cutoff = if final_pass { u64::MAX } else { now.saturating_sub(window) };
        let mut read = 0;
        for entry in shared.registry.iter() {
            let state = entry.slot.load(Ordering::Acquire);
            if state == SLOT_FREE {
                continue;
            }
            read += self.collect_thread(entry);
            if state == SLOT_EXITED && entry.chain_len() == 0 && entry.active.load(Ordering::SeqCst) == NIL {
                self.retire_slot(entry);
            }
        }
        if !self.refs.is_empty() {
            self.dispatch(cutoff);
        }
        read
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
            }
            // SeqCst: the active-ring Dekker pair (threads.rs).
            let active = entry.active.load(Ordering::SeqCst);
            if active == NIL || pool.ctl(active).is_drained() {
                break;
            }
            entry.reading.store(active, Ordering::SeqCst);
            if entry.active.load(Ordering::SeqCst) != active || entry.chain_len() > 0 {
                // Swapped meanwhile: its older rings are in the chain now. Take them first.
                // Release: pairs with the producer's SeqCst load of `reading`.
                entry.reading.store(NIL, Ordering::Release);
                tries += 1;
                if tries >= ACTIVE_RETRIES {
                    break;
                }
                continue;
            }
            read += self.consume(entry, active);
            // Release: our reads of the ring are done before a reclaiming producer reuses it.
            entry.reading.store(NIL, Ordering::Release);
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
        // SAFETY: `ring` is either taken from the chain (we own it) or the active ring under
        // the `reading` announcement; the drain is the only consumer; base/size are the pool's.
        let consumed = unsafe {
            pool.ctl(ring).consume(pool.base(ring), pool.ring_size(), |h: Header, rec: &[u8]| {
                let offset = arena.len();
                arena.extend_from_slice(rec);
                view.last_key = view.last_key.max(h.ts);
                refs.push(RecRef { key: view.last_key, thread: tidx, offset, len: rec.len() as u32 });
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
        entry.counters.delivered.fetch_add(events, StdOrdering::Relaxed);
        shared.drain_stats.loss_records.fetch_add(losses, StdOrdering::Relaxed);
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
        if let Some(old) = self.slots.insert(key, SlotView { generation, thread: idx, last_key: 0 }) {
            self.retired_threads.push(old.thread);
        }
        idx
    }

    /// An exited thread's rings are all drained: fold its counters and free the slot.
    fn retire_slot(&mut self, entry: &ThreadEntry) {
        let shared = self.shared.clone();
        let reg = &shared.registry;
        reg.retired.absorb(&entry.counters);
        reg.retired_threads.fetch_add(1, StdOrdering::Relaxed);
        if let Some(v) = self.slots.remove(&(entry as *const ThreadEntry as usize)) {
            self.retired_threads.push(v.thread);
        }
        entry.reset_for_reuse();
    }

    /// Sorts, hands the records older than `cutoff` to the sinks, carries the rest.
    fn dispatch(&mut self, cutoff: u64) {
        // Stable: equal keys keep their (per-thread, recording) order.
        self.refs.sort_by_key(|r| r.key);
        let ready = self.refs.partition_point(|r| r.key <= cutoff);
        let shared = self.shared.clone();
        let batch_size = shared.config.batch_size;
        for chunk in self.refs[..ready].chunks(batch_size) {
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
