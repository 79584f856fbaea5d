//! Every FunctionGraph (and IAM) operation fgform speaks, named as the official SDKs name
//! them. The one list both sides share: the emulator routes and dispatches by it, logs it
//! and matches chaos rules against it; the planner's calls and the state's crash-journal
//! intents name it. Its string form is the SDK's name; nowhere else writes those names.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An HTTP method an operation is sent with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }

    /// Parses an upper-case method name.
    pub fn parse(method: &str) -> Option<Method> {
        Some(match method {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            _ => return None,
        })
    }
}

macro_rules! operations {
    ($($(#[$doc:meta])* $name:ident = $method:ident $path:literal;)*) => {
        /// One API operation.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Operation {
            $($(#[$doc])* $name,)*
        }

        impl Operation {
            /// Every operation, in definition order.
            pub const ALL: &'static [Operation] = &[$(Operation::$name,)*];

            /// The SDK's name, e.g. `CreateFunction`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Operation::$name => stringify!($name),)*
                }
            }

            /// The HTTP method.
            pub const fn method(self) -> Method {
                match self {
                    $(Operation::$name => Method::$method,)*
                }
            }

            /// The path template as the API reference writes it (`{project_id}`,
            /// `{function_urn}`, …); FunctionGraph paths start `/v2/{project_id}`.
            pub const fn path(self) -> &'static str {
                match self {
                    $(Operation::$name => $path,)*
                }
            }
        }
    };
}

operations! {
    ListFunctions = Get "/v2/{project_id}/fgs/functions";
    CreateFunction = Post "/v2/{project_id}/fgs/functions";
    EnableAsyncStatusLog = Post "/v2/{project_id}/fgs/functions/enable-async-status-logs";
    DeleteFunction = Delete "/v2/{project_id}/fgs/functions/{function_urn}";
    ShowFunctionConfig = Get "/v2/{project_id}/fgs/functions/{function_urn}/config";
    UpdateFunctionConfig = Put "/v2/{project_id}/fgs/functions/{function_urn}/config";
    ShowFunctionCode = Get "/v2/{project_id}/fgs/functions/{function_urn}/code";
    ExportFunction = Get "/v2/{project_id}/fgs/functions/{function_urn}/export";
    UpdateFunctionCode = Put "/v2/{project_id}/fgs/functions/{function_urn}/code";
    UpdateFunctionMaxInstanceConfig = Put "/v2/{project_id}/fgs/functions/{function_urn}/config-max-instance";
    ListFunctionVersions = Get "/v2/{project_id}/fgs/functions/{function_urn}/versions";
    CreateFunctionVersion = Post "/v2/{project_id}/fgs/functions/{function_urn}/versions";
    ListVersionAliases = Get "/v2/{project_id}/fgs/functions/{function_urn}/aliases";
    CreateVersionAlias = Post "/v2/{project_id}/fgs/functions/{function_urn}/aliases";
    ShowVersionAlias = Get "/v2/{project_id}/fgs/functions/{function_urn}/aliases/{alias_name}";
    UpdateVersionAlias = Put "/v2/{project_id}/fgs/functions/{function_urn}/aliases/{alias_name}";
    DeleteVersionAlias = Delete "/v2/{project_id}/fgs/functions/{function_urn}/aliases/{alias_name}";
    UpdateFunctionAsyncInvokeConfig = Put "/v2/{project_id}/fgs/functions/{function_urn}/async-invoke-config";
    ShowFunctionAsyncInvokeConfig = Get "/v2/{project_id}/fgs/functions/{function_urn}/async-invoke-config";
    DeleteFunctionAsyncInvokeConfig = Delete "/v2/{project_id}/fgs/functions/{function_urn}/async-invoke-config";
    ListFunctionAsyncInvokeConfig = Get "/v2/{project_id}/fgs/functions/{function_urn}/async-invoke-configs";
    InvokeFunction = Post "/v2/{project_id}/fgs/functions/{function_urn}/invocations";
    AsyncInvokeFunction = Post "/v2/{project_id}/fgs/functions/{function_urn}/invocations-async";
    ListAsyncInvocations = Get "/v2/{project_id}/fgs/functions/{function_urn}/async-invocations";
    CancelAsyncInvocation = Post "/v2/{project_id}/fgs/functions/{function_urn}/cancel";
    ListFunctionStatistics = Get "/v2/{project_id}/fgs/functions/{func_urn}/statistics/{period}";
    ListFunctionAsMetric = Get "/v2/{project_id}/fgs/function/report";
    CreateFunctionTrigger = Post "/v2/{project_id}/fgs/triggers/{function_urn}";
    ListFunctionTriggers = Get "/v2/{project_id}/fgs/triggers/{function_urn}";
    BatchDeleteFunctionTriggers = Delete "/v2/{project_id}/fgs/triggers/{function_urn}";
    ShowFunctionTrigger = Get "/v2/{project_id}/fgs/triggers/{function_urn}/{trigger_type_code}/{trigger_id}";
    UpdateTrigger = Put "/v2/{project_id}/fgs/triggers/{function_urn}/{trigger_type_code}/{trigger_id}";
    DeleteFunctionTrigger = Delete "/v2/{project_id}/fgs/triggers/{function_urn}/{trigger_type_code}/{trigger_id}";
    ListDependencies = Get "/v2/{project_id}/fgs/dependencies";
    CreateDependency = Post "/v2/{project_id}/fgs/dependencies";
    CreateDependencyVersion = Post "/v2/{project_id}/fgs/dependencies/version";
    ListDependencyVersion = Get "/v2/{project_id}/fgs/dependencies/{depend_id}/version";
    ShowDependencyVersion = Get "/v2/{project_id}/fgs/dependencies/{depend_id}/version/{version}";
    DeleteDependencyVersion = Delete "/v2/{project_id}/fgs/dependencies/{depend_id}/version/{version}";
    ShowDependency = Get "/v2/{project_id}/fgs/dependencies/{depend_id}";
    UpdateDependency = Put "/v2/{project_id}/fgs/dependencies/{depend_id}";
    DeleteDependency = Delete "/v2/{project_id}/fgs/dependencies/{depend_id}";
    ListWorkflow = Get "/v2/{project_id}/fgs/workflows";
    CreateWorkflow = Post "/v2/{project_id}/fgs/workflows";
    BatchDeleteWorkflows = Delete "/v2/{project_id}/fgs/workflows";
    ShowWorkFlow = Get "/v2/{project_id}/fgs/workflows/{workflow_id}";
    UpdateWorkFlow = Put "/v2/{project_id}/fgs/workflows/{workflow_id}";
    StartWorkflowExecution = Post "/v2/{project_id}/fgs/workflows/{workflow_id}/executions";
    ListWorkflowExecutions = Get "/v2/{project_id}/fgs/workflows/{workflow_id}/executions";
    ShowWorkflowExecution = Get "/v2/{project_id}/fgs/workflows/{workflow_id}/executions/{execution_id}";
    /// Terminates a running execution (the SDK's name for it).
    StopWorkFlow = Post "/v2/{project_id}/fgs/workflows/{workflow_id}/executions/{execution_id}/terminate";
    /// EXPRESS workflows only: the answer waits for the execution's end.
    StartSyncWorkflowExecution = Post "/v2/{project_id}/fgs/workflows/{workflow_id}/sync-executions";
    ListQuotas = Get "/v2/{project_id}/fgs/quotas";
    ShowProjectTagsList = Get "/v2/{project_id}/functions/tags";
    ListFunctionTags = Get "/v2/{project_id}/functions/{resource_id}/tags";
    CreateTags = Post "/v2/{project_id}/functions/{resource_id}/tags/create";
    DeleteTags = Delete "/v2/{project_id}/functions/{resource_id}/tags/delete";
    /// IAM: a token for a password (the emulator's `/v3/auth/tokens`).
    KeystoneCreateUserTokenByPassword = Post "/v3/auth/tokens";
}

