//! Retry policy (full-jitter exponential backoff in seconds, capped, honouring
//! `Retry-After`, with a per-request timeout and an overall deadline) and the one
//! client-side rate limiter (a token bucket) that every parallel task shares.
//!
//! Compare the Terraform provider: 1, 2, 4, 8, 16 *minutes* after a 429, no jitter, no
//! `Retry-After`, no shared limit. Here a throttled call normally waits well under ten
//! seconds, and parallel workers slow down together instead of hammering the gateway.

use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rand::Rng;

/// How hard the client tries.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts per call, the first one included.
    pub max_attempts: u32,
    /// Backoff base: attempt `n` (0-based) waits up to `base_delay * 2^n`.
    pub base_delay: Duration,
    /// Cap on one backoff.
    pub max_delay: Duration,
    /// Largest `Retry-After` the client accepts as-is (longer values are clamped to this).
    pub max_retry_after: Duration,
    /// Per-attempt timeout (connect + answer).
    pub request_timeout: Duration,
    /// Overall deadline of one call, retries and waits included.
    pub deadline: Duration,
}

impl Default for RetryPolicy {
    /// 8 attempts, 0.5 s base, 16 s cap, `Retry-After` up to 60 s, 60 s per attempt, 5 min
    /// per call.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(16),
            max_retry_after: Duration::from_secs(60),
            request_timeout: Duration::from_secs(60),
            deadline: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// No retries at all (one attempt).
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// Millisecond-scale delays for tests against the emulator.
    pub fn fast() -> Self {
        RetryPolicy {
            max_attempts: 12,
            base_delay: Duration::from_millis(2),
            max_delay: Duration::from_millis(40),
            max_retry_after: Duration::from_millis(50),
            request_timeout: Duration::from_secs(5),
            deadline: Duration::from_secs(60),
        }
    }

    /// The exponential ceiling for attempt `attempt` (0-based): `min(max, base * 2^attempt)`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// How long to wait before retry number `attempt + 1`: full jitter, uniform in
    /// `[0, ceiling]`, but never less than the server's `Retry-After` (clamped).
    pub fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let ceiling = self.ceiling(attempt);
        let jitter = if ceiling.is_zero() {
            Duration::ZERO
        } else {
            rand::thread_rng().gen_range(Duration::ZERO..=ceiling)
        };
        match retry_after {
            Some(ra) => jitter.max(ra.min(self.max_retry_after)),
            None => jitter,
        }
    }
}

/// Parses `Retry-After`: delta seconds (possibly fractional) or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let delta = when.timestamp_millis() - chrono::Utc::now().timestamp_millis();
    Some(Duration::from_millis(delta.max(0) as u64))
}

/// A token bucket shared by every task of one client: at most `rate` requests per second
/// on average, bursts up to `burst`. Callers reserve a slot and sleep outside the lock, so
/// waiting tasks are served in arrival order.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    /// May go negative: that many reservations are waiting.
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    /// `rate` requests per second (must be > 0) with bursts of `burst` (at least 1).
    pub fn new(rate: f64, burst: u32) -> Self {
        assert!(rate > 0.0, "rate must be positive");
        let burst = f64::from(burst.max(1));
        RateLimiter {
            rate,
            burst,
            state: Mutex::new(Bucket {
                tokens: burst,
                last: Instant::now(),
            }),
        }
    }

    /// Requests per second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Reserves one request slot and returns how long the caller must wait for it.
    pub fn reserve(&self) -> Duration {
        let mut b = self.state.lock();
        let now = Instant::now();
        let elapsed = now.duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.rate).min(self.burst);
        b.last = now;
        b.tokens -= 1.0;
        if b.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-b.tokens / self.rate)
        }
    }

    /// Waits for a request slot.
    pub async fn acquire(&self) {
        let wait = self.reserve();
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_doubles_and_caps() {
        let p = RetryPolicy::default();
        assert_eq!(p.ceiling(0), Duration::from_millis(500));
        assert_eq!(p.ceiling(1), Duration::from_secs(1));
        assert_eq!(p.ceiling(3), Duration::from_secs(4));
        assert_eq!(p.ceiling(10), Duration::from_secs(16));
        assert_eq!(p.ceiling(100), Duration::from_secs(16));
    }

    #[test]
    fn backoff_is_jittered_within_ceiling_and_honours_retry_after() {
        let p = RetryPolicy::default();
        for attempt in 0..8 {
            for _ in 0..50 {
                assert!(p.backoff(attempt, None) <= p.ceiling(attempt));
            }
        }
        assert!(p.backoff(0, Some(Duration::from_secs(3))) >= Duration::from_secs(3));
        // A silly Retry-After is clamped.
        assert_eq!(p.backoff(0, Some(Duration::from_secs(3600))), Duration::from_secs(60));
        // Jitter actually varies.
        let samples: std::collections::HashSet<_> = (0..20).map(|_| p.backoff(4, None)).collect();
        assert!(samples.len() > 1);
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(" 0.5 "), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("0"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn bucket_spaces_requests_after_the_burst() {
        let l = RateLimiter::new(10.0, 2);
        assert_eq!(l.reserve(), Duration::ZERO);
        assert_eq!(l.reserve(), Duration::ZERO);
        let third = l.reserve();
        let fourth = l.reserve();
        assert!(
            third > Duration::from_millis(90) && third <= Duration::from_millis(100),
            "{third:?}"
        );
        assert!(
            fourth > Duration::from_millis(190) && fourth <= Duration::from_millis(200),
            "{fourth:?}"
        );
    }

    #[tokio::test]
    async fn shared_bucket_limits_parallel_tasks() {
        let l = std::sync::Arc::new(RateLimiter::new(200.0, 1));
        let start = Instant::now();
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let l = l.clone();
                tokio::spawn(async move {
                    for _ in 0..4 {
                        l.acquire().await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        // 40 requests at 200/s with a burst of 1 need at least 39 intervals of 5 ms.
        assert!(start.elapsed() >= Duration::from_millis(190), "{:?}", start.elapsed());
    }
}
