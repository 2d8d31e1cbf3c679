//! The opt-in panic hook ([`install_panic_hook`]) that records the panic and saves what the
//! rings hold before the process goes on unwinding or aborting.

use super::snapshot::*;

/// Installs a panic hook (opt-in, once per process; later calls do nothing) that, on the
/// panicking thread, records an `ERROR` event with target `ringtrace::panic` holding the
/// panic's message and location, then saves what it can before the process goes on
/// unwinding or aborting:
///
/// - in flight-recorder mode, the records stay in the pool; with a pool file it is
///   `msync`ed (so even a power loss right after keeps them);
/// - otherwise the drain delivers everything the rings hold to the sinks and flushes them
///   (waiting at most one second).
///
/// Then it calls the hook that was installed before (by default, the message to stderr).
///
/// ```
/// ringtrace::flight::install_panic_hook();
/// ```
pub fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = crate::diag::panic_payload(info.payload()).unwrap_or("Box<dyn Any>");
            let (file, line, column) =
                info.location().map_or(("<unknown>", 0, 0), |l| (l.file(), l.line(), l.column()));
            let thread = std::thread::current();
            let thread = thread.name().unwrap_or("<unnamed>");
            crate::error!(
                target: "ringtrace::panic",
                file = file,
                line = line,
                column = column,
                thread = thread,
                "panicked at {}:{}:{}: {}",
                file,
                line,
                column,
                message
            );
            save_for_crash();
            previous(info);
        }));
    });
}

/// The panic hook's rescue: sync the pool file in flight-recorder mode, else have the drain
/// deliver and flush everything (waiting at most a second).
fn save_for_crash() {
    let Some(shared) = crate::shared::CURRENT.load_full() else { return };
    if shared.config.flight_recorder {
        #[cfg(not(feature = "loom"))]
        if let Some(f) = shared.pool.journal() {
            let _ = f.sync();
        }
        return;
    }
    drop(shared);
    let _ = request(None, Some(std::time::Duration::from_secs(1)));
}
