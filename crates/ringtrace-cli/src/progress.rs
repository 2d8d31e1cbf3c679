//! Reading a trace file with a progress bar: the bar counts bytes of input read against the
//! file's size, is drawn on stderr only when stderr is a terminal, and is hidden otherwise
//! (pipes, CI logs, tests), so scripted runs stay quiet.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ringtrace::trace_file::TraceReader;
use std::cell::Cell;
use std::fs::File;
use std::io::{self, BufReader, IsTerminal, Read};
use std::path::Path;
use std::rc::Rc;

/// A reader that counts the bytes read through it.
#[derive(Debug)]
pub(crate) struct Counting<R> {
    inner: R,
    read: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.set(self.read.get() + n as u64);
        Ok(n)
    }
}

/// A trace file opened for reading, with its progress bar.
#[derive(Debug)]
pub(crate) struct Input {
    /// The reader (header already read).
    pub reader: TraceReader<Counting<BufReader<File>>>,
    /// The bar, apart from the reader so a callback of the reader can move it.
    pub progress: Progress,
}

/// The progress bar of an [`Input`].
#[derive(Debug)]
pub(crate) struct Progress {
    read: Rc<Cell<u64>>,
    bar: ProgressBar,
}

impl Input {
    /// Opens `path` and reads its header; `what` labels the bar (`converting`, `reading`).
    pub(crate) fn open(path: &Path, what: &'static str) -> Result<Self, String> {
        let name = path.display();
        let file = File::open(path).map_err(|e| format!("{name}: cannot open trace: {e}"))?;
        let meta = file.metadata().map_err(|e| format!("{name}: cannot open trace: {e}"))?;
        let size = meta.len();
        let read = Rc::new(Cell::new(0));
        let input = Counting { inner: BufReader::with_capacity(1 << 16, file), read: read.clone() };
        // A regular file's length bounds what the reader allocates for a chunk.
        let reader = if meta.is_file() { TraceReader::with_len(input, size) } else { TraceReader::new(input) }
            .map_err(|e| format!("{name}: {e}"))?;
        let bar = if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(Some(size), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template("{msg} {wide_bar} {bytes}/{total_bytes} ({eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_message(what);
            bar
        } else {
            ProgressBar::hidden()
        };
        Ok(Self { reader, progress: Progress { read, bar } })
    }
}

impl Progress {
    /// Moves the bar to the bytes read so far (cheap: indicatif redraws at most ~20 times a
    /// second).
    pub(crate) fn tick(&self) {
        self.bar.set_position(self.read.get());
    }

    /// Removes the bar.
    pub(crate) fn done(&self) {
        self.bar.finish_and_clear();
    }

    /// Whether progress (and a closing summary) is shown.
    pub(crate) fn visible(&self) -> bool {
        !self.bar.is_hidden()
    }
}
