//! Saved plans (`plan -out FILE`, `apply FILE`): the plan plus everything `apply` needs to
//! prove it still describes the world: a hash of the manifests' resolved content and of the
//! packages, the state's lineage and serial, and a live fingerprint of every resource the
//! plan touches. Pure: the commands read and write the file.
//!
//! A plan file never holds a plaintext secret: plan values show `(sensitive)`, secrets
//! enter the inputs hash as Argon2id digests salted by a random salt of the file (as slow
//! to guess as the state's fingerprints; a plan file made with other KDF parameters is
//! refused as stale, never misread), and a `--var` whose value appears in a secret is
//! withheld (apply asks for it again).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::diff::secret_digest;
use super::{Action, Artifacts, Call, Plan};
use crate::api::Operation;
use crate::model::{Address, Desired};
use crate::state::State;

/// `format` of a plan file.
pub const FORMAT: &str = "fgform-plan";
/// `format_version` this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// How the plan was made: what `apply FILE` re-reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inputs {
    /// The stack directory, as given.
    pub dir: String,
    pub stage: Option<String>,
    pub var_files: Vec<String>,
    /// `--var` values that are safe to keep.
    pub vars: BTreeMap<String, String>,
    /// `--var` names whose values appear in a secret: not kept, apply needs them again.
    pub withheld_vars: Vec<String>,
    /// `--endpoint`, if given.
    pub endpoint: Option<String>,
    /// The state file.
    pub state: String,
    /// `--target` addresses.
    pub targets: Vec<String>,
    /// A destroy plan.
    pub destroy: bool,
}

/// The state the plan was made against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriorState {
    /// `None`: there was no state file yet.
    pub lineage: Option<String>,
    pub serial: u64,
}

/// What a touched resource looked like live when planned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// The planned action (a different one at apply means the world moved).
    pub action: Action,
    pub calls: Vec<Operation>,
    /// A function's code digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// A function's `last_modified`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// SHA-256 of the planned `before` (the normalized live view the diff was made from).
    pub before_sha256: String,
}

/// A plan file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedPlan {
    pub format: String,
    pub format_version: u32,
    pub fgform_version: String,
    /// RFC 3339.
    pub created: String,
    pub stack: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    pub inputs: Inputs,
    /// Random, per file: the salt of the secret digests in `inputs_sha256`.
    pub salt: String,
    /// SHA-256 over the request bodies the manifests resolve to (secrets as HMACs) and the
    /// packages' SHA-512 digests.
    pub inputs_sha256: String,
    pub prior_state: PriorState,
    /// The lineage the plan was made with: the state's, or, when there was no state yet, the
    /// new one its ownership tags name, which `apply FILE` then gives the state it creates.
    #[serde(default)]
    pub lineage: String,
    /// By address.
    pub live: BTreeMap<String, Fingerprint>,
    pub plan: Plan,
}

/// SHA-256 over everything `desired` would send (secrets as Argon2id digests salted with
/// `salt`, [`secret_digest`]) and the
/// artifacts' digests: equal hashes mean apply would send exactly what the plan showed.
pub fn inputs_hash(desired: &Desired, artifacts: &Artifacts, salt: &str) -> String {
    let mut doc = BTreeMap::<String, Value>::new();
    doc.insert(
        "stack".into(),
        json!([desired.stack, desired.stage, desired.region(), desired.project_id()]),
    );
    for (name, d) in &desired.dependencies {
        doc.insert(format!("dependency.{name}"), d.create_body(desired.region()));
    }
    for (name, f) in &desired.functions {
        let mut config = f.config_body();
        if let Some(secret) = f.encrypted_user_data() {
            config["encrypted_user_data"] = secret_digest(salt, secret.expose()).into();
        }
        let triggers: BTreeMap<&String, Value> = f.triggers.iter().map(|(k, t)| (k, t.create_body())).collect();
        doc.insert(
            format!("function.{name}"),
            json!({
                "config": config,
                "code": f.code_body(desired.region(), None, &f.dependencies),
                "tags": f.tags,
                "triggers": triggers,
                "async": f.async_config.as_ref().map(|a| a.body(desired)),
            }),
        );
    }
    for (name, w) in &desired.workflows {
        doc.insert(format!("workflow.{name}"), w.definition(desired));
    }
    let edges: Vec<String> = desired.edges.iter().map(|(a, b)| format!("{a}>{b}")).collect();
    doc.insert("edges".into(), json!(edges));
    let digests: BTreeMap<String, &str> = artifacts
        .digests
        .iter()
        .map(|(a, d)| (a.to_string(), d.sha512.as_str()))
        .collect();
    doc.insert("artifacts".into(), json!(digests));
    hex::encode(Sha256::digest(serde_json::to_vec(&doc).expect("values serialize")))
}

