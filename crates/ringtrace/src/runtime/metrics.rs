//! Counters and metrics (R-BP-7): a [`Metrics`] snapshot of the runtime, per thread and in
//! total, the pool, every sink and the drain.
//!
//! Counts are read with Relaxed loads while the runtime runs, so a snapshot is not atomic as a
//! whole (a record taken by the drain between two loads may show in one total and not the
//! other); after shutdown every count is final.

use crate::backpressure::drops::{Counters, DropReason};
use crate::backpressure::ThreadState;
use crate::output::sink::SinkReport;
use crate::rings::slot::occupied;
use crate::shared::Shared;
use std::fmt;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Dropped-event counts per [`DropReason`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropCounts([u64; DropReason::ALL.len()]);

impl DropCounts {
    /// Events dropped for `reason`.
    pub fn get(&self, reason: DropReason) -> u64 {
        self.0[reason.index()]
    }

    /// All dropped events.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// The reasons with a non-zero count.
    pub fn iter(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL.iter().map(|&r| (r, self.get(r))).filter(|&(_, n)| n > 0)
    }

    pub(crate) fn add(&mut self, c: &Counters) {
        for (a, b) in self.0.iter_mut().zip(&c.dropped) {
            *a += b.load(Ordering::Relaxed);
        }
    }
}

impl fmt::Display for DropCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (r, n) in self.iter() {
            if !std::mem::take(&mut first) {
                f.write_str(", ")?;
            }
            write!(f, "{r}={n}")?;
        }
        if first {
            f.write_str("none")?;
        }
        Ok(())
    }
}

/// Backpressure transitions per (from, to) pair.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransitionCounts([u64; 16]);

impl TransitionCounts {
    /// Transitions from `from` to `to`.
    pub fn get(&self, from: ThreadState, to: ThreadState) -> u64 {
        self.0[from.pair(to)]
    }

    /// All transitions.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// The pairs with a non-zero count, as (from, to, count).
    pub fn iter(&self) -> impl Iterator<Item = (ThreadState, ThreadState, u64)> + '_ {
        ThreadState::ALL
            .iter()
            .flat_map(|&f| ThreadState::ALL.iter().map(move |&t| (f, t)))
            .map(|(f, t)| (f, t, self.get(f, t)))
            .filter(|&(_, _, n)| n > 0)
    }

    pub(crate) fn add(&mut self, c: &Counters) {
        for (a, b) in self.0.iter_mut().zip(&c.transitions) {
            *a += b.load(Ordering::Relaxed);
        }
    }
}

impl FromIterator<(ThreadState, ThreadState, u64)> for TransitionCounts {
    /// Counts built from (from, to, count) triples, the inverse of [`iter`](Self::iter), for
    /// code that reads metrics and wants to feed itself a snapshot (a test of a dashboard, say).
    /// A pair given twice adds up; pairs are taken as given, valid transitions or not.
    ///
    /// ```
    /// use ringtrace::{ThreadState::*, TransitionCounts};
    /// let t: TransitionCounts = [(Normal, Pressure, 2), (Pressure, Dropping, 1)].into_iter().collect();
    /// assert_eq!((t.get(Normal, Pressure), t.total()), (2, 3));
    /// ```
    fn from_iter<I: IntoIterator<Item = (ThreadState, ThreadState, u64)>>(pairs: I) -> Self {
        let mut counts = TransitionCounts::default();
        for (from, to, n) in pairs {
            counts.0[from.pair(to)] += n;
        }
        counts
    }
}

impl fmt::Display for TransitionCounts {
    /// `NORMAL->PRESSURE=3, PRESSURE->DROPPING=2`, or `none`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (a, b, n) in self.iter() {
            if !std::mem::take(&mut first) {
                f.write_str(", ")?;
            }
            write!(f, "{a}->{b}={n}")?;
        }
        if first {
            f.write_str("none")?;
        }
        Ok(())
    }
}

/// One live thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadMetrics {
    /// The runtime's number for the thread.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// Events the drain has taken from its rings.
    pub recorded: u64,
    /// Events it dropped, per reason.
    pub dropped: DropCounts,
    /// Bytes it dropped.
    pub dropped_bytes: u64,
    /// Events this thread's rate-limited callsites suppressed.
    pub rate_limited: u64,
    /// Events this thread's sampled callsites left out.
    pub sampled: u64,
    /// Whether the thread has exited (its last records may still be in flight).
    pub exited: bool,
    /// Its backpressure state now.
    pub state: ThreadState,
    /// Time spent in each state, indexed by `ThreadState as usize` (the current state's
    /// time runs up to the snapshot).
    pub time_in_state: [Duration; 4],
    /// Its state transitions.
    pub transitions: TransitionCounts,
}

