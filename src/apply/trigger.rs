//! A trigger's step: delete (a replace deletes first), create, or a status update.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{function_urn, not_found, record, Ctx, StepError};
use crate::api::types::UpdateTriggerRequest;
use crate::api::Operation;
use crate::plan::{Action, Change};
use crate::state::ResourceState;

pub(super) async fn run(
    ctx: &Ctx,
    change: &Change,
    function: &str,
    trigger: &str,
    private: BTreeMap<String, Value>,
    settle: &mut Vec<String>,
) -> Result<(), StepError> {
    let address = &change.address;
    let has = |op: Operation| change.calls.contains(&op);
    let old = ctx.recorder.get(address);
    let urn = function_urn(ctx, function);
    let old_type = old
        .as_ref()
        .and_then(|r| {
            r.attributes
                .get("trigger_type_code")
                .and_then(|v| v.as_str().map(str::to_string))
        })
        .or_else(|| {
            change
                .before
                .get("trigger_type_code")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_default();
    if has(Operation::DeleteFunctionTrigger) {
        if let Some(old) = &old {
            let request = async {
                ctx.client
                    .delete_trigger(&urn, &old_type, &old.id)
                    .await
                    .or_else(not_found)
            };
            ctx.call(address, Operation::DeleteFunctionTrigger, settle, request)
                .await?;
        }
        ctx.recorder.remove(std::slice::from_ref(address), settle).await?;
    }
    if change.action == Action::Delete {
        return Ok(ctx.recorder.remove(std::slice::from_ref(address), settle).await?);
    }
    let spec = &ctx.desired.as_ref().expect("desired").functions[function].triggers[trigger];
    if has(Operation::CreateFunctionTrigger) {
        let body = spec.create_request();
        let template = record("trigger", String::new(), change, private);
        let lookup = json!({
            "function_urn": urn,
            "trigger_type_code": spec.trigger_type_code,
            "event_data": spec.event_data,
        });
        let request = ctx.client.create_trigger(&urn, &body);
        let created = ctx
            .send(
                address,
                Operation::CreateFunctionTrigger,
                lookup,
                Some(template.clone()),
                settle,
                request,
            )
            .await?;
        let rec = ResourceState {
            id: created.trigger_id,
            ..template
        };
        ctx.recorder.put(address, rec, settle).await?;
    } else if has(Operation::UpdateTrigger) {
        let id = old.map(|r| r.id).unwrap_or_default();
        let body = UpdateTriggerRequest {
            trigger_status: Some(spec.trigger_status.as_str().into()),
            event_data: None,
        };
        let request = ctx.client.update_trigger(&urn, &old_type, &id, &body);
        ctx.call(address, Operation::UpdateTrigger, settle, request).await?;
        ctx.recorder
            .put(address, record("trigger", id, change, private), settle)
            .await?;
    }
    Ok(())
}
