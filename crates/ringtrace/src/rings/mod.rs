//! Lock-free memory with no policy: one ring ([`ring`]), the shared pool of rings ([`pool`]),
//! the per-thread registry slot with its chain of full rings and read protocol ([`slot`]), and
//! the registry of slots ([`registry`]). Used by the recording thread and the drain alike.

pub(crate) mod pool;
pub(crate) mod registry;
pub(crate) mod ring;
pub(crate) mod slot;
