//! Acceptance: reading pool files (flight.rs `recover`). A valid file gives back every record
//! it holds; a truncated file, a wrong magic, a newer format version, an impossible header or
//! random garbage each give a clear error with the offset where it applies, never a panic;
//! damage inside the rings or the dictionary costs only the damaged part. A bounded,
//! deterministic fuzz loop mutates a real pool file and checks that neither `recover` nor the
//! trace reader on its output panics.
//!
//! One runtime per process: the valid sample file is recorded once (`sample()`) and every test
//! works on copies of its bytes.

// These tests use the real atomics and a real pool file; under `--features loom` only the loom
// models run.
#![cfg(not(feature = "loom"))]

use ringtrace::flight::{recover, recover_file, RecoverError, RecoverErrorKind, Recovery, POOL_FORMAT_VERSION};
use ringtrace::trace_file::TraceReader;
use ringtrace::RecordKind;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// The sample pool file.
// ---------------------------------------------------------------------------------------------

const RING_SIZE: usize = 4096;
const RING_COUNT: u32 = 8;
/// The recording threads: name and events. `flight-a` fills more than one ring, so the reader
/// has to put one thread's rings back in order.
const THREADS: [(&str, u64); 3] = [("flight-a", 200), ("flight-b", 50), ("flight-c", 50)];
const TOTAL_EVENTS: u64 = 300;

/// The bytes of a pool file written by a real runtime (recorded once per process).
fn sample() -> &'static [u8] {
    static SAMPLE: OnceLock<Vec<u8>> = OnceLock::new();
    SAMPLE.get_or_init(record_sample)
}

fn record_sample() -> Vec<u8> {
    let dir = std::env::temp_dir().join(format!("ringtrace-flight-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sample.pool");
    let _ = std::fs::remove_file(&path);
    let guard = ringtrace::Builder::new()
        .ignore_env()
        .ring_size(RING_SIZE)
        .ring_count(RING_COUNT)
        .max_rings_per_thread(4)
        .max_record_size(1024)
        .flight_recorder(true)
        .pool_file(&path)
        .install()
        .unwrap();
    // The threads stay alive until the runtime is shut down: in flight-recorder mode a live
    // thread's rings are left alone, so all of its records are in the file.
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let done_rx = std::sync::Arc::new(std::sync::Mutex::new(done_rx));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let handles: Vec<_> = THREADS
        .iter()
        .map(|&(name, n)| {
            let ready = ready_tx.clone();
            let done = done_rx.clone();
            std::thread::Builder::new()
                .name(name.into())
                .spawn(move || {
                    for i in 0..n {
                        ringtrace::info!(seq = i, "{} n {}", name, i);
                    }
                    ready.send(()).unwrap();
                    // Wait for the shutdown (the sender is dropped after it).
                    let _ = done.lock().unwrap().recv();
                })
                .unwrap()
        })
        .collect();
    for _ in &handles {
        ready_rx.recv().unwrap();
    }
    let report = guard.shutdown(Duration::from_secs(5));
    assert!(!report.timed_out, "{report:?}");
    assert_eq!(report.dropped.total(), 0, "{report:?}");
    drop(done_tx);
    for h in handles {
        h.join().unwrap();
    }
    let bytes = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    bytes
}

// ---------------------------------------------------------------------------------------------
// The layout, read from the header at the offsets the format documents (flight.rs).
// ---------------------------------------------------------------------------------------------

mod at {
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
    pub const TICKS_PER_SEC: usize = 96;
    pub const DICT_LEN: usize = 112;
    pub const STATE: usize = 120;
}

use ringtrace::flight::POOL_HEADER_LEN as HEADER_LEN;
const META_LEN: usize = 16;
const REC_HEADER: usize = ringtrace::HEADER_LEN;

fn rd16(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes(b[i..i + 2].try_into().unwrap())
}
fn rd32(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(b[i..i + 4].try_into().unwrap())
}
fn rd64(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[i..i + 8].try_into().unwrap())
}
fn wr16(b: &mut [u8], i: usize, v: u16) {
    b[i..i + 2].copy_from_slice(&v.to_le_bytes());
}
fn wr32(b: &mut [u8], i: usize, v: u32) {
    b[i..i + 4].copy_from_slice(&v.to_le_bytes());
}
fn wr64(b: &mut [u8], i: usize, v: u64) {
    b[i..i + 8].copy_from_slice(&v.to_le_bytes());
}

/// Where things are in a pool file (as usize file offsets).
#[derive(Debug, Clone, Copy)]
struct Layout {
    ring_count: usize,
    ring_size: usize,
    ctl_offset: usize,
    ctl_stride: usize,
    tail_offset: usize,
    head_offset: usize,
    meta_offset: usize,
    rings_offset: usize,
    dict_offset: usize,
    dict_capacity: usize,
    dict_len: usize,
    file_len: usize,
}

impl Layout {
    fn of(b: &[u8]) -> Self {
        Self {
            ring_count: rd32(b, at::RING_COUNT) as usize,
            ring_size: rd32(b, at::RING_SIZE) as usize,
            ctl_offset: rd64(b, at::CTL_OFFSET) as usize,
            ctl_stride: rd32(b, at::CTL_STRIDE) as usize,
            tail_offset: rd16(b, at::TAIL_OFFSET) as usize,
            head_offset: rd16(b, at::HEAD_OFFSET) as usize,
            meta_offset: rd64(b, at::META_OFFSET) as usize,
            rings_offset: rd64(b, at::RINGS_OFFSET) as usize,
            dict_offset: rd64(b, at::DICT_OFFSET) as usize,
            dict_capacity: rd64(b, at::DICT_CAPACITY) as usize,
            dict_len: rd64(b, at::DICT_LEN) as usize,
            file_len: rd64(b, at::FILE_LEN) as usize,
        }
    }
    /// File offset of ring `r`'s tail word.
    fn tail_at(&self, r: usize) -> usize {
        self.ctl_offset + r * self.ctl_stride + self.tail_offset
    }
    /// File offset of ring `r`'s head word.
    fn head_at(&self, r: usize) -> usize {
        self.ctl_offset + r * self.ctl_stride + self.head_offset
    }
    /// File offset of ring `r`'s owner word (its sequence follows).
    fn meta_at(&self, r: usize) -> usize {
        self.meta_offset + r * META_LEN
    }
    /// File offset of ring `r`'s first byte.
    fn ring_at(&self, r: usize) -> usize {
        self.rings_offset + r * self.ring_size
    }
    fn head(&self, b: &[u8], r: usize) -> u64 {
        rd64(b, self.head_at(r))
    }
    fn tail(&self, b: &[u8], r: usize) -> u64 {
        rd64(b, self.tail_at(r))
    }
    fn owner(&self, b: &[u8], r: usize) -> u64 {
        rd64(b, self.meta_at(r))
    }
    fn seq(&self, b: &[u8], r: usize) -> u64 {
        rd64(b, self.meta_at(r) + 8)
    }
    /// The file offsets of ring `r`'s committed records (pads skipped), walked independently
    /// of flight.rs. The sample's rings never wrap: head is 0.
    fn records(&self, b: &[u8], r: usize) -> Vec<usize> {
        let (head, tail) = (self.head(b, r) as usize, self.tail(b, r) as usize);
        assert!(head <= tail && tail <= self.ring_size, "ring {r}: head {head}, tail {tail}");
        let mut out = Vec::new();
        let mut pos = head;
        while pos < tail {
            let rec = self.ring_at(r) + pos;
            let size = rd16(b, rec) as usize;
            assert!(size >= REC_HEADER, "ring {r} record at {pos}: size {size}");
            if rd16(b, rec + 2) & 0xf != 4 {
                out.push(rec);
            }
            pos += size.div_ceil(8) * 8;
        }
        out
    }
    /// The rings with records, with their owner and sequence.
    fn used_rings(&self, b: &[u8]) -> Vec<(usize, u64, u64)> {
        (0..self.ring_count)
            .filter(|&r| self.tail(b, r) != self.head(b, r))
            .map(|r| (r, self.owner(b, r), self.seq(b, r)))
            .collect()
    }
    /// The rings no thread wrote into.
    fn unused_ring(&self, b: &[u8]) -> usize {
        (0..self.ring_count).find(|&r| self.tail(b, r) == 0 && self.head(b, r) == 0).expect("a free ring")
    }
}

