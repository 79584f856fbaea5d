//! The FunctionGraph client: typed calls for every route the reconciler needs, AK/SK
//! signing (through [`crate::api::signing::sign`], the signer the emulator verifies with),
//! IAM tokens, retries that respect the service, one shared rate limiter, and adoption of
//! creates whose outcome was lost.
//!
//! | file | concern |
//! |---|---|
//! | `mod.rs` | [`Client`], [`ClientBuilder`] (endpoint/credential resolution) |
//! | `transport.rs` | one call on the wire: signing, sending, retries, adopting lost creates, decoding |
//! | `credentials.rs` | AK/SK, security token, IAM password tokens (cache + refresh), env lookup |
//! | `retry.rs` | backoff policy, `Retry-After`, the token-bucket rate limiter that adapts to 429s |
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
mod clock;
pub mod credentials;
pub mod dependencies;
pub mod error;
pub mod functions;
pub mod invoke;
pub mod pagination;
pub mod redact;
pub mod retry;
pub mod tags;
mod transport;
pub mod triggers;
pub mod workflows;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::api::local;

pub use credentials::{AkSk, Credentials, EnvSettings, PasswordAuth, ProjectScope, Secret, TokenProvider};
pub use error::{ApiError, ConfigError};
pub use retry::{RateLimiter, RetryPolicy};
pub(crate) use transport::{boxed, error_from_body, optional, request_id_of, seg, BoxFut, Call, Kind, Lookup};

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

    /// Cap of the client-side rate shared by all tasks; `None` (or ≤ 0): no cap, so unlimited
    /// until the service answers 429. Below the cap the rate adapts to 429s either way
    /// (see [`RateLimiter`]).
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
                limiter: RateLimiter::adaptive(self.requests_per_second, self.burst),
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
    limiter: RateLimiter,
    user_agent: String,
    stats: Stats,
}

/// A FunctionGraph client. Cheap to clone; clones share the connection pool, the token
/// cache, the rate limiter and the counters.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
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
        let health = self.emulator_get("health").await?;
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

    /// The JSON of an fgform emulator's unsigned control-plane `GET /_emulator/{path}`;
    /// `None` from anything else (the cloud answers no such path).
    pub(crate) async fn emulator_get(&self, path: &str) -> Option<serde_json::Value> {
        let url = format!("{}/_emulator/{path}", self.inner.endpoint.trim_end_matches('/'));
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
        response.json().await.ok()
    }

    /// An unsigned `GET url`: a dependency version's `download_link` (a URL that serves the
    /// package by itself, like a pre-signed OBS link or the emulator's package URL).
    pub async fn download(&self, url: &str) -> Result<bytes::Bytes, ApiError> {
        let shown = url.split('?').next().unwrap_or(url).to_string();
        let transport = |source| ApiError::Transport {
            method: "GET".into(),
            path: shown.clone(),
            source,
        };
        let response = self.inner.http.get(url).send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(transport)?;
        if !(200..300).contains(&status) {
            return Err(ApiError::UnexpectedBody {
                method: "GET".into(),
                path: shown,
                status,
                body: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
                request_id: None,
            });
        }
        Ok(body)
    }

    /// The shared limiter's request rate now, requests per second (infinite while no cap
    /// was set and no 429 came back).
    pub fn request_rate(&self) -> f64 {
        self.inner.limiter.rate()
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
}

#[cfg(test)]
mod tests;
