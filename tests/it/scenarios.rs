//! Scenario tests: the municipal processes run through the real engine on a
//! virtual clock, with instants worked out by hand on the calendar.

use std::sync::Arc;

use ravand_engine::engine::{CaseId, Engine};
use ravand_engine::runtime::{Data, EventKind, Scope, Status};
use ravand_engine::time::{Clock, Timestamp, VirtualClock, WorkCalendar};
use serde_json::json;

use crate::helpers::root;

pub struct Harness {
    pub engine: Engine,
    pub clock: Arc<VirtualClock>,
    pub cal: WorkCalendar,
}

impl Harness {
    /// An engine with the repository's calendars and the given definitions,
    /// its clock at `start` (local time on `calendar`).
    pub async fn new(files: &[&str], calendar: &str, start: &str) -> Harness {
        let clock = Arc::new(VirtualClock::new(Timestamp(0)));
        let engine = Engine::in_memory(clock.clone(), 7).await.expect("engine");
        Harness::with(engine, clock, files, calendar, start).await
    }

    /// The same on an engine of the caller's (e.g. on a database file).
    pub async fn with(
        engine: Engine,
        clock: Arc<VirtualClock>,
        files: &[&str],
        calendar: &str,
        start: &str,
    ) -> Harness {
        engine
            .add_calendars_from(&root().join("definitions/calendars"))
            .await
            .expect("calendars");
        for f in files {
            let path = root().join("definitions").join(f);
            let text = std::fs::read_to_string(&path).expect("definition");
            engine.deploy(f, &text).await.expect("deploys");
        }
        let text =
            std::fs::read_to_string(root().join(format!("definitions/calendars/{calendar}.yaml"))).expect("calendar");
        let def = ravand_engine::definition::parse_calendar(
            &ravand_engine::definition::SourceFile::new(calendar, text),
            &Default::default(),
        )
        .expect("parses");
        let cal = WorkCalendar::from_def(&def).expect("calendar");
        let h = Harness { engine, clock, cal };
        h.set(start);
        h
    }

    pub fn at(&self, local: &str) -> Timestamp {
        self.cal.parse_local(local).expect("date")
    }

    pub fn set(&self, local: &str) {
        self.clock.set(self.at(local));
    }

    pub fn local(&self, t: Timestamp) -> String {
        self.cal.local(t).format("%Y-%m-%d %H:%M").to_string()
    }

    /// Completes the one open task at `step`, with outputs.
    pub async fn complete(&self, case: CaseId, step: &str, outputs: serde_json::Value) {
        let view = self.engine.status(case).await.expect("case");
        let task = view.tasks.iter().find(|t| t.step == step).unwrap_or_else(|| {
            panic!(
                "no open task at `{step}`; open: {:?}",
                view.tasks.iter().map(|t| &t.step).collect::<Vec<_>>()
            )
        });
        let outputs: Data = serde_json::from_value(outputs).expect("object");
        self.engine
            .complete(case, task.task, Some("tester".into()), outputs)
            .await
            .unwrap_or_else(|e| panic!("completing `{step}`: {e}"));
    }

    /// The SMS gateway's worker: takes every job of topic `sms` and
    /// reports each sent (the steps that text the citizen wait for it).
    /// Returns how many were sent.
    pub async fn sms(&self) -> usize {
        let gateway = ravand_engine::engine::Actor::system(None);
        let jobs = self
            .engine
            .acquire_jobs_as(&gateway, "sms", "sms-gateway", 100, 60)
            .await
            .expect("acquires");
        for j in &jobs {
            self.engine
                .complete_job_as(&gateway, j.case, j.task, "sms-gateway", Data::new())
                .await
                .expect("sent");
        }
        jobs.len()
    }

    /// Advances the clock to `local` and fires what fell due.
    pub async fn wait_until(&self, local: &str) -> usize {
        let t = self.at(local);
        self.clock.set(t);
        self.engine.tick(t).await.expect("tick")
    }

    pub async fn events(&self, case: CaseId) -> Vec<ravand_engine::runtime::Event> {
        self.engine.history(case).await.expect("history")
    }
}

fn data(v: serde_json::Value) -> Data {
    serde_json::from_value(v).expect("object")
}

