//! The state: what fgform last applied, per resource address, with a serial and a lineage so
//! a saved plan or a second machine can tell whether it is looking at the same history. It
//! never holds plaintext secrets (callers store salted fingerprints), and may be encrypted at
//! rest ([`crypto`]). It lives at a [`location`]: a file (written atomically, the previous
//! version kept as `<file>.backup`, owner-only), PostgreSQL or an S3/OBS bucket, each a
//! [`backend::Backend`]; [`StateStore`] reads it with its journal replayed and saves it with
//! a conditional write against the version it read, so nothing overwrites a newer state.
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
mod store;
pub mod surgery;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use journal::{append_journal, journal_path};
pub use lock::{holder, lock_path, Lock, LockHandle, LockInfo};
pub use recorder::Recorder;
pub use store::StateStore;

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

/// The private key of a function record holding the function's id (`func_id`): with the
/// URN it says the state made or imported this very function, so a refresh need not read
/// its tags to know it is the state's (`crate::refresh`).
pub const FUNC_ID: &str = "func_id";

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

    /// The keys of JSON object `view` (a resource's view, as plans and applies make it);
    /// anything but an object holds none.
    pub fn from_object(view: &Value) -> Self {
        match view {
            Value::Object(object) => {
                Attributes::from_map(&object.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            }
            _ => Attributes::from_map(&BTreeMap::new()),
        }
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

/// Reads a JSON object into a map built in one pass from its entries: inserted one by one
/// in key order, a map's nodes stay about half full, and a state of 30,000 resources held
/// ~3 MB of empty slots. Repeated keys keep the last value, as inserting would.
fn packed_map<'de, D, V>(deserializer: D) -> Result<BTreeMap<String, V>, D::Error>
where
    D: serde::Deserializer<'de>,
    V: Deserialize<'de>,
{
    struct Entries<V>(std::marker::PhantomData<V>);
    impl<'de, V: Deserialize<'de>> serde::de::Visitor<'de> for Entries<V> {
        type Value = Vec<(String, V)>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a map")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
            while let Some(entry) = map.next_entry()? {
                entries.push(entry);
            }
            Ok(entries)
        }
    }
    // `from_iter` sorts stably and builds full nodes, keeping the last of equal keys.
    Ok(deserializer
        .deserialize_map(Entries(std::marker::PhantomData))?
        .into_iter()
        .collect())
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
    #[serde(default, deserialize_with = "packed_map")]
    pub resources: BTreeMap<String, ResourceState>,
    /// Mutating calls started and not yet confirmed, by intent id: a create's is durable
    /// before its call is sent (an update's or delete's is journaled without waiting), and
    /// each is removed in the same write that records the call's result, so after a killed
    /// run every create whose outcome is unknown is here (`apply::recover` resolves them).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pending: BTreeMap<String, Intent>,
    /// Who wrote this version, when, and by which operation (for `state history`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written: Option<backend::Written>,
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
            written: None,
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
    #[error("the state at {location} is not valid JSON state: {reason}")]
    Parse { location: String, reason: String },
    #[error("the state at {location} has format version {found}; this fgform reads version {supported}")]
    UnsupportedVersion {
        location: String,
        found: u32,
        supported: u32,
    },
    #[error("the journal of the state at {location} is damaged at {position}: {reason}")]
    Journal {
        location: String,
        position: String,
        reason: String,
    },
    #[error("state `{path}` is locked by {holder}")]
    Locked { path: PathBuf, holder: Box<LockInfo> },
    #[error("no lock with id {id} is held on `{path}`")]
    NoSuchLock { path: PathBuf, id: String },
    #[error(transparent)]
    Backend(Box<backend::BackendError>),
    #[error(transparent)]
    Crypto(#[from] crypto::CryptoError),
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
    StateStore::file(path).load()
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

/// Saves `state` to the state file at `path` with its serial bumped, over whatever file is
/// there (see [`backend::file::FileBackend`] for how it is written).
pub fn save(path: &Path, state: &mut State) -> Result<(), StateError> {
    StateStore::file(path).overwrite(state)
}

#[cfg(test)]
mod tests;