/// The rings of the thread named `name`, in its order.
fn rings_of(b: &[u8], l: &Layout, name: &str) -> Vec<usize> {
    let rec = recover(b).unwrap().1;
    let id = rec.threads.iter().find(|t| t.name == name).unwrap_or_else(|| panic!("no thread {name}: {rec}")).id;
    let mut rings: Vec<_> = l.used_rings(b).into_iter().filter(|&(_, owner, _)| owner == id).collect();
    rings.sort_by_key(|&(_, _, seq)| seq);
    rings.into_iter().map(|(r, _, _)| r).collect()
}

// ---------------------------------------------------------------------------------------------
// Reading a recovered trace.
// ---------------------------------------------------------------------------------------------

/// One recovered event.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ev {
    kind: RecordKind,
    thread: String,
    ticks: u64,
    message: String,
    fields: String,
}

/// Every event of a trace, in file order; panics if the trace does not read to the end.
fn events(trace: &[u8]) -> Vec<Ev> {
    let mut out = Vec::new();
    let mut r = TraceReader::new(trace).expect("the recovered trace has a valid header");
    r.for_each_batch(|b| {
        for ev in b.iter() {
            let fields: Vec<_> = ev.fields().map(|(k, v)| format!("{k}={v}")).collect();
            out.push(Ev {
                kind: ev.kind(),
                thread: ev.thread().name.clone(),
                ticks: ev.ticks(),
                message: ev.message(),
                fields: fields.join(","),
            });
        }
    })
    .unwrap_or_else(|e| panic!("the recovered trace must read to the end: {e}"));
    out
}

/// The messages one thread recorded, in trace order.
fn messages_of(evs: &[Ev], thread: &str) -> Vec<String> {
    evs.iter().filter(|e| e.thread == thread).map(|e| e.message.clone()).collect()
}

fn expected_messages(thread: &str, range: impl Iterator<Item = u64>) -> Vec<String> {
    range.map(|i| format!("{thread} n {i}")).collect()
}

fn thread<'a>(rec: &'a Recovery, name: &str) -> &'a ringtrace::flight::RecoveredThread {
    rec.threads.iter().find(|t| t.name == name).unwrap_or_else(|| panic!("no thread {name} in\n{rec}"))
}

/// `recover`, with a panic turned into a test failure that names the case.
fn recover_no_panic(b: &[u8], case: &str) -> Result<(Vec<u8>, Recovery), RecoverError> {
    catch_unwind(AssertUnwindSafe(|| recover(b))).unwrap_or_else(|p| {
        let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
        panic!("recover panicked on {case}: {}", msg.unwrap_or_default())
    })
}

/// The error `recover` gives for `b` (it must give one).
fn recover_err(b: &[u8], case: &str) -> RecoverError {
    match recover_no_panic(b, case) {
        Ok((_, rec)) => panic!("{case}: recovered instead of failing:\n{rec}"),
        Err(e) => e,
    }
}

/// Asserts a `Corrupt` error at `offset` whose message contains `words`.
fn assert_corrupt(b: &[u8], case: &str, offset: u64, words: &str) {
    let e = recover_err(b, case);
    assert!(matches!(e.kind, RecoverErrorKind::Corrupt(_)), "{case}: {e:?}");
    assert_eq!(e.offset, offset, "{case}: {e}");
    let shown = e.to_string();
    assert!(shown.contains(&format!("offset {offset}")), "{case}: {shown}");
    assert!(shown.contains(words), "{case}: {shown:?} should mention {words:?}");
}

// ---------------------------------------------------------------------------------------------
// 1. A valid file.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_valid_file_recovers_every_event_once_in_order() {
    let b = sample();
    let (trace, rec) = recover_no_panic(b, "the valid sample").unwrap();
    assert!(rec.clean_shutdown, "{rec}");
    assert_eq!(rec.pid, std::process::id() as u64);
    assert_eq!(rec.records, TOTAL_EVENTS, "{rec}");
    assert!(rec.torn.is_empty(), "{rec}");
    assert!(rec.corrupt_rings.is_empty(), "{rec}");
    assert_eq!(rec.dictionary_dropped, 0);
    assert_eq!(rec.dictionary_cut_at, None);
    assert_eq!(rec.threads.len(), THREADS.len(), "{rec}");
    for (name, n) in THREADS {
        let t = thread(&rec, name);
        assert_eq!(t.events, n, "{rec}");
        assert_eq!((t.loss_records, t.reported_lost), (0, 0), "{rec}");
        assert!(t.first_unix_ns > 0 && t.first_unix_ns <= t.last_unix_ns, "{t:?}");
    }
    assert!(thread(&rec, "flight-a").rings >= 2, "flight-a fills more than one ring:\n{rec}");
    // The same count, walking the rings independently of flight.rs.
    let l = Layout::of(b);
    let walked: usize = l.used_rings(b).iter().map(|&(r, _, _)| l.records(b, r).len()).sum();
    assert_eq!(walked as u64, TOTAL_EVENTS);
    assert_eq!(thread(&rec, "flight-b").rings, 1);
    let shown = rec.to_string();
    assert!(shown.contains("recovered 300 records from 3 threads") && shown.contains("shut down cleanly"), "{shown}");

    let evs = events(&trace);
    assert_eq!(evs.len() as u64, TOTAL_EVENTS);
    for (name, n) in THREADS {
        // Each once, in recording order, the message and the field decoded.
        assert_eq!(messages_of(&evs, name), expected_messages(name, 0..n));
        let fields: Vec<_> = evs.iter().filter(|e| e.thread == name).map(|e| e.fields.clone()).collect();
        assert_eq!(fields, (0..n).map(|i| format!("seq={i}")).collect::<Vec<_>>());
    }
    assert!(evs.iter().all(|e| e.kind == RecordKind::Event));
    // All threads merged by timestamp.
    assert!(evs.windows(2).all(|w| w[0].ticks <= w[1].ticks), "not in timestamp order");
}

