//! Invoking functions: `InvokeFunction` (sync), `AsyncInvokeFunction` and the async
//! invocations' records (`ListAsyncInvocations`). Like every handler they run under the
//! store lock, and they only read: an invoke resolves the URN to the function version to run
//! (an alias by its weights), builds the [`runtime::Spec`] and defers; the invocation itself
//! runs once the lock is released ([`finish`]). An async one runs in the background, retried
//! and aged as the function's async config says, and its result goes to the config's
//! destinations: a FunctionGraph destination is invoked (async) with the documented record;
//! OBS, SMN and DIS cannot be reached from here, so what they would get is kept for
//! `GET /_emulator/destinations`.
//!
//! Decisions where the API reference is silent (recorded in `docs/emulator-runtime.md`):
//! the answer is 200 whether or not the function failed; `X-Is-Func-Err` and
//! `X-Func-Err-Code` (0 success, 1 the handler raised, 2 timeout, 3 out of memory, 4 the
//! instance failed) say how it went; a v1 body's `status` is 200 or 500.

use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::{resolve, snapshot, Ctx, Resp, Routes, Target};
use crate::api::limits;
use crate::api::Operation;
use crate::emulator::fail::{Fail, Res};
use crate::emulator::runtime::{
    self, Credentials, Failure, Invocation, Language, Outcome, Package, Refusal, Setup, Spec,
};
use crate::emulator::store::{Db, Function};
use crate::emulator::Shared;
use std::sync::Arc;

/// The log tail an answer carries (`X-Cff-Log-Type: tail`), in bytes before base64.
const LOG_TAIL_BYTES: usize = 4096;

pub(super) fn routes(r: Routes) -> Routes {
    r.op(Operation::InvokeFunction, invoke)
        .op(Operation::AsyncInvokeFunction, invoke_async)
        .op(Operation::ListAsyncInvocations, list_async)
        .op(Operation::CancelAsyncInvocation, cancel)
        .op(Operation::ListFunctionStatistics, statistics)
        .op(Operation::ListFunctionAsMetric, report)
}

/// `GET …/functions/{urn}/statistics/{period}` (the last `period` minutes): an unqualified
/// or `latest` URN counts every invocation of the function, a version URN that version's,
/// an alias URN those made through the alias.
fn statistics(ctx: &Ctx<'_>, db: &mut Db, _: Option<super::functions::Staged>) -> Res<Resp> {
    use runtime::metrics::Filter;
    let (key, target, qualifier) = resolve(ctx, db, ctx.param(0))?;
    let period: i64 = ctx
        .param(1)
        .parse()
        .ok()
        .filter(|p| (1..=7 * 24 * 60).contains(p))
        .ok_or_else(|| {
            Fail::param(format!(
                "period `{}` is not a number of minutes (1 to 10080)",
                ctx.param(1)
            ))
        })?;
    let f = &db.tables.functions[&key];
    let filter = match target {
        Target::Latest if super::is_unqualified(ctx.param(0)) => Filter::default(),
        Target::Latest | Target::Version(_) => Filter {
            version: Some(qualifier),
            alias: None,
        },
        Target::Alias(name) => Filter {
            version: None,
            alias: Some(name),
        },
    };
    let urn = ctx.function_urn(f);
    Resp::ok(
        ctx.shared
            .runtime
            .metrics
            .statistics(&urn, &filter, ctx.shared.clock.now(), period),
    )
}

/// `GET …/fgs/function/report?type=count|failcount|rejectcount|duration&start_time&end_time&limit`
/// (times in epoch milliseconds; the last day by default): the project's functions ranked.
fn report(ctx: &Ctx<'_>, db: &mut Db, _: Option<super::functions::Staged>) -> Res<Resp> {
    let now = ctx.shared.clock.now();
    let time = |key: &str, default: chrono::DateTime<chrono::Utc>| match ctx.query(key).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .and_then(chrono::DateTime::from_timestamp_millis)
            .ok_or_else(|| Fail::param(format!("{key} `{v}` is not a time in epoch milliseconds"))),
    };
    let from = time("start_time", now - chrono::Duration::days(1))?;
    let to = time("end_time", now)?;
    let kind = ctx.query("type").unwrap_or("count");
    if !["count", "failcount", "rejectcount", "duration"].contains(&kind) {
        return Err(Fail::param(format!(
            "type `{kind}` is not count, failcount, rejectcount or duration"
        )));
    }
    let limit = ctx
        .query("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(10)
        .clamp(1, 500);
    let urns: Vec<String> = db
        .tables
        .functions
        .values()
        .filter(|f| f.project == ctx.project)
        .map(|f| ctx.function_urn(f))
        .collect();
    Resp::ok(ctx.shared.runtime.metrics.report(&urns, kind, from, to, limit))
}

