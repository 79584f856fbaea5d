//! Published versions and aliases (§4).

use serde_json::{Map, Value};

use super::functions::render;
use super::{marker_page, opt_obj, opt_str, page, refused, req_str, resolve, Ctx, Resp, Routes, Target};
use crate::api::types::{self, Timestamp, VersionPage};
use crate::api::{rules, Operation};
use crate::emulator::fail::{Fail, Res};
use crate::emulator::store::{Alias, Db, Function, Table};

pub(crate) fn publish(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let (key, target, _) = resolve(ctx, db, ctx.param(0))?;
    if target != Target::Latest {
        return Err(Fail::bad("FSS.1015", "versions are published from latest"));
    }
    let body = ctx.json_value()?.unwrap_or_else(|| Value::Object(Map::new()));
    let body = body
        .as_object()
        .cloned()
        .ok_or_else(|| Fail::param("the request body must be a JSON object"))?;
    let f = &db.tables.functions[&key];
    let name = match opt_str(&body, "version", "FSS.1015")?.filter(|s| !s.is_empty()) {
        Some(v) => v.to_string(),
        None => ctx.now.format("%Y%m%d-%H%M%S").to_string(),
    };
    rules::version_name(&name).map_err(refused)?;
    if let Some(d) = opt_str(&body, "digest", "FSS.0400")?.filter(|s| !s.is_empty()) {
        if d != f.latest.code.digest {
            return Err(Fail::param(
                "digest does not match the code of latest; it changed since you read it",
            ));
        }
    }
    let description = super::opt_description(&body)?.unwrap_or("");
    if f.versions.iter().any(|v| v.version == name) {
        return Err(Fail::new(409, "FSS.1062", format!("version {name} already exists")));
    }
    if let Some(last) = f.versions.last() {
        if last.code == f.latest.code && last.config == f.latest.config {
            return Err(Fail::bad(
                "FSS.1016",
                "nothing changed since the last published version",
            ));
        }
    }
    let mut snap = f.latest.clone();
    snap.version = name.clone();
    snap.version_description = description.to_string();
    snap.last_modified = ctx.ts();
    snap.image_name = format!(
        "{name}-{}",
        f.latest.image_name.split_once('-').map(|x| x.1).unwrap_or("")
    );
    let f = db.tables.functions.get_mut(&key).expect("resolved");
    f.versions.push(snap);
    let index = f.versions.len() - 1;
    db.touch(Table::Functions, &key);
    let f = &db.tables.functions[&key];
    Resp::ok(render(ctx, db, f, &Target::Version(index), true))
}

pub(crate) fn list(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let (key, _, _) = resolve(ctx, db, ctx.param(0))?;
    let (start, items) = marker_page(ctx, 400)?;
    let f = &db.tables.functions[&key];
    let mut all = vec![Target::Latest];
    all.extend((0..f.versions.len()).map(Target::Version));
    let (page, next, count) = page(all, start, items);
    // Items are functions as `render` writes them (with keys FunctionConfig does not model),
    // plus the list's own keys.
    let versions: Vec<Value> = page
        .iter()
        .map(|t| {
            let mut v = render(ctx, db, f, t, true);
            let q = match t {
                Target::Version(i) => f.versions[*i].version.clone(),
                _ => "latest".into(),
            };
            v["concurrency"] = v["strategy_config"]["concurrency"].clone();
            v["concurrent_num"] = v["strategy_config"]["concurrent_num"].clone();
            if let Some(cfg) = f.async_configs.get(&q) {
                v["function_async_config"] = cfg.clone();
            }
            v
        })
        .collect();
    let out = VersionPage {
        versions,
        next_marker: Some(next as i64),
        count: Some(count as i64),
    };
    Resp::ok(out)
}

/// An alias as the API returns it ([`types::Alias`]).
fn alias_view(ctx: &Ctx<'_>, f: &Function, a: &Alias) -> Value {
    let out = types::Alias {
        name: a.name.clone(),
        version: a.version.clone(),
        description: a.description.clone(),
        alias_urn: ctx.qualified_urn(f, &format!("!{}", a.name)),
        last_modified: Timestamp::Text(a.last_modified.clone()),
        additional_version_weights: Some(a.additional_version_weights.clone()),
        additional_version_strategy: Some(a.additional_version_strategy.clone()),
    };
    serde_json::to_value(out).expect("an alias serializes")
}

fn version_exists(f: &Function, v: &str) -> bool {
    v == "latest" || f.versions.iter().any(|s| s.version == v)
}

/// The checked fields of an alias create/update body.
struct AliasFields {
    version: String,
    description: String,
    weights: Map<String, Value>,
    strategy: Map<String, Value>,
}

