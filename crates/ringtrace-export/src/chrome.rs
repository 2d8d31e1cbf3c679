//! Chrome / Perfetto trace-event JSON: what [ui.perfetto.dev](https://ui.perfetto.dev),
//! `chrome://tracing` and the Chrome DevTools performance panel open.
//!
//! # Layout
//!
//! The JSON object format, written as a stream: the metadata keys come first, then the
//! `traceEvents` array, one event per line, closed by [`ChromeWriter::finish`].
//!
//! ```text
//! {"displayTimeUnit":"ns","otherData":{"generator":"ringtrace","origin_unix_ns":…,"origin":"2026-…Z","ticks_per_sec":…},
//! "traceEvents":[
//! {"ph":"M","name":"process_name","pid":1,"tid":0,"args":{"name":"ringtrace"}}
//! ,{"ph":"M","name":"thread_name","pid":1,"tid":3,"args":{"name":"worker-1"}}
//! ,{"ph":"M","name":"thread_sort_index","pid":1,"tid":3,"args":{"sort_index":3}}
//! ,{"ph":"I","s":"t","pid":1,"tid":3,"ts":12.345,"name":"order 7 filled","cat":"demo::orders","args":{"qty":10,"level":"INFO","target":"demo::orders","message":"order 7 filled"}}
//! ,{"ph":"X","pid":1,"tid":3,"ts":12.001,"dur":0.999,"name":"request","cat":"demo","args":{"id":7,"level":"INFO","target":"demo"}}
//! ]}
//! ```
//!
//! # Mapping
//!
//! | ringtrace | trace event |
//! |---|---|
//! | the process | `pid` 1 (configurable), named by a `process_name` metadata event |
//! | a thread | `tid` = the runtime's thread number, one track each, named by `thread_name` and ordered by `thread_sort_index` metadata events (written before the thread's first event) |
//! | a point event | instant `"ph":"I"`, thread scope `"s":"t"`; `name` = the message, `cat` = the target |
//! | a span (begin … end edge on one thread) | a complete slice `"ph":"X"` with `dur` ([`SpanStyle::Complete`], the default), or a `"B"`/`"E"` pair ([`SpanStyle::BeginEnd`]); `name` = the span's name |
//! | a loss record | instant named `ringtrace: N events lost`, `cat` `ringtrace`, args `lost_events`, `lost_bytes`, `first_ts`, `last_ts` (µs, same origin as `ts`) |
//! | a raw record | instant named `raw event ID`, args `event_id`, `len`, `payload` (hex, first 4 KiB) |
//! | fields, bound context | `args`: each field by name, context keys as `ctx.KEY`, then `level`, `target`, `message` (point events) and `truncated` (when cut short) unless a field already took the name |
//!
//! `ts` and `dur` are microseconds with three decimals, so every nanosecond is kept
//! (`12.345` is 12 345 ns), written from integers. They count from `otherData.origin_unix_ns`,
//! the runtime's clock anchor rounded down to a whole second, rather than from 1970: a Unix
//! time in microseconds with a nanosecond fraction has more digits than a JSON parser's
//! `f64` keeps.
//!
//! Instants use the `"I"` phase: the trace-event format documents `"i"` and `"I"` as the same
//! event, Perfetto and `chrome://tracing` read both, and the DevTools trace engine reads only
//! `"I"`.
//!
//! # Why complete slices by default
//!
//! A `"B"`/`"E"` pair is matched by the reader, and not every reader keeps one stack per
//! thread: the DevTools trace engine matches every `E` against the last `B` of the whole trace,
//! so spans that overlap on two threads come out with zero or wrong durations. A complete
//! slice carries its own duration and nests by time on its own track in every viewer. It is
//! written when the span ends (its `ts` is the begin time), which viewers accept: the format
//! does not require events in time order. The writer keeps the open spans of each thread (name,
//! target, begin time and rendered args) until they end; that stack is all it holds.
//!
//! A span still open at the end of the trace is closed at the thread's last timestamp with
//! `"ringtrace.unclosed":true`; an end edge with no open span (its begin was lost) becomes an
//! instant named `ringtrace: span end without begin: NAME`.

