//! The console's sessions: who a session cookie stands for, until when,
//! and the secret its forms carry.
//!
//! Must not: hold a session's id (only its SHA-256), or answer for a
//! session past its expiry.

use sqlx::Row;

use super::{Store, StoreError};
use crate::time::Timestamp;

/// A live session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// What it stands for, as the service wrote it.
    pub subject: String,
    /// The secret its forms carry.
    pub csrf: String,
    /// When it ends.
    pub expires_at: Timestamp,
}

impl Store {
    /// Stores a new session, sweeping those that have ended.
    pub async fn insert_session(&self, id_hash: &str, row: &SessionRow, now: Timestamp) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now.0)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO sessions (id_hash, subject, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id_hash)
        .bind(&row.subject)
        .bind(&row.csrf)
        .bind(now.0)
        .bind(row.expires_at.0)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The session whose id hashes to `id_hash`, if it has not ended by `now`.
    pub async fn session(&self, id_hash: &str, now: Timestamp) -> Result<Option<SessionRow>, StoreError> {
        let r = sqlx::query("SELECT subject, csrf, expires_at FROM sessions WHERE id_hash = $1 AND expires_at > $2")
            .bind(id_hash)
            .bind(now.0)
            .fetch_optional(&self.pool)
            .await?;
        r.map(|r| {
            Ok(SessionRow {
                subject: r.try_get(0)?,
                csrf: r.try_get(1)?,
                expires_at: Timestamp(r.try_get(2)?),
            })
        })
        .transpose()
    }

    /// Ends a session; `false` when there was none.
    pub async fn delete_session(&self, id_hash: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
