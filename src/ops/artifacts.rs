//! The local artifacts of a stack, built in memory for a plan and its apply.

use base64::Engine as _;

use crate::apply::Payloads;
use crate::error::Hint;
use crate::model::{Address, CodeSource, Desired};
use crate::package;
use crate::plan::{Artifacts, Digests};

/// Builds every local artifact in memory: digests for the plan, base64 for the applier.
pub fn build_artifacts(desired: &Desired) -> anyhow::Result<(Artifacts, Payloads)> {
    let mut artifacts = Artifacts::default();
    let mut payloads = Payloads::default();
    let mut sources: Vec<(Address, &CodeSource)> = Vec::new();
    for (name, d) in &desired.dependencies {
        sources.push((Address::Dependency(name.clone()), &d.source));
    }
    for (name, f) in &desired.functions {
        sources.push((Address::Function(name.clone()), &f.code));
    }
    for (address, source) in sources {
        let Some(upload) = package::upload(&address, source).map_err(build_error)? else {
            continue;
        };
        let digests = Digests {
            sha512: upload.artifact.digest,
            md5: upload.md5,
        };
        artifacts.digests.insert(address.clone(), digests);
        payloads
            .files
            .insert(address, base64::engine::general_purpose::STANDARD.encode(&upload.bytes));
    }
    Ok((artifacts, payloads))
}

/// A [`package::BuildError`] as a command reports it: a refused size carries its hint.
pub fn build_error(err: package::BuildError) -> anyhow::Error {
    match err {
        package::BuildError::TooLarge(refused) => anyhow::anyhow!(refused.to_string()).context(Hint(refused.hint)),
        other => other.into(),
    }
}
