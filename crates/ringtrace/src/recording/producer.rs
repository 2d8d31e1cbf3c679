//! The recording path: what a thread does when it records an event.
//!
//! # Hot path (`record_event`)
//!
//! 1. Load the callsite id (one Acquire load; registration happens once, on a cold path).
//! 2. Reach this thread's [`Producer`] through a `const`-initialised thread-local and enter its
//!    runtime: store "inside" in the slot's presence word, a compiler barrier, and check that
//!    the runtime is not closed (one Relaxed load). No producer yet, or a closed runtime (a new
//!    one may be installed): cold path. Leaving is one Release store.
//!    This is the close handshake (`rings::slot::Presence`) that lets `shutdown` know no record is
//!    still on its way into the rings.
//! 3. Read the clock, compute the record's exact size from the argument types, reserve that
//!    many bytes in the thread's ring (normally no shared memory is touched: the cached head
//!    says there is room), write the header, the bound context and the encoded arguments.
//! 4. Publish with one Release store of the ring's tail, then check whether the drain is
//!    asleep (one Relaxed load; see `sync/wake.rs`).
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

use crate::backpressure::drops::DropReason;
use crate::callsite::{Callsite, BUSY, LIMITED};
use crate::config::{Policy, Serialization};
use crate::recording::context_buf::ContextBuf;
use crate::rings::pool::NIL;
use crate::rings::ring::RingWriter;
use crate::rings::slot::{ThreadEntry, SLOT_EXITED};
use crate::shared::{Shared, CURRENT};
use crate::sync::Ordering;
use crate::wire::encode::{fit, Encode, Encoder, Fitted};
use crate::wire::record::{align8, Header, LossInfo, RecordKind, FLAG_CONTEXT, FLAG_TRUNCATED, HEADER_LEN};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering as StdOrdering};
use std::sync::Arc;

// ---------------------------------------------------------------------------------------------
// The entry points, in the order a record runs through them.
// ---------------------------------------------------------------------------------------------

/// Records an event for `callsite` with the given fields-then-arguments tuple. This is what
/// the recording macros expand to; integrations may call it directly.
#[inline(always)]
pub fn record_event<T: Encode + ?Sized>(callsite: &'static Callsite, args: &T) {
    // One compare: a registered callsite without a limit (the id is in 1..LIMITED) records
    // right away; registration and limits go out of line.
    let word = callsite.loaded_word();
    if word.wrapping_sub(1) >= LIMITED - 1 {
        return record_limited(callsite, word, args);
    }
    with_producer(|p, local| p.event(word, args, &local.ctx));
}

/// [`record_event`] for a callsite with a rate limit or sampling (`recording/limit.rs`) or not
/// registered yet: out of line, so that the unlimited path stays as short as it was.
/// `loaded` is the id word `record_event` read: 0 or `BUSY`, or an id with `LIMITED` set.
#[inline(never)]
fn record_limited<T: Encode + ?Sized>(callsite: &'static Callsite, loaded: u32, args: &T) {
    if loaded == 0 || loaded == BUSY {
        return record_registering(callsite, args);
    }
    with_producer(|p, local| p.limited_event(callsite, loaded & !LIMITED, args, &local.ctx));
}

