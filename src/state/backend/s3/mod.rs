//! State in any S3-compatible store, OBS included, through the object_store crate.
//!
//! Objects of one state (`name` = `<stack>[-<stage>]`, under the location's prefix):
//! - `<name>.json`: the current state. Every write is conditional: `If-None-Match: *` for the
//!   first one, `If-Match: <etag read>` after that, so a second writer or a broken lock can
//!   never overwrite a newer state ([`BackendError::Conflict`]).
//! - `<name>.history/<serial:020>.json`: the last [`HISTORY_KEEP`] versions, the current one
//!   included; who wrote each, by which operation and when ride along as object metadata
//!   (`x-amz-meta-fgform-who`, `-operation`, `-at`), so `state history` needs no bodies.
//! - `<name>.journal/<base_serial:020>-<sequence:020>`: one object per journal batch, created
//!   with `If-None-Match: *`; the sequence is the run's batch number, so batches read back
//!   in the order written (even were several written at once). A
//!   state write deletes the batches written against older serials, in bulk.
//! - `<name>.lock`: the lock, a lease (the `lock` submodule has the details): created with `If-None-Match: *`, renewed
//!   by its holder with `If-Match` every 10 s for a 60 s lease, and taken over by a waiter
//!   with `--lock-timeout` only once the lease has expired. `FGFORM_LOCK_LEASE_SECONDS`
//!   overrides the lease (the heartbeat is a sixth of it, at least 1 s), e.g. for tests.
//!
//! **Trust no store blindly.** A store that ignores `If-None-Match`/`If-Match` would make all
//! of the above a false promise (some do: s3rver, older SeaweedFS, Incus). [`S3Backend::check`]
//! probes the store: the same fresh key created twice must be refused once, and of 8 racing
//! creates of another key exactly one must win. [`S3Backend::connect_checked`] runs that probe
//! on the first use of a bucket and prefix and records the result in
//! `<prefix>/.fgform-store-checked`, so later runs skip it; `fgform state check LOCATION`
//! re-runs it any time (delete the marker object to make the next run re-probe too).
//!
//! Credentials come from `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (with `AWS_SESSION_TOKEN`
//! when temporary), else `HUAWEICLOUD_SDK_AK`/`HUAWEICLOUD_SDK_SK`, and are never printed.
//! The store is built from those explicit values only: no AWS profile, web identity or
//! instance-metadata lookup happens behind the user's back.

mod lock;
mod probe;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt as _, TryStreamExt as _};
use object_store::aws::{AmazonS3, AmazonS3Builder, S3ConditionalPut};
use object_store::path::Path;
use object_store::{
    Attribute, Attributes, ClientOptions, GetOptions, ObjectStore, PutMode, PutOptions, PutPayload, RetryConfig,
    UpdateVersion,
};
use percent_encoding::{percent_decode_str, utf8_percent_encode, NON_ALPHANUMERIC};

pub use self::probe::ProbeReport;
use super::runtime::Runtime;
use super::{BackendError, Document, HeldLock, HistoryEntry, JournalEntry, Stored, Version, Written, HISTORY_KEEP};
use crate::state::location::S3Location;
use crate::state::LockInfo;

/// Journal batches written at once. One: overlapping them makes every batch smaller, so an
/// apply makes more PUTs, and the S3 store the state bench runs (SeaweedFS on the same busy
/// machine) answers concurrent PUTs no faster: with eight at once its apply of 1,000
/// functions made 3,622 journal PUTs instead of ~1,400 and took 6.1x the file backend's, with
/// two 4.1x, with one 3.3x. A store far away (real OBS, 20-50 ms a round trip) would gain
/// from overlap; measuring that needs one.
const JOURNAL_CONCURRENCY: usize = 1;

/// The lease of a lock when `FGFORM_LOCK_LEASE_SECONDS` does not say otherwise.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// Keys to an S3-compatible store. `Debug` never shows the secret key or the session token.
#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
}

