//! The pool file itself: a live `MAP_SHARED` mapping the pool's rings and control blocks live
//! in, and its dictionary (not under loom, whose atomics cannot live in a file).

use super::layout::*;
use crate::clock::ClockCalibration;
use crate::output::event::{CallsiteInfo, ThreadInfo};
use crate::output::trace_file;
use crate::rings::ring::RingCtl;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A pool file, mapped. See the module doc for the layout.
pub(crate) struct PoolFile {
    map: memmap2::MmapRaw,
    path: PathBuf,
    geometry: Geometry,
    /// Serialises dictionary appends (cold: once per callsite and per thread).
    dict: Mutex<()>,
}

impl fmt::Debug for PoolFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolFile").field("path", &self.path).field("len", &self.geometry.file_len).finish()
    }
}

/// The process's pool file, for callsite registrations (callsites are process-global).
static ACTIVE: Mutex<Option<Arc<PoolFile>>> = Mutex::new(None);

fn io_err(path: &Path, what: &str, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

impl PoolFile {
    /// Creates the file (mode 0600, space reserved), maps it and writes the header.
    pub(crate) fn create(
        path: &Path,
        ring_count: u32,
        ring_size: usize,
        max_record_size: usize,
        clock: &ClockCalibration,
    ) -> std::io::Result<Self> {
        let probe = RingCtl::new(ring_size);
        let base = &probe as *const RingCtl as usize;
        let (tail_at, head_at) = probe.position_addrs();
        let geometry = Geometry::new(
            ring_count,
            u32::try_from(ring_size).map_err(|_| std::io::Error::other("ring size over 4 GiB"))?,
            std::mem::size_of::<RingCtl>() as u32,
            (tail_at - base) as u16,
            (head_at - base) as u16,
        )
        .ok_or_else(|| std::io::Error::other("pool file size overflows"))?;
        // An earlier pool file goes to PATH.prev; anything else there is an error, and a
        // link is never followed (see flight/private_file.rs).
        crate::flight::private_file::move_aside(path, &POOL_MAGIC, "a ringtrace pool file")
            .map_err(|e| std::io::Error::new(e.kind(), format!("pool file: {e}")))?;
        let file = crate::flight::private_file::create_new(path)
            .map_err(|e| io_err(path, "cannot create the pool file", e))?;
        // posix_fallocate on Linux, writing the file elsewhere (platform/).
        if let Err(e) = crate::platform::preallocate(&file, geometry.file_len) {
            let _ = std::fs::remove_file(path);
            return Err(io_err(path, &format!("cannot reserve {} bytes for", geometry.file_len), e));
        }
        let map = memmap2::MmapOptions::new()
            .len(geometry.file_len as usize)
            .map_raw(&file)
            .map_err(|e| io_err(path, "cannot map", e))?;
        let pf = Self { map, path: path.to_path_buf(), geometry, dict: Mutex::new(()) };
        pf.write_header(max_record_size, clock);
        Ok(pf)
    }

    fn write_header(&self, max_record_size: usize, clock: &ClockCalibration) {
        let g = &self.geometry;
        let mut h = [0u8; POOL_HEADER_LEN];
        let mut put = |at: usize, bytes: &[u8]| h[at..at + bytes.len()].copy_from_slice(bytes);
        put(0, &POOL_MAGIC);
        put(off::VERSION, &POOL_FORMAT_VERSION.to_le_bytes());
        put(off::HEADER_LEN, &(POOL_HEADER_LEN as u16).to_le_bytes());
        put(off::BYTE_ORDER, &BYTE_ORDER.to_le_bytes());
        put(off::RING_COUNT, &g.ring_count.to_le_bytes());
        put(off::RING_SIZE, &g.ring_size.to_le_bytes());
        put(off::CTL_OFFSET, &g.ctl_offset.to_le_bytes());
        put(off::CTL_STRIDE, &g.ctl_stride.to_le_bytes());
        put(off::TAIL_OFFSET, &g.tail_offset.to_le_bytes());
        put(off::HEAD_OFFSET, &g.head_offset.to_le_bytes());
        put(off::META_OFFSET, &g.meta_offset.to_le_bytes());
        put(off::RINGS_OFFSET, &g.rings_offset.to_le_bytes());
        put(off::DICT_OFFSET, &g.dict_offset.to_le_bytes());
        put(off::DICT_CAPACITY, &g.dict_capacity.to_le_bytes());
        put(off::FILE_LEN, &g.file_len.to_le_bytes());
        put(off::ANCHOR_TICKS, &clock.anchor_ticks.to_le_bytes());
        put(off::ANCHOR_UNIX_NS, &clock.anchor_unix_ns.to_le_bytes());
        put(off::TICKS_PER_SEC, &clock.ticks_per_sec.to_le_bytes());
        put(off::PID, &(std::process::id() as u64).to_le_bytes());
        put(off::STATE, &STATE_OPEN.to_le_bytes());
        put(off::MAX_RECORD, &(max_record_size as u32).to_le_bytes());
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        put(off::CREATED, &now.to_le_bytes());
        // SAFETY: the mapping is at least a page long and nobody else uses the header yet.
        unsafe { std::ptr::copy_nonoverlapping(h.as_ptr(), self.map.as_mut_ptr(), POOL_HEADER_LEN) };
    }

    /// An 8-byte word of the file as an atomic.
    fn word(&self, at: u64) -> &AtomicU64 {
        debug_assert!(at % 8 == 0 && at + 8 <= self.geometry.file_len);
        // SAFETY: `at` is 8-aligned (the mapping is page-aligned) and inside the mapping,
        // which lives as long as `self`; every access to these words is atomic.
        unsafe { &*(self.map.as_mut_ptr().add(at as usize) as *const AtomicU64) }
    }

    /// The ring control blocks, which live in the file.
    pub(crate) fn ctl_ptr(&self) -> *const RingCtl {
        // SAFETY: ctl_offset + ring_count × stride lies inside the mapping (Geometry::new).
        unsafe { self.map.as_mut_ptr().add(self.geometry.ctl_offset as usize) as *const RingCtl }
    }

    /// The rings' bytes.
    pub(crate) fn rings_ptr(&self) -> *mut u8 {
        // SAFETY: rings_offset + ring_count × ring_size lies inside the mapping.
        unsafe { self.map.as_mut_ptr().add(self.geometry.rings_offset as usize) }
    }

    /// Notes that `thread` starts writing into `ring` as its `seq`-th ring. Called by the
    /// owning producer before it writes any record there.
    pub(crate) fn set_owner(&self, ring: u32, thread: u64, seq: u64) {
        let at = self.geometry.meta_offset + ring as u64 * META_LEN as u64;
        // Relaxed: only read after the process is gone (recovery) or by nobody; the ring's
        // records, written after this, are published by the Release store of its tail.
        self.word(at).store(thread, Ordering::Relaxed);
        self.word(at + 8).store(seq, Ordering::Relaxed);
    }

    /// Appends one dictionary chunk (complete CALLSITE or THREAD chunk bytes).
    fn append(&self, chunk: &[u8]) {
        let _g = self.dict.lock().unwrap_or_else(|e| e.into_inner());
        let len_word = self.word(off::DICT_LEN as u64);
        // Relaxed: appends are serialised by the mutex.
        let len = len_word.load(Ordering::Relaxed);
        if len + chunk.len() as u64 > self.geometry.dict_capacity {
            self.word(off::DICT_DROPPED as u64).fetch_add(1, Ordering::Relaxed);
            return;
        }
        // SAFETY: [dict_offset + len, + chunk.len()) is inside the dictionary region (checked
        // above) and past `dict_len`, so no reader treats it as complete yet; appends are
        // serialised by the mutex.
        unsafe {
            std::ptr::copy_nonoverlapping(
                chunk.as_ptr(),
                self.map.as_mut_ptr().add((self.geometry.dict_offset + len) as usize),
                chunk.len(),
            )
        };
        // Release: a reader that sees the new length sees the chunk's bytes.
        len_word.store(len + chunk.len() as u64, Ordering::Release);
    }

    /// Describes a callsite in the dictionary.
    pub(crate) fn describe_callsite(&self, id: u32, meta: &'static crate::Metadata) {
        let mut chunk = Vec::with_capacity(128);
        trace_file::write_callsite(&mut chunk, &CallsiteInfo::from_metadata(id, meta));
        self.append(&chunk);
    }

    /// Describes a thread in the dictionary.
    pub(crate) fn describe_thread(&self, info: &ThreadInfo) {
        let mut chunk = Vec::with_capacity(64);
        trace_file::write_thread(&mut chunk, info);
        self.append(&chunk);
    }

    /// Makes this the file callsite registrations are described in, and describes every
    /// callsite registered so far.
    pub(crate) fn activate(self: &Arc<Self>) {
        crate::callsite::observe_registrations(callsite_registered);
        let mut active = ACTIVE.lock().unwrap_or_else(|e| e.into_inner());
        *active = Some(self.clone());
        // Under the lock: a registration that did not see this file (it took the
        // observer's lock before it was installed, or this lock before us) has its id
        // counted in `registered_below()` and its entry stored.
        for id in 1..crate::callsite::registered_below() {
            if let Some(meta) = crate::callsite::lookup(id) {
                self.describe_callsite(id, meta);
            }
        }
    }

    /// Stops describing registrations in this file (shutdown).
    pub(crate) fn deactivate(self: &Arc<Self>) {
        let mut active = ACTIVE.lock().unwrap_or_else(|e| e.into_inner());
        if active.as_ref().is_some_and(|a| Arc::ptr_eq(a, self)) {
            *active = None;
        }
    }

    /// Marks the file as closed by a clean shutdown.
    pub(crate) fn mark_closed(&self) {
        // Release: after every record of the run.
        self.word(off::STATE as u64).store(STATE_CLOSED, Ordering::Release);
    }

    /// `msync(MS_SYNC)` of the whole file: returns once the kernel has written it to the
    /// device.
    pub(crate) fn sync(&self) -> std::io::Result<()> {
        self.map.flush()
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// The registration observer ([`crate::callsite::observe_registrations`]), called between
/// storing the table entry and returning the id, so the description is in the file before
/// any record carries the id.
fn callsite_registered(id: u32, meta: &'static crate::Metadata) {
    let active = ACTIVE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(f) = active.as_ref() {
        f.describe_callsite(id, meta);
    }
}

// SAFETY: `create` sizes the mapping from the geometry of `ring_count` rings of `ring_size`
// bytes (the counts the runtime makes the pool with) and zero-fills it, which is a valid
// `RingCtl` for every control block; the mapping lives as long as the `PoolFile`, and only the
// pool reaches the rings and control blocks (the dictionary and header lie apart from them).
unsafe impl crate::rings::pool::PoolJournal for PoolFile {
    fn rings_ptr(&self) -> *mut u8 {
        PoolFile::rings_ptr(self)
    }

    fn ctl_ptr(&self) -> *const RingCtl {
        PoolFile::ctl_ptr(self)
    }

    fn set_owner(&self, ring: u32, thread: u64, seq: u64) {
        PoolFile::set_owner(self, ring, thread, seq);
    }

    fn describe_thread(&self, info: &ThreadInfo) {
        PoolFile::describe_thread(self, info);
    }

    fn sync(&self) -> std::io::Result<()> {
        PoolFile::sync(self)
    }

    fn path(&self) -> &Path {
        PoolFile::path(self)
    }
}
