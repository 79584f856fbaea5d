//! Async invocation config (§5), per qualifier.

use serde_json::{Map, Value};

use super::{opt_bool, opt_int, opt_obj, opt_str, refused, resolve, Ctx, Resp, Routes};
use crate::api::types::{
    AsyncInvokeConfig, AsyncInvokeConfigPage, AsyncStatusLogResponse, Destination, DestinationConfig, PageInfo,
    Timestamp,
};
use crate::api::{limits, rules, Operation};
use crate::emulator::fail::{Fail, Res};
use crate::emulator::store::{Db, Table};

fn check_destination(which: &str, d: &Map<String, Value>) -> Res<Destination> {
    let dest = opt_str(d, "destination", "FSS.0400")?
        .ok_or_else(|| Fail::param(format!("destination_config.{which}.destination is required")))?;
    if !limits::ASYNC_DESTINATIONS.contains(&dest) {
        return Err(Fail::param(format!(
            "destination `{dest}` is not one of OBS, SMN, DIS, FunctionGraph"
        )));
    }
    let param = opt_str(d, "param", "FSS.0400")?
        .ok_or_else(|| Fail::param(format!("destination_config.{which}.param is required")))?;
    let parsed: Map<String, Value> = serde_json::from_str(param)
        .map_err(|_| Fail::param(format!("destination_config.{which}.param must be a JSON object string")))?;
    let required: &[&str] = match dest {
        "FunctionGraph" => &["func_urn"],
        "SMN" => &["topic_urn"],
        "DIS" => &["stream_name"],
        _ => &["bucket"],
    };
    for key in required {
        if parsed.get(*key).and_then(Value::as_str).is_none_or(str::is_empty) {
            return Err(Fail::param(format!(
                "destination_config.{which}.param needs {key} for {dest}"
            )));
        }
    }
    if dest == "FunctionGraph" {
        let urn = parsed["func_urn"].as_str().unwrap_or("");
        crate::api::FunctionUrn::parse(urn).map_err(|_| {
            Fail::param(format!(
                "destination_config.{which}.param.func_urn `{urn}` is not a function URN"
            ))
        })?;
    }
    if dest == "OBS" {
        if let Some(e) = parsed.get("expires") {
            if !e.as_i64().is_some_and(|e| (0..=365).contains(&e)) {
                return Err(Fail::param("OBS expires must be 0-365 days"));
            }
        }
    }
    Ok(Destination {
        destination: dest.to_string(),
        param: param.to_string(),
    })
}

pub(crate) fn put(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let (key, _, qualifier) = resolve(ctx, db, ctx.param(0))?;
    let body = ctx.json()?;
    let age = opt_int(&body, "max_async_event_age_in_seconds", "FSS.0400")?.unwrap_or(3600);
    rules::async_event_age(age).map_err(refused)?;
    let retries = opt_int(&body, "max_async_retry_attempts", "FSS.0400")?.unwrap_or(3);
    rules::async_retries(retries).map_err(refused)?;
    let mut destination = DestinationConfig::default();
    if let Some(dc) = opt_obj(&body, "destination_config", "FSS.0400")? {
        if let Some(d) = opt_obj(dc, "on_success", "FSS.0400")? {
            destination.on_success = Some(check_destination("on_success", d)?);
        }
        if let Some(d) = opt_obj(dc, "on_failure", "FSS.0400")? {
            destination.on_failure = Some(check_destination("on_failure", d)?);
        }
    }
    let status_log = opt_bool(&body, "enable_async_status_log")?.unwrap_or(false);
    let f = db.tables.functions.get_mut(&key).expect("resolved");
    let created = f
        .async_configs
        .get(&qualifier)
        .and_then(|c| c.get("created_time").cloned())
        .and_then(|t| serde_json::from_value(t).ok())
        .unwrap_or_else(|| Timestamp::Text(ctx.ts()));
    let urn = crate::api::FunctionUrn::qualified(ctx.region(), &f.project, &f.package, &f.name, &{
        let q: crate::api::Qualifier = match qualifier.as_str() {
            "latest" => crate::api::Qualifier::Latest,
            q if q.starts_with('!') => crate::api::Qualifier::Alias(q[1..].to_string()),
            q => crate::api::Qualifier::Named(q.to_string()),
        };
        q
    });
    let mut extra = Map::new();
    for key in ["log_group_id", "log_stream_id", "log_group_name", "log_stream_name"] {
        if let Some(v) = opt_str(&body, key, "FSS.0400")? {
            extra.insert(key.into(), Value::from(v));
        }
    }
    let config = AsyncInvokeConfig {
        func_urn: urn,
        max_async_event_age_in_seconds: Some(age),
        max_async_retry_attempts: Some(retries),
        destination_config: Some(destination),
        enable_async_status_log: Some(status_log),
        created_time: created,
        last_modified: Timestamp::Text(ctx.ts_space()),
        extra,
    };
    let config = serde_json::to_value(config).expect("an async invoke config serializes");
    f.async_configs.insert(qualifier, config.clone());
    db.touch(Table::Functions, &key);
    Resp::ok(config)
}

