//! Creating the files that hold what was recorded (the flight recorder's pool file, snapshots,
//! recovered traces) without following a symbolic link and without replacing anything that is
//! not ringtrace's own.
//!
//! These files can hold anything the program recorded, and a program that records may run as
//! root, so the paths are treated as hostile:
//!
//! - **A new file is created exclusively**: `O_CREAT | O_EXCL | O_NOFOLLOW`, mode 0600
//!   ([`create_new`]). If anything appeared at the path after it was looked at (a file, a
//!   symbolic link, even a dangling one, a FIFO), the creation fails: there is no window
//!   between a check and the creation in which a link could be swapped in and followed.
//! - **What exists is looked at with `lstat`**, never through a link, and named in errors
//!   ([`kind_of`]: "a directory", "a symbolic link", "a FIFO", "a character device", …).
//! - **Only ringtrace's own file is moved aside** ([`move_aside`]): a regular file whose first
//!   bytes are the expected magic, read through a descriptor opened with `O_NOFOLLOW`, is
//!   renamed to `PATH.prev`, and the file that arrives there must be the one that was checked
//!   (same device and inode). `PATH.prev` itself is replaced only if it is absent or is such a
//!   file too. Anything else (a user's file, a directory, a device, a link) is an error naming
//!   the path and what is there, and nothing is touched.
//! - **A rename never follows a link**: `rename(2)` onto a path that is a symbolic link
//!   replaces the link, not its target ([`write_private`]).

// Moving aside serves only the pool file, which is compiled out under loom.
#![cfg_attr(feature = "loom", allow(dead_code))]

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// What a file system entry is, as a phrase for error messages ("a directory").
pub(crate) fn kind_of(m: &Metadata) -> &'static str {
    let t = m.file_type();
    if t.is_symlink() {
        "a symbolic link"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_file() {
        "a regular file"
    } else {
        "an unknown kind of file"
    }
}

/// `lstat`: what is at `path` itself (`None` if nothing).
fn entry(path: &Path) -> io::Result<Option<Metadata>> {
    match std::fs::symlink_metadata(path) {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Creates `path` for reading and writing with mode 0600; fails if anything exists there
/// (`O_CREAT | O_EXCL`, which never follows a link, and `O_NOFOLLOW` besides).
pub(crate) fn create_new(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).write(true).create_new(true).mode(0o600).custom_flags(libc::O_NOFOLLOW).open(path)
}

/// `PATH.suffix`.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// Whether `path` is a regular file starting with `magic`, checked through a descriptor that
/// did not follow a link; returns its (device, inode) if so. `meta` is its `lstat`.
fn own_file(path: &Path, meta: &Metadata, magic: &[u8]) -> io::Result<Option<(u64, u64)>> {
    if !meta.file_type().is_file() {
        return Ok(None);
    }
    // O_NONBLOCK: if a FIFO was swapped in since the lstat, opening it does not wait.
    let mut f = match OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path) {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Ok(None),
        Err(e) => return Err(e),
    };
    let m = f.metadata()?;
    if !m.file_type().is_file() {
        return Ok(None);
    }
    let mut head = vec![0u8; magic.len()];
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok((n == magic.len() && head == magic).then_some((m.dev(), m.ino())))
}

/// What is at `path`, for an error: "a directory, not a ringtrace pool file".
fn is_not(meta: &Metadata, what: &str) -> String {
    match kind_of(meta) {
        "a regular file" => format!("a regular file of {} bytes that is not {what}", meta.len()),
        kind => format!("{kind}, not {what}"),
    }
}

/// Moves an earlier file of ringtrace's (a regular file starting with `magic`; `what` names it
/// in errors, "a ringtrace pool file") out of the way to `PATH.prev`, replacing an older
/// `PATH.prev` only if that is one too. Returns where it went, or `None` if nothing was at
/// `path`. Anything else at either path is an error naming the path and what is there, and
/// nothing is moved.
pub(crate) fn move_aside(path: &Path, magic: &[u8], what: &str) -> io::Result<Option<PathBuf>> {
    let Some(meta) = entry(path)? else { return Ok(None) };
    let prev = with_suffix(path, ".prev");
    let Some(id) = own_file(path, &meta, magic)? else {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "{} is {}: ringtrace moves only an earlier one aside (to {}) and leaves anything else alone",
                path.display(),
                is_not(&meta, what),
                prev.display()
            ),
        ));
    };
    if let Some(pm) = entry(&prev)? {
        if own_file(&prev, &pm, magic)?.is_none() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{}, where the earlier file at {} would be moved, is {}: ringtrace leaves it alone",
                    prev.display(),
                    path.display(),
                    is_not(&pm, what)
                ),
            ));
        }
    }
    std::fs::rename(path, &prev)?;
    // The file that arrived is the one checked (nobody swapped another in between).
    match entry(&prev)? {
        Some(m) if (m.dev(), m.ino()) == id => Ok(Some(prev)),
        _ => Err(io::Error::other(format!(
            "{} changed while it was being moved to {}; look at both before starting again",
            path.display(),
            prev.display()
        ))),
    }
}

/// Writes `bytes` to `path` for a trace the way snapshots and `recover` do:
///
/// - nothing at `path`, a regular file, or a symbolic link to anything but a FIFO or a
///   character device: into `PATH.partial`, created by [`create_new`] (mode 0600: a trace
///   holds what the pool held), then renamed over `path`. A reader never sees half a trace, an
///   existing file is replaced (not reused with its old permissions), and a link is replaced
///   itself: its target is never written.
/// - a FIFO or a character device, or a link to one (`/dev/stdout`, a pipe): written to
///   directly, without creating or truncating anything.
/// - a directory, a block device or a socket: an error naming the path and the kind.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let direct = |follow: bool| {
        let flags = if follow { 0 } else { libc::O_NOFOLLOW };
        OpenOptions::new().write(true).custom_flags(flags).open(path).and_then(|mut f| f.write_all(bytes))
    };
    if let Some(m) = entry(path)? {
        let t = m.file_type();
        if t.is_fifo() || t.is_char_device() {
            return direct(false);
        }
        if t.is_symlink() {
            // Where it leads decides only whether to write through it; a link to a regular
            // file (or to nothing) is replaced below, never followed.
            if let Ok(target) = std::fs::metadata(path) {
                let tt = target.file_type();
                if tt.is_fifo() || tt.is_char_device() {
                    return direct(true);
                }
            }
        } else if !t.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{} is {}; a trace is written to a regular file, a pipe or a character device",
                    path.display(),
                    kind_of(&m)
                ),
            ));
        }
    }
    let tmp = with_suffix(path, ".partial");
    // A leftover from an interrupted write (or a link someone put there) is removed: unlink
    // never follows a link. Anything else there is left alone, and the creation fails.
    if let Some(m) = entry(&tmp)? {
        if m.file_type().is_file() || m.file_type().is_symlink() {
            std::fs::remove_file(&tmp)?;
        }
    }
    let written = create_new(&tmp)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot create {}: {e}", tmp.display())))
        .and_then(|mut f| f.write_all(bytes))
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        if let Ok(Some(m)) = entry(&tmp) {
            if m.file_type().is_file() {
                let _ = std::fs::remove_file(&tmp);
            }
        }
    }
    written
}