use crate::text::{event_name, write_duration_micros, write_hex, write_micros};
use crate::ExportError;
use ringtrace::render::{write_json_str, write_json_value, write_timestamp};
use ringtrace::{Batch, CallsiteKind, ClockCalibration, Event, RecordKind, Sink, SinkContext, SinkError};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// How spans are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SpanStyle {
    /// One `"ph":"X"` slice with `ts` and `dur`, written when the span ends (see the module
    /// doc for why this is the default).
    #[default]
    Complete,
    /// A `"ph":"B"` event when the span begins and a `"ph":"E"` event when it ends.
    BeginEnd,
}

/// Options of a [`ChromeWriter`].
///
/// # Default values
///
/// | field | default |
/// |---|---|
/// | `spans` | [`SpanStyle::Complete`] |
/// | `pid` | [`ChromeOptions::DEFAULT_PID`] (1) |
/// | `process_name` | `"ringtrace"` |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChromeOptions {
    /// How spans are written.
    pub spans: SpanStyle,
    /// The `pid` of every event.
    pub pid: u32,
    /// The process track's name.
    pub process_name: String,
}

impl ChromeOptions {
    /// The default `pid`.
    pub const DEFAULT_PID: u32 = 1;
}

impl Default for ChromeOptions {
    fn default() -> Self {
        Self { spans: SpanStyle::default(), pid: Self::DEFAULT_PID, process_name: "ringtrace".into() }
    }
}

/// Most spans open at once on one thread; deeper begin edges are written as instants
/// (`"ringtrace.too_deep":true`), so a trace of begins without ends cannot grow the writer's
/// memory without bound.
const MAX_OPEN_SPANS: usize = 4096;

/// Raw payload bytes written as hex in `args.payload`.
const MAX_RAW_HEX: usize = 4096;

/// A span that began and has not ended yet.
#[derive(Debug)]
struct OpenSpan {
    name: String,
    cat: String,
    begin_ns: u64,
    /// The begin edge's args object without its closing brace (`{` … ), [`SpanStyle::Complete`]
    /// only.
    args: String,
}

/// What the writer knows about one thread.
#[derive(Debug, Default)]
struct Track {
    open: Vec<OpenSpan>,
    /// Latest timestamp seen on the thread (unclosed spans end here).
    last_ns: u64,
}

/// Writes trace-event JSON to `W`, one event at a time. See the [module doc](self) for the
/// format.
///
/// ```
/// use ringtrace::ClockCalibration;
/// use ringtrace_export::{ChromeOptions, ChromeWriter};
///
/// let clock = ClockCalibration::new(0, 1_700_000_000_000_000_000, 1_000_000_000);
/// let w = ChromeWriter::new(Vec::new(), &clock, ChromeOptions::default())?;
/// // w.write_batch(&batch)? for each batch …
/// let json = w.finish()?;
/// let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
/// assert_eq!(v["traceEvents"][0]["name"], "process_name");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct ChromeWriter<W: Write> {
    out: W,
    opts: ChromeOptions,
    origin_ns: u64,
    tracks: HashMap<u64, Track>,
    /// The line being built.
    line: String,
    /// Scratch for names.
    name: String,
    events: u64,
}

impl<W: Write> ChromeWriter<W> {
    /// Starts a trace: writes the metadata keys, opens `traceEvents` and names the process.
    /// `clock` is the trace's calibration; its anchor, rounded down to a whole second, is the
    /// origin of every `ts`.
    pub fn new(mut out: W, clock: &ClockCalibration, opts: ChromeOptions) -> io::Result<Self> {
        let origin_ns = clock.anchor_unix_ns - clock.anchor_unix_ns % 1_000_000_000;
        let mut line = String::with_capacity(1024);
        let _ = write!(
            line,
            "{{\"displayTimeUnit\":\"ns\",\"otherData\":{{\"generator\":\"ringtrace\",\"origin_unix_ns\":{origin_ns},\"origin\":\""
        );
        write_timestamp(&mut line, origin_ns);
        let _ = write!(line, "\",\"ticks_per_sec\":{}}},\n\"traceEvents\":[\n", clock.ticks_per_sec);
        let _ = write!(
            line,
            "{{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":{},\"tid\":0,\"args\":{{\"name\":",
            opts.pid
        );
        write_json_str(&mut line, &opts.process_name);
        line.push_str("}}\n");
        out.write_all(line.as_bytes())?;
        line.clear();
        Ok(Self { out, opts, origin_ns, tracks: HashMap::new(), line, name: String::new(), events: 0 })
    }

