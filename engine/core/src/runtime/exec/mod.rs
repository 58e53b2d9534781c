//! Executing commands: what each command does to a case (`handle`), and
//! the machinery every construct shares (emitting events, moving tokens,
//! incidents). What each kind of step does is `step.rs`; timers, deadlines,
//! escalation ladders and pauses are `timers.rs`.

mod step;
mod timers;

use std::collections::VecDeque;

use step::child_results;

use super::data::check_data;
use super::*;
use crate::model::{EdgeIx, Process, StepIx};
use crate::time::WorkCalendar;

/// Most times a repeating escalation rung fires when it gives no `times`.
const MAX_REPEATS: u32 = 100;
/// Most steps one command may move tokens through: a guard against a loop
/// of automatic steps that never waits (the validator rejects such loops).
const MAX_MOVES: usize = 100_000;
/// Most instances of one task with multiple instances.
const MAX_INSTANCES: u32 = 1_000;

/// Picks the way out of a decision by its branch probabilities, for the
/// simulator, where a condition cannot be decided from data. Live cases pass
/// none: their conditions decide. The pick is recorded as a `Decided`
/// event, so replay needs no chooser.
pub trait Chooser {
    /// An index into `probabilities` (one per way out, in order).
    fn pick(&mut self, probabilities: &[f64]) -> usize;
    /// Whether a branch of an inclusive decision is taken.
    fn take(&mut self, probability: f64) -> bool;
}

/// [`start`] with a chooser for decisions that have branch probabilities.
pub fn start_with(
    p: &Process,
    cal: &WorkCalendar,
    data: Data,
    by: Option<String>,
    now: Timestamp,
    out: &mut Vec<Event>,
    chooser: &mut dyn Chooser,
) -> Result<Instance, CommandError> {
    start_inner(p, cal, data, by, now, out, Some(chooser))
}

/// [`handle`] with a chooser for decisions that have branch probabilities.
pub fn handle_with(
    p: &Process,
    cal: &WorkCalendar,
    st: &mut Instance,
    cmd: impl Into<Input>,
    now: Timestamp,
    out: &mut Vec<Event>,
    chooser: &mut dyn Chooser,
) -> Result<(), CommandError> {
    handle_inner(p, cal, st, cmd.into(), now, out, Some(chooser))
}

/// Starts a case. Returns its state; its first events are appended to `out`.
pub fn start(
    p: &Process,
    cal: &WorkCalendar,
    data: Data,
    by: Option<String>,
    now: Timestamp,
    out: &mut Vec<Event>,
) -> Result<Instance, CommandError> {
    start_inner(p, cal, data, by, now, out, None)
}

#[allow(clippy::too_many_arguments)]
fn start_inner(
    p: &Process,
    cal: &WorkCalendar,
    data: Data,
    by: Option<String>,
    now: Timestamp,
    out: &mut Vec<Event>,
    chooser: Option<&mut dyn Chooser>,
) -> Result<Instance, CommandError> {
    check_data(p, &data, None).map_err(CommandError::BadData)?;
    if let Some(v) = p.variables.iter().find(|v| v.required && !data.contains_key(&v.name)) {
        return Err(CommandError::BadData(format!(
            "`{}` is required to start a case",
            v.name
        )));
    }
    let mut st = Instance::default();
    let mut x = Exec::new(p, cal, &mut st, now, out, chooser.map(|c| -> &mut dyn Chooser { c }));
    x.emit(EventKind::Started {
        process: p.id.0.clone(),
        version: p.version,
        data,
        by,
    });
    // A case deadline counted `from` a step starts when that step first
    // completes (`step_done`).
    if p.deadline.as_ref().is_some_and(|d| d.from.is_none()) {
        x.start_case_clock();
    }
    let token = TokenId(x.st.next_id);
    x.emit(EventKind::TokenCreated {
        token,
        step: p.start,
        edge: None,
    });
    x.step_done(p.start);
    if let Some(e) = p.next_edge(p.start) {
        x.leave(token, e);
    }
    x.run();
    Ok(st)
}

/// Applies a command to a running case. On error nothing changed and no
/// event was produced.
pub fn handle(
    p: &Process,
    cal: &WorkCalendar,
    st: &mut Instance,
    cmd: impl Into<Input>,
    now: Timestamp,
    out: &mut Vec<Event>,
) -> Result<(), CommandError> {
    handle_inner(p, cal, st, cmd.into(), now, out, None)
}

