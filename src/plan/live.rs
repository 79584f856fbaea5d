//! What refresh read from the API: the live side of a diff. Built by `crate::refresh`,
//! read by the planner (which does no I/O).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::api::types::{
    AsyncInvokeConfig, DependencyVersion, FunctionConfig, Tag, Trigger, Workflow, WorkflowSummary,
};

/// One live function with everything fgform manages on it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LiveFunction {
    pub config: FunctionConfig,
    pub triggers: Vec<Trigger>,
    pub async_config: Option<AsyncInvokeConfig>,
    pub tags: Vec<Tag>,
}

impl LiveFunction {
    /// The value of the tag `key`, if set.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.iter().find(|t| t.key == key).map(|t| t.value.as_str())
    }
}

/// A snapshot of the live resources a plan compares with. (De)serializes so planner tests
/// can keep one as a fixture (`tests/fixtures/plan/<case>/live.json`) and run without a server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Live {
    /// By function address name (the manifest key); absent = does not exist live.
    pub functions: BTreeMap<String, LiveFunction>,
    /// Dependency versions recorded in state, by address name; absent = gone.
    pub dependencies: BTreeMap<String, DependencyVersion>,
    /// Workflows by name (every workflow of the project, summaries only).
    pub workflow_names: BTreeMap<String, WorkflowSummary>,
    /// Full definitions of the workflows fgform manages, by address name.
    pub workflows: BTreeMap<String, Workflow>,
}