#[tokio::test]
async fn complaint_goes_overdue_reminds_escalates_and_is_reassigned() {
    // Isfahan: Saturday–Wednesday 07:00–14:00; Thursday and Friday off.
    let h = Harness::new(&["complaint-137.yaml"], "isfahan-municipal", "2026-05-02T08:00").await; // a Saturday
    let started = h
        .engine
        .start(
            "complaint-137",
            data(json!({"category": "roads"})),
            Some("operator".into()),
        )
        .await
        .expect("starts");
    assert_eq!(started.tracking_code.len(), 10);
    let case = started.case;
    h.complete(case, "register-request", json!({"category": "roads", "partner": false}))
        .await;
    h.set("2026-05-02T08:30");
    assert_eq!(h.sms().await, 1, "the tracking code is texted");
    h.complete(case, "classify", json!({"feasible": true, "needs_details": false}))
        .await;
    let view = h.engine.status(case).await.expect("status");
    let act = view
        .tasks
        .iter()
        .find(|t| t.step == "act-on-request")
        .expect("referred straight to the responsible officer");
    assert_eq!(act.role.as_deref(), Some("responsible-officer"));
    // Roads: 5 working days from Saturday 08:30: Sun, Mon, Tue, Wed, (Thu, Fri off), Sat.
    assert_eq!(h.local(act.due_at.expect("due")), "2026-05-09 08:30");
    assert_eq!(act.due.as_deref(), Some("1405-02-19 08:30 (2026-05-09)"));

    // Nothing before the due instant.
    assert_eq!(h.wait_until("2026-05-09T08:29").await, 0);
    // Then: due, reminders each working day (3 times), a warning after 2
    // working days, the file record after 4, reassignment after 5.
    h.wait_until("2026-05-16T09:00").await;
    let events = h.events(case).await;
    let escalations: Vec<(String, String)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Escalated {
                scope: Scope::Task { .. },
                action,
                n,
                ..
            } => Some((format!("{action:?} #{n}"), h.local(e.at))),
            _ => None,
        })
        .collect();
    // At one instant, rungs fire in the order they were scheduled.
    let expected = [
        ("Remind #1", "2026-05-09 08:30"),
        ("Remind #2", "2026-05-10 08:30"),
        ("Warn #1", "2026-05-11 08:30"),
        ("Remind #3", "2026-05-11 08:30"),
        ("Record #1", "2026-05-13 08:30"),
        ("Reassign #1", "2026-05-16 08:30"),
    ];
    let got: Vec<(&str, &str)> = escalations.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    assert_eq!(got, expected);
    assert!(events
        .iter()
        .any(|e| matches!(e.kind, EventKind::TaskOverdue { .. }) && h.local(e.at) == "2026-05-09 08:30"));
    let view = h.engine.status(case).await.expect("status");
    let act = view
        .tasks
        .iter()
        .find(|t| t.step == "act-on-request")
        .expect("still open");
    assert_eq!(act.role.as_deref(), Some("alternate-officer"), "reassigned");
    assert!(act.overdue);
    // The mayor's office is told after 7 working days: Monday 18 May.
    h.wait_until("2026-05-18T09:00").await;
    let notified = h.events(case).await.into_iter().find(|e| {
        matches!(
            e.kind,
            EventKind::Escalated {
                scope: Scope::Task { .. },
                action: ravand_engine::definition::EscalationAction::Notify,
                ..
            }
        )
    });
    assert_eq!(notified.map(|e| h.local(e.at)).as_deref(), Some("2026-05-18 08:30"));

    // Done, feedback: unsatisfied reopens; then satisfied closes.
    h.complete(case, "act-on-request", json!({})).await;
    h.complete(case, "report-action", json!({})).await;
    assert_eq!(h.sms().await, 1, "the citizen is told the work is done");
    h.complete(case, "feedback-call", json!({"satisfied": false})).await;
    h.complete(case, "reopen", json!({})).await;
    h.complete(case, "act-on-request", json!({})).await;
    h.complete(case, "report-action", json!({})).await;
    assert_eq!(h.sms().await, 1, "and told again");
    h.complete(case, "feedback-call", json!({"satisfied": true})).await;
    let view = h.engine.status(case).await.expect("status");
    assert_eq!(
        (view.status, view.outcome.as_deref()),
        (Status::Completed, Some("resolved"))
    );
    assert!(view.tasks.is_empty());
    assert!(
        h.engine.instance(case).await.expect("state").timers.is_empty(),
        "a finished case has no timers"
    );
}

