//! The ring pool: one memory mapping carved into `N` rings of `S` bytes, and a lock-free free
//! list of ring indices (R-CORE-2).
//!
//! ```text
//!  mapping (N × S bytes, memmap2, anonymous)
//!  +-----------+-----------+-----------+-- … --+-----------+
//!  | ring 0    | ring 1    | ring 2    |       | ring N−1  |
//!  +-----------+-----------+-----------+-- … --+-----------+
//!  ctl: [RingCtl; N]   (heap: the positions, each on its own cache line)
//!  next: [AtomicU32; N] (free-list links)
//! ```
//!
//! # The free list
//!
//! A Treiber stack of ring indices whose head is one `AtomicU64` packing `(tag << 32) | index`.
//! Every successful push or pop increments the tag, so a CAS that read an old head fails even if
//! the same index is back on top (the ABA problem: thread A reads head = 5 → next 3; B pops 5,
//! pops 3, pushes 5; A's CAS would install 3, which is in use). A 32-bit tag wraps only after
//! 2³² operations between one thread's load and its CAS.
//!
//! - `pop`: load head (Acquire), read `next[index]` (Relaxed), CAS head → `(tag+1, next)`
//!   (Acquire on success). The Acquire pairs with the Release of the push that put the index
//!   there, so the ring's reset positions and its `next` link are visible. A stale `next` read
//!   is harmless: any change to head changes the tag, and the CAS fails.
//! - `push`: store `next[index]` = current head index (Relaxed), CAS head → `(tag+1, index)`
//!   (Release on success): publishes the link and everything the pusher did to the ring.
//!
//! # Counts
//!
//! `free` is incremented *before* a push and decremented *after* a pop, so it never
//! under-counts and never goes below zero; it may briefly over-count by the pushes in flight.
//! `high_water` is the largest number of rings ever in use at once (`fetch_max` after a pop).

use crate::rings::ring::RingCtl;
use crate::sync::{AtomicU32, AtomicU64, AtomicUsize, CachePadded, Ordering, StatUsize};
use std::fmt;

/// "No ring": the free list's empty marker and the registry's "no active ring".
pub(crate) const NIL: u32 = u32::MAX;

/// The lock-free, ABA-safe free list of ring indices. See the module doc.
#[derive(Debug)]
pub(crate) struct FreeList {
    /// `(tag << 32) | index of the top ring` (`NIL` when empty). On a cache line of its own:
    /// a swap writes it (the pop's CAS) and nothing else of the pool.
    head: CachePadded<AtomicU64>,
    /// `next[i]`: the ring below ring `i` on the stack. Written by the pusher of `i` before
    /// its Release CAS; read by poppers after an Acquire load of `head`.
    next: Box<[AtomicU32]>,
    /// Free rings (never under-counts; see the module doc). Its own cache line, apart from
    /// `head`'s.
    free: CachePadded<AtomicUsize>,
    /// Most rings ever in use at once (statistics only). Written only when it grows, so in a
    /// steady state a pop reads it and writes nothing.
    high_water: CachePadded<StatUsize>,
}

#[inline(always)]
fn pack(tag: u32, index: u32) -> u64 {
    ((tag as u64) << 32) | index as u64
}

#[inline(always)]
fn unpack(v: u64) -> (u32, u32) {
    ((v >> 32) as u32, v as u32)
}

impl FreeList {
    /// A free list holding rings `0..n` (ring 0 on top).
    pub(crate) fn new(n: u32) -> Self {
        let next: Box<[AtomicU32]> = (0..n).map(|i| AtomicU32::new(if i + 1 < n { i + 1 } else { NIL })).collect();
        Self {
            head: CachePadded::new(AtomicU64::new(pack(0, if n == 0 { NIL } else { 0 }))),
            next,
            free: CachePadded::new(AtomicUsize::new(n as usize)),
            high_water: CachePadded::new(StatUsize::new(0)),
        }
    }

