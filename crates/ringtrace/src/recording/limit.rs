//! Rate limits and sampling on the recording thread: whether an event of a limited callsite
//! (`rate:` / `sample:` in the macros, or a per-target rate from the configuration) is
//! recorded, and the counts of those that are not. Runs on the recording thread only.
//!
//! # Sampling (`sample: N`)
//!
//! Each thread counts the calls of each sampled callsite and records the first and then every
//! Nth: exactly one of every N per thread, deterministic, touching only the thread's own state.
//! The others are counted as `sampled`.
//!
//! # Rate limits (`rate: N`)
//!
//! At most N events per second of the recording clock pass, over all threads. The callsite's
//! window word (`Callsite::window`: the second and how many passed in it) is shared; a thread
//! takes passes from it in chunks (one compare-and-swap per chunk of up to N/32 passes, at
//! least one) and spends them locally, and once the window is spent it leaves the word alone
//! until the next second: so no cache line is written by every thread on every call, only by
//! events that pass (a chunk at a time). The thread keeps the first clock tick after the
//! window (`LimitState::until`): a call before it spends a held pass with one compare of the
//! clock reading, without working out its second. Passes a thread took but did not spend
//! before the second ended are forfeited, so a callsite may pass fewer than N in a second,
//! never more.
//!
//! Calls that do not pass are counted as `rate_limited`, and the thread's next event of that
//! callsite that passes carries a context pair `rate_limited = K`: the K events of it this
//! thread suppressed since its previous one (left out if the bound context is full; the count
//! is still in the metrics).
//!
//! # Suppressed calls read no clock
//!
//! One reading of the TSC costs about as much as a whole DROPPING record (docs/benchmarks.md),
//! so a call of a spent window does not read it: the drain keeps a process-wide second
//! ([`CLOCK_SECOND`], written once a second, read by everyone) once any window has been spent,
//! and wakes at each second's end to move it on ([`drain_tick`]). While it is not past the
//! thread's window, the call is suppressed with a load and a compare. Should the drain be late
//! (a sink holding it), every [`UNCHECKED_CALLS`]th suppressed call reads the clock itself, so
//! a window opens at most that many calls late on a thread: the error is always towards
//! suppressing, never towards passing more than N. With the tests' injected clock every call
//! reads it.
//!
//! # Not losses
//!
//! Suppressed events are not losses: they open no loss gap, are not `dropped` and leave the
//! thread's backpressure state alone. Accounting: attempted = recorded + dropped (per reason) +
//! `rate_limited` + `sampled`.

use crate::callsite::{Callsite, Limit};
use crate::recording::producer::{LimitState, Producer};
use crate::sync::wake::DrainSignal;
use crate::sync::Ordering;
use crate::wire::encode::Encode;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering as StdOrdering};

/// The whole second of the recording clock as a drain last saw it (0: not yet): moved on by
/// [`drain_tick`] once a window has been spent ([`WINDOW_SPENT`]), so it is never ahead of
/// the clock by more than the drain's TSC is ahead of the caller's. Read by suppressed calls
/// (Relaxed: a hint, it publishes nothing; a stale value only suppresses longer, bounded by
/// [`UNCHECKED_CALLS`]).
static CLOCK_SECOND: AtomicU32 = AtomicU32::new(0);

/// Some thread has spent a rate window: from then on the drain keeps [`CLOCK_SECOND`] current
/// (set once, in the cold path; Relaxed: the drain sees it at its next turn or wake).
static WINDOW_SPENT: AtomicBool = AtomicBool::new(false);

/// A thread whose window is spent reads the clock itself on every this many suppressed calls,
/// in case the drain is late moving [`CLOCK_SECOND`] on.
const UNCHECKED_CALLS: u32 = 64;

/// How long after a second's end the drain wakes to move [`CLOCK_SECOND`] on (so that its
/// clock is past the boundary when it looks).
const AFTER_BOUNDARY: std::time::Duration = std::time::Duration::from_micros(20);

/// The injected clock of the tests (whole seconds), `u64::MAX` when the recording clock is used.
static TEST_SECONDS: AtomicU64 = AtomicU64::new(u64::MAX);

/// Tests only: makes the rate windows use `seconds` (`None`: the recording clock again). Not
/// part of the API.
#[doc(hidden)]
pub fn __set_limit_clock(seconds: Option<u64>) {
    TEST_SECONDS.store(seconds.unwrap_or(u64::MAX), StdOrdering::Relaxed);
}

/// Tests only: the rate windows' shared second as the drain last moved it on (0: not yet).
/// Not part of the API.
#[doc(hidden)]
pub fn __limit_clock_second() -> u32 {
    CLOCK_SECOND.load(StdOrdering::Relaxed)
}

