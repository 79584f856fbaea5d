//! The HTTP front: one hyper connection task per socket; per request: read the body
//! under the gateway limit, route, check the project id, apply chaos, authenticate, check
//! the project is served, run the operation, log.
//!
//! The accept loop pauses (10 to 100 ms, logged once per streak) after an accept error
//! such as EMFILE instead of retrying at once ([`accept_backoff`]). A connection is closed
//! when an HTTP/1 client takes longer than `Config::header_read_timeout` to send its
//! headers, or when nothing moves on it and no request is being handled for
//! `Config::idle_timeout` (idle keep-alive, a client that stalled before its first bytes or
//! in the middle of its body).

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};

use super::fail::Fail;
use super::reqlog::Entry;
use super::routes::{self, Ctx, Resp};
use super::{admin, Shared, MAX_BODY_BYTES, MAX_CLOCK_SKEW_SECS};
use crate::api::signing::{self, Authorization, WireRequest};
use crate::api::{AUTH_TOKEN_HEADER, REQUEST_ID_HEADER};

pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let mut connections = tokio::task::JoinSet::new();
    // Consecutive failed accepts; the first of a streak is logged, the rest are not.
    let mut failures: u32 = 0;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    if failures > 0 {
                        eprintln!("fgform emulator: accepting connections again after {failures} failed accepts");
                        failures = 0;
                    }
                    let _ = stream.set_nodelay(true);
                    let shared = shared.clone();
                    let stop = shutdown.clone();
                    connections.spawn(connection(stream, shared, stop));
                }
                Err(err) => {
                    let pause = accept_backoff(&err, failures);
                    if failures == 0 {
                        eprintln!("fgform emulator: accept failed: {err}; retrying with a pause of up to {} ms", MAX_ACCEPT_BACKOFF.as_millis());
                    }
                    failures = failures.saturating_add(1);
                    if !pause.is_zero() {
                        tokio::select! {
                            _ = tokio::time::sleep(pause) => {}
                            _ = shutdown.changed() => break,
                        }
                    }
                }
            },
            _ = shutdown.changed() => break,
        }
        while connections.try_join_next().is_some() {}
    }
    // Let in-flight requests finish (bounded), then return.
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while connections.join_next().await.is_some() {}
    })
    .await;
}

/// The longest pause between two failed accepts.
pub(crate) const MAX_ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How long to wait before accepting again after the `streak`+1-th consecutive failure.
///
/// An error about one connection (reset or aborted before we took it) says nothing about
/// the next: no pause. Anything else (EMFILE/ENFILE when descriptors run out, ENOBUFS,
/// ENOMEM) leaves the pending connection in the backlog, so an immediate retry fails the
/// same way and spins a core: wait 10 ms, doubling to 100 ms, until an accept succeeds.
pub(crate) fn accept_backoff(err: &std::io::Error, streak: u32) -> Duration {
    use std::io::ErrorKind::*;
    match err.kind() {
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted => Duration::ZERO,
        _ => (Duration::from_millis(10) * 2u32.saturating_pow(streak.min(4))).min(MAX_ACCEPT_BACKOFF),
    }
}

/// When a connection last moved bytes, and how many of its requests are being handled.
struct Activity {
    born: Instant,
    last_ms: AtomicU64,
    in_flight: AtomicUsize,
}

impl Activity {
    fn new() -> Self {
        Activity {
            born: Instant::now(),
            last_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        }
    }

