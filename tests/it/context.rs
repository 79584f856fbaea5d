//! The one test context (as uv's `TestContext`): a scratch working directory, an in-process
//! emulator and a client of it, and the `fgform` binary run from that directory with a
//! scrubbed environment, returning exit code, stdout and stderr. Every area of the suite
//! builds on it; area-specific steps are `impl TestContext` blocks in their own files.
//!
//! The few library internals the in-process plan and apply need (`build_artifacts`,
//! `refresh`, `plan::plan`, `apply::apply`) are used here and nowhere else in the suite.
#![allow(dead_code)]

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};

use fgform::apply::{self, Payloads};
use fgform::client::{AkSk, Client, ClientBuilder, Credentials, RetryPolicy};
use fgform::emulator::{self, ChaosRule, Config, EmulatorHandle};
use fgform::manifest::{self, LoadOptions};
use fgform::model::{Address, Desired};
use fgform::ops::build_artifacts;
use fgform::plan::{self, Plan};
use fgform::refresh::refresh;
use fgform::state::{self, State};

/// A tiny Python handler.
pub const HANDLER: &str = "def handler(event, context):\n    return event\n";

/// Whether the variable `name` of the test process's environment is kept from every `fgform`
/// the suite spawns: credentials, target and state settings, colour switches, log filters,
/// and the variables the examples' manifests read. A test that wants one sets it on purpose.
pub fn scrubbed(name: &OsStr) -> bool {
    let name = name.to_string_lossy();
    const PREFIXES: &[&str] = &["HW_", "HUAWEICLOUD_", "FGFORM_", "CLICOLOR"];
    const NAMES: &[&str] = &["NO_COLOR", "RUST_LOG", "DB_PASSWORD"];
    PREFIXES.iter().any(|p| name.starts_with(p)) || NAMES.contains(&name.as_ref())
}

/// `program` with the environment `inherited` minus what [`scrubbed`] removes.
pub fn command_over(
    program: impl AsRef<OsStr>,
    inherited: impl IntoIterator<Item = (OsString, OsString)>,
) -> std::process::Command {
    let mut cmd = std::process::Command::new(program);
    cmd.env_clear();
    for (name, value) in inherited {
        if !scrubbed(&name) {
            cmd.env(name, value);
        }
    }
    cmd
}

/// `fgform` with the environment `inherited` minus what [`scrubbed`] removes.
pub fn fgform_command_over(inherited: impl IntoIterator<Item = (OsString, OsString)>) -> std::process::Command {
    command_over(env!("CARGO_BIN_EXE_fgform"), inherited)
}

/// `program` (a shell that runs `fgform`, a CI script) with the test process's environment,
/// scrubbed.
pub fn scrubbed_command(program: impl AsRef<OsStr>) -> std::process::Command {
    command_over(program, std::env::vars_os())
}

/// `fgform` with the test process's environment, scrubbed: every `fgform` the suite
/// spawns starts here.
pub fn fgform_command() -> std::process::Command {
    fgform_command_over(std::env::vars_os())
}

