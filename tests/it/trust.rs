//! Nothing lost or stuck, and nobody where they don't belong: subprocess
//! failures and returns, incidents listed and resolved, input as the
//! definition declares it, grants checked by the engine, restricted cases
//! audited. Real SQLite (in memory or a file) through the engine.

use std::collections::BTreeSet;
use std::sync::Arc;

use ravand_engine::definition::{Limits, SourceFile};
use ravand_engine::engine::IncidentFilter;
use ravand_engine::engine::{Actor, CaseId, Engine, EngineError, Grants, Scope, MAX_CHILD_DEPTH};
use ravand_engine::model::CompileContext;
use ravand_engine::runtime::{Command, CommandError, Data, EventKind, Status};
use ravand_engine::time::{Timestamp, VirtualClock};
use serde_json::json;

const T0: Timestamp = Timestamp(1_777_708_800); // 2026-05-02T08:00:00Z

fn data(v: serde_json::Value) -> Data {
    serde_json::from_value(v).expect("object")
}

/// A task for `officer`, due in an hour, reassigned to `alternate` an hour
/// after that.
const LADDER: &str = "id: ladder\nversion: 1\ntitle: نردبان\nroles:\n  - {id: officer, title: کارشناس}\n  - {id: alternate, title: جانشین}\nsteps:\n  - {id: start, kind: start}\n  - id: act\n    title: اقدام\n    performer: officer\n    deadline:\n      due: 1 hours\n      escalation:\n        - {after: 1 hours, action: reassign, to: alternate}\n  - {id: done, kind: end, outcome: done}\n";

async fn a_reassignment_a_moment_ago_decides_who_may_complete(e: Engine, clock: Arc<VirtualClock>) {
    e.deploy("ladder.yaml", LADDER).await.expect("deploys");
    let officer = clerk("o-1", &["ladder"], &["ladder/officer"]);
    let alternate = clerk("a-1", &["ladder"], &["ladder/alternate"]);
    let case = e.start_as(&officer, "ladder", Data::new()).await.expect("starts").case;
    let task = e.status_as(&officer, case).await.expect("reads").tasks[0].task;
    // The escalation reassigns the task before the officer's request runs.
    let later = clock.advance(3 * 3600);
    e.tick(later).await.expect("tick");
    let complete = |by: &str| Command::Complete {
        task,
        by: Some(by.into()),
        outputs: Data::new(),
    };
    assert!(matches!(
        e.command_as(&officer, case, complete("o-1")).await,
        Err(EngineError::Forbidden(_))
    ));
    assert!(e.open_tasks_as(&officer).await.expect("list").is_empty());
    assert_eq!(e.open_tasks_as(&alternate).await.expect("list").len(), 1);
    e.command_as(&alternate, case, complete("a-1"))
        .await
        .expect("the new role completes");
    assert_eq!(e.instance(case).await.expect("state").status, Status::Completed);
}

/// A parent that calls `child` and waits (a 1-hour timeout on the call
/// leads to `late`), then ends.
fn parent(child: &str) -> String {
    format!(
        "id: parent\nversion: 1\ntitle: والد\ndata:\n  - {{name: result, type: string}}\nsteps:\n  - {{id: start, kind: start}}\n  - {{id: call, kind: subprocess, title: فراخوانی, process: {child}, sets: [result], timeout: {{after: 1 hours, next: late}}}}\n  - {{id: done, kind: end, outcome: done}}\n  - {{id: late, kind: end, outcome: late}}\n"
    )
}

/// A child with one task for `clerk`, that sets `result`.
const CHILD: &str = "id: child\nversion: 1\ntitle: فرزند\nroles:\n  - {id: clerk, title: کارمند}\ndata:\n  - {name: result, type: string}\nsteps:\n  - {id: start, kind: start}\n  - {id: work, title: کار, performer: clerk, sets: [result]}\n  - {id: done, kind: end, outcome: ok}\n";

async fn children(e: &Engine, parent: CaseId) -> Vec<(CaseId, Status)> {
    let mut out = Vec::new();
    for (id, process, status) in e.cases().await.expect("cases") {
        if process == "child" && id != parent {
            out.push((id, status));
        }
    }
    out
}

