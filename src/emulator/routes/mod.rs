//! Routing and the pieces every route family shares. Each family (one file each) adds its
//! operations to the [`Routes`] builder, path → [`Operation`] + handler; [`router`] merges
//! them. Also here: the request context, field readers that answer with the API's own
//! error codes, pagination, timestamps and function lookup by URN. [`execute`] runs an
//! operation under the store lock, journals it, then sweeps the code blobs it left
//! unreferenced.
//!
//! Route files import from this module (and `shared.rs`), and from `functions.rs` what
//! renders a function; `functions.rs` imports from no other route file.

mod async_config;
mod dependencies;
mod executions;
mod functions;
pub(crate) mod invoke;
mod misc;
mod triggers;
mod versions;
mod workflows;

mod shared;

use std::sync::Arc;

use axum::extract::Request;
use axum::handler::Handler as _;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::Response;
use axum::routing::{any, on, MethodFilter, MethodRouter};
use axum::Router;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde_json::{Map, Value};
use tower::{ServiceBuilder, ServiceExt as _};

use super::blobs::{Pin, Stored};
use super::fail::{json_bytes, Fail, Res};
use super::gateway;
use super::store::{Db, Function, Snapshot};
use super::Shared;
use crate::api::operation::Method;
use crate::api::rules::{self, Violation};
use crate::api::{FunctionUrn, Operation, Qualifier};
use functions::Staged;
pub(crate) use shared::{check_tags, find_version, packages};

