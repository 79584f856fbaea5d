//! `${…}` interpolation in string values:
//!
//! | form | value |
//! |---|---|
//! | `${env:NAME}` | the environment variable; unset is an error |
//! | `${env:NAME, default}` | the environment variable, or `default` when unset |
//! | `${var.NAME}` | `--var NAME=…`, then `--var-file`s, then the declared `default` |
//! | `${stack}` | the stack name |
//! | `${stage}` | the `--stage` given; without one, an error (there is no default stage) |
//! | `${function.NAME.urn}` / `${workflow.NAME.urn}` | the URN of a resource of this stack (an ordering edge) |
//!
//! `$${` writes a literal `${`. Anything else inside `${…}` is an error.

use std::collections::BTreeMap;

use crate::manifest::diagnostic::did_you_mean;
use crate::model::Address;

/// What interpolation can see.
#[derive(Debug, Default)]
pub struct Scope {
    pub env: BTreeMap<String, String>,
    /// Declared variables and their value, if any.
    pub vars: BTreeMap<String, Option<String>>,
    pub stack: Option<String>,
    /// `--stage`, if given.
    pub stage: Option<String>,
    /// The stages the stack declares (for hints).
    pub stages: Vec<String>,
    /// Function name → URN, for `${function.NAME.urn}` (empty until the provider is known).
    pub function_urns: BTreeMap<String, String>,
    pub workflow_urns: BTreeMap<String, String>,
}

/// Why a `${…}` could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterpolationError {
    pub message: String,
    pub hint: Option<String>,
}

fn error(message: String, hint: Option<String>) -> InterpolationError {
    InterpolationError { message, hint }
}

