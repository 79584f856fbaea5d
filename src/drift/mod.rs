//! Drift: what changed outside fgform. Pure, like the rest of the planner: the command
//! reads, this compares.
//!
//! - **changed**: live attributes × the attributes the state recorded at the last apply
//!   (the planner's desired view then, so both sides are normalized the way the planner
//!   normalizes them); a resource adopted with no recorded attributes compares with the
//!   manifests instead (the plan's change for it).
//! - **deleted**: in state, gone live.
//! - **unmanaged**: in the project ([`Inventory`]) and in no state of this stack.
//! - **pending**: what the plan (manifests × live) would change, for addresses not already
//!   reported as changed or deleted.
//!
//! [`ignore`] parses the ignore file; [`Report::apply_ignore`] applies it; [`render`]
//! prints the report.

pub mod ignore;
pub mod render;

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::Value;

use crate::api::types::{DependencyVersion, WorkflowSummary};
use crate::model::limits::OWNERSHIP_TAG_KEY;
use crate::model::Address;
use crate::plan::diff::{is_empty, matches};
use crate::plan::resources::{
    alias_view, async_view, compared_exactly, dependency_view, destinations, function_keys, function_view_with,
    trigger_view, version_view, workflow_view, ALIAS_KEYS, ASYNC_SCALAR_KEYS, DEPENDENCY_KEYS, KNOWN_AFTER_APPLY,
    TRIGGER_KEYS,
};
pub use crate::plan::AttrDrift;
use crate::plan::{Action, Live, Plan, ResourceDrift, SENSITIVE};
use crate::state::{ResourceState, State};

/// The project beyond what the state records, as `apply::inventory` read it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inventory {
    /// How many functions the project has.
    pub functions: usize,
    /// The project's functions whose URN the state does not record.
    pub unrecorded_functions: Vec<ProjectFunction>,
    /// Every workflow of the project.
    pub workflows: Vec<WorkflowSummary>,
    /// Every private dependency package of the project (an item describes the newest version;
    /// its `id` is the package id).
    pub dependencies: Vec<DependencyVersion>,
}

/// A live function the state does not record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectFunction {
    pub name: String,
    /// Unqualified URN.
    pub urn: String,
    /// The value of its ownership tag (`None`: it has none).
    pub owner: Option<String>,
}

/// What a changed resource's live attributes were compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Baseline {
    /// The attributes the state recorded at the last apply.
    State,
    /// The manifests (the state holds no attributes: the resource was adopted).
    Manifest,
}

/// A managed resource changed outside fgform.
#[derive(Debug, Clone, PartialEq)]
pub struct Changed {
    pub address: Address,
    pub id: String,
    pub baseline: Baseline,
    pub attributes: Vec<AttrDrift>,
}

/// A managed resource that is gone live.
#[derive(Debug, Clone, PartialEq)]
pub struct Deleted {
    pub address: Address,
    pub id: String,
    pub reason: String,
}

/// A live resource no state of this stack records.
#[derive(Debug, Clone, PartialEq)]
pub struct Unmanaged {
    /// `function.<live name>`, `workflow.<name>`, `dependency.<package name>`.
    pub address: Address,
    /// The live name.
    pub name: String,
    pub id: String,
    pub reason: String,
}

/// One attribute a pending change sets.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PendingAttr {
    pub path: String,
    /// `None` for secrets (never shown) and for absent values.
    pub live: Option<Value>,
    pub manifest: Option<Value>,
    /// A secret: the values are not shown.
    pub sensitive: bool,
}

/// A change the manifests ask for that is not live yet.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub address: Address,
    pub action: Action,
    /// The attributes that differ, for updates and replacements (empty for creates and deletes).
    pub attributes: Vec<PendingAttr>,
}

/// The population a drift run checked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Checked {
    /// State records by kind (`function`, `trigger`, `async`, `version`, `alias`,
    /// `dependency`, `workflow`).
    pub managed: BTreeMap<&'static str, usize>,
    /// Functions in the project.
    pub functions: usize,
    /// Functions in the project whose ownership tag names another stack.
    pub other_stacks: usize,
    pub workflows: usize,
    pub dependencies: usize,
}

impl Checked {
    /// Every resource the state records.
    pub fn managed_total(&self) -> usize {
        self.managed.values().sum()
    }
}

