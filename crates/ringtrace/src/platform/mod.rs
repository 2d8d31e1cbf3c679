//! Operating-system services the runtime needs outside the recording path: the heavy half of
//! the asymmetric fence, the calling thread's OS id and name, reserving the pool file's disk
//! space. One file per platform, chosen by
//! `cfg` (parking_lot's `thread_parker` layout).

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub(crate) use linux::*;

#[cfg(not(target_os = "linux"))]
mod other;
#[cfg(not(target_os = "linux"))]
pub(crate) use other::*;

/// Sizes `file` to `len` bytes (`set_len`, `ftruncate` on Unix) and writes zeros over all of
/// it, so that the file system has allocated every block: the pool file's preallocation where
/// `posix_fallocate` is missing (`other.rs`). Here rather than there so that Linux tests it.
#[cfg_attr(any(target_os = "linux", feature = "loom"), allow(dead_code))]
fn preallocate_by_writing(file: &std::fs::File, len: u64) -> std::io::Result<()> {
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

#[cfg(all(test, not(feature = "loom"), not(miri)))]
mod tests {
    #[test]
    fn preallocating_by_writing_gives_a_zeroed_file_of_the_length() {
        let path = std::env::temp_dir().join(format!("rt-prealloc-{}", std::process::id()));
        let file = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path).unwrap();
        let len = (3 << 20) + 4096;
        super::preallocate_by_writing(&file, len).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(bytes.len() as u64, len);
        assert!(bytes.iter().all(|&b| b == 0));
    }

    #[test]
    fn preallocating_reserves_the_length() {
        let path = std::env::temp_dir().join(format!("rt-prealloc-native-{}", std::process::id()));
        let file = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path).unwrap();
        super::preallocate(&file, 1 << 20).unwrap();
        let len = file.metadata().unwrap().len();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(len, 1 << 20);
    }
}
