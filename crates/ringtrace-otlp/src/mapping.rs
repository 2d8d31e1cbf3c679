//! How ringtrace events become OTLP log records.
//!
//! One export request holds one `ResourceLogs` (the configured resource), with one
//! `ScopeLogs` per distinct target in the request: the instrumentation scope's name is the
//! event's target (as the OpenTelemetry `log` and `tracing` appenders do), `ringtrace` for
//! loss and raw records. Within a scope, records keep the drain's order (timestamp order, and
//! each thread's own order).
//!
//! | LogRecord field | from |
//! | --- | --- |
//! | `time_unix_nano` | the event's timestamp ([`Event::unix_nanos`]) |
//! | `observed_time_unix_nano` | when the exporter encoded the batch (one value per drain batch) |
//! | `severity_number`, `severity_text` | TRACE 1, DEBUG 5, INFO 9, WARN 13, ERROR 17, with the level's name; loss records WARN; raw records unspecified (0, `""`) |
//! | `body` | the formatted message (a string); a span edge's message is the span's name; a raw record's payload as bytes |
//! | `attributes` | the fields, typed (below), then the bound context (a context key that a field already uses is left out), then `code.file.path`, `code.line.number`, `thread.id` (ringtrace's thread number, as `thread_id` in JSON lines), `thread.name`, and where they apply `ringtrace.span` (`begin`/`end`), `ringtrace.truncated` (`true`) |
//! | `event_name` | `ringtrace.span.begin` / `ringtrace.span.end` for span edges, `ringtrace.loss`, `ringtrace.raw`; empty for plain events |
//! | `span_id` | the field [`SPAN_ID_FIELD`] (`span.id`) when it is a non-zero integer, as 8 big-endian bytes (hex in OTLP/JSON); empty otherwise |
//! | `trace_id` | always empty: ringtrace has no trace ids |
//!
//! # Span ids
//!
//! `ringtrace-tracing` records a span's id (a `u64`, unique in the process, never 0) as the
//! field `span.id` on the span's begin and end records and on every event recorded inside it
//! (its current span, as `tracing-subscriber`'s `with_current_span` shows it). The record's
//! `span_id` is that id as 8 big-endian bytes, so a backend groups an event with its span's
//! edges; the field stays an attribute too (`span.id`, an `intValue`), because it is the same
//! decimal number the other outputs (text, JSON lines, Chrome args, CTF, PostgreSQL) show,
//! which the hex `span_id` is not. A `span.id` of another type (a string, a float), a
//! negative or zero one, is only an attribute. OTLP says a sender that sets `span_id` SHOULD
//! also set a valid `trace_id`; ringtrace has no traces, so `trace_id` stays empty (invalid,
//! i.e. "no trace"), and a backend that ignores a `span_id` without a trace still has the
//! attribute.
//!
//! Field values keep their type: all integers that fit an `i64` are `intValue` (a `u64` or
//! 128-bit integer outside the `i64` range becomes a decimal `stringValue`, as OTLP has no
//! unsigned or 128-bit integers); `f32`/`f64` are `doubleValue` (an `f32` widened exactly)
//! — except that NaN and infinities become the strings `NaN`, `Infinity` and `-Infinity`
//! in JSON mode, which has no number for them; `bool` is `boolValue`; strings, chars and
//! `%x`/`?x` captures are `stringValue`; byte strings are `bytesValue`; a captured error is
//! its message as `stringValue` plus `KEY.sources`, an array of the source chain's messages,
//! when it has sources; an undecodable value is an empty `AnyValue`.
//!
//! A loss record (a thread lost events while DROPPING, R-BP-6) becomes a WARN record with
//! body `lost N events (B bytes)` and the integer attributes `ringtrace.loss.events`,
//! `ringtrace.loss.bytes`, `ringtrace.loss.first_time_unix_nano` and
//! `ringtrace.loss.last_time_unix_nano`, so the gap shows in the backend beside the logs.

use crate::config::{AttributeValue, OtlpConfig};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use ringtrace::{CallsiteKind, Event, Level, RecordKind, Value};

/// The scope name of records that have no target (loss and raw records).
pub const RINGTRACE_SCOPE: &str = "ringtrace";

/// The field whose value becomes a record's `span_id` (see "Span ids" above): what
/// `ringtrace-tracing` records a span's id as.
pub const SPAN_ID_FIELD: &str = "span.id";

/// The `span_id` bytes of a [`SPAN_ID_FIELD`] value: a non-zero integer that fits a `u64`, as
/// 8 big-endian bytes (OTLP's all-zero span id is invalid); `None` for anything else.
fn span_id(v: &Value<'_>) -> Option<[u8; 8]> {
    let id: u64 = match *v {
        Value::U8(x) => x.into(),
        Value::U16(x) => x.into(),
        Value::U32(x) => x.into(),
        Value::U64(x) => x,
        Value::U128(x) => u64::try_from(x).ok()?,
        Value::I8(x) => u64::try_from(x).ok()?,
        Value::I16(x) => u64::try_from(x).ok()?,
        Value::I32(x) => u64::try_from(x).ok()?,
        Value::I64(x) => u64::try_from(x).ok()?,
        Value::I128(x) => u64::try_from(x).ok()?,
        _ => return None,
    };
    (id != 0).then(|| id.to_be_bytes())
}

