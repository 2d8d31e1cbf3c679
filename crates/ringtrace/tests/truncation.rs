//! Best-effort truncation (R-LIFE-3, issue 15 item 1): a record that does not fit
//! `max_record_size` keeps every fixed-size value and cuts strings and captured text, the
//! longest first, each cut one ending with [`CUT_MARK`]; when even that cannot fit, the event
//! is a placeholder without values; strict mode drops both. No record ever holds a byte that
//! was not written for it.
//!
//! The expected output is eager formatting (`format!` on the original values, `serde_json`)
//! with the cut documented in docs/configuration.md applied by [`documented_cut`], written
//! here from the documentation, independently of the encoder. Filler records run before every
//! case so that the rings hold old bytes that would show if a record committed any.

// These tests use the real atomics; under `--features loom` only the loom models run.
#![cfg(not(feature = "loom"))]

mod common;

use common::{Collect, Seen};
use ringtrace::render::render_text;
use ringtrace::sinks::rotate::Rotation;
use ringtrace::sinks::BinarySink;
use ringtrace::trace_file::TraceReader;
use ringtrace::{
    Builder, Callsite, CallsiteKind, DebugArg, DiagnosticSink, DisplayArg, DropReason, Encode, Encoder, ErrorArg,
    Guard, Level, Metadata, Policy, RecordKind, Serialization, CUT_MARK,
};
use serde_json::{json, Map, Value as J};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

// ---------------------------------------------------------------------------------------
// Runtime set-up
// ---------------------------------------------------------------------------------------

/// A runtime with a small ring (so it wraps and holds old bytes), a sink that keeps every
/// event and a binary trace file; `Block` so that nothing is dropped for room.
fn install(limit: usize, ser: Serialization, tag: &str) -> (Guard, Collect, PathBuf) {
    let dir = std::env::temp_dir().join(format!("ringtrace-truncation-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{tag}.rtrace"));
    let _ = std::fs::remove_file(&path);
    let sink = Collect::new("mem");
    let guard = Builder::new()
        .ignore_env()
        .ring_size(4096)
        .ring_count(16)
        .max_record_size(limit)
        .serialization(ser)
        .policy(Policy::Block { timeout: Duration::from_secs(30) })
        .diagnostics(DiagnosticSink::Off)
        .sink(sink.clone())
        .sink(BinarySink::file(&path, Rotation { max_bytes: 0, max_files: 0 }).unwrap())
        .install()
        .unwrap();
    (guard, sink, path)
}

/// Records that fill the 4 KiB ring a few times over with recognisable old bytes.
fn fillers(n: usize) {
    for i in 0..n {
        ringtrace::info!(n = 6318u64, s = "abc", "filler {} t={} s={}", i as u64, 5u32, "abc");
    }
}

/// The events that are not fillers (nor the loss records of strict-mode drops).
fn cases(seen: &[Seen]) -> Vec<&Seen> {
    seen.iter().filter(|s| s.kind == RecordKind::Event && !s.message.starts_with("filler")).collect()
}

/// What `ringtrace decode` prints for the binary trace: the text of every event in it.
fn decoded(path: &PathBuf) -> Vec<String> {
    let mut out = Vec::new();
    let mut r = TraceReader::open(path).unwrap();
    r.for_each_batch(|b| {
        for ev in b.iter() {
            let mut s = String::new();
            render_text(&ev, &mut s);
            out.push(s);
        }
    })
    .unwrap();
    out
}

/// Shuts down and checks that the binary trace decodes to the live text, event for event.
fn finish(guard: Guard, sink: &Collect, path: &PathBuf) -> (ringtrace::DrainReport, Vec<Seen>) {
    let report = guard.shutdown(Duration::from_secs(30));
    assert!(!report.timed_out);
    let seen = sink.events();
    let texts: Vec<String> = seen.iter().map(|s| s.text.clone()).collect();
    assert_eq!(decoded(path), texts, "the trace file decodes to what the drain showed");
    (report, seen)
}

fn json(s: &Seen) -> J {
    serde_json::from_str(&s.json).unwrap_or_else(|e| panic!("{e}: {}", s.json))
}

/// The text after the timestamp and its space.
fn text(s: &Seen) -> &str {
    &s.text[31..]
}

