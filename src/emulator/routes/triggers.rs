//! Triggers (§6): TIMER validated completely, other types stored and echoed with their
//! required fields checked.

use serde_json::{Map, Value};

use super::{opt_obj, opt_str, refused, req_str, resolve, Ctx, Resp, Routes, Target};
use crate::api::types::{self, Timestamp};
use crate::api::{rules, Operation};
use crate::emulator::fail::{Fail, Res};
use crate::emulator::store::{Db, Function, Table, Trigger};

/// The invalid-parameter code of each trigger type.
fn invalid_code(ty: &str) -> &'static str {
    match ty {
        "SMN" => "FSS.1102",
        "OBS" => "FSS.1106",
        "APIG" => "FSS.1107",
        "TIMER" => "FSS.1109",
        "KAFKA" | "OPENSOURCEKAFKA" => "FSS.1112",
        "DEDICATEDGATEWAY" => "FSS.1417",
        _ => "FSS.0400",
    }
}

fn not_found_code(ty: &str) -> &'static str {
    match ty {
        "SMN" => "FSS.1132",
        "OBS" => "FSS.1136",
        "APIG" | "DEDICATEDGATEWAY" => "FSS.1138",
        "TIMER" => "FSS.1140",
        "KAFKA" | "OPENSOURCEKAFKA" => "FSS.1174",
        _ => "FSS.1131",
    }
}

/// Required `event_data` fields of the non-TIMER types.
fn required_fields(ty: &str) -> &'static [&'static str] {
    match ty {
        "OBS" => &["bucket", "events"],
        "SMN" => &["topic_urn"],
        "LTS" => &["log_group_id", "log_topic_id"],
        "KAFKA" => &["instance_id", "topic_ids"],
        "OPENSOURCEKAFKA" => &["topic_ids"],
        "DIS" => &["stream_name"],
        "DMS" => &["queue_id", "consumer_group_id"],
        "DDS" => &["instance_id", "db_name", "collection_name"],
        "CTS" => &["name", "operations"],
        "APIG" | "DEDICATEDGATEWAY" => &["name", "group_id", "env_id", "auth", "protocol", "type"],
        "RABBITMQ" | "ROCKETMQ" => &["instance_id"],
        _ => &[],
    }
}

fn check_timer(ed: &Map<String, Value>, f: &Function, qualifier: &str, except: Option<&str>) -> Res<()> {
    let code = "FSS.1109";
    let name = req_str(ed, "name", code)?;
    rules::timer_name(name).map_err(refused)?;
    let st = req_str(ed, "schedule_type", code)?;
    let sched = req_str(ed, "schedule", code)?;
    match st {
        "Rate" => rules::check_rate(sched),
        "Cron" => rules::check_cron(sched),
        other => Err(format!("schedule_type `{other}` is not Rate or Cron")),
    }
    .map_err(|m| Fail::bad(code, m))?;
    opt_str(ed, "user_event", code)?;
    let taken = f.triggers.iter().any(|t| {
        t.trigger_type_code == "TIMER"
            && t.qualifier == qualifier
            && Some(t.trigger_id.as_str()) != except
            && t.event_data.get("name").and_then(Value::as_str) == Some(name)
    });
    if taken {
        return Err(Fail::new(
            409,
            "FSS.1148",
            format!("a timer trigger named {name} already exists"),
        ));
    }
    Ok(())
}

