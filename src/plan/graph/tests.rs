use std::collections::BTreeSet;
use std::path::Path;

use serde_json::json;

use super::*;
use crate::manifest::{load_sources, LoadOptions, Source};
use crate::plan::Change;
use crate::state::{Attributes, ResourceState};

const STACK: &str = r#"
stack: g
dependencies:
  pillow: { runtime: Python3.9, source: ./deps }
functions:
  thumbnail:
    runtime: Python3.9
    handler: index.handler
    code: ./t
    dependencies: [pillow]
    environment: { AUDIT: "${function.audit.urn}" }
    async: { on_success: { function: audit } }
    versions: { publish: on-change }
    aliases: { live: { version: latest-published } }
    triggers:
      nightly: { timer: { cron: "0 30 2 * * ?" }, qualifier: live }
  audit:
    runtime: Python3.9
    handler: index.handler
    code: ./a
workflows:
  nightly-etl:
    start: go
    states:
      - { id: go, type: Operation, actions: [{ function: thumbnail }], next: done }
      - { id: done, type: End }
"#;

fn desired(yaml: &str) -> Desired {
    let source = Source {
        path: "stack.yaml".into(),
        text: yaml.into(),
    };
    load_sources(Path::new("."), vec![source], vec![], &LoadOptions::default()).expect("the stack loads")
}

fn change(address: &Address, action: Action) -> Change {
    Change {
        address: address.clone(),
        action,
        calls: vec![],
        changed: vec![],
        before: None,
        after: None,
        rollout: None,
    }
}

/// `(a, b)` for every step `a` that waits for step `b`, by address.
fn step_edges(plan: &Plan, desired: &Desired, state: &State) -> BTreeSet<(Address, Address)> {
    let steps = order::steps(plan, desired, state);
    let address = |i: usize| plan.changes[steps[i].change].address.clone();
    steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.phase == order::Phase::Main)
        .flat_map(|(i, s)| s.after.iter().map(move |&j| (i, j)))
        .map(|(i, j)| (address(i), address(j)))
        .collect()
}

/// A state recording every resource of `desired` as apply records it.
fn recorded(desired: &Desired) -> State {
    let mut state = State::new(&desired.stack, None);
    for a in desired.addresses() {
        let private = Attributes::from_object(&json!({"depends_on": crate::plan::depends_on(desired, &a)}));
        let record = ResourceState {
            kind: a.kind().into(),
            id: format!("id-{a}"),
            attributes: Attributes::from_object(&json!({})),
            private,
        };
        state.resources.insert(a.to_string(), record);
    }
    state
}

fn addr(s: &str) -> Address {
    s.parse().unwrap()
}

#[test]
fn the_manifest_graph_has_every_resource_and_what_it_refers_to() {
    let d = desired(STACK);
    let g = from_manifests(&d);
    assert_eq!(g.nodes.keys().cloned().collect::<Vec<_>>(), d.addresses());
    assert!(g.nodes.values().all(Option::is_none));
    for (a, b) in [
        ("function.thumbnail.trigger.nightly", "function.thumbnail"),
        ("function.thumbnail.trigger.nightly", "function.thumbnail.alias.live"),
        ("function.thumbnail.alias.live", "function.thumbnail.version"),
        ("function.thumbnail", "dependency.pillow"),
        ("function.thumbnail", "function.audit"),
        ("function.thumbnail.async", "function.audit"),
        ("workflow.nightly-etl", "function.thumbnail"),
    ] {
        assert!(g.edges.contains(&(addr(a), addr(b))), "no {a} -> {b}: {:?}", g.edges);
    }
}

#[test]
fn edges_are_the_apply_orders_for_creates_and_for_deletes() {
    let d = desired(STACK);
    let creates = Plan {
        changes: d.addresses().iter().map(|a| change(a, Action::Create)).collect(),
        ..Plan::default()
    };
    let empty = State::new("g", None);
    assert_eq!(from_manifests(&d).edges, step_edges(&creates, &d, &empty));
    assert_eq!(from_plan(&d, &empty, &creates).edges, step_edges(&creates, &d, &empty));

    // Everything deleted: the edges are what the state recorded, and a delete waits for
    // what referred to it.
    let state = recorded(&d);
    let nothing = desired("stack: g\n");
    let deletes = Plan {
        changes: d.addresses().iter().map(|a| change(a, Action::Delete)).collect(),
        ..Plan::default()
    };
    let graph = from_plan(&nothing, &state, &deletes);
    let reversed: BTreeSet<_> = step_edges(&deletes, &nothing, &state)
        .into_iter()
        .map(|(first, then)| (then, first))
        .collect();
    assert!(!graph.edges.is_empty());
    assert_eq!(graph.edges, reversed);
    assert!(graph.nodes.values().all(|p| *p == Some(Planned::Delete)));
}

