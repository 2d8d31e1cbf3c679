//! CTF 1.8, the Common Trace Format: what `babeltrace2` and Trace Compass open.
//!
//! # Layout
//!
//! A trace is a directory:
//!
//! ```text
//! OUT/metadata        TSDL, plain text (begins with `/* CTF 1.8 */`)
//! OUT/stream-1        the packets of the thread with the runtime's number 1
//! OUT/stream-2        …one binary stream file per thread
//! ```
//!
//! Every integer is little-endian and byte-aligned; strings are UTF-8 and NUL-terminated (a
//! NUL inside a message is written as `\0`).
//!
//! A stream file is a sequence of packets. Each packet starts with
//!
//! - the **packet header**: `magic` (`0xC1FC1FC1`), the trace `uuid` (16 bytes, also in the
//!   metadata), `stream_id` (always 0: every thread's stream has the same layout) and
//!   `stream_instance_id` (the thread's number);
//! - the **packet context**: `timestamp_begin` and `timestamp_end` (the first and last event
//!   times), `content_size` and `packet_size` (in bits; equal, packets are not padded),
//!   `packet_seq_num` (0, 1, 2, … per stream), `events_discarded`, then the thread's
//!   `thread_id`, `os_tid` and `thread_name`;
//!
//! and is followed by events, each an **event header** (`id` u32: the event class, `timestamp`
//! u64) and a payload. A packet ends once it holds about [`CtfOptions::packet_size`] bytes,
//! before a loss record, when the sink is flushed, and at the end.
//!
//! # Clock
//!
//! One clock class, `ringtrace`, with `freq = 1000000000` and offset 0: event timestamps are
//! Unix nanoseconds (the trace's ticks converted with its calibration), so every reader shows
//! wall-clock times. Within a stream timestamps never decrease (a record whose converted time
//! is below its predecessor's is stamped with the predecessor's time), as CTF requires.
//!
//! # Event classes
//!
//! | id | name | payload |
//! |---|---|---|
//! | 0 | `ringtrace:event` | `level` (enum: `ERROR`=1 … `TRACE`=5, `UNKNOWN`=0), `target`, `message`, `fields` and `context` (text: `key=value` separated by spaces, strings quoted), `callsite_id`, `truncated` |
//! | 1 | `ringtrace:span_begin` | `level`, `target`, `name` (the span's name), `fields`, `context`, `callsite_id`, `depth` (0 for an outermost span) |
//! | 2 | `ringtrace:span_end` | `level`, `target`, `name`, `fields`, `callsite_id`, `depth` (of the span it closes) |
//! | 3 | `ringtrace:loss` | `lost_events`, `lost_bytes`, `first_ts`, `last_ts` (Unix ns) |
//! | 4 | `ringtrace:raw` | `event_id`, `length`, `payload` (hex), `truncated` |
//!
//! Spans are begin/end event pairs on the thread's stream, nested by order: Trace Compass and
//! babeltrace2 list them, and `depth` says how deep each one is.
//!
//! # Loss records
//!
//! CTF carries lost events in the packet context: `events_discarded` is a running total per
//! stream, and a reader reports the difference between two consecutive packets as events
//! discarded between them (babeltrace2 prints `WARNING: Tracer discarded N events between
//! [T1] and [T2] in trace …`). A loss record therefore ends the thread's current packet (with
//! the total before the gap), and the packet that starts with it carries the total after it:
//! the gap lies between the two packets, where the events were lost. If the thread has no
//! packet yet, an empty one is written first, so that the count is a difference a reader sees.
//! The loss record is also an event of class `ringtrace:loss` with the exact counts and times.

use crate::text::{event_name, write_hex, write_pairs};
use crate::ExportError;
use ringtrace::{Batch, CallsiteKind, ClockCalibration, Event, RecordKind, Sink, SinkContext, SinkError, ThreadInfo};
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// `magic` of every packet header.
pub const MAGIC: u32 = 0xC1FC_1FC1;

const CLASS_EVENT: u32 = 0;
const CLASS_SPAN_BEGIN: u32 = 1;
const CLASS_SPAN_END: u32 = 2;
const CLASS_LOSS: u32 = 3;
const CLASS_RAW: u32 = 4;

