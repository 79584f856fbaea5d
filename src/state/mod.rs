//! The state file: what fgform last applied, per resource address, with a serial and a
//! lineage so a saved plan or a second machine can tell whether it is looking at the same
//! history. Written atomically (temp file, fsync, rename, directory fsync) with the previous
//! version kept as `<file>.backup`; never holds plaintext secrets (callers store salted
//! fingerprints). State, backup, journal and lock files are owner-only (0600).
//!
//! ```json
//! { "format_version": 1, "lineage": "…uuid…", "serial": 7, "stack": "shop",
//!   "resources": { "function.thumbnail": { "kind": "function", "id": "urn:fss:…",
//!                  "attributes": { … }, "private": { "digest": "…" } } } }
//! ```

mod lock;
pub mod surgery;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use lock::{holder, lock_path, Lock, LockHandle, LockInfo};

/// The state format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// One managed resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceState {
    /// `function`, `trigger`, `async`, `dependency`, `workflow`.
    pub kind: String,
    /// The API's id: function URN, trigger id, dependency version id, workflow id.
    pub id: String,
    /// Last-applied attributes as fgform sent them (secrets replaced by their HMAC).
    #[serde(default)]
    pub attributes: Attributes,
    /// What fgform needs to remember but never shows: digests, secret HMACs, etags.
    #[serde(default, skip_serializing_if = "Attributes::is_empty")]
    pub private: Attributes,
}

/// Last-applied attributes, kept as their JSON text: a state of 10,000 functions holds
/// 30,000 of these, and parsed trees cost seven times the text. Read on use.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Attributes(Box<serde_json::value::RawValue>);

impl Attributes {
    /// From a map of attribute values.
    pub fn from_map(map: &BTreeMap<String, Value>) -> Self {
        Attributes(serde_json::value::to_raw_value(map).expect("attribute values serialize"))
    }

    /// All attributes, parsed.
    pub fn to_map(&self) -> BTreeMap<String, Value> {
        serde_json::from_str(self.0.get()).unwrap_or_default()
    }

    /// One attribute, parsed.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.to_map().remove(key)
    }

    /// Sets one attribute.
    pub fn insert(&mut self, key: impl Into<String>, value: Value) {
        let mut map = self.to_map();
        map.insert(key.into(), value);
        *self = Attributes::from_map(&map);
    }

    /// The attribute names.
    pub fn keys(&self) -> Vec<String> {
        self.to_map().into_keys().collect()
    }

    pub fn is_empty(&self) -> bool {
        self.0.get() == "{}"
    }

    /// Removes one attribute and returns it.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let mut map = self.to_map();
        let value = map.remove(key);
        *self = Attributes::from_map(&map);
        value
    }
}

impl Default for Attributes {
    fn default() -> Self {
        Attributes::from_map(&BTreeMap::new())
    }
}

impl PartialEq for Attributes {
    fn eq(&self, other: &Self) -> bool {
        self.to_map() == other.to_map()
    }
}

impl std::fmt::Debug for Attributes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.get())
    }
}

impl From<BTreeMap<String, Value>> for Attributes {
    fn from(map: BTreeMap<String, Value>) -> Self {
        Attributes::from_map(&map)
    }
}

/// A state document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub format_version: u32,
    /// Fixed for the life of a stack's state: a different lineage is a different history.
    pub lineage: String,
    /// Bumped on every save.
    pub serial: u64,
    pub stack: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// The fgform version that wrote it.
    #[serde(default)]
    pub fgform_version: String,
    #[serde(default)]
    pub resources: BTreeMap<String, ResourceState>,
    /// Mutating calls started and not yet confirmed, by intent id: each is durable before
    /// its call is sent and removed in the same write that records the call's result, so
    /// after a killed run these are exactly the calls whose outcome is unknown
    /// (`apply::recover` resolves them).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pending: BTreeMap<String, Intent>,
}