/// An invocation to run once the store lock is released.
pub(crate) struct Deferred {
    pub spec: Spec,
    pub invocation: Invocation,
    pub mode: Mode,
}

pub(crate) enum Mode {
    Sync {
        /// `X-CFF-Request-Version: v1`.
        v1: bool,
        /// `X-Cff-Log-Type: tail`.
        log_tail: bool,
    },
    Async(Box<AsyncPolicy>),
}

/// What the function's async config says for the qualifier invoked.
#[derive(Debug, Clone)]
pub(crate) struct AsyncPolicy {
    pub retries: u32,
    pub max_age: Duration,
    pub on_success: Option<Destination>,
    pub on_failure: Option<Destination>,
}

/// `{destination, param}` with `param` decoded.
#[derive(Debug, Clone)]
pub(crate) struct Destination {
    pub kind: String,
    pub param: Value,
}

/// How long a throttled async invocation waits before trying again, and the pause before a
/// retry.
const ASYNC_PAUSE: Duration = Duration::from_millis(100);

fn invoke(ctx: &Ctx<'_>, db: &mut Db, _: Option<super::functions::Staged>) -> Res<Resp> {
    let header = |name: &str| ctx.header(name).unwrap_or_default().to_ascii_lowercase();
    let mode = Mode::Sync {
        v1: header("x-cff-request-version") == "v1",
        log_tail: header("x-cff-log-type") == "tail",
    };
    deferred(ctx, prepare(ctx, db)?, mode)
}

fn invoke_async(ctx: &Ctx<'_>, db: &mut Db, _: Option<super::functions::Staged>) -> Res<Resp> {
    let prepared = prepare(ctx, db)?;
    let config = db.tables.functions[&prepared.key]
        .async_configs
        .get(&prepared.qualifier);
    let mode = Mode::Async(Box::new(policy(config)));
    deferred(ctx, prepared, mode)
}

/// The request's body as the event of a new invocation of `prepared`.
fn deferred(ctx: &Ctx<'_>, prepared: Prepared, mode: Mode) -> Res<Resp> {
    Ok(Resp::deferred(Deferred {
        spec: prepared.spec,
        invocation: Invocation::new(event(ctx.raw_body), prepared.alias),
        mode,
    }))
}

/// The async config's policy; without one, no retry and the default event age.
fn policy(config: Option<&Value>) -> AsyncPolicy {
    let destination = |which: &str| {
        let d = config?.get("destination_config")?.get(which)?;
        let kind = d.get("destination")?.as_str()?.to_string();
        let param = d
            .get("param")
            .and_then(Value::as_str)
            .and_then(|p| serde_json::from_str(p).ok())
            .unwrap_or(Value::Null);
        Some(Destination { kind, param })
    };
    let number =
        |key: &str, default: u64| config.map_or(default, |c| c.get(key).and_then(Value::as_u64).unwrap_or(default));
    AsyncPolicy {
        retries: config.map_or(0, |_| number("max_async_retry_attempts", 1) as u32),
        max_age: Duration::from_secs(number("max_async_event_age_in_seconds", 3600)),
        on_success: destination("on_success"),
        on_failure: destination("on_failure"),
    }
}

/// `GET …/functions/{urn}/async-invocations?request_id&status&marker&limit`.
fn list_async(ctx: &Ctx<'_>, db: &mut Db, _: Option<super::functions::Staged>) -> Res<Resp> {
    let (key, _, _) = resolve(ctx, db, ctx.param(0))?;
    let urn = ctx.function_urn(&db.tables.functions[&key]);
    let status = match ctx.query("status").filter(|s| !s.is_empty()) {
        Some(s) => Some(
            runtime::records::Status::parse(s)
                .ok_or_else(|| Fail::param(format!("status `{s}` is not WAIT, RUNNING, SUCCESS, FAIL or DISCARD")))?,
        ),
        None => None,
    };
    let records = ctx
        .shared
        .runtime
        .records
        .list(&urn, ctx.query("request_id").filter(|s| !s.is_empty()), status);
    let number = |key: &str, default: usize| ctx.query(key).and_then(|v| v.parse().ok()).unwrap_or(default);
    let (marker, limit) = (number("marker", 0), number("limit", 100).clamp(1, 500));
    let page: Vec<_> = records.iter().skip(marker).take(limit).collect();
    let next = marker + page.len();
    Resp::ok(json!({
        "invocations": page,
        "count": records.len(),
        "next_marker": if next < records.len() { next } else { 0 },
    }))
}

