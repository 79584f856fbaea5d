//! Issue 12's "done when", end to end with the binary: runners in directories that share
//! nothing on disk, one emulator, and one remote state location (a real SeaweedFS S3 store or
//! a real PostgreSQL). Concurrent applies (one proceeds, the other names the holder or
//! waits), a holder killed with SIGKILL mid-apply (the next runner converges with nothing
//! created twice), a third runner's drift in sync, no local state file anywhere; and a store
//! that ignores conditional writes refused.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use fgform::state::backend::postgres::PostgresBackend;
use fgform::state::backend::s3::{Credentials, S3Backend};
use fgform::state::crypto::Codec;
use fgform::state::location::{Context, Location, S3Location};
use fgform::state::{State, StateStore};

use crate::context::{assert_exit, transcript, TestContext};
use crate::servers::postgres;
use crate::servers::seaweedfs::{self, ACCESS_KEY, IGNORING_BUCKET, SECRET_KEY};
use crate::support::copy_dir;

/// The lease the S3 runners use (instead of 60 s), so a killed holder's lease runs out
/// within the test.
const LEASE_SECONDS: &str = "4";

/// A remote state location and how the test reads it.
pub enum Remote {
    S3 {
        bucket: String,
    },
    /// A schema of its own in the harness's database.
    Postgres {
        schema: String,
    },
}

impl Remote {
    fn s3() -> Remote {
        Remote::S3 {
            bucket: seaweedfs::bucket("runners"),
        }
    }

    fn postgres() -> Remote {
        Remote::Postgres {
            schema: format!("runners_{}", uuid::Uuid::new_v4().simple()),
        }
    }

    /// The `--state` value.
    fn location(&self) -> String {
        match self {
            Remote::S3 { bucket } => format!("s3://{bucket}/team?endpoint={}&region=us-east-1", seaweedfs::endpoint()),
            // The password comes from PGPASSWORD, as a CI secret would.
            Remote::Postgres { schema } => format!("{}?schema={schema}", postgres::url_without_password()),
        }
    }

    /// The environment a runner needs to reach it.
    fn env(&self) -> Vec<(&'static str, String)> {
        match self {
            Remote::S3 { .. } => vec![
                ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
                ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.into()),
                ("FGFORM_LOCK_LEASE_SECONDS", LEASE_SECONDS.into()),
            ],
            Remote::Postgres { .. } => vec![("PGPASSWORD", postgres::password())],
        }
    }

    /// The state of stack `name`, as stored.
    fn store(&self, name: &str) -> StateStore {
        match self {
            Remote::S3 { bucket } => {
                let location = S3Location {
                    scheme: "s3".into(),
                    bucket: bucket.clone(),
                    prefix: "team".into(),
                    endpoint: Some(seaweedfs::endpoint()),
                    region: "us-east-1".into(),
                    name: name.into(),
                };
                let backend = S3Backend::connect_with(&location, &Credentials::new(ACCESS_KEY, SECRET_KEY)).unwrap();
                StateStore::new(Box::new(backend), Codec::plaintext())
            }
            Remote::Postgres { schema } => {
                let env = BTreeMap::from([("PGPASSWORD".to_string(), postgres::password())]);
                let context = Context {
                    stack: name,
                    stage: None,
                    region: None,
                    base: Path::new(""),
                    env: Some(&env),
                };
                let text = format!("{}?schema={schema}", postgres::url_without_password());
                let Location::Postgres(location) = Location::parse(&text, &context).unwrap() else {
                    panic!("not a postgres location: {text}")
                };
                StateStore::new(
                    Box::new(PostgresBackend::connect(&location).unwrap()),
                    Codec::plaintext(),
                )
            }
        }
    }
}

/// One emulator, runners in their own scratch directories (each with its own copy of the
/// stack), and the remote state.
struct Runners {
    s: TestContext,
    remote: Remote,
    dirs: Vec<tempfile::TempDir>,
}

impl Runners {
    async fn new(example: &str, chaos: &[&str], remote: Remote, runners: usize) -> Runners {
        let s = TestContext::setup()
            .example(example)
            .chaos(chaos)
            .retrying_client()
            .start()
            .await;
        let dirs = (0..runners)
            .map(|_| {
                let dir = tempfile::tempdir().unwrap();
                copy_dir(&s.dir, &dir.path().join("stack"));
                dir
            })
            .collect();
        Runners { s, remote, dirs }
    }

