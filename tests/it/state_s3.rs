//! The S3 state backend through the `Backend` trait, against a real SeaweedFS (which enforces
//! conditional writes) and s3rver (which ignores them, so the store probe must refuse it).

use std::sync::Arc;
use std::time::{Duration, Instant};

use fgform::state::backend::s3::{Credentials, S3Backend};
use fgform::state::backend::{Backend, BackendError, Document, Version, Written, HISTORY_KEEP};
use fgform::state::location::S3Location;
use fgform::state::LockInfo;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::ObjectStore as _;

use crate::servers::seaweedfs::{self, ACCESS_KEY, IGNORING_BUCKET, SECRET_KEY};

const PREFIX: &str = "states/team";

fn location(endpoint: &str, bucket: &str) -> S3Location {
    S3Location {
        scheme: "s3".into(),
        bucket: bucket.into(),
        prefix: PREFIX.into(),
        endpoint: Some(endpoint.into()),
        region: "us-east-1".into(),
        name: "shop-prod".into(),
    }
}

fn credentials() -> Credentials {
    Credentials::new(ACCESS_KEY, SECRET_KEY)
}

fn connect(bucket: &str) -> S3Backend {
    S3Backend::connect_with(&location(&seaweedfs::endpoint(), bucket), &credentials()).unwrap()
}

/// A raw client of the same bucket, to look at and plant objects behind the backend's back.
fn raw(bucket: &str) -> AmazonS3 {
    AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_region("us-east-1")
        .with_endpoint(seaweedfs::endpoint())
        .with_allow_http(true)
        .with_virtual_hosted_style_request(false)
        .with_access_key_id(ACCESS_KEY)
        .with_secret_access_key(SECRET_KEY)
        .build()
        .unwrap()
}

fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(fut)
}

fn written(operation: &str) -> Written {
    Written {
        who: "ci@runner-7".into(),
        operation: operation.into(),
        at: "2026-12-02T01:00:00Z".into(),
    }
}

fn write(backend: &S3Backend, serial: u64, expected: Option<&Version>) -> Result<Version, BackendError> {
    let written = written(&format!("apply {serial}"));
    let body = format!("{{\"serial\":{serial}}}");
    backend.write(
        &Document {
            serial,
            lineage: "lin-1",
            bytes: body.as_bytes(),
            written: &written,
        },
        expected,
    )
}

fn body(backend: &S3Backend) -> String {
    String::from_utf8(backend.read().unwrap().expect("a state").bytes).unwrap()
}

#[test]
fn states_are_created_once_and_then_written_only_over_the_version_read() {
    let backend = connect(&seaweedfs::bucket("cas"));
    assert!(backend.read().unwrap().is_none());
    let v1 = write(&backend, 1, None).unwrap();
    let stored = backend.read().unwrap().unwrap();
    assert_eq!(
        (stored.bytes.as_slice(), &stored.version),
        (&b"{\"serial\":1}"[..], &v1)
    );
    // A second first write is refused: someone created it already.
    assert!(matches!(write(&backend, 1, None), Err(BackendError::Conflict { .. })));
    let v2 = write(&backend, 2, Some(&v1)).unwrap();
    assert_ne!(v1, v2);
    // A writer still holding v1 (a broken lock, a second runner) overwrites nothing.
    let err = write(&backend, 3, Some(&v1)).unwrap_err();
    assert!(matches!(err, BackendError::Conflict { .. }), "{err}");
    assert!(err.to_string().contains("s3://"), "{err}");
    assert_eq!(body(&backend), "{\"serial\":2}");
    assert_eq!(backend.read().unwrap().unwrap().version, v2);
}

