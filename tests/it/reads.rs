//! The read models against the cases themselves, on SQLite and PostgreSQL:
//! every page of `tasks_as`, `cases_as` and `events_as`, walked by its
//! cursors, must list exactly what the cases' own states and histories say
//! (read one case at a time through `status`, `instance` and `history`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use ravand_engine::engine::{
    Actor, CaseFilter, CaseId, Engine, EngineError, Grants, Page, Scope, TaskFilter, TaskItem,
};
use ravand_engine::runtime::{Data, Event, Status, TaskView};
use ravand_engine::time::{Timestamp, VirtualClock};
use serde_json::json;

use crate::scenarios::Harness;
use crate::store::TestDb;

const SEED: u64 = 20_261_201;
const CATEGORIES: [&str; 3] = ["roads", "waste", "lighting"];

/// Cases of the 137 process spread over its first steps: some registered,
/// some classified, some claimed, then a working day and a half later so
/// that deadlines pass and reminders fire.
async fn populate(url: &str, seed: u64) -> Harness {
    let clock = Arc::new(VirtualClock::new(Timestamp(0)));
    let engine = Engine::open(url, clock.clone(), 5).await.expect("opens");
    let h = Harness::with(
        engine,
        clock,
        &["complaint-137.yaml"],
        "isfahan-municipal",
        "2026-04-04T08:00",
    )
    .await;
    let mut rng = StdRng::seed_from_u64(seed);
    for i in 0..36 {
        let category = CATEGORIES[rng.random_range(0..CATEGORIES.len())];
        let mut d = json!({"category": category});
        if rng.random_bool(0.7) {
            d["district"] = json!(rng.random_range(1..=4));
        }
        h.set(&format!("2026-04-04T{:02}:{:02}", 8 + i / 12, (i % 12) * 5));
        let case = h
            .engine
            .start(
                "complaint-137",
                serde_json::from_value(d).expect("data"),
                Some("op".into()),
            )
            .await
            .expect("starts")
            .case;
        let depth = rng.random_range(0..3);
        if depth >= 1 {
            h.complete(
                case,
                "register-request",
                json!({"category": category, "partner": false}),
            )
            .await;
            h.sms().await;
        }
        if depth >= 2 {
            h.complete(case, "classify", json!({"feasible": true, "needs_details": false}))
                .await;
        }
        if rng.random_bool(0.3) {
            let view = h.engine.status(case).await.expect("status");
            if let Some(t) = view.tasks.first() {
                let user = format!("u{}", rng.random_range(0..3));
                h.engine.claim(case, t.task, &user).await.expect("claims");
            }
        }
    }
    h.wait_until("2026-04-05T13:00").await;
    h
}

/// Every page of a list, walked by its cursors to the last (or, for the
/// feed, to the first empty one).
pub async fn walk<T, F, Fut>(mut page: F) -> Vec<T>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>, EngineError>>,
{
    let mut out = Vec::new();
    let mut after = None;
    for _ in 0..10_000 {
        let p = page(after.clone()).await.expect("page");
        // The feed always gives a cursor; its end is an empty page.
        if p.items.is_empty() {
            return out;
        }
        out.extend(p.items);
        match p.next {
            Some(n) => after = Some(n),
            None => return out,
        }
    }
    panic!("a list that never ends");
}

