//! Running functions' code: every `Python*` runtime on the machine's `python3`, every
//! `Node.js*` one on `node`, as worker processes ("instances") kept warm per function version
//! and reused, up to the function's concurrency.
//!
//! | file | concern |
//! |---|---|
//! | `spec.rs` | what an instance of one function version needs (built under the store lock) |
//! | `worker.rs` | one instance: the process, its JSON-lines protocol, deadline and crash reports |
//! | `code.rs` | packages unpacked once per digest |
//! | `shim.py`, `shim.js` | the interpreters' side: load the handler, build the context, capture the log |
//!
//! Handler code runs with the rights of the user running the emulator: instances get a
//! scrubbed environment and a private working directory, not a sandbox.

mod code;
pub(crate) mod metrics;
pub(crate) mod records;
mod spec;
mod worker;

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::Value;

pub(crate) use spec::{Credentials, Language, Package, Setup, Spec};
pub(crate) use worker::{Answer, Failure};
use worker::{Request, Worker};

/// Instances per function version when its concurrency is unlimited (-1).
pub const UNLIMITED_INSTANCES: usize = 32;
/// Instances alive at once across every function, unless `--max-instances` says otherwise:
/// each is an interpreter process (a Python one holds ~10 MB), and 10,000 functions whose
/// timers fire together would otherwise start 10,000 of them.
pub const MAX_INSTANCES: usize = 64;
/// An instance idle this long (on the emulator's clock) is stopped, as the service scales a
/// function in: the next invocation starts a new one.
pub const IDLE_INSTANCE_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// Invocation logs kept for `GET /_emulator/logs`, newest last.
const LOGS_KEPT: usize = 1000;
/// Bytes of one invocation's log kept (its end).
const LOG_BYTES_KEPT: usize = 64 * 1024;
/// Where the kept logs are appended (one JSON line each), so a restarted emulator (the
/// embedded one runs for one command) still has them.
const LOG_FILE: &str = "logs.jsonl";
/// The log file is rewritten with only the kept logs once it grows past this.
const LOG_FILE_MAX: u64 = 16 * 1024 * 1024;

/// The runtimes of one emulator.
pub(crate) struct Runtimes {
    root: PathBuf,
    /// Removes `root` with the emulator when it has no data directory.
    _temp: Option<tempfile::TempDir>,
    pools: Mutex<HashMap<String, Arc<Pool>>>,
    /// Instances alive and idle across every pool, and how many may be alive.
    counts: Arc<Counts>,
    max_instances: usize,
    /// Each language's interpreter, found on first use.
    interpreters: Mutex<HashMap<&'static str, Result<PathBuf, String>>>,
    logs: Mutex<VecDeque<LogRecord>>,
    /// `logs.jsonl`, open for appending, and its length (opened on the first log).
    log_file: Mutex<Option<(std::fs::File, u64)>>,
    /// Async invocations' records, and what undeliverable destinations would have got.
    pub records: records::Records,
    pub metrics: metrics::Metrics,
    clock: Arc<super::clock::Clock>,
}

/// Instances across every pool: those alive (idle, running an invocation or starting), and
/// those idle, so that a full emulator with none idle refuses in O(1), not a scan of every
/// pool by each waiting invocation.
#[derive(Default)]
struct Counts {
    alive: AtomicUsize,
    idle: AtomicUsize,
}

type Idle = (Worker, chrono::DateTime<chrono::Utc>);

/// The instances of one function version (one fingerprint of it).
struct Pool {
    fingerprint: String,
    /// Idle instances, and since when (the emulator's clock), the most recently used last.
    /// Changed through [`Pool::park`] and [`Pool::unpark`], which keep `counts.idle`.
    idle: Mutex<Vec<Idle>>,
    /// Instances alive: idle ones and those running an invocation or starting.
    alive: AtomicUsize,
    counts: Arc<Counts>,
}

impl Pool {
    /// Hands a running instance's seat back as an idle instance, still counted alive.
    fn park(&self, seat: Seat, worker: Worker, since: chrono::DateTime<chrono::Utc>) {
        std::mem::forget(seat);
        // Counted first: the count may run ahead of the lists, never below them.
        self.counts.idle.fetch_add(1, Ordering::SeqCst);
        self.idle.lock().push((worker, since));
    }

    /// Takes the idle instances `pick` chooses from the list (most recently used last),
    /// each with its seat.
    fn unpark(self: &Arc<Self>, pick: impl FnOnce(&mut Vec<Idle>) -> Vec<Idle>) -> Vec<(Worker, Seat)> {
        let taken = pick(&mut self.idle.lock());
        self.counts.idle.fetch_sub(taken.len(), Ordering::SeqCst);
        taken
            .into_iter()
            .map(|(worker, _)| (worker, Seat(self.clone())))
            .collect()
    }
}