/// Validates version, description and the gray settings of an alias body.
fn alias_fields(f: &Function, body: &Map<String, Value>) -> Res<AliasFields> {
    let version = req_str(body, "version", "FSS.1015")?.to_string();
    if !version_exists(f, &version) {
        return Err(Fail::bad("FSS.1015", format!("version {version} does not exist")));
    }
    let description = super::opt_description(body)?.unwrap_or("").to_string();
    let weights = opt_obj(body, "additional_version_weights", "FSS.1092")?
        .cloned()
        .unwrap_or_default();
    let pairs: Vec<(&str, Option<i64>)> = weights.iter().map(|(v, w)| (v.as_str(), w.as_i64())).collect();
    rules::alias_weights(&version, &pairs).map_err(refused)?;
    if let Some(v) = weights.keys().find(|v| !version_exists(f, v)) {
        return Err(Fail::bad("FSS.1091", format!("gray version {v} does not exist")));
    }
    let strategy = opt_obj(body, "additional_version_strategy", "FSS.1091")?
        .cloned()
        .unwrap_or_default();
    for v in strategy.keys() {
        if !version_exists(f, v) {
            return Err(Fail::bad("FSS.1091", format!("gray version {v} does not exist")));
        }
        if *v == version {
            return Err(Fail::bad("FSS.1093", "the gray version is the alias's main version"));
        }
    }
    if !weights.is_empty() && !strategy.is_empty() {
        return Err(Fail::bad(
            "FSS.1091",
            "use either additional_version_weights or additional_version_strategy",
        ));
    }
    Ok(AliasFields {
        version,
        description,
        weights,
        strategy,
    })
}

pub(crate) fn create_alias(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let (key, _, _) = resolve(ctx, db, ctx.param(0))?;
    let body = ctx.json()?;
    let f = &db.tables.functions[&key];
    let name = req_str(&body, "name", "FSS.1014")?.to_string();
    rules::alias_name(&name).map_err(refused)?;
    let AliasFields {
        version,
        description,
        weights,
        strategy,
    } = alias_fields(f, &body)?;
    if f.aliases.contains_key(&name) {
        return Err(Fail::new(409, "FSS.1063", format!("alias {name} already exists")));
    }
    if f.aliases.len() as u64 >= ctx.shared.config.quotas.aliases {
        return Err(Fail::new(
            403,
            "FSS.1043",
            "the alias quota of this function is used up",
        ));
    }
    let alias = Alias {
        name: name.clone(),
        version,
        description,
        last_modified: ctx.ts_space(),
        additional_version_weights: weights,
        additional_version_strategy: strategy,
    };
    let view = alias_view(ctx, f, &alias);
    db.tables
        .functions
        .get_mut(&key)
        .expect("resolved")
        .aliases
        .insert(name, alias);
    db.touch(Table::Functions, &key);
    Resp::ok(view)
}

pub(crate) fn list_aliases(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let (key, _, _) = resolve(ctx, db, ctx.param(0))?;
    let f = &db.tables.functions[&key];
    Resp::ok(Value::Array(
        f.aliases.values().map(|a| alias_view(ctx, f, a)).collect(),
    ))
}

fn alias_name(raw: &str) -> &str {
    raw.strip_prefix('!').unwrap_or(raw)
}

fn not_found() -> Fail {
    Fail::new(404, "FSS.1053", "Not found the function alias")
}

pub(crate) fn show_alias(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let (key, _, _) = resolve(ctx, db, ctx.param(0))?;
    let f = &db.tables.functions[&key];
    let a = f.aliases.get(alias_name(ctx.param(1))).ok_or_else(not_found)?;
    Resp::ok(alias_view(ctx, f, a))
}

pub(crate) fn update_alias(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let (key, _, _) = resolve(ctx, db, ctx.param(0))?;
    let name = alias_name(ctx.param(1)).to_string();
    let body = ctx.json()?;
    let f = &db.tables.functions[&key];
    if !f.aliases.contains_key(&name) {
        return Err(not_found());
    }
    let AliasFields {
        version,
        description,
        weights,
        strategy,
    } = alias_fields(f, &body)?;
    let ts = ctx.ts_space();
    let f = db.tables.functions.get_mut(&key).expect("resolved");
    let a = f.aliases.get_mut(&name).expect("checked");
    a.version = version;
    a.description = description;
    a.additional_version_weights = weights;
    a.additional_version_strategy = strategy;
    a.last_modified = ts;
    db.touch(Table::Functions, &key);
    let f = &db.tables.functions[&key];
    Resp::ok(alias_view(ctx, f, &f.aliases[&name]))
}

pub(crate) fn delete_alias(ctx: &Ctx<'_>, db: &mut Db) -> Res<Resp> {
    let (key, _, _) = resolve(ctx, db, ctx.param(0))?;
    let name = alias_name(ctx.param(1)).to_string();
    let f = db.tables.functions.get_mut(&key).expect("resolved");
    if !f.aliases.contains_key(&name) {
        return Err(not_found());
    }
    let q = format!("!{name}");
    if f.triggers.iter().any(|t| t.qualifier == q) {
        return Err(Fail::new(
            403,
            "FSS.1154",
            format!("alias {name} has triggers; delete them first"),
        ));
    }
    f.aliases.remove(&name);
    f.async_configs.remove(&q);
    let urn = ctx.function_urn(f);
    ctx.shared.runtime.metrics.forget_name(&urn, None, Some(&name));
    db.touch(Table::Functions, &key);
    Resp::no_content()
}

/// Versions and aliases of a function.
pub(super) fn routes(r: Routes) -> Routes {
    use Operation::*;
    r.op(ListFunctionVersions, |c, db, _| list(c, db))
        .op(CreateFunctionVersion, |c, db, _| publish(c, db))
        .op(ListVersionAliases, |c, db, _| list_aliases(c, db))
        .op(CreateVersionAlias, |c, db, _| create_alias(c, db))
        .op(ShowVersionAlias, |c, db, _| show_alias(c, db))
        .op(UpdateVersionAlias, |c, db, _| update_alias(c, db))
        .op(DeleteVersionAlias, |c, db, _| delete_alias(c, db))
}
