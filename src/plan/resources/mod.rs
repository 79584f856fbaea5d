//! One diff per resource kind: desired view vs live view, with the calls that close the gap.

mod alias;
pub(crate) use alias::{alias_view, ALIAS_KEYS};
pub(crate) use version::version_view;
mod async_config;
mod dependency;
mod function;
mod trigger;
mod version;
mod workflow;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use super::diff::{self, matches, parse_json_string};
use crate::api::Operation;

use super::{Action, Artifacts, AttrDiff, Call, Change, Live, LiveFunction, Plan, Request, Rerecord};
use crate::api::types::{AsyncInvokeConfig, CompactObject, DependencyVersion, Trigger, Workflow};
use crate::model::limits::OWNERSHIP_TAG_KEY;
use crate::model::{Address, DependencySpec, Desired, FunctionSpec, Owner, TriggerSpec};
use crate::state::{Attributes, ResourceState, State};

/// Shown instead of a secret.
pub const SENSITIVE: &str = "(sensitive)";
/// Shown for a value only apply will know (a new dependency version's id).
pub const KNOWN_AFTER_APPLY: &str = "(known after apply)";

/// Function attributes `PUT …/config` sets.
const CONFIG_KEYS: &[&str] = &[
    "handler",
    "memory_size",
    "timeout",
    "description",
    "user_data",
    "xrole",
    "app_xrole",
    "strategy_config",
    "func_vpc",
    "mount_config",
    "log_config",
    "initializer_handler",
    "initializer_timeout",
    "pre_stop_handler",
    "pre_stop_timeout",
];
/// Function attributes that force a new function (part of the URN, or immutable).
const REPLACE_KEYS: &[&str] = &["package", "runtime"];
/// Function attributes `PUT …/code` sets.
const CODE_KEYS: &[&str] = &["code_type", "code", "depend_version_list"];
/// Attributes recorded for fgform's own bookkeeping, never shown as a difference: a
/// version's `fingerprint` of the function config it froze.
const UNSHOWN: &[&str] = &["fingerprint"];
/// Trigger attributes compared.
pub(crate) const TRIGGER_KEYS: &[&str] = &["trigger_type_code", "trigger_status", "event_data"];
/// Dependency version attributes compared.
pub(crate) const DEPENDENCY_KEYS: &[&str] = &["name", "runtime", "description", "content"];
/// Async config scalars compared (when set; unset ones are the server's defaults).
pub(crate) const ASYNC_SCALAR_KEYS: &[&str] = &[
    "max_async_event_age_in_seconds",
    "max_async_retry_attempts",
    "enable_async_status_log",
];

/// Every function attribute fgform manages, in the order diffs list them.
pub(crate) fn function_keys() -> Vec<&'static str> {
    let mut keys: Vec<&str> = REPLACE_KEYS
        .iter()
        .chain(CONFIG_KEYS)
        .chain(CODE_KEYS)
        .copied()
        .collect();
    keys.push("tags");
    keys
}

/// Attributes compared both ways: a key only the live side has is a difference, not a
/// server default.
pub(crate) fn compared_exactly(key: &str) -> bool {
    matches!(
        key,
        "user_data" | "tags" | "depend_version_list" | "additional_version_weights"
    )
}

/// The live side of a function, in the shape of its desired view (secrets as `(sensitive)`
/// when `has_secrets`: the API masks them).
pub(crate) fn function_view(live: &LiveFunction, has_secrets: bool) -> Map<String, Value> {
    function_view_with(live, has_secrets, false)
}