/// A callsite's first record (or one while another thread registers it): registers it, then
/// records as [`record_event`] does.
#[cold]
#[inline(never)]
fn record_registering<T: Encode + ?Sized>(callsite: &'static Callsite, args: &T) {
    let word = callsite.word();
    if word & LIMITED != 0 {
        return record_limited(callsite, word, args);
    }
    with_producer(|p, local| p.event(word, args, &local.ctx));
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

/// Runs `f` with this thread's producer, or counts the event as unrecorded / re-entrant.
#[inline(always)]
fn with_producer(f: impl FnOnce(&mut Producer, &Local)) {
    let done = LOCAL.try_with(|local| {
        let p = local.producer.get();
        if local.busy.get() {
            return reentrant(local);
        }
        // SAFETY: non-null `p` is this thread's producer and no `&mut` to it is alive (`busy`
        // is false), so a shared borrow for `enter` is fine.
        let fast = !p.is_null() && unsafe { (*p).enter() };
        let p = if fast {
            p
        } else {
            let Some(p) = ensure_producer(local) else { return unrecorded() };
            // SAFETY: as above. The runtime may have been shut down since `ensure_producer`
            // found it: `enter` decides (the close handshake, `rings::slot::Presence`).
            if !unsafe { (*p).enter() } {
                return unrecorded();
            }
            p
        };
        local.busy.set(true);
        let _idle = Idle(&local.busy);
        local.in_record.set(true);
        // Leaves the call when the record is done, also if an eager capture panics.
        struct Leave<'l>(*mut Producer, &'l Cell<bool>);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.1.set(false);
                // SAFETY: this thread's producer; the `&mut` handed to `f` is gone by now.
                unsafe { (*self.0).leave() };
            }
        }
        let _leave = Leave(p, &local.in_record);
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
    if local.in_record.get() {
        // SAFETY: the slot outlives the producer, which is alive and inside a call (we are
        // inside its record), so the runtime is not closed under us.
        return unsafe { &*e }.counters.drop_event(DropReason::Reentrant, 0);
    }
    // Inside a context binding, not a record: enter the runtime for this count.
    let p = local.producer.get();
    // SAFETY: this thread's producer (non-null while `entry` is); no `&mut` to it is alive
    // during a binding.
    if !p.is_null() && unsafe { (*p).enter() } {
        // SAFETY: as above; the slot lives as long as the producer's runtime.
        unsafe { &*e }.counters.drop_event(DropReason::Reentrant, 0);
        // SAFETY: as above.
        unsafe { (*p).leave() };
    } else {
        unrecorded();
    }
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
    let p = Box::into_raw(Box::new(Producer::new(shared?, local, thread_name(), crate::platform::os_thread_id())));
    local.producer.set(p);
    // SAFETY: just created, not borrowed.
    local.entry.set(unsafe { (*p).entry });
    Some(p)
}

fn thread_name() -> Arc<str> {
    let named = std::panic::catch_unwind(|| std::thread::current().name().map(Arc::<str>::from)).ok().flatten();
    named.unwrap_or_else(|| Arc::from(format!("thread-{}", crate::platform::os_thread_id())))
}

// ---------------------------------------------------------------------------------------------
// The producer: one thread's recording state for one runtime, and its hot path.
// ---------------------------------------------------------------------------------------------

/// Bytes of a loss record (header + `LossInfo`).
pub(super) const LOSS_LEN: usize = HEADER_LEN + LossInfo::LEN;

/// One thread's recording state for one runtime. Owned by the thread-local; see module doc.
pub(crate) struct Producer {
    /// The runtime generation this producer belongs to.
    pub(super) generation: u64,
    /// Rings this thread has started writing into (the sequence a pool file notes per ring).
    pub(super) rings_taken: u64,
    /// The thread's current ring.
    pub(super) writer: RingWriter,
    /// Index of the current ring, or `NIL`.
    pub(super) ring: u32,
    /// A loss gap is open (events were dropped since the last loss record): the next record
    /// that finds room writes a loss record first. Mirrors `entry.gap` (hot-path copy).
    pub(super) gap_open: bool,
    /// While a loss gap is open: the reason the last full check found for dropping, and the
    /// drain's epoch then (`ThreadEntry::drain_epoch`). Same epoch: nothing that check read
    /// can have changed but the pool's free count, so the record is dropped at once.
    pub(super) drop_cache: Option<(DropReason, u32)>,
    /// The registry slot (lives as long as `shared`).
    pub(super) entry: *const ThreadEntry,
    /// This thread's `Local` (for the per-thread policy override); lives as long as the thread.
    pub(super) local: *const Local,
    /// Copied from the configuration so the hot path reads one cache line.
    pub(super) record_limit: usize,
    pub(super) strict: bool,
    pub(super) quota: usize,
    pub(super) ring_size: usize,
    /// This is the drain thread: never wait (R-BP-4).
    pub(super) is_drain: bool,
    /// Events committed to this thread's rings (published by `Presence::leave`).
    pub(super) committed: u64,
    /// The platform has no heavy fence half (`membarrier`): `enter` fences fully instead.
    pub(super) strong_fence: bool,
    /// This thread's state of each limited or sampled callsite it recorded from, indexed by
    /// `Callsite::slot` (grown on a callsite's first use on this thread, `recording/limit.rs`).
    pub(super) limits: Vec<LimitState>,
    /// Seconds per clock tick, 64 fractional bits (the rate windows of `recording/limit.rs`).
    pub(super) sec_per_tick_q64: u64,
    pub(super) shared: Arc<Shared>,
}

