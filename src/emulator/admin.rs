//! `/_emulator/*`: the control plane. Unauthenticated (the emulator listens on loopback by
//! default) and never logged in the request log.
//!
//! Because it is unauthenticated, a web page open in the developer's browser must not be
//! able to drive it: [`guard`] refuses (403) any request whose `Origin` is not the
//! emulator's own or whose `Sec-Fetch-Site` says it came from another site, a browser's
//! request (`Origin` or `Sec-Fetch-*`) whose `Host` is a name other than `localhost`
//! (DNS rebinding), and answers
//! 415 to a state-changing call (anything but GET/HEAD) without `Content-Type:
//! application/json`. A browser can only send that cross-origin after a CORS preflight,
//! which the emulator never grants, so an HTML form or a no-cors `fetch` cannot reset state.
//!
//! | method + path | effect |
//! |---|---|
//! | `GET /_emulator/packages/{sha512}` | a stored code or dependency package (a dependency version's `download_link`) |
//! | `GET /_emulator/health` | `{status, functions, workflows, dependencies, data_dir}` |
//! | `GET /_emulator/requests?since=N` | request log entries after sequence N |
//! | `DELETE /_emulator/requests` | clear the request log |
//! | `GET /_emulator/chaos` | the fault rules |
//! | `POST /_emulator/chaos` | add a rule: a JSON rule, or `{"spec": "status=429,p=0.3"}` |
//! | `PUT /_emulator/chaos` | replace all rules: `{"rules": [...]}` |
//! | `DELETE /_emulator/chaos[/ID]` | remove all rules, or one |
//! | `POST /_emulator/reset` | empty every table, the log, the rules and the workflow executions; remove the blobs; seeded alias routing starts over; invocation metrics forgotten |
//! | `POST /_emulator/snapshot` | write the snapshot now and empty the journal |
//! | `GET /_emulator/state` | dump the tables (tokens left out) |

use axum::extract::Request;
use axum::http::header::{HeaderMap, CONTENT_TYPE, HOST, ORIGIN};
use axum::response::{IntoResponse as _, Response};
use serde_json::{json, Value};

use super::chaos::Rule;
use super::fail::json_response;
use super::gateway::{raw_uri, RawBody};
use super::Shared;
use crate::api::ApiErrorBody;
use std::sync::Arc;

/// A control-plane error body.
fn error_body(code: &str, msg: String) -> Value {
    let body = ApiErrorBody {
        error_code: code.to_string(),
        error_msg: msg,
        request_id: None,
    };
    serde_json::to_value(body).expect("error bodies serialize")
}

/// The handler of `/_emulator` and everything under it.
pub(crate) fn endpoint(shared: &Arc<Shared>, req: Request) -> Response {
    let method = req.method().as_str();
    if method == "GET" {
        if let Some(digest) = req.uri().path().strip_prefix("/_emulator/packages/") {
            return match guard(method, req.headers()) {
                Ok(()) => package(shared, digest),
                Err((status, value)) => json_response(status, &value),
            };
        }
    }
    let (status, value) = match guard(method, req.headers()) {
        Ok(()) => {
            let uri = raw_uri(&req);
            let body = req.extensions().get::<RawBody>().map_or(&[][..], |b| &b.0[..]);
            handle(shared, method, uri.path(), uri.query().unwrap_or(""), body)
        }
        Err(refused) => refused,
    };
    json_response(status, &value)
}

/// `GET /_emulator/packages/{sha512}`: a stored code or dependency package, the target of
/// the `download_link` a dependency version's show answers with.
fn package(shared: &Shared, digest: &str) -> Response {
    let missing = || {
        json_response(
            404,
            &error_body("EMULATOR.0404", format!("no package with SHA-512 {digest}")),
        )
    };
    if digest.len() != 128 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return missing();
    }
    match shared.blobs.get(digest) {
        Ok(Some(bytes)) => ([(CONTENT_TYPE, "application/zip")], bytes).into_response(),
        Ok(None) => missing(),
        Err(e) => json_response(
            500,
            &error_body("EMULATOR.0500", format!("cannot read the package: {e}")),
        ),
    }
}

