//! The demo's per-thread state timeline: one column per sampling step, each showing the most
//! severe backpressure state the worker was in during that step.
//!
//! The demo reads `metrics()` once per step, but a thread can go NORMAL → PRESSURE →
//! DROPPING → RECOVERY, and even back to NORMAL, between two readings: a burst fills its quota
//! and a drain pass frees the pool within milliseconds. The state at the reading alone hides
//! such an excursion (the column read `R`, or `.`, and the default demo's timeline never
//! showed `P` or `D`). Each thread's transition counters miss nothing, so a column covering
//! the step `(t0, t1]` is built from two [`Reading`]s: a state was occupied during the step if
//! it was the state at `t0` or at `t1`, or if a transition into it was counted between the two
//! readings. The column shows the most severe of those states, in this order:
//!
//! | letter | state | why it ranks there |
//! |---|---|---|
//! | `D` | DROPPING | events were lost |
//! | `P` | PRESSURE | the pool ran low: the step before losing events |
//! | `R` | RECOVERY | the pool refilled; the thread waits out the stability period |
//! | `.` | NORMAL | nothing to report |
//!
//! i.e. by how close the thread came to losing events. A step that went through PRESSURE and
//! back through RECOVERY without dropping shows `P`.
//!
//! The counters are read with Relaxed loads and a metrics snapshot is not atomic (see
//! `ringtrace::metrics`): a state whose change and count land on different sides of a reading
//! may show one column longer than it lasted. It is never hidden.

use ringtrace::{ThreadMetrics, ThreadState};
use std::collections::BTreeMap;
use std::time::Duration;

/// What one reading of a thread's metrics says about its states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Reading {
    /// The state at the reading.
    state: ThreadState,
    /// Transitions into each state since the thread registered, indexed by
    /// `ThreadState as usize`.
    entered: [u64; 4],
}

impl Reading {
    /// A thread before its first reading: it registers NORMAL, with no transitions.
    const START: Reading = Reading { state: ThreadState::Normal, entered: [0; 4] };

    fn of(t: &ThreadMetrics) -> Reading {
        let mut entered = [0; 4];
        for (_, to, n) in t.transitions.iter() {
            entered[to as usize] += n;
        }
        Reading { state: t.state, entered }
    }
}

/// How severe a state is for the timeline (module doc): higher is worse.
fn severity(s: ThreadState) -> u8 {
    match s {
        ThreadState::Normal => 0,
        ThreadState::Recovery => 1,
        ThreadState::Pressure => 2,
        ThreadState::Dropping => 3,
    }
}

/// The most severe state a thread was in between the readings `before` and `after`.
fn most_severe(before: Reading, after: Reading) -> ThreadState {
    ThreadState::ALL
        .into_iter()
        .filter(|&s| s == before.state || s == after.state || after.entered[s as usize] > before.entered[s as usize])
        .max_by_key(|&s| severity(s))
        .unwrap_or(after.state)
}

fn letter(s: ThreadState) -> char {
    match s {
        ThreadState::Normal => '.',
        ThreadState::Pressure => 'P',
        ThreadState::Dropping => 'D',
        ThreadState::Recovery => 'R',
    }
}

#[derive(Debug)]
struct Row {
    cells: String,
    last: Reading,
}

/// The workers' rows, one column per [`sample`](Timeline::sample).
#[derive(Debug, Default)]
pub(super) struct Timeline {
    rows: BTreeMap<String, Row>,
    samples: usize,
}

impl Timeline {
    /// Adds a column from a metrics snapshot's threads (those named `worker-…`). A worker not
    /// seen yet starts from [`Reading::START`]; one missing from earlier samples gets blanks.
    pub(super) fn sample(&mut self, threads: &[ThreadMetrics]) {
        self.samples += 1;
        for t in threads.iter().filter(|t| t.name.starts_with("worker-")) {
            let row = self.rows.entry(t.name.clone()).or_insert(Row { cells: String::new(), last: Reading::START });
            while row.cells.chars().count() + 1 < self.samples {
                row.cells.push(' ');
            }
            let now = Reading::of(t);
            row.cells.push(letter(most_severe(row.last, now)));
            row.last = now;
        }
    }

    /// Columns so far.
    pub(super) fn samples(&self) -> usize {
        self.samples
    }

    /// The timeline as text, workers in numeric order, `step` being the sampling step.
    pub(super) fn render(&self, step: Duration) -> String {
        let mut s = format!(
            "\n  timeline (one column per {} ms: the most severe state in it, D dropping > P pressure > R recovery > . normal)\n",
            step.as_millis()
        );
        let mut rows: Vec<_> = self.rows.iter().collect();
        rows.sort_by_key(|(name, _)| name.trim_start_matches("worker-").parse::<u32>().unwrap_or(u32::MAX));
        for (name, row) in rows {
            s += &format!("    {name:<10} {}\n", row.cells);
        }
        s
    }

