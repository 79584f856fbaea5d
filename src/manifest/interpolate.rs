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
//! `outputs:` may also read what only the state knows after apply ([`template`] keeps these
//! as [`StateRef`]s): `${function.NAME.trigger.TRIGGER.id}`, `${function.NAME.alias.ALIAS.urn}`,
//! `${function.NAME.version}`, `${workflow.NAME.id}`, `${dependency.NAME.id}` and
//! `${dependency.NAME.version}`; there, `${function.NAME.urn}` and `${workflow.NAME.urn}` are
//! read from the state too. Anywhere else these forms are an error saying so.
//!
//! `$${` writes a literal `${`. Anything else inside `${…}` is an error.

use std::collections::BTreeMap;

use crate::manifest::diagnostic::did_you_mean;
use crate::model::{Address, Part, StateRef};

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
    /// The dependencies the stack declares, for `${dependency.NAME.…}` in outputs.
    pub dependencies: std::collections::BTreeSet<String>,
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
    // Outside `outputs:` every reference to the state is refused, so every part is text.
    let parts = template(text, scope, refs, false)?;
    Ok(parts
        .into_iter()
        .filter_map(|part| match part {
            Part::Text(text) => Some(text),
            Part::State(_) => None,
        })
        .collect())
}

/// Resolves every `${…}` in `text` that the manifests know; with `outputs`, references to
/// the state are kept as [`Part::State`] (the resources named are appended to `refs`).
pub fn template(
    text: &str,
    scope: &Scope,
    refs: &mut Vec<Address>,
    outputs: bool,
) -> Result<Vec<Part>, InterpolationError> {
    let mut parts = Vec::new();
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
            match resolve(after[..end].trim(), scope, refs, outputs)? {
                Part::Text(text) => out.push_str(&text),
                reference => {
                    if !out.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut out)));
                    }
                    parts.push(reference);
                }
            }
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    if !out.is_empty() || parts.is_empty() {
        parts.push(Part::Text(out));
    }
    Ok(parts)
}

const FORMS: &str = "the forms are ${env:NAME}, ${env:NAME, default}, ${var.NAME}, ${stack}, ${stage}, ${function.NAME.urn} and ${workflow.NAME.urn}";

fn resolve(expr: &str, scope: &Scope, refs: &mut Vec<Address>, outputs: bool) -> Result<Part, InterpolationError> {
    for kind in ["function", "workflow", "dependency"] {
        if let Some(reference) = expr.strip_prefix(kind).and_then(|r| r.strip_prefix('.')) {
            return resource(kind, reference, expr, scope, refs, outputs);
        }
    }
    known(expr, scope).map(Part::Text)
}

/// `${env:…}`, `${var.…}`, `${stack}` and `${stage}`.
fn known(expr: &str, scope: &Scope) -> Result<String, InterpolationError> {
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
    Err(error(
        format!("`${{{expr}}}` is not something fgform can interpolate"),
        Some(FORMS.into()),
    ))
}

/// What each kind of resource lets an output read, as written after its name.
const ATTRIBUTES: [(&str, &[&str]); 3] = [
    ("function", &["urn", "version", "trigger.TRIGGER.id", "alias.ALIAS.urn"]),
    ("workflow", &["urn", "id"]),
    ("dependency", &["id", "version"]),
];

