//! The steps `plan`, `apply`, `destroy` and `apply FILE` share: resolving what an
//! interrupted run left, refreshing and planning, and running a plan through the applier
//! (the one place `apply::apply` is called).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context as _;

use crate::apply::{self, Outcome, Payloads};
use crate::client::Client;
use crate::model::{Address, Desired};
use crate::plan::saved::PriorState;
use crate::plan::{self, Artifacts, Plan};
use crate::session::Session;
use crate::state::{State, StateStore};

/// The `--target` addresses.
pub fn targets(raw: &[String]) -> anyhow::Result<Vec<Address>> {
    raw.iter()
        .map(|t| t.parse::<Address>().map_err(anyhow::Error::from))
        .collect()
}

/// Refreshes and plans (a destroy plan when `destroy`), noting what changed outside fgform
/// since the last apply (`Plan::resource_drift`).
pub async fn make_plan(
    client: &Client,
    desired: &Desired,
    state: &State,
    artifacts: &Artifacts,
    parallelism: usize,
    destroy: bool,
) -> anyhow::Result<Plan> {
    let make = |live: &plan::Live| {
        if destroy {
            plan::destroy(state, live)
        } else {
            plan::plan(desired, artifacts, state, live)
        }
    };
    // Read what the state records: a function another state took over is not deleted.
    let mut live = crate::refresh::refresh(client, (!destroy).then_some(desired), state, parallelism).await?;
    let mut plan = make(&live);
    // The state settled ownership without reading tags; before anything is changed, the
    // functions the plan touches have theirs read, and the plan is made again from them.
    let unconfirmed = live.unconfirmed_owners(&plan);
    if !unconfirmed.is_empty() {
        crate::refresh::confirm_owners(client, &mut live, unconfirmed, parallelism).await?;
        plan = make(&live);
    }
    plan.resource_drift = crate::drift::resource_drift(state, &live);
    Ok(plan)
}

/// What [`plan_stack`] read and planned.
pub struct Planned {
    pub plan: Plan,
    /// The state planned against: as loaded (or new), with what an interrupted run left
    /// resolved in memory only.
    pub state: State,
    pub artifacts: Artifacts,
    /// The state as found, before that resolution: what a saved plan is checked against.
    pub prior: PriorState,
}

/// `fgform plan`'s reads, which `graph --plan` repeats: the state (refused when another
/// stack's), the local artifacts, then on the target the interrupted run's calls resolved,
/// a refresh and the plan (a destroy plan when `destroy`). Takes no lock and writes nothing.
pub async fn plan_stack(session: &Session, destroy: bool) -> anyhow::Result<Planned> {
    let loaded = session.load_checked()?;
    let prior = PriorState {
        lineage: loaded.as_ref().map(|s| s.lineage.clone()),
        serial: loaded.as_ref().map_or(0, |s| s.serial),
    };
    let mut state = loaded.unwrap_or_else(|| session.new_state());
    let (artifacts, _) = crate::ops::build_artifacts(&session.desired)?;
    let connection = session.connect().await?;
    let client = &connection.client;
    let result = async {
        resolve_pending(client, &mut state).await?;
        make_plan(
            client,
            &session.desired,
            &state,
            &artifacts,
            session.parallelism(),
            destroy,
        )
        .await
    }
    .await;
    connection.close().await;
    Ok(Planned {
        plan: result?,
        state,
        artifacts,
        prior,
    })
}

/// Resolves the calls an interrupted run left unconfirmed (see `apply::recover`), in
/// `state`; prints what was found. Returns whether anything was resolved.
pub async fn resolve_pending(client: &Client, state: &mut State) -> anyhow::Result<bool> {
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

/// What running a plan needs.
pub struct Run<'a> {
    pub client: &'a Client,
    /// `None` for a destroy.
    pub desired: Option<&'a Desired>,
    pub state: State,
    pub store: Arc<StateStore>,
    pub payloads: &'a Payloads,
    pub parallelism: usize,
    /// Raised by Ctrl-C or SIGTERM: no step starts after it.
    pub stop: &'a AtomicBool,
    /// `--no-rollout`: aliases go to their new version at once.
    pub no_rollout: bool,
}

/// Runs `plan`'s changes; `progress` hears of each change's start and end as they happen.
pub async fn run_plan(run: Run<'_>, plan: &Plan, progress: &mut (dyn FnMut(apply::Report) + Send)) -> Outcome {
    apply::apply(apply::ApplyOptions {
        client: run.client,
        desired: run.desired,
        plan,
        payloads: run.payloads,
        state: run.state,
        store: run.store,
        parallelism: run.parallelism,
        stop: run.stop,
        progress,
        no_rollout: run.no_rollout,
    })
    .await
}
