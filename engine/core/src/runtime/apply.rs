//! The one function that changes an [`Instance`]: applying an event.

use super::*;

/// Applies one event to a case's state. Deterministic and total: an event
/// that refers to something already gone changes nothing.
pub fn apply(st: &mut Instance, e: &Event) {
    st.seq = e.seq + 1;
    match &e.kind {
        EventKind::Started {
            process, version, data, ..
        } => {
            st.process.clone_from(process);
            st.version = *version;
            st.data = data.clone();
            st.status = Status::Running;
            st.started_at = e.at;
        }
        EventKind::TokenCreated { token, step, edge } => {
            st.tokens.push(Token {
                id: *token,
                step: *step,
                edge: *edge,
                park: Park::Moving,
            });
            st.next_id = st.next_id.max(token.0 + 1);
        }
        EventKind::TokenMoved { token, step, edge } => {
            if let Some(t) = st.tokens.iter_mut().find(|t| t.id == *token) {
                t.step = *step;
                t.edge = Some(*edge);
                t.park = Park::Moving;
            }
        }
        EventKind::TokenParked { token, park } => {
            if let Some(t) = st.tokens.iter_mut().find(|t| t.id == *token) {
                t.park = *park;
            }
        }
        EventKind::TokenConsumed { token } => st.tokens.retain(|t| t.id != *token),
        EventKind::StepCompleted { anchor: false, .. } => {}
        EventKind::StepCompleted { step, anchor: true } => {
            st.completed.insert(*step, e.at);
        }
        EventKind::Decided { .. } | EventKind::Escalated { .. } | EventKind::TimerFired { .. } => {
            if let EventKind::TimerFired { timer } = &e.kind {
                st.timers.retain(|t| t.id != *timer);
            }
        }
        EventKind::DataSet { values, .. } => {
            for (k, v) in values {
                st.data.insert(k.clone(), v.clone());
            }
        }
        EventKind::TaskCreated {
            task,
            token,
            step,
            role,
            due,
            instance,
        } => {
            st.tasks.push(Task {
                id: *task,
                token: *token,
                step: *step,
                role: *role,
                assignee: None,
                created_at: e.at,
                due_at: *due,
                overdue: false,
                instance: *instance,
            });
            st.next_id = st.next_id.max(task.0 + 1);
            if let (Some(i), Some(m)) = (instance, st.many.iter_mut().find(|m| m.token == *token)) {
                m.opened = m.opened.max(i + 1);
            }
        }
        EventKind::InstancesPlanned { token, step, items } => {
            st.many.retain(|m| m.token != *token);
            st.many.push(Many {
                token: *token,
                step: *step,
                items: items.clone(),
                opened: 0,
                done: 0,
            });
        }
        EventKind::InstancesAdded { token, items, .. } => {
            if let Some(m) = st.many.iter_mut().find(|m| m.token == *token) {
                m.items.extend(items.iter().cloned());
            }
        }
        EventKind::InstanceDone { token, .. } => {
            if let Some(m) = st.many.iter_mut().find(|m| m.token == *token) {
                m.done += 1;
            }
        }
        EventKind::InstancesEnded { token } => st.many.retain(|m| m.token != *token),
        EventKind::TaskClaimed { task, user } => {
            if let Some(t) = st.tasks.iter_mut().find(|t| t.id == *task) {
                t.assignee = Some(user.clone());
            }
        }
        EventKind::TaskCompleted { task, .. } | EventKind::TaskCancelled { task } => st.tasks.retain(|t| t.id != *task),
        EventKind::TaskReassigned { task, role } => {
            if let Some(t) = st.tasks.iter_mut().find(|t| t.id == *task) {
                t.role = Some(*role);
                t.assignee = None;
            }
        }
        EventKind::TaskOverdue { task } => {
            if let Some(t) = st.tasks.iter_mut().find(|t| t.id == *task) {
                t.overdue = true;
            }
        }
        EventKind::CaseOverdue => {}
        EventKind::CaseDue { due } => st.case_due = Some(*due),
        EventKind::TimerScheduled {
            timer,
            due,
            basis,
            purpose,
            citizen_clock,
        } => {
            st.timers.push(Timer {
                id: *timer,
                due: Some(*due),
                remaining_s: 0,
                remaining_days: 0,
                basis: *basis,
                purpose: *purpose,
                citizen_clock: *citizen_clock,
                paused: Pauses::NONE,
            });
            st.next_id = st.next_id.max(timer.0 + 1);
        }
        EventKind::TimerCancelled { timer } => st.timers.retain(|t| t.id != *timer),
        EventKind::TimersPaused { reason, timers, days } => {
            for (id, left) in timers {
                if let Some(t) = st.timers.iter_mut().find(|t| t.id == *id) {
                    if t.paused.is_empty() {
                        t.remaining_s = *left;
                        t.remaining_days = days.iter().find(|d| d.0 == *id).map_or(0, |d| d.1);
                    }
                    t.paused = t.paused.with(*reason);
                    t.due = None;
                }
            }
        }
        EventKind::TimersResumed { reason, timers } => {
            for (id, due) in timers {
                if let Some(t) = st.timers.iter_mut().find(|t| t.id == *id) {
                    t.paused = t.paused.without(*reason);
                    t.due = if t.paused.is_empty() { *due } else { None };
                }
            }
            // Task due instants follow their `Due` timers.
            for t in &st.timers {
                if let (
                    Purpose::Due {
                        scope: Scope::Task { task },
                    },
                    Some(due),
                ) = (t.purpose, t.due)
                {
                    if let Some(k) = st.tasks.iter_mut().find(|k| k.id == task) {
                        k.due_at = Some(due);
                    }
                }
                if let (Purpose::Due { scope: Scope::Case }, Some(due)) = (t.purpose, t.due) {
                    st.case_due = Some(due);
                }
            }
        }
        EventKind::SubscriptionOpened {
            sub,
            token,
            message,
            key,
        } => {
            st.subscriptions.push(Subscription {
                id: *sub,
                token: *token,
                message: message.clone(),
                key: key.clone(),
            });
            st.next_id = st.next_id.max(sub.0 + 1);
        }
        EventKind::MessageReceived { sub, .. } | EventKind::SubscriptionClosed { sub } => {
            st.subscriptions.retain(|s| s.id != *sub)
        }
        EventKind::ChildRequested { .. } => {}
        EventKind::ChildFinished { token, .. } | EventKind::ChildWithdrawn { token } => {
            st.held.retain(|h| h.token != *token);
        }
        EventKind::ChildHeld { child } => st.held.push(child.clone()),
        EventKind::Incident { token, message, .. } => {
            st.incidents.insert(*token, message.clone());
        }
        EventKind::IncidentResolved { token, .. } => {
            st.incidents.remove(token);
        }
        EventKind::Suspended { .. } => st.status = Status::Suspended,
        EventKind::Resumed { .. } => st.status = Status::Running,
        EventKind::Completed { outcome } => {
            st.status = Status::Completed;
            st.outcome.clone_from(outcome);
            st.ended_at = Some(e.at);
        }
        EventKind::Terminated { outcome, .. } => {
            st.status = Status::Terminated;
            st.outcome.clone_from(outcome);
            st.ended_at = Some(e.at);
        }
        EventKind::Cancelled { .. } => {
            st.status = Status::Cancelled;
            st.ended_at = Some(e.at);
        }
    }
}
