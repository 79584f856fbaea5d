//! `outputs.<name>`: a string with `${…}`, or `{value, description, sensitive}`. The
//! references to the state are checked here against what the manifests declare.

use std::collections::BTreeMap;

use super::{get, join, Checker, Entries};
use crate::manifest::diagnostic::did_you_mean;
use crate::manifest::interpolate::template;
use crate::manifest::schema;
use crate::manifest::yaml::{Entry, Kind, Node};
use crate::model::{OutputSpec, Part, StateRef};

/// Output names: a letter or `_`, then letters, digits, `_` and `-`; at most 64.
pub fn is_valid_output_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && name.len() <= 64
}

impl Checker<'_> {
    /// Every output; `functions` are the declared functions' entries (triggers, aliases and
    /// `versions:` an output may refer to).
    pub(super) fn outputs(&mut self, entries: Entries<'_>, functions: Entries<'_>) -> BTreeMap<String, OutputSpec> {
        let mut outputs = BTreeMap::new();
        for entry in entries {
            if let Some(output) = self.output(entry, functions) {
                outputs.insert(entry.key.clone(), output);
            }
        }
        outputs
    }

    fn output(&mut self, entry: &Entry, functions: Entries<'_>) -> Option<OutputSpec> {
        let path = join("outputs", &entry.key);
        if !is_valid_output_name(&entry.key) {
            self.error(
                entry.key_span,
                &path,
                format!("`{}` is not a valid output name", entry.key),
                Some("1–64 characters of letters, digits, `_` and `-`, starting with a letter or `_`".into()),
            );
        }
        // `NAME: "…"` is short for `NAME: { value: "…" }`.
        let (value, value_path, fields) = match &entry.value.kind {
            Kind::Scalar { .. } if !entry.value.is_null() => (&entry.value, path.clone(), &[][..]),
            Kind::Seq(_) => {
                self.error(
                    entry.value.span,
                    &path,
                    "expected a string or a mapping `{value, description, sensitive}`, found a list",
                    None,
                );
                return None;
            }
            _ => {
                let fields = self.object(&entry.value, &path, schema::OUTPUT, false)?;
                (get(fields, "value")?, join(&path, "value"), fields)
            }
        };
        let description = self.opt_string(fields, "description", &path);
        let sensitive = match get(fields, "sensitive") {
            Some(node) => self.bool(node, &join(&path, "sensitive"))?,
            None => false,
        };
        let value = self.output_value(value, &value_path, functions)?;
        Some(OutputSpec {
            value,
            description,
            sensitive,
        })
    }

    fn output_value(&mut self, node: &Node, path: &str, functions: Entries<'_>) -> Option<Vec<Part>> {
        let text = self.raw_string(node, path)?;
        if let Some((expr, function, key)) = feeds_a_secret(text, functions) {
            self.error(
                node.span,
                path,
                format!("`${{{expr}}}` is the value of secret `{key}` of function `{function}`: no output may show a secret"),
                Some("secrets stay out of every output, sensitive ones included; output something else".into()),
            );
            return None;
        }
        let parts = match template(text, &self.scope, &mut Vec::new(), true) {
            Ok(parts) => parts,
            Err(err) => {
                self.error(node.span, path, err.message, err.hint);
                return None;
            }
        };
        let mut valid = true;
        for part in &parts {
            if let Part::State(reference) = part {
                if let Some((message, hint)) = undeclared(reference, functions) {
                    self.error(node.span, path, message, hint);
                    valid = false;
                }
            }
        }
        valid.then_some(parts)
    }
}

/// The `${…}` expressions of `text` (not `$${…}`, a literal), trimmed.
fn expressions(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        let escaped = rest[..at].ends_with('$');
        let after = &rest[at + 2..];
        let Some(end) = after.find('}') else { break };
        if !escaped {
            out.push(after[..end].trim());
        }
        rest = &after[end + 1..];
    }
    out
}

