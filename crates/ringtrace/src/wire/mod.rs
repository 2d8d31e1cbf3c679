//! The byte format of one record: its header and kinds ([`record`]), the value tags
//! ([`value`]) and the encoder the macros write arguments with ([`encode`]).
//! Runs on the recording thread (encoding) and is read by the drain, the sinks and the offline tools.

pub(crate) mod encode;
pub(crate) mod record;
pub(crate) mod value;
