//! Unit tests without Python: the mapping of hand-built records, and the sink against a tiny
//! in-process HTTP responder (retries, Retry-After, fatal statuses, gzip, headers, splitting,
//! partial success).

use crate::mapping::Mapper;
use crate::{Compression, OtlpBuilder, OtlpSink, Protocol};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value::Value as V, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use ringtrace::trace_file::{file_header, write_callsite, write_thread, RecordsWriter, TraceReader};
use ringtrace::{Batch, CallsiteInfo, CallsiteKind, ClockCalibration, Level, Sink, ThreadInfo};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

// ---- building records by hand (the wire format of ringtrace's record.rs / value.rs) ----

const EPOCH: u64 = 1_700_000_000_000_000_000;
const KIND_EVENT: u16 = 1;
const KIND_RAW: u16 = 2;
const KIND_LOSS: u16 = 3;
const FLAG_CONTEXT: u16 = 1 << 4;
const FLAG_TRUNCATED: u16 = 1 << 5;

fn record(flags: u16, id: u32, ts: u64, payload: &[u8]) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend_from_slice(&((16 + payload.len()) as u16).to_le_bytes());
    r.extend_from_slice(&flags.to_le_bytes());
    r.extend_from_slice(&id.to_le_bytes());
    r.extend_from_slice(&ts.to_le_bytes());
    r.extend_from_slice(payload);
    r
}

/// Encoded values: (tag, little-endian body).
fn tagged(values: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (t, b) in values {
        out.push(*t);
        out.extend_from_slice(b);
    }
    out
}

fn text(s: &str) -> Vec<u8> {
    let mut b = (s.len() as u16).to_le_bytes().to_vec();
    b.extend_from_slice(s.as_bytes());
    b
}

/// A trace with one thread (id 3, "worker-3") holding `records`, plus callsites 1..: an
/// event with typed fields, span begin/end, and an event with another target.
fn trace(records: &[Vec<u8>]) -> Vec<u8> {
    let clock = ClockCalibration::new(0, EPOCH, 1_000_000_000);
    let mut out = file_header(&clock).to_vec();
    let fields = ["u", "big", "i", "f", "b", "s", "c", "bytes", "err", "nan", "wide", "bad"];
    write_callsite(
        &mut out,
        &CallsiteInfo::new(
            1,
            Level::Warn,
            "app::orders",
            "app::orders",
            "src/orders.rs",
            42,
            "order {} filled",
            fields.iter().map(|f| f.to_string()).collect(),
        ),
    );
    write_callsite(
        &mut out,
        &CallsiteInfo::new(2, Level::Debug, "app::net", "app::net", "src/net.rs", 7, "request", vec![])
            .with_kind(CallsiteKind::SpanBegin),
    );
    write_callsite(
        &mut out,
        &CallsiteInfo::new(3, Level::Debug, "app::net", "app::net", "src/net.rs", 7, "request", vec![])
            .with_kind(CallsiteKind::SpanEnd),
    );
    write_callsite(
        &mut out,
        &CallsiteInfo::new(4, Level::Trace, "app::net", "app::net", "src/net.rs", 9, "tick {}", vec!["n".into()]),
    );
    // What ringtrace-tracing records: an event inside a span, and a span's end record with a
    // value recorded by `Span::record`, both carrying `span.id`.
    write_callsite(
        &mut out,
        &CallsiteInfo::new(
            5,
            Level::Info,
            "app::net",
            "app::net",
            "src/net.rs",
            11,
            "step {}",
            vec!["n".into(), "span.id".into()],
        ),
    );
    write_callsite(
        &mut out,
        &CallsiteInfo::new(
            6,
            Level::Info,
            "app::net",
            "app::net",
            "src/net.rs",
            10,
            "request",
            vec!["status".into(), "span.id".into()],
        )
        .with_kind(CallsiteKind::SpanEnd),
    );
    write_thread(&mut out, &ThreadInfo { id: 3, name: "worker-3".into(), os_tid: 999 });
    let mut w = RecordsWriter::default();
    for r in records {
        w.push(&mut out, 3, r);
    }
    w.finish(&mut out);
    out
}

