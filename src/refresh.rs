//! Refresh: read the live side of everything the state records and the manifests name,
//! GETs only, as few as the API allows, a bounded number at a time.
//!
//! Functions: one paged list (400 a page) says which exist and gives their config; then per
//! existing function its triggers and, where the manifest or state has one, its async
//! config. Its tags are read only where the state cannot settle ownership: a function the
//! state does not record, or one whose function id is not the one recorded (deleted and made
//! again by someone else under the same name), or whose record predates that; otherwise the
//! tags the state recorded stand in for the live ones (see `docs/reads.md`). The list item
//! lacks dependency versions, VPC, file systems and the log group, so a function whose
//! manifest or state uses any of those has its config read with `GET …/config` instead.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use futures::StreamExt as _;
use tokio::sync::Semaphore;

use crate::api::types::{FunctionConfig, Tag, Workflow};
use crate::client::{ApiError, Client};
use crate::model::{qualified_urn, Address, Desired};
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

/// Config attributes list items (`GET /fgs/functions`) do not carry in full: a function
/// whose manifest or recorded state uses one is read with `GET …/config` instead.
const SHOW_ONLY_KEYS: &[&str] = &["func_vpc", "mount_config", "log_config"];

/// How one function is read.
struct Read {
    name: String,
    urn: String,
    /// `GET …/async-invoke-config` too (the manifest or the state has one).
    with_async: bool,
    /// Its versions and aliases too (the manifest or the state has any).
    with_releases: bool,
    /// Aliases whose triggers are read too (triggers the manifest or the state puts there).
    trigger_qualifiers: Vec<String>,
    /// The alias whose async config is read (`None`: latest's).
    async_qualifier: Option<String>,
    /// Its config from the list item; `None` = `GET …/config` (the list lacks what the diff reads).
    /// Boxed: a list of reads waits for its turn, and a config is ~600 bytes inline.
    listed: Option<Box<FunctionConfig>>,
    /// The tags the state recorded, when the state settles ownership (`None`: read them).
    recorded_tags: Option<Vec<Tag>>,
}

async fn read_function(client: &Client, read: Read) -> Result<Option<LiveFunction>, ApiError> {
    let urn = read.urn.as_str();
    let config = match read.listed {
        Some(config) => *config,
        None => match client.show_function_config_opt(urn).await? {
            Some(config) => config,
            None => return Ok(None),
        },
    };
    let releases = async {
        if !read.with_releases {
            return Ok((None, None));
        }
        let (versions, aliases) = tokio::try_join!(client.list_all_versions(urn), client.list_aliases(urn))?;
        let versions = versions.into_iter().filter(|v| v.version != "latest").collect();
        Ok((Some(versions), Some(aliases)))
    };
    let qualified_triggers = async {
        let mut out = Vec::new();
        for q in &read.trigger_qualifiers {
            // An alias not made yet (or deleted in the console) has no triggers.
            let listed = client.list_triggers_or_none(&qualified_urn(urn, Some(q))).await?;
            out.push((q.clone(), listed));
        }
        Ok::<_, ApiError>(out)
    };
    let async_urn = qualified_urn(urn, read.async_qualifier.as_deref());
    let recorded_tags = read.recorded_tags;
    let tags_from_state = recorded_tags.is_some();
    let tags = async {
        match recorded_tags {
            Some(tags) => Ok(tags),
            None => Ok(client.list_function_tags(urn).await?.tags),
        }
    };
    let (mut triggers, tags, async_config, (versions, aliases), qualified) = tokio::try_join!(
        client.list_triggers(urn),
        tags,
        async {
            if read.with_async {
                client.show_async_config(&async_urn).await
            } else {
                Ok(None)
            }
        },
        releases,
        qualified_triggers
    )?;
    let mut trigger_qualifiers = std::collections::BTreeMap::new();
    for (q, listed) in qualified {
        for t in listed {
            trigger_qualifiers.insert(t.trigger_id.clone(), q.clone());
            triggers.push(t);
        }
    }
    // A decoded list reserves room for four; most functions have one trigger or none, and
    // a refresh keeps 10,000 of these.
    triggers.shrink_to_fit();
    Ok(Some(LiveFunction {
        config,
        triggers,
        async_config,
        tags,
        tags_from_state,
        versions,
        aliases,
        trigger_qualifiers,
        async_qualifier: read.async_qualifier,
    }))
}

