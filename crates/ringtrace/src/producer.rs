//! The recording path: what a thread does when it records an event.
//!
//! # Hot path (`record_event`)
//!
//! 1. Load the callsite id (one Acquire load; registration happens once, on a cold path).
//! 2. Reach this thread's [`Producer`] through a `const`-initialised thread-local; compare its
//!    runtime generation with the global one (one Relaxed load). A mismatch means "no producer
//!    yet" or "the runtime changed": cold path.
//! 3. Read the clock, compute the record's exact size from the argument types, reserve that
//!    many bytes in the thread's ring (normally no shared memory is touched: the cached head
//!    says there is room), write the header, the bound context and the encoded arguments.
//! 4. Publish with one Release store of the ring's tail, then check whether the drain is
//!    asleep (one Relaxed load; see `signal.rs`).
//!
//! No allocation, no lock, no system call, no formatting. Everything else is
//! `#[cold] #[inline(never)]`: registration, ring swap, drops, re-entrance, oversize records.
//!
//! # Re-entrance
//!
//! An argument captured with `%x` runs the argument's `Display` implementation while the
//! record is being written. If that code records an event, the inner call finds the thread's
//! `busy` flag set and drops its event as [`DropReason::Reentrant`] instead of corrupting the
//! outer record. The same flag means the `&mut Producer` of the outer call is never aliased.
//!
//! # Thread exit
//!
//! The thread-local's destructor hands the active ring to the drain (it goes to the chain like
//! a swapped-out ring), marks the registry slot EXITED, and nudges the drain: records of a
//! thread that exits are never lost.

use crate::callsite::Callsite;
use crate::config::Serialization;
use crate::context::ContextBuf;
use crate::encode::{Encode, Encoder};
use crate::pool::NIL;
use crate::record::{align8, Header, RecordKind, FLAG_CONTEXT, FLAG_TRUNCATED, HEADER_LEN};
use crate::ring::RingWriter;
use crate::runtime::Shared;
use crate::sync::Ordering;
use crate::threads::{DropReason, ThreadEntry, SLOT_EXITED};
use arc_swap::ArcSwapOption;
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering as StdOrdering};
use std::sync::Arc;

/// The installed runtime, if any. Read on cold paths only.
pub(crate) static CURRENT: ArcSwapOption<Shared> = ArcSwapOption::const_empty();

/// The installed runtime's generation; 0 when none is installed. Process-global and outside
/// the per-runtime protocols, so it is a `std` atomic. The hot path compares it with its
/// producer's generation (Relaxed: a stale read only delays noticing a new runtime by a record
/// or two, and those records go to the old runtime's rings, which stay valid).
pub(crate) static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Events recorded with no runtime installed, or during thread teardown, or after shutdown.
static UNRECORDED: AtomicU64 = AtomicU64::new(0);

/// Events that could not be recorded because no runtime was installed (or the recording
/// thread was being torn down). They are not part of any runtime's accounting.
pub fn unrecorded_events() -> u64 {
    UNRECORDED.load(StdOrdering::Relaxed)
}

/// Per-thread state, reached through `LOCAL`.
pub(crate) struct Local {
    /// This thread's producer (a leaked `Box`), or null.
    producer: Cell<*mut Producer>,
    /// The producer's registry slot (also reachable while `producer` is borrowed).
    entry: Cell<*const ThreadEntry>,
    /// A record is being written on this thread (re-entrance guard).
    busy: Cell<bool>,
    /// This thread is the drain thread (R-BP-4: never wait).
    in_drain: Cell<bool>,
    /// Bound context.
    pub(crate) ctx: ContextBuf,
}

impl Local {
    const fn new() -> Self {
        Self {
            producer: Cell::new(std::ptr::null_mut()),
            entry: Cell::new(std::ptr::null()),
            busy: Cell::new(false),
            in_drain: Cell::new(false),
            ctx: ContextBuf::new(),
        }
    }

    /// Retires the current producer (thread exit or runtime change).
    fn retire(&self) {
        let p = self.producer.replace(std::ptr::null_mut());
        self.entry.set(std::ptr::null());
        if !p.is_null() {
            // SAFETY: `p` came from Box::into_raw in `ensure_producer` and was only used by
            // this thread; it was just unlinked, so this is the last use.
            let mut p = unsafe { Box::from_raw(p) };
            p.retire();
        }
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        self.retire();
    }
}

