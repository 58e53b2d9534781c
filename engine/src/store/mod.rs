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
use sqlx::{Any, AnyPool, AssertSqlSafe, Row, Transaction};

use crate::runtime::{Event, Instance};
use crate::time::Timestamp;

/// Which database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database error, or data in it that does not read back.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data does not read back: {0}")]
    Corrupt(String),
    #[error("unsupported database URL `{0}`: use sqlite://FILE, sqlite::memory: or postgres://…")]
    Url(String),
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
    pub parent: Option<(i64, u32)>,
    pub state: Instance,
}

/// What a new case row needs besides its state.
#[derive(Debug, Clone)]
pub struct NewCase<'a> {
    pub process: &'a str,
    pub version: u32,
    pub tracking_code: &'a str,
    /// The parent case and its waiting token, for a child case.
    pub parent: Option<(i64, u32)>,
}

/// A transaction.
pub type Tx = Transaction<'static, Any>;

/// The store: a pool of connections to one database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
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
        let pool = match backend {
            Backend::Sqlite => {
                let memory = url.contains(":memory:");
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
        Ok(Store { pool, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn begin(&self) -> Result<Tx, StoreError> {
        Ok(self.pool.begin().await?)
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

    /// Stores a definition; `false` when (process, version) was already there.
    pub async fn put_definition(&self, d: &DefinitionRow, now: Timestamp) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO definitions (process, version, hash, name, source, deployed_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (process, version) DO NOTHING",
        )
        .bind(&d.process)
        .bind(i64::from(d.version))
        .bind(&d.hash)
        .bind(&d.name)
        .bind(&d.source)
        .bind(now.0)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn definitions(&self) -> Result<Vec<DefinitionRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT process, version, hash, name, source FROM definitions ORDER BY deployed_at, process, version",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DefinitionRow {
                    process: r.try_get(0)?,
                    version: u32::try_from(r.try_get::<i64, _>(1)?).map_err(corrupt)?,
                    hash: r.try_get(2)?,
                    name: r.try_get(3)?,
                    source: r.try_get(4)?,
                })
            })
            .collect()
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
            "INSERT INTO cases (process, version, status, tracking_code, parent_case, parent_token, seq, state, started_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id",
        )
        .bind(new.process)
        .bind(i64::from(new.version))
        .bind(status_name(state))
        .bind(new.tracking_code)
        .bind(new.parent.map(|p| p.0))
        .bind(new.parent.map(|p| i64::from(p.1)))
        .bind(state.seq as i64)
        .bind(json)
        .bind(now.0)
        .fetch_one(&mut **tx)
        .await?;
        Ok(row.try_get(0)?)
    }

    fn case_row(r: &AnyRow) -> Result<CaseRow, StoreError> {
        let parent_case: Option<i64> = r.try_get(4)?;
        let parent_token: Option<i64> = r.try_get(5)?;
        let state: String = r.try_get(6)?;
        Ok(CaseRow {
            id: r.try_get(0)?,
            process: r.try_get(1)?,
            version: u32::try_from(r.try_get::<i64, _>(2)?).map_err(corrupt)?,
            tracking_code: r.try_get(3)?,
            parent: match (parent_case, parent_token) {
                (Some(c), Some(t)) => Some((c, u32::try_from(t).map_err(corrupt)?)),
                _ => None,
            },
            state: serde_json::from_str(&state).map_err(corrupt)?,
        })
    }

    const CASE_COLUMNS: &'static str = "id, process, version, tracking_code, parent_case, parent_token, state";

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

    /// Writes a case's new state, its new events, and its timer and
    /// subscription rows, as they are in `state`.
    pub async fn save_case(
        &self,
        tx: &mut Tx,
        id: i64,
        state: &Instance,
        new_events: &[Event],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(state).map_err(corrupt)?;
        sqlx::query("UPDATE cases SET status = $1, seq = $2, state = $3, updated_at = $4 WHERE id = $5")
            .bind(status_name(state))
            .bind(state.seq as i64)
            .bind(json)
            .bind(now.0)
            .bind(id)
            .execute(&mut **tx)
            .await?;
        // Events, in chunks of one statement each.
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
        sqlx::query("DELETE FROM timers WHERE case_id = $1")
            .bind(id)
            .execute(&mut **tx)
            .await?;
        for t in state.timers.iter().filter(|t| t.due.is_some()) {
            sqlx::query("INSERT INTO timers (case_id, timer_id, due) VALUES ($1, $2, $3)")
                .bind(id)
                .bind(i64::from(t.id))
                .bind(t.due.map_or(0, |d| d.0))
                .execute(&mut **tx)
                .await?;
        }
        sqlx::query("DELETE FROM subscriptions WHERE case_id = $1")
            .bind(id)
            .execute(&mut **tx)
            .await?;
        for s in &state.subscriptions {
            sqlx::query("INSERT INTO subscriptions (case_id, sub_id, message, key) VALUES ($1, $2, $3, $4)")
                .bind(id)
                .bind(i64::from(s.id))
                .bind(&s.message)
                .bind(s.key.as_deref())
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Claims up to `limit` timers due at or before `now`, earliest first;
    /// on PostgreSQL rows another engine holds are skipped, and the claim
    /// lasts until the transaction ends.
    pub async fn claim_due_timers(
        &self,
        tx: &mut Tx,
        now: Timestamp,
        limit: i64,
    ) -> Result<Vec<(i64, u32, Timestamp)>, StoreError> {
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "SELECT case_id, timer_id, due FROM timers WHERE due <= $1 ORDER BY due, case_id, timer_id LIMIT $2{lock}"
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
                    u32::try_from(r.try_get::<i64, _>(1)?).map_err(corrupt)?,
                    Timestamp(r.try_get(2)?),
                ))
            })
            .collect()
    }

    /// Removes a timer row (fired, or gone from the case).
    pub async fn delete_timer(&self, tx: &mut Tx, case: i64, timer: u32) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM timers WHERE case_id = $1 AND timer_id = $2")
            .bind(case)
            .bind(i64::from(timer))
            .execute(&mut **tx)
            .await?;
        Ok(())
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
    /// takes any).
    pub async fn find_subscription(&self, message: &str, key: Option<&str>) -> Result<Option<(i64, u32)>, StoreError> {
        let row = sqlx::query("SELECT case_id, sub_id FROM subscriptions WHERE message = $1 AND (key IS NULL OR key = $2) ORDER BY case_id, sub_id LIMIT 1")
            .bind(message)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok((r.try_get(0)?, u32::try_from(r.try_get::<i64, _>(1)?).map_err(corrupt)?)))
            .transpose()
    }

    pub async fn find_by_code(&self, code: &str) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query("SELECT id FROM cases WHERE tracking_code = $1")
            .bind(code)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok(r.try_get(0)?)).transpose()
    }

    /// Cases: id, process, status.
    pub async fn cases(&self) -> Result<Vec<(i64, String, String)>, StoreError> {
        let rows = sqlx::query("SELECT id, process, status FROM cases ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
    }

    /// Every case not finished, with its state (worklists, overdue lists).
    pub async fn open_cases(&self) -> Result<Vec<CaseRow>, StoreError> {
        let sql = format!(
            "SELECT {} FROM cases WHERE status IN ('running', 'suspended') ORDER BY id",
            Self::CASE_COLUMNS
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

    /// Claims the earliest recurring start due at or before `now`.
    pub async fn claim_due_schedule(&self, tx: &mut Tx, now: Timestamp) -> Result<Option<ScheduleRow>, StoreError> {
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "SELECT process, version, due, n FROM schedules WHERE due <= $1 ORDER BY due, process LIMIT 1{lock}"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(now.0)
            .fetch_optional(&mut **tx)
            .await?;
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

fn status_name(st: &Instance) -> &'static str {
    use crate::runtime::Status::*;
    match st.status {
        Running => "running",
        Suspended => "suspended",
        Completed => "completed",
        Terminated => "terminated",
        Cancelled => "cancelled",
    }
}

/// The `type` of a serialised event (its first field after seq and at).
fn kind_name(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_owned))
        .unwrap_or_default()
}
