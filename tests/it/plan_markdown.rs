//! `plan --format markdown`: the merge-request comment for real plans (insta snapshots):
//! empty, a create, updates with a replace, and warnings. Secrets never appear.

use fgform::api::types::CreateFunctionRequest;
use fgform::plan::render;

use crate::context::{scrub_ids, TestContext, HANDLER};

const SECRET: &str = "s3cr3t-value";

fn stack_yaml(runtime: &str, memory: u32, secret: &str) -> String {
    format!(
        r#"
stack: md
functions:
  hello:
    runtime: {runtime}
    handler: index.handler
    code: ./hello
    description: "says ``` hello | there"
    secrets: {{ TOKEN: {secret} }}
    triggers:
      nightly: {{ timer: {{ cron: "0 30 2 * * ?" }} }}
  other:
    runtime: Python3.9
    handler: index.handler
    memory: {memory}
    code: ./hello
"#
    )
}

fn markdown(s: &TestContext, plan: &fgform::plan::Plan) -> String {
    let desired = s.desired();
    let md = render::markdown(plan, &desired.stack, Some("prod"));
    assert!(!md.contains(SECRET), "a secret leaked:\n{md}");
    assert!(md.starts_with("<!-- fgform-plan stack=md stage=prod -->\n"), "{md}");
    scrub_ids(&md)
}

#[tokio::test]
async fn markdown_plans_for_merge_requests() {
    let yaml = stack_yaml("Python3.9", 128, SECRET);
    let s = TestContext::with_files(&[("stack.yaml", yaml.as_str()), ("hello/index.py", HANDLER)]).await;

    let create = s.plan().await;
    let md = markdown(&s, &create);
    assert!(md.contains("**Plan: 3 to add, 0 to change, 0 to destroy.**"), "{md}");
    assert!(
        md.contains("\n````diff\n"),
        "the fence outgrows the description's backticks:\n{md}"
    );
    insta::assert_snapshot!("markdown_create", crate::support::scrub_lineage(&md));

    s.apply().await;
    let empty = s.plan().await;
    assert!(empty.is_empty());
    insta::assert_snapshot!("markdown_empty", crate::support::scrub_lineage(&markdown(&s, &empty)));

    s.write("stack.yaml", &stack_yaml("Python3.10", 256, "an0ther-secret"));
    let changes = s.plan().await;
    let md = markdown(&s, &changes);
    assert!(!md.contains("an0ther-secret"), "{md}");
    assert!(
        md.contains("| `-/+` | replace | `function.hello` | `runtime` **forces replacement**, `secrets` (sensitive) |"),
        "{md}"
    );
    assert!(
        md.contains("| `~` | update in place | `function.other` | `memory` |"),
        "{md}"
    );
    insta::assert_snapshot!("markdown_replace_and_update", crate::support::scrub_lineage(&md));
}

#[tokio::test]
async fn markdown_lists_resources_that_are_not_ours() {
    let yaml = stack_yaml("Python3.9", 128, SECRET);
    let s = TestContext::with_files(&[("stack.yaml", yaml.as_str()), ("hello/index.py", HANDLER)]).await;
    let desired = s.desired();
    let spec = &desired.functions["other"];
    let mut body = spec.config_body();
    body["code_type"] = "zip".into();
    body["code_filename"] = "index.zip".into();
    body["func_code"] = serde_json::json!({"file": crate::support::b64(&crate::support::default_zip())});
    let body: CreateFunctionRequest = serde_json::from_value(body).unwrap();
    s.client.create_function(&body).await.unwrap();

    let plan = s.plan().await;
    assert_eq!(plan.blocked.len(), 1, "{}", render::text(&plan));
    let md = markdown(&s, &plan);
    assert!(
        md.contains("\n**Error: 1 declared resource(s) are not this state's to manage.** The plan fails.\n"),
        "{md}"
    );
    assert!(
        md.contains("\n- `function.other` (`urn:fss:local-1:0123456789abcdef0123456789abcdef:function:default:other`): it has no `fgform-stack` tag: it was made outside fgform (console, script, another tool)\n"),
        "{md}"
    );
    insta::assert_snapshot!("markdown_warnings", crate::support::scrub_lineage(&md));
}

fn workflow_yaml(states: &str) -> String {
    format!(
        r#"
stack: md
functions:
  hello: {{ runtime: Python3.9, handler: index.handler, code: ./hello }}
workflows:
  etl:
    start: pick
    retries: [{{ name: twice, delay: 1, max_attempts: 2 }}]
    states:
{states}"#
    )
}

const ETL_STATES: &str = r#"      - id: pick
        type: Switch
        conditions: [{ condition: "$.n > 3", next: fan }]
        default: done
      - id: fan
        type: Parallel
        branches:
          - { start: one, states: [{ id: one, type: Operation, actions: [{ function: hello }], end: true }] }
          - { states: [{ id: two, type: End }] }
        next: work
      - id: work
        type: Operation
        actions: [{ function: hello, arguments: { key: "$.key" } }]
        on_errors: [{ error: "FunctionError", next: done, retry_ref: twice }]
        next: done
      - { id: done, type: End }
"#;

#[tokio::test]
async fn markdown_plans_draw_each_changed_workflow() {
    let yaml = workflow_yaml(ETL_STATES);
    let s = TestContext::with_files(&[("stack.yaml", yaml.as_str()), ("hello/index.py", HANDLER)]).await;
    let create = s.plan().await;
    let md = markdown(&s, &create);
    assert!(
        md.contains("\n**Workflow `workflow.etl`** (new):\n\n```mermaid\nflowchart TD\n"),
        "{md}"
    );
    insta::assert_snapshot!("markdown_workflow_create", crate::support::scrub_lineage(&md));

    s.apply().await;
    // `work` changes its next state, `wait` is new, `done` stays.
    let changed = ETL_STATES.replace(
        "        next: done\n      - { id: done",
        "        next: wait\n      - { id: wait, type: Sleep, duration: 5, next: done }\n      - { id: done",
    );
    s.write("stack.yaml", &workflow_yaml(&changed));
    let update = s.plan().await;
    assert_eq!(update.changes.len(), 1, "{}", render::text(&update));
    let md = markdown(&s, &update);
    assert!(md.contains("\n**Workflow `workflow.etl`** (changed):\n"), "{md}");
    assert!(md.contains("\n  class s__wait added\n"), "{md}");
    assert!(md.contains("\n  class s__work changed\n"), "{md}");
    assert!(
        !md.contains("s__done changed") && !md.contains("s__pick changed"),
        "{md}"
    );
    insta::assert_snapshot!("markdown_workflow_update", crate::support::scrub_lineage(&md));
}
