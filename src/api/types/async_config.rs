//! Asynchronous invocation config (§5).

use super::{null_default, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One async destination: `param` is a JSON-encoded string (§5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Destination {
    pub destination: String,
    pub param: String,
}

/// `destination_config`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct DestinationConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_success: Option<Destination>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<Destination>,
}

/// `PUT …/async-invoke-config` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct AsyncInvokeConfigRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_async_event_age_in_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_async_retry_attempts: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_config: Option<DestinationConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_async_status_log: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The async-invoke config of one qualifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct AsyncInvokeConfig {
    #[serde(deserialize_with = "null_default")]
    pub func_urn: String,
    pub max_async_event_age_in_seconds: Option<i64>,
    pub max_async_retry_attempts: Option<i64>,
    pub destination_config: Option<DestinationConfig>,
    pub enable_async_status_log: Option<bool>,
    pub created_time: Timestamp,
    pub last_modified: Timestamp,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `page_info` of the marker/limit scheme.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct PageInfo {
    pub next_marker: Option<i64>,
    pub previous_marker: Option<i64>,
    pub current_count: Option<i64>,
}

/// `GET …/async-invoke-configs` page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct AsyncInvokeConfigPage {
    pub async_invoke_configs: Vec<AsyncInvokeConfig>,
    pub count: Option<i64>,
    pub page_info: PageInfo,
}

// Added for the emulator's responses (the client does not call this operation).

/// `POST …/enable-async-status-logs` response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct AsyncStatusLogResponse {
    pub enable_async_status_log: bool,
}
