//! `fgform plan`, `apply` and `destroy`: load the stack, build its artifacts, pick the
//! target (the provider, `--endpoint`, or the embedded emulator), refresh, plan, apply.

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use base64::Engine as _;
use md5::Digest as _;

use super::interrupt::Interrupt;
use crate::apply::{self, Payloads};
use crate::cli::{ApplyArgs, PlanArgs, TargetArgs};
use crate::client::{Client, ClientBuilder};
use crate::emulator::{self, EmulatorHandle};
use crate::error::{ExitStatus, Hint};
use crate::model::{Address, CodeSource, Desired};
use crate::plan::saved::{self, SavedPlan};
use crate::plan::{self, render, Artifacts, Digests, Plan};
use crate::state::{self, State};

/// Everything a reconciling command works on.
pub struct Session {
    pub desired: Desired,
    pub state_path: PathBuf,
    pub state: State,
    pub client: Client,
    /// The embedded emulator, when the stack names no provider and no `--endpoint` is given.
    pub embedded: Option<EmulatorHandle>,
}

/// The state path the arguments name.
pub fn state_path(target: &TargetArgs, desired: &Desired) -> PathBuf {
    target
        .state
        .clone()
        .unwrap_or_else(|| state::default_path(Path::new(""), &desired.stack, desired.stage.as_deref()))
}

/// Loads the stack; `Ok(None)` after printing its diagnostics.
pub fn load_desired(target: &TargetArgs) -> anyhow::Result<Option<Desired>> {
    match super::validate::load(&target.stack)? {
        Ok(desired) => Ok(Some(desired)),
        Err(rendered) => {
            eprint!("{rendered}");
            Ok(None)
        }
    }
}

/// Builds every local artifact in memory: digests for the plan, base64 for the applier.
pub fn build_artifacts(desired: &Desired) -> anyhow::Result<(Artifacts, Payloads)> {
    let mut artifacts = Artifacts::default();
    let mut payloads = Payloads::default();
    let mut sources: Vec<(Address, &CodeSource)> = Vec::new();
    for (name, d) in &desired.dependencies {
        sources.push((Address::Dependency(name.clone()), &d.source));
    }
    for (name, f) in &desired.functions {
        sources.push((Address::Function(name.clone()), &f.code));
    }
    for (address, source) in sources {
        let bytes = match source {
            CodeSource::Obs { .. } => continue,
            CodeSource::Archive { path, .. } => {
                std::fs::read(path).with_context(|| format!("{address}: failed to read `{}`", path.display()))?
            }
            CodeSource::Directory { path, exclude } => {
                let mut out = Vec::new();
                crate::package::package_dir(path, exclude, &mut out)
                    .with_context(|| format!("{address}: failed to package `{}`", path.display()))?;
                out
            }
        };
        // Before any call: a package the API would refuse fails here, not as a 413 mid-apply.
        let size = bytes.len() as u64;
        if let Err(err) = crate::package::check_upload(&address, source, size, crate::package::ZipAt::Unknown) {
            return Err(anyhow::anyhow!(err.to_string()).context(Hint(err.hint)));
        }
        let digests = Digests {
            sha512: hex::encode(sha2::Sha512::digest(&bytes)),
            md5: hex::encode(md5::Md5::digest(&bytes)),
        };
        artifacts.digests.insert(address.clone(), digests);
        payloads
            .files
            .insert(address, base64::engine::general_purpose::STANDARD.encode(&bytes));
    }
    Ok((artifacts, payloads))
}

