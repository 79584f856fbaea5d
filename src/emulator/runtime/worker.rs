//! One function instance: a `python3` or `node` process running the shim (`shim.py`,
//! `shim.js`), spoken to in JSON lines over its stdin and stdout. Its stderr (what the
//! handler's code writes outside an invocation, and the interpreter's own last words) is
//! kept as a short tail for crash reports.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use super::spec::{Language, Spec};

/// Bytes of stderr kept per instance.
const STDERR_TAIL: usize = 8 * 1024;

/// What the shim answers to the setup and to each invocation.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Answer {
    pub ok: bool,
    #[serde(default)]
    pub result: Option<String>,
    /// `{errorType, errorMessage, stackTrace}`.
    #[serde(default)]
    pub error: Option<Value>,
    /// The handler ran out of memory.
    #[serde(default)]
    pub oom: bool,
    #[serde(default)]
    pub log: String,
    #[serde(default)]
    pub memory_mb: f64,
}

/// One invocation as the shim reads it.
#[derive(Debug, Serialize)]
pub(crate) struct Request<'a> {
    pub request_id: &'a str,
    pub event: &'a Value,
    pub remaining_ms: u64,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub alias: &'a str,
}

/// Why an instance gave no answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Failure {
    /// Still running at its deadline: killed.
    Timeout,
    /// Killed for going over its memory (Node's heap limit).
    OutOfMemory(String),
    /// It exited or broke the protocol; what it last wrote to stderr.
    Crashed(String),
    /// It could not be started.
    Start(String),
}

pub(crate) struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    /// The instance's private directory (its working directory, HOME and TMPDIR).
    _home: tempfile::TempDir,
}

impl Worker {
    /// Starts an instance of `spec` and waits for its setup answer (the handler loaded and
    /// the initializer run), at most `spec.init_timeout`.
    pub async fn start(spec: &Spec, program: &Path, shim: &Path, work: &Path) -> Result<(Worker, Answer), Failure> {
        let home = tempfile::Builder::new()
            .prefix("instance-")
            .tempdir_in(work)
            .map_err(|e| Failure::Start(format!("cannot create a working directory: {e}")))?;
        let mut command = Command::new(program);
        match spec.language {
            // -I: no PYTHON* variables, no user site-packages; -X utf8: the cloud's encoding.
            Language::Python => command.args(["-I", "-X", "utf8"]),
            Language::Node => command.arg(format!("--max-old-space-size={}", spec.memory_mb)),
        };
        command
            .arg(shim)
            .env_clear()
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .env("HOME", home.path())
            .env("TMPDIR", home.path())
            .current_dir(home.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .map_err(|e| Failure::Start(format!("cannot run {}: {e}", program.display())))?;
        let (Some(stdin), Some(stdout), Some(stderr)) = (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(Failure::Start("the instance's pipes were not set up".into()));
        };
        let tail = Arc::new(Mutex::new(Vec::new()));
        tokio::spawn(keep_tail(stderr, tail.clone()));
        let mut worker = Worker {
            child,
            stdin,
            stdout: BufReader::new(stdout).lines(),
            stderr: tail,
            _home: home,
        };
        let setup = serde_json::to_string(&spec.setup).map_err(|e| Failure::Start(e.to_string()))?;
        let ready = worker.exchange(&setup, spec.init_timeout).await?;
        Ok((worker, ready))
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends one invocation and waits for its answer until `deadline`; an instance that
    /// fails to answer is killed (it must not be used again).
    pub async fn invoke(&mut self, request: &Request<'_>, deadline: Duration) -> Result<Answer, Failure> {
        let line = serde_json::to_string(request).map_err(|e| Failure::Crashed(e.to_string()))?;
        self.exchange(&line, deadline).await
    }

    async fn exchange(&mut self, line: &str, deadline: Duration) -> Result<Answer, Failure> {
        let sent = async {
            self.stdin.write_all(line.as_bytes()).await?;
            self.stdin.write_all(b"\n").await?;
            self.stdin.flush().await?;
            self.stdout.next_line().await
        };
        let outcome = match tokio::time::timeout(deadline, sent).await {
            Err(_) => Err(Failure::Timeout),
            Ok(Ok(Some(answer))) => serde_json::from_str(&answer)
                .map_err(|e| Failure::Crashed(format!("the instance broke the protocol ({e}): {answer:.200}"))),
            Ok(Ok(None)) | Ok(Err(_)) => Err(self.died().await),
        };
        if outcome.is_err() {
            // Killed and reaped before the failure is reported: no instance outlives it.
            let _ = self.child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
        }
        outcome
    }

    /// Why the instance stopped answering: its exit and the end of its stderr.
    async fn died(&mut self) -> Failure {
        let status = tokio::time::timeout(Duration::from_secs(2), self.child.wait()).await;
        // Let the stderr reader take what the process wrote last.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let tail = String::from_utf8_lossy(&self.stderr.lock()).into_owned();
        let how = match status {
            Ok(Ok(status)) => status.to_string(),
            _ => "it stopped answering".to_string(),
        };
        if tail.contains("heap out of memory") || tail.contains("MemoryError") {
            Failure::OutOfMemory(tail)
        } else {
            Failure::Crashed(format!("the instance exited ({how}): {}", tail.trim()))
        }
    }
}

async fn keep_tail(mut stderr: tokio::process::ChildStderr, tail: Arc<Mutex<Vec<u8>>>) {
    let mut chunk = [0u8; 4096];
    while let Ok(n) = stderr.read(&mut chunk).await {
        if n == 0 {
            return;
        }
        let mut tail = tail.lock();
        tail.extend_from_slice(&chunk[..n]);
        if tail.len() > STDERR_TAIL {
            let cut = tail.len() - STDERR_TAIL;
            tail.drain(..cut);
        }
    }
}