/// The ring pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolMetrics {
    /// Rings in the pool.
    pub rings: usize,
    /// Bytes per ring.
    pub ring_size: usize,
    /// Free rings now.
    pub free: usize,
    /// Most rings in use at once so far.
    pub high_water: usize,
    /// Bytes recorded and not yet taken by the drain, over all rings.
    pub used_bytes: u64,
}

/// The drain thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DrainMetrics {
    /// Turns of the drain loop (each pass or idle check).
    pub iterations: u64,
    /// Passes that found records.
    pub busy_passes: u64,
    /// Times the drain parked.
    pub sleeps: u64,
    /// Times it parked until woken (idle).
    pub deep_sleeps: u64,
    /// Times a producer woke it.
    pub wakeups_by_producers: u64,
    /// Batches handed to sinks.
    pub batches: u64,
    /// Loss records delivered.
    pub loss_records: u64,
    /// Rings with unreadable content.
    pub corrupt_rings: u64,
    /// Times the drain, having returned rings or ring space, found producers waiting under
    /// `Policy::Block` and woke them.
    pub blocked_wakeups: u64,
    /// Heap bytes the drain holds for records now: its per-thread copy buffers (records of
    /// active rings, at most `ring_size` + 64 bytes per thread) and its merge buffers (one
    /// batch of references). Records of full rings are read where they are, in the pool. The
    /// bound, whatever the load or the sinks' speed: (threads the drain is serving) ×
    /// (`ring_size` + 64) + `batch_size` × 48 bytes.
    pub buffer_bytes: u64,
    /// The most `buffer_bytes` ever was.
    pub buffer_bytes_high_water: u64,
    /// Rings the drain holds now: taken from threads' chains, their records not all handed
    /// to the sinks yet (at most `max_rings_per_thread` per thread).
    pub held_rings: u64,
}

/// A snapshot of the runtime's counters. See the module doc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metrics {
    /// Events taken out of the rings by the drain, all threads (exited ones included).
    pub recorded: u64,
    /// Events dropped, per reason, all threads.
    pub dropped: DropCounts,
    /// Bytes dropped, all threads.
    pub dropped_bytes: u64,
    /// Events a rate-limited callsite suppressed (`rate:`, or a per-target rate): not losses.
    pub rate_limited: u64,
    /// Events a sampled callsite left out (`sample:`): not losses.
    pub sampled: u64,
    /// Backpressure transitions, all threads (exited ones included).
    pub transitions: TransitionCounts,
    /// Threads that registered so far (live and exited).
    pub threads_seen: u64,
    /// Live threads (and exited ones whose last rings are still being drained).
    pub threads: Vec<ThreadMetrics>,
    /// The pool.
    pub pool: PoolMetrics,
    /// Every sink.
    pub sinks: Vec<SinkReport>,
    /// The drain.
    pub drain: DrainMetrics,
    /// Diagnostics delivered.
    pub diagnostics_delivered: u64,
    /// Diagnostics suppressed by rate limiting or the recursion guard.
    pub diagnostics_suppressed: u64,
}