    /// Capacity (total rings).
    pub(crate) fn capacity(&self) -> usize {
        self.next.len()
    }

    /// Takes a free ring, or `None` if there is none.
    pub(crate) fn pop(&self) -> Option<u32> {
        // Acquire: pairs with the Release CAS of the push that installed this head.
        let mut cur =
            self.head.load(crate::sync::weaken::ordering(crate::sync::Mutation::FreeListPopRelaxed, Ordering::Acquire));
        loop {
            let (tag, index) = unpack(cur);
            if index == NIL {
                return None;
            }
            // Relaxed: a stale value only matters if head changed, and then the CAS fails.
            let next = self.next[index as usize].load(Ordering::Relaxed);
            match self.head.compare_exchange_weak(
                cur,
                pack(tag.wrapping_add(1), next),
                // Acquire: we take ownership of the ring; see everything its pusher did.
                crate::sync::weaken::ordering(crate::sync::Mutation::FreeListPopRelaxed, Ordering::Acquire),
                crate::sync::weaken::ordering(crate::sync::Mutation::FreeListPopRelaxed, Ordering::Acquire),
            ) {
                Ok(_) => {
                    // Relaxed counters: monitoring and pressure thresholds only.
                    let free = self.free.fetch_sub(1, Ordering::Relaxed) - 1;
                    let used = self.capacity() - free;
                    if used > self.high_water.load(Ordering::Relaxed) {
                        self.high_water.fetch_max(used, Ordering::Relaxed);
                    }
                    return Some(index);
                }
                Err(actual) => cur = actual,
            }
        }
    }