/// The event of callsite 1 at `ts`, with every kind of field value.
fn typed_event(ts: u64) -> Vec<u8> {
    let mut err = vec![2u8];
    err.extend_from_slice(&text("outer"));
    err.extend_from_slice(&text("root cause"));
    let values = tagged(&[
        (3, 7u32.to_le_bytes().to_vec()),          // u: u32
        (4, u64::MAX.to_le_bytes().to_vec()),      // big: u64 > i64::MAX
        (9, (-5i64).to_le_bytes().to_vec()),       // i: i64
        (12, 2.5f64.to_le_bytes().to_vec()),       // f: f64
        (13, vec![1]),                             // b: bool
        (15, text("buy")),                         // s: str
        (14, ('é' as u32).to_le_bytes().to_vec()), // c: char
        (16, text("\x01\x02")),                    // bytes
        (19, err),                                 // err: error chain
        (11, f32::NAN.to_le_bytes().to_vec()),     // nan: f32
        (10, (i128::MIN).to_le_bytes().to_vec()),  // wide: i128 outside i64
        (13, vec![0]),                             // bad: see below
        (3, 7u32.to_le_bytes().to_vec()),          // the message argument
    ]);
    record(KIND_EVENT, 1, ts, &values)
}

fn with_batches(bytes: &[u8], mut f: impl FnMut(&Batch<'_>)) {
    let mut reader = TraceReader::new(std::io::Cursor::new(bytes)).expect("trace header");
    reader.for_each_batch(|b| f(b)).expect("trace body");
}

fn records(req: &ExportLogsServiceRequest) -> Vec<(&str, &LogRecord)> {
    req.resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| {
            let name = s.scope.as_ref().map_or("", |x| x.name.as_str());
            s.log_records.iter().map(move |r| (name, r))
        })
        .collect()
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a V> {
    let mut it = attrs.iter().filter(|a| a.key == key);
    let first = it.next()?;
    assert!(it.next().is_none(), "duplicate attribute {key}");
    first.value.as_ref()?.value.as_ref()
}

fn s(v: &str) -> V {
    V::StringValue(v.to_owned())
}

fn mapped(recs: &[Vec<u8>], json: bool) -> ExportLogsServiceRequest {
    let config = OtlpBuilder::new().service_name("svc").resource_attribute("env", "test").validate().unwrap();
    let mapper = Mapper::new(crate::mapping::resource(&config), json);
    let mut out = None;
    with_batches(&trace(recs), |b| out = Some(mapper.request(b.iter(), 77)));
    out.expect("one batch")
}

// ---- mapping ----

#[test]
fn an_event_maps_to_a_log_record_with_typed_attributes() {
    let req = mapped(&[typed_event(1_000)], false);
    let res = req.resource_logs[0].resource.as_ref().unwrap();
    assert_eq!(attr(&res.attributes, "service.name"), Some(&s("svc")));
    assert_eq!(attr(&res.attributes, "env"), Some(&s("test")));
    assert_eq!(attr(&res.attributes, "telemetry.sdk.name"), Some(&s("ringtrace")));
    let recs = records(&req);
    assert_eq!(recs.len(), 1);
    let (scope, r) = recs[0];
    assert_eq!(scope, "app::orders");
    assert_eq!(r.time_unix_nano, EPOCH + 1_000);
    assert_eq!(r.observed_time_unix_nano, 77);
    assert_eq!((r.severity_number, r.severity_text.as_str()), (13, "WARN"));
    assert_eq!(r.body, Some(AnyValue { value: Some(s("order 7 filled")) }), "first argument after the fields");
    let a = &r.attributes;
    assert_eq!(attr(a, "u"), Some(&V::IntValue(7)));
    assert_eq!(attr(a, "big"), Some(&s("18446744073709551615")), "u64 above i64::MAX is a string");
    assert_eq!(attr(a, "i"), Some(&V::IntValue(-5)));
    assert_eq!(attr(a, "f"), Some(&V::DoubleValue(2.5)));
    assert_eq!(attr(a, "b"), Some(&V::BoolValue(true)));
    assert_eq!(attr(a, "s"), Some(&s("buy")));
    assert_eq!(attr(a, "c"), Some(&s("é")));
    assert_eq!(attr(a, "bytes"), Some(&V::BytesValue(vec![1, 2])));
    assert_eq!(attr(a, "err"), Some(&s("outer")));
    let Some(V::ArrayValue(sources)) = attr(a, "err.sources") else { panic!("{a:?}") };
    assert_eq!(sources.values, [AnyValue { value: Some(s("root cause")) }]);
    assert!(matches!(attr(a, "nan"), Some(V::DoubleValue(d)) if d.is_nan()));
    assert_eq!(attr(a, "wide"), Some(&s(&i128::MIN.to_string())));
    assert_eq!(attr(a, "bad"), Some(&V::BoolValue(false)));
    assert_eq!(attr(a, "code.file.path"), Some(&s("src/orders.rs")));
    assert_eq!(attr(a, "code.line.number"), Some(&V::IntValue(42)));
    assert_eq!(attr(a, "thread.id"), Some(&V::IntValue(3)));
    assert_eq!(attr(a, "thread.name"), Some(&s("worker-3")));
    assert_eq!(attr(a, "ringtrace.span"), None);
    assert_eq!(r.event_name, "");
}

#[test]
fn json_mode_spells_non_finite_doubles_as_strings() {
    let req = mapped(&[typed_event(1)], true);
    let r = records(&req)[0].1;
    assert_eq!(attr(&r.attributes, "nan"), Some(&s("NaN")));
    assert_eq!(attr(&r.attributes, "f"), Some(&V::DoubleValue(2.5)));
    let json = serde_json::to_value(&req).unwrap();
    let rec = &json["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0];
    assert_eq!(rec["timeUnixNano"], (EPOCH + 1).to_string(), "64-bit integers are strings");
    assert_eq!(rec["severityNumber"], 13);
    let u = rec["attributes"].as_array().unwrap().iter().find(|a| a["key"] == "u").unwrap();
    assert_eq!(u["value"]["intValue"], "7");
}

#[test]
fn every_level_has_its_otlp_severity() {
    let got: Vec<_> = Level::ALL.iter().map(|l| crate::mapping::severity(*l)).collect();
    assert_eq!(got, [(17, "ERROR"), (13, "WARN"), (9, "INFO"), (5, "DEBUG"), (1, "TRACE")]);
}

#[test]
fn spans_loss_raw_context_and_truncation_map_to_recognisable_records() {
    let mut loss = Vec::new();
    for v in [12u64, 4096, 500, 900] {
        loss.extend_from_slice(&v.to_le_bytes());
    }
    let mut ctx_event = Vec::new();
    // Context: request_id=42u64 and n="shadowed by the field".
    let mut ctx = vec![10u8];
    ctx.extend_from_slice(b"request_id");
    ctx.push(4);
    ctx.extend_from_slice(&42u64.to_le_bytes());
    ctx.push(1);
    ctx.extend_from_slice(b"n");
    ctx.push(15);
    ctx.extend_from_slice(&text("ctx"));
    ctx_event.extend_from_slice(&(ctx.len() as u16).to_le_bytes());
    ctx_event.extend_from_slice(&ctx);
    ctx_event.extend_from_slice(&tagged(&[(2, 5u16.to_le_bytes().to_vec()), (8, 9i32.to_le_bytes().to_vec())]));
    let req = mapped(
        &[
            record(KIND_EVENT, 2, 100, &[]),
            record(KIND_EVENT | FLAG_CONTEXT | FLAG_TRUNCATED, 4, 200, &ctx_event),
            record(KIND_EVENT, 3, 300, &[]),
            record(KIND_LOSS, 0, 1_000, &loss),
            record(KIND_RAW, 77, 1_100, b"\xde\xad"),
        ],
        false,
    );
    let recs = records(&req);
    let scopes: Vec<&str> = recs.iter().map(|(s, _)| *s).collect();
    assert_eq!(scopes, ["app::net", "app::net", "app::net", "ringtrace", "ringtrace"]);
    let times: Vec<u64> = recs.iter().map(|(_, r)| r.time_unix_nano - EPOCH).collect();
    assert_eq!(times, [100, 200, 300, 1_000, 1_100], "order kept within each scope");

    let begin = recs[0].1;
    assert_eq!(begin.body, Some(AnyValue { value: Some(s("request")) }));
    assert_eq!((begin.severity_number, begin.event_name.as_str()), (5, "ringtrace.span.begin"));
    assert_eq!(attr(&begin.attributes, "ringtrace.span"), Some(&s("begin")));
    assert_eq!(attr(&recs[2].1.attributes, "ringtrace.span"), Some(&s("end")));

    let tick = recs[1].1;
    assert_eq!(tick.body, Some(AnyValue { value: Some(s("tick 9")) }));
    assert_eq!(attr(&tick.attributes, "n"), Some(&V::IntValue(5)), "the field wins over the context");
    assert_eq!(attr(&tick.attributes, "request_id"), Some(&V::IntValue(42)));
    assert_eq!(attr(&tick.attributes, "ringtrace.truncated"), Some(&V::BoolValue(true)));

    let l = recs[3].1;
    assert_eq!((l.severity_number, l.severity_text.as_str(), l.event_name.as_str()), (13, "WARN", "ringtrace.loss"));
    assert_eq!(l.body, Some(AnyValue { value: Some(s("lost 12 events (4096 bytes)")) }));
    assert_eq!(attr(&l.attributes, "ringtrace.loss.events"), Some(&V::IntValue(12)));
    assert_eq!(attr(&l.attributes, "ringtrace.loss.bytes"), Some(&V::IntValue(4096)));
    assert_eq!(attr(&l.attributes, "ringtrace.loss.first_time_unix_nano"), Some(&V::IntValue((EPOCH + 500) as i64)));
    assert_eq!(attr(&l.attributes, "ringtrace.loss.last_time_unix_nano"), Some(&V::IntValue((EPOCH + 900) as i64)));
    assert_eq!(attr(&l.attributes, "thread.name"), Some(&s("worker-3")));

    let raw = recs[4].1;
    assert_eq!((raw.severity_number, raw.event_name.as_str()), (0, "ringtrace.raw"));
    assert_eq!(raw.body, Some(AnyValue { value: Some(V::BytesValue(vec![0xde, 0xad])) }));
    assert_eq!(attr(&raw.attributes, "ringtrace.event_id"), Some(&V::IntValue(77)));
}

/// ringtrace's own test helpers: the gate sink and a provoked loss gap (`common::gap`).
#[cfg(not(feature = "loom"))]
#[path = "../../ringtrace/tests/common/mod.rs"]
mod common;

/// R-BP-6 (issue 18) on a live runtime: the loss record of a real gap maps to a record at the
/// gap's opening whose `ringtrace.loss.first_time_unix_nano` / `last_time_unix_nano` are the
/// gap's opening and closing, between the records around it.
#[cfg(not(feature = "loom"))]
#[test]
fn a_live_loss_record_maps_to_its_gaps_opening_and_closing() {
    use common::gap::{self, Mark, Times};
    fn keep(ev: &ringtrace::Event<'_>) -> (Mark, Option<LogRecord>) {
        (Mark::of(ev), Mapper::new(Default::default(), false).record(ev, 77))
    }
    let g = gap::provoke(Vec::new(), keep);
    let recs: Vec<&LogRecord> = g.kept.iter().map(|k| k.1.as_ref().expect("every record maps")).collect();
    for (i, (r, m)) in recs.iter().zip(g.marks()).enumerate() {
        assert_eq!((r.time_unix_nano, r.observed_time_unix_nano), (m.unix_ns, 77), "record {i}");
    }
    let l = recs[g.loss_at];
    assert_eq!(l.event_name, "ringtrace.loss");
    let int = |key: &str| match attr(&l.attributes, key) {
        Some(V::IntValue(i)) => *i,
        v => panic!("{key}: {v:?}"),
    };
    assert_eq!(int("ringtrace.loss.events"), g.info().events as i64);
    let ns = |n: u64| n as i64;
    let got = Times {
        at: ns(l.time_unix_nano),
        first: int("ringtrace.loss.first_time_unix_nano"),
        last: int("ringtrace.loss.last_time_unix_nano"),
        prev: ns(recs[g.loss_at - 1].time_unix_nano),
        next: ns(recs[g.loss_at + 1].time_unix_nano),
    };
    g.check("otlp", got, ns);
}

// ---- the sink against an in-process HTTP responder ----

/// One request as the responder saw it.
#[derive(Debug, Clone)]
struct Seen {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The decoded request (gunzipped and parsed as the headers say).
    fn request(&self) -> ExportLogsServiceRequest {
        let mut body = self.body.clone();
        if self.header("content-encoding") == Some("gzip") {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut out).unwrap();
            body = out;
        }
        match self.header("content-type") {
            Some("application/json") => serde_json::from_slice(&body).unwrap(),
            Some("application/x-protobuf") => prost::Message::decode(&body[..]).unwrap(),
            other => panic!("content-type {other:?}"),
        }
    }
}

/// A scripted response: status, extra headers, body.
type Reply = (u16, Vec<(&'static str, String)>, Vec<u8>);

/// Answers requests with scripted (status, extra headers, body), the last one repeating.
/// Serves `limit` requests then stops.
fn responder(script: Vec<Reply>, limit: usize) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    std::thread::spawn(move || {
        let mut served = 0;
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut conn = conn;
            // Keep-alive: several requests per connection.
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let mut headers = Vec::new();
                loop {
                    let mut h = String::new();
                    reader.read_line(&mut h).unwrap();
                    let h = h.trim_end();
                    if h.is_empty() {
                        break;
                    }
                    let (n, v) = h.split_once(':').unwrap();
                    headers.push((n.trim().to_owned(), v.trim().to_owned()));
                }
                let len: usize = headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                    .map_or(0, |(_, v)| v.parse().unwrap());
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                seen2.lock().unwrap().push(Seen { headers, body });
                let (status, extra, resp_body) = script[served.min(script.len() - 1)].clone();
                let mut head = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", resp_body.len());
                for (n, v) in extra {
                    head.push_str(&format!("{n}: {v}\r\n"));
                }
                head.push_str("\r\n");
                conn.write_all(head.as_bytes()).unwrap();
                conn.write_all(&resp_body).unwrap();
                served += 1;
                if served >= limit {
                    return;
                }
            }
        }
    });
    (url, seen)
}