#[test]
fn a_plan_annotates_each_node_and_adds_what_it_deletes() {
    let d = desired(STACK);
    let mut state = recorded(&d);
    // A trigger the manifests dropped, recorded as referring to its function.
    let old = addr("function.audit.trigger.old");
    let private = Attributes::from_object(&json!({"depends_on": ["function.audit"]}));
    state.resources.insert(
        old.to_string(),
        ResourceState {
            kind: "trigger".into(),
            id: "t".into(),
            attributes: Attributes::from_object(&json!({})),
            private,
        },
    );
    let plan = Plan {
        changes: vec![
            change(&addr("function.audit"), Action::Update),
            change(&old, Action::Delete),
            change(&addr("workflow.nightly-etl"), Action::Replace),
        ],
        ..Plan::default()
    };
    let g = from_plan(&d, &state, &plan);
    assert_eq!(g.nodes[&addr("function.audit")], Some(Planned::Update));
    assert_eq!(g.nodes[&old], Some(Planned::Delete));
    assert_eq!(g.nodes[&addr("workflow.nightly-etl")], Some(Planned::Replace));
    assert_eq!(g.nodes[&addr("dependency.pillow")], Some(Planned::NoOp));
    assert!(g.edges.contains(&(old.clone(), addr("function.audit"))));
    let dot = dot(&g);
    assert!(
        dot.contains("  \"function.audit.trigger.old\" [label = \"function.audit.trigger.old\\n(delete)\", color = \"#cf222e\", fillcolor = \"#ffebe9\", style = \"filled,dashed\"];\n"),
        "{dot}"
    );
    let mermaid = mermaid(&g);
    assert!(mermaid.contains("  class n__function_2Eaudit update\n"), "{mermaid}");
    assert!(
        mermaid.contains("  n__function_2Eaudit_2Etrigger_2Eold[\"function.audit.trigger.old (delete)\"]\n"),
        "{mermaid}"
    );
}

#[test]
fn resources_the_plan_cannot_touch_are_marked_blocked() {
    let d = desired(STACK);
    let audit = addr("function.audit");
    let plan = Plan {
        blocked: vec![crate::plan::Blocked {
            address: audit.clone(),
            id: "urn".into(),
            owner: None,
            reason: "not ours".into(),
            recorded: false,
        }],
        ..Plan::default()
    };
    let g = from_plan(&d, &State::new("g", None), &plan);
    assert_eq!(g.nodes[&audit], Some(Planned::Blocked));
    assert_eq!(g.nodes[&addr("function.thumbnail")], Some(Planned::NoOp));
    assert!(mermaid(&g).contains("  class n__function_2Eaudit blocked\n"));
}

/// A graph whose names hold what each format must escape.
fn awkward() -> Graph {
    let a = Address::Function("a\"b\\".into());
    let b = Address::Trigger {
        function: "a\"b\\".into(),
        trigger: "x-y.z end".into(),
    };
    Graph {
        name: "s\"t".into(),
        nodes: [(a.clone(), None), (b.clone(), Some(Planned::Create))].into(),
        edges: [(b, a)].into(),
    }
}

#[test]
fn dot_quotes_and_escapes_every_id() {
    let dot = dot(&awkward());
    assert_eq!(
        dot,
        "digraph \"s\\\"t\" {\n  rankdir = \"LR\";\n  node [shape = \"box\", fontname = \"Helvetica\"];\n  \
         \"function.a\\\"b\\\\\" [label = \"function.a\\\"b\\\\\"];\n  \
         \"function.a\\\"b\\\\.trigger.x-y.z end\" [label = \"function.a\\\"b\\\\.trigger.x-y.z end\\n(create)\", color = \"#2da44e\", fillcolor = \"#dafbe1\", style = \"filled\"];\n  \
         \"function.a\\\"b\\\\.trigger.x-y.z end\" -> \"function.a\\\"b\\\\\";\n}\n"
    );
}

#[test]
fn every_mermaid_edge_end_is_a_declared_node() {
    for graph in [awkward(), from_manifests(&desired(STACK))] {
        let chart = mermaid(&graph);
        let mut declared = BTreeSet::new();
        let mut used = BTreeSet::new();
        for line in chart.lines().skip(1).map(str::trim) {
            if let Some((a, b)) = line.split_once(" --> ") {
                used.insert(a.to_string());
                used.insert(b.to_string());
            } else if let Some((id, _)) = line.split_once("[\"") {
                assert!(id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "{id}");
                assert!(declared.insert(id.to_string()), "{id} declared twice");
            }
        }
        assert!(!used.is_empty());
        assert!(used.is_subset(&declared), "{used:?} ⊄ {declared:?}\n{chart}");
        assert_eq!(declared.len(), graph.nodes.len());
        assert!(!chart.contains("\"b\\\""), "a quote in a label is escaped:\n{chart}");
    }
}

#[test]
fn output_is_sorted_whatever_order_the_plan_lists_changes_in() {
    let d = desired(STACK);
    let state = recorded(&d);
    let mut changes: Vec<Change> = d.addresses().iter().map(|a| change(a, Action::Update)).collect();
    let forward = Plan {
        changes: changes.clone(),
        ..Plan::default()
    };
    changes.reverse();
    let backward = Plan {
        changes,
        ..Plan::default()
    };
    let (a, b) = (from_plan(&d, &state, &forward), from_plan(&d, &state, &backward));
    assert_eq!(dot(&a), dot(&b));
    assert_eq!(mermaid(&a), mermaid(&b));
    let dot = dot(&a);
    // Nodes in address order (as the plan lists changes), each edge after its nodes, sorted.
    let names: Vec<String> = dot
        .lines()
        .filter_map(|l| {
            l.strip_prefix("  \"")?
                .split_once("\" [label")
                .map(|(n, _)| n.to_string())
        })
        .collect();
    let sorted: Vec<String> = d.addresses().iter().map(Address::to_string).collect();
    assert_eq!(names, sorted);
    let edges: Vec<&str> = dot.lines().filter(|l| l.contains(" -> ")).collect();
    assert_eq!(edges.len(), a.edges.len());
}
