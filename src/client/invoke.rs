//! Running functions: `InvokeFunction` (sync, v1 answers), `AsyncInvokeFunction`, their
//! metrics (`ListFunctionStatistics`), and the emulator's function logs.

use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;

use super::transport::{Call, Kind};
use super::{seg, ApiError, Client};
use crate::api::types::FunctionStatistics;

/// How long an invocation may take beyond the function's own timeout (the instance's start,
/// the round trip).
const INVOKE_MARGIN: Duration = Duration::from_secs(30);

/// What a sync invocation answered.
#[derive(Debug, Clone)]
pub struct Invoked {
    /// The invocation's request id (`X-Cff-Request-Id`).
    pub request_id: String,
    /// The function's result; its error object (JSON text) when it failed.
    pub result: String,
    /// Whether the function failed (`X-Is-Func-Err`).
    pub failed: bool,
    /// `X-Func-Err-Code` (0 on success).
    pub error_code: String,
    /// The end of the function log, when asked for.
    pub log: Option<String>,
    /// `X-Cff-Invoke-Summary`: duration, billed duration, memory.
    pub summary: Option<Value>,
}

#[derive(Deserialize)]
struct V1 {
    #[serde(default)]
    request_id: String,
    #[serde(default)]
    result: Option<Value>,
    #[serde(default)]
    log: Option<String>,
}

#[derive(Deserialize)]
struct Accepted {
    request_id: String,
}

/// One async invocation's record.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct AsyncInvocation {
    pub request_id: String,
    /// `WAIT`, `RUNNING`, `SUCCESS`, `FAIL` or `DISCARD`.
    pub status: String,
    #[serde(default)]
    pub error_code: i64,
    #[serde(default)]
    pub error_message: String,
}

impl AsyncInvocation {
    /// Whether it ended (`SUCCESS`, `FAIL`, `DISCARD`).
    pub fn ended(&self) -> bool {
        matches!(self.status.as_str(), "SUCCESS" | "FAIL" | "DISCARD")
    }
}

/// One invocation's log as the emulator keeps it (`GET /_emulator/logs`).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct FunctionLog {
    pub function_urn: String,
    pub version: String,
    pub request_id: String,
    pub time: String,
    pub ok: bool,
    #[serde(default)]
    pub cold: bool,
    pub log: String,
}

impl Client {
    /// `POST …/functions/{urn}/invocations` with `event` (JSON bytes), asking for v1 answers
    /// and, with `log`, the log's tail. Never re-sent after an ambiguous failure: an
    /// invocation is not idempotent. `timeout` is the function's own.
    pub async fn invoke(&self, urn: &str, event: &[u8], log: bool, timeout: Duration) -> Result<Invoked, ApiError> {
        let path = format!("/fgs/functions/{}/invocations", seg(urn));
        let mut call =
            Call::raw("POST", path.clone(), event.to_vec(), Kind::Create).header("X-CFF-Request-Version", "v1");
        if log {
            call = call.header("X-Cff-Log-Type", "tail");
        }
        call.timeout = Some(timeout + INVOKE_MARGIN);
        let answer = self.execute(call).await?;
        let v1: V1 = super::transport::decode("POST", &self.raw_path(&path), &answer)?;
        let text = match v1.result {
            Some(Value::String(s)) => s,
            Some(other) => other.to_string(),
            None => String::new(),
        };
        let request_id = answer
            .header("x-cff-request-id")
            .map(str::to_string)
            .unwrap_or(v1.request_id);
        let log = v1
            .log
            .filter(|l| !l.is_empty())
            .or_else(|| answer.header("x-cff-function-log").map(str::to_string))
            .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
        Ok(Invoked {
            request_id,
            result: text,
            failed: answer.header("x-is-func-err") == Some("true"),
            error_code: answer.header("x-func-err-code").unwrap_or("0").to_string(),
            log,
            summary: answer
                .header("x-cff-invoke-summary")
                .and_then(|s| serde_json::from_str(s).ok()),
        })
    }

    /// `POST …/functions/{urn}/invocations-async`; the request id of the queued invocation.
    pub async fn invoke_async(&self, urn: &str, event: &[u8]) -> Result<String, ApiError> {
        let path = format!("/fgs/functions/{}/invocations-async", seg(urn));
        let accepted: Accepted = self.json(Call::raw("POST", path, event.to_vec(), Kind::Create)).await?;
        Ok(accepted.request_id)
    }

    /// `ListFunctionStatistics` (`GET …/functions/{urn}/statistics/{period}`): the metrics of
    /// the last `period_minutes` minutes, one slot per minute. `urn` may be qualified: a
    /// version (`…:v3`) gives what that version ran, directly or through an alias; an alias
    /// (`…:!prod`) what went through it; the unqualified URN every invocation.
    pub async fn function_statistics(&self, urn: &str, period_minutes: u32) -> Result<FunctionStatistics, ApiError> {
        let path = format!("/fgs/functions/{}/statistics/{period_minutes}", seg(urn));
        self.json(Call::get(path)).await
    }

    /// The record of async invocation `request_id` of `urn` (`GET …/async-invocations`).
    pub async fn async_invocation(&self, urn: &str, request_id: &str) -> Result<Option<AsyncInvocation>, ApiError> {
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            invocations: Vec<AsyncInvocation>,
        }
        let path = format!("/fgs/functions/{}/async-invocations", seg(urn));
        let page: Page = self.json(Call::get(path).query("request_id", request_id)).await?;
        Ok(page.invocations.into_iter().next())
    }

    /// The function logs an fgform emulator kept for `function_urn` (unqualified), oldest
    /// first; `None` when the endpoint is not an fgform emulator.
    pub async fn emulator_logs(&self, function_urn: &str, limit: usize) -> Result<Option<Vec<FunctionLog>>, ApiError> {
        if self.emulator_identity().await.is_none() {
            return Ok(None);
        }
        let url = format!("{}/_emulator/logs", self.endpoint().trim_end_matches('/'));
        let answer = self
            .inner
            .http
            .get(url)
            .query(&[("function_urn", function_urn), ("limit", &limit.to_string())])
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|source| ApiError::Transport {
                method: "GET".into(),
                path: "/_emulator/logs".into(),
                source,
            })?;
        #[derive(Deserialize)]
        struct Logs {
            logs: Vec<FunctionLog>,
        }
        let logs: Logs = answer.json().await.map_err(|source| ApiError::Transport {
            method: "GET".into(),
            path: "/_emulator/logs".into(),
            source,
        })?;
        Ok(Some(logs.logs))
    }
}
