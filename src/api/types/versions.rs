//! Published versions and aliases (§4).

use super::{null_default, FunctionConfig, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `POST …/versions` body (§4.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct PublishVersionRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// `marker`/`maxitems` page of versions (function-shaped items; the emulator writes the
/// items it renders as JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct VersionPage<T = FunctionConfig> {
    pub versions: Vec<T>,
    pub next_marker: Option<i64>,
    pub count: Option<i64>,
}

/// An alias (§4.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Alias {
    #[serde(deserialize_with = "null_default")]
    pub name: String,
    #[serde(deserialize_with = "null_default")]
    pub version: String,
    #[serde(deserialize_with = "null_default")]
    pub description: String,
    #[serde(deserialize_with = "null_default")]
    pub alias_urn: String,
    pub last_modified: Timestamp,
    pub additional_version_weights: Option<Map<String, Value>>,
    pub additional_version_strategy: Option<Map<String, Value>>,
}

/// Alias create/update body (`name` only on create).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct AliasRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_version_weights: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_version_strategy: Option<Map<String, Value>>,
}
