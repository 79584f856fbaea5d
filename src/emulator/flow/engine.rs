//! Runs a workflow definition (what each state type means: the module above). One tokio
//! task per execution; Parallel branches, Foreach iterations and parallel actions run
//! concurrently inside it. The store lock is taken only to prepare a function call, the
//! executions' lock only to record, never both.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::future::{join_all, BoxFuture};
use serde_json::{json, Map, Value};
use tokio::sync::watch;

use super::path;
use super::{Node, NodeRun, Status};
use crate::emulator::routes::invoke::call_function;
use crate::emulator::Shared;

/// How many states one execution may run (a Switch looping forever stops here).
const MAX_STEPS: usize = 10_000;
/// How long an EXPRESS execution may run.
const EXPRESS_TIMEOUT: Duration = Duration::from_secs(300);

/// What an execution runs, copied from the workflow when it started.
pub(crate) struct Plan {
    pub execution_id: String,
    pub definition: Value,
    pub input: Value,
    pub express: bool,
}

/// Why a graph stopped short.
#[derive(Debug)]
pub(crate) enum Halt {
    /// A state failed and nothing caught it: the node and the error object.
    Failed { node: String, error: Value },
    /// `StopWorkFlow`.
    Cancelled,
}

fn failed(node: &str, message: impl Into<String>) -> Halt {
    Halt::Failed {
        node: node.to_string(),
        error: json!({"errorType": "FlowError", "errorMessage": message.into()}),
    }
}

/// `retries[]` entry.
#[derive(Clone, Copy)]
struct Retry {
    delay: Duration,
    max_attempts: u64,
}

/// A graph of states: the top level, a Parallel branch or a Foreach body.
#[derive(Clone, Copy)]
struct Graph<'d> {
    start: &'d str,
    states: &'d [Value],
}

impl<'d> Graph<'d> {
    /// The graph `holder` holds in `states` (its `start`, else its first state).
    fn of(holder: &'d Map<String, Value>) -> Graph<'d> {
        let states = holder
            .get("states")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        let first = states.first().and_then(|s| s.get("id")).and_then(Value::as_str);
        let start = holder
            .get("start")
            .and_then(Value::as_str)
            .or(first)
            .unwrap_or_default();
        Graph { start, states }
    }

    fn state(&self, id: &str) -> Option<&'d Map<String, Value>> {
        self.states
            .iter()
            .filter_map(Value::as_object)
            .find(|s| s.get("id").and_then(Value::as_str) == Some(id))
    }
}

fn text<'m>(m: &'m Map<String, Value>, key: &str) -> &'m str {
    m.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// One execution's run.
struct Run<'a> {
    shared: &'a Shared,
    id: &'a str,
    functions: HashMap<&'a str, &'a str>,
    retries: HashMap<&'a str, Retry>,
    constants: &'a Value,
    cancel: watch::Receiver<bool>,
    steps: AtomicUsize,
}

/// Runs an execution to its end and records how it ended.
pub(crate) async fn run(shared: Arc<Shared>, plan: Plan, cancel: watch::Receiver<bool>) {
    let def = &plan.definition;
    let list = |key: &str| def.get(key).and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    let functions = list("functions")
        .iter()
        .filter_map(|f| Some((f.get("name")?.as_str()?, f.get("operation")?.as_str()?)))
        .collect();
    let retries = list("retries")
        .iter()
        .filter_map(|r| {
            let number = |k: &str, default: u64| r.get(k).and_then(Value::as_u64).unwrap_or(default);
            let retry = Retry {
                delay: Duration::from_secs(number("delay", 1)),
                max_attempts: number("max_attempts", 3),
            };
            Some((r.get("name")?.as_str()?, retry))
        })
        .collect();
    let run = Run {
        shared: &shared,
        id: &plan.execution_id,
        functions,
        retries,
        constants: def.get("constants").unwrap_or(&Value::Null),
        cancel,
        steps: AtomicUsize::new(0),
    };
    let top = def.as_object().cloned().unwrap_or_default();
    let graph = run.graph(Graph::of(&top), plan.input.clone());
    let outcome = if plan.express {
        tokio::select! {
            r = graph => Some(r),
            () = shared.clock.sleep(EXPRESS_TIMEOUT) => None,
        }
    } else {
        Some(graph.await)
    };
    finish(&shared, &plan.execution_id, outcome);
}

/// Records the end of a run (`None`: it timed out). A cancelled execution stays cancelled.
fn finish(shared: &Shared, id: &str, outcome: Option<Result<Value, Halt>>) {
    let now = shared.clock.now();
    let mut all = shared.executions.lock();
    let Some(e) = all.get_mut(id) else { return };
    if e.status != Status::Running {
        return;
    }
    e.status = match outcome {
        Some(Ok(output)) => {
            e.output = output;
            Status::Success
        }
        Some(Err(Halt::Failed { node, error })) => {
            let message = error
                .get("errorMessage")
                .and_then(Value::as_str)
                .map_or_else(|| error.to_string(), str::to_string);
            e.errors = vec![json!({"node_id": node, "error_message": message})];
            Status::Fail
        }
        Some(Err(Halt::Cancelled)) => Status::Cancel,
        None => Status::Timeout,
    };
    e.end_time = Some(now);
    e.last_update_time = now;
}

