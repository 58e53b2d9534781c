//! The dashboard's rows of a case, folded from the events a unit of work
//! adds (or, for a case stored before the rows existed, from its whole
//! history): tasks opened with their step, role and unit; claims,
//! reassignments, closings and notices; rungs fired; the case's end.
//!
//! Owns: [`work_log`]. Must not: read the store (the rows it folds to are
//! written by the store in the unit's transaction).

use std::collections::HashMap;

use crate::definition::EscalationAction;
use crate::model::{Process, RoleIx};
use crate::runtime::{self, Event, EventKind};
use crate::store::{LoggedTask, TaskChange, WorkLog};

/// The dashboard rows `events` (in history order) add to a case of `p`.
pub(crate) fn work_log(p: &Process, events: &[Event]) -> WorkLog {
    let mut log = WorkLog::default();
    // Tasks opened by these events: where in `log.opened`.
    let mut mine: HashMap<i64, usize> = HashMap::new();
    let role_of = |r: RoleIx| p.roles.get(r.ix()).map(|r| (r.id.clone(), r.unit.clone()));
    for e in events {
        let at = e.at.0;
        match &e.kind {
            EventKind::TaskCreated {
                task, step, role, due, ..
            } => {
                let task = i64::from(task.0);
                let (role, unit) = role.and_then(role_of).map_or((None, None), |(r, u)| (Some(r), u));
                mine.insert(task, log.opened.len());
                log.opened.push(LoggedTask {
                    task,
                    step: p.steps.get(step.ix()).map(|s| s.id.clone()).unwrap_or_default(),
                    role,
                    unit,
                    opened_at: at,
                    due: due.map(|d| d.0),
                    holder: None,
                    claimed_at: None,
                    outcome: None,
                    closed_at: None,
                    done_by: None,
                    notified_at: None,
                });
            }
            EventKind::TaskClaimed { task, user } => {
                let task = i64::from(task.0);
                match mine.get(&task).and_then(|&i| log.opened.get_mut(i)) {
                    Some(t) => {
                        t.holder = Some(user.clone());
                        t.claimed_at = Some(at);
                    }
                    None => log.changes.push(TaskChange::Claimed {
                        task,
                        user: user.clone(),
                        at,
                    }),
                }
            }
            EventKind::TaskReassigned { task, role } => {
                let task = i64::from(task.0);
                let Some((role, unit)) = role_of(*role) else { continue };
                match mine.get(&task).and_then(|&i| log.opened.get_mut(i)) {
                    Some(t) => {
                        t.role = Some(role);
                        t.unit = unit;
                        t.holder = None;
                        t.claimed_at = None;
                    }
                    None => log.changes.push(TaskChange::Reassigned { task, role, unit }),
                }
            }
            EventKind::TaskCompleted { task, by } => {
                close(&mut log, &mine, i64::from(task.0), "completed", at, by.clone())
            }
            EventKind::TaskCancelled { task } => close(&mut log, &mine, i64::from(task.0), "cancelled", at, None),
            EventKind::Escalated { scope, action, .. } => {
                log.rungs.push((e.seq, at, action.as_str()));
                if let (runtime::Scope::Task { task }, EscalationAction::Notify) = (scope, action) {
                    let task = i64::from(task.0);
                    match mine.get(&task).and_then(|&i| log.opened.get_mut(i)) {
                        Some(t) => {
                            t.notified_at.get_or_insert(at);
                        }
                        None => log.changes.push(TaskChange::Notified { task, at }),
                    }
                }
            }
            EventKind::Completed { .. } | EventKind::Terminated { .. } | EventKind::Cancelled { .. } => {
                log.ended = Some(at);
                for t in log.opened.iter_mut().filter(|t| t.outcome.is_none()) {
                    t.outcome = Some("ended");
                    t.closed_at = Some(at);
                }
            }
            _ => {}
        }
    }
    log
}

fn close(log: &mut WorkLog, mine: &HashMap<i64, usize>, task: i64, outcome: &'static str, at: i64, by: Option<String>) {
    match mine.get(&task).and_then(|&i| log.opened.get_mut(i)) {
        Some(t) if t.outcome.is_none() => {
            t.outcome = Some(outcome);
            t.closed_at = Some(at);
            t.done_by = by;
        }
        Some(_) => {}
        None => log.changes.push(TaskChange::Closed { task, outcome, at, by }),
    }
}
