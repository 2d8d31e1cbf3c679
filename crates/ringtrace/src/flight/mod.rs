//! The flight recorder: a ring pool kept in a file, so that a crash leaves the newest records
//! behind; [`recover`] to turn such a file into a trace; [`snapshot`] to copy the rings of a
//! running process into a trace without stopping it.
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
//! [`recover_file`] and snapshots to a file (`private_file.rs`); see docs/platforms.md. An earlier pool file at
//! the path (a regular file with the magic) is first renamed to `PATH.prev`, so the record of
//! an earlier crash is not overwritten; anything else there (a user's file, a directory, a
//! device, a FIFO, a symbolic link) makes `install` fail naming the path and what is there,
//! and is left alone (see `private_file.rs`).
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
//! and then publishes it with one Release store of `tail` (ring.rs), so a reader that takes
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

use crate::clock::ClockCalibration;
use crate::output::event::{CallsiteInfo, ThreadInfo};
use crate::output::trace_file;
use crate::wire::record::{
    align8, Header, RecordKind, FLAG_CONTEXT, FLAG_TRUNCATED, HEADER_LEN, KIND_MASK, MAX_RECORD_LEN,
};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

/// The first 8 bytes of a pool file.
pub const POOL_MAGIC: [u8; 8] = *b"RTFLIGHT";
/// The pool-file format version this crate writes and reads.
pub const POOL_FORMAT_VERSION: u16 = 1;
/// Bytes of the header that this version defines.
pub const POOL_HEADER_LEN: usize = 152;
/// Where the regions of a pool file are aligned (and the size of the header page).
pub const POOL_PAGE: usize = 4096;
/// Dictionary bytes reserved in a pool file (callsite and thread descriptions).
pub const DICT_CAPACITY: usize = 1 << 20;
const BYTE_ORDER: u32 = 0x0A0B_0C0D;
/// Bytes of per-ring metadata (owner thread id, sequence).
const META_LEN: usize = 16;

/// `state` while the recording process runs.
const STATE_OPEN: u64 = 1;
/// `state` after a clean shutdown.
const STATE_CLOSED: u64 = 2;

mod off {
    pub const VERSION: usize = 8;
    pub const HEADER_LEN: usize = 10;
    pub const BYTE_ORDER: usize = 12;
    pub const RING_COUNT: usize = 16;
    pub const RING_SIZE: usize = 20;
    pub const CTL_OFFSET: usize = 24;
    pub const CTL_STRIDE: usize = 32;
    pub const TAIL_OFFSET: usize = 36;
    pub const HEAD_OFFSET: usize = 38;
    pub const META_OFFSET: usize = 40;
    pub const RINGS_OFFSET: usize = 48;
    pub const DICT_OFFSET: usize = 56;
    pub const DICT_CAPACITY: usize = 64;
    pub const FILE_LEN: usize = 72;
    pub const ANCHOR_TICKS: usize = 80;
    pub const ANCHOR_UNIX_NS: usize = 88;
    pub const TICKS_PER_SEC: usize = 96;
    pub const PID: usize = 104;
    pub const DICT_LEN: usize = 112;
    pub const STATE: usize = 120;
    pub const DICT_DROPPED: usize = 128;
    pub const MAX_RECORD: usize = 136;
    pub const CREATED: usize = 144;
}

fn page_up(n: u64) -> u64 {
    n.div_ceil(POOL_PAGE as u64) * POOL_PAGE as u64
}

/// Where each region of a pool file lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Geometry {
    ring_count: u32,
    ring_size: u32,
    ctl_offset: u64,
    ctl_stride: u32,
    tail_offset: u16,
    head_offset: u16,
    meta_offset: u64,
    rings_offset: u64,
    dict_offset: u64,
    dict_capacity: u64,
    file_len: u64,
}

impl Geometry {
    /// The layout this build writes for `ring_count` rings of `ring_size` bytes.
    fn new(ring_count: u32, ring_size: u32, ctl_stride: u32, tail_offset: u16, head_offset: u16) -> Option<Self> {
        let n = ring_count as u64;
        let ctl_offset = POOL_PAGE as u64;
        let meta_offset = page_up(ctl_offset.checked_add(n.checked_mul(ctl_stride as u64)?)?);
        let dict_offset = page_up(meta_offset.checked_add(n * META_LEN as u64)?);
        let dict_capacity = DICT_CAPACITY as u64;
        let rings_offset = page_up(dict_offset + dict_capacity);
        let file_len = rings_offset.checked_add(n.checked_mul(ring_size as u64)?)?;
        Some(Self {
            ring_count,
            ring_size,
            ctl_offset,
            ctl_stride,
            tail_offset,
            head_offset,
            meta_offset,
            rings_offset,
            dict_offset,
            dict_capacity,
            file_len,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Reading a pool file (no mapping, no unsafe: plain bytes, so it works on any file).
// ---------------------------------------------------------------------------------------------

/// Why a pool file could not be recovered.
#[derive(Debug)]
pub struct RecoverError {
    /// Byte offset in the pool file where the problem is (0 when it is about the whole file).
    pub offset: u64,
    /// What is wrong.
    pub kind: RecoverErrorKind,
}

/// What is wrong with a pool file.
#[derive(Debug)]
#[non_exhaustive]
pub enum RecoverErrorKind {
    /// The file (or the output) could not be read or written.
    Io(std::io::Error),
    /// Not a ringtrace pool file.
    BadMagic,
    /// The file ends before the part that `offset` points at.
    Truncated {
        /// Bytes the header says the file has (or the header needs).
        expected: u64,
        /// Bytes it has.
        actual: u64,
    },
    /// Written by a newer ringtrace.
    UnsupportedVersion(u16),
    /// Written on a machine of the other byte order.
    WrongByteOrder,
    /// A header field is impossible.
    Corrupt(String),
}

impl fmt::Display for RecoverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            RecoverErrorKind::Io(e) => write!(f, "{e}"),
            RecoverErrorKind::BadMagic => {
                write!(f, "not a ringtrace pool file (offset 0: the magic is not {:?})", "RTFLIGHT")
            }
            RecoverErrorKind::Truncated { expected, actual } => write!(
                f,
                "truncated pool file: it has {actual} bytes, the header says {expected} (offset {})",
                self.offset
            ),
            RecoverErrorKind::UnsupportedVersion(v) => write!(
                f,
                "pool file format version {v} (offset {}) is newer than this ringtrace reads \
                 ({POOL_FORMAT_VERSION}); recover it with a newer ringtrace",
                self.offset
            ),
            RecoverErrorKind::WrongByteOrder => {
                write!(f, "pool file written with the other byte order (offset {})", self.offset)
            }
            RecoverErrorKind::Corrupt(msg) => write!(f, "corrupt pool file at offset {}: {msg}", self.offset),
        }
    }
}

impl std::error::Error for RecoverError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            RecoverErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}