impl Producer {
    /// The limited path of [`record_event`](crate::__private::record_event): records an
    /// event of a limited callsite (`id`: its id, the `LIMITED` bit cleared) if its limit lets
    /// it pass, else counts it.
    #[inline(always)]
    pub(super) fn limited_event<T: Encode + ?Sized>(
        &mut self,
        callsite: &'static Callsite,
        id: u32,
        args: &T,
        ctx: &crate::recording::context_buf::ContextBuf,
    ) {
        match callsite.limit() {
            Limit::Rate(rate) => {
                let st = limit_state(&mut self.limits, callsite);
                // A spent window the drain has not seen the end of: suppressed without a
                // clock reading (module doc). `unchecked` is 0 with the injected clock.
                if st.unchecked > 0 && CLOCK_SECOND.load(StdOrdering::Relaxed) <= st.window {
                    st.unchecked -= 1;
                    st.suppressed = st.suppressed.saturating_add(1);
                    count_one(&self.entry().counters.rate_limited);
                    return;
                }
                let ticks = crate::clock::now_ticks();
                // Before `until` the call is in the window the thread holds passes of (or
                // knows to be spent): no second to work out, nothing shared to read.
                let pass = if ticks < st.until && st.tokens > 0 {
                    st.tokens -= 1;
                    true
                } else if ticks < st.until && st.spent {
                    st.unchecked = UNCHECKED_CALLS;
                    false
                } else {
                    next_window(st, callsite, rate, ticks, self.sec_per_tick_q64, &self.shared.signal)
                };
                if pass {
                    if st.suppressed == 0 {
                        self.event_with_clock(id, args, ctx, || ticks);
                    } else {
                        let suppressed = std::mem::take(&mut st.suppressed);
                        self.event_marked(id, args, ctx, ticks, suppressed);
                    }
                } else {
                    st.suppressed = st.suppressed.saturating_add(1);
                    count_one(&self.entry().counters.rate_limited);
                }
            }
            Limit::Sample(n) => {
                let st = limit_state(&mut self.limits, callsite);
                let keep = st.seen == 0;
                st.seen = if st.seen + 1 >= n { 0 } else { st.seen + 1 };
                if keep {
                    self.event(id, args, ctx);
                } else {
                    count_one(&self.entry().counters.sampled);
                }
            }
            Limit::None => self.event(id, args, ctx),
        }
    }

    /// The first event to pass after `suppressed` were suppressed: it carries
    /// `rate_limited = suppressed` in its context.
    #[cold]
    #[inline(never)]
    fn event_marked<T: Encode + ?Sized>(
        &mut self,
        id: u32,
        args: &T,
        ctx: &crate::recording::context_buf::ContextBuf,
        ticks: u64,
        suppressed: u32,
    ) {
        let restore = ctx.len();
        ctx.push("rate_limited", &suppressed);
        self.event_with_clock(id, args, ctx, || ticks);
        ctx.truncate(restore);
    }
}

/// This thread's state of `callsite` in its table (`Producer::limits`; a function of the
/// table alone, so the caller may use the producer's other fields while it holds the state).
#[inline(always)]
fn limit_state<'t>(limits: &'t mut Vec<LimitState>, callsite: &Callsite) -> &'t mut LimitState {
    let slot = callsite.slot();
    if slot < limits.len() {
        return &mut limits[slot];
    }
    grow_limits(limits, slot)
}

/// A limited callsite's first use on this thread: room for its state (an allocation, once per
/// callsite and thread, not in steady state).
#[cold]
#[inline(never)]
fn grow_limits(limits: &mut Vec<LimitState>, slot: usize) -> &mut LimitState {
    limits.resize(slot + 1, LimitState::default());
    &mut limits[slot]
}

