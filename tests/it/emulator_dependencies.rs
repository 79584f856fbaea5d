//! Dependencies (§7): the version API, package list filters and the old package API.

use fgform::emulator::{Config, Quotas};
use serde_json::{json, Value};

use crate::support::{b64, function_body, zip_of, Emu, Reply};

fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest as _;
    hex::encode(md5::Md5::digest(bytes))
}

fn dep_body(name: &str, runtime: &str, zip: &[u8]) -> Value {
    json!({ "depend_type": "zip", "depend_file": b64(zip), "runtime": runtime, "name": name,
            "description": "libs" })
}

async fn create_version(emu: &Emu, body: Value) -> Reply {
    emu.post("/fgs/dependencies/version", body).await
}

#[tokio::test]
async fn versions_number_per_name_and_carry_md5_etags() {
    let emu = Emu::start().await;
    let zips: Vec<Vec<u8>> = (0..3)
        .map(|i| zip_of("lib.py", format!("X = {i}\n").as_bytes()))
        .collect();
    let mut made = Vec::new();
    for (i, zip) in zips.iter().enumerate() {
        let r = create_version(&emu, dep_body("mylib", "Python3.9", zip)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["version"], json!(i + 1));
        assert_eq!(r.body["etag"], json!(md5_hex(zip)));
        assert_eq!(r.body["size"], json!(zip.len()));
        assert_eq!(r.body["name"], "mylib");
        assert_eq!(r.body["runtime"], "Python3.9");
        assert!(r.body["last_modified"].is_i64(), "epoch seconds");
        made.push(r.body);
    }
    let dep_id = made[0]["dep_id"].as_str().unwrap().to_string();
    assert!(made.iter().all(|m| m["dep_id"] == json!(dep_id)), "one package");
    let ids: std::collections::HashSet<&str> = made.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 3, "each version has its own id");
    // Another name starts again at 1.
    let other = create_version(&emu, dep_body("otherlib", "Python3.9", &zips[0])).await;
    assert_eq!(other.body["version"], 1);
    assert_ne!(other.body["dep_id"], json!(dep_id));

    let list = emu.get(&format!("/fgs/dependencies/{dep_id}/version")).await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.body["count"], 3);
    let numbers: Vec<i64> = list.body["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["version"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [1, 2, 3]);
    let page = emu
        .get_q(
            &format!("/fgs/dependencies/{dep_id}/version"),
            &[("marker", "1"), ("maxitems", "1")],
        )
        .await;
    assert_eq!(
        (
            page.body["dependencies"][0]["version"].clone(),
            page.body["next_marker"].clone()
        ),
        (json!(2), json!(2))
    );

    let shown = emu.get(&format!("/fgs/dependencies/{dep_id}/version/2")).await;
    assert_eq!(shown.status, 200);
    assert_eq!(shown.body["id"], made[1]["id"]);
    assert_eq!(shown.body["etag"], json!(md5_hex(&zips[1])));
    assert!(shown.body["download_link"].is_string());

    assert_eq!(
        emu.delete(&format!("/fgs/dependencies/{dep_id}/version/3"))
            .await
            .status,
        204
    );
    for path in [
        format!("/fgs/dependencies/{dep_id}/version/3"),
        format!("/fgs/dependencies/{dep_id}/version/x"),
        "/fgs/dependencies/00000000-0000-4000-8000-000000000000/version/1".to_string(),
        "/fgs/dependencies/00000000-0000-4000-8000-000000000000/version".to_string(),
    ] {
        let r = emu.get(&path).await;
        assert_eq!((r.status, r.code()), (404, "FSS.1056"), "{path}");
    }
    let r = emu.delete(&format!("/fgs/dependencies/{dep_id}/version/3")).await;
    assert_eq!((r.status, r.code()), (404, "FSS.1056"));
    // Numbers are not reused.
    let again = create_version(&emu, dep_body("mylib", "Python3.9", &zips[2])).await;
    assert_eq!(again.body["version"], 4);
}

