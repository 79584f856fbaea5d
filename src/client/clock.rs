//! The time a rollout goes by: the fgform emulator's clock (which tests move with
//! `POST /_emulator/clock/advance`), or for anything else this machine's.

use chrono::{DateTime, Utc};

use super::Client;

impl Client {
    /// The fgform emulator's clock (`GET /_emulator/clock`); `None` when the endpoint is not
    /// an fgform emulator.
    pub async fn emulator_now(&self) -> Option<DateTime<Utc>> {
        let body = self.emulator_get("clock").await?;
        let now = body.get("now")?.as_str()?;
        DateTime::parse_from_rfc3339(now).ok().map(|t| t.with_timezone(&Utc))
    }

    /// Now, by the target's clock: the emulator's when the endpoint is an fgform emulator,
    /// else this machine's (the cloud's statistics are stamped in UTC epoch time).
    pub async fn target_now(&self) -> DateTime<Utc> {
        match self.emulator_now().await {
            Some(t) => t,
            None => Utc::now(),
        }
    }
}
