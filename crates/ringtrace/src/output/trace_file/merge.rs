//! The reader's merge of RUN chunks: a k-way merge over threads with a bounded lookahead.
//!
//! A RUN chunk holds a run of one thread's records as they lay in its ring; the drain writes
//! one run per thread and pass, so a thread's records come in order but the threads are not
//! merged. The reader merges them back: records are buffered per thread (a *lane*) as their
//! chunks are read, and handed out in the order of their merge key, ties going to the thread
//! described first (its index in the reader's thread table), each thread's records in file
//! order. A record's merge key is its timestamp raised to the key of the thread's previous
//! record, so one thread's records never reorder — the key the drain's own merge uses.
//!
//! # When a record is handed out
//!
//! The writer says: a RUN chunk may carry a *horizon*, the end of one of the writer's
//! batches and its merge point. After reading such a chunk the merge hands out every buffered
//! record whose key is below that horizon (the first key that is not below it stays: a later
//! record of an earlier-described thread may tie with it); 0 hands out nothing, `u64::MAX`
//! everything. The drain gives as horizon the cutoff below which it handed the batch's
//! records to its other sinks, so the reader merges exactly as the drain did, records that
//! came late (a loss record dated to when its gap opened) included; a writer whose horizon
//! is a promise (no later record has a lower key) gets an exact merge. A RECORDS chunk
//! (already merged by its writer), the END chunk, the end of the input and an error hand out
//! everything buffered first.
//!
//! # Memory
//!
//! Buffered records live in one arena; what was handed out is dead space, reclaimed (the live
//! records moved down, in place) when it is as large as what is live. If the arena would pass
//! the merge limit, the merge compacts it and, if the live records alone are still over the
//! limit, hands out the records with the smallest keys, ignoring the horizon, until half the
//! limit is left: the order is then exact only within what the limit held. So the arena never
//! holds more than the limit plus one chunk, whatever the file.

use crate::clock::ClockCalibration;
use crate::output::event::{Batch, CallsiteTable, RecRef, ThreadInfo};
use crate::wire::record::{align8, Header, MergeKey, HEADER_LEN};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// Records handed to the callback in one [`Batch`] at most (the batch's index is 24 bytes a
/// record, so 384 KiB).
const OUT_BATCH: usize = 16 * 1024;
/// Dead space is reclaimed only once the arena is at least this large (1 MiB).
const COMPACT_MIN: usize = 1 << 20;

/// A span of a lane's records in the arena (whole records, each padded to 8 bytes).
#[derive(Debug, Clone, Copy)]
struct Segment {
    start: usize,
    end: usize,
}

/// One thread's buffered records.
#[derive(Debug, Default)]
struct Lane {
    segments: VecDeque<Segment>,
    /// Merge key of the thread's last record handed out (RECORDS chunks' records included).
    key: MergeKey,
    /// Whether the lane has an entry in the heap (exactly when it has buffered records).
    queued: bool,
}

/// See the module doc.
#[derive(Debug)]
pub(super) struct Merge {
    /// Buffered records and dead space (a RUN chunk's payload is read onto its end).
    pub(super) arena: Vec<u8>,
    /// Indexed like the reader's thread table.
    lanes: Vec<Lane>,
    /// (key of the lane's first buffered record, lane) for every lane with buffered records.
    heap: BinaryHeap<Reverse<(u64, u32)>>,
    /// Bytes of buffered records in the arena (the rest of it is dead).
    live: usize,
    limit: usize,
    out: Vec<RecRef>,
}

/// What a batch handed out refers to besides the merge's own arena.
pub(super) struct Tables<'a> {
    pub threads: &'a [ThreadInfo],
    pub callsites: &'a CallsiteTable,
    pub clock: &'a ClockCalibration,
}

impl Merge {
    pub(super) fn new(limit: usize) -> Self {
        Self { arena: Vec::new(), lanes: Vec::new(), heap: BinaryHeap::new(), live: 0, limit, out: Vec::new() }
    }

