//! Binary `COPY` encoding: events become rows of PostgreSQL's binary copy format, already
//! framed as `CopyData` messages, so a batch is encoded once and can be sent again unchanged
//! when it is retried (its `batch_id` is part of the bytes).
//!
//! The format (PostgreSQL docs, "COPY", *Binary Format*): the 11-byte signature
//! `PGCOPY\n\xff\r\n\0`, a 32-bit flags word and a 32-bit header-extension length (both 0);
//! per row a 16-bit field count, then per field a 32-bit length (−1 for NULL) and the value in
//! the type's binary `send` form; a 16-bit −1 trailer. All integers are big-endian.
//!
//! | type | binary form |
//! |---|---|
//! | `timestamptz` | `int8` microseconds since 2000-01-01 00:00:00 UTC |
//! | `bigint` / `integer` | `int8` / `int4` |
//! | `boolean` | one byte, 0 or 1 |
//! | `text` | the UTF-8 bytes (the connection's `client_encoding` is `UTF8`) |
//! | `bytea` | the bytes |
//! | `jsonb` | a version byte, 1, then the JSON text |
//!
//! PostgreSQL's `text` and `jsonb` cannot hold a NUL character (U+0000): every NUL in a string
//! is written as U+FFFD (the replacement character). Unsigned values above `i64::MAX` (a
//! `u64` counter, a timestamp after 2262) saturate. Field values keep their types in `jsonb`:
//! integers and floats as JSON numbers (non-finite floats as the strings `"NaN"`, `"inf"`,
//! `"-inf"`), booleans, strings, byte strings as arrays of numbers, errors as their message
//! with a `"<key>.sources"` array beside them when they have a `source()` chain — the same
//! mapping as ringtrace's JSON lines.

use bytes::{BufMut, BytesMut};
use ringtrace::render::{write_json_str, write_json_value};
use ringtrace::{CallsiteKind, Event, RecordKind, Value};
use std::borrow::Cow;

/// The binary copy signature, flags and header-extension length.
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
const PG_EPOCH_UNIX_US: i64 = 946_684_800_000_000;

/// The `timestamptz` value of a Unix time in nanoseconds (whole microseconds, rounded down).
pub(crate) fn pg_timestamp(unix_ns: u64) -> i64 {
    (unix_ns / 1_000) as i64 - PG_EPOCH_UNIX_US
}

/// A row, with everything rendered: what [`CopyWriter::row`] writes.
#[derive(Debug, Clone, Default)]
pub(crate) struct Row<'a> {
    pub ts_unix_ns: u64,
    pub kind: &'a str,
    pub level: Option<&'a str>,
    pub target: Option<&'a str>,
    pub thread_id: u64,
    pub thread_name: &'a str,
    pub os_tid: u64,
    pub message: &'a str,
    /// JSON text.
    pub fields: Option<&'a str>,
    /// JSON text.
    pub context: Option<&'a str>,
    pub file: Option<&'a str>,
    pub line: Option<u32>,
    pub truncated: bool,
    pub event_id: Option<u32>,
    pub payload: Option<&'a [u8]>,
    /// Events, bytes, first and last time (Unix ns).
    pub loss: Option<(u64, u64, u64, u64)>,
    pub batch_id: i64,
}

/// The row's `kind` column.
pub(crate) fn kind_name(ev: &Event<'_>) -> &'static str {
    match ev.kind() {
        RecordKind::Event => match ev.callsite_kind() {
            CallsiteKind::Event => "event",
            CallsiteKind::SpanBegin => "span_begin",
            CallsiteKind::SpanEnd => "span_end",
        },
        RecordKind::Raw => "raw",
        RecordKind::Loss => "loss",
        // Never leaves a ring; named anyway rather than panicking.
        _ => "pad",
    }
}

fn no_nul(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{fffd}"))
    } else {
        Cow::Borrowed(s)
    }
}

/// Appends a JSON string (NULs replaced, see the module doc).
fn json_str(out: &mut String, s: &str) {
    write_json_str(out, &no_nul(s));
}

/// Appends a value as JSON (as ringtrace's JSON lines do, NULs replaced).
fn json_value(out: &mut String, v: &Value<'_>) {
    match v {
        Value::Str(s) | Value::Display(s) | Value::Debug(s) => json_str(out, s),
        Value::Error(e) => json_str(out, e.message()),
        Value::Char('\0') => json_str(out, "\0"),
        v => write_json_value(out, v),
    }
}