/// Offsets in a packet of the fields patched when it closes.
const OFF_TS_END: usize = 40;
const OFF_CONTENT_SIZE: usize = 48;
const OFF_PACKET_SIZE: usize = 56;
const OFF_DISCARDED: usize = 72;

/// Options of a [`CtfWriter`].
///
/// # Default values
///
/// | field | default |
/// |---|---|
/// | `packet_size` | [`CtfOptions::DEFAULT_PACKET_SIZE`] (64 KiB) |
/// | `max_buffered` | [`CtfOptions::DEFAULT_MAX_BUFFERED`] (16 MiB) |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtfOptions {
    /// A packet is closed once it holds at least this many bytes.
    pub packet_size: usize,
    /// When the open packets of all threads hold more than this many bytes together, they are
    /// all closed and written (bounds memory for traces with many threads).
    pub max_buffered: usize,
}

impl CtfOptions {
    /// The default `packet_size`.
    pub const DEFAULT_PACKET_SIZE: usize = 64 * 1024;
    /// The default `max_buffered`.
    pub const DEFAULT_MAX_BUFFERED: usize = 16 << 20;
}

impl Default for CtfOptions {
    fn default() -> Self {
        Self { packet_size: Self::DEFAULT_PACKET_SIZE, max_buffered: Self::DEFAULT_MAX_BUFFERED }
    }
}

/// What a [`CtfWriter`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CtfSummary {
    /// Stream files (threads).
    pub streams: u64,
    /// Packets in all streams.
    pub packets: u64,
    /// Events (loss records included).
    pub events: u64,
    /// Events reported as discarded (the sum of the loss records).
    pub discarded: u64,
}

/// One thread's stream.
#[derive(Debug)]
struct Stream {
    thread: ThreadInfo,
    path: PathBuf,
    /// The open packet (header and context first), empty when none is open.
    packet: Vec<u8>,
    /// Timestamp of the last event written to the stream (the next is never below it).
    last_ts: u64,
    /// Next `packet_seq_num`.
    seq: u64,
    /// Running total of discarded events, including a gap reported after the open packet.
    discarded: u64,
    /// Open spans (for `depth`).
    depth: u32,
}

/// Writes a CTF 1.8 trace into a directory, one event at a time. See the [module doc](self)
/// for the format.
///
/// ```no_run
/// use ringtrace_export::{CtfOptions, CtfWriter};
/// let clock = ringtrace::ClockCalibration::measure();
/// let mut w = CtfWriter::create("trace-ctf", &clock, CtfOptions::default())?;
/// // w.write_batch(&batch)? for each batch …
/// let summary = w.finish()?;
/// # Ok::<(), ringtrace_export::ExportError>(())
/// ```
#[derive(Debug)]
pub struct CtfWriter {
    dir: PathBuf,
    opts: CtfOptions,
    uuid: [u8; 16],
    streams: HashMap<u64, Stream>,
    /// Bytes held in open packets.
    buffered: usize,
    summary: CtfSummary,
    scratch: String,
}

impl CtfWriter {
    /// Creates the directory `dir` (it may exist if it is empty) and writes the metadata.
    pub fn create(dir: impl Into<PathBuf>, clock: &ClockCalibration, opts: CtfOptions) -> Result<Self, ExportError> {
        let dir = dir.into();
        prepare_dir(&dir)?;
        let uuid = new_uuid();
        let metadata = metadata(&uuid, clock);
        let path = dir.join("metadata");
        std::fs::write(&path, metadata).map_err(|source| ExportError::Write { path, source })?;
        Ok(Self {
            dir,
            opts: CtfOptions { packet_size: opts.packet_size.max(1), max_buffered: opts.max_buffered },
            uuid,
            streams: HashMap::new(),
            buffered: 0,
            summary: CtfSummary::default(),
            scratch: String::new(),
        })
    }

