//! A throwaway PostgreSQL cluster for the tests: started once per test process on first
//! use, on a free loopback port, with scram-sha-256 password authentication; stopped and
//! deleted when the test process exits, however it exits (a detached reaper waits for the
//! process to go away).
//!
//! Needs the PostgreSQL server binaries (`initdb`, `pg_ctl`, `createdb`) on PATH or under
//! `/usr/lib/postgresql/<version>/bin`: `apt-get install postgresql` on Debian and Ubuntu.
//! Run as root (as in CI), the cluster runs as the `postgres` user through `runuser`.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The running cluster.
pub struct Server {
    pub port: u16,
    pub user: String,
    pub password: String,
    pub database: String,
    /// The temporary directory holding the data directory, socket and log.
    pub dir: PathBuf,
}

static SERVER: OnceLock<Server> = OnceLock::new();

/// The cluster, started on first use.
pub fn server() -> &'static Server {
    SERVER.get_or_init(start)
}

/// `postgres://USER:PASSWORD@127.0.0.1:PORT/DB` of the test cluster (started on first use).
pub fn url() -> String {
    let s = server();
    format!(
        "postgres://{}:{}@127.0.0.1:{}/{}",
        s.user, s.password, s.port, s.database
    )
}

/// The same URL without the password, which then comes from `PGPASSWORD` ([`password`]).
pub fn url_without_password() -> String {
    let s = server();
    format!("postgres://{}@127.0.0.1:{}/{}", s.user, s.port, s.database)
}

/// The password of [`url`]'s user.
pub fn password() -> String {
    server().password.clone()
}

/// The directory holding `initdb` and `pg_ctl`.
fn bin_dir() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("pg_ctl"))
            .find(|pg_ctl| pg_ctl.is_file())
    });
    if let Some(pg_ctl) = on_path {
        // Through a symlink (/usr/local/bin/pg_ctl → /usr/lib/postgresql/15/bin/pg_ctl) to
        // the directory holding initdb and createdb too.
        let real = std::fs::canonicalize(&pg_ctl).unwrap_or(pg_ctl);
        return real.parent().expect("a file has a parent").to_path_buf();
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("pg_ctl").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    match versions.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "the PostgreSQL tests need a PostgreSQL server (initdb and pg_ctl on PATH or under \
             /usr/lib/postgresql/*/bin): install it, e.g. `apt-get install postgresql`"
        ),
    }
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// `program` run as the cluster's owner: `postgres` through `runuser` when we are root
/// (PostgreSQL refuses to run as root), else as ourselves.
fn as_owner(program: &Path) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn run(command: &mut Command, what: &str) -> Result<(), String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: cannot run {command:?}: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{what} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("a bound address").port()
}

/// Starts the reaper: once this process is gone (however it ends), it stops the cluster
/// and deletes `dir`.
fn spawn_reaper(bin: &Path, dir: &Path) {
    let data = dir.join("data");
    let runuser = if is_root() { "runuser -u postgres -- " } else { "" };
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
         {runuser}'{pg_ctl}' stop -D '{data}' -m immediate -w -t 30 >/dev/null 2>&1; \
         rm -rf '{dir}'",
        pid = std::process::id(),
        pg_ctl = bin.join("pg_ctl").display(),
        data = data.display(),
        dir = dir.display(),
    );
    // Forked twice (the outer shell exits at once) so the reaper is nobody's child here,
    // and in a session of its own so a Ctrl-C of the tests does not reach it.
    let status = Command::new("sh")
        .args(["-c", "setsid sh -c \"$0\" </dev/null >/dev/null 2>&1 &", &script])
        .stdin(Stdio::null())
        .status()
        .expect("spawn the cluster's reaper (sh, setsid)");
    assert!(status.success(), "spawning the cluster's reaper failed: {status}");
}