/// [`function_view`]; with `obs_by_digest`, OBS code is compared by its `digest` (the
/// SHA-512 of the object the service fetched) rather than its `code_url`: the code fgform
/// put in the code bucket, whose local zip has a digest to compare.
pub(crate) fn function_view_with(live: &LiveFunction, has_secrets: bool, obs_by_digest: bool) -> Map<String, Value> {
    let mut object = match serde_json::to_value(&live.config) {
        Ok(Value::Object(o)) => o,
        _ => Map::new(),
    };
    let user_data = parse_json_string(&live.config.user_data);
    object.insert("user_data".into(), user_data);
    object.insert(
        "encrypted_user_data".into(),
        if has_secrets { SENSITIVE.into() } else { Value::Null },
    );
    let code = if live.config.code_type == "obs" && !obs_by_digest {
        live.config.code_url.clone()
    } else {
        live.config.digest.clone()
    };
    object.insert("code".into(), code.into());
    let mut versions: Vec<Value> = live
        .config
        .depend_version_list
        .iter()
        .cloned()
        .map(Value::String)
        .collect();
    versions.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    object.insert("depend_version_list".into(), Value::Array(versions));
    let tags: Map<String, Value> = live
        .tags
        .iter()
        .map(|t| (t.key.clone(), t.value.clone().into()))
        .collect();
    object.insert("tags".into(), Value::Object(tags));
    object
}

/// The live side of a trigger.
pub(crate) fn trigger_view(live: &Trigger) -> Value {
    json!({
        "trigger_type_code": live.trigger_type_code,
        "trigger_status": live.trigger_status,
        "event_data": live.event_data,
    })
}

/// The live side of a dependency version; `recorded_content` stands in for an etag the
/// API left empty.
pub(crate) fn dependency_view(live: &DependencyVersion, recorded_content: Option<Value>) -> Value {
    let content = if live.etag.is_empty() {
        recorded_content.unwrap_or_default()
    } else {
        Value::String(live.etag.clone())
    };
    json!({
        "name": live.name,
        "runtime": live.runtime,
        "description": live.description,
        "content": content,
    })
}

/// The live side of an async config, destinations' `param` strings parsed.
pub(crate) fn async_view(live: &AsyncInvokeConfig) -> Value {
    let mut view = json!({
        "max_async_event_age_in_seconds": live.max_async_event_age_in_seconds,
        "max_async_retry_attempts": live.max_async_retry_attempts,
        "enable_async_status_log": live.enable_async_status_log,
        "destination_config": live.destination_config,
    });
    normalize_destinations(&mut view);
    view
}

/// The live side of a workflow.
pub(crate) fn workflow_view(live: &Workflow) -> Value {
    json!({"definition": serde_json::to_value(&live.definition).unwrap_or_default()})
}

/// Whether live trigger `t` is the one of type `kind` with `event_data`: a timer by its
/// name, other types by the event data they were created with.
pub fn is_trigger(t: &Trigger, kind: &str, event_data: &Map<String, Value>) -> bool {
    t.trigger_type_code == kind
        && if kind == "TIMER" {
            t.event_data.get("name") == event_data.get("name")
        } else {
            matches(
                Some(&Value::Object(event_data.clone())),
                Some(&Value::Object(t.event_data.clone())),
            )
        }
}

/// The state's recorded attributes of `address` as a JSON object (`null` if absent).
pub fn state_view(state: &State, address: &Address) -> Value {
    state
        .resources
        .get(&address.to_string())
        .map(|r| Value::Object(r.attributes.to_map().into_iter().collect()))
        .unwrap_or(Value::Null)
}

/// Every attribute of a view, as a create (`before` = false) or a delete (`true`) shows it.
pub fn all_attributes(view: &Value, before: bool) -> Vec<AttrDiff> {
    let Some(object) = view.as_object() else {
        return vec![];
    };
    object
        .iter()
        .filter(|(k, v)| !diff::is_empty(Some(v)) && !UNSHOWN.contains(&k.as_str()))
        .map(|(k, v)| AttrDiff {
            path: k.clone(),
            before: before.then(|| v.clone()),
            after: (!before).then(|| v.clone()),
            forces_replacement: false,
            sensitive: v.as_str() == Some(SENSITIVE),
        })
        .collect()
}

pub(super) struct Ctx<'a> {
    desired: &'a Desired,
    artifacts: &'a Artifacts,
    state: &'a State,
    live: &'a Live,
    plan: Plan,
    /// Dependencies getting a new version.
    new_versions: BTreeSet<String>,
    /// Functions deleted, replaced or skipped: their children need no calls of their own.
    recreated: BTreeSet<String>,
    skipped: BTreeSet<String>,
    /// The version this plan publishes, by function.
    published: BTreeMap<String, String>,
    /// Functions this plan updates in more than their tags (what a version freezes).
    reconfigured: BTreeSet<String>,
}

