//! The emulator runs functions (issue 13): Python and Node handlers on the machine's
//! interpreters, through fgform's client (the SDK's v1 answers) and raw v0 calls; failures,
//! timeouts, memory, instance limits, initializers, dependencies, the scrubbed environment,
//! async invocations with retries and destinations.

use std::time::Duration;

use fgform::client::Client;
use serde_json::{json, Value};

use crate::support::{b64, emulator_addr, encode, local_client, zip_files, Caller, Emu};

/// Creates function `name` running `files` with `config` (runtime, handler, … over the
/// defaults); returns its unqualified URN.
async fn function(emu: &Caller, name: &str, files: &[(&str, &str)], config: Value) -> String {
    let mut body = json!({
        "func_name": name, "package": "default", "runtime": "Python3.9", "handler": "index.handler",
        "memory_size": 128, "timeout": 10, "code_type": "zip", "code_filename": "index.zip",
        "func_code": { "file": b64(&zip_files(files)) },
    });
    for (k, v) in config.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = emu.post("/fgs/functions", body).await;
    assert_eq!(r.status, 200, "create {name}: {}", r.text);
    r.body["func_urn"]
        .as_str()
        .unwrap()
        .trim_end_matches(":latest")
        .to_string()
}

fn client(emu: &Caller) -> Client {
    local_client(&emu.url(), fgform::api::local::REGION, &emu.project)
}

