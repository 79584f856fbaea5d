//! Packaging is deterministic: two copies of a tree made with different mtimes, creation
//! order and permission bits (other than execute) zip to the same bytes, and the digest is
//! what `sha512sum` says about the written file.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use fgform::package;

/// Relative path, contents, executable.
fn tree() -> Vec<(String, Vec<u8>, bool)> {
    let mut files = vec![
        (
            "index.py".to_string(),
            b"def handler(event, context):\n    return event\n".repeat(20),
            false,
        ),
        (
            "bin/run.sh".to_string(),
            b"#!/bin/sh\nexec python3 index.py\n".to_vec(),
            true,
        ),
        ("lib/zeta.txt".to_string(), b"z".repeat(5000), false),
        ("lib/alpha/β.json".to_string(), br#"{"k": "v"}"#.to_vec(), false),
        ("empty".to_string(), Vec::new(), false),
        ("tests/skip.py".to_string(), b"skipped".to_vec(), false),
    ];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let noise: Vec<u8> = (0..70_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    files.push(("data/noise.bin".to_string(), noise, false));
    for i in 0..40 {
        files.push((
            format!("many/file{i:02}.txt"),
            format!("file {i}\n").repeat(i + 1).into_bytes(),
            i % 7 == 0,
        ));
    }
    files
}

fn write_tree(root: &Path, reverse: bool, mode_file: u32, mode_exec: u32, mtime: SystemTime) {
    let mut files = tree();
    if reverse {
        files.reverse();
    }
    for (path, contents, executable) in files {
        let path = root.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, contents).unwrap();
        fs::set_permissions(
            &path,
            fs::Permissions::from_mode(if executable { mode_exec } else { mode_file }),
        )
        .unwrap();
        fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
    }
    fs::write(root.join(".fgformignore"), "tests/\n").unwrap();
}

fn zip_of(root: &Path, out: &Path) -> package::Artifact {
    let file = fs::File::create(out).unwrap();
    package::package_dir(root, &["*.tmp".to_string()], file).unwrap().1
}

#[test]
fn identical_bytes_from_trees_with_different_mtimes_order_and_permissions() {
    let temp = tempfile::tempdir().unwrap();
    let (a, b) = (temp.path().join("a"), temp.path().join("b"));
    write_tree(
        &a,
        false,
        0o644,
        0o755,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000),
    );
    // Different umask-like bits, reverse creation order, another mtime, a stray excluded file.
    write_tree(&b, true, 0o600, 0o700, SystemTime::now());
    fs::write(b.join("scratch.tmp"), "left out by exclude").unwrap();
    let (zip_a, zip_b) = (temp.path().join("a.zip"), temp.path().join("b.zip"));
    let artifact_a = zip_of(&a, &zip_a);
    let artifact_b = zip_of(&b, &zip_b);
    let (bytes_a, bytes_b) = (fs::read(&zip_a).unwrap(), fs::read(&zip_b).unwrap());
    assert!(bytes_a == bytes_b, "zips differ");
    assert_eq!(artifact_a, artifact_b);
    assert_eq!(
        artifact_a.files,
        tree().len() - 1 + 1,
        "tests/ is ignored and .fgformignore ships"
    );

    // Packaging the same tree again (another run) gives the same bytes too.
    let again = temp.path().join("again.zip");
    zip_of(&a, &again);
    assert!(fs::read(&again).unwrap() == bytes_a);

    // The executable bit survives; everything else is normalized.
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes_a)).unwrap();
    assert_eq!(archive.by_name("bin/run.sh").unwrap().unix_mode(), Some(0o100755));
    assert_eq!(archive.by_name("index.py").unwrap().unix_mode(), Some(0o100644));
    let names: Vec<String> = (0..archive.len())
        .map(|i| archive.by_index(i).unwrap().name().to_string())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "entries are sorted by path");
    assert!(!names.iter().any(|n| n.starts_with("tests/") || n.ends_with(".tmp")));
}

