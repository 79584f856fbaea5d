//! The layers an API request passes through, outermost first:
//!
//! | layer | scope | does |
//! |---|---|---|
//! | [`request_id_layer`] | every request | a fresh 32-hex id in the extensions and `X-Request-Id` |
//! | [`log`] | every request | appends to the request log what the inner layers noted |
//! | [`read_body`] | every request | reads the body under the gateway limit (413 APIGW.0201) |
//! | [`routed`] | per operation | notes the operation and project; 400 on a bad project id |
//! | [`throttle`] | per operation | `--rate-limit`: 429 APIGW.0308 when the project's bucket is empty |
//! | [`chaos`] | per operation | latency, status and drop faults, before or after handling |
//! | [`auth`] | per operation | AK/SK signature or IAM token; 403 for a project not served |
//!
//! The three global layers sit on the router; the per-operation ones wrap each operation's
//! handler (see `routes::Routes`), so they know the operation without looking it up.
//! Layers talk to each other through request extensions ([`RequestId`], [`RawBody`],
//! [`Routed`]) and to the log through response extensions ([`Note`], [`ChaosNote`],
//! [`ErrorCode`]). The control plane's answers carry no [`Note`] and are not logged.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::HeaderValue;
use axum::http::{Extensions, Uri};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use percent_encoding::percent_decode_str;

use super::chaos::{Effect, Rule};
use super::fail::{ErrorCode, Fail};
use super::reqlog::{Entry, Logged};
use super::server::{Conn, InFlight};
use super::{Shared, MAX_BODY_BYTES, MAX_CLOCK_SKEW_SECS};
use crate::api::signing::{self, Authorization, WireRequest};
use crate::api::{Operation, AUTH_TOKEN_HEADER, REQUEST_ID_HEADER};

/// The request's id (a request extension).
#[derive(Debug, Clone)]
pub(crate) struct RequestId(pub Arc<str>);

/// The request target as the client sent it, before the trailing slash is trimmed for
/// routing: what is signed and what is logged.
#[derive(Debug, Clone)]
pub(crate) struct RawUri(pub Uri);

/// The whole request body (a request extension).
#[derive(Debug, Clone)]
pub(crate) struct RawBody(pub Bytes);

/// The operation a request was routed to, its `{project_id}` and its other path
/// parameters, decoded, in path order (a request extension).
#[derive(Debug, Clone)]
pub(crate) struct Routed {
    pub op: Operation,
    pub project: Option<String>,
    pub params: Vec<String>,
}

/// What the request log records of an answered request (a response extension).
#[derive(Debug, Clone)]
pub(crate) struct Note {
    operation: Logged,
    project: String,
}

/// The fault rule that fired (a response extension).
#[derive(Debug, Clone)]
struct ChaosNote(String);

/// What the log layer knew before the request went in.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    started: Instant,
    method: String,
    path: String,
    query: String,
    request_id: Arc<str>,
}

/// The request id layers and handlers answer with.
pub(crate) fn request_id(ext: &Extensions) -> &str {
    ext.get::<RequestId>().map_or("", |id| &id.0)
}

/// The target the client sent (the routed one when none was recorded).
pub(crate) fn raw_uri(req: &Request) -> &Uri {
    req.extensions().get::<RawUri>().map_or(req.uri(), |r| &r.0)
}

/// Whether an operation is reachable without credentials (IAM token issuing).
pub(crate) fn is_public(op: Operation) -> bool {
    op == Operation::KeystoneCreateUserTokenByPassword
}

/// Gives every request a fresh id; the answer carries it in `X-Request-Id`. An id the
/// client sent is not reused: the service always issues its own.
pub(crate) async fn request_id_layer(mut req: Request, next: Next) -> Response {
    let mut hex = [0u8; 32];
    let id: &str = uuid::Uuid::new_v4().simple().encode_lower(&mut hex);
    let value = HeaderValue::from_str(id).expect("hex is a header value");
    req.extensions_mut().insert(RequestId(Arc::from(id)));
    let mut resp = next.run(req).await;
    resp.headers_mut().insert(REQUEST_ID_HEADER, value);
    resp
}

