//! Differential test of the drain's number formatting against `format!("{}")` (R-CORE-6):
//! millions of random and edge-case `f64` and `f32` values, and integers of every width, each
//! rendered through the public paths that use the fast formatting (a `{}` template, a text
//! field value, a JSON value) and compared byte for byte with std.
//!
//! Floats are where a fast path can go wrong: the shortest-digits algorithm behind it (Żmij)
//! rounds ties to even where std rounds them up (see `src/numfmt.rs`), so besides random bit
//! patterns the test builds values with short exact expansions, where ties live, and checks
//! that it met thousands of them. Seeded (xorshift), so a failure repeats; each phase stops
//! after its count or at a shared deadline, whichever comes first, and must have checked a
//! minimum number of values (8 M floats in about 4 s in the test profile on a 2-vCPU machine,
//! 20 s at most).

use ringtrace::render::{write_json_value, write_text_value};
use ringtrace::{Template, Value};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// Total time the float phases may take (each also has a count; about 4 s on a 2-vCPU
/// machine in the test profile).
const DEADLINE: Duration = Duration::from_secs(20);

/// xorshift64*: deterministic, no dependencies.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Renders values the three ways the drain does and compares each with `format!("{}")`.
struct Checker {
    plain: Template,
    got: String,
    want: String,
    checked: u64,
    /// Values where the shortest-digits crate alone would have printed other digits.
    ties: u64,
    /// Whether to count `ties` (it costs a second shortest-digits run per value).
    count_ties: bool,
}

impl Checker {
    fn new() -> Self {
        Self {
            plain: Template::parse("{}").unwrap(),
            got: String::new(),
            want: String::new(),
            checked: 0,
            ties: 0,
            count_ties: true,
        }
    }

    fn check(&mut self, v: Value<'_>, what: &dyn std::fmt::Debug) {
        self.want.clear();
        write!(self.want, "{v}").unwrap();
        self.got.clear();
        self.plain.render(&[v], &mut self.got);
        assert_eq!(self.got, self.want, "{{}} of {what:?}");
        self.got.clear();
        write_text_value(&mut self.got, &v);
        assert_eq!(self.got, self.want, "text field value of {what:?}");
        let finite = match v {
            Value::F64(f) => f.is_finite(),
            Value::F32(f) => f.is_finite(),
            _ => true,
        };
        if finite {
            self.got.clear();
            write_json_value(&mut self.got, &v);
            assert_eq!(self.got, self.want, "JSON value of {what:?}");
        }
        self.checked += 1;
    }

    fn f64(&mut self, f: f64) {
        self.check(Value::F64(f), &format_args!("f64 {:#018x} ({f:e})", f.to_bits()));
        if self.count_ties
            && f.is_finite()
            && f != 0.0
            && digits(zmij::Buffer::new().format_finite(f)) != digits(&self.want)
        {
            self.ties += 1;
        }
    }

    fn f32(&mut self, f: f32) {
        self.check(Value::F32(f), &format_args!("f32 {:#010x} ({f:e})", f.to_bits()));
        if self.count_ties
            && f.is_finite()
            && f != 0.0
            && digits(zmij::Buffer::new().format_finite(f)) != digits(&self.want)
        {
            self.ties += 1;
        }
    }
}

/// The significant digits of a decimal text (any layout, exponent dropped).
fn digits(s: &str) -> String {
    let m = s.split(['e', 'E']).next().unwrap_or("");
    m.chars().filter(char::is_ascii_digit).collect::<String>().trim_matches('0').to_string()
}

/// Runs `f` for up to `count` values or until `deadline`; returns how many it ran.
fn phase(count: u64, deadline: Instant, mut f: impl FnMut(u64)) -> u64 {
    let mut i = 0;
    while i < count {
        // The clock is read once per 4096 values.
        if i % 4096 == 0 && Instant::now() > deadline {
            break;
        }
        f(i);
        i += 1;
    }
    i
}

fn f64_edges() -> Vec<f64> {
    let mut v = vec![
        0.0,
        -0.0,
        f64::MIN_POSITIVE,
        f64::MAX,
        f64::MIN,
        f64::EPSILON,
        f64::NAN,
        -f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::from_bits(1),
        f64::from_bits(0x000f_ffff_ffff_ffff),
        f64::from_bits(0x4317_9085_685d_83c9),
        0.1,
        0.2,
        0.3,
        1.0 / 3.0,
        2.0 / 3.0,
        100.25,
        9_007_199_254_740_992.0,
        9_007_199_254_740_993.0,
        4_503_599_627_370_496.5,
    ];
    // Powers of ten (as parsed, so the nearest double), of two, and the boundaries of the
    // layouts: each with its neighbours.
    let mut base: Vec<f64> = (-324..=308).map(|k| format!("1e{k}").parse().unwrap()).collect();
    base.extend((-1074..=1023).map(|k| 2f64.powi(k)));
    for k in -6..=17 {
        for m in [1.0, 5.0, 9.999_999_999_999_999, 9.5] {
            base.push(m * 10f64.powi(k));
        }
    }
    for b in base {
        for d in -2i64..=2 {
            let bits = (b.to_bits() as i64 + d) as u64;
            v.push(f64::from_bits(bits));
            v.push(-f64::from_bits(bits));
        }
    }
    v
}

