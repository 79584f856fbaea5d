//! The applier: runs a [`Plan`]'s steps against a [`Client`] in dependency order, up to
//! `parallelism` at a time, saving the state file after every completed call. A failed step
//! stops only the steps that (transitively) wait for it, which are reported as skipped; every
//! independent step still runs, as Terraform does. Only an interrupt, or a state file that
//! cannot be written, stops new steps from starting.
//!
//! The applier sends the typed requests the plan carries ([`plan::Call`]), filling in only
//! what the apply alone knows; one module per resource kind (`function.rs`,
//! `dependency.rs`, `trigger.rs`, `async_config.rs`, `workflow.rs`) sends a step's calls,
//! and every result is recorded through [`state::Recorder`] (a create's intent durable
//! before the call, group commit of the results).

mod alias;
mod async_config;
mod dependency;
mod function;
pub mod import;
pub mod inventory;
pub mod recover;
pub mod rollout;
mod trigger;
mod version;
mod workflow;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};

pub(crate) use dependency::dependency_record;

use crate::api::Operation;
use crate::client::{ApiError, Client};
use crate::model::{Address, Desired};
use crate::plan::order::{self, Phase, Step};
use crate::plan::{self, Action, Change, Plan};
use crate::state::{self, Intent, Recorder, ResourceState, State, StateError, StateStore};

/// Every local artifact, by address: its zip (or jar) bytes, one copy shared by every
/// address built from the same source (functions of one folder), base64-encoded
/// only by the step that sends it. Kept as base64, 10,000 functions of a 1 MB package
/// would have held 13 GB; shared bytes hold 1 MB. Those too large for a base64 upload are
/// in `bucket_uploads`, which the step puts in the code bucket before its call.
#[derive(Debug, Clone, Default)]
pub struct Payloads {
    pub files: BTreeMap<Address, bytes::Bytes>,
    /// Packages over the inline limit (`api::limits::upload_refusal`), sent through
    /// `code_bucket` as `code_type: obs` / `depend_type: obs`.
    pub bucket_uploads: BTreeMap<Address, bytes::Bytes>,
    /// Where `bucket_uploads` go (set whenever they are not empty).
    pub code_bucket: Option<crate::model::CodeBucket>,
}

/// `zip` as the base64 text an upload sends.
fn base64(zip: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(zip)
}

/// Why a step failed.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("{address} failed")]
    Api {
        address: Address,
        #[source]
        source: ApiError,
    },
    #[error("{address}: {message}")]
    Other { address: Address, message: String },
    #[error(transparent)]
    State(#[from] StateError),
}

struct Ctx<'a> {
    client: Client,
    desired: Option<&'a Desired>,
    plan: &'a Plan,
    payloads: &'a Payloads,
    recorder: Recorder,
    /// The ownership tag value this state writes (`model::Owner`).
    owner: String,
    /// `--no-rollout`: an alias a rollout would move goes to the new version at once.
    no_rollout: bool,
    /// Raised once `stop` is: long steps (a rollout's waits) end early.
    stopping: AtomicBool,
    /// What steps report while they run (a rollout's steps), for `progress`.
    notes: tokio::sync::mpsc::UnboundedSender<Report>,
}

impl Ctx<'_> {
    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// A line about `change`'s step under way.
    fn note(&self, change: &Change, message: String) {
        let _ = self.notes.send(Report::Note {
            address: change.address.clone(),
            action: change.action,
            message,
        });
    }
}

/// What the applier tells as it runs, in order: for the command's text lines or `--json`
/// events. It names resources and actions and carries error text, never attribute values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// A change's first step started.
    Started { address: Address, action: Action },
    /// A step of the change under way says how it goes (a rollout's steps).
    Note {
        address: Address,
        action: Action,
        message: String,
    },
    /// Every step of a change completed; `id` is what the state records for it now (none
    /// once it is deleted).
    Completed {
        address: Address,
        action: Action,
        id: Option<String>,
    },
    /// A step of a change failed; the error is in [`Outcome::errors`] too.
    Failed {
        address: Address,
        action: Action,
        error: String,
    },
}

impl Report {
    /// The resource it is about.
    pub fn address(&self) -> &Address {
        match self {
            Report::Started { address, .. }
            | Report::Note { address, .. }
            | Report::Completed { address, .. }
            | Report::Failed { address, .. } => address,
        }
    }
}

