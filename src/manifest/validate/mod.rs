//! The merged tree → the model, checking every constraint that can be checked offline.
//! Problems are pushed to a list and conversion goes on, so one run reports them all.

mod code;
mod function;
mod output;
mod release;
mod trigger;
mod workflow;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::diagnostic::{did_you_mean, Diagnostic, Location};
use super::interpolate::{interpolate, Scope};
use super::schema::{self, Field};
use super::yaml::{scalar_to_json, Entry, Kind, Node, Span};
use super::LoadOptions;
use crate::api::limits::*;
use crate::api::rules::*;
use crate::model::{Address, CodeBucket, Desired, ProviderSpec};

/// The converter's state: where files are, what interpolation sees, what went wrong.
pub struct Checker<'a> {
    dir: &'a Path,
    files: &'a [PathBuf],
    options: &'a LoadOptions,
    diagnostics: &'a mut Vec<Diagnostic>,
    scope: Scope,
    address: Option<Address>,
    edges: BTreeSet<(Address, Address)>,
    /// `provider.code_bucket`, once the provider is read: packages over the inline limit
    /// are uploaded there instead of refused.
    code_bucket: Option<CodeBucket>,
}

type Entries<'n> = &'n [Entry];

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn get<'n>(entries: Entries<'n>, key: &str) -> Option<&'n Node> {
    entries
        .iter()
        .find(|e| e.key == key)
        .map(|e| &e.value)
        .filter(|n| !n.is_null())
}

/// Where the project id comes from when `provider.project_id` is left out, in order: the
/// names the client reads (`client::credentials::EnvSettings`).
pub const PROJECT_ID_ENV: [&str; 2] = ["HUAWEICLOUD_SDK_PROJECT_ID", "HW_PROJECT_ID"];

fn list_of(values: &[i64]) -> String {
    values.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
}

impl<'a> Checker<'a> {
    pub fn new(
        dir: &'a Path,
        files: &'a [PathBuf],
        options: &'a LoadOptions,
        diagnostics: &'a mut Vec<Diagnostic>,
    ) -> Self {
        Checker {
            dir,
            files,
            options,
            diagnostics,
            scope: Scope {
                env: options.env.clone(),
                stage: options.stage.clone(),
                ..Scope::default()
            },
            address: None,
            edges: BTreeSet::new(),
            code_bucket: None,
        }
    }

    /// The stages the stack declares (see [`super::stages`]).
    pub fn with_stages(mut self, stages: Vec<String>) -> Self {
        self.scope.stages = stages;
        self
    }

    fn location(&self, span: Span) -> Option<Location> {
        self.files.get(span.file).map(|file| Location {
            file: file.clone(),
            line: span.line,
            column: span.column,
        })
    }

    fn error(&mut self, span: Span, path: &str, message: impl Into<String>, hint: Option<String>) {
        let diagnostic = Diagnostic::new(path, message)
            .at(self.location(span))
            .with_address(self.address.clone())
            .with_hint(hint);
        self.diagnostics.push(diagnostic);
    }