/// What an operation runs under the store lock: the request, the tables, and the package
/// the operation uploaded (staged before the lock was taken), if any.
pub(crate) type Handler = fn(&Ctx<'_>, &mut Db, Option<Staged>) -> Res<Resp>;

/// The router under construction: each route family adds its operations with [`Routes::op`].
pub(crate) struct Routes {
    /// Path template and method router of every operation, in the order added.
    entries: Vec<(String, MethodRouter)>,
    shared: Arc<Shared>,
}

impl Routes {
    /// Routes `op` at the path the API reference gives it.
    pub fn op(self, op: Operation, handler: Handler) -> Self {
        self.at(op.path(), op, handler)
    }

    /// Routes `op` at `path` (a second spelling of its path), behind the per-operation
    /// layers: routing note and project check, throttling, chaos, authentication.
    pub fn at(mut self, path: &str, op: Operation, handler: Handler) -> Self {
        let shared = self.shared.clone();
        let endpoint = move |req: Request| async move {
            // A package named by URL is fetched before the handler runs (`--obs-endpoint`).
            let body = req.extensions().get::<gateway::RawBody>().map(|b| b.0.clone());
            let request_id = gateway::request_id(req.extensions()).to_string();
            let answer = match super::obs::prefetch(&shared, op, body).await {
                Ok(fetched) => run(&shared, op, handler, req, fetched),
                Err(fail) => Err(fail),
            };
            // What a handler deferred (an invocation, an execution) runs now, outside the
            // store lock.
            let answer = match answer {
                Ok(Resp {
                    deferred: Some(later), ..
                }) => match later {
                    Later::Invoke(job) => invoke::finish(&shared, *job).await,
                    Later::Task(task) => task(shared.clone()).await,
                },
                other => other,
            };
            match answer {
                Ok(resp) => resp.render(),
                Err(fail) => fail.response(&request_id),
            }
        };
        let layered = endpoint.layer(
            ServiceBuilder::new()
                .layer(from_fn_with_state(
                    gateway::Endpoint {
                        op,
                        template: Arc::from(path),
                    },
                    gateway::routed,
                ))
                .layer(from_fn_with_state(self.shared.clone(), gateway::throttle))
                .layer(from_fn_with_state(self.shared.clone(), gateway::chaos))
                .layer(from_fn_with_state(self.shared.clone(), gateway::auth)),
        );
        let filter = match op.method() {
            Method::Get => MethodFilter::GET,
            Method::Post => MethodFilter::POST,
            Method::Put => MethodFilter::PUT,
            Method::Delete => MethodFilter::DELETE,
        };
        let mut methods = on(filter, layered);
        if op.method() == Method::Get {
            // axum answers HEAD with the GET route; the API has no HEAD operations.
            methods = methods.head(gateway::unknown);
        }
        self.entries.push((path.to_string(), methods));
        self
    }

    /// All routes, and behind them (for what matches none, or matches a path without the
    /// method) the routes no literal segment shadows: axum prefers
    /// `/fgs/dependencies/version` to `/fgs/dependencies/{depend_id}` for every method, while
    /// the API routes `GET /fgs/dependencies/version` to `ShowDependency` like any id.
    fn build(self) -> Router {
        let templates: Vec<&str> = self.entries.iter().map(|(p, _)| p.as_str()).collect();
        let mut unshadowed = Router::new();
        for (path, methods) in &self.entries {
            if !shadows(path, &templates) {
                unshadowed = unshadowed.route(path, methods.clone());
            }
        }
        let unshadowed = unshadowed
            .fallback(gateway::unknown)
            .method_not_allowed_fallback(gateway::unknown);
        let mut all = Router::new();
        for (path, methods) in self.entries {
            all = all.route(&path, methods);
        }
        let again = move |req: Request| unshadowed.clone().oneshot(req);
        all.fallback(again.clone()).method_not_allowed_fallback(again)
    }
}

/// Whether a literal segment of `path` stands where another template has a parameter
/// after the same leading segments.
fn shadows(path: &str, templates: &[&str]) -> bool {
    let is_param = |s: &str| s.starts_with('{');
    let segs: Vec<&str> = path.split('/').collect();
    templates.iter().any(|other| {
        let others: Vec<&str> = other.split('/').collect();
        segs.iter().zip(&others).enumerate().any(|(i, (a, b))| {
            !is_param(a)
                && is_param(b)
                && segs[..i]
                    .iter()
                    .zip(&others[..i])
                    .all(|(x, y)| x == y || (is_param(x) && is_param(y)))
        })
    })
}

/// The emulator's router: every operation of every route family, the control plane, the
/// gateway's 404 for anything else, and the layers every request passes.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let mut routes = Routes {
        entries: Vec::new(),
        shared: shared.clone(),
    };
    for family in [
        functions::routes,
        versions::routes,
        async_config::routes,
        triggers::routes,
        dependencies::routes,
        workflows::routes,
        executions::routes,
        invoke::routes,
        misc::routes,
    ] {
        routes = family(routes);
    }
    let admin = {
        let shared = shared.clone();
        any(move |req: Request| async move { super::admin::endpoint(&shared, req) })
    };
    routes
        .build()
        .route("/_emulator", admin.clone())
        .route("/_emulator/{*rest}", admin)
        .layer(
            ServiceBuilder::new()
                .layer(from_fn(gateway::request_id_layer))
                .layer(from_fn_with_state(shared, gateway::log))
                .layer(from_fn(gateway::read_body)),
        )
}

/// The handler behind every operation: builds the [`Ctx`] and runs the operation.
fn run(shared: &Shared, op: Operation, handler: Handler, req: Request, fetched: Option<Vec<u8>>) -> Res<Resp> {
    let ext = req.extensions();
    let request_id = gateway::request_id(ext);
    let body = ext.get::<gateway::RawBody>().map_or(&[][..], |b| &b.0[..]);
    let Some(routed) = ext.get::<gateway::Routed>() else {
        return Err(Fail::new(500, "FSS.0500", "internal error: the request was not routed"));
    };
    let raw_query = gateway::raw_uri(&req).query().unwrap_or("");
    let ctx = Ctx::new(shared, routed, raw_query, body, request_id).with_headers(req.headers());
    execute(shared, op, handler, ctx, fetched)
}