    /// The trace directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes every event of a batch.
    pub fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), ExportError> {
        for ev in batch.iter() {
            self.write_event(&ev)?;
        }
        Ok(())
    }

    /// Writes one event to its thread's stream.
    pub fn write_event(&mut self, ev: &Event<'_>) -> Result<(), ExportError> {
        if ev.kind() == RecordKind::Pad {
            return Ok(());
        }
        let t = ev.thread();
        let s = match self.streams.entry(t.id) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => {
                let path = self.dir.join(format!("stream-{}", t.id));
                // Created now, so a thread's stream exists even if its packets come later.
                File::create(&path).map_err(|source| ExportError::Write { path: path.clone(), source })?;
                self.summary.streams += 1;
                v.insert(Stream {
                    thread: t.clone(),
                    path,
                    packet: Vec::new(),
                    last_ts: 0,
                    seq: 0,
                    discarded: 0,
                    depth: 0,
                })
            }
        };
        let ns = ev.unix_nanos();
        if ev.kind() == RecordKind::Loss {
            let loss = ev.loss().unwrap_or_default();
            let first = ev.clock().to_unix_ns(loss.first_ticks);
            let mut written = close_packet(s, &mut self.buffered)?;
            if s.seq == 0 {
                // No packet yet: an empty one first, so the count is a difference (module doc).
                let at = first.min(ns).max(s.last_ts);
                s.last_ts = at;
                open_packet(s, &self.uuid, at, &mut self.buffered);
                written += close_packet(s, &mut self.buffered)?;
            }
            s.discarded += loss.events;
            self.summary.discarded += loss.events;
            self.summary.packets += written;
        }
        let ts = ns.max(s.last_ts);
        s.last_ts = ts;
        if s.packet.is_empty() {
            open_packet(s, &self.uuid, ts, &mut self.buffered);
        }
        let before = s.packet.len();
        encode_event(&mut s.packet, ev, ts, &mut s.depth, &mut self.scratch);
        self.buffered += s.packet.len() - before;
        self.summary.events += 1;
        if s.packet.len() >= self.opts.packet_size {
            self.summary.packets += close_packet(s, &mut self.buffered)?;
        }
        if self.buffered > self.opts.max_buffered {
            self.close_all()?;
        }
        Ok(())
    }

    /// Closes and writes every open packet.
    fn close_all(&mut self) -> Result<(), ExportError> {
        for s in self.streams.values_mut() {
            self.summary.packets += close_packet(s, &mut self.buffered)?;
        }
        Ok(())
    }

    /// Closes and writes every open packet, so the files on disk form a complete trace.
    pub fn flush(&mut self) -> Result<(), ExportError> {
        self.close_all()
    }

    /// Writes what is left and returns what was written.
    pub fn finish(mut self) -> Result<CtfSummary, ExportError> {
        self.close_all()?;
        Ok(self.summary)
    }
}

/// Creates `dir`, or accepts it if it exists and is empty.
fn prepare_dir(dir: &Path) -> Result<(), ExportError> {
    let werr = |source| ExportError::Write { path: dir.to_path_buf(), source };
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(ExportError::NotEmpty(dir.to_path_buf()));
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => std::fs::create_dir_all(dir).map_err(werr),
        Err(e) => Err(werr(e)),
    }
}

/// 16 bytes that differ per trace (a version-4-style UUID from the standard library's
/// randomly keyed hasher, the time and the process id).
fn new_uuid() -> [u8; 16] {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let mut out = [0u8; 16];
    for (i, half) in out.chunks_mut(8).enumerate() {
        let mut h = RandomState::new().build_hasher();
        h.write_u128(now);
        h.write_u32(std::process::id());
        h.write_usize(i);
        half.copy_from_slice(&h.finish().to_le_bytes());
    }
    out[6] = (out[6] & 0x0f) | 0x40;
    out[8] = (out[8] & 0x3f) | 0x80;
    out
}

