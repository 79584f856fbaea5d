//! [`ApiError`]: what a FunctionGraph call can fail with, and [`ConfigError`]: why a
//! [`Client`](super::Client) cannot be built. Both are typed so the reconciler can branch
//! on them (`is_not_found`, `code`), and both render through `crate::error`.

use std::time::Duration;

/// A failed call. Every variant names the method and the path (never the query or
/// headers, so no secret can leak through it).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The service answered with an error status and its documented error body.
    #[error("{method} {path} returned HTTP {status} {code}: {message} (request id {})", request_id.as_deref().unwrap_or("none"))]
    Status {
        method: String,
        path: String,
        status: u16,
        /// `error_code`, e.g. `FSS.1051` or `APIGW.0301`.
        code: String,
        /// `error_msg`.
        message: String,
        request_id: Option<String>,
    },
    /// A status or body the client cannot interpret (truncated body kept for the report).
    #[error("{method} {path} returned HTTP {status} with an unexpected body (request id {}): {body}", request_id.as_deref().unwrap_or("none"))]
    UnexpectedBody {
        method: String,
        path: String,
        status: u16,
        body: String,
        request_id: Option<String>,
    },
    /// The connection failed or was reset before an answer arrived.
    #[error("{method} {path} failed before an answer arrived")]
    Transport {
        method: String,
        path: String,
        #[source]
        source: reqwest::Error,
    },
    /// One attempt took longer than the per-request timeout.
    #[error("{method} {path} got no answer within {:?}", after)]
    Timeout {
        method: String,
        path: String,
        after: Duration,
    },
    /// Retrying stopped: the overall deadline or the attempt budget ran out. `last` is the
    /// error of the final attempt.
    #[error("{method} {path} still failing after {attempts} attempts in {:.1}s", elapsed.as_secs_f64())]
    GaveUp {
        method: String,
        path: String,
        attempts: u32,
        elapsed: Duration,
        #[source]
        last: Box<ApiError>,
    },
    /// A create whose outcome was unknown (timeout, 5xx, reset) found an existing resource
    /// of that name that does not match what was sent, so it was not adopted.
    #[error("{kind} `{name}` already exists but does not match what was sent ({detail})")]
    Conflict {
        kind: &'static str,
        name: String,
        detail: String,
    },
    /// The IAM token could not be obtained.
    #[error("cannot obtain an IAM token from {endpoint}")]
    Token {
        endpoint: String,
        #[source]
        source: Box<ApiError>,
    },
}

impl ApiError {
    /// HTTP status of a `Status`/`UnexpectedBody` error (looking through `GaveUp`).
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } | ApiError::UnexpectedBody { status, .. } => Some(*status),
            ApiError::GaveUp { last, .. } => last.status(),
            _ => None,
        }
    }

    /// `error_code` of a `Status` error (looking through `GaveUp`).
    pub fn code(&self) -> Option<&str> {
        match self {
            ApiError::Status { code, .. } => Some(code),
            ApiError::GaveUp { last, .. } => last.code(),
            _ => None,
        }
    }

    /// The request id the service returned, if any.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            ApiError::Status { request_id, .. } | ApiError::UnexpectedBody { request_id, .. } => request_id.as_deref(),
            ApiError::GaveUp { last, .. } => last.request_id(),
            _ => None,
        }
    }

    /// A 404 of any kind (function, version, trigger, dependency, async config…).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// Worth another attempt: throttling, server errors, lost connections and timeouts.
    pub fn is_retryable(&self) -> bool {
        match self {
            ApiError::Status { status, .. } | ApiError::UnexpectedBody { status, .. } => {
                *status == 429 || (*status >= 500 && *status != 501)
            }
            ApiError::Transport { .. } | ApiError::Timeout { .. } => true,
            // IAM throttled or failed: the call itself was never sent, so try again.
            ApiError::Token { source, .. } => source.is_retryable(),
            _ => false,
        }
    }

    /// The outcome of a non-idempotent call is unknown: it may or may not have happened.
    /// 429 is not ambiguous (the gateway rejects before the service acts).
    pub fn is_ambiguous(&self) -> bool {
        !matches!(self, ApiError::Token { .. }) && self.is_retryable() && self.status() != Some(429)
    }

    /// The opposite question for a call that changes something: it certainly changed
    /// nothing. True when the service refused it (4xx other than a timeout or a conflict;
    /// 429 is the gateway refusing before the service acts) or it was never sent (no token).
    /// Anything else (a lost answer, 5xx, giving up after a failed lookup) may have taken
    /// effect. Unlike [`ApiError::is_ambiguous`], which decides one retry, this is asked of
    /// a call's final error, `GaveUp` included.
    pub fn certainly_without_effect(&self) -> bool {
        match self {
            ApiError::Token { .. } => true,
            ApiError::Status { status, .. } => (400..500).contains(status) && !matches!(status, 408 | 409),
            _ => false,
        }
    }

    /// A hint for the `hint:` line, when one helps.
    pub fn hint(&self) -> Option<String> {
        match self.code() {
            Some("APIGW.0301") => Some(
                "check the access key, secret key and security token (HUAWEICLOUD_SDK_AK/SK/SECURITY_TOKEN \
                 or HW_ACCESS_KEY/HW_SECRET_KEY/HW_SECURITY_TOKEN) and the system clock"
                    .into(),
            ),
            Some("FSS.0429") | Some("APIGW.0308") => Some(
                "the service is throttling; lower the client's requests per second or parallelism, or retry later"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// Why a client could not be configured.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no credentials for region `{region}` (endpoint {endpoint})")]
    MissingCredentials { region: String, endpoint: String },
    #[error("no project id for region `{region}`")]
    MissingProjectId { region: String },
    #[error("no region and no endpoint: cannot tell which FunctionGraph to talk to")]
    MissingRegion,
    #[error("invalid endpoint `{endpoint}`: {reason}")]
    BadEndpoint { endpoint: String, reason: String },
    #[error("cannot build the HTTP client")]
    Http(#[source] reqwest::Error),
}

impl ConfigError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            ConfigError::MissingCredentials { .. } => Some(
                "set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK (or HW_ACCESS_KEY and HW_SECRET_KEY), or an IAM \
                 user (HW_USER_NAME, HW_PASSWORD, HW_DOMAIN_NAME); to use the local emulator pass \
                 --endpoint http://127.0.0.1:8686 explicitly"
                    .into(),
            ),
            ConfigError::MissingProjectId { .. } => {
                Some("set HUAWEICLOUD_SDK_PROJECT_ID or HW_PROJECT_ID to the project of that region".into())
            }
            ConfigError::MissingRegion => Some("set HW_REGION_NAME (e.g. cn-north-4) or pass --endpoint".into()),
            _ => None,
        }
    }
}

