//! `fgform import` end to end: a resource made through the API (untagged, so the plan skips
//! it with a warning), imported, planned (only the real differences; snapshots), applied,
//! planned again (empty). And every refusal, with the message and hint the user sees.

use fgform::api::types::{
    AsyncInvokeConfigRequest, CreateDependencyVersionRequest, CreateFunctionRequest, CreateTriggerRequest,
    WorkflowDefinition,
};
use fgform::model::Address;
use fgform::plan::{render, Action};
use serde_json::Value;

use crate::context::{scrub_ids, TestContext, HANDLER};

const FUNCTION_STACK: &str = r#"
stack: imports
functions:
  hello:
    runtime: Python3.9
    handler: index.handler
    memory: 256
    timeout: 10
    code: ./hello
    description: says hello
    environment: { GREETING: hello }
    async: { max_retries: 1 }
    triggers:
      nightly: { timer: { cron: "0 30 2 * * ?" }, payload: '{"mode":"full"}' }
      hourly: { timer: { rate: 1h } }
"#;

/// Creates `function.hello` of the stack through the API, untagged, with 128 MB instead of
/// the manifest's 256 and the same code; returns its unqualified URN.
async fn create_hello(s: &TestContext) -> String {
    let desired = s.desired();
    let spec = &desired.functions["hello"];
    let file = s.upload_base64(&Address::Function("hello".into()));
    let mut body = spec.config_body();
    if let (Some(b), Value::Object(code)) = (body.as_object_mut(), spec.code_body(desired.region(), Some(&file), &[])) {
        b.extend(code);
    }
    body["memory_size"] = 128.into();
    let body: CreateFunctionRequest = serde_json::from_value(body).unwrap();
    s.client.create_function(&body).await.unwrap();
    desired.function_urn("hello")
}

async fn create_trigger(s: &TestContext, urn: &str, name: &str) -> String {
    let desired = s.desired();
    let spec = desired.functions["hello"].triggers.get(name).unwrap();
    let body: CreateTriggerRequest = serde_json::from_value(spec.create_body()).unwrap();
    s.client.create_trigger(urn, &body).await.unwrap().trigger_id
}

/// Write calls the emulator answered so far.
fn writes(s: &TestContext) -> usize {
    s.emu.requests().iter().filter(|r| r.method != "GET").count()
}

