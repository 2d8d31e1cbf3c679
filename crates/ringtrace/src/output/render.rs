//! Human text and JSON lines: how an [`Event`] becomes one line of output.
//!
//! Used by the text and JSON sinks and by `ringtrace decode`, so a live run and a decoded
//! trace file print the same bytes.
//!
//! # Text
//!
//! ```text
//! 2026-11-22T14:04:05.123456789Z  INFO [worker-3] {request_id=42} demo::orders: order 7 filled qty=10 side="buy"
//! ```
//!
//! Timestamp (UTC, nanoseconds), level right-aligned to 5, `[thread name]`, the bound context
//! in braces if any, `target: `, the message, then ` key=value` per field. Values: numbers and
//! `bool` as `Display`, strings, chars and byte strings as `Debug` (quoted), `%x`/`?x`
//! captures verbatim, errors as their message with ` key.sources=[…]` when they have a
//! source chain. A cut-short event ends with ` [truncated]`.
//!
//! # Length limit
//!
//! A line is built for every event, also from trace files, whose format strings and field
//! names are data: one line holds at most [`MAX_LINE_LEN`] (1 MiB) of text before it is cut.
//! The message is rendered with what is left of that budget after the line's start (cut at a
//! `char` boundary, see [`Template::render`](crate::Template::render)), and no more fields
//! are written once the line is past it; either cut marks the event as cut, as a record cut to
//! fit `max_record_size` is (` [truncated]`, `"truncated":true`). A line can pass the limit by
//! the one field being written when it was reached and by JSON escaping of what was kept, so
//! one line never takes more than about 8 MiB, whatever the input. Events recorded by a program
//! with ordinary widths are far below the limit (a record holds at most 64 KiB of values) and
//! render exactly as `format!` would.
//!
//! # JSON lines
//!
//! ```text
//! {"ts":"2026-11-22T14:04:05.123456789Z","level":"INFO","thread":"worker-3","thread_id":3,"target":"demo::orders","message":"order 7 filled","fields":{"qty":10,"side":"buy"},"ctx":{"request_id":42}}
//! ```
//!
//! Span edges (callsites of kind [`CallsiteKind::SpanBegin`] / [`CallsiteKind::SpanEnd`]) carry
//! `"span":"begin"` or `"span":"end"` after the level, and the span's name as the message; in
//! text they read `enter span NAME` / `exit span NAME`.
//! `fields` and `ctx` are omitted when empty, `"truncated":true` appears only when true.
//! Integers are JSON numbers, finite floats are numbers (Rust's shortest round-trip form),
//! NaN and infinities are the strings `"NaN"`, `"inf"`, `"-inf"`, bytes are arrays of numbers,
//! an undecodable value is `null`. Raw records carry `"kind":"raw"`, `"event_id"` and the
//! payload in hex; loss records carry `"kind":"loss"` and the counts.

use crate::callsite::CallsiteKind;
use crate::level::Level;
use crate::output::event::{CallsiteInfo, Event, ThreadInfo};
use crate::output::numfmt::{digit_pair, push_f32, push_f64, push_number, push_u64, put};
use crate::output::template::json_needs_escape;
use crate::wire::record::RecordKind;
use crate::wire::value::{skip_values, Value};
use std::cell::Cell;
use std::fmt::Write;

/// Appends `unix_ns` as an RFC 3339 UTC timestamp with nanoseconds
/// (`2026-11-22T14:04:05.123456789Z`).
pub fn write_timestamp(out: &mut String, unix_ns: u64) {
    // Consecutive events mostly fall in the same second: this thread keeps its date and time.
    let mut second = LAST_SECOND.try_with(Cell::get).unwrap_or(NO_SECOND);
    push_timestamp(out, unix_ns, &mut second);
    let _ = LAST_SECOND.try_with(|c| c.set(second));
}

