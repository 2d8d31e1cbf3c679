//! The ring: a single-producer single-consumer byte ring of variable-length records.
//!
//! One ring is `S` bytes of the pool's mapping (`S` a power of two) plus a [`RingCtl`] with two
//! monotonically increasing byte positions:
//!
//! - `tail`: where the producer writes next. **Written only by the producer that owns the
//!   ring** (Release, in [`RingWriter::commit`]); read by the drain (Acquire, in
//!   [`RingCtl::consume`]). Publishing a record is this one Release store (R-CORE-1).
//! - `head`: where the drain reads next. **Written only by the drain** (Release, at the end of
//!   [`RingCtl::consume`]), except while the ring is out of everyone's hands (free in the pool,
//!   or reclaimed by its producer under `DropOldest`); read by the producer (Acquire) when its
//!   cached copy says the ring looks full.
//!
//! `tail − head` bytes are committed and unread. The producer may write only in
//! `[tail, head + S)`, the drain may read only in `[head, tail)`: the two regions never overlap,
//! which is what makes the plain (non-atomic) byte copies on both sides race-free.
//!
//! Records never straddle the end of the buffer. When a record does not fit before the end,
//! the producer skips to the start: if at least a header's worth (16 bytes) is left it writes a
//! `Pad` record covering it, otherwise (8 bytes left) both sides skip implicitly, because no
//! record can be shorter than 16 bytes. The producer keeps a cached copy of `head`
//! (`head_cache`) and reloads it only when the ring looks full (rtrb's `next_tail`), so the
//! common case touches no shared cache line but `tail`.
//!
//! Memory ordering, per operation:
//!
//! | who | operation | ordering | pairs with / why |
//! |---|---|---|---|
//! | producer | store `tail` | Release | the drain's Acquire load of `tail`: record bytes are visible before the position that covers them |
//! | drain | load `tail` | Acquire | the store above |
//! | drain | store `head` | Release | the producer's Acquire load of `head`: the drain's reads of the bytes finish before the producer may overwrite them |
//! | producer | load `head` | Acquire | the store above |

use crate::sync::{AccessTracker, AtomicU64, CachePadded, Ordering};
use crate::wire::record::{Header, RecordKind, HEADER_LEN};

/// The shared half of a ring: the two positions and (under loom) the access tracker.
#[derive(Debug)]
pub(crate) struct RingCtl {
    /// Next byte the producer writes. See the module doc.
    tail: CachePadded<AtomicU64>,
    /// Next byte the drain reads. See the module doc.
    head: CachePadded<AtomicU64>,
    /// Tells loom which words of the ring are read and written.
    tracker: AccessTracker,
}

/// What one [`RingCtl::consume`] call took out of a ring.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Consumed {
    /// Records passed to the callback.
    pub records: u64,
    /// Ring bytes released (records, padding and skips).
    pub bytes: u64,
    /// Records whose header was unreadable; the rest of the ring was skipped.
    pub corrupt: bool,
}

impl RingCtl {
    pub(crate) fn new(ring_size: usize) -> Self {
        Self {
            tail: CachePadded::new(AtomicU64::new(0)),
            head: CachePadded::new(AtomicU64::new(0)),
            tracker: AccessTracker::new(ring_size),
        }
    }

    /// Bytes committed and not yet consumed. A snapshot: both sides may move.
    pub(crate) fn used(&self) -> u64 {
        // Relaxed: an estimate for metrics and emptiness checks; the drain's real reads go
        // through `consume`, which orders properly.
        let head = self.head.load(Ordering::Relaxed);
        self.tail.load(Ordering::Relaxed).saturating_sub(head)
    }

    /// The producer's published position (a snapshot, for telling whether records arrived).
    pub(crate) fn tail_relaxed(&self) -> u64 {
        // Relaxed: compared with an earlier value only; real reads go through `consume`.
        self.tail.load(Ordering::Relaxed)
    }

    /// Whether the drain has consumed everything the producer published.
    pub(crate) fn is_drained(&self) -> bool {
        // Acquire on tail: if it shows new records, the caller will go on to consume them.
        let tail = self.tail.load(Ordering::Acquire);
        tail == self.head.load(Ordering::Relaxed)
    }

