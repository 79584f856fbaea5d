//! `fgform generate`'s I/O: read a live project (GETs only: nothing live changes), unpack
//! code and dependency packages into the new stack, write its manifest
//! ([`crate::generate`]), and record every resource in the new stack's state with the records
//! `fgform import` makes (`plan::import`), from the reads already made, so that `fgform plan` on
//! it right away plans no change. Seven GETs per function (config, tags, triggers, async
//! config, versions, aliases, export), plus the lists and shows of dependencies and workflows.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use futures::{StreamExt as _, TryStreamExt as _};

use crate::api::types::{FunctionConfig, Workflow};
use crate::api::urn::without_latest;
use crate::client::{ApiError, Client};
use crate::error::Hint;
use crate::generate::{Code, Found, FoundDependency, FoundFunction, Generated};
use crate::model::limits::OWNERSHIP_TAG_KEY;
use crate::model::{Address, Desired, Owner};
use crate::state::{State, StateStore};

/// Which functions to generate.
#[derive(Debug, Clone)]
pub enum Select {
    All,
    Functions(Vec<String>),
    Prefix(String),
}

impl Select {
    fn takes(&self, name: &str) -> bool {
        match self {
            Select::All => true,
            Select::Functions(names) => names.iter().any(|n| n == name),
            Select::Prefix(p) => name.starts_with(p.as_str()),
        }
    }

    /// Workflows come along with `--all` and `--prefix` (by their own name).
    fn takes_workflow(&self, name: &str) -> bool {
        !matches!(self, Select::Functions(_)) && self.takes(name)
    }
}

/// What the command asked for.
pub struct Request<'a> {
    pub client: &'a Client,
    pub select: Select,
    pub out: PathBuf,
    /// `--stack`; else the stack the selected functions are tagged for, else the folder's name.
    pub stack: Option<String>,
    /// `--stage`: the stage whose tagged functions to take when a stack has several.
    pub stage: Option<String>,
    /// `provider:` to write (`None`: the embedded emulator).
    pub provider: Option<(String, String)>,
    pub parallelism: usize,
}

/// What was written.
pub struct Written {
    pub generated: Generated,
    pub stack: String,
    pub stage: Option<String>,
    pub state_shown: String,
    pub recorded: usize,
    /// Functions no state owned: their first plan adds the ownership tag.
    pub untagged: usize,
    /// The lineage the new state took over from the functions' tags (the lost state's).
    pub lineage_taken: Option<String>,
    /// Notes to print.
    pub notes: Vec<String>,
}

fn api(what: String) -> impl FnOnce(ApiError) -> anyhow::Error {
    move |e| anyhow::Error::new(e).context(format!("cannot read {what}"))
}