#[allow(clippy::too_many_arguments)]
fn handle_inner(
    p: &Process,
    cal: &WorkCalendar,
    st: &mut Instance,
    cmd: Input,
    now: Timestamp,
    out: &mut Vec<Event>,
    chooser: Option<&mut dyn Chooser>,
) -> Result<(), CommandError> {
    let running = |st: &Instance| {
        if st.status == Status::Running {
            Ok(())
        } else {
            Err(CommandError::NotRunning(st.status))
        }
    };
    match cmd {
        Input::Command(Command::Claim { task, user }) => {
            running(st)?;
            let t = st.task(task).ok_or(CommandError::NoSuchTask(task))?;
            if let Some(a) = t.assignee.as_ref().filter(|a| **a != user) {
                return Err(CommandError::ClaimedByOther {
                    task,
                    assignee: a.clone(),
                });
            }
            Exec::new(p, cal, st, now, out, chooser.map(|c| -> &mut dyn Chooser { c }))
                .emit(EventKind::TaskClaimed { task, user });
        }
        Input::Command(Command::Assign { task, user, by: _ }) => {
            running(st)?;
            st.task(task).ok_or(CommandError::NoSuchTask(task))?;
            Exec::new(p, cal, st, now, out, chooser.map(|c| -> &mut dyn Chooser { c }))
                .emit(EventKind::TaskClaimed { task, user });
        }
        Input::Command(Command::Complete { task, by, outputs }) => {
            running(st)?;
            let t = st.task(task).ok_or(CommandError::NoSuchTask(task))?;
            if let (Some(a), Some(b)) = (&t.assignee, &by) {
                if a != b {
                    return Err(CommandError::ClaimedByOther {
                        task,
                        assignee: a.clone(),
                    });
                }
            }
            let (token, step) = (t.token, t.step);
            check_data(p, &outputs, Some(&p.step(step).sets)).map_err(CommandError::BadData)?;
            if t.instance.is_some() {
                let t = t.clone();
                let mut x = Exec::new(p, cal, st, now, out, chooser.map(|c| -> &mut dyn Chooser { c }));
                x.emit(EventKind::TaskCompleted { task, by });
                x.cancel_task_timers(task);
                x.instance_done(token, step, &t, outputs);
                x.run();
                debug_assert!(st.check_invariants().is_ok(), "{:?}", st.check_invariants());
                return Ok(());
            }
            let mut x = Exec::new(p, cal, st, now, out, chooser.map(|c| -> &mut dyn Chooser { c }));
            if !outputs.is_empty() {
                x.emit(EventKind::DataSet {
                    values: outputs,
                    by: None,
                });
            }
            x.emit(EventKind::TaskCompleted { task, by });
            x.cancel_task_timers(task);
            x.cancel_timers(|pu| pu == Purpose::Timeout { token });
            x.go_on(token, step);
            x.run();
        }
        Input::Internal(Internal::Deliver { sub, data, by }) => {
            running(st)?;
            let s = st
                .subscriptions
                .iter()
                .find(|s| s.id == sub)
                .ok_or(CommandError::NoSuchSubscription(sub))?;
            let (token, message) = (s.token, s.message.clone());
            let step = st.token(token).map(|t| t.step).ok_or_else(|| {
                CommandError::Inconsistent(format!(
                    "subscription {sub} waits on token {token}, which the case does not hold"
                ))
            })?;
            check_data(p, &data, Some(&p.step(step).sets)).map_err(CommandError::BadData)?;
            let mut x = Exec::new(p, cal, st, now, out, chooser.map(|c| -> &mut dyn Chooser { c }));
            // At a first-come choice, the arm waiting for this message.
            let arm = p
                .step(step)
                .arms(p)
                .into_iter()
                .find(|(_, t)| matches!(t, crate::model::Trigger::Message(m) if *m == message))
                .map(|(e, _)| e);
            x.emit(EventKind::MessageReceived { sub, message, by });
            if !data.is_empty() {
                x.emit(EventKind::DataSet { values: data, by: None });
            }
            match arm {
                Some(edge) => x.take_arm(token, step, edge),
                None => {
                    x.cancel_timers(|pu| pu == Purpose::Timeout { token });
                    x.go_on(token, step);
                }
            }
            x.run();
        }
        Input::Internal(Internal::FireTimer { timer }) => {
            running(st)?;
            let t = st.timer(timer).ok_or(CommandError::NoSuchTimer(timer))?;
            if t.due.is_none_or(|d| d > now) {
                return Err(CommandError::TimerNotDue(timer));
            }
            if let Purpose::Wait { token } | Purpose::Arm { token, .. } = t.purpose {
                st.token(token).ok_or_else(|| {
                    CommandError::Inconsistent(format!(
                        "timer {timer} wakes token {token}, which the case does not hold"
                    ))
                })?;
            }
            let mut x = Exec::new(p, cal, st, now, out, chooser.map(|c| -> &mut dyn Chooser { c }));
            x.fire(timer);
            x.run();
        }
        Input::Internal(Internal::ChildFinished {
            token,
            outcome,
            data,
            cancelled,
        }) => {
            if st.status.is_finished() {
                return Err(CommandError::NotRunning(st.status));
            }
            let t = st
                .token(token)
                .filter(|t| t.park == Park::Child && !st.held.iter().any(|h| h.token == token))
                .ok_or(CommandError::NoSuchChild(token))?;
            let step = t.step;
            let back = child_results(p, step, data);
            check_data(p, &back, None).map_err(CommandError::BadData)?;
            let child = HeldChild {
                token,
                outcome,
                data: back,
                cancelled,
            };
            let mut x = Exec::new(p, cal, st, now, out, chooser.map(|c| -> &mut dyn Chooser { c }));
            if x.st.status == Status::Suspended {
                x.emit(EventKind::ChildHeld { child });
            } else {
                x.child_finished(child, step);
                x.run();
            }
        }
        Input::Internal(Internal::ChildNotStarted { token, reason }) => {
            if st.status.is_finished() {
                return Err(CommandError::NotRunning(st.status));
            }
            let t = st
                .token(token)
                .filter(|t| t.park == Park::Child)
                .ok_or(CommandError::NoSuchChild(token))?;
            let step = t.step;
            let mut x = Exec::new(p, cal, st, now, out, chooser.map(|c| -> &mut dyn Chooser { c }));
            x.incident(token, step, reason);
        }
        Input::Internal(Internal::JobFailed { task, message }) => {
            running(st)?;
            let t = st.task(task).ok_or(CommandError::NoSuchTask(task))?;
            let (token, step) = (t.token, t.step);
            let mut x = Exec::new(p, cal, st, now, out, chooser.map(|c| -> &mut dyn Chooser { c }));
            x.emit(EventKind::TaskCancelled { task });
            x.cancel_task_timers(task);
            x.incident(token, step, format!("the job's worker gave up: {message}"));
        }
        Input::Command(Command::Resolve { token, values, by }) => {
            running(st)?;
            if !st.incidents.contains_key(&token) {
                return Err(CommandError::NoSuchIncident(token));
            }
            check_data(p, &values, None).map_err(CommandError::BadData)?;
            let mut x = Exec::new(p, cal, st, now, out, chooser.map(|c| -> &mut dyn Chooser { c }));
            if !values.is_empty() {
                x.emit(EventKind::DataSet { values, by: by.clone() });
            }
            x.emit(EventKind::IncidentResolved { token, by });
            x.emit(EventKind::TokenParked {
                token,
                park: Park::Moving,
            });
            x.agenda.push_back(token);
            x.run();
        }
        Input::Command(Command::AddInstances { step, items, by }) => {
            running(st)?;
            let each = p
                .find(&step)
                .and_then(|s| Some((s, p.step(s).each()?)))
                .filter(|(_, e)| matches!(e.instances, crate::model::Instances::Over(_)));
            let m = each.and_then(|(s, _)| st.many.iter().find(|m| m.step == s));
            let (Some((s, each)), Some(m)) = (each, m) else {
                return Err(CommandError::NoInstances(step));
            };
            let (token, already) = (m.token, m.items.len());
            let mut x = Exec::new(p, cal, st, now, out, chooser.map(|c| -> &mut dyn Chooser { c }));
            x.check_items(each, already, &items).map_err(CommandError::BadData)?;
            if let crate::model::Instances::Over(v) = each.instances {
                let values = x.appended(p.var(v).name.clone(), items.iter().cloned());
                x.emit(EventKind::DataSet { values, by: by.clone() });
            }
            x.emit(EventKind::InstancesAdded { token, items, by });
            x.open_instances(token, s);
            x.run();
        }
        Input::Command(Command::SetData { values, by }) => {
            if st.status.is_finished() {
                return Err(CommandError::NotRunning(st.status));
            }
            check_data(p, &values, None).map_err(CommandError::BadData)?;
            let mut x = Exec::new(p, cal, st, now, out, chooser.map(|c| -> &mut dyn Chooser { c }));
            x.emit(EventKind::DataSet { values, by: by.clone() });
            if x.st.status == Status::Running {
                let stuck: Vec<TokenId> = x.st.incidents.keys().copied().collect();
                for token in stuck {
                    x.emit(EventKind::IncidentResolved { token, by: by.clone() });
                    x.emit(EventKind::TokenParked {
                        token,
                        park: Park::Moving,
                    });
                    x.agenda.push_back(token);
                }
                x.reconsider_instances();
                x.run();
            }
        }
        Input::Command(Command::Suspend { by }) => {
            running(st)?;
            let mut x = Exec::new(p, cal, st, now, out, chooser.map(|c| -> &mut dyn Chooser { c }));
            x.emit(EventKind::Suspended { by });
            let ids: Vec<TimerId> = x.st.timers.iter().map(|t| t.id).collect();
            x.pause(Pauses::SUSPENDED, &ids);
        }
        Input::Command(Command::Resume { by }) => {
            if st.status != Status::Suspended {
                return Err(CommandError::NotSuspended);
            }
            let mut x = Exec::new(p, cal, st, now, out, chooser.map(|c| -> &mut dyn Chooser { c }));
            x.emit(EventKind::Resumed { by });
            x.resume_timers(Pauses::SUSPENDED);
            // Children that finished meanwhile are taken now, in order.
            let held = x.st.held.clone();
            for child in held {
                let step = x.st.token(child.token).map(|t| t.step);
                if let Some(step) = step {
                    x.child_finished(child, step);
                }
            }
            x.run();
        }
        Input::Command(Command::Cancel { by, reason }) => {
            if st.status.is_finished() {
                return Err(CommandError::NotRunning(st.status));
            }
            let mut x = Exec::new(p, cal, st, now, out, chooser.map(|c| -> &mut dyn Chooser { c }));
            x.clear_all();
            x.emit(EventKind::Cancelled { by, reason });
        }
    }
    debug_assert!(st.check_invariants().is_ok(), "{:?}", st.check_invariants());
    Ok(())
}

