//! The planner: desired state × state file × live snapshot → an ordered list of changes,
//! each with the narrowest API calls that make it. Pure: no I/O, no tokio.
//!
//! | file | concern |
//! |---|---|
//! | `call.rs` | [`Call`]: an operation and the typed request it sends |
//! | `live.rs` | [`Live`], the snapshot refresh builds |
//! | `diff.rs` | normalization (server defaults, empty values, JSON strings), secret HMACs |
//! | `resources/` | one diff per resource kind (`function.rs`, `trigger.rs`, …), the shared views and orphans |
//! | `order.rs` | the dependency graph the applier walks |
//! | `graph.rs` | `fgform graph`: the resources and the apply order's edges, as `dot` or Mermaid |
//! | `render.rs` | the human plan, the `--json` plan and the Markdown plan (with a Mermaid chart of each changed workflow, `render/mermaid.rs`) |
//! | `import.rs` | the state record `fgform import` writes: the live view in the diff's shape |

mod call;
pub mod diff;
pub mod graph;
pub mod import;
pub mod live;
pub mod order;
pub mod render;
pub(crate) mod resources;
pub mod rollout;
pub mod saved;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use call::{Call, Request};
pub use live::{Live, LiveFunction};
pub use resources::{depends_on, is_trigger, KNOWN_AFTER_APPLY, SENSITIVE};
pub use rollout::{Progress, Rollout};

use crate::api::types::CompactObject;
use crate::api::Operation;
use crate::model::{Address, Desired};
use crate::state::State;

/// Digests of one locally built artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digests {
    /// SHA-512 hex (a function's `digest`).
    pub sha512: String,
    /// MD5 hex (a dependency version's `etag`).
    pub md5: String,
    /// The content-addressed URL of the package in the code bucket, when it is too large
    /// for a base64 upload and is sent as `code_type: obs` / `depend_type: obs` instead.
    pub bucket_url: Option<String>,
}

/// Digests of every local artifact, by address (OBS sources have none).
#[derive(Debug, Clone, Default)]
pub struct Artifacts {
    pub digests: BTreeMap<Address, Digests>,
}

/// What happens to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Replace,
    Delete,
}

/// One attribute that differs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttrDiff {
    pub path: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub forces_replacement: bool,
    pub sensitive: bool,
}

/// One attribute whose live value differs from the one the state recorded at the last apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttrDrift {
    /// The attribute, dotted into objects (`memory_size`, `tags.team`, `event_data.schedule`).
    pub path: String,
    pub recorded: Option<Value>,
    pub live: Option<Value>,
}

/// A managed resource whose live attributes differ from what the state recorded at the last
/// apply: changed outside fgform (Terraform's `resource_drift`). `drift::resource_drift`
/// finds them, with the comparison `fgform drift` reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceDrift {
    pub address: Address,
    pub attributes: Vec<AttrDrift>,
}

/// A planned change to one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub address: Address,
    pub action: Action,
    /// The API calls, in order, each with its typed request (empty when a parent's call
    /// does the work, e.g. a trigger deleted with its function). Written as SDK names only.
    pub calls: Vec<Call>,
    /// The attributes an update or a replace changes. A create or delete lists none here:
    /// all of its attributes differ, and [`Change::attributes`] derives them from `after` or
    /// `before` (a copy of every value of a 10,000-function create was ~40 MB).
    #[serde(rename = "attributes", default)]
    pub changed: Vec<AttrDiff>,
    /// Managed attributes before (none for a create); secrets as `(sensitive)`. Kept as
    /// compact text ([`Change::before_view`] parses it): as parsed maps the views of a
    /// 10,000-function create held ~33 MB.
    pub before: Option<CompactObject>,
    /// Managed attributes after (none for a delete), as compact text
    /// ([`Change::after_view`]).
    pub after: Option<CompactObject>,
    /// An alias change that moves traffic to a new version step by step (boxed: one change
    /// in thousands has one, and its 256 bytes inline made every change 2.6 times larger).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<Box<Rollout>>,
}

impl Change {
    /// Whether it makes a call of `operation`.
    pub fn has(&self, operation: Operation) -> bool {
        self.calls.iter().any(|c| c.operation() == operation)
    }

