//! The local artifacts of a stack, built in memory for a plan and its apply.

use base64::Engine as _;

use crate::apply::Payloads;
use crate::error::Hint;
use crate::model::{limits, Address, CodeBucket, CodeSource, Desired};
use crate::package;
use crate::plan::{Artifacts, Digests};
use crate::state::location::S3Location;

/// Builds every local artifact in memory: digests for the plan, base64 for the applier.
/// A package too large for a base64 upload goes through the stack's code bucket
/// (`provider.code_bucket`); without one it is refused here, before any call.
pub fn build_artifacts(desired: &Desired) -> anyhow::Result<(Artifacts, Payloads)> {
    build_artifacts_with(desired, None)
}

/// [`build_artifacts`], with the bucket of the state's S3/OBS location as the code bucket
/// when the stack names none.
pub fn build_artifacts_with(
    desired: &Desired,
    state_bucket: Option<&S3Location>,
) -> anyhow::Result<(Artifacts, Payloads)> {
    let bucket = crate::codestore::code_bucket(desired.code_bucket.as_ref(), state_bucket);
    let mut payloads = Payloads::default();
    // Collected, then built into the map in one pass: inserted one by one in order, its
    // nodes stayed about half full.
    let mut digests = Vec::new();
    let mut sources: Vec<(Address, &CodeSource)> = Vec::new();
    for (name, d) in &desired.dependencies {
        sources.push((Address::Dependency(name.clone()), &d.source));
    }
    for (name, f) in &desired.functions {
        sources.push((Address::Function(name.clone()), &f.code));
    }
    for (address, source) in sources {
        let Some(upload) = package::upload_unchecked(&address, source).map_err(build_error)? else {
            continue;
        };
        let bucket_url = through_bucket(&address, source, &upload, bucket.as_ref())?;
        let entry = Digests {
            sha512: upload.artifact.digest,
            md5: upload.md5,
            bucket_url: bucket_url.clone(),
        };
        digests.push((address.clone(), entry));
        if bucket_url.is_some() {
            payloads.bucket_uploads.insert(address, upload.bytes.into());
            payloads.code_bucket = bucket.clone();
        } else {
            payloads
                .files
                .insert(address, base64::engine::general_purpose::STANDARD.encode(&upload.bytes));
        }
    }
    let artifacts = Artifacts {
        digests: digests.into_iter().collect(),
    };
    Ok((artifacts, payloads))
}

/// The code bucket URL `upload` is sent by when it is too large for a base64 upload (`None`
/// when it fits); too large without a bucket is the refusal [`package::check_upload`] gives.
fn through_bucket(
    address: &Address,
    source: &CodeSource,
    upload: &package::Upload,
    bucket: Option<&CodeBucket>,
) -> anyhow::Result<Option<String>> {
    let kind = match address {
        Address::Dependency(_) => limits::Upload::Dependency,
        _ => limits::Upload::FunctionCode,
    };
    if limits::upload_refusal(kind, upload.artifact.size).is_none() {
        return Ok(None);
    }
    let Some(bucket) = bucket else {
        package::check_upload(address, source, upload.artifact.size, package::ZipAt::Unknown)
            .map_err(|refused| build_error(refused.into()))?;
        return Ok(None);
    };
    Ok(Some(crate::codestore::object_for(bucket, &upload.bytes).url))
}

/// A [`package::BuildError`] as a command reports it: a refused size carries its hint.
pub fn build_error(err: package::BuildError) -> anyhow::Error {
    match err {
        package::BuildError::TooLarge(refused) => anyhow::anyhow!(refused.to_string()).context(Hint(refused.hint)),
        other => other.into(),
    }
}
