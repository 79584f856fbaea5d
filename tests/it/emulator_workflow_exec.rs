//! Workflow executions (§8.2) in the emulator: functions called in sequence with the
//! first's output feeding the second, Switch, Sleep on the emulator's clock, Parallel and
//! Foreach, failures caught by on_errors after retries, sync executions of EXPRESS flows,
//! list, show with node history, terminate.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{b64, zip_files, Emu};

/// Creates a Python function whose `handler(event, context)` body is `body`; returns its
/// `latest` URN.
async fn function(emu: &Emu, name: &str, body: &str) -> String {
    let code = format!("def handler(event, context):\n    {body}\n");
    let r = emu
        .post(
            "/fgs/functions",
            json!({
                "func_name": name, "package": "default", "runtime": "Python3.9", "handler": "index.handler",
                "memory_size": 128, "timeout": 10, "code_type": "zip", "code_filename": "index.zip",
                "func_code": { "file": b64(&zip_files(&[("index.py", &code)])) },
            }),
        )
        .await;
    assert_eq!(r.status, 200, "create {name}: {}", r.text);
    r.body["func_urn"].as_str().unwrap().to_string()
}

/// Creates a workflow; returns its id.
async fn workflow(emu: &Emu, def: Value) -> String {
    let r = emu.post("/fgs/workflows", def).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["id"].as_str().unwrap().to_string()
}

