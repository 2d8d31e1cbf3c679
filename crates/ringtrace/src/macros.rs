//! The recording macros.
//!
//! ```text
//! info!("order {} filled at {}", id, price);
//! info!(target: "orders", side = "buy", qty = 10u32, "order {} filled", id);
//! warn!(error = %err, attempt = 3u8, "retrying");
//! debug!(state = ?snapshot);                       // fields only, no message
//! ```
//!
//! Fields (`key = value`) come first, then the message: a string literal in `std::fmt`
//! syntax and its positional arguments. Field values and message arguments must implement
//! [`Encode`](crate::Encode) (numbers, `bool`, `char`, strings, byte slices) and are copied
//! raw; `key = %value` captures `Display` text at the call site (and, for errors, the
//! `source()` chain), `key = ?value` captures `Debug` text. Message arguments of other types
//! are wrapped with [`display`](crate::display) or [`debug`](crate::debug).
//!
//! The format string is checked against the arguments at compile time (an unexecuted
//! `format_args!`), so a lazily formatted message is always one that would have compiled
//! eagerly. Only positional arguments are supported in the format string: implicit captures
//! (`"{id}"`) cannot be recorded lazily and render as the placeholder text.
//!
//! Each invocation expands to a `static` callsite (registered on first use), a level check
//! (one relaxed load), and a call to the recording path with a tuple of references.

/// Records an event at the given level. The level-named macros ([`error!`](crate::error),
/// [`warn!`](crate::warn), [`info!`](crate::info), [`debug!`](crate::debug!),
/// [`trace!`](crate::trace)) are shorthands for it.
///
/// ```
/// ringtrace::event!(ringtrace::Level::Info, qty = 3u32, "filled {}", 7u64);
/// ringtrace::event!(target: "audit", ringtrace::Level::Warn, "checked");
/// ```
///
/// Right after the level (and after `target:`), `rate: N` caps the callsite at N events per
/// second over all threads, and `sample: N` records one call of every N on each thread. What
/// they leave out is counted as `rate_limited` or `sampled`, not as a loss; the next event that
/// passes a rate limit carries `rate_limited = K` (the events this thread suppressed since).
/// `N` must be a constant. See [`Limit`](crate::Limit) and docs/backpressure.md.
///
/// ```
/// # let peer = "10.0.0.7";
/// ringtrace::warn!(rate: 10, "retrying {}", peer);
/// ringtrace::trace!(target: "poller", sample: 100, fd = 7u32, "polled");
/// ```
#[macro_export]
macro_rules! event {
    (target: $target:expr, $lvl:expr, rate: $r:expr, $($rest:tt)*) => {
        $crate::__event!(@parse $lvl, $target, $crate::Limit::Rate($r), [] $($rest)*)
    };
    (target: $target:expr, $lvl:expr, sample: $n:expr, $($rest:tt)*) => {
        $crate::__event!(@parse $lvl, $target, $crate::Limit::Sample($n), [] $($rest)*)
    };
    (target: $target:expr, $lvl:expr, $($rest:tt)*) => {
        $crate::__event!(@parse $lvl, $target, $crate::Limit::None, [] $($rest)*)
    };
    ($lvl:expr, rate: $r:expr, $($rest:tt)*) => {
        $crate::__event!(@parse $lvl, ::core::module_path!(), $crate::Limit::Rate($r), [] $($rest)*)
    };
    ($lvl:expr, sample: $n:expr, $($rest:tt)*) => {
        $crate::__event!(@parse $lvl, ::core::module_path!(), $crate::Limit::Sample($n), [] $($rest)*)
    };
    ($lvl:expr, $($rest:tt)*) => {
        $crate::__event!(@parse $lvl, ::core::module_path!(), $crate::Limit::None, [] $($rest)*)
    };
}