impl Metrics {
    pub(crate) fn collect(shared: &Shared) -> Metrics {
        let reg = &shared.registry;
        let mut dropped = DropCounts::default();
        dropped.add(&reg.retired);
        let mut recorded = reg.retired.delivered.load(Ordering::Relaxed);
        let mut transitions = TransitionCounts::default();
        transitions.add(&reg.retired);
        let now = crate::clock::now_ticks();
        let mut dropped_bytes = reg.retired.dropped_bytes.load(Ordering::Relaxed);
        let mut rate_limited = reg.retired.rate_limited.load(Ordering::Relaxed);
        let mut sampled = reg.retired.sampled.load(Ordering::Relaxed);
        let mut threads = Vec::new();
        for e in reg.iter() {
            let slot = e.slot.load(Ordering::Acquire);
            // A FREE slot's counters were folded into `retired`; counts of a slot being
            // recycled right now are zero or the new occupant's.
            if !occupied(slot) {
                continue;
            }
            let mut d = DropCounts::default();
            d.add(&e.counters);
            let rec = e.counters.delivered.load(Ordering::Relaxed);
            let bytes = e.counters.dropped_bytes.load(Ordering::Relaxed);
            let (limited, left_out) =
                (e.counters.rate_limited.load(Ordering::Relaxed), e.counters.sampled.load(Ordering::Relaxed));
            rate_limited += limited;
            sampled += left_out;
            recorded += rec;
            dropped_bytes += bytes;
            for r in DropReason::ALL {
                dropped.0[r.index()] += d.get(r);
            }
            let mut t = TransitionCounts::default();
            t.add(&e.counters);
            transitions.add(&e.counters);
            let w = e.state.get();
            let (state, since) = (w.state, w.since);
            let time_in_state = std::array::from_fn(|i| {
                let mut ticks = e.counters.time_in_state[i].load(Ordering::Relaxed);
                if i == state as usize {
                    ticks += now.saturating_sub(since);
                }
                Duration::from_nanos(shared.clock.ticks_to_ns(ticks))
            });
            threads.push(ThreadMetrics {
                id: e.thread_id.load(Ordering::Relaxed),
                name: e.name.lock().map(|n| n.to_string()).unwrap_or_default(),
                recorded: rec,
                dropped: d,
                dropped_bytes: bytes,
                rate_limited: limited,
                sampled: left_out,
                exited: slot == crate::rings::slot::SLOT_EXITED,
                state,
                time_in_state,
                transitions: t,
            });
        }
        threads.sort_by_key(|t| t.id);
        let pool = &shared.pool;
        let used_bytes = (0..pool.ring_count() as u32).map(|i| pool.ctl(i).used()).sum();
        let ds = &shared.drain_stats;
        Metrics {
            recorded,
            dropped,
            dropped_bytes,
            rate_limited,
            sampled,
            transitions,
            threads_seen: reg.retired_threads.load(Ordering::Relaxed) + threads.len() as u64,
            threads,
            pool: PoolMetrics {
                rings: pool.ring_count(),
                ring_size: pool.ring_size(),
                free: pool.free_list().free(),
                high_water: pool.free_list().high_water(),
                used_bytes,
            },
            sinks: shared.sink_stats.iter().map(|s| s.report()).collect(),
            drain: DrainMetrics {
                iterations: ds.iterations.load(Ordering::Relaxed),
                busy_passes: ds.busy_passes.load(Ordering::Relaxed),
                sleeps: ds.sleeps.load(Ordering::Relaxed),
                deep_sleeps: ds.deep_sleeps.load(Ordering::Relaxed),
                wakeups_by_producers: shared.signal.wakes(),
                batches: ds.batches.load(Ordering::Relaxed),
                loss_records: ds.loss_records.load(Ordering::Relaxed),
                corrupt_rings: ds.corrupt_rings.load(Ordering::Relaxed),
                blocked_wakeups: shared.waiters.wakes(),
                buffer_bytes: ds.buffer_bytes.load(Ordering::Relaxed),
                buffer_bytes_high_water: ds.buffer_bytes_high_water.load(Ordering::Relaxed),
                held_rings: ds.held_rings.load(Ordering::Relaxed),
            },
            diagnostics_delivered: shared.diag.delivered(),
            diagnostics_suppressed: shared.diag.suppressed(),
        }
    }
}

/// A snapshot of the installed runtime's counters, or `None` if no runtime is installed.
pub fn metrics() -> Option<Metrics> {
    crate::shared::CURRENT.load().as_ref().map(|s| Metrics::collect(s))
}

/// Escapes a Prometheus label value (`\`, `"` and newlines).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

impl Metrics {
    /// The snapshot in the Prometheus text exposition format (version 0.0.4), for a
    /// `/metrics` endpoint. Metric names start with `ringtrace_`; per-thread series carry a
    /// `thread` label, per-sink series a `sink` label.
    ///
    /// ```
    /// # #[cfg(not(feature = "loom"))] {
    /// # let guard = ringtrace::Builder::new().install().unwrap();
    /// let text = guard.metrics().to_prometheus();
    /// assert!(text.contains("# TYPE ringtrace_events_recorded_total counter"));
    /// # drop(guard);
    /// # }
    /// ```
    pub fn to_prometheus(&self) -> String {
        use std::fmt::Write;
        let mut o = String::with_capacity(4096);
        let family = |o: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(o, "# HELP ringtrace_{name} {help}\n# TYPE ringtrace_{name} {kind}");
        };
        family(&mut o, "events_recorded_total", "counter", "Events taken out of the rings by the drain.");
        let _ = writeln!(o, "ringtrace_events_recorded_total {}", self.recorded);
        family(&mut o, "events_dropped_total", "counter", "Events dropped, by reason.");
        for r in DropReason::ALL {
            let _ = writeln!(o, "ringtrace_events_dropped_total{{reason=\"{r}\"}} {}", self.dropped.get(r));
        }
        family(&mut o, "events_rate_limited_total", "counter", "Events rate limits suppressed (not losses).");
        let _ = writeln!(o, "ringtrace_events_rate_limited_total {}", self.rate_limited);
        family(&mut o, "events_sampled_total", "counter", "Events sampling left out (not losses).");
        let _ = writeln!(o, "ringtrace_events_sampled_total {}", self.sampled);
        family(&mut o, "bytes_dropped_total", "counter", "Bytes of dropped events.");
        let _ = writeln!(o, "ringtrace_bytes_dropped_total {}", self.dropped_bytes);
        family(&mut o, "state_transitions_total", "counter", "Backpressure state transitions, all threads.");
        for from in ThreadState::ALL {
            for to in ThreadState::ALL {
                if from.can_go_to(to) {
                    let n = self.transitions.get(from, to);
                    let _ = writeln!(o, "ringtrace_state_transitions_total{{from=\"{from}\",to=\"{to}\"}} {n}");
                }
            }
        }
        family(&mut o, "loss_records_total", "counter", "Loss records delivered to the sinks.");
        let _ = writeln!(o, "ringtrace_loss_records_total {}", self.drain.loss_records);
        family(&mut o, "threads_seen_total", "counter", "Threads that registered.");
        let _ = writeln!(o, "ringtrace_threads_seen_total {}", self.threads_seen);