fn addresses_and_actions(plan: &fgform::plan::Plan) -> Vec<(String, Action, Vec<String>)> {
    plan.changes
        .iter()
        .map(|c| {
            (
                c.address.to_string(),
                c.action,
                c.attributes().iter().map(|a| a.path.clone()).collect(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_function_its_async_config_and_a_trigger_are_imported_then_converge() {
    let s = TestContext::with_files(&[("stack.yaml", FUNCTION_STACK), ("hello/index.py", HANDLER)]).await;
    let urn = create_hello(&s).await;
    let nightly = create_trigger(&s, &urn, "nightly").await;
    let body = AsyncInvokeConfigRequest {
        max_async_retry_attempts: Some(2),
        ..Default::default()
    };
    s.client.put_async_config(&urn, &body).await.unwrap();

    let before = s.plan().await;
    assert!(before.warnings.is_empty(), "{:?}", before.warnings);
    assert_eq!(
        before
            .blocked
            .iter()
            .map(|b| (b.address.to_string(), b.id.as_str(), b.owner.clone()))
            .collect::<Vec<_>>(),
        [("function.hello".to_string(), urn.as_str(), None)]
    );
    assert!(before.changes.is_empty(), "{}", render::text(&before));

    let writes_before = writes(&s);
    let latest = format!("{urn}:latest");
    s.ok(&["import", "function.hello", &latest]).await;
    s.ok(&["import", "function.hello.trigger.nightly", &nightly]).await;
    assert_eq!(writes(&s), writes_before, "import changes nothing live");
    let state = s.state();
    assert_eq!(
        state.resources.keys().collect::<Vec<_>>(),
        [
            "function.hello",
            "function.hello.async",
            "function.hello.trigger.nightly"
        ]
    );
    assert_eq!(state.resources["function.hello"].id, urn, "recorded unqualified");
    assert_eq!(state.resources["function.hello.trigger.nightly"].id, nightly);

    // Only the real differences: the memory, the ownership tag, the retries, and the trigger
    // that does not exist yet.
    let plan = s.plan().await;
    assert!(
        plan.warnings.is_empty() && plan.adopt.is_empty(),
        "{}",
        render::text(&plan)
    );
    assert_eq!(
        addresses_and_actions(&plan),
        [
            (
                "function.hello".into(),
                Action::Update,
                vec!["memory_size".into(), "tags".into()]
            ),
            (
                "function.hello.trigger.hourly".into(),
                Action::Create,
                vec!["trigger_type_code".into(), "trigger_status".into(), "event_data".into()]
            ),
            (
                "function.hello.async".into(),
                Action::Update,
                vec!["max_async_retry_attempts".into()]
            ),
        ]
    );
    insta::assert_snapshot!(
        "imported_function_plan",
        crate::support::scrub_lineage(&scrub_ids(&render::text(&plan)))
    );

    s.apply_converges().await;
    let live = s.client.show_function_config(&urn).await.unwrap();
    assert_eq!(live.memory_size, 256);
    assert_eq!(
        s.client.list_triggers(&urn).await.unwrap().len(),
        2,
        "nothing duplicated"
    );
}

const DEPENDENCY_STACK: &str = r#"
stack: deps
dependencies:
  lib:
    runtime: Python3.9
    source: ./lib
    description: helpers
"#;

#[tokio::test]
async fn a_dependency_version_is_imported_by_id_or_package_and_version() {
    let s = TestContext::with_files(&[("stack.yaml", DEPENDENCY_STACK), ("lib/python/helpers.py", "X = 1\n")]).await;
    let desired = s.desired();
    let mut body = desired.dependencies["lib"].create_body(desired.region());
    body["depend_file"] = s.upload_base64(&Address::Dependency("lib".into())).into();
    body["description"] = "".into();
    let body: CreateDependencyVersionRequest = serde_json::from_value(body).unwrap();
    let live = s.client.create_dependency_version(&body).await.unwrap();

    // Versions are not looked up by name: without an import the plan makes a new one.
    let before = s.plan().await;
    assert_eq!(
        addresses_and_actions(&before)
            .into_iter()
            .map(|(a, c, _)| (a, c))
            .collect::<Vec<_>>(),
        [("dependency.lib".to_string(), Action::Create)]
    );

    s.ok(&["import", "dependency.lib", &live.id]).await;
    let by_id = s.state().resources["dependency.lib"].clone();
    assert_eq!(by_id.id, live.id);
    assert_eq!(by_id.attributes.get("dep_id"), Some(live.dep_id.clone().into()));
    assert_eq!(by_id.attributes.get("version"), Some(live.version.into()));

    s.ok(&["state", "rm", "dependency.lib"]).await;
    let pair = format!("{}/{}", live.dep_id, live.version);
    s.ok(&["import", "dependency.lib", &pair]).await;
    assert_eq!(
        s.state().resources["dependency.lib"],
        by_id,
        "both ID forms record the same"
    );

    // Same content (the etag is the zip's MD5): only the description differs, and a version
    // is immutable, so it is replaced.
    let plan = s.plan().await;
    assert_eq!(
        addresses_and_actions(&plan),
        [(
            "dependency.lib".to_string(),
            Action::Replace,
            vec!["description".to_string()]
        )]
    );
    insta::assert_snapshot!(
        "imported_dependency_plan",
        crate::support::scrub_lineage(&scrub_ids(&render::text(&plan)))
    );

    s.apply_converges().await;
    let versions = s.client.list_all_dependency_versions(&live.dep_id).await.unwrap();
    assert_eq!(versions.len(), 1, "the imported version was replaced: {versions:?}");
    assert_ne!(versions[0].id, live.id);
}

const WORKFLOW_STACK: &str = r#"
stack: flows
functions:
  hello:
    runtime: Python3.9
    handler: index.handler
    code: ./hello
workflows:
  etl:
    mode: NORMAL
    start: run
    states:
      - { id: run, type: Operation, actions: [{ function: hello, arguments: { mode: full } }], next: done }
      - { id: done, type: End }
"#;

#[tokio::test]
async fn a_workflow_is_imported_with_its_urn_and_converges() {
    let s = TestContext::with_files(&[("stack.yaml", WORKFLOW_STACK), ("hello/index.py", HANDLER)]).await;
    s.ok(&["apply", "--auto-approve", "--target", "function.hello"]).await;
    let desired = s.desired();
    let mut definition = desired.workflows["etl"].definition(&desired);
    definition["states"][0]["actions"][0]["function_ref"]["arguments"]["mode"] = "quick".into();
    let definition: WorkflowDefinition = serde_json::from_value(definition).unwrap();
    let live = s.client.create_workflow(&definition).await.unwrap();

    let before = s.plan().await;
    assert!(before.warnings.is_empty(), "{:?}", before.warnings);
    assert_eq!(
        before
            .blocked
            .iter()
            .map(|b| (b.address.to_string(), b.id.clone()))
            .collect::<Vec<_>>(),
        [("workflow.etl".to_string(), live.id.clone())]
    );
    assert!(before.changes.is_empty(), "{}", render::text(&before));

    s.ok(&["import", "workflow.etl", &live.id]).await;
    let record = s.state().resources["workflow.etl"].clone();
    assert_eq!(record.id, live.id);
    assert_eq!(
        record.private.get("workflow_urn"),
        Some(live.workflow_urn.clone().into())
    );

    let plan = s.plan().await;
    assert!(plan.warnings.is_empty(), "{}", render::text(&plan));
    assert_eq!(
        addresses_and_actions(&plan),
        [(
            "workflow.etl".to_string(),
            Action::Update,
            vec!["definition".to_string()]
        )]
    );
    insta::assert_snapshot!(
        "imported_workflow_plan",
        crate::support::scrub_lineage(&scrub_ids(&render::text(&plan)))
    );

    s.apply_converges().await;
    // The delete path uses the recorded workflow URN.
    s.ok(&["destroy", "--auto-approve"]).await;
    assert!(s.client.list_all_workflows(None).await.unwrap().is_empty());
}

const EVERY_KIND: &str = r#"
stack: refusals
dependencies:
  lib: { runtime: Python3.9, source: ./lib }
functions:
  hello:
    runtime: Python3.9
    handler: index.handler
    code: ./hello
    triggers:
      nightly: { timer: { cron: "0 30 2 * * ?" } }
      hourly: { timer: { rate: 1h } }
workflows:
  etl:
    start: run
    states:
      - { id: run, type: Operation, actions: [{ function: hello }], next: done }
      - { id: done, type: End }
"#;

#[tokio::test]
async fn imports_are_refused_with_the_reason_and_a_way_out() {
    let s = TestContext::with_files(&[
        ("stack.yaml", EVERY_KIND),
        ("hello/index.py", HANDLER),
        ("lib/python/x.py", "X = 1\n"),
    ])
    .await;
    let desired = s.desired();
    let urn = desired.function_urn("hello");
    let project = fgform::api::local::PROJECT_ID;

    let text = s.fails(&["import", "function.nope", &urn]).await;
    assert!(
        text.contains("function.nope is not declared in the manifests of stack `refusals`"),
        "{text}"
    );
    assert!(
        text.contains("hint: declare function.nope in the manifests first"),
        "{text}"
    );

    let text = s.fails(&["import", "function.hello", &urn]).await;
    assert!(
        text.contains(&format!("function {urn} not found in project {project}")),
        "{text}"
    );
    assert!(text.contains("error: cannot import"), "{text}");
    assert!(text.contains("hint: check the ID"), "{text}");
    assert!(!s.state_path.exists(), "a refused import writes no state");

    for (id, expected) in [
        (format!("{urn}:v1"), "is a version or alias"),
        (
            urn.replace(":hello", ":other"),
            "is function `other`, but function.hello declares function `hello`",
        ),
        (
            urn.replace(project, "ffffffffffffffffffffffffffffffff"),
            "but the stack deploys to project",
        ),
        ("not a urn!".to_string(), "is not a function URN"),
    ] {
        let text = s.fails(&["import", "function.hello", &id]).await;
        assert!(text.contains(expected), "{id}: {text}");
    }

    let text = s
        .fails(&["import", "workflow.etl", "0f0f0f0f-0000-4000-8000-000000000000"])
        .await;
    assert!(
        text.contains(&format!(
            "workflow 0f0f0f0f-0000-4000-8000-000000000000 not found in project {project}"
        )),
        "{text}"
    );
    let text = s
        .fails(&["import", "dependency.lib", "0f0f0f0f-0000-4000-8000-000000000000"])
        .await;
    assert!(
        text.contains("dependency version 0f0f0f0f-0000-4000-8000-000000000000 not found"),
        "{text}"
    );
    let text = s.fails(&["import", "dependency.lib", "abc/x"]).await;
    assert!(text.contains("`x` is not a version number"), "{text}");
    let text = s.fails(&["import", "function.hello.trigger.nightly", "t-1"]).await;
    assert!(
        text.contains(&format!("function {urn} (the function of trigger t-1) not found")),
        "{text}"
    );

    create_hello(&s).await;
    let nightly = create_trigger(&s, &urn, "nightly").await;
    let text = s.fails(&["import", "function.hello.trigger.nightly", "t-1"]).await;
    assert!(
        text.contains(&format!("trigger t-1 of function {urn} not found in project {project}")),
        "{text}"
    );

    s.ok(&["import", "function.hello", &urn]).await;
    let serial = s.state().serial;
    let text = s.fails(&["import", "function.hello", &urn]).await;
    assert!(
        text.contains(&format!("function.hello is already in state (id {urn})")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "hint: to record another resource under it, first forget this one: `fgform state rm function.hello{}`",
            s.rerun(false)
        )),
        "{text}"
    );

    s.ok(&["import", "function.hello.trigger.nightly", &nightly]).await;
    let text = s.fails(&["import", "function.hello.trigger.hourly", &nightly]).await;
    assert!(
        text.contains(&format!(
            "trigger {nightly} is already in state as function.hello.trigger.nightly"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "`fgform state mv function.hello.trigger.nightly function.hello.trigger.hourly{}`",
            s.rerun(false)
        )),
        "{text}"
    );

    assert_eq!(s.state().serial, serial + 1, "only the successful import saved");
    assert!(
        fgform::state::holder(&s.state_path).is_none(),
        "the lock is released after a refusal"
    );
}

const ALIAS_STACK: &str = r#"
stack: imports
functions:
  hello:
    runtime: Python3.9
    handler: index.handler
    code: ./hello
    versions: { publish: on-change }
    aliases:
      live: { version: latest-published, description: production }
    triggers:
      nightly: { timer: { cron: "0 30 2 * * ?" }, qualifier: live }
"#;

/// An alias is imported by its URN (`…:!live`, or the alias written bare); a version's URN
/// or another alias's is refused with what was expected.
#[tokio::test]
async fn an_alias_is_imported_by_its_urn() {
    let s = TestContext::with_files(&[("stack.yaml", ALIAS_STACK), ("hello/index.py", HANDLER)]).await;
    s.ok(&["apply", "--auto-approve"]).await;
    s.ok(&["state", "rm", "function.hello.alias.live"]).await;
    let urn = s.desired().function_urn("hello");
    let err = s
        .fails(&["import", "function.hello.alias.live", &format!("{urn}:!prod")])
        .await;
    assert!(err.contains("it names alias `prod`, not `live`"), "{err}");
    let err = s.fails(&["import", "function.hello.alias.live", &urn]).await;
    assert!(err.contains("an alias URN ends in `:!live`"), "{err}");
    s.ok(&["import", "function.hello.alias.live", &format!("{urn}:!live")])
        .await;
    let state = s.state();
    let record = &state.resources["function.hello.alias.live"];
    assert_eq!(record.id, format!("{urn}:!live"));
    assert_eq!(record.attributes.get("version"), Some("v1".into()));
    let out = s.on_stack(&["plan", "--detailed-exitcode"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", crate::context::transcript(&out));
    // An alias's trigger is found under the alias, and recorded as the alias's.
    let trigger = s.state().resources["function.hello.trigger.nightly"].id.clone();
    s.ok(&["state", "rm", "function.hello.trigger.nightly"]).await;
    s.ok(&["import", "function.hello.trigger.nightly", &trigger]).await;
    let state = s.state();
    let record = &state.resources["function.hello.trigger.nightly"];
    assert_eq!(record.attributes.get("qualifier"), Some("live".into()));
    let out = s.on_stack(&["plan", "--detailed-exitcode"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", crate::context::transcript(&out));
    // The version record comes back the same way.
    s.ok(&["state", "rm", "function.hello.version"]).await;
    s.ok(&["import", "function.hello.version", &format!("{urn}:v1")]).await;
    let out = s.on_stack(&["plan", "--detailed-exitcode"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", crate::context::transcript(&out));
}
