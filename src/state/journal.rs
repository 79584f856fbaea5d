//! The state journal: one entry per batch of completed calls since the state was last
//! written whole, kept by the backend (`<state>.journal` lines, rows, objects) and replayed
//! by [`super::StateStore::load`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Intent, ResourceState, State, StateError};

/// `<path>.journal`: changes recorded since the state file was last written whole.
pub fn journal_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".journal");
    PathBuf::from(s)
}

/// One journal entry: the rows a batch of completed calls changed, against the state with
/// this lineage and serial.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct JournalLine {
    pub(super) lineage: String,
    pub(super) base_serial: u64,
    #[serde(default)]
    pub(super) set: BTreeMap<String, ResourceState>,
    #[serde(default)]
    pub(super) remove: Vec<String>,
    /// Intents started in this batch.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) intents: BTreeMap<String, Intent>,
    /// Intents confirmed in this batch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) done: Vec<String>,
}

impl JournalLine {
    /// The current value of `addresses` (present: set, absent: removed) and of the intents
    /// `intents` (present: started, absent: done) in `state`, against `state.serial`.
    pub(super) fn of(state: &State, addresses: &BTreeSet<String>, intents: &BTreeSet<String>) -> JournalLine {
        let mut line = JournalLine {
            lineage: state.lineage.clone(),
            base_serial: state.serial,
            set: BTreeMap::new(),
            remove: Vec::new(),
            intents: BTreeMap::new(),
            done: Vec::new(),
        };
        for id in intents {
            match state.pending.get(id) {
                Some(intent) => {
                    line.intents.insert(id.clone(), intent.clone());
                }
                None => line.done.push(id.clone()),
            }
        }
        for address in addresses {
            match state.resources.get(address) {
                Some(record) => {
                    line.set.insert(address.clone(), record.clone());
                }
                None => line.remove.push(address.clone()),
            }
        }
        line
    }

    /// Applies this entry, read at `position` of the journal at `location`, to `state`.
    /// Entries for an older serial are stale (a later whole save superseded them) and
    /// skipped. An entry of another lineage (the journal of another state), or of a newer
    /// serial than the state (the state was replaced by an older copy), is an error, never
    /// a silent loss of the entries after it.
    pub(super) fn apply(self, state: &mut State, location: &str, position: &str) -> Result<(), StateError> {
        let damaged = |reason: String| StateError::Journal {
            location: location.to_string(),
            position: position.to_string(),
            reason,
        };
        if self.lineage != state.lineage {
            return Err(damaged(format!(
                "it belongs to another state (lineage {}, not {}): move it away if that state is gone",
                self.lineage, state.lineage
            )));
        }
        if self.base_serial > state.serial {
            return Err(damaged(format!(
                "it continues serial {}, but the state is at serial {}: the state was replaced by an older copy",
                self.base_serial, state.serial
            )));
        }
        if self.base_serial < state.serial {
            return Ok(());
        }
        for (address, record) in self.set {
            state.resources.insert(address, record);
        }
        for address in self.remove {
            state.resources.remove(&address);
        }
        state.pending.extend(self.intents);
        for id in self.done {
            state.pending.remove(&id);
        }
        Ok(())
    }
}

/// Appends the current value of `addresses` and `intents` in `state` to the journal of the
/// state file at `path` (the rows and intents changed), durably.
pub fn append_journal(
    path: &Path,
    state: &State,
    addresses: &BTreeSet<String>,
    intents: &BTreeSet<String>,
) -> Result<(), StateError> {
    super::StateStore::file(path).journal(state, addresses, intents, 0)
}
