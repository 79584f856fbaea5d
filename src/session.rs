//! A command's session: the settings resolved once from the arguments and the stack (the
//! desired model, its stack and stage, the state location, where calls go, the request rate
//! and parallelism, the credentials from the environment) and the one tokio runtime every
//! call of the command runs on. Commands that talk to an API (`plan`, `apply`, `destroy`,
//! `apply FILE`, `drift`, `import`) open one; `state` and `show` use its state loading.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{bail, Context as _};

use crate::cli::{StackArgs, TargetArgs};
use crate::client::{Client, ClientBuilder};
use crate::emulator::{self, EmulatorHandle};
use crate::error::Hint;
use crate::manifest::{self, diagnostic, LoadOptions, ManifestError};
use crate::model::{Desired, ProviderSpec};
use crate::ops::rerun::{self, display_path};
use crate::state::backend::{BackendError, HeldLock};
use crate::state::crypto::Codec;
use crate::state::location::{self, Location};
use crate::state::{self, State, StateError, StateStore};

/// Where a session's calls go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `--endpoint URL`, or the stack's `provider.endpoint`.
    Url(String),
    /// The stack's provider at the cloud's endpoint for its region.
    Cloud,
    /// No provider and no `--endpoint`: the embedded emulator, keeping its data in this
    /// directory (`emulator/` beside the state).
    Embedded(PathBuf),
}

impl Endpoint {
    /// `--endpoint` (`given`), else the provider's endpoint or its cloud, else (no provider)
    /// the embedded emulator in `emulator/` beside the state.
    pub fn resolve(given: Option<&str>, provider: Option<&ProviderSpec>, state_path: &Path) -> Endpoint {
        match (given, provider) {
            (Some(url), _) => Endpoint::Url(url.to_string()),
            (None, Some(provider)) => provider.endpoint.clone().map_or(Endpoint::Cloud, Endpoint::Url),
            (None, None) => Endpoint::Embedded(crate::atomic::parent(state_path).join("emulator")),
        }
    }

    /// Whether calls stay on this machine (the embedded emulator, or a loopback URL).
    pub fn is_local(&self) -> bool {
        match self {
            Endpoint::Url(url) => crate::api::is_loopback(url),
            Endpoint::Cloud => false,
            Endpoint::Embedded(_) => true,
        }
    }
}

/// Everything a command works on, resolved once.
pub struct Session {
    /// The arguments that named the stack, the state and the target.
    pub target: TargetArgs,
    pub desired: Desired,
    /// Where the state lives: `--state`, else `FGFORM_STATE`, else the stack's `state:`, else
    /// the stack and stage's default state file.
    pub location: Location,
    /// The location as the user would type it (a tidy path, a URL without its password), for
    /// messages and the commands they suggest.
    pub state_shown: String,
    pub endpoint: Endpoint,
    /// Requests per second: `--rate-limit`, else none for a local target (the limiter
    /// protects the cloud's API quota; a local emulator has none) and the default otherwise.
    pub rate: f64,
    /// The client settings: the credentials read from the environment, the stack's region
    /// and project, the rate (the endpoint is set on connecting).
    client: ClientBuilder,
    runtime: OnceLock<tokio::runtime::Runtime>,
    store: OnceLock<Arc<StateStore>>,
}

/// The target a session connected to: its client, and the embedded emulator when it runs one.
pub struct Connection {
    pub client: Client,
    embedded: Option<EmulatorHandle>,
}

impl Connection {
    /// Stops the embedded emulator (writing its snapshot), if there is one.
    pub async fn close(self) {
        if let Some(handle) = self.embedded {
            handle.shutdown().await;
        }
    }

    /// Drops the embedded emulator without a shutdown, which would rewrite its snapshot: for
    /// commands that write nothing.
    pub fn abandon(self) {
        drop(self.embedded);
    }
}

impl Session {
    /// Loads the stack the arguments name and resolves the settings; `Ok(None)` after
    /// printing the manifests' diagnostics.
    pub fn open(target: &TargetArgs) -> anyhow::Result<Option<Session>> {
        Ok(Self::load(target)?.map_err(|invalid| eprint!("{invalid}")).ok())
    }

