//! Wire-level facts shared by the client and the emulator: the operations, URNs, request
//! signing, the error envelope, header names and the default local credentials. No I/O here.

pub mod error;
pub mod limits;
pub mod operation;
pub mod rules;
pub mod schedule;
pub mod secret;
pub mod signing;
pub mod types;
pub mod urn;

pub use error::ApiErrorBody;
pub use operation::Operation;
pub use secret::Secret;
pub use urn::{FunctionUrn, Qualifier};

/// Response header carrying the request id (32 hex).
pub const REQUEST_ID_HEADER: &str = "X-Request-Id";
/// IAM response header carrying a token.
pub const SUBJECT_TOKEN_HEADER: &str = "X-Subject-Token";
/// Request header for token auth.
pub const AUTH_TOKEN_HEADER: &str = "X-Auth-Token";

/// Credentials the embedded emulator accepts by default (documented in README). They
/// open nothing but a local process.
pub mod local {
    /// Default access key of `fgform emulator`.
    pub const ACCESS_KEY: &str = "FGFORMLOCALACCESSKEY";
    /// Default secret key of `fgform emulator`.
    pub const SECRET_KEY: &str = "fgform-local-secret-key";
    /// Default project id of `fgform emulator`.
    pub const PROJECT_ID: &str = "0123456789abcdef0123456789abcdef";
    /// Default region of `fgform emulator`.
    pub const REGION: &str = "local-1";
    /// IAM user, account and password the emulator's `/v3/auth/tokens` accepts by default.
    pub const IAM_USER: &str = "fgform";
    pub const IAM_PASSWORD: &str = "fgform-local-password";
}

/// An error and its causes, `: `-separated (for messages that carry one line).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(inner) = cause {
        text.push_str(&format!(": {inner}"));
        cause = inner.source();
    }
    text
}

/// Whether `endpoint` (`http(s)://HOST[:PORT]/…`, or a bare authority) names this machine:
/// 127.0.0.0/8, `[::1]` or `localhost`. Pure: nothing is resolved.
pub fn is_loopback(endpoint: &str) -> bool {
    let rest = endpoint.split_once("://").map_or(endpoint, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::is_loopback;

    #[test]
    fn loopback_endpoints() {
        for yes in [
            "http://127.0.0.1:8686",
            "http://localhost:1/x",
            "http://LOCALHOST",
            "http://[::1]:80",
            "http://user@127.0.0.1:1/",
            "127.0.0.2",
        ] {
            assert!(is_loopback(yes), "{yes}");
        }
        for no in [
            "https://functiongraph.cn-north-4.myhuaweicloud.com",
            "http://10.0.0.1:80",
            "http://[::2]:1",
            "http://localhost.example.com",
        ] {
            assert!(!is_loopback(no), "{no}");
        }
    }
}
