//! Preallocation by writing zeros: where `posix_fallocate` is missing, the pool file's disk
//! space is reserved this way. Runs on the thread that installs a runtime.

/// Sizes `file` to `len` bytes (`set_len`, `ftruncate` on Unix) and writes zeros over all of
/// it, so that the file system has allocated every block: the pool file's preallocation where
/// `posix_fallocate` is missing (`other.rs`). Apart from it so that Linux compiles and tests it.
#[cfg_attr(any(target_os = "linux", feature = "loom"), allow(dead_code))]
pub(super) fn preallocate_by_writing(file: &std::fs::File, len: u64) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    file.set_len(len)?;
    let mut f = file;
    f.seek(SeekFrom::Start(0))?;
    let zeros = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        f.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    f.seek(SeekFrom::Start(0)).map(drop)
}