/// OTLP severity numbers (the first of each range).
pub(crate) fn severity(level: Level) -> (i32, &'static str) {
    match level {
        Level::Trace => (1, "TRACE"),
        Level::Debug => (5, "DEBUG"),
        Level::Info => (9, "INFO"),
        Level::Warn => (13, "WARN"),
        Level::Error => (17, "ERROR"),
    }
}

fn kv(key: impl Into<String>, value: any_value::Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}

fn string(s: impl Into<String>) -> any_value::Value {
    any_value::Value::StringValue(s.into())
}

fn uint(v: u64) -> any_value::Value {
    match i64::try_from(v) {
        Ok(i) => any_value::Value::IntValue(i),
        Err(_) => string(v.to_string()),
    }
}

/// Builds the configured resource: `service.name`, the user's attributes, then the
/// `telemetry.sdk.*` attributes unless the user set them.
pub(crate) fn resource(config: &OtlpConfig) -> Resource {
    let mut attributes = vec![kv("service.name", string(&config.service_name))];
    for (k, v) in &config.resource {
        let v = match v {
            AttributeValue::Str(s) => string(s.as_str()),
            AttributeValue::Int(i) => any_value::Value::IntValue(*i),
            AttributeValue::Double(d) => any_value::Value::DoubleValue(*d),
            AttributeValue::Bool(b) => any_value::Value::BoolValue(*b),
        };
        attributes.push(kv(k.as_str(), v));
    }
    for (k, v) in [
        ("telemetry.sdk.name", "ringtrace"),
        ("telemetry.sdk.language", "rust"),
        ("telemetry.sdk.version", env!("CARGO_PKG_VERSION")),
    ] {
        if !config.resource.iter().any(|(key, _)| key == k) {
            attributes.push(kv(k, string(v)));
        }
    }
    Resource { attributes, ..Default::default() }
}

/// Turns events into export requests.
#[derive(Debug, Clone)]
pub(crate) struct Mapper {
    resource: Resource,
    /// JSON mode: non-finite doubles become strings.
    json: bool,
}

impl Mapper {
    pub(crate) fn new(resource: Resource, json: bool) -> Self {
        Self { resource, json }
    }

