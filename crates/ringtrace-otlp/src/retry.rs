//! When to try a request again, and how long to wait first.
//!
//! The OTLP/HTTP specification names the retryable responses: 429 Too Many Requests, 502 Bad
//! Gateway, 503 Service Unavailable and 504 Gateway Timeout; transport failures (connection
//! refused or reset, timeouts) are retryable too. Every other status is final.
//!
//! The wait before retry `n` (0-based) is the server's `Retry-After` when it sent one (either
//! form: delta-seconds such as `120`, or an HTTP-date such as
//! `Wed, 21 Oct 2015 07:28:00 GMT`), capped by `max_retry_after`; otherwise exponential
//! backoff `min(initial · 2ⁿ, max_backoff)`, of which a uniformly drawn value in the upper
//! half is slept ("equal jitter": never less than half the nominal delay, so the backoff still
//! grows, and never in lockstep with other exporters).

use crate::config::RetryPolicy;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Whether a response status asks for a retry.
pub(crate) fn is_retryable_status(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

/// The nominal (un-jittered) backoff before retry `n` (0 = the first retry).
pub(crate) fn nominal_backoff(policy: &RetryPolicy, n: u32) -> Duration {
    let factor = 1u32.checked_shl(n.min(31)).unwrap_or(u32::MAX);
    policy.initial_backoff.saturating_mul(factor).min(policy.max_backoff)
}

/// The delay to sleep before retry `n`: `Retry-After` if given (capped), else the jittered
/// backoff. `unit` is a uniform random number in `[0, 1)`.
pub(crate) fn delay(policy: &RetryPolicy, n: u32, retry_after: Option<Duration>, unit: f64) -> Duration {
    if let Some(d) = retry_after {
        return d.min(policy.max_retry_after);
    }
    let d = nominal_backoff(policy, n);
    let half = d / 2;
    half + half.mul_f64(unit.clamp(0.0, 1.0))
}

/// Parses a `Retry-After` header value: delta-seconds or an HTTP-date (IMF-fixdate, the
/// obsolete RFC 850 form, or asctime), relative to `now`. A date in the past means no wait.
/// `None` for anything else (the caller then uses its own backoff).
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        // Huge values saturate; the caller caps them anyway.
        return Some(Duration::from_secs(v.parse::<u64>().unwrap_or(u64::MAX)));
    }
    let at = parse_http_date(v)?;
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(at.saturating_sub(now)))
}

/// Seconds since the Unix epoch of an HTTP-date (RFC 9110 §5.6.7).
fn parse_http_date(s: &str) -> Option<u64> {
    let parts: Vec<&str> = s.split([' ', ',']).filter(|p| !p.is_empty()).collect();
    let (day, month, year, time) = match parts.as_slice() {
        // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
        [_, d, m, y, t, "GMT"] if y.len() == 4 => (*d, *m, y.parse::<i64>().ok()?, *t),
        // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
        [_, dmy, t, "GMT"] => {
            let mut it = dmy.split('-');
            let (d, m, y) = (it.next()?, it.next()?, it.next()?);
            if it.next().is_some() || y.len() != 2 {
                return None;
            }
            let y: i64 = y.parse().ok()?;
            // RFC 9110: a two-digit year more than 50 years ahead is in the past century.
            (d, m, if y < 70 { 2000 + y } else { 1900 + y }, *t)
        }
        // asctime: Sun Nov  6 08:49:37 1994
        [_, m, d, t, y] if y.len() == 4 => (*d, *m, y.parse::<i64>().ok()?, *t),
        _ => return None,
    };
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month = MONTHS.iter().position(|m| *m == month)? as u32 + 1;
    let day: u32 = day.parse().ok()?;
    let mut hms = time.split(':').map(|p| if p.len() == 2 { p.parse::<u32>().ok() } else { None });
    let (h, mi, se) = (hms.next()??, hms.next()??, hms.next()??);
    if hms.next().is_some() || !(1..=31).contains(&day) || h > 23 || mi > 59 || se > 60 || year < 1970 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    u64::try_from(days * 86_400 + i64::from(h * 3600 + mi * 60 + se)).ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A small xorshift generator for jitter (no need for a crypto RNG or a dependency).
#[derive(Debug)]
pub(crate) struct Jitter(u64);

impl Jitter {
    /// Seeded from the clock and the sink's address, so exporters in different processes
    /// differ.
    pub(crate) fn new(salt: u64) -> Self {
        let t = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        Self((t ^ salt.rotate_left(32)) | 1)
    }

    /// A uniform number in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_retries: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            max_retry_after: Duration::from_secs(3),
        }
    }

    #[test]
    fn only_the_otlp_retryable_statuses_retry() {
        for s in [429, 502, 503, 504] {
            assert!(is_retryable_status(s), "{s}");
        }
        for s in [200, 400, 401, 403, 404, 408, 413, 415, 500, 501, 505] {
            assert!(!is_retryable_status(s), "{s}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitter_stays_in_the_upper_half() {
        let p = policy();
        let nominal: Vec<u64> = (0..6).map(|n| nominal_backoff(&p, n).as_millis() as u64).collect();
        assert_eq!(nominal, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(nominal_backoff(&p, u32::MAX), Duration::from_secs(1), "no overflow");
        let mut j = Jitter::new(7);
        for n in 0..40 {
            for _ in 0..50 {
                let d = delay(&p, n, None, j.unit());
                let nom = nominal_backoff(&p, n);
                assert!(d >= nom / 2 && d <= nom, "retry {n}: {d:?} not in [{:?}, {nom:?}]", nom / 2);
            }
        }
        assert_eq!(delay(&p, 0, None, 0.0), Duration::from_millis(50));
        assert_eq!(delay(&p, 0, None, 1.0), Duration::from_millis(100));
    }

    #[test]
    fn jitter_is_uniform_in_zero_one() {
        let mut j = Jitter::new(0);
        let xs: Vec<f64> = (0..10_000).map(|_| j.unit()).collect();
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        assert!((0.45..0.55).contains(&mean), "{mean}");
    }

    #[test]
    fn retry_after_wins_over_backoff_and_is_capped() {
        let p = policy();
        assert_eq!(delay(&p, 3, Some(Duration::from_secs(2)), 0.5), Duration::from_secs(2));
        assert_eq!(delay(&p, 0, Some(Duration::ZERO), 0.5), Duration::ZERO);
        assert_eq!(delay(&p, 0, Some(Duration::from_secs(3600)), 0.5), Duration::from_secs(3));
    }

    #[test]
    fn retry_after_delta_seconds() {
        let now = SystemTime::now();
        assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after(" 120 ", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("99999999999999999999999", now), Some(Duration::from_secs(u64::MAX)));
        for bad in ["", "-1", "1.5", "soon", "1 2", "+3"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn retry_after_http_dates_in_all_three_forms() {
        // 1994-11-06T08:49:37Z
        let at = 784_111_777;
        let now = UNIX_EPOCH + Duration::from_secs(at - 30);
        for form in ["Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"] {
            assert_eq!(parse_retry_after(form, now), Some(Duration::from_secs(30)), "{form}");
        }
        let later = UNIX_EPOCH + Duration::from_secs(at + 10);
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", later), Some(Duration::ZERO), "past");
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(parse_http_date("Tue, 29 Feb 2028 12:00:00 GMT"), Some(1_835_438_400));
        for bad in [
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, 06 Nov 94 08:49:37 GMT",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }
}
