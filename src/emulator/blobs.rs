//! Code and dependency packages, stored once per SHA-512 digest: on disk under
//! `--data/blobs/`, or in memory without `--data`.
//!
//! Blobs no row references any more (deleted functions and versions, replaced code,
//! deleted dependency versions) are removed by [`Blobs::sweep`], which the server runs
//! after a committed change that may have dropped a reference, after a failed upload, on
//! reset, and on start. Crash safety comes from the order: a blob is only deleted once the
//! change that dropped its last reference is in the journal, and the set of references is
//! read from the tables under the store lock. A `kill -9` between the two leaves an orphan
//! that the sweep on the next start removes; it never loses a referenced blob.
//!
//! An upload stores its blob before it takes the store lock, so until its row is in the
//! tables the blob is *pinned* ([`Pin`]): a sweep in between leaves it alone.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;
use sha2::{Digest, Sha512};

type Pins = Arc<Mutex<HashMap<String, usize>>>;

/// Where package bytes go.
pub struct Blobs {
    dir: Option<PathBuf>,
    fsync: bool,
    memory: Mutex<HashMap<String, bytes::Bytes>>,
    /// Digests stored by requests whose rows are not in the tables yet.
    pins: Pins,
}

/// What the API reports about a stored package.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Hex SHA-512 (the function `digest`).
    pub sha512: String,
    /// Hex MD5 (the dependency `etag`).
    pub md5: String,
    pub size: u64,
}

/// Keeps a stored blob from being swept until dropped (after the row that references it
/// is in the tables, or the request failed).
pub struct Pin {
    pins: Pins,
    digest: String,
}

impl Drop for Pin {
    fn drop(&mut self) {
        let mut pins = self.pins.lock();
        if let Some(n) = pins.get_mut(&self.digest) {
            *n -= 1;
            if *n == 0 {
                pins.remove(&self.digest);
            }
        }
    }
}

impl Blobs {
    pub fn new(dir: Option<PathBuf>, fsync: bool) -> std::io::Result<Self> {
        if let Some(d) = &dir {
            fs::create_dir_all(d)?;
        }
        Ok(Blobs {
            dir,
            fsync,
            memory: Mutex::new(HashMap::new()),
            pins: Arc::default(),
        })
    }

    /// Stores `bytes` (idempotent per digest) and returns their hashes, pinned.
    pub fn put(&self, bytes: &[u8]) -> std::io::Result<(Stored, Pin)> {
        let sha512 = hex::encode(Sha512::digest(bytes));
        let md5 = hex::encode(md5::Md5::digest(bytes));
        // Pin first: a sweep that runs after this sees the pin; one that ran before may
        // have removed the file, which is then written again below.
        *self.pins.lock().entry(sha512.clone()).or_default() += 1;
        let pin = Pin {
            pins: self.pins.clone(),
            digest: sha512.clone(),
        };
        match &self.dir {
            Some(dir) => {
                let path = dir.join(&sha512);
                if !path.exists() {
                    let mut staged = crate::atomic::Staged::new(&path, crate::atomic::Access::Default)?;
                    staged.write_all(bytes)?;
                    staged.commit(self.fsync)?;
                }
            }
            None => {
                self.memory
                    .lock()
                    .entry(sha512.clone())
                    .or_insert_with(|| bytes::Bytes::copy_from_slice(bytes));
            }
        }
        Ok((
            Stored {
                sha512,
                md5,
                size: bytes.len() as u64,
            },
            pin,
        ))
    }

    /// The bytes stored under `digest`, if any. The caller holds the store lock (as for
    /// [`Blobs::sweep`]), so a row that references the digest keeps it in place meanwhile.
    pub fn get(&self, digest: &str) -> std::io::Result<Option<bytes::Bytes>> {
        if digest.len() != 128 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        match &self.dir {
            None => Ok(self.memory.lock().get(digest).cloned()),
            Some(dir) => match fs::read(dir.join(digest)) {
                Ok(bytes) => Ok(Some(bytes.into())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            },
        }
    }

    /// Removes every blob (and leftover temp file) whose digest is neither in `referenced`
    /// nor pinned; returns how many went. The caller holds the store lock, and the tables
    /// `referenced` comes from are what the journal says.
    pub fn sweep(&self, referenced: &HashSet<&str>) -> std::io::Result<usize> {
        // Held throughout, so a `put` cannot pin a digest while its file is being removed.
        let pins = self.pins.lock();
        let keep = |digest: &str| referenced.contains(digest) || pins.contains_key(digest);
        let Some(dir) = &self.dir else {
            let mut memory = self.memory.lock();
            let before = memory.len();
            memory.retain(|digest, _| keep(digest));
            return Ok(before - memory.len());
        };
        let mut removed = 0;
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            // `<sha512>` or `.<sha512>.<uuid>.tmp` (`crate::atomic`); anything else is not ours to remove.
            let digest = name
                .strip_prefix('.')
                .unwrap_or(name)
                .split('.')
                .next()
                .unwrap_or_default();
            if digest.len() != 128 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) || keep(digest) {
                continue;
            }
            match fs::remove_file(entry.path()) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(removed)
    }

    /// How many blobs are stored (files on disk, or entries in memory).
    #[cfg(test)]
    pub fn count(&self) -> usize {
        match &self.dir {
            Some(dir) => fs::read_dir(dir).map(|d| d.count()).unwrap_or(0),
            None => self.memory.lock().len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_removes_unreferenced_blobs_but_not_pinned_or_referenced_ones() {
        for on_disk in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let blobs = Blobs::new(on_disk.then(|| dir.path().join("blobs")), false).unwrap();
            let (a, pin_a) = blobs.put(b"a").unwrap();
            let (b, pin_b) = blobs.put(b"b").unwrap();
            let (_c, pin_c) = blobs.put(b"c").unwrap();
            drop(pin_c);
            // c: unreferenced and unpinned; a: referenced; b: pinned by an upload in flight.
            assert_eq!(blobs.sweep(&HashSet::from([a.sha512.as_str()])).unwrap(), 1);
            assert_eq!(blobs.count(), 2);
            drop(pin_b);
            assert_eq!(blobs.sweep(&HashSet::from([a.sha512.as_str()])).unwrap(), 1);
            drop(pin_a);
            assert_eq!(blobs.sweep(&HashSet::from([a.sha512.as_str()])).unwrap(), 0);
            assert_eq!(blobs.count(), 1);
            // Storing again after a sweep took it writes it again.
            let (b2, _pin) = blobs.put(b"b").unwrap();
            assert_eq!(b2.sha512, b.sha512);
            assert_eq!(blobs.count(), 2);
            assert_eq!(blobs.sweep(&HashSet::new()).unwrap(), 1, "only the pinned one stays");
        }
    }

    #[test]
    fn sweep_leaves_files_it_did_not_write() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::new(Some(dir.path().to_path_buf()), false).unwrap();
        fs::write(dir.path().join("README"), "x").unwrap();
        fs::write(dir.path().join(format!("{}.0.tmp", "a".repeat(128))), "x").unwrap();
        assert_eq!(blobs.sweep(&HashSet::new()).unwrap(), 1, "a stale temp file goes");
        assert!(dir.path().join("README").exists());
    }
}