// ---------------------------------------------------------------------------------------
// The cases of the issue, through the macros
// ---------------------------------------------------------------------------------------

#[test]
fn a_capture_that_leaves_a_few_bytes_does_not_commit_stale_bytes() {
    let _s = common::serial();
    let (guard, sink, path) = install(64, Serialization::BestEffort, "few-bytes");
    // 64 bytes: 16 header, 17 fixed (3 + u32 5 + u64 9), 31 for the text.
    let lens: Vec<usize> = (25..=45).collect();
    for &n in &lens {
        fillers(150);
        let txt = "x".repeat(n);
        ringtrace::info!(txt = %txt, "t={} s={}", 7u32, 123456u64);
    }
    let (report, seen) = finish(guard, &sink, &path);
    assert_eq!(report.dropped.total(), 0);
    let got = cases(&seen);
    assert_eq!(got.len(), lens.len());
    for (g, &n) in got.iter().zip(&lens) {
        let (txt, cut) = if n <= 31 { ("x".repeat(n), false) } else { (format!("{}{CUT_MARK}", "x".repeat(28)), true) };
        let mark = if cut { " [truncated]" } else { "" };
        assert_eq!(text(g), format!(" INFO [{}] truncation: t=7 s=123456 txt={txt}{mark}\n", g.thread), "n = {n}");
        let v = json(g);
        assert_eq!(v["message"], "t=7 s=123456", "n = {n}");
        assert_eq!(v["fields"], json!({ "txt": txt }), "n = {n}");
        assert_eq!(v.get("truncated"), cut.then_some(&J::Bool(true)), "n = {n}");
    }
}

#[test]
fn a_long_capture_keeps_the_fixed_size_values_after_it() {
    let _s = common::serial();
    let (guard, sink, path) = install(64, Serialization::BestEffort, "long-capture");
    fillers(150);
    ringtrace::info!(txt = %"y".repeat(100), "t={} s={}", 7u32, 123456u64);
    fillers(150);
    let long = "y".repeat(100);
    ringtrace::info!("{} then {}", ringtrace::display(&long), 99u64);
    let (_, seen) = finish(guard, &sink, &path);
    let got = cases(&seen);
    let t = &got[0].thread;
    let cut31 = format!("{}{CUT_MARK}", "y".repeat(28));
    assert_eq!(text(got[0]), format!(" INFO [{t}] truncation: t=7 s=123456 txt={cut31} [truncated]\n"));
    // 64 − 16 − 12 fixed (3 + u64 9) = 36 bytes for the text.
    let cut36 = format!("{}{CUT_MARK}", "y".repeat(33));
    assert_eq!(text(got[1]), format!(" INFO [{t}] truncation: {cut36} then 99 [truncated]\n"));
    assert_eq!(json(got[1])["message"], format!("{cut36} then 99"));
}

#[test]
fn strings_share_the_room_longest_first_and_the_short_ones_stay_whole() {
    let _s = common::serial();
    let (guard, sink, path) = install(128, Serialization::BestEffort, "strings");
    fillers(120);
    let (a, b, c) = ("short", "m".repeat(30), "l".repeat(300));
    ringtrace::info!(a = a, n = 1u8, "b={} c={:?} k={}", b.as_str(), c.as_str(), 2.5f64);
    let (_, seen) = finish(guard, &sink, &path);
    let got = cases(&seen);
    // Fixed: 3 + 2 + 3 + 3 + 9 = 20; 128 − 16 − 20 = 92 for 5 + 30 + 300: c = 57.
    let cut_c = format!("{}{CUT_MARK}", "l".repeat(54));
    let t = &got[0].thread;
    assert_eq!(text(got[0]), format!(" INFO [{t}] truncation: b={b} c={cut_c:?} k=2.5 a=\"short\" n=1 [truncated]\n"));
    assert_eq!(json(got[0])["fields"], json!({ "a": "short", "n": 1 }));
}