#[tokio::test]
async fn complaint_case_clock_stops_while_waiting_on_the_citizen() {
    let h = Harness::new(&["complaint-137.yaml"], "isfahan-municipal", "2026-05-02T08:00").await;
    let case = h
        .engine
        .start("complaint-137", data(json!({"category": "waste"})), None)
        .await
        .expect("starts")
        .case;
    let due_before = h
        .engine
        .instance(case)
        .await
        .expect("state")
        .case_due
        .expect("case deadline");
    // 15 working days from Saturday 2 May 08:00.
    assert_eq!(h.local(due_before), "2026-05-23 08:00");
    h.complete(case, "register-request", json!({"category": "waste", "partner": true}))
        .await;
    assert_eq!(h.sms().await, 1, "the tracking code is texted");
    h.complete(case, "classify", json!({"feasible": true, "needs_details": true}))
        .await;
    h.complete(case, "ask-citizen-for-details", json!({})).await;
    // Now waiting on the citizen for two working days (Saturday → Monday).
    h.set("2026-05-04T08:00");
    let code = h.engine.instance(case).await.expect("state").data["tracking_code"]
        .as_str()
        .expect("code")
        .to_owned();
    h.engine
        .message("citizen-details", Some(&code), Data::new())
        .await
        .expect("correlates by tracking code");
    let due_after = h.engine.instance(case).await.expect("state").case_due.expect("due");
    // The clock stood still from Saturday 08:00 to Monday 08:00: 6 + 7 + 1
    // = 14 open hours, two working days; 23 May + 2 working days = 25 May.
    assert_eq!(h.local(due_after), "2026-05-25 08:00");
}

#[tokio::test]
async fn suspension_stops_the_clock_and_resumption_keeps_the_time_left() {
    let h = Harness::new(&["complaint-137.yaml"], "isfahan-municipal", "2026-05-02T08:00").await;
    let case = h
        .engine
        .start("complaint-137", data(json!({"category": "roads"})), None)
        .await
        .expect("starts")
        .case;
    h.complete(case, "register-request", json!({"category": "roads"})).await;
    assert_eq!(h.sms().await, 1, "the tracking code is texted");
    h.complete(case, "classify", json!({"feasible": true, "needs_details": false}))
        .await;
    // Due Saturday 9 May 08:00 (5 working days). Suspend Monday 4 May 08:00,
    // with 3 working days (Tue, Wed, Sat) left; resume Sunday 10 May 08:00.
    h.set("2026-05-04T08:00");
    h.engine
        .command(case, ravand_engine::runtime::Command::Suspend { by: None })
        .await
        .expect("suspends");
    assert_eq!(
        h.wait_until("2026-05-10T08:00").await,
        0,
        "nothing fires while suspended"
    );
    h.engine
        .command(case, ravand_engine::runtime::Command::Resume { by: None })
        .await
        .expect("resumes");
    let view = h.engine.status(case).await.expect("status");
    let act = view.tasks.iter().find(|t| t.step == "act-on-request").expect("open");
    // 3 working days of 7 hours from Sunday 08:00: Mon 08:00, Tue 08:00, Wed 08:00.
    assert_eq!(h.local(act.due_at.expect("due")), "2026-05-13 08:00");
}

