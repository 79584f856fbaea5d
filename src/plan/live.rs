//! What refresh read from the API: the live side of a diff. Built by `crate::refresh`,
//! read by the planner (which does no I/O).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::api::types::{
    Alias, AsyncInvokeConfig, DependencyVersion, FunctionConfig, Tag, Trigger, Workflow, WorkflowSummary,
};

/// One live function with everything fgform manages on it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LiveFunction {
    pub config: FunctionConfig,
    pub triggers: Vec<Trigger>,
    pub async_config: Option<AsyncInvokeConfig>,
    /// Its tags as read, or as the state recorded them when `tags_from_state`.
    pub tags: Vec<Tag>,
    /// The tags are the ones the state recorded, not read: the state settled ownership (the
    /// same URN and function id), so a no-op plan need not read them. A plan that changes
    /// the function has them read first ([`Live::unconfirmed_owners`]).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tags_from_state: bool,
    /// Published versions (never `latest`), as listed; `None` when not read (nothing of the
    /// function's versions or aliases is managed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub versions: Option<Vec<FunctionConfig>>,
    /// Aliases; `None` when not read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aliases: Option<Vec<Alias>>,
    /// The alias each trigger of `triggers` listed under an alias belongs to, by trigger id
    /// (the others are `latest`'s).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub trigger_qualifiers: BTreeMap<String, String>,
    /// The alias `async_config` was read at (`None`: latest).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub async_qualifier: Option<String>,
}

impl LiveFunction {
    /// The newest published version: the last modified, the later listed on a tie.
    pub fn newest_version(&self) -> Option<&FunctionConfig> {
        let versions = self.versions.as_deref()?;
        versions
            .iter()
            .enumerate()
            .max_by_key(|(i, v)| (v.last_modified.epoch_seconds().unwrap_or(i64::MIN), *i))
            .map(|(_, v)| v)
    }

    /// Published version `name`.
    pub fn version(&self, name: &str) -> Option<&FunctionConfig> {
        self.versions.as_deref()?.iter().find(|v| v.version == name)
    }

    /// Alias `name`.
    pub fn alias(&self, name: &str) -> Option<&Alias> {
        self.aliases.as_deref()?.iter().find(|a| a.name == name)
    }

    /// The value of the tag `key`, if set.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.iter().find(|t| t.key == key).map(|t| t.value.as_str())
    }
}

impl Live {
    /// The functions whose tags came from the state (not read) that a change of `plan`
    /// touches (the function itself or anything under it): their ownership is confirmed
    /// by reading their tags before anything is sent, so a function another state took
    /// over is never changed or deleted.
    pub fn unconfirmed_owners(&self, plan: &super::Plan) -> Vec<String> {
        let touched: std::collections::BTreeSet<&str> = plan
            .changes
            .iter()
            .filter_map(|c| super::resources::function_of(&c.address))
            .collect();
        touched
            .into_iter()
            .filter(|name| self.functions.get(*name).is_some_and(|f| f.tags_from_state))
            .map(str::to_string)
            .collect()
    }
}

/// A snapshot of the live resources a plan compares with. (De)serializes so planner tests
/// can keep one as a fixture (`tests/fixtures/plan/<case>/live.json`) and run without a server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Live {
    /// By function address name (the manifest key); absent = does not exist live. Boxed:
    /// a map's node holds eleven values inline, and a live function is ~1 KB.
    pub functions: BTreeMap<String, Box<LiveFunction>>,
    /// Dependency versions recorded in state, by address name; absent = gone.
    pub dependencies: BTreeMap<String, DependencyVersion>,
    /// Workflows by name (every workflow of the project, summaries only).
    pub workflow_names: BTreeMap<String, WorkflowSummary>,
    /// Full definitions of the workflows fgform manages, by address name.
    pub workflows: BTreeMap<String, Workflow>,
}
