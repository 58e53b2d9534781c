//! Webhooks against a receiver in the test, on loopback, on SQLite and
//! PostgreSQL: subscriptions over the HTTP API, deliveries signed, in commit
//! order, each once while the receiver answers, and all of them after it
//! was down for a while (the engine working on meanwhile).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use ravand_engine::engine::{CaseId, Engine};
use ravand_engine::service::{self, Token};
use ravand_engine::time::{Clock, Timestamp, VirtualClock};
use serde_json::{json, Value};

use crate::helpers::root;

const SECRET: &str = "a-secret-of-the-137-centre";

/// What the receiver was sent: headers and body of each request.
type Received = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

/// A receiver that records what it is sent, or answers 503 while down.
struct Receiver {
    url: String,
    got: Received,
    down: Arc<AtomicBool>,
}

async fn receiver() -> Receiver {
    let got: Received = Arc::default();
    let down = Arc::new(AtomicBool::new(false));
    let (g, d) = (got.clone(), down.clone());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |h: HeaderMap, body: axum::body::Bytes| {
            let (g, d) = (g.clone(), d.clone());
            async move {
                if d.load(Ordering::SeqCst) {
                    return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                }
                g.lock().expect("lock").push((h, body.to_vec()));
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    Receiver {
        url: format!("http://{addr}/hook"),
        got,
        down,
    }
}

async fn api(base: &str, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut r = reqwest::Client::new()
        .request(method.parse().expect("method"), format!("{base}{path}"))
        .bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let res = r.send().await.expect("request");
    let status = res.status().as_u16();
    let text = res.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn start(e: &Engine) -> CaseId {
    e.start(
        "complaint-137",
        serde_json::from_value(json!({"category": "roads"})).expect("data"),
        None,
    )
    .await
    .expect("starts")
    .case
}

async fn webhooks_deliver_in_order_once_each_also_after_the_receiver_was_down(url: &str) {
    let clock = Arc::new(VirtualClock::new(Timestamp(1_777_708_800)));
    let engine = Arc::new(Engine::open(url, clock.clone(), 9).await.expect("engine"));
    engine
        .add_calendars_from(&root().join("definitions/calendars"))
        .await
        .expect("calendars");
    let text = std::fs::read_to_string(root().join("definitions/complaint-137.yaml")).expect("definition");
    engine.deploy("complaint-137.yaml", &text).await.expect("deploys");
    let tokens: Vec<Token> =
        serde_saphyr::from_str(&std::fs::read_to_string(root().join("tokens.example.yaml")).expect("tokens"))
            .expect("tokens parse");
    let app = service::router(service::Service::new(engine.clone(), tokens));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let rx = receiver().await;
    let client = reqwest::Client::new();
    let round = || service::deliver_webhooks(&engine, &client);

    // Events before the subscription are not sent.
    let before = start(&engine).await;
    let hook = json!({"url": rx.url, "events": ["task-created"], "process": "complaint-137", "secret": SECRET});
    let (st, _) = api(&base, "POST", "/webhooks", "operator-demo", Some(hook.clone())).await;
    assert_eq!(st, 403, "only an administrator subscribes");
    for bad in [
        json!({"url": "ftp://x/y", "secret": SECRET}),
        json!({"url": rx.url, "secret": "short"}),
        json!({"url": rx.url, "secret": SECRET, "events": ["Task Created"]}),
    ] {
        let (st, v) = api(&base, "POST", "/webhooks", "admin-demo", Some(bad.clone())).await;
        assert_eq!(st, 422, "{bad}: {v}");
    }
    let (st, made) = api(&base, "POST", "/webhooks", "admin-demo", Some(hook)).await;
    assert_eq!(st, 201, "{made}");
    let id = made["id"].as_i64().expect("id");
    assert!(made.get("secret").is_none(), "the secret is never shown: {made}");

    // The receiver is down: deliveries fail and back off; the engine goes on.
    rx.down.store(true, Ordering::SeqCst);
    let mut cases = Vec::new();
    for _ in 0..3 {
        cases.push(start(&engine).await);
    }
    // On PostgreSQL a writer elsewhere on the server may hold the feed back
    // a while: rounds run until one has tried (and failed) to deliver.
    let mut list = Value::Null;
    for _ in 0..600 {
        assert_eq!(round().await.expect("round"), 0);
        list = api(&base, "GET", "/webhooks", "admin-demo", None).await.1;
        if list[0]["failures"] != 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(list[0]["failures"], 1, "{list}");
    assert!(
        list[0]["last_error"].as_str().is_some_and(|e| e.contains("503")),
        "{list}"
    );
    for _ in 0..2 {
        cases.push(start(&engine).await);
    }
    rx.down.store(false, Ordering::SeqCst);
    assert_eq!(round().await.expect("round"), 0, "still backing off");
    clock.set(Timestamp(clock.now().0 + 1));
    // On PostgreSQL a writer elsewhere on the server may hold the feed back.
    let mut delivered = 0;
    for _ in 0..600 {
        delivered += round().await.expect("round");
        if delivered >= 5 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(delivered, 5);

    let got = rx.got.lock().expect("lock").clone();
    assert_eq!(got.len(), 5);
    let mut keys = std::collections::BTreeSet::new();
    let mut seen = Vec::new();
    for (h, body) in &got {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
        mac.update(body);
        let want: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            h.get("x-ravand-signature").and_then(|v| v.to_str().ok()),
            Some(format!("sha256={want}").as_str())
        );
        let v: Value = serde_json::from_slice(body).expect("json");
        assert_eq!(v["event"]["type"], "task-created", "{v}");
        assert_eq!(v["webhook"], id);
        let key = h
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .expect("a key")
            .to_owned();
        assert_eq!(v["position"], key.as_str());
        assert!(keys.insert(key), "a key twice");
        seen.push(CaseId(v["case"].as_u64().expect("case")));
    }
    assert_eq!(seen, cases, "in commit order, none from before ({before})");

    // Nothing again; then only the kind subscribed to.
    assert_eq!(round().await.expect("round"), 0);
    let view = engine.status(cases[0]).await.expect("status");
    engine
        .complete(
            cases[0],
            view.tasks[0].task,
            None,
            serde_json::from_value(json!({"category": "roads", "partner": false})).expect("data"),
        )
        .await
        .expect("completes");
    let mut more = 0;
    for _ in 0..600 {
        more += round().await.expect("round");
        if more >= 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(more, 1, "the classify task's creation, not the completion");
    assert_eq!(rx.got.lock().expect("lock").len(), 6);
    let (_, list) = api(&base, "GET", "/webhooks", "admin-demo", None).await;
    assert_eq!(
        (list[0]["delivered"].as_i64(), list[0]["failures"].as_i64()),
        (Some(6), Some(0)),
        "{list}"
    );

    // Ended: nothing more is sent.
    let (st, _) = api(&base, "DELETE", &format!("/webhooks/{id}"), "admin-demo", None).await;
    assert_eq!(st, 204);
    let (st, v) = api(&base, "DELETE", &format!("/webhooks/{id}"), "admin-demo", None).await;
    assert_eq!(st, 404, "{v}");
    start(&engine).await;
    assert_eq!(round().await.expect("round"), 0);
    assert_eq!(rx.got.lock().expect("lock").len(), 6);
}

on_both_urls!("webhooks"; webhooks_deliver_in_order_once_each_also_after_the_receiver_was_down);
