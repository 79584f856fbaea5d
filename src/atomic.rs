//! Atomic file replacement, the one way fgform writes a file readers must see whole (the
//! state, plan files, zips, the emulator's snapshot and blobs): the bytes go to a temp file
//! beside the target, `.NAME.UUID.tmp`, which is fsynced and renamed over the target, and the
//! directory is fsynced. At every instant the target holds the old bytes or the new ones.
//!
//! A leaf: it depends on nothing else in the crate, so every layer may use it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Who may read the file written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Created `0600` on Unix: the state, plan files.
    Private,
    /// Created as the umask allows.
    Default,
}

/// A temp file beside its target, renamed over it by [`Staged::commit`]; dropped without a
/// commit, it is removed.
#[derive(Debug)]
pub struct Staged {
    file: File,
    tmp: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl Staged {
    /// Creates the temp file for `target` (whose directory must exist).
    pub fn new(target: &Path, access: Access) -> io::Result<Staged> {
        let tmp = temp_path(target);
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        if access == Access::Private {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let file = options.open(&tmp)?;
        Ok(Staged {
            file,
            tmp,
            target: target.to_path_buf(),
            committed: false,
        })
    }

    /// The temp file's path (the target's directory, a hidden name).
    pub fn temp(&self) -> &Path {
        &self.tmp
    }

    /// The temp file.
    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Flushes the bytes to disk (when `fsync`), renames the temp file over the target and,
    /// when `fsync`, syncs the directory so the rename itself is durable.
    pub fn commit(mut self, fsync: bool) -> io::Result<()> {
        if fsync {
            self.file.sync_all()?;
        }
        fs::rename(&self.tmp, &self.target)?;
        self.committed = true;
        if fsync {
            if let Ok(dir) = File::open(parent(&self.target)) {
                let _ = dir.sync_all();
            }
        }
        Ok(())
    }
}

impl Write for Staged {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Replaces `target` with `bytes`, fsynced.
pub fn write(target: &Path, bytes: &[u8], access: Access) -> io::Result<()> {
    let mut staged = Staged::new(target, access)?;
    staged.write_all(bytes)?;
    staged.commit(true)
}

/// The directory `path` is in (`.` for a bare name).
pub fn parent(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

fn temp_path(target: &Path) -> PathBuf {
    let name = target.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    parent(target).join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_replaces_the_target_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("state.json");
        fs::write(&target, "old").unwrap();
        write(&target, b"new", Access::Private).unwrap();
        assert_eq!(fs::read_to_string(&target).unwrap(), "new");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            // Renamed over it: the new file's mode, not the old one's.
            assert_eq!(fs::metadata(&target).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }

    #[test]
    fn a_dropped_stage_leaves_the_target_alone() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("plan.json");
        fs::write(&target, "old").unwrap();
        let mut staged = Staged::new(&target, Access::Default).unwrap();
        staged.write_all(b"half").unwrap();
        let temp = staged.temp().to_path_buf();
        assert!(temp.exists() && temp.file_name().unwrap().to_str().unwrap().starts_with(".plan.json."));
        drop(staged);
        assert!(!temp.exists());
        assert_eq!(fs::read_to_string(&target).unwrap(), "old");
    }
}
