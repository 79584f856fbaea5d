//! State surgery, pure: renaming an address (`fgform state mv`) and forgetting one
//! (`fgform state rm`). A function takes its triggers and async config along; the
//! `depends_on` lists other records keep (deletion order) follow a rename.

use serde_json::Value;

use super::State;
use crate::model::Address;

/// Why a state edit was refused.
#[derive(Debug, thiserror::Error)]
pub enum SurgeryError {
    #[error("{0} is not in state")]
    NotInState(Address),
    #[error("{0} is already in state")]
    DestinationExists(Address),
    #[error("cannot move {from} to {to}: a {} stays a {}", from.kind(), from.kind())]
    KindMismatch { from: Address, to: Address },
    #[error("cannot move {from} to {to}: a {} belongs to the function it was created on", from.kind())]
    OtherFunction { from: Address, to: Address },
    #[error("{0} is already there: nothing to move")]
    Same(Address),
}

impl SurgeryError {
    /// What the user can do about it; `rerun` completes the commands it names with the
    /// arguments that reach the same state (e.g. ` examples/shop --stage prod`).
    pub fn hint(&self, rerun: &str) -> Option<String> {
        match self {
            SurgeryError::NotInState(_) => Some(format!("`fgform state list{rerun}` shows the addresses in state")),
            SurgeryError::DestinationExists(a) => {
                Some(format!("forget what is recorded there first: `fgform state rm {a}{rerun}`"))
            }
            SurgeryError::OtherFunction { from, .. } => from.parent().map(|p| {
                format!("a trigger stays with its function; move the whole function instead (`fgform state mv {p} function.<new name>{rerun}`)")
            }),
            SurgeryError::KindMismatch { .. } | SurgeryError::Same(_) => None,
        }
    }
}

/// The recorded addresses `address` selects: itself and, for a function, its children.
fn selected(state: &State, address: &Address) -> Vec<Address> {
    state
        .resources
        .keys()
        .filter_map(|k| k.parse::<Address>().ok())
        .filter(|a| address.contains(a))
        .collect()
}

/// Where `child` (a function or one of its children) goes when the function moves to `to`.
fn rebase(child: &Address, to: &str) -> Address {
    match child {
        Address::Function(_) => Address::Function(to.into()),
        Address::Trigger { trigger, .. } => Address::Trigger {
            function: to.into(),
            trigger: trigger.clone(),
        },
        Address::Async(_) => Address::Async(to.into()),
        other => other.clone(),
    }
}

/// Renames `source` to `destination`; returns every `(from, to)` moved, parent first.
pub fn mv(state: &mut State, source: &Address, destination: &Address) -> Result<Vec<(Address, Address)>, SurgeryError> {
    let refuse = |make: fn(Address, Address) -> SurgeryError| Err(make(source.clone(), destination.clone()));
    if source == destination {
        return Err(SurgeryError::Same(source.clone()));
    }
    if source.kind() != destination.kind() {
        return refuse(|from, to| SurgeryError::KindMismatch { from, to });
    }
    // Triggers and async configs live on their function's URN: only a trigger's name can
    // change on its own.
    if matches!(source, Address::Async(_)) || source.parent() != destination.parent() {
        return refuse(|from, to| SurgeryError::OtherFunction { from, to });
    }
    if !state.resources.contains_key(&source.to_string()) {
        return Err(SurgeryError::NotInState(source.clone()));
    }
    let moves: Vec<(Address, Address)> = match (source, destination) {
        (Address::Function(_), Address::Function(to)) => {
            let mut all = selected(state, source);
            all.sort_by_key(|a| a != source);
            all.into_iter()
                .map(|from| {
                    let to = rebase(&from, to);
                    (from, to)
                })
                .collect()
        }
        _ => vec![(source.clone(), destination.clone())],
    };
    if let Some((_, taken)) = moves
        .iter()
        .find(|(_, to)| state.resources.contains_key(&to.to_string()))
    {
        return Err(SurgeryError::DestinationExists(taken.clone()));
    }
    for (from, to) in &moves {
        let record = state.resources.remove(&from.to_string()).expect("selected from state");
        state.resources.insert(to.to_string(), record);
    }
    let renamed = |s: &str| {
        moves
            .iter()
            .find(|(from, _)| from.to_string() == s)
            .map(|(_, to)| to.to_string())
    };
    for record in state.resources.values_mut() {
        let Some(Value::Array(list)) = record.private.get("depends_on") else {
            continue;
        };
        let updated: Vec<Value> = list
            .iter()
            .map(|v| match v.as_str().and_then(renamed) {
                Some(to) => Value::String(to),
                None => v.clone(),
            })
            .collect();
        if updated != list {
            record.private.insert("depends_on", Value::Array(updated));
        }
    }
    Ok(moves)
}

