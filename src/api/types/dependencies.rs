//! Dependency packages and versions (§7).

use super::{null_default, Timestamp};
use serde::{Deserialize, Serialize};

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

/// `marker`/`maxitems` page of dependency packages or versions. The client reads every item
/// as a [`DependencyVersion`]; the emulator writes [`DependencyVersionResponse`] or
/// [`DependencyPackage`] items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct DependencyPage<T = DependencyVersion> {
    pub dependencies: Vec<T>,
    pub next_marker: Option<i64>,
    pub count: Option<i64>,
}

// Added for the emulator's responses: what the API sends beyond what the reconciler keeps.

/// A dependency version as create, show and list-versions return it: the
/// [`DependencyVersion`] fields, `is_shared`, and (show only) `download_link`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct DependencyVersionResponse {
    #[serde(flatten)]
    pub version: DependencyVersion,
    #[serde(default)]
    pub is_shared: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_link: Option<String>,
}

/// A dependency package (the older package API, and package-list items): its latest
/// version's fields under the package's id, without `dep_id`. `version` and
/// `last_modified` are in list items only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct DependencyPackage {
    pub id: String,
    pub owner: String,
    pub link: String,
    pub runtime: String,
    pub etag: String,
    pub size: i64,
    pub name: String,
    pub file_name: String,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<Timestamp>,
}