/// A response before rendering.
pub(crate) struct Resp {
    pub status: u16,
    /// The JSON body, serialized when the answer is made: a handler answering with an
    /// `api::types` value goes straight to bytes, never through a `Value` copy.
    pub body: Option<Vec<u8>>,
    pub headers: Vec<(String, String)>,
    /// Work to do after the store lock is released; it makes the answer.
    pub deferred: Option<Later>,
}

/// What a handler leaves for after the store lock is released.
pub(crate) enum Later {
    /// An invocation ([`invoke::finish`]).
    Invoke(Box<invoke::Deferred>),
    /// Any other work (a workflow execution): given the emulator, a future making the answer.
    Task(Box<dyn FnOnce(Arc<Shared>) -> BoxFuture<'static, Res<Resp>> + Send>),
}

impl Resp {
    /// An answer an invocation makes once it has run.
    pub(crate) fn deferred(job: invoke::Deferred) -> Resp {
        Resp {
            status: 0,
            body: None,
            headers: Vec::new(),
            deferred: Some(Later::Invoke(Box::new(job))),
        }
    }

    /// An answer `task` makes, run once the store lock is released.
    pub(crate) fn later(task: impl FnOnce(Arc<Shared>) -> BoxFuture<'static, Res<Resp>> + Send + 'static) -> Resp {
        Resp {
            status: 0,
            body: None,
            headers: Vec::new(),
            deferred: Some(Later::Task(Box::new(task))),
        }
    }

    pub fn ok(body: impl serde::Serialize) -> Res<Resp> {
        Resp::with_status(200, body)
    }
    pub fn created(body: impl serde::Serialize) -> Res<Resp> {
        Resp::with_status(201, body)
    }
    fn with_status(status: u16, body: impl serde::Serialize) -> Res<Resp> {
        let body = serde_json::to_vec(&body)
            .map_err(|e| Fail::new(500, "FSS.0500", format!("cannot encode the answer: {e}")))?;
        Ok(Resp {
            status,
            body: Some(body),
            headers: Vec::new(),
            deferred: None,
        })
    }
    /// A binary answer (`content_type` replaces the JSON one).
    pub fn bytes(status: u16, body: Vec<u8>, content_type: &str) -> Resp {
        Resp {
            status,
            body: Some(body),
            headers: vec![("content-type".into(), content_type.into())],
            deferred: None,
        }
    }
    pub fn no_content() -> Res<Resp> {
        Ok(Resp {
            status: 204,
            body: None,
            headers: Vec::new(),
            deferred: None,
        })
    }

    /// The HTTP answer.
    fn render(self) -> Response {
        let body = self.body.map(Into::into);
        let mut resp = json_bytes(self.status, body);
        let headers = resp.headers_mut();
        for (k, v) in &self.headers {
            if let (Ok(name), Ok(value)) = (
                axum::http::HeaderName::from_bytes(k.as_bytes()),
                axum::http::HeaderValue::from_str(v),
            ) {
                headers.insert(name, value);
            }
        }
        resp
    }
}

/// What a handler sees of the request.
pub(crate) struct Ctx<'a> {
    pub shared: &'a Shared,
    pub project: String,
    pub params: Vec<String>,
    pub query: Vec<(String, String)>,
    pub raw_body: &'a [u8],
    pub request_id: &'a str,
    pub now: DateTime<Utc>,
    headers: Option<&'a axum::http::HeaderMap>,
}

impl<'a> Ctx<'a> {
    pub fn new(
        shared: &'a Shared,
        routed: &gateway::Routed,
        raw_query: &str,
        body: &'a [u8],
        request_id: &'a str,
    ) -> Self {
        Ctx {
            shared,
            project: routed.project.clone().unwrap_or_default(),
            params: routed.params.clone(),
            query: crate::api::signing::parse_query(raw_query),
            raw_body: body,
            request_id,
            now: Utc::now(),
            headers: None,
        }
    }

