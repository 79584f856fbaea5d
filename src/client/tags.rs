//! Function tags (fgs-api.md §9): note the path has no `/fgs/` segment. Adding and
//! removing the same tags twice is harmless, so both are retried like idempotent writes.

use super::{seg, ApiError, Call, Client, Kind};
use crate::api::types::{Tag, TagsRequest, TagsResponse};

impl Client {
    /// `GET /functions/{urn}/tags`.
    pub async fn list_function_tags(&self, urn: &str) -> Result<TagsResponse, ApiError> {
        self.json(Call::get(format!("/functions/{}/tags", seg(urn)))).await
    }

    /// `POST /functions/{urn}/tags/create` → 204.
    pub async fn add_function_tags(&self, urn: &str, tags: &[Tag]) -> Result<(), ApiError> {
        let body = TagsRequest {
            tags: tags.to_vec(),
            action: "create".into(),
        };
        let path = format!("/functions/{}/tags/create", seg(urn));
        self.unit(Call::with_body("POST", path, &body, Kind::Write)).await
    }

    /// `DELETE /functions/{urn}/tags/delete` with a body → 204.
    pub async fn remove_function_tags(&self, urn: &str, tags: &[Tag]) -> Result<(), ApiError> {
        let body = TagsRequest {
            tags: tags.to_vec(),
            action: "delete".into(),
        };
        let path = format!("/functions/{}/tags/delete", seg(urn));
        self.unit(Call::with_body("DELETE", path, &body, Kind::Write)).await
    }
}
