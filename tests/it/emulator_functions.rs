//! Functions (§3): every code type at create, list paging and filters, config and code
//! reads and updates, max instances, delete scopes, and each function error code.

use fgform::emulator::{Config, Quotas};
use serde_json::{json, Value};

use crate::support::{self, b64, function_body, sha512_hex, zip_of, Emu};

/// Bytes that deflate cannot shrink (a fixed LCG, so runs are reproducible).
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 33) as u8
        })
        .collect()
}

fn with(mut body: Value, patch: Value) -> Value {
    for (k, v) in patch.as_object().unwrap() {
        if v.is_null() {
            body.as_object_mut().unwrap().remove(k);
        } else {
            body[k] = v.clone();
        }
    }
    body
}

async fn create_err(emu: &Emu, body: Value) -> (u16, String) {
    let r = emu.post("/fgs/functions", body).await;
    (r.status, r.code().to_string())
}

#[tokio::test]
async fn creates_with_every_code_type() {
    let emu = Emu::start().await;

    // inline with no file: the default template code, a real zip with a stable digest.
    let inline = json!({
        "func_name": "inl", "package": "default", "runtime": "Python3.9", "handler": "index.handler",
        "memory_size": 128, "timeout": 30, "code_type": "inline", "func_code": { "file": "" },
    });
    let a = emu.post("/fgs/functions", inline.clone()).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["code_type"], "inline");
    assert!(a.body["code_size"].as_u64().unwrap() > 0);
    assert_eq!(a.body["digest"].as_str().unwrap().len(), 128);
    let b = emu
        .post("/fgs/functions", with(inline, json!({ "func_name": "inl2" })))
        .await;
    assert_eq!(b.body["digest"], a.body["digest"], "default code has a stable digest");

    // inline with a small zip.
    let small = zip_of("index.py", b"def handler(e, c):\n    return 1\n");
    let r = emu
        .post(
            "/fgs/functions",
            with(
                function_body("inl3"),
                json!({ "code_type": "inline", "code_filename": null, "func_code": { "file": b64(&small) } }),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["digest"], json!(sha512_hex(&small)));

    // jar
    let jar = zip_of("com/example/Handler.class", b"\xca\xfe\xba\xbe");
    let r = emu
        .post(
            "/fgs/functions",
            json!({
                "func_name": "javafn", "package": "default", "runtime": "Java11",
                "handler": "com.example.Handler.handle", "memory_size": 512, "timeout": 30,
                "code_type": "jar", "code_filename": "app.jar", "func_code": { "file": b64(&jar) },
            }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (
            r.body["code_type"].clone(),
            r.body["code_filename"].clone(),
            r.body["cpu"].clone()
        ),
        (json!("jar"), json!("app.jar"), json!(600))
    );
    assert_eq!(r.body["digest"], json!(sha512_hex(&jar)));
    assert_eq!(r.body["code_size"], json!(jar.len()));

    // obs link
    let url = "https://bucket.obs.cn-north-4.myhuaweicloud.com/pkg/code.zip";
    let r = emu
        .post(
            "/fgs/functions",
            with(
                function_body("obsfn"),
                json!({ "code_type": "obs", "code_url": url, "code_filename": null, "func_code": null }),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["code_url"], url);
    assert_eq!(r.body["code_filename"], "code.zip");
    assert_eq!(r.body["code_type"], "obs");

    // Custom image: no code at all, handler `-`.
    let r = emu
        .post(
            "/fgs/functions",
            json!({
                "func_name": "imgfn", "package": "default", "runtime": "Custom Image", "handler": "-",
                "memory_size": 1024, "timeout": 60, "code_type": "Custom-Image-Swr",
                "custom_image": { "enabled": true, "image": "swr.cn-north-4.myhuaweicloud.com/ns/app:1.0" },
            }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["code_type"], "Custom-Image-Swr");
    assert_eq!(r.body["code_size"], 0);
    assert_eq!(
        r.body["custom_image"]["image"],
        "swr.cn-north-4.myhuaweicloud.com/ns/app:1.0"
    );
    assert_eq!(r.body["handler"], "-");

    // code_type is optional for custom-image functions only.
    let r = emu
        .post(
            "/fgs/functions",
            json!({
                "func_name": "imgfn2", "package": "default", "runtime": "Custom Image", "handler": "-",
                "memory_size": 1024, "timeout": 60,
                "custom_image": { "enabled": true, "image": "swr.cn-north-4.myhuaweicloud.com/ns/app:2.0" },
            }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["code_type"], "Custom-Image-Swr");
    let r = emu
        .post(
            "/fgs/functions",
            with(function_body("nocodetype"), json!({ "code_type": null })),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "FSS.1006"),
        "required for every other runtime"
    );

    let list = emu.get("/fgs/functions").await;
    assert_eq!(list.body["count"], 7);
}

#[tokio::test]
async fn list_pages_with_marker_and_maxitems() {
    let emu = Emu::start().await;
    for name in ["fa", "fb", "fc", "fd", "fe"] {
        emu.create_function(name).await;
    }
    let mut seen = Vec::new();
    let mut marker = "0".to_string();
    loop {
        let r = emu
            .get_q("/fgs/functions", &[("marker", &marker), ("maxitems", "2")])
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["count"], 5);
        let items = r.body["functions"].as_array().unwrap();
        let next = r.body["next_marker"].as_u64().unwrap();
        assert_eq!(next, marker.parse::<u64>().unwrap() + items.len() as u64);
        seen.extend(items.iter().map(|f| f["func_name"].as_str().unwrap().to_string()));
        if items.is_empty() || next == 5 {
            assert!(items.len() <= 2);
            break;
        }
        assert_eq!(items.len(), 2);
        marker = next.to_string();
    }
    assert_eq!(seen, ["fa", "fb", "fc", "fd", "fe"]);

    // Past the end: empty page, next_marker == count.
    let r = emu.get_q("/fgs/functions", &[("marker", "9")]).await;
    assert_eq!(
        (
            r.body["functions"].as_array().unwrap().len(),
            r.body["next_marker"].clone()
        ),
        (0, json!(5))
    );

    for bad in ["-1", "abc"] {
        let r = emu.get_q("/fgs/functions", &[("maxitems", bad)]).await;
        assert_eq!((r.status, r.code()), (400, "FSS.1001"), "maxitems={bad}");
    }
    let r = emu.get_q("/fgs/functions", &[("marker", "-3")]).await;
    assert_eq!((r.status, r.code()), (400, "FSS.1001"));
}

#[tokio::test]
async fn list_caps_a_page_at_400() {
    let emu = Emu::with(Config {
        quotas: Quotas {
            functions: 500,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    for i in 0..401 {
        emu.create_function(&format!("f{i:03}")).await;
    }
    for q in [
        vec![],
        vec![("maxitems", "0")],
        vec![("maxitems", "401")],
        vec![("maxitems", "100000")],
    ] {
        let r = emu.get_q("/fgs/functions", &q).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body["functions"].as_array().unwrap().len(), 400, "{q:?}");
        assert_eq!(
            (r.body["next_marker"].clone(), r.body["count"].clone()),
            (json!(400), json!(401))
        );
    }
    let r = emu.get_q("/fgs/functions", &[("marker", "400")]).await;
    assert_eq!(r.body["functions"][0]["func_name"], "f400");
    assert_eq!(r.body["next_marker"], 401);
}

#[tokio::test]
async fn list_filters_and_item_urns() {
    let emu = Emu::start().await;
    emu.create_function("orders-api").await;
    emu.create_function("orders-worker").await;
    emu.create_function("billing").await;
    let other = with(function_body("orders-other"), json!({ "package": "shop" }));
    assert_eq!(emu.post("/fgs/functions", other).await.status, 200);

    let r = emu.get_q("/fgs/functions", &[("func_name", "orders")]).await;
    let names: Vec<&str> = r.body["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["func_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["orders-api", "orders-other", "orders-worker"]);
    assert_eq!(r.body["count"], 3);

    let r = emu.get_q("/fgs/functions", &[("package_name", "shop")]).await;
    assert_eq!(r.body["count"], 1);
    assert_eq!(r.body["functions"][0]["func_name"], "orders-other");
    assert_eq!(r.body["functions"][0]["package"], "shop");

    let r = emu.get_q("/fgs/functions", &[("func_name", "billing")]).await;
    let item = &r.body["functions"][0];
    let unqualified = format!("urn:fss:local-1:{}:function:default:billing", emu.project);
    assert_eq!(
        item["func_urn"],
        json!(unqualified),
        "list items carry the unqualified URN"
    );
    assert_eq!(item["version"], "latest");
    assert!(item.get("func_code").is_none() && item.get("dependencies").is_none());
    assert_eq!(item["fail_count"], 0);

    let show = emu
        .get(&format!("/fgs/functions/{}/config", emu.base_urn("billing")))
        .await;
    assert_eq!(show.body["func_urn"], json!(format!("{unqualified}:latest")));
}

#[tokio::test]
async fn show_and_update_config() {
    let emu = Emu::start().await;
    let body = with(
        function_body("cfg"),
        json!({ "description": "first", "xrole": "fg_agency", "user_data": "{\"A\":\"1\"}" }),
    );
    let created = emu.post("/fgs/functions", body).await;
    assert_eq!(created.status, 200, "{}", created.text);
    let path = format!("/fgs/functions/{}/config", emu.urn("cfg"));
    let shown = emu.get(&path).await;
    assert_eq!(shown.status, 200);
    for k in [
        "func_urn",
        "digest",
        "code_size",
        "cpu",
        "handler",
        "description",
        "user_data",
        "xrole",
    ] {
        assert_eq!(shown.body[k], created.body[k], "{k}");
    }
    assert_eq!(shown.body["depend_version_list"], json!([]));

    // Max instances first: strategy_config must survive a config PUT that omits it.
    let mi = emu
        .put(
            &format!("/fgs/functions/{}/config-max-instance", emu.urn("cfg")),
            json!({ "max_instance_num": 7 }),
        )
        .await;
    assert_eq!(mi.status, 200, "{}", mi.text);
    assert_eq!(mi.body["strategy_config"]["concurrency"], 7);

    let upd = emu
        .put(
            &path,
            json!({ "func_name": "cfg", "handler": "main.run", "memory_size": 1024, "timeout": 60,
                    "runtime": "Python3.9", "package": "default" }),
        )
        .await;
    assert_eq!(upd.status, 200, "{}", upd.text);
    assert_eq!(upd.body["memory_size"], 1024);
    assert_eq!(upd.body["cpu"], 1000, "cpu = memory/128*100+200");
    assert_eq!(upd.body["handler"], "main.run");
    assert_eq!(
        upd.body["digest"], created.body["digest"],
        "config PUT keeps the digest"
    );
    assert_eq!(upd.body["code_size"], created.body["code_size"]);
    assert_eq!(upd.body["runtime"], "Python3.9");
    // [DECIDE] §3.4: omitted optional fields are cleared…
    assert_eq!(upd.body["description"], "");
    assert_eq!(upd.body["xrole"], "");
    assert_eq!(upd.body["user_data"], "");
    // …except strategy_config, which has its own call.
    assert_eq!(upd.body["strategy_config"]["concurrency"], 7);
    assert_eq!(emu.get(&path).await.body["memory_size"], 1024);

    let wrong = emu
        .put(
            &path,
            json!({ "func_name": "other", "handler": "a.b", "memory_size": 128, "timeout": 3 }),
        )
        .await;
    assert_eq!((wrong.status, wrong.code()), (400, "FSS.1002"));
}

#[tokio::test]
async fn show_and_update_code() {
    let emu = Emu::start().await;
    let created = emu.create_function("code").await;
    let path = format!("/fgs/functions/{}/code", emu.urn("code"));
    let shown = emu.get(&path).await;
    assert_eq!(shown.status, 200, "{}", shown.text);
    assert_eq!(shown.body["func_code"], json!({ "file": "", "link": "" }));
    assert_eq!(shown.body["digest"], created.body["digest"]);
    assert_eq!(shown.body["code_filename"], "index.zip");

    let zip = zip_of("index.py", b"def handler(event, context):\n    return 'v2'\n");
    let upd = emu
        .put(
            &path,
            json!({ "code_type": "zip", "code_filename": "index.zip", "func_code": { "file": b64(&zip) } }),
        )
        .await;
    assert_eq!(upd.status, 200, "{}", upd.text);
    assert_eq!(upd.body["digest"], json!(sha512_hex(&zip)));
    assert_eq!(upd.body["code_size"], json!(zip.len()));
    assert_ne!(upd.body["digest"], created.body["digest"]);
    assert_eq!(upd.body["func_code"]["file"], "");
    let cfg = emu.get(&format!("/fgs/functions/{}/config", emu.urn("code"))).await;
    assert_eq!(cfg.body["digest"], json!(sha512_hex(&zip)));

    let missing = emu
        .put(&path, json!({ "code_type": "zip", "code_filename": "index.zip" }))
        .await;
    assert_eq!((missing.status, missing.code()), (400, "FSS.1012"));
}

#[tokio::test]
async fn max_instances_range() {
    let emu = Emu::start().await;
    emu.create_function("mi").await;
    let path = format!("/fgs/functions/{}/config-max-instance", emu.urn("mi"));
    for n in [-1, 0, 1000] {
        let r = emu.put(&path, json!({ "max_instance_num": n })).await;
        assert_eq!(r.status, 200, "{n}: {}", r.text);
        assert_eq!(r.body["strategy_config"]["concurrency"], n);
    }
    for n in [-2, 1001] {
        let r = emu.put(&path, json!({ "max_instance_num": n })).await;
        assert_eq!((r.status, r.code()), (400, "FSS.1026"), "{n}");
    }
}

#[tokio::test]
async fn delete_scopes() {
    let emu = Emu::start().await;
    emu.create_function("del").await;
    let ver = |v: &str| support::encode(&format!("urn:fss:local-1:{}:function:default:del:{v}", emu.project));
    let versions = format!("/fgs/functions/{}/versions", emu.urn("del"));
    assert_eq!(emu.post(&versions, json!({ "version": "v1" })).await.status, 200);
    emu.put(
        &format!("/fgs/functions/{}/config", emu.urn("del")),
        json!({ "func_name": "del", "handler": "index.handler", "memory_size": 256, "timeout": 30 }),
    )
    .await;
    assert_eq!(emu.post(&versions, json!({ "version": "v2" })).await.status, 200);
    emu.put(
        &format!("/fgs/functions/{}/config", emu.urn("del")),
        json!({ "func_name": "del", "handler": "index.handler", "memory_size": 512, "timeout": 30 }),
    )
    .await;
    assert_eq!(emu.post(&versions, json!({ "version": "v3" })).await.status, 200);
    let alias = emu
        .post(
            &format!("/fgs/functions/{}/aliases", emu.urn("del")),
            json!({ "name": "prod", "version": "v1", "additional_version_weights": { "v2": 10 } }),
        )
        .await;
    assert_eq!(alias.status, 200, "{}", alias.text);

    let latest = emu.delete(&format!("/fgs/functions/{}", emu.urn("del"))).await;
    assert_eq!(
        (latest.status, latest.code()),
        (400, "FSS.0400"),
        "latest alone cannot be deleted"
    );
    // v2 is prod's gray version (FSS.1094 per §3.7); [DECIDE] v1, its main version, is
    // refused with the same code.
    for v in ["v1", "v2"] {
        let r = emu.delete(&format!("/fgs/functions/{}", ver(v))).await;
        assert_eq!((r.status, r.code()), (403, "FSS.1094"), "{v} is used by an alias");
    }
    let r = emu.delete(&format!("/fgs/functions/{}", ver("v3"))).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(r.text.is_empty());
    let r = emu.get(&format!("/fgs/functions/{}/config", ver("v3"))).await;
    assert_eq!((r.status, r.code()), (404, "FSS.1052"));
    let r = emu.delete(&format!("/fgs/functions/{}", ver("v9"))).await;
    assert_eq!((r.status, r.code()), (404, "FSS.1052"));

    let all = emu.delete(&format!("/fgs/functions/{}", emu.base_urn("del"))).await;
    assert_eq!(all.status, 204);
    for rest in [
        format!("/fgs/functions/{}/config", emu.urn("del")),
        format!("/fgs/functions/{}/versions", emu.urn("del")),
        format!("/fgs/functions/{}/aliases", emu.urn("del")),
    ] {
        let r = emu.get(&rest).await;
        assert_eq!((r.status, r.code()), (404, "FSS.1051"), "{rest}");
    }
    let again = emu.delete(&format!("/fgs/functions/{}", emu.base_urn("del"))).await;
    assert_eq!((again.status, again.code()), (404, "FSS.1051"));
    assert_eq!(emu.get("/fgs/functions").await.body["count"], 0);
}

#[tokio::test]
async fn create_field_errors() {
    let emu = Emu::start().await;
    let base = || function_body("errs");
    let ud = |n: usize| {
        let m: serde_json::Map<String, Value> = (0..n).map(|i| (format!("K{i}"), json!("v"))).collect();
        Value::Object(m).to_string()
    };
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        ("bad name", json!({ "func_name": "1abc" }), 400, "FSS.1002"),
        ("name ends with -", json!({ "func_name": "abc-" }), 400, "FSS.1002"),
        (
            "name too long",
            json!({ "func_name": format!("a{}", "b".repeat(60)) }),
            400,
            "FSS.1002",
        ),
        ("missing name", json!({ "func_name": null }), 400, "FSS.1002"),
        ("handler", json!({ "handler": "nodot" }), 400, "FSS.1003"),
        ("package", json!({ "package": "bad package!" }), 400, "FSS.1004"),
        ("runtime", json!({ "runtime": "Cobol" }), 400, "FSS.1005"),
        ("code_type", json!({ "code_type": "tarball" }), 400, "FSS.1006"),
        ("memory", json!({ "memory_size": 100 }), 400, "FSS.1007"),
        ("memory type", json!({ "memory_size": "128" }), 400, "FSS.1007"),
        ("timeout low", json!({ "timeout": 2 }), 400, "FSS.1008"),
        ("timeout high", json!({ "timeout": 259_201 }), 400, "FSS.1008"),
        ("user_data not json", json!({ "user_data": "K=V" }), 400, "FSS.1009"),
        (
            "user_data non-string value",
            json!({ "user_data": "{\"K\":1}" }),
            400,
            "FSS.1009",
        ),
        ("user_data keys", json!({ "user_data": ud(21) }), 400, "FSS.1017"),
        (
            "user_data size",
            json!({ "user_data": json!({ "K": "x".repeat(4100) }).to_string() }),
            400,
            "FSS.1018",
        ),
        (
            "obs url",
            json!({ "code_type": "obs", "code_url": "ftp://bucket/code.zip", "func_code": null }),
            400,
            "FSS.1010",
        ),
        (
            "file not base64",
            json!({ "func_code": { "file": "@@not base64@@" } }),
            400,
            "FSS.1011",
        ),
        ("file missing", json!({ "func_code": { "file": "" } }), 400, "FSS.1012"),
        ("func_code missing", json!({ "func_code": null }), 400, "FSS.1012"),
        (
            "not a zip",
            json!({ "func_code": { "file": b64(b"just text") } }),
            400,
            "FSS.1013",
        ),
        ("no code_filename", json!({ "code_filename": null }), 400, "FSS.1013"),
        (
            "wrong extension",
            json!({ "code_filename": "index.tar" }),
            400,
            "FSS.1013",
        ),
        (
            "description",
            json!({ "description": "d".repeat(513) }),
            400,
            "FSS.1019",
        ),
        (
            "unknown dependency",
            json!({ "depend_version_list": ["0b6c2c5e-0000-4000-8000-000000000000"] }),
            400,
            "FSS.1024",
        ),
        (
            "concurrency",
            json!({ "strategy_config": { "concurrency": 5000 } }),
            400,
            "FSS.1026",
        ),
        (
            "concurrent_num",
            json!({ "strategy_config": { "concurrent_num": 0 } }),
            400,
            "FSS.1026",
        ),
        (
            "inline too big",
            json!({ "code_type": "inline", "code_filename": null,
                    "func_code": { "file": b64(&zip_of("index.py", &noise(11 * 1024))) } }),
            413,
            "FSS.1072",
        ),
        (
            "mount user",
            json!({ "mount_config": { "mount_user": { "user_id": 0, "user_group_id": 1 },
                    "func_mounts": [] } }),
            400,
            "FSS.1075",
        ),
        (
            "mount group",
            json!({ "mount_config": { "mount_user": { "user_id": 1001, "user_group_id": 65535 } } }),
            400,
            "FSS.1075",
        ),
        (
            "initializer handler",
            json!({ "initializer_handler": "noinit", "initializer_timeout": 10 }),
            400,
            "FSS.1404",
        ),
        (
            "initializer timeout only",
            json!({ "initializer_timeout": 10 }),
            400,
            "FSS.1404",
        ),
        (
            "initializer timeout",
            json!({ "initializer_handler": "index.init", "initializer_timeout": 301 }),
            400,
            "FSS.1405",
        ),
        (
            "initializer handler only",
            json!({ "initializer_handler": "index.init" }),
            400,
            "FSS.1405",
        ),
    ];
    for (what, patch, status, code) in cases {
        let r = emu.post("/fgs/functions", with(base(), patch)).await;
        assert_eq!((r.status, r.code()), (status, code), "{what}: {}", r.text);
    }
    // Nothing was created by the failures.
    assert_eq!(emu.get("/fgs/functions").await.body["count"], 0);

    // Boundaries that are accepted.
    let ok = with(
        base(),
        json!({ "timeout": 259_200, "user_data": ud(20), "description": "d".repeat(512),
                "initializer_handler": "index.init", "initializer_timeout": 300 }),
    );
    let r = emu.post("/fgs/functions", ok).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["long_time"], true);
    assert_eq!(r.body["initializer_timeout"], 300);
}

#[tokio::test]
async fn duplicate_unknown_and_bad_urn() {
    let emu = Emu::start().await;
    emu.create_function("dup").await;
    assert_eq!(create_err(&emu, function_body("dup")).await, (409, "FSS.1061".into()));
    let r = emu.get(&format!("/fgs/functions/{}/config", emu.urn("nope"))).await;
    assert_eq!((r.status, r.code()), (404, "FSS.1051"));
    assert_eq!(r.body["error_msg"], "Not found the function");
    let r = emu.get(&format!("/fgs/functions/{}/code", emu.urn("nope"))).await;
    assert_eq!((r.status, r.code()), (404, "FSS.1051"));
    let v9 = support::encode(&format!("urn:fss:local-1:{}:function:default:dup:v9", emu.project));
    let r = emu.get(&format!("/fgs/functions/{v9}/config")).await;
    assert_eq!((r.status, r.code()), (404, "FSS.1052"));
    assert_eq!(r.body["error_msg"], "Not found the function version");
    let r = emu.get(&format!("/fgs/functions/{v9}/code")).await;
    assert_eq!((r.status, r.code()), (404, "FSS.1052"));
    let r = emu
        .put(&format!("/fgs/functions/{}/config", emu.urn("nope")), json!({}))
        .await;
    assert_eq!((r.status, r.code()), (404, "FSS.1051"));

    for bad in [
        "a:b:c:d:e:f:g:h:i",
        "urn:fss:x",
        "bad%20name",
        "urn:fss:local-1:otherproject:function:default:dup",
    ] {
        let r = emu.get(&format!("/fgs/functions/{bad}/config")).await;
        assert_eq!((r.status, r.code()), (400, "FSS.1309"), "{bad}: {}", r.text);
    }
}

#[tokio::test]
async fn function_quota_is_1041() {
    let emu = Emu::with(Config {
        quotas: Quotas {
            functions: 2,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    emu.create_function("q1").await;
    emu.create_function("q2").await;
    assert_eq!(create_err(&emu, function_body("q3")).await, (403, "FSS.1041".into()));
    emu.delete(&format!("/fgs/functions/{}", emu.base_urn("q1"))).await;
    emu.create_function("q3").await;
}

#[tokio::test]
async fn code_size_quota_is_1042() {
    let emu = Emu::with(Config {
        quotas: Quotas {
            code_size_mb: 1,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let big = zip_of("blob.bin", &noise(700 * 1024));
    let body = |name: &str| with(function_body(name), json!({ "func_code": { "file": b64(&big) } }));
    assert_eq!(emu.post("/fgs/functions", body("big1")).await.status, 200);
    assert_eq!(create_err(&emu, body("big2")).await, (403, "FSS.1042".into()));
    // PUT /code counts too.
    emu.create_function("small").await;
    let r = emu
        .put(
            &format!("/fgs/functions/{}/code", emu.urn("small")),
            json!({ "code_type": "zip", "code_filename": "a.zip", "func_code": { "file": b64(&big) } }),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "FSS.1042"));
}

#[tokio::test]
async fn encrypted_user_data_is_masked_everywhere() {
    let emu = Emu::start().await;
    let body = with(
        function_body("secret"),
        json!({ "encrypted_user_data": "{\"password\":\"hunter2\",\"token\":\"abc\"}",
                "user_data": "{\"plain\":\"visible\"}" }),
    );
    let created = emu.post("/fgs/functions", body).await;
    assert_eq!(created.status, 200, "{}", created.text);
    let masked = json!("{\"password\":\"\",\"token\":\"\"}");
    assert_eq!(created.body["encrypted_user_data"], masked);
    assert_eq!(created.body["user_data"], "{\"plain\":\"visible\"}");
    let shown = emu.get(&format!("/fgs/functions/{}/config", emu.urn("secret"))).await;
    assert_eq!(shown.body["encrypted_user_data"], masked);
    let list = emu.get("/fgs/functions").await;
    assert_eq!(list.body["functions"][0]["encrypted_user_data"], masked);
    for r in [&created, &shown, &list] {
        assert!(!r.text.contains("hunter2"));
    }
}

#[tokio::test]
async fn list_items_and_show_config_carry_the_documented_fields() {
    let emu = Emu::start().await;
    emu.create_function("shape").await;
    let list = emu.get("/fgs/functions").await;
    let item = list.body["functions"][0].as_object().unwrap().clone();
    // §3.2 (extend_config and bind_bridge_funcUrns are only present when set).
    for k in [
        "func_urn",
        "func_name",
        "domain_id",
        "namespace",
        "project_name",
        "package",
        "runtime",
        "timeout",
        "handler",
        "memory_size",
        "cpu",
        "code_type",
        "code_url",
        "code_filename",
        "code_size",
        "user_data",
        "encrypted_user_data",
        "digest",
        "version",
        "image_name",
        "xrole",
        "app_xrole",
        "description",
        "last_modified",
        "func_vpc_id",
        "strategy_config",
        "enterprise_project_id",
        "long_time",
        "log_group_id",
        "log_stream_id",
        "type",
        "fail_count",
        "is_bridge_function",
        "resource_id",
    ] {
        assert!(item.contains_key(k), "list item lacks {k}");
    }
    for heavy in ["func_code", "dependencies", "mount_config", "depend_version_list"] {
        assert!(!item.contains_key(heavy), "list item carries {heavy}");
    }
    let show = emu.get(&format!("/fgs/functions/{}/config", emu.urn("shape"))).await;
    let full = show.body.as_object().unwrap();
    for k in [
        "func_id",
        "depend_list",
        "depend_version_list",
        "dependencies",
        "apig_route_enable",
        "namespace",
    ] {
        assert!(full.contains_key(k), "show config lacks {k}");
    }
    assert_eq!(full["namespace"], json!(emu.project));
    assert_eq!(
        full["resource_id"],
        json!(format!("{}:shape", full["func_id"].as_str().unwrap()))
    );
    assert_eq!(full["domain_id"].as_str().unwrap().len(), 32);
}

#[tokio::test]
async fn export_gives_the_package_as_uploaded_or_a_bundle_with_the_configuration() {
    let emu = Emu::start().await;
    emu.create_function("exp").await;
    let path = format!("/fgs/functions/{}/export", emu.urn("exp"));

    let code = emu.get_q(&path, &[("type", "code")]).await;
    assert_eq!(code.status, 200, "{}", code.text);
    assert_eq!(code.headers["content-type"], "application/zip");
    let client = support::local_client(&emu.url(), fgform::api::local::REGION, &emu.project);
    let urn = format!(
        "urn:fss:{}:{}:function:default:exp",
        fgform::api::local::REGION,
        emu.project
    );
    let bytes = client.export_function_code(&urn).await.unwrap();
    assert_eq!(bytes.as_ref(), support::default_zip().as_slice());
    let digest = client.show_function_config(&urn).await.unwrap().digest;
    assert_eq!(sha512_hex(&bytes), digest);

    // Code and configuration: a zip of NAME.zip and NAME.yaml (stored, so both read here).
    let both = emu.get_q(&path, &[("code", "true"), ("config", "true")]).await;
    assert_eq!(both.status, 200, "{}", both.text);
    assert!(both.text.starts_with("PK"), "{}", both.text);
    for want in ["exp.zip", "exp.yaml", "\"func_name\": \"exp\""] {
        assert!(both.text.contains(want), "{want} missing");
    }
    let config = emu.get_q(&path, &[("type", "config")]).await;
    assert!(config.text.contains("exp.yaml") && !config.text.contains("exp.zip"));

    for (query, why) in [
        (vec![], "at least one of code=true or config=true"),
        (
            vec![("type", "code"), ("code", "true")],
            "type cannot be used with code or config",
        ),
        (vec![("type", "all")], "type must be code or config"),
        (vec![("code", "yes")], "code must be true or false"),
    ] {
        let r = emu.get_q(&path, &query).await;
        assert_eq!(r.status, 400, "{query:?}: {}", r.text);
        assert!(r.text.contains(why), "{query:?}: {}", r.text);
    }
    let missing = emu
        .get_q(
            &format!("/fgs/functions/{}/export", emu.urn("nope")),
            &[("type", "code")],
        )
        .await;
    assert_eq!((missing.status, missing.code()), (404, "FSS.1051"));
}