    /// The attributes that differ: `changed` for an update or a replace; every attribute
    /// of `after` for a create and of `before` for a delete, but those left empty.
    pub fn attributes(&self) -> std::borrow::Cow<'_, [AttrDiff]> {
        match self.action {
            Action::Create => resources::all_attributes(&self.after_view(), false).into(),
            Action::Delete => resources::all_attributes(&self.before_view(), true).into(),
            Action::Update | Action::Replace => self.changed.as_slice().into(),
        }
    }

    /// `before`, parsed (`null` for a create).
    pub fn before_view(&self) -> Value {
        view(self.before.as_ref())
    }

    /// `after`, parsed (`null` for a delete).
    pub fn after_view(&self) -> Value {
        view(self.after.as_ref())
    }

    /// The request of its call of `operation`, if it makes one that sends a body.
    pub fn request(&self, operation: Operation) -> Option<&Request> {
        self.calls
            .iter()
            .find(|c| c.operation() == operation)
            .and_then(Call::request)
    }
}

fn view(object: Option<&CompactObject>) -> Value {
    object.map_or(Value::Null, |o| Value::Object(o.to_map()))
}

/// A state record written without any API call: the live resource already is what the
/// manifests ask for, but the state records it differently or not at all (a call that took
/// effect whose answer was lost: a code update, an async config put). Without it the plan
/// would show nothing while the state kept a stale record, which `drift` would report for
/// ever, or no record, so removing the resource from the manifests would plan nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rerecord {
    pub address: Address,
    /// The id of a new record (an existing record keeps its own).
    pub id: String,
    /// The attributes recorded: the planner's desired view, as an apply records it.
    pub attributes: Value,
}

/// A plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Sorted by address.
    pub changes: Vec<Change>,
    /// Live resources adopted into state because their ownership tag names this stack:
    /// `(address, id)`; recorded before any change runs.
    pub adopt: Vec<(Address, String)>,
    /// Records rewritten without an API call (see [`Rerecord`]); after the adoptions, before
    /// any change runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rerecord: Vec<Rerecord>,
    /// Warnings that change nothing about what the plan does.
    pub warnings: Vec<String>,
    /// Resources the manifests declare that exist live but belong to no part of this state
    /// (another state, another stack, or no owner): never adopted, changed or deleted. A
    /// plan with any is an error for `plan` and `apply` alike (exit 1), never "No changes".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blocked: Vec<Blocked>,
    /// Resources the plan cannot work out (an alias on `latest-published` of a function with
    /// no published version): an error for `plan` and `apply`, like `blocked`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unresolved: Vec<Unresolved>,
    /// What refresh found changed outside fgform since the last apply (see
    /// [`ResourceDrift`]): shown before the actions, which undo it. Informational: applying
    /// does nothing with it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_drift: Vec<ResourceDrift>,
}

/// A declared resource whose desired value the plan cannot work out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unresolved {
    pub address: Address,
    pub reason: String,
    pub hint: String,
}

/// A declared resource that exists live and is not this state's to manage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blocked {
    pub address: Address,
    /// The live id (function URN, workflow id).
    pub id: String,
    /// Who the live resource belongs to, as its ownership tag says (`None`: no tag, or a
    /// kind that carries none).
    pub owner: Option<String>,
    /// Why it is not ours, for messages ("tagged for another state of stack `shop`").
    pub reason: String,
    /// Whether this state records it (another state took it over since): the way out is
    /// then to forget it here.
    #[serde(default)]
    pub recorded: bool,
}

impl Blocked {
    /// The way out, as commands to run from where the user stands (`rerun`: the arguments
    /// that name the same stack, stage, state and target, e.g. ` examples/shop --stage prod`;
    /// `state_rerun`: the same for a command that only touches the state).
    pub fn hint(&self, rerun: &str, state_rerun: &str) -> String {
        let import = format!("fgform import {} {}{rerun}", self.address, self.id);
        if self.recorded {
            return format!(
                "if the other owner manages it now, forget it here (nothing changes live): `fgform state rm {}{state_rerun}`",
                self.address
            );
        }
        match &self.owner {
            Some(_) => format!(
                "if this state should manage it instead, first remove it from the state that does \
                 (`fgform state rm {}` against that state), then run `{import}`; otherwise rename it \
                 in the manifests",
                self.address
            ),
            None => format!("to manage it from this state, run `{import}`; otherwise rename it in the manifests"),
        }
    }
}

impl Plan {
    /// `(to add, to change, to destroy)`; a replace counts as one add and one destroy.
    pub fn counts(&self) -> (usize, usize, usize) {
        self.counts_of(|_| true)
    }

    /// [`Plan::counts`] of the changes `keep` keeps.
    pub fn counts_of(&self, keep: impl Fn(&Change) -> bool) -> (usize, usize, usize) {
        let mut counts = (0, 0, 0);
        for change in self.changes.iter().filter(|c| keep(c)) {
            match change.action {
                Action::Create => counts.0 += 1,
                Action::Update => counts.1 += 1,
                Action::Replace => {
                    counts.0 += 1;
                    counts.2 += 1;
                }
                Action::Delete => counts.2 += 1,
            }
        }
        counts
    }