    /// Resets both positions to 0. Only for a ring that no producer and no drain is using
    /// (in the free list, or just reclaimed by its owner).
    pub(crate) fn reset(&self) {
        // Relaxed: the ring changes hands afterwards through a Release/Acquire pair (the free
        // list's push/pop, or the owner's store of its active ring), which publishes these.
        self.tail.store(0, Ordering::Relaxed);
        self.head.store(0, Ordering::Relaxed);
    }

    /// Drain side: passes every committed record in `[head, tail)` to `f` in order and then
    /// releases the space. Only the drain calls this, for a ring it is entitled to read (see
    /// `rings/slot.rs`, the read protocol, for who that is).
    ///
    /// # Safety
    ///
    /// `base` must point to this ring's `cap` bytes, `cap` must be the ring size, and the
    /// caller must be the ring's only consumer for the duration of the call.
    pub(crate) unsafe fn consume(&self, base: *const u8, cap: usize, mut f: impl FnMut(Header, &[u8])) -> Consumed {
        // SAFETY: the caller's contract is `walk`'s.
        let (out, pos) = unsafe { self.walk(base, cap, |_| true, |_, h, rec| f(h, rec)) };
        // Release: pairs with the producer's Acquire load of `head`; our reads above are done
        // before it may reuse the space.
        self.head.store(pos, Ordering::Release);
        out
    }

    /// Like [`consume`](Self::consume) but leaves `head` where it is: the records stay in the
    /// ring (snapshots). Returns what was read.
    ///
    /// # Safety
    ///
    /// As for `consume`; in addition no one may consume or reset the ring during the call
    /// (the snapshot holds the `reading` announcement, rings/slot.rs).
    pub(crate) unsafe fn peek(&self, base: *const u8, cap: usize, mut f: impl FnMut(Header, &[u8])) -> Consumed {
        // SAFETY: the caller's contract is `walk`'s.
        unsafe { self.walk(base, cap, |_| true, |_, h, rec| f(h, rec)) }.0
    }

    /// Drain side, for an active ring: like [`consume`](Self::consume), but only the records
    /// `take` accepts, from the oldest on; it stops at (and leaves in the ring) the first one
    /// it refuses. `f` gets each record's offset in the ring's memory too.
    ///
    /// # Safety
    ///
    /// As for `consume`.
    pub(crate) unsafe fn consume_while(
        &self,
        base: *const u8,
        cap: usize,
        take: impl FnMut(&Header) -> bool,
        f: impl FnMut(usize, Header, &[u8]),
    ) -> Consumed {
        // SAFETY: the caller's contract is `walk`'s.
        let (out, pos) = unsafe { self.walk(base, cap, take, f) };
        // Release: as in `consume`.
        self.head.store(pos, Ordering::Release);
        out
    }

    /// Drain side, for a ring it took from a chain (it owns the ring; no producer writes it):
    /// passes every committed record and its offset to `f`, without releasing anything (the
    /// ring goes back to the pool with `reset` when the drain is done with it). Returns what
    /// was read and the ring position reached (the end of the committed records, or the
    /// first unreadable header).
    ///
    /// # Safety
    ///
    /// As for `consume`, and the ring must be the drain's (taken from its chain).
    pub(crate) unsafe fn read_owned(
        &self,
        base: *const u8,
        cap: usize,
        f: impl FnMut(usize, Header, &[u8]),
    ) -> (Consumed, u64, u64) {
        // Acquire: as in `walk` (the ring's head, then its tail).
        let start = self.head.load(Ordering::Acquire);
        // SAFETY: the caller's contract is `walk`'s.
        let (out, pos) = unsafe { self.walk(base, cap, |_| true, f) };
        (out, start, pos)
    }

    /// Tells loom's access tracker that the drain reads `[off, off + len)` of the ring's
    /// memory (nothing without loom). For reads of a ring the drain owns, made after
    /// `read_owned` walked it.
    #[inline(always)]
    pub(crate) fn track_read(&self, off: usize, len: usize) {
        self.tracker.read(off, len);
    }

