//! Interning foreign callsites: a map from a `usize` key (the address of a `tracing`
//! `&'static Metadata`, or a hash of a `log` call site) to a leaked `&'static V`, read on every
//! event without a lock.
//!
//! # Design
//!
//! Open addressing with linear probing over a fixed array of slots, each a key and a value
//! pointer. Entries are only ever added (callsites live for the whole program), so a reader
//! needs no lock and no epoch: it probes until it finds its key or an empty slot.
//!
//! - Insertion is the cold path (`register_callsite`, or the first event of a site): it takes
//!   a mutex, re-probes, and fills an empty slot: value first (Relaxed), then key (Release).
//! - Lookup loads each key with Acquire, which pairs with that Release: a reader that sees the
//!   key also sees the value pointer and the leaked value behind it.
//! - Once the slots are three-quarters full, further entries go to an overflow map behind the
//!   same mutex. Only programs with more than [`CAPACITY`] × 3/4 distinct callsites ever take
//!   that lock on the recording path, and only for their newest callsites.
//!
//! Every entry also has a stable index (its slot, or `CAPACITY + n` in the overflow), which the
//! bare subscriber uses as a span id.

use std::collections::HashMap;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Slots in the lock-free part of a table (a power of two).
pub const CAPACITY: usize = 1 << 14;
const MAX_FILL: usize = CAPACITY / 4 * 3;

struct Slot<V> {
    /// 0 = empty. Written once, under the insert lock, after `val` (Release); read by anyone
    /// (Acquire).
    key: AtomicUsize,
    /// The entry; written once, before `key`.
    val: AtomicPtr<V>,
}

struct Overflow<V: 'static> {
    by_key: HashMap<usize, usize>,
    entries: Vec<&'static V>,
}

/// An append-only, lock-free-read map from non-zero `usize` keys to `&'static V`.
pub(crate) struct Table<V: 'static> {
    slots: Box<[Slot<V>]>,
    /// Serialises insertions and guards the overflow map.
    insert: Mutex<Overflow<V>>,
    /// Entries in `slots` (only changed under `insert`).
    filled: AtomicUsize,
}

impl<V> std::fmt::Debug for Table<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table").field("filled", &self.filled.load(Ordering::Relaxed)).finish_non_exhaustive()
    }
}

#[inline(always)]
fn home(key: usize) -> usize {
    // Fibonacci hashing of the key; pointers' low 3 bits are always 0, so shift them out.
    ((key >> 3) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) as usize >> (usize::BITS - CAPACITY.trailing_zeros())
}

impl<V> Table<V> {
    /// An empty table.
    pub(crate) fn new() -> Self {
        let slots = (0..CAPACITY)
            .map(|_| Slot { key: AtomicUsize::new(0), val: AtomicPtr::new(std::ptr::null_mut()) })
            .collect();
        Self {
            slots,
            insert: Mutex::new(Overflow { by_key: HashMap::new(), entries: Vec::new() }),
            filled: AtomicUsize::new(0),
        }
    }

