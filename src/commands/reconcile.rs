//! `fgform plan`, `apply` and `destroy`: load the stack, build its artifacts, pick the
//! target (the provider, `--endpoint`, or the embedded emulator), refresh, plan, apply.

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _};
use base64::Engine as _;
use md5::Digest as _;

use crate::apply::{self, Payloads};
use crate::cli::{ApplyArgs, PlanArgs, TargetArgs};
use crate::client::{Client, ClientBuilder};
use crate::emulator::{self, EmulatorHandle};
use crate::error::{ExitStatus, Hint};
use crate::model::{Address, CodeSource, Desired};
use crate::plan::{self, render, Artifacts, Digests, Plan};
use crate::state::{self, Lock, State};

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
            let handle = emulator::start(emulator::Config {
                data: Some(dir.clone()),
                ..Default::default()
            })
            .await
            .with_context(|| format!("failed to start the embedded emulator in `{}`", dir.display()))?;
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
            e.context(Hint(
                "set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK (or use --endpoint for a local emulator)".into(),
            ))
        })?;
    Ok((client, embedded))
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
        return Ok(plan::destroy(state));
    }
    let live = apply::refresh::refresh(client, Some(desired), state, parallelism).await?;
    Ok(plan::plan(desired, artifacts, state, &live))
}

fn load_state(path: &Path, desired: &Desired) -> anyhow::Result<State> {
    Ok(state::load(path)?.unwrap_or_else(|| State::new(&desired.stack, desired.stage.as_deref())))
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
        let state = load_state(&path, &desired)?;
        let (artifacts, _) = build_artifacts(&desired)?;
        let (client, embedded) = connect(&args.target, &desired, &path).await?;
        let result = make_plan(
            &client,
            &desired,
            &state,
            &artifacts,
            args.target.parallelism,
            args.destroy,
        )
        .await;
        if let Some(handle) = embedded {
            handle.shutdown().await;
        }
        let mut plan = result?;
        plan.retain_targets(&targets);
        super::plan_output::print(&plan, &desired, args.output_format())?;
        Ok(if args.detailed_exitcode && !plan.is_empty() {
            ExitStatus::Changes
        } else {
            ExitStatus::Success
        })
    })
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

/// `fgform apply` and `fgform destroy`.
pub fn apply(args: ApplyArgs, destroy: bool) -> anyhow::Result<ExitStatus> {
    let Some(desired) = load_desired(&args.target)? else {
        return Ok(ExitStatus::Error);
    };
    let targets = targets(&args.targets)?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let path = state_path(&args.target, &desired);
        let op = if destroy { "destroy" } else { "apply" };
        let lock = Lock::acquire(&path, op, Duration::from_secs(args.target.lock_timeout))?;
        let state = load_state(&path, &desired)?;
        let (artifacts, payloads) = build_artifacts(&desired)?;
        let (client, embedded) = connect(&args.target, &desired, &path).await?;
        let result = run_apply(
            &args, destroy, &desired, &client, state, &path, &artifacts, &payloads, &targets,
        )
        .await;
        if let Some(handle) = embedded {
            handle.shutdown().await;
        }
        lock.release();
        result
    })
}

#[allow(clippy::too_many_arguments)]
async fn run_apply(
    args: &ApplyArgs,
    destroy: bool,
    desired: &Desired,
    client: &Client,
    state: State,
    path: &Path,
    artifacts: &Artifacts,
    payloads: &Payloads,
    targets: &[Address],
) -> anyhow::Result<ExitStatus> {
    let mut plan = make_plan(client, desired, &state, artifacts, args.target.parallelism, destroy).await?;
    plan.retain_targets(targets);
    print!(
        "{}",
        crate::printer::plan(&render::text(&plan), crate::printer::stdout_color())
    );
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
    println!();
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
    let outcome = apply::apply(
        client,
        (!destroy).then_some(desired),
        &plan,
        payloads,
        state,
        path.to_path_buf(),
        args.target.parallelism,
        &mut progress,
    )
    .await;
    if live {
        print!("\r\x1b[2K");
    }
    let (add, change, gone) = plan.counts();
    if outcome.errors.is_empty() {
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
    let mut errors = outcome.errors.into_iter();
    let first = errors.next().expect("an error");
    for other in errors {
        eprint!("{}", crate::error::render(&anyhow::Error::from(other)));
    }
    Err(anyhow::Error::from(first).context(Hint("run `fgform plan` to see what is left".into())))
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
