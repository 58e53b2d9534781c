//! The console's sessions, kept in the store so that every node of a
//! cluster knows them and a signed-out session is gone everywhere.
//!
//! Owns: drawing session ids and form secrets (from the operating system's
//! randomness, never the engine's seeded generator), their lifetime, and
//! keeping only a session id's SHA-256. Must not: decide what a session
//! may do (that is the subject's, which the service reads).

use rand::RngCore;

use super::*;
use crate::store::SessionRow;

/// A session just opened: the id for the cookie and the forms' secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The session id (the cookie's value; not stored).
    pub id: String,
    /// The secret every form of the session carries.
    pub csrf: String,
    /// When it ends.
    pub expires_at: Timestamp,
}

/// A live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// What it stands for, as given to [`Engine::open_session`].
    pub subject: String,
    /// The secret its forms carry.
    pub csrf: String,
    /// When it ends.
    pub expires_at: Timestamp,
}

/// 32 bytes from the operating system's generator, as hex.
pub fn secret() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    hex(&b)
}

fn id_hash(id: &str) -> String {
    hex(&sha2::Sha256::digest(id.as_bytes()))
}

impl Engine {
    /// Opens a session for `subject` lasting `seconds`.
    pub async fn open_session(&self, subject: &str, seconds: i64) -> Result<Opened, EngineError> {
        let now = self.clock.now();
        let opened = Opened {
            id: secret(),
            csrf: secret(),
            expires_at: now.plus_seconds(seconds),
        };
        let row = SessionRow {
            subject: subject.to_owned(),
            csrf: opened.csrf.clone(),
            expires_at: opened.expires_at,
        };
        self.store.insert_session(&id_hash(&opened.id), &row, now).await?;
        Ok(opened)
    }

    /// The live session with this id, if any.
    pub async fn session(&self, id: &str) -> Result<Option<Session>, EngineError> {
        if id.is_empty() || id.len() > 128 {
            return Ok(None);
        }
        let row = self.store.session(&id_hash(id), self.clock.now()).await?;
        Ok(row.map(|r| Session {
            subject: r.subject,
            csrf: r.csrf,
            expires_at: r.expires_at,
        }))
    }

    /// Ends a session; whether there was one.
    pub async fn close_session(&self, id: &str) -> Result<bool, EngineError> {
        Ok(self.store.delete_session(&id_hash(id)).await?)
    }
}