fn rerr(offset: usize, kind: RecoverErrorKind) -> RecoverError {
    RecoverError { offset: offset as u64, kind }
}

fn corrupt(offset: usize, msg: impl Into<String>) -> RecoverError {
    rerr(offset, RecoverErrorKind::Corrupt(msg.into()))
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

fn u64_at(b: &[u8], i: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[i..i + 8]);
    u64::from_le_bytes(a)
}

/// A pool file's header, checked against the file's length.
#[derive(Debug, Clone)]
struct ParsedHeader {
    geometry: Geometry,
    clock: ClockCalibration,
    pid: u64,
    dict_len: u64,
    state: u64,
    dict_dropped: u64,
    max_record_size: u32,
}

/// Parses and checks a pool file's header; `actual_len` is the file's real length (the
/// header's `file_len` must not exceed it; `u64::MAX` when it is not known yet).
fn parse_header(b: &[u8], actual_len: u64) -> Result<ParsedHeader, RecoverError> {
    if b.len() < POOL_MAGIC.len() {
        return Err(if POOL_MAGIC.starts_with(b) {
            rerr(b.len(), RecoverErrorKind::Truncated { expected: POOL_HEADER_LEN as u64, actual: b.len() as u64 })
        } else {
            rerr(0, RecoverErrorKind::BadMagic)
        });
    }
    if b[..8] != POOL_MAGIC {
        return Err(rerr(0, RecoverErrorKind::BadMagic));
    }
    if b.len() < POOL_HEADER_LEN {
        return Err(rerr(
            b.len(),
            RecoverErrorKind::Truncated { expected: POOL_HEADER_LEN as u64, actual: b.len() as u64 },
        ));
    }
    match u32_at(b, off::BYTE_ORDER) {
        BYTE_ORDER => {}
        v if v == BYTE_ORDER.swap_bytes() => return Err(rerr(off::BYTE_ORDER, RecoverErrorKind::WrongByteOrder)),
        v => return Err(corrupt(off::BYTE_ORDER, format!("byte-order mark {v:#010x}"))),
    }
    let version = u16_at(b, off::VERSION);
    if version > POOL_FORMAT_VERSION {
        return Err(rerr(off::VERSION, RecoverErrorKind::UnsupportedVersion(version)));
    }
    if version == 0 {
        return Err(corrupt(off::VERSION, "format version 0"));
    }
    let header_len = u16_at(b, off::HEADER_LEN) as usize;
    if header_len < POOL_HEADER_LEN {
        return Err(corrupt(off::HEADER_LEN, format!("header length {header_len}, expected {POOL_HEADER_LEN}")));
    }
    let ring_count = u32_at(b, off::RING_COUNT);
    let ring_size = u32_at(b, off::RING_SIZE);
    if !ring_size.is_power_of_two() || ring_size < 4096 {
        return Err(corrupt(off::RING_SIZE, format!("ring size {ring_size} is not a power of two ≥ 4096")));
    }
    let g = Geometry {
        ring_count,
        ring_size,
        ctl_offset: u64_at(b, off::CTL_OFFSET),
        ctl_stride: u32_at(b, off::CTL_STRIDE),
        tail_offset: u16_at(b, off::TAIL_OFFSET),
        head_offset: u16_at(b, off::HEAD_OFFSET),
        meta_offset: u64_at(b, off::META_OFFSET),
        rings_offset: u64_at(b, off::RINGS_OFFSET),
        dict_offset: u64_at(b, off::DICT_OFFSET),
        dict_capacity: u64_at(b, off::DICT_CAPACITY),
        file_len: u64_at(b, off::FILE_LEN),
    };
    if (g.ctl_stride as u64) < 8 + g.tail_offset.max(g.head_offset) as u64 || g.tail_offset == g.head_offset {
        return Err(corrupt(
            off::CTL_STRIDE,
            format!(
                "ring control layout (stride {}, tail at {}, head at {}) is impossible",
                g.ctl_stride, g.tail_offset, g.head_offset
            ),
        ));
    }
    let n = ring_count as u64;
    // Each region must lie inside the file the header describes.
    let regions = [
        (off::CTL_OFFSET, "ring control blocks", g.ctl_offset, n.checked_mul(g.ctl_stride as u64)),
        (off::META_OFFSET, "ring owners", g.meta_offset, Some(n * META_LEN as u64)),
        (off::RINGS_OFFSET, "rings", g.rings_offset, n.checked_mul(ring_size as u64)),
        (off::DICT_OFFSET, "dictionary", g.dict_offset, Some(g.dict_capacity)),
    ];
    for (at, what, start, len) in regions {
        let end = len.and_then(|l| start.checked_add(l));
        match end {
            Some(end) if start >= POOL_HEADER_LEN as u64 && end <= g.file_len => {}
            _ => {
                return Err(corrupt(
                    at,
                    format!("the {what} (at {start}) do not fit in the file length {}", g.file_len),
                ))
            }
        }
    }
    if actual_len < g.file_len {
        return Err(RecoverError {
            offset: actual_len,
            kind: RecoverErrorKind::Truncated { expected: g.file_len, actual: actual_len },
        });
    }
    let ticks_per_sec = u64_at(b, off::TICKS_PER_SEC);
    if ticks_per_sec == 0 {
        return Err(corrupt(off::TICKS_PER_SEC, "clock calibration with 0 ticks per second"));
    }
    let dict_len = u64_at(b, off::DICT_LEN);
    if dict_len > g.dict_capacity {
        return Err(corrupt(
            off::DICT_LEN,
            format!("dictionary length {dict_len} exceeds its capacity {}", g.dict_capacity),
        ));
    }
    Ok(ParsedHeader {
        geometry: g,
        clock: ClockCalibration::new(u64_at(b, off::ANCHOR_TICKS), u64_at(b, off::ANCHOR_UNIX_NS), ticks_per_sec),
        pid: u64_at(b, off::PID),
        dict_len,
        state: u64_at(b, off::STATE),
        dict_dropped: u64_at(b, off::DICT_DROPPED),
        max_record_size: u32_at(b, off::MAX_RECORD),
    })
}

/// What [`recover`] found, per thread and overall.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Whether the recording process shut down cleanly (otherwise it died, or still runs).
    pub clean_shutdown: bool,
    /// The recording process's id.
    pub pid: u64,
    /// Every thread with recovered records, by thread id.
    pub threads: Vec<RecoveredThread>,
    /// Records recovered (events, raw and loss records).
    pub records: u64,
    /// Records that were being written when the process stopped, cut at the last committed
    /// record: one entry per ring where one was found.
    pub torn: Vec<TornTail>,
    /// Rings whose committed part could not be read to the end (corruption).
    pub corrupt_rings: Vec<CorruptRing>,
    /// Callsite or thread descriptions that did not fit in the file's dictionary (records of
    /// those callsites decode as unknown).
    pub dictionary_dropped: u64,
    /// Where the dictionary stopped being readable, if it did (a pool-file offset).
    pub dictionary_cut_at: Option<u64>,
}

