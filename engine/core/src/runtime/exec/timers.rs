//! Timers: timeouts, deadlines and their escalation ladders, pausing and
//! resuming clocks (suspension, the citizen's clock), and what a timer does
//! when it fires.

use serde_json::Value;

use super::super::*;
use super::{Exec, MAX_REPEATS};
use crate::model::{Deadline, Due, StepIx};

impl<'a> Exec<'a> {
    pub(super) fn schedule_timeout(&mut self, token: TokenId, s: StepIx) {
        if let Some((d, _)) = self.p.step(s).timeout {
            let due = self.cal.add(self.now, &d);
            self.schedule(due, d.basis, Purpose::Timeout { token }, false);
        }
    }

    /// When a deadline falls due, counted from `from` (or `default`).
    pub(super) fn due_instant(&self, d: &Deadline, default: Timestamp) -> Timestamp {
        let base = d
            .from
            .and_then(|f| self.st.completed.get(&f).copied())
            .unwrap_or(default);
        let dur = match &d.due {
            Due::After(x) => *x,
            Due::ByData {
                variable,
                cases,
                otherwise,
            } => {
                let name = &self.p.var(*variable).name;
                let v = self.st.data.get(name).and_then(Value::as_str);
                cases
                    .iter()
                    .find(|(k, _)| Some(k.as_str()) == v)
                    .map_or(*otherwise, |c| c.1)
            }
        };
        self.cal.add(base, &dur)
    }

    pub(super) fn due_basis(d: &Deadline) -> crate::model::Basis {
        match &d.due {
            Due::After(x) => x.basis,
            Due::ByData { otherwise, .. } => otherwise.basis,
        }
    }

    pub(super) fn schedule_deadline(&mut self, scope: Scope, d: &Deadline, due: Timestamp) {
        self.schedule(due, Self::due_basis(d), Purpose::Due { scope }, d.pauses_for_citizen);
        for (i, r) in d.escalation.iter().enumerate() {
            let at = self.cal.add(due, &r.after);
            let purpose = Purpose::Rung {
                scope,
                rung: i as u16,
                n: 1,
            };
            // `after: 0` has no unit: the rung is counted as its deadline is,
            // so a pause moves both alike.
            let basis = if r.after.is_zero() {
                Self::due_basis(d)
            } else {
                r.after.basis
            };
            self.schedule(at, basis, purpose, d.pauses_for_citizen);
        }
    }

    pub(super) fn schedule(
        &mut self,
        due: Timestamp,
        basis: crate::model::Basis,
        purpose: Purpose,
        citizen_clock: bool,
    ) -> TimerId {
        let timer = TimerId(self.st.next_id);
        self.emit(EventKind::TimerScheduled {
            timer,
            due,
            basis,
            purpose,
            citizen_clock,
        });
        if citizen_clock && self.citizen_waiting() {
            self.pause(Pauses::CITIZEN, &[timer]);
        }
        timer
    }

    pub(super) fn cancel_timers(&mut self, which: impl Fn(Purpose) -> bool) {
        let ids: Vec<TimerId> = self
            .st
            .timers
            .iter()
            .filter(|t| which(t.purpose))
            .map(|t| t.id)
            .collect();
        for timer in ids {
            self.emit(EventKind::TimerCancelled { timer });
        }
    }

    /// Time left on a timer, in its basis: for working time, whole working
    /// days (each the same time of day on the next working day) and then
    /// opening seconds; for calendar time, seconds.
    pub(super) fn remaining(&self, t: &Timer) -> (u32, i64) {
        match t.due {
            None => (t.remaining_days, t.remaining_s),
            Some(due) => match t.basis {
                crate::model::Basis::Calendar => (0, (due.0 - self.now.0).max(0)),
                crate::model::Basis::Working => {
                    let mut days = 0u32;
                    let mut at = self.now;
                    // Bounded: a working day is at least a minute of opening.
                    while days < 100_000 {
                        let next = self.cal.add_working_days(self.now, days + 1);
                        if next > due || next <= at {
                            break;
                        }
                        days += 1;
                        at = next;
                    }
                    (days, self.cal.open_seconds_between(at, due))
                }
            },
        }
    }

    /// Pauses timers for `reason`, keeping what each has left.
    pub(super) fn pause(&mut self, reason: Pauses, ids: &[TimerId]) {
        let left: Vec<(TimerId, (u32, i64))> = ids
            .iter()
            .filter_map(|id| self.st.timer(*id).map(|t| (*id, self.remaining(t))))
            .collect();
        if left.is_empty() {
            return;
        }
        self.emit(EventKind::TimersPaused {
            reason,
            timers: left.iter().map(|(id, (_, s))| (*id, *s)).collect(),
            days: left
                .iter()
                .filter(|(_, (d, _))| *d > 0)
                .map(|(id, (d, _))| (*id, *d))
                .collect(),
        });
    }