/// How one active ignore rule was used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleUse {
    pub pattern: String,
    pub line: usize,
    pub reason: String,
    pub until: Option<NaiveDate>,
    /// Findings it suppressed (a whole resource, or one attribute of one, each counts once).
    pub matched: usize,
}

/// What `fgform drift` found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    pub stack: String,
    pub stage: Option<String>,
    pub checked: Checked,
    pub changed: Vec<Changed>,
    pub deleted: Vec<Deleted>,
    pub unmanaged: Vec<Unmanaged>,
    pub pending: Vec<Pending>,
    /// The ignore file read, if any.
    pub ignore_file: Option<String>,
    /// Every rule that applied, with what it suppressed.
    pub ignored: Vec<RuleUse>,
    /// Rules past their expiry date: not applied.
    pub expired: Vec<RuleUse>,
}

impl Report {
    /// Findings the ignore rules suppressed.
    pub fn ignored_count(&self) -> usize {
        self.ignored.iter().map(|r| r.matched).sum()
    }

    /// Whether nothing is reported (after the ignore rules).
    pub fn in_sync(&self) -> bool {
        self.changed.is_empty() && self.deleted.is_empty() && self.unmanaged.is_empty() && self.pending.is_empty()
    }

    /// Drops what `rules` silence and counts it per rule; expired rules are not applied.
    /// Each finding (a whole resource, or one attribute of one) goes to the first rule, in
    /// file order, that matches it; a resource whose every attribute is silenced goes too.
    pub fn apply_ignore(&mut self, rules: &ignore::Rules, today: NaiveDate) {
        self.ignore_file = Some(rules.file.clone());
        let (expired, active): (Vec<_>, Vec<_>) = rules.rules.iter().partition(|r| r.is_expired(today));
        let mut counts = vec![0usize; active.len()];
        // Whether a finding stays: `path` is `None` for a whole resource.
        let mut keep = |address: &Address, path: Option<&str>| {
            let address = address.to_string();
            let rule = active.iter().position(|r| match path {
                None => r.matches_address(&address),
                Some(path) => r.matches_attribute(&address, path),
            });
            if let Some(i) = rule {
                counts[i] += 1;
            }
            rule.is_none()
        };
        self.deleted.retain(|d| keep(&d.address, None));
        self.unmanaged.retain(|u| keep(&u.address, None));
        self.changed.retain_mut(|c| {
            keep(&c.address, None) && {
                c.attributes.retain(|a| keep(&c.address, Some(&a.path)));
                !c.attributes.is_empty()
            }
        });
        self.pending.retain_mut(|p| {
            keep(&p.address, None) && {
                // A create or delete has no attributes to silence one by one.
                let had = !p.attributes.is_empty();
                p.attributes.retain(|a| keep(&p.address, Some(&a.path)));
                !had || !p.attributes.is_empty()
            }
        });
        let used = |r: &ignore::Rule, matched| RuleUse {
            pattern: r.pattern.clone(),
            line: r.line,
            reason: r.reason.clone(),
            until: r.until,
            matched,
        };
        self.ignored = active.iter().zip(counts).map(|(r, n)| used(r, n)).collect();
        self.expired = expired.iter().map(|r| used(r, 0)).collect();
    }
}

