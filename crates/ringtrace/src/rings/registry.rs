//! The thread registry: every thread that ever recorded into this runtime, as a lock-free list
//! of [`ThreadEntry`] slots (R-CORE-3).
//!
//! A thread registers on its first record (`claim`), on its cold path; the hot path only
//! touches its own slot through a pointer kept in its thread-local state. On thread exit the
//! slot's active ring goes to the chain and the slot becomes EXITED; the drain drains it, folds
//! its counters into the runtime's totals (so nothing a short-lived thread did is lost), and
//! marks it FREE for the next thread to reuse.
//!
//! # Reclamation: type-stable slots instead of freeing
//!
//! Slots are never freed while the registry lives, only recycled. That makes every traversal
//! (the drain's passes, `metrics()` from any thread) safe without pinning or hazard pointers:
//! a reader may see a slot mid-recycle, but every field it reads is an atomic (or behind a
//! mutex), so it reads a consistent value of the old or the new occupant, never freed memory.
//! This is the "type-stable memory" discipline of the Linux kernel's `SLAB_TYPESAFE_BY_RCU`,
//! and it is the equivalent of epoch reclamation R-CORE-3 asks for: memory is bounded by the
//! largest number of threads alive at once, not by how many ever lived. Readers that care
//! which thread a slot belongs to compare `generation`.
//!
//! # The list
//!
//! A Treiber stack of slots linked by `next`, pushed at `head` with a Release CAS (pairs with
//! the Acquire loads of `head` in traversals, so a reader that reaches a slot sees it
//! initialised). Nothing is ever unlinked, so there is no ABA and no unlink race.

use crate::backpressure::drops::Counters;
use crate::rings::slot::{ThreadEntry, SLOT_CLAIMING, SLOT_FREE, SLOT_LIVE};
use crate::sync::{AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::fmt;
use std::sync::Arc as StdArc;

struct Node {
    entry: ThreadEntry,
    /// The next older node; written once before the node is published.
    next: *mut Node,
}

/// The registry. See the module doc.
pub(crate) struct Registry {
    head: AtomicPtr<Node>,
    /// Chain length for new slots.
    chain_len: usize,
    /// Source of runtime thread ids (1, 2, …).
    next_thread_id: AtomicU64,
    /// Slots allocated so far.
    slots: AtomicU32,
    /// Counters of threads that exited and were drained.
    pub(crate) retired: Counters,
    /// Threads that exited and were drained.
    pub(crate) retired_threads: AtomicU64,
}

// SAFETY: nodes are heap allocations owned by the registry, shared only as `&ThreadEntry`
// (whose fields are atomics or behind a mutex) and freed only in `Drop`, when no one else can
// hold a reference (the registry is owned by the runtime's `Arc`).
unsafe impl Send for Registry {}
// SAFETY: as above.
unsafe impl Sync for Registry {}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry").field("slots", &self.slots.load(Ordering::Relaxed)).finish()
    }
}

impl Registry {
    /// An empty registry whose slots hold chains of `chain_len` rings.
    pub(crate) fn new(chain_len: usize) -> Self {
        Self {
            head: AtomicPtr::new(std::ptr::null_mut()),
            chain_len,
            next_thread_id: AtomicU64::new(1),
            slots: AtomicU32::new(0),
            retired: Counters::new(),
            retired_threads: AtomicU64::new(0),
        }
    }

    /// Claims a slot for the calling thread: a FREE one if there is one, else a new one.
    /// Cold path (once per thread). The returned entry is LIVE with a fresh generation.
    pub(crate) fn claim(&self, name: StdArc<str>, os_tid: u64) -> &ThreadEntry {
        let entry = match self.iter().find(|e| {
            // Acquire on success: see the drain's reset of the slot (its Release store).
            e.slot.compare_exchange(SLOT_FREE, SLOT_CLAIMING, Ordering::Acquire, Ordering::Relaxed).is_ok()
        }) {
            Some(e) => e,
            None => self.push_new(),
        };
        entry.generation.fetch_add(1, Ordering::Relaxed);
        entry.thread_id.store(self.next_thread_id.fetch_add(1, Ordering::Relaxed), Ordering::Relaxed);
        entry.os_tid.store(os_tid, Ordering::Relaxed);
        *entry.name.lock().unwrap_or_else(|e| e.into_inner()) = name;
        // Release: a traversal that sees LIVE (Acquire) sees the identity written above, never
        // a half-claimed slot (readers skip CLAIMING).
        entry.slot.store(SLOT_LIVE, Ordering::Release);
        entry
    }

