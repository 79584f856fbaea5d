//! `fgform drift` end to end: an example applied by the real binary to an in-process
//! emulator, changed behind fgform's back through the API, then checked by the real binary
//! (exit codes, the JSON and text reports, the ignore file). Every drift run is also checked
//! to have sent GETs only and to have left the state file byte for byte as it was.

use std::path::Path;
use std::process::Output;

use fgform::api::types::{
    AsyncInvokeConfigRequest, FuncCode, UpdateFunctionCodeRequest, UpdateFunctionConfigRequest, UpdateTriggerRequest,
};
use fgform::state;
use serde_json::{json, Value};

use crate::context::TestContext;
use crate::support::{b64, scrub, sha512_hex, zip_of};

/// `examples/<example>` in a [`TestContext`], applied by `fgform apply`.
async fn applied(example: &str) -> TestContext {
    let stack = TestContext::example(example).await;
    let out = stack.fgform("apply", &["--auto-approve"]).await;
    assert!(
        out.status.success(),
        "apply failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stack
}

impl TestContext {
    /// `fgform VERB DIR ARGS --endpoint … --state …`.
    async fn fgform(&self, verb: &str, args: &[&str]) -> Output {
        let mut all = vec![verb, self.dir()];
        all.extend(args);
        self.run_with_state(&all).await
    }

    /// `fgform drift ARGS`: (exit code, stdout, stderr). Fails the test if drift sent
    /// anything but GETs or touched the state file.
    async fn drift(&self, args: &[&str]) -> (i32, String, String) {
        let seen = self.emu.requests().len();
        let state_before = std::fs::read(&self.state_path).ok();
        let files_before = files(self.state_path.parent().unwrap());
        let out = self.fgform("drift", args).await;
        let requests = self.emu.requests();
        let writes: Vec<String> = requests[seen..]
            .iter()
            .filter(|e| e.method != "GET")
            .map(|e| format!("{} {}", e.method, e.operation))
            .collect();
        let code = out.status.code().expect("exited");
        assert!(writes.is_empty(), "drift sent writes: {writes:?}");
        if code != 1 {
            assert!(requests.len() > seen, "drift reported without reading anything");
        }
        assert_eq!(
            std::fs::read(&self.state_path).ok(),
            state_before,
            "drift changed the state"
        );
        assert_eq!(
            files(self.state_path.parent().unwrap()),
            files_before,
            "drift created files"
        );
        (
            code,
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    }

    /// `fgform drift --json ARGS`: (exit code, report).
    async fn drift_json(&self, args: &[&str]) -> (i32, Value) {
        let mut all = vec!["--json"];
        all.extend(args);
        let (code, stdout, stderr) = self.drift(&all).await;
        let report = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
        (code, report)
    }

    /// The id the state records for `address`.
    fn id(&self, address: &str) -> String {
        state::load(&self.state_path).unwrap().unwrap().resources[address]
            .id
            .clone()
    }

    // ---- changes behind fgform's back, through the API ----

    async fn set_memory(&self, function: &str, memory: i64) {
        let urn = self.id(&format!("function.{function}"));
        let c = self.client.show_function_config(&urn).await.unwrap();
        let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let body = UpdateFunctionConfigRequest {
            func_name: c.func_name.clone(),
            handler: c.handler.clone(),
            memory_size: memory,
            timeout: c.timeout,
            user_data: some(&c.user_data),
            encrypted_user_data: None,
            description: some(&c.description),
            xrole: some(&c.xrole),
            app_xrole: some(&c.app_xrole),
            strategy_config: c.strategy_config.clone(),
            extra: Default::default(),
        };
        self.client.update_function_config(&urn, &body).await.unwrap();
    }

    /// Uploads other code; returns its SHA-512.
    async fn replace_code(&self, function: &str) -> String {
        let zip = zip_of(
            "index.py",
            b"def handler(event, context):\n    return 'patched in the console'\n",
        );
        let body = UpdateFunctionCodeRequest {
            code_type: "zip".into(),
            func_code: FuncCode {
                file: Some(b64(&zip)),
                link: None,
            },
            code_filename: Some("index.zip".into()),
            ..Default::default()
        };
        let urn = self.id(&format!("function.{function}"));
        self.client.update_function_code(&urn, &body).await.unwrap();
        sha512_hex(&zip)
    }

    async fn disable_timer(&self, function: &str, trigger: &str) {
        let urn = self.id(&format!("function.{function}"));
        let id = self.id(&format!("function.{function}.trigger.{trigger}"));
        let body = UpdateTriggerRequest {
            trigger_status: Some("DISABLED".into()),
            event_data: None,
        };
        self.client.update_trigger(&urn, "TIMER", &id, &body).await.unwrap();
    }

    async fn delete_function(&self, function: &str) {
        let urn = self.id(&format!("function.{function}"));
        self.client.delete_function(&urn).await.unwrap();
    }

    /// The ownership tag value this stack's state writes.
    fn owner_tag(&self) -> String {
        state::load(&self.state_path).unwrap().unwrap().owner().tag_value()
    }

    async fn set_async_retries(&self, function: &str, retries: i64) {
        let urn = self.id(&format!("function.{function}"));
        let live = self.client.show_async_config(&urn).await.unwrap().unwrap();
        let body = AsyncInvokeConfigRequest {
            max_async_event_age_in_seconds: live.max_async_event_age_in_seconds,
            max_async_retry_attempts: Some(retries),
            destination_config: live.destination_config,
            enable_async_status_log: live.enable_async_status_log,
            extra: Default::default(),
        };
        self.client.put_async_config(&urn, &body).await.unwrap();
    }

    async fn describe_workflow(&self, workflow: &str, description: &str) {
        let id = self.id(&format!("workflow.{workflow}"));
        let mut definition = self.client.show_workflow(&id).await.unwrap().definition;
        definition.description = Some(description.into());
        self.client.update_workflow(&id, &definition).await.unwrap();
    }
}

/// The names in a directory.
fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `report[section][*].address`.
fn addresses(report: &Value, section: &str) -> Vec<String> {
    report[section]
        .as_array()
        .unwrap_or_else(|| panic!("no {section} in {report:#}"))
        .iter()
        .map(|f| f["address"].as_str().unwrap().to_string())
        .collect()
}

fn summary(changed: usize, deleted: usize, unmanaged: usize, pending: usize, ignored: usize) -> Value {
    let in_sync = changed + deleted + unmanaged + pending == 0;
    json!({"changed": changed, "deleted": deleted, "unmanaged": unmanaged, "pending": pending,
           "ignored": ignored, "in_sync": in_sync})
}

#[tokio::test]
async fn a_clean_apply_is_in_sync_and_says_what_it_checked() {
    let stack = applied("quickstart").await;
    let (code, report) = stack.drift_json(&[]).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["summary"], summary(0, 0, 0, 0, 0));
    assert_eq!(
        report["checked"],
        json!({
            "managed": {"total": 2, "functions": 1, "triggers": 1, "async_configs": 0, "versions": 0, "aliases": 0, "dependencies": 0, "workflows": 0},
            "project": {"functions": 1, "functions_of_other_stacks": 0, "workflows": 0, "dependencies": 0},
        })
    );
    assert_eq!(
        (report["stack"].as_str(), &report["stage"]),
        (Some("quickstart"), &Value::Null)
    );
    let (code, text, _) = stack.drift(&[]).await;
    assert_eq!(code, 0);
    assert_eq!(
        text,
        "Checked 2 managed resources (1 function, 1 trigger) and 1 live function, 0 workflows, 0 dependencies \
         in the project.\nNo drift: live resources match the state and the manifests.\n"
    );
}

#[tokio::test]
async fn memory_changed_through_the_api_is_drift() {
    let stack = applied("quickstart").await;
    stack.set_memory("hello", 256).await;
    let (code, report) = stack.drift_json(&[]).await;
    assert_eq!(code, 2, "{report:#}");
    assert_eq!(report["summary"], summary(1, 0, 0, 0, 0));
    assert_eq!(
        report["changed"],
        json!([{
            "address": "function.hello", "kind": "function", "id": stack.id("function.hello"), "baseline": "state",
            "attributes": [{"path": "memory_size", "recorded": 128, "live": 256}],
        }])
    );
    let (code, text, _) = stack.drift(&[]).await;
    assert_eq!(code, 2);
    assert!(text.contains("  ~ function.hello: memory_size 128 -> 256\n"), "{text}");
    assert!(
        text.ends_with("Drift: 1 changed, 0 deleted, 0 unmanaged, 0 pending; 0 ignored.\n"),
        "{text}"
    );
}

/// `fgform plan` shows what changed outside fgform since the last apply (Terraform's
/// "Objects have changed outside of Terraform"), under the manifest's key names, before the
/// actions that change it back; the JSON plan lists it as `resource_drift`.
#[tokio::test]
async fn plan_shows_memory_changed_outside_fgform_and_plans_it_back() {
    let stack = applied("quickstart").await;
    let out = stack.fgform("plan", &["--detailed-exitcode"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("outside fgform"));

    stack.set_memory("hello", 256).await;
    let out = stack.fgform("plan", &["--detailed-exitcode"]).await;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(2), "{text}");
    let drift = text
        .find("Objects have changed outside fgform:")
        .expect("a drift section");
    let actions = text
        .find("fgform will perform the following actions:")
        .expect("actions");
    assert!(drift < actions, "{text}");
    insta::assert_snapshot!("plan_memory_changed_outside", crate::support::scrub_lineage(&text));

    let out = stack.fgform("plan", &["--json"]).await;
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        plan["resource_drift"],
        json!([{
            "address": "function.hello", "type": "function", "name": "hello",
            "attributes": [{"path": "memory_size", "recorded": 128, "live": 256}],
        }])
    );
    assert_eq!(
        plan["resource_changes"][0]["change"]["changed_attributes"],
        json!(["memory_size"])
    );

    let out = stack.fgform("plan", &["--format", "markdown"]).await;
    let markdown = String::from_utf8_lossy(&out.stdout);
    assert!(
        markdown.contains("**Changed outside fgform** since the last apply (the full plan has the values):\n\n- `function.hello`: `memory`\n"),
        "{markdown}"
    );

    // Applied, the drift is undone and the next plan is clean again.
    let out = stack.fgform("apply", &["--auto-approve"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = stack.fgform("plan", &["--detailed-exitcode"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
}

#[tokio::test]
async fn code_replaced_through_the_api_is_drift_seen_through_the_digest() {
    let stack = applied("quickstart").await;
    let recorded = state::load(&stack.state_path).unwrap().unwrap().resources["function.hello"]
        .attributes
        .get("code")
        .unwrap();
    let digest = stack.replace_code("hello").await;
    let (code, report) = stack.drift_json(&[]).await;
    assert_eq!(code, 2, "{report:#}");
    assert_eq!(addresses(&report, "changed"), ["function.hello"]);
    assert_eq!(
        report["changed"][0]["attributes"],
        json!([{"path": "code", "recorded": recorded, "live": digest}])
    );
}

#[tokio::test]
async fn a_timer_disabled_through_the_api_is_drift() {
    let stack = applied("quickstart").await;
    stack.disable_timer("hello", "every-5m").await;
    let (code, report) = stack.drift_json(&[]).await;
    assert_eq!(code, 2, "{report:#}");
    assert_eq!(report["summary"], summary(1, 0, 0, 0, 0));
    let changed = &report["changed"][0];
    assert_eq!(changed["address"], "function.hello.trigger.every-5m");
    assert_eq!(changed["kind"], "trigger");
    assert_eq!(changed["id"], stack.id("function.hello.trigger.every-5m"));
    assert_eq!(
        changed["attributes"],
        json!([{"path": "trigger_status", "recorded": "ACTIVE", "live": "DISABLED"}])
    );
}

#[tokio::test]
async fn a_function_deleted_through_the_api_is_reported_deleted_with_its_trigger() {
    let stack = applied("quickstart").await;
    stack.delete_function("hello").await;
    let (code, report) = stack.drift_json(&[]).await;
    assert_eq!(code, 2, "{report:#}");
    assert_eq!(
        report["deleted"],
        json!([
            {"address": "function.hello", "kind": "function", "id": stack.id("function.hello"), "reason": "not found live"},
            {"address": "function.hello.trigger.every-5m", "kind": "trigger",
             "id": stack.id("function.hello.trigger.every-5m"), "reason": "its function is gone"},
        ])
    );
    // The manifests' re-creations are the deletions seen from the other side, not pending.
    assert_eq!(report["summary"], summary(0, 2, 0, 0, 0));
}

#[tokio::test]
async fn functions_made_outside_fgform_are_unmanaged_unless_another_stack_owns_them() {
    let stack = applied("quickstart").await;
    let manual = stack.create_function("manual", None).await;
    let ours = stack.owner_tag();
    let lost = stack.create_function("lost", Some(&ours)).await;
    let sibling = stack
        .create_function("sibling", Some("quickstart@0f0f0f0f-0000-4000-8000-000000000000"))
        .await;
    stack
        .create_function("theirs", Some("billing@0f0f0f0f-0000-4000-8000-000000000001"))
        .await;
    let (code, report) = stack.drift_json(&[]).await;
    assert_eq!(code, 2, "{report:#}");
    assert_eq!(
        report["unmanaged"],
        json!([
            {"address": "function.lost", "kind": "function", "name": "lost", "id": lost,
             "reason": "tagged for this state but not in it"},
            {"address": "function.manual", "kind": "function", "name": "manual", "id": manual,
             "reason": "no `fgform-stack` tag"},
            {"address": "function.sibling", "kind": "function", "name": "sibling", "id": sibling,
             "reason": "tagged for stack `quickstart`, state lineage 0f0f0f0f-0000-4000-8000-000000000000"},
        ])
    );
    assert_eq!(report["summary"], summary(0, 0, 3, 0, 0));
    assert_eq!(
        report["checked"]["project"],
        json!({"functions": 5, "functions_of_other_stacks": 1, "workflows": 0, "dependencies": 0})
    );
}

#[tokio::test]
async fn manifest_changes_not_applied_yet_are_pending() {
    let stack = applied("quickstart").await;
    stack.edit("stack.yaml", "memory: 128", "memory: 256");
    let (code, report) = stack.drift_json(&[]).await;
    assert_eq!(code, 2, "{report:#}");
    assert_eq!(report["summary"], summary(0, 0, 0, 1, 0));
    assert_eq!(
        report["pending"],
        json!([{
            "address": "function.hello", "kind": "function", "action": "update",
            "attributes": [{"path": "memory_size", "live": 128, "manifest": 256, "sensitive": false}],
        }])
    );
}

#[tokio::test]
async fn a_resource_adopted_without_attributes_is_compared_with_the_manifests() {
    let stack = applied("quickstart").await;
    let mut recorded = state::load(&stack.state_path).unwrap().unwrap();
    recorded
        .resources
        .get_mut("function.hello.trigger.every-5m")
        .unwrap()
        .attributes = Default::default();
    state::save(&stack.state_path, &mut recorded).unwrap();
    let (code, _) = stack.drift_json(&[]).await;
    assert_eq!(code, 0, "live matches the manifests");
    stack.disable_timer("hello", "every-5m").await;
    let (code, report) = stack.drift_json(&[]).await;
    assert_eq!(code, 2, "{report:#}");
    assert_eq!(report["changed"][0]["baseline"], "manifest");
    assert_eq!(
        report["changed"][0]["attributes"],
        json!([{"path": "trigger_status", "recorded": "ACTIVE", "live": "DISABLED"}])
    );
    assert_eq!(report["summary"], summary(1, 0, 0, 0, 0));
}

/// The shop stack applied, then changed through the API: audit's memory, notify's code,
/// the nightly timer disabled, orders deleted, thumbnail's async retries, the workflow's
/// description; an untagged function and one of another stack created; and a manifest
/// edit (thumbnail's timeout) not applied.
async fn shop_with_drift() -> TestContext {
    let stack = applied("shop").await;
    stack.set_memory("audit", 256).await;
    stack.replace_code("notify").await;
    stack.disable_timer("thumbnail", "nightly").await;
    stack.delete_function("orders").await;
    stack.set_async_retries("thumbnail", 0).await;
    stack.describe_workflow("nightly-etl", "edited in the console").await;
    stack.create_function("manual", None).await;
    stack.create_function("invoices", Some("billing")).await;
    stack.edit("functions.yaml", "timeout: 60", "timeout: 90");
    stack
}

/// Replaces UUIDs (trigger, dependency and workflow ids) in a text report.
fn scrub_text(text: &str) -> String {
    let uuid = regex::Regex::new(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").unwrap();
    uuid.replace_all(text, "[uuid]").into_owned()
}

#[tokio::test]
async fn every_kind_of_drift_in_one_report() {
    let stack = shop_with_drift().await;
    let (code, text, stderr) = stack.drift(&[]).await;
    assert_eq!(code, 2, "{text}\n{stderr}");
    insta::assert_snapshot!("shop_drift_text", scrub_text(&text));
    let (code, mut report) = stack.drift_json(&[]).await;
    assert_eq!(code, 2);
    assert_eq!(report["summary"], summary(5, 2, 1, 1, 0));
    for volatile in ["timestamp", "fgform_version"] {
        assert!(report[volatile].is_string(), "{volatile}");
        report[volatile] = "[redacted]".into();
    }
    insta::assert_json_snapshot!("shop_drift_json", scrub(report));
}

const SHOP_IGNORE: &str = "\
# Known drift in the shop stack.
function.audit:memory_size                 # tuned by hand during INC-42
function.notify:code until 2999-12-31      # hotfix deployed from the console
function.thumbnail.trigger.nightly         # paused while the bucket migrates
function.thumbnail.async:*                 # the SRE team owns retries
workflow.nightly-etl:definition.*          # PR #12 brings the console edit back
function.orders*                           # retired; removal in PR #13
function.manual                            # the data team's sandbox
function.thumbnail:timeout                 # rolls out next week
";

#[tokio::test]
async fn an_ignore_file_silences_each_finding_and_counts_it_per_rule() {
    let stack = shop_with_drift().await;
    stack.write(".fgform-drift-ignore", SHOP_IGNORE);
    let (code, report) = stack.drift_json(&[]).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["summary"], summary(0, 0, 0, 0, 9));
    let matched: Vec<(i64, i64)> = report["ignored"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["line"].as_i64().unwrap(), r["matched"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        matched,
        [(2, 1), (3, 1), (4, 1), (5, 1), (6, 1), (7, 2), (8, 1), (9, 1)]
    );
    assert_eq!(
        report["ignored"][1],
        json!({"rule": "function.notify:code", "line": 3, "reason": "hotfix deployed from the console",
               "expires": "2999-12-31", "matched": 1})
    );
    assert_eq!(report["expired_rules"], json!([]));
    let (code, text, _) = stack.drift(&[]).await;
    assert_eq!(code, 0);
    assert!(text.contains("Ignored: 9 findings ignored by 8 rules\n"), "{text}");
    assert!(
        text.ends_with("No drift: live resources match the state and the manifests.\n"),
        "{text}"
    );
}

#[tokio::test]
async fn an_expired_rule_is_not_applied_and_is_reported() {
    let stack = applied("quickstart").await;
    stack.set_memory("hello", 256).await;
    let rule = |until: &str| format!("# tuning\nfunction.hello:memory_size until {until} # load test\n");
    stack.write(".fgform-drift-ignore", &rule("2999-01-01"));
    let (code, report) = stack.drift_json(&[]).await;
    assert_eq!((code, &report["summary"]), (0, &summary(0, 0, 0, 0, 1)));

    stack.write(".fgform-drift-ignore", &rule("2000-01-01"));
    let (code, report) = stack.drift_json(&[]).await;
    assert_eq!(code, 2, "{report:#}");
    assert_eq!(report["summary"], summary(1, 0, 0, 0, 0));
    assert_eq!(
        report["expired_rules"],
        json!([{"rule": "function.hello:memory_size", "line": 2, "reason": "load test", "expires": "2000-01-01"}])
    );
    assert_eq!(report["ignored"], json!([]));
    let (code, text, _) = stack.drift(&[]).await;
    assert_eq!(code, 2);
    let file = stack.dir.join(".fgform-drift-ignore").display().to_string();
    assert!(
        text.contains(&format!("0 findings ignored by 0 rules (1 rule expired: {file}:2)")),
        "{text}"
    );
}

#[tokio::test]
async fn a_malformed_ignore_file_is_an_error_naming_file_and_line() {
    let stack = applied("quickstart").await;
    stack.set_memory("hello", 256).await;
    stack.write(
        ".fgform-drift-ignore",
        "# rules\nfunction.hello:memory_size # fine\nfunction.hello.trigger.*\n",
    );
    let (code, stdout, stderr) = stack.drift(&[]).await;
    assert_eq!(code, 1, "{stdout}");
    assert_eq!(stdout, "");
    let file = stack.dir.join(".fgform-drift-ignore").display().to_string();
    assert!(
        stderr.starts_with(&format!(
            "error: {file}:3: rule `function.hello.trigger.*` has no reason: every rule ends with `# why it is ignored`\n"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: each rule is `PATTERN [until YYYY-MM-DD] # reason`"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_named_ignore_file_must_exist_and_is_used() {
    let stack = applied("quickstart").await;
    stack.set_memory("hello", 256).await;
    let elsewhere = stack.state_path.with_file_name("drift-rules");
    let named = elsewhere.to_str().unwrap();
    let (code, _, stderr) = stack.drift(&["--ignore-file", named]).await;
    assert_eq!(code, 1);
    assert!(stderr.contains("cannot read the ignore file"), "{stderr}");
    std::fs::write(&elsewhere, "function.hello # managed by hand\n").unwrap();
    let (code, report) = stack.drift_json(&["--ignore-file", named]).await;
    assert_eq!((code, &report["summary"]), (0, &summary(0, 0, 0, 0, 1)));
    assert_eq!(report["ignore_file"], named);
}

#[tokio::test]
async fn drift_without_a_state_file_is_an_error_with_a_hint() {
    let stack = applied("quickstart").await;
    std::fs::remove_file(&stack.state_path).unwrap();
    let out = stack.fgform("drift", &[]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.starts_with("error: no state file at `"), "{stderr}");
    assert!(stderr.contains("hint: nothing has been applied yet"), "{stderr}");
    assert!(!stack.state_path.exists(), "drift created a state file");
}

/// An alias moved or split in the console is drift, named by attribute; `plan` puts it back
/// with one in-place update.
#[tokio::test]
async fn an_alias_changed_in_the_console_is_drift() {
    let stack = applied("canary").await;
    let (code, report) = stack.drift_json(&[]).await;
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["checked"]["managed"]["versions"], 1, "{report:#}");
    assert_eq!(report["checked"]["managed"]["aliases"], 1, "{report:#}");
    // The console: a second version, and `live` sends it a quarter of the traffic.
    let urn = stack.id("function.api");
    stack
        .client
        .publish_version(
            &urn,
            &fgform::api::types::PublishVersionRequest {
                version: Some("hotfix".into()),
                description: None,
                digest: None,
            },
        )
        .await
        .expect_err("nothing changed since v1: the API refuses to publish");
    let live = stack.client.show_alias(&urn, "live").await.unwrap();
    let body = fgform::api::types::AliasRequest {
        name: None,
        version: "latest".into(),
        description: Some(live.description.clone()),
        additional_version_weights: Some(json!({"v1": 25}).as_object().unwrap().clone()),
        additional_version_strategy: None,
    };
    stack.client.update_alias(&urn, "live", &body).await.unwrap();
    let (code, report) = stack.drift_json(&[]).await;
    assert_eq!(code, 2, "{report:#}");
    let changed = report["changed"].as_array().unwrap();
    assert_eq!(changed.len(), 1, "{report:#}");
    assert_eq!(changed[0]["address"], "function.api.alias.live");
    let attributes: Vec<&str> = changed[0]["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["path"].as_str().unwrap())
        .collect();
    assert_eq!(attributes, ["version", "additional_version_weights"], "{report:#}");
    let out = stack.fgform("plan", &["--detailed-exitcode"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("~ function.api.alias.live"), "{text}");
    let out = stack.fgform("apply", &["--auto-approve"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let live = stack.client.show_alias(&urn, "live").await.unwrap();
    assert_eq!(live.version, "v1");
    assert!(live.additional_version_weights.unwrap_or_default().is_empty());
}
