//! `fgform rollout status | promote | abort [DIR]`: the rollouts an apply left under way
//! (it was interrupted, or killed), shown with the new version's figures so far, or ended
//! by hand. `promote` and `abort` take the state lock, so they cannot race the apply
//! running a rollout: stop that one first (Ctrl-C keeps its progress).

use crate::api::types::Totals;
use crate::cli::{RolloutArgs, RolloutChangeArgs, RolloutCommand, RolloutStatusArgs};
use crate::error::ExitStatus;
use crate::model::Address;
use crate::ops::rollout::{self, End};
use crate::plan::rollout::{describe, percent};
use crate::session::Session;

/// `fgform rollout …`.
pub fn run(args: RolloutArgs) -> anyhow::Result<ExitStatus> {
    match args.command {
        RolloutCommand::Status(args) => status(args),
        RolloutCommand::Promote(args) => change(args, End::Promote),
        RolloutCommand::Abort(args) => change(args, End::Abort),
    }
}

fn status(args: RolloutStatusArgs) -> anyhow::Result<ExitStatus> {
    let Some(session) = Session::open(&args.target)? else {
        return Ok(ExitStatus::Error);
    };
    session.block_on(async {
        let state = session.load_state()?;
        let connection = session.connect().await?;
        let result = rollout::status(&connection.client, &session.desired, &state).await;
        connection.close().await;
        let rollouts = result?;
        if args.json {
            crate::outln!("{}", serde_json::to_string_pretty(&rollouts)?);
            return Ok(ExitStatus::Success);
        }
        if rollouts.is_empty() {
            crate::outln!("No rollout under way, and none rolled back.");
            return Ok(ExitStatus::Success);
        }
        for r in &rollouts {
            match &r.progress {
                Some(p) if r.stale => crate::outln!(
                    "{}: the state records a rollout {} → {} at step {}, but live shows none under way: it ended after its last record; the next `fgform apply{}` records the alias as it is",
                    r.address,
                    p.from,
                    p.to,
                    p.step + 1,
                    session.rerun_args()
                ),
                Some(p) => {
                    let steps = r.steps.map(|n| format!("/{n}")).unwrap_or_default();
                    crate::outln!(
                        "{}: rollout {} → {} under way, step {}{steps}: {} has {}% of the traffic since {}",
                        r.address,
                        p.from,
                        p.to,
                        p.step + 1,
                        p.to,
                        p.weight,
                        crate::apply::rollout::stamp(p.step_started)
                    );
                    if let Some(why) = &p.rolling_back {
                        crate::outln!("  it was rolling back ({why}); the next apply finishes that");
                    }
                    if let (Some(invocations), Some(errors)) = (r.invocations, r.errors) {
                        let figures = Totals {
                            invocations,
                            errors,
                            ..Totals::default()
                        };
                        crate::outln!("  {} this step: {}", p.to, describe(&figures));
                    }
                    crate::outln!(
                        "  `fgform apply{}` resumes it; `fgform rollout promote{0}` or `fgform rollout abort{0}` ends it now",
                        session.rerun_args()
                    );
                }
                None => {
                    let rb = r.rolled_back.clone().unwrap_or_default();
                    let text = |k: &str| rb.get(k).and_then(|v| v.as_str()).unwrap_or("?").to_string();
                    crate::outln!(
                        "{}: the last rollout, of {}, was rolled back to {} at {}: {}",
                        r.address,
                        text("version"),
                        text("from"),
                        text("at"),
                        text("reason")
                    );
                }
            }
            if let Some(why) = &r.unknown {
                crate::outln!("  unknown: {why}");
            }
            if let Some(live) = &r.live {
                let weights = live
                    .get("additional_version_weights")
                    .and_then(|w| w.as_object())
                    .map(|w| {
                        w.iter()
                            .map(|(v, p)| format!(" + {v} at {}", percent(p.as_f64().unwrap_or(0.0) / 100.0)))
                            .collect::<String>()
                    })
                    .unwrap_or_default();
                crate::outln!(
                    "  live: {}{weights}",
                    live.get("version").and_then(|v| v.as_str()).unwrap_or("?")
                );
            }
        }
        Ok(ExitStatus::Success)
    })
}

fn change(args: RolloutChangeArgs, end: End) -> anyhow::Result<ExitStatus> {
    let only: Option<Address> = args.alias.as_deref().map(str::parse).transpose()?;
    let Some(session) = Session::open(&args.target)? else {
        return Ok(ExitStatus::Error);
    };
    session.block_on(async {
        let lock = session.lock(match end {
            End::Promote => "rollout promote",
            End::Abort => "rollout abort",
        })?;
        let mut state = session.load_state()?;
        let connection = session.connect().await?;
        let result = rollout::end(&connection.client, &mut state, only.as_ref(), end).await;
        connection.close().await;
        let lines = match result {
            Ok(lines) => lines,
            Err(e) => {
                // What was done before the failure is recorded.
                session.save(&mut state)?;
                return Err(e);
            }
        };
        if lines.is_empty() {
            lock.release();
            anyhow::bail!(
                "no rollout is under way{}: nothing to {}",
                only.map(|a| format!(" on {a}")).unwrap_or_default(),
                match end {
                    End::Promote => "promote",
                    End::Abort => "abort",
                }
            );
        }
        session.save(&mut state)?;
        lock.release();
        for line in lines {
            crate::outln!("{line}");
        }
        Ok(ExitStatus::Success)
    })
}