#[tokio::test]
async fn mardom_salam_deadlines_count_from_the_meeting() {
    // The case starts a week before the meeting: Tuesday 6 January 2026, 19:00.
    let h = Harness::new(&["mardom-salam.yaml"], "isfahan-municipal", "2026-01-06T19:00").await;
    let case = h
        .engine
        .start("mardom-salam", Data::new(), None)
        .await
        .expect("starts")
        .case;
    h.set("2026-01-07T09:00");
    h.complete(case, "propose-mosque", json!({"mosque": "مسجد سید"})).await;
    h.complete(case, "approve-mosque", json!({})).await;
    h.complete(case, "announce-meeting", json!({})).await;
    h.complete(case, "report-budget-and-projects", json!({})).await;
    h.complete(case, "report-aid-to-mosques", json!({})).await;
    h.complete(case, "report-137-statistics", json!({})).await;
    h.complete(case, "list-district-problems", json!({})).await;
    // Everything is ready, but the meeting waits for its day.
    assert!(h.engine.status(case).await.expect("s").tasks.is_empty());
    h.wait_until("2026-01-13T19:00").await;
    let view = h.engine.status(case).await.expect("s");
    assert_eq!(
        view.tasks.iter().map(|t| t.step.as_str()).collect::<Vec<_>>(),
        vec!["hold-meeting"]
    );
    h.set("2026-01-13T21:00");
    h.complete(case, "hold-meeting", json!({})).await;
    h.complete(case, "collect-requests", json!({"requests_count": 40}))
        .await;
    h.set("2026-01-14T10:00");
    h.complete(case, "register-in-137", json!({"unassigned_requests": 0}))
        .await;
    assert_eq!(h.sms().await, 1, "the requesters are texted their codes");
    let due = |view: &ravand_engine::runtime::CaseView, step: &str| {
        view.tasks.iter().find(|t| t.step == step).and_then(|t| t.due.clone())
    };
    let view = h.engine.status(case).await.expect("s");
    // Within one week of the meeting (13 January 21:00, 23 Dey 1404).
    assert_eq!(
        due(&view, "working-group-session").as_deref(),
        Some("1404-10-30 21:00 (2026-01-20)")
    );
    h.complete(case, "working-group-session", json!({})).await;
    let view = h.engine.status(case).await.expect("s");
    assert_eq!(
        due(&view, "table-to-council").as_deref(),
        Some("1404-10-30 21:00 (2026-01-20)")
    );
    h.complete(case, "table-to-council", json!({})).await;
    h.complete(case, "units-act", json!({})).await;
    // Within one month: 23 Bahman 1404.
    let view = h.engine.status(case).await.expect("s");
    assert_eq!(
        due(&view, "progress-report").as_deref(),
        Some("1404-11-23 21:00 (2026-02-12)")
    );
    h.complete(case, "progress-report", json!({})).await;
    h.complete(case, "finish-actions", json!({})).await;
    // Within three months: 23 Farvardin 1405.
    let view = h.engine.status(case).await.expect("s");
    assert_eq!(
        due(&view, "present-results").as_deref(),
        Some("1405-01-23 21:00 (2026-04-12)")
    );
    h.complete(case, "present-results", json!({})).await;
    assert_eq!(
        h.engine.status(case).await.expect("s").outcome.as_deref(),
        Some("answered")
    );
}

async fn article100_to_defence(h: &Harness) -> CaseId {
    article100_served(h, "A100-1405-77", "2026-05-03T10:00").await
}

/// An Article 100 case whose notice is served at `served` (local time),
/// under file number `file_no`.
pub async fn article100_served(h: &Harness, file_no: &str, served: &str) -> CaseId {
    let case = h
        .engine
        .start("article-100", data(json!({"reported_by_citizen": false})), None)
        .await
        .expect("starts")
        .case;
    h.complete(case, "record-patrol-finding", json!({})).await;
    h.complete(case, "site-inspection", json!({"violation_confirmed": true}))
        .await;
    h.complete(case, "stop-work-order", json!({})).await;
    h.complete(case, "prepare-file", json!({})).await;
    h.complete(case, "send-to-commission", json!({})).await;
    h.complete(case, "register-at-secretariat", json!({"file_no": file_no}))
        .await;
    h.set(served);
    h.complete(case, "serve-notice", json!({})).await;
    case
}

#[tokio::test]
async fn article100_defence_window_closes_at_the_end_of_the_tenth_day() {
    // Served Sunday 13 Ordibehesht 1405 (3 May 2026) 10:00: the day of service
    // is not counted, so the tenth day is Wednesday 23 Ordibehesht (13 May),
    // and the window runs to the end of it.
    let h = Harness::new(&["article-100.yaml"], "tehran-municipal", "2026-05-02T09:00").await;
    let case = article100_to_defence(&h).await;
    assert_eq!(
        h.wait_until("2026-05-13T23:59").await,
        0,
        "the whole tenth day is inside the window"
    );
    assert!(
        h.engine.status(case).await.expect("s").tasks.is_empty(),
        "waiting for the defence"
    );
    h.wait_until("2026-05-14T00:00").await;
    let view = h.engine.status(case).await.expect("s");
    let q = view
        .tasks
        .iter()
        .find(|t| t.step == "queue-for-session")
        .expect("the case goes on without a defence");
    assert_eq!(h.local(q.created_at), "2026-05-14 00:00");
    // The window's closing is in the history.
    assert!(h
        .engine
        .history_lines(case)
        .await
        .expect("h")
        .iter()
        .any(|l| l.contains("defence-window-closed")));
}

