//! Acceptance: zero allocations per record after a thread's first record (R-CORE-6, §7).
//!
//! A counting global allocator counts allocations made on the recording thread while a
//! thread-local flag is set; the drain thread's own allocations are not counted.

// These tests use the real atomics; under `--features loom` only the loom models run.
#![cfg(not(feature = "loom"))]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static COUNT_HERE: Cell<bool> = const { Cell::new(false) };
}

fn counting() -> bool {
    COUNT_HERE.try_with(|c| c.get()).unwrap_or(false)
}

// SAFETY: delegates every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counting() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if counting() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[derive(Debug)]
struct Inner;
impl std::fmt::Display for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("disk full")
    }
}
impl std::error::Error for Inner {}

#[derive(Debug)]
struct Outer(Inner);
impl std::fmt::Display for Outer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("write failed")
    }
}
impl std::error::Error for Outer {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// The records of the benchmarks (benches/benches/record.rs and the harness binaries) and
/// every other kind of argument, 9 records per call.
fn record_everything(i: u64, owned: &String) {
    let name = "order-book";
    let s64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let err = Outer(Inner);
    ringtrace::info!("order {} filled at {} qty {}", i, 101.25f64, 7u32);
    ringtrace::info!(side = "buy", venue = name, "no arguments");
    ringtrace::warn!(error = %err, attempt = 3u8, "retry {}", i);
    ringtrace::debug!(state = ?(i, 2u8), "captured debug {}", owned);
    ringtrace::trace!("{:>8.3} {:#x} {:?} {}", 1.5f32, 255u8, 'c', true);
    ringtrace::record_bytes(7, &i.to_le_bytes());
    let _ctx = ringtrace::with_context!(request_id = i);
    ringtrace::info!("with context {}", i);
    ringtrace::info!("{} {} {} {} {} {} {} {}", i, 2u32, 3u16, 4u8, -5i64, 6.0f64, true, 'c');
    ringtrace::info!("name {}", s64);
}

/// Records per [`record_everything`] call.
const PER_CALL: u64 = 9;

#[test]
fn records_allocate_nothing_after_registration() {
    let _s = common::serial();
    let guard = ringtrace::Builder::new()
        .ring_count(64)
        .ring_size(1 << 16)
        .sink(common::Collect::new("mem"))
        .install()
        .unwrap();

    // Registration (first record) may allocate: the producer, the thread's name.
    let owned = String::from("owned string");
    record_everything(0, &owned);

    COUNT_HERE.with(|c| c.set(true));
    for i in 1..=20_000 {
        record_everything(i, &owned);
    }
    COUNT_HERE.with(|c| c.set(false));
    let n = ALLOCS.load(Ordering::Relaxed);

    let high_water = guard.metrics().pool.high_water;
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(n, 0, "{n} allocations in 20 000 × {PER_CALL} records");
    // The loop went through ring swaps and (possibly) drops: both are allocation-free too.
    assert_eq!(report.recorded + report.dropped.total(), 20_001 * PER_CALL, "{report:?}");
    assert!(high_water > 1, "the loop must have swapped rings (high-water mark {high_water})");
}

/// The DROPPING path (the benchmarked `record_dropping` case): the drain is held in a sink, the
/// thread's rings are full, every record is dropped and counted — without allocating.
fn dropping_allocates_nothing(policy: ringtrace::Policy, reason: ringtrace::DropReason) {
    let _s = common::serial();
    let gate = common::Gate::new(false, |_| ());
    let guard = ringtrace::Builder::new()
        .ignore_env()
        .ring_count(4)
        .ring_size(8192)
        .max_rings_per_thread(2)
        .policy(policy)
        .sink(gate.clone())
        .install()
        .unwrap();
    let owned = String::from("owned string");
    // Fill the thread's rings (the first one reaches the drain, which then waits in the gate).
    let mut i = 0;
    while guard.metrics().threads.iter().all(|t| t.state != ringtrace::ThreadState::Dropping) {
        record_everything(i, &owned);
        i += 1;
        assert!(i < 100_000, "never reached DROPPING");
    }
    assert!(common::eventually(|| gate.entered() > 0));
    let before = guard.metrics().dropped.get(reason);

    COUNT_HERE.with(|c| c.set(true));
    for j in 0..5_000 {
        record_everything(i + j, &owned);
    }
    COUNT_HERE.with(|c| c.set(false));
    let n = ALLOCS.load(Ordering::Relaxed);

    let dropped = guard.metrics().dropped.get(reason) - before;
    gate.set(true);
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(n, 0, "{n} allocations in 5 000 × {PER_CALL} records while DROPPING");
    // Nearly every one of them was dropped (DropOldest reuses the reclaimed ring, so some fit).
    assert!(dropped >= 4_000 * PER_CALL, "{dropped} of {} dropped as {reason:?}: {report:?}", 5_000 * PER_CALL);
    assert_eq!(report.recorded + report.dropped.total(), (i + 5_000) * PER_CALL, "{report:?}");
}

#[test]
fn drop_newest_allocates_nothing_while_dropping() {
    dropping_allocates_nothing(ringtrace::Policy::DropNewest, ringtrace::DropReason::QuotaExceeded);
}

#[test]
fn drop_oldest_allocates_nothing_while_overwriting() {
    dropping_allocates_nothing(ringtrace::Policy::DropOldest, ringtrace::DropReason::Overwritten);
}
