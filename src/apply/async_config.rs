//! A function's async-invoke config: put (create or update) or delete.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{function_urn, not_found, record, Ctx, StepError};
use crate::api::Operation;
use crate::plan::{Action, Change};

pub(super) async fn run(
    ctx: &Ctx,
    change: &Change,
    function: &str,
    private: BTreeMap<String, Value>,
    settle: &mut Vec<String>,
) -> Result<(), StepError> {
    let address = &change.address;
    let urn = function_urn(ctx, function);
    if change.action == Action::Delete {
        if change.calls.contains(&Operation::DeleteFunctionAsyncInvokeConfig) {
            let request = async { ctx.client.delete_async_config(&urn).await.or_else(not_found) };
            ctx.call(address, Operation::DeleteFunctionAsyncInvokeConfig, settle, request)
                .await?;
        }
        return Ok(ctx.recorder.remove(std::slice::from_ref(address), settle).await?);
    }
    let d = ctx.desired.as_ref().expect("desired");
    let spec = d.functions[function].async_config.as_ref().expect("async planned");
    let body = spec.request(d);
    let request = ctx.client.put_async_config(&urn, &body);
    ctx.call(address, Operation::UpdateFunctionAsyncInvokeConfig, settle, request)
        .await?;
    Ok(ctx
        .recorder
        .put(address, record("async", urn, change, private), settle)
        .await?)
}
