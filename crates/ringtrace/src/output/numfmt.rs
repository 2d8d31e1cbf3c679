//! Numbers as text on the drain thread, byte-identical to their `Display` (`{}`) and without
//! `core::fmt`: integers two digits at a time, floats through Żmij with a tie-safe check.
//!
//! # Floats
//!
//! Rust's `{}` of an `f64` or `f32` prints the shortest decimal that reads back as the same
//! value (std's Grisu, with Dragon4 as its fallback), written out in full: never an exponent
//! (`1e21` is `1000000000000000000000`, `1e-7` is `0.0000001`), no `.0` on integers, `-0` for
//! negative zero, `NaN`, `inf` and `-inf`. [Żmij](https://docs.rs/zmij) (a Schubfach
//! variant) finds the same shortest digits in a fifth of the instructions, and only its layout
//! differs (`1.0`, `1e21`, `1.5e-7`), which is rewritten here. (Ryū would do too, at two to four
//! times Żmij's cost: its slow path is the short exact decimals logs are full of, like 100.25.)
//!
//! Except on a tie. When the value lies exactly halfway between the two closest shortest
//! candidates (both read back as the value), std rounds the last digit up, while Żmij and Ryū
//! round it to even: f64 `0x43179085685d83c9` is `…562.25` exactly, std prints `…562.3`, they
//! print `…562.2`; f32 `0x474de910` is `52713.0625`, std prints `52713.063`, they print
//! `52713.062`. (std's Dragon4 keeps both "round down" and "round up" open on a tie and then
//! prefers up, `2·remainder >= scale`; Grisu cannot decide a tie and hands it to Dragon4.) A
//! tie can be told from the value's bits and the position of the last digit of the shortest
//! form:
//!
//! * write the value as `m · 2^q` with `m` odd. For `q < 0` its exact decimal expansion is
//!   `m·5^-q · 10^q`, whose last digit (at `10^q`) is a 5 and is the only digit below `10^(q+1)`;
//!   for `q ≥ 0` a value `N · 10^(e-1)` with `N` ending in 5 has exactly `e - 1` factors of two,
//!   so again `q = e - 1`;
//! * so the shortest candidates sit exactly halfway around the value if and only if the last
//!   significant digit of the shortest form is at `10^(q+1)`.
//!
//! A tie needs a short exact expansion (at most one digit more than the 17 or 9 digits a
//! shortest form can have), which a cheap test on `m` and `q` rules out for almost every value
//! ([`tie_possible`]); only then is the position of the last digit looked at, and on a tie the
//! value goes through `core::fmt` itself. The
//! differential test (`tests/float_format.rs`) compares millions of random and edge-case
//! values of both widths with `format!("{}")`, ties included.

use crate::wire::value::Value;
use std::fmt::Write as _;

