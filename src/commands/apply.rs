//! `fgform apply [DIR]` and `fgform destroy [DIR]`: refresh, plan, show the plan, ask (unless
//! `--auto-approve`), apply under the state lock, report. `apply FILE` is `apply_saved.rs`.

use std::io::{IsTerminal as _, Write as _};

use anyhow::bail;

use super::interrupt::Interrupt;
use crate::apply::Payloads;
use crate::cli::ApplyArgs;
use crate::client::Client;
use crate::error::{ExitStatus, Hint};
use crate::ops::build_artifacts;
use crate::ops::reconcile::{make_plan, resolve_pending, run_plan, targets, Run};
use crate::ops::rerun::refuse_blocked;
use crate::plan::{render, Plan};
use crate::session::Session;
use crate::state::State;

/// `fgform apply [DIR]`, `fgform apply PLANFILE` and `fgform destroy`.
pub fn run(args: ApplyArgs, destroy: bool) -> anyhow::Result<ExitStatus> {
    if !destroy && args.target.stack.dir.is_file() {
        return super::apply_saved::run(args);
    }
    let Some(session) = Session::open(&args.target)? else {
        return Ok(ExitStatus::Error);
    };
    let (desired, shown) = (&session.desired, &session.state_shown);
    let targets = targets(&args.targets)?;
    session.block_on(async {
        let lock = session.lock(if destroy { "destroy" } else { "apply" })?;
        let interrupt = Interrupt::install(Some(lock.clone()));
        let mut state = session.load_state()?;
        let (artifacts, payloads) = build_artifacts(desired)?;
        let connection = session.connect().await?;
        let client = &connection.client;
        let result = async {
            if resolve_pending(client, &mut state).await? {
                session.save(&mut state)?;
            }
            let mut plan = make_plan(client, desired, &state, &artifacts, session.parallelism(), destroy).await?;
            plan.retain_targets(&targets);
            if destroy && plan.is_empty() && plan.blocked.is_empty() {
                let why = if state.serial == 0 && state.resources.is_empty() {
                    "there is no state there yet"
                } else {
                    "it records no resources"
                };
                crate::outln!(
                    "Nothing to destroy: {why} (state `{shown}`{}).",
                    if targets.is_empty() { "" } else { ", --target" }
                );
                return Ok(ExitStatus::Success);
            }
            print_plan(&plan);
            refuse_blocked(&plan, &args.target, desired, shown)?;
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
            let how = How {
                destroy,
                no_rollout: args.no_rollout,
            };
            execute(&session, client, state, &payloads, &interrupt, &plan, how).await
        }
        .await;
        connection.close().await;
        lock.release();
        result
    })
}

/// Prints a plan as `plan` does.
pub(super) fn print_plan(plan: &Plan) {
    crate::out!(
        "{}",
        crate::printer::plan(&render::text(plan), crate::printer::stdout_color())
    );
}

fn confirm(what: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!(
            anyhow::anyhow!("refusing to {what} without confirmation: stdin is not a terminal")
                .context(Hint("pass --auto-approve".into()))
        );
    }
    crate::out!("\nDo you want to {what}? Only 'yes' will be accepted.\n  Enter a value: ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim() == "yes")
}

/// How a plan runs.
#[derive(Debug, Clone, Copy)]
pub(super) struct How {
    pub destroy: bool,
    /// `--no-rollout`.
    pub no_rollout: bool,
}

/// Runs `plan`'s changes, printing progress and the summary.
pub(super) async fn execute(
    session: &Session,
    client: &Client,
    state: State,
    payloads: &Payloads,
    interrupt: &Interrupt,
    plan: &Plan,
    how: How,
) -> anyhow::Result<ExitStatus> {
    let How { destroy, no_rollout } = how;
    crate::outln!();
    interrupt.start_applying();
    // Without a terminal: one line per finished resource. On a terminal, the same lines plus
    // a live `[done/total]` status line kept at the bottom.
    let live = std::io::stdout().is_terminal();
    let (total, started) = (plan.changes.len(), std::time::Instant::now());
    let mut finished = 0usize;
    let mut progress = |line: String| {
        // Indented lines tell of a step under way (a rollout's), not a finished one.
        if !line.starts_with(' ') {
            finished += 1;
        }
        if live {
            let elapsed = started.elapsed().as_secs_f64();
            crate::out!("\r\x1b[2K{line}\n[{finished}/{total}] {elapsed:.1}s");
            let _ = std::io::Write::flush(&mut std::io::stdout());
        } else {
            crate::outln!("{line}");
        }
    };
    let run = Run {
        client,
        desired: (!destroy).then_some(&session.desired),
        state,
        store: session.store()?,
        payloads,
        parallelism: session.parallelism(),
        stop: interrupt.stop_flag(),
        no_rollout,
    };
    let outcome = run_plan(run, plan, &mut progress).await;
    if live {
        crate::out!("\r\x1b[2K");
    }
    let stats = client.stats();
    if stats.retries > 0 {
        eprintln!(
            "note: {} API call(s) were retried ({} throttled with 429).",
            stats.retries, stats.throttled
        );
    }
    let (add, change, gone) = plan.counts();
    if outcome.errors.is_empty() && !outcome.interrupted {
        if destroy {
            crate::outln!("\nDestroy complete! Resources: {gone} destroyed.");
        } else {
            crate::outln!("\nApply complete! Resources: {add} added, {change} changed, {gone} destroyed.");
            for line in crate::ops::outputs::after_apply(&session.desired, outcome.state.as_ref()) {
                crate::outln!("{line}");
            }
        }
        return Ok(ExitStatus::Success);
    }
    crate::outln!(
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
    let rerun = session.rerun_args();
    let mut errors = outcome.errors.into_iter();
    let Some(first) = errors.next() else {
        eprintln!("Interrupted: run `fgform plan{rerun}` to see what is left.");
        return Ok(ExitStatus::Interrupted);
    };
    for other in errors {
        eprint!("{}", crate::error::render(&anyhow::Error::from(other)));
    }
    Err(anyhow::Error::from(first).context(Hint(format!("run `fgform plan{rerun}` to see what is left"))))
}