impl<'a> Ctx<'a> {
    pub fn new(desired: &'a Desired, artifacts: &'a Artifacts, state: &'a State, live: &'a Live) -> Self {
        Ctx {
            desired,
            artifacts,
            state,
            live,
            plan: Plan::default(),
            new_versions: BTreeSet::new(),
            recreated: BTreeSet::new(),
            skipped: BTreeSet::new(),
            published: BTreeMap::new(),
            reconfigured: BTreeSet::new(),
        }
    }

    fn in_state(&self, address: &Address) -> Option<&'a ResourceState> {
        self.state.resources.get(&address.to_string())
    }

    /// An update or replace of `address` changing `attributes` (a delete: none).
    fn push(
        &mut self,
        address: Address,
        action: Action,
        calls: Vec<Call>,
        before: Value,
        after: Value,
        attributes: Vec<AttrDiff>,
    ) {
        self.plan.changes.push(Change {
            address,
            action,
            calls,
            changed: attributes,
            before: CompactObject::from_value(&before),
            after: CompactObject::from_value(&after),
            rollout: None,
        });
    }

    /// A create of `address` as `after`.
    fn push_create(&mut self, address: Address, calls: Vec<Call>, after: Value) {
        self.push(address, Action::Create, calls, Value::Null, after, vec![]);
    }

    /// Whether a record of `address` with attributes `after` (what an apply would write)
    /// matches live exactly as `drift` compares: recording it then converges, the next plan
    /// finding nothing to do. `false` when it differs or cannot be compared.
    fn record_would_match(&self, address: &Address, kind: &str, id: &str, after: &Value) -> bool {
        if !after.is_object() {
            return false;
        }
        let record = ResourceState {
            kind: kind.into(),
            id: id.into(),
            attributes: Attributes::from_object(after),
            private: Default::default(),
        };
        crate::drift::record_matches_live(self.state, self.live, address, &record) == Some(true)
    }

    /// `address` needs no call (live already is `after`): if the state's record of it says
    /// otherwise, plans rewriting the record (a call that took effect, its answer lost).
    fn rerecord_if_stale(&mut self, address: &Address, after: &Value) {
        let Some(recorded) = self.in_state(address) else {
            return;
        };
        if crate::drift::record_matches_live(self.state, self.live, address, recorded) != Some(false) {
            return;
        }
        if self.record_would_match(address, &recorded.kind, &recorded.id, after) {
            self.plan.rerecord.push(Rerecord {
                address: address.clone(),
                id: recorded.id.clone(),
                attributes: after.clone(),
            });
        }
    }

    pub fn plan_all(&mut self) {
        for name in self.desired.dependencies.keys() {
            self.dependency(name);
        }
        for (name, spec) in &self.desired.functions {
            self.function(name, spec);
        }
        for (name, spec) in &self.desired.functions {
            if self.skipped.contains(name) {
                continue;
            }
            self.version(name, spec);
            for alias in spec.aliases.values() {
                self.alias(name, spec, alias);
            }
            for (trigger, tspec) in &spec.triggers {
                self.trigger(name, trigger, tspec);
            }
            self.async_config(name, spec);
        }
        for name in self.desired.workflows.keys() {
            self.workflow(name);
        }
        self.orphans();
    }

    pub fn finish(mut self) -> Plan {
        self.plan.changes.sort_by(|a, b| a.address.cmp(&b.address));
        self.plan
    }

    // ---- what state has and the manifests no longer name ----

    fn orphans(&mut self) {
        let desired: BTreeSet<Address> = self.desired.addresses().into_iter().collect();
        let mut orphans: Vec<Address> = self
            .state
            .resources
            .keys()
            .filter_map(|k| k.parse::<Address>().ok())
            .filter(|a| !desired.contains(a))
            .collect();
        // Never delete what is no longer ours: a function another state took over, nor
        // anything under a function this plan refused to touch.
        let (blocked, mut foreign) = keep_foreign_functions(self.state, self.live, &mut orphans);
        self.plan.blocked.extend(blocked);
        foreign.extend(self.skipped.iter().cloned());
        orphans.retain(|a| function_of(a).is_none_or(|f| !foreign.contains(f)));
        let gone: BTreeSet<String> = orphans
            .iter()
            .filter_map(|a| match a {
                Address::Function(n) => Some(n.clone()),
                _ => None,
            })
            .collect();
        for address in orphans {
            let record = &self.state.resources[&address.to_string()];
            let parent_goes = |f: &str| gone.contains(f) || self.recreated.contains(f);
            let exists = match &address {
                Address::Function(n) => self.live.functions.contains_key(n),
                Address::Trigger { function, .. } => {
                    !parent_goes(function) && self.live_trigger(function, Some(&record.id), None).is_some()
                }
                Address::Async(function) => {
                    !parent_goes(function)
                        && self
                            .live
                            .functions
                            .get(function)
                            .is_some_and(|f| f.async_config.is_some())
                }
                // Published versions are kept: only the record goes.
                Address::Version(_) => false,
                Address::Alias { function, alias } => {
                    !parent_goes(function)
                        && self
                            .live
                            .functions
                            .get(function)
                            .is_some_and(|f| f.alias(alias).is_some())
                }
                Address::Dependency(n) => self.live.dependencies.contains_key(n),
                Address::Workflow(n) => self.live.workflows.contains_key(n),
            };
            let call = match &address {
                Address::Function(_) => Operation::DeleteFunction,
                Address::Trigger { .. } => Operation::DeleteFunctionTrigger,
                Address::Async(_) => Operation::DeleteFunctionAsyncInvokeConfig,
                Address::Version(_) => Operation::CreateFunctionVersion,
                Address::Alias { .. } => Operation::DeleteVersionAlias,
                Address::Dependency(_) => Operation::DeleteDependencyVersion,
                Address::Workflow(_) => Operation::BatchDeleteWorkflows,
            };
            let before = state_view(self.state, &address);
            let calls = if exists { vec![Call::bare(call)] } else { vec![] };
            self.push(address, Action::Delete, calls, before, Value::Null, vec![]);
        }
    }
}

