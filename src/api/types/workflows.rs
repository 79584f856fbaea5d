//! Workflows (§8).

use super::{null_default, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A workflow definition (`WorkflowCreateBody`, §8.1). States, functions and the rest stay
/// JSON: their shapes are open-ended and must round-trip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct WorkflowDefinition {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub start: String,
    pub functions: Vec<Value>,
    pub states: Vec<Value>,
    pub constants: Value,
    pub retries: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub triggers: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Workflow create/update response and list item (§8.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct WorkflowSummary {
    #[serde(deserialize_with = "null_default")]
    pub id: String,
    #[serde(deserialize_with = "null_default")]
    pub workflow_urn: String,
    #[serde(deserialize_with = "null_default")]
    pub name: String,
    #[serde(deserialize_with = "null_default")]
    pub description: String,
    pub created_time: Timestamp,
    pub updated_time: Timestamp,
    #[serde(deserialize_with = "null_default")]
    pub created_by: String,
    #[serde(deserialize_with = "null_default")]
    pub mode: String,
    #[serde(deserialize_with = "null_default")]
    pub enable_stream_response: bool,
}

/// `GET /fgs/workflows/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Workflow {
    #[serde(deserialize_with = "null_default")]
    pub id: String,
    #[serde(deserialize_with = "null_default")]
    pub workflow_urn: String,
    pub created_time: Timestamp,
    pub updated_time: Timestamp,
    #[serde(deserialize_with = "null_default")]
    pub created_by: String,
    pub definition: WorkflowDefinition,
}

/// `limit`/`offset` page of workflows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct WorkflowPage {
    pub total: Option<i64>,
    pub size: Option<i64>,
    pub workflows: Vec<WorkflowSummary>,
}

/// `DELETE /fgs/workflows` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct BatchDeleteWorkflowsRequest {
    pub workflow_urns: Vec<String>,
}

/// `DELETE /fgs/workflows` response: per-item results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct BatchDeleteWorkflowsResponse {
    pub success: Vec<String>,
    pub fail: Vec<Value>,
}