/// The fingerprint of every resource `plan` touches, from the plan's own `before` views.
pub fn fingerprints(plan: &Plan) -> BTreeMap<String, Fingerprint> {
    plan.changes
        .iter()
        .map(|c| {
            let before = c.before_view();
            let text = |key: &str| before.get(key).and_then(Value::as_str).map(str::to_string);
            let function = matches!(c.address, Address::Function(_));
            let fingerprint = Fingerprint {
                action: c.action,
                calls: c.calls.iter().map(Call::operation).collect(),
                digest: function.then(|| text("digest")).flatten(),
                last_modified: function.then(|| text("last_modified")).flatten(),
                before_sha256: hex::encode(Sha256::digest(serde_json::to_vec(&before).expect("values serialize"))),
            };
            (c.address.to_string(), fingerprint)
        })
        .collect()
}

/// Why a saved plan cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Stale {
    #[error("the plan was made against a different state (lineage {planned}, this state has {found})")]
    Lineage { planned: String, found: String },
    #[error("the state was changed by another operation after the plan was made (serial {planned} then, {found} now)")]
    StateMoved { planned: u64, found: u64 },
    #[error("the state file was created after the plan was made (the plan expected none)")]
    StateCreated,
    #[error("the manifests, their variables or the packages changed after the plan was made")]
    Inputs,
    #[error("{address} changed live after the plan was made: {what}")]
    Live { address: String, what: String },
}

fn short(s: &str) -> String {
    s.chars().take(12).collect()
}

impl SavedPlan {
    /// Checks the state the plan is applied to.
    pub fn check_state(&self, state: Option<&State>) -> Result<(), Stale> {
        match (&self.prior_state.lineage, state) {
            (None, None) => Ok(()),
            (None, Some(_)) => Err(Stale::StateCreated),
            (Some(planned), None) => Err(Stale::Lineage {
                planned: planned.clone(),
                found: "no state file".into(),
            }),
            (Some(planned), Some(s)) if *planned != s.lineage => Err(Stale::Lineage {
                planned: planned.clone(),
                found: s.lineage.clone(),
            }),
            (Some(_), Some(s)) if s.serial != self.prior_state.serial => Err(Stale::StateMoved {
                planned: self.prior_state.serial,
                found: s.serial,
            }),
            _ => Ok(()),
        }
    }

    /// The saved plan with the requests of its calls, which a plan file never holds (they
    /// carry secrets and code), taken from `fresh`: a plan made now from the same inputs
    /// (`inputs_sha256` proved them unchanged) and state, whose calls [`SavedPlan::check_live`]
    /// found to be the same. A call `fresh` does not make keeps no request, and the apply
    /// refuses to send it.
    pub fn with_requests(&self, fresh: &Plan) -> Plan {
        let mut plan = self.plan.clone();
        for change in &mut plan.changes {
            let Some(now) = fresh.change(&change.address) else {
                continue;
            };
            for call in &mut change.calls {
                if let Some(same) = now.calls.iter().find(|c| c.operation() == call.operation()) {
                    *call = same.clone();
                }
            }
        }
        plan
    }

    /// Compares the live fingerprints with those of `fresh`, a plan made now from the same
    /// inputs and state: every resource the saved plan touches must look as it did.
    pub fn check_live(&self, fresh: &Plan) -> Vec<Stale> {
        let now = fingerprints(fresh);
        let mut out = Vec::new();
        for (address, then) in &self.live {
            let what = match now.get(address) {
                None => "it no longer needs the planned change".to_string(),
                Some(now) if now.digest != then.digest => format!(
                    "code digest {} -> {}",
                    short(then.digest.as_deref().unwrap_or("none")),
                    short(now.digest.as_deref().unwrap_or("none"))
                ),
                // What changed is more use than when: the attributes first, then the time.
                Some(now) if now.before_sha256 != then.before_sha256 => {
                    let keys = changed_keys(
                        self.plan.changes.iter().find(|c| c.address.to_string() == *address),
                        fresh.changes.iter().find(|c| c.address.to_string() == *address),
                    );
                    format!("live attributes changed: {}", keys.join(", "))
                }
                Some(now) if now.last_modified != then.last_modified => format!(
                    "last_modified {} -> {}",
                    then.last_modified.as_deref().unwrap_or("none"),
                    now.last_modified.as_deref().unwrap_or("none")
                ),
                Some(now) if now.action != then.action || now.calls != then.calls => format!(
                    "the plan would now {:?} it with {:?} instead of {:?} with {:?}",
                    now.action, now.calls, then.action, then.calls
                ),
                Some(_) => continue,
            };
            out.push(Stale::Live {
                address: address.clone(),
                what,
            });
        }
        out
    }
}

