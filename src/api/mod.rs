//! Wire-level facts shared by the client and the emulator: the operations, URNs, request
//! signing, the error envelope, header names and the default local credentials. No I/O here.

pub mod error;
pub mod limits;
pub mod operation;
pub mod rules;
pub mod schedule;
pub mod signing;
pub mod types;
pub mod urn;

pub use error::ApiErrorBody;
pub use operation::Operation;
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
