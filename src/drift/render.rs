//! The drift report as text (sections, then the population checked and a summary line)
//! and as JSON (`docs/drift.md`).

use std::fmt::Write as _;

use serde_json::{json, Value};

use super::{Action, Baseline, Report, RuleUse};

/// `schema_version` of the `--json` report.
pub const SCHEMA_VERSION: &str = "1.0";

/// Longest value shown in text; longer ones are cut (the JSON report has them whole).
const MAX_SHOWN: usize = 100;
/// Hex digits shown of a code digest.
const DIGEST_SHOWN: usize = 16;

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A value on one line: JSON, digests abbreviated, long values cut.
fn show(path: &str, v: Option<&Value>) -> String {
    let Some(v) = v else {
        return "null".into();
    };
    if let (true, Some(s)) = (path == "code", v.as_str()) {
        if s.len() > DIGEST_SHOWN && s.chars().all(|c| c.is_ascii_hexdigit()) {
            return format!("sha512:{}…", &s[..DIGEST_SHOWN]);
        }
    }
    let text = v.to_string();
    if text.chars().count() > MAX_SHOWN {
        let cut: String = text.chars().take(MAX_SHOWN - 1).collect();
        format!("{cut}…")
    } else {
        text
    }
}

fn rule_line(file: &str, r: &RuleUse) -> String {
    let until = r.until.map(|d| format!(" until {d}")).unwrap_or_default();
    format!("{file}:{}  {}{until}  # {}", r.line, r.pattern, r.reason)
}

/// `Checked 12 managed resources (…) and 57 live functions, … in the project.`
fn checked_line(report: &Report) -> String {
    let c = &report.checked;
    let kinds = [
        ("function", "function", "functions"),
        ("trigger", "trigger", "triggers"),
        ("async", "async config", "async configs"),
        ("version", "version", "versions"),
        ("alias", "alias", "aliases"),
        ("dependency", "dependency", "dependencies"),
        ("workflow", "workflow", "workflows"),
    ];
    let parts: Vec<String> = kinds
        .iter()
        .filter_map(|(kind, one, many)| c.managed.get(kind).map(|n| plural(*n, one, many)))
        .collect();
    let managed = if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    };
    let others = if c.other_stacks > 0 {
        format!(
            "; {} tagged for other stacks",
            plural(c.other_stacks, "function is", "functions are")
        )
    } else {
        String::new()
    };
    format!(
        "Checked {}{managed} and {}, {}, {} in the project{others}.",
        plural(c.managed_total(), "managed resource", "managed resources"),
        plural(c.functions, "live function", "live functions"),
        plural(c.workflows, "workflow", "workflows"),
        plural(c.dependencies, "dependency", "dependencies"),
    )
}

/// `3 findings ignored by 2 rules (1 rule expired: .fgform-drift-ignore:4)`.
fn ignored_line(report: &Report) -> String {
    let file = report.ignore_file.as_deref().unwrap_or_default();
    let rules = report.ignored.iter().filter(|r| r.matched > 0).count();
    let mut line = format!(
        "{} ignored by {}",
        plural(report.ignored_count(), "finding", "findings"),
        plural(rules, "rule", "rules")
    );
    if !report.expired.is_empty() {
        let at: Vec<String> = report.expired.iter().map(|r| format!("{file}:{}", r.line)).collect();
        let _ = write!(
            line,
            " ({} expired: {})",
            plural(report.expired.len(), "rule", "rules"),
            at.join(", ")
        );
    }
    line
}