/// A second since the epoch and its `YYYY-MM-DDTHH:MM:SS` text.
type SecondText = (u64, [u8; SECOND_LEN]);

/// No second yet: `u64::MAX` seconds is past any `u64` of nanoseconds, so it never matches.
const NO_SECOND: SecondText = (u64::MAX, [0; SECOND_LEN]);

/// [`write_timestamp`] with the caller's cache of the last second formatted.
#[inline]
fn push_timestamp(out: &mut String, unix_ns: u64, second: &mut SecondText) {
    let secs = unix_ns / 1_000_000_000;
    let nanos = (unix_ns % 1_000_000_000) as u32;
    // The text is built on the stack and appended at once (one capacity check, not thirty).
    let mut buf = *b"0000-00-00T00:00:00.000000000Z";
    if second.0 != secs {
        *second = (secs, second_text(secs));
    }
    buf[..SECOND_LEN].copy_from_slice(&second.1);
    crate::output::numfmt::put_digits(&mut buf[20..29], u64::from(nanos));
    // SAFETY: `buf` is ASCII: the template's bytes and decimal digits.
    out.push_str(unsafe { std::str::from_utf8_unchecked(&buf) });
}

/// `YYYY-MM-DDTHH:MM:SS` of a second since the epoch.
#[cold]
fn second_text(secs: u64) -> [u8; SECOND_LEN] {
    let mut text = *b"0000-00-00T00:00:00";
    let days = (secs / 86_400) as i64;
    let rem = (secs % 86_400) as u32;
    let (y, m, d) = civil_from_days(days);
    // Years from a `u64` of nanoseconds are 1970..=2554: always four digits.
    let y = y as u32;
    for (at, n) in [(0, y / 100), (2, y % 100), (5, m), (8, d), (11, rem / 3600), (14, rem / 60 % 60), (17, rem % 60)] {
        text[at..at + 2].copy_from_slice(&digit_pair(n));
    }
    text
}

/// Length of `YYYY-MM-DDTHH:MM:SS`.
const SECOND_LEN: usize = 19;

thread_local! {
    /// The second (since the epoch) last formatted by [`write_timestamp`] on this thread and
    /// its `YYYY-MM-DDTHH:MM:SS` text.
    static LAST_SECOND: Cell<SecondText> = const { Cell::new(NO_SECOND) };
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Appends a value as a text field value (see the module doc).
pub fn write_text_value(out: &mut String, v: &Value<'_>) {
    match v {
        Value::Str(_) | Value::Char(_) | Value::Bytes(_) => {
            let _ = write!(out, "{v:?}");
        }
        Value::Invalid => out.push_str("<invalid>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Display(s) | Value::Debug(s) => out.push_str(s),
        Value::Error(e) => out.push_str(e.message()),
        _ => {
            if !push_number(out, v) {
                let _ = write!(out, "{v}");
            }
        }
    }
}

/// Appends ` key=value` for one field, plus ` key.sources=[…]` for errors with a chain.
fn write_text_field(out: &mut String, key: &str, v: &Value<'_>) {
    out.push(' ');
    out.push_str(key);
    out.push('=');
    write_text_value(out, v);
    if let Value::Error(e) = v {
        let mut sources = e.sources().peekable();
        if sources.peek().is_some() {
            out.push(' ');
            out.push_str(key);
            out.push_str(".sources=[");
            for (i, s) in sources.enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(s);
            }
            out.push(']');
        }
    }
}

/// Text a line holds before it is cut (1 MiB; see the module doc's "Length limit").
pub const MAX_LINE_LEN: usize = 1 << 20;

/// What is left of a line's budget once `out` holds what was written since `line_start`.
fn budget(out: &str, line_start: usize) -> usize {
    MAX_LINE_LEN.saturating_sub(out.len() - line_start)
}

/// The level column of a text line: ` {level:>5} [{thread}]`.
fn push_text_head(out: &mut String, level: &str, thread: &str) {
    out.push(' ');
    // `{:>5}` pads by chars; every level name is ASCII.
    for _ in level.len()..5 {
        out.push(' ');
    }
    out.push_str(level);
    out.push_str(" [");
    out.push_str(thread);
    out.push(']');
}

/// What follows the context on an event's text line: ` {target}: `, and the span edge.
fn push_text_tail(out: &mut String, target: &str, kind: CallsiteKind) {
    out.push(' ');
    out.push_str(target);
    out.push_str(": ");
    match kind {
        CallsiteKind::Event => {}
        CallsiteKind::SpanBegin => out.push_str("enter span "),
        CallsiteKind::SpanEnd => out.push_str("exit span "),
    }
}

/// ` {k=v …}`: the bound context of a text line, if any.
fn push_text_context<'a>(out: &mut String, ctx: impl Iterator<Item = (&'a str, Value<'a>)>) {
    let mut any = false;
    for (k, v) in ctx {
        out.push_str(if any { " " } else { " {" });
        any = true;
        out.push_str(k);
        out.push('=');
        write_text_value(out, &v);
    }
    if any {
        out.push('}');
    }
}

