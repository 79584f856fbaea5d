//! The state journal: `<state>.journal`, one fsynced line per batch of completed calls
//! since the state file was last written whole, replayed by [`super::load`].

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{create_private, make_private, Intent, ResourceState, State, StateError};

/// `<path>.journal`: changes recorded since the state file was last written whole.
pub fn journal_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".journal");
    PathBuf::from(s)
}

/// One journal line: the rows a batch of completed calls changed, against the state file
/// with this lineage and serial.
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

/// Applies the journal lines written against this state file (same lineage and serial).
/// Only a torn last line (a process killed mid-append: no newline yet, or garbage with
/// nothing after it) is ignored, because its batch was never acknowledged; lines for an
/// older serial are stale (a later whole save superseded them). Anything else is an error
/// naming the journal and the line, never a silent loss of the lines after it: a damaged
/// line, a line of another lineage (the journal of another state), or of a newer serial
/// than the state file (the state file was replaced by an older copy).
pub(super) fn replay_journal(path: &Path, state: &mut State) -> Result<(), StateError> {
    let journal = journal_path(path);
    let text = match fs::read(&journal) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(StateError::Read { path: journal, source }),
    };
    let damaged = |line: usize, reason: String| StateError::Journal {
        path: journal.clone(),
        line,
        reason,
    };
    let mut offset = 0;
    for (index, raw) in text.split_inclusive(|b| *b == b'\n').enumerate() {
        let line_no = index + 1;
        offset += raw.len();
        let Some(body) = raw.strip_suffix(b"\n") else {
            break; // torn tail: the append never finished
        };
        if body.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let line = match serde_json::from_slice::<JournalLine>(body) {
            Ok(line) => line,
            // Only the last line can be torn; anything after it means damage.
            Err(_) if text[offset..].iter().all(|b| b.is_ascii_whitespace() || *b == 0) => break,
            Err(e) => return Err(damaged(line_no, format!("not a journal entry ({e})"))),
        };
        if line.lineage != state.lineage {
            return Err(damaged(
                line_no,
                format!(
                    "it belongs to another state (lineage {}, not {}): move it away if that state is gone",
                    line.lineage, state.lineage
                ),
            ));
        }
        if line.base_serial > state.serial {
            return Err(damaged(
                line_no,
                format!(
                    "it continues serial {}, but the state file is at serial {}: the state file was replaced by an older copy",
                    line.base_serial, state.serial
                ),
            ));
        }
        if line.base_serial < state.serial {
            continue;
        }
        for (address, record) in line.set {
            state.resources.insert(address, record);
        }
        for address in line.remove {
            state.resources.remove(&address);
        }
        state.pending.extend(line.intents);
        for id in line.done {
            state.pending.remove(&id);
        }
    }
    Ok(())
}

/// Cuts a torn last line (no newline: its writer was killed mid-append) off the journal,
/// so the next line starts on a line of its own instead of completing garbage.
fn drop_torn_tail(f: &mut File) -> std::io::Result<()> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok(());
    }
    let mut last = [0u8];
    f.seek(SeekFrom::Start(len - 1))?;
    f.read_exact(&mut last)?;
    if last[0] == b'\n' {
        return Ok(());
    }
    let mut text = Vec::new();
    f.seek(SeekFrom::Start(0))?;
    f.read_to_end(&mut text)?;
    let keep = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    f.set_len(keep as u64)
}

/// Appends the current value of `addresses` (present: set, absent: removed) and of the
/// intents `intents` (present: started, absent: done) to the journal of the state saved at
/// `state.serial`, and fsyncs it.
pub fn append_journal(
    path: &Path,
    state: &State,
    addresses: &BTreeSet<String>,
    intents: &BTreeSet<String>,
) -> Result<(), StateError> {
    let journal = journal_path(path);
    let werr = |source| StateError::Write {
        path: journal.clone(),
        source,
    };
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
    let mut bytes = serde_json::to_vec(&line).expect("journal lines serialize");
    bytes.push(b'\n');
    let mut f = create_private(fs::OpenOptions::new().create(true).read(true).append(true), &journal).map_err(werr)?;
    make_private(&f).map_err(werr)?;
    drop_torn_tail(&mut f).map_err(werr)?;
    f.write_all(&bytes).map_err(werr)?;
    f.sync_data().map_err(werr)
}
