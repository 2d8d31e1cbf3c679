//! Operating-system services the runtime needs outside the recording path: the heavy half of
//! the asymmetric fence, the calling thread's OS id and name, reserving the pool file's disk
//! space. Called at install, at a thread's registration and by the drain; one file per platform.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub(crate) use linux::*;

#[cfg(not(target_os = "linux"))]
mod other;
#[cfg(not(target_os = "linux"))]
pub(crate) use other::*;

// Compiled everywhere, so that Linux tests what `other.rs` uses.
mod prealloc;

#[cfg(all(test, not(feature = "loom"), not(miri)))]
mod tests {
    #[test]
    fn preallocating_by_writing_gives_a_zeroed_file_of_the_length() {
        let path = std::env::temp_dir().join(format!("rt-prealloc-{}", std::process::id()));
        let file = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path).unwrap();
        let len = (3 << 20) + 4096;
        super::prealloc::preallocate_by_writing(&file, len).unwrap();
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
