//! The built-in sinks (R-OUT-1, R-OUT-2): text or JSON lines ([`FmtSink`]), binary traces
//! ([`BinarySink`]), and the size-based rotation both use ([`rotate`]).
//! Run on the drain thread (started and stopped on the thread that installs and shuts down).
//!
//! - [`FmtSink`]: human text or JSON lines to stdout, stderr or a file with size-based
//!   rotation.
//! - [`BinarySink`]: the compact binary trace (see [`trace_file`](crate::trace_file)), to a
//!   file with size-based rotation; `ringtrace decode` prints it. Every file it finishes (at
//!   shutdown, and each file it rotates away) ends with an END chunk counting what the file
//!   holds; a file without one was cut (the process died) or is still being written.
//!
//! Files are opened when the sink is created, so an unwritable path is an error at set-up,
//! never a surprise at run time. Output is written a batch at a time (a text or JSON batch in
//! pieces of about [`FMT_WRITE_AT`] bytes, whole lines each, or what
//! [`FmtSink::write_at`] sets) and flushed when the drain goes idle (within `flush_interval` of
//! the last record).

mod binary;
pub mod rotate;

pub use binary::BinarySink;

use crate::output::event::Batch;
use crate::output::render::Renderer;
use crate::output::sink::{Sink, SinkError};
use rotate::{OpenError, RotatingFile, Rotation};
use std::io::Write;
use std::path::PathBuf;

/// A [`FmtSink`] hands its rendered lines to the output once they reach this many bytes
/// (1 MiB, unless [`FmtSink::write_at`] says otherwise), so a batch's text never grows beyond
/// it plus one line.
pub const FMT_WRITE_AT: usize = 1 << 20;

/// The line format of a [`FmtSink`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Human-readable text (see [`render`](crate::render)).
    Text,
    /// One JSON object per line.
    Json,
}

enum Target {
    Stdout,
    Stderr,
    File(RotatingFile),
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Stdout => f.write_str("stdout"),
            Target::Stderr => f.write_str("stderr"),
            Target::File(r) => write!(f, "{:?}", r.path()),
        }
    }
}

/// Text or JSON lines to stdout, stderr or a rotating file.
///
/// ```no_run
/// use ringtrace::sinks::{FmtSink, Format, rotate::Rotation};
/// let sink = FmtSink::file("/var/log/app.jsonl", Format::Json, Rotation { max_bytes: 64 << 20, max_files: 5 })?;
/// # Ok::<(), ringtrace::sinks::rotate::OpenError>(())
/// ```
#[derive(Debug)]
pub struct FmtSink {
    name: String,
    format: Format,
    target: Target,
    /// Rendered lines not yet handed to the output.
    buf: String,
    /// Hand `buf` to the output once it holds this many bytes (and at the end of a batch).
    write_at: usize,
    /// Keeps each (callsite, thread)'s constant line part and the last second's text.
    renderer: Renderer,
}

impl FmtSink {
    fn new(name: &str, format: Format, target: Target) -> Self {
        Self {
            name: name.to_string(),
            format,
            target,
            buf: String::new(),
            write_at: FMT_WRITE_AT,
            renderer: Renderer::new(),
        }
    }

    /// Text to standard output.
    pub fn stdout_text() -> Self {
        Self::new("stdout", Format::Text, Target::Stdout)
    }

    /// Text to standard error.
    pub fn stderr_text() -> Self {
        Self::new("stderr", Format::Text, Target::Stderr)
    }

    /// JSON lines to standard output.
    pub fn stdout_json() -> Self {
        Self::new("stdout", Format::Json, Target::Stdout)
    }

    /// JSON lines to standard error.
    pub fn stderr_json() -> Self {
        Self::new("stderr", Format::Json, Target::Stderr)
    }

    /// Lines to a file (appended to; rotated by size). Fails if the file cannot be opened.
    /// The sink is named after the format (`text` or `jsonl`); rename it with
    /// [`FmtSink::named`] when you add several.
    pub fn file(path: impl Into<PathBuf>, format: Format, rotation: Rotation) -> Result<Self, OpenError> {
        let file = RotatingFile::open(path, rotation)?;
        let name = match format {
            Format::Text => "text",
            Format::Json => "jsonl",
        };
        Ok(Self::new(name, format, Target::File(file)))
    }

    /// Renames the sink (names appear in reports and metrics).
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Hands rendered lines to the output in writes of about `bytes` (whole lines; at least
    /// one line per write, and the rest of a batch at its end). Default [`FMT_WRITE_AT`]
    /// (1 MiB): a batch of that much text or less is one write.
    pub fn write_at(mut self, bytes: usize) -> Self {
        self.write_at = bytes.max(1);
        self
    }

    fn write_out(&mut self) -> std::io::Result<()> {
        let bytes = self.buf.as_bytes();
        let r = match &mut self.target {
            Target::Stdout => std::io::stdout().lock().write_all(bytes),
            Target::Stderr => std::io::stderr().lock().write_all(bytes),
            Target::File(f) => f.write_unit(bytes),
        };
        self.buf.clear();
        r
    }
}

impl Sink for FmtSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn metadata(&self) -> crate::SinkMetadata {
        crate::SinkMetadata::new("fmt", env!("CARGO_PKG_VERSION"))
    }

    fn write_batch(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        self.buf.clear();
        // Room for the whole batch at ~128 bytes a line, up to one write's worth: the buffer
        // grows to its working size once instead of doubling its way there.
        self.buf.reserve(batch.len().saturating_mul(128).min(self.write_at.saturating_add(4096)));
        for ev in batch.iter() {
            match self.format {
                Format::Text => self.renderer.text(&ev, &mut self.buf),
                Format::Json => self.renderer.json(&ev, &mut self.buf),
            }
            if self.buf.len() >= self.write_at {
                self.write_out().map_err(|e| SinkError::with_source("cannot write output", e))?;
            }
        }
        self.write_out().map_err(|e| SinkError::with_source("cannot write output", e))
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        let r = match &mut self.target {
            Target::Stdout => std::io::stdout().flush(),
            Target::Stderr => Ok(()),
            Target::File(f) => f.flush(),
        };
        r.map_err(|e| SinkError::with_source("cannot flush output", e))
    }

    fn outputs(&self) -> Vec<PathBuf> {
        match &self.target {
            Target::File(f) => f.paths(),
            _ => Vec::new(),
        }
    }
}