/// The event a body makes: its JSON, or the text itself when it is not JSON (`{}` when
/// empty).
fn event(body: &[u8]) -> Value {
    if body.iter().all(u8::is_ascii_whitespace) {
        return json!({});
    }
    serde_json::from_slice(body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

/// What an invocation of the URN in the path runs.
pub(crate) struct Prepared {
    pub spec: Spec,
    /// The alias invoked through, if any.
    pub alias: String,
    /// The function's store key, and the qualifier as async configs are keyed.
    pub key: String,
    pub qualifier: String,
}

/// The spec of the version the URN names (an alias picks one by its weights).
pub(crate) fn prepare(ctx: &Ctx<'_>, db: &Db) -> Res<Prepared> {
    prepare_urn(ctx, db, ctx.param(0))
}

fn prepare_urn(ctx: &Ctx<'_>, db: &Db, raw_urn: &str) -> Res<Prepared> {
    let (key, target, qualifier) = resolve(ctx, db, raw_urn)?;
    let f = &db.tables.functions[&key];
    let (snap, alias) = match &target {
        Target::Alias(name) => {
            let version = pick_version(ctx, f, name);
            let snap = f.versions.iter().find(|v| v.version == version).unwrap_or(&f.latest);
            (snap, name.clone())
        }
        other => (snapshot(f, other), String::new()),
    };
    let config = &snap.config;
    let runtime_name = text(config, "runtime");
    let language = Language::of(&runtime_name).ok_or_else(|| {
        Fail::new(
            501,
            "FSS.0501",
            format!(
                "the emulator cannot run the {runtime_name} runtime: it runs Python* runtimes on python3 and Node.js* runtimes on node"
            ),
        )
    })?;
    let code = package(ctx, &snap.code.digest)?;
    let mut dependencies = Vec::new();
    for id in &snap.code.depend_version_list {
        let Some((_, version)) = super::find_version(db, &f.project, id) else {
            return Err(Fail::new(404, "FSS.1051", format!("dependency version {id} not found")));
        };
        dependencies.push(package(ctx, &version.blob_digest)?);
    }
    let memory_mb = config.get("memory_size").and_then(Value::as_u64).unwrap_or(128);
    let timeout = config.get("timeout").and_then(Value::as_u64).unwrap_or(3);
    let variables = variables(config);
    let setup = Setup {
        handler: text(config, "handler"),
        initializer: Some(text(config, "initializer_handler")).filter(|h| !h.is_empty()),
        initializer_ms: config.get("initializer_timeout").and_then(Value::as_u64).unwrap_or(3) * 1000,
        paths: Vec::new(),
        code_root: String::new(),
        user_data: variables.clone(),
        function_name: f.name.clone(),
        version: snap.version.clone(),
        package: f.package.clone(),
        project_id: f.project.clone(),
        memory_mb,
        cpu: limits::cpu_for_memory(memory_mb as i64),
        credentials: Credentials {
            access_key: "FGFORM-EMULATOR-DUMMY-AK".into(),
            secret_key: "fgform-emulator-dummy-sk".into(),
            token: "fgform-emulator-dummy-token".into(),
            security_token: "fgform-emulator-dummy-security-token".into(),
        },
        // The interpreter's own reservations come on top of what the handler may use.
        address_space_bytes: (language == Language::Python).then_some((memory_mb + 256) << 20),
    };
    let mut env = vec![
        ("RUNTIME_PROJECT_ID".to_string(), f.project.clone()),
        ("RUNTIME_FUNC_NAME".into(), f.name.clone()),
        ("RUNTIME_FUNC_VERSION".into(), snap.version.clone()),
        ("RUNTIME_PACKAGE".into(), f.package.clone()),
        ("RUNTIME_HANDLER".into(), setup.handler.clone()),
        ("RUNTIME_TIMEOUT".into(), timeout.to_string()),
        ("RUNTIME_USERDATA".into(), text(config, "user_data")),
        ("RUNTIME_CPU".into(), setup.cpu.to_string()),
        ("RUNTIME_MEMORY".into(), memory_mb.to_string()),
        ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
        ("LANG".into(), "C.UTF-8".into()),
    ];
    env.extend(
        variables
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_string))),
    );
    let fingerprint = {
        let mut hash = Sha256::new();
        hash.update(serde_json::to_vec(config).unwrap_or_default());
        hash.update(serde_json::to_vec(&snap.code).unwrap_or_default());
        hash.update(snap.last_modified.as_bytes());
        hex::encode(hash.finalize())
    };
    let max_instances = match config
        .get("strategy_config")
        .and_then(|s| s.get("concurrency"))
        .and_then(Value::as_i64)
    {
        Some(n) if n >= 0 => Some(n as usize),
        _ => None,
    };
    Ok(Prepared {
        spec: Spec {
            urn: ctx.function_urn(f),
            version: snap.version.clone(),
            fingerprint,
            runtime: runtime_name,
            language,
            memory_mb,
            timeout: Duration::from_secs(timeout),
            init_timeout: Duration::from_millis(setup.initializer_ms + 10_000),
            max_instances,
            env,
            code,
            dependencies,
            setup,
        },
        alias,
        key,
        qualifier,
    })
}

