//! Bound context: key-value pairs attached to every event a thread records while a guard is
//! alive (`with_context!(request_id = id)`).
//!
//! The context lives in a fixed-size per-thread buffer (no allocation): binding a pair encodes
//! it once, at bind time, with the same wire format as event arguments (`u8` key length, key,
//! tagged value); every record then copies the current buffer verbatim. So an event carries the
//! context *as it was when the event was recorded* (R-CORE-6): values are copied at bind time,
//! and a guard dropped after an event does not remove the context from that event, only from
//! later ones.
//!
//! Guards nest like scopes: dropping a guard truncates the buffer back to its length when the
//! guard was created. Dropping guards out of order (possible with `mem::forget` or by moving
//! guards around) removes the context bound after the dropped guard too.

use crate::wire::encode::{Encode, Encoder};
use std::cell::{Cell, UnsafeCell};
use std::marker::PhantomData;

/// Bytes of bound context a thread can hold. Pairs that do not fit are not bound (and
/// [`ContextGuard::is_complete`] says so).
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

    fn truncate(&self, len: usize) {
        // During a binding `len` is where the pair being written starts; cutting below it
        // would leave stale bytes between the cut and the new pair (type doc, "Access").
        if len < self.len.get() && !self.binding.get() {
            self.len.set(len);
        }
    }
}

/// Keeps context bound to the current thread until dropped. Created by
/// [`with_context!`](crate::with_context).
///
/// ```
/// let request_id = 42u64;
/// let _ctx = ringtrace::with_context!(request_id = request_id, user = "ada");
/// ringtrace::info!("handled"); // carries request_id=42 user="ada"
/// ```
#[must_use = "context is unbound when the guard is dropped"]
#[derive(Debug)]
pub struct ContextGuard {
    restore: usize,
    complete: bool,
    /// Not `Send`: the guard must be dropped on the thread whose context it changed.
    _not_send: PhantomData<*const ()>,
}

impl ContextGuard {
    /// Starts a binding scope on the current thread.
    #[doc(hidden)]
    pub fn __enter() -> Self {
        let restore = crate::recording::producer::with_context_buf(|c| c.len()).unwrap_or(0);
        Self { restore, complete: true, _not_send: PhantomData }
    }

    /// Binds `key = value` until the guard is dropped.
    #[doc(hidden)]
    pub fn __bind<T: Encode + ?Sized>(&mut self, key: &str, value: &T) {
        // Inside a record (an argument's `Display` binding context) or during thread teardown
        // nothing is bound; events recorded by `value`'s own `Display` are dropped as
        // re-entrant (`with_binding`).
        let ok = crate::recording::producer::with_binding(|c| c.push(key, value)).unwrap_or(false);
        self.complete &= ok;
    }

    /// Whether every pair fit into the thread's context buffer
    /// ([`CONTEXT_CAPACITY`] bytes).
    pub fn is_complete(&self) -> bool {
        self.complete
    }
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        let _ = crate::recording::producer::with_context_buf(|c| c.truncate(self.restore));
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use crate::wire::value::{decode_value, Value};

    fn pairs(b: &[u8]) -> Vec<(String, String)> {
        let mut out = vec![];
        let mut rest = b;
        while let Some((&klen, r)) = rest.split_first() {
            let key = std::str::from_utf8(&r[..klen as usize]).unwrap().to_string();
            let (v, r2) = decode_value(&r[klen as usize..]).unwrap();
            out.push((key, format!("{v:?}")));
            rest = r2;
        }
        out
    }

    #[test]
    fn guards_nest_and_unbind() {
        let a = {
            let mut g = ContextGuard::__enter();
            g.__bind("a", &1u8);
            let outer = crate::recording::producer::with_context_buf(|c| pairs(c.bytes())).unwrap();
            {
                let mut g2 = ContextGuard::__enter();
                g2.__bind("b", "x");
                let inner = crate::recording::producer::with_context_buf(|c| pairs(c.bytes())).unwrap();
                assert_eq!(inner, vec![("a".into(), "1".into()), ("b".into(), "\"x\"".into())]);
            }
            let after = crate::recording::producer::with_context_buf(|c| pairs(c.bytes())).unwrap();
            assert_eq!(after, outer);
            outer
        };
        assert_eq!(a, vec![("a".to_string(), "1".to_string())]);
        assert_eq!(crate::recording::producer::with_context_buf(|c| c.len()).unwrap(), 0);
    }

    /// A value whose `Display` looks at the buffer it is being bound into, as a recording
    /// made from inside a binding does (it copies `bytes()`), and tries to bind a pair itself.
    struct Peek<'a> {
        buf: &'a ContextBuf,
        saw: &'a Cell<Option<(Vec<u8>, bool)>>,
    }

    impl std::fmt::Display for Peek<'_> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("val")?;
            let before = self.buf.bytes().to_vec();
            let nested = self.buf.push("nested", &1u8);
            self.buf.truncate(0);
            self.saw.set(Some((before, nested)));
            f.write_str("ue")
        }
    }

    /// Under Miri this is the aliasing check of the "Access" rules: the shared view made
    /// inside the binding must not invalidate the binding's own writes.
    #[test]
    fn a_value_bound_eagerly_sees_the_earlier_pairs_and_cannot_bind_or_cut() {
        let buf = ContextBuf::new();
        assert!(buf.push("a", &1u8));
        let saw = Cell::new(None);
        assert!(buf.push("k", &crate::display(&Peek { buf: &buf, saw: &saw })));
        let (before, nested) = saw.take().expect("Display ran");
        assert_eq!(pairs(&before), vec![("a".to_string(), "1".to_string())]);
        assert!(!nested, "a binding inside a binding is refused");
        assert_eq!(pairs(buf.bytes()), vec![("a".into(), "1".into()), ("k".into(), "value".into())]);
        assert!(buf.push("b", &2u8), "binding works again afterwards");
    }

    #[test]
    fn overflow_is_reported_not_bound() {
        let big = "y".repeat(CONTEXT_CAPACITY);
        let mut g = ContextGuard::__enter();
        g.__bind("k", big.as_str());
        assert!(!g.is_complete());
        assert_eq!(crate::recording::producer::with_context_buf(|c| c.len()).unwrap(), 0);
        g.__bind("small", &true);
        let b = crate::recording::producer::with_context_buf(|c| c.bytes().to_vec()).unwrap();
        assert_eq!(decode_value(&b[6..]).unwrap().0, Value::Bool(true));
    }
}