/// What an apply did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Addresses whose steps all completed.
    pub done: Vec<Address>,
    /// Failed steps (empty on success).
    pub errors: Vec<StepError>,
    /// Changes not attempted because something they wait for failed: `(skipped, failed)`,
    /// `failed` being the failed address the skip traces back to.
    pub skipped: Vec<(Address, Address)>,
    /// The state as saved last.
    pub state: Option<State>,
    /// `stop` was raised: no step started after it.
    pub interrupted: bool,
}

/// What [`apply`] runs, against what.
pub struct ApplyOptions<'a> {
    pub client: &'a Client,
    /// `None` for a destroy.
    pub desired: Option<&'a Desired>,
    pub plan: &'a Plan,
    pub payloads: &'a Payloads,
    /// The state the plan was made against; the apply records into it.
    pub state: State,
    /// Where the state is recorded.
    pub store: Arc<StateStore>,
    /// Steps in flight at once (at least one).
    pub parallelism: usize,
    /// Once raised, no new step starts; running ones finish and are recorded.
    pub stop: &'a AtomicBool,
    /// Gets each change's start, end or failure, and a rollout's notes as it goes.
    pub progress: &'a mut (dyn FnMut(Report) + Send),
    /// `--no-rollout`: aliases go to their new version at once.
    pub no_rollout: bool,
}

/// Applies `options.plan`: the adoptions and re-records first, then every step once the
/// steps it waits for are done, up to `parallelism` at a time.
pub async fn apply(options: ApplyOptions<'_>) -> Outcome {
    let ApplyOptions {
        client,
        desired,
        plan,
        payloads,
        state,
        store,
        parallelism,
        stop,
        progress,
        no_rollout,
    } = options;
    let empty = Desired {
        stack: state.stack.clone(),
        stage: state.stage.clone(),
        provider: None,
        state: Default::default(),
        dependencies: Default::default(),
        functions: Default::default(),
        workflows: Default::default(),
        edges: Default::default(),
        code_bucket: None,
        outputs: Default::default(),
    };
    let steps = order::steps(plan, desired.unwrap_or(&empty), &state);
    let (notes, mut notes_rx) = tokio::sync::mpsc::unbounded_channel();
    // Borrowed, not copied: the steps run as futures of this task (the work is waiting on
    // the API), so the plan, the manifests and the code payloads of 10,000 functions are
    // held once.
    let ctx = Ctx {
        client: client.clone(),
        desired,
        plan,
        payloads,
        owner: state.owner().tag_value(),
        recorder: Recorder::new(state, store),
        no_rollout,
        stopping: AtomicBool::new(false),
        notes,
    };
    let mut outcome = Outcome::default();
    record_without_calls(&ctx, &mut outcome).await;
    run_steps(&ctx, &steps, parallelism, stop, progress, &mut notes_rx, &mut outcome).await;
    while let Ok(line) = notes_rx.try_recv() {
        progress(line);
    }
    if let Err(e) = ctx.recorder.finish() {
        outcome.errors.push(e.into());
    }
    outcome.state = Some(ctx.recorder.snapshot());
    outcome
}

/// Records the plan's adoptions and re-records, which need no API call.
async fn record_without_calls(ctx: &Ctx<'_>, outcome: &mut Outcome) {
    let plan = &ctx.plan;
    for (address, id) in &plan.adopt {
        let record = ResourceState {
            kind: address.kind().into(),
            id: id.clone(),
            attributes: Default::default(),
            private: Default::default(),
        };
        if let Err(e) = ctx.recorder.put(address, record, &mut Vec::new()) {
            outcome.errors.push(e.into());
        }
    }
    for r in &plan.rerecord {
        // Live already is what the manifests ask for: record it as this apply would have.
        let mut record = ctx.recorder.get(&r.address).unwrap_or_else(|| ResourceState {
            kind: r.address.kind().into(),
            id: r.id.clone(),
            attributes: Default::default(),
            private: Default::default(),
        });
        record.attributes = state::Attributes::from_object(&r.attributes);
        if matches!(r.address, Address::Alias { .. }) {
            // Live is as the manifests ask, so no rollout is under way: one the state still
            // records ended after its last record (its final call's answer lost to a kill).
            record.private.remove("rollout");
        }
        if let Some(d) = &ctx.desired {
            record
                .private
                .insert("depends_on", json!(plan::depends_on(d, &r.address)));
        }
        if let Err(e) = ctx.recorder.put(&r.address, record, &mut Vec::new()) {
            outcome.errors.push(e.into());
        }
    }
}

