//! Workflows (§8): create/list/show/update/batch delete, exact definition round trips and
//! the graph checks.

use fgform::emulator::{Config, Quotas};
use serde_json::{json, Value};

use crate::support::Emu;

/// A definition whose keys are deliberately not in alphabetical order, with a `Switch`
/// state carrying fields the SDK model does not know.
fn definition(emu: &Emu, name: &str) -> Value {
    let op = format!("urn:fss:local-1:{}:function:default:worker:latest", emu.project);
    json!({
        "name": name,
        "start": "first",
        "description": "order matters",
        "states": [
            { "type": "Operation", "id": "first", "name": "First", "end": false, "transition": "choose",
              "action_mode": "sequential",
              "actions": [{ "function_ref": { "ref_name": "work", "invoke_mode": "sync",
                                               "arguments": { "z": "$.a.b[0]", "a": "$CONST.k" } } }],
              "on_errors": [{ "error": "FSS.*", "transition": "done", "retry_ref": "again" }],
              "state_data_filter": { "output": "$.out", "input": "$" } },
            { "type": "Switch", "id": "choose", "name": "Choose",
              "choices": [{ "condition": "$.x > 1", "next": "nap", "zeta": [3, 2, 1] }],
              "default_choice": "done", "mystery": { "b": 1, "a": 2 } },
            { "type": "Sleep", "id": "nap", "name": "Nap", "duration": 5, "end": false, "transition": "done" },
            { "type": "End", "id": "done", "name": "Done", "end": true, "transition": "" }
        ],
        "functions": [{ "name": "work", "operation": op, "metadata": { "y": 1, "x": 2 } }],
        "retries": [{ "name": "again", "max_attempts": 3, "delay": 1 }],
        "constants": { "k": "v", "b": { "d": 1, "c": 2 } },
        "mode": "NORMAL",
        "triggers": [{ "trigger_name": "nightly", "trigger_type": "FLOWTIMER", "enabled": true }]
    })
}

#[tokio::test]
async fn create_show_round_trips_exactly() {
    let emu = Emu::start().await;
    let def = definition(&emu, "flow-a");
    let r = emu.post("/fgs/workflows", def.clone()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 36);
    assert_eq!(
        r.body["workflow_urn"],
        json!(format!(
            "urn:fss:local-1:{}:workflow:default:flow-a:latest",
            emu.project
        ))
    );
    assert_eq!(r.body["name"], "flow-a");
    assert_eq!(r.body["description"], "order matters");
    let ts = regex::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$").unwrap();
    assert!(ts.is_match(r.body["created_time"].as_str().unwrap()));
    assert_eq!(r.body["enable_stream_response"], false);

    let shown = emu.get(&format!("/fgs/workflows/{id}")).await;
    assert_eq!(shown.status, 200);
    assert_eq!(shown.body["id"], json!(id));
    // Byte-exact, key order included (Value equality would ignore order).
    assert_eq!(
        serde_json::to_string(&shown.body["definition"]).unwrap(),
        serde_json::to_string(&def).unwrap()
    );
    let raw = &shown.text;
    assert!(raw.find("\"start\"").unwrap() < raw.find("\"description\"").unwrap());
    assert!(raw.contains("\"mystery\":{\"b\":1,\"a\":2}"), "{raw}");
}

#[tokio::test]
async fn list_update_and_batch_delete() {
    let emu = Emu::start().await;
    let mut ids = Vec::new();
    for name in ["wf-1", "wf-2", "wf-3"] {
        let r = emu.post("/fgs/workflows", definition(&emu, name)).await;
        assert_eq!(r.status, 201, "{}", r.text);
        ids.push(r.body["id"].as_str().unwrap().to_string());
    }
    let all = emu.get("/fgs/workflows").await;
    assert_eq!(all.status, 200);
    assert_eq!(
        (all.body["total"].clone(), all.body["size"].clone()),
        (json!(3), json!(3))
    );
    let page = emu.get_q("/fgs/workflows", &[("limit", "2"), ("offset", "1")]).await;
    assert_eq!(
        (page.body["total"].clone(), page.body["size"].clone()),
        (json!(3), json!(2))
    );
    assert_eq!(page.body["workflows"].as_array().unwrap().len(), 2);
    let page = emu.get_q("/fgs/workflows", &[("limit", "500"), ("offset", "-4")]).await;
    assert_eq!(page.body["size"], 3, "limit > 200 ⇒ 200, offset < 0 ⇒ 0");
    let one = emu.get_q("/fgs/workflows", &[("workflow_name", "wf-2")]).await;
    assert_eq!(
        (one.body["total"].clone(), one.body["workflows"][0]["id"].clone()),
        (json!(1), json!(ids[1]))
    );
    let r = emu.get_q("/fgs/workflows", &[("limit", "many")]).await;
    assert_eq!((r.status, r.code()), (400, "FSS.1001"));

    let mut def = definition(&emu, "wf-1");
    def["description"] = json!("second");
    def["states"][2]["duration"] = json!(60);
    let upd = emu.put(&format!("/fgs/workflows/{}", ids[0]), def.clone()).await;
    assert_eq!(upd.status, 200, "{}", upd.text);
    assert_eq!(upd.body["description"], "second");
    let shown = emu.get(&format!("/fgs/workflows/{}", ids[0])).await;
    assert_eq!(
        serde_json::to_string(&shown.body["definition"]).unwrap(),
        serde_json::to_string(&def).unwrap()
    );
    let renamed = emu
        .put(&format!("/fgs/workflows/{}", ids[0]), definition(&emu, "wf-9"))
        .await;
    assert_eq!((renamed.status, renamed.code()), (400, "FSS.0400"));

    let urn = |n: &str| format!("urn:fss:local-1:{}:workflow:default:{n}:latest", emu.project);
    let del = emu
        .delete_with(
            "/fgs/workflows",
            json!({ "workflow_urns": [urn("wf-1"), urn("wf-3"), urn("nope"), "garbage"] }),
        )
        .await;
    assert_eq!(del.status, 200, "{}", del.text);
    assert_eq!(del.body["success"], json!([urn("wf-1"), urn("wf-3")]));
    let fails = del.body["fail"].as_array().unwrap();
    assert_eq!(fails.len(), 2);
    assert_eq!(fails[0]["workflow_urn"], json!(urn("nope")));
    assert!(fails[0]["error_detail"].is_string());
    let left = emu.get("/fgs/workflows").await;
    assert_eq!(left.body["total"], 1);
    assert_eq!(left.body["workflows"][0]["name"], "wf-2");
    let r = emu.delete_with("/fgs/workflows", json!({ "workflow_urns": [] })).await;
    assert_eq!((r.status, r.code()), (400, "FSS.0400"));
}

