//! A function's step: delete (with what is under it), create, code and config updates, and
//! the tags, each sent as the typed request the model builds.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{api, not_found, other, record, unplanned, Ctx, StepError};
use crate::api::types::{FuncCode, Tag};
use crate::api::Operation;
use crate::codestore::CodeStore;
use crate::model::{Address, FunctionSpec};
use crate::plan::{diff, Action, Change, Request};
use crate::state::{ResourceState, FUNC_ID};

pub(super) async fn run(
    ctx: &Ctx<'_>,
    change: &Change,
    name: &str,
    mut private: BTreeMap<String, Value>,
    settle: &mut Vec<String>,
) -> Result<(), StepError> {
    let address = &change.address;
    let has = |op: Operation| change.has(op);
    let old = ctx.recorder.get(address);
    if has(Operation::DeleteFunction) {
        let urn = old.as_ref().map(|r| r.id.clone()).unwrap_or_default();
        let request = async { ctx.client.delete_function(&urn).await.or_else(not_found) };
        ctx.call(address, Operation::DeleteFunction, settle, request).await?;
        forget(ctx, name, address, settle).await?;
    }
    if change.action == Action::Delete {
        return forget(ctx, name, address, settle).await;
    }
    let d = ctx.desired.as_ref().expect("desired");
    let spec = &d.functions[name];
    let hmac = secret_record(ctx, change, spec, old.as_ref()).await?;
    private.insert("secrets_hmac".into(), json!(hmac));
    // The function's id, kept from the record until a create or a config update says it.
    if let Some(id) = old.as_ref().and_then(|r| r.private.get(FUNC_ID)) {
        private.insert(FUNC_ID.into(), id);
    }
    // The dependency version ids the plan could only show as "(known after apply)".
    let versions: Vec<String> = spec
        .dependencies
        .iter()
        .filter_map(|dep| ctx.recorder.get(&Address::Dependency(dep.clone())).map(|r| r.id))
        .collect();
    let file = ctx.payloads.files.get(address);
    // What is recorded: the planned attributes, with those version ids filled in.
    let function_record = |urn: String, private: BTreeMap<String, Value>| {
        let mut rec = record("function", urn, change, private);
        let mut sorted = versions.clone();
        sorted.sort();
        rec.attributes.insert("depend_version_list", json!(sorted));
        rec
    };
    let mut urn = old
        .as_ref()
        .map(|r| r.id.clone())
        .unwrap_or_else(|| d.function_urn(name));
    // A new function gets its tags in the create body (one write fewer); the adoption of a
    // create whose answer was lost finds them set by that same body.
    if has(Operation::CreateFunction) {
        let Some(Request::CreateFunction(body)) = change.request(Operation::CreateFunction) else {
            return Err(unplanned(address, Operation::CreateFunction));
        };
        let mut body = (**body).clone();
        fill_code(&mut body.func_code, &mut body.depend_version_list, file, &versions);
        if let Some(url) = put_in_bucket(ctx, address).await? {
            body.code_url = Some(url);
        }
        let planned = d.function_urn(name);
        let template = function_record(planned.clone(), private.clone());
        let lookup = json!({"urn": planned, "owner": ctx.owner});
        let request = ctx.client.create_function(&body);
        let created = ctx
            .send(
                address,
                Operation::CreateFunction,
                lookup,
                Some(template),
                settle,
                request,
            )
            .await?;
        urn = crate::api::urn::without_latest(&created.func_urn).to_string();
        set_func_id(&mut private, &created.func_id);
        ctx.recorder
            .put(address, function_record(urn.clone(), private.clone()), settle)?;
    }
    if has(Operation::UpdateFunctionCode) {
        let Some(Request::UpdateFunctionCode(body)) = change.request(Operation::UpdateFunctionCode) else {
            return Err(unplanned(address, Operation::UpdateFunctionCode));
        };
        let mut body = (**body).clone();
        let mut func_code = Some(std::mem::take(&mut body.func_code));
        fill_code(&mut func_code, &mut body.depend_version_list, file, &versions);
        body.func_code = func_code.unwrap_or_default();
        if let Some(url) = put_in_bucket(ctx, address).await? {
            body.code_url = Some(url);
        }
        let request = ctx.client.update_function_code(&urn, &body);
        ctx.call(address, Operation::UpdateFunctionCode, settle, request)
            .await?;
        ctx.recorder
            .put(address, function_record(urn.clone(), private.clone()), settle)?;
    }
    if has(Operation::UpdateFunctionConfig) {
        let Some(Request::UpdateFunctionConfig(body)) = change.request(Operation::UpdateFunctionConfig) else {
            return Err(unplanned(address, Operation::UpdateFunctionConfig));
        };
        let request = ctx.client.update_function_config(&urn, body);
        let updated = ctx
            .call(address, Operation::UpdateFunctionConfig, settle, request)
            .await?;
        set_func_id(&mut private, &updated.func_id);
        ctx.recorder
            .put(address, function_record(urn.clone(), private.clone()), settle)?;
    }
    if let Some(Request::CreateTags(want)) = change.request(Operation::CreateTags) {
        sync_tags(ctx, change, &urn, want, settle).await?;
    } else if has(Operation::CreateTags) {
        return Err(unplanned(address, Operation::CreateTags));
    }
    ctx.recorder.put(address, function_record(urn, private), settle)?;
    Ok(())
}