/// `reference` (after `KIND.`) as the attribute it reads; `None` for an unknown attribute.
fn state_ref(kind: &str, reference: &str) -> Option<StateRef> {
    let (name, attribute) = match kind {
        // Dependency names may hold dots; function and workflow names may not.
        "dependency" => reference.rsplit_once('.')?,
        _ => reference.split_once('.')?,
    };
    if name.is_empty() {
        return None;
    }
    let name = name.to_string();
    let nested = |prefix: &str, suffix: &str| {
        attribute
            .strip_prefix(prefix)
            .and_then(|a| a.strip_suffix(suffix))
            .filter(|a| !a.is_empty())
            .map(|a| (name.clone(), a.to_string()))
    };
    Some(match (kind, attribute) {
        ("function", "urn") => StateRef::FunctionUrn(name),
        ("function", "version") => StateRef::FunctionVersion(name),
        ("function", _) => {
            if let Some((function, trigger)) = nested("trigger.", ".id") {
                StateRef::TriggerId { function, trigger }
            } else {
                let (function, alias) = nested("alias.", ".urn")?;
                StateRef::AliasUrn { function, alias }
            }
        }
        ("workflow", "urn") => StateRef::WorkflowUrn(name),
        ("workflow", "id") => StateRef::WorkflowId(name),
        ("dependency", "id") => StateRef::DependencyId(name),
        ("dependency", "version") => StateRef::DependencyVersion(name),
        _ => return None,
    })
}

/// `${function.…}`, `${workflow.…}` and `${dependency.…}`: outside outputs only the URNs of
/// functions and workflows, which the manifests know; in outputs, whatever the state records.
fn resource(
    kind: &str,
    reference: &str,
    expr: &str,
    scope: &Scope,
    refs: &mut Vec<Address>,
    outputs: bool,
) -> Result<Part, InterpolationError> {
    let Some(state_ref) = state_ref(kind, reference) else {
        return Err(unknown_attribute(kind, reference, expr, outputs));
    };
    let urn = matches!(state_ref, StateRef::FunctionUrn(_) | StateRef::WorkflowUrn(_));
    if !outputs && !urn {
        let hint = match kind {
            "dependency" => "functions use a dependency by naming it in their `dependencies:`".to_string(),
            _ => format!("here a {kind} is referred to only as `${{{kind}.NAME.urn}}`; outputs may read the rest"),
        };
        return Err(error(
            format!("`${{{expr}}}` is known only after apply: only `outputs:` may refer to it"),
            Some(hint),
        ));
    }
    let name = state_ref.resource_name();
    let declared: Vec<&str> = match kind {
        "function" => scope.function_urns.keys().map(String::as_str).collect(),
        "workflow" => scope.workflow_urns.keys().map(String::as_str).collect(),
        _ => scope.dependencies.iter().map(String::as_str).collect(),
    };
    if !declared.contains(&name) {
        return Err(error(
            format!("`${{{expr}}}` refers to {kind} `{name}`, which this stack does not declare"),
            did_you_mean(name, declared).map(|c| format!("did you mean `{c}`?")),
        ));
    }
    refs.push(state_ref.address());
    match (&state_ref, outputs) {
        (StateRef::FunctionUrn(name), false) => Ok(Part::Text(scope.function_urns[name].clone())),
        (StateRef::WorkflowUrn(name), false) => Ok(Part::Text(scope.workflow_urns[name].clone())),
        _ => Ok(Part::State(state_ref)),
    }
}

