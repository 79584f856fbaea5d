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
use serde_json::{Map, Value};

/// A JSON object kept as its compact text, in its own key order, and parsed on use: as a
/// parsed map each entry costs a bucket, a key and a value allocated apart. It holds the
/// fields of a response that its struct has none for (a function's list item carries a
/// dozen, ~1.8 KB in some 26 allocations as a map against ~350 bytes in one: an eighth of a
/// 10,000-function plan's heap went to them), and a planned change's `before` and `after`
/// views. (De)serializes as a map, so it takes the place of a `#[serde(flatten)]` map.
#[derive(Clone, Default)]
pub struct CompactObject(Option<Box<str>>);

impl CompactObject {
    /// Keeps `map` (an empty map keeps nothing).
    pub fn from_map(map: &Map<String, Value>) -> Self {
        if map.is_empty() {
            return CompactObject(None);
        }
        CompactObject(Some(
            serde_json::to_string(map)
                .expect("a JSON map serializes")
                .into_boxed_str(),
        ))
    }

    /// Keeps `value` if it is an object (`None` for anything else: a create's `before`,
    /// a delete's `after`).
    pub fn from_value(value: &Value) -> Option<Self> {
        value.as_object().map(Self::from_map)
    }

    /// All the fields, parsed.
    pub fn to_map(&self) -> Map<String, Value> {
        self.0
            .as_deref()
            .map(|text| serde_json::from_str(text).expect("CompactObject holds the text of a JSON map"))
            .unwrap_or_default()
    }

    /// Field `key`, parsed.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.to_map().shift_remove(key)
    }

    /// Whether it holds no field.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }
}

impl From<Map<String, Value>> for CompactObject {
    fn from(map: Map<String, Value>) -> Self {
        CompactObject::from_map(&map)
    }
}

/// Equal when they hold the same fields, in whatever order.
impl PartialEq for CompactObject {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0 || self.to_map() == other.to_map()
    }
}

impl std::fmt::Debug for CompactObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.to_map().fmt(f)
    }
}

impl Serialize for CompactObject {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_map().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for CompactObject {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(CompactObject::from_map(&Map::deserialize(deserializer)?))
    }
}

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
