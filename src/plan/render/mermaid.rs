//! Mermaid text for `fgform graph --format mermaid` and the workflow charts of the Markdown
//! plan: node ids any name maps to without collision, label text safe inside quotes, and
//! a workflow definition's states as a `flowchart`.
//!
//! Ids: a prefix letter, then each part as `__` + the part with every byte other than an
//! ASCII letter or digit written `_XX` (hex). `_` itself is escaped, so `_` is always
//! followed by two hex digits and `__` only ever separates parts: different names never
//! share an id, and no id is a Mermaid keyword (`end`) or starts with `o`/`x`, which
//! Mermaid would read as an edge's end.

use std::fmt::Write as _;

use serde_json::{Map, Value};

/// The id of the node `parts` names, under `prefix` (one letter per kind of node).
pub fn id(prefix: char, parts: &[&str]) -> String {
    let mut out = String::from(prefix);
    for part in parts {
        out.push_str("__");
        for b in part.bytes() {
            if b.is_ascii_alphanumeric() {
                out.push(b as char);
            } else {
                let _ = write!(out, "_{b:02X}");
            }
        }
    }
    out
}

/// `s` as the text of a quoted label (`id["…"]`, `-->|"…"|`): characters Mermaid or the
/// Markdown around it would read are entity codes, line breaks are spaces.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '#' => out.push_str("#35;"),
            '&' => out.push_str("#amp;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '`' => out.push_str("#96;"),
            '|' => out.push_str("#124;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Fill and stroke of the classes marking what a plan does to a node.
pub const CLASSES: &[(&str, &str)] = &[
    ("create", "fill:#dafbe1,stroke:#2da44e"),
    ("update", "fill:#fff8c5,stroke:#bf8700"),
    ("replace", "fill:#fff1e5,stroke:#bc4c00,stroke-width:3px"),
    ("delete", "fill:#ffebe9,stroke:#cf222e,stroke-dasharray:5 5"),
    ("noop", "fill:#f6f8fa,stroke:#6e7781"),
    ("blocked", "fill:#fbefff,stroke:#8250df"),
    ("added", "fill:#dafbe1,stroke:#2da44e"),
    ("changed", "fill:#fff8c5,stroke:#bf8700"),
];

/// `classDef` and `class` lines for `members` (class name → node ids), classes in
/// [`CLASSES`] order, only those with members.
pub fn classes(out: &mut String, members: &[(&str, Vec<String>)]) {
    for (name, style) in CLASSES {
        let ids: Vec<&str> = members
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, ids)| ids.iter().map(String::as_str))
            .collect();
        if !ids.is_empty() {
            let _ = writeln!(out, "  classDef {name} {style}");
            let _ = writeln!(out, "  class {} {name}", ids.join(","));
        }
    }
}

/// How the Markdown plan marks a workflow's states against its previous definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// A new workflow: nothing to compare with.
    Nothing,
    /// An update: top-level states that are new or differ are marked.
    Changes,
}

/// A workflow's states as a Mermaid `flowchart`: `definition` is the API form the plan
/// carries (`transition`, `end`, `function_ref`, `on_errors[].transition`); `before`, the
/// previous definition, marks new and changed top-level states (`Mark::Changes`).
pub fn workflow(definition: &Value, before: Option<&Value>, mark: Mark) -> String {
    let mut out = String::from("flowchart TD\n");
    let top = definition.as_object().cloned().unwrap_or_default();
    Chart { out: &mut out }.graph(&[], &top, 1);
    if mark == Mark::Changes {
        let mut marks = [("added", vec![]), ("changed", vec![])];
        let old = states(before.and_then(Value::as_object));
        for s in states(Some(&top)) {
            let sid = field(s, "id");
            let class = match old.iter().find(|o| field(o, "id") == sid) {
                None => 0,
                Some(o) if !same_state(s, o) => 1,
                Some(_) => continue,
            };
            marks[class].1.push(id('s', &[sid]));
        }
        classes(&mut out, &marks);
    }
    out
}

/// The ids of `before`'s top-level states that `after` no longer has, in their order.
pub fn removed_states(before: &Value, after: &Value) -> Vec<String> {
    let kept: Vec<&str> = states(after.as_object()).iter().map(|s| field(s, "id")).collect();
    states(before.as_object())
        .iter()
        .map(|s| field(s, "id"))
        .filter(|s| !kept.contains(s))
        .map(str::to_string)
        .collect()
}

fn states(holder: Option<&Map<String, Value>>) -> Vec<&Map<String, Value>> {
    holder
        .and_then(|h| h.get("states"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_object).collect())
        .unwrap_or_default()
}

fn field<'m>(m: &'m Map<String, Value>, key: &str) -> &'m str {
    m.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// Whether a state of the new definition is the old one (as the planner compares
