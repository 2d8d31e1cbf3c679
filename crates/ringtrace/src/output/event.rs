//! What sinks see: a [`Batch`] of [`Event`]s, each a view of one record plus the thread and
//! callsite it belongs to. Nothing is decoded until a sink asks: the message is formatted by
//! [`Event::write_message`], fields are decoded by [`Event::fields`], and so on (R-CORE-6).
//!
//! The same types serve the live drain (records copied out of rings) and the trace-file reader
//! (records read from disk), so every output format renders both identically.

use crate::callsite::{CallsiteKind, Metadata};
use crate::clock::ClockCalibration;
use crate::level::Level;
use crate::output::template::Template;
use crate::wire::record::{Header, LossInfo, RecordKind, FLAG_CONTEXT, FLAG_TRUNCATED, HEADER_LEN};
use crate::wire::value::{decode_value, Value, Values};
use std::sync::Arc;

/// A callsite's static description, owned (built once per callsite by the drain, or read from
/// a trace file's dictionary).
#[derive(Debug, Clone)]
pub struct CallsiteInfo {
    /// The callsite id records carry.
    pub id: u32,
    /// Level.
    pub level: Level,
    /// Target.
    pub target: String,
    /// Module path.
    pub module_path: String,
    /// Source file.
    pub file: String,
    /// Source line.
    pub line: u32,
    /// The message's format string.
    pub format: String,
    /// Field names, in record order.
    pub fields: Vec<String>,
    /// A point event or a span edge.
    pub kind: CallsiteKind,
    template: Template,
}

impl CallsiteInfo {
    /// Builds a description (and parses the format string once).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: u32,
        level: Level,
        target: impl Into<String>,
        module_path: impl Into<String>,
        file: impl Into<String>,
        line: u32,
        format: impl Into<String>,
        fields: Vec<String>,
    ) -> Self {
        let format = format.into();
        let template = Template::parse_lossy(&format);
        Self {
            id,
            level,
            target: target.into(),
            module_path: module_path.into(),
            file: file.into(),
            line,
            format,
            fields,
            kind: CallsiteKind::Event,
            template,
        }
    }

    /// The same description with another [`CallsiteKind`].
    pub fn with_kind(mut self, kind: CallsiteKind) -> Self {
        self.kind = kind;
        self
    }

    /// The description of a registered static callsite.
    pub fn from_metadata(id: u32, m: &Metadata) -> Self {
        Self::new(
            id,
            m.level,
            m.target,
            m.module_path,
            m.file,
            m.line,
            m.format,
            m.fields.iter().map(|f| f.to_string()).collect(),
        )
        .with_kind(m.kind)
    }

    /// A placeholder for records whose callsite is unknown (a corrupt id).
    pub fn unknown(id: u32) -> Self {
        Self::new(id, Level::Info, "unknown", "", "", 0, "", Vec::new())
    }

    /// The format string, parsed once (what [`Event::write_message`] renders).
    pub fn template(&self) -> &Template {
        &self.template
    }
}

/// A recording thread as sinks see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadInfo {
    /// The runtime's number for the thread (unique within one runtime or trace).
    pub id: u64,
    /// The thread's name (its `std::thread` name, or `thread-<os id>`).
    pub name: String,
    /// The OS thread id.
    pub os_tid: u64,
}

/// Callsites by id: a dense vector for small ids (callsite ids are allocated from 1 upwards),
/// a map for the rest, so a corrupt id in a trace file cannot make the table huge.
#[derive(Debug, Default, Clone)]
pub struct CallsiteTable {
    by_id: Vec<Option<Arc<CallsiteInfo>>>,
    sparse: std::collections::HashMap<u32, Arc<CallsiteInfo>>,
}

/// Ids below this live in the dense vector.
const DENSE_IDS: u32 = 1 << 16;