/// Compares live with the state and the plan, and lists what the project holds beyond it.
pub fn detect(state: &State, live: &Live, inventory: &Inventory, plan: &Plan) -> Report {
    let mut report = Report {
        stack: state.stack.clone(),
        stage: state.stage.clone(),
        ..Report::default()
    };
    for (key, record) in &state.resources {
        let Ok(address) = key.parse::<Address>() else {
            continue;
        };
        *report.checked.managed.entry(address.kind()).or_default() += 1;
        match compare(state, live, &address, record) {
            Outcome::Same => {}
            Outcome::Gone(reason) => report.deleted.push(Deleted {
                address,
                id: record.id.clone(),
                reason,
            }),
            Outcome::Differs(attributes) => report.changed.push(Changed {
                address,
                id: record.id.clone(),
                baseline: Baseline::State,
                attributes,
            }),
            Outcome::NoBaseline => {
                let attributes = manifest_drift(plan, &address);
                if !attributes.is_empty() {
                    report.changed.push(Changed {
                        address,
                        id: record.id.clone(),
                        baseline: Baseline::Manifest,
                        attributes,
                    });
                }
            }
        }
    }
    unmanaged(state, inventory, &mut report);
    let reported: BTreeSet<&Address> = report
        .changed
        .iter()
        .map(|c| &c.address)
        .chain(report.deleted.iter().map(|d| &d.address))
        .collect();
    report.pending = plan
        .changes
        .iter()
        .filter(|c| !reported.contains(&c.address))
        .map(|c| Pending {
            address: c.address.clone(),
            action: c.action,
            attributes: match c.action {
                Action::Update | Action::Replace => c
                    .changed
                    .iter()
                    .map(|a| PendingAttr {
                        path: a.path.clone(),
                        live: a.before.clone().filter(|_| !a.sensitive),
                        manifest: a.after.clone().filter(|_| !a.sensitive),
                        sensitive: a.sensitive,
                    })
                    .collect(),
                Action::Create | Action::Delete => vec![],
            },
        })
        .collect();
    report
}

/// The managed resources whose live attributes differ from what the state recorded at the
/// last apply (what [`detect`] reports as changed against the state), for the plan to show
/// as changed outside fgform. Secrets are not compared (the API masks them); should one
/// ever show up, its values are `(sensitive)`.
pub fn resource_drift(state: &State, live: &Live) -> Vec<ResourceDrift> {
    state
        .resources
        .iter()
        .filter_map(|(key, record)| {
            let address: Address = key.parse().ok()?;
            let Outcome::Differs(mut attributes) = compare(state, live, &address, record) else {
                return None;
            };
            for a in &mut attributes {
                if a.path.split('.').next() == Some("encrypted_user_data") {
                    let hide = |v: &mut Option<Value>| *v = v.as_ref().map(|_| SENSITIVE.into());
                    hide(&mut a.recorded);
                    hide(&mut a.live);
                }
            }
            Some(ResourceDrift { address, attributes })
        })
        .collect()
}

/// Whether `record` of `address` matches live the way `drift` compares them: `None` when
/// there is nothing to compare (gone live, or no recorded attributes).
pub(crate) fn record_matches_live(
    state: &State,
    live: &Live,
    address: &Address,
    record: &ResourceState,
) -> Option<bool> {
    match compare(state, live, address, record) {
        Outcome::Same => Some(true),
        Outcome::Differs(_) => Some(false),
        Outcome::Gone(_) | Outcome::NoBaseline => None,
    }
}

/// How one state record compares with live.
enum Outcome {
    Same,
    Gone(String),
    Differs(Vec<AttrDrift>),
    /// Exists live, but the state recorded no attributes to compare with.
    NoBaseline,
}

const NOT_FOUND: &str = "not found live";
const PARENT_GONE: &str = "its function is gone";

