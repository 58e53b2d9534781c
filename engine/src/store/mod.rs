//! Persistence through sqlx: SQLite (the default: a file in WAL mode, or
//! `sqlite::memory:`) and PostgreSQL, one migrations folder each, applied
//! when the store opens.
//!
//! Owns: the schema and the SQL; a case is one row (its state as JSON and
//! the count of its events), its history rows, and rows for its pending
//! timers and open subscriptions, so due work is found by an index. Rows of a
//! case change only inside the transaction that holds the case's row lock.
//!
//! Must not: decide process semantics. It stores what the runtime produced.

use serde::{Deserialize, Serialize};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::pool::PoolConnection;
use sqlx::AnyConnection;
use sqlx::{Any, AnyPool, AssertSqlSafe, Executor, Row};

use crate::runtime::{Event, Instance, Status, SubId, TimerId, TokenId};
use crate::time::Timestamp;

mod hooks;
mod jobs;
mod read;
mod sessions;
mod worklog;
pub use hooks::*;
pub use jobs::*;
pub use read::*;
pub use sessions::*;
pub use worklog::*;

/// Which database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database error, or data in it that does not read back.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored row cannot be read.
    #[error("stored data does not read back: {0}")]
    Corrupt(String),
    /// The database URL is not one Ravand knows.
    #[error("unsupported database URL `{0}`: use sqlite://FILE, sqlite::memory: or postgres://…")]
    Url(String),
    /// The commit shared by several units of work failed (or was
    /// abandoned): none of them is durable.
    #[error("the shared commit failed, nothing of this unit of work is durable: {0}")]
    Commit(String),
    /// Another unit of work took the same unique thing (an idempotency
    /// key) at the same moment and committed first; running this one again
    /// finds what it made.
    #[error("taken by a concurrent unit of work, run again: {0}")]
    Raced(String),
}

impl StoreError {
    /// Whether the same unit of work may simply be tried again: the
    /// connection was lost or refused, the database is restarting, or the
    /// database chose this transaction as a deadlock or serialization victim
    /// (none of these commits anything).
    pub fn is_transient(&self) -> bool {
        if matches!(self, StoreError::Raced(_)) {
            return true;
        }
        let StoreError::Db(e) = self else { return false };
        match e {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed => {
                true
            }
            sqlx::Error::Database(d) => {
                let code = d.code().map(|c| c.to_string()).unwrap_or_default();
                // PostgreSQL: serialization failure, deadlock, connection
                // exceptions (08…), shutting down or starting up (57P0x);
                // SQLite: busy, locked and their extended codes.
                matches!(
                    code.as_str(),
                    "40001" | "40P01" | "57P01" | "57P02" | "57P03" | "5" | "6" | "261" | "262" | "517"
                ) || code.starts_with("08")
            }
            _ => false,
        }
    }
}

/// A deployed definition as stored.
#[derive(Debug, Clone)]
pub struct DefinitionRow {
    pub process: String,
    pub version: u32,
    pub hash: String,
    pub name: String,
    pub source: String,
}

/// A case row.
#[derive(Debug, Clone)]
pub struct CaseRow {
    pub id: i64,
    pub process: String,
    pub version: u32,
    pub tracking_code: String,
    pub parent: Option<(i64, TokenId)>,
    /// How many ancestors the case has (0 for a case started from outside).
    pub depth: u32,
    pub state: Instance,
}

/// An open incident, as listed across cases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IncidentRow {
    /// The case.
    pub case: i64,
    /// The token stopped by it (the id to resolve).
    pub token: TokenId,
    /// Its process.
    pub process: String,
    /// The step's id.
    pub step: String,
    /// What went wrong.
    pub message: String,
    /// When it was raised.
    pub since: Timestamp,
}

/// Which incidents to list.
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    /// Only this process.
    pub process: Option<String>,
    /// Only this step's id.
    pub step: Option<String>,
    /// Raised at or after this instant.
    pub since: Option<Timestamp>,
    /// Only these processes (an actor's grants); `None` for all.
    pub processes: Option<Vec<String>>,
    /// At most this many.
    pub limit: i64,
}