/// A replaced pool's idle instances stop with it (their seats were kept, not dropped).
impl Drop for Pool {
    fn drop(&mut self) {
        let idle = self.idle.get_mut().len();
        self.counts.alive.fetch_sub(idle, Ordering::SeqCst);
        self.counts.idle.fetch_sub(idle, Ordering::SeqCst);
    }
}

/// Counts one instance as alive, in its pool and in all, until dropped (unless parked in
/// its pool's idle list).
struct Seat(Arc<Pool>);

impl Drop for Seat {
    fn drop(&mut self) {
        self.0.alive.fetch_sub(1, Ordering::SeqCst);
        self.0.counts.alive.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One invocation to run.
#[derive(Debug, Clone)]
pub(crate) struct Invocation {
    pub request_id: String,
    pub event: Value,
    /// The alias invoked through, if any.
    pub alias: String,
}

impl Invocation {
    /// A new invocation of `event` (through `alias`, if any), under a new request id.
    pub fn new(event: Value, alias: String) -> Invocation {
        Invocation {
            request_id: uuid::Uuid::new_v4().to_string(),
            event,
            alias,
        }
    }
}

/// How an invocation went.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    /// The handler's answer (`ok` false: it raised, or its initializer did), or why there
    /// was none.
    pub answer: Result<Answer, Failure>,
    /// The instance's initialization failed (`answer` holds the initializer's error).
    pub init_failed: bool,
    pub duration: Duration,
    /// The framed function log: `Start invoke request …` to `Finish invoke request …`.
    pub log: String,
}

impl Outcome {
    pub fn succeeded(&self) -> bool {
        matches!(&self.answer, Ok(a) if a.ok) && !self.init_failed
    }
}

/// Why an invocation could not start.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Refusal {
    /// Every instance the function may have is busy, or every instance the emulator may
    /// run is (`--max-instances`).
    Throttled,
    /// The function's concurrency is 0.
    Disabled,
    /// Nothing here runs this runtime, or its interpreter is missing.
    Unsupported(String),
    /// The code could not be put on disk.
    Code(String),
}

/// One invocation's log, for `GET /_emulator/logs`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct LogRecord {
    pub function_urn: String,
    pub version: String,
    pub request_id: String,
    pub time: String,
    pub ok: bool,
    /// Whether an instance was started for it.
    pub cold: bool,
    pub log: String,
}

impl Runtimes {
    /// Runtimes keeping unpacked code and instance directories under `data`/runtime, or in
    /// a temporary directory removed with them, with at most `max_instances` alive at once.
    pub fn new(
        data: Option<&Path>,
        clock: Arc<super::clock::Clock>,
        max_instances: usize,
    ) -> std::io::Result<Runtimes> {
        let (root, temp) = match data {
            Some(dir) => (dir.join("runtime"), None),
            None => {
                let temp = tempfile::Builder::new().prefix("fgform-emulator-").tempdir()?;
                (temp.path().to_path_buf(), Some(temp))
            }
        };
        std::fs::create_dir_all(root.join("work"))?;
        // Instances run in directories of their own: every path they are given is absolute.
        let root = root.canonicalize()?;
        std::fs::write(root.join("shim.py"), include_str!("shim.py"))?;
        std::fs::write(root.join("shim.js"), include_str!("shim.js"))?;
        let logs = read_logs(&root.join(LOG_FILE));
        Ok(Runtimes {
            root,
            _temp: temp,
            pools: Mutex::default(),
            counts: Arc::default(),
            max_instances: max_instances.max(1),
            interpreters: Mutex::default(),
            logs: Mutex::new(logs),
            log_file: Mutex::default(),
            records: records::Records::new(clock.clone()),
            metrics: metrics::Metrics::default(),
            clock,
        })
    }

    /// Whether package `digest` is unpacked already (its bytes need not be read).
    pub fn has_code(&self, digest: &str) -> bool {
        code::dir(&self.root, digest).is_dir()
    }

