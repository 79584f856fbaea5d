//! Workflow executions (§8.2): start (async, and sync for EXPRESS workflows), list, show,
//! terminate. A handler only checks the request and copies the workflow's definition
//! under the store lock; the execution is recorded and run once the lock is released
//! ([`Resp::later`]), in a task of its own ([`flow::engine::run`]). Executions are kept in
//! memory only (see [`crate::emulator::flow`]).
//!
//! Decisions where the reference is silent: `input` must be an object; a sync start of a
//! NORMAL workflow is refused (400 FSS.0400); the list is newest first, paged by
//! `limit`/`offset` like workflows, filtered by `status` and by `begin_time` within
//! `start_time`..`end_time` (RFC 3339; one bound alone spans 3 days from it, none the last
//! 3 days) and answers `{executions, total, size}`; terminating a running execution answers
//! 200 `{}` and marks it `cancel` at once (a function call under way finishes, its result
//! is dropped); terminating a finished one is refused (400 FSS.0400).

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use serde_json::{json, Map, Value};
use tokio::sync::watch;

use super::workflows::int_query;
use super::{Ctx, Resp, Routes};
use crate::api::{urn, Operation};
use crate::emulator::fail::{Fail, Res};
use crate::emulator::flow::{engine, Execution, Status};
use crate::emulator::store::{Db, Workflow};

pub(super) fn routes(r: Routes) -> Routes {
    use Operation::*;
    r.op(StartWorkflowExecution, |c, db, _| start(c, db, false))
        .op(StartSyncWorkflowExecution, |c, db, _| start(c, db, true))
        .op(ListWorkflowExecutions, |c, db, _| list(c, db))
        .op(ShowWorkflowExecution, |c, db, _| show(c, db))
        .op(StopWorkFlow, |c, db, _| stop(c, db))
}

fn bad(msg: impl Into<String>) -> Fail {
    Fail::param(msg).with_request_id()
}

/// The workflow the path names (404 FSS.0404).
fn workflow<'d>(ctx: &Ctx<'_>, db: &'d Db) -> Res<&'d Workflow> {
    let key = format!("{}/{}", ctx.project, ctx.param(0));
    db.tables
        .workflows
        .get(&key)
        .ok_or_else(|| Fail::new(404, "FSS.0404", format!("Not found the workflow {}", ctx.param(0))).with_request_id())
}

/// `{input, headers}`: `input` an object (required), `headers` an object.
fn start_body(ctx: &Ctx<'_>) -> Res<(Value, Value)> {
    let body = ctx.json().map_err(Fail::with_request_id)?;
    let field = |key: &str, required: bool| match body.get(key) {
        Some(v @ Value::Object(_)) => Ok(v.clone()),
        None | Some(Value::Null) if !required => Ok(json!({})),
        None | Some(Value::Null) => Err(bad(format!("{key} is required"))),
        Some(_) => Err(bad(format!("{key} must be an object"))),
    };
    Ok((field("input", true)?, field("headers", false)?))
}

/// `POST …/executions` and `POST …/sync-executions`.
fn start(ctx: &Ctx<'_>, db: &mut Db, sync: bool) -> Res<Resp> {
    let w = workflow(ctx, db)?;
    let (input, headers) = start_body(ctx)?;
    let express = w.definition.get("mode").and_then(Value::as_str) == Some("EXPRESS");
    if sync && !express {
        return Err(bad(format!(
            "workflow {} is NORMAL: only EXPRESS workflows run synchronously",
            w.name
        )));
    }
    let id = uuid::Uuid::new_v4().to_string();
    let plan = engine::Plan {
        execution_id: id.clone(),
        definition: w.definition.clone(),
        input: input.clone(),
        express,
    };
    let now = ctx.shared.clock.now();
    let record = Execution {
        project: ctx.project.clone(),
        workflow_id: w.id.clone(),
        workflow_urn: urn::workflow_urn(ctx.region(), &w.project, &w.name),
        execution_id: id.clone(),
        status: Status::Running,
        headers,
        input,
        output: Value::Null,
        begin_time: now,
        end_time: None,
        last_update_time: now,
        created_by: super::functions::domain_id(&ctx.project),
        nodes: Vec::new(),
        errors: Vec::new(),
        cancel: watch::channel(false).0,
    };
    Ok(Resp::later(move |shared| {
        Box::pin(async move {
            let id = plan.execution_id.clone();
            let cancel = shared.executions.lock().insert(record);
            // The run is a task of its own: it goes on if a sync caller goes away.
            let task = tokio::spawn(engine::run(shared.clone(), plan, cancel));
            if !sync {
                return Resp::ok(json!({ "execution_id": id }));
            }
            let _ = task.await;
            let answer = shared.executions.lock().get(&id).map(Execution::sync_answer);
            Resp::ok(answer)
        })
    }))
}

