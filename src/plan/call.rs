//! A planned API call: its [`Operation`] and, for every call that sends a body, the typed
//! request the planner built from the manifests (pure code, no I/O).
//!
//! Values only the apply can know are slots the applier fills in, never rebuilt from the
//! manifests: a function's `func_code.file` (the base64 of a local package) and
//! `depend_version_list` (version ids of dependencies created in the same run), a
//! dependency version's `depend_file`, the URN of a function created earlier in the run,
//! and the stale tags to remove (only the live function lists them).
//!
//! A call serializes as its operation's SDK name only: plan JSON and plan files never hold
//! a request body, so neither secrets (`encrypted_user_data`) nor code land in them. A call
//! read back from a plan file has no request; `apply FILE` takes the requests from the plan
//! it makes again from the same manifests ([`super::saved::SavedPlan::with_requests`]).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::api::types::{
    AliasRequest, AsyncInvokeConfigRequest, CreateDependencyVersionRequest, CreateFunctionRequest,
    CreateTriggerRequest, PublishVersionRequest, Tag, UpdateFunctionCodeRequest, UpdateFunctionConfigRequest,
    UpdateTriggerRequest, WorkflowDefinition,
};
use crate::api::Operation;

/// The typed request of a call that sends a body. Its `Debug` names the operation only: a
/// request may carry a function's secrets (`encrypted_user_data`) and a plan is printed with
/// `{:?}` in test failures and debug logs. Every body is boxed: a plan holds one call or
/// more per change, and with an alias request inline each call took 232 bytes, not 32.
#[derive(Clone, PartialEq)]
pub enum Request {
    /// Slots: `func_code.file`, `depend_version_list`.
    CreateFunction(Box<CreateFunctionRequest>),
    UpdateFunctionConfig(Box<UpdateFunctionConfigRequest>),
    /// Slots: `func_code.file`, `depend_version_list`.
    UpdateFunctionCode(Box<UpdateFunctionCodeRequest>),
    /// The tags to set (the manifest's and the ownership tag); an update first removes the
    /// live ones not listed.
    CreateTags(Vec<Tag>),
    UpdateFunctionAsyncInvokeConfig(Box<AsyncInvokeConfigRequest>),
    CreateFunctionTrigger(Box<CreateTriggerRequest>),
    UpdateTrigger(Box<UpdateTriggerRequest>),
    /// Slot: `depend_file`.
    CreateDependencyVersion(Box<CreateDependencyVersionRequest>),
    CreateWorkflow(Box<WorkflowDefinition>),
    UpdateWorkFlow(Box<WorkflowDefinition>),
    CreateFunctionVersion(Box<PublishVersionRequest>),
    CreateVersionAlias(Box<AliasRequest>),
    /// The alias as it ends; a rollout reaches it step by step.
    UpdateVersionAlias(Box<AliasRequest>),
}

impl Request {
    /// The operation that sends it.
    pub fn operation(&self) -> Operation {
        match self {
            Request::CreateFunction(_) => Operation::CreateFunction,
            Request::UpdateFunctionConfig(_) => Operation::UpdateFunctionConfig,
            Request::UpdateFunctionCode(_) => Operation::UpdateFunctionCode,
            Request::CreateTags(_) => Operation::CreateTags,
            Request::UpdateFunctionAsyncInvokeConfig(_) => Operation::UpdateFunctionAsyncInvokeConfig,
            Request::CreateFunctionTrigger(_) => Operation::CreateFunctionTrigger,
            Request::UpdateTrigger(_) => Operation::UpdateTrigger,
            Request::CreateDependencyVersion(_) => Operation::CreateDependencyVersion,
            Request::CreateWorkflow(_) => Operation::CreateWorkflow,
            Request::UpdateWorkFlow(_) => Operation::UpdateWorkFlow,
            Request::CreateFunctionVersion(_) => Operation::CreateFunctionVersion,
            Request::CreateVersionAlias(_) => Operation::CreateVersionAlias,
            Request::UpdateVersionAlias(_) => Operation::UpdateVersionAlias,
        }
    }
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Request({}, ..)", self.operation())
    }
}