fn compare(state: &State, live: &Live, address: &Address, record: &ResourceState) -> Outcome {
    let recorded = record.attributes.to_map();
    let function = |name: &str| live.functions.get(name);
    let (view, keys): (Value, Vec<&str>) = match address {
        Address::Function(name) => {
            let Some(f) = function(name) else {
                return Outcome::Gone(NOT_FOUND.into());
            };
            // Code fgform put in the code bucket was recorded by its digest, not a URL.
            let by_digest = recorded
                .get("code")
                .and_then(Value::as_str)
                .is_some_and(|code| !code.contains("://"));
            (Value::Object(function_view_with(f, false, by_digest)), function_keys())
        }
        Address::Trigger { function: name, .. } => {
            let Some(f) = function(name) else {
                return Outcome::Gone(PARENT_GONE.into());
            };
            let Some(t) = f.triggers.iter().find(|t| t.trigger_id == record.id) else {
                return Outcome::Gone(NOT_FOUND.into());
            };
            (trigger_view(t), TRIGGER_KEYS.to_vec())
        }
        Address::Async(name) => {
            let Some(f) = function(name) else {
                return Outcome::Gone(PARENT_GONE.into());
            };
            let Some(config) = &f.async_config else {
                return Outcome::Gone(NOT_FOUND.into());
            };
            (async_view(config), ASYNC_SCALAR_KEYS.to_vec())
        }
        Address::Version(name) => {
            let Some(f) = function(name) else {
                return Outcome::Gone(PARENT_GONE.into());
            };
            let recorded_version = recorded.get("version").and_then(Value::as_str).unwrap_or_default();
            let Some(v) = f.version(recorded_version) else {
                return Outcome::Gone(NOT_FOUND.into());
            };
            (version_view(v), vec!["version", "code"])
        }
        Address::Alias { function: name, alias } => {
            let Some(f) = function(name) else {
                return Outcome::Gone(PARENT_GONE.into());
            };
            let Some(a) = f.alias(alias) else {
                return Outcome::Gone(NOT_FOUND.into());
            };
            (alias_view(a), ALIAS_KEYS.to_vec())
        }
        Address::Dependency(name) => {
            let Some(version) = live.dependencies.get(name) else {
                return Outcome::Gone(NOT_FOUND.into());
            };
            let view = dependency_view(version, recorded.get("content").cloned());
            (view, DEPENDENCY_KEYS.to_vec())
        }
        Address::Workflow(name) => {
            let Some(workflow) = live.workflows.get(name) else {
                return Outcome::Gone(NOT_FOUND.into());
            };
            (workflow_view(workflow), vec!["definition"])
        }
    };
    if recorded.is_empty() {
        return Outcome::NoBaseline;
    }
    let mut recorded = recorded;
    resolve_dependency_ids(state, record, &mut recorded);
    let mut out = Vec::new();
    for key in keys {
        if let Some(value) = recorded.get(key) {
            differences(
                key.to_string(),
                Some(value),
                view.get(key),
                compared_exactly(key),
                &mut out,
            );
        }
    }
    if matches!(address, Address::Async(_)) {
        // A PUT replaces the whole config, so destinations compare exactly.
        let recorded = Value::Object(recorded.into_iter().collect());
        differences(
            "destination_config".into(),
            Some(&destinations(&recorded)),
            Some(&destinations(&view)),
            true,
            &mut out,
        );
    }
    if out.is_empty() {
        Outcome::Same
    } else {
        Outcome::Differs(out)
    }
}

/// A function created in the same apply as a new dependency version recorded the version
/// id as `(known after apply)`; the state's record of that dependency knows it now.
fn resolve_dependency_ids(state: &State, record: &ResourceState, recorded: &mut BTreeMap<String, Value>) {
    let Some(Value::Array(ids)) = recorded.get("depend_version_list") else {
        return;
    };
    if !ids.iter().any(|v| v.as_str() == Some(KNOWN_AFTER_APPLY)) {
        return;
    }
    let uses: Vec<Address> = record
        .private
        .get("depends_on")
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.as_str()?.parse().ok())
        .filter(|a| matches!(a, Address::Dependency(_)))
        .collect();
    let mut resolved: Vec<Value> = ids
        .iter()
        .filter(|v| v.as_str() != Some(KNOWN_AFTER_APPLY))
        .cloned()
        .collect();
    for dependency in uses {
        if let Some(r) = state.resources.get(&dependency.to_string()) {
            let id = Value::String(r.id.clone());
            if !resolved.contains(&id) {
                resolved.push(id);
            }
        }
    }
    resolved.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    recorded.insert("depend_version_list".into(), Value::Array(resolved));
}

/// The differences the plan found between live and the manifests for `address` (an adopted
/// resource: the state has no attributes of its own for it). Secrets are left out.
fn manifest_drift(plan: &Plan, address: &Address) -> Vec<AttrDrift> {
    let Some(change) = plan.change(address) else {
        return vec![];
    };
    if !matches!(change.action, Action::Update | Action::Replace) {
        return vec![];
    }
    change
        .changed
        .iter()
        .filter(|a| !a.sensitive)
        .map(|a| AttrDrift {
            path: a.path.clone(),
            recorded: a.after.clone(),
            live: a.before.clone(),
        })
        .collect()
}

