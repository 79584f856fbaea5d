//! A workflow definition (§8) as the API checks it: name, mode, constants, functions (full
//! URNs in the caller's project), retries, triggers, then the graph: state ids, the start
//! state, transitions, function and retry references.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::{description, violation, workflow_mode, workflow_name, Violation, INVALID_PARAMETER};
use crate::api::limits::{WORKFLOW_MAX_FUNCTIONS, WORKFLOW_MAX_STATES};

type Checked<T> = Result<T, Violation>;

/// Workflow errors all answer `FSS.0400`; `field` names what is wrong.
fn bad(field: &str, message: impl Into<String>) -> Violation {
    violation(field, INVALID_PARAMETER, message)
}

fn array<'v>(def: &'v Map<String, Value>, key: &str, max: usize, required: bool) -> Checked<&'v [Value]> {
    match def.get(key) {
        None | Some(Value::Null) if !required => Ok(&[]),
        None | Some(Value::Null) => Err(bad(key, format!("{key} is required"))),
        Some(Value::Array(a)) if a.len() <= max => Ok(a),
        Some(Value::Array(a)) => Err(bad(
            key,
            format!("{key} has {} items; at most {max} are allowed", a.len()),
        )),
        Some(_) => Err(bad(key, format!("{key} must be an array"))),
    }
}

fn string_of<'v>(v: &'v Map<String, Value>, key: &str, what: &str) -> Checked<Option<&'v str>> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad(key, format!("{what}.{key} must be a string"))),
    }
}

fn object<'v>(v: &'v Value, what: &str, i: usize) -> Checked<&'v Map<String, Value>> {
    v.as_object()
        .ok_or_else(|| bad(what, format!("{what}[{i}] must be an object")))
}

/// Checks a definition sent by a caller in `project`; returns the workflow's name.
pub fn definition(def: &Map<String, Value>, project: &str) -> Checked<String> {
    let name = string_of(def, "name", "definition")?.ok_or_else(|| bad("name", "name is required"))?;
    workflow_name(name)?;
    if let Some(d) = string_of(def, "description", "definition")? {
        description(d).map_err(|v| bad("description", v.message))?;
    }
    let mode = string_of(def, "mode", "definition")?.unwrap_or("NORMAL");
    workflow_mode(mode)?;
    if def.get("express_config").is_some_and(|v| !v.is_null()) && mode != "EXPRESS" {
        return Err(bad("express_config", "express_config is only allowed in EXPRESS mode"));
    }
    match def.get("constants") {
        Some(Value::Object(_)) => {}
        None | Some(Value::Null) => return Err(bad("constants", "constants is required (use {} for none)")),
        Some(_) => return Err(bad("constants", "constants must be an object")),
    }
    let functions = function_names(def, project)?;
    let retries = retry_names(def)?;
    triggers(def)?;
    let states = array(def, "states", WORKFLOW_MAX_STATES, true)?;
    if states.is_empty() {
        return Err(bad("states", "states needs at least one state"));
    }
    let ids = state_ids(states)?;
    let start = string_of(def, "start", "definition")?.ok_or_else(|| bad("start", "start is required"))?;
    if !ids.contains(start) {
        return Err(bad("start", format!("start `{start}` is not the id of a state")));
    }
    let refs = Refs {
        ids: &ids,
        functions: &functions,
        retries: &retries,
    };
    for s in states.iter().filter_map(Value::as_object) {
        refs.state(s)?;
    }
    Ok(name.to_string())
}

/// `functions[]`: unique names, each operation a function URN in `project`.
fn function_names(def: &Map<String, Value>, project: &str) -> Checked<HashSet<String>> {
    let mut names = HashSet::new();
    for (i, f) in array(def, "functions", WORKFLOW_MAX_FUNCTIONS, true)?
        .iter()
        .enumerate()
    {
        let f = object(f, "functions", i)?;
        let fname = string_of(f, "name", "functions[]")?
            .ok_or_else(|| bad("functions", format!("functions[{i}].name is required")))?;
        if !names.insert(fname.to_string()) {
            return Err(bad("functions", format!("function name `{fname}` is used twice")));
        }
        let op = string_of(f, "operation", "functions[]")?
            .ok_or_else(|| bad("functions", format!("functions[{i}].operation is required")))?;
        // The operation is a full function URN (7 or 8 fields); the path parameter's short
        // forms (`name`, `package:name`, …) are not URNs here.
        let parsed = crate::api::FunctionUrn::parse(op)
            .ok()
            .filter(|u| u.region.is_some() && super::is_valid_function_name(&u.name))
            .ok_or_else(|| {
                bad(
                    "functions",
                    format!("functions[{i}].operation `{op}` is not a function URN"),
                )
            })?;
        if parsed.project.as_deref().is_some_and(|p| p != project) {
            return Err(bad(
                "functions",
                format!("functions[{i}].operation `{op}` is in another project"),
            ));
        }
    }
    Ok(names)
}