    fn touch(&self) {
        self.last_ms
            .store(self.born.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let now = self.born.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }

    /// Resolves once the connection has had no request in flight and no traffic for `limit`.
    async fn idle(&self, limit: Duration) {
        loop {
            let idle = self.idle_for();
            if idle >= limit && self.in_flight.load(Ordering::Relaxed) == 0 {
                return;
            }
            tokio::time::sleep(limit.saturating_sub(idle).max(Duration::from_millis(20))).await;
        }
    }
}

/// Counts a request as in flight while it lives.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn new(activity: Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A socket that records in [`Activity`] every read or write that moved bytes.
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

async fn connection(stream: TcpStream, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let dropper = Arc::new(Notify::new());
    let activity = Arc::new(Activity::new());
    let (header_read_timeout, idle_timeout) = (shared.config.header_read_timeout, shared.config.idle_timeout);
    let service = {
        let dropper = dropper.clone();
        let activity = activity.clone();
        hyper::service::service_fn(move |req| {
            let shared = shared.clone();
            let dropper = dropper.clone();
            let activity = activity.clone();
            async move { Ok::<_, Infallible>(handle(shared, req, dropper, activity).await) }
        })
    };
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let io = Tracked {
        inner: stream,
        activity: activity.clone(),
    };
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        // A chaos `drop`: dropping the connection future closes the socket unanswered.
        _ = dropper.notified() => {}
        // Idle keep-alive, or a client that stalled mid-request-line: close it.
        _ = activity.idle(idle_timeout) => {}
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

pub(crate) fn new_request_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn json_response(
    status: u16,
    body: Option<&Value>,
    request_id: &str,
    extra: &[(String, String)],
) -> Response<Full<Bytes>> {
    let bytes = match body {
        Some(v) => Bytes::from(serde_json::to_vec(v).expect("values serialize")),
        None => Bytes::new(),
    };
    let mut resp = Response::new(Full::new(bytes));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = resp.headers_mut();
    if body.is_some() {
        headers.insert("content-type", HeaderValue::from_static("application/json"));
    }
    headers.insert(REQUEST_ID_HEADER, HeaderValue::from_str(request_id).expect("hex id"));
    for (k, v) in extra {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(v)) {
            headers.insert(name, value);
        }
    }
    resp
}

pub(crate) fn fail_body(fail: &Fail, request_id: &str) -> Value {
    let mut body = json!({ "error_code": fail.code, "error_msg": fail.msg });
    if fail.with_request_id {
        body["request_id"] = json!(request_id);
    }
    body
}

fn fail_response(fail: &Fail, request_id: &str) -> Response<Full<Bytes>> {
    let mut extra = Vec::new();
    if let Some(secs) = fail.retry_after {
        extra.push(("Retry-After".to_string(), secs.to_string()));
    }
    json_response(fail.status, Some(&fail_body(fail, request_id)), request_id, &extra)
}

struct Logged {
    method: String,
    path: String,
    query: String,
    operation: String,
    project: String,
    chaos: Option<String>,
}

impl Logged {
    fn empty() -> Self {
        Logged {
            method: String::new(),
            path: String::new(),
            query: String::new(),
            operation: String::new(),
            project: String::new(),
            chaos: None,
        }
    }
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
    dropper: Arc<Notify>,
    activity: Arc<Activity>,
) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let request_id = new_request_id();
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str().to_string();
    let raw_path = parts.uri.path().to_string();
    let raw_query = parts.uri.query().unwrap_or("").to_string();
    let mut logged = Logged {
        method: method.clone(),
        path: raw_path.clone(),
        query: raw_query.clone(),
        operation: String::new(),
        project: String::new(),
        chaos: None,
    };

    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) => {
            let fail = if err.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                Fail::new(413, "APIGW.0201", "Request entity too large")
            } else {
                Fail::new(400, "APIGW.0201", "Bad request body")
            };
            logged.operation = "(body)".into();
            return fail_and_log(&shared, logged, started, &request_id, &fail);
        }
    };
    // From here the emulator, not the client, is the slow side: the idle timeout waits.
    // (A body that stops arriving is idleness like any other.)
    let _in_flight = InFlight::new(activity);

    if raw_path == "/_emulator" || raw_path.starts_with("/_emulator/") {
        logged.operation = "Admin".into();
        let (status, value) = match admin::guard(&method, &parts.headers) {
            Ok(()) => admin::handle(&shared, &method, &raw_path, &raw_query, &body),
            Err(refused) => refused,
        };
        let resp = json_response(status, Some(&value), &request_id, &[]);
        // Admin calls are not logged: tests read the log through them.
        let _ = started;
        return resp;
    }

    let Some(route) = routes::route(&method, &raw_path) else {
        logged.operation = "(unknown)".into();
        let fail = Fail::new(
            404,
            "APIGW.0101",
            "The API does not exist or has not been published in the environment",
        );
        return fail_and_log(&shared, logged, started, &request_id, &fail);
    };
    logged.operation = route.operation.to_string();
    logged.project = route.project.clone().unwrap_or_default();
    // A `{project_id}` that cannot be one (`a%2Fb`, `..`, 65 chars) never reaches a store:
    // store keys are `{project}/{name}`, so `a/b` would read and fill project `a`'s rows.
    if route.project.as_deref().is_some_and(|p| !super::valid_project_id(p)) {
        let fail = Fail::new(400, "FSS.0400", "Invalid project_id in the path");
        return fail_and_log(&shared, logged, started, &request_id, &fail);
    }

    // Chaos is decided at the gateway, before authentication.
    let relative = match &route.project {
        Some(p) => raw_path
            .strip_prefix(&format!("/v2/{p}"))
            .unwrap_or(&raw_path)
            .to_string(),
        None => raw_path.clone(),
    };
    let decision = shared.chaos.lock().decide(&method, &relative, route.operation);
    if decision.latency_ms > 0 {
        logged.chaos = Some(format!("latency:{}ms", decision.latency_ms));
        tokio::time::sleep(Duration::from_millis(decision.latency_ms)).await;
    }
    let (before, after) = match decision.fault {
        Some(rule) if rule.after => (None, Some(rule)),
        Some(rule) => (Some(rule), None),
        None => (None, None),
    };
    if let Some(rule) = before {
        if let Some(resp) = apply_fault(&shared, &rule, &mut logged, started, &request_id, &dropper).await {
            let code = resp.1;
            return finish(&shared, logged, started, &request_id, resp.0, code);
        }
    }

    let headers = parts.headers;
    let header = |name: &str| {
        headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    if !route.public && !shared.config.no_auth {
        let wire = WireRequest {
            method: &method,
            raw_path: &raw_path,
            raw_query: &raw_query,
            header: &header,
            body: &body,
        };
        if let Err(fail) = authenticate(&shared, &wire, route.project.as_deref()) {
            return fail_and_log(&shared, logged, started, &request_id, &fail);
        }
    }
    if let Some(p) = route.project.as_deref().filter(|p| !shared.config.serves(p)) {
        // Credentials valid, project not theirs: the service's generic 403 FSS.0403
        // "forbidden" (fgs-api.md §10; the exact code for a foreign project is not
        // documented, and FSS.0403 is what this emulator already answers for a token or
        // X-Project-Id scoped to another project).
        let fail = Fail::new(
            403,
            "FSS.0403",
            format!("project {p} is not served here (no such project)"),
        );
        return fail_and_log(&shared, logged, started, &request_id, &fail);
    }

    let result = routes::execute(
        &shared,
        &route,
        Ctx::new(&shared, &route, &raw_query, &body, &request_id),
    );
    let (mut response, code) = match result {
        Ok(Resp { status, body, headers }) => (json_response(status, body.as_ref(), &request_id, &headers), None),
        Err(fail) => (fail_response(&fail, &request_id), Some(fail.code.clone())),
    };
    if let Some(rule) = after {
        if let Some(resp) = apply_fault(&shared, &rule, &mut logged, started, &request_id, &dropper).await {
            response = resp.0;
            return finish(&shared, logged, started, &request_id, response, resp.1);
        }
    }
    finish(&shared, logged, started, &request_id, response, code)
}

