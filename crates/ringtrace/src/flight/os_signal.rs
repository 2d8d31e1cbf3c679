//! OS signals: snapshots on a signal ([`snapshot_on_signal`]) and a clean flush on a
//! termination signal ([`flush_on_signals`]) — handlers that only store a flag, and the drain's
//! poll that turns the flag into work. The handlers run on whichever thread the signal hits.

use std::fmt;
use std::path::PathBuf;

/// Set by the signal handler of [`snapshot_on_signal`], taken by the drain thread.
pub(super) static SIGNALLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// The directory signal-triggered snapshots go to (set before the handler is installed).
pub(super) static SIGNAL_DIR: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);
/// Signal-triggered snapshots taken so far in this process (their file names count them).
pub(super) static SIGNAL_SNAPSHOTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Why [`snapshot_on_signal`] refused.
#[derive(Debug)]
#[non_exhaustive]
pub enum SignalError {
    /// Only `SIGUSR1`, `SIGUSR2` and the real-time signals (`SIGRTMIN..=SIGRTMAX`) are
    /// accepted: others have meanings of their own (termination, faults, job control).
    Unsupported(i32),
    /// The signal already has a handler that is not ringtrace's (for
    /// [`flush_on_signals`]: or is ignored); it is left in place.
    HandlerInstalled(i32),
    /// [`flush_on_signals`] takes only `SIGTERM`, `SIGINT`, `SIGHUP` and `SIGQUIT`.
    NotATermination(i32),
    /// The directory does not exist or is not a directory.
    NotADirectory(PathBuf),
    /// `sigaction` failed.
    Io(std::io::Error),
    /// This platform has no signals (Windows): trigger snapshots with [`snapshot`](crate::snapshot) instead.
    UnsupportedPlatform,
}

impl fmt::Display for SignalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignalError::Unsupported(n) => {
                write!(f, "signal {n} cannot trigger snapshots: use SIGUSR1, SIGUSR2 or a real-time signal")
            }
            SignalError::HandlerInstalled(n) => {
                write!(f, "signal {n} already has a handler; ringtrace does not replace it")
            }
            SignalError::NotADirectory(p) => write!(f, "{} is not a directory", p.display()),
            SignalError::NotATermination(n) => {
                write!(f, "signal {n} is not a termination request: use SIGTERM, SIGINT, SIGHUP or SIGQUIT")
            }
            SignalError::Io(e) => write!(f, "cannot install the signal handler: {e}"),
            SignalError::UnsupportedPlatform => {
                write!(
                    f,
                    "snapshots on a signal are unsupported on this platform (no signals); call snapshot() instead"
                )
            }
        }
    }
}

impl std::error::Error for SignalError {}

/// Opt-in: when the process receives `signal`, the drain thread writes a
/// [`snapshot`](crate::snapshot) into `dir`, named `snapshot-<unix time in ms>-<n>.rtrace` (n counts this
/// process's signal-triggered snapshots from 1), without stopping recording. For an operator:
/// `kill -USR2 <pid>`.
///
/// The handler only sets a flag (it is async-signal-safe); the drain thread sees it within a
/// second (its longest sleep) and takes the snapshot. Signals that arrive before the snapshot
/// is taken make one snapshot; without an installed runtime a signal does nothing. The
/// outcome goes to the runtime's diagnostics (kind `Snapshot`): the file and record count,
/// or why it failed.
///
/// Unix only: on Windows it returns [`SignalError::UnsupportedPlatform`]. Accepts `SIGUSR1`,
/// `SIGUSR2` and, on Linux, the real-time signals; refuses a signal that already has a
/// handler other than ringtrace's (so a program's own `SIGUSR2` handling is not taken over).
/// Calling it again changes the directory (for every signal set up so far) and may add
/// another signal. The handler stays installed for the life of the process.
///
/// ```no_run
/// # #[cfg(unix)]
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let guard = ringtrace::Builder::new().preset(ringtrace::Preset::FlightRecorder).install()?;
/// ringtrace::flight::snapshot_on_signal(libc::SIGUSR2, "/var/lib/svc/snapshots")?;
/// // ... `kill -USR2 <pid>` writes /var/lib/svc/snapshots/snapshot-….rtrace
/// # drop(guard);
/// # Ok(())
/// # }
/// # #[cfg(not(unix))]
/// # fn main() {}
/// ```
#[cfg(unix)]
pub fn snapshot_on_signal(signal: i32, dir: impl Into<PathBuf>) -> Result<(), SignalError> {
    let dir = dir.into();
    // Real-time signals exist on Linux; macOS and the BSDs have none in `libc`.
    #[cfg(target_os = "linux")]
    let realtime = (libc::SIGRTMIN()..=libc::SIGRTMAX()).contains(&signal);
    #[cfg(not(target_os = "linux"))]
    let realtime = false;
    if !(signal == libc::SIGUSR1 || signal == libc::SIGUSR2 || realtime) {
        return Err(SignalError::Unsupported(signal));
    }
    if !dir.is_dir() {
        return Err(SignalError::NotADirectory(dir));
    }
    let mut current = SIGNAL_DIR.lock().unwrap_or_else(|e| e.into_inner());
    let old = current_handler(signal)?;
    let ours = on_snapshot_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    if old != libc::SIG_DFL && old != libc::SIG_IGN && old != ours {
        return Err(SignalError::HandlerInstalled(signal));
    }
    // The directory is in place before the handler can fire.
    *current = Some(dir);
    install_handler(signal, ours)
}

