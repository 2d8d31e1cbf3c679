//! `tracing` and `log` integrations for ringtrace. Work in progress.