#[tokio::test]
async fn in_use_versions_and_runtime_mismatch() {
    let emu = Emu::start().await;
    let zip = zip_of("lib.py", b"Y = 1\n");
    let v = create_version(&emu, dep_body("uselib", "Python3.9", &zip)).await;
    let (vid, dep_id) = (
        v.body["id"].as_str().unwrap().to_string(),
        v.body["dep_id"].as_str().unwrap().to_string(),
    );

    let mut body = function_body("user");
    body["depend_version_list"] = json!([vid]);
    let f = emu.post("/fgs/functions", body).await;
    assert_eq!(f.status, 200, "{}", f.text);
    assert_eq!(f.body["depend_version_list"], json!([vid]));
    assert_eq!(f.body["dependencies"][0]["etag"], json!(md5_hex(&zip)));
    assert_eq!(f.body["depend_list"], json!([dep_id]));

    let r = emu.delete(&format!("/fgs/dependencies/{dep_id}/version/1")).await;
    assert_eq!((r.status, r.code()), (412, "FSS.1033"));
    let r = emu.delete(&format!("/fgs/dependencies/{dep_id}")).await;
    assert_eq!((r.status, r.code()), (412, "FSS.1033"), "old API delete too");

    // Runtime mismatch, at create and at PUT /code.
    let node = create_version(&emu, dep_body("nodelib", "Node.js16.17", &zip)).await;
    let nid = node.body["id"].as_str().unwrap();
    let mut body = function_body("mismatch");
    body["depend_version_list"] = json!([nid]);
    let r = emu.post("/fgs/functions", body).await;
    assert_eq!((r.status, r.code()), (400, "FSS.1024"));
    let code = json!({ "code_type": "zip", "code_filename": "index.zip",
                       "func_code": { "file": b64(&crate::support::default_zip()) }, "depend_version_list": [nid] });
    let r = emu
        .put(&format!("/fgs/functions/{}/code", emu.urn("user")), code.clone())
        .await;
    assert_eq!((r.status, r.code()), (400, "FSS.1024"));

    // Dropping the dependency through PUT /code frees the version.
    let mut free = code;
    free["depend_version_list"] = json!([]);
    let r = emu.put(&format!("/fgs/functions/{}/code", emu.urn("user")), free).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        emu.delete(&format!("/fgs/dependencies/{dep_id}/version/1"))
            .await
            .status,
        204
    );
    let r = emu.get(&format!("/fgs/dependencies/{dep_id}/version")).await;
    assert_eq!(
        (r.status, r.code()),
        (404, "FSS.1056"),
        "the last version takes the package with it"
    );
}

#[tokio::test]
async fn create_errors() {
    let emu = Emu::start().await;
    let zip = zip_of("lib.py", b"Z = 1\n");
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        (
            "bad type",
            json!({ "depend_type": "tar", "runtime": "Python3.9", "name": "a" }),
            400,
            "FSS.1032",
        ),
        (
            "no type",
            json!({ "runtime": "Python3.9", "name": "a", "depend_file": b64(&zip) }),
            400,
            "FSS.1032",
        ),
        (
            "zip without file",
            json!({ "depend_type": "zip", "runtime": "Python3.9", "name": "a" }),
            400,
            "FSS.1024",
        ),
        (
            "file not base64",
            json!({ "depend_type": "zip", "depend_file": "%%%", "runtime": "Python3.9", "name": "a" }),
            400,
            "FSS.1024",
        ),
        (
            "file not zip",
            json!({ "depend_type": "zip", "depend_file": b64(b"text"), "runtime": "Python3.9", "name": "a" }),
            400,
            "FSS.1013",
        ),
        ("bad name", dep_body("-lib", "Python3.9", &zip), 400, "FSS.1024"),
        ("bad runtime", dep_body("lib", "Cobol", &zip), 400, "FSS.1005"),
        (
            "obs bad link",
            json!({ "depend_type": "obs", "depend_link": "bucket/lib.zip", "runtime": "Python3.9", "name": "a" }),
            400,
            "FSS.1010",
        ),
        (
            "long description",
            json!({ "depend_type": "zip", "depend_file": b64(&zip), "runtime": "Python3.9",
                                     "name": "a", "description": "d".repeat(513) }),
            400,
            "FSS.1019",
        ),
    ];
    for (what, body, status, code) in cases {
        let r = create_version(&emu, body).await;
        assert_eq!((r.status, r.code()), (status, code), "{what}: {}", r.text);
    }
    let obs = create_version(
        &emu,
        json!({ "depend_type": "obs", "depend_link": "https://b.obs.cn-north-4.myhuaweicloud.com/lib.zip",
                "runtime": "Python3.9", "name": "obslib" }),
    )
    .await;
    assert_eq!(obs.status, 200, "{}", obs.text);
    assert_eq!(obs.body["file_name"], "lib.zip");
    assert_eq!(emu.get("/fgs/dependencies").await.body["count"], 1);
}

