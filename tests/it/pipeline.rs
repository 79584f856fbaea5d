//! The binary as pipelines and cron run it: saved plans and their stale checks, the state
//! lock between two applies, Ctrl-C and SIGTERM, SIGKILL at random points, and applying
//! through an API that throttles and fails.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fgform::state;
use rand::{Rng, SeedableRng};

use crate::context::{assert_exit, transcript, TestContext};

/// A context on a copy of `examples/<example>`, its emulator in the example's `region`,
/// running `chaos`, keeping its data on disk when `data`; the test's client retries, as
/// chaos may stay on while it reads.
async fn on_example(example: &str, region: &str, chaos: &[&str], data: bool) -> TestContext {
    let s = TestContext::setup()
        .example(example)
        .chaos(chaos)
        .persistent(data)
        .retrying_client()
        .start()
        .await;
    assert_eq!(
        s.emu.config().region,
        region,
        "the emulator serves the example's region"
    );
    s
}

fn unix_signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

async fn wait_for_writes(stack: &TestContext, at_least: usize, child: &mut tokio::process::Child) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while stack.writes() < at_least {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        assert!(Instant::now() < deadline, "no progress");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    true
}

/// Waits, without sleeping, until the emulator has answered `op` after its first `since`
/// logged requests; `false` if the child ended first.
async fn wait_for_answer(stack: &TestContext, op: &str, since: usize, child: &mut tokio::process::Child) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !stack.emu.requests()[since..].iter().any(|e| e.operation == op) {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        assert!(Instant::now() < deadline, "no {op}");
        tokio::task::yield_now().await;
    }
    true
}

// ---- saved plans ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_plan_applies_exactly_once() {
    let s = on_example("quickstart", "local-1", &[], false).await;
    let plan = s.root.join("q.plan");
    let out = s
        .run_with_state(&["plan", s.dir(), "-out", plan.to_str().unwrap()])
        .await;
    assert_exit(&out, 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains("fgform apply"));
    let writes = s.writes();
    assert_eq!(writes, 0, "plan -out changes nothing");
    // `show FILE` prints the saved plan without planning again; its JSON is plan's JSON.
    let shown = s.run_with_state(&["show", plan.to_str().unwrap()]).await;
    assert_exit(&shown, 0);
    assert!(String::from_utf8_lossy(&shown.stdout).contains("Plan: 2 to add, 0 to change, 0 to destroy."));
    let shown = s.run_with_state(&["show", plan.to_str().unwrap(), "--json"]).await;
    let planned = s.run_with_state(&["plan", s.dir(), "--json"]).await;
    // Equal but for the lineage: each plan made before any state exists invents its own.
    assert_eq!(
        crate::support::scrub_lineage_json(serde_json::from_slice(&shown.stdout).unwrap()),
        crate::support::scrub_lineage_json(serde_json::from_slice(&planned.stdout).unwrap())
    );

    let out = s.run_with_state(&["apply", plan.to_str().unwrap()]).await;
    assert_exit(&out, 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Apply complete! Resources: 2 added"));
    // The plan was made before any state existed: a second apply would create duplicates.
    let writes = s.writes();
    let out = s.run_with_state(&["apply", plan.to_str().unwrap()]).await;
    assert_exit(&out, 1);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the state file was created after the plan was made"),
        "{}",
        transcript(&out)
    );
    assert_eq!(s.writes(), writes, "a refused plan sends nothing");
}