/// The leaves where `live` differs from `recorded`, as dotted paths under `path`. Same
/// rules as the planner's comparison: empty equals absent, numbers compare by value, and
/// unless `exact`, keys only the live side has are server defaults, not differences.
fn differences(path: String, recorded: Option<&Value>, live: Option<&Value>, exact: bool, out: &mut Vec<AttrDrift>) {
    if let (Some(Value::Object(r)), Some(Value::Object(l))) = (recorded, live) {
        if !r.is_empty() && !l.is_empty() {
            let mut keys: Vec<&String> = r.keys().collect();
            if exact {
                keys.extend(l.keys().filter(|k| !r.contains_key(*k)));
            }
            for key in keys {
                let (rv, lv) = (r.get(key), l.get(key));
                if !exact && is_empty(rv) {
                    continue; // an empty value inside an object is not managed
                }
                differences(format!("{path}.{key}"), rv, lv, exact, out);
            }
            return;
        }
    }
    let differs = if exact {
        !((is_empty(recorded) && is_empty(live)) || (matches(recorded, live) && matches(live, recorded)))
    } else {
        !matches(recorded, live)
    };
    if differs {
        let shown = |v: Option<&Value>| v.filter(|v| !is_empty(Some(v))).cloned();
        out.push(AttrDrift {
            path,
            recorded: shown(recorded),
            live: shown(live),
        });
    }
}

/// Functions, workflows and dependency packages of the project no state of this stack
/// records; functions tagged for other stacks are counted, not reported.
fn unmanaged(state: &State, inventory: &Inventory, report: &mut Report) {
    let checked = &mut report.checked;
    checked.functions = inventory.functions;
    checked.workflows = inventory.workflows.len();
    checked.dependencies = inventory.dependencies.len();
    // A create an interrupted run sent and never saw answered: `plan`/`apply` record it.
    let interrupted = |call: crate::api::Operation, key: &str, value: &str| {
        state
            .pending
            .values()
            .any(|i| i.call == call && i.lookup.get(key).and_then(Value::as_str) == Some(value))
    };
    const INTERRUPTED: &str = "created by an interrupted run: the next plan or apply records it";
    for f in &inventory.unrecorded_functions {
        let ours = state.owner();
        let reason = match f.owner.as_deref().map(crate::model::Owner::parse) {
            Some(owner) if owner == ours && interrupted(crate::api::Operation::CreateFunction, "urn", &f.urn) => {
                INTERRUPTED.into()
            }
            None => format!("no `{OWNERSHIP_TAG_KEY}` tag"),
            Some(owner) if owner == ours => "tagged for this state but not in it".to_string(),
            Some(owner) if owner.stack == state.stack => format!("tagged for {}", owner.describe()),
            Some(_) => {
                checked.other_stacks += 1;
                continue;
            }
        };
        report.unmanaged.push(Unmanaged {
            address: Address::Function(f.name.clone()),
            name: f.name.clone(),
            id: f.urn.clone(),
            reason,
        });
    }
    let recorded_ids = |kind: &str, id: &dyn Fn(&ResourceState) -> Option<String>| -> BTreeSet<String> {
        state
            .resources
            .values()
            .filter(|r| r.kind == kind)
            .filter_map(id)
            .collect()
    };
    let workflows = recorded_ids("workflow", &|r| Some(r.id.clone()));
    for w in &inventory.workflows {
        if !workflows.contains(&w.id) {
            report.unmanaged.push(Unmanaged {
                address: Address::Workflow(w.name.clone()),
                name: w.name.clone(),
                id: w.id.clone(),
                reason: if interrupted(crate::api::Operation::CreateWorkflow, "name", &w.name) {
                    INTERRUPTED.into()
                } else {
                    "not in this state".into()
                },
            });
        }
    }
    let packages = recorded_ids("dependency", &|r| {
        r.attributes.get("dep_id").and_then(|v| v.as_str().map(str::to_string))
    });
    for d in &inventory.dependencies {
        let package = if d.dep_id.is_empty() { &d.id } else { &d.dep_id };
        if !packages.contains(package) {
            report.unmanaged.push(Unmanaged {
                address: Address::Dependency(d.name.clone()),
                name: d.name.clone(),
                id: package.clone(),
                reason: if interrupted(crate::api::Operation::CreateDependencyVersion, "name", &d.name) {
                    INTERRUPTED.into()
                } else {
                    "not in this state".into()
                },
            });
        }
    }
    report.unmanaged.sort_by(|a, b| a.address.cmp(&b.address));
}

#[cfg(test)]
mod tests;
