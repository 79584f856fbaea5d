//! `fgform apply PLANFILE`: applies exactly the saved plan, without a prompt, after proving
//! it is not stale: the state, the inputs (manifests, variables, artifacts) and the live
//! side of every resource it touches must be as they were when it was made.

use super::apply::{execute, open};
use super::events::{Event, Sink};
use super::interrupt::Interrupt;
use crate::cli::ApplyArgs;
use crate::error::ExitStatus;
use crate::ops::build_artifacts;
use crate::ops::reconcile::{make_plan, resolve_pending, targets};
use crate::ops::saved::Replay;
use crate::plan::saved::{self, Stale};
use crate::session::Session;
use crate::state::State;

/// `fgform apply PLANFILE`.
pub fn run(args: ApplyArgs, sink: &mut Sink) -> anyhow::Result<ExitStatus> {
    let replay = Replay::open(&args.target)?;
    let Some(session) = open(&replay.target, sink)? else {
        return Ok(ExitStatus::Error);
    };
    let (desired, saved) = (&session.desired, &replay.saved);
    let destroy = saved.inputs.destroy;
    session.block_on(async {
        let lock = session.lock(if destroy { "destroy" } else { "apply" })?;
        let interrupt = Interrupt::install(Some(lock.clone()));
        let result = async {
            let prior = session.load_checked()?;
            saved
                .check_state(prior.as_ref())
                .map_err(|e| replay.refused(e.to_string()))?;
            // A plan made before any state existed tagged its creates with the lineage it
            // made up: the state this apply creates carries it.
            let mut state = prior.unwrap_or_else(|| {
                let new = session.new_state();
                match saved.lineage.as_str() {
                    "" => new,
                    lineage => new.with_identity(lineage, 0),
                }
            });
            let (artifacts, payloads) = build_artifacts(desired)?;
            if saved::inputs_hash(desired, &artifacts, &saved.salt) != saved.inputs_sha256 {
                return Err(replay.refused(Stale::Inputs.to_string()));
            }
            let connection = session.connect().await?;
            let client = &connection.client;
            let outcome = async {
                if resolve_pending(client, &mut state).await? {
                    session.save(&mut state)?;
                }
                let fresh = check_live(&session, client, &state, &artifacts, &replay).await?;
                sink.emit(Event::Plan {
                    plan: &saved.plan,
                    operation: super::events::operation(destroy),
                });
                if saved.plan.is_empty() {
                    return Ok(ExitStatus::Success);
                }
                // The plan file keeps no request bodies: they come from the same plan made again.
                let plan = saved.with_requests(&fresh);
                let how = super::apply::How {
                    destroy,
                    no_rollout: args.no_rollout,
                };
                execute(&session, client, state, &payloads, &interrupt, &plan, how, sink).await
            }
            .await;
            connection.close().await;
            outcome
        }
        .await;
        lock.release();
        result
    })
}

/// Refuses the plan when the live side of a resource it touches changed since it was made;
/// otherwise returns the plan made again.
async fn check_live(
    session: &Session,
    client: &crate::client::Client,
    state: &State,
    artifacts: &crate::plan::Artifacts,
    replay: &Replay,
) -> anyhow::Result<crate::plan::Plan> {
    let saved = &replay.saved;
    let (desired, parallelism) = (&session.desired, session.parallelism());
    let mut fresh = make_plan(client, desired, state, artifacts, parallelism, saved.inputs.destroy).await?;
    fresh.retain_targets(&targets(&saved.inputs.targets)?);
    let stale = saved.check_live(&fresh);
    if stale.is_empty() {
        return Ok(fresh);
    }
    let list: Vec<String> = stale.iter().map(|s| format!("\n  - {s}")).collect();
    Err(replay.refused(format!("live resources changed since it was made:{}", list.concat())))
}
