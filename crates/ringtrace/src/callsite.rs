//! Callsites: the static description of one recording macro invocation, registered once.
//!
//! # What is a callsite?
//!
//! Each `info!(…)` in the source expands to a `static` [`Callsite`] holding a `&'static`
//! [`Metadata`]: level, target, module, file, line, format string and field names. None of that
//! is copied into records. The first time a callsite records, it is registered in a
//! process-wide table and gets a `u32` id; every record stores that id, and the drain (or a
//! trace file's dictionary) maps it back to the metadata when formatting.
//!
//! The hot path pays one Acquire load of the id (a plain load on x86_64). Registration is a
//! cold path: claim the callsite with a CAS, take the next id, store the metadata pointer in
//! the table, publish the id.
//!
//! # The id table
//!
//! Lock-free and append-only: 27 buckets of doubling size (32, 64, 128, … entries), allocated
//! on first use with a CAS (the loser frees its allocation). An id never moves and an entry is
//! never overwritten, so lookups are two Acquire loads. Ids start at 1; 0 means "unregistered".
//!
//! Ordering: the registering thread stores the table entry (Release) before it publishes the
//! id (Release); a producer that loads the id (Acquire) and then publishes a record (Release on
//! the ring tail) therefore makes the table entry visible to the drain that reads the record
//! (Acquire on the tail).
//!
//! The table is process-global (callsites are `static`s), not per runtime; it uses `std`
//! atomics directly because it is outside the per-runtime protocols the loom models check.

use crate::level::Level;
use std::fmt;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};

/// What records of a callsite stand for: a point event, or one edge of a span (a named
/// interval, such as a `tracing` span). Timeline exports draw a span from its
/// [`SpanBegin`](CallsiteKind::SpanBegin) record to the [`SpanEnd`](CallsiteKind::SpanEnd)
/// record that follows it on the same thread, nested by order; the callsite's format string is
/// the span's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum CallsiteKind {
    /// A point event (every recording macro).
    #[default]
    Event = 0,
    /// The thread entered a span; the record's fields are the span's.
    SpanBegin = 1,
    /// The thread left the span most recently begun and not yet ended.
    SpanEnd = 2,
}

impl CallsiteKind {
    /// The kind with this numeric value (0–2).
    pub const fn from_u8(v: u8) -> Option<CallsiteKind> {
        Some(match v {
            0 => CallsiteKind::Event,
            1 => CallsiteKind::SpanBegin,
            2 => CallsiteKind::SpanEnd,
            _ => return None,
        })
    }

    /// `"event"`, `"begin"` or `"end"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            CallsiteKind::Event => "event",
            CallsiteKind::SpanBegin => "begin",
            CallsiteKind::SpanEnd => "end",
        }
    }
}

/// Everything static about a callsite. Built by the recording macros; integrations (a
/// `tracing` layer, a `log` backend) build their own and leak them.
#[derive(Debug)]
pub struct Metadata {
    /// The event's level.
    pub level: Level,
    /// The target (by default the module path).
    pub target: &'static str,
    /// The module path of the callsite.
    pub module_path: &'static str,
    /// The source file.
    pub file: &'static str,
    /// The source line.
    pub line: u32,
    /// The message's format string (`std::fmt` syntax, positional arguments only).
    pub format: &'static str,
    /// The names of the key-value fields, in the order their values are recorded (the field
    /// values come before the message arguments in the record).
    pub fields: &'static [&'static str],
    /// A point event or a span edge.
    pub kind: CallsiteKind,
}

/// How a callsite thins its events: none, at most N per second, or 1 of N per thread. Set by
/// the recording macros' `rate:` and `sample:` arguments ([`Callsite::limited`]); a callsite
/// without one may still get a rate from the configuration's per-target limits
/// ([`Config::target_rates`](crate::Config::target_rates)).
///
/// Suppressed events are not losses: they are counted as `rate_limited` or `sampled`
/// ([`Metrics`](crate::Metrics), [`DrainReport`](crate::DrainReport)), never as dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Every event is recorded.
    None,
    /// At most this many events per second of the recording clock, over all threads (0 is
    /// treated as no limit).
    Rate(u32),
    /// One event of every this many, counted per thread (the first, then every Nth; 0 and 1
    /// keep every event).
    Sample(u32),
}

