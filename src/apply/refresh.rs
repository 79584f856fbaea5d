//! Refresh: read the live side of everything the state records and the manifests name,
//! GETs only, a bounded number at a time.

use std::collections::BTreeSet;
use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::api::types::Workflow;
use crate::client::{ApiError, Client};
use crate::model::{Address, Desired};
use crate::plan::{Live, LiveFunction};
use crate::state::State;

/// A refresh failure, naming the resource.
#[derive(Debug, thiserror::Error)]
#[error("refreshing {address}")]
pub struct RefreshError {
    pub address: Address,
    #[source]
    pub source: ApiError,
}

async fn read_function(client: &Client, urn: &str, with_async: bool) -> Result<Option<LiveFunction>, ApiError> {
    let Some(config) = client.show_function_config_opt(urn).await? else {
        return Ok(None);
    };
    let (triggers, tags, async_config) =
        tokio::try_join!(client.list_triggers(urn), client.list_function_tags(urn), async {
            if with_async {
                client.show_async_config(urn).await
            } else {
                Ok(None)
            }
        })?;
    Ok(Some(LiveFunction {
        config,
        triggers,
        async_config,
        tags: tags.tags,
    }))
}

/// Reads the live resources of `desired` (when given) and of `state`.
pub async fn refresh(
    client: &Client,
    desired: Option<&Desired>,
    state: &State,
    parallelism: usize,
) -> Result<Live, RefreshError> {
    let limit = Arc::new(Semaphore::new(parallelism.max(1)));
    let mut live = Live::default();
    let recorded: BTreeSet<Address> = state.resources.keys().filter_map(|k| k.parse().ok()).collect();

    // Functions: by the URN state recorded, else the one the manifest implies.
    let mut functions: Vec<(String, String, bool)> = Vec::new();
    for address in &recorded {
        if let Address::Function(name) = address {
            let with_async = recorded.contains(&Address::Async(name.clone()))
                || desired.is_some_and(|d| d.functions.get(name).is_some_and(|f| f.async_config.is_some()));
            functions.push((
                name.clone(),
                state.resources[&address.to_string()].id.clone(),
                with_async,
            ));
        }
    }
    if let Some(desired) = desired {
        for (name, spec) in &desired.functions {
            if !recorded.contains(&Address::Function(name.clone())) {
                functions.push((name.clone(), desired.function_urn(name), spec.async_config.is_some()));
            }
        }
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (name, urn, with_async) in functions {
        let (client, limit) = (client.clone(), limit.clone());
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let result = read_function(&client, &urn, with_async).await;
            (name, result)
        });
    }
    while let Some(joined) = tasks.join_next().await {
        let (name, result) = joined.expect("refresh task panicked");
        match result {
            Ok(Some(f)) => {
                live.functions.insert(name, f);
            }
            Ok(None) => {}
            Err(source) => {
                return Err(RefreshError {
                    address: Address::Function(name),
                    source,
                })
            }
        }
    }

    // Dependency versions recorded in state.
    for address in &recorded {
        if let Address::Dependency(name) = address {
            let record = &state.resources[&address.to_string()];
            let dep_id = record
                .attributes
                .get("dep_id")
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            let version = record
                .attributes
                .get("version")
                .and_then(|v| v.as_i64())
                .unwrap_or_default();
            let found = client
                .show_dependency_version(dep_id, version)
                .await
                .map_err(|source| RefreshError {
                    address: address.clone(),
                    source,
                })?;
            if let Some(v) = found {
                live.dependencies.insert(name.clone(), v);
            }
        }
    }

    // Workflows: one list, then the definitions of those state records.
    let wants_workflows =
        desired.is_some_and(|d| !d.workflows.is_empty()) || recorded.iter().any(|a| matches!(a, Address::Workflow(_)));
    if wants_workflows {
        let all = client.list_all_workflows(None).await.map_err(|source| RefreshError {
            address: Address::Workflow("*".into()),
            source,
        })?;
        for summary in all {
            live.workflow_names.insert(summary.name.clone(), summary);
        }
        for address in &recorded {
            if let Address::Workflow(name) = address {
                let id = &state.resources[&address.to_string()].id;
                let found: Option<Workflow> = client.show_workflow_opt(id).await.map_err(|source| RefreshError {
                    address: address.clone(),
                    source,
                })?;
                if let Some(w) = found {
                    live.workflows.insert(name.clone(), w);
                }
            }
        }
    }
    Ok(live)
}
