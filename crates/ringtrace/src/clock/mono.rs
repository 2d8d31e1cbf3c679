//! Everywhere but x86_64: `CLOCK_MONOTONIC` in nanoseconds (read through the vDSO on Linux, so
//! it is a function call, not a system call).

/// Nanoseconds on the monotonic clock.
#[inline(always)]
pub(crate) fn ticks() -> u64 {
    super::clock_ns(libc::CLOCK_MONOTONIC)
}

/// Ticks are nanoseconds already.
pub(crate) const TICKS_ARE_NANOS: bool = true;
