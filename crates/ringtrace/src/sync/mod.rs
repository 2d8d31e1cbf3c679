//! The one place atomics, cells and thread primitives come from (std's or loom's), and the
//! drain's sleep/wake handshake ([`wake`]).
//! Used on every thread; the lowest layer, it names no other part of the crate but `platform`.
//!
//! Every lock-free protocol in ringtrace (ring publish/consume, the pool's free list, the
//! per-thread ring chain, the drain's sleep/wake handshake, the thread registry) imports its
//! primitives from here and never from `std` directly. With the `loom` feature the same code
//! is compiled against [loom]'s model-checked types, so `cargo test --features loom` explores
//! the interleavings of the real protocol code rather than of a copy.
//!
//! Both halves expose the same API:
//!
//! - atomics, `fence`, `Arc`, `thread`;
//! - [`UnsafeCell`] with `with`/`with_mut` (tokio's and loom's shape);
//! - [`AccessTracker`]: marks reads and writes of a range of raw ring memory. Ring bytes live in
//!   a memory mapping loom cannot see, so the ring tells loom which words it is about to touch;
//!   a missing happens-before edge then shows up as a loom causality error. Without loom it
//!   compiles to nothing.
//! - [`asymmetric_light`] / [`asymmetric_heavy`]: an asymmetric fence pair (see below).
//!
//! # Asymmetric fences
//!
//! The recording path checks "is the drain asleep?" after publishing a record. To be sure no
//! wake-up is lost that check needs a store→load barrier on both sides (a Dekker pattern), but a
//! full fence on every record costs about as much as the rest of the record. So the producer
//! only issues a compiler barrier ([`asymmetric_light`]), and the drain, before it goes to sleep,
//! issues `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)` ([`asymmetric_heavy`]), which makes
//! every running thread of the process execute a full barrier. Together they order like two
//! `SeqCst` fences (the technique of Linux's `sys_membarrier` and folly's `asymmetricHeavy
//! Barrier`). Where `membarrier` is unavailable the heavy side returns `false`; the drain
//! still sleeps deeply, and a record racing with its announcement waits at most `IDLE_TIMEOUT`
//! (see `drain/mod.rs`). Under loom both sides are `fence(SeqCst)`, which is
//! exactly the semantics the pair provides.

pub(crate) mod wake;

#[cfg(not(feature = "loom"))]
mod imp {
    pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
    pub(crate) use std::sync::Mutex;
    pub(crate) use std::thread;

    /// `std::cell::UnsafeCell` with loom's closure-based API. (Ring bytes live in the pool's
    /// mapping and are tracked with `AccessTracker`; this is for cells inside Rust values.)
    #[allow(dead_code)]
    #[derive(Debug)]
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    #[allow(dead_code)]
    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(value: T) -> Self {
            Self(std::cell::UnsafeCell::new(value))
        }

