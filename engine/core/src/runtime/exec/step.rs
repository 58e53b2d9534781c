//! What each kind of step does when a token enters it: tasks, decisions,
//! splits and joins, waits, receives, subprocess calls and ends.

use serde_json::Value;

use super::super::data::{eval, eval_bool};
use super::super::*;
use super::{Exec, MAX_INSTANCES};
use crate::model::{EdgeIx, EdgeKind, Process, StepIx, StepKind, TaskMode, WaitFor};

impl<'a> Exec<'a> {
    /// A child case came back: take its results and go on, or, when it was
    /// cancelled on its own, stop in an incident (resolving it calls again).
    pub(super) fn child_finished(&mut self, child: HeldChild, step: StepIx) {
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
    pub(super) fn enter(&mut self, token: TokenId) {
        let Some(t) = self.st.token(token) else { return };
        let s = t.step;
        let step = self.p.step(s);
        match step.kind {
            StepKind::Start => self.go_on(token, s),
            // A service task that only computes runs at once; one that
            // `sets` data from outside, or names a `topic`, waits for its
            // worker (an external task: a job).
            StepKind::Task if step.mode() == TaskMode::Service && step.sets.is_empty() && step.topic().is_none() => {
                self.compute(token, s)
            }
            StepKind::Task if step.each().is_some() => self.open_many(token, s),
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
            StepKind::First => self.arm(token, s),
            StepKind::Subprocess => {
                let process = step.calls().as_ref().map(|c| c.0.clone()).unwrap_or_default();
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
                        outcome: step.outcome().map(str::to_owned),
                    });
                }
            }
            StepKind::Terminate => {
                self.clear_all();
                self.emit(EventKind::Terminated {
                    step: s,
                    outcome: step.outcome().map(str::to_owned),
                });
            }
        }
    }

    /// An automatic task computes its variables, in order (each sees the
    /// ones before it), and goes on.
    pub(super) fn compute(&mut self, token: TokenId, s: StepIx) {
        let mut values = Data::new();
        for (var, expr) in self.p.step(s).compute() {
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
    pub(super) fn ways_taken(&mut self, s: StepIx) -> Result<Vec<EdgeIx>, String> {
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
    pub(super) fn by_conditions(&self, s: StepIx, inclusive: bool) -> Result<Vec<EdgeIx>, String> {
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

    /// A token waits at a join until one has come in by every edge; at a
    /// partial join, by `needs` of them, and then every token still on the
    /// way to it is withdrawn before it goes on.
    pub(super) fn join(&mut self, token: TokenId, s: StepIx) {
        self.park(token, Park::Join);
        let needs = self.p.step(s).needs();
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
                None if needs.is_none() => return,
                None => {}
            }
        }
        if let Some(n) = needs {
            if consumed.len() < n {
                return;
            }
            let rest: Vec<TokenId> = self
                .st
                .tokens
                .iter()
                .filter(|t| !consumed.contains(&t.id) && (t.step == s || self.p.feeds(s, t.step)))
                .map(|t| t.id)
                .collect();
            for t in rest {
                self.withdraw(t);
            }
        }
        self.merge(s, &consumed);
    }

    /// When a `wait` step's timer falls due, and in which basis.
    pub(super) fn wait_due(&self, s: StepIx) -> Result<(Timestamp, crate::model::Basis), String> {
        match self.p.step(s).wait() {
            Some(w) => self.due_of(w),
            None => Err("the wait says nothing to wait for".into()),
        }
    }

    /// When waiting for `w` from now ends, and in which basis.
    fn due_of(&self, w: &WaitFor) -> Result<(Timestamp, crate::model::Basis), String> {
        match w {
            WaitFor::Duration(d) => Ok((self.cal.add(self.now, d), d.basis)),
            WaitFor::Until(local) => Ok((self.cal.instant(*local), crate::model::Basis::Calendar)),
            WaitFor::UntilData(v) => {
                let name = &self.p.var(*v).name;
                match self.st.data.get(name) {
                    Some(Value::String(text)) => self.cal.parse_local(text).map(|t| (t, crate::model::Basis::Calendar)),
                    _ => Err(format!("`{name}` has no date to wait for")),
                }
            }
        }
    }

    /// The correlation key of a receive or a first-come choice, from the
    /// case data now.
    fn correlation_key(&self, s: StepIx) -> Result<Option<String>, String> {
        match self.p.step(s).correlation() {
            None => Ok(None),
            Some(c) => eval(c, &self.st.data).map(|v| match v {
                Value::String(k) => Some(k),
                v => Some(v.to_string()),
            }),
        }
    }

    /// A first-come choice opens a subscription for each message arm and a
    /// timer for each timer arm, all on this token, and waits for the first.
    /// Nothing opens when any of them cannot (an incident says why).
    pub(super) fn arm(&mut self, token: TokenId, s: StepIx) {
        let key = match self.correlation_key(s) {
            Ok(k) => k,
            Err(m) => return self.incident(token, s, m),
        };
        let mut timers = Vec::new();
        for (edge, trigger) in self.p.step(s).arms(self.p) {
            if let crate::model::Trigger::Timer(w) = trigger {
                match self.due_of(w) {
                    Ok(due) => timers.push((edge, due)),
                    Err(m) => return self.incident(token, s, m),
                }
            }
        }
        for (_, trigger) in self.p.step(s).arms(self.p) {
            if let crate::model::Trigger::Message(message) = trigger {
                let sub = SubId(self.st.next_id);
                self.emit(EventKind::SubscriptionOpened {
                    sub,
                    token,
                    message: message.clone(),
                    key: key.clone(),
                });
            }
        }
        for (edge, (due, basis)) in timers {
            self.schedule(due, basis, Purpose::Arm { token, edge }, false);
        }
        self.park(token, Park::First);
    }

    /// The first arm of a choice came (its message was received, or its
    /// timer fired): the others are withdrawn and the token leaves by it.
    pub(super) fn take_arm(&mut self, token: TokenId, s: StepIx, edge: EdgeIx) {
        self.close_subscriptions(token);
        self.cancel_timers(|pu| matches!(pu, Purpose::Arm { token: t, .. } if t == token));
        self.emit(EventKind::Decided {
            step: s,
            taken: vec![edge],
        });
        self.step_done(s);
        self.leave(token, edge);
    }

    /// A receive opens a subscription, keyed by its correlation, and waits.
    pub(super) fn subscribe(&mut self, token: TokenId, s: StepIx) {
        let step = self.p.step(s);
        let key = match self.correlation_key(s) {
            Ok(k) => k,
            Err(m) => return self.incident(token, s, m),
        };
        let sub = SubId(self.st.next_id);
        let message = step.message().unwrap_or_default().to_owned();
        self.emit(EventKind::SubscriptionOpened {
            sub,
            token,
            message,
            key,
        });
        self.park(token, Park::Message { sub });
        self.schedule_timeout(token, s);
    }

    pub(super) fn split(&mut self, token: TokenId, s: StepIx, edges: &[EdgeIx]) {
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

    pub(super) fn merge(&mut self, s: StepIx, consumed: &[TokenId]) {
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
    pub(super) fn fire_inclusive_joins(&mut self) -> bool {
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

    pub(super) fn open_task(&mut self, token: TokenId, s: StepIx) {
        let task = self.new_task(token, s, None);
        self.park(token, Park::Task { task });
        self.schedule_timeout(token, s);
    }

    /// Opens a task at step `s` for `token` (one instance's, when
    /// `instance` is given), with its deadline and ladder.
    fn new_task(&mut self, token: TokenId, s: StepIx, instance: Option<u32>) -> TaskId {
        let step = self.p.step(s);
        let task = TaskId(self.st.next_id);
        let due = step.deadline.as_ref().map(|d| self.due_instant(d, self.now));
        self.emit(EventKind::TaskCreated {
            task,
            token,
            step: s,
            role: step.performer(),
            due,
            instance,
        });
        if let (Some(d), Some(due)) = (&step.deadline, due) {
            self.schedule_deadline(Scope::Task { task }, d, due);
        }
        task
    }

    /// A token enters a task with multiple instances: its items are worked
    /// out, the gathering list starts empty, and the instances open — all
    /// at once, or the first of them.
    fn open_many(&mut self, token: TokenId, s: StepIx) {
        let Some(each) = self.p.step(s).each() else {
            return self.open_task(token, s);
        };
        let items = match self.instance_items(each) {
            Ok(items) => items,
            Err(m) => return self.incident(token, s, m),
        };
        self.emit(EventKind::InstancesPlanned { token, step: s, items });
        if let Some(g) = each.gather {
            let values = Data::from([(self.p.var(g).name.clone(), Value::Array(Vec::new()))]);
            self.emit(EventKind::DataSet { values, by: None });
        }
        self.park(token, Park::Many);
        if self.st.many(token).is_some_and(|m| !m.items.is_empty()) {
            self.schedule_timeout(token, s);
        }
        self.open_instances(token, s);
    }

    /// The items of a task's instances, checked against the item's variable.
    fn instance_items(&self, each: &crate::model::Each) -> Result<Vec<Value>, String> {
        let items = match &each.instances {
            crate::model::Instances::Over(v) => {
                let name = &self.p.var(*v).name;
                match self.st.data.get(name) {
                    Some(Value::Array(a)) => a.clone(),
                    Some(other) => return Err(format!("`{name}` must be a list, not {other}")),
                    None => return Err(format!("`{name}` has no value yet")),
                }
            }
            crate::model::Instances::Count(c) => {
                let n = eval(c, &self.st.data)?;
                let n = n
                    .as_u64()
                    .ok_or_else(|| format!("`{}` gives {n}, not a whole number of instances", c.source))?;
                (1..=n.min(u64::from(MAX_INSTANCES) + 1)).map(Value::from).collect()
            }
        };
        self.check_items(each, 0, &items)?;
        Ok(items)
    }

    /// Items fit the variable an instance sees them as, and, with the
    /// `already` there are, are not too many.
    pub(super) fn check_items(&self, each: &crate::model::Each, already: usize, items: &[Value]) -> Result<(), String> {
        if items.len() + already > MAX_INSTANCES as usize {
            return Err(format!("more than {MAX_INSTANCES} instances of one task"));
        }
        if let Some(v) = each.item {
            for (i, x) in items.iter().enumerate() {
                super::super::data::check_value(self.p.var(v), x).map_err(|m| format!("item {}: {m}", i + 1))?;
            }
        }
        Ok(())
    }

    /// Opens what is due of a task's instances: every unopened one when
    /// they run at once, the next one when they run one after the other
    /// and none is open; when none is left, the step is done.
    pub(super) fn open_instances(&mut self, token: TokenId, s: StepIx) {
        let Some(m) = self.st.many(token) else { return };
        let (opened, total, done) = (m.opened, m.items.len() as u32, m.done);
        let sequential = self.p.step(s).each().is_some_and(|e| e.sequential);
        if done == total {
            return self.end_many(token, s);
        }
        let upto = if sequential {
            if opened > done {
                return;
            }
            opened + 1
        } else {
            total
        };
        for i in opened..upto {
            self.new_task(token, s, Some(i));
        }
    }

    /// One instance's task is done: its values go into the gathering list,
    /// and the step is done when every instance is or its condition holds;
    /// otherwise the next instance opens (one after the other).
    pub(super) fn instance_done(&mut self, token: TokenId, s: StepIx, task: &Task, outputs: Data) {
        let Some(each) = self.p.step(s).each() else { return };
        let instance = task.instance.unwrap_or(0);
        if let Some(g) = each.gather {
            let name = self.p.var(g).name.clone();
            let mut entry = serde_json::Map::new();
            if let (Some(v), Some(item)) = (each.item, self.st.item_of(task)) {
                entry.insert(self.p.var(v).name.clone(), item.clone());
            }
            entry.extend(outputs);
            let values = self.appended(name, [Value::Object(entry)]);
            self.emit(EventKind::DataSet { values, by: None });
        }
        self.emit(EventKind::InstanceDone { token, instance });
        if let Some(c) = &each.until {
            match eval_bool(c, &self.st.data) {
                Ok(true) => return self.end_many(token, s),
                Ok(false) => {}
                Err(m) => {
                    self.withdraw_instances(token);
                    return self.incident(token, s, m);
                }
            }
        }
        self.open_instances(token, s);
    }

    /// Case data changed from outside: a task's instances whose `until`
    /// holds now are over (a manager forces the step done by setting what
    /// the condition reads). A condition that cannot be read yet is read
    /// again when an instance is done.
    pub(super) fn reconsider_instances(&mut self) {
        let under_way: Vec<(TokenId, StepIx)> = self.st.many.iter().map(|m| (m.token, m.step)).collect();
        for (token, s) in under_way {
            let holds = self
                .p
                .step(s)
                .each()
                .and_then(|e| e.until.as_ref())
                .is_some_and(|c| eval_bool(c, &self.st.data) == Ok(true));
            if holds {
                self.end_many(token, s);
            }
        }
    }

    /// The list variable `name` with `items` added at its end, as data to set.
    pub(super) fn appended(&self, name: String, items: impl IntoIterator<Item = Value>) -> Data {
        let mut list = match self.st.data.get(&name) {
            Some(Value::Array(a)) => a.clone(),
            _ => Vec::new(),
        };
        list.extend(items);
        Data::from([(name, Value::Array(list))])
    }

    /// The instances are over: what is still open of them is withdrawn and
    /// the step is done.
    fn end_many(&mut self, token: TokenId, s: StepIx) {
        self.withdraw_instances(token);
        self.cancel_timers(|pu| pu == Purpose::Timeout { token });
        self.go_on(token, s);
    }

    /// Withdraws the open tasks of a token's instances (with their
    /// deadlines and ladders) and ends its instances.
    pub(super) fn withdraw_instances(&mut self, token: TokenId) {
        let open: Vec<TaskId> = self
            .st
            .tasks
            .iter()
            .filter(|t| t.token == token)
            .map(|t| t.id)
            .collect();
        for task in open {
            self.emit(EventKind::TaskCancelled { task });
            self.cancel_task_timers(task);
        }
        if self.st.many(token).is_some() {
            self.emit(EventKind::InstancesEnded { token });
        }
    }
}

/// What a subprocess step takes back from its child: only what it `sets`.
pub(super) fn child_results(p: &Process, step: StepIx, data: Data) -> Data {
    let sets = &p.step(step).sets;
    data.into_iter()
        .filter(|(k, _)| sets.iter().any(|ix| p.var(*ix).name == *k))
        .collect()
}

/// The ways out of a step that are not timeouts, in order.
pub(super) fn ways_out(p: &Process, s: StepIx) -> Vec<EdgeIx> {
    p.step(s)
        .outgoing
        .iter()
        .copied()
        .filter(|e| !matches!(p.edge(*e).kind, EdgeKind::Timeout))
        .collect()
}

/// The probability of each way out, when every way has one.
pub(super) fn probabilities(p: &Process, s: StepIx) -> Option<Vec<f64>> {
    ways_out(p, s).iter().map(|e| p.edge(*e).kind.probability()).collect()
}

/// The branches of an inclusive decision with their probabilities, when
/// every branch has one.
pub(super) fn branch_probabilities(p: &Process, s: StepIx) -> Option<Vec<(EdgeIx, f64)>> {
    ways_out(p, s)
        .into_iter()
        .filter(|e| matches!(p.edge(*e).kind, EdgeKind::Branch { .. }))
        .map(|e| p.edge(e).kind.probability().map(|x| (e, x)))
        .collect()
}
