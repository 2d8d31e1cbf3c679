//! [`OtlpSink`]: the ringtrace [`Sink`] that exports each drain batch as OTLP/HTTP log
//! requests.
//!
//! # Accounting
//!
//! The runtime counts a batch as written when `write_batch` returns `Ok`, and as dropped for
//! this sink (with the error, R-LIFE-2) when it returns an error. The exporter therefore
//! buffers nothing across batches: `write_batch` maps, encodes and sends the whole batch
//! before it returns, and returns `Ok` only when the collector accepted every request of it.
//! So `written + dropped == delivered` holds exactly for this sink, and `flush`/`stop` have
//! nothing to do.
//!
//! A batch larger than `max_events_per_request` is sent as several requests, in order. If
//! one of them fails for good, the later ones are not sent and the whole batch counts as
//! dropped — including the records that earlier requests of the same batch delivered (the
//! runtime's accounting is per batch). The error message says how many those were. With the
//! default `max_events_per_request` (1024) equal to the runtime's default batch size, a
//! batch is one request and this does not arise.

use crate::config::{Compression, OtlpBuilder, OtlpConfig, Protocol};
use crate::mapping::{self, Mapper};
use crate::stats::OtlpStats;
use crate::transport::Transport;
use ringtrace::{Batch, Sink, SinkError};
use std::fmt;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// Exports ringtrace events to an OpenTelemetry Collector (or any OTLP/HTTP logs endpoint).
///
/// Made with [`OtlpSink::builder`]; see the [crate docs](crate) for the mapping and
/// [`OtlpBuilder`] for the settings and their defaults.
///
/// ```no_run
/// use ringtrace_otlp::OtlpSink;
/// use std::time::Duration;
///
/// let sink = OtlpSink::builder().endpoint("http://127.0.0.1:4318").service_name("orders").build()?;
/// let stats = sink.stats();
/// let guard = ringtrace::Builder::new().sink(sink).install()?;
/// ringtrace::info!(order = 7u64, "filled");
/// let report = guard.shutdown(Duration::from_secs(30));
/// let otlp = report.sink("otlp").unwrap();
/// println!("exported {} events, lost {}, {} retries", otlp.written, otlp.dropped, stats.retries());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct OtlpSink {
    config: OtlpConfig,
    mapper: Mapper,
    transport: Transport,
    stats: OtlpStats,
    /// The encoded request (reused across batches).
    body: Vec<u8>,
    /// The gzipped request (reused across batches).
    gzipped: Vec<u8>,
}

impl fmt::Debug for OtlpSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The config's headers print as names only.
        f.debug_struct("OtlpSink").field("config", &self.config).field("stats", &self.stats).finish_non_exhaustive()
    }
}

impl OtlpSink {
    /// A builder with the default settings.
    pub fn builder() -> OtlpBuilder {
        OtlpBuilder::new()
    }

    pub(crate) fn from_config(config: OtlpConfig) -> Self {
        let mapper = Mapper::new(mapping::resource(&config), config.protocol == Protocol::Json);
        let transport = Transport::new(&config);
        Self { config, mapper, transport, stats: OtlpStats::default(), body: Vec::new(), gzipped: Vec::new() }
    }

    /// A handle on the exporter's counters (requests, retries, rejected records), usable
    /// after the sink has been handed to the runtime.
    pub fn stats(&self) -> OtlpStats {
        self.stats.clone()
    }

    /// The validated configuration.
    pub fn config(&self) -> &OtlpConfig {
        &self.config
    }

    #[cfg(test)]
    pub(crate) fn set_sleep(&mut self, sleep: fn(std::time::Duration)) {
        self.transport.sleep = sleep;
    }

    /// Encodes (and compresses) a request into `self.body` / `self.gzipped`; returns the
    /// bytes to send.
    fn encode(
        &mut self,
        req: &opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest,
    ) -> Result<(), SinkError> {
        self.body.clear();
        match self.config.protocol {
            Protocol::Protobuf => {
                prost::Message::encode(req, &mut self.body)
                    .map_err(|e| SinkError::with_source("otlp: encoding the request failed", e))?;
            }
            Protocol::Json => serde_json::to_writer(&mut self.body, req)
                .map_err(|e| SinkError::with_source("otlp: encoding the request as JSON failed", e))?,
        }
        if self.config.compression == Compression::Gzip {
            self.gzipped.clear();
            let mut gz = flate2::write::GzEncoder::new(&mut self.gzipped, flate2::Compression::fast());
            gz.write_all(&self.body)?;
            gz.finish()?;
        }
        Ok(())
    }
}

fn now_unix_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl Sink for OtlpSink {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn metadata(&self) -> ringtrace::SinkMetadata {
        ringtrace::SinkMetadata::new("otlp", env!("CARGO_PKG_VERSION"))
    }

    fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        let n = batch.len();
        let observed = now_unix_nanos();
        let per_request = self.config.max_events_per_request;
        let mut start = 0;
        while start < n {
            let end = n.min(start + per_request);
            let req = self.mapper.request((start..end).filter_map(|i| batch.get(i)), observed);
            let records: usize =
                req.resource_logs.iter().flat_map(|r| &r.scope_logs).map(|s| s.log_records.len()).sum();
            if records > 0 {
                self.encode(&req)?;
                let body = if self.config.compression == Compression::Gzip { &self.gzipped } else { &self.body };
                if let Err(failure) = self.transport.export(body, &self.stats) {
                    self.stats.count_failed_batch();
                    let mut msg = format!("otlp export failed: {failure}; the batch's {n} events count as dropped");
                    if start > 0 {
                        msg.push_str(&format!(
                            " ({start} of them were accepted by earlier requests of the same batch)"
                        ));
                    }
                    return Err(SinkError::new(msg));
                }
                self.stats.count_exported(records as u64);
            }
            start = end;
        }
        Ok(())
    }
}
