//! The PostgreSQL state backend against a real server (the throwaway cluster of
//! `servers::postgres`), through the `Backend` trait. Each test uses states of its own
//! (unique names, a unique schema where the schema itself is under test).

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _};
use std::path::Path;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use fgform::state::backend::postgres::PostgresBackend;
use fgform::state::backend::{Backend, BackendError, Document, Version, Written};
use fgform::state::location::{Context, Location, PostgresLocation};
use fgform::state::LockInfo;
use sha2::Digest as _;
use tokio_postgres::types::ToSql;

use crate::servers::postgres;

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

fn location_of(url: &str, stack: &str, env: &[(&str, &str)]) -> PostgresLocation {
    let env: BTreeMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let context = Context {
        stack,
        stage: None,
        region: None,
        base: Path::new("."),
        env: Some(&env),
    };
    match Location::parse(url, &context).unwrap() {
        Location::Postgres(pg) => pg,
        other => panic!("not a PostgreSQL location: {other}"),
    }
}

fn location(stack: &str) -> PostgresLocation {
    location_of(&postgres::url(), stack, &[])
}

fn backend(stack: &str) -> PostgresBackend {
    PostgresBackend::connect(&location(stack)).unwrap()
}

fn written(operation: &str) -> Written {
    Written {
        who: "ci@runner-1".into(),
        operation: operation.into(),
        at: "2026-12-02T01:00:00Z".into(),
    }
}

fn write(backend: &dyn Backend, serial: u64, body: &[u8], expected: Option<&Version>) -> Result<Version, BackendError> {
    let written = written("apply");
    let document = Document {
        serial,
        lineage: "lineage-1",
        bytes: body,
        written: &written,
    };
    backend.write(&document, expected)
}

/// A holder as a CI job looks, so every field a waiter should name is set.
fn ci_info(operation: &str) -> LockInfo {
    LockInfo {
        ci_url: Some("https://ci.example.com/runs/42".into()),
        ..LockInfo::new(operation)
    }
}

/// Runs one statement on a connection of its own (as an administrator would, beside the
/// backend) and returns its rows.
fn admin(sql: &str, params: &[&(dyn ToSql + Sync)]) -> Vec<tokio_postgres::Row> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(&postgres::url(), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client.query(sql, params).await.unwrap()
    })
}

#[test]
fn a_state_is_created_read_and_replaced_only_from_the_version_read() {
    let name = unique("crud");
    let b = backend(&name);
    assert!(b.read().unwrap().is_none());
    let v1 = write(&b, 1, b"one", None).unwrap();
    assert_eq!(v1, Version("1".into()));
    let stored = b.read().unwrap().unwrap();
    assert_eq!((stored.bytes.as_slice(), &stored.version), (&b"one"[..], &v1));

    // It exists now: creating it again is a conflict.
    match write(&b, 1, b"again", None) {
        Err(BackendError::Conflict { found, .. }) => assert_eq!(found.as_deref(), Some("serial 1")),
        other => panic!("{other:?}"),
    }
    let v2 = write(&b, 2, b"two", Some(&v1)).unwrap();
    assert_eq!(v2, Version("2".into()));

    // A writer still holding version 1 (e.g. one whose lock was broken) changes nothing.
    let stale = backend(&name);
    let err = write(&stale, 2, b"stale", Some(&v1)).unwrap_err();
    match &err {
        BackendError::Conflict { found, .. } => assert_eq!(found.as_deref(), Some("serial 2")),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("nothing was overwritten"), "{err}");
    assert!(matches!(
        write(&stale, 3, b"bogus", Some(&Version("\"etag\"".into()))),
        Err(BackendError::Conflict { .. })
    ));
    let stored = stale.read().unwrap().unwrap();
    assert_eq!((stored.bytes.as_slice(), &stored.version), (&b"two"[..], &v2));
    assert_eq!(
        stale.history().unwrap().len(),
        2,
        "no version was added by refused writes"
    );
    assert!(b.describe().contains(&name), "{}", b.describe());
}