/// `fgform apply … | head -1`, `| grep -q`: the reader goes away before the output ends. The
/// apply must not die of the broken pipe halfway: it finishes, records its state and exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_whose_output_reader_goes_away_still_finishes_and_records() {
    let s = on_example("quickstart", "local-1", &[], false).await;
    let dir = s.dir().to_string();
    let mut child = s
        .command_with_state(&["apply", &dir, "--auto-approve"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let plan = s.run_with_state(&["plan", &dir, "--detailed-exitcode"]).await;
    assert_exit(&plan, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_plan_is_refused_when_the_state_moved() {
    let s = on_example("quickstart", "local-1", &[], false).await;
    assert_exit(&s.run_with_state(&["apply", s.dir(), "--auto-approve"]).await, 0);
    s.edit("stack.yaml", "memory: 128", "memory: 256");
    let plan = s.root.join("q.plan");
    assert_exit(
        &s.run_with_state(&["plan", s.dir(), "-out", plan.to_str().unwrap()])
            .await,
        0,
    );
    // Another operation writes the state in between (here: an apply of the same change).
    assert_exit(&s.run_with_state(&["apply", s.dir(), "--auto-approve"]).await, 0);
    let writes = s.writes();
    let out = s.run_with_state(&["apply", plan.to_str().unwrap()]).await;
    assert_exit(&out, 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the state was changed by another operation after the plan was made"),
        "{err}"
    );
    assert!(err.contains("hint: make a new plan"), "{err}");
    assert_eq!(s.writes(), writes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_plan_is_refused_when_a_resource_it_touches_changed_live() {
    let s = on_example("quickstart", "local-1", &[], false).await;
    assert_exit(&s.run_with_state(&["apply", s.dir(), "--auto-approve"]).await, 0);
    s.edit("stack.yaml", "memory: 128", "memory: 256");
    let plan = s.root.join("q.plan");
    assert_exit(
        &s.run_with_state(&["plan", s.dir(), "-out", plan.to_str().unwrap()])
            .await,
        0,
    );

    // Someone edits the function in the console after the plan was made.
    let urn = fgform::api::urn::FunctionUrn::unqualified("local-1", fgform::api::local::PROJECT_ID, "default", "hello");
    let config = s.client.show_function_config(&urn).await.unwrap();
    let body: fgform::api::types::UpdateFunctionConfigRequest = serde_json::from_value(serde_json::json!({
        "func_name": config.func_name,
        "handler": config.handler,
        "memory_size": config.memory_size,
        "timeout": 99,
        "description": config.description,
        "user_data": config.user_data,
    }))
    .unwrap();
    s.client.update_function_config(&urn, &body).await.unwrap();

    let writes = s.writes();
    let out = s.run_with_state(&["apply", plan.to_str().unwrap()]).await;
    assert_exit(&out, 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("live resources changed since it was made"), "{err}");
    assert!(err.contains("function.hello changed live"), "{err}");
    assert!(err.contains("live attributes changed: timeout"), "{err}");
    assert_eq!(s.writes(), writes, "nothing was sent");

    // Code replaced through the API is named by its digest.
    assert_exit(
        &s.run_with_state(&["plan", s.dir(), "-out", plan.to_str().unwrap()])
            .await,
        0,
    );
    let zip = {
        let mut out = Vec::new();
        let code = tempfile::tempdir().unwrap();
        std::fs::write(
            code.path().join("index.py"),
            "def handler(e, c):\n    return 'patched'\n",
        )
        .unwrap();
        fgform::package::package_dir(code.path(), &[], &mut out).unwrap();
        out
    };
    let body: fgform::api::types::UpdateFunctionCodeRequest = serde_json::from_value(serde_json::json!({
        "code_type": "zip",
        "code_filename": "index.zip",
        "func_code": {"file": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &zip)},
    }))
    .unwrap();
    s.client.update_function_code(&urn, &body).await.unwrap();
    let out = s.run_with_state(&["apply", plan.to_str().unwrap()]).await;
    assert_exit(&out, 1);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("code digest"),
        "{}",
        transcript(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_file_holds_no_plaintext_secret_and_asks_for_withheld_vars() {
    let s = on_example("quickstart", "local-1", &[], false).await;
    let manifest = s.dir.join("stack.yaml");
    let yaml = std::fs::read_to_string(&manifest).unwrap();
    let yaml = yaml.replace(
        "    environment:\n      GREETING: hello\n",
        "    environment:\n      GREETING: hello\n    secrets:\n      TOKEN: ${var.token}\n      API_KEY: ${env:FGFORM_TEST_API_KEY}\n",
    ) + "\nvariables:\n  token: { default: none }\n  greeting: { default: hi }\n";
    std::fs::write(&manifest, yaml).unwrap();
    let plan = s.root.join("q.plan");
    let out = s
        .command_with_state(&[
            "plan",
            s.dir(),
            "-out",
            plan.to_str().unwrap(),
            "--var",
            "token=tok-3f9a1c77e2",
            "--var",
            "greeting=hello-there",
        ])
        .env("FGFORM_TEST_API_KEY", "key-8d2e44b09a")
        .output()
        .await
        .unwrap();
    assert_exit(&out, 0);
    let file = std::fs::read_to_string(&plan).unwrap();
    for secret in ["tok-3f9a1c77e2", "key-8d2e44b09a"] {
        assert!(!file.contains(secret), "the plan file holds `{secret}`");
        assert!(!String::from_utf8_lossy(&out.stdout).contains(secret));
    }
    assert!(file.contains("hello-there"), "an ordinary --var is kept");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&plan).unwrap().permissions().mode() & 0o777, 0o600);
    }

    let out = s
        .command_with_state(&["apply", plan.to_str().unwrap()])
        .env("FGFORM_TEST_API_KEY", "key-8d2e44b09a")
        .output()
        .await
        .unwrap();
    assert_exit(&out, 1);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--var token"),
        "{}",
        transcript(&out)
    );
    // A different secret in the environment is a different input.
    let out = s
        .command_with_state(&["apply", plan.to_str().unwrap(), "--var", "token=tok-3f9a1c77e2"])
        .env("FGFORM_TEST_API_KEY", "another")
        .output()
        .await
        .unwrap();
    assert_exit(&out, 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("changed after the plan was made"));
    let out = s
        .command_with_state(&["apply", plan.to_str().unwrap(), "--var", "token=tok-3f9a1c77e2"])
        .env("FGFORM_TEST_API_KEY", "key-8d2e44b09a")
        .output()
        .await
        .unwrap();
    assert_exit(&out, 0);
    let state = std::fs::read_to_string(&s.state_path).unwrap();
    assert!(!state.contains("tok-3f9a1c77e2") && !state.contains("key-8d2e44b09a"));
}

// ---- the lock ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_apply_fails_naming_the_holder_or_waits_for_it() {
    let s = on_example("quickstart", "local-1", &["latency=400ms,method=POST"], false).await;
    let mut first = s
        .command_with_state(&["apply", s.dir(), "--auto-approve"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = first.id().unwrap();
    let lock = PathBuf::from(format!("{}.lock", s.state_path.display()));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !lock.exists() {
        assert!(Instant::now() < deadline, "the first apply never locked");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let out = s.run_with_state(&["apply", s.dir(), "--auto-approve"]).await;
    assert_exit(&out, 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is locked by"), "{err}");
    assert!(err.contains(&format!("(pid {pid}) running `apply`")), "{err}");
    assert!(err.contains("lock id"), "{err}");

    // With --lock-timeout it waits for the holder, then finds nothing left to do.
    let waited = Instant::now();
    let out = s
        .run_with_state(&["apply", s.dir(), "--auto-approve", "--lock-timeout", "60"])
        .await;
    assert_exit(&out, 0);
    assert!(
        first.try_wait().unwrap().is_some(),
        "the waiter ran only after the holder finished"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("No changes"),
        "{}",
        transcript(&out)
    );
    assert!(waited.elapsed() > Duration::from_millis(100));
    assert!(first.wait().await.unwrap().success());
    assert!(!lock.exists());
}

// ---- interrupts ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_lets_calls_in_flight_finish_saves_and_exits_130() {
    let s = on_example("shop", "cn-north-4", &["latency=150ms,method=POST"], false).await;
    let mut child = s
        .command_with_state(&["apply", s.dir(), "--auto-approve", "--parallelism", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(wait_for_writes(&s, 2, &mut child).await, "apply ended too soon");
    unix_signal(child.id().unwrap(), "INT");
    let out = child.wait_with_output().await.unwrap();
    assert_exit(&out, 130);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no new changes will start"), "{err}");
    let state = state::load(&s.state_path).unwrap().expect("state saved");
    assert!(
        state.pending.is_empty(),
        "a graceful stop confirms every call: {:?}",
        state.pending
    );
    assert!(!state.resources.is_empty(), "what completed is recorded");
    assert!(!PathBuf::from(format!("{}.lock", s.state_path.display())).exists());
    // The next apply finishes the job and then nothing is left.
    assert_exit(&s.run_with_state(&["apply", s.dir(), "--auto-approve"]).await, 0);
    assert_exit(&s.run_with_state(&["plan", s.dir(), "--detailed-exitcode"]).await, 0);
    assert_inventory(&s, &shop_expected()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_ctrl_c_exits_at_once_and_the_next_run_resolves_what_was_in_flight() {
    let s = on_example("shop", "cn-north-4", &["latency=1500ms,method=POST"], false).await;
    let mut child = s
        .command_with_state(&["apply", s.dir(), "--auto-approve", "--parallelism", "4"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The first wave (the dependency version, audit, notify: 1.5 s each) has answered and
    // the second (thumbnail, orders) is in flight when the signals come.
    assert!(wait_for_writes(&s, 3, &mut child).await);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let pid = child.id().unwrap();
    unix_signal(pid, "INT");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let sent = Instant::now();
    unix_signal(pid, "TERM");
    let out = child.wait_with_output().await.unwrap();
    assert_exit(&out, 130);
    assert!(sent.elapsed() < Duration::from_millis(1200), "exited at once");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("warning: second"),
        "{}",
        transcript(&out)
    );
    // Whatever the emulator still completes after the exit is found, not made twice.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let out = s.run_with_state(&["apply", s.dir(), "--auto-approve"]).await;
    assert_exit(&out, 0);
    assert_exit(&s.run_with_state(&["plan", s.dir(), "--detailed-exitcode"]).await, 0);
    assert_inventory(&s, &shop_expected()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_before_any_change_exits_at_once_without_touching_anything() {
    let s = on_example("quickstart", "local-1", &["latency=3s,method=GET"], false).await;
    let child = s
        .command_with_state(&["apply", s.dir(), "--auto-approve"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Refreshing (its first GET takes 3 s): nothing has changed yet.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(s.emu.requests().is_empty(), "still refreshing");
    unix_signal(child.id().unwrap(), "INT");
    let out = child.wait_with_output().await.unwrap();
    assert_exit(&out, 130);
    assert!(String::from_utf8_lossy(&out.stderr).contains("stopped before any change was made"));
    assert_eq!(s.writes(), 0);
    assert!(!s.state_path.exists());
    assert!(!PathBuf::from(format!("{}.lock", s.state_path.display())).exists());
}

// ---- SIGKILL at random points ----

/// What the shop example must leave live: functions with their trigger counts, dependency
/// versions per package, workflows.
struct Expected {
    functions: BTreeMap<&'static str, usize>,
    dependencies: BTreeMap<&'static str, usize>,
    workflows: usize,
}

fn shop_expected() -> Expected {
    Expected {
        functions: [("thumbnail", 2), ("audit", 0), ("orders", 1), ("notify", 0)].into(),
        dependencies: [("pillow", 1)].into(),
        workflows: 1,
    }
}

/// Checks through the emulator's list APIs that exactly the expected resources exist: no
/// duplicate, no orphan, and the state records exactly these ids.
async fn assert_inventory(s: &TestContext, want: &Expected) {
    let functions = s.client.list_all_functions().await.unwrap();
    let names: BTreeMap<String, String> = functions
        .iter()
        .map(|f| (f.func_name.clone(), f.func_urn.trim_end_matches(":latest").to_string()))
        .collect();
    assert_eq!(functions.len(), names.len(), "duplicate function names");
    assert_eq!(
        names.keys().map(String::as_str).collect::<Vec<_>>(),
        want.functions.keys().copied().collect::<Vec<_>>(),
        "live functions"
    );
    let state = state::load(&s.state_path).unwrap().unwrap();
    assert!(state.pending.is_empty(), "unresolved intents: {:?}", state.pending);
    let mut recorded_triggers = 0;
    for (name, count) in &want.functions {
        let urn = &names[*name];
        let triggers = s.client.list_triggers(urn).await.unwrap();
        assert_eq!(triggers.len(), *count, "triggers of {name}: {triggers:?}");
        for t in &triggers {
            assert!(
                state.resources.values().any(|r| r.id == t.trigger_id),
                "trigger {} of {name} is not in state",
                t.trigger_id
            );
            recorded_triggers += 1;
        }
        assert_eq!(state.resources[&format!("function.{name}")].id, *urn);
    }
    let state_triggers = state.resources.values().filter(|r| r.kind == "trigger").count();
    assert_eq!(
        state_triggers, recorded_triggers,
        "state records triggers that do not exist"
    );
    for (name, count) in &want.dependencies {
        let package = s
            .client
            .find_dependency(name)
            .await
            .unwrap()
            .expect("dependency exists");
        let versions = s.client.list_all_dependency_versions(&package.id).await.unwrap();
        assert_eq!(versions.len(), *count, "versions of {name}: orphaned or missing");
        assert_eq!(state.resources[&format!("dependency.{name}")].id, versions[0].id);
    }
    let workflows = s.client.list_all_workflows(None).await.unwrap();
    assert_eq!(workflows.len(), want.workflows, "{workflows:?}");
    for w in &workflows {
        assert!(
            state.resources.values().any(|r| r.id == w.id),
            "workflow {} not in state",
            w.name
        );
    }
}

/// What the state fails to record of live, as drift would see it: async configs live
/// without a record (or recorded and gone), and functions whose recorded code digest or
/// dependency versions are not the live ones.
async fn unrecorded(s: &TestContext) -> Vec<String> {
    let state = state::load(&s.state_path).unwrap().unwrap();
    let mut out = Vec::new();
    for f in s.client.list_all_functions().await.unwrap() {
        let urn = f.func_urn.trim_end_matches(":latest").to_string();
        let address = format!("function.{}", f.func_name);
        let live = s.client.show_function_config(&urn).await.unwrap();
        let Some(record) = state.resources.get(&address) else {
            out.push(format!("{address}: not in state"));
            continue;
        };
        let recorded_code = record.attributes.get("code");
        if recorded_code != Some(serde_json::json!(live.digest)) {
            out.push(format!(
                "{address}: code digest recorded {recorded_code:?}, live {}",
                live.digest
            ));
        }
        let mut versions = live.depend_version_list.clone();
        versions.sort();
        let recorded_versions = record.attributes.get("depend_version_list");
        if recorded_versions != Some(serde_json::json!(versions)) {
            out.push(format!(
                "{address}: dependency versions recorded {recorded_versions:?}, live {versions:?}"
            ));
        }
        let async_address = format!("{address}.async");
        match (
            s.client.show_async_config(&urn).await.unwrap().is_some(),
            state.resources.contains_key(&async_address),
        ) {
            (true, false) => out.push(format!("{async_address}: live, not in state")),
            (false, true) => out.push(format!("{async_address}: in state, not live")),
            _ => {}
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_30_random_points_never_duplicates_or_orphans() {
    let seed: u64 = std::env::var("FGFORM_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("kill test seed: {seed} (FGFORM_KILL_SEED={seed} repeats it)");
    // Any failure, whichever assertion it is, names the seed that repeats it.
    if let Err(failure) = tokio::spawn(kill_rounds(seed)).await {
        let message = match failure.try_into_panic() {
            Ok(payload) => payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default(),
            Err(e) => e.to_string(),
        };
        panic!("kill test seed {seed} (FGFORM_KILL_SEED={seed} repeats it): {message}");
    }
}

/// The rounds of the kill test, drawn from `seed`.
async fn kill_rounds(seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let s = on_example(
        "shop",
        "cn-north-4",
        &[
            "latency=20ms,method=POST",
            "latency=20ms,method=PUT",
            "latency=20ms,method=DELETE",
        ],
        true,
    )
    .await;
    let orders = s.dir.join("functions.yaml");
    let (mut killed, mut points, mut unconfirmed) = (0, Vec::new(), 0);
    // What the state failed to record after each recovery apply, by round.
    let mut missing: Vec<(usize, String)> = Vec::new();
    // Rounds go on until 30 applies were killed mid-run (an apply that finishes before its
    // kill point is still checked, but does not count).
    let mut round = 0;
    while killed < 30 {
        assert!(round < 60, "only {killed} of {round} applies could be killed mid-run");
        // Every third round starts from nothing, so creates are killed too; the others
        // change configuration, a timer and the dependency (a replace: new version, code
        // updates, old version deleted).
        if round % 3 == 0 {
            assert_exit(&s.run_with_state(&["destroy", s.dir(), "--auto-approve"]).await, 0);
        }
        std::fs::write(s.dir.join("deps/pillow/python/VERSION"), format!("{round}\n")).unwrap();
        // thumbnail's code changes too (its code update also moves it to the new version).
        std::fs::write(s.dir.join("functions/thumbnail/ROUND"), format!("{round}\n")).unwrap();
        let yaml = std::fs::read_to_string(&orders).unwrap();
        let yaml = if round % 2 == 0 {
            yaml.replace("enabled: false", "enabled: true")
        } else {
            yaml.replace("enabled: true", "enabled: false")
        };
        std::fs::write(&orders, yaml).unwrap();
        // A third of the rounds keep the stage: thumbnail's code update is then its last
        // call, so nothing after it rewrites its record if the answer is lost.
        let stage = format!("stage=r{}", if round % 3 == 2 { round - 1 } else { round });

        let before = s.writes();
        // Writes a full apply of this round makes (measured: 11 from nothing, 6 to 7 for
        // a change, 4 when the stage stays); the kill lands after a random number of them,
        // inside the next one.
        let full = [11, 6, 4][round % 3];
        let at = before + rng.gen_range(0..full);
        let delay = Duration::from_millis(rng.gen_range(0..25));
        // Every other round the kill lands right after the service answered the call whose
        // answer is easiest to lose unrecorded: a new async config, or a code update.
        let targeted = (round % 2 == 1).then_some(if round % 3 == 0 {
            "UpdateFunctionAsyncInvokeConfig"
        } else {
            "UpdateFunctionCode"
        });
        let logged = s.emu.requests().len();
        let mut child = s
            .command_with_state(&["apply", s.dir(), "--auto-approve", "--var", &stage])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        match targeted {
            Some(op) => {
                wait_for_answer(&s, op, logged, &mut child).await;
            }
            None => {
                if wait_for_writes(&s, at, &mut child).await {
                    tokio::time::sleep(delay).await;
                }
            }
        }
        if child.try_wait().unwrap().is_none() {
            child.start_kill().unwrap();
            killed += 1;
            points.push(s.writes() - before);
        }
        child.wait().await.unwrap();
        // The state file always parses.
        let st = state::load(&s.state_path).unwrap_or_else(|e| panic!("round {round}: state unreadable: {e}"));
        if st.is_some_and(|st| !st.pending.is_empty()) {
            unconfirmed += 1;
        }

        let out = s
            .run_with_state(&["apply", s.dir(), "--auto-approve", "--var", &stage])
            .await;
        assert_exit(&out, 0);
        let out = s
            .run_with_state(&["plan", s.dir(), "--detailed-exitcode", "--var", &stage])
            .await;
        assert!(
            out.status.code() == Some(0),
            "round {round} (seed {seed}): not converged\n{}",
            transcript(&out)
        );
        assert_inventory(&s, &shop_expected()).await;
        missing.extend(unrecorded(&s).await.into_iter().map(|m| (round, m)));
        round += 1;
    }
    eprintln!(
        "killed {killed} of {round} applies; {unconfirmed} kills left calls unconfirmed (resolved by the next apply); \
         writes answered before each kill: {points:?}; records missing or stale after the recovery applies: {}",
        missing.len()
    );
    assert!(
        missing.is_empty(),
        "seed {seed}: {} records missing or stale after recovery applies (round, what): {missing:#?}",
        missing.len()
    );
}

// ---- throttling and failures ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_functions_converge_through_20_percent_429_and_503_with_latency() {
    let s = on_example(
        "quickstart",
        "local-1",
        &["status=429,p=0.1,retry_after=0", "status=503,p=0.1", "latency=5ms"],
        false,
    )
    .await;
    let mut yaml = String::from("stack: many\nfunctions:\n");
    for i in 0..200 {
        yaml.push_str(&format!(
            "  f{i:03}:\n    runtime: Python3.9\n    handler: index.handler\n    code: ./hello\n    memory: {}\n    triggers:\n      tick: {{ timer: {{ rate: 5m }} }}\n",
            [128, 256, 512, 768][i % 4]
        ));
    }
    std::fs::write(s.dir.join("stack.yaml"), yaml).unwrap();
    let started = Instant::now();
    let out = s.run_with_state(&["apply", s.dir(), "--auto-approve"]).await;
    let took = started.elapsed();
    assert_exit(&out, 0);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Apply complete! Resources: 400 added"),
        "{}",
        transcript(&out)
    );
    let note = String::from_utf8_lossy(&out.stderr)
        .lines()
        .find(|l| l.starts_with("note:"))
        .map(str::to_string)
        .unwrap_or_default();
    assert!(
        note.contains("retried"),
        "20% failures must have caused retries: {}",
        transcript(&out)
    );
    let statuses: BTreeMap<u16, usize> = s.emu.requests().iter().fold(BTreeMap::new(), |mut m, e| {
        *m.entry(e.status).or_default() += 1;
        m
    });
    eprintln!("200 functions + 200 timers applied in {took:.1?} through chaos; {note} statuses {statuses:?}");
    let out = s.run_with_state(&["plan", s.dir(), "--detailed-exitcode"]).await;
    assert_exit(&out, 0);
    let live = s.client.list_all_functions().await.unwrap();
    assert_eq!(live.len(), 200, "no duplicates");
}

/// A stack of `n` functions `f000`… with `memory`, each with a timer.
fn many_functions(n: usize, memory: u32) -> String {
    let mut yaml = String::from("stack: many\nfunctions:\n");
    for i in 0..n {
        yaml.push_str(&format!(
            "  f{i:03}:\n    runtime: Python3.9\n    handler: index.handler\n    code: ./hello\n    memory: {memory}\n    triggers:\n      tick: {{ timer: {{ rate: 5m }} }}\n"
        ));
    }
    yaml
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failed_update_stops_nothing_else_and_the_next_plan_shows_only_it() {
    let s = on_example("quickstart", "local-1", &[], false).await;
    std::fs::write(s.dir.join("stack.yaml"), many_functions(30, 128)).unwrap();
    assert_exit(&s.run_with_state(&["apply", s.dir(), "--auto-approve"]).await, 0);
    // f003's config update fails for good; one call at a time, so it fails early.
    s.chaos("status=400,code=FSS.1051,op=UpdateFunctionConfig,path=*f003*")
        .await;
    std::fs::write(s.dir.join("stack.yaml"), many_functions(30, 256)).unwrap();
    let out = s
        .run_with_state(&["apply", s.dir(), "--auto-approve", "--parallelism", "1"])
        .await;
    assert_exit(&out, 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("function.f003 failed"), "{}", transcript(&out));
    assert!(stderr.contains("FSS.1051"), "{}", transcript(&out));
    assert!(stderr.contains("request id"), "{}", transcript(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("29 of 30 changes completed"),
        "{}",
        transcript(&out)
    );
    // Every other update was applied, and recorded.
    let state = state::load(&s.state_path).unwrap().unwrap();
    for i in 0..30 {
        let name = format!("f{i:03}");
        let urn =
            fgform::api::urn::FunctionUrn::unqualified("local-1", fgform::api::local::PROJECT_ID, "default", &name);
        let live = s.client.show_function_config(&urn).await.unwrap().memory_size;
        let recorded = state.resources[&format!("function.{name}")]
            .attributes
            .get("memory_size");
        let want = if i == 3 { 128 } else { 256 };
        assert_eq!(live, want, "{name} live");
        assert_eq!(recorded, Some(serde_json::json!(want)), "{name} recorded");
    }
    // The next plan shows exactly the one change left.
    let out = s.run_with_state(&["plan", s.dir(), "--detailed-exitcode"]).await;
    assert_exit(&out, 2);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Plan: 0 to add, 1 to change, 0 to destroy."),
        "{}",
        transcript(&out)
    );
    assert!(
        stdout.contains("# function.f003 will be updated in-place"),
        "{}",
        transcript(&out)
    );
    s.calm().await;
    assert_exit(&s.run_with_state(&["apply", s.dir(), "--auto-approve"]).await, 0);
    assert_exit(&s.run_with_state(&["plan", s.dir(), "--detailed-exitcode"]).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_dependency_create_skips_only_what_depends_on_it_and_names_it() {
    let s = on_example(
        "shop",
        "cn-north-4",
        &["status=400,code=FSS.1099,op=CreateDependencyVersion"],
        false,
    )
    .await;
    let out = s
        .run_with_state(&["apply", s.dir(), "--auto-approve", "--parallelism", "1"])
        .await;
    assert_exit(&out, 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("dependency.pillow failed"), "{}", transcript(&out));
    // thumbnail uses the version, its triggers and async config wait for thumbnail, and the
    // workflow calls it: none is attempted, each is named.
    for skipped in [
        "function.thumbnail: not attempted: it waits for dependency.pillow, which failed",
        "function.thumbnail.async: not attempted: it waits for dependency.pillow",
        "function.thumbnail.trigger.uploads: not attempted",
        "function.thumbnail.trigger.nightly: not attempted",
        "workflow.nightly-etl: not attempted",
    ] {
        assert!(stderr.contains(skipped), "`{skipped}` missing:\n{}", transcript(&out));
    }
    // Everything independent was created and recorded.
    let state = state::load(&s.state_path).unwrap().unwrap();
    let mut recorded: Vec<&str> = state.resources.keys().map(String::as_str).collect();
    recorded.sort();
    assert_eq!(
        recorded,
        [
            "function.audit",
            "function.notify",
            "function.orders",
            "function.orders.trigger.hourly-report"
        ]
    );
    let live = crate::support::function_names(&s.client).await;
    assert_eq!(live.len(), 3, "{live:?}");
    s.calm().await;
    assert_exit(&s.run_with_state(&["apply", s.dir(), "--auto-approve"]).await, 0);
    assert_inventory(&s, &shop_expected()).await;
}

// ---- calls that took effect with their answers lost ----

fn hello_urn() -> String {
    fgform::api::urn::FunctionUrn::unqualified("local-1", fgform::api::local::PROJECT_ID, "default", "hello")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_config_found_live_as_desired_is_recorded_and_its_removal_plans_a_delete() {
    let s = on_example("quickstart", "local-1", &[], false).await;
    assert_exit(&s.run_with_state(&["apply", s.dir(), "--auto-approve"]).await, 0);
    // The config the manifest is about to ask for is live already (a put whose answer was
    // lost); the state, which manages hello, has no record of it.
    let body: fgform::api::types::AsyncInvokeConfigRequest = serde_json::from_value(
        serde_json::json!({"max_async_event_age_in_seconds": 600, "max_async_retry_attempts": 1}),
    )
    .unwrap();
    s.client.put_async_config(&hello_urn(), &body).await.unwrap();
    s.edit(
        "stack.yaml",
        "    triggers:\n",
        "    async: { max_event_age: 600, max_retries: 1 }\n    triggers:\n",
    );
    let writes = s.writes();
    let out = s.run_with_state(&["apply", s.dir(), "--auto-approve"]).await;
    assert_exit(&out, 0);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("function.hello.async is already live as the manifests ask"),
        "{}",
        transcript(&out)
    );
    assert_eq!(s.writes(), writes, "recorded without an API call");
    let state = state::load(&s.state_path).unwrap().unwrap();
    let record = state
        .resources
        .get("function.hello.async")
        .expect("the async config is recorded");
    assert_eq!(
        record.attributes.get("max_async_retry_attempts"),
        Some(serde_json::json!(1))
    );
    assert_exit(&s.run_with_state(&["plan", s.dir(), "--detailed-exitcode"]).await, 0);
    assert_exit(&s.run_with_state(&["drift", s.dir()]).await, 0);

    // Removing `async:` now deletes it.
    s.edit("stack.yaml", "    async: { max_event_age: 600, max_retries: 1 }\n", "");
    let out = s.run_with_state(&["plan", s.dir(), "--detailed-exitcode"]).await;
    assert_exit(&out, 2);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("# function.hello.async will be destroyed"),
        "{}",
        transcript(&out)
    );
    assert_exit(&s.run_with_state(&["apply", s.dir(), "--auto-approve"]).await, 0);
    assert!(
        s.client.show_async_config(&hello_urn()).await.unwrap().is_none(),
        "deleted live"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_update_whose_answer_was_lost_is_recorded_and_drift_is_clean() {
    let s = on_example("quickstart", "local-1", &[], false).await;
    assert_exit(&s.run_with_state(&["apply", s.dir(), "--auto-approve"]).await, 0);
    s.edit("hello/index.py", "def handler", "# version 2\ndef handler");
    // The new code is stored, then every answer is lost.
    s.chaos("drop,after,op=UpdateFunctionCode").await;
    let out = s.run_with_state(&["apply", s.dir(), "--auto-approve"]).await;
    assert_exit(&out, 1);
    s.calm().await;
    let live = s.client.show_function_config(&hello_urn()).await.unwrap().digest;
    let recorded = |state: &state::State| state.resources["function.hello"].attributes.get("code");
    let before = state::load(&s.state_path).unwrap().unwrap();
    assert_ne!(recorded(&before), Some(serde_json::json!(live)), "the answer was lost");

    let out = s.run_with_state(&["apply", s.dir(), "--auto-approve"]).await;
    assert_exit(&out, 0);
    let after = state::load(&s.state_path).unwrap().unwrap();
    assert_eq!(recorded(&after), Some(serde_json::json!(live)), "{}", transcript(&out));
    let out = s.run_with_state(&["drift", s.dir()]).await;
    assert_exit(&out, 0);
    assert_exit(&s.run_with_state(&["plan", s.dir(), "--detailed-exitcode"]).await, 0);
}

// ---- the cron drift script, for real ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cron_drift_script_posts_real_drift_to_the_webhook() {
    let s = on_example("quickstart", "local-1", &[], false).await;
    assert_exit(&s.run_with_state(&["apply", s.dir(), "--auto-approve"]).await, 0);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/ci/drift-cron.sh");
    let run_script = |webhook: &str| {
        crate::context::scrubbed_command("bash")
            .arg(&script)
            .arg(s.dir())
            .args(["--endpoint", &s.emu.url(), "--state", s.state_path.to_str().unwrap()])
            .env("FGFORM", env!("CARGO_BIN_EXE_fgform"))
            .env("FGFORM_DRIFT_WEBHOOK", webhook)
            .env("HUAWEICLOUD_SDK_AK", fgform::api::local::ACCESS_KEY)
            .env("HUAWEICLOUD_SDK_SK", fgform::api::local::SECRET_KEY)
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    // In sync: quiet, exit 0, nothing posted.
    let hook = super::ci_kit::Webhook::start();
    let out = tokio::task::block_in_place(|| run_script(&hook.url));
    assert_exit(&out, 0);
    assert!(hook.finish().is_none(), "nothing is posted when in sync");

    // The timer is disabled in the console: exit 2 and the report reaches the webhook.
    let urn = fgform::api::urn::FunctionUrn::unqualified("local-1", fgform::api::local::PROJECT_ID, "default", "hello");
    let trigger = s.client.list_triggers(&urn).await.unwrap().remove(0);
    let body: fgform::api::types::UpdateTriggerRequest =
        serde_json::from_value(serde_json::json!({"trigger_status": "DISABLED"})).unwrap();
    s.client
        .update_trigger(&urn, "TIMER", &trigger.trigger_id, &body)
        .await
        .unwrap();
    let hook = super::ci_kit::Webhook::start();
    let out = tokio::task::block_in_place(|| run_script(&hook.url));
    assert_exit(&out, 2);
    let request = hook.finish().expect("the drift report is posted");
    assert_eq!(request.headers.get("x-fgform-event").map(String::as_str), Some("drift"));
    let report: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(report["schema_version"], "1.0");
    assert_eq!(report["summary"]["changed"], 1, "{report:#}");
    assert_eq!(report["changed"][0]["address"], "function.hello.trigger.every-5m");
    assert_eq!(report["changed"][0]["attributes"][0]["path"], "trigger_status");
}
