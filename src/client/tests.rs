//! Unit tests of the client's settings resolution and error-body parsing.

use super::*;

fn env(pairs: &[(&str, &str)]) -> EnvSettings {
    let map: std::collections::HashMap<String, String> =
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    EnvSettings::read(|k| map.get(k).cloned())
}

#[test]
fn endpoint_defaults_to_the_region_and_can_be_overridden() {
    let c = ClientBuilder::new()
        .with_env(env(&[
            ("HW_ACCESS_KEY", "AK"),
            ("HW_SECRET_KEY", "SK"),
            ("HW_PROJECT_ID", "p"),
        ]))
        .region("cn-north-4")
        .build()
        .unwrap();
    assert_eq!(c.endpoint(), "https://functiongraph.cn-north-4.myhuaweicloud.com");
    assert_eq!(c.inner.host, "functiongraph.cn-north-4.myhuaweicloud.com");
    let c = ClientBuilder::new()
        .with_env(env(&[
            ("HW_ACCESS_KEY", "AK"),
            ("HW_SECRET_KEY", "SK"),
            ("HW_PROJECT_ID", "p"),
        ]))
        .region("cn-north-4")
        .endpoint("https://fg.example.com:8443/")
        .build()
        .unwrap();
    assert_eq!(c.endpoint(), "https://fg.example.com:8443");
    assert_eq!(c.inner.host, "fg.example.com:8443");
    assert_eq!(
        c.function_urn(None, "hello"),
        "urn:fss:cn-north-4:p:function:default:hello"
    );
}

#[test]
fn a_named_region_without_credentials_is_an_error_with_a_hint() {
    let err = ClientBuilder::new().region("cn-north-4").build().unwrap_err();
    assert!(matches!(err, ConfigError::MissingCredentials { .. }), "{err}");
    assert!(err.hint().unwrap().contains("HUAWEICLOUD_SDK_AK"));
    // Even with a loopback endpoint, a named (non-local) region never falls back.
    let err = ClientBuilder::new()
        .region("cn-north-4")
        .endpoint("http://127.0.0.1:8686")
        .build()
        .unwrap_err();
    assert!(matches!(err, ConfigError::MissingCredentials { .. }), "{err}");
    assert!(matches!(
        ClientBuilder::new().build().unwrap_err(),
        ConfigError::MissingRegion
    ));
    let err = ClientBuilder::new()
        .with_env(env(&[("HW_ACCESS_KEY", "AK"), ("HW_SECRET_KEY", "SK")]))
        .region("cn-north-4")
        .build()
        .unwrap_err();
    assert!(matches!(err, ConfigError::MissingProjectId { .. }), "{err}");
}

#[test]
fn explicit_loopback_endpoint_uses_the_emulator_defaults() {
    let c = ClientBuilder::new().endpoint("http://127.0.0.1:8686").build().unwrap();
    assert_eq!(c.project_id(), local::PROJECT_ID);
    assert_eq!(c.region(), local::REGION);
    assert!(ClientBuilder::new().endpoint("ftp://x").build().is_err());
    assert!(ClientBuilder::new().endpoint("not a url").build().is_err());
}

#[test]
fn error_bodies_in_every_documented_spelling() {
    let e = error_from_body(
        "GET",
        "/p",
        404,
        br#"{"error_code":"FSS.1051","error_msg":"Not found"}"#,
        None,
    );
    assert_eq!((e.code(), e.status()), (Some("FSS.1051"), Some(404)));
    let e = error_from_body(
        "GET",
        "/p",
        401,
        br#"{"error_msg":"x","error_code":"APIGW.0301","request_id":"r1"}"#,
        None,
    );
    assert_eq!(e.request_id(), Some("r1"));
    let e = error_from_body(
        "GET",
        "/p",
        400,
        br#"{"errorCode":"A","errorMsg":"b"}"#,
        Some("h".into()),
    );
    assert_eq!((e.code(), e.request_id()), (Some("A"), Some("h")));
    let e = error_from_body("GET", "/p", 400, br#"{"error":{"code":"N.1","message":"m"}}"#, None);
    assert_eq!(e.code(), Some("N.1"));
    let e = error_from_body("GET", "/p", 502, b"<html>bad gateway</html>", None);
    assert!(matches!(e, ApiError::UnexpectedBody { status: 502, .. }), "{e}");
    assert!(e.is_retryable());
}
