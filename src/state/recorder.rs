//! The state writer an apply records through: group commit of completed calls, with a
//! background saver thread that journals each batch and rewrites the state file now and then.

use std::collections::BTreeSet;
use std::sync::Arc;

use parking_lot::Mutex;

use super::{Intent, ResourceState, State, StateError, StateStore};
use crate::model::Address;

/// Records completed calls in the state with group commit: changes made together share one
/// write, and writes are confirmed in order, so a waited-for intent is durable only with
/// every result recorded before it (results themselves are not waited for: each call's
/// intent already covers a crash before its result lands). A
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
    /// Journal writes finished so far (each wakes the saver to confirm it).
    completed: u64,
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

/// Writes the state whole (folding the journal in).
/// Encoded under the lock and written without it: steps keep recording meanwhile (only
/// this thread changes the serial), and no copy of the state is made (a copy of 30,000
/// records held ~9 MB of heap at an apply's peak).
fn write_whole(state: &Mutex<State>, store: &StateStore) -> Result<(), StateError> {
    let encoded = store.encode_next(&mut state.lock())?;
    store.write_encoded(&encoded)?;
    state.lock().serial = encoded.serial;
    Ok(())
}

/// The journal entry for the `dirty` rows and intents as they are now, and the serial it is
/// written against. Taken by the saver in batch order, so a later batch holds later values.
fn journal_entry(state: &Mutex<State>, store: &StateStore, dirty: &Dirty) -> Result<(u64, Vec<u8>), StateError> {
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
    let entry = store.journal_entry(&rows, &dirty.rows, &dirty.intents)?;
    Ok((rows.serial, entry))
}

/// Where a journal write's thread puts its result.
type Slot = Arc<Mutex<Option<Result<(), StateError>>>>;

/// What the saver does next.
enum Next {
    /// Write the changes numbered up to this one.
    Batch(u64, Dirty),
    /// A journal write finished: confirm what is confirmed now.
    Finished,
    /// Shut down: everything is written.
    Shutdown,
}

/// The saver thread: takes batches in order, journals each (up to the store's journal
/// concurrency at once, on threads of their own, confirmed strictly in order, so a change is
/// reported durable only when it and every earlier one are) or writes the state whole, and
/// publishes how far changes are durable. After a failed write every later confirmation
/// carries the failure: durability is broken, and the apply must stop.
struct Saver {
    state: Arc<Mutex<State>>,
    store: Arc<StateStore>,
    shared: Arc<SaveShared>,
    tx: tokio::sync::watch::Sender<Saved>,
    /// Journal writes in flight, oldest first: the change number each confirms, and where its
    /// thread puts the result (before it counts itself in `Pending::completed`).
    inflight: std::collections::VecDeque<(u64, Slot)>,
    concurrency: usize,
    /// Batches journaled since the last whole write, numbering this run's entries.
    lines: usize,
    seen_completed: u64,
    failed: Option<String>,
}

impl Saver {
    fn run(mut self) {
        let mut taken = 0u64;
        loop {
            match self.next(taken) {
                Next::Shutdown => return,
                Next::Finished => self.confirm_finished(false),
                Next::Batch(upto, dirty) => {
                    taken = upto;
                    self.dispatch(upto, &dirty);
                }
            }
        }
    }

    fn next(&mut self, taken: u64) -> Next {
        let mut pending = self.shared.pending.lock().expect("saver lock");
        loop {
            if pending.completed > self.seen_completed {
                self.seen_completed = pending.completed;
                return Next::Finished;
            }
            if pending.made > taken && self.inflight.len() < self.concurrency {
                return Next::Batch(pending.made, std::mem::take(&mut pending.dirty));
            }
            if pending.shutdown && pending.made <= taken && self.inflight.is_empty() {
                return Next::Shutdown;
            }
            pending = self.shared.wake.wait(pending).expect("saver lock");
        }
    }

    fn publish(&mut self, upto: u64, result: Result<(), StateError>) {
        if let Err(e) = result {
            self.failed.get_or_insert_with(|| format!("{e:#}"));
        }
        self.tx.send_replace(Saved {
            upto,
            error: self.failed.clone(),
        });
    }

