//! Workflow executions (§8.2): the engine running a definition ([`engine`]), the
//! expressions it reads ([`path`]), and the executions' records.
//!
//! Executions live in memory only (never journaled, gone when the emulator stops or is
//! reset); the newest [`MAX_KEPT`] are kept, finished ones dropped oldest first. Times are
//! the emulator's clock: an execution's `begin_time`/`end_time`/`last_update_time` are
//! `YYYY-MM-DDTHH:MM:SSZ`, a node execution's `begin_time`/`end_time` epoch milliseconds,
//! as the SDK's models say.
//!
//! What a definition means here. `Operation`, `Sleep` and `End` follow the SDK's
//! `OperationState`; the SDK says nothing of the other types' wire spelling, so these are
//! the emulator's decisions (also accepted: nothing else; unknown types fail the run):
//!
//! * **Operation**: `actions[]` run `sequential` (default; each action's event is built
//!   from the previous action's result, the first from the state's input; the output is the
//!   last result) or `parallel` (`action_mode: "parallel"`; all from the state's input; the
//!   output is the array of results in action order). An action's event is its
//!   `function_ref.arguments` resolved against its input ([`path::argument`]: `$.a.b[0]`,
//!   `$CONST.x`, `'text'`, literals), or the input itself when there are no arguments.
//! * **Switch**: `{"type":"Switch","conditions":[{"condition":"$.x > 3","transition":"s2"}],
//!   "default":"s3"}`; the first condition that holds ([`path::condition`]) picks the next
//!   state, else `default`; none: the run fails. The Serverless Workflow spelling
//!   `data_conditions[{condition, transition}]` + `default_condition{transition}` is read
//!   too. The output is the input.
//! * **Sleep**: `duration` seconds of the emulator's clock (`/_emulator/clock/advance`
//!   skips it); the output is the input.
//! * **End**: the run ends with the input as its output.
//! * **Parallel**: `{"type":"Parallel","branches":[{"start":"b1","states":[…]}, …]}`; each
//!   branch is a graph of its own (state ids private to it; `start` defaults to its first
//!   state) run concurrently on the state's input; the output is the array of the branches'
//!   outputs in branch order.
//! * **Foreach**: `{"type":"Foreach","input_collection":"$.items","start":"f1","states":[…]}`;
//!   the inner graph runs concurrently once per item of the array `input_collection`
//!   selects (default `$`), each with the item as input; the output is the array of
//!   results in item order.
//!
//! Every state: `state_data_filter.input` selects the state's input from what it was given,
//! `state_data_filter.output` its output from its result; `end: true` (or type End) ends
//! the graph, else `transition` names the next state (no transition ends it too).
//! A failure (a function's error object, or `{errorType: FSS code, errorMessage}` when it
//! could not run) is caught by the first `on_errors[]` whose `error` pattern matches
//! ([`path::catches`]): its `retry_ref` names `retries[]{delay (s, default 1),
//! max_attempts (retries after the first try, default 3)}` to run the state again, then
//! its `transition` (if any) continues the run with the error object as the next state's
//! input; without one the run fails. Each attempt is one entry of the node's
//! `node_execution_details[].executions`.
//! EXPRESS workflows time out after 5 minutes of the emulator's clock (status `timeout`).

pub(crate) mod engine;
pub(crate) mod path;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio::sync::watch;

/// How many executions the emulator remembers.
pub(crate) const MAX_KEPT: usize = 1000;

/// An execution's status (`status` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Running,
    Success,
    Fail,
    Timeout,
    Cancel,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Success => "success",
            Status::Fail => "fail",
            Status::Timeout => "timeout",
            Status::Cancel => "cancel",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        [
            Status::Running,
            Status::Success,
            Status::Fail,
            Status::Timeout,
            Status::Cancel,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

/// One run of one node (`NodeExecution`).
#[derive(Debug, Clone)]
pub(crate) struct NodeRun {
    pub status: Status,
    pub input: Value,
    pub output: Value,
    pub begin_ms: i64,
    pub end_ms: i64,
    pub error: Value,
    pub request_id: String,
}

/// A node's runs (`NodeExecutionDetail`).
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub node_id: String,
    pub node_name: String,
    pub execution_id: String,
    pub runs: Vec<NodeRun>,
}

