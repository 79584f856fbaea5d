//! `fgform import`'s reads: find the live object an ID names (GETs only, nothing live
//! changes), check it may be recorded under the address, and build its state records with
//! [`crate::plan::import`]. Refusals are typed, each with the hint that gets the user past it.

use crate::api::urn::{FunctionUrn, Qualifier};
use crate::client::{ApiError, Client};
use crate::model::{Address, Desired};
use crate::plan::{self, LiveFunction};
use crate::state::{ResourceState, State};

/// Why an import did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{address} is not declared in the manifests of stack `{stack}`")]
    NotDeclared { address: Address, stack: String },
    #[error("{address} is already in state (id {id})")]
    AlreadyInState { address: Address, id: String },
    #[error("{kind} {id} is already in state as {other}")]
    IdInState {
        kind: &'static str,
        id: String,
        other: String,
        address: Address,
    },
    #[error("`{id}` is not a {expected}: {reason}")]
    BadId {
        id: String,
        expected: &'static str,
        reason: String,
    },
    #[error("{what} not found in project {project}")]
    NotFound { what: String, project: String },
    #[error("`{id}` is function `{found}`, but {address} declares function `{declared}`")]
    OtherFunction {
        id: String,
        found: String,
        /// The address, as written.
        address: String,
        declared: String,
    },
    #[error("`{id}` is in {field} `{found}`, but the stack deploys to {field} `{expected}`")]
    OtherPlace {
        id: String,
        field: &'static str,
        found: String,
        expected: String,
    },
    #[error("reading {what}")]
    Api {
        what: String,
        #[source]
        source: Box<ApiError>,
    },
}

impl ImportError {
    /// What the user can do about it; `rerun` completes the commands it names with the
    /// arguments that reach the same stack and state.
    pub fn hint(&self, rerun: &str) -> Option<String> {
        match self {
            ImportError::NotDeclared { address, .. } => Some(format!(
                "declare {address} in the manifests first: import records a live resource under an address the \
                 stack already has"
            )),
            ImportError::AlreadyInState { address, .. } => Some(format!(
                "to record another resource under it, first forget this one: `fgform state rm {address}{rerun}`"
            )),
            ImportError::IdInState { other, address, .. } => Some(format!(
                "one live resource is managed under one address; to record it under {address} instead: \
                 `fgform state mv {other} {address}{rerun}`"
            )),
            ImportError::BadId { expected, .. } => Some(format!(
                "pass {expected}; ids per kind: function URN, trigger id, dependency version id or DEP_ID/VERSION, \
                 workflow id"
            )),
            ImportError::NotFound { .. } => {
                Some("check the ID, and that the stack's provider (region, project) is where the resource lives".into())
            }
            ImportError::OtherFunction { found, .. } => Some(format!(
                "a function's name is part of its URN and cannot change: declare `functions.{found}` and import it \
                 as function.{found}"
            )),
            ImportError::OtherPlace { .. } => {
                Some("import with the stack (or --stage) whose provider targets that region and project".into())
            }
            ImportError::Api { source, .. } => source.hint(),
        }
    }
}

fn api(what: impl Into<String>) -> impl FnOnce(ApiError) -> ImportError {
    let what = what.into();
    move |source| ImportError::Api {
        what,
        source: Box::new(source),
    }
}

