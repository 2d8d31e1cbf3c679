//! Following ringtrace's configured level.
//!
//! ringtrace's level (`RINGTRACE_LEVEL`, `Builder::level`, a TOML file) is set when a runtime
//! is installed, which is often after the layer was built (`registry().with(layer).init()`
//! first, then `Builder::install`). So the layer, the bare subscriber and the logger do not
//! copy the level when they are built: each reads [`ringtrace::max_level`] when it decides
//! (the layer's `register_callsite`, `enabled` and `max_level_hint`; the logger's `enabled`
//! and `log`), capped by its own maximum if one was set with `with_max_level`.
//!
//! `tracing` caches what `register_callsite` answered (the callsite's interest) and the
//! subscribers' `max_level_hint`, so a change of ringtrace's level must reach those caches:
//! [`follow`] registers [`changed`] with [`ringtrace::on_max_level_change`], once per process,
//! and it rebuilds `tracing`'s interest cache (every callsite is asked again, so a level the
//! runtime disables costs what a disabled level costs) and sets `log`'s maximum level when a
//! [`RingtraceLogger`](crate::RingtraceLogger) is `log`'s logger.

use ringtrace::Level;
use std::sync::Once;

/// The level to record up to: ringtrace's, or `own` if that is more restrictive.
#[inline]
pub(crate) fn effective(own: Option<Level>) -> Level {
    let runtime = ringtrace::max_level();
    match own {
        Some(own) => own.min(runtime),
        None => runtime,
    }
}

/// Makes sure ringtrace's level changes reach `tracing` and `log` (see the module doc).
pub(crate) fn follow() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| ringtrace::on_max_level_change(changed));
}

/// ringtrace's level is now `level`.
fn changed(level: Level) {
    tracing_core::callsite::rebuild_interest_cache();
    crate::log::level_changed(level);
}

#[cfg(test)]
mod tests {
    use super::effective;
    use ringtrace::Level;

    #[test]
    fn the_more_restrictive_level_wins() {
        // ringtrace's default level is TRACE (no runtime in this test binary sets another).
        assert_eq!(effective(None), ringtrace::max_level());
        assert_eq!(effective(Some(Level::Warn)), Level::Warn.min(ringtrace::max_level()));
    }
}