/// Writes `pairs` as a JSON object into `out` (cleared first); `false` (and `out` empty) when
/// there are none.
pub(crate) fn json_object<'v>(out: &mut String, pairs: impl Iterator<Item = (&'v str, Value<'v>)>) -> bool {
    out.clear();
    let mut first = true;
    for (k, v) in pairs {
        out.push(if std::mem::take(&mut first) { '{' } else { ',' });
        json_str(out, k);
        out.push(':');
        json_value(out, &v);
        if let Value::Error(e) = v {
            let mut sources = e.sources().peekable();
            if sources.peek().is_some() {
                out.push(',');
                json_str(out, &format!("{k}.sources"));
                out.push_str(":[");
                for (i, s) in sources.enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    json_str(out, s);
                }
                out.push(']');
            }
        }
    }
    if first {
        return false;
    }
    out.push('}');
    true
}

/// Scratch strings reused across events, so encoding allocates only while they grow.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    message: String,
    fields: String,
    context: String,
}

/// Builds an event's row (rendering its message and JSON into `scratch`) and hands it to `f`.
pub(crate) fn with_row<R>(ev: &Event<'_>, batch_id: i64, scratch: &mut Scratch, f: impl FnOnce(&Row<'_>) -> R) -> R {
    scratch.message.clear();
    ev.write_message(&mut scratch.message);
    let is_event = ev.kind() == RecordKind::Event;
    let has_fields = is_event && json_object(&mut scratch.fields, ev.fields());
    let has_context = json_object(&mut scratch.context, ev.context());
    let cs = ev.callsite();
    let thread = ev.thread();
    let loss = ev.loss().map(|l| {
        let clock = ev.clock();
        (l.events, l.bytes, clock.to_unix_ns(l.first_ticks), clock.to_unix_ns(l.last_ticks))
    });
    let raw = ev.kind() == RecordKind::Raw;
    let row = Row {
        ts_unix_ns: ev.unix_nanos(),
        kind: kind_name(ev),
        level: ev.level().map(|l| l.as_str()),
        target: cs.map(|c| c.target.as_str()),
        thread_id: thread.id,
        thread_name: &thread.name,
        os_tid: thread.os_tid,
        message: &scratch.message,
        fields: has_fields.then_some(scratch.fields.as_str()),
        context: has_context.then_some(scratch.context.as_str()),
        file: cs.map(|c| c.file.as_str()).filter(|f| !f.is_empty()),
        line: cs.map(|c| c.line).filter(|&l| l != 0),
        truncated: ev.is_truncated(),
        event_id: raw.then(|| ev.id()),
        payload: raw.then(|| ev.payload()),
        loss,
        batch_id,
    };
    f(&row)
}

/// One batch's `COPY` input: `CopyData` messages holding the binary rows, then `CopyDone`.
#[derive(Debug)]
pub(crate) struct CopyWriter {
    buf: BytesMut,
    /// Offset of the open `CopyData` message's tag byte.
    frame: usize,
    chunk: usize,
    rows: u64,
    /// Smallest and largest `ts` (PostgreSQL microseconds) written.
    ts_range: Option<(i64, i64)>,
}

impl CopyWriter {
    /// An empty writer whose `CopyData` messages hold about `chunk` bytes each.
    pub(crate) fn new(chunk: usize) -> Self {
        Self { buf: BytesMut::new(), frame: 0, chunk, rows: 0, ts_range: None }
    }

    /// Starts a batch: clears the buffer, writes the file header.
    pub(crate) fn begin(&mut self) {
        self.buf.clear();
        self.rows = 0;
        self.ts_range = None;
        self.open_frame();
        self.buf.put_slice(HEADER);
    }

    fn open_frame(&mut self) {
        self.frame = self.buf.len();
        self.buf.put_u8(b'd');
        self.buf.put_i32(0);
    }

    fn close_frame(&mut self) {
        let len = (self.buf.len() - self.frame - 1) as i32;
        self.buf[self.frame + 1..self.frame + 5].copy_from_slice(&len.to_be_bytes());
    }

    fn null(&mut self) {
        self.buf.put_i32(-1);
    }

