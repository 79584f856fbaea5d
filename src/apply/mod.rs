//! The applier: runs a [`Plan`]'s steps against a [`Client`] in dependency order, up to
//! `parallelism` at a time, saving the state file after every completed call. A failed step
//! stops only the steps that (transitively) wait for it, which are reported as skipped; every
//! independent step still runs, as Terraform does. Only an interrupt, or a state file that
//! cannot be written, stops new steps from starting.

pub mod import;
pub mod inventory;
pub mod recover;
pub mod refresh;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::api::types::{
    AsyncInvokeConfigRequest, CreateDependencyVersionRequest, CreateFunctionRequest, CreateTriggerRequest, Tag,
    UpdateFunctionCodeRequest, UpdateFunctionConfigRequest, UpdateTriggerRequest, WorkflowDefinition,
};
use crate::api::Operation;
use crate::client::{ApiError, Client};
use crate::model::limits::OWNERSHIP_TAG_KEY;
use crate::model::{Address, Desired};
use crate::plan::order::{self, Phase, Step};
use crate::plan::{self, diff, Action, Change, Plan};
use crate::state::{self, Intent, Recorder, ResourceState, State, StateError};

/// Base64 of every local artifact, by address.
#[derive(Debug, Clone, Default)]
pub struct Payloads {
    pub files: BTreeMap<Address, String>,
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

struct Ctx {
    client: Client,
    desired: Option<Desired>,
    plan: Plan,
    payloads: Payloads,
    recorder: Recorder,
    /// The ownership tag value this state writes (`model::Owner`).
    owner: String,
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

#[allow(clippy::too_many_arguments)]
/// Applies `plan`. `desired` is `None` for a destroy. Once `stop` is raised no new step
/// starts; running ones finish and are recorded. `progress` gets one line per finished
/// resource.
pub async fn apply(
    client: &Client,
    desired: Option<&Desired>,
    plan: &Plan,
    payloads: &Payloads,
    state: State,
    state_path: PathBuf,
    parallelism: usize,
    stop: &std::sync::atomic::AtomicBool,
    progress: &mut (dyn FnMut(String) + Send),
) -> Outcome {
    let empty = Desired {
        stack: state.stack.clone(),
        stage: state.stage.clone(),
        provider: None,
        dependencies: Default::default(),
        functions: Default::default(),
        workflows: Default::default(),
        edges: Default::default(),
    };
    let steps = order::steps(plan, desired.unwrap_or(&empty), &state);
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        desired: desired.cloned(),
        plan: plan.clone(),
        payloads: payloads.clone(),
        owner: state.owner().tag_value(),
        recorder: Recorder::new(state, state_path),
    });
    let mut outcome = Outcome::default();
    for (address, id) in &plan.adopt {
        let record = ResourceState {
            kind: address.kind().into(),
            id: id.clone(),
            attributes: Default::default(),
            private: Default::default(),
        };
        if let Err(e) = ctx.recorder.put(address, record, &mut Vec::new()).await {
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
        let attributes: BTreeMap<String, Value> = r
            .attributes
            .as_object()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .collect();
        record.attributes = state::Attributes::from_map(&attributes);
        if let Some(d) = desired {
            record
                .private
                .insert("depends_on", json!(plan::depends_on(d, &r.address)));
        }
        if let Err(e) = ctx.recorder.put(&r.address, record, &mut Vec::new()).await {
            outcome.errors.push(e.into());
        }
    }
    let mut done = BTreeSet::new();
    let mut started = BTreeSet::new();
    // Steps that failed or were skipped, with the failed step each one traces back to.
    let mut blocked: BTreeMap<usize, usize> = BTreeMap::new();
    let mut tasks = tokio::task::JoinSet::new();
    let mut remaining_per_change: BTreeMap<usize, usize> = BTreeMap::new();
    for s in &steps {
        *remaining_per_change.entry(s.change).or_default() += 1;
    }
    // A state file that cannot be written stops everything: nothing more could be recorded.
    let mut unrecordable = outcome.errors.iter().any(|e| matches!(e, StepError::State(_)));
    loop {
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            outcome.interrupted = true;
        }
        if !unrecordable && !outcome.interrupted {
            skip_blocked(&steps, &started, &mut blocked);
            for (i, step) in steps.iter().enumerate() {
                if tasks.len() >= parallelism.max(1) {
                    break;
                }
                if !started.contains(&i) && !blocked.contains_key(&i) && step.after.iter().all(|j| done.contains(j)) {
                    started.insert(i);
                    let ctx = ctx.clone();
                    let step = step.clone();
                    tasks.spawn(async move { (i, run_step(&ctx, &step).await) });
                }
            }
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        let (i, result) = joined.expect("apply task panicked");
        match result {
            Ok(()) => {
                done.insert(i);
                let change = steps[i].change;
                let left = remaining_per_change.get_mut(&change).expect("counted");
                *left -= 1;
                if *left == 0 {
                    let c = &plan.changes[change];
                    let verb = match c.action {
                        Action::Create => "created",
                        Action::Update => "updated",
                        Action::Replace => "replaced",
                        Action::Delete => "destroyed",
                    };
                    progress(format!("{}: {verb}", c.address));
                    outcome.done.push(c.address.clone());
                }
            }
            Err(e) => {
                unrecordable |= matches!(e, StepError::State(_));
                blocked.insert(i, i);
                outcome.errors.push(e);
            }
        }
    }
    if !unrecordable && !outcome.interrupted {
        skip_blocked(&steps, &started, &mut blocked);
        let mut named = BTreeSet::new();
        for (&i, &cause) in &blocked {
            let (change, failed) = (&plan.changes[steps[i].change], &plan.changes[steps[cause].change]);
            if i != cause && change.address != failed.address && named.insert(change.address.clone()) {
                outcome.skipped.push((change.address.clone(), failed.address.clone()));
            }
        }
    }
    if let Err(e) = ctx.recorder.finish() {
        outcome.errors.push(e.into());
    }
    outcome.state = Some(ctx.recorder.snapshot());
    outcome
}

/// Marks every step not started that waits, directly or not, for a blocked (failed or
/// skipped) step as blocked by the same failure.
fn skip_blocked(steps: &[Step], started: &BTreeSet<usize>, blocked: &mut BTreeMap<usize, usize>) {
    // The common case, nothing failed: no pass over the steps at all.
    if blocked.is_empty() {
        return;
    }
    loop {
        let newly: Vec<(usize, usize)> = steps
            .iter()
            .enumerate()
            .filter(|(i, _)| !started.contains(i) && !blocked.contains_key(i))
            .filter_map(|(i, step)| step.after.iter().find_map(|j| blocked.get(j)).map(|&cause| (i, cause)))
            .collect();
        if newly.is_empty() {
            return;
        }
        blocked.extend(newly);
    }
}

fn api(address: &Address) -> impl Fn(ApiError) -> StepError + '_ {
    move |source| StepError::Api {
        address: address.clone(),
        source,
    }
}