impl Producer {
    /// A producer for `shared`, registered as a new thread of it; `local` is the calling
    /// thread's state (its policy override and drain flag), which must outlive the producer.
    pub(crate) fn new(shared: Arc<Shared>, local: &Local, name: Arc<str>, os_tid: u64) -> Self {
        let entry = shared.registry.claim(name.clone(), os_tid) as *const ThreadEntry;
        // A pool file describes the thread before any of its records (cold: once per thread).
        #[cfg(not(feature = "loom"))]
        if let Some(f) = shared.pool.journal() {
            // SAFETY: registry slots live as long as the registry (inside `shared`).
            let id = unsafe { &*entry }.thread_id.load(StdOrdering::Relaxed);
            f.describe_thread(&crate::output::event::ThreadInfo { id, name: name.to_string(), os_tid });
        }
        let config = &shared.config;
        Producer {
            committed: 0,
            strong_fence: !crate::sync::asymmetric_available(),
            generation: shared.generation,
            writer: RingWriter::detached(),
            ring: NIL,
            gap_open: false,
            drop_cache: None,
            entry,
            local: local as *const Local,
            is_drain: local.in_drain.get(),
            record_limit: config.record_limit(),
            strict: config.serialization == Serialization::Strict,
            quota: config.max_rings_per_thread,
            ring_size: config.ring_size,
            rings_taken: 0,
            limits: Vec::new(),
            sec_per_tick_q64: shared.clock.sec_per_tick_q64(),
            shared,
        }
    }

    /// Enters a call on this producer's runtime (the close handshake, `rings::slot::Presence`):
    /// `true` if the runtime is still installed, and then the caller must `leave` when done;
    /// `false` if it is gone (nothing may be written to it: the event is unrecorded).
    #[inline(always)]
    fn enter(&self) -> bool {
        let presence = &self.entry().presence;
        presence.enter(self.committed);
        // The producer's half of the close handshake's fence pair.
        if self.strong_fence {
            crate::sync::fence(Ordering::SeqCst);
        } else {
            crate::sync::asymmetric_light();
        }
        // Relaxed: ordered by the fence pair (`rings::slot::Presence`).
        if !self.shared.closed.load(Ordering::Relaxed) {
            return true;
        }
        presence.leave(self.committed);
        false
    }

    /// Leaves the call `enter` began.
    #[inline(always)]
    fn leave(&self) {
        self.entry().presence.leave(self.committed);
    }

    pub(super) fn entry(&self) -> &ThreadEntry {
        // SAFETY: the slot lives as long as the registry, which `self.shared` keeps alive.
        unsafe { &*self.entry }
    }

    /// The runtime's shared state, borrowed apart from `self` so `&mut self` methods can run
    /// while it is in use, without an `Arc` clone: the reference count is one cache line
    /// that every producer thread would otherwise write on each swap and drop.
    pub(super) fn shared_ref<'a>(&self) -> &'a Shared {
        // SAFETY: `self.shared` is set at creation and never replaced, and the producer keeps
        // that Arc (so the `Shared`) alive until it is dropped; callers use the reference
        // only within one call on the producer, which cannot drop the producer itself.
        unsafe { &*Arc::as_ptr(&self.shared) }
    }

    /// The policy in force for this thread: its override, or the runtime's.
    pub(super) fn policy(&self) -> Policy {
        // SAFETY: `Local` outlives the producer it owns (the producer is retired in its drop).
        unsafe { &*self.local }.policy.get().unwrap_or(self.shared.config.policy)
    }

    /// Records one event (hot path).
    #[inline(always)]
    pub(super) fn event<T: Encode + ?Sized>(&mut self, id: u32, args: &T, ctx: &ContextBuf) {
        self.event_with_clock(id, args, ctx, crate::clock::now_ticks);
    }

