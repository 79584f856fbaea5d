//! Workflows (函数流, §8): the definition round-trips exactly as sent; the graph is checked
//! (start, transitions, function refs, retry refs); unknown state types and fields are kept.

use std::collections::HashSet;

use serde_json::{json, Map, Value};

use super::{Ctx, Resp, Routes};
use crate::api::{limits, urn, Operation};
use crate::emulator::fail::{Fail, Res};
use crate::emulator::store::{Db, Table, Workflow};

fn bad(msg: impl Into<String>) -> Fail {
    Fail::param(msg).with_request_id()
}

fn array<'v>(def: &'v Map<String, Value>, key: &str, max: usize, required: bool) -> Res<&'v [Value]> {
    match def.get(key) {
        None | Some(Value::Null) if !required => Ok(&[]),
        None | Some(Value::Null) => Err(bad(format!("{key} is required"))),
        Some(Value::Array(a)) if a.len() <= max => Ok(a),
        Some(Value::Array(a)) => Err(bad(format!("{key} has {} items; at most {max} are allowed", a.len()))),
        Some(_) => Err(bad(format!("{key} must be an array"))),
    }
}

fn string_of<'v>(v: &'v Map<String, Value>, key: &str, what: &str) -> Res<Option<&'v str>> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad(format!("{what}.{key} must be a string"))),
    }
}

/// Checks a definition; returns its name.
fn check_definition(ctx: &Ctx<'_>, def: &Map<String, Value>) -> Res<String> {
    let name = string_of(def, "name", "definition")?.ok_or_else(|| bad("name is required"))?;
    let name_ok = name.chars().count() <= limits::WORKFLOW_NAME_MAX
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !name_ok {
        return Err(bad(format!(
            "workflow name `{name}` must start with a letter and use letters, digits, _ and - (1-64)"
        )));
    }
    if let Some(d) = string_of(def, "description", "definition")? {
        if d.chars().count() > limits::DESCRIPTION_MAX {
            return Err(bad("description is longer than 512 characters"));
        }
    }
    let mode = string_of(def, "mode", "definition")?.unwrap_or("NORMAL");
    if mode != "NORMAL" && mode != "EXPRESS" {
        return Err(bad(format!("mode `{mode}` is not NORMAL or EXPRESS")));
    }
    if def.get("express_config").is_some_and(|v| !v.is_null()) && mode != "EXPRESS" {
        return Err(bad("express_config is only allowed in EXPRESS mode"));
    }
    match def.get("constants") {
        Some(Value::Object(_)) => {}
        None | Some(Value::Null) => return Err(bad("constants is required (use {} for none)")),
        Some(_) => return Err(bad("constants must be an object")),
    }
    let mut function_names = HashSet::new();
    for (i, f) in array(def, "functions", 100, true)?.iter().enumerate() {
        let f = f
            .as_object()
            .ok_or_else(|| bad(format!("functions[{i}] must be an object")))?;
        let fname =
            string_of(f, "name", "functions[]")?.ok_or_else(|| bad(format!("functions[{i}].name is required")))?;
        if !function_names.insert(fname.to_string()) {
            return Err(bad(format!("function name `{fname}` is used twice")));
        }
        let op = string_of(f, "operation", "functions[]")?
            .ok_or_else(|| bad(format!("functions[{i}].operation is required")))?;
        // The operation is a full function URN (7 or 8 fields); the path parameter's short
        // forms (`name`, `package:name`, …) are not URNs here.
        let parsed = crate::api::FunctionUrn::parse(op)
            .ok()
            .filter(|u| u.region.is_some() && super::is_name(&u.name, limits::FUNCTION_NAME_MAX, &[]))
            .ok_or_else(|| bad(format!("functions[{i}].operation `{op}` is not a function URN")))?;
        if parsed.project.as_deref().is_some_and(|p| p != ctx.project) {
            return Err(bad(format!("functions[{i}].operation `{op}` is in another project")));
        }
    }
    let mut retry_names = HashSet::new();
    for (i, r) in array(def, "retries", 200, true)?.iter().enumerate() {
        let r = r
            .as_object()
            .ok_or_else(|| bad(format!("retries[{i}] must be an object")))?;
        let rname = string_of(r, "name", "retries[]")?.ok_or_else(|| bad(format!("retries[{i}].name is required")))?;
        if !retry_names.insert(rname.to_string()) {
            return Err(bad(format!("retry name `{rname}` is used twice")));
        }
        for key in ["delay", "max_attempts"] {
            if let Some(v) = r.get(key) {
                if v.as_i64().is_none_or(|n| n < 0) {
                    return Err(bad(format!("retries[{i}].{key} must be a whole number")));
                }
            }
        }
    }
    for (i, t) in array(def, "triggers", 200, false)?.iter().enumerate() {
        let t = t
            .as_object()
            .ok_or_else(|| bad(format!("triggers[{i}] must be an object")))?;
        let ty = string_of(t, "trigger_type", "triggers[]")?.unwrap_or("");
        if !["FLOWTIMER", "SMN", "APIG", "APIG_DE", "OBS"].contains(&ty) {
            return Err(bad(format!(
                "triggers[{i}].trigger_type `{ty}` is not FLOWTIMER, SMN, APIG, APIG_DE or OBS"
            )));
        }
        let tn = string_of(t, "trigger_name", "triggers[]")?.unwrap_or("");
        if tn.is_empty() || tn.chars().count() > 256 {
            return Err(bad(format!("triggers[{i}].trigger_name must be 1-256 characters")));
        }
    }
    let states = array(def, "states", 100, true)?;
    if states.is_empty() {
        return Err(bad("states needs at least one state"));
    }
    let mut ids = HashSet::new();
    for (i, s) in states.iter().enumerate() {
        let s = s
            .as_object()
            .ok_or_else(|| bad(format!("states[{i}] must be an object")))?;
        let id = string_of(s, "id", "states[]")?.ok_or_else(|| bad(format!("states[{i}].id is required")))?;
        if !ids.insert(id.to_string()) {
            return Err(bad(format!("state id `{id}` is used twice")));
        }
        string_of(s, "type", "states[]")?.ok_or_else(|| bad(format!("states[{i}].type is required")))?;
    }
    let start = string_of(def, "start", "definition")?.ok_or_else(|| bad("start is required"))?;
    if !ids.contains(start) {
        return Err(bad(format!("start `{start}` is not the id of a state")));
    }
    for s in states.iter().filter_map(Value::as_object) {
        let id = s["id"].as_str().unwrap_or_default();
        let ty = s["type"].as_str().unwrap_or_default();
        let end = s.get("end").and_then(Value::as_bool).unwrap_or(ty == "End");
        let transition = string_of(s, "transition", "states[]")?.unwrap_or("");
        if !transition.is_empty() && !ids.contains(transition) {
            return Err(bad(format!(
                "state `{id}` transitions to `{transition}`, which is not a state"
            )));
        }
        if end && !transition.is_empty() {
            return Err(bad(format!("state `{id}` is an end state but has a transition")));
        }
        if !end && transition.is_empty() && matches!(ty, "Operation" | "Sleep" | "Pass") {
            return Err(bad(format!("state `{id}` is not an end state and has no transition")));
        }
        if ty == "End" && s.get("end").and_then(Value::as_bool) == Some(false) {
            return Err(bad(format!("state `{id}` has type End but end is false")));
        }
        if let Some(Value::Array(actions)) = s.get("actions") {
            for a in actions {
                if let Some(r) = a.pointer("/function_ref/ref_name") {
                    let r = r.as_str().unwrap_or_default();
                    if !function_names.contains(r) {
                        return Err(bad(format!("state `{id}` calls `{r}`, which is not in functions")));
                    }
                }
                if let Some(mode) = a.pointer("/function_ref/invoke_mode").and_then(Value::as_str) {
                    if mode != "sync" {
                        return Err(bad(format!(
                            "state `{id}`: invoke_mode `{mode}` is not supported (sync only)"
                        )));
                    }
                }
            }
        }
        if let Some(Value::Array(errors)) = s.get("on_errors") {
            for e in errors {
                if let Some(t) = e.get("transition").and_then(Value::as_str).filter(|t| !t.is_empty()) {
                    if !ids.contains(t) {
                        return Err(bad(format!(
                            "state `{id}` on_errors transitions to `{t}`, which is not a state"
                        )));
                    }
                }
                if let Some(r) = e.get("retry_ref").and_then(Value::as_str).filter(|r| !r.is_empty()) {
                    if !retry_names.contains(r) {
                        return Err(bad(format!(
                            "state `{id}` on_errors uses retry `{r}`, which is not in retries"
                        )));
                    }
                }
            }
        }
    }
    Ok(name.to_string())
}