/// One thread's share of a recovery.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveredThread {
    /// The runtime's thread id.
    pub id: u64,
    /// Its name (empty if its description was lost).
    pub name: String,
    /// Events (and raw records) recovered.
    pub events: u64,
    /// Loss records recovered (each reports events dropped before it).
    pub loss_records: u64,
    /// Events those loss records report as dropped.
    pub reported_lost: u64,
    /// Rings its records came from.
    pub rings: u32,
    /// Unix time (ns) of its first and last recovered record.
    pub first_unix_ns: u64,
    /// See `first_unix_ns`.
    pub last_unix_ns: u64,
}

/// A record cut because it was not committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The ring.
    pub ring: u32,
    /// The thread writing it.
    pub thread: u64,
    /// Pool-file offset of the cut record.
    pub offset: u64,
}

/// A ring whose committed part was unreadable from some point on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorruptRing {
    /// The ring.
    pub ring: u32,
    /// Pool-file offset where reading stopped.
    pub offset: u64,
    /// What was wrong.
    pub reason: String,
}

impl fmt::Display for Recovery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "recovered {} records from {} threads of process {} ({})",
            self.records,
            self.threads.len(),
            self.pid,
            if self.clean_shutdown { "shut down cleanly" } else { "did not shut down cleanly" }
        )?;
        for t in &self.threads {
            writeln!(
                f,
                "  thread {:>4} {:<24} {:>9} events {:>4} rings{}",
                t.id,
                format!("{:?}", t.name),
                t.events,
                t.rings,
                if t.loss_records > 0 {
                    format!(", {} loss records reporting {} dropped events", t.loss_records, t.reported_lost)
                } else {
                    String::new()
                }
            )?;
        }
        for t in &self.torn {
            writeln!(
                f,
                "  torn tail: ring {} (thread {}): the record being written at file offset {} was cut",
                t.ring, t.thread, t.offset
            )?;
        }
        for c in &self.corrupt_rings {
            writeln!(
                f,
                "  corrupt: ring {} at file offset {}: {}; the rest of the ring was skipped",
                c.ring, c.offset, c.reason
            )?;
        }
        if self.dictionary_dropped > 0 {
            writeln!(f, "  {} descriptions did not fit in the dictionary", self.dictionary_dropped)?;
        }
        if let Some(at) = self.dictionary_cut_at {
            writeln!(f, "  the dictionary is unreadable from file offset {at}")?;
        }
        Ok(())
    }
}

/// One ring's committed records (byte ranges into the pool file).
struct RingRecords {
    ring: u32,
    owner: u64,
    seq: u64,
    records: Vec<(usize, usize)>,
}

/// Where (a file offset) and why reading a ring stopped early.
type Damage = (usize, String);

/// Walks the committed records `[head, tail)` of ring `ring`, whose bytes start at file
/// offset `base`. Returns the records' file ranges, and where and why reading stopped early.
fn walk_ring(file: &[u8], base: usize, size: usize, head: u64, tail: u64) -> (Vec<(usize, usize)>, Option<Damage>) {
    let mask = size as u64 - 1;
    let mut pos = head;
    let mut out = Vec::new();
    while pos < tail {
        let off = (pos & mask) as usize;
        let to_end = size - off;
        if to_end < HEADER_LEN {
            pos = pos.saturating_add(to_end as u64);
            continue;
        }
        let at = base + off;
        let Some(h) = Header::read(&file[at..at + HEADER_LEN]) else {
            return (out, Some((at, "unreadable record header".into())));
        };
        let Some(len) = h.committed_len(pos, to_end, tail) else {
            let why = if h.kind().is_none() {
                format!("unknown record kind {:#x}", h.flags)
            } else {
                format!("record of {} bytes does not fit in the committed part", h.size)
            };
            return (out, Some((at, why)));
        };
        if h.kind() != Some(RecordKind::Pad) {
            out.push((at, h.size as usize));
        }
        pos += len as u64;
    }
    (out, None)
}

/// Whether the bytes at a ring's tail look like a record that was being written: a header as
/// a producer writes it (a known kind other than a pad, no unknown flag bits, a size of at
/// most `max_record` or a loss record's, padded to fit both before the ring's end and in the
/// free space `room`), no older than the last committed record.
///
/// Past the tail lie the bytes of earlier records (an earlier lap, or the ring's use before it
/// was reset), and the tail can fall inside one of them: its payload, read as a header, must
/// not pass for a torn record (a cleanly closed ring is not torn).
fn looks_torn(file: &[u8], at: usize, last_ts: u64, ring_end: usize, room: u64, max_record: u32) -> bool {
    if at + HEADER_LEN > ring_end {
        return false;
    }
    // A loss record can exceed a `max_record_size` below its length (the minimum is 32); a
    // header without the field (0) limits nothing.
    let max_record = match max_record as usize {
        0 => MAX_RECORD_LEN,
        m => m.max(HEADER_LEN + crate::wire::record::LossInfo::LEN),
    };
    match Header::read(&file[at..at + HEADER_LEN]) {
        Some(h) => {
            let len = align8(h.size as usize);
            h.size as usize >= HEADER_LEN
                && h.size as usize <= max_record
                && len <= ring_end - at
                && len as u64 <= room
                && h.flags & !(KIND_MASK | FLAG_CONTEXT | FLAG_TRUNCATED) == 0
                && h.kind().is_some_and(|k| k != RecordKind::Pad)
                && h.ts >= last_ts
                && last_ts > 0
        }
        None => false,
    }
}

