//! Triggers (§6): TIMER in full, the other types' required fields and duplicate codes,
//! status updates in both body shapes, qualifier scoping and delete-all.

use fgform::emulator::{Config, Quotas};
use serde_json::{json, Value};

use crate::support::{encode, function_body, Emu, Reply};

fn qurn(emu: &Emu, name: &str, q: &str) -> String {
    encode(&format!("urn:fss:local-1:{}:function:default:{name}:{q}", emu.project))
}

fn timer(name: &str, st: &str, schedule: &str) -> Value {
    json!({ "trigger_type_code": "TIMER", "trigger_status": "ACTIVE", "event_type_code": "MessageCreated",
            "event_data": { "name": name, "schedule_type": st, "schedule": schedule, "user_event": "hi" } })
}

async fn create(emu: &Emu, urn: &str, body: Value) -> Reply {
    emu.post(&format!("/fgs/triggers/{urn}"), body).await
}

fn ids(r: &Reply) -> Vec<String> {
    r.body
        .as_array()
        .expect("triggers list is a bare array")
        .iter()
        .map(|t| t["trigger_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn timer_lifecycle() {
    let emu = Emu::start().await;
    emu.create_function("tf").await;
    let urn = emu.urn("tf");
    let r = create(&emu, &urn, timer("Timer-cpg3", "Rate", "3m")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["trigger_id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 36, "uuid");
    assert_eq!(r.body["trigger_type_code"], "TIMER");
    assert_eq!(r.body["trigger_status"], "ACTIVE");
    assert_eq!(
        r.body["event_data"],
        json!({ "name": "Timer-cpg3", "schedule_type": "Rate", "schedule": "3m", "user_event": "hi" })
    );
    let ts = regex::Regex::new(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$").unwrap();
    assert!(ts.is_match(r.body["created_time"].as_str().unwrap()));
    assert!(ts.is_match(r.body["last_updated_time"].as_str().unwrap()));

    for (i, (st, s)) in [
        ("Rate", "1d"),
        ("Rate", "24h"),
        ("Cron", "0 */5 * * * *"),
        ("Cron", "0 30 8 ? * MON-FRI"),
        ("Cron", "@every 1h30m"),
        ("Cron", "CRON_TZ=Asia/Shanghai 0 0 8 * * *"),
        ("Cron", "0 15 10 * JAN-DEC"),
    ]
    .into_iter()
    .enumerate()
    {
        let r = create(&emu, &urn, timer(&format!("t{i}"), st, s)).await;
        assert_eq!(r.status, 201, "{st} {s}: {}", r.text);
    }
    let list = emu.get(&format!("/fgs/triggers/{urn}")).await;
    assert_eq!(list.status, 200);
    assert_eq!(ids(&list).len(), 8);
    assert_eq!(ids(&list)[0], id);

    let one = format!("/fgs/triggers/{urn}/TIMER/{id}");
    let shown = emu.get(&one).await;
    assert_eq!(shown.status, 200);
    assert_eq!(shown.body, r.body);

    // Status in place, object event_data (merged).
    let upd = emu
        .put(
            &one,
            json!({ "trigger_status": "DISABLED", "event_data": { "user_event": "changed" } }),
        )
        .await;
    assert_eq!(upd.status, 200, "{}", upd.text);
    assert_eq!(upd.body["trigger_id"], json!(id), "updated in place");
    assert_eq!(upd.body["trigger_status"], "DISABLED");
    assert_eq!(upd.body["event_data"]["user_event"], "changed");
    assert_eq!(upd.body["event_data"]["schedule"], "3m");
    // Array event_data (the SDK model's shape): its first element merges.
    let upd = emu
        .put(
            &one,
            json!({ "trigger_status": "ACTIVE", "event_data": [{ "schedule": "10m" }] }),
        )
        .await;
    assert_eq!(upd.status, 200, "{}", upd.text);
    assert_eq!(upd.body["trigger_status"], "ACTIVE");
    assert_eq!(upd.body["event_data"]["schedule"], "10m");
    assert_eq!(upd.body["event_data"]["user_event"], "changed");
    let bad = emu.put(&one, json!({ "event_data": { "schedule": "99m" } })).await;
    assert_eq!((bad.status, bad.code()), (400, "FSS.1109"));
    let bad = emu.put(&one, json!({ "trigger_status": "PAUSED" })).await;
    assert_eq!((bad.status, bad.code()), (400, "FSS.0400"));
    assert_eq!(emu.get(&one).await.body["event_data"]["schedule"], "10m");

    assert_eq!(emu.delete(&one).await.status, 204);
    let gone = emu.get(&one).await;
    assert_eq!((gone.status, gone.code()), (404, "FSS.1140"));
    for r in [
        emu.delete(&one).await,
        emu.put(&one, json!({ "trigger_status": "ACTIVE" })).await,
    ] {
        assert_eq!((r.status, r.code()), (404, "FSS.1140"));
    }
    assert_eq!(ids(&emu.get(&format!("/fgs/triggers/{urn}")).await).len(), 7);
}

#[tokio::test]
async fn timer_errors() {
    let emu = Emu::with(Config {
        quotas: Quotas {
            triggers_per_type: 3,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    emu.create_function("te").await;
    let urn = emu.urn("te");
    let bad: Vec<(&str, Value, &str)> = vec![
        (
            "unknown type",
            json!({ "trigger_type_code": "FTP", "event_data": {} }),
            "FSS.1101",
        ),
        ("no type", json!({ "event_data": {} }), "FSS.1101"),
        ("rate 0m", timer("t", "Rate", "0m"), "FSS.1109"),
        ("rate 61m", timer("t", "Rate", "61m"), "FSS.1109"),
        ("rate 25h", timer("t", "Rate", "25h"), "FSS.1109"),
        ("rate 31d", timer("t", "Rate", "31d"), "FSS.1109"),
        ("rate 5s", timer("t", "Rate", "5s"), "FSS.1109"),
        ("cron 4 fields", timer("t", "Cron", "0 0 8 *"), "FSS.1109"),
        ("cron 7 fields", timer("t", "Cron", "0 0 8 * * * 2025"), "FSS.1109"),
        ("cron minute 60", timer("t", "Cron", "0 60 * * * *"), "FSS.1109"),
        ("cron month 13", timer("t", "Cron", "0 0 0 1 13 *"), "FSS.1109"),
        ("@every junk", timer("t", "Cron", "@every often"), "FSS.1109"),
        ("schedule_type", timer("t", "Daily", "1d"), "FSS.1109"),
        ("name starts with digit", timer("1t", "Rate", "1m"), "FSS.1109"),
        (
            "name too long",
            timer(&format!("t{}", "x".repeat(64)), "Rate", "1m"),
            "FSS.1109",
        ),
        (
            "no schedule",
            json!({ "trigger_type_code": "TIMER", "event_data": { "name": "t", "schedule_type": "Rate" } }),
            "FSS.1109",
        ),
        ("no event_data", json!({ "trigger_type_code": "TIMER" }), "FSS.1109"),
        (
            "bad status",
            json!({ "trigger_type_code": "TIMER", "trigger_status": "ON",
                    "event_data": { "name": "t", "schedule_type": "Rate", "schedule": "1m" } }),
            "FSS.0400",
        ),
    ];
    for (what, body, code) in bad {
        let r = create(&emu, &urn, body).await;
        assert_eq!((r.status, r.code()), (400, code), "{what}: {}", r.text);
    }
    assert_eq!(ids(&emu.get(&format!("/fgs/triggers/{urn}")).await).len(), 0);

    assert_eq!(create(&emu, &urn, timer("dup", "Rate", "1m")).await.status, 201);
    let r = create(&emu, &urn, timer("dup", "Cron", "@every 5m")).await;
    assert_eq!((r.status, r.code()), (409, "FSS.1148"));
    let disabled = json!({ "trigger_type_code": "TIMER", "trigger_status": "DISABLED",
                           "event_data": { "name": "off", "schedule_type": "Rate", "schedule": "1h" } });
    let r = create(&emu, &urn, disabled).await;
    assert_eq!((r.status, r.body["trigger_status"].clone()), (201, json!("DISABLED")));
    assert_eq!(create(&emu, &urn, timer("third", "Rate", "2m")).await.status, 201);
    let r = create(&emu, &urn, timer("fourth", "Rate", "2m")).await;
    assert_eq!((r.status, r.code()), (400, "FSS.1306"));

    let r = emu
        .get(&format!(
            "/fgs/triggers/{urn}/TIMER/00000000-0000-4000-8000-000000000000"
        ))
        .await;
    assert_eq!((r.status, r.code()), (404, "FSS.1140"));
    let r = emu
        .get(&format!("/fgs/triggers/{urn}/LTS/00000000-0000-4000-8000-000000000000"))
        .await;
    assert_eq!((r.status, r.code()), (404, "FSS.1131"));
    let r = emu
        .get(&format!("/fgs/triggers/{urn}/OBS/00000000-0000-4000-8000-000000000000"))
        .await;
    assert_eq!((r.status, r.code()), (404, "FSS.1136"));
    for (ty, code) in [
        ("SMN", "FSS.1132"),
        ("APIG", "FSS.1138"),
        ("DEDICATEDGATEWAY", "FSS.1138"),
        ("KAFKA", "FSS.1174"),
        ("DIS", "FSS.1131"),
    ] {
        let r = emu.get(&format!("/fgs/triggers/{urn}/{ty}/x")).await;
        assert_eq!((r.status, r.code()), (404, code), "{ty}");
    }
    let r = create(&emu, &emu.urn("ghost"), timer("t", "Rate", "1m")).await;
    assert_eq!((r.status, r.code()), (404, "FSS.1051"));
}

#[tokio::test]
async fn http_functions_cannot_have_timers() {
    let emu = Emu::start().await;
    let mut body = function_body("web");
    body["runtime"] = json!("http");
    body["handler"] = json!("bootstrap");
    let r = emu.post("/fgs/functions", body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = create(&emu, &emu.urn("web"), timer("t", "Rate", "1m")).await;
    assert_eq!((r.status, r.code()), (400, "FSS.1109"));
    let apig = create(&emu, &emu.urn("web"), apig_body("webapi", "/web")).await;
    assert_eq!(apig.status, 201, "{}", apig.text);
}

fn apig_body(name: &str, path: &str) -> Value {
    json!({ "trigger_type_code": "APIG", "event_data": {
        "name": name, "group_id": "grp1", "env_id": "DEFAULT_ENVIRONMENT_RELEASE_ID", "env_name": "RELEASE",
        "auth": "IAM", "protocol": "HTTPS", "path": path, "match_mode": "SWA", "req_method": "ANY",
        "backend_type": "FUNCTION", "type": 1, "sl_domain": "grp1.apig.example.com",
        "func_info": { "timeout": 5000 } } })
}

#[tokio::test]
async fn other_types_required_fields_duplicates_and_status() {
    let emu = Emu::start().await;
    emu.create_function("ot").await;
    let urn = emu.urn("ot");
    let obs = json!({ "trigger_type_code": "OBS", "event_data":
        { "bucket": "in", "events": ["s3:ObjectCreated:*"], "prefix": "up/", "suffix": ".jpg", "name": "obs1" } });
    let smn = json!({ "trigger_type_code": "SMN", "event_data": { "topic_urn": "urn:smn:cn-north-4:p:topic" } });
    let kafka = json!({ "trigger_type_code": "KAFKA", "event_data":
        { "instance_id": "k1", "topic_ids": ["t1"], "batch_size": 100 } });

    // Missing required fields, one per type with its own code.
    let bad: Vec<(&str, Value, &str)> = vec![
        (
            "obs no bucket",
            json!({ "trigger_type_code": "OBS", "event_data": { "events": ["s3:ObjectCreated:*"] } }),
            "FSS.1106",
        ),
        (
            "obs no events",
            json!({ "trigger_type_code": "OBS", "event_data": { "bucket": "b", "events": [] } }),
            "FSS.1106",
        ),
        (
            "obs bad event",
            json!({ "trigger_type_code": "OBS", "event_data": { "bucket": "b", "events": ["put"] } }),
            "FSS.1106",
        ),
        (
            "smn no topic",
            json!({ "trigger_type_code": "SMN", "event_data": {} }),
            "FSS.1102",
        ),
        (
            "apig no group",
            json!({ "trigger_type_code": "APIG", "event_data": { "name": "a", "env_id": "e",
            "auth": "IAM", "protocol": "HTTPS", "type": 1 } }),
            "FSS.1107",
        ),
        (
            "kafka no instance",
            json!({ "trigger_type_code": "KAFKA", "event_data": { "topic_ids": ["t"] } }),
            "FSS.1112",
        ),
        (
            "kafka batch",
            json!({ "trigger_type_code": "KAFKA", "event_data":
            { "instance_id": "k", "topic_ids": ["t"], "batch_size": 5000 } }),
            "FSS.1112",
        ),
        (
            "dedicated gateway",
            json!({ "trigger_type_code": "DEDICATEDGATEWAY", "event_data": { "name": "d" } }),
            "FSS.1417",
        ),
        (
            "lts",
            json!({ "trigger_type_code": "LTS", "event_data": { "log_group_id": "g" } }),
            "FSS.0400",
        ),
    ];
    for (what, body, code) in bad {
        let r = create(&emu, &urn, body).await;
        assert_eq!((r.status, r.code()), (400, code), "{what}: {}", r.text);
    }

    let r = create(&emu, &urn, obs.clone()).await;
    assert_eq!(
        (r.status, r.body["trigger_status"].clone()),
        (201, json!("ACTIVE")),
        "{}",
        r.text
    );
    let r = create(&emu, &urn, obs.clone()).await;
    assert_eq!((r.status, r.code()), (409, "FSS.1145"));
    assert_eq!(create(&emu, &urn, smn.clone()).await.status, 201);
    let r = create(&emu, &urn, smn).await;
    assert_eq!((r.status, r.code()), (409, "FSS.1141"));

    let a = create(&emu, &urn, apig_body("api1", "/one")).await;
    assert_eq!(a.status, 201, "{}", a.text);
    let tid = a.body["trigger_id"].as_str().unwrap();
    assert_eq!(tid.len(), 32, "APIG trigger ids are 32 hex");
    assert!(tid.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(a.body["event_data"]["triggerid"], json!(tid));
    assert_eq!(a.body["event_data"]["api_id"].as_str().unwrap().len(), 32);
    assert!(a.body["event_data"]["invoke_url"].as_str().unwrap().ends_with("/one"));
    let r = create(&emu, &urn, apig_body("api1", "/two")).await;
    assert_eq!((r.status, r.code()), (409, "FSS.1146"));
    let r = create(&emu, &urn, apig_body("api2", "/one")).await;
    assert_eq!((r.status, r.code()), (409, "FSS.1147"));
    let d = create(
        &emu,
        &urn,
        json!({ "trigger_type_code": "DEDICATEDGATEWAY", "event_data": apig_body("ded", "/d")["event_data"] }),
    )
    .await;
    assert_eq!(d.status, 201, "{}", d.text);

    let k = create(&emu, &urn, kafka.clone()).await;
    assert_eq!(
        (k.status, k.body["trigger_status"].clone()),
        (201, json!("DISABLED")),
        "KAFKA starts DISABLED"
    );
    let r = create(&emu, &urn, kafka).await;
    assert_eq!((r.status, r.code()), (409, "FSS.1150"));
    let kid = k.body["trigger_id"].as_str().unwrap();
    let r = emu
        .put(
            &format!("/fgs/triggers/{urn}/KAFKA/{kid}"),
            json!({ "trigger_status": "ACTIVE" }),
        )
        .await;
    assert_eq!((r.status, r.body["trigger_status"].clone()), (200, json!("ACTIVE")));

    // DISABLED only for some types.
    let mut obs2 = obs.clone();
    obs2["event_data"]["bucket"] = json!("other");
    obs2["trigger_status"] = json!("DISABLED");
    let r = create(&emu, &urn, obs2).await;
    assert_eq!((r.status, r.code()), (400, "FSS.0400"), "OBS cannot be DISABLED");
    let oid = emu.get(&format!("/fgs/triggers/{urn}")).await.body[0]["trigger_id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = emu
        .put(
            &format!("/fgs/triggers/{urn}/OBS/{oid}"),
            json!({ "trigger_status": "DISABLED" }),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "FSS.0400"));
    let dds = json!({ "trigger_type_code": "DDS", "trigger_status": "DISABLED", "event_data":
        { "instance_id": "i", "db_name": "d", "collection_name": "c", "batch_size": 10 } });
    assert_eq!(create(&emu, &urn, dds).await.status, 201);
    let lts = json!({ "trigger_type_code": "LTS", "trigger_status": "DISABLED", "event_data":
        { "log_group_id": "g", "log_topic_id": "t" } });
    assert_eq!(create(&emu, &urn, lts).await.status, 201);

    // DDS starts DISABLED like KAFKA.
    let dds = json!({ "trigger_type_code": "DDS", "event_data":
        { "instance_id": "i2", "db_name": "d", "collection_name": "c" } });
    let r = create(&emu, &urn, dds).await;
    assert_eq!((r.status, r.body["trigger_status"].clone()), (201, json!("DISABLED")));

    // Trigger names of the non-TIMER types: too long, invalid, taken.
    let cts = |name: &str| json!({ "trigger_type_code": "CTS", "event_data": { "name": name, "operations": ["FunctionGraph:Functions:Create"] } });
    let r = create(&emu, &urn, cts(&"c".repeat(65))).await;
    assert_eq!((r.status, r.code()), (400, "FSS.1317"));
    let r = create(&emu, &urn, cts("bad name")).await;
    assert_eq!(
        (r.status, r.code()),
        (502, "FSS.1319"),
        "§10 lists FSS.1319 with HTTP 502"
    );
    assert_eq!(create(&emu, &urn, cts("audit")).await.status, 201);
    let r = create(&emu, &urn, cts("audit")).await;
    assert_eq!((r.status, r.code()), (400, "FSS.1307"));

    // A trigger is found by its type too.
    let r = emu.get(&format!("/fgs/triggers/{urn}/SMN/{oid}")).await;
    assert_eq!((r.status, r.code()), (404, "FSS.1132"));
}

#[tokio::test]
async fn qualifiers_scope_lists_and_delete_all() {
    let emu = Emu::start().await;
    emu.create_function("qf").await;
    let r = emu
        .post(
            &format!("/fgs/functions/{}/versions", emu.urn("qf")),
            json!({ "version": "v1" }),
        )
        .await;
    assert_eq!(r.status, 200);
    let latest = emu.urn("qf");
    let v1 = qurn(&emu, "qf", "v1");
    assert_eq!(create(&emu, &latest, timer("a", "Rate", "1m")).await.status, 201);
    assert_eq!(create(&emu, &latest, timer("b", "Rate", "1m")).await.status, 201);
    // [DECIDE] timer names are unique per qualifier: the same name is fine on another one.
    let on_v1 = create(&emu, &v1, timer("a", "Rate", "1m")).await;
    assert_eq!(on_v1.status, 201, "{}", on_v1.text);
    let v1id = on_v1.body["trigger_id"].as_str().unwrap();

    assert_eq!(ids(&emu.get(&format!("/fgs/triggers/{latest}")).await).len(), 2);
    assert_eq!(
        ids(&emu.get(&format!("/fgs/triggers/{}", emu.base_urn("qf"))).await).len(),
        2
    );
    assert_eq!(ids(&emu.get(&format!("/fgs/triggers/{v1}")).await), [v1id]);
    let r = emu.get(&format!("/fgs/triggers/{latest}/TIMER/{v1id}")).await;
    assert_eq!((r.status, r.code()), (404, "FSS.1140"), "a v1 trigger is not latest's");
    assert_eq!(emu.get(&format!("/fgs/triggers/{v1}/TIMER/{v1id}")).await.status, 200);

    // Delete-all with a version URN: only that qualifier.
    assert_eq!(emu.delete(&format!("/fgs/triggers/{v1}")).await.status, 204);
    assert_eq!(ids(&emu.get(&format!("/fgs/triggers/{v1}")).await).len(), 0);
    assert_eq!(ids(&emu.get(&format!("/fgs/triggers/{latest}")).await).len(), 2);
    // Unqualified: every qualifier.
    assert_eq!(create(&emu, &v1, timer("c", "Rate", "1m")).await.status, 201);
    assert_eq!(
        emu.delete(&format!("/fgs/triggers/{}", emu.base_urn("qf")))
            .await
            .status,
        204
    );
    assert_eq!(ids(&emu.get(&format!("/fgs/triggers/{latest}")).await).len(), 0);
    assert_eq!(ids(&emu.get(&format!("/fgs/triggers/{v1}")).await).len(), 0);

    // Deleting a version deletes its triggers.
    assert_eq!(create(&emu, &v1, timer("d", "Rate", "1m")).await.status, 201);
    assert_eq!(emu.delete(&format!("/fgs/functions/{v1}")).await.status, 204);
    let r = emu.get(&format!("/fgs/triggers/{v1}")).await;
    assert_eq!((r.status, r.code()), (404, "FSS.1052"));
}