/// Logs every answer that carries a [`Note`].
pub(crate) async fn log(State(shared): State<Arc<Shared>>, mut req: Request, next: Next) -> Response {
    let uri = raw_uri(&req);
    let pending = Arc::new(Pending {
        started: Instant::now(),
        method: req.method().as_str().to_string(),
        path: uri.path().to_string(),
        query: uri.query().unwrap_or("").to_string(),
        request_id: req
            .extensions()
            .get::<RequestId>()
            .map_or_else(|| Arc::from(""), |id| id.0.clone()),
    });
    req.extensions_mut().insert(pending.clone());
    let resp = next.run(req).await;
    if let Some(note) = resp.extensions().get::<Note>() {
        let ext = resp.extensions();
        let code = ext.get::<ErrorCode>().map(|c| c.0.clone());
        let chaos = ext.get::<ChaosNote>().map(|c| c.0.clone());
        let pending = Arc::try_unwrap(pending).unwrap_or_else(|shared| (*shared).clone());
        push(&shared, pending, note.clone(), resp.status().as_u16(), code, chaos);
    }
    resp
}

fn push(shared: &Shared, p: Pending, note: Note, status: u16, error_code: Option<String>, chaos: Option<String>) {
    let entry = Entry {
        seq: 0,
        time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        method: p.method,
        path: p.path,
        query: p.query,
        operation: note.operation,
        project: note.project,
        status,
        error_code,
        request_id: p.request_id.to_string(),
        chaos,
        duration_ms: p.started.elapsed().as_secs_f64() * 1000.0,
    };
    shared.log.lock().push(entry);
}

/// Reads the whole body under the gateway limit into [`RawBody`]; from then on the
/// request counts as in flight for the connection's idle timeout (a body that stops
/// arriving is idleness like any other).
pub(crate) async fn read_body(req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let bytes = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) => {
            let fail = if err.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                Fail::new(413, "APIGW.0201", "Request entity too large")
            } else {
                Fail::new(400, "APIGW.0201", "Bad request body")
            };
            let mut resp = fail.response(request_id(&parts.extensions));
            resp.extensions_mut().insert(Note {
                operation: Logged::Body,
                project: String::new(),
            });
            return resp;
        }
    };
    let _in_flight = parts
        .extensions
        .get::<Conn>()
        .map(|c| InFlight::new(c.activity.clone()));
    parts.extensions.insert(RawBody(bytes));
    next.run(Request::from_parts(parts, Body::empty())).await
}

/// No operation has this method and path: the gateway's 404 APIGW.0101.
pub(crate) async fn unknown(req: Request) -> Response {
    let fail = Fail::new(
        404,
        "APIGW.0101",
        "The API does not exist or has not been published in the environment",
    );
    let mut resp = fail.response(request_id(req.extensions()));
    resp.extensions_mut().insert(Note {
        operation: Logged::Unknown,
        project: String::new(),
    });
    resp
}

/// The operation a per-operation layer stack wraps, and the path template it is routed
/// at (`/v2/{project_id}/fgs/functions/{function_urn}/config`).
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub op: Operation,
    pub template: Arc<str>,
}

/// Notes the operation and its path parameters, each segment percent-decoded on its own
/// (so `urn%3Afss%3A…` and `urn:fss:…` read alike, and `%2F` never splits one; bytes
/// that are not UTF-8 become U+FFFD rather than a refusal). A `{project_id}` that cannot
/// be one (`a%2Fb`, `..`, 65 chars) never reaches a store: store keys are
/// `{project}/{name}`, so `a/b` would read and fill project `a`'s rows.
pub(crate) async fn routed(State(endpoint): State<Endpoint>, mut req: Request, next: Next) -> Response {
    let op = endpoint.op;
    let mut values: Vec<String> = endpoint
        .template
        .split('/')
        .zip(req.uri().path().split('/'))
        .filter(|(t, _)| t.starts_with('{'))
        .map(|(_, raw)| percent_decode_str(raw).decode_utf8_lossy().into_owned())
        .collect();
    let project = if endpoint.template.starts_with("/v2/{project_id}/") && !values.is_empty() {
        Some(values.remove(0))
    } else {
        None
    };
    let note = Note {
        operation: Logged::Api(op),
        project: project.clone().unwrap_or_default(),
    };
    let mut resp = if project.as_deref().is_some_and(|p| !super::valid_project_id(p)) {
        Fail::new(400, "FSS.0400", "Invalid project_id in the path").response(request_id(req.extensions()))
    } else {
        let params = values;
        req.extensions_mut().insert(Routed { op, project, params });
        next.run(req).await
    };
    resp.extensions_mut().insert(note);
    resp
}

