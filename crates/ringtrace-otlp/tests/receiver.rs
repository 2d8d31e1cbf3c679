//! Acceptance: a real ringtrace runtime exports to `scripts/otlp_receiver.py`, which decodes
//! every request with the official OpenTelemetry protobuf messages (the `opentelemetry-proto`
//! Python package) and writes each decoded LogRecord as a JSON line. The tests assert from
//! that output: exact counts, severities, bodies, typed attributes, timestamps, resource;
//! protobuf and JSON, gzip on and off; retries on 503 with Retry-After; drops after the
//! retry bound; partial success.
//!
//! They need `python3` with `pip install -r scripts/requirements-otlp.txt`, so they are
//! `#[ignore]`d; run them with `cargo test -p ringtrace-otlp -- --ignored`. Then a missing
//! interpreter or module is a test failure, not a skip.

// These tests use the real atomics; under `--features loom` only the loom models run.
#![cfg(not(feature = "loom"))]

use ringtrace::{Batch, Callsite, CallsiteKind, Level, Metadata, Sink, SinkError, SinkMetadata};
use ringtrace_otlp::{Compression, OtlpSink, Protocol};
use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

const NEEDS: &str = "needs python3 with opentelemetry-proto: pip install -r scripts/requirements-otlp.txt";
const THREADS: u64 = 4;
const PER_THREAD: u64 = 250;
const SHUTDOWN: Duration = Duration::from_secs(60);

/// One runtime per process at a time.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The receiver child process; killed on drop.
struct Receiver {
    child: Child,
    port: u16,
    out: PathBuf,
}

impl Receiver {
    fn start(name: &str, args: &[&str]) -> Receiver {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/otlp_receiver.py");
        let out = std::env::temp_dir().join(format!("ringtrace-otlp-{name}-{}.jsonl", std::process::id()));
        let _ = std::fs::remove_file(&out);
        let mut child = Command::new("python3")
            .arg(&script)
            .arg("--port")
            .arg("0")
            .arg("--out")
            .arg(&out)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start python3 {}: {e} ({NEEDS})", script.display()));
        let mut line = String::new();
        let _ = BufReader::new(child.stdout.take().unwrap()).read_line(&mut line);
        let Ok(port) = line.trim().parse::<u16>() else {
            let _ = child.kill();
            let mut err = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut err);
            panic!("the OTLP receiver did not start (first line {line:?}); {NEEDS}\nstderr:\n{err}");
        };
        Receiver { child, port, out }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every JSON line written so far.
    fn lines(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    fn logs(&self) -> Vec<Value> {
        self.lines().into_iter().filter(|l| l["type"] == "log").collect()
    }

    fn requests(&self) -> Vec<Value> {
        self.lines().into_iter().filter(|l| l["type"] == "request").collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.out);
    }
}

/// What the runtime delivered, as a second sink saw it: (thread name, i) → (unix ns, message).
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Captured>>);

/// (thread name, field `i`) → (unix ns, formatted message).
type Captured = HashMap<(String, u64), (u64, String)>;

impl Sink for Capture {
    fn name(&self) -> &str {
        "capture"
    }
    fn metadata(&self) -> SinkMetadata {
        SinkMetadata::new("capture", "0.1.0")
    }
    fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        let mut m = self.0.lock().unwrap();
        for ev in batch.iter() {
            if let Some((_, ringtrace::Value::U64(i))) = ev.fields().find(|(k, _)| *k == "i") {
                m.insert((ev.thread().name.clone(), i), (ev.unix_nanos(), ev.message()));
            }
        }
        Ok(())
    }
}

fn span_edge(name: &'static str, kind: CallsiteKind) -> &'static Callsite {
    let meta: &'static Metadata = Box::leak(Box::new(Metadata {
        level: Level::Info,
        target: "spans",
        module_path: module_path!(),
        file: file!(),
        line: line!(),
        format: name,
        fields: &[],
        kind,
    }));
    Box::leak(Box::new(Callsite::new(meta)))
}