/// Runs `steps` in dependency order until all ran, or `stop` is raised, or the state can no
/// longer be written; fills `outcome`'s done, errors and skips.
async fn run_steps(
    ctx: &Ctx<'_>,
    steps: &[Step],
    parallelism: usize,
    stop: &AtomicBool,
    progress: &mut (dyn FnMut(Report) + Send),
    notes: &mut tokio::sync::mpsc::UnboundedReceiver<Report>,
    outcome: &mut Outcome,
) {
    let plan = &ctx.plan;
    let mut schedule = Schedule::new(steps);
    let mut started_changes = BTreeSet::new();
    // Steps that failed or were skipped, with the failed step each one traces back to.
    let mut blocked: BTreeMap<usize, usize> = BTreeMap::new();
    let mut tasks = futures::stream::FuturesUnordered::new();
    let mut remaining_per_change: BTreeMap<usize, usize> = BTreeMap::new();
    for s in steps {
        *remaining_per_change.entry(s.change).or_default() += 1;
    }
    // A state file that cannot be written stops everything: nothing more could be recorded.
    let mut unrecordable = outcome.errors.iter().any(|e| matches!(e, StepError::State(_)));
    loop {
        if stop.load(Ordering::SeqCst) {
            outcome.interrupted = true;
            ctx.stopping.store(true, Ordering::SeqCst);
        }
        if !unrecordable && !outcome.interrupted {
            while tasks.len() < parallelism.max(1) {
                let Some(i) = schedule.next() else { break };
                let step = &steps[i];
                if started_changes.insert(step.change) {
                    let c = &plan.changes[step.change];
                    progress(Report::Started {
                        address: c.address.clone(),
                        action: c.action,
                    });
                }
                tasks.push(async move { (i, run_step(ctx, step).await) });
            }
        }
        if tasks.is_empty() {
            break;
        }
        // While steps run: pass on their notes, and notice `stop` for the long ones.
        let joined = tokio::select! {
            biased;
            Some(line) = notes.recv() => {
                progress(line);
                continue;
            }
            joined = futures::StreamExt::next(&mut tasks) => joined,
            _ = tokio::time::sleep(std::time::Duration::from_millis(200)) => continue,
        };
        // A step's notes come before the line that says it finished.
        while let Ok(line) = notes.try_recv() {
            progress(line);
        }
        let Some(joined) = joined else {
            break;
        };
        let (i, result) = joined;
        match result {
            Ok(()) => {
                schedule.finished(i);
                let change = steps[i].change;
                let left = remaining_per_change.get_mut(&change).expect("counted");
                *left -= 1;
                if *left == 0 {
                    let c = &plan.changes[change];
                    let id = ctx.recorder.get(&c.address).map(|r| r.id).filter(|id| !id.is_empty());
                    progress(Report::Completed {
                        address: c.address.clone(),
                        action: c.action,
                        id: id.filter(|_| c.action != Action::Delete),
                    });
                    outcome.done.push(c.address.clone());
                }
            }
            Err(e) => {
                unrecordable |= matches!(e, StepError::State(_));
                let c = &plan.changes[steps[i].change];
                progress(Report::Failed {
                    address: c.address.clone(),
                    action: c.action,
                    error: error_text(&e),
                });
                schedule.block(i, &mut blocked);
                outcome.errors.push(e);
            }
        }
    }
    if !unrecordable && !outcome.interrupted {
        let mut named = BTreeSet::new();
        for (&i, &cause) in &blocked {
            let (change, failed) = (&plan.changes[steps[i].change], &plan.changes[steps[cause].change]);
            if i != cause && change.address != failed.address && named.insert(change.address.clone()) {
                outcome.skipped.push((change.address.clone(), failed.address.clone()));
            }
        }
    }
}

/// Which steps may start: each step's count of unfinished prerequisites and the steps
/// waiting on each, so a finished step costs a look at its dependents, not a pass over every
/// step (an apply of 10,000 functions has 30,000 steps).
struct Schedule {
    /// Unfinished prerequisites, by step.
    waiting: Vec<usize>,
    /// The steps that wait on each step.
    dependents: Vec<Vec<usize>>,
    /// Steps whose prerequisites all finished, not started yet: the lowest index starts first.
    ready: BTreeSet<usize>,
}

