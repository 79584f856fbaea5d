//! One function's manifest entry: its configuration, triggers, async config, versions and
//! aliases, in the manifest's key names.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::yaml::Comments;
use super::{Code, FoundFunction, Generated, Names, SecretVar};
use crate::api::types::{AsyncInvokeConfig, Destination, Trigger};
use crate::api::urn::without_latest;
use crate::model::limits::OWNERSHIP_TAG_KEY;
use crate::model::Address;
use crate::plan::diff::parse_json_string;

/// `functions.NAME`; records its imports and secrets in `out`.
pub(super) fn function(
    f: &FoundFunction,
    names: &Names,
    out: &mut Generated,
    comments: &mut Comments,
) -> Map<String, Value> {
    let c = &f.config;
    let name = c.func_name.as_str();
    let path = format!("functions.{name}");
    let mut spec = Map::new();
    let mut put = |key: &str, value: Value| {
        spec.insert(key.into(), value);
    };
    put("runtime", c.runtime.clone().into());
    put("handler", names.text(&c.handler).into());
    put("memory", c.memory_size.into());
    put("timeout", c.timeout.into());
    match &f.code {
        Code::Folder(dir) => put("code", dir.clone().into()),
        Code::Obs(url) => put("code", url.clone().into()),
        Code::Archive { path: file, why } => {
            comments.insert(format!("{path}.code"), vec![why.clone()]);
            put("code", file.clone().into());
        }
        Code::Missing => {
            comments.insert(
                format!("{path}.code"),
                vec!["the export API gave no code for this function: put its code in this folder".into()],
            );
            put("code", format!("./functions/{name}").into());
        }
    }
    if !c.description.is_empty() {
        put("description", names.text(&c.description).into());
    }
    if !c.package.is_empty() && c.package != "default" {
        put("app", c.package.clone().into());
    }
    if let Value::Object(env) = parse_json_string(&c.user_data) {
        if !env.is_empty() {
            put("environment", names.value(&Value::Object(stringified(env))));
        }
    }
    if let Some(placeholders) = secrets(c, out, comments) {
        put("secrets", placeholders);
    }
    let deps: Vec<Value> = c
        .depend_version_list
        .iter()
        .filter_map(|id| names.dependencies.get(id).cloned().map(Value::String))
        .collect();
    if deps.len() < c.depend_version_list.len() {
        comments.insert(
            format!("{path}.dependencies"),
            vec!["it also uses dependency versions this stack does not declare (public packages, or another version of a package declared here): planning sets its dependencies to the ones listed".into()],
        );
    }
    if !deps.is_empty() {
        put("dependencies", Value::Array(deps));
    }
    if !c.xrole.is_empty() {
        put("agency", c.xrole.clone().into());
    }
    if !c.app_xrole.is_empty() && c.app_xrole != c.xrole {
        put("app_agency", c.app_xrole.clone().into());
    }
    if let Some(s) = &c.strategy_config {
        if s.concurrency.is_some_and(|n| n != -1) {
            put("max_instances", s.concurrency.into());
        }
        if s.concurrent_num.is_some_and(|n| n != 1) {
            put("concurrency_per_instance", s.concurrent_num.into());
        }
    }
    settings(c, &mut spec);
    let tags: Map<String, Value> = f
        .tags
        .iter()
        .filter(|t| t.key != OWNERSHIP_TAG_KEY)
        .map(|t| (t.key.clone(), t.value.clone().into()))
        .collect();
    if !tags.is_empty() {
        spec.insert("tags".into(), Value::Object(tags));
    }
    out.imports
        .push((Address::Function(name.into()), without_latest(&c.func_urn).to_string()));
    releases(f, &mut spec, out, comments);
    let triggers = triggers(f, names, out);
    if !triggers.is_empty() {
        spec.insert("triggers".into(), Value::Object(triggers));
    }
    if let Some(async_config) = async_of(f, names, out, comments) {
        spec.insert("async".into(), async_config);
    }
    spec
}

/// `secrets:` as `${env:…}` placeholders, each recorded in `out` (the API masks the values).
fn secrets(c: &crate::api::types::FunctionConfig, out: &mut Generated, comments: &mut Comments) -> Option<Value> {
    let Value::Object(secrets) = parse_json_string(&c.encrypted_user_data) else {
        return None;
    };
    let name = c.func_name.as_str();
    let mut placeholders = Map::new();
    for key in secrets.keys() {
        // `api-db`'s `PASS` and `api`'s `DB_PASS` would read one variable: the second gets `_2`.
        let base = secret_var(name, key);
        let mut var = base.clone();
        let mut n = 1;
        while out.secrets.iter().any(|s| s.var == var) {
            n += 1;
            var = format!("{base}_{n}");
        }
        placeholders.insert(key.clone(), format!("${{env:{var}}}").into());
        out.secrets.push(SecretVar {
            function: name.into(),
            key: key.clone(),
            var,
        });
    }
    if placeholders.is_empty() {
        return None;
    }
    comments.insert(
        format!("functions.{name}.secrets"),
        vec!["The API never returns secret values: set these variables to them before planning.".into()],
    );
    Some(Value::Object(placeholders))
}

