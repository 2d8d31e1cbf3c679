//! Size-based rotation for the files the drain thread writes.
//!
//! A [`RotatingFile`] appends to one *live* file, say `app.log`. When the next unit would push
//! the live file past [`Rotation::max_bytes`], the file is rotated before the unit is written:
//!
//! 1. the buffer is flushed into the live file;
//! 2. if all of `app.log.1` ..= `app.log.N` exist (`N` = [`Rotation::max_files`]), `app.log.N`
//!    is deleted; then `app.log.K` is renamed to `app.log.K+1`, oldest first, for every `K`
//!    below the first missing index (so a hole left by someone deleting a file is filled
//!    instead of overwriting anything);
//! 3. `app.log` is renamed to `app.log.1` (with `max_files == 0` it is deleted instead);
//! 4. a fresh `app.log` is created and, if an [`on_rotate`](RotatingFile::on_rotate) hook is
//!    set, the bytes it returns are written at its start.
//!
//! Before step 1, if an [`on_close`](RotatingFile::on_close) hook is set, the bytes it returns
//! (a trailer, such as a binary trace's end marker) are appended to the live file, which is
//! then finished; [`RotatingFile::finish`] does the same at the end of a run.
//!
//! Higher numbers are older; `app.log` is always the newest. Files numbered above `max_files`
//! (left by an earlier run with a larger limit) are never touched.
//!
//! # Guarantees
//!
//! * **Units are never split.** [`RotatingFile::write_unit`] takes one self-contained unit (a
//!   batch of whole lines, a binary chunk) and rotation happens only *between* units, so every
//!   file starts at a unit boundary (after the hook's header) and can be parsed on its own.
//! * **Size bound.** A file holds at most `max_bytes` bytes, header included (and the trailer
//!   of an [`on_close`](RotatingFile::on_close) hook beyond that), unless it holds
//!   a single unit (plus header) that is larger than that on its own: such a unit is written
//!   whole into a fresh file, and the next unit rotates again. (A file reopened with more
//!   than `max_bytes` in it likewise rotates on the next unit.) The limit is checked when a
//!   unit arrives, so a full file is not rotated until the next unit comes.
//! * **Rotation is rename-based.** The live file is moved, never copied or truncated, so a
//!   reader tailing `app.log` by name sees a *new inode* after a rotation (as with
//!   `tail -F`), while a reader holding the old file open keeps reading it to its end under
//!   its new name `app.log.1`.
//! * **I/O errors are returned, never panicked on.** A failed rotation is retried on the next
//!   unit; the steps above are ordered so that a retry after a partial failure loses no file.
//!
//! Writes are buffered (64 KiB, or what [`RotatingFile::set_buffer_capacity`] sets); the
//! buffer is flushed when full, before each rotation, by [`RotatingFile::flush`] /
//! [`RotatingFile::sync`], and (ignoring errors) on drop.

use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, IoSlice, Write};
use std::path::{Path, PathBuf};

/// Size of the internal write buffer unless [`RotatingFile::set_buffer_capacity`] says
/// otherwise. Units at least this large bypass it.
const BUF_CAPACITY: usize = 64 * 1024;
/// [`RotatingFile::write_unit_vectored`] copies a unit into the buffer only if it is smaller
/// than this (256 KiB); a larger one is written in place, with one system call and no copy
/// here. Measured on the test machine (`examples/binary_raw.rs --compare`): copying batches
/// into a 1 MiB buffer written when full costs 0.23 µs per 1 KiB batch, 14 µs per 64 KiB and
/// 59 µs per 256 KiB, one `writev` per batch 1.5, 22 and 64 µs; at 512 KiB and up `writev`
/// wins. (The kernel's cost per write, not the copy, decides.)
pub const VECTORED_COPY_BELOW: usize = 256 * 1024;

/// The hook run for every file started by a rotation; see [`RotatingFile::on_rotate`].
/// It gets the live file's path and returns the bytes to write at the start of the new file.
pub type RotateHook = Box<dyn FnMut(&Path) -> Vec<u8> + Send>;

/// The hook run when a live file is finished; see [`RotatingFile::on_close`]. It gets the live
/// file's path and its size so far, and returns the bytes to append.
pub type CloseHook = Box<dyn FnMut(&Path, u64) -> Vec<u8> + Send>;

/// Where and how to rotate a [`RotatingFile`].
///
/// ```
/// use ringtrace::sinks::rotate::Rotation;
/// // Keep `app.log` plus at most 4 older files of about 64 MiB each.
/// let rotation = Rotation { max_bytes: 64 << 20, max_files: 4 };
/// # assert_eq!(rotation.max_files, 4);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// Rotate before a unit that would make the live file larger than this many bytes.
    /// `0` means never rotate.
    pub max_bytes: u64,
    /// How many rotated files (`app.log.1` ..= `app.log.N`) to keep besides the live one.
    /// `0` keeps none: on rotation the live file's data is deleted, like a truncation.
    pub max_files: usize,
}

