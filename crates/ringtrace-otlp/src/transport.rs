//! One export request over HTTP, tried until it succeeds, fails for good, or runs out of
//! retries (see `retry.rs` for which failures are retried and how long to wait).
//!
//! Everything here runs on the drain thread and blocks it: a slow or unreachable collector
//! slows the drain, and records pile up in rings where backpressure applies to producers
//! (R-LIFE-5). The worst case for one request is `(max_retries + 1)` attempts, each bounded
//! by `connect_timeout` plus `timeout` per phase (send, wait, read), plus the waits between
//! them; keep that below the runtime's shutdown
//! timeout if a down collector must not make `shutdown` report a timeout.

use crate::config::{Compression, OtlpConfig, Protocol};
use crate::retry::{self, Jitter};
use crate::stats::Stats;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use std::fmt;
use std::time::{Duration, SystemTime};

/// Most bytes of a response body read (an OTLP response is tiny; an error page may not be).
const MAX_RESPONSE_BYTES: u64 = 64 * 1024;
/// Most bytes of a server's error text quoted in an error message.
const MAX_QUOTED: usize = 200;

/// Why an export request failed for good.
#[derive(Debug)]
pub(crate) struct ExportFailure {
    /// What went wrong on the last attempt.
    pub(crate) reason: String,
    /// Attempts made.
    pub(crate) attempts: u32,
}

impl fmt::Display for ExportFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = if self.attempts == 1 { "" } else { "s" };
        write!(f, "{} ({} attempt{s})", self.reason, self.attempts)
    }
}

/// The outcome of one attempt.
enum Attempt {
    /// Accepted (2xx); the response's `partial_success`, if any: (rejected, message).
    Accepted(Option<(i64, String)>),
    /// Worth retrying; `Retry-After` if the server sent a usable one.
    Retry(String, Option<Duration>),
    /// Final failure.
    Fatal(String),
}

/// Posts bodies to the collector.
pub(crate) struct Transport {
    agent: ureq::Agent,
    url: String,
    protocol: Protocol,
    compression: Compression,
    /// (name, value); values are secrets and never formatted.
    headers: Vec<(String, String)>,
    retry: crate::config::RetryPolicy,
    jitter: Jitter,
    /// How to wait between attempts (a real sleep; tests may record instead).
    pub(crate) sleep: fn(Duration),
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("url", &self.url)
            .field("protocol", &self.protocol)
            .field("compression", &self.compression)
            .field("headers", &self.headers.iter().map(|(n, _)| format!("{n}: <redacted>")).collect::<Vec<_>>())
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl Transport {
    pub(crate) fn new(config: &OtlpConfig) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            // Per phase, not `timeout_global`: a global (or resolve) timeout makes ureq run
            // every name lookup — one per request, even on a pooled connection — on a new
            // thread, which cost more than the rest of the request here. Name resolution uses
            // the system resolver's own timeouts instead.
            .timeout_connect(Some(config.connect_timeout))
            .timeout_send_request(Some(config.timeout))
            .timeout_send_body(Some(config.timeout))
            .timeout_recv_response(Some(config.timeout))
            .timeout_recv_body(Some(config.timeout))
            .user_agent(concat!("ringtrace-otlp/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Self {
            agent,
            url: config.url.clone(),
            protocol: config.protocol,
            compression: config.compression,
            headers: config.headers.iter().map(|h| (h.name.clone(), h.value.clone())).collect(),
            retry: config.retry,
            jitter: Jitter::new(config as *const OtlpConfig as u64),
            sleep: std::thread::sleep,
        }
    }

    /// Sends `body` (already encoded and compressed as configured) with retries.
    pub(crate) fn export(&mut self, body: &[u8], stats: &Stats) -> Result<(), ExportFailure> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            stats.count_request();
            let (reason, retry_after) = match self.attempt(body) {
                Attempt::Accepted(partial) => {
                    if let Some((rejected, message)) = partial {
                        stats.count_rejected(rejected, message);
                    }
                    return Ok(());
                }
                Attempt::Fatal(reason) => {
                    stats.count_failed_request();
                    return Err(ExportFailure { reason, attempts: attempt });
                }
                Attempt::Retry(reason, retry_after) => (reason, retry_after),
            };
            stats.count_failed_request();
            let retry = attempt - 1;
            if retry >= self.retry.max_retries {
                return Err(ExportFailure { reason, attempts: attempt });
            }
            stats.count_retry();
            (self.sleep)(retry::delay(&self.retry, retry, retry_after, self.jitter.unit()));
        }
    }

    fn attempt(&mut self, body: &[u8]) -> Attempt {
        let mut req = self.agent.post(&self.url).header("content-type", self.protocol.content_type());
        if self.compression == Compression::Gzip {
            req = req.header("content-encoding", "gzip");
        }
        for (name, value) in &self.headers {
            req = req.header(name.as_str(), value.as_str());
        }
        let mut resp = match req.send(body) {
            Ok(r) => r,
            Err(e) => return transport_error(e),
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry::parse_retry_after(v, SystemTime::now()));
        let json = resp.body().mime_type().is_some_and(|m| m.eq_ignore_ascii_case("application/json"));
        let text = resp.body_mut().with_config().limit(MAX_RESPONSE_BYTES).read_to_vec();
        if (200..300).contains(&status) {
            // The records were accepted even if the body cannot be read or decoded.
            let partial = text.ok().and_then(|b| partial_success(&b, json));
            return Attempt::Accepted(partial);
        }
        let mut reason = format!("HTTP {status} from {}", self.url);
        if let Ok(b) = text {
            let quoted = quote(&b);
            if !quoted.is_empty() {
                reason.push_str(": ");
                reason.push_str(&quoted);
            }
        }
        if retry::is_retryable_status(status) {
            Attempt::Retry(reason, retry_after)
        } else {
            Attempt::Fatal(reason)
        }
    }
}

