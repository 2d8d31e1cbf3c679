//! The pool file's layout: magic, version, header offsets and region geometry.

/// The first 8 bytes of a pool file.
pub const POOL_MAGIC: [u8; 8] = *b"RTFLIGHT";
/// The pool-file format version this crate writes and reads.
pub const POOL_FORMAT_VERSION: u16 = 1;
/// Bytes of the header that this version defines.
pub const POOL_HEADER_LEN: usize = 152;
/// Where the regions of a pool file are aligned (and the size of the header page).
pub const POOL_PAGE: usize = 4096;
/// Dictionary bytes reserved in a pool file (callsite and thread descriptions).
pub const DICT_CAPACITY: usize = 1 << 20;
pub(super) const BYTE_ORDER: u32 = 0x0A0B_0C0D;
/// Bytes of per-ring metadata (owner thread id, sequence).
pub(super) const META_LEN: usize = 16;

/// `state` while the recording process runs.
pub(super) const STATE_OPEN: u64 = 1;
/// `state` after a clean shutdown.
pub(super) const STATE_CLOSED: u64 = 2;

pub(super) mod off {
    pub const VERSION: usize = 8;
    pub const HEADER_LEN: usize = 10;
    pub const BYTE_ORDER: usize = 12;
    pub const RING_COUNT: usize = 16;
    pub const RING_SIZE: usize = 20;
    pub const CTL_OFFSET: usize = 24;
    pub const CTL_STRIDE: usize = 32;
    pub const TAIL_OFFSET: usize = 36;
    pub const HEAD_OFFSET: usize = 38;
    pub const META_OFFSET: usize = 40;
    pub const RINGS_OFFSET: usize = 48;
    pub const DICT_OFFSET: usize = 56;
    pub const DICT_CAPACITY: usize = 64;
    pub const FILE_LEN: usize = 72;
    pub const ANCHOR_TICKS: usize = 80;
    pub const ANCHOR_UNIX_NS: usize = 88;
    pub const TICKS_PER_SEC: usize = 96;
    pub const PID: usize = 104;
    pub const DICT_LEN: usize = 112;
    pub const STATE: usize = 120;
    pub const DICT_DROPPED: usize = 128;
    pub const MAX_RECORD: usize = 136;
    pub const CREATED: usize = 144;
}

pub(super) fn page_up(n: u64) -> u64 {
    n.div_ceil(POOL_PAGE as u64) * POOL_PAGE as u64
}

/// Where each region of a pool file lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Geometry {
    pub(super) ring_count: u32,
    pub(super) ring_size: u32,
    pub(super) ctl_offset: u64,
    pub(super) ctl_stride: u32,
    pub(super) tail_offset: u16,
    pub(super) head_offset: u16,
    pub(super) meta_offset: u64,
    pub(super) rings_offset: u64,
    pub(super) dict_offset: u64,
    pub(super) dict_capacity: u64,
    pub(super) file_len: u64,
}

impl Geometry {
    /// The layout this build writes for `ring_count` rings of `ring_size` bytes.
    pub(super) fn new(
        ring_count: u32,
        ring_size: u32,
        ctl_stride: u32,
        tail_offset: u16,
        head_offset: u16,
    ) -> Option<Self> {
        let n = ring_count as u64;
        let ctl_offset = POOL_PAGE as u64;
        let meta_offset = page_up(ctl_offset.checked_add(n.checked_mul(ctl_stride as u64)?)?);
        let dict_offset = page_up(meta_offset.checked_add(n * META_LEN as u64)?);
        let dict_capacity = DICT_CAPACITY as u64;
        let rings_offset = page_up(dict_offset + dict_capacity);
        let file_len = rings_offset.checked_add(n.checked_mul(ring_size as u64)?)?;
        Some(Self {
            ring_count,
            ring_size,
            ctl_offset,
            ctl_stride,
            tail_offset,
            head_offset,
            meta_offset,
            rings_offset,
            dict_offset,
            dict_capacity,
            file_len,
        })
    }
}
