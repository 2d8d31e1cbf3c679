//! The drain thread and nothing else runs this: it takes records out of every thread's rings,
//! merges them by timestamp and feeds the sinks (R-CORE-5, R-CORE-9), and serves the
//! requests other threads post to it (snapshots, flushes).
//!
//! # A pass
//!
//! A pass is bounded: it serves every thread once, takes at most one quota of rings from each,
//! and hands rings back to the pool as soon as their records are out — also between the
//! batches of a long dispatch.
//!
//! 1. **Collect**, for every registry slot that is not FREE: take the thread's full rings from
//!    its chain, oldest first, while the drain holds fewer than `max_rings_per_thread` of them
//!    (the drain *holds* a ring it took: no copy, until its records are out; so a thread's
//!    rings number at most twice its quota: its active ring and chain, and what the drain
//!    holds of it). Each ring taken is walked once: its headers are
//!    checked, its events counted, new callsites looked up. Then, if the chain is empty and
//!    nothing of the thread is still held, its *active* ring is read under the reading
//!    announcement (`rings/slot.rs`) — this is how partly filled rings are flushed — and its
//!    records up to the merge cutoff are copied into the thread's copy buffer (at most one
//!    ring's worth) and released at once, so a producer never waits on the drain's sinks.
//! 2. **Raw sinks** (`Sink::takes_raw`, the binary trace) get every thread's records taken in
//!    this pass, as they lie in the rings (`RawBatch`), in one call per pass.
//! 3. **Merge and dispatch** for the other sinks: a k-way merge over the threads' held rings and
//!    copy buffers by timestamp (each thread's keys made monotonic, so a thread's order never
//!    changes), up to the merge cutoff — `merge_window` before the pass started: a thread may
//!    still publish a record older than that — in batches of at most `batch_size`. What is
//!    younger stays where it is (in a held ring, or in the active ring) for a later pass: it
//!    is never copied again. After each batch the rings whose records are all out go back to
//!    the pool and blocked producers are woken. So the merge is exact unless a thread is
//!    descheduled for longer than `merge_window` between reading the clock and publishing.
//! 4. A slot whose thread exited and whose rings are all drained has its counters folded into
//!    the runtime's totals and is freed for reuse.
//!
//! # Memory
//!
//! The drain's heap does not grow with the load or with a slow sink: records are read in
//! place from the rings they are in (pool memory), the copy buffers hold at most one ring of
//! each live thread (`ring_size` × threads), and the merge keeps one batch of references
//! (`batch_size`) and a heap entry per thread. When a sink is slower than the producers the
//! rings stay full, the producers' quota and the pool run out, and the backpressure policy
//! applies.
//!
//! # Sleeping
//!
//! After a pass that found records the drain keeps polling for a grace period (`GRACE`,
//! yielding), so under steady load it never parks and producers never pay for a wake-up. Then
//! it flushes the sinks and parks, with the protocol of `sync/wake.rs`: *napping* (at most
//! `flush_interval`, so partly filled rings are flushed in time; producers wake it only on a
//! thread exit, on entering PRESSURE or for a `Block` wait, never per record or per swap)
//! while records arrived within `LINGER`, *asleep* (woken by the next record, with a
//! safety timeout of `IDLE_TIMEOUT`) after that. An idle drain wakes at most once per
//! `IDLE_TIMEOUT`.
//!
//! # Shutdown
//!
//! When `stop` is set the drain makes passes with no hold-back until one finds nothing, stops
//! the sinks in reverse order and reports.