/// Reads what `id` names and returns the records to add to state for `address`: one, or for
/// a function also its async config when the manifests declare one and it exists live.
pub async fn import(
    client: &Client,
    desired: &Desired,
    state: &State,
    address: &Address,
    id: &str,
) -> Result<Vec<(Address, ResourceState)>, ImportError> {
    if !desired.addresses().contains(address) {
        return Err(ImportError::NotDeclared {
            address: address.clone(),
            stack: desired.stack.clone(),
        });
    }
    if let Some(r) = state.resources.get(&address.to_string()) {
        return Err(ImportError::AlreadyInState {
            address: address.clone(),
            id: r.id.clone(),
        });
    }
    let project = client.project_id().to_string();
    let mut records = Vec::new();
    match address {
        Address::Function(name) => {
            records.extend(import_function(client, desired, state, address, name, id).await?);
        }
        Address::Async(function) => {
            let urn = async_urn(desired, function, &function_urn(client, address, function, id)?);
            let config = read_async_config(client, &urn)
                .await?
                .ok_or_else(|| ImportError::NotFound {
                    what: format!("an async-invoke config of function {urn}"),
                    project: project.clone(),
                })?;
            records.push((
                address.clone(),
                plan::import::async_config(desired, function, &urn, &config),
            ));
        }
        Address::Trigger { function, trigger } => {
            let record = import_trigger(client, desired, state, function, trigger, id).await?;
            records.push((address.clone(), record));
        }
        Address::Alias { function, alias } => {
            let record = import_alias(client, desired, address, function, alias, id).await?;
            records.push((address.clone(), record));
        }
        Address::Version(function) => {
            let record = import_version(client, desired, address, function, id).await?;
            records.push((address.clone(), record));
        }
        Address::Dependency(name) => {
            let version = find_dependency_version(client, desired, name, id).await?;
            let version = version.ok_or_else(|| ImportError::NotFound {
                what: format!("dependency version {id}"),
                project: project.clone(),
            })?;
            records.push((address.clone(), plan::import::dependency(desired, name, &version)));
        }
        Address::Workflow(name) => {
            let workflow = client
                .show_workflow_opt(id)
                .await
                .map_err(api(format!("workflow {id}")))?
                .ok_or_else(|| ImportError::NotFound {
                    what: format!("workflow {id}"),
                    project: project.clone(),
                })?;
            records.push((address.clone(), plan::import::workflow(desired, name, &workflow)));
        }
    }
    for (address, record) in &records {
        let other = state
            .resources
            .iter()
            .find(|(a, r)| r.kind == record.kind && r.id == record.id && *a != &address.to_string());
        if let Some((other, _)) = other {
            return Err(ImportError::IdInState {
                kind: address.kind(),
                id: record.id.clone(),
                other: other.clone(),
                address: address.clone(),
            });
        }
    }
    Ok(records)
}

/// A function's record, and its async config's when the manifests declare one.
async fn import_function(
    client: &Client,
    desired: &Desired,
    state: &State,
    address: &Address,
    name: &str,
    id: &str,
) -> Result<Vec<(Address, ResourceState)>, ImportError> {
    let project = client.project_id().to_string();
    let mut records = Vec::new();
    let urn = function_urn(client, address, name, id)?;
    let config = client
        .show_function_config_opt(&urn)
        .await
        .map_err(api(format!("function {urn}")))?
        .ok_or_else(|| ImportError::NotFound {
            what: format!("function {urn}"),
            project: project.clone(),
        })?;
    let tags = client
        .list_function_tags(&urn)
        .await
        .map_err(api(format!("the tags of {urn}")))?;
    let live = LiveFunction {
        config,
        triggers: Vec::new(),
        async_config: None,
        tags: tags.tags,
        ..Default::default()
    };
    records.push((address.clone(), plan::import::function(desired, state, name, &live)));
    // Its async config comes along when the manifests declare one (nothing else would ever
    // record it: a matching live config plans no change).
    let async_address = Address::Async(name.into());
    if desired.addresses().contains(&async_address) && !state.resources.contains_key(&async_address.to_string()) {
        let at = async_urn(desired, name, &urn);
        if let Some(config) = read_async_config(client, &at).await? {
            records.push((async_address, plan::import::async_config(desired, name, &at, &config)));
        }
    }
    Ok(records)
}

/// Where `function`'s async config lives: under the alias its manifest names as `qualifier`.
fn async_urn(desired: &Desired, function: &str, urn: &str) -> String {
    let qualifier = desired
        .functions
        .get(function)
        .and_then(|f| f.async_config.as_ref())
        .and_then(|a| a.qualifier.as_deref());
    crate::model::qualified_urn(urn, qualifier)
}

