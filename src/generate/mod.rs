//! `fgform generate`'s pure half: what a live project holds ([`Found`], read by
//! `ops::generate`) → a stack in the manifest format ([`Generated`]): the manifest text, the
//! addresses to record in state with their ids, and notes on what was left out.
//!
//! What the generated manifests say is what the live resources are, in the manifest's own
//! vocabulary, so that the stack plans no change: every setting the format covers, values at
//! the API's defaults left out, references (`${function.NAME.urn}`, `function: NAME`) in place
//! of this stack's literal URNs, `$${` for a literal `${`, and secrets as `${env:…}`
//! placeholders (the API masks their values). Where something cannot be expressed, a comment
//! says so.

pub mod yaml;

mod function;
mod workflow;

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::api::types::{Alias, AsyncInvokeConfig, DependencyVersion, FunctionConfig, Tag, Trigger, Workflow};
use crate::api::urn::without_latest;
use crate::model::Address;

/// One live function and what hangs off it.
#[derive(Debug, Clone, Default)]
pub struct FoundFunction {
    pub config: FunctionConfig,
    pub tags: Vec<Tag>,
    /// Triggers of the unqualified function (latest).
    pub triggers: Vec<Trigger>,
    pub async_config: Option<AsyncInvokeConfig>,
    /// Published versions (not `latest`), oldest first.
    pub versions: Vec<String>,
    pub aliases: Vec<Alias>,
    /// Triggers and async configs under each alias (`…:!ALIAS`).
    pub alias_triggers: BTreeMap<String, Vec<Trigger>>,
    pub alias_async: BTreeMap<String, AsyncInvokeConfig>,
    /// Where `code:` points, as the reader decided it.
    pub code: Code,
}

/// A function's `code:`.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Code {
    /// A folder under the stack (`functions/NAME`), unpacked from the export.
    Folder(String),
    /// A zip or jar under the stack kept as the export gave it, with why.
    Archive { path: String, why: String },
    /// `obs://bucket/key`: where the code lives.
    Obs(String),
    /// Not obtainable; why.
    #[default]
    Missing,
}

/// A dependency version some selected function uses.
#[derive(Debug, Clone)]
pub struct FoundDependency {
    pub version: DependencyVersion,
    /// `source:` as the reader decided it (a folder or zip under the stack, or `obs://…`);
    /// `None` when the package could not be read, with why.
    pub source: Result<String, String>,
}

/// What the reader found.
#[derive(Debug, Clone, Default)]
pub struct Found {
    pub stack: String,
    pub stage: Option<String>,
    /// `provider:` of the generated stack (`None`: the embedded emulator).
    pub provider: Option<(String, String)>,
    pub functions: Vec<FoundFunction>,
    /// By version id.
    pub dependencies: BTreeMap<String, FoundDependency>,
    pub workflows: Vec<Workflow>,
    /// Said in the header (e.g. functions left out and why).
    pub notes: Vec<String>,
}

/// A secret placeholder: function, secret name, the environment variable it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretVar {
    pub function: String,
    pub key: String,
    pub var: String,
}

/// The generated stack.
#[derive(Debug, Clone, Default)]
pub struct Generated {
    /// `stack.yaml`.
    pub manifest: String,
    /// What to record in state: address → the id `fgform import` takes.
    pub imports: Vec<(Address, String)>,
    pub secrets: Vec<SecretVar>,
    /// Printed after generating.
    pub notes: Vec<String>,
}

/// Context while generating: the stack's own URNs, for references.
pub(crate) struct Names {
    /// Unqualified function URN → manifest name.
    pub functions: BTreeMap<String, String>,
    /// Workflow URN → manifest name.
    pub workflows: BTreeMap<String, String>,
    /// Dependency version id → manifest name.
    pub dependencies: BTreeMap<String, String>,
}

impl Names {
    /// `text` with `${` escaped as `$${`, and this stack's URNs as `${KIND.NAME.urn}`.
    pub fn text(&self, text: &str) -> String {
        let mut out = text.replace("${", "$${");
        for (urns, kind) in [(&self.functions, "function"), (&self.workflows, "workflow")] {
            for (urn, name) in urns {
                out = replace_token(&out, urn, &format!("${{{kind}.{name}.urn}}"));
            }
        }
        out
    }