#[test]
fn journal_entries_read_back_in_order_and_a_newer_whole_write_prunes_them() {
    let name = unique("journal");
    let b = backend(&name);
    let v1 = write(&b, 1, b"{}", None).unwrap();
    for (sequence, entry) in [&b"first"[..], b"second", b"third"].into_iter().enumerate() {
        b.append_journal(1, sequence as u64, entry).unwrap();
    }
    // Committed on return: another connection reads them.
    let entries = backend(&name).read_journal().unwrap();
    let bodies: Vec<&[u8]> = entries.iter().map(|e| e.bytes.as_slice()).collect();
    assert_eq!(bodies, [&b"first"[..], b"second", b"third"]);
    let rows: Vec<i64> = entries
        .iter()
        .map(|e| e.position.strip_prefix("journal row ").unwrap().parse().unwrap())
        .collect();
    assert!(rows.windows(2).all(|w| w[0] < w[1]), "{rows:?}");
    assert!(backend(&unique("journal-other")).read_journal().unwrap().is_empty());

    write(&b, 2, b"{\"serial\":2}", Some(&v1)).unwrap();
    assert!(
        b.read_journal().unwrap().is_empty(),
        "entries against serial 1 are pruned"
    );
    b.append_journal(2, 0, b"fourth").unwrap();
    let entries = b.read_journal().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].bytes, b"fourth");
}

#[test]
fn history_keeps_the_last_100_versions_and_reads_an_old_one() {
    let b = backend(&unique("history"));
    let mut version = None;
    for serial in 1..=105u64 {
        let w = written(&format!("apply #{serial}"));
        let body = format!("{{\"serial\":{serial}}}");
        let document = Document {
            serial,
            lineage: "lineage-1",
            bytes: body.as_bytes(),
            written: &w,
        };
        version = Some(b.write(&document, version.as_ref()).unwrap());
    }
    let history = b.history().unwrap();
    assert_eq!(history.len(), 100);
    assert_eq!(history.first().unwrap().serial, 6);
    assert_eq!(history.last().unwrap().serial, 105);
    assert!(history.windows(2).all(|w| w[0].serial + 1 == w[1].serial));
    assert_eq!(history[0].written, written("apply #6"));
    assert_eq!(b.read_serial(6).unwrap().as_deref(), Some(&b"{\"serial\":6}"[..]));
    assert_eq!(b.read_serial(5).unwrap(), None, "pruned");
    assert_eq!(b.read_serial(105).unwrap(), Some(b.read().unwrap().unwrap().bytes));
}

#[test]
fn a_held_lock_is_refused_to_others_naming_its_holder_until_released() {
    let name = unique("lock");
    let (a, b) = (backend(&name), backend(&name));
    let held = a.lock(ci_info("apply"), Duration::ZERO).unwrap();
    assert!(held.took_over().is_none());
    assert_eq!(b.holder().unwrap().as_ref(), Some(held.info()));
    for other in [&a, &b] {
        match other.lock(LockInfo::new("plan"), Duration::ZERO) {
            Err(err @ BackendError::Locked { .. }) => {
                let BackendError::Locked { holder, .. } = &err else {
                    unreachable!()
                };
                assert_eq!(**holder, *held.info());
                let text = err.to_string();
                let me = held.info();
                for part in [
                    &me.user,
                    &me.host,
                    &me.pid.to_string(),
                    "`apply`",
                    "https://ci.example.com/runs/42",
                ] {
                    assert!(text.contains(part), "{part} missing from: {text}");
                }
            }
            other => panic!("a held lock was taken: {:?}", other.map(|l| l.info().clone())),
        }
    }
    // A lock on another state is independent.
    backend(&unique("lock-other"))
        .lock(LockInfo::new("plan"), Duration::ZERO)
        .unwrap();

    // Between taking the advisory lock and writing its row, a holder is known only to be
    // there: a waiter names a placeholder.
    admin("DELETE FROM fgform.fgform_locks WHERE name = $1", &[&name]);
    assert_eq!(b.holder().unwrap(), None);
    match b.lock(LockInfo::new("plan"), Duration::ZERO) {
        Err(BackendError::Locked { holder, .. }) => assert_eq!(holder.id, "?"),
        other => panic!("a held lock was taken: {:?}", other.map(|l| l.info().clone())),
    }

    held.release();
    held.release();
    assert_eq!(b.holder().unwrap(), None);
    let next = b.lock(LockInfo::new("destroy"), Duration::ZERO).unwrap();
    assert!(
        next.took_over().is_none(),
        "a released lock leaves nothing to take over"
    );
    drop(next);
    assert_eq!(a.holder().unwrap(), None, "dropping releases");
}

