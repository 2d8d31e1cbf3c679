//! The binary trace file (R-OUT-2): what [`BinarySink`](crate::output::sinks::BinarySink) writes and
//! `ringtrace decode` reads.
//!
//! All integers are little-endian.
//!
//! ```text
//! file header (48 bytes)
//!   magic          8  b"RTRACE\0\x01"
//!   version        u16  FORMAT_VERSION (2; format 1 is read too, see below)
//!   header_len     u16  48
//!   byte_order     u32  0x0A0B0C0D (reads back as 0x0D0C0B0A on a big-endian reader)
//!   anchor_ticks   u64  } clock calibration: ticks ↔ Unix time
//!   anchor_unix_ns u64  }
//!   ticks_per_sec  u64  }
//!   reserved       u64  0
//! then chunks, each: kind u8, 3 bytes of flags (0 unless stated), payload length u32, payload
//!   CALLSITE (1): flags[0] is the callsite kind (0 event, 1 span begin, 2 span end); id u32, level u8, line u32, then strings (u16 length + UTF-8):
//!                 target, module path, file, format; then u16 field count and the names
//!   THREAD   (2): id u64, os tid u64, name (u16 length + UTF-8)
//!   RECORDS  (3): records in merge order (merged by their writer): thread id u64, record
//!                 count u32, reserved u32, then the records exactly as in a ring (16-byte
//!                 header + payload), each padded to 8 bytes; at most MAX_RECORDS_CHUNK bytes
//!                 of records per chunk
//!   END      (4): the last chunk of a finished file: records u64, loss records u64,
//!                 callsites u64, threads u64 (the records in RECORDS and RUN chunks, the loss
//!                 records among them, and the CALLSITE and THREAD chunks the writer put in
//!                 this file), bytes u64 (the END chunk's own offset); a later version may
//!                 append fields (readers ignore them)
//!   RUN      (5): (format 2) a run of one thread's records, not merged with other threads':
//!                 thread id u64, record count u32, loss records among them u32, horizon u64
//!                 (the writer's merge point, see "Order"; 0: none), then the records exactly as they lay in the thread's ring,
//!                 each padded with zeros to 8 bytes (never a Pad record); at most
//!                 MAX_RECORDS_CHUNK bytes of records per chunk
//! ```
//!
//! A callsite or thread is described before the first record that refers to it. Each file a
//! rotating sink starts begins with the header and every description written so far, so every
//! file decodes on its own.
//!
//! # Order
//!
//! [`TraceReader`] hands records out in *merge order*: by merge key, a record's timestamp
//! raised to the key of its thread's previous record (so one thread's records never reorder,
//! the drain's own key), ties going to the thread described first in the file; each thread's
//! records in the order the file holds them.
//!
//! A RECORDS chunk is in merge order already, and follows every record before it: the reader
//! hands it out as it is, as one batch. The binary sink writes them for decoded batches
//! ([`Sink::write_batch`](crate::Sink::write_batch)); snapshots and `recover` write only
//! these.
//!
//! RUN chunks are the drain's raw path ([`Sink::write_raw`](crate::Sink::write_raw)): each
//! pass, the binary sink writes every thread's committed ring bytes as they are, one RUN chunk
//! per run, and the reader merges them — a k-way merge over threads with a bounded lookahead
//! (`merge.rs`). The writer's *horizon* says when records may go: the last RUN chunk of a
//! writer's batch carries it (0: none), and after reading that chunk the reader hands out,
//! merged, every record it holds whose merge key is below it (`u64::MAX`: all). A horizon
//! applies at its own chunk only. A RECORDS chunk, the END chunk, the end of the input or an
//! error hands out everything held first.
//!
//! The drain's horizon is its own merge's cutoff plus one: the pass handed its merged sinks
//! (text, JSON) every record whose key is at most the cutoff and held the rest back, so a
//! reader that hands out the same records at the same point gives the same order — a record
//! that came late (a loss record dated to when its gap opened, a record of a thread
//! descheduled for longer than `merge_window`) included, and ties between threads too if the
//! drain breaks them as the reader does (by the order the threads were first described). A
//! writer whose horizon is a promise (no later record has a lower key) gets an exact merge.
//!
//! Without horizons the reader holds at most [`DEFAULT_MERGE_LIMIT`] (64 MiB;
//! [`TraceReader::set_merge_limit`]) of RUN records and, at the limit, hands out the oldest
//! until half of it is left (horizons or not, that bound holds): the merge is then exact as
//! long as no record reaches the file more than about 32 MiB of RUN records after one that
//! sorts after it. A drain pass takes at most the pool (4 MiB by default) and a thread's
//! backlog is bounded by its quota, so for the default configuration that holds too.
//!
//! # Formats 1 and 2
//!
//! Format 2 added the RUN chunk; nothing else changed. This reader reads format-1 traces (from
//! ringtrace before the raw path) exactly as before: they hold RECORDS chunks only, already in
//! merge order. A reader of format 1 stops at a format-2 trace's header: "trace format
//! version 2 at byte 8 is newer than this reader supports (version 1)". A RUN chunk in a
//! format-1 file is an unknown chunk kind (corrupt).
//!
//! # Complete and incomplete traces
//!
//! A writer that finishes a file closes it with an END chunk: the binary sink at shutdown and
//! before it rotates a file away, snapshots and `recover` always. A file without one was cut:
//! its writer crashed, was killed, or is still writing. [`TraceReader`] reads such a file up to
//! its last complete chunk and reports it through [`ReadStats::end`] (`None`) and
//! [`ReadStats::bytes`] (where the last good chunk ends); what to make of it is the caller's
//! choice (`ringtrace decode` warns, and fails with `--strict`). The END chunk's counts are
//! checked against what was read, and nothing may follow it.
//!
//! # Bad input and memory
//!
//! [`TraceReader`] never panics on bad input: a wrong magic, a newer version, a truncated or
//! corrupt chunk each give a [`TraceError`] with the byte offset where reading stopped, after
//! every record read before it was handed out.
//!
//! It reads one chunk at a time. A chunk's buffer is sized from its header but never beyond
//! what the input holds ([`TraceReader::with_len`]; [`TraceReader::open`] takes a regular
//! file's length), is filled in pieces of at most [`READ_PIECE`] bytes, and grows only with the
//! bytes actually read, so a corrupt length cannot make the reader allocate it. Chunk payloads
//! over [`MAX_CHUNK`] are refused, RUN chunks with more than [`MAX_RECORDS_CHUNK`] bytes of
//! records too; writers of this version write chunks of at most [`MAX_RECORDS_CHUNK`] bytes of
//! records. An allocation that fails is an error, not an abort. Besides the chunk, the reader
//! keeps the dictionary (callsite and thread descriptions) it has read and the RUN records it
//! cannot hand out yet (at most the merge limit plus one chunk, see "Order").

mod merge;

use crate::callsite::CallsiteKind;
use crate::clock::ClockCalibration;
use crate::level::Level;
use crate::output::event::{Batch, CallsiteInfo, CallsiteTable, RecRef, ThreadInfo};
use crate::wire::record::{align8, Header, RecordKind, HEADER_LEN};
use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read};
use std::path::Path;

/// The first 8 bytes of every trace file.
pub const MAGIC: [u8; 8] = *b"RTRACE\0\x01";
/// The format version this crate writes (it reads [`OLDEST_FORMAT_VERSION`] up to this one).
pub const FORMAT_VERSION: u16 = 2;
/// The oldest format version this crate reads (see the module doc: "Formats 1 and 2").
pub const OLDEST_FORMAT_VERSION: u16 = 1;
/// Bytes in the file header.
pub const FILE_HEADER_LEN: usize = 48;
const BYTE_ORDER: u32 = 0x0A0B_0C0D;
const CHUNK_HEADER_LEN: usize = 8;
/// Largest chunk payload a reader accepts (1 GiB; guards against absurd lengths in corrupt
/// files). Memory is bounded further by the input's real length: see the module doc.
pub const MAX_CHUNK: usize = 1 << 30;
/// Largest RECORDS or RUN chunk payload the writers of this version produce, not counting
/// the chunk's own 16- or 24-byte header: 1 MiB of records (a single record is never split,
/// and records are at most 64 KiB). Readers refuse RUN chunks with more.
pub const MAX_RECORDS_CHUNK: usize = 1 << 20;
/// Readers fill a chunk's buffer at most this many bytes at a time (1 MiB).
pub const READ_PIECE: usize = 1 << 20;
/// How many bytes of RUN records a reader holds for its merge before it hands out the oldest,
/// horizon or not (64 MiB; see the module doc: "Order").
pub const DEFAULT_MERGE_LIMIT: usize = 64 << 20;
/// Payload bytes of the END chunk this version writes.
const END_LEN: usize = 40;
/// Bytes of a RUN chunk's payload before its records: thread id, record count, loss records,
/// horizon.
pub const RUN_HEADER_LEN: usize = 24;
/// Bytes of a RUN chunk before its records: the chunk header and [`RUN_HEADER_LEN`].
pub const RUN_CHUNK_HEADER_LEN: usize = CHUNK_HEADER_LEN + RUN_HEADER_LEN;

