//! The human plan (Terraform's conventions), the machine one (`--json`, documented in
//! `docs/plan-json.md`) and the Markdown one for merge-request comments (`markdown.rs`).

mod markdown;
pub mod mermaid;

pub use markdown::{markdown, MARKER_PREFIX};

use std::fmt::Write as _;

use serde_json::{json, Value};

use super::{Action, AttrDiff, Change, Plan, ResourceDrift, SENSITIVE};
use crate::manifest::schema::{plan_naming, Naming};
use crate::model::Address;

/// `format_version` of the `--json` plan.
pub const JSON_FORMAT_VERSION: &str = "1.0";

fn header(change: &Change) -> (&'static str, &'static str) {
    match change.action {
        Action::Create => ("  +", "will be created"),
        Action::Update => ("  ~", "will be updated in-place"),
        Action::Replace => ("-/+", "must be replaced"),
        Action::Delete => ("  -", "will be destroyed"),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Object(_) | Value::Array(_) => serde_json::to_string_pretty(v).unwrap_or_default(),
        other => other.to_string(),
    }
}

/// `before` with every object's keys in the order `after` has them (keys `after` lacks
/// follow, in their own order); arrays are aligned element by element.
fn aligned(before: &Value, after: &Value) -> Value {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            let mut out = serde_json::Map::new();
            for (k, av) in a {
                if let Some(bv) = b.get(k) {
                    out.insert(k.clone(), aligned(bv, av));
                }
            }
            for (k, bv) in b {
                if !a.contains_key(k) {
                    out.insert(k.clone(), bv.clone());
                }
            }
            Value::Object(out)
        }
        (Value::Array(b), Value::Array(a)) => Value::Array(
            b.iter()
                .enumerate()
                .map(|(i, bv)| a.get(i).map_or_else(|| bv.clone(), |av| aligned(bv, av)))
                .collect(),
        ),
        _ => before.clone(),
    }
}

fn show(v: Option<&Value>, sensitive: bool) -> String {
    match v {
        None => "null".into(),
        Some(_) if sensitive => "(sensitive)".into(),
        Some(v) => scalar(v),
    }
}

fn indent(text: &str, pad: &str) -> String {
    let mut lines = text.lines();
    let mut out = lines.next().unwrap_or_default().to_string();
    for line in lines {
        out.push('\n');
        out.push_str(pad);
        out.push_str(line);
    }
    out
}

fn attribute(out: &mut String, action: Action, a: &AttrDiff, width: usize) {
    let forces = if a.forces_replacement {
        " # forces replacement"
    } else {
        ""
    };
    let pad = " ".repeat(8);
    let (sym, body) = match (action, &a.before, &a.after) {
        (Action::Create, _, _) | (_, None, Some(_)) => ("+", show(a.after.as_ref(), a.sensitive)),
        (Action::Delete, _, _) | (_, Some(_), None) => ("-", show(a.before.as_ref(), a.sensitive)),
        (_, Some(b), Some(n)) if !a.sensitive && (b.is_object() || b.is_array() || n.is_object() || n.is_array()) => {
            // Lay the old value out in the new one's key order, so the diff shows changed
            // values, not keys that the service or the state stored in another order.
            let (old, new) = (scalar(&aligned(b, n)), scalar(n));
            let diff = similar::TextDiff::from_lines(&old, &new);
            // Changed lines with three lines of context; long unchanged runs fold to `...`.
            let mut text = String::new();
            let groups = diff.grouped_ops(3);
            let line_count = new.lines().count().max(old.lines().count());
            for (i, group) in groups.iter().enumerate() {
                let first_old = group.first().map_or(0, |op| op.old_range().start);
                if i > 0 || first_old > 0 {
                    let _ = write!(text, "\n{pad}    ...");
                }
                for op in group {
                    for change in diff.iter_changes(op) {
                        let mark = match change.tag() {
                            similar::ChangeTag::Delete => "- ",
                            similar::ChangeTag::Insert => "+ ",
                            similar::ChangeTag::Equal => "  ",
                        };
                        let _ = write!(text, "\n{pad}  {mark}{}", change.value().trim_end_matches('\n'));
                    }
                }
                let last_old = group.last().map_or(0, |op| op.old_range().end);
                if i + 1 == groups.len() && last_old < line_count.min(old.lines().count()) {
                    let _ = write!(text, "\n{pad}    ...");
                }
            }
            let _ = writeln!(out, "      ~ {:width$} ={forces}{text}", a.path);
            return;
        }
        _ => (
            "~",
            format!(
                "{} -> {}",
                show(a.before.as_ref(), a.sensitive),
                show(a.after.as_ref(), a.sensitive)
            ),
        ),
    };
    let _ = writeln!(out, "      {sym} {:width$} = {}{forces}", a.path, indent(&body, &pad));
}