    pub(super) fn resume_timers(&mut self, reason: Pauses) {
        let timers: Vec<(TimerId, Option<Timestamp>)> = self
            .st
            .timers
            .iter()
            .filter(|t| t.paused.contains(reason))
            .map(|t| {
                let due = (t.paused == reason).then(|| match t.basis {
                    crate::model::Basis::Calendar => self.now.plus_seconds(t.remaining_s),
                    crate::model::Basis::Working => self
                        .cal
                        .add_open_seconds(self.cal.add_working_days(self.now, t.remaining_days), t.remaining_s),
                });
                (t.id, due)
            })
            .collect();
        if !timers.is_empty() {
            self.emit(EventKind::TimersResumed { reason, timers });
        }
    }

    pub(super) fn citizen_waiting(&self) -> bool {
        self.st
            .tokens
            .iter()
            .any(|t| t.park != Park::Moving && self.p.step(t.step).waits_on_citizen)
    }

    /// Pauses or resumes the citizen clocks when the case starts or stops
    /// waiting on the citizen.
    pub(super) fn update_citizen_clock(&mut self) {
        if self.st.status != Status::Running {
            return;
        }
        if self.citizen_waiting() {
            let ids: Vec<TimerId> = self
                .st
                .timers
                .iter()
                .filter(|t| t.citizen_clock && !t.paused.contains(Pauses::CITIZEN))
                .map(|t| t.id)
                .collect();
            self.pause(Pauses::CITIZEN, &ids);
        } else {
            self.resume_timers(Pauses::CITIZEN);
        }
    }

    pub(super) fn deadline_of(&self, scope: Scope) -> Option<&'a Deadline> {
        match scope {
            Scope::Case => self.p.deadline.as_ref(),
            Scope::Task { task } => self.st.task(task).and_then(|t| self.p.step(t.step).deadline.as_ref()),
        }
    }

    pub(super) fn fire(&mut self, timer: TimerId) {
        let Some(t) = self.st.timer(timer).cloned() else { return };
        self.emit(EventKind::TimerFired { timer });
        match t.purpose {
            Purpose::Wait { token } => {
                // `handle` checked that the token is there.
                let Some(step) = self.st.token(token).map(|t| t.step) else {
                    return;
                };
                self.emit(EventKind::TokenParked {
                    token,
                    park: Park::Moving,
                });
                self.go_on(token, step);
            }
            Purpose::Arm { token, edge } => {
                // `handle` checked that the token waits at the choice.
                let Some(step) = self.st.token(token).map(|t| t.step) else {
                    return;
                };
                self.take_arm(token, step, edge);
            }
            Purpose::Timeout { token } => {
                let Some(tok) = self.st.token(token).cloned() else {
                    return;
                };
                let step = tok.step;
                match tok.park {
                    Park::Task { task } => {
                        self.emit(EventKind::TaskCancelled { task });
                        self.cancel_task_timers(task);
                    }
                    Park::Many => self.withdraw_instances(token),
                    Park::Message { sub } => self.emit(EventKind::SubscriptionClosed { sub }),
                    Park::Child => self.emit(EventKind::ChildWithdrawn { token }),
                    _ => {}
                }
                self.emit(EventKind::TokenParked {
                    token,
                    park: Park::Moving,
                });
                let edge = self.p.step(step).timeout.map(|(_, e)| e);
                match edge {
                    Some(e) => self.leave(token, e),
                    None => self.incident(token, step, "a timeout without a way out".into()),
                }
            }
            Purpose::Due { scope } => match scope {
                Scope::Task { task } => self.emit(EventKind::TaskOverdue { task }),
                Scope::Case => self.emit(EventKind::CaseOverdue),
            },
            Purpose::Rung { scope, rung, n } => {
                let Some(r) = self.deadline_of(scope).and_then(|d| d.escalation.get(rung as usize)) else {
                    return;
                };
                let citizen = self.deadline_of(scope).is_some_and(|d| d.pauses_for_citizen);
                self.emit(EventKind::Escalated {
                    scope,
                    action: r.action,
                    to: r.to,
                    n,
                });
                if let (crate::model::EscalationAction::Reassign, Scope::Task { task }, Some(role)) =
                    (r.action, scope, r.to)
                {
                    self.emit(EventKind::TaskReassigned { task, role });
                }
                if let Some(every) = r.every {
                    if n < r.times.unwrap_or(MAX_REPEATS).min(MAX_REPEATS) {
                        let at = self.cal.add(self.now, &every);
                        self.schedule(at, every.basis, Purpose::Rung { scope, rung, n: n + 1 }, citizen);
                    }
                }
            }
        }
    }
}
