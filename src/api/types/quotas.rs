//! Quotas (§3.9). Added for the emulator's responses (the client does not call this
//! operation).

use serde::{Deserialize, Serialize};

/// One quota: `type` (e.g. `fgs_func_num`), the limit, the amount used and its unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct QuotaResource {
    #[serde(rename = "type")]
    pub kind: String,
    pub quota: i64,
    pub used: i64,
    pub unit: String,
}

/// `quotas` of the quotas response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Quotas {
    pub resources: Vec<QuotaResource>,
}

/// `GET /fgs/quotas`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct QuotasResponse {
    pub quotas: Quotas,
}
