//! The record: what one call to a recording macro leaves in a ring.
//!
//! ```text
//!  0        2        4                 8                                16
//!  +--------+--------+-----------------+---------------------------------+
//!  | size   | flags  | id              | timestamp (ticks)               |
//!  | u16 LE | u16 LE | u32 LE          | u64 LE                          |
//!  +--------+--------+-----------------+---------------------------------+
//!  | payload: size − 16 bytes, then zero to seven bytes of padding        |
//!  +----------------------------------------------------------------------+
//! ```
//!
//! - `size` is the record's length in bytes including the header but not the padding; every
//!   record starts on an 8-byte boundary, so the next one starts at `align8(size)`.
//! - `flags` holds the [`RecordKind`] in its low 4 bits and the `FLAG_*` bits above.
//! - `id` is the callsite id for events, the caller's event id for raw records, 0 otherwise.
//! - Event payload: if `FLAG_CONTEXT`, a `u16` context length and that many bytes of bound
//!   context (repeated `u8` key length, key, tagged value); then the tagged field values (names
//!   come from the callsite), then the tagged message arguments (see `wire/value.rs`).
//! - Raw payload: the caller's bytes. Loss payload: see [`LossInfo`].
//!
//! The same record bytes are used in rings and in binary trace files (both padded to 8 bytes),
//! and in the drain's batches (unpadded, back to back).

/// Bytes in a record header.
pub const HEADER_LEN: usize = 16;

/// The largest record (header included): `size` is a `u16`.
pub const MAX_RECORD_LEN: usize = u16::MAX as usize;

/// Rounds a record size up to the 8-byte boundary the next record starts on.
#[inline(always)]
pub const fn align8(n: usize) -> usize {
    (n + 7) & !7
}

/// What a record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RecordKind {
    /// An event from a recording macro: a callsite id and encoded arguments.
    Event,
    /// An opaque payload from [`record_bytes`](crate::record_bytes).
    Raw,
    /// A loss record: a thread left a period in which it dropped events.
    Loss,
    /// Filler that skips to the end of a ring (never leaves the ring).
    Pad,
}

impl RecordKind {
    pub(crate) const fn bits(self) -> u16 {
        match self {
            RecordKind::Event => 1,
            RecordKind::Raw => 2,
            RecordKind::Loss => 3,
            RecordKind::Pad => 4,
        }
    }

    pub(crate) const fn from_bits(flags: u16) -> Option<Self> {
        Some(match flags & KIND_MASK {
            1 => RecordKind::Event,
            2 => RecordKind::Raw,
            3 => RecordKind::Loss,
            4 => RecordKind::Pad,
            _ => return None,
        })
    }

    /// A lowercase name for output formats.
    pub const fn as_str(self) -> &'static str {
        match self {
            RecordKind::Event => "event",
            RecordKind::Raw => "raw",
            RecordKind::Loss => "loss",
            RecordKind::Pad => "pad",
        }
    }
}

pub(crate) const KIND_MASK: u16 = 0x000f;
/// The payload starts with bound context.
pub(crate) const FLAG_CONTEXT: u16 = 1 << 4;
/// Some argument was cut short to fit `max_record_size` (best-effort serialization).
pub(crate) const FLAG_TRUNCATED: u16 = 1 << 5;

/// A decoded record header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub size: u16,
    pub flags: u16,
    pub id: u32,
    pub ts: u64,
}

impl Header {
    /// Reads a header from the first 16 bytes of `b`.
    #[inline]
    pub(crate) fn read(b: &[u8]) -> Option<Header> {
        Some(Header::from_bytes(b.get(..HEADER_LEN)?.try_into().ok()?))
    }

    /// Decodes the 16 bytes of a header.
    #[inline(always)]
    pub(crate) fn from_bytes(b: &[u8; HEADER_LEN]) -> Header {
        Header {
            size: u16::from_le_bytes([b[0], b[1]]),
            flags: u16::from_le_bytes([b[2], b[3]]),
            id: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            ts: u64::from_le_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]),
        }
    }

    /// The header as bytes.
    #[inline(always)]
    pub(crate) fn to_bytes(self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..2].copy_from_slice(&self.size.to_le_bytes());
        out[2..4].copy_from_slice(&self.flags.to_le_bytes());
        out[4..8].copy_from_slice(&self.id.to_le_bytes());
        out[8..16].copy_from_slice(&self.ts.to_le_bytes());
        out
    }

    #[inline(always)]
    pub(crate) fn kind(&self) -> Option<RecordKind> {
        RecordKind::from_bits(self.flags)
    }

    /// Whether the record is of kind `kind` (one mask and compare: the drain's per-record
    /// checks, without decoding the kind into an `Option`).
    #[inline(always)]
    pub(crate) fn is(&self, kind: RecordKind) -> bool {
        self.flags & KIND_MASK == kind.bits()
    }

    /// For a header read at ring position `pos`, `to_end` bytes before the end of the ring:
    /// the record's padded length if it is a known kind and lies whole inside the committed
    /// part `..tail`, else `None` (corruption). The one rule of every ring reader (the drain,
    /// snapshots, `flight::recover`).
    #[inline(always)]
    pub(crate) fn committed_len(&self, pos: u64, to_end: usize, tail: u64) -> Option<usize> {
        let len = align8(self.size as usize);
        // A known kind: its bits are 1..=4 (`RecordKind::from_bits`). `pos + len <= tail`,
        // written so that it cannot overflow (false for `pos >= tail`).
        let whole = (self.flags & KIND_MASK).wrapping_sub(1) < 4
            && self.size as usize >= HEADER_LEN
            && len <= to_end
            && len as u64 <= tail.saturating_sub(pos);
        whole.then_some(len)
    }
}

