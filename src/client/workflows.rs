//! Workflows (函数流, fgs-api.md §8): limit/offset paging, show/update by id, batch delete
//! by URN.

use serde_json::Value;

use super::pagination;
use super::{boxed, optional, seg, ApiError, Call, Client, Kind, Lookup};
use crate::api::types::{
    BatchDeleteWorkflowsRequest, BatchDeleteWorkflowsResponse, Workflow, WorkflowDefinition, WorkflowPage,
    WorkflowSummary,
};

/// Whether a stored definition is the one sent: every field that was sent is equal.
pub fn same_definition(sent: &WorkflowDefinition, found: &WorkflowDefinition) -> Result<(), String> {
    let (Ok(Value::Object(a)), Ok(Value::Object(b))) = (serde_json::to_value(sent), serde_json::to_value(found)) else {
        return Err("definitions are not objects".into());
    };
    let diff: Vec<&str> = a
        .iter()
        .filter(|(k, v)| b.get(*k) != Some(v))
        .map(|(k, _)| k.as_str())
        .collect();
    if diff.is_empty() {
        Ok(())
    } else {
        Err(format!("definition differs in {}", diff.join(", ")))
    }
}

impl Client {
    /// `POST /fgs/workflows` → 201. After a lost answer the workflow is looked up by name
    /// and adopted when its definition equals the one sent.
    pub async fn create_workflow(&self, body: &WorkflowDefinition) -> Result<WorkflowSummary, ApiError> {
        self.create_adopting(
            "workflow",
            &body.name,
            || {
                boxed(async move {
                    self.json(Call::with_body("POST", "/fgs/workflows".into(), body, Kind::Create))
                        .await
                })
            },
            || {
                boxed(async move {
                    let Some(summary) = self.find_workflow(&body.name).await? else {
                        return Ok(Lookup::Absent);
                    };
                    let Some(full) = self.show_workflow_opt(&summary.id).await? else {
                        return Ok(Lookup::Absent);
                    };
                    Ok(match same_definition(body, &full.definition) {
                        Ok(()) => Lookup::Found(summary),
                        Err(diff) => Lookup::Conflict(diff),
                    })
                })
            },
        )
        .await
    }

    /// One page of `GET /fgs/workflows` (limit ≤ 200).
    pub async fn list_workflows(&self, offset: i64, limit: u32, name: Option<&str>) -> Result<WorkflowPage, ApiError> {
        let mut call = Call::get("/fgs/workflows".into())
            .query("limit", limit.min(200))
            .query("offset", offset);
        if let Some(n) = name {
            call = call.query("workflow_name", n);
        }
        self.json(call).await
    }

    /// Every workflow (optionally filtered by a name substring).
    pub async fn list_all_workflows(&self, name: Option<&str>) -> Result<Vec<WorkflowSummary>, ApiError> {
        pagination::collect_offset(|offset| {
            boxed(async move {
                let page = self.list_workflows(offset, 200, name).await?;
                Ok((page.workflows, page.total))
            })
        })
        .await
    }

    /// The workflow with exactly this name.
    pub async fn find_workflow(&self, name: &str) -> Result<Option<WorkflowSummary>, ApiError> {
        Ok(self
            .list_all_workflows(Some(name))
            .await?
            .into_iter()
            .find(|w| w.name == name))
    }

    /// `GET /fgs/workflows/{id}`.
    pub async fn show_workflow(&self, id: &str) -> Result<Workflow, ApiError> {
        self.json(Call::get(format!("/fgs/workflows/{}", seg(id)))).await
    }

    /// Like [`Client::show_workflow`], with 404 as `None`.
    pub async fn show_workflow_opt(&self, id: &str) -> Result<Option<Workflow>, ApiError> {
        optional(self.show_workflow(id).await)
    }

    /// `PUT /fgs/workflows/{id}` with the full definition.
    pub async fn update_workflow(&self, id: &str, body: &WorkflowDefinition) -> Result<WorkflowSummary, ApiError> {
        let path = format!("/fgs/workflows/{}", seg(id));
        self.json(Call::with_body("PUT", path, body, Kind::Write)).await
    }

    /// `DELETE /fgs/workflows` with `{workflow_urns}`: per-item results (the call is 200).
    pub async fn delete_workflows(&self, urns: &[String]) -> Result<BatchDeleteWorkflowsResponse, ApiError> {
        let body = BatchDeleteWorkflowsRequest {
            workflow_urns: urns.to_vec(),
        };
        self.json(Call::with_body("DELETE", "/fgs/workflows".into(), &body, Kind::Write))
            .await
    }
}
