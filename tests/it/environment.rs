//! The suite's own environment never reaches the `fgform` it runs: a developer's or a CI
//! runner's cloud credentials, region, project, state or colour settings are scrubbed by the
//! one command builder of [`crate::context`].

use std::ffi::OsString;

use crate::context::{assert_exit, fgform_command_over, TestContext};

const STACK: &str =
    "stack: envy\nfunctions:\n  hello:\n    runtime: Python3.9\n    handler: index.handler\n    code: ./hello\n";

/// What a shell configured for the real cloud holds.
fn cloud_shell() -> Vec<(OsString, OsString)> {
    [
        ("HW_REGION_NAME", "cn-bogus-9"),
        ("HW_PROJECT_ID", "ffffffffffffffffffffffffffffffff"),
        ("HW_ACCESS_KEY", "BOGUSACCESSKEY"),
        ("HW_SECRET_KEY", "bogus-secret"),
        ("HUAWEICLOUD_SDK_REGION", "cn-bogus-9"),
        ("HUAWEICLOUD_SDK_PROJECT_ID", "ffffffffffffffffffffffffffffffff"),
        ("FGFORM_STATE", "elsewhere.json"),
        ("CLICOLOR_FORCE", "1"),
        ("RUST_LOG", "trace"),
    ]
    .into_iter()
    .map(|(k, v)| (k.into(), v.into()))
    .collect()
}

/// The test process's environment plus [`cloud_shell`].
fn inherited() -> Vec<(OsString, OsString)> {
    std::env::vars_os().chain(cloud_shell()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloud_environment_in_the_test_process_does_not_reach_fgform() {
    let w = TestContext::new().await;
    w.stack("envy", STACK);
    // Without the emulator's keys the context passes, fgform signs for a loopback endpoint
    // with the emulator's defaults, unless a leaked HW_ACCESS_KEY/HW_SECRET_KEY pair is there.
    let out = w
        .command_over(inherited())
        .env_remove("HUAWEICLOUD_SDK_AK")
        .env_remove("HUAWEICLOUD_SDK_SK")
        .args(["apply", "envy", "--auto-approve", "--endpoint", &w.emu.url()])
        .output()
        .await
        .unwrap();
    let t = assert_exit(&out, 0);
    assert!(t.contains("Apply complete!"), "{t}");
    assert!(!t.contains("TRACE"), "RUST_LOG reached fgform: {t}");
    assert!(w.path("state/envy.json").exists(), "the default state path is used");
    assert_eq!(w.functions().await, ["hello"]);
}

/// The control for the test above: the same environment, not scrubbed, does change what
/// `fgform` does, so that test fails if the scrubbing goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_environment_unscrubbed_would_sign_with_its_keys() {
    let w = TestContext::new().await;
    w.stack("envy", STACK);
    let mut cmd = tokio::process::Command::from(fgform_command_over(std::iter::empty()));
    cmd.envs(inherited())
        .current_dir(&w.root)
        .stdin(std::process::Stdio::null())
        .args(["plan", "envy", "--endpoint", &w.emu.url()]);
    let t = assert_exit(&cmd.output().await.unwrap(), 1);
    assert!(t.contains("ak BOGUSACCESSKEY not exist"), "{t}");
    assert!(t.contains("TRACE"), "{t}");
}

#[test]
fn every_cloud_and_behaviour_variable_is_scrubbed() {
    for (name, _) in cloud_shell() {
        assert!(crate::context::scrubbed(&name), "{name:?} is kept");
    }
    for name in [
        "HW_USER_NAME",
        "HUAWEICLOUD_SDK_AK",
        "FGFORM_EMULATOR_AK",
        "NO_COLOR",
        "CLICOLOR",
        "DB_PASSWORD",
    ] {
        assert!(crate::context::scrubbed(name.as_ref()), "{name} is kept");
    }
    for name in ["PATH", "HOME", "TMPDIR", "LLVM_PROFILE_FILE"] {
        assert!(!crate::context::scrubbed(name.as_ref()), "{name} is scrubbed");
    }
}
