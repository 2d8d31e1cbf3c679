//! The per-thread buffer bound context lives in ([`ContextBuf`]): pairs encoded once, at bind
//! time, copied verbatim into every record. Owned by the recording thread's `Local`
//! (recording/producer.rs); bound through [`ContextGuard`](crate::ContextGuard) (recording/context.rs).

use crate::wire::encode::{Encode, Encoder};
use std::cell::{Cell, UnsafeCell};

/// Bytes of bound context a thread can hold. Pairs that do not fit are not bound (and
/// [`ContextGuard::is_complete`](crate::ContextGuard::is_complete) says so).
pub const CONTEXT_CAPACITY: usize = 512;

/// The per-thread context buffer.
///
/// # Access
///
/// Only its own thread touches it, but not only from the outside: binding an eager value
/// (`with_context!(k = ringtrace::display(&x))`) runs `x`'s `Display` while the pair is being
/// written, and that code may record an event (which copies the bound bytes) or bind context
/// itself. So no reference to the whole buffer is ever created: [`bytes`](Self::bytes) views
/// `[0, len)` and [`push`](Self::push) writes only `[len, CONTEXT_CAPACITY)`, both through the
/// cell's raw pointer, and `len` moves only after the write is done. The two regions never
/// overlap, so a record made from inside a binding sees the pairs bound before it and nothing
/// half-written. A binding started from inside a binding is refused (it would write the same
/// region), and so is a truncation to below the pair being written; the recording path also
/// drops events made from inside a binding as re-entrant (`producer::with_binding`).
#[derive(Debug)]
pub(crate) struct ContextBuf {
    len: Cell<usize>,
    /// A pair is being written at `len` (see "Access").
    binding: Cell<bool>,
    bytes: UnsafeCell<[u8; CONTEXT_CAPACITY]>,
}

/// Clears `ContextBuf::binding` when a binding ends, also by unwinding out of a `Display`.
struct Binding<'a>(&'a Cell<bool>);

impl Drop for Binding<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

impl ContextBuf {
    pub(crate) const fn new() -> Self {
        Self { len: Cell::new(0), binding: Cell::new(false), bytes: UnsafeCell::new([0; CONTEXT_CAPACITY]) }
    }

    /// Bytes currently bound.
    #[inline(always)]
    pub(crate) fn len(&self) -> usize {
        self.len.get()
    }

    /// The bound bytes.
    #[inline(always)]
    pub(crate) fn bytes(&self) -> &[u8] {
        let len = self.len.get();
        // SAFETY: `[0, len)` is initialised (the array is) and is never written while `len`
        // covers it: `push` writes only at and after `len` (type doc, "Access"), and this
        // view is made from the raw pointer, so it does not overlap any `&mut` to the region
        // a binding in progress writes. `len <= CONTEXT_CAPACITY` always.
        unsafe { std::slice::from_raw_parts(self.bytes.get() as *const u8, len) }
    }

    /// Appends a pair; returns `false` (binding nothing) if it does not fit, or if a binding
    /// is already in progress on this thread (a value's `Display` binding context).
    pub(crate) fn push<T: Encode + ?Sized>(&self, key: &str, value: &T) -> bool {
        if self.binding.replace(true) {
            return false;
        }
        let _binding = Binding(&self.binding);
        let start = self.len.get();
        let key = &key.as_bytes()[..key.len().min(u8::MAX as usize)];
        let need = 1 + key.len() + value.encoded_len();
        if start + need > CONTEXT_CAPACITY {
            return false;
        }
        // Dynamic values (eager captures) get whatever space is left.
        let end = if T::DYNAMIC { CONTEXT_CAPACITY } else { start + need };
        // SAFETY: `[start, end)` lies inside the buffer (`end <= CONTEXT_CAPACITY`) and is
        // this binding's alone: it starts at `len`, which no view made by `bytes` reaches, and
        // `binding` refuses a second writer until this one ends (type doc, "Access").
        let buf = unsafe { std::slice::from_raw_parts_mut((self.bytes.get() as *mut u8).add(start), end - start) };
        buf[0] = key.len() as u8;
        buf[1..1 + key.len()].copy_from_slice(key);
        let body = 1 + key.len();
        let mut enc = Encoder::new(&mut buf[body..]);
        value.encode(&mut enc);
        if enc.truncated() && !T::DYNAMIC {
            return false;
        }
        self.len.set(start + body + enc.position());
        true
    }

    pub(crate) fn truncate(&self, len: usize) {
        // During a binding `len` is where the pair being written starts; cutting below it
        // would leave stale bytes between the cut and the new pair (type doc, "Access").
        if len < self.len.get() && !self.binding.get() {
            self.len.set(len);
        }
    }
}
