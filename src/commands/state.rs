//! `fgform show [PLANFILE]` and `fgform state list | show ADDR | rm ADDR | mv SRC DST`: read (and, for
//! `rm` and `mv`, edit under the state lock) the state file without calling the API.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context as _};

use crate::api::urn::FunctionUrn;
use crate::cli::{ShowArgs, StateArgs, StateCommand, TargetArgs};
use crate::client::error::with_hint;
use crate::error::{ExitStatus, Hint};
use crate::model::{Address, Desired};
use crate::ops::rerun::{display_path, state_rerun_args};
use crate::session::{check_state_identity, lock, Session};
use crate::state::location::Location;
use crate::state::surgery::{self, SurgeryError};
use crate::state::{State, StateStore};

/// A state the arguments name, opened, with the manifests when there are any.
pub(super) struct Named {
    pub store: Arc<StateStore>,
    /// As the user would type it.
    pub shown: String,
    pub desired: Option<Desired>,
}

/// The state the arguments name (`None` after printing manifest diagnostics). With `--state`
/// naming a file and a directory holding no manifests the state stands alone; otherwise the
/// manifests are loaded, so a state of another stack or stage is refused (and a remote
/// location knows which stack's state to name).
pub(super) fn open(target: &TargetArgs) -> anyhow::Result<Option<Named>> {
    if let Some(given) = &target.state {
        if !has_manifests(&target.stack.dir) {
            if crate::state::location::is_remote(given) {
                return Err(anyhow::anyhow!(
                    "`{}` holds no manifests, and a remote state location is named by its stack",
                    display_path(&target.stack.dir)
                )
                .context(Hint(
                    "name the stack's directory, e.g. `fgform state list DIR --state …`".into(),
                )));
            }
            let path = PathBuf::from(given);
            let codec = crate::session::state_codec(None)?;
            return Ok(Some(Named {
                store: Arc::new(StateStore::open(&Location::File(path.clone()), codec)?),
                shown: display_path(&path),
                desired: None,
            }));
        }
    }
    let Some(session) = Session::open(target)? else {
        return Ok(None);
    };
    Ok(Some(Named {
        store: session.store()?,
        shown: session.state_shown.clone(),
        desired: Some(session.desired),
    }))
}

/// Whether `dir` holds any `*.yaml`/`*.yml`.
fn has_manifests(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.ends_with(".yaml") || name.ends_with(".yml")
        })
    })
}

fn read(named: &Named) -> anyhow::Result<State> {
    let state = named.store.load()?.with_context(|| {
        let noun = if named.store.location_path().is_some() {
            "no state file at"
        } else {
            "no state at"
        };
        format!("{noun} `{}`", named.shown)
    })?;
    if let Some(desired) = &named.desired {
        check_state_identity(&state, desired, &named.shown)?;
    }
    Ok(state)
}

fn load(target: &TargetArgs) -> anyhow::Result<Option<State>> {
    let Some(named) = open(target)? else {
        return Ok(None);
    };
    Ok(Some(read(&named)?))
}

/// Edits the state under its lock (read after the lock is held, saved before it is
/// released); `edit` prints what it did.
fn edit(
    target: &TargetArgs,
    operation: &str,
    edit: impl FnOnce(&mut State, Option<&Desired>, &str) -> anyhow::Result<()>,
) -> anyhow::Result<ExitStatus> {
    let Some(named) = open(target)? else {
        return Ok(ExitStatus::Error);
    };
    let lock = lock(target, &named.store, &named.shown, operation)?;
    let mut state = read(&named)?;
    edit(&mut state, named.desired.as_ref(), &named.shown)?;
    named.store.save(&mut state)?;
    lock.release();
    Ok(ExitStatus::Success)
}