    /// The addresses of the two positions (for the pool file's self-description).
    #[cfg(not(feature = "loom"))]
    pub(crate) fn position_addrs(&self) -> (usize, usize) {
        (&*self.tail as *const AtomicU64 as usize, &*self.head as *const AtomicU64 as usize)
    }

    /// Reads the committed records in `[head, tail)` in order while `take` accepts them
    /// (padding is always passed over); returns what was read and the position reached.
    ///
    /// # Safety
    ///
    /// As for `consume`.
    unsafe fn walk(
        &self,
        base: *const u8,
        cap: usize,
        mut take: impl FnMut(&Header) -> bool,
        mut f: impl FnMut(usize, Header, &[u8]),
    ) -> (Consumed, u64) {
        // Acquire: `head` may have been reset by the ring's previous owner (see `reset`).
        let start = self.head.load(Ordering::Acquire);
        // Acquire: pairs with the producer's Release store in `commit`.
        let tail = self.tail.load(Ordering::Acquire);
        let mut pos = start;
        let mut out = Consumed::default();
        let header_at = |off: usize| {
            self.tracker.read(off, HEADER_LEN);
            // SAFETY: off + 16 <= cap (`next_record`), and [pos, tail) is committed and ours to
            // read (module doc).
            Header::from_bytes(unsafe { &*base.add(off).cast::<[u8; HEADER_LEN]>() })
        };
        loop {
            match next_record(cap, pos, tail, header_at) {
                Ok(None) => break,
                Err(_) => {
                    // A record that cannot be right (memory corruption by the process, or a
                    // bug): skip everything that is committed rather than read out of bounds.
                    out.corrupt = true;
                    pos = tail;
                    break;
                }
                Ok(Some((at, off, header, len))) => {
                    pos = at;
                    if !take(&header) {
                        break;
                    }
                    self.tracker.read(off, len);
                    // SAFETY: [off, off + len) lies inside the ring (`next_record` checked it)
                    // and is committed.
                    let rec = unsafe { std::slice::from_raw_parts(base.add(off), header.size as usize) };
                    f(off, header, rec);
                    out.records += 1;
                    pos += len as u64;
                }
            }
        }
        out.bytes = pos - start;
        (out, pos)
    }
}

#[cfg(any(test, feature = "loom"))]
impl RingWriter {
    /// Tests and loom models: publishes one event record with `payload` (id `id`, timestamp
    /// `id`), or returns `false` if the ring is full.
    pub(crate) fn push_event(&mut self, id: u32, payload: &[u8]) -> bool {
        let size = HEADER_LEN + payload.len();
        let Some(p) = self.reserve(crate::wire::record::align8(size)) else {
            return false;
        };
        let h = Header { size: size as u16, flags: RecordKind::Event.bits(), id, ts: id as u64 };
        // SAFETY: the reservation is `align8(size)` writable bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(h.to_bytes().as_ptr(), p, HEADER_LEN);
            std::ptr::copy_nonoverlapping(payload.as_ptr(), p.add(HEADER_LEN), payload.len());
        }
        self.commit(crate::wire::record::align8(size));
        true
    }
}

/// A record [`next_record`] found: its ring position, its offset in the ring's bytes, its
/// header and its length padded to 8.
pub(crate) type RecordAt = (u64, usize, Header, usize);

/// The one way through a ring's committed bytes, for every reader (the ring's own walk, the
/// drain over rings it holds, the flight recorder over a pool file): the first record at or
/// after position `pos` and before `end` (the committed end) in a ring of `cap` bytes (a power
/// of two), passing over pads and the implicit skip (fewer than 16 bytes before the ring's
/// end hold no record). `header(off)` reads the header at offset `off` (`off + 16 <= cap`).
/// `Ok(None)`: no record before `end`. `Err((pos, off, header))`: the header at `pos` cannot
/// be a committed record (an unknown kind, or a size that does not fit in the committed part
/// or before the ring's end): memory corruption or a bug.
#[inline(always)]
pub(crate) fn next_record(
    cap: usize,
    mut pos: u64,
    end: u64,
    mut header: impl FnMut(usize) -> Header,
) -> Result<Option<RecordAt>, (u64, usize, Header)> {
    let mask = cap as u64 - 1;
    while pos < end {
        let off = (pos & mask) as usize;
        let to_end = cap - off;
        if to_end < HEADER_LEN {
            pos = pos.saturating_add(to_end as u64);
            continue;
        }
        let h = header(off);
        let Some(len) = h.committed_len(pos, to_end, end) else { return Err((pos, off, h)) };
        if h.is(RecordKind::Pad) {
            pos += len as u64;
            continue;
        }
        return Ok(Some((pos, off, h, len)));
    }
    Ok(None)
}

