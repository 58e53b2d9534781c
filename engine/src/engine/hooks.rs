//! Webhooks: outside systems subscribe to event kinds (of one process, or
//! all) and get each event POSTed to their URL, in commit order, at least
//! once. The outbox is the events table (written in the case's transaction);
//! a subscription is a cursor in the feed. A failed delivery is tried again
//! after a backoff that doubles, without holding up other subscriptions or
//! any unit of work.
//!
//! Owns: subscriptions, their cursors and backoff, which events a
//! subscription wants. Must not: speak HTTP (the service does, through the
//! `send` it passes), or move a cursor past an event not yet delivered.

use std::future::Future;

use serde::Serialize;

use super::query::FeedItem;
use super::*;
use crate::store::WebhookRow;

/// The first retry's backoff after a failed delivery, in seconds (it
/// doubles with each failure, up to [`MAX_HOOK_BACKOFF_S`]).
pub const FIRST_HOOK_BACKOFF_S: i64 = 1;
/// The longest backoff between deliveries to a failing subscription.
pub const MAX_HOOK_BACKOFF_S: i64 = 300;
/// How long a node holds a subscription while it delivers.
const HOOK_LEASE_S: i64 = 60;

/// A subscription, as listed (its secret is never shown again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Webhook {
    /// Its id.
    pub id: i64,
    /// Where events are posted.
    pub url: String,
    /// The event kinds it wants (empty: all).
    pub events: Vec<String>,
    /// Only events of this process's cases.
    pub process: Option<String>,
    /// When it was made (seconds since the epoch).
    pub created_at: Timestamp,
    /// Events delivered so far.
    pub delivered: i64,
    /// Failed attempts since the last delivery.
    pub failures: i64,
    /// The next attempt, after a failure (seconds since the epoch).
    pub next_attempt: Timestamp,
    /// The last failure.
    pub last_error: Option<String>,
}

impl From<WebhookRow> for Webhook {
    fn from(r: WebhookRow) -> Webhook {
        Webhook {
            id: r.id,
            url: r.url,
            events: r.kinds,
            process: r.process,
            created_at: r.created_at,
            delivered: r.delivered,
            failures: r.failures,
            next_attempt: r.next_attempt,
            last_error: r.last_error,
        }
    }
}

/// One event to deliver to one subscription.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The subscription.
    pub webhook: i64,
    /// Where to post it.
    pub url: String,
    /// The key to sign it with.
    pub secret: String,
    /// The event, with its feed position (the idempotency key).
    pub item: FeedItem,
}

impl Engine {
    /// Subscribes `url` to events of `kinds` (all when empty), of
    /// `process`'s cases (all when `None`), from now on.
    pub async fn add_webhook(
        &self,
        url: &str,
        kinds: &[String],
        process: Option<&str>,
        secret: &str,
    ) -> Result<Webhook, EngineError> {
        let parsed = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://"));
        if parsed.is_none_or(|rest| rest.is_empty())
            || url.len() > 2_000
            || url.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(EngineError::BadInput(format!(
                "`{url}` is not an http:// or https:// URL"
            )));
        }
        if secret.chars().count() < 16 {
            return Err(EngineError::BadInput(
                "the `secret` that signs deliveries needs at least 16 characters".into(),
            ));
        }
        if let Some(k) = kinds
            .iter()
            .find(|k| k.is_empty() || !k.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        {
            return Err(EngineError::BadInput(format!(
                "`{k}` is not an event kind (they are written like `task-created`)"
            )));
        }
        let now = self.clock.now();
        let cursor = self.store.feed_end().await?;
        let id = self
            .store
            .insert_webhook(url, kinds, process, secret, now, cursor)
            .await?;
        let row = self
            .store
            .webhooks()
            .await?
            .into_iter()
            .find(|w| w.id == id)
            .ok_or_else(|| EngineError::Store(StoreError::Corrupt(format!("webhook {id} vanished"))))?;
        Ok(row.into())
    }

    /// Every subscription.
    pub async fn webhooks(&self) -> Result<Vec<Webhook>, EngineError> {
        Ok(self.store.webhooks().await?.into_iter().map(Webhook::from).collect())
    }

    /// Ends a subscription.
    pub async fn remove_webhook(&self, id: i64) -> Result<(), EngineError> {
        if self.store.delete_webhook(id).await? {
            Ok(())
        } else {
            Err(EngineError::NoSuchWebhook(id))
        }
    }

    /// Ids of the subscriptions.
    pub async fn webhook_ids(&self) -> Result<Vec<i64>, EngineError> {
        Ok(self.store.webhooks().await?.iter().map(|w| w.id).collect())
    }

    /// Delivers up to `batch` events to one subscription, in order, if it
    /// is due and no other node is delivering it: each through `send`,
    /// the cursor moving on after each success. At the first failure the
    /// subscription backs off. Returns how many were delivered.
    pub async fn deliver_webhook<F, Fut>(&self, id: i64, batch: i64, send: F) -> Result<usize, EngineError>
    where
        F: Fn(Delivery) -> Fut,
        Fut: Future<Output = Result<(), String>>,
    {
        let now = self.clock.now();
        let Some(hook) = self
            .store
            .lease_webhook(id, now, Timestamp(now.0 + HOOK_LEASE_S))
            .await?
        else {
            return Ok(0);
        };
        let processes = hook.process.clone().map(|p| vec![p]);
        let rows = self.store.feed(hook.cursor, batch, processes.as_deref(), &[]).await?;
        let mut delivered = 0;
        for row in rows {
            let position = row.position;
            let item = row.item();
            let kind = event_kind(&item.event);
            if hook.kinds.is_empty() || hook.kinds.contains(&kind) {
                let d = Delivery {
                    webhook: id,
                    url: hook.url.clone(),
                    secret: hook.secret.clone(),
                    item,
                };
                if let Err(e) = send(d).await {
                    let backoff = FIRST_HOOK_BACKOFF_S
                        .saturating_mul(1_i64 << hook.failures.clamp(0, 20))
                        .min(MAX_HOOK_BACKOFF_S);
                    let error: String = e.chars().take(500).collect();
                    tracing::warn!(webhook = id, url = %hook.url, error = %error, "a webhook delivery failed; it backs off");
                    self.store
                        .fail_webhook(id, &error, Timestamp(self.clock.now().0 + backoff))
                        .await?;
                    return Ok(delivered);
                }
                delivered += 1;
                self.store.advance_webhook(id, position, 1).await?;
            } else {
                self.store.advance_webhook(id, position, 0).await?;
            }
        }
        self.store.release_webhook(id).await?;
        Ok(delivered)
    }
}

/// An event's kind as its JSON names it (`task-created`, …).
pub fn event_kind(e: &Event) -> String {
    serde_json::to_value(e)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_owned))
        .unwrap_or_default()
}
