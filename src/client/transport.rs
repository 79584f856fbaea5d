//! One call on the wire: the call and answer types, signing and sending an attempt, the
//! retry loop, adoption of creates whose outcome was lost, and decoding the answer.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{redact, retry, ApiError, Auth, Client};
use crate::api::{signing, REQUEST_ID_HEADER};

/// How a call may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// GET: retry freely.
    Read,
    /// PUT and other idempotent writes: retry freely.
    Write,
    /// DELETE: retry; a 404 after an attempt whose outcome was unknown means it worked.
    Delete,
    /// POST that creates: never re-sent blindly. Ambiguous failures come back to the
    /// caller, which looks the resource up ([`Client::create_adopting`]).
    Create,
}

/// One API call, before sending.
#[derive(Debug)]
pub(crate) struct Call {
    pub method: &'static str,
    /// Path after `/v2/{project_id}`, with parameters already percent-encoded.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub kind: Kind,
    /// Headers beyond the signed ones (sent unsigned, as the SDKs send them).
    pub headers: Vec<(&'static str, String)>,
    /// How long one attempt may take, when not the client's per-request timeout (an
    /// invocation waits for the function).
    pub timeout: Option<Duration>,
}

impl Call {
    pub fn get(path: String) -> Call {
        Call {
            method: "GET",
            path,
            query: Vec::new(),
            body: None,
            kind: Kind::Read,
            headers: Vec::new(),
            timeout: None,
        }
    }

    pub fn delete(path: String) -> Call {
        Call {
            method: "DELETE",
            path,
            query: Vec::new(),
            body: None,
            kind: Kind::Delete,
            headers: Vec::new(),
            timeout: None,
        }
    }

    pub fn with_body<T: Serialize>(method: &'static str, path: String, body: &T, kind: Kind) -> Call {
        Call {
            method,
            path,
            query: Vec::new(),
            body: Some(serde_json::to_vec(body).expect("wire types serialise")),
            kind,
            headers: Vec::new(),
            timeout: None,
        }
    }

    /// A call whose body is sent as it is (an invocation's event).
    pub fn raw(method: &'static str, path: String, body: Vec<u8>, kind: Kind) -> Call {
        Call {
            method,
            path,
            query: Vec::new(),
            body: Some(body),
            kind,
            headers: Vec::new(),
            timeout: None,
        }
    }

    pub fn query(mut self, key: &str, value: impl ToString) -> Call {
        self.query.push((key.to_string(), value.to_string()));
        self
    }

    pub fn header(mut self, name: &'static str, value: impl ToString) -> Call {
        self.headers.push((name, value.to_string()));
        self
    }
}

/// A raw answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: u16,
    pub body: Bytes,
    pub request_id: Option<String>,
    retry_after: Option<Duration>,
    /// The answer's `X-Cff-*` and `X-*-Func-Err*` headers (names lower-case).
    pub cff: Vec<(String, String)>,
}