    /// Runs `invocation` on a warm instance of `spec`, or a new one when none is idle and
    /// the function may have another.
    pub async fn invoke(&self, spec: &Spec, invocation: &Invocation) -> Result<Outcome, Refusal> {
        let started = Instant::now();
        let pool = self.pool(spec);
        self.retire_idle();
        let idle = self.take_idle(&pool);
        let (mut worker, seat, cold) = match idle {
            Some((worker, seat)) => (worker, seat, false),
            None => {
                let seat = self.seat(spec, &pool)?;
                match self.start(spec).await? {
                    Ok(worker) => (worker, seat, true),
                    Err((answer, init_failed)) => {
                        return Ok(self.finish(spec, invocation, answer, true, init_failed, started));
                    }
                }
            }
        };
        // The duration is the handler's: an instance's start is not billed.
        let started = Instant::now();
        let request = Request {
            request_id: &invocation.request_id,
            event: &invocation.event,
            remaining_ms: spec.timeout.as_millis() as u64,
            alias: &invocation.alias,
        };
        let answer = worker.invoke(&request, spec.timeout).await;
        if answer.is_ok() && self.is_current(spec, &pool) {
            pool.park(seat, worker, self.clock.now());
        }
        Ok(self.finish(spec, invocation, answer, cold, false, started))
    }

    /// The most recently used idle instance of `pool` still running; instances that exited
    /// while idle (killed from outside, a handler's thread calling exit) are dropped.
    fn take_idle(&self, pool: &Arc<Pool>) -> Option<(Worker, Seat)> {
        loop {
            let (mut worker, seat) = pool.unpark(|idle| idle.pop().into_iter().collect()).pop()?;
            if worker.running() {
                return Some((worker, seat));
            }
        }
    }

    /// Stops every instance idle for [`IDLE_INSTANCE_LIFETIME`].
    fn retire_idle(&self) {
        if self.counts.idle.load(Ordering::SeqCst) == 0 {
            return;
        }
        let cutoff = self.clock.now() - IDLE_INSTANCE_LIFETIME;
        let pools: Vec<Arc<Pool>> = self.pools.lock().values().cloned().collect();
        for pool in pools {
            // Dropped: each stops its instance and frees its seat.
            pool.unpark(|idle| {
                let keep = idle.iter().position(|(_, since)| *since > cutoff).unwrap_or(idle.len());
                idle.drain(..keep).collect()
            });
        }
    }

    /// The pool of `spec`'s version; a new one (retiring the old one's idle instances)
    /// when the version changed since.
    fn pool(&self, spec: &Spec) -> Arc<Pool> {
        let mut pools = self.pools.lock();
        let new_pool = || {
            Arc::new(Pool {
                fingerprint: spec.fingerprint.clone(),
                idle: Mutex::default(),
                alive: AtomicUsize::new(0),
                counts: self.counts.clone(),
            })
        };
        let entry = pools.entry(spec.pool_key()).or_insert_with(new_pool);
        if entry.fingerprint != spec.fingerprint {
            *entry = new_pool();
        }
        entry.clone()
    }

    fn is_current(&self, spec: &Spec, pool: &Arc<Pool>) -> bool {
        self.pools
            .lock()
            .get(&spec.pool_key())
            .is_some_and(|p| Arc::ptr_eq(p, pool))
    }