fn text(config: &Map<String, Value>, key: &str) -> String {
    config.get(key).and_then(Value::as_str).unwrap_or_default().to_string()
}

/// The function's environment variables and decrypted secrets (both JSON objects in
/// strings), secrets last.
fn variables(config: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for key in ["user_data", "encrypted_user_data"] {
        if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(&text(config, key)) {
            out.extend(m);
        }
    }
    out
}

/// A package by digest, with its bytes when it is not unpacked yet.
fn package(ctx: &Ctx<'_>, digest: &str) -> Res<Package> {
    let internal = |msg: String| Fail::new(500, "FSS.0500", msg);
    let bytes = if ctx.shared.runtime.has_code(digest) {
        None
    } else {
        let stored = ctx
            .shared
            .blobs
            .get(digest)
            .map_err(|e| internal(format!("cannot read the code: {e}")))?;
        Some(stored.ok_or_else(|| {
            internal(
                "the code package is not stored here: code named by an OBS URL is fetched only when the emulator runs with --obs-endpoint"
                    .into(),
            )
        })?)
    };
    Ok(Package {
        digest: digest.to_string(),
        bytes,
    })
}

/// The version an invocation through alias `name` runs: its main version, or its
/// additional version for the share of invocations its weight (a whole percent) says; the
/// draw comes from [`crate::emulator::routing`] (seeded per alias with `--seed`).
fn pick_version(ctx: &Ctx<'_>, f: &Function, name: &str) -> String {
    let Some(alias) = f.aliases.get(name) else {
        return "latest".into();
    };
    if alias.additional_version_weights.is_empty() {
        return alias.version.clone();
    }
    let mut draw = ctx.shared.routing.percent(&ctx.function_urn(f), name);
    for (version, weight) in &alias.additional_version_weights {
        let weight = weight.as_i64().unwrap_or(0);
        if draw < weight {
            return version.clone();
        }
        draw -= weight;
    }
    alias.version.clone()
}

/// Runs an invocation and counts it in the metrics (at the emulator clock's minute).
async fn counted(shared: &Shared, spec: &Spec, invocation: &Invocation) -> Result<Outcome, Refusal> {
    use runtime::metrics::Ended;
    let result = shared.runtime.invoke(spec, invocation).await;
    let (ended, ms) = match &result {
        Ok(outcome) => {
            let ended = match error_of(spec, outcome) {
                None => Ended::Success,
                Some((_, 4)) => Ended::SystemError,
                Some(_) => Ended::FunctionError,
            };
            (ended, outcome.duration.as_secs_f64() * 1000.0)
        }
        Err(Refusal::Throttled) => (Ended::Rejected, 0.0),
        Err(_) => (Ended::SystemError, 0.0),
    };
    let now = shared.clock.now();
    shared
        .runtime
        .metrics
        .record(&spec.urn, &spec.version, &invocation.alias, now, ended, ms);
    result
}

