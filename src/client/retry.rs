//! Retry policy (full-jitter exponential backoff in seconds, capped, honouring
//! `Retry-After`, with a per-request timeout and an overall deadline) and the one
//! client-side rate limiter (a token bucket whose rate adapts to 429s, AIMD) that every
//! parallel task shares.
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

/// Multiplicative decrease on a 429: the new rate is this share of what was being sent (the
/// factor of AWS's adaptive retry mode; a gentler cut than TCP's half, so the sawtooth stays
/// closer to the gateway's limit).
pub const DECREASE: f64 = 0.7;
/// Additive increase without a cap: requests per second gained per second of answers at the
/// full rate (each answer adds `INCREASE / rate`). With a cap, a tenth of the cap per second
/// instead (at least [`MIN_RATE`]): a cut below the cloud's 20/s does not bounce straight
/// back into the limit, and a high cap is climbed back to in seconds.
pub const INCREASE: f64 = 20.0;
/// After a decrease, further 429s are not a new signal for this long (nor are 429s of
/// requests sent before the decrease): a burst of concurrent 429s counts once. One second
/// is the period the gateway counts its limit over, so by then the cut has shown.
pub const DECREASE_WINDOW: Duration = Duration::from_secs(1);
/// The rate never falls below this.
pub const MIN_RATE: f64 = 1.0;
/// The share of the limit an API gateway's 429 states ("limit:N, time:1 second") that the
/// client keeps to once it has read it: probing above a limit it knows would only buy more
/// 429s, and at the full limit its bucket's edges still meet the gateway's now and then.
pub const STATED_LIMIT_SHARE: f64 = 0.95;

/// The request rate, per second, that an API gateway's 429 states in its message ("The
/// throttling threshold has been reached: policy user over ratelimit, limit:N, time:1
/// second", or per minute, hour or day); `None` when the body states none.
pub fn stated_limit(body: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(body).ok()?.to_ascii_lowercase();
    let number = |from: &str| -> Option<(f64, String)> {
        let rest = from.trim_start();
        let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        Some((rest[..end].parse().ok()?, rest[end..].to_string()))
    };
    let (limit, _) = number(text.split_once("limit:")?.1)?;
    let (count, unit) = number(text.split_once("time:")?.1)?;
    let seconds = match unit.trim_start() {
        u if u.starts_with("second") => 1.0,
        u if u.starts_with("minute") => 60.0,
        u if u.starts_with("hour") => 3600.0,
        u if u.starts_with("day") => 86400.0,
        _ => return None,
    };
    (limit > 0.0 && count > 0.0).then(|| limit / (count * seconds))
}
/// The throughput a decrease starts from is what was sent in this last span: the period
/// the API gateway counts its limit over ("limit:N, time:1 second").
const METER_SPAN: Duration = Duration::from_secs(1);
/// The meter counts in this many slots of its span.
const METER_SLOTS: usize = 10;

/// A token bucket shared by every task of one client, whose rate adapts to the service
/// (AIMD): a 429 cuts it to [`DECREASE`] times the throughput sent in the last second (at
/// most once per [`DECREASE_WINDOW`]), and answers that were not throttled raise it
/// additively ([`INCREASE`]), never above the cap (`--rate-limit`, or the cloud default)
/// when there is one, nor above [`STATED_LIMIT_SHARE`] of a limit a 429 stated. Without a
/// cap it is unlimited until the first 429.
/// Callers reserve a slot and sleep outside the lock, so waiting tasks are served in
/// arrival order.
#[derive(Debug)]
pub struct RateLimiter {
    cap: Option<f64>,
    burst: f64,
    state: Mutex<Control>,
}

/// When a request was let through: handed back with its answer, so that a 429 to a request
/// sent before the last decrease does not count again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent(Instant);

impl RateLimiter {
    /// At most `rate` requests per second (must be > 0), with bursts of `burst` (at least 1),
    /// adapting below that on 429s.
    pub fn new(rate: f64, burst: u32) -> Self {
        assert!(rate > 0.0, "rate must be positive");
        Self::adaptive(Some(rate), burst)
    }