    /// Counts a new instance in, within the function's concurrency and the emulator's
    /// `max_instances`: at that limit the instance idle the longest, of whatever function,
    /// is stopped to make room (the service scales another function in); with none idle,
    /// the invocation is throttled.
    fn seat(&self, spec: &Spec, pool: &Arc<Pool>) -> Result<Seat, Refusal> {
        let limit = match spec.max_instances {
            Some(0) => return Err(Refusal::Disabled),
            Some(n) => n,
            None => UNLIMITED_INSTANCES,
        };
        let below = |limit: usize| move |n: usize| (n < limit).then_some(n + 1);
        if pool
            .alive
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, below(limit))
            .is_err()
        {
            return Err(Refusal::Throttled);
        }
        loop {
            let max = self.max_instances;
            if self
                .counts
                .alive
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, below(max))
                .is_ok()
            {
                return Ok(Seat(pool.clone()));
            }
            if !self.stop_longest_idle() {
                pool.alive.fetch_sub(1, Ordering::SeqCst);
                return Err(Refusal::Throttled);
            }
        }
    }

    /// Stops the instance idle the longest, of any pool; `false` when none is idle.
    fn stop_longest_idle(&self) -> bool {
        if self.counts.idle.load(Ordering::SeqCst) == 0 {
            return false;
        }
        let pools: Vec<Arc<Pool>> = self.pools.lock().values().cloned().collect();
        // Each pool's idle list has its longest idle first.
        let oldest = pools
            .iter()
            .filter_map(|pool| pool.idle.lock().first().map(|(_, since)| (*since, pool)))
            .min_by_key(|(since, _)| *since);
        let Some((_, pool)) = oldest else {
            return false;
        };
        // Dropped: it stops, freeing its seat. Taken by another invocation meanwhile (no
        // room made), the caller looks again.
        pool.unpark(|idle| if idle.is_empty() { vec![] } else { vec![idle.remove(0)] });
        true
    }

    /// Starts an instance: the code on disk, the interpreter found, the shim's setup done.
    /// `Ok(Err(answer, init_failed))` when it could not serve (its start or initializer failed).
    async fn start(&self, spec: &Spec) -> Result<Result<Worker, (Result<Answer, Failure>, bool)>, Refusal> {
        let program = self.interpreter(spec).await?;
        let mut setup = spec.setup.clone();
        let root = self.unpack(&spec.code).await?;
        setup.code_root = root.display().to_string();
        setup.paths = vec![setup.code_root.clone()];
        for dependency in &spec.dependencies {
            let dir = self.unpack(dependency).await?;
            setup.paths.extend(dependency_paths(spec.language, &dir));
        }
        let mut spec = spec.clone();
        spec.env.push(("RUNTIME_CODE_ROOT".into(), setup.code_root.clone()));
        spec.setup = setup;
        let shim = self.root.join(match spec.language {
            Language::Python => "shim.py",
            Language::Node => "shim.js",
        });
        match Worker::start(&spec, &program, &shim, &self.root.join("work")).await {
            Ok((worker, ready)) if ready.ok => Ok(Ok(worker)),
            Ok((_, ready)) => Ok(Err((Ok(ready), true))),
            Err(failure) => Ok(Err((Err(failure), true))),
        }
    }

    /// The interpreter binary itself: asked of the one on PATH, since that may be a
    /// launcher (pyenv's and asdf's shims are scripts) that would hand the handler the
    /// launcher's own environment.
    async fn interpreter(&self, spec: &Spec) -> Result<PathBuf, Refusal> {
        let program = spec.language.program();
        if let Some(found) = self.interpreters.lock().get(program) {
            return found.clone().map_err(Refusal::Unsupported);
        }
        let found = match which(program) {
            None => Err(format!(
                "the {} runtime runs on `{program}`, which is not on the emulator's PATH",
                spec.runtime
            )),
            Some(launcher) => {
                let ask = match spec.language {
                    Language::Python => ["-c", "import sys; print(sys.executable)"],
                    Language::Node => ["-p", "process.execPath"],
                };
                match tokio::process::Command::new(&launcher).args(ask).output().await {
                    Ok(out) if out.status.success() => {
                        let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
                        Ok(if path.is_file() { path } else { launcher })
                    }
                    Ok(out) => Err(format!(
                        "`{} {}` failed: {}",
                        launcher.display(),
                        ask.join(" "),
                        String::from_utf8_lossy(&out.stderr).trim()
                    )),
                    Err(e) => Err(format!("cannot run {}: {e}", launcher.display())),
                }
            }
        };
        self.interpreters.lock().insert(program, found.clone());
        found.map_err(Refusal::Unsupported)
    }

    async fn unpack(&self, package: &Package) -> Result<PathBuf, Refusal> {
        if self.has_code(&package.digest) {
            return Ok(code::dir(&self.root, &package.digest));
        }
        let Some(bytes) = package.bytes.clone() else {
            return Err(Refusal::Code(format!("the package {} is not stored", package.digest)));
        };
        let (root, digest) = (self.root.clone(), package.digest.clone());
        tokio::task::spawn_blocking(move || code::unpack(&root, &digest, &bytes))
            .await
            .map_err(|e| Refusal::Code(e.to_string()))?
            .map_err(Refusal::Code)
    }

    /// Frames the log, keeps it, and makes the outcome.
    fn finish(
        &self,
        spec: &Spec,
        invocation: &Invocation,
        answer: Result<Answer, Failure>,
        cold: bool,
        init_failed: bool,
        started: Instant,
    ) -> Outcome {
        let duration = started.elapsed();
        let mut outcome = Outcome {
            answer,
            init_failed,
            duration,
            log: String::new(),
        };
        outcome.log = frame(spec, invocation, &outcome, self.clock.now());
        let mut logs = self.logs.lock();
        if logs.len() == LOGS_KEPT {
            logs.pop_front();
        }
        let kept = tail(&outcome.log, LOG_BYTES_KEPT);
        let record = LogRecord {
            function_urn: spec.urn.clone(),
            version: spec.version.clone(),
            request_id: invocation.request_id.clone(),
            time: self.clock.now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            ok: outcome.succeeded(),
            cold,
            log: kept.to_string(),
        };
        self.persist(&record, &logs);
        logs.push_back(record);
        outcome
    }

    /// Appends `record` to the log file (best effort: the logs are a convenience, and an
    /// invocation does not fail for them), rewriting the file from `kept` when it is large.
    /// The file stays open and its length is counted, so an invocation costs one write.
    fn persist(&self, record: &LogRecord, kept: &VecDeque<LogRecord>) {
        use std::io::Write as _;
        let path = self.root.join(LOG_FILE);
        let mut open = self.log_file.lock();
        if open.as_ref().is_some_and(|(_, len)| *len > LOG_FILE_MAX) {
            let text: String = kept
                .iter()
                .filter_map(|r| serde_json::to_string(r).ok())
                .map(|line| line + "\n")
                .collect();
            let _ = crate::atomic::write(&path, text.as_bytes(), crate::atomic::Access::Default);
            // The handle names the replaced file now: open the new one.
            *open = None;
        }
        if open.is_none() {
            if let Ok(file) = std::fs::OpenOptions::new().create(true).append(true).open(&path) {
                let len = file.metadata().map_or(0, |m| m.len());
                *open = Some((file, len));
            }
        }
        if let Some((file, len)) = open.as_mut() {
            let line = serde_json::to_string(record).unwrap_or_default() + "\n";
            if file.write_all(line.as_bytes()).is_ok() {
                *len += line.len() as u64;
            }
        }
    }

    /// The kept logs of `function_urn` (all functions when empty), oldest first, at most
    /// `limit`.
    pub fn logs(&self, function_urn: &str, limit: usize) -> Vec<LogRecord> {
        let logs = self.logs.lock();
        let mut matching: Vec<LogRecord> = logs
            .iter()
            .rev()
            .filter(|r| function_urn.is_empty() || r.function_urn == function_urn)
            .take(limit)
            .cloned()
            .collect();
        matching.reverse();
        matching
    }
}