/// The human-readable report.
pub fn text(report: &Report) -> String {
    let mut out = String::new();
    if !report.changed.is_empty() {
        out.push_str("Changed outside fgform (live differs from what fgform last applied):\n");
        for c in &report.changed {
            let against = match c.baseline {
                Baseline::State => "",
                Baseline::Manifest => " (vs the manifests: adopted, no recorded attributes)",
            };
            for a in &c.attributes {
                let _ = writeln!(
                    out,
                    "  ~ {}: {} {} -> {}{against}",
                    c.address,
                    a.path,
                    show(&a.path, a.recorded.as_ref()),
                    show(&a.path, a.live.as_ref())
                );
            }
        }
        out.push('\n');
    }
    if !report.deleted.is_empty() {
        out.push_str("Deleted outside fgform (in state, gone live):\n");
        for d in &report.deleted {
            let _ = writeln!(out, "  - {} ({}): {}", d.address, d.id, d.reason);
        }
        out.push('\n');
    }
    if !report.unmanaged.is_empty() {
        out.push_str("Unmanaged (in the project, in no state of this stack):\n");
        for u in &report.unmanaged {
            let _ = writeln!(out, "  ? {} ({}): {}", u.address, u.id, u.reason);
        }
        out.push('\n');
    }
    if !report.pending.is_empty() {
        out.push_str("Pending (the manifests ask for it, not applied yet):\n");
        for p in &report.pending {
            let (sym, verb) = match p.action {
                Action::Create => ("+", "create"),
                Action::Update => ("~", "update"),
                Action::Replace => ("-/+", "replace"),
                Action::Delete => ("-", "delete"),
            };
            if p.attributes.is_empty() {
                let _ = writeln!(out, "  {sym} {}: {verb}", p.address);
            }
            for a in &p.attributes {
                let values = if a.sensitive {
                    "(sensitive)".to_string()
                } else {
                    format!(
                        "{} -> {}",
                        show(&a.path, a.live.as_ref()),
                        show(&a.path, a.manifest.as_ref())
                    )
                };
                let _ = writeln!(out, "  {sym} {}: {} {values}", p.address, a.path);
            }
        }
        out.push('\n');
    }
    if !report.ignored.is_empty() || !report.expired.is_empty() {
        let file = report.ignore_file.as_deref().unwrap_or_default();
        let _ = writeln!(out, "Ignored: {}", ignored_line(report));
        for r in &report.ignored {
            let _ = writeln!(out, "  {:>3} × {}", r.matched, rule_line(file, r));
        }
        for r in &report.expired {
            let _ = writeln!(out, "  expired, not applied: {}", rule_line(file, r));
        }
        out.push('\n');
    }
    let _ = writeln!(out, "{}", checked_line(report));
    if report.in_sync() {
        out.push_str("No drift: live resources match the state and the manifests.\n");
    } else {
        let _ = writeln!(
            out,
            "Drift: {} changed, {} deleted, {} unmanaged, {} pending; {} ignored.",
            report.changed.len(),
            report.deleted.len(),
            report.unmanaged.len(),
            report.pending.len(),
            report.ignored_count()
        );
    }
    out
}

fn rule_json(r: &RuleUse, matched: bool) -> Value {
    let mut v = json!({
        "rule": r.pattern,
        "line": r.line,
        "reason": r.reason,
        "expires": r.until.map(|d| d.to_string()),
    });
    if matched {
        v["matched"] = r.matched.into();
    }
    v
}

/// The `--json` report (`docs/drift.md`); `timestamp` is RFC 3339.
pub fn json(report: &Report, timestamp: &str) -> Value {
    let c = &report.checked;
    let managed = |kind: &str| c.managed.get(kind).copied().unwrap_or(0);
    json!({
        "schema_version": SCHEMA_VERSION,
        "stack": report.stack,
        "stage": report.stage,
        "checked": {
            "managed": {
                "total": c.managed_total(),
                "functions": managed("function"),
                "triggers": managed("trigger"),
                "async_configs": managed("async"),
                "versions": managed("version"),
                "aliases": managed("alias"),
                "dependencies": managed("dependency"),
                "workflows": managed("workflow"),
            },
            "project": {
                "functions": c.functions,
                "functions_of_other_stacks": c.other_stacks,
                "workflows": c.workflows,
                "dependencies": c.dependencies,
            },
        },
        "summary": {
            "changed": report.changed.len(),
            "deleted": report.deleted.len(),
            "unmanaged": report.unmanaged.len(),
            "pending": report.pending.len(),
            "ignored": report.ignored_count(),
            "in_sync": report.in_sync(),
        },
        "changed": report.changed.iter().map(|c| json!({
            "address": c.address.to_string(),
            "kind": c.address.kind(),
            "id": c.id,
            "baseline": c.baseline,
            "attributes": c.attributes,
        })).collect::<Vec<_>>(),
        "deleted": report.deleted.iter().map(|d| json!({
            "address": d.address.to_string(),
            "kind": d.address.kind(),
            "id": d.id,
            "reason": d.reason,
        })).collect::<Vec<_>>(),
        "unmanaged": report.unmanaged.iter().map(|u| json!({
            "address": u.address.to_string(),
            "kind": u.address.kind(),
            "name": u.name,
            "id": u.id,
            "reason": u.reason,
        })).collect::<Vec<_>>(),
        "pending": report.pending.iter().map(|p| json!({
            "address": p.address.to_string(),
            "kind": p.address.kind(),
            "action": p.action,
            "attributes": p.attributes,
        })).collect::<Vec<_>>(),
        "ignore_file": report.ignore_file,
        "ignored": report.ignored.iter().map(|r| rule_json(r, true)).collect::<Vec<_>>(),
        "expired_rules": report.expired.iter().map(|r| rule_json(r, false)).collect::<Vec<_>>(),
        "fgform_version": env!("CARGO_PKG_VERSION"),
        "timestamp": timestamp,
    })
}
