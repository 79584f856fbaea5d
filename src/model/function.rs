//! Functions, their triggers and their async-invocation config, in API vocabulary.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::{CodeSource, Desired, Secret};

/// `functions.<name>`.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionSpec {
    pub func_name: String,
    /// The app (`package` in the API; part of the URN), `default` unless `app:` says otherwise.
    pub package: String,
    pub runtime: String,
    pub handler: String,
    pub memory_size: u32,
    pub timeout: u32,
    pub code: CodeSource,
    pub description: Option<String>,
    /// `environment:` → `user_data` (see [`FunctionSpec::user_data`]).
    pub environment: BTreeMap<String, String>,
    /// `secrets:` → `encrypted_user_data`.
    pub secrets: BTreeMap<String, Secret>,
    /// Names of this stack's dependencies → `depend_version_list` (version ids known at apply).
    pub dependencies: Vec<String>,
    pub xrole: Option<String>,
    pub app_xrole: Option<String>,
    pub strategy_config: Option<StrategyConfig>,
    /// `vpc:` → `func_vpc`, as the API has it.
    pub func_vpc: Option<Map<String, Value>>,
    /// `mounts:` + `mount_user:` → `mount_config`.
    pub mount_config: Option<Map<String, Value>>,
    pub initializer: Option<Hook>,
    pub pre_stop: Option<Hook>,
    /// `log:` → `log_config`.
    pub log_config: Option<Map<String, Value>>,
    /// `tags:` → the tags API (`{key, value}` pairs), plus the stack's ownership tag.
    pub tags: BTreeMap<String, String>,
    /// `async:` → `PUT …/async-invoke-config`.
    pub async_config: Option<AsyncSpec>,
    pub triggers: BTreeMap<String, TriggerSpec>,
}

/// `strategy_config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrategyConfig {
    /// `max_instances:` (−1 unlimited, 0 disabled).
    pub concurrency: Option<i64>,
    /// `concurrency_per_instance:`.
    pub concurrent_num: Option<i64>,
}

/// `initializer:` / `pre_stop:` → `*_handler` + `*_timeout`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    pub handler: String,
    pub timeout: u32,
}

impl FunctionSpec {
    /// `user_data`: the environment as a JSON-object string, keys sorted; `None` when empty.
    pub fn user_data(&self) -> Option<String> {
        (!self.environment.is_empty()).then(|| serde_json::to_string(&self.environment).expect("strings serialize"))
    }

    /// `encrypted_user_data`: the secrets as a JSON-object string, still a secret.
    pub fn encrypted_user_data(&self) -> Option<Secret> {
        (!self.secrets.is_empty()).then(|| {
            let plain: BTreeMap<&str, &str> = self.secrets.iter().map(|(k, v)| (k.as_str(), v.expose())).collect();
            Secret::new(serde_json::to_string(&plain).expect("strings serialize"))
        })
    }

    /// The metadata fields of create and `PUT …/config` (everything except code), complete,
    /// so omitted-field semantics never matter. Secrets are exposed here: never print it.
    pub fn config_body(&self) -> Value {
        let mut body = json!({
            "func_name": self.func_name,
            "package": self.package,
            "runtime": self.runtime,
            "handler": self.handler,
            "memory_size": self.memory_size,
            "timeout": self.timeout,
            "description": self.description.clone().unwrap_or_default(),
            "user_data": self.user_data().unwrap_or_default(),
            "encrypted_user_data": self.encrypted_user_data().map(|s| s.expose().to_string()).unwrap_or_default(),
        });
        let object = body.as_object_mut().expect("object");
        let mut put = |key: &str, value: Option<Value>| {
            if let Some(value) = value {
                object.insert(key.into(), value);
            }
        };
        put("xrole", self.xrole.clone().map(Value::from));
        put("app_xrole", self.app_xrole.clone().map(Value::from));
        if let Some(strategy) = self.strategy_config {
            let mut config = Map::new();
            if let Some(n) = strategy.concurrency {
                config.insert("concurrency".into(), n.into());
            }
            if let Some(n) = strategy.concurrent_num {
                config.insert("concurrent_num".into(), n.into());
            }
            put("strategy_config", Some(Value::Object(config)));
        }
        put("func_vpc", self.func_vpc.clone().map(Value::Object));
        put("mount_config", self.mount_config.clone().map(Value::Object));
        put("log_config", self.log_config.clone().map(Value::Object));
        if let Some(hook) = &self.initializer {
            put("initializer_handler", Some(hook.handler.clone().into()));
            put("initializer_timeout", Some(hook.timeout.into()));
        }
        if let Some(hook) = &self.pre_stop {
            put("pre_stop_handler", Some(hook.handler.clone().into()));
            put("pre_stop_timeout", Some(hook.timeout.into()));
        }
        body
    }

