//! The emulator's front: routing of both URN spellings, auth outcomes, request ids,
//! unknown routes, malformed bodies, the request log.

use serde_json::json;

use crate::support::{self, Emu};

#[tokio::test]
async fn create_then_read_through_encoded_and_raw_urns() {
    let emu = Emu::start().await;
    let created = emu.create_function("hello").await;
    let zip = support::default_zip();
    assert_eq!(created.body["digest"], json!(support::sha512_hex(&zip)));
    assert_eq!(created.body["code_size"], json!(zip.len()));
    assert_eq!(created.body["cpu"], json!(300));
    assert!(created.body["func_urn"].as_str().unwrap().ends_with(":hello:latest"));
    let encoded = emu.get(&format!("/fgs/functions/{}/config", emu.urn("hello"))).await;
    assert_eq!(encoded.status, 200, "{}", encoded.text);
    let raw_urn = format!("urn:fss:local-1:{}:function:default:hello:latest", emu.project);
    let raw = emu.get(&format!("/fgs/functions/{raw_urn}/config")).await;
    assert_eq!(raw.status, 200, "{}", raw.text);
    for short in [
        "hello",
        "default:hello",
        &format!("{}:default:hello", emu.project),
        &format!("{}:default:hello:latest", emu.project),
    ] {
        let r = emu.get(&format!("/fgs/functions/{short}/config")).await;
        assert_eq!(r.status, 200, "{short}: {}", r.text);
    }
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let emu = Emu::start().await;
    for reply in [
        emu.get("/fgs/functions").await,
        emu.get("/fgs/functions/nope/config").await,
        emu.get("/nowhere").await,
    ] {
        let id = reply
            .headers
            .get("x-request-id")
            .expect("X-Request-Id")
            .to_str()
            .unwrap()
            .to_string();
        assert_eq!(id.len(), 32);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    }
}

#[tokio::test]
async fn unknown_routes_answer_apigw_0101_with_request_id_in_body() {
    let emu = Emu::start().await;
    let r = emu.get("/fgs/nothing-here").await;
    assert_eq!((r.status, r.code()), (404, "APIGW.0101"));
    assert_eq!(r.body["request_id"].as_str().unwrap().len(), 32);
}

#[tokio::test]
async fn wrong_secret_stale_date_and_tampered_body_are_rejected() {
    let emu = Emu::start().await;
    let body = serde_json::to_vec(&support::function_body("signed")).unwrap();
    let path = emu.path("/fgs/functions");
    let wrong = emu.call_raw("POST", &path, &[], body.clone(), "not-the-secret").await;
    assert_eq!((wrong.status, wrong.code()), (401, "APIGW.0301"));
    assert!(wrong.body["error_msg"]
        .as_str()
        .unwrap()
        .contains("verify aksk signature fail"));
    assert!(wrong.body["request_id"].is_string());

    // A date 20 minutes old, correctly signed for that date.
    let stale = (chrono::Utc::now() - chrono::Duration::minutes(20))
        .format("%Y%m%dT%H%M%SZ")
        .to_string();
    let host = emu.addr.to_string();
    let headers = fgform::api::signing::sign(
        fgform::api::signing::OutgoingRequest {
            method: "GET",
            raw_path: &path,
            query: &[],
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: b"",
            host: &host,
        },
        &emu.ak,
        &emu.sk,
        &stale,
    );
    let r = emu.send("GET", &path, &[], headers, Vec::new()).await;
    assert_eq!((r.status, r.code()), (401, "APIGW.0301"), "{}", r.text);

    // Sign one body, send another.
    let date = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let headers = fgform::api::signing::sign(
        fgform::api::signing::OutgoingRequest {
            method: "POST",
            raw_path: &path,
            query: &[],
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: &body,
            host: &host,
        },
        &emu.ak,
        &emu.sk,
        &date,
    );
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let r = emu.send("POST", &path, &[], headers, tampered).await;
    assert_eq!((r.status, r.code()), (401, "APIGW.0301"));

    // Unknown access key, and no credentials at all.
    let r = emu
        .send(
            "GET",
            &path,
            &[],
            vec![
                (
                    "Authorization".into(),
                    "SDK-HMAC-SHA256 Access=NOPE, SignedHeaders=host;x-sdk-date, Signature=00".into(),
                ),
                ("X-Sdk-Date".into(), date.clone()),
            ],
            Vec::new(),
        )
        .await;
    assert!(
        r.body["error_msg"].as_str().unwrap().contains("ak NOPE not exist"),
        "{}",
        r.text
    );
    let r = emu.send("GET", &path, &[], vec![], Vec::new()).await;
    assert_eq!((r.status, r.code()), (401, "APIGW.0301"));
    // Nothing was created by any of these.
    assert_eq!(emu.get("/fgs/functions").await.body["count"], json!(0));
}