/// THREADS threads × PER_THREAD events with typed fields and levels cycling through all five,
/// plus one span (begin and end) per thread.
fn workload() {
    let span = (span_edge("work", CallsiteKind::SpanBegin), span_edge("work", CallsiteKind::SpanEnd));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            std::thread::Builder::new()
                .name(format!("w{t}"))
                .spawn(move || {
                    ringtrace::__private::record_event(span.0, &((), ()));
                    for i in 0..PER_THREAD {
                        let neg = -(i as i32);
                        let ratio = i as f64 / 4.0;
                        let even = i % 2 == 0;
                        // One callsite per level, the same fields and message at each.
                        macro_rules! typed_event {
                            ($level:ident) => {
                                ringtrace::$level!(
                                    i = i,
                                    neg = neg,
                                    ratio = ratio,
                                    even = even,
                                    who = "w",
                                    "event {} of {}",
                                    i,
                                    t
                                )
                            };
                        }
                        match i % 5 {
                            0 => typed_event!(error),
                            1 => typed_event!(warn),
                            2 => typed_event!(info),
                            3 => typed_event!(debug),
                            _ => typed_event!(trace),
                        }
                    }
                    ringtrace::info!(i = u64::MAX, "big");
                    ringtrace::__private::record_event(span.1, &((), ()));
                })
                .unwrap()
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// Events per run: the loop, the `big` event and the two span edges, per thread.
const TOTAL: u64 = THREADS * (PER_THREAD + 3);

fn attr<'a>(log: &'a Value, key: &str) -> &'a Value {
    &log["attributes"][key]
}