#[test]
fn recover_file_writes_the_same_trace_and_names_io_errors() {
    let dir = std::env::temp_dir().join(format!("ringtrace-flight-files-io-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (pool, out) = (dir.join("copy.pool"), dir.join("out.rtrace"));
    std::fs::write(&pool, sample()).unwrap();
    let rec = recover_file(&pool, &out).unwrap();
    let (trace, expected) = recover(sample()).unwrap();
    assert_eq!(rec, expected);
    assert_eq!(std::fs::read(&out).unwrap(), trace);

    let e = recover_file(dir.join("missing.pool"), dir.join("never.rtrace")).unwrap_err();
    assert!(matches!(e.kind, RecoverErrorKind::Io(_)), "{e:?}");
    assert_eq!(e.offset, 0);
    assert!(std::error::Error::source(&e).is_some());
    assert!(!dir.join("never.rtrace").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bytes_after_the_file_length_are_ignored() {
    let mut b = sample().to_vec();
    b.resize(b.len() + 5000, 0xA5);
    let (trace, rec) = recover_no_panic(&b, "trailing bytes").unwrap();
    assert_eq!(rec.records, TOTAL_EVENTS);
    assert_eq!(events(&trace).len() as u64, TOTAL_EVENTS);
}

// ---------------------------------------------------------------------------------------------
// 2. Truncated files.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_truncated_file_says_how_long_it_is_and_how_long_it_should_be() {
    let b = sample();
    let l = Layout::of(b);
    assert_eq!(l.file_len, b.len(), "the sample is exactly as long as its header says");
    let cuts = [
        (1, "inside the magic"),
        (7, "inside the magic"),
        (8, "after the magic"),
        (20, "inside the header fields"),
        (HEADER_LEN - 1, "one byte short of the header"),
        (HEADER_LEN, "right after the header"),
        (1000, "in the header page"),
        (l.ctl_offset + 8, "inside the ring control blocks"),
        (l.meta_offset + 3, "inside the ring owners"),
        (l.dict_offset + l.dict_len / 2, "inside the dictionary"),
        (l.rings_offset, "where the rings start"),
        (l.ring_at(1) + 100, "inside the rings"),
        (l.file_len - 1, "one byte short"),
    ];
    for (cut, case) in cuts {
        let e = recover_err(&b[..cut], case);
        let expected = if cut < HEADER_LEN { HEADER_LEN as u64 } else { l.file_len as u64 };
        match e.kind {
            RecoverErrorKind::Truncated { expected: x, actual } => {
                assert_eq!((x, actual), (expected, cut as u64), "{case} ({cut}): {e}")
            }
            _ => panic!("{case} ({cut}): {e:?}"),
        }
        assert_eq!(e.offset, cut as u64, "{case}: the offset is where the file ends");
        let shown = e.to_string();
        assert!(shown.contains("truncated"), "{case}: {shown}");
        assert!(shown.contains(&format!("has {cut} bytes")), "{case}: {shown}");
        assert!(shown.contains(&expected.to_string()), "{case}: {shown}");
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Not a pool file.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_wrong_magic_is_named_at_offset_0() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("first byte changed", {
            let mut b = sample().to_vec();
            b[0] ^= 0x20;
            b
        }),
        ("last magic byte changed", {
            let mut b = sample().to_vec();
            b[7] = b'X';
            b
        }),
        ("a binary trace instead of a pool file", {
            let mut b = ringtrace::trace_file::file_header(&ringtrace::ClockCalibration::new(0, 0, 1)).to_vec();
            b.resize(8192, 0);
            b
        }),
        ("a text file", b"hello, this is not a pool file\n".to_vec()),
        ("three bytes that are not a magic prefix", b"RTX".to_vec()),
        ("a zero page", vec![0; 4096]),
    ];
    for (case, b) in cases {
        let e = recover_err(&b, case);
        assert!(matches!(e.kind, RecoverErrorKind::BadMagic), "{case}: {e:?}");
        assert_eq!(e.offset, 0, "{case}");
        let shown = e.to_string();
        assert!(shown.contains("not a ringtrace pool file") && shown.contains("offset 0"), "{case}: {shown}");
    }
}

#[test]
fn an_empty_file_and_a_magic_prefix_are_truncated_pool_files() {
    for b in [&b""[..], &b"R"[..], &b"RTF"[..], &b"RTFLIGH"[..]] {
        let e = recover_err(b, &format!("{b:?}"));
        match e.kind {
            RecoverErrorKind::Truncated { expected, actual } => {
                assert_eq!((expected, actual), (HEADER_LEN as u64, b.len() as u64), "{e}")
            }
            _ => panic!("{b:?}: {e:?}"),
        }
        assert_eq!(e.offset, b.len() as u64);
        assert!(e.to_string().contains(&format!("has {} bytes", b.len())), "{e}");
    }
}

// ---------------------------------------------------------------------------------------------
// 4. A newer format version.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_newer_version_asks_for_a_newer_ringtrace() {
    for v in [POOL_FORMAT_VERSION + 1, u16::MAX] {
        let mut b = sample().to_vec();
        wr16(&mut b, at::VERSION, v);
        let e = recover_err(&b, "a newer version");
        assert!(matches!(e.kind, RecoverErrorKind::UnsupportedVersion(x) if x == v), "{e:?}");
        assert_eq!(e.offset, at::VERSION as u64);
        let shown = e.to_string();
        assert!(shown.contains(&format!("version {v}")) && shown.contains("offset 8"), "{shown}");
        assert!(shown.contains("newer ringtrace"), "{shown}");
    }
    // Even when the rest of the header is what this version would reject: the version is
    // the first thing a newer format may have changed.
    let mut b = sample().to_vec();
    wr16(&mut b, at::VERSION, POOL_FORMAT_VERSION + 1);
    wr32(&mut b, at::RING_SIZE, 1000);
    let e = recover_err(&b, "a newer version with a ring size this version rejects");
    assert!(matches!(e.kind, RecoverErrorKind::UnsupportedVersion(_)), "{e:?}");

    let mut b = sample().to_vec();
    wr16(&mut b, at::VERSION, 0);
    assert_corrupt(&b, "version 0", at::VERSION as u64, "version 0");
}

// ---------------------------------------------------------------------------------------------
// 5. Impossible headers.
// ---------------------------------------------------------------------------------------------

#[test]
fn the_other_byte_order_is_named_at_its_offset() {
    let mut b = sample().to_vec();
    let v = rd32(&b, at::BYTE_ORDER);
    wr32(&mut b, at::BYTE_ORDER, v.swap_bytes());
    let e = recover_err(&b, "byte order swapped");
    assert!(matches!(e.kind, RecoverErrorKind::WrongByteOrder), "{e:?}");
    assert_eq!(e.offset, at::BYTE_ORDER as u64);
    assert!(e.to_string().contains("byte order") && e.to_string().contains("offset 12"), "{e}");

    wr32(&mut b, at::BYTE_ORDER, 0xDEAD_BEEF);
    assert_corrupt(&b, "a garbage byte-order mark", at::BYTE_ORDER as u64, "0xdeadbeef");
}

#[test]
fn an_impossible_geometry_is_corrupt_at_the_field() {
    let l = Layout::of(sample());
    let file_len = l.file_len as u64;
    type Patch = Box<dyn Fn(&mut [u8])>;
    let cases: Vec<(&str, Patch, usize, String)> = vec![
        ("ring size not a power of two", Box::new(|b| wr32(b, at::RING_SIZE, 5000)), at::RING_SIZE, "5000".into()),
        ("ring size below 4096", Box::new(|b| wr32(b, at::RING_SIZE, 2048)), at::RING_SIZE, "2048".into()),
        ("ring size 0", Box::new(|b| wr32(b, at::RING_SIZE, 0)), at::RING_SIZE, "ring size 0".into()),
        ("header length too short", Box::new(|b| wr16(b, at::HEADER_LEN, 100)), at::HEADER_LEN, "100".into()),
        (
            "rings beyond the file length",
            Box::new(move |b| wr64(b, at::RINGS_OFFSET, file_len)),
            at::RINGS_OFFSET,
            "rings".into(),
        ),
        (
            "rings offset overflowing",
            Box::new(|b| wr64(b, at::RINGS_OFFSET, u64::MAX - 100)),
            at::RINGS_OFFSET,
            "rings".into(),
        ),
        (
            "control blocks inside the header",
            Box::new(|b| wr64(b, at::CTL_OFFSET, 0)),
            at::CTL_OFFSET,
            "control".into(),
        ),
        (
            "a ring count the file cannot hold",
            Box::new(|b| wr32(b, at::RING_COUNT, u32::MAX)),
            at::CTL_OFFSET,
            "control".into(),
        ),
        (
            "ring owners beyond the file length",
            Box::new(move |b| wr64(b, at::META_OFFSET, file_len - 8)),
            at::META_OFFSET,
            "owners".into(),
        ),
        (
            "a dictionary larger than the file",
            Box::new(move |b| wr64(b, at::DICT_CAPACITY, file_len)),
            at::DICT_OFFSET,
            "dictionary".into(),
        ),
        (
            "a control stride too small for the positions",
            Box::new(|b| wr32(b, at::CTL_STRIDE, 4)),
            at::CTL_STRIDE,
            "stride 4".into(),
        ),
        (
            "tail and head at the same place",
            Box::new(|b| {
                let t = rd16(b, at::TAIL_OFFSET);
                wr16(b, at::HEAD_OFFSET, t)
            }),
            at::CTL_STRIDE,
            "impossible".into(),
        ),
        (
            "a tail position beyond the control block",
            Box::new(|b| {
                let s = rd32(b, at::CTL_STRIDE);
                wr16(b, at::TAIL_OFFSET, s as u16)
            }),
            at::CTL_STRIDE,
            "impossible".into(),
        ),
        (
            "a clock of 0 ticks per second",
            Box::new(|b| wr64(b, at::TICKS_PER_SEC, 0)),
            at::TICKS_PER_SEC,
            "0 ticks".into(),
        ),
        (
            "a dictionary length beyond its capacity",
            Box::new(|b| {
                let cap = rd64(b, at::DICT_CAPACITY);
                wr64(b, at::DICT_LEN, cap + 1)
            }),
            at::DICT_LEN,
            "exceeds its capacity".into(),
        ),
    ];
    for (case, patch, offset, words) in cases {
        let mut b = sample().to_vec();
        patch(&mut b);
        assert_corrupt(&b, case, offset as u64, &words);
    }
}

#[test]
fn a_file_length_beyond_the_file_is_truncation() {
    for claimed in [sample().len() as u64 + 1, 1 << 40, u64::MAX] {
        let mut b = sample().to_vec();
        wr64(&mut b, at::FILE_LEN, claimed);
        let e = recover_err(&b, "a longer file length");
        assert!(
            matches!(e.kind, RecoverErrorKind::Truncated { expected, actual } if expected == claimed && actual == b.len() as u64),
            "{e:?}"
        );
        assert_eq!(e.offset, b.len() as u64);
        assert!(e.to_string().contains(&claimed.to_string()), "{e}");
    }
}

// ---------------------------------------------------------------------------------------------
// 6. Damage inside: the rest is recovered.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_tail_beyond_the_ring_size_costs_only_that_ring() {
    let l = Layout::of(sample());
    let ring = rings_of(sample(), &l, "flight-b")[0];
    for (case, head, tail) in [
        ("tail beyond the ring size", 0, 2 * l.ring_size as u64),
        ("tail before head", 4096, 8),
        ("tail near the end of the positions", 0, u64::MAX),
    ] {
        let mut b = sample().to_vec();
        wr64(&mut b, l.head_at(ring), head);
        wr64(&mut b, l.tail_at(ring), tail);
        let (trace, rec) = recover_no_panic(&b, case).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(rec.corrupt_rings.len(), 1, "{case}:\n{rec}");
        let c = &rec.corrupt_rings[0];
        assert_eq!((c.ring as usize, c.offset), (ring, l.tail_at(ring) as u64), "{case}: {c:?}");
        assert!(c.reason.contains(&tail.to_string()), "{case}: {c:?}");
        assert!(rec.to_string().contains(&format!("corrupt: ring {ring} at file offset {}", c.offset)), "{rec}");
        // The other threads' records are all there.
        assert_eq!(rec.records, TOTAL_EVENTS - 50, "{case}:\n{rec}");
        let evs = events(&trace);
        assert_eq!(messages_of(&evs, "flight-a"), expected_messages("flight-a", 0..200));
        assert_eq!(messages_of(&evs, "flight-c"), expected_messages("flight-c", 0..50));
        assert!(messages_of(&evs, "flight-b").is_empty());
    }
}

#[test]
fn a_garbage_record_header_keeps_the_records_before_it_and_the_other_rings() {
    let b0 = sample();
    let l = Layout::of(b0);
    let a_rings = rings_of(b0, &l, "flight-a");
    let first = a_rings[0];
    let recs = l.records(b0, first);
    let in_first = recs.len() as u64;
    let bad = recs[10];
    let cases: Vec<(&str, [u8; REC_HEADER])> = vec![
        ("all 0xEE", [0xEE; REC_HEADER]),
        ("all zero", [0; REC_HEADER]),
        ("a size below the header length", {
            let mut h = [0u8; REC_HEADER];
            h[..16].copy_from_slice(&b0[bad..bad + 16]);
            h[0..2].copy_from_slice(&8u16.to_le_bytes());
            h
        }),
        ("a size running past the tail", {
            let mut h = [0u8; REC_HEADER];
            h[..16].copy_from_slice(&b0[bad..bad + 16]);
            h[0..2].copy_from_slice(&4000u16.to_le_bytes());
            h
        }),
        ("a record kind that does not exist", {
            let mut h = [0u8; REC_HEADER];
            h[..16].copy_from_slice(&b0[bad..bad + 16]);
            h[2..4].copy_from_slice(&0x000fu16.to_le_bytes());
            h
        }),
    ];
    for (case, header) in cases {
        let mut b = b0.to_vec();
        b[bad..bad + REC_HEADER].copy_from_slice(&header);
        let (trace, rec) = recover_no_panic(&b, case).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(rec.corrupt_rings.len(), 1, "{case}:\n{rec}");
        let c = &rec.corrupt_rings[0];
        assert_eq!((c.ring as usize, c.offset), (first, bad as u64), "{case}: {c:?}");
        // Ten records of the damaged ring survive, and every other ring.
        let a_kept = 200 - (in_first - 10);
        assert_eq!(thread(&rec, "flight-a").events, a_kept, "{case}:\n{rec}");
        assert_eq!(rec.records, TOTAL_EVENTS - (in_first - 10), "{case}:\n{rec}");
        let evs = events(&trace);
        let expected: Vec<_> = expected_messages("flight-a", 0..10)
            .into_iter()
            .chain(expected_messages("flight-a", in_first..200))
            .collect();
        assert_eq!(messages_of(&evs, "flight-a"), expected, "{case}");
        assert_eq!(messages_of(&evs, "flight-b"), expected_messages("flight-b", 0..50), "{case}");
        assert_eq!(messages_of(&evs, "flight-c"), expected_messages("flight-c", 0..50), "{case}");
    }
}

#[test]
fn a_dictionary_length_into_garbage_keeps_the_complete_descriptions() {
    let b0 = sample();
    let l = Layout::of(b0);
    assert!(l.dict_len > 0 && l.dict_len + 64 <= l.dict_capacity);
    for (case, fill) in [("garbage", 0xEEu8), ("zeros", 0)] {
        let mut b = b0.to_vec();
        let end = l.dict_offset + l.dict_len;
        b[end..end + 64].fill(fill);
        wr64(&mut b, at::DICT_LEN, (l.dict_len + 64) as u64);
        let (trace, rec) = recover_no_panic(&b, case).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(rec.dictionary_cut_at, Some(end as u64), "{case}:\n{rec}");
        assert!(rec.to_string().contains(&format!("unreadable from file offset {end}")), "{rec}");
        assert!(rec.corrupt_rings.is_empty(), "{rec}");
        assert_eq!(rec.records, TOTAL_EVENTS);
        let evs = events(&trace);
        for (name, n) in THREADS {
            assert_eq!(messages_of(&evs, name), expected_messages(name, 0..n), "{case}");
        }
    }
}

#[test]
fn an_empty_malformed_dictionary_chunk_is_cut_off() {
    // A CALLSITE chunk with an empty body is malformed; the trace reader reports it at the
    // offset where its body would start, which is also where it ends. What the recovery keeps
    // of the dictionary must stop before it, or the recovered trace does not read.
    let b0 = sample();
    let l = Layout::of(b0);
    let first_end = 8 + rd32(b0, l.dict_offset + 4) as usize;
    for (case, at) in [("the first chunk", 0), ("the second chunk", first_end)] {
        let mut b = b0.to_vec();
        b[l.dict_offset + at..l.dict_offset + at + 8].copy_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
        let (trace, rec) = recover_no_panic(&b, case).unwrap();
        assert_eq!(rec.dictionary_cut_at, Some((l.dict_offset + at) as u64), "{case}:\n{rec}");
        assert_eq!(rec.records, TOTAL_EVENTS);
        assert_eq!(events(&trace).len() as u64, TOTAL_EVENTS, "{case}");
    }
}

#[test]
fn a_damaged_dictionary_start_still_recovers_every_record() {
    let b0 = sample();
    let l = Layout::of(b0);
    let mut b = b0.to_vec();
    b[l.dict_offset] = 0xEE; // an unknown chunk kind
    let (trace, rec) = recover_no_panic(&b, "a damaged first dictionary chunk").unwrap();
    assert_eq!(rec.dictionary_cut_at, Some(l.dict_offset as u64), "{rec}");
    assert_eq!(rec.records, TOTAL_EVENTS);
    // The threads lost their names and the callsites their formats, but every record is there.
    let evs = events(&trace);
    assert_eq!(evs.len() as u64, TOTAL_EVENTS);
    assert!(evs.iter().all(|e| e.thread.starts_with("thread-")), "{:?}", evs[0]);
    assert!(evs.iter().all(|e| e.message.starts_with("<unknown callsite")), "{:?}", evs[0]);
}

#[test]
fn a_crash_leaves_a_torn_tail_and_an_open_state() {
    let b0 = sample();
    let l = Layout::of(b0);
    let ring = rings_of(b0, &l, "flight-c")[0];
    let mut b = b0.to_vec();
    wr64(&mut b, at::STATE, 1);
    // A record being written at the tail when the process died: a plausible header, newer
    // than the last committed record, not yet published.
    let last = *l.records(b0, ring).last().unwrap();
    let tail_at = l.ring_at(ring) + l.tail(b0, ring) as usize;
    b.copy_within(last..last + REC_HEADER, tail_at);
    let ts = rd64(&b, tail_at + 8) + 1;
    wr64(&mut b, tail_at + 8, ts);
    let (trace, rec) = recover_no_panic(&b, "a torn tail").unwrap();
    assert!(!rec.clean_shutdown, "{rec}");
    assert!(rec.to_string().contains("did not shut down cleanly"), "{rec}");
    assert_eq!(rec.torn.len(), 1, "{rec}");
    assert_eq!((rec.torn[0].ring as usize, rec.torn[0].offset), (ring, tail_at as u64), "{rec}");
    assert_eq!(rec.torn[0].thread, thread(&rec, "flight-c").id);
    assert_eq!(rec.records, TOTAL_EVENTS, "the torn record is cut, the committed ones kept");
    assert_eq!(messages_of(&events(&trace), "flight-c"), expected_messages("flight-c", 0..50));
}

/// A ring reset for reuse (or written over from its start) still holds its earlier records
/// past the tail, and the tail can fall inside one of them: the 16 bytes there are payload
/// (here the bytes a `ringtrace demo --preset flight_recorder` pool file held at the tail of
/// a cleanly closed ring: the middle of an old event's bound context, `" \0\nreque"` read as
/// the timestamp). By chance they decode as an event header newer than the last record, but
/// no producer writes such a header (unknown flag bits, a size beyond `max_record_size` and
/// beyond the ring's free space): no torn tail.
#[test]
fn leftover_payload_at_the_tail_of_a_clean_ring_is_not_a_torn_tail() {
    let b0 = sample();
    let l = Layout::of(b0);
    let ring = rings_of(b0, &l, "flight-c")[0];
    let tail_at = l.ring_at(ring) + l.tail(b0, ring) as usize;
    let leftover: [u8; REC_HEADER] =
        [0x5e, 0x39, 0xd1, 0xe2, 0x7a, 0x12, 0x00, 0x00, 0x20, 0x00, 0x0a, 0x72, 0x65, 0x71, 0x75, 0x65];
    let mut b = b0.to_vec();
    b[tail_at..tail_at + REC_HEADER].copy_from_slice(&leftover);
    let (trace, rec) = recover_no_panic(&b, "leftover payload at a clean tail").unwrap();
    assert!(rec.clean_shutdown, "{rec}");
    assert!(rec.torn.is_empty(), "{rec}");
    assert!(rec.corrupt_rings.is_empty(), "{rec}");
    assert_eq!(rec.records, TOTAL_EVENTS);
    assert_eq!(messages_of(&events(&trace), "flight-c"), expected_messages("flight-c", 0..50));

    // Each implausible part alone is enough: a newer header with valid flags but a size
    // beyond `max_record_size` (1024 in the sample), or one with an unknown flag bit.
    let last = *l.records(b0, ring).last().unwrap();
    let last_ts = rd64(b0, last + 8);
    for (case, size, flags) in
        [("a size beyond max_record_size", 1025u16, 1u16), ("an unknown flag bit", 64, 1 | 1 << 8)]
    {
        let mut b = b0.to_vec();
        wr16(&mut b, tail_at, size);
        wr16(&mut b, tail_at + 2, flags);
        wr32(&mut b, tail_at + 4, 1);
        wr64(&mut b, tail_at + 8, last_ts + 1);
        let (_, rec) = recover_no_panic(&b, case).unwrap();
        assert!(rec.torn.is_empty(), "{case}: {rec}");
        assert_eq!(rec.records, TOTAL_EVENTS, "{case}");
    }
}

/// Writes `records` (each a whole record, header included) into the free ring `ring` as the
/// `seq`-th ring of thread `owner`.
fn write_ring(b: &mut [u8], l: &Layout, ring: usize, owner: u64, seq: u64, head: u64, records: &[Vec<u8>]) {
    let mut pos = head;
    for r in records {
        let at = l.ring_at(ring) + (pos % l.ring_size as u64) as usize;
        b[at..at + r.len()].copy_from_slice(r);
        pos = pos.wrapping_add(r.len().div_ceil(8) as u64 * 8);
    }
    wr64(b, l.meta_at(ring), owner);
    wr64(b, l.meta_at(ring) + 8, seq);
    wr64(b, l.head_at(ring), head);
    wr64(b, l.tail_at(ring), pos);
}

fn record(kind: u16, id: u32, ts: u64, payload: &[u8]) -> Vec<u8> {
    let mut r = Vec::with_capacity(REC_HEADER + payload.len());
    r.extend_from_slice(&((REC_HEADER + payload.len()) as u16).to_le_bytes());
    r.extend_from_slice(&kind.to_le_bytes());
    r.extend_from_slice(&id.to_le_bytes());
    r.extend_from_slice(&ts.to_le_bytes());
    r.extend_from_slice(payload);
    r
}

fn loss(events: u64) -> Vec<u8> {
    let mut p = Vec::new();
    for w in [events, events, 1, 2] {
        p.extend_from_slice(&w.to_le_bytes());
    }
    record(3, 0, 10, &p)
}

#[test]
fn a_ring_of_an_unknown_thread_with_odd_records_is_recovered_without_panicking() {
    let b0 = sample();
    let l = Layout::of(b0);
    let ring = l.unused_ring(b0);
    let mut b = b0.to_vec();
    let records = vec![
        record(1, 0xFFFF_FFF0, 5, &[0xFF; 9]), // an event of an unknown callsite, garbage arguments
        record(1, 1, 6, &[0xFE; 21]),          // a known callsite id, garbage arguments
        record(2, 77, 7, b"raw"),              // a raw record
        record(4, 0, 8, &[0; 16]),             // a pad (skipped)
        loss(3),                               // a loss record
        record(3, 0, 9, &[1, 2, 3]),           // a loss record too short for its report
    ];
    write_ring(&mut b, &l, ring, 999, 0, 0, &records);
    let (trace, rec) = recover_no_panic(&b, "odd records").unwrap();
    assert!(rec.corrupt_rings.is_empty(), "{rec}");
    let t = rec.threads.iter().find(|t| t.id == 999).unwrap_or_else(|| panic!("{rec}"));
    assert_eq!((t.events, t.loss_records, t.reported_lost), (3, 2, 3), "{t:?}");
    assert_eq!(rec.records, TOTAL_EVENTS + 5);
    let evs = events(&trace);
    let odd: Vec<_> = evs.iter().filter(|e| e.thread == "thread-999").collect();
    assert_eq!(odd.len(), 5, "{odd:?}");
    assert_eq!(odd[0].message, format!("<unknown callsite {}>", 0xFFFF_FFF0u32));
    assert_eq!(odd[2].message, "raw event 77 (3 bytes)");
    assert_eq!(odd[3].message, "lost 3 events (3 bytes)");
}

#[test]
fn loss_reports_that_add_up_past_u64_do_not_panic() {
    let b0 = sample();
    let l = Layout::of(b0);
    let ring = l.unused_ring(b0);
    let mut b = b0.to_vec();
    write_ring(&mut b, &l, ring, 999, 0, 0, &[loss(u64::MAX), loss(u64::MAX)]);
    let (trace, rec) = recover_no_panic(&b, "two loss records of u64::MAX events").unwrap();
    let t = rec.threads.iter().find(|t| t.id == 999).unwrap_or_else(|| panic!("{rec}"));
    assert_eq!(t.loss_records, 2);
    assert_eq!(t.reported_lost, u64::MAX, "the count saturates");
    assert_eq!(events(&trace).len() as u64, TOTAL_EVENTS + 2);
}

#[test]
fn positions_at_the_end_of_the_u64_range_do_not_panic() {
    let b0 = sample();
    let l = Layout::of(b0);
    let ring = l.unused_ring(b0);
    // Committed bytes [2^64 − 8, 2^64 − 1): the last 8 bytes of the ring, too few for a record
    // header, so the walk skips to the ring's end, position 2^64.
    let mut b = b0.to_vec();
    wr64(&mut b, l.meta_at(ring), 999);
    wr64(&mut b, l.head_at(ring), u64::MAX - 7);
    wr64(&mut b, l.tail_at(ring), u64::MAX);
    let (trace, rec) = recover_no_panic(&b, "positions at the end of the u64 range").unwrap();
    assert_eq!(rec.records, TOTAL_EVENTS, "{rec}");
    assert_eq!(events(&trace).len() as u64, TOTAL_EVENTS);

    assert!(rec.threads.iter().all(|t| t.id != 999), "{rec}");

    // A record that would end at position 2^64, one byte past the tail: not committed.
    let mut b = b0.to_vec();
    let head = u64::MAX - (l.ring_size as u64 - 1); // offset 0 in the ring
    write_ring(&mut b, &l, ring, 999, 0, head, &[record(2, 1, 5, &vec![0; l.ring_size - REC_HEADER])]);
    wr64(&mut b, l.tail_at(ring), u64::MAX);
    let (_, rec) = recover_no_panic(&b, "a record ending at position 2^64").unwrap();
    assert_eq!(rec.records, TOTAL_EVENTS, "{rec}");
    assert_eq!(rec.corrupt_rings.len(), 1, "{rec}");
    assert_eq!((rec.corrupt_rings[0].ring as usize, rec.corrupt_rings[0].offset), (ring, l.ring_at(ring) as u64));
}

// ---------------------------------------------------------------------------------------------
// 7. Randomized: mutations of a real file never make the reader panic.
// ---------------------------------------------------------------------------------------------

/// Iterations of the fuzz loop (at most; see `FUZZ_TIME`).
const FUZZ_ITERATIONS: u64 = 3000;
/// Wall time the fuzz loop may take: it only bounds the loop (a slow machine runs fewer
/// iterations), it never decides the outcome.
const FUZZ_TIME: Duration = Duration::from_secs(5);
/// The default seed; `FLIGHT_FUZZ_SEED=<n>` replaces it (and `FLIGHT_FUZZ_ITER=<i>` runs only
/// iteration `i`, to reproduce a failure).
const FUZZ_SEED: u64 = 0x5EED_F1E6_0000_0001;

/// xorshift64*: small, deterministic, no dependency.
struct Rng(u64);

impl Rng {
    /// The generator of iteration `i` of a run with `seed` (splitmix64 of both, never 0).
    fn for_iteration(seed: u64, i: u64) -> Self {
        let mut z = seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform-ish in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// In `lo..hi` (`lo` < `hi`).
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo)
    }
    fn fill(&mut self, b: &mut [u8]) {
        for c in b.chunks_mut(8) {
            let w = self.next().to_le_bytes();
            c.copy_from_slice(&w[..c.len()]);
        }
    }
    /// A value that is often on a boundary: 0, 1, all ones, a power of two or a neighbour of
    /// `near`, else random.
    fn interesting(&mut self, near: u64) -> u64 {
        match self.below(8) {
            0 => 0,
            1 => 1,
            2 => u64::MAX - self.below(16) as u64,
            3 => 1 << self.below(64),
            4 | 5 => near.wrapping_add(self.below(33) as u64).wrapping_sub(16),
            _ => self.next(),
        }
    }
}