/// Resolves the target: `--endpoint`, the provider, or the embedded emulator.
pub async fn connect(
    target: &TargetArgs,
    desired: &Desired,
    state_path: &Path,
) -> anyhow::Result<(Client, Option<EmulatorHandle>)> {
    let mut builder = ClientBuilder::from_env()
        .region(desired.region())
        .project_id(desired.project_id());
    let mut embedded = None;
    let mut builder_endpoint: Option<String> = None;
    match (&target.endpoint, &desired.provider) {
        (Some(endpoint), _) => {
            builder = builder.endpoint(endpoint);
            builder_endpoint = Some(endpoint.clone());
        }
        (None, Some(provider)) => {
            if let Some(endpoint) = &provider.endpoint {
                builder = builder.endpoint(endpoint);
                builder_endpoint = Some(endpoint.clone());
            }
        }
        (None, None) => {
            let dir = state_path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .join("emulator");
            // The emulator serves exactly the project the client will name in its paths.
            let handle = emulator::start(emulator::Config {
                data: Some(dir.clone()),
                project_id: desired.project_id().to_string(),
                ..Default::default()
            })
            .await
            .with_context(|| format!("failed to start the embedded emulator in `{}`", display_path(&dir)))
            .map_err(|e| match emulator_holder(&dir) {
                Some((url, pid)) => e.context(Hint(format!(
                    "process {pid} holds it, serving {url}: if that is an `fgform emulator` you started, run this \
                     command again with `--endpoint {url}`; if it is another fgform run, let it finish"
                ))),
                None => e,
            })?;
            eprintln!(
                "Using the embedded FunctionGraph emulator ({}); set provider.region to target the cloud.",
                dir.display()
            );
            builder = builder.endpoint(handle.url());
            embedded = Some(handle);
        }
    }
    let local = embedded.is_some() || builder_endpoint.as_deref().is_some_and(is_loopback);
    // The limiter protects the cloud's API quota; a local emulator has none to protect.
    let rate = target.rate_limit.unwrap_or(if local {
        0.0
    } else {
        crate::client::DEFAULT_REQUESTS_PER_SECOND
    });
    builder = builder.requests_per_second(Some(rate));
    let client = builder
        .build()
        .context("cannot reach the stack's FunctionGraph")
        .map_err(|e| {
            let hint = if builder_endpoint.is_some() {
                "set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK (or HW_ACCESS_KEY and HW_SECRET_KEY) to the endpoint's \
             credentials"
            } else {
                "set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK (or HW_ACCESS_KEY and HW_SECRET_KEY), or use --endpoint \
             for a local emulator"
            };
            e.context(Hint(hint.into()))
        })?;
    if builder_endpoint.is_some() {
        check_target_identity(&client, desired).await?;
    }
    Ok((client, embedded))
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

/// The URL and pid the emulator holding `dir` wrote into its `LOCK` file, while it runs.
fn emulator_holder(dir: &Path) -> Option<(String, u64)> {
    let text = std::fs::read_to_string(dir.join("LOCK")).ok()?;
    let holder: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some((holder.get("url")?.as_str()?.to_string(), holder.get("pid")?.as_u64()?))
}

/// Whether `endpoint` is `http(s)://` on 127.0.0.0/8, `[::1]` or `localhost`.
fn is_loopback(endpoint: &str) -> bool {
    let rest = endpoint.split_once("://").map_or(endpoint, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn targets(raw: &[String]) -> anyhow::Result<Vec<Address>> {
    raw.iter()
        .map(|t| t.parse::<Address>().map_err(anyhow::Error::from))
        .collect()
}

/// Refreshes and plans (a destroy plan when `destroy`).
pub async fn make_plan(
    client: &Client,
    desired: &Desired,
    state: &State,
    artifacts: &Artifacts,
    parallelism: usize,
    destroy: bool,
) -> anyhow::Result<Plan> {
    if destroy {
        // Read what the state records: a function another state took over is not deleted.
        let live = apply::refresh::refresh(client, None, state, parallelism).await?;
        return Ok(plan::destroy(state, &live));
    }
    let live = apply::refresh::refresh(client, Some(desired), state, parallelism).await?;
    Ok(plan::plan(desired, artifacts, state, &live))
}

/// The state at `path` (`None`: there is none yet), refused when it belongs to another
/// stack or stage than `desired` (see [`check_state_identity`]).
pub fn load_checked(path: &Path, desired: &Desired) -> anyhow::Result<Option<State>> {
    let loaded = state::load(path)?;
    if let Some(state) = &loaded {
        check_state_identity(state, desired, path)?;
    }
    Ok(loaded)
}

/// [`load_checked`], or a new state for the stack when there is none yet.
pub fn load_state(path: &Path, desired: &Desired) -> anyhow::Result<State> {
    Ok(load_checked(path, desired)?.unwrap_or_else(|| State::new(&desired.stack, desired.stage.as_deref())))
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
pub fn check_state_identity(state: &State, desired: &Desired, path: &Path) -> anyhow::Result<()> {
    if state.stack == desired.stack && state.stage == desired.stage {
        return Ok(());
    }
    let own = state::default_path(Path::new(""), &desired.stack, desired.stage.as_deref());
    bail!(anyhow::anyhow!(
        "the state `{}` belongs to {}, not to {} that the manifests describe",
        display_path(path),
        stack_stage(&state.stack, state.stage.as_deref()),
        stack_stage(&desired.stack, desired.stage.as_deref()),
    )
    .context(Hint(format!(
        "each stack and stage has its own state: leave out --state to use `{}`, or point --state at that \
         stack's own state",
        display_path(&own)
    ))))
}

/// A path as the user would type it (without `.` components, see `manifest::tidy_path`).
pub fn display_path(path: &Path) -> String {
    crate::manifest::tidy_path(path).display().to_string()
}

/// The arguments that make a suggested command work on the same stack, stage, state and
/// target from where the user stands: ` DIR --stage S --var-file F --var K=V --state P
/// --endpoint U`, each only when given (the directory only when it is not `.`). A variable
/// whose value feeds a secret is never repeated: it shows as `--var NAME=…` to fill in.
pub fn rerun_args(target: &TargetArgs, desired: Option<&Desired>) -> String {
    rerun_parts(
        &display_path(&target.stack.dir),
        target.stack.stage.as_deref(),
        &target
            .stack
            .var_files
            .iter()
            .map(|p| display_path(p))
            .collect::<Vec<_>>(),
        &target.stack.vars,
        desired,
        target.state.as_deref().map(display_path).as_deref(),
        target.endpoint.as_deref(),
    )
}

/// The arguments that make a suggested command that only touches the state (`state rm`,
/// `state mv`, `force-unlock`) reach the state `path` of `target` from where the user stands:
/// DIR (always), `--stage`, `--var-file`, and `--state PATH` when `--state` or any `--var` was given.
/// `--var` values are never repeated (they may feed secrets); naming the state they led to
/// does the same job. No `--endpoint`: these commands call no API.
pub fn state_rerun_args(target: &TargetArgs, path: &Path) -> String {
    let named = target.state.is_some() || !target.stack.vars.is_empty();
    // The directory is named even when it is `.`, so the command reads complete.
    let dir = format!(" {}", super::shell_word(&display_path(&target.stack.dir)));
    dir + &rerun_parts(
        "",
        target.stack.stage.as_deref(),
        &target
            .stack
            .var_files
            .iter()
            .map(|p| display_path(p))
            .collect::<Vec<_>>(),
        &[],
        None,
        named.then(|| display_path(path)).as_deref(),
        None,
    )
}

fn rerun_parts(
    dir: &str,
    stage: Option<&str>,
    var_files: &[String],
    vars: &[(String, String)],
    desired: Option<&Desired>,
    state: Option<&str>,
    endpoint: Option<&str>,
) -> String {
    let mut out = String::new();
    if !dir.is_empty() && dir != "." {
        out.push_str(&format!(" {}", super::shell_word(dir)));
    }
    if let Some(stage) = stage {
        out.push_str(&format!(" --stage {}", super::shell_word(stage)));
    }
    for file in var_files {
        out.push_str(&format!(" --var-file {}", super::shell_word(file)));
    }
    let withheld = desired.map(|d| saved::split_vars(d, vars).1).unwrap_or_default();
    for (name, value) in vars {
        if withheld.contains(name) || desired.is_none() {
            out.push_str(&format!(" --var {name}=…"));
        } else {
            out.push_str(&format!(" --var {}", super::shell_word(&format!("{name}={value}"))));
        }
    }
    if let Some(state) = state {
        out.push_str(&format!(" --state {}", super::shell_word(state)));
    }
    if let Some(endpoint) = endpoint {
        out.push_str(&format!(" --endpoint {}", super::shell_word(endpoint)));
    }
    out
}

/// The error a plan with blocked resources is (see `Plan::blocked`), with the way out for
/// each, as commands that run from where the user stands.
pub fn refuse_blocked(plan: &Plan, target: &TargetArgs, desired: &Desired, path: &Path) -> anyhow::Result<()> {
    let (rerun, state_rerun) = (rerun_args(target, Some(desired)), state_rerun_args(target, path));
    match plan.blocked_error(&rerun, &state_rerun) {
        Some(message) => Err(anyhow::anyhow!(message)),
        None => Ok(()),
    }
}

/// Resolves the calls an interrupted run left unconfirmed (see `apply::recover`), in
/// `state`; prints what was found. Returns whether anything was resolved.
async fn resolve_pending(client: &Client, state: &mut State) -> anyhow::Result<bool> {
    if state.pending.is_empty() {
        return Ok(false);
    }
    let resolved = apply::recover::resolve(client, state)
        .await
        .context("resolving the calls an interrupted run left unconfirmed")?;
    eprintln!(
        "An earlier run was interrupted with {} call(s) unconfirmed; resolved:",
        resolved.len()
    );
    for r in &resolved {
        eprintln!("  {r}");
    }
    apply::recover::settle(state, &resolved);
    Ok(true)
}

/// `fgform plan`.
pub fn plan(args: PlanArgs) -> anyhow::Result<ExitStatus> {
    let Some(desired) = load_desired(&args.target)? else {
        return Ok(ExitStatus::Error);
    };
    let targets = targets(&args.targets)?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let path = state_path(&args.target, &desired);
        let loaded = load_checked(&path, &desired)?;
        // What a saved plan checks the state against: the file as found, before any
        // in-memory resolution of interrupted calls.
        let prior = saved::PriorState {
            lineage: loaded.as_ref().map(|s| s.lineage.clone()),
            serial: loaded.as_ref().map_or(0, |s| s.serial),
        };
        let mut state = loaded.unwrap_or_else(|| State::new(&desired.stack, desired.stage.as_deref()));
        let (artifacts, _) = build_artifacts(&desired)?;
        let (client, embedded) = connect(&args.target, &desired, &path).await?;
        let result = async {
            resolve_pending(&client, &mut state).await?;
            make_plan(
                &client,
                &desired,
                &state,
                &artifacts,
                args.target.parallelism,
                args.destroy,
            )
            .await
        }
        .await;
        if let Some(handle) = embedded {
            handle.shutdown().await;
        }
        let mut plan = result?;
        plan.retain_targets(&targets);
        let format = args.output_format();
        super::plan_output::print(&plan, &desired, format)?;
        // Nothing the manifests ask for is skipped silently, and no plan file is written
        // for a plan that cannot be applied.
        refuse_blocked(&plan, &args.target, &desired, &path)?;
        if let Some(out) = &args.out {
            let saved = saved_plan(&args, &desired, &artifacts, prior, &state.lineage, &path, plan.clone());
            write_plan_file(out, &saved)?;
            let note = format!(
                "Saved the plan to: {}\n\nTo perform exactly these actions, run:\n    fgform apply {}",
                out.display(),
                super::shell_word(&out.display().to_string())
            );
            // Machine and merge-request output stays exactly the plan.
            if format == crate::cli::PlanFormat::Text {
                println!("\n{note}");
            } else {
                eprintln!("{note}");
            }
        }
        Ok(if args.detailed_exitcode && !plan.is_empty() {
            ExitStatus::Changes
        } else {
            ExitStatus::Success
        })
    })
}

/// The plan file for `plan` (see `plan::saved`).
fn saved_plan(
    args: &PlanArgs,
    desired: &Desired,
    artifacts: &Artifacts,
    prior_state: saved::PriorState,
    lineage: &str,
    state_path: &Path,
    plan: Plan,
) -> SavedPlan {
    let salt = uuid::Uuid::new_v4().simple().to_string();
    let (vars, withheld_vars) = saved::split_vars(desired, &args.target.stack.vars);
    SavedPlan {
        format: saved::FORMAT.into(),
        format_version: saved::FORMAT_VERSION,
        fgform_version: env!("CARGO_PKG_VERSION").into(),
        created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        stack: desired.stack.clone(),
        stage: desired.stage.clone(),
        inputs: saved::Inputs {
            dir: args.target.stack.dir.display().to_string(),
            stage: args.target.stack.stage.clone(),
            var_files: args
                .target
                .stack
                .var_files
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
            vars,
            withheld_vars,
            endpoint: args.target.endpoint.clone(),
            state: state_path.display().to_string(),
            targets: args.targets.clone(),
            destroy: args.destroy,
        },
        inputs_sha256: saved::inputs_hash(desired, artifacts, &salt),
        salt,
        prior_state,
        lineage: lineage.to_string(),
        live: saved::fingerprints(&plan),
        plan,
    }
}

/// Writes a plan file atomically, readable by its owner only (it describes the stack's
/// configuration, though never a secret).
fn write_plan_file(path: &Path, saved: &SavedPlan) -> anyhow::Result<()> {
    let context = || format!("failed to write the plan file `{}`", path.display());
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(context)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).with_context(context)?;
    serde_json::to_writer_pretty(&mut tmp, saved).with_context(context)?;
    tmp.write_all(b"\n").with_context(context)?;
    tmp.as_file().sync_all().with_context(context)?;
    tmp.persist(path).map_err(|e| e.error).with_context(context)?;
    Ok(())
}

/// Reads a plan file made by this fgform version.
pub(crate) fn read_plan_file(path: &Path) -> anyhow::Result<SavedPlan> {
    let bytes = std::fs::read(path).with_context(|| format!("failed to read the plan file `{}`", path.display()))?;
    #[derive(serde::Deserialize)]
    struct Probe {
        format: Option<String>,
        format_version: Option<u32>,
        fgform_version: Option<String>,
    }
    let not_a_plan = || {
        anyhow::anyhow!("`{}` is not an fgform plan file", path.display())
            .context(Hint("make one with `fgform plan -out FILE`".into()))
    };
    let probe: Probe = serde_json::from_slice(&bytes).map_err(|_| not_a_plan())?;
    if probe.format.as_deref() != Some(saved::FORMAT) {
        return Err(not_a_plan());
    }
    let version = probe.fgform_version.unwrap_or_default();
    if probe.format_version != Some(saved::FORMAT_VERSION) || version != env!("CARGO_PKG_VERSION") {
        bail!(anyhow::anyhow!(
            "the plan file `{}` was made by fgform {version}; this is fgform {}",
            path.display(),
            env!("CARGO_PKG_VERSION")
        )
        .context(Hint("plan again with this version".into())));
    }
    serde_json::from_slice(&bytes).with_context(|| format!("the plan file `{}` is damaged", path.display()))
}

fn confirm(what: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!(
            anyhow::anyhow!("refusing to {what} without confirmation: stdin is not a terminal")
                .context(Hint("pass --auto-approve".into()))
        );
    }
    print!("\nDo you want to {what}? Only 'yes' will be accepted.\n  Enter a value: ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim() == "yes")
}

/// `fgform apply [DIR]`, `fgform apply PLANFILE` and `fgform destroy`.
pub fn apply(args: ApplyArgs, destroy: bool) -> anyhow::Result<ExitStatus> {
    if !destroy && args.target.stack.dir.is_file() {
        return apply_saved(args);
    }
    let Some(desired) = load_desired(&args.target)? else {
        return Ok(ExitStatus::Error);
    };
    let targets = targets(&args.targets)?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let path = state_path(&args.target, &desired);
        let op = if destroy { "destroy" } else { "apply" };
        let lock = super::force_unlock::acquire(&args.target, &path, op)?;
        let interrupt = Interrupt::install(Some(lock.handle()));
        let mut state = load_state(&path, &desired)?;
        let (artifacts, payloads) = build_artifacts(&desired)?;
        let (client, embedded) = connect(&args.target, &desired, &path).await?;
        let result = async {
            if resolve_pending(&client, &mut state).await? {
                state::save(&path, &mut state)?;
            }
            let mut plan = make_plan(&client, &desired, &state, &artifacts, args.target.parallelism, destroy).await?;
            plan.retain_targets(&targets);
            if destroy && plan.is_empty() && plan.blocked.is_empty() {
                let why = if state.serial == 0 && state.resources.is_empty() {
                    "there is no state there yet"
                } else {
                    "it records no resources"
                };
                println!(
                    "Nothing to destroy: {why} (state `{}`{}).",
                    display_path(&path),
                    if targets.is_empty() { "" } else { ", --target" }
                );
                return Ok(ExitStatus::Success);
            }
            print!(
                "{}",
                crate::printer::plan(&render::text(&plan), crate::printer::stdout_color())
            );
            refuse_blocked(&plan, &args.target, &desired, &path)?;
            if plan.is_empty() {
                return Ok(ExitStatus::Success);
            }
            let what = if destroy {
                "destroy these resources"
            } else {
                "perform these actions"
            };
            if !args.auto_approve && !confirm(what)? {
                eprintln!("Cancelled: nothing was changed.");
                return Ok(ExitStatus::Error);
            }
            let run = Run {
                client: &client,
                desired: (!destroy).then_some(&desired),
                state,
                path: &path,
                payloads: &payloads,
                parallelism: args.target.parallelism,
                interrupt: &interrupt,
                rerun: rerun_args(&args.target, Some(&desired)),
            };
            execute(run, &plan).await
        }
        .await;
        if let Some(handle) = embedded {
            handle.shutdown().await;
        }
        lock.release();
        result
    })
}

