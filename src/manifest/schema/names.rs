//! The manifest key a human plan shows for an attribute the planner compares in API
//! vocabulary (`memory_size` → `memory`, `user_data` → `environment`), read off the `api`
//! column of the tables, so the names cannot drift from what `fgform schema` documents.
//!
//! Rules, per resource kind's table:
//! - a key whose `api` names just this attribute (`memory` → `memory_size`) is its name;
//! - a key whose `api` lists several attributes names one of them only through a sub-key
//!   whose `api` has the form `*_suffix` (`initializer` → `initializer_handler`,
//!   `initializer_timeout` with `HOOK`'s `handler` → `*_handler`): `initializer.handler`;
//! - an attribute no key names as a whole, but several name parts of (`strategy_config` ←
//!   `max_instances` = `strategy_config.concurrency`, `concurrency_per_instance` =
//!   `strategy_config.concurrent_num`), is shown key by key ([`Naming::Split`]);
//! - anything else keeps its API name (`code_type`, `definition`).

use super::{Field, Shape, ALIAS, ASYNC, DEPENDENCY, FUNCTION, TRIGGER, VERSIONS, WORKFLOW};

/// How a plan shows one attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Naming {
    /// Under this name.
    Key(String),
    /// Part by part: `(API key inside the attribute's object, manifest key)`.
    Split(Vec<(&'static str, &'static str)>),
}

/// The table of a resource kind (`Address::kind`); an unknown kind has none.
fn fields_of(kind: &str) -> &'static [Field] {
    match kind {
        "function" => FUNCTION,
        "trigger" => TRIGGER,
        "async" => ASYNC,
        "version" => VERSIONS,
        "alias" => ALIAS,
        "dependency" => DEPENDENCY,
        "workflow" => WORKFLOW,
        _ => &[],
    }
}

/// The API attributes a key's `api` column names: `code_type + func_code.file / code_url`
/// → `code_type`, `func_code.file`, `code_url`; `tags (tags API)` → `tags`.
fn api_names(api: &str) -> Vec<&str> {
    api.split([',', '+', '/'])
        .filter_map(|part| part.split_whitespace().next())
        .collect()
}

/// The sub-key of `field` whose `api` is `*_suffix` with `attribute` ending in `_suffix`.
fn wildcard_sub_key(field: &Field, attribute: &str) -> Option<&'static str> {
    let Shape::Object(sub) = field.shape else {
        return None;
    };
    sub.iter()
        .find(|s| {
            api_names(s.api)
                .iter()
                .any(|a| a.strip_prefix('*').is_some_and(|suffix| attribute.ends_with(suffix)))
        })
        .map(|s| s.name)
}

/// The name a plan shows for `attribute` of a `kind` resource.
pub fn plan_naming(kind: &str, attribute: &str) -> Naming {
    let fields = fields_of(kind);
    let mut names: Vec<String> = Vec::new();
    for field in fields {
        let api = api_names(field.api);
        if !api.contains(&attribute) {
            continue;
        }
        if api.len() == 1 {
            names.push(field.name.to_string());
        } else if let Some(sub) = wildcard_sub_key(field, attribute) {
            names.push(format!("{}.{sub}", field.name));
        }
    }
    match names.as_slice() {
        [name] => return Naming::Key(name.clone()),
        [] => {}
        _ => return Naming::Key(attribute.to_string()),
    }
    let parts: Vec<(&'static str, &'static str)> = fields
        .iter()
        .filter_map(|field| {
            let [api] = api_names(field.api)[..] else {
                return None;
            };
            let inner = api.strip_prefix(attribute)?.strip_prefix('.')?;
            Some((inner, field.name))
        })
        .collect();
    if parts.is_empty() {
        Naming::Key(attribute.to_string())
    } else {
        Naming::Split(parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kind: &str, attribute: &str) -> String {
        match plan_naming(kind, attribute) {
            Naming::Key(k) => k,
            Naming::Split(parts) => panic!("{attribute} split into {parts:?}"),
        }
    }

    #[test]
    fn function_attributes_show_their_manifest_keys() {
        for (api, manifest) in [
            ("memory_size", "memory"),
            ("timeout", "timeout"),
            ("handler", "handler"),
            ("user_data", "environment"),
            ("encrypted_user_data", "secrets"),
            ("package", "app"),
            ("xrole", "agency"),
            ("app_xrole", "app_agency"),
            ("func_vpc", "vpc"),
            ("log_config", "log"),
            ("initializer_handler", "initializer.handler"),
            ("initializer_timeout", "initializer.timeout"),
            ("pre_stop_handler", "pre_stop.handler"),
            ("pre_stop_timeout", "pre_stop.timeout"),
            ("depend_version_list", "dependencies"),
            ("tags", "tags"),
            ("code", "code"),
            // Not one key's: `code:` sets both the type and the package.
            ("code_type", "code_type"),
            ("something_new", "something_new"),
        ] {
            assert_eq!(key("function", api), manifest, "{api}");
        }
        assert_eq!(
            plan_naming("function", "strategy_config"),
            Naming::Split(vec![
                ("concurrency", "max_instances"),
                ("concurrent_num", "concurrency_per_instance")
            ])
        );
        assert_eq!(
            plan_naming("function", "mount_config"),
            Naming::Split(vec![("mount_user", "mount_user"), ("func_mounts", "mounts")])
        );
    }

    #[test]
    fn other_kinds_show_their_manifest_keys() {
        for (kind, api, manifest) in [
            ("trigger", "trigger_type_code", "type"),
            ("trigger", "trigger_status", "enabled"),
            ("trigger", "event_data", "event_data"),
            ("async", "max_async_event_age_in_seconds", "max_event_age"),
            ("async", "max_async_retry_attempts", "max_retries"),
            ("async", "enable_async_status_log", "status_log"),
            ("alias", "additional_version_weights", "weights"),
            ("alias", "version", "version"),
            ("dependency", "description", "description"),
            ("dependency", "content", "content"),
            ("version", "description", "description"),
            ("workflow", "definition", "definition"),
            ("nothing", "x", "x"),
        ] {
            assert_eq!(key(kind, api), manifest, "{kind} {api}");
        }
        assert_eq!(
            plan_naming("async", "destination_config"),
            Naming::Split(vec![("on_success", "on_success"), ("on_failure", "on_failure")])
        );
    }
}