impl CallsiteTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// The callsite with this id.
    pub fn get(&self, id: u32) -> Option<&CallsiteInfo> {
        if id < DENSE_IDS {
            self.by_id.get(id as usize)?.as_deref()
        } else {
            self.sparse.get(&id).map(|c| &**c)
        }
    }

    /// Whether `id` is present.
    pub fn contains(&self, id: u32) -> bool {
        self.get(id).is_some()
    }

    /// Adds (or replaces) a callsite.
    pub fn insert(&mut self, info: CallsiteInfo) {
        if info.id >= DENSE_IDS {
            self.sparse.insert(info.id, Arc::new(info));
            return;
        }
        let i = info.id as usize;
        if i >= self.by_id.len() {
            self.by_id.resize(i + 1, None);
        }
        self.by_id[i] = Some(Arc::new(info));
    }

    /// Every callsite, by id.
    pub fn iter(&self) -> impl Iterator<Item = &CallsiteInfo> {
        self.by_id.iter().filter_map(|c| c.as_deref()).chain(self.sparse.values().map(|c| &**c))
    }
}

/// A stretch of memory a batch's records lie in: a ring the drain holds, a copy buffer, or a
/// reader's chunk. Valid (and unchanged) for as long as the batch is in use.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seg {
    ptr: *const u8,
    len: usize,
}

impl Seg {
    pub(crate) fn new(ptr: *const u8, len: usize) -> Self {
        Self { ptr, len }
    }
}

/// Where one record sits in a batch's byte arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecRef {
    /// Merge key: the record's timestamp, raised to its thread's previous key so one thread's
    /// records never reorder.
    pub key: u64,
    /// Index into the batch's thread table.
    pub thread: u32,
    /// Which of the batch's segments holds it (0 for a batch over one arena).
    pub seg: u32,
    /// Offset of the record (header included) in its segment.
    pub offset: usize,
    /// Record length (header included, unpadded).
    pub len: u32,
}

/// A group of events handed to a sink in one call, in timestamp order.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    refs: &'a [RecRef],
    memory: Memory<'a>,
    threads: &'a [ThreadInfo],
    callsites: &'a CallsiteTable,
    clock: &'a ClockCalibration,
}

/// Where a batch's records are.
#[derive(Debug, Clone, Copy)]
enum Memory<'a> {
    /// One arena (trace readers).
    Arena(&'a [u8]),
    /// Several segments (the drain: rings it holds, copy buffers).
    Segments(&'a [Seg]),
}

// SAFETY: a `Batch` only reads its segments, which its creator keeps valid and unwritten for
// the batch's lifetime (`Batch::over_segments`); the rest is shared references.
unsafe impl Send for Batch<'_> {}
// SAFETY: as above.
unsafe impl Sync for Batch<'_> {}

impl<'a> Batch<'a> {
    pub(crate) fn new(
        refs: &'a [RecRef],
        arena: &'a [u8],
        threads: &'a [ThreadInfo],
        callsites: &'a CallsiteTable,
        clock: &'a ClockCalibration,
    ) -> Self {
        Self { refs, memory: Memory::Arena(arena), threads, callsites, clock }
    }

    /// A batch whose records lie in several segments. The caller (the drain) keeps every
    /// segment valid and unwritten for as long as the batch lives, and every `RecRef`'s
    /// `offset + len` inside its segment.
    pub(crate) fn over_segments(
        refs: &'a [RecRef],
        segs: &'a [Seg],
        threads: &'a [ThreadInfo],
        callsites: &'a CallsiteTable,
        clock: &'a ClockCalibration,
    ) -> Self {
        Self { refs, memory: Memory::Segments(segs), threads, callsites, clock }
    }

    /// Number of events (loss records included).
    pub fn len(&self) -> usize {
        self.refs.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.refs.is_empty()
    }

    /// The clock calibration for converting timestamps.
    pub fn clock(&self) -> &'a ClockCalibration {
        self.clock
    }

    /// The callsite table (for sinks that write their own dictionary).
    pub fn callsites(&self) -> &'a CallsiteTable {
        self.callsites
    }

    /// The events in order.
    pub fn iter(&self) -> impl Iterator<Item = Event<'a>> + '_ {
        self.refs.iter().map(move |r| self.event(r))
    }

    /// The `i`th event.
    pub fn get(&self, i: usize) -> Option<Event<'a>> {
        self.refs.get(i).map(|r| self.event(r))
    }

    fn event(&self, r: &RecRef) -> Event<'a> {
        let record: &'a [u8] = match self.memory {
            Memory::Arena(arena) => &arena[r.offset..r.offset + r.len as usize],
            Memory::Segments(segs) => {
                let s = segs[r.seg as usize];
                assert!(r.offset + r.len as usize <= s.len, "a record outside its segment");
                // SAFETY: the drain keeps each segment valid and unwritten while the batch
                // lives (`over_segments`), and the range is inside it (checked above).
                unsafe { std::slice::from_raw_parts(s.ptr.add(r.offset), r.len as usize) }
            }
        };
        // The drain and the trace reader only admit records with a valid header.
        let header = record
            .first_chunk::<HEADER_LEN>()
            .map_or(Header { size: HEADER_LEN as u16, flags: 0, id: 0, ts: 0 }, Header::from_bytes);
        static UNKNOWN_THREAD: ThreadInfo = ThreadInfo { id: 0, name: String::new(), os_tid: 0 };
        let thread = self.threads.get(r.thread as usize).unwrap_or(&UNKNOWN_THREAD);
        let callsite = if header.is(RecordKind::Event) { self.callsites.get(header.id) } else { None };
        Event { header, record, thread, callsite, clock: self.clock }
    }
}

