//! `state pull | push | migrate | history | show --serial` with the binary, on a file and on
//! an S3 location; and encryption at rest end to end.

use std::process::Output;

use crate::context::{assert_exit, TestContext};
use crate::servers::seaweedfs::{self, ACCESS_KEY, SECRET_KEY};

const PASSPHRASE: &str = "correct horse battery staple 4 tests";

/// `fgform ARGS DIR --endpoint URL --state LOCATION` with S3 credentials and `env`.
async fn on(s: &TestContext, location: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = s.command();
    cmd.args(args)
        .arg(s.dir())
        .args(["--endpoint", &s.emu.url(), "--state", location])
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().await.unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn s3_location(prefix: &str) -> String {
    format!(
        "s3://{}/{prefix}?endpoint={}&region=us-east-1",
        seaweedfs::bucket("versions"),
        seaweedfs::endpoint()
    )
}

fn set_memory(s: &TestContext, memory: u32) {
    let path = s.dir.join("stack.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let changed = regex::Regex::new(r"memory: \d+")
        .unwrap()
        .replace(&text, format!("memory: {memory}").as_str())
        .into_owned();
    std::fs::write(&path, changed).unwrap();
}

async fn pull_push_history_and_old_versions(location: &str) {
    let s = TestContext::example("quickstart").await;
    assert_exit(&on(&s, location, &["apply", "--auto-approve"], &[]).await, 0);
    let first = on(&s, location, &["state", "pull"], &[]).await;
    assert_exit(&first, 0);
    let first_json: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    let first_serial = first_json["serial"].as_u64().unwrap();
    assert!(
        first_json["resources"]["function.hello"]["id"].is_string(),
        "{first_json}"
    );
    std::fs::write(s.root.join("pulled.json"), &first.stdout).unwrap();

    set_memory(&s, 256);
    assert_exit(&on(&s, location, &["apply", "--auto-approve"], &[]).await, 0);
    let history = on(&s, location, &["state", "history"], &[]).await;
    assert_exit(&history, 0);
    let text = stdout(&history);
    assert!(text.contains("serial") && text.contains("apply"), "{text}");
    let latest: u64 =
        serde_json::from_slice::<serde_json::Value>(&on(&s, location, &["state", "pull"], &[]).await.stdout).unwrap()
            ["serial"]
            .as_u64()
            .unwrap();
    assert!(latest > first_serial);
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with(&format!("{first_serial} "))),
        "serial {first_serial} is not listed: {text}"
    );

    // The old version, whole and one resource of it.
    let old = on(
        &s,
        location,
        &["state", "show", "--serial", &first_serial.to_string()],
        &[],
    )
    .await;
    assert_exit(&old, 0);
    let old_json: serde_json::Value = serde_json::from_slice(&old.stdout).unwrap();
    assert_eq!(old_json["serial"], first_json["serial"]);
    let hello = on(
        &s,
        location,
        &["state", "show", "function.hello", "--serial", &first_serial.to_string()],
        &[],
    )
    .await;
    assert_exit(&hello, 0);
    assert!(stdout(&hello).contains("memory_size = 128"), "{}", stdout(&hello));
    let missing = on(&s, location, &["state", "show", "--serial", "999"], &[]).await;
    assert_exit(&missing, 1);
    assert!(
        stderr(&missing).contains("keeps no version 999"),
        "{}",
        stderr(&missing)
    );

    // Pushing the older copy back is refused (the serial would go back) unless --force.
    let pulled = s.root.join("pulled.json");
    let refused = on(&s, location, &["state", "push", pulled.to_str().unwrap()], &[]).await;
    assert_exit(&refused, 1);
    assert!(
        stderr(&refused).contains("is older than the stored state's"),
        "{}",
        stderr(&refused)
    );
    assert!(stderr(&refused).contains("--force"), "{}", stderr(&refused));
    // Another lineage is refused too.
    let mut other = first_json.clone();
    other["lineage"] = "another-lineage".into();
    other["serial"] = (latest + 5).into();
    std::fs::write(s.root.join("other.json"), serde_json::to_vec(&other).unwrap()).unwrap();
    let other_path = s.root.join("other.json");
    let refused = on(&s, location, &["state", "push", other_path.to_str().unwrap()], &[]).await;
    assert_exit(&refused, 1);
    assert!(stderr(&refused).contains("is another state"), "{}", stderr(&refused));
    let forced = on(
        &s,
        location,
        &["state", "push", pulled.to_str().unwrap(), "--force"],
        &[],
    )
    .await;
    assert_exit(&forced, 0);
    let now: serde_json::Value =
        serde_json::from_slice(&on(&s, location, &["state", "pull"], &[]).await.stdout).unwrap();
    assert_eq!(now["resources"], first_json["resources"]);
    assert!(now["serial"].as_u64().unwrap() > latest, "a push is a new version");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_push_history_and_old_versions_on_a_file() {
    pull_push_history_and_old_versions("state/quickstart.json").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_push_history_and_old_versions_on_s3() {
    pull_push_history_and_old_versions(&s3_location("pull")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_copies_the_history_keeps_the_source_and_the_plan_stays_empty() {
    let s = TestContext::example("quickstart").await;
    let file = "state/quickstart.json";
    assert_exit(&on(&s, file, &["apply", "--auto-approve"], &[]).await, 0);
    set_memory(&s, 256);
    assert_exit(&on(&s, file, &["apply", "--auto-approve"], &[]).await, 0);
    let source_history = stdout(&on(&s, file, &["state", "history"], &[]).await);
    let target = s3_location("migrated");
    let out = on(&s, file, &["state", "migrate", "--to", &target], &[]).await;
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("the source is kept"), "{}", stdout(&out));
    assert!(s.root.join(file).exists(), "the source was removed");
    let target_history = stdout(&on(&s, &target, &["state", "history"], &[]).await);
    let serials = |text: &str| -> Vec<String> {
        text.lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect()
    };
    assert_eq!(serials(&target_history), serials(&source_history), "{target_history}");
    let out = on(&s, &target, &["plan", "--detailed-exitcode"], &[]).await;
    assert_exit(&out, 0);
    // A second migration into a location that holds a state is refused.
    let out = on(&s, file, &["state", "migrate", "--to", &target], &[]).await;
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("there is a state at"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_state_hides_its_resources_and_is_never_read_without_the_key() {
    let s = TestContext::example("quickstart").await;
    let file = "state/quickstart.json";
    let key = [("FGFORM_STATE_PASSPHRASE", PASSPHRASE)];
    assert_exit(&on(&s, file, &["apply", "--auto-approve"], &key).await, 0);
    let stored = std::fs::read_to_string(s.root.join(file)).unwrap();
    assert!(
        stored.contains("\"ciphertext\"") && stored.contains("\"serial\""),
        "{stored}"
    );
    assert!(
        !stored.contains("function.hello") && !stored.contains("urn:fss"),
        "{stored}"
    );
    assert!(!stored.contains(PASSPHRASE));
    // The journal and history are encrypted as well.
    for entry in walkdir::WalkDir::new(s.root.join("state")) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() && !entry.path().starts_with(s.root.join("state/emulator")) {
            let text = String::from_utf8_lossy(&std::fs::read(entry.path()).unwrap()).into_owned();
            assert!(
                !text.contains("urn:fss"),
                "{} holds plaintext: {text}",
                entry.path().display()
            );
        }
    }
    assert_exit(&on(&s, file, &["plan", "--detailed-exitcode"], &key).await, 0);
    // Without the key: an error naming the variable, never a guess.
    let out = on(&s, file, &["plan"], &[]).await;
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("FGFORM_STATE_PASSPHRASE"), "{}", stderr(&out));
    let out = on(&s, file, &["plan"], &[("FGFORM_STATE_PASSPHRASE", "wrong passphrase")]).await;
    assert_exit(&out, 1);
    assert!(!stderr(&out).contains("wrong passphrase"), "{}", stderr(&out));
    // Decrypting is a migration: to plaintext, in place.
    let out = on(&s, file, &["state", "migrate", "--to", file, "--to-plaintext"], &key).await;
    assert_exit(&out, 0);
    assert!(std::fs::read_to_string(s.root.join(file))
        .unwrap()
        .contains("function.hello"));
    // Once encryption is configured, a plaintext state is refused …
    let out = on(&s, file, &["plan"], &key).await;
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("migrate"), "{}", stderr(&out));
    // … until it is migrated into encryption.
    let out = on(&s, file, &["state", "migrate", "--to", file], &key).await;
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("encrypted"), "{}", stdout(&out));
    assert_exit(&on(&s, file, &["plan", "--detailed-exitcode"], &key).await, 0);
}