/// Forgets `address` (a function with its triggers and async config); returns what went.
pub fn rm(state: &mut State, address: &Address) -> Result<Vec<Address>, SurgeryError> {
    let gone = selected(state, address);
    if gone.is_empty() {
        return Err(SurgeryError::NotInState(address.clone()));
    }
    for a in &gone {
        state.resources.remove(&a.to_string());
    }
    Ok(gone)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::state::ResourceState;

    fn record(kind: &str, id: &str, depends_on: &[&str]) -> ResourceState {
        ResourceState {
            kind: kind.into(),
            id: id.into(),
            attributes: Default::default(),
            private: BTreeMap::from([("depends_on".to_string(), json!(depends_on))]).into(),
        }
    }

    fn sample() -> State {
        let mut s = State::new("shop", None);
        for (address, kind, id, deps) in [
            ("function.a", "function", "urn:a", &[][..]),
            ("function.a.trigger.t", "trigger", "t1", &["function.a"][..]),
            ("function.a.async", "async", "urn:a", &["function.a"][..]),
            ("function.b", "function", "urn:b", &[][..]),
            ("workflow.w", "workflow", "w1", &["function.a", "function.b"][..]),
        ] {
            s.resources.insert(address.into(), record(kind, id, deps));
        }
        s
    }

    fn a(s: &str) -> Address {
        s.parse().unwrap()
    }

    fn keys(s: &State) -> Vec<&str> {
        s.resources.keys().map(String::as_str).collect()
    }

    #[test]
    fn a_function_moves_with_its_children_and_references_follow() {
        let mut s = sample();
        let moved = mv(&mut s, &a("function.a"), &a("function.c")).unwrap();
        let moved: Vec<String> = moved.iter().map(|(f, t)| format!("{f} -> {t}")).collect();
        assert_eq!(
            moved,
            [
                "function.a -> function.c",
                "function.a.async -> function.c.async",
                "function.a.trigger.t -> function.c.trigger.t"
            ]
        );
        assert_eq!(
            keys(&s),
            [
                "function.b",
                "function.c",
                "function.c.async",
                "function.c.trigger.t",
                "workflow.w"
            ]
        );
        assert_eq!(s.resources["function.c.trigger.t"].id, "t1");
        assert_eq!(
            s.resources["workflow.w"].private.get("depends_on"),
            Some(json!(["function.c", "function.b"]))
        );
        assert_eq!(
            s.resources["function.c.async"].private.get("depends_on"),
            Some(json!(["function.c"]))
        );
    }

    #[test]
    fn refusals_leave_the_state_alone() {
        let before = sample();
        let mut s = before.clone();
        assert!(matches!(
            mv(&mut s, &a("function.a"), &a("function.b")),
            Err(SurgeryError::DestinationExists(d)) if d == a("function.b")
        ));
        assert!(matches!(
            mv(&mut s, &a("function.a"), &a("workflow.a")),
            Err(SurgeryError::KindMismatch { .. })
        ));
        assert!(matches!(
            mv(&mut s, &a("function.a.trigger.t"), &a("function.b.trigger.t")),
            Err(SurgeryError::OtherFunction { .. })
        ));
        assert!(matches!(
            mv(&mut s, &a("function.a.async"), &a("function.b.async")),
            Err(SurgeryError::OtherFunction { .. })
        ));
        assert!(matches!(
            mv(&mut s, &a("function.x"), &a("function.y")),
            Err(SurgeryError::NotInState(_))
        ));
        assert!(matches!(
            mv(&mut s, &a("workflow.w"), &a("workflow.w")),
            Err(SurgeryError::Same(_))
        ));
        // A child whose new address is taken stops the whole move.
        s.resources
            .insert("function.c.async".into(), record("async", "urn:c", &[]));
        assert!(matches!(
            mv(&mut s, &a("function.a"), &a("function.c")),
            Err(SurgeryError::DestinationExists(d)) if d == a("function.c.async")
        ));
        s.resources.remove("function.c.async");
        assert_eq!(s, before);
    }

    #[test]
    fn a_trigger_is_renamed_on_its_function() {
        let mut s = sample();
        mv(&mut s, &a("function.a.trigger.t"), &a("function.a.trigger.u")).unwrap();
        assert!(s.resources.contains_key("function.a.trigger.u"));
        assert!(!s.resources.contains_key("function.a.trigger.t"));
    }

    #[test]
    fn removing_a_function_removes_its_children() {
        let mut s = sample();
        let gone = rm(&mut s, &a("function.a")).unwrap();
        assert_eq!(gone.len(), 3);
        assert_eq!(keys(&s), ["function.b", "workflow.w"]);
        assert!(matches!(rm(&mut s, &a("function.a")), Err(SurgeryError::NotInState(_))));
    }
}