/// definitions: keys only the server adds do not count).
fn same_state(new: &Map<String, Value>, old: &Map<String, Value>) -> bool {
    crate::plan::diff::matches(Some(&Value::Object(new.clone())), Some(&Value::Object(old.clone())))
}

struct Chart<'o> {
    out: &'o mut String,
}

impl Chart<'_> {
    /// One graph of states (the top level, a Parallel branch, a Foreach body) under `path`:
    /// a start marker, each state, its transitions.
    fn graph(&mut self, path: &[&str], holder: &Map<String, Value>, depth: usize) {
        let pad = "  ".repeat(depth);
        let list = states(Some(holder));
        let first = list.first().map(|s| field(s, "id")).unwrap_or_default();
        let start = holder.get("start").and_then(Value::as_str).unwrap_or(first);
        let start_id = id('t', path);
        let _ = writeln!(self.out, "{pad}{start_id}((\"start\"))");
        if !start.is_empty() {
            let _ = writeln!(self.out, "{pad}{start_id} --> {}", node(path, start));
        }
        for s in &list {
            self.state(path, s, depth);
        }
        for s in &list {
            self.edges(path, s, &pad);
        }
    }

    fn state(&mut self, path: &[&str], s: &Map<String, Value>, depth: usize) {
        let pad = "  ".repeat(depth);
        let sid = field(s, "id");
        let kind = field(s, "type");
        let me = node(path, sid);
        let mut label = format!("{}<br/>{}", text(sid), text(kind));
        match kind {
            "Parallel" | "Foreach" => {
                if kind == "Foreach" {
                    if let Some(c) = s.get("input_collection").and_then(Value::as_str) {
                        let _ = write!(label, " over {}", text(c));
                    }
                }
                let _ = writeln!(self.out, "{pad}subgraph {me} [\"{label}\"]");
                let mut inner: Vec<&str> = path.to_vec();
                inner.push(sid);
                if kind == "Foreach" {
                    self.graph(&inner, s, depth + 1);
                } else {
                    let branches = s
                        .get("branches")
                        .and_then(Value::as_array)
                        .map_or(&[][..], Vec::as_slice);
                    for (i, b) in branches.iter().filter_map(Value::as_object).enumerate() {
                        let n = (i + 1).to_string();
                        let mut branch = inner.clone();
                        branch.push(&n);
                        let bid = id('b', &branch);
                        let _ = writeln!(self.out, "{pad}  subgraph {bid} [\"branch {n}\"]");
                        self.graph(&branch, b, depth + 2);
                        let _ = writeln!(self.out, "{pad}  end");
                    }
                }
                let _ = writeln!(self.out, "{pad}end");
                return;
            }
            "Operation" => {
                let called: Vec<String> = s
                    .get("actions")
                    .and_then(Value::as_array)
                    .map_or(&[][..], Vec::as_slice)
                    .iter()
                    .filter_map(|a| {
                        a.get("function_ref")
                            .and_then(|f| f.get("ref_name"))
                            .or(a.get("function"))
                    })
                    .filter_map(Value::as_str)
                    .map(text)
                    .collect();
                if !called.is_empty() {
                    let _ = write!(label, ": {}", called.join(", "));
                }
            }
            "Sleep" => {
                if let Some(d) = s.get("duration").filter(|d| d.is_number()) {
                    let _ = write!(label, " {d}s");
                }
            }
            _ => {}
        }
        let shape = match kind {
            "Switch" => ("{", "}"),
            "End" => ("(((", ")))"),
            "Sleep" => ("([", "])"),
            _ => ("[", "]"),
        };
        let _ = writeln!(self.out, "{pad}{me}{}\"{label}\"{}", shape.0, shape.1);
    }

    fn edges(&mut self, path: &[&str], s: &Map<String, Value>, pad: &str) {
        let me = node(path, field(s, "id"));
        let mut edge = |arrow: &str, label: Option<String>, to: &str| {
            if to.is_empty() {
                return;
            }
            let label = label.map(|l| format!("|\"{}\"|", text(&l))).unwrap_or_default();
            let _ = writeln!(self.out, "{pad}{me} {arrow}{label} {}", node(path, to));
        };
        let end = s.get("end").and_then(Value::as_bool).unwrap_or(false) || field(s, "type") == "End";
        if !end {
            edge("-->", None, next(s));
        }
        let list = |key: &str| {
            s.get(key)
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_object).collect::<Vec<_>>())
                .unwrap_or_default()
        };
        for c in list("conditions").into_iter().chain(list("data_conditions")) {
            edge("-->", Some(field(c, "condition").to_string()), next(c));
        }
        let default = s
            .get("default")
            .and_then(Value::as_str)
            .or_else(|| s.get("default_condition")?.as_object().map(next));
        edge("-->", Some("default".into()), default.unwrap_or_default());
        for h in list("on_errors") {
            let mut label = format!("on error {}", field(h, "error"));
            if let Some(r) = h.get("retry_ref").and_then(Value::as_str) {
                let _ = write!(label, ", retry {r}");
            }
            edge("-.->", Some(label), next(h));
        }
    }
}

