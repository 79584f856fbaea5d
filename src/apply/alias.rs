//! An alias's step: create, update in place (never delete + create: its triggers and async
//! settings stay), a rollout when the plan carries one, or delete.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{function_urn, not_found, rollout, unplanned, Ctx, StepError};
use crate::api::types::Alias;
use crate::api::Operation;
use crate::plan::{Action, Change, Request};
use crate::state::{Attributes, ResourceState};

pub(super) async fn run(
    ctx: &Ctx<'_>,
    change: &Change,
    function: &str,
    alias: &str,
    private: BTreeMap<String, Value>,
    settle: &mut Vec<String>,
) -> Result<(), StepError> {
    let address = &change.address;
    let urn = function_urn(ctx, function);
    if change.action == Action::Delete {
        if change.has(Operation::DeleteVersionAlias) {
            let request = async { ctx.client.delete_alias(&urn, alias).await.or_else(not_found) };
            ctx.call(address, Operation::DeleteVersionAlias, settle, request)
                .await?;
        }
        return Ok(ctx.recorder.remove(std::slice::from_ref(address), settle)?);
    }
    if let Some(plan) = change.rollout.as_ref().filter(|_| !ctx.no_rollout) {
        return rollout::run(ctx, change, &urn, plan, private, settle).await;
    }
    let live = if change.action == Action::Create {
        let op = Operation::CreateVersionAlias;
        let Some(Request::CreateVersionAlias(body)) = change.request(op) else {
            return Err(unplanned(address, op));
        };
        ctx.call(address, op, settle, ctx.client.create_alias(&urn, body))
            .await?
    } else {
        let op = Operation::UpdateVersionAlias;
        let Some(Request::UpdateVersionAlias(body)) = change.request(op) else {
            return Err(unplanned(address, op));
        };
        ctx.call(address, op, settle, ctx.client.update_alias(&urn, alias, body))
            .await?
    };
    Ok(ctx.recorder.put(address, alias_record(&live, private), settle)?)
}

/// The record of alias `live` as the API answered it.
pub(super) fn alias_record(live: &Alias, private: BTreeMap<String, Value>) -> ResourceState {
    ResourceState {
        kind: "alias".into(),
        id: live.alias_urn.clone(),
        attributes: Attributes::from_object(&crate::plan::resources::alias_view(live)),
        private: private.into(),
    }
}
