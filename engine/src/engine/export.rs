//! The event log of a process's real cases, for process-mining tools:
//! [`Engine::export_log_as`] turns the stored history into the
//! [`crate::eventlog::Log`] that `ravand export` and `GET
//! /processes/{id}/log` write as XES, CSV or OCEL 2.0.
//!
//! What an auditor mines is the work, not the engine's bookkeeping: tasks
//! (scheduled, assigned, reassigned, completed, withdrawn), the steps done
//! without a task (waits, receives, first-come choices, subprocesses,
//! service steps), deadlines passed, escalation rungs, timers that moved a
//! case (waits, timeouts, choice arms), messages, incidents, and the case's
//! own start, suspension, resumption, cancellation and end. Token moves,
//! gateways' decisions, timers set or withdrawn and subscriptions are left
//! out, as the case history's `describe` leaves them out.
//!
//! Owns: the mapping from history events to activities and the standard
//! lifecycle's transitions, and the case attributes. Must not: show a
//! process's events to anyone but an administrator or an auditor.

use std::collections::{BTreeMap, HashSet};

use super::dashboard::Resolved;
use super::*;
use crate::definition::EscalationAction;
use crate::eventlog::{Entry, Log, Trace, Transition, Value, ENGINE_RESOURCE};

/// Persian and English words for an escalation rung's action.
fn action_words(a: EscalationAction) -> (&'static str, &'static str) {
    match a {
        EscalationAction::Remind => ("تذکر", "reminder"),
        EscalationAction::Warn => ("اخطار", "warning"),
        EscalationAction::Record => ("درج در پرونده", "file record"),
        EscalationAction::Reassign => ("واگذاری به دیگری", "reassignment"),
        EscalationAction::Notify => ("اطلاع", "notice"),
    }
}

/// A case's attributes as its events so far say them.
#[derive(Default)]
struct Facts {
    status: &'static str,
    outcome: Option<String>,
    data: BTreeMap<String, serde_json::Value>,
}

