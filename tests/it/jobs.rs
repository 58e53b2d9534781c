//! External tasks: a service step that names a `topic` is a job that an
//! outside worker acquires with a lease, extends, completes with typed
//! outputs, or fails with retries (backing off) until an incident. On both
//! databases through the engine, and across two real `ravand serve`
//! processes on one PostgreSQL, where no job may be handed out twice.

use std::collections::BTreeSet;
use std::sync::Arc;

use ravand_engine::engine::{Actor, Engine, EngineError, Failed, Grants, Scope, TaskFilter};
use ravand_engine::runtime::{Command, Data, Status};
use ravand_engine::time::{Clock, Timestamp, VirtualClock};
use serde_json::json;

const T0: Timestamp = Timestamp(1_777_708_800);

/// A GIS lookup done by an outside program: it sees the parcel and sets
/// the zone.
const LOOKUP: &str = "id: lookup\nversion: 1\ntitle: استعلام کاربری\nroles:\n  - {id: system, title: سامانه}\n  - {id: clerk, title: کارمند}\ndata:\n  - {name: parcel, type: string, required: true}\n  - {name: owner, type: string}\n  - {name: zone, type: enum, values: [residential, commercial]}\nsteps:\n  - {id: start, kind: start}\n  - {id: gis, title: استعلام از GIS, performer: system, mode: service, topic: gis-zoning, shows: [parcel], sets: [zone]}\n  - {id: review, title: بررسی, performer: clerk}\n  - {id: done, kind: end, outcome: done}\n";

fn data(v: serde_json::Value) -> Data {
    serde_json::from_value(v).expect("object")
}