    /// Capped at `cap` requests per second when given (and > 0; else unlimited until the
    /// first 429), with bursts of `burst` (at least 1).
    pub fn adaptive(cap: Option<f64>, burst: u32) -> Self {
        let cap = cap.filter(|c| *c > 0.0);
        let burst = f64::from(burst.max(1));
        RateLimiter {
            cap,
            burst,
            state: Mutex::new(Control::new(cap, burst, Instant::now())),
        }
    }

    /// The rate now, requests per second (infinite while unlimited).
    pub fn rate(&self) -> f64 {
        self.state.lock().rate.unwrap_or(f64::INFINITY)
    }

    /// The configured cap, if any.
    pub fn cap(&self) -> Option<f64> {
        self.cap
    }

    /// Reserves one request slot and returns how long the caller must wait for it.
    pub fn reserve(&self) -> Duration {
        self.state.lock().reserve(Instant::now(), self.burst)
    }

    /// Waits for a request slot; the answer to the request sent then goes back to
    /// [`RateLimiter::throttled`] or [`RateLimiter::answered`] with what this returns.
    pub async fn acquire(&self) -> Sent {
        let now = Instant::now();
        let wait = self.state.lock().reserve(now, self.burst);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        Sent(now + wait)
    }

    /// A request sent at `sent` was answered 429, stating the gateway's limit (requests per
    /// second, [`stated_limit`]) or not: cuts the rate unless this 429 belongs to a burst
    /// already counted, and never lets it rise above a stated limit again. Returns whether
    /// it cut.
    pub fn throttled(&self, sent: Sent, stated: Option<f64>) -> bool {
        let mut state = self.state.lock();
        if let Some(limit) = stated {
            state.learn(limit);
        }
        let cap = state.ceiling(self.cap);
        state.throttled(Instant::now(), sent.0, cap)
    }

    /// A request was answered, not throttled: raises the rate a little.
    pub fn answered(&self) {
        let mut state = self.state.lock();
        let cap = state.ceiling(self.cap);
        state.answered(Instant::now(), cap, self.burst);
    }
}

/// The controller behind [`RateLimiter`], on explicit instants (tests drive it with their
/// own clock).
#[derive(Debug)]
struct Control {
    /// Requests per second; `None` while unlimited.
    rate: Option<f64>,
    /// May go negative: that many reservations are waiting.
    tokens: f64,
    last: Instant,
    last_decrease: Option<Instant>,
    meter: Meter,
    /// [`STATED_LIMIT_SHARE`] of the lowest limit a 429 stated.
    stated: Option<f64>,
}

impl Control {
    fn new(cap: Option<f64>, burst: f64, now: Instant) -> Self {
        Control {
            rate: cap,
            tokens: burst,
            last: now,
            last_decrease: None,
            meter: Meter::new(now),
            stated: None,
        }
    }

    /// A 429 stated the gateway's limit, `limit` requests per second.
    fn learn(&mut self, limit: f64) {
        let keep = (limit * STATED_LIMIT_SHARE).max(MIN_RATE);
        let ceiling = self.stated.map_or(keep, |s| s.min(keep));
        self.stated = Some(ceiling);
        self.rate = self.rate.map(|r| r.min(ceiling));
    }

    /// The rate it may not exceed: `cap`, or what a 429 stated, whichever is lower.
    fn ceiling(&self, cap: Option<f64>) -> Option<f64> {
        match (cap, self.stated) {
            (Some(c), Some(s)) => Some(c.min(s)),
            (c, s) => c.or(s),
        }
    }

    /// Brings the bucket up to `now` at the current rate.
    fn refill(&mut self, now: Instant, burst: f64) {
        if let Some(rate) = self.rate {
            let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
            self.tokens = (self.tokens + elapsed * rate).min(burst);
        }
        self.last = self.last.max(now);
    }