/// `fgform apply PLANFILE`: applies exactly the saved plan, without a prompt, after proving
/// it is not stale.
fn apply_saved(args: ApplyArgs) -> anyhow::Result<ExitStatus> {
    let file = args.target.stack.dir.clone();
    let saved = read_plan_file(&file)?;
    let refused = |what: String| {
        let inputs = &saved.inputs;
        let again = rerun_parts(
            &display_path(Path::new(&inputs.dir)),
            inputs.stage.as_deref(),
            &inputs.var_files,
            &inputs
                .vars
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<Vec<_>>(),
            None,
            // The state the plan was made against, unless this apply names its own.
            args.target
                .state
                .as_deref()
                .map(display_path)
                .as_deref()
                .or(Some(inputs.state.as_str()))
                .filter(|s| {
                    *s != display_path(&state::default_path(
                        Path::new(""),
                        &saved.stack,
                        saved.stage.as_deref(),
                    ))
                }),
            inputs.endpoint.as_deref(),
        );
        let withheld: String = inputs.withheld_vars.iter().map(|v| format!(" --var {v}=…")).collect();
        anyhow::anyhow!("refusing to apply the saved plan `{}`: {what}", file.display()).context(Hint(format!(
            "make a new plan with `fgform plan{again}{withheld} -out {}` and review it",
            super::shell_word(&display_path(&file))
        )))
    };
    // Re-read the stack exactly as it was planned.
    if !Path::new(&saved.inputs.dir).is_dir() {
        bail!(anyhow::anyhow!(
            "the saved plan's stack directory `{}` does not exist here",
            saved.inputs.dir
        )
        .context(Hint(
            "run `fgform apply FILE` from the directory `fgform plan -out` ran in".into()
        )));
    }
    let mut target = args.target.clone();
    target.stack.dir = saved.inputs.dir.clone().into();
    target.stack.stage = saved.inputs.stage.clone();
    target.stack.var_files = saved.inputs.var_files.iter().map(Into::into).collect();
    let given: std::collections::BTreeMap<String, String> = args.target.stack.vars.iter().cloned().collect();
    let missing: Vec<&String> = saved
        .inputs
        .withheld_vars
        .iter()
        .filter(|v| !given.contains_key(*v))
        .collect();
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
        bail!(anyhow::anyhow!(
            "the saved plan needs --var {} again: their values feed secrets, so the plan file does not keep them",
            names.join(", --var ")
        ));
    }
    let mut vars = saved.inputs.vars.clone();
    vars.extend(given);
    target.stack.vars = vars.into_iter().collect();
    match (&args.target.endpoint, &saved.inputs.endpoint) {
        (Some(now), Some(then)) if now != then => {
            return Err(refused(format!("it was planned against `{then}`, not `{now}`")));
        }
        (Some(_), None) => {
            return Err(refused("it was planned without --endpoint".into()));
        }
        _ => target.endpoint = saved.inputs.endpoint.clone(),
    }
    let path = args
        .target
        .state
        .clone()
        .unwrap_or_else(|| saved.inputs.state.clone().into());
    target.state = Some(path.clone());
    let Some(desired) = load_desired(&target)? else {
        return Ok(ExitStatus::Error);
    };
    let destroy = saved.inputs.destroy;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let op = if destroy { "destroy" } else { "apply" };
        let lock = super::force_unlock::acquire(&target, &path, op)?;
        let interrupt = Interrupt::install(Some(lock.handle()));
        let result = async {
            let prior = load_checked(&path, &desired)?;
            saved.check_state(prior.as_ref()).map_err(|e| refused(e.to_string()))?;
            // A plan made before any state existed tagged its creates with the lineage it
            // made up: the state this apply creates carries it.
            let mut state = prior.unwrap_or_else(|| {
                let new = State::new(&desired.stack, desired.stage.as_deref());
                match saved.lineage.as_str() {
                    "" => new,
                    lineage => new.with_identity(lineage, 0),
                }
            });
            let (artifacts, payloads) = build_artifacts(&desired)?;
            if saved::inputs_hash(&desired, &artifacts, &saved.salt) != saved.inputs_sha256 {
                return Err(refused(saved::Stale::Inputs.to_string()));
            }
            let (client, embedded) = connect(&target, &desired, &path).await?;
            let outcome = async {
                if resolve_pending(&client, &mut state).await? {
                    state::save(&path, &mut state)?;
                }
                // The live side of every touched resource must look as it did.
                let mut fresh = make_plan(&client, &desired, &state, &artifacts, target.parallelism, destroy).await?;
                fresh.retain_targets(&targets(&saved.inputs.targets)?);
                let stale = saved.check_live(&fresh);
                if !stale.is_empty() {
                    let list: Vec<String> = stale.iter().map(|s| format!("\n  - {s}")).collect();
                    return Err(refused(format!(
                        "live resources changed since it was made:{}",
                        list.concat()
                    )));
                }
                print!(
                    "{}",
                    crate::printer::plan(&render::text(&saved.plan), crate::printer::stdout_color())
                );
                if saved.plan.is_empty() {
                    return Ok(ExitStatus::Success);
                }
                let run = Run {
                    client: &client,
                    desired: (!destroy).then_some(&desired),
                    state,
                    path: &path,
                    payloads: &payloads,
                    parallelism: target.parallelism,
                    interrupt: &interrupt,
                    rerun: rerun_args(&target, Some(&desired)),
                };
                execute(run, &saved.with_requests(&fresh)).await
            }
            .await;
            if let Some(handle) = embedded {
                handle.shutdown().await;
            }
            outcome
        }
        .await;
        lock.release();
        result
    })
}