struct Exec<'a> {
    p: &'a Process,
    cal: &'a WorkCalendar,
    st: &'a mut Instance,
    now: Timestamp,
    out: &'a mut Vec<Event>,
    agenda: VecDeque<TokenId>,
    moves: usize,
    chooser: Option<&'a mut dyn Chooser>,
}

impl<'a> Exec<'a> {
    fn new(
        p: &'a Process,
        cal: &'a WorkCalendar,
        st: &'a mut Instance,
        now: Timestamp,
        out: &'a mut Vec<Event>,
        chooser: Option<&'a mut dyn Chooser>,
    ) -> Exec<'a> {
        Exec {
            p,
            cal,
            st,
            now,
            out,
            agenda: VecDeque::new(),
            moves: 0,
            chooser,
        }
    }

    /// Records an event and applies it: the only way state changes.
    fn emit(&mut self, kind: EventKind) {
        let e = Event {
            seq: self.st.seq,
            at: self.now,
            kind,
        };
        apply(self.st, &e);
        self.out.push(e);
    }

    /// Moves tokens until every one waits for something outside.
    fn run(&mut self) {
        loop {
            while let Some(tok) = self.agenda.pop_front() {
                self.moves += 1;
                if self.moves > MAX_MOVES {
                    // Every token on the agenda was just created or moved.
                    let Some(step) = self.st.token(tok).map(|t| t.step) else {
                        debug_assert!(false, "token {tok} on the agenda but not in the case");
                        continue;
                    };
                    self.incident(
                        tok,
                        step,
                        format!("more than {MAX_MOVES} automatic steps in one go: a loop that never waits"),
                    );
                    continue;
                }
                self.enter(tok);
            }
            if !self.fire_inclusive_joins() {
                break;
            }
        }
        self.update_citizen_clock();
    }

    fn leave(&mut self, token: TokenId, e: EdgeIx) {
        let to = self.p.edge(e).to;
        self.emit(EventKind::TokenMoved {
            token,
            step: to,
            edge: e,
        });
        self.agenda.push_back(token);
    }

    /// The case deadline's clock starts now.
    fn start_case_clock(&mut self) {
        let p = self.p;
        if let Some(d) = &p.deadline {
            let due = self.due_instant(d, self.now);
            self.emit(EventKind::CaseDue { due });
            self.schedule_deadline(Scope::Case, d, due);
        }
    }

    /// Records that `step` completed, and starts the case deadline's clock
    /// if it counts from that step and has not started yet.
    fn step_done(&mut self, step: StepIx) {
        self.emit(EventKind::StepCompleted {
            step,
            anchor: self.p.anchors[step.ix()],
        });
        let starts_here = self.p.deadline.as_ref().is_some_and(|d| d.from == Some(step));
        if starts_here && self.st.case_due.is_none() {
            self.start_case_clock();
        }
    }

    /// The step's work is done: record it and take `next`.
    fn go_on(&mut self, token: TokenId, step: StepIx) {
        self.step_done(step);
        match self.p.next_edge(step) {
            Some(e) => self.leave(token, e),
            None => self.incident(token, step, "the step has no way on".into()),
        }
    }

    fn park(&mut self, token: TokenId, park: Park) {
        self.emit(EventKind::TokenParked { token, park });
    }

    /// Stops a token in an incident. Its step's timeout stops with it (a
    /// retry enters the step again, with a fresh timeout).
    fn incident(&mut self, token: TokenId, step: StepIx, message: String) {
        self.cancel_timers(|pu| pu == Purpose::Timeout { token });
        self.emit(EventKind::Incident { token, step, message });
        self.park(token, Park::Incident);
    }

    /// Withdraws one token and all that is open on it: its task (with the
    /// task's deadline and ladder), its timers, subscriptions, called case
    /// and incident.
    fn withdraw(&mut self, token: TokenId) {
        let Some(park) = self.st.token(token).map(|t| t.park) else {
            return;
        };
        match park {
            Park::Task { task } => {
                self.emit(EventKind::TaskCancelled { task });
                self.cancel_task_timers(task);
            }
            Park::Child => self.emit(EventKind::ChildWithdrawn { token }),
            Park::Many => self.withdraw_instances(token),
            Park::Incident => self.emit(EventKind::IncidentResolved { token, by: None }),
            _ => {}
        }
        self.cancel_timers(|pu| {
            matches!(pu, Purpose::Wait { token: t } | Purpose::Arm { token: t, .. } | Purpose::Timeout { token: t } if t == token)
        });
        self.close_subscriptions(token);
        self.emit(EventKind::TokenConsumed { token });
        self.agenda.retain(|t| *t != token);
    }

    /// Cancels a task's deadline and the rungs of its ladder.
    fn cancel_task_timers(&mut self, task: TaskId) {
        self.cancel_timers(|pu| matches!(pu, Purpose::Due { scope: Scope::Task { task: x } } | Purpose::Rung { scope: Scope::Task { task: x }, .. } if x == task));
    }

    /// Closes every subscription held for `token`.
    fn close_subscriptions(&mut self, token: TokenId) {
        let subs: Vec<SubId> = self
            .st
            .subscriptions
            .iter()
            .filter(|x| x.token == token)
            .map(|x| x.id)
            .collect();
        for sub in subs {
            self.emit(EventKind::SubscriptionClosed { sub });
        }
    }

    /// Cancels every open thing: tasks, timers, subscriptions, tokens.
    fn clear_all(&mut self) {
        let tasks: Vec<TaskId> = self.st.tasks.iter().map(|t| t.id).collect();
        for task in tasks {
            self.emit(EventKind::TaskCancelled { task });
        }
        let many: Vec<TokenId> = self.st.many.iter().map(|m| m.token).collect();
        for token in many {
            self.emit(EventKind::InstancesEnded { token });
        }
        self.cancel_timers(|_| true);
        let subs: Vec<SubId> = self.st.subscriptions.iter().map(|s| s.id).collect();
        for sub in subs {
            self.emit(EventKind::SubscriptionClosed { sub });
        }
        let waiting: Vec<TokenId> = self
            .st
            .tokens
            .iter()
            .filter(|t| t.park == Park::Child)
            .map(|t| t.id)
            .collect();
        for token in waiting {
            self.emit(EventKind::ChildWithdrawn { token });
        }
        let tokens: Vec<TokenId> = self.st.tokens.iter().map(|t| t.id).collect();
        for token in tokens {
            self.emit(EventKind::TokenConsumed { token });
        }
        let stuck: Vec<TokenId> = self.st.incidents.keys().copied().collect();
        for token in stuck {
            self.emit(EventKind::IncidentResolved { token, by: None });
        }
        self.agenda.clear();
    }
}

#[cfg(test)]
mod tests {
    /// `ARCHITECTURE.md` states the runtime's limits as the code has them.
    #[test]
    fn the_architecture_notes_state_these_limits() {
        // Words joined by single spaces, numbers without their thousands commas.
        let notes = include_str!("../../../../../ARCHITECTURE.md")
            .replace(',', "")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        for said in [
            format!("at most {} automatic moves per command", super::MAX_MOVES),
            format!("{} repeats of an escalation rung", super::MAX_REPEATS),
            format!("{} instances of a task", super::MAX_INSTANCES),
        ] {
            assert!(notes.contains(&said), "ARCHITECTURE.md should say `{said}`");
        }
    }
}