/// An event's message, at most `limit` bytes; `true` if it was cut. Sequential templates
/// decode their values as they go ([`Template::render_seq`](crate::Template)), the rest as
/// [`Event::write_message_within`] does.
#[inline]
fn push_message(ev: &Event<'_>, cs: &CallsiteInfo, out: &mut String, limit: usize) -> bool {
    let t = cs.template();
    // A plain template that cannot reach the limit (its literal text, a bound per value and
    // the values' own bytes): straight from the encoded values, no cut to watch for.
    if t.is_plain() && t.plain_bound().saturating_add(ev.payload().len()) <= limit {
        t.render_plain_encoded(message_bytes(ev, cs), out, &mut put);
        return false;
    }
    if t.is_sequential() {
        t.render_seq(ev.args(), out, limit)
    } else {
        ev.write_message_within(out, limit)
    }
}

/// The encoded message arguments of an event: its values after the callsite's fields.
#[inline]
fn message_bytes<'a>(ev: &Event<'a>, cs: &CallsiteInfo) -> &'a [u8] {
    skip_values(ev.value_bytes(), cs.fields.len())
}

/// The message and the fields of an event's text line, and what ends the line.
fn finish_text_line(ev: &Event<'_>, cs: &CallsiteInfo, out: &mut String, line_start: usize) {
    let mut cut = push_message(ev, cs, out, budget(out, line_start));
    let fields = if cs.fields.is_empty() { None } else { Some(ev.fields()) };
    for (k, v) in fields.into_iter().flatten() {
        if cut || budget(out, line_start) == 0 {
            cut = true;
            break;
        }
        write_text_field(out, k, &v);
    }
    if ev.is_truncated() || cut {
        out.push_str(" [truncated]");
    }
    put(out, "\n");
}

/// Appends one event as a line of human-readable text, newline included (at most
/// [`MAX_LINE_LEN`] of message and fields; see the module doc).
///
/// A sink rendering many events uses a [`Renderer`], which writes the same bytes faster.
pub fn render_text(ev: &Event<'_>, out: &mut String) {
    let line_start = out.len();
    write_timestamp(out, ev.unix_nanos());
    if let (RecordKind::Event, Some(cs)) = (ev.kind(), ev.callsite()) {
        push_text_head(out, cs.level.as_str(), &ev.thread().name);
        push_text_context(out, ev.context());
        push_text_tail(out, &cs.target, cs.kind);
        finish_text_line(ev, cs, out, line_start);
        return;
    }
    let level = match ev.kind() {
        RecordKind::Event => "?",
        RecordKind::Raw => "RAW",
        RecordKind::Loss => "LOSS",
        RecordKind::Pad => "PAD",
    };
    push_text_head(out, level, &ev.thread().name);
    push_text_context(out, ev.context());
    out.push(' ');
    let mut cut = false;
    match ev.kind() {
        RecordKind::Event => {
            // An unknown callsite: no target, a generated message, no fields.
            out.push_str(": ");
            cut = ev.write_message_within(out, budget(out, line_start));
        }
        RecordKind::Raw => {
            let _ = write!(out, "event_id={} payload=", ev.id());
            write_hex(out, ev.payload());
        }
        RecordKind::Loss => {
            let l = ev.loss().unwrap_or_default();
            let _ = write!(out, "ringtrace: lost {} events ({} bytes) from ", l.events, l.bytes);
            write_timestamp(out, ev.clock().to_unix_ns(l.first_ticks));
            out.push_str(" to ");
            write_timestamp(out, ev.clock().to_unix_ns(l.last_ticks));
        }
        RecordKind::Pad => {}
    }
    if ev.is_truncated() || cut {
        out.push_str(" [truncated]");
    }
    out.push('\n');
}