    /// [`Session::open`], the manifests' problems returned instead of printed.
    pub fn load(target: &TargetArgs) -> anyhow::Result<Result<Session, Invalid>> {
        let mut desired = match load_stack(&target.stack, false)? {
            Ok(desired) => desired,
            Err(invalid) => return Ok(Err(invalid)),
        };
        let (location, state_shown) = state_location(target.state.as_deref(), &desired)?;
        // Code too large to send inline goes to the state's bucket when the stack names none.
        if let Location::S3(s3) = &location {
            desired.code_bucket = crate::codestore::code_bucket(desired.code_bucket.as_ref(), Some(s3));
        }
        // Under a remote state the embedded emulator keeps its data where the default state
        // file would be.
        let default = state::default_path(Path::new(""), &desired.stack, desired.stage.as_deref());
        let beside = location.path().unwrap_or(&default);
        let endpoint = Endpoint::resolve(target.endpoint.as_deref(), desired.provider.as_ref(), beside);
        let rate = target.rate_limit.unwrap_or(if endpoint.is_local() {
            0.0
        } else {
            crate::client::DEFAULT_REQUESTS_PER_SECOND
        });
        let client = ClientBuilder::from_env()
            .region(desired.region())
            .project_id(desired.project_id())
            .requests_per_second(Some(rate));
        Ok(Ok(Session {
            target: target.clone(),
            desired,
            location,
            state_shown,
            endpoint,
            rate,
            client,
            runtime: OnceLock::new(),
            store: OnceLock::new(),
        }))
    }

    /// Runs `future` on the session's runtime (one per command, made on first use).
    pub fn block_on<T>(&self, future: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
        let runtime = match self.runtime.get() {
            Some(runtime) => runtime,
            None => {
                let made = tokio::runtime::Runtime::new()?;
                self.runtime.get_or_init(|| made)
            }
        };
        runtime.block_on(future)
    }

    /// How many calls run at once (`--parallelism`).
    pub fn parallelism(&self) -> usize {
        self.target.parallelism
    }

    /// The state's store (connected on first use).
    pub fn store(&self) -> anyhow::Result<Arc<StateStore>> {
        if let Some(store) = self.store.get() {
            return Ok(store.clone());
        }
        let store = open_store(&self.location, &self.desired)?;
        Ok(self.store.get_or_init(|| Arc::new(store)).clone())
    }

    /// Takes the state lock for `operation` (see [`lock`]).
    pub fn lock(&self, operation: &str) -> anyhow::Result<Arc<dyn HeldLock>> {
        lock(&self.target, &*self.store()?, &self.state_shown, operation)
    }

    /// The state (`None`: there is none yet), refused when it belongs to another stack or
    /// stage (see [`check_state_identity`]).
    pub fn load_checked(&self) -> anyhow::Result<Option<State>> {
        let loaded = self.store()?.load()?;
        if let Some(state) = &loaded {
            check_state_identity(state, &self.desired, &self.state_shown)?;
        }
        Ok(loaded)
    }

    /// Saves `state` (a conditional write against the version last read).
    pub fn save(&self, state: &mut State) -> anyhow::Result<()> {
        Ok(self.store()?.save(state)?)
    }

    /// [`Session::load_checked`], or a new state for the stack when there is none yet.
    pub fn load_state(&self) -> anyhow::Result<State> {
        Ok(self.load_checked()?.unwrap_or_else(|| self.new_state()))
    }

    /// An empty state for the stack and stage.
    pub fn new_state(&self) -> State {
        State::new(&self.desired.stack, self.desired.stage.as_deref())
    }

    /// The arguments that rerun a suggested command on the same stack, stage, state and
    /// target (see [`rerun::rerun_args`]).
    pub fn rerun_args(&self) -> String {
        rerun::rerun_args(&self.target, Some(&self.desired))
    }

    /// The arguments of a suggested state-only command (see [`rerun::state_rerun_args`]).
    pub fn state_rerun_args(&self) -> String {
        rerun::state_rerun_args(&self.target, &self.state_shown)
    }

    /// Connects to the target: starts the embedded emulator when there is no endpoint,
    /// builds the client from the environment's credentials, and checks that an emulator
    /// endpoint serves the stack's region and project.
    pub async fn connect(&self) -> anyhow::Result<Connection> {
        let desired = &self.desired;
        let mut builder = self.client.clone();
        let mut embedded = None;
        match &self.endpoint {
            Endpoint::Url(url) => builder = builder.endpoint(url),
            Endpoint::Cloud => {}
            Endpoint::Embedded(dir) => {
                if self.location.is_remote() {
                    eprintln!(
                        "note: the state is shared at {}, but the target is this machine's embedded emulator: other \
                         machines do not see what it creates (set provider.region, or --endpoint a shared emulator)",
                        self.state_shown
                    );
                }
                let handle = start_embedded(dir, desired).await?;
                builder = builder.endpoint(handle.url());
                embedded = Some(handle);
            }
        }
        let named = matches!(self.endpoint, Endpoint::Url(_));
        let client = builder
            .build()
            .context("cannot reach the stack's FunctionGraph")
            .map_err(|e| {
                let hint = if named {
                    ENDPOINT_CREDENTIALS_HINT
                } else {
                    "set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK (or HW_ACCESS_KEY and HW_SECRET_KEY), or use \
                     --endpoint for a local emulator"
                };
                e.context(Hint(hint.into()))
            })?;
        if named {
            // Named endpoints only: `embedded` is `None` here.
            check_target_identity(&client, desired).await?;
        }
        Ok(Connection { client, embedded })
    }
}