/// Whether the diff of function `name` reads config attributes a list item lacks: the
/// dependency versions, VPC, file systems or log group the manifest sets or the state recorded.
fn needs_show(desired: Option<&Desired>, state: &State, name: &str) -> bool {
    let spec = desired.and_then(|d| d.functions.get(name));
    if spec.is_some_and(|f| {
        !f.dependencies.is_empty() || f.func_vpc.is_some() || f.mount_config.is_some() || f.log_config.is_some()
    }) {
        return true;
    }
    state
        .resources
        .get(&Address::Function(name.into()).to_string())
        .is_some_and(|r| {
            let attributes = r.attributes.to_map();
            SHOW_ONLY_KEYS
                .iter()
                .any(|k| attributes.get(*k).is_some_and(|v| !v.is_null()))
                || attributes
                    .get("depend_version_list")
                    .and_then(|v| v.as_array())
                    .is_some_and(|a| !a.is_empty())
        })
}

/// What the state records of functions' versions, aliases and qualifiers, gathered in one
/// pass over the records (not one pass per function: a refresh reads thousands).
#[derive(Default)]
struct RecordedReleases {
    /// Functions with a recorded version or alias.
    releases: BTreeSet<String>,
    /// The aliases each function's recorded triggers live under.
    trigger_qualifiers: HashMap<String, BTreeSet<String>>,
    /// The alias each function's recorded async config lives under.
    async_qualifier: HashMap<String, String>,
}