/// What executing a plan needs.
struct Run<'a> {
    client: &'a Client,
    /// `None` for a destroy.
    desired: Option<&'a Desired>,
    state: State,
    path: &'a Path,
    payloads: &'a Payloads,
    parallelism: usize,
    interrupt: &'a Interrupt,
    /// The arguments that rerun on the same stack, stage and state (see [`rerun_args`]).
    rerun: String,
}

/// Runs `plan`'s changes, printing progress and the summary.
async fn execute(run: Run<'_>, plan: &Plan) -> anyhow::Result<ExitStatus> {
    let destroy = run.desired.is_none();
    println!();
    run.interrupt.start_applying();
    // Without a terminal: one line per finished resource. On a terminal, the same lines plus
    // a live `[done/total]` status line kept at the bottom.
    let live = std::io::stdout().is_terminal();
    let (total, started) = (plan.changes.len(), std::time::Instant::now());
    let mut finished = 0usize;
    let mut progress = |line: String| {
        finished += 1;
        if live {
            let elapsed = started.elapsed().as_secs_f64();
            print!("\r\x1b[2K{line}\n[{finished}/{total}] {elapsed:.1}s");
            let _ = std::io::Write::flush(&mut std::io::stdout());
        } else {
            println!("{line}");
        }
    };
    let outcome = apply::apply(apply::ApplyOptions {
        client: run.client,
        desired: run.desired,
        plan,
        payloads: run.payloads,
        state: run.state,
        state_path: run.path.to_path_buf(),
        parallelism: run.parallelism,
        stop: run.interrupt.stop_flag(),
        progress: &mut progress,
    })
    .await;
    if live {
        print!("\r\x1b[2K");
    }
    let stats = run.client.stats();
    if stats.retries > 0 {
        eprintln!(
            "note: {} API call(s) were retried ({} throttled with 429).",
            stats.retries, stats.throttled
        );
    }
    let (add, change, gone) = plan.counts();
    if outcome.errors.is_empty() && !outcome.interrupted {
        if destroy {
            println!("\nDestroy complete! Resources: {gone} destroyed.");
        } else {
            println!("\nApply complete! Resources: {add} added, {change} changed, {gone} destroyed.");
        }
        return Ok(ExitStatus::Success);
    }
    println!(
        "\n{} of {} changes completed; the state records them.",
        outcome.done.len(),
        plan.changes.len()
    );
    for (skipped, failed) in &outcome.skipped {
        eprintln!("{skipped}: not attempted: it waits for {failed}, which failed");
    }
    if !outcome.errors.is_empty() {
        eprintln!(
            "{} change(s) failed; {} not attempted because of a failure.",
            outcome.errors.len(),
            outcome.skipped.len()
        );
    }
    let mut errors = outcome.errors.into_iter();
    let Some(first) = errors.next() else {
        eprintln!("Interrupted: run `fgform plan{}` to see what is left.", run.rerun);
        return Ok(ExitStatus::Interrupted);
    };
    for other in errors {
        eprint!("{}", crate::error::render(&anyhow::Error::from(other)));
    }
    Err(anyhow::Error::from(first).context(Hint(format!("run `fgform plan{}` to see what is left", run.rerun))))
}

#[cfg(test)]
mod tests {
    use super::is_loopback;

    #[test]
    fn loopback_endpoints() {
        for yes in [
            "http://127.0.0.1:8686",
            "http://localhost:1/x",
            "http://[::1]:80",
            "127.0.0.2",
        ] {
            assert!(is_loopback(yes), "{yes}");
        }
        for no in [
            "https://functiongraph.cn-north-4.myhuaweicloud.com",
            "http://10.0.0.1:80",
            "http://[::2]:1",
        ] {
            assert!(!is_loopback(no), "{no}");
        }
    }
}
