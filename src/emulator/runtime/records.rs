//! Async invocations' records (`GET …/async-invocations`), and what was sent to
//! destinations the emulator cannot deliver to (`GET /_emulator/destinations`). Kept in
//! memory: a restarted emulator starts with none.

use std::collections::VecDeque;

use parking_lot::Mutex;
use serde::Serialize;
use serde_json::Value;

/// Records kept, newest last; the oldest go first.
const KEPT: usize = 10_000;

/// `WAIT`, `RUNNING`, `SUCCESS`, `FAIL`, `DISCARD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub(crate) enum Status {
    Wait,
    Running,
    Success,
    Fail,
    Discard,
}

impl Status {
    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "WAIT" => Status::Wait,
            "RUNNING" => Status::Running,
            "SUCCESS" => Status::Success,
            "FAIL" => Status::Fail,
            "DISCARD" => Status::Discard,
            _ => return None,
        })
    }
}

/// One async invocation, as the API lists it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Record {
    pub request_id: String,
    pub status: Status,
    pub error_code: i64,
    pub error_message: String,
    /// `YYYY-MM-DDTHH:mm:ss` (UTC), when it was accepted.
    pub start_time: String,
    /// When it ended; empty until then.
    pub end_time: String,
    #[serde(skip)]
    pub function_urn: String,
}

pub(crate) struct Records {
    /// The emulator's clock, which the records' times follow.
    clock: std::sync::Arc<crate::emulator::clock::Clock>,
    records: Mutex<VecDeque<Record>>,
    undelivered: Mutex<Vec<Value>>,
    /// What stops each invocation that has not ended (`CancelAsyncInvocation`).
    cancels: Mutex<std::collections::HashMap<String, std::sync::Arc<tokio::sync::Notify>>>,
}

impl Records {
    pub fn new(clock: std::sync::Arc<crate::emulator::clock::Clock>) -> Records {
        Records {
            clock,
            records: Mutex::default(),
            undelivered: Mutex::default(),
            cancels: Mutex::default(),
        }
    }

    /// `YYYY-MM-DDTHH:mm:ss` (UTC) on the emulator's clock.
    fn timestamp(&self) -> String {
        self.clock.now().format("%Y-%m-%dT%H:%M:%S").to_string()
    }

    /// A new `WAIT` record of `function_urn` (unqualified); what [`Records::cancel`] wakes.
    pub fn accept(&self, request_id: &str, function_urn: &str) -> std::sync::Arc<tokio::sync::Notify> {
        let cancel = std::sync::Arc::new(tokio::sync::Notify::new());
        self.cancels.lock().insert(request_id.to_string(), cancel.clone());
        let mut records = self.records.lock();
        if records.len() == KEPT {
            records.pop_front();
        }
        records.push_back(Record {
            request_id: request_id.to_string(),
            status: Status::Wait,
            error_code: 0,
            error_message: String::new(),
            start_time: self.timestamp(),
            end_time: String::new(),
            function_urn: function_urn.to_string(),
        });
        cancel
    }

    /// Asks invocation `request_id` of `function_urn` to stop; `Err` when there is no such
    /// invocation (`None`) or it has ended (its status).
    pub fn cancel(&self, function_urn: &str, request_id: &str) -> Result<(), Option<Status>> {
        let status = self
            .records
            .lock()
            .iter()
            .rev()
            .find(|r| r.request_id == request_id && r.function_urn == function_urn)
            .map(|r| r.status)
            .ok_or(None)?;
        match self.cancels.lock().get(request_id) {
            Some(cancel) if matches!(status, Status::Wait | Status::Running) => {
                cancel.notify_one();
                Ok(())
            }
            _ => Err(Some(status)),
        }
    }

    /// Moves a record on; an ending status stamps its end time.
    pub fn update(&self, request_id: &str, status: Status, error_code: i64, error_message: &str) {
        let mut records = self.records.lock();
        if let Some(r) = records.iter_mut().rev().find(|r| r.request_id == request_id) {
            r.status = status;
            r.error_code = error_code;
            r.error_message = error_message.to_string();
            if matches!(status, Status::Success | Status::Fail | Status::Discard) {
                r.end_time = self.timestamp();
                self.cancels.lock().remove(request_id);
            }
        }
    }

    /// The records of `function_urn`, newest first, filtered as the API's query asks.
    pub fn list(&self, function_urn: &str, request_id: Option<&str>, status: Option<Status>) -> Vec<Record> {
        self.records
            .lock()
            .iter()
            .rev()
            .filter(|r| r.function_urn == function_urn)
            .filter(|r| request_id.is_none_or(|id| r.request_id == id))
            .filter(|r| status.is_none_or(|s| r.status == s))
            .cloned()
            .collect()
    }

    /// Keeps what would have gone to an OBS, SMN or DIS destination.
    pub fn undeliverable(&self, sent: Value) {
        self.undelivered.lock().push(sent);
    }

    pub fn undelivered(&self) -> Vec<Value> {
        self.undelivered.lock().clone()
    }
}
