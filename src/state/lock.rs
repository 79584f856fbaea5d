//! The state lock: `<state>.lock`, holding who, where, when and which operation, and an
//! OS advisory lock (`flock`) on that file for as long as the operation runs. The flock is
//! what makes it held: the kernel drops it when its process ends, however it ends, so a
//! lock file whose flock can be taken belongs to a dead process and is broken (with a note
//! naming the holder), while one whose flock is held is live whatever pid or host it
//! names (another PID namespace, a reused pid). A held lock is an error naming the holder
//! (or a wait, with a timeout).

use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Write};
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
    /// The CI job holding it (GitHub Actions, GitLab CI, Jenkins, Buildkite, CodeArts…), from
    /// the usual CI environment variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_url: Option<String>,
}

impl LockInfo {
    /// A new lock id held by this process for `operation`.
    pub fn new(operation: &str) -> LockInfo {
        LockInfo {
            id: uuid::Uuid::new_v4().to_string(),
            user: user(),
            host: hostname(),
            pid: std::process::id(),
            operation: operation.to_string(),
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            ci_url: ci_url(),
        }
    }
}

/// The URL of the CI run this process belongs to, from the usual CI environment variables.
pub(crate) fn ci_url() -> Option<String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if let (Some(server), Some(repo), Some(run)) =
        (var("GITHUB_SERVER_URL"), var("GITHUB_REPOSITORY"), var("GITHUB_RUN_ID"))
    {
        return Some(format!("{server}/{repo}/actions/runs/{run}"));
    }
    [
        "CI_JOB_URL",
        "BUILD_URL",
        "BUILDKITE_BUILD_URL",
        "CIRCLE_BUILD_URL",
        "CODEARTS_BUILD_URL",
    ]
    .iter()
    .find_map(|name| var(name))
}

impl std::fmt::Display for LockInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} on {} (pid {}) running `{}` since {}",
            self.user, self.host, self.pid, self.operation, self.created
        )?;
        if let Some(url) = &self.ci_url {
            write!(f, " in {url}")?;
        }
        write!(f, " [lock id {}]", self.id)
    }
}

/// A held lock; released on drop.
#[derive(Debug)]
pub struct Lock {
    path: PathBuf,
    /// The open lock file: its flock is held while this lives.
    file: File,
    pub info: LockInfo,
    /// A stale lock this acquisition broke (no process held it any more); `Some` with an
    /// unreadable lock file's placeholder holder too.
    pub broke_stale: Option<LockInfo>,
}

/// `<state>.lock`: the lock file of a state file.
pub fn lock_path(state: &Path) -> PathBuf {
    let mut s = state.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
}

pub(crate) fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into())
}

pub(crate) fn user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

/// Takes the flock of `file` without waiting: `Ok(false)` when another open file holds it.
fn try_flock(file: &File) -> std::io::Result<bool> {
    match file.try_lock() {
        Ok(()) => Ok(true),
        Err(fs::TryLockError::WouldBlock) => Ok(false),
        Err(fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Whether `path` still names the file `file` has open (it was not removed or replaced).
fn is_at(file: &File, path: &Path) -> std::io::Result<bool> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let (open, named) = (file.metadata()?, fs::metadata(path));
        Ok(named.is_ok_and(|named| (named.dev(), named.ino()) == (open.dev(), open.ino())))
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        Ok(path.exists())
    }
}

fn create_private(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)
}

fn taken() -> std::io::Error {
    std::io::ErrorKind::AlreadyExists.into()
}