/// A registered-once callsite: static metadata and its id (0 until first use).
///
/// The recording macros create one per invocation; you only need this type directly to
/// record through [`record_event`](crate::__private::record_event) from an integration.
pub struct Callsite {
    meta: &'static Metadata,
    /// 0: unregistered; `BUSY`: being registered; otherwise the id, with [`LIMITED`] set when
    /// the callsite has a limit in the installed runtime (its records take the limited path).
    word: AtomicU32,
    /// The macro's limit.
    limit: Limit,
    /// The rate in force (0: none): the macro's, else (if the macro gave no limit) the
    /// per-target rate of the installed runtime's configuration. Written at registration and
    /// at install (Relaxed: a hint that the id word's `LIMITED` bit orders nothing else); one
    /// load tells the limited path it has a rate.
    rate: AtomicU32,
    /// The rate window: `(second << 32) | events passed in it`, over all threads. Written only
    /// by events that pass (a chunk of passes per write), read only when a thread takes
    /// passes: a thread whose window is spent leaves it alone (`recording/limit.rs`).
    window: AtomicU64,
    /// This callsite's index in each thread's table of limit state (`u32::MAX`: none yet).
    slot: AtomicU32,
}

/// A callsite's id word while it is being registered.
pub(crate) const BUSY: u32 = u32::MAX;
/// Set in a callsite's id word when its records take the limited path.
pub(crate) const LIMITED: u32 = 1 << 31;

impl fmt::Debug for Callsite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Callsite")
            .field("meta", self.meta)
            .field("id", &self.id_word())
            .field("limit", &self.limit)
            .finish()
    }
}

impl Callsite {
    /// A callsite for `meta`, not yet registered.
    pub const fn new(meta: &'static Metadata) -> Self {
        Self::limited(meta, Limit::None)
    }

    /// A callsite for `meta` whose events are thinned by `limit` (the macros' `rate:` and
    /// `sample:`).
    pub const fn limited(meta: &'static Metadata, limit: Limit) -> Self {
        // A rate of 0 and a sample of 0 or 1 thin nothing: stored as no limit, so every later
        // check is one comparison with `Limit::None`.
        let limit = match limit {
            Limit::Rate(0) | Limit::Sample(0 | 1) => Limit::None,
            l => l,
        };
        Self {
            meta,
            word: AtomicU32::new(0),
            limit,
            rate: AtomicU32::new(match limit {
                Limit::Rate(r) => r,
                _ => 0,
            }),
            window: AtomicU64::new(0),
            slot: AtomicU32::new(u32::MAX),
        }
    }