fn ok() -> Reply {
    (200, vec![("content-type", "application/x-protobuf".into())], Vec::new())
}

/// Sleeps are recorded, not slept, so the tests run fast and can check the delays.
static SLEPT: Mutex<Vec<Duration>> = Mutex::new(Vec::new());
static SERIAL: Mutex<()> = Mutex::new(());

fn record_sleep(d: Duration) {
    SLEPT.lock().unwrap().push(d);
}

fn sink(b: OtlpBuilder) -> OtlpSink {
    let mut s = b.build().unwrap();
    s.set_sleep(record_sleep);
    s
}

/// Runs the sink over a trace of `n` events (callsite 4, `tick {i}`).
fn run(sink: &mut OtlpSink, n: usize) -> Result<(), ringtrace::SinkError> {
    let recs: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let v = (i as u32).to_le_bytes().to_vec();
            record(KIND_EVENT, 4, i as u64, &tagged(&[(3, v.clone()), (3, v)]))
        })
        .collect();
    let mut result = Ok(());
    with_batches(&trace(&recs), |b| {
        if result.is_ok() {
            result = sink.write_batch(b);
        }
    });
    result
}

fn bodies(seen: &[Seen]) -> Vec<String> {
    seen.iter()
        .flat_map(|s| {
            records(&s.request())
                .into_iter()
                .map(|(_, r)| match r.body.as_ref().and_then(|b| b.value.as_ref()) {
                    Some(V::StringValue(s)) => s.clone(),
                    other => panic!("{other:?}"),
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn a_batch_is_posted_gzipped_with_the_headers_and_split_by_max_events() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (url, seen) = responder(vec![ok()], 100);
    let mut s = sink(OtlpBuilder::new().endpoint(&url).header("authorization", "Bearer k").max_events_per_request(4));
    run(&mut s, 10).unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3, "10 events, 4 per request");
    for r in seen.iter() {
        assert_eq!(r.header("content-encoding"), Some("gzip"));
        assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
        assert_eq!(r.header("authorization"), Some("Bearer k"));
    }
    let want: Vec<String> = (0..10).map(|i| format!("tick {i}")).collect();
    assert_eq!(bodies(&seen), want);
    let st = s.stats();
    assert_eq!((st.requests(), st.exported_requests(), st.exported_records(), st.retries()), (3, 3, 10, 0));
}

#[test]
fn json_without_gzip() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (url, seen) = responder(vec![(200, vec![("content-type", "application/json".into())], b"{}".to_vec())], 100);
    let mut s = sink(OtlpBuilder::new().endpoint(&url).protocol(Protocol::Json).compression(Compression::None));
    run(&mut s, 3).unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("content-encoding"), None);
    assert_eq!(seen[0].header("content-type"), Some("application/json"));
    assert_eq!(bodies(&seen), ["tick 0", "tick 1", "tick 2"]);
}

#[test]
fn retryable_statuses_are_retried_honouring_retry_after_then_succeed_once() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    SLEPT.lock().unwrap().clear();
    let script = vec![
        (503, vec![("retry-after", "2".into())], b"busy".to_vec()),
        (429, vec![("retry-after", "9999".into())], vec![]),
        (502, vec![], vec![]),
        ok(),
    ];
    let (url, seen) = responder(script, 100);
    let mut s = sink(
        OtlpBuilder::new()
            .endpoint(&url)
            .max_retries(5)
            .initial_backoff(Duration::from_millis(40))
            .max_retry_after(Duration::from_secs(7)),
    );
    run(&mut s, 5).unwrap();
    assert_eq!(seen.lock().unwrap().len(), 4);
    assert_eq!(bodies(&seen.lock().unwrap()[3..]).len(), 5);
    let slept = SLEPT.lock().unwrap().clone();
    assert_eq!(slept.len(), 3);
    assert_eq!(slept[0], Duration::from_secs(2), "Retry-After: 2");
    assert_eq!(slept[1], Duration::from_secs(7), "Retry-After capped by max_retry_after");
    assert!(slept[2] >= Duration::from_millis(80) && slept[2] <= Duration::from_millis(160), "backoff {:?}", slept[2]);
    let st = s.stats();
    assert_eq!((st.requests(), st.failed_requests(), st.retries(), st.exported_records()), (4, 3, 3, 5));
}

