//! `ringtrace decode FILE [--format text|jsonl] [--strict]`.

use crate::{check_complete, Failure, OutputFormat};
use ringtrace::render::{render_json, render_text};
use ringtrace::trace_file::TraceReader;
use std::io::{self, Write};
use std::path::Path;

/// Rendered lines are handed to the output once they reach this many bytes (and at the end of
/// each chunk), so memory holds one piece, never a chunk's worth of text.
const WRITE_AT: usize = 1 << 20;

/// Prints every record of a trace. A corrupt or truncated file prints what came before the
/// damage and fails with the byte offset; a trace without its end marker is printed whole and
/// then warned about (with `strict`: fails with status 3).
pub(crate) fn run(file: &Path, format: OutputFormat, strict: bool) -> Result<(), Failure> {
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
            if line.len() >= WRITE_AT {
                if let Err(e) = out.write_all(line.as_bytes()) {
                    write_error = Some(e);
                    return;
                }
                line.clear();
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
        Err(e) => return Err(format!("cannot write output: {e}").into()),
        Ok(()) => {}
    }
    let read = result.map_err(|e| format!("{}: {e}", file.display()))?;
    check_complete(file, &read, strict)
}
