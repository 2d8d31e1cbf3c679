//! Issue 19 item 1 in the timeline exports: a span recorded through `ringtrace-tracing`'s layer,
//! with a value recorded after creation (`Span::record`) and an event inside it, written to a
//! binary trace and converted to Chrome JSON (both span styles) and to CTF. The recorded value
//! (on the span's end record) and the span's id (`span.id`, on both edges and on the event)
//! must be in the Chrome events' `args` and in the CTF events' `fields`. (One runtime per
//! process: this binary has one test.)

// These tests use the real atomics; under `--features loom` only the loom models run.
#![cfg(not(feature = "loom"))]

use ringtrace::trace_file::TraceReader;
use ringtrace::{CallsiteKind, RecordKind, Value};
use ringtrace_export::{convert, ChromeOptions, CtfOptions, SpanStyle};
use serde_json::Value as Json;
use std::path::Path;
use std::time::Duration;
use tracing_subscriber::layer::SubscriberExt;

fn program() {
    let span = tracing::info_span!("request", id = 7u64, status = tracing::field::Empty);
    let _e = span.enter();
    tracing::info!(n = 1u64, "inside");
    span.record("status", 200u64);
}

/// The span id the begin record of the trace carries, read back from the binary trace.
fn begin_span_id(bin: &Path) -> u64 {
    let mut id = None;
    TraceReader::open(bin)
        .unwrap()
        .for_each_batch(|b| {
            for ev in b.iter().filter(|e| e.kind() == RecordKind::Event) {
                if ev.callsite_kind() == CallsiteKind::SpanBegin {
                    id = ev.fields().find_map(|(k, v)| match (k, v) {
                        ("span.id", Value::U64(x)) => Some(x),
                        _ => None,
                    });
                }
            }
        })
        .unwrap();
    id.expect("the begin record carries span.id")
}

fn chrome(bin: &Path, spans: SpanStyle) -> Vec<Json> {
    let opts = ChromeOptions { spans, ..ChromeOptions::default() };
    let mut reader = TraceReader::open(bin).unwrap();
    let (out, _) = convert::to_chrome(&mut reader, Vec::new(), opts, |_| {}).unwrap();
    let doc: Json = serde_json::from_slice(&out).unwrap();
    doc["traceEvents"].as_array().unwrap().clone()
}

fn find<'a>(events: &'a [Json], ph: &str, name: &str) -> &'a Json {
    events.iter().find(|e| e["ph"] == ph && e["name"] == name).unwrap_or_else(|| panic!("{ph} {name}: {events:#?}"))
}

/// Whether `hay` holds `needle` as a NUL-terminated CTF string.
fn has_ctf_string(hay: &[u8], needle: &str) -> bool {
    let mut n = needle.as_bytes().to_vec();
    n.push(0);
    hay.windows(n.len()).any(|w| w == n)
}

#[test]
fn recorded_span_values_and_span_ids_reach_chrome_and_ctf() {
    let dir = std::env::temp_dir().join(format!("ringtrace-export-span-fields-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let bin = dir.join("trace.rtrace");
    let rotation = ringtrace::sinks::rotate::Rotation { max_bytes: 0, max_files: 0 };
    let guard = ringtrace::Builder::new()
        .ignore_env()
        .sink(ringtrace::sinks::BinarySink::file(&bin, rotation).unwrap())
        .install()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(ringtrace_tracing::RingtraceLayer::new());
    tracing::subscriber::with_default(subscriber, program);
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!((report.recorded, report.dropped.total()), (3, 0), "begin, event, end");
    let id = begin_span_id(&bin);

    // Chrome, complete slices: the begin record's fields as args, the end record's as
    // `end.KEY` (the recorded value is only there); the instant carries the span's id.
    let events = chrome(&bin, SpanStyle::Complete);
    let slice = find(&events, "X", "request");
    assert_eq!(slice["args"]["id"], 7, "{slice}");
    assert_eq!(slice["args"]["span.id"], id, "{slice}");
    assert_eq!(slice["args"]["end.status"], 200, "{slice}");
    assert_eq!(slice["args"]["end.span.id"], id, "{slice}");
    assert_eq!(slice["args"].get("status"), None, "not recorded yet at the begin: {slice}");
    let inside = find(&events, "I", "inside");
    assert_eq!((&inside["args"]["n"], &inside["args"]["span.id"]), (&Json::from(1), &Json::from(id)), "{inside}");

    // Chrome, B/E pairs: the end record's fields are the E event's args.
    let events = chrome(&bin, SpanStyle::BeginEnd);
    let (b, e) = (find(&events, "B", "request"), find(&events, "E", "request"));
    assert_eq!((&b["args"]["id"], &b["args"]["span.id"]), (&Json::from(7), &Json::from(id)), "{b}");
    assert_eq!(b["args"].get("status"), None, "{b}");
    assert_eq!(e["args"], serde_json::json!({"id": 7, "status": 200, "span.id": id}), "{e}");
    assert_eq!(find(&events, "I", "inside")["args"]["span.id"], id);

    // CTF: every event class has a `fields` string (TSDL metadata); the streams hold each
    // record's fields as `key=value` text.
    let ctf = dir.join("ctf");
    convert::to_ctf(&mut TraceReader::open(&bin).unwrap(), &ctf, CtfOptions::default(), |_| {}).unwrap();
    let metadata = std::fs::read_to_string(ctf.join("metadata")).unwrap();
    let end_class = &metadata[metadata.find("\"ringtrace:span_end\"").expect("span_end class")..];
    assert!(end_class[..end_class.find("};").unwrap()].contains("string fields;"), "{metadata}");
    let mut streams = Vec::new();
    for entry in std::fs::read_dir(&ctf).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().is_some_and(|n| n != "metadata") {
            streams.extend(std::fs::read(&path).unwrap());
        }
    }
    let (begin_fields, end_fields, event_fields) =
        (format!("id=7 span.id={id}"), format!("id=7 status=200 span.id={id}"), format!("n=1 span.id={id}"));
    for f in [&begin_fields, &end_fields, &event_fields] {
        assert!(has_ctf_string(&streams, f), "{f:?} not in the CTF streams");
    }

    // CTF as babeltrace2 reads it, when it is installed (CI installs it: scripts/check-ctf.sh).
    match std::process::Command::new("babeltrace2").arg(&ctf).output() {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            let line =
                |class: &str| text.lines().find(|l| l.contains(class)).unwrap_or_else(|| panic!("{class}: {text}"));
            assert!(line("ringtrace:span_begin").contains(&format!("fields = \"{begin_fields}\"")), "{text}");
            assert!(line("ringtrace:span_end").contains(&format!("fields = \"{end_fields}\"")), "{text}");
            assert!(line("ringtrace:event").contains(&format!("fields = \"{event_fields}\"")), "{text}");
        }
        other => eprintln!("babeltrace2 not run ({other:?}): the babeltrace2 check is skipped"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}