fn write_hex(out: &mut String, b: &[u8]) {
    for byte in b {
        let _ = write!(out, "{byte:02x}");
    }
}

/// Appends `s` as a JSON string literal (quotes included).
pub fn write_json_str(out: &mut String, s: &str) {
    out.push('"');
    write_json_str_body(out, s);
    out.push('"');
}

/// Appends `s` escaped for a JSON string literal, without the quotes.
fn write_json_str_body(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !json_needs_escape(b) {
            continue;
        }
        out.push_str(&s[start..i]);
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            _ => {
                out.push_str("\\u00");
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 0xf)] as char);
            }
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

/// Appends a value as JSON (see the module doc).
pub fn write_json_value(out: &mut String, v: &Value<'_>) {
    fn non_finite(out: &mut String, f: f64) {
        out.push_str(if f.is_nan() {
            "\"NaN\""
        } else if f > 0.0 {
            "\"inf\""
        } else {
            "\"-inf\""
        });
    }
    match v {
        Value::F32(f) if f.is_finite() => push_f32(out, *f),
        Value::F64(f) if f.is_finite() => push_f64(out, *f),
        Value::F32(f) => non_finite(out, f64::from(*f)),
        Value::F64(f) => non_finite(out, *f),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Char(c) => {
            let mut buf = [0u8; 4];
            write_json_str(out, c.encode_utf8(&mut buf));
        }
        Value::Str(s) | Value::Display(s) | Value::Debug(s) => write_json_str(out, s),
        Value::Error(e) => write_json_str(out, e.message()),
        Value::Bytes(b) => {
            out.push('[');
            for (i, byte) in b.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_u64(out, u64::from(*byte));
            }
            out.push(']');
        }
        Value::Invalid => out.push_str("null"),
        _ => {
            if !push_number(out, v) {
                let _ = write!(out, "{v}");
            }
        }
    }
}

fn write_json_field(out: &mut String, first: &mut bool, key: &str, v: &Value<'_>) {
    if !std::mem::take(first) {
        out.push(',');
    }
    write_json_str(out, key);
    out.push(':');
    write_json_value(out, v);
    if let Value::Error(e) = v {
        let mut sources = e.sources().peekable();
        if sources.peek().is_some() {
            out.push(',');
            write_json_str(out, &format!("{key}.sources"));
            out.push_str(":[");
            for (i, s) in sources.enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_str(out, s);
            }
            out.push(']');
        }
    }
}

/// What follows the timestamp on an event's JSON line, up to the message's opening quote:
/// `","level":"INFO"` (and the span edge), the thread, its id and the target.
fn push_json_head(out: &mut String, level: Level, kind: CallsiteKind, thread: &ThreadInfo, target: &str) {
    out.push_str("\",\"level\":\"");
    out.push_str(level.as_str());
    out.push('"');
    if kind != CallsiteKind::Event {
        out.push_str(",\"span\":\"");
        out.push_str(kind.as_str());
        out.push('"');
    }
    out.push_str(",\"thread\":");
    write_json_str(out, &thread.name);
    out.push_str(",\"thread_id\":");
    push_u64(out, thread.id);
    out.push_str(",\"target\":");
    write_json_str(out, target);
    out.push_str(",\"message\":\"");
}