/// The hint when a named endpoint's client cannot be built for want of credentials.
pub const ENDPOINT_CREDENTIALS_HINT: &str =
    "set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK (or HW_ACCESS_KEY and HW_SECRET_KEY) to the endpoint's credentials";

/// Starts the embedded emulator in `dir`, serving exactly the project the client will name.
async fn start_embedded(dir: &Path, desired: &Desired) -> anyhow::Result<EmulatorHandle> {
    // FGFORM_EMULATOR_SEED: repeatable alias routing, as `fgform emulator --seed`.
    let seed = match std::env::var("FGFORM_EMULATOR_SEED")
        .ok()
        .filter(|v| !v.trim().is_empty())
    {
        Some(v) => Some(
            v.trim()
                .parse()
                .with_context(|| format!("FGFORM_EMULATOR_SEED `{v}` is not a whole number"))?,
        ),
        None => None,
    };
    let handle = emulator::start(emulator::Config {
        data: Some(dir.to_path_buf()),
        project_id: desired.project_id().to_string(),
        seed,
        ..Default::default()
    })
    .await
    .with_context(|| format!("failed to start the embedded emulator in `{}`", display_path(dir)))
    .map_err(|e| match emulator_holder(dir) {
        Some((url, pid)) => e.context(Hint(format!(
            "process {pid} holds it, serving {url}: if that is an `fgform emulator` you started, run this command \
             again with `--endpoint {url}`; if it is another fgform run, let it finish"
        ))),
        None => e,
    })?;
    eprintln!(
        "Using the embedded FunctionGraph emulator ({}); set provider.region to target the cloud.",
        dir.display()
    );
    Ok(handle)
}

/// The URL and pid the emulator holding `dir` wrote into its `LOCK` file, while it runs.
fn emulator_holder(dir: &Path) -> Option<(String, u64)> {
    let text = std::fs::read_to_string(dir.join("LOCK")).ok()?;
    let holder: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some((holder.get("url")?.as_str()?.to_string(), holder.get("pid")?.as_u64()?))
}

/// Refuses an emulator endpoint that serves another region or project than the stack names:
/// the URNs the manifests interpolate (environment, destinations, workflows) would name
/// functions that do not exist where the functions are created.
async fn check_target_identity(client: &Client, desired: &Desired) -> anyhow::Result<()> {
    let Some((region, projects)) = client.emulator_identity().await else {
        return Ok(());
    };
    if region == desired.region() && projects.iter().any(|p| p == desired.project_id()) {
        return Ok(());
    }
    let what = if desired.provider.is_some() {
        "the stack's provider names"
    } else {
        "a stack without a provider uses"
    };
    bail!(anyhow::anyhow!(
        "the emulator at {} serves region `{region}` and project(s) {}, but {what} region `{}` and project `{}`: \
         the function URNs the manifests interpolate would not match the functions created there",
        client.endpoint(),
        projects.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", "),
        desired.region(),
        desired.project_id(),
    )
    .context(Hint(format!(
        "start the emulator for this stack: `fgform emulator --region {} --project-id {}`",
        desired.region(),
        desired.project_id()
    ))))
}

/// Loads the stack the arguments name; `Ok(Err(text))` carries rendered diagnostics. With
/// `check_upload_sizes` it also refuses a local package the API would refuse (packaging each
/// folder into a sink: `validate` does, commands that build the packages anyway check what
/// they build).
pub fn load_stack(args: &StackArgs, check_upload_sizes: bool) -> anyhow::Result<Result<Desired, Invalid>> {
    let options = LoadOptions {
        stage: args.stage.clone(),
        vars: args.vars.clone(),
        var_files: args.var_files.clone(),
        check_upload_sizes,
        ..LoadOptions::from_process_env()
    };
    match manifest::load_dir(&args.dir, &options) {
        Ok(desired) => Ok(Ok(desired)),
        Err(ManifestError::Invalid { dir, diagnostics }) => Ok(Err(Invalid { dir, diagnostics })),
        Err(err) => Err(err).with_context(|| format!("failed to load the stack at `{}`", args.dir.display())),
    }
}

