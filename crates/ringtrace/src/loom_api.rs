//! Handles on the runtime's internal protocols, compiled only with the `loom` feature, for the
//! models in `loom-tests/`. Each handle calls the real protocol code (ring, free list, chain,
//! sleep/wake signal); nothing here is a copy of it.

use crate::rings::pool::FreeList;
use crate::rings::ring::{RingCtl, RingWriter};
use crate::rings::slot::ThreadEntry;
use crate::sync::wake::DrainSignal;
use crate::sync::{thread, Ordering};
use crate::wire::record::HEADER_LEN;
use std::sync::Arc;
use std::time::Duration;

/// One ring: control block and bytes.
#[derive(Debug)]
pub struct Ring {
    ctl: Box<RingCtl>,
    mem: Box<[u64]>,
    cap: usize,
}

// SAFETY: the bytes are accessed only through the SPSC protocol (one `Writer`, one consumer),
// which is what the models check; the rest is atomics.
unsafe impl Send for Ring {}
// SAFETY: as above.
unsafe impl Sync for Ring {}

impl Ring {
    /// A ring of `cap` bytes (a power of two, at least 32).
    pub fn new(cap: usize) -> Arc<Self> {
        Arc::new(Self { ctl: Box::new(RingCtl::new(cap)), mem: vec![0u64; cap / 8].into_boxed_slice(), cap })
    }

    /// The producer half. Create exactly one.
    pub fn writer(self: &Arc<Self>) -> Writer {
        let mut w = RingWriter::detached();
        // SAFETY: the memory and control block live in `self`, kept alive by the Arc in the
        // writer; the caller creates one writer only.
        unsafe { w.attach(self.mem.as_ptr() as *mut u8, &*self.ctl, self.cap) };
        Writer { ring: self.clone(), w }
    }

    /// Consumer: passes every committed record (id, payload) to `f`; returns how many.
    pub fn consume(&self, mut f: impl FnMut(u32, &[u8])) -> u64 {
        // SAFETY: the models have one consumer; base/cap describe this ring.
        unsafe { self.ctl.consume(self.mem.as_ptr() as *const u8, self.cap, |h, rec| f(h.id, &rec[HEADER_LEN..])) }
            .records
    }

    /// Snapshot reader: passes every committed record (id, payload) to `f` without consuming
    /// it (`RingCtl::peek`, as `Drain::peek_thread` copies a ring); returns how many. Call it
    /// only under a `reading` announcement ([`Chain::peek_rings`]), which is what the models
    /// check.
    pub fn peek(&self, mut f: impl FnMut(u32, &[u8])) -> u64 {
        // SAFETY: base/cap describe this ring. The exclusion `peek` asks for (no reset or
        // consume during the copy) is the claim under test: a model that breaks it fails on
        // the access tracker, and the walk bounds-checks every header against this buffer.
        unsafe { self.ctl.peek(self.mem.as_ptr() as *const u8, self.cap, |h, rec| f(h.id, &rec[HEADER_LEN..])) }.records
    }

    /// Whether everything published was consumed.
    pub fn is_drained(&self) -> bool {
        self.ctl.is_drained()
    }

    /// Resets the positions (a ring that changed hands: free, or reclaimed by its owner).
    pub fn reset(&self) {
        self.ctl.reset()
    }
}

/// The producer half of a [`Ring`].
#[derive(Debug)]
pub struct Writer {
    ring: Arc<Ring>,
    w: RingWriter,
}

// SAFETY: the writer is moved to one thread and used only there (single producer).
unsafe impl Send for Writer {}

impl Writer {
    /// Publishes one record with `payload`, or returns `false` if the ring is full.
    pub fn try_push(&mut self, id: u32, payload: &[u8]) -> bool {
        self.w.push_event(id, payload)
    }

    /// The ring this writer writes.
    pub fn ring(&self) -> &Arc<Ring> {
        &self.ring
    }
}

/// The pool's free list.
#[derive(Debug)]
pub struct Free(FreeList);

impl Free {
    /// `n` free rings.
    pub fn new(n: u32) -> Self {
        Self(FreeList::new(n))
    }
    /// Takes a ring.
    pub fn pop(&self) -> Option<u32> {
        self.0.pop()
    }
    /// Returns a ring.
    pub fn push(&self, i: u32) {
        self.0.push(i)
    }
    /// Free count.
    pub fn free(&self) -> usize {
        self.0.free()
    }
}