/// Header fields and their widths, for setting one to an interesting value.
const FIELDS: [(usize, usize); 24] = [
    (at::VERSION, 2),
    (at::HEADER_LEN, 2),
    (at::BYTE_ORDER, 4),
    (at::RING_COUNT, 4),
    (at::RING_SIZE, 4),
    (at::CTL_OFFSET, 8),
    (at::CTL_STRIDE, 4),
    (at::TAIL_OFFSET, 2),
    (at::HEAD_OFFSET, 2),
    (at::META_OFFSET, 8),
    (at::RINGS_OFFSET, 8),
    (at::DICT_OFFSET, 8),
    (at::DICT_CAPACITY, 8),
    (at::FILE_LEN, 8),
    (80, 8), // anchor_ticks
    (88, 8), // anchor_unix_ns
    (at::TICKS_PER_SEC, 8),
    (104, 8), // pid
    (at::DICT_LEN, 8),
    (at::STATE, 8),
    (128, 8), // dict_dropped
    (136, 4), // max_record_size
    (140, 4), // reserved
    (144, 8), // created_unix_ns
];

/// Applies one random mutation to `b` (a copy of the sample) and says what it did.
fn mutate(rng: &mut Rng, b: &mut Vec<u8>, l: &Layout) -> String {
    let flip = |rng: &mut Rng, b: &mut Vec<u8>, lo: usize, hi: usize, what: &str| {
        let hi = hi.min(b.len());
        if lo >= hi {
            return format!("nothing to flip in {what}");
        }
        let n = rng.range(1, 9);
        let mut at = Vec::new();
        for _ in 0..n {
            let i = rng.range(lo, hi);
            b[i] = match rng.below(3) {
                0 => b[i] ^ (1 << rng.below(8)),
                1 => rng.next() as u8,
                _ => [0, 0xFF, 0x80, 0x7F][rng.below(4)],
            };
            at.push(i);
        }
        format!("set bytes {at:?} of {what}")
    };
    if b.len() < l.file_len {
        // An earlier step cut or replaced the file: the layout no longer applies.
        let len = b.len();
        return flip(rng, b, 0, len, "what is left");
    }
    let ctl_end = l.ctl_offset + l.ring_count * l.ctl_stride;
    let meta_end = l.meta_offset + l.ring_count * META_LEN;
    let dict_end = l.dict_offset + l.dict_len + 32;
    match rng.below(12) {
        0 => flip(rng, b, 0, HEADER_LEN, "the header"),
        1 => flip(rng, b, l.ctl_offset, ctl_end, "the control blocks"),
        2 => flip(rng, b, l.meta_offset, meta_end, "the ring owners"),
        3 => flip(rng, b, l.dict_offset, dict_end, "the dictionary"),
        4 => flip(rng, b, l.rings_offset, l.file_len, "the rings"),
        5 => {
            let (at, width) = FIELDS[rng.below(FIELDS.len())];
            let cur = match width {
                2 => rd16(b, at) as u64,
                4 => rd32(b, at) as u64,
                _ => rd64(b, at),
            };
            let v = rng.interesting(cur);
            b[at..at + width].copy_from_slice(&v.to_le_bytes()[..width]);
            format!("set the header field at {at} to {v:#x}")
        }
        6 => {
            let r = rng.below(l.ring_count);
            let (cur_h, cur_t) = (l.head(b, r), l.tail(b, r));
            let (h, t) = match rng.below(3) {
                0 => (cur_h, rng.interesting(cur_t)),
                1 => (rng.interesting(cur_h), cur_t),
                _ => {
                    let h = rng.interesting(cur_h);
                    (h, h.wrapping_add(rng.below(l.ring_size + 9) as u64))
                }
            };
            wr64(b, l.head_at(r), h);
            wr64(b, l.tail_at(r), t);
            format!("set ring {r}'s head to {h:#x} and tail to {t:#x}")
        }
        7 => {
            // Plausible records of random kinds and sizes with random payloads in a ring,
            // committed from a random position: the walk, the loss accounting and the
            // event decoding all meet garbage.
            let r = rng.below(l.ring_count);
            let head = match rng.below(3) {
                0 => 0,
                1 => rng.below(4 * l.ring_size) as u64 & !7,
                _ => u64::MAX - rng.below(2 * l.ring_size) as u64,
            };
            let mut pos = head;
            let mut n = 0;
            while rng.below(12) != 0 {
                let off = (pos % l.ring_size as u64) as usize;
                let size = rng.range(REC_HEADER, 200.min(l.ring_size - off).max(REC_HEADER + 1));
                let at = l.ring_at(r) + off;
                if at + size > l.ring_at(r) + l.ring_size {
                    break;
                }
                rng.fill(&mut b[at..at + size]);
                wr16(b, at, size as u16);
                wr16(b, at + 2, rng.below(6) as u16 | (rng.below(4) as u16) << 4);
                if rng.below(2) == 0 {
                    wr32(b, at + 4, rng.below(8) as u32); // a real callsite id, likely
                }
                pos = pos.wrapping_add(size.div_ceil(8) as u64 * 8);
                n += 1;
            }
            let tail = if rng.below(4) == 0 { pos.wrapping_add(rng.below(64) as u64) } else { pos };
            wr64(b, l.head_at(r), head);
            wr64(b, l.tail_at(r), tail);
            wr64(b, l.meta_at(r), rng.below(6) as u64);
            wr64(b, l.meta_at(r) + 8, rng.below(4) as u64);
            format!("wrote {n} random records into ring {r}, head {head:#x}, tail {tail:#x}")
        }
        8 => {
            let cut = match rng.below(3) {
                0 => rng.below(HEADER_LEN + 1),
                _ => rng.below(b.len() + 1),
            };
            b.truncate(cut);
            format!("truncated to {cut} bytes")
        }
        9 => {
            let n = match rng.below(3) {
                0 => rng.below(16),
                1 => rng.below(HEADER_LEN * 2),
                _ => rng.below(1 << 16),
            };
            b.resize(n, 0);
            rng.fill(b);
            format!("replaced by {n} bytes of garbage")
        }
        10 => {
            // Garbage after a valid magic and version (and, often, byte-order mark).
            let keep = if rng.below(2) == 0 { 10 } else { 16 };
            let n = match rng.below(2) {
                0 => rng.range(keep, HEADER_LEN * 2),
                _ => rng.range(keep, l.file_len + 1),
            };
            b.truncate(n);
            rng.fill(&mut b[keep..]);
            format!("kept the first {keep} bytes, {} bytes of garbage after", n - keep)
        }
        _ => {
            // The header kept, garbage in a whole region behind it.
            let (lo, hi, what) = match rng.below(4) {
                0 => (l.ctl_offset, ctl_end, "control blocks"),
                1 => (l.meta_offset, meta_end, "ring owners"),
                2 => (l.dict_offset, dict_end, "dictionary"),
                _ => (l.rings_offset, l.file_len, "rings"),
            };
            rng.fill(&mut b[lo..hi]);
            format!("filled the {what} [{lo}, {hi}) with garbage")
        }
    }
}