    /// The request's headers, for the handlers that read some.
    pub fn with_headers(mut self, headers: &'a axum::http::HeaderMap) -> Self {
        self.headers = Some(headers);
        self
    }

    /// A request header's value (names are case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers?.get(name)?.to_str().ok()
    }

    pub fn region(&self) -> &str {
        &self.shared.config.region
    }

    /// The body as a JSON object (406 FSS.0406 when it is not JSON, 400 when not an object
    /// or absent).
    pub fn json(&self) -> Res<Map<String, Value>> {
        match self.json_value()? {
            Some(Value::Object(m)) => Ok(m),
            Some(_) => Err(Fail::param("the request body must be a JSON object")),
            None => Err(Fail::param("the request body is missing")),
        }
    }

    /// The body as any JSON value, `None` when empty.
    pub fn json_value(&self) -> Res<Option<Value>> {
        if self.raw_body.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        serde_json::from_slice(self.raw_body)
            .map(Some)
            .map_err(|e| Fail::new(406, "FSS.0406", format!("the request body is not valid JSON: {e}")))
    }

    pub fn query(&self, key: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub fn param(&self, i: usize) -> &str {
        &self.params[i]
    }

    /// Function `latest` timestamps: `2024-01-02T03:04:05+00:00`.
    pub fn ts(&self) -> String {
        self.now.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
    }

    /// Trigger and alias timestamps: `2024-01-02 03:04:05`.
    pub fn ts_space(&self) -> String {
        self.now.format("%Y-%m-%d %H:%M:%S").to_string()
    }

    /// Workflow timestamps: `2024-01-02T03:04:05Z`.
    pub fn ts_z(&self) -> String {
        self.now.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    }

    /// `urn:fss:{region}:{project}:function:{package}:{name}`.
    pub fn function_urn(&self, f: &Function) -> String {
        FunctionUrn::unqualified(self.region(), &f.project, &f.package, &f.name)
    }

    pub fn qualified_urn(&self, f: &Function, qualifier: &str) -> String {
        format!("{}:{qualifier}", self.function_urn(f))
    }

    /// Stores decoded package bytes, pinned until the returned [`Pin`] drops.
    pub fn store_blob(&self, bytes: &[u8]) -> Res<(Stored, Pin)> {
        self.shared
            .blobs
            .put(bytes)
            .map_err(|e| Fail::new(500, "FSS.0500", format!("cannot store the package: {e}")))
    }
}

/// Runs the routed operation. Handlers validate fully before they change anything, so a
/// failed request leaves the store as it was; a successful one is journaled before the
/// answer leaves.
fn execute(shared: &Shared, op: Operation, handler: Handler, ctx: Ctx<'_>, fetched: Option<Vec<u8>>) -> Res<Resp> {
    // Package bytes are decoded (or were fetched) and stored outside the lock (pinned
    // against sweeps).
    let staged = match fetched {
        Some(bytes) => Some(functions::stage_fetched(&ctx, &bytes)?),
        None => functions::stage_code(op, &ctx)?,
    };
    let uploaded = staged.is_some();
    let mut db = shared.db.lock();
    // A handler bug must not take the connection down with it: answer 500 like the
    // service does, and journal nothing of what the handler did.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(&ctx, &mut db, staged)))
        .unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            eprintln!("fgform emulator: {op} panicked: {what}");
            Err(Fail::new(500, "FSS.0500", "internal error"))
        });
    match &result {
        Ok(_) => db.commit().map_err(|e| {
            Fail::new(
                500,
                "FSS.0500",
                format!("the emulator could not persist the change: {e}"),
            )
        })?,
        Err(_) => db.rollback_marks(),
    }
    // The change is journaled: blobs it left unreferenced can go (a failed upload's too).
    if (result.is_ok() && drops_references(op)) || (result.is_err() && uploaded) {
        sweep_blobs(shared, &db);
    }
    result
}