        /// Runs `f` with a shared pointer to the contents.
        #[inline(always)]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        /// Runs `f` with an exclusive pointer to the contents.
        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }

    /// Without loom there is nothing to track: every method is a no-op.
    #[derive(Debug, Default)]
    pub(crate) struct AccessTracker;

    impl AccessTracker {
        pub(crate) fn new(_bytes: usize) -> Self {
            Self
        }
        #[inline(always)]
        pub(crate) fn write(&self, _offset: usize, _len: usize) {}
        #[inline(always)]
        pub(crate) fn read(&self, _offset: usize, _len: usize) {}
    }

    /// The light half of the asymmetric fence: a compiler barrier only.
    #[inline(always)]
    pub(crate) fn asymmetric_light() {
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
    }

    /// The heavy half: `membarrier(PRIVATE_EXPEDITED)`. Returns `false` if the kernel refused
    /// (then the caller must not rely on the light side: a sleep it announces may miss a
    /// wake-up and last until its timeout).
    pub(crate) fn asymmetric_heavy() -> bool {
        crate::platform::membarrier()
    }

    /// Whether the heavy half works on this system (checked once). Where it does not, a
    /// protocol that cannot tolerate a miss (the close handshake) uses a SeqCst fence on the
    /// light side too.
    pub(crate) fn asymmetric_available() -> bool {
        crate::platform::membarrier_available()
    }

    /// Parks the calling thread until unparked or `timeout` elapses.
    pub(crate) fn park_timeout(timeout: std::time::Duration) {
        std::thread::park_timeout(timeout);
    }

    /// Time since `t`, for the drain's decisions on grace periods, lingering and recovery
    /// sweeps.
    #[inline]
    pub(crate) fn elapsed(t: std::time::Instant) -> std::time::Duration {
        t.elapsed()
    }

    /// One step of a wait for another thread: spin briefly, then yield the CPU.
    #[inline]
    pub(crate) fn spin_wait(iteration: u32) {
        if iteration < 64 {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

#[cfg(feature = "loom")]
mod imp {
    pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
    pub(crate) use loom::sync::Mutex;
    pub(crate) use loom::thread;

    pub(crate) use loom::cell::UnsafeCell;

    /// One loom cell per 8-byte word of a ring: `write` and `read` touch the cells covering a
    /// byte range, so loom checks that every read of ring memory happens after the write.
    #[derive(Debug)]
    pub(crate) struct AccessTracker {
        words: Vec<UnsafeCell<()>>,
    }

    impl AccessTracker {
        pub(crate) fn new(bytes: usize) -> Self {
            Self { words: (0..bytes.div_ceil(8)).map(|_| UnsafeCell::new(())).collect() }
        }

        pub(crate) fn write(&self, offset: usize, len: usize) {
            for w in &self.words[offset / 8..(offset + len).div_ceil(8)] {
                w.with_mut(|_| ());
            }
        }

        pub(crate) fn read(&self, offset: usize, len: usize) {
            for w in &self.words[offset / 8..(offset + len).div_ceil(8)] {
                w.with(|_| ());
            }
        }
    }

    /// Under loom the pair is modelled by what it guarantees: a `SeqCst` fence on each side.
    pub(crate) fn asymmetric_light() {
        fence(Ordering::SeqCst);
    }

    /// See [`asymmetric_light`].
    pub(crate) fn asymmetric_heavy() -> bool {
        fence(Ordering::SeqCst);
        true
    }

    /// Under loom both halves are fences, so the pair always works.
    pub(crate) fn asymmetric_available() -> bool {
        true
    }

    /// loom has no timed park: a model parks until unparked, so a lost wake-up shows up as a
    /// deadlock instead of being papered over by the timeout.
    pub(crate) fn park_timeout(_timeout: std::time::Duration) {
        loom::thread::park();
    }

    /// Under loom every period has passed: wall time would make a model nondeterministic, and
    /// "long ago" makes the drain sleep (and so depend on being woken) as soon as it is idle.
    pub(crate) fn elapsed(_t: std::time::Instant) -> std::time::Duration {
        std::time::Duration::MAX
    }

    /// Under loom every wait step yields, so the model explores the other threads.
    pub(crate) fn spin_wait(_iteration: u32) {
        loom::thread::yield_now();
    }
}

pub(crate) use imp::*;

/// A statistics counter: an event count that no other memory access is ordered by (drops,
/// deliveries, transitions, time per state). Always `std`'s atomic, also under loom: the
/// models need not interleave pure counts, and every one of them multiplies the schedules a
/// model must explore. Anything a protocol decision depends on is a [`AtomicU64`] instead.
pub(crate) use std::sync::atomic::AtomicU64 as StatCounter;
/// A statistics gauge (a high-water mark): as [`StatCounter`].
pub(crate) use std::sync::atomic::AtomicUsize as StatUsize;

/// `crossbeam_utils::CachePadded`, re-exported so that every shared index comes from here too.
pub(crate) use crossbeam_utils::CachePadded;

/// Deliberate bugs that the loom models must catch (`loom-tests/tests/weakened.rs`): each
/// weakens one ordering or removes one step of a protocol. Only a loom build can switch one on
/// (`loom_api::set_mutation`); in every other build [`weaken::active`] is a constant `false`
/// and the code compiles to the correct protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(feature = "loom"), allow(dead_code))]
#[non_exhaustive]
pub enum Mutation {
    /// `rings/ring.rs`: the publishing store of `tail` is Relaxed instead of Release.
    RingPublish,
    /// `rings/slot.rs`: the drain's reading announcement is stored Relaxed instead of Release.
    AnnounceRelease,
    /// `rings/slot.rs`: the drain's announcement is not withdrawn when a read ends by unwinding.
    NoWithdrawOnUnwind,
    /// `backpressure/mod.rs`: a transition retries its CAS on any word in the expected state
    /// (the pre-fix behaviour: a decision made on a stale `since` is applied).
    StaleStateRetry,
    /// `drain/mod.rs`: blocked producers are woken only when a pass read records, not whenever
    /// it returned rings or released ring space.
    WakeOnlyOnRecords,
    /// `sync/wake.rs`: a producer's cold-path notify (thread exit, PRESSURE, a `Block` wait)
    /// does not fence before checking whether the drain naps.
    NoNotifyFence,
    /// `drain/mod.rs`: the drain's re-check before sleeping ignores a pending snapshot request.
    NoSnapshotCheck,
    /// `recording/producer.rs`: a thread's exit marks its slot EXITED with a Relaxed store.
    ExitRelaxed,
    /// `recording/producer.rs`: the shutdown handshake does not wait for producers in a record.
    NoCloseWait,
    /// `backpressure/mod.rs`: a blocked producer does not announce itself before its last check.
    NoWaiterAnnounce,
    /// `rings/pool.rs`: a pop's load of the head and its CAS are Relaxed instead of Acquire.
    FreeListPopRelaxed,
}

/// The switch for [`Mutation`]s.
pub mod weaken {
    use super::{Mutation, Ordering};

    #[cfg(feature = "loom")]
    static ACTIVE: std::sync::Mutex<Option<Mutation>> = std::sync::Mutex::new(None);

    /// Switches `m` on (or every mutation off). Loom builds only.
    #[cfg(feature = "loom")]
    pub fn set(m: Option<Mutation>) {
        *ACTIVE.lock().unwrap_or_else(|e| e.into_inner()) = m;
    }

    /// Whether `m` is switched on.
    #[cfg(feature = "loom")]
    pub fn active(m: Mutation) -> bool {
        *ACTIVE.lock().unwrap_or_else(|e| e.into_inner()) == Some(m)
    }

    /// Whether `m` is switched on: never, outside loom builds.
    #[cfg(not(feature = "loom"))]
    #[inline(always)]
    pub const fn active(_m: Mutation) -> bool {
        false
    }

    /// `order`, or `Relaxed` when `m` is switched on.
    #[inline(always)]
    pub fn ordering(m: Mutation, order: Ordering) -> Ordering {
        if active(m) {
            Ordering::Relaxed
        } else {
            order
        }
    }
}