/// Reads, writes the stack, records the state.
pub async fn generate(request: Request<'_>, state_given: Option<&str>) -> anyhow::Result<Written> {
    let client = request.client;
    let listed = client.list_all_functions().await.map_err(api("the functions".into()))?;
    let project_urns: BTreeSet<String> = listed.iter().map(|f| without_latest(&f.func_urn).to_string()).collect();
    let mut chosen: Vec<FunctionConfig> = listed
        .into_iter()
        .filter(|f| request.select.takes(&f.func_name))
        .collect();
    chosen.sort_by(|a, b| a.func_name.cmp(&b.func_name));
    if let Select::Functions(names) = &request.select {
        let missing: Vec<&String> = names
            .iter()
            .filter(|n| !chosen.iter().any(|f| &f.func_name == *n))
            .collect();
        if !missing.is_empty() {
            bail!(anyhow::anyhow!(
                "no function {} in project {}",
                missing.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", "),
                client.project_id()
            )
            .context(Hint(
                "names are exact (`--prefix P` selects by prefix); `--all` takes every function".into()
            )));
        }
    }
    let mut functions: Vec<FoundFunction> = futures::stream::iter(chosen.into_iter().map(|c| read_function(client, c)))
        .buffered(request.parallelism.max(1))
        .try_collect()
        .await?;
    let mut notes = Vec::new();
    let (stack, stage, lineage) = owner(&request, &mut functions, &mut notes);
    // The new state's place holds none yet: checked before anything is written.
    let region = request.provider.as_ref().map(|(r, _)| r.as_str());
    let (location, state_shown) =
        crate::session::state_location_of(state_given, None, (&stack, stage.as_deref()), region)?;
    let store = StateStore::open(&location, crate::session::state_codec(None)?)?;
    if store.load()?.is_some() {
        bail!(anyhow::anyhow!("{state_shown} already holds a state").context(Hint(
            "generate records into a new state: pass another `--state`, or move that one away first".into()
        )));
    }
    let mut found = Found {
        stack: stack.clone(),
        stage: stage.clone(),
        provider: request.provider.clone(),
        ..Default::default()
    };
    write_code(client, &request.out, &mut functions, &mut notes).await?;
    found.dependencies = read_dependencies(client, &request.out, &functions, &mut notes).await?;
    found.functions = functions;
    found.workflows = read_workflows(client, &request.select, &project_urns, &found.functions, &mut notes).await?;
    if found.functions.is_empty() && found.workflows.is_empty() {
        let why = match notes.is_empty() {
            true => format!(
                "no function or workflow of project {} matches the selection",
                client.project_id()
            ),
            false => format!("every match is left out:\n  {}", notes.join("\n  ")),
        };
        bail!(anyhow::anyhow!("nothing to generate: {why}").context(Hint(
            "name the stack that owns them with `--stack NAME`, or select other functions".into()
        )));
    }
    found.notes = notes.clone();
    let generated = crate::generate::generate(&found);
    crate::atomic::write(
        &request.out.join("stack.yaml"),
        generated.manifest.as_bytes(),
        crate::atomic::Access::Default,
    )
    .with_context(|| format!("cannot write {}", request.out.join("stack.yaml").display()))?;
    let desired = load(&request.out, stage.as_deref(), &generated)?;
    let mut state = State::new(&stack, stage.as_deref());
    if let Some(lineage) = &lineage {
        state.lineage = lineage.clone();
    }
    let recorded = record(&found, &desired, &mut state, &generated)?;
    let untagged = found.functions.iter().filter(|f| tag_owner(f).is_none()).count();
    store
        .save(&mut state)
        .with_context(|| format!("cannot save the state at {state_shown}"))?;
    Ok(Written {
        generated,
        stack,
        stage,
        state_shown,
        recorded,
        untagged,
        lineage_taken: lineage,
        notes,
    })
}

/// The selected workflows, but for one calling a function of this project that the new
/// stack leaves out: workflows carry no tag, so such a one is that function's stack's too.
async fn read_workflows(
    client: &Client,
    select: &Select,
    project_urns: &BTreeSet<String>,
    functions: &[FoundFunction],
    notes: &mut Vec<String>,
) -> anyhow::Result<Vec<Workflow>> {
    let mut taken = Vec::new();
    let listed = client
        .list_all_workflows(None)
        .await
        .map_err(api("the workflows".into()))?;
    for w in listed.iter().filter(|w| select.takes_workflow(&w.name)) {
        let workflow = client
            .show_workflow(&w.id)
            .await
            .map_err(api(format!("workflow {}", w.name)))?;
        let foreign = workflow.definition.functions.iter().find_map(|f| {
            let urn = without_latest(f.get("operation")?.as_str()?).to_string();
            let ours = functions.iter().any(|g| without_latest(&g.config.func_urn) == urn);
            (!ours && project_urns.contains(&urn)).then_some(urn)
        });
        match foreign {
            Some(urn) => notes.push(format!(
                "Left out workflow `{}`: it calls {urn}, which this stack leaves out.",
                w.name
            )),
            None => taken.push(workflow),
        }
    }
    taken.sort_by(|a, b| a.definition.name.cmp(&b.definition.name));
    Ok(taken)
}

