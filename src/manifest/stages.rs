//! Which stages a stack has, and whether `--stage` names one of them.
//!
//! A stack's stages are its top-level `stages:` list when it has one (then every overlay must
//! be for a listed stage), otherwise the stages its `*.<stage>.yaml` overlays are for. A
//! `--stage` the stack does not declare is an error: a typo, or any stage at all on a stack
//! with none, would otherwise load the base configuration under a new state file and adopt,
//! then on `destroy` delete, the real deployment's resources.

use std::path::Path;

use super::diagnostic::{did_you_mean, Diagnostic, Location};
use super::yaml::{Kind, Node, Span};
use crate::api::rules::is_valid_stage_name;

/// An overlay file found: its stage, the file's name and its index in the file list.
pub struct Overlay {
    pub stage: String,
    pub name: String,
    pub file: usize,
}

/// Checks `stages:`, the overlays and the `--stage` given; returns the stack's stages.
pub fn check(
    dir: &Path,
    base: Option<&Node>,
    overlay: Option<&Node>,
    overlays: &[Overlay],
    given: Option<&str>,
    location: &dyn Fn(Span) -> Location,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<String> {
    let start_of = |file: usize| {
        location(Span {
            file,
            line: 1,
            column: 1,
        })
    };
    if let Some(entry) = overlay
        .and_then(|n| n.as_map())
        .and_then(|m| m.iter().find(|e| e.key == "stages"))
    {
        diagnostics.push(
            Diagnostic::new("stages", "belongs in a base file, not in a stage overlay")
                .at(Some(location(entry.key_span)))
                .with_hint(Some(
                    "move `stages:` to a file without a stage in its name, e.g. `stack.yaml`".into(),
                )),
        );
    }
    let declared = base
        .and_then(|n| n.as_map())
        .and_then(|m| m.iter().find(|e| e.key == "stages"))
        .filter(|e| !e.value.is_null());

    let stages: Vec<String> = match declared {
        Some(entry) => {
            let names = declared_names(&entry.value, location, diagnostics);
            for overlay in overlays.iter().filter(|o| !names.contains(&o.stage)) {
                let hint = match did_you_mean(&overlay.stage, names.iter().map(String::as_str)) {
                    Some(close) => format!(
                        "did you mean to name it `{}`? otherwise add `{}` to `stages:`",
                        overlay
                            .name
                            .replacen(&format!(".{}.", overlay.stage), &format!(".{close}."), 1),
                        overlay.stage
                    ),
                    None => format!(
                        "add `{}` to `stages:`, or rename the file if it is not meant as an overlay",
                        overlay.stage
                    ),
                };
                let mut diagnostic = Diagnostic::new(
                    "",
                    format!(
                        "`{}` is an overlay for stage `{}`, which `stages:` does not declare",
                        overlay.name, overlay.stage
                    ),
                )
                .at(Some(start_of(overlay.file)))
                .with_hint(Some(hint));
                diagnostic.related = Some(("stages declared at".into(), location(entry.key_span)));
                diagnostics.push(diagnostic);
            }
            names
        }
        None => {
            let mut names: Vec<String> = overlays.iter().map(|o| o.stage.clone()).collect();
            names.sort();
            names.dedup();
            names
        }
    };

    let Some(given) = given else {
        return stages;
    };
    if stages.iter().any(|s| s == given) {
        return stages;
    }
    let known = stages.join(", ");
    let diagnostic = if stages.is_empty() {
        Diagnostic::new(
            "",
            format!(
                "`--stage {given}` is given, but the stack at `{}` declares no stages",
                dir.display()
            ),
        )
        .with_hint(Some(format!(
            "leave out `--stage`: this stack has one deployment; to give it stages, list them in a base file (`stages: [{given}]`)"
        )))
    } else {
        let hint = match did_you_mean(given, stages.iter().map(String::as_str)) {
            Some(close) => format!("did you mean `--stage {close}`? the stages are: {known}"),
            None => format!("the stages are: {known}"),
        };
        match declared {
            Some(entry) => Diagnostic::new("stages", format!("`--stage {given}` is not one of the declared stages"))
                .at(Some(location(entry.key_span))),
            None => Diagnostic::new(
                "",
                format!(
                    "`--stage {given}` is not a stage of the stack: no `stages:` list and no `*.{given}.yaml` overlay in `{}`",
                    dir.display()
                ),
            ),
        }
        .with_hint(Some(hint))
    };
    diagnostics.push(diagnostic);
    stages
}

/// The names of a `stages:` list, each checked against the stage name rule.
fn declared_names(node: &Node, location: &dyn Fn(Span) -> Location, diagnostics: &mut Vec<Diagnostic>) -> Vec<String> {
    let Kind::Seq(items) = &node.kind else {
        diagnostics.push(
            Diagnostic::new(
                "stages",
                format!("expected a list of stage names, found {}", node.describe()),
            )
            .at(Some(location(node.span)))
            .with_hint(Some("write `stages: [dev, prod]`".into())),
        );
        return Vec::new();
    };
    let mut names: Vec<String> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("stages[{i}]");
        let name = match &item.kind {
            Kind::Scalar { text, .. } if !item.is_null() => text,
            _ => {
                diagnostics.push(
                    Diagnostic::new(path, format!("expected a stage name, found {}", item.describe()))
                        .at(Some(location(item.span))),
                );
                continue;
            }
        };
        if !is_valid_stage_name(name) {
            diagnostics.push(
                Diagnostic::new(path, format!("`{name}` is not a valid stage name"))
                    .at(Some(location(item.span)))
                    .with_hint(Some(STAGE_NAME_RULE.into())),
            );
        } else if names.contains(name) {
            diagnostics
                .push(Diagnostic::new(path, format!("stage `{name}` is listed twice")).at(Some(location(item.span))));
        } else {
            names.push(name.clone());
        }
    }
    names
}

/// The stage name rule, as hints say it.
pub const STAGE_NAME_RULE: &str = "1–40 characters of letters, digits, `_` and `-`, starting with a letter and ending with a letter or digit (no `.`: a stage is also part of overlay file names)";
