//! Reading a pool file back into a trace ([`recover`], [`recover_file`]): plain bytes, no
//! mapping, so it works on any file, on any thread, in any process.

use super::layout::*;
use super::snapshot::*;
use crate::clock::ClockCalibration;
use crate::output::event::ThreadInfo;
use crate::output::trace_file;
use crate::wire::record::{
    align8, Header, MergeKey, RecordKind, FLAG_CONTEXT, FLAG_TRUNCATED, HEADER_LEN, KIND_MASK, MAX_RECORD_LEN,
};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;

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

pub(super) fn rerr(offset: usize, kind: RecoverErrorKind) -> RecoverError {
    RecoverError { offset: offset as u64, kind }
}

pub(super) fn corrupt(offset: usize, msg: impl Into<String>) -> RecoverError {
    rerr(offset, RecoverErrorKind::Corrupt(msg.into()))
}

pub(super) fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}

pub(super) fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

pub(super) fn u64_at(b: &[u8], i: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[i..i + 8]);
    u64::from_le_bytes(a)
}

/// A pool file's header, checked against the file's length.
#[derive(Debug, Clone)]
pub(super) struct ParsedHeader {
    pub(super) geometry: Geometry,
    pub(super) clock: ClockCalibration,
    pub(super) pid: u64,
    pub(super) dict_len: u64,
    pub(super) state: u64,
    pub(super) dict_dropped: u64,
    pub(super) max_record_size: u32,
}

/// Parses and checks a pool file's header; `actual_len` is the file's real length (the
/// header's `file_len` must not exceed it; `u64::MAX` when it is not known yet).
pub(super) fn parse_header(b: &[u8], actual_len: u64) -> Result<ParsedHeader, RecoverError> {
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
pub(super) struct RingRecords {
    pub(super) ring: u32,
    pub(super) owner: u64,
    pub(super) seq: u64,
    pub(super) records: Vec<(usize, usize)>,
}

/// Where (a file offset) and why reading a ring stopped early.
pub(super) type Damage = (usize, String);

/// Walks the committed records `[head, tail)` of ring `ring`, whose bytes start at file
/// offset `base`. Returns the records' file ranges, and where and why reading stopped early.
pub(super) fn walk_ring(
    file: &[u8],
    base: usize,
    size: usize,
    head: u64,
    tail: u64,
) -> (Vec<(usize, usize)>, Option<Damage>) {
    let mut pos = head;
    let mut out = Vec::new();
    let header = |off: usize| {
        // The ring lies inside the file (`parse_header` checked the regions), so this reads 16
        // bytes; a zero header (reported as damage) if it did not.
        Header::read(file.get(base + off..).unwrap_or_default()).unwrap_or(Header { size: 0, flags: 0, id: 0, ts: 0 })
    };
    loop {
        match crate::rings::ring::next_record(size, pos, tail, header) {
            Ok(None) => break,
            Err((_, off, h)) => {
                let why = if h.kind().is_none() {
                    format!("unknown record kind {:#x}", h.flags)
                } else {
                    format!("record of {} bytes does not fit in the committed part", h.size)
                };
                return (out, Some((base + off, why)));
            }
            Ok(Some((at, off, h, len))) => {
                out.push((base + off, h.size as usize));
                pos = at + len as u64;
            }
        }
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
pub(super) fn looks_torn(file: &[u8], at: usize, last_ts: u64, ring_end: usize, room: u64, max_record: u32) -> bool {
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
    let mut refs: Vec<MergedRecord<'_>> = Vec::new();
    let mut last_key: HashMap<u64, MergeKey> = HashMap::new();
    for r in &rings {
        let t = per_thread.entry(r.owner).or_insert_with(|| RecoveredThread {
            id: r.owner,
            name: known_threads.get(&r.owner).map(|t| t.name.clone()).unwrap_or_default(),
            ..RecoveredThread::default()
        });
        t.rings += 1;
        for &(at, len) in &r.records {
            let ts = u64_at(file, at + 8);
            let key = last_key.entry(r.owner).or_default().take(ts);
            refs.push((key, r.owner, &file[at..at + len]));
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
    let w = write_merged(&mut out, refs);
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
pub(super) fn chunk_boundary(chunks: &[u8], limit: usize) -> usize {
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
pub(super) fn read_pool_file(path: &Path) -> Result<Vec<u8>, RecoverError> {
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
pub(super) fn read_up_to(r: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
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