/// An event's message escaped for JSON, at most `limit` bytes of it before escaping; `true`
/// if it was cut.
#[inline]
fn push_json_message(ev: &Event<'_>, cs: &CallsiteInfo, out: &mut String, limit: usize) -> bool {
    let t = cs.template();
    // A plain template that cannot reach the limit (its literal text, a bound per value and
    // the values' own bytes): escaped piece by piece, in one pass.
    if t.is_plain() && t.plain_bound().saturating_add(ev.payload().len()) <= limit {
        t.render_plain_encoded(message_bytes(ev, cs), out, &mut write_json_str_body);
        return false;
    }
    // Rendered in place; escaped afterwards only if it needs it (rarely: no allocation in the
    // common case).
    let start = out.len();
    let cut = push_message(ev, cs, out, limit);
    if out.as_bytes()[start..].iter().any(|&b| json_needs_escape(b)) {
        let msg = out.split_off(start);
        write_json_str_body(out, &msg);
    }
    cut
}

/// The rest of an event's JSON line after the message's opening quote.
fn finish_json_event(ev: &Event<'_>, cs: &CallsiteInfo, out: &mut String, line_start: usize) {
    let mut cut = push_json_message(ev, cs, out, budget(out, line_start));
    put(out, "\"");
    let mut fields = ev.fields().peekable();
    // A message that used the whole budget leaves the fields out.
    if !cut && !cs.fields.is_empty() && fields.peek().is_some() {
        out.push_str(",\"fields\":{");
        let mut first = true;
        for (k, v) in fields {
            if budget(out, line_start) == 0 {
                cut = true;
                break;
            }
            write_json_field(out, &mut first, k, &v);
        }
        out.push('}');
    }
    finish_json_line(ev, out, cut);
}

/// The context, the truncation mark and the end of a JSON line.
fn finish_json_line(ev: &Event<'_>, out: &mut String, cut: bool) {
    let mut ctx = ev.context().peekable();
    if ctx.peek().is_some() {
        out.push_str(",\"ctx\":{");
        let mut first = true;
        for (k, v) in ctx {
            write_json_field(out, &mut first, k, &v);
        }
        out.push('}');
    }
    if ev.is_truncated() || cut {
        out.push_str(",\"truncated\":true");
    }
    put(out, "}\n");
}

/// Appends one event as a JSON object on one line, newline included (at most
/// [`MAX_LINE_LEN`] of message and fields before escaping; see the module doc).
///
/// A sink rendering many events uses a [`Renderer`], which writes the same bytes faster.
pub fn render_json(ev: &Event<'_>, out: &mut String) {
    let line_start = out.len();
    out.push_str("{\"ts\":\"");
    write_timestamp(out, ev.unix_nanos());
    if let (RecordKind::Event, Some(cs)) = (ev.kind(), ev.callsite()) {
        push_json_head(out, cs.level, cs.kind, ev.thread(), &cs.target);
        finish_json_event(ev, cs, out, line_start);
        return;
    }
    out.push('"');
    match ev.kind() {
        RecordKind::Event => out.push_str(",\"level\":\"?\""),
        kind => {
            out.push_str(",\"kind\":\"");
            out.push_str(kind.as_str());
            out.push('"');
        }
    }
    out.push_str(",\"thread\":");
    write_json_str(out, &ev.thread().name);
    out.push_str(",\"thread_id\":");
    push_u64(out, ev.thread().id);
    let mut cut = false;
    match ev.kind() {
        RecordKind::Event => {
            // An unknown callsite: an empty target, a generated message, no fields.
            out.push_str(",\"target\":\"\",\"message\":\"");
            let start = out.len();
            cut = ev.write_message_within(out, budget(out, line_start));
            if out.as_bytes()[start..].iter().any(|&b| json_needs_escape(b)) {
                let msg = out.split_off(start);
                write_json_str_body(out, &msg);
            }
            out.push('"');
        }
        RecordKind::Raw => {
            let _ = write!(out, ",\"event_id\":{},\"payload\":\"", ev.id());
            write_hex(out, ev.payload());
            out.push('"');
        }
        RecordKind::Loss => {
            let l = ev.loss().unwrap_or_default();
            let _ = write!(out, ",\"lost_events\":{},\"lost_bytes\":{},\"first_ts\":\"", l.events, l.bytes);
            write_timestamp(out, ev.clock().to_unix_ns(l.first_ticks));
            out.push_str("\",\"last_ts\":\"");
            write_timestamp(out, ev.clock().to_unix_ns(l.last_ticks));
            out.push('"');
        }
        RecordKind::Pad => {}
    }
    finish_json_line(ev, out, cut);
}

