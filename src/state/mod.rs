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

pub mod backend;
pub mod crypto;
mod journal;
pub mod location;
mod lock;
pub mod recorder;
pub mod surgery;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use journal::replay_journal;
pub use journal::{append_journal, journal_path};
pub use lock::{holder, lock_path, Lock, LockHandle, LockInfo};
pub use recorder::Recorder;

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
    /// The operation (written as its SDK name; names older versions wrote still read).
    pub call: crate::api::Operation,
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

/// Opens (creating it owner-only) a file for writing state, journal or backup: state
/// files name every resource and hold secret fingerprints, so nobody else reads them.
pub(crate) fn create_private(options: &mut fs::OpenOptions, path: &Path) -> std::io::Result<File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)
}

/// Makes `file` owner-only if an older fgform left it readable by others.
pub(crate) fn make_private(file: &File) -> std::io::Result<()> {
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
mod tests;