/// An append-only file that rotates by size: `app.log` is live; on rotation `app.log.1`
/// becomes `app.log.2` …, the live file becomes `app.log.1`, the oldest beyond
/// [`Rotation::max_files`] is deleted, and a fresh `app.log` is opened.
///
/// See the [module documentation](self) for the exact scheme and its guarantees.
///
/// ```
/// use ringtrace::sinks::rotate::{RotatingFile, Rotation};
///
/// let dir = std::env::temp_dir().join(format!("ringtrace-rotate-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let live = dir.join("app.log");
///
/// let mut log = RotatingFile::open(&live, Rotation { max_bytes: 16, max_files: 2 })?;
/// log.write_unit(b"first line\n")?; // 11 bytes
/// log.write_unit(b"second line\n")?; // 11 + 12 > 16: `app.log` becomes `app.log.1` first
/// log.flush()?;
///
/// assert_eq!(log.rotations(), 1);
/// assert_eq!(log.bytes_written(), 23);
/// assert_eq!(log.paths(), [dir.join("app.log.1"), live.clone()]);
/// assert_eq!(std::fs::read(&live)?, b"second line\n");
///
/// drop(log);
/// std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RotatingFile {
    /// The live file's path.
    path: PathBuf,
    rotation: Rotation,
    /// The live file; `None` after a rotation moved it away until the fresh one is created
    /// (normally within the same call; longer only if creating it failed).
    /// Invariant: `buf` is empty whenever this is `None`.
    file: Option<File>,
    /// Bytes accepted but not yet handed to the OS.
    buf: Vec<u8>,
    /// Size of the live file counting buffered bytes (and what it held when opened).
    live_size: u64,
    /// Whether the live file holds anything besides a hook header (pre-existing content or a
    /// unit). A file without units is never rotated, so a header can't cause a rotation loop.
    live_has_units: bool,
    bytes_written: u64,
    rotations: u64,
    on_rotate: Option<RotateHook>,
    on_close: Option<CloseHook>,
    /// Whether the live file was finished (its trailer written): the next unit starts a new
    /// file.
    finished: bool,
    /// The buffer's size: bytes are handed to the OS once this many are buffered.
    capacity: usize,
}

impl fmt::Debug for RotatingFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RotatingFile")
            .field("path", &self.path)
            .field("rotation", &self.rotation)
            .field("open", &self.file.is_some())
            .field("buffered", &self.buf.len())
            .field("live_size", &self.live_size)
            .field("bytes_written", &self.bytes_written)
            .field("rotations", &self.rotations)
            .field("on_rotate", &self.on_rotate.as_ref().map(|_| "<hook>"))
            .field("on_close", &self.on_close.as_ref().map(|_| "<hook>"))
            .field("finished", &self.finished)
            .finish()
    }
}

impl RotatingFile {
    /// Opens `path` for appending, creating the file (but not its directory) if needed.
    ///
    /// Content already in the file counts toward [`Rotation::max_bytes`], so the first unit
    /// written may rotate it. Rotated files left by an earlier run are shifted along with the
    /// new ones, but [`paths`](Self::paths) reports only files this value has written.
    ///
    /// # Errors
    ///
    /// An [`OpenError`] naming `path` if the file cannot be opened for appending, e.g. because
    /// its directory does not exist or is not writable, or `path` is a directory.
    pub fn open(path: impl Into<PathBuf>, rotation: Rotation) -> Result<Self, OpenError> {
        let path = path.into();
        let opened = open_append(&path).and_then(|file| {
            let len = file.metadata()?.len();
            Ok((file, len))
        });
        match opened {
            Ok((file, len)) => Ok(RotatingFile {
                path,
                rotation,
                file: Some(file),
                buf: Vec::with_capacity(BUF_CAPACITY),
                live_size: len,
                live_has_units: len > 0,
                bytes_written: 0,
                rotations: 0,
                on_rotate: None,
                on_close: None,
                finished: false,
                capacity: BUF_CAPACITY,
            }),
            Err(source) => Err(OpenError { path, source }),
        }
    }

    /// Sets the write buffer's size (64 KiB by default; at least 4 KiB): bytes are handed to
    /// the OS once this many are buffered, and units at least this large bypass the buffer.
    /// The binary sink takes 1 MiB: on the test machine a write of 1 MiB costs the kernel
    /// less per byte than writes of 64 KiB (see [`VECTORED_COPY_BELOW`]).
    pub fn set_buffer_capacity(&mut self, bytes: usize) {
        self.capacity = bytes.max(4096);
        self.buf.reserve(self.capacity.saturating_sub(self.buf.len()));
    }

    /// The live file's path (as given to [`open`](Self::open)).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The rotation settings this file was opened with.
    pub fn rotation(&self) -> &Rotation {
        &self.rotation
    }

    /// Every file written so far that still exists, oldest first: the rotated files this value
    /// produced (at most [`Rotation::max_files`] of them, e.g. `app.log.2`, `app.log.1`) then
    /// the live file. Meant for reports; it checks the file system, so it is not free.
    pub fn paths(&self) -> Vec<PathBuf> {
        let kept = usize::try_from(self.rotations).unwrap_or(usize::MAX).min(self.rotation.max_files);
        (1..=kept)
            .rev()
            .map(|k| self.rotated_path(k))
            .chain(std::iter::once(self.path.clone()))
            .filter(|p| fs::symlink_metadata(p).is_ok())
            .collect()
    }