#[test]
fn after_the_retry_bound_the_batch_fails_with_the_reason() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (url, seen) = responder(vec![(503, vec![("retry-after", "0".into())], b"overloaded".to_vec())], 100);
    let mut s = sink(OtlpBuilder::new().endpoint(&url).max_retries(2));
    let e = run(&mut s, 3).unwrap_err().to_string();
    assert_eq!(seen.lock().unwrap().len(), 3, "1 attempt + 2 retries");
    assert!(e.contains("HTTP 503") && e.contains("overloaded") && e.contains("3 attempts"), "{e}");
    assert!(e.contains("3 events count as dropped"), "{e}");
    assert_eq!(s.stats().failed_batches(), 1);
}

#[test]
fn a_non_retryable_status_fails_at_once_and_never_leaks_header_values() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (url, seen) = responder(vec![(401, vec![], b"bad token".to_vec())], 100);
    let mut s = sink(OtlpBuilder::new().endpoint(&url).header("authorization", "Bearer SECRET-VALUE"));
    let e = run(&mut s, 2).unwrap_err().to_string();
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert!(e.contains("HTTP 401") && e.contains("1 attempt)"), "{e}");
    assert!(!e.contains("SECRET-VALUE"));
    assert!(!format!("{s:?}").contains("SECRET-VALUE"));
}