    /// The Unix time (ns) that `ts` 0 stands for.
    pub fn origin_unix_ns(&self) -> u64 {
        self.origin_ns
    }

    /// Trace events written so far (metadata events not included; a complete slice counts
    /// once, a `B`/`E` pair twice).
    pub fn events_written(&self) -> u64 {
        self.events
    }

    /// Writes every event of a batch.
    pub fn write_batch(&mut self, batch: &Batch<'_>) -> io::Result<()> {
        for ev in batch.iter() {
            self.push_event(&ev);
        }
        self.drain_line()
    }

    /// Writes one event.
    pub fn write_event(&mut self, ev: &Event<'_>) -> io::Result<()> {
        self.push_event(ev);
        self.drain_line()
    }

    /// Writes out what is buffered once it is large, so a batch costs few writes.
    fn drain_line(&mut self) -> io::Result<()> {
        if !self.line.is_empty() {
            self.out.write_all(self.line.as_bytes())?;
            self.line.clear();
        }
        Ok(())
    }

    /// Renders one event (and, on a thread's first event, its metadata) into `line`.
    fn push_event(&mut self, ev: &Event<'_>) {
        if ev.kind() == RecordKind::Pad {
            return;
        }
        let t = ev.thread();
        let ns = ev.unix_nanos();
        let pid = self.opts.pid;
        if let std::collections::hash_map::Entry::Vacant(slot) = self.tracks.entry(t.id) {
            slot.insert(Track::default());
            let line = &mut self.line;
            let _ = write!(
                line,
                ",{{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":{pid},\"tid\":{},\"args\":{{\"name\":",
                t.id
            );
            if t.name.is_empty() {
                write_json_str(line, &format!("thread-{}", t.id));
            } else {
                write_json_str(line, &t.name);
            }
            let _ = writeln!(line, "}}}}");
            let _ = writeln!(
                line,
                ",{{\"ph\":\"M\",\"name\":\"thread_sort_index\",\"pid\":{pid},\"tid\":{},\"args\":{{\"sort_index\":{}}}}}",
                t.id, t.id
            );
        }
        if let Some(track) = self.tracks.get_mut(&t.id) {
            track.last_ns = track.last_ns.max(ns);
        }
        match ev.kind() {
            RecordKind::Loss => {
                let l = ev.loss().unwrap_or_default();
                self.name.clear();
                let _ = write!(self.name, "ringtrace: {} events lost", l.events);
                let line = &mut self.line;
                instant_head(line, pid, t.id, ns, self.origin_ns, &self.name, "ringtrace");
                let _ =
                    write!(line, ",\"args\":{{\"lost_events\":{},\"lost_bytes\":{},\"first_ts\":", l.events, l.bytes);
                write_micros(line, ev.clock().to_unix_ns(l.first_ticks), self.origin_ns);
                line.push_str(",\"last_ts\":");
                write_micros(line, ev.clock().to_unix_ns(l.last_ticks), self.origin_ns);
                line.push_str("}}\n");
            }
            RecordKind::Raw => {
                self.name.clear();
                let _ = write!(self.name, "raw event {}", ev.id());
                let line = &mut self.line;
                instant_head(line, pid, t.id, ns, self.origin_ns, &self.name, "ringtrace");
                let p = ev.payload();
                let _ = write!(line, ",\"args\":{{\"event_id\":{},\"len\":{},\"payload\":\"", ev.id(), p.len());
                write_hex(line, &p[..p.len().min(MAX_RAW_HEX)]);
                line.push('"');
                if ev.is_truncated() {
                    line.push_str(",\"truncated\":true");
                }
                line.push_str("}}\n");
            }
            _ => match ev.callsite_kind() {
                CallsiteKind::SpanBegin => {
                    if !self.span_begin(ev, ns) {
                        return;
                    }
                }
                CallsiteKind::SpanEnd => self.span_end(ev, ns),
                _ => {
                    self.name.clear();
                    event_name(ev, &mut self.name);
                    let line = &mut self.line;
                    instant_head(line, pid, t.id, ns, self.origin_ns, &self.name, ev.target());
                    line.push_str(",\"args\":");
                    write_args(line, ev, Some(&self.name));
                    line.push_str("}\n");
                }
            },
        }
        self.events += 1;
    }