    fn root(&self, runner: usize) -> &Path {
        self.dirs[runner].path()
    }

    /// `fgform COMMAND stack ARGS --state LOCATION --endpoint URL` in runner `runner`'s directory.
    fn command(&self, runner: usize, command: &str, args: &[&str]) -> tokio::process::Command {
        let mut cmd = self.s.command();
        cmd.current_dir(self.root(runner))
            .arg(command)
            .arg("stack")
            .args(args)
            .arg("--state")
            .arg(self.remote.location())
            .arg("--endpoint")
            .arg(self.s.emu.url())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        for (name, value) in self.remote.env() {
            cmd.env(name, value);
        }
        cmd
    }

    async fn run(&self, runner: usize, command: &str, args: &[&str]) -> Output {
        self.command(runner, command, args).output().await.unwrap()
    }

    /// The shop stack's remote state.
    fn state(&self) -> Option<State> {
        self.remote.store("shop").load().unwrap()
    }

    /// Waits until the remote state's lock is held.
    async fn wait_until_locked(&self, child: &mut tokio::process::Child) {
        let store = self.remote.store("shop");
        let deadline = Instant::now() + Duration::from_secs(60);
        while store.backend().holder().unwrap().is_none() {
            assert!(
                child.try_wait().unwrap().is_none(),
                "the first apply ended before it locked"
            );
            assert!(Instant::now() < deadline, "the first apply never locked");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// No runner directory holds a state file (or journal, lock, backup, history).
    fn assert_no_local_state(&self) {
        for dir in &self.dirs {
            for entry in walkdir::WalkDir::new(dir.path()) {
                let entry = entry.unwrap();
                let name = entry.file_name().to_string_lossy().into_owned();
                let relative = entry.path().strip_prefix(dir.path()).unwrap();
                assert!(
                    relative.starts_with("stack") || relative.as_os_str().is_empty(),
                    "a runner left `{}` on disk",
                    relative.display()
                );
                assert!(
                    !name.ends_with(".json") && !name.contains(".journal") && !name.ends_with(".lock"),
                    "a runner left a state file `{}`",
                    entry.path().display()
                );
            }
        }
    }

    /// Exactly the shop example's resources exist live, once each, and the remote state
    /// records exactly their ids with nothing left unresolved.
    async fn assert_converged_once(&self) {
        let client = &self.s.client;
        let state = self.state().expect("a remote state");
        assert!(state.pending.is_empty(), "unresolved intents: {:?}", state.pending);
        let functions = client.list_all_functions().await.unwrap();
        let mut by_name: BTreeMap<String, usize> = BTreeMap::new();
        for f in &functions {
            *by_name.entry(f.func_name.clone()).or_default() += 1;
        }
        let want: BTreeMap<String, usize> = ["audit", "notify", "orders", "thumbnail"]
            .iter()
            .map(|n| (n.to_string(), 1))
            .collect();
        assert_eq!(by_name, want, "live functions (count per name)");
        let triggers: BTreeMap<&str, usize> = [("thumbnail", 2), ("audit", 0), ("orders", 1), ("notify", 0)].into();
        for f in &functions {
            let urn = f.func_urn.trim_end_matches(":latest");
            assert_eq!(state.resources[&format!("function.{}", f.func_name)].id, urn);
            let live = client.list_triggers(urn).await.unwrap();
            assert_eq!(
                live.len(),
                triggers[f.func_name.as_str()],
                "triggers of {}",
                f.func_name
            );
            for t in &live {
                assert!(
                    state.resources.values().any(|r| r.id == t.trigger_id),
                    "trigger {} is not in state",
                    t.trigger_id
                );
            }
        }
        let package = client.find_dependency("pillow").await.unwrap().expect("pillow exists");
        let versions = client.list_all_dependency_versions(&package.id).await.unwrap();
        assert_eq!(versions.len(), 1, "pillow versions: {versions:?}");
        assert_eq!(client.list_all_workflows(None).await.unwrap().len(), 1);
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

async fn concurrent_applies(remote: Remote) {
    let r = Runners::new("shop", &["latency=300ms,method=POST"], remote, 2).await;
    let mut first = r.command(0, "apply", &["--auto-approve"]).spawn().unwrap();
    let pid = first.id().unwrap();
    r.wait_until_locked(&mut first).await;
    // The other runner fails at once, naming the holder.
    let started = Instant::now();
    let out = r.run(1, "apply", &["--auto-approve"]).await;
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.contains("is locked by"), "{err}");
    assert!(err.contains(&format!("(pid {pid}) running `apply`")), "{err}");
    assert!(err.contains("fgform force-unlock "), "{err}");
    assert!(started.elapsed() < Duration::from_secs(20), "it did not fail at once");
    // With --lock-timeout it waits for the holder, then finds nothing left to do.
    let out = r.run(1, "apply", &["--auto-approve", "--lock-timeout", "120"]).await;
    assert_exit(&out, 0);
    assert!(
        first.try_wait().unwrap().is_some(),
        "the waiter ran only after the holder finished"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("No changes"),
        "{}",
        transcript(&out)
    );
    let first = first.wait_with_output().await.unwrap();
    assert_exit(&first, 0);
    r.assert_converged_once().await;
    r.assert_no_local_state();
}

async fn killed_holder(remote: Remote, waits: bool) {
    let r = Runners::new(
        "shop",
        &["latency=40ms,method=POST", "latency=40ms,method=PUT"],
        remote,
        3,
    )
    .await;
    let mut first = r.command(0, "apply", &["--auto-approve"]).spawn().unwrap();
    // Killed mid-apply: after some, not all, of its writes.
    let deadline = Instant::now() + Duration::from_secs(60);
    while r.s.writes() < 6 {
        assert!(
            first.try_wait().unwrap().is_none(),
            "the apply finished before it could be killed"
        );
        assert!(Instant::now() < deadline, "no progress");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    first.start_kill().unwrap(); // SIGKILL
    first.wait().await.unwrap();
    let killed_after = r.s.writes();
    // Another machine's apply recovers: at once on PostgreSQL (the server dropped the dead
    // session's lock), after the lease ran out on S3.
    let started = Instant::now();
    let args: &[&str] = if waits {
        &["--auto-approve", "--lock-timeout", "120"]
    } else {
        &["--auto-approve"]
    };
    let out = r.run(1, "apply", args).await;
    assert_exit(&out, 0);
    let err = stderr(&out);
    assert!(
        err.contains("took over"),
        "the lock of the killed run was not reported: {err}"
    );
    eprintln!(
        "killed after {killed_after} writes; the next runner took over and converged in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    r.assert_converged_once().await;
    // A third runner's drift is in sync.
    let out = r.run(2, "drift", &[]).await;
    assert_exit(&out, 0);
    r.assert_no_local_state();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_concurrent_applies_one_proceeds_the_other_names_the_holder_or_waits() {
    concurrent_applies(Remote::s3()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_a_holder_killed_mid_apply_is_recovered_by_another_runner_within_the_lease() {
    killed_holder(Remote::s3(), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_concurrent_applies_one_proceeds_the_other_names_the_holder_or_waits() {
    concurrent_applies(Remote::postgres()).await;
}

/// On PostgreSQL the server drops a dead session's advisory lock: the next runner needs no
/// --lock-timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_holder_killed_mid_apply_is_recovered_at_once_by_another_runner() {
    killed_holder(Remote::postgres(), false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_ignores_conditional_writes_is_refused_naming_it() {
    let s = TestContext::example("quickstart").await;
    let location = format!(
        "s3://{IGNORING_BUCKET}/team?endpoint={}&region=us-east-1",
        seaweedfs::ignoring_endpoint()
    );
    let out = s
        .command()
        .args(["plan", s.dir(), "--endpoint", &s.emu.url(), "--state", &location])
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .output()
        .await
        .unwrap();
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.contains("cannot hold fgform state safely"), "{err}");
    assert!(
        err.contains(&seaweedfs::ignoring_endpoint()),
        "the store is not named: {err}"
    );
    assert!(err.contains("hint: "), "{err}");
    assert!(!err.contains(SECRET_KEY), "{err}");
    assert!(
        s.emu.requests().is_empty(),
        "an API call was made before the state was refused"
    );
    // `fgform state check` says the same.
    let out = s
        .command()
        .args(["state", "check", &location])
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .output()
        .await
        .unwrap();
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("cannot hold fgform state safely"),
        "{}",
        stderr(&out)
    );
}
