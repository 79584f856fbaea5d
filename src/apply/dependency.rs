//! A dependency's steps: a new version (create or replace), the old version's cleanup after
//! the functions moved to the new one, and the delete.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{not_found, record, unplanned, Ctx, StepError};
use crate::api::types::DependencyVersion;
use crate::api::Operation;
use crate::model::Address;
use crate::plan::{Action, Change, Request};
use crate::state::ResourceState;

/// The `DeleteOld` step: deletes the version a replace left behind, then forgets it.
pub(super) async fn delete_old(ctx: &Ctx<'_>, address: &Address, settle: &mut Vec<String>) -> Result<(), StepError> {
    let Some(mut rec) = ctx.recorder.get(address) else {
        return Ok(());
    };
    let old = rec.private.remove("old_version").unwrap_or(Value::Null);
    if let (Some(dep_id), Some(version)) = (
        old.get("dep_id").and_then(Value::as_str),
        old.get("version").and_then(Value::as_i64),
    ) {
        delete_version(ctx, address, dep_id, version, settle).await?;
    }
    Ok(ctx.recorder.put(address, rec, settle)?)
}

/// The main step of a create, replace or delete.
pub(super) async fn run(
    ctx: &Ctx<'_>,
    change: &Change,
    mut private: BTreeMap<String, Value>,
    settle: &mut Vec<String>,
) -> Result<(), StepError> {
    let address = &change.address;
    let old = ctx.recorder.get(address);
    if change.action == Action::Delete {
        if change.has(Operation::DeleteDependencyVersion) {
            let old = old.expect("recorded");
            let (dep_id, version) = dep_version(&old);
            delete_version(ctx, address, &dep_id, version, settle).await?;
        }
        ctx.recorder.remove(std::slice::from_ref(address), settle)?;
        return Ok(());
    }
    let op = Operation::CreateDependencyVersion;
    let Some(Request::CreateDependencyVersion(planned)) = change.request(op) else {
        return Err(unplanned(address, op));
    };
    let mut body = (**planned).clone();
    // The slot only the apply fills: the package it uploads.
    body.depend_file = ctx.payloads.files.get(address).map(|zip| super::base64(zip));
    // Too large for a base64 upload: through the code bucket.
    if let Some(url) = super::function::put_in_bucket(ctx, address).await? {
        body.depend_link = Some(url);
    }
    if let (Some(old), Action::Replace) = (old, change.action) {
        let (dep_id, v) = dep_version(&old);
        private.insert("old_version".into(), json!({"dep_id": dep_id, "version": v}));
    }
    let lookup = json!({
        "name": body.name,
        "runtime": body.runtime,
        "etag": body
            .depend_file
            .as_deref()
            .and_then(crate::client::dependencies::package_etag)
            // Through the code bucket: the service's etag is the object's MD5.
            .or_else(|| {
                let bytes = ctx.payloads.bucket_uploads.get(address)?;
                Some(hex::encode(<md5::Md5 as md5::Digest>::digest(bytes)))
            }),
    });
    let template = record("dependency", String::new(), change, private);
    let request = ctx.client.create_dependency_version(&body);
    let version = ctx
        .send(
            address,
            Operation::CreateDependencyVersion,
            lookup,
            Some(template.clone()),
            settle,
            request,
        )
        .await?;
    Ok(ctx
        .recorder
        .put(address, dependency_record(template, &version), settle)?)
}

/// Deletes one dependency version; one already gone counts as deleted.
async fn delete_version(
    ctx: &Ctx<'_>,
    address: &Address,
    dep_id: &str,
    version: i64,
    settle: &mut Vec<String>,
) -> Result<(), StepError> {
    let request = async {
        ctx.client
            .delete_dependency_version(dep_id, version)
            .await
            .or_else(not_found)
    };
    ctx.call(address, Operation::DeleteDependencyVersion, settle, request)
        .await
}

/// A dependency's record once its version exists: the id, `dep_id` and `version` filled in.
pub(crate) fn dependency_record(template: ResourceState, version: &DependencyVersion) -> ResourceState {
    let mut rec = ResourceState {
        id: version.id.clone(),
        ..template
    };
    rec.attributes.insert("dep_id", version.dep_id.clone().into());
    rec.attributes.insert("version", version.version.into());
    rec
}

fn dep_version(rec: &ResourceState) -> (String, i64) {
    let attributes = rec.attributes.to_map();
    (
        attributes
            .get("dep_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        attributes.get("version").and_then(Value::as_i64).unwrap_or_default(),
    )
}