thread_local! {
    static LOCAL: Local = const { Local::new() };
}

/// Runs `f` with this thread's context buffer (None during thread teardown).
pub(crate) fn with_context_buf<R>(f: impl FnOnce(&ContextBuf) -> R) -> Option<R> {
    LOCAL.try_with(|l| f(&l.ctx)).ok()
}

/// Marks the calling thread as the drain thread (records never wait, R-BP-4).
pub(crate) fn mark_drain_thread() {
    let _ = LOCAL.try_with(|l| l.in_drain.set(true));
}

/// Retires this thread's producer now, as thread exit would (for the runtime's own threads
/// and for tests).
pub(crate) fn retire_current_thread() {
    let _ = LOCAL.try_with(|l| l.retire());
}

/// One thread's recording state for one runtime. Owned by the thread-local; see module doc.
pub(crate) struct Producer {
    /// The runtime generation this producer belongs to.
    generation: u64,
    /// The thread's current ring.
    writer: RingWriter,
    /// Index of the current ring, or `NIL`.
    ring: u32,
    /// The registry slot (lives as long as `shared`).
    entry: *const ThreadEntry,
    /// Copied from the configuration so the hot path reads one cache line.
    record_limit: usize,
    strict: bool,
    quota: usize,
    ring_size: usize,
    shared: Arc<Shared>,
}

impl Producer {
    fn entry(&self) -> &ThreadEntry {
        // SAFETY: the slot lives as long as the registry, which `self.shared` keeps alive.
        unsafe { &*self.entry }
    }

    /// Records one event (hot path).
    #[inline(always)]
    fn event<T: Encode + ?Sized>(&mut self, id: u32, args: &T, ctx: &ContextBuf) {
        let ts = crate::clock::now_ticks();
        let ctx_len = ctx.len();
        let ctx_size = if ctx_len == 0 { 0 } else { 2 + ctx_len };
        let size = HEADER_LEN + ctx_size + args.encoded_len();
        if T::DYNAMIC || size > self.record_limit {
            return self.event_unsized(id, ts, args, ctx, size);
        }
        let len = align8(size);
        let Some(p) = self.reserve(len, ts) else {
            return;
        };
        // SAFETY: `reserve` returned `len` writable bytes that belong to this record.
        let buf = unsafe { std::slice::from_raw_parts_mut(p, len) };
        let flags = RecordKind::Event.bits() | if ctx_len == 0 { 0 } else { FLAG_CONTEXT };
        buf[..HEADER_LEN].copy_from_slice(&Header { size: size as u16, flags, id, ts }.to_bytes());
        let body = write_context(buf, ctx);
        let mut enc = Encoder::new(&mut buf[body..size], 0);
        args.encode(&mut enc);
        self.writer.commit(len);
        self.shared.signal.after_publish();
    }

    /// Events whose size is only known after encoding (eager captures) or that exceed
    /// `max_record_size`: reserve the largest record, encode with truncation, then commit
    /// what was written — or drop in strict mode.
    #[cold]
    #[inline(never)]
    fn event_unsized<T: Encode + ?Sized>(&mut self, id: u32, ts: u64, args: &T, ctx: &ContextBuf, size: usize) {
        let limit = self.record_limit;
        let fixed = size - args.shrinkable_len();
        if fixed > limit || (size > limit && self.strict) {
            // Even with every string emptied it would not fit, or strict mode forbids cutting.
            self.drop_event(DropReason::Oversized, align8(size.min(limit + 8)));
            return;
        }
        let shrink = size.saturating_sub(limit);
        let Some(p) = self.reserve(limit, ts) else {
            return;
        };
        // SAFETY: `reserve` returned `limit` writable bytes for this record.
        let buf = unsafe { std::slice::from_raw_parts_mut(p, limit) };
        let body = write_context(buf, ctx);
        let mut enc = Encoder::new(&mut buf[body..limit], shrink);
        args.encode(&mut enc);
        let (written, truncated) = (enc.position(), enc.truncated());
        if truncated && self.strict {
            // Nothing was published: the reservation is simply not committed.
            self.drop_event(DropReason::Oversized, limit);
            return;
        }
        let size = body + written;
        let mut flags = RecordKind::Event.bits() | if ctx.len() == 0 { 0 } else { FLAG_CONTEXT };
        if truncated {
            flags |= FLAG_TRUNCATED;
        }
        buf[..HEADER_LEN].copy_from_slice(&Header { size: size as u16, flags, id, ts }.to_bytes());
        self.writer.commit(align8(size));
        self.shared.signal.after_publish();
    }