#[test]
fn an_event_whose_fixed_part_cannot_fit_is_a_placeholder_in_best_effort_and_dropped_in_strict() {
    let _s = common::serial();
    for ser in [Serialization::BestEffort, Serialization::Strict] {
        let (guard, sink, path) = install(64, ser, &format!("placeholder-{ser}"));
        fillers(150);
        // 16 + 6 × 9 = 70 > 64.
        ringtrace::info!(a = 1u64, b = 2u64, c = 3u64, "{} {} {}", 4u64, 5u64, 6u64);
        // And one that fits only cut.
        ringtrace::info!(txt = %"x".repeat(100), "t={}", 7u32);
        let (report, seen) = finish(guard, &sink, &path);
        let got = cases(&seen);
        if ser == Serialization::Strict {
            assert!(got.is_empty(), "{got:?}");
            assert_eq!(report.dropped.get(DropReason::Oversized), 2);
            continue;
        }
        assert_eq!(report.dropped.total(), 0);
        let t = &got[0].thread;
        assert_eq!(text(got[0]), format!(" INFO [{t}] truncation: {{?}} {{?}} {{?}} [truncated]\n"));
        let v = json(got[0]);
        assert_eq!(v["message"], "{?} {?} {?}");
        assert!(v.get("fields").is_none());
        assert_eq!(v["truncated"], true);
        assert!(text(got[1]).contains(&format!("t=7 txt={}{CUT_MARK} [truncated]", "x".repeat(37))), "{}", got[1].text);
    }
}

#[derive(Debug)]
struct Chain {
    msg: String,
    source: Option<Box<Chain>>,
}

impl fmt::Display for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Chain {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as _)
    }
}

impl Chain {
    fn new(levels: &[String]) -> Chain {
        let (first, rest) = levels.split_first().expect("an error has a message");
        Chain { msg: first.clone(), source: (!rest.is_empty()).then(|| Box::new(Chain::new(rest))) }
    }
}

#[test]
fn an_error_chain_is_cut_as_one_text_and_the_values_after_it_stay() {
    let _s = common::serial();
    let (guard, sink, path) = install(64, Serialization::BestEffort, "error");
    fillers(150);
    let err = Chain::new(&["commit failed".into(), "cannot write segment 7".into(), "disk full".into()]);
    ringtrace::error!(error = %err, "retry {}", 3u16);
    fillers(150);
    ringtrace::error!(error = %err, "retry {}", 3u64);
    let (_, seen) = finish(guard, &sink, &path);
    let got = cases(&seen);
    let t = &got[0].thread;
    // Fixed 4 + 3: 64 − 16 − 7 = 41 bytes for 13 + (2 + 22) + (2 + 9). The second source's
    // text would get 41 − 13 − 24 − 2 = 2 bytes: it is left out and the first source marked.
    assert_eq!(
        text(got[0]),
        format!("ERROR [{t}] truncation: retry 3 error=commit failed error.sources=[cannot write segment 7{CUT_MARK}] [truncated]\n")
    );
    // With a u64, 35 bytes: the first source is cut (20 bytes for its text) and marked.
    assert_eq!(
        text(got[1]),
        format!("ERROR [{t}] truncation: retry 3 error=commit failed error.sources=[cannot write segm{CUT_MARK}] [truncated]\n")
    );
    let v = json(got[0]);
    assert_eq!(v["fields"]["error.sources"], json!([format!("cannot write segment 7{CUT_MARK}")]));
}

// ---------------------------------------------------------------------------------------
// The documented cut, from docs/configuration.md
// ---------------------------------------------------------------------------------------

/// One argument of a generated event.
#[derive(Debug)]
enum Arg {
    U8(u8),
    U32(u32),
    I16(i16),
    I64(i64),
    U64(u64),
    F32(f32),
    F64(f64),
    Bool(bool),
    Char(char),
    /// A copied string.
    Str(String),
    /// A copied byte string.
    Bytes(Vec<u8>),
    /// `%x` / `display(&x)` of a type whose `Display` writes the string in pieces.
    Disp(String),
    /// `?x` / `debug(&x)` of a `String` (captured text: its `Debug`, quotes and escapes).
    Dbg(String),
    /// An error with its source chain.
    Err(Vec<String>, Chain),
}

/// `Display` in pieces of three characters (so a cut can fall inside a `write_str`).
struct Pieces<'a>(&'a str);

impl fmt::Display for Pieces<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let chars: Vec<char> = self.0.chars().collect();
        for piece in chars.chunks(3) {
            f.write_str(&piece.iter().collect::<String>())?;
        }
        Ok(())
    }
}