    /// Returns whether a trace event was written.
    fn span_begin(&mut self, ev: &Event<'_>, ns: u64) -> bool {
        let t = ev.thread();
        let pid = self.opts.pid;
        let mut name = String::new();
        event_name(ev, &mut name);
        let track = self.tracks.entry(t.id).or_default();
        if track.open.len() >= MAX_OPEN_SPANS {
            let line = &mut self.line;
            instant_head(line, pid, t.id, ns, self.origin_ns, &name, ev.target());
            line.push_str(",\"args\":");
            write_args(line, ev, None);
            line.pop();
            line.push_str(",\"ringtrace.too_deep\":true}}\n");
            return true;
        }
        let mut args = String::new();
        write_args(&mut args, ev, None);
        match self.opts.spans {
            SpanStyle::Complete => {
                // Stored without its closing brace: the end edge may add keys.
                args.pop();
                track.open.push(OpenSpan { name, cat: ev.target().to_string(), begin_ns: ns, args });
                // The slice is written (and counted) when the span ends.
                return false;
            }
            SpanStyle::BeginEnd => {
                let line = &mut self.line;
                let _ = write!(line, ",{{\"ph\":\"B\",\"pid\":{pid},\"tid\":{},\"ts\":", t.id);
                write_micros(line, ns, self.origin_ns);
                line.push_str(",\"name\":");
                write_json_str(line, &name);
                line.push_str(",\"cat\":");
                write_json_str(line, ev.target());
                line.push_str(",\"args\":");
                line.push_str(&args);
                line.push_str("}\n");
                track.open.push(OpenSpan { name, cat: ev.target().to_string(), begin_ns: ns, args: String::new() });
            }
        }
        true
    }

    fn span_end(&mut self, ev: &Event<'_>, ns: u64) {
        let t = ev.thread();
        let pid = self.opts.pid;
        let track = self.tracks.entry(t.id).or_default();
        let Some(mut span) = track.open.pop() else {
            self.name.clear();
            self.name.push_str("ringtrace: span end without begin: ");
            event_name(ev, &mut self.name);
            let line = &mut self.line;
            instant_head(line, pid, t.id, ns, self.origin_ns, &self.name, ev.target());
            line.push_str(",\"args\":");
            write_args(line, ev, None);
            line.push_str("}\n");
            return;
        };
        let line = &mut self.line;
        match self.opts.spans {
            SpanStyle::Complete => {
                let mut args = std::mem::take(&mut span.args);
                // The end edge's own fields, if it has any, as `end.KEY`.
                for (k, v) in ev.fields() {
                    if args.len() > 1 {
                        args.push(',');
                    }
                    write_json_str(&mut args, &format!("end.{k}"));
                    args.push(':');
                    write_json_value(&mut args, &v);
                }
                args.push('}');
                complete(line, pid, t.id, &span, ns, self.origin_ns, &args);
            }
            SpanStyle::BeginEnd => {
                let _ = write!(line, ",{{\"ph\":\"E\",\"pid\":{pid},\"tid\":{},\"ts\":", t.id);
                write_micros(line, ns.max(span.begin_ns), self.origin_ns);
                line.push_str(",\"name\":");
                write_json_str(line, &span.name);
                line.push_str(",\"cat\":");
                write_json_str(line, &span.cat);
                line.push_str(",\"args\":{");
                let mut first = true;
                for (k, v) in ev.fields() {
                    if !std::mem::take(&mut first) {
                        line.push(',');
                    }
                    write_json_str(line, k);
                    line.push(':');
                    write_json_value(line, &v);
                }
                line.push_str("}}\n");
            }
        }
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.drain_line()?;
        self.out.flush()
    }

