//! State in PostgreSQL (tokio-postgres), one schema holding any number of states by name.
//!
//! # Tables (in the location's `?schema=`, default `fgform`; created when absent)
//! - `fgform_states (name PK, serial, lineage)`: one small row per state naming its current
//!   serial. A conditional write is `UPDATE … WHERE name = $1 AND serial = $expected` (or an
//!   `INSERT … ON CONFLICT DO NOTHING` for a state that must not exist yet), so a second
//!   writer, or a holder whose lock was broken, changes nothing and gets
//!   [`BackendError::Conflict`].
//! - `fgform_versions (name, serial, who, operation, written_at, body bytea)`: the bodies of
//!   the last [`HISTORY_KEEP`] versions, the current one included. Each write stores its body
//!   once, as a binary parameter, in the same transaction as the serial update, and prunes
//!   older versions; a read joins the two tables. Bodies are compressed with LZ4 where the
//!   server has it (pglz takes three times as long on a 15 MB state).
//! - `fgform_journal (id identity, name, base_serial, sequence, entry bytea)`: one row per
//!   journal entry, committed when [`Backend::append_journal`] returns and read back in
//!   `(base_serial, sequence)` order (appends run up to eight at once, pipelined on a
//!   connection of their own); a whole write deletes the rows written against older serials.
//! - `fgform_locks (name PK, id, info, backend_pid)`: who holds the lock (the [`LockInfo`]
//!   as JSON) and the server process of the holder's lock connection.
//!
//! The schema is created under `pg_advisory_xact_lock`, so runners racing to create it on a
//! fresh database do not fail, and not at all when the tables already exist (a role with
//! only row privileges can use a schema an administrator created).
//!
//! # The lock: an advisory lock and a row
//! The lock is a **session advisory lock** (`pg_try_advisory_lock`, keyed by a hash of the
//! schema and state name) taken on a dedicated connection that the [`HeldLock`] owns. The
//! server releases it when that session ends, however the holder ends: kill -9, a crash, a
//! lost network (TCP keepalives are on, so a silent peer is noticed too). Advisory locks
//! cannot say who holds them, so beside it a **row** names the holder, written right after
//! the advisory lock is taken. The advisory lock is the truth and the row is the label: a
//! row whose `backend_pid` does not hold the advisory lock (in `pg_locks`) belongs to a dead
//! holder, is not reported by [`Backend::holder`], and is overwritten by the next holder,
//! which reports it through [`HeldLock::took_over`]. [`Backend::force_unlock`] terminates the
//! holder's lock session (`pg_terminate_backend`, which needs the same role or
//! `pg_signal_backend`) and deletes its row.
//!
//! **Use direct connections or session pooling only.** Behind a transaction-pooling proxy
//! (PgBouncer `pool_mode=transaction`) a session advisory lock lands on whichever server
//! connection ran the statement and is never released with the holder.
//!
//! # Connections and TLS
//! Reads and writes share one connection, opened again when it is lost; a read that finds
//! it lost is retried once on the new one (a write is not: it fails, and the conditional
//! write makes trying again safe).
//!
//! TLS (rustls): `sslmode=disable` never uses it; `prefer` uses it when the server offers it
//! (and connects without it when the server has none); `require`, `verify-ca` and
//! `verify-full` insist on it. Whenever TLS is used the server's certificate is verified,
//! chain and host name, against the public web PKI or the CA certificates
//! `?sslrootcert=PATH` names: stricter than libpq's `prefer` and `require`, which encrypt
//! without verifying, because a state holds the keys to a deployment. The `Backend` methods are
//! synchronous: each backend owns a small tokio runtime that drives its connections (the
//! lock connection's too, for as long as the lock is held), callable from any thread,
//! inside another runtime included.

mod lock;
mod sql;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;

use self::sql::{Statements, Tables};
use super::runtime::Runtime;
use super::{
    Backend, BackendError, Document, HeldLock, HistoryEntry, JournalEntry, Stored, Version, Written, HISTORY_KEEP,
};
use crate::state::location::PostgresLocation;
use crate::state::LockInfo;

/// How long connecting may take before it is an error.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// A state in a PostgreSQL database. See the module documentation for its tables and lock.
pub struct PostgresBackend {
    location: PostgresLocation,
    describe: String,
    tables: Tables,
    /// The advisory lock key of this state.
    key: i64,
    runtime: Arc<Runtime>,
    /// How connections speak TLS; `None` with `sslmode=disable`.
    tls: Option<MakeRustlsConnect>,
    /// The connection for reads and writes, opened again if it breaks.
    conn: tokio::sync::Mutex<Option<Conn>>,
    /// The connection journal appends share (each an autocommit insert; several at once are
    /// pipelined on it), opened again if it breaks.
    journal: tokio::sync::Mutex<Option<Arc<Conn>>>,
}

