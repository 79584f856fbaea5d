//! The lock of a state in S3: the object `<name>.lock`, a **lease**.
//!
//! - **Taking it** creates the object with `If-None-Match: *` (of racing takers exactly one
//!   wins), holding `{info, lease_seconds, renewed_at, counter}`.
//! - **Holding it**: a heartbeat thread rewrites it every lease/6 (10 s of a 60 s lease) with
//!   `If-Match: <its etag>`, bumping `counter` and `renewed_at`. When such a write is refused
//!   the lock was taken over (the holder looked dead): the holder says so once on stderr and
//!   stops renewing. Its state writes stay conditional, so it overwrites nothing.
//! - **Waiting** (`--lock-timeout`): the waiter polls about once a second. The lease has
//!   **expired** when the waiter has seen the same lock ETag for a full lease by its own
//!   monotonic clock (no clock skew can fool that), or when `renewed_at` is older than two
//!   leases by the waiter's wall clock. Only then the waiter takes it over with
//!   `If-Match: <the etag it saw>`, atomic again: of two waiters one wins. A live lease, being
//!   renewed, is never broken. Without a timeout, an expired lease is reported, not taken.
//! - **Releasing** stops the heartbeat, reads the lock and deletes it if it still holds our
//!   id. object_store has no conditional delete, so between that read and the delete another
//!   waiter could take over an expired lease and lose it to our delete; the window is one
//!   request long and only opens for a holder that let its lease expire.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use object_store::{ObjectStore as _, PutMode, PutPayload, UpdateVersion};
use serde::{Deserialize, Serialize};

use super::{refused, Shared};
use crate::state::backend::{BackendError, HeldLock};
use crate::state::LockInfo;

/// How often a waiter looks at the lock.
const POLL: Duration = Duration::from_secs(1);

/// The lock object's body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LockBody {
    pub info: LockInfo,
    pub lease_seconds: u64,
    /// RFC 3339.
    pub renewed_at: String,
    /// How many times it was renewed.
    pub counter: u64,
}

impl LockBody {
    fn new(info: LockInfo, lease: Duration, counter: u64) -> LockBody {
        LockBody {
            info,
            lease_seconds: lease.as_secs().max(1),
            renewed_at: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            counter,
        }
    }

    fn payload(&self) -> PutPayload {
        PutPayload::from(serde_json::to_vec(self).expect("a lock body serializes"))
    }

    fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_seconds.max(1))
    }

    /// When the lease ends by the holder's last renewal and our wall clock, if readable.
    fn expires_at(&self) -> Option<DateTime<Utc>> {
        let renewed = DateTime::parse_from_rfc3339(&self.renewed_at).ok()?.with_timezone(&Utc);
        Some(renewed + chrono::Duration::seconds(self.lease_seconds as i64))
    }

    /// Whether `renewed_at` is older than two leases by our wall clock.
    fn stale_by_wall_clock(&self) -> bool {
        self.expires_at()
            .is_some_and(|end| end + chrono::Duration::seconds(self.lease_seconds as i64) < Utc::now())
    }
}

/// The lock object and its ETag, `None` when there is none.
async fn read_lock(shared: &Shared) -> Result<Option<(LockBody, String)>, BackendError> {
    let path = shared.path(".lock");
    let result = match shared.store.get(&path).await {
        Ok(result) => result,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(shared.io("reading the lock of", e)),
    };
    let etag = result.meta.e_tag.clone().unwrap_or_default();
    let bytes = result.bytes().await.map_err(|e| shared.io("reading the lock of", e))?;
    let body = serde_json::from_slice(&bytes).map_err(|e| {
        shared.io(
            "reading the lock of",
            format!("{path} is not an fgform lock ({e}); delete that object if no run holds the state"),
        )
    })?;
    Ok(Some((body, etag)))
}

/// Who holds the lock, if anyone.
pub(crate) fn holder(shared: &Shared) -> Result<Option<LockInfo>, BackendError> {
    shared
        .rt
        .block_on(async { Ok(read_lock(shared).await?.map(|(body, _)| body.info)) })
}