/// A function and what hangs off it (its code is read later).
async fn read_function(client: &Client, config: FunctionConfig) -> anyhow::Result<FoundFunction> {
    let urn = without_latest(&config.func_urn).to_string();
    // The list's items may leave fields out (dependencies among them): the config has all.
    let config = client
        .show_function_config(&urn)
        .await
        .map_err(api(format!("function {urn}")))?;
    let tags = client
        .list_function_tags(&urn)
        .await
        .map_err(api(format!("the tags of {urn}")))?;
    let triggers = client
        .list_triggers(&urn)
        .await
        .map_err(api(format!("the triggers of {urn}")))?;
    let async_config = client
        .show_async_config(&urn)
        .await
        .map_err(api(format!("the async config of {urn}")))?;
    let versions = client
        .list_all_versions(&urn)
        .await
        .map_err(api(format!("the versions of {urn}")))?;
    let aliases = client
        .list_aliases(&urn)
        .await
        .map_err(api(format!("the aliases of {urn}")))?;
    let mut found = FoundFunction {
        tags: tags.tags,
        triggers,
        async_config,
        versions: versions
            .into_iter()
            .map(|v| v.version)
            .filter(|v| !v.is_empty() && v != "latest")
            .collect(),
        ..Default::default()
    };
    for alias in &aliases {
        let at = crate::model::qualified_urn(&urn, Some(&alias.name));
        let triggers = client
            .list_triggers_or_none(&at)
            .await
            .map_err(api(format!("the triggers of {at}")))?;
        if !triggers.is_empty() {
            found.alias_triggers.insert(alias.name.clone(), triggers);
        }
        if let Some(config) = client
            .show_async_config(&at)
            .await
            .map_err(api(format!("the async config of {at}")))?
        {
            found.alias_async.insert(alias.name.clone(), config);
        }
    }
    found.aliases = aliases;
    found.config = config;
    Ok(found)
}

/// The stack, stage and state lineage of the new stack, and the functions it may take: one
/// tagged for another stack or stage, or for another state of this one, is left out.
fn owner(
    request: &Request<'_>,
    functions: &mut Vec<FoundFunction>,
    notes: &mut Vec<String>,
) -> (String, Option<String>, Option<String>) {
    let owners: Vec<Option<Owner>> = functions.iter().map(tag_owner).collect();
    let tagged: BTreeSet<(String, Option<String>)> = owners
        .iter()
        .flatten()
        .map(|o| (o.stack.clone(), o.stage.clone()))
        .collect();
    let (stack, stage) = match (&request.stack, &request.stage) {
        (Some(stack), Some(stage)) => (stack.clone(), Some(stage.clone())),
        (Some(stack), None) => (
            stack.clone(),
            tagged
                .iter()
                .find(|(s, _)| s == stack)
                .and_then(|(_, stage)| stage.clone()),
        ),
        (None, stage) => {
            let fits: Vec<_> = tagged.iter().filter(|(_, s)| stage.is_none() || s == stage).collect();
            match fits.as_slice() {
                [(stack, stage)] => (stack.clone(), stage.clone()),
                _ => (folder_stack(&request.out), stage.clone()),
            }
        }
    };
    // The lineage of the state that tagged them: the lost state this one takes over.
    let lineage = owners
        .iter()
        .flatten()
        .filter(|o| o.is_stack_stage(&stack, stage.as_deref()))
        .find_map(|o| o.lineage.clone());
    let mut kept = Vec::new();
    for (f, owner) in functions.drain(..).zip(owners) {
        match owner {
            Some(o) if !(o.is_stack_stage(&stack, stage.as_deref()) && o.lineage == lineage) => notes.push(format!(
                "Left out function `{}`: it is tagged for {}. Generate it with `--stack {}{}`, into another folder.",
                f.config.func_name,
                o.describe(),
                o.stack,
                o.stage.as_deref().map(|s| format!(" --stage {s}")).unwrap_or_default()
            )),
            _ => kept.push(f),
        }
    }
    *functions = kept;
    (stack, stage, lineage)
}

