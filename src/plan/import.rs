//! What `fgform import` records for a live resource: its live view, in the shape the diff
//! compares (the same views `resources.rs` builds from a refresh), plus the private values
//! the applier relies on. The next plan therefore shows exactly how the live resource
//! differs from the manifests. Pure: the caller reads the live objects.
//!
//! A function records the attributes its manifest sets, as apply would have recorded them:
//! attributes the manifest leaves unset are not managed, for an imported function as for
//! one fgform created. Secrets cannot be read back, so none are recorded: a manifest with
//! `secrets:` plans to set them.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::resources::{self, Ctx};
use super::{Artifacts, Live, LiveFunction};
use crate::api::types::{AsyncInvokeConfig, DependencyVersion, Trigger, Workflow};
use crate::model::limits::OWNERSHIP_TAG_KEY;
use crate::model::{Address, Desired};
use crate::state::{Attributes, ResourceState, State};

fn record(
    desired: &Desired,
    address: &Address,
    id: &str,
    attributes: Value,
    private: Map<String, Value>,
) -> ResourceState {
    let mut private: BTreeMap<String, Value> = private.into_iter().collect();
    private.insert("depends_on".into(), json!(super::depends_on(desired, address)));
    ResourceState {
        kind: address.kind().into(),
        id: id.to_string(),
        attributes: Attributes::from_object(&attributes),
        private: private.into(),
    }
}

/// Function `name` of `desired`, live as `live`; its id is the unqualified URN.
pub fn function(desired: &Desired, state: &State, name: &str, live: &LiveFunction) -> ResourceState {
    let address = Address::Function(name.into());
    let spec = &desired.functions[name];
    let (artifacts, nothing) = (Artifacts::default(), Live::default());
    let managed = Ctx::new(desired, &artifacts, state, &nothing).function_after(name, spec);
    let view = resources::function_view(live, false);
    let attributes: Map<String, Value> = managed
        .keys()
        .map(|k| (k.clone(), view.get(k).cloned().unwrap_or(Value::Null)))
        .collect();
    let urn = crate::api::urn::without_latest(&live.config.func_urn);
    // Taken over from another owner on purpose: the planner lets this state manage it (and
    // re-tag it) while its tag still names that owner.
    let mut private = Map::new();
    if let Some(owner) = live.tag(OWNERSHIP_TAG_KEY).filter(|t| *t != state.owner().tag_value()) {
        private.insert(IMPORTED_OWNER.into(), owner.into());
    }
    if !live.config.func_id.is_empty() {
        private.insert(crate::state::FUNC_ID.into(), live.config.func_id.clone().into());
    }
    record(desired, &address, urn, Value::Object(attributes), private)
}

/// The private key of a function record naming the ownership tag it carried when imported.
pub const IMPORTED_OWNER: &str = "imported_owner";

/// Trigger `trigger` of function `function`.
pub fn trigger(desired: &Desired, function: &str, trigger: &str, live: &Trigger) -> ResourceState {
    let address = Address::Trigger {
        function: function.into(),
        trigger: trigger.into(),
    };
    let mut view = resources::trigger_view(live);
    let qualifier = desired
        .functions
        .get(function)
        .and_then(|f| f.triggers.get(trigger))
        .and_then(|t| t.qualifier.clone());
    if let Some(q) = qualifier {
        view["qualifier"] = q.into();
    }
    record(desired, &address, &live.trigger_id, view, Map::new())
}

/// The async-invoke config of function `function` (unqualified URN `urn`).
pub fn async_config(desired: &Desired, function: &str, urn: &str, live: &AsyncInvokeConfig) -> ResourceState {
    let address = Address::Async(function.into());
    let mut view = resources::async_view(live);
    let qualifier = desired
        .functions
        .get(function)
        .and_then(|f| f.async_config.as_ref())
        .and_then(|a| a.qualifier.clone());
    if let Some(q) = qualifier {
        view["qualifier"] = q.into();
    }
    record(desired, &address, urn, view, Map::new())
}

/// An alias, by its URN.
pub fn alias(desired: &Desired, address: &Address, live: &crate::api::types::Alias) -> ResourceState {
    record(
        desired,
        address,
        &live.alias_urn,
        resources::alias_view(live),
        Map::new(),
    )
}

/// A published version, recorded as the function's last one (id: the function's URN).
pub fn version(
    desired: &Desired,
    address: &Address,
    urn: &str,
    live: &crate::api::types::FunctionConfig,
) -> ResourceState {
    record(desired, address, urn, resources::version_view(live), Map::new())
}

/// Dependency `name`, live as version `live`: with `dep_id` and `version`, which refresh
/// and delete address it by.
pub fn dependency(desired: &Desired, name: &str, live: &DependencyVersion) -> ResourceState {
    let address = Address::Dependency(name.into());
    // OBS-linked versions may report no etag: their content is their link.
    let link = (!live.link.is_empty()).then(|| Value::String(live.link.clone()));
    let mut view = resources::dependency_view(live, link);
    view["dep_id"] = live.dep_id.clone().into();
    view["version"] = live.version.into();
    record(desired, &address, &live.id, view, Map::new())
}

/// Workflow `name`, with the `workflow_urn` its delete needs.
pub fn workflow(desired: &Desired, name: &str, live: &Workflow) -> ResourceState {
    let address = Address::Workflow(name.into());
    let mut private = Map::new();
    private.insert("workflow_urn".into(), live.workflow_urn.clone().into());
    record(desired, &address, &live.id, resources::workflow_view(live), private)
}
