//! The tables' names and definitions, and the statements every connection prepares once
//! (one round trip each use, pipelined where a write needs several).

use tokio_postgres::{Client, Error, Statement};

/// The tables a schema holds; all must exist for the schema to be used as it is.
pub(super) const TABLE_NAMES: [&str; 4] = ["fgform_states", "fgform_versions", "fgform_journal", "fgform_locks"];

/// Schema-qualified table names. The schema is validated (letters, digits, `_`) before
/// it gets here, and quoted.
pub(super) struct Tables {
    schema: String,
    pub(super) states: String,
    pub(super) versions: String,
    pub(super) journal: String,
    pub(super) locks: String,
}

impl Tables {
    pub(super) fn new(schema: &str) -> Tables {
        debug_assert!(schema.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        let schema = format!("\"{schema}\"");
        let [states, versions, journal, locks] = TABLE_NAMES.map(|table| format!("{schema}.{table}"));
        Tables {
            schema,
            states,
            versions,
            journal,
            locks,
        }
    }

    /// Creates what is missing. With `lz4` (PostgreSQL 14 and later, when built with it)
    /// bodies are compressed with LZ4 rather than pglz: a 15 MB state is written in about a
    /// third of the time.
    pub(super) fn ddl(&self, lz4: bool) -> String {
        let compression = if lz4 { "COMPRESSION lz4 " } else { "" };
        let Tables {
            schema,
            states,
            versions,
            journal,
            locks,
        } = self;
        format!(
            "CREATE SCHEMA IF NOT EXISTS {schema};
             CREATE TABLE IF NOT EXISTS {states} (
                 name text PRIMARY KEY,
                 serial bigint NOT NULL,
                 lineage text NOT NULL);
             CREATE TABLE IF NOT EXISTS {versions} (
                 name text NOT NULL,
                 serial bigint NOT NULL,
                 who text NOT NULL,
                 operation text NOT NULL,
                 written_at text NOT NULL,
                 body bytea {compression}NOT NULL,
                 PRIMARY KEY (name, serial));
             CREATE TABLE IF NOT EXISTS {journal} (
                 id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                 name text NOT NULL,
                 base_serial bigint NOT NULL,
                 sequence bigint NOT NULL,
                 entry bytea NOT NULL);
             CREATE INDEX IF NOT EXISTS fgform_journal_by_name ON {journal} (name, base_serial, sequence, id);
             CREATE TABLE IF NOT EXISTS {locks} (
                 name text PRIMARY KEY,
                 id text NOT NULL,
                 info text NOT NULL,
                 backend_pid integer NOT NULL);"
        )
    }

    /// A condition true when server process `pid` holds the advisory lock `key` (both SQL
    /// expressions; any process when `pid` is `None`) in this database: the bigint form of `pg_advisory_lock` shows in
    /// `pg_locks` as its high and low 32 bits with `objsubid = 1`.
    pub(super) fn advisory_held(pid: Option<&str>, key: &str) -> String {
        let by = pid.map(|pid| format!(" AND p.pid = {pid}")).unwrap_or_default();
        format!(
            "EXISTS (SELECT 1 FROM pg_catalog.pg_locks p
                     WHERE p.locktype = 'advisory' AND p.granted AND p.objsubid = 1
                       AND p.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
                       AND p.classid::int8 = (({key})::int8 >> 32) & 4294967295
                       AND p.objid::int8 = ({key})::int8 & 4294967295{by})"
        )
    }
}

/// The statements of the read/write connection.
pub(super) struct Statements {
    /// `$1` name → serial, body.
    pub(super) read: Statement,
    /// `$1` name, `$2` serial, `$3` lineage; no row when the state exists.
    pub(super) insert_state: Statement,
    /// `$1` name, `$2` serial, `$3` lineage, `$4` expected serial.
    pub(super) update_state: Statement,
    /// `$1` name → serial.
    pub(super) current_serial: Statement,
    /// `$1` name, `$2` serial, `$3` who, `$4` operation, `$5` at, `$6` body.
    pub(super) insert_version: Statement,
    /// `$1` name, `$2` how many to keep.
    pub(super) prune_versions: Statement,
    /// `$1` name, `$2` the new serial.
    pub(super) prune_journal: Statement,
    /// `$1` name, `$2` base serial, `$3` entry.
    pub(super) append_journal: Statement,
    /// `$1` name → id, entry.
    pub(super) read_journal: Statement,
    /// `$1` name → serial, who, operation, at.
    pub(super) history: Statement,
    /// `$1` name, `$2` serial → body.
    pub(super) read_serial: Statement,
}

impl Statements {
    /// Prepares them all in one pipeline.
    pub(super) async fn prepare(client: &Client, tables: &Tables) -> Result<Statements, Error> {
        let Tables {
            states,
            versions,
            journal,
            ..
        } = tables;
        let texts = [
            format!(
                "SELECT s.serial, v.body FROM {states} s
                 JOIN {versions} v ON v.name = s.name AND v.serial = s.serial WHERE s.name = $1"
            ),
            format!("INSERT INTO {states} (name, serial, lineage) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING"),
            format!("UPDATE {states} SET serial = $2, lineage = $3 WHERE name = $1 AND serial = $4"),
            format!("SELECT serial FROM {states} WHERE name = $1"),
            format!(
                "INSERT INTO {versions} (name, serial, who, operation, written_at, body)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (name, serial) DO UPDATE SET who = EXCLUDED.who, operation = EXCLUDED.operation,
                     written_at = EXCLUDED.written_at, body = EXCLUDED.body"
            ),
            format!(
                "DELETE FROM {versions} WHERE name = $1 AND serial NOT IN
                 (SELECT serial FROM {versions} WHERE name = $1 ORDER BY serial DESC LIMIT $2)"
            ),
            format!("DELETE FROM {journal} WHERE name = $1 AND base_serial < $2"),
            format!("INSERT INTO {journal} (name, base_serial, sequence, entry) VALUES ($1, $2, $3, $4)"),
            format!("SELECT id, entry FROM {journal} WHERE name = $1 ORDER BY base_serial, sequence, id"),
            format!("SELECT serial, who, operation, written_at FROM {versions} WHERE name = $1 ORDER BY serial"),
            format!("SELECT body FROM {versions} WHERE name = $1 AND serial = $2"),
        ];
        let prepared = futures::future::try_join_all(texts.iter().map(|text| client.prepare(text))).await?;
        let [read, insert_state, update_state, current_serial, insert_version, prune_versions, prune_journal, append_journal, read_journal, history, read_serial] =
            <[Statement; 11]>::try_from(prepared).expect("one statement per text");
        Ok(Statements {
            read,
            insert_state,
            update_state,
            current_serial,
            insert_version,
            prune_versions,
            prune_journal,
            append_journal,
            read_journal,
            history,
            read_serial,
        })
    }
}