/// Rebuilds a binary trace (the format of [`trace_file`]) from the bytes of a pool file:
/// every committed record, one thread's records in recording order, all of them in timestamp
/// order, closed by an END chunk. Returns the trace and what was found. Never panics on bad
/// input.
///
/// ```no_run
/// let pool = std::fs::read("/var/run/app/flight.pool")?;
/// let (trace, found) = ringtrace::flight::recover(&pool)?;
/// std::fs::write("crash.rtrace", trace)?;
/// eprint!("{found}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn recover(file: &[u8]) -> Result<(Vec<u8>, Recovery), RecoverError> {
    let h = parse_header(file, file.len() as u64)?;
    let g = h.geometry;
    let mut found = Recovery {
        clean_shutdown: h.state == STATE_CLOSED,
        pid: h.pid,
        dictionary_dropped: h.dict_dropped,
        ..Recovery::default()
    };

    // The dictionary: read it through the trace reader, as a trace of descriptions only.
    let dict = &file[g.dict_offset as usize..(g.dict_offset + h.dict_len) as usize];
    let mut dict_trace = trace_file::file_header(&h.clock).to_vec();
    dict_trace.extend_from_slice(dict);
    let mut reader = trace_file::TraceReader::new(&dict_trace[..]).map_err(|e| corrupt(0, e.to_string()))?;
    let mut dict_ok = dict.len();
    let mut described = match reader.for_each_batch(|_| {}) {
        Ok(stats) => stats,
        Err(e) => {
            // Keep the complete chunks before the damage.
            let cut = (e.offset as usize).saturating_sub(trace_file::FILE_HEADER_LEN).min(dict.len());
            dict_ok = chunk_boundary(dict, cut);
            // A chunk that ends at the limit can still be the bad one (an empty, malformed
            // chunk is reported at its end): step back until what is kept reads.
            let stats = loop {
                reader = trace_file::TraceReader::new(&dict_trace[..trace_file::FILE_HEADER_LEN + dict_ok])
                    .map_err(|e| corrupt(0, e.to_string()))?;
                match reader.for_each_batch(|_| {}) {
                    Ok(stats) => break stats,
                    Err(e) => {
                        let cut = (e.offset as usize).saturating_sub(trace_file::FILE_HEADER_LEN);
                        dict_ok = chunk_boundary(dict, cut.min(dict_ok - 1));
                    }
                }
            };
            found.dictionary_cut_at = Some(g.dict_offset + dict_ok as u64);
            stats
        }
    };
    if let Some(end) = described.end.take() {
        // An END chunk has no place in a dictionary (damage that happens to parse as one):
        // keep what comes before it, which read with the same counts.
        dict_ok = (end.bytes as usize).saturating_sub(trace_file::FILE_HEADER_LEN).min(dict_ok);
        found.dictionary_cut_at = Some(g.dict_offset + dict_ok as u64);
    }
    let known_threads: HashMap<u64, ThreadInfo> = reader.threads().iter().map(|t| (t.id, t.clone())).collect();

    // The rings.
    let mut rings = Vec::new();
    for i in 0..g.ring_count {
        let ctl = (g.ctl_offset + i as u64 * g.ctl_stride as u64) as usize;
        let tail = u64_at(file, ctl + g.tail_offset as usize);
        let head = u64_at(file, ctl + g.head_offset as usize);
        if tail == head {
            continue;
        }
        let meta = (g.meta_offset + i as u64 * META_LEN as u64) as usize;
        let (owner, seq) = (u64_at(file, meta), u64_at(file, meta + 8));
        let base = (g.rings_offset + i as u64 * g.ring_size as u64) as usize;
        if tail < head || tail - head > g.ring_size as u64 {
            found.corrupt_rings.push(CorruptRing {
                ring: i,
                offset: (ctl + g.tail_offset as usize) as u64,
                reason: format!(
                    "positions head {head}, tail {tail} are impossible for a ring of {} bytes",
                    g.ring_size
                ),
            });
            continue;
        }
        let (records, bad) = walk_ring(file, base, g.ring_size as usize, head, tail);
        if let Some((at, reason)) = bad {
            found.corrupt_rings.push(CorruptRing { ring: i, offset: at as u64, reason });
        } else {
            let last_ts = records.last().map_or(0, |&(at, _)| u64_at(file, at + 8));
            let tail_at = base + (tail & (g.ring_size as u64 - 1)) as usize;
            let room = g.ring_size as u64 - (tail - head);
            let ring_end = base + g.ring_size as usize;
            if looks_torn(file, tail_at, last_ts, ring_end, room, h.max_record_size) {
                found.torn.push(TornTail { ring: i, thread: owner, offset: tail_at as u64 });
            }
        }
        if !records.is_empty() {
            rings.push(RingRecords { ring: i, owner, seq, records });
        }
    }
    rings.sort_by_key(|r| (r.owner, r.seq, r.ring));

    // One thread's records in ring order; then all threads merged by timestamp (stable, with
    // each thread's keys made monotonic so its order is never changed).
    let mut per_thread: BTreeMap<u64, RecoveredThread> = BTreeMap::new();
    let mut refs: Vec<(u64, u64, usize, usize)> = Vec::new();
    let mut last_key: HashMap<u64, u64> = HashMap::new();
    for r in &rings {
        let t = per_thread.entry(r.owner).or_insert_with(|| RecoveredThread {
            id: r.owner,
            name: known_threads.get(&r.owner).map(|t| t.name.clone()).unwrap_or_default(),
            ..RecoveredThread::default()
        });
        t.rings += 1;
        for &(at, len) in &r.records {
            let ts = u64_at(file, at + 8);
            let key = last_key.entry(r.owner).or_insert(0);
            *key = (*key).max(ts);
            refs.push((*key, r.owner, at, len));
            let kind = Header::read(&file[at..at + HEADER_LEN]).and_then(|h| h.kind());
            if kind == Some(RecordKind::Loss) {
                t.loss_records += 1;
                t.reported_lost = t.reported_lost.saturating_add(
                    crate::wire::record::LossInfo::from_bytes(&file[at + HEADER_LEN..at + len]).map_or(0, |l| l.events),
                );
            } else {
                t.events += 1;
            }
            let ns = h.clock.to_unix_ns(ts);
            if t.first_unix_ns == 0 {
                t.first_unix_ns = ns;
            }
            t.last_unix_ns = ns;
        }
    }
    refs.sort_by_key(|r| r.0);
    found.records = refs.len() as u64;

    let mut out = trace_file::file_header(&h.clock).to_vec();
    out.extend_from_slice(&dict[..dict_ok]);
    let mut threads = described.threads;
    for t in per_thread.values() {
        if !known_threads.contains_key(&t.id) {
            trace_file::write_thread(&mut out, &ThreadInfo { id: t.id, name: format!("thread-{}", t.id), os_tid: 0 });
            threads += 1;
        }
    }
    let mut w = trace_file::RecordsWriter::default();
    for &(_, thread, at, len) in &refs {
        w.push(&mut out, thread, &file[at..at + len]);
    }
    w.finish(&mut out);
    // (The dictionary's part counts too: damage can make a chunk of it read as records.)
    let end = trace_file::TraceEnd {
        records: w.records() + described.records,
        loss_records: w.loss_records() + described.loss_records,
        callsites: described.callsites,
        threads,
        bytes: out.len() as u64,
    };
    trace_file::write_end(&mut out, &end);
    found.threads = per_thread.into_values().collect();
    Ok((out, found))
}

/// The end of the last complete chunk at or before `limit` in a run of trace chunks.
fn chunk_boundary(chunks: &[u8], limit: usize) -> usize {
    let mut at = 0;
    while at + 8 <= limit {
        let len = u32_at(chunks, at + 4) as usize;
        match at.checked_add(8 + len) {
            Some(end) if end <= limit => at = end,
            _ => break,
        }
    }
    at
}

