//! A function's async-invoke config: put (create or update) or delete.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{function_urn, not_found, record, unplanned, Ctx, StepError};
use crate::api::Operation;
use crate::model::qualified_urn;
use crate::plan::{Action, Change, Request};

pub(super) async fn run(
    ctx: &Ctx<'_>,
    change: &Change,
    function: &str,
    private: BTreeMap<String, Value>,
    settle: &mut Vec<String>,
) -> Result<(), StepError> {
    let address = &change.address;
    let base = function_urn(ctx, function);
    // An alias's config lives under the alias's URN.
    let at = |view: &Value| qualified_urn(&base, view.get("qualifier").and_then(Value::as_str));
    if change.has(Operation::DeleteFunctionAsyncInvokeConfig) {
        let old = at(&change.before_view());
        let request = async { ctx.client.delete_async_config(&old).await.or_else(not_found) };
        ctx.call(address, Operation::DeleteFunctionAsyncInvokeConfig, settle, request)
            .await?;
    }
    if change.action == Action::Delete {
        return Ok(ctx.recorder.remove(std::slice::from_ref(address), settle)?);
    }
    let urn = at(&change.after_view());
    let op = Operation::UpdateFunctionAsyncInvokeConfig;
    let Some(Request::UpdateFunctionAsyncInvokeConfig(body)) = change.request(op) else {
        return Err(unplanned(address, op));
    };
    let request = ctx.client.put_async_config(&urn, body);
    ctx.call(address, Operation::UpdateFunctionAsyncInvokeConfig, settle, request)
        .await?;
    Ok(ctx
        .recorder
        .put(address, record("async", urn, change, private), settle)?)
}
