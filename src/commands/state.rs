//! `fgform show` and `fgform state list | show ADDR | rm ADDR`: read (and, for `rm`, edit)
//! the state file without calling the API.

use std::time::Duration;

use anyhow::Context as _;

use super::reconcile::{load_desired, state_path};
use crate::cli::{ShowArgs, StateArgs, StateCommand, TargetArgs};
use crate::error::ExitStatus;
use crate::model::Address;
use crate::state::{self, Lock, State};

fn load(target: &TargetArgs) -> anyhow::Result<Option<(std::path::PathBuf, State)>> {
    let path = match &target.state {
        Some(p) => p.clone(),
        None => {
            let Some(desired) = load_desired(target)? else {
                return Ok(None);
            };
            state_path(target, &desired)
        }
    };
    let state = state::load(&path)?.with_context(|| format!("no state file at `{}`", path.display()))?;
    Ok(Some((path, state)))
}

/// `fgform show`.
pub fn show(args: ShowArgs) -> anyhow::Result<ExitStatus> {
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
            let Some((path, mut state)) = load(&target)? else {
                return Ok(ExitStatus::Error);
            };
            let lock = Lock::acquire(&path, "state rm", Duration::from_secs(target.lock_timeout))?;
            let keys: Vec<String> = state
                .resources
                .keys()
                .filter(|k| k.parse::<Address>().is_ok_and(|a| address.contains(&a)))
                .cloned()
                .collect();
            anyhow::ensure!(!keys.is_empty(), "{address} is not in state");
            for k in &keys {
                state.resources.remove(k);
                println!("Removed {k}");
            }
            state::save(&path, &mut state)?;
            lock.release();
        }
    }
    Ok(ExitStatus::Success)
}