impl RecordedReleases {
    fn gather(state: &State, recorded: &BTreeSet<Address>) -> RecordedReleases {
        let mut out = RecordedReleases::default();
        let qualifier = |address: &Address| {
            state.resources[&address.to_string()]
                .attributes
                .get("qualifier")
                .and_then(|v| v.as_str().map(str::to_string))
        };
        for address in recorded {
            match address {
                Address::Version(f) | Address::Alias { function: f, .. } => {
                    out.releases.insert(f.clone());
                }
                Address::Trigger { function, .. } => {
                    if let Some(q) = qualifier(address) {
                        out.trigger_qualifiers.entry(function.clone()).or_default().insert(q);
                    }
                }
                Address::Async(function) => {
                    if let Some(q) = qualifier(address) {
                        out.async_qualifier.insert(function.clone(), q);
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// The aliases whose triggers function `name` has (in the manifest or the state), and
    /// the alias its async config is at (the manifest's, else the state's).
    fn qualifiers(&self, desired: Option<&Desired>, name: &str) -> (Vec<String>, Option<String>) {
        let spec = desired.and_then(|d| d.functions.get(name));
        let mut triggers: BTreeSet<String> = spec
            .map(|f| f.triggers.values().filter_map(|t| t.qualifier.clone()).collect())
            .unwrap_or_default();
        triggers.extend(self.trigger_qualifiers.get(name).into_iter().flatten().cloned());
        let async_qualifier = match spec.and_then(|f| f.async_config.as_ref()) {
            Some(a) => a.qualifier.clone(),
            None => self.async_qualifier.get(name).cloned(),
        };
        (triggers.into_iter().collect(), async_qualifier)
    }
}

/// What a refresh's project-wide lists saw, for callers that also take stock of the
/// project (`fgform drift`), so they need not list it again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listed {
    /// Every function of the project: `(unqualified URN, name)`.
    pub functions: Vec<(String, String)>,
    /// Whether [`Live::workflow_names`] holds every workflow of the project (it listed them).
    pub workflows: bool,
}

/// Reads the live resources of `desired` (when given) and of `state`.
pub async fn refresh(
    client: &Client,
    desired: Option<&Desired>,
    state: &State,
    parallelism: usize,
) -> Result<Live, RefreshError> {
    Ok(read(client, desired, state, parallelism, None).await?.0)
}

/// [`refresh`], listing the project's functions even when nothing is recorded or desired,
/// and returning what the lists held.
pub async fn refresh_listed(
    client: &Client,
    desired: Option<&Desired>,
    state: &State,
    parallelism: usize,
) -> Result<(Live, Listed), RefreshError> {
    let (live, listed) = read(client, desired, state, parallelism, Some(Listed::default())).await?;
    Ok((live, listed.unwrap_or_default()))
}

async fn read(
    client: &Client,
    desired: Option<&Desired>,
    state: &State,
    parallelism: usize,
    mut listing: Option<Listed>,
) -> Result<(Live, Option<Listed>), RefreshError> {
    let mut live = Live::default();
    let recorded = || -> BTreeSet<Address> { state.resources.keys().filter_map(|k| k.parse().ok()).collect() };
    let reads = function_reads(client, desired, state, &recorded(), &mut listing).await?;
    read_functions(client, reads, parallelism, &mut live).await?;
    // Parsed again rather than kept through the reads: 30,000 addresses are ~2 MB.
    let recorded = recorded();
    read_dependencies(client, state, &recorded, &mut live).await?;
    let wants_workflows =
        desired.is_some_and(|d| !d.workflows.is_empty()) || recorded.iter().any(|a| matches!(a, Address::Workflow(_)));
    if let Some(listing) = &mut listing {
        listing.workflows = wants_workflows;
    }
    if wants_workflows {
        read_workflows(client, state, &recorded, &mut live).await?;
    }
    Ok((live, listing))
}

/// A function a refresh looks for, before the list says whether it exists.
struct Wanted {
    name: String,
    urn: String,
    with_async: bool,
    with_releases: bool,
    /// What the state recorded that settles ownership, if it recorded enough.
    settled: Option<Settled>,
}

/// The function id and tags a function's record holds: the function the state made or
/// imported, with the tags fgform last set on it.
struct Settled {
    func_id: String,
    tags: Vec<Tag>,
}

impl Settled {
    /// `None` for a record without its function id (written before fgform recorded it, or
    /// after a create whose answer was lost) or without its tags.
    fn of(record: &crate::state::ResourceState) -> Option<Settled> {
        let func_id = record.private.get(crate::state::FUNC_ID)?.as_str()?.to_string();
        let mut tags = record
            .attributes
            .get("tags")?
            .as_object()?
            .iter()
            .map(|(key, value)| {
                Some(Tag {
                    key: key.clone(),
                    value: value.as_str()?.to_string(),
                })
            })
            .collect::<Option<Vec<Tag>>>()?;
        tags.shrink_to_fit(); // kept for the whole run, as the live tags
        Some(Settled { func_id, tags })
    }
}

/// The functions to read: by the URN state recorded, else the one the manifest implies;
/// only those the project's function list holds (the rest are absent live). Fills
/// `listing` with that list when asked.
async fn function_reads(
    client: &Client,
    desired: Option<&Desired>,
    state: &State,
    recorded: &BTreeSet<Address>,
    listing: &mut Option<Listed>,
) -> Result<Vec<Read>, RefreshError> {
    let mut functions: Vec<Wanted> = Vec::new();
    let spec = |name: &str| desired.and_then(|d| d.functions.get(name));
    let releases = RecordedReleases::gather(state, recorded);
    let with_releases = |name: &str| {
        spec(name).is_some_and(|f| f.versions.is_some() || !f.aliases.is_empty()) || releases.releases.contains(name)
    };
    for address in recorded {
        if let Address::Function(name) = address {
            let record = &state.resources[&address.to_string()];
            functions.push(Wanted {
                name: name.clone(),
                urn: record.id.clone(),
                with_async: recorded.contains(&Address::Async(name.clone()))
                    || spec(name).is_some_and(|f| f.async_config.is_some()),
                with_releases: with_releases(name),
                settled: Settled::of(record),
            });
        }
    }
    if let Some(desired) = desired {
        for (name, spec) in &desired.functions {
            if !recorded.contains(&Address::Function(name.clone())) {
                functions.push(Wanted {
                    name: name.clone(),
                    urn: desired.function_urn(name),
                    with_async: spec.async_config.is_some(),
                    with_releases: with_releases(name),
                    settled: None,
                });
            }
        }
    }
    // One list (400 a page) tells which exist and carries the config most diffs read, so
    // those functions need only their triggers and async config on top.
    let mut listed: HashMap<String, Box<FunctionConfig>> = HashMap::new();
    if !functions.is_empty() || listing.is_some() {
        let all = client.list_all_functions().await.map_err(|source| RefreshError {
            address: Address::Function("*".into()),
            source,
        })?;
        listed.reserve(all.len());
        for f in all {
            let urn = crate::api::urn::without_latest(&f.func_urn).to_string();
            if let Some(listing) = listing {
                listing.functions.push((urn.clone(), f.func_name.clone()));
            }
            listed.insert(urn, Box::new(f));
        }
    }
    let mut reads = Vec::with_capacity(functions.len());
    for wanted in functions {
        let Some(item) = listed.remove(&wanted.urn) else {
            continue; // absent live
        };
        let (trigger_qualifiers, async_qualifier) = releases.qualifiers(desired, &wanted.name);
        // The state settles ownership only of the very function it recorded.
        let recorded_tags = wanted
            .settled
            .filter(|s| !item.func_id.is_empty() && s.func_id == item.func_id)
            .map(|s| s.tags);
        reads.push(Read {
            listed: (!needs_show(desired, state, &wanted.name)).then_some(item),
            name: wanted.name,
            urn: wanted.urn,
            with_async: wanted.with_async,
            with_releases: wanted.with_releases,
            trigger_qualifiers,
            async_qualifier,
            recorded_tags,
        });
    }
    Ok(reads)
}

/// Runs `reads`, at most `parallelism` at a time, into `live`.
async fn read_functions(
    client: &Client,
    reads: Vec<Read>,
    parallelism: usize,
    live: &mut Live,
) -> Result<(), RefreshError> {
    let limit = Arc::new(Semaphore::new(parallelism.max(1)));
    // At most `parallelism` reads exist as tasks at once: spawning one task per function up
    // front held 10,000 large futures in memory while they waited for a permit.
    let mut reads = reads.into_iter();
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        while tasks.len() < parallelism.max(1) {
            let Some(read) = reads.next() else { break };
            let (client, limit) = (client.clone(), limit.clone());
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await;
                let name = read.name.clone();
                let result = read_function(&client, read).await;
                (name, result)
            });
        }
        let Some(joined) = tasks.join_next().await else { break };
        let (name, result) = joined.expect("refresh task panicked");
        match result {
            Ok(Some(f)) => {
                live.functions.insert(name, Box::new(f));
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
    Ok(())
}

/// Reads the tags of functions `names` of `live` whose tags came from the state (see
/// [`Live::unconfirmed_owners`]), at most `parallelism` at a time; a function deleted
/// meanwhile is taken out of `live`.
pub async fn confirm_owners(
    client: &Client,
    live: &mut Live,
    names: Vec<String>,
    parallelism: usize,
) -> Result<(), RefreshError> {
    let urns: Vec<(String, String)> = names
        .into_iter()
        .filter_map(|name| {
            let f = live.functions.get(&name)?;
            Some((name, crate::api::urn::without_latest(&f.config.func_urn).to_string()))
        })
        .collect();
    let read = futures::stream::iter(urns)
        .map(|(name, urn)| async move {
            let tags = crate::client::optional(client.list_function_tags(&urn).await);
            (name, tags)
        })
        .buffer_unordered(parallelism.max(1));
    let results: Vec<_> = read.collect().await;
    for (name, tags) in results {
        match tags {
            Ok(Some(tags)) => {
                let f = live.functions.get_mut(&name).expect("named from live");
                f.tags = tags.tags;
                f.tags_from_state = false;
            }
            Ok(None) => {
                live.functions.remove(&name);
            }
            Err(source) => {
                return Err(RefreshError {
                    address: Address::Function(name),
                    source,
                })
            }
        }
    }
    Ok(())
}

/// The dependency versions recorded in state.
async fn read_dependencies(
    client: &Client,
    state: &State,
    recorded: &BTreeSet<Address>,
    live: &mut Live,
) -> Result<(), RefreshError> {
    for address in recorded {
        if let Address::Dependency(name) = address {
            let record = &state.resources[&address.to_string()];
            let attributes = record.attributes.to_map();
            let dep_id = attributes.get("dep_id").and_then(|v| v.as_str()).unwrap_or_default();
            let version = attributes.get("version").and_then(|v| v.as_i64()).unwrap_or_default();
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
    Ok(())
}

/// Workflows: one list, then the definitions of those state records.
async fn read_workflows(
    client: &Client,
    state: &State,
    recorded: &BTreeSet<Address>,
    live: &mut Live,
) -> Result<(), RefreshError> {
    let all = client.list_all_workflows(None).await.map_err(|source| RefreshError {
        address: Address::Workflow("*".into()),
        source,
    })?;
    for summary in all {
        live.workflow_names.insert(summary.name.clone(), summary);
    }
    for address in recorded {
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
    Ok(())
}
