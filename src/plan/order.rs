//! The order changes run in, as a dependency graph: creates and updates after what they
//! refer to (dependency versions → functions → async config and triggers → workflows),
//! deletes after everything that referred to them; a dependency's old version is deleted
//! only after the functions moved to the new one.

use std::collections::{BTreeMap, BTreeSet};

use super::{Action, Plan};
use crate::model::{Address, Desired};
use crate::state::State;

/// Which part of a change a step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The change itself (for a dependency replace: creating the new version).
    Main,
    /// A replaced dependency's old version, deleted once nothing uses it.
    DeleteOld,
}

/// One unit of work for the applier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Index into `plan.changes`.
    pub change: usize,
    pub phase: Phase,
    /// Steps (indexes into the returned list) that must finish first.
    pub after: Vec<usize>,
}

/// The addresses `address` referred to when it was last applied.
pub fn recorded_depends_on(state: &State, address: &Address) -> Vec<Address> {
    state
        .resources
        .get(&address.to_string())
        .and_then(|r| r.private.get("depends_on"))
        .and_then(|v| {
            v.as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str()?.parse().ok()).collect())
        })
        .unwrap_or_default()
}

/// What `address` refers to in the manifests, so must exist before it: its `${…}`
/// references and `depends_on` edges, its parent (a trigger's, async config's, version's or
/// alias's function), a function's dependency packages, a workflow's stack functions. The
/// one source of the edges both [`steps`] (creates and updates) and `fgform graph` use.
pub fn prerequisites(desired: &Desired, address: &Address) -> Vec<Address> {
    let mut out: Vec<Address> = desired.depends_on(address).into_iter().cloned().collect();
    out.extend(address.parent());
    if let Address::Function(name) = address {
        if let Some(spec) = desired.functions.get(name) {
            out.extend(spec.dependencies.iter().map(|d| Address::Dependency(d.clone())));
        }
    }
    if let Address::Workflow(name) = address {
        for f in desired
            .workflows
            .get(name)
            .map(|w| w.functions.as_slice())
            .unwrap_or_default()
        {
            if let crate::model::FunctionRef::Stack(target) = &f.target {
                out.push(Address::Function(target.clone()));
            }
        }
    }
    out
}

/// The steps of `plan`, each with its prerequisites.
pub fn steps(plan: &Plan, desired: &Desired, state: &State) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut main: BTreeMap<&Address, usize> = BTreeMap::new();
    for (i, change) in plan.changes.iter().enumerate() {
        main.insert(&change.address, steps.len());
        steps.push(Step {
            change: i,
            phase: Phase::Main,
            after: vec![],
        });
    }
    // Who refers to what, each change's edges worked out once: a destroy of 10,000
    // functions has 30,000 changes, and asking every change about every other is 10^9 asks.
    let forward: Vec<Vec<Address>> = plan
        .changes
        .iter()
        .map(|c| prerequisites(desired, &c.address))
        .collect();
    let mut recorded_users: BTreeMap<Address, BTreeSet<usize>> = BTreeMap::new();
    let mut forward_users: BTreeMap<&Address, BTreeSet<usize>> = BTreeMap::new();
    for (j, change) in plan.changes.iter().enumerate() {
        for used in recorded_depends_on(state, &change.address) {
            recorded_users.entry(used).or_default().insert(j);
        }
        for used in &forward[j] {
            forward_users.entry(used).or_default().insert(j);
        }
    }
    let users_of = |map_a: Option<&BTreeSet<usize>>, map_b: Option<&BTreeSet<usize>>, i: usize| -> Vec<usize> {
        let mut all: BTreeSet<usize> = map_a.into_iter().flatten().copied().collect();
        all.extend(map_b.into_iter().flatten().copied());
        all.remove(&i);
        all.into_iter().collect()
    };
    for (i, change) in plan.changes.iter().enumerate() {
        let mut after = Vec::new();
        if change.action == Action::Delete {
            // Everything that referred to this resource changes (or goes) first.
            after = users_of(recorded_users.get(&change.address), None, i);
        } else {
            for before in &forward[i] {
                if let Some(&j) = main.get(before) {
                    if plan.changes[steps[j].change].action != Action::Delete {
                        after.push(j);
                    }
                }
            }
        }
        steps[i].after = after;
    }
    for (i, change) in plan.changes.iter().enumerate() {
        // A replace's old version goes last; so does an old version an interrupted replace
        // left (an update of a dependency is only ever that cleanup).
        if matches!(change.action, Action::Replace | Action::Update) && matches!(change.address, Address::Dependency(_))
        {
            let mut after = vec![i];
            after.extend(users_of(
                forward_users.get(&change.address),
                recorded_users.get(&change.address),
                i,
            ));
            steps.push(Step {
                change: i,
                phase: Phase::DeleteOld,
                after,
            });
        }
    }
    steps
}