    /// [`event`](Self::event), with the timestamp from `clock` (read after the reservation):
    /// a rate-limited record passes the tick count its limit already read.
    #[inline(always)]
    pub(super) fn event_with_clock<T: Encode + ?Sized>(
        &mut self,
        id: u32,
        args: &T,
        ctx: &ContextBuf,
        clock: impl FnOnce() -> u64,
    ) {
        let ctx_len = ctx.len();
        let ctx_size = if ctx_len == 0 { 0 } else { 2 + ctx_len };
        let size = HEADER_LEN + ctx_size + args.encoded_len();
        if T::DYNAMIC || size > self.record_limit {
            return self.event_unsized(id, args, ctx, size);
        }
        let len = align8(size);
        // Room first, the clock after: a dropped record never reads the clock (R-BP-6).
        let Some(p) = self.reserve(len) else { return };
        let ts = clock();
        // SAFETY: `reserve` returned `len` writable bytes that belong to this record.
        let buf = unsafe { std::slice::from_raw_parts_mut(p, len) };
        zero_padding(buf);
        let flags = RecordKind::Event.bits() | if ctx_len == 0 { 0 } else { FLAG_CONTEXT };
        buf[..HEADER_LEN].copy_from_slice(&Header { size: size as u16, flags, id, ts }.to_bytes());
        let body = write_context(buf, ctx);
        let mut enc = Encoder::new(&mut buf[body..size]);
        args.encode(&mut enc);
        self.writer.commit(len);
        self.committed += 1;
        self.shared.signal.after_publish();
    }

    /// Events whose size is only known after encoding (eager captures) or that exceed
    /// `max_record_size`: reserve the largest record, encode into it with `encode::fit`
    /// (best effort: fixed-size values kept, strings and captured text cut, longest first;
    /// a placeholder without values if even that cannot fit), then commit exactly what was
    /// written — or drop in strict mode (R-LIFE-3).
    ///
    /// A record dropped for want of room is counted (metrics, loss record) as its smallest
    /// possible size, not as the reservation (R-BP-6): `size` is the header, the context and
    /// `Encode::encoded_len` — exact for every value but eager captures, which count their tag
    /// and length only (their text is not formatted for a record that is dropped) — and a
    /// record larger than `max_record_size` counts `max_record_size`, what its cut form
    /// fills. So the count never exceeds what the record would have taken, but for a record
    /// whose fixed-size values alone exceed `max_record_size` (stored as a placeholder).
    #[cold]
    #[inline(never)]
    fn event_unsized<T: Encode + ?Sized>(&mut self, id: u32, args: &T, ctx: &ContextBuf, size: usize) {
        let limit = self.record_limit;
        if self.strict && size > limit {
            // Strict mode never cuts, and even the smallest encoding is too large.
            self.dropped(DropReason::Oversized, align8(size));
            return;
        }
        let counted = align8(size).min(limit);
        let p = if self.gap_open { None } else { self.writer.reserve(limit) };
        let Some(p) = p.or_else(|| self.reserve_slow(limit, counted)) else { return };
        let ts = crate::clock::now_ticks();
        // SAFETY: `reserve` returned `limit` writable bytes for this record.
        let buf = unsafe { std::slice::from_raw_parts_mut(p, limit) };
        // The bound context is never cut: if it does not fit, no value does either, and the
        // placeholder goes without it.
        let with_ctx = ctx.len() == 0 || HEADER_LEN + 2 + ctx.len() <= limit;
        let (body, fitted) = if with_ctx {
            let body = write_context(buf, ctx);
            (body, fit(&mut buf[body..], args, !self.strict))
        } else {
            (HEADER_LEN, Fitted::PLACEHOLDER)
        };
        if self.strict && (fitted.truncated || fitted.invalid) {
            // Nothing was published: the reservation is simply not committed. An invalid
            // record was written whole (its size is known); one that did not fit would have
            // taken more than `limit`.
            let (reason, bytes) = if fitted.truncated {
                (DropReason::Oversized, limit)
            } else {
                (DropReason::Invalid, align8(body + fitted.len))
            };
            self.dropped(reason, bytes);
            return;
        }
        let size = body + fitted.len;
        let mut flags = RecordKind::Event.bits() | if with_ctx && ctx.len() != 0 { FLAG_CONTEXT } else { 0 };
        if fitted.truncated || fitted.invalid {
            flags |= FLAG_TRUNCATED;
        }
        buf[..HEADER_LEN].copy_from_slice(&Header { size: size as u16, flags, id, ts }.to_bytes());
        // The padding after the record holds whatever the ring held before: zero it (a
        // record's committed bytes are all written for it; raw sinks store them as they are).
        buf[size..align8(size)].fill(0);
        self.writer.commit(align8(size));
        self.committed += 1;
        self.shared.signal.after_publish();
    }

