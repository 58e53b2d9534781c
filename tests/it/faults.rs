//! Seeded fault injection (TigerBeetle-style, as far as real processes
//! allow): two `ravand serve` nodes on one PostgreSQL take starts,
//! completions and messages while either is killed with SIGKILL and
//! restarted and new versions are deployed between them. At the end every
//! acknowledged command is applied exactly once, every timer fired once, and
//! no case is stuck. `RAVAND_FAULT_SEED=N` repeats a run; the seed is printed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use ravand_engine::engine::{CaseId, Engine};
use ravand_engine::runtime::{EventKind, Park, Status};
use ravand_engine::time::SystemClock;
use serde_json::{json, Value};

use crate::crash::tokens_file;
use crate::nodes::{call, Node};
use crate::store::TestDb;

/// Version `v` of the process: a task, a wait of 1–3 seconds, a reply
/// keyed on the tracking code, a child case that waits a second, the end.
fn parent(v: u32) -> String {
    let wait = 1 + v % 3;
    format!(
        "id: fault\nversion: {v}\ntitle: آزمون خطا\nroles:\n  - {{id: operator, title: اپراتور}}\ndata:\n  - {{name: tracking_code, type: string}}\nsteps:\n  - {{id: start, kind: start}}\n  - {{id: a, title: کار, performer: operator}}\n  - {{id: w, kind: wait, title: صبر, wait: {{duration: {wait} seconds}}}}\n  - {{id: r, kind: receive, title: پاسخ, message: reply, correlation: tracking_code}}\n  - {{id: c, kind: subprocess, title: فرزند, process: crash}}\n  - {{id: done, kind: end, outcome: done}}\n"
    )
}

const CHILD: &str = "id: crash\nversion: 1\ntitle: فرزند\nsteps:\n  - {id: start, kind: start}\n  - {id: w, kind: wait, title: صبر, wait: {duration: 1 seconds}}\n  - {id: done, kind: end, outcome: done}\n";

#[derive(Default)]
struct Tally {
    commands: usize,
    acknowledged: usize,
    unanswered: usize,
    kills: usize,
    deploys: usize,
}

