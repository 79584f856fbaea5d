//! The lock: a session advisory lock on a connection of its own, plus the row naming the
//! holder (see the module documentation of [`super`]).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;
use tokio_postgres::{Client, Error};

use super::sql::Tables;
use super::{BackendError, HeldLock, LockInfo, PostgresBackend};
use crate::state::backend::runtime::Runtime;

/// How often a waiter tries the advisory lock again.
const POLL: Duration = Duration::from_millis(200);
/// How long releasing may wait on the server before simply closing the connection (which
/// releases the lock as well).
const RELEASE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `force_unlock` waits for the terminated holder's session to end.
const TERMINATE_TIMEOUT: Duration = Duration::from_secs(10);

/// The holder of an advisory lock whose row is not written yet, or unreadable.
fn placeholder() -> LockInfo {
    LockInfo {
        id: "?".into(),
        user: "?".into(),
        host: "?".into(),
        pid: 0,
        operation: "?".into(),
        created: "?".into(),
        ci_url: None,
    }
}

fn parse_info(json: &str) -> LockInfo {
    serde_json::from_str(json).unwrap_or_else(|_| placeholder())
}

/// A held lock: its connection holds the advisory lock for as long as it is open.
pub(super) struct PgLock {
    /// Keeps the connection's driver running while the lock is held, whatever becomes of
    /// the backend that took it.
    runtime: Arc<Runtime>,
    /// The lock connection; `None` once released.
    client: Mutex<Option<Client>>,
    info: LockInfo,
    took_over: Option<LockInfo>,
    name: String,
    locks: String,
    key: i64,
}

impl HeldLock for PgLock {
    fn info(&self) -> &LockInfo {
        &self.info
    }

    fn took_over(&self) -> Option<&LockInfo> {
        self.took_over.as_ref()
    }

    fn release(&self) {
        let Some(client) = self.client.lock().unwrap_or_else(PoisonError::into_inner).take() else {
            return;
        };
        // Only our own row: after a force-unlock it may name the next holder.
        let delete = format!(
            "DELETE FROM {} WHERE name = $1 AND id = $2 AND backend_pid = pg_backend_pid()",
            self.locks
        );
        self.runtime.block_on(async {
            let _ = tokio::time::timeout(RELEASE_TIMEOUT, async {
                client.execute(&delete, &[&self.name, &self.info.id]).await?;
                client.execute("SELECT pg_advisory_unlock($1)", &[&self.key]).await
            })
            .await;
            // Closing the session releases the advisory lock whatever happened above.
            drop(client);
        });
    }
}

impl Drop for PgLock {
    fn drop(&mut self) {
        self.release();
    }
}

