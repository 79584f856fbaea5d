//! The Markdown plan (`plan --format markdown`): what a merge-request comment shows. A
//! heading naming the stack and stage, the summary line, one table row per change, the
//! warnings, a Mermaid chart of each workflow the plan creates or changes, and the full text
//! plan folded into a `<details>` block.
//!
//! Everything user-controlled is escaped for where it lands: table cells escape `|`, code
//! spans and the fence are longer than any backtick run they hold, prose escapes HTML.
//! Values never appear outside the text plan, which already shows secrets as `(sensitive)`.

use std::fmt::Write as _;

use super::super::{Action, Plan};
use super::mermaid::{self, Mark};
use crate::api::types::CompactObject;
use crate::model::Address;

/// The hidden first line: CI scripts find (and update) their earlier comment by it.
pub const MARKER_PREFIX: &str = "<!-- fgform-plan";

/// GitHub refuses comments over 65,536 characters: the whole comment stays under this many
/// bytes. The summary (table, warnings) and the workflow charts get at most half; the folded text plan the rest,
/// each cut at a line end with a note saying how much was left out.
pub const MAX_COMMENT: usize = 60_000;

/// Room kept for the heading, the fences, the `<details>` tags and the notes.
const FRAME: usize = 1_000;

/// The Markdown plan of `stack` (and `stage`).
pub fn markdown(plan: &Plan, stack: &str, stage: Option<&str>) -> String {
    let mut out = String::new();
    let stage_id = stage.map(|s| format!(" stage={}", comment_safe(s))).unwrap_or_default();
    let _ = writeln!(out, "{MARKER_PREFIX} stack={}{stage_id} -->", comment_safe(stack));
    let _ = write!(out, "### fgform plan: stack {}", code(stack));
    if let Some(stage) = stage {
        let _ = write!(out, ", stage {}", code(stage));
    }
    out.push_str("\n\n");
    let summary = summary(plan);
    let (summary, cut) = truncate(&summary, MAX_COMMENT / 2);
    out.push_str(summary);
    note_cut(&mut out, cut, "the text plan below and the job log have everything");
    out.push_str(&workflow_charts(plan, (MAX_COMMENT / 2).saturating_sub(summary.len())));
    let text = diff_lines(&super::text(plan));
    let (text, cut) = truncate(&text, MAX_COMMENT.saturating_sub(out.len() + FRAME));
    let fence = "`".repeat(longest_run(text, '`').max(2) + 1);
    out.push_str("\n<details><summary>Full plan</summary>\n\n");
    let _ = writeln!(out, "{fence}diff");
    out.push_str(text);
    if !text.ends_with('\n') {
        out.push('\n');
    }
    let _ = writeln!(out, "{fence}");
    note_cut(&mut out, cut, "see the job log for the whole plan");
    out.push_str("\n</details>\n");
    out
}

