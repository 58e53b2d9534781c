//! Multiple instances of a task through the engine, on both databases:
//! one task per item of the case's list, each on the role's list with its
//! item, values gathered; instances added while they run by whom the step's
//! grants allow; the state kept across an engine reopened on the same
//! database; and over HTTP, every refusal a 4xx with a JSON body.

use std::collections::BTreeSet;
use std::sync::Arc;

use ravand_engine::engine::{Actor, CaseId, Engine, EngineError, Grants, Scope, TaskFilter};
use ravand_engine::runtime::{Command, CommandError, Data, EventKind, Status};
use ravand_engine::time::{Timestamp, VirtualClock};
use serde_json::{json, Value};

const T0: Timestamp = Timestamp(1_777_708_800);

/// The permit's inquiries: one per body the case names, at once, each with
/// its answer gathered; a decision on them after.
const INQUIRIES: &str = "id: inquiries\nversion: 1\ntitle: استعلام‌ها\nroles:\n  - {id: expert, title: کارشناس}\n  - {id: head, title: رئیس}\ndata:\n  - {name: bodies, type: list, required: true}\n  - {name: body, type: string, title: دستگاه}\n  - {name: answer, type: enum, values: [agree, object]}\n  - {name: answers, type: list}\nsteps:\n  - {id: start, kind: start}\n  - id: inquire\n    title: استعلام از دستگاه\n    performer: expert\n    each: {over: bodies, as: body, gather: answers}\n    deadline: {due: 2 days}\n    shows: [body]\n    sets: [answer]\n  - {id: decide, title: جمع‌بندی, performer: head, shows: [answers]}\n  - {id: done, kind: end, outcome: done}\n";

fn data(v: Value) -> Data {
    serde_json::from_value(v).expect("object")
}

fn clerk(roles: &[&str]) -> Actor {
    Actor {
        user: Some("expert-1".into()),
        grants: Grants::Scoped(Scope {
            processes: BTreeSet::from(["inquiries".to_owned()]),
            roles: roles.iter().map(|r| r.to_string()).collect(),
        }),
        staff: false,
    }
}

/// The open tasks of a case: (task, step, item).
async fn open(e: &Engine, case: CaseId) -> Vec<(ravand_engine::runtime::TaskId, String, Option<Value>)> {
    let v = e.status(case).await.expect("status");
    v.tasks.into_iter().map(|t| (t.task, t.step, t.item)).collect()
}

/// Completes a task with these outputs, with full rights.
async fn complete(e: &Engine, case: CaseId, task: ravand_engine::runtime::TaskId, outputs: Value) {
    e.command(
        case,
        Command::Complete {
            task,
            by: None,
            outputs: data(outputs),
        },
    )
    .await
    .expect("completes");
}

async fn engine(url: &str) -> Engine {
    let clock = Arc::new(VirtualClock::new(T0));
    Engine::open(url, clock, 5).await.expect("engine")
}

async fn instances_run_persist_and_gather(url: &str) {
    let e = engine(url).await;
    e.deploy("inquiries.yaml", INQUIRIES).await.expect("deploys");
    let case = e
        .start("inquiries", data(json!({"bodies": ["water", "power"]})), None)
        .await
        .expect("starts")
        .case;
    let tasks = open(&e, case).await;
    assert_eq!(
        tasks.iter().map(|t| (t.1.as_str(), t.2.clone())).collect::<Vec<_>>(),
        [("inquire", Some(json!("water"))), ("inquire", Some(json!("power")))],
        "one task per body, each with its item"
    );
    // The task list (its read rows) says which item each task is for.
    let listed = e
        .tasks_as(&Actor::system(None), &TaskFilter::default(), None, None)
        .await
        .expect("tasks");
    assert_eq!(
        listed.items.iter().map(|t| t.task.item.clone()).collect::<Vec<_>>(),
        [Some(json!("water")), Some(json!("power"))]
    );
    // The form of an instance's task shows its own item.
    let form = e
        .task_form_as(&clerk(&["inquiries/expert"]), case, tasks[1].0)
        .await
        .expect("the form");
    assert_eq!(form.shows[0].value, Some(json!("power")));

    // A head may not add instances to the expert's step; another
    // process's clerk may not see the case at all.
    let add = |items: Value| Command::AddInstances {
        step: "inquire".into(),
        items: serde_json::from_value(items).expect("list"),
        by: Some("expert-1".into()),
    };
    let refused = e
        .command_as(&clerk(&["inquiries/head"]), case, add(json!(["gas"])))
        .await;
    assert!(matches!(refused, Err(EngineError::Forbidden(_))), "{refused:?}");
    let items_refused = e.command_as(&clerk(&["inquiries/expert"]), case, add(json!([7]))).await;
    assert!(
        matches!(items_refused, Err(EngineError::Command(CommandError::BadData(_)))),
        "an item that is not a body's name: {items_refused:?}"
    );

    complete(&e, case, tasks[0].0, json!({"answer": "agree"})).await;
    // Reopened on the same database, the instances go on where they were.
    drop(e);
    let e = engine(url).await;
    e.command_as(&clerk(&["inquiries/expert"]), case, add(json!(["gas"])))
        .await
        .expect("the expert adds a body");
    let tasks = open(&e, case).await;
    assert_eq!(
        tasks.iter().map(|t| t.2.clone()).collect::<Vec<_>>(),
        [Some(json!("power")), Some(json!("gas"))]
    );
    for (t, answer) in tasks.iter().zip(["object", "agree"]) {
        complete(&e, case, t.0, json!({ "answer": answer })).await;
    }
    let v = e.status(case).await.expect("status");
    assert_eq!(v.data["bodies"], json!(["water", "power", "gas"]));
    assert_eq!(
        v.data["answers"],
        json!([
            {"body": "water", "answer": "agree"},
            {"body": "power", "answer": "object"},
            {"body": "gas", "answer": "agree"}
        ])
    );
    assert_eq!(v.tasks.iter().map(|t| t.step.as_str()).collect::<Vec<_>>(), ["decide"]);
    // Nothing is left to add to.
    let late = e.command(case, add(json!(["fire"]))).await;
    assert!(
        matches!(late, Err(EngineError::Command(CommandError::NoInstances(_)))),
        "{late:?}"
    );
    complete(&e, case, v.tasks[0].task, json!({})).await;
    assert_eq!(e.status(case).await.expect("status").status, Status::Completed);
    // The history says what happened, once each.
    let h = e.history(case).await.expect("history");
    let count = |f: fn(&EventKind) -> bool| h.iter().filter(|x| f(&x.kind)).count();
    assert_eq!(count(|k| matches!(k, EventKind::InstancesPlanned { .. })), 1);
    assert_eq!(count(|k| matches!(k, EventKind::InstancesAdded { .. })), 1);
    assert_eq!(count(|k| matches!(k, EventKind::InstanceDone { .. })), 3);
    assert_eq!(count(|k| matches!(k, EventKind::InstancesEnded { .. })), 1);
    assert_eq!(
        ravand_engine::runtime::replay(&h).data,
        e.status(case).await.expect("status").data
    );
}

