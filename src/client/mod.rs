//! The FunctionGraph client: typed calls for every route the reconciler needs, AK/SK
//! signing (through [`crate::api::signing::sign`], the signer the emulator verifies with),
//! IAM tokens, retries that respect the service, one shared rate limiter, and adoption of
//! creates whose outcome was lost.
//!
//! | file | concern |
//! |---|---|
//! | `mod.rs` | [`Client`], [`ClientBuilder`] (endpoint/credential resolution), one call with retries |
//! | `credentials.rs` | AK/SK, security token, IAM password tokens (cache + refresh), env lookup |
//! | `retry.rs` | backoff policy, `Retry-After`, the token-bucket rate limiter |
//! | `error.rs` | [`ApiError`], [`ConfigError`] |
//! | `redact.rs` | what `--debug` logs |
//! | `pagination.rs` | the four pagination schemes of fgs-api.md §0.3 |
//! | `functions.rs`, `triggers.rs`, `dependencies.rs`, `workflows.rs`, `async_config.rs`, `tags.rs` | typed calls |
//!
//! Depends on [`crate::api`] only.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use fgform::client::ClientBuilder;
//! let client = ClientBuilder::from_env().region("cn-north-4").build()?;
//! let all = client.list_all_functions().await?;
//! for f in &all {
//!     let config = client.show_function_config(&f.func_urn).await?;
//!     println!("{} {}", config.func_name, config.digest);
//! }
//! # Ok(()) }
//! ```

pub mod async_config;
pub mod credentials;
pub mod dependencies;
pub mod error;
pub mod functions;
pub mod pagination;
pub mod redact;
pub mod retry;
pub mod tags;
pub mod triggers;
pub mod workflows;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::api::signing;
use crate::api::{local, REQUEST_ID_HEADER};

pub use credentials::{AkSk, Credentials, EnvSettings, PasswordAuth, ProjectScope, Secret, TokenProvider};
pub use error::{ApiError, ConfigError};
pub use retry::{RateLimiter, RetryPolicy};

/// Default client-side rate limit, requests per second, shared by all tasks of a client.
pub const DEFAULT_REQUESTS_PER_SECOND: f64 = 20.0;
/// Default burst of the rate limiter.
pub const DEFAULT_BURST: u32 = 20;

/// The default endpoint of a region.
pub fn default_endpoint(region: &str) -> String {
    format!("https://functiongraph.{region}.myhuaweicloud.com")
}

/// Builds a [`Client`]. Precedence for each setting: what the caller set explicitly
/// (`--endpoint`, `provider.endpoint`, …), then the environment ([`ClientBuilder::with_env`]).
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    endpoint: Option<String>,
    region: Option<String>,
    project_id: Option<String>,
    credentials: Option<Credentials>,
    retry: RetryPolicy,
    requests_per_second: Option<f64>,
    burst: u32,
    user_agent: String,
    token_refresh_margin: Option<Duration>,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            endpoint: None,
            region: None,
            project_id: None,
            credentials: None,
            retry: RetryPolicy::default(),
            requests_per_second: Some(DEFAULT_REQUESTS_PER_SECOND),
            burst: DEFAULT_BURST,
            user_agent: format!("fgform/{}", env!("CARGO_PKG_VERSION")),
            token_refresh_margin: None,
        }
    }
}