    #[cfg(test)]
    fn row(&self, name: &str) -> &str {
        &self.rows[name].cells
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringtrace::ThreadState::{Dropping, Normal, Pressure, Recovery};
    use ringtrace::{DropCounts, TransitionCounts};

    /// A metrics snapshot's entry for one thread: its state now and its transitions so far.
    fn thread(name: &str, state: ThreadState, transitions: &[(ThreadState, ThreadState, u64)]) -> ThreadMetrics {
        ThreadMetrics {
            id: 1,
            name: name.into(),
            recorded: 0,
            dropped: DropCounts::default(),
            dropped_bytes: 0,
            rate_limited: 0,
            sampled: 0,
            exited: false,
            state,
            time_in_state: [Duration::ZERO; 4],
            transitions: transitions.iter().copied().collect::<TransitionCounts>(),
        }
    }

    /// Feeds one worker's snapshots, one per column.
    fn row_of(snapshots: &[ThreadMetrics]) -> String {
        let mut tl = Timeline::default();
        for s in snapshots {
            tl.sample(std::slice::from_ref(s));
        }
        tl.row("worker-0").to_string()
    }

    /// Issue 19, item 9: NORMAL → PRESSURE → DROPPING → RECOVERY within one column used to
    /// show as `R` (the state at the reading); the drop shows now.
    #[test]
    fn an_excursion_within_one_column_shows_its_drop() {
        let w = "worker-0";
        let row = row_of(&[
            thread(w, Normal, &[]),
            thread(w, Recovery, &[(Normal, Pressure, 1), (Pressure, Dropping, 1), (Dropping, Recovery, 1)]),
            // It left RECOVERY just after that reading: RECOVERY was its state during this step.
            thread(
                w,
                Normal,
                &[(Normal, Pressure, 1), (Pressure, Dropping, 1), (Dropping, Recovery, 1), (Recovery, Normal, 1)],
            ),
            thread(
                w,
                Normal,
                &[(Normal, Pressure, 1), (Pressure, Dropping, 1), (Dropping, Recovery, 1), (Recovery, Normal, 1)],
            ),
        ]);
        assert_eq!(row, ".DR.");
    }

    /// A whole excursion between two readings, back to NORMAL: the readings both say NORMAL,
    /// the counters say it dropped.
    #[test]
    fn an_excursion_between_two_normal_readings_shows_its_drop() {
        let w = "worker-0";
        let all = [(Normal, Pressure, 2), (Pressure, Dropping, 1), (Pressure, Recovery, 1), (Dropping, Recovery, 1)];
        let row = row_of(&[
            thread(w, Normal, &[]),
            thread(
                w,
                Normal,
                &[(Normal, Pressure, 1), (Pressure, Dropping, 1), (Dropping, Recovery, 1), (Recovery, Normal, 1)],
            ),
            // A second excursion that did not drop: PRESSURE → RECOVERY → NORMAL.
            thread(w, Normal, &[all[0], all[1], all[2], all[3], (Recovery, Normal, 2)]),
            thread(w, Normal, &[all[0], all[1], all[2], all[3], (Recovery, Normal, 2)]),
        ]);
        assert_eq!(row, ".DP.");
    }

    /// The order: DROPPING > PRESSURE > RECOVERY > NORMAL, and the state at the start of a
    /// step counts for that step.
    #[test]
    fn the_most_severe_state_wins_and_the_starting_state_counts() {
        let r = |state, entered| Reading { state, entered };
        // RECOVERY → PRESSURE: P.
        assert_eq!(most_severe(r(Recovery, [0, 1, 1, 1]), r(Pressure, [0, 2, 1, 1])), Pressure);
        // PRESSURE → DROPPING: D.
        assert_eq!(most_severe(r(Pressure, [0, 1, 0, 0]), r(Dropping, [0, 1, 1, 0])), Dropping);
        // DROPPING at the start, RECOVERY at the end: the step began by dropping.
        assert_eq!(most_severe(r(Dropping, [0, 1, 1, 0]), r(Recovery, [0, 1, 1, 1])), Dropping);
        // RECOVERY → NORMAL: R; NORMAL throughout: '.'.
        assert_eq!(most_severe(r(Recovery, [0, 1, 1, 1]), r(Normal, [1, 1, 1, 1])), Recovery);
        assert_eq!(most_severe(r(Normal, [1, 1, 1, 1]), r(Normal, [1, 1, 1, 1])), Normal);
        // Staying in DROPPING with no new transition: D.
        assert_eq!(most_severe(r(Dropping, [0, 1, 1, 0]), r(Dropping, [0, 1, 1, 0])), Dropping);
        let ascending = [Normal, Recovery, Pressure, Dropping];
        assert!(ascending.windows(2).all(|w| severity(w[0]) < severity(w[1])));
        assert_eq!(ascending.map(letter), ['.', 'R', 'P', 'D']);
    }

    /// Only workers get rows, in numeric order; a worker that registers late gets blanks
    /// first, and its first column counts from NORMAL with no transitions.
    #[test]
    fn rows_are_the_workers_in_order_and_late_ones_are_padded() {
        let mut tl = Timeline::default();
        tl.sample(&[
            thread("worker-10", Normal, &[]),
            thread("main", Dropping, &[(Normal, Pressure, 1), (Pressure, Dropping, 1)]),
        ]);
        tl.sample(&[thread("worker-10", Normal, &[]), thread("worker-2", Pressure, &[(Normal, Pressure, 1)])]);
        assert_eq!(tl.samples(), 2);
        assert_eq!(tl.row("worker-10"), "..");
        assert_eq!(tl.row("worker-2"), " P");
        assert!(!tl.rows.contains_key("main"));
        let text = tl.render(Duration::from_millis(100));
        let at = |name: &str| text.find(name).unwrap();
        assert!(at("worker-2 ") < at("worker-10"), "{text}");
        assert!(text.contains("one column per 100 ms: the most severe state"), "{text}");
    }
}
