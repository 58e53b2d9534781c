//! A PostgreSQL restart under load: on a private PostgreSQL instance (the
//! shared one serves the other tests), `ravand serve` takes starts from four
//! clients while the database restarts. Nothing acknowledged is lost, and
//! every refusal is a JSON 503.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ravand_engine::engine::{CaseId, Engine};
use ravand_engine::time::SystemClock;
use serde_json::{json, Value};

use crate::crash::tokens_file;
use crate::nodes::Node;

fn pg_bin() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL's server binaries under /usr/lib/postgresql")
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("pg_ctl").exists())
        .collect();
    dirs.sort();
    dirs.pop().expect("a PostgreSQL with pg_ctl")
}

/// Runs a PostgreSQL tool as the `postgres` user when we are root (the
/// server refuses to run as root), else as ourselves.
fn pg(tool: &str, args: &[&str]) -> std::process::Output {
    let bin = pg_bin().join(tool);
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    let mut c = if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&bin);
        c
    } else {
        Command::new(&bin)
    };
    c.args(args).output().expect("runs")
}

struct Private {
    dir: PathBuf,
    port: u16,
}

impl Private {
    fn start() -> Private {
        let dir = std::env::temp_dir().join(format!("ravand-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let _ = Command::new("chown").args(["postgres:postgres"]).arg(&dir).status();
        let data = dir.join("data");
        let out = pg("initdb", &["-D", s(&data), "-A", "trust", "-U", "postgres"]);
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("port");
        let p = Private { dir, port };
        p.ctl("start");
        p
    }

    fn ctl(&self, what: &str) {
        let data = self.dir.join("data");
        let opts = format!("-p {} -k {} -c listen_addresses=127.0.0.1", self.port, s(&self.dir));
        let log = self.dir.join("pg.log");
        let out = pg(
            "pg_ctl",
            &["-D", s(&data), "-o", &opts, "-l", s(&log), "-m", "fast", "-w", what],
        );
        assert!(
            out.status.success(),
            "pg_ctl {what}: {}{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

impl Drop for Private {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = pg("pg_ctl", &["-D", s(&data), "-m", "immediate", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_restart_under_load_loses_nothing_acknowledged() {
    let pgsql = Private::start();
    let def = pgsql.dir.join("crash.yaml");
    std::fs::write(
        &def,
        "id: crash\nversion: 1\ntitle: صبر\nsteps:\n  - {id: start, kind: start}\n  - {id: w, kind: wait, title: صبر, wait: {duration: 1 hours}}\n  - {id: done, kind: end, outcome: done}\n",
    )
    .expect("def");
    let node = Node::start(
        &pgsql.url(),
        &tokens_file(),
        &["--deploy", s(&def)],
        pgsql.dir.join("serve.log"),
    )
    .await;
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::<u64>::new()));
    let refused = Arc::new(Mutex::new(Vec::<(u16, Value)>::new()));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (base, stop, acked, refused) = (node.base.clone(), stop.clone(), acked.clone(), refused.clone());
        clients.push(tokio::spawn(async move {
            let c = reqwest::Client::new();
            while !stop.load(Ordering::Relaxed) {
                let r = c
                    .post(format!("{base}/cases"))
                    .bearer_auth("operator-demo")
                    .json(&json!({"process": "crash"}))
                    .timeout(Duration::from_secs(30))
                    .send()
                    .await;
                let Ok(r) = r else {
                    refused.lock().expect("lock").push((0, Value::Null));
                    continue;
                };
                let st = r.status().as_u16();
                let v: Value = r.json().await.unwrap_or(Value::Null);
                if st == 201 {
                    acked.lock().expect("lock").push(v["case"].as_u64().expect("case"));
                } else {
                    refused.lock().expect("lock").push((st, v));
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = acked.lock().expect("lock").len();
    pgsql.ctl("restart");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.expect("client");
    }
    drop(node);
    let acked = acked.lock().expect("lock").clone();
    let refused = refused.lock().expect("lock").clone();
    assert!(before > 20, "too little load before the restart: {before}");
    assert!(acked.len() > before, "nothing was acknowledged after the restart");
    for (st, v) in &refused {
        assert!(
            *st == 503 && v.get("error").is_some() && v.get("message").is_some(),
            "a refusal that is not a JSON 503: {st} {v}"
        );
    }
    let engine = Engine::open(&pgsql.url(), Arc::new(SystemClock), 8)
        .await
        .expect("opens");
    for c in &acked {
        engine
            .instance(CaseId(*c))
            .await
            .unwrap_or_else(|e| panic!("acknowledged case {c} is lost: {e}"));
    }
    eprintln!(
        "PostgreSQL restart under load: {} acknowledged starts ({before} before the restart), {} refused",
        acked.len(),
        refused.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_backup_is_a_pg_dump_that_pg_restore_brings_back() {
    let src = crate::store::TestDb::postgres("backup_src").await;
    let clock = Arc::new(ravand_engine::time::VirtualClock::new(ravand_engine::time::Timestamp(
        1_777_708_800,
    )));
    let e = Engine::open(&src.url, clock.clone(), 9).await.expect("opens");
    e.deploy(
        "w.yaml",
        "id: w\nversion: 1\ntitle: صبر\nsteps:\n  - {id: start, kind: start}\n  - {id: w, kind: wait, title: صبر, wait: {duration: 1 hours}}\n  - {id: done, kind: end, outcome: done}\n",
    )
    .await
    .expect("deploys");
    let mut cases = Vec::new();
    for _ in 0..5 {
        cases.push(e.start("w", Default::default(), None).await.expect("starts").case);
    }
    let dir = std::env::temp_dir().join(format!("ravand-pgdump-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("ravand.dump");
    let out = Command::new(crate::helpers::ravand())
        .args(["backup", "--db", &src.url])
        .arg(&file)
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dst = crate::store::TestDb::postgres("backup_dst").await;
    let out = Command::new("pg_restore")
        .args(["--no-owner", "--dbname", &dst.url])
        .arg(&file)
        .output()
        .expect("pg_restore runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let restored = Engine::open(&dst.url, clock.clone(), 10).await.expect("opens the copy");
    for c in &cases {
        assert_eq!(
            restored.history(*c).await.expect("in the copy"),
            e.history(*c).await.expect("in the original")
        );
    }
    // Its timers fire on the copy.
    let later = clock.advance(2 * 3600);
    assert_eq!(restored.tick(later).await.expect("tick"), 5);
    drop((e, restored));
    src.drop().await;
    dst.drop().await;
}