#[test]
fn a_later_request_failing_fails_the_whole_batch_and_says_what_was_sent() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (url, seen) = responder(vec![ok(), (400, vec![], vec![])], 100);
    let mut s = sink(OtlpBuilder::new().endpoint(&url).max_events_per_request(2));
    let e = run(&mut s, 5).unwrap_err().to_string();
    assert_eq!(seen.lock().unwrap().len(), 2, "the third request is not sent");
    assert!(e.contains("(2 of them were accepted by earlier requests"), "{e}");
}

#[test]
fn transport_errors_are_retried() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // A port nothing listens on: bind, note the port, close.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut s = sink(OtlpBuilder::new().endpoint(format!("http://127.0.0.1:{port}")).max_retries(2));
    let e = run(&mut s, 1).unwrap_err().to_string();
    assert!(e.contains("request failed") && e.contains("3 attempts"), "{e}");
    assert_eq!((s.stats().requests(), s.stats().retries()), (3, 2));
}

#[test]
fn partial_success_is_counted_not_failed() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let resp = ExportLogsServiceResponse {
        partial_success: Some(ExportLogsPartialSuccess { rejected_log_records: 2, error_message: "too old".into() }),
    };
    let body = prost::Message::encode_to_vec(&resp);
    let (url, _seen) = responder(vec![(200, vec![("content-type", "application/x-protobuf".into())], body)], 100);
    let mut s = sink(OtlpBuilder::new().endpoint(&url));
    run(&mut s, 4).unwrap();
    let st = s.stats();
    assert_eq!((st.partial_successes(), st.rejected_records(), st.exported_records()), (1, 2, 4));
    assert_eq!(st.last_partial_success_message().as_deref(), Some("too old"));
}

