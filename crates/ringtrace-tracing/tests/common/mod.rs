//! Helpers for the tests that run a program through ringtrace's layer and through
//! `tracing-subscriber`'s fmt layer at once, and compare what each shows.
#![allow(dead_code)] // each test binary uses a part

use ringtrace::{Batch, CallsiteKind, Event, Sink, SinkError};
use serde_json::Value;
use std::io;
use std::sync::{Arc, Mutex};

/// One recorded event as the tests look at it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `"event"`, `"begin"` or `"end"`.
    pub kind: &'static str,
    pub level: String,
    pub target: String,
    pub message: String,
    pub file: String,
    pub line: u32,
    /// Fields as ringtrace's text output shows them (`key`, `value`), `span.id` included.
    pub fields: Vec<(String, String)>,
    /// ringtrace's text line and JSON line for the event.
    pub text: String,
    pub json: Value,
}

impl Seen {
    /// The fields without `span.id`, as `key=value` joined by spaces (as fmt shows them).
    pub fn plain_fields(&self) -> String {
        self.fields
            .iter()
            .filter(|(k, _)| k != "span.id")
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The `span.id` field.
    pub fn span_id(&self) -> Option<u64> {
        self.fields.iter().find(|(k, _)| k == "span.id").map(|(_, v)| v.parse().unwrap())
    }
}

/// A sink keeping every event as a [`Seen`].
pub struct Capture(pub Arc<Mutex<Vec<Seen>>>);

impl Capture {
    pub fn new() -> (Self, Arc<Mutex<Vec<Seen>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        (Capture(seen.clone()), seen)
    }
}

pub fn seen(ev: &Event<'_>) -> Seen {
    let mut text = String::new();
    ringtrace::render::render_text(ev, &mut text);
    let mut json = String::new();
    ringtrace::render::render_json(ev, &mut json);
    let fields = ev
        .fields()
        .map(|(k, v)| {
            let mut s = String::new();
            ringtrace::render::write_text_value(&mut s, &v);
            (k.to_string(), s)
        })
        .collect();
    let cs = ev.callsite();
    Seen {
        kind: match ev.callsite_kind() {
            CallsiteKind::Event => "event",
            CallsiteKind::SpanBegin => "begin",
            CallsiteKind::SpanEnd => "end",
        },
        level: ev.level().map_or("?", |l| l.as_str()).to_string(),
        target: ev.target().to_string(),
        message: ev.message(),
        file: cs.map_or(String::new(), |c| c.file.clone()),
        line: cs.map_or(0, |c| c.line),
        fields,
        text: text.trim_end().to_string(),
        json: serde_json::from_str(&json).unwrap(),
    }
}

impl Sink for Capture {
    fn name(&self) -> &str {
        "capture"
    }

    fn metadata(&self) -> ringtrace::SinkMetadata {
        ringtrace::SinkMetadata::new("capture", env!("CARGO_PKG_VERSION"))
    }

    fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        let mut out = self.0.lock().unwrap();
        for ev in batch.iter() {
            if ev.kind() == ringtrace::RecordKind::Event {
                out.push(seen(&ev));
            }
        }
        Ok(())
    }
}

/// Where `tracing-subscriber`'s fmt layer writes in the tests.
#[derive(Clone, Default)]
pub struct FmtBuf(pub Arc<Mutex<Vec<u8>>>);

impl io::Write for FmtBuf {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl FmtBuf {
    pub fn lines(&self) -> Vec<FmtLine> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines().map(FmtLine::parse).collect()
    }
}

/// One line of `tracing-subscriber`'s fmt output, written without time and ANSI colours:
/// `LEVEL span{fields}:span2{fields}: target: file:line: message fields`.
#[derive(Debug, Clone, Default)]
pub struct FmtLine {
    pub level: String,
    /// (name, fields as written) per span of the event's scope, outermost first.
    pub spans: Vec<(String, String)>,
    pub target: String,
    pub file: String,
    pub line: u32,
    /// The rest: message and fields as written.
    pub rest: String,
}