/// Why live function `live` is not `state`'s to manage, or `None` when it is. A function
/// the state records (`record`) is its own unless its tag names another owner; a tag
/// removed by hand, or a legacy tag naming only this stack, is drift the plan repairs, and a
/// tag the function carried when it was imported on purpose is the one the next apply
/// replaces. One the state does not record is its own only when its tag names exactly this
/// state (see `model::Owner`).
fn not_ours(state: &State, record: Option<&ResourceState>, live: &LiveFunction) -> Option<String> {
    let ours = state.owner();
    let tag = live.tag(OWNERSHIP_TAG_KEY);
    let recorded = record.is_some();
    let imported_from = record.and_then(|r| r.private.get(super::import::IMPORTED_OWNER));
    if tag.is_some() && imported_from.as_ref().and_then(Value::as_str) == tag {
        return None;
    }
    match tag.map(Owner::parse) {
        Some(o) if o == ours => None,
        None if recorded => None,
        Some(o) if recorded && o.lineage.is_none() && o.stack == ours.stack => None,
        Some(o) if o.lineage.is_none() && o.stack == ours.stack => Some(format!(
            "it carries the old-style tag `{OWNERSHIP_TAG_KEY}: {}`, which names no state: it may belong \
             to any state of this stack",
            o.tag_value()
        )),
        Some(o) if recorded => Some(format!("this state records it, but {}", other_owner(&o, &ours))),
        Some(o) => Some(other_owner(&o, &ours)),
        None => Some(format!(
            "it has no `{OWNERSHIP_TAG_KEY}` tag: it was made outside fgform (console, script, another tool)"
        )),
    }
}

/// The blocked entry for live function `name` that is not this state's (see [`not_ours`]).
fn blocked_function(name: &str, live: &LiveFunction, recorded: bool, reason: String) -> crate::plan::Blocked {
    let urn = &live.config.func_urn;
    crate::plan::Blocked {
        address: Address::Function(name.into()),
        id: crate::api::urn::without_latest(urn).to_string(),
        owner: live.tag(OWNERSHIP_TAG_KEY).map(str::to_string),
        reason,
        recorded,
    }
}

