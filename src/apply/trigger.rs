//! A trigger's step: delete (a replace deletes first), create, or a status update.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{function_urn, not_found, record, unplanned, Ctx, StepError};
use crate::api::Operation;
use crate::model::qualified_urn;
use crate::plan::{Action, Change, Request};
use crate::state::ResourceState;

pub(super) async fn run(
    ctx: &Ctx<'_>,
    change: &Change,
    function: &str,
    private: BTreeMap<String, Value>,
    settle: &mut Vec<String>,
) -> Result<(), StepError> {
    let address = &change.address;
    let has = |op: Operation| change.has(op);
    let old = ctx.recorder.get(address);
    let base = function_urn(ctx, function);
    // An alias's trigger lives under the alias's URN.
    let recorded_qualifier = old
        .as_ref()
        .and_then(|r| r.attributes.get("qualifier"))
        .or_else(|| change.before.as_ref()?.get("qualifier"))
        .and_then(|v| v.as_str().map(str::to_string));
    let old_urn = qualified_urn(&base, recorded_qualifier.as_deref());
    let new_urn = qualified_urn(&base, change.after_view().get("qualifier").and_then(Value::as_str));
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
                .as_ref()?
                .get("trigger_type_code")
                .and_then(|v| v.as_str().map(str::to_string))
        })
        .unwrap_or_default();
    if has(Operation::DeleteFunctionTrigger) {
        if let Some(old) = &old {
            let request = async {
                ctx.client
                    .delete_trigger(&old_urn, &old_type, &old.id)
                    .await
                    .or_else(not_found)
            };
            ctx.call(address, Operation::DeleteFunctionTrigger, settle, request)
                .await?;
        }
        ctx.recorder.remove(std::slice::from_ref(address), settle)?;
    }
    if change.action == Action::Delete {
        return Ok(ctx.recorder.remove(std::slice::from_ref(address), settle)?);
    }
    if has(Operation::CreateFunctionTrigger) {
        let op = Operation::CreateFunctionTrigger;
        let Some(Request::CreateFunctionTrigger(body)) = change.request(op) else {
            return Err(unplanned(address, op));
        };
        let template = record("trigger", String::new(), change, private);
        let lookup = json!({
            "function_urn": new_urn,
            "trigger_type_code": body.trigger_type_code,
            "event_data": body.event_data,
        });
        let request = ctx.client.create_trigger(&new_urn, body);
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
        ctx.recorder.put(address, rec, settle)?;
    } else if has(Operation::UpdateTrigger) {
        let Some(Request::UpdateTrigger(body)) = change.request(Operation::UpdateTrigger) else {
            return Err(unplanned(address, Operation::UpdateTrigger));
        };
        let id = old.map(|r| r.id).unwrap_or_default();
        let request = ctx.client.update_trigger(&old_urn, &old_type, &id, body);
        ctx.call(address, Operation::UpdateTrigger, settle, request).await?;
        ctx.recorder
            .put(address, record("trigger", id, change, private), settle)?;
    }
    Ok(())
}