/// The gateway's throttling (`--rate-limit`), before fault injection and authentication, as
/// the gateway counts a request before it checks who sent it: a token from the project's
/// bucket, or 429 APIGW.0308 with `Retry-After` in whole seconds. Projects this emulator
/// does not serve share one bucket (they are refused with 403 after it), so made-up project
/// ids cannot grow the table; the IAM token route has no project and is not throttled.
pub(crate) async fn throttle(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let Some(throttle) = &shared.throttle else {
        return next.run(req).await;
    };
    let Some(project) = req.extensions().get::<Routed>().and_then(|r| r.project.as_deref()) else {
        return next.run(req).await;
    };
    let bucket = if shared.config.serves(project) { project } else { "" };
    match throttle.take(bucket, Instant::now()) {
        Ok(()) => next.run(req).await,
        Err(wait) => {
            let mut fail = Fail::new(429, "APIGW.0308", super::throttle::message(throttle.rate()));
            fail.retry_after = Some(super::throttle::retry_after_secs(wait));
            fail.response(request_id(req.extensions()))
        }
    }
}

/// Fault injection, decided at the gateway before authentication.
pub(crate) async fn chaos(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let Some(routed) = req.extensions().get::<Routed>() else {
        return next.run(req).await;
    };
    let decision = {
        let mut rules = shared.chaos.lock();
        if rules.rules().is_empty() {
            None
        } else {
            let path = raw_uri(&req).path();
            let relative = match &routed.project {
                Some(p) => path.strip_prefix(&format!("/v2/{p}")).unwrap_or(path),
                None => path,
            };
            Some(rules.decide(req.method().as_str(), relative, routed.op))
        }
    };
    let Some(decision) = decision else {
        return next.run(req).await;
    };
    let mut note = None;
    if decision.latency_ms > 0 {
        note = Some(format!("latency:{}ms", decision.latency_ms));
        tokio::time::sleep(Duration::from_millis(decision.latency_ms)).await;
    }
    let Some(rule) = decision.fault else {
        return with_chaos_note(next.run(req).await, note);
    };
    let fault = Fault {
        routed: routed.clone(),
        pending: req.extensions().get::<Arc<Pending>>().cloned(),
        conn: req.extensions().get::<Conn>().cloned(),
        request_id: request_id(req.extensions()).to_string(),
    };
    let resp = if rule.after {
        let _handled = next.run(req).await;
        fault.apply(&shared, &rule, &mut note).await
    } else {
        fault.apply(&shared, &rule, &mut note).await
    };
    with_chaos_note(resp, note)
}

fn with_chaos_note(mut resp: Response, note: Option<String>) -> Response {
    if let Some(note) = note {
        resp.extensions_mut().insert(ChaosNote(note));
    }
    resp
}

/// What a fault needs of the request it replaces the answer of.
struct Fault {
    routed: Routed,
    pending: Option<Arc<Pending>>,
    conn: Option<Conn>,
    request_id: String,
}

impl Fault {
    /// Answers with the rule's status, or closes the connection unanswered (a drop never
    /// returns).
    async fn apply(self, shared: &Shared, rule: &Rule, note: &mut Option<String>) -> Response {
        let when = if rule.after { ",after" } else { "" };
        if rule.effect == Effect::Drop {
            // This request never answers: log it here (status 0), then close the socket.
            if let Some(pending) = self.pending {
                let note = Note {
                    operation: Logged::Api(self.routed.op),
                    project: self.routed.project.unwrap_or_default(),
                };
                push(shared, (*pending).clone(), note, 0, None, Some(format!("drop{when}")));
            }
            if let Some(conn) = self.conn {
                conn.dropper.notify_one();
            }
            std::future::pending::<()>().await;
        }
        let status = rule.status.unwrap_or(503);
        *note = Some(format!("status:{status}{when}"));
        let code: &str = match (&rule.error_code, status) {
            (Some(c), _) => c.as_str(),
            (None, 429) => "FSS.0429",
            (None, 500) => "FSS.0500",
            (None, 502) => "FSS.0502",
            (None, 503) => "FSS.0503",
            (None, 504) => "FSS.0504",
            (None, _) => "FSS.0500",
        };
        let msg = match status {
            429 => "Too many requests, please try again later",
            503 => "Service unavailable",
            _ => "Internal server error",
        };
        let mut fail = Fail::new(status, code, msg);
        if status == 429 {
            fail.retry_after = Some(rule.retry_after.unwrap_or(1));
        }
        fail.response(&self.request_id)
    }
}