/// Renders events as text or JSON lines, byte-identical to [`render_text`] and
/// [`render_json`], keeping what repeats from line to line: the date and time of the last
/// second, and per (callsite, thread) the constant part of the line (text:
/// ` INFO [thread]` and ` target: `; JSON: from the level to the message's opening quote,
/// escaped once).
///
/// The constant parts live in a direct-mapped table of [`Renderer::SLOTS`] entries per
/// format, each checked against the event's callsite and thread before use (so callsites and
/// threads from different sources never mix); a part longer than
/// [`Renderer::MAX_CACHED`] bytes is built in place every time instead. The table so holds at
/// most about `SLOTS × 3 × MAX_CACHED` bytes per format, whatever the input.
///
/// ```
/// # use ringtrace::render::Renderer;
/// # fn f(batch: &ringtrace::Batch<'_>) {
/// let mut r = Renderer::new();
/// let mut out = String::new();
/// for ev in batch.iter() {
///     r.text(&ev, &mut out);
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct Renderer {
    second: SecondText,
    text: PrefixCache,
    json: PrefixCache,
}

impl Default for Renderer {
    fn default() -> Self {
        Self::new()
    }
}

impl Renderer {
    /// Entries of each format's table of constant line parts (256).
    pub const SLOTS: usize = 256;

    /// The longest thread name plus target whose line parts are kept (512 bytes).
    pub const MAX_CACHED: usize = 512;

    /// A renderer with nothing cached yet (allocates nothing until it renders).
    pub fn new() -> Self {
        Self { second: NO_SECOND, text: PrefixCache::default(), json: PrefixCache::default() }
    }

    /// Appends `ev` as a text line: the bytes [`render_text`] appends.
    pub fn text(&mut self, ev: &Event<'_>, out: &mut String) {
        let Some(cs) = ev.callsite().filter(|_| ev.kind() == RecordKind::Event) else {
            return render_text(ev, out);
        };
        let line_start = out.len();
        push_timestamp(out, ev.unix_nanos(), &mut self.second);
        let thread = ev.thread();
        // Records without the context flag have none (with it, the context may still be empty).
        let mut ctx = ev.has_context().then(|| ev.context().peekable());
        let no_ctx = ctx.as_mut().is_none_or(|c| c.peek().is_none());
        let ctx = ctx.into_iter().flatten();
        match self.text.get(cs, thread, |s| {
            push_text_head(s, cs.level.as_str(), &thread.name);
            let split = s.len();
            push_text_tail(s, &cs.target, cs.kind);
            split
        }) {
            Some(p) if no_ctx => put(out, &p.text),
            Some(p) => {
                put(out, &p.text[..p.split]);
                push_text_context(out, ctx);
                put(out, &p.text[p.split..]);
            }
            None => {
                push_text_head(out, cs.level.as_str(), &thread.name);
                push_text_context(out, ctx);
                push_text_tail(out, &cs.target, cs.kind);
            }
        }
        finish_text_line(ev, cs, out, line_start);
    }

