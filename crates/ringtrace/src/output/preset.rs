//! Presets (R-CONF-3): ready-made set-ups for the three ways ringtrace is usually run.
//!
//! | preset | settings | sinks |
//! |---|---|---|
//! | `dev` | level `DEBUG`, `DropNewest`, best-effort serialization | human text to stderr |
//! | `production` | level `INFO`, `DropNewest`, 128 rings, 10 s shutdown timeout | JSON lines to `ringtrace.jsonl` (128 MiB × 10 files), PostgreSQL with `create_table = false` |
//! | `flight_recorder` | level `TRACE`, `DropOldest`, 256 rings, 8 per thread, flight-recorder mode | none: the pool file `ringtrace.flight` in the output directory keeps each thread's newest records (see [`flight`](crate::flight)) |
//!
//! The production preset is safe for regulated environments: its PostgreSQL sink never runs
//! DDL (`create_table = false`); provision the table by migration. A preset only sets
//! starting values: a configuration file and `RINGTRACE_*` variables still override them.

use crate::config::{Config, Policy, Serialization};
use crate::level::Level;
use crate::output::sink::{Sink, SinkError};
use crate::output::sinks::rotate::Rotation;
use crate::output::sinks::{BinarySink, FmtSink, Format};
use std::fmt;
use std::path::Path;
use std::time::Duration;

/// A ready-made set-up (see the module table).
///
/// ```
/// use ringtrace::{Preset, SinkSpec};
/// let p: Preset = "production".parse().unwrap();
/// assert_eq!(p.config().policy, ringtrace::Policy::DropNewest);
/// assert!(p.sinks().iter().any(|s| matches!(s, SinkSpec::Postgres(pg) if !pg.create_table)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// Development: text to stderr.
    Dev,
    /// Production: JSON lines to a file and PostgreSQL without run-time DDL.
    Production,
    /// A flight recorder: keep the newest events (`DropOldest`), binary output.
    FlightRecorder,
}

/// The pool file [`Builder::preset_sinks`](crate::Builder::preset_sinks) gives the flight
/// recorder, in the output directory.
pub const FLIGHT_POOL_FILE: &str = "ringtrace.flight";

impl Preset {
    /// Every preset.
    pub const ALL: [Preset; 3] = [Preset::Dev, Preset::Production, Preset::FlightRecorder];

    /// The preset's name (`dev`, `production`, `flight_recorder`).
    pub const fn name(self) -> &'static str {
        match self {
            Preset::Dev => "dev",
            Preset::Production => "production",
            Preset::FlightRecorder => "flight_recorder",
        }
    }

    /// The preset's runtime settings.
    pub fn config(self) -> Config {
        let base = Config::default();
        match self {
            Preset::Dev => Config {
                level: Level::Debug,
                policy: Policy::DropNewest,
                serialization: Serialization::BestEffort,
                ..base
            },
            Preset::Production => Config {
                level: Level::Info,
                policy: Policy::DropNewest,
                serialization: Serialization::BestEffort,
                ring_count: 128,
                shutdown_timeout: Duration::from_secs(10),
                ..base
            },
            Preset::FlightRecorder => Config {
                level: Level::Trace,
                policy: Policy::DropOldest,
                ring_count: 256,
                max_rings_per_thread: 8,
                flight_recorder: true,
                ..base
            },
        }
    }

    /// The preset's outputs.
    pub fn sinks(self) -> Vec<SinkSpec> {
        match self {
            Preset::Dev => vec![SinkSpec::StderrText],
            Preset::Production => vec![
                SinkSpec::JsonFile {
                    file: "ringtrace.jsonl",
                    rotation: Rotation { max_bytes: 128 << 20, max_files: 10 },
                },
                SinkSpec::Postgres(PostgresSpec { table: "ringtrace_events", create_table: false }),
            ],
            // No sink: the pool file is the record (`Builder::preset_sinks` puts it in the
            // output directory); `snapshot` and `ringtrace recover` turn it into traces.
            Preset::FlightRecorder => vec![],
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Preset {
    type Err = crate::ConfigError;

    fn from_str(s: &str) -> Result<Preset, Self::Err> {
        match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "dev" => Ok(Preset::Dev),
            "production" | "prod" => Ok(Preset::Production),
            "flight_recorder" => Ok(Preset::FlightRecorder),
            _ => Err(crate::ConfigError {
                field: "preset",
                value: s.to_string(),
                allowed: "one of dev, production, flight_recorder".into(),
            }),
        }
    }
}

/// The PostgreSQL sink of a preset (built by the `ringtrace-postgres` crate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresSpec {
    /// The table events are written to.
    pub table: &'static str,
    /// Whether the sink may run `CREATE TABLE`/`CREATE INDEX` at start-up. `false` in the
    /// production preset: in regulated environments the table is provisioned by migration.
    pub create_table: bool,
}

