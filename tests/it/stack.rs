//! A stack written by the test into a temp directory, an in-process emulator in the local
//! region, and the real commands run on it (`fgform::run`, as `main` does), so state
//! locking, saving and error rendering are the shipped ones. Plans are also made in-process
//! for snapshots.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use clap::Parser as _;
use fgform::apply::Payloads;
use fgform::cli::Cli;
use fgform::client::{AkSk, Client, ClientBuilder, Credentials, RetryPolicy};
use fgform::emulator::{self, Config, EmulatorHandle};
use fgform::error::ExitStatus;
use fgform::manifest::{self, LoadOptions};
use fgform::model::Desired;
use fgform::ops::build_artifacts;
use fgform::plan::{self, Plan};
use fgform::refresh::refresh;
use fgform::state::{self, State};

pub struct Stack {
    pub emu: EmulatorHandle,
    pub client: Client,
    pub dir: PathBuf,
    pub state_path: PathBuf,
    _tmp: tempfile::TempDir,
}

/// A tiny Python handler folder.
pub const HANDLER: &str = "def handler(event, context):\n    return event\n";

impl Stack {
    /// `files` as (relative path, content), written under the stack directory.
    pub async fn new(files: &[(&str, &str)]) -> Stack {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("stack");
        for (path, content) in files {
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        let emu = emulator::start(Config::default()).await.unwrap();
        let client = ClientBuilder::new()
            .endpoint(emu.url())
            .region(fgform::api::local::REGION)
            .project_id(fgform::api::local::PROJECT_ID)
            .credentials(Credentials::AkSk(AkSk::new(
                fgform::api::local::ACCESS_KEY,
                fgform::api::local::SECRET_KEY,
            )))
            .retry_policy(RetryPolicy::none())
            .build()
            .unwrap();
        Stack {
            emu,
            client,
            state_path: tmp.path().join("state").join("stack.json"),
            dir,
            _tmp: tmp,
        }
    }

    pub fn desired(&self) -> Desired {
        let options = LoadOptions {
            env: Default::default(),
            ..LoadOptions::from_process_env()
        };
        manifest::load_dir(&self.dir, &options).expect("the test stack loads")
    }

    pub fn state(&self) -> State {
        let d = self.desired();
        state::load(&self.state_path)
            .unwrap()
            .unwrap_or_else(|| State::new(&d.stack, d.stage.as_deref()))
    }

    /// Base64 of each local artifact (what apply uploads).
    pub fn payloads(&self) -> Payloads {
        build_artifacts(&self.desired()).unwrap().1
    }

    /// Refreshes and plans in-process.
    pub async fn plan(&self) -> Plan {
        let desired = self.desired();
        let state = self.state();
        let (artifacts, _) = build_artifacts(&desired).unwrap();
        let live = refresh(&self.client, Some(&desired), &state, 4).await.unwrap();
        plan::plan(&desired, &artifacts, &state, &live)
    }

    /// Runs `fgform ARGS... DIR --endpoint URL --state PATH` the way `main` does (on a
    /// blocking thread: commands start their own runtime).
    pub async fn run(&self, args: &[&str]) -> anyhow::Result<ExitStatus> {
        let mut argv: Vec<String> = std::iter::once("fgform")
            .chain(args.iter().copied())
            .map(str::to_string)
            .collect();
        argv.push(self.dir.display().to_string());
        argv.extend([
            "--endpoint".into(),
            self.emu.url(),
            "--state".into(),
            self.state_path.display().to_string(),
        ]);
        let cli = Cli::try_parse_from(argv).expect("the command line parses");
        tokio::task::spawn_blocking(move || fgform::run(cli)).await.unwrap()
    }

    /// The arguments a hint must repeat so the command it suggests reaches this stack's state
    /// (what [`Stack::run`] passes, less `--endpoint` for commands that only touch state).
    pub fn rerun(&self, endpoint: bool) -> String {
        let mut out = format!(" {} --state {}", self.dir.display(), self.state_path.display());
        if endpoint {
            out.push_str(&format!(" --endpoint {}", self.emu.url()));
        }
        out
    }

    /// [`Stack::run`], which must succeed with exit 0.
    pub async fn ok(&self, args: &[&str]) {
        match self.run(args).await {
            Ok(ExitStatus::Success) => {}
            other => panic!("`fgform {}`: {other:?}", args.join(" ")),
        }
    }

    /// `fgform apply --auto-approve`, which must succeed.
    pub async fn apply(&self) {
        self.ok(&["apply", "--auto-approve"]).await;
    }

    /// Applies, then checks that the next plan is empty.
    pub async fn apply_converges(&self) {
        self.apply().await;
        let plan = self.plan().await;
        assert!(plan.is_empty(), "not converged:\n{}", plan::render::text(&plan));
    }

    /// Like [`Stack::run`], expecting an error; returns it rendered as the user sees it.
    pub async fn fails(&self, args: &[&str]) -> String {
        match self.run(args).await {
            Err(e) => fgform::error::render(&e),
            Ok(status) => panic!("`fgform {}` succeeded ({status:?})", args.join(" ")),
        }
    }

    pub fn write(&self, file: &str, content: &str) {
        std::fs::write(self.dir.join(file), content).unwrap();
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }
}

/// Run-specific values (UUIDs) replaced, for snapshots.
pub fn scrub_ids(text: &str) -> String {
    let uuid = regex::Regex::new(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").unwrap();
    uuid.replace_all(text, "[uuid]").into_owned()
}

/// The paths of a directory tree, for asserting nothing else was written.
pub fn tree(dir: &Path) -> Vec<String> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap().path().strip_prefix(dir).unwrap().display().to_string())
        .collect()
}
