//! Linux: `membarrier(2)`, `gettid(2)` and `posix_fallocate(3)`.

// Under loom the asymmetric fence is modelled by SeqCst fences, so membarrier is unused.
#![cfg_attr(feature = "loom", allow(dead_code))]

use std::sync::OnceLock;

/// `MEMBARRIER_CMD_PRIVATE_EXPEDITED` and its registration command, from
/// `<linux/membarrier.h>` (not exported by the `libc` crate).
const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;

/// Whether this process registered for expedited private membarriers (done once).
fn registered() -> bool {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    *REGISTERED.get_or_init(|| {
        // SAFETY: membarrier takes three integer arguments and touches no user memory.
        let rc = unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) };
        rc == 0
    })
}

/// Whether `membarrier` works here (registers the process on first use).
pub(crate) fn membarrier_available() -> bool {
    registered()
}

/// Issues a process-wide memory barrier: every thread of this process that is running executes
/// a full barrier before this returns. Returns `false` if the kernel does not support it.
pub(crate) fn membarrier() -> bool {
    if !registered() {
        return false;
    }
    // SAFETY: as above; the process is registered for this command.
    let rc = unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) };
    rc == 0
}

/// The calling thread's kernel thread id.
pub(crate) fn os_thread_id() -> u64 {
    // SAFETY: gettid has no arguments and cannot fail.
    unsafe { libc::gettid() as u64 }
}

/// Reserves `len` bytes of disk for `file` (the flight recorder's pool file), so that a full
/// disk fails now and not as a SIGBUS on a later write through the mapping.
pub(crate) fn preallocate(file: &std::fs::File, len: u64) -> std::io::Result<()> {
    use std::os::unix::io::AsRawFd;
    let len = libc::off_t::try_from(len).map_err(|_| std::io::Error::other("file length over off_t"))?;
    // SAFETY: a plain syscall on a file descriptor that `file` keeps open for the call.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) };
    if rc != 0 {
        return Err(std::io::Error::from_raw_os_error(rc));
    }
    Ok(())
}