impl Credentials {
    pub fn new(access_key_id: impl Into<String>, secret_access_key: impl Into<String>) -> Credentials {
        Credentials {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token: None,
        }
    }

    /// With the session token of temporary credentials.
    pub fn with_session_token(mut self, token: impl Into<String>) -> Credentials {
        self.session_token = Some(token.into());
        self
    }

    /// From the process environment (see [`Credentials::from_lookup`]).
    pub fn from_env() -> Result<Credentials, String> {
        Credentials::from_lookup(|name| std::env::var(name).ok())
    }

    /// `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`), else
    /// `HUAWEICLOUD_SDK_AK`/`HUAWEICLOUD_SDK_SK`, looked up with `var`. The error names the
    /// variables, never a value.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Credentials, String> {
        let var = |name: &str| var(name).filter(|v| !v.is_empty());
        let pairs = [
            ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
            ("HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK"),
        ];
        for (id_name, secret_name) in pairs {
            match (var(id_name), var(secret_name)) {
                (Some(id), Some(secret)) => {
                    let credentials = Credentials::new(id, secret);
                    return Ok(match var("AWS_SESSION_TOKEN").filter(|_| id_name.starts_with("AWS")) {
                        Some(token) => credentials.with_session_token(token),
                        None => credentials,
                    });
                }
                (Some(_), None) => return Err(format!("{id_name} is set but {secret_name} is not")),
                (None, Some(_)) => return Err(format!("{secret_name} is set but {id_name} is not")),
                (None, None) => {}
            }
        }
        Err(
            "no credentials for the store: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (plus \
             AWS_SESSION_TOKEN for temporary keys), or HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK"
                .into(),
        )
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"***")
            .field("session_token", &self.session_token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// What the backend and its held locks share.
pub(crate) struct Shared {
    pub(crate) store: AmazonS3,
    pub(crate) rt: Runtime,
    pub(crate) location: S3Location,
    pub(crate) lease: Duration,
    pub(crate) heartbeat: Duration,
}

impl Shared {
    pub(crate) fn describe(&self) -> String {
        self.location.to_string()
    }

    /// The bucket and prefix, for messages about the store itself.
    pub(crate) fn describe_store(&self) -> String {
        let mut text = format!(
            "{}://{}/{}",
            self.location.scheme, self.location.bucket, self.location.prefix
        );
        if let Some(endpoint) = &self.location.endpoint {
            text.push_str(&format!(" (at {endpoint})"));
        }
        text
    }

    pub(crate) fn path(&self, suffix: &str) -> Path {
        Path::from(self.location.key(suffix))
    }

    /// A key beside the states of this prefix (`<prefix>/<name>`).
    pub(crate) fn prefix_path(&self, name: &str) -> Path {
        if self.location.prefix.is_empty() {
            Path::from(name)
        } else {
            Path::from(format!("{}/{name}", self.location.prefix))
        }
    }

    pub(crate) fn io(&self, action: &'static str, error: impl fmt::Display) -> BackendError {
        BackendError::Io {
            location: self.describe(),
            action,
            message: error.to_string(),
        }
    }
}

/// A state in an S3-compatible bucket.
pub struct S3Backend {
    shared: Arc<Shared>,
}

impl fmt::Debug for S3Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "S3Backend({})", self.shared.describe())
    }
}

/// The lease from `FGFORM_LOCK_LEASE_SECONDS`, else [`DEFAULT_LEASE`].
fn lease_from_env() -> Result<Duration, String> {
    lease_from(std::env::var("FGFORM_LOCK_LEASE_SECONDS").ok())
}

/// The lease a `FGFORM_LOCK_LEASE_SECONDS` value asks for.
fn lease_from(value: Option<String>) -> Result<Duration, String> {
    match value {
        None => Ok(DEFAULT_LEASE),
        Some(text) => match text.trim().parse::<u64>() {
            Ok(seconds) if seconds > 0 => Ok(Duration::from_secs(seconds)),
            _ => Err(format!(
                "FGFORM_LOCK_LEASE_SECONDS=`{text}` is not a positive number of seconds"
            )),
        },
    }
}