/// One execution of a workflow.
#[derive(Debug)]
pub(crate) struct Execution {
    pub project: String,
    pub workflow_id: String,
    pub workflow_urn: String,
    pub execution_id: String,
    pub status: Status,
    pub headers: Value,
    pub input: Value,
    pub output: Value,
    pub begin_time: DateTime<Utc>,
    pub end_time: Option<DateTime<Utc>>,
    pub last_update_time: DateTime<Utc>,
    pub created_by: String,
    pub nodes: Vec<Node>,
    /// `{node_id, error_message}` of the failure that ended the run.
    pub errors: Vec<Value>,
    /// Set to stop the run (`StopWorkFlow`).
    pub cancel: watch::Sender<bool>,
}

fn ts(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

impl Execution {
    /// `FlowExecutionBrief` (list items).
    pub fn brief(&self) -> Value {
        json!({
            "workflow_id": self.workflow_id,
            "workflow_urn": self.workflow_urn,
            "execution_id": self.execution_id,
            "status": self.status.as_str(),
            "begin_time": ts(&self.begin_time),
            "end_time": self.end_time.as_ref().map(ts),
            "last_update_time": ts(&self.last_update_time),
            "created_by": self.created_by,
        })
    }

    /// `ShowWorkflowExecutionResponse`.
    pub fn detail(&self) -> Value {
        let nodes: Vec<Value> = self
            .nodes
            .iter()
            .map(|n| {
                let runs: Vec<Value> = n
                    .runs
                    .iter()
                    .map(|r| {
                        json!({
                            "status": r.status.as_str(), "input": r.input, "output": r.output,
                            "begin_time": r.begin_ms, "end_time": r.end_ms,
                            "error_message": r.error, "request_id": r.request_id,
                        })
                    })
                    .collect();
                json!({"node_id": n.node_id, "node_name": n.node_name,
                       "execution_id": n.execution_id, "executions": runs})
            })
            .collect();
        let mut out = self.brief();
        out["headers"] = self.headers.clone();
        out["input"] = self.input.clone();
        out["output"] = self.output.clone();
        out["node_execution_details"] = Value::Array(nodes);
        out
    }

    /// `StartSyncWorkflowExecutionResponse`: `output` only on success, `errors` only on
    /// failure.
    pub fn sync_answer(&self) -> Value {
        let (begin, end) = (ts(&self.begin_time), self.end_time.as_ref().map(ts));
        let errors: Vec<Value> = self
            .errors
            .iter()
            .map(|e| {
                let mut e = e.clone();
                e["begin_time"] = json!(begin);
                e["end_time"] = json!(end);
                e
            })
            .collect();
        json!({
            "execution_id": self.execution_id,
            "status": self.status.as_str(),
            "output": if self.status == Status::Success { self.output.clone() } else { Value::Null },
            "errors": errors,
            "begin_time": begin,
            "end_time": end,
        })
    }
}

/// The executions the emulator remembers, oldest first.
#[derive(Default)]
pub(crate) struct Executions {
    all: Vec<Execution>,
}

impl Executions {
    /// Adds a new execution; returns what tells its run to stop.
    pub fn insert(&mut self, e: Execution) -> watch::Receiver<bool> {
        if self.all.len() >= MAX_KEPT {
            match self.all.iter().position(|e| e.status != Status::Running) {
                Some(i) => drop(self.all.remove(i)),
                None => drop(self.all.remove(0)),
            }
        }
        let cancel = e.cancel.subscribe();
        self.all.push(e);
        cancel
    }

    pub fn get(&self, id: &str) -> Option<&Execution> {
        self.all.iter().find(|e| e.execution_id == id)
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut Execution> {
        self.all.iter_mut().find(|e| e.execution_id == id)
    }

    /// The executions of one workflow, oldest first.
    pub fn of<'a>(&'a self, project: &'a str, workflow_id: &'a str) -> impl Iterator<Item = &'a Execution> + 'a {
        self.all
            .iter()
            .filter(move |e| e.project == project && e.workflow_id == workflow_id)
    }

    pub fn clear(&mut self) {
        for e in &self.all {
            let _ = e.cancel.send(true);
        }
        self.all.clear();
    }
}