    /// A mapping whose keys are checked against `fields` (`open`: unknown keys allowed).
    fn object<'n>(&mut self, node: &'n Node, path: &str, fields: &[Field], open: bool) -> Option<Entries<'n>> {
        let entries: Entries<'n> = match &node.kind {
            Kind::Map(entries) => entries,
            _ if node.is_null() => &[],
            _ => {
                self.error(
                    node.span,
                    path,
                    format!("expected a mapping, found {}", node.describe()),
                    None,
                );
                return None;
            }
        };
        if !open {
            for entry in entries {
                if !fields.iter().any(|f| f.name == entry.key) {
                    let hint = schema::unknown_key_hint(&entry.key, fields).or_else(|| {
                        Some(format!(
                            "known keys here: {}",
                            fields.iter().map(|f| f.name).collect::<Vec<_>>().join(", ")
                        ))
                    });
                    self.error(entry.key_span, &join(path, &entry.key), "unknown key", hint);
                }
            }
        }
        for field in fields.iter().filter(|f| f.required) {
            if get(entries, field.name).is_none() {
                let hint = format!("add `{}:` — {}", field.name, field.doc);
                self.error(
                    node.span,
                    path,
                    format!("missing required key `{}`", field.name),
                    Some(hint),
                );
            }
        }
        Some(entries)
    }

    fn interpolate(&mut self, text: &str, span: Span, path: &str) -> Option<String> {
        let mut refs = Vec::new();
        match interpolate(text, &self.scope, &mut refs) {
            Ok(value) => {
                if let Some(from) = &self.address {
                    for to in refs {
                        if *from != to {
                            self.edges.insert((from.clone(), to));
                        }
                    }
                }
                Some(value)
            }
            Err(err) => {
                self.error(span, path, err.message, err.hint);
                None
            }
        }
    }

    /// The text of string `node` as written, `${…}` and all.
    fn raw_string<'n>(&mut self, node: &'n Node, path: &str) -> Option<&'n str> {
        match &node.kind {
            Kind::Scalar { text, .. } if !node.is_null() => Some(text),
            _ => {
                self.error(
                    node.span,
                    path,
                    format!("expected a string, found {}", node.describe()),
                    None,
                );
                None
            }
        }
    }

    fn string(&mut self, node: &Node, path: &str) -> Option<String> {
        let text = self.raw_string(node, path)?;
        self.interpolate(text, node.span, path)
    }

    fn opt_string(&mut self, entries: Entries<'_>, key: &str, path: &str) -> Option<String> {
        get(entries, key).and_then(|n| self.string(n, &join(path, key)))
    }

    fn int(&mut self, node: &Node, path: &str) -> Option<i64> {
        let text = self.string(node, path)?;
        match text.trim().parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                self.error(
                    node.span,
                    path,
                    format!("expected a whole number, found `{text}`"),
                    None,
                );
                None
            }
        }
    }

    fn ranged(
        &mut self,
        entries: Entries<'_>,
        key: &str,
        path: &str,
        range: std::ops::RangeInclusive<i64>,
    ) -> Option<i64> {
        let node = get(entries, key)?;
        let path = join(path, key);
        let n = self.int(node, &path)?;
        if !range.contains(&n) {
            self.error(
                node.span,
                &path,
                format!("{n} is out of range"),
                Some(format!("use a value within {}..={}", range.start(), range.end())),
            );
            return None;
        }
        Some(n)
    }

    fn bool(&mut self, node: &Node, path: &str) -> Option<bool> {
        let text = self.string(node, path)?;
        match text.as_str() {
            "true" | "True" | "TRUE" => Some(true),
            "false" | "False" | "FALSE" => Some(false),
            _ => {
                self.error(node.span, path, format!("expected true or false, found `{text}`"), None);
                None
            }
        }
    }

    /// The items of list `node`; `None`, with the error, when it is not a list.
    fn list<'n>(&mut self, node: &'n Node, path: &str) -> Option<&'n [Node]> {
        match &node.kind {
            Kind::Seq(items) => Some(items),
            _ => {
                self.error(
                    node.span,
                    path,
                    format!("expected a list, found {}", node.describe()),
                    None,
                );
                None
            }
        }
    }

    fn string_list(&mut self, node: &Node, path: &str) -> Vec<(String, Span)> {
        if node.is_null() {
            return Vec::new();
        }
        let Some(items) = self.list(node, path) else {
            return Vec::new();
        };
        items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| self.string(item, &format!("{path}[{i}]")).map(|s| (s, item.span)))
            .collect()
    }

    fn string_map(&mut self, node: &Node, path: &str) -> Vec<(String, String, Span)> {
        let Some(entries) = self.object(node, path, &[], true) else {
            return Vec::new();
        };
        entries
            .iter()
            .filter_map(|e| {
                let value = match &e.value.kind {
                    Kind::Scalar { text, .. } => self.interpolate(text, e.value.span, &join(path, &e.key)),
                    _ => {
                        self.error(
                            e.value.span,
                            &join(path, &e.key),
                            format!("expected a string, found {}", e.value.describe()),
                            None,
                        );
                        None
                    }
                }?;
                Some((e.key.clone(), value, e.key_span))
            })
            .collect()
    }

    /// Free JSON, strings interpolated.
    fn json(&mut self, node: &Node, path: &str) -> Value {
        match &node.kind {
            Kind::Scalar { text, quoted } => {
                if text.contains('$') {
                    match self.interpolate(text, node.span, path) {
                        Some(value) if *quoted || value.contains("${") => Value::String(value),
                        Some(value) => scalar_to_json(&value, false),
                        None => Value::Null,
                    }
                } else {
                    scalar_to_json(text, *quoted)
                }
            }
            Kind::Seq(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| self.json(item, &format!("{path}[{i}]")))
                    .collect(),
            ),
            Kind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|e| (e.key.clone(), self.json(&e.value, &join(path, &e.key))))
                    .collect(),
            ),
        }
    }

    fn json_object(&mut self, node: &Node, path: &str) -> Option<Map<String, Value>> {
        match self.json(node, path) {
            Value::Object(map) => Some(map),
            _ => {
                self.error(
                    node.span,
                    path,
                    format!("expected a mapping, found {}", node.describe()),
                    None,
                );
                None
            }
        }
    }

    fn named<'n>(&mut self, root: Entries<'n>, key: &str) -> Entries<'n> {
        match get(root, key) {
            Some(node) => self.object(node, key, &[], true).unwrap_or(&[]),
            None => &[],
        }
    }

    /// Converts the whole merged document.
    pub fn run(mut self, root: &Node, var_values: BTreeMap<String, (String, Option<Location>)>) -> Option<Desired> {
        let root_entries = self.object(root, "", schema::ROOT, false)?;

        // Variables first: everything else may interpolate them.
        let variables = self.named(root_entries, "variables");
        for entry in variables {
            let path = join("variables", &entry.key);
            let Some(fields) = self.object(&entry.value, &path, schema::VARIABLE, false) else {
                continue;
            };
            let default = get(fields, "default").and_then(|n| match &n.kind {
                Kind::Scalar { text, .. } => Some(text.clone()),
                _ => None,
            });
            self.scope.vars.insert(entry.key.clone(), default);
        }
        for (name, (value, location)) in var_values {
            if let Some(slot) = self.scope.vars.get_mut(&name) {
                *slot = Some(value);
            } else {
                let hint = match did_you_mean(&name, self.scope.vars.keys().map(String::as_str)) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None if name == "stage" => {
                        "the stage is given with `--stage`, and `${stage}` is its value".to_string()
                    }
                    None => format!("declare it under `variables:` as `{name}: {{ default: … }}`"),
                };
                self.diagnostics.push(
                    Diagnostic::new(
                        "",
                        format!("a value is given for variable `{name}`, which the stack does not declare"),
                    )
                    .at(location)
                    .with_hint(Some(hint)),
                );
            }
        }

        let stack = get(root_entries, "stack").and_then(|node| self.stack_name(node));
        self.scope.stack = stack.clone();

        let provider = get(root_entries, "provider").and_then(|node| self.provider(node));
        let region = provider
            .as_ref()
            .map_or(crate::api::local::REGION, |p| p.region.as_str())
            .to_string();
        let project = provider
            .as_ref()
            .map_or(crate::api::local::PROJECT_ID, |p| p.project_id.as_str())
            .to_string();

        let functions = self.named(root_entries, "functions");
        let dependencies = self.named(root_entries, "dependencies");
        let workflows = self.named(root_entries, "workflows");
        for entry in functions {
            let app = entry
                .value
                .as_map()
                .and_then(|m| get(m, "app"))
                .and_then(|n| match &n.kind {
                    Kind::Scalar { text, .. } if !text.contains('$') => Some(text.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| "default".into());
            let urn = crate::api::urn::FunctionUrn::unqualified(&region, &project, &app, &entry.key);
            self.scope.function_urns.insert(entry.key.clone(), urn);
        }
        for entry in workflows {
            let urn = crate::api::urn::workflow_urn(&region, &project, &entry.key);
            self.scope.workflow_urns.insert(entry.key.clone(), urn);
        }
        self.scope.dependencies = dependencies.iter().map(|e| e.key.clone()).collect();

        let state = get(root_entries, "state")
            .map(|node| self.state_setting(node, provider.as_ref().map(|p| p.region.as_str())))
            .unwrap_or_default();
        let mut desired = Desired {
            stack: stack.unwrap_or_default(),
            stage: self.options.stage.clone(),
            provider,
            state,
            dependencies: BTreeMap::new(),
            functions: BTreeMap::new(),
            workflows: BTreeMap::new(),
            edges: BTreeSet::new(),
            code_bucket: self.code_bucket.clone().or_else(|| self.options.code_bucket.clone()),
            outputs: BTreeMap::new(),
        };
        for entry in dependencies {
            if let Some(dependency) = self.dependency(entry) {
                desired.dependencies.insert(entry.key.clone(), dependency);
            }
        }
        for entry in functions {
            if let Some(function) = self.function(entry, &desired.dependencies, functions) {
                desired.functions.insert(entry.key.clone(), Box::new(function));
            }
        }
        for entry in workflows {
            if let Some(workflow) = self.workflow(entry, functions) {
                desired.workflows.insert(entry.key.clone(), workflow);
            }
        }
        desired.edges = std::mem::take(&mut self.edges);
        let outputs = self.named(root_entries, "outputs");
        desired.outputs = self.outputs(outputs, functions);
        self.api_workflow_checks(workflows, &desired);
        Some(desired)
    }

    fn provider(&mut self, node: &Node) -> Option<ProviderSpec> {
        let fields = self.object(node, "provider", schema::PROVIDER, false)?;
        let region = self.opt_string(fields, "region", "provider");
        let project_id = match get(fields, "project_id") {
            Some(node) => self.string(node, "provider.project_id"),
            None => self.project_id_from_env(node),
        };
        let endpoint = self.opt_string(fields, "endpoint", "provider");
        if let (Some(endpoint), Some(node)) = (&endpoint, get(fields, "endpoint")) {
            if !(endpoint.starts_with("https://") || endpoint.starts_with("http://")) {
                self.error(
                    node.span,
                    "provider.endpoint",
                    format!("`{endpoint}` is not an http(s) URL"),
                    None,
                );
            }
        }
        for (key, value) in [("region", &region), ("project_id", &project_id)] {
            if let (Some(value), Some(node)) = (value, get(fields, key)) {
                if value.is_empty() || value.contains(['/', ' ', ':']) {
                    self.error(
                        node.span,
                        &join("provider", key),
                        format!("`{value}` is not a valid {key}"),
                        None,
                    );
                }
            }
        }
        if let (Some(node), Some(region)) = (get(fields, "code_bucket"), &region) {
            self.code_bucket = self.code_bucket(node, region);
        }
        Some(ProviderSpec {
            region: region?,
            project_id: project_id?,
            endpoint,
        })
    }

    /// `stack:`, checked.
    fn stack_name(&mut self, node: &Node) -> Option<String> {
        let stack = self.string(node, "stack");
        if let Some(name) = &stack {
            if !is_valid_stack_name(name) {
                self.error(
                    node.span,
                    "stack",
                    format!("`{name}` is not a valid stack name"),
                    Some("1–40 characters of letters, digits, `_` and `-`, starting with a letter and ending with a letter or digit".into()),
                );
            }
        }
        stack
    }

    /// `state:`: a location string, or `{location, passphrase_env}`. The location is parsed
    /// here, so a malformed one is an error with its file and line before anything runs.
    fn state_setting(&mut self, node: &Node, region: Option<&str>) -> crate::model::StateSpec {
        let mut spec = crate::model::StateSpec::default();
        let location_node = match node.as_map() {
            Some(fields) => {
                for entry in fields {
                    if !["location", "passphrase_env"].contains(&entry.key.as_str()) {
                        self.error(
                            entry.key_span,
                            &join("state", &entry.key),
                            format!("unknown key `{}` under `state:`", entry.key),
                            Some("`state:` takes `location` and `passphrase_env`".into()),
                        );
                    }
                }
                spec.passphrase_env = self.opt_string(fields, "passphrase_env", "state");
                if let (Some(name), Some(node)) = (&spec.passphrase_env, get(fields, "passphrase_env")) {
                    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                        self.error(
                            node.span,
                            "state.passphrase_env",
                            format!("`{name}` is not an environment variable name"),
                            Some("name the variable, e.g. `passphrase_env: FGFORM_STATE_PASSPHRASE`; never the passphrase itself".into()),
                        );
                    }
                }
                get(fields, "location").map(|n| (n, "state.location"))
            }
            None => Some((node, "state")),
        };
        if let Some((node, path)) = location_node {
            spec.location = self.string(node, path);
            if let Some(text) = &spec.location {
                let context = crate::state::location::Context {
                    stack: "stack",
                    stage: None,
                    region,
                    base: Path::new(""),
                    env: Some(&self.options.env),
                };
                if let Err(e) = crate::state::location::Location::parse(text, &context) {
                    self.error(node.span, path, e.reason, None);
                }
            }
        }
        spec
    }

    /// `provider.project_id` left out: the one the client would use, from
    /// `HUAWEICLOUD_SDK_PROJECT_ID`, then `HW_PROJECT_ID` (empty counts as unset).
    fn project_id_from_env(&mut self, provider: &Node) -> Option<String> {
        let found = PROJECT_ID_ENV.iter().find_map(|name| {
            self.options
                .env
                .get(*name)
                .map(|value| value.trim())
                .filter(|value| !value.is_empty())
                .map(|value| (*name, value.to_string()))
        });
        let hint = format!(
            "add `project_id:` under `provider:`, or set it in the environment: `export {}=…` (or `{}`)",
            PROJECT_ID_ENV[0], PROJECT_ID_ENV[1]
        );
        match found {
            Some((_, value)) if !value.contains(['/', ' ', ':']) => Some(value),
            Some((name, value)) => {
                self.error(
                    provider.span,
                    "provider.project_id",
                    format!("`{value}` (from the environment variable `{name}`) is not a valid project_id"),
                    Some(hint),
                );
                None
            }
            None => {
                self.error(
                    provider.span,
                    "provider",
                    format!(
                        "no `project_id`: it is not in the manifest and neither `{}` nor `{}` is set",
                        PROJECT_ID_ENV[0], PROJECT_ID_ENV[1]
                    ),
                    Some(hint),
                );
                None
            }
        }
    }

    fn runtime(&mut self, fields: Entries<'_>, path: &str) -> Option<String> {
        let node = get(fields, "runtime")?;
        let path = join(path, "runtime");
        let runtime = self.string(node, &path)?;
        if !is_valid_runtime(&runtime) {
            let hint = match did_you_mean(&runtime, RUNTIMES.iter().copied()) {
                Some(close) => format!("did you mean `{close}`? (runtimes are spelled exactly as the API has them)"),
                None => format!("use one of: {}", RUNTIMES.join(", ")),
            };
            self.error(
                node.span,
                &path,
                format!("`{runtime}` is not a FunctionGraph runtime"),
                Some(hint),
            );
            return None;
        }
        Some(runtime)
    }

    fn description(&mut self, fields: Entries<'_>, path: &str) -> Option<String> {
        let description = self.opt_string(fields, "description", path)?;
        if crate::api::rules::description(&description).is_err() {
            let span = get(fields, "description").map(|n| n.span).unwrap_or_default();
            self.error(
                span,
                &join(path, "description"),
                format!("{} characters is too long", description.chars().count()),
                Some(format!("at most {DESCRIPTION_MAX} characters")),
            );
        }
        Some(description)
    }
}