#[test]
fn journal_batches_read_back_in_order_and_a_newer_state_drops_older_ones() {
    let backend = connect(&seaweedfs::bucket("journal"));
    let v1 = write(&backend, 1, None).unwrap();
    for (sequence, entry) in ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"]
        .into_iter()
        .enumerate()
    {
        backend.append_journal(1, sequence as u64, entry.as_bytes()).unwrap();
    }
    let entries = backend.read_journal().unwrap();
    let texts: Vec<_> = entries.iter().map(|e| String::from_utf8_lossy(&e.bytes)).collect();
    assert_eq!(texts, ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"]);
    assert!(
        entries[0].position.contains("shop-prod.journal/"),
        "{}",
        entries[0].position
    );
    // A batch against the state about to be written survives that write.
    backend.append_journal(2, 0, b"next").unwrap();
    write(&backend, 2, Some(&v1)).unwrap();
    let left: Vec<_> = backend.read_journal().unwrap().into_iter().map(|e| e.bytes).collect();
    assert_eq!(left, [b"next".to_vec()]);
}

#[test]
fn history_keeps_the_last_hundred_versions_with_who_wrote_them() {
    let backend = connect(&seaweedfs::bucket("history"));
    let total = HISTORY_KEEP as u64 + 3;
    let mut version = None;
    for serial in 1..=total {
        version = Some(write(&backend, serial, version.as_ref()).unwrap());
    }
    let history = backend.history().unwrap();
    let serials: Vec<u64> = history.iter().map(|h| h.serial).collect();
    assert_eq!(serials, (4..=total).collect::<Vec<_>>());
    assert_eq!(history.last().unwrap().written, written(&format!("apply {total}")));
    assert_eq!(backend.read_serial(50).unwrap().unwrap(), b"{\"serial\":50}");
    assert_eq!(backend.read_serial(total).unwrap().unwrap(), body(&backend).as_bytes());
    assert_eq!(backend.read_serial(3).unwrap(), None);
}

#[test]
fn the_probe_passes_on_seaweedfs_and_the_first_use_marker_is_written_once() {
    let bucket = seaweedfs::bucket("probe");
    let backend = connect(&bucket);
    let report = backend.check().unwrap();
    assert_eq!(
        (report.twice_succeeded, report.race_winners, report.race_writers),
        (1, 1, 8)
    );
    assert!(report.to_string().contains("enforces conditional writes"), "{report}");
    let store = raw(&bucket);
    let probe_left: Vec<_> = block_on(async {
        use futures::TryStreamExt as _;
        store.list(Some(&Path::from(PREFIX))).try_collect::<Vec<_>>().await
    })
    .unwrap();
    assert!(probe_left.is_empty(), "the probe left {probe_left:?}");

    let marker = Path::from(format!("{PREFIX}/.fgform-store-checked"));
    assert!(block_on(store.head(&marker)).is_err(), "no marker before first use");
    S3Backend::connect_checked_with(&location(&seaweedfs::endpoint(), &bucket), &credentials()).unwrap();
    let first = block_on(store.head(&marker)).expect("the marker after first use");
    let text = block_on(async { store.get(&marker).await.unwrap().bytes().await.unwrap() });
    let json: serde_json::Value = serde_json::from_slice(&text).unwrap();
    assert_eq!(json["probe"]["race_winners"], 1, "{json}");
    assert_eq!(json["fgform_version"], env!("CARGO_PKG_VERSION"));
    // Later uses skip the probe and leave the marker alone.
    let again = connect(&bucket);
    assert_eq!(again.ensure_checked().unwrap(), None);
    assert_eq!(block_on(store.head(&marker)).unwrap().e_tag, first.e_tag);
}

#[test]
fn the_probe_refuses_a_store_that_ignores_conditional_writes() {
    let endpoint = seaweedfs::ignoring_endpoint();
    let location = location(&endpoint, IGNORING_BUCKET);
    let backend = S3Backend::connect_with(&location, &credentials()).unwrap();
    let err = backend.check().unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, BackendError::Untrustworthy { .. }), "{text}");
    assert!(text.contains(&endpoint) && text.contains(IGNORING_BUCKET), "{text}");
    assert!(text.contains("2 of 2 creates of the same key succeeded"), "{text}");
    let err = S3Backend::connect_checked_with(&location, &credentials()).unwrap_err();
    assert!(matches!(err, BackendError::Untrustworthy { .. }), "{err}");
    assert!(!format!("{err} {err:?}").contains(SECRET_KEY));
}

