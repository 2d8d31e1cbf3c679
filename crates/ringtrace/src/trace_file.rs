//! The binary trace file (R-OUT-2): what [`BinarySink`](crate::sinks::BinarySink) writes and
//! `ringtrace decode` reads.
//!
//! All integers are little-endian.
//!
//! ```text
//! file header (48 bytes)
//!   magic          8  b"RTRACE\0\x01"
//!   version        u16  FORMAT_VERSION
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
//!   RECORDS  (3): thread id u64, record count u32, reserved u32, then the records exactly as
//!                 in a ring (16-byte header + payload), each padded to 8 bytes; at most
//!                 MAX_RECORDS_CHUNK bytes of records per chunk
//!   END      (4): the last chunk of a finished file: records u64, loss records u64,
//!                 callsites u64, threads u64 (the RECORDS, loss records, CALLSITE and THREAD
//!                 chunks the writer put in this file), bytes u64 (the END chunk's own offset);
//!                 a later version may append fields (readers ignore them)
//! ```
//!
//! A callsite or thread is described before the first record that refers to it. Each file a
//! rotating sink starts begins with the header and every description written so far, so every
//! file decodes on its own.
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
//! The END chunk did not change the format version: a reader of an earlier build reads every
//! record of such a file and then stops with "unknown chunk kind 4" at the END chunk's offset.
//!
//! # Bad input and memory
//!
//! [`TraceReader`] never panics on bad input: a wrong magic, a newer version, a truncated or
//! corrupt chunk each give a [`TraceError`] with the byte offset where reading stopped.
//!
//! It holds one chunk at a time. A chunk's buffer is sized from its header but never beyond
//! what the input holds ([`TraceReader::with_len`]; [`TraceReader::open`] takes a regular
//! file's length), is filled in pieces of at most [`READ_PIECE`] bytes, and grows only with the
//! bytes actually read, so a corrupt length cannot make the reader allocate it. Chunk payloads
//! over [`MAX_CHUNK`] are refused; writers of this version write chunks of at most
//! [`MAX_RECORDS_CHUNK`] bytes of records. An allocation that fails is an error, not an abort.
//! Besides the chunk, the reader keeps the dictionary (callsite and thread descriptions) it has
//! read.

use crate::callsite::{CallsiteKind, Level};
use crate::clock::ClockCalibration;
use crate::event::{Batch, CallsiteInfo, CallsiteTable, RecRef, ThreadInfo};
use crate::record::{align8, Header, RecordKind, HEADER_LEN};
use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read};
use std::path::Path;

/// The first 8 bytes of every trace file.
pub const MAGIC: [u8; 8] = *b"RTRACE\0\x01";
/// The format version this crate writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// Bytes in the file header.
pub const FILE_HEADER_LEN: usize = 48;
const BYTE_ORDER: u32 = 0x0A0B_0C0D;
const CHUNK_HEADER_LEN: usize = 8;
/// Largest chunk payload a reader accepts (1 GiB; guards against absurd lengths in corrupt
/// files). Memory is bounded further by the input's real length: see the module doc.
pub const MAX_CHUNK: usize = 1 << 30;
/// Largest RECORDS chunk payload the writers of this version produce (1 MiB of records plus
/// the chunk's 16-byte header; a single record is never split, and records are at most
/// 64 KiB).
pub const MAX_RECORDS_CHUNK: usize = 1 << 20;
/// Readers fill a chunk's buffer at most this many bytes at a time (1 MiB).
pub const READ_PIECE: usize = 1 << 20;
/// Payload bytes of the END chunk this version writes.
const END_LEN: usize = 40;

const CHUNK_CALLSITE: u8 = 1;
const CHUNK_THREAD: u8 = 2;
const CHUNK_RECORDS: u8 = 3;
const CHUNK_END: u8 = 4;

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

