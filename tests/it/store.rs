//! The store, for real, on SQLite (a file) and PostgreSQL (a fresh database
//! per test on the server CI starts; `RAVAND_TEST_PG_ADMIN` names a
//! connection to its `postgres` database, default the local server). Every
//! test runs on both.

use std::sync::Arc;

use ravand_engine::engine::{CaseId, Engine};
use ravand_engine::runtime::{Data, EventKind, Status, TaskId};
use ravand_engine::time::{Timestamp, VirtualClock};
use serde_json::json;
use sqlx::Connection;

use crate::helpers::root;

const T0: Timestamp = Timestamp(1_777_708_800); // 2026-05-02T08:00:00Z

/// A database for one test: a SQLite file in a fresh folder, or a new
/// PostgreSQL database.
pub struct TestDb {
    pub url: String,
    dropper: Option<(String, String)>,
}

impl TestDb {
    pub async fn sqlite(name: &str) -> TestDb {
        let dir = std::env::temp_dir().join(format!("ravand-store-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        TestDb {
            url: format!("sqlite://{}", dir.join("ravand.db").display()),
            dropper: None,
        }
    }

    pub async fn postgres(name: &str) -> TestDb {
        let admin = std::env::var("RAVAND_TEST_PG_ADMIN")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin}: {e} (CI starts it; start it locally)"));
        let db = format!("ravand_test_{}_{name}", std::process::id());
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {db}")))
            .execute(&mut conn)
            .await;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
            .execute(&mut conn)
            .await
            .expect("create database");
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |x| x.0).to_owned();
        TestDb {
            url: format!("{base}/{db}"),
            dropper: Some((admin, db)),
        }
    }

    pub async fn drop(self) {
        if let Some((admin, db)) = self.dropper {
            if let Ok(mut conn) = sqlx::AnyConnection::connect(&admin).await {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await;
            }
        }
    }
}

async fn engine(url: &str, clock: &Arc<VirtualClock>) -> Engine {
    let e = Engine::open(url, clock.clone(), 11).await.expect("opens");
    e
}

async fn setup(url: &str, clock: &Arc<VirtualClock>) -> Engine {
    let e = engine(url, clock).await;
    e.add_calendars_from(&root().join("definitions/calendars"))
        .await
        .expect("calendars");
    let text = std::fs::read_to_string(root().join("definitions/complaint-137.yaml")).expect("definition");
    e.deploy("complaint-137.yaml", &text).await.expect("deploys");
    e
}

fn data(v: serde_json::Value) -> Data {
    serde_json::from_value(v).expect("object")
}

async fn task_at(e: &Engine, case: CaseId, step: &str) -> TaskId {
    e.status(case)
        .await
        .expect("status")
        .tasks
        .iter()
        .find(|t| t.step == step)
        .unwrap_or_else(|| panic!("no task {step}"))
        .task
}

