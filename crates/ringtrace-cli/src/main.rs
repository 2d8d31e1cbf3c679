//! `ringtrace`: the command-line tool.
//!
//! - `ringtrace demo` runs a multi-threaded workload through a runtime with text, JSON-lines
//!   and binary sinks and prints what happened (the main job).
//! - `ringtrace decode FILE` prints a binary trace as text or JSON lines.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

mod decode;
mod demo;

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
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ringtrace: {e}");
            ExitCode::FAILURE
        }
    }
}