fn tag_owner(f: &FoundFunction) -> Option<Owner> {
    f.tags
        .iter()
        .find(|t| t.key == OWNERSHIP_TAG_KEY)
        .map(|t| Owner::parse(&t.value))
}

/// A stack name from the output folder's name: letters, digits, `_` and `-`, from a letter.
fn folder_stack(out: &Path) -> String {
    let name: String = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .take(40)
        .collect();
    match name.chars().next() {
        Some(c) if c.is_ascii_alphabetic() => name,
        _ => format!("generated{}", name.chars().take(31).collect::<String>()),
    }
}

/// Each function's `code:`: an OBS URL where the code lives there; otherwise its package
/// from the export API, unpacked into `functions/NAME/` when packaging those files again
/// gives the same SHA-512 (so the plan sees the same code), else kept as the zip it is.
async fn write_code(
    client: &Client,
    out: &Path,
    functions: &mut [FoundFunction],
    notes: &mut Vec<String>,
) -> anyhow::Result<()> {
    for f in functions.iter_mut() {
        let c = &f.config;
        let name = c.func_name.clone();
        if c.code_type == "obs" {
            if let Some(url) = obs_url(&c.code_url) {
                f.code = Code::Obs(url);
                continue;
            }
        }
        let urn = without_latest(&c.func_urn).to_string();
        let bytes = match client.export_function_code(&urn).await {
            Ok(bytes) => bytes,
            Err(e) => {
                notes.push(format!("No code for function `{name}`: exporting it failed ({e})."));
                continue;
            }
        };
        let extension = if c.code_type == "jar" { "jar" } else { "zip" };
        f.code = place_package(out, "functions", &name, &bytes, extension, &c.digest)?;
    }
    Ok(())
}

/// Unpacks `bytes` into `out/FOLDER/NAME/` when repackaging gives `digest` back; otherwise
/// writes `out/FOLDER/NAME.EXT`.
fn place_package(
    out: &Path,
    folder: &str,
    name: &str,
    bytes: &[u8],
    extension: &str,
    digest: &str,
) -> anyhow::Result<Code> {
    let dir = out.join(folder).join(name);
    let unpacked = extension == "zip" && unpack(bytes, &dir).is_ok();
    if !unpacked && dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    }
    if unpacked {
        let (_, artifact) = crate::package::package_dir(&dir, &[], std::io::sink())?;
        if artifact.digest == digest {
            return Ok(Code::Folder(format!("./{folder}/{name}")));
        }
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    }
    let file = out.join(folder).join(format!("{name}.{extension}"));
    std::fs::create_dir_all(out.join(folder))?;
    crate::atomic::write(&file, bytes, crate::atomic::Access::Default)
        .with_context(|| format!("cannot write {}", file.display()))?;
    Ok(Code::Archive {
        path: format!("./{folder}/{name}.{extension}"),
        why: "kept as the package the API holds: its files packaged again would not give the same SHA-512 digest"
            .into(),
    })
}