    /// The metadata.
    pub fn metadata(&self) -> &'static Metadata {
        self.meta
    }

    /// The callsite's id, registering it on first use.
    #[inline(always)]
    pub fn id(&'static self) -> u32 {
        self.word() & !LIMITED
    }

    /// The id word (registering the callsite on first use): the id, with [`LIMITED`] set when
    /// the callsite's records take the limited path. One load and one compare on the hot path.
    #[inline(always)]
    pub(crate) fn word(&'static self) -> u32 {
        // Acquire: pairs with the Release store in `register`, so the table entry is visible
        // to whoever sees records carrying this id (module doc).
        let w = self.word.load(Ordering::Acquire);
        if w != 0 && w != BUSY {
            return w;
        }
        self.register()
    }

    /// The id word as it is (Acquire, as in [`word`](Self::word)): an unlimited registered
    /// callsite's id is in `1..LIMITED`; anything else (0, `BUSY`, `LIMITED` set) needs
    /// [`word`](Self::word).
    #[inline(always)]
    pub(crate) fn loaded_word(&self) -> u32 {
        self.word.load(Ordering::Acquire)
    }

    fn id_word(&self) -> u32 {
        self.word.load(Ordering::Relaxed)
    }

    /// The limit in force in the installed runtime: the macro's, else the configuration's
    /// per-target rate (never a rate of 0 or a sample of 0 or 1: those are `Limit::None`).
    #[inline(always)]
    pub(crate) fn limit(&self) -> Limit {
        match self.rate.load(Ordering::Relaxed) {
            0 => match self.limit {
                Limit::Sample(n) => Limit::Sample(n),
                _ => Limit::None,
            },
            r => Limit::Rate(r),
        }
    }

    /// Sets the rate in force from the configuration's per-target rate for this callsite's
    /// target (`rates`); the macro's own limit wins.
    fn apply_target_rate(&self, rates: &TargetRates) {
        let rate = match self.limit {
            Limit::Rate(r) => r,
            Limit::Sample(_) => 0,
            Limit::None => rates.rate_for(self.meta.target),
        };
        self.rate.store(rate, Ordering::Relaxed);
    }

    /// The rate window (see the field).
    #[inline(always)]
    pub(crate) fn window(&self) -> &AtomicU64 {
        &self.window
    }

    /// This callsite's index in the per-thread tables of limit state, assigned on first use.
    #[inline(always)]
    pub(crate) fn slot(&self) -> usize {
        let s = self.slot.load(Ordering::Relaxed);
        if s != u32::MAX {
            return s as usize;
        }
        let fresh = NEXT_SLOT.fetch_add(1, Ordering::Relaxed);
        match self.slot.compare_exchange(u32::MAX, fresh, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => fresh as usize,
            Err(won) => won as usize,
        }
    }

    #[cold]
    #[inline(never)]
    fn register(&'static self) -> u32 {
        loop {
            match self.word.compare_exchange(0, BUSY, Ordering::Acquire, Ordering::Acquire) {
                Ok(_) => {
                    let id = register_metadata(self.meta);
                    // Under the rates' lock, as `set_target_rates` works: a new runtime's rates
                    // reach this callsite either here or there.
                    let rates = TARGET_RATES.lock().unwrap_or_else(|e| e.into_inner());
                    self.apply_target_rate(&rates);
                    let w = id | if self.has_limit() { LIMITED } else { 0 };
                    // Release: publishes the table entry written by `register_metadata`.
                    self.word.store(w, Ordering::Release);
                    REGISTERED.lock().unwrap_or_else(|e| e.into_inner()).push(self);
                    drop(rates);
                    return w;
                }
                // Another thread is registering this callsite: a few instructions away.
                Err(BUSY) => std::hint::spin_loop(),
                Err(w) => return w,
            }
        }
    }

    fn has_limit(&self) -> bool {
        self.limit() != Limit::None
    }
}

/// Indices handed out by [`Callsite::slot`].
static NEXT_SLOT: AtomicU32 = AtomicU32::new(0);

/// Every callsite registered through [`Callsite::id`] (cold: once per callsite), so that a
/// runtime's per-target rates can be applied to callsites registered before it.
static REGISTERED: std::sync::Mutex<Vec<&'static Callsite>> = std::sync::Mutex::new(Vec::new());

/// Per-target rates (longest matching prefix wins), as the installed runtime configured them.
#[derive(Debug, Default)]
pub(crate) struct TargetRates(Vec<(String, u32)>);

impl TargetRates {
    /// Rates by target prefix.
    pub(crate) fn new(rates: impl IntoIterator<Item = (String, u32)>) -> Self {
        let mut v: Vec<(String, u32)> = rates.into_iter().collect();
        // Longest prefix first: the first match is the most specific.
        v.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        Self(v)
    }

    /// The rate for `target` (0: none). A prefix matches the whole target or a leading part
    /// of it that ends at a `::` (`"hyper"` matches `hyper` and `hyper::client`, not `hyperx`).
    pub(crate) fn rate_for(&self, target: &str) -> u32 {
        for (prefix, rate) in &self.0 {
            if let Some(rest) = target.strip_prefix(prefix.as_str()) {
                if rest.is_empty() || rest.starts_with("::") || prefix.is_empty() {
                    return *rate;
                }
            }
        }
        0
    }
}

/// The installed runtime's per-target rates (empty without a runtime).
static TARGET_RATES: std::sync::Mutex<TargetRates> = std::sync::Mutex::new(TargetRates(Vec::new()));