impl Arg {
    /// Bytes that are never cut: the tag, a length prefix, a scalar's bytes.
    fn fixed(&self) -> usize {
        match self {
            Arg::U8(_) | Arg::Bool(_) => 2,
            Arg::I16(_) => 3,
            Arg::U32(_) | Arg::F32(_) | Arg::Char(_) => 5,
            Arg::I64(_) | Arg::U64(_) | Arg::F64(_) => 9,
            Arg::Str(_) | Arg::Bytes(_) | Arg::Disp(_) | Arg::Dbg(_) => 3,
            Arg::Err(..) => 4,
        }
    }

    /// The text a capture holds (its eager formatting).
    fn captured(&self) -> Option<String> {
        match self {
            Arg::Str(s) | Arg::Disp(s) => Some(s.clone()),
            Arg::Dbg(s) => Some(format!("{s:?}")),
            _ => None,
        }
    }

    /// Bytes that may be cut: the documented "length" of a variable part.
    fn variable(&self) -> Option<usize> {
        match self {
            Arg::Bytes(b) => Some(b.len()),
            Arg::Err(levels, _) => {
                Some(levels.iter().enumerate().map(|(i, l)| l.len() + if i == 0 { 0 } else { 2 }).sum())
            }
            _ => self.captured().map(|s| s.len()),
        }
    }

    fn is_eager(&self) -> bool {
        matches!(self, Arg::Disp(_) | Arg::Dbg(_) | Arg::Err(..))
    }
}

/// An argument after the cut: the value to format eagerly.
#[derive(Debug, Clone, PartialEq)]
enum Kept {
    Whole,
    Text(String),
    Bytes(Vec<u8>),
    Chain(Vec<String>),
}

/// The longest prefix of `s` of at most `n` bytes that ends on a character boundary.
fn floor(s: &str, n: usize) -> &str {
    let mut i = n.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    &s[..i]
}

/// A text cut to at most `share` bytes, mark included.
fn cut_text(s: &str, share: usize) -> String {
    format!("{}{CUT_MARK}", floor(s, share - CUT_MARK.len()))
}

/// docs/configuration.md: an error's chain is cut as one text — message and sources kept in
/// order while they fit (a source costs 2 more bytes), the first that does not fit is cut and
/// marked, later ones left out; if fewer than 3 bytes are left for that source's text it is
/// left out too and the mark goes on the one before (and if that one and the bytes left after
/// it are fewer than 3, it goes too, and so on back to the message).
fn cut_chain(levels: &[String], share: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut left = share as isize;
    for (i, t) in levels.iter().enumerate() {
        let room = left - if i == 0 { 0 } else { 2 };
        if t.len() as isize <= room {
            out.push(t.clone());
            left = room - t.len() as isize;
            continue;
        }
        if room >= 3 {
            out.push(cut_text(t, room as usize));
        } else {
            // The mark goes on the one before; if it and what is left after it are fewer
            // than 3 bytes, that one goes too, back to the message.
            let mut left = left as usize;
            loop {
                let prev = out.pop().expect("the message always gets 3 bytes");
                let r = prev.len() + left;
                if r >= CUT_MARK.len() || out.is_empty() {
                    out.push(format!("{}{CUT_MARK}", floor(&prev, r - CUT_MARK.len())));
                    break;
                }
                left = r + 2;
            }
        }
        break;
    }
    out
}