    fn i64(&mut self, v: i64) {
        self.buf.put_i32(8);
        self.buf.put_i64(v);
    }

    fn u64(&mut self, v: u64) {
        self.i64(i64::try_from(v).unwrap_or(i64::MAX));
    }

    fn bytes(&mut self, b: &[u8]) {
        // A field is at most 1 GiB in PostgreSQL; records are at most 64 KiB.
        self.buf.put_i32(i32::try_from(b.len()).unwrap_or(i32::MAX));
        self.buf.put_slice(b);
    }

    fn text(&mut self, s: &str) {
        self.bytes(no_nul(s).as_bytes());
    }

    fn opt_text(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.text(s),
            None => self.null(),
        }
    }

    /// `jsonb` from JSON text that never contains a NUL (see [`json_object`]).
    fn jsonb(&mut self, json: Option<&str>) {
        match json {
            Some(j) => {
                self.buf.put_i32(i32::try_from(j.len() + 1).unwrap_or(i32::MAX));
                self.buf.put_u8(1);
                self.buf.put_slice(j.as_bytes());
            }
            None => self.null(),
        }
    }

    fn ts(&mut self, unix_ns: u64) {
        self.i64(pg_timestamp(unix_ns));
    }

    /// Appends one row (its columns in [`COLUMNS`](crate::schema::COLUMNS) order).
    pub(crate) fn row(&mut self, r: &Row<'_>) {
        let ts = pg_timestamp(r.ts_unix_ns);
        self.ts_range = Some(match self.ts_range {
            None => (ts, ts),
            Some((lo, hi)) => (lo.min(ts), hi.max(ts)),
        });
        self.buf.put_i16(crate::schema::COLUMNS.len() as i16);
        self.ts(r.ts_unix_ns);
        self.u64(r.ts_unix_ns);
        self.text(r.kind);
        self.opt_text(r.level);
        self.opt_text(r.target);
        self.u64(r.thread_id);
        self.text(r.thread_name);
        self.u64(r.os_tid);
        self.text(r.message);
        self.jsonb(r.fields);
        self.jsonb(r.context);
        self.opt_text(r.file);
        match r.line {
            Some(l) => {
                self.buf.put_i32(4);
                self.buf.put_i32(i32::try_from(l).unwrap_or(i32::MAX));
            }
            None => self.null(),
        }
        self.buf.put_i32(1);
        self.buf.put_u8(r.truncated as u8);
        match r.event_id {
            Some(id) => {
                self.buf.put_i32(4);
                self.buf.put_i32(id as i32);
            }
            None => self.null(),
        }
        match r.payload {
            Some(p) => self.bytes(p),
            None => self.null(),
        }
        match r.loss {
            Some((events, bytes, first, last)) => {
                self.u64(events);
                self.u64(bytes);
                self.ts(first);
                self.ts(last);
            }
            None => (0..4).for_each(|_| self.null()),
        }
        self.i64(r.batch_id);
        self.rows += 1;
        if self.buf.len() - self.frame >= self.chunk {
            self.close_frame();
            self.open_frame();
        }
    }

    /// Ends the batch: the trailer, the last `CopyData`, then `CopyDone`. Returns the bytes to
    /// send after the `COPY` statement.
    pub(crate) fn finish(&mut self) -> &[u8] {
        self.buf.put_i16(-1);
        self.close_frame();
        self.buf.put_u8(b'c');
        self.buf.put_i32(4);
        &self.buf
    }

    /// The bytes of the finished batch.
    pub(crate) fn bytes_ready(&self) -> &[u8] {
        &self.buf
    }

    /// Rows written since `begin`.
    pub(crate) fn rows(&self) -> u64 {
        self.rows
    }

    /// The smallest and largest `ts` written, as microseconds since the Unix epoch.
    pub(crate) fn ts_range_unix_us(&self) -> Option<(i64, i64)> {
        self.ts_range.map(|(lo, hi)| (lo + PG_EPOCH_UNIX_US, hi + PG_EPOCH_UNIX_US))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::COLUMNS;

    /// Splits `CopyData` framing off and returns the payload, checking the `CopyDone` at the end.
    fn unframe(b: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut i = 0;
        loop {
            let tag = b[i];
            let len = i32::from_be_bytes(b[i + 1..i + 5].try_into().unwrap()) as usize;
            match tag {
                b'd' => out.extend_from_slice(&b[i + 5..i + 1 + len]),
                b'c' => {
                    assert_eq!((len, i + 5), (4, b.len()), "CopyDone ends the input");
                    return out;
                }
                t => panic!("unexpected message {t}"),
            }
            i += 1 + len;
        }
    }

    /// Parses binary copy data into rows of optional field bytes.
    fn parse(p: &[u8]) -> Vec<Vec<Option<Vec<u8>>>> {
        assert_eq!(&p[..19], HEADER);
        let mut i = 19;
        let mut rows = Vec::new();
        loop {
            let n = i16::from_be_bytes([p[i], p[i + 1]]);
            i += 2;
            if n == -1 {
                assert_eq!(i, p.len(), "nothing after the trailer");
                return rows;
            }
            let mut row = Vec::new();
            for _ in 0..n {
                let len = i32::from_be_bytes(p[i..i + 4].try_into().unwrap());
                i += 4;
                if len < 0 {
                    row.push(None);
                } else {
                    row.push(Some(p[i..i + len as usize].to_vec()));
                    i += len as usize;
                }
            }
            rows.push(row);
        }
    }

    fn col(name: &str) -> usize {
        COLUMNS.iter().position(|c| c.name == name).unwrap()
    }

    fn sample(i: u64) -> Row<'static> {
        Row {
            ts_unix_ns: 1_700_000_000_123_456_789 + i,
            kind: "event",
            level: Some("INFO"),
            target: Some("app::orders"),
            thread_id: 3,
            thread_name: "worker\0-3",
            os_tid: 777,
            message: "order filled",
            fields: Some(r#"{"qty":10}"#),
            context: None,
            file: Some("src/main.rs"),
            line: Some(42),
            truncated: false,
            event_id: None,
            payload: None,
            loss: None,
            batch_id: -5,
        }
    }

    #[test]
    fn rows_round_trip_through_the_binary_format() {
        let mut w = CopyWriter::new(1024);
        w.begin();
        w.row(&sample(0));
        let loss = Row {
            kind: "loss",
            level: None,
            target: None,
            fields: None,
            file: None,
            line: None,
            loss: Some((43, 1376, 946_684_800_000_001_000, u64::MAX)),
            ..sample(1)
        };
        w.row(&loss);
        let raw = Row { kind: "raw", event_id: Some(u32::MAX), payload: Some(&[0, 1, 255]), ..sample(2) };
        w.row(&raw);
        assert_eq!(w.rows(), 3);
        let rows = parse(&unframe(w.finish()));
        assert_eq!(rows.len(), 3);
        for r in &rows {
            assert_eq!(r.len(), COLUMNS.len());
        }
        let r = &rows[0];
        let i8 = |b: &Option<Vec<u8>>| i64::from_be_bytes(b.as_deref().unwrap().try_into().unwrap());
        // 2023-11-14T22:13:20.123456789Z: microseconds since 2000-01-01, rounded down.
        assert_eq!(i8(&r[col("ts")]), 1_700_000_000_123_456 - 946_684_800_000_000);
        assert_eq!(i8(&r[col("ts_unix_ns")]), 1_700_000_000_123_456_789);
        assert_eq!(r[col("kind")].as_deref(), Some(&b"event"[..]));
        assert_eq!(r[col("level")].as_deref(), Some(&b"INFO"[..]));
        assert_eq!(r[col("thread_name")].as_deref(), Some("worker\u{fffd}-3".as_bytes()), "NUL replaced");
        assert_eq!(r[col("fields")].as_deref(), Some(&b"\x01{\"qty\":10}"[..]), "jsonb version 1");
        assert_eq!(r[col("context")], None);
        assert_eq!(r[col("line")].as_deref(), Some(&42i32.to_be_bytes()[..]));
        assert_eq!(r[col("truncated")].as_deref(), Some(&[0u8][..]));
        assert_eq!(i8(&r[col("batch_id")]), -5);
        for c in ["event_id", "payload", "lost_events", "lost_bytes", "lost_first_ts", "lost_last_ts"] {
            assert_eq!(r[col(c)], None, "{c}");
        }
        let l = &rows[1];
        assert_eq!((l[col("level")].as_ref(), l[col("line")].as_ref()), (None, None));
        assert_eq!(i8(&l[col("lost_events")]), 43);
        assert_eq!(i8(&l[col("lost_bytes")]), 1376);
        assert_eq!(i8(&l[col("lost_first_ts")]), 1);
        assert_eq!(i8(&l[col("lost_last_ts")]), (u64::MAX / 1000) as i64 - PG_EPOCH_UNIX_US);
        let x = &rows[2];
        assert_eq!(x[col("event_id")].as_deref(), Some(&[0xff; 4][..]));
        assert_eq!(x[col("payload")].as_deref(), Some(&[0u8, 1, 255][..]));
        let (lo, hi) = w.ts_range_unix_us().unwrap();
        assert_eq!((lo, hi), (1_700_000_000_123_456, 1_700_000_000_123_456));
    }

    /// R-BP-6 (issue 18) on a live runtime: the row of a real gap's loss record has `ts` (and
    /// `ts_unix_ns`) at the gap's opening, and `lost_first_ts` / `lost_last_ts` at its opening and
    /// closing, between the rows around it.
    #[cfg(not(feature = "loom"))]
    #[test]
    fn a_live_loss_row_spans_from_the_gaps_opening_to_its_closing() {
        use crate::test_common::gap::{self, Mark, Times};
        /// The event's row, through the COPY encoding.
        fn keep(ev: &Event<'_>) -> (Mark, Vec<Option<Vec<u8>>>) {
            let mut w = CopyWriter::new(1 << 16);
            w.begin();
            with_row(ev, 1, &mut Scratch::default(), |r| w.row(r));
            let mut rows = parse(&unframe(w.finish()));
            assert_eq!(rows.len(), 1);
            (Mark::of(ev), rows.remove(0))
        }
        let g = gap::provoke(Vec::new(), keep);
        let i8 = |r: &[Option<Vec<u8>>], c: &str| i64::from_be_bytes(r[col(c)].as_deref().unwrap().try_into().unwrap());
        let rows: Vec<&[Option<Vec<u8>>]> = g.kept.iter().map(|k| k.1.as_slice()).collect();
        for (i, (r, m)) in rows.iter().zip(g.marks()).enumerate() {
            assert_eq!(i8(r, "ts_unix_ns"), m.unix_ns as i64, "row {i}");
            assert_eq!(i8(r, "ts"), pg_timestamp(m.unix_ns), "row {i}");
        }
        let l = rows[g.loss_at];
        assert_eq!(l[col("kind")].as_deref(), Some(&b"loss"[..]));
        assert_eq!((i8(l, "lost_events"), i8(l, "lost_bytes")), (g.info().events as i64, g.info().bytes as i64));
        let (prev, next) = (rows[g.loss_at - 1], rows[g.loss_at + 1]);
        // timestamptz: microseconds since 2000, rounded down.
        let got = Times {
            at: i8(l, "ts"),
            first: i8(l, "lost_first_ts"),
            last: i8(l, "lost_last_ts"),
            prev: i8(prev, "ts"),
            next: i8(next, "ts"),
        };
        g.check("postgres timestamptz", got, pg_timestamp);
        // The exact column: the gap's opening to the nanosecond.
        assert_eq!(i8(l, "ts_unix_ns"), g.loss().loss_ns.unwrap().0 as i64);
    }

    /// Issue 19 item 1: a span recorded through `ringtrace-tracing`'s layer, with a value
    /// recorded after creation (`Span::record`) and an event inside it. Through the COPY
    /// encoding, the `span_end` row's `fields` (jsonb) hold the recorded value and the span's
    /// `span.id`, and the `span_begin` and `event` rows the same `span.id`.
    #[cfg(not(feature = "loom"))]
    #[test]
    fn span_rows_carry_recorded_values_and_span_ids() {
        use tracing_subscriber::layer::SubscriberExt;
        /// The event's row, through the COPY encoding.
        fn keep(ev: &Event<'_>) -> Vec<Option<Vec<u8>>> {
            let mut w = CopyWriter::new(1 << 16);
            w.begin();
            with_row(ev, 1, &mut Scratch::default(), |r| w.row(r));
            parse(&unframe(w.finish())).remove(0)
        }
        let _s = crate::test_common::serial();
        let gate = crate::test_common::Gate::new(true, keep);
        let guard = ringtrace::Builder::new()
            .ignore_env()
            .diagnostics(ringtrace::DiagnosticSink::Off)
            .sink(gate.clone())
            .install()
            .unwrap();
        let subscriber = tracing_subscriber::registry().with(ringtrace_tracing::RingtraceLayer::new());
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", id = 7u64, status = tracing::field::Empty);
            let _e = span.enter();
            tracing::info!(n = 1u64, "inside");
            span.record("status", 200u64);
        });
        let report = guard.shutdown(std::time::Duration::from_secs(10));
        assert!(!report.timed_out && report.sink_errors.is_empty(), "{report:?}");
        let rows = gate.got();
        let text = |r: &[Option<Vec<u8>>], c: &str| String::from_utf8(r[col(c)].clone().unwrap()).unwrap();
        let kinds: Vec<String> = rows.iter().map(|r| text(r, "kind")).collect();
        assert_eq!(kinds, ["span_begin", "event", "span_end"]);
        let fields: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                let b = r[col("fields")].as_deref().expect("fields is not NULL");
                assert_eq!(b[0], 1, "jsonb version 1");
                serde_json::from_slice(&b[1..]).unwrap()
            })
            .collect();
        let id = fields[0]["span.id"].as_u64().expect("the begin row carries span.id");
        assert_eq!(fields[0], serde_json::json!({"id": 7, "span.id": id}), "no status yet at the begin");
        assert_eq!(fields[1], serde_json::json!({"n": 1, "span.id": id}));
        assert_eq!(fields[2], serde_json::json!({"id": 7, "status": 200, "span.id": id}), "the recorded value");
        assert_eq!(text(&rows[2], "message"), "request");
    }

    #[test]
    fn big_batches_are_split_into_copy_data_messages() {
        let mut w = CopyWriter::new(1024);
        w.begin();
        for i in 0..1000 {
            w.row(&sample(i));
        }
        let bytes = w.finish().to_vec();
        let frames = {
            let (mut i, mut n) = (0, 0);
            while bytes[i] == b'd' {
                n += 1;
                i += 1 + i32::from_be_bytes(bytes[i + 1..i + 5].try_into().unwrap()) as usize;
            }
            n
        };
        assert!(frames > 50, "{frames} CopyData messages");
        assert_eq!(parse(&unframe(&bytes)).len(), 1000);
        // Reusable: a second batch starts from scratch.
        w.begin();
        w.row(&sample(0));
        assert_eq!(parse(&unframe(w.finish())).len(), 1);
    }

    #[test]
    fn json_objects_keep_types_and_never_contain_nul() {
        let mut s = String::new();
        assert!(!json_object(&mut s, std::iter::empty()));
        assert!(s.is_empty());
        let pairs = [
            ("u", Value::U64(u64::MAX)),
            ("i", Value::I8(-3)),
            ("f", Value::F64(1.5)),
            ("nan", Value::F32(f32::NAN)),
            ("b", Value::Bool(true)),
            ("s", Value::Str("a\"b\0c")),
            ("c", Value::Char('\0')),
            ("d", Value::Display("x\0")),
            ("bytes", Value::Bytes(&[1, 2])),
            ("bad", Value::Invalid),
        ];
        assert!(json_object(&mut s, pairs.into_iter()));
        assert!(!s.contains("\\u0000"), "{s}");
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["u"], serde_json::json!(u64::MAX));
        assert_eq!(v["i"], -3);
        assert_eq!(v["f"], 1.5);
        assert_eq!(v["nan"], "NaN");
        assert_eq!(v["b"], true);
        assert_eq!(v["s"], "a\"b\u{fffd}c");
        assert_eq!(v["c"], "\u{fffd}");
        assert_eq!(v["d"], "x\u{fffd}");
        assert_eq!(v["bytes"], serde_json::json!([1, 2]));
        assert_eq!(v["bad"], serde_json::Value::Null);
    }

    #[test]
    fn timestamps_convert_to_the_postgres_epoch() {
        assert_eq!(pg_timestamp(946_684_800_000_000_000), 0);
        assert_eq!(pg_timestamp(0), -946_684_800_000_000);
        assert_eq!(pg_timestamp(946_684_800_000_001_999), 1, "rounded down to the microsecond");
    }
}