    /// Closes spans still open (at their thread's last timestamp, marked
    /// `"ringtrace.unclosed":true`), closes the JSON and returns the writer, flushed.
    pub fn finish(mut self) -> io::Result<W> {
        self.close_open_spans();
        self.line.push_str("]}\n");
        self.drain_line()?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn close_open_spans(&mut self) {
        let pid = self.opts.pid;
        let mut ids: Vec<u64> = self.tracks.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let Some(track) = self.tracks.get_mut(&id) else { continue };
            let end = track.last_ns;
            while let Some(span) = track.open.pop() {
                let line = &mut self.line;
                match self.opts.spans {
                    SpanStyle::Complete => {
                        let mut args = span.args.clone();
                        if args.len() > 1 {
                            args.push(',');
                        }
                        args.push_str("\"ringtrace.unclosed\":true}");
                        complete(line, pid, id, &span, end, self.origin_ns, &args);
                    }
                    SpanStyle::BeginEnd => {
                        let _ = write!(line, ",{{\"ph\":\"E\",\"pid\":{pid},\"tid\":{id},\"ts\":");
                        write_micros(line, end.max(span.begin_ns), self.origin_ns);
                        line.push_str(",\"name\":");
                        write_json_str(line, &span.name);
                        line.push_str(",\"cat\":");
                        write_json_str(line, &span.cat);
                        line.push_str(",\"args\":{\"ringtrace.unclosed\":true}}\n");
                    }
                }
                self.events += 1;
            }
        }
    }
}

/// `,{"ph":"I","s":"t","pid":…,"tid":…,"ts":…,"name":…,"cat":…` (no closing brace).
fn instant_head(line: &mut String, pid: u32, tid: u64, ns: u64, origin: u64, name: &str, cat: &str) {
    let _ = write!(line, ",{{\"ph\":\"I\",\"s\":\"t\",\"pid\":{pid},\"tid\":{tid},\"ts\":");
    write_micros(line, ns, origin);
    line.push_str(",\"name\":");
    write_json_str(line, name);
    line.push_str(",\"cat\":");
    write_json_str(line, if cat.is_empty() { "ringtrace" } else { cat });
}

/// A complete slice for `span` ending at `end_ns`, with a finished args object.
fn complete(line: &mut String, pid: u32, tid: u64, span: &OpenSpan, end_ns: u64, origin: u64, args: &str) {
    let _ = write!(line, ",{{\"ph\":\"X\",\"pid\":{pid},\"tid\":{tid},\"ts\":");
    write_micros(line, span.begin_ns, origin);
    line.push_str(",\"dur\":");
    write_duration_micros(line, end_ns.saturating_sub(span.begin_ns));
    line.push_str(",\"name\":");
    write_json_str(line, &span.name);
    line.push_str(",\"cat\":");
    write_json_str(line, if span.cat.is_empty() { "ringtrace" } else { &span.cat });
    line.push_str(",\"args\":");
    line.push_str(args);
    line.push_str("}\n");
}

/// The args object of an event or span edge: fields, `ctx.KEY`, then `level`, `target`,
/// `message` (if given) and `truncated`, each only if no field took the name.
fn write_args(out: &mut String, ev: &Event<'_>, message: Option<&str>) {
    out.push('{');
    let mut first = true;
    let mut sep = |out: &mut String| {
        if !std::mem::take(&mut first) {
            out.push(',');
        }
    };
    for (k, v) in ev.fields() {
        sep(out);
        write_json_str(out, k);
        out.push(':');
        write_json_value(out, &v);
    }
    for (k, v) in ev.context() {
        sep(out);
        write_json_str(out, &format!("ctx.{k}"));
        out.push(':');
        write_json_value(out, &v);
    }
    let taken = |key: &str| ev.fields().any(|(k, _)| k == key);
    if let Some(level) = ev.level() {
        if !taken("level") {
            sep(out);
            out.push_str("\"level\":\"");
            out.push_str(level.as_str());
            out.push('"');
        }
    }
    if !taken("target") {
        sep(out);
        out.push_str("\"target\":");
        write_json_str(out, ev.target());
    }
    if let Some(m) = message {
        if !taken("message") {
            sep(out);
            out.push_str("\"message\":");
            write_json_str(out, m);
        }
    }
    if ev.is_truncated() && !taken("truncated") {
        sep(out);
        out.push_str("\"truncated\":true");
    }
    out.push('}');
}