fn not_found() -> Fail {
    Fail::new(404, "FSS.0404", "Not found the async invoke config")
}

pub(crate) fn show(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let (key, _, qualifier) = resolve(ctx, db, ctx.param(0))?;
    let f = &db.tables.functions[&key];
    f.async_configs
        .get(&qualifier)
        .map_or_else(|| Err(not_found()), Resp::ok)
}

pub(crate) fn delete(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let (key, _, qualifier) = resolve(ctx, db, ctx.param(0))?;
    let f = db.tables.functions.get_mut(&key).expect("resolved");
    if f.async_configs.remove(&qualifier).is_none() {
        return Err(not_found());
    }
    db.touch(Table::Functions, &key);
    Resp::no_content()
}

pub(crate) fn list(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let (key, _, _) = resolve(ctx, db, ctx.param(0))?;
    let marker = match ctx.query("marker").filter(|s| !s.is_empty()) {
        None => 0usize,
        Some(m) => m
            .parse()
            .map_err(|_| Fail::bad("FSS.1001", format!("invalid marker `{m}`")))?,
    };
    let limit = match ctx.query("limit").filter(|s| !s.is_empty()) {
        None => 10usize,
        Some(l) => match l.parse::<i64>() {
            Ok(n) if n < 0 => return Err(Fail::bad("FSS.1001", format!("invalid limit `{l}`"))),
            Ok(0) => 10,
            Ok(n) => (n as usize).min(100),
            Err(_) => return Err(Fail::bad("FSS.1001", format!("invalid limit `{l}`"))),
        },
    };
    let f = &db.tables.functions[&key];
    let count = f.async_configs.len();
    let items = f
        .async_configs
        .values()
        .skip(marker)
        .take(limit)
        .map(|c| serde_json::from_value(c.clone()))
        .collect::<Result<Vec<AsyncInvokeConfig>, _>>()
        .map_err(|e| {
            Fail::new(
                500,
                "FSS.0500",
                format!("a stored async invoke config is unreadable: {e}"),
            )
        })?;
    let current = items.len();
    let out = AsyncInvokeConfigPage {
        async_invoke_configs: items,
        count: Some(count as i64),
        page_info: PageInfo {
            next_marker: Some((marker + current).min(count) as i64),
            previous_marker: Some(marker.saturating_sub(limit) as i64),
            current_count: Some(current as i64),
        },
    };
    Resp::ok(out)
}

pub(crate) fn enable_status_logs(_ctx: &Ctx<'_>) -> Res<Resp> {
    let out = AsyncStatusLogResponse {
        enable_async_status_log: true,
    };
    Resp::ok(out)
}

/// Asynchronous invocation settings.
pub(super) fn routes(r: Routes) -> Routes {
    use Operation::*;
    r.op(EnableAsyncStatusLog, |c, _, _| enable_status_logs(c))
        .op(UpdateFunctionAsyncInvokeConfig, |c, db, _| put(c, db))
        .op(ShowFunctionAsyncInvokeConfig, |c, db, _| show(c, db))
        .op(DeleteFunctionAsyncInvokeConfig, |c, db, _| delete(c, db))
        .op(ListFunctionAsyncInvokeConfig, |c, db, _| list(c, db))
}