/// Applies `rates` (a new runtime's) to every callsite registered so far and to those
/// registered later. Cold: at install and shutdown.
pub(crate) fn set_target_rates(rates: TargetRates) {
    let mut current = TARGET_RATES.lock().unwrap_or_else(|e| e.into_inner());
    *current = rates;
    for c in REGISTERED.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        c.apply_target_rate(&current);
        let w = c.word.load(Ordering::Relaxed);
        let flag = if c.has_limit() { LIMITED } else { 0 };
        // Release: as in `register` (the id itself does not change).
        c.word.store((w & !LIMITED) | flag, Ordering::Release);
    }
}

const BUCKETS: usize = 27;
const FIRST_BUCKET: usize = 32;

static TABLE: [AtomicPtr<AtomicPtr<Metadata>>; BUCKETS] = [const { AtomicPtr::new(std::ptr::null_mut()) }; BUCKETS];
static NEXT_ID: AtomicU32 = AtomicU32::new(1);
/// The first id never handed out (see [`register_metadata`]).
const MAX_ID: u32 = LIMITED - 1;

/// (bucket, offset, bucket length) of an id.
fn locate(id: u32) -> Option<(usize, usize, usize)> {
    let v = id as usize + FIRST_BUCKET;
    let bucket = (usize::BITS - 1 - v.leading_zeros()) as usize - FIRST_BUCKET.trailing_zeros() as usize;
    if bucket >= BUCKETS {
        return None;
    }
    let len = FIRST_BUCKET << bucket;
    Some((bucket, v - len, len))
}

fn bucket(b: usize, len: usize) -> *mut AtomicPtr<Metadata> {
    // Acquire: pairs with the Release CAS below, so the bucket's null entries are visible.
    let cur = TABLE[b].load(Ordering::Acquire);
    if !cur.is_null() {
        return cur;
    }
    let fresh: Box<[AtomicPtr<Metadata>]> = (0..len).map(|_| AtomicPtr::new(std::ptr::null_mut())).collect();
    let fresh = Box::into_raw(fresh) as *mut AtomicPtr<Metadata>;
    match TABLE[b].compare_exchange(std::ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => fresh,
        Err(winner) => {
            // SAFETY: `fresh` came from Box::into_raw of a `len`-element slice and lost the race,
            // so nobody else has seen it.
            drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(fresh, len)) });
            winner
        }
    }
}

/// Registers metadata that is not tied to a `static` [`Callsite`] (integrations building
/// callsites at run time) and returns its id. Each call allocates a new id: call it once per
/// callsite and keep the id.
pub fn register_metadata(meta: &'static Metadata) -> u32 {
    let id = take_id(&NEXT_ID);
    let Some((b, off, len)) = locate(id).filter(|_| id != 0) else {
        // Two billion callsites: the table is full. Id 0 records render as "unknown".
        return 0;
    };
    let bucket = bucket(b, len);
    // SAFETY: off < len, the bucket's length.
    let slot = unsafe { &*bucket.add(off) };
    // Release: pairs with the Acquire in `lookup`.
    slot.store(meta as *const Metadata as *mut Metadata, Ordering::Release);
    // The observer (a flight-recorder pool file) describes the callsite before any record
    // can carry the id.
    let observer = *REGISTRATION_OBSERVER.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(observe) = observer {
        observe(id, meta);
    }
    id
}

/// The next id from `next`, 0 once `MAX_ID` is reached. Ids stay below `MAX_ID`: a
/// callsite's id word keeps its top bit for `LIMITED` (and `BUSY` is all ones). The counter is
/// checked before the increment, so it cannot wrap around to ids already handed out however
/// often registration is called once the table is full.
fn take_id(next: &AtomicU32) -> u32 {
    if next.load(Ordering::Relaxed) >= MAX_ID {
        return 0;
    }
    match next.fetch_add(1, Ordering::Relaxed) {
        id if id < MAX_ID => id,
        _ => 0,
    }
}