    /// Records an opaque payload (`record_bytes`).
    #[inline]
    fn raw(&mut self, event_id: u32, payload: &[u8]) {
        let ts = crate::clock::now_ticks();
        let mut keep = payload.len();
        let mut flags = RecordKind::Raw.bits();
        if HEADER_LEN + keep > self.record_limit {
            if self.strict {
                self.drop_event(DropReason::Oversized, align8(HEADER_LEN + keep).min(self.record_limit + 8));
                return;
            }
            keep = self.record_limit - HEADER_LEN;
            flags |= FLAG_TRUNCATED;
        }
        let size = HEADER_LEN + keep;
        let len = align8(size);
        let Some(p) = self.reserve(len, ts) else {
            return;
        };
        // SAFETY: `len` writable bytes reserved for this record.
        let buf = unsafe { std::slice::from_raw_parts_mut(p, len) };
        buf[..HEADER_LEN].copy_from_slice(&Header { size: size as u16, flags, id: event_id, ts }.to_bytes());
        buf[HEADER_LEN..size].copy_from_slice(&payload[..keep]);
        self.writer.commit(len);
        self.shared.signal.after_publish();
    }

    #[inline(always)]
    fn reserve(&mut self, len: usize, ts: u64) -> Option<*mut u8> {
        match self.writer.reserve(len) {
            Some(p) => Some(p),
            None => self.make_room(len, ts),
        }
    }

    /// The ring is full (or there is none yet): swap to a free ring, or drop the record.
    #[cold]
    #[inline(never)]
    fn make_room(&mut self, len: usize, _ts: u64) -> Option<*mut u8> {
        let shared = self.shared.clone();
        if self.ring != NIL {
            let held = 1 + self.entry().chain_len() as usize;
            if held >= self.quota {
                self.drop_event(DropReason::QuotaExceeded, len);
                return None;
            }
        }
        let Some(fresh) = shared.pool.free_list().pop() else {
            self.drop_event(DropReason::PoolExhausted, len);
            return None;
        };
        let handed_over = self.ring != NIL;
        self.install_ring(fresh);
        if handed_over {
            // A full ring is waiting in the chain: wake a sleeping or napping drain. (A
            // thread's first ring hands nothing over; its first record wakes the drain only
            // if the drain is fully asleep, like any record.)
            shared.signal.notify();
        }
        self.writer.reserve(len)
    }

    /// Hands the current ring (if any) to the drain and starts writing into `fresh`.
    fn install_ring(&mut self, fresh: u32) {
        let shared = self.shared.clone();
        let entry = self.entry();
        if self.ring != NIL {
            entry.push_full(self.ring);
        }
        // SeqCst: the drain's active-ring protocol (threads.rs) is a Dekker pair on `active`
        // and `reading`; it also orders after the chain push for the drain's chain check.
        entry.active.store(fresh, Ordering::SeqCst);
        self.ring = fresh;
        // SAFETY: `fresh` was popped from the pool, so this thread is its only producer; the
        // pool (inside `shared`) outlives the writer, which is reset before the producer dies.
        unsafe { self.writer.attach(shared.pool.base(fresh), shared.pool.ctl(fresh), self.ring_size) };
    }

    #[cold]
    fn drop_event(&self, reason: DropReason, bytes: usize) {
        self.entry().counters.drop_event(reason, bytes as u64);
    }

    /// Thread exit or runtime change: hand everything to the drain.
    fn retire(&mut self) {
        let entry = self.entry();
        if self.ring != NIL {
            entry.push_full(self.ring);
        }
        // SeqCst: as in `install_ring`.
        entry.active.store(NIL, Ordering::SeqCst);
        // Release: the drain that sees EXITED sees the final chain and counters.
        entry.slot.store(SLOT_EXITED, Ordering::Release);
        self.ring = NIL;
        self.writer.detach();
        self.shared.signal.notify();
    }
}

/// Writes the bound context after the header; returns where the arguments start.
#[inline(always)]
fn write_context(buf: &mut [u8], ctx: &ContextBuf) -> usize {
    let n = ctx.len();
    if n == 0 {
        return HEADER_LEN;
    }
    buf[HEADER_LEN..HEADER_LEN + 2].copy_from_slice(&(n as u16).to_le_bytes());
    buf[HEADER_LEN + 2..HEADER_LEN + 2 + n].copy_from_slice(ctx.bytes());
    HEADER_LEN + 2 + n
}

