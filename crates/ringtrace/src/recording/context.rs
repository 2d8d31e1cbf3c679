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

pub use crate::recording::context_buf::CONTEXT_CAPACITY;
use crate::recording::producer::{with_binding, with_context_buf};
use crate::wire::encode::Encode;
use std::marker::PhantomData;

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
        let restore = with_context_buf(|c| c.len()).unwrap_or(0);
        Self { restore, complete: true, _not_send: PhantomData }
    }

    /// Binds `key = value` until the guard is dropped.
    #[doc(hidden)]
    pub fn __bind<T: Encode + ?Sized>(&mut self, key: &str, value: &T) {
        // Inside a record (an argument's `Display` binding context) or during thread teardown
        // nothing is bound; events recorded by `value`'s own `Display` are dropped as
        // re-entrant (`with_binding`).
        let ok = with_binding(|c| c.push(key, value)).unwrap_or(false);
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
        let _ = with_context_buf(|c| c.truncate(self.restore));
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use crate::recording::context_buf::ContextBuf;
    use crate::wire::value::{decode_value, Value};
    use std::cell::Cell;

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
            let outer = with_context_buf(|c| pairs(c.bytes())).unwrap();
            {
                let mut g2 = ContextGuard::__enter();
                g2.__bind("b", "x");
                let inner = with_context_buf(|c| pairs(c.bytes())).unwrap();
                assert_eq!(inner, vec![("a".into(), "1".into()), ("b".into(), "\"x\"".into())]);
            }
            let after = with_context_buf(|c| pairs(c.bytes())).unwrap();
            assert_eq!(after, outer);
            outer
        };
        assert_eq!(a, vec![("a".to_string(), "1".to_string())]);
        assert_eq!(with_context_buf(|c| c.len()).unwrap(), 0);
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
        assert_eq!(with_context_buf(|c| c.len()).unwrap(), 0);
        g.__bind("small", &true);
        let b = with_context_buf(|c| c.bytes().to_vec()).unwrap();
        assert_eq!(decode_value(&b[6..]).unwrap().0, Value::Bool(true));
    }
}