/// Runs the workload into the receiver and checks everything the receiver decoded.
fn export_and_check(name: &str, protocol: Protocol, compression: Compression) {
    let _s = serial();
    let rx = Receiver::start(name, &[]);
    let sink = OtlpSink::builder()
        .endpoint(rx.endpoint())
        .protocol(protocol)
        .compression(compression)
        .service_name("ringtrace-it")
        .resource_attribute("deployment.environment.name", "test")
        .resource_attribute("it.shard", 3i64)
        .header("authorization", "Bearer not-shown")
        .build()
        .unwrap();
    let stats = sink.stats();
    let capture = Capture::default();
    let guard = ringtrace::Builder::new().ignore_env().sink(sink).sink(capture.clone()).install().unwrap();
    workload();
    let report = guard.shutdown(SHUTDOWN);
    assert!(!report.timed_out);
    let r = report.sink("otlp").unwrap();
    assert_eq!((r.written, r.dropped, r.errors), (TOTAL, 0, 0), "{r:?}");
    assert_eq!(report.recorded, TOTAL);
    assert_eq!(stats.exported_records(), TOTAL);
    assert_eq!(stats.retries(), 0);

    let requests = rx.requests();
    let want_ct = match protocol {
        Protocol::Protobuf => "application/x-protobuf",
        Protocol::Json => "application/json",
    };
    let want_ce = match compression {
        Compression::Gzip => Value::from("gzip"),
        Compression::None => Value::Null,
    };
    assert!(!requests.is_empty());
    for q in &requests {
        assert_eq!(
            (&q["status"], &q["content_type"], &q["content_encoding"]),
            (&Value::from(200), &Value::from(want_ct), &want_ce)
        );
    }
    assert_eq!(requests.iter().map(|q| q["records"].as_u64().unwrap()).sum::<u64>(), TOTAL);

    let logs = rx.logs();
    assert_eq!(logs.len() as u64, TOTAL, "exactly once each");
    let captured = capture.0.lock().unwrap();
    let mut last_time: HashMap<String, u64> = HashMap::new();
    let mut next_i: HashMap<String, u64> = HashMap::new();
    let (mut events, mut begins, mut ends, mut bigs) = (0, 0, 0, 0);
    for log in &logs {
        let res = &log["resource"];
        assert_eq!(res["service.name"], serde_json::json!({"string": "ringtrace-it"}));
        assert_eq!(res["deployment.environment.name"], serde_json::json!({"string": "test"}));
        assert_eq!(res["it.shard"], serde_json::json!({"int": "3"}));
        let thread = attr(log, "thread.name")["string"].as_str().unwrap().to_owned();
        assert!(attr(log, "thread.id")["int"].is_string());
        let time: u64 = log["time_unix_nano"].as_str().unwrap().parse().unwrap();
        let observed: u64 = log["observed_time_unix_nano"].as_str().unwrap().parse().unwrap();
        assert!(observed >= time, "observed after recorded");
        // Monotone per thread (the receiver's file is in arrival order; one target per
        // thread's events apart from the spans, which have their own scope).
        if log["scope"] != "spans" {
            if let Some(t0) = last_time.insert(thread.clone(), time) {
                assert!(time >= t0, "{thread}: {time} after {t0}");
            }
        }
        match log["event_name"].as_str().unwrap() {
            "ringtrace.span.begin" | "ringtrace.span.end" => {
                assert_eq!(log["scope"], "spans");
                assert_eq!(log["body"], serde_json::json!({"string": "work"}));
                let edge = attr(log, "ringtrace.span")["string"].as_str().unwrap();
                if edge == "begin" {
                    begins += 1
                } else {
                    ends += 1
                }
                continue;
            }
            "" => {}
            other => panic!("unexpected event_name {other}"),
        }
        assert_eq!(log["scope"], module_path!(), "the target is the scope");
        assert_eq!(attr(log, "code.file.path")["string"], file!());
        assert!(attr(log, "code.line.number")["int"].is_string());
        if log["body"]["string"] == "big" {
            assert_eq!(attr(log, "i"), &serde_json::json!({"string": u64::MAX.to_string()}), "u64 > i64::MAX");
            bigs += 1;
            continue;
        }
        events += 1;
        let i: u64 = attr(log, "i")["int"].as_str().unwrap().parse().unwrap();
        let t = &thread[1..];
        assert_eq!(log["body"]["string"], format!("event {i} of {t}"));
        let (num, text) = [(17, "ERROR"), (13, "WARN"), (9, "INFO"), (5, "DEBUG"), (1, "TRACE")][(i % 5) as usize];
        assert_eq!((log["severity_number"].as_u64().unwrap(), log["severity_text"].as_str().unwrap()), (num, text));
        assert_eq!(attr(log, "neg"), &serde_json::json!({"int": (-(i as i64)).to_string()}));
        assert_eq!(attr(log, "ratio"), &serde_json::json!({"double": i as f64 / 4.0}));
        assert_eq!(attr(log, "even"), &serde_json::json!({"bool": i % 2 == 0}));
        assert_eq!(attr(log, "who"), &serde_json::json!({"string": "w"}));
        let (ns, msg) = &captured[&(thread.clone(), i)];
        assert_eq!((time, log["body"]["string"].as_str().unwrap()), (*ns, msg.as_str()), "as recorded");
        // Each thread's events arrive in recording order.
        let next = next_i.entry(thread.clone()).or_insert(0);
        assert_eq!(i, *next, "{thread}");
        *next += 1;
    }
    assert_eq!((events, begins, ends, bigs), (THREADS * PER_THREAD, THREADS, THREADS, THREADS));
}

#[test]
#[ignore = "needs python3 with opentelemetry-proto: pip install -r scripts/requirements-otlp.txt"]
fn protobuf_gzip_is_decoded_by_the_official_messages() {
    export_and_check("pb-gz", Protocol::Protobuf, Compression::Gzip);
}

#[test]
#[ignore = "needs python3 with opentelemetry-proto: pip install -r scripts/requirements-otlp.txt"]
fn protobuf_without_compression() {
    export_and_check("pb", Protocol::Protobuf, Compression::None);
}

#[test]
#[ignore = "needs python3 with opentelemetry-proto: pip install -r scripts/requirements-otlp.txt"]
fn json_is_parsed_by_protobuf_json_format() {
    export_and_check("json", Protocol::Json, Compression::None);
}

#[test]
#[ignore = "needs python3 with opentelemetry-proto: pip install -r scripts/requirements-otlp.txt"]
fn json_gzip() {
    export_and_check("json-gz", Protocol::Json, Compression::Gzip);
}