fn uuid_text(u: &[u8; 16]) -> String {
    let mut s = String::with_capacity(36);
    for (i, b) in u.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The TSDL metadata of a trace.
fn metadata(uuid: &[u8; 16], clock: &ClockCalibration) -> String {
    let uuid = uuid_text(uuid);
    format!(
        r#"/* CTF 1.8 */

typealias integer {{ size = 8; align = 8; signed = false; }} := uint8_t;
typealias integer {{ size = 32; align = 8; signed = false; }} := uint32_t;
typealias integer {{ size = 64; align = 8; signed = false; }} := uint64_t;

trace {{
	major = 1;
	minor = 8;
	uuid = "{uuid}";
	byte_order = le;
	packet.header := struct {{
		uint32_t magic;
		uint8_t uuid[16];
		uint32_t stream_id;
		uint64_t stream_instance_id;
	}};
}};

env {{
	tracer_name = "ringtrace";
	ringtrace_version = "{version}";
	ringtrace_ticks_per_sec = {hz};
	ringtrace_anchor_unix_ns = {anchor};
}};

clock {{
	name = ringtrace;
	uuid = "{uuid}";
	description = "Unix time in nanoseconds (the trace's ticks converted with its calibration)";
	freq = 1000000000;
	precision = 1;
	offset_s = 0;
	offset = 0;
	absolute = TRUE;
}};

typealias integer {{ size = 64; align = 8; signed = false; map = clock.ringtrace.value; }} := uint64_clock_t;

typealias enum : uint8_t {{ UNKNOWN = 0, ERROR = 1, WARN = 2, INFO = 3, DEBUG = 4, TRACE = 5 }} := ringtrace_level_t;

stream {{
	id = 0;
	packet.context := struct {{
		uint64_clock_t timestamp_begin;
		uint64_clock_t timestamp_end;
		uint64_t content_size;
		uint64_t packet_size;
		uint64_t packet_seq_num;
		uint64_t events_discarded;
		uint64_t thread_id;
		uint64_t os_tid;
		string thread_name;
	}};
	event.header := struct {{
		uint32_t id;
		uint64_clock_t timestamp;
	}};
}};

event {{
	name = "ringtrace:event";
	id = {CLASS_EVENT};
	stream_id = 0;
	fields := struct {{
		ringtrace_level_t level;
		string target;
		string message;
		string fields;
		string context;
		uint32_t callsite_id;
		uint8_t truncated;
	}};
}};

event {{
	name = "ringtrace:span_begin";
	id = {CLASS_SPAN_BEGIN};
	stream_id = 0;
	fields := struct {{
		ringtrace_level_t level;
		string target;
		string name;
		string fields;
		string context;
		uint32_t callsite_id;
		uint32_t depth;
	}};
}};

event {{
	name = "ringtrace:span_end";
	id = {CLASS_SPAN_END};
	stream_id = 0;
	fields := struct {{
		ringtrace_level_t level;
		string target;
		string name;
		string fields;
		uint32_t callsite_id;
		uint32_t depth;
	}};
}};

event {{
	name = "ringtrace:loss";
	id = {CLASS_LOSS};
	stream_id = 0;
	fields := struct {{
		uint64_t lost_events;
		uint64_t lost_bytes;
		uint64_t first_ts;
		uint64_t last_ts;
	}};
}};

event {{
	name = "ringtrace:raw";
	id = {CLASS_RAW};
	stream_id = 0;
	fields := struct {{
		uint32_t event_id;
		uint32_t length;
		string payload;
		uint8_t truncated;
	}};
}};
"#,
        version = env!("CARGO_PKG_VERSION"),
        hz = clock.ticks_per_sec,
        anchor = clock.anchor_unix_ns,
    )
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// A NUL-terminated string; a NUL inside is written as the two characters `\0`.
fn put_str(out: &mut Vec<u8>, s: &str) {
    for part in s.as_bytes().split(|&b| b == 0).enumerate() {
        if part.0 > 0 {
            out.extend_from_slice(b"\\0");
        }
        out.extend_from_slice(part.1);
    }
    out.push(0);
}

fn patch_u64(out: &mut [u8], at: usize, v: u64) {
    out[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// Starts a packet in `s.packet` (which must be empty) beginning at `ts`.
fn open_packet(s: &mut Stream, uuid: &[u8; 16], ts: u64, buffered: &mut usize) {
    let p = &mut s.packet;
    debug_assert!(p.is_empty());
    put_u32(p, MAGIC);
    p.extend_from_slice(uuid);
    put_u32(p, 0);
    put_u64(p, s.thread.id);
    put_u64(p, ts); // timestamp_begin
    put_u64(p, ts); // timestamp_end, patched
    put_u64(p, 0); // content_size, patched
    put_u64(p, 0); // packet_size, patched
    put_u64(p, s.seq);
    put_u64(p, 0); // events_discarded, patched
    put_u64(p, s.thread.id);
    put_u64(p, s.thread.os_tid);
    put_str(p, &s.thread.name);
    *buffered += p.len();
}

/// Finishes the open packet (if any) and appends it to the stream file. Returns the number of
/// packets written (0 or 1).
fn close_packet(s: &mut Stream, buffered: &mut usize) -> Result<u64, ExportError> {
    if s.packet.is_empty() {
        return Ok(0);
    }
    let bits = (s.packet.len() as u64) * 8;
    patch_u64(&mut s.packet, OFF_TS_END, s.last_ts);
    patch_u64(&mut s.packet, OFF_CONTENT_SIZE, bits);
    patch_u64(&mut s.packet, OFF_PACKET_SIZE, bits);
    patch_u64(&mut s.packet, OFF_DISCARDED, s.discarded);
    // Opened per packet: a trace with thousands of threads never holds thousands of files.
    let r = OpenOptions::new().append(true).create(true).open(&s.path).and_then(|mut f| f.write_all(&s.packet));
    *buffered -= s.packet.len();
    s.packet.clear();
    s.seq += 1;
    r.map_err(|source| ExportError::Write { path: s.path.clone(), source })?;
    Ok(1)
}

/// Appends one event (header and payload) to a packet.
fn encode_event(p: &mut Vec<u8>, ev: &Event<'_>, ts: u64, depth: &mut u32, scratch: &mut String) {
    let level = ev.level().map_or(0u8, |l| l as u8);
    let callsite_id = ev.callsite().map_or(ev.id(), |c| c.id);
    match ev.kind() {
        RecordKind::Loss => {
            let l = ev.loss().unwrap_or_default();
            put_u32(p, CLASS_LOSS);
            put_u64(p, ts);
            put_u64(p, l.events);
            put_u64(p, l.bytes);
            put_u64(p, ev.clock().to_unix_ns(l.first_ticks));
            put_u64(p, ev.clock().to_unix_ns(l.last_ticks));
        }
        RecordKind::Raw => {
            put_u32(p, CLASS_RAW);
            put_u64(p, ts);
            put_u32(p, ev.id());
            put_u32(p, ev.payload().len() as u32);
            scratch.clear();
            write_hex(scratch, ev.payload());
            put_str(p, scratch);
            p.push(u8::from(ev.is_truncated()));
        }
        _ => {
            let kind = ev.callsite_kind();
            put_u32(
                p,
                match kind {
                    CallsiteKind::SpanBegin => CLASS_SPAN_BEGIN,
                    CallsiteKind::SpanEnd => CLASS_SPAN_END,
                    _ => CLASS_EVENT,
                },
            );
            put_u64(p, ts);
            p.push(level);
            put_str(p, ev.target());
            scratch.clear();
            if kind == CallsiteKind::Event {
                ev.write_message(scratch);
            } else {
                event_name(ev, scratch);
            }
            put_str(p, scratch);
            scratch.clear();
            write_pairs(scratch, ev.fields());
            put_str(p, scratch);
            if kind != CallsiteKind::SpanEnd {
                scratch.clear();
                write_pairs(scratch, ev.context());
                put_str(p, scratch);
            }
            put_u32(p, callsite_id);
            match kind {
                CallsiteKind::SpanBegin => {
                    put_u32(p, *depth);
                    *depth = depth.saturating_add(1);
                }
                CallsiteKind::SpanEnd => {
                    *depth = depth.saturating_sub(1);
                    put_u32(p, *depth);
                }
                _ => p.push(u8::from(ev.is_truncated())),
            }
        }
    }
}

/// A [`Sink`] that writes a CTF 1.8 trace directory, for a live runtime. The directory is
/// created (or checked to be empty) when the sink is, the metadata is written when the runtime
/// starts, and every flush (the drain going idle) closes the open packets, so the directory is
/// a readable trace whenever the drain is idle.
///
/// ```no_run
/// let sink = ringtrace_export::CtfSink::create("trace-ctf")?;
/// let guard = ringtrace::Builder::new().sink(sink).install().unwrap();
/// # Ok::<(), ringtrace_export::ExportError>(())
/// ```
#[derive(Debug)]
pub struct CtfSink {
    name: String,
    dir: PathBuf,
    opts: CtfOptions,
    writer: Option<CtfWriter>,
}

impl CtfSink {
    /// A sink writing into `dir` (created if missing; must be empty), default options.
    pub fn create(dir: impl Into<PathBuf>) -> Result<Self, ExportError> {
        Self::with_options(dir, CtfOptions::default())
    }

    /// A sink writing into `dir` (created if missing; must be empty).
    pub fn with_options(dir: impl Into<PathBuf>, opts: CtfOptions) -> Result<Self, ExportError> {
        let dir = dir.into();
        prepare_dir(&dir)?;
        Ok(Self { name: "ctf".into(), dir, opts, writer: None })
    }

    /// Renames the sink (names appear in reports and metrics).
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    fn writer(&mut self) -> Result<&mut CtfWriter, SinkError> {
        self.writer.as_mut().ok_or_else(|| SinkError::new("ctf sink used before start or after stop"))
    }
}

fn sink_error(e: ExportError) -> SinkError {
    SinkError::with_source("cannot write CTF trace", e)
}

impl Sink for CtfSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn metadata(&self) -> ringtrace::SinkMetadata {
        ringtrace::SinkMetadata::new("ctf", env!("CARGO_PKG_VERSION"))
    }

    fn start(&mut self, ctx: &SinkContext<'_>) -> Result<(), SinkError> {
        self.writer = Some(CtfWriter::create(&self.dir, ctx.clock, self.opts).map_err(sink_error)?);
        Ok(())
    }

    fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        self.writer()?.write_batch(batch).map_err(sink_error)
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.writer()?.flush().map_err(sink_error)
    }

    fn stop(&mut self) -> Result<(), SinkError> {
        match self.writer.take() {
            Some(w) => w.finish().map(|_| ()).map_err(sink_error),
            None => Ok(()),
        }
    }

    fn outputs(&self) -> Vec<PathBuf> {
        vec![self.dir.clone()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::tests::sample_trace;

    /// A minimal reader of what this module writes: (stream instance, seq, discarded,
    /// ts_begin, ts_end, [(class, ts)]) per packet.
    type Packet = (u64, u64, u64, u64, u64, Vec<(u32, u64)>);

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }
    fn u64_at(b: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
    }
    fn skip_str(b: &[u8], at: usize) -> usize {
        at + b[at..].iter().position(|&c| c == 0).unwrap() + 1
    }

    fn read_stream(bytes: &[u8], uuid: &[u8]) -> Vec<Packet> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let p = &bytes[at..];
            assert_eq!(u32_at(p, 0), MAGIC);
            assert_eq!(&p[4..20], uuid);
            let size = (u64_at(p, OFF_PACKET_SIZE) / 8) as usize;
            assert_eq!(u64_at(p, OFF_CONTENT_SIZE), u64_at(p, OFF_PACKET_SIZE));
            let p = &p[..size];
            let mut pos = skip_str(p, 96);
            let mut events = Vec::new();
            while pos < size {
                let class = u32_at(p, pos);
                let ts = u64_at(p, pos + 4);
                pos += 12;
                pos = match class {
                    CLASS_EVENT => {
                        let mut q = pos + 1;
                        for _ in 0..4 {
                            q = skip_str(p, q);
                        }
                        q + 5
                    }
                    CLASS_SPAN_BEGIN => {
                        let mut q = pos + 1;
                        for _ in 0..4 {
                            q = skip_str(p, q);
                        }
                        q + 8
                    }
                    CLASS_SPAN_END => {
                        let mut q = pos + 1;
                        for _ in 0..3 {
                            q = skip_str(p, q);
                        }
                        q + 8
                    }
                    CLASS_LOSS => pos + 32,
                    CLASS_RAW => skip_str(p, pos + 8) + 1,
                    c => panic!("class {c}"),
                };
                events.push((class, ts));
            }
            assert_eq!(pos, size);
            out.push((u64_at(p, 24), u64_at(p, 64), u64_at(p, OFF_DISCARDED), u64_at(p, 32), u64_at(p, 40), events));
            at += size;
        }
        out
    }

    /// The trace uuid from the metadata, as bytes.
    fn uuid_of(meta: &str) -> Vec<u8> {
        let line = meta.lines().find(|l| l.trim_start().starts_with("uuid = ")).unwrap();
        let hex: String = line.split('"').nth(1).unwrap().chars().filter(|c| *c != '-').collect();
        (0..16).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap()).collect()
    }

    fn tempdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ringtrace-export-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn metadata_and_streams_agree_and_losses_are_discarded_counts() {
        let t = sample_trace();
        let dir = tempdir("ctf");
        let mut r = t.reader();
        let (summary, _) = crate::convert::to_ctf(&mut r, &dir, CtfOptions::default(), |_| {}).unwrap();
        assert_eq!(summary.streams, 2);
        assert_eq!(summary.events, 10);
        assert_eq!(summary.discarded, 5);
        let meta = std::fs::read_to_string(dir.join("metadata")).unwrap();
        assert!(meta.starts_with("/* CTF 1.8 */\n"));
        let uuid = uuid_of(&meta);

        let main = read_stream(&std::fs::read(dir.join("stream-1")).unwrap(), &uuid);
        assert_eq!(main.len(), 1);
        let classes: Vec<u32> = main[0].5.iter().map(|e| e.0).collect();
        assert_eq!(
            classes,
            vec![CLASS_SPAN_BEGIN, CLASS_EVENT, CLASS_SPAN_BEGIN, CLASS_SPAN_END, CLASS_SPAN_END, CLASS_EVENT]
        );
        assert_eq!(main[0].2, 0);
        assert_eq!(main[0].3, t.clock.anchor_unix_ns + 1000, "timestamp_begin is the first event, in Unix ns");

        // worker: orphan end and "left open" begin, then the loss closes the packet; the next
        // one starts with the loss event and carries the running total.
        let worker = read_stream(&std::fs::read(dir.join("stream-2")).unwrap(), &uuid);
        assert_eq!(worker.len(), 2);
        assert_eq!((worker[0].1, worker[0].2), (0, 0));
        assert_eq!((worker[1].1, worker[1].2), (1, 5));
        assert_eq!(worker[1].5.iter().map(|e| e.0).collect::<Vec<_>>(), vec![CLASS_LOSS, CLASS_RAW]);
        for p in worker.iter().chain(&main) {
            assert!(p.3 <= p.4);
            assert!(p.5.iter().all(|e| p.3 <= e.1 && e.1 <= p.4));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_loss_before_any_packet_gets_an_empty_packet_first_and_small_packets_split() {
        let t = crate::convert::tests::loss_first_trace();
        let dir = tempdir("ctf-first");
        let mut r = t.reader();
        let opts = CtfOptions { packet_size: 1, ..CtfOptions::default() };
        let (summary, _) = crate::convert::to_ctf(&mut r, &dir, opts, |_| {}).unwrap();
        let meta = std::fs::read_to_string(dir.join("metadata")).unwrap();
        let uuid = uuid_of(&meta);
        let s = read_stream(&std::fs::read(dir.join("stream-1")).unwrap(), &uuid);
        // empty packet, then one packet per event (packet_size 1).
        assert_eq!(s.len(), 3, "{s:?}");
        assert!(s[0].5.is_empty());
        assert_eq!(s[0].2, 0);
        assert_eq!(s[1].2, 4);
        assert_eq!(s[2].2, 4);
        assert_eq!(s.iter().map(|p| p.1).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert_eq!(summary.packets, 3);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_non_empty_directory_is_refused() {
        let dir = tempdir("ctf-busy");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("x"), b"x").unwrap();
        let clock = ClockCalibration::new(0, 0, 1_000_000_000);
        let e = CtfWriter::create(&dir, &clock, CtfOptions::default()).unwrap_err();
        assert!(matches!(e, ExportError::NotEmpty(_)));
        assert!(e.to_string().contains("not empty"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn nul_bytes_in_strings_are_escaped() {
        let mut v = Vec::new();
        put_str(&mut v, "a\0b");
        assert_eq!(v, b"a\\0b\0");
    }

    #[test]
    fn uuids_differ_and_are_version_4() {
        let (a, b) = (new_uuid(), new_uuid());
        assert_ne!(a, b);
        assert_eq!(a[6] >> 4, 4);
        assert_eq!(uuid_text(&a).len(), 36);
    }
}