    fn push_new(&self) -> &ThreadEntry {
        let node =
            Box::into_raw(Box::new(Node { entry: ThreadEntry::new(self.chain_len), next: std::ptr::null_mut() }));
        // SAFETY: `node` is a fresh allocation, not yet shared.
        unsafe { (*node).entry.slot.store(SLOT_CLAIMING, Ordering::Relaxed) };
        self.slots.fetch_add(1, Ordering::Relaxed);
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            // SAFETY: not yet published; we are its only user.
            unsafe { (*node).next = head };
            // Release: publishes the node's initialisation to traversals (Acquire on head).
            match self.head.compare_exchange_weak(head, node, Ordering::Release, Ordering::Relaxed) {
                // SAFETY: nodes live until the registry is dropped, which outlives `&self`.
                Ok(_) => return unsafe { &(*node).entry },
                Err(actual) => head = actual,
            }
        }
    }

    /// Every slot, newest first (FREE ones included: check `slot`).
    pub(crate) fn iter(&self) -> impl Iterator<Item = &ThreadEntry> {
        // Acquire: pairs with the Release CAS in `push_new`.
        let mut cur = self.head.load(Ordering::Acquire);
        std::iter::from_fn(move || {
            if cur.is_null() {
                return None;
            }
            // SAFETY: nodes are never freed while the registry lives (module doc); `next` was
            // written before the node was published and never changes.
            let node = unsafe { &*cur };
            cur = node.next;
            Some(&node.entry)
        })
    }

    /// Slots allocated (the most threads ever registered at once, at most).
    #[cfg(all(test, not(feature = "loom")))]
    pub(crate) fn slot_count(&self) -> u32 {
        self.slots.load(Ordering::Relaxed)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        // Relaxed: `&mut self`, nobody else can access the list.
        let mut cur = self.head.load(Ordering::Relaxed);
        while !cur.is_null() {
            // SAFETY: we are the last owner (`&mut self`); each node was Box::into_raw'd once.
            let node = unsafe { Box::from_raw(cur) };
            cur = node.next;
        }
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use crate::rings::slot::SLOT_EXITED;

    #[test]
    fn claims_new_slots_then_recycles_free_ones() {
        let r = Registry::new(4);
        let a = r.claim("a".into(), 1) as *const ThreadEntry;
        let b = r.claim("b".into(), 2) as *const ThreadEntry;
        assert_ne!(a, b);
        assert_eq!(r.slot_count(), 2);
        // SAFETY: entries live as long as the registry.
        let ea = unsafe { &*a };
        let first_id = ea.thread_id.load(Ordering::Relaxed);
        ea.slot.store(SLOT_EXITED, Ordering::Relaxed);
        ea.reset_for_reuse();
        let c = r.claim("c".into(), 3);
        assert_eq!(c as *const ThreadEntry, a, "the free slot is reused");
        assert_eq!(r.slot_count(), 2);
        assert_eq!(&**c.name.lock().unwrap(), "c");
        assert_ne!(c.thread_id.load(Ordering::Relaxed), first_id);
        assert_eq!(c.generation.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn concurrent_claims_get_distinct_slots() {
        let r = std::sync::Arc::new(Registry::new(2));
        let hs: Vec<_> = (0..8)
            .map(|i| {
                let r = r.clone();
                std::thread::spawn(move || r.claim(format!("t{i}").into(), i) as *const ThreadEntry as usize)
            })
            .collect();
        let mut ptrs: Vec<usize> = hs.into_iter().map(|h| h.join().unwrap()).collect();
        ptrs.sort();
        ptrs.dedup();
        assert_eq!(ptrs.len(), 8);
        assert_eq!(r.iter().count(), 8);
    }
}