/// A thread's chain of full rings and its active-ring announcement.
#[derive(Debug)]
pub struct Chain(ThreadEntry);

impl Chain {
    /// A chain for up to `len` rings.
    pub fn new(len: usize) -> Self {
        Self(ThreadEntry::new(len))
    }
    /// Producer: appends a full ring.
    pub fn push_full(&self, ring: u32) {
        self.0.push_full(ring)
    }
    /// Drain or reclaimer: takes the oldest ring (one CAS decides).
    pub fn take_oldest(&self) -> Option<u32> {
        self.0.take_oldest()
    }
    /// Rings waiting.
    pub fn len(&self) -> u64 {
        self.0.chain_len()
    }
    /// Whether no ring is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The active ring, stored as `Producer::install_ring` stores it (Release: the drain's
    /// Acquire load of `active` then sees the chain push that preceded the swap).
    pub fn set_active(&self, ring: u32) {
        self.0.active.store(ring, Ordering::Release)
    }
    /// Drain: announces and checks an active-ring read (`ThreadEntry::begin_active_read`);
    /// if it may go ahead, runs `read` under the announcement and returns `true`.
    pub fn read_active(&self, ring: u32, read: impl FnOnce()) -> bool {
        match self.0.begin_active_read(ring) {
            Some(_guard) => {
                read();
                true
            }
            None => false,
        }
    }
    /// Drain (snapshot): `ThreadEntry::peek_rings`, the loop `Drain::peek_thread` runs:
    /// passes each ring to copy to `copy`, oldest first, under the `reading` announcement.
    pub fn peek_rings(&self, retries: u32, copy: impl FnMut(u32)) {
        self.0.peek_rings(retries, copy)
    }
    /// Producer: wait until the drain is not reading `ring`.
    pub fn wait_unread(&self, ring: u32) {
        self.0.wait_unread(ring, || false)
    }
    /// The backpressure state's transition, as producer or drain make it.
    pub fn transition(&self, from: crate::ThreadState, to: crate::ThreadState) -> Result<(), crate::TransitionError> {
        let seen = self.0.state.get();
        if seen.state != from {
            return Err(crate::TransitionError::Lost { current: seen.state });
        }
        self.0.state.transition(&self.0.counters, seen, to, crate::clock::now_ticks())
    }
    /// A decision made on a reading, as the drain's recovery check makes one: reads the word
    /// and, only if the thread has been in `from` since tick `since`, moves it to `to` from
    /// that reading (`StateCell::transition`). Whether it moved.
    pub fn transition_if_since(&self, from: crate::ThreadState, since: u64, to: crate::ThreadState) -> bool {
        let seen = self.0.state.get();
        seen.state == from
            && seen.since == since
            && self.0.state.transition(&self.0.counters, seen, to, crate::clock::now_ticks()).is_ok()
    }
    /// The tick at which the thread entered its current state.
    pub fn since(&self) -> u64 {
        self.0.state.get().since
    }
    /// The backpressure state.
    pub fn state(&self) -> crate::ThreadState {
        self.0.state.get().state
    }
    /// Transitions counted so far.
    pub fn transitions(&self) -> u64 {
        self.0.counters.transitions.iter().map(|t| t.load(Ordering::Relaxed)).sum()
    }
}

/// The thread registry.
#[derive(Debug)]
pub struct Threads(crate::rings::registry::Registry);

impl Default for Threads {
    fn default() -> Self {
        Self(crate::rings::registry::Registry::new(2))
    }
}

impl Threads {
    /// Registers a thread (reusing a free slot); returns its runtime thread id.
    pub fn claim(&self) -> u64 {
        self.0.claim(Arc::from("t"), 0).thread_id.load(Ordering::Relaxed)
    }
    /// Marks the slot of thread `id` exited, as the producer does at thread exit.
    pub fn exit(&self, id: u64) {
        if let Some(e) = self.0.iter().find(|e| e.thread_id.load(Ordering::Relaxed) == id) {
            e.slot.store(crate::rings::slot::SLOT_EXITED, Ordering::Release);
        }
    }
    /// Drain: frees every exited slot for reuse; returns how many.
    pub fn recycle(&self) -> usize {
        let mut n = 0;
        for e in self.0.iter() {
            if e.slot.load(Ordering::Acquire) == crate::rings::slot::SLOT_EXITED {
                e.reset_for_reuse();
                n += 1;
            }
        }
        n
    }
    /// Drain/metrics traversal: ids of the live (non-free) slots.
    pub fn live(&self) -> Vec<u64> {
        self.0.iter().filter(|e| e.is_occupied()).map(|e| e.thread_id.load(Ordering::Relaxed)).collect()
    }
    /// Slots allocated.
    pub fn slots(&self) -> usize {
        self.0.iter().count()
    }
}