/// [`recover`] from a file into a file, written as snapshots are: created new with mode 0600
/// as `OUT.partial`, then renamed over `OUT` (a file or a symbolic link there is replaced, a
/// link is never followed; a FIFO or character device, also through a link such as
/// `/dev/stdout`, is written to directly; a directory, block device or socket is an error).
///
/// Reads the pool file's header first and then exactly the length the header declares, after
/// checking it against the file's real length: a file shorter than its header says is
/// [`RecoverErrorKind::Truncated`] before anything else is read, bytes beyond the declared
/// length (a sparse tail) are never read, and something that is not a pool file (`/dev/zero`)
/// fails on its first bytes. Memory: the declared length, plus the trace being built (at most
/// about as large). A pipe or device is read the same way, up to the declared length; an
/// allocation that fails is an error, not an abort.
pub fn recover_file(pool: impl AsRef<Path>, out: impl AsRef<Path>) -> Result<Recovery, RecoverError> {
    let bytes = read_pool_file(pool.as_ref())?;
    let (trace, found) = recover(&bytes)?;
    write_private(out.as_ref(), &trace).map_err(|e| rerr(0, RecoverErrorKind::Io(e)))?;
    Ok(found)
}

/// Reads a pool file: its header, then the length the header declares (see [`recover_file`]).
fn read_pool_file(path: &Path) -> Result<Vec<u8>, RecoverError> {
    let io = |at: u64| move |e: std::io::Error| RecoverError { offset: at, kind: RecoverErrorKind::Io(e) };
    let mut f = std::fs::File::open(path).map_err(io(0))?;
    let meta = f.metadata().map_err(io(0))?;
    let real_len = if meta.is_file() { meta.len() } else { u64::MAX };
    let mut bytes = vec![0u8; POOL_HEADER_LEN];
    let n = read_up_to(&mut f, &mut bytes).map_err(io(0))?;
    bytes.truncate(n);
    let declared = parse_header(&bytes, real_len)?.geometry.file_len;
    // The rest, in pieces of at most 16 MiB; the buffer grows only with what was read.
    const PIECE: u64 = 16 << 20;
    let len = usize::try_from(declared).map_err(|_| corrupt(off::FILE_LEN, "file length over the address space"))?;
    while bytes.len() < len {
        let start = bytes.len();
        let want = (len - start).min(PIECE as usize);
        let grow = (start + want).max(bytes.capacity().saturating_mul(2)).min(len);
        if bytes.capacity() < start + want {
            bytes.try_reserve_exact(grow - start).map_err(|_| {
                io(start as u64)(std::io::Error::new(
                    std::io::ErrorKind::OutOfMemory,
                    format!("cannot allocate {declared} bytes to read the pool file {}", path.display()),
                ))
            })?;
        }
        bytes.resize(start + want, 0);
        let got = read_up_to(&mut f, &mut bytes[start..]).map_err(io(start as u64))?;
        if got < want {
            let actual = (start + got) as u64;
            return Err(RecoverError {
                offset: actual,
                kind: RecoverErrorKind::Truncated { expected: declared, actual },
            });
        }
    }
    Ok(bytes)
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_up_to(r: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Writes a trace to `path` the way snapshots and [`recover_file`] do: see
/// [`private_file::write_private`](crate::flight::private_file::write_private) (mode 0600, through
/// `PATH.partial` and a rename that replaces a file or a link, never following one; a pipe or
/// character device is written to directly).
pub(crate) use crate::flight::private_file::write_private;

// ---------------------------------------------------------------------------------------------
// Writing traces (snapshots) from records copied out of rings.
// ---------------------------------------------------------------------------------------------

/// Builds a binary trace from per-thread runs of records (each run in recording order, every
/// record padded to 8 bytes as in a ring): the descriptions first, then the records merged by
/// timestamp.
pub(crate) fn write_trace(clock: &ClockCalibration, threads: &[(ThreadInfo, Vec<u8>)]) -> (Vec<u8>, u64) {
    let mut out = trace_file::file_header(clock).to_vec();
    let mut callsites = std::collections::BTreeSet::new();
    let mut refs: Vec<(u64, u64, usize, usize, usize)> = Vec::new();
    for (ti, (info, bytes)) in threads.iter().enumerate() {
        trace_file::write_thread(&mut out, info);
        let mut key = 0;
        for (at, h) in crate::wire::record::padded_records(bytes) {
            if h.kind() == Some(RecordKind::Event) {
                callsites.insert(h.id);
            }
            key = h.ts.max(key);
            refs.push((key, info.id, ti, at, h.size as usize));
        }
    }
    let callsite_count = callsites.len() as u64;
    for id in callsites {
        let info = crate::callsite::lookup(id)
            .map_or_else(|| CallsiteInfo::unknown(id), |m| CallsiteInfo::from_metadata(id, m));
        trace_file::write_callsite(&mut out, &info);
    }
    refs.sort_by_key(|r| r.0);
    let mut w = trace_file::RecordsWriter::default();
    for &(_, thread, ti, at, len) in &refs {
        w.push(&mut out, thread, &threads[ti].1[at..at + len]);
    }
    w.finish(&mut out);
    let end = trace_file::TraceEnd {
        records: w.records(),
        loss_records: w.loss_records(),
        callsites: callsite_count,
        threads: threads.len() as u64,
        bytes: out.len() as u64,
    };
    trace_file::write_end(&mut out, &end);
    (out, refs.len() as u64)
}

/// What [`snapshot`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotReport {
    /// The trace file written.
    pub path: PathBuf,
    /// Records in it.
    pub records: u64,
    /// Threads in it.
    pub threads: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// Why a snapshot was not taken.
#[derive(Debug)]
#[non_exhaustive]
pub enum SnapshotError {
    /// No runtime is installed.
    NotInstalled,
    /// Called from the drain thread (from a sink), which is the thread that takes snapshots.
    FromDrain,
    /// The drain did not answer within the time allowed (it is stuck in a sink, or shutting
    /// down).
    Timeout,
    /// The trace could not be written.
    Io(std::io::Error),
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotError::NotInstalled => f.write_str("no ringtrace runtime is installed"),
            SnapshotError::FromDrain => f.write_str("a snapshot cannot be taken from the drain thread (inside a sink)"),
            SnapshotError::Timeout => f.write_str("the drain thread did not take the snapshot in time"),
            SnapshotError::Io(e) => write!(f, "cannot write the snapshot: {e}"),
        }
    }
}

impl std::error::Error for SnapshotError {}

/// A snapshot (or, without a path, a flush) asked of the drain thread.
#[derive(Debug)]
pub(crate) struct SnapshotRequest {
    /// Where to write the snapshot; `None`: deliver what the rings hold to the sinks now and
    /// flush them (the panic hook).
    pub path: Option<PathBuf>,
    pub reply: std::sync::mpsc::Sender<Result<SnapshotReport, SnapshotError>>,
}