/// What the record of an event with these arguments keeps, given `room` bytes for its
/// values (`max_record_size` rounded down to 8, less the 16-byte header and the context):
/// `None` for a placeholder, else per argument what is kept, and whether anything was cut.
fn documented_cut(args: &[Arg], room: Option<usize>) -> Option<(Vec<Kept>, bool)> {
    let room = room?;
    let fixed: usize = args.iter().map(Arg::fixed).sum();
    let lens: Vec<usize> = args.iter().filter_map(Arg::variable).collect();
    let within = |c: usize| lens.iter().map(|&l| l.min(c)).sum::<usize>();
    if fixed + within(CUT_MARK.len()) > room {
        return None;
    }
    let budget = room - fixed;
    if within(usize::MAX) <= budget {
        return Some((args.iter().map(|_| Kept::Whole).collect(), false));
    }
    // The largest c for which the record fits.
    let c = (CUT_MARK.len()..).take_while(|&c| within(c) <= budget).last().unwrap();
    let kept = args
        .iter()
        .map(|a| match (a, a.variable()) {
            (_, Some(l)) if l <= c => Kept::Whole,
            (Arg::Bytes(b), _) => Kept::Bytes(b[..c].to_vec()),
            (Arg::Err(levels, _), _) => Kept::Chain(cut_chain(levels, c)),
            (_, Some(_)) => Kept::Text(cut_text(&a.captured().unwrap(), c)),
            _ => Kept::Whole,
        })
        .collect();
    Some((kept, true))
}

// ---------------------------------------------------------------------------------------
// Generated events: random argument mixes and limits
// ---------------------------------------------------------------------------------------

/// splitmix64: deterministic, seeded.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
    fn spec(&mut self, specs: &[&'static str]) -> &'static str {
        specs[self.below(specs.len() as u64) as usize]
    }
    fn string(&mut self, max: usize) -> String {
        const CHARS: &[char] = &['a', 'b', 'z', ' ', 'é', '☃', '𝄞', '"', '\\', '\n', '{', '}'];
        let len = match self.below(4) {
            0 => self.below(4) as usize,
            _ => self.below(max as u64 + 1) as usize,
        };
        (0..len).map(|_| *self.pick(CHARS)).collect()
    }
    fn arg(&mut self, max: usize) -> Arg {
        match self.below(17) {
            0 => Arg::U8(self.next() as u8),
            1 => Arg::U32(self.next() as u32),
            2 => Arg::I16(self.next() as i16),
            3 => Arg::I64(self.next() as i64),
            4 => Arg::U64(self.next()),
            5 => Arg::F32((self.next() % 100_000) as f32 / 64.0 - 500.0),
            6 => Arg::F64((self.next() as i64 as f64) / 1e6),
            7 => Arg::Bool(self.below(2) == 0),
            8 => Arg::Char(*self.pick(&['x', 'é', '☃', '\'', '\n'])),
            9 => {
                let n = self.below(max as u64) as usize;
                Arg::Bytes((0..n).map(|_| self.next() as u8).collect())
            }
            10 | 11 => Arg::Disp(self.string(max)),
            12 => Arg::Dbg(self.string(max)),
            13..=15 => Arg::Str(self.string(max)),
            _ => {
                let levels: Vec<String> = (0..1 + self.below(3)).map(|_| self.string(max / 2)).collect();
                let chain = Chain::new(&levels);
                Arg::Err(levels, chain)
            }
        }
    }
}

/// Message-position specs per kind: (spec, eager formatting with that literal spec).
fn spec_for(a: &Arg, rng: &mut Rng) -> &'static str {
    match a {
        Arg::U8(_) | Arg::U32(_) | Arg::I16(_) | Arg::I64(_) | Arg::U64(_) => {
            rng.spec(&["{}", "{:?}", "{:>8}", "{:#x}", "{:+}", "{:08}"])
        }
        Arg::F32(_) | Arg::F64(_) => rng.spec(&["{}", "{:?}", "{:.3}", "{:>12.2}", "{:e}"]),
        Arg::Bool(_) => rng.spec(&["{}", "{:?}", "{:>7}"]),
        Arg::Char(_) => rng.spec(&["{}", "{:?}", "{:>4}"]),
        Arg::Str(_) => rng.spec(&["{}", "{:?}", "{:>12}", "{:.5}", "{:^9}", "{:-<7}"]),
        Arg::Bytes(_) | Arg::Dbg(_) => "{:?}",
        Arg::Disp(_) | Arg::Err(..) => "{}",
    }
}

macro_rules! by_spec {
    ($spec:expr, $v:expr; $($lit:literal)*) => {
        match $spec {
            $($lit => format!($lit, $v),)*
            s => unreachable!("spec {s}"),
        }
    };
}