    /// Whether applying would do anything.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.adopt.is_empty() && self.rerecord.is_empty()
    }

    /// The error a plan with blocked resources is, naming each with its owner and the way
    /// out (see [`Blocked::hint`]); `None` when nothing is blocked.
    pub fn blocked_error(&self, rerun: &str, state_rerun: &str) -> Option<String> {
        if self.blocked.is_empty() {
            return self.unresolved_error();
        }
        let mut out = format!(
            "{} resource(s) the manifests declare exist live but are not this state's to manage; \
             nothing was changed:",
            self.blocked.len()
        );
        for b in &self.blocked {
            out.push_str(&format!(
                "\n  - {} ({}): {}\n    hint: {}",
                b.address,
                b.id,
                b.reason,
                b.hint(rerun, state_rerun)
            ));
        }
        if let Some(more) = self.unresolved_error() {
            out.push('\n');
            out.push_str(&more);
        }
        Some(out)
    }

    fn unresolved_error(&self) -> Option<String> {
        if self.unresolved.is_empty() {
            return None;
        }
        let mut out = format!(
            "{} resource(s) cannot be planned; nothing was changed:",
            self.unresolved.len()
        );
        for u in &self.unresolved {
            out.push_str(&format!("\n  - {}: {}\n    hint: {}", u.address, u.reason, u.hint));
        }
        Some(out)
    }

    /// Keeps only changes `targets` select (an address selects itself and its children).
    pub fn retain_targets(&mut self, targets: &[Address]) {
        if targets.is_empty() {
            return;
        }
        let selected = |a: &Address| targets.iter().any(|t| t.contains(a));
        self.changes.retain(|c| selected(&c.address));
        self.adopt.retain(|(a, _)| selected(a));
        self.rerecord.retain(|r| selected(&r.address));
        self.blocked.retain(|b| selected(&b.address));
        self.unresolved.retain(|u| selected(&u.address));
        self.resource_drift.retain(|d| selected(&d.address));
    }

    /// The change of `address`, if any.
    pub fn change(&self, address: &Address) -> Option<&Change> {
        self.changes.iter().find(|c| &c.address == address)
    }
}

/// The key of the secret fingerprints older versions wrote (HMACs keyed by the state's
/// lineage, which is stored beside them): still compared, never written. New fingerprints
/// are salted Argon2id ([`diff::secret_fingerprint`]).
pub fn hmac_key(state: &State) -> &str {
    &state.lineage
}

/// Plans `desired` against `state` and `live`.
pub fn plan(desired: &Desired, artifacts: &Artifacts, state: &State, live: &Live) -> Plan {
    let mut ctx = resources::Ctx::new(desired, artifacts, state, live);
    ctx.plan_all();
    ctx.finish()
}

/// Plans the destruction of everything `state` records, except a function `live` shows is
/// now another's (and what is under it): that one is blocked, never deleted.
pub fn destroy(state: &State, live: &Live) -> Plan {
    let mut changes = Vec::new();
    let mut recorded: Vec<Address> = state.resources.keys().filter_map(|k| k.parse().ok()).collect();
    let (blocked, _) = resources::keep_foreign_functions(state, live, &mut recorded);
    let addresses: BTreeSet<Address> = recorded.into_iter().collect();
    for address in &addresses {
        let parent_goes = address.parent().is_some_and(|p| addresses.contains(&p));
        let calls = match (address, parent_goes) {
            (_, true) => vec![],
            (Address::Function(_), _) => vec![Call::bare(Operation::DeleteFunction)],
            (Address::Trigger { .. }, _) => vec![Call::bare(Operation::DeleteFunctionTrigger)],
            (Address::Async(_), _) => vec![Call::bare(Operation::DeleteFunctionAsyncInvokeConfig)],
            // Published versions are kept: only the record goes.
            (Address::Version(_), _) => vec![],
            (Address::Alias { .. }, _) => vec![Call::bare(Operation::DeleteVersionAlias)],
            (Address::Dependency(_), _) => vec![Call::bare(Operation::DeleteDependencyVersion)],
            (Address::Workflow(_), _) => vec![Call::bare(Operation::BatchDeleteWorkflows)],
        };
        let before = resources::state_view(state, address);
        changes.push(Change {
            address: address.clone(),
            action: Action::Delete,
            calls,
            changed: vec![],
            before: CompactObject::from_value(&before),
            after: None,
            rollout: None,
        });
    }
    Plan {
        changes,
        blocked,
        ..Plan::default()
    }
}