fn record(kind: &str, id: String, change: &Change, private: BTreeMap<String, Value>) -> ResourceState {
    let attributes = state::Attributes::from_map(
        &change
            .after
            .as_object()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .collect(),
    );
    ResourceState {
        kind: kind.into(),
        id,
        attributes,
        private: private.into(),
    }
}

impl Ctx {
    /// Sends one mutating call with its intent durable first. On success the intent id goes
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
        let id = self
            .recorder
            .intend(Intent {
                address: address.to_string(),
                call,
                started: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                lookup,
                record,
            })
            .await?;
        match request.await {
            Ok(value) => {
                settle.push(id);
                Ok(value)
            }
            Err(source) => {
                if source.certainly_without_effect() {
                    self.recorder.settle(&mut vec![id]).await?;
                }
                Err(StepError::Api {
                    address: address.clone(),
                    source,
                })
            }
        }
    }
}

impl Ctx {
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

    /// Deletes one dependency version; one already gone counts as deleted.
    async fn delete_dependency_version(
        &self,
        address: &Address,
        dep_id: &str,
        version: i64,
        settle: &mut Vec<String>,
    ) -> Result<(), StepError> {
        let request = async {
            self.client
                .delete_dependency_version(dep_id, version)
                .await
                .or_else(not_found)
        };
        self.call(address, Operation::DeleteDependencyVersion, settle, request)
            .await
    }
}

