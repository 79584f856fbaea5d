//! Routing (raw path → SDK operation name + decoded parameters) and the pieces every route
//! family shares: the request context, field readers that answer with the API's own error
//! codes, pagination, timestamps and function lookup by URN. [`execute`] runs an operation
//! under the store lock, journals it, then sweeps the code blobs it left unreferenced.

mod async_config;
mod dependencies;
mod functions;
mod misc;
mod triggers;
mod versions;
mod workflows;

use chrono::{DateTime, Utc};
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};

use super::blobs::{Pin, Stored};
use super::fail::{Fail, Res};
use super::store::{Db, Function, Snapshot};
use super::Shared;
use crate::api::{FunctionUrn, Qualifier};

/// A routed request.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    /// The official SDK's operation name, e.g. `CreateFunction`.
    pub operation: &'static str,
    /// `{project_id}` from the path.
    pub project: Option<String>,
    /// Reachable without credentials (IAM token issuing).
    pub public: bool,
    /// Decoded path parameters, in path order.
    pub params: Vec<String>,
}

fn decode(segment: &str) -> String {
    percent_decode_str(segment).decode_utf8_lossy().into_owned()
}

/// Maps method + raw path to an operation. Each segment is percent-decoded on its own, so
/// `urn%3Afss%3A…` and `urn:fss:…` route alike and `%2F` never splits a parameter.
pub(crate) fn route(method: &str, raw_path: &str) -> Option<Route> {
    let mut segs: Vec<String> = raw_path.split('/').skip(1).map(decode).collect();
    if segs.len() > 1 && segs.last().is_some_and(String::is_empty) {
        segs.pop();
    }
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let mk = |operation: &'static str, project: &str, params: &[&str]| {
        Some(Route {
            operation,
            project: Some(project.to_string()),
            public: false,
            params: params.iter().map(|p| p.to_string()).collect(),
        })
    };
    if let (["v3", "auth", "tokens"], "POST") = (s.as_slice(), method) {
        return Some(Route {
            operation: "KeystoneCreateUserTokenByPassword",
            project: None,
            public: true,
            params: vec![],
        });
    }
    let ["v2", project, rest @ ..] = s.as_slice() else {
        return None;
    };
    if project.is_empty() {
        return None;
    }
    let p = *project;
    use self::Method::*;
    let m = match method {
        "GET" => Get,
        "POST" => Post,
        "PUT" => Put,
        "DELETE" => Delete,
        _ => return None,
    };
    match (m, rest) {
        (Get, ["fgs", "functions"]) => mk("ListFunctions", p, &[]),
        (Post, ["fgs", "functions"]) => mk("CreateFunction", p, &[]),
        (Post, ["fgs", "functions", "enable-async-status-logs"]) => mk("EnableAsyncStatusLog", p, &[]),
        (Delete, ["fgs", "functions", urn]) => mk("DeleteFunction", p, &[urn]),
        (Get, ["fgs", "functions", urn, "config"]) => mk("ShowFunctionConfig", p, &[urn]),
        (Put, ["fgs", "functions", urn, "config"]) => mk("UpdateFunctionConfig", p, &[urn]),
        (Get, ["fgs", "functions", urn, "code"]) => mk("ShowFunctionCode", p, &[urn]),
        (Put, ["fgs", "functions", urn, "code"]) => mk("UpdateFunctionCode", p, &[urn]),
        (Put, ["fgs", "functions", urn, "config-max-instance"]) => mk("UpdateFunctionMaxInstanceConfig", p, &[urn]),
        (Get, ["fgs", "functions", urn, "versions"]) => mk("ListFunctionVersions", p, &[urn]),
        (Post, ["fgs", "functions", urn, "versions"]) => mk("CreateFunctionVersion", p, &[urn]),
        (Get, ["fgs", "functions", urn, "aliases"]) => mk("ListVersionAliases", p, &[urn]),
        (Post, ["fgs", "functions", urn, "aliases"]) => mk("CreateVersionAlias", p, &[urn]),
        (Get, ["fgs", "functions", urn, "aliases", a]) => mk("ShowVersionAlias", p, &[urn, a]),
        (Put, ["fgs", "functions", urn, "aliases", a]) => mk("UpdateVersionAlias", p, &[urn, a]),
        (Delete, ["fgs", "functions", urn, "aliases", a]) => mk("DeleteVersionAlias", p, &[urn, a]),
        (Put, ["fgs", "functions", urn, "async-invoke-config"]) => mk("UpdateFunctionAsyncInvokeConfig", p, &[urn]),
        (Get, ["fgs", "functions", urn, "async-invoke-config"]) => mk("ShowFunctionAsyncInvokeConfig", p, &[urn]),
        (Delete, ["fgs", "functions", urn, "async-invoke-config"]) => mk("DeleteFunctionAsyncInvokeConfig", p, &[urn]),
        (Get, ["fgs", "functions", urn, "async-invoke-configs"]) => mk("ListFunctionAsyncInvokeConfig", p, &[urn]),
        (Post, ["fgs", "triggers", urn]) => mk("CreateFunctionTrigger", p, &[urn]),
        (Get, ["fgs", "triggers", urn]) => mk("ListFunctionTriggers", p, &[urn]),
        (Delete, ["fgs", "triggers", urn]) => mk("BatchDeleteFunctionTriggers", p, &[urn]),
        (Get, ["fgs", "triggers", urn, ty, id]) => mk("ShowFunctionTrigger", p, &[urn, ty, id]),
        (Put, ["fgs", "triggers", urn, ty, id]) => mk("UpdateTrigger", p, &[urn, ty, id]),
        (Delete, ["fgs", "triggers", urn, ty, id]) => mk("DeleteFunctionTrigger", p, &[urn, ty, id]),
        (Get, ["fgs", "dependencies"]) => mk("ListDependencies", p, &[]),
        (Post, ["fgs", "dependencies"]) => mk("CreateDependency", p, &[]),
        (Post, ["fgs", "dependencies", "version"]) => mk("CreateDependencyVersion", p, &[]),
        (Get, ["fgs", "dependencies", dep, "version"]) => mk("ListDependencyVersion", p, &[dep]),
        (Get, ["fgs", "dependencies", dep, "version", v]) => mk("ShowDependencyVersion", p, &[dep, v]),
        (Delete, ["fgs", "dependencies", dep, "version", v]) => mk("DeleteDependencyVersion", p, &[dep, v]),
        (Get, ["fgs", "dependencies", dep]) => mk("ShowDependency", p, &[dep]),
        (Put, ["fgs", "dependencies", dep]) => mk("UpdateDependency", p, &[dep]),
        (Delete, ["fgs", "dependencies", dep]) => mk("DeleteDependency", p, &[dep]),
        (Get, ["fgs", "workflows"]) => mk("ListWorkflow", p, &[]),
        (Post, ["fgs", "workflows"]) => mk("CreateWorkflow", p, &[]),
        (Delete, ["fgs", "workflows"]) => mk("BatchDeleteWorkflows", p, &[]),
        (Get, ["fgs", "workflows", id]) => mk("ShowWorkFlow", p, &[id]),
        (Put, ["fgs", "workflows", id]) => mk("UpdateWorkFlow", p, &[id]),
        (Get, ["fgs", "quotas"]) => mk("ListQuotas", p, &[]),
        (Get, ["functions", "tags"]) | (Get, ["fgs", "functions", "tags"]) => mk("ShowProjectTagsList", p, &[]),
        (Get, ["functions", urn, "tags"]) | (Get, ["fgs", "functions", urn, "tags"]) => {
            mk("ListFunctionTags", p, &[urn])
        }
        (Post, ["functions", urn, "tags", "create"]) | (Post, ["fgs", "functions", urn, "tags", "create"]) => {
            mk("CreateTags", p, &[urn])
        }
        (Delete, ["functions", urn, "tags", "delete"]) | (Delete, ["fgs", "functions", urn, "tags", "delete"]) => {
            mk("DeleteTags", p, &[urn])
        }
        _ => None,
    }
}

