//! Crash recovery: resolves the intents a killed or interrupted run left in the state.
//!
//! Every mutating call's intent is journaled (a create's durably, before the call is sent)
//! and is confirmed in the same write that records its result, so a pending intent is a
//! call whose outcome nobody saw. Creates are looked up by their natural key (function URN and ownership tag, trigger
//! type and event data, dependency name and etag, workflow name): found → recorded, so
//! nothing is ever created twice; not found → the call never took effect. Updates and
//! deletes need no lookup: the refresh that follows reads what they did.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::api::Operation;
use crate::client::{ApiError, Client};
use crate::model::limits::OWNERSHIP_TAG_KEY;
use crate::model::Address;
use crate::plan::is_trigger;
use crate::refresh::RefreshError;
use crate::state::{Intent, ResourceState, State};

/// What became of one pending intent.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    /// The create happened: this record goes into the state.
    Recorded(ResourceState),
    /// The create did not happen (or what exists is not ours).
    NotFound,
    /// An update or delete: the refresh reads its effect.
    Refreshed,
}

/// One resolved intent.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub id: String,
    pub intent: Intent,
    pub resolution: Resolution,
}

impl std::fmt::Display for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (address, call, started) = (&self.intent.address, &self.intent.call, &self.intent.started);
        match &self.resolution {
            Resolution::Recorded(r) => write!(
                f,
                "{address}: {call} sent at {started} had succeeded; recorded (id {})",
                r.id
            ),
            Resolution::NotFound => write!(f, "{address}: {call} sent at {started} had not taken effect"),
            Resolution::Refreshed => write!(f, "{address}: {call} sent at {started}; its effect is re-read"),
        }
    }
}

fn str_at<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// Resolves every pending intent of `state` (GETs only).
pub async fn resolve(client: &Client, state: &State) -> Result<Vec<Resolved>, RefreshError> {
    let mut out = Vec::new();
    // Ids already recorded (or claimed by an earlier resolution) are not someone's create.
    let mut taken: BTreeSet<String> = state.resources.values().map(|r| r.id.clone()).collect();
    for (id, intent) in &state.pending {
        let address: Address = intent
            .address
            .parse()
            .unwrap_or_else(|_| Address::Function(intent.address.clone()));
        let err = |source: ApiError| RefreshError {
            address: address.clone(),
            source,
        };
        let template = intent.record.clone();
        let lookup = &intent.lookup;
        let resolution = match (intent.call, template) {
            (Operation::CreateFunction, Some(template)) => {
                let urn = str_at(lookup, "urn");
                match client.show_function_config_opt(urn).await.map_err(err)? {
                    None => Resolution::NotFound,
                    Some(_) => {
                        let tags = client.list_function_tags(urn).await.map_err(err)?;
                        // The owner the create body tagged it with (`stack`: intents written
                        // before the tag named the state).
                        let owner = lookup
                            .get("owner")
                            .map_or_else(|| str_at(lookup, "stack"), |_| str_at(lookup, "owner"));
                        let ours = tags.tags.iter().any(|t| t.key == OWNERSHIP_TAG_KEY && t.value == owner);
                        if ours && !taken.contains(urn) {
                            Resolution::Recorded(ResourceState {
                                id: urn.to_string(),
                                ..template
                            })
                        } else {
                            Resolution::NotFound
                        }
                    }
                }
            }
            (Operation::CreateFunctionTrigger, Some(template)) => {
                let urn = str_at(lookup, "function_urn");
                let kind = str_at(lookup, "trigger_type_code");
                let want = lookup
                    .get("event_data")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                let triggers = client.list_triggers_or_none(urn).await.map_err(err)?;
                let found = triggers
                    .into_iter()
                    .find(|t| !taken.contains(&t.trigger_id) && is_trigger(t, kind, &want));
                match found {
                    Some(t) => Resolution::Recorded(ResourceState {
                        id: t.trigger_id,
                        ..template
                    }),
                    None => Resolution::NotFound,
                }
            }
            (Operation::CreateDependencyVersion, Some(template)) => {
                let name = str_at(lookup, "name");
                let etag = lookup.get("etag").and_then(Value::as_str);
                let runtime = str_at(lookup, "runtime");
                let found = match client.find_dependency(name).await.map_err(err)? {
                    None => None,
                    Some(package) => client
                        .list_all_dependency_versions(&package.id)
                        .await
                        .map_err(err)?
                        .into_iter()
                        .filter(|v| !taken.contains(&v.id) && v.runtime == runtime)
                        .filter(|v| etag.is_none_or(|e| v.etag == e))
                        .max_by_key(|v| v.version),
                };
                match found {
                    Some(v) => Resolution::Recorded(crate::apply::dependency_record(template, &v)),
                    None => Resolution::NotFound,
                }
            }
            (Operation::CreateWorkflow, Some(template)) => {
                let name = str_at(lookup, "name");
                let found = client
                    .find_workflow(name)
                    .await
                    .map_err(err)?
                    .filter(|w| !taken.contains(&w.id));
                match found {
                    Some(w) => {
                        let mut rec = ResourceState { id: w.id, ..template };
                        rec.private.insert("workflow_urn", w.workflow_urn.into());
                        Resolution::Recorded(rec)
                    }
                    None => Resolution::NotFound,
                }
            }
            _ => Resolution::Refreshed,
        };
        if let Resolution::Recorded(r) = &resolution {
            taken.insert(r.id.clone());
        }
        out.push(Resolved {
            id: id.clone(),
            intent: intent.clone(),
            resolution,
        });
    }
    Ok(out)
}

/// Records what `resolved` found and clears the intents.
pub fn settle(state: &mut State, resolved: &[Resolved]) {
    for r in resolved {
        if let Resolution::Recorded(record) = &r.resolution {
            state.resources.insert(r.intent.address.clone(), record.clone());
        }
        state.pending.remove(&r.id);
    }
}