/// The heartbeat of a lease: a sixth of it, at least a second.
fn heartbeat_of(lease: Duration) -> Duration {
    (lease / 6).max(Duration::from_secs(1))
}

impl S3Backend {
    /// Connects with the credentials of the environment (see [`Credentials::from_lookup`]).
    /// No request is made yet.
    pub fn connect(location: &S3Location) -> Result<S3Backend, BackendError> {
        let credentials = Credentials::from_env().map_err(|message| BackendError::Io {
            location: location.to_string(),
            action: "connecting to",
            message,
        })?;
        S3Backend::connect_with(location, &credentials)
    }

    /// Connects with `credentials`, the lease from `FGFORM_LOCK_LEASE_SECONDS`.
    pub fn connect_with(location: &S3Location, credentials: &Credentials) -> Result<S3Backend, BackendError> {
        let error = |message: String| BackendError::Io {
            location: location.to_string(),
            action: "connecting to",
            message,
        };
        let lease = lease_from_env().map_err(error)?;
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&location.bucket)
            .with_region(&location.region)
            .with_access_key_id(&credentials.access_key_id)
            .with_secret_access_key(&credentials.secret_access_key)
            .with_conditional_put(S3ConditionalPut::ETagMatch)
            .with_retry(RetryConfig {
                max_retries: 3,
                retry_timeout: Duration::from_secs(30),
                ..RetryConfig::default()
            })
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(10))
                    .with_timeout(Duration::from_secs(60)),
            );
        if let Some(token) = &credentials.session_token {
            builder = builder.with_token(token);
        }
        if let Some(endpoint) = &location.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_virtual_hosted_style_request(false)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        let store = builder.build().map_err(|e| error(e.to_string()))?;
        let rt = Runtime::new("fgform-s3").map_err(|e| error(format!("starting its runtime: {e}")))?;
        Ok(S3Backend {
            shared: Arc::new(Shared {
                store,
                rt,
                location: location.clone(),
                lease,
                heartbeat: heartbeat_of(lease),
            }),
        })
    }

    /// The same backend with another lock lease (and its heartbeat, a sixth of it); for tests
    /// and callers that configure it otherwise than by `FGFORM_LOCK_LEASE_SECONDS`.
    pub fn with_lease(self, lease: Duration) -> S3Backend {
        self.with_lease_and_heartbeat(lease, heartbeat_of(lease))
    }

    /// The same backend with this lease and heartbeat (a heartbeat longer than the lease
    /// simulates a holder that stopped renewing, e.g. a paused machine). Panics while a lock
    /// taken through this backend is still held.
    pub fn with_lease_and_heartbeat(self, lease: Duration, heartbeat: Duration) -> S3Backend {
        let shared = Arc::try_unwrap(self.shared).unwrap_or_else(|_| panic!("configure a backend before using it"));
        S3Backend {
            shared: Arc::new(Shared {
                lease,
                heartbeat,
                ..shared
            }),
        }
    }

    /// The lease of the locks this backend takes.
    pub fn lease(&self) -> Duration {
        self.shared.lease
    }

    fn run<F>(&self, fut: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        self.shared.rt.block_on(fut)
    }

    /// The objects under `<name><suffix>/`, sorted by key.
    async fn list(&self, suffix: &str) -> Result<Vec<object_store::ObjectMeta>, BackendError> {
        let prefix = self.shared.path(suffix);
        let mut objects: Vec<_> = self
            .shared
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| self.shared.io("listing", e))?;
        objects.sort_by(|a, b| a.location.cmp(&b.location));
        Ok(objects)
    }

    /// Deletes `paths` with bulk DeleteObjects requests (up to 1,000 keys each), not one
    /// request per object: a state write after a long apply drops a thousand journal objects.
    async fn delete_all(&self, paths: Vec<Path>) -> Result<(), BackendError> {
        let store = &self.shared.store;
        let locations = futures::stream::iter(paths.into_iter().map(Ok)).boxed();
        let results: Vec<_> = store.delete_stream(locations).collect().await;
        for result in results {
            match result {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.shared.io("cleaning up", e)),
            }
        }
        Ok(())
    }

    /// Keeps `document` as history version `serial`, drops versions beyond the last
    /// [`HISTORY_KEEP`] and journal batches older than `serial`.
    async fn after_write(&self, document: &Document<'_>) -> Result<(), BackendError> {
        let written = document.written;
        let mut attributes = Attributes::new();
        for (name, value) in [
            ("fgform-who", &written.who),
            ("fgform-operation", &written.operation),
            ("fgform-at", &written.at),
        ] {
            let value = utf8_percent_encode(value, NON_ALPHANUMERIC).to_string();
            attributes.insert(Attribute::Metadata(name.into()), value.into());
        }
        let options = PutOptions {
            attributes,
            ..PutOptions::default()
        };
        let path = self.shared.path(&history_suffix(document.serial));
        let payload = PutPayload::from(document.bytes.to_vec());
        self.shared
            .store
            .put_opts(&path, payload, options)
            .await
            .map_err(|e| self.shared.io("keeping history of", e))?;
        let history = self.list(".history").await?;
        let excess = history.len().saturating_sub(HISTORY_KEEP);
        let mut stale: Vec<Path> = history.into_iter().take(excess).map(|o| o.location).collect();
        for object in self.list(".journal").await? {
            let base = object.location.filename().and_then(journal_base);
            if base.is_some_and(|base| base < document.serial) {
                stale.push(object.location);
            }
        }
        self.delete_all(stale).await
    }

    async fn history_entry(&self, path: Path) -> Result<Option<HistoryEntry>, BackendError> {
        let Some(serial) = path.filename().and_then(history_serial) else {
            return Ok(None);
        };
        let options = GetOptions {
            head: true,
            ..GetOptions::default()
        };
        let result = match self.shared.store.get_opts(&path, options).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.shared.io("reading the history of", e)),
        };
        let field = |name: &'static str| {
            result
                .attributes
                .get(&Attribute::Metadata(name.into()))
                .map(|v| percent_decode_str(v.as_ref()).decode_utf8_lossy().into_owned())
                .unwrap_or_default()
        };
        Ok(Some(HistoryEntry {
            serial,
            written: Written {
                who: field("fgform-who"),
                operation: field("fgform-operation"),
                at: field("fgform-at"),
            },
        }))
    }
}

