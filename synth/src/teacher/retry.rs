//! Retry timing: exponential backoff with jitter, overridden by the server's
//! `Retry-After` when it sends one.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How often and how patiently transient failures are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first try (so `max_retries + 1` tries in all). Default: 6.
    pub max_retries: u32,
    /// Delay before the first retry; doubled each time. Default: 500 ms.
    pub base_delay: Duration,
    /// Longest delay between tries, also the cap on `Retry-After`. Default: 60 s.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 6,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `retry` (0-based): the server's `Retry-After`
    /// when given (capped at `max_delay`), else `base_delay * 2^retry` with "equal
    /// jitter" (a uniform factor in [0.5, 1.0)), capped at `max_delay`.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(after) = retry_after {
            return after.min(self.max_delay);
        }
        let exp = self
            .base_delay
            .saturating_mul(1u32.checked_shl(retry.min(30)).unwrap_or(u32::MAX))
            .min(self.max_delay);
        exp.mul_f64(0.5 + 0.5 * jitter_unit())
    }
}

/// A number in [0, 1) that differs between calls (not cryptographic; for jitter).
fn jitter_unit() -> f64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut x = nanos ^ COUNTER.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
    // splitmix64 finaliser
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// Parses a `Retry-After` header given in seconds (integer or decimal). HTTP dates are
/// not supported and read as absent (backoff applies).
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let secs: f64 = value.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_wins_and_is_capped() {
        let p = RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_secs(5),
        };
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(99))),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn backoff_doubles_within_jitter_bounds() {
        let p = RetryPolicy {
            max_retries: 8,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(700),
        };
        for (retry, full) in [(0u32, 100u64), (1, 200), (2, 400), (3, 700), (9, 700)] {
            let d = p.delay(retry, None).as_millis() as u64;
            assert!(d >= full / 2 && d < full, "retry {retry}: {d} ms of {full}");
        }
    }

    #[test]
    fn parses_retry_after_seconds_only() {
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }
}