#[test]
fn digest_equals_sha512sum_of_the_written_zip() {
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path().join("tree");
    write_tree(&root, false, 0o644, 0o755, SystemTime::now());
    let zip = temp.path().join("out.zip");
    let artifact = zip_of(&root, &zip);
    let output = Command::new("sha512sum")
        .arg(&zip)
        .output()
        .expect("sha512sum is installed");
    assert!(output.status.success());
    let expected = String::from_utf8(output.stdout).unwrap();
    assert_eq!(artifact.digest, expected.split_whitespace().next().unwrap());
    assert_eq!(artifact.size, fs::metadata(&zip).unwrap().len());
    assert_eq!(package::hash_file(&zip).unwrap().digest, artifact.digest);
    let test = Command::new("unzip").arg("-tq").arg(&zip).output();
    if let Ok(test) = test {
        assert!(test.status.success(), "{}", String::from_utf8_lossy(&test.stdout));
    }
}

#[test]
fn oversized_code_is_refused_with_a_hint_to_use_obs() {
    let temp = tempfile::tempdir().unwrap();
    let archive = temp.path().join("big.zip");
    let file = fs::File::create(&archive).unwrap();
    file.set_len(fgform::model::limits::INLINE_CODE_MAX_BYTES + 1).unwrap();
    let address: fgform::model::Address = "function.big".parse().unwrap();
    let source = fgform::model::CodeSource::Archive {
        path: archive,
        kind: fgform::model::ArchiveKind::Zip,
    };
    let err = fgform::commands::package::build(&address, &source, temp.path()).unwrap_err();
    let rendered = fgform::error::render(&err);
    assert!(
        rendered.starts_with(&format!(
            "error: function.big: `{}` is 9.0 MiB (9437185 bytes), over the 9.0 MiB the API accepts in a base64 upload\n",
            temp.path().join("big.zip").display()
        )),
        "{rendered}"
    );
    assert!(
        rendered.ends_with("hint: set `provider.code_bucket: obs://BUCKET/PREFIX` and fgform uploads it there, or upload it to OBS and set `code: obs://BUCKET/KEY` (no size limit there)\n"),
        "{rendered}"
    );
}

/// Incompressible bytes: a zip of them is as large as they are.
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// The safety issue: `validate` said ok to 19 MiB of inline code and `apply` failed with 413
/// halfway through. Now `validate` packages every code folder and refuses it, and `plan`
/// refuses it before its first request.
#[test]
fn oversized_code_is_refused_offline_by_validate_and_plan() {
    let temp = tempfile::tempdir().unwrap();
    let stack = temp.path().join("stack");
    fs::create_dir_all(stack.join("big")).unwrap();
    fs::write(
        stack.join("stack.yaml"),
        "stack: big\nfunctions:\n  big:\n    runtime: Python3.9\n    handler: index.handler\n    memory: 128\n    timeout: 10\n    code: ./big\n",
    )
    .unwrap();
    fs::write(
        stack.join("big/index.py"),
        "def handler(event, context):\n    return 1\n",
    )
    .unwrap();
    fs::write(stack.join("big/model.bin"), noise(19 * 1024 * 1024)).unwrap();
    let dir = stack.to_str().unwrap();
    let run = |args: &[&str]| fgform_in(temp.path(), args);

    let (code, stderr) = run(&["validate", dir]);
    assert_eq!(code, Some(1), "{stderr}");
    let message = format!("error: functions.big.code: the zip of `{dir}/big` is 19.0 MiB (199");
    assert!(stderr.starts_with(&message), "{stderr}");
    assert!(
        stderr.contains("over the 9.0 MiB the API accepts in a base64 upload\n"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("  --> {dir}/stack.yaml:8:11\n  = address: function.big\n")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "hint: `fgform package {dir}` writes the zip to `{dir}/.fgform/build/function.big.zip`: set `provider.code_bucket: obs://BUCKET/PREFIX` and fgform uploads it there, or upload it to OBS and set `code: obs://BUCKET/KEY` (no size limit there)\n"
        )),
        "{stderr}"
    );

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let emulator = runtime
        .block_on(fgform::emulator::start(fgform::emulator::Config::default()))
        .unwrap();
    let state = temp.path().join("state.json");
    let (code, stderr) = run(&[
        "plan",
        dir,
        "--endpoint",
        &emulator.url(),
        "--state",
        state.to_str().unwrap(),
    ]);
    let requests = emulator.requests();
    runtime.block_on(emulator.shutdown());
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.starts_with(&format!("error: function.big: the zip of `{dir}/big` is 19.0 MiB (")),
        "{stderr}"
    );
    assert!(
        stderr.ends_with("hint: `fgform package` writes the zip to `.fgform/build/function.big.zip` in the stack directory: set `provider.code_bucket: obs://BUCKET/PREFIX` and fgform uploads it there, or upload it to OBS and set `code: obs://BUCKET/KEY` (no size limit there)\n"),
        "{stderr}"
    );
    assert!(requests.is_empty(), "the emulator saw {} request(s)", requests.len());
    assert!(!state.exists());
}

