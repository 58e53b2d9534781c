//! A database written by an earlier Ravand is read and carried on by this one.
//!
//! `tests/fixtures/upgrade/` holds a SQLite file and a PostgreSQL dump written
//! by `write_fixtures` (ignored: it is run by hand, only on the commit that is
//! to be the "before" — see the README there), together with what that Ravand
//! showed for each case: its status view and its history lines. This test
//! opens copies with today's code and checks that
//! - every stored state and event deserialises and serialises back to the
//!   very same JSON (the types may change, the stored form may not);
//! - every case shows what it showed then, and its history replays to its
//!   stored state;
//! - the cases carry on: timers fire, messages correlate, tasks complete, the
//!   incident resolves, and every case reaches its end.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ravand_engine::engine::{CaseId, Engine};
use ravand_engine::runtime::{Command, Data, Event, Instance, Status};
use ravand_engine::time::{Timestamp, VirtualClock};
use serde_json::{json, Value};
use sqlx::{Connection, Row};

use crate::helpers::root;
use crate::scenarios::{article100_served, drive, Harness};
use crate::store::TestDb;

const FILES: [&str; 6] = [
    "complaint-137.yaml",
    "article-100.yaml",
    "building-permit-current.yaml",
    "building-permit-reformed.yaml",
    "article5-commission.yaml",
    "mardom-salam.yaml",
];

fn fixtures() -> PathBuf {
    root().join("tests/fixtures/upgrade")
}

/// Values for every variable the tasks set, so any case can be driven on.
fn plan() -> Value {
    json!({"category": "roads", "feasible": true, "needs_details": false, "satisfied": true,
        "docs_complete": true, "deed_valid": true, "has_violation_record": false, "land_use_allowed": true,
        "needs_article5": true, "article5_approved": true, "in_historic_area": false, "floors": 4,
        "pays_in_installments": false, "plans_approved": true, "facade_approved": true,
        "violation_confirmed": true, "ruling": "fine", "appeal_ruling": "fine", "final_ruling": "fine",
        "file_no": "A100-UP-1", "mosque": "جامع", "requests_count": 3, "unassigned_requests": 0})
}

fn data(v: Value) -> Data {
    serde_json::from_value(v).expect("object")
}

async fn harness(url: &str) -> Harness {
    let clock = Arc::new(VirtualClock::new(Timestamp(0)));
    let engine = Engine::open(url, clock.clone(), 7).await.expect("opens");
    Harness::with(engine, clock, &[], "tehran-municipal", "2026-04-04T08:00").await
}

/// The values of `plan` for the variables a step sets.
fn outputs(p: &ravand_engine::model::Process, step: &ravand_engine::model::Step, plan: &Value) -> Data {
    step.sets
        .iter()
        .filter_map(|ix| {
            let name = &p.variables[ix.0 as usize].name;
            plan.get(name).map(|v| (name.clone(), v.clone()))
        })
        .collect()
}

/// Works `case` alone (not its children, not other cases): completes its
/// tasks and answers its messages until it waits for something else — a
/// permit case then waits on its Article 5 child. (The fixtures were
/// written by this function as it was on that commit, which read a step's
/// fields where today's code has accessors.)
async fn until_waiting(h: &Harness, case: CaseId, plan: &Value) {
    let p = h
        .engine
        .process("building-permit")
        .await
        .expect("reads")
        .expect("process");
    for _ in 0..500 {
        let view = h.engine.status(case).await.expect("status");
        if let Some(task) = view.tasks.first() {
            let step = p.steps.iter().find(|s| s.id == task.step).expect("its step");
            h.engine
                .complete(case, task.task, None, outputs(&p, step, plan))
                .await
                .expect("completes");
            continue;
        }
        let st = h.engine.instance(case).await.expect("state");
        let Some(sub) = st.subscriptions.first() else { return };
        let step = p
            .steps
            .iter()
            .find(|s| s.message() == Some(sub.message.as_str()))
            .expect("its receive step");
        let got = h
            .engine
            .message(&sub.message, sub.key.as_deref(), outputs(&p, step, plan))
            .await
            .expect("delivers");
        assert_eq!(got, case);
    }
    panic!("case {case} never waited");
}

/// What the engine shows of every case: the status view and history lines.
async fn shown(e: &Engine) -> Value {
    let mut out = serde_json::Map::new();
    for (id, _, _) in e.cases().await.expect("cases") {
        out.insert(
            id.to_string(),
            json!({
                "status": serde_json::to_value(e.status(id).await.expect("status")).expect("json"),
                "history": e.history_lines(id).await.expect("history"),
            }),
        );
    }
    Value::Object(out)
}

