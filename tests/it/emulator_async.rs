//! Async invocation config (§5), per qualifier.

use serde_json::{json, Value};

use crate::support::{encode, Emu};

fn qurn(emu: &Emu, q: &str) -> String {
    encode(&format!("urn:fss:local-1:{}:function:default:asy:{q}", emu.project))
}

async fn setup(emu: &Emu) {
    emu.create_function("asy").await;
    let r = emu
        .post(
            &format!("/fgs/functions/{}/versions", emu.urn("asy")),
            json!({ "version": "v1" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

fn cfg(urn: &str) -> String {
    format!("/fgs/functions/{urn}/async-invoke-config")
}

#[tokio::test]
async fn put_get_delete_per_qualifier() {
    let emu = Emu::start().await;
    setup(&emu).await;
    let latest = emu.urn("asy");
    let v1 = qurn(&emu, "v1");

    let r = emu.get(&cfg(&latest)).await;
    assert_eq!((r.status, r.code()), (404, "FSS.0404"), "never set");

    // Defaults: age 3600; retries [DECIDE] 3 (the response docs' default).
    let r = emu.put(&cfg(&latest), json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["max_async_event_age_in_seconds"], 3600);
    assert_eq!(r.body["max_async_retry_attempts"], 3);
    assert_eq!(r.body["enable_async_status_log"], false);
    assert_eq!(r.body["destination_config"], json!({}));
    assert!(r.body["func_urn"].as_str().unwrap().ends_with(":asy:latest"));
    let created = r.body["created_time"].clone();

    let dest = json!({
        "on_success": { "destination": "FunctionGraph",
                        "param": json!({ "func_urn": format!("urn:fss:local-1:{}:function:default:sink:latest", emu.project) }).to_string() },
        "on_failure": { "destination": "OBS", "param": "{\"bucket\":\"dlq\",\"prefix\":\"fail/\",\"expires\":30}" },
    });
    let r = emu
        .put(
            &cfg(&v1),
            json!({ "max_async_event_age_in_seconds": 60, "max_async_retry_attempts": 0,
                    "destination_config": dest, "enable_async_status_log": true }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body["func_urn"].as_str().unwrap().ends_with(":asy:v1"));
    assert_eq!(r.body["destination_config"], dest);

    let l = emu.get(&cfg(&latest)).await;
    assert_eq!(
        l.body["max_async_event_age_in_seconds"], 3600,
        "latest unaffected by v1"
    );
    let v = emu.get(&cfg(&v1)).await;
    assert_eq!(v.body["max_async_retry_attempts"], 0);
    assert_eq!(v.body["enable_async_status_log"], true);

    // PUT replaces; created_time is kept.
    let r = emu
        .put(&cfg(&latest), json!({ "max_async_event_age_in_seconds": 86400 }))
        .await;
    assert_eq!(r.body["max_async_event_age_in_seconds"], 86400);
    assert_eq!(r.body["created_time"], created);

    // The unqualified URN is latest.
    assert_eq!(
        emu.get(&cfg(&emu.base_urn("asy"))).await.body["max_async_event_age_in_seconds"],
        86400
    );

    assert_eq!(emu.delete(&cfg(&v1)).await.status, 204);
    let r = emu.get(&cfg(&v1)).await;
    assert_eq!((r.status, r.code()), (404, "FSS.0404"));
    let r = emu.delete(&cfg(&v1)).await;
    assert_eq!((r.status, r.code()), (404, "FSS.0404"));
    assert_eq!(emu.get(&cfg(&latest)).await.status, 200);

    // Aliases have their own config.
    let a = emu
        .post(
            &format!("/fgs/functions/{latest}/aliases"),
            json!({ "name": "live", "version": "v1" }),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let r = emu
        .put(&cfg(&qurn(&emu, "!live")), json!({ "max_async_retry_attempts": 2 }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body["func_urn"].as_str().unwrap().ends_with(":asy:!live"));
    assert_eq!(
        emu.get(&cfg(&qurn(&emu, "!live"))).await.body["max_async_retry_attempts"],
        2
    );
    assert_eq!(emu.get(&cfg(&v1)).await.status, 404, "the alias's config is not v1's");
    let list = emu.get(&format!("/fgs/functions/{latest}/async-invoke-configs")).await;
    assert_eq!(list.body["count"], 2);

    let r = emu.get(&cfg(&emu.urn("ghost"))).await;
    assert_eq!((r.status, r.code()), (404, "FSS.1051"));
    let r = emu.put(&cfg(&qurn(&emu, "v7")), json!({})).await;
    assert_eq!((r.status, r.code()), (404, "FSS.1052"));
}

#[tokio::test]
async fn ranges_and_destinations_are_checked() {
    let emu = Emu::start().await;
    setup(&emu).await;
    let path = cfg(&emu.urn("asy"));
    let d = |dest: &str, param: &str| json!({ "destination_config": { "on_failure": { "destination": dest, "param": param } } });
    let bad: Vec<(&str, Value)> = vec![
        ("age 0", json!({ "max_async_event_age_in_seconds": 0 })),
        ("age too big", json!({ "max_async_event_age_in_seconds": 86401 })),
        ("age string", json!({ "max_async_event_age_in_seconds": "60" })),
        ("retries negative", json!({ "max_async_retry_attempts": -1 })),
        ("retries too many", json!({ "max_async_retry_attempts": 9 })),
        ("unknown destination", d("KAFKA", "{\"topic\":\"x\"}")),
        ("param not json", d("SMN", "topic_urn=x")),
        ("smn without topic", d("SMN", "{}")),
        ("dis without stream", d("DIS", "{\"stream\":\"x\"}")),
        ("obs without bucket", d("OBS", "{\"prefix\":\"p\"}")),
        ("obs expires", d("OBS", "{\"bucket\":\"b\",\"expires\":366}")),
        ("func_urn not a urn", d("FunctionGraph", "{\"func_urn\":\"not a urn\"}")),
        (
            "no destination",
            json!({ "destination_config": { "on_success": { "param": "{}" } } }),
        ),
        (
            "no param",
            json!({ "destination_config": { "on_success": { "destination": "SMN" } } }),
        ),
        ("status log not bool", json!({ "enable_async_status_log": "yes" })),
    ];
    for (what, body) in bad {
        let r = emu.put(&path, body).await;
        assert_eq!((r.status, r.code()), (400, "FSS.0400"), "{what}: {}", r.text);
    }
    assert_eq!(emu.get(&path).await.status, 404, "failed PUTs stored nothing");

    for body in [
        json!({ "max_async_event_age_in_seconds": 1, "max_async_retry_attempts": 8 }),
        d("SMN", "{\"topic_urn\":\"urn:smn:cn-north-4:p:t\"}"),
        d("DIS", "{\"stream_name\":\"s\"}"),
        d("OBS", "{\"bucket\":\"b\",\"expires\":0}"),
    ] {
        let r = emu.put(&path, body.clone()).await;
        assert_eq!(r.status, 200, "{body}: {}", r.text);
    }
}

#[tokio::test]
async fn list_pages_with_page_info() {
    let emu = Emu::start().await;
    setup(&emu).await;
    for v in ["v2", "v3"] {
        emu.put(
            &format!("/fgs/functions/{}/config", emu.urn("asy")),
            json!({ "func_name": "asy", "handler": "index.handler", "memory_size": if v == "v2" { 256 } else { 512 }, "timeout": 30 }),
        )
        .await;
        let r = emu
            .post(
                &format!("/fgs/functions/{}/versions", emu.urn("asy")),
                json!({ "version": v }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    for q in ["latest", "v1", "v2", "v3"] {
        assert_eq!(emu.put(&cfg(&qurn(&emu, q)), json!({})).await.status, 200);
    }
    let list = format!("/fgs/functions/{}/async-invoke-configs", emu.urn("asy"));
    let all = emu.get(&list).await;
    assert_eq!(all.status, 200, "{}", all.text);
    assert_eq!(all.body["count"], 4);
    assert_eq!(all.body["async_invoke_configs"].as_array().unwrap().len(), 4);
    assert_eq!(all.body["page_info"]["current_count"], 4);

    let mut seen = Vec::new();
    let mut marker = 0u64;
    loop {
        let m = marker.to_string();
        let r = emu.get_q(&list, &[("marker", &m), ("limit", "3")]).await;
        assert_eq!(r.body["count"], 4);
        let items = r.body["async_invoke_configs"].as_array().unwrap();
        assert_eq!(r.body["page_info"]["current_count"], json!(items.len()));
        seen.extend(
            items
                .iter()
                .map(|c| c["func_urn"].as_str().unwrap().rsplit(':').next().unwrap().to_string()),
        );
        let next = r.body["page_info"]["next_marker"].as_u64().unwrap();
        assert_eq!(next, marker + items.len() as u64);
        if next >= 4 {
            break;
        }
        assert_eq!(items.len(), 3);
        marker = next;
    }
    seen.sort();
    assert_eq!(seen, ["latest", "v1", "v2", "v3"]);
    let r = emu.get_q(&list, &[("marker", "3"), ("limit", "3")]).await;
    assert_eq!(r.body["page_info"]["previous_marker"], 0);

    let r = emu.get_q(&list, &[("limit", "-1")]).await;
    assert_eq!((r.status, r.code()), (400, "FSS.1001"));
    let r = emu.get_q(&list, &[("marker", "x")]).await;
    assert_eq!((r.status, r.code()), (400, "FSS.1001"));
}