/// The producer's half of its current ring: where the bytes are and the producer-private
/// copies of the positions. Owned by one thread.
#[derive(Debug)]
pub(crate) struct RingWriter {
    /// Start of the ring's bytes; null when the producer has no ring.
    base: *mut u8,
    /// The ring's shared positions; null when the producer has no ring.
    ctl: *const RingCtl,
    /// Ring size in bytes (power of two), 0 when there is no ring.
    cap: u64,
    /// The producer's position; `ctl.tail` lags it only between `reserve` and `commit`.
    tail: u64,
    /// Last value of `ctl.head` this producer loaded.
    head_cache: u64,
    /// The position past which the producer prefetches `ctl.head` (half the free space it
    /// knew of at its last refresh), so the refresh when the ring looks full finds the line
    /// in the cache instead of stalling a record on the drain's last write of it.
    prefetch_at: u64,
}

impl RingWriter {
    /// A writer without a ring: every `reserve` fails.
    pub(crate) const fn detached() -> Self {
        Self {
            base: std::ptr::null_mut(),
            ctl: std::ptr::null(),
            cap: 0,
            tail: 0,
            head_cache: 0,
            prefetch_at: u64::MAX,
        }
    }

    /// Starts writing into a ring.
    ///
    /// # Safety
    ///
    /// `base`/`cap` must describe the ring's bytes and `ctl` its control block, both alive
    /// while attached, and the caller must be the ring's only producer until it detaches.
    pub(crate) unsafe fn attach(&mut self, base: *mut u8, ctl: *const RingCtl, cap: usize) {
        // SAFETY: `ctl` is valid per the caller's contract.
        let c = unsafe { &*ctl };
        // Relaxed for tail: we are its only writer from now on, and the hand-over to us was a
        // Release/Acquire pair. Acquire for head: pairs with the drain's Release store.
        self.tail = c.tail.load(Ordering::Relaxed);
        self.head_cache = c.head.load(Ordering::Acquire);
        self.base = base;
        self.ctl = ctl;
        self.cap = cap as u64;
        self.plan_prefetch();
    }

    /// Sets where the next prefetch of `head` happens: halfway through the free space.
    fn plan_prefetch(&mut self) {
        let free = (self.head_cache + self.cap).saturating_sub(self.tail);
        self.prefetch_at = self.tail + free / 2;
    }

    /// Asks the CPU to bring `ctl.head`'s cache line in, without waiting for it (a hint: it
    /// loads nothing and orders nothing), then plans no other until the next refresh.
    #[cold]
    #[inline(never)]
    fn prefetch_head(&mut self) {
        self.prefetch_at = u64::MAX;
        // Elsewhere no prefetch: std has no portable prefetch hint, and the refresh that
        // follows simply takes the miss.
        #[cfg(all(target_arch = "x86_64", not(miri)))]
        if !self.ctl.is_null() {
            // SAFETY: `_mm_prefetch` is a hint that reads no memory (an address it cannot reach
            // is ignored); SSE is part of the x86_64 baseline. `ctl` is alive while attached.
            unsafe {
                let head = std::ptr::addr_of!((*self.ctl).head) as *const i8;
                core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(head);
            }
        }
    }

    /// Stops writing into the current ring (the caller hands it on).
    pub(crate) fn detach(&mut self) {
        *self = Self::detached();
    }