const CHUNK_CALLSITE: u8 = 1;
const CHUNK_THREAD: u8 = 2;
const CHUNK_RECORDS: u8 = 3;
const CHUNK_END: u8 = 4;
const CHUNK_RUN: u8 = 5;

/// The file header for a trace written with `clock`.
pub fn file_header(clock: &ClockCalibration) -> [u8; FILE_HEADER_LEN] {
    let mut h = [0u8; FILE_HEADER_LEN];
    h[0..8].copy_from_slice(&MAGIC);
    h[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[10..12].copy_from_slice(&(FILE_HEADER_LEN as u16).to_le_bytes());
    h[12..16].copy_from_slice(&BYTE_ORDER.to_le_bytes());
    h[16..24].copy_from_slice(&clock.anchor_ticks.to_le_bytes());
    h[24..32].copy_from_slice(&clock.anchor_unix_ns.to_le_bytes());
    h[32..40].copy_from_slice(&clock.ticks_per_sec.to_le_bytes());
    h
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    let s = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
    out.extend_from_slice(&(s.len() as u16).to_le_bytes());
    out.extend_from_slice(s);
}

fn begin_chunk(out: &mut Vec<u8>, kind: u8) -> usize {
    out.extend_from_slice(&[kind, 0, 0, 0, 0, 0, 0, 0]);
    out.len()
}

fn end_chunk(out: &mut [u8], start: usize) {
    let len = (out.len() - start) as u32;
    out[start - 4..start].copy_from_slice(&len.to_le_bytes());
}

/// Appends a CALLSITE chunk.
pub fn write_callsite(out: &mut Vec<u8>, c: &CallsiteInfo) {
    let start = begin_chunk(out, CHUNK_CALLSITE);
    out[start - 7] = c.kind as u8;
    out.extend_from_slice(&c.id.to_le_bytes());
    out.push(c.level as u8);
    out.extend_from_slice(&c.line.to_le_bytes());
    for s in [&c.target, &c.module_path, &c.file, &c.format] {
        put_str(out, s);
    }
    let n = c.fields.len().min(u16::MAX as usize);
    out.extend_from_slice(&(n as u16).to_le_bytes());
    for f in &c.fields[..n] {
        put_str(out, f);
    }
    end_chunk(out, start);
}

/// Appends a THREAD chunk.
pub fn write_thread(out: &mut Vec<u8>, t: &ThreadInfo) {
    let start = begin_chunk(out, CHUNK_THREAD);
    out.extend_from_slice(&t.id.to_le_bytes());
    out.extend_from_slice(&t.os_tid.to_le_bytes());
    put_str(out, &t.name);
    end_chunk(out, start);
}

/// The first [`RUN_CHUNK_HEADER_LEN`] bytes of a RUN chunk framing `records_len` bytes of
/// records (`records` of them, `losses` loss records among them) of thread `thread`, with the
/// writer's `horizon` (see the module doc, "Order"; 0: none). The records follow as they
/// lay in the ring: `records_len` is a multiple of 8 and at most [`MAX_RECORDS_CHUNK`].
pub fn run_chunk_header(
    thread: u64,
    records: u32,
    losses: u32,
    horizon: u64,
    records_len: usize,
) -> [u8; RUN_CHUNK_HEADER_LEN] {
    let mut h = [0u8; RUN_CHUNK_HEADER_LEN];
    h[0] = CHUNK_RUN;
    h[4..8].copy_from_slice(&((RUN_HEADER_LEN + records_len) as u32).to_le_bytes());
    h[8..16].copy_from_slice(&thread.to_le_bytes());
    h[16..20].copy_from_slice(&records.to_le_bytes());
    h[20..24].copy_from_slice(&losses.to_le_bytes());
    h[24..32].copy_from_slice(&horizon.to_le_bytes());
    h
}

/// Where [`split_run`] found a record it cannot frame: its offset in the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadRecord(pub usize);

/// A piece of a run that fits one RUN chunk (see [`split_run`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunPiece<'a> {
    /// Whole records, each padded to 8 bytes.
    pub records: &'a [u8],
    /// How many.
    pub count: u32,
    /// Loss records among them.
    pub losses: u32,
}

/// Cuts a run of one thread's records (each padded to 8 bytes, as in a ring) into pieces of
/// at most [`MAX_RECORDS_CHUNK`] bytes at record boundaries, counting the records of each.
/// Walks every record header; a record that is not a whole event, raw or loss record ends the
/// walk with [`BadRecord`].
pub fn split_run(run: &[u8]) -> impl Iterator<Item = Result<RunPiece<'_>, BadRecord>> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at >= run.len() {
            return None;
        }
        let start = at;
        let (mut count, mut losses) = (0u32, 0u32);
        while at < run.len() {
            let h = Header::read(&run[at..]);
            let kind = h.and_then(|h| h.kind());
            let len = h.map_or(0, |h| align8(h.size as usize));
            let whole = h.is_some_and(|h| h.size as usize >= HEADER_LEN) && at + len <= run.len();
            if !whole || matches!(kind, None | Some(RecordKind::Pad)) {
                let bad = at;
                at = run.len();
                return Some(Err(BadRecord(bad)));
            }
            if at - start + len > MAX_RECORDS_CHUNK && count > 0 {
                break;
            }
            count += 1;
            losses += u32::from(kind == Some(RecordKind::Loss));
            at += len;
        }
        Some(Ok(RunPiece { records: &run[start..at], count, losses }))
    })
}

/// Appends the RUN chunks of a run of thread `thread`'s records (each padded to 8 bytes, as in
/// a ring; cut by [`split_run`]); the last chunk carries `horizon`, the others 0. Returns the
/// records and loss records written, or where a record could not be framed (then `out` holds
/// the chunks before it).
pub fn write_run(out: &mut Vec<u8>, thread: u64, run: &[u8], horizon: u64) -> Result<(u64, u64), BadRecord> {
    let (mut records, mut losses) = (0u64, 0u64);
    let mut pieces = split_run(run).peekable();
    while let Some(piece) = pieces.next() {
        let p = piece?;
        let last = pieces.peek().is_none();
        let h = if last { horizon } else { 0 };
        out.extend_from_slice(&run_chunk_header(thread, p.count, p.losses, h, p.records.len()));
        out.extend_from_slice(p.records);
        records += u64::from(p.count);
        losses += u64::from(p.losses);
    }
    Ok((records, losses))
}

/// Builds RECORDS chunks from records in merge order (a decoded [`Batch`], a sorted snapshot):
/// consecutive records of one thread share a chunk, up to [`MAX_RECORDS_CHUNK`] bytes of
/// records. Counts what it wrote (for the END chunk).
#[derive(Debug, Default)]
pub struct RecordsWriter {
    /// The open chunk: where its payload starts, its thread, its record count.
    open: Option<(usize, u64, u32)>,
    records: u64,
    loss_records: u64,
}

impl RecordsWriter {
    /// Appends one record (header included) of thread `thread` to `out`.
    pub fn push(&mut self, out: &mut Vec<u8>, thread: u64, record: &[u8]) {
        self.records += 1;
        if Header::read(record).and_then(|h| h.kind()) == Some(RecordKind::Loss) {
            self.loss_records += 1;
        }
        match &mut self.open {
            Some((start, t, n))
                if *t == thread && out.len() - *start + align8(record.len()) <= 16 + MAX_RECORDS_CHUNK =>
            {
                *n += 1
            }
            _ => {
                self.finish(out);
                let start = begin_chunk(out, CHUNK_RECORDS);
                out.extend_from_slice(&thread.to_le_bytes());
                out.extend_from_slice(&[0; 8]);
                self.open = Some((start, thread, 1));
            }
        }
        out.extend_from_slice(record);
        out.resize(out.len() + (align8(record.len()) - record.len()), 0);
    }

    /// Closes the open chunk (call before appending anything else to `out`).
    pub fn finish(&mut self, out: &mut [u8]) {
        if let Some((start, _, n)) = self.open.take() {
            out[start + 8..start + 12].copy_from_slice(&n.to_le_bytes());
            end_chunk(out, start);
        }
    }

    /// Records pushed so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Loss records among them.
    pub fn loss_records(&self) -> u64 {
        self.loss_records
    }
}

/// What a finished trace file holds, as its END chunk states it (see the module doc).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TraceEnd {
    /// Records in the file's RECORDS chunks (events, raw and loss records).
    pub records: u64,
    /// Loss records among them.
    pub loss_records: u64,
    /// CALLSITE chunks in the file.
    pub callsites: u64,
    /// THREAD chunks in the file.
    pub threads: u64,
    /// Bytes of the file before the END chunk (header included): the END chunk's offset.
    pub bytes: u64,
}

