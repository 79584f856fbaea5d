//! The merged tree → the model, checking every constraint that can be checked offline.
//! Problems are pushed to a list and conversion goes on, so one run reports them all.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::diagnostic::{did_you_mean, Diagnostic, Location};
use super::interpolate::{interpolate, Scope};
use super::schema::{self, Field};
use super::yaml::{scalar_to_json, Entry, Kind, Node, Span};
use super::LoadOptions;
use crate::model::limits::{self, *};
use crate::model::{
    Address, ArchiveKind, AsyncSpec, CodeSource, DependencySpec, Desired, Destination, FunctionRef, FunctionSpec,
    Hook, ProviderSpec, Secret, StrategyConfig, TriggerSpec, TriggerStatus, WorkflowFunction, WorkflowSpec,
};

/// The converter's state: where files are, what interpolation sees, what went wrong.
pub struct Checker<'a> {
    dir: &'a Path,
    files: &'a [PathBuf],
    options: &'a LoadOptions,
    diagnostics: &'a mut Vec<Diagnostic>,
    scope: Scope,
    address: Option<Address>,
    edges: BTreeSet<(Address, Address)>,
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
    entries.iter().find(|e| e.key == key).map(|e| &e.value).filter(|n| !n.is_null())
}

fn list_of(values: &[u32]) -> String {
    values.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
}

