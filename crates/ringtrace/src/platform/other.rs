//! Platforms without `membarrier`: the heavy fence reports failure, so the drain bounds its
//! sleep instead of relying on producers to wake it (see `drain.rs`).

/// No process-wide barrier here.
pub(crate) fn membarrier() -> bool {
    false
}

/// No process-wide barrier here.
pub(crate) fn membarrier_available() -> bool {
    false
}

/// A process-unique number for the calling thread (no portable OS id).
pub(crate) fn os_thread_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local!(static ID: u64 = NEXT.fetch_add(1, Ordering::Relaxed));
    ID.with(|id| *id)
}
