//! Workflows (函数流) in API vocabulary.

use serde_json::{json, Map, Value};

use super::{Desired, FunctionRef};
use crate::api::types::WorkflowDefinition;

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
    /// The create/update request (`WorkflowCreateBody`). Other top-level keys (`triggers`
    /// among them) ride in `extra`, as written.
    pub fn definition_request(&self, desired: &Desired) -> WorkflowDefinition {
        let functions = self
            .functions
            .iter()
            .map(|f| {
                json!({
                    "name": f.name,
                    "operation": desired.resolve(&f.target),
                    "metadata": {},
                })
            })
            .collect();
        WorkflowDefinition {
            name: self.name.clone(),
            description: self.description.clone(),
            start: self.start.clone(),
            functions,
            states: self.states.clone(),
            constants: Value::Object(self.constants.clone()),
            retries: self.retries.clone(),
            triggers: None,
            mode: Some(self.mode.clone()),
            // The manifest's other keys (`triggers`, `express_config`, …) are none of the
            // fields above but `triggers`, left unset so it is sent once, from here.
            extra: self.extra.clone(),
        }
    }

    /// [`WorkflowSpec::definition_request`] as JSON, keys in the order plans show them.
    pub fn definition(&self, desired: &Desired) -> Value {
        let body = serde_json::to_value(self.definition_request(desired)).expect("requests serialize");
        super::ordered(
            body,
            &[
                "name",
                "start",
                "mode",
                "functions",
                "states",
                "constants",
                "retries",
                "description",
            ],
        )
    }
}
