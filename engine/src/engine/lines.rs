//! A case's history in Persian, for the console's timeline: the same
//! events [`runtime::describe`] writes a line for (and no others), with
//! step and role titles, tasks named by their step, who did it.
//!
//! Must not: write a line for an event `describe` leaves out, or show case
//! data (the case page shows it on its own, as the process grants it).

use std::collections::HashMap;

use super::*;
use crate::definition::EscalationAction;
use crate::model::{RoleIx, StepIx};
use crate::runtime::Pauses;

fn step(p: &Process, s: StepIx) -> String {
    p.steps
        .get(s.ix())
        .map_or_else(|| format!("#{s}"), |st| st.title.clone())
}

fn role(p: &Process, r: RoleIx) -> String {
    p.roles
        .get(r.ix())
        .map_or_else(|| format!("#{}", r.0), |r| r.title.clone())
}

fn by(who: &Option<String>) -> String {
    who.as_ref().map(|b| format!(" به دست {b}")).unwrap_or_default()
}

/// What event `e` of a case of `p` was, in Persian; `tasks` maps the case's
/// tasks to their steps (from its `task-created` events, in order).
pub(super) fn describe_fa(
    p: &Process,
    cal: &WorkCalendar,
    e: &Event,
    tasks: &HashMap<TaskId, StepIx>,
) -> Option<String> {
    let task = |t: &TaskId| tasks.get(t).map_or_else(|| format!("#{t}"), |s| step(p, *s));
    let rung = |a: &EscalationAction| match a {
        EscalationAction::Remind => "تذکر",
        EscalationAction::Warn => "اخطار",
        EscalationAction::Record => "درج در پروندهٔ کارمند",
        EscalationAction::Reassign => "واگذاری به دیگری",
        EscalationAction::Notify => "گزارش",
    };
    let line = match &e.kind {
        EventKind::Started { by: who, .. } => format!("پرونده آغاز شد{}", by(who)),
        EventKind::StepCompleted { step: s, .. } if p.steps.get(s.ix()).is_some_and(|s| s.counts()) => {
            format!("انجام شد: «{}»", step(p, *s))
        }
        EventKind::Decided { step: s, taken } => {
            let to: Vec<String> = taken
                .iter()
                .filter_map(|e| p.edges.get(e.ix()))
                .map(|e| format!("«{}»", step(p, e.to)))
                .collect();
            format!("تصمیم در «{}»: {}", step(p, *s), to.join("، "))
        }
        EventKind::DataSet { values, by: who } => {
            let names: Vec<String> = values
                .keys()
                .map(|k| {
                    p.variables
                        .iter()
                        .find(|v| &v.name == k)
                        .and_then(|v| v.title.clone())
                        .unwrap_or_else(|| k.clone())
                })
                .collect();
            format!("داده ثبت شد{}: {}", by(who), names.join("، "))
        }
        EventKind::TaskCreated { step: s, role: r, .. } => match r {
            Some(r) => format!("کار «{}» در کارتابل {} گذاشته شد", step(p, *s), role(p, *r)),
            None => format!("کار «{}» باز شد", step(p, *s)),
        },
        EventKind::InstancesPlanned { step: s, items, .. } => {
            format!("«{}» {} نمونه باز کرد", step(p, *s), items.len())
        }
        EventKind::InstancesAdded { items, by: who, .. } => format!("{} نمونه افزوده شد{}", items.len(), by(who)),
        EventKind::TaskClaimed { task: t, user } => format!("{user} کار «{}» را برداشت", task(t)),
        EventKind::TaskCompleted { task: t, by: who } => format!("کار «{}» انجام شد{}", task(t), by(who)),
        EventKind::TaskCancelled { task: t } => format!("کار «{}» پس گرفته شد", task(t)),
        EventKind::TaskReassigned { task: t, role: r } => {
            format!("کار «{}» به {} واگذار شد", task(t), role(p, *r))
        }
        EventKind::TaskOverdue { task: t } => format!("مهلت کار «{}» گذشت", task(t)),
        EventKind::CaseOverdue => "مهلت پرونده گذشت".into(),
        EventKind::CaseDue { due } => format!("مهلت پرونده: {}", cal.show(*due)),
        EventKind::Escalated { scope, action, to, n } => {
            let whose = match scope {
                runtime::Scope::Case => "پرونده".to_owned(),
                runtime::Scope::Task { task: t } => format!("کار «{}»", task(t)),
            };
            let to = to.map(|r| format!(" به {}", role(p, r))).unwrap_or_default();
            format!("{} (بار {n}) برای {whose}{to}", rung(action))
        }
        EventKind::SubscriptionOpened { message, .. } => format!("در انتظار پیام «{message}»"),
        EventKind::MessageReceived { message, by: who, .. } => format!(
            "پیام «{message}» رسید{}",
            who.as_ref().map(|b| format!(" از {b}")).unwrap_or_default()
        ),
        EventKind::ChildHeld { .. } => "پروندهٔ فراخوانده پایان یافت؛ تا ازسرگیری این پرونده نگه داشته شد".into(),
        EventKind::ChildWithdrawn { .. } => "پروندهٔ فراخوانده پس گرفته و لغو شد".into(),
        EventKind::ChildRequested { step: s, process, .. } => {
            format!("«{}» فرایند {process} را فراخواند", step(p, *s))
        }
        EventKind::ChildFinished { outcome, .. } => {
            format!("پروندهٔ فراخوانده پایان یافت: {}", outcome.as_deref().unwrap_or("-"))
        }
        EventKind::Incident { step: s, message, .. } => format!("خطا در «{}»: {message}", step(p, *s)),
        EventKind::IncidentResolved { by: who, .. } => format!("خطا برطرف شد{}", by(who)),
        EventKind::Suspended { .. } => "پرونده متوقف شد؛ ساعت‌های مهلت ایستادند".into(),
        EventKind::Resumed { .. } => "پرونده از سر گرفته شد؛ ساعت‌های مهلت به راه افتادند".into(),
        EventKind::TimersPaused {
            reason: Pauses::CITIZEN,
            ..
        } => "در انتظار شهروند؛ ساعت مهلت ایستاد".into(),
        EventKind::TimersResumed {
            reason: Pauses::CITIZEN,
            ..
        } => "پاسخ شهروند رسید؛ ساعت مهلت به راه افتاد".into(),
        EventKind::Completed { outcome } => format!("پرونده پایان یافت: {}", outcome.as_deref().unwrap_or("-")),
        EventKind::Terminated { step: s, outcome } => format!(
            "پرونده در «{}» پایان یافت: {}",
            step(p, *s),
            outcome.as_deref().unwrap_or("-")
        ),
        EventKind::Cancelled { reason, by: who } => format!(
            "پرونده لغو شد{}{}",
            by(who),
            reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default()
        ),
        _ => return None,
    };
    Some(line)
}
