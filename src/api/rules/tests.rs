use serde_json::{json, Value};

use super::*;

#[test]
fn rates_follow_the_api() {
    for ok in ["1m", "60m", "24h", "1d", "30d", "3m"] {
        assert_eq!(check_rate(ok), Ok(()), "{ok}");
    }
    for bad in ["0m", "61m", "25h", "31d", "1s", "m", "", "1.5h", "-1d", "1 d"] {
        assert!(check_rate(bad).is_err(), "{bad}");
    }
}

#[test]
fn crons_follow_the_api() {
    for ok in [
        "0 30 2 * * ?",
        "0 */5 * * *",
        "0 0 8-18 ? * MON-FRI",
        "0 0 0 1 JAN,jul ?",
        "CRON_TZ=Asia/Shanghai 0 0 9 * * ?",
        "@every 1h30m",
        "@every 90s",
    ] {
        assert_eq!(check_cron(ok), Ok(()), "{ok}");
    }
    for bad in [
        "* * *",
        "0 0 0 0 * ?",
        "0 60 * * * ?",
        "0 0 0 * 13 ?",
        "0 0 0 * * 7",
        "0 0 0 * * FOO",
        "@every",
        "@every 1 hour",
        "0 0 0 * * ? *",
        "0  0 0 * *",
        "0 5-1 * * *",
        "0 */0 * * *",
    ] {
        assert!(check_cron(bad).is_err(), "{bad}");
    }
}

#[test]
fn names_follow_the_api() {
    assert!(is_valid_function_name("a"));
    assert!(is_valid_function_name(&format!("a{}", "b".repeat(59))));
    assert!(!is_valid_function_name(&format!("a{}", "b".repeat(60))));
    assert!(!is_valid_function_name("a-"));
    assert!(!is_valid_function_name("1a"));
    assert!(is_valid_dependency_name("pillow.9-x"));
    assert!(!is_valid_dependency_name("pillow."));
    assert!(is_valid_stage_name("prod") && is_valid_stage_name("eu-west_2"));
    assert!(!is_valid_stage_name("pr.od") && !is_valid_stage_name("2prod") && !is_valid_stage_name("dev-"));
    assert!(is_valid_handler("index.handler", "Python3.9"));
    assert!(!is_valid_handler("index", "Python3.9"));
    assert!(is_valid_handler("-", "Custom Image"));
    assert!(is_valid_handler("com.example.Main::handle", "Java11"));
}

#[test]
fn name_rules_match_the_tables_lengths() {
    let longest = |max: usize| format!("a{}", "b".repeat(max - 1));
    type NameRule = fn(&str) -> bool;
    let rules: [(NameRule, usize); 5] = [
        (is_valid_function_name, FUNCTION_NAME_MAX),
        (is_valid_dependency_name, DEPENDENCY_NAME_MAX),
        (is_valid_workflow_name, WORKFLOW_NAME_MAX),
        (is_valid_timer_name, TIMER_NAME_MAX),
        (|n: &str| package_name(n).is_ok(), PACKAGE_NAME_MAX),
    ];
    for (rule, max) in rules {
        assert!(rule(&longest(max)), "{max}");
        assert!(!rule(&longest(max + 1)), "{max}");
        assert!(!rule(""), "{max}");
    }
    assert_eq!(package_name("my app").unwrap_err().code, "FSS.1004");
    assert_eq!(code_type("tar").unwrap_err().code, "FSS.1006");
    assert_eq!(code_type("zip"), Ok(()));
    assert_eq!(timer_name("9am").unwrap_err().code, "FSS.1109");
    assert!(alias_name(&longest(ALIAS_NAME_MAX)).is_ok() && alias_name(&longest(ALIAS_NAME_MAX + 1)).is_err());
    for bad in ["", "latest", "9to5", "blue-", "a.b"] {
        assert_eq!(alias_name(bad).unwrap_err().code, "FSS.1014", "{bad}");
    }
    assert!(version_name(&"1".repeat(42)).is_ok() && version_name(&"1".repeat(43)).is_err());
    assert_eq!(version_name("v1.2_rc-3"), Ok(()));
    for bad in ["", "latest", ".v1", "v 1", "v!"] {
        assert_eq!(
            version_name(bad).unwrap_err().message,
            format!("version name `{bad}` is invalid")
        );
    }
    assert_eq!(
        dependency_name("pillow.").unwrap_err().message,
        "dependency name `pillow.` is invalid"
    );
}

