//! Handles on the runtime's internal protocols, compiled only with the `loom` feature, for the
//! models in `loom-tests/`. Each handle calls the real protocol code (ring, free list, chain,
//! sleep/wake signal); nothing here is a copy of it.

use crate::pool::FreeList;
use crate::record::{align8, Header, RecordKind, HEADER_LEN};
use crate::ring::{RingCtl, RingWriter};
use crate::signal::DrainSignal;
use crate::sync::{thread, Ordering};
use crate::threads::ThreadEntry;
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
        let size = HEADER_LEN + payload.len();
        let Some(p) = self.w.reserve(align8(size)) else {
            return false;
        };
        let h = Header { size: size as u16, flags: RecordKind::Event.bits(), id, ts: id as u64 };
        // SAFETY: `reserve` returned align8(size) writable bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(h.to_bytes().as_ptr(), p, HEADER_LEN);
            std::ptr::copy_nonoverlapping(payload.as_ptr(), p.add(HEADER_LEN), payload.len());
        }
        self.w.commit(align8(size));
        true
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
        self.0.state.transition(&self.0.counters, seen, to, 1)
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
pub struct Threads(crate::registry::Registry);

impl Default for Threads {
    fn default() -> Self {
        Self(crate::registry::Registry::new(2))
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
            e.slot.store(crate::threads::SLOT_EXITED, Ordering::Release);
        }
    }
    /// Drain: frees every exited slot for reuse; returns how many.
    pub fn recycle(&self) -> usize {
        let mut n = 0;
        for e in self.0.iter() {
            if e.slot.load(Ordering::Acquire) == crate::threads::SLOT_EXITED {
                e.reset_for_reuse();
                n += 1;
            }
        }
        n
    }
    /// Drain/metrics traversal: ids of the live (non-free) slots.
    pub fn live(&self) -> Vec<u64> {
        self.0
            .iter()
            .filter(|e| crate::threads::occupied(e.slot.load(Ordering::Acquire)))
            .map(|e| e.thread_id.load(Ordering::Relaxed))
            .collect()
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
    pub fn prepare(&self, deep: bool) -> bool {
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