fn worker_actor(roles: &[&str]) -> Actor {
    Actor {
        user: Some("gis-adapter".into()),
        grants: Grants::Scoped(Scope {
            processes: BTreeSet::new(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
        }),
        staff: false,
    }
}

async fn start(e: &Engine, parcel: &str) -> ravand_engine::engine::CaseId {
    e.start("lookup", data(json!({"parcel": parcel, "owner": "x"})), None)
        .await
        .expect("starts")
        .case
}

async fn a_job_is_held_by_one_worker_and_done_once(e: Engine, clock: Arc<VirtualClock>) {
    e.deploy("lookup.yaml", LOOKUP).await.expect("deploys");
    let w = worker_actor(&["lookup/system"]);
    let cases = [start(&e, "P-1").await, start(&e, "P-2").await, start(&e, "P-3").await];
    // Jobs are not on the people's lists.
    let all = Actor::system(None);
    let listed = e
        .tasks_as(&all, &TaskFilter::default(), None, None)
        .await
        .expect("tasks");
    assert!(listed.items.is_empty(), "{:?}", listed.items);
    assert_eq!(
        e.job_counts().await.expect("counts"),
        vec![("gis-zoning".to_owned(), 3, 0)]
    );

    let a = e.acquire_jobs_as(&w, "gis-zoning", "a", 2, 60).await.expect("acquires");
    assert_eq!(
        a.iter().map(|j| j.case).collect::<Vec<_>>(),
        cases[..2].to_vec(),
        "oldest first"
    );
    assert_eq!(
        a[0].variables,
        data(json!({"parcel": "P-1"})),
        "only what the step shows"
    );
    assert_eq!(a[0].lock_until, Timestamp(T0.0 + 60));
    let b = e.acquire_jobs_as(&w, "gis-zoning", "b", 5, 60).await.expect("acquires");
    assert_eq!(
        b.iter().map(|j| j.case).collect::<Vec<_>>(),
        vec![cases[2]],
        "what a holds is not offered"
    );
    assert!(e
        .acquire_jobs_as(&w, "gis-zoning", "c", 5, 60)
        .await
        .expect("acquires")
        .is_empty());
    assert!(e
        .acquire_jobs_as(&w, "other-topic", "c", 5, 60)
        .await
        .expect("acquires")
        .is_empty());
    assert_eq!(
        e.job_counts().await.expect("counts"),
        vec![("gis-zoning".to_owned(), 0, 3)]
    );

    // Only the holder completes, with outputs typed as the step declares.
    let (c0, t0) = (a[0].case, a[0].task);
    let ok = data(json!({"zone": "residential"}));
    assert!(matches!(
        e.complete_job_as(&w, c0, t0, "b", ok.clone()).await,
        Err(EngineError::JobLost(_))
    ));
    assert!(matches!(
        e.complete_job_as(&w, c0, t0, "a", data(json!({"zone": "industrial"})))
            .await,
        Err(EngineError::Command(_))
    ));
    let outsider = worker_actor(&["other/system"]);
    assert!(matches!(
        e.complete_job_as(&outsider, c0, t0, "a", ok.clone()).await,
        Err(EngineError::Forbidden(_))
    ));
    e.complete_job_as(&w, c0, t0, "a", ok.clone()).await.expect("completes");
    let view = e.status(c0).await.expect("status");
    assert_eq!(view.data.get("zone"), Some(&json!("residential")));
    assert_eq!(
        view.tasks.iter().map(|t| t.step.as_str()).collect::<Vec<_>>(),
        vec!["review"]
    );
    assert!(matches!(
        e.complete_job_as(&w, c0, t0, "a", ok.clone()).await,
        Err(EngineError::NoSuchJob(_))
    ));
    // The gauges an operator scrapes, from the read rows.
    let g = e.gauges().await.expect("gauges");
    assert_eq!(g.tasks, vec![("lookup".to_owned(), "clerk".to_owned(), 1, 0)]);
    assert_eq!(g.jobs, vec![("gis-zoning".to_owned(), 0, 2)]);

    // A lease that runs out frees the job; the first holder has lost it.
    let (c1, t1) = (a[1].case, a[1].task);
    assert_eq!(
        e.extend_job_as(&w, c1, t1, "a", 120).await.expect("extends"),
        Timestamp(T0.0 + 120)
    );
    clock.set(Timestamp(T0.0 + 121));
    let again = e.acquire_jobs_as(&w, "gis-zoning", "d", 5, 60).await.expect("acquires");
    assert_eq!(
        again.iter().map(|j| (j.case, j.task)).collect::<Vec<_>>(),
        vec![(c1, t1), (b[0].case, b[0].task)]
    );
    assert!(matches!(
        e.extend_job_as(&w, c1, t1, "a", 60).await,
        Err(EngineError::JobLost(_))
    ));
    assert!(matches!(
        e.complete_job_as(&w, c1, t1, "a", ok.clone()).await,
        Err(EngineError::JobLost(_))
    ));

    // Failing with retries backs off; with none left the case has an incident.
    let now = clock.now();
    let f = e
        .fail_job_as(&w, c1, t1, "d", "GIS timed out", 2, None)
        .await
        .expect("fails");
    assert_eq!(
        f,
        Failed::Retry {
            at: Timestamp(now.0 + 10)
        }
    );
    assert!(
        e.acquire_jobs_as(&w, "gis-zoning", "e", 5, 60)
            .await
            .expect("acquires")
            .is_empty(),
        "backing off"
    );
    clock.set(Timestamp(now.0 + 10));
    let j = e.acquire_jobs_as(&w, "gis-zoning", "e", 1, 60).await.expect("acquires");
    assert_eq!(
        (j[0].retries, j[0].last_error.as_deref()),
        (Some(2), Some("GIS timed out"))
    );
    let f = e
        .fail_job_as(&w, c1, t1, "e", "GIS timed out", 1, None)
        .await
        .expect("fails");
    assert_eq!(
        f,
        Failed::Retry {
            at: Timestamp(now.0 + 10 + 20)
        },
        "the backoff doubles"
    );
    clock.set(Timestamp(now.0 + 30));
    let j = e.acquire_jobs_as(&w, "gis-zoning", "e", 1, 60).await.expect("acquires");
    assert_eq!(j[0].case, c1);
    let f = e
        .fail_job_as(&w, c1, t1, "e", "the GIS is gone", 0, None)
        .await
        .expect("fails");
    assert_eq!(f, Failed::Incident);
    let st = e.instance(c1).await.expect("state");
    assert_eq!(st.incidents.len(), 1, "{:?}", st.incidents);
    assert!(st.tasks.is_empty());
    st.check_invariants().expect("invariants");
    assert_eq!(
        ravand_engine::runtime::replay(&e.history(c1).await.expect("history")),
        st
    );
    let listed = e.incidents_as(&all, Default::default()).await.expect("incidents");
    assert!(
        listed
            .iter()
            .any(|i| i.case == c1.0 as i64 && i.message.contains("the GIS is gone")),
        "{listed:?}"
    );
    // Resolving it enters the step again: a new job, with fresh retries.
    let token = *st.incidents.keys().next().expect("an incident");
    e.command(
        c1,
        Command::Resolve {
            token,
            values: Data::new(),
            by: Some("admin".into()),
        },
    )
    .await
    .expect("resolves");
    let j = e.acquire_jobs_as(&w, "gis-zoning", "f", 5, 60).await.expect("acquires");
    let fresh = j.iter().find(|j| j.case == c1).expect("a new job for the case");
    assert_ne!(fresh.task, t1);
    assert_eq!(fresh.retries, None);
    e.complete_job_as(&w, c1, fresh.task, "f", ok).await.expect("completes");
    assert_eq!(e.status(c1).await.expect("status").status, Status::Running);

    // Refusals of bad requests.
    for (max, lease) in [(0, 60), (101, 60), (1, 0), (1, 90_000)] {
        assert!(matches!(
            e.acquire_jobs_as(&w, "gis-zoning", "g", max, lease).await,
            Err(EngineError::BadInput(_))
        ));
    }
    assert!(matches!(
        e.acquire_jobs_as(&w, "gis-zoning", "", 1, 60).await,
        Err(EngineError::BadInput(_))
    ));
}

on_both!("jobs"; a_job_is_held_by_one_worker_and_done_once);

/// Two real `ravand serve` processes on one PostgreSQL database, eight
/// workers acquiring from both at once: every job is handed out once, and
/// every case moves on once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_never_hand_out_a_job_twice() {
    use crate::nodes::{call, Node};
    let db = crate::store::TestDb::postgres("jobs_nodes").await;
    let tokens = crate::crash::tokens_file();
    let dir = std::env::temp_dir().join(format!("ravand-jobs-nodes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let a = Node::start(&db.url, &tokens, &[], dir.join("a.log")).await;
    let b = Node::start(&db.url, &tokens, &[], dir.join("b.log")).await;
    let (st, v) = call(
        "POST",
        format!("{}/definitions", a.base),
        "analyst-demo",
        Some(json!({"name": "lookup.yaml", "source": LOOKUP})),
    )
    .await
    .expect("deploys");
    assert_eq!(st, 201, "{v}");
    const CASES: usize = 120;
    for i in 0..CASES {
        let node = if i % 2 == 0 { &a } else { &b };
        let (st, v) = call(
            "POST",
            format!("{}/cases", node.base),
            "admin-demo",
            Some(json!({"process": "lookup", "data": {"parcel": format!("P-{i}")}})),
        )
        .await
        .expect("starts");
        assert_eq!(st, 201, "{v}");
    }
    let mut workers = Vec::new();
    for w in 0..8 {
        let base = if w % 2 == 0 { a.base.clone() } else { b.base.clone() };
        workers.push(tokio::spawn(async move {
            let mut done = Vec::new();
            loop {
                let (st, jobs) = call(
                    "POST",
                    format!("{base}/jobs/acquire"),
                    "admin-demo",
                    Some(json!({"topic": "gis-zoning", "worker": format!("w{w}"), "max": 3, "lease": 600})),
                )
                .await
                .expect("acquires");
                assert_eq!(st, 200, "{jobs}");
                let jobs = jobs.as_array().expect("a list").clone();
                if jobs.is_empty() {
                    return done;
                }
                for j in jobs {
                    let (case, task) = (j["case"].as_u64().expect("case"), j["task"].as_u64().expect("task"));
                    let (st, v) = call(
                        "POST",
                        format!("{base}/jobs/{case}/{task}/complete"),
                        "admin-demo",
                        Some(json!({"worker": format!("w{w}"), "outputs": {"zone": "commercial"}})),
                    )
                    .await
                    .expect("completes");
                    assert_eq!(st, 204, "job {case}/{task} by w{w}: {v}");
                    done.push((case, task));
                }
            }
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.expect("worker"));
    }
    let distinct: BTreeSet<_> = all.iter().copied().collect();
    assert_eq!(all.len(), CASES, "{} completions for {CASES} jobs", all.len());
    assert_eq!(distinct.len(), CASES, "a job completed twice");
    for (case, _) in &distinct {
        let (st, v) = call("GET", format!("{}/cases/{case}", a.base), "admin-demo", None)
            .await
            .expect("reads");
        assert_eq!(st, 200);
        assert_eq!(v["data"]["zone"], "commercial", "{v}");
        let steps: Vec<&str> = v["tasks"]
            .as_array()
            .expect("tasks")
            .iter()
            .filter_map(|t| t["step"].as_str())
            .collect();
        assert_eq!(steps, vec!["review"], "{v}");
    }
    drop((a, b));
    db.drop().await;
}

/// `topic` is for automatic tasks, is a name, and is not mixed with
/// `compute`; each mistake is reported at the topic's line.
#[test]
fn a_topic_belongs_to_a_service_task() {
    for (bad, code) in [
        (
            LOOKUP.replace("mode: service, topic: gis-zoning", "topic: gis-zoning"),
            "field-not-for-kind",
        ),
        (
            LOOKUP.replace("topic: gis-zoning", "topic: \"gis zoning!\""),
            "bad-topic",
        ),
        (
            LOOKUP.replace(
                "topic: gis-zoning, shows: [parcel], sets: [zone]",
                "topic: gis-zoning, compute: [{set: zone, to: \"'residential'\"}]",
            ),
            "field-not-for-kind",
        ),
    ] {
        let r = crate::helpers::check("lookup.yaml", &bad);
        let d = r
            .diagnostics
            .iter()
            .find(|d| d.code == code)
            .unwrap_or_else(|| panic!("no {code} in {:?}", crate::helpers::codes(&r)));
        assert_eq!(d.line, 13, "{d:?}");
    }
    assert!(crate::helpers::codes(&crate::helpers::check("lookup.yaml", LOOKUP)).is_empty());
}