/// The argument formatted eagerly with `spec`, after the cut.
fn eager_message_arg(a: &Arg, kept: &Kept, spec: &str) -> String {
    match (a, kept) {
        (Arg::U8(v), _) => by_spec!(spec, v; "{}" "{:?}" "{:>8}" "{:#x}" "{:+}" "{:08}"),
        (Arg::U32(v), _) => by_spec!(spec, v; "{}" "{:?}" "{:>8}" "{:#x}" "{:+}" "{:08}"),
        (Arg::I16(v), _) => by_spec!(spec, v; "{}" "{:?}" "{:>8}" "{:#x}" "{:+}" "{:08}"),
        (Arg::I64(v), _) => by_spec!(spec, v; "{}" "{:?}" "{:>8}" "{:#x}" "{:+}" "{:08}"),
        (Arg::U64(v), _) => by_spec!(spec, v; "{}" "{:?}" "{:>8}" "{:#x}" "{:+}" "{:08}"),
        (Arg::F32(v), _) => by_spec!(spec, v; "{}" "{:?}" "{:.3}" "{:>12.2}" "{:e}"),
        (Arg::F64(v), _) => by_spec!(spec, v; "{}" "{:?}" "{:.3}" "{:>12.2}" "{:e}"),
        (Arg::Bool(v), _) => by_spec!(spec, v; "{}" "{:?}" "{:>7}"),
        (Arg::Char(v), _) => by_spec!(spec, v; "{}" "{:?}" "{:>4}"),
        (Arg::Str(s), k) => {
            let v: &str = if let Kept::Text(t) = k { t } else { s };
            by_spec!(spec, v; "{}" "{:?}" "{:>12}" "{:.5}" "{:^9}" "{:-<7}")
        }
        (Arg::Bytes(b), k) => format!("{:?}", if let Kept::Bytes(c) = k { c } else { b }),
        // Captured text: verbatim under any spec.
        (Arg::Disp(_) | Arg::Dbg(_), Kept::Text(t)) => t.clone(),
        (Arg::Disp(_) | Arg::Dbg(_), _) => a.captured().unwrap(),
        (Arg::Err(levels, _), k) => {
            if let Kept::Chain(c) = k {
                c[0].clone()
            } else {
                levels[0].clone()
            }
        }
    }
}

/// The argument as a text field value and as JSON (with the extra `key.sources` of errors).
fn eager_field(key: &str, a: &Arg, kept: &Kept) -> (String, Vec<(String, J)>) {
    let num = |t: String| -> (String, Vec<(String, J)>) {
        let j = serde_json::from_str(&t).unwrap();
        (t, vec![(key.to_string(), j)])
    };
    match (a, kept) {
        (Arg::U8(v), _) => num(v.to_string()),
        (Arg::U32(v), _) => num(v.to_string()),
        (Arg::I16(v), _) => num(v.to_string()),
        (Arg::I64(v), _) => num(v.to_string()),
        (Arg::U64(v), _) => num(v.to_string()),
        (Arg::F32(v), _) => num(v.to_string()),
        (Arg::F64(v), _) => num(v.to_string()),
        (Arg::Bool(v), _) => (v.to_string(), vec![(key.into(), json!(v))]),
        (Arg::Char(c), _) => (format!("{c:?}"), vec![(key.into(), json!(c.to_string()))]),
        (Arg::Str(s), k) => {
            let v: &str = if let Kept::Text(t) = k { t } else { s };
            (format!("{v:?}"), vec![(key.into(), json!(v))])
        }
        (Arg::Bytes(b), k) => {
            let v = if let Kept::Bytes(c) = k { c } else { b };
            (format!("{v:?}"), vec![(key.into(), json!(v))])
        }
        (Arg::Disp(_) | Arg::Dbg(_), _) => {
            let t = if let Kept::Text(t) = kept { t.clone() } else { a.captured().unwrap() };
            (t.clone(), vec![(key.into(), json!(t))])
        }
        (Arg::Err(levels, _), k) => {
            let c = if let Kept::Chain(c) = k { c } else { levels };
            let mut t = c[0].clone();
            let mut j = vec![(key.to_string(), json!(c[0]))];
            if c.len() > 1 {
                t.push_str(&format!(" {key}.sources=[{}]", c[1..].join(", ")));
                j.push((format!("{key}.sources"), json!(c[1..])));
            }
            (t, j)
        }
    }
}