/// Refuses a move to an address the manifests do not declare: the next apply would delete
/// the live resource (and recreate it under the old address), the opposite of a rename.
fn check_declared(
    destination: &Address,
    desired: Option<&Desired>,
    target: &TargetArgs,
    source: &Address,
    rerun: &str,
) -> anyhow::Result<()> {
    let again = format!("fgform state mv {source} {destination}{rerun} --force");
    let Some(desired) = desired else {
        return Err(anyhow::anyhow!(
            "cannot check that the manifests declare {destination}: `{}` holds no manifests",
            display_path(&target.stack.dir)
        )
        .context(Hint(format!(
            "name the stack directory (`fgform state mv {source} {destination} DIR`), or move it anyway: `{again}`"
        ))));
    };
    if desired.addresses().contains(destination) {
        return Ok(());
    }
    let declared: Vec<String> = desired.addresses().iter().map(|a| a.to_string()).collect();
    let close =
        crate::manifest::diagnostic::did_you_mean(&destination.to_string(), declared.iter().map(String::as_str));
    let hint = match close {
        Some(close) => format!("did you mean `{close}`? To move it anyway (the next apply deletes it): `{again}`"),
        None => format!(
            "declare {destination} in the manifests first, or move it anyway (the next apply deletes it): `{again}`"
        ),
    };
    Err(anyhow::anyhow!("the manifests do not declare {destination}").context(Hint(hint)))
}

/// A surgery error with its hint, the commands in it completed with `rerun`.
fn surgery_error(e: SurgeryError, rerun: &str) -> anyhow::Error {
    let hint = e.hint(rerun);
    with_hint(e, hint)
}

/// `fgform show`.
pub fn show(args: ShowArgs) -> anyhow::Result<ExitStatus> {
    // `fgform show PLANFILE`: the saved plan, as `plan` printed it (or its JSON), so a later
    // CI step can read it without planning again.
    if args.target.stack.dir.is_file() {
        let saved = crate::ops::saved::read_plan_file(&args.target.stack.dir)?;
        if args.json {
            let json = crate::plan::render::json(&saved.plan, &saved.stack);
            crate::outln!("{}", serde_json::to_string_pretty(&json)?);
        } else {
            crate::out!(
                "{}",
                crate::printer::plan(&crate::plan::render::text(&saved.plan), crate::printer::stdout_color())
            );
        }
        return Ok(ExitStatus::Success);
    }
    let Some(state) = load(&args.target)? else {
        return Ok(ExitStatus::Error);
    };
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&state)?);
        return Ok(ExitStatus::Success);
    }
    crate::outln!(
        "stack `{}`, serial {}, {} resources",
        state.stack,
        state.serial,
        state.resources.len()
    );
    for (address, r) in &state.resources {
        crate::outln!("\n# {address}\n  id = {}", r.id);
        for (k, v) in r.attributes.to_map() {
            crate::outln!("  {k} = {v}");
        }
    }
    Ok(ExitStatus::Success)
}

/// `format_version` of `state list --json`.
pub const LIST_FORMAT_VERSION: u32 = 1;

/// `state list --json` (docs/state-list-json.schema.json): each address in state with its
/// kind, the function it belongs to, its id and the addresses it depends on; no attribute.
pub fn list_json(state: &State) -> serde_json::Value {
    let resources: Vec<serde_json::Value> = state
        .resources
        .iter()
        .map(|(address, r)| {
            let parent = address.parse::<Address>().ok().and_then(|a| a.parent());
            let depends_on = match r.private.get("depends_on") {
                Some(serde_json::Value::Array(list)) => list,
                _ => Vec::new(),
            };
            serde_json::json!({
                "address": address,
                "kind": r.kind,
                "parent": parent.map(|p| p.to_string()),
                "id": (!r.id.is_empty()).then_some(&r.id),
                "depends_on": depends_on,
            })
        })
        .collect();
    serde_json::json!({
        "format_version": LIST_FORMAT_VERSION,
        "stack": state.stack,
        "stage": state.stage,
        "serial": state.serial,
        "lineage": state.lineage,
        "resources": resources,
    })
}

