//! Code and dependency packages, stored once per SHA-512 digest: on disk under
//! `--data/blobs/`, or in memory without `--data`.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::PathBuf;

use parking_lot::Mutex;
use sha2::{Digest, Sha512};

/// Where package bytes go.
pub struct Blobs {
    dir: Option<PathBuf>,
    fsync: bool,
    memory: Mutex<HashMap<String, bytes::Bytes>>,
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

impl Blobs {
    pub fn new(dir: Option<PathBuf>, fsync: bool) -> std::io::Result<Self> {
        if let Some(d) = &dir {
            fs::create_dir_all(d)?;
        }
        Ok(Blobs {
            dir,
            fsync,
            memory: Mutex::new(HashMap::new()),
        })
    }

    /// Stores `bytes` (idempotent per digest) and returns their hashes.
    pub fn put(&self, bytes: &[u8]) -> std::io::Result<Stored> {
        let sha512 = hex::encode(Sha512::digest(bytes));
        let md5 = hex::encode(md5::Md5::digest(bytes));
        match &self.dir {
            Some(dir) => {
                let path = dir.join(&sha512);
                if !path.exists() {
                    let tmp = dir.join(format!("{sha512}.{}.tmp", uuid::Uuid::new_v4().simple()));
                    let mut f = fs::File::create(&tmp)?;
                    f.write_all(bytes)?;
                    if self.fsync {
                        f.sync_all()?;
                    }
                    fs::rename(&tmp, &path)?;
                }
            }
            None => {
                self.memory
                    .lock()
                    .entry(sha512.clone())
                    .or_insert_with(|| bytes::Bytes::copy_from_slice(bytes));
            }
        }
        Ok(Stored {
            sha512,
            md5,
            size: bytes.len() as u64,
        })
    }

    /// Drops every in-memory blob (admin reset). Files on disk stay: they are addressed by
    /// content and harmless.
    pub fn clear_memory(&self) {
        self.memory.lock().clear();
    }
}
