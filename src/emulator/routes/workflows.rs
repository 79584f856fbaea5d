//! Workflows (函数流, §8): the definition round-trips exactly as sent; the graph is checked
//! (start, transitions, function refs, retry refs); unknown state types and fields are kept.

use serde_json::{json, Map, Value};

use super::{Ctx, Resp, Routes};
use crate::api::types::{BatchDeleteWorkflowsResponse, Timestamp, WorkflowPage, WorkflowSummary};
use crate::api::{rules, urn, Operation};
use crate::emulator::fail::{Fail, Res};
use crate::emulator::store::{Db, Table, Workflow};

fn bad(msg: impl Into<String>) -> Fail {
    Fail::param(msg).with_request_id()
}

/// Checks a definition with the API's rule; returns its name.
fn check_definition(ctx: &Ctx<'_>, def: &Map<String, Value>) -> Res<String> {
    rules::workflow_definition(def, &ctx.project).map_err(|v| bad(v.message))
}

fn summary(ctx: &Ctx<'_>, w: &Workflow) -> WorkflowSummary {
    let def = &w.definition;
    WorkflowSummary {
        id: w.id.clone(),
        workflow_urn: urn::workflow_urn(ctx.region(), &w.project, &w.name),
        name: w.name.clone(),
        description: def.get("description").and_then(Value::as_str).unwrap_or("").to_string(),
        created_time: Timestamp::Text(w.created_time.clone()),
        updated_time: Timestamp::Text(w.updated_time.clone()),
        created_by: w.created_by.clone(),
        mode: def.get("mode").and_then(Value::as_str).unwrap_or("NORMAL").to_string(),
        enable_stream_response: def
            .get("enable_stream_response")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    }
}

fn body(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).expect("a workflow response serializes")
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
    let out = body(&summary(ctx, &w));
    let key = format!("{}/{id}", ctx.project);
    db.tables.workflows.insert(key.clone(), w);
    db.touch(Table::Workflows, &key);
    Resp::created(out)
}

pub(super) fn int_query(ctx: &Ctx<'_>, key: &str, default: i64) -> Res<i64> {
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
    let items: Vec<WorkflowSummary> = all.iter().skip(offset).take(limit).map(|w| summary(ctx, w)).collect();
    Resp::ok(WorkflowPage {
        total: Some(total as i64),
        size: Some(items.len() as i64),
        workflows: items,
    })
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
    let out = body(&summary(ctx, w));
    db.touch(Table::Workflows, &key);
    Resp::ok(out)
}

pub(crate) fn batch_delete(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let request = ctx.json().map_err(Fail::with_request_id)?;
    let urns = match request.get("workflow_urns") {
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
                success.push(text);
            }
            None => fail.push(json!({ "workflow_urn": text, "error_detail": "workflow not found" })),
        }
    }
    Resp::ok(BatchDeleteWorkflowsResponse { success, fail })
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
