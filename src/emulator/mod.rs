//! `fgform emulator`: a local FunctionGraph v2 API that the official SDKs cannot tell from
//! the cloud. It is the embedded default target of fgform and the target of its tests.
//!
//! | file | concern |
//! |---|---|
//! | `server.rs` | accept loop (hyper; backs off on EMFILE), header/idle timeouts, serving the axum router |
//! | `gateway.rs` | the layers: request id, request log, body limit, routing note + project check, chaos, auth |
//! | `routes/` | the axum router: path → [`crate::api::Operation`] + handler, one file per route family, validation as the API does it |
//! | `fail.rs` | the error answer, rendered as [`crate::api::ApiErrorBody`] |
//! | `store.rs` | typed tables, journal + snapshot under `--data` |
//! | `blobs.rs` | code packages by SHA-512, on disk or in memory; unreferenced ones swept |
//! | `chaos.rs` | fault rules (429/5xx/latency/drop) |
//! | `throttle.rs` | `--rate-limit`: the gateway's token bucket per project (429 APIGW.0308) |
//! | `obs.rs` | `--obs-endpoint`: packages named by URL fetched from an S3-compatible endpoint, so their digest is real |
//! | `flow/` | workflow executions: the engine running a definition, their in-memory records |
//! | `clock.rs` | the emulator's time: real time plus what `/_emulator/clock/advance` added; schedules sleep on it |
//! | `timers.rs` | TIMER triggers firing on their schedules (on the clock), and firing one on demand |
//! | `runtime/` | running functions' code: Python and Node instances kept warm per version, async invocation records |
//! | `admin.rs` | `/_emulator/*`: health, request log, chaos, reset, state dump, function logs, undeliverable destinations |
//! | `reqlog.rs` | the request log tests read to check call order |
//! | `routing.rs` | which version an invocation through an alias runs: random, or one seeded sequence per alias (`--seed`) |
//!
//! Depends on [`crate::api`] only.

mod admin;
mod blobs;
pub mod chaos;
mod clock;
mod fail;
mod flow;
mod gateway;
mod obs;
mod reqlog;
mod routes;
mod routing;
mod runtime;
mod server;
pub mod store;
mod throttle;
mod timers;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::watch;

use crate::api::local;

pub use chaos::Rule as ChaosRule;
pub use reqlog::{Entry as RequestLogEntry, Logged as LoggedOperation};
pub use runtime::MAX_INSTANCES;

/// Largest request body the gateway accepts (APIGW.0201 above it).
pub const MAX_BODY_BYTES: usize = crate::api::limits::REQUEST_BODY_MAX_BYTES as usize;
/// Allowed distance between `X-Sdk-Date` and the emulator's clock.
pub const MAX_CLOCK_SKEW_SECS: i64 = 15 * 60;

/// Per-project limits; `--quota TYPE=N` overrides them.
#[derive(Debug, Clone)]
pub struct Quotas {
    /// `fgs_func_num`: functions per project.
    pub functions: u64,
    /// `fgs_func_code_size`: total code size per project, in MB.
    pub code_size_mb: u64,
    /// `fgs_workflow_num`: workflows per project.
    pub workflows: u64,
    /// `fgs_dependency_num`: dependency packages per project.
    pub dependencies: u64,
    /// `fgs_alias_num`: aliases per function.
    pub aliases: u64,
    /// `fgs_trigger_num`: triggers of one type per function.
    pub triggers_per_type: u64,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            functions: 400,
            code_size_mb: 51_200,
            workflows: 100,
            dependencies: 200,
            aliases: 10,
            triggers_per_type: 10,
        }
    }
}

impl Quotas {
    /// Applies one `TYPE=N` override.
    pub fn set(&mut self, spec: &str) -> Result<(), String> {
        let (key, value) = spec
            .split_once('=')
            .ok_or_else(|| format!("quota `{spec}` is not TYPE=N"))?;
        let n: u64 = value
            .trim()
            .parse()
            .map_err(|_| format!("quota `{spec}` needs a whole number"))?;
        match key.trim() {
            "fgs_func_num" => self.functions = n,
            "fgs_func_code_size" => self.code_size_mb = n,
            "fgs_workflow_num" => self.workflows = n,
            "fgs_dependency_num" => self.dependencies = n,
            "fgs_alias_num" => self.aliases = n,
            "fgs_trigger_num" => self.triggers_per_type = n,
            other => {
                return Err(format!(
                    "unknown quota `{other}` (fgs_func_num, fgs_func_code_size, fgs_workflow_num, \
                     fgs_dependency_num, fgs_alias_num, fgs_trigger_num)"
                ))
            }
        }
        Ok(())
    }
}

