//! Real `ravand serve` processes under faults: failover between nodes that
//! did not know a process, a full disk under SQLite, hostile clients,
//! tokens re-read on SIGHUP, and a backup taken under load.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ravand_engine::engine::{CaseId, Engine};
use ravand_engine::runtime::{EventKind, Status};
use ravand_engine::time::SystemClock;
use serde_json::{json, Value};

use crate::crash::tokens_file;
use crate::helpers::{ravand, root};
use crate::store::TestDb;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ravand-nodes-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("dir");
    d
}

/// A `ravand serve` process; its log goes to a file.
pub struct Node {
    child: Child,
    pub base: String,
    log: PathBuf,
}

impl Node {
    /// Starts one and waits until it answers `/health`.
    pub async fn start(db: &str, tokens: &Path, extra: &[&str], log: PathBuf) -> Node {
        let port = free_port();
        let err = std::fs::File::create(&log).expect("log file");
        let mut child = Command::new(ravand())
            .args(["serve", "--db", db, "--addr", &format!("127.0.0.1:{port}"), "--tokens"])
            .arg(tokens)
            .args(extra)
            .current_dir(root())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .expect("ravand serve starts");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if reqwest::get(format!("{base}/health"))
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Node { child, base, log };
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "ravand serve exited {status}: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("ravand serve did not come up on {base}");
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }
}

/// One HTTP request: its status and JSON body, or why no answer came.
pub async fn call(method: &str, url: String, token: &str, body: Option<Value>) -> Result<(u16, Value), String> {
    let c = reqwest::Client::new();
    let mut r = c
        .request(method.parse().expect("method"), url)
        .bearer_auth(token)
        .timeout(Duration::from_secs(20));
    if let Some(b) = body {
        r = r.json(&b);
    }
    let res = r.send().await.map_err(|e| e.to_string())?;
    let st = res.status().as_u16();
    let text = res.text().await.map_err(|e| e.to_string())?;
    Ok((st, serde_json::from_str(&text).unwrap_or(Value::String(text))))
}

/// [`call`], with no answer as status 0.
async fn send(method: &str, url: String, token: &str, body: Option<Value>) -> (u16, Value) {
    call(method, url, token, body)
        .await
        .unwrap_or_else(|e| (0, Value::String(e)))
}

