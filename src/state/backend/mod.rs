//! Where a state lives: one [`Backend`] trait, implemented for a local file
//! ([`file::FileBackend`]), PostgreSQL ([`postgres::PostgresBackend`]) and any S3-compatible
//! store, OBS included ([`s3::S3Backend`]).
//!
//! A backend stores opaque documents (the encoded state: JSON, or the encrypted envelope of
//! [`crate::state::crypto`]) and knows nothing of their contents beyond the serial and lineage
//! it is handed. What every backend promises:
//! - **Conditional writes.** [`Backend::write`] replaces the state only if the stored one is
//!   still the [`Version`] the writer read (`None`: there must be none yet), so a broken lock
//!   or a second writer can never overwrite a newer state: the write fails with
//!   [`BackendError::Conflict`].
//! - **A journal.** [`Backend::append_journal`] makes one batch of completed calls durable
//!   against the state at `base_serial`; [`Backend::read_journal`] returns every complete
//!   entry in order, so the next run on any machine replays what a killed run finished.
//! - **A lock naming its holder.** [`Backend::lock`] takes it (waiting up to `wait`), and the
//!   returned [`HeldLock`] keeps it alive (heartbeats where the store needs them) until it is
//!   released or dropped. [`Backend::holder`] names who holds it; [`Backend::force_unlock`]
//!   removes it by id.
//! - **History.** The last [`HISTORY_KEEP`] versions stay readable by serial.

pub mod file;
pub mod postgres;
mod runtime;
pub mod s3;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use super::location::Location;

/// How many past versions of a state every backend keeps.
pub const HISTORY_KEEP: usize = 100;

/// The version of a stored state a conditional write expects: opaque to callers (the serial
/// on PostgreSQL and files, the ETag on S3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version(pub String);

/// A stored state document and its version.
#[derive(Debug, Clone)]
pub struct Stored {
    pub bytes: Vec<u8>,
    pub version: Version,
}

/// A state document to write.
#[derive(Debug, Clone, Copy)]
pub struct Document<'a> {
    /// The new serial (the stored one plus one).
    pub serial: u64,
    pub lineage: &'a str,
    /// The encoded state.
    pub bytes: &'a [u8],
    /// Who writes it and by which operation, for `state history`.
    pub written: &'a Written,
}

/// Who wrote a version, when, and by which operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written {
    /// `user@host`.
    pub who: String,
    /// `apply`, `destroy`, `import`, `state push`, …
    pub operation: String,
    /// RFC 3339.
    pub at: String,
}

impl Written {
    /// Written now by this user and host, by `operation`.
    pub fn now(operation: &str) -> Written {
        Written {
            who: format!("{}@{}", super::lock::user(), super::lock::hostname()),
            operation: operation.to_string(),
            at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }
    }
}

/// One version in a state's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub serial: u64,
    pub written: Written,
}

/// One complete journal entry and where it was read from (a line number, an object key),
/// for error messages.
#[derive(Debug, Clone)]
pub struct JournalEntry {
    pub position: String,
    pub bytes: Vec<u8>,
}

/// A lock held on a state. Dropping it releases it.
pub trait HeldLock: Send + Sync {
    /// Who holds it (this process).
    fn info(&self) -> &super::LockInfo;
    /// What taking it broke or took over (a stale lock of a dead process, an expired lease),
    /// to tell the user.
    fn took_over(&self) -> Option<&super::LockInfo>;
    /// Releases it now (idempotent). Safe to call from another thread than the holder's,
    /// e.g. an interrupt handler about to exit the process.
    fn release(&self);
}

