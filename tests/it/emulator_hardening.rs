//! The emulator as a network service: which projects it serves, which project ids reach a
//! store, how it treats cross-origin browsers on its control plane, slow or idle clients,
//! descriptor exhaustion, a non-loopback `--listen`, and the blobs of deleted code.

use fgform::api::local;
use fgform::emulator::Config;
use serde_json::json;

use crate::support::{self, function_body, Caller, Emu};

const OTHER_PROJECT: &str = "fedcba9876543210fedcba9876543210";

fn caller_for(emu: &Emu, project: &str) -> Caller {
    let mut c = Caller::new(emu.addr);
    c.project = project.to_string();
    c
}

#[tokio::test]
async fn a_project_the_emulator_does_not_serve_is_refused() {
    let emu = Emu::start().await;
    let stranger = caller_for(&emu, OTHER_PROJECT);
    let r = stranger.post("/fgs/functions", function_body("f")).await;
    assert_eq!((r.status, r.code()), (403, "FSS.0403"), "{}", r.text);
    assert!(
        r.body["error_msg"].as_str().unwrap().contains(OTHER_PROJECT),
        "{}",
        r.text
    );
    let r = stranger.get("/fgs/functions").await;
    assert_eq!(r.status, 403, "{}", r.text);
    // Nothing was created anywhere.
    let state = emu.admin("GET", "/state", None).await;
    assert_eq!(state["functions"], json!({}), "{state}");
    // The default project is still served.
    emu.create_function("f").await;
    // And an IAM token cannot be scoped to a project that is not served.
    let token = reqwest::Client::new()
        .post(format!("{}/v3/auth/tokens", emu.url()))
        .json(&json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": local::IAM_USER, "password": local::IAM_PASSWORD, "domain": {"name": local::IAM_USER}}}},
            "scope": {"project": {"id": OTHER_PROJECT}}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(token.status().as_u16(), 400);
}

#[tokio::test]
async fn every_project_given_is_served_and_isolated() {
    let emu = Emu::with(Config {
        extra_project_ids: vec![OTHER_PROJECT.into()],
        ..Config::default()
    })
    .await;
    let other = caller_for(&emu, OTHER_PROJECT);
    emu.create_function("mine").await;
    other.create_function("theirs").await;
    let names = |r: support::Reply| -> Vec<String> {
        r.body["functions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["func_name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(emu.get("/fgs/functions").await), ["mine"]);
    assert_eq!(names(other.get("/fgs/functions").await), ["theirs"]);
    let health = emu.admin("GET", "/health", None).await;
    assert_eq!(health["project_ids"], json!([local::PROJECT_ID, OTHER_PROJECT]));
}

#[tokio::test]
async fn a_project_id_outside_the_pattern_is_a_400_before_any_store() {
    // Without auth the id would reach the handlers: this proves the check sits before them.
    for no_auth in [false, true] {
        let emu = Emu::with(Config {
            no_auth,
            ..Config::default()
        })
        .await;
        let bad = [
            format!("{}%2Fx", local::PROJECT_ID),
            format!("{}%2F", local::PROJECT_ID),
            "a%20b".to_string(),
            "a.b".to_string(),
            "p".repeat(65),
        ];
        for project in &bad {
            let c = caller_for(&emu, project);
            for _ in 0..3 {
                let r = c.post("/fgs/functions", function_body("q")).await;
                assert_eq!((r.status, r.code()), (400, "FSS.0400"), "{project}: {}", r.text);
            }
            let r = c.get("/fgs/quotas").await;
            assert_eq!(r.status, 400, "{project}: {}", r.text);
        }
        let state = emu.admin("GET", "/state", None).await;
        assert_eq!(state["functions"], json!({}), "no_auth={no_auth}: {state}");
    }
    // The emulator refuses to be configured with such an id, too.
    let err = fgform::emulator::start(Config {
        extra_project_ids: vec!["a/b".into()],
        ..Config::default()
    })
    .await
    .err()
    .expect("refused");
    assert!(err.to_string().contains("a/b"), "{err}");
}