#[test]
fn tags_follow_the_tms_convention() {
    assert_eq!(tag_count(20), Ok(()));
    assert_eq!(
        tag_count(21).unwrap_err().message,
        "a function can carry at most 20 tags"
    );
    assert!(tag_key("").is_err() && tag_key(&"k".repeat(129)).is_err());
    assert_eq!(tag_key(&"k".repeat(128)), Ok(()));
    assert_eq!(tag_value("k", &"v".repeat(255)), Ok(()));
    assert_eq!(
        tag_value("k", &"v".repeat(256)).unwrap_err().message,
        "tag value of `k` is longer than 255 characters"
    );
}

#[test]
fn violations_carry_the_apis_code_and_message() {
    let v = function_name("1a").unwrap_err();
    assert_eq!((v.field.as_str(), v.code), ("func_name", "FSS.1002"));
    assert!(v.message.starts_with("func_name `1a` must start with a letter"), "{v}");
    assert_eq!(memory_size(300).unwrap_err().code, "FSS.1007");
    assert_eq!(memory_size(128), Ok(()));
    assert_eq!(timeout(2).unwrap_err().message, "timeout 2 is outside 3-259200 seconds");
    assert_eq!(
        max_instances("max_instance_num", 1001).unwrap_err().message,
        "max_instance_num 1001 is outside -1..1000"
    );
    assert_eq!(
        concurrent_num(0).unwrap_err().message,
        "strategy_config.concurrent_num 0 is outside 1..1000"
    );
    assert_eq!(user_data_keys("user_data", 21).unwrap_err().code, "FSS.1017");
    assert_eq!(user_data_keys("user_data", 20), Ok(()));
    assert_eq!(user_data_bytes("user_data", 4097).unwrap_err().code, "FSS.1018");
    assert_eq!(description(&"d".repeat(513)).unwrap_err().code, "FSS.1019");
    assert_eq!(mount_id("user_id", 1000).unwrap_err().code, "FSS.1075");
    assert_eq!(mount_id("user_id", -1), Ok(()));
    assert!(workflow_name("wf-1").is_ok() && workflow_name("1wf").is_err());
    assert!(workflow_mode("EXPRESS").is_ok() && workflow_mode("FAST").is_err());
}

#[test]
fn the_api_handler_rule_is_looser_than_the_manifests() {
    // The API only asks for a `.` and no whitespace; the manifest also wants a form.
    assert_eq!(handler("a..b", "Python3.9"), Ok(()));
    assert!(!is_valid_handler("a..b", "Python3.9"));
    assert_eq!(handler("anything", "http"), Ok(()));
    assert_eq!(handler("", "http").unwrap_err().message, "invalid handler");
    assert!(handler("index", "Python3.9").is_err());
    // What the manifest accepts, the API accepts: a 43-character handler of 3-byte
    // characters passes the character count but not the API's byte count.
    let wide = format!("{}.h", "é".repeat(64));
    assert!(handler(&wide, "Python3.9").is_err());
    assert!(!is_valid_handler(&wide, "Python3.9"));
}

const PROJECT: &str = "0123456789abcdef0123456789abcdef";

fn urn(name: &str) -> String {
    format!("urn:fss:local-1:{PROJECT}:function:default:{name}:latest")
}

fn valid() -> Value {
    json!({
        "name": "wf", "mode": "NORMAL", "start": "a", "constants": {},
        "functions": [{"name": "f", "operation": urn("f")}],
        "retries": [{"name": "r", "delay": 1, "max_attempts": 2}],
        "states": [
            {"id": "a", "type": "Operation", "transition": "b", "end": false,
             "actions": [{"function_ref": {"ref_name": "f", "invoke_mode": "sync"}}],
             "on_errors": [{"transition": "b", "retry_ref": "r"}]},
            {"id": "b", "type": "End"}
        ]
    })
}

