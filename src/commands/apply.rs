//! `fgform apply [DIR]` and `fgform destroy [DIR]`: refresh, plan, show the plan, ask (unless
//! `--auto-approve`), apply under the state lock, report. `apply FILE` is `apply_saved.rs`.
//! What they tell goes through one [`Sink`] (text, or `--json` lines: `events.rs`).

use std::io::{IsTerminal as _, Write as _};

use anyhow::bail;

use super::events::{self, Diagnostic, Event, Sink, Summary};
use super::interrupt::Interrupt;
use crate::apply::Payloads;
use crate::cli::ApplyArgs;
use crate::client::Client;
use crate::error::{ExitStatus, Hint};
use crate::ops::build_artifacts;
use crate::ops::reconcile::{make_plan, resolve_pending, run_plan, targets, Run};
use crate::ops::rerun::refuse_blocked;
use crate::plan::Plan;
use crate::session::{Invalid, Session};
use crate::state::State;

/// `fgform apply [DIR]`, `fgform apply PLANFILE` and `fgform destroy`.
pub fn run(args: ApplyArgs, destroy: bool) -> anyhow::Result<ExitStatus> {
    let mut sink = Sink::stdout(args.json);
    let result = if !destroy && args.target.stack.dir.is_file() {
        super::apply_saved::run(args, &mut sink)
    } else {
        run_dir(args, destroy, &mut sink)
    };
    // `main` prints it on stderr; the JSON lines tell it too.
    if let Err(e) = &result {
        sink.emit(Event::Diagnostic(Diagnostic::error(e)));
    }
    result
}

/// Opens the session, or tells the manifests' problems (`None`).
pub(super) fn open(target: &crate::cli::TargetArgs, sink: &mut Sink) -> anyhow::Result<Option<Session>> {
    match Session::load(target)? {
        Ok(session) => Ok(Some(session)),
        Err(invalid) => {
            let Invalid { diagnostics, .. } = &invalid;
            eprint!("{invalid}");
            for d in diagnostics {
                sink.emit(Event::Diagnostic(Diagnostic::manifest(d)));
            }
            Ok(None)
        }
    }
}

/// `--json` asks nothing: without `--auto-approve` it is refused, with the commands that
/// run instead (as Terraform refuses `apply -json` without `-auto-approve` or a plan file).
fn refuse_unapproved_json(session: &Session, args: &ApplyArgs, destroy: bool) -> anyhow::Result<()> {
    if !args.json || args.auto_approve {
        return Ok(());
    }
    let verb = events::operation(destroy);
    let mut again = session.rerun_args();
    for target in &args.targets {
        again.push_str(&format!(" --target {}", crate::ops::rerun::shell_word(target)));
    }
    let no_rollout = if args.no_rollout { " --no-rollout" } else { "" };
    let saved = if destroy { " --destroy" } else { "" };
    Err(
        anyhow::anyhow!("`{verb} --json` cannot ask for confirmation: it needs --auto-approve or a saved plan")
            .context(Hint(format!(
                "run `fgform {verb} --json --auto-approve{again}{no_rollout}`, or save a plan with \
                 `fgform plan{again}{saved} --out fgform.plan` and apply it with \
                 `fgform apply --json{no_rollout} fgform.plan`"
            ))),
    )
}

fn run_dir(args: ApplyArgs, destroy: bool, sink: &mut Sink) -> anyhow::Result<ExitStatus> {
    let Some(session) = open(&args.target, sink)? else {
        return Ok(ExitStatus::Error);
    };
    refuse_unapproved_json(&session, &args, destroy)?;
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
                let targeted = if targets.is_empty() { "" } else { ", --target" };
                let message = format!("Nothing to destroy: {why} (state `{shown}`{targeted}).");
                sink.emit(Event::Summary(Summary::nothing("destroy", message)));
                return Ok(ExitStatus::Success);
            }
            sink.emit(Event::Plan {
                plan: &plan,
                operation: events::operation(destroy),
            });
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
            execute(&session, client, state, &payloads, &interrupt, &plan, how, sink).await
        }
        .await;
        connection.close().await;
        lock.release();
        result
    })
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

/// Runs `plan`'s changes, telling `sink` how they go and how the run ended.
#[allow(clippy::too_many_arguments)]
pub(super) async fn execute(
    session: &Session,
    client: &Client,
    state: State,
    payloads: &Payloads,
    interrupt: &Interrupt,
    plan: &Plan,
    how: How,
    sink: &mut Sink,
) -> anyhow::Result<ExitStatus> {
    let How { destroy, no_rollout } = how;
    interrupt.start_applying();
    sink.emit(Event::Applying {
        total: plan.changes.len(),
    });
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
    let outcome = run_plan(run, plan, &mut |report| sink.emit(Event::Report(report))).await;
    let stats = client.stats();
    if stats.retries > 0 {
        eprintln!(
            "note: {} API call(s) were retried ({} throttled with 429).",
            stats.retries, stats.throttled
        );
    }
    sink.emit(Event::Summary(summary(plan, &outcome, destroy)));
    if outcome.errors.is_empty() && !outcome.interrupted {
        if !destroy {
            let state = outcome.state.as_ref();
            if let Some(told) = crate::ops::outputs::after_apply(&session.desired, state) {
                sink.emit(Event::Outputs(told));
            }
        }
        return Ok(ExitStatus::Success);
    }
    for (skipped, failed) in &outcome.skipped {
        let line = format!("{skipped}: not attempted: it waits for {failed}, which failed");
        eprintln!("{line}");
        sink.emit(Event::Diagnostic(Diagnostic::warning(line, Some(skipped))));
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
        let line = format!("Interrupted: run `fgform plan{rerun}` to see what is left.");
        eprintln!("{line}");
        sink.emit(Event::Diagnostic(Diagnostic::warning(line, None)));
        return Ok(ExitStatus::Interrupted);
    };
    for other in errors {
        let other = anyhow::Error::from(other);
        eprint!("{}", crate::error::render(&other));
        sink.emit(Event::Diagnostic(Diagnostic::error(&other)));
    }
    Err(anyhow::Error::from(first).context(Hint(format!("run `fgform plan{rerun}` to see what is left"))))
}

/// How a run ended: the whole plan's counts and the text's `… complete!` line when it all
/// ran, else the counts of what did complete.
fn summary(plan: &Plan, outcome: &crate::apply::Outcome, destroy: bool) -> Summary {
    let operation = events::operation(destroy);
    let (add, change, gone) = plan.counts();
    if outcome.errors.is_empty() && !outcome.interrupted {
        let message = match destroy {
            true => format!("Destroy complete! Resources: {gone} destroyed."),
            false => format!("Apply complete! Resources: {add} added, {change} changed, {gone} destroyed."),
        };
        return Summary {
            operation,
            add,
            change,
            destroy: gone,
            message,
        };
    }
    let done: std::collections::BTreeSet<&crate::model::Address> = outcome.done.iter().collect();
    let (add, change, gone) = plan.counts_of(|c| done.contains(&c.address));
    let message = format!(
        "{} of {} changes completed; the state records them.",
        outcome.done.len(),
        plan.changes.len()
    );
    Summary {
        operation,
        add,
        change,
        destroy: gone,
        message,
    }
}
