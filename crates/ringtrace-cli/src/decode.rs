//! `ringtrace decode FILE [--format text|jsonl]`.

use crate::OutputFormat;
use ringtrace::render::{render_json, render_text};
use ringtrace::trace_file::TraceReader;
use std::io::{self, Write};
use std::path::Path;

/// Prints every record of a trace. A corrupt or truncated file prints what came before the
/// damage and fails with the byte offset.
pub(crate) fn run(file: &Path, format: OutputFormat) -> Result<(), String> {
    let mut reader = TraceReader::open(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut line = String::with_capacity(1 << 16);
    let mut write_error: Option<io::Error> = None;
    let result = reader.for_each_batch(|batch| {
        if write_error.is_some() {
            return;
        }
        line.clear();
        for ev in batch.iter() {
            match format {
                OutputFormat::Text => render_text(&ev, &mut line),
                OutputFormat::Jsonl => render_json(&ev, &mut line),
            }
        }
        if let Err(e) = out.write_all(line.as_bytes()) {
            write_error = Some(e);
        }
    });
    let flushed = out.flush();
    match write_error.map_or(flushed, Err) {
        // The reader went away (`ringtrace decode … | head`): not an error.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
        Err(e) => return Err(format!("cannot write output: {e}")),
        Ok(()) => {}
    }
    result.map(|_| ()).map_err(|e| format!("{}: {e}", file.display()))
}