/// The attributes of a change to `address` as the human plans (text, Markdown) show them:
/// under the manifest's key names ([`plan_naming`]), an attribute several keys set shown key
/// by key (`strategy_config` as `max_instances` and `concurrency_per_instance`). The JSON
/// plan keeps the API names.
pub(crate) fn shown_attributes(address: &Address, attributes: &[AttrDiff]) -> Vec<AttrDiff> {
    let mut out = Vec::new();
    for a in attributes {
        match plan_naming(address.kind(), &a.path) {
            Naming::Key(path) => out.push(AttrDiff { path, ..a.clone() }),
            Naming::Split(parts) => split(a, &parts, &mut out),
        }
    }
    out
}

/// `a`'s object value key by key: each of `parts` (API key, manifest key) that differs, then
/// any other key that differs under `attribute.key`; `a` whole when it is no object.
fn split(a: &AttrDiff, parts: &[(&str, &str)], out: &mut Vec<AttrDiff>) {
    let object = |v: &Option<Value>| v.as_ref().map(|v| v.as_object().cloned());
    let (before, after) = match (object(&a.before), object(&a.after)) {
        (Some(None), _) | (_, Some(None)) => return out.push(a.clone()),
        (b, n) => (b.flatten().unwrap_or_default(), n.flatten().unwrap_or_default()),
    };
    let start = out.len();
    let known = parts.iter().map(|(api, _)| *api);
    let others = before.keys().chain(after.keys()).map(String::as_str);
    let mut seen = Vec::new();
    for key in known.chain(others) {
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        let (b, n) = (
            before.get(key).filter(|v| !v.is_null()),
            after.get(key).filter(|v| !v.is_null()),
        );
        if b == n {
            continue;
        }
        let path = parts
            .iter()
            .find(|(api, _)| *api == key)
            .map_or_else(|| format!("{}.{key}", a.path), |(_, name)| name.to_string());
        out.push(AttrDiff {
            path,
            before: b.cloned(),
            after: n.cloned(),
            ..a.clone()
        });
    }
    if out.len() == start {
        out.push(a.clone());
    }
}

/// A drifted attribute's dotted path (`strategy_config.concurrency`, `user_data.STAGE`)
/// under the manifest's key names (`max_instances`, `environment.STAGE`).
pub(crate) fn shown_path(address: &Address, path: &str) -> String {
    let (head, rest) = path.split_once('.').map_or((path, None), |(h, r)| (h, Some(r)));
    match (plan_naming(address.kind(), head), rest) {
        (Naming::Key(name), None) => name,
        (Naming::Key(name), Some(rest)) => format!("{name}.{rest}"),
        (Naming::Split(parts), Some(rest)) => {
            let (sub, tail) = rest.split_once('.').map_or((rest, None), |(s, t)| (s, Some(t)));
            match (parts.iter().find(|(api, _)| *api == sub), tail) {
                (Some((_, name)), None) => name.to_string(),
                (Some((_, name)), Some(tail)) => format!("{name}.{tail}"),
                (None, _) => path.to_string(),
            }
        }
        (Naming::Split(_), None) => path.to_string(),
    }
}

/// Terraform's "Objects have changed outside of Terraform": each resource refresh found
/// changed since the last apply, its attributes as recorded -> as live.
fn changed_outside(out: &mut String, drift: &[ResourceDrift]) {
    if drift.is_empty() {
        return;
    }
    out.push_str("Objects have changed outside fgform:\n");
    for d in drift {
        let _ = writeln!(out, "\n  # {} has changed", d.address);
        let _ = writeln!(out, "  ~ {} {{", d.address);
        let attributes: Vec<AttrDiff> = d
            .attributes
            .iter()
            .map(|a| AttrDiff {
                path: shown_path(&d.address, &a.path),
                sensitive: [&a.recorded, &a.live]
                    .iter()
                    .any(|v| v.as_ref().and_then(Value::as_str) == Some(SENSITIVE)),
                before: a.recorded.clone(),
                after: a.live.clone(),
                forces_replacement: false,
            })
            .collect();
        let width = attributes.iter().map(|a| a.path.len()).max().unwrap_or(0);
        for a in &attributes {
            attribute(out, Action::Update, a, width);
        }
        out.push_str("    }\n");
    }
    out.push_str("\nUnless the manifests now say the same, the plan below undoes or responds to these changes.\n\n");
}

