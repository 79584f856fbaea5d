//! The state writer an apply records through: group commit of completed calls, with a
//! background saver thread that journals each batch and rewrites the state file now and then.

use std::collections::BTreeSet;
use std::sync::Arc;

use parking_lot::Mutex;

use super::{Intent, ResourceState, State, StateError, StateStore};
use crate::model::Address;

/// Records completed calls in the state with group commit: a caller's change is durable
/// before `put`/`remove` returns, but changes that complete together share one write. A
/// background thread appends each batch of changed rows to the state's journal (durably),
/// and rewrites the whole state every `JOURNAL_LINES_PER_SAVE` batches and at the end;
/// loading replays the journal, so a killed apply loses nothing it finished, on any machine
/// that reads the same location.
pub struct Recorder {
    state: Arc<Mutex<State>>,
    store: Arc<StateStore>,
    shared: Arc<SaveShared>,
    saver: Mutex<Option<std::thread::JoinHandle<()>>>,
    saved: tokio::sync::watch::Receiver<Saved>,
}

/// Batches journaled between two whole saves.
const JOURNAL_LINES_PER_SAVE: usize = 256;

#[derive(Debug, Clone, Default)]
struct Saved {
    /// Every change numbered up to this one is on disk.
    upto: u64,
    /// The last write's failure, if it failed.
    error: Option<String>,
}

#[derive(Default)]
struct Pending {
    /// Changes made so far.
    made: u64,
    /// What changed since the last write.
    dirty: Dirty,
    shutdown: bool,
}

/// Rows (addresses) and intents (ids) changed since the last write.
#[derive(Default)]
struct Dirty {
    rows: BTreeSet<String>,
    intents: BTreeSet<String>,
}

#[derive(Default)]
struct SaveShared {
    pending: std::sync::Mutex<Pending>,
    wake: std::sync::Condvar,
}

/// One write of the saver: a journal line for the `dirty` rows and intents, or the whole state.
fn write_batch(state: &Mutex<State>, store: &StateStore, dirty: &Dirty, whole: bool) -> Result<(), StateError> {
    if whole {
        let mut snapshot = state.lock().clone();
        let result = store.save(&mut snapshot);
        state.lock().serial = snapshot.serial;
        return result;
    }
    let rows = {
        let s = state.lock();
        State {
            resources: dirty
                .rows
                .iter()
                .filter_map(|a| s.resources.get(a).map(|r| (a.clone(), r.clone())))
                .collect(),
            pending: dirty
                .intents
                .iter()
                .filter_map(|id| s.pending.get(id).map(|i| (id.clone(), i.clone())))
                .collect(),
            ..State::new(&s.stack, s.stage.as_deref())
        }
        .with_identity(&s.lineage, s.serial)
    };
    store.journal(&rows, &dirty.rows, &dirty.intents)
}

impl Recorder {
    pub fn new(state: State, store: Arc<StateStore>) -> Recorder {
        let state = Arc::new(Mutex::new(state));
        let shared = Arc::new(SaveShared::default());
        let (tx, rx) = tokio::sync::watch::channel(Saved::default());
        let saver = {
            let (state, shared, store) = (state.clone(), shared.clone(), store.clone());
            std::thread::spawn(move || {
                let (mut done, mut lines) = (0u64, 0usize);
                loop {
                    let (upto, dirty) = {
                        let mut pending = shared.pending.lock().expect("saver lock");
                        while pending.made <= done && !pending.shutdown {
                            pending = shared.wake.wait(pending).expect("saver lock");
                        }
                        if pending.made <= done {
                            return; // shut down with nothing left to write
                        }
                        (pending.made, std::mem::take(&mut pending.dirty))
                    };
                    // A journal needs a state to apply to, and is folded in now and then.
                    let whole = lines >= JOURNAL_LINES_PER_SAVE || !store.has_state();
                    let result = write_batch(&state, &store, &dirty, whole);
                    lines = if whole { 0 } else { lines + 1 };
                    done = upto;
                    tx.send_replace(Saved {
                        upto,
                        error: result.err().map(|e| format!("{e:#}")),
                    });
                }
            })
        };
        Recorder {
            state,
            store,
            shared,
            saver: Mutex::new(Some(saver)),
            saved: rx,
        }
    }