/// The summary line, the table of changes, adoptions and warnings.
fn summary(plan: &Plan) -> String {
    let mut out = String::new();
    let (add, change, destroy) = plan.counts();
    if !plan.blocked.is_empty() {
        let _ = writeln!(
            out,
            "**Error: {} declared resource(s) are not this state's to manage.** The plan fails.",
            plan.blocked.len()
        );
    }
    if plan.changes.is_empty() && !plan.blocked.is_empty() {
        // The error line above says it all.
    } else if plan.changes.is_empty() && !(plan.adopt.is_empty() && plan.rerecord.is_empty()) {
        let _ = writeln!(
            out,
            "**No changes to live resources.** {} resource(s) to record in state.",
            plan.adopt.len() + plan.rerecord.len()
        );
    } else if plan.changes.is_empty() {
        out.push_str("**No changes.** The live resources match the manifests.\n");
    } else {
        let _ = writeln!(out, "**Plan: {add} to add, {change} to change, {destroy} to destroy.**");
        out.push_str("\n| | Action | Resource | Changed attributes |\n|---|---|---|---|\n");
        for c in &plan.changes {
            let (symbol, action) = match c.action {
                Action::Create => ("+", "create"),
                Action::Update => ("~", "update in place"),
                Action::Replace => ("-/+", "replace"),
                Action::Delete => ("-", "destroy"),
            };
            let attributes = match c.action {
                Action::Update | Action::Replace => super::shown_attributes(&c.address, &c.changed)
                    .iter()
                    .map(|a| {
                        let mut s = code(&a.path);
                        if a.sensitive {
                            s.push_str(" (sensitive)");
                        }
                        if a.forces_replacement {
                            s.push_str(" **forces replacement**");
                        }
                        s
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                Action::Create => "(new)".into(),
                Action::Delete => "(all)".into(),
            };
            let _ = writeln!(
                out,
                "| {} | {action} | {} | {} |",
                cell(&code(symbol)),
                cell(&code(&c.address.to_string())),
                cell(&attributes)
            );
        }
    }
    if !plan.blocked.is_empty() {
        out.push_str("\n**Not this state's to manage** (the plan fails; nothing will be changed):\n\n");
        for b in &plan.blocked {
            let _ = writeln!(
                out,
                "- {} ({}): {}",
                code(&b.address.to_string()),
                code(&b.id),
                prose(&b.reason)
            );
        }
    }
    if !plan.resource_drift.is_empty() {
        out.push_str("\n**Changed outside fgform** since the last apply (the full plan has the values):\n\n");
        for d in &plan.resource_drift {
            let attributes: Vec<String> = d
                .attributes
                .iter()
                .map(|a| code(&super::shown_path(&d.address, &a.path)))
                .collect();
            let _ = writeln!(out, "- {}: {}", code(&d.address.to_string()), attributes.join(", "));
        }
    }
    if !plan.adopt.is_empty() {
        out.push_str("\n**Adopted into state** (no API call):\n\n");
        for (address, id) in &plan.adopt {
            let _ = writeln!(out, "- {} ({})", code(&address.to_string()), code(id));
        }
    }
    if !plan.rerecord.is_empty() {
        out.push_str("\n**Recorded as found live** (already as the manifests ask; no API call):\n\n");
        for r in &plan.rerecord {
            let _ = writeln!(out, "- {}", code(&r.address.to_string()));
        }
    }
    if !plan.warnings.is_empty() {
        out.push_str("\n**Warnings:**\n\n");
        for warning in &plan.warnings {
            let _ = writeln!(out, "- {}", prose(warning));
        }
    }
    out
}

/// A Mermaid flowchart of the states of each workflow the plan creates, updates or
/// replaces (an update marks the states it adds or changes, and names those it removes),
/// as many as fit in `room` bytes; a note names the workflows left out.
fn workflow_charts(plan: &Plan, room: usize) -> String {
    let mut out = String::new();
    let mut left_out = Vec::new();
    for c in &plan.changes {
        if !matches!(c.address, Address::Workflow(_)) {
            continue;
        }
        // Parsed for workflows only: every other change's views stay unread.
        let definition = |view: &Option<CompactObject>| view.as_ref()?.get("definition");
        let Some(after) = definition(&c.after) else {
            continue;
        };
        let before = definition(&c.before).filter(|_| c.action != Action::Create);
        let mark = if before.is_some() { Mark::Changes } else { Mark::Nothing };
        let chart = mermaid::workflow(&after, before.as_ref(), mark);
        let fence = "`".repeat(longest_run(&chart, '`').max(2) + 1);
        let verb = if before.is_some() { "changed" } else { "new" };
        let mut section = format!("\n**Workflow {}** ({verb}):\n\n", code(&c.address.to_string()));
        let _ = write!(section, "{fence}mermaid\n{chart}{fence}\n");
        if let Some(before) = &before {
            section.push_str("\n*Green: states added; yellow: states changed.*");
            let gone: Vec<String> = mermaid::removed_states(before, &after)
                .iter()
                .map(|s| code(s))
                .collect();
            if !gone.is_empty() {
                let _ = write!(section, " *Removed:* {}", gone.join(", "));
            }
            section.push('\n');
        }
        if out.len() + section.len() <= room {
            out.push_str(&section);
        } else {
            left_out.push(code(&c.address.to_string()));
        }
    }
    if !left_out.is_empty() {
        // Named up to a few, so the note itself stays small.
        let mut named = left_out.iter().take(MAX_NAMED).cloned().collect::<Vec<_>>().join(", ");
        if left_out.len() > MAX_NAMED {
            let _ = write!(named, " and {} more", left_out.len() - MAX_NAMED);
        }
        let _ = writeln!(out, "\n*Charts of {named} not shown (comment size limit).*");
    }
    out
}

/// How many workflows a note of charts left out names.
const MAX_NAMED: usize = 10;

/// After a cut: how many lines were left out and where to find them.
fn note_cut(out: &mut String, lines: usize, elsewhere: &str) {
    if lines > 0 {
        let _ = writeln!(
            out,
            "\n*{lines} more lines not shown (comment size limit): {elsewhere}.*"
        );
    }
}

/// The text plan with each line's action symbol moved to column 0, so a ```diff block
/// colours it: `+` added, `-` removed, `!` (was `~`) changed; `-/+` stays red.
fn diff_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        let moved = ["-/+ ", "+ ", "- ", "~ "].iter().find_map(|sym| {
            trimmed.strip_prefix(sym).map(|rest| {
                let sym = if *sym == "~ " { "! " } else { sym };
                format!("{}{indent}{rest}", sym)
            })
        });
        match moved {
            Some(moved) => out.push_str(&moved),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// At most `max` bytes of `text`, cut after a whole line; and how many lines were cut.
fn truncate(text: &str, max: usize) -> (&str, usize) {
    if text.len() <= max {
        return (text, 0);
    }
    let end = text[..max].rfind('\n').map_or(0, |i| i + 1);
    let kept = &text[..end];
    (kept, text[end..].lines().count())
}

fn longest_run(s: &str, c: char) -> usize {
    let (mut best, mut run) = (0, 0);
    for ch in s.chars() {
        run = if ch == c { run + 1 } else { 0 };
        best = best.max(run);
    }
    best
}

/// An inline code span holding `s` verbatim: its delimiter is longer than any backtick run
/// inside, padded with spaces when `s` starts or ends with a backtick.
fn code(s: &str) -> String {
    let s = s.replace(['\n', '\r'], " ");
    let fence = "`".repeat(longest_run(&s, '`') + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// A table cell: `|` escaped (GFM splits cells before it parses code spans, so this holds
/// inside code spans too), no line breaks.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// Prose from the planner (warnings): HTML escaped, one line. Its own `code` spans stay.
fn prose(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace(['\n', '\r'], " ")
}

/// Text safe inside an HTML comment.
fn comment_safe(s: &str) -> String {
    s.replace("--", "- -").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_spans_outgrow_the_backticks_they_hold() {
        assert_eq!(code("function.a"), "`function.a`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`x``"), "``` `x`` ```");
        assert_eq!(cell(&code("a|b")), "`a\\|b`");
    }

    #[test]
    fn symbols_move_to_the_first_column() {
        let text = "  # function.a will be created\n  + function.a {\n      + memory_size = 128\n    }\n-/+ function.b {\n      ~ handler = \"a\" -> \"b\"\n";
        assert_eq!(
            diff_lines(text),
            "  # function.a will be created\n+   function.a {\n+       memory_size = 128\n    }\n-/+ function.b {\n!       handler = \"a\" -> \"b\"\n"
        );
    }

    #[test]
    fn long_plans_are_cut_at_a_line_end() {
        let text = "aaaa\nbbbb\ncccc\n";
        assert_eq!(truncate(text, 100), (text, 0));
        assert_eq!(truncate(text, 7), ("aaaa\n", 2));
    }

    #[test]
    fn a_plan_over_the_comment_limit_is_cut_with_a_note() {
        let plan = Plan {
            warnings: (0..2000).map(|i| format!("warning number {i} is here")).collect(),
            ..Plan::default()
        };
        let md = markdown(&plan, "s", None);
        assert!(md.len() <= MAX_COMMENT, "{}", md.len());
        assert!(md.contains("warning number 0 is here"));
        assert!(md.contains("more lines not shown (comment size limit): the text plan below"));
        assert!(md.contains("more lines not shown (comment size limit): see the job log"));
        assert!(md.trim_end().ends_with("</details>"));
        // Small plans are whole.
        let md = markdown(&Plan::default(), "s", None);
        assert!(!md.contains("not shown"), "{md}");
    }

    #[test]
    fn the_fence_is_longer_than_any_backtick_run_in_the_plan() {
        let plan = Plan {
            warnings: vec!["a ```` b <x> | c".into()],
            ..Plan::default()
        };
        let md = markdown(&plan, "s", None);
        assert!(md.contains("\n`````diff\n"), "{md}");
        assert!(md.contains("- a ```` b &lt;x&gt; | c\n"), "{md}");
    }

    fn workflow_change(
        name: &str,
        action: Action,
        before: serde_json::Value,
        after: serde_json::Value,
    ) -> crate::plan::Change {
        crate::plan::Change {
            address: Address::Workflow(name.into()),
            action,
            calls: vec![],
            changed: vec![],
            before: CompactObject::from_value(&before),
            after: CompactObject::from_value(&after),
            rollout: None,
        }
    }

    #[test]
    fn changed_workflows_are_drawn_as_mermaid_charts() {
        use serde_json::json;
        let def = |next: &str| {
            json!({"definition": {"start": "a", "states": [
                {"id": "a", "type": "Operation", "transition": next, "end": false},
                {"id": "b", "type": "End", "end": true}, {"id": "c", "type": "End", "end": true}
            ]}})
        };
        let plan = Plan {
            changes: vec![
                workflow_change("new", Action::Create, serde_json::Value::Null, def("b")),
                workflow_change("old", Action::Update, def("b"), def("c")),
                workflow_change("gone", Action::Delete, def("b"), serde_json::Value::Null),
            ],
            ..Plan::default()
        };
        let md = markdown(&plan, "s", None);
        assert!(
            md.contains("\n**Workflow `workflow.new`** (new):\n\n```mermaid\nflowchart TD\n"),
            "{md}"
        );
        assert!(
            md.contains("\n**Workflow `workflow.old`** (changed):\n\n```mermaid\n"),
            "{md}"
        );
        assert!(
            !md.contains("`workflow.gone`**"),
            "a deleted workflow is not drawn:\n{md}"
        );
        assert_eq!(md.matches("  class s__a changed\n").count(), 1, "{md}");
        let charts = md.find("**Workflow").unwrap();
        assert!(
            charts < md.find("<details>").unwrap(),
            "the charts come before the text plan"
        );
        assert_eq!(md, markdown(&plan, "s", None), "deterministic");
    }

    #[test]
    fn charts_that_do_not_fit_are_named_instead() {
        use serde_json::json;
        let states: Vec<_> = (0..40)
            .map(|i| json!({"id": format!("state-{i:03}-{}", "x".repeat(80)), "type": "Operation", "transition": format!("s{}", i + 1)}))
            .collect();
        let after = json!({"definition": {"start": "s0", "states": states}});
        let plan = Plan {
            changes: (0..20)
                .map(|i| workflow_change(&format!("w{i}"), Action::Create, serde_json::Value::Null, after.clone()))
                .collect(),
            ..Plan::default()
        };
        let md = markdown(&plan, "s", None);
        assert!(md.len() <= MAX_COMMENT, "{}", md.len());
        assert!(md.contains("**Workflow `workflow.w0`** (new)"), "{md}");
        assert!(md.contains("not shown (comment size limit).*"), "{md}");
        assert!(md.contains("`workflow.w2`, "), "{md}");
        assert!(md.contains(" and 8 more not shown (comment size limit).*"), "{md}");
        assert_eq!(md.matches("```mermaid").count(), md.matches("flowchart TD").count());
    }
}
