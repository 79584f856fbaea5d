//! `--data`: every acknowledged change survives a restart, and a `kill -9`.

use serde_json::json;

use crate::support::{self, Emu};

#[tokio::test]
async fn state_survives_a_clean_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (urn, dep_id) = {
        let emu = Emu::on(dir.path()).await;
        emu.create_function("kept").await;
        let urn = emu.urn("kept");
        let t = emu
            .post(&format!("/fgs/triggers/{urn}"), json!({"trigger_type_code": "TIMER", "event_data": {"name": "t1", "schedule_type": "Rate", "schedule": "5m"}}))
            .await;
        assert_eq!(t.status, 201);
        let d = emu
            .post("/fgs/dependencies/version", json!({"depend_type": "zip", "depend_file": support::b64(&support::zip_of("a.py", b"x")), "runtime": "Python3.9", "name": "dep"}))
            .await;
        assert_eq!(d.status, 200, "{}", d.text);
        emu.handle.shutdown().await;
        (urn, d.body["dep_id"].as_str().unwrap().to_string())
    };
    let emu = Emu::on(dir.path()).await;
    assert_eq!(emu.get(&format!("/fgs/functions/{urn}/config")).await.status, 200);
    assert_eq!(
        emu.get(&format!("/fgs/triggers/{urn}"))
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        emu.get(&format!("/fgs/dependencies/{dep_id}/version/1")).await.status,
        200
    );
    // The next dependency version keeps counting.
    let d = emu
        .post("/fgs/dependencies/version", json!({"depend_type": "zip", "depend_file": support::b64(&support::zip_of("b.py", b"y")), "runtime": "Python3.9", "name": "dep"}))
        .await;
    assert_eq!(d.body["version"], json!(2));
    // Code blobs are on disk by digest.
    let digest = support::sha512_hex(&support::default_zip());
    assert!(dir.path().join("blobs").join(&digest).exists());
}

#[tokio::test]
async fn acknowledged_changes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url) = support::spawn_emulator(dir.path());
    let addr: std::net::SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    // Drive the child through the same signer, pointing the helper at its address.
    let client = support::RemoteEmu::new(addr);
    for i in 0..20 {
        let r = client
            .post("/fgs/functions", support::function_body(&format!("k{i}")))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let emu = Emu::on(dir.path()).await;
    let list = emu
        .call("GET", &emu.path("/fgs/functions"), &[("maxitems", "400")], None)
        .await;
    assert_eq!(list.body["count"], json!(20), "{}", list.text);
}
