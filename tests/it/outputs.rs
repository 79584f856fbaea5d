//! `outputs:` and `fgform output` on stacks applied to the in-process emulator: values only
//! the state knows (trigger and workflow ids, alias URNs, the newest version), the
//! `Outputs:` section of apply, JSON, `--raw`, sensitive outputs, and the errors before an
//! apply has recorded what an output reads.

use std::process::Output;

use crate::context::{assert_exit, scrub_ids, TestContext, HANDLER};

/// Stdout of a command that must exit 0.
#[track_caller]
fn stdout(out: &Output) -> String {
    assert_exit(out, 0);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Stderr of a command that must exit 1, the scratch directory written `[root]` and the
/// emulator's URL `[endpoint]`.
#[track_caller]
fn stderr(s: &TestContext, out: &Output) -> String {
    assert_exit(out, 1);
    String::from_utf8_lossy(&out.stderr)
        .replace(&s.root.display().to_string(), "[root]")
        .replace(&s.emu.url(), "[endpoint]")
}

/// What apply printed from `Apply complete!` on.
fn apply_summary(out: &Output) -> String {
    let text = stdout(out);
    let at = text
        .find("Apply complete!")
        .unwrap_or_else(|| panic!("no summary in {text}"));
    text[at..].to_string()
}

#[tokio::test]
async fn canary_outputs_read_the_alias_version_and_trigger_from_the_state() {
    let s = TestContext::example("canary").await;
    insta::assert_snapshot!("canary_before_apply", stderr(&s, &s.on_stack(&["output"]).await));

    let applied = s.on_stack(&["apply", "--auto-approve"]).await;
    insta::assert_snapshot!("canary_apply", scrub_ids(&apply_summary(&applied)));
    let text = stdout(&s.on_stack(&["output"]).await);
    insta::assert_snapshot!("canary_text", scrub_ids(&text));
    let json = stdout(&s.on_stack(&["output", "--json"]).await);
    insta::assert_snapshot!("canary_json", scrub_ids(&json));

    // The values are the state's: the alias's and the trigger's ids as recorded.
    let state = s.state();
    let alias = &state.resources["function.api.alias.live"].id;
    assert_eq!(stdout(&s.on_stack(&["output", "live_urn", "--raw"]).await), *alias);
    let trigger = &state.resources["function.api.trigger.warm"].id;
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed["warm_trigger_id"]["value"], trigger.as_str());
    assert_eq!(stdout(&s.on_stack(&["output", "live_version"]).await), "\"v1\"\n");
    assert_eq!(
        stdout(&s.on_stack(&["output", "live_version", "--json"]).await),
        "\"v1\"\n"
    );

    // A new version moves the output with it.
    s.write("api/index.py", "def handler(event, context):\n    return 2\n");
    s.ok(&["apply", "--auto-approve", "--no-rollout"]).await;
    assert_eq!(stdout(&s.on_stack(&["output", "live_version", "--raw"]).await), "v2");

    insta::assert_snapshot!("unknown_name", stderr(&s, &s.on_stack(&["output", "live_url"]).await));
}

#[tokio::test]
async fn shop_outputs_wait_for_the_resources_they_read() {
    let s = TestContext::example("shop").await;
    // Only the thumbnail function and its children: the workflow and the dependency are
    // not applied yet.
    let partial = s
        .on_stack(&["apply", "--auto-approve", "--target", "function.thumbnail"])
        .await;
    insta::assert_snapshot!("shop_partial_apply", scrub_ids(&apply_summary(&partial)));
    insta::assert_snapshot!("shop_not_applied", stderr(&s, &s.on_stack(&["output"]).await));
    let trigger = s.state().resources["function.thumbnail.trigger.uploads"].id.clone();
    assert_eq!(
        stdout(&s.on_stack(&["output", "uploads_trigger_id", "--raw"]).await),
        trigger,
        "an output whose resource is applied is known already"
    );

    s.apply().await;
    let text = stdout(&s.on_stack(&["output"]).await);
    insta::assert_snapshot!("shop_text", scrub_ids(&text));
    let workflow = s.state().resources["workflow.nightly-etl"].id.clone();
    assert_eq!(
        stdout(&s.on_stack(&["output", "nightly_etl_id", "--raw"]).await),
        workflow
    );
}

const SENSITIVE: &str = r#"
stack: outs
variables:
  token: { default: t0p-s3cret }
functions:
  hello:
    runtime: Python3.9
    handler: index.handler
    code: ./hello
    environment: { GREETING: hi }
outputs:
  url: "https://example.test/${stack}/${function.hello.urn}"
  token:
    value: ${var.token}
    description: handed to the smoke test
    sensitive: true
"#;

#[tokio::test]
async fn sensitive_outputs_are_hidden_in_listings_and_shown_on_request() {
    let s = TestContext::with_files(&[("stack.yaml", SENSITIVE), ("hello/index.py", HANDLER)]).await;
    let applied = apply_summary(&s.on_stack(&["apply", "--auto-approve"]).await);
    assert!(!applied.contains("t0p-s3cret"), "{applied}");
    insta::assert_snapshot!("sensitive_apply", applied);
    let text = stdout(&s.on_stack(&["output"]).await);
    assert!(!text.contains("t0p-s3cret"), "{text}");
    insta::assert_snapshot!("sensitive_text", text);
    insta::assert_snapshot!("sensitive_json", stdout(&s.on_stack(&["output", "--json"]).await));
    assert_eq!(stdout(&s.on_stack(&["output", "token"]).await), "\"t0p-s3cret\"\n");
    assert_eq!(stdout(&s.on_stack(&["output", "token", "--raw"]).await), "t0p-s3cret");
    // A secret is never an output's value, sensitive or not.
    s.write(
        "stack.yaml",
        &SENSITIVE.replace(
            "GREETING: hi",
            "GREETING: hi }\n    secrets: { API_KEY: \"${var.token}\" ",
        ),
    );
    let err = stderr(&s, &s.on_stack(&["output"]).await);
    assert!(
        err.contains("is the value of secret `API_KEY` of function `hello`"),
        "{err}"
    );
    s.write("stack.yaml", SENSITIVE);
    // `--raw` prints one output.
    let err = stderr(&s, &s.on_stack(&["output", "--raw"]).await);
    assert!(err.contains("`--raw` prints one output's value"), "{err}");
}

#[tokio::test]
async fn a_stack_without_outputs_prints_none_and_apply_adds_no_section() {
    let stack = SENSITIVE.split("outputs:").next().unwrap();
    let s = TestContext::with_files(&[("stack.yaml", stack), ("hello/index.py", HANDLER)]).await;
    let applied = apply_summary(&s.on_stack(&["apply", "--auto-approve"]).await);
    assert!(!applied.contains("Outputs:"), "{applied}");
    let out = s.on_stack(&["output"]).await;
    assert_eq!(stdout(&out), "");
    assert!(String::from_utf8_lossy(&out.stderr).contains("No outputs"));
    assert_eq!(stdout(&s.on_stack(&["output", "--json"]).await), "{}\n");
}
