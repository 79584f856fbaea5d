//! The state lock: `<state>.lock`, created exclusively, holding who, where, when and which
//! operation. A held lock is an error naming the holder (or a wait, with a timeout); a lock
//! left by a process that no longer runs on this host is broken and reported.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::StateError;

/// Who holds a lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// Pass to `fgform force-unlock`.
    pub id: String,
    pub user: String,
    pub host: String,
    pub pid: u32,
    /// `apply`, `destroy`, `import`, …
    pub operation: String,
    /// RFC 3339.
    pub created: String,
}

impl std::fmt::Display for LockInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} on {} (pid {}) running `{}` since {} [lock id {}]",
            self.user, self.host, self.pid, self.operation, self.created, self.id
        )
    }
}

/// A held lock; released on drop.
#[derive(Debug)]
pub struct Lock {
    path: PathBuf,
    pub info: LockInfo,
    /// A stale lock this acquisition broke (its process was gone).
    pub broke_stale: Option<LockInfo>,
}

/// `<state>.lock`: the lock file of a state file.
pub fn lock_path(state: &Path) -> PathBuf {
    let mut s = state.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
}

fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into())
}

fn user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

fn process_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true
    }
}

/// Creates `path` holding `bytes`, failing with `AlreadyExists` if it exists. The file
/// appears complete or not at all: the bytes go to a temp file first, which is then
/// hard-linked into place (link creation is atomic and never replaces), so a process killed
/// at any instant cannot leave an empty lock that names no holder and can never be broken.
/// Where hard links are unsupported: create exclusively, then write (the old way).
fn create_complete(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("lock");
    let tmp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let written = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    let linked = written.and_then(|()| fs::hard_link(&tmp, path));
    let _ = fs::remove_file(&tmp);
    match linked {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists && !path.exists() => {
            let mut f = OpenOptions::new().write(true).create_new(true).open(path)?;
            f.write_all(bytes)?;
            f.sync_all()
        }
        other => other,
    }
}

/// The current holder, if any.
pub fn holder(state: &Path) -> Option<LockInfo> {
    let text = fs::read_to_string(lock_path(state)).ok()?;
    serde_json::from_str(&text).ok()
}