#[test]
#[ignore = "needs python3 with opentelemetry-proto: pip install -r scripts/requirements-otlp.txt"]
fn a_receiver_answering_503_then_200_gets_every_event_exactly_once() {
    let _s = serial();
    let rx = Receiver::start("retry", &["--fail-first", "2", "--retry-after", "1"]);
    let sink = OtlpSink::builder().endpoint(rx.endpoint()).max_retries(3).build().unwrap();
    let stats = sink.stats();
    let guard = ringtrace::Builder::new().ignore_env().sink(sink).install().unwrap();
    workload();
    let report = guard.shutdown(SHUTDOWN);
    let r = report.sink("otlp").unwrap();
    assert_eq!((r.written, r.dropped, r.errors), (TOTAL, 0, 0), "{r:?}");
    let requests = rx.requests();
    let statuses: Vec<u64> = requests.iter().map(|q| q["status"].as_u64().unwrap()).collect();
    assert_eq!(&statuses[..2], [503, 503], "the receiver saw the failed attempts");
    assert!(statuses[2..].iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(stats.retries(), 2);
    assert_eq!(stats.failed_requests(), 2);
    let logs = rx.logs();
    assert_eq!(logs.len() as u64, TOTAL, "exactly once");
    let mut keys: Vec<(String, String, String)> = logs
        .iter()
        .map(|l| (attr(l, "thread.name").to_string(), l["time_unix_nano"].to_string(), l["body"].to_string()))
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len() as u64, TOTAL, "no duplicates");
}

#[test]
#[ignore = "needs python3 with opentelemetry-proto: pip install -r scripts/requirements-otlp.txt"]
fn a_receiver_that_always_answers_503_makes_the_events_dropped_with_the_reason() {
    let _s = serial();
    let rx = Receiver::start("down", &["--always-fail", "--retry-after", "0"]);
    let sink = OtlpSink::builder().endpoint(rx.endpoint()).max_retries(2).build().unwrap();
    let stats = sink.stats();
    let capture = Capture::default();
    let guard = ringtrace::Builder::new().ignore_env().sink(sink).sink(capture.clone()).install().unwrap();
    workload();
    let report = guard.shutdown(SHUTDOWN);
    assert!(!report.timed_out);
    let r = report.sink("otlp").unwrap();
    assert_eq!((r.written, r.dropped), (0, TOTAL), "{r:?}");
    assert_eq!(report.sink("capture").unwrap().written, TOTAL, "the other sink is unaffected");
    let errors: Vec<_> = report.sink_errors.iter().filter(|e| e.sink == "otlp").collect();
    assert_eq!(errors.len() as u64, r.errors);
    assert_eq!(stats.failed_batches(), r.errors);
    for e in &errors {
        assert!(e.message.contains("HTTP 503") && e.message.contains("(3 attempts)"), "{}", e.message);
    }
    let requests = rx.requests();
    assert_eq!(requests.len() as u64, 3 * r.errors, "each failed batch: 1 attempt + 2 retries");
    assert!(requests.iter().all(|q| q["status"] == 503));
    assert!(rx.logs().is_empty());
}

#[test]
#[ignore = "needs python3 with opentelemetry-proto: pip install -r scripts/requirements-otlp.txt"]
fn partial_success_rejections_are_counted() {
    let _s = serial();
    let rx = Receiver::start("partial", &["--reject-per-request", "1"]);
    for protocol in [Protocol::Protobuf, Protocol::Json] {
        let sink = OtlpSink::builder().endpoint(rx.endpoint()).protocol(protocol).build().unwrap();
        let stats = sink.stats();
        let guard = ringtrace::Builder::new().ignore_env().sink(sink).install().unwrap();
        ringtrace::info!("one");
        ringtrace::info!("two");
        let report = guard.shutdown(SHUTDOWN);
        assert_eq!(report.sink("otlp").unwrap().written, 2, "partial success is still a success");
        assert_eq!(stats.rejected_records(), stats.exported_requests(), "{protocol:?}");
        assert!(stats.rejected_records() >= 1);
        assert_eq!(stats.last_partial_success_message().as_deref(), Some("rejected by the test receiver"));
    }
}
