//! `outputs:`: named strings a pipeline reads after apply (`fgform output`). Their values
//! are templates: the text the manifests already know, and references ([`StateRef`]) to
//! what only the state knows once the resources exist (trigger ids, workflow ids, alias URNs,
//! the newest published version).

use std::fmt;

use super::Address;

/// `outputs.NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputSpec {
    /// `value`, interpolated except for its references to the state.
    pub value: Vec<Part>,
    pub description: Option<String>,
    /// Shown as `(sensitive)` where outputs are listed; the value only on request.
    pub sensitive: bool,
}

/// A piece of an output's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Text(String),
    State(StateRef),
}

/// What an output may read from the state: one attribute of one resource.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum StateRef {
    /// `${function.NAME.urn}`: the function's URN (the state's id).
    FunctionUrn(String),
    /// `${function.NAME.version}`: the newest version fgform published.
    FunctionVersion(String),
    /// `${function.NAME.trigger.TRIGGER.id}`.
    TriggerId { function: String, trigger: String },
    /// `${function.NAME.alias.ALIAS.urn}`.
    AliasUrn { function: String, alias: String },
    /// `${workflow.NAME.urn}`.
    WorkflowUrn(String),
    /// `${workflow.NAME.id}`.
    WorkflowId(String),
    /// `${dependency.NAME.id}`: the id of the dependency version functions use.
    DependencyId(String),
    /// `${dependency.NAME.version}`: that version's number.
    DependencyVersion(String),
}

impl StateRef {
    /// The name of the function, workflow or dependency referred to (for a trigger or an
    /// alias, its function's).
    pub fn resource_name(&self) -> &str {
        match self {
            StateRef::FunctionUrn(name)
            | StateRef::FunctionVersion(name)
            | StateRef::TriggerId { function: name, .. }
            | StateRef::AliasUrn { function: name, .. }
            | StateRef::WorkflowUrn(name)
            | StateRef::WorkflowId(name)
            | StateRef::DependencyId(name)
            | StateRef::DependencyVersion(name) => name,
        }
    }

    /// The resource whose record holds the value.
    pub fn address(&self) -> Address {
        match self {
            StateRef::FunctionUrn(name) => Address::Function(name.clone()),
            StateRef::FunctionVersion(name) => Address::Version(name.clone()),
            StateRef::TriggerId { function, trigger } => Address::Trigger {
                function: function.clone(),
                trigger: trigger.clone(),
            },
            StateRef::AliasUrn { function, alias } => Address::Alias {
                function: function.clone(),
                alias: alias.clone(),
            },
            StateRef::WorkflowUrn(name) | StateRef::WorkflowId(name) => Address::Workflow(name.clone()),
            StateRef::DependencyId(name) | StateRef::DependencyVersion(name) => Address::Dependency(name.clone()),
        }
    }
}

/// The reference as written in a manifest: `${function.api.alias.live.urn}`.
impl fmt::Display for StateRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateRef::FunctionUrn(name) => write!(f, "${{function.{name}.urn}}"),
            StateRef::FunctionVersion(name) => write!(f, "${{function.{name}.version}}"),
            StateRef::TriggerId { function, trigger } => write!(f, "${{function.{function}.trigger.{trigger}.id}}"),
            StateRef::AliasUrn { function, alias } => write!(f, "${{function.{function}.alias.{alias}.urn}}"),
            StateRef::WorkflowUrn(name) => write!(f, "${{workflow.{name}.urn}}"),
            StateRef::WorkflowId(name) => write!(f, "${{workflow.{name}.id}}"),
            StateRef::DependencyId(name) => write!(f, "${{dependency.{name}.id}}"),
            StateRef::DependencyVersion(name) => write!(f, "${{dependency.{name}.version}}"),
        }
    }
}
