//! A workflow's step: create, update (the whole definition) or delete.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{record, unplanned, Ctx, StepError};
use crate::api::Operation;
use crate::plan::{Action, Change, Request};

pub(super) async fn run(
    ctx: &Ctx<'_>,
    change: &Change,
    mut private: BTreeMap<String, Value>,
    settle: &mut Vec<String>,
) -> Result<(), StepError> {
    let address = &change.address;
    let has = |op: Operation| change.has(op);
    let old = ctx.recorder.get(address);
    if change.action == Action::Delete {
        if has(Operation::BatchDeleteWorkflows) {
            let urn = old
                .as_ref()
                .and_then(|r| {
                    r.private
                        .get("workflow_urn")
                        .and_then(|v| v.as_str().map(str::to_string))
                })
                .unwrap_or_default();
            let urns = [urn];
            let request = ctx.client.delete_workflows(&urns);
            let result = ctx
                .send(
                    address,
                    Operation::BatchDeleteWorkflows,
                    Value::Null,
                    None,
                    settle,
                    request,
                )
                .await?;
            if !result.fail.is_empty() {
                return Err(StepError::Other {
                    address: address.clone(),
                    message: format!("the service did not delete it: {}", Value::Array(result.fail)),
                });
            }
        }
        return Ok(ctx.recorder.remove(std::slice::from_ref(address), settle)?);
    }
    let summary = match (change.request(Operation::UpdateWorkFlow), old) {
        (Some(Request::UpdateWorkFlow(body)), Some(old)) => {
            let request = ctx.client.update_workflow(&old.id, body);
            ctx.call(address, Operation::UpdateWorkFlow, settle, request).await?
        }
        _ => {
            let op = Operation::CreateWorkflow;
            let Some(Request::CreateWorkflow(body)) = change.request(op) else {
                return Err(unplanned(address, op));
            };
            let template = record("workflow", String::new(), change, private.clone());
            let request = ctx.client.create_workflow(body);
            let lookup = json!({"name": body.name});
            ctx.send(
                address,
                Operation::CreateWorkflow,
                lookup,
                Some(template),
                settle,
                request,
            )
            .await?
        }
    };
    private.insert("workflow_urn".into(), summary.workflow_urn.clone().into());
    Ok(ctx
        .recorder
        .put(address, record("workflow", summary.id, change, private), settle)?)
}