/// Installs a panic hook (opt-in, once per process; later calls do nothing) that, on the
/// panicking thread, records an `ERROR` event with target `ringtrace::panic` holding the
/// panic's message and location, then saves what it can before the process goes on
/// unwinding or aborting:
///
/// - in flight-recorder mode, the records stay in the pool; with a pool file it is
///   `msync`ed (so even a power loss right after keeps them);
/// - otherwise the drain delivers everything the rings hold to the sinks and flushes them
///   (waiting at most one second).
///
/// Then it calls the hook that was installed before (by default, the message to stderr).
///
/// ```
/// ringtrace::flight::install_panic_hook();
/// ```
pub fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "Box<dyn Any>".to_string());
            let (file, line, column) =
                info.location().map_or(("<unknown>", 0, 0), |l| (l.file(), l.line(), l.column()));
            let thread = std::thread::current();
            let thread = thread.name().unwrap_or("<unnamed>");
            crate::error!(
                target: "ringtrace::panic",
                file = file,
                line = line,
                column = column,
                thread = thread,
                "panicked at {}:{}:{}: {}",
                file,
                line,
                column,
                message.as_str()
            );
            crate::runtime::save_for_crash();
            previous(info);
        }));
    });
}

/// Set by the signal handler of [`snapshot_on_signal`], taken by the drain thread.
static SIGNALLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// The directory signal-triggered snapshots go to (set before the handler is installed).
static SIGNAL_DIR: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);
/// Signal-triggered snapshots taken so far in this process (their file names count them).
static SIGNAL_SNAPSHOTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Why [`snapshot_on_signal`] refused.
#[derive(Debug)]
#[non_exhaustive]
pub enum SignalError {
    /// Only `SIGUSR1`, `SIGUSR2` and the real-time signals (`SIGRTMIN..=SIGRTMAX`) are
    /// accepted: others have meanings of their own (termination, faults, job control).
    Unsupported(i32),
    /// The signal already has a handler that is not ringtrace's; it is left in place.
    HandlerInstalled(i32),
    /// The directory does not exist or is not a directory.
    NotADirectory(PathBuf),
    /// `sigaction` failed.
    Io(std::io::Error),
    /// This platform has no signals (Windows): trigger snapshots with [`snapshot`] instead.
    UnsupportedPlatform,
}

impl fmt::Display for SignalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignalError::Unsupported(n) => {
                write!(f, "signal {n} cannot trigger snapshots: use SIGUSR1, SIGUSR2 or a real-time signal")
            }
            SignalError::HandlerInstalled(n) => {
                write!(f, "signal {n} already has a handler; ringtrace does not replace it")
            }
            SignalError::NotADirectory(p) => write!(f, "{} is not a directory", p.display()),
            SignalError::Io(e) => write!(f, "cannot install the signal handler: {e}"),
            SignalError::UnsupportedPlatform => {
                write!(
                    f,
                    "snapshots on a signal are unsupported on this platform (no signals); call snapshot() instead"
                )
            }
        }
    }
}

impl std::error::Error for SignalError {}

/// Opt-in: when the process receives `signal`, the drain thread writes a
/// [`snapshot`] into `dir`, named `snapshot-<unix time in ms>-<n>.rtrace` (n counts this
/// process's signal-triggered snapshots from 1), without stopping recording. For an operator:
/// `kill -USR2 <pid>`.
///
/// The handler only sets a flag (it is async-signal-safe); the drain thread sees it within a
/// second (its longest sleep) and takes the snapshot. Signals that arrive before the snapshot
/// is taken make one snapshot; without an installed runtime a signal does nothing. The
/// outcome goes to the runtime's diagnostics (kind `Snapshot`): the file and record count,
/// or why it failed.
///
/// Unix only: on Windows it returns [`SignalError::UnsupportedPlatform`]. Accepts `SIGUSR1`,
/// `SIGUSR2` and, on Linux, the real-time signals; refuses a signal that already has a
/// handler other than ringtrace's (so a program's own `SIGUSR2` handling is not taken over).
/// Calling it again changes the directory (for every signal set up so far) and may add
/// another signal. The handler stays installed for the life of the process.
///
/// ```no_run
/// # #[cfg(unix)]
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let guard = ringtrace::Builder::new().preset(ringtrace::Preset::FlightRecorder).install()?;
/// ringtrace::flight::snapshot_on_signal(libc::SIGUSR2, "/var/lib/svc/snapshots")?;
/// // ... `kill -USR2 <pid>` writes /var/lib/svc/snapshots/snapshot-….rtrace
/// # drop(guard);
/// # Ok(())
/// # }
/// # #[cfg(not(unix))]
/// # fn main() {}
/// ```
#[cfg(unix)]
pub fn snapshot_on_signal(signal: i32, dir: impl Into<PathBuf>) -> Result<(), SignalError> {
    let dir = dir.into();
    // Real-time signals exist on Linux; macOS and the BSDs have none in `libc`.
    #[cfg(target_os = "linux")]
    let realtime = (libc::SIGRTMIN()..=libc::SIGRTMAX()).contains(&signal);
    #[cfg(not(target_os = "linux"))]
    let realtime = false;
    if !(signal == libc::SIGUSR1 || signal == libc::SIGUSR2 || realtime) {
        return Err(SignalError::Unsupported(signal));
    }
    if !dir.is_dir() {
        return Err(SignalError::NotADirectory(dir));
    }
    let mut current = SIGNAL_DIR.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: `sigaction` with a null new action only reads the current one into `old`, a
    // zeroed, properly aligned `sigaction` struct that lives across the call.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::sigaction(signal, std::ptr::null(), &mut old) } != 0 {
        return Err(SignalError::Io(std::io::Error::last_os_error()));
    }
    let ours = on_snapshot_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    if old.sa_sigaction != libc::SIG_DFL && old.sa_sigaction != libc::SIG_IGN && old.sa_sigaction != ours {
        return Err(SignalError::HandlerInstalled(signal));
    }
    // The directory is in place before the handler can fire.
    *current = Some(dir);
    // SAFETY: `new` is a zeroed `sigaction` with a handler of the signature `sa_sigaction`
    // expects without SA_SIGINFO (`extern "C" fn(c_int)`), an empty mask (`sigemptyset` on
    // its own field) and SA_RESTART, so interrupted system calls in the program resume. The
    // handler only stores to a static atomic, which is async-signal-safe.
    unsafe {
        let mut new: libc::sigaction = std::mem::zeroed();
        new.sa_sigaction = ours;
        new.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut new.sa_mask);
        if libc::sigaction(signal, &new, std::ptr::null_mut()) != 0 {
            return Err(SignalError::Io(std::io::Error::last_os_error()));
        }
    }
    Ok(())
}

