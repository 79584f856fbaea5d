//! The file backend: the state at a path, written atomically (temp file, fsync, rename,
//! directory fsync) with the previous version kept as `<file>.backup` and the last
//! [`HISTORY_KEEP`] in `<file>.history/<serial>.json` (hard links: no copy); the journal is
//! `<file>.journal`, one fsynced line per batch; the lock is `<file>.lock` under an OS
//! advisory lock (see [`crate::state::Lock`]). Every file is owner-only (0600).
//!
//! The version a conditional write expects is the file's identity and size and mtime as
//! read, so a state file another process replaced since is never overwritten.

use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{
    Backend, BackendError, Document, HeldLock, HistoryEntry, JournalEntry, Stored, Version, Written, HISTORY_KEEP,
};
use crate::state::{backup_path, create_private, journal_path, make_private, Lock, LockInfo, StateError};

/// A state file.
#[derive(Debug, Clone)]
pub struct FileBackend {
    path: PathBuf,
}

impl FileBackend {
    pub fn new(path: impl Into<PathBuf>) -> FileBackend {
        FileBackend { path: path.into() }
    }

    /// The state file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, action: &'static str, error: impl std::fmt::Display) -> BackendError {
        BackendError::Io {
            location: self.describe(),
            action,
            message: error.to_string(),
        }
    }
}

/// `<path>.history`: the kept versions.
pub fn history_dir(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".history");
    PathBuf::from(s)
}

/// The version of the file at `path` as it is now (`None`: there is none).
fn current_version(path: &Path) -> std::io::Result<Option<Version>> {
    match fs::metadata(path) {
        Ok(meta) => Ok(Some(version_of(&meta))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn version_of(meta: &fs::Metadata) -> Version {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        Version(format!(
            "{}:{}:{}:{}.{}",
            meta.dev(),
            meta.ino(),
            meta.len(),
            meta.mtime(),
            meta.mtime_nsec()
        ))
    }
    #[cfg(not(unix))]
    {
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
        Version(format!("{}:{:?}", meta.len(), mtime))
    }
}

/// Serial and writer of a kept document (read without building the whole state).
#[derive(serde::Deserialize)]
struct Header {
    #[serde(default)]
    serial: u64,
    #[serde(default)]
    written: Option<Written>,
}

impl Backend for FileBackend {
    fn describe(&self) -> String {
        format!("`{}`", self.path.display())
    }

    fn read(&self) -> Result<Option<Stored>, BackendError> {
        let file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io("reading", e)),
        };
        // The version of the file these bytes came from, not of whatever is at the path later.
        let version = version_of(&file.metadata().map_err(|e| self.io("reading", e))?);
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut &file, &mut bytes).map_err(|e| self.io("reading", e))?;
        Ok(Some(Stored { bytes, version }))
    }

    fn write(&self, document: &Document<'_>, expected: Option<&Version>) -> Result<Version, BackendError> {
        let path = &self.path;
        let dir = crate::atomic::parent(path);
        fs::create_dir_all(dir).map_err(|e| self.io("writing", e))?;
        let current = current_version(path).map_err(|e| self.io("writing", e))?;
        if current.as_ref() != expected {
            return Err(BackendError::Conflict {
                location: self.describe(),
                found: Some(if current.is_some() {
                    "a newer file".into()
                } else {
                    "gone".into()
                }),
            });
        }
        let mut staged =
            crate::atomic::Staged::new(path, crate::atomic::Access::Private).map_err(|e| self.io("writing", e))?;
        staged.write_all(document.bytes).map_err(|e| self.io("writing", e))?;
        if current.is_some() {
            keep_previous(path, document.serial.saturating_sub(1)).map_err(|e| self.io("writing", e))?;
        }
        staged.commit(true).map_err(|e| self.io("writing", e))?;
        // The whole state is on disk: journal lines against the old serial are stale now.
        let _ = fs::remove_file(journal_path(path));
        let version = current_version(path).map_err(|e| self.io("writing", e))?;
        version.ok_or_else(|| self.io("writing", "the state file vanished after it was written"))
    }

    fn append_journal(&self, _base_serial: u64, _sequence: u64, entry: &[u8]) -> Result<(), BackendError> {
        let journal = journal_path(&self.path);
        let append = || -> std::io::Result<()> {
            let mut f = create_private(fs::OpenOptions::new().create(true).read(true).append(true), &journal)?;
            make_private(&f)?;
            drop_torn_tail(&mut f)?;
            let mut line = Vec::with_capacity(entry.len() + 1);
            line.extend_from_slice(entry);
            line.push(b'\n');
            f.write_all(&line)?;
            f.sync_data()
        };
        append().map_err(|e| BackendError::Io {
            location: format!("`{}`", journal.display()),
            action: "appending to",
            message: e.to_string(),
        })
    }

    fn read_journal(&self) -> Result<Vec<JournalEntry>, BackendError> {
        let journal = journal_path(&self.path);
        let text = match fs::read(&journal) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io("reading the journal of", e)),
        };
        Ok(complete_lines(&journal, &text))
    }

    fn lock(&self, info: LockInfo, wait: Duration) -> Result<Box<dyn HeldLock>, BackendError> {
        match Lock::acquire_as(&self.path, info, wait) {
            Ok(lock) => Ok(Box::new(FileLock {
                info: lock.info.clone(),
                broke: lock.broke_stale.clone(),
                lock: parking_lot::Mutex::new(Some(lock)),
            })),
            Err(StateError::Locked { holder, .. }) => Err(BackendError::Locked {
                location: self.describe(),
                holder,
            }),
            Err(e) => Err(self.io("locking", e)),
        }
    }

    fn holder(&self) -> Result<Option<LockInfo>, BackendError> {
        Ok(crate::state::holder(&self.path))
    }

    fn force_unlock(&self, id: &str) -> Result<LockInfo, BackendError> {
        Lock::force_unlock(&self.path, id).map_err(|e| match e {
            StateError::NoSuchLock { .. } => BackendError::NoSuchLock {
                location: self.describe(),
                id: id.to_string(),
            },
            other => self.io("unlocking", other),
        })
    }

    fn history(&self) -> Result<Vec<HistoryEntry>, BackendError> {
        let mut entries = Vec::new();
        let mut push = |path: &Path| -> Result<(), BackendError> {
            let bytes = fs::read(path).map_err(|e| self.io("reading the history of", e))?;
            if let Ok(header) = serde_json::from_slice::<Header>(&bytes) {
                entries.push(HistoryEntry {
                    serial: header.serial,
                    written: header.written.unwrap_or_else(|| Written {
                        who: "?".into(),
                        operation: "?".into(),
                        at: "?".into(),
                    }),
                });
            }
            Ok(())
        };
        for serial in kept_serials(&self.path).map_err(|e| self.io("reading the history of", e))? {
            push(&history_dir(&self.path).join(format!("{serial}.json")))?;
        }
        if self.path.exists() {
            push(&self.path)?;
        }
        entries.sort_by_key(|e| e.serial);
        entries.dedup_by_key(|e| e.serial);
        Ok(entries)
    }

    fn read_serial(&self, serial: u64) -> Result<Option<Vec<u8>>, BackendError> {
        if let Some(current) = self.read()? {
            if serde_json::from_slice::<Header>(&current.bytes).is_ok_and(|h| h.serial == serial) {
                return Ok(Some(current.bytes));
            }
        }
        match fs::read(history_dir(&self.path).join(format!("{serial}.json"))) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io("reading the history of", e)),
        }
    }
}

