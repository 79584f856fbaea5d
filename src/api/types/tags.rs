//! Tags (§9).

use super::null_default;
use serde::{Deserialize, Serialize};

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

// Added for the emulator's responses (the client does not call these operations).

/// A tag key with every value it has across the project's functions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ProjectTag {
    pub key: String,
    pub values: Vec<String>,
}

/// `GET /functions/tags` (the project's tag keys and values).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ProjectTagsResponse {
    pub tags: Vec<ProjectTag>,
    pub sys_tags: Vec<ProjectTag>,
}
