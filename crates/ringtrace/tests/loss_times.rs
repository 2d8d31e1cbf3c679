//! R-BP-6 as issue 18 decided it: a dropped event does not read the clock, so a loss record's
//! first time is when the gap opened (the first drop) and its last time when it closed (the
//! record that fitted after it), in the event accessors, the text and JSON outputs, and the
//! binary trace (read back with `TraceReader`). The gap is provoked by `common::gap`.

// These tests use the real atomics; under `--features loom` only the loom models run.
#![cfg(not(feature = "loom"))]

mod common;

use common::gap::{self, Mark, Times};
use ringtrace::render::render_json;
use ringtrace::sinks::rotate::Rotation;
use ringtrace::sinks::BinarySink;
use ringtrace::trace_file::TraceReader;
use ringtrace::RecordKind;

fn with_json(ev: &ringtrace::Event<'_>) -> (Mark, String) {
    let mut json = String::new();
    render_json(ev, &mut json);
    (Mark::of(ev), json)
}

/// A text or JSON timestamp (`2026-11-22T17:47:05.394934237Z`: fixed width, so its text
/// order is its time order).
fn ts(unix_ns: u64) -> String {
    let mut s = String::new();
    ringtrace::render::write_timestamp(&mut s, unix_ns);
    s
}

#[test]
fn a_loss_record_spans_from_the_gap_opening_to_its_closing() {
    // `provoke` checks the accessors.
    let g = gap::provoke(Vec::new(), with_json);
    let (first, last) = g.loss().loss_ns.unwrap();
    // Text and JSON show the same two times, the accessors'.
    let text = &g.loss().text;
    let json = &g.kept[g.loss_at].1;
    let (from, to) = text.split_once(" from ").unwrap().1.split_once(" to ").unwrap();
    let to = to.trim_end();
    assert_eq!((from, to), (ts(first).as_str(), ts(last).as_str()), "{text}");
    assert!(text.starts_with(&ts(first)), "the line's timestamp is the gap's opening: {text}");
    assert!(json.contains(&format!("\"first_ts\":\"{from}\"")), "{text} vs {json}");
    assert!(json.contains(&format!("\"last_ts\":\"{to}\"")), "{text} vs {json}");
    assert!(json.contains(&format!("\"ts\":\"{from}\"")), "{json}");
    assert_ne!(from, to, "opening and closing differ");
    let (prev, next) = (&g.prev().text[..from.len()], &g.next().text[..to.len()]);
    assert!(prev <= from && to <= next, "between its neighbours' lines: {prev} {from} {to} {next}");
}

#[test]
fn the_binary_trace_keeps_the_loss_records_two_times() {
    let dir = std::env::temp_dir().join(format!("ringtrace-loss-times-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("gap.rtrace");
    let sink = BinarySink::file(&path, Rotation { max_bytes: 0, max_files: 0 }).unwrap();
    let g = gap::provoke(vec![Box::new(sink)], |ev| (Mark::of(ev), ()));
    let mut file = Vec::new();
    let stats =
        TraceReader::open(&path).unwrap().for_each_batch(|b| file.extend(b.iter().map(|ev| Mark::of(&ev)))).unwrap();
    assert_eq!(stats.loss_records, 1);
    // Every record as the drain delivered it: kinds, ticks, loss payloads, text.
    assert_eq!(file.len(), g.kept.len());
    for (i, (f, m)) in file.iter().zip(g.marks()).enumerate() {
        assert_eq!(f, m, "record {i}");
    }
    let at = file.iter().position(|m| m.kind == RecordKind::Loss).unwrap();
    let (first, last) = file[at].loss_ns.unwrap();
    let ns = |n: u64| n as i64;
    let got = Times {
        at: ns(file[at].unix_ns),
        first: ns(first),
        last: ns(last),
        prev: ns(file[at - 1].unix_ns),
        next: ns(file[at + 1].unix_ns),
    };
    g.check("binary trace", got, ns);
    let l = file[at].loss.unwrap();
    assert_eq!((l.first_ticks, l.last_ticks), (g.info().first_ticks, g.info().last_ticks));
    let _ = std::fs::remove_dir_all(&dir);
}
