//! R-BP-6 (issue 18) in the timeline exports: a loss record's first time is when its gap
//! opened and its last time when the gap closed, in the trace-event JSON (`ts`, `args.first_ts`,
//! `args.last_ts`) and in CTF (the `ringtrace:loss` event's timestamp, `first_ts`, `last_ts`, and
//! the packet boundary the gap lies on), both from the live sinks and converted from the binary
//! trace of the same run. The gap is ringtrace's own tests' (`common::gap`).

// These tests use the real atomics; under `--features loom` only the loom models run.
#![cfg(not(feature = "loom"))]

#[path = "../../ringtrace/tests/common/mod.rs"]
mod common;

use common::gap::{self, Gap, Mark, Times};
use ringtrace::sinks::rotate::Rotation;
use ringtrace::sinks::BinarySink;
use ringtrace::trace_file::TraceReader;
use ringtrace::RecordKind;
use ringtrace_export::{convert, ChromeOptions, ChromeSink, CtfOptions, CtfSink};
use serde_json::Value;
use std::path::Path;

/// Checks trace-event JSON: every record an instant at its time (µs with three decimals from
/// `otherData.origin_unix_ns`), the loss record's `ts`, `first_ts` and `last_ts` the gap's.
fn check_chrome(what: &str, json: &[u8], g: &Gap<()>) {
    let v: Value = serde_json::from_slice(json).unwrap();
    let origin = v["otherData"]["origin_unix_ns"].as_u64().unwrap() as i64;
    let rel = |ns: u64| ns as i64 - origin;
    // Three decimals of a microsecond: whole nanoseconds.
    let ns = |x: &Value| (x.as_f64().unwrap() * 1000.0).round() as i64;
    let instants: Vec<&Value> = v["traceEvents"].as_array().unwrap().iter().filter(|e| e["ph"] == "I").collect();
    assert_eq!(instants.len(), g.kept.len(), "{what}");
    for (i, (e, m)) in instants.iter().zip(g.marks()).enumerate() {
        assert_eq!(ns(&e["ts"]), rel(m.unix_ns), "{what}: record {i} {e}");
        if m.kind == RecordKind::Event {
            assert_eq!(e["name"].as_str(), Some(m.message.as_str()), "{what}: record {i}");
        }
    }
    let at = g.loss_at;
    let loss = instants[at];
    assert_eq!(loss["name"].as_str().unwrap(), format!("ringtrace: {} events lost", g.info().events), "{what}");
    assert_eq!(loss["args"]["lost_events"].as_u64(), Some(g.info().events), "{what}");
    let got = Times {
        at: ns(&loss["ts"]),
        first: ns(&loss["args"]["first_ts"]),
        last: ns(&loss["args"]["last_ts"]),
        prev: ns(&instants[at - 1]["ts"]),
        next: ns(&instants[at + 1]["ts"]),
    };
    g.check(what, got, rel);
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// A NUL-terminated string at `at` and where the next field starts.
fn str_at(b: &[u8], at: usize) -> (&str, usize) {
    let end = at + b[at..].iter().position(|&c| c == 0).unwrap();
    (std::str::from_utf8(&b[at..end]).unwrap(), end + 1)
}

/// An event of a CTF stream as the gap's records need it.
#[derive(Debug)]
struct CtfEvent {
    /// `packet_seq_num` and `events_discarded` of its packet, and whether it is the packet's
    /// first event.
    packet: (u64, u64, bool),
    class: u32,
    ts: u64,
    /// `ringtrace:event`: the message.
    message: String,
    /// `ringtrace:loss`: lost events, bytes, first and last time.
    loss: Option<[u64; 4]>,
}

/// Reads a stream file (the layout of ctf.rs's module doc) with the events of classes 0
/// (`ringtrace:event`) and 3 (`ringtrace:loss`); also returns each packet's
/// (`timestamp_begin`, `timestamp_end`, `events_discarded`).
fn read_ctf_stream(b: &[u8]) -> (Vec<CtfEvent>, Vec<(u64, u64, u64)>) {
    let (mut events, mut packets) = (Vec::new(), Vec::new());
    let mut at = 0;
    while at < b.len() {
        assert_eq!(u32_at(b, at), 0xC1FC_1FC1, "packet magic at {at}");
        let p = &b[at..at + (u64_at(b, at + 56) / 8) as usize];
        let (seq, discarded) = (u64_at(p, 64), u64_at(p, 72));
        assert_eq!(seq, packets.len() as u64, "packet_seq_num");
        packets.push((u64_at(p, 32), u64_at(p, 40), discarded));
        let mut pos = str_at(p, 96).1;
        let mut first = true;
        while pos < p.len() {
            let (class, ts) = (u32_at(p, pos), u64_at(p, pos + 4));
            pos += 12;
            let mut e = CtfEvent { packet: (seq, discarded, first), class, ts, message: String::new(), loss: None };
            first = false;
            match class {
                0 => {
                    // level, target, message, fields, context, callsite_id, truncated
                    let (_, q) = str_at(p, pos + 1);
                    let (message, q) = str_at(p, q);
                    e.message = message.to_string();
                    let (_, q) = str_at(p, q);
                    pos = str_at(p, q).1 + 5;
                }
                3 => {
                    e.loss = Some([0, 8, 16, 24].map(|o| u64_at(p, pos + o)));
                    pos += 32;
                }
                c => panic!("event class {c} in the gap's stream"),
            }
            events.push(e);
        }
        assert_eq!(pos, p.len(), "the packet's events fill it");
        at += p.len();
    }
    (events, packets)
}

/// Checks a CTF trace: every record an event at its time (Unix ns), the loss event's
/// timestamp, `first_ts` and `last_ts` the gap's, and the gap between two packets: the loss
/// event begins a packet (at the gap's opening) whose `events_discarded` is the previous
/// packet's plus the lost events, and the previous packet ended no later than the opening.
fn check_ctf(what: &str, dir: &Path, g: &Gap<()>) {
    let streams: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("stream-"))
        .collect();
    assert_eq!(streams.len(), 1, "{what}: one thread");
    let (events, packets) = read_ctf_stream(&std::fs::read(&streams[0]).unwrap());
    assert_eq!(events.len(), g.kept.len(), "{what}");
    for (i, (e, m)) in events.iter().zip(g.marks()).enumerate() {
        // The times never decrease here, so none is raised to its predecessor's.
        assert_eq!(e.ts, m.unix_ns, "{what}: record {i}");
        assert_eq!(e.class, if m.kind == RecordKind::Loss { 3 } else { 0 }, "{what}: record {i}");
        if m.kind == RecordKind::Event {
            assert_eq!(e.message, m.message, "{what}: record {i}");
        }
    }
    let at = g.loss_at;
    let [lost, bytes, first, last] = events[at].loss.unwrap();
    assert_eq!((lost, bytes), (g.info().events, g.info().bytes), "{what}");
    let ns = |n: u64| n as i64;
    let got = Times {
        at: ns(events[at].ts),
        first: ns(first),
        last: ns(last),
        prev: ns(events[at - 1].ts),
        next: ns(events[at + 1].ts),
    };
    g.check(what, got, ns);
    let (seq, discarded, begins) = events[at].packet;
    assert!(begins && seq > 0, "{what}: the loss event begins a packet after another: {:?}", events[at]);
    assert_eq!(packets[seq as usize].0, first, "{what}: that packet begins at the gap's opening");
    assert!(packets[seq as usize - 1].1 <= first, "{what}: the packet before ends before it: {packets:?}");
    let before = packets[seq as usize - 1].2;
    assert_eq!((before, discarded), (0, lost), "{what}: events_discarded counts the gap between the packets");
}