    /// Reserves `len` contiguous bytes (a multiple of 8, at least 16, at most half the ring)
    /// for one record and returns where to write it, or `None` if the ring is full. A skip to
    /// the start of the ring is written here but published only by `commit`.
    #[inline(always)]
    pub(crate) fn reserve(&mut self, len: usize) -> Option<*mut u8> {
        debug_assert!(len % 8 == 0 && len >= HEADER_LEN);
        let cap = self.cap;
        let off = self.tail & cap.wrapping_sub(1);
        let to_end = cap.wrapping_sub(off);
        let skip = if len as u64 > to_end { to_end } else { 0 };
        let need = skip + len as u64;
        if self.tail + need - self.head_cache > cap && !self.refresh_head(need) {
            return None;
        }
        if self.tail >= self.prefetch_at {
            self.prefetch_head();
        }
        if skip != 0 {
            self.write_skip(off as usize, skip as usize);
        }
        let off = (self.tail & (cap - 1)) as usize;
        // SAFETY: `ctl` is non-null because cap > 0 passed the space check above.
        unsafe { &*self.ctl }.tracker.write(off, len);
        // SAFETY: off + len <= cap (the record does not straddle the end, by the skip above),
        // and [tail, tail + len) is inside the producer's region [tail, head + cap).
        Some(unsafe { self.base.add(off) })
    }

    /// Whether [`reserve`](Self::reserve)`(len)` would succeed now (reloading `head` if the
    /// ring looks full), without reserving anything.
    #[inline]
    pub(crate) fn fits(&mut self, len: usize) -> bool {
        let cap = self.cap;
        let off = self.tail & cap.wrapping_sub(1);
        let to_end = cap.wrapping_sub(off);
        let need = if len as u64 > to_end { to_end } else { 0 } + len as u64;
        self.tail + need - self.head_cache <= cap || self.refresh_head(need)
    }

    /// Reloads `head` when the ring looks full; returns whether `need` bytes now fit.
    #[cold]
    #[inline(never)]
    fn refresh_head(&mut self, need: u64) -> bool {
        if self.ctl.is_null() {
            return false;
        }
        // SAFETY: non-null, alive while attached.
        let ctl = unsafe { &*self.ctl };
        // Acquire: pairs with the drain's Release store of `head` in `consume`.
        self.head_cache = ctl.head.load(Ordering::Acquire);
        self.plan_prefetch();
        self.tail + need - self.head_cache <= self.cap
    }

    /// Writes the skip from `off` to the end of the ring and advances the private tail.
    #[cold]
    fn write_skip(&mut self, off: usize, skip: usize) {
        if skip >= HEADER_LEN {
            let h = Header { size: skip as u16, flags: RecordKind::Pad.bits(), id: 0, ts: 0 };
            // SAFETY: attached (reserve checked), and the pad lies inside our region.
            unsafe {
                (*self.ctl).tracker.write(off, HEADER_LEN);
                std::ptr::copy_nonoverlapping(h.to_bytes().as_ptr(), self.base.add(off), HEADER_LEN);
            }
        }
        self.tail += skip as u64;
    }