/// A time bound of the list: RFC 3339, or `YYYY-MM-DD HH:MM:SS` (UTC).
fn time_query(ctx: &Ctx<'_>, key: &str) -> Res<Option<DateTime<Utc>>> {
    let Some(v) = ctx.query(key).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    DateTime::parse_from_rfc3339(v)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S").map(|t| t.and_utc()))
        .map(Some)
        .map_err(|_| bad(format!("{key} `{v}` is not a UTC time like 2024-01-02T03:04:05Z")))
}

/// `GET …/executions?limit&offset&status&start_time&end_time`.
fn list(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let w = workflow(ctx, db)?;
    let limit = int_query(ctx, "limit", 200)?;
    let limit = if limit <= 0 { 200 } else { limit.min(200) } as usize;
    let offset = int_query(ctx, "offset", 0)?.max(0) as usize;
    let status = match ctx.query("status").filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            Status::parse(s)
                .ok_or_else(|| bad(format!("status `{s}` is not success, fail, running, timeout or cancel")))?,
        ),
    };
    let span = Duration::days(3);
    let (from, to) = match (time_query(ctx, "start_time")?, time_query(ctx, "end_time")?) {
        (Some(f), Some(t)) => (f, t),
        (Some(f), None) => (f, f + span),
        (None, Some(t)) => (t - span, t),
        (None, None) => {
            let now = ctx.shared.clock.now();
            (now - span, now)
        }
    };
    let all = ctx.shared.executions.lock();
    let mut found: Vec<&Execution> = all
        .of(&ctx.project, &w.id)
        .filter(|e| status.is_none_or(|s| e.status == s))
        .filter(|e| e.begin_time >= from && e.begin_time <= to)
        .collect();
    found.reverse();
    let page: Vec<Value> = found.iter().skip(offset).take(limit).map(|e| e.brief()).collect();
    Resp::ok(json!({ "executions": page, "total": found.len(), "size": page.len() }))
}

/// 404 FSS.0404 unless the execution exists and belongs to the path's workflow.
fn not_found(ctx: &Ctx<'_>) -> Fail {
    Fail::new(404, "FSS.0404", format!("Not found the execution {}", ctx.param(1))).with_request_id()
}

/// `GET …/executions/{execution_id}`.
fn show(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let w = workflow(ctx, db)?;
    let all = ctx.shared.executions.lock();
    let e = all
        .get(ctx.param(1))
        .filter(|e| e.project == ctx.project && e.workflow_id == w.id)
        .ok_or_else(|| not_found(ctx))?;
    Resp::ok(e.detail())
}

/// `POST …/executions/{execution_id}/terminate` (`StopWorkFlow`).
fn stop(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let w = workflow(ctx, db)?;
    let now = ctx.shared.clock.now();
    let mut all = ctx.shared.executions.lock();
    let e = all
        .get_mut(ctx.param(1))
        .filter(|e| e.project == ctx.project && e.workflow_id == w.id)
        .ok_or_else(|| not_found(ctx))?;
    if e.status != Status::Running {
        return Err(bad(format!(
            "execution {} is not running (it is {})",
            e.execution_id,
            e.status.as_str()
        )));
    }
    e.status = Status::Cancel;
    e.end_time = Some(now);
    e.last_update_time = now;
    let _ = e.cancel.send(true);
    Resp::ok(Map::new())
}