impl ClientBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder pre-filled from the process environment (see [`EnvSettings::read`]).
    pub fn from_env() -> Self {
        Self::new().with_env(EnvSettings::from_process())
    }

    /// Fills whatever is still unset from `env`.
    pub fn with_env(mut self, env: EnvSettings) -> Self {
        if self.credentials.is_none() {
            self.credentials = env.credentials;
        }
        if self.project_id.is_none() {
            self.project_id = env.project_id;
        }
        if self.region.is_none() {
            self.region = env.region;
        }
        self
    }

    /// Overrides the endpoint (`--endpoint` / `provider.endpoint`).
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    pub fn project_id(mut self, project_id: impl Into<String>) -> Self {
        self.project_id = Some(project_id.into());
        self
    }

    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    pub fn retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Client-side rate limit shared by all tasks; `None` (or ≤ 0) disables it.
    pub fn requests_per_second(mut self, rate: Option<f64>) -> Self {
        self.requests_per_second = rate.filter(|r| *r > 0.0);
        self
    }

    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = burst.max(1);
        self
    }

    /// The `User-Agent` header (it is signed).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Refresh IAM tokens this long before they expire (default 1 h, at most half the
    /// token's lifetime).
    pub fn token_refresh_margin(mut self, margin: Duration) -> Self {
        self.token_refresh_margin = Some(margin);
        self
    }

    /// Resolves endpoint, region, project and credentials. Missing credentials for a named
    /// region are an error; only an explicit loopback endpoint (the local emulator) falls
    /// back to the emulator's documented default credentials.
    pub fn build(self) -> Result<Client, ConfigError> {
        let endpoint = match (&self.endpoint, &self.region) {
            (Some(e), _) => e.trim_end_matches('/').to_string(),
            (None, Some(r)) => default_endpoint(r),
            (None, None) => return Err(ConfigError::MissingRegion),
        };
        let url = reqwest::Url::parse(&endpoint).map_err(|e| ConfigError::BadEndpoint {
            endpoint: endpoint.clone(),
            reason: e.to_string(),
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(ConfigError::BadEndpoint {
                endpoint,
                reason: "expected http(s)://host[:port]".into(),
            });
        }
        if url.query().is_some() {
            return Err(ConfigError::BadEndpoint {
                endpoint,
                reason: "an endpoint cannot carry a query".into(),
            });
        }
        let host = match url.port() {
            Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_string(),
        };
        let base_path = url.path().trim_end_matches('/').to_string();
        let loopback = crate::api::is_loopback(url.as_str());
        let (credentials, project_id, region) = match self.credentials {
            Some(c) => {
                let region = self.region.clone().unwrap_or_else(|| {
                    if loopback {
                        local::REGION.to_string()
                    } else {
                        String::new()
                    }
                });
                let project = match (self.project_id, &c) {
                    (Some(p), _) => p,
                    (
                        None,
                        Credentials::Password(PasswordAuth {
                            project: ProjectScope::Id(id),
                            ..
                        }),
                    ) => id.clone(),
                    (None, _) if loopback => local::PROJECT_ID.to_string(),
                    (None, _) => {
                        return Err(ConfigError::MissingProjectId {
                            region: if region.is_empty() { endpoint } else { region },
                        })
                    }
                };
                (c, project, region)
            }
            None if loopback && self.region.as_deref().is_none_or(|r| r == local::REGION) => (
                Credentials::AkSk(AkSk::new(local::ACCESS_KEY, local::SECRET_KEY)),
                self.project_id.unwrap_or_else(|| local::PROJECT_ID.to_string()),
                local::REGION.to_string(),
            ),
            None => {
                return Err(ConfigError::MissingCredentials {
                    region: self.region.unwrap_or_else(|| "(none)".into()),
                    endpoint,
                })
            }
        };
        let mut http = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(Duration::from_secs(10).min(self.retry.request_timeout))
            .pool_max_idle_per_host(64);
        if loopback {
            http = http.no_proxy();
        }
        let http = http.build().map_err(ConfigError::Http)?;
        let auth = match credentials {
            Credentials::AkSk(c) => Auth::AkSk(c),
            Credentials::Password(p) => {
                let mut provider = TokenProvider::new(p, http.clone());
                if let Some(m) = self.token_refresh_margin {
                    provider = provider.with_refresh_margin(m);
                }
                Auth::Token(Arc::new(provider))
            }
        };
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                endpoint,
                host,
                base_path,
                region,
                project_id,
                auth,
                retry: self.retry,
                limiter: self.requests_per_second.map(|r| RateLimiter::new(r, self.burst)),
                user_agent: self.user_agent,
                stats: Stats::default(),
            }),
        })
    }
}

#[derive(Debug)]
enum Auth {
    AkSk(AkSk),
    Token(Arc<TokenProvider>),
}

#[derive(Debug, Default)]
struct Stats {
    attempts: AtomicU64,
    retries: AtomicU64,
    throttled: AtomicU64,
    adopted: AtomicU64,
}

/// Counters of one client (all tasks together).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClientStats {
    /// HTTP requests sent (first attempts and retries).
    pub attempts: u64,
    /// Requests sent again after a retryable failure (including creates re-sent after a
    /// lookup proved they had not happened).
    pub retries: u64,
    /// Answers with HTTP 429.
    pub throttled: u64,
    /// Ambiguous creates resolved by adopting the resource that had been made.
    pub adopted: u64,
    /// IAM tokens requested.
    pub tokens_issued: u64,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    endpoint: String,
    host: String,
    base_path: String,
    region: String,
    project_id: String,
    auth: Auth,
    retry: RetryPolicy,
    limiter: Option<RateLimiter>,
    user_agent: String,
    stats: Stats,
}