/// A stack whose manifests have problems: each one, and the directory. Displays as
/// `validate` prints it (every problem, then the count line).
#[derive(Debug)]
pub struct Invalid {
    pub dir: PathBuf,
    pub diagnostics: Vec<diagnostic::Diagnostic>,
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&diagnostic::render_all(&self.diagnostics, &self.dir))
    }
}

/// "no state file at" / "no state at", for a location that holds none.
pub fn no_state(location: &Location) -> &'static str {
    if location.is_remote() {
        "no state at"
    } else {
        "no state file at"
    }
}

/// Where the state is: `given` (`--state`), else `FGFORM_STATE`, else the stack's `state:`,
/// else the stack and stage's default state file; with the location as the user would type it.
pub fn state_location(given: Option<&str>, desired: &Desired) -> anyhow::Result<(Location, String)> {
    let region = desired.provider.as_ref().map(|p| p.region.as_str());
    state_location_of(
        given,
        desired.state.location.as_deref(),
        (&desired.stack, desired.stage.as_deref()),
        region,
    )
}

/// [`state_location`] for a stack known by its name and stage, the `state:` its manifests
/// name, and its provider's region (`generate`, before its manifests exist).
pub fn state_location_of(
    given: Option<&str>,
    manifest: Option<&str>,
    (stack, stage): (&str, Option<&str>),
    region: Option<&str>,
) -> anyhow::Result<(Location, String)> {
    let from_env = std::env::var("FGFORM_STATE").ok().filter(|v| !v.is_empty());
    let (text, source) = match (given, from_env, manifest) {
        (Some(given), _, _) => (given.to_string(), "--state"),
        (None, Some(env), _) => (env, "FGFORM_STATE"),
        (None, None, Some(manifest)) => (manifest.to_string(), "the stack's `state:`"),
        (None, None, None) => {
            let path = state::default_path(Path::new(""), stack, stage);
            return Ok((Location::File(path.clone()), display_path(&path)));
        }
    };
    let context = location::Context {
        stack,
        stage,
        region,
        base: Path::new(""),
        env: None,
    };
    let parsed = Location::parse(&text, &context).map_err(|e| {
        anyhow::Error::from(e).context(Hint(format!(
            "fix the location given by {source}: a path, `postgres://USER@HOST[:PORT]/DB[?schema=S]`,              `s3://BUCKET/PREFIX?endpoint=URL&region=R` or `obs://BUCKET/PREFIX`"
        )))
    })?;
    let shown = match &parsed {
        Location::File(path) => display_path(path),
        _ => location::redact(&text),
    };
    Ok((parsed, shown))
}

/// How the state is encoded: encrypted with the passphrase in `state.passphrase_env` (which
/// must then be set) or `FGFORM_STATE_PASSPHRASE`, else plaintext.
pub fn state_codec(passphrase_env: Option<&str>) -> anyhow::Result<Codec> {
    let var = passphrase_env.unwrap_or("FGFORM_STATE_PASSPHRASE");
    match std::env::var(var).ok().filter(|v| !v.is_empty()) {
        Some(passphrase) => Ok(Codec::with_passphrase(&passphrase, var)),
        None if passphrase_env.is_some() => bail!(anyhow::anyhow!(
            "the stack's `state.passphrase_env` names `{var}`, which is not set"
        )
        .context(Hint(format!(
            "export {var} with the state's passphrase (from your CI's secret store)"
        )))),
        None => Ok(Codec::plaintext()),
    }
}

/// Opens the store of `location` for `desired`'s state.
pub fn open_store(location: &Location, desired: &Desired) -> anyhow::Result<StateStore> {
    let codec = state_codec(desired.state.passphrase_env.as_deref())?;
    StateStore::open(location, codec).map_err(|e| {
        let hint = match &e {
            StateError::Backend(b) if matches!(**b, BackendError::Untrustworthy { .. }) => Some(
                "use a store that enforces conditional writes (AWS S3, SeaweedFS, …) or PostgreSQL; `fgform state                  check LOCATION` runs the probe again",
            ),
            _ => None,
        };
        let e = anyhow::Error::from(e).context(format!("cannot open the state at {location}"));
        match hint {
            Some(hint) => e.context(Hint(hint.into())),
            None => e,
        }
    })
}

/// A lock that is not one: `--lock=false`.
struct NoLock(state::LockInfo);

impl HeldLock for NoLock {
    fn info(&self) -> &state::LockInfo {
        &self.0
    }
    fn took_over(&self) -> Option<&state::LockInfo> {
        None
    }
    fn release(&self) {}
}