    /// Stops the writer and rewrites the state file whole (folding the journal in).
    pub fn finish(&self) -> Result<(), StateError> {
        self.stop();
        let mut snapshot = self.state.lock().clone();
        let result = self.store.save(&mut snapshot);
        self.state.lock().serial = snapshot.serial;
        result
    }

    fn stop(&self) {
        self.shared.pending.lock().expect("saver lock").shutdown = true;
        self.shared.wake.notify_one();
        if let Some(saver) = self.saver.lock().take() {
            let _ = saver.join();
        }
    }

    /// Applies `edit` to the state and waits until it is on disk. `touched` rows and
    /// `intents` are the ones `edit` changed.
    async fn record(
        &self,
        touched: &[String],
        intents: &[String],
        edit: impl FnOnce(&mut State),
    ) -> Result<(), StateError> {
        let number = {
            let mut state = self.state.lock();
            edit(&mut state);
            let mut pending = self.shared.pending.lock().expect("saver lock");
            pending.dirty.rows.extend(touched.iter().cloned());
            pending.dirty.intents.extend(intents.iter().cloned());
            pending.made += 1;
            pending.made
        };
        self.shared.wake.notify_one();
        let mut saved = self.saved.clone();
        let outcome = saved.wait_for(|s| s.upto >= number).await.map(|s| s.clone());
        match outcome {
            Ok(Saved { error: None, .. }) => Ok(()),
            Ok(Saved {
                error: Some(message), ..
            }) => Err(self.write_failed(message)),
            Err(_) => Err(self.write_failed("the state writer stopped".into())),
        }
    }

    fn write_failed(&self, message: String) -> StateError {
        StateError::Backend(Box::new(super::backend::BackendError::Io {
            location: self.store.describe(),
            action: "writing",
            message,
        }))
    }

    /// Records `record` and confirms the intents in `settle` (emptied), in one write.
    pub async fn put(
        &self,
        address: &Address,
        record: ResourceState,
        settle: &mut Vec<String>,
    ) -> Result<(), StateError> {
        let ids = std::mem::take(settle);
        self.record(&[address.to_string()], &ids, |state| {
            state.resources.insert(address.to_string(), record);
            for id in &ids {
                state.pending.remove(id);
            }
        })
        .await
    }

    /// Forgets `addresses` and confirms the intents in `settle` (emptied), in one write.
    pub async fn remove(&self, addresses: &[Address], settle: &mut Vec<String>) -> Result<(), StateError> {
        let touched: Vec<String> = addresses.iter().map(Address::to_string).collect();
        let ids = std::mem::take(settle);
        self.record(&touched, &ids, |state| {
            for a in addresses {
                state.resources.remove(&a.to_string());
            }
            for id in &ids {
                state.pending.remove(id);
            }
        })
        .await
    }

    /// Confirms intents whose calls' results need no record (or failed without effect).
    pub async fn settle(&self, settle: &mut Vec<String>) -> Result<(), StateError> {
        if settle.is_empty() {
            return Ok(());
        }
        self.remove(&[], settle).await
    }

    /// Makes `intent` durable before its call is sent; returns its id.
    pub async fn intend(&self, intent: Intent) -> Result<String, StateError> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        self.record(&[], std::slice::from_ref(&id), |state| {
            state.pending.insert(id.clone(), intent);
        })
        .await?;
        Ok(id)
    }

    /// The state as recorded so far.
    pub fn snapshot(&self) -> State {
        self.state.lock().clone()
    }

    /// The recorded state's lineage.
    pub fn lineage(&self) -> String {
        self.state.lock().lineage.clone()
    }

    pub fn get(&self, address: &Address) -> Option<ResourceState> {
        self.state.lock().resources.get(&address.to_string()).cloned()
    }

    /// Addresses recorded under function `name` (its triggers and async config).
    pub fn children(&self, name: &str) -> Vec<Address> {
        self.state
            .lock()
            .resources
            .keys()
            .filter_map(|k| k.parse::<Address>().ok())
            .filter(|a| a.parent() == Some(Address::Function(name.into())))
            .collect()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop();
    }
}
