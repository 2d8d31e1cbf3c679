//! Runtime configuration: the validated values every part of the runtime reads ([`Config`]),
//! and where they come from — builder, TOML file, `RINGTRACE_*` environment ([`source`]).
//! Resolved on the thread that installs the runtime; read-only afterwards, on every thread.
//!
//! [`Config`] holds plain values with documented defaults (the `DEFAULT_*` constants);
//! [`Config::validate`] checks every field and every relation between fields and reports the
//! first problem as a [`ConfigError`] naming the field, the value and what is allowed
//! (R-CONF-2). The [`Builder`](crate::Builder) wraps a `Config` and validates it before anything
//! starts, so a runtime is never half-configured.

pub mod source;

use crate::level::Level;
use crate::wire::record::{HEADER_LEN, MAX_RECORD_LEN};
use std::fmt;
use std::time::Duration;

/// Default bytes per ring (64 KiB).
pub const DEFAULT_RING_SIZE: usize = 64 * 1024;
/// Default number of rings in the pool (64 × 64 KiB = 4 MiB).
pub const DEFAULT_RING_COUNT: u32 = 64;
/// Default most rings one thread may hold at once (its active ring plus full ones the drain
/// has not taken yet).
pub const DEFAULT_MAX_RINGS_PER_THREAD: usize = 8;
/// Default largest record in bytes, header included.
pub const DEFAULT_MAX_RECORD_SIZE: usize = 4096;
/// Default longest time a record waits in a partly filled ring before the drain takes it.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_millis(10);
/// Default time the drain holds records back to merge threads by timestamp.
pub const DEFAULT_MERGE_WINDOW: Duration = Duration::from_millis(1);
/// Default most events per batch handed to a sink.
pub const DEFAULT_BATCH_SIZE: usize = 1024;
/// Default fraction of free rings below which a thread that takes a ring enters PRESSURE.
pub const DEFAULT_PRESSURE_WATERMARK: f64 = 0.25;
/// Default fraction of free rings above which PRESSURE and DROPPING threads enter RECOVERY.
pub const DEFAULT_RECOVERY_WATERMARK: f64 = 0.5;
/// Default time a thread stays in RECOVERY without new pressure before it is NORMAL again.
pub const DEFAULT_STABILITY_PERIOD: Duration = Duration::from_millis(100);
/// Default time the drop guard waits for the drain at shutdown.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// What a thread does when its ring is full and it cannot get another (R-BP-3).
///
/// # The same-thread rule
///
/// Records made on the drain thread (from a sink, a diagnostics hook, or code they call) never
/// wait, whatever the policy: the drain cannot free a ring while it waits for one. Under
/// `Block` such a record is dropped and counted as
/// [`DropReason::DrainContext`](crate::DropReason::DrainContext), and the first such drop
/// emits one diagnostic naming the policy, the drop count, the pool's high-water mark and its
/// capacity.
///
/// Instead of recording from a sink, return a [`SinkError`](crate::SinkError) (the runtime
/// counts and reports it with the sink's name); if the drain's own records matter, give the
/// pool more rings. See `docs/backpressure.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Discard the record that does not fit and count it.
    DropNewest,
    /// Take back this thread's oldest full ring that the drain has not taken yet and reuse
    /// it; its events are counted as overwritten (a flight recorder).
    DropOldest,
    /// Wait (spin, then park) up to `timeout` for a free ring, then drop the record and count
    /// a timeout.
    Block {
        /// The longest a record waits.
        timeout: Duration,
    },
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Policy::DropNewest => f.write_str("drop_newest"),
            Policy::DropOldest => f.write_str("drop_oldest"),
            Policy::Block { timeout } => write!(f, "block({}ms)", timeout.as_millis()),
        }
    }
}

/// What to do with an event whose arguments do not fit `max_record_size` (R-LIFE-3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serialization {
    /// Drop the event and count it as [`Oversized`](crate::DropReason::Oversized).
    Strict,
    /// Keep the event: every fixed-size value whole, strings and captured text cut (the
    /// longest first, each ending with [`CUT_MARK`](crate::CUT_MARK)) until it fits, flagged
    /// truncated; if not even the fixed-size values fit, a placeholder without values.
    /// docs/configuration.md ("Best-effort truncation") has the exact rule.
    BestEffort,
}

