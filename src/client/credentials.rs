//! Credentials: permanent or temporary AK/SK (with `X-Security-Token`), and IAM password
//! tokens (requested once, cached, refreshed before they expire). Every `Debug` impl here
//! redacts the secret parts, so a credential can be logged by accident without harm.

use std::fmt;
use std::time::Duration;

use serde_json::json;

use super::error::ApiError;
pub use crate::api::Secret;
use crate::api::SUBJECT_TOKEN_HEADER;

/// An access key pair, optionally temporary (STS) with its security token.
#[derive(Clone, PartialEq, Eq)]
pub struct AkSk {
    pub access_key: String,
    pub secret_key: Secret,
    pub security_token: Option<Secret>,
}

impl AkSk {
    pub fn new(access_key: impl Into<String>, secret_key: impl Into<String>) -> Self {
        AkSk {
            access_key: access_key.into(),
            secret_key: Secret::new(secret_key),
            security_token: None,
        }
    }

    /// Temporary credentials: the token goes out as `X-Security-Token` and is signed.
    pub fn with_security_token(mut self, token: impl Into<String>) -> Self {
        self.security_token = Some(Secret::new(token));
        self
    }
}

impl fmt::Debug for AkSk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The access key is an identifier, not a secret, but show only its start.
        let shown: String = self.access_key.chars().take(4).collect();
        f.debug_struct("AkSk")
            .field("access_key", &format_args!("{shown}…"))
            .field("secret_key", &self.secret_key)
            .field("security_token", &self.security_token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// An IAM user for the password method of `POST /v3/auth/tokens` (fgs-api.md §13).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PasswordAuth {
    /// `https://iam.{region}.myhuaweicloud.com` (or the emulator's URL).
    pub iam_endpoint: String,
    pub user: String,
    pub password: Secret,
    /// Account (domain) name.
    pub domain: String,
    /// Scope: the project id (preferred) or the project name (usually the region).
    pub project: ProjectScope,
}

/// What the token is scoped to.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum ProjectScope {
    Id(String),
    Name(String),
}

/// How a client authenticates.
#[derive(Clone, Debug)]
pub enum Credentials {
    AkSk(AkSk),
    Password(PasswordAuth),
}

/// A token and when it stops being valid.
#[derive(Clone, Debug)]
struct CachedToken {
    token: Secret,
    /// Refresh from this moment on.
    refresh_at: chrono::DateTime<chrono::Utc>,
}

/// Issues, caches and refreshes IAM tokens; one per client, shared by all tasks (the lock
/// makes concurrent callers wait for one request instead of each asking IAM).
#[derive(Debug)]
pub struct TokenProvider {
    auth: PasswordAuth,
    http: reqwest::Client,
    /// Refresh this long before `expires_at` (capped at half the token's lifetime).
    refresh_margin: Duration,
    cache: tokio::sync::Mutex<Option<CachedToken>>,
    issued: std::sync::atomic::AtomicU64,
}