/// Takes the state lock of `store` for `operation`, waiting up to `--lock-timeout`; a held
/// lock is an error naming its holder, with the way out as a hint: the `force-unlock`
/// command for this stack and state, ready to run from the same directory. `--lock=false`
/// takes none, and says so loudly.
pub fn lock(
    target: &TargetArgs,
    store: &StateStore,
    shown: &str,
    operation: &str,
) -> anyhow::Result<Arc<dyn HeldLock>> {
    if !target.lock {
        eprintln!(
            "WARNING: --lock=false: running `{operation}` WITHOUT the state lock on {shown}. Another run using this \
             state at the same time can make both fail half-way (state writes stay conditional, so neither \
             overwrites the other's state)."
        );
        return Ok(Arc::new(NoLock(state::LockInfo::new(operation))));
    }
    match store.lock(operation, Duration::from_secs(target.lock_timeout)) {
        Ok(lock) => {
            if let Some(old) = lock.took_over() {
                eprintln!("note: took over the state lock of {old}: its holder is gone.");
            }
            Ok(lock)
        }
        Err(StateError::Backend(e)) if matches!(*e, BackendError::Locked { .. }) => {
            let BackendError::Locked { holder, .. } = &*e else {
                unreachable!("matched above")
            };
            let hint = if holder.id == "?" {
                "wait for it (--lock-timeout SECONDS): its holder is still writing the lock".to_string()
            } else {
                format!(
                    "wait for it (--lock-timeout SECONDS), or if that process is gone for good: `fgform force-unlock \
                     {}{}`",
                    rerun::shell_word(&holder.id),
                    rerun::state_rerun_args(target, shown)
                )
            };
            Err(anyhow::Error::from(*e).context(Hint(hint)))
        }
        Err(e) => Err(e.into()),
    }
}

/// `stack `shop` stage `prod`` / `stack `shop` (no stage)`.
fn stack_stage(stack: &str, stage: Option<&str>) -> String {
    match stage {
        Some(stage) => format!("stack `{stack}` stage `{stage}`"),
        None => format!("stack `{stack}` (no stage)"),
    }
}

/// Refuses a state that belongs to another stack or stage than the manifests: applying,
/// importing into or editing it would treat that stack's resources as this one's.
pub fn check_state_identity(state: &State, desired: &Desired, shown: &str) -> anyhow::Result<()> {
    if state.stack == desired.stack && state.stage == desired.stage {
        return Ok(());
    }
    let own = state::default_path(Path::new(""), &desired.stack, desired.stage.as_deref());
    bail!(anyhow::anyhow!(
        "the state `{}` belongs to {}, not to {} that the manifests describe",
        shown,
        stack_stage(&state.stack, state.stage.as_deref()),
        stack_stage(&desired.stack, desired.stage.as_deref()),
    )
    .context(Hint(format!(
        "each stack and stage has its own state: leave out --state to use `{}`, or point --state at that \
         stack's own state",
        display_path(&own)
    ))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(endpoint: Option<&str>) -> ProviderSpec {
        ProviderSpec {
            region: "cn-north-4".into(),
            project_id: "p".into(),
            endpoint: endpoint.map(str::to_string),
        }
    }

    #[test]
    fn the_endpoint_is_the_flag_then_the_provider_then_the_embedded_emulator() {
        let state = Path::new("state/shop.json");
        let cloud = provider(None);
        let custom = provider(Some("https://fgs.example.com"));
        assert_eq!(
            Endpoint::resolve(Some("http://127.0.0.1:8686"), Some(&custom), state),
            Endpoint::Url("http://127.0.0.1:8686".into())
        );
        assert_eq!(
            Endpoint::resolve(None, Some(&custom), state),
            Endpoint::Url("https://fgs.example.com".into())
        );
        assert_eq!(Endpoint::resolve(None, Some(&cloud), state), Endpoint::Cloud);
        assert_eq!(
            Endpoint::resolve(None, None, state),
            Endpoint::Embedded(PathBuf::from("state/emulator"))
        );
        assert_eq!(
            Endpoint::resolve(None, None, Path::new("shop.json")),
            Endpoint::Embedded(PathBuf::from("./emulator"))
        );
    }

    #[test]
    fn only_the_embedded_emulator_and_loopback_urls_are_local() {
        assert!(Endpoint::Embedded(PathBuf::from("emulator")).is_local());
        assert!(Endpoint::Url("http://localhost:8686".into()).is_local());
        assert!(!Endpoint::Url("https://fgs.example.com".into()).is_local());
        assert!(!Endpoint::Cloud.is_local());
    }
}
