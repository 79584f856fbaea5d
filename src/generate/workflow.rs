//! One workflow's manifest entry: the API definition back in the manifest's form (`next`
//! for `transition`, `type: End` without `end`, `actions[].function` for `function_ref`).

use serde_json::{Map, Value};

use super::Names;
use crate::api::types::Workflow;

/// `workflows.NAME`.
pub(super) fn workflow(w: &Workflow, names: &Names) -> Map<String, Value> {
    let d = &w.definition;
    let mut spec = Map::new();
    if let Some(description) = d.description.as_ref().filter(|s| !s.is_empty()) {
        spec.insert("description".into(), names.text(description).into());
    }
    if let Some(mode) = d.mode.as_ref().filter(|m| !m.is_empty() && *m != "NORMAL") {
        spec.insert("mode".into(), mode.clone().into());
    }
    spec.insert("start".into(), d.start.clone().into());
    // ref_name → the function it names, from the definition's `functions[]`.
    let targets: Vec<(String, String)> = d
        .functions
        .iter()
        .filter_map(|f| {
            Some((
                f.get("name")?.as_str()?.to_string(),
                f.get("operation")?.as_str()?.to_string(),
            ))
        })
        .collect();
    let states: Vec<Value> = d.states.iter().map(|s| state(s, &targets, names)).collect();
    spec.insert("states".into(), Value::Array(states));
    if d.constants.as_object().is_some_and(|c| !c.is_empty()) {
        spec.insert("constants".into(), names.value(&d.constants));
    }
    if !d.retries.is_empty() {
        spec.insert("retries".into(), Value::Array(d.retries.clone()));
    }
    if let Some(triggers) = d.triggers.as_ref().filter(|t| !t.is_empty()) {
        spec.insert("triggers".into(), names.value(&Value::Array(triggers.clone())));
    }
    for (key, value) in &d.extra {
        if !crate::plan::diff::is_empty(Some(value)) {
            spec.insert(key.clone(), names.value(value));
        }
    }
    spec
}

/// A state in the manifest's form, `id` and `type` first.
fn state(api: &Value, targets: &[(String, String)], names: &Names) -> Value {
    let Some(object) = api.as_object() else {
        return names.value(api);
    };
    let mut state = object.clone();
    let kind = state.get("type").and_then(Value::as_str).unwrap_or("").to_string();
    let end = state.get("end").and_then(Value::as_bool);
    let transition = state.get("transition").and_then(Value::as_str).map(str::to_string);
    match (end, transition) {
        (Some(true), t) if t.as_deref().is_none_or(str::is_empty) => {
            state.remove("transition");
            if kind == "End" {
                state.remove("end");
            }
        }
        (Some(false) | None, Some(next)) if !next.is_empty() => {
            state.remove("transition");
            state.remove("end");
            state.insert("next".into(), next.into());
        }
        _ => {}
    }
    if let Some(Value::Array(actions)) = state.get_mut("actions") {
        for action in actions.iter_mut() {
            *action = self::action(action, targets, names);
        }
    }
    if let Some(Value::Array(handlers)) = state.get_mut("on_errors") {
        for handler in handlers.iter_mut().filter_map(Value::as_object_mut) {
            if let Some(to) = handler.remove("transition") {
                handler.insert("next".into(), to);
            }
        }
    }
    let mut ordered = Map::new();
    for key in ["id", "type", "next"] {
        if let Some(v) = state.remove(key) {
            ordered.insert(key.into(), v);
        }
    }
    for (key, value) in state {
        let value = if key == "actions" { value } else { names.value(&value) };
        ordered.insert(key, value);
    }
    Value::Object(ordered)
}

/// `function_ref{ref_name, invoke_mode, arguments}` → `function`, `arguments`, `invoke_mode`.
fn action(api: &Value, targets: &[(String, String)], names: &Names) -> Value {
    let Some(object) = api.as_object() else {
        return names.value(api);
    };
    let mut action = object.clone();
    let Some(Value::Object(reference)) = action.remove("function_ref") else {
        return names.value(api);
    };
    let ref_name = reference.get("ref_name").and_then(Value::as_str).unwrap_or("");
    let function = targets
        .iter()
        .find(|(name, _)| name == ref_name)
        .map(|(_, urn)| names.function(urn))
        .unwrap_or_else(|| ref_name.to_string());
    let mut out = Map::new();
    out.insert("function".into(), function.into());
    if let Some(arguments) = reference
        .get("arguments")
        .filter(|a| !crate::plan::diff::is_empty(Some(a)))
    {
        out.insert("arguments".into(), names.value(arguments));
    }
    if let Some(mode) = reference
        .get("invoke_mode")
        .and_then(Value::as_str)
        .filter(|m| *m != "sync")
    {
        out.insert("invoke_mode".into(), mode.into());
    }
    for (key, value) in action {
        out.insert(key, names.value(&value));
    }
    Value::Object(out)
}