/// Failures of a backend. `location` is always credential-free.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The stored state is not the version the writer read: someone else wrote it.
    #[error("the state at {location} changed since it was read{}: another run wrote it, and nothing was overwritten", found.as_ref().map(|f| format!(" (it is now {f})")).unwrap_or_default())]
    Conflict { location: String, found: Option<String> },
    /// The lock is held by someone else.
    #[error("state {location} is locked by {holder}")]
    Locked {
        location: String,
        holder: Box<super::LockInfo>,
    },
    /// No lock with this id is held.
    #[error("no lock with id {id} is held on the state at {location}")]
    NoSuchLock { location: String, id: String },
    /// The store does not do what a state needs (e.g. it ignores conditional writes).
    #[error("the store at {location} cannot hold fgform state safely: {reason}")]
    Untrustworthy { location: String, reason: String },
    /// Reaching or using the store failed.
    #[error("{action} the state at {location} failed: {message}")]
    Io {
        location: String,
        action: &'static str,
        message: String,
    },
}

/// `fgform state check LOCATION`: reaches the location and, for S3 and OBS, probes that the
/// store enforces conditional writes; returns what it found.
pub fn check(location: &Location) -> Result<String, BackendError> {
    match location {
        Location::File(path) => Ok(format!(
            "`{}`: a local file; its lock and conditional writes hold on this machine only",
            path.display()
        )),
        Location::S3(s3) => {
            let backend = s3::S3Backend::connect(s3)?;
            let report = backend.check()?;
            // The probe passed: later first uses need not run it again.
            backend.ensure_checked()?;
            Ok(report.to_string())
        }
        Location::Postgres(pg) => {
            postgres::PostgresBackend::connect(pg)?;
            Ok(format!(
                "{location}: reachable; the schema's tables are in place, and locks are session advisory locks"
            ))
        }
    }
}

/// A place that holds one state, its journal, its lock and its history.
pub trait Backend: Send + Sync {
    /// Where it is, for messages: a path, or a URL without credentials.
    fn describe(&self) -> String;

    /// The current state document and its version; `None` when there is none yet.
    fn read(&self) -> Result<Option<Stored>, BackendError>;

    /// Stores `document` as the new state if the stored one is still `expected` (`None`: there
    /// must be none yet); returns the new version. Keeps the replaced version in the history
    /// (the last [`HISTORY_KEEP`]) and may drop journal entries older than the new serial.
    fn write(&self, document: &Document<'_>, expected: Option<&Version>) -> Result<Version, BackendError>;

    /// Makes one journal entry, written against the state at `base_serial`, durable.
    /// `sequence` numbers a run's entries against one base serial from 0 (the store writes
    /// the state whole before a run journals onto entries another run left, so one base
    /// serial's entries are one run's): entries are read back in `(base_serial, sequence)`
    /// order even when up to [`Backend::journal_concurrency`] appends ran at once.
    fn append_journal(&self, base_serial: u64, sequence: u64, entry: &[u8]) -> Result<(), BackendError>;

    /// How many [`Backend::append_journal`] calls may run at once: more than one where the
    /// store's round trip, not its throughput, limits an apply (remote stores).
    fn journal_concurrency(&self) -> usize {
        1
    }

    /// Every complete journal entry, in `(base_serial, sequence)` order (a file backend, whose
    /// appends run one at a time, in the order appended; it drops a torn last line).
    fn read_journal(&self) -> Result<Vec<JournalEntry>, BackendError>;

    /// Takes the lock for `info`, waiting up to `wait` while someone else holds it.
    fn lock(&self, info: super::LockInfo, wait: Duration) -> Result<Box<dyn HeldLock>, BackendError>;

    /// Who holds the lock, if anyone.
    fn holder(&self) -> Result<Option<super::LockInfo>, BackendError>;

    /// Removes the lock with this id, whoever holds it; returns its holder.
    fn force_unlock(&self, id: &str) -> Result<super::LockInfo, BackendError>;

    /// The versions kept, oldest first (the current one last).
    fn history(&self) -> Result<Vec<HistoryEntry>, BackendError>;

    /// The document of version `serial`, if it is kept.
    fn read_serial(&self, serial: u64) -> Result<Option<Vec<u8>>, BackendError>;
}