/// One entry of a case's audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRow {
    /// When.
    pub at: Timestamp,
    /// Who read.
    pub who: String,
    /// What was read.
    pub what: String,
}

/// What a new case row needs besides its state.
#[derive(Debug, Clone)]
pub struct NewCase<'a> {
    pub process: &'a str,
    pub version: u32,
    pub tracking_code: &'a str,
    /// The parent case and its waiting token, for a child case.
    pub parent: Option<(i64, TokenId)>,
    /// How many ancestors it has.
    pub depth: u32,
}

/// One database transaction on a connection of its own.
///
/// Ravand does not use sqlx's `Transaction`: after a failed `COMMIT` (a full
/// disk, a lost connection) sqlx may keep counting the transaction as open,
/// and later "transactions" on the pooled connection then only nest inside
/// it as savepoints that are never committed, so acknowledged work is lost.
/// Here `BEGIN`, `COMMIT` and `ROLLBACK` are plain statements, and after any
/// failure of either the connection is closed instead of going back to the
/// pool. A `Tx` dropped unfinished (a panic, a cancelled request) is rolled
/// back on a task of its own before its connection can be reused.
pub struct Tx {
    conn: Option<PoolConnection<Any>>,
    /// An in-memory database lives in its one connection: never close it.
    keep: bool,
}

impl std::ops::Deref for Tx {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        // `conn` is `None` only inside `commit`/`rollback`, which consume the `Tx`.
        self.conn.as_ref().expect("an open transaction has its connection")
    }
}

impl AsMut<AnyConnection> for Tx {
    fn as_mut(&mut self) -> &mut AnyConnection {
        self
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        self.conn.as_mut().expect("an open transaction has its connection")
    }
}

impl Tx {
    /// Commits. On failure the transaction is rolled back where it still
    /// can be and its connection is closed; nothing of it is durable.
    pub async fn commit(mut self) -> Result<(), StoreError> {
        let Some(mut conn) = self.conn.take() else {
            return Err(StoreError::Corrupt("transaction already finished".into()));
        };
        match conn.execute("COMMIT").await {
            Ok(_) => Ok(()),
            Err(e) => {
                let _ = conn.execute("ROLLBACK").await;
                discard(conn, self.keep).await;
                Err(StoreError::Db(e))
            }
        }
    }

    /// Marks where the next unit of work sharing this transaction begins.
    pub async fn savepoint(&mut self) -> Result<(), StoreError> {
        AsMut::<AnyConnection>::as_mut(self).execute("SAVEPOINT unit").await?;
        Ok(())
    }

    /// Keeps what was done since [`Tx::savepoint`] (inside the transaction,
    /// still to be committed).
    pub async fn release(&mut self) -> Result<(), StoreError> {
        AsMut::<AnyConnection>::as_mut(self)
            .execute("RELEASE SAVEPOINT unit")
            .await?;
        Ok(())
    }

    /// Undoes everything since [`Tx::savepoint`] and nothing before it.
    pub async fn rollback_to(&mut self) -> Result<(), StoreError> {
        AsMut::<AnyConnection>::as_mut(self)
            .execute("ROLLBACK TO SAVEPOINT unit")
            .await?;
        AsMut::<AnyConnection>::as_mut(self)
            .execute("RELEASE SAVEPOINT unit")
            .await?;
        Ok(())
    }

    /// Rolls back; a connection whose rollback fails is closed.
    pub async fn rollback(mut self) -> Result<(), StoreError> {
        let Some(mut conn) = self.conn.take() else {
            return Ok(());
        };
        match conn.execute("ROLLBACK").await {
            Ok(_) => Ok(()),
            Err(e) => {
                discard(conn, self.keep).await;
                Err(StoreError::Db(e))
            }
        }
    }
}