/// Two decimal digits for every value below 100, `"00"` to `"99"`.
const DIGIT_PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Appends `s` to `out`, as `push_str` does, copying a short `s` inline (two overlapping
/// loads and stores) instead of calling `memcpy`: a line is a dozen short pieces.
#[inline(always)]
pub(crate) fn put(out: &mut String, s: &str) {
    let n = s.len();
    if n > 32 {
        out.push_str(s);
        return;
    }
    out.reserve(n);
    let src = s.as_ptr();
    // SAFETY: 1. `reserve` left room for `n` more bytes after `len`, and every store below is
    // within `dst[..n]` (`n >= 16`: `[0, 16)` and `[n - 16, n)`; `n >= 8`: `[0, 8)` and
    // `[n - 8, n)`; `n >= 4`: `[0, 4)` and
    // `[n - 4, n)`; else bytes 0, `n / 2` and `n - 1`, all below `n`), as is every load within
    // `s`. 2. `s` is a `&str` and `out` is borrowed mutably, so they do not overlap. 3. The
    // bytes written are all of `s`, valid UTF-8, so `out` stays a `String` when its length
    // grows by `n`.
    unsafe {
        let v = out.as_mut_vec();
        let len = v.len();
        let dst = v.as_mut_ptr().add(len);
        if n >= 16 {
            std::ptr::copy_nonoverlapping(src, dst, 16);
            std::ptr::copy_nonoverlapping(src.add(n - 16), dst.add(n - 16), 16);
        } else if n >= 8 {
            std::ptr::copy_nonoverlapping(src, dst, 8);
            std::ptr::copy_nonoverlapping(src.add(n - 8), dst.add(n - 8), 8);
        } else if n >= 4 {
            std::ptr::copy_nonoverlapping(src, dst, 4);
            std::ptr::copy_nonoverlapping(src.add(n - 4), dst.add(n - 4), 4);
        } else if n > 0 {
            *dst = *src;
            *dst.add(n / 2) = *src.add(n / 2);
            *dst.add(n - 1) = *src.add(n - 1);
        }
        v.set_len(len + n);
    }
}

/// `10^i` for every `i` whose power fits a `u64`.
const POW10: [u64; 20] = {
    let mut t = [1u64; 20];
    let mut i = 1;
    while i < t.len() {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// How many decimal digits `n` has (1 for 0).
#[inline]
fn decimal_len(n: u64) -> usize {
    // floor(log10(2^bits)) from the bit length, then one more if `n` reaches the next power.
    let t = (((64 - (n | 1).leading_zeros()) * 1233) >> 12) as usize;
    // `n | 1`: 0 has one digit too (and `n | 1` crosses a power of ten only where `n` does).
    t + usize::from(n | 1 >= POW10[t])
}

/// Writes the `len` decimal digits of `n` to `dst[..len]` from the end: four at a time (one
/// division by 10 000, then two pairs from the small remainder), then a pair, then one.
///
/// # Safety
/// `dst` must be valid for writes of `len` bytes, and `len` must be `decimal_len(n)` or more
/// (leading zeros are then written).
#[inline(always)]
unsafe fn write_digits(dst: *mut u8, len: usize, mut n: u64) {
    let mut i = len;
    while i >= 4 {
        let r = (n % 10_000) as u32;
        n /= 10_000;
        i -= 4;
        let (hi, lo) = ((r / 100) as usize * 2, (r % 100) as usize * 2);
        // SAFETY: `i + 3 < len`, and the caller gave `len` writable bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(DIGIT_PAIRS.as_ptr().add(hi), dst.add(i), 2);
            std::ptr::copy_nonoverlapping(DIGIT_PAIRS.as_ptr().add(lo), dst.add(i + 2), 2);
        }
    }
    if i >= 2 {
        let d = (n % 100) as usize * 2;
        n /= 100;
        i -= 2;
        // SAFETY: `i + 1 < len`, and the caller gave `len` writable bytes.
        unsafe { std::ptr::copy_nonoverlapping(DIGIT_PAIRS.as_ptr().add(d), dst.add(i), 2) };
    }
    if i == 1 {
        // SAFETY: as above, `0 < len`.
        unsafe { *dst = b'0' + n as u8 };
    }
}

/// Writes the last `dst.len()` decimal digits of `n` into all of `dst`, with leading zeros
/// (a timestamp's nine nanosecond digits).
#[inline]
pub(crate) fn put_digits(dst: &mut [u8], n: u64) {
    let n = POW10.get(dst.len()).map_or(n, |p| n % p);
    // SAFETY: `dst` is writable for its whole length, and `n` now has at most `dst.len()`
    // digits (leading zeros fill the rest).
    unsafe { write_digits(dst.as_mut_ptr(), dst.len(), n) }
}

/// Appends `n` in decimal, byte-identical to `n`'s `Display` (four digits per step, written in
/// place, no `core::fmt` machinery: the drain formats millions of integers a second).
#[inline]
pub(crate) fn push_u64(out: &mut String, n: u64) {
    let len = decimal_len(n);
    out.reserve(len);
    // SAFETY: `reserve` left room for `len` bytes after the string's length, and
    // `write_digits` fills exactly those with ASCII digits, so the string stays UTF-8.
    unsafe {
        let v = out.as_mut_vec();
        let at = v.len();
        write_digits(v.as_mut_ptr().add(at), len, n);
        v.set_len(at + len);
    }
}

/// Appends `n` in decimal, byte-identical to `n`'s `Display`.
#[inline]
pub(crate) fn push_i64(out: &mut String, n: i64) {
    if n < 0 {
        out.push('-');
    }
    push_u64(out, n.unsigned_abs());
}

/// `n % 100` as exactly two ASCII digits (`{:02}` for `n` below 100).
#[inline]
pub(crate) fn digit_pair(n: u32) -> [u8; 2] {
    let d = (n % 100) as usize * 2;
    [DIGIT_PAIRS[d], DIGIT_PAIRS[d + 1]]
}

/// The plain decimal form of an integer value of at most 64 bits (`{}` and `{:?}` without
/// flags); `false` for anything else (floats, 128-bit integers, text).
#[inline]
pub(crate) fn push_int(out: &mut String, v: &Value<'_>) -> bool {
    match *v {
        Value::U8(n) => push_u64(out, u64::from(n)),
        Value::U16(n) => push_u64(out, u64::from(n)),
        Value::U32(n) => push_u64(out, u64::from(n)),
        Value::U64(n) => push_u64(out, n),
        Value::I8(n) => push_i64(out, i64::from(n)),
        Value::I16(n) => push_i64(out, i64::from(n)),
        Value::I32(n) => push_i64(out, i64::from(n)),
        Value::I64(n) => push_i64(out, n),
        _ => return false,
    }
    true
}

/// Appends a number's `Display` (`{}`), every width of integer and both floats; `false` (and
/// nothing appended) for anything that is not a number.
#[inline]
pub(crate) fn push_number(out: &mut String, v: &Value<'_>) -> bool {
    match *v {
        Value::F64(f) => push_f64(out, f),
        Value::F32(f) => push_f32(out, f),
        Value::U128(n) => match u64::try_from(n) {
            Ok(n) => push_u64(out, n),
            Err(_) => {
                let _ = write!(out, "{n}");
            }
        },
        Value::I128(n) => match i64::try_from(n) {
            Ok(n) => push_i64(out, n),
            Err(_) => {
                let _ = write!(out, "{n}");
            }
        },
        _ => return push_int(out, v),
    }
    true
}

/// `5^i` for every `i` whose power fits a `u64`.
const POW5: [u64; 28] = {
    let mut t = [1u64; 28];
    let mut i = 1;
    while i < t.len() {
        t[i] = t[i - 1] * 5;
        i += 1;
    }
    t
};

/// Whether `m · 2^q` (`m` odd) can be a tie at all (see the module doc): its exact decimal
/// expansion has fewer than `max_exact`'s digits (one more than the longest shortest form) and,
/// for `q ≥ 0`, `5^q` divides `m`. A necessary condition only: [`finish`] then checks where
/// the shortest form's last digit is.
#[inline]
fn tie_possible(m: u64, q: i32, max_exact: u64) -> bool {
    if q < 0 {
        let f = q.unsigned_abs() as usize;
        f < POW5.len() && m.checked_mul(POW5[f]).is_some_and(|x| x < max_exact)
    } else {
        let q = q as usize;
        q < POW5.len() && m % POW5[q] == 0
    }
}

/// `NaN`, `inf`, `-inf`: the `Display` of a float that is not finite.
fn push_non_finite(out: &mut String, nan: bool, positive: bool) {
    out.push_str(match (nan, positive) {
        (true, _) => "NaN",
        (false, true) => "inf",
        (false, false) => "-inf",
    });
}

/// Appends `v`'s `Display` (`format!("{}", v)`), byte for byte.
#[inline]
pub(crate) fn push_f64(out: &mut String, v: f64) {
    if !v.is_finite() {
        return push_non_finite(out, v.is_nan(), v > 0.0);
    }
    let bits = v.to_bits();
    let (mant, exp) = (bits & ((1 << 52) - 1), ((bits >> 52) & 0x7ff) as i32);
    if mant == 0 && exp == 0 {
        out.push_str(if v.is_sign_negative() { "-0" } else { "0" });
        return;
    }
    let (m, q) = if exp == 0 { (mant, -1074) } else { (mant | 1 << 52, exp - 1075) };
    if exact_short(out, v.is_sign_negative(), m, q, 53) {
        return;
    }
    let mut buf = zmij::Buffer::new();
    let text = buf.format_finite(v);
    // No exponent for 1e-5 <= |v| < 1e16 (its shortest form, that is); the margins keep values
    // whose shortest form rounds across a power of ten out of the fast case.
    let plain = (1e-4..1e15).contains(&v.abs());
    if !finish(out, text, m, q, plain, 1_000_000_000_000_000_000) {
        let _ = write!(out, "{v}");
    }
}

/// Appends `v`'s `Display` (`format!("{}", v)`), byte for byte.
#[inline]
pub(crate) fn push_f32(out: &mut String, v: f32) {
    if !v.is_finite() {
        return push_non_finite(out, v.is_nan(), v > 0.0);
    }
    let bits = v.to_bits();
    let (mant, exp) = (u64::from(bits & ((1 << 23) - 1)), ((bits >> 23) & 0xff) as i32);
    if mant == 0 && exp == 0 {
        out.push_str(if v.is_sign_negative() { "-0" } else { "0" });
        return;
    }
    let (m, q) = if exp == 0 { (mant, -149) } else { (mant | 1 << 23, exp - 150) };
    if exact_short(out, v.is_sign_negative(), m, q, 24) {
        return;
    }
    let mut buf = zmij::Buffer::new();
    let text = buf.format_finite(v);
    // No exponent for 1e-6 <= |v| < 1e13 (f32).
    let plain = (1e-4..1e12).contains(&v.abs());
    if !finish(out, text, m, q, plain, 10_000_000_000) {
        let _ = write!(out, "{v}");
    }
}

/// The values whose shortest form is their exact expansion, written without a search: the
/// integers below `2^digits` (`digits`: the significand's width, 53 or 24), and the short
/// dyadic fractions such as `100.25` or `0.5` that logs are full of. Returns `false` (nothing
/// appended) for every other value.
///
/// The value `m · 2^q` (`m` the significand, `2^q` its unit in the last place) is
/// `m' · 2^q'` with `m'` odd, `q' = q + tz`, `tz` the trailing zero bits of `m`. For `q' < 0`
/// its exact expansion `m'·5^F / 10^F` (`F = -q'`) ends in a 5 at `10^-F`, so every decimal
/// with fewer digits is at least `5 · 10^-F` away; the values that round to `m · 2^q` are at
/// most `2^(q-1)` away (the wider side). So the exact expansion is the unique shortest form,
/// and Rust's `{}`, when `5 · 10^-F > 2^(q-1)`, that is when `5^(F-1) < 2^(tz+1)`. Below
/// `2^digits` the integers are one unit or less apart and print exactly for the same reason.
#[inline(always)]
fn exact_short(out: &mut String, neg: bool, m: u64, q: i32, digits: u32) -> bool {
    let tz = m.trailing_zeros();
    let (m1, q1) = (m >> tz, q + tz as i32);
    if q1 >= 0 {
        // An integer: exact below 2^digits.
        if q1 as u32 + (64 - m1.leading_zeros()) > digits {
            return false;
        }
        if neg {
            put(out, "-");
        }
        push_u64(out, m1 << q1);
        return true;
    }
    let f = q1.unsigned_abs() as usize;
    let Some(x) = POW5.get(f).and_then(|p| m1.checked_mul(*p)) else {
        return false;
    };
    if POW5[f - 1] >= 1u64 << (tz + 1) {
        return false;
    }
    // `x / 10^f`, written out in place: `[-]int.frac` or `[-]0.00frac`.
    let len = decimal_len(x);
    let total = usize::from(neg) + if len > f { len + 1 } else { 2 + f };
    out.reserve(total);
    // SAFETY: 1. `reserve` left `total` writable bytes at `dst`, and the writes below cover
    // exactly `dst[..total]`: the sign, then either `len - f` digits, the point and `f`
    // digits, or `0.`, `f - len` zeros and `len` digits (each `write_digits` gets its exact
    // count). 2. They are ASCII, so the string stays UTF-8 at its new length.
    unsafe {
        let v = out.as_mut_vec();
        let start = v.len();
        let mut dst = v.as_mut_ptr().add(start);
        if neg {
            *dst = b'-';
            dst = dst.add(1);
        }
        if len > f {
            // `len > f` only for `f < 20`, where `10^f` is in the table.
            let p = POW10[f];
            write_digits(dst, len - f, x / p);
            *dst.add(len - f) = b'.';
            write_digits(dst.add(len - f + 1), f, x % p);
        } else {
            *dst = b'0';
            *dst.add(1) = b'.';
            std::ptr::write_bytes(dst.add(2), b'0', f - len);
            write_digits(dst.add(2 + f - len), len, x);
        }
        v.set_len(start + total);
    }
    true
}

/// Appends Rust's layout of `short`, Żmij's text of the finite, non-zero value
/// `m · 2^q`; returns `false` (nothing appended) on a tie, which the caller hands to std.
/// `plain`: the caller knows `short` has no exponent.
#[inline]
fn finish(out: &mut String, short: &str, m: u64, q: i32, plain: bool, max_exact: u64) -> bool {
    let tz = m.trailing_zeros();
    let (m, q) = (m >> tz, q + tz as i32);
    if !plain {
        return finish_general(out, short, tie_possible(m, q, max_exact).then_some(q));
    }
    // `123.45`, `0.00123` (both as Rust writes them) or `12300.0` (Rust: `12300`).
    let b = short.as_bytes();
    let int = b.ends_with(b".0");
    let body = if int { &short[..short.len() - 2] } else { short };
    if tie_possible(m, q, max_exact) {
        // The power of ten of the last significant digit.
        let last = if int {
            body.bytes().rev().take_while(|&c| c == b'0').count() as i32
        } else {
            let dot = b.iter().position(|&c| c == b'.').unwrap_or(b.len());
            -((b.len() - dot - 1) as i32)
        };
        if last == q + 1 {
            return false;
        }
    }
    put(out, body);
    true
}

/// The general case of [`finish`]: the form may have an exponent (`1.5e-7`, `1e+30`). Its
/// digits and exponent are read back and laid out the way Rust does; `tie_q` is `q` when a
/// tie is possible. Returns `false` on a tie.
#[cold]
fn finish_general(out: &mut String, short: &str, tie_q: Option<i32>) -> bool {
    let (neg, s) = match short.strip_prefix('-') {
        Some(s) => (true, s),
        None => (false, short),
    };
    let (mantissa, exp10) = match s.split_once('e') {
        Some((a, e)) => (a, e.parse::<i32>().unwrap_or(0)),
        None => (s, 0),
    };
    // Digits without the point, and how many came before it.
    let mut digits = [0u8; 40];
    let mut n = 0;
    let mut point = mantissa.len() as i32;
    for (i, c) in mantissa.bytes().enumerate() {
        if c == b'.' {
            point = i as i32;
        } else if n < digits.len() {
            digits[n] = c;
            n += 1;
        }
    }
    // Value = 0.d1d2…dn · 10^(point + exp10), leading and trailing zeros dropped.
    let lead = digits[..n].iter().take_while(|&&c| c == b'0').count();
    let trail = digits[lead..n].iter().rev().take_while(|&&c| c == b'0').count();
    let d = &digits[lead..n - trail];
    let kk = point - lead as i32 + exp10;
    if d.is_empty() {
        // Not reachable (zero is handled by the callers), but never print nothing.
        return false;
    }
    if tie_q.is_some_and(|q| kk - d.len() as i32 == q + 1) {
        return false;
    }
    // SAFETY: `d` holds ASCII digits only (copied from the text, the point left out).
    let d = unsafe { std::str::from_utf8_unchecked(d) };
    if neg {
        out.push('-');
    }
    let len = d.len() as i32;
    if kk <= 0 {
        out.push_str("0.");
        push_zeros(out, (-kk) as usize);
        out.push_str(d);
    } else if kk >= len {
        out.push_str(d);
        push_zeros(out, (kk - len) as usize);
    } else {
        out.push_str(&d[..kk as usize]);
        out.push('.');
        out.push_str(&d[kk as usize..]);
    }
    true
}

fn push_zeros(out: &mut String, mut n: usize) {
    const ZEROS: &str = "00000000000000000000000000000000000000000000000000000000000000000";
    while n > 0 {
        let k = n.min(ZEROS.len());
        out.push_str(&ZEROS[..k]);
        n -= k;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f64s(v: f64) -> String {
        let mut s = String::new();
        push_f64(&mut s, v);
        s
    }

    fn f32s(v: f32) -> String {
        let mut s = String::new();
        push_f32(&mut s, v);
        s
    }

    #[test]
    fn integers_follow_std_at_every_length() {
        // Every power of ten and its neighbours (each digit count, each step of the four- and
        // two-digit loops), the extremes, and a pseudo-random spread.
        let mut values: Vec<u64> = vec![0, u64::MAX, u64::MAX - 1];
        for p in POW10 {
            values.extend([p - 1, p, p + 1, p.wrapping_mul(3).wrapping_add(7)]);
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            values.push(x >> (x % 64));
        }
        for n in values {
            let (mut u, mut i) = (String::new(), String::new());
            push_u64(&mut u, n);
            assert_eq!(u, n.to_string());
            push_i64(&mut i, n as i64);
            assert_eq!(i, (n as i64).to_string());
        }
        let mut i = String::new();
        push_i64(&mut i, i64::MIN);
        assert_eq!(i, i64::MIN.to_string());
    }

    #[test]
    fn put_digits_fills_its_slice_with_the_last_digits() {
        let mut b = [b'x'; 9];
        put_digits(&mut b, 1);
        assert_eq!(&b, b"000000001");
        put_digits(&mut b, 120_406_789);
        assert_eq!(&b, b"120406789");
        put_digits(&mut b, 9_876_543_210);
        assert_eq!(&b, b"876543210", "only the last nine digits");
        let mut one = [0u8; 1];
        put_digits(&mut one, 47);
        assert_eq!(&one, b"7");
    }

    #[test]
    fn the_quoted_ties_follow_std() {
        let v = f64::from_bits(0x4317_9085_685d_83c9);
        assert_eq!(f64s(v), format!("{v}"));
        assert_eq!(zmij::Buffer::new().format(v), "1658206780088562.2", "zmij alone rounds to even");
        assert_eq!(format!("{v}"), "1658206780088562.3");
        let v = f32::from_bits(0x474d_e910);
        assert_eq!(f32s(v), format!("{v}"));
        assert_eq!(format!("{v}"), "52713.063");
        assert_eq!(zmij::Buffer::new().format(v), "52713.062");
    }

    #[test]
    fn layouts_follow_std() {
        for v in [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.1,
            0.3,
            100.25,
            1e15,
            1e16,
            1e21,
            1e22,
            1e-4,
            1e-5,
            1e-7,
            1.5e-7,
            123456.0,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            5e-324,
            -5e-324,
            f64::EPSILON,
            9007199254740993.0,
            f64::NAN,
            -f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            assert_eq!(f64s(v), format!("{v}"), "{v:e}");
        }
        for v in [
            0.0f32,
            -0.0,
            1.0,
            0.1,
            16777216.0,
            1e12,
            1e13,
            3.4e38,
            f32::MAX,
            f32::MIN_POSITIVE,
            1e-45,
            1e-6,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ] {
            assert_eq!(f32s(v), format!("{v}"), "{v:e}");
        }
    }

    #[test]
    fn decimal_helpers_match_display() {
        let mut got = String::new();
        let mut want = String::new();
        let mut n = 1u64;
        for k in 0..200u64 {
            for v in [0, 1, 9, 10, 99, 100, n - 1, n, n.wrapping_add(k), u64::MAX - k] {
                got.clear();
                want.clear();
                push_u64(&mut got, v);
                write!(want, "{v}").unwrap();
                assert_eq!(got, want);
                got.clear();
                want.clear();
                let i = v as i64;
                push_i64(&mut got, i);
                write!(want, "{i}").unwrap();
                assert_eq!(got, want);
            }
            n = n.wrapping_mul(7).wrapping_add(k);
        }
        for i in [i64::MIN, i64::MIN + 1, -1, i64::MAX] {
            got.clear();
            push_i64(&mut got, i);
            assert_eq!(got, i.to_string());
        }
        for d in 0..100 {
            assert_eq!(digit_pair(d), format!("{d:02}").as_bytes());
        }
        // Every digit count's edges, and every bit length's.
        for p in POW10.iter().copied().chain((0..64).map(|b| 1u64 << b)) {
            for v in [p - 1, p, p + 1, p.wrapping_mul(2).wrapping_sub(1)] {
                got.clear();
                push_u64(&mut got, v);
                assert_eq!(got, v.to_string());
                assert_eq!(decimal_len(v), v.to_string().len());
            }
        }
        for v in [Value::U128(u128::MAX), Value::U128(7), Value::I128(i128::MIN), Value::I128(-7), Value::I128(1 << 70)]
        {
            got.clear();
            assert!(push_number(&mut got, &v));
            assert_eq!(got, format!("{v}"));
        }
        assert!(!push_number(&mut got, &Value::Str("1")));
    }
}
