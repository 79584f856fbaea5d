//! The reconciler end to end against an in-process emulator: every example converges,
//! re-plans to no changes and destroys to nothing; focused scenarios check the plan and
//! the exact write calls (insta snapshots).

use fgform::apply;
use fgform::emulator::ChaosRule;
use fgform::plan::{self, render};
use fgform::state;

use crate::context::TestContext;
use crate::support::scrub;

mod regen_plan_fixtures;

/// A context on `examples/<example>` in `stage`, its emulator running `chaos`.
async fn on_example(example: &str, stage: Option<&str>, chaos: Vec<ChaosRule>) -> TestContext {
    TestContext::setup()
        .example(example)
        .stage(stage)
        .chaos_rules(chaos)
        .start()
        .await
}

async fn converges(example: &str, stage: Option<&str>) {
    let h = on_example(example, stage, vec![]).await;
    let (plan, outcome) = h.apply_in_process(false).await;
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    assert!(!plan.changes.is_empty());
    let again = h.plan().await;
    assert!(again.is_empty(), "{example}: not converged:\n{}", render::text(&again));
    let (_, outcome) = h.apply_in_process(true).await;
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    assert!(h.state().resources.is_empty());
    assert!(h.client.list_all_functions().await.unwrap().is_empty());
    assert!(h.client.list_all_workflows(None).await.unwrap().is_empty());
}

#[tokio::test]
async fn quickstart_converges_and_destroys() {
    converges("quickstart", None).await;
}

#[tokio::test]
async fn shop_converges_and_destroys() {
    converges("shop", None).await;
}

#[tokio::test]
async fn canary_converges_and_destroys() {
    converges("canary", None).await;
}

#[tokio::test]
async fn staged_converges_and_destroys_in_both_stages() {
    converges("staged", Some("dev")).await;
    converges("staged", Some("prod")).await;
}

#[tokio::test]
async fn create_everything() {
    let h = on_example("shop", None, vec![]).await;
    let plan = h.plan().await;
    insta::assert_snapshot!("shop_create_plan", crate::support::scrub_lineage(&render::text(&plan)));
    insta::assert_json_snapshot!(
        "shop_create_plan_json",
        crate::support::scrub_lineage_json(serde_json::json!(render::json(&plan, "shop")))
    );
    let (_, outcome) = h.apply_in_process(false).await;
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    insta::assert_debug_snapshot!("shop_create_writes", h.writes_since_apply());
}

impl TestContext {
    /// Removes function `notify` from the shop: its manifest, the environment variable
    /// naming its URN, and the workflow step that calls it (which now calls `audit`).
    fn remove_notify(&self) {
        self.edit(
            "functions.yaml",
            "  notify:\n    runtime: Node.js18.15\n    handler: index.handler\n    code: ./functions/notify\n    log: { group_name: shop, stream_name: notify }\n",
            "",
        );
        self.edit(
            "functions.yaml",
            "    environment:\n      NOTIFY_URN: ${function.notify.urn}\n",
            "",
        );
        self.edit("workflows.yaml", "function: notify", "function: audit");
    }

    fn writes_since_apply(&self) -> Vec<String> {
        self.new_writes()
    }

    /// Applies the change, checks it converged, and returns the plan text, the plan's JSON with run-specific values
    /// (ids, timestamps, image names replaced, ready for a snapshot) and the writes made.
    async fn step_with_json(&self) -> (String, serde_json::Value, Vec<String>) {
        let (plan, outcome) = self.apply_in_process(false).await;
        assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
        let writes = self.new_writes();
        let again = self.plan().await;
        assert!(again.is_empty(), "not converged:\n{}", render::text(&again));
        let json = scrub(render::json(&plan, &self.desired().stack));
        (render::text(&plan), json, writes)
    }
}

#[tokio::test]
async fn memory_only_is_one_config_put() {
    let h = applied("quickstart").await;
    h.edit("stack.yaml", "memory: 128", "memory: 256");
    let (text, json, writes) = h.step_with_json().await;
    insta::assert_json_snapshot!(
        "memory_plan_json",
        crate::support::scrub_lineage_json(serde_json::json!(json))
    );
    insta::assert_snapshot!("memory_plan", crate::support::scrub_lineage(&text));
    assert_eq!(writes, ["UpdateFunctionConfig 200"]);
}