#[test]
fn a_held_lock_names_its_holder_and_a_waiter_gets_it_after_release() {
    let backend = Arc::new(connect(&seaweedfs::bucket("lock")));
    let first = backend.lock(LockInfo::new("apply"), Duration::ZERO).unwrap();
    assert_eq!(first.took_over(), None);
    assert_eq!(backend.holder().unwrap().as_ref(), Some(first.info()));
    let err = backend
        .lock(LockInfo::new("destroy"), Duration::ZERO)
        .err()
        .expect("the lock is held");
    match &err {
        BackendError::Locked { holder, .. } => assert_eq!(holder.id, first.info().id),
        other => panic!("not Locked: {other}"),
    }
    assert!(err.to_string().contains(&first.info().id), "{err}");
    assert!(!err.to_string().contains("expired"), "{err}");

    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        first.release();
        first
    });
    let started = Instant::now();
    let second = backend.lock(LockInfo::new("destroy"), Duration::from_secs(20)).unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1), "it waited for the release");
    assert_eq!(second.took_over(), None);
    let first = releaser.join().unwrap();
    drop(first); // releasing twice removes nothing
    assert_eq!(backend.holder().unwrap().as_ref(), Some(second.info()));
    drop(second);
    assert_eq!(backend.holder().unwrap(), None);
}

#[test]
fn a_lease_whose_holder_stopped_renewing_is_taken_over_and_the_old_holder_removes_nothing() {
    let bucket = seaweedfs::bucket("expired");
    // A holder whose heartbeat comes far too late for its 2 s lease (a paused machine).
    let frozen = connect(&bucket).with_lease_and_heartbeat(Duration::from_secs(2), Duration::from_secs(9));
    let old = frozen.lock(LockInfo::new("apply"), Duration::ZERO).unwrap();
    let taken_at = Instant::now();
    let waiter = connect(&bucket).with_lease(Duration::from_secs(2));
    let new = waiter.lock(LockInfo::new("apply"), Duration::from_secs(30)).unwrap();
    assert_eq!(new.took_over(), Some(old.info()));
    assert!(taken_at.elapsed() >= Duration::from_secs(2), "not before a full lease");
    assert_eq!(waiter.holder().unwrap().as_ref(), Some(new.info()));
    // The old holder's late heartbeat is refused, and its release leaves the new lock alone.
    std::thread::sleep(Duration::from_secs(12).saturating_sub(taken_at.elapsed()));
    assert_eq!(waiter.holder().unwrap().as_ref(), Some(new.info()));
    old.release();
    assert_eq!(waiter.holder().unwrap().as_ref(), Some(new.info()));
    new.release();
    assert_eq!(waiter.holder().unwrap(), None);
}

/// Plants a lock object last renewed an hour ago, as a runner killed long ago leaves it.
fn plant_stale_lock(bucket: &str) -> LockInfo {
    let mut info = LockInfo::new("apply");
    info.host = "dead-runner".into();
    let body = serde_json::json!({
        "info": info,
        "lease_seconds": 60,
        "renewed_at": (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339(),
        "counter": 41,
    });
    let path = Path::from(format!("{PREFIX}/shop-prod.lock"));
    block_on(raw(bucket).put(&path, serde_json::to_vec(&body).unwrap().into())).unwrap();
    info
}

#[test]
fn an_expired_lease_is_reported_without_a_timeout_and_taken_over_with_one() {
    let bucket = seaweedfs::bucket("stale");
    let dead = plant_stale_lock(&bucket);
    let backend = connect(&bucket);
    let err = backend
        .lock(LockInfo::new("apply"), Duration::ZERO)
        .err()
        .expect("the lock is held");
    let text = err.to_string();
    assert!(
        matches!(&err, BackendError::Locked { holder, .. } if holder.id == dead.id),
        "{text}"
    );
    assert!(
        text.contains("lease expired") && text.contains("--lock-timeout"),
        "{text}"
    );
    let started = Instant::now();
    let lock = backend.lock(LockInfo::new("apply"), Duration::from_secs(10)).unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "an hour-old renewal is expired at once"
    );
    assert_eq!(lock.took_over(), Some(&dead));
}

#[test]
fn two_waiters_racing_for_one_expired_lease_make_one_winner() {
    let bucket = seaweedfs::bucket("race");
    plant_stale_lock(&bucket);
    let results: Vec<_> = std::thread::scope(|scope| {
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let backend = connect(&bucket);
                // Held until both are done, so the winner's release cannot hand it on.
                scope.spawn(move || backend.lock(LockInfo::new("apply"), Duration::from_secs(4)))
            })
            .collect();
        waiters.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    let losers: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!((winners.len(), losers.len()), (1, 1), "{losers:?}");
    assert!(winners[0].took_over().is_some_and(|old| old.host == "dead-runner"));
    let winner = winners[0].info();
    assert!(
        matches!(losers[0], BackendError::Locked { holder, .. } if holder.id == winner.id),
        "{}",
        losers[0]
    );
}