/// The records of a run copied out of rings (each header and payload padded to 8 bytes, as
/// in a ring), with their offsets in the run; stops at the first that does not fit.
pub(crate) fn padded_records(run: &[u8]) -> impl Iterator<Item = (usize, Header)> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        let h = Header::read(run.get(at..)?)?;
        let len = h.size as usize;
        if len < HEADER_LEN || at + len > run.len() {
            return None;
        }
        let item = (at, h);
        at += align8(len);
        Some(item)
    })
}

/// The payload of a loss record (R-BP-6): what a thread lost while it was dropping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LossInfo {
    /// Events dropped in the gap.
    pub events: u64,
    /// Bytes of those events (record sizes as they would have been stored).
    pub bytes: u64,
    /// When the gap opened (ticks): the first drop (the one clock read of the gap), or the
    /// oldest overwritten record under `DropOldest` (R-BP-6).
    pub first_ticks: u64,
    /// When the gap closed (ticks): when the loss record was written, just before the record
    /// that fitted after the gap (or when the drain reported the gap of a thread that exited,
    /// or at shutdown). A dropped event does not read the clock (R-BP-6).
    pub last_ticks: u64,
}

impl LossInfo {
    /// Bytes in an encoded loss payload.
    pub(crate) const LEN: usize = 32;

    pub(crate) fn to_bytes(self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[0..8].copy_from_slice(&self.events.to_le_bytes());
        out[8..16].copy_from_slice(&self.bytes.to_le_bytes());
        out[16..24].copy_from_slice(&self.first_ticks.to_le_bytes());
        out[24..32].copy_from_slice(&self.last_ticks.to_le_bytes());
        out
    }

    /// Adds another gap to this one (counts add up, the time span widens).
    /// The whole loss record for this gap: its header (timestamped with the gap's first
    /// tick) and this payload, 48 bytes (a multiple of 8: no padding).
    pub(crate) fn record(&self) -> [u8; HEADER_LEN + Self::LEN] {
        let h = Header {
            size: (HEADER_LEN + Self::LEN) as u16,
            flags: RecordKind::Loss.bits(),
            id: 0,
            ts: self.first_ticks,
        };
        let mut out = [0; HEADER_LEN + Self::LEN];
        out[..HEADER_LEN].copy_from_slice(&h.to_bytes());
        out[HEADER_LEN..].copy_from_slice(&self.to_bytes());
        out
    }

    pub(crate) fn merge(&mut self, o: LossInfo) {
        if o.events == 0 {
            return;
        }
        if self.events == 0 {
            *self = o;
            return;
        }
        self.events += o.events;
        self.bytes += o.bytes;
        self.first_ticks = self.first_ticks.min(o.first_ticks);
        self.last_ticks = self.last_ticks.max(o.last_ticks);
    }

    pub(crate) fn from_bytes(b: &[u8]) -> Option<Self> {
        let w = |i: usize| -> Option<u64> { Some(u64::from_le_bytes(b.get(i..i + 8)?.try_into().ok()?)) };
        Some(LossInfo { events: w(0)?, bytes: w(8)?, first_ticks: w(16)?, last_ticks: w(24)? })
    }
}

/// The key records of several threads are merged by: a thread's record timestamps made
/// non-decreasing (each raised to the key of the thread's previous record), so a merge by key,
/// ties going to the thread order, never reorders one thread's records — they stay in the
/// order they were recorded, whatever the clock said. The drain's merge, the trace reader's and
/// the flight recorder's (recovery, snapshots) all key records this way.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MergeKey(u64);

impl MergeKey {
    /// The key the thread's next record would get if its timestamp is `ts` (nothing taken).
    #[inline]
    pub(crate) fn peek(self, ts: u64) -> u64 {
        self.0.max(ts)
    }

    /// Takes `key`, which [`peek`](Self::peek) returned for the thread's next record.
    #[inline]
    pub(crate) fn take_peeked(&mut self, key: u64) {
        debug_assert!(key >= self.0);
        self.0 = key;
    }

    /// The key of the thread's next record, whose timestamp is `ts`.
    #[inline]
    pub(crate) fn take(&mut self, ts: u64) -> u64 {
        self.0 = self.0.max(ts);
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        let h = Header { size: 40, flags: RecordKind::Raw.bits() | FLAG_CONTEXT, id: 7, ts: 1 << 40 };
        let b = h.to_bytes();
        assert_eq!(Header::read(&b), Some(h));
        assert_eq!(h.kind(), Some(RecordKind::Raw));
        assert!(Header::read(&b[..15]).is_none());
    }

    #[test]
    fn align8_rounds_up() {
        assert_eq!(align8(16), 16);
        assert_eq!(align8(17), 24);
        assert_eq!(align8(MAX_RECORD_LEN), 65536);
    }

    #[test]
    fn loss_info_round_trips() {
        let l = LossInfo { events: 1, bytes: 2, first_ticks: 3, last_ticks: 4 };
        assert_eq!(LossInfo::from_bytes(&l.to_bytes()), Some(l));
        assert_eq!(LossInfo::from_bytes(&[0; 31]), None);
    }
}
