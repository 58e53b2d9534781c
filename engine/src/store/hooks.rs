//! Webhook subscriptions: what each wants (event kinds, a process), where
//! it is in the event feed, and its delivery state (failures, the next
//! attempt, a short lease so one node at a time delivers it).
//!
//! Must not: copy events into a table of their own (the events table is the
//! outbox, written in the case's transaction), or move a cursor backwards.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{corrupt, Backend, Store, StoreError};
use crate::time::Timestamp;

/// How many times (10 ms apart) a new subscription waits for the
/// transactions running when it was asked for to end (see `feed_end`).
const FEED_END_WAITS: u32 = 500;

/// A webhook subscription as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRow {
    /// Its id.
    pub id: i64,
    /// Where events are posted.
    pub url: String,
    /// The event kinds it wants (`type` of an event); empty for all.
    pub kinds: Vec<String>,
    /// Only events of this process's cases.
    pub process: Option<String>,
    /// The HMAC key its deliveries are signed with.
    pub secret: String,
    /// When it was made.
    pub created_at: Timestamp,
    /// The feed position of the last event handled (delivered or not
    /// wanted).
    pub cursor: (i64, i64),
    /// Events delivered.
    pub delivered: i64,
    /// Failed attempts since the last delivery.
    pub failures: i64,
    /// Not tried again before this instant.
    pub next_attempt: Timestamp,
    /// The last failure.
    pub last_error: Option<String>,
}

const COLUMNS: &str =
    "id, url, kinds, process, secret, created_at, cursor_tx, cursor_pos, delivered, failures, next_attempt, last_error";

fn webhook_row(r: &AnyRow) -> Result<WebhookRow, StoreError> {
    let kinds: String = r.try_get(2)?;
    Ok(WebhookRow {
        id: r.try_get(0)?,
        url: r.try_get(1)?,
        kinds: serde_json::from_str(&kinds).map_err(corrupt)?,
        process: r.try_get(3)?,
        secret: r.try_get(4)?,
        created_at: Timestamp(r.try_get(5)?),
        cursor: (r.try_get(6)?, r.try_get(7)?),
        delivered: r.try_get(8)?,
        failures: r.try_get(9)?,
        next_attempt: Timestamp(r.try_get(10)?),
        last_error: r.try_get(11)?,
    })
}

impl Store {
    /// The feed position everything committed so far is at or before: a
    /// new subscription starts after it. On PostgreSQL, positions of
    /// transactions still running are not passed.
    pub async fn feed_end(&self) -> Result<(i64, i64), StoreError> {
        match self.backend {
            Backend::Sqlite => {
                let r = sqlx::query("SELECT 0, COALESCE(MAX(pos), 0) FROM events")
                    .fetch_one(&self.pool)
                    .await?;
                Ok((r.try_get(0)?, r.try_get(1)?))
            }
            Backend::Postgres => {
                // Every transaction below `xmax` began before this call.
                // Once all of them have ended (the oldest running is at
                // `xmax` or later), the end is exact: those that committed
                // are before it, every later one after. A transaction held
                // open elsewhere for longer than the wait leaves the older,
                // earlier end (`xmin`): a few events already committed may
                // then be sent too (at least once, never lost).
                let xmax: i64 = sqlx::query("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint")
                    .fetch_one(&self.pool)
                    .await?
                    .try_get(0)?;
                let mut xmin = xmax;
                for _ in 0..FEED_END_WAITS {
                    xmin = sqlx::query("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
                        .fetch_one(&self.pool)
                        .await?
                        .try_get(0)?;
                    if xmin >= xmax {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
                Ok((xmin.min(xmax) - 1, i64::MAX))
            }
        }
    }

    /// Stores a subscription starting after `cursor`; returns its id.
    pub async fn insert_webhook(
        &self,
        url: &str,
        kinds: &[String],
        process: Option<&str>,
        secret: &str,
        now: Timestamp,
        cursor: (i64, i64),
    ) -> Result<i64, StoreError> {
        let kinds = serde_json::to_string(kinds).map_err(corrupt)?;
        let r = sqlx::query(
            "INSERT INTO webhooks (url, kinds, process, secret, created_at, cursor_tx, cursor_pos) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(url)
        .bind(kinds)
        .bind(process)
        .bind(secret)
        .bind(now.0)
        .bind(cursor.0)
        .bind(cursor.1)
        .fetch_one(&self.pool)
        .await?;
        Ok(r.try_get(0)?)
    }

    /// Every subscription, by id.
    pub async fn webhooks(&self) -> Result<Vec<WebhookRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM webhooks ORDER BY id"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(webhook_row).collect()
    }

    /// Removes a subscription; `false` when there was none.
    pub async fn delete_webhook(&self, id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM webhooks WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Takes a subscription for delivery until `until`, if it is due (its
    /// backoff over) and nobody holds it; the row as taken.
    pub async fn lease_webhook(
        &self,
        id: i64,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Option<WebhookRow>, StoreError> {
        let done = sqlx::query(
            "UPDATE webhooks SET lease_until = $1 WHERE id = $2 AND lease_until <= $3 AND next_attempt <= $3",
        )
        .bind(until.0)
        .bind(id)
        .bind(now.0)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(None);
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM webhooks WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(webhook_row).transpose()
    }

    /// Moves a subscription's cursor on to `cursor` (never back), counting
    /// `delivered` more, and clears its failures.
    pub async fn advance_webhook(&self, id: i64, cursor: (i64, i64), delivered: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE webhooks SET cursor_tx = $1, cursor_pos = $2, delivered = delivered + $3, failures = 0, last_error = NULL \
             WHERE id = $4 AND (cursor_tx < $1 OR (cursor_tx = $1 AND cursor_pos < $2))",
        )
        .bind(cursor.0)
        .bind(cursor.1)
        .bind(delivered)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a failed delivery: tried again at `next_attempt`; the lease
    /// is given up.
    pub async fn fail_webhook(&self, id: i64, error: &str, next_attempt: Timestamp) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE webhooks SET failures = failures + 1, last_error = $1, next_attempt = $2, lease_until = 0 WHERE id = $3",
        )
        .bind(error)
        .bind(next_attempt.0)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Gives up a subscription's lease.
    pub async fn release_webhook(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE webhooks SET lease_until = 0 WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
