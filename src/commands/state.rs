//! `fgform show [PLANFILE]` and `fgform state list | show ADDR | rm ADDR | mv SRC DST`: read (and, for
//! `rm` and `mv`, edit under the state lock) the state file without calling the API.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::force_unlock::acquire;
use super::reconcile::{load_desired, state_path};
use crate::api::urn::FunctionUrn;
use crate::cli::{ShowArgs, StateArgs, StateCommand, TargetArgs};
use crate::client::error::with_hint;
use crate::error::ExitStatus;
use crate::model::Address;
use crate::state::surgery::{self, SurgeryError};
use crate::state::{self, State};

/// The state path the arguments name (`None` after printing manifest diagnostics).
fn path_of(target: &TargetArgs) -> anyhow::Result<Option<PathBuf>> {
    match &target.state {
        Some(p) => Ok(Some(p.clone())),
        None => Ok(load_desired(target)?.map(|desired| state_path(target, &desired))),
    }
}

fn read(path: &Path) -> anyhow::Result<State> {
    state::load(path)?.with_context(|| format!("no state file at `{}`", path.display()))
}

fn load(target: &TargetArgs) -> anyhow::Result<Option<(PathBuf, State)>> {
    let Some(path) = path_of(target)? else {
        return Ok(None);
    };
    let state = read(&path)?;
    Ok(Some((path, state)))
}

/// Edits the state under its lock (read after the lock is held, saved before it is
/// released); `edit` prints what it did.
fn edit(
    target: &TargetArgs,
    operation: &str,
    edit: impl FnOnce(&mut State) -> Result<(), SurgeryError>,
) -> anyhow::Result<ExitStatus> {
    let Some(path) = path_of(target)? else {
        return Ok(ExitStatus::Error);
    };
    let lock = acquire(target, &path, operation)?;
    let mut state = read(&path)?;
    edit(&mut state).map_err(|e| {
        let hint = e.hint();
        with_hint(e, hint)
    })?;
    state::save(&path, &mut state)?;
    lock.release();
    Ok(ExitStatus::Success)
}

/// `fgform show`.
pub fn show(args: ShowArgs) -> anyhow::Result<ExitStatus> {
    // `fgform show PLANFILE`: the saved plan, as `plan` printed it (or its JSON), so a later
    // CI step can read it without planning again.
    if args.target.stack.dir.is_file() {
        let saved = super::reconcile::read_plan_file(&args.target.stack.dir)?;
        if args.json {
            let json = crate::plan::render::json(&saved.plan, &saved.stack);
            println!("{}", serde_json::to_string_pretty(&json)?);
        } else {
            print!(
                "{}",
                crate::printer::plan(&crate::plan::render::text(&saved.plan), crate::printer::stdout_color())
            );
        }
        return Ok(ExitStatus::Success);
    }
    let Some((_, state)) = load(&args.target)? else {
        return Ok(ExitStatus::Error);
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&state)?);
        return Ok(ExitStatus::Success);
    }
    println!(
        "stack `{}`, serial {}, {} resources",
        state.stack,
        state.serial,
        state.resources.len()
    );
    for (address, r) in &state.resources {
        println!("\n# {address}\n  id = {}", r.id);
        for (k, v) in r.attributes.to_map() {
            println!("  {k} = {v}");
        }
    }
    Ok(ExitStatus::Success)
}

/// `fgform state …`.
pub fn run(args: StateArgs) -> anyhow::Result<ExitStatus> {
    match args.command {
        StateCommand::List(args) => {
            let Some((_, state)) = load(&args.target)? else {
                return Ok(ExitStatus::Error);
            };
            for address in state.resources.keys() {
                println!("{address}");
            }
        }
        StateCommand::Show { target, address } => {
            let address: Address = address.parse()?;
            let Some((_, state)) = load(&target)? else {
                return Ok(ExitStatus::Error);
            };
            let r = state
                .resources
                .get(&address.to_string())
                .with_context(|| format!("{address} is not in state"))?;
            println!("# {address}\nid = {}", r.id);
            for (k, v) in r.attributes.to_map() {
                println!("{k} = {v}");
            }
        }
        StateCommand::Rm { target, address } => {
            let address: Address = address.parse()?;
            return edit(&target, "state rm", |state| {
                for gone in surgery::rm(state, &address)? {
                    println!("Removed {gone}");
                }
                Ok(())
            });
        }
        StateCommand::Mv {
            target,
            source,
            destination,
        } => {
            let (source, destination): (Address, Address) = (source.parse()?, destination.parse()?);
            return edit(&target, "state mv", |state| {
                for (from, to) in surgery::mv(state, &source, &destination)? {
                    println!("Moved {from} to {to}");
                }
                if let Address::Function(name) = &destination {
                    let urn = state.resources.get(&destination.to_string()).map(|r| r.id.as_str());
                    if let Some(live) = urn.and_then(|u| FunctionUrn::parse(u).ok()).filter(|u| &u.name != name) {
                        println!(
                            "note: {destination} is the live function `{}`: FunctionGraph cannot rename a function, \
                             so it keeps that name and URN",
                            live.name
                        );
                    }
                }
                Ok(())
            });
        }
    }
    Ok(ExitStatus::Success)
}