/// Notes the answer to a start: acknowledged (its case and code kept), a
/// JSON 503, or no answer (the node died).
fn started(r: Result<(u16, Value), String>, t: &mut Tally, codes: &mut BTreeMap<u64, String>, seed: u64) {
    match r {
        Ok((201, v)) => {
            t.acknowledged += 1;
            let case = v["case"].as_u64().expect("case");
            codes.insert(case, v["tracking_code"].as_str().expect("code").to_owned());
        }
        Ok((st, v)) => assert!(st == 503 && v.get("error").is_some(), "seed {seed}: start {st} {v}"),
        Err(_) => t.unanswered += 1,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn random_kills_and_deploys_lose_nothing_and_apply_nothing_twice() {
    let seed: u64 = std::env::var("RAVAND_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("fault injection seed {seed} (repeat with RAVAND_FAULT_SEED={seed})");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let db = TestDb::postgres("faults").await;
    let dir = std::env::temp_dir().join(format!("ravand-faults-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let tokens = tokens_file();
    let mut logs = 0;
    let mut log = || {
        logs += 1;
        dir.join(format!("node-{logs}.log"))
    };
    let mut nodes: Vec<Option<Node>> = vec![
        Some(Node::start(&db.url, &tokens, &[], log()).await),
        Some(Node::start(&db.url, &tokens, &[], log()).await),
    ];
    let base = |nodes: &Vec<Option<Node>>, i: usize| nodes[i].as_ref().map(|n| n.base.clone());
    let alive = |nodes: &Vec<Option<Node>>, rng: &mut rand::rngs::StdRng| -> usize {
        let up: Vec<usize> = (0..nodes.len()).filter(|i| nodes[*i].is_some()).collect();
        up[rng.random_range(0..up.len())]
    };
    let (st, v) = call(
        "POST",
        format!("{}/definitions", base(&nodes, 0).expect("up")),
        "analyst-demo",
        Some(json!({"name": "crash.yaml", "source": CHILD})),
    )
    .await
    .expect("deploys");
    assert_eq!(st, 201, "{v}");
    let mut version = 1;
    let (st, v) = call(
        "POST",
        format!("{}/definitions", base(&nodes, 1).expect("up")),
        "analyst-demo",
        Some(json!({"name": "fault.yaml", "source": parent(version)})),
    )
    .await
    .expect("deploys");
    assert_eq!(st, 201, "{v}");

    let mut t = Tally::default();
    // What the clients know: case → tracking code; acknowledged completions
    // (case, task) and replies (case).
    let mut codes: BTreeMap<u64, String> = BTreeMap::new();
    let mut completed: BTreeSet<(u64, u64)> = BTreeSet::new();
    let mut replied: BTreeSet<u64> = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    for step in 0..400 {
        assert!(
            Instant::now() < deadline,
            "seed {seed}: the run took too long at step {step}"
        );
        let roll = rng.random_range(0..100);
        if roll < 4 {
            // Kill a node (never both), then bring it back.
            let i = alive(&nodes, &mut rng);
            if nodes.iter().filter(|n| n.is_some()).count() == 2 {
                // Kill it with requests in flight.
                let victim = base(&nodes, i).expect("up");
                let flying: Vec<_> = (0..4)
                    .map(|_| {
                        let v = victim.clone();
                        tokio::spawn(async move {
                            call(
                                "POST",
                                format!("{v}/cases"),
                                "operator-demo",
                                Some(json!({"process": "fault"})),
                            )
                            .await
                        })
                    })
                    .collect();
                tokio::time::sleep(Duration::from_millis(rng.random_range(0..15))).await;
                nodes[i] = None;
                t.kills += 1;
                for f in flying {
                    t.commands += 1;
                    started(f.await.expect("client"), &mut t, &mut codes, seed);
                }
            } else {
                let down = (0..2).find(|j| nodes[*j].is_none()).expect("one is down");
                nodes[down] = Some(Node::start(&db.url, &tokens, &[], log()).await);
            }
            continue;
        }
        if roll < 7 {
            version += 1;
            let i = alive(&nodes, &mut rng);
            t.commands += 1;
            match call(
                "POST",
                format!("{}/definitions", base(&nodes, i).expect("up")),
                "analyst-demo",
                Some(json!({"name": "fault.yaml", "source": parent(version)})),
            )
            .await
            {
                Ok((201, _)) => {
                    t.acknowledged += 1;
                    t.deploys += 1;
                }
                Ok((st, v)) => panic!("seed {seed}: deploy refused {st} {v}"),
                Err(_) => t.unanswered += 1,
            }
            continue;
        }
        let i = alive(&nodes, &mut rng);
        let b = base(&nodes, i).expect("up");
        t.commands += 1;
        if roll < 40 || codes.is_empty() {
            let r = call(
                "POST",
                format!("{b}/cases"),
                "operator-demo",
                Some(json!({"process": "fault"})),
            )
            .await;
            started(r, &mut t, &mut codes, seed);
        } else if roll < 75 {
            // Complete the open task of a known case, if it has one.
            let cases: Vec<u64> = codes.keys().copied().collect();
            let case = cases[rng.random_range(0..cases.len())];
            let Ok((200, view)) = call("GET", format!("{b}/cases/{case}"), "operator-demo", None).await else {
                continue;
            };
            let Some(task) = view["tasks"][0]["task"].as_u64() else {
                continue;
            };
            match call(
                "POST",
                format!("{b}/cases/{case}/tasks/{task}/complete"),
                "operator-demo",
                Some(json!({"outputs": {}})),
            )
            .await
            {
                Ok((204, _)) => {
                    t.acknowledged += 1;
                    assert!(
                        completed.insert((case, task)),
                        "seed {seed}: task {task} of case {case} completed twice"
                    );
                }
                // Gone already (an earlier unanswered attempt was applied).
                Ok((404 | 409, _)) => {}
                Ok((st, v)) => assert!(st == 503 && v.get("error").is_some(), "seed {seed}: complete {st} {v}"),
                Err(_) => t.unanswered += 1,
            }
        } else {
            let cases: Vec<u64> = codes.keys().copied().filter(|c| !replied.contains(c)).collect();
            if cases.is_empty() {
                continue;
            }
            let case = cases[rng.random_range(0..cases.len())];
            let key = codes[&case].clone();
            match call(
                "POST",
                format!("{b}/messages"),
                "operator-demo",
                Some(json!({"name": "reply", "key": key})),
            )
            .await
            {
                Ok((200, v)) => {
                    t.acknowledged += 1;
                    assert_eq!(v["case"].as_u64(), Some(case), "seed {seed}: the reply went elsewhere");
                    replied.insert(case);
                }
                Ok((404, _)) => {} // not waiting for it yet (or already took it)
                Ok((st, v)) => assert!(st == 503 && v.get("error").is_some(), "seed {seed}: message {st} {v}"),
                Err(_) => t.unanswered += 1,
            }
        }
    }
    // Both nodes up; drive every case to its end.
    for n in nodes.iter_mut() {
        if n.is_none() {
            *n = Some(Node::start(&db.url, &tokens, &[], log()).await);
        }
    }
    let engine = Engine::open(&db.url, std::sync::Arc::new(SystemClock), 7)
        .await
        .expect("opens");
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        let open: Vec<(CaseId, String, Status)> = engine
            .cases()
            .await
            .expect("cases")
            .into_iter()
            .filter(|c| c.1 == "fault" && !c.2.is_finished())
            .collect();
        if open.is_empty() {
            break;
        }
        assert!(Instant::now() < end, "seed {seed}: {} cases never finished", open.len());
        for (case, _, _) in open {
            let st = engine.instance(case).await.expect("state");
            let b = nodes[0].as_ref().expect("up").base.clone();
            if let Some(task) = st.tasks.first() {
                let _ = call(
                    "POST",
                    format!("{b}/cases/{case}/tasks/{}/complete", task.id),
                    "operator-demo",
                    Some(json!({})),
                )
                .await;
            } else if !st.subscriptions.is_empty() {
                let code = engine.tracking_code(case).await.expect("code");
                let _ = call(
                    "POST",
                    format!("{b}/messages"),
                    "operator-demo",
                    Some(json!({"name": "reply", "key": code})),
                )
                .await;
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // The checks.
    let all = engine.cases().await.expect("cases");
    for (case, process, status) in &all {
        let h = engine.history(*case).await.expect("history");
        let st = engine.instance(*case).await.expect("state");
        assert_eq!(
            ravand_engine::runtime::replay(&h),
            st,
            "seed {seed}: case {case}: replay differs"
        );
        let mut done = BTreeMap::new();
        let mut fired = BTreeMap::new();
        for e in &h {
            match &e.kind {
                EventKind::TaskCompleted { task, .. } => *done.entry(*task).or_insert(0) += 1,
                EventKind::TimerFired { timer } => *fired.entry(*timer).or_insert(0) += 1,
                _ => {}
            }
        }
        assert!(
            done.values().all(|n| *n == 1),
            "seed {seed}: case {case} completed a task twice: {done:?}"
        );
        assert!(
            fired.values().all(|n| *n == 1),
            "seed {seed}: case {case} fired a timer twice: {fired:?}"
        );
        let waits = h
            .iter()
            .filter(|e| matches!(&e.kind, EventKind::TimerScheduled { .. }))
            .count();
        assert_eq!(
            fired.len(),
            waits,
            "seed {seed}: case {case} of {process}: a timer never fired"
        );
        let replies = h
            .iter()
            .filter(|e| matches!(e.kind, EventKind::MessageReceived { .. }))
            .count();
        assert!(replies <= 1, "seed {seed}: case {case} took {replies} replies");
        if process == "fault" {
            assert_eq!(*status, Status::Completed, "seed {seed}: case {case} is {status:?}");
        }
        for tok in &st.tokens {
            assert!(tok.park != Park::Moving, "seed {seed}: case {case} is stuck moving");
        }
    }
    for (case, task) in &completed {
        let h = engine
            .history(CaseId(*case))
            .await
            .expect("an acknowledged case exists");
        assert!(
            h.iter()
                .any(|e| matches!(e.kind, EventKind::TaskCompleted { task: k, .. } if u64::from(k.0) == *task)),
            "seed {seed}: acknowledged completion of task {task} in case {case} is lost"
        );
    }
    for case in &replied {
        let h = engine.history(CaseId(*case)).await.expect("case");
        assert!(
            h.iter().any(|e| matches!(e.kind, EventKind::MessageReceived { .. })),
            "seed {seed}: acknowledged reply to case {case} is lost"
        );
    }
    for case in codes.keys() {
        engine
            .instance(CaseId(*case))
            .await
            .unwrap_or_else(|e| panic!("seed {seed}: acknowledged case {case} lost: {e}"));
    }
    eprintln!(
        "fault injection seed {seed}: {} commands ({} acknowledged, {} unanswered), {} kills, {} deploys, {} cases",
        t.commands,
        t.acknowledged,
        t.unanswered,
        t.kills,
        t.deploys,
        all.len()
    );
    drop(nodes);
    db.drop().await;
}
