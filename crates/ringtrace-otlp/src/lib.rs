//! An OpenTelemetry log exporter for ringtrace (R-OUT-5): a [`Sink`](ringtrace::Sink) that
//! sends every event to an OTLP/HTTP logs endpoint — usually a local OpenTelemetry
//! Collector, which forwards to whatever backends it is configured for.
//!
//! - **Wire:** `POST {endpoint}/v1/logs` with an `ExportLogsServiceRequest` as binary
//!   protobuf (`application/x-protobuf`, default) or OTLP/JSON (`application/json`), gzipped
//!   by default. The messages are `opentelemetry-proto`'s prost types; no gRPC, no tonic.
//! - **Blocking, no async runtime:** requests are made with `ureq` on the drain thread,
//!   inside [`Sink::write_batch`](ringtrace::Sink::write_batch). Nothing is buffered across
//!   batches, so the runtime's accounting stays exact: a batch counts as written only when
//!   the collector accepted it, and as dropped for this sink, with the reason, when it did
//!   not.
//! - **Retries:** 429, 502, 503, 504 and transport errors are retried with exponential
//!   backoff and jitter, honouring `Retry-After` (seconds or HTTP-date) up to a cap; other
//!   statuses fail at once. See [`RetryPolicy`].
//! - **Mapping:** see the [`mapping`] module: severity numbers, the formatted message as
//!   body, typed fields as attributes, `code.*` and `thread.*` attributes, the target as the
//!   instrumentation scope; span edges and loss records become recognisable records.
//!
//! ```no_run
//! use ringtrace_otlp::OtlpSink;
//! use std::time::Duration;
//!
//! let otlp = OtlpSink::builder()
//!     .endpoint("http://127.0.0.1:4318")
//!     .service_name("matching-engine")
//!     .resource_attribute("service.version", "1.4.2")
//!     .build()?;
//! let guard = ringtrace::Builder::new().sink(otlp).install()?;
//! ringtrace::warn!(side = "buy", qty = 10u32, "partial fill of {}", 17u64);
//! let report = guard.shutdown(Duration::from_secs(30));
//! println!("{}", report.summary_line());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `docs/sinks/otlp.md` in the repository covers the Collector set-up, the full field
//! mapping, failure behaviour and measured throughput.

#![warn(rust_2018_idioms)]

mod config;
pub mod mapping;
mod retry;
mod sink;
mod stats;
mod transport;

pub use config::{
    AttributeValue, Compression, ConfigError, OtlpBuilder, OtlpConfig, Protocol, RetryPolicy, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_ENDPOINT, DEFAULT_INITIAL_BACKOFF, DEFAULT_MAX_BACKOFF, DEFAULT_MAX_EVENTS_PER_REQUEST,
    DEFAULT_MAX_RETRIES, DEFAULT_MAX_RETRY_AFTER, DEFAULT_SERVICE_NAME, DEFAULT_SINK_NAME, DEFAULT_TIMEOUT,
    MAX_EVENTS_PER_REQUEST_LIMIT, MAX_RETRIES_LIMIT,
};
pub use sink::OtlpSink;
pub use stats::OtlpStats;

#[cfg(test)]
mod tests;