/// Unpacks a zip into `dir`, refusing entries that would land outside it and archives that
/// unpack beyond [`UNPACKED_LIMIT`] (the caller then keeps the zip); keeps the executable bit
/// (packaging reads it back).
fn unpack(bytes: &[u8], dir: &Path) -> anyhow::Result<()> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))?;
    let declared: u64 = (0..archive.len())
        .map(|i| archive.by_index_raw(i).map(|e| e.size()).unwrap_or(u64::MAX))
        .fold(0u64, u64::saturating_add);
    if archive.len() > UNPACKED_FILES || declared > UNPACKED_LIMIT {
        bail!(
            "the package unpacks to {declared} bytes in {} entries, over the limit",
            archive.len()
        );
    }
    std::fs::create_dir_all(dir)?;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i)?;
        let Some(relative) = entry.enclosed_name() else {
            bail!("entry `{}` points outside the folder", entry.name());
        };
        let path = dir.join(relative);
        if entry.is_dir() {
            std::fs::create_dir_all(&path)?;
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut file = std::fs::File::create(&path)?;
        // Sizes are the archive's word: read no more than it declared.
        let declared = entry.size();
        std::io::copy(&mut std::io::Read::take(&mut entry, declared), &mut file)?;
        #[cfg(unix)]
        if let Some(mode) = entry.unix_mode() {
            use std::os::unix::fs::PermissionsExt as _;
            if mode & 0o111 != 0 {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
            }
        }
    }
    Ok(())
}

/// The most a package is unpacked to (FunctionGraph's own limit for unzipped code is 1.5 GB);
/// past it, or past [`UNPACKED_FILES`] entries, the zip is kept as it is.
const UNPACKED_LIMIT: u64 = 1536 * 1024 * 1024;
const UNPACKED_FILES: usize = 100_000;

/// `https://BUCKET.obs.REGION.myhuaweicloud.com/KEY` → `obs://BUCKET/KEY`.
fn obs_url(url: &str) -> Option<String> {
    let rest = url.strip_prefix("https://")?;
    let (host, key) = rest.split_once('/')?;
    let (bucket, domain) = host.split_once(".obs.")?;
    (domain.ends_with(".myhuaweicloud.com") && !key.is_empty()).then(|| format!("obs://{bucket}/{key}"))
}

/// The private dependency versions the functions use, each package saved under `deps/`.
async fn read_dependencies(
    client: &Client,
    out: &Path,
    functions: &[FoundFunction],
    notes: &mut Vec<String>,
) -> anyhow::Result<BTreeMap<String, FoundDependency>> {
    let used: BTreeSet<&String> = functions.iter().flat_map(|f| &f.config.depend_version_list).collect();
    let mut found = BTreeMap::new();
    if used.is_empty() {
        return Ok(found);
    }
    let packages = client
        .list_all_dependencies()
        .await
        .map_err(api("the dependency packages".into()))?;
    let mut names = BTreeSet::new();
    for package in packages {
        let versions = client
            .list_all_dependency_versions(&package.id)
            .await
            .map_err(api(format!("the versions of dependency {}", package.name)))?;
        for v in versions.into_iter().filter(|v| used.contains(&v.id)) {
            let dep_id = if v.dep_id.is_empty() {
                package.id.clone()
            } else {
                v.dep_id.clone()
            };
            let Some(response) = client
                .show_dependency_version_response(&dep_id, v.version)
                .await
                .map_err(api(format!("dependency version {}", v.id)))?
            else {
                continue;
            };
            let (shown, link) = (response.version, response.download_link);
            if !names.insert(shown.name.clone()) {
                notes.push(format!(
                    "Left out version {} of dependency `{}`: the functions use another version of it too, and a stack declares one.",
                    shown.version, shown.name
                ));
                continue;
            }
            let source = dependency_source(client, out, link.as_deref(), &shown).await;
            found.insert(v.id.clone(), FoundDependency { version: shown, source });
        }
    }
    Ok(found)
}

/// A dependency version's `source:`: its OBS link, or its package (from the show answer's
/// `download_link`) saved as `deps/NAME.zip`.
async fn dependency_source(
    client: &Client,
    out: &Path,
    link: Option<&str>,
    v: &crate::api::types::DependencyVersion,
) -> Result<String, String> {
    if let Some(url) = obs_url(&v.link) {
        return Ok(url);
    }
    let link = link
        .filter(|l| !l.is_empty())
        .ok_or("the API gave no download link for this package")?;
    let bytes = client
        .download(link)
        .await
        .map_err(|e| format!("downloading the package failed ({e})"))?;
    let file = out.join("deps").join(format!("{}.zip", v.name));
    std::fs::create_dir_all(out.join("deps")).map_err(|e| e.to_string())?;
    crate::atomic::write(&file, &bytes, crate::atomic::Access::Default)
        .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    Ok(format!("./deps/{}.zip", v.name))
}