/// Classifies a ureq error: network trouble is retried, a request we cannot make is not.
fn transport_error(e: ureq::Error) -> Attempt {
    use ureq::Error as E;
    let reason = format!("request failed: {e}");
    match e {
        E::Io(_) | E::Timeout(_) | E::ConnectionFailed | E::HostNotFound | E::Protocol(_) => {
            Attempt::Retry(reason, None)
        }
        _ => Attempt::Fatal(reason),
    }
}

/// The `partial_success` of an export response, if it reports rejected records or a message.
pub(crate) fn partial_success(body: &[u8], json: bool) -> Option<(i64, String)> {
    if body.is_empty() {
        return None;
    }
    let (rejected, message) = if json {
        // By hand: OTLP/JSON writes int64 as a decimal string, which the generated serde
        // code does not accept for this field.
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        let p = v.get("partialSuccess")?;
        let rejected = match p.get("rejectedLogRecords") {
            Some(serde_json::Value::String(s)) => s.parse().ok()?,
            Some(n) => n.as_i64()?,
            None => 0,
        };
        (rejected, p.get("errorMessage").and_then(|m| m.as_str()).unwrap_or("").to_owned())
    } else {
        let resp: ExportLogsServiceResponse = prost::Message::decode(body).ok()?;
        let p = resp.partial_success?;
        (p.rejected_log_records, p.error_message)
    };
    (rejected != 0 || !message.is_empty()).then_some((rejected, message))
}

/// A server's error body for an error message: printable text, shortened; binary bodies (a
/// protobuf `Status`) are described by size.
fn quote(body: &[u8]) -> String {
    match std::str::from_utf8(body) {
        Ok(s) => {
            let s: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
            let s = s.trim();
            match s.char_indices().nth(MAX_QUOTED) {
                Some((i, _)) => format!("{}…", &s[..i]),
                None => s.to_owned(),
            }
        }
        Err(_) => format!("<{} bytes of binary response>", body.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsPartialSuccess;

    #[test]
    fn partial_success_decodes_from_protobuf_and_json() {
        let resp = ExportLogsServiceResponse {
            partial_success: Some(ExportLogsPartialSuccess {
                rejected_log_records: 3,
                error_message: "too old".into(),
            }),
        };
        let pb = prost::Message::encode_to_vec(&resp);
        assert_eq!(partial_success(&pb, false), Some((3, "too old".to_owned())));
        let js = br#"{"partialSuccess":{"rejectedLogRecords":"3","errorMessage":"too old"}}"#;
        assert_eq!(partial_success(js, true), Some((3, "too old".to_owned())));
        let js = br#"{"partialSuccess":{"rejectedLogRecords":4}}"#;
        assert_eq!(partial_success(js, true), Some((4, String::new())));
        assert_eq!(partial_success(b"", false), None);
        assert_eq!(partial_success(b"{}", true), None);
        assert_eq!(partial_success(b"\xff\xff garbage", false), None);
        let empty = prost::Message::encode_to_vec(&ExportLogsServiceResponse {
            partial_success: Some(ExportLogsPartialSuccess::default()),
        });
        assert_eq!(partial_success(&empty, false), None, "an empty partial_success means full success");
    }

    #[test]
    fn error_bodies_are_quoted_short_and_printable() {
        assert_eq!(quote(b"bad\nthing "), "bad thing");
        assert_eq!(quote(&[0xff, 0, 1]), "<3 bytes of binary response>");
        let long = "x".repeat(500);
        assert_eq!(quote(long.as_bytes()).chars().count(), MAX_QUOTED + 1);
    }
}