/// Creates `path` holding `bytes` with its flock held by the returned file, failing with
/// `AlreadyExists` if it exists. The file appears complete and locked or not at all: the
/// bytes go to a temp file, which is flocked and then hard-linked into place (link creation
/// is atomic and never replaces), so a process killed at any instant leaves either no lock
/// or a complete one whose flock died with it, which the next acquirer breaks. Where hard
/// links are unsupported: create exclusively, flock, then write; a crash there leaves an
/// unlocked (so stale) file, and a creator whose empty file was broken meanwhile sees it
/// is no longer at `path` and tries again.
fn create_complete(path: &Path, bytes: &[u8]) -> std::io::Result<File> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("lock");
    let tmp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let written = (|| {
        let mut f = create_private(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        if !try_flock(&f)? {
            return Err(taken()); // nobody else knows this name
        }
        Ok(f)
    })();
    let linked = written.and_then(|f| fs::hard_link(&tmp, path).map(|()| f));
    let _ = fs::remove_file(&tmp);
    match linked {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists && !path.exists() => {
            let mut f = create_private(path)?;
            if !try_flock(&f)? || !is_at(&f, path)? {
                return Err(taken());
            }
            f.write_all(bytes)?;
            f.sync_all()?;
            Ok(f)
        }
        other => other,
    }
}

/// What an existing lock file turned out to be.
enum Existing {
    /// Its flock is held: a live holder.
    Live,
    /// It went away (or was replaced) while we looked: look again.
    Gone,
    /// Nobody held its flock: removed. The holder it named, if readable.
    Broken(Option<LockInfo>),
}

/// Breaks the lock file at `path` if no process holds its flock.
fn break_if_stale(path: &Path) -> std::io::Result<Existing> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Existing::Gone),
        Err(e) => return Err(e),
    };
    if !try_flock(&file)? {
        return Ok(Existing::Live);
    }
    // We hold its flock, so no live process does; make sure it is still the file at
    // `path` (not one a released holder removed and a new holder replaced).
    if !is_at(&file, path)? {
        return Ok(Existing::Gone);
    }
    let mut text = String::new();
    let holder = file
        .read_to_string(&mut text)
        .ok()
        .and_then(|_| serde_json::from_str(&text).ok());
    fs::remove_file(path)?;
    Ok(Existing::Broken(holder))
    // Dropping `file` releases the flock: anyone waiting on it finds it no longer at `path`.
}

/// The current holder, if any.
pub fn holder(state: &Path) -> Option<LockInfo> {
    holder_at(&lock_path(state))
}

fn unreadable(operation: &str) -> LockInfo {
    LockInfo {
        id: "?".into(),
        user: "?".into(),
        host: "?".into(),
        pid: 0,
        operation: operation.into(),
        created: "?".into(),
        ci_url: None,
    }
}

impl Lock {
    /// Takes the lock for `operation`, waiting up to `timeout` while another process holds
    /// it. A lock file no process holds is removed, with a note on stderr naming its holder.
    pub fn acquire(state: &Path, operation: &str, timeout: Duration) -> Result<Lock, StateError> {
        Lock::acquire_as(state, LockInfo::new(operation), timeout)
    }