impl Lock {
    /// Takes the lock for `operation`, waiting up to `timeout` while another process holds it.
    pub fn acquire(state: &Path, operation: &str, timeout: Duration) -> Result<Lock, StateError> {
        let path = lock_path(state);
        let werr = |source| StateError::Write {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(werr)?;
        }
        let info = LockInfo {
            id: uuid::Uuid::new_v4().to_string(),
            user: user(),
            host: hostname(),
            pid: std::process::id(),
            operation: operation.to_string(),
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        };
        let deadline = Instant::now() + timeout;
        let mut broke_stale = None;
        let bytes = serde_json::to_vec_pretty(&info).expect("lock info serializes");
        loop {
            match create_complete(&path, &bytes) {
                Ok(()) => {
                    return Ok(Lock {
                        path,
                        info,
                        broke_stale,
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let current = holder(state);
                    if let Some(h) = &current {
                        if h.host == info.host && h.pid != info.pid && !process_alive(h.pid) {
                            // Its process is gone: the lock can protect nothing.
                            let _ = fs::remove_file(&path);
                            broke_stale = current;
                            continue;
                        }
                    }
                    if Instant::now() >= deadline {
                        let holder = current.unwrap_or_else(|| LockInfo {
                            id: "?".into(),
                            user: "?".into(),
                            host: "?".into(),
                            pid: 0,
                            operation: "(unreadable lock file)".into(),
                            created: "?".into(),
                        });
                        return Err(StateError::Locked {
                            path: state.to_path_buf(),
                            holder: Box::new(holder),
                        });
                    }
                    std::thread::sleep(Duration::from_millis(200).min(deadline - Instant::now()));
                }
                Err(source) => return Err(werr(source)),
            }
        }
    }

    /// Releases the lock (also done on drop).
    pub fn release(self) {}

    /// What releases this lock from elsewhere (a signal handler about to exit the process,
    /// where no destructor runs).
    pub fn handle(&self) -> LockHandle {
        LockHandle {
            path: self.path.clone(),
            id: self.info.id.clone(),
        }
    }

    /// Removes the lock with this id, whoever holds it.
    pub fn force_unlock(state: &Path, id: &str) -> Result<LockInfo, StateError> {
        match holder(state) {
            Some(h) if h.id == id => {
                fs::remove_file(lock_path(state)).map_err(|source| StateError::Write {
                    path: lock_path(state),
                    source,
                })?;
                Ok(h)
            }
            _ => Err(StateError::NoSuchLock {
                path: state.to_path_buf(),
                id: id.to_string(),
            }),
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Only remove the file if it is still ours (force-unlock may have replaced it).
        if holder_at(&self.path).is_some_and(|h| h.id == self.info.id) {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Releases a held lock by its id (see [`Lock::handle`]).
#[derive(Debug, Clone)]
pub struct LockHandle {
    path: PathBuf,
    id: String,
}

impl LockHandle {
    /// Removes the lock file if it is still this lock's.
    pub fn release(&self) {
        if holder_at(&self.path).is_some_and(|h| h.id == self.id) {
            let _ = fs::remove_file(&self.path);
        }
    }
}

fn holder_at(lock_file: &Path) -> Option<LockInfo> {
    serde_json::from_str(&fs::read_to_string(lock_file).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_names_its_holder_and_is_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state/shop.json");
        let first = Lock::acquire(&state, "apply", Duration::ZERO).unwrap();
        match Lock::acquire(&state, "destroy", Duration::from_millis(300)) {
            Err(StateError::Locked { holder, .. }) => {
                assert_eq!(holder.operation, "apply");
                assert_eq!(holder.pid, std::process::id());
                assert!(holder.to_string().contains("running `apply`"));
            }
            other => panic!("expected Locked, got {other:?}"),
        }
        drop(first);
        let second = Lock::acquire(&state, "destroy", Duration::ZERO).unwrap();
        assert_eq!(holder(&state).unwrap().id, second.info.id);
        second.release();
        assert!(holder(&state).is_none());
    }

    #[test]
    fn a_lock_file_appears_complete_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s.json");
        let lock = Lock::acquire(&state, "apply", Duration::ZERO).unwrap();
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["s.json.lock"]);
        assert_eq!(holder(&state).unwrap(), lock.info);
        // A second writer finds it held, whole, and leaves nothing behind either.
        assert!(matches!(
            create_complete(&lock_path(&state), b"{}"),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists
        ));
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        assert_eq!(holder(&state).unwrap(), lock.info);
    }

    #[test]
    fn waiting_succeeds_when_the_holder_releases_in_time() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s.json");
        let first = Lock::acquire(&state, "apply", Duration::ZERO).unwrap();
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            drop(first);
        });
        let second = Lock::acquire(&state, "apply", Duration::from_secs(30));
        releaser.join().unwrap();
        assert!(second.is_ok());
    }

    #[test]
    fn a_lock_of_a_dead_process_is_broken_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s.json");
        let dead = LockInfo {
            id: "old".into(),
            user: "ci".into(),
            host: hostname(),
            pid: u32::MAX - 1,
            operation: "apply".into(),
            created: "2020-01-01T00:00:00Z".into(),
        };
        fs::write(lock_path(&state), serde_json::to_vec(&dead).unwrap()).unwrap();
        let lock = Lock::acquire(&state, "apply", Duration::ZERO).unwrap();
        assert_eq!(lock.broke_stale.as_ref().map(|l| l.id.as_str()), Some("old"));
    }

    #[test]
    fn force_unlock_needs_the_right_id() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s.json");
        let lock = Lock::acquire(&state, "apply", Duration::ZERO).unwrap();
        assert!(matches!(
            Lock::force_unlock(&state, "wrong"),
            Err(StateError::NoSuchLock { .. })
        ));
        assert_eq!(Lock::force_unlock(&state, &lock.info.id).unwrap().operation, "apply");
        assert!(holder(&state).is_none());
        drop(lock);
    }
}