fn check_with(edit: impl FnOnce(&mut Value)) -> Result<String, Violation> {
    let mut def = valid();
    edit(&mut def);
    workflow_definition(def.as_object().unwrap(), PROJECT)
}

#[test]
fn workflow_definitions_are_checked_as_a_graph() {
    assert_eq!(check_with(|_| {}), Ok("wf".to_string()));
    let message = |edit: fn(&mut Value)| check_with(edit).unwrap_err().message;
    assert_eq!(
        message(|d| d["start"] = json!("z")),
        "start `z` is not the id of a state"
    );
    assert_eq!(
        message(|d| d["states"][0]["transition"] = json!("z")),
        "state `a` transitions to `z`, which is not a state"
    );
    assert_eq!(
        message(|d| d["states"][1]["id"] = json!("a")),
        "state id `a` is used twice"
    );
    assert_eq!(
        message(|d| d["states"][0]["actions"][0]["function_ref"]["ref_name"] = json!("g")),
        "state `a` calls `g`, which is not in functions"
    );
    assert_eq!(
        message(|d| d["states"][0]["on_errors"][0]["retry_ref"] = json!("q")),
        "state `a` on_errors uses retry `q`, which is not in retries"
    );
    assert_eq!(
        message(|d| d["functions"][0]["operation"] = json!("f")),
        "functions[0].operation `f` is not a function URN"
    );
    let other = urn("f").replace(PROJECT, "ffffffffffffffffffffffffffffffff");
    let err = check_with(|d| d["functions"][0]["operation"] = json!(other)).unwrap_err();
    assert!(err.message.ends_with("is in another project"), "{err}");
    assert_eq!(err.code, INVALID_PARAMETER);
    assert_eq!(
        message(|d| d["mode"] = json!("FAST")),
        "mode `FAST` is not NORMAL or EXPRESS"
    );
    assert_eq!(
        message(|d| d["constants"] = Value::Null),
        "constants is required (use {} for none)"
    );
}

#[test]
fn trigger_and_async_rules_follow_the_api() {
    assert_eq!(trigger_type("TIMER"), Ok(()));
    assert_eq!(trigger_type("timer").unwrap_err().code, "FSS.1101");
    assert_eq!(trigger_status("TIMER", "DISABLED"), Ok(()));
    assert_eq!(trigger_status("OBS", "ACTIVE"), Ok(()));
    assert_eq!(
        trigger_status("OBS", "DISABLED").unwrap_err().message,
        "OBS triggers cannot be DISABLED"
    );
    assert_eq!(
        trigger_status("TIMER", "PAUSED").unwrap_err().message,
        "trigger_status `PAUSED` is not ACTIVE or DISABLED"
    );
    assert_eq!(async_event_age(86_400), Ok(()));
    assert_eq!(
        async_event_age(0).unwrap_err().message,
        "max_async_event_age_in_seconds 0 is outside 1-86400"
    );
    assert_eq!(async_retries(0), Ok(()));
    assert_eq!(depend_type("obs"), Ok(()));
    assert_eq!(depend_type("tar").unwrap_err().code, "FSS.1032");
    assert_eq!(
        async_retries(9).unwrap_err().message,
        "max_async_retry_attempts 9 is outside 0-8"
    );
}

#[test]
fn alias_weights_follow_the_api() {
    assert_eq!(alias_weights("v1", &[]), Ok(()));
    assert_eq!(alias_weights("v1", &[("v2", Some(10))]), Ok(()));
    assert_eq!(alias_weights("v1", &[("v2", Some(100))]), Ok(()));
    let two = alias_weights("v1", &[("v2", Some(10)), ("v3", Some(5))]).unwrap_err();
    assert_eq!(two.code, "FSS.1091");
    assert_eq!(
        alias_weights("v1", &[("latest", Some(10))]).unwrap_err().code,
        "FSS.1091"
    );
    assert_eq!(alias_weights("v1", &[("v1", Some(10))]).unwrap_err().code, "FSS.1093");
    assert_eq!(alias_weights("v1", &[("v2", Some(101))]).unwrap_err().code, "FSS.1092");
    assert_eq!(alias_weights("v1", &[("v2", None)]).unwrap_err().code, "FSS.1092");
}