/// The human-readable plan.
pub fn text(plan: &Plan) -> String {
    let mut out = String::new();
    for warning in &plan.warnings {
        let _ = writeln!(out, "warning: {warning}");
    }
    for b in &plan.blocked {
        let _ = writeln!(
            out,
            "error: {} ({}) exists and is not this state's to manage: {}",
            b.address, b.id, b.reason
        );
    }
    for u in &plan.unresolved {
        let _ = writeln!(out, "error: {} cannot be planned: {}", u.address, u.reason);
    }
    for (address, id) in &plan.adopt {
        let why = match address {
            Address::Function(_) => "carries this state's ownership tag",
            _ => "exists under a function this state manages",
        };
        let _ = writeln!(out, "note: {address} ({id}) {why}: adopting it into state");
    }
    for r in &plan.rerecord {
        let _ = writeln!(
            out,
            "note: {} is already live as the manifests ask, but the state records it otherwise or not at all: \
             recording it (no API call)",
            r.address
        );
    }
    changed_outside(&mut out, &plan.resource_drift);
    if plan.changes.is_empty() {
        if !plan.blocked.is_empty() {
            let _ = writeln!(
                out,
                "No changes planned, but {} declared resource(s) cannot be managed (see the errors above).",
                plan.blocked.len()
            );
        } else if !plan.adopt.is_empty() || !plan.rerecord.is_empty() {
            let _ = writeln!(
                out,
                "No changes to live resources. {} resource(s) to record in state.",
                plan.adopt.len() + plan.rerecord.len()
            );
        } else {
            out.push_str("No changes. The live resources match the manifests.\n");
        }
        return out;
    }
    out.push_str("fgform will perform the following actions:\n");
    for change in &plan.changes {
        let (sym, what) = header(change);
        let _ = writeln!(out, "\n  # {} {what}", change.address);
        if change.action == Action::Delete {
            let _ = writeln!(out, "{sym} {}", change.address);
            continue;
        }
        let _ = writeln!(out, "{sym} {} {{", change.address);
        let attributes = shown_attributes(&change.address, &change.attributes());
        let width = attributes.iter().map(|a| a.path.len()).max().unwrap_or(0);
        for a in &attributes {
            attribute(&mut out, change.action, a, width);
        }
        if let Some(rollout) = &change.rollout {
            let _ = writeln!(out, "      # {}", rollout.describe());
        }
        out.push_str("    }\n");
    }
    let (add, change, destroy) = plan.counts();
    let _ = writeln!(out, "\nPlan: {add} to add, {change} to change, {destroy} to destroy.");
    out
}

fn kind_and_name(address: &Address) -> (&'static str, String) {
    let name = match address {
        Address::Trigger { function, trigger } => format!("{function}.{trigger}"),
        Address::Alias { function, alias } => format!("{function}.{alias}"),
        Address::Function(n)
        | Address::Async(n)
        | Address::Version(n)
        | Address::Dependency(n)
        | Address::Workflow(n) => n.clone(),
    };
    (address.kind(), name)
}