/// The top-level keys whose `before` values differ between two changes of one address.
fn changed_keys(then: Option<&super::Change>, now: Option<&super::Change>) -> Vec<String> {
    let object = |c: Option<&super::Change>| {
        c.and_then(|c| c.before.as_ref())
            .map(|b| b.to_map())
            .unwrap_or_default()
    };
    let (a, b) = (object(then), object(now));
    let mut keys: Vec<String> = a
        .keys()
        .chain(b.keys())
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    // Any write moves `last_modified` too: name it only when nothing else changed.
    if keys.len() > 1 {
        keys.retain(|k| k != "last_modified");
    }
    if keys.is_empty() {
        keys.push("(existence)".into());
    }
    keys
}

/// The `--var`s safe to keep in a plan file: those whose value appears in no secret.
pub fn split_vars(desired: &Desired, vars: &[(String, String)]) -> (BTreeMap<String, String>, Vec<String>) {
    let secrets: Vec<String> = desired
        .functions
        .values()
        .flat_map(|f| f.secrets.values().map(|s| s.expose().to_string()))
        .collect();
    let mut kept = BTreeMap::new();
    let mut withheld = Vec::new();
    for (name, value) in vars {
        if !value.is_empty() && secrets.iter().any(|s| s.contains(value.as_str())) {
            withheld.push(name.clone());
        } else {
            kept.insert(name.clone(), value.clone());
        }
    }
    withheld.sort();
    withheld.dedup();
    kept.retain(|k, _| !withheld.contains(k));
    (kept, withheld)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{AttrDiff, Change};

    fn change(address: &str, before: Value) -> Change {
        Change {
            address: address.parse().unwrap(),
            action: Action::Update,
            calls: vec![Call::bare(Operation::UpdateFunctionConfig)],
            changed: vec![AttrDiff {
                path: "memory_size".into(),
                before: Some(json!(128)),
                after: Some(json!(256)),
                forces_replacement: false,
                sensitive: false,
            }],
            rollout: None,
            before: crate::api::types::CompactObject::from_value(&before),
            after: crate::api::types::CompactObject::from_value(&json!({"memory_size": 256})),
        }
    }

    fn saved(plan: Plan, lineage: Option<&str>, serial: u64) -> SavedPlan {
        SavedPlan {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            fgform_version: "test".into(),
            created: "now".into(),
            stack: "s".into(),
            stage: None,
            inputs: Inputs {
                dir: ".".into(),
                stage: None,
                var_files: vec![],
                vars: BTreeMap::new(),
                withheld_vars: vec![],
                endpoint: None,
                state: "state/s.json".into(),
                targets: vec![],
                destroy: false,
            },
            salt: "salt".into(),
            inputs_sha256: String::new(),
            lineage: lineage.unwrap_or("new").to_string(),
            prior_state: PriorState {
                lineage: lineage.map(str::to_string),
                serial,
            },
            live: fingerprints(&plan),
            plan,
        }
    }

    #[test]
    fn state_checks_follow_terraform_lineage_then_serial() {
        let mut state = State::new("s", None);
        state.serial = 3;
        let plan = saved(Plan::default(), Some(&state.lineage.clone()), 3);
        assert_eq!(plan.check_state(Some(&state)), Ok(()));
        state.serial = 4;
        assert_eq!(
            plan.check_state(Some(&state)),
            Err(Stale::StateMoved { planned: 3, found: 4 })
        );
        let other = State::new("s", None);
        assert!(matches!(plan.check_state(Some(&other)), Err(Stale::Lineage { .. })));
        // A plan made before any state existed: applying it twice must not be possible.
        let first = saved(Plan::default(), None, 0);
        assert_eq!(first.check_state(None), Ok(()));
        assert_eq!(first.check_state(Some(&state)), Err(Stale::StateCreated));
    }

    #[test]
    fn live_checks_name_what_moved() {
        let before = json!({"memory_size": 128, "digest": "aaaa", "last_modified": "t1", "timeout": 3});
        let plan = Plan {
            changes: vec![change("function.api", before.clone())],
            ..Plan::default()
        };
        let s = saved(plan.clone(), Some("l"), 1);
        assert!(s.check_live(&plan).is_empty());

        let mut moved = before.clone();
        moved["digest"] = "bbbb".into();
        let fresh = Plan {
            changes: vec![change("function.api", moved)],
            ..Plan::default()
        };
        let stale = s.check_live(&fresh);
        assert_eq!(stale.len(), 1);
        assert!(
            stale[0].to_string().contains("code digest aaaa -> bbbb"),
            "{}",
            stale[0]
        );

        let mut edited = before.clone();
        edited["timeout"] = 30.into();
        let fresh = Plan {
            changes: vec![change("function.api", edited)],
            ..Plan::default()
        };
        assert!(s.check_live(&fresh)[0]
            .to_string()
            .contains("live attributes changed: timeout"));

        let stale = s.check_live(&Plan::default());
        assert!(stale[0].to_string().contains("no longer needs the planned change"));
    }

    #[test]
    fn last_modified_is_named_only_when_nothing_else_changed() {
        let then = change(
            "function.f",
            json!({"timeout": 3, "last_modified": "2026-12-01T10:00:00Z"}),
        );
        let both = change(
            "function.f",
            json!({"timeout": 99, "last_modified": "2026-12-01T10:00:01Z"}),
        );
        let time = change(
            "function.f",
            json!({"timeout": 3, "last_modified": "2026-12-01T10:00:01Z"}),
        );
        assert_eq!(changed_keys(Some(&then), Some(&both)), ["timeout"]);
        assert_eq!(changed_keys(Some(&then), Some(&time)), ["last_modified"]);
    }

    #[test]
    fn vars_that_feed_secrets_are_withheld() {
        let mut desired = Desired {
            stack: "s".into(),
            stage: None,
            provider: None,
            state: Default::default(),
            dependencies: Default::default(),
            functions: Default::default(),
            workflows: Default::default(),
            edges: Default::default(),
            code_bucket: None,
            outputs: Default::default(),
        };
        let f = crate::model::FunctionSpec {
            func_name: "api".into(),
            package: "default".into(),
            runtime: "Python3.9".into(),
            handler: "index.handler".into(),
            memory_size: 128,
            timeout: 3,
            code: crate::model::CodeSource::Obs {
                bucket: "b".into(),
                key: "k.zip".into(),
            },
            description: None,
            environment: Default::default(),
            secrets: [("DB_PASSWORD".to_string(), crate::model::Secret::new("hunter2-prod"))].into(),
            dependencies: vec![],
            xrole: None,
            app_xrole: None,
            strategy_config: None,
            func_vpc: None,
            mount_config: None,
            initializer: None,
            pre_stop: None,
            log_config: None,
            tags: Default::default(),
            async_config: None,
            triggers: Default::default(),
            versions: None,
            aliases: Default::default(),
            rollout: None,
        };
        desired.functions.insert("api".into(), Box::new(f));
        let (kept, withheld) = split_vars(
            &desired,
            &[("stage".into(), "dev".into()), ("db".into(), "hunter2-prod".into())],
        );
        assert_eq!(withheld, ["db"]);
        assert_eq!(kept.get("stage").map(String::as_str), Some("dev"));
    }

    #[test]
    fn a_plan_file_holds_no_request_and_apply_takes_them_from_the_fresh_plan() {
        use crate::api::types::UpdateFunctionConfigRequest;
        use crate::plan::Request;
        let secret = "not-in-the-file";
        let config = Call::send(Request::UpdateFunctionConfig(Box::new(UpdateFunctionConfigRequest {
            encrypted_user_data: Some(secret.into()),
            ..Default::default()
        })));
        let mut with_body = change("function.f", json!({"memory_size": 128}));
        with_body.calls = vec![config.clone()];
        let fresh = Plan {
            changes: vec![with_body.clone()],
            ..Plan::default()
        };
        let mut gone = change("function.g", json!({}));
        gone.calls = vec![Call::bare(Operation::UpdateFunctionConfig)];
        let planned = Plan {
            changes: vec![with_body, gone],
            ..Plan::default()
        };
        let text = serde_json::to_string(&saved(planned, None, 0)).unwrap();
        assert!(!text.contains(secret), "{text}");
        let read: SavedPlan = serde_json::from_str(&text).unwrap();
        assert!(read
            .plan
            .changes
            .iter()
            .all(|c| c.calls.iter().all(|c| c.request().is_none())));
        let attached = read.with_requests(&fresh);
        assert_eq!(attached.changes[0].calls, [config]);
        // A change the fresh plan does not make keeps no request: the apply refuses it.
        assert!(attached.changes[1].request(Operation::UpdateFunctionConfig).is_none());
    }
}
