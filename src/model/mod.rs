//! The typed desired state of a stack: what the planner compares with the live one.
//!
//! Field names follow the FunctionGraph API (`memory_size`, `xrole`, `strategy_config`, …) and
//! every `*_body` method produces the exact JSON the API receives, so the planner and applier
//! never translate manifest vocabulary. No I/O here: paths are carried, not read.

pub mod address;
pub mod function;
pub mod limits;
pub mod output;
pub mod owner;
pub mod release;
pub mod workflow;

#[cfg(test)]
mod request_tests;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

pub use crate::api::Secret;
pub use address::{Address, AddressParseError};
pub use function::{
    qualified_urn, AsyncSpec, Destination, FunctionRef, FunctionSpec, Hook, StrategyConfig, TriggerSpec, TriggerStatus,
};
pub use output::{OutputSpec, Part, StateRef};
pub use owner::Owner;
pub use release::{AliasSpec, AliasTarget, Publish, RolloutSpec, VersionsSpec};
pub use workflow::{WorkflowFunction, WorkflowSpec};

use crate::api::types::CreateDependencyVersionRequest;
use crate::api::urn;

/// Everything a stack declares, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    /// `stack:`; names the state file and the ownership tag.
    pub stack: String,
    /// The `--stage` the overlays came from, if any.
    pub stage: Option<String>,
    /// `provider:`; `None` means the embedded emulator.
    pub provider: Option<ProviderSpec>,
    /// `state:`: where the state lives and how it is encrypted, when the manifests say.
    pub state: StateSpec,
    pub dependencies: BTreeMap<String, DependencySpec>,
    /// Boxed: a map's node holds eleven values inline (a spec is ~1 KB).
    pub functions: BTreeMap<String, Box<FunctionSpec>>,
    pub workflows: BTreeMap<String, WorkflowSpec>,
    /// Ordering edges `(after, before)`: `after` refers to `before`, so `before` is created
    /// first and deleted last. A child's edge to its own function ([`Address::parent`]) is
    /// not among them: every reader adds it (`plan::order::prerequisites`,
    /// `plan::depends_on`), and keeping it cost ~220 bytes per trigger or async config.
    pub edges: BTreeSet<(Address, Address)>,
    /// `provider.code_bucket`: where a package too large for a base64 upload goes (the
    /// command may fill it from the state's bucket when the manifest names none).
    pub code_bucket: Option<CodeBucket>,
    /// `outputs:`, by name.
    pub outputs: BTreeMap<String, OutputSpec>,
}

/// The stack's `state:` setting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateSpec {
    /// The state location (`state: LOCATION` or `state.location`).
    pub location: Option<String>,
    /// `state.passphrase_env`: the environment variable holding the encryption passphrase.
    pub passphrase_env: Option<String>,
}

impl Desired {
    /// The region resources live in (the emulator's when no provider is given).
    pub fn region(&self) -> &str {
        self.provider
            .as_ref()
            .map_or(crate::api::local::REGION, |p| p.region.as_str())
    }

    /// The project id resources live in (the emulator's when no provider is given).
    pub fn project_id(&self) -> &str {
        self.provider
            .as_ref()
            .map_or(crate::api::local::PROJECT_ID, |p| p.project_id.as_str())
    }

    /// The unqualified URN the function named `name` of this stack has (or will have).
    pub fn function_urn(&self, name: &str) -> String {
        let package = self.functions.get(name).map_or("default", |f| f.package.as_str());
        urn::FunctionUrn::unqualified(self.region(), self.project_id(), package, name)
    }

    /// The URN the workflow named `name` has (or will have).
    pub fn workflow_urn(&self, name: &str) -> String {
        urn::workflow_urn(self.region(), self.project_id(), name)
    }

    /// The URN a function reference points at.
    pub fn resolve(&self, target: &FunctionRef) -> String {
        match target {
            FunctionRef::Stack(name) => self.function_urn(name),
            FunctionRef::Urn(urn) => urn.clone(),
        }
    }

    /// Every resource address, sorted.
    pub fn addresses(&self) -> Vec<Address> {
        let mut out = Vec::new();
        for name in self.dependencies.keys() {
            out.push(Address::Dependency(name.clone()));
        }
        for (name, function) in &self.functions {
            out.push(Address::Function(name.clone()));
            if function.async_config.is_some() {
                out.push(Address::Async(name.clone()));
            }
            if function.versions.is_some() {
                out.push(Address::Version(name.clone()));
            }
            for alias in function.aliases.keys() {
                out.push(Address::Alias {
                    function: name.clone(),
                    alias: alias.clone(),
                });
            }
            for trigger in function.triggers.keys() {
                out.push(Address::Trigger {
                    function: name.clone(),
                    trigger: trigger.clone(),
                });
            }
        }
        for name in self.workflows.keys() {
            out.push(Address::Workflow(name.clone()));
        }
        out.sort();
        out
    }

    /// Addresses that `address` refers to (must exist before it).
    pub fn depends_on(&self, address: &Address) -> Vec<&Address> {
        // The least pair starting with `address`: `Function` is the first variant.
        let first = (address.clone(), Address::Function(String::new()));
        self.edges
            .range(first..)
            .take_while(|(after, _)| after == address)
            .map(|(_, before)| before)
            .collect()
    }
}

/// `provider:`: where the stack is deployed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderSpec {
    pub region: String,
    /// `provider.project_id`, or when left out the environment's (`HUAWEICLOUD_SDK_PROJECT_ID`,
    /// then `HW_PROJECT_ID`), as the loader found it.
    pub project_id: String,
    /// Overrides `https://functiongraph.{region}.myhuaweicloud.com`.
    pub endpoint: Option<String>,
}

