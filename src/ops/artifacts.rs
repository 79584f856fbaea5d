//! The local artifacts of a stack, built in memory for a plan and its apply.

use std::collections::hash_map::{Entry, HashMap};

use crate::apply::Payloads;
use crate::error::Hint;
use crate::model::{limits, Address, CodeBucket, CodeSource, Desired};
use crate::package;
use crate::plan::{Artifacts, Digests};
use crate::state::location::S3Location;

/// Builds every local artifact in memory: digests for the plan, the bytes for the applier.
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
    // Each distinct source is packaged once, its bytes shared by every address built from
    // it: 10,000 functions of one folder make one zip, not 10,000 equal ones.
    let mut packages: HashMap<&CodeSource, Option<Package>> = HashMap::new();
    for (name, d) in &desired.dependencies {
        sources.push((Address::Dependency(name.clone()), &d.source));
    }
    for (name, f) in &desired.functions {
        sources.push((Address::Function(name.clone()), &f.code));
    }
    for (address, source) in sources {
        let package = match packages.entry(source) {
            Entry::Occupied(built) => built.into_mut(),
            Entry::Vacant(slot) => {
                let upload = package::upload_unchecked(&address, source).map_err(build_error)?;
                slot.insert(upload.map(|u| Package {
                    bytes: u.bytes.into(),
                    artifact: u.artifact,
                    md5: u.md5,
                }))
            }
        };
        let Some(package) = package else {
            continue;
        };
        let bucket_url = through_bucket(&address, source, package, bucket.as_ref())?;
        let bytes = package.bytes.clone();
        let entry = Digests {
            sha512: package.artifact.digest.clone(),
            md5: package.md5.clone(),
            bucket_url: bucket_url.clone(),
        };
        digests.push((address.clone(), entry));
        if bucket_url.is_some() {
            payloads.bucket_uploads.insert(address, bytes);
            payloads.code_bucket = bucket.clone();
        } else {
            payloads.files.insert(address, bytes);
        }
    }
    let artifacts = Artifacts {
        digests: digests.into_iter().collect(),
    };
    Ok((artifacts, payloads))
}

/// One source's package, as [`package::upload_unchecked`] built it.
struct Package {
    bytes: bytes::Bytes,
    artifact: package::Artifact,
    md5: String,
}

/// The code bucket URL `upload` is sent by when it is too large for a base64 upload (`None`
/// when it fits); too large without a bucket is the refusal [`package::check_upload`] gives.
fn through_bucket(
    address: &Address,
    source: &CodeSource,
    upload: &Package,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_built_from_one_folder_share_one_copy_of_its_package() {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in [
            ("shared/index.py", "x = 1\n"),
            ("own/index.py", "y = 2\n"),
            (
                "stack.yaml",
                "stack: s\nfunctions:\n  a: {runtime: Python3.9, handler: index.handler, code: ./shared}\n  \
                 b: {runtime: Python3.9, handler: index.handler, code: ./shared}\n  \
                 c: {runtime: Python3.9, handler: index.handler, code: ./own}\n",
            ),
        ] {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let desired = crate::manifest::load_dir(dir.path(), &Default::default()).unwrap();
        let (artifacts, payloads) = build_artifacts(&desired).unwrap();
        let zip = |name: &str| payloads.files[&Address::Function(name.into())].clone();
        let digest = |name: &str| artifacts.digests[&Address::Function(name.into())].sha512.clone();
        assert_eq!(zip("a").as_ptr(), zip("b").as_ptr(), "one copy");
        assert_eq!(digest("a"), digest("b"));
        assert_ne!(zip("a"), zip("c"));
        assert_ne!(digest("a"), digest("c"));
        // The bytes are the package whose digest the plan shows.
        use sha2::Digest as _;
        assert_eq!(hex::encode(sha2::Sha512::digest(zip("c"))), digest("c"));
    }
}
