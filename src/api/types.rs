//! Wire types: serde structs for the request and response bodies of the routes the
//! reconciler uses (`shared/reference/fgs-api.md` §2–§9). Shared by the client and (later)
//! the emulator, so they live here, without I/O.
//!
//! They are lenient on purpose: every response struct defaults missing fields, ignores
//! unknown ones (or keeps them in `extra`), and takes timestamps as [`Timestamp`] because
//! their formats differ per resource (§12). Request structs omit unset fields entirely, as
//! the official SDK does (it never sends `null`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

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

/// `func_code`: base64 of the code zip (requests) or empty strings (responses).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct FuncCode {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// `strategy_config`: max instances (`concurrency`) and per-instance concurrency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct StrategyConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrent_num: Option<i64>,
}

/// `POST /fgs/functions` body (§3.1). Fields not modelled go through `extra`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct CreateFunctionRequest {
    pub func_name: String,
    pub package: String,
    pub runtime: String,
    pub handler: String,
    pub memory_size: i64,
    pub timeout: i64,
    pub code_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_filename: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub func_code: Option<FuncCode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub depend_version_list: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encrypted_user_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xrole: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_xrole: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enterprise_project_id: Option<String>,
    /// Anything else the API accepts (VPC, mounts, log config, …), passed through.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `PUT …/config` body (§3.4): always the complete desired metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct UpdateFunctionConfigRequest {
    pub func_name: String,
    pub handler: String,
    pub memory_size: i64,
    pub timeout: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encrypted_user_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xrole: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_xrole: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy_config: Option<StrategyConfig>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `PUT …/code` body (§3.6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct UpdateFunctionCodeRequest {
    pub code_type: String,
    pub func_code: FuncCode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_filename: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub depend_version_list: Option<Vec<String>>,
}

/// A function as create, show-config, update and list return it (§2, §3.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct FunctionConfig {
    #[serde(deserialize_with = "null_default")]
    pub func_id: String,
    #[serde(deserialize_with = "null_default")]
    pub resource_id: String,
    #[serde(deserialize_with = "null_default")]
    pub func_urn: String,
    #[serde(deserialize_with = "null_default")]
    pub func_name: String,
    #[serde(deserialize_with = "null_default")]
    pub package: String,
    #[serde(deserialize_with = "null_default")]
    pub runtime: String,
    #[serde(deserialize_with = "null_default")]
    pub handler: String,
    #[serde(deserialize_with = "null_default")]
    pub memory_size: i64,
    #[serde(deserialize_with = "null_default")]
    pub timeout: i64,
    #[serde(deserialize_with = "null_default")]
    pub cpu: i64,
    #[serde(deserialize_with = "null_default")]
    pub code_type: String,
    #[serde(deserialize_with = "null_default")]
    pub code_url: String,
    #[serde(deserialize_with = "null_default")]
    pub code_filename: String,
    #[serde(deserialize_with = "null_default")]
    pub code_size: i64,
    #[serde(deserialize_with = "null_default")]
    pub digest: String,
    #[serde(deserialize_with = "null_default")]
    pub user_data: String,
    #[serde(deserialize_with = "null_default")]
    pub encrypted_user_data: String,
    #[serde(deserialize_with = "null_default")]
    pub description: String,
    #[serde(deserialize_with = "null_default")]
    pub xrole: String,
    #[serde(deserialize_with = "null_default")]
    pub app_xrole: String,
    #[serde(deserialize_with = "null_default")]
    pub version: String,
    #[serde(rename = "type")]
    #[serde(deserialize_with = "null_default")]
    pub kind: String,
    #[serde(deserialize_with = "null_default")]
    pub enterprise_project_id: String,
    pub last_modified: Timestamp,
    pub strategy_config: Option<StrategyConfig>,
    #[serde(deserialize_with = "null_default")]
    pub depend_version_list: Vec<String>,
    /// Everything not modelled above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `GET …/code` and `PUT …/code` response (§3.5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct FunctionCode {
    #[serde(deserialize_with = "null_default")]
    pub func_urn: String,
    #[serde(deserialize_with = "null_default")]
    pub func_name: String,
    #[serde(deserialize_with = "null_default")]
    pub runtime: String,
    #[serde(deserialize_with = "null_default")]
    pub code_type: String,
    #[serde(deserialize_with = "null_default")]
    pub code_url: String,
    #[serde(deserialize_with = "null_default")]
    pub code_filename: String,
    #[serde(deserialize_with = "null_default")]
    pub code_size: i64,
    #[serde(deserialize_with = "null_default")]
    pub digest: String,
    pub last_modified: Timestamp,
    pub func_code: FuncCode,
    #[serde(deserialize_with = "null_default")]
    pub depend_version_list: Vec<String>,
    /// Everything not modelled above (`domain_id`, `dependencies`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `marker`/`maxitems` page of functions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct FunctionPage {
    pub functions: Vec<FunctionConfig>,
    pub next_marker: Option<i64>,
    pub count: Option<i64>,
}