impl ProviderSpec {
    pub fn endpoint(&self) -> String {
        self.endpoint
            .clone()
            .unwrap_or_else(|| format!("https://functiongraph.{}.myhuaweicloud.com", self.region))
    }
}

/// An S3-compatible bucket (OBS included) that packages too large for a base64 upload are
/// put in, under content-addressed keys: `<prefix>/code/<sha256 hex>.zip`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeBucket {
    /// `obs` or `s3`, as spelled.
    pub scheme: String,
    pub bucket: String,
    /// Without leading or trailing `/`; may be empty.
    pub prefix: String,
    /// Path-style requests go here when set (always set for `obs`).
    pub endpoint: Option<String>,
    pub region: String,
}

impl CodeBucket {
    /// The object key of a package whose SHA-256 is `sha256_hex`.
    pub fn key(&self, sha256_hex: &str) -> String {
        if self.prefix.is_empty() {
            format!("code/{sha256_hex}.zip")
        } else {
            format!("{}/code/{sha256_hex}.zip", self.prefix)
        }
    }

    /// The URL the API is given as `code_url` / `depend_link` for `key`: OBS's
    /// virtual-hosted form for `obs://` (what FunctionGraph fetches from), the path-style
    /// `<endpoint>/<bucket>/<key>` for an `s3://` bucket with an endpoint, else AWS's
    /// virtual-hosted form.
    pub fn object_url(&self, key: &str) -> String {
        match (self.scheme.as_str(), &self.endpoint) {
            ("obs", _) => format!("https://{}.obs.{}.myhuaweicloud.com/{key}", self.bucket, self.region),
            (_, Some(endpoint)) => format!("{}/{}/{key}", endpoint.trim_end_matches('/'), self.bucket),
            (_, None) => format!("https://{}.s3.{}.amazonaws.com/{key}", self.bucket, self.region),
        }
    }
}

impl std::fmt::Display for CodeBucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}", self.scheme, self.bucket)?;
        if !self.prefix.is_empty() {
            write!(f, "/{}", self.prefix)?;
        }
        Ok(())
    }
}

/// Where code comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CodeSource {
    /// A folder, zipped deterministically by `package`; `exclude` globs are relative to it.
    Directory { path: PathBuf, exclude: Vec<String> },
    /// A pre-built `.zip` or `.jar`, uploaded as it is.
    Archive { path: PathBuf, kind: ArchiveKind },
    /// An object already in OBS: `obs://bucket/key`.
    Obs { bucket: String, key: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArchiveKind {
    Zip,
    Jar,
}

impl CodeSource {
    /// The function API's `code_type`.
    pub fn code_type(&self) -> &'static str {
        match self {
            CodeSource::Directory { .. }
            | CodeSource::Archive {
                kind: ArchiveKind::Zip, ..
            } => "zip",
            CodeSource::Archive {
                kind: ArchiveKind::Jar, ..
            } => "jar",
            CodeSource::Obs { .. } => "obs",
        }
    }

    /// The function API's `code_filename` (zip/jar uploads only).
    pub fn code_filename(&self) -> Option<String> {
        match self {
            CodeSource::Directory { .. } => Some("index.zip".into()),
            CodeSource::Archive { path, .. } => path.file_name().map(|n| n.to_string_lossy().into_owned()),
            CodeSource::Obs { .. } => None,
        }
    }

    /// The HTTPS URL of an OBS object (`code_url` / `depend_link`) in `region`.
    pub fn obs_url(&self, region: &str) -> Option<String> {
        match self {
            CodeSource::Obs { bucket, key } => Some(format!("https://{bucket}.obs.{region}.myhuaweicloud.com/{key}")),
            _ => None,
        }
    }

    /// The local path to package or upload, if any.
    pub fn local_path(&self) -> Option<&std::path::Path> {
        match self {
            CodeSource::Directory { path, .. } | CodeSource::Archive { path, .. } => Some(path),
            CodeSource::Obs { .. } => None,
        }
    }
}

/// `dependencies.<name>`: a dependency package (one version per content change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DependencySpec {
    pub name: String,
    pub runtime: String,
    pub source: CodeSource,
    pub description: Option<String>,
}

impl DependencySpec {
    /// `depend_type`: `zip` (uploaded base64) or `obs` (`depend_link`).
    pub fn depend_type(&self) -> &'static str {
        match self.source {
            CodeSource::Obs { .. } => "obs",
            _ => "zip",
        }
    }

    /// The create-version request minus `depend_file` (the zip, which the applier fills in).
    pub fn create_request(&self, region: &str) -> CreateDependencyVersionRequest {
        CreateDependencyVersionRequest {
            depend_type: self.depend_type().into(),
            depend_file: None,
            depend_link: self.source.obs_url(region),
            runtime: self.runtime.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
        }
    }

    /// [`DependencySpec::create_request`] as JSON, keys in the order plans show them.
    pub fn create_body(&self, region: &str) -> serde_json::Value {
        let body = serde_json::to_value(self.create_request(region)).expect("requests serialize");
        ordered(body, &["depend_type", "runtime", "name", "depend_link", "description"])
    }
}

/// `object` with the keys `first` names moved to the front in that order, the others after
/// them in their own order: a request serialized from its typed form, keyed as plans show it.
pub(crate) fn ordered(object: serde_json::Value, first: &[&str]) -> serde_json::Value {
    let serde_json::Value::Object(mut map) = object else {
        return object;
    };
    let mut out = serde_json::Map::new();
    for key in first {
        if let Some((key, value)) = map.shift_remove_entry(*key) {
            out.insert(key, value);
        }
    }
    out.extend(map);
    serde_json::Value::Object(out)
}