impl fmt::Display for Serialization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Serialization::Strict => "strict",
            Serialization::BestEffort => "best_effort",
        })
    }
}

/// The runtime's settings. Build one through [`Builder`](crate::Builder).
///
/// # Default values
///
/// | field | default |
/// |---|---|
/// | `ring_size` | [`DEFAULT_RING_SIZE`] (64 KiB) |
/// | `ring_count` | [`DEFAULT_RING_COUNT`] (64) |
/// | `max_rings_per_thread` | [`DEFAULT_MAX_RINGS_PER_THREAD`] (8) |
/// | `max_record_size` | [`DEFAULT_MAX_RECORD_SIZE`] (4096) |
/// | `flush_interval` | [`DEFAULT_FLUSH_INTERVAL`] (10 ms) |
/// | `merge_window` | [`DEFAULT_MERGE_WINDOW`] (1 ms) |
/// | `batch_size` | [`DEFAULT_BATCH_SIZE`] (1024) |
/// | `policy` | [`Policy::DropNewest`] |
/// | `serialization` | [`Serialization::BestEffort`] |
/// | `pressure_watermark` | [`DEFAULT_PRESSURE_WATERMARK`] (0.25: a quarter of the rings free) |
/// | `recovery_watermark` | [`DEFAULT_RECOVERY_WATERMARK`] (0.5) |
/// | `stability_period` | [`DEFAULT_STABILITY_PERIOD`] (100 ms) |
/// | `level` | [`Level::Trace`] (everything) |
/// | `shutdown_timeout` | [`DEFAULT_SHUTDOWN_TIMEOUT`] (5 s) |
/// | `pool_file` | none (anonymous memory) |
/// | `flight_recorder` | `false` |
/// | `target_rates` | none |
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Bytes per ring; a power of two, 4 KiB to 1 GiB, at least twice `max_record_size`.
    pub ring_size: usize,
    /// Rings in the pool, 1 to 1 048 576.
    pub ring_count: u32,
    /// Most rings one thread holds at once, 1 to `ring_count`.
    pub max_rings_per_thread: usize,
    /// Largest record in bytes including its 16-byte header, 32 to 65 535.
    pub max_record_size: usize,
    /// Longest a record waits in a partly filled ring, 1 ms to 60 s.
    pub flush_interval: Duration,
    /// How long records are held back so threads merge in timestamp order, 0 to
    /// `flush_interval`.
    pub merge_window: Duration,
    /// Most events per sink batch, 1 to 1 048 576.
    pub batch_size: usize,
    /// The default backpressure policy.
    pub policy: Policy,
    /// Strict or best-effort serialization.
    pub serialization: Serialization,
    /// Fraction of the pool's rings that must stay free: a thread that takes a ring and leaves
    /// fewer free enters PRESSURE. Greater than 0, at most `recovery_watermark`.
    pub pressure_watermark: f64,
    /// Fraction of free rings above which PRESSURE and DROPPING threads enter RECOVERY. At
    /// least `pressure_watermark`, at most 1.
    pub recovery_watermark: f64,
    /// How long a thread stays in RECOVERY without new pressure before it is NORMAL again,
    /// 0 to 1 h.
    pub stability_period: Duration,
    /// The most verbose level recorded.
    pub level: Level,
    /// How long the drop guard waits for the drain at shutdown.
    pub shutdown_timeout: Duration,
    /// Keep the pool in this file (a flight recorder that survives a crash; see
    /// [`flight`](crate::flight)). `None`: anonymous memory.
    pub pool_file: Option<std::path::PathBuf>,
    /// Flight-recorder mode: the drain does not take records out of live threads' rings, so
    /// the pool always holds each thread's newest records, for [`snapshot`](crate::snapshot)
    /// and, with `pool_file`, for `ringtrace recover` after a crash. An exited thread's records
    /// stay too, until the pool runs short of free rings (then they go to the sinks and the
    /// rings are reused). At shutdown the sinks, if there are any, receive what the rings hold;
    /// without sinks it stays in the pool file ([`DrainReport::retained`](crate::DrainReport)).
    pub flight_recorder: bool,
    /// Rate limits by target: `(prefix, events per second)`. A callsite whose target is the
    /// prefix or starts with it followed by `::` records at most that many events per second
    /// (over all threads; the longest matching prefix wins; the empty prefix matches every
    /// target), unless its macro gave its own `rate:` or `sample:`. The others are counted as
    /// `rate_limited`, not as losses (docs/backpressure.md). Applies to callsites registered
    /// through [`Callsite::id`](crate::Callsite::id) (the macros and the integrations), from
    /// install to shutdown. Empty by default.
    pub target_rates: Vec<(String, u32)>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            ring_size: DEFAULT_RING_SIZE,
            ring_count: DEFAULT_RING_COUNT,
            max_rings_per_thread: DEFAULT_MAX_RINGS_PER_THREAD,
            max_record_size: DEFAULT_MAX_RECORD_SIZE,
            flush_interval: DEFAULT_FLUSH_INTERVAL,
            merge_window: DEFAULT_MERGE_WINDOW,
            batch_size: DEFAULT_BATCH_SIZE,
            policy: Policy::DropNewest,
            serialization: Serialization::BestEffort,
            pressure_watermark: DEFAULT_PRESSURE_WATERMARK,
            recovery_watermark: DEFAULT_RECOVERY_WATERMARK,
            stability_period: DEFAULT_STABILITY_PERIOD,
            level: Level::Trace,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            pool_file: None,
            flight_recorder: false,
            target_rates: Vec::new(),
        }
    }
}

