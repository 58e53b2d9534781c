//! A task as the staff's cartable opens it: the case it belongs to, the
//! case data its step shows, the inputs its step sets (typed, with their
//! titles, choices and whether the case needs them), and the reminders and
//! warnings its deadline brought.
//!
//! Owns: [`TaskForm`] and [`Engine::task_form_as`]. Must not: decide who
//! may complete the task (the unit of work that completes it does), or
//! show the task to an actor not granted its process.

use super::*;
use crate::definition::{EscalationAction, VarType};
use crate::model::Spec;

/// A case variable on a task's form.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The variable's name (the input's name).
    pub name: String,
    /// Its Persian title, where the definition gives one.
    pub title: Option<String>,
    /// Its type.
    pub ty: VarType,
    /// For an enum: the values to choose from.
    pub values: Vec<String>,
    /// Whether the case must have it.
    pub required: bool,
    /// Its value in the case now.
    pub value: Option<serde_json::Value>,
}

/// A rung of the task's escalation ladder that has fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// When, in both calendars.
    pub at: String,
    /// What it did.
    pub action: EscalationAction,
    /// How many times this rung has fired (from 1).
    pub n: u32,
}

/// An open task with what its form needs.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskForm {
    /// The case.
    pub case: CaseId,
    /// The case's process.
    pub process: String,
    /// The process's Persian title.
    pub process_title: String,
    /// Its English title.
    pub process_title_en: Option<String>,
    /// The version the case runs.
    pub version: u32,
    /// The case's tracking code.
    pub tracking_code: String,
    /// The task.
    pub task: runtime::TaskView,
    /// The step's English title.
    pub title_en: Option<String>,
    /// When it was opened, in both calendars.
    pub opened: String,
    /// The title of the role whose list it is on.
    pub role_title: Option<String>,
    /// The case data the step shows, read-only.
    pub shows: Vec<Field>,
    /// The inputs the step sets.
    pub sets: Vec<Field>,
    /// Reminders, warnings and other rungs fired on the task's deadline.
    pub notices: Vec<Notice>,
    /// Whether the actor may claim and complete it.
    pub may_work: bool,
}

impl Engine {
    /// Task `task` of case `case` as `actor` opens it (who must be granted
    /// the case's process).
    pub async fn task_form_as(&self, actor: &Actor, case: CaseId, task: TaskId) -> Result<TaskForm, EngineError> {
        let (row, d) = self.read_as(actor, case, "open a task").await?;
        let (p, cal, st) = (&d.process, &d.calendar, &row.state);
        let view = runtime::CaseView::of(p, cal, st);
        let open = st
            .tasks
            .iter()
            .find(|t| t.id == task)
            .ok_or(EngineError::Command(CommandError::NoSuchTask(task)))?;
        let tv = view
            .tasks
            .into_iter()
            .find(|t| t.task == task)
            .ok_or(EngineError::Command(CommandError::NoSuchTask(task)))?;
        let step = p.step(open.step);
        // One instance of a task with multiple instances sees its own item.
        let item = step.each().and_then(|e| e.item).zip(st.item_of(open));
        let field = |ix: &crate::model::VarIx| {
            let v = p.var(*ix);
            let value = match item {
                Some((i, x)) if i == *ix => Some(x.clone()),
                _ => st.data.get(&v.name).cloned(),
            };
            Field {
                name: v.name.clone(),
                title: v.title.clone(),
                ty: v.ty,
                values: v.values.clone(),
                required: v.required,
                value,
            }
        };
        let shows = match &step.spec {
            Spec::Task { shows, .. } => shows.iter().map(field).collect(),
            _ => Vec::new(),
        };
        let events = self.store.history(case.0 as i64).await?;
        let notices = events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Escalated {
                    scope: runtime::Scope::Task { task: t },
                    action,
                    n,
                    ..
                } if *t == task => Some(Notice {
                    at: cal.show(e.at),
                    action: *action,
                    n: *n,
                }),
                _ => None,
            })
            .collect();
        let role = open.role.map(|r| p.role(r).id.clone());
        Ok(TaskForm {
            case,
            process: p.id.0.clone(),
            process_title: p.title.clone(),
            process_title_en: p.title_en.clone(),
            version: p.version,
            tracking_code: row.tracking_code.clone(),
            task: tv,
            title_en: step.title_en.clone(),
            opened: cal.show(open.created_at),
            role_title: open.role.map(|r| p.role(r).title.clone()),
            shows,
            sets: step.sets.iter().map(field).collect(),
            notices,
            may_work: actor.may_work(&p.id.0, role.as_deref()),
        })
    }
}

