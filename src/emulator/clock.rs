//! The emulator's clock: real time plus an offset that `POST /_emulator/clock/advance`
//! moves forward, so tests can jump over timer schedules, async retries and event ages,
//! and workflow Sleep states. Everything in the emulator that waits on a schedule waits
//! with [`Clock::sleep`] and reads the time with [`Clock::now`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

pub(crate) struct Clock {
    /// How far the clock was advanced, in milliseconds.
    offset: watch::Sender<u64>,
}

impl Default for Clock {
    fn default() -> Self {
        Clock {
            offset: watch::channel(0).0,
        }
    }
}

impl Clock {
    /// The emulator's time.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset()
    }

    fn offset(&self) -> Duration {
        Duration::from_millis(*self.offset.borrow())
    }

    /// Moves the clock `by` forward: sleepers whose time has come wake at once.
    pub fn advance(&self, by: Duration) {
        self.offset.send_modify(|ms| *ms += by.as_millis() as u64);
    }

    /// Waits until the emulator's time is `until` (real time passing, or the clock being
    /// advanced past it).
    pub async fn sleep_until(&self, until: DateTime<Utc>) {
        let mut advanced = self.offset.subscribe();
        loop {
            let left = (until - self.now()).to_std().unwrap_or_default();
            if left.is_zero() {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(left) => {}
                changed = advanced.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
            }
        }
    }

    /// Waits `duration` of the emulator's time.
    pub async fn sleep(&self, duration: Duration) {
        let until = self.now() + duration;
        self.sleep_until(until).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn advancing_the_clock_wakes_a_sleeper_at_once() {
        let clock = std::sync::Arc::new(Clock::default());
        let before = clock.now();
        let sleeper = {
            let clock = clock.clone();
            tokio::spawn(async move { clock.sleep(Duration::from_secs(3600)).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!sleeper.is_finished());
        clock.advance(Duration::from_secs(1800));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!sleeper.is_finished(), "half way is not there");
        clock.advance(Duration::from_secs(1800));
        tokio::time::timeout(Duration::from_secs(5), sleeper)
            .await
            .unwrap()
            .unwrap();
        assert!(clock.now() - before >= chrono::Duration::seconds(3600));
    }

    #[tokio::test]
    async fn a_short_sleep_ends_in_real_time() {
        let clock = Clock::default();
        let started = std::time::Instant::now();
        clock.sleep(Duration::from_millis(50)).await;
        assert!(started.elapsed() >= Duration::from_millis(50));
    }
}