/// A mutating call about to be sent (the intent journal's entry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    /// The resource it changes.
    pub address: String,
    /// The SDK operation name (`CreateFunction`, `UpdateFunctionConfig`, `DeleteTrigger`, …).
    pub call: String,
    /// RFC 3339, when it was sent.
    pub started: String,
    /// For creates: what identifies the resource if the call happened (function URN, trigger
    /// type and event data, dependency name and etag, workflow name).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub lookup: Value,
    /// For creates: the record to keep when the resource is found (its id is filled in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<ResourceState>,
}

impl State {
    /// The same state with this lineage and serial (for journal lines).
    pub fn with_identity(mut self, lineage: &str, serial: u64) -> Self {
        self.lineage = lineage.to_string();
        self.serial = serial;
        self
    }

    /// An empty state for a new stack.
    pub fn new(stack: &str, stage: Option<&str>) -> Self {
        State {
            format_version: FORMAT_VERSION,
            lineage: uuid::Uuid::new_v4().to_string(),
            serial: 0,
            stack: stack.to_string(),
            stage: stage.map(str::to_string),
            fgform_version: env!("CARGO_PKG_VERSION").to_string(),
            resources: BTreeMap::new(),
            pending: BTreeMap::new(),
        }
    }

    /// The owner this state tags its functions with (`model::Owner`).
    pub fn owner(&self) -> crate::model::Owner {
        crate::model::Owner::new(&self.stack, self.stage.as_deref(), &self.lineage)
    }
}

/// Failures reading or writing state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read state file `{path}`")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write state file `{path}`")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("state file `{path}` is not valid JSON state: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error("state file `{path}` has format version {found}; this fgform reads version {supported}")]
    UnsupportedVersion { path: PathBuf, found: u32, supported: u32 },
    #[error("state journal `{path}` is damaged at line {line}: {reason}")]
    Journal { path: PathBuf, line: usize, reason: String },
    #[error("state `{path}` is locked by {holder}")]
    Locked { path: PathBuf, holder: Box<LockInfo> },
    #[error("no lock with id {id} is held on `{path}`")]
    NoSuchLock { path: PathBuf, id: String },
}

/// The default state path: `state/<stack>[-<stage>].json` under `dir`.
pub fn default_path(dir: &Path, stack: &str, stage: Option<&str>) -> PathBuf {
    let name = match stage {
        Some(s) => format!("{stack}-{s}.json"),
        None => format!("{stack}.json"),
    };
    dir.join("state").join(name)
}

/// `<path>.backup`.
pub fn backup_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".backup");
    PathBuf::from(s)
}

/// Loads a state file; `Ok(None)` when there is none yet.
pub fn load(path: &Path) -> Result<Option<State>, StateError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StateError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    // Check the version first without building a tree of the whole document (a state of
    // 10,000 functions is ~15 MB of JSON), then parse straight into the typed state.
    #[derive(Deserialize)]
    struct Version {
        #[serde(default)]
        format_version: u32,
    }
    let found = serde_json::from_slice::<Version>(&bytes)
        .map_err(|e| StateError::Parse {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?
        .format_version;
    if found != FORMAT_VERSION {
        return Err(StateError::UnsupportedVersion {
            path: path.to_path_buf(),
            found,
            supported: FORMAT_VERSION,
        });
    }
    let mut state: State = serde_json::from_slice(&bytes).map_err(|e| StateError::Parse {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    drop(bytes);
    replay_journal(path, &mut state)?;
    Ok(Some(state))
}

/// `<path>.journal`: changes recorded since the state file was last written whole.
pub fn journal_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".journal");
    PathBuf::from(s)
}

/// One journal line: the rows a batch of completed calls changed, against the state file
/// with this lineage and serial.
#[derive(Debug, Serialize, Deserialize)]
struct JournalLine {
    lineage: String,
    base_serial: u64,
    #[serde(default)]
    set: BTreeMap<String, ResourceState>,
    #[serde(default)]
    remove: Vec<String>,
    /// Intents started in this batch.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    intents: BTreeMap<String, Intent>,
    /// Intents confirmed in this batch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    done: Vec<String>,
}

/// Applies the journal lines written against this state file (same lineage and serial).
/// Only a torn last line (a process killed mid-append: no newline yet, or garbage with
/// nothing after it) is ignored, because its batch was never acknowledged; lines for an
/// older serial are stale (a later whole save superseded them). Anything else is an error
/// naming the journal and the line, never a silent loss of the lines after it: a damaged
/// line, a line of another lineage (the journal of another state), or of a newer serial
/// than the state file (the state file was replaced by an older copy).
fn replay_journal(path: &Path, state: &mut State) -> Result<(), StateError> {
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

/// Opens (creating it owner-only) a file for writing state, journal or backup: state
/// files name every resource and hold secret fingerprints, so nobody else reads them.
fn create_private(options: &mut fs::OpenOptions, path: &Path) -> std::io::Result<File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)
}