fn summary(ctx: &Ctx<'_>, w: &Workflow) -> Value {
    json!({
        "id": w.id,
        "workflow_urn": urn::workflow_urn(ctx.region(), &w.project, &w.name),
        "name": w.name,
        "description": w.definition.get("description").cloned().unwrap_or(json!("")),
        "created_time": w.created_time,
        "updated_time": w.updated_time,
        "created_by": w.created_by,
        "enable_stream_response": w.definition.get("enable_stream_response").cloned().unwrap_or(json!(false)),
        "mode": w.definition.get("mode").cloned().unwrap_or(json!("NORMAL")),
    })
}

fn workflows<'d>(db: &'d Db, project: &str) -> impl Iterator<Item = &'d Workflow> + 'd {
    let prefix = format!("{project}/");
    db.tables
        .workflows
        .range(prefix.clone()..)
        .take_while(move |(k, _)| k.starts_with(&prefix))
        .map(|(_, w)| w)
}

fn definition(ctx: &Ctx<'_>) -> Res<(Value, String)> {
    let value = ctx.json_value()?.ok_or_else(|| bad("the request body is missing"))?;
    let def = value
        .as_object()
        .ok_or_else(|| bad("the request body must be a JSON object"))?;
    let name = check_definition(ctx, def)?;
    Ok((value, name))
}

