//! The request log of a scripted session, pinned with insta: `[method, operation, status, error_code]`.

use serde_json::{json, Value};

use crate::support::{encode, Emu};

#[tokio::test]
async fn request_log_of_a_scripted_session() {
    let emu = Emu::start().await;
    let urn = emu.urn("snap");
    emu.create_function("snap").await;
    emu.post(
        &format!("/fgs/triggers/{urn}"),
        json!({ "trigger_type_code": "TIMER",
                "event_data": { "name": "tick", "schedule_type": "Rate", "schedule": "1m" } }),
    )
    .await;
    emu.get(&format!("/fgs/triggers/{urn}")).await;
    emu.put(
        &format!("/fgs/functions/{urn}/async-invoke-config"),
        json!({ "max_async_event_age_in_seconds": 600 }),
    )
    .await;
    emu.post(&format!("/fgs/functions/{urn}/versions"), json!({ "version": "v1" }))
        .await;
    emu.post(&format!("/fgs/functions/{urn}/versions"), json!({ "version": "v2" }))
        .await;
    emu.post(
        &format!("/fgs/functions/{urn}/aliases"),
        json!({ "name": "prod", "version": "v1" }),
    )
    .await;
    let v1 = encode(&format!("urn:fss:local-1:{}:function:default:snap:v1", emu.project));
    emu.delete(&format!("/fgs/functions/{v1}")).await;
    emu.delete(&format!("/fgs/functions/{urn}/aliases/prod")).await;
    emu.delete(&format!("/fgs/functions/{}", emu.base_urn("snap"))).await;
    emu.get(&format!("/fgs/functions/{urn}/config")).await;
    emu.get("/fgs/functions").await;

    let triples: Vec<Value> = emu
        .log()
        .await
        .iter()
        .map(|e| {
            json!([
                e["method"],
                e["operation"],
                e["status"],
                e.get("error_code").cloned().unwrap_or(Value::Null)
            ])
        })
        .collect();
    insta::assert_json_snapshot!(triples);
}
