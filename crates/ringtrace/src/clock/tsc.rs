//! x86_64: the time-stamp counter. On CPUs with an invariant TSC (`constant_tsc` and
//! `nonstop_tsc`, every x86_64 server of the last decade) it ticks at a fixed rate on every
//! core, so values from different threads compare directly.

/// Reads the time-stamp counter. Not serialising: a record's timestamp may be taken a few
/// cycles early or late relative to neighbouring instructions, which is far below what matters.
#[inline(always)]
#[cfg_attr(feature = "loom", allow(dead_code))]
pub(crate) fn ticks() -> u64 {
    // SAFETY: RDTSC is available on every x86_64 CPU and has no memory effects.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// The TSC is a hardware counter whose rate must be measured.
pub(crate) const TICKS_ARE_NANOS: bool = false;
