//! `--json` for pipelines: `validate`, `state list`, `show`, `apply` and `destroy` print JSON
//! only on stdout, every document or line validates against its schema in docs/, and reads
//! as the snapshots show (timestamps, ids and lineages redacted).

use std::path::Path;

use serde_json::Value;

use crate::context::{TestContext, HANDLER};
use crate::state_commands::STACK;
use crate::support::fgform_in;

/// The schema `docs/NAME.schema.json`, itself checked against draft 2020-12, formats asserted.
fn schema(name: &str) -> jsonschema::Validator {
    let path = format!("docs/{name}.schema.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let schema: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(
        schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
        "{path}"
    );
    jsonschema::meta::validate(&schema).unwrap_or_else(|e| panic!("{path} is not a valid schema: {e}"));
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Panics with every way `value` breaks `schema`.
fn assert_valid(schema: &jsonschema::Validator, value: &Value) {
    let errors: Vec<String> = schema
        .iter_errors(value)
        .map(|e| format!("{e} (at `{}`)", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{value:#}\ndoes not match its schema:\n{}",
        errors.join("\n")
    );
}

/// stdout as JSON lines: each parses, has a `type`, an RFC 3339 `@timestamp` and an
/// `@message`, and validates against docs/apply-json.schema.json; the first is `version`.
pub fn events(stdout: &[u8]) -> Vec<Value> {
    let schema = schema("apply-json");
    // The schema is no rubber stamp: an unknown type or a missing field fails it.
    let stamp = "2026-01-01T00:00:00Z";
    let bad = serde_json::json!({"@level": "info", "@message": "m", "@timestamp": stamp, "type": "nope"});
    assert!(!schema.is_valid(&bad));
    let bad = serde_json::json!({"@level": "info", "@message": "m", "@timestamp": stamp, "type": "apply_complete",
        "address": "function.a", "kind": "function", "action": "create"});
    assert!(!schema.is_valid(&bad), "an apply_complete without its id");
    let text = std::str::from_utf8(stdout).unwrap();
    let events: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}")))
        .collect();
    for event in &events {
        assert!(event["type"].is_string(), "no type: {event}");
        assert!(event["@message"].is_string(), "no @message: {event}");
        let at = event["@timestamp"].as_str().unwrap_or_default();
        assert!(
            chrono::DateTime::parse_from_rfc3339(at).is_ok(),
            "not RFC 3339: {event}"
        );
        assert_valid(&schema, event);
    }
    assert_eq!(
        events.first().map(|e| e["type"].clone()),
        Some("version".into()),
        "{text}"
    );
    events
}

/// What differs from run to run replaced: timestamps, ids (URNs and trigger ids), the version.
fn redacted(events: &[Value]) -> Vec<Value> {
    events
        .iter()
        .map(|event| {
            let mut event = event.clone();
            event["@timestamp"] = "[timestamp]".into();
            if event.get("id").is_some_and(|id| !id.is_null()) {
                event["id"] = "[id]".into();
            }
            if event["type"] == "version" {
                event["fgform"] = "[version]".into();
                event["@message"] = "fgform [version]".into();
            }
            event
        })
        .collect()
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

#[test]
fn validate_json_is_one_document_with_every_problem() {
    let here = Path::new(".");
    let (code, stdout, stderr) = fgform_in(here, &["validate", "--json", "tests/fixtures/invalid/stages_invalid"]);
    assert_eq!(code, 1, "{stderr}");
    let document: Value = serde_json::from_str(&stdout).expect("stdout is one JSON document");
    assert_valid(&schema("validate-json"), &document);
    let mut incomplete = document.clone();
    incomplete["diagnostics"][0].as_object_mut().unwrap().remove("hint");
    assert!(
        !schema("validate-json").is_valid(&incomplete),
        "a diagnostic without its hint"
    );
    assert_eq!(document["valid"], false);
    let diagnostics = document["diagnostics"].as_array().unwrap();
    assert!(diagnostics.len() >= 2, "{document:#}");
    assert_eq!(document["error_count"], diagnostics.len());
    // The text form still reaches stderr: each problem, then the count line.
    assert_eq!(stderr.matches("error: ").count(), diagnostics.len() + 1, "{stderr}");
    insta::assert_json_snapshot!("validate_json_stages_invalid", document);

    let (code, stdout, stderr) = fgform_in(here, &["validate", "--json", "examples/quickstart"]);
    assert_eq!(code, 0, "{stderr}");
    let document: Value = serde_json::from_str(&stdout).expect("stdout is one JSON document");
    assert_valid(&schema("validate-json"), &document);
    assert_eq!(
        document,
        serde_json::json!({"format_version": 1, "valid": true, "error_count": 0, "warning_count": 0, "diagnostics": []})
    );

    // A directory that cannot be read is still one document, and the error on stderr.
    let (code, stdout, stderr) = fgform_in(here, &["validate", "--json", "tests/fixtures/no-such-stack"]);
    assert_eq!(code, 1, "{stderr}");
    let document: Value = serde_json::from_str(&stdout).expect("stdout is one JSON document");
    assert_valid(&schema("validate-json"), &document);
    assert_eq!(
        (document["valid"].clone(), document["error_count"].clone()),
        (false.into(), 1.into())
    );
    assert!(stderr.starts_with("error: "), "{stderr}");
}

#[tokio::test]
async fn apply_and_destroy_json_tell_each_change_as_a_line() {
    let s = TestContext::with_files(&[("stack.yaml", STACK), ("hello/index.py", HANDLER)]).await;
    let out = s
        .on_stack(&["apply", "--json", "--auto-approve", "--parallelism", "1"])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", crate::context::transcript(&out));
    let applied = events(&out.stdout);
    let complete = of_type(&applied, "apply_complete");
    assert_eq!(complete.len(), 3, "{applied:#?}");
    let state = s.state();
    for event in complete {
        let address = event["address"].as_str().unwrap();
        assert_eq!(
            event["id"].as_str(),
            Some(state.resources[address].id.as_str()),
            "{event}"
        );
    }
    insta::assert_json_snapshot!("apply_json_create", redacted(&applied));

    // Nothing to do: the version, then a summary of zeros.
    let out = s.on_stack(&["apply", "--json", "--auto-approve"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", crate::context::transcript(&out));
    let again = redacted(&events(&out.stdout));
    assert_eq!(again.len(), 2, "{again:#?}");
    assert_eq!(
        again[1],
        serde_json::json!({"@level": "info", "@message": "No changes. The live resources match the manifests.",
            "@timestamp": "[timestamp]", "type": "change_summary", "add": 0, "change": 0, "destroy": 0,
            "operation": "apply"})
    );
    // And as text, one line.
    let out = s.on_stack(&["apply", "--auto-approve"]).await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "No changes. The live resources match the manifests.\n",
        "{}",
        crate::context::transcript(&out)
    );

    let out = s
        .on_stack(&["destroy", "--json", "--auto-approve", "--parallelism", "1"])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", crate::context::transcript(&out));
    let destroyed = events(&out.stdout);
    assert_eq!(of_type(&destroyed, "planned_change").len(), 3);
    assert!(of_type(&destroyed, "apply_complete").iter().all(|e| e["id"].is_null()));
    let summary = destroyed.last().unwrap();
    assert_eq!(
        (
            summary["type"].as_str(),
            summary["destroy"].as_u64(),
            summary["operation"].as_str()
        ),
        (Some("change_summary"), Some(3), Some("destroy")),
        "{summary}"
    );
}

#[tokio::test]
async fn a_failed_change_is_an_apply_errored_line_and_a_diagnostic() {
    let s = TestContext::with_files(&[("stack.yaml", STACK), ("hello/index.py", HANDLER)]).await;
    s.chaos("status=400,code=FSS.1051,op=CreateFunctionTrigger").await;
    let out = s
        .on_stack(&["apply", "--json", "--auto-approve", "--parallelism", "1"])
        .await;
    assert_eq!(out.status.code(), Some(1), "{}", crate::context::transcript(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error: function.hello.trigger.nightly"), "{stderr}");
    let lines = events(&out.stdout);
    let errored = of_type(&lines, "apply_errored");
    assert_eq!(errored.len(), 1, "{lines:#?}");
    assert_eq!(errored[0]["address"], "function.hello.trigger.nightly");
    assert!(
        errored[0]["error"].as_str().unwrap().contains("FSS.1051"),
        "{}",
        errored[0]
    );
    let summary = of_type(&lines, "change_summary");
    assert_eq!(summary.len(), 1);
    assert_eq!(
        summary[0]["add"], 2,
        "the function and its async config: {}",
        summary[0]
    );
    assert_eq!(
        summary[0]["@message"],
        "2 of 3 changes completed; the state records them."
    );
    // The error main prints on stderr is the last line, with its hint.
    let last = lines.last().unwrap();
    assert_eq!(last["type"], "diagnostic", "{last}");
    assert_eq!(last["diagnostic"]["severity"], "error");
    assert!(
        last["diagnostic"]["hint"]
            .as_str()
            .unwrap()
            .starts_with("run `fgform plan"),
        "{last}"
    );
}

#[tokio::test]
async fn apply_json_without_auto_approve_is_refused_with_a_hint_that_runs() {
    let s = TestContext::with_files(&[("stack.yaml", STACK), ("hello/index.py", HANDLER)]).await;
    let out = s.on_stack(&["apply", "--json"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", crate::context::transcript(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let hint = stderr
        .lines()
        .find_map(|l| l.strip_prefix("hint: run `"))
        .unwrap_or_else(|| panic!("no hint: {stderr}"));
    let command = hint.split('`').next().unwrap();
    assert_eq!(
        command,
        format!("fgform apply --json --auto-approve{}", s.rerun(true)),
        "{stderr}"
    );
    // The same error, hint included, as the JSON's last line; nothing else but the version.
    let lines = events(&out.stdout);
    assert_eq!(lines.len(), 2, "{lines:#?}");
    let diagnostic = &lines[1]["diagnostic"];
    assert!(diagnostic["hint"].as_str().unwrap().contains(command), "{diagnostic}");
    assert!(!s.state_path.exists(), "nothing was applied");

    // The hint runs as printed.
    let words: Vec<&str> = command.split_whitespace().skip(1).collect();
    let out = s.run_exactly(&words).await;
    assert_eq!(out.status.code(), Some(0), "{}", crate::context::transcript(&out));
    let lines = events(&out.stdout);
    assert_eq!(lines.last().unwrap()["add"], 3, "{lines:#?}");

    // `destroy --json` too.
    let out = s.on_stack(&["destroy", "--json"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", crate::context::transcript(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("`fgform destroy --json --auto-approve{}`", s.rerun(true))),
        "{stderr}"
    );
}

#[tokio::test]
async fn state_list_and_show_json_match_their_schemas() {
    let s = TestContext::with_files(&[("stack.yaml", STACK), ("hello/index.py", HANDLER)]).await;
    s.apply().await;
    let state = s.state();

    let out = s.on_stack(&["state", "list", "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", crate::context::transcript(&out));
    let mut listed: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    assert_valid(&schema("state-list-json"), &listed);
    let resources = listed["resources"].as_array_mut().unwrap();
    assert_eq!(resources.len(), state.resources.len());
    for r in resources.iter_mut() {
        let address = r["address"].as_str().unwrap();
        assert_eq!(r["id"].as_str(), Some(state.resources[address].id.as_str()), "{r}");
        r["id"] = "[id]".into();
    }
    assert_eq!(listed["lineage"], state.lineage);
    listed["lineage"] = "[lineage]".into();
    insta::assert_json_snapshot!("state_list_json", listed);

    // `show --json` is the state document itself, as before.
    let out = s.on_stack(&["show", "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", crate::context::transcript(&out));
    let shown: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    assert_valid(&schema("state-json"), &shown);
    assert_eq!(shown, serde_json::to_value(&state).unwrap());
}