#[tokio::test]
async fn definition_checks_duplicates_and_missing() {
    let emu = Emu::start().await;
    let base = || definition(&emu, "checks");
    let mut cases: Vec<(&str, Value)> = Vec::new();
    let mut d = base();
    d.as_object_mut().unwrap().remove("start");
    cases.push(("start missing", d));
    let mut d = base();
    d["start"] = json!("nowhere");
    cases.push(("start unknown", d));
    let mut d = base();
    d["states"][0]["transition"] = json!("ghost");
    cases.push(("transition to unknown state", d));
    let mut d = base();
    d["states"][0]["on_errors"][0]["transition"] = json!("ghost");
    cases.push(("on_errors transition unknown", d));
    let mut d = base();
    d["states"][0]["actions"][0]["function_ref"]["ref_name"] = json!("unknown-fn");
    cases.push(("unknown ref_name", d));
    let mut d = base();
    d["states"][0]["on_errors"][0]["retry_ref"] = json!("never");
    cases.push(("unknown retry_ref", d));
    let mut d = base();
    d["states"][2]["id"] = json!("first");
    cases.push(("duplicate state id", d));
    let mut d = base();
    d["states"][3]["transition"] = json!("first");
    cases.push(("end state with transition", d));
    let mut d = base();
    d["states"][2]["transition"] = json!("");
    cases.push(("non-end state without transition", d));
    let mut d = base();
    d["states"] = json!([]);
    cases.push(("no states", d));
    let mut d = base();
    d.as_object_mut().unwrap().remove("constants");
    cases.push(("constants missing", d));
    let mut d = base();
    d["name"] = json!("9lives");
    cases.push(("bad name", d));
    let mut d = base();
    d["functions"][0]["operation"] = json!("not-a-urn!");
    cases.push(("bad operation", d));
    let mut d = base();
    d["functions"][0]["operation"] = json!("worker");
    cases.push(("short form is not a URN", d));
    let mut d = base();
    d["functions"][0]["operation"] = json!(format!(
        "urn:fss:local-1:{}:function:default:bad!name:latest",
        emu.project
    ));
    cases.push(("bad function name in operation", d));
    let mut d = base();
    d["mode"] = json!("TURBO");
    cases.push(("bad mode", d));
    for (what, def) in cases {
        let r = emu.post("/fgs/workflows", def).await;
        assert_eq!((r.status, r.code()), (400, "FSS.0400"), "{what}: {}", r.text);
        assert_eq!(
            r.body["request_id"].as_str().map(str::len),
            Some(32),
            "{what}: request_id in the body"
        );
    }
    assert_eq!(emu.get("/fgs/workflows").await.body["total"], 0);

    assert_eq!(emu.post("/fgs/workflows", base()).await.status, 201);
    let r = emu.post("/fgs/workflows", base()).await;
    assert_eq!((r.status, r.code()), (409, "FSS.0409"));
    assert!(r.body["request_id"].is_string());

    for r in [
        emu.get("/fgs/workflows/00000000-0000-4000-8000-000000000000").await,
        emu.put("/fgs/workflows/00000000-0000-4000-8000-000000000000", base())
            .await,
    ] {
        assert_eq!((r.status, r.code()), (404, "FSS.0404"));
        assert_eq!(r.body["request_id"].as_str().map(str::len), Some(32));
        assert_eq!(
            r.headers["x-request-id"].to_str().unwrap(),
            r.body["request_id"].as_str().unwrap()
        );
    }
}

#[tokio::test]
async fn workflow_quota_is_0403() {
    let emu = Emu::with(Config {
        quotas: Quotas {
            workflows: 1,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    assert_eq!(emu.post("/fgs/workflows", definition(&emu, "only")).await.status, 201);
    let r = emu.post("/fgs/workflows", definition(&emu, "second")).await;
    assert_eq!((r.status, r.code()), (403, "FSS.0403"));
    assert!(r.body["request_id"].is_string());
}
