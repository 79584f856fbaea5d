//! Versions, aliases and rollouts end to end (issue 14): the binary applies a stack whose
//! alias follows each newly published version through a rollout, against the in-process
//! emulator. The test is the traffic: at each new step it invokes the alias and moves the
//! emulator's clock past the step's interval; the apply reads the new version's figures
//! from the statistics API and moves on, or rolls back.

use std::time::{Duration, Instant};

use fgform::client::Client;
use serde_json::{json, Value};

use crate::context::{transcript, TestContext};

/// The handler: `ok VERSION`, failing invocations whose `n` is a multiple of `fail_every`
/// (0: never).
fn handler(version: &str, fail_every: u32) -> String {
    format!(
        r#"
def handler(event, context):
    n = event.get("n", 1)
    if {fail_every} and n % {fail_every} == 0:
        raise Exception("bad luck " + str(n))
    return "ok {version}"
"#
    )
}

fn stack(interval: &str, steps: &str) -> String {
    format!(
        r#"stack: canary
variables:
  release: {{ default: none }}
functions:
  api:
    runtime: Python3.9
    handler: index.handler
    code: ./api
    versions: {{ publish: on-change, description: "${{var.release}}" }}
    aliases:
      live: {{ version: latest-published, description: production traffic }}
    rollout:
      alias: live
      steps: {steps}
      interval: {interval}
      max_error_rate: 5%
      min_invocations: 10
"#
    )
}

async fn context(interval: &str, steps: &str) -> TestContext {
    TestContext::setup()
        .files(&[
            ("stack.yaml", &stack(interval, steps)),
            ("api/index.py", &handler("one", 0)),
        ])
        .seed(14)
        .start()
        .await
}

fn write_code(ctx: &TestContext, version: &str, fail_every: u32) {
    std::fs::write(ctx.dir.join("api/index.py"), handler(version, fail_every)).unwrap();
}

fn urn(ctx: &TestContext) -> String {
    format!(
        "urn:fss:{}:{}:function:default:api",
        ctx.emu.config().region,
        ctx.emu.config().project_id
    )
}

/// The live alias `live`: `(version, weights)`.
async fn alias(client: &Client, urn: &str) -> (String, Value) {
    let a = client.show_alias(urn, "live").await.unwrap();
    let weights = a.additional_version_weights.map(Value::Object).unwrap_or(json!({}));
    (a.version, weights)
}

/// A client of the test's emulator without the default 20 requests a second: the traffic.
fn traffic_client(ctx: &TestContext) -> Client {
    fgform::client::ClientBuilder::new()
        .endpoint(ctx.emu.url())
        .region(ctx.emu.config().region.clone())
        .project_id(ctx.emu.config().project_id.clone())
        .credentials(fgform::client::Credentials::AkSk(fgform::client::AkSk::new(
            fgform::api::local::ACCESS_KEY,
            fgform::api::local::SECRET_KEY,
        )))
        .requests_per_second(None)
        .build()
        .unwrap()
}

/// Invokes the alias `n` times (`n` in the event counting from `first`); returns how many
/// failed.
async fn traffic(client: &Client, urn: &str, first: u32, n: u32) -> u32 {
    let target = format!("{urn}:!live");
    let mut failed = 0;
    for i in first..first + n {
        let event = json!({ "n": i }).to_string();
        let out = client
            .invoke(&target, event.as_bytes(), false, Duration::from_secs(10))
            .await
            .unwrap();
        failed += u32::from(out.failed);
    }
    failed
}