use crate::backpressure::drops::DropReason;
use crate::backpressure::ThreadState;
use crate::diag::panic_message;
use crate::diag::DiagnosticKind;
use crate::output::event::{Batch, CallsiteInfo, CallsiteTable, RecRef, Seg, ThreadInfo};
use crate::output::sink::SinkPhase;
use crate::output::sink::{RawBatch, RawRun, Sink};
use crate::rings::pool::NIL;
use crate::rings::ring::RecordAt;
use crate::rings::slot::{occupied, ThreadEntry, SLOT_EXITED};
use crate::shared::{DrainAccess, Shared};
use crate::sync::Ordering;
use crate::wire::record::{align8, Header, MergeKey, RecordKind, FLAG_TRUNCATED, HEADER_LEN};
use std::collections::{HashMap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering as StdOrdering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the drain polls after finding work before it parks.
const GRACE: Duration = Duration::from_micros(200);
/// How long after the last record the drain naps (bounded sleeps) before it sleeps deeply.
const LINGER: Duration = Duration::from_millis(100);
/// The longest nap: producers do not wake a napping drain when they swap a ring out (a swap
/// makes no system call), so the nap's own end is what finds the ring: within half a
/// millisecond plus the timer's slack, inside R-CORE-5's 1 ms (MISSION §7 "drain wake latency
/// after a swap, p99 ≤ 1 ms"). A drain naps only for `LINGER` after work, so this costs at
/// most 200 timer wake-ups per idle spell (a few µs of the drain's CPU each), none when idle.
const NAP_LIMIT: Duration = Duration::from_micros(500);
/// The longest a deep sleep lasts without a wake-up (so an idle drain wakes ≤ 1/s).
const IDLE_TIMEOUT: Duration = Duration::from_secs(1);
/// How many times one pass retries reading a thread's active ring when it keeps swapping.
const ACTIVE_RETRIES: u32 = 4;
/// How often a long dispatch stops to check recovery (R-BP-2: detected within 1 s).
const RECOVERY_SWEEP: Duration = Duration::from_millis(5);
/// Upper bound on final passes at shutdown.
const MAX_FINAL_PASSES: u32 = 100_000;

/// What the drain thread hands back when it finishes.
#[derive(Debug)]
pub(crate) struct DrainOutcome {
    /// Events kept in the rings on purpose (flight-recorder mode without sinks).
    pub retained_events: u64,
}

/// Events (not loss records) in a run of ring records.
fn count_events(records: &[u8]) -> u64 {
    crate::wire::record::padded_records(records).filter(|(_, h)| h.kind() != Some(RecordKind::Loss)).count() as u64
}

/// A ring the drain took from a thread's chain and holds until its records are out.
#[derive(Debug)]
struct Held {
    ring: u32,
    /// The ring's memory (`ring_size` bytes of the pool) and control block.
    mem: *const u8,
    ctl: *const crate::rings::ring::RingCtl,
    /// The next ring position to merge (records before it are dispatched).
    pos: u64,
    /// The end of the ring's committed records (where the collection walk stopped).
    end: u64,
}

/// The drain's view of one thread (a registry slot's occupant): its description, its merge
/// state and the records the drain holds for it.
#[derive(Debug)]
struct View {
    /// The slot (its address), while the view belongs to it; 0 once the slot was retired.
    slot: usize,
    generation: u32,
    /// Last merge key handed out for this thread.
    last_key: MergeKey,
    /// The thread's state word and counters when the drain last reported on them (for
    /// transition and serialization diagnostics).
    seen_word: (ThreadState, u64),
    seen_transitions: [u64; 16],
    seen_strict: [u64; 2],
    /// Rings taken from the chain, oldest first.
    held: VecDeque<Held>,
    /// The first held ring not merged to its end (those before it go back after the batch).
    cur: usize,
    /// Records copied out of the active ring (padded, as in a ring), after those in `held`.
    copy: Vec<u8>,
    /// The next offset of `copy` to merge.
    copy_pos: usize,
    /// The end of what of `copy` the raw sinks have.
    copy_raw: usize,
    /// The active ring and its tail when the last pass left records in it as too young to
    /// merge.
    young: Option<(u32, u64)>,
    /// The merge key of the thread's next record, if it has one at or before the cutoff
    /// (computed by `advance`).
    next: Option<(u64, Cursor)>,
    /// The batch segment of the ring or copy buffer last emitted from: (batch number, which,
    /// segment) — see `Drain::emit`.
    seg_cache: (u64, u32, u32),
    /// When the drain first saw this thread, in order (never reused): equal merge keys of two
    /// threads go to the one seen first, as a trace reader orders them (threads in the order
    /// they are described).
    seq: u64,
}

/// Where a view's next record to merge is.
#[derive(Debug, Clone, Copy)]
enum Cursor {
    /// In `held[0]`, at this offset of the ring's memory, with this padded length.
    Held { off: usize, len: usize, size: u32 },
    /// In `copy`, at this offset.
    Copy { off: usize, len: usize, size: u32 },
}

impl View {
    fn new(slot: usize, generation: u32, seq: u64) -> Self {
        Self {
            seg_cache: (u64::MAX, 0, 0),
            seq,
            slot,
            generation,
            last_key: MergeKey::default(),
            seen_word: (ThreadState::Normal, 0),
            seen_transitions: [0; 16],
            seen_strict: [0; 2],
            held: VecDeque::new(),
            cur: 0,
            copy: Vec::new(),
            copy_pos: 0,
            copy_raw: 0,
            young: None,
            next: None,
        }
    }

    /// Whether the drain still holds records of this thread.
    fn pending(&self) -> bool {
        !self.held.is_empty() || self.copy_pos < self.copy.len()
    }

    /// Held rings merged to their end (they can go back to the pool).
    fn merged_rings(&self) -> usize {
        self.cur
    }
}

/// A sink (its index in `sinks` is its index in `Shared::sink_stats`).
struct SinkSlot {
    sink: Box<dyn Sink>,
    /// It takes records raw (`Sink::takes_raw`, asked once).
    raw: bool,
    /// Written to since the last flush.
    dirty: bool,
}

/// One run of a pass's records for the raw sinks: (view, start, length, events, losses); the
/// bytes are in a held ring or a copy buffer, valid until the pass ends.
#[derive(Debug, Clone, Copy)]
struct RunSpec {
    /// Sort key for the raw batch: (the view's `seq`, position in the pass).
    order: (u64, u32),
    view: u32,
    ptr: *const u8,
    len: usize,
    events: u32,
    losses: u32,
}

/// The drain thread's state.
pub(crate) struct Drain {
    shared: Arc<Shared>,
    sinks: Vec<SinkSlot>,
    /// Some sink takes raw records / some sink takes merged batches.
    any_raw: bool,
    any_merged: bool,
    /// One per thread the drain knows (index = the thread's index in `threads`).
    views: Vec<View>,
    /// Thread descriptions, parallel to `views` (what a `Batch` refers to).
    threads: Vec<ThreadInfo>,
    /// Indices of `views` that belong to no thread and hold nothing: reusable.
    free_views: Vec<u32>,
    /// Retired slots' views that still hold records (freed once they hold nothing).
    retiring: Vec<u32>,
    /// Slot address → view index.
    by_slot: HashMap<usize, u32>,
    callsites: CallsiteTable,
    /// Callsites first seen in the current pass (for the raw sinks).
    new_callsites: Vec<u32>,
    /// This pass's runs for the raw sinks.
    runs: Vec<RunSpec>,
    /// One batch of the merge (reused).
    refs: Vec<RecRef>,
    segs: Vec<Seg>,
    /// Which segment of the current batch holds each view's front ring / copy buffer.
    seg_of: Vec<(u32, u32)>,
    /// The merge's heap: (next key, view's first-seen sequence, view), smallest first.
    heap: std::collections::BinaryHeap<std::cmp::Reverse<(u64, u64, u32)>>,
    /// The next `View::seq`.
    next_seq: u64,
    /// Batches the merge built so far (`View::seg_cache`).
    batch_no: u64,
    /// Some thread was not NORMAL after the last pass.
    unsettled: bool,
    /// The current pass gave rings back to the pool or released ring space (then blocked
    /// producers may proceed, whether or not it read records).
    released: bool,
    /// Seconds per clock tick (64 fractional bits), for the rate windows' second.
    sec_per_tick_q64: u64,
}

// SAFETY: the raw pointers in `runs` point into rings the drain holds or into its own copy
// buffers, and live only within one pass on the drain thread; everything else is owned data.
unsafe impl Send for Drain {}

impl std::fmt::Debug for Drain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Drain").field("sinks", &self.sinks.len()).field("threads", &self.threads.len()).finish()
    }
}

