//! The flight recorder: a ring pool kept in a file, so that a crash leaves the newest records
//! behind; [`recover`](fn@recover) to turn such a file into a trace; [`snapshot`](fn@snapshot)
//! to copy a running process's rings into a trace. Runs at install, on the drain (snapshots) and offline (recovery).
//!
//! # The pool file
//!
//! With [`Builder::pool_file`](crate::Builder::pool_file) the pool is a `MAP_SHARED` mapping
//! of a file instead of anonymous memory. Producers write records into it exactly as into an
//! anonymous pool (the recording path does not change), so every committed record is in the
//! page cache the moment its ring's tail is published: if the process dies (SIGKILL, abort, a
//! panic with `panic = "abort"`), the kernel still holds the file's pages and writes them back.
//! A kernel crash or a power loss keeps only what was written back before it; see
//! [`Guard::sync`](crate::Guard::sync) for `msync`.
//!
//! The file is created new (`O_CREAT | O_EXCL | O_NOFOLLOW`) with mode 0600, and its whole
//! length is reserved (with `posix_fallocate` on Linux; on other Unix systems, macOS among
//! them, by `ftruncate` and writing zeros over the whole file): a full disk fails
//! [`install`](crate::Builder::install), not a later write with SIGBUS. The pool file needs
//! Unix (`O_NOFOLLOW`, modes, inode checks): elsewhere `install` fails saying so, and so do
//! [`recover_file`] and snapshots to a file (`flight/private_file.rs`); see docs/platforms.md. An earlier pool file at
//! the path (a regular file with the magic) is first renamed to `PATH.prev`, so the record of
//! an earlier crash is not overwritten; anything else there (a user's file, a directory, a
//! device, a FIFO, a symbolic link) makes `install` fail naming the path and what is there,
//! and is left alone (see `flight/private_file.rs`).
//!
//! # Layout
//!
//! All integers little-endian; every region starts on a 4 KiB boundary.
//!
//! ```text
//! header (one 4 KiB page)
//!   0   magic            8   b"RTFLIGHT"
//!   8   version          u16 POOL_FORMAT_VERSION
//!   10  header_len       u16 bytes of header that are defined (152)
//!   12  byte_order       u32 0x0A0B0C0D
//!   16  ring_count       u32
//!   20  ring_size        u32 power of two, ≥ 4096
//!   24  ctl_offset       u64 the ring control blocks, ctl_stride bytes each
//!   32  ctl_stride       u32
//!   36  tail_offset      u16 within a control block: the ring's tail (u64, bytes committed)
//!   38  head_offset      u16 within a control block: the ring's head (u64, bytes consumed)
//!   40  meta_offset      u64 per ring, 16 bytes: owner thread id u64, ring sequence u64
//!   48  rings_offset     u64 ring_count × ring_size bytes of records
//!   56  dict_offset      u64 the dictionary: CALLSITE and THREAD chunks, as in a trace file
//!   64  dict_capacity    u64
//!   72  file_len         u64
//!   80  anchor_ticks     u64 } clock calibration, as in a trace file header
//!   88  anchor_unix_ns   u64 }
//!   96  ticks_per_sec    u64 }
//!   104 pid              u64 the recording process
//!   112 dict_len         u64 bytes of the dictionary that are complete (updated after each chunk)
//!   120 state            u64 1 = open, 2 = closed by a clean shutdown
//!   128 dict_dropped     u64 descriptions that did not fit in the dictionary
//!   136 max_record_size  u32
//!   140 reserved         u32
//!   144 created_unix_ns  u64
//! ```
//!
//! # What is committed
//!
//! A ring's records are committed in `[head, tail)` (positions count bytes since the ring was
//! last reset; the byte of position `p` is at `p mod ring_size`). The producer writes a record
//! and then publishes it with one Release store of `tail` (rings/ring.rs), so a reader that takes
//! `tail` first and the bytes after sees only whole records; a record being written when the
//! process died lies beyond `tail` and is cut. A ring's owner and its sequence among that
//! thread's rings (`meta`) are written when the thread starts writing into it, before any of
//! its records, so a reader can put one thread's rings back in order.

// Under loom the pool file (which writes these layouts) is compiled out; the reader stays.
#![cfg_attr(feature = "loom", allow(dead_code))]

#[cfg(unix)]
pub(crate) mod private_file;
#[cfg(not(unix))]
#[path = "private_file/unsupported.rs"]
pub(crate) mod private_file;

#[cfg(not(feature = "loom"))]
mod file;
mod layout;
mod os_signal;
mod panic;
mod recover;
mod snapshot;

#[cfg(not(feature = "loom"))]
pub(crate) use file::PoolFile;
pub use layout::{DICT_CAPACITY, POOL_FORMAT_VERSION, POOL_HEADER_LEN, POOL_MAGIC, POOL_PAGE};
pub use os_signal::*;
pub use panic::*;
pub use recover::*;
pub use snapshot::*;