/// Versions and aliases without a rollout (rollouts run in `rollout.rs`): a code change
/// publishes v2 and moves the alias in place; pinning the alias moves it back; weights split
/// it; each is one call, and each converges.
#[tokio::test]
async fn canary_publish_alias_move_and_weight_change() {
    let h = applied("canary").await;
    let created = h.state();
    assert_eq!(
        created.resources["function.api.version"].attributes.get("version"),
        Some("v1".into())
    );
    // The timer and the async settings are the alias's, not latest's.
    let urn = created.resources["function.api"].id.clone();
    let live = format!("{urn}:!live");
    assert_eq!(h.client.list_triggers(&live).await.unwrap().len(), 1);
    assert!(h.client.list_triggers(&urn).await.unwrap().is_empty());
    let config = h.client.show_async_config(&live).await.unwrap().unwrap();
    assert_eq!(config.max_async_retry_attempts, Some(1));
    assert!(h.client.show_async_config(&urn).await.unwrap().is_none());
    h.edit(
        "stack.yaml",
        "    rollout:\n      alias: live\n      steps: [10, 50, 100]\n      interval: 5m\n      max_error_rate: 1%\n      min_invocations: 20\n",
        "",
    );
    let file = h.dir.join("api/index.py");
    let mut code = std::fs::read_to_string(&file).unwrap();
    code.push_str("\n# changed\n");
    std::fs::write(&file, code).unwrap();
    let (text, _, writes) = h.step_with_json().await;
    insta::assert_snapshot!("canary_publish_plan", crate::support::scrub_lineage(&text));
    insta::assert_debug_snapshot!("canary_publish_writes", writes);

    h.edit("stack.yaml", "version: latest-published", "version: v1");
    let (text, _, writes) = h.step_with_json().await;
    insta::assert_snapshot!("canary_alias_move_plan", crate::support::scrub_lineage(&text));
    insta::assert_debug_snapshot!("canary_alias_move_writes", writes);

    h.edit("stack.yaml", "version: v1", "version: v1\n        weights: { v2: 25 }");
    let (text, _, writes) = h.step_with_json().await;
    insta::assert_snapshot!("canary_alias_weights_plan", crate::support::scrub_lineage(&text));
    insta::assert_debug_snapshot!("canary_alias_weights_writes", writes);
    let alias = h
        .client
        .show_alias(&h.state().resources["function.api"].id, "live")
        .await
        .unwrap();
    assert_eq!(alias.version, "v1");
    assert_eq!(alias.additional_version_weights.unwrap()["v2"], 25);
}

