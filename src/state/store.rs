//! [`StateStore`]: one state at one [`Location`], through its [`Backend`] and [`Codec`]. It
//! reads the state with the journal replayed and remembers the version it read, so every
//! save is a conditional write against exactly that version: a second writer, or a run
//! whose lock was broken, gets a conflict instead of overwriting a newer state.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::Deserialize;

use super::backend::{self, Backend, BackendError, Document, HeldLock, Version, Written};
use super::crypto::{Codec, Meta};
use super::journal::JournalLine;
use super::location::Location;
use super::{LockInfo, State, StateError, FORMAT_VERSION};

/// A state encoded as its next version, to be written ([`StateStore::encode_next`]).
pub struct Encoded {
    pub bytes: Vec<u8>,
    /// The serial it was encoded with (the state's plus one).
    pub serial: u64,
    pub lineage: String,
    pub written: Written,
}

/// One state, where it lives and how it is encoded.
pub struct StateStore {
    backend: Box<dyn Backend>,
    /// The state file, for a file backend.
    file_path: Option<std::path::PathBuf>,
    codec: Codec,
    /// The version last read or written (`None`: there is no state yet).
    version: Mutex<Option<Version>>,
    /// The operation saves are recorded under in the history (set by [`StateStore::lock`]).
    operation: Mutex<String>,
    /// Read a plaintext state although the codec encrypts (only `state migrate` does).
    allow_plaintext: bool,
    /// The last load replayed journal entries another run wrote: the next write must be
    /// whole, so one base serial's journal entries are one run's (see
    /// [`Backend::append_journal`]).
    replayed: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for StateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StateStore({})", self.backend.describe())
    }
}

impl StateStore {
    /// The store of a state file, plaintext.
    pub fn file(path: &Path) -> StateStore {
        StateStore::new(Box::new(backend::file::FileBackend::new(path)), Codec::plaintext()).at_file(path)
    }

    fn at_file(mut self, path: &Path) -> StateStore {
        self.file_path = Some(path.to_path_buf());
        self
    }