/// The boundary is the API's, not a guess: the largest zip `validate` accepts is uploaded by
/// `apply` to the emulator (which enforces the gateway's 12 MiB body), and 3 bytes more (one
/// base64 quantum) is refused by `validate`.
#[test]
fn the_largest_package_validate_accepts_is_one_the_api_accepts() {
    use fgform::model::limits::Upload;
    let largest = Upload::FunctionCode.max_request_package_bytes();
    let temp = tempfile::tempdir().unwrap();
    let stack = temp.path().join("stack");
    fs::create_dir_all(stack.join("code")).unwrap();
    fs::write(
        stack.join("stack.yaml"),
        "stack: edge\nfunctions:\n  edge:\n    runtime: Python3.9\n    handler: index.handler\n    memory: 128\n    timeout: 10\n    code: ./code\n",
    )
    .unwrap();
    // One stored file named `a`: the zip is its bytes plus 100 (local header 31, central
    // directory 47, end record 22).
    let write = |zip_bytes: u64| fs::write(stack.join("code/a"), noise(zip_bytes as usize - 100)).unwrap();
    let size = |stack: &Path| {
        let source = fgform::model::CodeSource::Directory {
            path: stack.join("code"),
            exclude: Vec::new(),
        };
        package::upload_size(&source).unwrap().unwrap()
    };
    let dir = stack.to_str().unwrap();
    let run = |args: &[&str]| fgform_in(temp.path(), args);

    write(largest + 3);
    assert_eq!(size(&stack), largest + 3);
    let (code, stderr) = run(&["validate", dir]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("over the 12.0 MiB the API gateway accepts"), "{stderr}");

    write(largest);
    assert_eq!(size(&stack), largest);
    let (code, stderr) = run(&["validate", dir]);
    assert_eq!(code, Some(0), "{stderr}");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let emulator = runtime
        .block_on(fgform::emulator::start(fgform::emulator::Config::default()))
        .unwrap();
    let state = temp.path().join("state.json");
    let (code, stderr) = run(&[
        "apply",
        dir,
        "--auto-approve",
        "--endpoint",
        &emulator.url(),
        "--state",
        state.to_str().unwrap(),
    ]);
    let statuses: Vec<String> = emulator
        .requests()
        .iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.operation, r.status))
        .collect();
    runtime.block_on(emulator.shutdown());
    assert_eq!(code, Some(0), "{stderr}\n{statuses:?}");
    assert!(
        statuses.iter().any(|s| s.starts_with("CreateFunction 20")),
        "{statuses:?}"
    );
}

/// `fgform ARGS` in `cwd` with no cloud settings from this environment: (exit code, stderr).
fn fgform_in(cwd: &Path, args: &[&str]) -> (Option<i32>, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fgform"));
    for (name, _) in std::env::vars() {
        if name.starts_with("HW_") || name.starts_with("HUAWEICLOUD_") {
            command.env_remove(name);
        }
    }
    let output = command.args(args).current_dir(cwd).output().unwrap();
    (output.status.code(), String::from_utf8(output.stderr).unwrap())
}