    /// Confirms the finished journal writes at the front; with `all`, waits for every one.
    fn confirm_finished(&mut self, all: bool) {
        loop {
            while let Some(result) = self.inflight.front().and_then(|(_, slot)| slot.lock().take()) {
                let (upto, _) = self.inflight.pop_front().expect("checked");
                self.publish(upto, result);
            }
            if !all || self.inflight.is_empty() {
                return;
            }
            // A write puts its result in its slot before it counts itself under the lock, so
            // checking the slot under the lock cannot miss its wake-up.
            let front = self.inflight.front().map(|(_, slot)| slot.clone()).expect("not empty");
            let pending = self.shared.pending.lock().expect("saver lock");
            let _woken = self
                .shared
                .wake
                .wait_while(pending, |_| front.lock().is_none())
                .expect("saver lock");
        }
    }

    fn dispatch(&mut self, upto: u64, dirty: &Dirty) {
        // A journal needs a state to apply to (and one run's entries per serial), and is
        // folded in now and then.
        if self.lines >= JOURNAL_LINES_PER_SAVE || self.store.needs_whole_write() {
            self.confirm_finished(true);
            let result = write_whole(&self.state, &self.store);
            self.lines = 0;
            return self.publish(upto, result);
        }
        let (base, entry) = match journal_entry(&self.state, &self.store, dirty) {
            Ok(made) => made,
            Err(e) => {
                self.confirm_finished(true);
                return self.publish(upto, Err(e));
            }
        };
        let sequence = self.lines as u64;
        self.lines += 1;
        if self.concurrency == 1 {
            let result = self.store.append(base, sequence, &entry);
            return self.publish(upto, result);
        }
        let (store, shared) = (self.store.clone(), self.shared.clone());
        let slot = Arc::new(Mutex::new(None));
        let done = slot.clone();
        std::thread::spawn(move || {
            let result = store.append(base, sequence, &entry);
            *done.lock() = Some(result);
            shared.pending.lock().expect("saver lock").completed += 1;
            shared.wake.notify_all();
        });
        self.inflight.push_back((upto, slot));
    }
}

impl Recorder {
    pub fn new(state: State, store: Arc<StateStore>) -> Recorder {
        let state = Arc::new(Mutex::new(state));
        let shared = Arc::new(SaveShared::default());
        let (tx, rx) = tokio::sync::watch::channel(Saved::default());
        let saver = Saver {
            state: state.clone(),
            concurrency: store.journal_concurrency(),
            store: store.clone(),
            shared: shared.clone(),
            tx,
            inflight: Default::default(),
            lines: 0,
            seen_completed: 0,
            failed: None,
        };
        Recorder {
            state,
            store,
            shared,
            saver: Mutex::new(Some(std::thread::spawn(move || saver.run()))),
            saved: rx,
        }
    }

    /// Stops the writer and rewrites the state file whole (folding the journal in).
    pub fn finish(&self) -> Result<(), StateError> {
        self.stop();
        write_whole(&self.state, &self.store)
    }

    fn stop(&self) {
        self.shared.pending.lock().expect("saver lock").shutdown = true;
        self.shared.wake.notify_all();
        if let Some(saver) = self.saver.lock().take() {
            let _ = saver.join();
        }
    }

    /// Applies `edit` to the state and queues it for the next write; returns its number.
    /// `touched` rows and `intents` are the ones `edit` changed. Refused once a write has
    /// failed: durability is broken, and nothing more may be sent.
    fn enqueue(
        &self,
        touched: &[String],
        intents: &[String],
        edit: impl FnOnce(&mut State),
    ) -> Result<u64, StateError> {
        if let Some(message) = self.saved.borrow().error.clone() {
            return Err(self.write_failed(message));
        }
        let number = {
            let mut state = self.state.lock();
            edit(&mut state);
            let mut pending = self.shared.pending.lock().expect("saver lock");
            pending.dirty.rows.extend(touched.iter().cloned());
            pending.dirty.intents.extend(intents.iter().cloned());
            pending.made += 1;
            pending.made
        };
        self.shared.wake.notify_all();
        Ok(number)
    }