impl<'a> Checker<'a> {
    pub fn new(dir: &'a Path, files: &'a [PathBuf], options: &'a LoadOptions, diagnostics: &'a mut Vec<Diagnostic>) -> Self {
        Checker {
            dir,
            files,
            options,
            diagnostics,
            scope: Scope {
                env: options.env.clone(),
                ..Scope::default()
            },
            address: None,
            edges: BTreeSet::new(),
        }
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
                self.error(node.span, path, format!("expected a mapping, found {}", node.describe()), None);
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
                self.error(node.span, path, format!("missing required key `{}`", field.name), Some(field.doc.into()));
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

    fn string(&mut self, node: &Node, path: &str) -> Option<String> {
        match &node.kind {
            Kind::Scalar { text, .. } if !node.is_null() => self.interpolate(text, node.span, path),
            _ => {
                self.error(node.span, path, format!("expected a string, found {}", node.describe()), None);
                None
            }
        }
    }

    fn opt_string(&mut self, entries: Entries, key: &str, path: &str) -> Option<String> {
        get(entries, key).and_then(|n| self.string(n, &join(path, key)))
    }

    fn int(&mut self, node: &Node, path: &str) -> Option<i64> {
        let text = self.string(node, path)?;
        match text.trim().parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                self.error(node.span, path, format!("expected a whole number, found `{text}`"), None);
                None
            }
        }
    }

    fn ranged(&mut self, entries: Entries, key: &str, path: &str, range: std::ops::RangeInclusive<i64>) -> Option<i64> {
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

    fn string_list(&mut self, node: &Node, path: &str) -> Vec<(String, Span)> {
        match &node.kind {
            Kind::Seq(items) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| self.string(item, &format!("{path}[{i}]")).map(|s| (s, item.span)))
                .collect(),
            _ if node.is_null() => Vec::new(),
            _ => {
                self.error(node.span, path, format!("expected a list, found {}", node.describe()), None);
                Vec::new()
            }
        }
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
                self.error(node.span, path, format!("expected a mapping, found {}", node.describe()), None);
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
                    None => format!("declare it under `variables:` as `{name}: {{ default: … }}`"),
                };
                self.diagnostics.push(
                    Diagnostic::new("", format!("a value is given for variable `{name}`, which the stack does not declare"))
                        .at(location)
                        .with_hint(Some(hint)),
                );
            }
        }

        let stack = match get(root_entries, "stack") {
            Some(node) => {
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
            None => {
                self.error(root.span, "", "missing required key `stack`", Some("add `stack: <name>` to one of the files".into()));
                None
            }
        };
        self.scope.stack = stack.clone();

        let provider = get(root_entries, "provider").and_then(|node| self.provider(node));
        let region = provider.as_ref().map_or(crate::api::local::REGION, |p| p.region.as_str()).to_string();
        let project = provider.as_ref().map_or(crate::api::local::PROJECT_ID, |p| p.project_id.as_str()).to_string();

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

        let mut desired = Desired {
            stack: stack.unwrap_or_default(),
            stage: self.options.stage.clone(),
            provider,
            dependencies: BTreeMap::new(),
            functions: BTreeMap::new(),
            workflows: BTreeMap::new(),
            edges: BTreeSet::new(),
        };
        for entry in dependencies {
            if let Some(dependency) = self.dependency(entry) {
                desired.dependencies.insert(entry.key.clone(), dependency);
            }
        }
        for entry in functions {
            if let Some(function) = self.function(entry, &desired.dependencies, functions) {
                desired.functions.insert(entry.key.clone(), function);
            }
        }
        for entry in workflows {
            if let Some(workflow) = self.workflow(entry, functions) {
                desired.workflows.insert(entry.key.clone(), workflow);
            }
        }
        desired.edges = std::mem::take(&mut self.edges);
        Some(desired)
    }

    fn provider(&mut self, node: &Node) -> Option<ProviderSpec> {
        let fields = self.object(node, "provider", schema::PROVIDER, false)?;
        let region = self.opt_string(fields, "region", "provider");
        let project_id = self.opt_string(fields, "project_id", "provider");
        let endpoint = self.opt_string(fields, "endpoint", "provider");
        if let (Some(endpoint), Some(node)) = (&endpoint, get(fields, "endpoint")) {
            if !(endpoint.starts_with("https://") || endpoint.starts_with("http://")) {
                self.error(node.span, "provider.endpoint", format!("`{endpoint}` is not an http(s) URL"), None);
            }
        }
        for (key, value) in [("region", &region), ("project_id", &project_id)] {
            if let (Some(value), Some(node)) = (value, get(fields, key)) {
                if value.is_empty() || value.contains(['/', ' ', ':']) {
                    self.error(node.span, &join("provider", key), format!("`{value}` is not a valid {key}"), None);
                }
            }
        }
        Some(ProviderSpec {
            region: region?,
            project_id: project_id?,
            endpoint,
        })
    }

    fn runtime(&mut self, fields: Entries, path: &str) -> Option<String> {
        let node = get(fields, "runtime")?;
        let path = join(path, "runtime");
        let runtime = self.string(node, &path)?;
        if !is_valid_runtime(&runtime) {
            let hint = match did_you_mean(&runtime, RUNTIMES.iter().copied()) {
                Some(close) => format!("did you mean `{close}`? (runtimes are spelled exactly as the API has them)"),
                None => format!("use one of: {}", RUNTIMES.join(", ")),
            };
            self.error(node.span, &path, format!("`{runtime}` is not a FunctionGraph runtime"), Some(hint));
            return None;
        }
        Some(runtime)
    }

    fn description(&mut self, fields: Entries, path: &str) -> Option<String> {
        let description = self.opt_string(fields, "description", path)?;
        if description.chars().count() > DESCRIPTION_MAX_CHARS {
            let span = get(fields, "description").map(|n| n.span).unwrap_or_default();
            self.error(
                span,
                &join(path, "description"),
                format!("{} characters is too long", description.chars().count()),
                Some(format!("at most {DESCRIPTION_MAX_CHARS} characters")),
            );
        }
        Some(description)
    }

    /// `code:` / `source:` → a code source; `jar` says whether `.jar` files are allowed.
    fn code_source(&mut self, fields: Entries, key: &str, path: &str, jar: bool) -> Option<CodeSource> {
        let node = get(fields, key)?;
        let key_path = join(path, key);
        let text = self.string(node, &key_path)?;
        let exclude: Vec<String> = match get(fields, "exclude") {
            Some(n) => self.string_list(n, &join(path, "exclude")).into_iter().map(|(s, _)| s).collect(),
            None => Vec::new(),
        };
        if let Some(rest) = text.strip_prefix("obs://") {
            let Some((bucket, object)) = rest.split_once('/').filter(|(b, k)| !b.is_empty() && !k.is_empty()) else {
                self.error(node.span, &key_path, format!("`{text}` is not an OBS location"), Some("write `obs://bucket/path/to/code.zip`".into()));
                return None;
            };
            self.no_exclude(fields, path, "an OBS object");
            return Some(CodeSource::Obs {
                bucket: bucket.into(),
                key: object.into(),
            });
        }
        if text.contains("://") {
            self.error(node.span, &key_path, format!("`{text}`: only local paths and `obs://` are supported"), None);
            return None;
        }
        let path_buf = PathBuf::from(&text);
        let resolved = if path_buf.is_absolute() { path_buf.clone() } else { self.dir.join(&path_buf) };
        let lower = text.to_ascii_lowercase();
        let archive = if lower.ends_with(".zip") {
            Some(ArchiveKind::Zip)
        } else if lower.ends_with(".jar") {
            Some(ArchiveKind::Jar)
        } else {
            None
        };
        if archive == Some(ArchiveKind::Jar) && !jar {
            self.error(node.span, &key_path, "a dependency must be a folder, a `.zip` file or `obs://`", None);
            return None;
        }
        if self.options.check_paths {
            match (std::fs::metadata(&resolved), archive) {
                (Err(_), _) => {
                    self.error(
                        node.span,
                        &key_path,
                        format!("`{}` does not exist", resolved.display()),
                        Some("paths are relative to the stack directory".into()),
                    );
                    return None;
                }
                (Ok(meta), Some(_)) if !meta.is_file() => {
                    self.error(node.span, &key_path, format!("`{}` is not a file", resolved.display()), None);
                    return None;
                }
                (Ok(meta), None) if !meta.is_dir() => {
                    self.error(
                        node.span,
                        &key_path,
                        format!("`{}` is neither a folder nor a `.zip`/`.jar` file", resolved.display()),
                        None,
                    );
                    return None;
                }
                _ => {}
            }
        }
        match archive {
            Some(kind) => {
                self.no_exclude(fields, path, "a pre-built archive");
                Some(CodeSource::Archive { path: resolved, kind })
            }
            None => {
                for pattern in &exclude {
                    if let Err(err) = ignore::gitignore::GitignoreBuilder::new("/").add_line(None, pattern) {
                        let span = get(fields, "exclude").map(|n| n.span).unwrap_or_default();
                        self.error(span, &join(path, "exclude"), format!("`{pattern}` is not a valid glob: {err}"), None);
                    }
                }
                Some(CodeSource::Directory { path: resolved, exclude })
            }
        }
    }

    fn no_exclude(&mut self, fields: Entries, path: &str, what: &str) {
        if let Some(node) = get(fields, "exclude") {
            self.error(node.span, &join(path, "exclude"), format!("`exclude` only applies to folders, not to {what}"), None);
        }
    }

    fn dependency(&mut self, entry: &Entry) -> Option<DependencySpec> {
        let name = &entry.key;
        let path = join("dependencies", name);
        self.address = Some(Address::Dependency(name.clone()));
        if !is_valid_dependency_name(name) {
            self.error(
                entry.key_span,
                &path,
                format!("`{name}` is not a valid dependency name"),
                Some("1–96 characters of letters, digits, `_`, `.` and `-`, starting with a letter and ending with a letter or digit".into()),
            );
        }
        let fields = self.object(&entry.value, &path, schema::DEPENDENCY, false)?;
        let runtime = self.runtime(fields, &path);
        let source = self.code_source(fields, "source", &path, false);
        let description = self.description(fields, &path);
        self.address = None;
        Some(DependencySpec {
            name: name.clone(),
            runtime: runtime?,
            source: source?,
            description,
        })
    }

    fn hook(&mut self, fields: Entries, key: &str, path: &str, range: std::ops::RangeInclusive<u32>) -> Option<Hook> {
        let node = get(fields, key)?;
        let path = join(path, key);
        let hook = self.object(node, &path, schema::HOOK, false)?;
        let handler = self.opt_string(hook, "handler", &path);
        if let (Some(handler), Some(n)) = (&handler, get(hook, "handler")) {
            if !is_valid_handler(handler, "") {
                self.error(n.span, &join(&path, "handler"), format!("`{handler}` is not a handler"), Some("write `file.function`".into()));
            }
        }
        let timeout = self.ranged(hook, "timeout", &path, *range.start() as i64..=*range.end() as i64);
        Some(Hook {
            handler: handler?,
            timeout: timeout? as u32,
        })
    }

    fn user_data(&mut self, fields: Entries, key: &str, path: &str) -> Vec<(String, String, Span)> {
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
        if pairs.len() > USER_DATA_MAX_KEYS {
            self.error(
                node.span,
                &path,
                format!("{} variables is too many", pairs.len()),
                Some(format!("the API takes at most {USER_DATA_MAX_KEYS}")),
            );
        }
        let map: BTreeMap<&str, &str> = pairs.iter().map(|(k, v, _)| (k.as_str(), v.as_str())).collect();
        let bytes = serde_json::to_string(&map).map(|s| s.len()).unwrap_or(0);
        if bytes > USER_DATA_MAX_BYTES {
            self.error(
                node.span,
                &path,
                format!("{bytes} bytes once serialized is too large"),
                Some(format!("the API takes at most {USER_DATA_MAX_BYTES} bytes; move large values to OBS or a config file in the code")),
            );
        }
        pairs
    }

    fn function(&mut self, entry: &Entry, dependencies: &BTreeMap<String, DependencySpec>, all: Entries) -> Option<FunctionSpec> {
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
        let handler = self.opt_string(fields, "handler", &path);
        if let (Some(handler), Some(node)) = (&handler, get(fields, "handler")) {
            if !is_valid_handler(handler, runtime.as_deref().unwrap_or("")) {
                self.error(
                    node.span,
                    &join(&path, "handler"),
                    format!("`{handler}` is not a valid handler"),
                    Some("write `file.function` (3–128 characters), e.g. `index.handler`; Custom Image uses `-`".into()),
                );
            }
        }
        let memory = match get(fields, "memory") {
            Some(node) => {
                let p = join(&path, "memory");
                self.int(node, &p).and_then(|m| {
                    let ok = u32::try_from(m).ok().filter(|m| is_valid_memory(*m));
                    if ok.is_none() {
                        self.error(node.span, &p, format!("{m} is not a valid memory size"), Some(format!("use one of {} (MB)", list_of(MEMORY_SIZES))));
                    }
                    ok
                })
            }
            None => Some(128),
        };
        let timeout = match get(fields, "timeout") {
            Some(_) => self
                .ranged(fields, "timeout", &path, *TIMEOUT_RANGE.start() as i64..=*TIMEOUT_RANGE.end() as i64)
                .map(|t| t as u32),
            None => Some(3),
        };
        let code = self.code_source(fields, "code", &path, true);
        let description = self.description(fields, &path);
        let package = self.opt_string(fields, "app", &path).unwrap_or_else(|| "default".into());
        let environment = self.user_data(fields, "environment", &path);
        let secrets = self.user_data(fields, "secrets", &path);
        for (key, _, span) in &secrets {
            if environment.iter().any(|(k, _, _)| k == key) {
                self.error(*span, &join(&join(&path, "secrets"), key), format!("`{key}` is also in `environment`"), Some("a variable is either plain or secret, not both".into()));
            }
        }

        let mut depends = Vec::new();
        if let Some(node) = get(fields, "dependencies") {
            let p = join(&path, "dependencies");
            for (i, (dep, span)) in self.string_list(node, &p).into_iter().enumerate() {
                let item_path = format!("{p}[{i}]");
                if depends.contains(&dep) {
                    self.error(span, &item_path, format!("`{dep}` is listed twice"), None);
                    continue;
                }
                match dependencies.get(&dep) {
                    Some(spec) => {
                        if let Some(runtime) = &runtime {
                            if &spec.runtime != runtime {
                                self.error(
                                    span,
                                    &item_path,
                                    format!("dependency `{dep}` is built for {} but the function runs {runtime}", spec.runtime),
                                    Some("a function can only use dependencies of its own runtime".into()),
                                );
                            }
                        }
                        self.edges.insert((Address::Function(name.clone()), Address::Dependency(dep.clone())));
                    }
                    None => {
                        let hint = did_you_mean(&dep, dependencies.keys().map(String::as_str))
                            .map(|c| format!("did you mean `{c}`?"))
                            .or_else(|| Some("declare it under top-level `dependencies:`".into()));
                        self.error(span, &item_path, format!("dependency `{dep}` is not declared in this stack"), hint);
                    }
                }
                depends.push(dep);
            }
        }

        let xrole = self.opt_string(fields, "agency", &path);
        let app_xrole = self.opt_string(fields, "app_agency", &path);
        let concurrency = self.ranged(fields, "max_instances", &path, MAX_INSTANCES);
        let concurrent_num = self.ranged(fields, "concurrency_per_instance", &path, CONCURRENCY_PER_INSTANCE);
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
        let mut triggers = BTreeMap::new();
        if let Some(node) = get(fields, "triggers") {
            let p = join(&path, "triggers");
            if let Some(entries) = self.object(node, &p, &[], true) {
                for trigger in entries {
                    if let Some(spec) = self.trigger(trigger, name, &p, runtime.as_deref()) {
                        triggers.insert(trigger.key.clone(), spec);
                    }
                }
            }
        }
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
            func_vpc,
            mount_config,
            initializer,
            pre_stop,
            log_config,
            tags,
            async_config,
            triggers,
        })
    }

    fn mounts(&mut self, fields: Entries, path: &str) -> Option<Map<String, Value>> {
        let user_node = get(fields, "mount_user");
        let mounts_node = get(fields, "mounts");
        if mounts_node.is_none() {
            if let Some(node) = user_node {
                self.error(node.span, &join(path, "mount_user"), "`mount_user` without `mounts`", None);
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
                            self.error(span, &join(&p, key), format!("{id} is reserved"), Some("use −1, or an id other than 0, 1000 and 1002".into()));
                        }
                        user[key] = id.into();
                    }
                }
            }
        }
        let node = mounts_node?;
        let p = join(path, "mounts");
        let Kind::Seq(items) = &node.kind else {
            self.error(node.span, &p, format!("expected a list, found {}", node.describe()), None);
            return None;
        };
        if items.len() > MAX_MOUNTS {
            self.error(node.span, &p, format!("{} mounts is too many", items.len()), Some(format!("at most {MAX_MOUNTS}")));
        }
        let mut mounts = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let item_path = format!("{p}[{i}]");
            let Some(entries) = self.object(item, &item_path, schema::MOUNT, false) else {
                continue;
            };
            let kind = self.opt_string(entries, "mount_type", &item_path);
            if let (Some(kind), Some(n)) = (&kind, get(entries, "mount_type")) {
                if !["sfs", "sfsTurbo", "ecs"].contains(&kind.as_str()) {
                    self.error(n.span, &join(&item_path, "mount_type"), format!("`{kind}` is not a mount type"), Some("use sfs, sfsTurbo or ecs".into()));
                }
                if kind == "ecs" && get(entries, "mount_share_path").is_none() {
                    self.error(item.span, &item_path, "an `ecs` mount needs `mount_share_path`", None);
                }
            }
            if let Some(local) = self.opt_string(entries, "local_mount_path", &item_path) {
                if !local.starts_with('/') {
                    let span = get(entries, "local_mount_path").map(|n| n.span).unwrap_or_default();
                    self.error(span, &join(&item_path, "local_mount_path"), format!("`{local}` is not an absolute path"), None);
                }
            }
            mounts.push(self.json(item, &item_path));
        }
        let mut config = Map::new();
        config.insert("mount_user".into(), user);
        config.insert("func_mounts".into(), Value::Array(mounts));
        Some(config)
    }

    fn tags(&mut self, fields: Entries, path: &str) -> BTreeMap<String, String> {
        let Some(node) = get(fields, "tags") else {
            return BTreeMap::new();
        };
        let p = join(path, "tags");
        let pairs = self.string_map(node, &p);
        if pairs.len() > MAX_TAGS {
            self.error(node.span, &p, format!("{} tags is too many", pairs.len()), Some(format!("at most {MAX_TAGS}")));
        }
        for (key, value, span) in &pairs {
            let kp = join(&p, key);
            if key == OWNERSHIP_TAG_KEY {
                self.error(*span, &kp, format!("`{key}` is reserved"), Some("fgform sets it to the stack name".into()));
            } else if key.is_empty() || key.chars().count() > TAG_KEY_MAX_CHARS {
                self.error(*span, &kp, "a tag key must be 1–128 characters", None);
            } else if value.chars().count() > TAG_VALUE_MAX_CHARS {
                self.error(*span, &kp, "a tag value must be at most 255 characters", None);
            }
        }
        pairs.into_iter().map(|(k, v, _)| (k, v)).collect()
    }

    fn function_ref(&mut self, text: String, node: &Node, path: &str, functions: Entries) -> Option<FunctionRef> {
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
            self.error(node.span, path, format!("function `{text}` is not declared in this stack"), hint);
            return None;
        }
        if let Some(from) = &self.address {
            self.edges.insert((from.clone(), Address::Function(text.clone())));
        }
        Some(FunctionRef::Stack(text))
    }

    fn async_config(&mut self, node: &Node, function: &str, path: &str, functions: Entries) -> Option<AsyncSpec> {
        self.address = Some(Address::Async(function.into()));
        self.edges.insert((Address::Async(function.into()), Address::Function(function.into())));
        let p = join(path, "async");
        let fields = self.object(node, &p, schema::ASYNC, false)?;
        let age = self.ranged(fields, "max_event_age", &p, *ASYNC_MAX_EVENT_AGE.start() as i64..=*ASYNC_MAX_EVENT_AGE.end() as i64);
        let retries = self.ranged(fields, "max_retries", &p, *ASYNC_MAX_RETRIES.start() as i64..=*ASYNC_MAX_RETRIES.end() as i64);
        let status_log = get(fields, "status_log").and_then(|n| self.bool(n, &join(&p, "status_log")));
        let destination = |this: &mut Self, key: &str| -> Option<Destination> {
            let node = get(fields, key)?;
            let dp = join(&p, key);
            let entries = this.object(node, &dp, schema::DESTINATION, false)?;
            let given: Vec<&Entry> = entries.iter().filter(|e| !e.value.is_null()).collect();
            if given.len() != 1 {
                this.error(node.span, &dp, "give exactly one of `function`, `smn`, `dis`, `obs`", None);
                return None;
            }
            let entry = given[0];
            let kp = join(&dp, &entry.key);
            match entry.key.as_str() {
                "function" => {
                    let text = this.string(&entry.value, &kp)?;
                    this.function_ref(text, &entry.value, &kp, functions).map(Destination::Function)
                }
                "smn" => {
                    let topic_urn = this.string(&entry.value, &kp)?;
                    if !topic_urn.starts_with("urn:smn:") {
                        this.error(entry.value.span, &kp, format!("`{topic_urn}` is not an SMN topic URN"), Some("SMN topic URNs look like `urn:smn:cn-north-4:<project>:<topic>`".into()));
                    }
                    Some(Destination::Smn { topic_urn })
                }
                "dis" => this.string(&entry.value, &kp).map(|stream_name| Destination::Dis { stream_name }),
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
        })
    }

    fn trigger(&mut self, entry: &Entry, function: &str, path: &str, runtime: Option<&str>) -> Option<TriggerSpec> {
        let name = &entry.key;
        self.address = Some(Address::Trigger {
            function: function.into(),
            trigger: name.clone(),
        });
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
        let result = match (timer, kind) {
            (Some(_), Some(kind)) => {
                self.error(kind.span, &join(&p, "type"), "a trigger has either `timer` or `type`, not both", None);
                None
            }
            (None, None) => {
                self.error(entry.value.span, &p, "a trigger needs `timer: { rate | cron }` or `type:` with `event_data:`", None);
                None
            }
            (Some(timer), None) => self.timer(timer, name, &p, fields, status, runtime),
            (None, Some(kind)) => self.generic_trigger(kind, &p, fields, status),
        };
        self.address = Some(Address::Function(function.into()));
        result
    }

    fn timer(&mut self, node: &Node, name: &str, path: &str, fields: Entries, status: TriggerStatus, runtime: Option<&str>) -> Option<TriggerSpec> {
        let tp = join(path, "timer");
        if !is_valid_timer_name(name) {
            let span = node.span;
            self.error(span, path, format!("`{name}` is not a valid timer name"), Some("1–64 characters of letters, digits, `_` and `-`, starting with a letter".into()));
        }
        if runtime == Some("http") {
            self.error(node.span, &tp, "HTTP functions cannot have TIMER triggers", None);
        }
        let timer = self.object(node, &tp, schema::TIMER, false)?;
        let (schedule_type, key) = match (get(timer, "rate"), get(timer, "cron")) {
            (Some(_), None) => ("Rate", "rate"),
            (None, Some(_)) => ("Cron", "cron"),
            _ => {
                self.error(node.span, &tp, "give exactly one of `rate` and `cron`", Some("e.g. `timer: { rate: 5m }` or `timer: { cron: \"0 30 2 * * ?\" }`".into()));
                return None;
            }
        };
        let schedule_node = get(timer, key)?;
        let sp = join(&tp, key);
        let schedule = self.string(schedule_node, &sp)?;
        let checked = if key == "rate" { check_rate(&schedule) } else { check_cron(&schedule) };
        if let Err(problem) = checked {
            let hint = if key == "rate" {
                "`<n>m` (1–60), `<n>h` (1–24) or `<n>d` (1–30), e.g. `5m`, `1d`"
            } else {
                "`sec min hour day-of-month month [day-of-week]`, e.g. `0 30 2 * * ?`, or `@every 1h30m`"
            };
            self.error(schedule_node.span, &sp, format!("invalid {key}: {problem}"), Some(hint.into()));
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
            self.error(node.span, &join(path, "event_data"), "a timer's event_data is written for you", Some("use `timer:` and `payload:`".into()));
        }
        Some(TriggerSpec {
            name: name.into(),
            trigger_type_code: "TIMER".into(),
            trigger_status: status,
            event_data,
        })
    }

    fn generic_trigger(&mut self, kind: &Node, path: &str, fields: Entries, status: TriggerStatus) -> Option<TriggerSpec> {
        let kp = join(path, "type");
        let code = self.string(kind, &kp)?;
        if code.eq_ignore_ascii_case("TIMER") {
            self.error(kind.span, &kp, "write timers as `timer: { rate | cron }`", Some("e.g. `nightly: { timer: { cron: \"0 0 2 * * ?\" } }`".into()));
            return None;
        }
        if !limits::TRIGGER_TYPES.contains(&code.as_str()) {
            let upper = code.to_ascii_uppercase();
            let hint = if limits::TRIGGER_TYPES.contains(&upper.as_str()) {
                format!("trigger types are upper case: `{upper}`")
            } else {
                match did_you_mean(&code, limits::TRIGGER_TYPES.iter().copied()) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None => format!("use one of: {}", limits::TRIGGER_TYPES.join(", ")),
                }
            };
            self.error(kind.span, &kp, format!("`{code}` is not a trigger type"), Some(hint));
            return None;
        }
        if status == TriggerStatus::Disabled && !TRIGGER_TYPES_DISABLEABLE.contains(&code.as_str()) {
            let span = get(fields, "enabled").map(|n| n.span).unwrap_or(kind.span);
            self.error(span, &join(path, "enabled"), format!("{code} triggers cannot be disabled"), Some(format!("only {} triggers can; remove the trigger instead", TRIGGER_TYPES_DISABLEABLE.join(", "))));
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
                self.error(node.span, &ep, format!("a {code} trigger's event_data needs `{key}`"), None);
            }
        }
        if code == "OBS" {
            if let Some(events) = event_data.get("events") {
                let ok = events.as_array().is_some_and(|a| !a.is_empty() && a.iter().all(|e| e.as_str().is_some_and(|s| s.starts_with("s3:"))));
                if !ok {
                    self.error(node.span, &join(&ep, "events"), "expected a list of OBS event names", Some("e.g. `[\"s3:ObjectCreated:*\"]`".into()));
                }
            }
        }
        Some(TriggerSpec {
            name: path.rsplit('.').next().unwrap_or_default().into(),
            trigger_type_code: code,
            trigger_status: status,
            event_data,
        })
    }

    fn workflow(&mut self, entry: &Entry, functions: Entries) -> Option<WorkflowSpec> {
        let name = &entry.key;
        let path = join("workflows", name);
        self.address = Some(Address::Workflow(name.clone()));
        if !is_valid_workflow_name(name) {
            self.error(entry.key_span, &path, format!("`{name}` is not a valid workflow name"), Some("1–64 characters of letters, digits, `_` and `-`, starting with a letter".into()));
        }
        let fields = self.object(&entry.value, &path, schema::WORKFLOW, false)?;
        let description = self.description(fields, &path);
        let mode = self.opt_string(fields, "mode", &path).unwrap_or_else(|| "NORMAL".into());
        if !WORKFLOW_MODES.contains(&mode.as_str()) {
            let span = get(fields, "mode").map(|n| n.span).unwrap_or_default();
            self.error(span, &join(&path, "mode"), format!("`{mode}` is not a workflow mode"), Some("use NORMAL or EXPRESS".into()));
        }
        let start = self.opt_string(fields, "start", &path);
        let constants = get(fields, "constants").and_then(|n| self.json_object(n, &join(&path, "constants"))).unwrap_or_default();

        // Retries.
        let mut retries = Vec::new();
        let mut retry_names = BTreeSet::new();
        if let Some(node) = get(fields, "retries") {
            let rp = join(&path, "retries");
            if let Kind::Seq(items) = &node.kind {
                for (i, item) in items.iter().enumerate() {
                    let ip = format!("{rp}[{i}]");
                    let Some(entries) = self.object(item, &ip, schema::RETRY, false) else { continue };
                    if let Some(retry) = self.opt_string(entries, "name", &ip) {
                        if !retry_names.insert(retry.clone()) {
                            self.error(item.span, &ip, format!("retry `{retry}` is defined twice"), None);
                        }
                    }
                    self.ranged(entries, "delay", &ip, 0..=i64::from(u32::MAX));
                    self.ranged(entries, "max_attempts", &ip, 0..=i64::from(u32::MAX));
                    retries.push(self.json(item, &ip));
                }
            } else {
                self.error(node.span, &rp, format!("expected a list, found {}", node.describe()), None);
            }
        }
        let mut extra = Map::new();
        for key in ["triggers", "express_config", "enable_stream_response", "enterprise_project_id"] {
            if let Some(node) = get(fields, key) {
                let value = self.json(node, &join(&path, key));
                extra.insert(key.into(), value);
            }
        }

        // States.
        let sp = join(&path, "states");
        let mut states = Vec::new();
        let mut ids: BTreeMap<String, Span> = BTreeMap::new();
        let mut transitions: Vec<(String, String, Span, String)> = Vec::new(); // (from, to, span, path)
        let mut workflow_functions: Vec<WorkflowFunction> = Vec::new();
        match get(fields, "states") {
            Some(node) => match &node.kind {
                Kind::Seq(items) if !items.is_empty() => {
                    if items.len() > WORKFLOW_MAX_STATES {
                        self.error(node.span, &sp, format!("{} states is too many", items.len()), Some(format!("at most {WORKFLOW_MAX_STATES}")));
                    }
                    for (i, item) in items.iter().enumerate() {
                        let ip = format!("{sp}[{i}]");
                        if let Some(state) = self.state(item, &ip, &mut ids, &mut transitions, &mut workflow_functions, &retry_names, functions) {
                            states.push(state);
                        }
                    }
                }
                _ => self.error(node.span, &sp, "expected a non-empty list of states", None),
            },
            None => {}
        }
        if workflow_functions.len() > WORKFLOW_MAX_FUNCTIONS {
            self.error(entry.value.span, &path, format!("{} distinct functions is too many", workflow_functions.len()), Some(format!("at most {WORKFLOW_MAX_FUNCTIONS}")));
        }
        // Graph: start and every transition name an existing state; every state is reachable.
        if let (Some(start), Some(node)) = (&start, get(fields, "start")) {
            if !ids.is_empty() && !ids.contains_key(start) {
                let hint = did_you_mean(start, ids.keys().map(String::as_str)).map(|c| format!("did you mean `{c}`?"));
                self.error(node.span, &join(&path, "start"), format!("no state has id `{start}`"), hint);
            }
        }
        for (_, to, span, tp) in &transitions {
            if !ids.contains_key(to) {
                let hint = did_you_mean(to, ids.keys().map(String::as_str)).map(|c| format!("did you mean `{c}`?"));
                self.error(*span, tp, format!("no state has id `{to}`"), hint);
            }
        }
        if let Some(start) = start.as_ref().filter(|s| ids.contains_key(*s)) {
            let mut reached = BTreeSet::from([start.clone()]);
            let mut queue = vec![start.clone()];
            while let Some(at) = queue.pop() {
                for (from, to, _, _) in &transitions {
                    if *from == at && ids.contains_key(to) && reached.insert(to.clone()) {
                        queue.push(to.clone());
                    }
                }
            }
            for (id, span) in &ids {
                if !reached.contains(id) {
                    self.error(*span, &sp, format!("state `{id}` cannot be reached from `{start}`"), Some("point a `next` at it, or remove it".into()));
                }
            }
        }
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

    #[allow(clippy::too_many_arguments)]
    fn state(
        &mut self,
        node: &Node,
        path: &str,
        ids: &mut BTreeMap<String, Span>,
        transitions: &mut Vec<(String, String, Span, String)>,
        workflow_functions: &mut Vec<WorkflowFunction>,
        retry_names: &BTreeSet<String>,
        functions: Entries,
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
        let mut state = match self.json(node, path) {
            Value::Object(map) => map,
            _ => return None,
        };
        let is_end = kind == "End" || get(entries, "end").is_some_and(|n| matches!(&n.kind, Kind::Scalar { text, .. } if text == "true"));
        match (state.remove("next"), is_end) {
            (Some(Value::String(next)), false) => {
                let span = get(entries, "next").map(|n| n.span).unwrap_or(node.span);
                transitions.push((id.clone(), next.clone(), span, join(path, "next")));
                state.insert("transition".into(), next.into());
                state.insert("end".into(), false.into());
            }
            (Some(_), true) => self.error(node.span, &join(path, "next"), "an end state has no `next`", None),
            (Some(other), false) => self.error(node.span, &join(path, "next"), format!("expected a state id, found {other}"), None),
            (None, true) => {
                state.insert("end".into(), true.into());
                state.insert("transition".into(), "".into());
            }
            (None, false) => {
                if let Some(Value::String(to)) = state.get("transition") {
                    transitions.push((id.clone(), to.clone(), node.span, join(path, "transition")));
                } else if kind == "Operation" || kind == "Sleep" {
                    self.error(node.span, path, format!("state `{id}` has no `next` and is not an End state"), Some("add `next: <state id>`, or `type: End` for the last state".into()));
                }
            }
        }
        // Other transitions inside pass-through keys (Switch choices, …) count for reachability.
        fn nested(value: &Value, out: &mut Vec<String>) {
            match value {
                Value::Object(map) => {
                    for (k, v) in map {
                        match (k.as_str(), v) {
                            ("next" | "transition" | "default", Value::String(s)) if !s.is_empty() => out.push(s.clone()),
                            _ => nested(v, out),
                        }
                    }
                }
                Value::Array(items) => items.iter().for_each(|v| nested(v, out)),
                _ => {}
            }
        }
        if let Some(Value::Array(actions)) = state.get_mut("actions") {
            let action_nodes = match get(entries, "actions").map(|n| &n.kind) {
                Some(Kind::Seq(items)) => items.clone(),
                _ => Vec::new(),
            };
            for (i, action) in actions.iter_mut().enumerate() {
                let ap = format!("{path}.actions[{i}]");
                let Some(object) = action.as_object_mut() else { continue };
                let Some(target) = object.remove("function") else { continue };
                let action_node = action_nodes.get(i).cloned().unwrap_or_else(|| node.clone());
                let Value::String(text) = target else {
                    self.error(action_node.span, &join(&ap, "function"), "expected a function name or URN", None);
                    continue;
                };
                let fnode = action_node.as_map().and_then(|m| get(m, "function")).cloned().unwrap_or(action_node.clone());
                let Some(reference) = self.function_ref(text, &fnode, &join(&ap, "function"), functions) else { continue };
                let ref_name = match &reference {
                    FunctionRef::Stack(name) => name.clone(),
                    FunctionRef::Urn(urn) => urn.split(':').nth(6).unwrap_or("function").to_string(),
                };
                if !workflow_functions.iter().any(|f| f.name == ref_name) {
                    workflow_functions.push(WorkflowFunction { name: ref_name.clone(), target: reference });
                }
                let arguments = object.remove("arguments").unwrap_or_else(|| Value::Object(Map::new()));
                let invoke_mode = object.remove("invoke_mode").unwrap_or_else(|| "sync".into());
                object.insert(
                    "function_ref".into(),
                    serde_json::json!({"ref_name": ref_name, "invoke_mode": invoke_mode, "arguments": arguments}),
                );
            }
        }
        if let Some(Value::Array(handlers)) = state.get_mut("on_errors") {
            for (i, handler) in handlers.iter_mut().enumerate() {
                let hp = format!("{path}.on_errors[{i}]");
                let Some(object) = handler.as_object_mut() else { continue };
                if let Some(Value::String(next)) = object.remove("next") {
                    transitions.push((id.clone(), next.clone(), node.span, join(&hp, "next")));
                    object.insert("transition".into(), next.into());
                }
                if let Some(Value::String(retry)) = object.get("retry_ref") {
                    if !retry_names.contains(retry) {
                        let hint = did_you_mean(retry, retry_names.iter().map(String::as_str)).map(|c| format!("did you mean `{c}`?"));
                        self.error(node.span, &join(&hp, "retry_ref"), format!("no retry named `{retry}` in `retries`"), hint);
                    }
                }
            }
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
}
