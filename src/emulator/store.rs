//! The emulator's data: typed tables, and their persistence under `--data` as an
//! append-only journal plus an atomic snapshot.
//!
//! Every request that mutates runs under one lock: it changes the tables, marks the rows
//! it touched, and [`Db::commit`] appends one journal line holding the new value of each
//! touched row *before* the response is sent. A restart loads `snapshot.json` and replays
//! `journal.jsonl`; a torn last line (a process killed mid-write) is dropped, because its
//! request was never answered.
//!
//! [`Tables::blob_digests`] is what the blob sweep keeps; [`Db::journal_matches_tables`]
//! turns false after a failed commit, and the sweep then removes nothing.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::atomic;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Snapshot format version; a snapshot of another version is refused, not guessed at.
pub const FORMAT_VERSION: u32 = 1;
/// Journal size after which the next commit writes a snapshot and truncates the journal.
const COMPACT_AFTER_BYTES: u64 = 128 * 1024 * 1024;

/// A function: its mutable head (`latest`), its published versions, and everything that
/// hangs off it (aliases, async configs, triggers, tags).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Function {
    pub project: String,
    pub package: String,
    pub name: String,
    pub func_id: String,
    pub created: String,
    pub latest: Snapshot,
    #[serde(default)]
    pub versions: Vec<Snapshot>,
    #[serde(default)]
    pub aliases: BTreeMap<String, Alias>,
    /// Keyed by qualifier (`latest`, a version name, or `!alias`).
    #[serde(default)]
    pub async_configs: BTreeMap<String, Value>,
    #[serde(default)]
    pub triggers: Vec<Trigger>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default)]
    pub sys_tags: Vec<Tag>,
}

/// Config and code of `latest` or of one published version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    /// `latest` or the version name.
    pub version: String,
    /// Every accepted configuration field, by its API name (runtime, handler,
    /// memory_size, timeout, user_data, strategy_config, func_vpc, …).
    pub config: Map<String, Value>,
    pub code: Code,
    pub last_modified: String,
    #[serde(default)]
    pub version_description: String,
    pub image_name: String,
}