#[tokio::test]
async fn article100_a_defence_on_the_tenth_day_after_the_hour_of_service_is_in_time() {
    let h = Harness::new(&["article-100.yaml"], "tehran-municipal", "2026-05-02T09:00").await;
    let case = article100_to_defence(&h).await;
    // Served at 10:00; the defence comes on the tenth day at 11:00.
    assert_eq!(h.wait_until("2026-05-13T11:00").await, 0);
    h.engine
        .message("written-defence", Some("A100-1405-77"), Data::new())
        .await
        .expect("the defence is in time");
    let lines = h.engine.history_lines(case).await.expect("h");
    assert!(!lines.iter().any(|l| l.contains("defence-window-closed")), "{lines:#?}");
}

#[tokio::test]
async fn article100_a_window_ending_in_nowruz_moves_to_the_first_working_day() {
    // Served Thursday 21 Esfand 1404 (12 March 2026) 10:00. Ten days as the
    // law counts them end on 2 Farvardin 1405, a Nowruz holiday; offices
    // reopen on Wednesday 5 Farvardin, and the window runs to its end.
    let h = Harness::new(&["article-100.yaml"], "tehran-municipal", "2026-03-07T09:00").await;
    let case = article100_served(&h, "A100-1404-9", "2026-03-12T10:00").await;
    let due = h
        .engine
        .instance(case)
        .await
        .expect("s")
        .timers
        .iter()
        .filter_map(|t| t.due)
        .max()
        .expect("the window's timer");
    assert_eq!(h.local(due), "2026-03-26 00:00", "the end of 5 Farvardin 1405");
    assert_eq!(
        h.wait_until("2026-03-25T13:30").await,
        0,
        "on 5 Farvardin the window is still open"
    );
    h.engine
        .message("written-defence", Some("A100-1404-9"), Data::new())
        .await
        .expect("a defence on the first working day after Nowruz is in time");
}

#[tokio::test]
async fn article100_defence_in_time_and_demolition_by_the_municipality() {
    let h = Harness::new(&["article-100.yaml"], "tehran-municipal", "2026-05-02T09:00").await;
    let case = article100_to_defence(&h).await;
    h.set("2026-05-08T12:00");
    h.engine
        .message("written-defence", Some("A100-1405-77"), Data::new())
        .await
        .expect("correlates on the file number");
    assert!(
        h.engine
            .message("written-defence", Some("A100-1405-77"), Data::new())
            .await
            .is_err(),
        "a second defence finds no open window"
    );
    h.complete(case, "queue-for-session", json!({})).await;
    h.complete(case, "first-instance-hearing", json!({"ruling": "demolition"}))
        .await;
    h.complete(case, "notify-ruling", json!({})).await;
    // No objection within 10 days: the ruling becomes final.
    h.wait_until("2026-05-20T00:00").await;
    let view = h.engine.status(case).await.expect("s");
    assert!(
        view.tasks.iter().any(|t| t.step == "notify-final-ruling"),
        "{:?}",
        view.tasks
    );
    assert_eq!(
        h.engine.instance(case).await.expect("s").data["final_ruling"],
        json!("demolition"),
        "computed by rule"
    );
    h.complete(case, "notify-final-ruling", json!({})).await;
    h.complete(case, "demolition-deadline", json!({})).await;
    h.wait_until("2026-08-01T00:00").await;
    h.complete(case, "municipal-demolition", json!({})).await;
    h.complete(case, "bill-demolition-cost", json!({})).await;
    h.complete(case, "verify-demolition", json!({})).await;
    h.complete(case, "close-file", json!({})).await;
    assert_eq!(
        h.engine.status(case).await.expect("s").outcome.as_deref(),
        Some("enforced")
    );
}

/// An Article 100 case defended in time and ruled `ruling` at first
/// instance, the ruling notified on 10 May 2026: the owner's answer is open.
async fn article100_ruled(h: &Harness, file_no: &str, ruling: &str) -> CaseId {
    let case = article100_served(h, file_no, "2026-05-03T10:00").await;
    h.set("2026-05-08T12:00");
    h.engine
        .message("written-defence", Some(file_no), Data::new())
        .await
        .expect("the defence correlates");
    h.complete(case, "queue-for-session", json!({})).await;
    h.complete(case, "first-instance-hearing", json!({"ruling": ruling}))
        .await;
    h.set("2026-05-10T10:00");
    h.complete(case, "notify-ruling", json!({})).await;
    case
}