async fn a_child_that_cannot_start_is_an_incident_resolved_by_deploying_and_retrying(
    e: Engine,
    _clock: Arc<VirtualClock>,
) {
    e.deploy("parent.yaml", &parent("child")).await.expect("deploys");
    let p = e.start("parent", Data::new(), None).await.expect("starts").case;
    let st = e.instance(p).await.expect("state");
    assert_eq!(st.incidents.len(), 1, "the parent is stuck visibly: {st:?}");
    let msg = st.incidents.values().next().cloned().unwrap_or_default();
    assert!(msg.contains("`child` is not deployed"), "{msg}");
    assert!(st.timers.is_empty(), "the call's timeout stops with the incident");
    // Listed across cases, by process and step.
    let listed = e
        .incidents_as(
            &Actor::system(None),
            IncidentFilter {
                process: Some("parent".into()),
                step: Some("call".into()),
                ..IncidentFilter::default()
            },
        )
        .await
        .expect("lists");
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].case, listed[0].step.as_str()), (p.0 as i64, "call"));
    // Repair: deploy the child, resolve (who is recorded), and the call goes out.
    e.deploy("child.yaml", CHILD).await.expect("deploys");
    let token = listed[0].token;
    e.command(
        p,
        Command::Resolve {
            token,
            values: Data::new(),
            by: Some("ops-1".into()),
        },
    )
    .await
    .expect("resolves");
    let kids = children(&e, p).await;
    assert_eq!(kids.len(), 1, "one child started on retry");
    assert!(e
        .incidents_as(&Actor::system(None), IncidentFilter::default())
        .await
        .expect("lists")
        .is_empty());
    let lines = e.history_lines(p).await.expect("history");
    assert!(
        lines.iter().any(|l| l.contains("incident resolved by ops-1")),
        "{lines:#?}"
    );
    // The child's work finishes the parent, with the child's result.
    let child = kids[0].0;
    let task = e.status(child).await.expect("status").tasks[0].task;
    e.complete(child, task, None, data(json!({"result": "yes"})))
        .await
        .expect("completes");
    let st = e.instance(p).await.expect("state");
    assert_eq!((st.status, st.outcome.as_deref()), (Status::Completed, Some("done")));
    assert_eq!(st.data.get("result"), Some(&json!("yes")));
}

async fn depth_counts_nesting_not_returns(e: Engine, _clock: Arc<VirtualClock>) {
    // c0 calls c1 … c39 calls c40, which ends at once: each returns at once.
    let n = 40;
    for i in 0..=n {
        let body = if i == n {
            "  - {id: start, kind: start}\n  - {id: done, kind: end, outcome: done}\n".to_owned()
        } else {
            format!(
                "  - {{id: start, kind: start}}\n  - {{id: call, kind: subprocess, title: فراخوانی, process: c{}}}\n  - {{id: done, kind: end, outcome: done}}\n",
                i + 1
            )
        };
        e.deploy(
            &format!("c{i}.yaml"),
            &format!("id: c{i}\nversion: 1\ntitle: زنجیره\nsteps:\n{body}"),
        )
        .await
        .expect("deploys");
    }
    // A chain of 20 nested calls returns all the way (it used to stop at
    // about 17, as returns were counted as nesting).
    let top = e.start("c20", Data::new(), None).await.expect("starts").case;
    assert_eq!(e.instance(top).await.expect("state").status, Status::Completed);
    // 40 nested calls: the one at depth 32 is refused, as an incident.
    let top = e.start("c0", Data::new(), None).await.expect("starts").case;
    let cases = e.cases().await.expect("cases");
    let stuck: Vec<_> = {
        let mut v = Vec::new();
        for (id, _, status) in cases.iter().filter(|c| c.0 > top) {
            let st = e.instance(*id).await.expect("state");
            if !st.incidents.is_empty() {
                v.push((*id, *status, st.incidents.values().next().cloned().unwrap_or_default()));
            }
        }
        v
    };
    assert_eq!(stuck.len(), 1, "{stuck:?}");
    assert!(
        stuck[0].2.contains(&format!("deeper than {MAX_CHILD_DEPTH}")),
        "{stuck:?}"
    );
    assert_eq!(
        cases.iter().filter(|c| c.0 >= top).count(),
        MAX_CHILD_DEPTH as usize + 1
    );
}