/// The TLS connector: certificates verified (chain and host name) against the CA
/// certificates in `rootcert` (PEM), else against the public web PKI's roots.
fn tls_connector(rootcert: Option<&std::path::Path>) -> Result<MakeRustlsConnect, String> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    match rootcert {
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Some(path) => {
            let what = |e: &dyn fmt::Display| format!("reading sslrootcert `{}`: {e}", path.display());
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| what(&e))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| what(&e))?;
            if certs.is_empty() {
                return Err(what(&"it holds no PEM certificate"));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| what(&e))?;
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("setting up TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// An open connection and its prepared statements.
struct Conn {
    client: Client,
    statements: Statements,
}

impl fmt::Debug for PostgresBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PostgresBackend({})", self.describe)
    }
}

/// Journal appends in flight at once: each costs a commit's round trip, not bandwidth.
const JOURNAL_CONCURRENCY: usize = 8;

/// A stable advisory lock key for `purpose` on `schema`/`name`: the first 8 bytes of their
/// SHA-256 (the schema's length in it, so no two pairs read the same).
fn advisory_key(purpose: &str, schema: &str, name: &str) -> i64 {
    let digest = Sha256::digest(format!("fgform\0{purpose}\0{}\0{schema}\0{name}", schema.len()));
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// A tokio-postgres error as a person reads it: the server's own words for a server error.
fn pg_message(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        let mut text = format!("{}: {}", db.severity(), db.message());
        if let Some(detail) = db.detail() {
            text.push_str(&format!(" ({detail})"));
        }
        if let Some(hint) = db.hint() {
            text.push_str(&format!("; hint: {hint}"));
        }
        return text;
    }
    // tokio-postgres's own Display is only the kind ("error connecting to server"); the
    // cause ("Connection refused", "password missing") is its source.
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// A serial as PostgreSQL's `bigint`.
fn to_db_serial(serial: u64) -> Result<i64, String> {
    i64::try_from(serial).map_err(|_| format!("serial {serial} is beyond PostgreSQL's bigint"))
}

fn from_db_serial(serial: i64) -> u64 {
    u64::try_from(serial).unwrap_or(0)
}

impl PostgresBackend {
    /// Connects to the database at `location` and creates its schema and tables when absent.
    pub fn connect(location: &PostgresLocation) -> Result<PostgresBackend, BackendError> {
        let describe = location.to_string();
        let fail = |message: String| BackendError::Io {
            location: describe.clone(),
            action: "connecting to",
            message,
        };
        if location.schema.is_empty()
            || location.schema.len() > 63
            || !location.schema.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(fail(format!(
                "schema `{}` must be 1 to 63 letters, digits and `_`",
                location.schema
            )));
        }
        if !crate::state::location::SSLMODES.contains(&location.sslmode.as_str()) {
            return Err(fail(format!(
                "sslmode `{}` is not one of {}",
                location.sslmode,
                crate::state::location::SSLMODES.join(", ")
            )));
        }
        let tls = match location.sslmode.as_str() {
            "disable" => None,
            _ => Some(tls_connector(location.sslrootcert.as_deref()).map_err(fail)?),
        };
        let runtime =
            Arc::new(Runtime::new("fgform-postgres").map_err(|e| fail(format!("starting its I/O runtime: {e}")))?);
        let backend = PostgresBackend {
            location: location.clone(),
            describe,
            tables: Tables::new(&location.schema),
            key: advisory_key("lock", &location.schema, &location.name),
            runtime,
            tls,
            conn: tokio::sync::Mutex::new(None),
            journal: tokio::sync::Mutex::new(None),
        };
        backend.runtime.block_on(async {
            let mut client = backend.open().await?;
            backend.create_schema(&mut client).await?;
            let statements = Statements::prepare(&client, &backend.tables)
                .await
                .map_err(|e| backend.io("preparing statements for", &e))?;
            *backend.conn.lock().await = Some(Conn { client, statements });
            Ok::<_, BackendError>(())
        })?;
        Ok(backend)
    }

    fn config(&self) -> tokio_postgres::Config {
        let location = &self.location;
        let mut config = tokio_postgres::Config::new();
        config
            .user(&location.user)
            .host(&location.host)
            .port(location.port)
            .dbname(&location.database)
            .application_name("fgform")
            .ssl_mode(match location.sslmode.as_str() {
                "disable" => tokio_postgres::config::SslMode::Disable,
                "prefer" => tokio_postgres::config::SslMode::Prefer,
                _ => tokio_postgres::config::SslMode::Require,
            })
            .connect_timeout(CONNECT_TIMEOUT)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30))
            .keepalives_interval(Duration::from_secs(10))
            .keepalives_retries(3);
        if let Some(password) = &location.password {
            config.password(password);
        }
        config
    }

    /// Opens a new connection, its driver running on this backend's runtime. Must run on it.
    async fn open(&self) -> Result<Client, BackendError> {
        // The connection task ends when the client is dropped or the server goes away;
        // either way every caller of the client sees the error itself.
        let config = self.config();
        let connected = match &self.tls {
            None => config.connect(NoTls).await.map(|(client, connection)| {
                tokio::spawn(connection);
                client
            }),
            Some(tls) => config.connect(tls.clone()).await.map(|(client, connection)| {
                tokio::spawn(connection);
                client
            }),
        };
        let client = connected.map_err(|e| {
            let mut message = pg_message(&e);
            if self.location.password.is_none() && message.contains("password") {
                message.push_str("; give the password in the location or in PGPASSWORD");
            }
            if message.contains("certificate") && self.location.sslrootcert.is_none() {
                message.push_str(
                    "; a server whose certificate comes from a private CA (a cloud database's CA bundle, a \
                     self-signed one) needs that CA named: add ?sslrootcert=PATH to the location",
                );
            }
            BackendError::Io {
                location: self.describe.clone(),
                action: "connecting to",
                message,
            }
        })?;
        // A server-wide `idle_session_timeout` (PostgreSQL 14+) would end an idle lock
        // session, and with it the lock, in the middle of a long run.
        client
            .batch_execute(
                "SELECT set_config('idle_session_timeout', '0', false)
                 WHERE current_setting('server_version_num')::int >= 140000",
            )
            .await
            .map_err(|e| self.io("connecting to", &e))?;
        Ok(client)
    }

    /// Creates the schema and tables unless all exist, serialised with other runners by a
    /// transaction-scoped advisory lock.
    async fn create_schema(&self, client: &mut Client) -> Result<(), BackendError> {
        let fail = |e: tokio_postgres::Error| self.io("creating the tables of", &e);
        let present: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = $1 AND tablename = ANY($2)",
                &[&self.location.schema, &sql::TABLE_NAMES.as_slice()],
            )
            .await
            .map_err(fail)?
            .get(0);
        if present == sql::TABLE_NAMES.len() as i64 {
            return Ok(());
        }
        let key = advisory_key("schema", &self.location.schema, "");
        let tx = client.transaction().await.map_err(fail)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&key])
            .await
            .map_err(fail)?;
        let lz4: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_settings
                 WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals))",
                &[],
            )
            .await
            .map_err(fail)?
            .get(0);
        tx.batch_execute(&self.tables.ddl(lz4)).await.map_err(fail)?;
        tx.commit().await.map_err(fail)
    }

    fn io(&self, action: &'static str, error: &tokio_postgres::Error) -> BackendError {
        BackendError::Io {
            location: self.describe.clone(),
            action,
            message: pg_message(error),
        }
    }

    fn io_text(&self, action: &'static str, message: String) -> BackendError {
        BackendError::Io {
            location: self.describe.clone(),
            action,
            message,
        }
    }

    /// The read/write connection, opened again (statements prepared anew) if it broke.
    async fn conn(&self, action: &'static str) -> Result<tokio::sync::MutexGuard<'_, Option<Conn>>, BackendError> {
        let mut guard = self.conn.lock().await;
        if guard.as_ref().is_none_or(|c| c.client.is_closed()) {
            *guard = None;
            let client = self.open().await?;
            let statements = Statements::prepare(&client, &self.tables)
                .await
                .map_err(|e| self.io(action, &e))?;
            *guard = Some(Conn { client, statements });
        }
        Ok(guard)
    }

    async fn write_async(&self, document: &Document<'_>, expected: Option<&Version>) -> Result<Version, BackendError> {
        let action = "writing";
        let fail = |e: tokio_postgres::Error| self.io(action, &e);
        let serial = to_db_serial(document.serial).map_err(|m| self.io_text(action, m))?;
        // A version this backend never issued matches no serial: the update finds no row.
        let expected = expected.map(|v| v.0.parse::<i64>().unwrap_or(-1));
        let name = &self.location.name;
        let written = document.written;
        let keep = HISTORY_KEEP as i64;
        let mut guard = self.conn(action).await?;
        let Conn { client, statements: st } = guard.as_mut().expect("conn() leaves a connection");
        let tx = client.transaction().await.map_err(fail)?;
        // One pipeline: the serial check, the body (once), the pruning. On a conflict the
        // transaction is rolled back, so running them all before looking changes nothing.
        let claim = async {
            match expected {
                None => tx.execute(&st.insert_state, &[name, &serial, &document.lineage]).await,
                Some(expected) => {
                    tx.execute(&st.update_state, &[name, &serial, &document.lineage, &expected])
                        .await
                }
            }
        };
        let version: [&(dyn ToSql + Sync); 6] = [
            name,
            &serial,
            &written.who,
            &written.operation,
            &written.at,
            &document.bytes,
        ];
        let (prune_versions, prune_journal): ([&(dyn ToSql + Sync); 2], [&(dyn ToSql + Sync); 2]) =
            ([name, &keep], [name, &serial]);
        let (claimed, _, _, _) = futures::try_join!(
            claim,
            tx.execute(&st.insert_version, &version),
            tx.execute(&st.prune_versions, &prune_versions),
            tx.execute(&st.prune_journal, &prune_journal),
        )
        .map_err(fail)?;
        if claimed == 0 {
            let found = tx.query_opt(&st.current_serial, &[name]).await.map_err(fail)?;
            let _ = tx.rollback().await;
            return Err(BackendError::Conflict {
                location: self.describe.clone(),
                found: found.map(|row| format!("serial {}", row.get::<_, i64>(0))),
            });
        }
        tx.commit().await.map_err(fail)?;
        Ok(Version(serial.to_string()))
    }

    /// Runs a read-only prepared statement, once more on a new connection if the
    /// connection turns out to have been lost (a server restart, a dropped idle
    /// connection): reading twice is harmless, so a lost connection costs no error.
    async fn query_read(
        &self,
        action: &'static str,
        statement: fn(&Statements) -> &Statement,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, BackendError> {
        let mut retried = false;
        loop {
            let mut guard = self.conn(action).await?;
            let conn = guard.as_ref().expect("conn() leaves a connection");
            match conn.client.query(statement(&conn.statements), params).await {
                Ok(rows) => return Ok(rows),
                Err(e) if !retried && (e.is_closed() || conn.client.is_closed() || is_fatal(&e)) => {
                    retried = true;
                    *guard = None;
                }
                Err(e) => return Err(self.io(action, &e)),
            }
        }
    }
}

/// A server error that ended the session (e.g. an administrator's `pg_terminate_backend`).
fn is_fatal(error: &tokio_postgres::Error) -> bool {
    error
        .as_db_error()
        .is_some_and(|db| matches!(db.severity(), "FATAL" | "PANIC"))
}

impl Backend for PostgresBackend {
    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn read(&self) -> Result<Option<Stored>, BackendError> {
        let rows = self
            .runtime
            .block_on(self.query_read("reading", |st| &st.read, &[&self.location.name]))?;
        Ok(rows.into_iter().next().map(|row| Stored {
            bytes: row.get(1),
            version: Version(row.get::<_, i64>(0).to_string()),
        }))
    }

    fn write(&self, document: &Document<'_>, expected: Option<&Version>) -> Result<Version, BackendError> {
        self.runtime.block_on(self.write_async(document, expected))
    }

    fn journal_concurrency(&self) -> usize {
        JOURNAL_CONCURRENCY
    }

    fn append_journal(&self, base_serial: u64, sequence: u64, entry: &[u8]) -> Result<(), BackendError> {
        let action = "appending to the journal of";
        let base = to_db_serial(base_serial).map_err(|m| self.io_text(action, m))?;
        let sequence = to_db_serial(sequence).map_err(|m| self.io_text(action, m))?;
        self.runtime.block_on(async {
            let conn = {
                let mut guard = self.journal.lock().await;
                match guard.as_ref().filter(|c| !c.client.is_closed()) {
                    Some(conn) => conn.clone(),
                    None => {
                        let client = self.open().await?;
                        let statements = Statements::prepare(&client, &self.tables)
                            .await
                            .map_err(|e| self.io(action, &e))?;
                        guard.insert(Arc::new(Conn { client, statements })).clone()
                    }
                }
            };
            conn.client
                .execute(
                    &conn.statements.append_journal,
                    &[&self.location.name, &base, &sequence, &entry],
                )
                .await
                .map_err(|e| self.io(action, &e))?;
            Ok(())
        })
    }

    fn read_journal(&self) -> Result<Vec<JournalEntry>, BackendError> {
        let rows = self.runtime.block_on(self.query_read(
            "reading the journal of",
            |st| &st.read_journal,
            &[&self.location.name],
        ))?;
        Ok(rows
            .into_iter()
            .map(|row| JournalEntry {
                position: format!("journal row {}", row.get::<_, i64>(0)),
                bytes: row.get(1),
            })
            .collect())
    }

    fn lock(&self, info: LockInfo, wait: Duration) -> Result<Box<dyn HeldLock>, BackendError> {
        let held = self.runtime.block_on(self.lock_async(info, wait))?;
        Ok(Box::new(held))
    }

    fn holder(&self) -> Result<Option<LockInfo>, BackendError> {
        self.runtime.block_on(self.holder_async())
    }

    fn force_unlock(&self, id: &str) -> Result<LockInfo, BackendError> {
        self.runtime.block_on(self.force_unlock_async(id))
    }

    fn history(&self) -> Result<Vec<HistoryEntry>, BackendError> {
        let rows = self.runtime.block_on(self.query_read(
            "reading the history of",
            |st| &st.history,
            &[&self.location.name],
        ))?;
        Ok(rows
            .into_iter()
            .map(|row| HistoryEntry {
                serial: from_db_serial(row.get(0)),
                written: Written {
                    who: row.get(1),
                    operation: row.get(2),
                    at: row.get(3),
                },
            })
            .collect())
    }

    fn read_serial(&self, serial: u64) -> Result<Option<Vec<u8>>, BackendError> {
        let Ok(serial) = i64::try_from(serial) else {
            return Ok(None);
        };
        let rows = self.runtime.block_on(self.query_read(
            "reading an old version of",
            |st| &st.read_serial,
            &[&self.location.name, &serial],
        ))?;
        Ok(rows.into_iter().next().map(|row| row.get(0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_are_stable_and_differ_by_schema_and_name() {
        let key = advisory_key("lock", "fgform", "shop-prod");
        assert_eq!(key, advisory_key("lock", "fgform", "shop-prod"));
        assert_ne!(key, advisory_key("lock", "fgform", "shop"));
        assert_ne!(key, advisory_key("lock", "other", "shop-prod"));
        assert_ne!(key, advisory_key("schema", "fgform", "shop-prod"));
        // "a" + "b\0c" and "a\0b" + "c" must not collide.
        assert_ne!(advisory_key("lock", "a", "b\0c"), advisory_key("lock", "a\0b", "c"));
    }

    fn location(sslmode: &str, schema: &str) -> PostgresLocation {
        PostgresLocation {
            user: "ci".into(),
            password: Some("hunter2-secret".into()),
            host: "127.0.0.1".into(),
            port: 1,
            database: "db".into(),
            schema: schema.into(),
            sslmode: sslmode.into(),
            sslrootcert: None,
            name: "shop".into(),
        }
    }

    #[test]
    fn a_bad_sslrootcert_or_schema_is_refused_before_any_sql() {
        let mut bad = location("require", "fgform");
        bad.sslrootcert = Some("/nonexistent/ca.pem".into());
        let text = PostgresBackend::connect(&bad).unwrap_err().to_string();
        assert!(text.contains("reading sslrootcert `/nonexistent/ca.pem`"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        let empty = tempfile::NamedTempFile::new().unwrap();
        bad.sslrootcert = Some(empty.path().to_path_buf());
        let text = PostgresBackend::connect(&bad).unwrap_err().to_string();
        assert!(text.contains("no PEM certificate"), "{text}");
        let err = PostgresBackend::connect(&location("disable", "a\"b")).unwrap_err();
        assert!(err.to_string().contains("letters, digits"), "{err}");
    }

    #[test]
    fn an_unreachable_server_is_named_with_host_port_and_database_and_no_password() {
        // Port 1 on loopback: nothing listens there.
        let err = PostgresBackend::connect(&location("disable", "fgform")).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("connecting to the state at postgres://ci@127.0.0.1:1/db"),
            "{text}"
        );
        assert!(text.contains("error connecting to server: "), "{text}");
        assert!(text.to_lowercase().contains("refused"), "{text}");
        assert!(
            !text.contains("hunter2") && !format!("{err:?}").contains("hunter2"),
            "{text}"
        );
    }
}