/// Deletes the lock if it holds `id`; returns its holder.
pub(crate) fn force_unlock(shared: &Shared, id: &str) -> Result<LockInfo, BackendError> {
    shared.rt.block_on(async {
        match read_lock(shared).await? {
            Some((body, _)) if body.info.id == id => {
                delete_lock(shared).await?;
                Ok(body.info)
            }
            _ => Err(BackendError::NoSuchLock {
                location: shared.describe(),
                id: id.to_string(),
            }),
        }
    })
}

async fn delete_lock(shared: &Shared) -> Result<(), BackendError> {
    match shared.store.delete(&shared.path(".lock")).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(shared.io("unlocking", e)),
    }
}

/// What one attempt at taking the lock found.
enum Attempt {
    /// Taken, with this ETag; `Some` holder when an expired lease was taken over.
    Taken(String, Option<LockInfo>),
    /// Held by someone else.
    Held(LockBody),
}

/// One try: create the lock; when it exists, read it, and take it over if `expired` says its
/// lease (observed with that ETag) has expired.
async fn attempt(
    shared: &Shared,
    info: &LockInfo,
    expired: &mut (dyn FnMut(&LockBody, &str) -> bool + Send),
) -> Result<Attempt, BackendError> {
    let path = shared.path(".lock");
    loop {
        let body = LockBody::new(info.clone(), shared.lease, 0);
        match shared
            .store
            .put_opts(&path, body.payload(), PutMode::Create.into())
            .await
        {
            Ok(result) => return Ok(Attempt::Taken(result.e_tag.unwrap_or_default(), None)),
            Err(e) if refused(&e) => {}
            Err(e) => return Err(shared.io("locking", e)),
        }
        let Some((held, etag)) = read_lock(shared).await? else {
            continue; // released meanwhile: create again
        };
        if !expired(&held, &etag) {
            return Ok(Attempt::Held(held));
        }
        let update = PutMode::Update(UpdateVersion {
            e_tag: Some(etag.clone()),
            version: None,
        });
        match shared.store.put_opts(&path, body.payload(), update.into()).await {
            Ok(result) => return Ok(Attempt::Taken(result.e_tag.unwrap_or_default(), Some(held.info))),
            // Another waiter took it over (or its holder renewed it) first.
            Err(e) if refused(&e) => return Ok(Attempt::Held(held)),
            Err(e) => return Err(shared.io("taking over the lock of", e)),
        }
    }
}

/// Takes the lock for `info`, waiting up to `wait` (see the module doc).
pub(crate) fn acquire(shared: &Arc<Shared>, info: LockInfo, wait: Duration) -> Result<S3Lock, BackendError> {
    let deadline = Instant::now() + wait;
    // The ETag seen and since when, by our monotonic clock.
    let mut seen: Option<(String, Instant)> = None;
    let mut expired = |body: &LockBody, etag: &str| {
        if wait.is_zero() {
            return false;
        }
        let since = match &seen {
            Some((seen_etag, since)) if seen_etag == etag => *since,
            _ => {
                seen = Some((etag.to_string(), Instant::now()));
                Instant::now()
            }
        };
        since.elapsed() >= body.lease() || body.stale_by_wall_clock()
    };
    loop {
        match shared.rt.block_on(attempt(shared, &info, &mut expired))? {
            Attempt::Taken(etag, took_over) => {
                if let Some(old) = &took_over {
                    eprintln!(
                        "fgform: took over the expired lock lease of {old} on {}",
                        shared.describe()
                    );
                }
                return Ok(S3Lock::start(shared.clone(), info, etag, took_over));
            }
            Attempt::Held(body) => {
                let now = Instant::now();
                if now >= deadline {
                    return Err(locked(shared, body));
                }
                std::thread::sleep(POLL.min(deadline - now));
            }
        }
    }
}