    /// [`Lock::acquire`] for a holder described by `info`.
    pub fn acquire_as(state: &Path, info: LockInfo, timeout: Duration) -> Result<Lock, StateError> {
        let path = lock_path(state);
        let werr = |source| StateError::Write {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(werr)?;
        }
        let deadline = Instant::now() + timeout;
        let mut broke_stale = None;
        let bytes = serde_json::to_vec_pretty(&info).expect("lock info serializes");
        loop {
            match create_complete(&path, &bytes) {
                Ok(file) => {
                    return Ok(Lock {
                        path,
                        file,
                        info,
                        broke_stale,
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    match break_if_stale(&path).map_err(werr)? {
                        Existing::Gone => continue,
                        Existing::Broken(holder) => {
                            let holder = holder.unwrap_or_else(|| unreadable("(unreadable lock file)"));
                            eprintln!(
                                "note: removed the stale lock `{}` of a process that no longer runs: {holder}",
                                path.display()
                            );
                            broke_stale = Some(holder);
                            continue;
                        }
                        Existing::Live => {}
                    }
                    if Instant::now() >= deadline {
                        return Err(StateError::Locked {
                            path: state.to_path_buf(),
                            holder: Box::new(holder(state).unwrap_or_else(|| unreadable("(lock file being written)"))),
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
    /// where no destructor runs; the flock goes with the process).
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
        // Only remove the file if it is still ours (force-unlock may have replaced it);
        // the flock is released after, when `file` closes.
        if is_at(&self.file, &self.path).unwrap_or(false) {
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
            ci_url: None,
        };
        fs::write(lock_path(&state), serde_json::to_vec(&dead).unwrap()).unwrap();
        let lock = Lock::acquire(&state, "apply", Duration::ZERO).unwrap();
        assert_eq!(lock.broke_stale.as_ref().map(|l| l.id.as_str()), Some("old"));
    }

    /// Not a test of its own: the live holder for
    /// `a_live_holder_in_another_process_is_never_broken_whatever_pid_it_names`, run as a
    /// child process of the test binary. Takes the lock, makes its file name a pid that
    /// does not exist (as a holder in another PID namespace looks), says so by creating
    /// `<state>.ready`, and holds the lock until its stdin closes.
    #[test]
    #[ignore = "run by another test as its child process"]
    fn hold_a_lock_for_the_parent_process() {
        let Some(state) = std::env::var_os("FGFORM_TEST_HOLD_LOCK").map(PathBuf::from) else {
            return;
        };
        let lock = Lock::acquire(&state, "apply", Duration::ZERO).unwrap();
        let foreign = LockInfo {
            pid: u32::MAX - 1,
            ..lock.info.clone()
        };
        // In place: the same file, so the flock taken on it stays.
        let mut f = OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(lock_path(&state))
            .unwrap();
        f.write_all(&serde_json::to_vec_pretty(&foreign).unwrap()).unwrap();
        f.sync_all().unwrap();
        fs::write(state.with_extension("ready"), b"").unwrap();
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        drop(lock);
    }

    #[test]
    fn a_live_holder_in_another_process_is_never_broken_whatever_pid_it_names() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s.json");
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "state::lock::tests::hold_a_lock_for_the_parent_process",
                "--exact",
                "--ignored",
                "--test-threads=1",
            ])
            .env("FGFORM_TEST_HOLD_LOCK", &state)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while !state.with_extension("ready").exists() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the child never took the lock"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let named = holder(&state).unwrap();
        assert_eq!(named.pid, u32::MAX - 1);
        assert_eq!(named.host, hostname());
        for _ in 0..3 {
            match Lock::acquire(&state, "apply", Duration::from_millis(300)) {
                Err(StateError::Locked { holder, .. }) => assert_eq!(*holder, named),
                other => panic!("a live lock was taken over: {other:?}"),
            }
        }
        assert_eq!(holder(&state), Some(named.clone()), "left as it was");

        // Once its process is gone (SIGKILL: no destructor ran), the lock goes with it.
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(holder(&state), Some(named.clone()), "the file is still there");
        let lock = Lock::acquire(&state, "apply", Duration::ZERO).unwrap();
        assert_eq!(lock.broke_stale, Some(named));
    }

    #[test]
    fn an_empty_lock_file_nobody_holds_is_broken() {
        // What a process killed between creating and writing the file (no hard links) leaves.
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s.json");
        fs::write(lock_path(&state), b"").unwrap();
        let lock = Lock::acquire(&state, "apply", Duration::ZERO).unwrap();
        assert_eq!(lock.broke_stale.as_ref().map(|h| h.id.as_str()), Some("?"));
        assert_eq!(holder(&state).unwrap().id, lock.info.id);
    }

    #[cfg(unix)]
    #[test]
    fn a_lock_file_is_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s.json");
        let _lock = Lock::acquire(&state, "apply", Duration::ZERO).unwrap();
        let mode = fs::metadata(lock_path(&state)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
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
