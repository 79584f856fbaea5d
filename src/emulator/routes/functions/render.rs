//! A function as the API shows it: [`FunctionConfig`] and [`FunctionCode`] serialized,
//! with the fields the client does not model in their `extra` maps (in the service's order:
//! the client keeps them verbatim).

use serde_json::{json, Map, Value};

use super::super::{snapshot, Ctx, Target};
use crate::api::limits;
use crate::api::types::{CompactObject, FuncCode, FunctionCode, FunctionConfig, StrategyConfig, Timestamp};
use crate::emulator::store::{Db, Function, Snapshot};

/// Renders a function snapshot as the API does (`full`: show/create/update; otherwise a
/// list item without the heavy fields).
pub(crate) fn render(ctx: &Ctx<'_>, db: &Db, f: &Function, target: &Target, full: bool) -> Value {
    let mut out = serde_json::to_value(view(ctx, db, f, target, full)).expect("a function config serializes");
    if !full {
        // List items carry no dependency fields.
        out.as_object_mut().map(|m| m.shift_remove("depend_version_list"));
    }
    out
}

/// [`render`] of a whole function (`full`), as the typed view a handler answers with
/// directly (no `Value` copy on the way to the wire).
pub(crate) fn view(ctx: &Ctx<'_>, db: &Db, f: &Function, target: &Target, full: bool) -> FunctionConfig {
    let snap = snapshot(f, target);
    let qualifier = match target {
        Target::Latest => "latest".to_string(),
        Target::Version(_) => snap.version.clone(),
        Target::Alias(a) => format!("!{a}"),
    };
    let urn = if full {
        ctx.qualified_urn(f, &qualifier)
    } else {
        ctx.function_urn(f)
    };
    let mut config = typed_config(f, snap, urn);
    let mut fields = Map::new();
    let extra = &mut fields;
    extra.insert("domain_id".into(), json!(domain_id(&f.project)));
    extra.insert("namespace".into(), json!(f.project));
    extra.insert("project_name".into(), json!(ctx.region()));
    extra.insert("image_name".into(), json!(snap.image_name));
    if !snap.version_description.is_empty() {
        extra.insert("version_description".into(), json!(snap.version_description));
    }
    if full {
        full_fields(db, f, snap, extra);
    } else {
        list_fields(snap, extra);
    }
    service_fields(snap, full, extra);
    if full && !matches!(target, Target::Latest) {
        if let Some(cfg) = f.async_configs.get(&qualifier) {
            extra.insert("function_async_config".into(), cfg.clone());
        }
    }
    config.extra = CompactObject::from_map(&fields);
    config
}

/// The fields the client models, from the snapshot's configuration and code.
fn typed_config(f: &Function, snap: &Snapshot, func_urn: String) -> FunctionConfig {
    let c = &snap.config;
    let text = |k: &str, default: &str| c.get(k).and_then(Value::as_str).unwrap_or(default).to_string();
    let memory = c.get("memory_size").and_then(Value::as_i64).unwrap_or(128);
    let sc = c.get("strategy_config").and_then(Value::as_object);
    let strategy = |k: &str, default: i64| Some(sc.and_then(|sc| sc.get(k)).and_then(Value::as_i64).unwrap_or(default));
    FunctionConfig {
        func_id: f.func_id.clone(),
        resource_id: format!("{}:{}", f.func_id, f.name),
        func_urn,
        func_name: f.name.clone(),
        package: f.package.clone(),
        runtime: text("runtime", ""),
        handler: text("handler", ""),
        memory_size: memory,
        timeout: c.get("timeout").and_then(Value::as_i64).unwrap_or(3),
        cpu: limits::cpu_for_memory(memory),
        code_type: snap.code.code_type.clone(),
        code_url: snap.code.code_url.clone(),
        code_filename: snap.code.code_filename.clone(),
        code_size: snap.code.code_size as i64,
        digest: snap.code.digest.clone(),
        user_data: text("user_data", ""),
        encrypted_user_data: mask(c.get("encrypted_user_data").and_then(Value::as_str)),
        description: text("description", ""),
        xrole: text("xrole", ""),
        app_xrole: text("app_xrole", ""),
        version: snap.version.clone(),
        kind: text("type", "v2"),
        enterprise_project_id: text("enterprise_project_id", "0"),
        last_modified: Timestamp::Text(snap.last_modified.clone()),
        strategy_config: Some(StrategyConfig {
            concurrency: strategy("concurrency", -1),
            concurrent_num: strategy("concurrent_num", 1),
        }),
        depend_version_list: snap.code.depend_version_list.clone(),
        extra: CompactObject::default(),
    }
}

/// Show/create/update only: network, mounts and dependencies.
fn full_fields(db: &Db, f: &Function, snap: &Snapshot, extra: &mut Map<String, Value>) {
    let c = &snap.config;
    for key in ["func_vpc", "mount_config"] {
        if let Some(v) = c.get(key) {
            extra.insert(key.into(), v.clone());
        }
    }
    let deps = dependency_views(db, &f.project, &snap.code.depend_version_list);
    let dep_ids: Vec<Value> = deps.iter().map(|d| d["dep_id"].clone()).collect();
    extra.insert("depend_list".into(), Value::Array(dep_ids));
    extra.insert("dependencies".into(), Value::Array(deps));
}

