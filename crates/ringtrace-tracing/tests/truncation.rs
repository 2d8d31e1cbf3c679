//! A `tracing` event larger than `max_record_size` (issue 19 item 2): its message and other
//! fields are kept and the long value is cut and marked, as for ringtrace's own macros
//! (best-effort serialization, docs/configuration.md).
#![cfg(not(feature = "loom"))]

use ringtrace::{Batch, Sink, SinkError, CUT_MARK};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing_subscriber::prelude::*;

struct Lines(Arc<Mutex<String>>);

impl Sink for Lines {
    fn name(&self) -> &str {
        "lines"
    }

    fn metadata(&self) -> ringtrace::SinkMetadata {
        ringtrace::SinkMetadata::new("lines", env!("CARGO_PKG_VERSION"))
    }

    fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        let mut out = self.0.lock().unwrap();
        for ev in batch.iter() {
            ringtrace::render::render_json(&ev, &mut out);
        }
        Ok(())
    }
}

#[test]
fn a_long_field_is_cut_and_the_message_and_other_fields_stay() {
    let text = Arc::new(Mutex::new(String::new()));
    // The default max_record_size, 4096 bytes.
    let guard = ringtrace::Builder::new().ignore_env().sink(Lines(text.clone())).install().unwrap();
    let subscriber = tracing_subscriber::registry().with(ringtrace_tracing::RingtraceLayer::new());
    let long = "y".repeat(10_000);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(long = long.as_str(), n = 7u64, "long field");
        tracing::info!(n = 1u64, ok = true, "msg {}", long);
        tracing::info!(a = long.as_str(), b = %long, "both");
    });
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!((report.recorded, report.dropped.total()), (3, 0));
    let text = text.lock().unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let cut = |n: usize| format!("{}{CUT_MARK}", "y".repeat(n));

    // 4096 − 16 header; fixed: 3 (str) + 9 (u64) + 3 (message text) = 15; the message's 10
    // bytes stay whole and the string gets 4055 bytes, mark included.
    assert_eq!(lines[0]["message"], "long field");
    assert_eq!(lines[0]["fields"], json!({ "long": cut(4052), "n": 7 }));
    assert_eq!(lines[0]["truncated"], true);

    // The message itself is the long value: fixed 9 + 2 + 3, 4066 bytes for its text.
    assert_eq!(lines[1]["message"], format!("msg {}", cut(4066 - 4 - 3)));
    assert_eq!(lines[1]["fields"], json!({ "n": 1, "ok": true }));

    // Two long values share the room alike, (4080 − 9 − 4) / 2 = 2033 bytes each with the
    // mark; the short message stays whole.
    assert_eq!(lines[2]["message"], "both");
    assert_eq!(lines[2]["fields"], json!({ "a": cut(2030), "b": cut(2030) }));
    drop(lines);
    drop(text);

    // Values short enough for the layer's one-pass capture (recorded at their exact size)
    // but longer than a small max_record_size are cut alike; so are a span's values.
    let text = Arc::new(Mutex::new(String::new()));
    let guard =
        ringtrace::Builder::new().ignore_env().max_record_size(128).sink(Lines(text.clone())).install().unwrap();
    let subscriber = tracing_subscriber::registry().with(ringtrace_tracing::RingtraceLayer::new());
    let mid = "y".repeat(300);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(s = mid.as_str(), n = 7u64, "short");
        let span = tracing::info_span!("span", s = tracing::field::Empty, n = 1u64);
        span.record("s", mid.as_str());
        let _e = span.enter();
    });
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!((report.recorded, report.dropped.total()), (3, 0));
    let text = text.lock().unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    // 128 − 16 header; fixed: 3 (str) + 9 (u64) + 3 (message text) = 15; "short" whole: the
    // string gets 92 bytes, mark included.
    assert_eq!(lines[0]["message"], "short");
    assert_eq!(lines[0]["fields"], json!({ "s": cut(89), "n": 7 }));
    assert_eq!(lines[0]["truncated"], true);
    // Begin record: s, n, span.id; fixed 3 + 9 + 9: 91 bytes for the string.
    assert_eq!(lines[1]["span"], "begin");
    assert_eq!(lines[1]["fields"]["s"], cut(88));
    assert_eq!(lines[1]["fields"]["n"], 1);
    assert_eq!(lines[2]["fields"]["s"], cut(88), "the end record carries the recorded value");
}