#[derive(Clone, Copy)]
enum Method {
    Get,
    Post,
    Put,
    Delete,
}

/// A response before rendering.
pub(crate) struct Resp {
    pub status: u16,
    pub body: Option<Value>,
    pub headers: Vec<(String, String)>,
}

impl Resp {
    pub fn ok(body: Value) -> Res<Resp> {
        Ok(Resp {
            status: 200,
            body: Some(body),
            headers: Vec::new(),
        })
    }
    pub fn created(body: Value) -> Res<Resp> {
        Ok(Resp {
            status: 201,
            body: Some(body),
            headers: Vec::new(),
        })
    }
    pub fn no_content() -> Res<Resp> {
        Ok(Resp {
            status: 204,
            body: None,
            headers: Vec::new(),
        })
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
}

impl<'a> Ctx<'a> {
    pub fn new(shared: &'a Shared, route: &Route, raw_query: &str, body: &'a [u8], request_id: &'a str) -> Self {
        Ctx {
            shared,
            project: route.project.clone().unwrap_or_default(),
            params: route.params.clone(),
            query: crate::api::signing::parse_query(raw_query),
            raw_body: body,
            request_id,
            now: Utc::now(),
        }
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
pub(crate) fn execute(shared: &Shared, route: &Route, ctx: Ctx<'_>) -> Res<Resp> {
    // Package bytes are decoded and stored outside the lock (pinned against sweeps).
    let staged = functions::stage_code(route.operation, &ctx)?;
    let uploaded = staged.is_some();
    let mut db = shared.db.lock();
    // A handler bug must not take the connection down with it: answer 500 like the
    // service does, and journal nothing of what the handler did.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        dispatch(route.operation, &ctx, &mut db, staged)
    }))
    .unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        eprintln!("fgform emulator: {} panicked: {what}", route.operation);
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
    if (result.is_ok() && drops_references(route.operation)) || (result.is_err() && uploaded) {
        sweep_blobs(shared, &db);
    }
    result
}

