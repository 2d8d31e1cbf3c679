//! Everywhere but Linux (macOS, the BSDs, Windows): no `membarrier`, no kernel thread id
//! through `libc`, no `posix_fallocate` (macOS lacks it).
//!
//! - The heavy fence reports failure: the drain still sleeps deeply, but a record racing with
//!   its announcement may not wake it, so such a sleep lasts until its `IDLE_TIMEOUT` (see
//!   `drain/mod.rs`).
//! - Thread ids are process-unique numbers handed out on first use.
//! - The pool file is preallocated by writing it: `set_len` (`ftruncate`) and then zeros over
//!   its whole length, so the file system has allocated every block before the mapping is
//!   used. A full disk still fails `install`; it costs one sequential write of the file.
//!   (A file system that compresses or deduplicates zero blocks, ZFS with compression for
//!   one, may still run out of space later, as with `posix_fallocate` on such file systems.)

// Under loom the pool file (the one user of `preallocate`) is compiled out.
#![cfg_attr(feature = "loom", allow(dead_code))]

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

/// Reserves `len` bytes of disk for `file` by writing zeros over all of it (see the module doc).
pub(crate) fn preallocate(file: &std::fs::File, len: u64) -> std::io::Result<()> {
    super::prealloc::preallocate_by_writing(file, len)
}