/// Adds one to a counter only this thread writes: a load and a store, no locked
/// read-modify-write (as `Counters::drop_events`). Relaxed: a counter.
#[inline(always)]
fn count_one(c: &crate::sync::StatCounter) {
    c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

/// A rate-limited call outside the window its thread holds passes of (or any call, with the
/// tests' injected clock): works out the call's second and takes passes for it from the
/// callsite's window word. Out of line: once per chunk of passes, or per second and thread
/// once the window is spent.
#[inline(never)]
fn next_window(st: &mut LimitState, callsite: &Callsite, rate: u32, ticks: u64, q: u64, drain: &DrainSignal) -> bool {
    let injected = TEST_SECONDS.load(StdOrdering::Relaxed);
    let second = if injected != u64::MAX { injected as u32 } else { second_of(ticks, q) };
    if st.window == second && st.tokens > 0 {
        st.tokens -= 1;
        return true;
    }
    if st.window == second && st.spent {
        return false;
    }
    let (window, taken) = take_passes(callsite.window(), second, rate);
    st.window = window;
    st.until = if injected != u64::MAX { 0 } else { window_end(window, q) };
    st.spent = taken == 0;
    st.tokens = taken.saturating_sub(1);
    st.unchecked = 0;
    if st.spent && injected == u64::MAX {
        st.unchecked = UNCHECKED_CALLS;
        if !WINDOW_SPENT.load(StdOrdering::Relaxed) {
            // The first spent window of the process: the drain starts keeping the second now,
            // not at the end of a deep sleep (one wake-up, once).
            WINDOW_SPENT.store(true, StdOrdering::Relaxed);
            drain.notify();
        }
    }
    taken > 0
}

/// The drain's part, on every turn of its loop: once a window has been spent, moves
/// [`CLOCK_SECOND`] on to the second of the drain's clock and returns how long until just
/// after that second ends, which the drain sleeps no longer than. `None` (nothing to do, no
/// limit on the sleep) until then and with the tests' injected clock. Once a second, the
/// store; otherwise one load, and a clock reading while some window has been spent.
pub(crate) fn drain_tick(clock: &crate::clock::ClockCalibration, q: u64) -> Option<std::time::Duration> {
    if !WINDOW_SPENT.load(StdOrdering::Relaxed) || TEST_SECONDS.load(StdOrdering::Relaxed) != u64::MAX {
        return None;
    }
    let now = crate::clock::now_ticks();
    let second = second_of(now, q);
    // fetch_max: monotone even with two runtimes' drains (one shutting down) at once. Relaxed:
    // a hint (the static's doc).
    if CLOCK_SECOND.load(StdOrdering::Relaxed) < second {
        CLOCK_SECOND.fetch_max(second, StdOrdering::Relaxed);
    }
    let left = window_end(second, q).saturating_sub(now);
    Some(std::time::Duration::from_nanos(clock.ticks_to_ns(left)) + AFTER_BOUNDARY)
}

/// The whole second of the recording clock `ticks` falls in (`q`: seconds per tick, 64
/// fractional bits).
fn second_of(ticks: u64, q: u64) -> u32 {
    ((u128::from(ticks) * u128::from(q)) >> 64) as u32
}

/// The first tick whose second ([`second_of`]) is after `window`: the least `t` with
/// `t × q ≥ (window + 1) × 2^64`, so `t < window_end(w, q)` exactly when
/// `second_of(t, q) <= w`. 0 (every call takes the slow path) if `q` is 0.
fn window_end(window: u32, q: u64) -> u64 {
    if q == 0 {
        return 0;
    }
    let bound = (u128::from(window) + 1) << 64;
    bound.div_ceil(u128::from(q)).min(u128::from(u64::MAX)) as u64
}

/// Takes up to a chunk of passes from a rate window for `second` (max(1, rate / 32), at most
/// what is left of `rate`). Returns the window the passes belong to and how many were taken (0:
/// the window is spent). A thread whose clock is behind the window's counts against the
/// window as it is; one ahead starts the next.
fn take_passes(window: &std::sync::atomic::AtomicU64, second: u32, rate: u32) -> (u32, u32) {
    let chunk = (rate / 32).max(1);
    // Relaxed throughout: the word is a counter; it publishes nothing else.
    let mut cur = window.load(StdOrdering::Relaxed);
    loop {
        let (w, used) = ((cur >> 32) as u32, cur as u32);
        let (w, used) = if second > w { (second, 0) } else { (w, used) };
        if used >= rate {
            return (w, 0);
        }
        let take = chunk.min(rate - used);
        let new = (u64::from(w) << 32) | u64::from(used + take);
        match window.compare_exchange_weak(cur, new, StdOrdering::Relaxed, StdOrdering::Relaxed) {
            Ok(_) => return (w, take),
            Err(now) => cur = now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_ends_at_the_first_tick_of_the_next_second() {
        for hz in [1u64, 3, 1_000, 1_000_000_000, 2_500_000_000, 3_000_000_007, u64::MAX / 5] {
            let q = ((1u128 << 64) / u128::from(hz)).min(u128::from(u64::MAX)) as u64;
            for w in [0u32, 1, 2, 59, 86_400, 1_000_000, 4_000_000] {
                let end = window_end(w, q);
                if end == u64::MAX {
                    continue; // beyond the tick range
                }
                assert_eq!(second_of(end - 1, q), w, "hz {hz}, window {w}");
                assert_eq!(second_of(end, q), w + 1, "hz {hz}, window {w}");
            }
        }
        assert_eq!(window_end(7, 0), 0);
    }

    #[test]
    fn passes_are_taken_in_chunks_and_never_beyond_the_rate() {
        let window = AtomicU64::new(0);
        // A rate of 100: chunks of 3 (100 / 32), the last one 1.
        let mut total = 0;
        loop {
            let (w, taken) = take_passes(&window, 5, 100);
            assert_eq!(w, 5);
            if taken == 0 {
                break;
            }
            assert!(taken == 3 || total == 99, "{taken} after {total}");
            total += taken;
        }
        assert_eq!(total, 100);
        // A clock behind the window counts against it; one ahead starts the next.
        assert_eq!(take_passes(&window, 4, 100), (5, 0));
        assert_eq!(take_passes(&window, 6, 100), (6, 3));
    }
}