async fn cancelling_the_case_withdraws_every_instance(url: &str) {
    let e = engine(url).await;
    e.deploy("inquiries.yaml", INQUIRIES).await.expect("deploys");
    let case = e
        .start("inquiries", data(json!({"bodies": ["water", "power", "gas"]})), None)
        .await
        .expect("starts")
        .case;
    assert_eq!(open(&e, case).await.len(), 3);
    e.command(
        case,
        Command::Cancel {
            by: None,
            reason: Some("withdrawn by the owner".into()),
        },
    )
    .await
    .expect("cancels");
    let v = e.status(case).await.expect("status");
    assert_eq!(v.status, Status::Cancelled);
    assert!(v.tasks.is_empty() && v.next_timer.is_none(), "{v:?}");
}

on_both_urls!("instances"; instances_run_persist_and_gather, cancelling_the_case_withdraws_every_instance);

/// Over HTTP: instances added by `POST /cases/{id}/instances`; a bad body,
/// a wrong item, a step without instances and a token without the case
/// are each refused with a 4xx and a JSON error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_are_added_over_http_and_refusals_are_json() {
    use ravand_engine::service::{self, Token};
    let e = Arc::new(
        Engine::in_memory(Arc::new(VirtualClock::new(T0)), 9)
            .await
            .expect("engine"),
    );
    let text = std::fs::read_to_string(crate::helpers::root().join("tokens.example.yaml")).expect("tokens");
    let tokens: Vec<Token> = serde_saphyr::from_str(&text).expect("tokens parse");
    let app = service::router(service::Service::new(e.clone(), tokens));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::new();
    let send = |path: String, token: &'static str, body: Value| {
        let r = client.post(format!("{base}{path}")).bearer_auth(token).json(&body);
        async move {
            let res = r.send().await.expect("request");
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (st, v) = send(
        "/definitions".into(),
        "analyst-demo",
        json!({"name": "inquiries.yaml", "source": INQUIRIES}),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let (st, v) = send(
        "/cases".into(),
        "admin-demo",
        json!({"process": "inquiries", "data": {"bodies": ["water"]}}),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let case = v["case"].as_u64().expect("a case id");
    let path = format!("/cases/{case}/instances");
    let refused = |v: &Value| v["error"].is_string() && v["message"].as_str().is_some_and(|m| !m.is_empty());
    for (token, body, want) in [
        ("admin-demo", json!({"step": "inquire"}), 400),
        ("admin-demo", json!({"step": "inquire", "items": [null]}), 422),
        ("admin-demo", json!({"step": "decide", "items": ["gas"]}), 404),
        ("admin-demo", json!({"step": "nowhere", "items": ["gas"]}), 404),
        ("operator-demo", json!({"step": "inquire", "items": ["gas"]}), 403),
    ] {
        let (st, v) = send(path.clone(), token, body.clone()).await;
        assert_eq!(st, want, "{token} {body}: {v}");
        assert!(refused(&v), "{body}: {v}");
    }
    let (st, v) = send(
        path.clone(),
        "admin-demo",
        json!({"step": "inquire", "items": ["gas", "fire"]}),
    )
    .await;
    assert_eq!(st, 204, "{v}");
    let view = e.status(CaseId(case)).await.expect("status");
    assert_eq!(
        view.tasks.iter().map(|t| t.item.clone()).collect::<Vec<_>>(),
        [Some(json!("water")), Some(json!("gas")), Some(json!("fire"))]
    );
    // The task page says each instance's item, as the API document says.
    let get = |path: &str| {
        let r = client.get(format!("{base}{path}")).bearer_auth("admin-demo");
        async move { r.send().await.expect("request").json::<Value>().await.expect("json") }
    };
    let page = get("/tasks?process=inquiries").await;
    let items: Vec<&Value> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| &t["task"]["item"])
        .collect();
    assert_eq!(items, [&json!("water"), &json!("gas"), &json!("fire")], "{page}");
    let doc = get("/openapi.json").await;
    assert!(
        doc["components"]["schemas"]["TaskView"]["properties"]["item"].is_object(),
        "documented"
    );
}