/// Closes a connection whose transaction state is unknown (unless it holds
/// an in-memory database, which would be lost with it).
async fn discard(conn: PoolConnection<Any>, keep: bool) {
    if !keep {
        let _ = conn.close().await;
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else { return };
        let keep = self.keep;
        match tokio::runtime::Handle::try_current() {
            // The connection stays checked out until the rollback is done,
            // so nobody else can run inside the abandoned transaction.
            Ok(rt) => {
                rt.spawn(async move {
                    if conn.execute("ROLLBACK").await.is_err() {
                        discard(conn, keep).await;
                    }
                });
            }
            Err(_) => {
                if !keep {
                    conn.close_on_drop();
                }
            }
        }
    }
}

/// The store: a pool of connections to one database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    memory: bool,
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn definition_row(r: &AnyRow) -> Result<DefinitionRow, StoreError> {
    Ok(DefinitionRow {
        process: r.try_get(0)?,
        version: u32::try_from(r.try_get::<i64, _>(1)?).map_err(corrupt)?,
        hash: r.try_get(2)?,
        name: r.try_get(3)?,
        source: r.try_get(4)?,
    })
}

impl Store {
    /// Opens (creating if needed) and migrates a database:
    /// `sqlite://ravand.db`, `sqlite::memory:`, or `postgres://user@host/db`.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::Url(url.to_owned()));
        };
        let memory = backend == Backend::Sqlite && url.contains(":memory:");
        let pool = match backend {
            Backend::Sqlite => {
                let url = if memory || url.contains('?') {
                    url.to_owned()
                } else {
                    format!("{url}?mode=rwc")
                };
                AnyPoolOptions::new()
                    // One writer: SQLite serialises writes anyway; an in-memory
                    // database lives in its one connection.
                    .max_connections(if memory { 1 } else { 4 })
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            // Durable on acknowledgement: WAL, fsync at commit.
                            sqlx::query("PRAGMA journal_mode = WAL").execute(&mut *conn).await?;
                            sqlx::query("PRAGMA synchronous = FULL").execute(&mut *conn).await?;
                            sqlx::query("PRAGMA busy_timeout = 10000").execute(&mut *conn).await?;
                            // A unit of work's savepoint journal in memory,
                            // not a temporary file (durability is the WAL's).
                            sqlx::query("PRAGMA temp_store = MEMORY").execute(&mut *conn).await?;
                            sqlx::query("PRAGMA foreign_keys = ON").execute(&mut *conn).await?;
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await?
            }
            Backend::Postgres => AnyPoolOptions::new().max_connections(8).connect(url).await?,
        };
        match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await?,
            Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await?,
        }
        Ok(Store { pool, backend, memory })
    }

    /// Writes a consistent copy of a SQLite database to `file` while others
    /// keep writing (`VACUUM INTO` reads one snapshot). The copy is a whole
    /// database: `ravand serve --db sqlite://FILE` carries on from it.
    pub async fn backup_to(&self, file: &std::path::Path) -> Result<(), StoreError> {
        if self.backend != Backend::Sqlite {
            return Err(StoreError::Url(
                "backup_to is for SQLite; use pg_dump for PostgreSQL".into(),
            ));
        }
        let path = file.to_str().ok_or_else(|| corrupt("the backup path is not UTF-8"))?;
        sqlx::query("VACUUM INTO $1").bind(path).execute(&self.pool).await?;
        Ok(())
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Begins a transaction. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so a unit of work never has to upgrade a read
    /// snapshot to a write and fail with a busy snapshot.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let begin = match self.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        match conn.execute(begin).await {
            Ok(_) => Ok(Tx {
                conn: Some(conn),
                keep: self.memory,
            }),
            Err(e) => {
                let _ = conn.execute("ROLLBACK").await;
                discard(conn, self.memory).await;
                Err(StoreError::Db(e))
            }
        }
    }

    /// `FOR UPDATE` where the database has row locks.
    fn for_update(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        }
    }

    pub async fn put_calendar(&self, name: &str, source: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO calendars (name, source) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET source = excluded.source")
            .bind(name)
            .bind(source)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn calendars(&self) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query("SELECT name, source FROM calendars ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
    }

    pub async fn definitions(&self) -> Result<Vec<DefinitionRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT process, version, hash, name, source FROM definitions ORDER BY deployed_at, process, version",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(definition_row).collect()
    }

    /// Inserts a new case; returns its id.
    pub async fn insert_case(
        &self,
        tx: &mut Tx,
        new: &NewCase<'_>,
        state: &Instance,
        now: Timestamp,
    ) -> Result<i64, StoreError> {
        let json = serde_json::to_string(state).map_err(corrupt)?;
        let row = sqlx::query(
            "INSERT INTO cases (process, version, status, tracking_code, parent_case, parent_token, seq, state, started_at, updated_at, depth) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10) RETURNING id",
        )
        .bind(new.process)
        .bind(i64::from(new.version))
        .bind(state.status.as_str())
        .bind(new.tracking_code)
        .bind(new.parent.map(|p| p.0))
        .bind(new.parent.map(|p| i64::from(p.1 .0)))
        .bind(state.seq as i64)
        .bind(json)
        .bind(now.0)
        .bind(i64::from(new.depth))
        .fetch_one(&mut **tx)
        .await?;
        Ok(row.try_get(0)?)
    }

    fn case_row(r: &AnyRow) -> Result<CaseRow, StoreError> {
        let parent_case: Option<i64> = r.try_get(4)?;
        let parent_token: Option<i64> = r.try_get(5)?;
        let state: String = r.try_get(6)?;
        let depth: i64 = r.try_get(7)?;
        Ok(CaseRow {
            id: r.try_get(0)?,
            process: r.try_get(1)?,
            version: u32::try_from(r.try_get::<i64, _>(2)?).map_err(corrupt)?,
            tracking_code: r.try_get(3)?,
            parent: match (parent_case, parent_token) {
                (Some(c), Some(t)) => Some((c, TokenId(u32::try_from(t).map_err(corrupt)?))),
                _ => None,
            },
            depth: u32::try_from(depth).map_err(corrupt)?,
            state: serde_json::from_str(&state).map_err(corrupt)?,
        })
    }

    const CASE_COLUMNS: &'static str = "id, process, version, tracking_code, parent_case, parent_token, state, depth";

    /// Reads a case and holds its row lock until the transaction ends.
    pub async fn lock_case(&self, tx: &mut Tx, id: i64) -> Result<Option<CaseRow>, StoreError> {
        let sql = format!(
            "SELECT {} FROM cases WHERE id = $1{}",
            Self::CASE_COLUMNS,
            self.for_update()
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
        row.as_ref().map(Self::case_row).transpose()
    }

    /// Reads a case without locking it.
    pub async fn case(&self, id: i64) -> Result<Option<CaseRow>, StoreError> {
        let sql = format!("SELECT {} FROM cases WHERE id = $1", Self::CASE_COLUMNS);
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(Self::case_row).transpose()
    }

    /// Writes a case's new state, its new events, its incident rows, and
    /// the rows derived from its state (`read`: timers, subscriptions, read
    /// models; `before`: those already stored, when known, so that only
    /// what changed is written). `incidents` are the case's open incidents as (token, step id,
    /// message), given when they may have changed; a row keeps the instant
    /// it was first written.
    #[allow(clippy::too_many_arguments)]
    pub async fn save_case(
        &self,
        tx: &mut Tx,
        id: i64,
        state: &Instance,
        new_events: &[Event],
        now: Timestamp,
        incidents: Option<&[(TokenId, String, String)]>,
        read: &ReadRows,
        before: Option<&ReadRows>,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(state).map_err(corrupt)?;
        sqlx::query("UPDATE cases SET status = $1, seq = $2, state = $3, updated_at = $4 WHERE id = $5")
            .bind(state.status.as_str())
            .bind(state.seq as i64)
            .bind(json)
            .bind(now.0)
            .bind(id)
            .execute(&mut **tx)
            .await?;
        // Events, in chunks of one statement each; the database numbers
        // them for the feed (an AUTOINCREMENT key on SQLite, a sequence and
        // the transaction's id on PostgreSQL).
        for chunk in new_events.chunks(100) {
            let mut sql = String::from("INSERT INTO events (case_id, seq, at, kind, body) VALUES ");
            for i in 0..chunk.len() {
                let b = i * 5;
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!("(${}, ${}, ${}, ${}, ${})", b + 1, b + 2, b + 3, b + 4, b + 5));
            }
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for e in chunk {
                let body = serde_json::to_string(e).map_err(corrupt)?;
                let kind = kind_name(&body);
                q = q.bind(id).bind(e.seq as i64).bind(e.at.0).bind(kind).bind(body);
            }
            q.execute(&mut **tx).await?;
        }
        // Timer and subscription rows only where they changed: most
        // commands move a case without touching what it waits for.
        if before.is_none_or(|b| b.timers != read.timers) {
            sqlx::query("DELETE FROM timers WHERE case_id = $1")
                .bind(id)
                .execute(&mut **tx)
                .await?;
            for (timer, due) in &read.timers {
                sqlx::query("INSERT INTO timers (case_id, timer_id, due) VALUES ($1, $2, $3)")
                    .bind(id)
                    .bind(timer)
                    .bind(due)
                    .execute(&mut **tx)
                    .await?;
            }
        }
        if before.is_none_or(|b| b.subs != read.subs) {
            sqlx::query("DELETE FROM subscriptions WHERE case_id = $1")
                .bind(id)
                .execute(&mut **tx)
                .await?;
            for (sub, message, key) in &read.subs {
                sqlx::query("INSERT INTO subscriptions (case_id, sub_id, message, key) VALUES ($1, $2, $3, $4)")
                    .bind(id)
                    .bind(sub)
                    .bind(message)
                    .bind(key.as_deref())
                    .execute(&mut **tx)
                    .await?;
            }
        }
        if let Some(incidents) = incidents {
            let mut sql = String::from("DELETE FROM incidents WHERE case_id = $1");
            if !incidents.is_empty() {
                let list: Vec<String> = incidents.iter().map(|i| i.0.to_string()).collect();
                sql.push_str(&format!(" AND token NOT IN ({})", list.join(", ")));
            }
            sqlx::query(AssertSqlSafe(sql)).bind(id).execute(&mut **tx).await?;
            for (token, step, message) in incidents {
                sqlx::query("INSERT INTO incidents (case_id, token, process, step, message, since) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (case_id, token) DO NOTHING")
                    .bind(id)
                    .bind(i64::from(token.0))
                    .bind(&state.process)
                    .bind(step)
                    .bind(message)
                    .bind(now.0)
                    .execute(&mut **tx)
                    .await?;
            }
        }
        self.write_read_rows(tx, id, read, before).await
    }

    /// Open incidents across cases, oldest first.
    pub async fn incidents(&self, f: &IncidentFilter) -> Result<Vec<IncidentRow>, StoreError> {
        let mut sql =
            String::from("SELECT case_id, token, process, step, message, since FROM incidents WHERE since >= $1");
        let mut n = 1;
        if f.process.is_some() {
            n += 1;
            sql.push_str(&format!(" AND process = ${n}"));
        }
        if f.step.is_some() {
            n += 1;
            sql.push_str(&format!(" AND step = ${n}"));
        }
        if let Some(ps) = &f.processes {
            if ps.is_empty() {
                return Ok(Vec::new());
            }
            let marks: Vec<String> = (0..ps.len()).map(|i| format!("${}", n + 1 + i)).collect();
            sql.push_str(&format!(" AND process IN ({})", marks.join(", ")));
        }
        sql.push_str(&format!(" ORDER BY since, case_id, token LIMIT {}", f.limit.max(1)));
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(f.since.map_or(i64::MIN, |t| t.0));
        if let Some(p) = &f.process {
            q = q.bind(p.clone());
        }
        if let Some(s) = &f.step {
            q = q.bind(s.clone());
        }
        for p in f.processes.iter().flatten() {
            q = q.bind(p.clone());
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(IncidentRow {
                    case: r.try_get(0)?,
                    token: TokenId(u32::try_from(r.try_get::<i64, _>(1)?).map_err(corrupt)?),
                    process: r.try_get(2)?,
                    step: r.try_get(3)?,
                    message: r.try_get(4)?,
                    since: Timestamp(r.try_get(5)?),
                })
            })
            .collect()
    }

    /// Appends to a case's audit trail.
    pub async fn audit(&self, tx: &mut Tx, case: i64, at: Timestamp, who: &str, what: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO audit (case_id, at, who, what) VALUES ($1, $2, $3, $4)")
            .bind(case)
            .bind(at.0)
            .bind(who)
            .bind(what)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// A case's audit trail, oldest first.
    pub async fn audit_of(&self, case: i64) -> Result<Vec<AuditRow>, StoreError> {
        let rows = sqlx::query("SELECT at, who, what FROM audit WHERE case_id = $1 ORDER BY at")
            .bind(case)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditRow {
                    at: Timestamp(r.try_get(0)?),
                    who: r.try_get(1)?,
                    what: r.try_get(2)?,
                })
            })
            .collect()
    }

    /// A marker of the `meta` table.
    pub async fn meta(&self, tx: &mut Tx, key: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&mut **tx)
            .await?;
        row.map(|r| Ok(r.try_get(0)?)).transpose()
    }

    /// Sets a marker of the `meta` table.
    pub async fn set_meta(&self, tx: &mut Tx, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// The unfinished child case a parent's token waits for.
    pub async fn child_of(&self, tx: &mut Tx, parent: i64, token: TokenId) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT id FROM cases WHERE parent_case = $1 AND parent_token = $2 AND {} ORDER BY id LIMIT 1",
            open_statuses()
        )))
        .bind(parent)
        .bind(i64::from(token.0))
        .fetch_optional(&mut **tx)
        .await?;
        row.map(|r| Ok(r.try_get(0)?)).transpose()
    }

    /// A deployed definition, read inside a unit of work.
    pub async fn definition(
        &self,
        tx: &mut Tx,
        process: &str,
        version: u32,
    ) -> Result<Option<DefinitionRow>, StoreError> {
        let row = sqlx::query(
            "SELECT process, version, hash, name, source FROM definitions WHERE process = $1 AND version = $2",
        )
        .bind(process)
        .bind(i64::from(version))
        .fetch_optional(&mut **tx)
        .await?;
        row.as_ref().map(definition_row).transpose()
    }

    /// The newest deployed version of a process, read inside a unit of work.
    pub async fn latest_version(&self, tx: &mut Tx, process: &str) -> Result<Option<u32>, StoreError> {
        let v: Option<i64> = sqlx::query("SELECT MAX(version) FROM definitions WHERE process = $1")
            .bind(process)
            .fetch_one(&mut **tx)
            .await?
            .try_get(0)?;
        v.map(|v| u32::try_from(v).map_err(corrupt)).transpose()
    }

    /// The calendars, read inside a unit of work.
    pub async fn calendars_in(&self, tx: &mut Tx) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query("SELECT name, source FROM calendars ORDER BY name")
            .fetch_all(&mut **tx)
            .await?;
        rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
    }

    /// Stores a definition inside a unit of work; `false` when (process,
    /// version) was already there.
    pub async fn insert_definition(&self, tx: &mut Tx, d: &DefinitionRow, now: Timestamp) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO definitions (process, version, hash, name, source, deployed_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (process, version) DO NOTHING",
        )
        .bind(&d.process)
        .bind(i64::from(d.version))
        .bind(&d.hash)
        .bind(&d.name)
        .bind(&d.source)
        .bind(now.0)
        .execute(&mut **tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Claims up to `limit` timers due at or before `now`, earliest first;
    /// on PostgreSQL rows another engine holds are skipped, and the claim
    /// lasts until the transaction ends.
    pub async fn claim_due_timers(
        &self,
        tx: &mut Tx,
        now: Timestamp,
        limit: i64,
        skip_cases: &[i64],
    ) -> Result<Vec<(i64, TimerId, Timestamp)>, StoreError> {
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let skip = if skip_cases.is_empty() {
            String::new()
        } else {
            let ids: Vec<String> = skip_cases.iter().map(i64::to_string).collect();
            format!(" AND case_id NOT IN ({})", ids.join(", "))
        };
        let sql = format!(
            "SELECT case_id, timer_id, due FROM timers WHERE due <= $1{skip} ORDER BY due, case_id, timer_id LIMIT $2{lock}"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(now.0)
            .bind(limit)
            .fetch_all(&mut **tx)
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    TimerId(u32::try_from(r.try_get::<i64, _>(1)?).map_err(corrupt)?),
                    Timestamp(r.try_get(2)?),
                ))
            })
            .collect()
    }

    /// The earliest due instant of any timer or recurring start.
    pub async fn next_due(&self) -> Result<Option<Timestamp>, StoreError> {
        let a: Option<i64> = sqlx::query("SELECT MIN(due) FROM timers")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        let b: Option<i64> = sqlx::query("SELECT MIN(due) FROM schedules")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        Ok(a.into_iter().chain(b).min().map(Timestamp))
    }

    /// The oldest open subscription for a message and key (one without a key
    /// takes any), among the cases of `processes` when given.
    pub async fn find_subscription(
        &self,
        tx: &mut Tx,
        message: &str,
        key: Option<&str>,
        processes: Option<&[String]>,
    ) -> Result<Option<(i64, SubId)>, StoreError> {
        let mut sql = String::from(
            "SELECT s.case_id, s.sub_id FROM subscriptions s JOIN cases c ON c.id = s.case_id WHERE s.message = $1 AND (s.key IS NULL OR s.key = $2)",
        );
        if let Some(ps) = processes {
            if ps.is_empty() {
                return Ok(None);
            }
            let marks: Vec<String> = (0..ps.len()).map(|i| format!("${}", i + 3)).collect();
            sql.push_str(&format!(" AND c.process IN ({})", marks.join(", ")));
        }
        sql.push_str(" ORDER BY s.case_id, s.sub_id LIMIT 1");
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(message).bind(key);
        for p in processes.into_iter().flatten() {
            q = q.bind(p.clone());
        }
        let row = q.fetch_optional(&mut **tx).await?;
        row.map(|r| {
            Ok((
                r.try_get(0)?,
                SubId(u32::try_from(r.try_get::<i64, _>(1)?).map_err(corrupt)?),
            ))
        })
        .transpose()
    }

    /// The case a request with this idempotency key went to (a start, a
    /// completion or a message: one key space per caller), and the digest
    /// of that request, seen from inside a unit of work.
    pub async fn start_key(&self, tx: &mut Tx, owner: &str, key: &str) -> Result<Option<(i64, String)>, StoreError> {
        let row = sqlx::query("SELECT case_id, digest FROM start_keys WHERE owner = $1 AND idem_key = $2")
            .bind(owner)
            .bind(key)
            .fetch_optional(&mut **tx)
            .await?;
        row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
    }

    /// Records that a start with this key made `case`, in the start's unit
    /// of work. A key another unit of work took at the same moment (it
    /// committed while this one ran) is [`StoreError::Raced`]: this unit of
    /// work runs again and finds that start.
    pub async fn take_start_key(
        &self,
        tx: &mut Tx,
        owner: &str,
        key: &str,
        digest: &str,
        case: i64,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "INSERT INTO start_keys (owner, idem_key, digest, case_id, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (owner, idem_key) DO NOTHING",
        )
        .bind(owner)
        .bind(key)
        .bind(digest)
        .bind(case)
        .bind(now.0)
        .execute(&mut **tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Raced(format!("idempotency key `{key}`")));
        }
        Ok(())
    }

    /// A case's tracking code, seen from inside a unit of work.
    pub async fn tracking_code_of(&self, tx: &mut Tx, case: i64) -> Result<String, StoreError> {
        let row = sqlx::query("SELECT tracking_code FROM cases WHERE id = $1")
            .bind(case)
            .fetch_one(&mut **tx)
            .await?;
        Ok(row.try_get(0)?)
    }

    /// Whether a tracking code is taken, seen from inside a unit of work.
    pub async fn code_taken(&self, tx: &mut Tx, code: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 FROM cases WHERE tracking_code = $1")
            .bind(code)
            .fetch_optional(&mut **tx)
            .await?;
        Ok(row.is_some())
    }

    /// The case with this tracking code.
    pub async fn find_by_code(&self, code: &str) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query("SELECT id FROM cases WHERE tracking_code = $1")
            .bind(code)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok(r.try_get(0)?)).transpose()
    }

    /// Cases: id, process, status.
    pub async fn cases(&self) -> Result<Vec<(i64, String, Status)>, StoreError> {
        let rows = sqlx::query("SELECT id, process, status FROM cases ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    r.try_get(1)?,
                    status_from_name(&r.try_get::<String, _>(2)?)?,
                ))
            })
            .collect()
    }

    /// Every case not finished, with its state (worklists, overdue lists).
    pub async fn open_cases(&self) -> Result<Vec<CaseRow>, StoreError> {
        let sql = format!(
            "SELECT {} FROM cases WHERE {} ORDER BY id",
            Self::CASE_COLUMNS,
            open_statuses()
        );
        let rows = sqlx::query(AssertSqlSafe(sql)).fetch_all(&self.pool).await?;
        rows.iter().map(Self::case_row).collect()
    }

    /// A case's history, in order.
    pub async fn history(&self, id: i64) -> Result<Vec<Event>, StoreError> {
        let rows = sqlx::query("SELECT body FROM events WHERE case_id = $1 ORDER BY seq")
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let body: String = r.try_get(0)?;
                serde_json::from_str(&body).map_err(corrupt)
            })
            .collect()
    }

    /// Sets the next recurring start of a process.
    pub async fn put_schedule(
        &self,
        tx: &mut Tx,
        process: &str,
        version: u32,
        due: Timestamp,
        n: u32,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO schedules (process, version, due, n) VALUES ($1, $2, $3, $4) ON CONFLICT (process) DO UPDATE SET version = excluded.version, due = excluded.due, n = excluded.n")
            .bind(process)
            .bind(i64::from(version))
            .bind(due.0)
            .bind(i64::from(n))
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    pub async fn delete_schedule(&self, tx: &mut Tx, process: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM schedules WHERE process = $1")
            .bind(process)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Claims the earliest recurring start due at or before `now`, but for
    /// those of `skip`.
    pub async fn claim_due_schedule(
        &self,
        tx: &mut Tx,
        now: Timestamp,
        skip: &[String],
    ) -> Result<Option<ScheduleRow>, StoreError> {
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let marks: Vec<String> = (0..skip.len()).map(|i| format!("${}", i + 2)).collect();
        let skip_sql = if skip.is_empty() {
            String::new()
        } else {
            format!(" AND process NOT IN ({})", marks.join(", "))
        };
        let sql = format!(
            "SELECT process, version, due, n FROM schedules WHERE due <= $1{skip_sql} ORDER BY due, process LIMIT 1{lock}"
        );
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(now.0);
        for p in skip {
            q = q.bind(p.clone());
        }
        let row = q.fetch_optional(&mut **tx).await?;
        row.map(|r| {
            Ok(ScheduleRow {
                process: r.try_get(0)?,
                version: u32::try_from(r.try_get::<i64, _>(1)?).map_err(corrupt)?,
                due: Timestamp(r.try_get(2)?),
                n: u32::try_from(r.try_get::<i64, _>(3)?).map_err(corrupt)?,
            })
        })
        .transpose()
    }

    pub async fn schedule_of(&self, process: &str) -> Result<Option<Timestamp>, StoreError> {
        let row = sqlx::query("SELECT due FROM schedules WHERE process = $1")
            .bind(process)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok(Timestamp(r.try_get(0)?))).transpose()
    }
}

/// A recurring start's row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScheduleRow {
    pub process: String,
    pub version: u32,
    pub due: Timestamp,
    pub n: u32,
}

/// A case status from its stored name; an unknown name is a corrupt row.
pub fn status_from_name(s: &str) -> Result<Status, StoreError> {
    Status::from_name(s).ok_or_else(|| corrupt(format!("unknown case status `{s}`")))
}

/// `status IN (…)` for the cases that are not finished.
fn open_statuses() -> String {
    format!(
        "status IN ('{}', '{}')",
        Status::Running.as_str(),
        Status::Suspended.as_str()
    )
}

/// The `type` of a serialised event (its first field after seq and at).
fn kind_name(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_owned))
        .unwrap_or_default()
}
