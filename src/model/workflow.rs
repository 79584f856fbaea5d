//! Workflows (函数流) in API vocabulary.

use serde_json::{json, Map, Value};

use super::{Desired, FunctionRef};

/// `workflows.<name>`.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowSpec {
    pub name: String,
    pub description: Option<String>,
    /// `NORMAL` or `EXPRESS`.
    pub mode: String,
    /// Id of the first state.
    pub start: String,
    /// `functions[]`: one entry per distinct function the actions call; `ref_name` = `name`.
    pub functions: Vec<WorkflowFunction>,
    /// `states[]` in API form: `next` became `transition`, `End` states carry `end: true`,
    /// actions carry `function_ref{ref_name, invoke_mode, arguments}`; other keys as written.
    pub states: Vec<Value>,
    pub constants: Map<String, Value>,
    pub retries: Vec<Value>,
    /// Other top-level definition keys (`triggers`, `express_config`, …), passed through.
    pub extra: Map<String, Value>,
}

/// One `functions[]` entry of a workflow definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowFunction {
    pub name: String,
    pub target: FunctionRef,
}

impl WorkflowSpec {
    /// The create/update body (`WorkflowCreateBody`).
    pub fn definition(&self, desired: &Desired) -> Value {
        let mut body = json!({
            "name": self.name,
            "start": self.start,
            "mode": self.mode,
            "functions": self.functions.iter().map(|f| json!({
                "name": f.name,
                "operation": desired.resolve(&f.target),
                "metadata": {},
            })).collect::<Vec<_>>(),
            "states": self.states,
            "constants": self.constants,
            "retries": self.retries,
        });
        if let Some(description) = &self.description {
            body["description"] = description.clone().into();
        }
        let object = body.as_object_mut().expect("object");
        for (key, value) in &self.extra {
            object.insert(key.clone(), value.clone());
        }
        body
    }
}
