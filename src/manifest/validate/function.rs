//! `functions.<name>`: everything but triggers and async config.

use std::collections::BTreeMap;

use litemap::LiteMap;
use serde_json::{Map, Value};

use super::{get, join, list_of, Checker, Entries};
use crate::api::limits::*;
use crate::api::rules::*;
use crate::manifest::diagnostic::did_you_mean;
use crate::manifest::schema;
use crate::manifest::yaml::{Entry, Span};
use crate::model::*;

impl Checker<'_> {
    pub(super) fn hook(
        &mut self,
        fields: Entries<'_>,
        key: &str,
        path: &str,
        range: std::ops::RangeInclusive<i64>,
    ) -> Option<Hook> {
        let node = get(fields, key)?;
        let path = join(path, key);
        let hook = self.object(node, &path, schema::HOOK, false)?;
        let handler = self.opt_string(hook, "handler", &path);
        if let (Some(handler), Some(n)) = (&handler, get(hook, "handler")) {
            if !is_valid_handler(handler, "") {
                self.error(
                    n.span,
                    &join(&path, "handler"),
                    format!("`{handler}` is not a handler"),
                    Some("write `file.function`".into()),
                );
            }
        }
        let timeout = self.ranged(hook, "timeout", &path, range);
        Some(Hook {
            handler: handler?,
            timeout: timeout? as u32,
        })
    }

    pub(super) fn user_data(&mut self, fields: Entries<'_>, key: &str, path: &str) -> Vec<(String, String, Span)> {
        let Some(node) = get(fields, key) else {
            return Vec::new();
        };
        let path = join(path, key);
        let pairs = self.string_map(node, &path);
        for (name, _, span) in &pairs {
            let ok = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
            if !ok {
                self.error(
                    *span,
                    &join(&path, name),
                    format!("`{name}` is not a valid variable name"),
                    Some("letters, digits, `_`, `.` and `-`, starting with a letter or `_`".into()),
                );
            }
        }
        if user_data_keys(&path, pairs.len()).is_err() {
            self.error(
                node.span,
                &path,
                format!("{} variables is too many", pairs.len()),
                Some(format!("the API takes at most {USER_DATA_MAX_KEYS}")),
            );
        }
        let map: BTreeMap<&str, &str> = pairs.iter().map(|(k, v, _)| (k.as_str(), v.as_str())).collect();
        let bytes = serde_json::to_string(&map).map(|s| s.len()).unwrap_or(0);
        if user_data_bytes(&path, bytes).is_err() {
            self.error(
                node.span,
                &path,
                format!("{bytes} bytes once serialized is too large"),
                Some(format!("the API takes at most {USER_DATA_MAX_BYTES} bytes; move large values to OBS or a config file in the code")),
            );
        }
        pairs
    }

    pub(super) fn function(
        &mut self,
        entry: &Entry,
        dependencies: &BTreeMap<String, DependencySpec>,
        all: Entries<'_>,
    ) -> Option<FunctionSpec> {
        let name = &entry.key;
        let path = join("functions", name);
        self.address = Some(Address::Function(name.clone()));
        if !is_valid_function_name(name) {
            self.error(
                entry.key_span,
                &path,
                format!("`{name}` is not a valid function name"),
                Some("1–60 characters of letters, digits, `_` and `-`, starting with a letter and ending with a letter or digit".into()),
            );
        }
        let fields = self.object(&entry.value, &path, schema::FUNCTION, false)?;
        let runtime = self.runtime(fields, &path);
        let handler = self.function_handler(fields, &path, runtime.as_deref());
        let memory = self.memory(fields, &path);
        let timeout = match get(fields, "timeout") {
            Some(_) => self.ranged(fields, "timeout", &path, TIMEOUT_RANGE).map(|t| t as u32),
            None => Some(3),
        };
        let code = self.code_source(fields, "code", &path, true);
        let description = self.description(fields, &path);
        let package = self.app(fields, &path);
        let environment = self.user_data(fields, "environment", &path);
        let secrets = self.user_data(fields, "secrets", &path);
        for (key, _, span) in &secrets {
            if environment.iter().any(|(k, _, _)| k == key) {
                self.error(
                    *span,
                    &join(&join(&path, "secrets"), key),
                    format!("`{key}` is also in `environment`"),
                    Some("a variable is either plain or secret, not both".into()),
                );
            }
        }

        let depends = self.function_dependencies(fields, &path, name, runtime.as_deref(), dependencies);

        let xrole = self.opt_string(fields, "agency", &path);
        let app_xrole = self.opt_string(fields, "app_agency", &path);
        let concurrency = self.ranged(fields, "max_instances", &path, MAX_INSTANCES);
        let concurrent_num = self.ranged(fields, "concurrency_per_instance", &path, CONCURRENT_NUM);
        let strategy_config = (concurrency.is_some() || concurrent_num.is_some()).then_some(StrategyConfig {
            concurrency,
            concurrent_num,
        });
        let func_vpc = get(fields, "vpc").and_then(|node| {
            let p = join(&path, "vpc");
            self.object(node, &p, schema::VPC, false)?;
            self.json_object(node, &p)
        });
        let mount_config = self.mounts(fields, &path);
        let initializer = self.hook(fields, "initializer", &path, INITIALIZER_TIMEOUT);
        let pre_stop = self.hook(fields, "pre_stop", &path, PRE_STOP_TIMEOUT);
        let log_config = get(fields, "log").and_then(|node| {
            let p = join(&path, "log");
            self.object(node, &p, schema::LOG, false)?;
            self.json_object(node, &p)
        });
        let tags = self.tags(fields, &path);
        let async_config = get(fields, "async").and_then(|node| self.async_config(node, name, &path, all));
        self.address = Some(Address::Function(name.clone()));
        let triggers = self.function_triggers(fields, &path, name, runtime.as_deref());
        let releases = self.releases(fields, &path, name);
        self.qualifiers(fields, &path, name, &releases.aliases, &triggers, async_config.as_ref());
        self.address = None;
        Some(FunctionSpec {
            func_name: name.clone(),
            package,
            runtime: runtime?,
            handler: handler?,
            memory_size: memory?,
            timeout: timeout?,
            code: code?,
            description,
            environment: environment.into_iter().map(|(k, v, _)| (k, v)).collect(),
            secrets: secrets.into_iter().map(|(k, v, _)| (k, Secret::new(v))).collect(),
            dependencies: depends,
            xrole,
            app_xrole,
            strategy_config,
            func_vpc: func_vpc.map(Box::new),
            mount_config: mount_config.map(Box::new),
            initializer,
            pre_stop,
            log_config: log_config.map(Box::new),
            tags,
            async_config,
            triggers,
            versions: releases.versions,
            aliases: releases.aliases,
            rollout: releases.rollout.map(Box::new),
        })
    }

    /// `app`: the function's package, `default` when left out.
    fn app(&mut self, fields: Entries<'_>, path: &str) -> String {
        let Some(app) = self.opt_string(fields, "app", path) else {
            return "default".into();
        };
        if package_name(&app).is_err() {
            let span = get(fields, "app").map(|n| n.span).unwrap_or_default();
            self.error(
                span,
                &join(path, "app"),
                format!("`{app}` is not a valid app name"),
                Some("1–64 characters of letters, digits, `_` and `-`".into()),
            );
        }
        app
    }

    fn function_handler(&mut self, fields: Entries<'_>, path: &str, runtime: Option<&str>) -> Option<String> {
        let handler = self.opt_string(fields, "handler", path);
        if let (Some(handler), Some(node)) = (&handler, get(fields, "handler")) {
            if !is_valid_handler(handler, runtime.unwrap_or("")) {
                self.error(
                    node.span,
                    &join(path, "handler"),
                    format!("`{handler}` is not a valid handler"),
                    Some(
                        "write `file.function` (3–128 characters), e.g. `index.handler`; Custom Image uses `-`".into(),
                    ),
                );
            }
        }
        handler
    }

    fn memory(&mut self, fields: Entries<'_>, path: &str) -> Option<u32> {
        let Some(node) = get(fields, "memory") else {
            return Some(128);
        };
        let p = join(path, "memory");
        let m = self.int(node, &p)?;
        if memory_size(m).is_err() {
            self.error(
                node.span,
                &p,
                format!("{m} is not a valid memory size"),
                Some(format!("use one of {} (MB)", list_of(MEMORY_SIZES))),
            );
            return None;
        }
        Some(m as u32)
    }

    fn function_dependencies(
        &mut self,
        fields: Entries<'_>,
        path: &str,
        name: &str,
        runtime: Option<&str>,
        dependencies: &BTreeMap<String, DependencySpec>,
    ) -> Vec<String> {
        let mut depends = Vec::new();
        let Some(node) = get(fields, "dependencies") else {
            return Vec::new();
        };
        {
            let p = join(path, "dependencies");
            for (i, (dep, span)) in self.string_list(node, &p).into_iter().enumerate() {
                let item_path = format!("{p}[{i}]");
                if depends.contains(&dep) {
                    self.error(span, &item_path, format!("`{dep}` is listed twice"), None);
                    continue;
                }
                match dependencies.get(&dep) {
                    Some(spec) => {
                        if let Some(runtime) = runtime {
                            if spec.runtime != runtime {
                                self.error(
                                    span,
                                    &item_path,
                                    format!(
                                        "dependency `{dep}` is built for {} but the function runs {runtime}",
                                        spec.runtime
                                    ),
                                    Some("a function can only use dependencies of its own runtime".into()),
                                );
                            }
                        }
                        self.edges
                            .insert((Address::Function(name.to_string()), Address::Dependency(dep.clone())));
                    }
                    None => {
                        let hint = did_you_mean(&dep, dependencies.keys().map(String::as_str))
                            .map(|c| format!("did you mean `{c}`?"))
                            .or_else(|| Some("declare it under top-level `dependencies:`".into()));
                        self.error(
                            span,
                            &item_path,
                            format!("dependency `{dep}` is not declared in this stack"),
                            hint,
                        );
                    }
                }
                depends.push(dep);
            }
        }
        depends
    }

    fn function_triggers(
        &mut self,
        fields: Entries<'_>,
        path: &str,
        name: &str,
        runtime: Option<&str>,
    ) -> LiteMap<String, TriggerSpec> {
        let mut triggers = BTreeMap::new();
        if let Some(node) = get(fields, "triggers") {
            let p = join(path, "triggers");
            if let Some(entries) = self.object(node, &p, &[], true) {
                for trigger in entries {
                    if let Some(spec) = self.trigger(trigger, name, &p, runtime) {
                        triggers.insert(trigger.key.clone(), spec);
                    }
                }
            }
        }
        // Sorted and unique, as the map iterates; a vector of exactly their number.
        let mut sorted = Vec::with_capacity(triggers.len());
        sorted.extend(triggers);
        LiteMap::from_sorted_store_unchecked(sorted)
    }

    pub(super) fn mounts(&mut self, fields: Entries<'_>, path: &str) -> Option<Map<String, Value>> {
        let user_node = get(fields, "mount_user");
        let mounts_node = get(fields, "mounts");
        if mounts_node.is_none() {
            if let Some(node) = user_node {
                self.error(
                    node.span,
                    &join(path, "mount_user"),
                    "`mount_user` without `mounts`",
                    None,
                );
            }
            return None;
        }
        let mut user = serde_json::json!({"user_id": -1, "user_group_id": -1});
        if let Some(node) = user_node {
            let p = join(path, "mount_user");
            if let Some(entries) = self.object(node, &p, schema::MOUNT_USER, false) {
                for key in ["user_id", "user_group_id"] {
                    if let Some(id) = self.ranged(entries, key, &p, MOUNT_ID_RANGE) {
                        if MOUNT_ID_RESERVED.contains(&id) {
                            let span = get(entries, key).map(|n| n.span).unwrap_or_default();
                            self.error(
                                span,
                                &join(&p, key),
                                format!("{id} is reserved"),
                                Some("use −1, or an id other than 0, 1000 and 1002".into()),
                            );
                        }
                        user[key] = id.into();
                    }
                }
            }
        }
        let node = mounts_node?;
        let p = join(path, "mounts");
        let items = self.list(node, &p)?;
        if mount_count(items.len()).is_err() {
            self.error(
                node.span,
                &p,
                format!("{} mounts is too many", items.len()),
                Some(format!("at most {MAX_MOUNTS}")),
            );
        }
        let mut mounts = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let item_path = format!("{p}[{i}]");
            let Some(entries) = self.object(item, &item_path, schema::MOUNT, false) else {
                continue;
            };
            let kind = self.opt_string(entries, "mount_type", &item_path);
            if let (Some(kind), Some(n)) = (&kind, get(entries, "mount_type")) {
                if mount_type(kind).is_err() {
                    self.error(
                        n.span,
                        &join(&item_path, "mount_type"),
                        format!("`{kind}` is not a mount type"),
                        Some("use sfs, sfsTurbo or ecs".into()),
                    );
                }
                if kind == "ecs" && get(entries, "mount_share_path").is_none() {
                    self.error(item.span, &item_path, "an `ecs` mount needs `mount_share_path`", None);
                }
            }
            if let Some(local) = self.opt_string(entries, "local_mount_path", &item_path) {
                if !local.starts_with('/') {
                    let span = get(entries, "local_mount_path").map(|n| n.span).unwrap_or_default();
                    self.error(
                        span,
                        &join(&item_path, "local_mount_path"),
                        format!("`{local}` is not an absolute path"),
                        None,
                    );
                }
            }
            mounts.push(self.json(item, &item_path));
        }
        let mut config = Map::new();
        config.insert("mount_user".into(), user);
        config.insert("func_mounts".into(), Value::Array(mounts));
        Some(config)
    }

    pub(super) fn tags(&mut self, fields: Entries<'_>, path: &str) -> BTreeMap<String, String> {
        let Some(node) = get(fields, "tags") else {
            return BTreeMap::new();
        };
        let p = join(path, "tags");
        let pairs = self.string_map(node, &p);
        if tag_count(pairs.len()).is_err() {
            self.error(
                node.span,
                &p,
                format!("{} tags is too many", pairs.len()),
                Some(format!("at most {TAGS_MAX}")),
            );
        }
        for (key, value, span) in &pairs {
            let kp = join(&p, key);
            if key == OWNERSHIP_TAG_KEY {
                self.error(
                    *span,
                    &kp,
                    format!("`{key}` is reserved"),
                    Some("fgform sets it to the stack name".into()),
                );
            } else if tag_key(key).is_err() {
                self.error(*span, &kp, "a tag key must be 1–128 characters", None);
            } else if tag_value(key, value).is_err() {
                self.error(*span, &kp, "a tag value must be at most 255 characters", None);
            }
        }
        pairs.into_iter().map(|(k, v, _)| (k, v)).collect()
    }
}