/// What the case waits for now: its subscriptions' messages, sorted, and
/// how many timers of a first-come choice are pending.
async fn waiting_for(h: &Harness, case: CaseId) -> (Vec<String>, usize) {
    let st = h.engine.instance(case).await.expect("state");
    let mut messages: Vec<String> = st.subscriptions.iter().map(|s| s.message.clone()).collect();
    messages.sort();
    let arms = st
        .timers
        .iter()
        .filter(|t| matches!(t.purpose, ravand_engine::runtime::Purpose::Arm { .. }))
        .count();
    (messages, arms)
}

#[tokio::test]
async fn article100_the_owners_payment_comes_first_and_withdraws_the_objection_and_the_window() {
    let h = Harness::new(&["article-100.yaml"], "tehran-municipal", "2026-05-02T09:00").await;
    let case = article100_ruled(&h, "A100-1405-80", "fine").await;
    assert_eq!(
        waiting_for(&h, case).await,
        (vec!["fine-paid".to_owned(), "objection".to_owned()], 1),
        "an objection, a payment and the window's end are awaited at once"
    );
    h.set("2026-05-12T09:00");
    h.engine
        .message("fine-paid", Some("A100-1405-80"), Data::new())
        .await
        .expect("the payment correlates on the file number");
    assert_eq!(waiting_for(&h, case).await, (vec![], 0), "the other two are withdrawn");
    assert!(
        h.engine
            .message("objection", Some("A100-1405-80"), Data::new())
            .await
            .is_err(),
        "an objection after the payment finds nothing waiting"
    );
    assert_eq!(
        h.engine.instance(case).await.expect("s").data["final_ruling"],
        json!("fine"),
        "the ruling accepted is the final one"
    );
    assert_eq!(h.wait_until("2026-06-30T00:00").await, 0, "the window's timer is gone");
    let view = h.engine.status(case).await.expect("s");
    assert_eq!(
        view.tasks.iter().map(|t| t.step.as_str()).collect::<Vec<_>>(),
        ["close-file"]
    );
    h.complete(case, "close-file", json!({})).await;
    assert_eq!(
        h.engine.status(case).await.expect("s").outcome.as_deref(),
        Some("enforced")
    );
    let lines = h.engine.history_lines(case).await.expect("h");
    assert!(!lines.iter().any(|l| l.contains("ruling-final")), "{lines:#?}");
    assert!(!lines.iter().any(|l| l.contains("register-appeal")), "{lines:#?}");
}

#[tokio::test]
async fn article100_an_objection_first_goes_to_the_appeal_commission() {
    let h = Harness::new(&["article-100.yaml"], "tehran-municipal", "2026-05-02T09:00").await;
    let case = article100_ruled(&h, "A100-1405-81", "demolition").await;
    // The tenth day after notice (the day of notice not counted) is 20 May.
    h.set("2026-05-20T16:00");
    h.engine
        .message("objection", Some("A100-1405-81"), Data::new())
        .await
        .expect("an objection on the last day is in time");
    assert_eq!(waiting_for(&h, case).await, (vec![], 0));
    assert!(h
        .engine
        .message("fine-paid", Some("A100-1405-81"), Data::new())
        .await
        .is_err());
    let view = h.engine.status(case).await.expect("s");
    assert_eq!(
        view.tasks.iter().map(|t| t.step.as_str()).collect::<Vec<_>>(),
        ["register-appeal"]
    );
}

