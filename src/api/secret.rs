//! A value that must never reach logs, plan output or error messages: function secrets,
//! secret keys, security tokens, IAM passwords and tokens. The one `Secret` type: the model
//! and the client's credentials both use it.

use std::fmt;

use sha2::{Digest, Sha256};

/// A secret string. `Debug` and `Display` print `(secret)`; only [`Secret::expose`] gives the
/// value, so every place that sends it to the API is greppable.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The plain value, for the request body that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// SHA-256 hex of the value: the API masks `encrypted_user_data` in responses, so drift is
    /// detected by comparing this hash with the one kept in state.
    pub fn fingerprint(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(secret)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print_their_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(
            format!("{secret} {secret:?} {secret:#?}"),
            "(secret) Secret(***) Secret(***)"
        );
        assert_eq!(secret.expose(), "hunter2");
        assert_ne!(secret.fingerprint(), "hunter2");
    }
}
