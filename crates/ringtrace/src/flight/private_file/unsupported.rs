//! Platforms without Unix file semantics (Windows): the private files of `flight/private_file.rs`
//! (the flight recorder's pool file, snapshots written to a file, recovered traces) are not
//! written here, and every attempt fails with [`std::io::ErrorKind::Unsupported`] naming the
//! path, instead of writing a file whose safety properties (created without following a link,
//! mode 0600, only ringtrace's own file moved aside, checked by inode) do not hold.
//!
//! Recording, the drain and the sinks (text, JSON lines, the binary trace, rotation) do not
//! come here and work as on Unix; so does `flight::recover` on bytes already read. See
//! docs/platforms.md.

// Moving aside serves only the pool file, which is compiled out under loom.
#![cfg_attr(feature = "loom", allow(dead_code))]

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

fn unsupported(path: &Path, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!(
            "{what} {}: unsupported on this platform (ringtrace writes pool files, snapshots and recovered traces only on Unix)",
            path.display()
        ),
    )
}

/// Unsupported here: see the module doc.
pub(crate) fn create_new(path: &Path) -> io::Result<File> {
    Err(unsupported(path, "cannot create"))
}

/// Unsupported here: see the module doc.
pub(crate) fn move_aside(path: &Path, _magic: &[u8], _what: &str) -> io::Result<Option<PathBuf>> {
    Err(unsupported(path, "cannot check what is at"))
}

/// Unsupported here: see the module doc.
pub(crate) fn write_private(path: &Path, _bytes: &[u8]) -> io::Result<()> {
    Err(unsupported(path, "cannot write a trace to"))
}