fn start() -> Server {
    let bin = bin_dir();
    let dir = std::env::temp_dir().join(format!(
        "fgform-pg-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).expect("create the cluster's temp dir");
    // Before anything can be left behind.
    spawn_reaper(&bin, &dir);
    let server = Server {
        port: 0,
        user: "fgform".into(),
        password: format!("pw-{}", uuid::Uuid::new_v4().simple()),
        database: "fgform".into(),
        dir: dir.clone(),
    };
    let pwfile = dir.join("pwfile");
    std::fs::write(&pwfile, &server.password).expect("write the password file");
    make_certificates(&dir);
    if is_root() {
        run(
            Command::new("chown").args(["-R", "postgres:"]).arg(&dir),
            "giving the cluster dir to the postgres user",
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }
    let data = dir.join("data");
    run(
        as_owner(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                &server.user,
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .arg(format!("--pwfile={}", pwfile.display())),
        "initdb",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let log = dir.join("server.log");
    let mut failures = Vec::new();
    // A free port can be taken by someone else before the server binds it: try a few.
    for _ in 0..3 {
        let port = free_port();
        // TLS on, with a certificate for localhost and 127.0.0.1 from the test CA
        // ([`ca_file`]); clients that ask for no TLS still connect without it.
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {dir} -c max_connections=200 -c ssl=on \
             -c ssl_cert_file={dir}/server.crt -c ssl_key_file={dir}/server.key",
            dir = dir.display()
        );
        let started = run(
            as_owner(&bin.join("pg_ctl"))
                .arg("start")
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(&log)
                .args(["-w", "-t", "60", "-o", &options])
                .stdout(Stdio::null()),
            "pg_ctl start",
        );
        match started {
            Ok(()) => {
                let server = Server { port, ..server };
                create_database(&bin, &server);
                return server;
            }
            Err(e) => failures.push(e),
        }
    }
    panic!(
        "the test PostgreSQL cluster did not start:\n{}\n--- server log ---\n{}",
        failures.join("\n"),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

/// The test CA's certificate (PEM), which the cluster's TLS certificate chains to.
pub fn ca_file() -> PathBuf {
    server().dir.join("ca.pem")
}

/// Runs `openssl ARGS` in `dir`.
fn openssl(dir: &Path, args: &[&str], what: &str) {
    run(Command::new("openssl").args(args).current_dir(dir), what)
        .unwrap_or_else(|e| panic!("{e} (the PostgreSQL TLS tests need the openssl command)"));
}

/// A new self-signed CA named `cn` in `dir`: `<name>.key` and `<name>.pem`.
pub fn make_ca(dir: &Path, name: &str, cn: &str) {
    let (key, pem, subject) = (format!("{name}.key"), format!("{name}.pem"), format!("/CN={cn}"));
    let args = [
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &pem, "-days", "3", "-subj", &subject,
    ];
    openssl(dir, &args, "making a test CA");
}

/// A throwaway CA, and a server certificate it signed for `localhost` and `127.0.0.1`
/// (`server.crt`, `server.key` readable by its owner only, as PostgreSQL demands).
fn make_certificates(dir: &Path) {
    let openssl = |args: &[&str], what: &str| openssl(dir, args, what);
    make_ca(dir, "ca", "fgform test CA");
    openssl(
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
        "making the server key",
    );
    std::fs::write(dir.join("san.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n").expect("write san.ext");
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "3",
            "-extfile",
            "san.ext",
        ],
        "signing the server certificate",
    );
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(dir.join("server.key"), std::fs::Permissions::from_mode(0o600)).expect("chmod server.key");
}

fn create_database(bin: &Path, server: &Server) {
    run(
        Command::new(bin.join("createdb"))
            .args(["-h", "127.0.0.1", "-p", &server.port.to_string(), "-U", &server.user])
            .arg(&server.database)
            .env("PGPASSWORD", &server.password),
        "createdb",
    )
    .unwrap_or_else(|e| {
        panic!(
            "{e}\n--- server log ---\n{}",
            std::fs::read_to_string(server.dir.join("server.log")).unwrap_or_default()
        )
    });
}
