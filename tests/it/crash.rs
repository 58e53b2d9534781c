//! Real `ravand serve` processes: one killed with SIGKILL under load and
//! restarted on the same database; two sharing one PostgreSQL database.

use std::time::{Duration, Instant};

use ravand_engine::engine::{CaseId, Engine};
use ravand_engine::runtime::{EventKind, Status};
use ravand_engine::time::SystemClock;
use serde_json::{json, Value};

use crate::nodes::Node;
use crate::store::TestDb;

const DEFINITION: &str = "id: crash\nversion: 1\ntitle: آزمون\nroles:\n  - {id: operator-137, title: اپراتور}\nsteps:\n  - {id: start, kind: start}\n  - {id: a, title: کار, performer: operator-137}\n  - {id: w, kind: wait, title: صبر, wait: {duration: 2 seconds}}\n  - {id: done, kind: end, outcome: done}\n";

/// `ravand serve` on `db` with the test tokens, deploying `definition`.
async fn served(db: &str, definition: &std::path::Path) -> Node {
    let log = definition.with_extension(format!("{}.log", rand::random::<u32>()));
    let def = definition.to_str().expect("a UTF-8 path");
    Node::start(db, &tokens_file(), &["--deploy", def], log).await
}

/// A tokens file for the test processes: `operator-demo` is a clerk of
/// every process here, `admin-demo` an administrator.
pub fn tokens_file() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ravand-tokens-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let f = dir.join("tokens.yaml");
    let line = |secret: &str, access: &str, grants: &str| {
        format!(
            "- {{sha256: {}, access: {access}, user: {secret}{grants}}}\n",
            ravand_engine::service::sha256_hex(secret)
        )
    };
    let procs = "crash, failover, fault";
    let text = line(
        "operator-demo",
        "clerk",
        &format!(", processes: [{procs}], roles: [crash/*, failover/*, fault/*]"),
    ) + &line("admin-demo", "admin", "")
        + &line("analyst-demo", "analyst", "");
    std::fs::write(&f, text).expect("write");
    f
}

fn definition_file(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ravand-crash-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let f = dir.join("crash.yaml");
    std::fs::write(&f, DEFINITION).expect("write");
    f
}

async fn post(client: &reqwest::Client, url: String, body: Value) -> Option<Value> {
    let r = client
        .post(url)
        .bearer_auth("operator-demo")
        .json(&body)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()?;
    if !r.status().is_success() {
        return None;
    }
    Some(r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_under_load_loses_no_acknowledged_step_and_fires_every_timer() {
    let db = TestDb::sqlite("crash").await;
    let def = definition_file("sqlite");
    let server = served(&db.url, &def).await;
    let client = reqwest::Client::new();
    // Load: start cases and complete their first task, from 16 clients (so
    // that units of work share commits), and note what was acknowledged.
    let base = server.base.clone();
    let mut clients = Vec::new();
    for _ in 0..16 {
        let (client, base) = (client.clone(), base.clone());
        clients.push(tokio::spawn(async move {
            let mut started = Vec::new();
            let mut completed = Vec::new();
            for _ in 0..400 {
                let Some(v) = post(&client, format!("{base}/cases"), json!({"process": "crash"})).await else {
                    break;
                };
                let case = v["case"].as_u64().expect("case");
                started.push(case);
                // The first task of a new case is number 3 (ids are shared by
                // tokens, tasks and timers within a case).
                let wl = client
                    .get(format!("{base}/cases/{case}"))
                    .bearer_auth("operator-demo")
                    .send()
                    .await;
                let Ok(wl) = wl else { break };
                let Ok(view) = wl.json::<Value>().await else { break };
                let Some(task) = view["tasks"][0]["task"].as_u64() else {
                    break;
                };
                if post(
                    &client,
                    format!("{base}/cases/{case}/tasks/{task}/complete"),
                    json!({"outputs": {}}),
                )
                .await
                .is_none()
                {
                    break;
                }
                completed.push(case);
            }
            (started, completed)
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    drop(server); // SIGKILL: no chance to flush or clean up
    let counter = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /metrics"))
    };
    let (commits, units) = (counter("ravand_commits_total "), counter("ravand_commit_units_total "));
    assert!(
        units > commits,
        "no commit was shared before the kill: {units} units in {commits} commits"
    );
    let mut started = Vec::new();
    let mut completed = Vec::new();
    for c in clients {
        let (s, k) = c.await.expect("client");
        started.extend(s);
        completed.extend(k);
    }
    assert!(
        completed.len() > 20,
        "too little load before the kill: {}",
        completed.len()
    );

    // Restart on the same file: the waits of completed cases fire.
    let server = served(&db.url, &def).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let engine = Engine::open(&db.url, std::sync::Arc::new(SystemClock), 1)
        .await
        .expect("opens beside the server");
    loop {
        let mut pending = 0;
        for &case in &completed {
            if engine
                .status(CaseId(case))
                .await
                .expect("acknowledged case exists")
                .status
                != Status::Completed
            {
                pending += 1;
            }
        }
        if pending == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{pending} acknowledged cases never finished");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    for &case in &started {
        let h = engine
            .history(CaseId(case))
            .await
            .expect("every acknowledged start is stored");
        let done = h
            .iter()
            .filter(|e| matches!(e.kind, EventKind::TaskCompleted { .. }))
            .count();
        let fired = h
            .iter()
            .filter(|e| matches!(e.kind, EventKind::TimerFired { .. }))
            .count();
        assert!(
            done <= 1 && fired <= 1,
            "case {case} applied a step twice: {done} completions, {fired} timers"
        );
        if completed.contains(&case) {
            assert_eq!(
                (done, fired),
                (1, 1),
                "case {case}: acknowledged completion or its timer lost"
            );
        }
        assert_eq!(
            ravand_engine::runtime::replay(&h),
            engine.instance(CaseId(case)).await.expect("state"),
            "case {case}"
        );
    }
    drop(server); // SIGKILL: no chance to flush or clean up
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_serving_processes_on_one_postgres_fire_each_timer_once() {
    let db = TestDb::postgres("two_processes").await;
    let def = definition_file("pg");
    // 1000 cases whose timers are due at once, made before the servers start.
    {
        let engine = Engine::open(&db.url, std::sync::Arc::new(SystemClock), 2)
            .await
            .expect("opens");
        engine.deploy("crash.yaml", DEFINITION).await.expect("deploys");
        for _ in 0..1_000 {
            let c = engine
                .start("crash", Default::default(), None)
                .await
                .expect("starts")
                .case;
            let task = engine.status(c).await.expect("s").tasks[0].task;
            engine
                .complete(c, task, None, Default::default())
                .await
                .expect("completes");
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let a = served(&db.url, &def).await;
    let b = served(&db.url, &def).await;
    let engine = Engine::open(&db.url, std::sync::Arc::new(SystemClock), 3)
        .await
        .expect("opens");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let open = engine
            .cases()
            .await
            .expect("cases")
            .iter()
            .filter(|c| c.2 != Status::Completed)
            .count();
        if open == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{open} cases still waiting");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    for (case, _, _) in engine.cases().await.expect("cases") {
        let h = engine.history(case).await.expect("history");
        let fired = h
            .iter()
            .filter(|e| matches!(e.kind, EventKind::TimerFired { .. }))
            .count();
        assert_eq!(fired, 1, "case {case} fired {fired} times");
    }
    drop((a, b));
    db.drop().await;
}
