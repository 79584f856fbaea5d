//! The HTTP front as a client sees it: what axum would do on its own (405, HEAD through
//! GET routes, a client's request id) is answered as the gateway does, and the handle
//! stops the server when dropped.

use std::time::Duration;

use super::{start, Config};
use crate::api::REQUEST_ID_HEADER;

async fn emulator() -> super::EmulatorHandle {
    start(Config {
        no_auth: true,
        ..Config::default()
    })
    .await
    .expect("emulator starts")
}

fn functions_url(emu: &super::EmulatorHandle) -> String {
    format!("{}/v2/{}/fgs/functions", emu.url(), emu.config().project_id)
}

#[tokio::test]
async fn a_method_no_operation_has_is_the_gateways_404_not_a_405() {
    let emu = emulator().await;
    let client = reqwest::Client::new();
    for method in [reqwest::Method::PATCH, reqwest::Method::HEAD, reqwest::Method::PUT] {
        let resp = client
            .request(method.clone(), functions_url(&emu))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404, "{method}");
    }
    let body: serde_json::Value = client
        .patch(functions_url(&emu))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["error_code"], "APIGW.0101");
    assert_eq!(body["request_id"].as_str().map(str::len), Some(32));
    let logged: Vec<String> = emu.requests().iter().map(|e| e.operation.to_string()).collect();
    assert_eq!(logged, ["(unknown)"; 4]);
}

#[tokio::test]
async fn a_trailing_slash_routes_and_is_logged_as_sent() {
    let emu = emulator().await;
    let resp = reqwest::get(format!("{}/", functions_url(&emu))).await.unwrap();
    assert_eq!(resp.status(), 200);
    let log = emu.requests();
    assert_eq!(log[0].operation, crate::api::Operation::ListFunctions);
    assert!(log[0].path.ends_with("/fgs/functions/"), "{}", log[0].path);
}

#[tokio::test]
async fn every_answer_carries_a_fresh_request_id_never_the_clients() {
    let emu = emulator().await;
    let resp = reqwest::Client::new()
        .get(functions_url(&emu))
        .header(REQUEST_ID_HEADER, "mine")
        .send()
        .await
        .unwrap();
    let id = resp.headers()[REQUEST_ID_HEADER].to_str().unwrap().to_string();
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    assert_eq!(emu.requests()[0].request_id, id);
}

#[tokio::test]
async fn dropping_the_handle_stops_the_server() {
    let emu = emulator().await;
    let addr = emu.addr();
    assert!(tokio::net::TcpStream::connect(addr).await.is_ok());
    drop(emu);
    let mut refused = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        refused,
        "the emulator still accepts connections after its handle was dropped"
    );
}

#[tokio::test]
async fn a_literal_segment_shadows_a_parameter_only_for_its_own_method() {
    use crate::api::Operation;
    let emu = emulator().await;
    let client = reqwest::Client::new();
    let base = format!("{}/v2/{}/fgs", emu.url(), emu.config().project_id);
    let calls = [
        (reqwest::Method::GET, "dependencies/version", Operation::ShowDependency),
        (
            reqwest::Method::DELETE,
            "functions/enable-async-status-logs",
            Operation::DeleteFunction,
        ),
        (
            reqwest::Method::GET,
            "functions/tags/config",
            Operation::ShowFunctionConfig,
        ),
        (
            reqwest::Method::POST,
            "dependencies/version",
            Operation::CreateDependencyVersion,
        ),
        (reqwest::Method::GET, "functions/tags", Operation::ShowProjectTagsList),
    ];
    for (method, path, _) in &calls {
        client
            .request(method.clone(), format!("{base}/{path}"))
            .send()
            .await
            .unwrap();
    }
    let logged: Vec<_> = emu.requests().iter().map(|e| e.operation).collect();
    let expected: Vec<_> = calls
        .iter()
        .map(|(_, _, op)| super::LoggedOperation::Api(*op))
        .collect();
    assert_eq!(logged, expected);
}

#[tokio::test]
async fn a_path_parameter_that_is_not_utf8_reaches_the_operation_which_refuses_it() {
    let emu = emulator().await;
    let resp = reqwest::get(format!("{}/%FF/config", functions_url(&emu)))
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error_code"], "FSS.1309", "{body}");
    assert_eq!(emu.requests()[0].operation, crate::api::Operation::ShowFunctionConfig);
}

#[tokio::test]
async fn doubled_slashes_route_nowhere() {
    let emu = emulator().await;
    let project = &emu.config().project_id;
    for path in [
        format!("//v2/{project}/fgs/functions"),
        format!("/v2/{project}/fgs/functions//"),
    ] {
        let resp = reqwest::get(format!("{}{path}", emu.url())).await.unwrap();
        assert_eq!(resp.status(), 404, "{path}");
    }
}
