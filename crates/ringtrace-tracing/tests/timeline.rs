//! `tracing` spans recorded through the layer come out of the Chrome/Perfetto export as nested
//! complete slices on each thread's track, with the span fields as args.
#![cfg(not(feature = "loom"))]

use serde_json::Value;
use std::time::Duration;
use tracing_subscriber::prelude::*;

fn work(n: u64) {
    let outer = tracing::info_span!("request", n);
    let _o = outer.enter();
    tracing::info!("start");
    for step in 0..2u64 {
        let inner = tracing::debug_span!("step", step);
        let _i = inner.enter();
        tracing::debug!(step, "inside");
    }
}

#[test]
fn layer_spans_become_nested_slices_in_the_chrome_export() {
    let dir = std::env::temp_dir().join(format!("ringtrace-timeline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("trace.json");
    let sink = ringtrace_export::ChromeSink::create(&path).unwrap();
    let guard = ringtrace::Builder::new().ignore_env().sink(sink).install().unwrap();
    tracing_subscriber::registry()
        .with(ringtrace_tracing::RingtraceLayer::new().with_max_level(ringtrace::Level::Debug))
        .init();

    let workers: Vec<_> =
        (0..2u64).map(|n| std::thread::Builder::new().name(format!("w{n}")).spawn(move || work(n)).unwrap()).collect();
    for w in workers {
        w.join().unwrap();
    }
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(report.dropped.total(), 0);

    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let events = doc["traceEvents"].as_array().unwrap();
    let tid_of = |name: &str| {
        events
            .iter()
            .find(|e| e["ph"] == "M" && e["name"] == "thread_name" && e["args"]["name"] == name)
            .map(|e| e["tid"].as_u64().unwrap())
            .unwrap_or_else(|| panic!("no thread named {name}"))
    };
    for n in 0..2u64 {
        let tid = tid_of(&format!("w{n}"));
        let slices: Vec<&Value> = events.iter().filter(|e| e["ph"] == "X" && e["tid"] == tid).collect();
        assert_eq!(slices.len(), 3, "one request and two steps on w{n}");
        let request = slices.iter().find(|s| s["name"] == "request").unwrap();
        assert_eq!(request["args"]["n"], n);
        let (rs, rd) = (request["ts"].as_f64().unwrap(), request["dur"].as_f64().unwrap());
        let steps: Vec<&&Value> = slices.iter().filter(|s| s["name"] == "step").collect();
        assert_eq!(steps.len(), 2);
        for (i, s) in steps.iter().enumerate() {
            let (ss, sd) = (s["ts"].as_f64().unwrap(), s["dur"].as_f64().unwrap());
            assert!(ss >= rs && ss + sd <= rs + rd, "step {i} lies inside request on w{n}");
            assert_eq!(s["args"]["step"], i as u64);
        }
        let instants = events.iter().filter(|e| e["ph"] == "I" && e["tid"] == tid).count();
        assert_eq!(instants, 3, "start and two inside events on w{n}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