/// A moment of a case's history as its page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moment {
    /// When, in both calendars.
    pub at: String,
    /// What happened, and by whom where someone did it.
    pub what: String,
    /// The same in Persian, steps and roles by their titles.
    pub what_fa: String,
}

/// An open incident of a case: a token stopped by an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stuck {
    /// The token stopped (what `…/incidents/{token}/resolve` names).
    pub token: TokenId,
    /// The title of the step it stopped at.
    pub step: String,
    /// What went wrong.
    pub message: String,
}

/// A case as its page shows it to staff.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseRecord {
    /// Where it stands, its open tasks and data.
    pub view: runtime::CaseView,
    /// The process's Persian title.
    pub process_title: String,
    /// Its English title.
    pub process_title_en: Option<String>,
    /// The tracking code.
    pub tracking_code: String,
    /// Its history, oldest first.
    pub moments: Vec<Moment>,
    /// When its timers fall due, in both calendars, soonest first.
    pub timers: Vec<String>,
    /// Its open incidents.
    pub incidents: Vec<Stuck>,
    /// Whether the actor may suspend, resume and cancel it.
    pub may_manage: bool,
    /// The process graph in DOT, the steps the case is at filled with
    /// [`HERE`] and those it has done with [`DONE`].
    pub graph: String,
}

/// The fill of a step a case is at, on its graph.
pub const HERE: &str = "#ffd27a";
/// The fill of a step a case has done, on its graph.
pub const DONE: &str = "#cfe8d6";

impl Engine {
    /// Case `case` as `actor` (granted its process) sees it on its page.
    pub async fn case_record_as(&self, actor: &Actor, case: CaseId) -> Result<CaseRecord, EngineError> {
        let (row, d) = self.read_as(actor, case, "read the case").await?;
        let (p, cal, st) = (&d.process, &d.calendar, &row.state);
        let events = self.store.history(case.0 as i64).await?;
        let mut tasks = std::collections::HashMap::new();
        let moments = events
            .iter()
            .filter_map(|e| {
                if let EventKind::TaskCreated { task, step, .. } = &e.kind {
                    tasks.insert(*task, *step);
                }
                let at = cal.show(e.at);
                let line = runtime::describe(p, cal, e)?;
                Some(Moment {
                    what: line
                        .strip_prefix(at.as_str())
                        .map_or(line.as_str(), str::trim_start)
                        .to_owned(),
                    what_fa: super::lines::describe_fa(p, cal, e, &tasks).unwrap_or_default(),
                    at,
                })
            })
            .collect();
        let incidents = st
            .incidents
            .iter()
            .map(|(token, message)| Stuck {
                token: *token,
                step: st
                    .tokens
                    .iter()
                    .find(|t| t.id == *token)
                    .and_then(|t| p.steps.get(t.step.ix()))
                    .map_or_else(String::new, |s| s.title.clone()),
                message: message.clone(),
            })
            .collect();
        let here: Vec<_> = st.tokens.iter().map(|t| t.step).collect();
        let done: std::collections::HashSet<_> = events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::StepCompleted { step, .. } => Some(*step),
                _ => None,
            })
            .collect();
        let graph = crate::render::dot_marked(p, |s| {
            if here.contains(&s) {
                Some(HERE)
            } else if done.contains(&s) {
                Some(DONE)
            } else {
                None
            }
        });
        let mut due: Vec<Timestamp> = st.timers.iter().filter_map(|t| t.due).collect();
        due.sort();
        Ok(CaseRecord {
            view: runtime::CaseView::of(p, cal, st),
            process_title: p.title.clone(),
            process_title_en: p.title_en.clone(),
            tracking_code: row.tracking_code.clone(),
            moments,
            timers: due.into_iter().map(|t| cal.show(t)).collect(),
            incidents,
            may_manage: actor.may_manage(),
            graph,
        })
    }
}