async fn a_suspended_parent_keeps_its_childs_completion_until_it_resumes(e: Engine, _clock: Arc<VirtualClock>) {
    e.deploy("child.yaml", CHILD).await.expect("deploys");
    e.deploy("parent.yaml", &parent("child")).await.expect("deploys");
    let p = e.start("parent", Data::new(), None).await.expect("starts").case;
    let child = children(&e, p).await[0].0;
    e.command(p, Command::Suspend { by: None }).await.expect("suspends");
    let task = e.status(child).await.expect("status").tasks[0].task;
    e.complete(child, task, None, data(json!({"result": "ok"})))
        .await
        .expect("the child's completion is not refused");
    assert_eq!(e.instance(child).await.expect("state").status, Status::Completed);
    let st = e.instance(p).await.expect("state");
    assert_eq!((st.status, st.held.len()), (Status::Suspended, 1), "kept: {st:?}");
    e.command(p, Command::Resume { by: None }).await.expect("resumes");
    let st = e.instance(p).await.expect("state");
    assert_eq!((st.status, st.outcome.as_deref()), (Status::Completed, Some("done")));
    assert_eq!(st.data.get("result"), Some(&json!("ok")));
    assert_eq!(ravand_engine::runtime::replay(&e.history(p).await.expect("h")), st);
}

async fn cancelling_a_parent_or_timing_out_its_call_cancels_the_child_subtree(e: Engine, clock: Arc<VirtualClock>) {
    // parent → middle (calls child) → child: three levels.
    e.deploy("child.yaml", CHILD).await.expect("deploys");
    let middle = parent("child").replace("id: parent", "id: middle");
    e.deploy("middle.yaml", &middle).await.expect("deploys");
    e.deploy("parent.yaml", &parent("middle")).await.expect("deploys");
    let p = e.start("parent", Data::new(), None).await.expect("starts").case;
    let all: Vec<_> = e.cases().await.expect("cases");
    assert_eq!(all.len(), 3);
    e.command(
        p,
        Command::Cancel {
            by: Some("admin".into()),
            reason: None,
        },
    )
    .await
    .expect("cancels");
    for (id, process, status) in e.cases().await.expect("cases") {
        assert_eq!(status, Status::Cancelled, "case {id} of {process} left running");
    }
    // A call that times out cancels its child and takes the timeout path.
    let p = e.start("middle", Data::new(), None).await.expect("starts").case;
    let child = children(&e, p)
        .await
        .into_iter()
        .find(|c| c.1 == Status::Running)
        .expect("child")
        .0;
    let later = clock.advance(2 * 3600);
    e.tick(later).await.expect("tick");
    let st = e.instance(p).await.expect("state");
    assert_eq!((st.status, st.outcome.as_deref()), (Status::Completed, Some("late")));
    assert_eq!(e.instance(child).await.expect("state").status, Status::Cancelled);
    assert!(e.status(child).await.expect("status").tasks.is_empty());
}

async fn a_child_cancelled_on_its_own_stops_its_parent_in_an_incident(e: Engine, _clock: Arc<VirtualClock>) {
    e.deploy("child.yaml", CHILD).await.expect("deploys");
    e.deploy("parent.yaml", &parent("child")).await.expect("deploys");
    let p = e.start("parent", Data::new(), None).await.expect("starts").case;
    let child = children(&e, p).await[0].0;
    e.command(child, Command::Cancel { by: None, reason: None })
        .await
        .expect("cancels");
    let st = e.instance(p).await.expect("state");
    assert_eq!(st.status, Status::Running);
    assert!(
        st.incidents.values().any(|m| m.contains("was cancelled")),
        "{:?}",
        st.incidents
    );
    let token = *st.incidents.keys().next().expect("incident");
    e.command(
        p,
        Command::Resolve {
            token,
            values: Data::new(),
            by: None,
        },
    )
    .await
    .expect("resolves");
    assert_eq!(
        children(&e, p).await.iter().filter(|c| c.1 == Status::Running).count(),
        1,
        "called again"
    );
}

const FORM: &str = "id: form\nversion: 1\ntitle: فرم\nroles:\n  - {id: clerk, title: کارمند}\ndata:\n  - {name: category, type: enum, values: [roads, water], required: true}\n  - {name: tracking_code, type: string}\n  - {name: ok, type: bool}\nsteps:\n  - {id: start, kind: start}\n  - {id: check, title: بررسی, performer: clerk, sets: [ok]}\n  - {id: d, kind: decision, branches: [{when: ok, next: done}], otherwise: {next: done}}\n  - {id: done, kind: end, outcome: done}\n";