/// Renders an error with its hint as `anyhow::Error`, so `crate::error::render` prints
/// `error:` / `Caused by:` / `hint:`.
pub fn with_hint<E>(err: E, hint: Option<String>) -> anyhow::Error
where
    E: std::error::Error + Send + Sync + 'static,
{
    let err = anyhow::Error::new(err);
    match hint {
        Some(h) => err.context(crate::error::Hint(h)),
        None => err,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_display_names_everything() {
        let e = ApiError::Status {
            method: "GET".into(),
            path: "/v2/p/fgs/functions/f/config".into(),
            status: 404,
            code: "FSS.1051".into(),
            message: "Not found the function".into(),
            request_id: Some("abc123".into()),
        };
        assert_eq!(
            e.to_string(),
            "GET /v2/p/fgs/functions/f/config returned HTTP 404 FSS.1051: Not found the function (request id abc123)"
        );
        assert!(e.is_not_found() && !e.is_retryable());
    }

    #[test]
    fn renders_through_crate_error_with_hint() {
        let e = ApiError::Status {
            method: "GET".into(),
            path: "/v2/p/fgs/functions".into(),
            status: 401,
            code: "APIGW.0301".into(),
            message: "Incorrect IAM authentication information: verify aksk signature fail".into(),
            request_id: None,
        };
        let hint = e.hint();
        let text = crate::error::render(&with_hint(e, hint).context("failed to list functions"));
        assert!(text.starts_with("error: failed to list functions\n"), "{text}");
        assert!(
            text.contains("Caused by: GET /v2/p/fgs/functions returned HTTP 401 APIGW.0301"),
            "{text}"
        );
        assert!(text.contains("\nhint: check the access key"), "{text}");
    }

    #[test]
    fn ambiguity() {
        let s = |status| ApiError::Status {
            method: "POST".into(),
            path: "/".into(),
            status,
            code: String::new(),
            message: String::new(),
            request_id: None,
        };
        assert!(s(503).is_ambiguous() && !s(429).is_ambiguous() && s(429).is_retryable());
        assert!(!s(409).is_retryable());
        assert!(s(400).certainly_without_effect() && s(429).certainly_without_effect());
        for status in [408, 409, 500, 503] {
            assert!(!s(status).certainly_without_effect(), "{status}");
        }
        let gave_up = ApiError::GaveUp {
            method: "POST".into(),
            path: "/".into(),
            attempts: 3,
            elapsed: Duration::ZERO,
            last: Box::new(s(400)),
        };
        assert!(
            !gave_up.certainly_without_effect(),
            "earlier attempts may have happened"
        );
    }
}