/// Drives a case to its end: completes every open task and answers every
/// message, in this case and in the child cases it calls, with values from
/// `plan`, and lets time pass for waits.
pub async fn drive(h: &Harness, case: CaseId, plan: &serde_json::Value) -> Status {
    'outer: for _ in 0..5_000 {
        let st = h.engine.instance(case).await.expect("state");
        if st.status.is_finished() {
            return st.status;
        }
        for (id, process, status) in h.engine.cases().await.expect("cases") {
            if status != Status::Running {
                continue;
            }
            let p = h.engine.process(&process).await.expect("reads").expect("process");
            let st = h.engine.instance(id).await.expect("state");
            let pick = |sets: &[ravand_engine::model::VarIx]| -> Data {
                sets.iter()
                    .filter_map(|ix| {
                        let name = &p.var(*ix).name;
                        plan.get(name).map(|v| (name.clone(), v.clone()))
                    })
                    .collect()
            };
            if let Some(task) = st.tasks.first() {
                let outputs = pick(&p.step(task.step).sets);
                h.engine.complete(id, task.id, None, outputs).await.expect("completes");
                continue 'outer;
            }
            if let Some(sub) = st.subscriptions.first() {
                let tok = st.token(sub.token).expect("token");
                let values = pick(&p.step(tok.step).sets);
                h.engine
                    .message(&sub.message, sub.key.as_deref(), values)
                    .await
                    .expect("delivers");
                continue 'outer;
            }
        }
        match h.engine.next_due().await.expect("next") {
            Some(t) => {
                h.clock.set(t);
                h.engine.tick(t).await.expect("tick");
            }
            None => panic!("case {case} is stuck: {:?}", h.engine.status(case).await),
        }
    }
    panic!("case {case} did not finish")
}

#[tokio::test]
async fn permits_run_to_issued_and_rejected() {
    let issued = json!({"docs_complete": true, "deed_valid": true, "has_violation_record": false, "land_use_allowed": true,
        "needs_article5": false, "article5_approved": true, "in_historic_area": true, "floors": 14, "pays_in_installments": true,
        "plans_approved": true, "facade_approved": true});
    let mut rejected = issued.clone();
    rejected["deed_valid"] = json!(false);
    for file in ["building-permit-current.yaml", "building-permit-reformed.yaml"] {
        let h = Harness::new(
            &[file, "article5-commission.yaml"],
            "tehran-municipal",
            "2026-04-04T08:00",
        )
        .await;
        for (plan, outcome) in [(&issued, "issued"), (&rejected, "rejected")] {
            let case = h
                .engine
                .start("building-permit", Data::new(), None)
                .await
                .expect("starts")
                .case;
            assert_eq!(drive(&h, case, plan).await, Status::Completed, "{file}");
            let view = h.engine.status(case).await.expect("s");
            assert_eq!(view.outcome.as_deref(), Some(outcome), "{file}");
            let st = h.engine.instance(case).await.expect("s");
            st.check_invariants().expect("invariants");
            assert!(st.tokens.is_empty() && st.tasks.is_empty() && st.timers.is_empty());
        }
    }
}

#[tokio::test]
async fn reformed_permit_calls_the_article5_commission_as_a_child_case() {
    let h = Harness::new(
        &["building-permit-reformed.yaml", "article5-commission.yaml"],
        "tehran-municipal",
        "2026-04-04T08:00",
    )
    .await;
    let plan = json!({"docs_complete": true, "deed_valid": true, "has_violation_record": false, "land_use_allowed": true,
        "needs_article5": true, "article5_approved": true, "in_historic_area": false, "plans_approved": true});
    let case = h
        .engine
        .start("building-permit", Data::new(), None)
        .await
        .expect("starts")
        .case;
    assert_eq!(drive(&h, case, &plan).await, Status::Completed);
    assert_eq!(
        h.engine.status(case).await.expect("s").outcome.as_deref(),
        Some("issued")
    );
    let cases = h.engine.cases().await.expect("cases");
    let child = cases
        .iter()
        .find(|c| c.1 == "article5-commission")
        .expect("a child case ran");
    assert_eq!(child.2, Status::Completed);
    let _ = h.clock.now();
}

#[tokio::test]
async fn mardom_salam_starts_itself_every_second_tuesday() {
    // Deployed on Sunday 1 February 2026: the repeat R/2026-01-06T19:00/P14D
    // next falls on Tuesday 3 February 19:00, then every two weeks.
    let h = Harness::new(&[], "isfahan-municipal", "2026-02-01T09:00").await;
    let text = std::fs::read_to_string(root().join("definitions/mardom-salam.yaml")).expect("definition");
    h.engine.deploy("mardom-salam.yaml", &text).await.expect("deploys");
    let next = h
        .engine
        .next_start("mardom-salam")
        .await
        .expect("query")
        .expect("scheduled");
    assert_eq!(h.local(next), "2026-02-03 19:00");
    h.wait_until("2026-03-04T00:00").await;
    assert_eq!(
        h.engine.cases().await.expect("cases").len(),
        3,
        "3, 17 February and 3 March"
    );
    let mut firsts = Vec::new();
    for (id, _, _) in h.engine.cases().await.expect("cases") {
        firsts.push(h.local(h.engine.history(id).await.expect("h")[0].at));
    }
    assert_eq!(firsts, vec!["2026-02-03 19:00", "2026-02-17 19:00", "2026-03-03 19:00"]);
}