    /// Every string inside `value` through [`Names::text`].
    pub fn value(&self, value: &Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.text(s)),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.value(v)).collect()),
            Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), self.value(v))).collect()),
            other => other.clone(),
        }
    }

    /// A function reference as the manifest writes it: this stack's name, else the URN.
    pub fn function(&self, urn: &str) -> String {
        let unqualified = without_latest(urn);
        self.functions
            .get(unqualified)
            .cloned()
            .unwrap_or_else(|| unqualified.replace("${", "$${"))
    }
}

/// `text` with each whole occurrence of `token` (not followed by a name character, so
/// `…:audit` does not match inside `…:audit2`) replaced.
fn replace_token(text: &str, token: &str, with: &str) -> String {
    if token.is_empty() || !text.contains(token) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(token) {
        let after = &rest[at + token.len()..];
        let whole = !after
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        out.push_str(&rest[..at]);
        out.push_str(if whole { with } else { token });
        rest = after;
    }
    out.push_str(rest);
    out
}

/// The stack for `found`.
pub fn generate(found: &Found) -> Generated {
    let names = Names {
        functions: found
            .functions
            .iter()
            .map(|f| {
                (
                    without_latest(&f.config.func_urn).to_string(),
                    f.config.func_name.clone(),
                )
            })
            .collect(),
        workflows: found
            .workflows
            .iter()
            .map(|w| (w.workflow_urn.clone(), w.definition.name.clone()))
            .collect(),
        dependencies: found
            .dependencies
            .iter()
            .map(|(id, d)| (id.clone(), d.version.name.clone()))
            .collect(),
    };
    let mut out = Generated::default();
    let mut comments = yaml::Comments::new();
    let mut root = Map::new();
    root.insert("stack".into(), found.stack.clone().into());
    if let Some(stage) = &found.stage {
        root.insert("stages".into(), Value::Array(vec![stage.clone().into()]));
    }
    if let Some((region, project)) = &found.provider {
        root.insert(
            "provider".into(),
            serde_json::json!({"region": region, "project_id": project}),
        );
    }
    let dependencies = dependencies(found, &mut out, &mut comments);
    if !dependencies.is_empty() {
        root.insert("dependencies".into(), Value::Object(dependencies));
    }
    let mut functions = Map::new();
    for f in &found.functions {
        let name = f.config.func_name.clone();
        let spec = function::function(f, &names, &mut out, &mut comments);
        functions.insert(name, Value::Object(spec));
    }
    if !functions.is_empty() {
        root.insert("functions".into(), Value::Object(functions));
    }
    let mut workflows = Map::new();
    for w in &found.workflows {
        let name = w.definition.name.clone();
        workflows.insert(name.clone(), Value::Object(workflow::workflow(w, &names)));
        out.imports.push((Address::Workflow(name), w.id.clone()));
    }
    if !workflows.is_empty() {
        root.insert("workflows".into(), Value::Object(workflows));
    }
    let mut header = vec![
        "Generated by `fgform generate` from the live project: review it, then commit it.".to_string(),
        "`fgform plan` right after generating plans no change; the state records every resource below.".into(),
    ];
    header.extend(found.notes.iter().cloned());
    out.manifest = yaml::document(&header, &root, &comments);
    out
}

/// `dependencies:`, each with the import of its version.
fn dependencies(found: &Found, out: &mut Generated, comments: &mut yaml::Comments) -> Map<String, Value> {
    let mut map = Map::new();
    for dep in found.dependencies.values() {
        let v = &dep.version;
        let mut spec = Map::new();
        spec.insert("runtime".into(), v.runtime.clone().into());
        match &dep.source {
            Ok(source) => {
                spec.insert("source".into(), source.clone().into());
            }
            Err(why) => {
                comments.insert(
                    format!("dependencies.{}.source", v.name),
                    vec![format!(
                        "{why}: point `source` at the package (a folder, a .zip or obs://…)"
                    )],
                );
                spec.insert("source".into(), format!("./deps/{}", v.name).into());
            }
        }
        if !v.description.is_empty() {
            spec.insert("description".into(), v.description.replace("${", "$${").into());
        }
        map.insert(v.name.clone(), Value::Object(spec));
        out.imports.push((
            Address::Dependency(v.name.clone()),
            format!("{}/{}", v.dep_id, v.version),
        ));
    }
    map
}

#[cfg(test)]
mod tests;
