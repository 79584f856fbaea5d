//! Functions, their triggers and their async-invocation config, in API vocabulary.

use std::collections::BTreeMap;

use litemap::LiteMap;

use serde_json::{json, Map, Value};

use super::{AliasSpec, CodeSource, Desired, RolloutSpec, Secret, VersionsSpec};
use crate::api::types::{
    self, AsyncInvokeConfigRequest, CreateFunctionRequest, CreateTriggerRequest, DestinationConfig, FuncCode, Tag,
    UpdateFunctionCodeRequest, UpdateFunctionConfigRequest,
};

/// The keys of a function's config, in the order plans show them (and state records them).
const CONFIG_KEYS: &[&str] = &[
    "func_name",
    "package",
    "runtime",
    "handler",
    "memory_size",
    "timeout",
    "description",
    "user_data",
    "encrypted_user_data",
    "xrole",
    "app_xrole",
    "strategy_config",
    "func_vpc",
    "mount_config",
    "log_config",
    "initializer_handler",
    "initializer_timeout",
    "pre_stop_handler",
    "pre_stop_timeout",
];

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
    /// The blocks few functions set are boxed (a map is 72 bytes inline, and a stack of
    /// 10,000 functions keeps 10,000 specs).
    /// `vpc:` → `func_vpc`, as the API has it.
    pub func_vpc: Option<Box<Map<String, Value>>>,
    /// `mounts:` + `mount_user:` → `mount_config`.
    pub mount_config: Option<Box<Map<String, Value>>>,
    pub initializer: Option<Hook>,
    pub pre_stop: Option<Hook>,
    /// `log:` → `log_config`.
    pub log_config: Option<Box<Map<String, Value>>>,
    /// `tags:` → the tags API (`{key, value}` pairs), plus the stack's ownership tag.
    pub tags: BTreeMap<String, String>,
    /// `async:` → `PUT …/async-invoke-config`.
    pub async_config: Option<AsyncSpec>,
    /// By name, in a sorted vector of exactly their number: most functions have one trigger
    /// or none, and a `BTreeMap` node holds room for eleven (10,000 functions with a
    /// trigger each kept 20 MB of it unboxed, 5 MB boxed).
    pub triggers: LiteMap<String, TriggerSpec>,
    /// `versions:`; `None` = fgform publishes none.
    pub versions: Option<VersionsSpec>,
    /// `aliases:`, by name.
    pub aliases: BTreeMap<String, AliasSpec>,
    /// `rollout:`.
    pub rollout: Option<Box<RolloutSpec>>,
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

    /// The `PUT …/config` request: the complete desired metadata (everything except code),
    /// so omitted-field semantics never matter; `package`, `runtime` and the pass-through
    /// blocks ride in `extra`. Secrets are exposed here: never print it.
    pub fn config_request(&self) -> UpdateFunctionConfigRequest {
        let mut extra = Map::new();
        extra.insert("package".into(), self.package.clone().into());
        extra.insert("runtime".into(), self.runtime.clone().into());
        extra.extend(self.passthrough());
        UpdateFunctionConfigRequest {
            func_name: self.func_name.clone(),
            handler: self.handler.clone(),
            memory_size: self.memory_size.into(),
            timeout: self.timeout.into(),
            user_data: Some(self.user_data().unwrap_or_default()),
            encrypted_user_data: Some(
                self.encrypted_user_data()
                    .map(|s| s.expose().to_string())
                    .unwrap_or_default(),
            ),
            description: Some(self.description.clone().unwrap_or_default()),
            xrole: self.xrole.clone(),
            app_xrole: self.app_xrole.clone(),
            strategy_config: self.strategy_config.map(|s| types::StrategyConfig {
                concurrency: s.concurrency,
                concurrent_num: s.concurrent_num,
            }),
            extra,
        }
    }

    /// The config blocks the API takes as they are (VPC, mounts, logs, lifecycle hooks).
    fn passthrough(&self) -> Map<String, Value> {
        let mut extra = Map::new();
        let mut put = |key: &str, value: Option<Value>| {
            if let Some(value) = value {
                extra.insert(key.into(), value);
            }
        };
        put("func_vpc", self.func_vpc.as_deref().cloned().map(Value::Object));
        put("mount_config", self.mount_config.as_deref().cloned().map(Value::Object));
        put("log_config", self.log_config.as_deref().cloned().map(Value::Object));
        if let Some(hook) = &self.initializer {
            put("initializer_handler", Some(hook.handler.clone().into()));
            put("initializer_timeout", Some(hook.timeout.into()));
        }
        if let Some(hook) = &self.pre_stop {
            put("pre_stop_handler", Some(hook.handler.clone().into()));
            put("pre_stop_timeout", Some(hook.timeout.into()));
        }
        extra
    }

    /// [`FunctionSpec::config_request`] as JSON, keys in the order plans show them.
    pub fn config_body(&self) -> Value {
        let body = serde_json::to_value(self.config_request()).expect("requests serialize");
        super::ordered(body, CONFIG_KEYS)
    }

    /// The `PUT …/code` request: `code_type`, `func_code.file` (base64 of the zip or jar,
    /// which the applier reads or packages), `code_filename`, `code_url` (OBS sources) and
    /// `depend_version_list` (the ids the dependencies' versions got).
    pub fn code_request(
        &self,
        region: &str,
        file_base64: Option<&str>,
        depend_version_list: &[String],
    ) -> UpdateFunctionCodeRequest {
        UpdateFunctionCodeRequest {
            code_type: self.code.code_type().into(),
            func_code: FuncCode {
                file: Some(file_base64.unwrap_or_default().into()),
                link: None,
            },
            code_url: self.code.obs_url(region),
            code_filename: self.code.code_filename(),
            depend_version_list: Some(depend_version_list.to_vec()),
        }
    }

    /// [`FunctionSpec::code_request`] as JSON.
    pub fn code_body(&self, region: &str, file_base64: Option<&str>, depend_version_list: &[String]) -> Value {
        let body = self.code_request(region, file_base64, depend_version_list);
        let body = serde_json::to_value(body).expect("requests serialize");
        super::ordered(
            body,
            &[
                "code_type",
                "func_code",
                "depend_version_list",
                "code_filename",
                "code_url",
            ],
        )
    }

    /// The create request: config and code in one body, with `tags` (this state's
    /// ownership tag among them) as the JSON string the API takes, so a new function needs
    /// no tags call. Secrets are exposed here: never print it.
    pub fn create_request(
        &self,
        region: &str,
        file_base64: Option<&str>,
        depend_version_list: &[String],
        tags: &[Tag],
    ) -> CreateFunctionRequest {
        let config = self.config_request();
        let code = self.code_request(region, file_base64, depend_version_list);
        let mut extra = Map::new();
        if let Some(strategy) = &config.strategy_config {
            extra.insert(
                "strategy_config".into(),
                serde_json::to_value(strategy).expect("requests serialize"),
            );
        }
        extra.extend(self.passthrough());
        extra.insert(
            "tags".into(),
            serde_json::to_string(tags).expect("tags serialize").into(),
        );
        CreateFunctionRequest {
            func_name: config.func_name,
            package: self.package.clone(),
            runtime: self.runtime.clone(),
            handler: config.handler,
            memory_size: config.memory_size,
            timeout: config.timeout,
            code_type: code.code_type,
            code_filename: code.code_filename,
            code_url: code.code_url,
            func_code: Some(code.func_code),
            depend_version_list: code.depend_version_list,
            user_data: config.user_data,
            encrypted_user_data: config.encrypted_user_data,
            description: config.description,
            xrole: config.xrole,
            app_xrole: config.app_xrole,
            kind: None,
            enterprise_project_id: None,
            extra,
        }
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
    /// `qualifier:`: the alias the trigger invokes (`None`: latest).
    pub qualifier: Option<String>,
}

