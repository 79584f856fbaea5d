//! Triggers (§6).

use super::{null_default, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A trigger (§6). `event_data` is type specific, so it stays JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Trigger {
    #[serde(deserialize_with = "null_default")]
    pub trigger_id: String,
    #[serde(deserialize_with = "null_default")]
    pub trigger_type_code: String,
    #[serde(deserialize_with = "null_default")]
    pub trigger_status: String,
    #[serde(deserialize_with = "null_default")]
    pub event_type_code: String,
    pub event_data: Map<String, Value>,
    pub last_updated_time: Timestamp,
    pub created_time: Timestamp,
}

/// `POST /fgs/triggers/{urn}` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct CreateTriggerRequest {
    pub trigger_type_code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_type_code: Option<String>,
    pub event_data: Map<String, Value>,
}

/// `PUT /fgs/triggers/{urn}/{type}/{id}` body (object form; §6.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct UpdateTriggerRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_data: Option<Map<String, Value>>,
}