async fn input_is_what_the_definition_declares(e: Engine, _clock: Arc<VirtualClock>) {
    e.deploy("form.yaml", FORM).await.expect("deploys");
    // null is no value: a required field sent as null is refused, naming it.
    let err = e
        .start("form", data(json!({"category": null})), None)
        .await
        .expect_err("null refused");
    assert!(err.to_string().contains("`category`"), "{err}");
    assert!(matches!(err, EngineError::Command(CommandError::BadData(_))), "{err:?}");
    for bad in [
        json!({"category": "fire"}),
        json!({"category": 3}),
        json!({"colour": "red", "category": "roads"}),
    ] {
        assert!(
            e.start("form", data(bad.clone()), None).await.is_err(),
            "{bad} accepted"
        );
    }
    // The engine owns the tracking code: no client writes it.
    let err = e
        .start(
            "form",
            data(json!({"category": "roads", "tracking_code": "AAAAAAAAAA"})),
            None,
        )
        .await
        .expect_err("engine-owned");
    assert!(err.to_string().contains("`tracking_code`"), "{err}");
    let s = e
        .start("form", data(json!({"category": "roads"})), None)
        .await
        .expect("starts");
    let st = e.instance(s.case).await.expect("state");
    assert_eq!(st.data.get("tracking_code"), Some(&json!(s.tracking_code)));
    let task = st.tasks[0].id;
    let before = e.history(s.case).await.expect("h").len();
    for bad in [json!({"ok": null}), json!({"tracking_code": "X"}), json!({"ok": "yes"})] {
        let r = e.complete(s.case, task, None, data(bad.clone())).await;
        assert!(r.is_err(), "{bad} accepted");
    }
    assert_eq!(
        e.history(s.case).await.expect("h").len(),
        before,
        "a refused command changed the case"
    );
    e.complete(s.case, task, None, data(json!({"ok": true})))
        .await
        .expect("completes");
    assert_eq!(e.instance(s.case).await.expect("state").status, Status::Completed);
}

#[test]
fn a_small_file_that_expands_to_megabytes_is_refused() {
    // 100 KB of text aliased a thousand times: 100 MB expanded.
    let big = "ب".repeat(50_000);
    let mut text = format!("id: x\nversion: 1\ntitle: &t \"{big}\"\nsteps:\n  - {{id: start, kind: start}}\n");
    for i in 0..1_000 {
        text += &format!("  - {{id: s{i}, title: *t, mode: manual}}\n");
    }
    text += "  - {id: done, kind: end, outcome: done}\n";
    assert!(text.len() < 200_000, "{}", text.len());
    let r = ravand_engine::validate::validate_source(
        SourceFile::new("bomb.yaml", text.as_str()),
        &CompileContext::default(),
        &Limits::default(),
    );
    assert!(r.process.is_none(), "a 100 MB definition was accepted");
    assert!(
        r.diagnostics.iter().any(|d| d.code == "limit"),
        "{:?}",
        r.diagnostics.iter().map(|d| (&d.code, &d.message)).collect::<Vec<_>>()
    );
}

fn clerk(user: &str, processes: &[&str], roles: &[&str]) -> Actor {
    Actor {
        user: Some(user.into()),
        grants: Grants::Scoped(Scope {
            processes: processes.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>(),
            roles: roles.iter().map(|s| s.to_string()).collect(),
        }),
        staff: true,
    }
}

async fn grants_are_checked_inside_the_unit_of_work(e: Engine, _clock: Arc<VirtualClock>) {
    e.deploy("form.yaml", FORM).await.expect("deploys");
    e.deploy("child.yaml", CHILD).await.expect("deploys");
    let mine = clerk("c1", &["form"], &["form/clerk"]);
    let other = clerk("c2", &["child"], &["child/clerk"]);
    let s = mine.clone();
    let case = e
        .start_as(&s, "form", data(json!({"category": "roads"})))
        .await
        .expect("starts")
        .case;
    // A clerk of another process: refused to start, read, work or message.
    assert!(matches!(
        e.start_as(&other, "form", data(json!({"category": "roads"}))).await,
        Err(EngineError::Forbidden(_))
    ));
    assert!(matches!(
        e.status_as(&other, case).await,
        Err(EngineError::Forbidden(_))
    ));
    assert!(matches!(
        e.history_as(&other, case).await,
        Err(EngineError::Forbidden(_))
    ));
    let task = e.status_as(&mine, case).await.expect("reads").tasks[0].task;
    let complete = Command::Complete {
        task,
        by: Some("c2".into()),
        outputs: data(json!({"ok": true})),
    };
    assert!(matches!(
        e.command_as(&other, case, complete.clone()).await,
        Err(EngineError::Forbidden(_))
    ));
    assert!(e.open_tasks_as(&other).await.expect("list").is_empty());
    assert_eq!(e.open_tasks_as(&mine).await.expect("list").len(), 1);
    // A role of the same name in another process grants nothing here.
    let lookalike = clerk("c3", &["form"], &["child/clerk"]);
    assert!(matches!(
        e.command_as(&lookalike, case, complete.clone()).await,
        Err(EngineError::Forbidden(_))
    ));
    // Suspending is for administrators.
    assert!(matches!(
        e.command_as(&mine, case, Command::Suspend { by: None }).await,
        Err(EngineError::Forbidden(_))
    ));
    e.command_as(&mine, case, complete)
        .await
        .expect("the granted clerk completes");
    assert_eq!(e.instance(case).await.expect("state").status, Status::Completed);
}

