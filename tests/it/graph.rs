//! `fgform graph`: `examples/shop` drawn offline in both formats (no API call), and with
//! `--plan` after a partial change, each resource marked with its action (insta snapshots).

use std::collections::BTreeSet;

use crate::context::TestContext;

/// The dot text's shape, without Graphviz: one `digraph`, statements ending in `;`, every
/// edge between declared nodes, each node declared once. Returns the declared node ids.
fn dot_structure(dot: &str) -> BTreeSet<String> {
    assert!(dot.starts_with("digraph \"shop\" {\n"), "{dot}");
    assert!(dot.ends_with("\n}\n"), "{dot}");
    let (mut nodes, mut ends) = (BTreeSet::new(), BTreeSet::new());
    let body: Vec<&str> = dot.lines().skip(1).collect();
    for line in &body[..body.len() - 1] {
        assert!(line.starts_with("  ") && line.ends_with(';'), "`{line}`");
        if let Some((a, b)) = line.trim().trim_end_matches(';').split_once(" -> ") {
            ends.extend([a.to_string(), b.to_string()]);
        } else if line.contains(" [label = ") {
            let id = line.trim().split(" [").next().unwrap();
            assert!(id.starts_with('"') && id.ends_with('"'), "{id}");
            assert!(nodes.insert(id.to_string()), "{id} twice");
        }
    }
    assert!(!ends.is_empty() && ends.is_subset(&nodes), "{ends:?} ⊄ {nodes:?}");
    nodes
}

#[tokio::test]
async fn graph_draws_the_manifests_without_any_api_call() {
    let s = TestContext::example("shop").await;
    let dot = s.ok(&["graph"]).await;
    let mermaid = s.ok(&["graph", "--format", "mermaid"]).await;
    assert!(s.emu.requests().is_empty(), "graph without --plan called the API");
    assert!(!s.state_path.exists(), "graph without --plan wrote a state");
    let nodes = dot_structure(&dot);
    assert_eq!(nodes.len(), s.desired().addresses().len());
    assert!(
        dot.contains("  \"workflow.nightly-etl\" -> \"function.thumbnail\";\n"),
        "{dot}"
    );
    assert!(mermaid.starts_with("flowchart LR\n"), "{mermaid}");
    insta::assert_snapshot!("graph_shop_dot", dot);
    insta::assert_snapshot!("graph_shop_mermaid", mermaid);
    // The same stack gives the same text.
    assert_eq!(s.ok(&["graph"]).await, dot);
}

#[tokio::test]
async fn graph_refuses_invalid_manifests_with_their_diagnostics() {
    let s = TestContext::with_files(&[(
        "stack.yaml",
        "stack: g\nfunctions:\n  f: { runtime: Python3.9, handler: i.h, code: ./f, memory: 300 }\n",
    )])
    .await;
    let stderr = s.fails(&["graph"]).await;
    assert!(stderr.contains("300 is not a valid memory size"), "{stderr}");
}

#[tokio::test]
async fn graph_plan_marks_each_resource_with_its_planned_action() {
    let s = TestContext::example("shop").await;
    s.apply().await;
    let f = "functions.yaml";
    // function.audit: updated.
    s.edit(
        f,
        "    code: ./functions/audit\n",
        "    code: ./functions/audit\n    memory: 256\n",
    );
    // function.orders.trigger.hourly-report: deleted.
    s.edit(
        f,
        "    triggers:\n      hourly-report: { timer: { rate: 1h }, enabled: false }\n",
        "",
    );
    // function.notify.trigger.daily: created.
    s.edit(
        f,
        "stream_name: notify }\n",
        "stream_name: notify }\n    triggers:\n      daily: { timer: { cron: \"0 0 1 * * ?\" } }\n",
    );
    let serial = s.state().serial;
    let writes = s.writes();

    let dot = s.ok(&["graph", "--plan"]).await;
    let mermaid = s.ok(&["graph", "--plan", "--format", "mermaid"]).await;
    assert_eq!(s.writes(), writes, "graph --plan only reads");
    assert_eq!(s.state().serial, serial, "graph --plan wrote the state");
    dot_structure(&dot);
    for line in [
        "  \"function.audit\" [label = \"function.audit\\n(update)\", color = \"#bf8700\", fillcolor = \"#fff8c5\", style = \"filled\"];",
        "  \"function.notify.trigger.daily\" [label = \"function.notify.trigger.daily\\n(create)\", color = \"#2da44e\", fillcolor = \"#dafbe1\", style = \"filled\"];",
        "  \"function.orders.trigger.hourly-report\" [label = \"function.orders.trigger.hourly-report\\n(delete)\", color = \"#cf222e\", fillcolor = \"#ffebe9\", style = \"filled,dashed\"];",
        "  \"function.thumbnail\" [label = \"function.thumbnail\\n(no-op)\", color = \"#6e7781\", fillcolor = \"#f6f8fa\", style = \"filled\"];",
        // The deleted trigger keeps the edge the state recorded.
        "  \"function.orders.trigger.hourly-report\" -> \"function.orders\";",
    ] {
        assert!(dot.lines().any(|l| l == line), "no `{line}` in:\n{dot}");
    }
    assert!(mermaid.contains("\n  class n__function_2Eaudit update\n"), "{mermaid}");
    insta::assert_snapshot!("graph_shop_plan_dot", dot);
    insta::assert_snapshot!("graph_shop_plan_mermaid", mermaid);
}