    /// Appends `ev` as a JSON line: the bytes [`render_json`] appends.
    pub fn json(&mut self, ev: &Event<'_>, out: &mut String) {
        let Some(cs) = ev.callsite().filter(|_| ev.kind() == RecordKind::Event) else {
            return render_json(ev, out);
        };
        let line_start = out.len();
        out.push_str("{\"ts\":\"");
        push_timestamp(out, ev.unix_nanos(), &mut self.second);
        let thread = ev.thread();
        let head = |s: &mut String| {
            push_json_head(s, cs.level, cs.kind, thread, &cs.target);
            s.len()
        };
        match self.json.get(cs, thread, head) {
            Some(p) => put(out, &p.text),
            None => {
                head(out);
            }
        }
        finish_json_event(ev, cs, out, line_start);
    }
}

/// The constant parts of lines per (callsite, thread): see [`Renderer`].
#[derive(Debug, Default)]
struct PrefixCache {
    /// [`Renderer::SLOTS`] entries once anything was cached.
    slots: Vec<Prefix>,
}

/// One (callsite, thread)'s constant line part, and what it was built from.
#[derive(Debug, Default)]
struct Prefix {
    /// [`Prefix::key`] of the callsite it was built for (0: unused; a key is never 0).
    key: u64,
    thread: u64,
    target: String,
    thread_name: String,
    /// The part itself.
    text: String,
    /// Where the bound context goes in `text` (text lines), else its length.
    split: usize,
}

impl Prefix {
    /// The callsite's id, level and kind in one word (levels are 1 to 5, so never 0).
    #[inline]
    fn key(cs: &CallsiteInfo) -> u64 {
        u64::from(cs.id) | (cs.level as u64) << 32 | (cs.kind as u64) << 40
    }

    #[inline(always)]
    fn matches(&self, cs: &CallsiteInfo, thread: &ThreadInfo) -> bool {
        self.key == Self::key(cs)
            && self.thread == thread.id
            && same(&self.target, &cs.target)
            && same(&self.thread_name, &thread.name)
    }
}

/// `a == b`, with strings of up to 16 bytes compared inline (two overlapping words) rather
/// than through a call to `memcmp`: names and targets are short.
#[inline(always)]
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().unwrap_or([0; 8]));
    let half = |s: &[u8], at: usize| u32::from_le_bytes(s[at..at + 4].try_into().unwrap_or([0; 4]));
    match n {
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        4..=7 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        _ => a == b,
    }
}

impl PrefixCache {
    /// The part for `cs` on `thread`, built with `build` (which appends it to the string it
    /// is given and returns the split) when it is not cached; `None` when it is too long to
    /// keep.
    #[inline]
    fn get(
        &mut self,
        cs: &CallsiteInfo,
        thread: &ThreadInfo,
        build: impl FnOnce(&mut String) -> usize,
    ) -> Option<&Prefix> {
        let key = u64::from(cs.id).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ thread.id.wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
        let i = (key >> 56) as usize % Renderer::SLOTS;
        if self.slots.get(i).is_some_and(|p| p.matches(cs, thread)) {
            return self.slots.get(i);
        }
        self.fill(i, cs, thread, build)
    }

