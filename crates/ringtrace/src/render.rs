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
use crate::event::Event;
use crate::format::{digit_pair, push_int, push_u64};
use crate::record::RecordKind;
use crate::value::Value;
use std::cell::Cell;
use std::fmt::Write;

/// Appends `unix_ns` as an RFC 3339 UTC timestamp with nanoseconds
/// (`2026-11-22T14:04:05.123456789Z`).
pub fn write_timestamp(out: &mut String, unix_ns: u64) {
    let secs = unix_ns / 1_000_000_000;
    let nanos = (unix_ns % 1_000_000_000) as u32;
    // The text is built on the stack and appended at once (one capacity check, not thirty).
    let mut buf = *b"0000-00-00T00:00:00.000000000Z";
    // Consecutive events mostly fall in the same second: reuse its date and time text.
    let cached = LAST_SECOND.try_with(Cell::get).ok().filter(|&(s, _)| s == secs);
    if let Some((_, text)) = cached {
        buf[..SECOND_LEN].copy_from_slice(&text);
    } else {
        let days = (secs / 86_400) as i64;
        let rem = (secs % 86_400) as u32;
        let (y, m, d) = civil_from_days(days);
        // Years from a `u64` of nanoseconds are 1970..=2554: always four digits.
        let y = y as u32;
        for (at, n) in
            [(0, y / 100), (2, y % 100), (5, m), (8, d), (11, rem / 3600), (14, rem / 60 % 60), (17, rem % 60)]
        {
            buf[at..at + 2].copy_from_slice(&digit_pair(n));
        }
        let mut text = [0u8; SECOND_LEN];
        text.copy_from_slice(&buf[..SECOND_LEN]);
        let _ = LAST_SECOND.try_with(|c| c.set((secs, text)));
    }
    for (at, n) in
        [(20, nanos / 10_000_000), (22, nanos / 100_000 % 100), (24, nanos / 1_000 % 100), (26, nanos / 10 % 100)]
    {
        buf[at..at + 2].copy_from_slice(&digit_pair(n));
    }
    buf[28] = b'0' + (nanos % 10) as u8;
    // SAFETY: `buf` is ASCII: the template's bytes and decimal digits.
    out.push_str(unsafe { std::str::from_utf8_unchecked(&buf) });
}

/// Length of `YYYY-MM-DDTHH:MM:SS`.
const SECOND_LEN: usize = 19;

thread_local! {
    /// The second (since the epoch) last formatted on this thread and its
    /// `YYYY-MM-DDTHH:MM:SS` text. `u64::MAX` seconds is past any `u64` of nanoseconds, so the
    /// initial value never matches.
    static LAST_SECOND: Cell<(u64, [u8; SECOND_LEN])> = const { Cell::new((u64::MAX, [0; SECOND_LEN])) };
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
    let _ = match v {
        Value::Str(_) | Value::Char(_) | Value::Bytes(_) => write!(out, "{v:?}"),
        Value::Invalid => {
            out.push_str("<invalid>");
            Ok(())
        }
        _ => write!(out, "{v}"),
    };
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

/// Appends one event as a line of human-readable text, newline included (at most
/// [`MAX_LINE_LEN`] of message and fields; see the module doc).
pub fn render_text(ev: &Event<'_>, out: &mut String) {
    let line_start = out.len();
    let mut cut = false;
    write_timestamp(out, ev.unix_nanos());
    let level = match ev.kind() {
        RecordKind::Event => ev.level().map_or("?", |l| l.as_str()),
        RecordKind::Raw => "RAW",
        RecordKind::Loss => "LOSS",
        RecordKind::Pad => "PAD",
    };
    let _ = write!(out, " {level:>5} [{}]", ev.thread().name);
    let mut ctx = ev.context().peekable();
    if ctx.peek().is_some() {
        out.push_str(" {");
        for (i, (k, v)) in ctx.enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(k);
            out.push('=');
            write_text_value(out, &v);
        }
        out.push('}');
    }
    out.push(' ');
    match ev.kind() {
        RecordKind::Event => {
            out.push_str(ev.target());
            out.push_str(": ");
            match ev.callsite_kind() {
                CallsiteKind::Event => {}
                CallsiteKind::SpanBegin => out.push_str("enter span "),
                CallsiteKind::SpanEnd => out.push_str("exit span "),
            }
            cut = ev.write_message_within(out, budget(out, line_start));
            for (k, v) in ev.fields() {
                if cut || budget(out, line_start) == 0 {
                    cut = true;
                    break;
                }
                write_text_field(out, k, &v);
            }
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

/// Whether `b` must be escaped in a JSON string (every such byte is ASCII, so it is a whole
/// character and never part of a multi-byte sequence).
fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Appends `s` escaped for a JSON string literal, without the quotes.
fn write_json_str_body(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !needs_escape(b) {
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
    fn float(out: &mut String, f: f64, text: std::fmt::Arguments<'_>) {
        if f.is_finite() {
            let _ = out.write_fmt(text);
        } else if f.is_nan() {
            out.push_str("\"NaN\"");
        } else if f > 0.0 {
            out.push_str("\"inf\"");
        } else {
            out.push_str("\"-inf\"");
        }
    }
    let _ = match v {
        Value::F32(f) => {
            float(out, *f as f64, format_args!("{f}"));
            Ok(())
        }
        Value::F64(f) => {
            float(out, *f, format_args!("{f}"));
            Ok(())
        }
        Value::Bool(b) => write!(out, "{b}"),
        Value::Char(c) => {
            let mut buf = [0u8; 4];
            write_json_str(out, c.encode_utf8(&mut buf));
            Ok(())
        }
        Value::Str(s) | Value::Display(s) | Value::Debug(s) => {
            write_json_str(out, s);
            Ok(())
        }
        Value::Error(e) => {
            write_json_str(out, e.message());
            Ok(())
        }
        Value::Bytes(b) => {
            out.push('[');
            for (i, byte) in b.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{byte}");
            }
            out.push(']');
            Ok(())
        }
        Value::Invalid => {
            out.push_str("null");
            Ok(())
        }
        _ if push_int(out, v) => Ok(()),
        _ => write!(out, "{v}"),
    };
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

/// Appends one event as a JSON object on one line, newline included (at most
/// [`MAX_LINE_LEN`] of message and fields before escaping; see the module doc).
pub fn render_json(ev: &Event<'_>, out: &mut String) {
    let line_start = out.len();
    let mut cut = false;
    out.push_str("{\"ts\":\"");
    write_timestamp(out, ev.unix_nanos());
    out.push('"');
    match ev.kind() {
        RecordKind::Event => {
            out.push_str(",\"level\":\"");
            out.push_str(ev.level().map_or("?", |l| l.as_str()));
            out.push('"');
            let kind = ev.callsite_kind();
            if kind != CallsiteKind::Event {
                out.push_str(",\"span\":\"");
                out.push_str(kind.as_str());
                out.push('"');
            }
        }
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
    match ev.kind() {
        RecordKind::Event => {
            out.push_str(",\"target\":");
            write_json_str(out, ev.target());
            // Rendered in place; escaped afterwards only if it needs it (rarely: no allocation
            // in the common case).
            out.push_str(",\"message\":\"");
            let start = out.len();
            cut = ev.write_message_within(out, budget(out, line_start));
            if out.as_bytes()[start..].iter().any(|&b| needs_escape(b)) {
                let msg = out.split_off(start);
                write_json_str_body(out, &msg);
            }
            out.push('"');
            let mut fields = ev.fields().peekable();
            // A message that used the whole budget leaves the fields out.
            if !cut && fields.peek().is_some() {
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
    out.push_str("}\n");
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