fn check_other(ty: &str, ed: &Map<String, Value>, f: &Function, qualifier: &str) -> Res<()> {
    let code = invalid_code(ty);
    for field in required_fields(ty) {
        match ed.get(*field) {
            None | Some(Value::Null) => {
                return Err(Fail::bad(code, format!("event_data.{field} is required for {ty}")))
            }
            Some(Value::String(s)) if s.is_empty() => {
                return Err(Fail::bad(code, format!("event_data.{field} is required for {ty}")))
            }
            Some(Value::Array(a)) if a.is_empty() => {
                return Err(Fail::bad(
                    code,
                    format!("event_data.{field} must not be empty for {ty}"),
                ))
            }
            _ => {}
        }
    }
    if let Some(name) = ed.get("name").and_then(Value::as_str) {
        if name.chars().count() > 64 {
            return Err(Fail::bad("FSS.1317", format!("trigger name `{name}` is too long")));
        }
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            // The error table gives FSS.1319 HTTP 502, unlike its 4xx neighbours (§10).
            return Err(Fail::new(502, "FSS.1319", format!("trigger name `{name}` is invalid")));
        }
    }
    if ty == "OBS" {
        let events = ed["events"]
            .as_array()
            .ok_or_else(|| Fail::bad(code, "event_data.events must be an array"))?;
        for e in events {
            let e = e.as_str().unwrap_or("");
            if !(e.starts_with("s3:ObjectCreated:") || e.starts_with("s3:ObjectRemoved:")) {
                return Err(Fail::bad(
                    code,
                    format!("OBS event `{e}` is not s3:ObjectCreated:* or s3:ObjectRemoved:*"),
                ));
            }
        }
    }
    if ty == "KAFKA" {
        if let Some(b) = ed.get("batch_size") {
            if !b.as_i64().is_some_and(|b| (1..=1000).contains(&b)) {
                return Err(Fail::bad(code, "batch_size must be 1-1000"));
            }
        }
    }
    let same = |t: &&Trigger, fields: &[&str]| {
        t.trigger_type_code == ty
            && t.qualifier == qualifier
            && fields.iter().all(|k| t.event_data.get(*k) == ed.get(*k))
    };
    let clash = f.triggers.iter().find(|t| match ty {
        "OBS" => same(t, &["bucket", "events", "prefix", "suffix"]),
        "SMN" => same(t, &["topic_urn"]),
        "APIG" | "DEDICATEDGATEWAY" => same(t, &["group_id", "path", "req_method"]) || same(t, &["name"]),
        "KAFKA" => same(t, &["instance_id", "topic_ids"]),
        "CTS" => same(t, &["name"]),
        _ => false,
    });
    if let Some(t) = clash {
        return Err(match ty {
            "OBS" => Fail::new(409, "FSS.1145", "an OBS trigger with the same bucket and events exists"),
            "SMN" => Fail::new(409, "FSS.1141", "an SMN trigger for this topic exists"),
            "APIG" | "DEDICATEDGATEWAY" if t.event_data.get("name") == ed.get("name") => {
                Fail::new(409, "FSS.1146", "an APIG trigger with this name exists")
            }
            "APIG" | "DEDICATEDGATEWAY" => Fail::new(409, "FSS.1147", "an API with this path and method exists"),
            "KAFKA" => Fail::new(409, "FSS.1150", "a Kafka trigger for these topics exists"),
            _ => Fail::bad("FSS.1307", "a trigger with this name exists"),
        });
    }
    Ok(())
}

/// A trigger as the API returns it ([`types::Trigger`]).
fn view(t: &Trigger) -> types::Trigger {
    types::Trigger {
        trigger_id: t.trigger_id.clone(),
        trigger_type_code: t.trigger_type_code.clone(),
        trigger_status: t.trigger_status.clone(),
        event_type_code: t.event_type_code.clone(),
        event_data: t.event_data.clone(),
        last_updated_time: Timestamp::Text(t.last_updated_time.clone()),
        created_time: Timestamp::Text(t.created_time.clone()),
    }
}

pub(crate) fn create(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let (key, _, qualifier) = resolve(ctx, db, ctx.param(0))?;
    let body = ctx.json()?;
    let ty = req_str(&body, "trigger_type_code", "FSS.1101")?;
    rules::trigger_type(ty).map_err(refused)?;
    let default_status = if ty == "DDS" || ty == "KAFKA" {
        "DISABLED"
    } else {
        "ACTIVE"
    };
    let status = opt_str(&body, "trigger_status", "FSS.0400")?.unwrap_or(default_status);
    rules::trigger_status(ty, status).map_err(refused)?;
    let mut ed = opt_obj(&body, "event_data", invalid_code(ty))?
        .cloned()
        .ok_or_else(|| Fail::bad(invalid_code(ty), "event_data is required"))?;
    let f = &db.tables.functions[&key];
    if ty == "TIMER" {
        if f.latest.config.get("runtime").and_then(Value::as_str) == Some("http") {
            return Err(Fail::bad("FSS.1109", "HTTP functions cannot have TIMER triggers"));
        }
        check_timer(&ed, f, &qualifier, None)?;
    } else {
        check_other(ty, &ed, f, &qualifier)?;
    }
    let same_type = f.triggers.iter().filter(|t| t.trigger_type_code == ty).count() as u64;
    if same_type >= ctx.shared.config.quotas.triggers_per_type {
        return Err(Fail::bad(
            "FSS.1306",
            format!("this function has the most {ty} triggers allowed"),
        ));
    }
    let apig = ty == "APIG" || ty == "DEDICATEDGATEWAY";
    let id = if apig {
        uuid::Uuid::new_v4().simple().to_string()
    } else {
        uuid::Uuid::new_v4().to_string()
    };
    if apig {
        let api_id = uuid::Uuid::new_v4().simple().to_string();
        let group = ed
            .get("group_id")
            .and_then(Value::as_str)
            .unwrap_or("group")
            .to_string();
        let path = ed.get("path").and_then(Value::as_str).unwrap_or("/").to_string();
        // event_data is the caller's free-form object; APIG adds what it created to it.
        ed.insert("triggerid".into(), Value::from(id.as_str()));
        ed.insert("api_id".into(), Value::from(api_id));
        ed.insert(
            "invoke_url".into(),
            Value::from(format!(
                "https://{group}.apig.{}.huaweicloudapis.com{path}",
                ctx.region()
            )),
        );
    }
    let trigger = Trigger {
        trigger_id: id,
        qualifier,
        trigger_type_code: ty.to_string(),
        trigger_status: status.to_string(),
        event_type_code: opt_str(&body, "event_type_code", "FSS.0400")?.unwrap_or("").to_string(),
        event_data: ed,
        created_time: ctx.ts_space(),
        last_updated_time: ctx.ts_space(),
    };
    let out = view(&trigger);
    db.tables
        .functions
        .get_mut(&key)
        .expect("resolved")
        .triggers
        .push(trigger);
    db.touch(Table::Functions, &key);
    Resp::created(out)
}

