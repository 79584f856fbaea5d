//! Chaos rules (429/5xx, latency, drop, `after`, `times`, probability) through the flag
//! syntax and the admin API, and `/_emulator/reset`.

use fgform::emulator::{ChaosRule, Config};
use serde_json::{json, Value};

use crate::support::{function_body, Emu};

async fn with_flags(specs: &[&str]) -> Emu {
    Emu::with(Config {
        chaos: specs
            .iter()
            .map(|s| ChaosRule::parse(s).expect("valid chaos flag"))
            .collect(),
        ..Default::default()
    })
    .await
}

fn last(log: &[Value]) -> &Value {
    log.last().expect("a logged request")
}

#[tokio::test]
async fn status_429_per_method_with_retry_after_from_flags() {
    let emu = with_flags(&["status=429,method=POST,retry_after=3"]).await;
    let r = emu.post("/fgs/functions", function_body("x")).await;
    assert_eq!((r.status, r.code()), (429, "FSS.0429"));
    assert_eq!(r.headers["retry-after"], "3");
    assert_eq!(r.headers["x-request-id"].len(), 32);
    let list = emu.get("/fgs/functions").await;
    assert_eq!(list.status, 200, "GET is not matched");
    assert_eq!(list.body["count"], 0, "the throttled create did nothing");
    let log = emu.log().await;
    assert_eq!(log[0]["status"], 429);
    assert_eq!(log[0]["chaos"], "status:429");
    assert_eq!(log[0]["error_code"], "FSS.0429");
    assert!(log[1].get("chaos").is_none());
}

