//! The time a rollout goes by: the fgform emulator's clock (which tests move with
//! `POST /_emulator/clock/advance`), or for anything else this machine's.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Client;

impl Client {
    /// The fgform emulator's clock (`GET /_emulator/clock`); `None` when the endpoint is not
    /// an fgform emulator.
    pub async fn emulator_now(&self) -> Option<DateTime<Utc>> {
        let url = format!("{}/_emulator/clock", self.endpoint().trim_end_matches('/'));
        let response = self
            .inner
            .http
            .get(url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        let body: serde_json::Value = response.json().await.ok()?;
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
