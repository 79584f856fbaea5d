//! Function bodies: create, config, code, the function page (§2, §3).

use super::{null_default, CompactObject, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

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
    /// Everything not modelled above, kept as text (see [`CompactObject`]).
    #[serde(flatten)]
    pub extra: CompactObject,
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