        family(&mut o, "thread_state", "gauge", "1 for the state each live thread is in, 0 for the others.");
        for t in &self.threads {
            for s in ThreadState::ALL {
                let _ = writeln!(
                    o,
                    "ringtrace_thread_state{{thread=\"{}\",state=\"{s}\"}} {}",
                    label(&t.name),
                    u8::from(t.state == s)
                );
            }
        }
        family(&mut o, "thread_state_seconds_total", "counter", "Time each live thread spent in each state.");
        for t in &self.threads {
            for s in ThreadState::ALL {
                let secs = t.time_in_state[s as usize].as_secs_f64();
                let _ = writeln!(
                    o,
                    "ringtrace_thread_state_seconds_total{{thread=\"{}\",state=\"{s}\"}} {secs}",
                    label(&t.name)
                );
            }
        }
        family(&mut o, "thread_events_recorded_total", "counter", "Events the drain took from each live thread.");
        for t in &self.threads {
            let _ =
                writeln!(o, "ringtrace_thread_events_recorded_total{{thread=\"{}\"}} {}", label(&t.name), t.recorded);
        }
        family(&mut o, "thread_events_dropped_total", "counter", "Events each live thread dropped, by reason.");
        for t in &self.threads {
            for (r, n) in t.dropped.iter() {
                let _ = writeln!(
                    o,
                    "ringtrace_thread_events_dropped_total{{thread=\"{}\",reason=\"{r}\"}} {n}",
                    label(&t.name)
                );
            }
        }

        family(&mut o, "pool_rings", "gauge", "Rings in the pool.");
        let _ = writeln!(o, "ringtrace_pool_rings {}", self.pool.rings);
        family(&mut o, "pool_ring_bytes", "gauge", "Bytes per ring.");
        let _ = writeln!(o, "ringtrace_pool_ring_bytes {}", self.pool.ring_size);
        family(&mut o, "pool_free_rings", "gauge", "Free rings now.");
        let _ = writeln!(o, "ringtrace_pool_free_rings {}", self.pool.free);
        family(&mut o, "pool_high_water_rings", "gauge", "Most rings in use at once so far.");
        let _ = writeln!(o, "ringtrace_pool_high_water_rings {}", self.pool.high_water);
        family(&mut o, "pool_used_bytes", "gauge", "Bytes recorded and not yet taken by the drain.");
        let _ = writeln!(o, "ringtrace_pool_used_bytes {}", self.pool.used_bytes);

        for (name, help, get) in [
            ("sink_batches_total", "Batches a sink wrote.", (|s: &SinkReport| s.batches) as fn(&SinkReport) -> u64),
            ("sink_events_written_total", "Events a sink wrote.", |s| s.written),
            ("sink_events_dropped_total", "Events lost for a sink because their batch failed.", |s| s.dropped),
            ("sink_errors_total", "Failed batches, flushes and stops.", |s| s.errors),
            ("sink_panics_total", "Panics caught in a sink.", |s| s.panics),
        ] {
            family(&mut o, name, "counter", help);
            for s in &self.sinks {
                let _ = writeln!(o, "ringtrace_{name}{{sink=\"{}\"}} {}", label(&s.name), get(s));
            }
        }

        for (name, help, v) in [
            ("drain_iterations_total", "Turns of the drain loop.", self.drain.iterations),
            ("drain_sleeps_total", "Times the drain parked.", self.drain.sleeps),
            ("drain_wakeups_by_producers_total", "Times a producer woke the drain.", self.drain.wakeups_by_producers),
            ("drain_batches_total", "Batches handed to the sinks.", self.drain.batches),
            ("diagnostics_suppressed_total", "Diagnostics suppressed by rate limiting.", self.diagnostics_suppressed),
        ] {
            family(&mut o, name, "counter", help);
            let _ = writeln!(o, "ringtrace_{name} {v}");
        }
        o
    }
}