impl PostgresBackend {
    /// Takes the advisory lock on a new connection, waiting up to `wait`, then records the
    /// holder's row.
    pub(super) async fn lock_async(&self, info: LockInfo, wait: Duration) -> Result<PgLock, BackendError> {
        let fail = |e: Error| self.io("locking", &e);
        let mut client = self.open().await?;
        let deadline = Instant::now() + wait;
        loop {
            let taken: bool = client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&self.key])
                .await
                .map_err(fail)?
                .get(0);
            if taken {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                let holder = self.holder_on(&client).await.map_err(fail)?;
                return Err(BackendError::Locked {
                    location: self.describe.clone(),
                    holder: Box::new(holder.unwrap_or_else(placeholder)),
                });
            }
            tokio::time::sleep(POLL.min(deadline - now)).await;
        }
        // On an error here `client` is dropped, which closes the session and so releases
        // the advisory lock.
        let took_over = self.record(&mut client, &info).await.map_err(fail)?;
        Ok(PgLock {
            runtime: self.runtime.clone(),
            client: Mutex::new(Some(client)),
            info,
            took_over,
            name: self.location.name.clone(),
            locks: self.tables.locks.clone(),
            key: self.key,
        })
    }

    /// Writes the lock row for `info` on the connection holding the advisory lock; returns
    /// the holder a row left behind named (it died: it no longer held the advisory lock).
    async fn record(&self, client: &mut Client, info: &LockInfo) -> Result<Option<LockInfo>, Error> {
        let locks = &self.tables.locks;
        let json = serde_json::to_string(info).expect("a LockInfo serializes");
        let tx = client.transaction().await?;
        let old = tx
            .query_opt(
                &format!("SELECT id, info FROM {locks} WHERE name = $1 FOR UPDATE"),
                &[&self.location.name],
            )
            .await?;
        tx.execute(
            &format!(
                "INSERT INTO {locks} (name, id, info, backend_pid) VALUES ($1, $2, $3, pg_backend_pid())
                 ON CONFLICT (name) DO UPDATE
                 SET id = EXCLUDED.id, info = EXCLUDED.info, backend_pid = EXCLUDED.backend_pid"
            ),
            &[&self.location.name, &info.id, &json],
        )
        .await?;
        tx.commit().await?;
        Ok(old
            .filter(|row| row.get::<_, &str>(0) != info.id)
            .map(|row| parse_info(row.get(1))))
    }

    /// The lock row, if the server process it names holds the advisory lock.
    async fn holder_on(&self, client: &Client) -> Result<Option<LockInfo>, Error> {
        let sql = format!(
            "SELECT l.info FROM {} l WHERE l.name = $1 AND {}",
            self.tables.locks,
            Tables::advisory_held(Some("l.backend_pid"), "$2")
        );
        let row = client.query_opt(&sql, &[&self.location.name, &self.key]).await?;
        Ok(row.map(|row| parse_info(row.get(0))))
    }

    pub(super) async fn holder_async(&self) -> Result<Option<LockInfo>, BackendError> {
        let action = "reading the lock of";
        let guard = self.conn(action).await?;
        let conn = guard.as_ref().expect("conn() leaves a connection");
        self.holder_on(&conn.client).await.map_err(|e| self.io(action, &e))
    }

    /// Ends the session of the lock with `id` (freeing its advisory lock) and deletes its row.
    pub(super) async fn force_unlock_async(&self, id: &str) -> Result<LockInfo, BackendError> {
        let action = "force-unlocking";
        let fail = |e: Error| self.io(action, &e);
        let guard = self.conn(action).await?;
        let client = &guard.as_ref().expect("conn() leaves a connection").client;
        let name = &self.location.name;
        let row = client
            .query_opt(
                &format!(
                    "SELECT l.info, l.backend_pid, {} FROM {} l WHERE l.name = $1 AND l.id = $2",
                    Tables::advisory_held(Some("l.backend_pid"), "$3"),
                    self.tables.locks
                ),
                &[name, &id, &self.key],
            )
            .await
            .map_err(fail)?;
        let Some(row) = row else {
            return Err(BackendError::NoSuchLock {
                location: self.describe.clone(),
                id: id.to_string(),
            });
        };
        let (info, pid, live): (LockInfo, i32, bool) = (parse_info(row.get(0)), row.get(1), row.get(2));
        if live {
            client
                .execute("SELECT pg_terminate_backend($1)", &[&pid])
                .await
                .map_err(fail)?;
            let still_held = format!("SELECT {}", Tables::advisory_held(Some("$1"), "$2"));
            let deadline = Instant::now() + TERMINATE_TIMEOUT;
            while client
                .query_one(&still_held, &[&pid, &self.key])
                .await
                .map_err(fail)?
                .get(0)
            {
                if Instant::now() >= deadline {
                    return Err(self.io_text(
                        action,
                        format!(
                            "the holder's session (server process {pid}) was asked to end but still holds the lock \
                             after {} s",
                            TERMINATE_TIMEOUT.as_secs()
                        ),
                    ));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        client
            .execute(
                &format!("DELETE FROM {} WHERE name = $1 AND id = $2", self.tables.locks),
                &[name, &id],
            )
            .await
            .map_err(fail)?;
        Ok(info)
    }
}