/// Records the function id an answer carried (an empty one, which the cloud never sends,
/// leaves the record as it was).
fn set_func_id(private: &mut BTreeMap<String, Value>, func_id: &str) {
    if !func_id.is_empty() {
        private.insert(FUNC_ID.into(), json!(func_id));
    }
}

/// Forgets the function and everything recorded under it (its triggers and async config).
async fn forget(ctx: &Ctx<'_>, name: &str, address: &Address, settle: &mut Vec<String>) -> Result<(), StepError> {
    let mut gone = ctx.recorder.children(name);
    gone.push(address.clone());
    Ok(ctx.recorder.remove(&gone, settle)?)
}

/// The secret fingerprint to record (`None` without secrets).
async fn secret_record(
    ctx: &Ctx<'_>,
    change: &Change,
    spec: &FunctionSpec,
    old: Option<&ResourceState>,
) -> Result<Option<String>, StepError> {
    let Some(secret) = spec.encrypted_user_data() else {
        return Ok(None);
    };
    let key = ctx.recorder.lineage();
    let recorded = old
        .and_then(|r| r.private.get("secrets_hmac"))
        .and_then(|v| v.as_str().map(str::to_string));
    // The plan compared the recorded fingerprint with this secret: no difference listed
    // means they match.
    let verified = !change.attributes().iter().any(|a| a.path == "encrypted_user_data");
    // The fingerprint is a deliberately slow KDF (tens of milliseconds, tens of MiB): off
    // the async workers, so the other calls in flight keep moving.
    let secret = secret.expose().to_string();
    let record = tokio::task::spawn_blocking(move || diff::secret_record(recorded.as_deref(), &secret, &key, verified));
    Ok(Some(record.await.map_err(|e| other(&change.address, e))?))
}

/// Fills the code slots of a planned request: the package's base64 (a local package; an
/// OBS source sends none) and the version ids of the function's dependencies, which may
/// have been created earlier in this run.
fn fill_code(
    func_code: &mut Option<FuncCode>,
    depend_version_list: &mut Option<Vec<String>>,
    file: Option<&bytes::Bytes>,
    versions: &[String],
) {
    if let (Some(code), Some(file)) = (func_code.as_mut(), file) {
        code.file = Some(super::base64(file));
    }
    *depend_version_list = Some(versions.to_vec());
}

/// Puts the package of `address` in the code bucket when it goes there (too large for a
/// base64 upload); its URL, for `code_url` / `depend_link`. The bytes are not sent again
/// when the object is already there.
pub(super) async fn put_in_bucket(ctx: &Ctx<'_>, address: &Address) -> Result<Option<String>, StepError> {
    let Some(bytes) = ctx.payloads.bucket_uploads.get(address) else {
        return Ok(None);
    };
    let Some(bucket) = &ctx.payloads.code_bucket else {
        return Err(other(
            address,
            "the package is too large for an inline upload and no code bucket is set",
        ));
    };
    let store = CodeStore::connect(bucket).map_err(|e| other(address, crate::api::error_chain(&e)))?;
    let (object, _) = store
        .upload(bytes.clone())
        .await
        .map_err(|e| other(address, crate::api::error_chain(&e)))?;
    Ok(Some(object.url))
}

/// Sets `want` on the function; an update first removes the live tags it no longer lists
/// (which only the live function knows).
async fn sync_tags(
    ctx: &Ctx<'_>,
    change: &Change,
    urn: &str,
    want: &[Tag],
    settle: &mut Vec<String>,
) -> Result<(), StepError> {
    let address = &change.address;
    if change.action == Action::Update {
        let live = ctx.client.list_function_tags(urn).await.map_err(api(address))?;
        let stale: Vec<Tag> = live.tags.into_iter().filter(|t| !want.contains(t)).collect();
        if !stale.is_empty() {
            let request = ctx.client.remove_function_tags(urn, &stale);
            ctx.call(address, Operation::DeleteTags, settle, request).await?;
        }
    }
    let request = ctx.client.add_function_tags(urn, want);
    ctx.call(address, Operation::CreateTags, settle, request).await
}
