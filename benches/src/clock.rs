//! The stopwatch of the per-call measurements: the time-stamp counter on x86_64, read between
//! `lfence`s, calibrated against [`Instant`] to nanoseconds; a monotonic [`Instant`] elsewhere.
//!
//! A fenced read is `lfence; rdtsc; lfence`: the first fence keeps the read from starting
//! before the instructions above it have completed (the measured call), the second keeps the
//! instructions below it (the measured call) from starting before the read. Two back-to-back
//! reads therefore cost a little more than one bare `rdtsc`; the `tsc_read` row reports exactly
//! that cost, so every other row can be read net of it.
//!
//! Resolution: some CPUs (AMD Zen among them, and virtual machines on them) advance the TSC in
//! steps worth 10 ns rather than one tick at a time, so every single-call figure is a multiple
//! of about 10 ns there and a p50 can move by a step between runs; the mean is not quantised
//! that way (the call's phase against the step is random) and is reported beside it.
//!
//! The TSC is only usable as a clock when it ticks at a constant rate on every core
//! (`constant_tsc` and `nonstop_tsc` in `/proc/cpuinfo`); [`Stopwatch::calibrate`] measures its
//! rate against the OS clock over a short sleep, which also catches a TSC that does not tick.

use std::time::{Duration, Instant};

/// Reads the clock in ticks (TSC cycles on x86_64, nanoseconds elsewhere), fenced so the
/// measured code can neither start before nor finish after the read.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub fn ticks() -> u64 {
    use core::arch::x86_64::{_mm_lfence, _rdtsc};
    // Older compilers mark these intrinsics `unsafe`; newer ones (target-feature 1.1) do not.
    #[allow(unused_unsafe)]
    // SAFETY: `lfence` (SSE2) and `rdtsc` are part of the x86_64 baseline, so the CPU has them;
    // neither touches memory.
    unsafe {
        _mm_lfence();
        let t = _rdtsc();
        _mm_lfence();
        t
    }
}

/// Reads the clock in ticks (nanoseconds since the first call on this platform).
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
pub fn ticks() -> u64 {
    use std::sync::OnceLock;
    /// The origin of the tick count.
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// The name of the clock [`ticks`] reads, for the report.
pub const CLOCK_NAME: &str = if cfg!(target_arch = "x86_64") { "tsc (lfence; rdtsc; lfence)" } else { "Instant" };

/// Converts [`ticks`] to nanoseconds.
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch {
    /// Nanoseconds per tick.
    ns_per_tick: f64,
}

impl Stopwatch {
    /// Measures the tick rate against [`Instant`] over `window` (longer is more precise; 50 ms
    /// gives a few parts per million).
    pub fn calibrate(window: Duration) -> Stopwatch {
        if !cfg!(target_arch = "x86_64") {
            return Stopwatch { ns_per_tick: 1.0 };
        }
        let (i0, t0) = (Instant::now(), ticks());
        std::thread::sleep(window);
        let (i1, t1) = (Instant::now(), ticks());
        let ns = (i1 - i0).as_nanos() as f64;
        let dt = t1.saturating_sub(t0).max(1) as f64;
        Stopwatch { ns_per_tick: ns / dt }
    }

    /// Ticks per nanosecond (the TSC rate in GHz).
    pub fn ghz(self) -> f64 {
        1.0 / self.ns_per_tick
    }

    /// `ns` nanoseconds as ticks (rounded to nearest).
    pub fn ticks_for_ns(self, ns: u64) -> u64 {
        (ns as f64 / self.ns_per_tick).round() as u64
    }

    /// `ticks` as whole nanoseconds (rounded to nearest).
    #[inline]
    pub fn to_ns(self, ticks: u64) -> u64 {
        (ticks as f64 * self.ns_per_tick).round() as u64
    }
}
