use super::*;

#[test]
fn credentials_come_from_aws_then_huaweicloud_variables_and_never_show_the_secret() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    };
    let aws = Credentials::from_lookup(env(&[
        ("AWS_ACCESS_KEY_ID", "AKID"),
        ("AWS_SECRET_ACCESS_KEY", "very-secret"),
        ("AWS_SESSION_TOKEN", "tok-secret"),
        ("HUAWEICLOUD_SDK_AK", "HWAK"),
        ("HUAWEICLOUD_SDK_SK", "hw-secret"),
    ]))
    .unwrap();
    assert_eq!(aws.access_key_id, "AKID");
    assert_eq!(aws.session_token.as_deref(), Some("tok-secret"));
    let debug = format!("{aws:?}");
    assert!(
        !debug.contains("very-secret") && !debug.contains("tok-secret"),
        "{debug}"
    );
    let hw = Credentials::from_lookup(env(&[
        ("HUAWEICLOUD_SDK_AK", "HWAK"),
        ("HUAWEICLOUD_SDK_SK", "hw-secret"),
    ]))
    .unwrap();
    assert_eq!((hw.access_key_id.as_str(), hw.session_token), ("HWAK", None));
    let none = Credentials::from_lookup(env(&[])).unwrap_err();
    assert!(
        none.contains("AWS_ACCESS_KEY_ID") && none.contains("HUAWEICLOUD_SDK_AK"),
        "{none}"
    );
    let half = Credentials::from_lookup(env(&[("AWS_SECRET_ACCESS_KEY", "very-secret")])).unwrap_err();
    assert!(
        half.contains("AWS_ACCESS_KEY_ID is not") && !half.contains("very-secret"),
        "{half}"
    );
}

#[test]
fn object_names_sort_by_serial_and_sequence() {
    assert_eq!(history_suffix(7), ".history/00000000000000000007.json");
    assert_eq!(history_serial("00000000000000000007.json"), Some(7));
    assert_eq!(history_serial("index"), None);
    assert_eq!(journal_base("00000000000000000003-00000001764640000000000"), Some(3));
    assert_eq!(journal_base("garbage"), None);
    assert_eq!(heartbeat_of(Duration::from_secs(60)), Duration::from_secs(10));
    assert_eq!(heartbeat_of(Duration::from_secs(2)), Duration::from_secs(1));
}

#[test]
fn the_runtime_runs_from_inside_another_runtime() {
    let rt = Runtime::new("fgform-test").unwrap();
    assert_eq!(rt.block_on(async { 1 }), 1);
    let outer = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert_eq!(outer.block_on(async { rt.block_on(async { 2 }) }), 2);
    // Dropping it inside a runtime does not panic either.
    outer.block_on(async move { drop(rt) });
}

#[test]
fn the_lease_comes_from_fgform_lock_lease_seconds() {
    assert_eq!(lease_from(None), Ok(DEFAULT_LEASE));
    assert_eq!(lease_from(Some(" 6 ".into())), Ok(Duration::from_secs(6)));
    for bad in ["0", "-1", "1m", ""] {
        let err = lease_from(Some(bad.into())).unwrap_err();
        assert!(err.contains("FGFORM_LOCK_LEASE_SECONDS"), "{err}");
    }
}
