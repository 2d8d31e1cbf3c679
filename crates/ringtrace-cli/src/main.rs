//! `ringtrace`: the command-line tool.
//!
//! - `ringtrace demo` runs a multi-threaded workload through a runtime with text, JSON-lines
//!   and binary sinks and prints what happened (the main job).
//! - `ringtrace decode FILE` prints a binary trace as text or JSON lines.
//! - `ringtrace convert FILE --to perfetto|ctf|jsonl -o OUT` writes it in a timeline viewer's
//!   format (trace-event JSON for Perfetto UI and `chrome://tracing`, CTF 1.8 for babeltrace2
//!   and Trace Compass) or as JSON lines.
//! - `ringtrace stats FILE` counts what it holds: per thread, level and callsite, losses,
//!   time span, top callsites.
//! - `ringtrace recover FILE -o OUT` rebuilds a binary trace from a flight-recorder pool file
//!   (after a crash) and prints what it recovered per thread.
//! - `ringtrace workload OUT` (hidden) writes the test trace the export checks read.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Decode { file, format } => decode::run(&file, format),
        Command::Convert { file, to, out, spans } => convert::run(&file, to, &out, spans),
        Command::Stats { file, json, top } => stats::run(&file, json, top),
        Command::Recover { file, out, json } => recover::run(&file, &out, json),
        Command::Workload { out } => workload::run(&out),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ringtrace: {e}");
            ExitCode::FAILURE
        }
    }
}