impl TriggerSpec {
    /// The create request: `{trigger_type_code, trigger_status, event_data}`.
    pub fn create_request(&self) -> CreateTriggerRequest {
        CreateTriggerRequest {
            trigger_type_code: self.trigger_type_code.clone(),
            trigger_status: Some(self.trigger_status.as_str().into()),
            event_type_code: None,
            event_data: self.event_data.clone(),
        }
    }

    /// [`TriggerSpec::create_request`] as JSON, with the `qualifier` when it has one (what
    /// plans show and state records).
    pub fn create_body(&self) -> Value {
        let mut body = serde_json::to_value(self.create_request()).expect("requests serialize");
        if let Some(q) = &self.qualifier {
            body["qualifier"] = q.clone().into();
        }
        body
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

    /// The destination, where `param` is the JSON-encoded string the API wants.
    pub fn request(&self, desired: &Desired) -> types::Destination {
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
        types::Destination {
            destination: self.destination().into(),
            param: param.to_string(),
        }
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
    /// `qualifier:`: the alias whose async config this is (`None`: latest).
    pub qualifier: Option<String>,
}

impl AsyncSpec {
    /// The `PUT …/async-invoke-config` request.
    pub fn request(&self, desired: &Desired) -> AsyncInvokeConfigRequest {
        let destinations = DestinationConfig {
            on_success: self.on_success.as_ref().map(|d| d.request(desired)),
            on_failure: self.on_failure.as_ref().map(|d| d.request(desired)),
        };
        let any = destinations.on_success.is_some() || destinations.on_failure.is_some();
        AsyncInvokeConfigRequest {
            max_async_event_age_in_seconds: self.max_async_event_age_in_seconds.map(i64::from),
            max_async_retry_attempts: self.max_async_retry_attempts.map(i64::from),
            destination_config: any.then_some(destinations),
            enable_async_status_log: self.enable_async_status_log,
            extra: Map::new(),
        }
    }

    /// [`AsyncSpec::request`] as JSON, keys in the order plans show them.
    pub fn body(&self, desired: &Desired) -> Value {
        let body = serde_json::to_value(self.request(desired)).expect("requests serialize");
        let mut body = super::ordered(
            body,
            &[
                "max_async_event_age_in_seconds",
                "max_async_retry_attempts",
                "enable_async_status_log",
                "destination_config",
            ],
        );
        if let Some(q) = &self.qualifier {
            body["qualifier"] = q.clone().into();
        }
        body
    }
}

/// The URN of `function_urn`'s `qualifier` (an alias): `…:!ALIAS`; the URN itself for none.
pub fn qualified_urn(function_urn: &str, qualifier: Option<&str>) -> String {
    match qualifier {
        Some(q) => format!("{function_urn}:!{q}"),
        None => function_urn.to_string(),
    }
}
