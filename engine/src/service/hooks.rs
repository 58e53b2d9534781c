//! Delivering webhooks over HTTP: each event POSTed as JSON, signed with
//! HMAC-SHA256 of the body under the subscription's secret
//! (`X-Ravand-Signature: sha256=<hex>`), with its feed position as the
//! `Idempotency-Key` (the same on every retry). Subscriptions are delivered
//! side by side, each in its own task, so a slow or dead receiver holds up
//! only its own subscription; `ravand serve` runs a round every second.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::engine::{Delivery, Engine, EngineError};

/// The most events one round delivers to one subscription.
const BATCH: i64 = 100;
/// How long a receiver may take to answer.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// The signature of `body` under `secret`, as the header carries it.
pub fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC takes a key of any length.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// POSTs one event; an answer other than 2xx is a failure.
async fn post(client: &reqwest::Client, d: Delivery) -> Result<(), String> {
    let body = serde_json::to_vec(&serde_json::json!({
        "webhook": d.webhook,
        "position": d.item.position,
        "case": d.item.case,
        "process": d.item.process,
        "event": d.item.event,
    }))
    .map_err(|e| e.to_string())?;
    let res = client
        .post(&d.url)
        .header("content-type", "application/json")
        .header("idempotency-key", &d.item.position)
        .header("x-ravand-webhook", d.webhook.to_string())
        .header("x-ravand-signature", signature(&d.secret, &body))
        .timeout(DELIVERY_TIMEOUT)
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if res.status().is_success() {
        Ok(())
    } else {
        Err(format!("the receiver answered {}", res.status()))
    }
}

/// One round: every due subscription gets what is new for it, each in a
/// task of its own. Returns how many events were delivered.
pub async fn deliver_webhooks(engine: &Arc<Engine>, client: &reqwest::Client) -> Result<usize, EngineError> {
    let mut set = tokio::task::JoinSet::new();
    for id in engine.webhook_ids().await? {
        let (engine, client) = (engine.clone(), client.clone());
        set.spawn(async move {
            let client = &client;
            engine.deliver_webhook(id, BATCH, |d| post(client, d)).await
        });
    }
    let mut delivered = 0;
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok(n)) => delivered += n,
            Ok(Err(e)) => tracing::error!(error = %e, "a webhook round failed"),
            Err(e) => tracing::error!(error = %e, "a webhook task failed"),
        }
    }
    Ok(delivered)
}
