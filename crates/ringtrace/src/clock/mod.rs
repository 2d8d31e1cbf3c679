//! The recording clock (raw ticks: the TSC, or the portable `Instant` clock) and its
//! calibration to wall-clock time.
//! Read on the recording thread (one tick read per event); calibrated at install.
//!
//! The hot path stores raw *ticks*: the TSC on x86_64 (one instruction, about 10 ns in the VMs
//! this runs on), and elsewhere the *portable clock*: nanoseconds of [`std::time::Instant`]
//! since a process-wide anchor (`clock/mono.rs`, which says what `Instant` costs on each
//! platform). The `portable-clock` cargo feature forces the portable clock on x86_64 too, so
//! the path every other machine takes is tested here. Converting ticks to wall-clock time
//! is the drain's job (R-CORE-6): each runtime takes one [`ClockCalibration`] when it starts,
//! an *anchor* pairing a tick value with a Unix time, plus the tick rate, and every sink and
//! every trace file converts with it.
//!
//! The tick rate of the TSC is measured once per process (a 20 ms sample of ticks against
//! `Instant`, the system's monotonic clock, which gives a rate good to a few parts per
//! million); the portable clock's ticks are nanoseconds and need no measurement. Anchors are
//! cheap and taken per runtime; wall-clock time comes from [`std::time::SystemTime`].
//!
//! Either clock gives timestamps that never decrease on one thread and compare directly
//! across threads (one counter for the whole machine, or one anchor for the whole process).

// Miri interprets the program and has no time-stamp counter: it takes the portable clock.
#[cfg(all(target_arch = "x86_64", not(miri), not(feature = "portable-clock")))]
#[path = "tsc.rs"]
mod source;

#[cfg(any(not(target_arch = "x86_64"), miri, feature = "portable-clock"))]
#[path = "mono.rs"]
mod source;

use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

/// Reads the recording clock (raw ticks). This is what every record's timestamp holds.
#[inline(always)]
pub fn now_ticks() -> u64 {
    #[cfg(not(feature = "loom"))]
    return source::ticks();
    // Under loom a logical clock: every read is later than every read before it in the
    // model's execution (loom runs a model's threads one at a time on one OS thread), as the
    // TSC is, and a replayed schedule reads the same relative values, so the models stay
    // deterministic where a decision depends on time (merge cutoffs, state `since` words).
    #[cfg(feature = "loom")]
    {
        std::thread_local!(static LOGICAL: std::cell::Cell<u64> = const { std::cell::Cell::new(1) });
        LOGICAL.with(|c| {
            let t = c.get() + 1;
            c.set(t);
            t
        })
    }
}

/// The reference clocks that ticks are paired with: wall-clock time (for anchors) and the
/// system's monotonic clock (for measuring the TSC's rate), both in nanoseconds. Portable:
/// `SystemTime` is `CLOCK_REALTIME` on Unix and `GetSystemTimePreciseAsFileTime` on Windows;
/// `Instant` is `CLOCK_MONOTONIC` on Linux, `CLOCK_UPTIME_RAW` on macOS and
/// `QueryPerformanceCounter` on Windows.
#[derive(Clone, Copy)]
enum Reference {
    /// Nanoseconds since the Unix epoch (0 for a clock set before 1970).
    Wall,
    /// Nanoseconds since a process-wide `Instant`.
    Monotonic,
}

impl Reference {
    fn read_ns(self) -> u64 {
        match self {
            Reference::Wall => unix_now_ns(),
            Reference::Monotonic => {
                static BASE: OnceLock<Instant> = OnceLock::new();
                let base = *BASE.get_or_init(Instant::now);
                Instant::now().saturating_duration_since(base).as_nanos().min(u64::MAX as u128) as u64
            }
        }
    }
}

/// Wall-clock time in nanoseconds since the Unix epoch (0 for a clock set before 1970).
pub(crate) fn unix_now_ns() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos().min(u64::MAX as u128) as u64)
}

/// How ticks map to wall-clock time for one runtime (and for every trace file it writes).
///
/// ```
/// let cal = ringtrace::ClockCalibration::new(1_000, 1_700_000_000_000_000_000, 2_000_000_000);
/// // 2 GHz: 2 000 ticks after the anchor is one microsecond later.
/// assert_eq!(cal.to_unix_ns(3_000), 1_700_000_000_000_001_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockCalibration {
    /// A tick value read at the anchor.
    pub anchor_ticks: u64,
    /// The Unix time (nanoseconds since 1970-01-01 UTC) at `anchor_ticks`.
    pub anchor_unix_ns: u64,
    /// Ticks per second (1 000 000 000 where ticks are nanoseconds).
    pub ticks_per_sec: u64,
    /// `2^64 × 10^9 / ticks_per_sec`: nanoseconds per tick with 64 fractional bits.
    ns_per_tick_q64: u128,
}

impl ClockCalibration {
    /// A calibration from its three measured values (used when reading a trace file).
    /// A `ticks_per_sec` of 0 is treated as 1 so conversion never divides by zero.
    pub fn new(anchor_ticks: u64, anchor_unix_ns: u64, ticks_per_sec: u64) -> Self {
        let hz = ticks_per_sec.max(1);
        let q = (1_000_000_000u128 << 64) / hz as u128;
        Self { anchor_ticks, anchor_unix_ns, ticks_per_sec: hz, ns_per_tick_q64: q }
    }

    /// Measures the clock now: the process-wide tick rate and a fresh anchor.
    pub fn measure() -> Self {
        let hz = ticks_per_sec();
        let (ticks, unix) = paired_read(Reference::Wall);
        Self::new(ticks, unix, hz)
    }