    /// A store over `backend`, encoding with `codec`.
    pub fn new(backend: Box<dyn Backend>, codec: Codec) -> StateStore {
        StateStore {
            backend,
            file_path: None,
            codec,
            version: Mutex::new(None),
            operation: Mutex::new("state write".into()),
            allow_plaintext: false,
            replayed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Connects to `location` (remote stores are reached, and an S3 store is probed on first
    /// use).
    pub fn open(location: &Location, codec: Codec) -> Result<StateStore, StateError> {
        let backend: Box<dyn Backend> = match location {
            Location::File(path) => {
                return Ok(StateStore::new(Box::new(backend::file::FileBackend::new(path)), codec).at_file(path))
            }
            Location::S3(s3) => Box::new(backend::s3::S3Backend::connect_checked(s3)?),
            Location::Postgres(pg) => Box::new(backend::postgres::PostgresBackend::connect(pg)?),
        };
        Ok(StateStore::new(backend, codec))
    }

    /// Accepts a plaintext state although the codec encrypts (migrating into encryption).
    pub fn allowing_plaintext(mut self) -> StateStore {
        self.allow_plaintext = true;
        self
    }

    /// Whether it writes encrypted documents.
    pub fn encrypts(&self) -> bool {
        self.codec.encrypts()
    }

    /// Takes over `state` as `other` read it (same location, another codec): later saves here
    /// are conditional on the version `other` read.
    pub fn adopt(&self, other: &StateStore, state: State) -> State {
        *self.version.lock() = other.version.lock().clone();
        state
    }

    /// Where the state is, for messages (no credentials).
    pub fn describe(&self) -> String {
        self.backend.describe()
    }

    /// The state file, when the state is kept in one.
    pub fn location_path(&self) -> Option<&Path> {
        self.file_path.as_deref()
    }

    /// The backend.
    pub fn backend(&self) -> &dyn Backend {
        self.backend.as_ref()
    }

    /// Whether a state has been read or written (a journal needs one to apply to).
    pub fn has_state(&self) -> bool {
        self.version.lock().is_some()
    }

    /// Reads the state with its journal replayed; `Ok(None)` when there is none yet.
    pub fn load(&self) -> Result<Option<State>, StateError> {
        let Some(stored) = self.backend.read()? else {
            *self.version.lock() = None;
            return Ok(None);
        };
        let mut state = self.decode(&stored.bytes)?;
        let entries = self.backend.read_journal()?;
        self.replayed
            .store(!entries.is_empty(), std::sync::atomic::Ordering::SeqCst);
        for entry in entries {
            let damaged = |reason: String| StateError::Journal {
                location: self.describe(),
                position: entry.position.clone(),
                reason,
            };
            let json = self
                .codec
                .decode_entry(&entry.bytes, self.allow_plaintext)
                .map_err(|e| damaged(e.to_string()))?;
            let line: JournalLine =
                serde_json::from_slice(&json).map_err(|e| damaged(format!("not a journal entry ({e})")))?;
            line.apply(&mut state, &self.describe(), &entry.position)?;
        }
        *self.version.lock() = Some(stored.version);
        Ok(Some(state))
    }

    /// Parses a stored document (checking its format version first, without building a
    /// tree of the whole document: a state of 10,000 functions is ~15 MB of JSON).
    pub fn decode(&self, bytes: &[u8]) -> Result<State, StateError> {
        let json = self.codec.decode_state(bytes, self.allow_plaintext)?;
        #[derive(Deserialize)]
        struct Header {
            #[serde(default)]
            format_version: u32,
        }
        let parse = |e: serde_json::Error| StateError::Parse {
            location: self.describe(),
            reason: e.to_string(),
        };
        let found = serde_json::from_slice::<Header>(&json).map_err(parse)?.format_version;
        if found != FORMAT_VERSION {
            return Err(StateError::UnsupportedVersion {
                location: self.describe(),
                found,
                supported: FORMAT_VERSION,
            });
        }
        serde_json::from_slice(&json).map_err(parse)
    }

    /// Encodes `state` as the backend stores it.
    pub fn encode(&self, state: &State) -> Result<Vec<u8>, StateError> {
        let mut json = serde_json::to_vec_pretty(state).expect("state serializes");
        json.push(b'\n');
        let meta = Meta {
            serial: state.serial,
            lineage: &state.lineage,
            stack: &state.stack,
            stage: state.stage.as_deref(),
            written: state.written.as_ref(),
        };
        Ok(self.codec.encode_state(json, &meta)?)
    }

    /// Saves `state` with its serial bumped, if the stored state is still the version this
    /// store last read or wrote; the serial is left as it was when the write fails.
    pub fn save(&self, state: &mut State) -> Result<(), StateError> {
        let encoded = self.encode_next(state)?;
        self.write_encoded(&encoded)?;
        state.serial = encoded.serial;
        Ok(())
    }

    /// `state` encoded as its next version (serial bumped, writer stamped) for
    /// [`StateStore::write_encoded`]: a caller that shares the state encodes it under its
    /// lock and writes without it, rather than writing a copy (as large as the state). The
    /// serial in `state` is left as it is; set it to the `serial` returned once written.
    pub fn encode_next(&self, state: &mut State) -> Result<Encoded, StateError> {
        state.fgform_version = env!("CARGO_PKG_VERSION").to_string();
        state.written = Some(Written::now(&self.operation.lock()));
        state.serial += 1;
        let bytes = self.encode(state);
        state.serial -= 1;
        Ok(Encoded {
            bytes: bytes?,
            serial: state.serial + 1,
            lineage: state.lineage.clone(),
            written: state.written.clone().expect("set above"),
        })
    }

    /// Writes what [`StateStore::encode_next`] made, if the stored state is still the
    /// version this store last read or wrote.
    pub fn write_encoded(&self, encoded: &Encoded) -> Result<(), StateError> {
        let mut version = self.version.lock();
        let document = Document {
            serial: encoded.serial,
            lineage: &encoded.lineage,
            bytes: &encoded.bytes,
            written: &encoded.written,
        };
        let new = self.backend.write(&document, version.as_ref())?;
        *version = Some(new);
        self.replayed.store(false, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    /// Saves `state` as it is over whatever is stored (for `state push --force` and the
    /// file shortcuts): reads the current version first.
    pub fn overwrite(&self, state: &mut State) -> Result<(), StateError> {
        let current = self.backend.read()?.map(|s| s.version);
        *self.version.lock() = current;
        self.save(state)
    }

    /// Whether journaling must wait for a whole write: there is no state yet, or the last
    /// load replayed another run's journal entries.
    pub fn needs_whole_write(&self) -> bool {
        !self.has_state() || self.replayed.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// How many journal appends may run at once (see [`Backend::journal_concurrency`]).
    pub fn journal_concurrency(&self) -> usize {
        self.backend.journal_concurrency().max(1)
    }

    /// The journal entry holding the current value of `addresses` and `intents` in `state`,
    /// against `state.serial`, encoded.
    pub fn journal_entry(
        &self,
        state: &State,
        addresses: &BTreeSet<String>,
        intents: &BTreeSet<String>,
    ) -> Result<Vec<u8>, StateError> {
        let line = JournalLine::of(state, addresses, intents);
        let json = serde_json::to_vec(&line).expect("journal entries serialize");
        Ok(self.codec.encode_entry(&json, &state.lineage, state.serial)?)
    }

    /// Makes an entry [`StateStore::journal_entry`] encoded durable, as number `sequence` of
    /// this run's entries against `base_serial`.
    pub fn append(&self, base_serial: u64, sequence: u64, entry: &[u8]) -> Result<(), StateError> {
        Ok(self.backend.append_journal(base_serial, sequence, entry)?)
    }

    /// Makes the current value of `addresses` and `intents` in `state` durable as one
    /// journal entry against `state.serial` (number `sequence` of this run's).
    pub fn journal(
        &self,
        state: &State,
        addresses: &BTreeSet<String>,
        intents: &BTreeSet<String>,
        sequence: u64,
    ) -> Result<(), StateError> {
        let entry = self.journal_entry(state, addresses, intents)?;
        self.append(state.serial, sequence, &entry)
    }

    /// Takes the state's lock for `operation`, waiting up to `wait`; later saves are
    /// recorded in the history under `operation`.
    pub fn lock(&self, operation: &str, wait: Duration) -> Result<Arc<dyn HeldLock>, StateError> {
        let held = self.backend.lock(LockInfo::new(operation), wait)?;
        *self.operation.lock() = operation.to_string();
        Ok(Arc::from(held))
    }
}

impl From<BackendError> for StateError {
    fn from(e: BackendError) -> Self {
        StateError::Backend(Box::new(e))
    }
}
