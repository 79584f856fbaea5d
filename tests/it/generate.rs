//! `fgform generate` end to end, as the acceptance asks: each example applied to an
//! in-process emulator, its state deleted, then `generate --all` from that emulator. The
//! generated stack validates, `plan` on it exits 0 with `--detailed-exitcode`, an edit of the
//! generated manifest plans exactly that change, and no secret value appears anywhere.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::context::{assert_exit, transcript, TestContext};

/// The value `examples/shop`'s `${env:DB_PASSWORD, change-me}` takes in the suite (the
/// variable is scrubbed), and the placeholder variable `generate` names for it.
const SHOP_SECRET: &str = "change-me";
const SHOP_SECRET_VAR: &str = "THUMBNAIL_DB_PASSWORD";

struct Generated {
    ctx: TestContext,
    out: PathBuf,
    state: PathBuf,
    stage: Option<&'static str>,
    transcript: String,
    /// The operations `generate` sent, in order.
    sent: Vec<String>,
}

impl Generated {
    /// `fgform VERB OUT [--stage S] ARGS --endpoint … --state GENERATED-STATE` (`validate`
    /// takes neither of the last two).
    async fn run(&self, verb: &str, args: &[&str]) -> Output {
        let mut cmd = self.ctx.command();
        cmd.arg(verb).arg(&self.out);
        if let Some(stage) = self.stage {
            cmd.args(["--stage", stage]);
        }
        cmd.args(args).env(SHOP_SECRET_VAR, SHOP_SECRET);
        if verb != "validate" {
            cmd.arg("--endpoint")
                .arg(self.ctx.emu.url())
                .arg("--state")
                .arg(&self.state);
        }
        cmd.output().await.unwrap()
    }
}

/// `examples/<example>` applied (in `stage`), its state deleted, then generated into `gen/`.
async fn generated(example: &str, stage: Option<&'static str>, extra: &[&str]) -> Generated {
    let ctx = TestContext::setup().example(example).stage(stage).start().await;
    let mut apply = vec!["apply", "--auto-approve"];
    if let Some(stage) = stage {
        apply.extend(["--stage", stage]);
    }
    ctx.ok(&apply).await;
    std::fs::remove_file(&ctx.state_path).unwrap();
    let out = ctx.root.join("gen");
    let state = ctx.root.join("gen-state.json");
    let seen = ctx.emu.requests().len();
    let result = ctx
        .command()
        .args(["generate", "--out"])
        .arg(&out)
        .args(extra)
        .arg("--endpoint")
        .arg(ctx.emu.url())
        .arg("--state")
        .arg(&state)
        .env(SHOP_SECRET_VAR, SHOP_SECRET)
        .output()
        .await
        .unwrap();
    let transcript = assert_exit(&result, 0);
    let sent = ctx.emu.requests()[seen..]
        .iter()
        .map(|e| e.operation.to_string())
        .collect();
    Generated {
        ctx,
        out,
        state,
        stage,
        transcript,
        sent,
    }
}