/// Appends an END chunk (the last chunk of a finished file).
pub fn write_end(out: &mut Vec<u8>, end: &TraceEnd) {
    let start = begin_chunk(out, CHUNK_END);
    for v in [end.records, end.loss_records, end.callsites, end.threads, end.bytes] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    end_chunk(out, start);
}

/// Bytes of the END chunk [`write_end`] appends (chunk header included).
pub const END_CHUNK_LEN: usize = CHUNK_HEADER_LEN + END_LEN;

/// Why a trace could not be read.
#[derive(Debug)]
pub struct TraceError {
    /// Byte offset in the file where reading stopped.
    pub offset: u64,
    /// What is wrong.
    pub kind: TraceErrorKind,
}

/// What is wrong with a trace.
#[derive(Debug)]
#[non_exhaustive]
pub enum TraceErrorKind {
    /// The file could not be read.
    Io(io::Error),
    /// Not a ringtrace trace (wrong magic).
    BadMagic,
    /// Written by a newer format version.
    UnsupportedVersion(u16),
    /// Written on a machine with the other byte order.
    WrongByteOrder,
    /// The file ends in the middle of the header or a chunk.
    Truncated,
    /// A chunk is malformed.
    Corrupt(String),
    /// Memory for a chunk of this many bytes could not be allocated.
    OutOfMemory(usize),
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            TraceErrorKind::Io(e) => write!(f, "cannot read trace at byte {}: {e}", self.offset),
            TraceErrorKind::BadMagic => write!(f, "not a ringtrace trace file (bad magic at byte {})", self.offset),
            TraceErrorKind::UnsupportedVersion(v) => write!(
                f,
                "trace format version {v} at byte {} is newer than this reader supports (version {FORMAT_VERSION})",
                self.offset
            ),
            TraceErrorKind::WrongByteOrder => {
                write!(f, "trace written with the other byte order (byte {})", self.offset)
            }
            TraceErrorKind::Truncated => write!(f, "trace truncated at byte {}", self.offset),
            TraceErrorKind::Corrupt(m) => write!(f, "corrupt trace at byte {}: {m}", self.offset),
            TraceErrorKind::OutOfMemory(n) => {
                write!(f, "cannot allocate {n} bytes for the chunk at byte {}", self.offset)
            }
        }
    }
}

impl std::error::Error for TraceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            TraceErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// What a successful read went through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Records (events, raw and loss records).
    pub records: u64,
    /// Loss records among them.
    pub loss_records: u64,
    /// Callsite descriptions.
    pub callsites: u64,
    /// Thread descriptions.
    pub threads: u64,
    /// Bytes read: the whole file for a complete trace; for an incomplete one, up to the end
    /// of its last complete chunk (where a reader that follows a live file would go on).
    pub bytes: u64,
    /// The END chunk, if the trace has one (its counts match the other fields); `None`: the
    /// trace is incomplete (see the module doc).
    pub end: Option<TraceEnd>,
}

impl ReadStats {
    /// Whether the trace ended with its END chunk.
    pub fn is_complete(&self) -> bool {
        self.end.is_some()
    }
}

/// Reads a trace file chunk by chunk and hands its records to a callback as [`Batch`]es.
///
/// ```no_run
/// let mut reader = ringtrace::trace_file::TraceReader::open("trace.rtrace")?;
/// let mut out = String::new();
/// reader.for_each_batch(|batch| {
///     for ev in batch.iter() {
///         ringtrace::render::render_text(&ev, &mut out);
///     }
/// })?;
/// # Ok::<(), ringtrace::trace_file::TraceError>(())
/// ```
#[derive(Debug)]
pub struct TraceReader<R> {
    input: R,
    offset: u64,
    clock: ClockCalibration,
    callsites: CallsiteTable,
    threads: Vec<ThreadInfo>,
    thread_index: HashMap<u64, u32>,
    chunk: Vec<u8>,
    refs: Vec<RecRef>,
    /// The input's length, when known: chunk buffers are never sized beyond it.
    len: Option<u64>,
    /// The header's format version.
    version: u16,
    /// RUN records not handed out yet.
    merge: merge::Merge,
}

impl TraceReader<io::BufReader<std::fs::File>> {
    /// Opens a trace file. The length of a regular file bounds what the reader allocates; a
    /// pipe or device is read without one (see the module doc).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, TraceError> {
        let io_err = |e| TraceError { offset: 0, kind: TraceErrorKind::Io(e) };
        let f = std::fs::File::open(path).map_err(io_err)?;
        let len = f.metadata().map_err(io_err)?;
        let len = len.is_file().then_some(len.len());
        let mut r = Self::new(io::BufReader::with_capacity(1 << 16, f))?;
        r.len = len;
        Ok(r)
    }
}