    /// Converts a tick value to Unix nanoseconds.
    #[inline]
    pub fn to_unix_ns(&self, ticks: u64) -> u64 {
        if ticks >= self.anchor_ticks {
            let d = self.ticks_to_ns(ticks - self.anchor_ticks);
            self.anchor_unix_ns.saturating_add(d)
        } else {
            let d = self.ticks_to_ns(self.anchor_ticks - ticks);
            self.anchor_unix_ns.saturating_sub(d)
        }
    }

    /// Converts a tick *interval* to nanoseconds.
    #[inline]
    pub fn ticks_to_ns(&self, ticks: u64) -> u64 {
        // ticks < 2^64 and q < 2^94 (hz >= 1): split to stay within 128 bits, round to nearest.
        let q = self.ns_per_tick_q64;
        let (hi, lo) = (q >> 64, q & u64::MAX as u128);
        let t = ticks as u128;
        let whole = t.saturating_mul(hi);
        let frac = (t * lo + (1u128 << 63)) >> 64;
        whole.saturating_add(frac).min(u64::MAX as u128) as u64
    }

    /// Seconds per tick with 64 fractional bits (the rate windows' whole seconds:
    /// `(ticks × q) >> 64`). Crate-internal.
    pub(crate) fn sec_per_tick_q64(&self) -> u64 {
        ((1u128 << 64) / u128::from(self.ticks_per_sec.max(1))).min(u128::from(u64::MAX)) as u64
    }

    /// Converts nanoseconds to a tick interval.
    pub fn ns_to_ticks(&self, ns: u64) -> u64 {
        ((ns as u128 * self.ticks_per_sec as u128) / 1_000_000_000).min(u64::MAX as u128) as u64
    }
}

/// Reads the tick clock and a reference clock as close together as possible: the best of a few
/// tries (smallest tick gap around the clock read), the tick value taken at the midpoint.
fn paired_read(clock: Reference) -> (u64, u64) {
    let mut best = (u64::MAX, 0, 0);
    for _ in 0..9 {
        let a = now_ticks();
        let ns = clock.read_ns();
        let b = now_ticks();
        let gap = b.wrapping_sub(a);
        if gap < best.0 {
            best = (gap, a + gap / 2, ns);
        }
    }
    (best.1, best.2)
}

/// The process-wide tick rate, measured on first use (20 ms).
///
/// Under loom the ticks are a logical clock (one per read, see [`now_ticks`]) with no rate to
/// measure: conversions take them as nanoseconds, as on a platform whose ticks are.
pub(crate) fn ticks_per_sec() -> u64 {
    static HZ: OnceLock<u64> = OnceLock::new();
    *HZ.get_or_init(|| {
        if source::TICKS_ARE_NANOS || cfg!(feature = "loom") {
            return 1_000_000_000;
        }
        let (t0, m0) = paired_read(Reference::Monotonic);
        std::thread::sleep(Duration::from_millis(20));
        let (t1, m1) = paired_read(Reference::Monotonic);
        let dt = t1.wrapping_sub(t0) as u128;
        let dm = m1.saturating_sub(m0).max(1) as u128;
        ((dt * 1_000_000_000) / dm).clamp(1, u64::MAX as u128) as u64
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversion_round_trips_across_the_anchor() {
        let cal = ClockCalibration::new(1_000_000, 5_000_000_000, 3_000_000_000);
        assert_eq!(cal.to_unix_ns(1_000_000), 5_000_000_000);
        assert_eq!(cal.to_unix_ns(4_000_000), 5_001_000_000);
        assert_eq!(cal.to_unix_ns(0), 5_000_000_000 - 333_333);
        assert_eq!(cal.ns_to_ticks(1_000), 3_000);
    }

    #[test]
    fn zero_rate_does_not_divide_by_zero() {
        let cal = ClockCalibration::new(0, 0, 0);
        assert_eq!(cal.ticks_per_sec, 1);
        assert_eq!(cal.to_unix_ns(2), 2_000_000_000);
    }

    /// The portable clock (every machine but x86_64; the `portable-clock` feature here):
    /// nanoseconds, never 0, never decreasing on a thread, comparable across threads.
    #[test]
    #[cfg(all(any(not(target_arch = "x86_64"), miri, feature = "portable-clock"), not(feature = "loom")))]
    fn portable_clock_is_nanoseconds_monotonic_and_shared_by_threads() {
        assert_eq!(ticks_per_sec(), 1_000_000_000);
        let first = now_ticks();
        assert!(first >= source::ORIGIN);
        let mut last = first;
        for _ in 0..10_000 {
            let t = now_ticks();
            assert!(t >= last, "{t} after {last}");
            last = t;
        }
        // A read on another thread that happens after `last` (the spawn orders it) is not
        // earlier; one that happens before the join is not later than a read after it.
        let theirs = std::thread::spawn(now_ticks).join().unwrap();
        assert!(theirs >= last);
        assert!(now_ticks() >= theirs);
        std::thread::sleep(Duration::from_millis(2));
        assert!(now_ticks() - theirs >= 2_000_000, "2 ms is at least 2 000 000 ticks");
    }

    #[test]
    fn measured_clock_is_monotonic_and_plausible() {
        let cal = ClockCalibration::measure();
        assert!(cal.ticks_per_sec >= 1_000_000, "{} ticks/s", cal.ticks_per_sec);
        let a = now_ticks();
        let b = now_ticks();
        assert!(b >= a);
        // The anchor is "now": within a day of the system clock.
        let now = unix_now_ns();
        assert!(cal.to_unix_ns(now_ticks()).abs_diff(now) < 86_400_000_000_000);
    }
}