/// Runs a deferred invocation and makes its answer; an async one is accepted (202) and runs
/// in the background.
pub(crate) async fn finish(shared: &Arc<Shared>, job: Deferred) -> Res<Resp> {
    match job.mode {
        Mode::Sync { v1, log_tail } => {
            let outcome = counted(shared, &job.spec, &job.invocation)
                .await
                .map_err(|refusal| refused(&job.spec, refusal))?;
            Ok(answer(&job.spec, &job.invocation, &outcome, v1, log_tail))
        }
        Mode::Async(policy) => {
            let id = job.invocation.request_id.clone();
            spawn_async(shared, job.spec, job.invocation, *policy);
            Resp::with_status(202, json!({ "request_id": id }))
        }
    }
}

/// Queues an async invocation of the function `urn` names with `event`, as a trigger
/// delivers one; its request id, or why it cannot run.
pub(crate) fn start_async(shared: &Arc<Shared>, urn: &str, event: Value) -> Result<String, String> {
    let (prepared, policy) = prepare_internal(shared, urn).map_err(|fail| fail.msg)?;
    let invocation = Invocation::new(event, prepared.alias);
    let id = invocation.request_id.clone();
    spawn_async(shared, prepared.spec, invocation, policy);
    Ok(id)
}

/// Records an async invocation as waiting and runs it in the background, until it ends or
/// is cancelled: a cancelled one stops where it is (a running instance is killed) and
/// ends `DISCARD`, with no destination.
fn spawn_async(shared: &Arc<Shared>, spec: Spec, invocation: Invocation, policy: AsyncPolicy) {
    let cancel = shared.runtime.records.accept(&invocation.request_id, &spec.urn);
    let shared = shared.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = run_async(&shared, &spec, &invocation, &policy) => {}
            _ = cancel.notified() => {
                let status = runtime::records::Status::Discard;
                shared.runtime.records.update(&invocation.request_id, status, 1, "cancelled (CancelAsyncInvocation)");
            }
        }
    });
}

/// `POST …/functions/{urn}/cancel` `{request_id, type}`: stops an async invocation that has
/// not ended (`recursive` and `force` alike: the instance running it is killed).
fn cancel(ctx: &Ctx<'_>, db: &mut Db, _: Option<super::functions::Staged>) -> Res<Resp> {
    let (key, _, _) = resolve(ctx, db, ctx.param(0))?;
    let urn = ctx.function_urn(&db.tables.functions[&key]);
    let body = ctx.json()?;
    let Some(id) = body.get("request_id").and_then(Value::as_str).filter(|s| !s.is_empty()) else {
        return Err(Fail::param("request_id is required"));
    };
    if let Some(kind) = body.get("type").and_then(Value::as_str) {
        if !["recursive", "force"].contains(&kind) {
            return Err(Fail::param(format!("type `{kind}` is not recursive or force")));
        }
    }
    match ctx.shared.runtime.records.cancel(&urn, id) {
        Ok(()) => Resp::ok(json!({})),
        Err(None) => Err(Fail::new(404, "FSS.0404", format!("no async invocation {id} of {urn}"))),
        Err(Some(status)) => Err(Fail::param(format!(
            "async invocation {id} has ended ({})",
            serde_json::to_value(status)
                .unwrap_or_default()
                .as_str()
                .unwrap_or_default()
        ))),
    }
}