/// Starts a case of `process` through `node`; its answer.
async fn start_case(node: &Node, process: &str) -> Value {
    let (st, v) = send(
        "POST",
        format!("{}/cases", node.base),
        "operator-demo",
        Some(json!({ "process": process })),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    v
}

fn is_json_error(v: &Value) -> bool {
    v.get("error").and_then(Value::as_str).is_some() && v.get("message").and_then(Value::as_str).is_some()
}

/// A case: a task for the operator, a wait of `wait` seconds, a reply
/// correlated on its tracking code, then the end.
fn definition(id: &str, version: u32, wait: u32) -> String {
    format!(
        "id: {id}\nversion: {version}\ntitle: آزمون\nroles:\n  - {{id: operator, title: اپراتور}}\ndata:\n  - {{name: tracking_code, type: string}}\nsteps:\n  - {{id: start, kind: start}}\n  - {{id: a, title: کار, performer: operator}}\n  - {{id: w, kind: wait, title: صبر, wait: {{duration: {wait} seconds}}}}\n  - {{id: r, kind: receive, title: پاسخ, message: reply, correlation: tracking_code}}\n  - {{id: done, kind: end, outcome: done}}\n"
    )
}

/// A case that only waits `wait` seconds.
fn waiting(id: &str, wait: u32) -> String {
    format!("id: {id}\nversion: 1\ntitle: صبر\nsteps:\n  - {{id: start, kind: start}}\n  - {{id: w, kind: wait, title: صبر, wait: {{duration: {wait} seconds}}}}\n  - {{id: done, kind: end, outcome: done}}\n")
}

/// Two `ravand serve` nodes on a new PostgreSQL database, and a process
/// deployed through the first after both started.
async fn two_nodes(name: &str, process: &str, source: String) -> (TestDb, Node, Node) {
    let db = TestDb::postgres(name).await;
    let dir = temp(name);
    let tokens = tokens_file();
    let a = Node::start(&db.url, &tokens, &[], dir.join("a.log")).await;
    let b = Node::start(&db.url, &tokens, &[], dir.join("b.log")).await;
    let (st, v) = send(
        "POST",
        format!("{}/definitions", a.base),
        "analyst-demo",
        Some(json!({"name": format!("{process}.yaml"), "source": source})),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    (db, a, b)
}

/// Sends `case`'s reply (keyed on its tracking code) through `node` until
/// the case waits for it and takes it; nothing else may take it.
async fn reply_once_waiting(node: &Node, case: u64, code: &str, deadline: Instant) {
    loop {
        let (st, v) = send(
            "POST",
            format!("{}/messages", node.base),
            "operator-demo",
            Some(json!({"name": "reply", "key": code})),
        )
        .await;
        if st == 200 {
            assert_eq!(v["case"].as_u64(), Some(case), "the reply went to another case");
            return;
        }
        assert_eq!(st, 404, "{v}");
        assert!(Instant::now() < deadline, "case {case} never waited for its reply");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn wait_until_finished(engine: &Engine, cases: &[u64], secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let mut open = 0;
        for &c in cases {
            if !engine
                .status(CaseId(c))
                .await
                .expect("case exists")
                .status
                .is_finished()
            {
                open += 1;
            }
        }
        if open == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{open} of {} cases never finished",
            cases.len()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn fired_once(engine: &Engine, cases: &[u64]) {
    for &c in cases {
        let h = engine.history(CaseId(c)).await.expect("history");
        let fired = h
            .iter()
            .filter(|e| matches!(e.kind, EventKind::TimerFired { .. }))
            .count();
        assert_eq!(fired, 1, "case {c} fired {fired} timers");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_that_did_not_know_the_process_fires_its_timers_after_failover() {
    // Deployed through A after both started: B has never seen it.
    let (db, a, b) = two_nodes("failover", "failover", waiting("failover", 3)).await;
    let mut cases = Vec::new();
    for _ in 0..40 {
        cases.push(start_case(&a, "failover").await["case"].as_u64().expect("case"));
    }
    drop(a); // SIGKILL before any wait is due
    let engine = Engine::open(&db.url, std::sync::Arc::new(SystemClock), 1)
        .await
        .expect("opens");
    wait_until_finished(&engine, &cases, 60).await;
    fired_once(&engine, &cases).await;
    drop(b);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deployed_through_one_node_worked_and_fired_through_the_other() {
    let (db, a, b) = two_nodes("both_alive", "fault", definition("fault", 1, 1)).await;
    let mut cases = Vec::new();
    for _ in 0..10 {
        // Started and worked through B, which must load the process from the store.
        let v = start_case(&b, "fault").await;
        let case = v["case"].as_u64().expect("case");
        let code = v["tracking_code"].as_str().expect("code").to_owned();
        let (_, view) = send("GET", format!("{}/cases/{case}", b.base), "operator-demo", None).await;
        let task = view["tasks"][0]["task"].as_u64().expect("task");
        let (st, v) = send(
            "POST",
            format!("{}/cases/{case}/tasks/{task}/complete", b.base),
            "operator-demo",
            Some(json!({"outputs": {}})),
        )
        .await;
        assert_eq!(st, 204, "{v}");
        cases.push((case, code));
    }
    let engine = Engine::open(&db.url, std::sync::Arc::new(SystemClock), 2)
        .await
        .expect("opens");
    // Once the wait fired (on either node), the reply goes through A.
    let deadline = Instant::now() + Duration::from_secs(60);
    for (case, code) in &cases {
        reply_once_waiting(&a, *case, code, deadline).await;
    }
    let ids: Vec<u64> = cases.iter().map(|c| c.0).collect();
    wait_until_finished(&engine, &ids, 30).await;
    fired_once(&engine, &ids).await;
    drop((a, b));
    db.drop().await;
}

/// A small file system under the database; unmounted on drop.
struct SmallDisk {
    dir: PathBuf,
}

impl SmallDisk {
    fn mount(name: &str, size: &str) -> Option<SmallDisk> {
        let dir = temp(name);
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(SmallDisk { dir })
    }

    /// Fills the file system to the last byte.
    fn fill(&self) -> PathBuf {
        let f = self.dir.join("filler");
        let mut file = std::fs::File::create(&f).expect("filler");
        let chunk = vec![0u8; 64 * 1024];
        while file.write_all(&chunk).is_ok() {}
        let _ = file.write_all(&[0u8; 512]);
        let _ = file.sync_all();
        f
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_disk_loses_no_acknowledged_case_and_writes_succeed_once_space_is_freed() {
    let Some(disk) = SmallDisk::mount("full-disk", "6m") else {
        // Mounting needs root (CI runs as root); say so loudly elsewhere.
        assert!(
            !nix_root(),
            "root could not mount a tmpfs: the full-disk test cannot run"
        );
        eprintln!("SKIPPED: not root, cannot mount a small file system");
        return;
    };
    let db = format!("sqlite://{}", disk.dir.join("ravand.db").display());
    let dir = temp("full-disk-logs");
    let tokens = tokens_file();
    let def = dir.join("crash.yaml");
    std::fs::write(&def, waiting("crash", 1)).expect("def");
    let node = Node::start(
        &db,
        &tokens,
        &["--deploy", def.to_str().expect("path")],
        dir.join("n.log"),
    )
    .await;
    let start = |base: String| async move {
        send(
            "POST",
            format!("{base}/cases"),
            "operator-demo",
            Some(json!({"process": "crash"})),
        )
        .await
    };
    let mut acknowledged = Vec::new();
    for _ in 0..20 {
        let (st, v) = start(node.base.clone()).await;
        assert_eq!(st, 201, "{v}");
        acknowledged.push(v["case"].as_u64().expect("case"));
    }
    let filler = disk.fill();
    let mut refused = 0;
    for _ in 0..40 {
        let (st, v) = start(node.base.clone()).await;
        if st == 201 {
            acknowledged.push(v["case"].as_u64().expect("case"));
        } else {
            assert_eq!(st, 503, "{v}");
            assert!(is_json_error(&v), "{v}");
            refused += 1;
        }
    }
    assert!(refused > 0, "the full disk refused nothing");
    std::fs::remove_file(&filler).expect("free the space");
    // Every write after the space is back succeeds.
    for i in 0..40 {
        let (st, v) = start(node.base.clone()).await;
        assert_eq!(st, 201, "write {i} after freeing the disk: {v}");
        acknowledged.push(v["case"].as_u64().expect("case"));
    }
    drop(node); // kill -9
    let engine = Engine::open(&db, std::sync::Arc::new(SystemClock), 3)
        .await
        .expect("opens");
    for c in &acknowledged {
        let st = engine.instance(CaseId(*c)).await;
        assert!(st.is_ok(), "acknowledged case {c} is not in the file: {st:?}");
    }
    drop(engine);
    drop(disk);
}

fn nix_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc_geteuid() == 0 }
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_clients_get_json_refusals_and_cannot_stop_the_server() {
    let dir = temp("hostile");
    let db = format!("sqlite://{}", dir.join("ravand.db").display());
    let tokens = tokens_file();
    let def = dir.join("crash.yaml");
    std::fs::write(&def, waiting("crash", 3600)).expect("def");
    let node = Node::start(
        &db,
        &tokens,
        &["--deploy", def.to_str().expect("path"), "--max-connections", "256"],
        dir.join("n.log"),
    )
    .await;
    let base = node.base.clone();
    // Every refusal is JSON, including the router's own.
    for (method, path) in [
        ("GET", "/no/such/route"),
        ("DELETE", "/cases"),
        ("GET", "/cases/%FF%FE"),
        ("GET", "/worklist?role=a&role=b"),
        ("GET", "/cases/+1"),
        ("GET", "/cases/01"),
    ] {
        let (st, v) = send(method, format!("{base}{path}"), "admin-demo", None).await;
        assert!((400..500).contains(&st), "{method} {path}: {st} {v}");
        assert!(is_json_error(&v), "{method} {path}: {v}");
    }
    let (st, v) = send(
        "POST",
        format!("{base}/cases"),
        "operator-demo",
        Some(json!({"process": "crash"})),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let code = v["tracking_code"].as_str().expect("code").to_owned();
    let (st, _) = send("GET", format!("{base}/cases/+{}", v["case"]), "admin-demo", None).await;
    assert_eq!(st, 404, "`+1` is not case 1");
    // The public lookup is rate-limited.
    let mut limited = 0;
    for i in 0..200 {
        let (st, v) = send("GET", format!("{base}/public/cases/WRONGCODE{}", i % 10), "", None).await;
        if st == 429 {
            assert!(is_json_error(&v));
            limited += 1;
        }
    }
    assert!(limited > 100, "only {limited} of 200 rapid lookups were limited");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (st, _) = send("GET", format!("{base}/public/cases/{code}"), "", None).await;
    assert_eq!(st, 200, "the limit lifts");
    // Half-sent requests, far more than the connection limit.
    let addr = base.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for _ in 0..2_000 {
        if let Ok(mut s) = std::net::TcpStream::connect(&addr) {
            let _ = s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n");
            held.push(s);
        }
    }
    let t = Instant::now();
    let (st, _) = send("GET", format!("{base}/health"), "", None).await;
    assert_eq!(st, 200, "health stopped answering under half-sent requests");
    assert!(t.elapsed() < Duration::from_secs(10));
    drop(held);
    // Tracking codes stay out of the log.
    let log = node.log();
    assert!(log.contains("/public/cases/{code}"), "requests are logged by route");
    assert!(!log.contains(&code), "a tracking code is in the log");
    // A raw request with a broken request line is answered, not hung.
    let mut s = std::net::TcpStream::connect(&addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(15))).expect("timeout");
    let _ = s.write_all(b"BROKEN\r\n\r\n");
    let mut buf = [0u8; 64];
    let _ = s.read(&mut buf);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tokens_are_hashes_and_a_revoked_one_is_refused_after_sighup() {
    let dir = temp("sighup");
    let db = format!("sqlite://{}", dir.join("ravand.db").display());
    // A file with a secret in clear is refused at start.
    let clear = dir.join("clear.yaml");
    std::fs::write(&clear, "- {token: operator-demo, access: clerk, user: x}\n").expect("write");
    let out = Command::new(ravand())
        .args(["serve", "--db", &db, "--addr", "127.0.0.1:1", "--tokens"])
        .arg(&clear)
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("sha256"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tokens = dir.join("tokens.yaml");
    std::fs::copy(tokens_file(), &tokens).expect("copy");
    let node = Node::start(&db, &tokens, &[], dir.join("n.log")).await;
    let (st, _) = send("GET", format!("{}/worklist", node.base), "operator-demo", None).await;
    assert_eq!(st, 200);
    // Revoke operator-demo: keep only the other lines, then SIGHUP.
    let kept: String = std::fs::read_to_string(&tokens)
        .expect("read")
        .lines()
        .filter(|l| !l.contains("user: operator-demo"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&tokens, kept).expect("write");
    let pid = node.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("kill")
        .success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (st, v) = send("GET", format!("{}/worklist", node.base), "operator-demo", None).await;
        if st == 401 {
            assert!(is_json_error(&v));
            break;
        }
        assert!(Instant::now() < deadline, "the revoked token still works: {st}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (st, _) = send("GET", format!("{}/worklist", node.base), "admin-demo", None).await;
    assert_eq!(st, 200, "the server survived SIGHUP and kept the other tokens");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_under_load_restores_every_case_acknowledged_before_it() {
    let dir = temp("backup");
    let db = format!("sqlite://{}", dir.join("ravand.db").display());
    let tokens = tokens_file();
    let def = dir.join("fault.yaml");
    std::fs::write(&def, definition("fault", 1, 2)).expect("def");
    let node = Node::start(
        &db,
        &tokens,
        &["--deploy", def.to_str().expect("path")],
        dir.join("n.log"),
    )
    .await;
    // Load from 3 clients while the backup is taken.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(u64, String, Instant)>::new()));
    let mut load = Vec::new();
    for _ in 0..3 {
        let (base, stop, acked) = (node.base.clone(), stop.clone(), acked.clone());
        load.push(tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (st, v) = send(
                    "POST",
                    format!("{base}/cases"),
                    "operator-demo",
                    Some(json!({"process": "fault"})),
                )
                .await;
                if st != 201 {
                    continue;
                }
                let case = v["case"].as_u64().expect("case");
                let (_, view) = send("GET", format!("{base}/cases/{case}"), "operator-demo", None).await;
                if let Some(task) = view["tasks"][0]["task"].as_u64() {
                    send(
                        "POST",
                        format!("{base}/cases/{case}/tasks/{task}/complete"),
                        "operator-demo",
                        Some(json!({})),
                    )
                    .await;
                }
                let code = v["tracking_code"].as_str().unwrap_or_default().to_owned();
                acked.lock().expect("lock").push((case, code, Instant::now()));
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let began = Instant::now();
    let copy = dir.join("copy.db");
    let out = Command::new(ravand())
        .args(["backup", "--db", &db])
        .arg(&copy)
        .output()
        .expect("backup runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for l in load {
        l.await.expect("client");
    }
    drop(node);
    let before: Vec<(u64, String)> = acked
        .lock()
        .expect("lock")
        .iter()
        .filter(|(_, _, at)| *at < began)
        .map(|(c, code, _)| (*c, code.clone()))
        .collect();
    assert!(
        before.len() >= 10,
        "too little load before the backup: {}",
        before.len()
    );
    // The service carries on from the copy: cases, history, timers, subscriptions.
    let restored = format!("sqlite://{}", copy.display());
    let original = Engine::open(&db, std::sync::Arc::new(SystemClock), 4)
        .await
        .expect("opens");
    let engine = Engine::open(&restored, std::sync::Arc::new(SystemClock), 5)
        .await
        .expect("opens");
    // Before anything runs on the copy, each history is a prefix of the original's.
    for (case, _) in &before {
        let h = engine.history(CaseId(*case)).await.expect("in the backup");
        let h0 = original.history(CaseId(*case)).await.expect("in the original");
        assert!(
            h.len() <= h0.len() && h0[..h.len()] == h[..],
            "case {case}: history differs"
        );
    }
    let node = Node::start(&restored, &tokens, &[], dir.join("r.log")).await;
    // Every acknowledged case's reply arrives once its wait fired on the copy.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut waiting_ones = Vec::new();
    for (case, code) in &before {
        let st = engine.instance(CaseId(*case)).await.expect("state");
        if st.status != Status::Running || !st.tasks.is_empty() {
            continue;
        }
        reply_once_waiting(&node, *case, code, deadline).await;
        waiting_ones.push(*case);
    }
    assert!(!waiting_ones.is_empty());
    wait_until_finished(&engine, &waiting_ones, 30).await;
    drop(node);
}

/// A P-256 key made for the test: its signing key and its JWK.
pub(crate) fn test_key(kid: &str) -> (jsonwebtoken::EncodingKey, Value) {
    use base64::Engine as _;
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    use p256::pkcs8::EncodePrivateKey;
    let sk = loop {
        if let Ok(k) = p256::SecretKey::from_slice(&rand::random::<[u8; 32]>()) {
            break k;
        }
    };
    let der = sk.to_pkcs8_der().expect("pkcs8");
    let point = sk.public_key().to_encoded_point(false);
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let jwk = json!({
        "kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
        "x": b64(point.x().expect("x")), "y": b64(point.y().expect("y")),
    });
    (jsonwebtoken::EncodingKey::from_ec_der(der.as_bytes()), jwk)
}

pub(crate) fn jwt(key: &jsonwebtoken::EncodingKey, kid: &str, claims: Value) -> String {
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    h.kid = Some(kid.into());
    jsonwebtoken::encode(&h, &claims, key).expect("signs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jwts_of_the_identity_provider_are_verified_and_mapped_to_grants() {
    let dir = temp("jwt");
    let db = format!("sqlite://{}", dir.join("ravand.db").display());
    let (key, jwk) = test_key("k1");
    let (other_key, _) = test_key("k1");
    let jwks = dir.join("jwks.json");
    std::fs::write(&jwks, json!({"keys": [jwk]}).to_string()).expect("jwks");
    let def = dir.join("crash.yaml");
    std::fs::write(&def, waiting("crash", 3600)).expect("def");
    let node = Node::start(
        &db,
        &tokens_file(),
        &[
            "--deploy",
            def.to_str().expect("path"),
            "--jwks",
            jwks.to_str().expect("path"),
            "--jwt-issuer",
            "https://idp.example",
        ],
        dir.join("n.log"),
    )
    .await;
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("now")
        .as_secs()
        + 600;
    let claims = |access: &str, processes: &[&str], exp: u64, iss: &str| {
        json!({"sub": "u-1", "preferred_username": "clerk.karimi", "iss": iss, "exp": exp,
               "ravand_access": access, "ravand_processes": processes, "ravand_roles": []})
    };
    let good = jwt(&key, "k1", claims("clerk", &["crash"], exp, "https://idp.example"));
    let (st, v) = send(
        "POST",
        format!("{}/cases", node.base),
        &good,
        Some(json!({"process": "crash"})),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let case = v["case"].as_u64().expect("case");
    let (_, h) = send("GET", format!("{}/cases/{case}/history", node.base), &good, None).await;
    assert!(
        h["lines"]
            .as_array()
            .expect("lines")
            .iter()
            .any(|l| l.as_str().is_some_and(|l| l.contains("by clerk.karimi"))),
        "the JWT's user is recorded: {h}"
    );
    // Grants come from the claims: another process is refused.
    let scoped = jwt(&key, "k1", claims("clerk", &["other"], exp, "https://idp.example"));
    let (st, _) = send("GET", format!("{}/cases/{case}", node.base), &scoped, None).await;
    assert_eq!(st, 403);
    // Expired, wrong issuer, a key not in the JWKS, a bad signature: 401.
    for bad in [
        jwt(
            &key,
            "k1",
            claims("clerk", &["crash"], exp - 1200, "https://idp.example"),
        ),
        jwt(&key, "k1", claims("clerk", &["crash"], exp, "https://evil.example")),
        jwt(&other_key, "k1", claims("admin", &[], exp, "https://idp.example")),
        format!("{}x", &good[..good.len() - 1]),
    ] {
        let (st, v) = send("GET", format!("{}/worklist", node.base), &bad, None).await;
        assert_eq!(st, 401, "{v}");
        assert!(is_json_error(&v));
    }
    // An unsigned token ("alg": "none") is refused too.
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let none = format!(
        "{}.{}.",
        b64(r#"{"alg":"none","typ":"JWT"}"#),
        b64(&claims("admin", &[], exp, "https://idp.example").to_string())
    );
    let (st, _) = send("GET", format!("{}/worklist", node.base), &none, None).await;
    assert_eq!(st, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_outside_the_repository_finds_calendars_beside_the_file_and_refuses_an_invalid_one() {
    let dir = temp("outside");
    let db = format!("sqlite://{}", dir.join("ravand.db").display());
    // Started in another folder: the calendars are found beside the file.
    let def = root().join("definitions/complaint-137.yaml");
    let port = free_port();
    let log = dir.join("serve.log");
    let mut child = Command::new(ravand())
        .args(["serve", "--db", &db, "--addr", &format!("127.0.0.1:{port}"), "--tokens"])
        .arg(root().join("tokens.example.yaml"))
        .arg("--deploy")
        .arg(&def)
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("starts");
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut up = false;
    while Instant::now() < deadline && !up {
        up = reqwest::get(format!("{base}/health"))
            .await
            .is_ok_and(|r| r.status().is_success());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (st, v) = send("GET", format!("{base}/definitions"), "analyst-demo", None).await;
    let _ = child.kill();
    let _ = child.wait();
    assert!(up, "{}", std::fs::read_to_string(&log).unwrap_or_default());
    assert_eq!(st, 200);
    assert_eq!(v[0]["process"], "complaint-137", "{v}");
    // An invalid --deploy file: its diagnostics, and no serving.
    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, "id: bad\nversion: 1\ntitle: بد\nsteps:\n  - {id: start, kind: start}\n  - {id: a, title: الف, performer: nobody}\n  - {id: done, kind: end, outcome: done}\n").expect("write");
    let out = Command::new(ravand())
        .args([
            "serve",
            "--db",
            &db,
            "--addr",
            &format!("127.0.0.1:{}", free_port()),
            "--tokens",
        ])
        .arg(root().join("tokens.example.yaml"))
        .arg("--deploy")
        .arg(&bad)
        .current_dir(&dir)
        .output()
        .expect("runs");
    assert!(!out.status.success(), "served an invalid definition");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown-role") && err.contains("not serving"), "{err}");
}

/// `POST /cases` with an `Idempotency-Key`: its status, whether the answer
/// says it was replayed, and its body.
async fn start_keyed(base: String, token: &'static str, key: &str, body: Value) -> (u16, Option<String>, Value) {
    post_keyed(format!("{base}/cases"), token, key, body).await
}

/// How many cases of `process` are stored.
async fn cases_of(node: &Node, process: &str) -> usize {
    let (st, v) = send(
        "GET",
        format!("{}/cases?process={process}&limit=500", node.base),
        "admin-demo",
        None,
    )
    .await;
    assert_eq!(st, 200, "{v}");
    v["items"].as_array().expect("items").len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_start_sent_again_with_its_idempotency_key_makes_one_case_on_any_node() {
    let noted = definition("failover", 1, 3600).replace(
        "  - {name: tracking_code, type: string}",
        "  - {name: tracking_code, type: string}\n  - {name: note, type: string}",
    );
    assert!(noted.contains("name: note"));
    let (db, a, b) = two_nodes("idem_keys", "failover", noted).await;
    let body = json!({"process": "failover", "data": {"note": "درخواست"}});
    // Sixteen sends of one start at once, through both nodes: one case.
    let sends: Vec<_> = (0..16)
        .map(|i| {
            let base = if i % 2 == 0 { a.base.clone() } else { b.base.clone() };
            tokio::spawn(start_keyed(base, "operator-demo", "req-7f3a", body.clone()))
        })
        .collect();
    let mut answers = Vec::new();
    for s in sends {
        answers.push(s.await.expect("a send"));
    }
    let first = &answers[0].2;
    for (st, _, v) in &answers {
        assert_eq!(*st, 201, "{v}");
        assert_eq!(v["case"], first["case"], "{answers:?}");
        assert_eq!(v["tracking_code"], first["tracking_code"], "{answers:?}");
    }
    let fresh = answers.iter().filter(|(_, r, _)| r.as_deref() == Some("false")).count();
    assert_eq!(fresh, 1, "exactly one send started the case: {answers:?}");
    assert_eq!(cases_of(&a, "failover").await, 1);
    // The same key with other data, or another process, is refused.
    let (st, _, v) = start_keyed(
        b.base.clone(),
        "operator-demo",
        "req-7f3a",
        json!({"process": "failover"}),
    )
    .await;
    assert_eq!(st, 422, "{v}");
    assert_eq!(v["error"], "idempotency-key-reused", "{v}");
    // Keys are the caller's own: another caller's same key is another start.
    let (st, r, v) = start_keyed(a.base.clone(), "admin-demo", "req-7f3a", body.clone()).await;
    assert_eq!((st, r.as_deref()), (201, Some("false")), "{v}");
    assert_ne!(v["case"], first["case"]);
    // A key that is not one is refused before anything is stored.
    let (st, _, v) = start_keyed(a.base.clone(), "operator-demo", &"k".repeat(256), body.clone()).await;
    assert_eq!(st, 422, "{v}");
    assert!(is_json_error(&v), "{v}");
    // Without a key every send is a start.
    start_case(&a, "failover").await;
    assert_eq!(cases_of(&a, "failover").await, 3);
    drop((a, b));
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_start_whose_answer_was_lost_to_a_kill_is_found_again_by_its_key() {
    let dir = temp("idem_kill");
    let db = format!("sqlite://{}", dir.join("ravand.db").display());
    let tokens = tokens_file();
    let file = dir.join("failover.yaml");
    std::fs::write(&file, definition("failover", 1, 3600)).expect("write");
    let args = ["--deploy", file.to_str().expect("path")];
    let node = Node::start(&db, &tokens, &args, dir.join("1.log")).await;
    let body = json!({"process": "failover"});
    let (st, r, first) = start_keyed(node.base.clone(), "operator-demo", "7d1e-ward-12", body.clone()).await;
    assert_eq!((st, r.as_deref()), (201, Some("false")), "{first}");
    drop(node); // kill -9: the client, say, never read that answer
    let node = Node::start(&db, &tokens, &args, dir.join("2.log")).await;
    let (st, r, again) = start_keyed(node.base.clone(), "operator-demo", "7d1e-ward-12", body).await;
    assert_eq!((st, r.as_deref()), (201, Some("true")), "{again}");
    assert_eq!(again, first);
    assert_eq!(cases_of(&node, "failover").await, 1);
}

/// A POST with an `Idempotency-Key`: its status, whether the answer says it
/// was replayed, and its body (null when it has none).
async fn post_keyed(url: String, token: &str, key: &str, body: Value) -> (u16, Option<String>, Value) {
    let res = reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(&body)
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .expect("an answer");
    let st = res.status().as_u16();
    let replayed = res
        .headers()
        .get("idempotent-replayed")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (st, replayed, res.json().await.unwrap_or(Value::Null))
}

/// A completion or a message whose answer was lost is sent again with its
/// key: sixteen copies at once through two nodes on one PostgreSQL are
/// applied once, and every copy is answered as the first was; the key with
/// another body is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_completion_and_a_message_sent_again_with_their_key_are_applied_once() {
    let (db, a, b) = two_nodes("idem_commands", "failover", definition("failover", 1, 1)).await;
    let started = start_case(&a, "failover").await;
    let (case, code) = (
        started["case"].as_u64().expect("case"),
        started["tracking_code"].clone(),
    );
    let (st, v) = send("GET", format!("{}/cases/{case}", a.base), "operator-demo", None).await;
    assert_eq!(st, 200, "{v}");
    let task = v["tasks"][0]["task"].as_u64().expect("a task");
    let copies = |path: String, key: &'static str, body: Value| {
        let sends: Vec<_> = (0..16)
            .map(|i| {
                let base = if i % 2 == 0 { &a.base } else { &b.base };
                tokio::spawn(post_keyed(format!("{base}{path}"), "operator-demo", key, body.clone()))
            })
            .collect();
        async move {
            let mut answers = Vec::new();
            for s in sends {
                answers.push(s.await.expect("a send"));
            }
            answers
        }
    };
    let answers = copies(format!("/cases/{case}/tasks/{task}/complete"), "done-a-1", json!({})).await;
    assert!(answers.iter().all(|(st, _, _)| *st == 204), "{answers:?}");
    let fresh = answers.iter().filter(|(_, r, _)| r.as_deref() == Some("false")).count();
    assert_eq!(fresh, 1, "exactly one copy completed the task: {answers:?}");
    // The same key for another completion is refused.
    let (st, _, v) = post_keyed(
        format!("{}/cases/{case}/tasks/{task}/complete", b.base),
        "operator-demo",
        "done-a-1",
        json!({"outputs": {"tracking_code": "x"}}),
    )
    .await;
    assert!((400..500).contains(&st) && is_json_error(&v), "{st} {v}");

    // Wait for the wait step to pass, then the reply, sixteen times.
    let mut waiting = false;
    for _ in 0..100 {
        let (_, v) = send("GET", format!("{}/cases/{case}", a.base), "operator-demo", None).await;
        if v["stage"].to_string().contains("\"r\"") {
            waiting = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(waiting, "the case reached the receive");
    let answers = copies("/messages".into(), "reply-a-1", json!({"name": "reply", "key": code})).await;
    assert!(
        answers.iter().all(|(st, _, v)| *st == 200 && v["case"] == json!(case)),
        "{answers:?}"
    );
    let fresh = answers.iter().filter(|(_, r, _)| r.as_deref() == Some("false")).count();
    assert_eq!(fresh, 1, "exactly one copy was delivered: {answers:?}");
    let (st, v) = send("GET", format!("{}/cases/{case}/history", a.base), "admin-demo", None).await;
    assert_eq!(st, 200, "{v}");
    let of_type = |t: &str| {
        v["events"]
            .as_array()
            .expect("events")
            .iter()
            .filter(|e| e["type"] == t)
            .count()
    };
    assert_eq!(of_type("task-completed"), 1, "{v}");
    assert_eq!(of_type("message-received"), 1, "{v}");
    assert_eq!(of_type("completed"), 1, "{v}");
    drop((a, b));
    db.drop().await;
}
