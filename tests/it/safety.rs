//! Never touch what is not ours, never report success that did not happen: a state belongs to
//! one stack and stage; ownership tags name the state; nothing declared is skipped silently;
//! hints run as printed. Driven through the real binary from a scratch working directory with
//! relative paths, the way a user types them, so a hint can be run exactly as printed.

use std::path::Path;

use fgform::api::types::Tag;
use fgform::emulator::{self, Config};
use fgform::model::limits::OWNERSHIP_TAG_KEY;
use fgform::model::Address;
use fgform::state;

use crate::context::{assert_exit, TestContext};

const ALPHA: &str = r#"
stack: alpha
functions:
  hello:
    runtime: Python3.9
    handler: index.handler
    code: ./hello
    triggers:
      nightly: { timer: { cron: "0 30 2 * * ?" } }
"#;

/// The command inside the first `` `fgform …` `` of `text` that starts with `prefix`,
/// split into arguments (the test paths hold no spaces or quotes).
fn hinted(text: &str, prefix: &str) -> Vec<String> {
    let start = text
        .find(&format!("`{prefix}"))
        .unwrap_or_else(|| panic!("no `{prefix}…` in:\n{text}"));
    let rest = &text[start + 1..];
    let end = rest.find('`').unwrap();
    let mut args: Vec<String> = rest[..end].split_whitespace().map(str::to_string).collect();
    assert_eq!(args.remove(0), "fgform");
    args
}

