//! `ringtrace demo` as a flight recorder: what the demo does when the resolved configuration
//! has `flight_recorder = true` (`--preset flight_recorder`, or the setting from `--config`
//! or `RINGTRACE_FLIGHT_RECORDER`), and what it prints.
//!
//! In that mode the drain leaves every live thread's records in the rings, and at shutdown it
//! would hand them all to the sinks and leave the pool file empty. So the demo builds **no
//! sinks**: the pool file is the record, as with the preset in a real service. It goes to
//! `--out/ringtrace.flight` (`Builder::preset_sinks`) unless a pool file was configured. The demo then:
//!
//! - says on standard error, as soon as the runtime is installed, where the pool file is and
//!   the exact `ringtrace recover` and `ringtrace decode` commands that read it, so that whoever
//!   kills the demo (or watches it crash) has them;
//! - takes a snapshot (`ringtrace::snapshot`) into `--out/snapshot.rtrace` while the workers
//!   record: once every worker has finished its flood (each thread's rings then hold its newest
//!   records and the loss records that count what was written over), or at the end of
//!   `--duration` if that comes first; it says so on standard error, with the command that
//!   reads it;
//! - does not wait for the workers to return to NORMAL after `--duration`: nobody empties a
//!   live thread's rings, so a thread that filled its quota writes over its oldest ring for
//!   every new one (`DropOldest`, counted as `overwritten`) and stays DROPPING for good. That
//!   wait, capped at 10 s, is what made `--duration 1` run 11 s;
//! - at the end prints the accounting with `retained` (the events left in the pool file) and
//!   the commands again.
//!
//! The commands work as printed, pasted into a POSIX shell from any directory (`shell.rs`).

use super::shell::{self, shell_path};
use ringtrace::flight::SnapshotReport;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The snapshot's file name in `--out`.
pub(super) const SNAPSHOT_FILE: &str = "snapshot.rtrace";
/// The file name in `--out` that the printed `recover` command writes.
pub(super) const RECOVERED_FILE: &str = "recovered.rtrace";

/// The snapshot the demo took during the run.
#[derive(Debug)]
struct Taken {
    report: SnapshotReport,
    /// When, counted from the start of the workload.
    at: Duration,
}

/// The flight recorder's files and commands, for one demo run.
#[derive(Debug)]
pub(super) struct Flight {
    /// The pool file, absolute (none only where the runtime has no pool file: under loom).
    pool: Option<PathBuf>,
    snapshot_path: PathBuf,
    recovered: PathBuf,
    /// Not taken yet, taken, or why not.
    snapshot: Option<Result<Taken, String>>,
}

impl Flight {
    /// The files for output directory `out` and the runtime's pool file.
    pub(super) fn new(out: &Path, pool: Option<&Path>) -> Flight {
        let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        let out = abs(out);
        Flight {
            pool: pool.map(abs),
            snapshot_path: out.join(SNAPSHOT_FILE),
            recovered: out.join(RECOVERED_FILE),
            snapshot: None,
        }
    }

    /// `ringtrace recover POOL -o OUT/recovered.rtrace`.
    fn recover_command(&self) -> Option<String> {
        let pool = self.pool.as_deref()?;
        Some(format!("{} recover {} -o {}", shell::program(), shell_path(pool), shell_path(&self.recovered)))
    }

    /// The lines that tell how to read the pool file, indented by `indent`.
    fn commands(&self, indent: &str) -> String {
        match self.recover_command() {
            Some(recover) => format!("{indent}{recover}\n{indent}{}\n", shell::decode_command(&self.recovered)),
            None => format!("{indent}(no pool file: the records live in anonymous memory, a crash loses them)\n"),
        }
    }

    /// What the demo prints on standard error once the runtime is installed.
    pub(super) fn announce(&self) -> String {
        let pool = self.pool.as_deref().map_or_else(|| "none".to_string(), |p| p.display().to_string());
        format!(
            "ringtrace demo: flight recorder: the pool file {pool} keeps each worker's newest records;\n\
             if this process dies, rebuild the trace from it and read it with:\n{}",
            self.commands("  ")
        )
    }