/// Builds RECORDS chunks: consecutive records of one thread share a chunk, up to
/// [`MAX_RECORDS_CHUNK`] bytes of records. Counts what it wrote (for the END chunk).
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
        if version > FORMAT_VERSION || version == 0 {
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

    fn corrupt(&self, at: u64, msg: impl Into<String>) -> TraceError {
        TraceError { offset: at, kind: TraceErrorKind::Corrupt(msg.into()) }
    }

    /// Reads the whole trace, calling `f` with the records of each RECORDS chunk. A trace
    /// without an END chunk is read up to its last complete chunk and returned with
    /// [`ReadStats::end`] `None`; a chunk cut short is [`TraceErrorKind::Truncated`].
    pub fn for_each_batch(&mut self, mut f: impl FnMut(&Batch<'_>)) -> Result<ReadStats, TraceError> {
        let mut stats = ReadStats::default();
        loop {
            let chunk_at = self.offset;
            let mut ch = [0u8; CHUNK_HEADER_LEN];
            let n = read_full(&mut self.input, &mut ch)
                .map_err(|e| TraceError { offset: chunk_at, kind: TraceErrorKind::Io(e) })?;
            if n == 0 {
                stats.bytes = self.offset;
                return Ok(stats);
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
                    let (records, losses) = self.records_chunk(body_at)?;
                    stats.records += records;
                    stats.loss_records += losses;
                    let batch = Batch::new(&self.refs, &self.chunk, &self.threads, &self.callsites, &self.clock);
                    f(&batch);
                }
                CHUNK_END => {
                    stats.end = Some(self.end_chunk(chunk_at, &stats)?);
                    stats.bytes = self.offset;
                    let mut more = [0u8; 1];
                    let n = read_full(&mut self.input, &mut more)
                        .map_err(|e| TraceError { offset: self.offset, kind: TraceErrorKind::Io(e) })?;
                    if n > 0 {
                        return Err(self.corrupt(self.offset, "data after the end marker"));
                    }
                    return Ok(stats);
                }
                other => return Err(self.corrupt(chunk_at, format!("unknown chunk kind {other}"))),
            }
        }
    }

    /// Reads a chunk's `len` payload bytes (at `body_at` in the file) into `self.chunk`: the
    /// buffer is sized from `len` but not beyond what the input holds, and filled in pieces
    /// of at most [`READ_PIECE`] bytes, so memory grows only with bytes actually read.
    fn read_body(&mut self, body_at: u64, len: usize) -> Result<(), TraceError> {
        self.chunk.clear();
        let available = self.len.map_or(READ_PIECE as u64, |l| l.saturating_sub(body_at));
        let first = (len as u64).min(available) as usize;
        let oom = |_| TraceError { offset: body_at, kind: TraceErrorKind::OutOfMemory(len) };
        self.chunk.try_reserve_exact(first).map_err(oom)?;
        while self.chunk.len() < len {
            let start = self.chunk.len();
            let left = len - start;
            let want = match self.len {
                Some(_) if (start as u64) < available => left.min(READ_PIECE).min((available - start as u64) as usize),
                // Past the length the file had when it was opened (it is being written): small
                // pieces, so a corrupt length costs only what the file really holds.
                Some(_) => left.min(1 << 16),
                None => left.min(READ_PIECE),
            };
            if self.chunk.capacity() < start + want {
                // Doubling, capped at the chunk's length: at most 2 × what was read so far.
                let grow = (start + want).max(self.chunk.capacity().saturating_mul(2)).min(len);
                self.chunk.try_reserve_exact(grow - start).map_err(oom)?;
            }
            self.chunk.resize(start + want, 0);
            let got = read_full(&mut self.input, &mut self.chunk[start..])
                .map_err(|e| TraceError { offset: body_at + start as u64, kind: TraceErrorKind::Io(e) })?;
            self.chunk.truncate(start + got);
            if got < want {
                return Err(TraceError { offset: body_at + self.chunk.len() as u64, kind: TraceErrorKind::Truncated });
            }
        }
        Ok(())
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
            self.refs.push(RecRef { key: h.ts, thread: tidx, seg: 0, offset: pos, len: size as u32 });
            pos += align8(size);
        }
        if pos != c.len() {
            return Err(self
                .corrupt(body_at + pos as u64, format!("{} bytes after the last of {count} records", c.len() - pos)));
        }
        Ok((count as u64, losses))
    }
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
            rec.extend_from_slice(&[crate::value::tag::U8, i as u8, crate::value::tag::U64]);
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
                rec.extend_from_slice(&[crate::value::tag::U64]);
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
                crate::render::render_json(&ev, &mut json);
                crate::render::render_text(&ev, &mut text);
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
        rec.extend_from_slice(&[crate::value::tag::U8, 1, crate::value::tag::U8, 2]);
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
                    crate::render::render_text(&ev, &mut text);
                    crate::render::render_json(&ev, &mut json);
                }
            })
            .unwrap();
        let limit = crate::render::MAX_LINE_LEN;
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
                        crate::render::render_text(&ev, &mut s);
                        crate::render::render_json(&ev, &mut s);
                    }
                });
            }
        }
    }
}