/// An invalid configuration value: which field, what value, and what is allowed.
///
/// ```
/// let err = ringtrace::Builder::new().ignore_env().ring_size(1000).validate().unwrap_err();
/// assert_eq!(err.to_string(), "invalid ring_size = 1000: must be a power of two between 4096 and 1073741824 (set in code or by default)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The field's name as in the builder, the TOML file and (upper-cased, with a
    /// `RINGTRACE_` prefix) the environment.
    pub field: &'static str,
    /// The value given.
    pub value: String,
    /// What is allowed.
    pub allowed: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {} = {}: {}", self.field, self.value, self.allowed)
    }
}

impl std::error::Error for ConfigError {}

fn err(field: &'static str, value: impl fmt::Display, allowed: impl Into<String>) -> ConfigError {
    ConfigError { field, value: value.to_string(), allowed: allowed.into() }
}

fn ms(d: Duration) -> String {
    format!("{}ms", d.as_secs_f64() * 1000.0)
}

impl Config {
    /// Checks every field and the relations between them.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (prefix, rate) in &self.target_rates {
            if *rate == 0 {
                return Err(err(
                    "target_rates",
                    format!("{prefix}={rate}"),
                    "each rate must be at least 1 event per second",
                ));
            }
        }
        const MIN_RING: usize = 4096;
        const MAX_RING: usize = 1 << 30;
        if !self.ring_size.is_power_of_two() || !(MIN_RING..=MAX_RING).contains(&self.ring_size) {
            return Err(err(
                "ring_size",
                self.ring_size,
                format!("must be a power of two between {MIN_RING} and {MAX_RING}"),
            ));
        }
        if !(1..=1 << 20).contains(&self.ring_count) {
            return Err(err("ring_count", self.ring_count, "must be between 1 and 1048576"));
        }
        if (self.ring_count as usize).checked_mul(self.ring_size).is_none_or(|b| b > 1 << 40) {
            return Err(err(
                "ring_count",
                self.ring_count,
                format!("ring_count × ring_size must be at most 1 TiB (ring_size = {})", self.ring_size),
            ));
        }
        if self.max_rings_per_thread == 0 || self.max_rings_per_thread > self.ring_count as usize {
            return Err(err(
                "max_rings_per_thread",
                self.max_rings_per_thread,
                format!("must be between 1 and ring_count ({})", self.ring_count),
            ));
        }
        let min_record = 2 * HEADER_LEN;
        if !(min_record..=MAX_RECORD_LEN).contains(&self.max_record_size) {
            return Err(err(
                "max_record_size",
                self.max_record_size,
                format!("must be between {min_record} and {MAX_RECORD_LEN}"),
            ));
        }
        if self.max_record_size > self.ring_size / 2 {
            return Err(err(
                "max_record_size",
                self.max_record_size,
                format!("must be at most half of ring_size ({})", self.ring_size / 2),
            ));
        }
        if self.flush_interval < Duration::from_millis(1) || self.flush_interval > Duration::from_secs(60) {
            return Err(err("flush_interval", ms(self.flush_interval), "must be between 1ms and 60s"));
        }
        if self.merge_window > self.flush_interval {
            return Err(err(
                "merge_window",
                ms(self.merge_window),
                format!("must be at most flush_interval ({})", ms(self.flush_interval)),
            ));
        }
        if !(1..=1 << 20).contains(&self.batch_size) {
            return Err(err("batch_size", self.batch_size, "must be between 1 and 1048576"));
        }
        if let Policy::Block { timeout } = self.policy {
            if timeout > Duration::from_secs(3600) {
                return Err(err("policy", format!("block({})", ms(timeout)), "the block timeout must be at most 1h"));
            }
        }
        if !(self.pressure_watermark > 0.0 && self.pressure_watermark < 1.0) {
            return Err(err(
                "pressure_watermark",
                self.pressure_watermark,
                "must be a fraction of the pool between 0 and 1 (exclusive), e.g. 0.25",
            ));
        }
        if !(self.recovery_watermark >= self.pressure_watermark && self.recovery_watermark <= 1.0) {
            return Err(err(
                "recovery_watermark",
                self.recovery_watermark,
                format!("must be between pressure_watermark ({}) and 1", self.pressure_watermark),
            ));
        }
        if self.stability_period > Duration::from_secs(3600) {
            return Err(err("stability_period", ms(self.stability_period), "must be at most 1h"));
        }
        if self.shutdown_timeout > Duration::from_secs(86_400) {
            return Err(err("shutdown_timeout", ms(self.shutdown_timeout), "must be at most 24h"));
        }
        Ok(())
    }

    /// `max_record_size` rounded down to the 8-byte record alignment.
    pub(crate) fn record_limit(&self) -> usize {
        self.max_record_size & !7
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(f: impl FnOnce(&mut Config)) -> Result<(), ConfigError> {
        let mut c = Config::default();
        f(&mut c);
        c.validate()
    }

    #[test]
    fn default_is_valid() {
        assert_eq!(Config::default().validate(), Ok(()));
    }

    #[test]
    fn each_error_names_field_value_and_allowed() {
        let cases: Vec<(Result<(), ConfigError>, &str, &str)> = vec![
            (with(|c| c.ring_size = 1000), "ring_size", "1000"),
            (with(|c| c.ring_size = 2048), "ring_size", "2048"),
            (with(|c| c.ring_count = 0), "ring_count", "0"),
            (with(|c| c.max_rings_per_thread = 0), "max_rings_per_thread", "0"),
            (with(|c| c.max_rings_per_thread = 65), "max_rings_per_thread", "65"),
            (with(|c| c.max_record_size = 8), "max_record_size", "8"),
            (with(|c| c.max_record_size = 40_000), "max_record_size", "40000"),
            (with(|c| c.flush_interval = Duration::ZERO), "flush_interval", "0ms"),
            (with(|c| c.merge_window = Duration::from_secs(1)), "merge_window", "1000ms"),
            (with(|c| c.batch_size = 0), "batch_size", "0"),
            (with(|c| c.pressure_watermark = 0.0), "pressure_watermark", "0"),
            (with(|c| c.pressure_watermark = f64::NAN), "pressure_watermark", "NaN"),
            (with(|c| c.recovery_watermark = 0.1), "recovery_watermark", "0.1"),
            (with(|c| c.recovery_watermark = 1.5), "recovery_watermark", "1.5"),
            (with(|c| c.stability_period = Duration::from_secs(7200)), "stability_period", "7200000ms"),
        ];
        for (r, field, value) in cases {
            let e = r.expect_err(field);
            assert_eq!(e.field, field);
            assert_eq!(e.value, value);
            assert!(!e.allowed.is_empty());
            assert!(e.to_string().starts_with(&format!("invalid {field} = {value}: ")), "{e}");
        }
    }
}