/// Runs an async invocation to its end: throttled ones wait, failed ones are retried as the
/// policy allows, one older than its maximum age is discarded; the result goes to the
/// policy's destination.
async fn run_async(shared: &Arc<Shared>, spec: &Spec, invocation: &Invocation, policy: &AsyncPolicy) {
    use runtime::records::Status;
    let records = &shared.runtime.records;
    let id = &invocation.request_id;
    let clock = &shared.clock;
    let expires = clock.now() + policy.max_age;
    let mut attempts = 0u32;
    loop {
        if clock.now() > expires {
            let why = "the event was older than max_async_event_age_in_seconds";
            records.update(id, Status::Discard, 1, why);
            let response = json!({"errorType": "EventAgeExceeded", "errorMessage": why});
            return deliver(
                shared,
                policy.on_failure.as_ref(),
                spec,
                invocation,
                "EventAgeExceeded",
                attempts,
                response,
            )
            .await;
        }
        records.update(id, Status::Running, 0, "");
        let outcome = match counted(shared, spec, invocation).await {
            Err(Refusal::Throttled) => {
                records.update(id, Status::Wait, 0, "");
                clock.sleep(ASYNC_PAUSE).await;
                continue;
            }
            Err(refusal) => Err(refused(spec, refusal)),
            Ok(outcome) => Ok(outcome),
        };
        attempts += 1;
        let (error, response) = match &outcome {
            Ok(o) if o.succeeded() => {
                records.update(id, Status::Success, 0, "");
                let result = o
                    .answer
                    .as_ref()
                    .ok()
                    .and_then(|a| a.result.clone())
                    .unwrap_or_default();
                let response = serde_json::from_str(&result).unwrap_or(Value::String(result));
                return deliver(
                    shared,
                    policy.on_success.as_ref(),
                    spec,
                    invocation,
                    "Success",
                    attempts,
                    response,
                )
                .await;
            }
            Ok(o) => {
                let (error, code) = error_of(spec, o).unwrap_or((Value::Null, 1));
                ((code as i64, error_message(&error)), error)
            }
            Err(fail) => (
                (1, fail.msg.clone()),
                json!({"errorType": "SystemError", "errorMessage": fail.msg}),
            ),
        };
        if attempts > policy.retries {
            records.update(id, Status::Fail, error.0, &error.1);
            return deliver(
                shared,
                policy.on_failure.as_ref(),
                spec,
                invocation,
                "RetriesExhausted",
                attempts,
                response,
            )
            .await;
        }
        records.update(id, Status::Wait, error.0, &error.1);
        clock.sleep(ASYNC_PAUSE).await;
    }
}

fn error_message(error: &Value) -> String {
    error
        .get("errorMessage")
        .and_then(Value::as_str)
        .map_or_else(|| error.to_string(), str::to_string)
}

/// Prepares an invocation the emulator itself makes (a destination, a timer, a workflow's
/// Operation state) of the function `urn` names, with the async policy of the qualifier
/// it resolves to.
pub(crate) fn prepare_internal(shared: &Shared, urn: &str) -> Res<(Prepared, AsyncPolicy)> {
    let project = crate::api::FunctionUrn::parse(urn).ok().and_then(|u| u.project);
    let db = shared.db.lock();
    let routed = super::super::gateway::Routed {
        op: Operation::InvokeFunction,
        project,
        params: vec![urn.to_string()],
    };
    let ctx = Ctx::new(shared, &routed, "", &[], "internal");
    let prepared = prepare_urn(&ctx, &db, urn)?;
    let policy = policy(
        db.tables.functions[&prepared.key]
            .async_configs
            .get(&prepared.qualifier),
    );
    Ok((prepared, policy))
}

/// Runs the function `urn` names (any qualifier) synchronously with `event`, as a
/// workflow's Operation state does: `Ok(result)` (its JSON, or the text when not JSON), or
/// `Err(error object)` when the function failed; `Fail` when it could not run at all.
pub(crate) async fn call_function(shared: &Shared, urn: &str, event: Value) -> Res<Result<Value, Value>> {
    let (prepared, _) = prepare_internal(shared, urn)?;
    let invocation = Invocation::new(event, prepared.alias);
    let outcome = counted(shared, &prepared.spec, &invocation)
        .await
        .map_err(|refusal| refused(&prepared.spec, refusal))?;
    if let Some((error, _)) = error_of(&prepared.spec, &outcome) {
        return Ok(Err(error));
    }
    let result = outcome.answer.ok().and_then(|a| a.result).unwrap_or_default();
    Ok(Ok(serde_json::from_str(&result).unwrap_or(Value::String(result))))
}

/// Sends the destination record: to a function (invoked async), or into the undelivered
/// list for destinations outside the emulator.
async fn deliver(
    shared: &Arc<Shared>,
    destination: Option<&Destination>,
    spec: &Spec,
    invocation: &Invocation,
    condition: &str,
    attempts: u32,
    response: Value,
) {
    let Some(destination) = destination else { return };
    let succeeded = condition == "Success";
    let record = json!({
        "timestamp": shared.clock.now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "request_context": {
            "request_id": invocation.request_id,
            "function_urn": format!("{}:{}", spec.urn, spec.version),
            "condition": condition,
            "approximate_invoke_count": attempts,
        },
        "request_payload": invocation.event,
        "response_context": {
            "status_code": if succeeded { 200 } else { 500 },
            "function_error": if succeeded { Value::Null } else { response.get("errorType").cloned().unwrap_or(Value::Null) },
        },
        "response_payload": response,
    });
    if destination.kind != "FunctionGraph" {
        shared
            .runtime
            .records
            .undeliverable(json!({"destination": destination.kind, "param": destination.param, "record": record}));
        return;
    }
    let target = destination
        .param
        .get("func_urn")
        .and_then(Value::as_str)
        .unwrap_or_default();
    // The destination is invoked like any async invocation of it: its own async config
    // applies.
    if let Err(why) = start_async(shared, target, record.clone()) {
        shared.runtime.records.undeliverable(
            json!({"destination": "FunctionGraph", "param": destination.param, "record": record, "error": why}),
        );
    }
}

