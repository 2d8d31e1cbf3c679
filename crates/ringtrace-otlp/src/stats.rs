//! The exporter's own counters, readable from any thread while the sink runs on the drain.
//!
//! The runtime's [`DrainReport`](ringtrace::DrainReport) already says, per sink, how many
//! events were written and dropped (with the errors). These counters add what only the
//! exporter knows: HTTP attempts, retries, and records the collector accepted the request
//! for but then rejected (`partial_success.rejected_log_records`), which the OTLP
//! specification says must not be retried. All counters are written only by the drain thread
//! (inside the sink) and read by anyone; `Relaxed` suffices as each is a standalone count.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
struct Inner {
    requests: AtomicU64,
    failed_requests: AtomicU64,
    retries: AtomicU64,
    exported_records: AtomicU64,
    exported_requests: AtomicU64,
    failed_batches: AtomicU64,
    rejected_records: AtomicU64,
    partial_successes: AtomicU64,
    last_partial_message: Mutex<Option<String>>,
}

/// A handle on an [`OtlpSink`](crate::OtlpSink)'s counters; clone it before handing the sink
/// to the runtime ([`OtlpSink::stats`](crate::OtlpSink::stats)).
///
/// ```
/// let sink = ringtrace_otlp::OtlpSink::builder().build()?;
/// let stats = sink.stats();
/// // … install the runtime with `sink`, run, shut down …
/// assert_eq!(stats.retries(), 0);
/// # Ok::<(), ringtrace_otlp::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct OtlpStats(Arc<Inner>);

/// The counters as the sink updates them (crate-internal alias of the same handle).
pub(crate) type Stats = OtlpStats;

impl OtlpStats {
    /// HTTP attempts made (first tries and retries).
    pub fn requests(&self) -> u64 {
        self.0.requests.load(Ordering::Relaxed)
    }

    /// Attempts that failed (transport error or a non-2xx status), retried or not.
    pub fn failed_requests(&self) -> u64 {
        self.0.failed_requests.load(Ordering::Relaxed)
    }

    /// Retries made.
    pub fn retries(&self) -> u64 {
        self.0.retries.load(Ordering::Relaxed)
    }

    /// Requests the collector accepted (2xx).
    pub fn exported_requests(&self) -> u64 {
        self.0.exported_requests.load(Ordering::Relaxed)
    }

    /// Log records in accepted requests (rejected ones included: see
    /// [`rejected_records`](Self::rejected_records)).
    pub fn exported_records(&self) -> u64 {
        self.0.exported_records.load(Ordering::Relaxed)
    }

    /// Drain batches that failed (their events count as dropped for the sink).
    pub fn failed_batches(&self) -> u64 {
        self.0.failed_batches.load(Ordering::Relaxed)
    }

    /// Records the collector reported as rejected in a `partial_success` response. They are
    /// counted as written by the runtime (the request succeeded, and the OTLP specification
    /// forbids retrying them), so this is the place to see them.
    pub fn rejected_records(&self) -> u64 {
        self.0.rejected_records.load(Ordering::Relaxed)
    }

    /// Responses that carried a `partial_success` (rejected records or a warning message).
    pub fn partial_successes(&self) -> u64 {
        self.0.partial_successes.load(Ordering::Relaxed)
    }

    /// The `error_message` of the last `partial_success` that had one.
    pub fn last_partial_success_message(&self) -> Option<String> {
        self.0.last_partial_message.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn count_request(&self) {
        self.0.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_failed_request(&self) {
        self.0.failed_requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_retry(&self) {
        self.0.retries.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_exported(&self, records: u64) {
        self.0.exported_requests.fetch_add(1, Ordering::Relaxed);
        self.0.exported_records.fetch_add(records, Ordering::Relaxed);
    }

    pub(crate) fn count_failed_batch(&self) {
        self.0.failed_batches.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_rejected(&self, rejected: i64, message: String) {
        self.0.partial_successes.fetch_add(1, Ordering::Relaxed);
        self.0.rejected_records.fetch_add(rejected.max(0) as u64, Ordering::Relaxed);
        if !message.is_empty() {
            *self.0.last_partial_message.lock().unwrap_or_else(|e| e.into_inner()) = Some(message);
        }
    }
}