impl Answer {
    /// A kept header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.cff
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What a create's lookup found.
#[derive(Debug)]
pub(crate) enum Lookup<T> {
    /// The resource exists and matches what was sent: adopt it.
    Found(T),
    /// Nothing was made: sending again is safe.
    Absent,
    /// Something with that name exists but differs.
    Conflict(String),
}

pub(crate) fn request_id_of(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get(REQUEST_ID_HEADER)
        .or_else(|| headers.get("x-request-id"))
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Turns an error answer into an [`ApiError`]: the documented body (`error_code`/`error_msg`,
/// also `errorCode`/`errorMsg` and `code`/`message`, one nesting level deep, as the SDK
/// reads it), or `UnexpectedBody`.
pub(crate) fn error_from_body(
    method: &str,
    path: &str,
    status: u16,
    body: &[u8],
    request_id: Option<String>,
) -> ApiError {
    use serde_json::Value;
    fn pick(v: &Value) -> Option<(String, String, Option<String>)> {
        let obj = v.as_object()?;
        let s = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_string);
        let code = s("error_code").or_else(|| s("errorCode")).or_else(|| s("code"))?;
        let msg = s("error_msg")
            .or_else(|| s("errorMsg"))
            .or_else(|| s("message"))
            .unwrap_or_default();
        Some((code, msg, s("request_id")))
    }
    let parsed = serde_json::from_slice::<Value>(body).ok();
    let found = parsed
        .as_ref()
        .and_then(|v| pick(v).or_else(|| v.as_object().and_then(|o| o.values().find_map(pick))));
    match found {
        Some((code, message, body_rid)) => ApiError::Status {
            method: method.to_string(),
            path: path.to_string(),
            status,
            code,
            message,
            request_id: request_id.or(body_rid),
        },
        None => {
            let text = String::from_utf8_lossy(body);
            let body: String = text.chars().take(512).collect();
            ApiError::UnexpectedBody {
                method: method.to_string(),
                path: path.to_string(),
                status,
                body,
                request_id,
            }
        }
    }
}

impl Client {
    /// The raw path of an API call: base path + `/v2/{project}` + `rest`.
    pub(crate) fn raw_path(&self, rest: &str) -> String {
        format!("{}/v2/{}{}", self.inner.base_path, self.inner.project_id, rest)
    }

    /// The headers the client sends for an AK/SK request, signed at `date`
    /// (`YYYYMMDDTHHMMSSZ`): `Content-Type`, `User-Agent`, `X-Project-Id`, the security token
    /// when there is one, then what [`signing::sign`] adds (`X-Sdk-Date`, `Host`,
    /// `Authorization`). Token-authenticated clients return the headers unsigned.
    pub fn signed_headers(
        &self,
        method: &str,
        raw_path: &str,
        query: &[(String, String)],
        body: &[u8],
        date: &str,
    ) -> Vec<(String, String)> {
        let mut headers = vec![
            ("Content-Type".to_string(), "application/json".to_string()),
            ("User-Agent".to_string(), self.inner.user_agent.clone()),
            ("X-Project-Id".to_string(), self.inner.project_id.clone()),
        ];
        match &self.inner.auth {
            Auth::AkSk(c) => {
                if let Some(t) = &c.security_token {
                    headers.push(("X-Security-Token".to_string(), t.expose().to_string()));
                }
                signing::sign(
                    signing::OutgoingRequest {
                        method,
                        raw_path,
                        query,
                        headers,
                        body,
                        host: &self.inner.host,
                    },
                    &c.access_key,
                    c.secret_key.expose(),
                    date,
                )
            }
            Auth::Token(_) => headers,
        }
    }

    /// Sends one attempt and reads the whole answer (within the per-request timeout).
    async fn attempt(&self, call: &Call, raw_path: &str, timeout: Duration) -> Result<Answer, ApiError> {
        let inner = &self.inner;
        let body: &[u8] = call.body.as_deref().unwrap_or_default();
        let date = chrono::Utc::now().format(signing::DATE_FORMAT).to_string();
        let mut headers = self.signed_headers(call.method, raw_path, &call.query, body, &date);
        let mut token_used = None;
        if let Auth::Token(provider) = &inner.auth {
            let token = provider.token().await?;
            headers.push((crate::api::AUTH_TOKEN_HEADER.to_string(), token.expose().to_string()));
            token_used = Some(token);
        }
        let query = signing::canonical_query_pairs(&call.query);
        let url = if query.is_empty() {
            format!("{}{}", endpoint_origin(&inner.endpoint, &inner.base_path), raw_path)
        } else {
            format!(
                "{}{}?{}",
                endpoint_origin(&inner.endpoint, &inner.base_path),
                raw_path,
                query
            )
        };
        if tracing::enabled!(target: "fgform::client", tracing::Level::DEBUG) {
            tracing::debug!(
                target: "fgform::client",
                "request {} {} headers={:?} body={}",
                call.method,
                url,
                redact::headers(&headers),
                redact::body(body)
            );
        }
        let method = reqwest::Method::from_bytes(call.method.as_bytes()).expect("valid method");
        let mut req = inner.http.request(method, &url).body(body.to_vec());
        for (k, v) in &headers {
            if !k.eq_ignore_ascii_case("host") {
                req = req.header(k.as_str(), v.as_str());
            }
        }
        for (k, v) in &call.headers {
            req = req.header(*k, v.as_str());
        }
        let started = Instant::now();
        let transport = |source: reqwest::Error| ApiError::Transport {
            method: call.method.to_string(),
            path: raw_path.to_string(),
            source,
        };
        let exchange = async {
            let resp = req.send().await.map_err(transport)?;
            let status = resp.status().as_u16();
            let request_id = request_id_of(resp.headers());
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(retry::parse_retry_after);
            let cff = resp
                .headers()
                .iter()
                .filter(|(k, _)| k.as_str().starts_with("x-cff-") || k.as_str().contains("func-err"))
                .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
                .collect();
            let body = resp.bytes().await.map_err(transport)?;
            Ok::<_, ApiError>(Answer {
                status,
                body,
                request_id,
                retry_after,
                cff,
            })
        };
        let answer = match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(ApiError::Timeout {
                method: call.method.to_string(),
                path: raw_path.to_string(),
                after: timeout,
            }),
        };
        match &answer {
            Ok(a) => tracing::debug!(
                target: "fgform::client",
                "response {} {} -> {} in {:.1} ms request_id={} body={}",
                call.method,
                raw_path,
                a.status,
                started.elapsed().as_secs_f64() * 1000.0,
                a.request_id.as_deref().unwrap_or("-"),
                redact::body(&a.body)
            ),
            Err(e) => tracing::debug!(target: "fgform::client", "response {} {} -> {e}", call.method, raw_path),
        }
        if let (Ok(a), Some(token), Auth::Token(provider)) = (&answer, &token_used, &inner.auth) {
            if a.status == 401 {
                provider.invalidate(token).await;
            }
        }
        answer
    }

    /// Sends a call with retries: 429, 5xx, connection errors and timeouts are retried with
    /// full-jitter backoff (at least `Retry-After`, so a throttled request is not sent again
    /// before the service said), within the attempt budget and the overall deadline; every
    /// attempt first takes a slot from the shared rate limiter, and tells it how it was
    /// answered (a 429 cuts the rate of all tasks, other answers raise it).
    /// Creates are not re-sent after an ambiguous failure (the error comes back instead).
    pub(crate) async fn execute(&self, call: Call) -> Result<Answer, ApiError> {
        let inner = &self.inner;
        let policy = &inner.retry;
        let raw_path = self.raw_path(&call.path);
        let start = Instant::now();
        let mut attempt: u32 = 0;
        let mut reauthenticated = false;
        let mut outcome_unknown = false;
        loop {
            let sent = inner.limiter.acquire().await;
            inner.stats.attempts.fetch_add(1, Ordering::Relaxed);
            attempt += 1;
            // No attempt may outlive the overall deadline.
            let timeout = call
                .timeout
                .unwrap_or(policy.request_timeout)
                .min(
                    policy
                        .deadline
                        .saturating_sub(start.elapsed())
                        .max(call.timeout.unwrap_or_default()),
                )
                .max(Duration::from_millis(1));
            let answer = self.attempt(&call, &raw_path, timeout).await;
            // The limiter learns from every answer: a 429 slows all tasks down, anything
            // else the gateway let through speeds them up (transport failures say nothing).
            match &answer {
                Ok(a) if a.status == 429 => {
                    if inner.limiter.throttled(sent, retry::stated_limit(&a.body)) {
                        tracing::debug!(target: "fgform::client", "429: request rate cut to {:.1}/s", inner.limiter.rate());
                    }
                }
                Ok(_) => inner.limiter.answered(),
                Err(_) => {}
            }
            let (err, retry_after) = match answer {
                Ok(a) if a.status < 400 => return Ok(a),
                Ok(a) if a.status == 404 && call.kind == Kind::Delete && outcome_unknown => {
                    // An earlier attempt whose answer was lost did the delete.
                    return Ok(Answer {
                        status: 204,
                        body: Bytes::new(),
                        request_id: a.request_id,
                        retry_after: None,
                        cff: Vec::new(),
                    });
                }
                Ok(a) => {
                    if a.status == 429 {
                        inner.stats.throttled.fetch_add(1, Ordering::Relaxed);
                    }
                    let err = error_from_body(call.method, &raw_path, a.status, &a.body, a.request_id);
                    (err, a.retry_after)
                }
                Err(e) => (e, None),
            };
            if err.status() == Some(401) && matches!(inner.auth, Auth::Token(_)) && !reauthenticated {
                // The token was revoked or expired early: fetch a new one, once.
                reauthenticated = true;
                attempt -= 1;
                continue;
            }
            if !err.is_retryable() {
                return Err(err);
            }
            if call.kind == Kind::Create && err.is_ambiguous() {
                return Err(err);
            }
            outcome_unknown |= err.is_ambiguous();
            let delay = policy.backoff(attempt - 1, retry_after);
            if attempt >= policy.max_attempts || start.elapsed() + delay > policy.deadline {
                return Err(ApiError::GaveUp {
                    method: call.method.to_string(),
                    path: raw_path,
                    attempts: attempt,
                    elapsed: start.elapsed(),
                    last: Box::new(err),
                });
            }
            inner.stats.retries.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(target: "fgform::client", "retrying {} {} in {:?} after: {err}", call.method, raw_path, delay);
            tokio::time::sleep(delay).await;
        }
    }

    /// Sends a call and decodes a JSON answer.
    pub(crate) async fn json<T: DeserializeOwned>(&self, call: Call) -> Result<T, ApiError> {
        let method = call.method;
        let path = call.path.clone();
        let answer = self.execute(call).await?;
        decode(method, &self.raw_path(&path), &answer)
    }

    /// Sends a call whose answer body does not matter (204s).
    pub(crate) async fn unit(&self, call: Call) -> Result<(), ApiError> {
        self.execute(call).await.map(|_| ())
    }

    /// A create that survives lost answers: `send` is tried; after an ambiguous failure
    /// (timeout, 5xx, reset), or a 409 following one, `lookup` decides. A matching resource
    /// is adopted, an absent one is created again (after a backoff), a different one is a
    /// [`ApiError::Conflict`].
    pub(crate) async fn create_adopting<'f, T>(
        &self,
        kind: &'static str,
        name: &str,
        send: impl Fn() -> BoxFut<'f, T>,
        lookup: impl Fn() -> BoxFut<'f, Lookup<T>>,
    ) -> Result<T, ApiError> {
        let policy = &self.inner.retry;
        let start = Instant::now();
        let mut rounds: u32 = 0;
        let mut ambiguous = false;
        loop {
            let err = match send().await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let conflict_after_loss = ambiguous && err.status() == Some(409);
            if !err.is_ambiguous() && !conflict_after_loss {
                return Err(err);
            }
            ambiguous = true;
            tracing::debug!(target: "fgform::client", "{kind} `{name}`: outcome unknown ({err}); looking it up");
            match lookup().await? {
                Lookup::Found(v) => {
                    self.inner.stats.adopted.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(target: "fgform::client", "{kind} `{name}` was created by an attempt whose answer was lost; adopted it");
                    return Ok(v);
                }
                Lookup::Conflict(detail) => {
                    return Err(ApiError::Conflict {
                        kind,
                        name: name.to_string(),
                        detail,
                    })
                }
                Lookup::Absent if conflict_after_loss => return Err(err),
                Lookup::Absent => {}
            }
            rounds += 1;
            let delay = policy.backoff(rounds - 1, None);
            if rounds >= policy.max_attempts || start.elapsed() + delay > policy.deadline {
                return Err(ApiError::GaveUp {
                    method: "POST".into(),
                    path: format!("({kind} `{name}`)"),
                    attempts: rounds,
                    elapsed: start.elapsed(),
                    last: Box::new(err),
                });
            }
            self.inner.stats.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(delay).await;
        }
    }
}