impl Schedule {
    fn new(steps: &[Step]) -> Schedule {
        let mut dependents = vec![Vec::new(); steps.len()];
        for (i, step) in steps.iter().enumerate() {
            for &j in &step.after {
                dependents[j].push(i);
            }
        }
        let waiting: Vec<usize> = steps.iter().map(|s| s.after.len()).collect();
        let ready = (0..steps.len()).filter(|&i| waiting[i] == 0).collect();
        Schedule {
            waiting,
            dependents,
            ready,
        }
    }

    /// The next step to start, taken out of the ready ones.
    fn next(&mut self) -> Option<usize> {
        self.ready.pop_first()
    }

    /// Step `i` finished: the steps waiting only on it become ready.
    fn finished(&mut self, i: usize) {
        for &j in &self.dependents[i] {
            self.waiting[j] -= 1;
            if self.waiting[j] == 0 {
                self.ready.insert(j);
            }
        }
    }

    /// Step `i` failed: it and every step that waits on it, directly or not, are blocked by
    /// it (none of those can have started, and none ever becomes ready).
    fn block(&self, i: usize, blocked: &mut BTreeMap<usize, usize>) {
        blocked.insert(i, i);
        let mut queue = vec![i];
        while let Some(k) = queue.pop() {
            for &j in &self.dependents[k] {
                if let std::collections::btree_map::Entry::Vacant(entry) = blocked.entry(j) {
                    entry.insert(i);
                    queue.push(j);
                }
            }
        }
    }
}

/// A step's error as one line: the error and its causes, `: `-joined.
fn error_text(e: &StepError) -> String {
    let mut causes = Vec::new();
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(cause) = source {
        causes.push(cause.to_string());
        source = cause.source();
    }
    causes.join(": ")
}

fn api(address: &Address) -> impl Fn(ApiError) -> StepError + '_ {
    move |source| StepError::Api {
        address: address.clone(),
        source,
    }
}

fn record(kind: &str, id: String, change: &Change, private: BTreeMap<String, Value>) -> ResourceState {
    ResourceState {
        kind: kind.into(),
        id,
        attributes: state::Attributes::from_object(&change.after_view()),
        private: private.into(),
    }
}

impl Ctx<'_> {
    /// Sends one mutating call with its intent recorded first (durably, for a create that
    /// `record`s something to look up after a crash). On success the intent id goes
    /// to `settle`, to be confirmed in the same write that records the result; a failure
    /// that certainly changed nothing confirms it at once; an ambiguous one (the call may
    /// have happened) leaves it for the next run to resolve.
    async fn send<T>(
        &self,
        address: &Address,
        call: Operation,
        lookup: Value,
        record: Option<ResourceState>,
        settle: &mut Vec<String>,
        request: impl std::future::Future<Output = Result<T, ApiError>>,
    ) -> Result<T, StepError> {
        // Only a create is looked up after a crash, so only its intent holds the call back.
        let wait = record.is_some();
        let id = self
            .recorder
            .intend(
                Intent {
                    address: address.to_string(),
                    call,
                    started: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    lookup,
                    record,
                },
                wait,
            )
            .await?;
        match request.await {
            Ok(value) => {
                settle.push(id);
                Ok(value)
            }
            Err(source) => {
                if source.certainly_without_effect() {
                    self.recorder.settle(&mut vec![id])?;
                }
                Err(StepError::Api {
                    address: address.clone(),
                    source,
                })
            }
        }
    }

    /// [`Ctx::send`] for a call that creates nothing: no lookup, no record to resolve.
    async fn call<T>(
        &self,
        address: &Address,
        call: Operation,
        settle: &mut Vec<String>,
        request: impl std::future::Future<Output = Result<T, ApiError>>,
    ) -> Result<T, StepError> {
        self.send(address, call, Value::Null, None, settle, request).await
    }
}

async fn run_step(ctx: &Ctx<'_>, step: &Step) -> Result<(), StepError> {
    let mut settle = Vec::new();
    let result = run_step_calls(ctx, step, &mut settle).await;
    // Calls whose success needed no record of its own (or whose record failed).
    let settled = ctx.recorder.settle(&mut settle);
    result.and(settled.map_err(StepError::from))
}