    fn reserve(&mut self, now: Instant, burst: f64) -> Duration {
        self.meter.add(now);
        let Some(rate) = self.rate else {
            return Duration::ZERO;
        };
        self.refill(now, burst);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / rate)
        }
    }

    fn throttled(&mut self, now: Instant, sent: Instant, cap: Option<f64>) -> bool {
        if let Some(last) = self.last_decrease {
            if sent < last || now < last + DECREASE_WINDOW {
                return false;
            }
        }
        // The bucket's size does not matter here: tokens only shrink below.
        self.refill(now, f64::INFINITY);
        let observed = self.meter.count(now) as f64 / METER_SPAN.as_secs_f64();
        let from = self.rate.map_or(observed, |r| r.min(observed));
        let mut rate = (from * DECREASE).max(MIN_RATE);
        if let Some(cap) = cap {
            rate = rate.min(cap);
        }
        self.rate = Some(rate);
        // No saved-up burst after a 429: the gateway has none left either.
        self.tokens = self.tokens.min(0.0);
        self.last_decrease = Some(now);
        true
    }

    fn answered(&mut self, now: Instant, cap: Option<f64>, burst: f64) {
        let Some(rate) = self.rate else {
            return;
        };
        self.refill(now, burst);
        // Only a rate in use earns more: a client idling below its rate has not shown the
        // service takes more, and a rate that grew while idle would burst into 429s.
        let observed = self.meter.count(now) as f64 / METER_SPAN.as_secs_f64();
        if observed < rate / 2.0 {
            return;
        }
        let mut raised = rate + increase(cap) / rate;
        if let Some(cap) = cap {
            raised = raised.min(cap);
        }
        self.rate = Some(raised);
    }
}

/// Requests per second gained per second at the full rate (see [`INCREASE`]).
fn increase(cap: Option<f64>) -> f64 {
    cap.map_or(INCREASE, |c| (c / 10.0).max(MIN_RATE))
}

/// Requests let through in the last [`METER_SPAN`], counted in [`METER_SLOTS`] slots.
#[derive(Debug)]
struct Meter {
    slots: [u64; METER_SLOTS],
    /// Start of the slot `current` counts into.
    start: Instant,
    current: usize,
}

impl Meter {
    fn new(now: Instant) -> Self {
        Meter {
            slots: [0; METER_SLOTS],
            start: now,
            current: 0,
        }
    }

    fn slot() -> Duration {
        METER_SPAN / METER_SLOTS as u32
    }

    /// Moves the current slot up to `now`, emptying the slots it passes.
    fn advance(&mut self, now: Instant) {
        let slot = Self::slot();
        let steps = now.saturating_duration_since(self.start).as_nanos() / slot.as_nanos();
        if steps >= METER_SLOTS as u128 {
            // Quiet for a whole span: nothing counted any more.
            *self = Meter::new(now);
            return;
        }
        for _ in 0..steps {
            self.current = (self.current + 1) % METER_SLOTS;
            self.slots[self.current] = 0;
            self.start += slot;
        }
    }

    fn add(&mut self, now: Instant) {
        self.advance(now);
        self.slots[self.current] += 1;
    }