    /// Room for one record of `len` bytes: the hot path when the ring has room and no loss
    /// gap is open, the cold path otherwise.
    #[inline(always)]
    fn reserve(&mut self, len: usize) -> Option<*mut u8> {
        if !self.gap_open {
            if let Some(p) = self.writer.reserve(len) {
                return Some(p);
            }
        }
        self.reserve_slow(len, len)
    }

    /// `record_bytes` on this producer without the thread-local (the loom models): enters the
    /// runtime, records, leaves. `false` if the runtime is closed (the event is unrecorded).
    #[cfg(feature = "loom")]
    pub(crate) fn record_raw(&mut self, event_id: u32, payload: &[u8]) -> bool {
        if !self.enter() {
            return false;
        }
        self.raw(event_id, payload);
        self.leave();
        true
    }

    /// Records an opaque payload (`record_bytes`).
    #[inline]
    fn raw(&mut self, event_id: u32, payload: &[u8]) {
        let mut keep = payload.len();
        let mut flags = RecordKind::Raw.bits();
        if HEADER_LEN + keep > self.record_limit {
            if self.strict {
                self.dropped(DropReason::Oversized, align8(HEADER_LEN + keep));
                return;
            }
            keep = self.record_limit - HEADER_LEN;
            flags |= FLAG_TRUNCATED;
        }
        let size = HEADER_LEN + keep;
        let len = align8(size);
        let Some(p) = self.reserve(len) else { return };
        let ts = crate::clock::now_ticks();
        // SAFETY: `len` writable bytes reserved for this record.
        let buf = unsafe { std::slice::from_raw_parts_mut(p, len) };
        zero_padding(buf);
        buf[..HEADER_LEN].copy_from_slice(&Header { size: size as u16, flags, id: event_id, ts }.to_bytes());
        buf[HEADER_LEN..size].copy_from_slice(&payload[..keep]);
        self.writer.commit(len);
        self.committed += 1;
        self.shared.signal.after_publish();
    }

    /// Thread exit or runtime change: hand everything to the drain — if the runtime is still
    /// installed. If it was shut down, the close handshake already made the drain the owner of
    /// this thread's rings and gap (`rings::slot::Presence`): touch nothing.
    pub(crate) fn retire(&mut self) {
        if !self.enter() {
            return;
        }
        // Close an open gap if the ring has room; otherwise the drain reports it from the
        // slot's gap when it retires the slot.
        if self.gap_open {
            if let Some(p) = self.writer.reserve(LOSS_LEN) {
                self.write_loss(p);
            }
        }
        let entry = self.entry();
        if self.ring != NIL {
            entry.push_full(self.ring);
        }
        // Release: as in `install_ring`.
        entry.active.store(NIL, Ordering::Release);
        // The last use of the slot by this producer: publish the committed count before the
        // slot may be retired and recycled.
        self.leave();
        // Release: the drain that sees EXITED sees the final chain, gap, counters and count.
        entry
            .slot
            .store(SLOT_EXITED, crate::sync::weaken::ordering(crate::sync::Mutation::ExitRelaxed, Ordering::Release));
        self.ring = NIL;
        self.writer.detach();
        self.shared.signal.notify();
    }
}

/// One thread's state of one limited callsite.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct LimitState {
    /// Sampling: calls since the last one recorded (0: the next one is recorded).
    pub(super) seen: u32,
    /// Rate: the window (second) `tokens` belong to.
    pub(super) window: u32,
    /// Rate: the first clock tick after `window` (0 with the tests' injected clock): a call
    /// before it is in `window` without working out the second.
    pub(super) until: u64,
    /// Rate: passes taken from the window and not yet spent.
    pub(super) tokens: u32,
    /// Rate: the window is spent (nothing to take until the next second).
    pub(super) spent: bool,
    /// Rate: events suppressed on this thread since its last one that passed.
    pub(super) suppressed: u32,
    /// Rate: suppressed calls left before one reads the clock again, while the window is spent
    /// (0: every call reads it; `recording/limit.rs`, "Suppressed calls read no clock").
    pub(super) unchecked: u32,
}