/// The code of a function snapshot. The bytes live in the blob store by digest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Code {
    pub code_type: String,
    pub code_url: String,
    pub code_filename: String,
    /// Hex SHA-512 of the package bytes.
    pub digest: String,
    pub code_size: u64,
    #[serde(default)]
    pub depend_version_list: Vec<String>,
    #[serde(default)]
    pub code_encrypt_kms_key_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Alias {
    pub name: String,
    pub version: String,
    pub description: String,
    pub last_modified: String,
    #[serde(default)]
    pub additional_version_weights: Map<String, Value>,
    #[serde(default)]
    pub additional_version_strategy: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trigger {
    pub trigger_id: String,
    /// Qualifier the trigger belongs to (`latest`, a version, or `!alias`).
    pub qualifier: String,
    pub trigger_type_code: String,
    pub trigger_status: String,
    pub event_type_code: String,
    pub event_data: Map<String, Value>,
    pub created_time: String,
    pub last_updated_time: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// A dependency package: a name with numbered, immutable versions.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DepPackage {
    pub project: String,
    pub dep_id: String,
    pub name: String,
    pub next_version: u64,
    pub versions: BTreeMap<u64, DepVersion>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DepVersion {
    pub id: String,
    pub version: u64,
    pub runtime: String,
    pub description: String,
    pub depend_type: String,
    /// Where the bytes are: the blob digest for uploads, the OBS URL for links.
    pub link: String,
    pub blob_digest: String,
    pub etag: String,
    pub size: u64,
    pub file_name: String,
    pub last_modified: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Workflow {
    pub project: String,
    pub id: String,
    pub name: String,
    pub created_time: String,
    pub updated_time: String,
    pub created_by: String,
    /// The definition exactly as sent (key order kept; unknown fields kept).
    pub definition: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Token {
    pub project_id: String,
    pub project_name: String,
    pub user: String,
    pub domain: String,
    pub issued_at: String,
    pub expires_at_epoch: i64,
    pub expires_at: String,
}

/// All persistent state. Keys: functions `{project}/{name}`, dependencies
/// `{project}/{dep_id}`, workflows `{project}/{id}`, tokens by the token's SHA-256.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Tables {
    #[serde(default)]
    pub functions: BTreeMap<String, Function>,
    #[serde(default)]
    pub dependencies: BTreeMap<String, DepPackage>,
    #[serde(default)]
    pub workflows: BTreeMap<String, Workflow>,
    #[serde(default)]
    pub tokens: BTreeMap<String, Token>,
}

impl Tables {
    /// Every blob digest a row references: the code of each function's `latest` and
    /// versions, and each uploaded dependency version. (An OBS-linked function's digest
    /// is that of its URL and names no blob; keeping it in the set costs nothing.)
    pub fn blob_digests(&self) -> std::collections::HashSet<&str> {
        let code = self
            .functions
            .values()
            .flat_map(|f| std::iter::once(&f.latest).chain(&f.versions))
            .map(|s| s.code.digest.as_str());
        let deps = self
            .dependencies
            .values()
            .flat_map(|p| p.versions.values())
            .map(|v| v.blob_digest.as_str());
        code.chain(deps).filter(|d| !d.is_empty()).collect()
    }
}

/// Which table a journal change is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Table {
    Functions,
    Dependencies,
    Workflows,
    Tokens,
}

#[derive(Debug, Serialize, Deserialize)]
struct Change {
    t: Table,
    k: String,
    /// The row's new value; `null` when it was removed.
    v: Value,
}

#[derive(Debug, Serialize, Deserialize)]
struct JournalLine {
    seq: u64,
    #[serde(default)]
    reset: bool,
    changes: Vec<Change>,
}

#[derive(Debug, Serialize, Deserialize)]
struct SnapshotFile {
    format: u32,
    seq: u64,
    tables: Tables,
}

/// Failures of the persistence layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot use data directory `{path}`")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("data directory `{0}` is in use by another emulator")]
    Locked(PathBuf),
    #[error("`{path}` is not a snapshot this emulator can read: {reason}")]
    BadSnapshot { path: PathBuf, reason: String },
    #[error("`{path}` is corrupt at line {line}: {reason}")]
    CorruptJournal { path: PathBuf, line: usize, reason: String },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

struct Journal {
    dir: PathBuf,
    file: File,
    bytes: u64,
    fsync: bool,
    _lock: File,
}

/// The tables plus what the current request touched, plus the journal.
pub struct Db {
    pub tables: Tables,
    dirty: Vec<(Table, String)>,
    reset: bool,
    seq: u64,
    journal: Option<Journal>,
    /// A commit failed: the tables hold a change the journal does not.
    diverged: bool,
}

impl Db {
    /// A memory-only store.
    pub fn in_memory() -> Self {
        Db {
            tables: Tables::default(),
            dirty: Vec::new(),
            reset: false,
            seq: 0,
            journal: None,
            diverged: false,
        }
    }

    /// Opens (or creates) the store under `dir`, holding an exclusive lock on it.
    pub fn open(dir: &Path, fsync: bool) -> Result<Self, StoreError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let lock_path = dir.join("LOCK");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        if lock.try_lock().is_err() {
            return Err(StoreError::Locked(dir.to_path_buf()));
        }
        let snapshot_path = dir.join("snapshot.json");
        let (mut tables, mut seq) = (Tables::default(), 0);
        if snapshot_path.exists() {
            let text = fs::read(&snapshot_path).map_err(io_err(&snapshot_path))?;
            let snap: SnapshotFile = serde_json::from_slice(&text).map_err(|e| StoreError::BadSnapshot {
                path: snapshot_path.clone(),
                reason: e.to_string(),
            })?;
            if snap.format != FORMAT_VERSION {
                return Err(StoreError::BadSnapshot {
                    path: snapshot_path,
                    reason: format!("format {} (this emulator reads {FORMAT_VERSION})", snap.format),
                });
            }
            tables = snap.tables;
            seq = snap.seq;
        }
        let journal_path = dir.join("journal.jsonl");
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&journal_path)
            .map_err(io_err(&journal_path))?;
        let good_len = replay(&journal_path, &file, &mut tables, &mut seq)?;
        let len = file.metadata().map_err(io_err(&journal_path))?.len();
        if good_len < len {
            // A torn tail: the request that wrote it was never acknowledged.
            file.set_len(good_len).map_err(io_err(&journal_path))?;
        }
        file.seek(SeekFrom::End(0)).map_err(io_err(&journal_path))?;
        Ok(Db {
            tables,
            dirty: Vec::new(),
            reset: false,
            seq,
            journal: Some(Journal {
                dir: dir.to_path_buf(),
                file,
                bytes: good_len,
                fsync,
                _lock: lock,
            }),
            diverged: false,
        })
    }

    /// Records that the row `key` of `table` changed (or was removed) in this request.
    pub fn touch(&mut self, table: Table, key: &str) {
        if !self.dirty.iter().any(|(t, k)| *t == table && k == key) {
            self.dirty.push((table, key.to_string()));
        }
    }

    /// Empties every table (the admin reset); journaled like any change.
    pub fn reset(&mut self) {
        self.tables = Tables::default();
        self.dirty.clear();
        self.reset = true;
    }

    /// Discards the marks of a request that failed: handlers validate before they mutate,
    /// so a failed request has changed nothing.
    pub fn rollback_marks(&mut self) {
        self.dirty.clear();
        self.reset = false;
    }

    /// Whether every change in the tables is in the journal (no commit has failed), so
    /// that what the tables no longer reference, a restart would not either.
    pub fn journal_matches_tables(&self) -> bool {
        !self.diverged
    }

    /// Makes this request's changes durable. Called under the lock, before responding.
    pub fn commit(&mut self) -> Result<(), StoreError> {
        let result = self.write_commit();
        if result.is_err() {
            self.diverged = true;
        }
        result
    }

    fn write_commit(&mut self) -> Result<(), StoreError> {
        if self.dirty.is_empty() && !self.reset {
            return Ok(());
        }
        let dirty = std::mem::take(&mut self.dirty);
        let reset = std::mem::replace(&mut self.reset, false);
        self.seq += 1;
        let Some(journal) = self.journal.as_mut() else {
            return Ok(());
        };
        let changes = dirty
            .into_iter()
            .map(|(t, k)| {
                let v = row_value(&self.tables, t, &k);
                Change { t, k, v }
            })
            .collect();
        let mut line = serde_json::to_vec(&JournalLine {
            seq: self.seq,
            reset,
            changes,
        })
        .expect("rows serialize");
        line.push(b'\n');
        let path = journal.dir.join("journal.jsonl");
        journal.file.write_all(&line).map_err(io_err(&path))?;
        if journal.fsync {
            journal.file.sync_data().map_err(io_err(&path))?;
        }
        journal.bytes += line.len() as u64;
        if journal.bytes > COMPACT_AFTER_BYTES {
            self.compact()?;
        }
        Ok(())
    }

    /// Writes `snapshot.json` atomically (temp file, fsync, rename) and empties the journal.
    pub fn compact(&mut self) -> Result<(), StoreError> {
        let Some(journal) = self.journal.as_mut() else {
            return Ok(());
        };
        let dir = journal.dir.clone();
        let target = dir.join("snapshot.json");
        let snap = SnapshotFile {
            format: FORMAT_VERSION,
            seq: self.seq,
            tables: self.tables.clone(),
        };
        let mut staged = atomic::Staged::new(&target, atomic::Access::Default).map_err(io_err(&target))?;
        serde_json::to_writer(&mut staged, &snap).map_err(|e| io_err(&target)(e.into()))?;
        staged.commit(true).map_err(io_err(&target))?;
        let path = dir.join("journal.jsonl");
        journal.file.set_len(0).map_err(io_err(&path))?;
        journal.file.seek(SeekFrom::Start(0)).map_err(io_err(&path))?;
        journal.bytes = 0;
        Ok(())
    }

    /// The data directory, when persistent.
    pub fn data_dir(&self) -> Option<&Path> {
        self.journal.as_ref().map(|j| j.dir.as_path())
    }
}