/// An exit code, stdout and stderr in one text, for messages and snapshots.
pub fn transcript(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Asserts the exit code; returns the [`transcript`].
#[track_caller]
pub fn assert_exit(out: &Output, code: i32) -> String {
    let t = transcript(out);
    assert_eq!(out.status.code(), Some(code), "{t}");
    t
}

/// How a [`TestContext`] starts.
#[derive(Default)]
pub struct Setup {
    example: Option<String>,
    files: Vec<(String, String)>,
    stage: Option<String>,
    chaos: Vec<ChaosRule>,
    data: bool,
    retries: bool,
    seed: Option<u64>,
}

impl Setup {
    /// A copy of `examples/<name>` as the stack, the emulator in its region and project.
    pub fn example(mut self, name: &str) -> Self {
        self.example = Some(name.into());
        self
    }

    /// Files (relative path, content) written under the stack directory.
    pub fn files(mut self, files: &[(&str, &str)]) -> Self {
        self.files = files.iter().map(|(p, c)| (p.to_string(), c.to_string())).collect();
        self
    }

    /// The stage the in-process plan loads (and whose region the emulator serves).
    pub fn stage(mut self, stage: Option<&str>) -> Self {
        self.stage = stage.map(str::to_string);
        self
    }

    /// Chaos rules, `--chaos` syntax.
    pub fn chaos(mut self, rules: &[&str]) -> Self {
        self.chaos.extend(rules.iter().map(|r| ChaosRule::parse(r).unwrap()));
        self
    }

    /// Chaos rules already parsed.
    pub fn chaos_rules(mut self, rules: Vec<ChaosRule>) -> Self {
        self.chaos.extend(rules);
        self
    }

    /// The emulator keeps its data in `emulator-data` of the scratch directory.
    pub fn persistent(mut self, data: bool) -> Self {
        self.data = data;
        self
    }

    /// The emulator routes invocations through aliases from a generator seeded with `seed`.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The test's own client retries as the shipped default does (for chaos that stays on).
    pub fn retrying_client(mut self) -> Self {
        self.retries = true;
        self
    }

    pub async fn start(self) -> TestContext {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let dir = root.join(self.example.as_deref().unwrap_or("stack"));
        if let Some(example) = &self.example {
            crate::support::copy_dir(
                &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(example),
                &dir,
            );
        }
        for (path, content) in &self.files {
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        let mut config = Config {
            data: self.data.then(|| root.join("emulator-data")),
            chaos: self.chaos,
            seed: self.seed,
            ..Config::default()
        };
        if self.example.is_some() {
            let desired = load(&dir, self.stage.clone());
            config.region = desired.region().into();
            config.project_id = desired.project_id().into();
        }
        let emu = emulator::start(config).await.unwrap();
        let retry = if self.retries {
            RetryPolicy::default()
        } else {
            RetryPolicy::none()
        };
        let client = ClientBuilder::new()
            .endpoint(emu.url())
            .region(emu.config().region.clone())
            .project_id(emu.config().project_id.clone())
            .credentials(Credentials::AkSk(AkSk::new(
                fgform::api::local::ACCESS_KEY,
                fgform::api::local::SECRET_KEY,
            )))
            .retry_policy(retry)
            .build()
            .unwrap();
        TestContext {
            state_path: root.join("state.json"),
            root,
            dir,
            stage: self.stage,
            emu,
            client,
            seen: AtomicUsize::new(0),
            _tmp: tmp,
        }
    }
}

/// The stack in `dir`, loaded without the process environment.
fn load(dir: &Path, stage: Option<String>) -> Desired {
    let options = LoadOptions {
        stage,
        check_paths: true,
        ..LoadOptions::default()
    };
    manifest::load_dir(dir, &options).expect("the test stack loads")
}

/// A scratch working directory (`root`), the stack in it (`dir`, for contexts made with one),
/// the state path commands are given (`state_path`), an emulator and a client of it.
pub struct TestContext {
    pub root: PathBuf,
    pub dir: PathBuf,
    pub state_path: PathBuf,
    pub emu: EmulatorHandle,
    pub client: Client,
    stage: Option<String>,
    seen: AtomicUsize,
    _tmp: tempfile::TempDir,
}

impl TestContext {
    pub fn setup() -> Setup {
        Setup::default()
    }

    /// An empty scratch directory and an emulator with the defaults.
    pub async fn new() -> TestContext {
        Setup::default().start().await
    }

    /// A stack of `files` and an emulator with the defaults.
    pub async fn with_files(files: &[(&str, &str)]) -> TestContext {
        Setup::default().files(files).start().await
    }

    /// `examples/<name>` and an emulator in its region.
    pub async fn example(name: &str) -> TestContext {
        Setup::default().example(name).start().await
    }

    // ---- the binary ----

    /// `fgform` from the scratch directory with the scrubbed environment plus the
    /// emulator's credentials, no colour and no terminal.
    pub fn command(&self) -> tokio::process::Command {
        self.command_over(std::env::vars_os())
    }

    /// [`TestContext::command`] as if the test process's environment were `inherited`.
    pub fn command_over(&self, inherited: impl IntoIterator<Item = (OsString, OsString)>) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::from(fgform_command_over(inherited));
        cmd.current_dir(&self.root)
            .env("HUAWEICLOUD_SDK_AK", fgform::api::local::ACCESS_KEY)
            .env("HUAWEICLOUD_SDK_SK", fgform::api::local::SECRET_KEY)
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        cmd
    }

    /// `fgform ARGS` exactly (a hint's command line, which names its own endpoint).
    pub async fn run_exactly<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        self.command().args(args).output().await.unwrap()
    }

    /// `fgform ARGS --endpoint URL`.
    pub async fn run(&self, args: &[&str]) -> Output {
        self.command()
            .args(args)
            .arg("--endpoint")
            .arg(self.emu.url())
            .output()
            .await
            .unwrap()
    }

    /// `fgform ARGS --endpoint URL --state STATE`, not yet started.
    pub fn command_with_state(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = self.command();
        cmd.args(args)
            .arg("--endpoint")
            .arg(self.emu.url())
            .arg("--state")
            .arg(&self.state_path);
        cmd
    }

    /// `fgform ARGS --endpoint URL --state STATE`.
    pub async fn run_with_state(&self, args: &[&str]) -> Output {
        self.command_with_state(args).output().await.unwrap()
    }

    /// `fgform ARGS DIR --endpoint URL --state STATE`.
    pub async fn on_stack(&self, args: &[&str]) -> Output {
        let mut all = args.to_vec();
        let dir = self.dir.display().to_string();
        all.push(&dir);
        self.run_with_state(&all).await
    }

    /// The arguments a hint must repeat so the command it suggests reaches this stack's state
    /// (what [`TestContext::on_stack`] passes, less `--endpoint` for commands that only touch
    /// state).
    pub fn rerun(&self, endpoint: bool) -> String {
        let mut out = format!(" {} --state {}", self.dir.display(), self.state_path.display());
        if endpoint {
            out.push_str(&format!(" --endpoint {}", self.emu.url()));
        }
        out
    }

    /// [`TestContext::on_stack`], which must exit 0; returns its stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        let out = self.on_stack(args).await;
        assert_eq!(
            out.status.code(),
            Some(0),
            "`fgform {}`: {}",
            args.join(" "),
            transcript(&out)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// [`TestContext::on_stack`], which must fail with exit 1; returns its stderr.
    pub async fn fails(&self, args: &[&str]) -> String {
        let out = self.on_stack(args).await;
        assert_eq!(
            out.status.code(),
            Some(1),
            "`fgform {}` did not fail: {}",
            args.join(" "),
            transcript(&out)
        );
        String::from_utf8(out.stderr).unwrap()
    }

    /// `fgform apply --auto-approve` on the stack, which must succeed.
    pub async fn apply(&self) {
        self.ok(&["apply", "--auto-approve"]).await;
    }

    /// Applies, then checks that the next plan is empty.
    pub async fn apply_converges(&self) {
        self.apply().await;
        let plan = self.plan().await;
        assert!(plan.is_empty(), "not converged:\n{}", plan::render::text(&plan));
    }

    // ---- in process ----

    /// The stack, loaded without the process environment.
    pub fn desired(&self) -> Desired {
        load(&self.dir, self.stage.clone())
    }

    /// The state at `state_path`, or a new one for the stack.
    pub fn state(&self) -> State {
        let d = self.desired();
        state::load(&self.state_path)
            .unwrap()
            .unwrap_or_else(|| State::new(&d.stack, d.stage.as_deref()))
    }

    /// The base64 of `address`'s local package, as apply uploads it.
    pub fn upload_base64(&self, address: &Address) -> String {
        use base64::Engine as _;
        let payloads: Payloads = build_artifacts(&self.desired()).unwrap().1;
        base64::engine::general_purpose::STANDARD.encode(&payloads.files[address])
    }

    /// Refreshes and plans against the state.
    pub async fn plan(&self) -> Plan {
        self.plan_with(&self.state()).await
    }

    /// Refreshes and plans against `state` (before the first apply, each `state()` is a new
    /// lineage).
    pub async fn plan_with(&self, state: &State) -> Plan {
        let desired = self.desired();
        let (artifacts, _) = build_artifacts(&desired).unwrap();
        let live = refresh(&self.client, Some(&desired), state, 4).await.unwrap();
        plan::plan(&desired, &artifacts, state, &live)
    }

    /// Plans and applies in process, one call at a time so the request log is deterministic.
    pub async fn apply_in_process(&self, destroy: bool) -> (Plan, apply::Outcome) {
        let desired = self.desired();
        // One state for plan and apply, as the binary does: the ownership tag the plan
        // records names the state's lineage, and apply sends the one of the state it is given.
        let state = self.state();
        let plan = if destroy {
            let live = refresh(&self.client, None, &state, 4).await.unwrap();
            plan::destroy(&state, &live)
        } else {
            self.plan_with(&state).await
        };
        let (_, payloads) = build_artifacts(&desired).unwrap();
        self.new_writes();
        let outcome = apply::apply(apply::ApplyOptions {
            client: &self.client,
            desired: (!destroy).then_some(&desired),
            plan: &plan,
            payloads: &payloads,
            state,
            store: {
                let store = state::StateStore::file(&self.state_path);
                store.load().expect("the state loads");
                std::sync::Arc::new(store)
            },
            parallelism: 1,
            stop: &std::sync::atomic::AtomicBool::new(false),
            progress: &mut |_| {},
            no_rollout: false,
        })
        .await;
        (plan, outcome)
    }

    // ---- the emulator ----

    /// Write requests the emulator has answered so far.
    pub fn writes(&self) -> usize {
        self.emu.requests().iter().filter(|e| e.method != "GET").count()
    }

    /// Write operations (`"Operation status"`) the emulator answered since the last call.
    pub fn new_writes(&self) -> Vec<String> {
        let all = self.emu.requests();
        let seen = self.seen.swap(all.len(), Ordering::SeqCst);
        all[seen..]
            .iter()
            .filter(|e| e.method != "GET")
            .map(|e| format!("{} {}", e.operation, e.status))
            .collect()
    }

    /// The names of the live functions, sorted.
    pub async fn functions(&self) -> Vec<String> {
        crate::support::function_names(&self.client).await
    }

    /// Creates function `name` through the API, tagged with `owner` (untagged when `None`);
    /// returns its unqualified URN.
    pub async fn create_function(&self, name: &str, owner: Option<&str>) -> String {
        crate::support::create_function(&self.client, name, owner).await
    }

    /// Adds a chaos rule to the running emulator (`--chaos` syntax).
    pub async fn chaos(&self, spec: &str) {
        let reply: serde_json::Value = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .post(format!("{}/_emulator/chaos", self.emu.url()))
            .json(&serde_json::json!({ "spec": spec }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(reply.get("id").is_some(), "chaos rule `{spec}` refused: {reply}");
    }

    /// Removes every chaos rule.
    pub async fn calm(&self) {
        reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .delete(format!("{}/_emulator/chaos", self.emu.url()))
            .header("Content-Type", "application/json")
            .send()
            .await
            .unwrap()
            .error_for_status()
            .expect("chaos rules cleared");
    }

    // ---- files ----

    /// `rel` under the scratch directory.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Writes a stack folder `dir` of the scratch directory with `stack.yaml` and the
    /// handler at `hello/index.py`.
    pub fn stack(&self, dir: &str, yaml: &str) {
        let d = self.root.join(dir);
        std::fs::create_dir_all(d.join("hello")).unwrap();
        std::fs::write(d.join("stack.yaml"), yaml).unwrap();
        std::fs::write(d.join("hello/index.py"), HANDLER).unwrap();
    }

    /// Writes `file` of the stack.
    pub fn write(&self, file: &str, content: &str) {
        std::fs::write(self.dir.join(file), content).unwrap();
    }

    /// Replaces the first `from` in the stack's `file` (which must hold it) with `to`.
    pub fn edit(&self, file: &str, from: &str, to: &str) {
        let path = self.dir.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "`{from}` is not in {file}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    }

    /// The stack directory as a command-line argument.
    pub fn dir(&self) -> &str {
        self.dir.to_str().unwrap()
    }
}

/// Run-specific values (UUIDs) replaced, for snapshots.
pub fn scrub_ids(text: &str) -> String {
    let uuid = regex::Regex::new(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").unwrap();
    uuid.replace_all(text, "[uuid]").into_owned()
}
