//! The HTTP service over loopback: a real server on 127.0.0.1, a real
//! client, and every kind of bad input answered with a 4xx and a JSON body.

use std::sync::Arc;

use ravand_engine::engine::Engine;
use ravand_engine::service::{self, Token};
use ravand_engine::time::{Timestamp, VirtualClock};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::root;

struct Server {
    base: String,
    client: reqwest::Client,
    engine: Arc<Engine>,
}

impl Server {
    async fn start() -> Server {
        let clock = Arc::new(VirtualClock::new(Timestamp(1_777_708_800)));
        let engine = Arc::new(Engine::in_memory(clock, 9).await.expect("engine"));
        engine
            .add_calendars_from(&root().join("definitions/calendars"))
            .await
            .expect("calendars");
        let text = std::fs::read_to_string(root().join("tokens.example.yaml")).expect("tokens");
        let tokens: Vec<Token> = serde_saphyr::from_str(&text).expect("tokens parse");
        let app = service::router(service::Service::new(engine.clone(), tokens));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Server {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            engine,
        }
    }

    async fn send(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
        let mut r = self
            .client
            .request(method.parse().expect("method"), format!("{}{path}", self.base));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let res = r.send().await.expect("request");
        let status = res.status();
        let text = res.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// Deploys the 137 process as the analyst; returns the answer.
    async fn deploy_complaint(&self) -> Value {
        let source = std::fs::read_to_string(root().join("definitions/complaint-137.yaml")).expect("definition");
        let (st, v) = self
            .send(
                "POST",
                "/definitions",
                Some("analyst-demo"),
                Some(json!({"name": "complaint-137.yaml", "source": source})),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        v
    }

    async fn raw(&self, path: &str, token: &str, body: &'static str) -> (StatusCode, Value) {
        let res = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request");
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }
}

fn is_error(v: &Value, code: &str) -> bool {
    v.get("error").and_then(Value::as_str) == Some(code)
        && v.get("message").and_then(Value::as_str).is_some_and(|m| !m.is_empty())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complaint_through_the_api_with_every_bad_input_refused() {
    let s = Server::start().await;
    let source = std::fs::read_to_string(root().join("definitions/complaint-137.yaml")).expect("definition");

    // Deploying: analysts only; a bad definition comes back with diagnostics.
    let (st, _) = s
        .send(
            "POST",
            "/definitions",
            Some("operator-demo"),
            Some(json!({"name": "c.yaml", "source": source})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, v) = s
        .send(
            "POST",
            "/definitions",
            Some("analyst-demo"),
            Some(json!({"name": "bad.yaml", "source": "id: x\nversion: 1\ntitle: t\nsteps: []\n"})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(is_error(&v, "invalid-definition"), "{v}");
    assert_eq!(v["details"][0]["code"], "no-steps");
    assert_eq!(v["details"][0]["line"], 1);
    let (st, v) = s
        .send(
            "POST",
            "/definitions",
            Some("analyst-demo"),
            Some(json!({"name": "complaint-137.yaml", "source": source})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["process"], "complaint-137");
    let (st, _) = s
        .send(
            "POST",
            "/definitions",
            Some("analyst-demo"),
            Some(json!({"name": "complaint-137.yaml", "source": source})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "the same content again is a no-op");
    let (st, v) = s
        .send(
            "POST",
            "/definitions",
            Some("analyst-demo"),
            Some(json!({"name": "c.yaml", "source": source.replace("رسیدگی شد", "x")})),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert!(is_error(&v, "version-conflict"));

    // Starting a case.
    let (st, v) = s
        .send(
            "POST",
            "/cases",
            Some("operator-demo"),
            Some(json!({"process": "complaint-137", "data": {"category": "roads"}})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let case = v["case"].as_u64().expect("case id");
    let code = v["tracking_code"].as_str().expect("code").to_owned();
    let (st, v) = s
        .send(
            "POST",
            "/cases",
            Some("operator-demo"),
            Some(json!({"process": "complaint-137", "data": {"category": "volcano"}})),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(is_error(&v, "bad-data"), "{v}");
    let (st, v) = s
        .send(
            "POST",
            "/cases",
            Some("operator-demo"),
            Some(json!({"process": "nope"})),
        )
        .await;
    // A clerk is refused a process not granted to it before its existence
    // is told; an administrator learns it does not exist.
    assert_eq!((st, is_error(&v, "forbidden")), (StatusCode::FORBIDDEN, true), "{v}");
    let (st, v) = s
        .send("POST", "/cases", Some("admin-demo"), Some(json!({"process": "nope"})))
        .await;
    assert_eq!((st, is_error(&v, "no-such-process")), (StatusCode::NOT_FOUND, true));
    let (st, _) = s
        .send(
            "POST",
            "/cases",
            Some("analyst-demo"),
            Some(json!({"process": "complaint-137", "data": {"category": "roads"}})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // The citizen's view: stage and dates only, no token.
    let (st, v) = s.send("GET", &format!("/public/cases/{code}"), None, None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["stage"][0], "ثبت درخواست شهروند");
    assert!(
        v.get("data").is_none() && v.get("tasks").is_none(),
        "no case data for the public: {v}"
    );
    let (st, v) = s.send("GET", "/public/cases/NOSUCHCODE", None, None).await;
    assert_eq!((st, is_error(&v, "no-such-case")), (StatusCode::NOT_FOUND, true));

    // The operator's worklist; the classifier's does not show it.
    let (st, v) = s.send("GET", "/worklist", Some("operator-demo"), None).await;
    assert_eq!(st, StatusCode::OK);
    let task = v[0]["task"]["task"].as_u64().expect("task id");
    assert_eq!(v[0]["task"]["step"], "register-request");
    let (_, v) = s.send("GET", "/worklist", Some("classifier-demo"), None).await;
    assert_eq!(v.as_array().map(Vec::len), Some(0));
    let before = s
        .engine
        .history(ravand_engine::engine::CaseId(case))
        .await
        .expect("history");

    // Bad completions, each refused with a JSON body and nothing changed.
    let path = format!("/cases/{case}/tasks/{task}/complete");
    let (st, v) = s
        .send("POST", &path, Some("classifier-demo"), Some(json!({"outputs": {}})))
        .await;
    assert_eq!(
        (st, is_error(&v, "forbidden")),
        (StatusCode::FORBIDDEN, true),
        "another role's task"
    );
    let (st, v) = s.raw(&path, "operator-demo", "{not json").await;
    assert_eq!(
        (st, is_error(&v, "bad-request")),
        (StatusCode::BAD_REQUEST, true),
        "malformed JSON"
    );
    let (st, v) = s
        .send(
            "POST",
            &path,
            Some("operator-demo"),
            Some(json!({"outputs": "everything"})),
        )
        .await;
    assert!(
        st.is_client_error() && is_error(&v, "bad-request"),
        "wrong type: {st} {v}"
    );
    let (st, v) = s
        .send(
            "POST",
            &path,
            Some("operator-demo"),
            Some(json!({"outputs": {"category": 7}})),
        )
        .await;
    assert_eq!((st, is_error(&v, "bad-data")), (StatusCode::UNPROCESSABLE_ENTITY, true));
    let (st, _) = s.send("POST", &path, None, Some(json!({}))).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, _) = s.send("POST", &path, Some("forged-token"), Some(json!({}))).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, v) = s
        .send(
            "POST",
            "/cases/abc/tasks/1/complete",
            Some("operator-demo"),
            Some(json!({})),
        )
        .await;
    assert_eq!((st, is_error(&v, "no-such-case")), (StatusCode::NOT_FOUND, true));
    let (st, v) = s
        .send(
            "POST",
            &format!("/cases/{case}/tasks/999/complete"),
            Some("operator-demo"),
            Some(json!({})),
        )
        .await;
    assert_eq!((st, is_error(&v, "not-found")), (StatusCode::NOT_FOUND, true));
    let huge = "x".repeat(2 * 1024 * 1024);
    let (st, v) = s
        .send(
            "POST",
            &path,
            Some("operator-demo"),
            Some(json!({"outputs": {"category": huge}})),
        )
        .await;
    assert_eq!(
        (st, is_error(&v, "bad-request")),
        (StatusCode::PAYLOAD_TOO_LARGE, true),
        "oversize body"
    );
    assert_eq!(
        s.engine
            .history(ravand_engine::engine::CaseId(case))
            .await
            .expect("history"),
        before,
        "nothing changed"
    );

    // The good completion; the second one finds no task.
    let (st, v) = s
        .send(
            "POST",
            &path,
            Some("operator-demo"),
            Some(json!({"outputs": {"category": "roads", "partner": true}})),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let (st, v) = s
        .send("POST", &path, Some("operator-demo"), Some(json!({"outputs": {}})))
        .await;
    assert_eq!(
        (st, is_error(&v, "not-found")),
        (StatusCode::NOT_FOUND, true),
        "completing twice"
    );

    // The SMS gateway takes the job that texts the tracking code (a token
    // that works only the `system` role's jobs) and reports it sent.
    let (st, jobs) = s
        .send(
            "POST",
            "/jobs/acquire",
            Some("gateway-demo"),
            Some(json!({"topic": "sms", "worker": "sms-gateway", "max": 10})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{jobs}");
    let jobs = jobs.as_array().expect("a list of jobs");
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0]["step"], "send-tracking-code");
    let (st, v) = s
        .send(
            "POST",
            &format!("/jobs/{case}/{}/complete", jobs[0]["task"]),
            Some("gateway-demo"),
            Some(json!({"worker": "sms-gateway"})),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");

    // Status and history for an auditor; suspend for admins only.
    let (st, v) = s
        .send("GET", &format!("/cases/{case}"), Some("auditor-demo"), None)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["tasks"][0]["step"], "classify");
    assert!(
        v["tasks"][0]["due"].as_str().is_some_and(|d| d.contains("(2026-")),
        "due in both calendars: {v}"
    );
    let (st, v) = s
        .send("GET", &format!("/cases/{case}/history"), Some("auditor-demo"), None)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        v["lines"].as_array().is_some_and(|l| l
            .iter()
            .any(|x| x.as_str().is_some_and(|x| x.contains("case started by operator-7")))),
        "{v}"
    );
    let (st, _) = s
        .send("POST", &format!("/cases/{case}/suspend"), Some("operator-demo"), None)
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = s
        .send("POST", &format!("/cases/{case}/suspend"), Some("admin-demo"), None)
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, v) = s
        .send("POST", &format!("/cases/{case}/suspend"), Some("admin-demo"), None)
        .await;
    assert_eq!(
        (st, is_error(&v, "conflict")),
        (StatusCode::CONFLICT, true),
        "suspending twice"
    );
    let (st, _) = s
        .send("POST", &format!("/cases/{case}/resume"), Some("admin-demo"), None)
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);

    // A message nobody waits for.
    let (st, v) = s
        .send(
            "POST",
            "/messages",
            Some("operator-demo"),
            Some(json!({"name": "citizen-details", "key": "X"})),
        )
        .await;
    assert_eq!((st, is_error(&v, "not-correlated")), (StatusCode::NOT_FOUND, true));

    // Unknown routes, the OpenAPI document, metrics.
    let (st, v) = s.send("GET", "/no/such/route", None, None).await;
    assert_eq!((st, is_error(&v, "not-found")), (StatusCode::NOT_FOUND, true));
    let (st, v) = s.send("GET", "/openapi.json", None, None).await;
    assert_eq!(st, StatusCode::OK);
    for p in [
        "/definitions",
        "/cases",
        "/cases/{id}/tasks/{task}/complete",
        "/public/cases/{code}",
        "/worklist",
        "/overdue",
        "/messages",
    ] {
        assert!(v["paths"].get(p).is_some(), "OpenAPI lacks {p}");
    }
    let res = s
        .client
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .expect("metrics");
    let text = res.text().await.expect("text");
    for want in [
        "ravand_cases_started_total{process=\"complaint-137\"} 1",
        "ravand_tasks_open{process=\"complaint-137\",role=",
        "ravand_build_info{version=",
        "route=\"/cases/{id}\",status=\"200\"",
        "route=\"/definitions\",status=\"403\"",
        "# EOF",
    ] {
        assert!(text.contains(want), "/metrics lacks {want}: {text}");
    }
    assert!(
        !text.contains("/cases/1\""),
        "a path, not a route template, in /metrics: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_are_listed_and_resolved_over_http_by_whom_it_may() {
    let s = Server::start().await;
    let parent = "id: parent\nversion: 1\ntitle: والد\nsteps:\n  - {id: start, kind: start}\n  - {id: call, kind: subprocess, title: فراخوانی, process: child}\n  - {id: done, kind: end, outcome: done}\n";
    let child = "id: child\nversion: 1\ntitle: فرزند\nsteps:\n  - {id: start, kind: start}\n  - {id: done, kind: end, outcome: ok}\n";
    let (st, v) = s
        .send(
            "POST",
            "/definitions",
            Some("analyst-demo"),
            Some(json!({"name": "p.yaml", "source": parent})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let (st, v) = s
        .send("POST", "/cases", Some("admin-demo"), Some(json!({"process": "parent"})))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let case = v["case"].as_u64().expect("case");
    let (st, list) = s
        .send("GET", "/incidents?process=parent&step=call", Some("auditor-demo"), None)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["case"].as_u64(), Some(case));
    let token = list[0]["token"].as_u64().expect("token");
    // A clerk of other processes sees none of it.
    let (_, theirs) = s.send("GET", "/incidents", Some("operator-demo"), None).await;
    assert_eq!(theirs.as_array().map(Vec::len), Some(0), "{theirs}");
    let path = format!("/cases/{case}/incidents/{token}/resolve");
    let (st, v) = s
        .send("POST", &path, Some("operator-demo"), Some(json!({"data": {}})))
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    s.send(
        "POST",
        "/definitions",
        Some("analyst-demo"),
        Some(json!({"name": "c.yaml", "source": child})),
    )
    .await;
    let (st, v) = s
        .send("POST", &path, Some("admin-demo"), Some(json!({"data": {}})))
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let (_, view) = s
        .send("GET", &format!("/cases/{case}"), Some("auditor-demo"), None)
        .await;
    assert_eq!(view["status"], "completed", "{view}");
    let (_, h) = s
        .send("GET", &format!("/cases/{case}/history"), Some("auditor-demo"), None)
        .await;
    let lines = h["lines"].to_string();
    assert!(lines.contains("incident resolved by admin"), "{lines}");
    let (st, v) = s
        .send("POST", &path, Some("admin-demo"), Some(json!({"data": {}})))
        .await;
    assert!(
        st.is_client_error() && is_error(&v, "conflict") || st == StatusCode::NOT_FOUND,
        "{st} {v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_complete_and_cancel_take_an_empty_body_as_suspend_does() {
    let s = Server::start().await;
    let text = "id: small\nversion: 1\ntitle: کوچک\nroles:\n  - {id: clerk, title: کارمند}\nsteps:\n  - {id: start, kind: start}\n  - {id: a, title: الف, performer: clerk}\n  - {id: b, title: ب, performer: clerk}\n  - {id: done, kind: end, outcome: done}\n";
    s.send(
        "POST",
        "/definitions",
        Some("analyst-demo"),
        Some(json!({"name": "s.yaml", "source": text})),
    )
    .await;
    let (_, v) = s
        .send("POST", "/cases", Some("admin-demo"), Some(json!({"process": "small"})))
        .await;
    let case = v["case"].as_u64().expect("case");
    let (_, view) = s.send("GET", &format!("/cases/{case}"), Some("admin-demo"), None).await;
    let task = view["tasks"][0]["task"].as_u64().expect("task");
    let empty = |path: String| {
        let c = s.client.post(format!("{}{path}", s.base)).bearer_auth("admin-demo");
        async move { c.send().await.expect("request").status() }
    };
    assert_eq!(
        empty(format!("/cases/{case}/tasks/{task}/claim")).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        empty(format!("/cases/{case}/tasks/{task}/complete")).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(empty(format!("/cases/{case}/cancel")).await, StatusCode::NO_CONTENT);
    let (_, view) = s.send("GET", &format!("/cases/{case}"), Some("admin-demo"), None).await;
    assert_eq!(view["status"], "cancelled");
    // A body that is there must still be the JSON object.
    let (st, v) = s.raw(&format!("/cases/{case}/cancel"), "admin-demo", "[1, 2]").await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(is_error(&v, "bad-request"), "{v}");
}

/// The pages over HTTP: `{items, next}` walked by `after`, filters as query
/// parameters, a clerk limited to its roles, and every bad query a 400 with
/// a JSON body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_cases_and_events_come_in_pages() {
    let s = Server::start().await;
    s.deploy_complaint().await;
    let mut started = Vec::new();
    for (i, category) in ["roads", "waste", "roads", "lighting", "roads"].iter().enumerate() {
        let (st, v) = s
            .send(
                "POST",
                "/cases",
                Some("operator-demo"),
                Some(json!({"process": "complaint-137", "data": {"category": category, "district": i % 2 + 1}})),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        started.push(v["case"].as_u64().expect("case id"));
    }
    // Tasks, two at a time, to the end.
    let mut seen = Vec::new();
    let mut path = "/tasks?limit=2".to_owned();
    loop {
        let (st, v) = s.send("GET", &path, Some("auditor-demo"), None).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        let items = v["items"].as_array().expect("items");
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|i| (i["case"].as_u64(), i["task"]["task"].as_u64())));
        match v["next"].as_str() {
            Some(n) => path = format!("/tasks?limit=2&after={n}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5, "one open task per case: {seen:?}");
    let (_, v) = s.send("GET", "/worklist", Some("auditor-demo"), None).await;
    assert_eq!(
        v.as_array().map(Vec::len),
        Some(5),
        "the old worklist still answers: {v}"
    );
    // The operator's role holds the first task; the classifier's holds none yet.
    let (_, v) = s.send("GET", "/tasks", Some("operator-demo"), None).await;
    assert_eq!(v["items"].as_array().map(Vec::len), Some(5), "{v}");
    let (_, v) = s.send("GET", "/tasks", Some("classifier-demo"), None).await;
    assert_eq!(v["items"].as_array().map(Vec::len), Some(0), "{v}");
    assert!(v["next"].is_null());
    // Cases by searchable data, newest first.
    let (st, v) = s
        .send(
            "GET",
            "/cases?data=category:roads&data=district:1",
            Some("auditor-demo"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let ids: Vec<u64> = v["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|c| c["case"].as_u64())
        .collect();
    assert_eq!(ids, vec![started[4], started[2], started[0]], "{v}");
    let (_, v) = s
        .send("GET", "/cases?data=district:2", Some("auditor-demo"), None)
        .await;
    let ids: Vec<u64> = v["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|c| c["case"].as_u64())
        .collect();
    assert_eq!(ids, vec![started[3], started[1]], "{v}");
    let (_, v) = s
        .send("GET", "/cases?status=running&limit=500", Some("auditor-demo"), None)
        .await;
    assert_eq!(v["items"].as_array().map(Vec::len), Some(5), "{v}");
    // The feed: pages in order, and an empty page at the end keeps the cursor.
    let (st, v) = s.send("GET", "/events?limit=3", Some("auditor-demo"), None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["items"].as_array().map(Vec::len), Some(3));
    assert_eq!(v["items"][0]["event"]["type"], "started", "{v}");
    // Refusals.
    for (path, who) in [
        ("/tasks?after=abc", "auditor-demo"),
        ("/tasks?limit=501", "auditor-demo"),
        ("/tasks?limit=0", "auditor-demo"),
        ("/tasks?role=a&role=b", "auditor-demo"),
        ("/tasks?overdue=maybe", "auditor-demo"),
        ("/tasks?colour=red", "auditor-demo"),
        ("/cases?data=category", "auditor-demo"),
        ("/cases?data=partner:true", "auditor-demo"),
        ("/cases?status=asleep", "auditor-demo"),
        ("/cases?version=1", "auditor-demo"),
        ("/cases?process=a&process=b", "auditor-demo"),
        ("/cases?colour=red", "auditor-demo"),
        ("/events?after=%FF", "auditor-demo"),
    ] {
        let (st, v) = s.send("GET", path, Some(who), None).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{path}: {v}");
        assert!(v["error"].is_string() && v["message"].is_string(), "{path}: {v}");
    }
    let (st, v) = s.send("GET", "/tasks", None, None).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{v}");
    let (st, _) = s.send("GET", "/events", Some("analyst-demo"), None).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
}

/// Properties an answer leaves out when they do not apply (a task's
/// `item` is only an instance's), so a live answer may lack them.
const LEFT_OUT_WHEN_EMPTY: [&str; 1] = ["item"];

/// The keys of `schema` (a component of the served OpenAPI document) are
/// exactly the keys of `answer`, but for those left out when empty.
fn same_keys(doc: &Value, schema: &str, answer: &Value) {
    let props: std::collections::BTreeSet<&str> = doc["components"]["schemas"][schema]["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("no schema {schema}"))
        .keys()
        .map(String::as_str)
        .collect();
    let keys: std::collections::BTreeSet<&str> = answer
        .as_object()
        .unwrap_or_else(|| panic!("{schema}: {answer}"))
        .keys()
        .map(String::as_str)
        .collect();
    let props: std::collections::BTreeSet<&str> = props
        .into_iter()
        .filter(|p| keys.contains(p) || !LEFT_OUT_WHEN_EMPTY.contains(p))
        .collect();
    assert_eq!(props, keys, "{schema} in /openapi.json against {answer}");
}

/// The document served at `/openapi.json` describes the answers the
/// service really gives: each typed body's keys, compared with a live one;
/// authentication is a bearer scheme; every refusal has the error schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_description_says_what_the_answers_hold() {
    let s = Server::start().await;
    let (_, doc) = s.send("GET", "/openapi.json", None, None).await;
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    assert_eq!(doc["paths"]["/public/cases/{code}"]["get"]["security"], json!([]));
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("operations") {
            for (code, r) in op["responses"].as_object().expect("responses") {
                if code.starts_with('4') || code.starts_with('5') {
                    assert_eq!(
                        r["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/ErrorBody",
                        "{method} {path} {code}"
                    );
                }
            }
        }
    }
    let key = s.deploy_complaint().await;
    same_keys(&doc, "DefinitionKey", &key);
    let (_, started) = s
        .send(
            "POST",
            "/cases",
            Some("operator-demo"),
            Some(json!({"process": "complaint-137", "data": {"category": "roads"}})),
        )
        .await;
    same_keys(&doc, "Started", &started);
    let case = started["case"].as_u64().expect("case");
    let (_, view) = s
        .send("GET", &format!("/cases/{case}"), Some("auditor-demo"), None)
        .await;
    same_keys(&doc, "CaseView", &view);
    same_keys(&doc, "TaskView", &view["tasks"][0]);
    let (_, history) = s
        .send("GET", &format!("/cases/{case}/history"), Some("auditor-demo"), None)
        .await;
    same_keys(&doc, "History", &history);
    let (_, work) = s.send("GET", "/worklist", Some("auditor-demo"), None).await;
    same_keys(&doc, "WorkItem", &work[0]);
    for (path, page, item) in [
        ("/tasks", "TaskPage", "TaskItem"),
        ("/cases", "CasePage", "CaseItem"),
        ("/events", "FeedPage", "FeedItem"),
    ] {
        let (_, v) = s.send("GET", path, Some("auditor-demo"), None).await;
        same_keys(&doc, page, &v);
        same_keys(&doc, item, &v["items"][0]);
    }
    let (_, public) = s
        .send(
            "GET",
            &format!("/public/cases/{}", started["tracking_code"].as_str().expect("code")),
            None,
            None,
        )
        .await;
    same_keys(&doc, "PublicView", &public);
    let (_, refusal) = s.send("GET", "/tasks?limit=0", Some("auditor-demo"), None).await;
    let want: std::collections::BTreeSet<&str> = ["error", "message"].into();
    let got: std::collections::BTreeSet<&str> = refusal
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(got, want, "{refusal}");
}