/// Operations that can leave a code or dependency blob unreferenced when they succeed.
fn drops_references(op: Operation) -> bool {
    use Operation::*;
    matches!(
        op,
        DeleteFunction | UpdateFunctionCode | DeleteDependencyVersion | DeleteDependency | UpdateDependency
    )
}

/// Removes the blobs no row references, unless the tables may be ahead of the journal (a
/// commit failed): then a blob the journal still references could go, so nothing does.
/// Called with the store lock held.
pub(crate) fn sweep_blobs(shared: &Shared, db: &Db) {
    if !db.journal_matches_tables() {
        return;
    }
    if let Err(e) = shared.blobs.sweep(&db.tables.blob_digests()) {
        eprintln!("fgform emulator: cannot remove unreferenced code blobs: {e}");
    }
}

// ---------------------------------------------------------------------------------------
// Field readers. Each answers a wrong type or a bad value with the code the API uses for
// that field.

/// A string field; `None` when absent or null.
pub(crate) fn opt_str<'m>(m: &'m Map<String, Value>, key: &str, code: &str) -> Res<Option<&'m str>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Fail::bad(code, format!("{key} must be a string"))),
    }
}

pub(crate) fn req_str<'m>(m: &'m Map<String, Value>, key: &str, code: &str) -> Res<&'m str> {
    match opt_str(m, key, code)? {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(Fail::bad(code, format!("{key} is required"))),
    }
}

/// An integer field (JSON numbers without a fraction; numeric strings are refused).
pub(crate) fn opt_int(m: &Map<String, Value>, key: &str, code: &str) -> Res<Option<i64>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| Fail::bad(code, format!("{key} must be an integer"))),
        Some(_) => Err(Fail::bad(code, format!("{key} must be an integer"))),
    }
}

pub(crate) fn req_int(m: &Map<String, Value>, key: &str, code: &str) -> Res<i64> {
    opt_int(m, key, code)?.ok_or_else(|| Fail::bad(code, format!("{key} is required")))
}

pub(crate) fn opt_bool(m: &Map<String, Value>, key: &str) -> Res<Option<bool>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(Fail::param(format!("{key} must be a boolean"))),
    }
}

pub(crate) fn opt_obj<'m>(m: &'m Map<String, Value>, key: &str, code: &str) -> Res<Option<&'m Map<String, Value>>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(_) => Err(Fail::bad(code, format!("{key} must be an object"))),
    }
}

pub(crate) fn opt_str_list(m: &Map<String, Value>, key: &str, code: &str) -> Res<Option<Vec<String>>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| Fail::bad(code, format!("{key} must hold strings")))
            })
            .collect::<Res<Vec<_>>>()
            .map(Some),
        Some(_) => Err(Fail::bad(code, format!("{key} must be an array of strings"))),
    }
}

/// The optional `description` field, checked by [`rules::description`] (FSS.1019).
pub(crate) fn opt_description(m: &Map<String, Value>) -> Res<Option<&str>> {
    let d = opt_str(m, "description", "FSS.1019")?;
    if let Some(d) = d {
        rules::description(d).map_err(refused)?;
    }
    Ok(d)
}

/// A broken [`rules`] rule, answered with the API's code and message (HTTP 400).
pub(crate) fn refused(v: Violation) -> Fail {
    Fail::bad(v.code, v.message)
}

// ---------------------------------------------------------------------------------------
// Pagination.