    /// The code fields of create and `PUT …/code`: `code_type`, `func_code.file` (base64 of
    /// the zip or jar, which the applier reads or packages), `code_filename`, `code_url` (OBS
    /// sources) and `depend_version_list` (the ids the dependencies' versions got).
    pub fn code_body(&self, region: &str, file_base64: Option<&str>, depend_version_list: &[String]) -> Value {
        let mut body = json!({
            "code_type": self.code.code_type(),
            "func_code": {"file": file_base64.unwrap_or_default()},
            "depend_version_list": depend_version_list,
        });
        if let Some(filename) = self.code.code_filename() {
            body["code_filename"] = filename.into();
        }
        if let Some(url) = self.code.obs_url(region) {
            body["code_url"] = url.into();
        }
        body
    }

    /// Tags as the tags API takes them: `[{key, value}]`, sorted by key.
    pub fn tags_body(&self) -> Value {
        Value::Array(
            self.tags
                .iter()
                .map(|(key, value)| json!({"key": key, "value": value}))
                .collect(),
        )
    }
}

/// `ACTIVE` / `DISABLED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerStatus {
    Active,
    Disabled,
}

impl TriggerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerStatus::Active => "ACTIVE",
            TriggerStatus::Disabled => "DISABLED",
        }
    }
}

/// `functions.<f>.triggers.<name>`.
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerSpec {
    /// The manifest name; for TIMER triggers also `event_data.name`.
    pub name: String,
    pub trigger_type_code: String,
    pub trigger_status: TriggerStatus,
    /// Complete `event_data` (TIMER: `name`, `schedule_type` `Rate`|`Cron`, `schedule`,
    /// `user_event`; other types: as written).
    pub event_data: Map<String, Value>,
}

impl TriggerSpec {
    /// The create body: `{trigger_type_code, trigger_status, event_data}`.
    pub fn create_body(&self) -> Value {
        json!({
            "trigger_type_code": self.trigger_type_code,
            "trigger_status": self.trigger_status.as_str(),
            "event_data": self.event_data,
        })
    }
}

/// A function a destination or workflow action points at.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum FunctionRef {
    /// A function of this stack (an ordering edge).
    Stack(String),
    /// A function outside the stack, by URN.
    Urn(String),
}

/// `async.on_success` / `async.on_failure`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Function(FunctionRef),
    Smn {
        topic_urn: String,
    },
    Dis {
        stream_name: String,
    },
    Obs {
        bucket: String,
        prefix: Option<String>,
        expires: Option<i64>,
    },
}

impl Destination {
    /// `destination`: `FunctionGraph`, `SMN`, `DIS` or `OBS`.
    pub fn destination(&self) -> &'static str {
        match self {
            Destination::Function(_) => "FunctionGraph",
            Destination::Smn { .. } => "SMN",
            Destination::Dis { .. } => "DIS",
            Destination::Obs { .. } => "OBS",
        }
    }

    /// `{destination, param}` where `param` is the JSON-encoded string the API wants.
    pub fn body(&self, desired: &Desired) -> Value {
        let param = match self {
            Destination::Function(target) => json!({"func_urn": desired.resolve(target)}),
            Destination::Smn { topic_urn } => json!({"topic_urn": topic_urn}),
            Destination::Dis { stream_name } => json!({"stream_name": stream_name}),
            Destination::Obs {
                bucket,
                prefix,
                expires,
            } => {
                let mut param = json!({"bucket": bucket});
                if let Some(prefix) = prefix {
                    param["prefix"] = prefix.clone().into();
                }
                if let Some(expires) = expires {
                    param["expires"] = (*expires).into();
                }
                param
            }
        };
        json!({"destination": self.destination(), "param": param.to_string()})
    }
}

/// `async:` → the async-invoke config of the function's `latest`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AsyncSpec {
    pub max_async_event_age_in_seconds: Option<u32>,
    pub max_async_retry_attempts: Option<u32>,
    pub on_success: Option<Destination>,
    pub on_failure: Option<Destination>,
    pub enable_async_status_log: Option<bool>,
}

impl AsyncSpec {
    /// The `PUT …/async-invoke-config` body.
    pub fn body(&self, desired: &Desired) -> Value {
        let mut body = Map::new();
        if let Some(age) = self.max_async_event_age_in_seconds {
            body.insert("max_async_event_age_in_seconds".into(), age.into());
        }
        if let Some(retries) = self.max_async_retry_attempts {
            body.insert("max_async_retry_attempts".into(), retries.into());
        }
        if let Some(log) = self.enable_async_status_log {
            body.insert("enable_async_status_log".into(), log.into());
        }
        let mut destinations = Map::new();
        if let Some(d) = &self.on_success {
            destinations.insert("on_success".into(), d.body(desired));
        }
        if let Some(d) = &self.on_failure {
            destinations.insert("on_failure".into(), d.body(desired));
        }
        if !destinations.is_empty() {
            body.insert("destination_config".into(), Value::Object(destinations));
        }
        Value::Object(body)
    }
}