impl<'a> Run<'a> {
    fn cancelled(&self) -> bool {
        *self.cancel.borrow()
    }

    /// Waits `d` of the emulator's clock, unless the execution is stopped first.
    async fn pause(&self, d: Duration) -> Result<(), Halt> {
        let mut cancel = self.cancel.clone();
        tokio::select! {
            () = self.shared.clock.sleep(d) => Ok(()),
            _ = cancel.wait_for(|stop| *stop) => Err(Halt::Cancelled),
        }
    }

    /// Runs a graph from its start to an end; its output.
    fn graph<'r>(&'r self, g: Graph<'r>, input: Value) -> BoxFuture<'r, Result<Value, Halt>> {
        Box::pin(async move {
            let (mut id, mut data) = (g.start.to_string(), input);
            loop {
                if self.cancelled() {
                    return Err(Halt::Cancelled);
                }
                if self.steps.fetch_add(1, Ordering::Relaxed) >= MAX_STEPS {
                    return Err(failed(&id, format!("more than {MAX_STEPS} states ran")));
                }
                let state = g
                    .state(&id)
                    .ok_or_else(|| failed(&id, format!("there is no state `{id}`")))?;
                let (output, next) = self.state(state, data).await?;
                match next {
                    Some(n) => (id, data) = (n, output),
                    None => return Ok(output),
                }
            }
        })
    }

    /// Runs one state (again while a retry says so); its output and the next state.
    async fn state(&self, s: &Map<String, Value>, given: Value) -> Result<(Value, Option<String>), Halt> {
        let filter = |key: &str| {
            s.get("state_data_filter")
                .and_then(|f| f.get(key))
                .and_then(Value::as_str)
        };
        let input = path::filter(filter("input"), given, self.constants);
        let mut attempt = 0;
        loop {
            let at = self.begin(s, &input);
            let outcome = self.body(s, &input).await;
            let error = match outcome {
                Ok((result, chosen)) => {
                    self.end(at, Status::Success, &result, Value::Null);
                    let output = path::filter(filter("output"), result, self.constants);
                    return Ok((output, chosen.or_else(|| static_next(s))));
                }
                Err(Halt::Cancelled) => {
                    self.end(at, Status::Cancel, &Value::Null, Value::Null);
                    return Err(Halt::Cancelled);
                }
                Err(Halt::Failed { node, error }) => {
                    self.end(at, Status::Fail, &Value::Null, error.clone());
                    (node, error)
                }
            };
            let Some(handler) = on_error(s, &error.1) else {
                return Err(Halt::Failed {
                    node: error.0,
                    error: error.1,
                });
            };
            let retry = self.retries.get(text(handler, "retry_ref")).copied();
            if let Some(r) = retry.filter(|r| attempt < r.max_attempts) {
                attempt += 1;
                self.pause(r.delay).await?;
                continue;
            }
            return match text(handler, "transition") {
                "" => Err(Halt::Failed {
                    node: error.0,
                    error: error.1,
                }),
                t => Ok((error.1, Some(t.to_string()))),
            };
        }
    }

    /// What the state's type does: its result, and the next state a Switch chose.
    async fn body(&self, s: &Map<String, Value>, input: &Value) -> Result<(Value, Option<String>), Halt> {
        let id = text(s, "id");
        match text(s, "type") {
            "Operation" => self.operation(s, input).await.map(|v| (v, None)),
            "Switch" => switch(s, input, self.constants).map(|next| (input.clone(), Some(next))),
            "Sleep" => {
                let secs = s.get("duration").and_then(Value::as_f64).unwrap_or(0.0).max(0.0);
                self.pause(Duration::from_secs_f64(secs)).await?;
                Ok((input.clone(), None))
            }
            "End" | "Pass" => Ok((input.clone(), None)),
            "Parallel" => {
                let branches = s
                    .get("branches")
                    .and_then(Value::as_array)
                    .map_or(&[][..], Vec::as_slice);
                let runs = branches
                    .iter()
                    .filter_map(Value::as_object)
                    .map(|b| self.graph(Graph::of(b), input.clone()));
                collect(join_all(runs).await).map(|v| (v, None))
            }
            "Foreach" => {
                let items = path::filter(Some(text(s, "input_collection")), input.clone(), self.constants);
                let Value::Array(items) = items else {
                    return Err(failed(id, format!("input_collection of `{id}` is not an array")));
                };
                let g = Graph::of(s);
                collect(join_all(items.into_iter().map(|item| self.graph(g, item))).await).map(|v| (v, None))
            }
            other => Err(failed(
                id,
                format!("state type `{other}` is not supported by the emulator"),
            )),
        }
    }

