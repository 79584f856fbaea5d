//! Async-invocation config per qualifier (fgs-api.md §5). PUT is an upsert, so it is
//! retried like any idempotent write.

use super::pagination;
use super::{boxed, optional, seg, ApiError, Call, Client, Kind};
use crate::api::types::{AsyncInvokeConfig, AsyncInvokeConfigPage, AsyncInvokeConfigRequest};

impl Client {
    /// `PUT …/functions/{urn}/async-invoke-config` (create or replace).
    pub async fn put_async_config(
        &self,
        urn: &str,
        body: &AsyncInvokeConfigRequest,
    ) -> Result<AsyncInvokeConfig, ApiError> {
        let path = format!("/fgs/functions/{}/async-invoke-config", seg(urn));
        self.json(Call::with_body("PUT", path, body, Kind::Write)).await
    }

    /// `GET …/functions/{urn}/async-invoke-config`; `None` when never set (404).
    pub async fn show_async_config(&self, urn: &str) -> Result<Option<AsyncInvokeConfig>, ApiError> {
        optional(
            self.json(Call::get(format!("/fgs/functions/{}/async-invoke-config", seg(urn))))
                .await,
        )
    }

    /// `DELETE …/functions/{urn}/async-invoke-config`.
    pub async fn delete_async_config(&self, urn: &str) -> Result<(), ApiError> {
        self.unit(Call::delete(format!("/fgs/functions/{}/async-invoke-config", seg(urn))))
            .await
    }

    /// One page of `GET …/functions/{urn}/async-invoke-configs` (marker/limit + page_info).
    pub async fn list_async_configs(
        &self,
        urn: &str,
        marker: i64,
        limit: u32,
    ) -> Result<AsyncInvokeConfigPage, ApiError> {
        let call = Call::get(format!("/fgs/functions/{}/async-invoke-configs", seg(urn)))
            .query("marker", marker)
            .query("limit", limit.min(100));
        self.json(call).await
    }

    /// The async configs of every qualifier of a function.
    pub async fn list_all_async_configs(&self, urn: &str) -> Result<Vec<AsyncInvokeConfig>, ApiError> {
        pagination::collect_marker(|marker| {
            boxed(async move {
                let page = self.list_async_configs(urn, marker, 100).await?;
                Ok((page.async_invoke_configs, page.page_info.next_marker, page.count))
            })
        })
        .await
    }
}