/// `fgform state …`.
pub fn run(args: StateArgs) -> anyhow::Result<ExitStatus> {
    match args.command {
        StateCommand::List(args) => {
            let Some(state) = load(&args.target)? else {
                return Ok(ExitStatus::Error);
            };
            if args.json {
                crate::outln!("{}", serde_json::to_string_pretty(&list_json(&state))?);
                return Ok(ExitStatus::Success);
            }
            for address in state.resources.keys() {
                crate::outln!("{address}");
            }
        }
        StateCommand::Show {
            mut target,
            address,
            serial,
        } => {
            // `state show --serial N DIR`: the one positional is the directory.
            let address = match address {
                Some(a) if serial.is_some() && a.parse::<Address>().is_err() && Path::new(&a).is_dir() => {
                    target.stack.dir = PathBuf::from(a);
                    None
                }
                other => other,
            };
            let state = match (serial, open(&target)?) {
                (_, None) => return Ok(ExitStatus::Error),
                (Some(serial), Some(named)) => super::state_versions::version(&named, serial)?,
                (None, Some(named)) => read(&named)?,
            };
            let Some(address) = address else {
                if serial.is_none() {
                    bail!(
                        anyhow::anyhow!("name the resource to show, e.g. `fgform state show function.hello`").context(
                            Hint("`fgform state list` lists them; `fgform show` shows them all".into())
                        )
                    );
                }
                crate::outln!("{}", serde_json::to_string_pretty(&state)?);
                return Ok(ExitStatus::Success);
            };
            let address: Address = address.parse()?;
            let r = state
                .resources
                .get(&address.to_string())
                .with_context(|| format!("{address} is not in state"))?;
            crate::outln!("# {address}\nid = {}", r.id);
            for (k, v) in r.attributes.to_map() {
                crate::outln!("{k} = {v}");
            }
        }
        StateCommand::Rm { target, address } => {
            let address: Address = address.parse()?;
            return edit(&target, "state rm", |state, _, path| {
                let rerun = state_rerun_args(&target, path);
                for gone in surgery::rm(state, &address).map_err(|e| surgery_error(e, &rerun))? {
                    crate::outln!("Removed {gone}");
                }
                Ok(())
            });
        }
        StateCommand::Mv {
            target,
            source,
            destination,
            force,
        } => {
            let (source, destination): (Address, Address) = (source.parse()?, destination.parse()?);
            return edit(&target, "state mv", |state, desired, path| {
                let rerun = state_rerun_args(&target, path);
                if !force {
                    check_declared(&destination, desired, &target, &source, &rerun)?;
                }
                for (from, to) in surgery::mv(state, &source, &destination).map_err(|e| surgery_error(e, &rerun))? {
                    crate::outln!("Moved {from} to {to}");
                }
                if let Address::Function(name) = &destination {
                    let urn = state.resources.get(&destination.to_string()).map(|r| r.id.as_str());
                    if let Some(live) = urn.and_then(|u| FunctionUrn::parse(u).ok()).filter(|u| &u.name != name) {
                        crate::outln!(
                            "note: {destination} is the live function `{}`: FunctionGraph cannot rename a function, \
                             so it keeps that name and URN",
                            live.name
                        );
                    }
                }
                Ok(())
            });
        }
        StateCommand::Pull(args) => return super::state_versions::pull(&args.target),
        StateCommand::Push { file, force, target } => return super::state_versions::push(&target, &file, force),
        StateCommand::Migrate {
            to,
            to_passphrase_env,
            to_plaintext,
            target,
        } => {
            let codec = match (to_passphrase_env, to_plaintext) {
                (_, true) => Some(crate::state::crypto::Codec::plaintext()),
                (Some(var), false) => Some(crate::session::state_codec(Some(&var))?),
                (None, false) => None,
            };
            return super::state_versions::migrate(&target, &to, codec);
        }
        StateCommand::History(args) => return super::state_versions::history(&args.target),
        StateCommand::Check { location, stack } => return super::state_versions::check(&location, &stack),
    }
    Ok(ExitStatus::Success)
}