/// The arguments of one generated event, written as the macros would write them.
/// `D`: whether the record's size is only known after writing (always, with a capture).
struct DynArgs<'a, const D: bool>(&'a [Arg]);

impl<const D: bool> Encode for DynArgs<'_, D> {
    const DYNAMIC: bool = D;

    fn encoded_len(&self) -> usize {
        // Exact for fixed-size records; the minimum for dynamic ones.
        self.0.iter().map(|a| a.fixed() + if D { 0 } else { a.variable().unwrap_or(0) }).sum()
    }

    fn encode(&self, enc: &mut Encoder<'_>) {
        for a in self.0 {
            match a {
                Arg::U8(v) => v.encode(enc),
                Arg::U32(v) => v.encode(enc),
                Arg::I16(v) => v.encode(enc),
                Arg::I64(v) => v.encode(enc),
                Arg::U64(v) => v.encode(enc),
                Arg::F32(v) => v.encode(enc),
                Arg::F64(v) => v.encode(enc),
                Arg::Bool(v) => v.encode(enc),
                Arg::Char(v) => v.encode(enc),
                Arg::Str(s) => s.as_str().encode(enc),
                Arg::Bytes(b) => b.as_slice().encode(enc),
                Arg::Disp(s) => DisplayArg(&Pieces(s)).encode(enc),
                Arg::Dbg(s) => DebugArg(s).encode(enc),
                Arg::Err(_, e) => ErrorArg(e).encode(enc),
            }
        }
    }
}

fn leak<T>(v: T) -> &'static T {
    Box::leak(Box::new(v))
}

/// One generated event and what eager formatting with the documented cut says it shows.
struct Case {
    /// The text after the timestamp, with `{T}` for the thread name.
    text: String,
    message: String,
    fields: Map<String, J>,
    ctx: Option<u64>,
    truncated: bool,
    /// Strict mode drops it.
    oversized: bool,
    /// Strict mode drops the filler before it.
    filler_oversized: bool,
}

fn run_case(rng: &mut Rng, limit: usize) -> Case {
    let max = [8, 40, limit, 2 * limit][rng.below(4) as usize];
    let args: Vec<Arg> = (0..1 + rng.below(8)).map(|_| rng.arg(max)).collect();
    let nfields = rng.below(args.len() as u64 + 1) as usize;
    let names: &'static [&'static str] =
        Box::leak((0..nfields).map(|i| &*Box::leak(format!("f{i}").into_boxed_str())).collect::<Vec<_>>().into());
    let specs: Vec<&str> = args[nfields..].iter().map(|a| spec_for(a, rng)).collect();
    // Literal braces around the arguments: `m{{…}}` renders `m{…}`.
    let format = format!("m{{{{{}}}}}", specs.join(" "));
    let format: &'static str = Box::leak(format.into_boxed_str());
    let meta = leak(Metadata {
        level: Level::Info,
        target: "gen",
        module_path: "truncation",
        file: file!(),
        line: line!(),
        format,
        fields: names,
        kind: CallsiteKind::Event,
    });
    let callsite = leak(Callsite::new(meta));
    let ctx = (rng.below(3) == 0).then(|| rng.next());
    let eager = args.iter().any(Arg::is_eager);
    let dynamic = eager || rng.below(2) == 0;

    // What the documentation says.
    let record_limit = limit & !7;
    let body = 16 + ctx.map_or(0, |_| 2 + 13); // `req` = u64: key length, key, tag, 8 bytes
    let room = record_limit.checked_sub(body);
    let fixed: usize = args.iter().map(Arg::fixed).sum();
    let whole: usize = fixed + args.iter().filter_map(Arg::variable).sum::<usize>();
    let kept = documented_cut(&args, room);
    let oversized = room.is_none_or(|r| whole > r);
    let ctx_shown = ctx.filter(|_| room.is_some());
    let filler_len = rng.below(limit as u64) as usize;
    // header, context, 3 + text, u32 5, "abc" 6
    let filler_oversized = body + 3 + filler_len + 5 + 6 > record_limit;

    {
        let _c = ctx.map(|n| ringtrace::with_context!(req = n));
        let filler = "Z".repeat(filler_len);
        ringtrace::info!(z = %filler, "filler {} {}", 0x5a5a_5a5au32, "abc");
        if dynamic {
            ringtrace::__private::record_event(callsite, &DynArgs::<true>(&args));
        } else {
            ringtrace::__private::record_event(callsite, &DynArgs::<false>(&args));
        }
    }

    let mut text = String::from(" INFO [{T}]");
    if let Some(n) = ctx_shown {
        text.push_str(&format!(" {{req={n}}}"));
    }
    text.push_str(" gen: ");
    let mut fields = Map::new();
    let (message, truncated) = match &kept {
        None => (format!("m{{{}}}", vec!["{?}"; specs.len()].join(" ")), true),
        Some((kept, cut)) => {
            let parts: Vec<String> = args[nfields..]
                .iter()
                .zip(&kept[nfields..])
                .zip(&specs)
                .map(|((a, k), s)| eager_message_arg(a, k, s))
                .collect();
            (format!("m{{{}}}", parts.join(" ")), *cut)
        }
    };
    text.push_str(&message);
    if let Some((kept, _)) = &kept {
        for (i, (a, k)) in args[..nfields].iter().zip(kept).enumerate() {
            let (t, js) = eager_field(names[i], a, k);
            text.push_str(&format!(" {}={t}", names[i]));
            fields.extend(js);
        }
    }
    if truncated {
        text.push_str(" [truncated]");
    }
    text.push('\n');
    Case { text, message, fields, ctx: ctx_shown, truncated, oversized, filler_oversized }
}