#[test]
fn a_waiter_gets_the_lock_once_the_holder_releases_it_and_gives_up_after_its_timeout() {
    let name = unique("wait");
    let (a, b) = (backend(&name), backend(&name));
    let held = a.lock(LockInfo::new("apply"), Duration::ZERO).unwrap();

    let started = Instant::now();
    assert!(matches!(
        b.lock(LockInfo::new("plan"), Duration::from_millis(400)),
        Err(BackendError::Locked { .. })
    ));
    assert!(started.elapsed() >= Duration::from_millis(400));

    let holder = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(600));
        drop(held);
    });
    let started = Instant::now();
    let next = b.lock(LockInfo::new("plan"), Duration::from_secs(30)).unwrap();
    let waited = started.elapsed();
    holder.join().unwrap();
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
    assert!(next.took_over().is_none());
    assert_eq!(a.holder().unwrap().as_ref(), Some(next.info()));
}

/// Not a test of its own: the lock holder for
/// `a_holder_killed_with_sigkill_frees_the_lock_and_the_next_holder_names_it`, run as a child
/// process of the test binary. Takes the lock named by its environment, prints its id, and
/// holds it until its stdin closes.
#[test]
#[ignore = "run by another test as its child process"]
fn hold_a_postgres_lock_for_the_parent_process() {
    let (Ok(url), Ok(stack)) = (
        std::env::var("FGFORM_TEST_PG_URL"),
        std::env::var("FGFORM_TEST_PG_STACK"),
    ) else {
        return;
    };
    let b = PostgresBackend::connect(&location_of(&url, &stack, &[])).unwrap();
    let held = b.lock(LockInfo::new("apply"), Duration::ZERO).unwrap();
    println!("LOCKED {}", held.info().id);
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    drop(held);
}

#[test]
fn a_holder_killed_with_sigkill_frees_the_lock_and_the_next_holder_names_it() {
    let name = unique("killed");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "state_postgres::hold_a_postgres_lock_for_the_parent_process",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("FGFORM_TEST_PG_URL", postgres::url())
        .env("FGFORM_TEST_PG_STACK", &name)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let id = loop {
        let line = lines.next().expect("the child ended before taking the lock").unwrap();
        // libtest prints `test NAME ... ` before the test's own output, on the same line.
        if let Some((_, id)) = line.split_once("LOCKED ") {
            break id.trim().to_string();
        }
    };
    let b = backend(&name);
    let holder = b.holder().unwrap().expect("the child holds it");
    assert_eq!((holder.id.as_str(), holder.pid), (id.as_str(), child.id()));
    match b.lock(LockInfo::new("apply"), Duration::ZERO) {
        Err(BackendError::Locked { holder: named, .. }) => assert_eq!(*named, holder),
        other => panic!("a live lock was taken: {:?}", other.map(|l| l.info().clone())),
    }

    child.kill().unwrap(); // SIGKILL: no destructor runs, nothing is unlocked by the child
    child.wait().unwrap();
    let started = Instant::now();
    let next = b.lock(LockInfo::new("apply"), Duration::from_secs(30)).unwrap();
    println!("took the dead holder's lock after {:?}", started.elapsed());
    assert_eq!(next.took_over(), Some(&holder), "the dead holder is named");
    assert_eq!(b.holder().unwrap().as_ref(), Some(next.info()));
}

#[test]
fn a_holder_whose_session_is_terminated_loses_the_lock_and_its_row_is_stale() {
    let name = unique("terminated");
    let (a, b) = (backend(&name), backend(&name));
    let held = a.lock(ci_info("apply"), Duration::ZERO).unwrap();
    let rows = admin(
        "SELECT pg_terminate_backend(backend_pid) FROM fgform.fgform_locks WHERE name = $1",
        &[&name],
    );
    assert!(rows[0].get::<_, bool>(0));
    // The row stays until someone overwrites it, but names no holder: its session is gone.
    let started = Instant::now();
    while b.holder().unwrap().is_some() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the terminated session still holds it"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let next = b.lock(LockInfo::new("apply"), Duration::from_secs(10)).unwrap();
    assert_eq!(next.took_over(), Some(held.info()));
    drop(held); // its connection is dead: releasing must neither fail loudly nor touch `next`
    assert_eq!(a.holder().unwrap().as_ref(), Some(next.info()));
    drop(next);

    // A dead holder's row can be force-unlocked too: nothing to end, the row goes.
    let held = a.lock(ci_info("apply"), Duration::ZERO).unwrap();
    admin(
        "SELECT pg_terminate_backend(backend_pid) FROM fgform.fgform_locks WHERE name = $1",
        &[&name],
    );
    assert_eq!(b.force_unlock(&held.info().id).unwrap(), *held.info());
    let next = b.lock(LockInfo::new("apply"), Duration::from_secs(10)).unwrap();
    assert!(next.took_over().is_none(), "the row was removed");
}