/// The serials kept in `<path>.history`, ascending.
fn kept_serials(path: &Path) -> std::io::Result<Vec<u64>> {
    let mut serials: Vec<u64> = match fs::read_dir(history_dir(path)) {
        Ok(entries) => entries
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".json")?.parse().ok())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    serials.sort_unstable();
    Ok(serials)
}

/// Keeps the file now at `path` (serial `serial`) as `<path>.backup` and in the history,
/// as hard links (a copy where links are unsupported), and prunes the history to
/// [`HISTORY_KEEP`] versions with the current one.
fn keep_previous(path: &Path, serial: u64) -> std::io::Result<()> {
    let dir = crate::atomic::parent(path);
    let link = |target: &Path| -> std::io::Result<()> {
        let tmp = dir.join(format!(".backup.{}.tmp", uuid::Uuid::new_v4().simple()));
        if fs::hard_link(path, &tmp).is_err() {
            fs::copy(path, &tmp)?;
        }
        // A state file an older version wrote world-readable becomes private as well.
        make_private(&File::open(&tmp)?)?;
        fs::rename(&tmp, target)
    };
    link(&backup_path(path))?;
    let history = history_dir(path);
    fs::create_dir_all(&history)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(&history, fs::Permissions::from_mode(0o700))?;
    }
    link(&history.join(format!("{serial}.json")))?;
    let kept = kept_serials(path)?;
    for old in kept.iter().take(kept.len().saturating_sub(HISTORY_KEEP - 1)) {
        let _ = fs::remove_file(history.join(format!("{old}.json")));
    }
    Ok(())
}

/// The complete lines of a journal file. Only a torn last line (a process killed
/// mid-append: no newline yet, or garbage with nothing after it) is dropped, because its
/// batch was never acknowledged; a damaged line before the end is returned, and refused by
/// the reader naming its line.
fn complete_lines(journal: &Path, text: &[u8]) -> Vec<JournalEntry> {
    let mut entries = Vec::new();
    let mut offset = 0;
    for (index, raw) in text.split_inclusive(|b| *b == b'\n').enumerate() {
        offset += raw.len();
        let Some(body) = raw.strip_suffix(b"\n") else {
            break; // torn tail: the append never finished
        };
        if body.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        // Only the last line can be torn; a damaged line with lines after it is returned
        // as it is, for the reader to refuse naming it.
        if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_err()
            && text[offset..].iter().all(|b| b.is_ascii_whitespace() || *b == 0)
        {
            break;
        }
        entries.push(JournalEntry {
            position: format!("`{}` line {}", journal.display(), index + 1),
            bytes: body.to_vec(),
        });
    }
    entries
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

/// A held file lock.
struct FileLock {
    info: LockInfo,
    broke: Option<LockInfo>,
    lock: parking_lot::Mutex<Option<Lock>>,
}

impl HeldLock for FileLock {
    fn info(&self) -> &LockInfo {
        &self.info
    }

    fn took_over(&self) -> Option<&LockInfo> {
        self.broke.as_ref()
    }

    fn release(&self) {
        drop(self.lock.lock().take());
    }
}