/// Told of every registration, between storing the table entry and returning the id
/// ([`observe_registrations`]).
type RegistrationObserver = fn(u32, &'static Metadata);

/// The installed observer. A mutex, not an atomic: a registration that finds no observer took
/// the lock before the observer was installed, so its entry is stored and its id is below
/// [`registered_below`] when the installer next looks (the installer's catch-up relies on it).
/// Registration is a cold path (once per callsite).
static REGISTRATION_OBSERVER: std::sync::Mutex<Option<RegistrationObserver>> = std::sync::Mutex::new(None);

/// Installs the observer every later registration calls with its id and metadata, replacing
/// any earlier one. The flight recorder installs one that describes callsites in the pool
/// file; this module does not know who listens. Registrations that ran before this returned
/// are not replayed: the installer catches up with [`registered_below`] and [`lookup`].
#[cfg_attr(feature = "loom", allow(dead_code))]
pub(crate) fn observe_registrations(observer: RegistrationObserver) {
    *REGISTRATION_OBSERVER.lock().unwrap_or_else(|e| e.into_inner()) = Some(observer);
}

/// Ids below this have been handed out (their entries may still be being stored).
#[cfg_attr(feature = "loom", allow(dead_code))]
pub(crate) fn registered_below() -> u32 {
    // Relaxed: the caller (`PoolFile::activate`) is ordered with registrations by a mutex.
    NEXT_ID.load(Ordering::Relaxed)
}

/// The metadata registered under `id`, if any.
pub fn lookup(id: u32) -> Option<&'static Metadata> {
    let (b, off, _) = locate(id)?;
    // Acquire: pairs with the Release CAS that installed the bucket.
    let bucket = TABLE[b].load(Ordering::Acquire);
    if bucket.is_null() {
        return None;
    }
    // SAFETY: buckets are never freed and `off` is within this bucket's length.
    let ptr = unsafe { &*bucket.add(off) }.load(Ordering::Acquire);
    // SAFETY: entries are `&'static Metadata` pointers or null.
    unsafe { ptr.as_ref() }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    static META: Metadata = Metadata {
        level: Level::Info,
        target: "t",
        module_path: "m",
        file: "f.rs",
        line: 1,
        format: "x {}",
        fields: &["a"],
        kind: CallsiteKind::Event,
    };
    static CS: Callsite = Callsite::new(&META);

    #[test]
    fn registers_once_and_looks_up() {
        let id = CS.id();
        assert_ne!(id, 0);
        assert_eq!(CS.id(), id);
        assert!(std::ptr::eq(lookup(id).unwrap(), &META));
        assert!(lookup(u32::MAX - 1).is_none());
    }

    #[test]
    fn ids_stop_below_the_limited_bit_and_never_wrap() {
        let next = AtomicU32::new(MAX_ID - 2);
        assert_eq!(take_id(&next), MAX_ID - 2);
        assert_eq!(take_id(&next), MAX_ID - 1);
        for _ in 0..1_000 {
            assert_eq!(take_id(&next), 0);
        }
        assert_eq!(next.load(Ordering::Relaxed), MAX_ID, "the counter stops at the limit");
        assert_eq!((MAX_ID - 1) | LIMITED, BUSY - 1, "a limited id word is never BUSY");
    }

    #[test]
    fn locate_covers_ids_contiguously() {
        assert_eq!(locate(1), Some((0, 1, 32)));
        assert_eq!(locate(31), Some((0, 31, 32)));
        assert_eq!(locate(32), Some((1, 0, 64)));
        assert_eq!(locate(95), Some((1, 63, 64)));
        assert_eq!(locate(96), Some((2, 0, 128)));
    }

    #[test]
    fn concurrent_registration_gives_distinct_ids() {
        let hs: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..500).map(|_| register_metadata(&META)).collect::<Vec<_>>()))
            .collect();
        let mut ids: Vec<u32> = hs.into_iter().flat_map(|h| h.join().unwrap()).collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n);
        assert!(ids.iter().all(|&id| lookup(id).is_some()));
    }

    #[test]
    fn level_parses_and_orders() {
        assert_eq!("Warning".parse::<Level>(), Ok(Level::Warn));
        assert!("loud".parse::<Level>().is_err());
        assert!(Level::Error < Level::Trace);
        assert_eq!(format!("{:>5}", Level::Info), " INFO");
    }
}