    #[cold]
    #[inline(never)]
    fn fill(
        &mut self,
        i: usize,
        cs: &CallsiteInfo,
        thread: &ThreadInfo,
        build: impl FnOnce(&mut String) -> usize,
    ) -> Option<&Prefix> {
        if cs.target.len() + thread.name.len() > Renderer::MAX_CACHED {
            return None;
        }
        if self.slots.is_empty() {
            self.slots.resize_with(Renderer::SLOTS, Prefix::default);
        }
        let p = &mut self.slots[i];
        p.key = Prefix::key(cs);
        p.thread = thread.id;
        p.target.clear();
        p.target.push_str(&cs.target);
        p.thread_name.clear();
        p.thread_name.push_str(&thread.name);
        p.text.clear();
        p.split = build(&mut p.text);
        Some(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let mut s = String::new();
        write_timestamp(&mut s, 0);
        assert_eq!(s, "1970-01-01T00:00:00.000000000Z");
        s.clear();
        // 2024-02-29T23:59:59.000000001Z (leap day)
        write_timestamp(&mut s, 1_709_251_199_000_000_001);
        assert_eq!(s, "2024-02-29T23:59:59.000000001Z");
        s.clear();
        write_timestamp(&mut s, 4_102_444_800_000_000_000);
        assert_eq!(s, "2100-01-01T00:00:00.000000000Z");
        s.clear();
        write_timestamp(&mut s, u64::MAX);
        assert_eq!(s, "2554-07-21T23:34:33.709551615Z");
        s.clear();
        write_timestamp(&mut s, 1_763_820_245_120_406_789);
        assert_eq!(s, "2025-11-22T14:04:05.120406789Z");
    }

    #[test]
    fn cached_seconds_match_a_fresh_conversion() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let (mut a, mut b) = (String::new(), String::new());
        for i in 0..20_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Runs within one second, across a second, and jumps.
            let ns = if i % 3 == 0 { x } else { x.wrapping_add(i * 400_000_000) };
            a.clear();
            write_timestamp(&mut a, ns);
            b.clear();
            LAST_SECOND.with(|c| c.set((u64::MAX, [0; SECOND_LEN])));
            write_timestamp(&mut b, ns);
            assert_eq!(a, b);
            let secs = ns / 1_000_000_000;
            let (y, m, d) = civil_from_days((secs / 86_400) as i64);
            let r = secs % 86_400;
            let want = format!(
                "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:09}Z",
                r / 3600,
                r / 60 % 60,
                r % 60,
                ns % 1_000_000_000
            );
            assert_eq!(a, want);
        }
    }

    #[test]
    fn json_strings_escape_controls_and_quotes() {
        let mut s = String::new();
        write_json_str(&mut s, "a\"b\\c\n\u{1}é");
        assert_eq!(s, r#""a\"b\\c\n\u0001é""#);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v, "a\"b\\c\n\u{1}é");
        s.clear();
        write_json_str(&mut s, "\u{1f}\r\t\u{8}x\u{7f}€");
        assert_eq!(s, concat!(r#""\u001f\r\t\u0008x"#, "\u{7f}€\""));
        assert_eq!(serde_json::from_str::<String>(&s).unwrap(), "\u{1f}\r\t\u{8}x\u{7f}€");
    }

    #[test]
    fn json_values_parse_back() {
        let cases = [
            (Value::U64(u64::MAX), "18446744073709551615"),
            (Value::I8(-5), "-5"),
            (Value::F64(0.1), "0.1"),
            (Value::F64(f64::NAN), "\"NaN\""),
            (Value::F32(f32::NEG_INFINITY), "\"-inf\""),
            (Value::Bool(true), "true"),
            (Value::Char('"'), "\"\\\"\""),
            (Value::Bytes(&[1, 2]), "[1,2]"),
            (Value::Invalid, "null"),
        ];
        for (v, want) in cases {
            let mut s = String::new();
            write_json_value(&mut s, &v);
            assert_eq!(s, want);
            serde_json::from_str::<serde_json::Value>(&s).unwrap();
        }
    }

    #[test]
    fn text_values_quote_strings_only() {
        let mut s = String::new();
        write_text_value(&mut s, &Value::Str("a b"));
        s.push(' ');
        write_text_value(&mut s, &Value::Display("a b"));
        s.push(' ');
        write_text_value(&mut s, &Value::F64(1.5));
        assert_eq!(s, "\"a b\" a b 1.5");
    }
}