/// Whether a `Host` header names this machine by address or as `localhost`.
fn is_local_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.parse::<std::net::IpAddr>().is_ok()
        || name.eq_ignore_ascii_case("localhost")
        || name.to_ascii_lowercase().ends_with(".localhost")
}

/// Refuses control-plane requests a browser could send on behalf of another site. `Err`
/// carries the status and the error body.
pub(crate) fn guard(method: &str, headers: &HeaderMap) -> Result<(), (u16, Value)> {
    let refuse = |status: u16, code: &str, msg: String| Err((status, error_body(code, msg)));
    let text = |name| {
        headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string())
    };
    if let Some(site) = text("sec-fetch-site") {
        // `none` is the user typing the URL; `same-site` is another port or subdomain.
        if !site.eq_ignore_ascii_case("same-origin") && !site.eq_ignore_ascii_case("none") {
            return refuse(
                403,
                "EMULATOR.0403",
                format!("the control plane refuses cross-origin browser requests (Sec-Fetch-Site: {site})"),
            );
        }
    }
    let host = text(HOST.as_str());
    let browser = headers.contains_key(ORIGIN) || headers.keys().any(|k| k.as_str().starts_with("sec-fetch-"));
    if browser && !host.as_deref().is_some_and(is_local_host) {
        // DNS rebinding: a page on evil.example whose name now resolves to 127.0.0.1 is
        // "same-origin" with itself; only its Host header gives it away.
        return refuse(
            403,
            "EMULATOR.0403",
            format!(
                "the control plane answers browsers only at an IP address or localhost, not {}",
                host.as_deref().unwrap_or("(no Host)")
            ),
        );
    }
    if let Some(origin) = text(ORIGIN.as_str()) {
        let own = host.as_ref().map(|h| format!("http://{h}"));
        if own.as_deref().is_none_or(|own| !origin.eq_ignore_ascii_case(own)) {
            return refuse(
                403,
                "EMULATOR.0403",
                format!("the control plane refuses cross-origin browser requests (Origin: {origin})"),
            );
        }
    }
    if method != "GET" && method != "HEAD" {
        let json = text(CONTENT_TYPE.as_str()).is_some_and(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        });
        if !json {
            return refuse(
                415,
                "EMULATOR.0415",
                format!("{method} on the control plane needs Content-Type: application/json (even with no body)"),
            );
        }
    }
    Ok(())
}