/// `PUT …/config-max-instance` body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaxInstanceRequest {
    pub max_instance_num: i64,
}

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

/// `marker`/`maxitems` page of versions (function-shaped items).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct VersionPage {
    pub versions: Vec<FunctionConfig>,
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

/// `POST /fgs/dependencies/version` body (§7.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct CreateDependencyVersionRequest {
    pub depend_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub depend_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub depend_link: Option<String>,
    pub runtime: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A dependency version (create/show/list-versions item). Package-list items have the same
/// shape with `id` = the package id and no `dep_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct DependencyVersion {
    #[serde(deserialize_with = "null_default")]
    pub id: String,
    #[serde(deserialize_with = "null_default")]
    pub dep_id: String,
    #[serde(deserialize_with = "null_default")]
    pub version: i64,
    #[serde(deserialize_with = "null_default")]
    pub name: String,
    #[serde(deserialize_with = "null_default")]
    pub runtime: String,
    #[serde(deserialize_with = "null_default")]
    pub owner: String,
    #[serde(deserialize_with = "null_default")]
    pub link: String,
    #[serde(deserialize_with = "null_default")]
    pub etag: String,
    #[serde(deserialize_with = "null_default")]
    pub size: i64,
    #[serde(deserialize_with = "null_default")]
    pub file_name: String,
    #[serde(deserialize_with = "null_default")]
    pub description: String,
    pub last_modified: Timestamp,
}

/// `marker`/`maxitems` page of dependency packages or versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct DependencyPage {
    pub dependencies: Vec<DependencyVersion>,
    pub next_marker: Option<i64>,
    pub count: Option<i64>,
}

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

/// A resource tag.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Tag {
    #[serde(deserialize_with = "null_default")]
    pub key: String,
    #[serde(deserialize_with = "null_default")]
    pub value: String,
}

/// Tag create/delete body (§9).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TagsRequest {
    pub tags: Vec<Tag>,
    pub action: String,
}

/// `GET /functions/{urn}/tags`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct TagsResponse {
    #[serde(deserialize_with = "null_default")]
    pub tags: Vec<Tag>,
    #[serde(deserialize_with = "null_default")]
    pub sys_tags: Vec<Tag>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_omit_unset_fields() {
        let body = CreateFunctionRequest {
            func_name: "f".into(),
            package: "default".into(),
            runtime: "Python3.9".into(),
            handler: "index.handler".into(),
            memory_size: 128,
            timeout: 3,
            code_type: "zip".into(),
            ..Default::default()
        };
        let v = serde_json::to_value(&body).unwrap();
        assert!(v.get("user_data").is_none() && v.get("func_code").is_none() && v.get("type").is_none());
    }

    #[test]
    fn responses_are_lenient() {
        let f: FunctionConfig = serde_json::from_value(json!({
            "func_name": "f", "memory_size": 256, "last_modified": "2019-10-25 15:37:27",
            "brand_new_field": {"x": 1}, "strategy_config": {"concurrency": -1}
        }))
        .unwrap();
        assert_eq!(f.memory_size, 256);
        assert_eq!(f.extra["brand_new_field"]["x"], 1);
        assert_eq!(f.last_modified.epoch_seconds(), Some(1_572_017_847));
        let f: FunctionConfig =
            serde_json::from_value(json!({"user_data": null, "memory_size": null, "depend_version_list": null}))
                .unwrap();
        assert_eq!((f.user_data.as_str(), f.memory_size), ("", 0));
        let d: DependencyVersion = serde_json::from_value(json!({"last_modified": 1660029887})).unwrap();
        assert_eq!(d.last_modified.epoch_seconds(), Some(1_660_029_887));
        let t = Timestamp::Text("2021-03-04T14:50:02+08:00".into());
        assert_eq!(t.epoch_seconds(), Some(1_614_840_602));
        assert_eq!(Timestamp::Epoch(1_660_029_887_000).epoch_seconds(), Some(1_660_029_887));
    }
}