#[tokio::test]
async fn cron_schedules_start_cases_and_a_new_version_takes_over() {
    let h = Harness::new(&[], "tehran-municipal", "2026-05-02T06:00").await; // Saturday
    let v1 = "id: daily\nversion: 1\ntitle: روزانه\ncalendar: tehran-municipal\nsteps:\n  - {id: start, kind: start, schedule: {cron: '0 0 7 * * Sat,Sun'}}\n  - {id: done, kind: end, outcome: done}\n";
    h.engine.deploy("daily.yaml", v1).await.expect("deploys");
    assert_eq!(
        h.local(h.engine.next_start("daily").await.expect("query").expect("next")),
        "2026-05-02 07:00"
    );
    h.wait_until("2026-05-03T12:00").await;
    assert_eq!(
        h.engine.cases().await.expect("cases").len(),
        2,
        "Saturday and Sunday at 07:00 Tehran time"
    );
    let v2 = v1.replace("version: 1", "version: 2").replace("Sat,Sun", "Mon");
    h.engine.deploy("daily.yaml", &v2).await.expect("deploys");
    assert_eq!(
        h.local(h.engine.next_start("daily").await.expect("query").expect("next")),
        "2026-05-04 07:00"
    );
    h.wait_until("2026-05-09T12:00").await;
    assert_eq!(
        h.engine.cases().await.expect("cases").len(),
        3,
        "v1's weekend runs stopped; v2 ran on Monday"
    );
    // Deploying v1 again is a no-op; other content under v1 is refused.
    h.engine.deploy("daily.yaml", v1).await.expect("same content: no-op");
    assert!(h
        .engine
        .deploy("daily.yaml", &v1.replace("روزانه", "دیگر"))
        .await
        .is_err());
}

#[test]
fn a_case_deadline_from_a_step_starts_its_clock_when_that_step_completes() {
    // "15 working days once the file is complete": the case clock starts
    // at `file-complete`, not when the case starts.
    let text = "id: clock\nversion: 1\ntitle: ساعت\ndeadline: {due: 2 hours, from: file-complete}\nsteps:\n  - {id: start, kind: start}\n  - {id: file-complete, title: تکمیل پرونده, mode: manual}\n  - {id: decide, title: تصمیم, mode: manual}\n  - {id: done, kind: end, outcome: done}\n";
    let p = crate::helpers::check("clock.yaml", text).process.expect("valid");
    let cal = WorkCalendar::always();
    let t0 = Timestamp(1_800_000_000);
    let mut out = Vec::new();
    let mut st = ravand_engine::runtime::start(&p, &cal, Data::new(), None, t0, &mut out).expect("starts");
    assert_eq!(st.case_due, None, "no clock before the file is complete");
    assert!(!out.iter().any(|e| matches!(e.kind, EventKind::CaseDue { .. })));
    let complete = |st: &mut ravand_engine::runtime::Instance, at: Timestamp, out: &mut Vec<_>| {
        let task = st.tasks[0].id;
        ravand_engine::runtime::handle(
            &p,
            &cal,
            st,
            ravand_engine::runtime::Command::Complete {
                task,
                by: None,
                outputs: Data::new(),
            },
            at,
            out,
        )
        .expect("completes");
    };
    complete(&mut st, t0.plus_seconds(5 * 3600), &mut out);
    assert_eq!(
        st.case_due,
        Some(t0.plus_seconds(7 * 3600)),
        "2 hours after the file was complete"
    );
    let due = st.next_due().expect("the case clock runs");
    assert_eq!(due, t0.plus_seconds(7 * 3600));
    // A deadline counted from the start, as before: due 2 hours after it.
    let text2 = text.replace(", from: file-complete", "");
    let p2 = crate::helpers::check("clock2.yaml", &text2).process.expect("valid");
    let st2 = ravand_engine::runtime::start(&p2, &cal, Data::new(), None, t0, &mut Vec::new()).expect("starts");
    assert_eq!(st2.case_due, Some(t0.plus_seconds(2 * 3600)));
}