/// Starts an execution; returns its id.
async fn start(emu: &Emu, wf: &str, input: Value) -> String {
    let r = emu
        .post(&format!("/fgs/workflows/{wf}/executions"), json!({ "input": input }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["execution_id"].as_str().unwrap().to_string()
}

async fn show(emu: &Emu, wf: &str, exec: &str) -> Value {
    let r = emu.get(&format!("/fgs/workflows/{wf}/executions/{exec}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

/// Polls until the execution is no longer running; its show answer.
async fn finished(emu: &Emu, wf: &str, exec: &str) -> Value {
    for _ in 0..300 {
        let body = show(emu, wf, exec).await;
        if body["status"] != "running" {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("execution {exec} still running: {}", show(emu, wf, exec).await);
}

/// The runs recorded for `node`.
fn runs(detail: &Value, node: &str) -> Vec<Value> {
    detail["node_execution_details"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node_id"] == node)
        .map(|n| n["executions"].as_array().unwrap().clone())
        .unwrap_or_default()
}

fn call(ref_name: &str, arguments: Value) -> Value {
    json!([{ "function_ref": { "ref_name": ref_name, "invoke_mode": "sync", "arguments": arguments } }])
}

fn def(name: &str, start: &str, functions: &[(&str, &str)], states: Value) -> Value {
    let functions: Vec<Value> = functions
        .iter()
        .map(|(n, urn)| json!({ "name": n, "operation": urn }))
        .collect();
    json!({
        "name": name, "start": start, "functions": functions, "states": states,
        "constants": { "tag": "from-constants" }, "retries": [{ "name": "twice", "delay": 1, "max_attempts": 2 }],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_execution_calls_two_functions_the_second_getting_the_firsts_output() {
    let emu = Emu::start().await;
    let first = function(&emu, "first", r#"return {"n": event["n"] + 1, "who": "first"}"#).await;
    let second = function(
        &emu,
        "second",
        r#"return {"doubled": event["x"] * 2, "tag": event["tag"]}"#,
    )
    .await;
    let states = json!([
        { "id": "one", "name": "One", "type": "Operation", "transition": "two",
          "actions": call("f1", json!({ "n": "$.start.n" })) },
        { "id": "two", "name": "Two", "type": "Operation", "end": true,
          "actions": call("f2", json!({ "x": "$.n", "tag": "$CONST.tag" })) },
    ]);
    let wf = workflow(&emu, def("seq", "one", &[("f1", &first), ("f2", &second)], states)).await;
    let exec = start(&emu, &wf, json!({ "start": { "n": 4 } })).await;
    let done = finished(&emu, &wf, &exec).await;
    assert_eq!(done["status"], "success", "{done}");
    assert_eq!(done["output"], json!({ "doubled": 10, "tag": "from-constants" }));
    assert_eq!(done["input"], json!({ "start": { "n": 4 } }));
    assert_eq!(
        (&done["workflow_id"], &done["execution_id"]),
        (&json!(wf), &json!(exec))
    );
    assert!(done["workflow_urn"]
        .as_str()
        .unwrap()
        .ends_with(":workflow:default:seq:latest"));
    let z_time = regex::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$").unwrap();
    for key in ["begin_time", "end_time", "last_update_time"] {
        assert!(z_time.is_match(done[key].as_str().unwrap()), "{key}: {}", done[key]);
    }
    let one = runs(&done, "one");
    assert_eq!(one.len(), 1);
    assert_eq!(one[0]["status"], "success");
    assert_eq!(one[0]["input"], json!({ "start": { "n": 4 } }));
    assert_eq!(one[0]["output"], json!({ "n": 5, "who": "first" }));
    let two = runs(&done, "two");
    assert_eq!(
        two[0]["input"],
        json!({ "n": 5, "who": "first" }),
        "the second got the first's output"
    );
    let (begin, end) = (
        two[0]["begin_time"].as_i64().unwrap(),
        two[0]["end_time"].as_i64().unwrap(),
    );
    assert!(begin > 1_600_000_000_000 && end >= begin, "epoch ms: {begin} {end}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_chooses_the_branch_its_condition_names() {
    let emu = Emu::start().await;
    let big = function(&emu, "big", r#"return {"size": "big", "x": event["x"]}"#).await;
    let small = function(&emu, "small", r#"return {"size": "small", "x": event["x"]}"#).await;
    let states = json!([
        { "id": "choose", "name": "Choose", "type": "Switch",
          "state_data_filter": { "input": "$.payload" },
          "conditions": [{ "condition": "$.x > 3 && $.kind == 'num'", "transition": "big" }], "default": "small" },
        { "id": "big", "type": "Operation", "end": true, "actions": call("big", json!({})) },
        { "id": "small", "type": "Operation", "end": true, "actions": call("small", json!({})) },
    ]);
    let wf = workflow(
        &emu,
        def("switch", "choose", &[("big", &big), ("small", &small)], states),
    )
    .await;
    for (x, size) in [(5, "big"), (1, "small")] {
        let exec = start(&emu, &wf, json!({ "payload": { "x": x, "kind": "num" } })).await;
        let done = finished(&emu, &wf, &exec).await;
        assert_eq!(done["status"], "success", "{done}");
        assert_eq!(done["output"], json!({ "size": size, "x": x }));
        let other = if size == "big" { "small" } else { "big" };
        assert!(runs(&done, other).is_empty(), "{other} ran: {done}");
        assert_eq!(runs(&done, "choose")[0]["input"], json!({ "x": x, "kind": "num" }));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sleep_waits_on_the_emulator_clock_and_advancing_it_skips_the_wait() {
    let emu = Emu::start().await;
    let states = json!([
        { "id": "nap", "name": "Nap", "type": "Sleep", "duration": 3600, "transition": "done" },
        { "id": "done", "name": "Done", "type": "End", "end": true },
    ]);
    let wf = workflow(&emu, def("sleepy", "nap", &[], states)).await;
    let exec = start(&emu, &wf, json!({ "k": 1 })).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let during = show(&emu, &wf, &exec).await;
    assert_eq!(during["status"], "running", "{during}");
    assert_eq!(runs(&during, "nap")[0]["status"], "running");
    let advanced = emu.admin("POST", "/clock/advance?seconds=3600", None).await;
    assert!(advanced["now"].is_string(), "{advanced}");
    let done = finished(&emu, &wf, &exec).await;
    assert_eq!(done["status"], "success", "{done}");
    assert_eq!(done["output"], json!({ "k": 1 }));
    let nap = &runs(&done, "nap")[0];
    let slept = nap["end_time"].as_i64().unwrap() - nap["begin_time"].as_i64().unwrap();
    assert!(slept >= 3_600_000, "the node's times are the emulator's: {slept} ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_branches_and_foreach_iterations_collect_their_outputs_in_order() {
    let emu = Emu::start().await;
    let square = function(&emu, "square", r#"return event["v"] * event["v"]"#).await;
    let branch = |arg: &str| {
        json!({ "start": "sq", "states": [
            { "id": "sq", "type": "Operation", "end": true, "actions": call("square", json!({ "v": arg })) }
        ] })
    };
    let states = json!([
        { "id": "both", "name": "Both", "type": "Parallel", "transition": "each",
          "branches": [branch("$.a"), branch("$.b")] },
        { "id": "each", "name": "Each", "type": "Foreach", "input_collection": "$", "start": "inner", "end": true,
          "states": [{ "id": "inner", "type": "Operation", "end": true, "actions": call("square", json!({ "v": "$" })) }] },
    ]);
    let wf = workflow(&emu, def("fan", "both", &[("square", &square)], states)).await;
    let exec = start(&emu, &wf, json!({ "a": 2, "b": 3 })).await;
    let done = finished(&emu, &wf, &exec).await;
    assert_eq!(done["status"], "success", "{done}");
    assert_eq!(runs(&done, "both")[0]["output"], json!([4, 9]));
    assert_eq!(done["output"], json!([16, 81]));
    let mut inner: Vec<Value> = runs(&done, "inner").iter().map(|r| r["output"].clone()).collect();
    inner.sort_by_key(|v| v.as_i64());
    assert_eq!(inner, [json!(16), json!(81)], "one run per item");
    assert_eq!(runs(&done, "sq").len(), 2, "one run per branch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_function_is_retried_then_on_errors_transitions() {
    let emu = Emu::start().await;
    let boom = function(&emu, "boom", r#"raise ValueError("boom " + str(event["n"]))"#).await;
    let rescue = function(&emu, "rescue", r#"return {"rescued": event["errorMessage"]}"#).await;
    let states = |error: &str| {
        json!([
            { "id": "try", "name": "Try", "type": "Operation", "transition": "fine",
              "actions": call("boom", json!({ "n": "$.n" })),
              "on_errors": [{ "error": error, "retry_ref": "twice", "transition": "rescue" }] },
            { "id": "rescue", "type": "Operation", "end": true, "actions": call("rescue", json!({})) },
            { "id": "fine", "type": "End", "end": true },
        ])
    };
    let fns = [("boom", boom.as_str()), ("rescue", rescue.as_str())];
    let caught = workflow(&emu, def("caught", "try", &fns, states("Value.*"))).await;
    let exec = start(&emu, &caught, json!({ "n": 7 })).await;
    let done = finished(&emu, &caught, &exec).await;
    assert_eq!(done["status"], "success", "{done}");
    assert_eq!(done["output"], json!({ "rescued": "boom 7" }));
    let tries = runs(&done, "try");
    assert_eq!(tries.len(), 3, "the first try and 2 retries: {tries:?}");
    for t in &tries {
        assert_eq!(t["status"], "fail");
        assert_eq!(t["error_message"]["errorType"], "ValueError");
    }
    // Nothing catches a ValueError here: the execution fails at `try`, without retries.
    let uncaught = workflow(&emu, def("uncaught", "try", &fns, states("TypeError"))).await;
    let exec = start(&emu, &uncaught, json!({ "n": 1 })).await;
    let done = finished(&emu, &uncaught, &exec).await;
    assert_eq!(done["status"], "fail", "{done}");
    assert_eq!(runs(&done, "try").len(), 1);
    assert!(runs(&done, "rescue").is_empty());
    assert_eq!(done["output"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_executions_answer_at_the_end_and_only_for_express_flows() {
    let emu = Emu::start().await;
    let echo = function(&emu, "echo", r#"return {"got": event}"#).await;
    let boom = function(&emu, "boomer", r#"raise RuntimeError("no")"#).await;
    let states = |f: &str| json!([{ "id": "s", "type": "Operation", "end": true, "actions": call(f, json!({})) }]);
    let fns = [("echo", echo.as_str()), ("boom", boom.as_str())];
    let mut express = def("quick", "s", &fns, states("echo"));
    express["mode"] = json!("EXPRESS");
    let wf = workflow(&emu, express).await;
    let r = emu
        .post(
            &format!("/fgs/workflows/{wf}/sync-executions"),
            json!({ "input": { "a": 1 } }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "success", "{}", r.text);
    assert_eq!(r.body["output"], json!({ "got": { "a": 1 } }));
    let mut failing = def("quick-fail", "s", &fns, states("boom"));
    failing["mode"] = json!("EXPRESS");
    let wf = workflow(&emu, failing).await;
    let r = emu
        .post(&format!("/fgs/workflows/{wf}/sync-executions"), json!({ "input": {} }))
        .await;
    assert_eq!(r.body["status"], "fail", "{}", r.text);
    assert_eq!(r.body["errors"][0]["node_id"], "s");
    assert_eq!(r.body["errors"][0]["error_message"], "no");
    let normal = workflow(&emu, def("slow", "s", &fns, states("echo"))).await;
    let r = emu
        .post(
            &format!("/fgs/workflows/{normal}/sync-executions"),
            json!({ "input": {} }),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = emu
        .post(&format!("/fgs/workflows/{normal}/executions"), json!({ "input": [1] }))
        .await;
    assert_eq!(r.status, 400, "input must be an object: {}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executions_list_newest_first_show_and_terminate() {
    let emu = Emu::start().await;
    let states = json!([
        { "id": "nap", "type": "Sleep", "duration": 60, "transition": "done" },
        { "id": "done", "type": "End", "end": true },
    ]);
    let wf = workflow(&emu, def("napper", "nap", &[], states)).await;
    let first = start(&emu, &wf, json!({ "i": 1 })).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let second = start(&emu, &wf, json!({ "i": 2 })).await;
    let list = emu.get(&format!("/fgs/workflows/{wf}/executions")).await;
    assert_eq!(list.status, 200, "{}", list.text);
    let ids: Vec<&str> = list.body["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["execution_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [second.as_str(), first.as_str()], "newest first");
    assert_eq!(list.body["executions"][0]["status"], "running");
    // Terminating the second stops it; the first finishes once the clock moves on.
    let r = emu
        .post(&format!("/fgs/workflows/{wf}/executions/{second}/terminate"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(show(&emu, &wf, &second).await["status"], "cancel");
    emu.admin("POST", "/clock/advance?seconds=60", None).await;
    assert_eq!(finished(&emu, &wf, &first).await["status"], "success");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stopped = show(&emu, &wf, &second).await;
    assert_eq!(
        stopped["status"], "cancel",
        "a stopped execution stays stopped: {stopped}"
    );
    assert!(runs(&stopped, "done").is_empty(), "{stopped}");
    let r = emu
        .post(&format!("/fgs/workflows/{wf}/executions/{second}/terminate"), json!({}))
        .await;
    assert_eq!(r.status, 400, "only a running execution stops: {}", r.text);
    let only = emu
        .get_q(&format!("/fgs/workflows/{wf}/executions"), &[("status", "success")])
        .await;
    let only: Vec<&Value> = only.body["executions"].as_array().unwrap().iter().collect();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0]["execution_id"], first.as_str());
    let missing = emu
        .get(&format!(
            "/fgs/workflows/{wf}/executions/00000000-0000-4000-8000-000000000000"
        ))
        .await;
    assert_eq!((missing.status, missing.code()), (404, "FSS.0404"));
    let no_flow = emu
        .get("/fgs/workflows/00000000-0000-4000-8000-000000000000/executions")
        .await;
    assert_eq!(no_flow.status, 404);
}
