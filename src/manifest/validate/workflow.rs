//! `workflows.<name>`: definitions and their graph checks.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::{get, join, Checker, Entries};
use crate::api::limits::*;
use crate::api::rules::*;
use crate::manifest::diagnostic::{did_you_mean, Diagnostic};
use crate::manifest::schema;
use crate::manifest::yaml::{Entry, Kind, Node, Span};
use crate::model::*;

impl Checker<'_> {
    /// The API's own check of each workflow definition exactly as apply would send it
    /// ([`crate::api::rules::workflow_definition`]). It runs on a stack with no other
    /// problem, so it reports only what apply would be refused, never an echo.
    pub(super) fn api_workflow_checks(&mut self, entries: Entries<'_>, desired: &Desired) {
        if !self.diagnostics.is_empty() {
            return;
        }
        for entry in entries {
            let Some(spec) = desired.workflows.get(&entry.key) else {
                continue;
            };
            let definition = spec.definition(desired);
            let Some(body) = definition.as_object() else {
                continue;
            };
            if let Err(violation) = workflow_definition(body, desired.project_id()) {
                self.address = Some(Address::Workflow(entry.key.clone()));
                self.error(
                    entry.key_span,
                    &join(&join("workflows", &entry.key), &violation.field),
                    format!("the API would refuse this workflow: {}", violation.message),
                    None,
                );
                self.address = None;
            }
        }
    }

    pub(super) fn workflow(&mut self, entry: &Entry, functions: Entries<'_>) -> Option<WorkflowSpec> {
        let name = &entry.key;
        let path = join("workflows", name);
        self.address = Some(Address::Workflow(name.clone()));
        if !is_valid_workflow_name(name) {
            self.error(
                entry.key_span,
                &path,
                format!("`{name}` is not a valid workflow name"),
                Some("1–64 characters of letters, digits, `_` and `-`, starting with a letter".into()),
            );
        }
        let fields = self.object(&entry.value, &path, schema::WORKFLOW, false)?;
        let description = self.description(fields, &path);
        let mode = self
            .opt_string(fields, "mode", &path)
            .unwrap_or_else(|| "NORMAL".into());
        if workflow_mode(&mode).is_err() {
            let span = get(fields, "mode").map(|n| n.span).unwrap_or_default();
            self.error(
                span,
                &join(&path, "mode"),
                format!("`{mode}` is not a workflow mode"),
                Some("use NORMAL or EXPRESS".into()),
            );
        }
        let start = self.opt_string(fields, "start", &path);
        let constants = get(fields, "constants")
            .and_then(|n| self.json_object(n, &join(&path, "constants")))
            .unwrap_or_default();

        let (retries, retry_names) = self.retries(fields, &path);
        let mut extra = Map::new();
        for key in [
            "triggers",
            "express_config",
            "enable_stream_response",
            "enterprise_project_id",
        ] {
            if let Some(node) = get(fields, key) {
                let value = self.json(node, &join(&path, key));
                extra.insert(key.into(), value);
            }
        }

        let (states, workflow_functions) = self.states(entry, fields, &path, start.as_deref(), &retry_names, functions);
        self.address = None;
        Some(WorkflowSpec {
            name: name.clone(),
            description,
            mode,
            start: start?,
            functions: workflow_functions,
            states,
            constants,
            retries,
            extra,
        })
    }

    /// `retries`: named policies, each name once.
    fn retries(&mut self, fields: Entries<'_>, path: &str) -> (Vec<Value>, BTreeSet<String>) {
        let mut retries = Vec::new();
        let mut retry_names = BTreeSet::new();
        if let Some(node) = get(fields, "retries") {
            let rp = join(path, "retries");
            if let Some(items) = self.list(node, &rp) {
                for (i, item) in items.iter().enumerate() {
                    let ip = format!("{rp}[{i}]");
                    let Some(entries) = self.object(item, &ip, schema::RETRY, false) else {
                        continue;
                    };
                    if let Some(retry) = self.opt_string(entries, "name", &ip) {
                        if !retry_names.insert(retry.clone()) {
                            self.error(item.span, &ip, format!("retry `{retry}` is defined twice"), None);
                        }
                    }
                    self.ranged(entries, "delay", &ip, 0..=i64::from(u32::MAX));
                    self.ranged(entries, "max_attempts", &ip, 0..=i64::from(u32::MAX));
                    retries.push(self.json(item, &ip));
                }
            }
        }
        (retries, retry_names)
    }

    /// `states`: each state, then the graph: `start` and every transition name an existing
    /// state, and every state is reachable from `start`.
    fn states(
        &mut self,
        entry: &Entry,
        fields: Entries<'_>,
        path: &str,
        start: Option<&str>,
        retry_names: &BTreeSet<String>,
        functions: Entries<'_>,
    ) -> (Vec<Value>, Vec<WorkflowFunction>) {
        let sp = join(path, "states");
        let mut states = Vec::new();
        let mut ids: BTreeMap<String, Span> = BTreeMap::new();
        let mut transitions: Vec<(String, String, Span, String)> = Vec::new(); // (from, to, span, path)
        let mut workflow_functions: Vec<WorkflowFunction> = Vec::new();
        if let Some(node) = get(fields, "states") {
            match &node.kind {
                Kind::Seq(items) if !items.is_empty() => {
                    if items.len() > WORKFLOW_MAX_STATES {
                        self.error(
                            node.span,
                            &sp,
                            format!("{} states is too many", items.len()),
                            Some(format!("at most {WORKFLOW_MAX_STATES}")),
                        );
                    }
                    for (i, item) in items.iter().enumerate() {
                        let ip = format!("{sp}[{i}]");
                        if let Some(state) = self.state(
                            item,
                            &ip,
                            &mut ids,
                            &mut transitions,
                            &mut workflow_functions,
                            retry_names,
                            functions,
                        ) {
                            states.push(state);
                        }
                    }
                }
                _ => self.error(node.span, &sp, "expected a non-empty list of states", None),
            }
        }
        if workflow_functions.len() > WORKFLOW_MAX_FUNCTIONS {
            self.error(
                entry.value.span,
                path,
                format!("{} distinct functions is too many", workflow_functions.len()),
                Some(format!("at most {WORKFLOW_MAX_FUNCTIONS}")),
            );
        }
        self.graph(fields, path, start, &ids, &transitions);
        (states, workflow_functions)
    }

    fn graph(
        &mut self,
        fields: Entries<'_>,
        path: &str,
        start: Option<&str>,
        ids: &BTreeMap<String, Span>,
        transitions: &[(String, String, Span, String)],
    ) {
        let sp = join(path, "states");
        // Graph: start and every transition name an existing state; every state is reachable.
        if let (Some(start), Some(node)) = (start, get(fields, "start")) {
            if !ids.is_empty() && !ids.contains_key(start) {
                let hint = did_you_mean(start, ids.keys().map(String::as_str)).map(|c| format!("did you mean `{c}`?"));
                self.error(
                    node.span,
                    &join(path, "start"),
                    format!("no state has id `{start}`"),
                    hint,
                );
            }
        }
        for (_, to, span, tp) in transitions {
            if !ids.contains_key(to) {
                let hint = did_you_mean(to, ids.keys().map(String::as_str)).map(|c| format!("did you mean `{c}`?"));
                self.error(*span, tp, format!("no state has id `{to}`"), hint);
            }
        }
        if let Some(start) = start.filter(|s| ids.contains_key(*s)) {
            let mut reached = BTreeSet::from([start.to_string()]);
            let mut queue = vec![start.to_string()];
            while let Some(at) = queue.pop() {
                for (from, to, _, _) in transitions {
                    if *from == at && ids.contains_key(to) && reached.insert(to.clone()) {
                        queue.push(to.clone());
                    }
                }
            }
            for (id, span) in ids {
                if !reached.contains(id) {
                    self.error(
                        *span,
                        &sp,
                        format!("state `{id}` cannot be reached from `{start}`"),
                        Some("point a `next` at it, or remove it".into()),
                    );
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn state(
        &mut self,
        node: &Node,
        path: &str,
        ids: &mut BTreeMap<String, Span>,
        transitions: &mut Vec<(String, String, Span, String)>,
        workflow_functions: &mut Vec<WorkflowFunction>,
        retry_names: &BTreeSet<String>,
        functions: Entries<'_>,
    ) -> Option<Value> {
        let entries = self.object(node, path, schema::STATE, true)?;
        let id = self.opt_string(entries, "id", path)?;
        let id_span = get(entries, "id").map(|n| n.span).unwrap_or(node.span);
        if let Some(first) = ids.get(&id) {
            let first = self.location(*first);
            let mut diagnostic = Diagnostic::new(join(path, "id"), format!("state id `{id}` is used twice"))
                .at(self.location(id_span))
                .with_address(self.address.clone());
            diagnostic.related = first.map(|l| ("first used at".to_string(), l));
            self.diagnostics.push(diagnostic);
        } else {
            ids.insert(id.clone(), id_span);
        }
        let kind = self.opt_string(entries, "type", path).unwrap_or_default();
        let Value::Object(mut state) = self.json(node, path) else {
            return None;
        };
        let is_end = kind == "End"
            || get(entries, "end").is_some_and(|n| matches!(&n.kind, Kind::Scalar { text, .. } if text == "true"));
        match (state.remove("next"), is_end) {
            (Some(Value::String(next)), false) => {
                let span = get(entries, "next").map(|n| n.span).unwrap_or(node.span);
                transitions.push((id.clone(), next.clone(), span, join(path, "next")));
                state.insert("transition".into(), next.into());
                state.insert("end".into(), false.into());
            }
            (Some(_), true) => self.error(node.span, &join(path, "next"), "an end state has no `next`", None),
            (Some(other), false) => self.error(
                node.span,
                &join(path, "next"),
                format!("expected a state id, found {other}"),
                None,
            ),
            (None, true) => {
                state.insert("end".into(), true.into());
                state.insert("transition".into(), "".into());
            }
            (None, false) => {
                if let Some(Value::String(to)) = state.get("transition") {
                    transitions.push((id.clone(), to.clone(), node.span, join(path, "transition")));
                } else if kind == "Operation" || kind == "Sleep" {
                    self.error(
                        node.span,
                        path,
                        format!("state `{id}` has no `next` and is not an End state"),
                        Some("add `next: <state id>`, or `type: End` for the last state".into()),
                    );
                }
            }
        }
        if let Some(Value::Array(actions)) = state.get_mut("actions") {
            self.actions(actions, entries, node, path, workflow_functions, functions);
        }
        if let Some(Value::Array(handlers)) = state.get_mut("on_errors") {
            self.on_errors(handlers, node, path, &id, transitions, retry_names);
        }
        let mut others = Vec::new();
        for (key, value) in &state {
            if !["transition", "on_errors", "actions", "id", "end", "type"].contains(&key.as_str()) {
                nested(value, &mut others);
            }
        }
        for to in others {
            transitions.push((id.clone(), to, node.span, path.to_string()));
        }
        Some(Value::Object(state))
    }

    /// `actions[].function` → a `function_ref`, and the workflow's list of functions.
    fn actions(
        &mut self,
        actions: &mut [Value],
        entries: Entries<'_>,
        node: &Node,
        path: &str,
        workflow_functions: &mut Vec<WorkflowFunction>,
        functions: Entries<'_>,
    ) {
        let action_nodes = match get(entries, "actions").map(|n| &n.kind) {
            Some(Kind::Seq(items)) => items.clone(),
            _ => Vec::new(),
        };
        for (i, action) in actions.iter_mut().enumerate() {
            let ap = format!("{path}.actions[{i}]");
            let Some(object) = action.as_object_mut() else { continue };
            let Some(target) = object.remove("function") else {
                continue;
            };
            let action_node = action_nodes.get(i).cloned().unwrap_or_else(|| node.clone());
            let Value::String(text) = target else {
                self.error(
                    action_node.span,
                    &join(&ap, "function"),
                    "expected a function name or URN",
                    None,
                );
                continue;
            };
            let fnode = action_node
                .as_map()
                .and_then(|m| get(m, "function"))
                .cloned()
                .unwrap_or(action_node.clone());
            let Some(reference) = self.function_ref(text, &fnode, &join(&ap, "function"), functions) else {
                continue;
            };
            let ref_name = match &reference {
                FunctionRef::Stack(name) => name.clone(),
                FunctionRef::Urn(urn) => urn.split(':').nth(6).unwrap_or("function").to_string(),
            };
            if !workflow_functions.iter().any(|f| f.name == ref_name) {
                workflow_functions.push(WorkflowFunction {
                    name: ref_name.clone(),
                    target: reference,
                });
            }
            let arguments = object.remove("arguments").unwrap_or_else(|| Value::Object(Map::new()));
            let invoke_mode = object.remove("invoke_mode").unwrap_or_else(|| "sync".into());
            object.insert(
                "function_ref".into(),
                serde_json::json!({"ref_name": ref_name, "invoke_mode": invoke_mode, "arguments": arguments}),
            );
        }
    }

    /// `on_errors[]`: `next` becomes `transition`; `retry_ref` names a declared retry.
    fn on_errors(
        &mut self,
        handlers: &mut [Value],
        node: &Node,
        path: &str,
        id: &str,
        transitions: &mut Vec<(String, String, Span, String)>,
        retry_names: &BTreeSet<String>,
    ) {
        for (i, handler) in handlers.iter_mut().enumerate() {
            let hp = format!("{path}.on_errors[{i}]");
            let Some(object) = handler.as_object_mut() else {
                continue;
            };
            if let Some(Value::String(next)) = object.remove("next") {
                transitions.push((id.to_string(), next.clone(), node.span, join(&hp, "next")));
                object.insert("transition".into(), next.into());
            }
            if let Some(Value::String(retry)) = object.get("retry_ref") {
                if !retry_names.contains(retry) {
                    let hint = did_you_mean(retry, retry_names.iter().map(String::as_str))
                        .map(|c| format!("did you mean `{c}`?"));
                    self.error(
                        node.span,
                        &join(&hp, "retry_ref"),
                        format!("no retry named `{retry}` in `retries`"),
                        hint,
                    );
                }
            }
        }
    }
}

// Other transitions inside pass-through keys (Switch choices, …) count for reachability.
fn nested(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("next" | "transition" | "default", Value::String(s)) if !s.is_empty() => {
                        out.push(s.clone());
                    }
                    _ => nested(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| nested(v, out)),
        _ => {}
    }
}