#[tokio::test]
async fn iam_token_is_issued_and_accepted() {
    let emu = Emu::start().await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let auth = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "fgform", "password": fgform::api::local::IAM_PASSWORD, "domain": {"name": "acct"}}}},
        "scope": {"project": {"name": "local-1"}}}});
    let resp = http
        .post(format!("{}/v3/auth/tokens", emu.url()))
        .json(&auth)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let token = resp.headers()["x-subject-token"].to_str().unwrap().to_string();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["token"]["project"]["id"], json!(emu.project));
    let list = http
        .get(format!("{}{}", emu.url(), emu.path("/fgs/functions")))
        .header("X-Auth-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 200);
    let bad = http
        .get(format!("{}{}", emu.url(), emu.path("/fgs/functions")))
        .header("X-Auth-Token", "MIIforged")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    let mut wrong = auth.clone();
    wrong["auth"]["identity"]["password"]["user"]["password"] = json!("nope");
    let resp = http
        .post(format!("{}/v3/auth/tokens", emu.url()))
        .json(&wrong)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn malformed_json_wrong_types_and_oversize_bodies_are_4xx() {
    let emu = Emu::start().await;
    let path = emu.path("/fgs/functions");
    let r = emu.call_raw("POST", &path, &[], b"{not json".to_vec(), &emu.sk).await;
    assert_eq!((r.status, r.code()), (406, "FSS.0406"));
    let r = emu.call_raw("POST", &path, &[], b"[1,2]".to_vec(), &emu.sk).await;
    assert_eq!((r.status, r.code()), (400, "FSS.0400"));
    let mut body = support::function_body("typed");
    body["memory_size"] = json!("128");
    let r = emu.post("/fgs/functions", body).await;
    assert_eq!((r.status, r.code()), (400, "FSS.1007"));
    let big = vec![b' '; fgform::emulator::MAX_BODY_BYTES + 10];
    let r = emu.call_raw("POST", &path, &[], big, &emu.sk).await;
    assert_eq!((r.status, r.code()), (413, "APIGW.0201"));
}

#[tokio::test]
async fn request_log_records_operations_in_order() {
    let emu = Emu::start().await;
    emu.create_function("a").await;
    emu.get(&format!("/fgs/functions/{}/config", emu.urn("a"))).await;
    emu.delete(&format!("/fgs/functions/{}", emu.base_urn("a"))).await;
    assert_eq!(
        emu.operations().await,
        vec!["CreateFunction", "ShowFunctionConfig", "DeleteFunction"]
    );
    emu.admin("DELETE", "/requests", None).await;
    assert!(emu.operations().await.is_empty());
}

#[tokio::test]
async fn concurrent_creates_lose_nothing() {
    let emu = std::sync::Arc::new(Emu::start().await);
    let mut tasks = Vec::new();
    for i in 0..50 {
        let emu = emu.clone();
        tasks.push(tokio::spawn(async move {
            emu.post("/fgs/functions", support::function_body(&format!("f{i}")))
                .await
                .status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    // And 20 concurrent creates of one name: exactly one wins.
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let emu = emu.clone();
        tasks.push(tokio::spawn(async move {
            emu.post("/fgs/functions", support::function_body("same")).await.status
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1);
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 19);
    assert_eq!(emu.get("/fgs/functions").await.body["count"], json!(51));
}