fn unknown_attribute(kind: &str, reference: &str, expr: &str, outputs: bool) -> InterpolationError {
    if !outputs {
        return match kind {
            "dependency" => error(
                format!("`${{{expr}}}` is not something fgform can interpolate"),
                Some(FORMS.into()),
            ),
            _ => error(
                format!("`${{{expr}}}`: only `.urn` of a {kind} can be referred to"),
                Some(format!("write `${{{kind}.NAME.urn}}`")),
            ),
        };
    }
    let attributes = ATTRIBUTES.iter().find(|(k, _)| *k == kind).map_or(&[][..], |(_, a)| *a);
    let split = match kind {
        "dependency" => reference.rsplit_once('.'),
        _ => reference.split_once('.'),
    };
    let written = split.map_or("", |(_, a)| a);
    let close = did_you_mean(written, attributes.iter().copied());
    let list = attributes
        .iter()
        .map(|a| format!("`${{{kind}.NAME.{a}}}`"))
        .collect::<Vec<_>>()
        .join(", ");
    error(
        format!("`${{{expr}}}`: a {kind} has no attribute `{written}` an output can read"),
        Some(match close {
            Some(close) => format!("did you mean `.{close}`? A {kind} offers {list}"),
            None => format!("a {kind} offers {list}"),
        }),
    )
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
            dependencies: ["pillow".to_string()].into(),
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

    #[test]
    fn outputs_keep_references_to_the_state() {
        let mut refs = Vec::new();
        let mut scope = scope();
        scope.workflow_urns.insert("etl".into(), "urn:w".into());
        let parts = template(
            "${stack}: ${function.audit.urn} ${function.audit.alias.live.urn}|${function.audit.trigger.a.b.id}|${function.audit.version}|${workflow.etl.id}|${workflow.etl.urn}|${dependency.pillow.version}|${dependency.pillow.id}",
            &scope,
            &mut refs,
            true,
        )
        .unwrap();
        let audit = || "audit".to_string();
        assert_eq!(
            parts,
            vec![
                Part::Text("shop: ".into()),
                Part::State(StateRef::FunctionUrn(audit())),
                Part::Text(" ".into()),
                Part::State(StateRef::AliasUrn {
                    function: audit(),
                    alias: "live".into()
                }),
                Part::Text("|".into()),
                Part::State(StateRef::TriggerId {
                    function: audit(),
                    trigger: "a.b".into()
                }),
                Part::Text("|".into()),
                Part::State(StateRef::FunctionVersion(audit())),
                Part::Text("|".into()),
                Part::State(StateRef::WorkflowId("etl".into())),
                Part::Text("|".into()),
                Part::State(StateRef::WorkflowUrn("etl".into())),
                Part::Text("|".into()),
                Part::State(StateRef::DependencyVersion("pillow".into())),
                Part::Text("|".into()),
                Part::State(StateRef::DependencyId("pillow".into())),
            ]
        );
        assert_eq!(
            template("plain", &scope, &mut refs, true).unwrap(),
            vec![Part::Text("plain".into())]
        );
        assert_eq!(
            template("", &scope, &mut refs, true).unwrap(),
            vec![Part::Text(String::new())]
        );
    }

    #[test]
    fn state_forms_are_refused_outside_outputs_and_checked_in_them() {
        let mut refs = Vec::new();
        let err = interpolate("${function.audit.trigger.t.id}", &scope(), &mut refs).unwrap_err();
        assert_eq!(
            err.message,
            "`${function.audit.trigger.t.id}` is known only after apply: only `outputs:` may refer to it"
        );
        let err = interpolate("${dependency.pillow.id}", &scope(), &mut refs).unwrap_err();
        assert!(err.message.contains("only `outputs:`"), "{}", err.message);
        let err = interpolate("${function.audit.arn}", &scope(), &mut refs).unwrap_err();
        assert_eq!(
            err.message,
            "`${function.audit.arn}`: only `.urn` of a function can be referred to"
        );
        assert!(refs.is_empty(), "nothing refused is a reference");

        for (text, message, hint) in [
            (
                "${function.audit.versoin}",
                "`${function.audit.versoin}`: a function has no attribute `versoin` an output can read",
                "did you mean `.version`? A function offers `${function.NAME.urn}`, `${function.NAME.version}`, `${function.NAME.trigger.TRIGGER.id}`, `${function.NAME.alias.ALIAS.urn}`",
            ),
            (
                "${workflow.etl.name}",
                "`${workflow.etl.name}`: a workflow has no attribute `name` an output can read",
                "a workflow offers `${workflow.NAME.urn}`, `${workflow.NAME.id}`",
            ),
            (
                "${dependency.pilow.id}",
                "`${dependency.pilow.id}` refers to dependency `pilow`, which this stack does not declare",
                "did you mean `pillow`?",
            ),
            (
                "${function.audt.alias.live.urn}",
                "`${function.audt.alias.live.urn}` refers to function `audt`, which this stack does not declare",
                "did you mean `audit`?",
            ),
        ] {
            let err = template(text, &scope(), &mut refs, true).unwrap_err();
            assert_eq!((err.message.as_str(), err.hint.as_deref()), (message, Some(hint)), "{text}");
        }
    }
}