/// The last [`LOGS_KEPT`] logs of the log file; a torn or damaged line is skipped (the
/// logs are a convenience, never state).
fn read_logs(path: &Path) -> VecDeque<LogRecord> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut logs: VecDeque<LogRecord> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    while logs.len() > LOGS_KEPT {
        logs.pop_front();
    }
    logs
}

/// Where a dependency package's modules are found: its root, and the layouts packages
/// are usually built with (`python/`, `node_modules/`, `nodejs/node_modules/`).
fn dependency_paths(language: Language, dir: &Path) -> Vec<String> {
    let candidates: &[&str] = match language {
        Language::Python => &["", "python"],
        Language::Node => &["node_modules", "nodejs/node_modules", ""],
    };
    candidates
        .iter()
        .map(|c| if c.is_empty() { dir.to_path_buf() } else { dir.join(c) })
        .filter(|p| p.is_dir())
        .map(|p| p.display().to_string())
        .collect()
}

/// `program` on the emulator's PATH.
fn which(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// The end of `text`, at most `max` bytes, cut at a character boundary.
pub(crate) fn tail(text: &str, max: usize) -> &str {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// The function log as the service frames it.
fn frame(spec: &Spec, invocation: &Invocation, outcome: &Outcome, at: chrono::DateTime<chrono::Utc>) -> String {
    let now = || at.format("%Y-%m-%dT%H:%M:%SZ");
    let id = &invocation.request_id;
    let mut log = format!("{} Start invoke request '{id}', version: {}\n", now(), spec.version);
    let (memory, failed) = match &outcome.answer {
        Ok(answer) => {
            log.push_str(&answer.log);
            if !answer.log.is_empty() && !answer.log.ends_with('\n') {
                log.push('\n');
            }
            (answer.memory_mb, !answer.ok || outcome.init_failed)
        }
        Err(failure) => {
            log.push_str(&format!("{} {}\n", now(), failure_text(failure, spec)));
            (0.0, true)
        }
    };
    let ms = outcome.duration.as_secs_f64() * 1000.0;
    log.push_str(&format!(
        "{} Finish invoke request '{id}'{}, duration: {ms:.3}ms, billing duration: {}ms, memory used: {memory:.3}MB, billing memory: {}MB\n",
        now(),
        if failed { "(invoke Failed)" } else { "" },
        ms.ceil() as u64,
        spec.memory_mb
    ));
    log
}

/// What the log and the error answer say about an instance that gave no answer.
pub(crate) fn failure_text(failure: &Failure, spec: &Spec) -> String {
    match failure {
        Failure::Timeout => format!("invocation timed out after {} s", spec.timeout.as_secs()),
        Failure::OutOfMemory(_) => format!("the function ran out of memory (memory_size {} MB)", spec.memory_mb),
        Failure::Crashed(why) => format!("the function's instance failed: {why}"),
        Failure::Start(why) => format!("the function's instance could not start: {why}"),
    }
}
