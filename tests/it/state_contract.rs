//! The backend contract: one suite of cases every state backend must pass, run against a
//! file, a real PostgreSQL and a real S3 store (SeaweedFS). What the rest of fgform relies on:
//! conditional writes that never overwrite a newer state, a journal read back in order and
//! superseded by a whole write, a history of the last 100 versions, and a lock that names its
//! holder, is exclusive, is released, and can be force-unlocked by id.

use std::time::Duration;

use fgform::state::backend::file::FileBackend;
use fgform::state::backend::postgres::PostgresBackend;
use fgform::state::backend::s3::{Credentials, S3Backend};
use fgform::state::backend::{Backend, BackendError, Document, Version, Written, HISTORY_KEEP};
use fgform::state::location::{Context, Location, S3Location};
use fgform::state::LockInfo;

use crate::servers::seaweedfs::{self, ACCESS_KEY, SECRET_KEY};

/// A fresh, empty state of each kind (its own directory, bucket, or name), kept alive with
/// whatever it needs.
pub enum Fresh {
    /// The directory is removed when the case ends.
    File(#[allow(dead_code)] tempfile::TempDir, FileBackend),
    Postgres(Box<PostgresBackend>),
    S3(S3Backend),
}

impl Fresh {
    fn file() -> Fresh {
        let dir = tempfile::tempdir().unwrap();
        let backend = FileBackend::new(dir.path().join("state/contract.json"));
        Fresh::File(dir, backend)
    }

    fn s3() -> Fresh {
        let location = S3Location {
            scheme: "s3".into(),
            bucket: seaweedfs::bucket("contract"),
            prefix: "states".into(),
            endpoint: Some(seaweedfs::endpoint()),
            region: "us-east-1".into(),
            name: "contract".into(),
        };
        Fresh::S3(S3Backend::connect_with(&location, &Credentials::new(ACCESS_KEY, SECRET_KEY)).unwrap())
    }

    fn postgres() -> Fresh {
        let name = format!("contract-{}", uuid::Uuid::new_v4().simple());
        let context = Context {
            stack: &name,
            stage: None,
            region: None,
            base: std::path::Path::new(""),
            env: Some(&Default::default()),
        };
        let Location::Postgres(location) = Location::parse(&crate::servers::postgres::url(), &context).unwrap() else {
            panic!("the harness URL is not a postgres:// location")
        };
        Fresh::Postgres(Box::new(PostgresBackend::connect(&location).unwrap()))
    }

    fn backend(&self) -> &dyn Backend {
        match self {
            Fresh::File(_, b) => b,
            Fresh::Postgres(b) => b.as_ref(),
            Fresh::S3(b) => b,
        }
    }
}

fn written(serial: u64) -> Written {
    Written {
        who: "ci@runner-7".into(),
        operation: format!("apply #{serial}"),
        at: "2026-12-02T01:00:00Z".into(),
    }
}

/// A state document as the store writes one: JSON with its serial and writer.
fn body(serial: u64) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "format_version": 1, "lineage": "lin-1", "serial": serial, "stack": "contract",
        "written": written(serial), "resources": {}
    }))
    .unwrap()
}

fn write(backend: &dyn Backend, serial: u64, expected: Option<&Version>) -> Result<Version, BackendError> {
    let (bytes, written) = (body(serial), written(serial));
    backend.write(
        &Document {
            serial,
            lineage: "lin-1",
            bytes: &bytes,
            written: &written,
        },
        expected,
    )
}

fn serial_of(bytes: &[u8]) -> u64 {
    serde_json::from_slice::<serde_json::Value>(bytes).unwrap()["serial"]
        .as_u64()
        .unwrap()
}

fn conditional_writes(fresh: Fresh) {
    let b = fresh.backend();
    assert!(b.read().unwrap().is_none(), "a fresh location holds no state");
    let v1 = write(b, 1, None).unwrap();
    let stored = b.read().unwrap().unwrap();
    assert_eq!((serial_of(&stored.bytes), &stored.version), (1, &v1));
    // Creating it again is refused: it exists.
    assert!(matches!(write(b, 1, None), Err(BackendError::Conflict { .. })));
    let v2 = write(b, 2, Some(&v1)).unwrap();
    assert_ne!(v1, v2);
    // A writer still holding the first version (a second runner, a broken lock) overwrites nothing.
    let err = write(b, 3, Some(&v1)).unwrap_err();
    assert!(matches!(err, BackendError::Conflict { .. }), "{err}");
    assert!(err.to_string().contains("nothing was overwritten"), "{err}");
    let stored = b.read().unwrap().unwrap();
    assert_eq!((serial_of(&stored.bytes), stored.version), (2, v2));
}