pub(crate) fn create(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let (def, name) = definition(ctx)?;
    if workflows(db, &ctx.project).any(|w| w.name == name) {
        return Err(Fail::new(409, "FSS.0409", format!("workflow {name} already exists")).with_request_id());
    }
    if workflows(db, &ctx.project).count() as u64 >= ctx.shared.config.quotas.workflows {
        return Err(Fail::new(403, "FSS.0403", "the workflow quota is used up").with_request_id());
    }
    let id = uuid::Uuid::new_v4().to_string();
    let w = Workflow {
        project: ctx.project.clone(),
        id: id.clone(),
        name,
        created_time: ctx.ts_z(),
        updated_time: ctx.ts_z(),
        created_by: super::functions::domain_id(&ctx.project),
        definition: def,
    };
    let out = summary(ctx, &w);
    let key = format!("{}/{id}", ctx.project);
    db.tables.workflows.insert(key.clone(), w);
    db.touch(Table::Workflows, &key);
    Resp::created(out)
}

fn int_query(ctx: &Ctx<'_>, key: &str, default: i64) -> Res<i64> {
    match ctx.query(key).filter(|s| !s.is_empty()) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| Fail::bad("FSS.1001", format!("invalid {key} `{v}`"))),
    }
}

pub(crate) fn list(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let limit = int_query(ctx, "limit", 200)?;
    let limit = if limit <= 0 { 200 } else { limit.min(200) } as usize;
    let offset = int_query(ctx, "offset", 0)?.max(0) as usize;
    let name = ctx.query("workflow_name").filter(|s| !s.is_empty());
    let mode = ctx.query("mode").filter(|s| !s.is_empty());
    let mut all: Vec<&Workflow> = workflows(db, &ctx.project)
        .filter(|w| name.is_none_or(|n| w.name.contains(n)))
        .filter(|w| mode.is_none_or(|m| w.definition.get("mode").and_then(Value::as_str).unwrap_or("NORMAL") == m))
        .collect();
    all.sort_by(|a, b| (&a.created_time, &a.name).cmp(&(&b.created_time, &b.name)));
    let total = all.len();
    let items: Vec<Value> = all.iter().skip(offset).take(limit).map(|w| summary(ctx, w)).collect();
    Resp::ok(json!({ "total": total, "size": items.len(), "workflows": items }))
}

fn find_key(ctx: &Ctx<'_>, db: &Db) -> Res<String> {
    let key = format!("{}/{}", ctx.project, ctx.param(0));
    if db.tables.workflows.contains_key(&key) {
        Ok(key)
    } else {
        Err(Fail::new(404, "FSS.0404", format!("Not found the workflow {}", ctx.param(0))).with_request_id())
    }
}

pub(crate) fn show(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let key = find_key(ctx, db)?;
    let w = &db.tables.workflows[&key];
    Resp::ok(json!({
        "id": w.id,
        "workflow_urn": urn::workflow_urn(ctx.region(), &w.project, &w.name),
        "created_time": w.created_time,
        "updated_time": w.updated_time,
        "created_by": w.created_by,
        "definition": w.definition,
    }))
}

pub(crate) fn update(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let key = find_key(ctx, db)?;
    let (def, name) = definition(ctx)?;
    let w = db.tables.workflows.get_mut(&key).expect("found");
    if w.name != name {
        return Err(bad(format!("a workflow cannot be renamed (`{}` to `{name}`)", w.name)));
    }
    w.definition = def;
    w.updated_time = ctx.ts_z();
    let out = summary(ctx, w);
    db.touch(Table::Workflows, &key);
    Resp::ok(out)
}

pub(crate) fn batch_delete(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let body = ctx.json().map_err(Fail::with_request_id)?;
    let urns = match body.get("workflow_urns") {
        Some(Value::Array(a)) if !a.is_empty() => a.clone(),
        _ => return Err(bad("workflow_urns must be a non-empty array")),
    };
    let (mut success, mut fail) = (Vec::new(), Vec::new());
    for u in urns {
        let text = u.as_str().unwrap_or_default().to_string();
        let found = urn::parse_workflow_urn(&text)
            .ok()
            .filter(|(_, project, _)| *project == ctx.project)
            .and_then(|(_, _, name)| {
                workflows(db, &ctx.project)
                    .find(|w| w.name == name)
                    .map(|w| w.id.clone())
            });
        match found {
            Some(id) => {
                let key = format!("{}/{id}", ctx.project);
                db.tables.workflows.remove(&key);
                db.touch(Table::Workflows, &key);
                success.push(json!(text));
            }
            None => fail.push(json!({ "workflow_urn": text, "error_detail": "workflow not found" })),
        }
    }
    Resp::ok(json!({ "success": success, "fail": fail }))
}

/// Workflows.
pub(super) fn routes(r: Routes) -> Routes {
    use Operation::*;
    r.op(ListWorkflow, |c, db, _| list(c, db))
        .op(CreateWorkflow, |c, db, _| create(c, db))
        .op(BatchDeleteWorkflows, |c, db, _| batch_delete(c, db))
        .op(ShowWorkFlow, |c, db, _| show(c, db))
        .op(UpdateWorkFlow, |c, db, _| update(c, db))
}