/// A FunctionGraph client. Cheap to clone; clones share the connection pool, the token
/// cache, the rate limiter and the counters.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

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
}

impl Call {
    pub fn get(path: String) -> Call {
        Call {
            method: "GET",
            path,
            query: Vec::new(),
            body: None,
            kind: Kind::Read,
        }
    }

    pub fn delete(path: String) -> Call {
        Call {
            method: "DELETE",
            path,
            query: Vec::new(),
            body: None,
            kind: Kind::Delete,
        }
    }

    pub fn with_body<T: Serialize>(method: &'static str, path: String, body: &T, kind: Kind) -> Call {
        Call {
            method,
            path,
            query: Vec::new(),
            body: Some(serde_json::to_vec(body).expect("wire types serialise")),
            kind,
        }
    }

    pub fn query(mut self, key: &str, value: impl ToString) -> Call {
        self.query.push((key.to_string(), value.to_string()));
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
    /// The endpoint (scheme + authority + optional base path).
    pub fn endpoint(&self) -> &str {
        &self.inner.endpoint
    }

    pub fn region(&self) -> &str {
        &self.inner.region
    }

    pub fn project_id(&self) -> &str {
        &self.inner.project_id
    }

    /// The region and projects the endpoint serves when it is an fgform emulator (its
    /// unsigned `GET /_emulator/health`); `None` for anything else, such as the cloud, whose
    /// endpoint names its region in its host.
    pub async fn emulator_identity(&self) -> Option<(String, Vec<String>)> {
        let url = format!("{}/_emulator/health", self.inner.endpoint.trim_end_matches('/'));
        let response = self
            .inner
            .http
            .get(url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        let health: serde_json::Value = response.json().await.ok()?;
        let region = health.get("region")?.as_str()?.to_string();
        let mut projects: Vec<String> = health
            .get("project_ids")
            .and_then(|p| p.as_array())
            .map(|a| a.iter().filter_map(|p| p.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        if let Some(p) = health.get("project_id").and_then(|p| p.as_str()) {
            if !projects.iter().any(|q| q == p) {
                projects.push(p.to_string());
            }
        }
        Some((region, projects))
    }

    /// Counters so far.
    pub fn stats(&self) -> ClientStats {
        let s = &self.inner.stats;
        ClientStats {
            attempts: s.attempts.load(Ordering::Relaxed),
            retries: s.retries.load(Ordering::Relaxed),
            throttled: s.throttled.load(Ordering::Relaxed),
            adopted: s.adopted.load(Ordering::Relaxed),
            tokens_issued: match &self.inner.auth {
                Auth::Token(t) => t.tokens_issued(),
                Auth::AkSk(_) => 0,
            },
        }
    }

    /// The unqualified URN of a function in this client's region and project (package
    /// `default` unless given).
    pub fn function_urn(&self, package: Option<&str>, name: &str) -> String {
        crate::api::FunctionUrn::unqualified(
            &self.inner.region,
            &self.inner.project_id,
            package.unwrap_or("default"),
            name,
        )
    }

    /// The qualified URN (`…:latest`, `…:v1`, `…:!alias`) of a function in this client's
    /// region and project.
    pub fn qualified_function_urn(
        &self,
        package: Option<&str>,
        name: &str,
        qualifier: &crate::api::Qualifier,
    ) -> String {
        crate::api::FunctionUrn::qualified(
            &self.inner.region,
            &self.inner.project_id,
            package.unwrap_or("default"),
            name,
            qualifier,
        )
    }

    /// The raw path of an API call: base path + `/v2/{project}` + `rest`.
    fn raw_path(&self, rest: &str) -> String {
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
            let body = resp.bytes().await.map_err(transport)?;
            Ok::<_, ApiError>(Answer {
                status,
                body,
                request_id,
                retry_after,
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
    /// full-jitter backoff (at least `Retry-After`), within the attempt budget and the
    /// overall deadline; every attempt first takes a slot from the shared rate limiter.
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
            if let Some(limiter) = &inner.limiter {
                limiter.acquire().await;
            }
            inner.stats.attempts.fetch_add(1, Ordering::Relaxed);
            attempt += 1;
            // No attempt may outlive the overall deadline.
            let timeout = policy
                .request_timeout
                .min(policy.deadline.saturating_sub(start.elapsed()))
                .max(Duration::from_millis(1));
            let (err, retry_after) = match self.attempt(&call, &raw_path, timeout).await {
                Ok(a) if a.status < 400 => return Ok(a),
                Ok(a) if a.status == 404 && call.kind == Kind::Delete && outcome_unknown => {
                    // An earlier attempt whose answer was lost did the delete.
                    return Ok(Answer {
                        status: 204,
                        body: Bytes::new(),
                        request_id: a.request_id,
                        retry_after: None,
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

fn decode<T: DeserializeOwned>(method: &str, path: &str, answer: &Answer) -> Result<T, ApiError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> EnvSettings {
        let map: std::collections::HashMap<String, String> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        EnvSettings::read(|k| map.get(k).cloned())
    }

    #[test]
    fn endpoint_defaults_to_the_region_and_can_be_overridden() {
        let c = ClientBuilder::new()
            .with_env(env(&[
                ("HW_ACCESS_KEY", "AK"),
                ("HW_SECRET_KEY", "SK"),
                ("HW_PROJECT_ID", "p"),
            ]))
            .region("cn-north-4")
            .build()
            .unwrap();
        assert_eq!(c.endpoint(), "https://functiongraph.cn-north-4.myhuaweicloud.com");
        assert_eq!(c.inner.host, "functiongraph.cn-north-4.myhuaweicloud.com");
        let c = ClientBuilder::new()
            .with_env(env(&[
                ("HW_ACCESS_KEY", "AK"),
                ("HW_SECRET_KEY", "SK"),
                ("HW_PROJECT_ID", "p"),
            ]))
            .region("cn-north-4")
            .endpoint("https://fg.example.com:8443/")
            .build()
            .unwrap();
        assert_eq!(c.endpoint(), "https://fg.example.com:8443");
        assert_eq!(c.inner.host, "fg.example.com:8443");
        assert_eq!(
            c.function_urn(None, "hello"),
            "urn:fss:cn-north-4:p:function:default:hello"
        );
    }

    #[test]
    fn a_named_region_without_credentials_is_an_error_with_a_hint() {
        let err = ClientBuilder::new().region("cn-north-4").build().unwrap_err();
        assert!(matches!(err, ConfigError::MissingCredentials { .. }), "{err}");
        assert!(err.hint().unwrap().contains("HUAWEICLOUD_SDK_AK"));
        // Even with a loopback endpoint, a named (non-local) region never falls back.
        let err = ClientBuilder::new()
            .region("cn-north-4")
            .endpoint("http://127.0.0.1:8686")
            .build()
            .unwrap_err();
        assert!(matches!(err, ConfigError::MissingCredentials { .. }), "{err}");
        assert!(matches!(
            ClientBuilder::new().build().unwrap_err(),
            ConfigError::MissingRegion
        ));
        let err = ClientBuilder::new()
            .with_env(env(&[("HW_ACCESS_KEY", "AK"), ("HW_SECRET_KEY", "SK")]))
            .region("cn-north-4")
            .build()
            .unwrap_err();
        assert!(matches!(err, ConfigError::MissingProjectId { .. }), "{err}");
    }

    #[test]
    fn explicit_loopback_endpoint_uses_the_emulator_defaults() {
        let c = ClientBuilder::new().endpoint("http://127.0.0.1:8686").build().unwrap();
        assert_eq!(c.project_id(), local::PROJECT_ID);
        assert_eq!(c.region(), local::REGION);
        assert!(ClientBuilder::new().endpoint("ftp://x").build().is_err());
        assert!(ClientBuilder::new().endpoint("not a url").build().is_err());
    }

    #[test]
    fn error_bodies_in_every_documented_spelling() {
        let e = error_from_body(
            "GET",
            "/p",
            404,
            br#"{"error_code":"FSS.1051","error_msg":"Not found"}"#,
            None,
        );
        assert_eq!((e.code(), e.status()), (Some("FSS.1051"), Some(404)));
        let e = error_from_body(
            "GET",
            "/p",
            401,
            br#"{"error_msg":"x","error_code":"APIGW.0301","request_id":"r1"}"#,
            None,
        );
        assert_eq!(e.request_id(), Some("r1"));
        let e = error_from_body(
            "GET",
            "/p",
            400,
            br#"{"errorCode":"A","errorMsg":"b"}"#,
            Some("h".into()),
        );
        assert_eq!((e.code(), e.request_id()), (Some("A"), Some("h")));
        let e = error_from_body("GET", "/p", 400, br#"{"error":{"code":"N.1","message":"m"}}"#, None);
        assert_eq!(e.code(), Some("N.1"));
        let e = error_from_body("GET", "/p", 502, b"<html>bad gateway</html>", None);
        assert!(matches!(e, ApiError::UnexpectedBody { status: 502, .. }), "{e}");
        assert!(e.is_retryable());
    }
}