/// See the Unix version: there are no signals here, so this always fails, saying so.
#[cfg(not(unix))]
pub fn snapshot_on_signal(signal: i32, dir: impl Into<PathBuf>) -> Result<(), SignalError> {
    let _ = (signal, dir.into());
    Err(SignalError::UnsupportedPlatform)
}

/// The handler: a store to a static atomic, nothing else (async-signal-safe).
#[cfg(unix)]
extern "C" fn on_snapshot_signal(_: libc::c_int) {
    // Relaxed: a flag; the directory was published before the handler was installed (by
    // the mutex and the `sigaction` system call), and the drain reads it under the mutex.
    SIGNALLED.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// The drain's poll ([`Shared::poll_request`](crate::shared::Shared)): if a signal asked for
/// a snapshot since the last call, the request that takes it. Nobody waits for that snapshot,
/// so its outcome goes to the diagnostics.
pub(crate) fn signalled_request() -> Option<crate::shared::DrainRequest> {
    let path = signalled_snapshot()?;
    Some(crate::shared::DrainRequest::new(move |drain| {
        let message = match super::snapshot::take(drain, &path) {
            Ok(r) => format!(
                "signal: snapshot of {} records from {} threads written to {}",
                r.records,
                r.threads,
                path.display()
            ),
            Err(e) => format!("signal: snapshot to {} failed: {e}", path.display()),
        };
        drain.shared().diag.emit(crate::diag::DiagnosticKind::Snapshot, None, message);
    }))
}

/// If a signal asked for a snapshot since the last call, the path to write it to.
fn signalled_snapshot() -> Option<PathBuf> {
    // Relaxed: see `on_snapshot_signal`. A load first: the drain calls this on every turn of
    // its loop, and a read-modify-write would take the cache line each time.
    if !SIGNALLED.load(std::sync::atomic::Ordering::Relaxed)
        || !SIGNALLED.swap(false, std::sync::atomic::Ordering::Relaxed)
    {
        return None;
    }
    let dir = SIGNAL_DIR.lock().unwrap_or_else(|e| e.into_inner()).clone()?;
    let n = SIGNAL_SNAPSHOTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    Some(dir.join(format!("snapshot-{ms}-{n}.rtrace")))
}

/// At install, before the drain thread starts: forget a signal that arrived while no runtime
/// was installed.
pub(crate) fn clear_signalled() {
    SIGNALLED.store(false, std::sync::atomic::Ordering::Relaxed);
}

/// The termination signal [`flush_on_signals`] caught and the drain has not acted on yet (0:
/// none). Set by the handler, taken by the drain thread.
static FLUSH_SIGNAL: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);
/// A runtime is installed whose drain will act on [`FLUSH_SIGNAL`]. Without one the handler
/// ends the process at once, as the signal's default action would have.
static FLUSH_ARMED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The signals [`flush_on_signals`] accepts: requests to terminate, whose default action ends
/// the process.
#[cfg(unix)]
const TERMINATION_SIGNALS: [i32; 4] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT];

/// Opt-in: when the process receives one of `signals` (`SIGTERM`, `SIGINT`, `SIGHUP`,
/// `SIGQUIT`), the runtime shuts down as [`Guard::shutdown`](crate::Guard::shutdown) does —
/// intake closed, every ring drained, the sinks flushed and stopped in reverse order, the
/// report written as a diagnostic (kind `Summary`) — and then the signal's default action is
/// raised again, so the process ends as it would have (`kill -TERM` leaves complete outputs and
/// the exit status still says "killed by SIGTERM"). In flight-recorder mode the pool file is
/// synced (`msync`) instead: the records are already in it.
///
/// The handler only stores the signal number (async-signal-safe); the drain thread acts on it
/// within a second (its longest sleep). Without an installed runtime the signal ends the
/// process at once. A second signal while the first is being handled (a sink hanging, say)
/// ends the process at once too. Refuses a signal the program already handles or ignores (it
/// is left as it is), and any other signal. Unix only: elsewhere it returns
/// [`SignalError::UnsupportedPlatform`]. Calling it again adds signals; the handlers stay for
/// the life of the process.
///
/// ```no_run
/// # #[cfg(unix)]
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let guard = ringtrace::Builder::new().install()?;
/// ringtrace::flight::flush_on_signals(&[libc::SIGTERM, libc::SIGINT])?;
/// // ... `kill -TERM <pid>` or Ctrl-C: every event recorded so far reaches the sinks.
/// # drop(guard);
/// # Ok(())
/// # }
/// # #[cfg(not(unix))]
/// # fn main() {}
/// ```
#[cfg(unix)]
pub fn flush_on_signals(signals: &[i32]) -> Result<(), SignalError> {
    let ours = on_flush_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    for &signal in signals {
        if !TERMINATION_SIGNALS.contains(&signal) {
            return Err(SignalError::NotATermination(signal));
        }
        let old = current_handler(signal)?;
        if old != libc::SIG_DFL && old != ours {
            return Err(SignalError::HandlerInstalled(signal));
        }
    }
    for &signal in signals {
        install_handler(signal, ours)?;
    }
    Ok(())
}