#[tokio::test]
async fn status_rules_through_the_admin_api() {
    let emu = Emu::start().await;
    emu.create_function("f").await;
    // 500 per operation, as JSON.
    let added = emu
        .admin(
            "POST",
            "/chaos",
            Some(json!({ "effect": "status", "status": 500, "operation": "ListFunctions" })),
        )
        .await;
    let id = added["id"].as_u64().expect("rule id");
    let r = emu.get("/fgs/functions").await;
    assert_eq!((r.status, r.code()), (500, "FSS.0500"));
    assert_eq!(
        emu.get(&format!("/fgs/functions/{}/config", emu.urn("f"))).await.status,
        200
    );
    let rules = emu.admin("GET", "/chaos", None).await;
    assert_eq!(rules["rules"][0]["operation"], "ListFunctions");
    emu.admin("DELETE", &format!("/chaos/{id}"), None).await;
    assert_eq!(emu.get("/fgs/functions").await.status, 200);

    // 503 per path glob, as a spec; a default 429 carries Retry-After: 1.
    emu.admin(
        "POST",
        "/chaos",
        Some(json!({ "spec": "status=503,path=/fgs/triggers*" })),
    )
    .await;
    let r = emu.get(&format!("/fgs/triggers/{}", emu.urn("f"))).await;
    assert_eq!((r.status, r.code()), (503, "FSS.0503"));
    assert!(r.headers.get("retry-after").is_none());
    assert_eq!(emu.get("/fgs/functions").await.status, 200);
    emu.admin(
        "PUT",
        "/chaos",
        Some(json!({ "rules": [{ "effect": "status", "status": 429, "method": "GET" }] })),
    )
    .await;
    let r = emu.get(&format!("/fgs/triggers/{}", emu.urn("f"))).await;
    assert_eq!(
        (r.status, r.headers["retry-after"].to_str().unwrap()),
        (429, "1"),
        "PUT replaced the 503 rule"
    );
    assert_eq!(
        emu.admin("GET", "/chaos", None).await["rules"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Custom error code, per method.
    emu.admin("PUT", "/chaos", Some(json!({ "rules": [] }))).await;
    emu.admin(
        "POST",
        "/chaos",
        Some(json!({ "spec": "status=500,method=DELETE,code=FSS.0502" })),
    )
    .await;
    let r = emu.delete(&format!("/fgs/functions/{}", emu.base_urn("f"))).await;
    assert_eq!((r.status, r.code()), (500, "FSS.0502"));
    emu.admin("DELETE", "/chaos", None).await;
    assert_eq!(
        emu.delete(&format!("/fgs/functions/{}", emu.base_urn("f")))
            .await
            .status,
        204
    );

    // Bad rules are refused.
    let bad = emu.admin("POST", "/chaos", Some(json!({ "spec": "status=200" }))).await;
    assert_eq!(bad["error_code"], "EMULATOR.0400");
    let bad = emu.admin("POST", "/chaos", Some(json!({ "effect": "latency" }))).await;
    assert_eq!(bad["error_code"], "EMULATOR.0400");
    assert_eq!(emu.admin("GET", "/chaos", None).await["rules"], json!([]));
}

#[tokio::test]
async fn latency_still_succeeds_and_is_logged() {
    let emu = with_flags(&["latency=1ms,op=ListFunctions"]).await;
    let r = emu.get("/fgs/functions").await;
    assert_eq!(r.status, 200);
    assert_eq!(last(&emu.log().await)["chaos"], "latency:1ms");
    emu.admin("POST", "/chaos", Some(json!({ "spec": "latency=2ms,method=GET" })))
        .await;
    assert_eq!(emu.get("/fgs/functions").await.status, 200);
    assert_eq!(last(&emu.log().await)["chaos"], "latency:3ms", "latency rules add up");
    emu.create_function("f").await;
    assert!(last(&emu.log().await).get("chaos").is_none());
}

#[tokio::test]
async fn drop_closes_the_connection() {
    let emu = with_flags(&["drop,op=ListFunctions"]).await;
    let r = emu.try_call("GET", &emu.path("/fgs/functions"), &[], None).await;
    assert!(r.is_err(), "the client sees a connection error");
    let log = emu.log().await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["status"], 0);
    assert_eq!(log[0]["chaos"], "drop");
    assert_eq!(log[0]["operation"], "ListFunctions");
    // Other operations are untouched.
    emu.create_function("f").await;

    // A drop before handling makes no change.
    emu.admin(
        "POST",
        "/chaos",
        Some(json!({ "effect": "drop", "operation": "CreateFunction", "times": 1 })),
    )
    .await;
    let r = emu
        .try_call("POST", &emu.path("/fgs/functions"), &[], Some(&function_body("never")))
        .await;
    assert!(r.is_err());
    let r = emu.get(&format!("/fgs/functions/{}/config", emu.urn("never"))).await;
    assert_eq!((r.status, r.code()), (404, "FSS.1051"));
    emu.create_function("never").await;
}

#[tokio::test]
async fn after_rules_make_the_change_then_lose_the_answer() {
    let emu = with_flags(&["status=503,after,op=CreateFunction,times=1"]).await;
    let r = emu.post("/fgs/functions", function_body("ambiguous")).await;
    assert_eq!((r.status, r.code()), (503, "FSS.0503"));
    let list = emu.get("/fgs/functions").await;
    assert_eq!(list.body["count"], 1, "the create happened");
    assert_eq!(list.body["functions"][0]["func_name"], "ambiguous");
    // A retry now meets the real state.
    let r = emu.post("/fgs/functions", function_body("ambiguous")).await;
    assert_eq!((r.status, r.code()), (409, "FSS.1061"));
    let log = emu.log().await;
    assert_eq!(log[0]["chaos"], "status:503,after");

    emu.admin(
        "POST",
        "/chaos",
        Some(json!({ "spec": "drop,after,op=CreateFunction" })),
    )
    .await;
    let r = emu
        .try_call("POST", &emu.path("/fgs/functions"), &[], Some(&function_body("lost")))
        .await;
    assert!(r.is_err(), "the answer is lost");
    emu.admin("DELETE", "/chaos", None).await;
    let r = emu.get(&format!("/fgs/functions/{}/config", emu.urn("lost"))).await;
    assert_eq!(r.status, 200, "but the function exists");
    let entry = emu
        .log()
        .await
        .into_iter()
        .find(|e| e["chaos"] == "drop,after")
        .expect("logged");
    assert_eq!(
        (entry["status"].clone(), entry["operation"].clone()),
        (json!(0), json!("CreateFunction"))
    );

    // Through the admin API as JSON too: an after-status on delete.
    emu.admin(
        "POST",
        "/chaos",
        Some(json!({ "effect": "status", "status": 500, "after": true, "operation": "DeleteFunction" })),
    )
    .await;
    let r = emu.delete(&format!("/fgs/functions/{}", emu.base_urn("lost"))).await;
    assert_eq!(r.status, 500);
    emu.admin("DELETE", "/chaos", None).await;
    let r = emu.get(&format!("/fgs/functions/{}/config", emu.urn("lost"))).await;
    assert_eq!((r.status, r.code()), (404, "FSS.1051"), "the delete happened");
}

#[tokio::test]
async fn times_expire_the_rule() {
    let emu = with_flags(&["status=503,times=2,method=GET"]).await;
    assert_eq!(emu.get("/fgs/functions").await.status, 503);
    assert_eq!(emu.get("/fgs/functions").await.status, 503);
    assert_eq!(emu.get("/fgs/functions").await.status, 200);
    assert_eq!(
        emu.admin("GET", "/chaos", None).await["rules"],
        json!([]),
        "the spent rule is removed"
    );

    emu.admin(
        "POST",
        "/chaos",
        Some(json!({ "effect": "status", "status": 429, "times": 1 })),
    )
    .await;
    assert_eq!(emu.get("/fgs/functions").await.status, 429);
    assert_eq!(emu.get("/fgs/functions").await.status, 200);
}

#[tokio::test]
async fn probability_zero_never_fires_and_one_always_does() {
    let emu = with_flags(&["status=500,p=0"]).await;
    for _ in 0..30 {
        assert_eq!(emu.get("/fgs/functions").await.status, 200);
    }
    emu.admin(
        "PUT",
        "/chaos",
        Some(json!({ "rules": [{ "effect": "status", "status": 502, "probability": 1.0 }] })),
    )
    .await;
    for _ in 0..30 {
        let r = emu.get("/fgs/functions").await;
        assert_eq!((r.status, r.code()), (502, "FSS.0502"));
    }
    let r = emu
        .admin("POST", "/chaos", Some(json!({ "spec": "status=500,p=1.5" })))
        .await;
    assert_eq!(r["error_code"], "EMULATOR.0400");
}

#[tokio::test]
async fn reset_empties_state_log_and_rules() {
    let emu = Emu::start().await;
    emu.create_function("f").await;
    let wf = json!({ "name": "wf", "start": "s", "functions": [], "constants": {}, "retries": [],
                     "states": [{ "id": "s", "name": "s", "type": "End", "end": true }] });
    assert_eq!(emu.post("/fgs/workflows", wf).await.status, 201);
    emu.admin("POST", "/chaos", Some(json!({ "spec": "latency=1ms" })))
        .await;
    let r = emu.admin("POST", "/reset", None).await;
    assert_eq!(r["reset"], true);
    assert_eq!(emu.log().await, Vec::<Value>::new());
    assert_eq!(emu.admin("GET", "/chaos", None).await["rules"], json!([]));
    let health = emu.admin("GET", "/health", None).await;
    assert_eq!(
        (health["functions"].clone(), health["workflows"].clone()),
        (json!(0), json!(0))
    );
    assert_eq!(emu.get("/fgs/functions").await.body["count"], 0);
    assert_eq!(emu.get("/fgs/workflows").await.body["total"], 0);
    // The emulator is usable afterwards, with the same names.
    emu.create_function("f").await;
}