/// Applies a status or drop fault. A drop never returns: the connection is closed.
async fn apply_fault(
    shared: &Shared,
    rule: &super::chaos::Rule,
    logged: &mut Logged,
    started: Instant,
    request_id: &str,
    dropper: &Notify,
) -> Option<(Response<Full<Bytes>>, Option<String>)> {
    use super::chaos::Effect;
    let when = if rule.after { ",after" } else { "" };
    match rule.effect {
        Effect::Drop => {
            logged.chaos = Some(format!("drop{when}"));
            // This request never answers: log it here (status 0), then close the socket.
            let entry = Logged {
                chaos: logged.chaos.clone(),
                ..std::mem::replace(logged, Logged::empty())
            };
            log_entry(shared, entry, started, request_id, 0, None);
            dropper.notify_one();
            std::future::pending::<()>().await;
            None
        }
        Effect::Status => {
            let status = rule.status.unwrap_or(503);
            logged.chaos = Some(format!("status:{status}{when}"));
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
            Some((fail_response(&fail, request_id), Some(fail.code.clone())))
        }
        Effect::Latency => None,
    }
}

fn finish(
    shared: &Shared,
    logged: Logged,
    started: Instant,
    request_id: &str,
    response: Response<Full<Bytes>>,
    error_code: Option<String>,
) -> Response<Full<Bytes>> {
    log_entry(
        shared,
        logged,
        started,
        request_id,
        response.status().as_u16(),
        error_code,
    );
    response
}

/// Answers with `fail` and logs it.
fn fail_and_log(
    shared: &Shared,
    logged: Logged,
    started: Instant,
    request_id: &str,
    fail: &Fail,
) -> Response<Full<Bytes>> {
    finish(
        shared,
        logged,
        started,
        request_id,
        fail_response(fail, request_id),
        Some(fail.code.clone()),
    )
}

fn log_entry(
    shared: &Shared,
    logged: Logged,
    started: Instant,
    request_id: &str,
    status: u16,
    error_code: Option<String>,
) {
    let entry = Entry {
        seq: 0,
        time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        method: logged.method,
        path: logged.path,
        query: logged.query,
        operation: logged.operation,
        project: logged.project,
        status,
        error_code,
        request_id: request_id.to_string(),
        chaos: logged.chaos,
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
    };
    shared.log.lock().push(entry);
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Error, ErrorKind};

    #[test]
    fn accept_errors_about_the_process_pause_and_the_pause_is_bounded() {
        let emfile = Error::from_raw_os_error(24); // EMFILE
        let pauses: Vec<Duration> = (0..8).map(|streak| accept_backoff(&emfile, streak)).collect();
        assert_eq!(pauses[0], Duration::from_millis(10));
        assert!(pauses.windows(2).all(|w| w[0] <= w[1]), "{pauses:?}");
        assert_eq!(*pauses.last().unwrap(), MAX_ACCEPT_BACKOFF);
        assert_eq!(accept_backoff(&emfile, u32::MAX), MAX_ACCEPT_BACKOFF);
        for kind in [ErrorKind::OutOfMemory, ErrorKind::Other] {
            assert!(accept_backoff(&Error::from(kind), 0) >= Duration::from_millis(10));
        }
    }

    #[test]
    fn accept_errors_about_one_connection_do_not_pause() {
        for kind in [ErrorKind::ConnectionAborted, ErrorKind::ConnectionReset] {
            assert_eq!(accept_backoff(&Error::from(kind), 3), Duration::ZERO);
        }
    }
}