fn history_suffix(serial: u64) -> String {
    format!(".history/{serial:020}.json")
}

/// The serial of a history object's file name.
fn history_serial(file: &str) -> Option<u64> {
    file.strip_suffix(".json")?.parse().ok()
}

/// The base serial of a journal object's file name.
fn journal_base(file: &str) -> Option<u64> {
    file.split_once('-')?.0.parse().ok()
}

/// Whether the store rejected a conditional request as something it does not implement
/// (e.g. `501 NotImplemented`, as some S3-compatible stores answer `If-None-Match`).
pub(crate) fn unsupported(error: &object_store::Error) -> bool {
    let text = error.to_string();
    matches!(error, object_store::Error::NotImplemented)
        || text.contains("501 Not Implemented")
        || text.contains("NotImplemented")
}

/// Whether a conditional request was refused because of its condition.
pub(crate) fn refused(error: &object_store::Error) -> bool {
    matches!(
        error,
        object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }
    )
}

impl super::Backend for S3Backend {
    fn describe(&self) -> String {
        self.shared.describe()
    }

    fn read(&self) -> Result<Option<Stored>, BackendError> {
        let path = self.shared.path(".json");
        self.run(async {
            let result = match self.shared.store.get(&path).await {
                Ok(result) => result,
                Err(object_store::Error::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(self.shared.io("reading", e)),
            };
            let etag = result.meta.e_tag.clone();
            let bytes = result.bytes().await.map_err(|e| self.shared.io("reading", e))?;
            let etag = etag.ok_or_else(|| self.shared.io("reading", "the store sent no ETag"))?;
            Ok(Some(Stored {
                bytes: bytes.to_vec(),
                version: Version(etag),
            }))
        })
    }

    fn write(&self, document: &Document<'_>, expected: Option<&Version>) -> Result<Version, BackendError> {
        let path = self.shared.path(".json");
        let mode = match expected {
            None => PutMode::Create,
            Some(Version(etag)) => PutMode::Update(UpdateVersion {
                e_tag: Some(etag.clone()),
                version: None,
            }),
        };
        self.run(async {
            let payload = PutPayload::from(document.bytes.to_vec());
            let result = match self.shared.store.put_opts(&path, payload, mode.into()).await {
                Ok(result) => result,
                Err(e) if refused(&e) => {
                    let found = self.shared.store.head(&path).await.ok().and_then(|m| m.e_tag);
                    return Err(BackendError::Conflict {
                        location: self.shared.describe(),
                        found: Some(found.map_or("gone".to_string(), |etag| format!("ETag {etag}"))),
                    });
                }
                Err(e) => return Err(self.shared.io("writing", e)),
            };
            let etag = result
                .e_tag
                .ok_or_else(|| self.shared.io("writing", "the store sent no ETag"))?;
            self.after_write(document).await?;
            Ok(Version(etag))
        })
    }

    fn journal_concurrency(&self) -> usize {
        JOURNAL_CONCURRENCY
    }

    fn append_journal(&self, base_serial: u64, sequence: u64, entry: &[u8]) -> Result<(), BackendError> {
        let path = self.shared.path(&format!(".journal/{base_serial:020}-{sequence:020}"));
        self.run(async {
            let payload = PutPayload::from(entry.to_vec());
            self.shared
                .store
                .put_opts(&path, payload, PutMode::Create.into())
                .await
                .map_err(|e| self.shared.io("appending to the journal of", e))?;
            Ok(())
        })
    }

    fn read_journal(&self) -> Result<Vec<JournalEntry>, BackendError> {
        self.run(async {
            let mut entries = Vec::new();
            for object in self.list(".journal").await? {
                let bytes = match self.shared.store.get(&object.location).await {
                    Ok(result) => result.bytes().await,
                    Err(object_store::Error::NotFound { .. }) => continue,
                    Err(e) => Err(e),
                }
                .map_err(|e| self.shared.io("reading the journal of", e))?;
                entries.push(JournalEntry {
                    position: object.location.to_string(),
                    bytes: bytes.to_vec(),
                });
            }
            Ok(entries)
        })
    }

    fn lock(&self, info: LockInfo, wait: Duration) -> Result<Box<dyn HeldLock>, BackendError> {
        let held: Box<dyn HeldLock> = Box::new(lock::acquire(&self.shared, info, wait)?);
        Ok(held)
    }

    fn holder(&self) -> Result<Option<LockInfo>, BackendError> {
        lock::holder(&self.shared)
    }

    fn force_unlock(&self, id: &str) -> Result<LockInfo, BackendError> {
        lock::force_unlock(&self.shared, id)
    }

    fn history(&self) -> Result<Vec<HistoryEntry>, BackendError> {
        self.run(async {
            let objects = self.list(".history").await?;
            let entries: Vec<_> = futures::stream::iter(objects)
                .map(|object| self.history_entry(object.location))
                .buffered(8)
                .try_collect()
                .await?;
            Ok(entries.into_iter().flatten().collect())
        })
    }

    fn read_serial(&self, serial: u64) -> Result<Option<Vec<u8>>, BackendError> {
        let path = self.shared.path(&history_suffix(serial));
        self.run(async {
            match self.shared.store.get(&path).await {
                Ok(result) => result
                    .bytes()
                    .await
                    .map(|b| Some(b.to_vec()))
                    .map_err(|e| self.shared.io("reading the history of", e)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(self.shared.io("reading the history of", e)),
            }
        })
    }
}

#[cfg(test)]
mod tests;