/// Operations that can leave a code or dependency blob unreferenced when they succeed.
fn drops_references(op: &str) -> bool {
    matches!(
        op,
        "DeleteFunction" | "UpdateFunctionCode" | "DeleteDependencyVersion" | "DeleteDependency" | "UpdateDependency"
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

fn dispatch(op: &str, ctx: &Ctx<'_>, db: &mut Db, staged: Option<functions::Staged>) -> Res<Resp> {
    match op {
        "ListFunctions" => functions::list(ctx, db),
        "CreateFunction" => functions::create(ctx, db, staged),
        "DeleteFunction" => functions::delete(ctx, db),
        "ShowFunctionConfig" => functions::show_config(ctx, db),
        "UpdateFunctionConfig" => functions::update_config(ctx, db),
        "ShowFunctionCode" => functions::show_code(ctx, db),
        "UpdateFunctionCode" => functions::update_code(ctx, db, staged),
        "UpdateFunctionMaxInstanceConfig" => functions::max_instances(ctx, db),
        "EnableAsyncStatusLog" => async_config::enable_status_logs(ctx),
        "ListFunctionVersions" => versions::list(ctx, db),
        "CreateFunctionVersion" => versions::publish(ctx, db),
        "ListVersionAliases" => versions::list_aliases(ctx, db),
        "CreateVersionAlias" => versions::create_alias(ctx, db),
        "ShowVersionAlias" => versions::show_alias(ctx, db),
        "UpdateVersionAlias" => versions::update_alias(ctx, db),
        "DeleteVersionAlias" => versions::delete_alias(ctx, db),
        "UpdateFunctionAsyncInvokeConfig" => async_config::put(ctx, db),
        "ShowFunctionAsyncInvokeConfig" => async_config::show(ctx, db),
        "DeleteFunctionAsyncInvokeConfig" => async_config::delete(ctx, db),
        "ListFunctionAsyncInvokeConfig" => async_config::list(ctx, db),
        "CreateFunctionTrigger" => triggers::create(ctx, db),
        "ListFunctionTriggers" => triggers::list(ctx, db),
        "BatchDeleteFunctionTriggers" => triggers::delete_all(ctx, db),
        "ShowFunctionTrigger" => triggers::show(ctx, db),
        "UpdateTrigger" => triggers::update(ctx, db),
        "DeleteFunctionTrigger" => triggers::delete(ctx, db),
        "ListDependencies" => dependencies::list_packages(ctx, db),
        "CreateDependencyVersion" => dependencies::create_version(ctx, db, staged),
        "ListDependencyVersion" => dependencies::list_versions(ctx, db),
        "ShowDependencyVersion" => dependencies::show_version(ctx, db),
        "DeleteDependencyVersion" => dependencies::delete_version(ctx, db),
        "CreateDependency" => dependencies::old_create(ctx, db, staged),
        "ShowDependency" => dependencies::old_show(ctx, db),
        "UpdateDependency" => dependencies::old_update(ctx, db, staged),
        "DeleteDependency" => dependencies::old_delete(ctx, db),
        "ListWorkflow" => workflows::list(ctx, db),
        "CreateWorkflow" => workflows::create(ctx, db),
        "BatchDeleteWorkflows" => workflows::batch_delete(ctx, db),
        "ShowWorkFlow" => workflows::show(ctx, db),
        "UpdateWorkFlow" => workflows::update(ctx, db),
        "ListQuotas" => misc::quotas(ctx, db),
        "ShowProjectTagsList" => misc::project_tags(ctx, db),
        "ListFunctionTags" => misc::show_tags(ctx, db),
        "CreateTags" => misc::create_tags(ctx, db),
        "DeleteTags" => misc::delete_tags(ctx, db),
        "KeystoneCreateUserTokenByPassword" => misc::iam_token(ctx, db),
        other => Err(Fail::new(
            404,
            "APIGW.0101",
            format!("operation {other} is not emulated"),
        )),
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

/// The optional `description` field (≤ 512 characters, FSS.1019).
pub(crate) fn opt_description(m: &Map<String, Value>) -> Res<Option<&str>> {
    let d = opt_str(m, "description", "FSS.1019")?;
    if d.is_some_and(|d| d.chars().count() > crate::api::limits::DESCRIPTION_MAX) {
        return Err(Fail::bad("FSS.1019", "description is longer than 512 characters"));
    }
    Ok(d)
}

/// Checks `value` against a simple name rule: first char a letter, then `[A-Za-z0-9_-]`,
/// last a letter or digit, `max` chars at most.
pub(crate) fn is_name(value: &str, max: usize, extra: &[char]) -> bool {
    let chars: Vec<char> = value.chars().collect();
    !chars.is_empty()
        && chars.len() <= max
        && chars[0].is_ascii_alphabetic()
        && chars
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-' || extra.contains(c))
        && chars.last().is_some_and(|c| c.is_ascii_alphanumeric())
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