#[test]
fn metadata_names_the_sink_and_its_version() {
    let s = OtlpBuilder::new().build().unwrap();
    let m = s.metadata();
    assert_eq!(m, ringtrace::SinkMetadata::new("otlp", env!("CARGO_PKG_VERSION")));
    assert_eq!(s.name(), "otlp");
    assert_eq!(OtlpBuilder::new().name("otlp-2").build().unwrap().name(), "otlp-2");
}

#[test]
fn an_undecodable_value_is_an_empty_any_value() {
    let req = mapped(&[record(KIND_EVENT, 4, 5, &[200])], false);
    let r = records(&req)[0].1;
    let n = r.attributes.iter().find(|a| a.key == "n").expect("the field is still there");
    assert_eq!(n.value, Some(AnyValue { value: None }));
}

/// An event inside a span and the span's end record carry ringtrace-tracing's `span.id`: the
/// record's `span_id` is its 8 big-endian bytes (hex in OTLP/JSON), the attribute stays, and
/// `trace_id` is empty. Without `span.id`, or with one that is no valid id (a string, 0),
/// `span_id` is empty.
#[test]
fn the_span_id_field_becomes_the_records_span_id() {
    const ID: u64 = 0x0102_0304_0506_0708;
    let u64v = |v: u64| (4u8, v.to_le_bytes().to_vec());
    let step = |ts, id: (u8, Vec<u8>)| record(KIND_EVENT, 5, ts, &tagged(&[u64v(1), id, u64v(1)]));
    let req = mapped(
        &[
            step(100, u64v(ID)),
            record(KIND_EVENT, 6, 200, &tagged(&[u64v(200), u64v(ID)])),
            record(KIND_EVENT, 4, 300, &tagged(&[u64v(3)])),
            step(400, (15, text("7"))),
            step(500, u64v(0)),
            step(600, (9, 9i64.to_le_bytes().to_vec())),
        ],
        false,
    );
    let recs = records(&req);
    assert_eq!(recs.len(), 6);
    let (ev, end) = (recs[0].1, recs[1].1);
    for r in [ev, end] {
        assert_eq!(r.span_id, ID.to_be_bytes(), "{r:?}");
        assert_eq!(attr(&r.attributes, "span.id"), Some(&V::IntValue(ID as i64)), "the attribute is kept");
        assert!(r.trace_id.is_empty(), "no trace ids");
    }
    assert_eq!(attr(&end.attributes, "status"), Some(&V::IntValue(200)), "the recorded value");
    assert_eq!(end.event_name, "ringtrace.span.end");
    let none: Vec<&[u8]> = recs[2..5].iter().map(|(_, r)| r.span_id.as_slice()).collect();
    assert_eq!(none, [&[] as &[u8]; 3], "no span.id, a string one, 0");
    assert_eq!(attr(&recs[3].1.attributes, "span.id"), Some(&s("7")), "still an attribute");
    assert_eq!(recs[5].1.span_id, 9u64.to_be_bytes(), "a non-negative i64 (ringtrace's own macros)");

    let json = serde_json::to_value(mapped(&[step(100, u64v(ID))], true)).unwrap();
    let rec = &json["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0];
    assert_eq!(rec["spanId"], "0102030405060708", "{rec}");
    assert_eq!(rec["traceId"], "", "{rec}");
}
