//! Executing commands: the semantics of every construct.

use std::collections::VecDeque;

use serde_json::Value;

use super::data::{check_data, eval, eval_bool};
use super::*;
use crate::model::{Deadline, Due, EdgeIx, EdgeKind, Process, StepIx, StepKind, TaskMode, WaitFor};
use crate::time::WorkCalendar;

/// Most times a repeating escalation rung fires when it gives no `times`.
const MAX_REPEATS: u32 = 100;
/// Most steps one command may move tokens through: a guard against a loop
/// of automatic steps that never waits (the validator rejects such loops).
const MAX_MOVES: usize = 100_000;

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
            let mut x = Exec::new(p, cal, st, now, out, chooser.map(|c| -> &mut dyn Chooser { c }));
            if !outputs.is_empty() {
                x.emit(EventKind::DataSet {
                    values: outputs,
                    by: None,
                });
            }
            x.emit(EventKind::TaskCompleted { task, by });
            x.cancel_timers(|pu| matches!(pu, Purpose::Due { scope: Scope::Task { task: t } } | Purpose::Rung { scope: Scope::Task { task: t }, .. } if t == task));
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
            x.emit(EventKind::MessageReceived { sub, message, by });
            if !data.is_empty() {
                x.emit(EventKind::DataSet { values: data, by: None });
            }
            x.cancel_timers(|pu| pu == Purpose::Timeout { token });
            x.go_on(token, step);
            x.run();
        }
        Input::Internal(Internal::FireTimer { timer }) => {
            running(st)?;
            let t = st.timer(timer).ok_or(CommandError::NoSuchTimer(timer))?;
            if t.due.is_none_or(|d| d > now) {
                return Err(CommandError::TimerNotDue(timer));
            }
            if let Purpose::Wait { token } = t.purpose {
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

/// What a subprocess step takes back from its child: only what it `sets`.
fn child_results(p: &Process, step: StepIx, data: Data) -> Data {
    let sets = &p.step(step).sets;
    data.into_iter()
        .filter(|(k, _)| sets.iter().any(|ix| p.variables[ix.0 as usize].name == *k))
        .collect()
}

/// The ways out of a step that are not timeouts, in order.
fn ways_out(p: &Process, s: StepIx) -> Vec<EdgeIx> {
    p.step(s)
        .outgoing
        .iter()
        .copied()
        .filter(|e| !matches!(p.edge(*e).kind, EdgeKind::Timeout))
        .collect()
}

/// The probability of each way out, when every way has one.
fn probabilities(p: &Process, s: StepIx) -> Option<Vec<f64>> {
    ways_out(p, s).iter().map(|e| p.edge(*e).kind.probability()).collect()
}

/// The branches of an inclusive decision with their probabilities, when
/// every branch has one.
fn branch_probabilities(p: &Process, s: StepIx) -> Option<Vec<(EdgeIx, f64)>> {
    ways_out(p, s)
        .into_iter()
        .filter(|e| matches!(p.edge(*e).kind, EdgeKind::Branch { .. }))
        .map(|e| p.edge(e).kind.probability().map(|x| (e, x)))
        .collect()
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

    /// A child case came back: take its results and go on, or, when it was
    /// cancelled on its own, stop in an incident (resolving it calls again).
    fn child_finished(&mut self, child: HeldChild, step: StepIx) {
        let HeldChild {
            token,
            outcome,
            data,
            cancelled,
        } = child;
        self.emit(EventKind::ChildFinished { token, outcome });
        if cancelled {
            return self.incident(
                token,
                step,
                "the called case was cancelled; resolve the incident to call it again".into(),
            );
        }
        if !data.is_empty() {
            self.emit(EventKind::DataSet { values: data, by: None });
        }
        self.cancel_timers(|pu| pu == Purpose::Timeout { token });
        self.go_on(token, step);
    }

    /// A token enters its step: what each kind of step does.
    fn enter(&mut self, token: TokenId) {
        let Some(t) = self.st.token(token) else { return };
        let s = t.step;
        let step = self.p.step(s);
        match step.kind {
            StepKind::Start => self.go_on(token, s),
            // A service task that only computes runs at once; one that
            // `sets` data from outside waits for its worker (external task).
            StepKind::Task if step.mode == TaskMode::Service && step.sets.is_empty() => self.compute(token, s),
            StepKind::Task => self.open_task(token, s),
            StepKind::Decision | StepKind::Inclusive => {
                let taken = match self.ways_taken(s) {
                    Ok(taken) => taken,
                    Err(m) => return self.incident(token, s, m),
                };
                self.emit(EventKind::Decided {
                    step: s,
                    taken: taken.clone(),
                });
                match (step.kind, taken.as_slice()) {
                    (StepKind::Decision, [e]) => self.leave(token, *e),
                    _ => self.split(token, s, &taken),
                }
            }
            StepKind::Parallel => {
                let outs = step.outgoing.clone();
                self.split(token, s, &outs);
            }
            StepKind::Join => self.join(token, s),
            StepKind::InclusiveJoin => self.park(token, Park::Join),
            StepKind::Wait => match self.wait_due(s) {
                Ok((due, basis)) => {
                    let timer = self.schedule(due, basis, Purpose::Wait { token }, false);
                    self.park(token, Park::Timer { timer });
                }
                Err(m) => self.incident(token, s, m),
            },
            StepKind::Receive => self.subscribe(token, s),
            StepKind::Subprocess => {
                let process = step.calls.as_ref().map(|c| c.0.clone()).unwrap_or_default();
                self.emit(EventKind::ChildRequested {
                    token,
                    step: s,
                    process,
                });
                self.park(token, Park::Child);
                self.schedule_timeout(token, s);
            }
            StepKind::End => {
                self.emit(EventKind::TokenConsumed { token });
                if self.st.tokens.is_empty() {
                    self.clear_all();
                    self.emit(EventKind::Completed {
                        outcome: step.outcome.clone(),
                    });
                }
            }
            StepKind::Terminate => {
                self.clear_all();
                self.emit(EventKind::Terminated {
                    step: s,
                    outcome: step.outcome.clone(),
                });
            }
        }
    }

    /// An automatic task computes its variables, in order (each sees the
    /// ones before it), and goes on.
    fn compute(&mut self, token: TokenId, s: StepIx) {
        let mut values = Data::new();
        for (var, expr) in &self.p.step(s).compute {
            let mut data = self.st.data.clone();
            data.extend(values.clone());
            let v = self.p.var(*var);
            match eval(expr, &data).and_then(|x| super::data::check_value(v, &x).map(|_| x)) {
                Ok(x) => {
                    values.insert(v.name.clone(), x);
                }
                Err(m) => return self.incident(token, s, m),
            }
        }
        if !values.is_empty() {
            self.emit(EventKind::DataSet { values, by: None });
        }
        self.go_on(token, s);
    }

    /// The ways out a decision (exactly one) or an inclusive decision (any
    /// number, `otherwise` when none) takes: drawn by the chooser where the
    /// simulator gives one and the step has probabilities, else decided by
    /// the conditions on the case data.
    fn ways_taken(&mut self, s: StepIx) -> Result<Vec<EdgeIx>, String> {
        let inclusive = self.p.step(s).kind == StepKind::Inclusive;
        let drawn = match self.chooser.as_deref_mut() {
            Some(c) if !inclusive => probabilities(self.p, s).map(|ps| {
                let ways = ways_out(self.p, s);
                let i = c.pick(&ps).min(ways.len().saturating_sub(1));
                ways.get(i).copied().into_iter().collect::<Vec<_>>()
            }),
            Some(c) => branch_probabilities(self.p, s).map(|branches| {
                branches
                    .into_iter()
                    .filter(|(_, p)| c.take(*p))
                    .map(|(e, _)| e)
                    .collect()
            }),
            None => None,
        };
        let mut taken = match drawn {
            Some(t) => t,
            None => self.by_conditions(s, inclusive)?,
        };
        if taken.is_empty() {
            if !inclusive {
                return Err("no way out of the decision".into());
            }
            taken.extend(
                ways_out(self.p, s)
                    .into_iter()
                    .filter(|e| matches!(self.p.edge(*e).kind, EdgeKind::Otherwise { .. })),
            );
        }
        Ok(taken)
    }

    /// The branches whose conditions hold: the first (else `otherwise`) for a
    /// decision, every one for an inclusive decision.
    fn by_conditions(&self, s: StepIx, inclusive: bool) -> Result<Vec<EdgeIx>, String> {
        let mut taken = Vec::new();
        let mut otherwise = None;
        for &e in &self.p.step(s).outgoing {
            match &self.p.edge(e).kind {
                EdgeKind::Branch { condition, .. } if eval_bool(condition, &self.st.data)? => {
                    taken.push(e);
                    if !inclusive {
                        return Ok(taken);
                    }
                }
                EdgeKind::Otherwise { .. } => otherwise = otherwise.or(Some(e)),
                _ => {}
            }
        }
        if taken.is_empty() && !inclusive {
            taken.extend(otherwise);
        }
        Ok(taken)
    }

    /// A token waits at a join until one has come in by every edge.
    fn join(&mut self, token: TokenId, s: StepIx) {
        self.park(token, Park::Join);
        let waiting: Vec<&Token> = self
            .st
            .tokens
            .iter()
            .filter(|t| t.step == s && t.park == Park::Join)
            .collect();
        let mut consumed = Vec::new();
        for &e in &self.p.step(s).incoming {
            match waiting.iter().find(|t| t.edge == Some(e)) {
                Some(t) => consumed.push(t.id),
                None => return,
            }
        }
        self.merge(s, &consumed);
    }

    /// When a `wait` step's timer falls due, and in which basis.
    fn wait_due(&self, s: StepIx) -> Result<(Timestamp, crate::model::Basis), String> {
        match &self.p.step(s).wait {
            Some(WaitFor::Duration(d)) => Ok((self.cal.add(self.now, d), d.basis)),
            Some(WaitFor::Until(local)) => Ok((self.cal.instant(*local), crate::model::Basis::Calendar)),
            Some(WaitFor::UntilData(v)) => {
                let name = &self.p.var(*v).name;
                match self.st.data.get(name) {
                    Some(Value::String(text)) => self.cal.parse_local(text).map(|t| (t, crate::model::Basis::Calendar)),
                    _ => Err(format!("`{name}` has no date to wait for")),
                }
            }
            None => Err("the wait says nothing to wait for".into()),
        }
    }

    /// A receive opens a subscription, keyed by its correlation, and waits.
    fn subscribe(&mut self, token: TokenId, s: StepIx) {
        let step = self.p.step(s);
        let key = match &step.correlation {
            None => None,
            Some(c) => match eval(c, &self.st.data) {
                Ok(Value::String(k)) => Some(k),
                Ok(v) => Some(v.to_string()),
                Err(m) => return self.incident(token, s, m),
            },
        };
        let sub = SubId(self.st.next_id);
        let message = step.message.clone().unwrap_or_default();
        self.emit(EventKind::SubscriptionOpened {
            sub,
            token,
            message,
            key,
        });
        self.park(token, Park::Message { sub });
        self.schedule_timeout(token, s);
    }

    fn split(&mut self, token: TokenId, s: StepIx, edges: &[EdgeIx]) {
        self.step_done(s);
        self.emit(EventKind::TokenConsumed { token });
        for &e in edges {
            let t = TokenId(self.st.next_id);
            self.emit(EventKind::TokenCreated {
                token: t,
                step: s,
                edge: None,
            });
            self.leave(t, e);
        }
    }

    fn merge(&mut self, s: StepIx, consumed: &[TokenId]) {
        for &t in consumed {
            self.emit(EventKind::TokenConsumed { token: t });
        }
        let t = TokenId(self.st.next_id);
        self.emit(EventKind::TokenCreated {
            token: t,
            step: s,
            edge: None,
        });
        self.go_on(t, s);
    }

    /// Fires every inclusive join that may fire (BPMN 2.0 rule); true when
    /// one fired.
    fn fire_inclusive_joins(&mut self) -> bool {
        let mut joins: Vec<StepIx> = self
            .st
            .tokens
            .iter()
            .filter(|t| t.park == Park::Join && self.p.step(t.step).kind == StepKind::InclusiveJoin)
            .map(|t| t.step)
            .collect();
        joins.sort();
        joins.dedup();
        for j in joins {
            let up = self.p.upstream_of(j);
            let here: Vec<&Token> = self
                .st
                .tokens
                .iter()
                .filter(|t| t.step == j && t.park == Park::Join)
                .collect();
            let marked = |f: EdgeIx| here.iter().any(|t| t.edge == Some(f));
            let blocked = self
                .st
                .tokens
                .iter()
                .filter(|t| !(t.step == j && t.park == Park::Join))
                .any(|t| {
                    let at = t.step.ix();
                    up.iter().any(|(f, can)| !marked(*f) && can[at]) && !up.iter().any(|(g, can)| marked(*g) && can[at])
                });
            if !blocked {
                let consumed: Vec<TokenId> = here.iter().map(|t| t.id).collect();
                self.merge(j, &consumed);
                return true;
            }
        }
        false
    }

    fn open_task(&mut self, token: TokenId, s: StepIx) {
        let step = self.p.step(s);
        let task = TaskId(self.st.next_id);
        let due = step.deadline.as_ref().map(|d| self.due_instant(d, self.now));
        self.emit(EventKind::TaskCreated {
            task,
            token,
            step: s,
            role: step.performer,
            due,
        });
        self.park(token, Park::Task { task });
        if let (Some(d), Some(due)) = (&step.deadline, due) {
            self.schedule_deadline(Scope::Task { task }, d, due);
        }
        self.schedule_timeout(token, s);
    }

    fn schedule_timeout(&mut self, token: TokenId, s: StepIx) {
        if let Some((d, _)) = self.p.step(s).timeout {
            let due = self.cal.add(self.now, &d);
            self.schedule(due, d.basis, Purpose::Timeout { token }, false);
        }
    }

    /// When a deadline falls due, counted from `from` (or `default`).
    fn due_instant(&self, d: &Deadline, default: Timestamp) -> Timestamp {
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
                let name = &self.p.variables[variable.0 as usize].name;
                let v = self.st.data.get(name).and_then(Value::as_str);
                cases
                    .iter()
                    .find(|(k, _)| Some(k.as_str()) == v)
                    .map_or(*otherwise, |c| c.1)
            }
        };
        self.cal.add(base, &dur)
    }

    fn due_basis(d: &Deadline) -> crate::model::Basis {
        match &d.due {
            Due::After(x) => x.basis,
            Due::ByData { otherwise, .. } => otherwise.basis,
        }
    }

    fn schedule_deadline(&mut self, scope: Scope, d: &Deadline, due: Timestamp) {
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

    fn schedule(
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

    fn cancel_timers(&mut self, which: impl Fn(Purpose) -> bool) {
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
    fn remaining(&self, t: &Timer) -> (u32, i64) {
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
    fn pause(&mut self, reason: Pauses, ids: &[TimerId]) {
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

    fn resume_timers(&mut self, reason: Pauses) {
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

    fn citizen_waiting(&self) -> bool {
        self.st
            .tokens
            .iter()
            .any(|t| t.park != Park::Moving && self.p.step(t.step).waits_on_citizen)
    }

    /// Pauses or resumes the citizen clocks when the case starts or stops
    /// waiting on the citizen.
    fn update_citizen_clock(&mut self) {
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

    fn deadline_of(&self, scope: Scope) -> Option<&'a Deadline> {
        match scope {
            Scope::Case => self.p.deadline.as_ref(),
            Scope::Task { task } => self.st.task(task).and_then(|t| self.p.step(t.step).deadline.as_ref()),
        }
    }

    fn fire(&mut self, timer: TimerId) {
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
            Purpose::Timeout { token } => {
                let Some(tok) = self.st.token(token).cloned() else {
                    return;
                };
                let step = tok.step;
                match tok.park {
                    Park::Task { task } => {
                        self.emit(EventKind::TaskCancelled { task });
                        self.cancel_timers(|pu| matches!(pu, Purpose::Due { scope: Scope::Task { task: x } } | Purpose::Rung { scope: Scope::Task { task: x }, .. } if x == task));
                    }
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

    /// Cancels every open thing: tasks, timers, subscriptions, tokens.
    fn clear_all(&mut self) {
        let tasks: Vec<TaskId> = self.st.tasks.iter().map(|t| t.id).collect();
        for task in tasks {
            self.emit(EventKind::TaskCancelled { task });
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
        let notes = include_str!("../../../../ARCHITECTURE.md")
            .replace(',', "")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        for said in [
            format!("at most {} automatic moves per command", super::MAX_MOVES),
            format!("{} repeats of an escalation rung", super::MAX_REPEATS),
        ] {
            assert!(notes.contains(&said), "ARCHITECTURE.md should say `{said}`");
        }
    }
}