/// The whole feed once it holds `total` events. On PostgreSQL a writer
/// anywhere on the server (another test's database too) holds the feed back
/// while it runs, so what was committed shows when such writers end.
pub async fn settled_feed(e: &Engine, actor: &Actor, total: usize) -> Vec<ravand_engine::engine::FeedItem> {
    for _ in 0..600 {
        let feed = walk(|after| async move { e.events_as(actor, after.as_deref(), Some(37)).await }).await;
        if feed.len() >= total {
            return feed;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the feed did not reach {total} events in 30 s");
}

fn due_key(t: &TaskView) -> i64 {
    t.due_at.map_or(i64::MAX, |d| d.0)
}

/// The open tasks as the cases' own views list them, in the page order.
pub async fn expected_tasks(e: &Engine) -> Vec<(CaseId, TaskView)> {
    let mut out = Vec::new();
    for (case, _, status) in e.cases().await.expect("cases") {
        if status.is_finished() {
            continue;
        }
        for t in e.status(case).await.expect("status").tasks {
            out.push((case, t));
        }
    }
    out.sort_by_key(|(c, t)| (due_key(t), *c, t.task.0));
    out
}

pub fn pairs(items: Vec<TaskItem>) -> Vec<(CaseId, TaskView)> {
    items.into_iter().map(|i| (i.case, i.task)).collect()
}

fn clerk(roles: &[&str]) -> Actor {
    Actor {
        user: Some("c".into()),
        grants: Grants::Scoped(Scope {
            processes: BTreeSet::new(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
        }),
        staff: true,
    }
}

async fn tasks(e: &Engine, actor: &Actor, f: &TaskFilter, limit: i64) -> Vec<(CaseId, TaskView)> {
    pairs(walk(|after| async move { e.tasks_as(actor, f, after.as_deref(), Some(limit)).await }).await)
}

async fn read_models_agree_with_the_cases(url: &str) {
    let seed = std::env::var("RAVAND_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEED);
    eprintln!("read models: seed {seed} (RAVAND_SEED repeats it)");
    let h = populate(url, seed).await;
    let e = &h.engine;
    let system = Actor::system(None);
    let all = &system;
    let expected = expected_tasks(e).await;
    assert!(expected.len() > 20, "{} tasks", expected.len());
    let overdue: Vec<_> = expected.iter().filter(|(_, t)| t.overdue).cloned().collect();
    assert!(
        !overdue.is_empty() && overdue.len() < expected.len(),
        "seed {seed}: some overdue, not all"
    );

    // Every task, in pages of 7; and the unpaged worklist.
    assert_eq!(tasks(e, all, &TaskFilter::default(), 7).await, expected, "seed {seed}");
    let mut by_case = expected.clone();
    by_case.sort_by_key(|(c, t)| (*c, t.task.0));
    assert_eq!(e.open_tasks_as(all).await.expect("worklist"), by_case);

    // Each filter is the same filter applied to the cases' views.
    let f = TaskFilter {
        overdue: Some(true),
        ..Default::default()
    };
    assert_eq!(tasks(e, all, &f, 4).await, overdue, "seed {seed}: overdue");
    let roles: BTreeSet<String> = expected.iter().filter_map(|(_, t)| t.role.clone()).collect();
    assert!(roles.len() >= 2, "{roles:?}");
    for role in &roles {
        let f = TaskFilter {
            role: Some(role.clone()),
            ..Default::default()
        };
        let want: Vec<_> = expected
            .iter()
            .filter(|(_, t)| t.role.as_ref() == Some(role))
            .cloned()
            .collect();
        assert_eq!(tasks(e, all, &f, 5).await, want, "seed {seed}: role {role}");
        // A clerk holding only this role sees the same list, unfiltered.
        let mine = clerk(&[&format!("complaint-137/{role}")]);
        assert_eq!(
            tasks(e, &mine, &TaskFilter::default(), 50).await,
            want,
            "seed {seed}: clerk of {role}"
        );
    }
    assert!(tasks(e, &clerk(&["other/classifier"]), &TaskFilter::default(), 50)
        .await
        .is_empty());
    let assignees: BTreeSet<String> = expected.iter().filter_map(|(_, t)| t.assignee.clone()).collect();
    assert!(!assignees.is_empty(), "seed {seed}: some claimed");
    for a in &assignees {
        let f = TaskFilter {
            assignee: Some(a.clone()),
            ..Default::default()
        };
        let want: Vec<_> = expected
            .iter()
            .filter(|(_, t)| t.assignee.as_ref() == Some(a))
            .cloned()
            .collect();
        assert_eq!(tasks(e, all, &f, 3).await, want, "seed {seed}: assignee {a}");
    }
    let mid = expected[expected.len() / 2].1.due_at.expect("a due instant");
    let f = TaskFilter {
        due_before: Some(mid),
        ..Default::default()
    };
    let want: Vec<_> = expected.iter().filter(|(_, t)| due_key(t) < mid.0).cloned().collect();
    assert_eq!(tasks(e, all, &f, 6).await, want, "seed {seed}: due before");
    // The unit is the role's, as the definition declares it.
    let p = e.process("complaint-137").await.expect("reads").expect("deployed");
    let units: BTreeMap<&str, Option<&str>> = p.roles.iter().map(|r| (r.id.as_str(), r.unit.as_deref())).collect();
    let page = e
        .tasks_as(all, &TaskFilter::default(), None, Some(500))
        .await
        .expect("page");
    for item in &page.items {
        let role = item.task.role.as_deref().expect("a role");
        assert_eq!(item.unit.as_deref(), units[role], "unit of {role}");
    }
    let f = TaskFilter {
        unit: Some("مرکز ۱۳۷".into()),
        ..Default::default()
    };
    let want: Vec<_> = expected
        .iter()
        .filter(|(_, t)| t.role.as_deref().and_then(|r| units[r]) == Some("مرکز ۱۳۷"))
        .cloned()
        .collect();
    assert_eq!(tasks(e, all, &f, 8).await, want, "seed {seed}: unit");

    // Cases: by searchable data, status and stage, newest first.
    let mut states = Vec::new();
    for (case, _, _) in e.cases().await.expect("cases") {
        states.push((case, e.instance(case).await.expect("state")));
    }
    states.sort_by_key(|(c, _)| std::cmp::Reverse(*c));
    let cases = |f: CaseFilter, limit: i64| async move {
        walk(|after| {
            let f = f.clone();
            async move { e.cases_as(all, &f, after.as_deref(), Some(limit)).await }
        })
        .await
        .into_iter()
        .map(|c| c.case)
        .collect::<Vec<_>>()
    };
    assert_eq!(
        cases(CaseFilter::default(), 5).await,
        states.iter().map(|(c, _)| *c).collect::<Vec<_>>()
    );
    for category in CATEGORIES {
        let f = CaseFilter {
            data: vec![("category".into(), category.into())],
            ..Default::default()
        };
        let want: Vec<CaseId> = states
            .iter()
            .filter(|(_, s)| s.data.get("category") == Some(&json!(category)))
            .map(|(c, _)| *c)
            .collect();
        assert_eq!(cases(f, 4).await, want, "seed {seed}: category {category}");
    }
    let f = CaseFilter {
        process: Some("complaint-137".into()),
        status: Some(Status::Running),
        data: vec![("district".into(), "2".into()), ("category".into(), "roads".into())],
        ..Default::default()
    };
    let want: Vec<CaseId> = states
        .iter()
        .filter(|(_, s)| {
            s.status == Status::Running
                && s.data.get("district") == Some(&json!(2))
                && s.data.get("category") == Some(&json!("roads"))
        })
        .map(|(c, _)| *c)
        .collect();
    assert_eq!(cases(f, 2).await, want, "seed {seed}: district 2 and roads");
    let classify = p
        .steps
        .iter()
        .position(|s| s.id == "classify")
        .expect("a classify step");
    let at_classify: Vec<CaseId> = states
        .iter()
        .filter(|(_, s)| s.tokens.iter().any(|t| t.step.ix() == classify))
        .map(|(c, _)| *c)
        .collect();
    assert!(!at_classify.is_empty());
    let f = CaseFilter {
        stage: Some("classify".into()),
        ..Default::default()
    };
    assert_eq!(cases(f, 3).await, at_classify, "seed {seed}: stage");
    let (one, st) = &states[3];
    let code = e.tracking_code(*one).await.expect("code");
    let f = CaseFilter {
        tracking_code: Some(code),
        ..Default::default()
    };
    assert_eq!(cases(f, 50).await, vec![*one]);
    let after = st.started_at;
    let f = CaseFilter {
        started_after: Some(after),
        ..Default::default()
    };
    let want: Vec<CaseId> = states
        .iter()
        .filter(|(_, s)| s.started_at >= after)
        .map(|(c, _)| *c)
        .collect();
    assert_eq!(cases(f, 4).await, want, "seed {seed}: started after");

    // The feed holds every case's history, each in its order, once.
    let mut total = 0;
    for (case, _) in &states {
        total += e.history(*case).await.expect("history").len();
    }
    let feed = settled_feed(e, all, total).await;
    assert_eq!(feed.len(), total);
    let mut per_case: BTreeMap<CaseId, Vec<Event>> = BTreeMap::new();
    let mut positions = BTreeSet::new();
    for item in feed {
        assert!(
            positions.insert(item.position.clone()),
            "position {} twice",
            item.position
        );
        per_case.entry(item.case).or_default().push(item.event);
    }
    for (case, _) in &states {
        let history = e.history(*case).await.expect("history");
        assert_eq!(per_case.get(case), Some(&history), "case {case}'s events in the feed");
    }
    assert_eq!(per_case.len(), states.len());
    // Read again from the last position: nothing new, and the same cursor.
    let last = e.events_as(all, None, Some(500)).await.expect("feed");
    let mut next = last.next.clone();
    loop {
        let p = e.events_as(all, next.as_deref(), Some(500)).await.expect("feed");
        if p.items.is_empty() {
            assert_eq!(p.next, next, "an empty page keeps the cursor");
            break;
        }
        next = p.next;
    }
    // New work appears after that cursor, and only it.
    let case = states.last().expect("a case").0;
    let view = e.status(case).await.expect("status");
    if let Some(t) = view.tasks.first() {
        e.claim(case, t.task, "late").await.expect("claims");
        let mut p = e.events_as(all, next.as_deref(), Some(500)).await.expect("feed");
        for _ in 0..600 {
            if !p.items.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            p = e.events_as(all, next.as_deref(), Some(500)).await.expect("feed");
        }
        assert!(
            !p.items.is_empty() && p.items.iter().all(|i| i.case == case),
            "{:?}",
            p.items
        );
    }

    // Refusals: a cursor not given out, a page too long, a variable not searchable.
    for bad in ["zz", "7431", "not-a-cursor"] {
        assert!(matches!(
            e.tasks_as(all, &TaskFilter::default(), Some(bad), None).await,
            Err(EngineError::BadQuery(_))
        ));
    }
    let task_cursor = e
        .tasks_as(all, &TaskFilter::default(), None, Some(1))
        .await
        .expect("page")
        .next
        .expect("more");
    assert!(
        matches!(
            e.cases_as(all, &CaseFilter::default(), Some(&task_cursor), None).await,
            Err(EngineError::BadQuery(_))
        ),
        "a task cursor is not a case cursor"
    );
    for n in [0, -1, 501] {
        assert!(matches!(
            e.tasks_as(all, &TaskFilter::default(), None, Some(n)).await,
            Err(EngineError::BadQuery(_))
        ));
    }
    let f = CaseFilter {
        data: vec![("partner".into(), "true".into())],
        ..Default::default()
    };
    assert!(matches!(
        e.cases_as(all, &f, None, None).await,
        Err(EngineError::BadQuery(_))
    ));
}

on_both_urls!("reads"; read_models_agree_with_the_cases);

/// On PostgreSQL transactions commit in any order: a transaction that began
/// writing earlier but commits later must not have its events appear
/// behind a cursor a consumer already holds. The feed holds a later
/// commit back until every earlier writer has ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_feed_holds_a_later_commit_back_until_an_earlier_writer_ends() {
    use sqlx::Connection;
    let db = TestDb::postgres("feedorder").await;
    let clock = Arc::new(VirtualClock::new(Timestamp(0)));
    let engine = Engine::open(&db.url, clock.clone(), 5).await.expect("opens");
    let h = Harness::with(
        engine,
        clock,
        &["complaint-137.yaml"],
        "isfahan-municipal",
        "2026-04-04T08:00",
    )
    .await;
    let e = &h.engine;
    let system = Actor::system(None);
    let start = || async {
        e.start(
            "complaint-137",
            serde_json::from_value(json!({"category": "roads"})).expect("data"),
            None,
        )
        .await
        .expect("starts")
        .case
    };
    // A writer anywhere on the server (other tests' databases too) holds
    // the feed back while it runs: read until what was committed shows.
    let settled = |after: Option<String>, want: usize| {
        let system = &system;
        async move {
            for _ in 0..600 {
                let page = e.events_as(system, after.as_deref(), Some(500)).await.expect("feed");
                if page.items.len() >= want {
                    return page;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            panic!("the feed did not show {want} events in 30 s");
        }
    };
    let first = start().await;
    let first_events = e.history(first).await.expect("history").len();
    let page = settled(None, first_events).await;
    let cursor = page.next.clone();

    // Another writer begins and writes an event of the first case, then
    // stays open while the engine commits a second case.
    let mut other = sqlx::AnyConnection::connect(&db.url).await.expect("connects");
    sqlx::query("BEGIN").execute(&mut other).await.expect("begins");
    let mut late = e.history(first).await.expect("history")[0].clone();
    late.seq = 10_000;
    sqlx::query("INSERT INTO events (case_id, seq, at, kind, body) VALUES ($1, $2, $3, 'started', $4)")
        .bind(first.0 as i64)
        .bind(late.seq as i64)
        .bind(late.at.0)
        .bind(serde_json::to_string(&late).expect("json"))
        .execute(&mut other)
        .await
        .expect("writes");
    let second = start().await;
    let held = e.events_as(&system, cursor.as_deref(), Some(500)).await.expect("feed");
    assert!(
        held.items.is_empty(),
        "the second case's events show while an earlier writer is open: {:?}",
        held.items.iter().map(|i| i.case).collect::<Vec<_>>()
    );
    assert_eq!(held.next, cursor, "and the cursor stays");
    sqlx::query("COMMIT").execute(&mut other).await.expect("commits");
    let second_events = e.history(second).await.expect("history").len();
    let page = settled(cursor.clone(), 1 + second_events).await;
    let order: Vec<(CaseId, u64)> = page.items.iter().map(|i| (i.case, i.event.seq)).collect();
    assert_eq!(
        order.first(),
        Some(&(first, 10_000)),
        "the earlier writer's event first: {order:?}"
    );
    assert_eq!(order.len(), 1 + second_events, "{order:?}");
    assert!(order[1..].iter().all(|(c, _)| *c == second));
    drop(h);
    db.drop().await;
}

/// Staff read the feed without the events of restricted processes (those
/// are read case by case, into the audit trail), and with those of a
/// process another node deployed after this one loaded its catalog.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_leaves_out_only_restricted_processes_for_staff() {
    let db = TestDb::sqlite("feedstaff").await;
    let clock = Arc::new(VirtualClock::new(Timestamp(1_777_708_800)));
    let one = Engine::open(&db.url, clock.clone(), 1).await.expect("opens");
    let form = |id: &str, restricted: bool| {
        format!(
            "id: {id}\nversion: 1\ntitle: فرم\n{}steps:\n  - {{id: start, kind: start}}\n  - {{id: done, kind: end, outcome: done}}\n",
            if restricted { "restricted: true\n" } else { "" }
        )
    };
    one.deploy("secret.yaml", &form("secret", true)).await.expect("deploys");
    let other = Engine::open(&db.url, clock.clone(), 2).await.expect("opens");
    one.deploy("late.yaml", &form("late", false)).await.expect("deploys");
    for p in ["secret", "late"] {
        one.start(p, Data::new(), None).await.expect("starts");
    }
    let auditor = Actor {
        user: Some("auditor".into()),
        grants: Grants::ReadAll,
        staff: true,
    };
    let seen = |actor: Actor| {
        let other = &other;
        async move {
            let page = other.events_as(&actor, None, Some(500)).await.expect("feed");
            page.items.iter().map(|i| i.process.clone()).collect::<BTreeSet<_>>()
        }
    };
    assert_eq!(seen(auditor).await, ["late".to_owned()].into());
    assert_eq!(
        seen(Actor::system(None)).await,
        ["late".to_owned(), "secret".to_owned()].into()
    );
    db.drop().await;
}