fn lineage(path: &Path) -> String {
    state::load(path).unwrap().unwrap().lineage
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_of_another_stack_or_stage_is_refused_by_every_command() {
    let w = TestContext::new().await;
    w.stack("alpha", ALPHA);
    w.stack("beta", &ALPHA.replace("stack: alpha", "stack: beta"));
    assert_exit(&w.run(&["apply", "alpha", "--auto-approve"]).await, 0);
    let before = std::fs::read(w.path("state/alpha.json")).unwrap();
    let writes = w.writes();
    let urn = fgform::api::urn::FunctionUrn::unqualified(
        fgform::api::local::REGION,
        fgform::api::local::PROJECT_ID,
        "default",
        "hello",
    );
    let commands: Vec<Vec<&str>> = vec![
        vec!["plan", "beta"],
        vec!["apply", "beta", "--auto-approve"],
        vec!["destroy", "beta", "--auto-approve"],
        vec!["drift", "beta"],
        vec!["import", "function.hello", &urn, "beta"],
        vec!["state", "list", "beta"],
        vec!["state", "rm", "function.hello", "beta"],
        vec!["state", "mv", "function.hello", "function.hello", "beta"],
    ];
    for args in commands {
        let mut args = args.clone();
        args.extend(["--state", "state/alpha.json"]);
        let t = assert_exit(&w.run(&args).await, 1);
        assert!(
            t.contains("error: the state `state/alpha.json` belongs to stack `alpha` (no stage), not to stack `beta` (no stage)"),
            "{args:?}: {t}"
        );
        assert!(
            t.contains("leave out --state to use `state/beta.json`"),
            "{args:?}: {t}"
        );
    }
    assert_eq!(w.writes(), writes, "nothing was sent");
    assert_eq!(
        std::fs::read(w.path("state/alpha.json")).unwrap(),
        before,
        "alpha's state is untouched"
    );
    assert_eq!(w.functions().await, ["hello"]);

    // A stage is part of the identity too.
    std::fs::write(
        w.path("alpha/stack.prod.yaml"),
        "functions:\n  hello:\n    memory: 256\n",
    )
    .unwrap();
    let t = assert_exit(
        &w.run(&["plan", "alpha", "--stage", "prod", "--state", "state/alpha.json"])
            .await,
        1,
    );
    assert!(
        t.contains("belongs to stack `alpha` (no stage), not to stack `alpha` stage `prod`"),
        "{t}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_state_of_the_same_stack_neither_adopts_nor_destroys_the_first_ones_functions() {
    let w = TestContext::new().await;
    w.stack("alpha", ALPHA);
    assert_exit(&w.run(&["apply", "alpha", "--auto-approve"]).await, 0);
    let first = lineage(&w.path("state/alpha.json"));
    let writes = w.writes();

    // The same stack with a fresh state (a lost state file, a copy elsewhere, a typo'd path).
    for verb in [&["plan", "alpha"][..], &["apply", "alpha", "--auto-approve"]] {
        let mut args = verb.to_vec();
        args.extend(["--state", "other.json"]);
        let t = assert_exit(&w.run(&args).await, 1);
        assert!(
            t.contains(&format!(
                "function.hello (urn:fss:local-1:0123456789abcdef0123456789abcdef:function:default:hello) exists and is \
                 not this state's to manage: it is tagged for another state of this stack: stack `alpha`, state lineage \
                 {first}"
            )),
            "{t}"
        );
        assert!(
            t.contains("1 resource(s) the manifests declare exist live but are not this state's to manage"),
            "{t}"
        );
        assert!(
            !t.contains("No changes. The live resources match the manifests."),
            "{t}"
        );
    }
    assert_eq!(w.writes(), writes, "nothing adopted, nothing sent");
    assert!(!w.path("other.json").exists(), "no state written for a refused apply");
    let t = assert_exit(
        &w.run(&["destroy", "alpha", "--auto-approve", "--state", "other.json"])
            .await,
        0,
    );
    assert!(
        t.contains("Nothing to destroy: there is no state there yet (state `other.json`)."),
        "{t}"
    );
    assert_eq!(w.writes(), writes);
    assert_eq!(w.functions().await, ["hello"], "the first state's function lives on");

    // The first state still plans clean.
    assert_exit(&w.run(&["plan", "alpha", "--detailed-exitcode"]).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_made_outside_fgform_fails_the_plan_and_the_hinted_import_runs_as_printed() {
    let w = TestContext::new().await;
    w.stack("alpha", ALPHA);
    w.create_function("hello", None).await;
    let t = assert_exit(&w.run(&["plan", "alpha"]).await, 1);
    assert!(
        t.contains("it has no `fgform-stack` tag: it was made outside fgform"),
        "{t}"
    );
    // Skipped is not "no changes": neither the function nor its trigger is planned.
    assert!(!t.contains("No changes. The live resources match"), "{t}");
    let import = hinted(&t, "fgform import function.hello ");
    assert!(import.contains(&"alpha".to_string()), "{import:?}");
    let writes = w.writes();
    assert_exit(&w.run_exactly(&import).await, 0);
    assert_eq!(w.writes(), writes, "import changes nothing live");
    // Imported: the plan now puts the state's tag on it and creates the trigger.
    let t = assert_exit(&w.run(&["apply", "alpha", "--auto-approve"]).await, 0);
    assert!(t.contains("Apply complete!"), "{t}");
    assert_exit(&w.run(&["plan", "alpha", "--detailed-exitcode"]).await, 0);

    // A function another stack owns is refused the same way.
    w.stack(
        "other",
        &ALPHA
            .replace("stack: alpha", "stack: other")
            .replace("hello:\n    runtime", "theirs:\n    runtime"),
    );
    w.create_function("theirs", Some("billing@0f0f0f0f-0000-4000-8000-000000000000"))
        .await;
    let t = assert_exit(&w.run(&["plan", "other"]).await, 1);
    assert!(
        t.contains(
            "it is tagged for another stack: stack `billing`, state lineage 0f0f0f0f-0000-4000-8000-000000000000"
        ),
        "{t}"
    );
    assert!(
        t.contains("`fgform state rm function.theirs` against that state"),
        "{t}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_crash_of_this_state_left_is_adopted_and_the_plan_says_so() {
    let w = TestContext::new().await;
    w.stack("alpha", ALPHA);
    assert_exit(&w.run(&["apply", "alpha", "--auto-approve"]).await, 0);
    // As if the records of the function and its trigger had never been written.
    let path = w.path("state/alpha.json");
    let mut s = state::load(&path).unwrap().unwrap();
    s.resources.clear();
    state::save(&path, &mut s).unwrap();

    let t = assert_exit(&w.run(&["plan", "alpha", "--detailed-exitcode"]).await, 2);
    assert!(t.contains("function.hello"), "{t}");
    assert!(
        t.contains("carries this state's ownership tag: adopting it into state"),
        "{t}"
    );
    assert!(
        t.contains("No changes to live resources. 2 resource(s) to record in state."),
        "{t}"
    );
    let writes = w.writes();
    assert_exit(&w.run(&["apply", "alpha", "--auto-approve"]).await, 0);
    assert_eq!(w.writes(), writes, "adoption sends nothing");
    let s = state::load(&path).unwrap().unwrap();
    assert!(s.resources.contains_key(&Address::Function("hello".into()).to_string()));
    assert_exit(&w.run(&["plan", "alpha", "--detailed-exitcode"]).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_function_keeps_its_legacy_tag_until_the_plan_rewrites_it() {
    let w = TestContext::new().await;
    w.stack("alpha", ALPHA);
    assert_exit(&w.run(&["apply", "alpha", "--auto-approve"]).await, 0);
    // A function tagged by an fgform from before the tag named the state, whose state
    // (written by that fgform) recorded no function id either.
    let path = w.path("state/alpha.json");
    let mut s = state::load(&path).unwrap().unwrap();
    let record = s.resources.get_mut("function.hello").unwrap();
    let mut private = record.private.to_map();
    private.remove(state::FUNC_ID);
    record.private = state::Attributes::from_map(&private);
    let urn = record.id.clone();
    state::save(&path, &mut s).unwrap();
    let tag = Tag {
        key: OWNERSHIP_TAG_KEY.into(),
        value: "alpha".into(),
    };
    w.client.add_function_tags(&urn, &[tag]).await.unwrap();
    let t = assert_exit(&w.run(&["plan", "alpha", "--detailed-exitcode"]).await, 2);
    assert!(t.contains("~ tags"), "{t}");
    assert_exit(&w.run(&["apply", "alpha", "--auto-approve"]).await, 0);
    assert_exit(&w.run(&["plan", "alpha", "--detailed-exitcode"]).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_mv_to_an_undeclared_address_is_refused_unless_forced() {
    let w = TestContext::new().await;
    w.stack("alpha", ALPHA);
    assert_exit(&w.run(&["apply", "alpha", "--auto-approve"]).await, 0);
    let before = std::fs::read(w.path("state/alpha.json")).unwrap();
    let t = assert_exit(
        &w.run(&["state", "mv", "function.hello", "function.helo", "alpha"])
            .await,
        1,
    );
    assert!(t.contains("error: the manifests do not declare function.helo"), "{t}");
    assert!(
        t.contains("fgform state mv function.hello function.helo alpha --force"),
        "{t}"
    );
    assert_eq!(std::fs::read(w.path("state/alpha.json")).unwrap(), before);
    assert_exit(
        &w.run(&["state", "mv", "function.hello", "function.helo", "alpha", "--force"])
            .await,
        0,
    );
    let s = state::load(&w.path("state/alpha.json")).unwrap().unwrap();
    assert!(s.resources.contains_key("function.helo"), "{:?}", s.resources.keys());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stale_plan_hint_runs_as_printed() {
    let w = TestContext::new().await;
    w.stack("alpha", ALPHA);
    assert_exit(&w.run(&["plan", "alpha", "-out", "p.plan"]).await, 0);
    std::fs::write(
        w.path("alpha/stack.yaml"),
        ALPHA.replace("code: ./hello", "code: ./hello\n    memory: 256"),
    )
    .unwrap();
    let t = assert_exit(&w.run_exactly(&["apply", "p.plan"]).await, 1);
    let again = hinted(&t, "fgform plan ");
    assert!(again.contains(&"alpha".to_string()), "{again:?}");
    let t = assert_exit(&w.run_exactly(&again).await, 0);
    assert!(t.contains("fgform apply p.plan"), "{t}");
    assert_exit(&w.run_exactly(&["apply", "p.plan"]).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_plan_made_before_any_state_keeps_its_lineage_so_drift_stays_quiet() {
    let w = TestContext::new().await;
    w.stack("alpha", ALPHA);
    assert_exit(&w.run(&["plan", "alpha", "-out", "p.plan"]).await, 0);
    assert_exit(&w.run(&["apply", "p.plan"]).await, 0);
    let t = assert_exit(&w.run(&["drift", "alpha"]).await, 0);
    assert!(!t.contains("fgform-stack"), "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_logs_into_a_file_carry_no_colour_codes() {
    let w = TestContext::new().await;
    w.stack("alpha", ALPHA);
    // Without NO_COLOR: only the missing terminal may turn colour off.
    let mut cmd = w.command();
    cmd.args(["plan", "alpha", "--debug", "--endpoint", &w.emu.url()]);
    let out = cmd
        .env_remove("NO_COLOR")
        .stderr(std::process::Stdio::piped())
        .output()
        .await
        .unwrap();
    let t = assert_exit(&out, 0);
    assert!(t.contains("DEBUG"), "--debug logs: {t}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains('\x1b'), "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_print_without_dot_components() {
    let w = TestContext::new().await;
    w.stack("alpha", &ALPHA.replace("code: ./hello", "code: ./missing"));
    let mut cmd = w.command();
    cmd.arg("validate");
    cmd.current_dir(w.path("alpha"));
    let t = assert_exit(&cmd.output().await.unwrap(), 1);
    assert!(
        t.contains("functions.hello.code: `missing` does not exist\n  --> stack.yaml:"),
        "{t}"
    );
    assert!(!t.contains("./"), "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emulator_serving_another_region_is_refused_before_any_call() {
    let w = TestContext::new().await;
    let cloud = ALPHA.replace(
        "stack: alpha\n",
        "stack: alpha\nprovider:\n  region: cn-north-4\n  project_id: 0123456789abcdef0123456789abcdef\n",
    );
    let cloud = cloud.replace(
        "    code: ./hello\n",
        "    code: ./hello\n    environment:\n      SELF: ${function.hello.urn}\n",
    );
    w.stack("alpha", &cloud);
    let before = w.emu.requests().len();
    let t = assert_exit(&w.run(&["apply", "alpha", "--auto-approve"]).await, 1);
    assert!(
        t.contains("serves region `local-1` and project(s) `0123456789abcdef0123456789abcdef`, but the stack's provider names region `cn-north-4`"),
        "{t}"
    );
    assert_eq!(w.emu.requests().len(), before, "no API call was made");
    assert!(w.functions().await.is_empty());
    // The hint is a command line fgform accepts.
    let hint = hinted(&t, "fgform emulator ");
    let mut argv = vec!["fgform".to_string()];
    argv.extend(hint);
    let cli = <fgform::cli::Cli as clap::Parser>::try_parse_from(&argv);
    assert!(cli.is_ok(), "{argv:?}: {:?}", cli.err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_credentials_with_an_endpoint_given_do_not_hint_to_give_an_endpoint() {
    let w = TestContext::new().await;
    w.stack(
        "alpha",
        &ALPHA.replace(
            "stack: alpha\n",
            "stack: alpha\nprovider:\n  region: cn-north-4\n  project_id: 0123456789abcdef0123456789abcdef\n",
        ),
    );
    let mut cmd = w.command();
    cmd.args([
        "plan",
        "alpha",
        "--endpoint",
        "https://functiongraph.cn-north-4.example.invalid",
    ]);
    cmd.env_remove("HUAWEICLOUD_SDK_AK").env_remove("HUAWEICLOUD_SDK_SK");
    let t = assert_exit(&cmd.output().await.unwrap(), 1);
    assert!(t.contains("hint: set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK"), "{t}");
    assert!(!t.contains("use --endpoint"), "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_embedded_emulator_directory_hints_the_endpoint_of_its_holder() {
    let w = TestContext::new().await;
    w.stack("alpha", ALPHA);
    // An emulator someone started by hand on the directory the embedded one would use.
    let held = emulator::start(Config {
        data: Some(w.path("state/emulator")),
        ..Config::default()
    })
    .await
    .unwrap();
    let mut cmd = w.command();
    cmd.args(["plan", "alpha"]);
    let t = assert_exit(&cmd.output().await.unwrap(), 1);
    assert!(
        t.contains("error: failed to start the embedded emulator in `state/emulator`"),
        "{t}"
    );
    assert!(
        t.contains(&format!("run this command again with `--endpoint {}`", held.url())),
        "{t}"
    );
    let mut cmd = w.command();
    cmd.args(["plan", "alpha", "--endpoint", &held.url()]);
    assert_exit(&cmd.output().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_way_out_takes_a_function_over_from_another_state_on_purpose() {
    let w = TestContext::new().await;
    w.stack("alpha", ALPHA);
    assert_exit(&w.run(&["apply", "alpha", "--auto-approve"]).await, 0);
    let first = lineage(&w.path("state/alpha.json"));
    // The way out the refusal names: forget it in the first state, import it into the new one.
    let t = assert_exit(&w.run(&["plan", "alpha", "--state", "new.json"]).await, 1);
    let forget = assert_exit(
        &w.run(&["state", "rm", "function.hello", "alpha", "--state", "state/alpha.json"])
            .await,
        0,
    );
    assert!(forget.contains("Removed function.hello"), "{forget}");
    let import = hinted(&t, "fgform import function.hello ");
    let imported = assert_exit(&w.run_exactly(&import).await, 0);
    assert!(
        imported.contains(&format!(
            "note: function.hello was tagged for stack `alpha`, state lineage {first}"
        )),
        "{imported}"
    );
    let t = assert_exit(
        &w.run(&["apply", "alpha", "--state", "new.json", "--auto-approve"])
            .await,
        0,
    );
    assert!(t.contains("~ tags"), "the new state re-tags it: {t}");
    assert_exit(
        &w.run(&["plan", "alpha", "--state", "new.json", "--detailed-exitcode"])
            .await,
        0,
    );
    // The first state, told to manage it again, now finds it is another state's.
    let t = assert_exit(&w.run(&["plan", "alpha"]).await, 1);
    assert!(t.contains("it is tagged for another state of this stack"), "{t}");
    assert_eq!(w.functions().await, ["hello"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_never_deletes_a_function_another_state_took_over() {
    let w = TestContext::new().await;
    w.stack("alpha", ALPHA);
    assert_exit(&w.run(&["apply", "alpha", "--auto-approve"]).await, 0);
    // Another state takes the function over (without the first one forgetting it).
    let t = assert_exit(&w.run(&["plan", "alpha", "--state", "new.json"]).await, 1);
    assert_exit(&w.run_exactly(&hinted(&t, "fgform import function.hello ")).await, 0);
    assert_exit(
        &w.run(&["apply", "alpha", "--state", "new.json", "--auto-approve"])
            .await,
        0,
    );
    let writes = w.writes();

    // The first state's destroy deletes nothing of it …
    let t = assert_exit(&w.run(&["destroy", "alpha", "--auto-approve"]).await, 1);
    assert!(
        t.contains("function.hello (urn:fss:local-1:0123456789abcdef0123456789abcdef:function:default:hello) exists and \
                    is not this state's to manage: this state records it, but it is tagged for another state of this stack"),
        "{t}"
    );
    // … nor does dropping it from the manifests.
    std::fs::write(
        w.path("alpha/stack.yaml"),
        ALPHA.replace("  hello:", "  greet:").replace("nightly:", "hourly:"),
    )
    .unwrap();
    let t = assert_exit(&w.run(&["apply", "alpha", "--auto-approve"]).await, 1);
    assert!(
        t.contains("this state records it, but it is tagged for another state"),
        "{t}"
    );
    assert!(!t.contains("function.hello will be destroyed"), "{t}");
    assert_eq!(w.writes(), writes, "nothing sent");
    assert_eq!(w.functions().await, ["hello"]);

    // The way out runs as printed: forget it here, and the first state plans on without it.
    let forget = hinted(&t, "fgform state rm function.hello");
    assert_eq!(forget, ["state", "rm", "function.hello", "alpha"]);
    assert_exit(&w.run_exactly(&forget).await, 0);
    assert_exit(&w.run(&["apply", "alpha", "--auto-approve"]).await, 0);
    assert_eq!(w.functions().await, ["greet", "hello"]);
    // And the other state, planned from the same (edited) folder, would delete its own
    // `hello` but is refused `greet`, which the first state owns.
    let t = assert_exit(&w.run(&["plan", "alpha", "--state", "new.json"]).await, 1);
    assert!(t.contains("function.greet"), "{t}");
    assert!(t.contains("function.hello will be destroyed"), "{t}");
}