    /// One request holding `events`, with `observed` as every record's observed time.
    pub(crate) fn request<'a>(
        &self,
        events: impl Iterator<Item = Event<'a>>,
        observed: u64,
    ) -> ExportLogsServiceRequest {
        let mut scopes: Vec<ScopeLogs> = Vec::new();
        let mut last = usize::MAX;
        for ev in events {
            let Some(record) = self.record(&ev, observed) else { continue };
            let scope = match ev.kind() {
                RecordKind::Event if !ev.target().is_empty() => ev.target(),
                _ => RINGTRACE_SCOPE,
            };
            // Consecutive events mostly share a target: try the last scope first.
            let i = if scopes.get(last).is_some_and(|s| s.scope.as_ref().is_some_and(|x| x.name == scope)) {
                last
            } else if let Some(i) = scopes.iter().position(|s| s.scope.as_ref().is_some_and(|x| x.name == scope)) {
                i
            } else {
                scopes.push(ScopeLogs {
                    scope: Some(InstrumentationScope { name: scope.to_owned(), ..Default::default() }),
                    ..Default::default()
                });
                scopes.len() - 1
            };
            last = i;
            scopes[i].log_records.push(record);
        }
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(self.resource.clone()),
                scope_logs: scopes,
                ..Default::default()
            }],
        }
    }

    fn double(&self, d: f64) -> any_value::Value {
        if self.json && !d.is_finite() {
            // Protobuf's JSON mapping spells these as strings; serde_json would write `null`.
            string(if d.is_nan() {
                "NaN"
            } else if d > 0.0 {
                "Infinity"
            } else {
                "-Infinity"
            })
        } else {
            any_value::Value::DoubleValue(d)
        }
    }

    /// A field or context value; `None` for an undecodable one (an empty `AnyValue`).
    fn value(&self, v: &Value<'_>) -> Option<any_value::Value> {
        use any_value::Value as V;
        Some(match *v {
            Value::U8(x) => V::IntValue(x.into()),
            Value::U16(x) => V::IntValue(x.into()),
            Value::U32(x) => V::IntValue(x.into()),
            Value::U64(x) => uint(x),
            Value::U128(x) => i64::try_from(x).map_or_else(|_| string(x.to_string()), V::IntValue),
            Value::I8(x) => V::IntValue(x.into()),
            Value::I16(x) => V::IntValue(x.into()),
            Value::I32(x) => V::IntValue(x.into()),
            Value::I64(x) => V::IntValue(x),
            Value::I128(x) => i64::try_from(x).map_or_else(|_| string(x.to_string()), V::IntValue),
            Value::F32(x) => self.double(x.into()),
            Value::F64(x) => self.double(x),
            Value::Bool(x) => V::BoolValue(x),
            Value::Char(c) => string(c.to_string()),
            Value::Str(s) | Value::Display(s) | Value::Debug(s) => string(s),
            Value::Bytes(b) => V::BytesValue(b.to_vec()),
            Value::Error(e) => string(e.message()),
            Value::Invalid => return None,
            // A variant added later: its Display text.
            _ => string(v.to_string()),
        })
    }

    fn push_value(&self, out: &mut Vec<KeyValue>, key: &str, v: &Value<'_>) {
        out.push(KeyValue {
            key: key.to_owned(),
            value: Some(AnyValue { value: self.value(v) }),
            ..Default::default()
        });
        if let Value::Error(e) = v {
            let sources: Vec<AnyValue> = e.sources().map(|s| AnyValue { value: Some(string(s)) }).collect();
            if !sources.is_empty() {
                out.push(kv(format!("{key}.sources"), any_value::Value::ArrayValue(ArrayValue { values: sources })));
            }
        }
    }

    /// One log record, or `None` for records that carry nothing (padding).
    pub(crate) fn record(&self, ev: &Event<'_>, observed: u64) -> Option<LogRecord> {
        let mut r =
            LogRecord { time_unix_nano: ev.unix_nanos(), observed_time_unix_nano: observed, ..Default::default() };
        let mut attrs = Vec::new();
        match ev.kind() {
            RecordKind::Event => {
                let (n, text) = severity(ev.level().unwrap_or(Level::Info));
                r.severity_number = n;
                r.severity_text = text.to_owned();
                r.body = Some(AnyValue { value: Some(string(ev.message())) });
                for (k, v) in ev.fields() {
                    if k == SPAN_ID_FIELD && r.span_id.is_empty() {
                        if let Some(id) = span_id(&v) {
                            r.span_id = id.to_vec();
                        }
                    }
                    self.push_value(&mut attrs, k, &v);
                }
                let nfields = attrs.len();
                for (k, v) in ev.context() {
                    // Attribute keys must be unique: a field wins over a context entry.
                    if !attrs[..nfields].iter().any(|a| a.key == k) {
                        self.push_value(&mut attrs, k, &v);
                    }
                }
                if let Some(cs) = ev.callsite() {
                    if !cs.file.is_empty() {
                        attrs.push(kv("code.file.path", string(cs.file.as_str())));
                    }
                    if cs.line > 0 {
                        attrs.push(kv("code.line.number", any_value::Value::IntValue(cs.line.into())));
                    }
                }
                match ev.callsite_kind() {
                    CallsiteKind::SpanBegin => {
                        r.event_name = "ringtrace.span.begin".to_owned();
                        attrs.push(kv("ringtrace.span", string("begin")));
                    }
                    CallsiteKind::SpanEnd => {
                        r.event_name = "ringtrace.span.end".to_owned();
                        attrs.push(kv("ringtrace.span", string("end")));
                    }
                    CallsiteKind::Event => {}
                }
            }
            RecordKind::Loss => {
                let (n, text) = severity(Level::Warn);
                r.severity_number = n;
                r.severity_text = text.to_owned();
                r.event_name = "ringtrace.loss".to_owned();
                r.body = Some(AnyValue { value: Some(string(ev.message())) });
                let l = ev.loss().unwrap_or_default();
                attrs.push(kv("ringtrace.loss.events", uint(l.events)));
                attrs.push(kv("ringtrace.loss.bytes", uint(l.bytes)));
                attrs.push(kv("ringtrace.loss.first_time_unix_nano", uint(ev.clock().to_unix_ns(l.first_ticks))));
                attrs.push(kv("ringtrace.loss.last_time_unix_nano", uint(ev.clock().to_unix_ns(l.last_ticks))));
            }
            RecordKind::Raw => {
                r.event_name = "ringtrace.raw".to_owned();
                r.body = Some(AnyValue { value: Some(any_value::Value::BytesValue(ev.payload().to_vec())) });
                attrs.push(kv("ringtrace.event_id", any_value::Value::IntValue(ev.id().into())));
            }
            _ => return None,
        }
        let t = ev.thread();
        attrs.push(kv("thread.id", uint(t.id)));
        if !t.name.is_empty() {
            attrs.push(kv("thread.name", string(t.name.as_str())));
        }
        if ev.is_truncated() {
            attrs.push(kv("ringtrace.truncated", any_value::Value::BoolValue(true)));
        }
        r.attributes = attrs;
        Some(r)
    }
}