/// Cases in every state the store can hold.
async fn populate(url: &str) -> Value {
    let h = harness(url).await;
    for f in FILES {
        let text = std::fs::read_to_string(root().join("definitions").join(f)).expect("definition");
        h.engine.deploy(f, &text).await.expect("deploys");
    }
    let plan = plan();
    let complaint = |by: &'static str| {
        let e = &h.engine;
        async move {
            e.start("complaint-137", data(json!({"category": "roads"})), Some(by.into()))
                .await
                .expect("starts")
                .case
        }
    };
    // Finished (first: `drive` works every open case).
    let c = complaint("op-4").await;
    assert_eq!(drive(&h, c, &plan).await, Status::Completed);
    // Open at its first task.
    complaint("op-1").await;
    // Past classification: deadline, reminders and escalations pending.
    let c = complaint("op-2").await;
    h.complete(c, "register-request", json!({})).await;
    h.complete(c, "classify", json!({"feasible": true, "needs_details": false}))
        .await;
    // Suspended with its timers paused.
    let c = complaint("op-3").await;
    h.complete(c, "register-request", json!({})).await;
    h.engine
        .command(
            c,
            Command::Suspend {
                by: Some("manager".into()),
            },
        )
        .await
        .expect("suspends");
    // Two permits waiting on their Article 5 child cases; the second's
    // child is then cancelled on its own: an incident.
    for _ in 0..2 {
        let permit = h
            .engine
            .start("building-permit", Data::new(), None)
            .await
            .expect("starts")
            .case;
        until_waiting(&h, permit, &plan).await;
    }
    let child = h
        .engine
        .cases()
        .await
        .expect("cases")
        .into_iter()
        .filter(|c| c.1 == "article5-commission" && c.2 == Status::Running)
        .map(|c| c.0)
        .max()
        .expect("a child case");
    h.engine
        .command(
            child,
            Command::Cancel {
                by: Some("secretary".into()),
                reason: Some("withdrawn".into()),
            },
        )
        .await
        .expect("cancels");
    // An Article 100 case in its defence window (a subscription and a timer).
    article100_served(&h, "A100-UP-7", "2026-05-03T10:00").await;
    // Time passes: reminders fire, Mardom Salam starts its meetings.
    h.wait_until("2026-05-06T09:00").await;
    shown(&h.engine).await
}

/// Writes the fixtures with the code of the current commit. Run by hand,
/// and only on the commit that is to be the "before":
/// `cargo test --test it upgrade::write_fixtures -- --ignored`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes tests/fixtures/upgrade; run by hand on the commit that is to be the before"]
async fn write_fixtures() {
    let dir = fixtures();
    std::fs::create_dir_all(&dir).expect("dir");
    let sqlite = dir.join("before.sqlite");
    let _ = std::fs::remove_file(&sqlite);
    let shown = populate(&format!("sqlite://{}", sqlite.display())).await;
    write_json(&dir.join("before.sqlite.shown.json"), &shown);

    let db = TestDb::postgres("upgrade_write").await;
    let shown = populate(&db.url).await;
    write_json(&dir.join("before.pg.shown.json"), &shown);
    let out = std::process::Command::new("pg_dump")
        .args(["--inserts", "--no-owner", "--no-privileges", "--no-comments", &db.url])
        .output()
        .expect("pg_dump");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(dir.join("before.pg.sql"), out.stdout).expect("write");
    db.drop().await;
}

fn write_json(path: &Path, v: &Value) {
    std::fs::write(path, serde_json::to_string_pretty(v).expect("json") + "\n").expect("write");
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json")
}

/// Every JSON text in the one column `sql` selects reads as a `T` and
/// writes back as the same JSON. How many rows.
async fn same_json<T: serde::de::DeserializeOwned + serde::Serialize>(
    conn: &mut sqlx::AnyConnection,
    sql: &str,
) -> usize {
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_all(&mut *conn)
        .await
        .expect("rows");
    for row in &rows {
        let stored: Value = serde_json::from_str(&row.get::<String, _>(0)).expect("json");
        let today: T = serde_json::from_value(stored.clone())
            .unwrap_or_else(|e| panic!("today's {} reads `{stored}`: {e}", std::any::type_name::<T>()));
        assert_eq!(
            serde_json::to_value(&today).expect("json"),
            stored,
            "it writes back as it was"
        );
    }
    rows.len()
}

/// Every stored state and event reads into today's types and writes back to
/// the same JSON.
async fn round_trips(url: &str) -> usize {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await.expect("connects");
    same_json::<Instance>(&mut conn, "SELECT state FROM cases").await
        + same_json::<Event>(&mut conn, "SELECT body FROM events").await
}