/// Authentication (skipped for the public IAM route and under `--no-auth`), then the
/// served-project check.
pub(crate) async fn auth(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let verdict = match req.extensions().get::<Routed>() {
        Some(routed) => check_credentials(&shared, &req, routed),
        None => Ok(()),
    };
    match verdict {
        Ok(()) => next.run(req).await,
        Err(fail) => fail.response(request_id(req.extensions())),
    }
}

fn check_credentials(shared: &Shared, req: &Request, routed: &Routed) -> Result<(), Fail> {
    if !is_public(routed.op) && !shared.config.no_auth {
        let uri = raw_uri(req);
        let headers = req.headers();
        let header = |name: &str| {
            headers
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        };
        let body = req.extensions().get::<RawBody>().map_or(&[][..], |b| &b.0[..]);
        let wire = WireRequest {
            method: req.method().as_str(),
            raw_path: uri.path(),
            raw_query: uri.query().unwrap_or(""),
            header: &header,
            body,
        };
        authenticate(shared, &wire, routed.project.as_deref())?;
    }
    if let Some(p) = routed.project.as_deref().filter(|p| !shared.config.serves(p)) {
        // Credentials valid, project not theirs: the service's generic 403 FSS.0403
        // "forbidden" (fgs-api.md §10; the exact code for a foreign project is not
        // documented, and FSS.0403 is what this emulator already answers for a token or
        // X-Project-Id scoped to another project).
        return Err(Fail::new(
            403,
            "FSS.0403",
            format!("project {p} is not served here (no such project)"),
        ));
    }
    Ok(())
}

fn auth_fail(msg: impl Into<String>) -> Fail {
    Fail::new(
        401,
        "APIGW.0301",
        format!("Incorrect IAM authentication information: {}", msg.into()),
    )
}

/// AK/SK signature or an IAM token this emulator issued.
fn authenticate(shared: &Shared, wire: &WireRequest<'_>, path_project: Option<&str>) -> Result<(), Fail> {
    let header = wire.header;
    if let Some(token) = header(&AUTH_TOKEN_HEADER.to_ascii_lowercase()) {
        let key = signing::sha256_hex(token.trim().as_bytes());
        let db = shared.db.lock();
        let Some(t) = db.tables.tokens.get(&key) else {
            return Err(auth_fail("decrypt token fail"));
        };
        if t.expires_at_epoch < chrono::Utc::now().timestamp() {
            return Err(auth_fail("token expired"));
        }
        if let Some(p) = path_project {
            if p != t.project_id {
                return Err(Fail::new(
                    403,
                    "FSS.0403",
                    format!("the token is not scoped to project {p}"),
                ));
            }
        }
        return Ok(());
    }
    let Some(value) = header("authorization") else {
        return Err(auth_fail("the request carries neither a signature nor a token"));
    };
    let auth = Authorization::parse(&value).map_err(|e| auth_fail(e.to_string()))?;
    if auth.access_key != shared.config.access_key {
        return Err(auth_fail(format!("ak {} not exist", auth.access_key)));
    }
    let date = header("x-sdk-date").ok_or_else(|| auth_fail("x-sdk-date is missing"))?;
    let parsed = chrono::NaiveDateTime::parse_from_str(date.trim(), signing::DATE_FORMAT)
        .map_err(|_| auth_fail("x-sdk-date is malformed"))?;
    let skew = (chrono::Utc::now().naive_utc() - parsed).num_seconds().abs();
    if skew > MAX_CLOCK_SKEW_SECS {
        return Err(auth_fail(
            "verify aksk signature fail, the x-sdk-date is out of the 15 minute window",
        ));
    }
    signing::verify(wire, &auth, &shared.config.secret_key).map_err(|e| auth_fail(e.to_string()))?;
    if let (Some(p), Some(h)) = (path_project, header("x-project-id")) {
        if h.trim() != p {
            return Err(Fail::new(
                403,
                "FSS.0403",
                format!("X-Project-Id {h} does not match the project {p} in the path"),
            ));
        }
    }
    Ok(())
}