/// Where a state, choice or handler goes: `transition` as fgform sends it, or `next` as
/// written where fgform passes keys through (Switch choices, nested states).
fn next(m: &Map<String, Value>) -> &str {
    Some(field(m, "transition"))
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| field(m, "next"))
}

/// The node id of state `state` of the graph at `path`.
fn node(path: &[&str], state: &str) -> String {
    let mut parts = path.to_vec();
    parts.push(state);
    id('s', &parts)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn ids_never_collide_and_stay_plain() {
        let names = ["function.a-b", "function_a.b", "a__b", "a_5Fb", "end", "o", "x.y", "é"];
        let ids: Vec<String> = names.iter().map(|n| id('n', &[n])).collect();
        for (i, a) in ids.iter().enumerate() {
            assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "{a}");
            for b in &ids[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(id('n', &["function.thumbnail"]), "n__function_2Ethumbnail");
        // Parts cannot run into each other.
        assert_ne!(id('s', &["a", "b"]), id('s', &["a__b"]));
        assert_ne!(id('s', &["a_", "b"]), id('s', &["a", "_b"]));
    }

    #[test]
    fn label_text_cannot_end_its_quotes() {
        assert_eq!(text("a\"b<c>#`|&\nd"), "a#quot;b#lt;c#gt;#35;#96;#124;#amp; d");
    }

    #[test]
    fn a_workflow_chart_draws_every_transition() {
        let def = json!({
            "start": "pick",
            "states": [
                {"id": "pick", "type": "Switch", "conditions": [{"condition": "$.n > 3", "transition": "many"}, {"condition": "$.n < 0", "next": "few"}], "default": "few"},
                {"id": "many", "type": "Operation", "actions": [{"function_ref": {"ref_name": "big"}}],
                 "on_errors": [{"error": "X", "transition": "few", "retry_ref": "r"}], "transition": "fan", "end": false},
                {"id": "fan", "type": "Parallel", "branches": [
                    {"start": "b1", "states": [{"id": "b1", "type": "End", "end": true}]}
                ], "transition": "few"},
                {"id": "few", "type": "Sleep", "duration": 5, "transition": "done"},
                {"id": "done", "type": "End", "end": true, "transition": ""}
            ]
        });
        let chart = workflow(&def, None, Mark::Nothing);
        for line in [
            "t((\"start\"))",
            "t --> s__pick",
            "s__pick{\"pick<br/>Switch\"}",
            "s__many[\"many<br/>Operation: big\"]",
            "subgraph s__fan [\"fan<br/>Parallel\"]",
            "subgraph b__fan__1 [\"branch 1\"]",
            "t__fan__1 --> s__fan__1__b1",
            "s__few([\"few<br/>Sleep 5s\"])",
            "s__done(((\"done<br/>End\")))",
            "s__pick -->|\"$.n #gt; 3\"| s__many",
            "s__pick -->|\"$.n #lt; 0\"| s__few",
            "s__pick -->|\"default\"| s__few",
            "s__many -.->|\"on error X, retry r\"| s__few",
            "s__many --> s__fan",
            "s__fan --> s__few",
            "s__few --> s__done",
        ] {
            assert!(chart.lines().any(|l| l.trim() == line), "no `{line}` in:\n{chart}");
        }
        assert!(!chart.contains("s__done -->"), "an end has no way out:\n{chart}");
        assert!(!chart.contains("classDef"), "{chart}");
    }

    #[test]
    fn an_update_marks_new_and_changed_states() {
        let before = json!({"start": "a", "states": [
            {"id": "a", "type": "Operation", "transition": "b"},
            {"id": "b", "type": "End", "end": true},
            {"id": "gone", "type": "End", "end": true}
        ]});
        let after = json!({"start": "a", "states": [
            {"id": "a", "type": "Operation", "transition": "c"},
            {"id": "c", "type": "Sleep", "duration": 1, "transition": "b"},
            {"id": "b", "type": "End", "end": true}
        ]});
        let chart = workflow(&after, Some(&before), Mark::Changes);
        assert!(chart.contains("  class s__c added\n"), "{chart}");
        assert!(chart.contains("  class s__a changed\n"), "{chart}");
        assert!(
            !chart.contains("s__b changed") && !chart.contains("s__b added"),
            "{chart}"
        );
        assert_eq!(removed_states(&before, &after), ["gone"]);
        assert_eq!(chart, workflow(&after, Some(&before), Mark::Changes), "deterministic");
    }
}