#[test]
fn a_live_lease_is_never_taken_over() {
    let bucket = seaweedfs::bucket("live");
    let holder = connect(&bucket).with_lease(Duration::from_secs(2));
    let held = holder.lock(LockInfo::new("apply"), Duration::ZERO).unwrap();
    let waiter = connect(&bucket).with_lease(Duration::from_secs(2));
    let started = Instant::now();
    let err = waiter
        .lock(LockInfo::new("apply"), Duration::from_secs(6))
        .err()
        .expect("the lock is held");
    assert!(started.elapsed() >= Duration::from_secs(6));
    assert!(
        matches!(&err, BackendError::Locked { holder, .. } if holder.id == held.info().id),
        "{err}"
    );
    assert_eq!(waiter.holder().unwrap().as_ref(), Some(held.info()));
}

#[test]
fn force_unlock_removes_only_the_named_lock() {
    let backend = connect(&seaweedfs::bucket("force"));
    let held = backend.lock(LockInfo::new("apply"), Duration::ZERO).unwrap();
    let err = backend.force_unlock("not-the-id").unwrap_err();
    assert!(matches!(err, BackendError::NoSuchLock { .. }), "{err}");
    assert_eq!(backend.holder().unwrap().as_ref(), Some(held.info()));
    assert_eq!(&backend.force_unlock(&held.info().id).unwrap(), held.info());
    assert_eq!(backend.holder().unwrap(), None);
    let again = backend.lock(LockInfo::new("apply"), Duration::ZERO).unwrap();
    held.release(); // the forced-out holder's release leaves the new lock alone
    assert_eq!(backend.holder().unwrap().as_ref(), Some(again.info()));
}

#[test]
fn no_error_or_debug_output_shows_the_secret_key() {
    let bucket = seaweedfs::bucket("secret");
    let backend = connect(&bucket);
    let v1 = write(&backend, 1, None).unwrap();
    write(&backend, 2, Some(&v1)).unwrap();
    let held = backend.lock(LockInfo::new("apply"), Duration::ZERO).unwrap();
    let missing = connect("no-such-bucket-for-fgform");
    let unreachable = S3Backend::connect_with(&location("http://127.0.0.1:9", &bucket), &credentials()).unwrap();
    let errors = [
        write(&backend, 3, Some(&v1)).unwrap_err(),
        backend
            .lock(LockInfo::new("apply"), Duration::ZERO)
            .err()
            .expect("the lock is held"),
        backend.force_unlock("nope").unwrap_err(),
        missing
            .write(
                &Document {
                    serial: 1,
                    lineage: "l",
                    bytes: b"{}",
                    written: &written("apply"),
                },
                None,
            )
            .unwrap_err(),
        unreachable.read().unwrap_err(),
    ];
    for err in &errors {
        let text = format!("{err} {err:?}");
        assert!(!text.contains(SECRET_KEY), "{text}");
    }
    assert!(matches!(errors[4], BackendError::Io { .. }), "{}", errors[4]);
    let text = format!("{backend:?} {:?} {:?}", credentials(), held.info());
    assert!(!text.contains(SECRET_KEY), "{text}");
    let none = Credentials::from_lookup(|_| None).unwrap_err();
    assert!(none.contains("AWS_ACCESS_KEY_ID"), "{none}");
}

#[test]
fn the_backend_works_when_called_from_inside_another_runtime() {
    let backend = connect(&seaweedfs::bucket("nested"));
    let outer = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    outer.block_on(async {
        let v1 = write(&backend, 1, None).unwrap();
        assert_eq!(backend.read().unwrap().unwrap().version, v1);
        let held = backend.lock(LockInfo::new("apply"), Duration::ZERO).unwrap();
        drop(held);
        assert_eq!(backend.holder().unwrap(), None);
    });
    // Dropped inside a runtime too, without a panic.
    outer.block_on(async move { drop(backend) });
}