/// The `--json` plan (see `docs/plan-json.md`).
pub fn json(plan: &Plan, stack: &str) -> Value {
    let changes: Vec<Value> = plan
        .changes
        .iter()
        .map(|c| {
            let (kind, name) = kind_and_name(&c.address);
            let actions: &[&str] = match c.action {
                Action::Create => &["create"],
                Action::Update => &["update"],
                Action::Replace => &["delete", "create"],
                Action::Delete => &["delete"],
            };
            let attributes = c.attributes();
            let mut change = json!({
                "address": c.address.to_string(),
                "type": kind,
                "name": name,
                "change": {
                    "actions": actions,
                    "before": c.before,
                    "after": c.after,
                    "changed_attributes": attributes.iter().map(|a| a.path.clone()).collect::<Vec<_>>(),
                    "replace_paths": attributes.iter().filter(|a| a.forces_replacement).map(|a| vec![a.path.clone()]).collect::<Vec<_>>(),
                    "calls": c.calls,
                },
            });
            if let Some(rollout) = &c.rollout {
                change["rollout"] = json!(rollout);
            }
            change
        })
        .collect();
    let (add, change, destroy) = plan.counts();
    let mut out = json!({
        "format_version": JSON_FORMAT_VERSION,
        "stack": stack,
        "resource_changes": changes,
        "adopted": plan.adopt.iter().map(|(a, id)| json!({"address": a.to_string(), "id": id})).collect::<Vec<_>>(),
        "rerecorded": plan.rerecord.iter().map(|r| r.address.to_string()).collect::<Vec<_>>(),
        "warnings": plan.warnings,
        "blocked": plan.blocked.iter().map(|b| json!({
            "address": b.address.to_string(),
            "id": b.id,
            "owner": b.owner,
            "reason": b.reason,
        })).collect::<Vec<_>>(),
        "unresolved": plan.unresolved.iter().map(|u| json!({
            "address": u.address.to_string(),
            "reason": u.reason,
            "hint": u.hint,
        })).collect::<Vec<_>>(),
        "summary": {"add": add, "change": change, "destroy": destroy, "adopt": plan.adopt.len(), "blocked": plan.blocked.len()},
    });
    // As Terraform's: present only when refresh found something.
    if !plan.resource_drift.is_empty() {
        out["resource_drift"] = plan
            .resource_drift
            .iter()
            .map(|d| {
                let (kind, name) = kind_and_name(&d.address);
                json!({"address": d.address.to_string(), "type": kind, "name": name, "attributes": d.attributes})
            })
            .collect();
    }
    out
}

#[cfg(test)]
mod align_tests {
    use super::aligned;
    use serde_json::json;

    #[test]
    fn old_values_follow_the_new_key_order() {
        let before = json!({"mode": "NORMAL", "name": "x", "extra": 1, "states": [{"b": 1, "a": 2}]});
        let after = json!({"name": "x", "mode": "NORMAL", "states": [{"a": 3, "b": 1}]});
        let out = aligned(&before, &after);
        assert_eq!(
            serde_json::to_string(&out).unwrap(),
            r#"{"name":"x","mode":"NORMAL","states":[{"a":2,"b":1}],"extra":1}"#
        );
    }
}

#[cfg(test)]
mod drift_tests {
    use serde_json::json;

    use super::*;
    use crate::plan::AttrDrift;

    #[test]
    fn drifted_paths_take_the_manifests_names() {
        let f = Address::Function("f".into());
        assert_eq!(shown_path(&f, "memory_size"), "memory");
        assert_eq!(shown_path(&f, "user_data.STAGE"), "environment.STAGE");
        assert_eq!(shown_path(&f, "strategy_config.concurrency"), "max_instances");
        assert_eq!(shown_path(&f, "mount_config.func_mounts"), "mounts");
        assert_eq!(shown_path(&f, "initializer_handler"), "initializer.handler");
        assert_eq!(shown_path(&f, "tags.team"), "tags.team");
        assert_eq!(shown_path(&f, "strategy_config.new_key"), "strategy_config.new_key");
    }

    #[test]
    fn changed_outside_comes_before_the_actions_and_hides_secrets() {
        let address = Address::Function("f".into());
        let plan = Plan {
            resource_drift: vec![ResourceDrift {
                address: address.clone(),
                attributes: vec![
                    AttrDrift {
                        path: "timeout".into(),
                        recorded: Some(json!(3)),
                        live: Some(json!(30)),
                    },
                    AttrDrift {
                        path: "encrypted_user_data".into(),
                        recorded: Some(json!(SENSITIVE)),
                        live: Some(json!(SENSITIVE)),
                    },
                ],
            }],
            ..Plan::default()
        };
        let text = text(&plan);
        assert_eq!(
            text,
            "Objects have changed outside fgform:\n\n  # function.f has changed\n  ~ function.f {\n      \
             ~ timeout = 3 -> 30\n      ~ secrets = (sensitive) -> (sensitive)\n    }\n\n\
             Unless the manifests now say the same, the plan below undoes or responds to these changes.\n\n\
             No changes. The live resources match the manifests.\n"
        );
        assert_eq!(
            json(&plan, "s")["resource_drift"][0]["attributes"][0]["path"],
            "timeout"
        );
        assert!(json(&Plan::default(), "s").get("resource_drift").is_none());
    }
}