fn refused(spec: &Spec, refusal: Refusal) -> Fail {
    match refusal {
        Refusal::Throttled => Fail::new(
            429,
            "FSS.0429",
            format!(
                "too many requests: every instance of {}:{} is busy ({})",
                spec.urn,
                spec.version,
                spec.max_instances
                    .map_or(format!("at most {} here", runtime::UNLIMITED_INSTANCES), |n| format!(
                        "concurrency {n}"
                    ))
            ),
        ),
        Refusal::Disabled => Fail::new(
            429,
            "FSS.0429",
            format!("{} is disabled: its concurrency (max instances) is 0", spec.urn),
        ),
        Refusal::Unsupported(why) => Fail::new(501, "FSS.0501", why),
        Refusal::Code(why) => Fail::new(500, "FSS.0500", why),
    }
}

/// The error object a failed invocation answers with, and its `X-Func-Err-Code`.
pub(crate) fn error_of(spec: &Spec, outcome: &Outcome) -> Option<(Value, u8)> {
    match &outcome.answer {
        Ok(a) if a.ok && !outcome.init_failed => None,
        Ok(a) => {
            let error = a
                .error
                .clone()
                .unwrap_or_else(|| json!({"errorMessage": "the handler failed"}));
            Some((error, if a.oom { 3 } else { 1 }))
        }
        Err(failure) => {
            let (kind, code) = match failure {
                Failure::Timeout => ("FunctionTimeout", 2),
                Failure::OutOfMemory(_) => ("OutOfMemory", 3),
                Failure::Crashed(_) | Failure::Start(_) => ("InstanceFailure", 4),
            };
            let message = runtime::failure_text(failure, spec);
            Some((
                json!({"errorType": kind, "errorMessage": message, "stackTrace": []}),
                code,
            ))
        }
    }
}

fn answer(spec: &Spec, invocation: &Invocation, outcome: &Outcome, v1: bool, log_tail: bool) -> Resp {
    let error = error_of(spec, outcome);
    let result = match (&error, &outcome.answer) {
        (Some((e, _)), _) => e.to_string(),
        (None, Ok(a)) => a.result.clone().unwrap_or_default(),
        (None, Err(_)) => String::new(),
    };
    let log = base64::engine::general_purpose::STANDARD.encode(runtime::tail(&outcome.log, LOG_TAIL_BYTES));
    let ms = outcome.duration.as_secs_f64() * 1000.0;
    let memory_used = outcome.answer.as_ref().map_or(0.0, |a| a.memory_mb);
    let id = &invocation.request_id;
    let body = if v1 {
        let status = if error.is_some() { 500 } else { 200 };
        let shown_log = if log_tail { log.clone() } else { String::new() };
        serde_json::to_vec(&json!({"request_id": id, "result": result, "log": shown_log, "status": status}))
            .unwrap_or_default()
    } else {
        result.into_bytes()
    };
    let summary = json!({
        "duration": (ms * 1000.0).round() / 1000.0,
        "billingDuration": ms.ceil() as u64,
        "memorySize": spec.memory_mb,
        "memoryUsed": (memory_used * 1000.0).round() / 1000.0,
    });
    let mut headers = vec![
        ("X-Cff-Request-Id".to_string(), id.clone()),
        ("X-Cff-Invoke-Summary".into(), summary.to_string()),
        ("X-CFF-Billing-Duration".into(), (ms.ceil() as u64).to_string()),
        ("X-Cff-Response-Version".into(), if v1 { "v1" } else { "v0" }.into()),
        (
            "X-Func-Err-Code".into(),
            error.as_ref().map_or(0, |(_, c)| *c).to_string(),
        ),
        ("X-Is-Func-Err".into(), error.is_some().to_string()),
    ];
    if log_tail {
        headers.push(("X-Cff-Function-Log".into(), log));
    }
    Resp {
        status: 200,
        body: Some(body),
        headers,
        deferred: None,
    }
}
