//! `ringtrace`: the command-line tool.
//!
//! - `ringtrace demo` runs a multi-threaded workload through a runtime with text, JSON-lines
//!   and binary sinks and prints what happened (the main job); in flight-recorder mode
//!   (`--preset flight_recorder`) it keeps a pool file and takes a snapshot instead, and prints
//!   the `recover` and `decode` commands that read them.
//! - `ringtrace decode FILE` prints a binary trace as text or JSON lines.
//! - `ringtrace convert FILE --to perfetto|ctf|jsonl -o OUT` writes it in a timeline viewer's
//!   format (trace-event JSON for Perfetto UI and `chrome://tracing`, CTF 1.8 for babeltrace2
//!   and Trace Compass) or as JSON lines.
//! - `ringtrace stats FILE` counts what it holds: per thread, level and callsite, losses,
//!   time span, top callsites.
//! - `ringtrace recover FILE -o OUT` rebuilds a binary trace from a flight-recorder pool file
//!   (after a crash) and prints what it recovered per thread.
//! - `ringtrace workload OUT` (hidden) writes the test trace the export checks read.
//!
//! # Exit status
//!
//! 0 on success; 1 on an error (unreadable, corrupt or truncated input, an unwritable output,
//! bad arguments from our own checks; clap's usage errors are 2); 3 when `decode`, `convert` or
//! `stats` is given `--strict` and the trace has no end marker (it was cut: its writer
//! crashed or is still writing). Without `--strict` such a trace is read to its last complete
//! chunk and a warning on standard error names the offset, with status 0, so following a file
//! that is still being written works like `tail`.

use clap::{Parser, Subcommand, ValueEnum};
use ringtrace::trace_file::ReadStats;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod convert;
mod decode;
mod demo;
mod progress;
mod recover;
mod stats;
mod workload;

/// ringtrace: record in nanoseconds, format later.
#[derive(Debug, Parser)]
#[command(name = "ringtrace", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a multi-threaded workload through ringtrace and summarise it.
    Demo(demo::DemoArgs),
    /// Print a binary trace file as text or JSON lines.
    Decode {
        /// The trace file (`.rtrace`).
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
        /// Exit with status 3 if the trace has no end marker (it was cut, or is still being
        /// written); without it, a warning.
        #[arg(long)]
        strict: bool,
    },
    /// Convert a binary trace for a timeline viewer (Perfetto, Chrome, babeltrace2, Trace
    /// Compass) or to JSON lines.
    Convert {
        /// The trace file (`.rtrace`).
        file: PathBuf,
        /// Output format: trace-event JSON (perfetto), a CTF 1.8 directory (ctf) or JSON lines.
        #[arg(long, value_enum)]
        to: convert::Target,
        /// Output file (`-` for standard output), or directory for `ctf` (created; must be
        /// empty).
        #[arg(short, long)]
        out: PathBuf,
        /// How spans are written in trace-event JSON.
        #[arg(long, value_enum, default_value_t = convert::Spans::Complete)]
        spans: convert::Spans,
        /// Exit with status 3 if the trace has no end marker (what it holds is still
        /// converted); without it, a warning.
        #[arg(long)]
        strict: bool,
    },
    /// Count what a binary trace holds: events per thread, level and callsite, losses, time
    /// span, top callsites.
    Stats {
        /// The trace file (`.rtrace`).
        file: PathBuf,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
        /// Callsites listed by count and by bytes (0: all).
        #[arg(long, default_value_t = 10)]
        top: usize,
        /// Exit with status 3 if the trace has no end marker (the statistics are still
        /// printed); without it, a warning.
        #[arg(long)]
        strict: bool,
    },
    /// Rebuild a binary trace from a flight-recorder pool file (`Builder::pool_file`) after a
    /// crash: every committed record in timestamp order, a torn tail cut and reported, and a
    /// summary per thread.
    Recover {
        /// The pool file.
        file: PathBuf,
        /// The trace file to write (`.rtrace`).
        #[arg(short, long)]
        out: PathBuf,
        /// Print the summary as one JSON object on standard output.
        #[arg(long)]
        json: bool,
    },
    /// Write the export checks' test trace (threads, nested spans, a DROPPING episode) and
    /// print its expected numbers as JSON.
    #[command(hide = true)]
    Workload {
        /// The trace file to write.
        out: PathBuf,
    },
}

/// Line formats for decoded output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OutputFormat {
    /// Human-readable text.
    Text,
    /// One JSON object per line.
    Jsonl,
}

/// The exit status of a trace without its end marker under `--strict`.
const EXIT_INCOMPLETE: u8 = 3;

/// Why a command failed: an error (status 1), or an incomplete trace under `--strict`
/// (status [`EXIT_INCOMPLETE`]).
#[derive(Debug)]
pub(crate) enum Failure {
    /// Status 1.
    Error(String),
    /// Status 3.
    Incomplete(String),
}

impl From<String> for Failure {
    fn from(e: String) -> Self {
        Failure::Error(e)
    }
}

/// After a trace was read: nothing if it ended with its end marker; otherwise a warning on
/// standard error naming where its last complete chunk ends, or, with `strict`, the failure.
pub(crate) fn check_complete(file: &Path, read: &ReadStats, strict: bool) -> Result<(), Failure> {
    if read.is_complete() {
        return Ok(());
    }
    let what = format!(
        "{}: incomplete trace: no end marker; read {} records up to byte {}, where the last complete chunk ends \
         (the writer crashed, was killed, or is still writing)",
        file.display(),
        read.records,
        read.bytes
    );
    if strict {
        return Err(Failure::Incomplete(what));
    }
    eprintln!("ringtrace: warning: {what}");
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => demo::run(args).map_err(Failure::from),
        Command::Decode { file, format, strict } => decode::run(&file, format, strict),
        Command::Convert { file, to, out, spans, strict } => convert::run(&file, to, &out, spans, strict),
        Command::Stats { file, json, top, strict } => stats::run(&file, json, top, strict),
        Command::Recover { file, out, json } => recover::run(&file, &out, json).map_err(Failure::from),
        Command::Workload { out } => workload::run(&out).map_err(Failure::from),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Error(e)) => {
            eprintln!("ringtrace: {e}");
            ExitCode::FAILURE
        }
        Err(Failure::Incomplete(e)) => {
            eprintln!("ringtrace: {e}");
            ExitCode::from(EXIT_INCOMPLETE)
        }
    }
}