    /// Waits until change `number` and every earlier one are durable.
    async fn durable(&self, number: u64) -> Result<(), StateError> {
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

    /// Records `record` and confirms the intents in `settle` (emptied), in one write, without
    /// waiting for it: the call behind it already happened, and its intent is durable (a
    /// crash before this write lands is resolved from the intent, as one right after the
    /// call would be). The next [`Recorder::intend`] that waits, and [`Recorder::finish`],
    /// wait for it too, since writes are confirmed in order.
    pub fn put(&self, address: &Address, record: ResourceState, settle: &mut Vec<String>) -> Result<(), StateError> {
        let ids = std::mem::take(settle);
        self.enqueue(&[address.to_string()], &ids, |state| {
            state.resources.insert(address.to_string(), record);
            for id in &ids {
                state.pending.remove(id);
            }
        })
        .map(drop)
    }

    /// Forgets `addresses` and confirms the intents in `settle` (emptied), in one write,
    /// without waiting for it (as [`Recorder::put`]).
    pub fn remove(&self, addresses: &[Address], settle: &mut Vec<String>) -> Result<(), StateError> {
        let touched: Vec<String> = addresses.iter().map(Address::to_string).collect();
        let ids = std::mem::take(settle);
        self.enqueue(&touched, &ids, |state| {
            for a in addresses {
                state.resources.remove(&a.to_string());
            }
            for id in &ids {
                state.pending.remove(id);
            }
        })
        .map(drop)
    }

    /// Confirms intents whose calls' results need no record (or failed without effect).
    pub fn settle(&self, settle: &mut Vec<String>) -> Result<(), StateError> {
        if settle.is_empty() {
            return Ok(());
        }
        self.remove(&[], settle)
    }

    /// Records `intent` before its call is sent; returns its id. With `wait`, returns once
    /// the intent (and everything recorded before it) is durable: a create's intent must be,
    /// so that a crash right after the call is resolved by looking the create up rather
    /// than sending it again. An update's or a delete's needs no lookup (the refresh after
    /// a crash reads what it did), so it is journaled without holding the call back.
    pub async fn intend(&self, intent: Intent, wait: bool) -> Result<String, StateError> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let number = self.enqueue(&[], std::slice::from_ref(&id), |state| {
            state.pending.insert(id.clone(), intent);
        })?;
        if wait {
            self.durable(number).await?;
        }
        Ok(id)
    }