/// Parses fields then the message; see [`event!`](crate::event).
#[doc(hidden)]
#[macro_export]
macro_rules! __event {
    // `key = %value,` — eager Display (errors: with their source chain)
    (@parse $lvl:expr, $t:expr, $lim:expr, [$($f:tt)*] $k:ident = % $v:expr, $($rest:tt)*) => {
        $crate::__event!(@parse $lvl, $t, $lim, [$($f)* ($k, {
            #[allow(unused_imports)]
            use $crate::__private::{CaptureDisplay as _, CaptureError as _};
            (&&&$crate::__private::Capture(&$v)).__capture()
        })] $($rest)*)
    };
    (@parse $lvl:expr, $t:expr, $lim:expr, [$($f:tt)*] $k:ident = % $v:expr) => {
        $crate::__event!(@parse $lvl, $t, $lim, [$($f)*] $k = % $v,)
    };
    // `key = ?value,` — eager Debug
    (@parse $lvl:expr, $t:expr, $lim:expr, [$($f:tt)*] $k:ident = ? $v:expr, $($rest:tt)*) => {
        $crate::__event!(@parse $lvl, $t, $lim, [$($f)* ($k, $crate::__private::DebugArg(&$v))] $($rest)*)
    };
    (@parse $lvl:expr, $t:expr, $lim:expr, [$($f:tt)*] $k:ident = ? $v:expr) => {
        $crate::__event!(@parse $lvl, $t, $lim, [$($f)*] $k = ? $v,)
    };
    // `key = value,` — copied raw
    (@parse $lvl:expr, $t:expr, $lim:expr, [$($f:tt)*] $k:ident = $v:expr, $($rest:tt)*) => {
        $crate::__event!(@parse $lvl, $t, $lim, [$($f)* ($k, &$v)] $($rest)*)
    };
    (@parse $lvl:expr, $t:expr, $lim:expr, [$($f:tt)*] $k:ident = $v:expr) => {
        $crate::__event!(@parse $lvl, $t, $lim, [$($f)*] $k = $v,)
    };
    // the message
    (@parse $lvl:expr, $t:expr, $lim:expr, [$(($k:ident, $v:expr))*] $fmt:literal $(, $arg:expr)* $(,)?) => {
        $crate::__event!(@emit $lvl, $t, $lim, [$(($k, $v))*] $fmt, [$($arg),*])
    };
    // fields only
    (@parse $lvl:expr, $t:expr, $lim:expr, [$(($k:ident, $v:expr))*]) => {
        $crate::__event!(@emit $lvl, $t, $lim, [$(($k, $v))*] "", [])
    };
    (@emit $lvl:expr, $t:expr, $lim:expr, [$(($k:ident, $v:expr))*] $fmt:literal, [$($arg:expr),*]) => {{
        static __RINGTRACE_META: $crate::Metadata = $crate::Metadata {
            level: $lvl,
            target: $t,
            module_path: ::core::module_path!(),
            file: ::core::file!(),
            line: ::core::line!(),
            format: $fmt,
            fields: &[$(::core::stringify!($k)),*],
            kind: $crate::CallsiteKind::Event,
        };
        static __RINGTRACE_CALLSITE: $crate::Callsite = $crate::Callsite::limited(&__RINGTRACE_META, $lim);
        if $crate::__private::enabled($lvl) {
            if false {
                // Compile-time check that the format string fits the arguments.
                let _ = ::core::format_args!($fmt $(, $arg)*);
            }
            $crate::__private::record_event(&__RINGTRACE_CALLSITE, &(($($v,)*), ($(&$arg,)*)));
        }
    }};
}

/// Records an event at [`Level::Error`](crate::Level::Error). See [`event!`](crate::event).
///
/// ```
/// # #[derive(Debug)] struct E; impl std::fmt::Display for E { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("e") } } impl std::error::Error for E {}
/// let err = E;
/// ringtrace::error!(error = %err, "write failed after {} tries", 3u8);
/// ```
#[macro_export]
macro_rules! error {
    (target: $t:expr, $($rest:tt)*) => { $crate::event!(target: $t, $crate::Level::Error, $($rest)*) };
    ($($rest:tt)*) => { $crate::event!($crate::Level::Error, $($rest)*) };
}

/// Records an event at [`Level::Warn`](crate::Level::Warn). See [`event!`](crate::event).
#[macro_export]
macro_rules! warn {
    (target: $t:expr, $($rest:tt)*) => { $crate::event!(target: $t, $crate::Level::Warn, $($rest)*) };
    ($($rest:tt)*) => { $crate::event!($crate::Level::Warn, $($rest)*) };
}

/// Records an event at [`Level::Info`](crate::Level::Info). See [`event!`](crate::event).
///
/// ```
/// let (id, price) = (17u64, 101.25f64);
/// ringtrace::info!("order {} filled at {}", id, price);
/// ringtrace::info!(target: "orders", side = "buy", qty = 10u32, "order {} filled", id);
/// ```
#[macro_export]
macro_rules! info {
    (target: $t:expr, $($rest:tt)*) => { $crate::event!(target: $t, $crate::Level::Info, $($rest)*) };
    ($($rest:tt)*) => { $crate::event!($crate::Level::Info, $($rest)*) };
}

/// Records an event at [`Level::Debug`](crate::Level::Debug). See [`event!`](crate::event).
#[macro_export]
macro_rules! debug {
    (target: $t:expr, $($rest:tt)*) => { $crate::event!(target: $t, $crate::Level::Debug, $($rest)*) };
    ($($rest:tt)*) => { $crate::event!($crate::Level::Debug, $($rest)*) };
}

/// Records an event at [`Level::Trace`](crate::Level::Trace). See [`event!`](crate::event).
#[macro_export]
macro_rules! trace {
    (target: $t:expr, $($rest:tt)*) => { $crate::event!(target: $t, $crate::Level::Trace, $($rest)*) };
    ($($rest:tt)*) => { $crate::event!($crate::Level::Trace, $($rest)*) };
}

/// Binds key-value context to the current thread until the returned
/// [`ContextGuard`](crate::ContextGuard) is dropped: every event recorded meanwhile carries
/// it, as it was when the event was recorded. Values are copied when bound.
///
/// ```
/// let _ctx = ringtrace::with_context!(request_id = 42u64, user = "ada");
/// ringtrace::info!("handled");
/// ```
#[macro_export]
macro_rules! with_context {
    ($($k:ident = $v:expr),* $(,)?) => {{
        #[allow(unused_mut)]
        let mut __ringtrace_ctx = $crate::ContextGuard::__enter();
        $( __ringtrace_ctx.__bind(::core::stringify!($k), &$v); )*
        __ringtrace_ctx
    }};
}