/// How to run an emulator.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data: Option<PathBuf>,
    pub access_key: String,
    pub secret_key: String,
    /// The first project served: IAM tokens without a project scope are scoped to it.
    pub project_id: String,
    /// Further projects served (`--project-id` given more than once). A path naming any
    /// other project is refused (403), so a typo cannot quietly create a second world.
    pub extra_project_ids: Vec<String>,
    pub region: String,
    /// Skip authentication (debugging only).
    pub no_auth: bool,
    pub chaos: Vec<ChaosRule>,
    pub quotas: Quotas,
    pub fsync: bool,
    /// IAM password accepted by `/v3/auth/tokens`.
    pub iam_password: String,
    /// How long an HTTP/1 client may take to send a request's headers (hyper's
    /// `header_read_timeout`); the connection is closed after it.
    pub header_read_timeout: Duration,
    /// A connection with no request in flight and no bytes moving for this long is closed:
    /// an idle keep-alive, a client that connected and went quiet, or one that stalled
    /// before hyper could tell HTTP/1 from HTTP/2.
    pub idle_timeout: Duration,
    /// `--obs-endpoint`: an S3-compatible endpoint standing in for OBS. Code and dependency
    /// packages named by URL are fetched from it (their digest, size and etag are the real
    /// ones); without it the digest is that of the URL's text.
    pub obs_endpoint: Option<String>,
    /// `--seed`: invocations through an alias pick their version from a generator seeded
    /// per (function, alias) from this, so weighted routing repeats run after run; `None`
    /// draws at random.
    pub seed: Option<u64>,
    /// `--rate-limit N`: API requests per second per project the gateway lets through; the
    /// rest are answered 429 APIGW.0308 with a `Retry-After`, as the cloud's API gateway
    /// throttles. A token bucket holding one second's worth (N requests, at least 1).
    /// `None`: no throttling. The control plane (`/_emulator/*`) is never throttled.
    pub rate_limit: Option<f64>,
    /// `--max-instances N`: function instances (interpreter processes) alive at once across
    /// every function. At the limit, the instance idle the longest is stopped to start
    /// another; with none idle, the invocation is throttled (429 `FSS.0429`; an async one
    /// waits and tries again).
    pub max_instances: usize,
}

impl Config {
    /// Every project this emulator serves, `project_id` first.
    pub fn project_ids(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.project_id.as_str()).chain(self.extra_project_ids.iter().map(String::as_str))
    }

    /// Whether a path naming `project` is served.
    pub fn serves(&self, project: &str) -> bool {
        self.project_ids().any(|p| p == project)
    }
}

/// Whether `id` may be a `{project_id}`: 1 to 64 ASCII letters, digits, `-` or `_`.
///
/// Huawei project ids are 32 hex digits; the reference (`fgs-api.md` §0) says "32 hex/alnum
/// chars (SDK only checks 1..64)", so this is no stricter than the SDK's length check plus
/// a charset that can never name a path separator, a dot segment or another project's rows
/// (store keys are `{project}/{name}`).
pub fn valid_project_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:0".parse().expect("valid address"),
            data: None,
            access_key: local::ACCESS_KEY.into(),
            secret_key: local::SECRET_KEY.into(),
            project_id: local::PROJECT_ID.into(),
            extra_project_ids: Vec::new(),
            region: local::REGION.into(),
            no_auth: false,
            chaos: Vec::new(),
            quotas: Quotas::default(),
            fsync: false,
            iam_password: local::IAM_PASSWORD.into(),
            header_read_timeout: Duration::from_secs(30),
            // Longer than the usual client pool idle timeout (reqwest: 90 s), so a client
            // drops an idle connection before the emulator closes it under a request.
            idle_timeout: Duration::from_secs(120),
            obs_endpoint: None,
            seed: None,
            rate_limit: None,
            max_instances: MAX_INSTANCES,
        }
    }
}

/// Shared state of a running emulator.
pub(crate) struct Shared {
    pub config: Config,
    pub db: Mutex<store::Db>,
    pub blobs: blobs::Blobs,
    pub chaos: Mutex<chaos::Chaos>,
    pub log: Mutex<reqlog::RequestLog>,
    pub runtime: runtime::Runtimes,
    pub clock: Arc<clock::Clock>,
    /// Workflow executions (in memory only).
    pub executions: Mutex<flow::Executions>,
    pub timers: timers::Timers,
    /// Alias routing's draws (seeded with `Config::seed`).
    pub routing: routing::Routing,
    /// `http://ADDR` of the listening socket: where `download_link`s point.
    pub url: String,
    /// The gateway's throttle (`Config::rate_limit`).
    pub throttle: Option<throttle::Throttle>,
}