/// Sends one step's calls, through the module of its resource kind.
async fn run_step_calls(ctx: &Ctx<'_>, step: &Step, settle: &mut Vec<String>) -> Result<(), StepError> {
    let change = &ctx.plan.changes[step.change];
    let address = &change.address;
    let mut private = BTreeMap::new();
    if let Some(d) = &ctx.desired {
        private.insert("depends_on".to_string(), json!(plan::depends_on(d, address)));
    }
    match (address, step.phase) {
        (Address::Dependency(_), Phase::DeleteOld) => dependency::delete_old(ctx, address, settle).await,
        // Only the old version's cleanup (the `DeleteOld` step) is left to do.
        (Address::Dependency(_), Phase::Main) if change.action == Action::Update => Ok(()),
        (Address::Dependency(_), Phase::Main) => dependency::run(ctx, change, private, settle).await,
        (Address::Function(name), _) => function::run(ctx, change, name, private, settle).await,
        (Address::Trigger { function, .. }, _) => trigger::run(ctx, change, function, private, settle).await,
        (Address::Async(function), _) => async_config::run(ctx, change, function, private, settle).await,
        (Address::Version(function), _) => version::run(ctx, change, function, private, settle).await,
        (Address::Alias { function, alias }, _) => alias::run(ctx, change, function, alias, private, settle).await,
        (Address::Workflow(_), _) => workflow::run(ctx, change, private, settle).await,
    }
}

/// The URN of function `name`: as recorded (created earlier in this run, perhaps), else
/// as planned.
fn function_urn(ctx: &Ctx<'_>, name: &str) -> String {
    ctx.recorder
        .get(&Address::Function(name.into()))
        .map(|r| r.id)
        .or_else(|| ctx.desired.as_ref().map(|d| d.function_urn(name)))
        .unwrap_or_default()
}

/// A delete of something already gone succeeded.
fn not_found(e: ApiError) -> Result<(), ApiError> {
    if e.is_not_found() {
        Ok(())
    } else {
        Err(e)
    }
}

/// A call whose request the plan does not carry (a plan read back from a file, its
/// requests never attached): sending nothing beats guessing.
fn unplanned(address: &Address, operation: Operation) -> StepError {
    StepError::Other {
        address: address.clone(),
        message: format!("the plan carries no request for its {operation} call"),
    }
}

fn other(address: &Address, e: impl std::fmt::Display) -> StepError {
    StepError::Other {
        address: address.clone(),
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(change: usize, after: &[usize]) -> Step {
        Step {
            change,
            phase: Phase::Main,
            after: after.to_vec(),
        }
    }

    #[test]
    fn a_failure_blocks_exactly_what_waits_for_it_directly_or_not() {
        // 1 waits for 0, 2 for 1 and 3, 5 for 4, 6 for 0; 3 and 4 wait for nothing.
        let steps = [
            step(0, &[]),
            step(1, &[0]),
            step(2, &[1, 3]),
            step(3, &[]),
            step(4, &[]),
            step(5, &[4]),
            step(6, &[0]),
        ];
        let mut schedule = Schedule::new(&steps);
        assert_eq!((schedule.next(), schedule.next()), (Some(0), Some(3)));
        schedule.finished(3);
        let mut blocked = BTreeMap::new();
        schedule.block(0, &mut blocked);
        assert_eq!(blocked, BTreeMap::from([(0, 0), (1, 0), (2, 0), (6, 0)]));
        // The independent chain runs on, lowest index first.
        assert_eq!(schedule.next(), Some(4));
        assert_eq!(schedule.next(), None);
        schedule.finished(4);
        assert_eq!((schedule.next(), schedule.next()), (Some(5), None));
    }

    #[test]
    fn a_step_is_ready_once_all_it_waits_for_finished() {
        let steps = [step(0, &[]), step(1, &[]), step(2, &[0, 1]), step(3, &[2])];
        let mut schedule = Schedule::new(&steps);
        assert_eq!(
            (schedule.next(), schedule.next(), schedule.next()),
            (Some(0), Some(1), None)
        );
        schedule.finished(1);
        assert_eq!(schedule.next(), None, "2 still waits for 0");
        schedule.finished(0);
        assert_eq!(schedule.next(), Some(2));
        schedule.finished(2);
        assert_eq!(schedule.next(), Some(3));
    }
}