/// `async:`: latest's config, else the first alias's (a manifest declares one), recorded in `out`.
fn async_of(f: &FoundFunction, names: &Names, out: &mut Generated, comments: &mut Comments) -> Option<Value> {
    let name = f.config.func_name.as_str();
    let (a, qualifier) = f
        .async_config
        .as_ref()
        .map(|a| (a, None))
        .or_else(|| f.alias_async.iter().next().map(|(alias, a)| (a, Some(alias.clone()))))?;
    out.imports.push((
        Address::Async(name.into()),
        without_latest(&f.config.func_urn).to_string(),
    ));
    let more = f.alias_async.len() + usize::from(f.async_config.is_some()) - 1;
    if more > 0 {
        comments.insert(
            format!("functions.{name}.async"),
            vec![format!(
                "{more} more async config(s) under other qualifiers: a manifest declares one per function"
            )],
        );
    }
    Some(Value::Object(async_spec(a, qualifier.as_deref(), names)))
}

/// The blocks the API takes as they are: VPC, mounts, hooks, logs.
fn settings(c: &crate::api::types::FunctionConfig, spec: &mut Map<String, Value>) {
    let extra = &c.extra.to_map();
    let object = |key: &str| extra.get(key).and_then(Value::as_object).filter(|o| !o.is_empty());
    if let Some(vpc) = object("func_vpc").filter(|v| !crate::plan::diff::is_empty(v.get("vpc_id"))) {
        spec.insert("vpc".into(), Value::Object(non_empty(vpc)));
    }
    if let Some(mount) = object("mount_config") {
        let user = mount.get("mount_user").and_then(Value::as_object);
        let default_user = user.is_none_or(|u| {
            u.get("user_id").and_then(Value::as_i64) == Some(-1)
                && u.get("user_group_id").and_then(Value::as_i64) == Some(-1)
        });
        if let (Some(u), false) = (user, default_user) {
            spec.insert("mount_user".into(), Value::Object(u.clone()));
        }
        if let Some(mounts) = mount
            .get("func_mounts")
            .and_then(Value::as_array)
            .filter(|m| !m.is_empty())
        {
            spec.insert("mounts".into(), Value::Array(mounts.clone()));
        }
    }
    for (key, prefix) in [("initializer", "initializer"), ("pre_stop", "pre_stop")] {
        let handler = extra
            .get(&format!("{prefix}_handler"))
            .and_then(Value::as_str)
            .unwrap_or("");
        if !handler.is_empty() {
            let timeout = extra.get(&format!("{prefix}_timeout")).cloned().unwrap_or(Value::Null);
            spec.insert(key.into(), json!({"handler": handler, "timeout": timeout}));
        }
    }
    if let Some(log) = object("log_config") {
        let log = non_empty(log);
        if !log.is_empty() {
            spec.insert("log".into(), Value::Object(log));
        }
    }
}

/// `versions:` and `aliases:`. Versions are kept as they are (`publish: never`): which
/// changes should publish one is a choice the live project does not record.
fn releases(f: &FoundFunction, spec: &mut Map<String, Value>, out: &mut Generated, comments: &mut Comments) {
    let name = &f.config.func_name;
    let path = format!("functions.{name}");
    if f.versions.is_empty() && f.aliases.is_empty() {
        return;
    }
    spec.insert("versions".into(), json!({"publish": "never"}));
    comments.insert(
        format!("{path}.versions"),
        vec![
            format!("{} published version(s): {}.", f.versions.len(), f.versions.join(", ")),
            "`publish: on-change` makes apply publish one whenever the function changes.".into(),
        ],
    );
    let mut aliases = Map::new();
    for a in &f.aliases {
        let mut alias = Map::new();
        alias.insert("version".into(), a.version.clone().into());
        if let Some(weights) = a.additional_version_weights.as_ref().filter(|w| !w.is_empty()) {
            alias.insert("weights".into(), Value::Object(weights.clone()));
        }
        if !a.description.is_empty() {
            alias.insert("description".into(), a.description.replace("${", "$${").into());
        }
        if a.additional_version_strategy.as_ref().is_some_and(|s| !s.is_empty()) {
            comments.insert(
                format!("{path}.aliases.{}", a.name),
                vec!["its additional_version_strategy (rule-based routing) has no manifest key: planning leaves it as it is".into()],
            );
        }
        aliases.insert(a.name.clone(), Value::Object(alias));
        out.imports.push((
            Address::Alias {
                function: name.clone(),
                alias: a.name.clone(),
            },
            a.alias_urn.clone(),
        ));
    }
    if !aliases.is_empty() {
        spec.insert("aliases".into(), Value::Object(aliases));
    }
}