/// What one fuzz case came to (for the summary).
#[derive(Debug, Default)]
struct FuzzTally {
    recovered: u64,
    errors: std::collections::BTreeMap<String, u64>,
    trace_errors: u64,
}

/// Runs `recover` on `b` and, if it succeeds, reads (and renders) the whole trace. `Err`
/// with the panic message if either panicked.
fn run_case(b: &[u8], tally: &mut FuzzTally) -> Result<(), String> {
    let message = |p: Box<dyn std::any::Any + Send>| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    };
    let result =
        catch_unwind(AssertUnwindSafe(|| recover(b))).map_err(|p| format!("recover panicked: {}", message(p)))?;
    let trace = match result {
        Ok((trace, rec)) => {
            // The summary must format too.
            let _ = rec.to_string();
            tally.recovered += 1;
            trace
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
            let kind = format!("{:?}", e.kind);
            let kind = kind.split(['(', ' ', '{']).next().unwrap_or_default().to_string();
            *tally.errors.entry(kind).or_default() += 1;
            return Ok(());
        }
    };
    let read = catch_unwind(AssertUnwindSafe(|| {
        let mut r = TraceReader::new(&trace[..])?;
        let mut out = String::new();
        let mut n = 0u64;
        r.for_each_batch(|batch| {
            for ev in batch.iter() {
                out.clear();
                ev.write_message(&mut out);
                for (k, v) in ev.fields() {
                    out.push_str(k);
                    ringtrace::render::write_text_value(&mut out, &v);
                }
                let _ = (ev.unix_nanos(), ev.loss(), ev.level(), ev.target(), ev.context().count());
                // Rendering whole lines costs more than the rest together (trace_file.rs's own
                // fuzz test renders every event): one in eight keeps the loop fast.
                if n % 8 == 0 {
                    ringtrace::render::render_text(&ev, &mut out);
                    ringtrace::render::render_json(&ev, &mut out);
                }
                n += 1;
            }
        })
    }))
    .map_err(|p| format!("reading the recovered trace panicked: {}", message(p)))?;
    if read.is_err() {
        tally.trace_errors += 1;
    }
    Ok(())
}