const TEN_S: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_handler_runs_with_its_context_environment_and_log() {
    let emu = Emu::start().await;
    let code = r#"
import json, os
def handler(event, context):
    print("hello from", context.getFunctionName())
    context.getLogger().info("via the logger")
    return {
        "event": event,
        "request_id": context.getRequestID(),
        "name": context.getFunctionName(), "version": context.getVersion(),
        "memory": context.getMemorySize(), "cpu": context.getCPUNumber(),
        "package": context.getPackage(), "project": context.getProjectID(),
        "user": context.getUserData("GREETING"), "secret": context.getUserData("TOKEN"),
        "remaining": context.getRemainingTimeInMilliSeconds(),
        "ak": context.getAccessKey(), "token": context.getSecurityToken(),
        "env": sorted(os.environ), "greeting": os.environ.get("GREETING"),
        "runtime_memory": os.environ.get("RUNTIME_MEMORY"), "pid": os.getpid(),
    }
"#;
    let urn = function(
        &emu,
        "py",
        &[("index.py", code)],
        json!({"user_data": "{\"GREETING\":\"hi\"}", "encrypted_user_data": "{\"TOKEN\":\"s3cret\"}"}),
    )
    .await;
    let c = client(&emu);
    let first = c.invoke(&urn, br#"{"n":1}"#, true, TEN_S).await.unwrap();
    assert!(!first.failed, "{}", first.result);
    assert_eq!(first.error_code, "0");
    let out: Value = serde_json::from_str(&first.result).unwrap();
    assert_eq!(out["event"], json!({"n": 1}));
    assert_eq!(
        out["request_id"],
        first.request_id.as_str(),
        "the context's id is the answer's"
    );
    assert_eq!(
        (
            &out["name"],
            &out["version"],
            &out["memory"],
            &out["cpu"],
            &out["package"]
        ),
        (
            &json!("py"),
            &json!("latest"),
            &json!(128),
            &json!(300),
            &json!("default")
        )
    );
    assert_eq!(out["project"], emu.project.as_str());
    assert_eq!(
        (&out["user"], &out["secret"], &out["greeting"]),
        (&json!("hi"), &json!("s3cret"), &json!("hi"))
    );
    assert!(out["remaining"].as_u64().unwrap() > 9_000);
    assert!(out["ak"].as_str().unwrap().contains("DUMMY"), "{}", out["ak"]);
    assert_eq!(out["runtime_memory"], "128");
    // The handler's environment is the function's and the runtime's, nothing of the emulator's.
    let env: Vec<&str> = out["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for name in &env {
        assert!(
            name.starts_with("RUNTIME_") || ["GREETING", "TOKEN", "PATH", "LANG", "HOME", "TMPDIR"].contains(name),
            "unexpected variable {name} in {env:?}"
        );
    }
    for name in [
        "RUNTIME_PROJECT_ID",
        "RUNTIME_FUNC_NAME",
        "RUNTIME_HANDLER",
        "RUNTIME_CODE_ROOT",
        "RUNTIME_TIMEOUT",
    ] {
        assert!(env.contains(&name), "{name} missing from {env:?}");
    }
    let log = first.log.unwrap();
    assert!(
        log.contains(&format!("Start invoke request '{}', version: latest", first.request_id)),
        "{log}"
    );
    assert!(log.contains("hello from py"), "{log}");
    assert!(log.contains("INFO via the logger"), "{log}");
    assert!(
        log.contains(&format!("Finish invoke request '{}', duration:", first.request_id)),
        "{log}"
    );
    assert!(first.summary.unwrap()["memorySize"] == 128);
    // Warm: the same instance answers the next invocation.
    let second = c.invoke(&urn, b"{}", false, TEN_S).await.unwrap();
    let again: Value = serde_json::from_str(&second.result).unwrap();
    assert_eq!(again["pid"], out["pid"], "the instance is reused");
    assert!(second.log.is_none(), "no log unless asked");
    // The emulator keeps the logs.
    let logs = c.emulator_logs(&urn, 10).await.unwrap().unwrap();
    assert_eq!(logs.len(), 2);
    assert!(logs[0].cold && !logs[1].cold);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v0_answers_with_the_result_itself_and_v1_with_the_envelope() {
    let emu = Emu::start().await;
    let urn = function(
        &emu,
        "v0",
        &[("index.py", "def handler(e, c):\n    return 'plain text'\n")],
        json!({}),
    )
    .await;
    let path = emu.path(&format!("/fgs/functions/{}/invocations", encode(&urn)));
    let r = emu.call_raw("POST", &path, &[], b"{}".to_vec(), &emu.sk).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text, "plain text");
    assert_eq!(r.headers["x-cff-response-version"], "v0");
    assert_eq!(r.headers["x-is-func-err"], "false");
    assert!(r.headers.contains_key("x-cff-request-id"));
    let c = client(&emu);
    let v1 = c.invoke(&urn, b"{}", false, TEN_S).await.unwrap();
    assert_eq!(v1.result, "plain text");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_handlers_async_and_callback_style() {
    let emu = Emu::start().await;
    let code = r#"
exports.handler = async (event, context) => {
  console.log('node says', event.n);
  return { doubled: event.n * 2, name: context.getFunctionName(), user: context.getUserData('K') };
};
exports.callback = (event, context, callback) => { setTimeout(() => callback(null, 'called back ' + event.n), 5); };
exports.fails = (event, context, callback) => callback(new TypeError('bad input'));
"#;
    let c = client(&emu);
    let config = |handler: &str| json!({"runtime": "Node.js18.15", "handler": handler, "user_data": "{\"K\":\"v\"}"});
    let urn = function(&emu, "node", &[("index.js", code)], config("index.handler")).await;
    let r = c.invoke(&urn, br#"{"n":21}"#, true, TEN_S).await.unwrap();
    assert!(!r.failed, "{}", r.result);
    assert_eq!(
        serde_json::from_str::<Value>(&r.result).unwrap(),
        json!({"doubled": 42, "name": "node", "user": "v"})
    );
    assert!(r.log.unwrap().contains("node says 21"));
    let urn = function(&emu, "cb", &[("index.js", code)], config("index.callback")).await;
    let r = c.invoke(&urn, br#"{"n":1}"#, false, TEN_S).await.unwrap();
    assert_eq!(r.result, "called back 1");
    let urn = function(&emu, "nodefail", &[("index.js", code)], config("index.fails")).await;
    let r = c.invoke(&urn, b"{}", false, TEN_S).await.unwrap();
    assert!(r.failed);
    let error: Value = serde_json::from_str(&r.result).unwrap();
    assert_eq!(
        (&error["errorType"], &error["errorMessage"]),
        (&json!("TypeError"), &json!("bad input"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raising_handler_reports_its_error_type_message_and_stack() {
    let emu = Emu::start().await;
    let code = "def handler(event, context):\n    print('about to fail')\n    raise ValueError('no good: ' + str(event['n']))\n";
    let urn = function(&emu, "raises", &[("index.py", code)], json!({})).await;
    let r = client(&emu).invoke(&urn, br#"{"n":7}"#, true, TEN_S).await.unwrap();
    assert!(r.failed);
    assert_eq!(r.error_code, "1");
    let error: Value = serde_json::from_str(&r.result).unwrap();
    assert_eq!(error["errorType"], "ValueError");
    assert_eq!(error["errorMessage"], "no good: 7");
    let stack = error["stackTrace"].as_array().unwrap();
    assert!(
        stack.iter().any(|l| l.as_str().unwrap().contains("index.py")),
        "{stack:?}"
    );
    let log = r.log.unwrap();
    assert!(log.contains("about to fail"), "{log}");
    assert!(log.contains("(invoke Failed)"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_past_its_timeout_is_killed_and_the_next_invocation_gets_a_new_instance() {
    let emu = Emu::start().await;
    let code = "import os, time\ndef handler(event, context):\n    time.sleep(event.get('sleep', 0))\n    return os.getpid()\n";
    let urn = function(&emu, "slow", &[("index.py", code)], json!({"timeout": 3})).await;
    let c = client(&emu);
    let pid = c.invoke(&urn, b"{}", false, TEN_S).await.unwrap().result;
    let started = std::time::Instant::now();
    let r = c.invoke(&urn, br#"{"sleep":30}"#, false, TEN_S).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "killed at its timeout, not after the sleep"
    );
    assert!(r.failed);
    assert_eq!(r.error_code, "2");
    assert_eq!(
        serde_json::from_str::<Value>(&r.result).unwrap()["errorType"],
        "FunctionTimeout"
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the timed-out instance is gone"
    );
    let next = c.invoke(&urn, b"{}", false, TEN_S).await.unwrap();
    assert!(!next.failed);
    assert_ne!(next.result, pid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn going_over_memory_is_reported_for_python_and_node() {
    let emu = Emu::start().await;
    let py = "def handler(event, context):\n    block = bytearray(600 * 1024 * 1024)\n    return len(block)\n";
    let urn = function(&emu, "pymem", &[("index.py", py)], json!({})).await;
    let c = client(&emu);
    let r = c.invoke(&urn, b"{}", false, TEN_S).await.unwrap();
    assert!(r.failed, "{}", r.result);
    assert_eq!(r.error_code, "3", "{}", r.result);
    let js = "exports.handler = async () => { const keep = []; for (;;) keep.push(new Array(1e6).fill(1)); };\n";
    let urn = function(
        &emu,
        "nodemem",
        &[("index.js", js)],
        json!({"runtime": "Node.js18.15", "timeout": 30}),
    )
    .await;
    let r = c.invoke(&urn, b"{}", false, Duration::from_secs(30)).await.unwrap();
    assert!(r.failed, "{}", r.result);
    assert_eq!(r.error_code, "3", "{}", r.result);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invocations_beyond_the_functions_concurrency_are_throttled() {
    let emu = Emu::start().await;
    let code = "import time\ndef handler(event, context):\n    time.sleep(1.5)\n    return 'done'\n";
    let urn = function(&emu, "one", &[("index.py", code)], json!({})).await;
    let r = emu
        .put(
            &format!(
                "/fgs/functions/{}/config-max-instance",
                encode(&format!("{urn}:latest"))
            ),
            json!({"max_instance_num": 1}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let c = client(&emu);
    let (a, b) = tokio::join!(c.invoke(&urn, b"{}", false, TEN_S), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        c.invoke(&urn, b"{}", false, TEN_S).await
    });
    assert_eq!(a.unwrap().result, "done");
    let err = b.unwrap_err();
    assert_eq!(err.status(), Some(429), "{err}");
    assert_eq!(err.code(), Some("FSS.0429"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_max_instances_the_longest_idle_instance_stops_for_a_new_one_and_none_idle_is_throttled() {
    let emu = Emu::with(fgform::emulator::Config {
        max_instances: 2,
        ..Default::default()
    })
    .await;
    let code = "import os, time\ndef handler(event, context):\n    time.sleep(event.get('sleep', 0))\n    return os.getpid()\n";
    let mut urns = Vec::new();
    for name in ["a", "b", "c"] {
        urns.push(function(&emu, name, &[("index.py", code)], json!({})).await);
    }
    let c = client(&emu);
    let run = |i: usize, sleep: f64| {
        let (c, urn) = (&c, &urns[i]);
        async move {
            let event = json!({ "sleep": sleep }).to_string();
            c.invoke(urn, event.as_bytes(), false, TEN_S).await
        }
    };
    let pid = |r: Result<fgform::client::invoke::Invoked, fgform::client::ApiError>| {
        r.unwrap().result.parse::<u64>().unwrap()
    };
    let a = pid(run(0, 0.0).await);
    let b = pid(run(1, 0.0).await);
    // Both idle, a the longest: c's instance starts in its place.
    let c1 = pid(run(2, 0.0).await);
    assert_eq!(pid(run(1, 0.0).await), b, "b's instance is still warm");
    stopped(a).await;
    // Now c's is the longest idle: a starts again in its place.
    let a2 = pid(run(0, 0.0).await);
    assert_ne!(a2, a, "a's first instance was stopped");
    stopped(c1).await;
    // Both instances busy, none idle: c is throttled as the cloud throttles.
    let (x, y, z) = tokio::join!(run(0, 1.5), run(1, 1.5), async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        run(2, 0.0).await
    });
    assert_eq!((pid(x), pid(y)), (a2, b));
    let err = z.unwrap_err();
    assert_eq!(err.status(), Some(429), "{err}");
    assert_eq!(err.code(), Some("FSS.0429"), "{err}");
}

/// Waits up to 10 s for instance `pid` to be [`gone`].
async fn stopped(pid: u64) {
    let deadline = std::time::Instant::now() + TEN_S;
    while !gone(pid) {
        assert!(std::time::Instant::now() < deadline, "instance {pid} still runs");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_initializer_runs_once_per_instance_and_dependencies_are_importable() {
    let emu = Emu::start().await;
    // A dependency package with the usual `python/` layout.
    let dep = zip_files(&[("python/helper.py", "def shout(s):\n    return s.upper() + '!'\n")]);
    let r = emu
        .post(
            "/fgs/dependencies/version",
            json!({"name": "helper", "runtime": "Python3.9", "depend_type": "zip", "depend_file": b64(&dep)}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let dep_id = r.body["id"].as_str().unwrap().to_string();
    let code = "import helper\nCALLS = []\ndef init(context):\n    CALLS.append(context.getFunctionName())\ndef handler(event, context):\n    return {'inits': len(CALLS), 'shout': helper.shout('hi')}\n";
    let urn = function(
        &emu,
        "init",
        &[("index.py", code)],
        json!({"initializer_handler": "index.init", "initializer_timeout": 5, "depend_version_list": [dep_id]}),
    )
    .await;
    let c = client(&emu);
    for _ in 0..3 {
        let r = c.invoke(&urn, b"{}", false, TEN_S).await.unwrap();
        assert!(!r.failed, "{}", r.result);
        assert_eq!(
            serde_json::from_str::<Value>(&r.result).unwrap(),
            json!({"inits": 1, "shout": "HI!"})
        );
    }
    // A failing initializer fails the invocation, reported as such.
    let bad =
        "def init(context):\n    raise RuntimeError('cannot connect')\ndef handler(event, context):\n    return 1\n";
    let urn = function(
        &emu,
        "badinit",
        &[("index.py", bad)],
        json!({"initializer_handler": "index.init", "initializer_timeout": 5}),
    )
    .await;
    let r = c.invoke(&urn, b"{}", false, TEN_S).await.unwrap();
    assert!(r.failed);
    assert_eq!(
        serde_json::from_str::<Value>(&r.result).unwrap()["errorMessage"],
        "cannot connect"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runtime_the_emulator_cannot_run_is_refused_naming_it() {
    let emu = Emu::start().await;
    let urn = function(
        &emu,
        "java",
        &[("Main.java", "class Main {}")],
        json!({"runtime": "Java11", "handler": "index.handler"}),
    )
    .await;
    let err = client(&emu).invoke(&urn, b"{}", false, TEN_S).await.unwrap_err();
    assert_eq!(err.status(), Some(501), "{err}");
    assert!(err.to_string().contains("Java11"), "{err}");
}

/// Polls the async record of `id` until it ends.
async fn ended(c: &Client, urn: &str, id: &str) -> fgform::client::invoke::AsyncInvocation {
    for _ in 0..200 {
        if let Some(r) = c.async_invocation(urn, id).await.unwrap() {
            if r.ended() {
                return r;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("async invocation {id} did not end");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_invocations_retry_and_reach_both_destinations() {
    let emu = Emu::start().await;
    let c = client(&emu);
    // The sink records what it is sent, in its log.
    let sink = function(
        &emu,
        "sink",
        &[(
            "index.py",
            "import json\ndef handler(event, context):\n    print('RECORD', json.dumps(event))\n    return 'ok'\n",
        )],
        json!({}),
    )
    .await;
    let code = "def handler(event, context):\n    if event.get('fail'):\n        raise RuntimeError('asked to fail')\n    return {'ok': True}\n";
    let urn = function(&emu, "worker", &[("index.py", code)], json!({})).await;
    let destination = json!({
        "on_success": {"destination": "FunctionGraph", "param": json!({"func_urn": format!("{sink}:latest")}).to_string()},
        "on_failure": {"destination": "OBS", "param": "{\"bucket\":\"dlq\",\"prefix\":\"f/\",\"expires\":1}"},
    });
    let r = emu
        .put(
            &format!(
                "/fgs/functions/{}/async-invoke-config",
                encode(&format!("{urn}:latest"))
            ),
            json!({"max_async_retry_attempts": 1, "destination_config": destination}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    let ok = c.invoke_async(&urn, br#"{"n":1}"#).await.unwrap();
    assert_eq!(ended(&c, &urn, &ok).await.status, "SUCCESS");
    let bad = c.invoke_async(&urn, br#"{"fail":true}"#).await.unwrap();
    let record = ended(&c, &urn, &bad).await;
    assert_eq!(record.status, "FAIL");
    assert!(record.error_message.contains("asked to fail"), "{record:?}");

    // on_success: the sink was invoked with the documented record.
    let mut sunk = Vec::new();
    for _ in 0..100 {
        sunk = c.emulator_logs(&sink, 10).await.unwrap().unwrap();
        if !sunk.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let line = sunk[0]
        .log
        .lines()
        .find(|l| l.starts_with("RECORD "))
        .expect("the sink logged the record");
    let sent: Value = serde_json::from_str(&line["RECORD ".len()..]).unwrap();
    assert_eq!(sent["request_context"]["request_id"], ok.as_str());
    assert_eq!(sent["request_context"]["condition"], "Success");
    assert_eq!(sent["request_payload"], json!({"n": 1}));
    assert_eq!(sent["response_payload"], json!({"ok": true}));
    // on_failure: OBS cannot be reached here; what it would get is kept, after 2 attempts.
    let kept = emu.admin("GET", "/destinations", None).await;
    let failure = &kept["destinations"][0];
    assert_eq!(failure["destination"], "OBS");
    assert_eq!(failure["record"]["request_context"]["request_id"], bad.as_str());
    assert_eq!(failure["record"]["request_context"]["approximate_invoke_count"], 2);
    assert_eq!(failure["record"]["request_context"]["condition"], "RetriesExhausted");
    let worker_logs = c.emulator_logs(&urn, 10).await.unwrap().unwrap();
    assert_eq!(worker_logs.len(), 3, "one success, and a failure tried twice");
}

/// A TIMER trigger on `urn` (unqualified): its id.
async fn timer(emu: &Emu, urn: &str, name: &str, schedule: &str) -> String {
    let r = emu
        .post(
            &format!("/fgs/triggers/{}", encode(&format!("{urn}:latest"))),
            json!({ "trigger_type_code": "TIMER", "trigger_status": "ACTIVE", "event_type_code": "MessageCreated",
                    "event_data": { "name": name, "schedule_type": "Rate", "schedule": schedule, "user_event": "tick" } }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["trigger_id"].as_str().unwrap().to_string()
}

/// The TIMER events `urn`'s handler logged (it prints `EVENT <json>`), waiting for `n`.
async fn timer_events(c: &Client, urn: &str, n: usize) -> Vec<Value> {
    let mut events = Vec::new();
    for _ in 0..200 {
        let logs = c.emulator_logs(urn, 100).await.unwrap().unwrap();
        events = logs
            .iter()
            .flat_map(|l| {
                l.log
                    .lines()
                    .filter_map(|line| line.strip_prefix("EVENT "))
                    .map(str::to_string)
            })
            .map(|e| serde_json::from_str(&e).unwrap())
            .collect();
        if events.len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    events
}

const PRINT_EVENT: &str =
    "import json\ndef handler(event, context):\n    print('EVENT', json.dumps(event))\n    return 'ok'\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timer_fires_through_the_control_plane_with_the_documented_event() {
    let emu = Emu::start().await;
    let urn = function(&emu, "timed", &[("index.py", PRINT_EVENT)], json!({})).await;
    let id = timer(&emu, &urn, "every-5m", "5m").await;
    let fired = emu.admin("POST", &format!("/triggers/{id}/fire"), None).await;
    assert!(fired["request_id"].is_string(), "{fired}");
    let c = client(&emu);
    let record = ended(&c, &urn, fired["request_id"].as_str().unwrap()).await;
    assert_eq!(record.status, "SUCCESS");
    let events = timer_events(&c, &urn, 1).await;
    assert_eq!(events.len(), 1, "fired once, not by its schedule");
    let event = &events[0];
    assert_eq!(
        (
            &event["version"],
            &event["trigger_type"],
            &event["trigger_name"],
            &event["user_event"]
        ),
        (&json!("v1.0"), &json!("TIMER"), &json!("every-5m"), &json!("tick"))
    );
    assert!(chrono::DateTime::parse_from_rfc3339(event["time"].as_str().unwrap()).is_ok());
    let missing = emu.admin("POST", "/triggers/nope/fire", None).await;
    assert_eq!(missing["error_code"], "EMULATOR.0404");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timer_fires_on_its_schedule_when_the_virtual_clock_moves() {
    let emu = Emu::start().await;
    let urn = function(&emu, "hourly", &[("index.py", PRINT_EVENT)], json!({})).await;
    let id = timer(&emu, &urn, "hourly", "1h").await;
    // Once the scheduler has the timer, an hour of the emulator's clock fires it once and
    // two more hours twice more.
    for _ in 0..100 {
        let triggers = emu.admin("GET", "/triggers", None).await;
        if triggers["triggers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["trigger_id"] == id.as_str() && t["last"].is_string())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let c = client(&emu);
    assert!(timer_events(&c, &urn, 0).await.is_empty(), "nothing before its time");
    emu.admin("POST", "/clock/advance?seconds=3601", None).await;
    assert_eq!(timer_events(&c, &urn, 1).await.len(), 1);
    emu.admin("POST", "/clock/advance?seconds=7200", None).await;
    let events = timer_events(&c, &urn, 3).await;
    assert_eq!(events.len(), 3, "{events:?}");
    assert!(events.iter().all(|e| e["trigger_name"] == "hourly"));
    // A disabled timer stops.
    let r = emu
        .put(
            &format!("/fgs/triggers/{}/TIMER/{id}", encode(&format!("{urn}:latest"))),
            json!({"trigger_status": "DISABLED"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    emu.admin("POST", "/clock/advance?seconds=36000", None).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        timer_events(&c, &urn, 4).await.len(),
        3,
        "a disabled timer does not fire"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_and_the_report_count_invocations_failures_and_durations() {
    let emu = Emu::start().await;
    let code =
        "def handler(event, context):\n    if event.get('fail'):\n        raise ValueError('no')\n    return 1\n";
    let urn = function(&emu, "counted", &[("index.py", code)], json!({})).await;
    let other = function(&emu, "quiet", &[("index.py", code)], json!({})).await;
    let c = client(&emu);
    for body in [&br#"{}"#[..], br#"{}"#, br#"{"fail":true}"#] {
        c.invoke(&urn, body, false, TEN_S).await.unwrap();
    }
    c.invoke(&other, b"{}", false, TEN_S).await.unwrap();
    let stats = emu.get(&format!("/fgs/functions/{}/statistics/5", encode(&urn))).await;
    assert_eq!(stats.status, 200, "{}", stats.text);
    let total = |metric: &str| -> f64 {
        stats.body[metric]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["value"].as_f64().unwrap())
            .sum()
    };
    assert_eq!(
        (total("count"), total("fail_count"), total("function_error_count")),
        (3.0, 1.0, 1.0)
    );
    assert!(stats.body["max_duration"][0]["value"].as_f64().unwrap() > 0.0);
    assert!(stats.body["count"][0]["timestamp"].as_i64().unwrap() > 1_700_000_000_000);
    // A version URN counts that version only: none were made of v1.
    let r = emu
        .post(
            &format!("/fgs/functions/{}/versions", encode(&format!("{urn}:latest"))),
            json!({"version": "v1"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v1 = emu
        .get(&format!("/fgs/functions/{}/statistics/5", encode(&format!("{urn}:v1"))))
        .await;
    assert_eq!(v1.body["count"], json!([]));
    let report = emu.get_q("/fgs/function/report", &[("type", "count")]).await;
    assert_eq!(report.status, 200, "{}", report.text);
    assert_eq!(report.body["values"][0]["key"], urn.as_str());
    assert_eq!(report.body["values"][0]["value"], 3);
    assert_eq!(report.body["count"], 2);
    let fails = emu.get_q("/fgs/function/report", &[("type", "failcount")]).await;
    assert_eq!(fails.body["values"], json!([{"key": urn, "value": 1}]));
}

/// Whether process `pid` is gone (or dead, waiting to be reaped by whoever adopted it).
fn gone(pid: u64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/status")) {
        Err(_) => true,
        Ok(status) => status.lines().any(|l| l.starts_with("State:") && l.contains('Z')),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_die_with_the_emulator_even_when_it_is_killed() {
    let data = tempfile::tempdir().unwrap();
    let mut child = crate::context::fgform_command()
        .args(["emulator", "--listen", "127.0.0.1:0", "--data"])
        .arg(data.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let emu = Caller::new(emulator_addr(&mut child));
    let c = client(&emu);
    let py = function(
        &emu,
        "pypid",
        &[("index.py", "import os\ndef handler(e, c):\n    return os.getpid()\n")],
        json!({}),
    )
    .await;
    let js = "exports.handler = async () => process.pid;\n";
    let node = function(&emu, "nodepid", &[("index.js", js)], json!({"runtime": "Node.js18.15"})).await;
    let mut pids = Vec::new();
    for urn in [&py, &node] {
        let r = c.invoke(urn, b"{}", false, TEN_S).await.unwrap();
        assert!(!r.failed, "{}", r.result);
        pids.push(r.result.parse::<u64>().unwrap());
    }
    assert!(pids.iter().all(|p| !gone(*p)), "warm instances run between invocations");
    // Busy ones too: a Python handler asleep and a Node handler spinning, each having
    // written its pid where the test reads it.
    let py_busy =
        "import os, time\ndef handler(e, c):\n    open(e['file'], 'w').write(str(os.getpid()))\n    time.sleep(600)\n";
    let js_busy = "const fs = require('fs');\nexports.handler = async (e) => { fs.writeFileSync(e.file, String(process.pid)); for (;;) {} };\n";
    let busy_py = function(&emu, "pybusy", &[("index.py", py_busy)], json!({"timeout": 900})).await;
    let busy_js = function(
        &emu,
        "nodebusy",
        &[("index.js", js_busy)],
        json!({"runtime": "Node.js18.15", "timeout": 900}),
    )
    .await;
    for (urn, name) in [(&busy_py, "py.pid"), (&busy_js, "js.pid")] {
        let file = data.path().join(name);
        let event = json!({"file": file}).to_string();
        c.invoke_async(urn, event.as_bytes()).await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::fs::read_to_string(&file).map_or(true, |s| s.is_empty()) {
            assert!(std::time::Instant::now() < deadline, "{name} never written");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        pids.push(std::fs::read_to_string(&file).unwrap().trim().parse().unwrap());
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while pids.iter().any(|p| !gone(*p)) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        pids.iter().all(|p| gone(*p)),
        "instances {pids:?} outlived the emulator"
    );
}

/// Waits up to 2 s for process `pid` to be gone; whether it is.
async fn wait_gone(pid: u64) -> bool {
    for _ in 0..100 {
        if gone(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_idle_instance_is_replaced_and_idle_ones_retire_after_ten_minutes() {
    let emu = Emu::start().await;
    let urn = function(
        &emu,
        "pid",
        &[("index.py", "import os\ndef handler(e, c):\n    return os.getpid()\n")],
        json!({}),
    )
    .await;
    let c = client(&emu);
    let pid = |r: fgform::client::invoke::Invoked| r.result.parse::<u64>().unwrap();
    let first = pid(c.invoke(&urn, b"{}", false, TEN_S).await.unwrap());
    // Killed from outside while idle: the next invocation gets a new instance, not an error.
    std::process::Command::new("kill")
        .args(["-9", &first.to_string()])
        .status()
        .unwrap();
    wait_gone(first).await;
    let second = c.invoke(&urn, b"{}", false, TEN_S).await.unwrap();
    assert!(!second.failed, "{}", second.result);
    let second = pid(second);
    assert_ne!(second, first);
    // Warm within ten minutes of the emulator's clock; retired after.
    emu.admin("POST", "/clock/advance?seconds=540", None).await;
    assert_eq!(pid(c.invoke(&urn, b"{}", false, TEN_S).await.unwrap()), second);
    emu.admin("POST", "/clock/advance?seconds=601", None).await;
    let third = pid(c.invoke(&urn, b"{}", false, TEN_S).await.unwrap());
    assert_ne!(third, second, "a new instance after ten idle minutes");
    assert!(wait_gone(second).await, "the retired instance was stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_async_invocation_is_cancelled_and_its_instance_killed() {
    let emu = Emu::start().await;
    let data = tempfile::tempdir().unwrap();
    let code =
        "import os, time\ndef handler(e, c):\n    open(e['file'], 'w').write(str(os.getpid()))\n    time.sleep(600)\n";
    let urn = function(&emu, "long", &[("index.py", code)], json!({"timeout": 900})).await;
    let c = client(&emu);
    let file = data.path().join("pid");
    let id = c
        .invoke_async(&urn, json!({"file": file}).to_string().as_bytes())
        .await
        .unwrap();
    let mut waited = 0;
    while std::fs::read_to_string(&file).map_or(true, |s| s.is_empty()) {
        assert!(waited < 400, "the handler never started");
        waited += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pid: u64 = std::fs::read_to_string(&file).unwrap().trim().parse().unwrap();
    let cancel = format!("/fgs/functions/{}/cancel", encode(&format!("{urn}:latest")));
    let r = emu.post(&cancel, json!({"request_id": id, "type": "force"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let record = ended(&c, &urn, &id).await;
    assert_eq!(record.status, "DISCARD");
    assert!(record.error_message.contains("cancelled"), "{record:?}");
    assert!(wait_gone(pid).await, "the running instance was killed");
    // An ended invocation cannot be cancelled; an unknown one is not found.
    let r = emu.post(&cancel, json!({"request_id": id})).await;
    assert_eq!((r.status, r.code()), (400, "FSS.0400"), "{}", r.text);
    let r = emu.post(&cancel, json!({"request_id": "nope"})).await;
    assert_eq!(r.status, 404, "{}", r.text);
}

/// A Python function `name` whose handler answers the version it runs as (and raises when
/// the event says `fail`), published as v1 (128 MB) and v2 (256 MB); its unqualified URN.
async fn two_versions_answering_theirs(emu: &Caller, name: &str) -> String {
    let code = "def handler(event, context):\n    if event.get('fail'):\n        raise ValueError('no')\n    return context.getVersion()\n";
    let urn = function(emu, name, &[("index.py", code)], json!({})).await;
    let versions = format!("/fgs/functions/{}/versions", encode(&urn));
    assert_eq!(emu.post(&versions, json!({"version": "v1"})).await.status, 200);
    let r = emu
        .put(
            &format!("/fgs/functions/{}/config", encode(&urn)),
            json!({"func_name": name, "handler": "index.handler", "memory_size": 256, "timeout": 10}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(emu.post(&versions, json!({"version": "v2"})).await.status, 200);
    urn
}

async fn alias(emu: &Caller, urn: &str, body: Value) {
    let r = emu.post(&format!("/fgs/functions/{}/aliases", encode(urn)), body).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

/// The sum of `metric` over the last `period` minutes of `urn` (any qualifier).
async fn stat(emu: &Caller, urn: &str, period: u32, metric: &str) -> f64 {
    let r = emu
        .get(&format!("/fgs/functions/{}/statistics/{period}", encode(urn)))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body[metric]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].as_f64().unwrap())
        .sum()
}

/// With `seed`, 1,000 invocations one after the other through an alias sending 10% to v2:
/// the version each ran (as the handler answered), and how many ran v1, v2 and went through
/// the alias as `ListFunctionStatistics` counts them.
async fn routed(seed: u64) -> (Vec<String>, [f64; 3]) {
    let emu = Emu::with(fgform::emulator::Config {
        seed: Some(seed),
        ..Default::default()
    })
    .await;
    let urn = two_versions_answering_theirs(&emu, "canary").await;
    alias(
        &emu,
        &urn,
        json!({"name": "prod", "version": "v1", "additional_version_weights": {"v2": 10}}),
    )
    .await;
    // Without the client's rate limit (20/s), which would make this take 50 s per emulator.
    let c = fgform::client::ClientBuilder::new()
        .endpoint(emu.url())
        .region(fgform::api::local::REGION)
        .project_id(&emu.project)
        .credentials(fgform::client::Credentials::AkSk(fgform::client::AkSk::new(
            fgform::api::local::ACCESS_KEY,
            fgform::api::local::SECRET_KEY,
        )))
        .retry_policy(fgform::client::RetryPolicy::none())
        .requests_per_second(None)
        .build()
        .unwrap();
    let through = format!("{urn}:!prod");
    let mut ran = Vec::new();
    for _ in 0..1000 {
        let out = c.invoke(&through, b"{}", false, TEN_S).await.unwrap();
        assert!(!out.failed, "{}", out.result);
        ran.push(out.result.trim_matches('"').to_string());
    }
    let counted = [
        stat(&emu, &format!("{urn}:v1"), 5, "count").await,
        stat(&emu, &format!("{urn}:v2"), 5, "count").await,
        stat(&emu, &format!("{urn}:!prod"), 5, "count").await,
    ];
    (ran, counted)
}

/// The same seed makes the same draws: two fresh emulators send the same invocations to the
/// same versions, and the share follows the weight. That another seed or no seed draws
/// differently is checked by `emulator::routing`'s unit tests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_alias_routing_repeats_and_keeps_the_weight() {
    let (ran, counted) = routed(42).await;
    let (again, counted_again) = routed(42).await;
    assert_eq!(ran, again, "the same seed routes each invocation to the same version");
    assert_eq!(counted, counted_again);
    let count = |v: &str| ran.iter().filter(|r| *r == v).count();
    let (v1, v2) = (count("v1"), count("v2"));
    assert_eq!(v1 + v2, 1000, "{ran:?}");
    assert!((70..=130).contains(&v2), "{v2} of 1000 went to v2 (weight 10)");
    assert_eq!(
        counted,
        [v1 as f64, v2 as f64, 1000.0],
        "the statistics agree with the handler"
    );
}

/// `ListFunctionStatistics` per qualifier: a version URN counts what that version ran, direct
/// or through an alias; an alias URN what went through the alias; the unqualified URN
/// everything; per minute of the emulator clock, with epoch-millisecond timestamps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_count_per_version_and_per_alias() {
    let emu = Emu::start().await;
    let urn = two_versions_answering_theirs(&emu, "split").await;
    // Everything through `prod` runs v2; everything through `stable` runs v1.
    alias(
        &emu,
        &urn,
        json!({"name": "prod", "version": "v1", "additional_version_weights": {"v2": 100}}),
    )
    .await;
    alias(&emu, &urn, json!({"name": "stable", "version": "v1"})).await;
    let c = client(&emu);
    let q = |qualifier: &str| format!("{urn}:{qualifier}");
    let calls: [(String, &[u8], &str); 9] = [
        (q("v1"), b"{}", "v1"),
        (q("v2"), b"{}", "v2"),
        (q("v2"), br#"{"fail":true}"#, ""),
        (q("!prod"), b"{}", "v2"),
        (q("!prod"), b"{}", "v2"),
        (q("!prod"), br#"{"fail":true}"#, ""),
        (q("!stable"), b"{}", "v1"),
        (q("!stable"), b"{}", "v1"),
        (urn.clone(), b"{}", "latest"),
    ];
    for (target, event, expected) in &calls {
        let out = c.invoke(target, event, false, TEN_S).await.unwrap();
        if expected.is_empty() {
            assert!(out.failed, "{target}: {}", out.result);
        } else {
            assert_eq!(out.result.trim_matches('"'), *expected, "{target}");
        }
    }
    let counts = [
        ("v2", 5.0, 2.0),
        ("v1", 3.0, 0.0),
        ("!prod", 3.0, 1.0),
        ("!stable", 2.0, 0.0),
        ("latest", 1.0, 0.0),
    ];
    for (qualifier, count, errors) in counts {
        let at = q(qualifier);
        assert_eq!(stat(&emu, &at, 5, "count").await, count, "count of {qualifier}");
        assert_eq!(
            stat(&emu, &at, 5, "function_error_count").await,
            errors,
            "errors of {qualifier}"
        );
        assert_eq!(stat(&emu, &at, 5, "fail_count").await, errors, "fails of {qualifier}");
    }
    assert_eq!(stat(&emu, &urn, 5, "count").await, 9.0, "unqualified: every invocation");

    // Two minutes later on the emulator clock: a new bucket; a 1-minute period sees only it.
    emu.admin("POST", "/clock/advance?seconds=120", None).await;
    c.invoke(&q("!prod"), b"{}", false, TEN_S).await.unwrap();
    assert_eq!(stat(&emu, &q("!prod"), 1, "count").await, 1.0);
    assert_eq!(stat(&emu, &q("v2"), 1, "count").await, 1.0);
    assert_eq!(stat(&emu, &q("v1"), 1, "count").await, 0.0);
    let r = emu
        .get(&format!("/fgs/functions/{}/statistics/5", encode(&q("!prod"))))
        .await;
    let slots = r.body["count"].as_array().unwrap();
    assert_eq!(slots.len(), 2, "{slots:?}");
    let (t0, t1) = (
        slots[0]["timestamp"].as_i64().unwrap(),
        slots[1]["timestamp"].as_i64().unwrap(),
    );
    assert_eq!((t0 % 60_000, t1 % 60_000), (0, 0), "minute buckets in epoch ms");
    assert_eq!(t1 - t0, 120_000);
    assert!(t1 > 1_700_000_000_000, "{t1} is epoch milliseconds");
    assert_eq!(
        (slots[0]["value"].as_f64(), slots[1]["value"].as_f64()),
        (Some(3.0), Some(1.0))
    );

    // A deleted alias or function made again under the same name starts from nothing; the
    // versions keep what the deleted alias sent them.
    let aliases = format!("/fgs/functions/{}/aliases", encode(&urn));
    assert_eq!(emu.delete(&format!("{aliases}/prod")).await.status, 204);
    alias(&emu, &urn, json!({"name": "prod", "version": "v2"})).await;
    assert_eq!(stat(&emu, &q("!prod"), 5, "count").await, 0.0);
    assert_eq!(stat(&emu, &q("v2"), 5, "count").await, 6.0);
    assert_eq!(
        emu.delete(&format!("/fgs/functions/{}", encode(&urn))).await.status,
        204
    );
    two_versions_answering_theirs(&emu, "split").await;
    for qualifier in ["v1", "v2", "latest"] {
        assert_eq!(
            stat(&emu, &q(qualifier), 5, "count").await,
            0.0,
            "{qualifier} of the new function"
        );
    }
    assert_eq!(stat(&emu, &urn, 5, "count").await, 0.0);
}

/// `Client::function_statistics` reads what the emulator counts, per version and alias, and
/// `since` cuts at the emulator's minute slots (epoch milliseconds on both sides).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_reads_statistics_and_sums_them_since_a_time() {
    let emu = Emu::start().await;
    let urn = two_versions_answering_theirs(&emu, "gate").await;
    alias(
        &emu,
        &urn,
        json!({"name": "prod", "version": "v1", "additional_version_weights": {"v2": 100}}),
    )
    .await;
    let c = client(&emu);
    let (v1, v2, prod) = (format!("{urn}:v1"), format!("{urn}:v2"), format!("{urn}:!prod"));
    for event in [&b"{}"[..], b"{}", br#"{"fail":true}"#] {
        c.invoke(&prod, event, false, TEN_S).await.unwrap();
    }
    c.invoke(&v1, b"{}", false, TEN_S).await.unwrap();
    let first = c.function_statistics(&v2, 5).await.unwrap();
    let t0 = first.count.first().expect("a slot").timestamp;
    assert!(
        t0 > 1_700_000_000_000 && t0 % 60_000 == 0,
        "{t0} is a minute in epoch ms"
    );
    let totals = first.since(0);
    assert_eq!((totals.invocations, totals.errors, totals.rejected), (3, 1, 0));
    assert!(totals.max_duration_ms > 0.0);
    assert_eq!(c.function_statistics(&prod, 5).await.unwrap().since(0).invocations, 3);
    assert_eq!(c.function_statistics(&v1, 5).await.unwrap().since(0).invocations, 1);
    assert_eq!(c.function_statistics(&urn, 5).await.unwrap().since(0).invocations, 4);

    emu.admin("POST", "/clock/advance?seconds=120", None).await;
    c.invoke(&prod, b"{}", false, TEN_S).await.unwrap();
    let later = c.function_statistics(&v2, 5).await.unwrap();
    assert_eq!(later.since(0).invocations, 4);
    let after = later.since(t0 + 60_000);
    assert_eq!(
        (after.invocations, after.errors),
        (1, 0),
        "only the slot after the advance"
    );
    assert_eq!(after.error_rate(), Some(0.0));
    assert_eq!(later.since(t0).error_rate(), Some(0.25));
}
