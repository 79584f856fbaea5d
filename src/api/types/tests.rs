use super::*;
use serde_json::json;

#[test]
fn requests_omit_unset_fields() {
    let body = CreateFunctionRequest {
        func_name: "f".into(),
        package: "default".into(),
        runtime: "Python3.9".into(),
        handler: "index.handler".into(),
        memory_size: 128,
        timeout: 3,
        code_type: "zip".into(),
        ..Default::default()
    };
    let v = serde_json::to_value(&body).unwrap();
    assert!(v.get("user_data").is_none() && v.get("func_code").is_none() && v.get("type").is_none());
}

#[test]
fn responses_are_lenient() {
    let f: FunctionConfig = serde_json::from_value(json!({
        "func_name": "f", "memory_size": 256, "last_modified": "2019-10-25 15:37:27",
        "brand_new_field": {"x": 1}, "strategy_config": {"concurrency": -1}
    }))
    .unwrap();
    assert_eq!(f.memory_size, 256);
    assert_eq!(f.extra.get("brand_new_field").unwrap()["x"], 1);
    assert_eq!(f.last_modified.epoch_seconds(), Some(1_572_017_847));
    let f: FunctionConfig =
        serde_json::from_value(json!({"user_data": null, "memory_size": null, "depend_version_list": null})).unwrap();
    assert_eq!((f.user_data.as_str(), f.memory_size), ("", 0));
    let d: DependencyVersion = serde_json::from_value(json!({"last_modified": 1660029887})).unwrap();
    assert_eq!(d.last_modified.epoch_seconds(), Some(1_660_029_887));
    let t = Timestamp::Text("2021-03-04T14:50:02+08:00".into());
    assert_eq!(t.epoch_seconds(), Some(1_614_840_602));
    assert_eq!(Timestamp::Epoch(1_660_029_887_000).epoch_seconds(), Some(1_660_029_887));
}

#[test]
fn emulator_response_types_keep_the_apis_keys() {
    let version = DependencyVersionResponse {
        version: DependencyVersion {
            id: "v".into(),
            dep_id: "d".into(),
            last_modified: Timestamp::Epoch(1),
            ..Default::default()
        },
        is_shared: false,
        download_link: None,
    };
    let v = serde_json::to_value(&version).unwrap();
    assert_eq!(
        (v["dep_id"].clone(), v["is_shared"].clone(), v["last_modified"].clone()),
        (json!("d"), json!(false), json!(1))
    );
    assert!(v.get("download_link").is_none());
    let back: DependencyVersion = serde_json::from_value(v).unwrap();
    assert_eq!(back, version.version);
    let package = serde_json::to_value(DependencyPackage::default()).unwrap();
    assert!(
        package.get("version").is_none() && package.get("last_modified").is_none() && package.get("dep_id").is_none()
    );
    let quota = QuotaResource {
        kind: "fgs_func_num".into(),
        ..Default::default()
    };
    assert_eq!(serde_json::to_value(quota).unwrap()["type"], "fgs_func_num");
}