/// A [`Sink`] that writes trace-event JSON to a file, for a live runtime. The file is created
/// when the sink is (an unwritable path fails at set-up) and completed by `stop`: spans still
/// open are closed and the JSON is closed.
///
/// ```no_run
/// let sink = ringtrace_export::ChromeSink::create("trace.json")?;
/// let guard = ringtrace::Builder::new().sink(sink).install().unwrap();
/// # Ok::<(), ringtrace_export::ExportError>(())
/// ```
#[derive(Debug)]
pub struct ChromeSink {
    name: String,
    path: PathBuf,
    opts: ChromeOptions,
    file: Option<BufWriter<File>>,
    writer: Option<ChromeWriter<BufWriter<File>>>,
}

impl ChromeSink {
    /// Creates (truncates) `path`, with default options.
    pub fn create(path: impl Into<PathBuf>) -> Result<Self, ExportError> {
        Self::with_options(path, ChromeOptions::default())
    }

    /// Creates (truncates) `path`.
    pub fn with_options(path: impl Into<PathBuf>, opts: ChromeOptions) -> Result<Self, ExportError> {
        let path = path.into();
        let file = File::create(&path).map_err(|source| ExportError::Write { path: path.clone(), source })?;
        Ok(Self {
            name: "chrome".into(),
            path,
            opts,
            file: Some(BufWriter::with_capacity(1 << 16, file)),
            writer: None,
        })
    }

    /// Renames the sink (names appear in reports and metrics).
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The output file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn writer(&mut self) -> Result<&mut ChromeWriter<BufWriter<File>>, SinkError> {
        self.writer.as_mut().ok_or_else(|| SinkError::new("chrome sink used before start or after stop"))
    }
}