/// Of the recorded `addresses` about to be deleted, takes out every function `live` shows is
/// now another's, and what is under it: returns them blocked, and the names of those
/// functions.
pub(crate) fn keep_foreign_functions(
    state: &State,
    live: &Live,
    addresses: &mut Vec<Address>,
) -> (Vec<super::Blocked>, BTreeSet<String>) {
    let mut blocked = Vec::new();
    let mut foreign = BTreeSet::new();
    for address in addresses.iter() {
        let Address::Function(name) = address else { continue };
        let Some(live) = live.functions.get(name) else { continue };
        if let Some(reason) = not_ours(state, state.resources.get(&address.to_string()), live) {
            blocked.push(blocked_function(name, live, true, reason));
            foreign.insert(name.clone());
        }
    }
    addresses.retain(|a| function_of(a).is_none_or(|f| !foreign.contains(f)));
    (blocked, foreign)
}

/// The function a function, trigger or async address belongs to.
pub(crate) fn function_of(address: &Address) -> Option<&str> {
    match address {
        Address::Function(name) | Address::Async(name) | Address::Version(name) => Some(name),
        Address::Trigger { function, .. } | Address::Alias { function, .. } => Some(function),
        Address::Dependency(_) | Address::Workflow(_) => None,
    }
}

/// "tagged for …" for a live owner that is not `ours`.
fn other_owner(owner: &Owner, ours: &Owner) -> String {
    let whose = if owner.is_stack_stage(&ours.stack, ours.stage.as_deref()) {
        "another state of this stack"
    } else if owner.stack == ours.stack {
        "another stage of this stack"
    } else {
        "another stack"
    };
    format!("it is tagged for {whose}: {}", owner.describe())
}

/// Parses destination `param` strings so they compare structurally.
fn normalize_destinations(body: &mut Value) {
    if let Some(config) = body.get_mut("destination_config").and_then(Value::as_object_mut) {
        for (_, d) in config.iter_mut() {
            if let Some(param) = d.get("param").and_then(Value::as_str).map(str::to_string) {
                d["param"] = parse_json_string(&param);
            }
        }
        config.retain(|_, d| !d.is_null());
    }
}

/// The `destination_config` of an async view (`null` when empty).
pub(crate) fn destinations(body: &Value) -> Value {
    match body.get("destination_config") {
        Some(v) if !diff::is_empty(Some(v)) => v.clone(),
        _ => Value::Null,
    }
}

/// The attributes among `keys` whose desired value the live one does not match.
fn compare(before: &Value, after: &Value, keys: &[&str], forces: &dyn Fn(&str) -> bool) -> Vec<AttrDiff> {
    let mut out = Vec::new();
    for key in keys {
        let (b, a) = (before.get(*key), after.get(*key));
        let exact = compared_exactly(key);
        let differs = if exact {
            !((diff::is_empty(a) && diff::is_empty(b)) || (matches(a, b) && matches(b, a)))
        } else {
            !matches(a, b)
        };
        if a.and_then(Value::as_array)
            .is_some_and(|l| l.iter().any(|v| v.as_str() == Some(KNOWN_AFTER_APPLY)))
            || differs
        {
            out.push(AttrDiff {
                path: key.to_string(),
                before: b.filter(|v| !diff::is_empty(Some(v))).cloned(),
                after: a.filter(|v| !diff::is_empty(Some(v))).cloned(),
                forces_replacement: forces(key),
                sensitive: false,
            });
        }
    }
    out
}

/// Addresses a resource of `desired` must wait for, as state records them.
pub fn depends_on(desired: &Desired, address: &Address) -> Vec<String> {
    let mut out: BTreeMap<String, ()> = BTreeMap::new();
    for a in desired.depends_on(address) {
        out.insert(a.to_string(), ());
    }
    if let Some(parent) = address.parent() {
        out.insert(parent.to_string(), ());
    }
    out.into_keys().collect()
}