/// Makes `file` owner-only if an older fgform left it readable by others.
fn make_private(file: &File) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = file.metadata()?.permissions().mode();
        if mode & 0o077 != 0 {
            file.set_permissions(fs::Permissions::from_mode(mode & 0o700))?;
        }
    }
    let _ = file;
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

/// Saves `state` with its serial bumped: the new bytes go to a temp file that is fsynced
/// and renamed over `path`; the previous file is first hard-linked to `<path>.backup`, so at
/// every instant `path` holds a complete state.
pub fn save(path: &Path, state: &mut State) -> Result<(), StateError> {
    let werr = |source| StateError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(werr)?;
    state.serial += 1;
    state.fgform_version = env!("CARGO_PKG_VERSION").to_string();
    let mut bytes = serde_json::to_vec_pretty(state).expect("state serializes");
    bytes.push(b'\n');
    let result = (|| {
        let mut staged = crate::atomic::Staged::new(path, crate::atomic::Access::Private)?;
        staged.write_all(&bytes)?;
        if path.exists() {
            let backup = backup_path(path);
            let link_tmp = dir.join(format!(".backup.{}.tmp", uuid::Uuid::new_v4().simple()));
            if fs::hard_link(path, &link_tmp).is_err() {
                // Filesystems without hard links: a copy is still a complete previous state.
                fs::copy(path, &link_tmp)?;
            }
            // A state file an older version wrote world-readable becomes private as well.
            make_private(&File::open(&link_tmp)?)?;
            fs::rename(&link_tmp, &backup)?;
        }
        staged.commit(true)
    })();
    if result.is_err() {
        state.serial -= 1;
    } else {
        // The whole state is on disk: journal lines against the old serial are stale now.
        let _ = fs::remove_file(journal_path(path));
    }
    result.map_err(werr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> State {
        let mut s = State::new("shop", None);
        s.resources.insert(
            "function.thumbnail".into(),
            ResourceState {
                kind: "function".into(),
                id: "urn:fss:r:p:function:default:thumbnail".into(),
                attributes: BTreeMap::from([("memory_size".into(), serde_json::json!(256))]).into(),
                private: BTreeMap::from([("digest".into(), serde_json::json!("ab"))]).into(),
            },
        );
        s
    }

    #[test]
    fn save_then_load_round_trips_and_bumps_serial() {
        let dir = tempfile::tempdir().unwrap();
        let path = default_path(dir.path(), "shop", Some("prod"));
        assert!(path.ends_with("state/shop-prod.json"));
        assert_eq!(load(&path).unwrap(), None);
        let mut s = sample();
        save(&path, &mut s).unwrap();
        assert_eq!(s.serial, 1);
        assert_eq!(load(&path).unwrap().unwrap(), s);
        assert!(!backup_path(&path).exists());
        save(&path, &mut s).unwrap();
        let backup = load(&backup_path(&path)).unwrap().unwrap();
        assert_eq!((backup.serial, load(&path).unwrap().unwrap().serial), (1, 2));
        // No temp files are left behind.
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn other_format_versions_and_garbage_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        fs::write(
            &path,
            r#"{"format_version": 99, "lineage": "x", "serial": 1, "stack": "s"}"#,
        )
        .unwrap();
        assert!(matches!(
            load(&path),
            Err(StateError::UnsupportedVersion {
                found: 99,
                supported: 1,
                ..
            })
        ));
        fs::write(&path, "{ torn").unwrap();
        assert!(matches!(load(&path), Err(StateError::Parse { .. })));
    }

    #[test]
    fn journal_lines_replay_on_load_until_a_whole_save_supersedes_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let mut s = sample();
        save(&path, &mut s).unwrap();
        let mut live = s.clone();
        live.resources.insert(
            "function.other".into(),
            ResourceState {
                kind: "function".into(),
                id: "urn:x".into(),
                attributes: Default::default(),
                private: Default::default(),
            },
        );
        live.resources.remove("function.thumbnail");
        let changed: BTreeSet<String> = ["function.other".to_string(), "function.thumbnail".to_string()].into();
        append_journal(&path, &live, &changed, &BTreeSet::new()).unwrap();
        // A torn line after it is ignored.
        let mut f = fs::OpenOptions::new().append(true).open(journal_path(&path)).unwrap();
        f.write_all(b"{\"lineage\": \"x").unwrap();
        let mut loaded = load(&path).unwrap().unwrap();
        assert_eq!(loaded.resources.keys().collect::<Vec<_>>(), ["function.other"]);
        // A whole save supersedes the journal and removes it.
        save(&path, &mut loaded).unwrap();
        assert!(!journal_path(&path).exists());
        let again = load(&path).unwrap().unwrap();
        assert_eq!(again.resources.keys().collect::<Vec<_>>(), ["function.other"]);
    }

    #[test]
    fn intents_are_journaled_started_and_done_and_survive_whole_saves() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let mut s = sample();
        save(&path, &mut s).unwrap();
        let intent = |address: &str| Intent {
            address: address.into(),
            call: "CreateFunction".into(),
            started: "2026-11-23T00:00:00.000Z".into(),
            lookup: serde_json::json!({"urn": "urn:x"}),
            record: None,
        };
        let mut live = s.clone();
        live.pending.insert("a".into(), intent("function.a"));
        live.pending.insert("b".into(), intent("function.b"));
        append_journal(&path, &live, &BTreeSet::new(), &["a".into(), "b".into()].into()).unwrap();
        live.pending.remove("a");
        append_journal(&path, &live, &BTreeSet::new(), &["a".into()].into()).unwrap();
        let mut loaded = load(&path).unwrap().unwrap();
        assert_eq!(
            loaded.pending.keys().collect::<Vec<_>>(),
            ["b"],
            "a started and done, b open"
        );
        assert_eq!(loaded.pending["b"], intent("function.b"));
        save(&path, &mut loaded).unwrap();
        assert_eq!(load(&path).unwrap().unwrap().pending.len(), 1, "kept by a whole save");
        // A state without intents does not mention them (older readers see no new key).
        loaded.pending.clear();
        save(&path, &mut loaded).unwrap();
        assert!(!fs::read_to_string(&path).unwrap().contains("pending"));
    }

    /// A saved sample state (the journal is the test's to write).
    fn saved_sample() -> (tempfile::TempDir, PathBuf, State) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let mut s = sample();
        save(&path, &mut s).unwrap();
        (dir, path, s)
    }

    fn line_setting(state: &State, address: &str) -> Vec<u8> {
        let mut live = state.clone();
        live.resources.insert(
            address.into(),
            ResourceState {
                kind: "function".into(),
                id: format!("urn:{address}"),
                attributes: Default::default(),
                private: Default::default(),
            },
        );
        serde_json::to_vec(&JournalLine {
            lineage: live.lineage.clone(),
            base_serial: live.serial,
            set: BTreeMap::from([(address.to_string(), live.resources[address].clone())]),
            remove: vec![],
            intents: BTreeMap::new(),
            done: vec![],
        })
        .unwrap()
    }

    #[test]
    fn a_damaged_journal_line_before_the_end_is_an_error_naming_the_file_and_line() {
        let (_dir, path, s) = saved_sample();
        let (a, b) = (line_setting(&s, "function.a"), line_setting(&s, "function.b"));
        fs::write(
            journal_path(&path),
            [&a[..], b"\n{\"lineage\": garbage\n", &b[..], b"\n"].concat(),
        )
        .unwrap();
        let err = load(&path).unwrap_err();
        assert!(matches!(err, StateError::Journal { line: 2, .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains(&journal_path(&path).display().to_string()) && text.contains("line 2"),
            "{text}"
        );
        // Damage on the last complete line with nothing after it is a torn append: tolerated.
        fs::write(journal_path(&path), [&a[..], b"\n{\"lineage\": garb\n\n"].concat()).unwrap();
        let loaded = load(&path).unwrap().unwrap();
        assert!(loaded.resources.contains_key("function.a"));
    }

    #[test]
    fn a_journal_of_another_lineage_or_a_newer_serial_is_an_error() {
        let (_dir, path, saved) = saved_sample();
        let other = saved.clone().with_identity("another-lineage", saved.serial);
        fs::write(
            journal_path(&path),
            [line_setting(&other, "function.a"), b"\n".to_vec()].concat(),
        )
        .unwrap();
        let err = load(&path).unwrap_err();
        assert!(matches!(err, StateError::Journal { line: 1, .. }), "{err:?}");
        assert!(err.to_string().contains("another-lineage"), "{err}");

        let newer = saved.clone().with_identity(&saved.lineage, saved.serial + 1);
        fs::write(
            journal_path(&path),
            [line_setting(&newer, "function.a"), b"\n".to_vec()].concat(),
        )
        .unwrap();
        let err = load(&path).unwrap_err();
        assert!(err.to_string().contains("replaced by an older copy"), "{err}");
    }

    #[test]
    fn an_append_after_a_torn_last_line_is_not_lost() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let mut s = sample();
        save(&path, &mut s).unwrap();
        let mut live = s.clone();
        live.resources.clear();
        append_journal(&path, &live, &["function.thumbnail".into()].into(), &BTreeSet::new()).unwrap();
        // Killed mid-append: half a line, no newline.
        let mut f = fs::OpenOptions::new().append(true).open(journal_path(&path)).unwrap();
        f.write_all(br#"{"lineage":"half a li"#).unwrap();
        assert!(load(&path).unwrap().unwrap().resources.is_empty());
        // The next run appends; its line must not be glued to the fragment.
        let mut next = live.clone();
        next.resources
            .insert("function.new".into(), s.resources["function.thumbnail"].clone());
        append_journal(&path, &next, &["function.new".into()].into(), &BTreeSet::new()).unwrap();
        let loaded = load(&path).unwrap().unwrap();
        assert_eq!(loaded.resources.keys().collect::<Vec<_>>(), ["function.new"]);
    }

    #[cfg(unix)]
    #[test]
    fn state_backup_and_journal_files_are_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        // A state file an older version left world-readable, with a journal to match.
        let mut s = sample();
        fs::write(&path, serde_json::to_vec(&s).unwrap()).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(journal_path(&path), b"").unwrap();
        fs::set_permissions(journal_path(&path), fs::Permissions::from_mode(0o644)).unwrap();
        append_journal(&path, &s, &BTreeSet::new(), &BTreeSet::new()).unwrap();
        assert_eq!(mode(&journal_path(&path)), 0o600, "journal");
        save(&path, &mut s).unwrap();
        assert_eq!(mode(&path), 0o600, "state");
        assert_eq!(mode(&backup_path(&path)), 0o600, "backup of a 0644 state");
        append_journal(&path, &s, &BTreeSet::new(), &BTreeSet::new()).unwrap();
        assert_eq!(mode(&journal_path(&path)), 0o600, "new journal");
        save(&path, &mut s).unwrap();
        assert_eq!((mode(&path), mode(&backup_path(&path))), (0o600, 0o600));
    }

    #[test]
    fn journal_lines_for_another_serial_are_stale() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let mut s = sample();
        save(&path, &mut s).unwrap();
        let mut old = s.clone();
        old.serial = 0;
        old.resources.clear();
        append_journal(
            &path,
            &old,
            &["function.thumbnail".to_string()].into(),
            &BTreeSet::new(),
        )
        .unwrap();
        assert_eq!(
            load(&path).unwrap().unwrap().resources.len(),
            1,
            "stale removal ignored"
        );
    }
}