    fn count(&mut self, now: Instant) -> u64 {
        self.advance(now);
        self.slots.iter().sum()
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

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Sends `n` requests evenly over `span` from `from`, each answered at once (not
    /// throttled); returns when the last went out.
    fn answered_evenly(c: &mut Control, cap: Option<f64>, from: Instant, n: u32, span: Duration) -> Instant {
        let mut at = from;
        for i in 0..n {
            at = from + span * i / n;
            c.reserve(at, 20.0);
            c.answered(at, cap, 20.0);
        }
        at
    }

    #[test]
    fn unlimited_until_the_first_429_then_cut_from_the_last_seconds_throughput() {
        let t0 = Instant::now();
        let mut c = Control::new(None, 20.0, t0);
        // 200 requests in 100 ms: none waits, and answers do not invent a rate.
        let last = answered_evenly(&mut c, None, t0, 200, ms(100));
        assert_eq!(c.rate, None);
        assert_eq!(c.reserve(last, 20.0), Duration::ZERO);
        // The 429: 201 requests went out in the last second.
        assert!(c.throttled(last + ms(1), last, None));
        let rate = c.rate.unwrap();
        assert!((rate - 201.0 * DECREASE).abs() < 1e-9, "{rate}");
        // From now on requests are spaced at that rate, with no saved-up burst.
        let wait = c.reserve(last + ms(1), 20.0);
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs_f64(1.0 / rate),
            "{wait:?}"
        );
    }

    #[test]
    fn a_burst_of_429s_cuts_once_per_window() {
        let t0 = Instant::now();
        let mut c = Control::new(Some(100.0), 20.0, t0);
        let last = answered_evenly(&mut c, Some(100.0), t0, 100, Duration::from_secs(1));
        let cut_at = last + ms(2);
        assert!(c.throttled(cut_at, last, Some(100.0)));
        let once = c.rate.unwrap();
        assert!((once - 100.0 * DECREASE).abs() < 1.0, "{once}");
        // Its siblings, sent before the cut, answered around it: no further cut.
        for k in 0..10 {
            assert!(!c.throttled(cut_at + ms(k), last, Some(100.0)));
        }
        // A request sent after the cut, still inside the window: no cut either.
        assert!(!c.throttled(cut_at + ms(500), cut_at + ms(400), Some(100.0)));
        // A request sent before the cut and answered after the window: still the old news.
        assert!(!c.throttled(cut_at + ms(1500), cut_at - ms(1), Some(100.0)));
        assert_eq!(c.rate, Some(once));
        // After the window, a request sent after the cut: a new signal.
        let sent = answered_evenly(&mut c, Some(100.0), cut_at + ms(10), 60, ms(990));
        assert!(c.throttled(cut_at + DECREASE_WINDOW + ms(1), sent, Some(100.0)));
        assert!(c.rate.unwrap() < once);
    }

    #[test]
    fn answers_at_the_full_rate_raise_it_additively() {
        let t0 = Instant::now();
        let mut c = Control::new(None, 20.0, t0);
        let last = answered_evenly(&mut c, None, t0, 143, Duration::from_secs(1));
        assert!(c.throttled(last, last, None));
        let cut = c.rate.unwrap();
        assert!((cut - 100.1).abs() < 1e-9, "{cut}");
        // A second of answers at about that rate gains about INCREASE.
        answered_evenly(&mut c, None, last + ms(1), 100, Duration::from_secs(1));
        let gained = c.rate.unwrap() - cut;
        assert!(gained > 0.8 * INCREASE && gained < 1.05 * INCREASE, "{gained}");
    }

    #[test]
    fn an_idle_client_does_not_raise_its_rate() {
        let t0 = Instant::now();
        let mut c = Control::new(None, 20.0, t0);
        let last = answered_evenly(&mut c, None, t0, 143, Duration::from_secs(1));
        assert!(c.throttled(last, last, None));
        let cut = c.rate.unwrap();
        // Ten requests a second against a rate of 100: not using it, not raising it.
        answered_evenly(&mut c, None, last + Duration::from_secs(2), 30, Duration::from_secs(3));
        assert_eq!(c.rate, Some(cut));
    }

    #[test]
    fn a_gateway_429_states_its_limit_per_second() {
        let body = |msg: &str| format!(r#"{{"error_code":"APIGW.0308","error_msg":"{msg}"}}"#).into_bytes();
        let stated = |msg: &str| stated_limit(&body(msg));
        let say = "The throttling threshold has been reached: policy user over ratelimit";
        assert_eq!(stated(&format!("{say}, limit:200, time:1 second")), Some(200.0));
        assert_eq!(stated(&format!("{say},limit:1200,time:1 minute")), Some(20.0));
        assert_eq!(stated(&format!("{say}, limit:7200, time:2 hours")), Some(1.0));
        assert_eq!(stated(&format!("{say}, limit:864000, time:1 day")), Some(10.0));
        for vague in [
            "Flow control: too many requests".to_string(),
            format!("{say}, limit:0, time:1 second"),
            format!("{say}, limit:200, time:1 fortnight"),
            format!("{say}, limit:many, time:1 second"),
        ] {
            assert_eq!(stated(&vague), None, "{vague}");
        }
        assert_eq!(stated_limit(b"\xff\xfe"), None);
    }

    #[test]
    fn a_stated_limit_becomes_a_ceiling_the_rate_never_climbs_past() {
        let limiter = RateLimiter::adaptive(None, 20);
        let sent = Sent(Instant::now());
        assert!(limiter.throttled(sent, Some(200.0)));
        let cut = limiter.rate();
        assert!(cut <= 200.0 * STATED_LIMIT_SHARE, "{cut}");
        // However long it is answered at its full rate, it stays under the stated limit.
        for _ in 0..20_000 {
            limiter.reserve();
            limiter.answered();
        }
        let held = limiter.rate();
        assert!(held <= 200.0 * STATED_LIMIT_SHARE + 1e-9 && held >= cut, "{held}");
        // A lower limit stated later lowers the ceiling; a higher one does not raise it.
        limiter.throttled(Sent(Instant::now() + DECREASE_WINDOW * 2), Some(100.0));
        limiter.throttled(Sent(Instant::now() + DECREASE_WINDOW * 4), Some(400.0));
        assert!(
            limiter.rate() <= 100.0 * STATED_LIMIT_SHARE + 1e-9,
            "{}",
            limiter.rate()
        );
    }

    #[test]
    fn the_cap_is_never_exceeded_and_is_climbed_back_to_slowly() {
        let t0 = Instant::now();
        let cap = Some(20.0);
        let mut c = Control::new(cap, 20.0, t0);
        let last = answered_evenly(&mut c, cap, t0, 200, Duration::from_secs(10));
        assert_eq!(c.rate, cap);
        assert!(c.throttled(last, last, cap));
        assert!((c.rate.unwrap() - 14.0).abs() < 1e-9, "{:?}", c.rate);
        // A tenth of the cap per second: two seconds from 14 to 18, then held at 20.
        let later = answered_evenly(&mut c, cap, last + ms(1), 30, Duration::from_secs(2));
        let climbed = c.rate.unwrap();
        assert!(climbed > 17.0 && climbed < 19.0, "{climbed}");
        answered_evenly(&mut c, cap, later + ms(1), 200, Duration::from_secs(10));
        assert_eq!(c.rate, cap);
    }

    #[test]
    fn with_a_cap_the_increase_is_a_tenth_of_it() {
        assert_eq!(increase(None), INCREASE);
        assert_eq!(increase(Some(20.0)), 2.0);
        assert_eq!(increase(Some(2000.0)), 200.0);
        assert_eq!(increase(Some(5.0)), MIN_RATE);
    }

    #[test]
    fn the_cut_starts_from_what_was_sent_not_from_an_unused_rate() {
        let t0 = Instant::now();
        let mut c = Control::new(Some(100.0), 20.0, t0);
        // Ten requests in the last second under a rate of 100: the cut is from 10.
        let last = answered_evenly(&mut c, Some(100.0), t0, 10, Duration::from_secs(1));
        assert!(c.throttled(last + ms(1), last, Some(100.0)));
        assert!((c.rate.unwrap() - 10.0 * DECREASE).abs() < 1e-9, "{:?}", c.rate);
    }

    #[test]
    fn repeated_429s_never_take_the_rate_to_zero() {
        let t0 = Instant::now();
        let mut c = Control::new(None, 20.0, t0);
        let mut now = t0;
        for _ in 0..30 {
            c.reserve(now, 20.0);
            assert!(c.throttled(now, now, None));
            now += DECREASE_WINDOW + ms(1);
        }
        assert_eq!(c.rate, Some(MIN_RATE));
        // After a long silence the meter is empty, and the floor still holds.
        c.reserve(now + Duration::from_secs(30), 20.0);
        assert!(c.throttled(now + Duration::from_secs(60), now + Duration::from_secs(30), None));
        assert_eq!(c.rate, Some(MIN_RATE));
    }

    #[test]
    fn the_meter_counts_the_last_second_only() {
        let t0 = Instant::now();
        let mut m = Meter::new(t0);
        for i in 0..10 {
            m.add(t0 + ms(i * 100));
        }
        assert_eq!(m.count(t0 + ms(950)), 10);
        // Slots age out one by one.
        assert_eq!(m.count(t0 + ms(1050)), 9);
        assert_eq!(m.count(t0 + ms(1550)), 4);
        assert_eq!(m.count(t0 + Duration::from_secs(5)), 0);
        m.add(t0 + Duration::from_secs(5));
        assert_eq!(m.count(t0 + Duration::from_secs(5)), 1);
    }

    #[tokio::test]
    async fn limiter_cuts_on_429_and_holds_waiting_tasks_to_the_new_rate() {
        let l = RateLimiter::adaptive(None, 1);
        assert_eq!(l.rate(), f64::INFINITY);
        let mut sent = Vec::new();
        for _ in 0..50 {
            sent.push(l.acquire().await);
        }
        assert!(l.throttled(sent[49], None));
        // Concurrent 429s of the same burst count once.
        assert!(sent[..49].iter().all(|s| !l.throttled(*s, None)));
        assert!((l.rate() - 50.0 * DECREASE).abs() < 1e-9, "{}", l.rate());
        assert_eq!(l.cap(), None);
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
