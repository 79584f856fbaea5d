//! The state file: what fgform last applied, per resource address, with a serial and a
//! lineage so a saved plan or a second machine can tell whether it is looking at the same
//! history. Written atomically (temp file, fsync, rename, directory fsync) with the previous
//! version kept as `<file>.backup`; never holds plaintext secrets (callers store HMACs).
//!
//! ```json
//! { "format_version": 1, "lineage": "…uuid…", "serial": 7, "stack": "shop",
//!   "resources": { "function.thumbnail": { "kind": "function", "id": "urn:fss:…",
//!                  "attributes": { … }, "private": { "digest": "…" } } } }
//! ```

mod lock;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use lock::{Lock, LockInfo};

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
    pub attributes: BTreeMap<String, Value>,
    /// What fgform needs to remember but never shows: digests, secret HMACs, etags.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub private: BTreeMap<String, Value>,
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
}

impl State {
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
        }
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
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| StateError::Parse {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let found = value.get("format_version").and_then(Value::as_u64).unwrap_or(0) as u32;
    if found != FORMAT_VERSION {
        return Err(StateError::UnsupportedVersion {
            path: path.to_path_buf(),
            found,
            supported: FORMAT_VERSION,
        });
    }
    serde_json::from_value(value).map(Some).map_err(|e| StateError::Parse {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
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
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("state"),
        uuid::Uuid::new_v4().simple()
    ));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        if path.exists() {
            let backup = backup_path(path);
            let link_tmp = dir.join(format!(".backup.{}.tmp", uuid::Uuid::new_v4().simple()));
            match fs::hard_link(path, &link_tmp) {
                Ok(()) => fs::rename(&link_tmp, &backup)?,
                // Filesystems without hard links: a copy is still a complete previous state.
                Err(_) => {
                    fs::copy(path, &link_tmp)?;
                    fs::rename(&link_tmp, &backup)?;
                }
            }
        }
        fs::rename(&tmp, path)?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
        state.serial -= 1;
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
                attributes: BTreeMap::from([("memory_size".into(), serde_json::json!(256))]),
                private: BTreeMap::from([("digest".into(), serde_json::json!("ab"))]),
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
}