/// The generated stack loaded as `plan` will load it; a secret whose variable is unset is
/// loaded as empty here (its fingerprint is then not recorded). Paths are not checked: code
/// the export could not give is a folder the user fills (the manifest's comment says so).
fn load(out: &Path, stage: Option<&str>, generated: &Generated) -> anyhow::Result<Desired> {
    let mut options = crate::manifest::LoadOptions {
        stage: stage.map(str::to_string),
        check_paths: false,
        ..crate::manifest::LoadOptions::from_process_env()
    };
    for secret in &generated.secrets {
        options.env.entry(secret.var.clone()).or_default();
    }
    match crate::manifest::load_dir(out, &options) {
        Ok(desired) => Ok(desired),
        Err(crate::manifest::ManifestError::Invalid { dir, diagnostics }) => bail!(
            "the generated stack does not validate (a bug: please report it):\n{}",
            crate::manifest::diagnostic::render_all(&diagnostics, &dir)
        ),
        Err(e) => Err(e).context("cannot load the generated stack"),
    }
}

/// Records every generated resource as `fgform import` records one (`plan::import`, the
/// same views), from what was already read: no second GET. Then the fingerprint of each
/// function's secrets whose variables are all set.
fn record(found: &Found, desired: &Desired, state: &mut State, generated: &Generated) -> anyhow::Result<usize> {
    for (address, id) in &generated.imports {
        let record = live_record(found, desired, state, address, id)
            .with_context(|| format!("cannot record {address} ({id}): it was not among what was read"))?;
        state.resources.insert(address.to_string(), record);
    }
    let env: BTreeMap<String, String> = std::env::vars().collect();
    for (name, spec) in &desired.functions {
        let vars: Vec<&String> = generated
            .secrets
            .iter()
            .filter(|s| &s.function == name)
            .map(|s| &s.var)
            .collect();
        if vars.is_empty() || !vars.iter().all(|v| env.get(*v).is_some_and(|x| !x.is_empty())) {
            continue;
        }
        let (Some(secret), Some(record)) = (
            spec.encrypted_user_data(),
            state.resources.get_mut(&Address::Function(name.clone()).to_string()),
        ) else {
            continue;
        };
        record.private.insert(
            "secrets_hmac",
            serde_json::Value::String(crate::plan::diff::secret_fingerprint(secret.expose())),
        );
    }
    Ok(state.resources.len())
}

