//! A function's version step: publish one (what `versions: {publish: on-change}` asks for
//! when the code or configuration changed), or forget the record (versions are kept).

use std::collections::BTreeMap;

use serde_json::Value;

use super::{function_urn, unplanned, Ctx, StepError};
use crate::api::Operation;
use crate::plan::{Action, Change, Request};
use crate::state::{Attributes, ResourceState};

pub(super) async fn run(
    ctx: &Ctx<'_>,
    change: &Change,
    function: &str,
    private: BTreeMap<String, Value>,
    settle: &mut Vec<String>,
) -> Result<(), StepError> {
    let address = &change.address;
    if change.action == Action::Delete {
        return Ok(ctx.recorder.remove(std::slice::from_ref(address), settle)?);
    }
    let op = Operation::CreateFunctionVersion;
    let Some(Request::CreateFunctionVersion(body)) = change.request(op) else {
        return Err(unplanned(address, op));
    };
    let urn = function_urn(ctx, function);
    let request = ctx.client.publish_version(&urn, body);
    let published = ctx.call(address, op, settle, request).await?;
    let mut view = crate::plan::resources::version_view(&published);
    if let Some(fingerprint) = change.after.as_ref().and_then(|a| a.get("fingerprint")) {
        view["fingerprint"] = fingerprint;
    }
    let record = ResourceState {
        kind: "version".into(),
        id: urn,
        attributes: Attributes::from_object(&view),
        private: private.into(),
    };
    Ok(ctx.recorder.put(address, record, settle)?)
}
