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

use crate::encode::{Encode, Encoder};
use std::cell::{Cell, UnsafeCell};
use std::marker::PhantomData;

/// Bytes of bound context a thread can hold. Pairs that do not fit are not bound (and
/// [`ContextGuard::is_complete`] says so).
pub const CONTEXT_CAPACITY: usize = 512;

/// The per-thread context buffer.
#[derive(Debug)]
pub(crate) struct ContextBuf {
    len: Cell<usize>,
    bytes: UnsafeCell<[u8; CONTEXT_CAPACITY]>,
}

impl ContextBuf {
    pub(crate) const fn new() -> Self {
        Self { len: Cell::new(0), bytes: UnsafeCell::new([0; CONTEXT_CAPACITY]) }
    }

    /// Bytes currently bound.
    #[inline(always)]
    pub(crate) fn len(&self) -> usize {
        self.len.get()
    }

    /// The bound bytes.
    #[inline(always)]
    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: the buffer is only written by `push`, on this thread, never while this
        // shared view is alive (the recording path copies it without calling user code).
        let all: &[u8; CONTEXT_CAPACITY] = unsafe { &*self.bytes.get() };
        &all[..self.len.get()]
    }

    /// Appends a pair; returns `false` (binding nothing) if it does not fit.
    fn push<T: Encode + ?Sized>(&self, key: &str, value: &T) -> bool {
        let start = self.len.get();
        let key = &key.as_bytes()[..key.len().min(u8::MAX as usize)];
        let need = 1 + key.len() + value.encoded_len();
        if start + need > CONTEXT_CAPACITY {
            return false;
        }
        // SAFETY: this thread's buffer; no shared view is alive while a guard binds (binding
        // happens outside the recording path).
        let buf = unsafe { &mut *self.bytes.get() };
        buf[start] = key.len() as u8;
        buf[start + 1..start + 1 + key.len()].copy_from_slice(key);
        let body_start = start + 1 + key.len();
        // Dynamic values (eager captures) get whatever space is left.
        let end = if T::DYNAMIC { CONTEXT_CAPACITY } else { start + need };
        let mut enc = Encoder::new(&mut buf[body_start..end], 0);
        value.encode(&mut enc);
        if enc.truncated() && !T::DYNAMIC {
            return false;
        }
        self.len.set(body_start + enc.position());
        true
    }

    fn truncate(&self, len: usize) {
        if len < self.len.get() {
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
        let restore = crate::producer::with_context_buf(|c| c.len()).unwrap_or(0);
        Self { restore, complete: true, _not_send: PhantomData }
    }

    /// Binds `key = value` until the guard is dropped.
    #[doc(hidden)]
    pub fn __bind<T: Encode + ?Sized>(&mut self, key: &str, value: &T) {
        let ok = crate::producer::with_context_buf(|c| c.push(key, value)).unwrap_or(false);
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
        let _ = crate::producer::with_context_buf(|c| c.truncate(self.restore));
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use crate::value::{decode_value, Value};

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
            let outer = crate::producer::with_context_buf(|c| pairs(c.bytes())).unwrap();
            {
                let mut g2 = ContextGuard::__enter();
                g2.__bind("b", "x");
                let inner = crate::producer::with_context_buf(|c| pairs(c.bytes())).unwrap();
                assert_eq!(inner, vec![("a".into(), "1".into()), ("b".into(), "\"x\"".into())]);
            }
            let after = crate::producer::with_context_buf(|c| pairs(c.bytes())).unwrap();
            assert_eq!(after, outer);
            outer
        };
        assert_eq!(a, vec![("a".to_string(), "1".to_string())]);
        assert_eq!(crate::producer::with_context_buf(|c| c.len()).unwrap(), 0);
    }

    #[test]
    fn overflow_is_reported_not_bound() {
        let big = "y".repeat(CONTEXT_CAPACITY);
        let mut g = ContextGuard::__enter();
        g.__bind("k", big.as_str());
        assert!(!g.is_complete());
        assert_eq!(crate::producer::with_context_buf(|c| c.len()).unwrap(), 0);
        g.__bind("small", &true);
        let b = crate::producer::with_context_buf(|c| c.bytes().to_vec()).unwrap();
        assert_eq!(decode_value(&b[6..]).unwrap().0, Value::Bool(true));
    }
}
