//! The error envelope both FunctionGraph and its gateway answer with.

use serde::{Deserialize, Serialize};

/// `{"error_code": "FSS.1051", "error_msg": "...", "request_id": "..."}`. FunctionGraph
/// bodies carry the first two; gateway (APIGW) and workflow bodies add `request_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiErrorBody {
    pub error_code: String,
    pub error_msg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}