    /// Returns a ring to the free list. The caller must own it (popped it and finished with it).
    pub(crate) fn push(&self, index: u32) {
        debug_assert!((index as usize) < self.capacity());
        self.free.fetch_add(1, Ordering::Relaxed);
        let mut cur = self.head.load(Ordering::Relaxed);
        loop {
            let (tag, top) = unpack(cur);
            // Relaxed: published by the Release CAS below.
            self.next[index as usize].store(top, Ordering::Relaxed);
            match self.head.compare_exchange_weak(
                cur,
                pack(tag.wrapping_add(1), index),
                // Release: publishes the link and the pusher's work on the ring (its reset).
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Free rings now (a snapshot; see the module doc).
    pub(crate) fn free(&self) -> usize {
        self.free.load(Ordering::Relaxed).min(self.capacity())
    }

    /// Most rings ever in use at once.
    pub(crate) fn high_water(&self) -> usize {
        self.high_water.load(Ordering::Relaxed)
    }
}

/// Where the pool's memory comes from.
enum Backing {
    /// Anonymous memory; the control blocks on the heap.
    Anon {
        /// Keeps the mapping alive; all access goes through `Pool::base`.
        _map: memmap2::MmapMut,
        /// Owns the control blocks; all access goes through `Pool::ctl`.
        _ctl: HeapCtl,
    },
    /// A file (the flight recorder's pool file): rings and control blocks both in its
    /// mapping, told of ring owners and threads as they come.
    #[cfg(not(feature = "loom"))]
    File(std::sync::Arc<dyn PoolJournal>),
}

/// A pool kept in a file, and what that file is told as the pool runs (the flight recorder's
/// pool file implements it; the pool and the producers do not know more of it).
///
/// # Safety
///
/// [`rings_ptr`](Self::rings_ptr) must point to `ring_count × ring_size` writable bytes and
/// [`ctl_ptr`](Self::ctl_ptr) to `ring_count` initialised [`RingCtl`]s (the counts the pool
/// is made with, [`Pool::in_file`]), both valid and not otherwise accessed for as long as the
/// implementor lives.
#[cfg_attr(feature = "loom", allow(dead_code))]
pub(crate) unsafe trait PoolJournal: Send + Sync {
    /// Start of the rings' bytes.
    fn rings_ptr(&self) -> *mut u8;
    /// The rings' control blocks.
    fn ctl_ptr(&self) -> *const RingCtl;
    /// Notes that `thread` starts writing into `ring`, its `seq`-th ring (a swap: cold).
    fn set_owner(&self, ring: u32, thread: u64, seq: u64);
    /// Describes a recording thread before any of its records (once per thread).
    fn describe_thread(&self, info: &crate::output::event::ThreadInfo);
    /// Writes the file's dirty pages to the device and waits for it.
    fn sync(&self) -> std::io::Result<()>;
    /// The file's path.
    fn path(&self) -> &std::path::Path;
}

/// The control blocks of an anonymous pool, owned through a raw pointer rather than a
/// `Box<[RingCtl]>`: `Pool::ctl` (and every `RingWriter`) holds pointers into them, and moving
/// a `Box` (the pool moves into `Shared`) asserts unique access to its contents, which would
/// invalidate those pointers under Rust's aliasing model (Stacked/Tree Borrows). A raw pointer
/// asserts nothing when moved.
struct HeapCtl(*mut [RingCtl]);

impl HeapCtl {
    fn new(ring_count: u32, ring_size: usize) -> Self {
        let blocks: Box<[RingCtl]> = (0..ring_count).map(|_| RingCtl::new(ring_size)).collect();
        Self(Box::into_raw(blocks))
    }

    fn as_ptr(&self) -> *const RingCtl {
        self.0 as *const RingCtl
    }
}

impl Drop for HeapCtl {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `Box::into_raw` in `new` and is freed only here; the
        // pool that owns this value is being dropped, so no reference into it is alive.
        drop(unsafe { Box::from_raw(self.0) });
    }
}

/// The pool: the mapping, one [`RingCtl`] per ring, and the free list.
pub(crate) struct Pool {
    /// Keeps the memory alive (read through `file()` for a pool file).
    #[cfg_attr(feature = "loom", allow(dead_code))]
    backing: Backing,
    /// Start of the rings' bytes.
    base: *mut u8,
    ring_size: usize,
    /// The control blocks (in `backing`).
    ctl: *const RingCtl,
    free: FreeList,
}

// SAFETY: the mapping is partitioned into rings; each ring's bytes are written only by the
// producer that owns it and read only by the drain, as the ring protocol (rings/ring.rs) orders.
// Everything else in the pool is atomics.
unsafe impl Send for Pool {}
// SAFETY: as above.
unsafe impl Sync for Pool {}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("rings", &self.ring_count())
            .field("ring_size", &self.ring_size)
            .field("free", &self.free.free())
            .finish()
    }
}

