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

fn record_everything(i: u64, owned: &String) {
    let name = "order-book";
    let err = Outer(Inner);
    ringtrace::info!("order {} filled at {} qty {}", i, 101.25f64, 7u32);
    ringtrace::info!(side = "buy", venue = name, "no arguments");
    ringtrace::warn!(error = %err, attempt = 3u8, "retry {}", i);
    ringtrace::debug!(state = ?(i, 2u8), "captured debug {}", owned);
    ringtrace::trace!("{:>8.3} {:#x} {:?} {}", 1.5f32, 255u8, 'c', true);
    ringtrace::record_bytes(7, &i.to_le_bytes());
    let _ctx = ringtrace::with_context!(request_id = i);
    ringtrace::info!("with context {}", i);
}

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

    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(n, 0, "{n} allocations in 20 000 × 7 records");
    // The loop went through ring swaps and (possibly) drops: both are allocation-free too.
    assert_eq!(report.recorded + report.dropped.total(), 20_001 * 7, "{report:?}");
}