    /// Waits until everything recorded so far is durable (a rollout's step, before it is
    /// waited on for minutes).
    pub async fn flush(&self) -> Result<(), StateError> {
        let number = self.enqueue(&[], &[], |_| {})?;
        self.durable(number).await
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

#[cfg(test)]
mod tests {
    //! The recorder against a store whose journal appends are slow (and may fail): results
    //! never wait for a write, a waited-for intent is durable only with everything recorded
    //! before it, and a failed write stops what comes after.
    use std::time::{Duration, Instant};

    use super::*;
    use crate::state::backend::{
        Backend, BackendError, Document, HeldLock, HistoryEntry, JournalEntry, Stored, Version,
    };
    use crate::state::crypto::Codec;

    /// One journal append: when it started and whether it finished.
    #[derive(Debug, Clone)]
    struct Append {
        started: Instant,
        finished: Option<Instant>,
    }

    /// An in-memory store whose appends take `delay` (the first of concurrent ones the
    /// longest, so they finish out of order) and fail from `fail_from` on.
    struct Slow {
        stored: Mutex<Option<Stored>>,
        appends: Arc<Mutex<Vec<Append>>>,
        delay: Duration,
        concurrency: usize,
        fail_from: Option<usize>,
    }

    fn unsupported(what: &'static str) -> BackendError {
        BackendError::Io {
            location: "memory".into(),
            action: what,
            message: "not used by the recorder".into(),
        }
    }

    impl Backend for Slow {
        fn describe(&self) -> String {
            "memory".into()
        }
        fn read(&self) -> Result<Option<Stored>, BackendError> {
            Ok(self.stored.lock().clone())
        }
        fn write(&self, document: &Document<'_>, _: Option<&Version>) -> Result<Version, BackendError> {
            let version = Version(document.serial.to_string());
            *self.stored.lock() = Some(Stored {
                bytes: document.bytes.to_vec(),
                version: version.clone(),
            });
            Ok(version)
        }
        fn append_journal(&self, _: u64, _: u64, _: &[u8]) -> Result<(), BackendError> {
            let index = {
                let mut appends = self.appends.lock();
                appends.push(Append {
                    started: Instant::now(),
                    finished: None,
                });
                appends.len() - 1
            };
            // Earlier appends take longer: concurrent ones finish out of order.
            std::thread::sleep(self.delay * (1 + (3 - index % 4) as u32) / 2);
            self.appends.lock()[index].finished = Some(Instant::now());
            match self.fail_from {
                Some(n) if index >= n => Err(BackendError::Io {
                    location: "memory".into(),
                    action: "appending to",
                    message: "the disk is full".into(),
                }),
                _ => Ok(()),
            }
        }
        fn journal_concurrency(&self) -> usize {
            self.concurrency
        }
        fn read_journal(&self) -> Result<Vec<JournalEntry>, BackendError> {
            Ok(Vec::new())
        }
        fn lock(&self, _: crate::state::LockInfo, _: Duration) -> Result<Box<dyn HeldLock>, BackendError> {
            Err(unsupported("locking"))
        }
        fn holder(&self) -> Result<Option<crate::state::LockInfo>, BackendError> {
            Ok(None)
        }
        fn force_unlock(&self, _: &str) -> Result<crate::state::LockInfo, BackendError> {
            Err(unsupported("unlocking"))
        }
        fn history(&self) -> Result<Vec<HistoryEntry>, BackendError> {
            Ok(Vec::new())
        }
        fn read_serial(&self, _: u64) -> Result<Option<Vec<u8>>, BackendError> {
            Ok(None)
        }
    }

    /// A recorder over a [`Slow`] store holding an existing state (so appends are used).
    fn recorder(concurrency: usize, fail_from: Option<usize>) -> (Recorder, Arc<Mutex<Vec<Append>>>) {
        let appends = Arc::new(Mutex::new(Vec::new()));
        let backend = Slow {
            stored: Mutex::new(None),
            appends: appends.clone(),
            delay: Duration::from_millis(40),
            concurrency,
            fail_from,
        };
        let store = Arc::new(StateStore::new(Box::new(backend), Codec::plaintext()));
        let mut state = State::new("slow", None);
        store.save(&mut state).unwrap();
        let state = store.load().unwrap().unwrap();
        (Recorder::new(state, store), appends)
    }

    fn function_record(i: usize) -> (Address, ResourceState) {
        let address = Address::Function(format!("f{i}"));
        let record = ResourceState {
            kind: "function".into(),
            id: format!("urn:f{i}"),
            attributes: Default::default(),
            private: Default::default(),
        };
        (address, record)
    }

    fn intent(i: usize) -> Intent {
        Intent {
            address: format!("function.f{i}"),
            call: crate::api::Operation::CreateFunction,
            started: "2026-12-02T00:00:00.000Z".into(),
            lookup: serde_json::json!({"urn": format!("urn:f{i}")}),
            record: None,
        }
    }

    fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn results_do_not_wait_and_a_waited_intent_is_durable_with_everything_before_it() {
        for concurrency in [1, 4] {
            let (recorder, appends) = recorder(concurrency, None);
            let started = Instant::now();
            for i in 0..20 {
                let (address, record) = function_record(i);
                recorder.put(&address, record, &mut Vec::new()).unwrap();
            }
            assert!(
                started.elapsed() < Duration::from_millis(40),
                "puts wait for no write ({:?} for 20)",
                started.elapsed()
            );
            block_on(recorder.intend(intent(99), true)).unwrap();
            let returned = Instant::now();
            let appends = appends.lock().clone();
            assert!(!appends.is_empty());
            for (i, a) in appends.iter().enumerate() {
                if a.started < returned {
                    assert!(
                        a.finished.is_some_and(|f| f <= returned),
                        "concurrency {concurrency}: append {i} started before the intent was reported durable \
                         and had not finished: {appends:?}"
                    );
                }
            }
            recorder.finish().unwrap();
            let saved = recorder.snapshot();
            assert_eq!(saved.resources.len(), 20);
            assert_eq!(saved.pending.len(), 1, "the intent, never settled, is still pending");
        }
    }

    #[test]
    fn an_intent_that_does_not_wait_returns_before_its_write() {
        let (recorder, appends) = recorder(1, None);
        let started = Instant::now();
        block_on(recorder.intend(intent(1), false)).unwrap();
        assert!(started.elapsed() < Duration::from_millis(40), "{:?}", started.elapsed());
        block_on(recorder.intend(intent(2), true)).unwrap();
        assert!(appends.lock().iter().all(|a| a.finished.is_some()));
    }

    #[test]
    fn after_a_failed_write_nothing_more_is_accepted() {
        let (recorder, _) = recorder(1, Some(0));
        let (address, record) = function_record(1);
        recorder.put(&address, record, &mut Vec::new()).unwrap();
        let err = block_on(recorder.intend(intent(2), true)).unwrap_err();
        assert!(err.to_string().contains("the disk is full"), "{err}");
        let (address, record) = function_record(3);
        let err = recorder.put(&address, record, &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("the disk is full"), "{err}");
    }
}