/// Names older fgform versions wrote into crash-journal intents and saved plans, with the
/// operation each one was. Read, never written.
const LEGACY: &[(&str, Operation)] = &[
    ("UpdateFunctionTags", Operation::CreateTags),
    ("PutAsyncConfig", Operation::UpdateFunctionAsyncInvokeConfig),
    ("DeleteAsyncConfig", Operation::DeleteFunctionAsyncInvokeConfig),
    ("CreateTrigger", Operation::CreateFunctionTrigger),
    ("UpdateTriggerStatus", Operation::UpdateTrigger),
    ("DeleteTrigger", Operation::DeleteFunctionTrigger),
    ("UpdateWorkflow", Operation::UpdateWorkFlow),
    ("DeleteWorkflow", Operation::BatchDeleteWorkflows),
];

/// A name that is no operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a FunctionGraph operation fgform knows")]
pub struct UnknownOperation(pub String);

impl FromStr for Operation {
    type Err = UnknownOperation;

    fn from_str(name: &str) -> Result<Operation, UnknownOperation> {
        Operation::ALL
            .iter()
            .copied()
            .find(|op| op.as_str() == name)
            .or_else(|| LEGACY.iter().find(|(old, _)| *old == name).map(|(_, op)| *op))
            .ok_or_else(|| UnknownOperation(name.to_string()))
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Operation {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Operation {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Operation, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_round_trips_and_is_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for op in Operation::ALL {
            assert!(seen.insert(op.as_str()), "{op} twice");
            assert_eq!(op.as_str().parse::<Operation>(), Ok(*op));
            let json = serde_json::to_string(op).unwrap();
            assert_eq!(serde_json::from_str::<Operation>(&json).unwrap(), *op);
        }
        assert_eq!(seen.len(), 58);
    }

    #[test]
    fn legacy_names_still_read_and_are_never_current_names() {
        for (old, op) in LEGACY {
            assert_eq!(old.parse::<Operation>(), Ok(*op));
            assert!(Operation::ALL.iter().all(|o| o.as_str() != *old), "{old}");
        }
        assert!("Nope".parse::<Operation>().is_err());
    }

    #[test]
    fn paths_and_methods_are_unique_pairs() {
        let mut seen = std::collections::BTreeSet::new();
        for op in Operation::ALL {
            assert!(seen.insert((op.method().as_str(), op.path())), "{op}");
        }
    }
}