fn check(case: &Case, got: &Seen, what: &str) {
    assert_eq!(text(got), case.text.replace("{T}", &got.thread), "{what}: text");
    let v = json(got);
    assert_eq!(v["message"], J::String(case.message.clone()), "{what}: json message");
    let fields = v.get("fields").cloned().unwrap_or(J::Object(Map::new()));
    assert_eq!(fields, J::Object(case.fields.clone()), "{what}: json fields");
    assert_eq!(v.get("ctx"), case.ctx.map(|n| json!({ "req": n })).as_ref(), "{what}: json ctx");
    assert_eq!(v.get("truncated"), case.truncated.then_some(&J::Bool(true)), "{what}: json truncated");
}

#[test]
fn random_argument_mixes_and_limits_match_eager_formatting_with_the_documented_cut() {
    let _s = common::serial();
    let mut rng = Rng(0x5eed_1e55_ca11_ab1e);
    let (mut checked, mut cut, mut placeholders) = (0, 0, 0);
    for run in 0..36 {
        let limit = match run % 4 {
            0 => 32 + rng.below(40) as usize,
            1 => 64 + rng.below(200) as usize,
            2 => 256 + rng.below(800) as usize,
            _ => 1024 + rng.below(1025) as usize,
        };
        let ser = if run % 6 == 5 { Serialization::Strict } else { Serialization::BestEffort };
        let (guard, sink, path) = install(limit, ser, &format!("gen-{run}"));
        let cases: Vec<Case> = (0..110).map(|_| run_case(&mut rng, limit)).collect();
        let (report, seen) = finish(guard, &sink, &path);
        let got: Vec<&Seen> = seen.iter().filter(|s| s.message.starts_with("m{")).collect();
        let want: Vec<&Case> = cases.iter().filter(|c| ser == Serialization::BestEffort || !c.oversized).collect();
        assert_eq!(got.len(), want.len(), "run {run} (limit {limit}, {ser})");
        if ser == Serialization::Strict {
            let dropped = cases.len() - want.len() + cases.iter().filter(|c| c.filler_oversized).count();
            assert_eq!(report.dropped.get(DropReason::Oversized), dropped as u64, "run {run}");
        } else {
            assert_eq!(report.dropped.total(), 0, "run {run}");
        }
        for (i, (c, g)) in want.iter().zip(&got).enumerate() {
            check(c, g, &format!("run {run} (limit {limit}, {ser}) case {i}"));
            checked += 1;
            cut += usize::from(c.truncated);
            placeholders += usize::from(c.message.contains("{?}"));
        }
    }
    // The generator reaches every outcome often.
    assert!(
        checked > 3000 && cut > 800 && placeholders > 100,
        "{checked} checked, {cut} cut, {placeholders} placeholders"
    );
}