    /// Publishes the record written into the last reservation; `len` is its padded length
    /// (at most the reserved length).
    #[inline(always)]
    pub(crate) fn commit(&mut self, len: usize) {
        self.tail += len as u64;
        // SAFETY: a reservation succeeded, so we are attached.
        let ctl = unsafe { &*self.ctl };
        // Release: pairs with the drain's Acquire load of `tail`; the record's bytes are
        // visible before the position that covers them (R-CORE-1: one Release store).
        ctl.tail.store(self.tail, crate::sync::weaken::ordering(crate::sync::Mutation::RingPublish, Ordering::Release));
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use crate::wire::record::{align8, FLAG_CONTEXT};

    struct TestRing {
        mem: Vec<u64>,
        /// Owned through a raw pointer, as the pool owns its control blocks: a `Box` moved
        /// with the struct would invalidate the writer's pointer (Stacked Borrows; Miri
        /// found it here).
        ctl_ptr: *mut RingCtl,
        w: RingWriter,
    }

    impl Drop for TestRing {
        fn drop(&mut self) {
            // SAFETY: from `Box::into_raw` in `new`, freed once, here.
            drop(unsafe { Box::from_raw(self.ctl_ptr) });
        }
    }

    impl TestRing {
        fn new(cap: usize) -> Self {
            let mut t = TestRing {
                mem: vec![0u64; cap / 8],
                ctl_ptr: Box::into_raw(Box::new(RingCtl::new(cap))),
                w: RingWriter::detached(),
            };
            let base = t.mem.as_mut_ptr() as *mut u8;
            // SAFETY: the Vec's buffer and the control block outlive the writer inside the
            // same struct and do not move (a Vec's buffer stays put when the Vec moves); this
            // test is the only producer.
            unsafe { t.w.attach(base, t.ctl_ptr, cap) };
            t
        }

        fn ctl(&self) -> &RingCtl {
            // SAFETY: alive until drop.
            unsafe { &*self.ctl_ptr }
        }

        fn push(&mut self, id: u32, payload: &[u8]) -> bool {
            self.w.push_event(id, payload)
        }

        fn drain(&self) -> Vec<(u32, Vec<u8>)> {
            let mut out = vec![];
            // SAFETY: test is the only consumer; mem is the ring's bytes.
            unsafe {
                self.ctl().consume(self.mem.as_ptr() as *const u8, self.mem.len() * 8, |h, rec| {
                    out.push((h.id, rec[HEADER_LEN..].to_vec()))
                })
            };
            out
        }
    }

    #[test]
    fn records_come_out_in_order_with_their_bytes() {
        let mut r = TestRing::new(256);
        assert!(r.push(1, b"abc"));
        assert!(r.push(2, b""));
        assert!(r.push(3, &[9; 20]));
        let got = r.drain();
        assert_eq!(got, vec![(1, b"abc".to_vec()), (2, vec![]), (3, vec![9; 20])]);
        assert!(r.ctl().is_drained());
        assert!(r.drain().is_empty());
    }

    #[test]
    fn fits_answers_what_reserve_would_do_without_reserving() {
        let mut r = TestRing::new(256);
        let mut refused = 0;
        for (step, payload) in [0usize, 8, 24, 48, 112, 200].iter().cycle().take(120).enumerate() {
            let len = align8(HEADER_LEN + payload);
            let fits = r.w.fits(len);
            // Asking does not reserve: asking twice gives the same answer.
            assert_eq!(r.w.fits(len), fits);
            assert_eq!(r.push(step as u32, &vec![1; *payload]), fits, "step {step}, {len} bytes");
            refused += usize::from(!fits);
            if step % 4 == 3 {
                r.drain();
            }
        }
        assert!(refused > 0, "the sequence must fill the ring and wrap around");
    }

    #[test]
    fn full_ring_refuses_until_drained() {
        let mut r = TestRing::new(128);
        let mut n = 0;
        while r.push(n, &[0; 16]) {
            n += 1;
        }
        assert_eq!(n, 4, "four 32-byte records fill 128 bytes");
        assert_eq!(r.drain().len(), 4);
        assert!(r.push(99, &[0; 16]));
    }

    #[test]
    fn wraps_with_pad_and_with_implicit_skip() {
        // 48-byte records in a 128-byte ring: the second lap needs a 32-byte pad record.
        let mut r = TestRing::new(128);
        for lap in 0..10u32 {
            assert!(r.push(lap * 2, &[lap as u8; 32]), "lap {lap}");
            assert!(r.push(lap * 2 + 1, &[lap as u8; 32]), "lap {lap}");
            let got = r.drain();
            assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), vec![lap * 2, lap * 2 + 1]);
            assert!(got.iter().all(|g| g.1 == vec![lap as u8; 32]));
        }
        // 8 bytes before the end: 120 = 5 × 24-byte records, then the next one skips 8 bytes.
        let mut r = TestRing::new(128);
        for i in 0..5 {
            assert!(r.push(i, &[1; 8]));
        }
        assert_eq!(r.drain().len(), 5);
        assert!(r.push(5, &[2; 8]));
        assert_eq!(r.drain(), vec![(5, vec![2; 8])]);
    }

    #[test]
    fn corrupt_header_skips_rest_without_panicking() {
        let mut r = TestRing::new(128);
        assert!(r.push(1, b"x"));
        // Corrupt the size field of the committed record.
        r.mem[0] = (3u64) | ((FLAG_CONTEXT as u64) << 16);
        // SAFETY: as in `drain`.
        let c = unsafe { r.ctl().consume(r.mem.as_ptr() as *const u8, 128, |_, _| panic!("no record")) };
        assert!(c.corrupt);
        assert!(r.ctl().is_drained());
    }
}
