//! The `log` backend: static and formatted messages, levels, targets and call-site interning.
#![cfg(not(feature = "loom"))]

use ringtrace::{Batch, Sink, SinkError};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

struct Lines(Arc<Mutex<Vec<(String, u32)>>>);

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
            let mut s = String::new();
            ringtrace::render::render_json(&ev, &mut s);
            out.push((s, ev.id()));
        }
        Ok(())
    }
}

fn site(n: u32) {
    log::info!("static message {{braces}}");
    log::warn!(target: "net", "retry {} of {}", n, 3);
}

#[test]
fn static_and_formatted_messages_levels_and_targets() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let guard = ringtrace::Builder::new().ignore_env().sink(Lines(seen.clone())).install().unwrap();
    ringtrace_tracing::RingtraceLogger::new().with_max_level(ringtrace::Level::Info).install().unwrap();
    assert_eq!(log::max_level(), log::LevelFilter::Info);

    for n in 0..3 {
        site(n);
    }
    log::debug!("disabled");
    log::error!("done");

    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(report.recorded, 7);
    let seen = seen.lock().unwrap();
    let lines: Vec<Value> = seen.iter().map(|(l, _)| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 7);
    for (i, n) in (0..3).enumerate() {
        let (a, b) = (&lines[2 * i], &lines[2 * i + 1]);
        assert_eq!(a["level"], "INFO");
        assert_eq!(a["target"], module_path!());
        assert_eq!(a["message"], "static message {braces}");
        assert_eq!(b["level"], "WARN");
        assert_eq!(b["target"], "net");
        assert_eq!(b["message"], format!("retry {n} of 3"));
    }
    assert_eq!(lines[6]["level"], "ERROR");
    assert_eq!(lines[6]["message"], "done");

    // One callsite per (file, line, level, target, message): the three passes share two ids.
    let ids: std::collections::HashSet<u32> = seen[..6].iter().map(|(_, id)| *id).collect();
    assert_eq!(ids.len(), 2);
    let info = ringtrace::lookup_callsite(seen[0].1).unwrap();
    assert_eq!(info.format, "static message {{braces}}", "a static message is the callsite's format");
    assert_eq!(info.file, file!());
    let warn = ringtrace::lookup_callsite(seen[1].1).unwrap();
    assert_eq!(warn.format, "{}");
}