pub(crate) fn handle(shared: &Arc<Shared>, method: &str, path: &str, query: &str, body: &[u8]) -> (u16, Value) {
    let rest = path.trim_start_matches("/_emulator").trim_matches('/');
    let parts: Vec<&str> = if rest.is_empty() {
        vec![]
    } else {
        rest.split('/').collect()
    };
    let error = |status: u16, msg: String| (status, error_body("EMULATOR.0400", msg));
    match (method, parts.as_slice()) {
        ("GET", ["health"]) | ("GET", []) => {
            let db = shared.db.lock();
            (
                200,
                json!({
                    "status": "ok",
                    "version": env!("CARGO_PKG_VERSION"),
                    "region": shared.config.region,
                    "project_id": shared.config.project_id,
                    "project_ids": shared.config.project_ids().collect::<Vec<_>>(),
                    "functions": db.tables.functions.len(),
                    "workflows": db.tables.workflows.len(),
                    "dependencies": db.tables.dependencies.len(),
                    "data_dir": db.data_dir().map(|d| d.display().to_string()),
                }),
            )
        }
        ("GET", ["requests"]) => {
            let since = crate::api::signing::parse_query(query)
                .into_iter()
                .find(|(k, _)| k == "since")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let log = shared.log.lock();
            (200, json!({ "requests": log.since(since), "last_seq": log.last_seq() }))
        }
        ("GET", ["triggers"]) => (200, super::timers::list(shared)),
        ("POST", ["triggers", id, "fire"]) => super::timers::fire(shared, id),
        ("GET", ["clock"]) => (200, json!({ "now": shared.clock.now().to_rfc3339() })),
        ("POST", ["clock", "advance"]) => {
            let seconds = crate::api::signing::parse_query(query)
                .into_iter()
                .find(|(k, _)| k == "seconds")
                .and_then(|(_, v)| v.parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s >= 0.0);
            match seconds {
                Some(s) => {
                    shared.clock.advance(std::time::Duration::from_secs_f64(s));
                    (200, json!({ "now": shared.clock.now().to_rfc3339() }))
                }
                None => error(400, "clock/advance needs ?seconds=N (N >= 0)".into()),
            }
        }
        ("GET", ["destinations"]) => (200, json!({ "destinations": shared.runtime.records.undelivered() })),
        ("GET", ["logs"]) => {
            let query = crate::api::signing::parse_query(query);
            let get = |key: &str| query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
            let limit = get("limit").and_then(|v| v.parse().ok()).unwrap_or(100);
            (
                200,
                json!({ "logs": shared.runtime.logs(get("function_urn").unwrap_or(""), limit) }),
            )
        }
        ("DELETE", ["requests"]) => {
            shared.log.lock().clear();
            (200, json!({ "cleared": true }))
        }
        (_, ["chaos", ..]) => chaos(shared, method, path, &parts, body).unwrap_or_else(|e| error(e.0, e.1)),
        ("POST", ["reset"]) => {
            let mut db = shared.db.lock();
            db.reset();
            if let Err(e) = db.commit() {
                return error(500, e.to_string());
            }
            super::routes::sweep_blobs(shared, &db);
            drop(db);
            shared.log.lock().clear();
            shared.chaos.lock().clear();
            shared.executions.lock().clear();
            shared.routing.reset();
            shared.runtime.metrics.clear();
            (200, json!({ "reset": true }))
        }
        ("POST", ["snapshot"]) => match shared.db.lock().compact() {
            Ok(()) => (200, json!({ "snapshot": true })),
            Err(e) => error(500, e.to_string()),
        },
        ("GET", ["state"]) => {
            let db = shared.db.lock();
            (
                200,
                json!({
                    "functions": db.tables.functions,
                    "dependencies": db.tables.dependencies,
                    "workflows": db.tables.workflows,
                }),
            )
        }
        _ => error(404, format!("no admin route {method} {path}")),
    }
}

/// `/_emulator/chaos[/ID]`.
fn chaos(
    shared: &Shared,
    method: &str,
    path: &str,
    parts: &[&str],
    body: &[u8],
) -> Result<(u16, Value), (u16, String)> {
    let parse_body = || -> Result<Value, String> {
        if body.is_empty() {
            Ok(json!({}))
        } else {
            serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))
        }
    };
    Ok(match (method, parts) {
        ("GET", ["chaos"]) => (200, json!({ "rules": shared.chaos.lock().rules() })),
        ("POST", ["chaos"]) => {
            let value = match parse_body() {
                Ok(v) => v,
                Err(e) => return Err((400, e)),
            };
            let rule = match value.get("spec").and_then(Value::as_str) {
                Some(spec) => Rule::parse(spec),
                None => serde_json::from_value::<Rule>(value)
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.check().map(|_| r)),
            };
            match rule {
                Ok(rule) => {
                    let id = shared.chaos.lock().add(rule);
                    (201, json!({ "id": id }))
                }
                Err(e) => return Err((400, e)),
            }
        }
        ("PUT", ["chaos"]) => {
            let value = match parse_body() {
                Ok(v) => v,
                Err(e) => return Err((400, e)),
            };
            let rules: Vec<Rule> = match serde_json::from_value(value.get("rules").cloned().unwrap_or(json!([]))) {
                Ok(r) => r,
                Err(e) => return Err((400, e.to_string())),
            };
            if let Some(e) = rules.iter().find_map(|r| r.check().err()) {
                return Err((400, e));
            }
            let mut chaos = shared.chaos.lock();
            chaos.clear();
            let ids: Vec<u64> = rules.into_iter().map(|r| chaos.add(r)).collect();
            (200, json!({ "ids": ids }))
        }
        ("DELETE", ["chaos"]) => {
            shared.chaos.lock().clear();
            (200, json!({ "cleared": true }))
        }
        ("DELETE", ["chaos", id]) => match id.parse::<u64>() {
            Ok(id) if shared.chaos.lock().remove(id) => (200, json!({ "removed": id })),
            _ => return Err((404, format!("no chaos rule {id}"))),
        },
        _ => return Err((404, format!("no admin route {method} {path}"))),
    })
}