impl<R: Read> TraceReader<R> {
    /// Reads the header from `input`.
    pub fn new(mut input: R) -> Result<Self, TraceError> {
        let mut h = [0u8; FILE_HEADER_LEN];
        let n = read_full(&mut input, &mut h).map_err(|e| TraceError { offset: 0, kind: TraceErrorKind::Io(e) })?;
        if n < 8 || h[0..8] != MAGIC {
            return Err(TraceError {
                offset: 0,
                kind: if n < 8 && MAGIC.starts_with(&h[..n]) {
                    TraceErrorKind::Truncated
                } else {
                    TraceErrorKind::BadMagic
                },
            });
        }
        if n < FILE_HEADER_LEN {
            return Err(TraceError { offset: n as u64, kind: TraceErrorKind::Truncated });
        }
        let version = u16::from_le_bytes([h[8], h[9]]);
        if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(TraceError { offset: 8, kind: TraceErrorKind::UnsupportedVersion(version) });
        }
        let header_len = u16::from_le_bytes([h[10], h[11]]) as usize;
        if header_len != FILE_HEADER_LEN {
            return Err(TraceError {
                offset: 10,
                kind: TraceErrorKind::Corrupt(format!("header length {header_len}, expected {FILE_HEADER_LEN}")),
            });
        }
        match u32::from_le_bytes([h[12], h[13], h[14], h[15]]) {
            BYTE_ORDER => {}
            v if v == BYTE_ORDER.swap_bytes() => {
                return Err(TraceError { offset: 12, kind: TraceErrorKind::WrongByteOrder })
            }
            v => {
                return Err(TraceError {
                    offset: 12,
                    kind: TraceErrorKind::Corrupt(format!("byte-order mark {v:#010x}")),
                })
            }
        }
        let word = |i: usize| u64::from_le_bytes(h[i..i + 8].try_into().unwrap_or([0; 8]));
        let clock = ClockCalibration::new(word(16), word(24), word(32));
        Ok(Self {
            input,
            offset: FILE_HEADER_LEN as u64,
            clock,
            callsites: CallsiteTable::new(),
            threads: Vec::new(),
            thread_index: HashMap::new(),
            chunk: Vec::new(),
            refs: Vec::new(),
            len: None,
            version,
            merge: merge::Merge::new(DEFAULT_MERGE_LIMIT),
        })
    }

    /// Reads the header from `input`, which holds `len` bytes (a file's length): no chunk
    /// buffer is ever sized beyond what `input` holds.
    pub fn with_len(input: R, len: u64) -> Result<Self, TraceError> {
        let mut r = Self::new(input)?;
        r.len = Some(len);
        Ok(r)
    }

    /// The clock calibration from the header.
    pub fn clock(&self) -> &ClockCalibration {
        &self.clock
    }

    /// Callsites described so far.
    pub fn callsites(&self) -> &CallsiteTable {
        &self.callsites
    }

    /// Threads described so far.
    pub fn threads(&self) -> &[ThreadInfo] {
        &self.threads
    }

    /// The format version in the header ([`OLDEST_FORMAT_VERSION`]..=[`FORMAT_VERSION`]).
    pub fn version(&self) -> u16 {
        self.version
    }

    /// How many bytes of RUN records the merge may hold before it hands out the oldest,
    /// horizon or not (default [`DEFAULT_MERGE_LIMIT`]; see the module
    /// doc: "Order"). At least 2 MiB (two chunks) are kept whatever is asked.
    pub fn set_merge_limit(&mut self, bytes: usize) {
        self.merge.set_limit(bytes.max(2 * (MAX_RECORDS_CHUNK + RUN_HEADER_LEN)));
    }

    fn corrupt(&self, at: u64, msg: impl Into<String>) -> TraceError {
        TraceError { offset: at, kind: TraceErrorKind::Corrupt(msg.into()) }
    }

    /// Reads the whole trace, calling `f` with its records in merge order (module doc:
    /// "Order"), a batch at a time: each RECORDS chunk as one batch, RUN records as the
    /// merge hands them out. A trace without an END chunk is read up to its last complete
    /// chunk and returned with [`ReadStats::end`] `None`; a chunk cut short is
    /// [`TraceErrorKind::Truncated`]. Whatever stops the reading, every record read before it
    /// has been handed to `f` when this returns.
    pub fn for_each_batch(&mut self, mut f: impl FnMut(&Batch<'_>)) -> Result<ReadStats, TraceError> {
        let mut stats = ReadStats::default();
        let result = self.read_chunks(&mut stats, &mut f);
        self.drain_merge(&mut f);
        result.map(|()| stats)
    }

    /// Hands out every RUN record the merge holds.
    fn drain_merge(&mut self, f: &mut dyn FnMut(&Batch<'_>)) {
        let t = merge::Tables { threads: &self.threads, callsites: &self.callsites, clock: &self.clock };
        self.merge.drain(&t, f);
    }

    fn read_chunks(&mut self, stats: &mut ReadStats, f: &mut dyn FnMut(&Batch<'_>)) -> Result<(), TraceError> {
        loop {
            let chunk_at = self.offset;
            let mut ch = [0u8; CHUNK_HEADER_LEN];
            let n = read_full(&mut self.input, &mut ch)
                .map_err(|e| TraceError { offset: chunk_at, kind: TraceErrorKind::Io(e) })?;
            if n == 0 {
                stats.bytes = self.offset;
                return Ok(());
            }
            if n < CHUNK_HEADER_LEN {
                return Err(TraceError { offset: chunk_at + n as u64, kind: TraceErrorKind::Truncated });
            }
            let kind = ch[0];
            let len = u32::from_le_bytes([ch[4], ch[5], ch[6], ch[7]]) as usize;
            if len > MAX_CHUNK {
                return Err(self.corrupt(chunk_at + 4, format!("chunk length {len} is too large")));
            }
            let body_at = chunk_at + CHUNK_HEADER_LEN as u64;
            if kind == CHUNK_RUN && self.version >= 2 {
                let (records, losses) = self.run_chunk(body_at, len, f)?;
                stats.records += records;
                stats.loss_records += losses;
                continue;
            }
            self.read_body(body_at, len)?;
            self.offset = body_at + len as u64;
            match kind {
                CHUNK_CALLSITE => {
                    let kind = CallsiteKind::from_u8(ch[1])
                        .ok_or_else(|| self.corrupt(chunk_at + 1, format!("unknown callsite kind {}", ch[1])))?;
                    let c = parse_callsite(&self.chunk)
                        .ok_or_else(|| self.corrupt(body_at, "malformed callsite description"))?
                        .with_kind(kind);
                    self.callsites.insert(c);
                    stats.callsites += 1;
                }
                CHUNK_THREAD => {
                    let t = parse_thread(&self.chunk)
                        .ok_or_else(|| self.corrupt(body_at, "malformed thread description"))?;
                    match self.thread_index.get(&t.id) {
                        Some(&i) => self.threads[i as usize] = t,
                        None => {
                            self.thread_index.insert(t.id, self.threads.len() as u32);
                            self.threads.push(t);
                        }
                    }
                    stats.threads += 1;
                }
                CHUNK_RECORDS => {
                    // Merged already, and after every record before it: what the merge holds
                    // goes first.
                    self.drain_merge(f);
                    let (records, losses) = self.records_chunk(body_at)?;
                    stats.records += records;
                    stats.loss_records += losses;
                    let batch = Batch::new(&self.refs, &self.chunk, &self.threads, &self.callsites, &self.clock);
                    f(&batch);
                }
                CHUNK_END => {
                    stats.end = Some(self.end_chunk(chunk_at, stats)?);
                    stats.bytes = self.offset;
                    let mut more = [0u8; 1];
                    let n = read_full(&mut self.input, &mut more)
                        .map_err(|e| TraceError { offset: self.offset, kind: TraceErrorKind::Io(e) })?;
                    if n > 0 {
                        return Err(self.corrupt(self.offset, "data after the end marker"));
                    }
                    return Ok(());
                }
                other => return Err(self.corrupt(chunk_at, format!("unknown chunk kind {other}"))),
            }
        }
    }

    /// Reads a chunk's `len` payload bytes (at `body_at` in the file) into `self.chunk` (see
    /// [`read_onto`]).
    fn read_body(&mut self, body_at: u64, len: usize) -> Result<(), TraceError> {
        self.chunk.clear();
        read_onto(&mut self.input, self.len, &mut self.chunk, body_at, len)
    }

    /// Reads the RUN chunk whose `len`-byte payload is at `body_at` onto the merge's arena,
    /// validates it and hands it to the merge. Returns its records and loss records.
    fn run_chunk(&mut self, body_at: u64, len: usize, f: &mut dyn FnMut(&Batch<'_>)) -> Result<(u64, u64), TraceError> {
        if !(RUN_HEADER_LEN..=RUN_HEADER_LEN + MAX_RECORDS_CHUNK).contains(&len) {
            return Err(self.corrupt(
                body_at - 4,
                format!(
                    "run chunk of {len} bytes (a run chunk holds {RUN_HEADER_LEN} bytes and at most \
                     {MAX_RECORDS_CHUNK} bytes of records)"
                ),
            ));
        }
        let t = merge::Tables { threads: &self.threads, callsites: &self.callsites, clock: &self.clock };
        self.merge.make_room(len, &t, f);
        let start = self.merge.arena.len();
        let read = read_onto(&mut self.input, self.len, &mut self.merge.arena, body_at, len)
            .and_then(|()| check_run(&self.merge.arena[start..], body_at, &self.thread_index));
        let (tidx, records, losses, horizon) = match read {
            Ok(v) => v,
            Err(e) => {
                self.merge.arena.truncate(start);
                return Err(e);
            }
        };
        self.offset = body_at + len as u64;
        let t = merge::Tables { threads: &self.threads, callsites: &self.callsites, clock: &self.clock };
        self.merge.push_run(tidx, start + RUN_HEADER_LEN, start + len, horizon, &t, f);
        Ok((u64::from(records), u64::from(losses)))
    }

    /// Parses the END chunk at `chunk_at` (its payload in `self.chunk`) and checks its counts
    /// against what was read.
    fn end_chunk(&self, chunk_at: u64, read: &ReadStats) -> Result<TraceEnd, TraceError> {
        let c = &self.chunk;
        if c.len() < END_LEN {
            return Err(self.corrupt(chunk_at, format!("end marker of {} bytes, expected {END_LEN}", c.len())));
        }
        let word = |i: usize| u64::from_le_bytes(c[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
        let end =
            TraceEnd { records: word(0), loss_records: word(1), callsites: word(2), threads: word(3), bytes: word(4) };
        let seen = TraceEnd {
            records: read.records,
            loss_records: read.loss_records,
            callsites: read.callsites,
            threads: read.threads,
            bytes: chunk_at,
        };
        if end != seen {
            let says = |e: &TraceEnd| {
                format!(
                    "{} records ({} loss records), {} callsites, {} threads in {} bytes",
                    e.records, e.loss_records, e.callsites, e.threads, e.bytes
                )
            };
            return Err(
                self.corrupt(chunk_at, format!("the end marker counts {}, the file holds {}", says(&end), says(&seen)))
            );
        }
        Ok(end)
    }

    /// Validates a RECORDS chunk and indexes its records into `refs`.
    /// Returns the records and the loss records among them.
    fn records_chunk(&mut self, body_at: u64) -> Result<(u64, u64), TraceError> {
        self.refs.clear();
        let c = &self.chunk;
        if c.len() < 16 {
            return Err(self.corrupt(body_at, "records chunk shorter than its header"));
        }
        let thread = u64::from_le_bytes(c[0..8].try_into().unwrap_or([0; 8]));
        let count = u32::from_le_bytes(c[8..12].try_into().unwrap_or([0; 4]));
        let Some(&tidx) = self.thread_index.get(&thread) else {
            return Err(self.corrupt(body_at, format!("records of thread {thread}, which was never described")));
        };
        let mut pos = 16usize;
        let mut losses = 0;
        for i in 0..count {
            let at = body_at + pos as u64;
            let Some(h) = c.get(pos..).and_then(Header::read) else {
                return Err(self.corrupt(at, format!("record {i} of {count}: truncated header")));
            };
            let size = h.size as usize;
            if size < HEADER_LEN || h.kind().is_none() || pos + align8(size) > c.len() {
                return Err(
                    self.corrupt(at, format!("record {i} of {count}: invalid size {size} or kind {:#x}", h.flags))
                );
            }
            losses += u64::from(h.kind() == Some(RecordKind::Loss));
            let key = self.merge.key_in_order(tidx, h.ts);
            self.refs.push(RecRef { key, thread: tidx, seg: 0, offset: pos, len: size as u32 });
            pos += align8(size);
        }
        if pos != c.len() {
            return Err(self
                .corrupt(body_at + pos as u64, format!("{} bytes after the last of {count} records", c.len() - pos)));
        }
        Ok((count as u64, losses))
    }
}

/// Checks a RUN chunk's payload `c` (at `body_at` in the file): a described thread, whole
/// records of a kind a file may hold, the counts its header states. Returns the thread's
/// index, the records, the loss records and the horizon.
fn check_run(c: &[u8], body_at: u64, threads: &HashMap<u64, u32>) -> Result<(u32, u32, u32, u64), TraceError> {
    let corrupt =
        |at: usize, msg: String| TraceError { offset: body_at + at as u64, kind: TraceErrorKind::Corrupt(msg) };
    let word = |i: usize| u64::from_le_bytes(c[i..i + 8].try_into().unwrap_or([0; 8]));
    let half = |i: usize| u32::from_le_bytes(c[i..i + 4].try_into().unwrap_or([0; 4]));
    let (thread, count, losses, horizon) = (word(0), half(8), half(12), word(16));
    let Some(&tidx) = threads.get(&thread) else {
        return Err(corrupt(0, format!("records of thread {thread}, which was never described")));
    };
    let (mut pos, mut n, mut lost) = (RUN_HEADER_LEN, 0u32, 0u32);
    while pos < c.len() {
        let Some(h) = Header::read(&c[pos..]) else {
            return Err(corrupt(pos, format!("record {n} of {count}: truncated header")));
        };
        let size = h.size as usize;
        let kind = h.kind();
        if size < HEADER_LEN || matches!(kind, None | Some(RecordKind::Pad)) || pos + align8(size) > c.len() {
            return Err(corrupt(pos, format!("record {n} of {count}: invalid size {size} or kind {:#x}", h.flags)));
        }
        n += 1;
        lost += u32::from(kind == Some(RecordKind::Loss));
        pos += align8(size);
    }
    if (n, lost) != (count, losses) {
        return Err(corrupt(
            0,
            format!("run chunk holds {n} records ({lost} loss records), its header says {count} ({losses})"),
        ));
    }
    Ok((tidx, count, losses, horizon))
}

/// Reads `len` payload bytes (at `body_at` in the file) onto the end of `buf`: room is
/// reserved from `len` but not beyond what the input holds (`input_len`), and filled in
/// pieces of at most [`READ_PIECE`] bytes, so memory grows only with bytes actually read.
fn read_onto(
    input: &mut impl Read,
    input_len: Option<u64>,
    buf: &mut Vec<u8>,
    body_at: u64,
    len: usize,
) -> Result<(), TraceError> {
    let base = buf.len();
    let available = input_len.map_or(READ_PIECE as u64, |l| l.saturating_sub(body_at));
    let first = (len as u64).min(available) as usize;
    let oom = |_| TraceError { offset: body_at, kind: TraceErrorKind::OutOfMemory(len) };
    buf.try_reserve_exact(first).map_err(oom)?;
    while buf.len() - base < len {
        let start = buf.len() - base;
        let left = len - start;
        let want = match input_len {
            Some(_) if (start as u64) < available => left.min(READ_PIECE).min((available - start as u64) as usize),
            // Past the length the file had when it was opened (it is being written): small
            // pieces, so a corrupt length costs only what the file really holds.
            Some(_) => left.min(1 << 16),
            None => left.min(READ_PIECE),
        };
        if buf.capacity() < buf.len() + want {
            // Doubling, capped at the chunk's length: at most 2 × what was read so far.
            let grow = (start + want).max((buf.capacity() - base).saturating_mul(2)).min(len);
            buf.try_reserve_exact(grow - start).map_err(oom)?;
        }
        buf.resize(base + start + want, 0);
        let got = read_full(input, &mut buf[base + start..])
            .map_err(|e| TraceError { offset: body_at + start as u64, kind: TraceErrorKind::Io(e) })?;
        buf.truncate(base + start + got);
        if got < want {
            return Err(TraceError { offset: body_at + (buf.len() - base) as u64, kind: TraceErrorKind::Truncated });
        }
    }
    Ok(())
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn string(&mut self) -> Option<String> {
        let n = self.u16()? as usize;
        Some(std::str::from_utf8(self.take(n)?).ok()?.to_string())
    }
}

fn parse_callsite(b: &[u8]) -> Option<CallsiteInfo> {
    let mut c = Cursor(b);
    let id = c.u32()?;
    let level = Level::from_u8(*c.take(1)?.first()?)?;
    let line = c.u32()?;
    let (target, module, file, format) = (c.string()?, c.string()?, c.string()?, c.string()?);
    let n = c.u16()?;
    let fields = (0..n).map(|_| c.string()).collect::<Option<Vec<_>>>()?;
    if !c.0.is_empty() {
        return None;
    }
    Some(CallsiteInfo::new(id, level, target, module, file, line, format, fields))
}

fn parse_thread(b: &[u8]) -> Option<ThreadInfo> {
    let mut c = Cursor(b);
    let t = ThreadInfo { id: c.u64()?, os_tid: c.u64()?, name: c.string()? };
    c.0.is_empty().then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        sample_with_boundaries().0
    }

    /// The sample trace (with its END chunk) and the offsets where a chunk ends (a valid but
    /// incomplete shorter trace; the last is where the END chunk starts).
    fn sample_with_boundaries() -> (Vec<u8>, Vec<usize>) {
        let clock = ClockCalibration::new(100, 1_000_000_000, 1_000_000_000);
        let mut out = file_header(&clock).to_vec();
        let mut ends = vec![out.len()];
        write_callsite(&mut out, &CallsiteInfo::new(5, Level::Warn, "t", "m", "f.rs", 9, "x={}", vec!["k".into()]));
        ends.push(out.len());
        write_thread(&mut out, &ThreadInfo { id: 1, name: "main".into(), os_tid: 42 });
        ends.push(out.len());
        let mut w = RecordsWriter::default();
        for i in 0..3u64 {
            let mut rec = Header { size: 0, flags: RecordKind::Event.bits(), id: 5, ts: 100 + i }.to_bytes().to_vec();
            rec.extend_from_slice(&[crate::wire::value::tag::U8, i as u8, crate::wire::value::tag::U64]);
            rec.extend_from_slice(&i.to_le_bytes());
            let size = rec.len() as u16;
            rec[0..2].copy_from_slice(&size.to_le_bytes());
            w.push(&mut out, 1, &rec);
        }
        w.finish(&mut out);
        ends.push(out.len());
        let end = TraceEnd { records: 3, loss_records: 0, callsites: 1, threads: 1, bytes: out.len() as u64 };
        write_end(&mut out, &end);
        (out, ends)
    }

    #[test]
    fn round_trips_records_with_dictionary() {
        let bytes = sample();
        let mut r = TraceReader::new(&bytes[..]).unwrap();
        let mut msgs = vec![];
        let stats = r
            .for_each_batch(|b| {
                for ev in b.iter() {
                    let fields: Vec<_> = ev.fields().map(|(k, v)| format!("{k}={v}")).collect();
                    msgs.push(format!("{} {} {}", ev.thread().name, ev.message(), fields.join(",")));
                }
            })
            .unwrap();
        assert_eq!(msgs, vec!["main x=0 k=0", "main x=1 k=1", "main x=2 k=2"]);
        assert_eq!(stats.records, 3);
        assert_eq!(stats.bytes, bytes.len() as u64);
        let end_at = (bytes.len() - END_CHUNK_LEN) as u64;
        assert_eq!(stats.end, Some(TraceEnd { records: 3, loss_records: 0, callsites: 1, threads: 1, bytes: end_at }));
        assert_eq!(r.clock().to_unix_ns(101), 1_000_000_001);
    }

    #[test]
    fn span_callsites_keep_their_kind_and_render_as_span_edges() {
        let clock = ClockCalibration::new(0, 0, 1_000_000_000);
        let mut out = file_header(&clock).to_vec();
        let begin = CallsiteInfo::new(1, Level::Info, "app", "m", "f.rs", 3, "handle", vec!["id".into()])
            .with_kind(CallsiteKind::SpanBegin);
        let end =
            CallsiteInfo::new(2, Level::Info, "app", "m", "f.rs", 3, "handle", vec![]).with_kind(CallsiteKind::SpanEnd);
        write_callsite(&mut out, &begin);
        write_callsite(&mut out, &end);
        write_thread(&mut out, &ThreadInfo { id: 1, name: "main".into(), os_tid: 42 });
        let mut w = RecordsWriter::default();
        for (id, ts) in [(1u32, 10u64), (2, 20)] {
            let mut rec = Header { size: 0, flags: RecordKind::Event.bits(), id, ts }.to_bytes().to_vec();
            if id == 1 {
                rec.extend_from_slice(&[crate::wire::value::tag::U64]);
                rec.extend_from_slice(&7u64.to_le_bytes());
            }
            let size = rec.len() as u16;
            rec[0..2].copy_from_slice(&size.to_le_bytes());
            w.push(&mut out, 1, &rec);
        }
        w.finish(&mut out);
        let mut r = TraceReader::new(&out[..]).unwrap();
        let (mut json, mut text) = (String::new(), String::new());
        r.for_each_batch(|b| {
            for ev in b.iter() {
                crate::output::render::render_json(&ev, &mut json);
                crate::output::render::render_text(&ev, &mut text);
            }
        })
        .unwrap();
        assert_eq!(r.callsites().get(1).unwrap().kind, CallsiteKind::SpanBegin);
        assert_eq!(r.callsites().get(2).unwrap().kind, CallsiteKind::SpanEnd);
        let lines: Vec<serde_json::Value> = json.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines[0]["span"], "begin");
        assert_eq!(lines[0]["message"], "handle");
        assert_eq!(lines[0]["fields"]["id"], 7);
        assert_eq!(lines[1]["span"], "end");
        assert!(text.contains("app: enter span handle id=7"), "{text}");
        assert!(text.contains("app: exit span handle"), "{text}");

        // A kind this version does not know is an error at the chunk's flag byte.
        let mut bad = file_header(&clock).to_vec();
        let at = bad.len();
        write_callsite(&mut bad, &begin);
        bad[at + 1] = 9;
        let e = TraceReader::new(&bad[..]).unwrap().for_each_batch(|_| {}).unwrap_err();
        assert_eq!(e.offset, at as u64 + 1);
        assert!(e.to_string().contains("unknown callsite kind 9"), "{e}");
    }

    #[test]
    fn every_truncation_is_an_error_with_an_offset_never_a_panic() {
        let (bytes, ends) = sample_with_boundaries();
        for cut in 0..bytes.len() {
            let res = TraceReader::new(&bytes[..cut]).and_then(|mut r| r.for_each_batch(|_| {}));
            if ends.contains(&cut) {
                // A cut between chunks reads, and says it is incomplete and where it ends.
                let stats = res.unwrap_or_else(|e| panic!("a cut between chunks reads ({cut}): {e}"));
                assert_eq!(stats.end, None, "a trace cut at {cut} is incomplete");
                assert_eq!(stats.bytes, cut as u64, "the last good chunk ends at the cut");
                continue;
            }
            let err = res.expect_err(&format!("cut at {cut} must fail"));
            assert!(err.offset <= cut as u64, "offset {} beyond cut {cut}", err.offset);
            assert!(!err.to_string().is_empty());
        }
    }

    #[test]
    fn the_whole_sample_is_complete_and_a_bare_header_is_not() {
        let (bytes, _) = sample_with_boundaries();
        let stats = TraceReader::new(&bytes[..]).unwrap().for_each_batch(|_| {}).unwrap();
        assert!(stats.is_complete());
        let stats = TraceReader::new(&bytes[..FILE_HEADER_LEN]).unwrap().for_each_batch(|_| {}).unwrap();
        assert!(!stats.is_complete());
        assert_eq!((stats.records, stats.bytes), (0, FILE_HEADER_LEN as u64));
    }

    #[test]
    fn an_end_marker_that_disagrees_or_is_followed_by_data_is_corrupt() {
        let (bytes, ends) = sample_with_boundaries();
        let end_at = *ends.last().unwrap();
        // Each count in turn: records, loss records, callsites, threads, bytes.
        for field in 0..5 {
            let mut b = bytes.clone();
            let at = end_at + CHUNK_HEADER_LEN + field * 8;
            b[at] ^= 1;
            let e = TraceReader::new(&b[..]).unwrap().for_each_batch(|_| {}).unwrap_err();
            assert_eq!(e.offset, end_at as u64, "field {field}: {e}");
            assert!(e.to_string().contains("the end marker counts"), "{e}");
        }
        let mut b = bytes.clone();
        b.push(0);
        let e = TraceReader::new(&b[..]).unwrap().for_each_batch(|_| {}).unwrap_err();
        assert_eq!(e.offset, bytes.len() as u64);
        assert!(e.to_string().contains("data after the end marker"), "{e}");
        // Short END payload.
        let mut b = bytes[..end_at].to_vec();
        b.extend_from_slice(&[CHUNK_END, 0, 0, 0, 8, 0, 0, 0]);
        b.extend_from_slice(&[0; 8]);
        let e = TraceReader::new(&b[..]).unwrap().for_each_batch(|_| {}).unwrap_err();
        assert!(e.to_string().contains("end marker of 8 bytes"), "{e}");
    }

    #[test]
    fn a_huge_chunk_length_is_truncation_without_allocating_it() {
        let (bytes, ends) = sample_with_boundaries();
        let mut b = bytes[..ends[1]].to_vec();
        b.extend_from_slice(&[CHUNK_RECORDS, 0, 0, 0]);
        b.extend_from_slice(&((MAX_CHUNK as u32).to_le_bytes()));
        b.extend_from_slice(&[0; 100]);
        let mut r = TraceReader::with_len(&b[..], b.len() as u64).unwrap();
        let e = r.for_each_batch(|_| {}).unwrap_err();
        assert!(matches!(e.kind, TraceErrorKind::Truncated), "{e}");
        assert_eq!(e.offset, b.len() as u64);
        // Sized from the input's length (and one 64 KiB probe past it, for a growing file).
        assert!(r.chunk.capacity() <= 100 + (1 << 16), "{}", r.chunk.capacity());
        // Without a length the buffer grows with what is read, one piece at a time.
        let mut r = TraceReader::new(&b[..]).unwrap();
        let e = r.for_each_batch(|_| {}).unwrap_err();
        assert!(matches!(e.kind, TraceErrorKind::Truncated), "{e}");
        assert!(r.chunk.capacity() <= READ_PIECE, "{}", r.chunk.capacity());
    }

    #[test]
    fn records_chunks_stop_at_their_size_limit() {
        let clock = ClockCalibration::new(0, 0, 1_000_000_000);
        let mut out = file_header(&clock).to_vec();
        write_thread(&mut out, &ThreadInfo { id: 1, name: "main".into(), os_tid: 1 });
        let mut rec = Header { size: 0, flags: RecordKind::Raw.bits(), id: 1, ts: 0 }.to_bytes().to_vec();
        rec.resize(4096, 7);
        let size = rec.len() as u16;
        rec[0..2].copy_from_slice(&size.to_le_bytes());
        let mut w = RecordsWriter::default();
        let n = 2 * MAX_RECORDS_CHUNK / 4096 + 3;
        for _ in 0..n {
            w.push(&mut out, 1, &rec);
        }
        w.finish(&mut out);
        assert_eq!(w.records(), n as u64);
        let mut chunks = 0;
        let stats = TraceReader::new(&out[..])
            .unwrap()
            .for_each_batch(|b| {
                chunks += 1;
                assert!(b.len() * 4096 <= MAX_RECORDS_CHUNK);
            })
            .unwrap();
        assert_eq!(stats.records, n as u64);
        assert_eq!(chunks, 3);
    }

    #[test]
    fn an_absurd_format_string_renders_a_bounded_line_marked_as_cut() {
        let clock = ClockCalibration::new(0, 0, 1_000_000_000);
        let mut out = file_header(&clock).to_vec();
        let fmt = "{0:65535}".repeat(7000);
        write_callsite(&mut out, &CallsiteInfo::new(1, Level::Info, "t", "m", "f.rs", 1, fmt, vec!["k".into()]));
        write_thread(&mut out, &ThreadInfo { id: 1, name: "main".into(), os_tid: 1 });
        let mut rec = Header { size: 0, flags: RecordKind::Event.bits(), id: 1, ts: 0 }.to_bytes().to_vec();
        rec.extend_from_slice(&[crate::wire::value::tag::U8, 1, crate::wire::value::tag::U8, 2]);
        let size = rec.len() as u16;
        rec[0..2].copy_from_slice(&size.to_le_bytes());
        let mut w = RecordsWriter::default();
        w.push(&mut out, 1, &rec);
        w.finish(&mut out);
        let (mut text, mut json) = (String::new(), String::new());
        TraceReader::new(&out[..])
            .unwrap()
            .for_each_batch(|b| {
                for ev in b.iter() {
                    crate::output::render::render_text(&ev, &mut text);
                    crate::output::render::render_json(&ev, &mut json);
                }
            })
            .unwrap();
        let limit = crate::output::render::MAX_LINE_LEN;
        assert!(text.len() <= limit + 64, "{}", text.len());
        assert!(text.ends_with(" [truncated]\n"));
        assert!(!text.contains(" k=1"), "no field after a message that took the whole line");
        assert!(json.len() <= limit + 64, "{}", json.len());
        let v: serde_json::Value = serde_json::from_str(json.trim_end()).unwrap();
        assert_eq!(v["truncated"], true);
        assert!(v.get("fields").is_none());
    }

    #[test]
    fn bad_magic_version_and_byte_order_are_named() {
        let mut b = sample();
        b[0] = b'X';
        assert!(matches!(TraceReader::new(&b[..]).unwrap_err().kind, TraceErrorKind::BadMagic));
        let mut b = sample();
        b[8..10].copy_from_slice(&99u16.to_le_bytes());
        let e = TraceReader::new(&b[..]).unwrap_err();
        assert!(matches!(e.kind, TraceErrorKind::UnsupportedVersion(99)));
        assert!(e.to_string().contains("newer"), "{e}");
        let mut b = sample();
        b[12..16].copy_from_slice(&BYTE_ORDER.to_be_bytes());
        assert!(matches!(TraceReader::new(&b[..]).unwrap_err().kind, TraceErrorKind::WrongByteOrder));
    }

    #[test]
    fn random_corruption_never_panics() {
        let base = sample();
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let mut b = base.clone();
            for _ in 0..(next() % 4 + 1) {
                let i = (next() as usize) % b.len();
                b[i] = next() as u8;
            }
            let cut = (next() as usize) % (b.len() + 1);
            if let Ok(mut r) = TraceReader::new(&b[..cut]) {
                let _ = r.for_each_batch(|batch| {
                    for ev in batch.iter() {
                        let mut s = String::new();
                        crate::output::render::render_text(&ev, &mut s);
                        crate::output::render::render_json(&ev, &mut s);
                    }
                });
            }
        }
    }

    // ---- RUN chunks and the merge ----------------------------------------------------------

    /// A record (header + one u64 argument `v`), padded to 8 bytes as in a ring.
    fn padded(kind: RecordKind, id: u32, ts: u64, v: u64) -> Vec<u8> {
        let mut rec = Header { size: 0, flags: kind.bits(), id, ts }.to_bytes().to_vec();
        if kind == RecordKind::Loss {
            rec.extend_from_slice(
                &crate::wire::record::LossInfo { events: v, bytes: 8 * v, first_ticks: ts, last_ticks: ts }.to_bytes(),
            );
        } else {
            rec.push(crate::wire::value::tag::U64);
            rec.extend_from_slice(&v.to_le_bytes());
        }
        let size = rec.len() as u16;
        rec[0..2].copy_from_slice(&size.to_le_bytes());
        rec.resize(align8(rec.len()), 0);
        rec
    }

    /// A header, one callsite (id 1, "v {}") and threads 1..=n (described in the order
    /// `order`).
    fn run_file(order: &[u64]) -> Vec<u8> {
        let clock = ClockCalibration::new(0, 0, 1_000_000_000);
        let mut out = file_header(&clock).to_vec();
        write_callsite(&mut out, &CallsiteInfo::new(1, Level::Info, "t", "m", "f.rs", 1, "v {}", vec![]));
        for &id in order {
            write_thread(&mut out, &ThreadInfo { id, name: format!("t{id}"), os_tid: id });
        }
        out
    }

    /// A record as handed out: thread id, ticks, value.
    type Seen = (u64, u64, u64);
    /// Per thread: its id and its records' ticks.
    type Ticks = Vec<(u64, Vec<u64>)>;

    /// What a reader hands out, in how many batches.
    fn read_all(bytes: &[u8]) -> Result<(Vec<Seen>, usize, ReadStats), TraceError> {
        let mut r = TraceReader::new(bytes)?;
        let mut out = Vec::new();
        let mut batches = 0;
        let stats = r.for_each_batch(|b| {
            batches += 1;
            for ev in b.iter() {
                let v = match ev.kind() {
                    RecordKind::Loss => ev.loss().unwrap().events,
                    _ => match ev.args().next() {
                        Some(crate::wire::value::Value::U64(v)) => v,
                        other => panic!("{other:?}"),
                    },
                };
                out.push((ev.thread().id, ev.ticks(), v));
            }
        })?;
        Ok((out, batches, stats))
    }

    /// Per thread, a sequence of ticks (some equal across threads, one running backwards),
    /// and the merge order the format defines: stable sort by (key, thread rank) where a
    /// key is the running maximum of the thread's ticks.
    fn threads_and_expected(order: &[u64]) -> (Ticks, Vec<Seen>) {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut threads = Vec::new();
        for &id in &[1u64, 2, 3] {
            let mut ts = 1000 + id;
            let mut v = Vec::new();
            for i in 0..300u64 {
                // Steps of 0..=9 ticks: many ties across threads; thread 2 jumps back once.
                ts += next() % 10;
                if id == 2 && i == 150 {
                    ts -= 40;
                }
                v.push(ts);
            }
            threads.push((id, v));
        }
        let rank = |id: u64| order.iter().position(|&t| t == id).unwrap();
        let mut all = Vec::new();
        for (id, ticks) in &threads {
            let mut key = 0;
            for (i, &ts) in ticks.iter().enumerate() {
                key = key.max(ts);
                all.push((key, rank(*id), i, (*id, ts, id * 1000 + i as u64)));
            }
        }
        all.sort_by_key(|a| (a.0, a.1, a.2));
        (threads, all.into_iter().map(|a| a.3).collect())
    }

    /// Writes `threads` as RUN chunks: pass after pass, each thread's next `per_pass`
    /// records as one run, threads in the order given; `horizon` says what each pass's last
    /// chunk promises.
    fn write_passes(
        out: &mut Vec<u8>,
        threads: &[(u64, Vec<u64>)],
        per_pass: usize,
        horizon: impl Fn(usize) -> u64,
    ) -> u64 {
        let mut written = 0;
        let passes = threads.iter().map(|t| t.1.len()).max().unwrap().div_ceil(per_pass);
        for p in 0..passes {
            let mut last = None;
            for (id, ticks) in threads {
                let lo = (p * per_pass).min(ticks.len());
                let hi = ((p + 1) * per_pass).min(ticks.len());
                if lo == hi {
                    continue;
                }
                let run: Vec<u8> =
                    (lo..hi).flat_map(|i| padded(RecordKind::Event, 1, ticks[i], id * 1000 + i as u64)).collect();
                last = Some(out.len());
                written += write_run(out, *id, &run, 0).unwrap().0;
            }
            if let Some(at) = last {
                out[at + 24..at + 32].copy_from_slice(&horizon(p).to_le_bytes());
            }
        }
        written
    }

    #[test]
    fn run_chunks_of_several_threads_are_merged_by_key_then_thread_order() {
        // Threads described 3, 1, 2: ties go to thread 3 first.
        let order = [3, 1, 2];
        let (threads, expected) = threads_and_expected(&order);
        for per_pass in [1, 7, 64, 300] {
            let mut b = run_file(&order);
            let n = write_passes(&mut b, &threads, per_pass, |_| 0);
            let (got, _, stats) = read_all(&b).unwrap();
            assert_eq!(stats.records, n);
            assert_eq!(got, expected, "{per_pass} records per run");
        }
    }

    #[test]
    fn a_horizon_hands_records_out_early_and_keeps_the_merge_exact() {
        let order = [1, 2, 3];
        let (threads, expected) = threads_and_expected(&order);
        let per_pass = 20;
        // The true promise after pass p: the smallest key any later pass holds.
        let min_key_from = |p: usize| {
            threads
                .iter()
                .filter_map(|(_, t)| {
                    let lo = (p + 1) * per_pass;
                    (lo < t.len()).then(|| t[..=lo].iter().copied().max().unwrap())
                })
                .min()
                .unwrap_or(u64::MAX)
        };
        let mut b = run_file(&order);
        write_passes(&mut b, &threads, per_pass, min_key_from);
        let (got, batches, stats) = read_all(&b).unwrap();
        assert_eq!(stats.records, 900);
        assert_eq!(got, expected);
        // Handed out pass by pass as the horizons allowed (without them: one batch at the end).
        assert!(batches >= 14, "{batches} batches for 15 passes");
        let mut b = run_file(&order);
        write_passes(&mut b, &threads, per_pass, |_| 0);
        assert_eq!(read_all(&b).unwrap().1, 1);
    }

    #[test]
    fn a_horizon_applies_at_its_own_chunk_only() {
        // A batch that hands out everything, then a batch of two runs: the first run must
        // wait for the batch's last chunk (it was handed out at once when the merge carried
        // the highest horizon seen forward).
        let mut b = run_file(&[1, 2]);
        write_run(&mut b, 1, &padded(RecordKind::Event, 1, 10, 1), u64::MAX).unwrap();
        write_run(&mut b, 1, &padded(RecordKind::Event, 1, 30, 2), 0).unwrap();
        write_run(&mut b, 2, &padded(RecordKind::Event, 1, 20, 3), u64::MAX).unwrap();
        let (got, batches, _) = read_all(&b).unwrap();
        assert_eq!(got, vec![(1, 10, 1), (2, 20, 3), (1, 30, 2)]);
        assert_eq!(batches, 2);
    }

    #[test]
    fn records_chunks_are_barriers_and_format_1_files_read_as_before() {
        let order = [1, 2];
        let mut b = run_file(&order);
        write_run(&mut b, 2, &padded(RecordKind::Event, 1, 50, 1), 0).unwrap();
        write_run(&mut b, 1, &padded(RecordKind::Event, 1, 40, 2), 0).unwrap();
        // A RECORDS chunk follows everything before it, whatever its ticks.
        let mut w = RecordsWriter::default();
        w.push(&mut b, 1, &padded(RecordKind::Event, 1, 10, 3));
        w.finish(&mut b);
        write_run(&mut b, 2, &padded(RecordKind::Event, 1, 5, 4), 0).unwrap();
        let (got, batches, _) = read_all(&b).unwrap();
        assert_eq!(got, vec![(1, 40, 2), (2, 50, 1), (1, 10, 3), (2, 5, 4)]);
        assert_eq!(batches, 3);

        // The same RECORDS bytes under a format-1 header read the same; a RUN chunk there is
        // an unknown kind.
        let mut v1 = b.clone();
        v1[8..10].copy_from_slice(&1u16.to_le_bytes());
        let e = read_all(&v1).unwrap_err();
        assert_eq!(e.offset, (run_file(&order).len()) as u64);
        assert!(e.to_string().contains("unknown chunk kind 5"), "{e}");
        let mut v1 = run_file(&order);
        v1[8..10].copy_from_slice(&1u16.to_le_bytes());
        let mut w = RecordsWriter::default();
        w.push(&mut v1, 2, &padded(RecordKind::Event, 1, 9, 7));
        w.push(&mut v1, 1, &padded(RecordKind::Event, 1, 1, 8));
        w.finish(&mut v1);
        let (got, _, _) = read_all(&v1).unwrap();
        assert_eq!(got, vec![(2, 9, 7), (1, 1, 8)], "format 1: file order, as written");
        assert_eq!(TraceReader::new(&v1[..]).unwrap().version(), 1);
    }

    #[test]
    fn split_run_cuts_at_record_boundaries_within_the_chunk_limit() {
        let rec = {
            let mut r = Header { size: 4000, flags: RecordKind::Raw.bits(), id: 9, ts: 1 }.to_bytes().to_vec();
            r.resize(4000, 3);
            r
        };
        let loss = padded(RecordKind::Loss, 0, 2, 5);
        let mut run = Vec::new();
        for i in 0..600 {
            run.extend_from_slice(if i == 300 { &loss } else { &rec });
        }
        let pieces: Vec<RunPiece<'_>> = split_run(&run).map(|p| p.unwrap()).collect();
        assert_eq!(pieces.len(), 3);
        assert!(pieces.iter().all(|p| p.records.len() <= MAX_RECORDS_CHUNK));
        assert_eq!(pieces.iter().map(|p| p.count).sum::<u32>(), 600);
        assert_eq!(pieces.iter().map(|p| p.losses).sum::<u32>(), 1);
        assert_eq!(pieces.iter().map(|p| p.records.len()).sum::<usize>(), run.len());
        // A Pad record, a bad size: where.
        let mut bad = run.clone();
        let at = 5 * 4000;
        bad[at + 2..at + 4].copy_from_slice(&RecordKind::Pad.bits().to_le_bytes());
        assert_eq!(split_run(&bad).find_map(|p| p.err()), Some(BadRecord(at)));
        bad[at..at + 2].copy_from_slice(&8u16.to_le_bytes());
        assert_eq!(split_run(&bad).find_map(|p| p.err()), Some(BadRecord(at)));
    }

    /// A RUN-chunk sample with its END chunk and the chunk boundaries.
    fn run_sample() -> (Vec<u8>, Vec<usize>) {
        let order = [1, 2];
        let mut b = run_file(&order);
        let mut ends = vec![FILE_HEADER_LEN];
        let mut at = FILE_HEADER_LEN;
        while at < b.len() {
            at += CHUNK_HEADER_LEN + u32::from_le_bytes(b[at + 4..at + 8].try_into().unwrap()) as usize;
            ends.push(at);
        }
        let mut records = 0;
        let mut losses = 0;
        for (t, base) in [(1u64, 100u64), (2, 95), (1, 130), (2, 120)] {
            let mut run = Vec::new();
            for i in 0..3 {
                run.extend(padded(RecordKind::Event, 1, base + 10 * i, base + i));
            }
            if t == 2 && base == 120 {
                run.extend(padded(RecordKind::Loss, 0, 150, 4));
                losses += 1;
            }
            records += write_run(&mut b, t, &run, base).unwrap().0;
            ends.push(b.len());
        }
        let end = TraceEnd { records, loss_records: losses, callsites: 1, threads: 2, bytes: b.len() as u64 };
        write_end(&mut b, &end);
        (b, ends)
    }

    #[test]
    fn run_traces_cut_anywhere_read_to_the_cut_or_fail_with_an_offset_after_handing_out_what_came_before() {
        let (bytes, ends) = run_sample();
        let (all, _, stats) = read_all(&bytes).unwrap();
        assert!(stats.is_complete());
        assert_eq!((all.len(), stats.loss_records), (13, 1));
        for cut in 0..bytes.len() {
            let mut seen = 0;
            let res = TraceReader::new(&bytes[..cut]).and_then(|mut r| r.for_each_batch(|b| seen += b.len()));
            // Records of the RUN chunks wholly before the cut.
            let whole = ends.iter().filter(|&&e| e <= cut).count();
            let expect = [0, 0, 0, 0, 0, 3, 6, 9, 13][whole.min(8)];
            if ends.contains(&cut) {
                let stats = res.unwrap_or_else(|e| panic!("a cut between chunks reads ({cut}): {e}"));
                assert_eq!((stats.end, stats.bytes), (None, cut as u64));
            } else if cut >= FILE_HEADER_LEN {
                let err = res.expect_err(&format!("cut at {cut} must fail"));
                assert!(err.offset <= cut as u64, "offset {} beyond cut {cut}", err.offset);
            }
            if cut >= FILE_HEADER_LEN {
                assert_eq!(seen, expect, "cut at {cut}: everything before the damage is handed out");
            }
        }
    }

    #[test]
    fn malformed_run_chunks_are_corrupt_at_their_offset() {
        let (bytes, ends) = run_sample();
        let run_at = ends[3];
        let body = run_at + CHUNK_HEADER_LEN;
        let case = |edit: &dyn Fn(&mut Vec<u8>)| {
            let mut b = bytes.clone();
            edit(&mut b);
            let e = read_all(&b).unwrap_err();
            (e.offset as usize, e.to_string())
        };
        // A count that disagrees.
        let (at, e) = case(&|b| b[body + 8] = 2);
        assert_eq!(at, body);
        assert!(e.contains("run chunk holds 3 records (0 loss records), its header says 2 (0)"), "{e}");
        // An undescribed thread.
        let (at, e) = case(&|b| b[body] = 7);
        assert!(e.contains("records of thread 7, which was never described"), "{e}");
        assert_eq!(at, body);
        // A Pad record.
        let (at, e) = case(&|b| b[body + RUN_HEADER_LEN + 2] = RecordKind::Pad.bits() as u8);
        assert_eq!(at, body + RUN_HEADER_LEN);
        assert!(e.contains("record 0 of 3: invalid size"), "{e}");
        // Over the chunk limit: refused before anything is read.
        let (at, e) = case(&|b| b[run_at + 4..run_at + 8].copy_from_slice(&(1u32 << 24).to_le_bytes()));
        assert_eq!(at, run_at + 4);
        assert!(e.contains("run chunk of 16777216 bytes"), "{e}");
    }

    #[test]
    fn the_merge_holds_at_most_its_limit_plus_a_chunk() {
        // 6 MiB of RUN records of two threads, no horizon, limit 2 MiB + 2 chunks' minimum.
        let order = [1, 2];
        let mut b = run_file(&order);
        let rec = |ts: u64| {
            let mut r = Header { size: 1024, flags: RecordKind::Raw.bits(), id: 1, ts }.to_bytes().to_vec();
            r.resize(1024, 0);
            r
        };
        let mut n = 0;
        for pass in 0..24u64 {
            for t in [1u64, 2] {
                let run: Vec<u8> = (0..128).flat_map(|i| rec(pass * 1000 + i * 2 + t)).collect();
                n += write_run(&mut b, t, &run, 0).unwrap().0;
            }
        }
        let mut r = TraceReader::new(&b[..]).unwrap();
        r.set_merge_limit(0);
        let limit = 2 * (MAX_RECORDS_CHUNK + RUN_HEADER_LEN);
        let mut last = 0;
        let mut seen = 0;
        let mut most = 0;
        let stats = r
            .for_each_batch(|batch| {
                for ev in batch.iter() {
                    assert!(ev.ticks() >= last, "in order: {} after {last}", ev.ticks());
                    last = ev.ticks();
                    seen += 1;
                }
                most = most.max(batch.len());
            })
            .unwrap();
        assert_eq!((stats.records, seen), (n, n));
        assert!(r.merge.arena.capacity() <= limit + MAX_RECORDS_CHUNK + RUN_HEADER_LEN, "{}", r.merge.arena.capacity());
        assert!(most <= 16 * 1024);
    }

    #[test]
    fn random_corruption_of_run_traces_never_panics() {
        let (base, _) = run_sample();
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let mut b = base.clone();
            for _ in 0..(next() % 4 + 1) {
                let i = FILE_HEADER_LEN + (next() as usize) % (b.len() - FILE_HEADER_LEN);
                b[i] = next() as u8;
            }
            let cut = (next() as usize) % (b.len() + 1);
            if let Ok(mut r) = TraceReader::new(&b[..cut]) {
                let _ = r.for_each_batch(|batch| {
                    for ev in batch.iter() {
                        let mut s = String::new();
                        crate::output::render::render_text(&ev, &mut s);
                    }
                });
            }
        }
    }
}