/// A publish that fails after the function's update is made by the next plan, though the
/// function no longer differs: the version record keeps what the last version froze.
#[tokio::test]
async fn a_publish_lost_after_the_update_is_made_by_the_next_apply() {
    let h = applied("canary").await;
    h.edit(
        "stack.yaml",
        "    rollout:\n      alias: live\n      steps: [10, 50, 100]\n      interval: 5m\n      max_error_rate: 1%\n      min_invocations: 20\n",
        "",
    );
    // Instances are frozen in a version but not compared with it (list items may lack
    // them): only the version record's fingerprint sees the lost publish.
    h.edit("stack.yaml", "timeout: 10", "timeout: 10\n    max_instances: 5");
    let chaos = format!("{}/_emulator/chaos", h.emu.url());
    let r = reqwest::Client::new()
        .post(&chaos)
        .header("content-type", "application/json")
        .body(r#"{"spec": "status=400,op=CreateFunctionVersion,times=1"}"#)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let (_, outcome) = h.apply_in_process(false).await;
    assert_eq!(outcome.errors.len(), 1, "{:?}", outcome.errors);
    assert_eq!(
        h.new_writes(),
        ["UpdateFunctionConfig 200", "CreateFunctionVersion 400"]
    );
    let plan = h.plan().await;
    let addresses: Vec<String> = plan.changes.iter().map(|c| c.address.to_string()).collect();
    assert_eq!(
        addresses,
        ["function.api.version", "function.api.alias.live"],
        "{}",
        render::text(&plan)
    );
    let (_, outcome) = h.apply_in_process(false).await;
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    assert_eq!(h.new_writes(), ["CreateFunctionVersion 200", "UpdateVersionAlias 200"]);
    assert!(h.plan().await.is_empty());
}

#[tokio::test]
async fn code_only_is_one_code_put_decided_by_digest() {
    let h = applied("quickstart").await;
    let file = h.dir.join("hello/index.py");
    let mut code = std::fs::read_to_string(&file).unwrap();
    code.push_str("\n# changed\n");
    std::fs::write(&file, code).unwrap();
    let (text, json, writes) = h.step_with_json().await;
    insta::assert_json_snapshot!(
        "code_plan_json",
        crate::support::scrub_lineage_json(serde_json::json!(json))
    );
    assert!(text.contains("~ code"), "{text}");
    assert_eq!(writes, ["UpdateFunctionCode 200"]);
}

#[tokio::test]
async fn renaming_a_timer_deletes_and_creates_it() {
    let h = applied("quickstart").await;
    h.edit("stack.yaml", "every-5m:", "every-five:");
    let (text, json, writes) = h.step_with_json().await;
    insta::assert_json_snapshot!(
        "rename_timer_plan_json",
        crate::support::scrub_lineage_json(serde_json::json!(json))
    );
    insta::assert_snapshot!("rename_timer_plan", crate::support::scrub_lineage(&text));
    assert_eq!(writes, ["DeleteFunctionTrigger 204", "CreateFunctionTrigger 201"]);
}

#[tokio::test]
async fn disabling_a_timer_is_in_place() {
    let h = applied("quickstart").await;
    h.edit("stack.yaml", "payload:", "enabled: false\n        payload:");
    let (text, json, writes) = h.step_with_json().await;
    insta::assert_json_snapshot!(
        "disable_timer_plan_json",
        crate::support::scrub_lineage_json(serde_json::json!(json))
    );
    insta::assert_snapshot!("disable_timer_plan", crate::support::scrub_lineage(&text));
    assert_eq!(writes, ["UpdateTrigger 200"]);
}

#[tokio::test]
async fn a_failure_halfway_keeps_what_succeeded() {
    let rule = ChaosRule::parse("status=400,op=CreateFunctionTrigger,times=1").unwrap();
    let h = on_example("quickstart", None, vec![rule]).await;
    let (_, outcome) = h.apply_in_process(false).await;
    assert_eq!(outcome.errors.len(), 1);
    let message = fgform::error::render(&anyhow::Error::from(outcome.errors.into_iter().next().unwrap()));
    assert!(message.contains("function.hello.trigger.every-5m failed"), "{message}");
    assert!(message.contains("request id"), "{message}");
    assert_eq!(h.state().resources.keys().collect::<Vec<_>>(), ["function.hello"]);
    let rest = h.plan().await;
    insta::assert_snapshot!("failure_rest_plan", crate::support::scrub_lineage(&render::text(&rest)));
    let (_, outcome) = h.apply_in_process(false).await;
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    assert!(h.plan().await.is_empty());
}

/// [`on_example`] on `example` with everything applied.
async fn applied(example: &str) -> TestContext {
    let h = on_example(example, None, vec![]).await;
    let (_, outcome) = h.apply_in_process(false).await;
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    h.new_writes();
    h
}

fn position(writes: &[String], prefix: &str) -> usize {
    writes
        .iter()
        .position(|w| w.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix} in {writes:?}"))
}

#[tokio::test]
async fn bumping_a_dependency_creates_moves_then_deletes_the_old_version() {
    let h = applied("shop").await;
    let old = h.state().resources["dependency.pillow"].id.clone();
    let file = h.dir.join("deps/pillow/python/PIL.py");
    let mut code = std::fs::read_to_string(&file).unwrap();
    code.push_str("\nVERSION = 2\n");
    std::fs::write(&file, code).unwrap();
    let (text, json, writes) = h.step_with_json().await;
    insta::assert_json_snapshot!(
        "dependency_bump_plan_json",
        crate::support::scrub_lineage_json(serde_json::json!(json))
    );
    // Dependency version ids are fresh UUIDs on every run.
    let uuid = regex::Regex::new(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").unwrap();
    insta::assert_snapshot!(
        "dependency_bump_plan",
        crate::support::scrub_lineage(&uuid.replace_all(&text, "[version id]"))
    );
    assert_eq!(
        writes,
        [
            "CreateDependencyVersion 200",
            "UpdateFunctionCode 200",
            "DeleteDependencyVersion 204"
        ],
        "new version, then the function moves to it, then the old one goes"
    );
    let new = h.state().resources["dependency.pillow"].id.clone();
    assert_ne!(old, new);
    let thumbnail = h
        .client
        .show_function_config(&h.state().resources["function.thumbnail"].id)
        .await
        .unwrap();
    assert_eq!(thumbnail.depend_version_list, vec![new]);
}

#[tokio::test]
async fn removing_a_function_a_workflow_uses_updates_the_workflow_first() {
    let h = applied("shop").await;
    h.remove_notify();
    let (text, json, writes) = h.step_with_json().await;
    insta::assert_json_snapshot!(
        "remove_function_used_by_workflow_plan_json",
        crate::support::scrub_lineage_json(serde_json::json!(json))
    );
    insta::assert_snapshot!(
        "remove_function_used_by_workflow_plan",
        crate::support::scrub_lineage(&text)
    );
    let delete = position(&writes, "DeleteFunction ");
    assert!(position(&writes, "UpdateWorkFlow") < delete, "{writes:?}");
    assert!(position(&writes, "UpdateFunctionConfig") < delete, "{writes:?}");
    assert_eq!(
        writes.iter().filter(|w| w.starts_with("DeleteFunction ")).count(),
        1,
        "{writes:?}"
    );
}

#[tokio::test]
async fn changing_a_workflow_state_is_one_update() {
    let h = applied("shop").await;
    h.edit("workflows.yaml", "mode: full", "mode: quick");
    let (text, json, writes) = h.step_with_json().await;
    insta::assert_json_snapshot!(
        "workflow_state_plan_json",
        crate::support::scrub_lineage_json(serde_json::json!(json))
    );
    insta::assert_snapshot!("workflow_state_plan", crate::support::scrub_lineage(&text));
    assert_eq!(writes, ["UpdateWorkFlow 200"]);
}

#[tokio::test]
async fn a_timer_disabled_in_the_manifest_is_created_disabled_in_one_call() {
    let h = on_example("shop", None, vec![]).await;
    let (_, outcome) = h.apply_in_process(false).await;
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    let writes = h.new_writes();
    assert!(!writes.iter().any(|w| w.starts_with("UpdateTrigger")), "{writes:?}");
    let orders = h.state().resources["function.orders"].id.clone();
    let triggers = h.client.list_triggers(&orders).await.unwrap();
    assert_eq!(triggers.len(), 1);
    assert_eq!(triggers[0].trigger_status, "DISABLED");
    assert!(h.plan().await.is_empty());
}

#[tokio::test]
async fn a_trigger_forgotten_by_state_is_adopted_not_duplicated() {
    let h = applied("quickstart").await;
    let mut state = h.state();
    let id = state.resources.remove("function.hello.trigger.every-5m").unwrap().id;
    state::save(&h.state_path, &mut state).unwrap();
    let plan = h.plan().await;
    assert!(plan.changes.is_empty(), "{}", render::text(&plan));
    assert!(render::text(&plan).contains("adopting it into state"));
    let (_, outcome) = h.apply_in_process(false).await;
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    assert!(h.new_writes().is_empty(), "adoption writes nothing");
    assert_eq!(h.state().resources["function.hello.trigger.every-5m"].id, id);
    assert!(h.plan().await.is_empty());
}

/// A create whose answer is lost (the emulator makes the resource, then drops the
/// connection; the client here does not retry) leaves its intent pending; the next run
/// finds the resource by its natural key and records it instead of creating a second one.
#[tokio::test]
async fn a_create_whose_answer_was_lost_is_found_and_recorded_not_repeated() {
    // Each create's answer is dropped after it took effect, and the client's own lookup
    // (which would adopt it at once) fails too, as if the process had died instead.
    for (op, lookup) in [
        ("CreateFunction", "ShowFunctionConfig"),
        ("CreateFunctionTrigger", "ListFunctionTriggers"),
        ("CreateDependencyVersion", "ListDependencies"),
        ("CreateWorkflow", "ShowWorkFlow"),
    ] {
        let rules = vec![
            ChaosRule::parse(&format!("drop,after,op={op},times=1")).unwrap(),
            ChaosRule::parse(&format!("status=503,op={lookup},times=1")).unwrap(),
        ];
        let h = on_example("shop", None, rules).await;
        let (_, outcome) = h.apply_in_process(false).await;
        assert!(!outcome.errors.is_empty(), "{op}: the dropped answer fails the step");
        let mut state = h.state();
        assert_eq!(state.pending.len(), 1, "{op}: one call's outcome is unknown");
        let intent = state.pending.values().next().unwrap().clone();
        let resolved = apply::recover::resolve(&h.client, &state).await.unwrap();
        assert_eq!(resolved.len(), 1);
        let apply::recover::Resolution::Recorded(record) = &resolved[0].resolution else {
            panic!("{op}: not found: {:?}", resolved[0]);
        };
        assert!(!record.id.is_empty());
        assert!(
            resolved[0].to_string().contains("had succeeded; recorded"),
            "{}",
            resolved[0]
        );
        apply::recover::settle(&mut state, &resolved);
        assert!(state.pending.is_empty());
        assert_eq!(state.resources[&intent.address].id, record.id);
        state::save(&h.state_path, &mut state).unwrap();
        // The rest converges without creating the lost resource again.
        let plan = h.plan().await;
        assert!(
            plan.change(&intent.address.parse().unwrap())
                .is_none_or(|c| c.action != plan::Action::Create),
            "{op}: planned to create {} again",
            intent.address
        );
        let (_, outcome) = h.apply_in_process(false).await;
        assert!(outcome.errors.is_empty(), "{op}: {:?}", outcome.errors);
        assert!(h.plan().await.is_empty(), "{op}: not converged");
        let creates = h
            .emu
            .requests()
            .iter()
            .filter(|e| e.operation == op && e.status < 300)
            .count();
        let expected = match op {
            "CreateFunction" => 4,
            "CreateFunctionTrigger" => 3,
            _ => 1,
        };
        assert_eq!(creates, expected, "{op} sent more often than the stack needs");
    }
}

/// A create that never reached the service resolves as not found and is simply planned again.
#[tokio::test]
async fn a_create_that_never_happened_resolves_as_not_found() {
    let rule = ChaosRule::parse("drop,op=CreateWorkflow,times=1").unwrap();
    let h = on_example("shop", None, vec![rule]).await;
    let (_, outcome) = h.apply_in_process(false).await;
    assert!(!outcome.errors.is_empty());
    let state = h.state();
    let resolved = apply::recover::resolve(&h.client, &state).await.unwrap();
    assert_eq!(resolved.len(), 1, "{resolved:?}");
    assert_eq!(resolved[0].resolution, apply::recover::Resolution::NotFound);
}

/// A dependency replace that stopped after the functions moved to the new version still
/// owes the old version's deletion: the next plan schedules it instead of leaking it.
#[tokio::test]
async fn an_old_dependency_version_left_by_an_interrupted_replace_is_deleted_next_time() {
    let rule = ChaosRule::parse("status=500,op=DeleteDependencyVersion,times=1").unwrap();
    let h = on_example("shop", None, vec![rule]).await;
    let (_, outcome) = h.apply_in_process(false).await;
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    let file = h.dir.join("deps/pillow/python/PIL.py");
    let mut code = std::fs::read_to_string(&file).unwrap();
    code.push_str("\nVERSION = 2\n");
    std::fs::write(&file, code).unwrap();
    let (_, outcome) = h.apply_in_process(false).await;
    assert_eq!(outcome.errors.len(), 1, "the old version's delete failed");
    let package = h.client.find_dependency("pillow").await.unwrap().unwrap();
    assert_eq!(
        h.client.list_all_dependency_versions(&package.id).await.unwrap().len(),
        2
    );

    let plan = h.plan().await;
    let text = render::text(&plan);
    let change = plan
        .change(&"dependency.pillow".parse().unwrap())
        .expect("cleanup planned");
    assert_eq!(
        change.calls,
        [fgform::api::Operation::DeleteDependencyVersion],
        "{text}"
    );
    assert!(text.contains("old_version"), "{text}");
    h.new_writes();
    let (_, outcome) = h.apply_in_process(false).await;
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    assert_eq!(h.new_writes(), ["DeleteDependencyVersion 204"]);
    let versions = h.client.list_all_dependency_versions(&package.id).await.unwrap();
    assert_eq!(versions.len(), 1, "no orphaned version");
    assert_eq!(versions[0].id, h.state().resources["dependency.pillow"].id);
    assert!(h.plan().await.is_empty());
}