/// Resolves every `${…}` in `text`; resources referred to are appended to `refs`.
pub fn interpolate(text: &str, scope: &Scope, refs: &mut Vec<Address>) -> Result<String, InterpolationError> {
    if !text.contains('$') {
        return Ok(text.to_string());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let Some(end) = after.find('}') else {
                return Err(error(
                    format!("`{tail}` has no closing `}}`"),
                    Some("write `$${` for a literal `${`".into()),
                ));
            };
            out.push_str(&resolve(after[..end].trim(), scope, refs)?);
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

const FORMS: &str = "the forms are ${env:NAME}, ${env:NAME, default}, ${var.NAME}, ${stack}, ${stage}, ${function.NAME.urn} and ${workflow.NAME.urn}";

fn resolve(expr: &str, scope: &Scope, refs: &mut Vec<Address>) -> Result<String, InterpolationError> {
    if let Some(env) = expr.strip_prefix("env:") {
        let (name, default) = match env.split_once(',') {
            Some((name, default)) => (name.trim(), Some(default.trim())),
            None => (env.trim(), None),
        };
        if name.is_empty() {
            return Err(error("`${env:}` names no variable".into(), None));
        }
        return match (scope.env.get(name), default) {
            (Some(value), _) => Ok(value.clone()),
            (None, Some(default)) => Ok(default.to_string()),
            (None, None) => Err(error(
                format!("environment variable `{name}` is not set"),
                Some(format!("set it, or give a default: `${{env:{name}, value}}`")),
            )),
        };
    }
    if let Some(name) = expr.strip_prefix("var.") {
        return match scope.vars.get(name) {
            Some(Some(value)) => Ok(value.clone()),
            Some(None) => Err(error(
                format!("variable `{name}` has no value"),
                Some(format!(
                    "pass `--var {name}=…`, add it to a `--var-file`, or give it a `default`"
                )),
            )),
            None => Err(error(
                format!("variable `{name}` is not declared"),
                Some(match did_you_mean(name, scope.vars.keys().map(String::as_str)) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None if name == "stage" => "for the `--stage` given, write `${stage}`".into(),
                    None => format!("declare it under `variables:` as `{name}: {{ default: … }}`"),
                }),
            )),
        };
    }
    if expr == "stack" {
        return scope
            .stack
            .clone()
            .ok_or_else(|| error("`${stack}` is used but the stack has no name".into(), None));
    }
    if expr == "stage" {
        return scope.stage.clone().ok_or_else(|| {
            let hint = match scope.stages.as_slice() {
                [] => "declare the stack's stages (`stages: [dev, prod]`) and pass one with `--stage`".to_string(),
                stages => format!(
                    "pass one of the stack's stages: {}",
                    stages
                        .iter()
                        .map(|s| format!("`--stage {s}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            error("`${stage}` is used but no `--stage` is given".into(), Some(hint))
        });
    }
    for (kind, urns) in [("function", &scope.function_urns), ("workflow", &scope.workflow_urns)] {
        if let Some(reference) = expr.strip_prefix(kind).and_then(|r| r.strip_prefix('.')) {
            let Some(name) = reference.strip_suffix(".urn") else {
                return Err(error(
                    format!("`${{{expr}}}`: only `.urn` of a {kind} can be referred to"),
                    Some(format!("write `${{{kind}.NAME.urn}}`")),
                ));
            };
            let Some(urn) = urns.get(name) else {
                return Err(error(
                    format!("`${{{expr}}}` refers to {kind} `{name}`, which this stack does not declare"),
                    did_you_mean(name, urns.keys().map(String::as_str)).map(|c| format!("did you mean `{c}`?")),
                ));
            };
            refs.push(if kind == "function" {
                Address::Function(name.into())
            } else {
                Address::Workflow(name.into())
            });
            return Ok(urn.clone());
        }
    }
    Err(error(
        format!("`${{{expr}}}` is not something fgform can interpolate"),
        Some(FORMS.into()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        Scope {
            env: [("HOME".to_string(), "/root".to_string())].into(),
            vars: [
                ("stage".to_string(), Some("dev".to_string())),
                ("unset".to_string(), None),
            ]
            .into(),
            stack: Some("shop".into()),
            stage: None,
            stages: Vec::new(),
            function_urns: [("audit".to_string(), "urn:fss:r:p:function:default:audit".to_string())].into(),
            workflow_urns: BTreeMap::new(),
        }
    }

    #[test]
    fn resolves_every_form() {
        let mut refs = Vec::new();
        let text = "${env:HOME}|${env:NOPE, fallback}|${var.stage}|${stack}|${function.audit.urn}|$${x}|$5";
        assert_eq!(
            interpolate(text, &scope(), &mut refs).unwrap(),
            "/root|fallback|dev|shop|urn:fss:r:p:function:default:audit|${x}|$5"
        );
        assert_eq!(refs, vec![Address::Function("audit".into())]);
    }

    #[test]
    fn unresolved_references_are_errors_with_hints() {
        let mut refs = Vec::new();
        for (text, message) in [
            ("${env:NOPE}", "environment variable `NOPE` is not set"),
            ("${var.stgae}", "variable `stgae` is not declared"),
            ("${var.unset}", "variable `unset` has no value"),
            ("${function.audt.urn}", "refers to function `audt`"),
            ("${foo}", "is not something fgform can interpolate"),
            ("${env:X", "has no closing"),
        ] {
            let err = interpolate(text, &scope(), &mut refs).unwrap_err();
            assert!(err.message.contains(message), "{text}: {}", err.message);
        }
        let err = interpolate("${var.stgae}", &scope(), &mut refs).unwrap_err();
        assert_eq!(err.hint.as_deref(), Some("did you mean `stage`?"));
    }

    #[test]
    fn stage_is_the_stage_given_and_an_error_without_one() {
        let mut refs = Vec::new();
        let mut scope = scope();
        scope.stage = Some("prod".into());
        assert_eq!(interpolate("api-${stage}", &scope, &mut refs).unwrap(), "api-prod");
        scope.stage = None;
        let err = interpolate("api-${stage}", &scope, &mut refs).unwrap_err();
        assert_eq!(err.message, "`${stage}` is used but no `--stage` is given");
        assert_eq!(
            err.hint.as_deref(),
            Some("declare the stack's stages (`stages: [dev, prod]`) and pass one with `--stage`")
        );
        scope.stages = vec!["dev".into(), "prod".into()];
        let err = interpolate("${stage}", &scope, &mut refs).unwrap_err();
        assert_eq!(
            err.hint.as_deref(),
            Some("pass one of the stack's stages: `--stage dev`, `--stage prod`")
        );
    }
}
