//! Server-side throttling (`--rate-limit N`), as the API gateway in front of FunctionGraph
//! does it: a token bucket per project refilled at N tokens a second and holding at most one
//! second's worth (N tokens, at least 1), so a project that was quiet may send N requests at
//! once and then N a second. An API request that finds its project's bucket empty is
//! answered 429 `APIGW.0308` with a whole-second `Retry-After` (see [`Throttle::take`]).
//!
//! The buckets run on real time (`Instant`), not on the emulator's advanceable clock: a
//! test that moves the clock forward by an hour has not waited an hour.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// The per-project buckets of one emulator.
#[derive(Debug)]
pub(crate) struct Throttle {
    /// Requests per second per project.
    rate: f64,
    /// Bucket size: one second's worth, at least one request.
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Throttle {
    /// `rate` requests per second (> 0) per project.
    pub fn new(rate: f64) -> Self {
        assert!(rate > 0.0 && rate.is_finite(), "rate must be positive");
        Throttle {
            rate,
            burst: rate.max(1.0),
            buckets: Mutex::default(),
        }
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Takes a token from `project`'s bucket at `now`: `Ok` when there was one, else how long
    /// until there is.
    pub fn take(&self, project: &str, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock();
        let bucket = match buckets.get_mut(project) {
            Some(b) => b,
            None => buckets.entry(project.to_string()).or_insert(Bucket {
                tokens: self.burst,
                last: now,
            }),
        };
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.rate))
        }
    }
}

/// `Retry-After` for a wait: RFC 9110 delay-seconds are whole seconds, so the wait rounded
/// up, and never 0 (which would invite an immediate retry into the same empty bucket).
pub(crate) fn retry_after_secs(wait: Duration) -> u64 {
    let whole = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    whole.max(1)
}

/// The gateway's message, with the limit as the gateway prints it (a whole number).
pub(crate) fn message(rate: f64) -> String {
    let limit = if rate.fract() == 0.0 {
        format!("{rate:.0}")
    } else {
        format!("{rate}")
    };
    format!("The throttling threshold has been reached: policy user over ratelimit, limit:{limit}, time:1 second")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A refusal whose wait is `expected`, give or take float rounding.
    fn wait_near(got: Result<(), Duration>, expected: Duration) -> bool {
        got.is_err_and(|w| w.abs_diff(expected) < Duration::from_micros(1))
    }

    #[test]
    fn a_full_bucket_passes_one_seconds_worth_then_refills_at_the_rate() {
        let t = Throttle::new(10.0);
        let t0 = Instant::now();
        for _ in 0..10 {
            assert_eq!(t.take("p", t0), Ok(()));
        }
        assert!(wait_near(t.take("p", t0), ms(100)));
        // 50 ms later half a token has come back: 50 ms more to wait.
        assert!(wait_near(t.take("p", t0 + ms(50)), ms(50)));
        assert_eq!(t.take("p", t0 + ms(101)), Ok(()));
        assert!(t.take("p", t0 + ms(101)).is_err());
        // A long pause refills to one second's worth, no more.
        let later = t0 + Duration::from_secs(60);
        for _ in 0..10 {
            assert_eq!(t.take("p", later), Ok(()));
        }
        assert!(t.take("p", later).is_err());
    }

    #[test]
    fn projects_have_their_own_buckets() {
        let t = Throttle::new(1.0);
        let t0 = Instant::now();
        assert_eq!(t.take("a", t0), Ok(()));
        assert!(wait_near(t.take("a", t0), Duration::from_secs(1)));
        assert_eq!(t.take("b", t0), Ok(()));
    }

    #[test]
    fn a_limit_below_one_a_second_still_admits_one_request() {
        let t = Throttle::new(0.5);
        let t0 = Instant::now();
        assert_eq!(t.take("p", t0), Ok(()));
        assert!(wait_near(t.take("p", t0), Duration::from_secs(2)));
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up_and_at_least_one() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(ms(5)), 1);
        assert_eq!(retry_after_secs(ms(1000)), 1);
        assert_eq!(retry_after_secs(ms(1001)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
    }

    #[test]
    fn message_prints_the_limit_as_the_gateway_does() {
        assert_eq!(
            message(200.0),
            "The throttling threshold has been reached: policy user over ratelimit, limit:200, time:1 second"
        );
        assert!(message(0.5).contains("limit:0.5,"));
    }
}