/// A boxed, `Send` future of a call result: what the closures handed to
/// [`Client::create_adopting`] and the pagination collectors return (boxing keeps the
/// client's futures `Send`, so they can be spawned).
pub(crate) type BoxFut<'f, T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, ApiError>> + Send + 'f>>;

/// Boxes a call future (see [`BoxFut`]).
pub(crate) fn boxed<'f, T>(fut: impl std::future::Future<Output = Result<T, ApiError>> + Send + 'f) -> BoxFut<'f, T> {
    Box::pin(fut)
}

/// `endpoint` without its base path (the raw path already carries it).
fn endpoint_origin<'e>(endpoint: &'e str, base_path: &str) -> &'e str {
    endpoint.strip_suffix(base_path).unwrap_or(endpoint)
}

pub(crate) fn decode<T: DeserializeOwned>(method: &str, path: &str, answer: &Answer) -> Result<T, ApiError> {
    serde_json::from_slice(&answer.body).map_err(|e| ApiError::UnexpectedBody {
        method: method.to_string(),
        path: path.to_string(),
        status: answer.status,
        body: format!(
            "{e}: {}",
            String::from_utf8_lossy(&answer.body)
                .chars()
                .take(256)
                .collect::<String>()
        ),
        request_id: answer.request_id.clone(),
    })
}

/// Percent-encodes one path parameter the way the SDK does (no safe characters beyond
/// the unreserved set): a URN's `:` becomes `%3A`.
pub(crate) fn seg(s: &str) -> String {
    signing::encode(s)
}

/// Turns a 404 into `None`.
pub(crate) fn optional<T>(r: Result<T, ApiError>) -> Result<Option<T>, ApiError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}