    /// The entry for `key` (non-zero), if it was inserted. Lock-free unless the table has
    /// overflowed and the key is not in the lock-free part.
    #[inline]
    pub(crate) fn get(&self, key: usize) -> Option<&'static V> {
        self.find(key).map(|(_, v)| v)
    }

    /// The entry for `key` and its index.
    #[inline]
    fn find(&self, key: usize) -> Option<(usize, &'static V)> {
        debug_assert_ne!(key, 0);
        let mut i = home(key);
        for _ in 0..CAPACITY {
            let slot = &self.slots[i];
            // Acquire: pairs with the Release store of the key in `insert_with`, so `val` and
            // the value it points to are visible.
            match slot.key.load(Ordering::Acquire) {
                k if k == key => {
                    // Relaxed: ordered by the Acquire load of the key above.
                    let v = slot.val.load(Ordering::Relaxed);
                    // SAFETY: values are leaked `&'static V` pointers, stored before the key.
                    return unsafe { v.as_ref() }.map(|v| (i, v));
                }
                0 => break,
                _ => i = (i + 1) & (CAPACITY - 1),
            }
        }
        // Relaxed: only decides whether the overflow map can hold anything; `filled` reaches
        // MAX_FILL before the first overflow insertion, under the same lock we take next.
        if self.filled.load(Ordering::Relaxed) < MAX_FILL {
            return None;
        }
        self.find_overflow(key)
    }

    #[cold]
    fn find_overflow(&self, key: usize) -> Option<(usize, &'static V)> {
        let o = self.insert.lock().unwrap_or_else(|e| e.into_inner());
        o.by_key.get(&key).map(|&n| (CAPACITY + n, o.entries[n]))
    }

    /// The entry for `key`, created by `make` (and leaked) if there is none yet.
    pub(crate) fn get_or_insert_with(&self, key: usize, make: impl FnOnce() -> V) -> &'static V {
        if let Some(v) = self.get(key) {
            return v;
        }
        self.insert_with(key, make).1
    }

    /// The index of `key`'s entry, created by `make` if there is none yet.
    pub(crate) fn index_or_insert_with(&self, key: usize, make: impl FnOnce() -> V) -> (usize, &'static V) {
        if let Some(found) = self.find(key) {
            return found;
        }
        self.insert_with(key, make)
    }

    #[cold]
    #[inline(never)]
    fn insert_with(&self, key: usize, make: impl FnOnce() -> V) -> (usize, &'static V) {
        let mut o = self.insert.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&n) = o.by_key.get(&key) {
            return (CAPACITY + n, o.entries[n]);
        }
        let mut i = home(key);
        let mut free = None;
        for _ in 0..CAPACITY {
            let slot = &self.slots[i];
            // Relaxed: keys only change under the lock we hold.
            match slot.key.load(Ordering::Relaxed) {
                k if k == key => {
                    // SAFETY: as in `find`.
                    if let Some(v) = unsafe { slot.val.load(Ordering::Relaxed).as_ref() } {
                        return (i, v);
                    }
                }
                0 => {
                    free = Some(i);
                    break;
                }
                _ => {}
            }
            i = (i + 1) & (CAPACITY - 1);
        }
        let value: &'static V = Box::leak(Box::new(make()));
        match free {
            Some(i) if self.filled.load(Ordering::Relaxed) < MAX_FILL => {
                let slot = &self.slots[i];
                // Relaxed: published by the Release store of the key.
                slot.val.store(value as *const V as *mut V, Ordering::Relaxed);
                // Release: pairs with the Acquire load in `find`.
                slot.key.store(key, Ordering::Release);
                self.filled.fetch_add(1, Ordering::Relaxed);
                (i, value)
            }
            _ => {
                let n = o.entries.len();
                o.entries.push(value);
                o.by_key.insert(key, n);
                (CAPACITY + n, value)
            }
        }
    }

    /// The entry with index `index` (see [`index_or_insert_with`](Self::index_or_insert_with)).
    pub(crate) fn by_index(&self, index: usize) -> Option<&'static V> {
        if let Some(slot) = self.slots.get(index) {
            // Acquire: as in `find`.
            if slot.key.load(Ordering::Acquire) == 0 {
                return None;
            }
            // SAFETY: as in `find`.
            return unsafe { slot.val.load(Ordering::Relaxed).as_ref() };
        }
        let o = self.insert.lock().unwrap_or_else(|e| e.into_inner());
        o.entries.get(index - CAPACITY).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn inserts_once_and_finds_by_key_and_index() {
        let t = Table::<u32>::new();
        assert!(t.get(8).is_none());
        let a = t.get_or_insert_with(8, || 1);
        let b = t.get_or_insert_with(8, || 2);
        assert!(std::ptr::eq(a, b));
        assert_eq!(*a, 1);
        let (i, v) = t.index_or_insert_with(16, || 3);
        assert_eq!(*v, 3);
        assert_eq!(t.by_index(i), Some(&3));
        assert_eq!(t.by_index(CAPACITY + 5), None);
    }

    #[test]
    fn overflows_past_the_fill_limit_and_still_finds_everything() {
        let t = Table::<usize>::new();
        let n = MAX_FILL + 100;
        let idx: Vec<usize> = (1..=n).map(|k| t.index_or_insert_with(k * 8, || k).0).collect();
        for k in 1..=n {
            assert_eq!(t.get(k * 8), Some(&k));
            assert_eq!(t.by_index(idx[k - 1]), Some(&k));
        }
        assert!(idx.iter().filter(|&&i| i >= CAPACITY).count() == 100);
    }

    #[test]
    fn concurrent_inserts_of_one_key_agree() {
        let t = Arc::new(Table::<usize>::new());
        let hs: Vec<_> = (0..4)
            .map(|n| {
                let t = t.clone();
                std::thread::spawn(move || {
                    (1..2000usize)
                        .map(|k| t.get_or_insert_with(k * 8, || k * 10 + n) as *const usize as usize)
                        .sum::<usize>()
                })
            })
            .collect();
        let sums: Vec<usize> = hs.into_iter().map(|h| h.join().unwrap()).collect();
        assert!(sums.windows(2).all(|w| w[0] == w[1]), "every thread got the same entries");
        assert!((1..2000usize).all(|k| t.get(k * 8).is_some_and(|v| v / 10 == k)));
    }
}