impl TokenProvider {
    pub fn new(auth: PasswordAuth, http: reqwest::Client) -> Self {
        TokenProvider {
            auth,
            http,
            refresh_margin: Duration::from_secs(3600),
            cache: tokio::sync::Mutex::new(None),
            issued: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Changes how long before expiry the token is refreshed.
    pub fn with_refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// How many tokens this provider requested from IAM.
    pub fn tokens_issued(&self) -> u64 {
        self.issued.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The project scope of the token.
    pub fn scope(&self) -> &ProjectScope {
        &self.auth.project
    }

    /// A valid token: the cached one, or a fresh one when there is none or it is due.
    pub async fn token(&self) -> Result<Secret, ApiError> {
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.as_ref() {
            if chrono::Utc::now() < c.refresh_at {
                return Ok(c.token.clone());
            }
        }
        let fresh = self.request().await?;
        let token = fresh.token.clone();
        *cache = Some(fresh);
        Ok(token)
    }

    /// Forgets the cached token (after the service rejected it).
    pub async fn invalidate(&self, rejected: &Secret) {
        let mut cache = self.cache.lock().await;
        if cache.as_ref().is_some_and(|c| &c.token == rejected) {
            *cache = None;
        }
    }

    async fn request(&self) -> Result<CachedToken, ApiError> {
        let url = format!("{}/v3/auth/tokens", self.auth.iam_endpoint.trim_end_matches('/'));
        let scope = match &self.auth.project {
            ProjectScope::Id(id) => json!({ "project": { "id": id } }),
            ProjectScope::Name(name) => json!({ "project": { "name": name } }),
        };
        let body = json!({ "auth": {
            "identity": { "methods": ["password"], "password": { "user": {
                "name": self.auth.user, "password": self.auth.password.expose(),
                "domain": { "name": self.auth.domain } } } },
            "scope": scope,
        } });
        let wrap = |source: ApiError| ApiError::Token {
            endpoint: self.auth.iam_endpoint.clone(),
            source: Box::new(source),
        };
        let path = "/v3/auth/tokens".to_string();
        tracing::debug!(target: "fgform::client", method = "POST", url = %url, "requesting an IAM token");
        let resp = self
            .http
            .post(&url)
            .header("Content-Type", "application/json;charset=utf8")
            .body(serde_json::to_vec(&body).expect("json"))
            .send()
            .await
            .map_err(|source| {
                wrap(ApiError::Transport {
                    method: "POST".into(),
                    path: path.clone(),
                    source,
                })
            })?;
        let status = resp.status().as_u16();
        let token = resp
            .headers()
            .get(SUBJECT_TOKEN_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let request_id = super::request_id_of(resp.headers());
        let bytes = resp.bytes().await.map_err(|source| {
            wrap(ApiError::Transport {
                method: "POST".into(),
                path: path.clone(),
                source,
            })
        })?;
        tracing::debug!(target: "fgform::client", status, "IAM answered (token redacted)");
        if status >= 400 {
            return Err(wrap(super::error_from_body("POST", &path, status, &bytes, request_id)));
        }
        let Some(token) = token else {
            return Err(wrap(ApiError::UnexpectedBody {
                method: "POST".into(),
                path,
                status,
                body: "no X-Subject-Token header".into(),
                request_id,
            }));
        };
        let now = chrono::Utc::now();
        let expires = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| {
                v.pointer("/token/expires_at")
                    .and_then(|e| e.as_str())
                    .map(str::to_string)
            })
            .and_then(|e| chrono::DateTime::parse_from_rfc3339(&e).ok())
            .map(|e| e.with_timezone(&chrono::Utc))
            .unwrap_or_else(|| now + chrono::Duration::hours(1));
        let refresh_at = refresh_time(now, expires, self.refresh_margin);
        self.issued.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(CachedToken {
            token: Secret::new(token),
            refresh_at,
        })
    }
}

/// When to stop using a token issued at `now` that expires at `expires`: `margin` before
/// expiry, but never in the first half of its lifetime (so a short-lived token is still
/// reused).
pub fn refresh_time(
    now: chrono::DateTime<chrono::Utc>,
    expires: chrono::DateTime<chrono::Utc>,
    margin: Duration,
) -> chrono::DateTime<chrono::Utc> {
    let lifetime = (expires - now).to_std().unwrap_or_default();
    let margin = margin.min(lifetime / 2);
    expires - chrono::Duration::from_std(margin).unwrap_or_default()
}

/// Credentials and settings read from the environment (both the official SDKs' names and
/// the Terraform provider's). `get` is the environment lookup (tests pass a map).
#[derive(Clone, Debug, Default)]
pub struct EnvSettings {
    pub credentials: Option<Credentials>,
    pub project_id: Option<String>,
    pub region: Option<String>,
}

impl EnvSettings {
    /// Reads `HUAWEICLOUD_SDK_AK` / `_SK` / `_PROJECT_ID` / `_SECURITY_TOKEN` / `_REGION`, then
    /// the Terraform provider's `HW_ACCESS_KEY` / `HW_SECRET_KEY` / `HW_PROJECT_ID` /
    /// `HW_REGION_NAME` / `HW_SECURITY_TOKEN`, then an IAM user (`HW_USER_NAME`,
    /// `HW_PASSWORD`, `HW_DOMAIN_NAME`, optional `HW_IAM_ENDPOINT`). Empty values count as
    /// unset. An AK without its SK is ignored (and reported as missing credentials).
    pub fn read(get: impl Fn(&str) -> Option<String>) -> EnvSettings {
        let var = |names: &[&str]| names.iter().find_map(|n| get(n).filter(|v| !v.trim().is_empty()));
        let region = var(&["HUAWEICLOUD_SDK_REGION", "HW_REGION_NAME"]);
        let project_id = var(&["HUAWEICLOUD_SDK_PROJECT_ID", "HW_PROJECT_ID"]);
        let sdk = (var(&["HUAWEICLOUD_SDK_AK"]), var(&["HUAWEICLOUD_SDK_SK"]));
        let tf = (var(&["HW_ACCESS_KEY"]), var(&["HW_SECRET_KEY"]));
        let aksk = match (sdk, tf) {
            ((Some(ak), Some(sk)), _) => Some((ak, sk, var(&["HUAWEICLOUD_SDK_SECURITY_TOKEN", "HW_SECURITY_TOKEN"]))),
            (_, (Some(ak), Some(sk))) => Some((ak, sk, var(&["HW_SECURITY_TOKEN", "HUAWEICLOUD_SDK_SECURITY_TOKEN"]))),
            _ => None,
        };
        let credentials = if let Some((ak, sk, token)) = aksk {
            let mut c = AkSk::new(ak, sk);
            if let Some(t) = token {
                c = c.with_security_token(t);
            }
            Some(Credentials::AkSk(c))
        } else if let (Some(user), Some(password), Some(domain)) =
            (var(&["HW_USER_NAME"]), var(&["HW_PASSWORD"]), var(&["HW_DOMAIN_NAME"]))
        {
            let iam_endpoint = var(&["HW_IAM_ENDPOINT"])
                .or_else(|| region.as_ref().map(|r| format!("https://iam.{r}.myhuaweicloud.com")));
            let project = match (&project_id, &region) {
                (Some(id), _) => Some(ProjectScope::Id(id.clone())),
                (None, Some(r)) => Some(ProjectScope::Name(r.clone())),
                _ => None,
            };
            match (iam_endpoint, project) {
                (Some(iam_endpoint), Some(project)) => Some(Credentials::Password(PasswordAuth {
                    iam_endpoint,
                    user,
                    password: Secret::new(password),
                    domain,
                    project,
                })),
                _ => None,
            }
        } else {
            None
        };
        EnvSettings {
            credentials,
            project_id,
            region,
        }
    }

    /// Reads the process environment.
    pub fn from_process() -> EnvSettings {
        EnvSettings::read(|k| std::env::var(k).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> EnvSettings {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        EnvSettings::read(|k| map.get(k).cloned())
    }

    #[test]
    fn sdk_names_win_over_terraform_names() {
        let s = env(&[
            ("HUAWEICLOUD_SDK_AK", "AK1"),
            ("HUAWEICLOUD_SDK_SK", "SK1"),
            ("HW_ACCESS_KEY", "AK2"),
            ("HW_SECRET_KEY", "SK2"),
            ("HW_PROJECT_ID", "p2"),
            ("HW_REGION_NAME", "cn-north-4"),
            ("HW_SECURITY_TOKEN", "tok"),
        ]);
        let Some(Credentials::AkSk(c)) = s.credentials else {
            panic!()
        };
        assert_eq!(c.access_key, "AK1");
        assert_eq!(c.security_token.as_ref().map(Secret::expose), Some("tok"));
        assert_eq!(s.project_id.as_deref(), Some("p2"));
        assert_eq!(s.region.as_deref(), Some("cn-north-4"));
    }

    #[test]
    fn terraform_names_and_half_pairs() {
        let s = env(&[
            ("HW_ACCESS_KEY", "AK2"),
            ("HW_SECRET_KEY", "SK2"),
            ("HUAWEICLOUD_SDK_AK", "lonely"),
        ]);
        let Some(Credentials::AkSk(c)) = s.credentials else {
            panic!()
        };
        assert_eq!(c.access_key, "AK2");
        assert!(env(&[("HW_ACCESS_KEY", "AK2"), ("HW_SECRET_KEY", " ")])
            .credentials
            .is_none());
    }

    #[test]
    fn iam_user_from_env() {
        let s = env(&[
            ("HW_USER_NAME", "u"),
            ("HW_PASSWORD", "pw"),
            ("HW_DOMAIN_NAME", "acct"),
            ("HW_REGION_NAME", "cn-north-4"),
        ]);
        let Some(Credentials::Password(p)) = s.credentials else {
            panic!()
        };
        assert_eq!(p.iam_endpoint, "https://iam.cn-north-4.myhuaweicloud.com");
        assert_eq!(p.project, ProjectScope::Name("cn-north-4".into()));
    }

    #[test]
    fn tokens_are_refreshed_before_they_expire() {
        let now = chrono::Utc::now();
        let day = now + chrono::Duration::hours(24);
        assert_eq!(
            refresh_time(now, day, Duration::from_secs(3600)),
            day - chrono::Duration::hours(1)
        );
        let short = now + chrono::Duration::minutes(10);
        assert_eq!(
            refresh_time(now, short, Duration::from_secs(3600)),
            now + chrono::Duration::minutes(5)
        );
        assert_eq!(
            refresh_time(now, now - chrono::Duration::seconds(1), Duration::from_secs(60)),
            now - chrono::Duration::seconds(1)
        );
    }

    #[test]
    fn debug_never_shows_secrets() {
        let c = Credentials::AkSk(AkSk::new("HPUAEXAMPLE", "very-secret-key").with_security_token("sts-token-xyz"));
        let text = format!("{c:?}");
        assert!(
            !text.contains("very-secret-key") && !text.contains("sts-token-xyz"),
            "{text}"
        );
        assert!(!text.contains("HPUAEXAMPLE"), "{text}");
        let p = PasswordAuth {
            iam_endpoint: "x".into(),
            user: "u".into(),
            password: Secret::new("hunter2"),
            domain: "d".into(),
            project: ProjectScope::Name("r".into()),
        };
        assert!(!format!("{p:?}").contains("hunter2"));
    }
}