fn journal_in_order_until_a_whole_write(fresh: Fresh) {
    let b = fresh.backend();
    let v1 = write(b, 1, None).unwrap();
    let entries: Vec<Vec<u8>> = (0..12)
        .map(|i| serde_json::to_vec(&serde_json::json!({"lineage": "lin-1", "base_serial": 1, "n": i})).unwrap())
        .collect();
    let (first, rest) = entries.split_at(4);
    for (sequence, entry) in first.iter().enumerate() {
        b.append_journal(1, sequence as u64, entry).unwrap();
    }
    // Where the backend takes appends at once, they come back in sequence order whatever
    // order they finished in.
    let concurrency = b.journal_concurrency();
    std::thread::scope(|scope| {
        for (chunk_index, chunk) in rest.chunks(concurrency).enumerate() {
            let handles: Vec<_> = chunk
                .iter()
                .enumerate()
                .rev()
                .map(|(i, entry)| {
                    let sequence = (first.len() + chunk_index * concurrency + i) as u64;
                    scope.spawn(move || b.append_journal(1, sequence, entry))
                })
                .collect();
            for handle in handles {
                handle.join().unwrap().unwrap();
            }
        }
    });
    let read: Vec<Vec<u8>> = b.read_journal().unwrap().into_iter().map(|e| e.bytes).collect();
    assert_eq!(read, entries, "entries come back complete and in order");
    write(b, 2, Some(&v1)).unwrap();
    let left: Vec<u64> = b
        .read_journal()
        .unwrap()
        .iter()
        .map(|e| {
            serde_json::from_slice::<serde_json::Value>(&e.bytes).unwrap()["base_serial"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert!(
        left.iter().all(|base| *base >= 2),
        "entries of older serials survived: {left:?}"
    );
}

fn history_keeps_the_last_100(fresh: Fresh) {
    let b = fresh.backend();
    let mut version = None;
    let last = HISTORY_KEEP as u64 + 3;
    for serial in 1..=last {
        version = Some(write(b, serial, version.as_ref()).unwrap());
    }
    let history = b.history().unwrap();
    let serials: Vec<u64> = history.iter().map(|h| h.serial).collect();
    assert_eq!(
        serials,
        (4..=last).collect::<Vec<_>>(),
        "the last {HISTORY_KEEP}, oldest first"
    );
    assert_eq!(history.last().unwrap().written, written(last));
    assert_eq!(history[0].written.operation, "apply #4");
    assert_eq!(serial_of(&b.read_serial(last).unwrap().unwrap()), last);
    assert_eq!(serial_of(&b.read_serial(50).unwrap().unwrap()), 50);
    assert!(b.read_serial(3).unwrap().is_none(), "pruned");
}

fn lock_names_its_holder_and_is_exclusive(fresh: Fresh) {
    let b = fresh.backend();
    let mut first_info = LockInfo::new("apply");
    first_info.ci_url = Some("https://ci.example.com/jobs/7".into());
    let first = b.lock(first_info.clone(), Duration::ZERO).unwrap();
    assert_eq!(first.info().id, first_info.id);
    assert_eq!(b.holder().unwrap().map(|h| h.id), Some(first_info.id.clone()));
    // A second taker fails at once naming the holder, CI job included.
    let Err(BackendError::Locked { holder, .. }) = b.lock(LockInfo::new("destroy"), Duration::ZERO) else {
        panic!("a second lock was granted");
    };
    assert_eq!(
        (holder.id.as_str(), holder.operation.as_str()),
        (first_info.id.as_str(), "apply")
    );
    assert_eq!(holder.ci_url.as_deref(), Some("https://ci.example.com/jobs/7"));
    // Released: the next taker gets it.
    first.release();
    assert!(b.holder().unwrap().is_none(), "a released lock still has a holder");
    let second_info = LockInfo::new("import");
    let second = b.lock(second_info.clone(), Duration::from_secs(5)).unwrap();
    // force-unlock by id: a wrong id is refused, the right one removes it and names it.
    assert!(matches!(
        b.force_unlock("not-the-id"),
        Err(BackendError::NoSuchLock { .. })
    ));
    let removed = b.force_unlock(&second_info.id).unwrap();
    assert_eq!(removed.id, second_info.id);
    assert!(b.holder().unwrap().is_none());
    drop(second);
    // And it can be taken again.
    b.lock(LockInfo::new("apply"), Duration::from_secs(5))
        .unwrap()
        .release();
}

/// Waiting: a taker with a timeout gets the lock once the holder releases it.
fn waiter_gets_a_released_lock(fresh: Fresh) {
    let b = fresh.backend();
    let held = b.lock(LockInfo::new("apply"), Duration::ZERO).unwrap();
    std::thread::scope(|scope| {
        let waiter = scope.spawn(|| b.lock(LockInfo::new("apply"), Duration::from_secs(30)));
        std::thread::sleep(Duration::from_millis(700));
        assert!(!waiter.is_finished(), "the waiter did not wait");
        held.release();
        let got = waiter.join().unwrap().expect("the waiter got the lock");
        assert_eq!(b.holder().unwrap().map(|h| h.id), Some(got.info().id.clone()));
    });
}

macro_rules! contract {
    ($kind:ident, $fresh:expr) => {
        mod $kind {
            use super::*;

            #[test]
            fn conditional_writes_never_overwrite_a_newer_state() {
                conditional_writes($fresh);
            }

            #[test]
            fn the_journal_reads_back_in_order_until_a_whole_write_supersedes_it() {
                journal_in_order_until_a_whole_write($fresh);
            }

            #[test]
            fn the_history_keeps_the_last_100_versions() {
                history_keeps_the_last_100($fresh);
            }

            #[test]
            fn the_lock_names_its_holder_is_exclusive_and_force_unlocks_by_id() {
                lock_names_its_holder_and_is_exclusive($fresh);
            }

            #[test]
            fn a_waiter_gets_the_lock_when_it_is_released() {
                waiter_gets_a_released_lock($fresh);
            }
        }
    };
}

contract!(file, Fresh::file());
contract!(s3, Fresh::s3());
contract!(postgres, Fresh::postgres());