impl Drain {
    pub(crate) fn new(shared: Arc<Shared>, sinks: Vec<Box<dyn Sink>>) -> Self {
        let sinks: Vec<SinkSlot> =
            sinks.into_iter().map(|sink| SinkSlot { raw: sink.takes_raw(), sink, dirty: false }).collect();
        let batch = if cfg!(feature = "loom") { 8 } else { shared.config.batch_size };
        Self {
            sec_per_tick_q64: shared.clock.sec_per_tick_q64(),
            any_raw: sinks.iter().any(|s| s.raw),
            any_merged: sinks.iter().any(|s| !s.raw),
            shared,
            sinks,
            views: Vec::new(),
            threads: Vec::new(),
            free_views: Vec::new(),
            retiring: Vec::new(),
            by_slot: HashMap::new(),
            callsites: CallsiteTable::new(),
            new_callsites: Vec::new(),
            runs: Vec::new(),
            refs: Vec::with_capacity(batch),
            segs: Vec::new(),
            seg_of: Vec::new(),
            heap: std::collections::BinaryHeap::new(),
            next_seq: 0,
            batch_no: 0,
            unsettled: false,
            released: false,
        }
    }

    /// Whether the drain holds records it has not handed to the merged sinks yet.
    fn holds_records(&self) -> bool {
        self.views.iter().any(View::pending)
    }