impl FmtLine {
    pub fn parse(l: &str) -> FmtLine {
        let l = l.trim_start();
        let (level, mut rest) = l.split_once(' ').unwrap();
        let mut f = FmtLine { level: level.to_string(), ..FmtLine::default() };
        rest = rest.trim_start();
        // Spans: `name{...}:` repeated, before the target (which has no braces).
        while let Some(brace) = rest.find('{') {
            let colon = rest.find(": ").unwrap_or(usize::MAX);
            if brace > colon {
                break;
            }
            let close = matching_brace(rest, brace);
            f.spans.push((rest[..brace].to_string(), rest[brace + 1..close].to_string()));
            rest = &rest[close + 1..];
            rest = rest.strip_prefix(':').unwrap_or(rest).trim_start();
        }
        let (target, r) = rest.split_once(": ").unwrap_or((rest, ""));
        f.target = target.to_string();
        let mut r = r;
        // `file:line: ` when the layer shows them.
        if let Some((loc, after)) = r.split_once(": ") {
            if let Some((file, line)) = loc.rsplit_once(':') {
                if let Ok(n) = line.parse() {
                    f.file = file.to_string();
                    f.line = n;
                    r = after;
                }
            }
        }
        f.rest = r.to_string();
        f
    }
}

fn matching_brace(s: &str, open: usize) -> usize {
    let mut depth = 0;
    let mut in_str = false;
    let b = s.as_bytes();
    let mut i = open;
    while i < b.len() {
        match b[i] {
            b'\\' if in_str => i += 1,
            b'"' => in_str = !in_str,
            b'{' if !in_str => depth += 1,
            b'}' if !in_str => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
        i += 1;
    }
    panic!("no closing brace in {s}")
}

/// A fresh temporary directory for one test binary.
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ringtrace-tracing-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A stand-in OpenTelemetry collector on a local port: answers every `POST` with 200 and keeps
/// each request body (OTLP/JSON, uncompressed, in these tests).
pub struct Collector {
    pub port: u16,
    pub bodies: Arc<Mutex<Vec<Value>>>,
}

impl Collector {
    pub fn start() -> Collector {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let keep = bodies.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let keep = keep.clone();
                std::thread::spawn(move || {
                    let mut out = conn.try_clone().unwrap();
                    let mut r = BufReader::new(conn);
                    loop {
                        let mut len = 0usize;
                        let mut line = String::new();
                        loop {
                            line.clear();
                            if r.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            if line == "\r\n" {
                                break;
                            }
                            if let Some((k, v)) = line.split_once(':') {
                                if k.eq_ignore_ascii_case("content-length") {
                                    len = v.trim().parse().unwrap();
                                }
                            }
                        }
                        let mut body = vec![0; len];
                        r.read_exact(&mut body).unwrap();
                        keep.lock().unwrap().push(serde_json::from_slice(&body).unwrap());
                        let reply = b"{}";
                        let head = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                            reply.len()
                        );
                        out.write_all(head.as_bytes()).unwrap();
                        out.write_all(reply).unwrap();
                    }
                });
            }
        });
        Collector { port, bodies }
    }

    /// Every log record received, in order.
    pub fn records(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for body in self.bodies.lock().unwrap().iter() {
            for rl in body["resourceLogs"].as_array().into_iter().flatten() {
                for sl in rl["scopeLogs"].as_array().into_iter().flatten() {
                    out.extend(sl["logRecords"].as_array().into_iter().flatten().cloned());
                }
            }
        }
        out
    }
}

/// An OTLP log record's attribute as text (`intValue` is a decimal string in OTLP/JSON).
pub fn otlp_attr(record: &Value, key: &str) -> Option<String> {
    let kv = record["attributes"].as_array()?.iter().find(|a| a["key"] == key)?;
    let v = &kv["value"];
    Some(match (v.get("intValue"), v.get("stringValue")) {
        (Some(i), _) => i.as_str().map_or_else(|| i.to_string(), str::to_string),
        (_, Some(s)) => s.as_str()?.to_string(),
        _ => v.to_string(),
    })
}
