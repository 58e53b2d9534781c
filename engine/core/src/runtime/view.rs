//! Reading a case: its stage, open tasks, and history lines for people.

use serde::Serialize;

use super::*;
use crate::model::{Process, RoleIx, StepIx};
use crate::time::WorkCalendar;

/// An open task, as a worklist shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TaskView {
    /// The task id.
    pub task: TaskId,
    /// Its step's id.
    pub step: String,
    /// Its step's title.
    pub title: String,
    /// Whose list it is on.
    pub role: Option<String>,
    /// Who claimed it.
    pub assignee: Option<String>,
    /// When it was opened.
    pub created_at: Timestamp,
    /// When it is due.
    pub due_at: Option<Timestamp>,
    /// The due instant in Solar Hijri and Gregorian, in the calendar's zone.
    pub due: Option<String>,
    /// Whether it is overdue.
    pub overdue: bool,
    /// For one instance of a task with multiple instances: its item (for a
    /// count, its number from 1). Left out for every other task, so their
    /// answers read as they always did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<serde_json::Value>,
}

/// Where a case stands: "which stage, since when, who holds it".
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CaseView {
    /// The process id.
    pub process: String,
    /// Its version.
    pub version: u32,
    /// Where it stands.
    pub status: Status,
    /// How it ended.
    pub outcome: Option<String>,
    /// The steps where the case is now, with their titles.
    pub stage: Vec<(String, String)>,
    /// Open tasks.
    pub tasks: Vec<TaskView>,
    /// The case deadline, in both calendars.
    pub case_due: Option<String>,
    /// When the next timer fires.
    pub next_timer: Option<Timestamp>,
    /// Open incidents, as text.
    pub incidents: Vec<String>,
    /// The case data.
    pub data: Data,
}

impl CaseView {
    /// The view of case state `st` of process `p`, its dates shown on `cal`.
    pub fn of(p: &Process, cal: &WorkCalendar, st: &Instance) -> CaseView {
        let mut stage: Vec<(String, String)> = Vec::new();
        for t in &st.tokens {
            let s = p.step(t.step);
            if !stage.iter().any(|(id, _)| *id == s.id) {
                stage.push((s.id.clone(), s.title.clone()));
            }
        }
        let tasks = st
            .tasks
            .iter()
            .map(|k| {
                let s = p.step(k.step);
                TaskView {
                    task: k.id,
                    step: s.id.clone(),
                    title: s.title.clone(),
                    role: k.role.map(|r| p.role(r).id.clone()),
                    assignee: k.assignee.clone(),
                    created_at: k.created_at,
                    due_at: k.due_at,
                    due: k.due_at.map(|d| cal.show(d)),
                    overdue: k.overdue,
                    item: st.item_of(k).cloned(),
                }
            })
            .collect();
        CaseView {
            process: st.process.clone(),
            version: st.version,
            status: st.status,
            outcome: st.outcome.clone(),
            stage,
            tasks,
            case_due: st.case_due.map(|d| cal.show(d)),
            next_timer: st.next_due(),
            incidents: st.incidents.values().cloned().collect(),
            data: st.data.clone(),
        }
    }
}

fn step_name(p: &Process, s: StepIx) -> String {
    p.steps
        .get(s.ix())
        .map_or_else(|| format!("#{s}"), |st| format!("{} ({})", st.id, st.title))
}

fn role_name(p: &Process, r: Option<RoleIx>) -> String {
    r.and_then(|r| p.roles.get(r.ix()))
        .map_or_else(|| "-".into(), |r| r.id.clone())
}