/// Every file under `dir`, as text where it is text.
fn texts(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    for entry in walk(dir) {
        if let Ok(text) = std::fs::read_to_string(&entry) {
            out.push((entry, text));
        }
    }
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// The acceptance of one example.
async fn round_trips(example: &str, stage: Option<&'static str>) {
    let g = generated(example, stage, &["--all"]).await;
    assert!(g.transcript.contains("it should plan no change"), "{}", g.transcript);
    assert!(
        g.transcript.contains("warning: the new state takes over lineage"),
        "{}",
        g.transcript
    );
    assert_exit(&g.run("validate", &[]).await, 0);
    let plan = g.run("plan", &["--detailed-exitcode"]).await;
    assert_eq!(
        plan.status.code(),
        Some(0),
        "{example}: generated stack plans changes: {}",
        transcript(&plan)
    );
    // No secret value anywhere: output, manifests, state.
    for (path, text) in texts(&g.out)
        .into_iter()
        .chain([(g.state.clone(), std::fs::read_to_string(&g.state).unwrap())])
    {
        assert!(!text.contains(SHOP_SECRET), "{} holds the secret", path.display());
    }
    assert!(!g.transcript.contains(SHOP_SECRET), "{}", g.transcript);
    // An edit plans exactly that change.
    let manifest = g.out.join("stack.yaml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let (at, old) = text
        .match_indices("\n    timeout: ")
        .next()
        .map(|(at, m)| {
            let end = text[at + m.len()..].find('\n').unwrap() + at + m.len();
            (at, text[at + m.len()..end].to_string())
        })
        .expect("a function with a timeout");
    let new = old.parse::<u32>().unwrap() + 7;
    let edited = format!(
        "{}\n    timeout: {new}{}",
        &text[..at],
        &text[at + "\n    timeout: ".len() + old.len()..]
    );
    std::fs::write(&manifest, edited).unwrap();
    let plan = g.run("plan", &["--json"]).await;
    let json: Value = serde_json::from_slice(&plan.stdout).unwrap_or_else(|_| panic!("{}", transcript(&plan)));
    let changes = json["resource_changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{example}: {json:#}");
    assert_eq!(
        changes[0]["change"]["actions"],
        serde_json::json!(["update"]),
        "{json:#}"
    );
    assert_eq!(
        changes[0]["change"]["changed_attributes"],
        serde_json::json!(["timeout"]),
        "{json:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_quickstart_example_round_trips() {
    round_trips("quickstart", None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_shop_example_round_trips() {
    round_trips("shop", None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_staged_example_round_trips_in_its_stage() {
    round_trips("staged", Some("dev")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_canary_example_round_trips() {
    round_trips("canary", None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_shop_stack_comes_out_with_references_packages_and_placeholders() {
    let g = generated("shop", None, &["--all"]).await;
    let manifest = std::fs::read_to_string(g.out.join("stack.yaml")).unwrap();
    insta::assert_snapshot!("generated_shop", manifest);
    for file in [
        "functions/thumbnail/index.py",
        "functions/orders/index.js",
        "deps/pillow.zip",
    ] {
        assert!(g.out.join(file).is_file(), "{file} missing");
    }
    assert!(g.transcript.contains(SHOP_SECRET_VAR), "{}", g.transcript);
    // GETs only, each once: seven per function, six for the project. The state is recorded
    // from these reads, not read again.
    let mut counts = std::collections::BTreeMap::new();
    for op in &g.sent {
        *counts.entry(op.as_str()).or_insert(0) += 1;
    }
    let per_function = [
        "ExportFunction",
        "ShowFunctionAsyncInvokeConfig",
        "ListFunctionTags",
        "ListFunctionTriggers",
        "ListFunctionVersions",
        "ListVersionAliases",
        "ShowFunctionConfig",
    ];
    let mut want: std::collections::BTreeMap<&str, i32> = per_function.iter().map(|op| (*op, 4)).collect();
    for op in [
        "ListDependencies",
        "ListDependencyVersion",
        "ListFunctions",
        "ListWorkflow",
        "ShowDependencyVersion",
        "ShowWorkFlow",
    ] {
        want.insert(op, 1);
    }
    assert_eq!(counts, want, "{:?}", g.sent);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_selection_generates_only_those_functions_and_refuses_a_missing_one() {
    let g = generated("shop", None, &["--function", "audit", "notify"]).await;
    let manifest = std::fs::read_to_string(g.out.join("stack.yaml")).unwrap();
    assert!(
        manifest.contains("\n  audit:\n") && manifest.contains("\n  notify:\n"),
        "{manifest}"
    );
    assert!(
        !manifest.contains("\n  thumbnail:") && !manifest.contains("workflows:"),
        "{manifest}"
    );
    assert_exit(&g.run("plan", &["--detailed-exitcode"]).await, 0);

    let again = g
        .ctx
        .command()
        .args(["generate", "--function", "nope", "--out"])
        .arg(g.ctx.root.join("other"))
        .arg("--endpoint")
        .arg(g.ctx.emu.url())
        .output()
        .await
        .unwrap();
    let t = assert_exit(&again, 1);
    assert!(t.contains("no function `nope`"), "{t}");
}

#[tokio::test(flavor = "multi_thread")]
async fn another_stacks_functions_are_left_out_and_a_used_folder_or_state_is_refused() {
    let g = generated("shop", None, &["--all"]).await;
    let run = |out: PathBuf, extra: &'static [&'static str], state: PathBuf| {
        let mut cmd = g.ctx.command();
        cmd.args(["generate", "--out"])
            .arg(out)
            .args(extra)
            .arg("--endpoint")
            .arg(g.ctx.emu.url())
            .arg("--state")
            .arg(state);
        async move { cmd.output().await.unwrap() }
    };
    // As another stack: every function is shop's, and so is the workflow calling them.
    let mine_state = g.ctx.root.join("mine.json");
    let out = run(
        g.ctx.root.join("mine"),
        &["--all", "--stack", "mine"],
        mine_state.clone(),
    )
    .await;
    let t = assert_exit(&out, 1);
    for want in [
        "nothing to generate: every match is left out",
        "Left out function `audit`: it is tagged for stack `shop`",
        "Left out workflow `nightly-etl`: it calls",
        "hint: name the stack that owns them",
    ] {
        assert!(t.contains(want), "{want:?} missing: {t}");
    }
    assert!(!mine_state.exists());
    assert!(!g.ctx.root.join("mine/stack.yaml").exists());

    // A folder holding files is refused before any call.
    let seen = g.ctx.emu.requests().len();
    let out = run(g.ctx.dir.clone(), &["--all"], g.ctx.root.join("x.json")).await;
    let t = assert_exit(&out, 1);
    assert!(t.contains("is not empty") && t.contains("hint:"), "{t}");
    assert_eq!(g.ctx.emu.requests().len(), seen, "a refused generate called the API");

    // A state location that holds a state is refused before anything is written, and kept.
    let before = std::fs::read(&g.state).unwrap();
    let out = run(g.ctx.root.join("again"), &["--all"], g.state.clone()).await;
    let t = assert_exit(&out, 1);
    assert!(t.contains("already holds a state") && t.contains("hint:"), "{t}");
    assert_eq!(std::fs::read(&g.state).unwrap(), before);
    assert!(!g.ctx.root.join("again/stack.yaml").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_function_no_state_owns_is_taken_in_and_its_ownership_tag_is_the_one_change() {
    let ctx = TestContext::new().await;
    crate::support::create_function(&ctx.client, "console-made", None).await;
    let out = ctx.root.join("gen");
    let state = ctx.root.join("gen.json");
    let run = |args: &[&str]| {
        let mut cmd = ctx.command();
        cmd.args(args)
            .arg("--endpoint")
            .arg(ctx.emu.url())
            .arg("--state")
            .arg(&state);
        async move { cmd.output().await.unwrap() }
    };
    let t = assert_exit(&run(&["generate", "--all", "--out", out.to_str().unwrap()]).await, 0);
    assert!(t.contains("Generated stack `gen`"), "{t}");
    assert!(
        t.contains("it plans one change per function no state owned (1), their ownership tag"),
        "{t}"
    );
    assert!(!t.contains("takes over lineage"), "{t}");
    let plan = run(&["plan", out.to_str().unwrap(), "--json"]).await;
    let json: Value = serde_json::from_slice(&plan.stdout).unwrap_or_else(|_| panic!("{}", transcript(&plan)));
    let changes = json["resource_changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{json:#}");
    assert_eq!(changes[0]["address"], "function.console-made");
    assert_eq!(
        changes[0]["change"]["changed_attributes"],
        serde_json::json!(["tags"]),
        "{json:#}"
    );
    assert_exit(&run(&["apply", out.to_str().unwrap(), "--auto-approve"]).await, 0);
    assert_exit(&run(&["plan", out.to_str().unwrap(), "--detailed-exitcode"]).await, 0);
}
