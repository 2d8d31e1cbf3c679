//! The calling thread: everything a recording macro runs, in call order ([`producer`]), its
//! cold paths when the ring has no room ([`room`]), and the thread's bound key-value context
//! ([`context`], [`context_buf`]). Runs only on the recording threads; never blocks but under `Policy::Block`.

pub(crate) mod context;
pub(crate) mod context_buf;
pub(crate) mod limit;
pub(crate) mod producer;
pub(crate) mod room;