/// The error for a lock held by `body`'s holder, saying so when its lease looks expired.
fn locked(shared: &Shared, body: LockBody) -> BackendError {
    let mut location = shared.describe();
    if body.stale_by_wall_clock() {
        if let Some(end) = body.expires_at() {
            location.push_str(&format!(
                " (its lock's lease expired at {}: rerun with --lock-timeout to take it over, or fgform \
                 force-unlock {})",
                end.to_rfc3339_opts(SecondsFormat::Secs, true),
                body.info.id
            ));
        }
    }
    BackendError::Locked {
        location,
        holder: Box::new(body.info),
    }
}

/// A held S3 lock: its heartbeat thread renews the lease until it is released or dropped.
pub(crate) struct S3Lock {
    shared: Arc<Shared>,
    info: LockInfo,
    took_over: Option<LockInfo>,
    released: AtomicBool,
    stop: Mutex<Option<Sender<()>>>,
    heartbeat: Mutex<Option<JoinHandle<()>>>,
}

impl S3Lock {
    fn start(shared: Arc<Shared>, info: LockInfo, etag: String, took_over: Option<LockInfo>) -> S3Lock {
        let (stop, stopped) = mpsc::channel::<()>();
        let beat_shared = shared.clone();
        let beat_info = info.clone();
        let heartbeat = std::thread::Builder::new()
            .name("fgform-lock-heartbeat".into())
            .spawn(move || heartbeat(&beat_shared, beat_info, etag, &stopped))
            .ok();
        if heartbeat.is_none() {
            eprintln!("fgform: warning: could not start the lock heartbeat: the lease will not be renewed");
        }
        S3Lock {
            shared,
            info,
            took_over,
            released: AtomicBool::new(false),
            stop: Mutex::new(Some(stop)),
            heartbeat: Mutex::new(heartbeat),
        }
    }
}

/// Renews the lease every heartbeat until told to stop or until a renewal is refused.
fn heartbeat(shared: &Shared, info: LockInfo, mut etag: String, stopped: &mpsc::Receiver<()>) {
    let path = shared.path(".lock");
    let mut counter = 0;
    let mut warned = false;
    loop {
        match stopped.recv_timeout(shared.heartbeat) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        counter += 1;
        let body = LockBody::new(info.clone(), shared.lease, counter);
        let update = PutMode::Update(UpdateVersion {
            e_tag: Some(etag.clone()),
            version: None,
        });
        match shared
            .rt
            .block_on(shared.store.put_opts(&path, body.payload(), update.into()))
        {
            Ok(result) => {
                etag = result.e_tag.unwrap_or_default();
                warned = false;
            }
            Err(e) if refused(&e) => {
                eprintln!(
                    "fgform: warning: the lock on {} was taken over by another run (this run's lease had \
                     expired); no longer renewing it. State writes stay conditional, so nothing newer is \
                     overwritten.",
                    shared.describe()
                );
                return;
            }
            Err(e) if !warned => {
                eprintln!(
                    "fgform: warning: renewing the lock lease on {} failed ({e}); retrying",
                    shared.describe()
                );
                warned = true;
            }
            Err(_) => {}
        }
    }
}

impl HeldLock for S3Lock {
    fn info(&self) -> &LockInfo {
        &self.info
    }

    fn took_over(&self) -> Option<&LockInfo> {
        self.took_over.as_ref()
    }

    fn release(&self) {
        if self.released.swap(true, Ordering::SeqCst) {
            return;
        }
        drop(self.stop.lock().unwrap_or_else(|e| e.into_inner()).take());
        if let Some(handle) = self.heartbeat.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = handle.join();
        }
        let shared = &self.shared;
        let result = shared.rt.block_on(async {
            match read_lock(shared).await? {
                Some((body, _)) if body.info.id == self.info.id => delete_lock(shared).await,
                _ => Ok(()),
            }
        });
        if let Err(e) = result {
            eprintln!(
                "fgform: warning: releasing the lock failed: {e}; `fgform force-unlock {}` removes it",
                self.info.id
            );
        }
    }
}

impl Drop for S3Lock {
    fn drop(&mut self) {
        self.release();
    }
}
