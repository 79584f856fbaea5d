//! Function tags (§9) on both path spellings, project tag keys, tag limits, and the
//! quotas endpoint (§3.9).

use serde_json::{json, Value};

use crate::support::{function_body, Emu};

fn tags(pairs: &[(&str, &str)]) -> Value {
    Value::Array(pairs.iter().map(|(k, v)| json!({ "key": k, "value": v })).collect())
}

#[tokio::test]
async fn tags_on_both_spellings() {
    let emu = Emu::start().await;
    emu.create_function("tagged").await;
    let urn = emu.urn("tagged");
    for prefix in ["/functions", "/fgs/functions"] {
        let r = emu.get(&format!("{prefix}/{urn}/tags")).await;
        assert_eq!(r.status, 200, "{prefix}: {}", r.text);
        assert_eq!(r.body["tags"], json!([]));
        assert_eq!(
            r.body["sys_tags"],
            json!([{ "key": "_sys_enterprise_project_id", "value": "0" }])
        );
    }
    let r = emu
        .post(
            &format!("/functions/{urn}/tags/create"),
            json!({ "tags": tags(&[("env", "dev"), ("team", "core")]), "action": "create" }),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(r.text.is_empty());
    let r = emu
        .post(
            &format!("/fgs/functions/{urn}/tags/create"),
            json!({ "tags": tags(&[("env", "prod"), ("cost", "42")]), "action": "create" }),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let shown = emu.get(&format!("/functions/{urn}/tags")).await;
    assert_eq!(
        shown.body["tags"],
        tags(&[("env", "prod"), ("team", "core"), ("cost", "42")]),
        "create upserts"
    );
    assert_eq!(emu.get(&format!("/fgs/functions/{urn}/tags")).await.body, shown.body);

    let r = emu
        .delete_with(
            &format!("/functions/{urn}/tags/delete"),
            json!({ "tags": tags(&[("team", "core")]), "action": "delete" }),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = emu
        .delete_with(
            &format!("/fgs/functions/{urn}/tags/delete"),
            json!({ "tags": tags(&[("cost", "")]), "action": "delete" }),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(
        emu.get(&format!("/functions/{urn}/tags")).await.body["tags"],
        tags(&[("env", "prod")])
    );

    let r = emu
        .post(
            &format!("/functions/{urn}/tags/create"),
            json!({ "tags": tags(&[("a", "b")]), "action": "delete" }),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "FSS.0400"), "action must match");
    let r = emu.get(&format!("/functions/{}/tags", emu.urn("ghost"))).await;
    assert_eq!((r.status, r.code()), (404, "FSS.1051"));
}

#[tokio::test]
async fn create_time_tags_and_project_keys() {
    let emu = Emu::start().await;
    let mut body = function_body("t1");
    body["tags"] = json!("env=dev,owner=ann");
    assert_eq!(emu.post("/fgs/functions", body).await.status, 200);
    let mut body = function_body("t2");
    body["tags"] = json!("[{\"key\":\"env\",\"value\":\"prod\"}]");
    assert_eq!(emu.post("/fgs/functions", body).await.status, 200);
    assert_eq!(
        emu.get(&format!("/functions/{}/tags", emu.urn("t1"))).await.body["tags"],
        tags(&[("env", "dev"), ("owner", "ann")])
    );
    for path in ["/functions/tags", "/fgs/functions/tags"] {
        let r = emu.get(path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        assert_eq!(
            r.body["tags"],
            json!([{ "key": "env", "values": ["dev", "prod"] }, { "key": "owner", "values": ["ann"] }])
        );
        assert_eq!(r.body["sys_tags"][0]["key"], "_sys_enterprise_project_id");
    }
}

#[tokio::test]
async fn tag_limits() {
    let emu = Emu::start().await;
    emu.create_function("lim").await;
    let path = format!("/functions/{}/tags/create", emu.urn("lim"));
    let twenty: Vec<(String, String)> = (0..20).map(|i| (format!("k{i}"), "v".to_string())).collect();
    let as_tags = |v: &[(String, String)]| -> Value {
        Value::Array(v.iter().map(|(k, v)| json!({ "key": k, "value": v })).collect())
    };
    assert_eq!(
        emu.post(&path, json!({ "tags": as_tags(&twenty), "action": "create" }))
            .await
            .status,
        204
    );
    let r = emu
        .post(&path, json!({ "tags": tags(&[("k20", "v")]), "action": "create" }))
        .await;
    assert_eq!((r.status, r.code()), (400, "FSS.0400"), "21st tag");
    let r = emu
        .post(&path, json!({ "tags": tags(&[("k0", "updated")]), "action": "create" }))
        .await;
    assert_eq!(r.status, 204, "updating an existing key is not a new tag");

    emu.create_function("lim2").await;
    let path = format!("/functions/{}/tags/create", emu.urn("lim2"));
    let long_key = "k".repeat(129);
    let long_value = "v".repeat(256);
    for (what, body) in [
        ("key too long", tags(&[(&long_key, "v")])),
        ("empty key", tags(&[("", "v")])),
        ("value too long", tags(&[("k", &long_value)])),
        ("duplicate key", tags(&[("k", "1"), ("k", "2")])),
        ("not a list", json!({ "k": "v" })),
    ] {
        let r = emu.post(&path, json!({ "tags": body, "action": "create" })).await;
        assert_eq!((r.status, r.code()), (400, "FSS.0400"), "{what}: {}", r.text);
    }
    let ok = tags(&[(&"k".repeat(128), &"v".repeat(255))]);
    assert_eq!(
        emu.post(&path, json!({ "tags": ok, "action": "create" })).await.status,
        204
    );
    let mut body = function_body("lim3");
    body["tags"] = json!("novalue");
    let r = emu.post("/fgs/functions", body).await;
    assert_eq!((r.status, r.code()), (400, "FSS.0400"));
}

#[tokio::test]
async fn quotas_reflect_usage() {
    let emu = Emu::start().await;
    let used = |r: &Value, ty: &str| -> (i64, i64) {
        let item = r["quotas"]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["type"] == ty)
            .unwrap()
            .clone();
        (item["quota"].as_i64().unwrap(), item["used"].as_i64().unwrap())
    };
    let r = emu.get("/fgs/quotas").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(used(&r.body, "fgs_func_num"), (400, 0));
    assert_eq!(used(&r.body, "fgs_func_code_size"), (51_200, 0));
    assert_eq!(used(&r.body, "fgs_workflow_num"), (100, 0));
    let types: Vec<&str> = r.body["quotas"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["type"].as_str().unwrap())
        .collect();
    for t in [
        "fgs_func_occurs",
        "fgs_func_scale_down_timeout",
        "fgs_func_pat_idle_time",
        "fgs_on_demand_instance_limit",
        "fgs_func_qos_limit",
    ] {
        assert!(types.contains(&t), "{t}");
    }

    emu.create_function("q1").await;
    emu.create_function("q2").await;
    let wf = json!({ "name": "wf", "start": "s", "functions": [], "constants": {}, "retries": [],
                     "states": [{ "id": "s", "name": "s", "type": "End", "end": true }] });
    assert_eq!(emu.post("/fgs/workflows", wf).await.status, 201);
    let r = emu.get("/fgs/quotas").await;
    assert_eq!(used(&r.body, "fgs_func_num"), (400, 2));
    assert_eq!(
        used(&r.body, "fgs_func_code_size"),
        (51_200, 1),
        "code size rounds up to MB"
    );
    assert_eq!(used(&r.body, "fgs_workflow_num"), (100, 1));
    emu.delete(&format!("/fgs/functions/{}", emu.base_urn("q1"))).await;
    assert_eq!(used(&emu.get("/fgs/quotas").await.body, "fgs_func_num"), (400, 1));
}