#[test]
fn random_damage_never_panics() {
    let base = sample();
    let l = Layout::of(base);
    let env = |name: &str| std::env::var(name).ok().map(|v| v.parse::<u64>().unwrap_or_else(|_| panic!("{name}={v}")));
    let seed = env("FLIGHT_FUZZ_SEED").unwrap_or(FUZZ_SEED);
    let only = env("FLIGHT_FUZZ_ITER");
    let iterations = match only {
        Some(i) => i..i + 1,
        None => 0..FUZZ_ITERATIONS,
    };
    let started = Instant::now();
    let mut tally = FuzzTally::default();
    let mut done = 0;
    let mut b = Vec::with_capacity(base.len());
    for i in iterations {
        if only.is_none() && started.elapsed() > FUZZ_TIME {
            break;
        }
        let mut rng = Rng::for_iteration(seed, i);
        b.clear();
        b.extend_from_slice(base);
        // One to three mutations: most cases damage one thing, some several.
        let steps = [1, 1, 1, 2, 3][rng.below(5)];
        let what: Vec<_> = (0..steps).map(|_| mutate(&mut rng, &mut b, &l)).collect();
        if let Err(panic) = run_case(&b, &mut tally) {
            panic!(
                "{panic}\n  after: {}\n  reproduce with FLIGHT_FUZZ_SEED={seed} FLIGHT_FUZZ_ITER={i} \
                 cargo test -p ringtrace --test flight_files random_damage_never_panics",
                what.join("; then ")
            );
        }
        done += 1;
    }
    eprintln!(
        "fuzz: seed {seed}, {done} cases in {:.1?}: {} recovered ({} of their traces unreadable), errors {:?}",
        started.elapsed(),
        tally.recovered,
        tally.trace_errors,
        tally.errors
    );
    assert!(done > 0);
}