impl Sink for ChromeSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn metadata(&self) -> ringtrace::SinkMetadata {
        ringtrace::SinkMetadata::new("chrome", env!("CARGO_PKG_VERSION"))
    }

    fn start(&mut self, ctx: &SinkContext<'_>) -> Result<(), SinkError> {
        let file = self.file.take().ok_or_else(|| SinkError::new("chrome sink started twice"))?;
        let w = ChromeWriter::new(file, ctx.clock, self.opts.clone())
            .map_err(|e| SinkError::with_source(format!("cannot write {}", self.path.display()), e))?;
        self.writer = Some(w);
        Ok(())
    }

    fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        self.writer()?.write_batch(batch).map_err(|e| SinkError::with_source("cannot write trace-event JSON", e))
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.writer()?.flush().map_err(|e| SinkError::with_source("cannot flush trace-event JSON", e))
    }

    fn stop(&mut self) -> Result<(), SinkError> {
        match self.writer.take() {
            Some(w) => w.finish().map(|_| ()).map_err(|e| SinkError::with_source("cannot finish trace-event JSON", e)),
            None => Ok(()),
        }
    }

    fn outputs(&self) -> Vec<PathBuf> {
        vec![self.path.clone()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::tests::{sample_trace, SampleTrace};
    use serde_json::Value as Json;

    fn convert(t: &SampleTrace, spans: SpanStyle) -> Json {
        let mut r = t.reader();
        let opts = ChromeOptions { spans, ..ChromeOptions::default() };
        let out = crate::convert::to_chrome(&mut r, Vec::new(), opts, |_| {}).unwrap();
        serde_json::from_slice(&out.0).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.0)))
    }

    fn events(v: &Json) -> Vec<&Json> {
        v["traceEvents"].as_array().unwrap().iter().collect()
    }

    #[test]
    fn threads_are_named_tracks_and_events_are_instants_with_args() {
        let t = sample_trace();
        let v = convert(&t, SpanStyle::Complete);
        assert_eq!(v["displayTimeUnit"], "ns");
        let origin = v["otherData"]["origin_unix_ns"].as_u64().unwrap();
        assert_eq!(origin, t.clock.anchor_unix_ns - t.clock.anchor_unix_ns % 1_000_000_000);
        let ev = events(&v);
        let names: Vec<(&str, u64)> = ev
            .iter()
            .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
            .map(|e| (e["args"]["name"].as_str().unwrap(), e["tid"].as_u64().unwrap()))
            .collect();
        assert_eq!(names, vec![("main", 1), ("worker", 2)]);
        assert!(ev.iter().all(|e| e["pid"] == 1));
        let hello = ev.iter().find(|e| e["name"] == "hello 42").unwrap();
        assert_eq!(hello["ph"], "I");
        assert_eq!(hello["s"], "t");
        assert_eq!(hello["cat"], "app");
        assert_eq!(hello["args"]["qty"], 3);
        assert_eq!(hello["args"]["level"], "INFO");
        assert_eq!(hello["args"]["message"], "hello 42");
        assert_eq!(hello["args"]["ctx.req"], 9);
        // ts: µs with the nanoseconds as three decimals, from the origin.
        let text = String::from_utf8(t.chrome_text(SpanStyle::Complete)).unwrap();
        let rel = t.hello_ns - origin;
        assert!(text.contains(&format!("\"ts\":{}.{:03},", rel / 1000, rel % 1000)), "{text}");
    }

    #[test]
    fn spans_are_complete_slices_nested_by_time() {
        let t = sample_trace();
        let v = convert(&t, SpanStyle::Complete);
        let ev = events(&v);
        let x: Vec<&&Json> = ev.iter().filter(|e| e["ph"] == "X").collect();
        assert_eq!(x.len(), 3, "outer, inner and the unclosed span: {x:?}");
        let outer = x.iter().find(|e| e["name"] == "outer").unwrap();
        let inner = x.iter().find(|e| e["name"] == "inner").unwrap();
        let ts = |e: &Json| e["ts"].as_f64().unwrap();
        let end = |e: &Json| ts(e) + e["dur"].as_f64().unwrap();
        assert!(ts(outer) < ts(inner) && end(inner) < end(outer));
        assert_eq!(outer["args"]["id"], 7);
        assert_eq!(outer["tid"], 1);
        let unclosed = x.iter().find(|e| e["name"] == "left open").unwrap();
        assert_eq!(unclosed["args"]["ringtrace.unclosed"], true);
        assert_eq!(unclosed["tid"], 2);
        let orphan = ev.iter().find(|e| e["name"] == "ringtrace: span end without begin: orphan").unwrap();
        assert_eq!(orphan["ph"], "I");
    }

    #[test]
    fn begin_end_style_writes_balanced_pairs() {
        let t = sample_trace();
        let v = convert(&t, SpanStyle::BeginEnd);
        let ev = events(&v);
        let b: Vec<&str> = ev.iter().filter(|e| e["ph"] == "B").map(|e| e["name"].as_str().unwrap()).collect();
        let e: Vec<&str> = ev.iter().filter(|e| e["ph"] == "E").map(|e| e["name"].as_str().unwrap()).collect();
        assert_eq!(b, vec!["outer", "inner", "left open"]);
        assert_eq!(e, vec!["inner", "outer", "left open"]);
    }

    #[test]
    fn loss_and_raw_records_are_visible_markers() {
        let t = sample_trace();
        let v = convert(&t, SpanStyle::Complete);
        let ev = events(&v);
        let loss = ev.iter().find(|e| e["name"] == "ringtrace: 5 events lost").unwrap();
        assert_eq!(loss["ph"], "I");
        assert_eq!(loss["tid"], 2);
        assert_eq!(loss["args"]["lost_events"], 5);
        assert_eq!(loss["args"]["lost_bytes"], 160);
        assert!(loss["args"]["first_ts"].as_f64().unwrap() <= loss["args"]["last_ts"].as_f64().unwrap());
        let raw = ev.iter().find(|e| e["name"] == "raw event 77").unwrap();
        assert_eq!(raw["args"]["payload"], "010203");
    }

    #[test]
    fn strange_text_is_escaped() {
        let t = sample_trace();
        let v = convert(&t, SpanStyle::Complete);
        assert!(events(&v).iter().any(|e| e["name"] == "quote \" and \n newline"));
    }
}