/// The drain's sleep/wake signal.
#[derive(Debug)]
pub struct Signal(DrainSignal);

impl Default for Signal {
    fn default() -> Self {
        Self(DrainSignal::new())
    }
}

impl Signal {
    /// Drain: registers the calling thread as the one to unpark.
    pub fn register_drain(&self) {
        self.0.set_thread(thread::current())
    }
    /// Producer hot path after publishing.
    pub fn after_publish(&self) {
        self.0.after_publish()
    }
    /// Producer cold path (swap, pressure, exit).
    pub fn notify(&self) {
        self.0.notify()
    }
    /// Drain: announce a sleep (deep or nap).
    pub fn prepare(&self, deep: bool) {
        self.0.prepare(deep)
    }
    /// Drain: work found after `prepare`.
    pub fn cancel(&self) {
        self.0.cancel()
    }
    /// Drain: park until woken (under loom there is no timeout).
    pub fn sleep(&self) {
        self.0.sleep(Duration::from_secs(1))
    }
}

// ---------------------------------------------------------------------------------------------
// The real compositions: a runtime's shared state, producers, the drain.
// ---------------------------------------------------------------------------------------------

pub use crate::sync::Mutation;

/// Switches a deliberate bug on (or every one off) for the models that must catch it
/// (`loom-tests/tests/weakened.rs`). Process-wide: only one test at a time may use it.
pub fn set_mutation(m: Option<Mutation>) {
    crate::sync::weaken::set(m)
}

/// The geometry of a model runtime. Real runtimes are validated (rings of at least 4 KiB, …);
/// a model's are tiny on purpose, so that a few records fill a ring and every interleaving of
/// the few atomic steps can be explored.
#[derive(Debug, Clone)]
pub struct ModelConfig {
    /// Bytes per ring (a power of two; 64 holds two 24-byte records and a pad).
    pub ring_size: usize,
    /// Rings in the pool.
    pub rings: u32,
    /// Most rings one thread may hold.
    pub quota: usize,
    /// The backpressure policy.
    pub policy: crate::Policy,
    /// Fraction of free rings below which a thread enters PRESSURE (0: never).
    pub pressure_watermark: f64,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self { ring_size: 64, rings: 2, quota: 2, policy: crate::Policy::DropNewest, pressure_watermark: 0.0 }
    }
}

/// What the model's sink received: for each raw record, the thread id and the event id.
#[derive(Debug, Clone, Default)]
struct Seen(Arc<std::sync::Mutex<Vec<(u64, u32)>>>);

impl crate::Sink for Seen {
    fn name(&self) -> &str {
        "model"
    }

    fn metadata(&self) -> crate::SinkMetadata {
        crate::SinkMetadata::new("model".to_string(), crate::VERSION)
    }

    fn write_batch(&mut self, batch: &crate::Batch<'_>) -> Result<(), crate::SinkError> {
        let mut seen = self.0.lock().unwrap();
        for ev in batch.iter() {
            if ev.kind() == crate::RecordKind::Raw {
                seen.push((ev.thread().id, ev.id()));
            }
        }
        Ok(())
    }
}

/// A runtime's shared state (`runtime::Shared`, built by the same `Shared::new` as
/// `Builder::install`), not installed: its producers and drain are driven by the model.
#[derive(Debug)]
pub struct Model {
    shared: Arc<crate::shared::Shared>,
    seen: Seen,
}

/// What the runtime counted, summed over its threads (live and retired).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Events the drain took out of the rings.
    pub recorded: u64,
    /// Events dropped, all reasons.
    pub dropped: u64,
    /// Of those, overwritten by `DropOldest`.
    pub overwritten: u64,
    /// Events committed to rings and not taken out (`DrainReport::undelivered`).
    pub undelivered: u64,
}

