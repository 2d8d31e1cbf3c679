//! The portable clock: nanoseconds of [`std::time::Instant`] since a process-wide anchor.
//! Everywhere but x86_64, and on x86_64 with the `portable-clock` feature (which exists so the
//! suite can run this path on the machines CI has).
//!
//! `Instant` is the system's monotonic clock: `CLOCK_MONOTONIC` through the vDSO on Linux
//! (a function call, not a system call), `mach_absolute_time` on macOS (a read of the
//! commpage, no system call), `QueryPerformanceCounter` on Windows (no system call on machines
//! with an invariant TSC, a kernel transition on old hardware without one). No lock on any of
//! them. The anchor is taken on the first read; every later read costs one Acquire load of it
//! besides the clock read, about 20–30 ns in all where the TSC takes 10 ns.
//!
//! Guarantees: a thread's reads never decrease (`Instant` is monotonic; std clamps a platform
//! clock that goes backwards), and reads from different threads compare directly (one anchor
//! for the process, one system clock). Ticks are nanoseconds, so the rate needs no
//! measurement. The first read is [`ORIGIN`], not 0: no timestamp is ever 0, and an interval
//! subtracted from an early timestamp does not underflow.

// Under loom `now_ticks` is a logical clock and this file is unused.
#![cfg_attr(feature = "loom", allow(dead_code))]

use std::sync::OnceLock;
use std::time::Instant;

/// The tick value of the anchor (about 18 minutes, in nanoseconds): early timestamps look like
/// those of a machine that has been up a while, as `CLOCK_MONOTONIC`'s do.
pub(crate) const ORIGIN: u64 = 1 << 40;

/// Nanoseconds since the process-wide anchor, plus [`ORIGIN`].
#[inline(always)]
pub(crate) fn ticks() -> u64 {
    static ANCHOR: OnceLock<Instant> = OnceLock::new();
    let anchor = *ANCHOR.get_or_init(Instant::now);
    // `as u64` truncates only after 584 years of uptime.
    ORIGIN + Instant::now().saturating_duration_since(anchor).as_nanos() as u64
}

/// Ticks are nanoseconds already.
pub(crate) const TICKS_ARE_NANOS: bool = true;