    /// Total bytes accepted over this value's lifetime, across all files: units plus the
    /// headers returned by the [`on_rotate`](Self::on_rotate) hook. Excludes content the live
    /// file held when opened; includes bytes still buffered.
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written
    }

    /// Size of the live file in bytes, counting buffered bytes and content it held when opened.
    ///
    /// A caller that writes its own header into the first file can test `live_size() == 0` to
    /// avoid repeating it when appending to an existing file.
    pub fn live_size(&self) -> u64 {
        self.live_size
    }

    /// How many times the file has rotated.
    pub fn rotations(&self) -> u64 {
        self.rotations
    }

    /// Sets a hook run each time a rotation starts a fresh live file; the bytes it returns
    /// (if any) are written at the start of that file and count toward its size and toward
    /// [`bytes_written`](Self::bytes_written). It is given the live file's path.
    ///
    /// The hook is *not* run for the file opened by [`open`](Self::open): write the first
    /// file's header yourself (see [`live_size`](Self::live_size)). A file holding only a
    /// header is never rotated, so a header larger than `max_bytes` cannot cause a loop; the
    /// next unit then goes into that file. Setting a new hook replaces the previous one.
    ///
    /// ```
    /// # use ringtrace::sinks::rotate::{RotatingFile, Rotation};
    /// # let dir = std::env::temp_dir()
    /// #     .join(format!("ringtrace-rotate-hook-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// let rotation = Rotation { max_bytes: 1 << 20, max_files: 3 };
    /// let mut out = RotatingFile::open(dir.join("trace.bin"), rotation)?;
    /// if out.live_size() == 0 {
    ///     out.write_unit(b"RTRC\x01")?; // the first file's header
    /// }
    /// out.on_rotate(Box::new(|_path| b"RTRC\x01".to_vec())); // and every later file's
    /// # drop(out);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_rotate(&mut self, f: RotateHook) {
        self.on_rotate = Some(f);
    }

    /// Sets a hook run when a live file is finished: before a rotation moves it away, and by
    /// [`finish`](Self::finish). The bytes it returns are appended to that file (never rotated
    /// away from it: a trailer always lands in the file it closes). It is given the live
    /// file's path and its size before the trailer (buffered bytes included). Setting a new
    /// hook replaces the previous one.
    pub fn on_close(&mut self, f: CloseHook) {
        self.on_close = Some(f);
    }

    /// Finishes the live file: appends the [`on_close`](Self::on_close) hook's trailer (once
    /// per file) and flushes. A unit written afterwards starts a new file by rotation, so
    /// nothing ever follows a trailer.
    ///
    /// # Errors
    ///
    /// The write error; the trailer stays buffered and is retried by the next flush.
    pub fn finish(&mut self) -> io::Result<()> {
        self.close_live()?;
        self.flush()
    }

    /// Appends the trailer to the live file, once.
    fn close_live(&mut self) -> io::Result<()> {
        if self.finished || self.file.is_none() {
            return Ok(());
        }
        if let Some(hook) = self.on_close.as_mut() {
            let trailer = hook(&self.path, self.live_size);
            self.push(&trailer)?;
        }
        self.finished = true;
        Ok(())
    }

    /// Writes one whole unit (e.g. a batch of complete lines, or a self-contained binary
    /// chunk).
    ///
    /// Rotation happens only *between* units: if the live file holds data and
    /// `live size + unit.len() > max_bytes`, it is rotated first, then the whole unit is
    /// written (a unit larger than `max_bytes` goes alone into a fresh file). A unit is never
    /// split across files. An empty unit is a no-op.
    ///
    /// # Errors
    ///
    /// Any error flushing, renaming, deleting or creating files. A failed rotation is retried
    /// by the next call; if the error came before the unit was accepted, nothing of it was
    /// written. Only a unit of 64 KiB or more (written straight through) can be left partly
    /// written by an error.
    pub fn write_unit(&mut self, unit: &[u8]) -> io::Result<()> {
        if unit.is_empty() {
            return Ok(());
        }
        if self.file.is_some() && (self.finished || self.needs_rotation(unit.len())) {
            self.rotate()?;
        }
        if self.file.is_none() {
            self.start_fresh_file()?;
        }
        self.push(unit)?;
        self.live_has_units = true;
        Ok(())
    }

    /// Writes one whole unit given in pieces (say a chunk header, the records it frames, the
    /// next header, …), with the rotation rule of [`write_unit`](Self::write_unit) applied to
    /// the pieces' total. A unit smaller than [`VECTORED_COPY_BELOW`] (and than the buffer)
    /// is copied into the buffer like any unit; a larger one goes to the file in place after
    /// the buffered bytes, with one `writev` (more only if the system takes part of it, or for
    /// more than `IOV_MAX` pieces), so its bytes are never copied in this process.
    ///
    /// # Errors
    ///
    /// As [`write_unit`](Self::write_unit); a unit written in place can be left partly
    /// written by an error.
    pub fn write_unit_vectored(&mut self, parts: &mut [IoSlice<'_>]) -> io::Result<()> {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        if total == 0 {
            return Ok(());
        }
        if self.file.is_some() && (self.finished || self.needs_rotation(total)) {
            self.rotate()?;
        }
        if self.file.is_none() {
            self.start_fresh_file()?;
        }
        self.live_has_units = true;
        if total < VECTORED_COPY_BELOW.min(self.capacity) {
            if self.buf.len() + total > self.capacity {
                self.flush_buf()?;
            }
            for p in parts.iter() {
                self.buf.extend_from_slice(p);
            }
            self.account(total);
            return Ok(());
        }
        self.flush_buf()?;
        let Some(file) = self.file.as_mut() else {
            return Err(io::Error::other("rotating file has no live file"));
        };
        let mut bufs = parts;
        let mut written = 0;
        let result = loop {
            if bufs.is_empty() {
                break Ok(());
            }
            match file.write_vectored(bufs) {
                Ok(0) => break Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    written += n;
                    IoSlice::advance_slices(&mut bufs, n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        self.account(written);
        result
    }

    /// Hands every buffered byte to the OS.
    ///
    /// # Errors
    ///
    /// The write error; bytes not yet written stay buffered and are retried later.
    pub fn flush(&mut self) -> io::Result<()> {
        self.flush_buf()?;
        match self.file.as_mut() {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }

    /// Flushes, then fsyncs the live file (data and metadata). Rotated files are not synced
    /// again here.
    ///
    /// # Errors
    ///
    /// The write or fsync error.
    pub fn sync(&mut self) -> io::Result<()> {
        self.flush()?;
        match self.file.as_mut() {
            Some(file) => file.sync_all(),
            None => Ok(()),
        }
    }

    /// Whether a unit of `len` bytes must go into a new file.
    fn needs_rotation(&self, len: usize) -> bool {
        self.rotation.max_bytes != 0
            && self.live_has_units
            && self.live_size.saturating_add(len as u64) > self.rotation.max_bytes
    }

    /// `app.log.k`.
    fn rotated_path(&self, k: usize) -> PathBuf {
        let mut name = OsString::from(self.path.as_os_str());
        name.push(format!(".{k}"));
        PathBuf::from(name)
    }

    /// Moves the live file out of the way (steps 1–3 of the module docs) and leaves
    /// `self.file` empty. On error nothing is lost and the call can be repeated.
    fn rotate(&mut self) -> io::Result<()> {
        self.close_live()?;
        self.flush_buf()?;
        let max_files = self.rotation.max_files;
        if max_files == 0 {
            remove_if_exists(&self.path)?;
        } else {
            // The first missing index; the files below it shift up by one. Bounded by the
            // number of files that exist, so a huge `max_files` costs nothing.
            let mut gap = None;
            for k in 1..=max_files {
                if !exists(&self.rotated_path(k))? {
                    gap = Some(k);
                    break;
                }
            }
            let top = match gap {
                Some(k) => k - 1,
                None => {
                    remove_if_exists(&self.rotated_path(max_files))?;
                    max_files - 1
                }
            };
            for k in (1..=top).rev() {
                rename_if_exists(&self.rotated_path(k), &self.rotated_path(k + 1))?;
            }
            rename_if_exists(&self.path, &self.rotated_path(1))?;
        }
        // The old handle now refers to `app.log.1` (or an unlinked file); its data is flushed.
        self.file = None;
        self.rotations += 1;
        Ok(())
    }

    /// Creates the live file after a rotation and queues the hook's header.
    fn start_fresh_file(&mut self) -> io::Result<()> {
        let file = open_append(&self.path)?;
        // Normally 0; someone else may have recreated the file in between.
        let len = file.metadata()?.len();
        self.file = Some(file);
        self.live_size = len;
        self.live_has_units = len > 0;
        self.finished = false;
        if let Some(hook) = self.on_rotate.as_mut() {
            let header = hook(&self.path);
            // The buffer is empty here (invariant), so buffering the header cannot fail; a
            // header over the capacity just grows the buffer once.
            self.buf.extend_from_slice(&header);
            self.account(header.len());
        }
        Ok(())
    }

    /// Buffers `data`, or writes it straight through if it is at least the buffer size.
    fn push(&mut self, data: &[u8]) -> io::Result<()> {
        if self.buf.len() + data.len() > self.capacity {
            self.flush_buf()?;
        }
        if data.len() < self.capacity {
            self.buf.extend_from_slice(data);
            self.account(data.len());
            return Ok(());
        }
        let Some(file) = self.file.as_mut() else {
            return Err(io::Error::other("rotating file has no live file"));
        };
        let mut written = 0;
        let result = write_counted(file, data, &mut written);
        self.account(written);
        result
    }

    /// Writes the buffer out; on error the unwritten tail stays buffered.
    fn flush_buf(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let Some(file) = self.file.as_mut() else {
            return Err(io::Error::other("rotating file has buffered bytes but no live file"));
        };
        let mut written = 0;
        let result = write_counted(file, &self.buf, &mut written);
        self.buf.drain(..written);
        result
    }

    fn account(&mut self, n: usize) {
        self.live_size = self.live_size.saturating_add(n as u64);
        self.bytes_written = self.bytes_written.saturating_add(n as u64);
    }
}

impl Drop for RotatingFile {
    fn drop(&mut self) {
        let _ = self.flush_buf();
    }
}

/// `write_all` that reports how much was written before an error.
fn write_counted(file: &mut File, data: &[u8], written: &mut usize) -> io::Result<()> {
    while *written < data.len() {
        match file.write(&data[*written..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => *written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().append(true).create(true).open(path)
}

/// Whether anything (even a dangling symlink) exists at `path`.
fn exists(path: &Path) -> io::Result<bool> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

fn remove_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn rename_if_exists(from: &Path, to: &Path) -> io::Result<()> {
    match fs::rename(from, to) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Error opening a [`RotatingFile`]: the path and the underlying I/O error.
///
/// Displays as `cannot open log file "/x/y.log": No such file or directory (os error 2)`.
#[derive(Debug)]
pub struct OpenError {
    path: PathBuf,
    source: io::Error,
}

impl OpenError {
    /// The path that could not be opened.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The underlying I/O error (also available as [`source`](std::error::Error::source)).
    pub fn io_error(&self) -> &io::Error {
        &self.source
    }
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot open log file {:?}: {}", self.path, self.source)
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

impl From<OpenError> for io::Error {
    /// Keeps the error kind; the message names the path.
    fn from(e: OpenError) -> io::Error {
        io::Error::new(e.source.kind(), e)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    /// A unique directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "ringtrace-rotate-{}-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed),
                name
            ));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn join(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }

        /// Names of the files in the directory, sorted.
        fn names(&self) -> Vec<String> {
            let mut names: Vec<String> =
                fs::read_dir(&self.0).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
            names.sort();
            names
        }

        fn read(&self, name: &str) -> Vec<u8> {
            fs::read(self.join(name)).unwrap()
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn rot(max_bytes: u64, max_files: usize) -> Rotation {
        Rotation { max_bytes, max_files }
    }

    #[test]
    fn the_close_hook_ends_every_file_and_nothing_follows_it() {
        let dir = TempDir::new("close-hook");
        let mut f = RotatingFile::open(dir.join("t"), Rotation { max_bytes: 10, max_files: 5 }).unwrap();
        f.on_rotate(Box::new(|_| b"H".to_vec()));
        f.on_close(Box::new(|_, size| format!("<{size}>").into_bytes()));
        f.write_unit(b"aaaaaaa").unwrap();
        f.write_unit(b"bbbbbbb").unwrap(); // rotates: `t` gets its trailer first
        f.finish().unwrap();
        f.finish().unwrap(); // once per file
        assert_eq!(dir.read("t.1"), b"aaaaaaa<7>");
        assert_eq!(dir.read("t"), b"Hbbbbbbb<8>");
        // After `finish`, a unit goes into a new file.
        f.write_unit(b"c").unwrap();
        f.flush().unwrap();
        assert_eq!(dir.read("t.1"), b"Hbbbbbbb<8>");
        assert_eq!(dir.read("t"), b"Hc");
    }

    #[test]
    fn is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<RotatingFile>();
        assert_send::<OpenError>();
        fn assert_error<T: std::error::Error + Send + Sync + 'static>() {}
        assert_error::<OpenError>();
    }

    #[test]
    fn rotates_exactly_at_the_boundary() {
        let dir = TempDir::new("boundary");
        let mut f = RotatingFile::open(dir.join("app.log"), rot(10, 5)).unwrap();
        f.write_unit(b"aaaaa").unwrap();
        f.write_unit(b"bbbbb").unwrap(); // exactly 10: fits
        assert_eq!(f.rotations(), 0);
        f.write_unit(b"c").unwrap(); // 11 > 10: rotate first
        assert_eq!(f.rotations(), 1);
        f.write_unit(b"dddd").unwrap(); // 1 + 4 = 5
        f.write_unit(b"eeeee").unwrap(); // 5 + 5 = 10: fits
        f.write_unit(b"ff").unwrap(); // rotate
        f.flush().unwrap();
        assert_eq!(f.rotations(), 2);
        assert_eq!(dir.names(), ["app.log", "app.log.1", "app.log.2"]);
        assert_eq!(dir.read("app.log.2"), b"aaaaabbbbb");
        assert_eq!(dir.read("app.log.1"), b"cddddeeeee");
        assert_eq!(dir.read("app.log"), b"ff");
        assert_eq!(f.live_size(), 2);
    }

    #[test]
    fn max_files_prunes_the_oldest() {
        let dir = TempDir::new("prune");
        let mut f = RotatingFile::open(dir.join("app.log"), rot(4, 2)).unwrap();
        for unit in [b"0000", b"1111", b"2222", b"3333", b"4444"] {
            f.write_unit(unit).unwrap();
        }
        f.flush().unwrap();
        assert_eq!(f.rotations(), 4);
        assert_eq!(dir.names(), ["app.log", "app.log.1", "app.log.2"]);
        assert_eq!(dir.read("app.log.2"), b"2222");
        assert_eq!(dir.read("app.log.1"), b"3333");
        assert_eq!(dir.read("app.log"), b"4444");
    }

    #[test]
    fn max_files_zero_keeps_only_the_live_file() {
        let dir = TempDir::new("zero-files");
        let mut f = RotatingFile::open(dir.join("app.log"), rot(4, 0)).unwrap();
        for unit in [b"0000", b"1111", b"2222"] {
            f.write_unit(unit).unwrap();
        }
        f.flush().unwrap();
        assert_eq!(f.rotations(), 2);
        assert_eq!(dir.names(), ["app.log"]);
        assert_eq!(dir.read("app.log"), b"2222");
        assert_eq!(f.paths(), [dir.join("app.log")]);
    }

    #[test]
    fn max_bytes_zero_never_rotates() {
        let dir = TempDir::new("never");
        let mut f = RotatingFile::open(dir.join("app.log"), rot(0, 3)).unwrap();
        let unit = [b'x'; 1000];
        for _ in 0..200 {
            f.write_unit(&unit).unwrap();
        }
        f.flush().unwrap();
        assert_eq!(f.rotations(), 0);
        assert_eq!(dir.names(), ["app.log"]);
        assert_eq!(fs::metadata(dir.join("app.log")).unwrap().len(), 200_000);
    }

    #[test]
    fn oversized_unit_goes_alone_into_a_fresh_file() {
        let dir = TempDir::new("oversized");
        let mut f = RotatingFile::open(dir.join("app.log"), rot(10, 5)).unwrap();
        f.write_unit(b"abc").unwrap();
        f.write_unit(&[b'X'; 25]).unwrap(); // rotates, then written whole
        f.write_unit(b"def").unwrap(); // live is over the limit: rotates again
        f.flush().unwrap();
        assert_eq!(f.rotations(), 2);
        assert_eq!(dir.read("app.log.2"), b"abc");
        assert_eq!(dir.read("app.log.1"), [b'X'; 25]);
        assert_eq!(dir.read("app.log"), b"def");

        // An oversized first unit in an empty file does not rotate.
        let mut g = RotatingFile::open(dir.join("big.log"), rot(10, 5)).unwrap();
        g.write_unit(&[b'Y'; 25]).unwrap();
        g.flush().unwrap();
        assert_eq!(g.rotations(), 0);
        assert_eq!(dir.read("big.log"), [b'Y'; 25]);
    }

    #[test]
    fn units_larger_than_the_buffer_are_written_whole_and_in_order() {
        let dir = TempDir::new("large");
        let mut f = RotatingFile::open(dir.join("app.log"), rot(200_000, 3)).unwrap();
        let small = vec![b's'; 1000];
        let big = vec![b'B'; BUF_CAPACITY * 2 + 7];
        f.write_unit(&small).unwrap();
        f.write_unit(&big).unwrap();
        f.write_unit(&small).unwrap();
        f.write_unit(&big).unwrap(); // 1000 + 131079 + 1000 + 131079 > 200000: rotates
        f.flush().unwrap();
        let mut expected = small.clone();
        expected.extend_from_slice(&big);
        expected.extend_from_slice(&small);
        assert_eq!(dir.read("app.log.1"), expected);
        assert_eq!(dir.read("app.log"), big);
        assert_eq!(f.bytes_written(), 2 * (1000 + big.len() as u64));
    }

    #[test]
    fn existing_size_counts_on_reopen() {
        let dir = TempDir::new("reopen");
        let path = dir.join("app.log");
        {
            let mut f = RotatingFile::open(&path, rot(10, 3)).unwrap();
            f.write_unit(b"12345678").unwrap();
            // Dropped without flush: Drop flushes.
        }
        assert_eq!(dir.read("app.log"), b"12345678");

        let mut f = RotatingFile::open(&path, rot(10, 3)).unwrap();
        assert_eq!(f.live_size(), 8);
        assert_eq!(f.bytes_written(), 0);
        f.write_unit(b"ab").unwrap(); // 8 + 2 = 10: appended
        f.write_unit(b"c").unwrap(); // 11: rotates
        f.flush().unwrap();
        assert_eq!(f.rotations(), 1);
        assert_eq!(dir.read("app.log.1"), b"12345678ab");
        assert_eq!(dir.read("app.log"), b"c");
        assert_eq!(f.bytes_written(), 3);
    }

    #[test]
    fn reopen_shifts_rotated_files_left_by_an_earlier_run() {
        let dir = TempDir::new("reopen-shift");
        let path = dir.join("app.log");
        fs::write(dir.join("app.log.1"), b"old1").unwrap();
        fs::write(dir.join("app.log.2"), b"old2").unwrap();
        fs::write(&path, b"live").unwrap();
        let mut f = RotatingFile::open(&path, rot(4, 3)).unwrap();
        f.write_unit(b"new!").unwrap();
        f.flush().unwrap();
        assert_eq!(dir.names(), ["app.log", "app.log.1", "app.log.2", "app.log.3"]);
        assert_eq!(dir.read("app.log.3"), b"old2");
        assert_eq!(dir.read("app.log.2"), b"old1");
        assert_eq!(dir.read("app.log.1"), b"live");
        assert_eq!(dir.read("app.log"), b"new!");
        // Only what this value wrote (the old live file became app.log.1).
        assert_eq!(f.paths(), [dir.join("app.log.1"), dir.join("app.log")]);
    }

    #[test]
    fn a_hole_is_filled_and_files_above_max_files_are_left_alone() {
        let dir = TempDir::new("hole");
        let path = dir.join("app.log");
        fs::write(dir.join("app.log.1"), b"one").unwrap();
        fs::write(dir.join("app.log.3"), b"three").unwrap(); // hole at .2
        fs::write(dir.join("app.log.9"), b"nine").unwrap(); // beyond max_files
        let mut f = RotatingFile::open(&path, rot(1, 3)).unwrap();
        f.write_unit(b"a").unwrap();
        f.write_unit(b"b").unwrap(); // .1 -> .2 fills the hole, .3 untouched
        f.flush().unwrap();
        assert_eq!(dir.read("app.log.3"), b"three");
        assert_eq!(dir.read("app.log.2"), b"one");
        assert_eq!(dir.read("app.log.1"), b"a");
        f.write_unit(b"c").unwrap(); // all of .1..=.3 exist: .3 deleted
        f.flush().unwrap();
        assert_eq!(dir.names(), ["app.log", "app.log.1", "app.log.2", "app.log.3", "app.log.9"]);
        assert_eq!(dir.read("app.log.3"), b"one");
        assert_eq!(dir.read("app.log.2"), b"a");
        assert_eq!(dir.read("app.log.1"), b"b");
        assert_eq!(dir.read("app.log"), b"c");
        assert_eq!(dir.read("app.log.9"), b"nine");
    }

    #[test]
    fn header_hook_starts_every_new_file_and_counts_toward_its_size() {
        let dir = TempDir::new("header");
        let mut f = RotatingFile::open(dir.join("trace.bin"), rot(10, 5)).unwrap();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&calls);
        f.on_rotate(Box::new(move |p| {
            seen.lock().unwrap().push(p.to_path_buf());
            b"HDR".to_vec()
        }));
        assert_eq!(f.live_size(), 0);
        f.write_unit(b"HDR").unwrap(); // the caller writes the first file's header
        f.write_unit(b"1111111").unwrap(); // 3 + 7 = 10: fits
        f.write_unit(b"2222222").unwrap(); // rotates; HDR + 7 = 10
        f.write_unit(b"3").unwrap(); // 11 > 10: rotates (header counted)
        f.write_unit(b"oversized!!").unwrap(); // rotates; HDR + 11 alone
        f.write_unit(b"4").unwrap(); // rotates
        f.flush().unwrap();
        assert_eq!(f.rotations(), 4);
        assert_eq!(calls.lock().unwrap().len(), 4);
        assert!(calls.lock().unwrap().iter().all(|p| p == &dir.join("trace.bin")));
        assert_eq!(dir.read("trace.bin.4"), b"HDR1111111");
        assert_eq!(dir.read("trace.bin.3"), b"HDR2222222");
        assert_eq!(dir.read("trace.bin.2"), b"HDR3");
        assert_eq!(dir.read("trace.bin.1"), b"HDRoversized!!");
        assert_eq!(dir.read("trace.bin"), b"HDR4");
        assert_eq!(f.bytes_written(), 10 + 10 + 4 + 14 + 4);
    }

    #[test]
    fn header_larger_than_max_bytes_does_not_loop() {
        let dir = TempDir::new("big-header");
        let mut f = RotatingFile::open(dir.join("trace.bin"), rot(4, 5)).unwrap();
        f.on_rotate(Box::new(|_| b"HEADER".to_vec()));
        f.write_unit(b"aaa").unwrap();
        f.write_unit(b"bbb").unwrap(); // 6 > 4: rotates once; HEADER (6) + bbb
        f.write_unit(b"c").unwrap(); // rotates once more
        f.flush().unwrap();
        assert_eq!(f.rotations(), 2);
        assert_eq!(dir.read("trace.bin.2"), b"aaa");
        assert_eq!(dir.read("trace.bin.1"), b"HEADERbbb");
        assert_eq!(dir.read("trace.bin"), b"HEADERc");
    }

    #[test]
    fn empty_units_are_ignored() {
        let dir = TempDir::new("empty");
        let mut f = RotatingFile::open(dir.join("app.log"), rot(2, 5)).unwrap();
        f.write_unit(b"abc").unwrap(); // over the limit on its own
        f.write_unit(b"").unwrap(); // no rotation
        f.flush().unwrap();
        assert_eq!(f.rotations(), 0);
        assert_eq!(dir.names(), ["app.log"]);
    }

    #[test]
    fn missing_directory_gives_open_error_naming_the_path() {
        let dir = TempDir::new("missing");
        let path = dir.join("no/such/dir/app.log");
        let err = RotatingFile::open(&path, rot(10, 1)).unwrap_err();
        assert_eq!(err.path(), path);
        assert_eq!(err.io_error().kind(), io::ErrorKind::NotFound);
        let msg = err.to_string();
        assert!(msg.starts_with(&format!("cannot open log file {:?}: ", path)), "{msg}");
        assert!(msg.contains("os error"), "{msg}");
        assert!(std::error::Error::source(&err).is_some());
        assert!(!dir.join("no").exists(), "must not create directories");
        let io: io::Error = err.into();
        assert_eq!(io.kind(), io::ErrorKind::NotFound);
        assert!(io.to_string().contains("app.log"));
    }

    #[test]
    fn directory_as_path_gives_open_error() {
        let dir = TempDir::new("is-dir");
        let err = RotatingFile::open(&dir.0, rot(10, 1)).unwrap_err();
        assert_eq!(err.path(), dir.0);
    }

    #[cfg(unix)]
    #[test]
    fn unwritable_directory_gives_open_error_naming_the_path() {
        use std::os::unix::fs::PermissionsExt;
        let dir = TempDir::new("readonly");
        let ro = dir.join("ro");
        fs::create_dir(&ro).unwrap();
        fs::set_permissions(&ro, fs::Permissions::from_mode(0o555)).unwrap();
        // Root (or CAP_DAC_OVERRIDE) ignores permissions: nothing to test then.
        let probe = ro.join("probe");
        if fs::write(&probe, b"").is_ok() {
            let _ = fs::remove_file(&probe);
            eprintln!("skipping: permissions are not enforced for this user");
        } else {
            let path = ro.join("app.log");
            let err = RotatingFile::open(&path, rot(10, 1)).unwrap_err();
            assert_eq!(err.path(), path);
            assert_eq!(err.io_error().kind(), io::ErrorKind::PermissionDenied);
            assert!(err.to_string().contains(&format!("{:?}", path)));
        }
        fs::set_permissions(&ro, fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn paths_are_oldest_first_and_only_existing() {
        let dir = TempDir::new("paths");
        let mut f = RotatingFile::open(dir.join("app.log"), rot(2, 3)).unwrap();
        assert_eq!(f.paths(), [dir.join("app.log")]);
        f.write_unit(b"aa").unwrap();
        f.write_unit(b"bb").unwrap();
        assert_eq!(f.paths(), [dir.join("app.log.1"), dir.join("app.log")]);
        for unit in [b"cc", b"dd", b"ee", b"ff"] {
            f.write_unit(unit).unwrap();
        }
        assert_eq!(f.rotations(), 5);
        assert_eq!(
            f.paths(),
            [dir.join("app.log.3"), dir.join("app.log.2"), dir.join("app.log.1"), dir.join("app.log")]
        );
        fs::remove_file(dir.join("app.log.2")).unwrap();
        assert_eq!(f.paths(), [dir.join("app.log.3"), dir.join("app.log.1"), dir.join("app.log")]);
    }

    #[test]
    fn bytes_written_totals_all_files() {
        let dir = TempDir::new("totals");
        let mut f = RotatingFile::open(dir.join("app.log"), rot(100, 1)).unwrap();
        let mut total = 0u64;
        for i in 0..500u64 {
            let unit = vec![b'z'; (i % 37 + 1) as usize];
            total += unit.len() as u64;
            f.write_unit(&unit).unwrap();
        }
        f.flush().unwrap();
        assert_eq!(f.bytes_written(), total);
        // Everything still on disk is the live file plus one rotated file, each within bounds.
        for p in f.paths() {
            assert!(fs::metadata(&p).unwrap().len() <= 100);
        }
        assert_eq!(f.paths().len(), 2);
        assert!(f.rotations() >= total / 100);
    }

    #[test]
    fn drop_flushes() {
        let dir = TempDir::new("drop");
        {
            let mut f = RotatingFile::open(dir.join("app.log"), rot(0, 0)).unwrap();
            f.write_unit(b"buffered").unwrap();
            assert_eq!(fs::metadata(dir.join("app.log")).unwrap().len(), 0);
        }
        assert_eq!(dir.read("app.log"), b"buffered");
    }

    #[test]
    fn sync_writes_through() {
        let dir = TempDir::new("sync");
        let mut f = RotatingFile::open(dir.join("app.log"), rot(0, 0)).unwrap();
        f.write_unit(b"durable").unwrap();
        f.sync().unwrap();
        assert_eq!(dir.read("app.log"), b"durable");
    }

    #[test]
    fn failed_rotation_returns_the_error_and_is_retried() {
        let dir = TempDir::new("failed-rotation");
        let mut f = RotatingFile::open(dir.join("app.log"), rot(4, 1)).unwrap();
        // `app.log.1` is a non-empty directory: deleting it (the oldest) fails.
        fs::create_dir(dir.join("app.log.1")).unwrap();
        fs::write(dir.join("app.log.1").join("x"), b"").unwrap();
        f.write_unit(b"aaaa").unwrap();
        assert!(f.write_unit(b"bbbb").is_err());
        assert_eq!(f.rotations(), 0);
        assert_eq!(f.bytes_written(), 4);
        assert_eq!(dir.read("app.log"), b"aaaa"); // flushed before the failed step
        fs::remove_dir_all(dir.join("app.log.1")).unwrap();
        f.write_unit(b"bbbb").unwrap();
        f.flush().unwrap();
        assert_eq!(f.rotations(), 1);
        assert_eq!(dir.read("app.log.1"), b"aaaa");
        assert_eq!(dir.read("app.log"), b"bbbb");
    }

    #[test]
    fn vectored_units_rotate_by_their_total_and_keep_their_order() {
        let dir = TempDir::new("vectored");
        let mut f = RotatingFile::open(dir.join("t.bin"), rot(400_000, 3)).unwrap();
        let big = vec![7u8; VECTORED_COPY_BELOW + 5];
        f.write_unit(b"head").unwrap();
        // Small: copied into the buffer after what is buffered.
        f.write_unit_vectored(&mut [IoSlice::new(b"ab"), IoSlice::new(b""), IoSlice::new(b"cd")]).unwrap();
        // Large: written in place, after the buffered bytes.
        f.write_unit_vectored(&mut [IoSlice::new(b"<"), IoSlice::new(&big), IoSlice::new(b">")]).unwrap();
        f.write_unit(b"tail").unwrap();
        f.write_unit_vectored(&mut []).unwrap();
        f.flush().unwrap();
        let mut want = b"headabcd<".to_vec();
        want.extend_from_slice(&big);
        want.extend_from_slice(b">tail");
        assert_eq!(dir.read("t.bin"), want);
        assert_eq!(f.bytes_written(), want.len() as u64);
        // A unit whose pieces together pass the limit rotates first, whole.
        let more = vec![1u8; 150_000];
        f.write_unit_vectored(&mut [IoSlice::new(&more[..75_000]), IoSlice::new(&more[75_000..])]).unwrap();
        f.flush().unwrap();
        assert_eq!(f.rotations(), 1);
        assert_eq!(dir.read("t.bin.1"), want);
        assert_eq!(dir.read("t.bin"), more);
        // With a 1 MiB buffer, a unit of 100 KiB is copied: nothing reaches the file yet.
        f.set_buffer_capacity(1 << 20);
        let mid = vec![2u8; 100 << 10];
        f.write_unit_vectored(&mut [IoSlice::new(&mid)]).unwrap();
        assert_eq!(dir.read("t.bin").len(), more.len());
        f.flush().unwrap();
        assert_eq!(dir.read("t.bin").len(), more.len() + mid.len());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn write_errors_are_returned_not_panicked() {
        // Every write to /dev/full fails with ENOSPC.
        let Ok(mut f) = RotatingFile::open("/dev/full", rot(0, 0)) else {
            eprintln!("skipping: /dev/full not available");
            return;
        };
        f.write_unit(b"buffered").unwrap();
        assert!(f.flush().is_err());
        assert!(f.sync().is_err());
        // The unflushed bytes are kept for a retry, so a unit that doesn't fit fails cleanly.
        assert!(f.write_unit(&vec![b'x'; BUF_CAPACITY]).is_err());
        assert_eq!(f.bytes_written(), 8);
        drop(f); // Drop ignores the error.
    }

    #[cfg(unix)]
    #[test]
    fn rotation_gives_the_live_name_a_new_inode() {
        use std::os::unix::fs::MetadataExt;
        let dir = TempDir::new("inode");
        let path = dir.join("app.log");
        let mut f = RotatingFile::open(&path, rot(3, 2)).unwrap();
        f.write_unit(b"abc").unwrap();
        f.flush().unwrap();
        let before = fs::metadata(&path).unwrap().ino();
        f.write_unit(b"def").unwrap();
        f.flush().unwrap();
        assert_ne!(fs::metadata(&path).unwrap().ino(), before);
        assert_eq!(fs::metadata(dir.join("app.log.1")).unwrap().ino(), before);
    }

    #[test]
    fn debug_does_not_need_the_hook_to_be_debug() {
        let dir = TempDir::new("debug");
        let mut f = RotatingFile::open(dir.join("app.log"), rot(0, 0)).unwrap();
        f.on_rotate(Box::new(|_| Vec::new()));
        let s = format!("{f:?}");
        assert!(s.contains("RotatingFile") && s.contains("<hook>"), "{s}");
    }
}
