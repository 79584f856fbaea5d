//! Async destinations, function references and triggers.

use serde_json::{Map, Value};

use super::{get, join, Checker, Entries};
use crate::api::limits::*;
use crate::api::rules::*;
use crate::manifest::diagnostic::did_you_mean;
use crate::manifest::schema;
use crate::manifest::yaml::{Entry, Node};
use crate::model::*;

impl Checker<'_> {
    pub(super) fn function_ref(
        &mut self,
        text: String,
        node: &Node,
        path: &str,
        functions: Entries<'_>,
    ) -> Option<FunctionRef> {
        if text.starts_with("urn:") {
            if crate::api::urn::FunctionUrn::parse(&text).is_err() {
                self.error(node.span, path, format!("`{text}` is not a function URN"), None);
                return None;
            }
            return Some(FunctionRef::Urn(text));
        }
        if !functions.iter().any(|e| e.key == text) {
            let hint = did_you_mean(&text, functions.iter().map(|e| e.key.as_str()))
                .map(|c| format!("did you mean `{c}`?"))
                .or_else(|| Some("name a function of this stack, or give a function URN".into()));
            self.error(
                node.span,
                path,
                format!("function `{text}` is not declared in this stack"),
                hint,
            );
            return None;
        }
        if let Some(from) = &self.address {
            self.edges.insert((from.clone(), Address::Function(text.clone())));
        }
        Some(FunctionRef::Stack(text))
    }

    pub(super) fn async_config(
        &mut self,
        node: &Node,
        function: &str,
        path: &str,
        functions: Entries<'_>,
    ) -> Option<AsyncSpec> {
        self.address = Some(Address::Async(function.into()));
        let p = join(path, "async");
        let fields = self.object(node, &p, schema::ASYNC, false)?;
        let age = self.ranged(fields, "max_event_age", &p, ASYNC_EVENT_AGE);
        let retries = self.ranged(fields, "max_retries", &p, ASYNC_RETRIES);
        let status_log = get(fields, "status_log").and_then(|n| self.bool(n, &join(&p, "status_log")));
        let destination = |this: &mut Self, key: &str| -> Option<Destination> {
            let node = get(fields, key)?;
            let dp = join(&p, key);
            let entries = this.object(node, &dp, schema::DESTINATION, false)?;
            let given: Vec<&Entry> = entries.iter().filter(|e| !e.value.is_null()).collect();
            if given.len() != 1 {
                this.error(
                    node.span,
                    &dp,
                    "give exactly one of `function`, `smn`, `dis`, `obs`",
                    None,
                );
                return None;
            }
            let entry = given[0];
            let kp = join(&dp, &entry.key);
            match entry.key.as_str() {
                "function" => {
                    let text = this.string(&entry.value, &kp)?;
                    this.function_ref(text, &entry.value, &kp, functions)
                        .map(Destination::Function)
                }
                "smn" => {
                    let topic_urn = this.string(&entry.value, &kp)?;
                    if !topic_urn.starts_with("urn:smn:") {
                        this.error(
                            entry.value.span,
                            &kp,
                            format!("`{topic_urn}` is not an SMN topic URN"),
                            Some("SMN topic URNs look like `urn:smn:cn-north-4:<project>:<topic>`".into()),
                        );
                    }
                    Some(Destination::Smn { topic_urn })
                }
                "dis" => this
                    .string(&entry.value, &kp)
                    .map(|stream_name| Destination::Dis { stream_name }),
                "obs" => {
                    let obs = this.object(&entry.value, &kp, schema::OBS_DESTINATION, false)?;
                    let bucket = this.opt_string(obs, "bucket", &kp);
                    let prefix = this.opt_string(obs, "prefix", &kp);
                    let expires = this.ranged(obs, "expires", &kp, OBS_DESTINATION_EXPIRES);
                    Some(Destination::Obs {
                        bucket: bucket?,
                        prefix,
                        expires,
                    })
                }
                _ => None,
            }
        };
        let on_success = destination(self, "on_success");
        let on_failure = destination(self, "on_failure");
        Some(AsyncSpec {
            max_async_event_age_in_seconds: age.map(|n| n as u32),
            max_async_retry_attempts: retries.map(|n| n as u32),
            on_success,
            on_failure,
            enable_async_status_log: status_log,
            qualifier: self.opt_string(fields, "qualifier", &p),
        })
    }

    pub(super) fn trigger(
        &mut self,
        entry: &Entry,
        function: &str,
        path: &str,
        runtime: Option<&str>,
    ) -> Option<TriggerSpec> {
        let name = &entry.key;
        let address = Address::Trigger {
            function: function.into(),
            trigger: name.clone(),
        };
        self.address = Some(address);
        let p = join(path, name);
        let fields = self.object(&entry.value, &p, schema::TRIGGER, false)?;
        let enabled = match get(fields, "enabled") {
            Some(n) => self.bool(n, &join(&p, "enabled")),
            None => Some(true),
        };
        let status = if enabled == Some(false) {
            TriggerStatus::Disabled
        } else {
            TriggerStatus::Active
        };
        let timer = get(fields, "timer");
        let kind = get(fields, "type");
        let qualifier = self.opt_string(fields, "qualifier", &p);
        let result = match (timer, kind) {
            (Some(_), Some(kind)) => {
                self.error(
                    kind.span,
                    &join(&p, "type"),
                    "a trigger has either `timer` or `type`, not both",
                    None,
                );
                None
            }
            (None, None) => {
                self.error(
                    entry.value.span,
                    &p,
                    "a trigger needs `timer: { rate | cron }` or `type:` with `event_data:`",
                    None,
                );
                None
            }
            (Some(timer), None) => self.timer(timer, name, &p, fields, status, runtime),
            (None, Some(kind)) => self.generic_trigger(kind, &p, fields, status),
        }
        .map(|t| TriggerSpec { qualifier, ..t });
        self.address = Some(Address::Function(function.into()));
        result
    }

    pub(super) fn timer(
        &mut self,
        node: &Node,
        name: &str,
        path: &str,
        fields: Entries<'_>,
        status: TriggerStatus,
        runtime: Option<&str>,
    ) -> Option<TriggerSpec> {
        let tp = join(path, "timer");
        if !is_valid_timer_name(name) {
            let span = node.span;
            self.error(
                span,
                path,
                format!("`{name}` is not a valid timer name"),
                Some("1–64 characters of letters, digits, `_` and `-`, starting with a letter".into()),
            );
        }
        if runtime == Some("http") {
            self.error(node.span, &tp, "HTTP functions cannot have TIMER triggers", None);
        }
        let timer = self.object(node, &tp, schema::TIMER, false)?;
        let (schedule_type, key) = match (get(timer, "rate"), get(timer, "cron")) {
            (Some(_), None) => ("Rate", "rate"),
            (None, Some(_)) => ("Cron", "cron"),
            _ => {
                self.error(
                    node.span,
                    &tp,
                    "give exactly one of `rate` and `cron`",
                    Some("e.g. `timer: { rate: 5m }` or `timer: { cron: \"0 30 2 * * ?\" }`".into()),
                );
                return None;
            }
        };
        let schedule_node = get(timer, key)?;
        let sp = join(&tp, key);
        let schedule = self.string(schedule_node, &sp)?;
        let checked = if key == "rate" {
            check_rate(&schedule)
        } else {
            check_cron(&schedule)
        };
        if let Err(problem) = checked {
            let hint = if key == "rate" {
                "`<n>m` (1–60), `<n>h` (1–24) or `<n>d` (1–30), e.g. `5m`, `1d`"
            } else {
                "`sec min hour day-of-month month [day-of-week]`, e.g. `0 30 2 * * ?`, or `@every 1h30m`"
            };
            self.error(
                schedule_node.span,
                &sp,
                format!("invalid {key}: {problem}"),
                Some(hint.into()),
            );
            return None;
        }
        let mut event_data = Map::new();
        event_data.insert("name".into(), name.into());
        event_data.insert("schedule_type".into(), schedule_type.into());
        event_data.insert("schedule".into(), schedule.into());
        if let Some(payload) = self.opt_string(fields, "payload", path) {
            event_data.insert("user_event".into(), payload.into());
        }
        if let Some(node) = get(fields, "event_data") {
            self.error(
                node.span,
                &join(path, "event_data"),
                "a timer's event_data is written for you",
                Some("use `timer:` and `payload:`".into()),
            );
        }
        Some(TriggerSpec {
            name: name.into(),
            trigger_type_code: "TIMER".into(),
            trigger_status: status,
            event_data,
            qualifier: None,
        })
    }

    pub(super) fn generic_trigger(
        &mut self,
        kind: &Node,
        path: &str,
        fields: Entries<'_>,
        status: TriggerStatus,
    ) -> Option<TriggerSpec> {
        let kp = join(path, "type");
        let code = self.string(kind, &kp)?;
        if code.eq_ignore_ascii_case("TIMER") {
            self.error(
                kind.span,
                &kp,
                "write timers as `timer: { rate | cron }`",
                Some("e.g. `nightly: { timer: { cron: \"0 0 2 * * ?\" } }`".into()),
            );
            return None;
        }
        if !GENERIC_TRIGGER_TYPES.contains(&code.as_str()) {
            let upper = code.to_ascii_uppercase();
            let hint = if GENERIC_TRIGGER_TYPES.contains(&upper.as_str()) {
                format!("trigger types are upper case: `{upper}`")
            } else {
                match did_you_mean(&code, GENERIC_TRIGGER_TYPES.iter().copied()) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None => format!("use one of: {}", GENERIC_TRIGGER_TYPES.join(", ")),
                }
            };
            self.error(kind.span, &kp, format!("`{code}` is not a trigger type"), Some(hint));
            return None;
        }
        if status == TriggerStatus::Disabled && !DISABLEABLE_TRIGGERS.contains(&code.as_str()) {
            let span = get(fields, "enabled").map(|n| n.span).unwrap_or(kind.span);
            self.error(
                span,
                &join(path, "enabled"),
                format!("{code} triggers cannot be disabled"),
                Some(format!(
                    "only {} triggers can; remove the trigger instead",
                    DISABLEABLE_TRIGGERS.join(", ")
                )),
            );
        }
        if let Some(node) = get(fields, "payload") {
            self.error(node.span, &join(path, "payload"), "`payload` is for timers only", None);
        }
        let Some(node) = get(fields, "event_data") else {
            self.error(kind.span, path, format!("a {code} trigger needs `event_data`"), None);
            return None;
        };
        let ep = join(path, "event_data");
        let event_data = self.json_object(node, &ep)?;
        let required: &[&str] = match code.as_str() {
            "OBS" => &["bucket", "events"],
            "SMN" => &["topic_urn"],
            "LTS" => &["log_group_id", "log_topic_id"],
            "DIS" => &["stream_name"],
            "KAFKA" => &["instance_id", "topic_ids"],
            _ => &[],
        };
        for key in required {
            if event_data.get(*key).is_none_or(Value::is_null) {
                self.error(
                    node.span,
                    &ep,
                    format!("{code} triggers need `{key}` in their event_data"),
                    None,
                );
            }
        }
        if code == "OBS" {
            if let Some(events) = event_data.get("events") {
                let ok = events.as_array().is_some_and(|a| {
                    !a.is_empty() && a.iter().all(|e| e.as_str().is_some_and(|s| s.starts_with("s3:")))
                });
                if !ok {
                    self.error(
                        node.span,
                        &join(&ep, "events"),
                        "expected a list of OBS event names",
                        Some("e.g. `[\"s3:ObjectCreated:*\"]`".into()),
                    );
                }
            }
        }
        Some(TriggerSpec {
            name: path.rsplit('.').next().unwrap_or_default().into(),
            trigger_type_code: code,
            trigger_status: status,
            event_data,
            qualifier: None,
        })
    }
}