#[test]
fn chrome_and_ctf_show_the_gap_from_its_opening_to_its_closing() {
    let dir = std::env::temp_dir().join(format!("ringtrace-export-loss-times-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (json, ctf, trace) = (dir.join("live.json"), dir.join("live-ctf"), dir.join("gap.rtrace"));
    let g = gap::provoke(
        vec![
            Box::new(ChromeSink::create(&json).unwrap()),
            Box::new(CtfSink::create(&ctf).unwrap()),
            Box::new(BinarySink::file(&trace, Rotation { max_bytes: 0, max_files: 0 }).unwrap()),
        ],
        |ev| (Mark::of(ev), ()),
    );
    for s in ["chrome", "ctf"] {
        let r = g.report.sink(s).unwrap();
        assert_eq!((r.written, r.dropped), (g.kept.len() as u64, 0), "{s}: {r:?}");
    }
    check_chrome("live chrome", &std::fs::read(&json).unwrap(), &g);
    check_ctf("live ctf", &ctf, &g);

    // `ringtrace convert` from the binary trace: the same times.
    let (out, _) =
        convert::to_chrome(&mut TraceReader::open(&trace).unwrap(), Vec::new(), ChromeOptions::default(), |_| {})
            .unwrap();
    check_chrome("converted chrome", &out, &g);
    let converted = dir.join("converted-ctf");
    convert::to_ctf(&mut TraceReader::open(&trace).unwrap(), &converted, CtfOptions::default(), |_| {}).unwrap();
    check_ctf("converted ctf", &converted, &g);
    let _ = std::fs::remove_dir_all(&dir);
}