pub(crate) fn list(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let (key, _, qualifier) = resolve(ctx, db, ctx.param(0))?;
    let f = &db.tables.functions[&key];
    let views: Vec<types::Trigger> = f
        .triggers
        .iter()
        .filter(|t| t.qualifier == qualifier)
        .map(view)
        .collect();
    Resp::ok(views)
}

pub(crate) fn delete_all(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let (key, target, qualifier) = resolve(ctx, db, ctx.param(0))?;
    let f = db.tables.functions.get_mut(&key).expect("resolved");
    if target == Target::Latest {
        f.triggers.clear();
    } else {
        f.triggers.retain(|t| t.qualifier != qualifier);
    }
    db.touch(Table::Functions, &key);
    Resp::no_content()
}

fn find(ctx: &Ctx<'_>, db: &Db) -> Res<(String, usize)> {
    let (key, _, qualifier) = resolve(ctx, db, ctx.param(0))?;
    let (ty, id) = (ctx.param(1), ctx.param(2));
    let f = &db.tables.functions[&key];
    let i = f
        .triggers
        .iter()
        .position(|t| t.trigger_id == id && t.trigger_type_code == ty && t.qualifier == qualifier)
        .ok_or_else(|| Fail::new(404, not_found_code(ty), format!("Not found the {ty} trigger {id}")))?;
    Ok((key, i))
}

pub(crate) fn show(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let (key, i) = find(ctx, db)?;
    Resp::ok(view(&db.tables.functions[&key].triggers[i]))
}

pub(crate) fn update(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let (key, i) = find(ctx, db)?;
    let body = ctx.json()?;
    let f = &db.tables.functions[&key];
    let t = &f.triggers[i];
    let ty = t.trigger_type_code.clone();
    let status = opt_str(&body, "trigger_status", "FSS.0400")?.map(str::to_string);
    if let Some(s) = &status {
        rules::trigger_status(&ty, s).map_err(refused)?;
    }
    // Both documented shapes: an object merges into event_data; an array merges its
    // first element.
    let patch = match body.get("event_data") {
        None | Some(Value::Null) => None,
        Some(Value::Object(o)) => Some(o.clone()),
        Some(Value::Array(a)) => match a.first() {
            Some(Value::Object(o)) => Some(o.clone()),
            None => None,
            _ => return Err(Fail::bad(invalid_code(&ty), "event_data items must be objects")),
        },
        Some(_) => return Err(Fail::bad(invalid_code(&ty), "event_data must be an object or an array")),
    };
    let mut ed = t.event_data.clone();
    if let Some(p) = patch {
        for (k, v) in p {
            ed.insert(k, v);
        }
        if ty == "TIMER" {
            check_timer(&ed, f, &t.qualifier, Some(&t.trigger_id))?;
        } else {
            for field in required_fields(&ty) {
                if ed.get(*field).is_none_or(Value::is_null) {
                    return Err(Fail::bad(
                        invalid_code(&ty),
                        format!("event_data.{field} is required for {ty}"),
                    ));
                }
            }
        }
    }
    let ts = ctx.ts_space();
    let t = &mut db.tables.functions.get_mut(&key).expect("found").triggers[i];
    t.event_data = ed;
    if let Some(s) = status {
        t.trigger_status = s;
    }
    t.last_updated_time = ts;
    let out = view(t);
    db.touch(Table::Functions, &key);
    Resp::ok(out)
}

pub(crate) fn delete(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let (key, i) = find(ctx, db)?;
    db.tables.functions.get_mut(&key).expect("found").triggers.remove(i);
    db.touch(Table::Functions, &key);
    Resp::no_content()
}

/// Triggers of a function.
pub(super) fn routes(r: Routes) -> Routes {
    use Operation::*;
    r.op(CreateFunctionTrigger, |c, db, _| create(c, db))
        .op(ListFunctionTriggers, |c, db, _| list(c, db))
        .op(BatchDeleteFunctionTriggers, |c, db, _| delete_all(c, db))
        .op(ShowFunctionTrigger, |c, db, _| show(c, db))
        .op(UpdateTrigger, |c, db, _| update(c, db))
        .op(DeleteFunctionTrigger, |c, db, _| delete(c, db))
}