async fn run_step(ctx: &Ctx, step: &Step) -> Result<(), StepError> {
    let mut settle = Vec::new();
    let result = run_step_calls(ctx, step, &mut settle).await;
    // Calls whose success needed no record of its own (or whose record failed).
    let settled = ctx.recorder.settle(&mut settle).await;
    result.and(settled.map_err(StepError::from))
}

async fn run_step_calls(ctx: &Ctx, step: &Step, settle: &mut Vec<String>) -> Result<(), StepError> {
    let change = &ctx.plan.changes[step.change];
    let address = &change.address;
    let has = |call: Operation| change.calls.contains(&call);
    let desired = ctx.desired.as_ref();
    let mut private = BTreeMap::new();
    if let Some(d) = desired {
        private.insert("depends_on".to_string(), json!(plan::depends_on(d, address)));
    }
    match (address, step.phase) {
        (Address::Dependency(_), Phase::DeleteOld) => {
            let Some(mut rec) = ctx.recorder.get(address) else {
                return Ok(());
            };
            let old = rec.private.remove("old_version").unwrap_or(Value::Null);
            if let (Some(dep_id), Some(version)) = (
                old.get("dep_id").and_then(Value::as_str),
                old.get("version").and_then(Value::as_i64),
            ) {
                ctx.delete_dependency_version(address, dep_id, version, settle).await?;
            }
            ctx.recorder.put(address, rec, settle).await?;
        }
        (Address::Dependency(_), Phase::Main) if change.action == Action::Update => {
            // Only the old version's cleanup (the `DeleteOld` step) is left to do.
        }
        (Address::Dependency(name), Phase::Main) => {
            let old = ctx.recorder.get(address);
            if change.action == Action::Delete {
                if has(Operation::DeleteDependencyVersion) {
                    let old = old.expect("recorded");
                    let (dep_id, version) = dep_version(&old);
                    ctx.delete_dependency_version(address, &dep_id, version, settle).await?;
                }
                ctx.recorder.remove(std::slice::from_ref(address), settle).await?;
                return Ok(());
            }
            let d = desired.expect("desired");
            let spec = &d.dependencies[name];
            let mut body = spec.create_body(d.region());
            if let Some(file) = ctx.payloads.files.get(address) {
                body["depend_file"] = file.clone().into();
            }
            let body: CreateDependencyVersionRequest = serde_json::from_value(body).map_err(|e| other(address, e))?;
            if let (Some(old), Action::Replace) = (old, change.action) {
                let (dep_id, v) = dep_version(&old);
                private.insert("old_version".into(), json!({"dep_id": dep_id, "version": v}));
            }
            let lookup = json!({
                "name": body.name,
                "runtime": body.runtime,
                "etag": body.depend_file.as_deref().and_then(crate::client::dependencies::package_etag),
            });
            let template = record("dependency", String::new(), change, private);
            let version = ctx
                .send(
                    address,
                    Operation::CreateDependencyVersion,
                    lookup,
                    Some(template.clone()),
                    settle,
                    ctx.client.create_dependency_version(&body),
                )
                .await?;
            ctx.recorder
                .put(address, dependency_record(template, &version), settle)
                .await?;
        }
        (Address::Function(name), _) => {
            let old = ctx.recorder.get(address);
            if has(Operation::DeleteFunction) {
                let urn = old.as_ref().map(|r| r.id.clone()).unwrap_or_default();
                let request = async { ctx.client.delete_function(&urn).await.or_else(not_found) };
                ctx.call(address, Operation::DeleteFunction, settle, request).await?;
                let mut gone = ctx.recorder.children(name);
                gone.push(address.clone());
                ctx.recorder.remove(&gone, settle).await?;
            }
            if change.action == Action::Delete {
                let mut gone = ctx.recorder.children(name);
                gone.push(address.clone());
                return Ok(ctx.recorder.remove(&gone, settle).await?);
            }
            let d = desired.expect("desired");
            let spec = &d.functions[name];
            let key = ctx.recorder.lineage();
            let recorded = old
                .as_ref()
                .and_then(|r| r.private.get("secrets_hmac"))
                .and_then(|v| v.as_str().map(str::to_string));
            // The plan compared the recorded fingerprint with this secret: no difference
            // listed means they match.
            let verified = !change.attributes.iter().any(|a| a.path == "encrypted_user_data");
            // The fingerprint is a deliberately slow KDF (tens of milliseconds, tens of MiB):
            // off the async workers, so the other calls in flight keep moving.
            let hmac = match spec.encrypted_user_data() {
                Some(secret) => {
                    let secret = secret.expose().to_string();
                    let record = tokio::task::spawn_blocking(move || {
                        diff::secret_record(recorded.as_deref(), &secret, &key, verified)
                    });
                    Some(record.await.map_err(|e| other(address, e))?)
                }
                None => None,
            };
            private.insert("secrets_hmac".into(), json!(hmac));
            let versions: Vec<String> = spec
                .dependencies
                .iter()
                .filter_map(|dep| ctx.recorder.get(&Address::Dependency(dep.clone())).map(|r| r.id))
                .collect();
            let file = ctx.payloads.files.get(address).map(String::as_str);
            // What is recorded: the planned attributes, with the dependency version ids
            // the plan could only show as "(known after apply)" filled in.
            let function_record = |urn: String, private: BTreeMap<String, Value>| {
                let mut rec = record("function", urn, change, private);
                let mut sorted = versions.clone();
                sorted.sort();
                rec.attributes.insert("depend_version_list", json!(sorted));
                rec
            };
            let mut urn = old
                .as_ref()
                .map(|r| r.id.clone())
                .unwrap_or_else(|| d.function_urn(name));
            let mut want: Vec<Tag> = spec
                .tags
                .iter()
                .map(|(k, v)| Tag {
                    key: k.clone(),
                    value: v.clone(),
                })
                .collect();
            want.push(Tag {
                key: OWNERSHIP_TAG_KEY.into(),
                value: ctx.owner.clone(),
            });
            // A new function gets its tags in the create body (one write fewer); the
            // adoption of a create whose answer was lost finds them set by that same body.
            if has(Operation::CreateFunction) {
                let mut body = spec.config_body();
                merge(&mut body, spec.code_body(d.region(), file, &versions));
                body["tags"] = serde_json::to_string(&want).map_err(|e| other(address, e))?.into();
                let body: CreateFunctionRequest = serde_json::from_value(body).map_err(|e| other(address, e))?;
                let planned = d.function_urn(name);
                let template = function_record(planned.clone(), private.clone());
                let created = ctx
                    .send(
                        address,
                        Operation::CreateFunction,
                        json!({"urn": planned, "owner": ctx.owner}),
                        Some(template),
                        settle,
                        ctx.client.create_function(&body),
                    )
                    .await?;
                urn = created
                    .func_urn
                    .strip_suffix(":latest")
                    .unwrap_or(&created.func_urn)
                    .to_string();
                ctx.recorder
                    .put(address, function_record(urn.clone(), private.clone()), settle)
                    .await?;
            }
            if has(Operation::UpdateFunctionCode) {
                let body: UpdateFunctionCodeRequest =
                    serde_json::from_value(spec.code_body(d.region(), file, &versions))
                        .map_err(|e| other(address, e))?;
                ctx.call(
                    address,
                    Operation::UpdateFunctionCode,
                    settle,
                    ctx.client.update_function_code(&urn, &body),
                )
                .await?;
                ctx.recorder
                    .put(address, function_record(urn.clone(), private.clone()), settle)
                    .await?;
            }
            if has(Operation::UpdateFunctionConfig) {
                let body: UpdateFunctionConfigRequest =
                    serde_json::from_value(spec.config_body()).map_err(|e| other(address, e))?;
                ctx.call(
                    address,
                    Operation::UpdateFunctionConfig,
                    settle,
                    ctx.client.update_function_config(&urn, &body),
                )
                .await?;
                ctx.recorder
                    .put(address, function_record(urn.clone(), private.clone()), settle)
                    .await?;
            }
            if has(Operation::CreateTags) {
                if change.action == Action::Update {
                    let live = ctx.client.list_function_tags(&urn).await.map_err(api(address))?;
                    let stale: Vec<Tag> = live.tags.into_iter().filter(|t| !want.contains(t)).collect();
                    if !stale.is_empty() {
                        let request = ctx.client.remove_function_tags(&urn, &stale);
                        ctx.call(address, Operation::DeleteTags, settle, request).await?;
                    }
                }
                let request = ctx.client.add_function_tags(&urn, &want);
                ctx.call(address, Operation::CreateTags, settle, request).await?;
            }
            ctx.recorder.put(address, function_record(urn, private), settle).await?;
        }
        (Address::Trigger { function, trigger }, _) => {
            let old = ctx.recorder.get(address);
            let urn = ctx
                .recorder
                .get(&Address::Function(function.clone()))
                .map(|r| r.id)
                .or_else(|| desired.map(|d| d.function_urn(function)))
                .unwrap_or_default();
            let old_type = old
                .as_ref()
                .and_then(|r| {
                    r.attributes
                        .get("trigger_type_code")
                        .and_then(|v| v.as_str().map(str::to_string))
                })
                .or_else(|| {
                    change
                        .before
                        .get("trigger_type_code")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .unwrap_or_default();
            if has(Operation::DeleteFunctionTrigger) {
                if let Some(old) = &old {
                    let request = async {
                        ctx.client
                            .delete_trigger(&urn, &old_type, &old.id)
                            .await
                            .or_else(not_found)
                    };
                    ctx.call(address, Operation::DeleteFunctionTrigger, settle, request)
                        .await?;
                }
                ctx.recorder.remove(std::slice::from_ref(address), settle).await?;
            }
            if change.action == Action::Delete {
                return Ok(ctx.recorder.remove(std::slice::from_ref(address), settle).await?);
            }
            let spec = &desired.expect("desired").functions[function].triggers[trigger];
            if has(Operation::CreateFunctionTrigger) {
                let body: CreateTriggerRequest =
                    serde_json::from_value(spec.create_body()).map_err(|e| other(address, e))?;
                let template = record("trigger", String::new(), change, private);
                let lookup = json!({
                    "function_urn": urn,
                    "trigger_type_code": spec.trigger_type_code,
                    "event_data": spec.event_data,
                });
                let created = ctx
                    .send(
                        address,
                        Operation::CreateFunctionTrigger,
                        lookup,
                        Some(template.clone()),
                        settle,
                        ctx.client.create_trigger(&urn, &body),
                    )
                    .await?;
                let rec = ResourceState {
                    id: created.trigger_id,
                    ..template
                };
                ctx.recorder.put(address, rec, settle).await?;
            } else if has(Operation::UpdateTrigger) {
                let id = old.map(|r| r.id).unwrap_or_default();
                let body = UpdateTriggerRequest {
                    trigger_status: Some(spec.trigger_status.as_str().into()),
                    event_data: None,
                };
                let request = ctx.client.update_trigger(&urn, &old_type, &id, &body);
                ctx.call(address, Operation::UpdateTrigger, settle, request).await?;
                ctx.recorder
                    .put(address, record("trigger", id, change, private), settle)
                    .await?;
            }
        }
        (Address::Async(function), _) => {
            let urn = ctx
                .recorder
                .get(&Address::Function(function.clone()))
                .map(|r| r.id)
                .or_else(|| desired.map(|d| d.function_urn(function)))
                .unwrap_or_default();
            if change.action == Action::Delete {
                if has(Operation::DeleteFunctionAsyncInvokeConfig) {
                    let request = async { ctx.client.delete_async_config(&urn).await.or_else(not_found) };
                    ctx.call(address, Operation::DeleteFunctionAsyncInvokeConfig, settle, request)
                        .await?;
                }
                return Ok(ctx.recorder.remove(std::slice::from_ref(address), settle).await?);
            }
            let d = desired.expect("desired");
            let spec = d.functions[function].async_config.as_ref().expect("async planned");
            let body: AsyncInvokeConfigRequest = serde_json::from_value(spec.body(d)).map_err(|e| other(address, e))?;
            let request = ctx.client.put_async_config(&urn, &body);
            ctx.call(address, Operation::UpdateFunctionAsyncInvokeConfig, settle, request)
                .await?;
            ctx.recorder
                .put(address, record("async", urn, change, private), settle)
                .await?;
        }
        (Address::Workflow(name), _) => {
            let old = ctx.recorder.get(address);
            if change.action == Action::Delete {
                if has(Operation::BatchDeleteWorkflows) {
                    let urn = old
                        .as_ref()
                        .and_then(|r| {
                            r.private
                                .get("workflow_urn")
                                .and_then(|v| v.as_str().map(str::to_string))
                        })
                        .unwrap_or_default();
                    let urns = [urn];
                    let request = ctx.client.delete_workflows(&urns);
                    let result = ctx
                        .send(
                            address,
                            Operation::BatchDeleteWorkflows,
                            Value::Null,
                            None,
                            settle,
                            request,
                        )
                        .await?;
                    if !result.fail.is_empty() {
                        return Err(StepError::Other {
                            address: address.clone(),
                            message: format!("the service did not delete it: {}", Value::Array(result.fail)),
                        });
                    }
                }
                return Ok(ctx.recorder.remove(std::slice::from_ref(address), settle).await?);
            }
            let d = desired.expect("desired");
            let body: WorkflowDefinition =
                serde_json::from_value(d.workflows[name].definition(d)).map_err(|e| other(address, e))?;
            let summary = match (has(Operation::UpdateWorkFlow), old) {
                (true, Some(old)) => {
                    let request = ctx.client.update_workflow(&old.id, &body);
                    ctx.call(address, Operation::UpdateWorkFlow, settle, request).await?
                }
                _ => {
                    let template = record("workflow", String::new(), change, private.clone());
                    let request = ctx.client.create_workflow(&body);
                    let lookup = json!({"name": body.name});
                    ctx.send(
                        address,
                        Operation::CreateWorkflow,
                        lookup,
                        Some(template),
                        settle,
                        request,
                    )
                    .await?
                }
            };
            private.insert("workflow_urn".into(), summary.workflow_urn.clone().into());
            ctx.recorder
                .put(address, record("workflow", summary.id, change, private), settle)
                .await?;
        }
    }
    Ok(())
}

/// A dependency's record once its version exists: the id, `dep_id` and `version` filled in.
pub(crate) fn dependency_record(
    template: ResourceState,
    version: &crate::api::types::DependencyVersion,
) -> ResourceState {
    let mut rec = ResourceState {
        id: version.id.clone(),
        ..template
    };
    rec.attributes.insert("dep_id", version.dep_id.clone().into());
    rec.attributes.insert("version", version.version.into());
    rec
}

fn dep_version(rec: &ResourceState) -> (String, i64) {
    let attributes = rec.attributes.to_map();
    (
        attributes
            .get("dep_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        attributes.get("version").and_then(Value::as_i64).unwrap_or_default(),
    )
}

/// A delete of something already gone succeeded.
fn not_found(e: ApiError) -> Result<(), ApiError> {
    if e.is_not_found() {
        Ok(())
    } else {
        Err(e)
    }
}

fn other(address: &Address, e: impl std::fmt::Display) -> StepError {
    StepError::Other {
        address: address.clone(),
        message: e.to_string(),
    }
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(a), Value::Object(b)) = (into.as_object_mut(), from) {
        let b: Map<String, Value> = b;
        a.extend(b);
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
        // 0 failed; 1 waits for 0, 2 for 1 (and for 3), 3 and 4 are independent, 5 waits
        // for 4, and 6 already started before the failure was known.
        let steps = [
            step(0, &[]),
            step(1, &[0]),
            step(2, &[1, 3]),
            step(3, &[]),
            step(4, &[]),
            step(5, &[4]),
            step(6, &[0]),
        ];
        let started = BTreeSet::from([0, 6]);
        let mut blocked = BTreeMap::from([(0, 0)]);
        skip_blocked(&steps, &started, &mut blocked);
        assert_eq!(blocked, BTreeMap::from([(0, 0), (1, 0), (2, 0)]));
    }
}