/// List items only: the VPC id and the list's own counters.
fn list_fields(snap: &Snapshot, extra: &mut Map<String, Value>) {
    let c = &snap.config;
    let vpc_id = c.get("func_vpc").and_then(|v| v.get("vpc_id")).cloned();
    extra.insert("func_vpc_id".into(), vpc_id.unwrap_or(json!("")));
    extra.insert("fail_count".into(), json!(0));
    extra.insert("bind_bridge_funcUrns".into(), json!([]));
    extra.insert(
        "extend_config".into(),
        c.get("extend_config").cloned().unwrap_or(json!("")),
    );
}

/// Hooks, logging and the service's flags, then every other accepted configuration field.
fn service_fields(snap: &Snapshot, full: bool, extra: &mut Map<String, Value>) {
    let c = &snap.config;
    for key in [
        "initializer_handler",
        "initializer_timeout",
        "pre_stop_handler",
        "pre_stop_timeout",
    ] {
        if let Some(v) = c.get(key) {
            extra.insert(key.into(), v.clone());
        }
    }
    let timeout = c.get("timeout").and_then(Value::as_i64).unwrap_or(3);
    extra.insert("long_time".into(), json!(timeout > 900));
    let log = c.get("log_config");
    for (key, field) in [("log_group_id", "group_id"), ("log_stream_id", "stream_id")] {
        let id = log.and_then(|l| l.get(field)).cloned();
        extra.insert(key.into(), id.unwrap_or(json!("")));
    }
    extra.insert("is_bridge_function".into(), json!(false));
    extra.insert("apig_route_enable".into(), json!(false));
    if full {
        extra.insert("reserved_instance_count".into(), json!(0));
        extra.insert(
            "allow_ephemeral_storage".into(),
            json!(c.contains_key("ephemeral_storage")),
        );
    }
    for (k, v) in c {
        if !extra.contains_key(k) && !MODELLED.contains(&k.as_str()) {
            extra.insert(k.clone(), v.clone());
        }
    }
}

/// Configuration keys rendered by [`typed_config`] or deliberately left out
/// (`func_vpc` and `mount_config` appear in full views only).
const MODELLED: &[&str] = &[
    "runtime",
    "handler",
    "memory_size",
    "timeout",
    "user_data",
    "encrypted_user_data",
    "description",
    "xrole",
    "app_xrole",
    "type",
    "enterprise_project_id",
    "strategy_config",
    "func_vpc",
    "mount_config",
];

/// `GET`/`PUT …/code`.
pub(super) fn code_view(ctx: &Ctx<'_>, db: &Db, f: &Function, target: &Target) -> Value {
    let snap = snapshot(f, target);
    let full = render(ctx, db, f, target, true);
    let mut extra = Map::new();
    extra.insert("domain_id".into(), json!(domain_id(&f.project)));
    for key in ["depend_list", "strategy_config", "dependencies"] {
        extra.insert(key.into(), full[key].clone());
    }
    extra.insert(
        "code_encrypt_kms_key_id".into(),
        json!(snap.code.code_encrypt_kms_key_id),
    );
    let code = FunctionCode {
        func_urn: full["func_urn"].as_str().unwrap_or_default().to_string(),
        func_name: f.name.clone(),
        runtime: full["runtime"].as_str().unwrap_or_default().to_string(),
        code_type: snap.code.code_type.clone(),
        code_url: snap.code.code_url.clone(),
        code_filename: snap.code.code_filename.clone(),
        code_size: snap.code.code_size as i64,
        digest: snap.code.digest.clone(),
        last_modified: Timestamp::Text(snap.last_modified.clone()),
        func_code: FuncCode {
            file: Some(String::new()),
            link: Some(String::new()),
        },
        depend_version_list: snap.code.depend_version_list.clone(),
        extra,
    };
    serde_json::to_value(&code).expect("a function code view serializes")
}

/// `encrypted_user_data` comes back with its values blanked: `{"password":""}`.
pub(super) fn mask(s: Option<&str>) -> String {
    match s.and_then(|s| serde_json::from_str::<Map<String, Value>>(s).ok()) {
        Some(obj) => {
            let masked: Map<String, Value> = obj.into_iter().map(|(k, _)| (k, json!(""))).collect();
            Value::Object(masked).to_string()
        }
        None => String::new(),
    }
}

/// A stable 32-hex account (domain) id for a project.
pub(crate) fn domain_id(project: &str) -> String {
    crate::api::signing::sha256_hex(format!("domain:{project}").as_bytes())[..32].to_string()
}

/// The `dependencies` of a full view. Built in the service's key order rather than from
/// `api::types::DependencyVersion`: the client keeps this list verbatim in a function's state
/// attributes, so its order shows in plans.
fn dependency_views(db: &Db, project: &str, ids: &[String]) -> Vec<Value> {
    ids.iter()
        .filter_map(|id| super::super::shared::find_version(db, project, id))
        .map(|(pkg, v)| {
            json!({
                "id": v.id, "owner": domain_id(project), "link": v.link, "runtime": v.runtime, "etag": v.etag,
                "size": v.size, "name": pkg.name, "description": v.description, "file_name": v.file_name,
                "version": v.version, "dep_id": pkg.dep_id, "last_modified": v.last_modified,
            })
        })
        .collect()
}