    /// The drain thread's body.
    pub(crate) fn run(mut self) -> DrainOutcome {
        crate::recording::producer::mark_drain_thread();
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
            // Acquire: pairs with the SeqCst store in `Shared::post_request`; the request is
            // in the list (behind its mutex anyway).
            if self.shared.request_pending.load(Ordering::Acquire) {
                self.serve_requests();
            }
            if let Some(request) = self.shared.poll_request.and_then(|poll| poll()) {
                request.run(&mut self);
            }
            // The rate windows' second (recording/limit.rs), and how long until it must move.
            let second_ends = crate::recording::limit::drain_tick(&self.shared.clock, self.sec_per_tick_q64);
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
            let young = self.holds_records() || self.young_records();
            let deep = !flight && since >= LINGER && !young && !self.unsettled;
            // Without membarrier a deep sleep is still taken (sync/wake.rs): the idle budget
            // holds, and a record racing with the announcement waits at most IDLE_TIMEOUT.
            self.shared.signal.prepare(deep);
            if self.has_work() || self.shared.stop.load(Ordering::Acquire) {
                self.shared.signal.cancel();
                continue;
            }
            stats.sleeps.fetch_add(1, StdOrdering::Relaxed);
            let timeout = if deep {
                stats.deep_sleeps.fetch_add(1, StdOrdering::Relaxed);
                IDLE_TIMEOUT
            } else if young {
                // Held-back records: come back when they are old enough.
                self.shared.config.merge_window.max(Duration::from_micros(100))
            } else if flight {
                IDLE_TIMEOUT
            } else {
                self.shared.config.flush_interval.min(NAP_LIMIT)
            };
            // Once a rate window has been spent, up by the second's end at the latest: an idle
            // drain still wakes about once a second, at each second's end rather than a second
            // after it fell asleep.
            let timeout = second_ends.map_or(timeout, |left| timeout.min(left));
            self.shared.signal.sleep(timeout);
        }
        self.finish()
    }

    /// Final passes, then stop the sinks in reverse order.
    fn finish(mut self) -> DrainOutcome {
        self.finish_in_place()
    }

    /// [`finish`](Self::finish)'s work; the drain must not run on afterwards.
    fn finish_in_place(&mut self) -> DrainOutcome {
        // Requests (snapshots) made before the shutdown are still served.
        self.serve_requests();
        // The close handshake's wait (shutdown fenced and waited, but within its timeout):
        // from here on no producer touches this runtime's rings, counters or gaps, so the
        // final passes read everything and the gaps of live threads are ours to report.
        self.shared.wait_producers_outside(None);
        // Records the drain thread itself made (from sinks) go out in the final passes.
        crate::recording::producer::retire_current_thread();
        for _ in 0..MAX_FINAL_PASSES {
            if self.pass(true) == 0 && !self.holds_records() {
                break;
            }
        }
        // Threads still dropping when intake stopped never wrote their last loss record (no
        // producer can touch a gap after the handshake above, `backpressure::drops::LossGap`).
        let shared = self.shared.clone();
        for entry in shared.registry.iter() {
            if entry.is_occupied() {
                let v = self.view_for(entry);
                self.report_open_gap(v, entry);
            }
        }
        self.deliver(u64::MAX);
        self.flush_sinks();
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
                if entry.is_occupied() {
                    retained_events += count_events(&self.peek_thread(entry));
                }
            }
        }
        DrainOutcome { retained_events }
    }

    /// Delivers everything the rings hold (no hold-back) and flushes the sinks (the panic
    /// hook; not in flight-recorder mode, whose records stay in the rings).
    fn flush_now(&mut self) {
        if !self.shared.config.flight_recorder {
            self.pass(true);
            self.deliver(u64::MAX);
        }
        self.flush_sinks();
    }

    /// One pass (module doc). Returns the number of records read from rings plus those handed
    /// to the merged sinks (held back by an earlier pass): zero means it found nothing to do.
    pub(crate) fn pass(&mut self, final_pass: bool) -> usize {
        let shared = self.shared.clone();
        let now = crate::clock::now_ticks();
        let window = shared.clock.ns_to_ticks(shared.config.merge_window.as_nanos() as u64);
        // The merge cutoff, taken before any thread is visited: a record published after its
        // thread's visit was timed at most `merge_window` before it (module doc).
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
            let v = self.view_for(entry);
            read += self.collect(v, entry, cutoff, final_pass);
            // Rings the drain still holds of the thread are its own (taken from the chain): the
            // slot can go, its view keeps them until their records are out.
            if state == SLOT_EXITED && entry.chain_len() == 0 && entry.active.load(Ordering::Acquire) == NIL {
                self.retire_slot(v, entry);
                continue;
            }
            unsettled |= Self::check_recovery(&shared, entry, now);
            self.report_changes(entry);
        }
        self.unsettled = unsettled;
        self.note_buffers();
        read + self.deliver(cutoff)
    }

    /// Publishes what the drain holds (metrics: `DrainMetrics::buffer_bytes`, `held_rings`),
    /// at its largest in a pass: after collecting, before delivering.
    fn note_buffers(&self) {
        let copies: usize = self.views.iter().map(|v| v.copy.capacity()).sum();
        let merge = self.refs.capacity() * std::mem::size_of::<RecRef>()
            + self.segs.capacity() * std::mem::size_of::<Seg>()
            + self.seg_of.capacity() * 8
            + self.heap.capacity() * 24
            + self.runs.capacity() * std::mem::size_of::<RunSpec>();
        let bytes = (copies + merge) as u64;
        let held: usize = self.views.iter().map(|v| v.held.len()).sum();
        let stats = &self.shared.drain_stats;
        // Relaxed: gauges for metrics.
        stats.buffer_bytes.store(bytes, StdOrdering::Relaxed);
        stats.buffer_bytes_high_water.fetch_max(bytes, StdOrdering::Relaxed);
        stats.held_rings.store(held as u64, StdOrdering::Relaxed);
    }

    /// Hands what the pass collected to the sinks: the raw sinks get it all, the merged
    /// sinks what is at or before `cutoff`; then rings whose records are out go back.
    /// Returns how many records went to the merged sinks.
    fn deliver(&mut self, cutoff: u64) -> usize {
        if self.any_raw {
            self.write_raw(cutoff);
        }
        let mut merged = 0;
        if self.any_merged {
            merged = self.dispatch(cutoff);
        } else {
            // Nothing to merge for: everything collected is out once the raw sinks have it.
            for v in 0..self.views.len() {
                let view = &mut self.views[v];
                view.copy.clear();
                view.copy_pos = 0;
                view.copy_raw = 0;
                self.release_front(v as u32, usize::MAX);
            }
        }
        self.new_callsites.clear();
        self.free_retired_views();
        self.wake_waiters();
        merged
    }

    /// Wakes producers blocked under `Block` if rings or ring space were given back.
    fn wake_waiters(&mut self) {
        // Rings went back to the pool or ring space was released (also by rings that held no
        // records: an exited thread's empty ring, pad-only space): blocked producers may
        // proceed.
        let released = std::mem::take(&mut self.released);
        if released && !crate::sync::weaken::active(crate::sync::Mutation::WakeOnlyOnRecords) {
            self.shared.waiters.wake_all();
        }
    }

    /// The view of a slot's current occupant, made on first sight.
    fn view_for(&mut self, entry: &ThreadEntry) -> u32 {
        let key = entry as *const ThreadEntry as usize;
        let generation = entry.generation.load(StdOrdering::Relaxed);
        if let Some(&v) = self.by_slot.get(&key) {
            if self.views[v as usize].generation == generation {
                return v;
            }
            // The slot was recycled without the drain retiring it: not possible (only the
            // drain frees a slot), but keep the old view's records apart from the new thread.
            self.by_slot.remove(&key);
            self.views[v as usize].slot = 0;
            self.retiring.push(v);
        }
        let info = entry.info();
        let seq = self.next_seq;
        self.next_seq += 1;
        let v = match self.free_views.pop() {
            Some(v) => {
                self.views[v as usize] = View::new(key, generation, seq);
                self.threads[v as usize] = info;
                v
            }
            None => {
                self.views.push(View::new(key, generation, seq));
                self.threads.push(info);
                (self.views.len() - 1) as u32
            }
        };
        self.by_slot.insert(key, v);
        v
    }

    /// Collects one thread's records (module doc, step 1); returns how many it read.
    fn collect(&mut self, v: u32, entry: &ThreadEntry, cutoff: u64, final_pass: bool) -> usize {
        let shared = self.shared.clone();
        let pool = &shared.pool;
        let quota = shared.config.max_rings_per_thread.max(1);
        let mut read = 0;
        let mut tries = 0;
        self.views[v as usize].young = None;
        loop {
            while final_pass || self.views[v as usize].held.len() < quota {
                let Some(ring) = entry.take_oldest() else { break };
                read += self.take_ring(v, entry, ring);
            }
            // The active ring comes after everything older: the chain and the held rings.
            if !self.views[v as usize].held.is_empty() {
                break;
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
            // Without merged sinks there is no merge to hold records back for.
            let take_until = if self.any_merged { cutoff } else { u64::MAX };
            read += self.copy_active(v, entry, active, take_until);
            break;
        }
        if read > 0 || !self.views[v as usize].held.is_empty() {
            // Rings taken or space released: a dropping producer must look again.
            entry.bump_epoch();
        }
        read
    }

    /// Takes a full ring out of a thread's chain: walks it once (headers checked, events
    /// counted, callsites looked up, runs for the raw sinks noted) and holds it.
    fn take_ring(&mut self, v: u32, entry: &ThreadEntry, ring: u32) -> usize {
        let shared = self.shared.clone();
        let pool = &shared.pool;
        let base = pool.base(ring) as *const u8;
        let mut tally = Tally::default();
        let (callsites, new_callsites, runs) = (&mut self.callsites, &mut self.new_callsites, &mut self.runs);
        let any_raw = self.any_raw;
        // The run being built: its start offset and end offset in the ring's memory.
        let mut run: Option<(usize, usize, u32, u32)> = None;
        let mut close = |run: &mut Option<(usize, usize, u32, u32)>| {
            if let Some((start, end, events, losses)) = run.take() {
                if any_raw {
                    // SAFETY: `start <= end <= ring_size`: offsets of records in this ring.
                    let ptr = unsafe { base.add(start) };
                    runs.push(RunSpec { order: (0, 0), view: v, ptr, len: end - start, events, losses });
                }
            }
        };
        // SAFETY: the ring was just taken from the chain (one CAS decided it: the drain owns
        // it, no producer writes it until it goes back to the pool); base/size are the pool's.
        let (consumed, start, end) = unsafe {
            pool.ctl(ring).read_owned(base, pool.ring_size(), |off, h, rec| {
                let loss = tally.add(&h, callsites, new_callsites);
                let len = align8(rec.len());
                match &mut run {
                    Some((_, e, events, losses)) if *e == off => {
                        *e += len;
                        *events += u32::from(!loss);
                        *losses += u32::from(loss);
                    }
                    _ => {
                        close(&mut run);
                        run = Some((off, off + len, u32::from(!loss), u32::from(loss)));
                    }
                }
            })
        };
        close(&mut run);
        let ctl = pool.ctl(ring) as *const crate::rings::ring::RingCtl;
        self.views[v as usize].held.push_back(Held { ring, mem: base, ctl, pos: start, end });
        self.account(v, entry, ring, &tally, consumed.corrupt);
        consumed.records as usize
    }

    /// Copies an active ring's records up to `take_until` into the thread's copy buffer and
    /// releases their space at once (the caller holds the reading announcement).
    fn copy_active(&mut self, v: u32, entry: &ThreadEntry, ring: u32, take_until: u64) -> usize {
        let shared = self.shared.clone();
        let pool = &shared.pool;
        let mut tally = Tally::default();
        let (callsites, new_callsites) = (&mut self.callsites, &mut self.new_callsites);
        let view = &mut self.views[v as usize];
        let ring_size = pool.ring_size();
        let mut young = None;
        // SAFETY: the active ring under the reading announcement (the caller's `RingRead`);
        // the drain is its only consumer; base/size are the pool's.
        let consumed = unsafe {
            pool.ctl(ring).consume_while(
                pool.base(ring),
                pool.ring_size(),
                |h| {
                    let take = h.ts <= take_until;
                    if !take {
                        young = Some(h.ts);
                    }
                    take
                },
                |_, h, rec| {
                    tally.add(&h, callsites, new_callsites);
                    if view.copy.capacity() == 0 {
                        // Once per thread: room for one ring of records and a loss record, so
                        // the buffer never grows past its bound (`DrainMetrics::buffer_bytes`).
                        view.copy.reserve_exact(ring_size + 64);
                    }
                    view.copy.extend_from_slice(rec);
                    view.copy.resize(align8(view.copy.len()), 0);
                },
            )
        };
        self.released |= consumed.bytes > 0;
        self.views[v as usize].young = young.map(|_| (ring, pool.ctl(ring).tail_relaxed()));
        self.account(v, entry, ring, &tally, consumed.corrupt);
        consumed.records as usize
    }

    /// Counters and diagnostics for records taken out of a ring.
    fn account(&mut self, v: u32, entry: &ThreadEntry, ring: u32, tally: &Tally, corrupt: bool) {
        let shared = &self.shared;
        if corrupt {
            shared.drain_stats.corrupt_rings.fetch_add(1, StdOrdering::Relaxed);
            shared.diag.emit(
                DiagnosticKind::CorruptRing,
                None,
                format!(
                    "ring {ring} of thread {:?} held an unreadable record; the rest of it was skipped",
                    self.threads[v as usize].name
                ),
            );
        }
        if tally.truncated > 0 {
            shared.diag.emit(
                DiagnosticKind::Serialization,
                None,
                format!(
                    "best_effort serialization: {} event(s) of thread {:?} were cut to fit max_record_size ({} bytes); \
                     the output marks them [truncated] / \"truncated\":true",
                    tally.truncated, self.threads[v as usize].name, shared.config.max_record_size
                ),
            );
        }
        // Relaxed: counts (only the drain writes them).
        entry.counters.delivered.fetch_add(tally.events, StdOrdering::Relaxed);
        shared.drain_stats.loss_records.fetch_add(tally.losses, StdOrdering::Relaxed);
    }

    /// The raw sinks get this pass's runs: the held rings' (noted when taken) and the copy
    /// buffers' new bytes (module doc, step 2).
    ///
    /// The batch's horizon is the pass's merge cutoff (plus one): every record at or before it
    /// that the merged sinks will ever get is in this batch or an earlier one, so a reader
    /// that merges the raw records hands them out in the order the merged sinks saw.
    fn write_raw(&mut self, cutoff: u64) {
        for (v, view) in self.views.iter_mut().enumerate() {
            if view.copy.len() > view.copy_raw {
                let bytes = &view.copy[view.copy_raw..];
                let (mut events, mut losses) = (0, 0);
                for (_, h) in crate::wire::record::padded_records(bytes) {
                    if h.kind() == Some(RecordKind::Loss) {
                        losses += 1;
                    } else {
                        events += 1;
                    }
                }
                self.runs.push(RunSpec {
                    order: (0, 0),
                    view: v as u32,
                    ptr: bytes.as_ptr(),
                    len: bytes.len(),
                    events,
                    losses,
                });
                view.copy_raw = view.copy.len();
            }
        }
        if self.runs.is_empty() {
            return;
        }
        // Threads in the order the drain first saw them (a reader breaks ties between threads
        // by the order they are described, which follows the runs); each thread's runs keep
        // their order (the position breaks ties). Unstable: no scratch allocation.
        let views = &self.views;
        for (position, r) in self.runs.iter_mut().enumerate() {
            r.order = (views[r.view as usize].seq, position as u32);
        }
        self.runs.sort_unstable_by_key(|r| r.order);
        let threads = &self.threads;
        let raw: Vec<RawRun<'_>> = self
            .runs
            .iter()
            .map(|r| RawRun {
                thread: &threads[r.view as usize],
                // SAFETY: every run points into a ring the drain holds (taken from a chain,
                // not yet back in the pool) or into a copy buffer not changed since the
                // pointer was taken; both stay as they are until this function returns.
                records: unsafe { std::slice::from_raw_parts(r.ptr, r.len) },
                events: r.events,
                losses: r.losses,
            })
            .collect();
        let shared = &self.shared;
        let batch = RawBatch::new(&raw, &self.callsites, &self.new_callsites, &shared.clock)
            .with_horizon(cutoff.saturating_add(1));
        let n = batch.events() + batch.losses();
        for (i, slot) in self.sinks.iter_mut().enumerate().filter(|(_, s)| s.raw) {
            write_to_sink(shared, i, slot, n, |sink| sink.write_raw(&batch));
        }
        shared.drain_stats.batches.fetch_add(1, StdOrdering::Relaxed);
        drop(raw);
        self.runs.clear();
        self.new_callsites.clear();
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

    /// Runs every request posted so far ([`Shared::post_request`]).
    fn serve_requests(&mut self) {
        // SeqCst: a request pushed after this store sets the flag again.
        self.shared.request_pending.store(false, Ordering::SeqCst);
        let requests = std::mem::take(&mut *self.shared.requests.lock().unwrap_or_else(|e| e.into_inner()));
        for request in requests {
            request.run(self);
        }
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
                    out.resize(out.len() + (crate::wire::record::align8(rec.len()) - rec.len()), 0);
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
        if self.shared.request_pending.load(Ordering::Acquire)
            && !crate::sync::weaken::active(crate::sync::Mutation::NoSnapshotCheck)
        {
            return true;
        }
        let keep = self.keeps_rings(false);
        self.shared.registry.iter().any(|e| {
            if !e.is_occupied() {
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
            // NAPPING/ASLEEP pairs (sync/wake.rs) order it after the state announcement.
            let a = e.active.load(Ordering::Acquire);
            if a == NIL || pool.ctl(a).is_drained() {
                return false;
            }
            // Records the last pass left in the ring as too young to merge are not new work
            // (the nap's timeout brings the drain back for them), unless more arrived.
            let young =
                self.by_slot.get(&(e as *const ThreadEntry as usize)).and_then(|&v| self.views[v as usize].young);
            young != Some((a, pool.ctl(a).tail_relaxed()))
        })
    }

    /// The k-way merge over the threads' held records, up to `cutoff`, in batches to the
    /// merged sinks; rings whose records are out go back to the pool after each batch (module
    /// doc, step 3). Allocates nothing once its buffers have grown to a batch.
    fn dispatch(&mut self, cutoff: u64) -> usize {
        let shared = self.shared.clone();
        let mut merged = 0;
        let batch_size = shared.config.batch_size.max(1);
        self.heap.clear();
        for v in 0..self.views.len() {
            if self.advance(v as u32, cutoff) {
                let key = self.views[v].next.expect("advance found a record").0;
                self.heap.push(std::cmp::Reverse((key, self.views[v].seq, v as u32)));
            }
        }
        let mut last_sweep = Instant::now();
        while !self.heap.is_empty() {
            self.refs.clear();
            self.segs.clear();
            self.seg_of.clear();
            self.batch_no += 1;
            while self.refs.len() < batch_size {
                let Some(std::cmp::Reverse((_, seq, v))) = self.heap.pop() else { break };
                // Emit this thread's records while they come first (one heap operation per
                // run of one thread, not per record).
                let bound = self.heap.peek().map_or((u64::MAX, u64::MAX), |r| (r.0 .0, r.0 .1));
                loop {
                    self.emit(v);
                    self.emit_held_run(v, cutoff, bound, seq, batch_size);
                    if !self.advance(v, cutoff) {
                        break;
                    }
                    let key = self.views[v as usize].next.expect("advance found a record").0;
                    if (key, seq) > bound || self.refs.len() >= batch_size {
                        self.heap.push(std::cmp::Reverse((key, seq, v)));
                        break;
                    }
                }
            }
            if self.refs.is_empty() {
                break;
            }
            // A long backlog takes many batches: keep checking recovery meanwhile, so a thread
            // is not held in DROPPING or RECOVERY while the drain formats old records.
            if crate::sync::elapsed(last_sweep) >= RECOVERY_SWEEP {
                last_sweep = Instant::now();
                let now = crate::clock::now_ticks();
                for entry in shared.registry.iter() {
                    if entry.is_occupied() {
                        Self::check_recovery(&shared, entry, now);
                    }
                }
            }
            merged += self.refs.len();
            self.send_batch();
            // Give back the rings whose records are all out, and wake blocked producers: a
            // flooding thread gets rings back between the batches of a long dispatch.
            for i in 0..self.seg_of.len() {
                let (v, _) = self.seg_of[i];
                let done = self.views[v as usize].merged_rings();
                self.release_front(v, done);
                let view = &mut self.views[v as usize];
                if view.copy_pos >= view.copy.len() && (!self.any_raw || view.copy_raw >= view.copy.len()) {
                    view.copy.clear();
                    view.copy_pos = 0;
                    view.copy_raw = 0;
                }
            }
            self.wake_waiters();
        }
        // Rings merged to their end without a record in this dispatch's batches (an exited
        // thread's empty ring, records all too young ... or none at all) go back too.
        for v in 0..self.views.len() {
            let done = self.views[v].merged_rings();
            self.release_front(v as u32, done);
        }
        merged
    }

    /// Moves a view's merge cursor to its next record at or before `cutoff`, if there is one
    /// (then `next` holds its key and place); passes over rings it has finished.
    fn advance(&mut self, v: u32, cutoff: u64) -> bool {
        let cap = self.shared.pool.ring_size();
        let view = &mut self.views[v as usize];
        view.next = None;
        while view.cur < view.held.len() {
            let h = &mut view.held[view.cur];
            // SAFETY: a ring the drain holds (taken from the chain; no producer writes it
            // until it is back in the pool); `mem` is its `ring_size` bytes of the pool.
            let mem = unsafe { std::slice::from_raw_parts(h.mem, cap) };
            match next_record(mem, h.pos, h.end) {
                Some((pos, off, header, len)) => {
                    h.pos = pos;
                    if header.ts > cutoff {
                        return false;
                    }
                    // SAFETY: the ring's control block lives as long as the pool.
                    unsafe { &*h.ctl }.track_read(off, len);
                    let key = view.last_key.take(header.ts);
                    view.next = Some((key, Cursor::Held { off, len, size: u32::from(header.size) }));
                    return true;
                }
                None => {
                    h.pos = h.end;
                    view.cur += 1;
                }
            }
        }
        if view.copy_pos < view.copy.len() {
            let rest = &view.copy[view.copy_pos..];
            if let Some(header) = Header::read(rest) {
                let size = header.size as usize;
                if size >= HEADER_LEN && size <= rest.len() && header.ts <= cutoff {
                    let key = view.last_key.take(header.ts);
                    view.next = Some((key, Cursor::Copy { off: view.copy_pos, len: align8(size), size: size as u32 }));
                    return true;
                }
                if size < HEADER_LEN || size > rest.len() {
                    // Cannot happen (the drain wrote the copy): drop the rest rather than loop.
                    view.copy_pos = view.copy.len();
                }
            }
        }
        false
    }

    /// Adds a view's next record (found by `advance`) to the batch and moves past it.
    fn emit(&mut self, v: u32) {
        let view = &mut self.views[v as usize];
        let Some((key, cursor)) = view.next.take() else { return };
        let (which, off, len, size) = match cursor {
            Cursor::Held { off, len, size } => (view.cur as u32, off, len, size),
            Cursor::Copy { off, len, size } => (u32::MAX, off, len, size),
        };
        // The segment of this batch that holds the record: one per (view, ring or copy),
        // remembered by the view for the rest of the batch.
        let seg = match view.seg_cache {
            (batch, w, seg) if batch == self.batch_no && w == which => seg,
            _ => {
                let s = if which == u32::MAX {
                    Seg::new(view.copy.as_ptr(), view.copy.len())
                } else {
                    Seg::new(view.held[which as usize].mem, self.shared.pool.ring_size())
                };
                self.segs.push(s);
                self.seg_of.push((v, which));
                let seg = (self.segs.len() - 1) as u32;
                view.seg_cache = (self.batch_no, which, seg);
                seg
            }
        };
        self.refs.push(RecRef { key, thread: v, seg, offset: off, len: size });
        match cursor {
            Cursor::Held { .. } => view.held[view.cur].pos += len as u64,
            Cursor::Copy { .. } => view.copy_pos += len,
        }
    }

    /// The merge's inner loop, for a run of one thread's records in the ring it holds (what a
    /// flood is made of): emits the records of the view's current held ring, in place, while
    /// they sort at or before `bound` (the next thread's key and sequence) and at or before
    /// `cutoff`, and the batch has room; leaves the cursor at the first record not emitted
    /// (`advance` then goes on from there). Does what `advance` + `emit` do per record,
    /// without the per-record cursor bookkeeping.
    fn emit_held_run(&mut self, v: u32, cutoff: u64, bound: (u64, u64), seq: u64, batch_size: usize) {
        let cap = self.shared.pool.ring_size();
        let (views, refs, segs, seg_of) = (&mut self.views, &mut self.refs, &mut self.segs, &mut self.seg_of);
        let view = &mut views[v as usize];
        if view.cur >= view.held.len() || refs.len() >= batch_size {
            return;
        }
        let which = view.cur as u32;
        let h = &mut view.held[view.cur];
        let seg = match view.seg_cache {
            (batch, w, seg) if batch == self.batch_no && w == which => seg,
            _ => {
                segs.push(Seg::new(h.mem, cap));
                seg_of.push((v, which));
                let seg = (segs.len() - 1) as u32;
                view.seg_cache = (self.batch_no, which, seg);
                seg
            }
        };
        // SAFETY: as in `advance`: a ring the drain holds, `ring_size` bytes of the pool.
        let mem = unsafe { std::slice::from_raw_parts(h.mem, cap) };
        // SAFETY: the ring's control block lives as long as the pool.
        let ctl = unsafe { &*h.ctl };
        let (mut pos, mut last) = (h.pos, view.last_key);
        while refs.len() < batch_size {
            let Some((at, off, header, len)) = next_record(mem, pos, h.end) else { break };
            pos = at;
            let key = last.peek(header.ts);
            if header.ts > cutoff || (key, seq) > bound {
                break;
            }
            ctl.track_read(off, len);
            refs.push(RecRef { key, thread: v, seg, offset: off, len: u32::from(header.size) });
            last.take_peeked(key);
            pos += len as u64;
        }
        h.pos = pos;
        view.last_key = last;
    }

    /// Hands the batch in `refs` to the merged sinks.
    fn send_batch(&mut self) {
        let shared = &self.shared;
        // SAFETY (for the segments): each is a ring the drain holds or a copy buffer, neither
        // changed nor given back until after this batch (`dispatch` releases rings only after
        // `send_batch` returns).
        let batch = Batch::over_segments(&self.refs, &self.segs, &self.threads, &self.callsites, &shared.clock);
        shared.drain_stats.batches.fetch_add(1, StdOrdering::Relaxed);
        let n = self.refs.len() as u64;
        for (i, slot) in self.sinks.iter_mut().enumerate().filter(|(_, s)| !s.raw) {
            write_to_sink(shared, i, slot, n, |sink| sink.write_batch(&batch));
        }
    }

    /// Gives the first `n` (at most) of a view's held rings back to the pool.
    fn release_front(&mut self, v: u32, n: usize) {
        let pool = &self.shared.pool;
        let view = &mut self.views[v as usize];
        let n = n.min(view.held.len());
        if n == 0 {
            return;
        }
        for h in view.held.drain(..n) {
            pool.ctl(h.ring).reset();
            pool.free_list().push(h.ring);
        }
        view.cur = view.cur.saturating_sub(n);
        self.released = true;
    }

    /// Views of retired slots that hold nothing any more become reusable.
    fn free_retired_views(&mut self) {
        let views = &self.views;
        let free = &mut self.free_views;
        self.retiring.retain(|&v| {
            let done = !views[v as usize].pending();
            if done {
                free.push(v);
            }
            !done
        });
    }

    /// Whether a thread's active ring has records the last pass left there as too young to
    /// merge (the drain then naps for the merge window instead of sleeping).
    fn young_records(&self) -> bool {
        self.views.iter().any(|v| v.young.is_some())
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
        let moved = entry.state.transition(&entry.counters, seen, to, now).is_ok();
        if moved {
            // A dropping producer must look again (`ThreadEntry::drain_epoch`).
            entry.bump_epoch();
        }
        !moved || to != ThreadState::Normal
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
            .filter(|e| e.is_occupied())
            .map(|e| usize::from(Self::check_recovery(shared, e, now)))
            .sum()
    }

    /// Whether a thread can record again: below its ring quota, or its active ring has room.
    fn has_room(shared: &Shared, entry: &ThreadEntry) -> bool {
        let pool = &shared.pool;
        // Acquire: pairs with the producer's Release store of `active`.
        let active = entry.active.load(Ordering::Acquire);
        let held = entry.rings_held(active != NIL);
        held < shared.config.max_rings_per_thread
            || (active != NIL && pool.ctl(active).used() as usize <= pool.ring_size() / 2)
    }

    /// Diagnostics for what changed on a thread since the last pass: state transitions
    /// (R-BP-1: old state, new state, thread, pool free count) and strict-mode drops
    /// (R-LIFE-3). Counts are exact; diagnostics are rate-limited.
    fn report_changes(&mut self, entry: &ThreadEntry) {
        let key = entry as *const ThreadEntry as usize;
        let Some(&v) = self.by_slot.get(&key) else { return };
        let view = &mut self.views[v as usize];
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
        let name = &self.threads[v as usize].name;
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

    /// An exited thread's rings are all drained: report its open gap, fold its counters and
    /// free the slot. Its view lives on until the records it still holds are out.
    fn retire_slot(&mut self, v: u32, entry: &ThreadEntry) {
        self.report_open_gap(v, entry);
        let shared = self.shared.clone();
        let reg = &shared.registry;
        reg.retired.absorb(&entry.counters);
        // Relaxed: a count; the producer's last `leave` came before its EXITED store, which
        // the caller observed with Acquire.
        reg.retired.committed.fetch_add(entry.presence.committed(), StdOrdering::Relaxed);
        reg.retired_threads.fetch_add(1, StdOrdering::Relaxed);
        self.by_slot.remove(&(entry as *const ThreadEntry as usize));
        self.views[v as usize].slot = 0;
        self.retiring.push(v);
        entry.reset_for_reuse();
    }

    /// Adds a loss record for a gap the thread could not report itself (it exited, or the
    /// runtime is shutting down, while it was dropping) after the thread's other records.
    fn report_open_gap(&mut self, v: u32, entry: &ThreadEntry) {
        // The caller observed EXITED (Acquire), or the close handshake is done: the producer
        // no longer writes the gap (`backpressure::drops::LossGap`).
        let mut loss = entry.gap.take();
        if loss.events == 0 {
            return;
        }
        // The gap closes now (the thread exited, or the runtime closed, while it dropped).
        loss.last_ticks = loss.last_ticks.max(crate::clock::now_ticks());
        self.views[v as usize].copy.extend_from_slice(&loss.record());
        self.shared.drain_stats.loss_records.fetch_add(1, StdOrdering::Relaxed);
    }
}

/// Hands one batch of `n` events to sink `i` (`write`, under `catch_unwind`): counts it as
/// written, or as dropped with the failure reported (an error, or a panic, which also marks
/// the sink failed).
fn write_to_sink(
    shared: &Shared,
    i: usize,
    slot: &mut SinkSlot,
    n: u64,
    write: impl FnOnce(&mut dyn Sink) -> Result<(), crate::output::sink::SinkError>,
) {
    let stats = &shared.sink_stats[i];
    slot.dirty = true;
    match catch_unwind(AssertUnwindSafe(|| write(&mut *slot.sink))) {
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
            shared.sink_failed(i, SinkPhase::Write, format!("batch of {n} events lost: {}", panic_message(&p)), true);
        }
    }
}

/// What a walk over taken records counted.
#[derive(Debug, Default)]
struct Tally {
    events: u64,
    losses: u64,
    truncated: u64,
    /// The last event callsite id found in the table (a run of one callsite's records looks
    /// it up once).
    known: Option<u32>,
}

impl Tally {
    /// Counts one record; looks up its callsite the first time the drain sees it. Returns
    /// whether it is a loss record.
    #[inline(always)]
    fn add(&mut self, h: &Header, callsites: &mut CallsiteTable, new_callsites: &mut Vec<u32>) -> bool {
        self.truncated += u64::from(h.flags & FLAG_TRUNCATED != 0);
        if h.is(RecordKind::Event) {
            if self.known != Some(h.id) {
                self.note_callsite(h.id, callsites, new_callsites);
            }
        } else if h.is(RecordKind::Loss) {
            self.losses += 1;
            return true;
        }
        self.events += 1;
        false
    }

    /// A new callsite id in a run: looked up in the drain's table, and registered there the
    /// first time the drain sees it (out of line: once per run of one callsite's records).
    #[inline(never)]
    fn note_callsite(&mut self, id: u32, callsites: &mut CallsiteTable, new_callsites: &mut Vec<u32>) {
        if !callsites.contains(id) {
            let info = crate::callsite::lookup(id)
                .map_or_else(|| CallsiteInfo::unknown(id), |m| CallsiteInfo::from_metadata(id, m));
            callsites.insert(info);
            new_callsites.push(id);
        }
        self.known = Some(id);
    }
}

/// The next record of a ring the drain holds (`mem`: its bytes), or `None` at the end of the
/// committed part or at a header that cannot be right ([`next_record`](crate::rings::ring::next_record)).
fn next_record(mem: &[u8], pos: u64, end: u64) -> Option<RecordAt> {
    // `next_record` reads at `off + 16 <= mem.len()`; a zero header (a stop) cannot be needed.
    crate::rings::ring::next_record(mem.len(), pos, end, |off| {
        mem[off..].first_chunk().map_or(Header { size: 0, flags: 0, id: 0, ts: 0 }, Header::from_bytes)
    })
    .ok()
    .flatten()
}

/// What requests from other threads (snapshots, flushes) may do on the drain thread.
impl DrainAccess for Drain {
    fn shared(&self) -> &Shared {
        &self.shared
    }

    fn peek_threads(&mut self) -> Vec<(ThreadInfo, Vec<u8>)> {
        let shared = self.shared.clone();
        let mut threads = Vec::new();
        for entry in shared.registry.iter() {
            if !entry.is_occupied() {
                continue;
            }
            let records = self.peek_thread(entry);
            if records.is_empty() {
                continue;
            }
            threads.push((entry.info(), records));
        }
        threads
    }

    fn flush_now(&mut self) {
        Drain::flush_now(self);
    }

    fn shut_down(&mut self) -> u64 {
        // The closer's half of the close handshake, as `Guard::shutdown` does it, then the
        // drain's own shutdown.
        let deadline = Instant::now() + self.shared.config.shutdown_timeout;
        self.shared.close(Some(deadline));
        self.finish_in_place().retained_events
    }
}