    /// An Operation state's actions.
    async fn operation(&self, s: &Map<String, Value>, input: &Value) -> Result<Value, Halt> {
        let id = text(s, "id");
        let actions = s
            .get("actions")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        if text(s, "action_mode") == "parallel" {
            let runs = actions.iter().map(|a| self.action(id, a, input.clone()));
            return collect(join_all(runs).await);
        }
        let mut data = input.clone();
        for a in actions {
            data = self.action(id, a, data).await?;
        }
        Ok(data)
    }

    /// Calls an action's function with its arguments resolved against `input`.
    async fn action(&self, node: &str, a: &Value, input: Value) -> Result<Value, Halt> {
        let name = a
            .pointer("/function_ref/ref_name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let urn = *self
            .functions
            .get(name)
            .ok_or_else(|| failed(node, format!("`{name}` is not in functions")))?;
        let event = match a.pointer("/function_ref/arguments") {
            Some(args @ Value::Object(m)) if !m.is_empty() => path::argument(args, &input, self.constants),
            _ => input,
        };
        let error = match call_function(self.shared, urn, event).await {
            Ok(Ok(result)) => return Ok(result),
            Ok(Err(error)) => error,
            Err(fail) => json!({"errorType": fail.code, "errorMessage": fail.msg}),
        };
        Err(Halt::Failed {
            node: node.to_string(),
            error,
        })
    }

    /// Records that a state started; returns where its run is recorded.
    fn begin(&self, s: &Map<String, Value>, input: &Value) -> (String, usize) {
        let id = text(s, "id").to_string();
        let now = self.shared.clock.now();
        let mut all = self.shared.executions.lock();
        let Some(e) = all.get_mut(self.id) else { return (id, 0) };
        e.last_update_time = now;
        let i = match e.nodes.iter().position(|n| n.node_id == id) {
            Some(i) => i,
            None => {
                e.nodes.push(Node {
                    node_id: id.clone(),
                    node_name: text(s, "name").to_string(),
                    execution_id: uuid::Uuid::new_v4().to_string(),
                    runs: Vec::new(),
                });
                e.nodes.len() - 1
            }
        };
        let runs = &mut e.nodes[i].runs;
        runs.push(NodeRun {
            status: Status::Running,
            input: input.clone(),
            output: Value::Null,
            begin_ms: now.timestamp_millis(),
            end_ms: 0,
            error: Value::Null,
            request_id: uuid::Uuid::new_v4().to_string(),
        });
        (id, runs.len() - 1)
    }

    /// Records how a state's run ended.
    fn end(&self, (node, run): (String, usize), status: Status, output: &Value, error: Value) {
        let now = self.shared.clock.now();
        let mut all = self.shared.executions.lock();
        let Some(e) = all.get_mut(self.id) else { return };
        e.last_update_time = now;
        let found = e.nodes.iter_mut().find(|n| n.node_id == node);
        if let Some(r) = found.and_then(|n| n.runs.get_mut(run)) {
            r.status = status;
            r.output = output.clone();
            r.end_ms = now.timestamp_millis();
            r.error = error;
        }
    }
}

/// The outputs of concurrent runs in order, or the first failure (a stop before that).
fn collect(results: Vec<Result<Value, Halt>>) -> Result<Value, Halt> {
    if results.iter().any(|r| matches!(r, Err(Halt::Cancelled))) {
        return Err(Halt::Cancelled);
    }
    results.into_iter().collect::<Result<Vec<_>, _>>().map(Value::Array)
}

/// The next state a non-Switch state names: none at an end.
fn static_next(s: &Map<String, Value>) -> Option<String> {
    let end = s.get("end").and_then(Value::as_bool).unwrap_or(false) || text(s, "type") == "End";
    Some(text(s, "transition").to_string()).filter(|t| !end && !t.is_empty())
}

/// The first `on_errors[]` entry whose pattern catches `error`.
fn on_error<'s>(s: &'s Map<String, Value>, error: &Value) -> Option<&'s Map<String, Value>> {
    s.get("on_errors")?
        .as_array()?
        .iter()
        .filter_map(Value::as_object)
        .find(|h| path::catches(text(h, "error"), error))
}

/// The state a Switch picks for `input`.
fn switch(s: &Map<String, Value>, input: &Value, constants: &Value) -> Result<String, Halt> {
    let id = text(s, "id");
    let conditions = s
        .get("conditions")
        .or_else(|| s.get("data_conditions"))
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    for c in conditions.iter().filter_map(Value::as_object) {
        let holds = path::condition(text(c, "condition"), input, constants)
            .map_err(|why| failed(id, format!("a condition of `{id}`: {why}")))?;
        if holds {
            return Ok(text(c, "transition").to_string());
        }
    }
    let default = s
        .get("default")
        .and_then(Value::as_str)
        .or_else(|| s.get("default_condition")?.get("transition")?.as_str())
        .filter(|d| !d.is_empty());
    default
        .map(str::to_string)
        .ok_or_else(|| failed(id, format!("no condition of `{id}` holds and it has no default")))
}
