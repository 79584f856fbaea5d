//! The store probe: does this store enforce `If-None-Match: *`, atomically? Run on the first
//! use of a bucket and prefix ([`S3Backend::connect_checked`]) and by `fgform state check`
//! ([`S3Backend::check`]).

use std::fmt;

use object_store::path::Path;
use object_store::{ObjectStore as _, PutMode, PutPayload};
use serde::{Deserialize, Serialize};

use super::{refused, unsupported, Credentials, S3Backend};
use crate::state::backend::BackendError;
use crate::state::location::S3Location;

/// How many writers race to create one key.
pub const RACE_WRITERS: usize = 8;

/// What the probe saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeReport {
    /// The bucket and prefix probed (and the endpoint).
    pub store: String,
    /// Of two creates of the same fresh key, how many succeeded (1 is right).
    pub twice_succeeded: usize,
    /// How many writers raced to create another fresh key.
    pub race_writers: usize,
    /// How many of them succeeded (1 is right).
    pub race_winners: usize,
}

impl ProbeReport {
    /// Why the store cannot hold state, if it cannot.
    fn failure(&self) -> Option<String> {
        if self.twice_succeeded != 1 {
            return Some(format!(
                "{} of 2 creates of the same key succeeded: the store ignores If-None-Match, so neither its \
                 lock nor its conditional writes would hold",
                self.twice_succeeded
            ));
        }
        if self.race_winners != 1 {
            return Some(format!(
                "{} of {} racing creates of the same key succeeded: the store does not apply If-None-Match \
                 atomically, so two runs could both take the lock",
                self.race_winners, self.race_writers
            ));
        }
        None
    }
}

impl fmt::Display for ProbeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = match self.failure() {
            None => "enforces conditional writes",
            Some(_) => "does NOT enforce conditional writes",
        };
        write!(
            f,
            "{}: {verdict} ({} of 2 creates of the same key succeeded, {} of {} racing creates won)",
            self.store, self.twice_succeeded, self.race_winners, self.race_writers
        )
    }
}

/// The marker object's body.
#[derive(Serialize)]
struct Marker<'a> {
    fgform_version: &'static str,
    checked_at: String,
    probe: &'a ProbeReport,
}

impl S3Backend {
    /// Probes the store (see the module doc of [`crate::state::backend::s3`]): a store that fails is
    /// [`BackendError::Untrustworthy`]. The probe's objects are deleted afterwards.
    pub fn check(&self) -> Result<ProbeReport, BackendError> {
        let shared = &self.shared;
        let base = format!(".fgform-probe/{}", uuid::Uuid::new_v4());
        let twice_key = shared.prefix_path(&format!("{base}/twice"));
        let race_key = shared.prefix_path(&format!("{base}/race"));
        let (twice, race) = self.run(async {
            let twice = self.creates(&twice_key, 1, false).await;
            let race = self.creates(&race_key, RACE_WRITERS, true).await;
            for key in [&twice_key, &race_key] {
                let _ = shared.store.delete(key).await;
            }
            (twice, race)
        });
        let report = ProbeReport {
            store: shared.describe_store(),
            twice_succeeded: twice?,
            race_writers: RACE_WRITERS,
            race_winners: race?,
        };
        match report.failure() {
            Some(reason) => Err(BackendError::Untrustworthy {
                location: report.store,
                reason,
            }),
            None => Ok(report),
        }
    }

    /// Creates `key` with `If-None-Match: *`: twice in a row (`race` false; `writers` is
    /// ignored), or by `writers` concurrent requests. Returns how many succeeded.
    async fn creates(&self, key: &Path, writers: usize, race: bool) -> Result<usize, BackendError> {
        let store = &self.shared.store;
        let put = |n: usize| async move {
            let payload = PutPayload::from(format!("fgform store probe, writer {n}\n").into_bytes());
            store.put_opts(key, payload, PutMode::Create.into()).await
        };
        let results = if race {
            futures::future::join_all((0..writers).map(put)).await
        } else {
            vec![put(0).await, put(1).await]
        };
        let mut succeeded = 0;
        for result in results {
            match result {
                Ok(_) => succeeded += 1,
                Err(e) if refused(&e) => {}
                Err(e) if unsupported(&e) => {
                    return Err(BackendError::Untrustworthy {
                        location: self.shared.describe_store(),
                        reason: format!("it rejects conditional writes (If-None-Match: *): {e}"),
                    })
                }
                Err(e) => return Err(self.shared.io("probing the store of", e)),
            }
        }
        Ok(succeeded)
    }

    /// Connects (see [`S3Backend::connect`]) and, on the first use of this bucket and prefix,
    /// probes the store; a store that passed gets the marker `<prefix>/.fgform-store-checked`
    /// (fgform's version, the time and the probe's counts) and is not probed again.
    pub fn connect_checked(location: &S3Location) -> Result<S3Backend, BackendError> {
        let backend = S3Backend::connect(location)?;
        backend.ensure_checked()?;
        Ok(backend)
    }

    /// [`S3Backend::connect_checked`] with explicit credentials.
    pub fn connect_checked_with(location: &S3Location, credentials: &Credentials) -> Result<S3Backend, BackendError> {
        let backend = S3Backend::connect_with(location, credentials)?;
        backend.ensure_checked()?;
        Ok(backend)
    }

    /// Probes the store unless its marker says it passed before; returns the report of a probe
    /// run now.
    pub fn ensure_checked(&self) -> Result<Option<ProbeReport>, BackendError> {
        let shared = &self.shared;
        let marker = shared.prefix_path(".fgform-store-checked");
        match self.run(shared.store.head(&marker)) {
            Ok(_) => return Ok(None),
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(shared.io("checking the store of", e)),
        }
        let report = self.check()?;
        let body = Marker {
            fgform_version: env!("CARGO_PKG_VERSION"),
            checked_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            probe: &report,
        };
        let payload = PutPayload::from(serde_json::to_vec_pretty(&body).expect("the marker serializes"));
        self.run(shared.store.put(&marker, payload))
            .map_err(|e| shared.io("recording the store check of", e))?;
        Ok(Some(report))
    }
}