/// Zeroes the last 8 bytes of a record's reservation before the record is written into it,
/// so that the 0–7 bytes of padding after it never carry older ring contents (raw sinks store
/// committed ring bytes unchanged). One store; the record's own bytes overwrite the rest.
#[inline(always)]
fn zero_padding(buf: &mut [u8]) {
    let n = buf.len();
    buf[n - 8..].copy_from_slice(&[0; 8]);
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

// ---------------------------------------------------------------------------------------------
// The thread's state: `LOCAL`, reached by every call on this thread.
// ---------------------------------------------------------------------------------------------

/// Per-thread state, reached through `LOCAL`.
pub(crate) struct Local {
    /// This thread's producer (a leaked `Box`), or null.
    producer: Cell<*mut Producer>,
    /// The producer's registry slot (also reachable while `producer` is borrowed).
    entry: Cell<*const ThreadEntry>,
    /// A record is being written or context is being bound on this thread (re-entrance
    /// guard).
    busy: Cell<bool>,
    /// A record is being written (the producer is inside a call: `Producer::enter`).
    in_record: Cell<bool>,
    /// This thread is the drain thread (R-BP-4: never wait).
    in_drain: Cell<bool>,
    /// This thread's policy override ([`set_thread_policy`]).
    policy: Cell<Option<Policy>>,
    /// Bound context.
    pub(crate) ctx: ContextBuf,
}

impl Local {
    pub(crate) const fn new() -> Self {
        Self {
            producer: Cell::new(std::ptr::null_mut()),
            entry: Cell::new(std::ptr::null()),
            busy: Cell::new(false),
            in_record: Cell::new(false),
            in_drain: Cell::new(false),
            policy: Cell::new(None),
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

/// Runs `f` with this thread's context buffer to bind a pair, with the re-entrance guard set
/// for the whole binding: an event recorded by the bound value's own `Display` is dropped as
/// [`DropReason::Reentrant`], as for an event argument. `None` (nothing bound) inside a
/// record or during thread teardown.
pub(crate) fn with_binding<R>(f: impl FnOnce(&ContextBuf) -> R) -> Option<R> {
    LOCAL
        .try_with(|l| {
            if l.busy.replace(true) {
                return None;
            }
            let _idle = Idle(&l.busy);
            Some(f(&l.ctx))
        })
        .ok()
        .flatten()
}

/// Clears a thread's `busy` flag when dropped: at the end of a record or binding, also when an
/// eagerly captured argument's `Display` panics (a half-written record is simply never
/// committed).
struct Idle<'l>(&'l Cell<bool>);

impl Drop for Idle<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

/// Whether the calling thread is the drain thread.
pub(crate) fn is_drain_thread() -> bool {
    LOCAL.try_with(|l| l.in_drain.get()).unwrap_or(false)
}

/// Marks the calling thread as the drain thread (records never wait, R-BP-4).
pub(crate) fn mark_drain_thread() {
    let _ = LOCAL.try_with(|l| l.in_drain.set(true));
}

/// Overrides the runtime's backpressure [`Policy`] for the calling thread (`None` restores the
/// runtime's). Takes effect on the thread's next record that finds no room, in this and in
/// later runtimes.
///
/// ```
/// use ringtrace::Policy;
/// // A thread whose events matter more than its latency:
/// ringtrace::set_thread_policy(Some(Policy::Block { timeout: std::time::Duration::from_millis(5) }));
/// ```
pub fn set_thread_policy(policy: Option<Policy>) {
    let _ = LOCAL.try_with(|l| l.policy.set(policy));
}

/// Retires this thread's producer now, as thread exit would (for the runtime's own threads
/// and for tests).
pub(crate) fn retire_current_thread() {
    let _ = LOCAL.try_with(|l| l.retire());
}

/// Events recorded with no runtime installed, or during thread teardown, or after shutdown.
static UNRECORDED: AtomicU64 = AtomicU64::new(0);

/// Events that could not be recorded because no runtime was installed (or the recording
/// thread was being torn down). They are not part of any runtime's accounting.
pub fn unrecorded_events() -> u64 {
    UNRECORDED.load(StdOrdering::Relaxed)
}

/// Benchmarks only (`benches/benches/record.rs`): hands this thread's current ring to the
/// drain and takes a fresh one from the pool, the cold path a record takes when its ring is
/// full. Returns whether it did: `false` if no runtime is installed, the thread has not
/// recorded yet, or the pool or the thread's quota has no ring for it. Not part of the API.
#[doc(hidden)]
pub fn bench_swap_ring() -> bool {
    let mut swapped = false;
    with_producer(|p, _| swapped = p.ring != NIL && p.take_fresh_ring().is_ok());
    swapped
}