/// See the Unix version: there are no signals here, so this always fails, saying so.
#[cfg(not(unix))]
pub fn flush_on_signals(signals: &[i32]) -> Result<(), SignalError> {
    let _ = signals;
    Err(SignalError::UnsupportedPlatform)
}

/// The handler of [`flush_on_signals`]: stores the signal for the drain, or — with no runtime
/// to act on it, or when one is already being handled — ends the process by the signal's
/// default action. Only async-signal-safe calls (atomics, `sigaction`, `raise`).
#[cfg(unix)]
extern "C" fn on_flush_signal(signal: libc::c_int) {
    use std::sync::atomic::Ordering::Relaxed;
    // Relaxed: flags; the drain polls them on every turn, and nothing else is published.
    if !FLUSH_ARMED.load(Relaxed) || FLUSH_SIGNAL.compare_exchange(0, signal, Relaxed, Relaxed).is_err() {
        raise_default(signal);
    }
}

/// Drain thread: the termination signal to act on, if one arrived. It stays set (a second
/// signal must find it set and end the process at once); the drain ends the process when it
/// acts on it. One load: the drain calls this on every turn.
pub(crate) fn flush_signal() -> Option<i32> {
    match FLUSH_SIGNAL.load(std::sync::atomic::Ordering::Relaxed) {
        0 => None,
        signal => Some(signal),
    }
}

/// Install and shutdown: whether a runtime's drain acts on termination signals now.
pub(crate) fn arm_flush(armed: bool) {
    FLUSH_ARMED.store(armed, std::sync::atomic::Ordering::Relaxed);
}

/// After a shutdown: a termination signal that arrived while the runtime was shutting down
/// (its drain no longer looking) ends the process now, as its default action would have.
pub(crate) fn raise_pending_flush_signal() {
    let signal = FLUSH_SIGNAL.load(std::sync::atomic::Ordering::Relaxed);
    if signal != 0 {
        end_by_signal(signal);
    }
}

/// Ends the process by `signal`'s default action (the drain, after the flush).
pub(crate) fn end_by_signal(signal: i32) -> ! {
    #[cfg(unix)]
    {
        raise_default(signal);
        // SAFETY: `_exit` ends the process at once; reached only if the default action did
        // not (it always does for the termination signals `flush_on_signals` accepts).
        unsafe { libc::_exit(128 + signal) }
    }
    #[cfg(not(unix))]
    std::process::exit(128 + signal)
}

/// Restores `signal`'s default action, unblocks it in this thread and raises it.
#[cfg(unix)]
fn raise_default(signal: i32) {
    // SAFETY: zeroed `sigaction`/`sigset_t` values are valid to pass; `sigaction`,
    // `sigemptyset`, `sigaddset`, `pthread_sigmask` and `raise` are async-signal-safe and get
    // pointers to locals that live across the calls.
    unsafe {
        let mut dfl: libc::sigaction = std::mem::zeroed();
        dfl.sa_sigaction = libc::SIG_DFL;
        libc::sigemptyset(&mut dfl.sa_mask);
        libc::sigaction(signal, &dfl, std::ptr::null_mut());
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, signal);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(signal);
    }
}

/// The handler `signal` has now.
#[cfg(unix)]
fn current_handler(signal: i32) -> Result<libc::sighandler_t, SignalError> {
    // SAFETY: `sigaction` with a null new action only reads the current one into `old`, a
    // zeroed, properly aligned `sigaction` struct that lives across the call.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::sigaction(signal, std::ptr::null(), &mut old) } != 0 {
        return Err(SignalError::Io(std::io::Error::last_os_error()));
    }
    Ok(old.sa_sigaction)
}

/// Installs `handler` (an `extern "C" fn(c_int)` that is async-signal-safe) for `signal`.
#[cfg(unix)]
fn install_handler(signal: i32, handler: libc::sighandler_t) -> Result<(), SignalError> {
    // SAFETY: `new` is a zeroed `sigaction` with a handler of the signature `sa_sigaction`
    // expects without SA_SIGINFO (`extern "C" fn(c_int)`, the callers' own), an empty mask
    // (`sigemptyset` on its own field) and SA_RESTART, so interrupted system calls in the
    // program resume. The handlers only use async-signal-safe calls.
    unsafe {
        let mut new: libc::sigaction = std::mem::zeroed();
        new.sa_sigaction = handler;
        new.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut new.sa_mask);
        if libc::sigaction(signal, &new, std::ptr::null_mut()) != 0 {
            return Err(SignalError::Io(std::io::Error::last_os_error()));
        }
    }
    Ok(())
}
