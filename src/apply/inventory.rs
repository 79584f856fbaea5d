//! Inventory: what the project holds beyond the state, for `fgform drift`. GETs only, at
//! most `parallelism` at a time: the ownership tags of the functions the state does not
//! record (functions the manifests name already had theirs read by the refresh), every
//! workflow (unless the refresh listed them) and every private dependency package. The
//! function list itself comes from [`refresh_listed`](crate::refresh::refresh_listed).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::client::{ApiError, Client};
use crate::drift::{Inventory, ProjectFunction};
use crate::model::limits::OWNERSHIP_TAG_KEY;
use crate::plan::Live;
use crate::refresh::Listed;
use crate::state::State;

/// An inventory read that failed.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("listing the project's {what}")]
    List {
        what: &'static str,
        #[source]
        source: ApiError,
    },
    #[error("reading the tags of function `{name}` ({urn})")]
    Tags {
        name: String,
        urn: String,
        #[source]
        source: ApiError,
    },
}

/// Takes stock of the project around `state`, given what the refresh read and listed.
pub async fn read(
    client: &Client,
    state: &State,
    live: &Live,
    listed: Listed,
    parallelism: usize,
) -> Result<Inventory, InventoryError> {
    let limit = Arc::new(Semaphore::new(parallelism.max(1)));
    let recorded: BTreeSet<&str> = state
        .resources
        .values()
        .filter(|r| r.kind == "function")
        .map(|r| crate::api::urn::without_latest(&r.id))
        .collect();
    let known: HashMap<&str, Option<&str>> = live
        .functions
        .values()
        .map(|f| {
            (
                crate::api::urn::without_latest(&f.config.func_urn),
                f.tag(OWNERSHIP_TAG_KEY),
            )
        })
        .collect();
    let total = listed.functions.len();
    let (mut unrecorded, mut unread) = (Vec::new(), Vec::new());
    for (urn, name) in listed.functions {
        if recorded.contains(urn.as_str()) {
            continue;
        }
        match known.get(urn.as_str()) {
            Some(owner) => unrecorded.push(ProjectFunction {
                name,
                owner: owner.map(str::to_string),
                urn,
            }),
            None => unread.push((urn, name)),
        }
    }
    let list = |what: &'static str| move |source| InventoryError::List { what, source };
    let workflows = async {
        if listed.workflows {
            return Ok(live.workflow_names.values().cloned().collect());
        }
        let _permit = limit.acquire().await;
        client.list_all_workflows(None).await.map_err(list("workflows"))
    };
    let dependencies = async {
        let _permit = limit.acquire().await;
        client
            .list_all_dependencies()
            .await
            .map_err(list("dependency packages"))
    };
    let (owners, workflows, dependencies) = tokio::try_join!(
        owners(client, unread, limit.clone(), parallelism),
        workflows,
        dependencies
    )?;
    unrecorded.extend(owners);
    unrecorded.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Inventory {
        functions: total,
        unrecorded_functions: unrecorded,
        workflows,
        dependencies,
    })
}

/// Reads the ownership tag of each `(urn, name)`, with at most `parallelism` reads in
/// flight (and as tasks); a function deleted since the list was read is left out.
async fn owners(
    client: &Client,
    functions: Vec<(String, String)>,
    limit: Arc<Semaphore>,
    parallelism: usize,
) -> Result<Vec<ProjectFunction>, InventoryError> {
    let mut functions = functions.into_iter();
    let mut tasks = tokio::task::JoinSet::new();
    let mut out = Vec::new();
    loop {
        while tasks.len() < parallelism.max(1) {
            let Some((urn, name)) = functions.next() else { break };
            let (client, limit) = (client.clone(), limit.clone());
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await;
                let tags = client.list_function_tags(&urn).await;
                (urn, name, tags)
            });
        }
        let Some(joined) = tasks.join_next().await else { break };
        match joined.expect("inventory task panicked") {
            (urn, name, Ok(tags)) => {
                let owner = tags.tags.into_iter().find(|t| t.key == OWNERSHIP_TAG_KEY);
                out.push(ProjectFunction {
                    name,
                    urn,
                    owner: owner.map(|t| t.value),
                });
            }
            (_, _, Err(e)) if e.is_not_found() => {}
            (urn, name, Err(source)) => return Err(InventoryError::Tags { name, urn, source }),
        }
    }
    Ok(out)
}