/// Finds or creates this thread's producer for the installed runtime.
#[cold]
#[inline(never)]
fn ensure_producer(local: &Local) -> Option<*mut Producer> {
    let shared = CURRENT.load_full();
    let cur = local.producer.get();
    if !cur.is_null() {
        // SAFETY: this thread's producer, not borrowed (we are not `busy`).
        let generation = unsafe { (*cur).generation };
        if shared.as_ref().is_some_and(|s| s.generation == generation) {
            return Some(cur);
        }
        local.retire();
    }
    let shared = shared?;
    let name = thread_name();
    let entry = shared.registry.claim(name, crate::platform::os_thread_id()) as *const ThreadEntry;
    let config = &shared.config;
    let p = Box::new(Producer {
        generation: shared.generation,
        writer: RingWriter::detached(),
        ring: NIL,
        entry,
        record_limit: config.record_limit(),
        strict: config.serialization == Serialization::Strict,
        quota: config.max_rings_per_thread,
        ring_size: config.ring_size,
        shared,
    });
    let p = Box::into_raw(p);
    local.producer.set(p);
    local.entry.set(entry);
    Some(p)
}

fn thread_name() -> Arc<str> {
    let named = std::panic::catch_unwind(|| std::thread::current().name().map(Arc::<str>::from)).ok().flatten();
    named.unwrap_or_else(|| Arc::from(format!("thread-{}", crate::platform::os_thread_id())))
}

/// Runs `f` with this thread's producer, or counts the event as unrecorded / re-entrant.
#[inline(always)]
fn with_producer(f: impl FnOnce(&mut Producer, &Local)) {
    let done = LOCAL.try_with(|local| {
        let p = local.producer.get();
        if local.busy.get() {
            return reentrant(local);
        }
        // Relaxed: see `GENERATION`.
        let fast = !p.is_null()
            // SAFETY: non-null `p` is this thread's producer and no `&mut` to it is alive
            // (`busy` is false), so reading a field through the pointer is fine.
            && unsafe { (*p).generation } == GENERATION.load(StdOrdering::Relaxed);
        let p = if fast {
            p
        } else {
            match ensure_producer(local) {
                Some(p) => p,
                None => return unrecorded(),
            }
        };
        local.busy.set(true);
        // Clears `busy` even if an eagerly captured argument's `Display` panics (the
        // half-written record is simply never committed).
        struct Idle<'l>(&'l Cell<bool>);
        impl Drop for Idle<'_> {
            fn drop(&mut self) {
                self.0.set(false);
            }
        }
        let _idle = Idle(&local.busy);
        // SAFETY: `p` is this thread's producer; `busy` is set for as long as this `&mut`
        // lives, so no nested call creates another one (module doc).
        f(unsafe { &mut *p }, local);
    });
    if done.is_err() {
        unrecorded();
    }
}

#[cold]
#[inline(never)]
fn unrecorded() {
    UNRECORDED.fetch_add(1, StdOrdering::Relaxed);
}

#[cold]
#[inline(never)]
fn reentrant(local: &Local) {
    let e = local.entry.get();
    if e.is_null() {
        return unrecorded();
    }
    // SAFETY: the slot outlives the producer, which is alive (we are inside its record).
    unsafe { &*e }.counters.drop_event(DropReason::Reentrant, 0);
}

/// Records an event for `callsite` with the given fields-then-arguments tuple. This is what
/// the recording macros expand to; integrations may call it directly.
#[inline(always)]
pub fn record_event<T: Encode + ?Sized>(callsite: &'static Callsite, args: &T) {
    let id = callsite.id();
    with_producer(|p, local| p.event(id, args, &local.ctx));
}

/// Records an opaque payload under the caller's `event_id` (R-CORE-8), for tracers that
/// encode their own events. The bytes are copied; sinks see them as [`RecordKind::Raw`]
/// events. A payload longer than `max_record_size − 16` is cut (best effort, marked
/// truncated) or dropped (strict).
///
/// ```
/// ringtrace::record_bytes(7, &[1, 2, 3]);
/// ```
#[inline]
pub fn record_bytes(event_id: u32, payload: &[u8]) {
    with_producer(|p, _| p.raw(event_id, payload));
}