/// One history event as a line for people; `None` for bookkeeping events
/// (token moves, timer plumbing) that auditors do not need.
pub fn describe(p: &Process, cal: &WorkCalendar, e: &Event) -> Option<String> {
    let when = cal.show(e.at);
    let what = match &e.kind {
        EventKind::Started { data, by, .. } => format!(
            "case started{} with {}",
            by.as_ref().map(|b| format!(" by {b}")).unwrap_or_default(),
            serde_json::to_string(data).unwrap_or_default()
        ),
        EventKind::StepCompleted { step, .. } if p.steps.get(step.ix()).is_some_and(|s| s.counts()) => {
            format!("done: {}", step_name(p, *step))
        }
        EventKind::Decided { step, taken } => {
            let to: Vec<String> = taken
                .iter()
                .filter_map(|e| p.edges.get(e.ix()))
                .map(|e| p.step(e.to).id.clone())
                .collect();
            format!("decided at {}: {}", step_name(p, *step), to.join(", "))
        }
        EventKind::DataSet { values, by } => format!(
            "data set{}: {}",
            by.as_ref().map(|b| format!(" by {b}")).unwrap_or_default(),
            serde_json::to_string(values).unwrap_or_default()
        ),
        EventKind::TaskCreated {
            task,
            step,
            role,
            instance,
            ..
        } => format!(
            "task {task} opened: {}{} for {}",
            step_name(p, *step),
            instance.map(|i| format!(", instance {}", i + 1)).unwrap_or_default(),
            role_name(p, *role)
        ),
        EventKind::InstancesPlanned { step, items, .. } => {
            format!("{} opens {} instances", step_name(p, *step), items.len())
        }
        EventKind::InstancesAdded { items, by, .. } => format!(
            "{} instances added{}",
            items.len(),
            by.as_ref().map(|b| format!(" by {b}")).unwrap_or_default()
        ),
        EventKind::TaskClaimed { task, user } => format!("task {task} claimed by {user}"),
        EventKind::TaskCompleted { task, by } => format!(
            "task {task} completed{}",
            by.as_ref().map(|b| format!(" by {b}")).unwrap_or_default()
        ),
        EventKind::TaskCancelled { task } => format!("task {task} cancelled"),
        EventKind::TaskReassigned { task, role } => format!("task {task} reassigned to {}", role_name(p, Some(*role))),
        EventKind::TaskOverdue { task } => format!("task {task} is overdue"),
        EventKind::CaseOverdue => "the case is overdue".into(),
        EventKind::CaseDue { due } => format!("the case is due {}", cal.show(*due)),
        EventKind::Escalated { scope, action, to, n } => {
            let whose = match scope {
                Scope::Case => "case".to_owned(),
                Scope::Task { task } => format!("task {task}"),
            };
            let to = to.map(|r| format!(" to {}", role_name(p, Some(r)))).unwrap_or_default();
            format!("{} #{n} on {whose}{to}", format!("{action:?}").to_lowercase())
        }
        EventKind::SubscriptionOpened { message, key, .. } => format!(
            "waiting for message `{message}`{}",
            key.as_ref().map(|k| format!(" with key {k}")).unwrap_or_default()
        ),
        EventKind::MessageReceived { message, by, .. } => format!(
            "message `{message}` received{}",
            by.as_ref().map(|b| format!(" from {b}")).unwrap_or_default()
        ),
        EventKind::ChildHeld { .. } => "called case finished while this case is suspended; kept for the resume".into(),
        EventKind::ChildWithdrawn { .. } => "called case withdrawn; it is cancelled".into(),
        EventKind::ChildRequested { step, process, .. } => format!("{} calls process `{process}`", step_name(p, *step)),
        EventKind::ChildFinished { outcome, .. } => {
            format!("called case finished: {}", outcome.as_deref().unwrap_or("-"))
        }
        EventKind::Incident { step, message, .. } => format!("INCIDENT at {}: {message}", step_name(p, *step)),
        EventKind::IncidentResolved { by, .. } => format!(
            "incident resolved{}",
            by.as_ref().map(|b| format!(" by {b}")).unwrap_or_default()
        ),
        EventKind::Suspended { .. } => "case suspended; clocks stopped".into(),
        EventKind::Resumed { .. } => "case resumed; clocks restarted".into(),
        EventKind::TimersPaused {
            reason: Pauses::CITIZEN,
            ..
        } => "waiting on the citizen; deadline clock stopped".into(),
        EventKind::TimersResumed {
            reason: Pauses::CITIZEN,
            ..
        } => "back from the citizen; deadline clock running".into(),
        EventKind::Completed { outcome } => format!("case completed: {}", outcome.as_deref().unwrap_or("-")),
        EventKind::Terminated { step, outcome } => format!(
            "case terminated at {}: {}",
            step_name(p, *step),
            outcome.as_deref().unwrap_or("-")
        ),
        EventKind::Cancelled { reason, .. } => format!(
            "case cancelled{}",
            reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default()
        ),
        _ => return None,
    };
    Some(format!("{when}  {what}"))
}
