//! What an instance of one function version needs: built from the store under its lock
//! (`routes/invoke.rs`), run by [`super::Runtimes`] outside it.

use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

/// The interpreters the emulator runs code on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Language {
    Python,
    Node,
}

impl Language {
    /// Every `Python*` runtime runs on `python3`, every `Node.js*` one on `node`.
    pub fn of(runtime: &str) -> Option<Language> {
        if runtime.starts_with("Python") {
            Some(Language::Python)
        } else if runtime.starts_with("Node.js") {
            Some(Language::Node)
        } else {
            None
        }
    }

    /// The program that runs it, looked up on the emulator's PATH.
    pub fn program(self) -> &'static str {
        match self {
            Language::Python => "python3",
            Language::Node => "node",
        }
    }
}

/// A code or dependency package: its digest, and its bytes when they may not be unpacked
/// yet (read from the blob store under the store lock).
#[derive(Debug, Clone)]
pub(crate) struct Package {
    pub digest: String,
    pub bytes: Option<bytes::Bytes>,
}

/// The dummy credentials a handler's context hands out.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Credentials {
    pub access_key: String,
    pub secret_key: String,
    pub token: String,
    pub security_token: String,
}

/// What the shim is told when an instance starts.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Setup {
    pub handler: String,
    pub initializer: Option<String>,
    pub initializer_ms: u64,
    /// Import paths: the code, then each dependency package.
    pub paths: Vec<String>,
    pub code_root: String,
    pub user_data: Map<String, Value>,
    pub function_name: String,
    pub version: String,
    pub package: String,
    pub project_id: String,
    pub memory_mb: u64,
    pub cpu: i64,
    pub credentials: Credentials,
    /// Python's address-space limit (Node's limit is a flag).
    pub address_space_bytes: Option<u64>,
}

/// One function version as its instances run it.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    /// The unqualified function URN.
    pub urn: String,
    pub version: String,
    /// Changes whenever anything an instance was started with changes: a new fingerprint
    /// retires the warm instances of the old one.
    pub fingerprint: String,
    pub runtime: String,
    pub language: Language,
    pub memory_mb: u64,
    pub timeout: Duration,
    pub init_timeout: Duration,
    /// `strategy_config.concurrency`: `None` when unlimited (-1), `Some(0)` when disabled.
    pub max_instances: Option<usize>,
    /// The handler's whole environment: `RUNTIME_*`, then the function's variables and its
    /// decrypted secrets.
    pub env: Vec<(String, String)>,
    pub code: Package,
    pub dependencies: Vec<Package>,
    pub setup: Setup,
}

impl Spec {
    /// The pool that runs this spec: one per function version.
    pub fn pool_key(&self) -> String {
        format!("{}:{}", self.urn, self.version)
    }
}