/// See the Unix version: there are no signals here, so this always fails, saying so.
#[cfg(not(unix))]
pub fn snapshot_on_signal(signal: i32, dir: impl Into<PathBuf>) -> Result<(), SignalError> {
    let _ = (signal, dir.into());
    Err(SignalError::UnsupportedPlatform)
}

/// The handler: a store to a static atomic, nothing else (async-signal-safe).
#[cfg(unix)]
extern "C" fn on_snapshot_signal(_: libc::c_int) {
    // Relaxed: a flag; the directory was published before the handler was installed (by
    // the mutex and the `sigaction` system call), and the drain reads it under the mutex.
    SIGNALLED.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// For the drain thread: if a signal asked for a snapshot since the last call, the path to
/// write it to.
pub(crate) fn signalled_snapshot() -> Option<PathBuf> {
    // Relaxed: see `on_snapshot_signal`. A load first: the drain calls this on every turn of
    // its loop, and a read-modify-write would take the cache line each time.
    if !SIGNALLED.load(std::sync::atomic::Ordering::Relaxed)
        || !SIGNALLED.swap(false, std::sync::atomic::Ordering::Relaxed)
    {
        return None;
    }
    let dir = SIGNAL_DIR.lock().unwrap_or_else(|e| e.into_inner()).clone()?;
    let n = SIGNAL_SNAPSHOTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    Some(dir.join(format!("snapshot-{ms}-{n}.rtrace")))
}

/// At install, before the drain thread starts: forget a signal that arrived while no runtime
/// was installed.
pub(crate) fn clear_signalled() {
    SIGNALLED.store(false, std::sync::atomic::Ordering::Relaxed);
}

/// Writes the current contents of every thread's rings to `path` as a binary trace, without
/// stopping recording (like an LTTng snapshot session). One thread's records come out in
/// recording order and complete (a record being written is left out); with `DropOldest`
/// (the flight-recorder preset) they are each thread's newest. The drain thread takes the
/// snapshot; this call waits for it (at most the configured `shutdown_timeout`).
///
/// Records already delivered to sinks are not in the rings any more: in the flight-recorder
/// mode nothing is delivered while the process runs, so a snapshot holds all that the pool
/// keeps.
///
/// ```
/// # #[cfg(not(feature = "loom"))]
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let guard = ringtrace::Builder::new().ignore_env().preset(ringtrace::Preset::FlightRecorder).install()?;
/// ringtrace::info!("before the snapshot");
/// let dir = std::env::temp_dir().join(format!("rt-snap-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let report = ringtrace::snapshot(dir.join("now.rtrace"))?;
/// assert_eq!(report.records, 1);
/// # drop(guard);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(())
/// # }
/// # #[cfg(feature = "loom")]
/// # fn main() {}
/// ```
pub fn snapshot(path: impl AsRef<Path>) -> Result<SnapshotReport, SnapshotError> {
    crate::runtime::request_snapshot(Some(path.as_ref().to_path_buf()), None)
}

// ---------------------------------------------------------------------------------------------
// The pool file itself (a live mapping; not under loom, whose atomics cannot live in a file).
// ---------------------------------------------------------------------------------------------

#[cfg(not(feature = "loom"))]
pub(crate) use file::PoolFile;

#[cfg(not(feature = "loom"))]
mod file {
    use super::*;
    use crate::rings::ring::RingCtl;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    /// A pool file, mapped. See the module doc for the layout.
    pub(crate) struct PoolFile {
        map: memmap2::MmapRaw,
        path: PathBuf,
        geometry: Geometry,
        /// Serialises dictionary appends (cold: once per callsite and per thread).
        dict: Mutex<()>,
    }

    impl fmt::Debug for PoolFile {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("PoolFile").field("path", &self.path).field("len", &self.geometry.file_len).finish()
        }
    }

    /// The process's pool file, for callsite registrations (callsites are process-global).
    static ACTIVE: Mutex<Option<Arc<PoolFile>>> = Mutex::new(None);

    fn io_err(path: &Path, what: &str, e: std::io::Error) -> std::io::Error {
        std::io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
    }

    impl PoolFile {
        /// Creates the file (mode 0600, space reserved), maps it and writes the header.
        pub(crate) fn create(
            path: &Path,
            ring_count: u32,
            ring_size: usize,
            max_record_size: usize,
            clock: &ClockCalibration,
        ) -> std::io::Result<Self> {
            let probe = RingCtl::new(ring_size);
            let base = &probe as *const RingCtl as usize;
            let (tail_at, head_at) = probe.position_addrs();
            let geometry = Geometry::new(
                ring_count,
                u32::try_from(ring_size).map_err(|_| std::io::Error::other("ring size over 4 GiB"))?,
                std::mem::size_of::<RingCtl>() as u32,
                (tail_at - base) as u16,
                (head_at - base) as u16,
            )
            .ok_or_else(|| std::io::Error::other("pool file size overflows"))?;
            // An earlier pool file goes to PATH.prev; anything else there is an error, and a
            // link is never followed (see private_file.rs).
            crate::flight::private_file::move_aside(path, &POOL_MAGIC, "a ringtrace pool file")
                .map_err(|e| std::io::Error::new(e.kind(), format!("pool file: {e}")))?;
            let file = crate::flight::private_file::create_new(path)
                .map_err(|e| io_err(path, "cannot create the pool file", e))?;
            // posix_fallocate on Linux, writing the file elsewhere (platform/).
            if let Err(e) = crate::platform::preallocate(&file, geometry.file_len) {
                let _ = std::fs::remove_file(path);
                return Err(io_err(path, &format!("cannot reserve {} bytes for", geometry.file_len), e));
            }
            let map = memmap2::MmapOptions::new()
                .len(geometry.file_len as usize)
                .map_raw(&file)
                .map_err(|e| io_err(path, "cannot map", e))?;
            let pf = Self { map, path: path.to_path_buf(), geometry, dict: Mutex::new(()) };
            pf.write_header(max_record_size, clock);
            Ok(pf)
        }

        fn write_header(&self, max_record_size: usize, clock: &ClockCalibration) {
            let g = &self.geometry;
            let mut h = [0u8; POOL_HEADER_LEN];
            let mut put = |at: usize, bytes: &[u8]| h[at..at + bytes.len()].copy_from_slice(bytes);
            put(0, &POOL_MAGIC);
            put(off::VERSION, &POOL_FORMAT_VERSION.to_le_bytes());
            put(off::HEADER_LEN, &(POOL_HEADER_LEN as u16).to_le_bytes());
            put(off::BYTE_ORDER, &BYTE_ORDER.to_le_bytes());
            put(off::RING_COUNT, &g.ring_count.to_le_bytes());
            put(off::RING_SIZE, &g.ring_size.to_le_bytes());
            put(off::CTL_OFFSET, &g.ctl_offset.to_le_bytes());
            put(off::CTL_STRIDE, &g.ctl_stride.to_le_bytes());
            put(off::TAIL_OFFSET, &g.tail_offset.to_le_bytes());
            put(off::HEAD_OFFSET, &g.head_offset.to_le_bytes());
            put(off::META_OFFSET, &g.meta_offset.to_le_bytes());
            put(off::RINGS_OFFSET, &g.rings_offset.to_le_bytes());
            put(off::DICT_OFFSET, &g.dict_offset.to_le_bytes());
            put(off::DICT_CAPACITY, &g.dict_capacity.to_le_bytes());
            put(off::FILE_LEN, &g.file_len.to_le_bytes());
            put(off::ANCHOR_TICKS, &clock.anchor_ticks.to_le_bytes());
            put(off::ANCHOR_UNIX_NS, &clock.anchor_unix_ns.to_le_bytes());
            put(off::TICKS_PER_SEC, &clock.ticks_per_sec.to_le_bytes());
            put(off::PID, &(std::process::id() as u64).to_le_bytes());
            put(off::STATE, &STATE_OPEN.to_le_bytes());
            put(off::MAX_RECORD, &(max_record_size as u32).to_le_bytes());
            let now =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
            put(off::CREATED, &now.to_le_bytes());
            // SAFETY: the mapping is at least a page long and nobody else uses the header yet.
            unsafe { std::ptr::copy_nonoverlapping(h.as_ptr(), self.map.as_mut_ptr(), POOL_HEADER_LEN) };
        }

        /// An 8-byte word of the file as an atomic.
        fn word(&self, at: u64) -> &AtomicU64 {
            debug_assert!(at % 8 == 0 && at + 8 <= self.geometry.file_len);
            // SAFETY: `at` is 8-aligned (the mapping is page-aligned) and inside the mapping,
            // which lives as long as `self`; every access to these words is atomic.
            unsafe { &*(self.map.as_mut_ptr().add(at as usize) as *const AtomicU64) }
        }

        /// The ring control blocks, which live in the file.
        pub(crate) fn ctl_ptr(&self) -> *const RingCtl {
            // SAFETY: ctl_offset + ring_count × stride lies inside the mapping (Geometry::new).
            unsafe { self.map.as_mut_ptr().add(self.geometry.ctl_offset as usize) as *const RingCtl }
        }

        /// The rings' bytes.
        pub(crate) fn rings_ptr(&self) -> *mut u8 {
            // SAFETY: rings_offset + ring_count × ring_size lies inside the mapping.
            unsafe { self.map.as_mut_ptr().add(self.geometry.rings_offset as usize) }
        }

        /// Notes that `thread` starts writing into `ring` as its `seq`-th ring. Called by the
        /// owning producer before it writes any record there.
        pub(crate) fn set_owner(&self, ring: u32, thread: u64, seq: u64) {
            let at = self.geometry.meta_offset + ring as u64 * META_LEN as u64;
            // Relaxed: only read after the process is gone (recovery) or by nobody; the ring's
            // records, written after this, are published by the Release store of its tail.
            self.word(at).store(thread, Ordering::Relaxed);
            self.word(at + 8).store(seq, Ordering::Relaxed);
        }

        /// Appends one dictionary chunk (complete CALLSITE or THREAD chunk bytes).
        fn append(&self, chunk: &[u8]) {
            let _g = self.dict.lock().unwrap_or_else(|e| e.into_inner());
            let len_word = self.word(off::DICT_LEN as u64);
            // Relaxed: appends are serialised by the mutex.
            let len = len_word.load(Ordering::Relaxed);
            if len + chunk.len() as u64 > self.geometry.dict_capacity {
                self.word(off::DICT_DROPPED as u64).fetch_add(1, Ordering::Relaxed);
                return;
            }
            // SAFETY: [dict_offset + len, + chunk.len()) is inside the dictionary region (checked
            // above) and past `dict_len`, so no reader treats it as complete yet; appends are
            // serialised by the mutex.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    chunk.as_ptr(),
                    self.map.as_mut_ptr().add((self.geometry.dict_offset + len) as usize),
                    chunk.len(),
                )
            };
            // Release: a reader that sees the new length sees the chunk's bytes.
            len_word.store(len + chunk.len() as u64, Ordering::Release);
        }

        /// Describes a callsite in the dictionary.
        pub(crate) fn describe_callsite(&self, id: u32, meta: &'static crate::Metadata) {
            let mut chunk = Vec::with_capacity(128);
            trace_file::write_callsite(&mut chunk, &CallsiteInfo::from_metadata(id, meta));
            self.append(&chunk);
        }

        /// Describes a thread in the dictionary.
        pub(crate) fn describe_thread(&self, info: &ThreadInfo) {
            let mut chunk = Vec::with_capacity(64);
            trace_file::write_thread(&mut chunk, info);
            self.append(&chunk);
        }

        /// Makes this the file callsite registrations are described in, and describes every
        /// callsite registered so far.
        pub(crate) fn activate(self: &Arc<Self>) {
            crate::callsite::observe_registrations(callsite_registered);
            let mut active = ACTIVE.lock().unwrap_or_else(|e| e.into_inner());
            *active = Some(self.clone());
            // Under the lock: a registration that did not see this file (it took the
            // observer's lock before it was installed, or this lock before us) has its id
            // counted in `registered_below()` and its entry stored.
            for id in 1..crate::callsite::registered_below() {
                if let Some(meta) = crate::callsite::lookup(id) {
                    self.describe_callsite(id, meta);
                }
            }
        }

        /// Stops describing registrations in this file (shutdown).
        pub(crate) fn deactivate(self: &Arc<Self>) {
            let mut active = ACTIVE.lock().unwrap_or_else(|e| e.into_inner());
            if active.as_ref().is_some_and(|a| Arc::ptr_eq(a, self)) {
                *active = None;
            }
        }

        /// Marks the file as closed by a clean shutdown.
        pub(crate) fn mark_closed(&self) {
            // Release: after every record of the run.
            self.word(off::STATE as u64).store(STATE_CLOSED, Ordering::Release);
        }

        /// `msync(MS_SYNC)` of the whole file: returns once the kernel has written it to the
        /// device.
        pub(crate) fn sync(&self) -> std::io::Result<()> {
            self.map.flush()
        }

        /// The file's path.
        pub(crate) fn path(&self) -> &Path {
            &self.path
        }
    }

    /// The registration observer ([`crate::callsite::observe_registrations`]), called between
    /// storing the table entry and returning the id, so the description is in the file before
    /// any record carries the id.
    fn callsite_registered(id: u32, meta: &'static crate::Metadata) {
        let active = ACTIVE.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = active.as_ref() {
            f.describe_callsite(id, meta);
        }
    }
}

