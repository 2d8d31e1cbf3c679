//! loom models of ringtrace's lock-free protocols live in `tests/`; they run only with the
//! `loom` feature: `cargo test --features loom` at the repository root (see
//! `scripts/loom.sh` for the bounds used in CI). Each model drives the real protocol code
//! through `ringtrace::loom_api`, which exists only under that feature.
