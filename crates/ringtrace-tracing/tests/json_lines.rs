//! A `tracing`-instrumented "application" records into ringtrace with only its subscriber
//! set-up changed; its JSON lines carry the right fields, levels, targets and span nesting.
#![cfg(not(feature = "loom"))]

use ringtrace::{Batch, Sink, SinkError};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing_subscriber::prelude::*;

/// The application: ordinary `tracing` instrumentation, knowing nothing of ringtrace.
mod app {
    use std::fmt;

    #[derive(Debug)]
    #[allow(dead_code)] // read by its Debug implementation
    pub struct Order {
        pub id: u64,
        pub side: &'static str,
    }

    #[derive(Debug)]
    pub struct Rejected;
    impl fmt::Display for Rejected {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("limit exceeded")
        }
    }
    impl std::error::Error for Rejected {}

    #[tracing::instrument(fields(venue = "xnas"))]
    pub fn handle(order_id: u64, qty: i64) {
        tracing::info!(price = 101.25f64, filled = true, "filled {} of {}", qty, order_id);
        let order = Order { id: order_id, side: "buy" };
        tracing::debug!(?order, "detail");
        tracing::trace!("too verbose: disabled");
        let span = tracing::info_span!("risk", check = "limit");
        span.in_scope(|| {
            let err = Rejected;
            tracing::warn!(target: "audit", error = &err as &dyn std::error::Error, user = "ada");
        });
    }

    pub fn run() {
        tracing::error!(code = -3i64, "startup {}", "slow");
        handle(7, 10);
        let t = std::thread::Builder::new()
            .name("worker".into())
            .spawn(|| {
                let s = tracing::info_span!("job", n = 1u64);
                let _e = s.enter();
                tracing::info!("working");
            })
            .unwrap();
        t.join().unwrap();
    }
}

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
fn fields_levels_targets_and_span_nesting_come_out_in_json_lines() {
    let text = Arc::new(Mutex::new(String::new()));
    let guard = ringtrace::Builder::new().ignore_env().sink(Lines(text.clone())).install().unwrap();

    // The only ringtrace-specific line: the subscriber.
    let subscriber = tracing_subscriber::registry()
        .with(ringtrace_tracing::RingtraceLayer::new().with_max_level(ringtrace::Level::Debug));
    tracing::subscriber::set_global_default(subscriber).unwrap();
    app::run();

    let report = guard.shutdown(Duration::from_secs(10));
    assert!(!report.timed_out);
    let text = text.lock().unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    // error, begin handle, info, debug, begin risk, warn, end risk, end handle, begin job, info, end job
    assert_eq!(lines.len(), 11, "{text}");
    assert_eq!(report.recorded, 11);

    let main: Vec<&Value> = lines.iter().filter(|l| l["thread"] != "worker").collect();
    let worker: Vec<&Value> = lines.iter().filter(|l| l["thread"] == "worker").collect();
    assert_eq!((main.len(), worker.len()), (8, 3));

    let e = main[0];
    assert_eq!(e["level"], "ERROR");
    assert_eq!(e["target"], module_path!().to_string() + "::app");
    assert_eq!(e["message"], "startup slow");
    assert_eq!(e["fields"]["code"], -3);

    let handle = main[1];
    assert_eq!((handle["span"].as_str(), handle["message"].as_str()), (Some("begin"), Some("handle")));
    assert_eq!(handle["level"], "INFO");
    assert_eq!(handle["fields"]["venue"], "xnas");
    assert_eq!(handle["fields"]["order_id"], 7);
    assert_eq!(handle["fields"]["qty"], 10);

    let filled = main[2];
    assert_eq!(filled["message"], "filled 10 of 7");
    assert_eq!(filled["fields"]["price"], 101.25);
    assert_eq!(filled["fields"]["filled"], true);
    assert!(filled.get("span").is_none());

    let detail = main[3];
    assert_eq!(detail["level"], "DEBUG");
    assert_eq!(detail["fields"]["order"], r#"Order { id: 7, side: "buy" }"#);

    assert_eq!((main[4]["span"].as_str(), main[4]["message"].as_str()), (Some("begin"), Some("risk")));
    assert_eq!(main[4]["fields"]["check"], "limit");

    let audit = main[5];
    assert_eq!(audit["level"], "WARN");
    assert_eq!(audit["target"], "audit");
    assert_eq!(audit["message"], "");
    assert_eq!(audit["fields"]["user"], "ada");
    assert_eq!(audit["fields"]["error"], "limit exceeded");

    // Nesting: every end closes the most recent open begin of the same name, on each thread.
    for thread in [&main, &worker] {
        let mut stack = Vec::new();
        for l in thread.iter() {
            match l["span"].as_str() {
                Some("begin") => stack.push(l["message"].as_str().unwrap()),
                Some("end") => assert_eq!(stack.pop(), l["message"].as_str(), "{text}"),
                _ => {}
            }
        }
        assert!(stack.is_empty());
    }
    let names: Vec<(&str, &str)> =
        main.iter().filter_map(|l| Some((l["span"].as_str()?, l["message"].as_str()?))).collect();
    assert_eq!(names, [("begin", "handle"), ("begin", "risk"), ("end", "risk"), ("end", "handle")]);
    assert_eq!(worker[0]["span"], "begin");
    assert_eq!(worker[0]["fields"]["n"], 1);
    assert_eq!(worker[1]["message"], "working");
    assert_eq!(worker[2]["span"], "end");
    assert!(!text.contains("too verbose"));
}