/// `marker`/`maxitems` paging (functions, versions, dependencies): returns (start, count).
pub(crate) fn marker_page(ctx: &Ctx<'_>, max: usize) -> Res<(usize, usize)> {
    let marker = match ctx.query("marker") {
        None | Some("") => 0,
        Some(m) => m
            .parse::<usize>()
            .map_err(|_| Fail::bad("FSS.1001", format!("invalid marker `{m}`")))?,
    };
    let items = match ctx.query("maxitems") {
        None | Some("") => max,
        Some(m) => match m.parse::<i64>() {
            Ok(n) if n < 0 => return Err(Fail::bad("FSS.1001", format!("invalid maxitems `{m}`"))),
            Ok(0) => max,
            Ok(n) => (n as usize).min(max),
            Err(_) => return Err(Fail::bad("FSS.1001", format!("invalid maxitems `{m}`"))),
        },
    };
    Ok((marker, items))
}

/// Applies a marker page to a list; returns `(items, next_marker, count)`.
pub(crate) fn page<T>(all: Vec<T>, start: usize, items: usize) -> (Vec<T>, usize, usize) {
    let count = all.len();
    let start = start.min(count);
    let page: Vec<T> = all.into_iter().skip(start).take(items).collect();
    let next = start + page.len();
    (page, next, count)
}

// ---------------------------------------------------------------------------------------
// Functions by URN.

/// The store key of a function.
pub(crate) fn function_key(project: &str, name: &str) -> String {
    format!("{project}/{name}")
}

/// Parses the URN path parameter and checks it names this project.
pub(crate) fn parse_urn(ctx: &Ctx<'_>, raw: &str) -> Res<FunctionUrn> {
    let urn = FunctionUrn::parse(raw).map_err(|e| Fail::bad("FSS.1309", e.to_string()))?;
    if let Some(p) = &urn.project {
        if *p != ctx.project {
            return Err(Fail::bad(
                "FSS.1309",
                format!("the URN names project {p}, not {}", ctx.project),
            ));
        }
    }
    Ok(urn)
}

/// Which snapshot of a function a qualifier resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Latest,
    Version(usize),
    /// An alias (by name), resolving to its main version.
    Alias(String),
}

/// Finds the function a URN names (404 FSS.1051) and resolves its qualifier (404 FSS.1052 /
/// FSS.1053). Returns the store key, the target and the canonical qualifier string.
pub(crate) fn resolve(ctx: &Ctx<'_>, db: &Db, raw: &str) -> Res<(String, Target, String)> {
    let urn = parse_urn(ctx, raw)?;
    let key = function_key(&ctx.project, &urn.name);
    let f = db.tables.functions.get(&key).ok_or_else(Fail::function_not_found)?;
    if f.package != urn.package {
        return Err(Fail::function_not_found());
    }
    let (target, q) = match &urn.qualifier {
        None | Some(Qualifier::Latest) => (Target::Latest, "latest".to_string()),
        Some(Qualifier::Named(n)) => {
            if let Some(i) = f.versions.iter().position(|v| &v.version == n) {
                (Target::Version(i), n.clone())
            } else if f.aliases.contains_key(n) {
                (Target::Alias(n.clone()), format!("!{n}"))
            } else {
                return Err(Fail::version_not_found());
            }
        }
        Some(Qualifier::Alias(a)) => {
            if f.aliases.contains_key(a) {
                (Target::Alias(a.clone()), format!("!{a}"))
            } else {
                return Err(Fail::new(404, "FSS.1053", "Not found the function alias"));
            }
        }
    };
    Ok((key, target, q))
}

/// Whether the URN carried no qualifier at all.
pub(crate) fn is_unqualified(raw: &str) -> bool {
    FunctionUrn::parse(raw).map(|u| u.qualifier.is_none()).unwrap_or(false)
}

/// The snapshot a target points at.
pub(crate) fn snapshot<'f>(f: &'f Function, target: &Target) -> &'f Snapshot {
    match target {
        Target::Latest => &f.latest,
        Target::Version(i) => &f.versions[*i],
        Target::Alias(a) => {
            let version = f.aliases.get(a).map(|al| al.version.as_str()).unwrap_or("latest");
            f.versions.iter().find(|v| v.version == version).unwrap_or(&f.latest)
        }
    }
}
