//! What the drain hands records to: the decoded event ([`event`](mod@event)), the sink interface
//! ([`sink`]), text/JSON rendering ([`render`], [`template`], [`numfmt`]), the binary trace
//! file ([`trace_file`]), the built-in sinks ([`sinks`]) and presets ([`preset`]). Runs on the drain thread and in the offline tools.

pub(crate) mod event;
pub(crate) mod numfmt;
pub(crate) mod preset;
pub mod render;
#[cfg(test)]
mod render_traces;
pub(crate) mod sink;
pub mod sinks;
pub(crate) mod template;
pub mod trace_file;
