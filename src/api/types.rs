//! Wire types: serde structs for the request and response bodies of the routes the
//! reconciler uses (`shared/reference/fgs-api.md` §2–§9), one file per resource family and
//! re-exported here. Shared by the client and the emulator (which builds its response bodies
//! from them), so they live here, without I/O.
//!
//! They are lenient on purpose: every response struct defaults missing fields, ignores
//! unknown ones (or keeps them in `extra`), and takes timestamps as [`Timestamp`] because
//! their formats differ per resource (§12). Request structs omit unset fields entirely, as
//! the official SDK does (it never sends `null`).

mod async_config;
mod dependencies;
mod functions;
mod quotas;
mod statistics;
mod tags;
mod triggers;
mod versions;
mod workflows;

pub use async_config::*;
pub use dependencies::*;
pub use functions::*;
pub use quotas::*;
pub use statistics::*;
pub use tags::*;
pub use triggers::*;
pub use versions::*;
pub use workflows::*;

use serde::{Deserialize, Serialize};

/// Reads `null` as the type's default: some API versions send `"user_data": null` or
/// `"description": null` where others omit the field or send `""`.
pub fn null_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A timestamp in whatever form the API used: RFC 3339, `YYYY-MM-DD HH:MM:SS`, or an epoch
/// number (seconds or milliseconds). Kept verbatim; compare only within one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(untagged)]
pub enum Timestamp {
    #[default]
    Missing,
    Text(String),
    Epoch(i64),
    Float(f64),
}

impl Timestamp {
    /// Best-effort conversion to seconds since the epoch (UTC), for ordering.
    pub fn epoch_seconds(&self) -> Option<i64> {
        match self {
            Timestamp::Missing => None,
            Timestamp::Epoch(n) if *n > 100_000_000_000 => Some(n / 1000),
            Timestamp::Epoch(n) => Some(*n),
            Timestamp::Float(f) => Some(*f as i64),
            Timestamp::Text(s) => {
                if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
                    return Some(t.timestamp());
                }
                chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
                    .ok()
                    .map(|t| t.and_utc().timestamp())
            }
        }
    }
}

#[cfg(test)]
mod tests;
