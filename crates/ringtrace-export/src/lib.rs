//! Timeline exports of ringtrace traces (R-OUT-3): the same events a
//! [`BinarySink`](ringtrace::sinks::BinarySink) stores, in formats that existing trace viewers
//! open.
//!
//! - [`chrome`]: Chrome / Perfetto **trace-event JSON**, for [ui.perfetto.dev], `chrome://tracing`
//!   and the Chrome DevTools performance panel. One track per thread, spans as slices, events,
//!   raw records and loss records as instant markers.
//! - [`ctf`]: **CTF 1.8** (Common Trace Format), a directory with a TSDL `metadata` file and one
//!   binary stream per thread, for `babeltrace2` and Trace Compass. Loss records become the
//!   `events_discarded` counts CTF readers report.
//!
//! Each format comes three ways, all producing the same bytes for the same events:
//!
//! - a writer that takes [`Event`](ringtrace::Event)s or [`Batch`](ringtrace::Batch)es
//!   ([`ChromeWriter`], [`CtfWriter`]), streaming: nothing but the open spans of each thread
//!   (Chrome) or one packet per thread (CTF) is held in memory;
//! - a [`Sink`](ringtrace::Sink) for a live runtime ([`ChromeSink`], [`CtfSink`]);
//! - a converter from a binary trace file ([`convert::to_chrome`], [`convert::to_ctf`],
//!   [`convert::to_jsonl`]), which is what `ringtrace convert` runs.
//!
//! # Spans
//!
//! A callsite of kind [`CallsiteKind::SpanBegin`](ringtrace::CallsiteKind) opens a span on its
//! thread and one of kind `SpanEnd` closes the span most recently opened and not yet closed on
//! the same thread; the span's name is the begin record's message (the callsite's format
//! string when it has no arguments). A trace file keeps each thread's records in recording
//! order, and its reader hands them out merged by timestamp across threads (see
//! [`trace_file`](ringtrace::trace_file), "Order"), in order within each thread, which is all
//! span matching needs.
//!
//! [ui.perfetto.dev]: https://ui.perfetto.dev

pub mod chrome;
pub mod convert;
pub mod ctf;
mod text;

pub use chrome::{ChromeOptions, ChromeSink, ChromeWriter, SpanStyle};
pub use ctf::{CtfOptions, CtfSink, CtfWriter};

use ringtrace::trace_file::TraceError;
use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why an export failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ExportError {
    /// The input trace is unreadable, corrupt or truncated. A converter writes out everything
    /// that came before the damage (a complete, valid output) and then returns this.
    Trace(TraceError),
    /// The output could not be written.
    Write {
        /// The file or directory being written.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A stream the converter was given could not be written (the caller knows its name).
    Output(io::Error),
    /// The CTF output directory already holds files (a trace is never written over another).
    NotEmpty(PathBuf),
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportError::Trace(e) => write!(f, "{e}"),
            ExportError::Write { path, source } => write!(f, "cannot write {}: {source}", path.display()),
            ExportError::Output(e) => write!(f, "cannot write output: {e}"),
            ExportError::NotEmpty(p) => {
                write!(f, "output directory {} is not empty (a CTF trace needs a directory of its own)", p.display())
            }
        }
    }
}

impl std::error::Error for ExportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ExportError::Trace(e) => Some(e),
            ExportError::Write { source, .. } => Some(source),
            ExportError::Output(e) => Some(e),
            ExportError::NotEmpty(_) => None,
        }
    }
}

impl From<TraceError> for ExportError {
    fn from(e: TraceError) -> Self {
        ExportError::Trace(e)
    }
}