impl Model {
    /// A model runtime.
    pub fn new(c: ModelConfig) -> Self {
        let config = crate::Config {
            ring_size: c.ring_size,
            ring_count: c.rings,
            max_rings_per_thread: c.quota,
            max_record_size: c.ring_size,
            merge_window: Duration::ZERO,
            stability_period: Duration::ZERO,
            policy: c.policy,
            pressure_watermark: c.pressure_watermark,
            recovery_watermark: c.pressure_watermark,
            ..crate::Config::default()
        };
        let pool = crate::rings::pool::Pool::new(c.rings, c.ring_size).expect("a tiny anonymous mapping");
        let clock = crate::ClockCalibration::new(0, 0, 1_000_000_000);
        let shared = crate::shared::Shared::new(
            config,
            pool,
            clock,
            crate::DiagnosticSink::Off,
            vec!["model".to_string()],
            None,
        );
        Self { shared: Arc::new(shared), seen: Seen::default() }
    }

    /// A new recording thread's producer (`Producer::new`: registers a slot).
    pub fn producer(&self) -> ModelProducer {
        let local = Box::new(crate::recording::producer::Local::new());
        let p = crate::recording::producer::Producer::new(self.shared.clone(), &local, Arc::from("t"), 0);
        ModelProducer { p: Some(p), _local: local }
    }

    /// The drain (`Drain::new` with one sink that records what it is given). Make one.
    pub fn drain(&self) -> ModelDrain {
        ModelDrain(crate::drain::Drain::new(self.shared.clone(), vec![Box::new(self.seen.clone())]))
    }

    /// `shutdown`'s two steps: `Shared::close` (the close handshake, without a deadline),
    /// then `Shared::stop_drain`.
    pub fn shutdown(&self) {
        self.shared.close(None);
        self.shared.stop_drain();
    }

    /// A flush request (a snapshot without a file): queued, flagged and the drain woken, as
    /// `flight::snapshot` does (`Shared::post_request`). Poll the receiver with `try_recv`.
    pub fn request_flush(
        &self,
    ) -> std::sync::mpsc::Receiver<Result<crate::flight::SnapshotReport, crate::flight::SnapshotError>> {
        crate::flight::post_request(&self.shared, None)
    }

    /// The events the sink received, in order: (thread id, event id).
    pub fn delivered(&self) -> Vec<(u64, u32)> {
        self.seen.0.lock().unwrap().clone()
    }

    /// The runtime's counts (call once every thread is done).
    pub fn totals(&self) -> Totals {
        let m = crate::runtime::metrics::Metrics::collect(&self.shared);
        Totals {
            recorded: m.recorded,
            dropped: m.dropped.total(),
            overwritten: m.dropped.get(crate::DropReason::Overwritten),
            undelivered: self.shared.undelivered_events(),
        }
    }

    /// Times the drain woke producers blocked under `Block`.
    pub fn blocked_wakeups(&self) -> u64 {
        self.shared.waiters.wakes()
    }
}

/// A recording thread of a [`Model`]: the real `Producer`, driven without the thread-local.
pub struct ModelProducer {
    p: Option<crate::recording::producer::Producer>,
    /// The thread's `Local` (policy override, drain flag), which the producer points to.
    _local: Box<crate::recording::producer::Local>,
}

impl std::fmt::Debug for ModelProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelProducer").field("exited", &self.p.is_none()).finish()
    }
}

// SAFETY: a model moves the producer to one loom thread and uses it only there (single
// producer); its raw pointers are to its registry slot (atomics, shared by design) and to the
// `Local` it owns in the same value.
unsafe impl Send for ModelProducer {}

impl ModelProducer {
    /// `record_bytes(id, payload)`: `false` if the runtime was closed (unrecorded).
    pub fn record(&mut self, id: u32, payload: &[u8]) -> bool {
        self.p.as_mut().expect("not exited").record_raw(id, payload)
    }

    /// The thread exits: `Producer::retire`, as the thread-local's destructor runs it.
    pub fn exit(mut self) {
        if let Some(mut p) = self.p.take() {
            p.retire();
        }
    }
}

/// The model's drain thread (`drain::Drain`).
#[derive(Debug)]
pub struct ModelDrain(crate::drain::Drain);

// SAFETY: `Drain` is moved to one loom thread and used only there, as the real drain thread
// does; it is `!Send` only through the runtime's raw-pointer-holding parts, which are shared
// by design (atomics) or owned by the drain.
unsafe impl Send for ModelDrain {}

impl ModelDrain {
    /// One pass (`Drain::pass`, not the final kind); returns the records it read plus those
    /// it handed to the sink (zero: it found nothing to do).
    pub fn pass(&mut self) -> usize {
        self.0.pass(false)
    }

    /// The drain thread's body (`Drain::run`): passes, sleeps, snapshot requests, until
    /// shutdown; then the final passes and the sinks' stop.
    pub fn run(self) {
        self.0.run();
    }
}
