//! What the layer keeps per span, and which span is current on a thread.
//!
//! # Per span ([`SpanData`], in the span's registry extensions)
//!
//! - An id from [`next_span_id`], unique for the life of the process (`tracing`'s own span ids
//!   are slab indices, reused as soon as a span closes), written as the [`SPAN_ID`] field of
//!   the span's begin and end records and of every event recorded inside it, so that JSON
//!   lines, Perfetto args, OTLP attributes and database rows can attribute an event to its
//!   span (as `tracing-subscriber`'s `with_current_span` does).
//! - The span's field values by `FieldSet` index ([`SpanFields`]), set when the span is
//!   created and updated by `Span::record` (`on_record`).
//! - The [`Edges`] for the fields that have a value, looked up when those change, so an entry
//!   or exit records without any lookup.
//! - Whether a value was recorded after creation: then the end record carries the span's
//!   current values too, so a value recorded while the span was entered (`status = 200`)
//!   reaches every output — the end record's fields are rendered by every sink. Otherwise the
//!   end record carries the id only.
//!
//! # Per thread (the span stack)
//!
//! `on_enter` pushes the span's id on a thread-local stack and `on_exit` removes it, so an
//! event's current span is the top of the stack (one thread-local read, no registry lookup).
//! The stack is shared by every ringtrace layer in the process: all of them record into the
//! same rings, where a span's begin and end records bracket the events recorded between them
//! on that thread.
//!
//! [`SPAN_ID`]: crate::site::SPAN_ID

use crate::fields::{Owned, SpanFields};
use crate::site::{in_mask, Edges, Site};
use ringtrace::{Encode, Encoder};
use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering};

/// The layer's state of one span (see the module doc).
#[derive(Debug)]
pub(crate) struct SpanData {
    pub(crate) id: u64,
    pub(crate) values: SpanFields,
    /// A value was recorded after the span was created.
    pub(crate) recorded: bool,
    pub(crate) edges: &'static Edges,
}

impl SpanData {
    /// The state of a span just created at `site` with `values`.
    pub(crate) fn new(site: &'static Site, values: SpanFields) -> Option<Self> {
        let edges = site.variants.as_ref()?.get(values.mask());
        Some(Self { id: next_span_id(), values, recorded: false, edges })
    }

    /// After `Span::record` changed `values`.
    pub(crate) fn updated(&mut self, site: &'static Site) {
        self.recorded = true;
        if let Some(v) = &site.variants {
            self.edges = v.get(self.values.mask());
        }
    }

    /// The values of a begin or end record: the fields of `edges`, then the id.
    pub(crate) fn record_values(&self) -> SpanValues<'_> {
        SpanValues { values: &self.values.values, mask: self.edges.mask, id: self.id }
    }
}

/// A span record's body: the values of the fields in `mask` (an empty placeholder for one
/// without a value, which only the all-fields fallback of [`Edges`] lists), then the id. Its
/// size is exact, so the record is reserved at its size.
#[derive(Debug)]
pub(crate) struct SpanValues<'a> {
    values: &'a [Option<Owned>],
    mask: u64,
    id: u64,
}

/// Encoded size of a string body (as ringtrace's `str` encoding counts it).
fn text_len(s: &[u8]) -> usize {
    3 + s.len().min(u16::MAX as usize)
}

impl Encode for SpanValues<'_> {
    fn encoded_len(&self) -> usize {
        let mut n = 9;
        for (i, v) in self.values.iter().enumerate() {
            if !in_mask(self.mask, i) {
                continue;
            }
            n += match v {
                None => 3,
                Some(Owned::U64(_) | Owned::I64(_) | Owned::F64(_)) => 9,
                Some(Owned::Bool(_)) => 2,
                Some(Owned::Str(s) | Owned::Text(s)) => text_len(s.as_bytes()),
                Some(Owned::Bytes(b)) => text_len(b),
            };
        }
        n
    }

    fn encode(&self, enc: &mut Encoder<'_>) {
        for (i, v) in self.values.iter().enumerate() {
            if in_mask(self.mask, i) {
                crate::fields::put_owned(enc, v.as_ref());
            }
        }
        enc.put_u64(self.id);
    }
}

/// Ids a thread takes from the global counter at a time.
const ID_BLOCK: u64 = 1024;

/// The next unused block of span ids (ids start at 1).
static NEXT_BLOCK: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread's unused ids: `[next, end)`.
    static IDS: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
    /// Ids of the spans entered on this thread and not yet exited, innermost last.
    static STACK: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// A span id never handed out before in this process. One thread-local step; every
/// [`ID_BLOCK`] ids, one Relaxed `fetch_add` on the shared counter (uniqueness needs only its
/// atomicity).
pub(crate) fn next_span_id() -> u64 {
    IDS.try_with(|ids| {
        let (next, end) = ids.get();
        if next < end {
            ids.set((next + 1, end));
            return next;
        }
        let start = NEXT_BLOCK.fetch_add(ID_BLOCK, Ordering::Relaxed);
        ids.set((start + 1, start + ID_BLOCK));
        start
    })
    .unwrap_or_else(|_| NEXT_BLOCK.fetch_add(1, Ordering::Relaxed))
}

/// `on_enter`: `id` is now this thread's current span.
pub(crate) fn entered(id: u64) {
    let _ = STACK.try_with(|s| {
        if let Ok(mut s) = s.try_borrow_mut() {
            s.push(id);
        }
    });
}

/// `on_exit`: `id` is no longer entered on this thread (exits need not be in stack order).
pub(crate) fn exited(id: u64) {
    let _ = STACK.try_with(|s| {
        if let Ok(mut s) = s.try_borrow_mut() {
            if s.last() == Some(&id) {
                s.pop();
            } else if let Some(at) = s.iter().rposition(|&x| x == id) {
                s.remove(at);
            }
        }
    });
}

/// The id of this thread's current span, if a span is entered.
#[inline]
pub(crate) fn current() -> Option<u64> {
    STACK.try_with(|s| s.try_borrow().ok().and_then(|s| s.last().copied())).ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_across_threads() {
        let mut all: Vec<u64> = (0..4)
            .map(|_| std::thread::spawn(|| (0..3000).map(|_| next_span_id()).collect::<Vec<_>>()))
            .flat_map(|h| h.join().unwrap())
            .collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
        assert!(all[0] >= 1);
    }

    #[test]
    fn the_stack_follows_entries_and_exits_in_any_order() {
        assert_eq!(current(), None);
        entered(1);
        entered(2);
        assert_eq!(current(), Some(2));
        exited(1);
        assert_eq!(current(), Some(2));
        exited(2);
        assert_eq!(current(), None);
        exited(3);
        assert_eq!(current(), None);
    }
}