/// `triggers:` named by their timer name, else by type (`obs`, `obs-2`, …), each recorded.
fn triggers(f: &FoundFunction, names: &Names, out: &mut Generated) -> Map<String, Value> {
    let mut all: Vec<(Option<&str>, &Trigger)> = f.triggers.iter().map(|t| (None, t)).collect();
    for (alias, list) in &f.alias_triggers {
        all.extend(list.iter().map(|t| (Some(alias.as_str()), t)));
    }
    all.sort_by_key(|(q, t)| (t.trigger_type_code.clone(), q.map(str::to_string), event_key(t)));
    let mut map = Map::new();
    let mut taken: BTreeMap<String, usize> = BTreeMap::new();
    for (qualifier, t) in all {
        let timer_name = (t.trigger_type_code == "TIMER")
            .then(|| t.event_data.get("name").and_then(Value::as_str))
            .flatten();
        let name = match timer_name {
            Some(n) if !map.contains_key(n) => n.to_string(),
            _ => {
                let base = t.trigger_type_code.to_ascii_lowercase();
                let n = taken.entry(base.clone()).or_insert(0);
                *n += 1;
                let mut candidate = if *n == 1 { base.clone() } else { format!("{base}-{n}") };
                while map.contains_key(&candidate) {
                    *n += 1;
                    candidate = format!("{base}-{n}");
                }
                candidate
            }
        };
        let mut spec = Map::new();
        if t.trigger_type_code == "TIMER" {
            let schedule = t.event_data.get("schedule").cloned().unwrap_or(Value::Null);
            let kind = match t.event_data.get("schedule_type").and_then(Value::as_str) {
                Some("Cron") => "cron",
                _ => "rate",
            };
            spec.insert("timer".into(), json!({ kind: schedule }));
            if let Some(payload) = t
                .event_data
                .get("user_event")
                .and_then(Value::as_str)
                .filter(|p| !p.is_empty())
            {
                spec.insert("payload".into(), names.text(payload).into());
            }
        } else {
            spec.insert("type".into(), t.trigger_type_code.clone().into());
            spec.insert("event_data".into(), names.value(&Value::Object(t.event_data.clone())));
        }
        if t.trigger_status == "DISABLED" {
            spec.insert("enabled".into(), false.into());
        }
        if let Some(q) = qualifier {
            spec.insert("qualifier".into(), q.into());
        }
        out.imports.push((
            Address::Trigger {
                function: f.config.func_name.clone(),
                trigger: name.clone(),
            },
            t.trigger_id.clone(),
        ));
        map.insert(name, Value::Object(spec));
    }
    map
}

fn event_key(t: &Trigger) -> String {
    serde_json::to_string(&t.event_data).unwrap_or_default()
}

/// `async:`.
fn async_spec(a: &AsyncInvokeConfig, qualifier: Option<&str>, names: &Names) -> Map<String, Value> {
    let mut spec = Map::new();
    if let Some(age) = a.max_async_event_age_in_seconds {
        spec.insert("max_event_age".into(), age.into());
    }
    if let Some(retries) = a.max_async_retry_attempts {
        spec.insert("max_retries".into(), retries.into());
    }
    if let Some(log) = a.enable_async_status_log {
        spec.insert("status_log".into(), log.into());
    }
    if let Some(d) = &a.destination_config {
        for (key, dest) in [("on_success", &d.on_success), ("on_failure", &d.on_failure)] {
            if let Some(dest) = dest.as_ref().filter(|d| !d.destination.is_empty()) {
                spec.insert(key.into(), destination(dest, names));
            }
        }
    }
    if let Some(q) = qualifier {
        spec.insert("qualifier".into(), q.into());
    }
    spec
}

/// A destination in the manifest's form (`function: NAME`, `smn: URN`, …).
fn destination(d: &Destination, names: &Names) -> Value {
    let param = parse_json_string(&d.param);
    let field = |key: &str| param.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
    match d.destination.as_str() {
        "FunctionGraph" => json!({"function": names.function(&field("func_urn"))}),
        "SMN" => json!({"smn": names.text(&field("topic_urn"))}),
        "DIS" => json!({"dis": names.text(&field("stream_name"))}),
        "OBS" => json!({"obs": names.value(&param)}),
        other => json!({ other.to_ascii_lowercase(): names.value(&param) }),
    }
}

/// The environment variable a secret's placeholder reads: `FUNCTION_KEY`, upper case, other
/// characters as `_`.
pub(super) fn secret_var(function: &str, key: &str) -> String {
    format!("{function}_{key}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// Environment values as text (the manifest takes numbers and booleans as text anyway).
fn stringified(env: Map<String, Value>) -> Map<String, Value> {
    env.into_iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (k, Value::String(text))
        })
        .collect()
}

/// `map` without its empty values.
fn non_empty(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter()
        .filter(|(_, v)| !crate::plan::diff::is_empty(Some(v)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