#[tokio::test]
async fn list_packages_with_filters() {
    let emu = Emu::start().await;
    let zip = zip_of("lib.py", b"W = 1\n");
    create_version(&emu, dep_body("pyutils", "Python3.9", &zip)).await;
    create_version(&emu, dep_body("pyutils", "Python3.9", &zip)).await;
    create_version(&emu, dep_body("nodeutils", "Node.js16.17", &zip)).await;
    create_version(&emu, dep_body("pyextra", "Python3.9", &zip)).await;

    let all = emu.get("/fgs/dependencies").await;
    assert_eq!(all.status, 200);
    assert_eq!(all.body["count"], 3);
    let py = all.body["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "pyutils")
        .unwrap()
        .clone();
    assert_eq!(py["version"], 2, "items describe the newest version");

    let names = |r: &Reply| -> Vec<String> {
        let mut v: Vec<String> = r.body["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap().into())
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        names(&emu.get_q("/fgs/dependencies", &[("runtime", "Python3.9")]).await),
        ["pyextra", "pyutils"]
    );
    assert_eq!(
        names(&emu.get_q("/fgs/dependencies", &[("name", "utils")]).await),
        ["nodeutils", "pyutils"]
    );
    assert_eq!(
        names(&emu.get_q("/fgs/dependencies", &[("dependency_type", "private")]).await).len(),
        3
    );
    assert_eq!(
        names(&emu.get_q("/fgs/dependencies", &[("dependency_type", "public")]).await).len(),
        0
    );
    let r = emu.get_q("/fgs/dependencies", &[("dependency_type", "mine")]).await;
    assert_eq!((r.status, r.code()), (400, "FSS.1001"));
    let r = emu.get_q("/fgs/dependencies", &[("maxitems", "2")]).await;
    assert_eq!(
        (
            r.body["dependencies"].as_array().unwrap().len(),
            r.body["next_marker"].clone()
        ),
        (2, json!(2))
    );
    let r = emu.get_q("/fgs/dependencies", &[("maxitems", "-2")]).await;
    assert_eq!((r.status, r.code()), (400, "FSS.1001"));
}

#[tokio::test]
async fn old_api_maps_onto_packages() {
    let emu = Emu::start().await;
    let zip1 = zip_of("lib.py", b"A = 1\n");
    let zip2 = zip_of("lib.py", b"A = 2\n");
    let r = emu
        .post("/fgs/dependencies", dep_body("legacy", "Python3.9", &zip1))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["etag"], json!(md5_hex(&zip1)));
    assert!(r.body.get("version").is_none() && r.body.get("dep_id").is_none());

    let r = emu
        .post("/fgs/dependencies", dep_body("legacy", "Python3.9", &zip2))
        .await;
    assert_eq!((r.status, r.code()), (409, "FSS.1065"));

    let shown = emu.get(&format!("/fgs/dependencies/{id}")).await;
    assert_eq!((shown.status, shown.body["name"].clone()), (200, json!("legacy")));

    let upd = emu
        .put(
            &format!("/fgs/dependencies/{id}"),
            dep_body("legacy", "Python3.9", &zip2),
        )
        .await;
    assert_eq!(upd.status, 200, "{}", upd.text);
    assert_eq!(upd.body["id"], json!(id));
    assert_eq!(upd.body["etag"], json!(md5_hex(&zip2)));
    let versions = emu.get(&format!("/fgs/dependencies/{id}/version")).await;
    assert_eq!(versions.body["count"], 2, "update = new version");
    let r = emu
        .put(
            &format!("/fgs/dependencies/{id}"),
            dep_body("renamed", "Python3.9", &zip2),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "FSS.1024"));

    assert_eq!(emu.delete(&format!("/fgs/dependencies/{id}")).await.status, 204);
    for r in [
        emu.get(&format!("/fgs/dependencies/{id}")).await,
        emu.delete(&format!("/fgs/dependencies/{id}")).await,
        emu.put(
            &format!("/fgs/dependencies/{id}"),
            dep_body("legacy", "Python3.9", &zip2),
        )
        .await,
    ] {
        assert_eq!((r.status, r.code()), (404, "FSS.1056"));
    }
    assert_eq!(emu.get("/fgs/dependencies").await.body["count"], 0);
}

#[tokio::test]
async fn dependency_quota_is_1045() {
    let emu = Emu::with(Config {
        quotas: Quotas {
            dependencies: 1,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let zip = zip_of("lib.py", b"Q = 1\n");
    assert_eq!(
        create_version(&emu, dep_body("one", "Python3.9", &zip)).await.status,
        200
    );
    assert_eq!(
        create_version(&emu, dep_body("one", "Python3.9", &zip)).await.status,
        200,
        "versions are not packages"
    );
    let r = create_version(&emu, dep_body("two", "Python3.9", &zip)).await;
    assert_eq!((r.status, r.code()), (403, "FSS.1045"));
    let r = emu
        .post("/fgs/dependencies", dep_body("three", "Python3.9", &zip))
        .await;
    assert_eq!((r.status, r.code()), (403, "FSS.1045"));
}

#[tokio::test]
async fn a_versions_download_link_serves_its_package() {
    let emu = Emu::start().await;
    let zip = zip_of("lib.py", b"X = 1\n");
    let made = create_version(&emu, dep_body("dl", "Python3.9", &zip)).await;
    assert_eq!(made.status, 200, "{}", made.text);
    let dep_id = made.body["dep_id"].as_str().unwrap();
    let shown = emu.get(&format!("/fgs/dependencies/{dep_id}/version/1")).await;
    let link = shown.body["download_link"].as_str().unwrap().to_string();
    assert!(
        link.starts_with(&format!("{}/_emulator/packages/", emu.url())),
        "{link}"
    );
    let client = crate::support::local_client(&emu.url(), fgform::api::local::REGION, &emu.project);
    let bytes = client.download(&link).await.unwrap();
    assert_eq!(bytes.as_ref(), zip.as_slice());
    assert_eq!(md5_hex(&bytes), shown.body["etag"].as_str().unwrap());
    // Anything else under /_emulator/packages/ is a 404.
    let missing = client
        .download(&format!("{}/_emulator/packages/{}", emu.url(), "0".repeat(128)))
        .await;
    assert!(missing.is_err());
}