impl Engine {
    /// The event log of `process`'s cases that were open during `[from,
    /// to)`: their events in the period, each case with its tracking code,
    /// process version, status and outcome at the period's end and the
    /// values of the variables its process declares `searchable`. For an
    /// administrator or an auditor.
    pub async fn export_log_as(
        &self,
        actor: &Actor,
        process: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Log, EngineError> {
        if !matches!(actor.grants, Grants::All | Grants::ReadAll) {
            return Err(EngineError::Forbidden(
                "the event log is for administrators and auditors".into(),
            ));
        }
        let events = self.resolved_events(process, from, to).await?;
        let mut log = Log {
            process: process.to_owned(),
            traces: Vec::new(),
        };
        let mut i = 0;
        while i < events.len() {
            let case = events[i].case;
            let end = events[i..]
                .iter()
                .position(|r| r.case != case)
                .map_or(events.len(), |n| i + n);
            if let Some(t) = trace(&events[i..end], from) {
                log.traces.push(t);
            }
            i = end;
        }
        Ok(log)
    }
}

/// One case's trace from its resolved events (`None` when none falls in
/// the period).
fn trace(events: &[Resolved], from: Timestamp) -> Option<Trace> {
    let first = events.first()?;
    let p = &first.dep.process;
    let mut facts = Facts {
        status: "running",
        ..Facts::default()
    };
    let mut quiet_timers: HashSet<runtime::TimerId> = HashSet::new();
    let mut task_done: Option<crate::model::StepIx> = None;
    let mut out = Vec::new();
    let searchable: HashSet<&str> = p
        .variables
        .iter()
        .filter(|v| v.searchable)
        .map(|v| v.name.as_str())
        .collect();
    for r in events {
        let e = &r.event;
        let s = r.step.and_then(|s| p.steps.get(s.ix()));
        let title = s.map_or(String::new(), |s| s.title.clone());
        let title_en = s.map(|s| s.title_en.clone().unwrap_or_else(|| s.id.clone()));
        let labelled = |fa: &str, en: &str| {
            (
                if title.is_empty() {
                    fa.to_owned()
                } else {
                    format!("{fa}: {title}")
                },
                Some(title_en.as_ref().map_or(en.to_owned(), |t| format!("{en}: {t}"))),
            )
        };
        let plain = |fa: &str, en: &str| (fa.to_owned(), Some(en.to_owned()));
        let own = || (title.clone(), title_en.clone());
        let ((activity, activity_en), transition) = match &e.kind {
            EventKind::Started { data, .. } => {
                facts.data.extend(data.iter().map(|(k, v)| (k.clone(), v.clone())));
                (plain("آغاز پرونده", "case started"), Transition::Complete)
            }
            EventKind::DataSet { values, .. } => {
                facts.data.extend(values.iter().map(|(k, v)| (k.clone(), v.clone())));
                continue;
            }
            EventKind::Completed { outcome } | EventKind::Terminated { outcome, .. } => {
                facts.status = if matches!(e.kind, EventKind::Completed { .. }) {
                    "completed"
                } else {
                    "terminated"
                };
                facts.outcome.clone_from(outcome);
                (plain("پایان پرونده", "case ended"), Transition::Complete)
            }
            EventKind::Cancelled { .. } => {
                facts.status = "cancelled";
                (plain("لغو پرونده", "case cancelled"), Transition::PiAbort)
            }
            EventKind::Suspended { .. } => {
                facts.status = "suspended";
                (plain("تعلیق پرونده", "case suspended"), Transition::Suspend)
            }
            EventKind::Resumed { .. } => {
                facts.status = "running";
                (plain("ادامهٔ پرونده", "case resumed"), Transition::Resume)
            }
            EventKind::TaskCreated { .. } => (own(), Transition::Schedule),
            EventKind::TaskClaimed { .. } => (own(), Transition::Assign),
            EventKind::TaskReassigned { .. } => (own(), Transition::Reassign),
            EventKind::TaskCompleted { .. } => {
                task_done = r.step;
                (own(), Transition::Complete)
            }
            EventKind::TaskCancelled { .. } => (own(), Transition::Withdraw),
            EventKind::StepCompleted { step, .. } => {
                let after_task = task_done.take() == Some(*step);
                if after_task || !s.is_some_and(crate::model::Step::counts) {
                    continue;
                }
                (own(), Transition::Complete)
            }
            EventKind::TaskOverdue { .. } => (labelled("مهلت گذشت", "overdue"), Transition::Complete),
            EventKind::CaseOverdue => (plain("مهلت پرونده گذشت", "case overdue"), Transition::Complete),
            EventKind::Escalated { action, .. } => {
                let (fa, en) = action_words(*action);
                (labelled(fa, en), Transition::Complete)
            }
            EventKind::TimerScheduled { timer, purpose, .. } => {
                if matches!(purpose, runtime::Purpose::Due { .. } | runtime::Purpose::Rung { .. }) {
                    quiet_timers.insert(*timer);
                }
                continue;
            }
            EventKind::TimerFired { timer } => {
                if quiet_timers.contains(timer) {
                    continue;
                }
                (labelled("زمان‌سنج", "timer"), Transition::Complete)
            }
            EventKind::MessageReceived { message, .. } => (
                (format!("پیام: {message}"), Some(format!("message: {message}"))),
                Transition::Complete,
            ),
            EventKind::Incident { .. } => (labelled("خطا", "incident"), Transition::Complete),
            EventKind::IncidentResolved { .. } => (plain("رفع خطا", "incident resolved"), Transition::Complete),
            _ => continue,
        };
        if e.at < from {
            continue;
        }
        let role = r.role.and_then(|x| p.roles.get(x.ix()));
        out.push(Entry {
            activity,
            activity_en,
            event: event_kind(e),
            step: s.map(|s| s.id.clone()),
            at: e.at,
            transition,
            resource: Some(r.person.clone().unwrap_or_else(|| ENGINE_RESOURCE.to_owned())),
            role: role.map(|x| x.id.clone()),
            group: role.and_then(|x| x.unit.clone()),
            task: r.task.map(|t| format!("{}/{t}", r.case)),
        });
    }
    if out.is_empty() {
        return None;
    }
    let mut attributes = BTreeMap::from([
        ("tracking_code".to_owned(), Value::Text(first.code.clone())),
        ("version".to_owned(), Value::Int(i64::from(first.dep.key.version))),
        ("status".to_owned(), Value::Text(facts.status.to_owned())),
    ]);
    if let Some(o) = facts.outcome {
        attributes.insert("outcome".into(), Value::Text(o));
    }
    for (k, v) in &facts.data {
        if searchable.contains(k.as_str()) {
            if let Some(v) = Value::from_json(v) {
                attributes.insert(k.clone(), v);
            }
        }
    }
    Some(Trace {
        case: first.case.to_string(),
        attributes,
        events: out,
    })
}