impl Pool {
    /// Maps `ring_count × ring_size` bytes. `ring_size` must be a power of two (validated by
    /// the configuration).
    pub(crate) fn new(ring_count: u32, ring_size: usize) -> std::io::Result<Self> {
        debug_assert!(ring_size.is_power_of_two());
        let len = (ring_count as usize)
            .checked_mul(ring_size)
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "pool size overflows"))?;
        let mut map = memmap2::MmapMut::map_anon(len.max(1))?;
        let base = map.as_mut_ptr();
        let ctl = HeapCtl::new(ring_count, ring_size);
        let ctl_ptr = ctl.as_ptr();
        Ok(Self {
            backing: Backing::Anon { _map: map, _ctl: ctl },
            base,
            ring_size,
            ctl: ctl_ptr,
            free: FreeList::new(ring_count),
        })
    }

    /// A pool in a flight-recorder file (flight/), which holds the rings and their control
    /// blocks.
    #[cfg(not(feature = "loom"))]
    pub(crate) fn in_file(ring_count: u32, ring_size: usize, file: std::sync::Arc<dyn PoolJournal>) -> Self {
        Self {
            base: file.rings_ptr(),
            ctl: file.ctl_ptr(),
            backing: Backing::File(file),
            ring_size,
            free: FreeList::new(ring_count),
        }
    }

    /// The file the pool lives in, if it lives in one.
    #[cfg(not(feature = "loom"))]
    pub(crate) fn journal(&self) -> Option<&std::sync::Arc<dyn PoolJournal>> {
        match &self.backing {
            Backing::File(f) => Some(f),
            Backing::Anon { .. } => None,
        }
    }

    /// Notes a ring's new owner in the pool file (nothing for an anonymous pool).
    #[inline]
    pub(crate) fn set_owner(&self, ring: u32, thread: u64, seq: u64) {
        #[cfg(not(feature = "loom"))]
        if let Backing::File(f) = &self.backing {
            f.set_owner(ring, thread, seq);
        }
        #[cfg(feature = "loom")]
        let _ = (ring, thread, seq);
    }

    /// Bytes per ring.
    pub(crate) fn ring_size(&self) -> usize {
        self.ring_size
    }

    /// Total rings.
    pub(crate) fn ring_count(&self) -> usize {
        // The free list has a slot per ring.
        self.free.capacity()
    }

    /// The control block of ring `index`.
    pub(crate) fn ctl(&self, index: u32) -> &RingCtl {
        assert!((index as usize) < self.ring_count());
        // SAFETY: `ctl` points to `ring_count` initialised control blocks that live as long as
        // `backing`: a heap slice, or the file mapping, whose zero-filled blocks are valid
        // (`RingCtl` is two atomic positions, zero when empty; without loom its tracker holds
        // nothing) and suitably aligned (the region starts on a page boundary and the stride
        // is `size_of::<RingCtl>()`).
        unsafe { &*self.ctl.add(index as usize) }
    }

    /// The first byte of ring `index`.
    pub(crate) fn base(&self, index: u32) -> *mut u8 {
        assert!((index as usize) < self.ring_count());
        // SAFETY: index < ring_count, so the offset is inside the mapping.
        unsafe { self.base.add(index as usize * self.ring_size) }
    }

    /// The free list.
    pub(crate) fn free_list(&self) -> &FreeList {
        &self.free
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::Arc;

    #[test]
    fn pops_every_ring_once_then_none() {
        let f = FreeList::new(4);
        let got: HashSet<u32> = (0..4).map(|_| f.pop().unwrap()).collect();
        assert_eq!(got, HashSet::from([0, 1, 2, 3]));
        assert_eq!(f.pop(), None);
        assert_eq!(f.free(), 0);
        assert_eq!(f.high_water(), 4);
        f.push(2);
        assert_eq!(f.free(), 1);
        assert_eq!(f.pop(), Some(2));
    }

    #[test]
    fn empty_pool_is_empty() {
        let f = FreeList::new(0);
        assert_eq!(f.pop(), None);
    }

    #[test]
    fn concurrent_pop_push_never_hands_a_ring_to_two_owners() {
        let f = Arc::new(FreeList::new(8));
        let owners: Arc<Vec<std::sync::atomic::AtomicU32>> =
            Arc::new((0..8).map(|_| std::sync::atomic::AtomicU32::new(0)).collect());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (f, owners) = (f.clone(), owners.clone());
                std::thread::spawn(move || {
                    // Fewer rounds under Miri, which interprets every step.
                    for _ in 0..if cfg!(miri) { 100 } else { 20_000 } {
                        if let Some(i) = f.pop() {
                            let prev = owners[i as usize].fetch_add(1, Ordering::SeqCst);
                            assert_eq!(prev, 0, "ring {i} handed out twice");
                            owners[i as usize].fetch_sub(1, Ordering::SeqCst);
                            f.push(i);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(f.free(), 8);
        let all: HashSet<u32> = (0..8).map(|_| f.pop().unwrap()).collect();
        assert_eq!(all.len(), 8);
    }

    #[test]
    fn pool_rings_do_not_overlap() {
        let p = Pool::new(3, 4096).unwrap();
        assert_eq!(p.base(1) as usize - p.base(0) as usize, 4096);
        assert_eq!(p.ring_count(), 3);
        assert_eq!(p.ring_size(), 4096);
    }
}