/// Trigger `id` of `function`'s record.
async fn import_trigger(
    client: &Client,
    desired: &Desired,
    state: &State,
    function: &str,
    trigger: &str,
    id: &str,
) -> Result<ResourceState, ImportError> {
    let project = client.project_id().to_string();
    let urn = state
        .resources
        .get(&Address::Function(function.into()).to_string())
        .map(|r| r.id.clone())
        .unwrap_or_else(|| desired.function_urn(function));
    // An alias's trigger is listed under the alias the manifest names.
    let qualifier = desired
        .functions
        .get(function)
        .and_then(|f| f.triggers.get(trigger))
        .and_then(|t| t.qualifier.as_deref());
    let urn = crate::model::qualified_urn(&urn, qualifier);
    let triggers = match client.list_triggers(&urn).await {
        Ok(t) => t,
        Err(e) if e.is_not_found() => {
            return Err(ImportError::NotFound {
                what: format!("function {urn} (the function of trigger {id})"),
                project,
            })
        }
        Err(e) => return Err(api(format!("the triggers of {urn}"))(e)),
    };
    let live = triggers
        .iter()
        .find(|t| t.trigger_id == id)
        .ok_or_else(|| ImportError::NotFound {
            what: format!("trigger {id} of function {urn}"),
            project: project.clone(),
        })?;
    Ok(plan::import::trigger(desired, function, trigger, live))
}

async fn read_async_config(
    client: &Client,
    urn: &str,
) -> Result<Option<crate::api::types::AsyncInvokeConfig>, ImportError> {
    client
        .show_async_config(urn)
        .await
        .map_err(api(format!("the async config of {urn}")))
}

/// The unqualified URN `id` names, checked against the stack: function `name`, this region
/// and project, and no version or alias qualifier.
fn function_urn(client: &Client, address: &Address, name: &str, id: &str) -> Result<String, ImportError> {
    let (urn, qualifier) = qualified_urn(client, address, name, id)?;
    match qualifier {
        None | Some(Qualifier::Latest) => Ok(urn),
        Some(q) => Err(ImportError::BadId {
            id: id.to_string(),
            expected: "function URN",
            reason: format!("`:{q}` is a version or alias; import the function itself (unqualified or `:latest`)"),
        }),
    }
}

/// The unqualified URN of function `name` in `id`, checked against this project, and the
/// qualifier `id` carries.
fn qualified_urn(
    client: &Client,
    address: &Address,
    name: &str,
    id: &str,
) -> Result<(String, Option<Qualifier>), ImportError> {
    let bad = |reason: String| ImportError::BadId {
        id: id.to_string(),
        expected: "function URN",
        reason,
    };
    let urn = FunctionUrn::parse(id).map_err(|e| bad(e.to_string()))?;
    for (field, found, expected) in [
        ("region", &urn.region, client.region()),
        ("project", &urn.project, client.project_id()),
    ] {
        if let Some(found) = found.as_deref().filter(|f| *f != expected) {
            return Err(ImportError::OtherPlace {
                id: id.to_string(),
                field,
                found: found.to_string(),
                expected: expected.to_string(),
            });
        }
    }
    if urn.name != name {
        return Err(ImportError::OtherFunction {
            id: id.to_string(),
            found: urn.name,
            address: address.to_string(),
            declared: name.to_string(),
        });
    }
    let unqualified = FunctionUrn::unqualified(client.region(), client.project_id(), &urn.package, &urn.name);
    Ok((unqualified, urn.qualifier))
}