#[test]
fn force_unlock_ends_the_holder_with_the_right_id_only() {
    let name = unique("force");
    let (a, b) = (backend(&name), backend(&name));
    let held = a.lock(ci_info("apply"), Duration::ZERO).unwrap();
    match b.force_unlock("not-the-id") {
        Err(err @ BackendError::NoSuchLock { .. }) => assert!(err.to_string().contains("not-the-id"), "{err}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        b.holder().unwrap().as_ref(),
        Some(held.info()),
        "a wrong id changes nothing"
    );

    assert_eq!(b.force_unlock(&held.info().id).unwrap(), *held.info());
    assert_eq!(b.holder().unwrap(), None);
    let next = b.lock(LockInfo::new("apply"), Duration::ZERO).unwrap();
    assert!(next.took_over().is_none(), "its row is gone");
    drop(held); // the old holder releasing late must not remove the new holder's row
    assert_eq!(a.holder().unwrap().as_ref(), Some(next.info()));
    let old = a.history().unwrap(); // the backend's own connection is unaffected
    assert!(old.is_empty());
    assert!(matches!(
        b.force_unlock(&LockInfo::new("x").id),
        Err(BackendError::NoSuchLock { .. })
    ));
}

#[test]
fn the_password_never_shows_and_may_come_from_pgpassword() {
    let password = postgres::password();
    let name = unique("secret");
    // The password from PGPASSWORD (the URL has none).
    let from_env = location_of(
        &postgres::url_without_password(),
        &name,
        &[("PGPASSWORD", password.as_str())],
    );
    let b = PostgresBackend::connect(&from_env).unwrap();
    let v1 = write(&b, 1, b"{}", None).unwrap();
    let held = b.lock(ci_info("apply"), Duration::ZERO).unwrap();
    // The password in the URL.
    let other = PostgresBackend::connect(&location(&name)).unwrap();
    let mut shown = vec![format!("{b:?}"), format!("{other:?}"), b.describe(), other.describe()];
    for err in [
        write(&other, 1, b"{}", None).unwrap_err(),
        write(&other, 2, b"{}", Some(&Version("0".into()))).unwrap_err(),
        other.lock(LockInfo::new("plan"), Duration::ZERO).err().expect("locked"),
        other.force_unlock("nope").unwrap_err(),
    ] {
        shown.push(format!("{err} {err:?}"));
    }
    drop(held);
    assert_eq!(write(&other, 2, b"{}", Some(&v1)).unwrap(), Version("2".into()));

    // A wrong password, and none at all.
    let wrong = location_of(&url_with_password("wrong-horse-battery"), &name, &[]);
    let err = PostgresBackend::connect(&wrong).unwrap_err();
    let text = err.to_string();
    let server = postgres::server();
    assert!(
        text.contains(&format!("127.0.0.1:{}/{}", server.port, server.database)),
        "{text}"
    );
    assert!(text.contains("password authentication failed"), "{text}");
    shown.push(format!("{text} {err:?}"));
    assert!(!text.contains("wrong-horse-battery") && !format!("{err:?}").contains("wrong-horse-battery"));
    let none = location_of(&postgres::url_without_password(), &name, &[]);
    let err = PostgresBackend::connect(&none).unwrap_err().to_string();
    assert!(err.contains("PGPASSWORD"), "{err}");

    for text in &shown {
        assert!(!text.contains(&password), "the password shows in: {text}");
    }
}

fn url_with_password(password: &str) -> String {
    postgres::url_without_password().replacen("@", &format!(":{password}@"), 1)
}

#[test]
fn racing_writers_one_wins_and_the_others_conflict() {
    let name = unique("race");
    let writers: Vec<PostgresBackend> = (0..8).map(|_| backend(&name)).collect();
    let race = |expected: Option<Version>, serial: u64| {
        let barrier = Barrier::new(writers.len());
        let results: Vec<Result<Version, BackendError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = writers
                .iter()
                .enumerate()
                .map(|(i, writer)| {
                    let (barrier, expected) = (&barrier, expected.clone());
                    scope.spawn(move || {
                        barrier.wait();
                        write(writer, serial, format!("writer {i}").as_bytes(), expected.as_ref())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let winners: Vec<usize> = (0..results.len()).filter(|&i| results[i].is_ok()).collect();
        assert_eq!(winners.len(), 1, "{results:?}");
        for result in &results {
            if let Err(err) = result {
                assert!(matches!(err, BackendError::Conflict { .. }), "{err}");
            }
        }
        let stored = writers[0].read().unwrap().unwrap();
        assert_eq!(stored.bytes, format!("writer {}", winners[0]).as_bytes());
        stored.version
    };
    let v1 = race(None, 1);
    let v2 = race(Some(v1), 2);
    assert_eq!(v2, Version("2".into()));
    assert_eq!(writers[3].history().unwrap().len(), 2);
}

#[test]
fn runners_racing_to_create_a_fresh_schema_all_succeed() {
    let schema = format!("race_{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let url = format!("{}?schema={schema}", postgres::url());
    let barrier = Barrier::new(6);
    std::thread::scope(|scope| {
        for i in 0..6 {
            let (barrier, url) = (&barrier, &url);
            scope.spawn(move || {
                barrier.wait();
                let b = PostgresBackend::connect(&location_of(url, &format!("s{i}"), &[])).unwrap();
                write(&b, 1, b"{}", None).unwrap();
            });
        }
    });
    let rows = admin(&format!("SELECT count(*) FROM \"{schema}\".fgform_states"), &[]);
    assert_eq!(rows[0].get::<_, i64>(0), 6);
    // PostgreSQL 15 from Debian has LZ4: bodies use it rather than the slower pglz.
    let rows = admin(
        &format!(
            "SELECT attcompression::text FROM pg_attribute
             WHERE attrelid = '\"{schema}\".fgform_versions'::regclass AND attname = 'body'"
        ),
        &[],
    );
    assert_eq!(rows[0].get::<_, String>(0), "l");
}

#[tokio::test]
async fn the_backend_works_from_inside_another_runtime() {
    let b = backend(&unique("in-runtime"));
    let v1 = write(&b, 1, b"{}", None).unwrap();
    b.append_journal(1, 0, b"entry").unwrap();
    let held = b.lock(LockInfo::new("apply"), Duration::ZERO).unwrap();
    assert_eq!(b.holder().unwrap().as_ref(), Some(held.info()));
    assert_eq!(write(&b, 2, b"{}", Some(&v1)).unwrap(), Version("2".into()));
    drop(held);
    assert_eq!(b.holder().unwrap(), None);
    drop(b); // dropping its runtime here must not panic
}

/// A state the size of 10,000 functions' (~15 MB of JSON).
fn big_state() -> Vec<u8> {
    let mut out = String::from("{\"serial\":1,\"resources\":[");
    for i in 0..10_000u32 {
        let digest = |k: u32| {
            format!(
                "{:x}",
                sha2::Sha256::digest([i.to_be_bytes(), k.to_be_bytes()].concat())
            )
        };
        let description: String = (1..19).map(digest).collect();
        let digest = digest(0);
        out.push_str(&format!(
            "{{\"address\":\"function.fn_{i:05}\",\"id\":\"urn:fss:cn-north-4:0ab1:function:default:fn_{i:05}:latest\",\
             \"attributes\":{{\"runtime\":\"Python3.9\",\"handler\":\"index.handler\",\"memory_size\":256,\
             \"timeout\":30,\"code_sha512\":\"{digest}{digest}\",\"description\":\"{description}\",\"env\":{{\"STAGE\":\"prod\",\
             \"INDEX\":\"{i}\"}}}}}},"
        ));
    }
    out.pop();
    out.push_str("]}");
    out.into_bytes()
}

#[test]
fn saving_a_10000_function_state_is_one_statement_per_body() {
    let body = big_state();
    assert!(body.len() > 14_000_000, "{} bytes", body.len());
    let b = backend(&unique("big"));
    let started = Instant::now();
    let v1 = write(&b, 1, &body, None).unwrap();
    let first = started.elapsed();
    let started = Instant::now();
    write(&b, 2, &body, Some(&v1)).unwrap();
    let second = started.elapsed();
    let started = Instant::now();
    let read = b.read().unwrap().unwrap();
    let reading = started.elapsed();
    assert_eq!(read.bytes, body);
    println!(
        "a {:.1} MB state: created in {first:?}, replaced in {second:?}, read in {reading:?}",
        body.len() as f64 / 1e6
    );
}

#[test]
fn a_lost_connection_is_opened_again_on_the_next_call() {
    // A schema of its own, so its connection is the only one whose queries name it.
    let schema = format!("reconnect_{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let url = format!("{}?schema={schema}", postgres::url());
    let b = PostgresBackend::connect(&location_of(&url, "s", &[])).unwrap();
    let v1 = write(&b, 1, b"{}", None).unwrap();
    b.history().unwrap(); // its last statement names the schema (a write's is COMMIT)
    let ended = admin(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%' || $1 || '%' \
         AND pid <> pg_backend_pid()",
        &[&schema],
    );
    assert_eq!(ended.len(), 1, "one connection ran the write");
    // Reads are retried once on a new connection: the loss costs no error.
    let stored = b.read().unwrap().unwrap();
    assert_eq!(stored.version, v1);
    assert_eq!(write(&b, 2, b"{}", Some(&v1)).unwrap(), Version("2".into()));
}

#[test]
fn a_server_ending_idle_sessions_does_not_end_the_lock() {
    // A role of its own whose sessions the server ends after 300 ms of idleness.
    let role = format!("idle_{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    admin(&format!("CREATE ROLE {role} LOGIN SUPERUSER PASSWORD 'idle-pw'"), &[]);
    admin(&format!("ALTER ROLE {role} SET idle_session_timeout = '300ms'"), &[]);
    let server = postgres::server();
    let url = format!(
        "postgres://{role}:idle-pw@127.0.0.1:{}/{}",
        server.port, server.database
    );
    let name = unique("idle");
    let held = PostgresBackend::connect(&location_of(&url, &name, &[]))
        .unwrap()
        .lock(LockInfo::new("apply"), Duration::ZERO)
        .unwrap();
    std::thread::sleep(Duration::from_millis(1_200));
    assert_eq!(backend(&name).holder().unwrap().as_ref(), Some(held.info()));
}

/// The cluster's URL on `host` (`localhost` or `127.0.0.1`) with `query` appended.
fn url_on(host: &str, query: &str) -> String {
    let s = postgres::server();
    format!(
        "postgres://{}:{}@{host}:{}/{}?{query}",
        s.user, s.password, s.port, s.database
    )
}

/// How many of the server's sessions named `fgform` use TLS, and how many do not.
fn fgform_sessions_by_tls() -> (i64, i64) {
    let rows = admin(
        "SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl)
         FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'fgform'",
        &[],
    );
    (rows[0].get(0), rows[0].get(1))
}

#[test]
fn tls_is_used_and_the_servers_certificate_verified_against_sslrootcert() {
    let ca = postgres::ca_file();
    let name = unique("tls");
    let modes = [
        ("localhost", "verify-full"),
        ("127.0.0.1", "require"),
        ("localhost", "prefer"),
    ];
    for (serial, (host, mode)) in (1..).zip(modes) {
        let query = format!("sslmode={mode}&sslrootcert={}", ca.display());
        let b = PostgresBackend::connect(&location_of(&url_on(host, &query), &name, &[])).unwrap();
        let (tls, _) = fgform_sessions_by_tls();
        assert!(tls >= 1, "{host} {mode}: the backend's session uses TLS");
        let expected = b.read().unwrap().map(|s| s.version);
        write(&b, serial, b"over tls", expected.as_ref()).unwrap();
        assert_eq!(b.read().unwrap().unwrap().bytes, b"over tls");
        drop(b);
    }
    // sslmode=disable (the loopback default) stays without TLS.
    let plain = PostgresBackend::connect(&location_of(&url_on("127.0.0.1", "sslmode=disable"), &name, &[])).unwrap();
    assert_eq!(plain.read().unwrap().unwrap().bytes, b"over tls");
}

#[test]
fn a_certificate_from_an_unknown_ca_is_refused_with_the_way_out() {
    let name = unique("tls-unknown");
    // The test CA is no public CA: without sslrootcert, the certificate cannot be trusted.
    for mode in ["require", "verify-full", "prefer"] {
        let err = PostgresBackend::connect(&location_of(
            &url_on("localhost", &format!("sslmode={mode}")),
            &name,
            &[],
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("certificate"), "{mode}: {err}");
        assert!(err.contains("sslrootcert=PATH"), "{mode}: {err}");
        assert!(!err.contains(&postgres::password()), "{mode}: {err}");
    }
    // A CA that did not sign it is refused too.
    let other = tempfile::tempdir().unwrap();
    postgres::make_ca(other.path(), "other", "another CA");
    let query = format!(
        "sslmode=verify-full&sslrootcert={}",
        other.path().join("other.pem").display()
    );
    let err = PostgresBackend::connect(&location_of(&url_on("localhost", &query), &name, &[])).unwrap_err();
    assert!(err.to_string().contains("certificate"), "{err}");
}