/// A running emulator. Dropping the handle tells it to stop (it stops accepting and lets
/// in-flight requests finish); [`EmulatorHandle::shutdown`] also waits for that and writes
/// a snapshot.
pub struct EmulatorHandle {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    /// `None` once [`EmulatorHandle::shutdown`] or [`EmulatorHandle::wait`] took it.
    task: Option<tokio::task::JoinHandle<()>>,
    shared: Arc<Shared>,
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

impl EmulatorHandle {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// The request log (what `GET /_emulator/requests` serves).
    pub fn requests(&self) -> Vec<RequestLogEntry> {
        self.shared.log.lock().since(0)
    }

    /// Stops accepting, lets in-flight requests finish, and flushes a snapshot.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        let _ = self.shared.db.lock().compact();
    }

    /// Signals the server to stop without waiting for it (what dropping the handle does).
    pub fn stop(&self) {
        let _ = self.shutdown.send(true);
    }

    /// Waits until the server stops (after [`EmulatorHandle::stop`] from elsewhere or a
    /// fatal error); the handle is dropped, and so the server stopped, only then.
    pub async fn wait(mut self) {
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// Errors starting an emulator.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot prepare the blob directory")]
    Blobs(#[source] std::io::Error),
    #[error("cannot prepare the directory functions run in")]
    Runtime(#[source] std::io::Error),
    #[error("`{0}` is not a project id (1 to 64 letters, digits, `-` or `_`)")]
    ProjectId(String),
    #[error("a rate limit must be a positive number of requests per second, not {0}")]
    RateLimit(f64),
}

/// Starts an emulator on `config.listen` (port 0 picks a free port) inside the current
/// tokio runtime and returns once it accepts connections.
pub async fn start(config: Config) -> Result<EmulatorHandle, StartError> {
    if let Some(bad) = config.project_ids().find(|p| !valid_project_id(p)) {
        return Err(StartError::ProjectId(bad.to_string()));
    }
    if let Some(rate) = config.rate_limit.filter(|r| !(*r > 0.0 && r.is_finite())) {
        return Err(StartError::RateLimit(rate));
    }
    let db = match &config.data {
        Some(dir) => store::Db::open(dir, config.fsync)?,
        None => store::Db::in_memory(),
    };
    let blobs =
        blobs::Blobs::new(config.data.as_ref().map(|d| d.join("blobs")), config.fsync).map_err(StartError::Blobs)?;
    // Orphans a kill -9 left between a journaled delete and its blob's removal.
    blobs.sweep(&db.tables.blob_digests()).map_err(StartError::Blobs)?;
    let mut chaos = chaos::Chaos::default();
    for rule in &config.chaos {
        chaos.add(rule.clone());
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.listen,
        source,
    })?;
    // Who holds the data directory, for a second process that finds it locked: the URL to
    // point `--endpoint` at instead.
    if let Some(dir) = &config.data {
        let holder = serde_json::json!({"url": format!("http://{addr}"), "pid": std::process::id()});
        let _ = std::fs::write(dir.join("LOCK"), format!("{holder}\n"));
    }
    let clock: Arc<clock::Clock> = Arc::default();
    let runtime = runtime::Runtimes::new(config.data.as_deref(), clock.clone(), config.max_instances)
        .map_err(StartError::Runtime)?;
    let routing = routing::Routing::new(config.seed);
    let throttle = config.rate_limit.map(throttle::Throttle::new);
    let shared = Arc::new(Shared {
        config,
        db: Mutex::new(db),
        blobs,
        chaos: Mutex::new(chaos),
        log: Mutex::new(reqlog::RequestLog::default()),
        runtime,
        clock,
        executions: Mutex::default(),
        timers: timers::Timers::default(),
        routing,
        url: format!("http://{addr}"),
        throttle,
    });
    tokio::spawn(timers::run(Arc::downgrade(&shared)));
    let (tx, rx) = watch::channel(false);
    let router = routes::router(shared.clone());
    let task = tokio::spawn(server::serve(listener, shared.clone(), router, rx));
    Ok(EmulatorHandle {
        addr,
        shutdown: tx,
        task: Some(task),
        shared,
    })
}

#[cfg(test)]
mod tests;
