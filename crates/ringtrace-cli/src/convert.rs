//! `ringtrace convert FILE --to perfetto|ctf|jsonl -o OUT`: a binary trace as trace-event JSON
//! (Perfetto UI, `chrome://tracing`), a CTF 1.8 directory (babeltrace2, Trace Compass) or
//! ringtrace's own JSON lines. See the `ringtrace-export` crate for the mappings.
//!
//! A corrupt or truncated trace is converted up to the damage, the output is completed, and
//! the command fails with the byte offset (as `decode` does). A trace without its end marker
//! is converted whole and then warned about (with `--strict`: status 3).

use crate::progress::Input;
use crate::{check_complete, Failure};
use clap::ValueEnum;
use ringtrace_export::{convert, ChromeOptions, CtfOptions, ExportError, SpanStyle};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// Output formats of `convert`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Target {
    /// Chrome / Perfetto trace-event JSON (one file).
    Perfetto,
    /// CTF 1.8 (a directory: metadata and one stream per thread).
    Ctf,
    /// ringtrace's JSON lines (as `decode --format jsonl`).
    Jsonl,
}

/// How spans are written in trace-event JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Spans {
    /// One complete slice (`"ph":"X"`) per span.
    Complete,
    /// A `"B"` and an `"E"` event per span.
    BeginEnd,
}

/// Converts `file` to `out` (`-` is standard output, except for `ctf`).
pub(crate) fn run(file: &Path, to: Target, out: &Path, spans: Spans, strict: bool) -> Result<(), Failure> {
    let mut input = Input::open(file, "converting")?;
    let to_stdout = out == Path::new("-");
    let out_name = if to_stdout { "standard output".to_string() } else { out.display().to_string() };
    let result = match to {
        Target::Ctf => {
            if to_stdout {
                return Err(Failure::Error("--to ctf writes a directory: give one with -o".into()));
            }
            convert::to_ctf(&mut input.reader, out, CtfOptions::default(), |_| input.progress.tick()).map(|(s, r)| {
                let summary = format!(
                    "{} records -> {} events in {} streams ({} packets)",
                    r.records, s.events, s.streams, s.packets
                );
                (summary, r)
            })
        }
        Target::Perfetto | Target::Jsonl => {
            let sink: Box<dyn Write> = if to_stdout {
                Box::new(io::stdout().lock())
            } else {
                Box::new(File::create(out).map_err(|e| format!("cannot create {out_name}: {e}"))?)
            };
            let w = BufWriter::with_capacity(1 << 16, sink);
            let r = if to == Target::Perfetto {
                let spans = match spans {
                    Spans::Complete => SpanStyle::Complete,
                    Spans::BeginEnd => SpanStyle::BeginEnd,
                };
                let opts = ChromeOptions { spans, ..ChromeOptions::default() };
                convert::to_chrome(&mut input.reader, w, opts, |_| input.progress.tick()).map(|(_, r)| r)
            } else {
                convert::to_jsonl(&mut input.reader, w, |_| input.progress.tick()).map(|(_, r)| r)
            };
            r.map(|r| (format!("{} records", r.records), r))
        }
    };
    input.progress.done();
    match result {
        Ok((summary, read)) => {
            if input.progress.visible() {
                eprintln!("ringtrace: converted {} to {out_name}: {summary}", file.display());
            }
            check_complete(file, &read, strict)
        }
        // The reader went away (`ringtrace convert … -o - | head`): not an error.
        Err(ExportError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(ExportError::Output(e)) => Err(format!("cannot write {out_name}: {e}").into()),
        Err(e @ ExportError::Trace(_)) => {
            Err(format!("{}: {e} (what came before was converted to {out_name})", file.display()).into())
        }
        Err(e) => Err(e.to_string().into()),
    }
}