/// A case survives a restart: state, history, tracking code, pending timers
/// (which then fire), and subscriptions (which then correlate).
async fn survives_restart(url: &str) {
    let clock = Arc::new(VirtualClock::new(T0));
    let e = setup(url, &clock).await;
    let started = e
        .start("complaint-137", data(json!({"category": "roads"})), Some("op".into()))
        .await
        .expect("starts");
    let case = started.case;
    e.complete(
        case,
        task_at(&e, case, "register-request").await,
        None,
        data(json!({"category": "roads"})),
    )
    .await
    .expect("completes");
    e.complete(case, task_at(&e, case, "send-tracking-code").await, None, Data::new())
        .await
        .expect("the SMS job is done");
    e.complete(
        case,
        task_at(&e, case, "classify").await,
        None,
        data(json!({"feasible": true, "needs_details": false})),
    )
    .await
    .expect("completes");
    let before_state = e.instance(case).await.expect("state");
    let before_history = e.history(case).await.expect("history");
    drop(e);

    let e = engine(url, &clock).await;
    assert_eq!(
        e.instance(case).await.expect("state"),
        before_state,
        "state after restart"
    );
    assert_eq!(
        e.history(case).await.expect("history"),
        before_history,
        "history after restart"
    );
    assert_eq!(
        ravand_engine::runtime::replay(&before_history),
        before_state,
        "history is the truth"
    );
    assert_eq!(e.find_by_code(&started.tracking_code).await.expect("query"), Some(case));
    // The pending deadline fires after the restart, once.
    let later = Timestamp(T0.0 + 30 * 86_400);
    clock.set(later);
    let fired = e.tick(later).await.expect("tick");
    assert!(fired >= 6, "{fired}");
    assert_eq!(e.tick(later).await.expect("tick"), 0, "nothing fires twice");
    let view = e.status(case).await.expect("status");
    assert_eq!(view.tasks[0].role.as_deref(), Some("alternate-officer"));
    // Deploying the same content again is a no-op; a changed one under the
    // same version is refused; nothing stored is lost.
    let text = std::fs::read_to_string(root().join("definitions/complaint-137.yaml")).expect("definition");
    e.deploy("complaint-137.yaml", &text).await.expect("same content");
    assert!(e
        .deploy("complaint-137.yaml", &text.replace("رسیدگی شد", "حل شد"))
        .await
        .is_err());
    assert_eq!(e.definitions().await.expect("definitions").len(), 1);
    assert_eq!(e.status(case).await.expect("status").status, Status::Running);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_survives_restart() {
    let db = TestDb::sqlite("restart").await;
    survives_restart(&db.url).await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_survives_restart() {
    let db = TestDb::postgres("restart").await;
    survives_restart(&db.url).await;
    db.drop().await;
}

/// A case stays on the version it started with.
async fn versions(url: &str) {
    let clock = Arc::new(VirtualClock::new(T0));
    let e = setup(url, &clock).await;
    let old = e
        .start("complaint-137", data(json!({"category": "waste"})), None)
        .await
        .expect("starts")
        .case;
    let text = std::fs::read_to_string(root().join("definitions/complaint-137.yaml")).expect("definition");
    let v2 = text
        .replace("version: 1", "version: 2")
        .replace("title: ثبت درخواست شهروند", "title: ثبت درخواست");
    e.deploy("complaint-137.yaml", &v2).await.expect("v2");
    let new = e
        .start("complaint-137", data(json!({"category": "waste"})), None)
        .await
        .expect("starts")
        .case;
    assert_eq!(e.status(old).await.expect("s").version, 1);
    assert_eq!(e.status(new).await.expect("s").version, 2);
    assert_eq!(e.status(old).await.expect("s").tasks[0].title, "ثبت درخواست شهروند");
    assert_eq!(e.status(new).await.expect("s").tasks[0].title, "ثبت درخواست");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_cases_keep_their_version() {
    let db = TestDb::sqlite("versions").await;
    versions(&db.url).await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_cases_keep_their_version() {
    let db = TestDb::postgres("versions").await;
    versions(&db.url).await;
    db.drop().await;
}

/// Bad requests change nothing.
async fn refused_requests_change_nothing(url: &str) {
    let clock = Arc::new(VirtualClock::new(T0));
    let e = setup(url, &clock).await;
    let case = e
        .start("complaint-137", data(json!({"category": "roads"})), None)
        .await
        .expect("starts")
        .case;
    let task = task_at(&e, case, "register-request").await;
    let before = e.history(case).await.expect("h");
    assert!(
        e.complete(case, task, None, data(json!({"category": "volcano"})))
            .await
            .is_err(),
        "not a category"
    );
    assert!(
        e.complete(case, task, None, data(json!({"satisfied": true})))
            .await
            .is_err(),
        "not set by this step"
    );
    assert!(e.complete(case, TaskId(999), None, Data::new()).await.is_err());
    assert!(e.complete(CaseId(999_999), task, None, Data::new()).await.is_err());
    assert!(
        e.start("complaint-137", Data::new(), None).await.is_err(),
        "category is required"
    );
    assert_eq!(e.history(case).await.expect("h"), before);
    e.complete(case, task, None, Data::new()).await.expect("completes");
    assert!(
        e.complete(case, task, None, Data::new()).await.is_err(),
        "completing twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_refused_requests_change_nothing() {
    let db = TestDb::sqlite("refused").await;
    refused_requests_change_nothing(&db.url).await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_refused_requests_change_nothing() {
    let db = TestDb::postgres("refused").await;
    refused_requests_change_nothing(&db.url).await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_engines_on_one_postgres_fire_each_of_1000_timers_once() {
    let db = TestDb::postgres("two_engines").await;
    let clock = Arc::new(VirtualClock::new(T0));
    let a = Arc::new(engine(&db.url, &clock).await);
    let wait = "id: waiter\nversion: 1\ntitle: انتظار\nsteps:\n  - {id: start, kind: start}\n  - {id: w, kind: wait, title: صبر, wait: {duration: 1 hours}}\n  - {id: done, kind: end, outcome: done}\n";
    a.deploy("waiter.yaml", wait).await.expect("deploys");
    let mut cases = Vec::new();
    for _ in 0..1_000 {
        cases.push(a.start("waiter", Data::new(), None).await.expect("starts").case);
    }
    let b = Arc::new(engine(&db.url, &clock).await);
    let later = Timestamp(T0.0 + 7_200);
    let (fa, fb) = tokio::join!(
        {
            let a = a.clone();
            tokio::spawn(async move { a.tick(later).await.expect("tick a") })
        },
        {
            let b = b.clone();
            tokio::spawn(async move { b.tick(later).await.expect("tick b") })
        }
    );
    let (fa, fb) = (fa.expect("join"), fb.expect("join"));
    assert_eq!(fa + fb, 1_000, "engine a fired {fa}, engine b {fb}");
    for case in cases {
        let h = a.history(case).await.expect("history");
        let fired = h
            .iter()
            .filter(|e| matches!(e.kind, EventKind::TimerFired { .. }))
            .count();
        assert_eq!(fired, 1, "case {case} fired {fired} times");
        assert_eq!(a.status(case).await.expect("s").status, Status::Completed);
    }
    drop((a, b));
    db.drop().await;
}