/// The input a `${…}` expression reads: `env:NAME` or `var.NAME` (a default after a comma
/// and spaces left out); `None` for anything else.
fn input_read(expr: &str) -> Option<String> {
    if let Some(env) = expr.strip_prefix("env:") {
        let name = env.split(',').next().unwrap_or_default().trim();
        return Some(format!("env:{name}"));
    }
    let name = expr.strip_prefix("var.")?.trim();
    Some(format!("var.{name}"))
}

/// The first `${…}` of `text` that a function's `secrets:` also reads, with the function and
/// the secret's key: an output made of it would print the secret.
fn feeds_a_secret<'t>(text: &'t str, functions: Entries<'_>) -> Option<(&'t str, String, String)> {
    let used = expressions(text);
    functions.iter().find_map(|function| {
        let secrets = function
            .value
            .as_map()
            .and_then(|f| get(f, "secrets"))
            .and_then(Node::as_map)?;
        secrets.iter().find_map(|secret| {
            let Kind::Scalar { text: value, .. } = &secret.value.kind else {
                return None;
            };
            // Inputs only (`${stack}` or a URN in a secret is no secret of its own), compared by
            // the variable they read: `${env:PW}`, `${env: PW}` and `${env:PW, x}` are one input.
            let read: Vec<String> = expressions(value).into_iter().filter_map(input_read).collect();
            let expr = used
                .iter()
                .find(|e| input_read(e).is_some_and(|name| read.contains(&name)))?;
            Some((*expr, function.key.clone(), secret.key.clone()))
        })
    })
}

/// Why `reference` names a trigger, an alias or versions its function does not declare.
/// (Functions, workflows and dependencies themselves are checked as the value is read.)
fn undeclared(reference: &StateRef, functions: Entries<'_>) -> Option<(String, Option<String>)> {
    let function = reference.resource_name();
    let fields = functions
        .iter()
        .find(|e| e.key == function)
        .and_then(|e| e.value.as_map())?;
    let names = |key: &str| -> Vec<&str> {
        get(fields, key)
            .and_then(Node::as_map)
            .map(|m| m.iter().map(|e| e.key.as_str()).collect())
            .unwrap_or_default()
    };
    let (kind, name, declared) = match reference {
        StateRef::TriggerId { trigger, .. } => ("trigger", trigger, names("triggers")),
        StateRef::AliasUrn { alias, .. } => ("alias", alias, names("aliases")),
        StateRef::FunctionVersion(_) if get(fields, "versions").is_none() => {
            return Some((
                format!("`{reference}`: function `{function}` publishes no versions"),
                Some(format!(
                    "add `versions: {{ publish: on-change }}` to function `{function}`"
                )),
            ));
        }
        _ => return None,
    };
    if declared.contains(&name.as_str()) {
        return None;
    }
    let hint = match did_you_mean(name, declared.iter().copied()) {
        Some(close) => Some(format!("did you mean `{close}`?")),
        None if declared.is_empty() => Some(format!("function `{function}` declares no {kind}s")),
        None => Some(format!(
            "function `{function}` declares {}",
            declared.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
        )),
    };
    Some((
        format!("`{reference}` refers to {kind} `{name}`, which function `{function}` does not declare"),
        hint,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_skip_literals() {
        assert_eq!(expressions("a${var.x}b$${var.y}${ env:Z }${open"), ["var.x", "env:Z"]);
    }

    #[test]
    fn a_secret_input_is_recognised_however_it_is_spelled() {
        for spelling in ["env:PW", "env: PW", "env:PW, fallback", "env:PW,x"] {
            assert_eq!(input_read(spelling).as_deref(), Some("env:PW"), "{spelling}");
        }
        assert_eq!(input_read("var. release").as_deref(), Some("var.release"));
        assert_eq!(input_read("stack"), None);
        assert_eq!(input_read("function.a.urn"), None);
    }

    #[test]
    fn output_names_are_identifiers() {
        for good in ["api_url", "_x", "a-b", "A1"] {
            assert!(is_valid_output_name(good), "{good}");
        }
        for bad in ["", "1a", "a.b", "a b", "-a", &"x".repeat(65)] {
            assert!(!is_valid_output_name(bad), "{bad}");
        }
    }
}