async fn every_staff_read_of_a_restricted_case_is_in_its_audit_trail(e: Engine, clock: Arc<VirtualClock>) {
    let restricted = FORM.replace("title: فرم\n", "title: مکاتبه طبقه‌بندی‌شده\nrestricted: true\n");
    e.deploy("form.yaml", &restricted).await.expect("deploys");
    let mine = clerk("c1", &["form"], &["form/clerk"]);
    let case = e
        .start_as(&mine, "form", data(json!({"category": "water"})))
        .await
        .expect("starts")
        .case;
    e.status_as(&mine, case).await.expect("reads");
    clock.advance(60);
    e.history_as(&mine, case).await.expect("reads");
    let auditor = Actor {
        user: Some("auditor-1".into()),
        grants: Grants::ReadAll,
        staff: true,
    };
    e.status_as(&auditor, case).await.expect("reads");
    // The engine's own reads are not staff reads.
    e.status(case).await.expect("reads");
    let trail = e.audit(case).await.expect("audit");
    let who: Vec<(&str, &str)> = trail.iter().map(|a| (a.who.as_str(), a.what.as_str())).collect();
    assert_eq!(
        who,
        vec![
            ("c1", "read the case"),
            ("c1", "read the history"),
            ("auditor-1", "read the case")
        ]
    );
    assert_eq!(trail[1].at, T0.plus_seconds(60));
    // A process that is not restricted keeps no trail.
    e.deploy("child.yaml", CHILD).await.expect("deploys");
    let c = e.start("child", Data::new(), None).await.expect("starts").case;
    e.status_as(&auditor, c).await.expect("reads");
    assert!(e.audit(c).await.expect("audit").is_empty());
}

async fn the_sender_of_a_message_is_recorded_and_only_granted_cases_take_it(e: Engine, _clock: Arc<VirtualClock>) {
    let text = "id: inbox\nversion: 1\ntitle: صندوق\ndata:\n  - {name: tracking_code, type: string}\nsteps:\n  - {id: start, kind: start}\n  - {id: wait, kind: receive, title: پاسخ, message: reply, correlation: tracking_code}\n  - {id: done, kind: end, outcome: done}\n";
    e.deploy("inbox.yaml", text).await.expect("deploys");
    let s = e.start("inbox", Data::new(), None).await.expect("starts");
    let stranger = clerk("x", &["form"], &[]);
    assert!(matches!(
        e.message_as(&stranger, "reply", Some(&s.tracking_code), Data::new())
            .await,
        Err(EngineError::NotCorrelated(_))
    ));
    let sender = clerk("registry-adapter", &["inbox"], &[]);
    let case = e
        .message_as(&sender, "reply", Some(&s.tracking_code), Data::new())
        .await
        .expect("correlates");
    assert_eq!(case, s.case);
    let h = e.history(case).await.expect("h");
    assert!(h
        .iter()
        .any(|ev| matches!(&ev.kind, EventKind::MessageReceived { by: Some(b), .. } if b == "registry-adapter")));
}

on_both!(
    "trust";
    a_child_that_cannot_start_is_an_incident_resolved_by_deploying_and_retrying,
    depth_counts_nesting_not_returns,
    a_suspended_parent_keeps_its_childs_completion_until_it_resumes,
    cancelling_a_parent_or_timing_out_its_call_cancels_the_child_subtree,
    a_child_cancelled_on_its_own_stops_its_parent_in_an_incident,
    input_is_what_the_definition_declares,
    grants_are_checked_inside_the_unit_of_work,
    every_staff_read_of_a_restricted_case_is_in_its_audit_trail,
    the_sender_of_a_message_is_recorded_and_only_granted_cases_take_it,
    a_reassignment_a_moment_ago_decides_who_may_complete,
);