/// The whole check, on a database holding the fixture.
async fn carries_on(url: &str, shown_then: &Value) {
    let rows = round_trips(url).await;
    assert!(rows > 100, "the fixture holds states and events: {rows}");
    let h = harness(url).await;
    assert_eq!(&shown(&h.engine).await, shown_then, "every case shows what it showed");
    // The read rows were built from the stored cases: the task pages list
    // what the cases' views do, and the feed holds every history.
    let system = ravand_engine::engine::Actor::system(None);
    let expected = crate::reads::expected_tasks(&h.engine).await;
    assert!(expected.len() >= 5, "{expected:?}");
    let f = ravand_engine::engine::TaskFilter::default();
    let listed = crate::reads::walk(|after| {
        let (e, system, f) = (&h.engine, &system, &f);
        async move { e.tasks_as(system, f, after.as_deref(), Some(3)).await }
    })
    .await;
    assert_eq!(crate::reads::pairs(listed), expected);
    let mut histories = Vec::new();
    for (id, _, _) in h.engine.cases().await.expect("cases") {
        histories.push((id, h.engine.history(id).await.expect("history")));
    }
    let total = histories.iter().map(|(_, h)| h.len()).sum();
    let feed = crate::reads::settled_feed(&h.engine, &system, total).await;
    for (id, history) in histories {
        let fed: Vec<_> = feed.iter().filter(|i| i.case == id).map(|i| i.event.clone()).collect();
        assert_eq!(fed, history, "case {id} in the feed");
    }
    assert_eq!(feed.len(), total);
    // The dashboard's rows were built from the stored histories: over all
    // time, each process's counts are the histories' counts.
    let all = (Timestamp(0), Timestamp(i64::from(i32::MAX)));
    let mut by_process: std::collections::BTreeMap<String, [i64; 5]> = Default::default();
    for (id, process, status) in h.engine.cases().await.expect("cases") {
        let c = by_process.entry(process).or_default();
        c[0] += 1;
        c[1] += i64::from(status.is_finished());
        for e in h.engine.history(id).await.expect("history") {
            let kind = serde_json::to_value(&e).expect("json")["type"]
                .as_str()
                .map(str::to_owned);
            match kind.as_deref() {
                Some("task-completed") => c[2] += 1,
                Some("escalated") => c[3] += 1,
                Some("task-created") => c[4] += 1,
                _ => {}
            }
        }
    }
    assert!(by_process.values().any(|c| c[2] > 0 && c[3] > 0), "{by_process:?}");
    for (process, [started, finished, done, rungs, created]) in &by_process {
        let d = h
            .engine
            .dashboard_as(&system, process, all.0, all.1, None)
            .await
            .expect("dashboard");
        assert_eq!(
            (d.cases.started, d.cases.finished, d.cases.open),
            (*started, *finished, started - finished),
            "{process}"
        );
        assert_eq!(d.tasks.done, *done, "{process}");
        assert_eq!(d.escalations.iter().map(|e| e.1).sum::<i64>(), *rungs, "{process}");
        assert!(d.tasks.open_now <= *created - *done, "{process}");
    }
    let cases = h.engine.cases().await.expect("cases");
    assert!(cases.len() >= 10, "{}", cases.len());
    for (id, _, _) in &cases {
        let st = h.engine.instance(*id).await.expect("state");
        st.check_invariants().expect("invariants");
        let history = h.engine.history(*id).await.expect("history");
        assert_eq!(ravand_engine::runtime::replay(&history), st, "case {id} replays");
    }
    // The incident resolves, the suspended case resumes, and all run to an end.
    for (id, _, _) in &cases {
        let st = h.engine.instance(*id).await.expect("state");
        for token in st.incidents.keys().copied() {
            h.engine
                .command(
                    *id,
                    Command::Resolve {
                        token,
                        values: Data::new(),
                        by: Some("admin".into()),
                    },
                )
                .await
                .expect("resolves");
        }
        if st.status == Status::Suspended {
            h.engine
                .command(*id, Command::Resume { by: None })
                .await
                .expect("resumes");
        }
    }
    let plan = plan();
    for (id, _, _) in &cases {
        let end = drive(&h, *id, &plan).await;
        assert!(end.is_finished(), "case {id}: {end:?}");
    }
    for (id, _, status) in h.engine.cases().await.expect("cases") {
        if status == Status::Running {
            assert!(drive(&h, id, &plan).await.is_finished());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_written_before_is_read_and_carried_on() {
    let db = TestDb::sqlite("upgrade").await;
    let path = db.url.trim_start_matches("sqlite://").to_owned();
    std::fs::copy(fixtures().join("before.sqlite"), &path).expect("copy fixture");
    carries_on(&db.url, &read_json(&fixtures().join("before.sqlite.shown.json"))).await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_written_before_is_read_and_carried_on() {
    let db = TestDb::postgres("upgrade").await;
    let dump = std::fs::read_to_string(fixtures().join("before.pg.sql")).expect("dump");
    // psql's meta-commands (`\restrict`) are not SQL.
    let sql: String = dump
        .lines()
        .filter(|l| !l.starts_with('\\'))
        .map(|l| format!("{l}\n"))
        .collect();
    let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connects");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
        .expect("restores");
    drop(conn);
    carries_on(&db.url, &read_json(&fixtures().join("before.pg.shown.json"))).await;
    db.drop().await;
}
