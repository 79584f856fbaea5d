//! The emulator as a network service: which projects it serves, which project ids reach a
//! store, how it treats cross-origin browsers on its control plane, slow or idle clients,
//! descriptor exhaustion, a non-loopback `--listen`, and the blobs of deleted code.

use std::process::{Command, Stdio};

use fgform::api::local;
use fgform::emulator::Config;
use serde_json::json;

use crate::support::{self, emulator_addr, function_body, Caller, Emu};

const OTHER_PROJECT: &str = "fedcba9876543210fedcba9876543210";

fn caller_for(emu: &Emu, project: &str) -> Caller {
    let mut c = Caller::new(emu.addr);
    c.project = project.to_string();
    c
}

#[tokio::test]
async fn a_project_the_emulator_does_not_serve_is_refused() {
    let emu = Emu::start().await;
    let stranger = caller_for(&emu, OTHER_PROJECT);
    let r = stranger.post("/fgs/functions", function_body("f")).await;
    assert_eq!((r.status, r.code()), (403, "FSS.0403"), "{}", r.text);
    assert!(
        r.body["error_msg"].as_str().unwrap().contains(OTHER_PROJECT),
        "{}",
        r.text
    );
    let r = stranger.get("/fgs/functions").await;
    assert_eq!(r.status, 403, "{}", r.text);
    // Nothing was created anywhere.
    let state = emu.admin("GET", "/state", None).await;
    assert_eq!(state["functions"], json!({}), "{state}");
    // The default project is still served.
    emu.create_function("f").await;
    // And an IAM token cannot be scoped to a project that is not served.
    let token = reqwest::Client::new()
        .post(format!("{}/v3/auth/tokens", emu.url()))
        .json(&json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": local::IAM_USER, "password": local::IAM_PASSWORD, "domain": {"name": local::IAM_USER}}}},
            "scope": {"project": {"id": OTHER_PROJECT}}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(token.status().as_u16(), 400);
}

#[tokio::test]
async fn every_project_given_is_served_and_isolated() {
    let emu = Emu::with(Config {
        extra_project_ids: vec![OTHER_PROJECT.into()],
        ..Config::default()
    })
    .await;
    let other = caller_for(&emu, OTHER_PROJECT);
    emu.create_function("mine").await;
    other.create_function("theirs").await;
    let names = |r: support::Reply| -> Vec<String> {
        r.body["functions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["func_name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(emu.get("/fgs/functions").await), ["mine"]);
    assert_eq!(names(other.get("/fgs/functions").await), ["theirs"]);
    let health = emu.admin("GET", "/health", None).await;
    assert_eq!(health["project_ids"], json!([local::PROJECT_ID, OTHER_PROJECT]));
}

#[tokio::test]
async fn a_project_id_outside_the_pattern_is_a_400_before_any_store() {
    // Without auth the id would reach the handlers: this proves the check sits before them.
    for no_auth in [false, true] {
        let emu = Emu::with(Config {
            no_auth,
            ..Config::default()
        })
        .await;
        let bad = [
            format!("{}%2Fx", local::PROJECT_ID),
            format!("{}%2F", local::PROJECT_ID),
            "a%20b".to_string(),
            "a.b".to_string(),
            "p".repeat(65),
        ];
        for project in &bad {
            let c = caller_for(&emu, project);
            for _ in 0..3 {
                let r = c.post("/fgs/functions", function_body("q")).await;
                assert_eq!((r.status, r.code()), (400, "FSS.0400"), "{project}: {}", r.text);
            }
            let r = c.get("/fgs/quotas").await;
            assert_eq!(r.status, 400, "{project}: {}", r.text);
        }
        let state = emu.admin("GET", "/state", None).await;
        assert_eq!(state["functions"], json!({}), "no_auth={no_auth}: {state}");
    }
    // The emulator refuses to be configured with such an id, too.
    let err = fgform::emulator::start(Config {
        extra_project_ids: vec!["a/b".into()],
        ..Config::default()
    })
    .await
    .err()
    .expect("refused");
    assert!(err.to_string().contains("a/b"), "{err}");
}

/// A raw control-plane call with exactly these headers.
async fn admin_raw(
    emu: &Emu,
    method: &str,
    rest: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, serde_json::Value) {
    let mut req = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .request(method.parse().unwrap(), format!("{}/_emulator{rest}", emu.url()))
        .body(body.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or_default())
}

#[tokio::test]
async fn the_control_plane_refuses_cross_origin_browser_requests() {
    let emu = Emu::start().await;
    emu.create_function("keep").await;
    emu.admin("POST", "/chaos", Some(json!({ "spec": "latency=1ms" })))
        .await;
    let form = ("content-type", "application/x-www-form-urlencoded");
    // What an HTML form on any page can send.
    let (status, body) = admin_raw(
        &emu,
        "POST",
        "/reset",
        &[("origin", "http://evil.example"), form],
        "a=1",
    )
    .await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (403, Some("EMULATOR.0403")),
        "{body}"
    );
    // The same with a JSON type it cannot send without a preflight, or from a sibling port.
    let json_ct = ("content-type", "application/json");
    for headers in [
        vec![("origin", "http://evil.example"), json_ct],
        vec![("origin", "null"), json_ct],
        vec![("origin", "http://localhost:3000"), json_ct],
        vec![("sec-fetch-site", "cross-site"), json_ct],
        vec![("sec-fetch-site", "same-site"), json_ct],
    ] {
        let (status, body) = admin_raw(&emu, "POST", "/reset", &headers, "{}").await;
        assert_eq!(status, 403, "{headers:?}: {body}");
        let (status, _) = admin_raw(&emu, "DELETE", "/chaos", &headers, "").await;
        assert_eq!(status, 403, "{headers:?}");
        let (status, _) = admin_raw(&emu, "GET", "/state", &headers, "").await;
        assert_eq!(status, 403, "{headers:?}");
    }
    // DNS rebinding: a page whose name now resolves to 127.0.0.1 is same-origin with itself.
    let port = emu.addr.port();
    let (host, origin) = (
        format!("rebound.example:{port}"),
        format!("http://rebound.example:{port}"),
    );
    let headers = [("host", host.as_str()), ("origin", origin.as_str()), json_ct];
    let (status, body) = admin_raw(&emu, "POST", "/reset", &headers, "{}").await;
    assert_eq!(status, 403, "{body}");
    let headers = [("host", host.as_str()), ("sec-fetch-site", "same-origin"), json_ct];
    assert_eq!(admin_raw(&emu, "POST", "/reset", &headers, "{}").await.0, 403);
    // A simple request without Origin (an old browser, a no-cors form) is refused too.
    for ct in [
        "application/x-www-form-urlencoded",
        "text/plain",
        "multipart/form-data; boundary=x",
    ] {
        let (status, body) = admin_raw(&emu, "POST", "/reset", &[("content-type", ct)], "").await;
        assert_eq!(
            (status, body["error_code"].as_str()),
            (415, Some("EMULATOR.0415")),
            "{ct}: {body}"
        );
    }
    let (status, _) = admin_raw(&emu, "POST", "/reset", &[], "").await;
    assert_eq!(status, 415);
    // Nothing changed.
    assert_eq!(emu.get("/fgs/functions").await.body["count"], json!(1));
    assert_eq!(
        emu.admin("GET", "/chaos", None).await["rules"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Same-origin and non-browser callers keep working.
    let own = format!("http://{}", emu.addr);
    let (status, _) = admin_raw(&emu, "GET", "/health", &[], "").await;
    assert_eq!(status, 200);
    // A tool (no Origin, no Sec-Fetch-*) reaching it by a host name, e.g. a compose service.
    let (status, _) = admin_raw(&emu, "GET", "/health", &[("host", "emulator:8686")], "").await;
    assert_eq!(status, 200);
    let (status, body) = admin_raw(
        &emu,
        "POST",
        "/reset",
        &[
            ("origin", &own),
            ("sec-fetch-site", "same-origin"),
            ("content-type", "application/json; charset=utf-8"),
        ],
        "",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(emu.get("/fgs/functions").await.body["count"], json!(0));
}

/// Reads until the server closes the socket (EOF or reset); panics after `bound`.
async fn closed_within(stream: &mut tokio::net::TcpStream, bound: std::time::Duration) -> std::time::Duration {
    use tokio::io::AsyncReadExt;
    let started = std::time::Instant::now();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(bound, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the connection was still open after {bound:?}"));
    started.elapsed()
}

#[tokio::test]
async fn half_sent_and_idle_connections_are_closed() {
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;
    let emu = Emu::with(Config {
        header_read_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(1),
        ..Config::default()
    })
    .await;
    let bound = Duration::from_secs(4);
    let partials: [&[u8]; 5] = [
        b"",
        // Shorter than the HTTP/2 preface: hyper has not yet picked a protocol.
        b"GET /_emu",
        // A request line and part of the headers.
        b"GET /_emulator/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ",
        // Headers, then a body that stops short of its Content-Length.
        b"POST /_emulator/chaos HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{\"spec\": ",
        // A whole request, then nothing: an idle keep-alive connection.
        b"GET /_emulator/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    ];
    for partial in partials {
        let mut s = tokio::net::TcpStream::connect(emu.addr).await.unwrap();
        s.write_all(partial).await.unwrap();
        let took = closed_within(&mut s, bound).await;
        assert!(
            took >= Duration::from_millis(900),
            "closed too early ({took:?}) after {partial:?}"
        );
    }
    // A slow request (the handler itself takes longer than the idle timeout) still completes.
    emu.admin("POST", "/chaos", Some(json!({ "spec": "latency=1500ms" })))
        .await;
    let r = emu.get("/fgs/functions").await;
    assert_eq!(r.status, 200, "{}", r.text);
}

/// Total user + system CPU time of process `pid`, from /proc.
#[cfg(target_os = "linux")]
fn cpu_time(pid: u32) -> std::time::Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let hz = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(100);
    std::time::Duration::from_millis(ticks * 1000 / hz)
}

/// The emulator binary runs with 64 descriptors; connections beyond that leave accept()
/// failing with EMFILE. The process must idle, not spin, and serve again once they close.
#[cfg(target_os = "linux")]
#[test]
fn descriptor_exhaustion_does_not_spin_the_accept_loop() {
    use std::io::{Read, Write};
    let mut child = crate::context::scrubbed_command("sh")
        .arg("-c")
        .arg(r#"ulimit -n 64 && exec "$0" emulator --listen 127.0.0.1:0"#)
        .arg(env!("CARGO_BIN_EXE_fgform"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = emulator_addr(&mut child);
    // Hold more connections than the child has descriptors.
    let held: Vec<std::net::TcpStream> = (0..100).map(|_| std::net::TcpStream::connect(addr).unwrap()).collect();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let before = cpu_time(child.id());
    std::thread::sleep(std::time::Duration::from_secs(1));
    let used = cpu_time(child.id()) - before;
    eprintln!("emulator CPU over 1 s with accept() failing EMFILE: {used:?}");
    drop(held);
    // It recovers: a request is answered once descriptors are free again.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /_emulator/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    child.kill().unwrap();
    child.wait().unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}\n{stderr}");
    assert!(
        used < std::time::Duration::from_millis(250),
        "the emulator burnt {used:?} of CPU in 1 s while accept() failed"
    );
    assert_eq!(stderr.matches("accept failed").count(), 1, "{stderr}");
}

/// Starts the emulator binary with `args`, returns what it wrote to stderr up to its
/// `project …` line, and stops it. Nothing is ever sent to the address it listens on.
fn startup_stderr(args: &[&str]) -> String {
    use std::io::BufRead;
    // The scrubbed environment holds no FGFORM_EMULATOR_AK, _SK or _IAM_PASSWORD.
    let mut child = crate::context::fgform_command()
        .arg("emulator")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut text = String::new();
    for line in std::io::BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        text.push_str(&line);
        text.push('\n');
        if line.trim_start().starts_with("project ") {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    text
}

#[test]
fn listening_beyond_loopback_with_default_credentials_warns() {
    let text = startup_stderr(&["--listen", "0.0.0.0:0"]);
    assert!(text.contains("listening on http://0.0.0.0:"), "{text}");
    let warning = text
        .lines()
        .find(|l| l.starts_with("warning:"))
        .unwrap_or_else(|| panic!("{text}"));
    for needle in ["0.0.0.0", "public", "--ak/--sk", "--iam-password"] {
        assert!(warning.contains(needle), "`{needle}` missing: {warning}");
    }
    // Own AK/SK but the default IAM password: still warned about, only about that.
    let text = startup_stderr(&["--listen", "0.0.0.0:0", "--ak", "MYOWNAK", "--sk", "my-own-sk"]);
    let warning = text
        .lines()
        .find(|l| l.starts_with("warning:"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        warning.contains("--iam-password") && !warning.contains("--ak/--sk"),
        "{warning}"
    );
    // All replaced, or loopback: no warning.
    let own = [
        "--ak",
        "MYOWNAK",
        "--sk",
        "my-own-sk",
        "--iam-password",
        "my-own-password",
    ];
    let text = startup_stderr(&[&["--listen", "0.0.0.0:0"][..], &own[..]].concat());
    assert!(!text.contains("warning"), "{text}");
    let text = startup_stderr(&["--listen", "127.0.0.1:0"]);
    assert!(text.contains("listening on") && !text.contains("warning"), "{text}");
}

/// A zip of `kb` KiB that does not compress (so the blob is about that size).
fn incompressible_zip(seed: u64, kb: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407) | 1;
    let bytes: Vec<u8> = (0..kb * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    support::zip_of("index.py", &bytes)
}

/// (files, bytes) in a directory.
fn dir_usage(dir: &std::path::Path) -> (usize, u64) {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .fold((0, 0), |(n, b), len| (n + 1, b + len))
}

#[tokio::test]
async fn blobs_of_deleted_code_are_collected() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = dir.path().join("blobs");
    let emu = Emu::on(dir.path()).await;
    emu.create_function("keeper").await;
    let keeper = support::sha512_hex(&support::default_zip());
    let code = |zip: &[u8]| json!({ "code_type": "zip", "code_filename": "index.zip", "func_code": { "file": support::b64(zip) } });
    let cycles = 150;
    let mut uploaded = 0u64;
    for i in 0..cycles {
        let zip = incompressible_zip(i, 256);
        uploaded += zip.len() as u64;
        let mut body = function_body("cycle");
        body["func_code"]["file"] = json!(support::b64(&zip));
        let r = emu.post("/fgs/functions", body).await;
        assert_eq!(r.status, 200, "{}", r.text);
        if i % 10 == 0 {
            // A published version and replaced code: both blobs referenced until the delete.
            let r = emu
                .post(&format!("/fgs/functions/{}/versions", emu.urn("cycle")), json!({}))
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
            let next = incompressible_zip(10_000 + i, 64);
            let r = emu
                .put(&format!("/fgs/functions/{}/code", emu.urn("cycle")), code(&next))
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
            assert_eq!(
                dir_usage(&blobs).0,
                3,
                "keeper, the version's code, the new latest code"
            );
            // A dependency version, deleted again.
            let dep = incompressible_zip(20_000 + i, 64);
            let r = emu
                .post(
                    "/fgs/dependencies/version",
                    json!({ "depend_type": "zip", "depend_file": support::b64(&dep), "runtime": "Python3.9", "name": "lib" }),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
            let (dep_id, version) = (
                r.body["dep_id"].as_str().unwrap().to_string(),
                r.body["version"].clone(),
            );
            let r = emu
                .delete(&format!("/fgs/dependencies/{dep_id}/version/{version}"))
                .await;
            assert_eq!(r.status, 204, "{}", r.text);
        }
        let r = emu.delete(&format!("/fgs/functions/{}", emu.base_urn("cycle"))).await;
        assert_eq!(r.status, 204, "{}", r.text);
    }
    // An upload the handler refuses after its blob was stored leaves nothing either.
    let mut bad = function_body("bad");
    bad["func_code"]["file"] = json!(support::b64(&incompressible_zip(99_999, 64)));
    bad["runtime"] = json!("Cobol85");
    assert_eq!(emu.post("/fgs/functions", bad).await.status, 400);
    let (files, bytes) = dir_usage(&blobs);
    eprintln!("after {cycles} create/delete cycles ({uploaded} bytes uploaded): {files} blob(s), {bytes} bytes");
    assert_eq!(files, 1, "only the kept function's code remains");
    assert!(blobs.join(&keeper).exists());

    // An orphan (a kill -9 after the journaled delete, before the blob removal) goes on start;
    // referenced blobs stay.
    emu.handle.shutdown().await;
    let orphan = blobs.join("ab".repeat(64));
    std::fs::write(&orphan, b"left behind").unwrap();
    let emu = Emu::on(dir.path()).await;
    assert!(!orphan.exists());
    assert!(blobs.join(&keeper).exists());
    assert_eq!(emu.get("/fgs/functions").await.body["count"], json!(1));
}

#[tokio::test]
async fn a_killed_emulator_never_loses_a_referenced_blob() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url) = support::spawn_emulator(dir.path());
    let remote = support::RemoteEmu::new(url.trim_start_matches("http://").parse().unwrap());
    for i in 0..40u64 {
        let mut body = function_body(&format!("k{}", i % 7));
        body["func_code"]["file"] = json!(support::b64(&incompressible_zip(i, 16)));
        let r = remote.post("/fgs/functions", body).await;
        if r.status == 409 {
            let r = remote
                .delete(&format!("/fgs/functions/{}", remote.base_urn(&format!("k{}", i % 7))))
                .await;
            assert_eq!(r.status, 204, "{}", r.text);
        } else {
            assert_eq!(r.status, 200, "{}", r.text);
        }
    }
    child.kill().unwrap(); // SIGKILL, mid-stream
    child.wait().unwrap();
    let emu = Emu::on(dir.path()).await;
    let state = emu.admin("GET", "/state", None).await;
    let functions = state["functions"].as_object().unwrap();
    assert!(!functions.is_empty());
    for f in functions.values() {
        let digest = f["latest"]["code"]["digest"].as_str().unwrap();
        assert!(
            dir.path().join("blobs").join(digest).exists(),
            "blob of {} lost",
            f["name"]
        );
    }
    assert_eq!(dir_usage(&dir.path().join("blobs")).0, functions.len());
}