/// The state record of `address` (id `id`) from the live objects `found` holds.
fn live_record(
    found: &Found,
    desired: &Desired,
    state: &State,
    address: &Address,
    id: &str,
) -> Option<crate::state::ResourceState> {
    use crate::plan::import;
    let function = |name: &str| found.functions.iter().find(|f| f.config.func_name == name);
    Some(match address {
        Address::Function(name) => {
            let f = function(name)?;
            let live = crate::plan::LiveFunction {
                config: f.config.clone(),
                tags: f.tags.clone(),
                ..Default::default()
            };
            import::function(desired, state, name, &live)
        }
        Address::Trigger {
            function: name,
            trigger,
        } => {
            let f = function(name)?;
            let mut all = f.triggers.iter().chain(f.alias_triggers.values().flatten());
            import::trigger(desired, name, trigger, all.find(|t| t.trigger_id == id)?)
        }
        Address::Async(name) => {
            let f = function(name)?;
            let config = f.async_config.as_ref().or_else(|| f.alias_async.values().next())?;
            import::async_config(desired, name, id, config)
        }
        Address::Alias { function: name, alias } => {
            let live = function(name)?.aliases.iter().find(|a| &a.name == alias)?;
            import::alias(desired, address, live)
        }
        Address::Dependency(name) => {
            let dep = found.dependencies.values().find(|d| &d.version.name == name)?;
            import::dependency(desired, name, &dep.version)
        }
        Address::Workflow(name) => {
            let live = found.workflows.iter().find(|w| &w.definition.name == name)?;
            import::workflow(desired, name, live)
        }
        Address::Version(_) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selections_take_functions_and_workflows_by_name() {
        let some = Select::Functions(vec!["a".into()]);
        assert!(some.takes("a") && !some.takes("ab") && !some.takes_workflow("a"));
        let prefix = Select::Prefix("shop-".into());
        assert!(prefix.takes("shop-api") && prefix.takes_workflow("shop-etl") && !prefix.takes("api"));
        assert!(Select::All.takes("x") && Select::All.takes_workflow("y"));
    }

    #[test]
    fn a_stack_is_named_after_its_folder_when_nothing_else_names_it() {
        assert_eq!(folder_stack(Path::new("out/my-stack")), "my-stack");
        assert_eq!(folder_stack(Path::new("2024 stack!")), "generated2024stack");
        assert_eq!(folder_stack(Path::new("/")), "generated");
    }

    #[test]
    fn obs_code_urls_become_obs_locations() {
        assert_eq!(
            obs_url("https://code.obs.cn-north-4.myhuaweicloud.com/fns/api.zip").as_deref(),
            Some("obs://code/fns/api.zip")
        );
        assert_eq!(obs_url("https://fgs-dependencies-r.obs.local/p/x.zip"), None);
        assert_eq!(obs_url("http://code.obs.cn-north-4.myhuaweicloud.com/k"), None);
    }

    #[test]
    fn packages_unpack_into_folders_only_when_they_repackage_to_the_same_digest() {
        let dir = tempfile::tempdir().unwrap();
        // A package fgform made: unpacked.
        let src = dir.path().join("src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("index.py"), "x = 1\n").unwrap();
        let mut ours = Vec::new();
        let (_, artifact) = crate::package::package_dir(&src, &[], &mut ours).unwrap();
        let out = dir.path().join("out");
        let code = place_package(&out, "functions", "a", &ours, "zip", &artifact.digest).unwrap();
        assert_eq!(code, Code::Folder("./functions/a".into()));
        assert_eq!(
            std::fs::read_to_string(out.join("functions/a/index.py")).unwrap(),
            "x = 1\n"
        );
        // Another tool's zip (other timestamps): kept as it is.
        let mut theirs = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        theirs
            .start_file("index.py", zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut theirs, b"x = 1\n").unwrap();
        let theirs = theirs.finish().unwrap().into_inner();
        let code = place_package(&out, "functions", "b", &theirs, "zip", "not-its-digest").unwrap();
        assert!(
            matches!(code, Code::Archive { ref path, .. } if path == "./functions/b.zip"),
            "{code:?}"
        );
        assert_eq!(std::fs::read(out.join("functions/b.zip")).unwrap(), theirs);
        assert!(!out.join("functions/b").exists());
        // An entry escaping the folder is refused, so the zip is kept instead.
        let mut evil = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        evil.start_file("../escape.py", zip::write::SimpleFileOptions::default())
            .unwrap();
        let evil = evil.finish().unwrap().into_inner();
        assert!(unpack(&evil, &out.join("functions/c")).is_err());
        assert!(!dir.path().join("out/functions/escape.py").exists());
        let code = place_package(&out, "functions", "c", &evil, "zip", "x").unwrap();
        assert!(matches!(code, Code::Archive { .. }), "{code:?}");
        assert!(!out.join("functions/c").exists(), "a failed unpack left its folder");
    }
}