fn row_value(tables: &Tables, table: Table, key: &str) -> Value {
    let v = match table {
        Table::Functions => tables.functions.get(key).map(serde_json::to_value),
        Table::Dependencies => tables.dependencies.get(key).map(serde_json::to_value),
        Table::Workflows => tables.workflows.get(key).map(serde_json::to_value),
        Table::Tokens => tables.tokens.get(key).map(serde_json::to_value),
    };
    v.map(|r| r.expect("rows serialize")).unwrap_or(Value::Null)
}

fn apply_change(tables: &mut Tables, change: Change) -> Result<(), serde_json::Error> {
    fn put<T: serde::de::DeserializeOwned>(
        map: &mut BTreeMap<String, T>,
        k: String,
        v: Value,
    ) -> serde_json::Result<()> {
        if v.is_null() {
            map.remove(&k);
        } else {
            map.insert(k, serde_json::from_value(v)?);
        }
        Ok(())
    }
    match change.t {
        Table::Functions => put(&mut tables.functions, change.k, change.v),
        Table::Dependencies => put(&mut tables.dependencies, change.k, change.v),
        Table::Workflows => put(&mut tables.workflows, change.k, change.v),
        Table::Tokens => put(&mut tables.tokens, change.k, change.v),
    }
}

/// Replays the journal into `tables`; returns the length of the well-formed prefix.
fn replay(path: &Path, file: &File, tables: &mut Tables, seq: &mut u64) -> Result<u64, StoreError> {
    let mut reader = BufReader::new(file.try_clone().map_err(io_err(path))?);
    reader.seek(SeekFrom::Start(0)).map_err(io_err(path))?;
    let mut good = 0u64;
    let mut buf = Vec::new();
    let mut line_no = 0;
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if buf.last() != Some(&b'\n') {
            break; // torn tail
        }
        let line: JournalLine = match serde_json::from_slice(&buf) {
            Ok(l) => l,
            Err(e) => {
                // Only the last line can be torn; anything else is corruption.
                let mut rest = Vec::new();
                let _ = std::io::Read::read_to_end(&mut reader, &mut rest);
                if rest.iter().all(|b| b.is_ascii_whitespace()) {
                    break;
                }
                return Err(StoreError::CorruptJournal {
                    path: path.to_path_buf(),
                    line: line_no,
                    reason: e.to_string(),
                });
            }
        };
        if line.seq > *seq {
            if line.reset {
                *tables = Tables::default();
            }
            for change in line.changes {
                apply_change(tables, change).map_err(|e| StoreError::CorruptJournal {
                    path: path.to_path_buf(),
                    line: line_no,
                    reason: e.to_string(),
                })?;
            }
            *seq = line.seq;
        }
        good += n as u64;
    }
    Ok(good)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(project: &str) -> Token {
        Token {
            project_id: project.into(),
            project_name: "r".into(),
            user: "u".into(),
            domain: "d".into(),
            issued_at: "t".into(),
            expires_at_epoch: 1,
            expires_at: "t".into(),
        }
    }

    #[test]
    fn journal_replays_after_reopen_and_drops_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut db = Db::open(dir.path(), false).unwrap();
            db.tables.tokens.insert("a".into(), token("p1"));
            db.touch(Table::Tokens, "a");
            db.commit().unwrap();
            db.tables.tokens.insert("b".into(), token("p2"));
            db.touch(Table::Tokens, "b");
            db.commit().unwrap();
            db.tables.tokens.remove("a");
            db.touch(Table::Tokens, "a");
            db.commit().unwrap();
        }
        // Simulate a write cut short by kill -9.
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join("journal.jsonl"))
            .unwrap();
        f.write_all(br#"{"seq":4,"changes":[{"t":"tokens","k":"c","v":{"proj"#)
            .unwrap();
        drop(f);
        let mut db = Db::open(dir.path(), false).unwrap();
        assert_eq!(db.tables.tokens.keys().collect::<Vec<_>>(), vec!["b"]);
        db.compact().unwrap();
        drop(db);
        let db = Db::open(dir.path(), false).unwrap();
        assert_eq!(db.tables.tokens.len(), 1);
        assert_eq!(fs::metadata(dir.path().join("journal.jsonl")).unwrap().len(), 0);
    }

    #[test]
    fn a_second_emulator_cannot_open_the_same_directory() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Db::open(dir.path(), false).unwrap();
        assert!(matches!(Db::open(dir.path(), false), Err(StoreError::Locked(_))));
    }

    #[test]
    fn corruption_in_the_middle_is_an_error_not_silence() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("journal.jsonl"),
            "garbage\n{\"seq\":1,\"changes\":[]}\n",
        )
        .unwrap();
        assert!(matches!(
            Db::open(dir.path(), false),
            Err(StoreError::CorruptJournal { line: 1, .. })
        ));
    }
}