/// One output of a preset.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SinkSpec {
    /// Human text to standard error.
    StderrText,
    /// JSON lines to a file (relative to the output directory), rotated by size.
    JsonFile {
        /// File name.
        file: &'static str,
        /// Rotation.
        rotation: Rotation,
    },
    /// The binary trace to a file (relative to the output directory), rotated by size.
    BinaryFile {
        /// File name.
        file: &'static str,
        /// Rotation.
        rotation: Rotation,
    },
    /// A PostgreSQL table (not built by this crate).
    Postgres(PostgresSpec),
}

impl SinkSpec {
    /// A short name for messages.
    pub fn name(&self) -> &'static str {
        match self {
            SinkSpec::StderrText => "stderr",
            SinkSpec::JsonFile { .. } => "jsonl",
            SinkSpec::BinaryFile { .. } => "binary",
            SinkSpec::Postgres(_) => "postgres",
        }
    }

    /// Builds the sink, writing files under `dir`, or `None` for sinks this crate does not
    /// provide (PostgreSQL).
    pub fn build(&self, dir: &Path) -> Option<Result<Box<dyn Sink>, SinkError>> {
        let open =
            |e: crate::output::sinks::rotate::OpenError| SinkError::with_source("cannot open the output file", e);
        Some(match self {
            SinkSpec::StderrText => Ok(Box::new(FmtSink::stderr_text())),
            SinkSpec::JsonFile { file, rotation } => FmtSink::file(dir.join(file), Format::Json, rotation.clone())
                .map(|s| Box::new(s) as Box<dyn Sink>)
                .map_err(open),
            SinkSpec::BinaryFile { file, rotation } => {
                BinarySink::file(dir.join(file), rotation.clone()).map(|s| Box::new(s) as Box<dyn Sink>).map_err(open)
            }
            SinkSpec::Postgres(_) => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_named() {
        for p in Preset::ALL {
            assert_eq!(p.config().validate(), Ok(()), "{p}");
            assert_eq!(p.name().parse::<Preset>(), Ok(p));
            // The flight recorder writes no sink: its pool file is the record.
            assert_eq!(p.sinks().is_empty(), p == Preset::FlightRecorder, "{p}");
        }
        assert_eq!("flight-recorder".parse::<Preset>(), Ok(Preset::FlightRecorder));
        let e = "staging".parse::<Preset>().unwrap_err();
        assert_eq!((e.field, e.value.as_str()), ("preset", "staging"));
    }

    #[test]
    fn production_never_runs_ddl() {
        let pg: Vec<_> = Preset::Production
            .sinks()
            .into_iter()
            .filter_map(|s| if let SinkSpec::Postgres(p) = s { Some(p) } else { None })
            .collect();
        assert_eq!(pg.len(), 1);
        assert!(!pg[0].create_table, "the production preset must not create tables at run time");
    }

    #[test]
    fn flight_recorder_keeps_the_newest() {
        assert_eq!(Preset::FlightRecorder.config().policy, Policy::DropOldest);
        assert!(Preset::FlightRecorder.config().flight_recorder);
        assert!(Preset::FlightRecorder.sinks().is_empty(), "no sink writes during normal operation");
    }
}
