//! Versions and aliases (§4): publish, list, qualified reads, alias CRUD and their codes.

use fgform::emulator::{Config, Quotas};
use serde_json::{json, Value};

use crate::support::{encode, Emu};

fn qurn(emu: &Emu, name: &str, q: &str) -> String {
    encode(&format!("urn:fss:local-1:{}:function:default:{name}:{q}", emu.project))
}

async fn bump_memory(emu: &Emu, name: &str, memory: i64) {
    let r = emu
        .put(
            &format!("/fgs/functions/{}/config", emu.urn(name)),
            json!({ "func_name": name, "handler": "index.handler", "memory_size": memory, "timeout": 30 }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

async fn publish(emu: &Emu, name: &str, body: Value) -> crate::support::Reply {
    emu.post(&format!("/fgs/functions/{}/versions", emu.urn(name)), body)
        .await
}

/// A function with versions v1 (128 MB) and v2 (256 MB), latest at 512 MB.
async fn two_versions(emu: &Emu, name: &str) {
    emu.create_function(name).await;
    assert_eq!(publish(emu, name, json!({ "version": "v1" })).await.status, 200);
    bump_memory(emu, name, 256).await;
    assert_eq!(publish(emu, name, json!({ "version": "v2" })).await.status, 200);
    bump_memory(emu, name, 512).await;
}

#[tokio::test]
async fn publish_default_and_explicit_names() {
    let emu = Emu::start().await;
    let created = emu.create_function("pub").await;
    let r = emu
        .call(
            "POST",
            &emu.path(&format!("/fgs/functions/{}/versions", emu.urn("pub"))),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let name = r.body["version"].as_str().unwrap().to_string();
    let re = regex::Regex::new(r"^\d{8}-\d{6}$").unwrap();
    assert!(re.is_match(&name), "default version name {name}");
    assert!(r.body["func_urn"].as_str().unwrap().ends_with(&format!(":pub:{name}")));
    assert_eq!(r.body["digest"], created.body["digest"]);

    bump_memory(&emu, "pub", 256).await;
    let r = publish(&emu, "pub", json!({ "version": "v1", "description": "first cut" })).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["version"], "v1");
    assert_eq!(r.body["version_description"], "first cut");
    assert_eq!(r.body["memory_size"], 256);

    // Nothing changed since v1.
    let r = publish(&emu, "pub", json!({ "version": "v2" })).await;
    assert_eq!((r.status, r.code()), (400, "FSS.1016"));
    // A name already taken.
    bump_memory(&emu, "pub", 512).await;
    let r = publish(&emu, "pub", json!({ "version": "v1" })).await;
    assert_eq!((r.status, r.code()), (409, "FSS.1062"));
    // [DECIDE] §12.9: a stale digest precondition is a generic 400.
    let r = publish(&emu, "pub", json!({ "version": "v2", "digest": "0".repeat(128) })).await;
    assert_eq!((r.status, r.code()), (400, "FSS.0400"));
    let r = publish(
        &emu,
        "pub",
        json!({ "version": "v2", "digest": created.body["digest"] }),
    )
    .await;
    assert_eq!(r.status, 200, "a matching digest publishes: {}", r.text);
    let r = publish(&emu, "pub", json!({ "version": "bad name!" })).await;
    assert_eq!((r.status, r.code()), (400, "FSS.1015"));
    let r = emu
        .post(&format!("/fgs/functions/{}/versions", emu.urn("ghost")), json!({}))
        .await;
    assert_eq!((r.status, r.code()), (404, "FSS.1051"));
}

#[tokio::test]
async fn list_versions_latest_first_and_read_qualified() {
    let emu = Emu::start().await;
    two_versions(&emu, "lv").await;
    let r = emu.get(&format!("/fgs/functions/{}/versions", emu.urn("lv"))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let versions: Vec<&str> = r.body["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["latest", "v1", "v2"]);
    assert_eq!(
        (r.body["count"].clone(), r.body["next_marker"].clone()),
        (json!(3), json!(3))
    );
    assert_eq!(r.body["versions"][1]["memory_size"], 128);
    assert_eq!(r.body["versions"][1]["concurrency"], -1);
    let page = emu
        .get_q(
            &format!("/fgs/functions/{}/versions", emu.urn("lv")),
            &[("marker", "1"), ("maxitems", "1")],
        )
        .await;
    assert_eq!(page.body["versions"][0]["version"], "v1");
    assert_eq!(page.body["next_marker"], 2);

    let v1 = emu
        .get(&format!("/fgs/functions/{}/config", qurn(&emu, "lv", "v1")))
        .await;
    assert_eq!(v1.status, 200);
    assert_eq!(
        (v1.body["version"].clone(), v1.body["memory_size"].clone()),
        (json!("v1"), json!(128))
    );
    assert!(v1.body["func_urn"].as_str().unwrap().ends_with(":lv:v1"));

    let alias = emu
        .post(
            &format!("/fgs/functions/{}/aliases", emu.urn("lv")),
            json!({ "name": "stable", "version": "v2" }),
        )
        .await;
    assert_eq!(alias.status, 200, "{}", alias.text);
    for q in ["!stable", "stable"] {
        let r = emu.get(&format!("/fgs/functions/{}/config", qurn(&emu, "lv", q))).await;
        assert_eq!(r.status, 200, "{q}: {}", r.text);
        assert_eq!(r.body["memory_size"], 256, "{q} resolves to v2");
        assert!(r.body["func_urn"].as_str().unwrap().ends_with(":lv:!stable"), "{q}");
    }
    let r = emu
        .get(&format!("/fgs/functions/{}/config", qurn(&emu, "lv", "!nope")))
        .await;
    assert_eq!((r.status, r.code()), (404, "FSS.1053"));
    let r = emu
        .get(&format!("/fgs/functions/{}/config", qurn(&emu, "lv", "nope")))
        .await;
    assert_eq!((r.status, r.code()), (404, "FSS.1052"));
    // Versions are snapshots.
    let r = emu
        .put(
            &format!("/fgs/functions/{}/config", qurn(&emu, "lv", "v1")),
            json!({ "func_name": "lv", "handler": "index.handler", "memory_size": 1024, "timeout": 30 }),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "FSS.1015"));
}

#[tokio::test]
async fn alias_crud_with_weights() {
    let emu = Emu::start().await;
    two_versions(&emu, "al").await;
    let base = format!("/fgs/functions/{}/aliases", emu.urn("al"));
    let r = emu
        .post(
            &base,
            json!({ "name": "prod", "version": "v1", "description": "live",
                    "additional_version_weights": { "v2": 20 } }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let urn = format!("urn:fss:local-1:{}:function:default:al:!prod", emu.project);
    assert_eq!(r.body["alias_urn"], json!(urn));
    assert_eq!(r.body["additional_version_weights"], json!({ "v2": 20 }));
    let ts = regex::Regex::new(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$").unwrap();
    assert!(ts.is_match(r.body["last_modified"].as_str().unwrap()));

    let list = emu.get(&base).await;
    assert!(list.body.is_array(), "aliases list is a bare array");
    assert_eq!(list.body.as_array().unwrap().len(), 1);
    assert_eq!(list.body[0]["name"], "prod");

    let shown = emu.get(&format!("{base}/prod")).await;
    assert_eq!(shown.body["version"], "v1");
    assert_eq!(shown.body["description"], "live");

    let upd = emu
        .put(
            &format!("{base}/prod"),
            json!({ "version": "v2", "additional_version_weights": { "v1": 5 } }),
        )
        .await;
    assert_eq!(upd.status, 200, "{}", upd.text);
    assert_eq!(upd.body["version"], "v2");
    assert_eq!(upd.body["additional_version_weights"], json!({ "v1": 5 }));
    assert_eq!(upd.body["description"], "");
    assert_eq!(emu.get(&format!("{base}/prod")).await.body["version"], "v2");

    let alias_latest = emu.post(&base, json!({ "name": "edge", "version": "latest" })).await;
    assert_eq!(alias_latest.status, 200, "{}", alias_latest.text);

    let del = emu.delete(&format!("{base}/prod")).await;
    assert_eq!(del.status, 204);
    let r = emu.get(&format!("{base}/prod")).await;
    assert_eq!((r.status, r.code()), (404, "FSS.1053"));
    for r in [
        emu.delete(&format!("{base}/prod")).await,
        emu.put(&format!("{base}/prod"), json!({ "version": "v1" })).await,
    ] {
        assert_eq!((r.status, r.code()), (404, "FSS.1053"));
    }
}

/// The gray-traffic rules (`api::rules::alias_weights`) on create and update: one
/// additional version, never `latest` or the main version, a whole percentage 0–100; and a
/// gray version that does not exist is still FSS.1091.
#[tokio::test]
async fn alias_gray_weights_follow_the_api_rules() {
    let emu = Emu::start().await;
    two_versions(&emu, "gw").await;
    assert_eq!(publish(&emu, "gw", json!({ "version": "v3" })).await.status, 200);
    let base = format!("/fgs/functions/{}/aliases", emu.urn("gw"));
    let weights = |w: Value| json!({ "version": "v1", "additional_version_weights": w });
    let cases: Vec<(&str, Value, &str)> = vec![
        ("two additional versions", json!({ "v2": 10, "v3": 10 }), "FSS.1091"),
        ("latest as additional", json!({ "latest": 10 }), "FSS.1091"),
        ("main as additional", json!({ "v1": 10 }), "FSS.1093"),
        ("fractional weight", json!({ "v2": 10.5 }), "FSS.1092"),
        ("weight as text", json!({ "v2": "10" }), "FSS.1092"),
        ("weight over 100", json!({ "v2": 101 }), "FSS.1092"),
        ("negative weight", json!({ "v2": -1 }), "FSS.1092"),
        ("unknown gray version", json!({ "v9": 10 }), "FSS.1091"),
    ];
    for (what, w, code) in &cases {
        let mut body = weights(w.clone());
        body["name"] = json!("canary");
        let r = emu.post(&base, body).await;
        assert_eq!((r.status, r.code()), (400, *code), "create, {what}: {}", r.text);
    }
    assert_eq!(emu.get(&base).await.body, json!([]), "nothing was created");

    // The bounds themselves are accepted.
    for w in [0, 100] {
        let r = emu
            .post(
                &base,
                json!({ "name": format!("edge{w}"), "version": "v1", "additional_version_weights": { "v3": w } }),
            )
            .await;
        assert_eq!(r.status, 200, "weight {w}: {}", r.text);
        assert_eq!(r.body["additional_version_weights"], json!({ "v3": w }));
    }
    let r = emu
        .post(
            &base,
            json!({ "name": "canary", "version": "v1", "additional_version_weights": { "v2": 10 } }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    for (what, w, code) in &cases {
        let r = emu.put(&format!("{base}/canary"), weights(w.clone())).await;
        assert_eq!((r.status, r.code()), (400, *code), "update, {what}: {}", r.text);
    }
    let shown = emu.get(&format!("{base}/canary")).await;
    assert_eq!(
        shown.body["additional_version_weights"],
        json!({ "v2": 10 }),
        "refused updates changed nothing"
    );
}

#[tokio::test]
async fn alias_error_codes() {
    let emu = Emu::with(Config {
        quotas: Quotas {
            aliases: 2,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    two_versions(&emu, "ae").await;
    let base = format!("/fgs/functions/{}/aliases", emu.urn("ae"));
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        ("bad name", json!({ "name": "1bad", "version": "v1" }), 400, "FSS.1014"),
        (
            "name latest",
            json!({ "name": "latest", "version": "v1" }),
            400,
            "FSS.1014",
        ),
        ("no name", json!({ "version": "v1" }), 400, "FSS.1014"),
        (
            "unknown version",
            json!({ "name": "a1", "version": "v9" }),
            400,
            "FSS.1015",
        ),
        ("no version", json!({ "name": "a1" }), 400, "FSS.1015"),
        (
            "unknown gray version",
            json!({ "name": "a1", "version": "v1", "additional_version_weights": { "v9": 10 } }),
            400,
            "FSS.1091",
        ),
        (
            "weight over 100",
            json!({ "name": "a1", "version": "v1", "additional_version_weights": { "v2": 150 } }),
            400,
            "FSS.1092",
        ),
        (
            "negative weight",
            json!({ "name": "a1", "version": "v1", "additional_version_weights": { "v2": -1 } }),
            400,
            "FSS.1092",
        ),
        (
            "gray is main",
            json!({ "name": "a1", "version": "v1", "additional_version_weights": { "v1": 10 } }),
            400,
            "FSS.1093",
        ),
    ];
    for (what, body, status, code) in cases {
        let r = emu.post(&base, body).await;
        assert_eq!((r.status, r.code()), (status, code), "{what}: {}", r.text);
    }
    assert_eq!(emu.get(&base).await.body, json!([]));

    assert_eq!(
        emu.post(&base, json!({ "name": "a1", "version": "v1" })).await.status,
        200
    );
    let r = emu.post(&base, json!({ "name": "a1", "version": "v2" })).await;
    assert_eq!((r.status, r.code()), (409, "FSS.1063"));
    assert_eq!(
        emu.post(&base, json!({ "name": "a2", "version": "v2" })).await.status,
        200
    );
    let r = emu.post(&base, json!({ "name": "a3", "version": "v2" })).await;
    assert_eq!((r.status, r.code()), (403, "FSS.1043"));
    let r = emu
        .put(
            &format!("{base}/a1"),
            json!({ "version": "v1", "additional_version_weights": { "v1": 1 } }),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "FSS.1093"));

    // An alias with triggers cannot be deleted.
    let alias_urn = qurn(&emu, "ae", "!a1");
    let t = emu
        .post(
            &format!("/fgs/triggers/{alias_urn}"),
            json!({ "trigger_type_code": "TIMER", "event_data":
                    { "name": "tick", "schedule_type": "Rate", "schedule": "5m" } }),
        )
        .await;
    assert_eq!(t.status, 201, "{}", t.text);
    let r = emu.delete(&format!("{base}/a1")).await;
    assert_eq!((r.status, r.code()), (403, "FSS.1154"));
    assert_eq!(emu.delete(&format!("/fgs/triggers/{alias_urn}")).await.status, 204);
    assert_eq!(emu.delete(&format!("{base}/a1")).await.status, 204);
}

#[tokio::test]
async fn versions_keep_the_digest_they_were_cut_from() {
    let emu = Emu::start().await;
    let created = emu.create_function("dg").await;
    assert_eq!(publish(&emu, "dg", json!({ "version": "v1" })).await.status, 200);
    let zip = crate::support::zip_of("index.py", b"def handler(e, c):\n    return 2\n");
    let r = emu
        .put(
            &format!("/fgs/functions/{}/code", emu.urn("dg")),
            json!({ "code_type": "zip", "code_filename": "index.zip", "func_code": { "file": crate::support::b64(&zip) } }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v1 = emu
        .get(&format!("/fgs/functions/{}/code", qurn(&emu, "dg", "v1")))
        .await;
    assert_eq!(v1.body["digest"], created.body["digest"]);
    let latest = emu.get(&format!("/fgs/functions/{}/code", emu.urn("dg"))).await;
    assert_eq!(latest.body["digest"], json!(crate::support::sha512_hex(&zip)));
    // A code change is a change: publishing works without touching the config.
    let v2 = publish(&emu, "dg", json!({ "version": "v2" })).await;
    assert_eq!(v2.status, 200, "{}", v2.text);
    assert_eq!(v2.body["digest"], json!(crate::support::sha512_hex(&zip)));
    // Versions cannot take new code.
    let r = emu
        .put(
            &format!("/fgs/functions/{}/code", qurn(&emu, "dg", "v1")),
            json!({ "code_type": "zip", "code_filename": "index.zip", "func_code": { "file": crate::support::b64(&zip) } }),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "FSS.1015"));
    // Aliases are removed through the aliases API, not DeleteFunction.
    assert_eq!(
        emu.post(
            &format!("/fgs/functions/{}/aliases", emu.urn("dg")),
            json!({ "name": "cur", "version": "v2" })
        )
        .await
        .status,
        200
    );
    let r = emu
        .delete(&format!("/fgs/functions/{}", qurn(&emu, "dg", "!cur")))
        .await;
    assert_eq!((r.status, r.code()), (400, "FSS.1015"));
}

#[tokio::test]
async fn deleting_a_function_forgets_everything_it_owned() {
    let emu = Emu::start().await;
    two_versions(&emu, "gone").await;
    let urn = emu.urn("gone");
    emu.post(
        &format!("/fgs/functions/{urn}/aliases"),
        json!({ "name": "a", "version": "v1" }),
    )
    .await;
    emu.put(&format!("/fgs/functions/{urn}/async-invoke-config"), json!({}))
        .await;
    let t = emu
        .post(
            &format!("/fgs/triggers/{urn}"),
            json!({ "trigger_type_code": "TIMER", "event_data": { "name": "t", "schedule_type": "Rate", "schedule": "1m" } }),
        )
        .await;
    assert_eq!(t.status, 201);
    emu.post(
        &format!("/functions/{urn}/tags/create"),
        json!({ "tags": [{ "key": "k", "value": "v" }] }),
    )
    .await;
    assert_eq!(
        emu.delete(&format!("/fgs/functions/{}", emu.base_urn("gone")))
            .await
            .status,
        204
    );

    emu.create_function("gone").await;
    let versions = emu.get(&format!("/fgs/functions/{urn}/versions")).await;
    assert_eq!(versions.body["count"], 1, "only latest");
    assert_eq!(emu.get(&format!("/fgs/functions/{urn}/aliases")).await.body, json!([]));
    assert_eq!(emu.get(&format!("/fgs/triggers/{urn}")).await.body, json!([]));
    assert_eq!(
        emu.get(&format!("/fgs/functions/{urn}/async-invoke-config"))
            .await
            .status,
        404
    );
    assert_eq!(emu.get(&format!("/functions/{urn}/tags")).await.body["tags"], json!([]));
    let r = emu
        .get(&format!("/fgs/functions/{}/config", qurn(&emu, "gone", "v1")))
        .await;
    assert_eq!((r.status, r.code()), (404, "FSS.1052"));
}