/// The dependency version `id` names: `DEP_ID/VERSION`, or a version id looked up in the
/// package the manifest names first, then in every private package.
async fn find_dependency_version(
    client: &Client,
    desired: &Desired,
    name: &str,
    id: &str,
) -> Result<Option<crate::api::types::DependencyVersion>, ImportError> {
    if let Some((dep_id, version)) = id.split_once('/') {
        let version: i64 = version.parse().map_err(|_| ImportError::BadId {
            id: id.to_string(),
            expected: "dependency version id or DEP_ID/VERSION",
            reason: format!("`{version}` is not a version number"),
        })?;
        return client
            .show_dependency_version(dep_id, version)
            .await
            .map_err(api(format!("dependency version {id}")));
    }
    let declared = &desired.dependencies[name].name;
    let first = client
        .find_dependency(declared)
        .await
        .map_err(api(format!("dependency package `{declared}`")))?
        .map(|p| p.id);
    if let Some(dep_id) = &first {
        if let Some(found) = version_in(client, dep_id, id).await? {
            return Ok(Some(found));
        }
    }
    let all = client
        .list_all_dependencies()
        .await
        .map_err(api("the dependency packages"))?;
    for package in all.into_iter().filter(|p| Some(&p.id) != first.as_ref()) {
        if let Some(found) = version_in(client, &package.id, id).await? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// Version `id` of package `dep_id`, as its show answer (what refresh reads, so the next
/// plan compares the same fields).
async fn version_in(
    client: &Client,
    dep_id: &str,
    id: &str,
) -> Result<Option<crate::api::types::DependencyVersion>, ImportError> {
    let versions = client
        .list_all_dependency_versions(dep_id)
        .await
        .map_err(api(format!("the versions of dependency package {dep_id}")))?;
    let Some(v) = versions.into_iter().find(|v| v.id == id) else {
        return Ok(None);
    };
    let dep_id = if v.dep_id.is_empty() { dep_id } else { &v.dep_id };
    client
        .show_dependency_version(dep_id, v.version)
        .await
        .map_err(api(format!("dependency version {id}")))
}

/// Alias `alias` of `function` from its URN (`…:function:APP:NAME:!ALIAS`, or with the
/// alias written bare).
async fn import_alias(
    client: &Client,
    desired: &Desired,
    address: &Address,
    function: &str,
    alias: &str,
    id: &str,
) -> Result<ResourceState, ImportError> {
    let (urn, qualifier) = qualified_urn(client, address, function, id)?;
    let named = match &qualifier {
        Some(Qualifier::Alias(a)) | Some(Qualifier::Named(a)) => a.as_str(),
        _ => {
            return Err(ImportError::BadId {
                id: id.to_string(),
                expected: "alias URN",
                reason: format!("an alias URN ends in `:!{alias}`"),
            })
        }
    };
    if named != alias {
        return Err(ImportError::BadId {
            id: id.to_string(),
            expected: "alias URN",
            reason: format!("it names alias `{named}`, not `{alias}` as {address} does"),
        });
    }
    let live = client
        .show_alias(&urn, alias)
        .await
        .map(Some)
        .or_else(|e| if e.is_not_found() { Ok(None) } else { Err(e) })
        .map_err(api(format!("alias {alias} of {urn}")))?
        .ok_or_else(|| ImportError::NotFound {
            what: format!("alias {alias} of function {urn}"),
            project: client.project_id().to_string(),
        })?;
    Ok(plan::import::alias(desired, address, &live))
}

/// The published version `id` names (`…:function:APP:NAME:VERSION`), recorded as the
/// function's last published one.
async fn import_version(
    client: &Client,
    desired: &Desired,
    address: &Address,
    function: &str,
    id: &str,
) -> Result<ResourceState, ImportError> {
    let (urn, qualifier) = qualified_urn(client, address, function, id)?;
    let Some(Qualifier::Named(version)) = qualifier else {
        return Err(ImportError::BadId {
            id: id.to_string(),
            expected: "version URN",
            reason: "a version URN ends in `:VERSION`, e.g. `:v3`".into(),
        });
    };
    let versions = client
        .list_all_versions(&urn)
        .await
        .map_err(api(format!("the versions of {urn}")))?;
    let live = versions
        .iter()
        .find(|v| v.version == version)
        .ok_or_else(|| ImportError::NotFound {
            what: format!("version {version} of function {urn}"),
            project: client.project_id().to_string(),
        })?;
    Ok(plan::import::version(desired, address, &urn, live))
}