fn f32_edges() -> Vec<f32> {
    let mut v = vec![
        0.0,
        -0.0,
        f32::MIN_POSITIVE,
        f32::MAX,
        f32::MIN,
        f32::EPSILON,
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::from_bits(1),
        f32::from_bits(0x007f_ffff),
        f32::from_bits(0x474d_e910),
        0.1,
        16_777_216.0,
        16_777_217.0,
    ];
    let mut base: Vec<f32> = (-45..=38).map(|k| format!("1e{k}").parse().unwrap()).collect();
    base.extend((-149..=127).map(|k| 2f32.powi(k)));
    for k in -7..=14 {
        for m in [1.0, 5.0, 9.999_999, 9.5] {
            base.push(m * 10f32.powi(k));
        }
    }
    for b in base {
        for d in -2i32..=2 {
            let bits = (b.to_bits() as i32 + d) as u32;
            v.push(f32::from_bits(bits));
            v.push(-f32::from_bits(bits));
        }
    }
    v
}

/// `m · 2^q` for a random `m` of 1 to `bits` significant bits and a small `q`: values with a
/// short exact expansion, where ties are.
fn short_exact(rng: &mut Rng, bits: u32, q_span: u64) -> (u64, i32) {
    let r = rng.next();
    let len = 1 + (r % u64::from(bits)) as u32;
    let m = (rng.next() >> (64 - len)) | 1 << (len - 1);
    let q = ((r >> 8) % q_span) as i32 - (q_span / 2) as i32;
    (m, q - len as i32 + (bits as i32) / 2)
}

#[test]
fn floats_match_std_display() {
    let start = Instant::now();
    let deadline = start + DEADLINE;
    let mut c = Checker::new();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);

    for f in f64_edges() {
        c.f64(f);
    }
    for f in f32_edges() {
        c.f32(f);
    }
    let edges = c.checked;

    // Short exact values first (they are where ties are), then random bit patterns.
    let t0 = c.ties;
    let short64 = phase(1_000_000, deadline, |_| {
        let (m, q) = short_exact(&mut rng, 53, 40);
        let f = m as f64 * 2f64.powi(q);
        c.f64(if rng.next() & 1 == 0 { f } else { -f });
    });
    let ties64 = c.ties - t0;
    let t0 = c.ties;
    let short32 = phase(1_000_000, deadline, |_| {
        let (m, q) = short_exact(&mut rng, 24, 30);
        c.f32(m as f32 * 2f32.powi(q));
    });
    let ties32 = c.ties - t0;
    // Ties are rarer among random bit patterns: not counted there.
    c.count_ties = false;
    let random64 = phase(3_000_000, deadline, |_| c.f64(f64::from_bits(rng.next())));
    let random32 = phase(3_000_000, deadline, |_| c.f32(f32::from_bits(rng.next() as u32)));

    eprintln!(
        "checked {} floats in {:.1} s: {edges} edge cases, {short64} short exact f64 ({ties64} ties), {short32} \
         short exact f32 ({ties32} ties), {random64} random f64, {random32} random f32",
        c.checked,
        start.elapsed().as_secs_f64(),
    );
    // The deadline is there for a slow machine; these minimums keep the test meaningful.
    assert!(short64 >= 200_000 && short32 >= 200_000, "{short64} {short32}");
    assert!(random64 >= 500_000 && random32 >= 500_000, "{random64} {random32}");
    assert!(c.checked >= 2_000_000, "{}", c.checked);
    assert!(ties64 >= 1_000 && ties32 >= 1_000, "ties met: f64 {ties64}, f32 {ties32}");
}

#[test]
fn integers_match_std_display() {
    let mut c = Checker::new();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for i in 0..200_000u64 {
        let r = rng.next();
        // Every magnitude: shift the random bits down by a random amount.
        let x = r >> (i % 64);
        let w = u128::from(x) << (rng.next() % 64) | u128::from(rng.next());
        c.check(Value::U8(x as u8), &x);
        c.check(Value::U16(x as u16), &x);
        c.check(Value::U32(x as u32), &x);
        c.check(Value::U64(x), &x);
        c.check(Value::U128(w >> (i % 128)), &w);
        c.check(Value::I8(x as i8), &x);
        c.check(Value::I16(x as i16), &x);
        c.check(Value::I32(x as i32), &x);
        c.check(Value::I64(x as i64), &x);
        c.check(Value::I128((w >> (i % 128)) as i128), &w);
        c.check(Value::I128(-((w >> (i % 128)) as i128)), &w);
    }
    for v in [
        Value::U8(u8::MAX),
        Value::U16(u16::MAX),
        Value::U32(u32::MAX),
        Value::U64(u64::MAX),
        Value::U128(u128::MAX),
        Value::U128(u128::from(u64::MAX) + 1),
        Value::I8(i8::MIN),
        Value::I16(i16::MIN),
        Value::I32(i32::MIN),
        Value::I64(i64::MIN),
        Value::I128(i128::MIN),
        Value::I128(i128::MAX),
        Value::I128(i128::from(i64::MIN) - 1),
        Value::I128(i128::from(i64::MIN)),
        Value::U8(0),
        Value::I64(0),
    ] {
        c.check(v, &v);
    }
    assert!(c.checked > 2_000_000);
}
