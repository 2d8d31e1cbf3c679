//! The calling thread: everything a recording macro runs, in call order ([`producer`]), the
//! thread's bound key-value context ([`context`]) and the buffer it lives in ([`context_buf`]).
//! Runs only on the threads that record; never blocks except under `Policy::Block`.

pub(crate) mod context;
pub(crate) mod context_buf;
pub(crate) mod producer;