/// `retries[]`: unique names, non-negative whole `delay` and `max_attempts`.
fn retry_names(def: &Map<String, Value>) -> Checked<HashSet<String>> {
    let mut names = HashSet::new();
    for (i, r) in array(def, "retries", 200, true)?.iter().enumerate() {
        let r = object(r, "retries", i)?;
        let rname = string_of(r, "name", "retries[]")?
            .ok_or_else(|| bad("retries", format!("retries[{i}].name is required")))?;
        if !names.insert(rname.to_string()) {
            return Err(bad("retries", format!("retry name `{rname}` is used twice")));
        }
        for key in ["delay", "max_attempts"] {
            if let Some(v) = r.get(key) {
                if v.as_i64().is_none_or(|n| n < 0) {
                    return Err(bad("retries", format!("retries[{i}].{key} must be a whole number")));
                }
            }
        }
    }
    Ok(names)
}

/// `triggers[]`: a known type and a 1–256 character name each.
fn triggers(def: &Map<String, Value>) -> Checked<()> {
    for (i, t) in array(def, "triggers", 200, false)?.iter().enumerate() {
        let t = object(t, "triggers", i)?;
        let ty = string_of(t, "trigger_type", "triggers[]")?.unwrap_or("");
        if !["FLOWTIMER", "SMN", "APIG", "APIG_DE", "OBS"].contains(&ty) {
            return Err(bad(
                "triggers",
                format!("triggers[{i}].trigger_type `{ty}` is not FLOWTIMER, SMN, APIG, APIG_DE or OBS"),
            ));
        }
        let tn = string_of(t, "trigger_name", "triggers[]")?.unwrap_or("");
        if tn.is_empty() || tn.chars().count() > 256 {
            return Err(bad(
                "triggers",
                format!("triggers[{i}].trigger_name must be 1-256 characters"),
            ));
        }
    }
    Ok(())
}

/// Every state an object with a unique `id` and a `type`.
fn state_ids(states: &[Value]) -> Checked<HashSet<String>> {
    let mut ids = HashSet::new();
    for (i, s) in states.iter().enumerate() {
        let s = object(s, "states", i)?;
        let id = string_of(s, "id", "states[]")?.ok_or_else(|| bad("states", format!("states[{i}].id is required")))?;
        if !ids.insert(id.to_string()) {
            return Err(bad("states", format!("state id `{id}` is used twice")));
        }
        string_of(s, "type", "states[]")?.ok_or_else(|| bad("states", format!("states[{i}].type is required")))?;
    }
    Ok(ids)
}

/// What a state may refer to.
struct Refs<'a> {
    ids: &'a HashSet<String>,
    functions: &'a HashSet<String>,
    retries: &'a HashSet<String>,
}

impl Refs<'_> {
    /// One state's transition, end flag, actions and error handlers.
    fn state(&self, s: &Map<String, Value>) -> Checked<()> {
        let id = s["id"].as_str().unwrap_or_default();
        let ty = s["type"].as_str().unwrap_or_default();
        let end = s.get("end").and_then(Value::as_bool).unwrap_or(ty == "End");
        let transition = string_of(s, "transition", "states[]")?.unwrap_or("");
        if !transition.is_empty() && !self.ids.contains(transition) {
            return Err(bad(
                "states",
                format!("state `{id}` transitions to `{transition}`, which is not a state"),
            ));
        }
        if end && !transition.is_empty() {
            return Err(bad(
                "states",
                format!("state `{id}` is an end state but has a transition"),
            ));
        }
        if !end && transition.is_empty() && matches!(ty, "Operation" | "Sleep" | "Pass") {
            return Err(bad(
                "states",
                format!("state `{id}` is not an end state and has no transition"),
            ));
        }
        if ty == "End" && s.get("end").and_then(Value::as_bool) == Some(false) {
            return Err(bad("states", format!("state `{id}` has type End but end is false")));
        }
        if let Some(Value::Array(actions)) = s.get("actions") {
            actions.iter().try_for_each(|a| self.action(id, a))?;
        }
        if let Some(Value::Array(errors)) = s.get("on_errors") {
            errors.iter().try_for_each(|e| self.on_error(id, e))?;
        }
        Ok(())
    }

    fn action(&self, id: &str, a: &Value) -> Checked<()> {
        if let Some(r) = a.pointer("/function_ref/ref_name") {
            let r = r.as_str().unwrap_or_default();
            if !self.functions.contains(r) {
                return Err(bad(
                    "states",
                    format!("state `{id}` calls `{r}`, which is not in functions"),
                ));
            }
        }
        if let Some(mode) = a.pointer("/function_ref/invoke_mode").and_then(Value::as_str) {
            if mode != "sync" {
                return Err(bad(
                    "states",
                    format!("state `{id}`: invoke_mode `{mode}` is not supported (sync only)"),
                ));
            }
        }
        Ok(())
    }

    fn on_error(&self, id: &str, e: &Value) -> Checked<()> {
        if let Some(t) = e.get("transition").and_then(Value::as_str).filter(|t| !t.is_empty()) {
            if !self.ids.contains(t) {
                return Err(bad(
                    "states",
                    format!("state `{id}` on_errors transitions to `{t}`, which is not a state"),
                ));
            }
        }
        if let Some(r) = e.get("retry_ref").and_then(Value::as_str).filter(|r| !r.is_empty()) {
            if !self.retries.contains(r) {
                return Err(bad(
                    "states",
                    format!("state `{id}` on_errors uses retry `{r}`, which is not in retries"),
                ));
            }
        }
        Ok(())
    }
}