/// One planned call.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    operation: Operation,
    request: Option<Request>,
}

impl Call {
    /// A call sending `request`.
    pub fn send(request: Request) -> Call {
        Call {
            operation: request.operation(),
            request: Some(request),
        }
    }

    /// A call without a body (the deletes).
    pub fn bare(operation: Operation) -> Call {
        Call {
            operation,
            request: None,
        }
    }

    pub fn operation(&self) -> Operation {
        self.operation
    }

    /// The request; `None` for a delete, and for any call read back from a plan file.
    pub fn request(&self) -> Option<&Request> {
        self.request.as_ref()
    }
}

impl PartialEq<Operation> for Call {
    fn eq(&self, other: &Operation) -> bool {
        self.operation == *other
    }
}

impl Serialize for Call {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.operation.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Call {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Call, D::Error> {
        Operation::deserialize(d).map(Call::bare)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plan of 10,000 functions holds some 30,000 changes, each with a call or more: a
    /// request or a rollout put inline again would grow every one of them.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_call_and_a_change_stay_small() {
        assert!(size_of::<Call>() <= 32, "{}", size_of::<Call>());
        let change = size_of::<crate::plan::Change>();
        assert!(change <= 168, "{change}");
    }

    #[test]
    fn a_call_is_written_as_its_operation_only_and_reads_back_without_its_request() {
        let secret = "s3cret-value";
        let call = Call::send(Request::UpdateFunctionConfig(Box::new(UpdateFunctionConfigRequest {
            encrypted_user_data: Some(secret.into()),
            ..Default::default()
        })));
        let text = serde_json::to_string(&call).unwrap();
        assert_eq!(text, "\"UpdateFunctionConfig\"");
        let back: Call = serde_json::from_str(&text).unwrap();
        assert_eq!(back.operation(), Operation::UpdateFunctionConfig);
        assert!(back.request().is_none());
        assert!(!format!("{call:?} {call:#?}").contains(secret), "{call:?}");
        let legacy: Call = serde_json::from_str("\"CreateTrigger\"").unwrap();
        assert_eq!(legacy, Operation::CreateFunctionTrigger);
    }

    #[test]
    fn a_planned_create_carries_its_requests_with_only_the_apply_slots_empty() {
        use std::collections::BTreeMap;
        let options = crate::manifest::LoadOptions {
            env: BTreeMap::from([("HOME".to_string(), "/home/test".to_string())]),
            ..Default::default()
        };
        let desired = crate::manifest::load_dir(std::path::Path::new("examples/shop"), &options).unwrap();
        let state = crate::state::State::new(&desired.stack, None);
        let plan = crate::plan::plan(&desired, &Default::default(), &state, &Default::default());
        let thumbnail = plan.change(&"function.thumbnail".parse().unwrap()).unwrap();
        let Some(Request::CreateFunction(create)) = thumbnail.request(Operation::CreateFunction) else {
            panic!("no create request: {:?}", thumbnail.calls);
        };
        assert_eq!(create.func_name, "thumbnail");
        assert_eq!(create.func_code.as_ref().and_then(|c| c.file.as_deref()), Some(""));
        assert_eq!(create.depend_version_list.as_deref(), Some(&[][..]));
        let tags = create.extra["tags"].as_str().unwrap();
        assert!(tags.contains(&state.owner().tag_value()), "{tags}");
        // Every call that sends a body carries it; the deletes carry none.
        for change in &plan.changes {
            for call in &change.calls {
                let deletes = call.operation().as_str().starts_with("Delete");
                assert_eq!(
                    call.request().is_none(),
                    deletes,
                    "{} {}",
                    change.address,
                    call.operation()
                );
            }
        }
    }
}
