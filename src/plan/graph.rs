//! `fgform graph`: a stack's resources and what each refers to, as Graphviz `dot` or a
//! Mermaid `flowchart`. Pure: the command loads the stack (and with `--plan` plans it) and
//! prints what is built here.
//!
//! An edge `a -> b` means `a` refers to `b` (so `b` is created first and deleted last). The
//! edges are the apply order's own: [`order::prerequisites`] for what the manifests declare,
//! and for a resource the plan deletes, what the state recorded it referring to
//! ([`order::recorded_depends_on`]), as [`order::steps`] reads them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::order;
use super::render::mermaid;
use super::{Action, Plan};
use crate::model::{Address, Desired};
use crate::state::State;

/// What a plan does to a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Planned {
    Create,
    Update,
    Replace,
    Delete,
    /// Nothing: it already is what the manifests ask for.
    NoOp,
    /// Declared, but the plan cannot touch it: it is another's, or cannot be worked out.
    Blocked,
}

impl Planned {
    fn of(action: Action) -> Planned {
        match action {
            Action::Create => Planned::Create,
            Action::Update => Planned::Update,
            Action::Replace => Planned::Replace,
            Action::Delete => Planned::Delete,
        }
    }

    /// The word a label shows, and the Mermaid class name.
    pub fn word(self) -> &'static str {
        match self {
            Planned::Create => "create",
            Planned::Update => "update",
            Planned::Replace => "replace",
            Planned::Delete => "delete",
            Planned::NoOp => "no-op",
            Planned::Blocked => "blocked",
        }
    }

    fn class(self) -> &'static str {
        match self {
            Planned::NoOp => "noop",
            other => other.word(),
        }
    }

    /// Graphviz `color`, `fillcolor` and `style` (the same colours as [`mermaid::CLASSES`]).
    fn dot_style(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Planned::Create => ("#2da44e", "#dafbe1", "filled"),
            Planned::Update => ("#bf8700", "#fff8c5", "filled"),
            Planned::Replace => ("#bc4c00", "#fff1e5", "filled,bold"),
            Planned::Delete => ("#cf222e", "#ffebe9", "filled,dashed"),
            Planned::NoOp => ("#6e7781", "#f6f8fa", "filled"),
            Planned::Blocked => ("#8250df", "#fbefff", "filled,dotted"),
        }
    }
}

/// The resources of a stack and what each refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graph {
    /// The stack's name.
    pub name: String,
    /// Every node, sorted; with the planned action when built from a plan.
    pub nodes: BTreeMap<Address, Option<Planned>>,
    /// `(a, b)`: `a` refers to `b`. Both ends are nodes.
    pub edges: BTreeSet<(Address, Address)>,
}

/// The graph the manifests alone give (no API call).
pub fn from_manifests(desired: &Desired) -> Graph {
    let nodes: BTreeMap<Address, Option<Planned>> = desired.addresses().into_iter().map(|a| (a, None)).collect();
    let edges = nodes
        .keys()
        .flat_map(|a| {
            order::prerequisites(desired, a)
                .into_iter()
                .map(move |b| (a.clone(), b))
        })
        .filter(|(_, b)| nodes.contains_key(b))
        .collect();
    Graph {
        name: desired.stack.clone(),
        nodes,
        edges,
    }
}

/// The graph of `desired` with what `plan` (made against `state`) does to each node, plus
/// the resources it deletes and the edges the state records into and out of them.
pub fn from_plan(desired: &Desired, state: &State, plan: &Plan) -> Graph {
    let mut graph = from_manifests(desired);
    let held = plan.blocked.iter().map(|b| &b.address);
    let held: BTreeSet<&Address> = held.chain(plan.unresolved.iter().map(|u| &u.address)).collect();
    for (address, planned) in graph.nodes.iter_mut() {
        *planned = Some(if held.contains(address) {
            Planned::Blocked
        } else {
            Planned::NoOp
        });
    }
    for change in &plan.changes {
        graph
            .nodes
            .insert(change.address.clone(), Some(Planned::of(change.action)));
    }
    let deleted: BTreeSet<&Address> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .map(|c| &c.address)
        .collect();
    for a in graph.nodes.keys() {
        for b in order::recorded_depends_on(state, a) {
            // What refers to a deleted resource goes first (as `steps` orders it); a deleted
            // resource keeps the edges it was recorded with.
            if graph.nodes.contains_key(&b) && (deleted.contains(&b) || deleted.contains(a)) {
                graph.edges.insert((a.clone(), b));
            }
        }
    }
    graph
}

/// The graph in Graphviz `dot`: nodes and edges sorted, ids quoted and escaped.
pub fn dot(graph: &Graph) -> String {
    let mut out = format!("digraph {} {{\n", dot_string(&graph.name));
    out.push_str("  rankdir = \"LR\";\n  node [shape = \"box\", fontname = \"Helvetica\"];\n");
    for (address, planned) in &graph.nodes {
        let name = address.to_string();
        let _ = write!(out, "  {} [", dot_string(&name));
        match planned {
            None => {
                let _ = write!(out, "label = {}", dot_string(&name));
            }
            Some(p) => {
                let (color, fill, style) = p.dot_style();
                let _ = write!(
                    out,
                    "label = {}, color = \"{color}\", fillcolor = \"{fill}\", style = \"{style}\"",
                    dot_string(&format!("{name}\n({})", p.word()))
                );
            }
        }
        out.push_str("];\n");
    }
    for (a, b) in &graph.edges {
        let _ = writeln!(
            out,
            "  {} -> {};",
            dot_string(&a.to_string()),
            dot_string(&b.to_string())
        );
    }
    out.push_str("}\n");
    out
}

/// `s` as a DOT quoted string: `"` and `\` escaped (so a name cannot end the string or
/// escape its closing quote), a line break as `\n`.
fn dot_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The graph as a Mermaid `flowchart`: every node declared with its address as label, then
/// the edges, then one class per planned action.
pub fn mermaid(graph: &Graph) -> String {
    let mut out = String::from("flowchart LR\n");
    let node = |a: &Address| mermaid::id('n', &[&a.to_string()]);
    let mut classes: Vec<(&str, Vec<String>)> = Vec::new();
    for (address, planned) in &graph.nodes {
        let mut label = address.to_string();
        if let Some(p) = planned {
            let _ = write!(label, " ({})", p.word());
            match classes.iter_mut().find(|(c, _)| *c == p.class()) {
                Some((_, ids)) => ids.push(node(address)),
                None => classes.push((p.class(), vec![node(address)])),
            }
        }
        let _ = writeln!(out, "  {}[\"{}\"]", node(address), mermaid::text(&label));
    }
    for (a, b) in &graph.edges {
        let _ = writeln!(out, "  {} --> {}", node(a), node(b));
    }
    mermaid::classes(&mut out, &classes);
    out
}

#[cfg(test)]
mod tests;