async fn advance(ctx: &TestContext, seconds: u64) {
    let url = format!("{}/_emulator/clock/advance?seconds={seconds}", ctx.emu.url());
    let r = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

/// An apply running in the background.
struct Running {
    child: tokio::process::Child,
}

fn start_apply(ctx: &TestContext, extra: &[&str]) -> Running {
    let mut args = vec!["apply", "--auto-approve", "--var", "release=r2"];
    args.extend_from_slice(extra);
    let dir = ctx.dir.display().to_string();
    args.push(&dir);
    let child = ctx
        .command_with_state(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    Running { child }
}

/// Feeds `running` until it ends: whenever the alias shows a step not fed yet, `n`
/// invocations through the alias, then (with `clock`) the emulator's clock moved past the
/// step's interval. Returns the apply's output and the steps fed (the new version's weight).
async fn drive(ctx: &TestContext, running: Running, n: u32, clock: Option<u64>) -> (std::process::Output, Vec<u64>) {
    let urn = urn(ctx);
    let client = traffic_client(ctx);
    let mut child = running.child;
    let mut fed: Vec<(String, Value)> = Vec::new();
    let mut first = 1;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            child.start_kill().unwrap();
            let out = child.wait_with_output().await.unwrap();
            panic!(
                "the apply did not end within 2 minutes (fed {fed:?}, alias now {:?}): {}",
                alias(&ctx.client, &urn).await,
                transcript(&out)
            );
        }
        let (version, weights) = alias(&ctx.client, &urn).await;
        let step = (version, weights.clone());
        if weights.as_object().is_some_and(|w| !w.is_empty()) && !fed.contains(&step) {
            fed.push(step);
            traffic(&client, &urn, first, n).await;
            first += n;
            if let Some(seconds) = clock {
                advance(ctx, seconds).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let out = child.wait_with_output().await.unwrap();
    let weights = fed
        .iter()
        .filter_map(|(_, w)| w.as_object()?.values().next()?.as_u64())
        .collect();
    (out, weights)
}

/// Waits until the state records `running`'s rollout at step 1, then kills it with SIGKILL.
async fn kill_once_step_1_is_recorded(ctx: &TestContext, mut running: Running) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "step 1 was never recorded");
        let state = fgform::state::StateStore::file(&ctx.state_path).load().unwrap();
        let step = state.and_then(|s| {
            s.resources
                .get("function.api.alias.live")
                .and_then(|r| r.private.get("rollout"))
        });
        if step.is_some_and(|p| p["step"] == 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    running.child.start_kill().unwrap();
    running.child.wait().await.unwrap();
}

/// Runs an apply to its end through steps 10% and 50%, each fed 300 invocations and the
/// clock moved past its interval; it must succeed with the alias on `version` alone.
/// Returns the apply's output and its transcript.
async fn rolls_out(ctx: &TestContext, version: &str) -> (std::process::Output, String) {
    let (out, steps) = drive(ctx, start_apply(ctx, &[]), 300, Some(301)).await;
    let t = transcript(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert_eq!(steps, vec![10, 50], "{t}");
    assert_eq!(alias(&ctx.client, &urn(ctx)).await, (version.into(), json!({})), "{t}");
    (out, t)
}

async fn first_apply(ctx: &TestContext) {
    let out = ctx.on_stack(&["apply", "--auto-approve", "--var", "release=r1"]).await;
    let t = transcript(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("function.api.version: created"), "{t}");
    assert!(t.contains("function.api.alias.live: created"), "{t}");
    assert_eq!(alias(&ctx.client, &urn(ctx)).await, ("v1".into(), json!({})));
}

/// A rollout stack whose v1 went out, then v2 moved the alias at once (`--no-rollout`).
async fn v2_without_rollout() -> TestContext {
    let ctx = context("5m", "[10, 50, 100]").await;
    first_apply(&ctx).await;
    write_code(&ctx, "two", 0);
    let out = ctx
        .on_stack(&["apply", "--auto-approve", "--no-rollout", "--var", "release=r2"])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", transcript(&out));
    assert_eq!(alias(&ctx.client, &urn(&ctx)).await, ("v2".into(), json!({})));
    ctx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_version_rolls_out_through_every_step() {
    let ctx = context("5m", "[10, 50, 100]").await;
    first_apply(&ctx).await;
    write_code(&ctx, "two", 0);
    let plan = ctx.on_stack(&["plan", "--var", "release=r2"]).await;
    let t = transcript(&plan);
    assert!(
        t.contains("# rollout v1 → v2: 10% → 50% → 100%, 5m a step, rolled back above 5% errors (at least 10 invocations a step)"),
        "{t}"
    );
    let (out, t) = rolls_out(&ctx, "v2").await;
    for line in [
        "function.api.alias.live: step 1/3: v2 takes 10% of the traffic, judged after 5m",
        "function.api.alias.live: step 1/3 passed: 0 errors in",
        "function.api.alias.live: step 2/3: v2 takes 50% of the traffic",
        "function.api.alias.live: v2 takes all the traffic",
        "function.api.alias.live: updated",
    ] {
        assert!(t.contains(line), "missing {line:?}: {t}");
    }
    // What apply prints during a rollout (the README shows it): with the emulator's routing
    // seeded and the traffic fixed, the figures are the same every run.
    insta::assert_snapshot!("good_rollout_apply", String::from_utf8_lossy(&out.stdout));
    assert_eq!(alias(&ctx.client, &urn(&ctx)).await, ("v2".into(), json!({})));
    // Converged: nothing left to do, and the version carries the release's description.
    let again = ctx
        .on_stack(&["plan", "--detailed-exitcode", "--var", "release=r2"])
        .await;
    assert_eq!(again.status.code(), Some(0), "{}", transcript(&again));
    let versions = ctx.client.list_all_versions(&urn(&ctx)).await.unwrap();
    let v2 = versions.iter().find(|v| v.version == "v2").expect("v2 published");
    assert_eq!(v2.extra.get("version_description").unwrap(), "r2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_version_is_rolled_back_and_the_fix_rolls_out() {
    let ctx = context("5m", "[10, 50, 100]").await;
    first_apply(&ctx).await;
    // v2 fails every other invocation: step 1 sees it and rolls back.
    write_code(&ctx, "two", 2);
    let (out, steps) = drive(&ctx, start_apply(&ctx, &[]), 300, None).await;
    let t = transcript(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert_eq!(steps, vec![10], "{t}");
    assert!(t.contains("rollout of version v2 rolled back to v1: error rate"), "{t}");
    assert!(t.contains("invocations of version v2) is above the 5% allowed"), "{t}");
    assert!(
        t.contains("function.api.alias.live: rolled back: v1 has all the traffic again"),
        "{t}"
    );
    assert_eq!(alias(&ctx.client, &urn(&ctx)).await, ("v1".into(), json!({})));
    let status = ctx.on_stack(&["rollout", "status"]).await;
    let s = transcript(&status);
    assert!(
        s.contains("function.api.alias.live: the last rollout, of v2, was rolled back to v1 at"),
        "{s}"
    );
    // A fix is never blocked by the failed rollout: v3 rolls out from v1.
    write_code(&ctx, "three", 0);
    rolls_out(&ctx, "v3").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_killed_mid_step_resumes_on_the_next_apply() {
    let ctx = context("5m", "[10, 50, 100]").await;
    first_apply(&ctx).await;
    write_code(&ctx, "two", 0);
    kill_once_step_1_is_recorded(&ctx, start_apply(&ctx, &[])).await;
    // The step is recorded before its call: the kill may have come in between.
    let (version, _) = alias(&ctx.client, &urn(&ctx)).await;
    assert_eq!(version, "v1");
    let status = ctx.on_stack(&["rollout", "status"]).await;
    let s = transcript(&status);
    assert!(
        s.contains("function.api.alias.live: rollout v1 → v2 under way, step 1/3: v2 has 10% of the traffic since"),
        "{s}"
    );
    let plan = ctx.on_stack(&["plan", "--var", "release=r2"]).await;
    let t = transcript(&plan);
    assert!(t.contains("; resumes step 1/3 (10%)"), "{t}");
    // The next apply resumes step 1 (no second publish) and finishes the rollout.
    let (_, t) = rolls_out(&ctx, "v2").await;
    assert!(
        t.contains("function.api.alias.live: resuming step 1/3: v2 has 10% of the traffic since"),
        "{t}"
    );
    assert!(!t.contains("function.api.version"), "nothing is published again: {t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_resumed_past_its_deadline_rolls_back() {
    let ctx = context("5m", "[10, 50, 100]").await;
    first_apply(&ctx).await;
    write_code(&ctx, "two", 0);
    let mut running = start_apply(&ctx, &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while alias(&ctx.client, &urn(&ctx)).await.1 == json!({}) {
        assert!(Instant::now() < deadline, "step 1 never began");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    running.child.start_kill().unwrap();
    running.child.wait().await.unwrap();
    // An hour later (interval 5m + deadline 15m passed).
    advance(&ctx, 3600).await;
    let out = ctx.on_stack(&["apply", "--auto-approve", "--var", "release=r2"]).await;
    let t = transcript(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("past the rollout's deadline of 20m"), "{t}");
    assert_eq!(alias(&ctx.client, &urn(&ctx)).await, ("v1".into(), json!({})));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_rollout_promotes_at_once_and_promote_ends_a_rollout_by_hand() {
    let ctx = v2_without_rollout().await;
    // An interrupted rollout of v3, promoted by hand.
    write_code(&ctx, "three", 0);
    kill_once_step_1_is_recorded(&ctx, start_apply(&ctx, &[])).await;
    let out = ctx.on_stack(&["rollout", "promote"]).await;
    let t = transcript(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(
        t.contains("function.api.alias.live: promoted: v3 takes all the traffic"),
        "{t}"
    );
    assert_eq!(alias(&ctx.client, &urn(&ctx)).await, ("v3".into(), json!({})));
    let again = ctx
        .on_stack(&["plan", "--detailed-exitcode", "--var", "release=r2"])
        .await;
    assert_eq!(again.status.code(), Some(0), "{}", transcript(&again));
    let none = ctx.on_stack(&["rollout", "abort"]).await;
    assert_eq!(none.status.code(), Some(1), "{}", transcript(&none));
}

/// The same rollout in real time: 5-second steps, traffic from a loop of invocations while
/// the apply runs, the whole apply well under a minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_in_real_time_finishes_within_a_minute() {
    let ctx = context("5s", "[20, 60, 100]").await;
    first_apply(&ctx).await;
    write_code(&ctx, "two", 0);
    let started = Instant::now();
    let running = start_apply(&ctx, &[]);
    let (client, target) = (traffic_client(&ctx), urn(&ctx));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let load = tokio::spawn(async move {
        let mut n = 1;
        while !flag.load(std::sync::atomic::Ordering::SeqCst) {
            traffic(&client, &target, n, 10).await;
            n += 10;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        n
    });
    let out = running.child.wait_with_output().await.unwrap();
    let took = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let invoked = load.await.unwrap();
    let t = transcript(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(took < Duration::from_secs(60), "took {took:?}: {t}");
    assert!(
        took >= Duration::from_secs(10),
        "two 5s steps cannot take {took:?}: {t}"
    );
    assert!(t.contains("step 2/3 passed"), "{t}");
    assert!(invoked > 20, "the loop invoked {invoked} times");
    assert_eq!(alias(&ctx.client, &urn(&ctx)).await, ("v2".into(), json!({})));
}

/// An alias on `latest-published` of a function nothing publishes cannot be planned: the
/// plan fails before any call, saying why and what to write.
#[tokio::test]
async fn an_alias_with_no_version_to_follow_is_an_error_before_any_call() {
    let ctx = TestContext::with_files(&[
        (
            "stack.yaml",
            "stack: s\nfunctions:\n  api:\n    runtime: Python3.9\n    handler: index.handler\n    code: ./api\n    aliases:\n      live: { version: latest-published }\n",
        ),
        ("api/index.py", &handler("one", 0)),
    ])
    .await;
    let out = ctx.on_stack(&["apply", "--auto-approve"]).await;
    let t = transcript(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("function.api.alias.live: its version is `latest-published`, but function api has no published version and this plan publishes none"),
        "{t}"
    );
    assert!(
        t.contains("hint: set `functions.api.versions: {publish: on-change}`"),
        "{t}"
    );
    assert!(
        ctx.client.list_all_functions().await.unwrap().is_empty(),
        "nothing was created: {t}"
    );
}

/// A rollout the state still records after it ended (its last record lost to a kill) is
/// reported as stale, never resumed, and `rollout abort` clears it without moving the alias.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_rollout_record_is_reported_and_cleared_not_acted_on() {
    let ctx = v2_without_rollout().await;
    let mut state = fgform::state::load(&ctx.state_path).unwrap().unwrap();
    let record = state.resources.get_mut("function.api.alias.live").unwrap();
    record.private.insert(
        "rollout",
        json!({"from": "v1", "to": "v2", "step": 1, "weight": 50, "step_started": 0, "started": 0}),
    );
    fgform::state::save(&ctx.state_path, &mut state).unwrap();
    let status = ctx.on_stack(&["rollout", "status"]).await;
    let s = transcript(&status);
    assert!(
        s.contains("but live shows none under way: it ended after its last record"),
        "{s}"
    );
    let plan = ctx
        .on_stack(&["plan", "--detailed-exitcode", "--var", "release=r2"])
        .await;
    assert_eq!(plan.status.code(), Some(0), "not resumed: {}", transcript(&plan));
    let abort = ctx.on_stack(&["rollout", "abort"]).await;
    let a = transcript(&abort);
    assert_eq!(abort.status.code(), Some(0), "{a}");
    assert!(a.contains("no rollout under way live (it is on v2 alone)"), "{a}");
    assert_eq!(alias(&ctx.client, &urn(&ctx)).await, ("v2".into(), json!({})));
    let state = fgform::state::load(&ctx.state_path).unwrap().unwrap();
    assert!(state.resources["function.api.alias.live"]
        .private
        .get("rollout")
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_json_tells_a_rollouts_steps_as_apply_progress() {
    let ctx = context("5m", "[10, 50, 100]").await;
    first_apply(&ctx).await;
    write_code(&ctx, "two", 0);
    let (out, steps) = drive(&ctx, start_apply(&ctx, &["--json"]), 300, Some(301)).await;
    assert_eq!(out.status.code(), Some(0), "{}", transcript(&out));
    assert_eq!(steps, vec![10, 50]);
    let events = crate::json_output::events(&out.stdout);
    let progress: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "apply_progress")
        .inspect(|e| assert_eq!(e["address"], "function.api.alias.live", "{e}"))
        .map(|e| e["note"].as_str().unwrap())
        .collect();
    assert!(
        progress[0].starts_with("step 1/3: v2 takes 10% of the traffic"),
        "{progress:?}"
    );
    assert_eq!(progress.last(), Some(&"v2 takes all the traffic"), "{progress:?}");
    // Each step's notes come between the alias's start and its completion.
    let at = |kind: &str| {
        events
            .iter()
            .position(|e| e["type"] == kind && e["address"] == "function.api.alias.live")
            .unwrap_or_else(|| panic!("no {kind}: {events:#?}"))
    };
    assert!(at("apply_start") < at("apply_progress") && at("apply_progress") < at("apply_complete"));
}