    pub(super) fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }

    /// Makes room for `more` bytes at the end of the arena: first by reclaiming dead space
    /// and, if the live records would still pass the limit, by handing out the oldest (module
    /// doc). Growth is amortized (doubling) but never past the limit plus `more`.
    pub(super) fn make_room(&mut self, more: usize, t: &Tables<'_>, f: &mut dyn FnMut(&Batch<'_>)) {
        if self.arena.len() + more > self.limit {
            self.compact();
            if self.live + more > self.limit {
                let target = (self.limit / 2).min(self.limit.saturating_sub(more));
                self.release(u64::MAX, target, t, f);
                self.compact();
            }
        }
        let need = self.arena.len() + more;
        if self.arena.capacity() < need {
            let cap = need.max(self.arena.capacity().saturating_mul(2).min(self.limit.max(need)));
            // A failure here is reported by the caller's own reservation.
            let _ = self.arena.try_reserve_exact(cap - self.arena.len());
        }
    }

    /// The key of thread `lane`'s next record (RECORDS chunks: records not buffered here, read
    /// in order): raises the lane's key and returns it.
    pub(super) fn key_in_order(&mut self, lane: u32, ts: u64) -> u64 {
        let l = self.lane(lane);
        l.key.take(ts)
    }

    fn lane(&mut self, lane: u32) -> &mut Lane {
        let i = lane as usize;
        if i >= self.lanes.len() {
            self.lanes.resize_with(i + 1, Lane::default);
        }
        &mut self.lanes[i]
    }

    /// Buffers the records at `start..end` of the arena (validated by the caller) as thread
    /// `lane`'s next ones, then hands out every buffered record whose key is below the
    /// chunk's `horizon` (all of them for `u64::MAX`, none for 0). A horizon applies at its
    /// own chunk only: it is not carried to later chunks.
    pub(super) fn push_run(
        &mut self,
        lane: u32,
        start: usize,
        end: usize,
        horizon: u64,
        t: &Tables<'_>,
        f: &mut dyn FnMut(&Batch<'_>),
    ) {
        if end > start {
            self.live += end - start;
            let l = self.lane(lane);
            l.segments.push_back(Segment { start, end });
            if !l.queued {
                l.queued = true;
                let key = l.key.peek(ts_at(&self.arena, start));
                self.heap.push(Reverse((key, lane)));
            }
        }
        if horizon > 0 {
            self.release(horizon, 0, t, f);
        }
        if self.arena.len() >= COMPACT_MIN && self.arena.len() - self.live >= self.live {
            self.compact();
        }
    }

    /// Hands out everything buffered (a RECORDS chunk, the END chunk, the end of the input or
    /// an error comes next).
    pub(super) fn drain(&mut self, t: &Tables<'_>, f: &mut dyn FnMut(&Batch<'_>)) {
        self.release(u64::MAX, 0, t, f);
        self.arena.clear();
        self.live = 0;
    }

    /// Hands out, in merge order, the buffered records whose key is below `bound` (all of
    /// them for `u64::MAX`), stopping early once no more than `keep` bytes are live.
    fn release(&mut self, bound: u64, keep: usize, t: &Tables<'_>, f: &mut dyn FnMut(&Batch<'_>)) {
        while let Some(&Reverse((key, lane))) = self.heap.peek() {
            if (key >= bound && bound != u64::MAX) || self.live <= keep {
                break;
            }
            self.heap.pop();
            // The lane goes on while it comes before the runner-up.
            let next = self.heap.peek().map(|r| r.0);
            let l = &mut self.lanes[lane as usize];
            loop {
                let Some(seg) = l.segments.front_mut() else {
                    l.queued = false;
                    break;
                };
                let h = Header::read(&self.arena[seg.start..]).unwrap_or(Header { size: 0, flags: 0, id: 0, ts: 0 });
                let key = l.key.peek(h.ts);
                let stop =
                    (key >= bound && bound != u64::MAX) || next.is_some_and(|n| (key, lane) > n) || self.live <= keep;
                if stop {
                    self.heap.push(Reverse((key, lane)));
                    break;
                }
                l.key.take_peeked(key);
                let size = (h.size as usize).max(HEADER_LEN);
                self.out.push(RecRef { key, thread: lane, seg: 0, offset: seg.start, len: size as u32 });
                let step = align8(size);
                seg.start += step;
                self.live -= step;
                if seg.start >= seg.end {
                    l.segments.pop_front();
                }
                if self.out.len() >= OUT_BATCH {
                    f(&Batch::new(&self.out, &self.arena, t.threads, t.callsites, t.clock));
                    self.out.clear();
                }
            }
        }
        if !self.out.is_empty() {
            f(&Batch::new(&self.out, &self.arena, t.threads, t.callsites, t.clock));
            self.out.clear();
        }
    }

    /// Moves the buffered records down over the dead space, in arena order.
    fn compact(&mut self) {
        if self.live == self.arena.len() {
            return;
        }
        let mut spans: Vec<(usize, u32, usize)> = Vec::new();
        for (li, l) in self.lanes.iter().enumerate() {
            for (si, s) in l.segments.iter().enumerate() {
                spans.push((s.start, li as u32, si));
            }
        }
        spans.sort_unstable();
        let mut to = 0;
        for (_, li, si) in spans {
            let s = &mut self.lanes[li as usize].segments[si];
            let n = s.end - s.start;
            self.arena.copy_within(s.start..s.end, to);
            *s = Segment { start: to, end: to + n };
            to += n;
        }
        self.arena.truncate(to);
        debug_assert_eq!(to, self.live);
    }
}

/// The timestamp of the record at `at` (validated).
fn ts_at(arena: &[u8], at: usize) -> u64 {
    Header::read(&arena[at..]).map_or(0, |h| h.ts)
}