    /// Whether the snapshot is still to be taken.
    pub(super) fn wants_snapshot(&self) -> bool {
        self.snapshot.is_none()
    }

    /// Takes the snapshot, `at` into the run; returns the line for standard error.
    pub(super) fn take_snapshot(&mut self, at: Duration) -> String {
        let (taken, line) = match ringtrace::snapshot(&self.snapshot_path) {
            Ok(report) => {
                let line = format!(
                    "ringtrace demo: snapshot taken {:.1} s into the run, while the workers record: {} records of {} \
                     threads, {} bytes in {}; read it with:\n  {}\n",
                    at.as_secs_f64(),
                    report.records,
                    report.threads,
                    report.bytes,
                    report.path.display(),
                    shell::decode_command(&self.snapshot_path)
                );
                (Ok(Taken { report, at }), line)
            }
            Err(e) => {
                let e = format!("cannot take the snapshot {}: {e}", self.snapshot_path.display());
                let line = format!("ringtrace demo: {e}\n");
                (Err(e), line)
            }
        };
        self.snapshot = Some(taken);
        line
    }

    /// Why the snapshot failed, if it did.
    pub(super) fn error(&self) -> Option<&str> {
        match &self.snapshot {
            Some(Err(e)) => Some(e),
            _ => None,
        }
    }

    /// The files the demo wrote: the pool file and the snapshot.
    pub(super) fn outputs(&self) -> Vec<PathBuf> {
        let snapshot = matches!(self.snapshot, Some(Ok(_))).then(|| self.snapshot_path.clone());
        self.pool.iter().cloned().chain(snapshot).collect()
    }

    /// The end of the human summary; `retained` is the shutdown report's.
    pub(super) fn summary_text(&self, retained: u64) -> String {
        let mut s = String::from("\n  flight recorder (no sinks: the pool file is the record)\n");
        match &self.pool {
            Some(p) => {
                let size = std::fs::metadata(p).map(|m| format!(", {:.1} MiB", m.len() as f64 / 1048576.0));
                s += &format!(
                    "    pool file   {}{}: {retained} events left in it (each worker's newest)\n",
                    p.display(),
                    size.unwrap_or_default()
                );
            }
            None => s += "    pool file   none (anonymous memory)\n",
        }
        match &self.snapshot {
            Some(Ok(t)) => {
                s += &format!(
                    "    snapshot    {}: {} records of {} threads, {} bytes, taken {:.1} s into the run\n",
                    t.report.path.display(),
                    t.report.records,
                    t.report.threads,
                    t.report.bytes,
                    t.at.as_secs_f64()
                );
            }
            Some(Err(e)) => s += &format!("    snapshot    failed: {e}\n"),
            None => s += "    snapshot    not taken\n",
        }
        s += "\n  after a crash (or now), rebuild the trace from the pool file and read it:\n";
        s += &self.commands("    ");
        if matches!(self.snapshot, Some(Ok(_))) {
            s += &format!("  read the snapshot:\n    {}\n", shell::decode_command(&self.snapshot_path));
        }
        s
    }

    /// The `flight` object of `--json`.
    pub(super) fn json(&self) -> serde_json::Value {
        let snapshot = match &self.snapshot {
            Some(Ok(t)) => json!({
                "path": t.report.path.display().to_string(),
                "records": t.report.records,
                "threads": t.report.threads,
                "bytes": t.report.bytes,
                "at_s": t.at.as_secs_f64(),
            }),
            _ => serde_json::Value::Null,
        };
        json!({
            "pool_file": self.pool.as_ref().map(|p| p.display().to_string()),
            "snapshot": snapshot,
            "snapshot_error": self.error(),
            "recover_command": self.recover_command(),
            "decode_command": self.pool.as_ref().map(|_| shell::decode_command(&self.recovered)),
            "decode_snapshot_command": shell::decode_command(&self.snapshot_path),
        })
    }
}