/// One event in a batch: a view of its record, decoded on demand.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    header: Header,
    record: &'a [u8],
    thread: &'a ThreadInfo,
    callsite: Option<&'a CallsiteInfo>,
    clock: &'a ClockCalibration,
}

/// How many message arguments are decoded onto the stack before spilling to the heap.
const INLINE_ARGS: usize = 16;

impl<'a> Event<'a> {
    /// What kind of record this is.
    pub fn kind(&self) -> RecordKind {
        self.header.kind().unwrap_or(RecordKind::Event)
    }

    /// The raw timestamp (clock ticks).
    pub fn ticks(&self) -> u64 {
        self.header.ts
    }

    /// The timestamp as nanoseconds since the Unix epoch.
    pub fn unix_nanos(&self) -> u64 {
        self.clock.to_unix_ns(self.header.ts)
    }

    /// The thread that recorded the event.
    pub fn thread(&self) -> &'a ThreadInfo {
        self.thread
    }

    /// The callsite (events only; `None` for raw and loss records, or an unknown id).
    pub fn callsite(&self) -> Option<&'a CallsiteInfo> {
        self.callsite
    }

    /// The callsite id (events) or the caller's event id (raw records).
    pub fn id(&self) -> u32 {
        self.header.id
    }

    /// The level (events only).
    pub fn level(&self) -> Option<Level> {
        self.callsite.map(|c| c.level)
    }

    /// Whether this event is a point event or a span edge ([`CallsiteKind::Event`] for
    /// records without a callsite: raw payloads, loss records).
    pub fn callsite_kind(&self) -> CallsiteKind {
        self.callsite.map_or(CallsiteKind::Event, |c| c.kind)
    }

    /// The target (events only; `""` otherwise).
    pub fn target(&self) -> &'a str {
        self.callsite.map_or("", |c| c.target.as_str())
    }

    /// Whether an argument was cut short to fit `max_record_size` (best-effort mode).
    pub fn is_truncated(&self) -> bool {
        self.header.flags & FLAG_TRUNCATED != 0
    }

    /// Whether the record carries bound context (what [`context`](Self::context) yields may
    /// still be empty only for a corrupt record).
    pub(crate) fn has_context(&self) -> bool {
        self.header.flags & FLAG_CONTEXT != 0
    }

    /// The whole record as stored (header included): what the binary format writes.
    pub fn record_bytes(&self) -> &'a [u8] {
        self.record
    }

    /// The payload after the header.
    pub fn payload(&self) -> &'a [u8] {
        &self.record[HEADER_LEN.min(self.record.len())..]
    }

    /// The loss report, for loss records.
    pub fn loss(&self) -> Option<LossInfo> {
        match self.kind() {
            RecordKind::Loss => LossInfo::from_bytes(self.payload()),
            _ => None,
        }
    }

    /// The bound context and the encoded values after it (events only).
    fn split_context(&self) -> (&'a [u8], &'a [u8]) {
        let p = self.payload();
        if self.header.flags & FLAG_CONTEXT == 0 || p.len() < 2 {
            return (&[], p);
        }
        let n = (u16::from_le_bytes([p[0], p[1]]) as usize).min(p.len() - 2);
        (&p[2..2 + n], &p[2 + n..])
    }

    /// The context bound when the event was recorded, as (key, value) pairs.
    pub fn context(&self) -> impl Iterator<Item = (&'a str, Value<'a>)> + 'a {
        let (mut rest, _) = if self.kind() == RecordKind::Event { self.split_context() } else { (&[][..], &[][..]) };
        std::iter::from_fn(move || {
            let (&klen, r) = rest.split_first()?;
            let key = r.get(..klen as usize).and_then(|k| std::str::from_utf8(k).ok());
            let Some(key) = key else {
                rest = &[];
                return Some(("?", Value::Invalid));
            };
            match decode_value(&r[klen as usize..]) {
                Some((v, r2)) => {
                    rest = r2;
                    Some((key, v))
                }
                None => {
                    rest = &[];
                    Some((key, Value::Invalid))
                }
            }
        })
    }

    fn values(&self) -> Values<'a> {
        match self.kind() {
            RecordKind::Event => Values::new(self.split_context().1, usize::MAX),
            _ => Values::new(&[], 0),
        }
    }

    /// The encoded values after the bound context, fields then message arguments: what
    /// [`fields`](Self::fields) and [`args`](Self::args) decode (events only; empty otherwise).
    pub(crate) fn value_bytes(&self) -> &'a [u8] {
        match self.kind() {
            RecordKind::Event => self.split_context().1,
            _ => &[],
        }
    }

    /// The key-value fields, names from the callsite.
    pub fn fields(&self) -> impl Iterator<Item = (&'a str, Value<'a>)> + 'a {
        let names: &'a [String] = self.callsite.map_or(&[], |c| c.fields.as_slice());
        names.iter().map(String::as_str).zip(self.values())
    }

    /// The message arguments (the values after the fields).
    pub fn args(&self) -> impl Iterator<Item = Value<'a>> + 'a {
        let nfields = self.callsite.map_or(0, |c| c.fields.len());
        self.values().skip(nfields)
    }

    /// Appends the formatted message to `out`: the callsite's format string with the
    /// recorded arguments, byte-identical to formatting them at the call site. Loss and raw
    /// records have a generated message. At most [`Template::MAX_LEN`] bytes (1 MiB) are
    /// appended; returns `true` if the message was cut there (see [`Template::render`]).
    pub fn write_message(&self, out: &mut String) -> bool {
        self.write_message_within(out, Template::MAX_LEN)
    }

    /// [`write_message`](Self::write_message), appending at most `limit` bytes; returns `true`
    /// if the message was cut.
    pub fn write_message_within(&self, out: &mut String, limit: usize) -> bool {
        use std::fmt::Write;
        match self.kind() {
            RecordKind::Event => {
                let Some(cs) = self.callsite else {
                    let _ = write!(out, "<unknown callsite {}>", self.header.id);
                    return false;
                };
                let mut inline = [Value::Invalid; INLINE_ARGS];
                let mut n = 0;
                let mut spill = Vec::new();
                for v in self.args() {
                    if n < INLINE_ARGS {
                        inline[n] = v;
                    } else {
                        if spill.is_empty() {
                            spill.extend_from_slice(&inline);
                        }
                        spill.push(v);
                    }
                    n += 1;
                }
                let args = if n <= INLINE_ARGS { &inline[..n] } else { &spill[..] };
                cs.template.render_within(args, out, limit)
            }
            RecordKind::Raw => {
                let _ = write!(out, "raw event {} ({} bytes)", self.header.id, self.payload().len());
                false
            }
            RecordKind::Loss => {
                let l = self.loss().unwrap_or_default();
                let _ = write!(out, "lost {} events ({} bytes)", l.events, l.bytes);
                false
            }
            RecordKind::Pad => false,
        }
    }

    /// The formatted message as a new string.
    pub fn message(&self) -> String {
        let mut s = String::new();
        self.write_message(&mut s);
        s
    }

    /// The clock calibration this event's timestamps use.
    pub fn clock(&self) -> &'a ClockCalibration {
        self.clock
    }
}
