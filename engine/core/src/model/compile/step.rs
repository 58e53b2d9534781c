//! One step of a definition compiled: its edges by kind, its timeout, its
//! task fields, what it waits for, receives or calls, and the checks of each.
//! `Compiler::step` reads as the list of those parts, each a function here.

use std::collections::HashMap;

use super::{CompileContext, Compiler, MAX_INCLUSIVE_BRANCHES};
use crate::definition::duration::Duration;
use crate::definition::{EachDef, EachOrder, NextDef, SStr, StepDef, StepKind, WaitsOn};
use crate::diagnostic::{suggest, Place};
use crate::model::{
    Condition, Each, Edge, EdgeIx, EdgeKind, Instances, ProcessId, RoleIx, Spec, Step, StepIx, Tag, TagSet, TaskMode,
    Trigger, VarIx, VarType, WaitFor,
};

/// What a step's references are resolved against.
pub(super) struct Names<'a> {
    pub steps: &'a HashMap<String, StepIx>,
    pub roles: &'a HashMap<&'a str, RoleIx>,
    pub vars: &'a HashMap<&'a str, VarIx>,
    pub ctx: &'a CompileContext,
}

/// The edges a step adds to the process, as it adds them.
struct Out<'e> {
    from: StepIx,
    edges: &'e mut Vec<Edge>,
    /// This step's edges, in the order written.
    outgoing: Vec<EdgeIx>,
}

/// A task's fields: who does it and what it reads and writes.
struct TaskFields {
    performer: Option<RoleIx>,
    mode: TaskMode,
    tags: TagSet,
    shows: Vec<VarIx>,
    sets: Vec<VarIx>,
    compute: Vec<(VarIx, Condition)>,
    topic: Option<String>,
    each: Option<Box<Each>>,
}

impl Compiler {
    /// Compiles step `s` (at `ix`; `following` is the step written after it),
    /// adding its edges to `edges`.
    pub(super) fn step(
        &mut self,
        s: &StepDef,
        following: Option<&StepDef>,
        ix: StepIx,
        names: &Names<'_>,
        edges: &mut Vec<Edge>,
    ) -> Step {
        let place = Place::of(&s.id);
        self.fields_for_kind(s);
        let mut out = Out {
            from: ix,
            edges,
            outgoing: Vec::new(),
        };
        match s.kind {
            StepKind::Decision | StepKind::Inclusive => self.decision_edges(s, names, &mut out),
            StepKind::Parallel => self.parallel_edges(s, names, &mut out),
            StepKind::First => self.arm_edges(s, names, &mut out),
            StepKind::End | StepKind::Terminate => {}
            _ => self.next_edge(s, following, names, &mut out),
        }
        let timeout = self.timeout(s, names, &mut out);
        self.title_check(s);
        let task = self.task_fields(s, names);
        let duration = s.duration.as_ref().and_then(|d| self.distribution(d));
        let deadline = s
            .deadline
            .as_ref()
            .and_then(|d| self.deadline(d, names.roles, names.vars, place.clone(), names.steps));
        let wait = self.wait(s, names);
        self.receive_check(s);
        let correlation = s
            .correlation
            .as_ref()
            .and_then(|c| self.condition(c, names.vars, "the correlation key"));
        let calls = self.calls(s, names);
        self.outcome_check(s);
        let schedule = s.schedule.as_ref().and_then(|sch| self.schedule(sch, place.clone()));
        let message = s.message.as_ref().map(|m| m.value.clone());
        // A kind whose required field is missing was reported above; its
        // step holds `Gateway` and the process is not built.
        let spec = match s.kind {
            StepKind::Start => Spec::Start { schedule, message },
            StepKind::Task => Spec::Task {
                performer: task.performer,
                mode: task.mode,
                shows: task.shows,
                compute: task.compute,
                topic: task.topic,
                each: task.each,
            },
            StepKind::Wait => wait.map_or(Spec::Gateway, Spec::Wait),
            StepKind::Receive => message.map_or(Spec::Gateway, |message| Spec::Receive { message, correlation }),
            StepKind::First => Spec::First { correlation },
            StepKind::Subprocess => calls.map_or(Spec::Gateway, Spec::Subprocess),
            StepKind::End | StepKind::Terminate => Spec::End(s.outcome.as_ref().map(|o| o.value.clone())),
            StepKind::Decision | StepKind::Inclusive | StepKind::InclusiveJoin | StepKind::Parallel => Spec::Gateway,
            // Checked against its incoming branches once all edges are known.
            StepKind::Join => s
                .needs
                .as_ref()
                .map_or(Spec::Gateway, |n| Spec::PartialJoin { needs: n.value }),
        };
        Step {
            id: s.id.value.clone(),
            title: s.title.clone().unwrap_or_else(|| s.id.value.clone()),
            title_en: s.title_en.clone(),
            kind: s.kind,
            tags: task.tags,
            value: s.value,
            sets: task.sets,
            duration,
            deadline,
            timeout,
            waits_on_citizen: s.waits_on == Some(WaitsOn::Citizen),
            spec,
            outgoing: out.outgoing,
            incoming: Vec::new(),
            place,
        }
    }

    /// Adds an edge from the step to `target`, or reports a target that is
    /// not a step of the process.
    fn edge_to(&mut self, s: &StepDef, names: &Names<'_>, out: &mut Out<'_>, target: &SStr, kind: EdgeKind) {
        match names.steps.get(&target.value) {
            Some(&to) => {
                out.outgoing.push(EdgeIx(out.edges.len() as u32));
                out.edges.push(Edge {
                    from: out.from,
                    to,
                    kind,
                    place: Place::of(target),
                });
            }
            None => {
                let help = suggest(
                    &target.value,
                    names.steps.keys().map(String::as_str),
                    "write the id of a step of this process".to_owned(),
                );
                self.err(
                    "dangling-reference",
                    Place::of(target),
                    format!(
                        "step `{}` goes to `{}`, which is not a step of this process",
                        s.id.value, target.value
                    ),
                    help,
                );
            }
        }
    }

    /// A decision's or inclusive decision's branches and `otherwise`, with
    /// their probabilities.
    fn decision_edges(&mut self, s: &StepDef, names: &Names<'_>, out: &mut Out<'_>) {
        let (kind, place) = (s.kind, Place::of(&s.id));
        if kind == StepKind::Inclusive && s.branches.len() > MAX_INCLUSIVE_BRANCHES {
            self.err(
                "too-many-branches",
                place.clone(),
                format!(
                    "inclusive `{}` has {} branches, more than {MAX_INCLUSIVE_BRANCHES}",
                    s.id.value,
                    s.branches.len()
                ),
                "every combination of branches must be checked; group related branches into sub-decisions",
            );
        }
        if s.branches.is_empty() {
            self.err(
                "missing-branches",
                place.clone(),
                format!("{} `{}` has no `branches`", kind.name(), s.id.value),
                "list the ways out: `branches: [{when: \"…\", next: step}]`, and an `otherwise`",
            );
        }
        let mut probs: Vec<(f64, Place)> = Vec::new();
        for b in &s.branches {
            let p = b.probability.as_ref().map(|p| (p.value, Place::of(p)));
            if let Some(cond) = self.condition(&b.when, names.vars, "the condition") {
                self.edge_to(
                    s,
                    names,
                    out,
                    &b.next,
                    EdgeKind::Branch {
                        condition: cond,
                        probability: p.as_ref().map(|x| x.0),
                    },
                );
            } else if !names.steps.contains_key(&b.next.value) {
                // Still resolve the target so its errors show too.
                self.edge_to(s, names, out, &b.next, EdgeKind::Next);
            }
            probs.extend(p);
        }
        match &s.otherwise {
            Some(o) => {
                let p = o.probability.as_ref().map(|p| (p.value, Place::of(p)));
                if kind == StepKind::Inclusive {
                    if let Some((_, pl)) = &p {
                        self.err("bad-probability", pl.clone(), "`otherwise` of an inclusive decision has no probability: it is taken exactly when no branch is", "remove it; give each branch its own chance instead");
                    }
                }
                self.edge_to(
                    s,
                    names,
                    out,
                    &o.next,
                    EdgeKind::Otherwise {
                        probability: p.as_ref().map(|x| x.0),
                    },
                );
                if kind == StepKind::Decision {
                    probs.extend(p);
                }
            }
            None => self.err(
                "missing-otherwise",
                place.clone(),
                format!("{} `{}` has no `otherwise`", kind.name(), s.id.value),
                "add `otherwise: {next: step}` so that a case never gets stuck when no condition holds",
            ),
        }
        self.probabilities(s, kind, &probs, place);
    }

    /// A first-come choice's arms: each a message or a timer and its way
    /// out; messages told apart by name.
    fn arm_edges(&mut self, s: &StepDef, names: &Names<'_>, out: &mut Out<'_>) {
        let place = Place::of(&s.id);
        match s.arms.len() {
            0 => self.err(
                "missing-arms",
                place.clone(),
                format!("first `{}` has no `arms`", s.id.value),
                "list what it waits for: `arms: [{message: objection, next: appeal}, {after: 10 legal days, next: ruling-final}]`",
            ),
            1 => self.warn(
                "useless-gateway",
                place.clone(),
                format!("first `{}` waits for only one thing", s.id.value),
                "a `receive` (with a `timeout`) or a `wait` says this; or add the other arms",
            ),
            _ => {}
        }
        let mut messages: Vec<&str> = Vec::new();
        let mut probs: Vec<(f64, Place)> = Vec::new();
        for a in &s.arms {
            let given = [a.message.is_some(), a.after.is_some(), a.until_data.is_some()]
                .iter()
                .filter(|b| **b)
                .count();
            let trigger = if given != 1 {
                self.err(
                    "bad-arm",
                    Place::of(&a.next),
                    format!(
                        "an arm of `{}` must give exactly one of `message`, `after` and `until_data`",
                        s.id.value
                    ),
                    "e.g. `{message: objection, next: register-appeal}` or `{after: 10 legal days, next: ruling-final}`",
                );
                None
            } else if let Some(m) = &a.message {
                if messages.contains(&m.value.as_str()) {
                    self.err(
                        "duplicate-arm",
                        Place::of(m),
                        format!("`{}` waits for message `{}` twice", s.id.value, m.value),
                        "a message takes one way out; keep one arm for it",
                    );
                }
                messages.push(&m.value);
                Some(Trigger::Message(m.value.clone()))
            } else if let Some(d) = &a.after {
                self.duration(d, "arm").map(|d| Trigger::Timer(WaitFor::Duration(d)))
            } else {
                a.until_data
                    .as_ref()
                    .and_then(|v| self.date_var(v, names, "until_data"))
                    .map(|ix| Trigger::Timer(WaitFor::UntilData(ix)))
            };
            let p = a.probability.as_ref().map(|p| (p.value, Place::of(p)));
            match trigger {
                Some(trigger) => self.edge_to(
                    s,
                    names,
                    out,
                    &a.next,
                    EdgeKind::Arm {
                        trigger,
                        probability: p.as_ref().map(|x| x.0),
                    },
                ),
                // Still resolve the target so its errors show too.
                None if !names.steps.contains_key(&a.next.value) => {
                    self.edge_to(s, names, out, &a.next, EdgeKind::Next)
                }
                None => {}
            }
            probs.extend(p);
        }
        self.probabilities(s, s.kind, &probs, place);
    }

    /// A variable that must hold a date (`until_data` of a wait or an arm).
    fn date_var(&mut self, v: &SStr, names: &Names<'_>, field: &str) -> Option<VarIx> {
        let ix = self.var(v, names.vars, "wait until")?;
        if self.var_types.get(ix.ix()) != Some(&VarType::Date) {
            self.err(
                "wrong-type",
                Place::of(v),
                format!("`{field}: {}` must name a `date` variable", v.value),
                "declare the variable with `type: date`",
            );
            return None;
        }
        Some(ix)
    }

    /// A parallel split's branches: two or more.
    fn parallel_edges(&mut self, s: &StepDef, names: &Names<'_>, out: &mut Out<'_>) {
        let place = Place::of(&s.id);
        match &s.next {
            Some(NextDef::Many(v)) if v.len() >= 2 => {
                for t in v {
                    self.edge_to(s, names, out, t, EdgeKind::Next);
                }
            }
            Some(n) => {
                let p = n.targets().first().map(Place::of).unwrap_or(place);
                for t in n.targets() {
                    self.edge_to(s, names, out, t, EdgeKind::Next);
                }
                self.warn(
                    "useless-gateway",
                    p,
                    format!("parallel `{}` starts only one branch", s.id.value),
                    "a parallel split needs two or more steps in `next: [a, b]`; or remove it",
                );
            }
            None => self.err(
                "missing-next",
                place,
                format!("parallel `{}` has no `next`", s.id.value),
                "list the steps that start at once: `next: [a, b]`",
            ),
        }
    }

    /// Any other step's one way on: its `next`, or the step written below it.
    fn next_edge(&mut self, s: &StepDef, following: Option<&StepDef>, names: &Names<'_>, out: &mut Out<'_>) {
        let place = Place::of(&s.id);
        match &s.next {
            Some(NextDef::One(t)) => self.edge_to(s, names, out, t, EdgeKind::Next),
            Some(NextDef::Many(v)) => {
                let p = v.first().map(Place::of).unwrap_or(place);
                self.err("many-next", p, format!("{} `{}` has several `next` steps", s.kind.name(), s.id.value), "only a `parallel` step starts several steps at once; add one, or a `decision`");
            }
            None => match following {
                Some(f) if f.kind != StepKind::Start => self.edge_to(s, names, out, &f.id, EdgeKind::Next),
                _ => self.err(
                    "missing-next",
                    place,
                    format!("`{}` is the last step and has no `next`", s.id.value),
                    "a step without `next` continues with the step below it; end the list with an `end` step, or write `next:`",
                ),
            },
        }
    }

    /// An interrupting timer and the edge it takes.
    fn timeout(&mut self, s: &StepDef, names: &Names<'_>, out: &mut Out<'_>) -> Option<(Duration, EdgeIx)> {
        let t = s.timeout.as_ref()?;
        let d = self.duration(&t.after, "timeout")?;
        let before = out.outgoing.len();
        self.edge_to(s, names, out, &t.next, EdgeKind::Timeout);
        (out.outgoing.len() > before).then(|| (d, out.outgoing[before]))
    }

    /// Steps people see need a title.
    fn title_check(&mut self, s: &StepDef) {
        if s.title.is_none()
            && matches!(
                s.kind,
                StepKind::Task | StepKind::Wait | StepKind::Receive | StepKind::First | StepKind::Subprocess
            )
        {
            self.warn(
                "no-title",
                Place::of(&s.id),
                format!("step `{}` has no title", s.id.value),
                "give it a human title, e.g. `title: بازدید از محل` and `title_en: Site visit`",
            );
        }
    }

    /// Performer, mode, tags, and the variables a step shows, sets and
    /// computes.
    fn task_fields(&mut self, s: &StepDef, names: &Names<'_>) -> TaskFields {
        let (kind, place) = (s.kind, Place::of(&s.id));
        let performer = s
            .performer
            .as_ref()
            .and_then(|p| self.role(p, names.roles, "performer"));
        let mode = s.mode.unwrap_or_default();
        if kind == StepKind::Task && performer.is_none() && s.performer.is_none() && mode != TaskMode::Service {
            self.warn(
                "no-performer",
                place.clone(),
                format!("task `{}` has no performer", s.id.value),
                "say who does it: `performer: <role>`; automatic steps are `mode: service`",
            );
        }
        let tags = self.tags(s);
        let vars = names.vars;
        let shows = s
            .shows
            .iter()
            .filter_map(|v| self.var(v, vars, "shown variable"))
            .collect();
        let sets: Vec<VarIx> = s
            .sets
            .iter()
            .filter_map(|v| self.var(v, vars, "set variable"))
            .collect();
        let compute = s
            .compute
            .iter()
            .filter_map(|c| {
                Some((
                    self.var(&c.set, vars, "computed variable")?,
                    self.condition(&c.to, vars, "the computation")?,
                ))
            })
            .collect();
        let automatic = kind == StepKind::Task && mode == TaskMode::Service;
        if let Some(t) = &s.topic {
            if !automatic {
                self.err(
                    "field-not-for-kind",
                    Place::of(t),
                    format!(
                        "`topic` applies only to automatic tasks (`mode: service`), not to `{}`",
                        s.id.value
                    ),
                    "make the step `mode: service`: its jobs are done by an outside program",
                );
            } else if !s.compute.is_empty() {
                self.err(
                    "field-not-for-kind",
                    Place::of(t),
                    format!("step `{}` both computes and waits for a worker's job", s.id.value),
                    "keep `compute` (Ravand works it out at once) or `topic` (an outside program does), not both",
                );
            } else if t.value.is_empty()
                || !t
                    .value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            {
                self.err(
                    "bad-topic",
                    Place::of(t),
                    format!("topic `{}` is not a name", t.value),
                    "use letters, digits, `-`, `_` and `.`, e.g. `topic: sms`",
                );
            }
        }
        let topic = s.topic.as_ref().filter(|_| automatic).map(|t| t.value.clone());
        if !s.compute.is_empty() && !automatic {
            self.err(
                "field-not-for-kind",
                place,
                format!(
                    "`compute` applies only to automatic tasks (`mode: service`), not to `{}`",
                    s.id.value
                ),
                "make the step `mode: service`, or let the performer `sets:` the value",
            );
        }
        let each = s.each.as_ref().and_then(|e| self.each(s, e, &sets, names));
        TaskFields {
            performer,
            mode,
            tags,
            shows,
            sets,
            compute,
            topic,
            each,
        }
    }

    /// A task's multiple instances: a list or a count, the item's variable,
    /// the order, the completion condition, the list gathering the values.
    fn each(&mut self, s: &StepDef, e: &EachDef, sets: &[VarIx], names: &Names<'_>) -> Option<Box<Each>> {
        let place = Place::of(&s.id);
        if s.kind != StepKind::Task || s.mode == Some(TaskMode::Service) {
            self.err(
                "field-not-for-kind",
                place,
                format!(
                    "`each` applies only to a person's task (`mode: user` or `manual`), not to `{}`",
                    s.id.value
                ),
                "make it a task done by a role; an outside program's jobs are one per step",
            );
            return None;
        }
        let list = |c: &mut Self, v: &SStr, field: &str| -> Option<VarIx> {
            let ix = c.var(v, names.vars, field)?;
            if c.var_types.get(ix.ix()) != Some(&VarType::List) {
                c.err(
                    "wrong-type",
                    Place::of(v),
                    format!("`{field}: {}` must name a `list` variable", v.value),
                    "declare the variable with `type: list`",
                );
                return None;
            }
            Some(ix)
        };
        let instances = match (&e.over, &e.count) {
            (Some(v), None) => Instances::Over(list(self, v, "over")?),
            (None, Some(c)) => {
                if e.item.is_some() {
                    self.err(
                        "bad-each",
                        place.clone(),
                        format!(
                            "step `{}` counts its instances, so they have no item to see `as`",
                            s.id.value
                        ),
                        "use `over: <list variable>` for an item per instance, or remove `as`",
                    );
                }
                Instances::Count(self.condition(c, names.vars, "the number of instances")?)
            }
            (over, _) => {
                let msg = if over.is_some() {
                    format!("step `{}` gives both `over` and `count`", s.id.value)
                } else {
                    format!("step `{}` does not say how many instances it makes", s.id.value)
                };
                self.err(
                    "bad-each",
                    place,
                    msg,
                    "give `over: <list variable>` (one per item) or `count: \"<expression>\"`, not both",
                );
                return None;
            }
        };
        let item = e.item.as_ref().and_then(|v| self.var(v, names.vars, "instance item"));
        let gather = e.gather.as_ref().and_then(|v| list(self, v, "gather"));
        for (name, def, ix) in [("as", &e.item, item), ("gather", &e.gather, gather)] {
            if let (Some(v), Some(_)) = (def, ix.filter(|ix| sets.contains(ix))) {
                self.err(
                    "bad-each",
                    Place::of(v),
                    format!("`{name}` names `{}`, which the step also `sets`", v.value),
                    "an instance's values go into `gather`; name another variable",
                );
            }
        }
        if !sets.is_empty() && e.gather.is_none() {
            self.err(
                "bad-each",
                Place::of(&s.id),
                format!("the values each instance of `{}` sets would be lost", s.id.value),
                "add `gather: <list variable>` to keep one map of values per instance",
            );
        }
        let until = e
            .until
            .as_ref()
            .and_then(|c| self.condition(c, names.vars, "the completion condition"));
        Some(Box::new(Each {
            instances,
            item,
            sequential: e.order == Some(EachOrder::Sequential),
            until,
            gather,
        }))
    }

    /// A step's tags: known, each once; discretion rests on an approval.
    fn tags(&mut self, s: &StepDef) -> TagSet {
        let mut tags = TagSet::default();
        for t in &s.tags {
            match Tag::from_name(&t.value) {
                Some(tag) => {
                    if !tags.insert(tag) {
                        self.warn(
                            "duplicate-tag",
                            Place::of(t),
                            format!("tag `{}` is written twice", t.value),
                            "remove one",
                        );
                    }
                }
                None => {
                    let all: Vec<&str> = Tag::ALL.iter().map(|t| t.name()).collect();
                    let help = suggest(&t.value, all.iter().copied(), format!("tags are: {}", all.join(", ")));
                    self.err("unknown-tag", Place::of(t), format!("`{}` is not a tag", t.value), help);
                }
            }
        }
        if tags.contains(Tag::Discretionary) && !(tags.contains(Tag::Approval) || tags.contains(Tag::Signature)) {
            self.warn("discretionary-without-approval", Place::of(&s.id), format!("`{}` is discretionary but neither an approval nor a signature", s.id.value), "a discretionary step is an approval or signature that rests on one person's judgement; tag it `approval` or `signature` too");
        }
        tags
    }

    /// What a `wait` step waits for: exactly one of a duration, a date and a
    /// date variable.
    fn wait(&mut self, s: &StepDef, names: &Names<'_>) -> Option<WaitFor> {
        let place = Place::of(&s.id);
        if s.kind == StepKind::Wait && s.wait.is_none() {
            self.err(
                "bad-wait",
                place.clone(),
                format!("wait `{}` does not say what it waits for", s.id.value),
                "add `wait: {duration: 10 working days}` (or `until:` a date, or `until_data:` a date variable)",
            );
        }
        let w = s.wait.as_ref()?;
        let given = [w.duration.is_some(), w.until.is_some(), w.until_data.is_some()]
            .iter()
            .filter(|b| **b)
            .count();
        if given != 1 {
            self.err(
                "bad-wait",
                place,
                format!(
                    "wait `{}` must give exactly one of `duration`, `until` and `until_data`",
                    s.id.value
                ),
                "e.g. `wait: {duration: 10 working days}`",
            );
            return None;
        }
        if let Some(d) = &w.duration {
            return self.duration(d, "wait").map(WaitFor::Duration);
        }
        if let Some(u) = &w.until {
            return match crate::definition::parse_local_datetime(&u.value) {
                Ok(t) => Some(WaitFor::Until(t)),
                Err(e) => {
                    self.err(
                        "bad-date",
                        Place::of(u),
                        e,
                        "write a Gregorian `2026-03-20T09:00` or a Solar Hijri `1405-01-15` date",
                    );
                    None
                }
            };
        }
        let v = w.until_data.as_ref()?;
        self.date_var(v, names, "until_data").map(WaitFor::UntilData)
    }

    /// A receive names its message.
    fn receive_check(&mut self, s: &StepDef) {
        if s.kind == StepKind::Receive && s.message.is_none() {
            self.err(
                "missing-message",
                Place::of(&s.id),
                format!("receive `{}` has no `message`", s.id.value),
                "name the message it waits for, e.g. `message: payment-confirmed`",
            );
        }
    }

    /// The process a subprocess step calls, checked against the processes
    /// validated with it.
    fn calls(&mut self, s: &StepDef, names: &Names<'_>) -> Option<ProcessId> {
        if s.kind == StepKind::Subprocess && s.process.is_none() {
            self.err(
                "missing-process",
                Place::of(&s.id),
                format!("subprocess `{}` does not say which process it calls", s.id.value),
                "add `process: <process id>`",
            );
        }
        let p = s.process.as_ref()?;
        if let Some(known) = &names.ctx.processes {
            if !known.iter().any(|k| k == &p.value) {
                let help = suggest(
                    &p.value,
                    known.iter().map(String::as_str),
                    "validate it together with the file that defines the called process".to_owned(),
                );
                self.warn(
                    "unknown-process",
                    Place::of(p),
                    format!(
                        "subprocess `{}` calls `{}`, which is not among the processes validated",
                        s.id.value, p.value
                    ),
                    help,
                );
            }
        }
        Some(ProcessId(p.value.clone()))
    }

    /// An end says how the case ended.
    fn outcome_check(&mut self, s: &StepDef) {
        if matches!(s.kind, StepKind::End | StepKind::Terminate) && s.outcome.is_none() {
            self.warn(
                "no-outcome",
                Place::of(&s.id),
                format!("{} `{}` has no `outcome`", s.kind.name(), s.id.value),
                "say how the case ended, e.g. `outcome: issued` or `outcome: rejected`",
            );
        }
    }

    fn probabilities(&mut self, s: &StepDef, kind: StepKind, probs: &[(f64, Place)], place: Place) {
        for (p, pl) in probs {
            if !(0.0..=1.0).contains(p) || p.is_nan() {
                self.err(
                    "bad-probability",
                    pl.clone(),
                    format!("probability {p} is not between 0 and 1"),
                    "write a chance such as `0.25`",
                );
            }
        }
        let ways = match kind {
            StepKind::Decision => s.branches.len() + usize::from(s.otherwise.is_some()),
            StepKind::First => s.arms.len(),
            _ => return,
        };
        if probs.is_empty() {
            return;
        }
        if probs.len() != ways {
            let help = if kind == StepKind::First {
                "give every arm a probability, or none of them"
            } else {
                "give every branch and `otherwise` a probability, or none of them"
            };
            self.err(
                "bad-probability",
                place,
                format!(
                    "{} `{}` gives probabilities to some ways out but not all",
                    kind.name(),
                    s.id.value
                ),
                help,
            );
            return;
        }
        let sum: f64 = probs.iter().map(|(p, _)| p).sum();
        if (sum - 1.0).abs() > 1e-6 {
            self.err(
                "bad-probability",
                place,
                format!(
                    "the probabilities of {} `{}` add up to {sum:.4}, not 1",
                    kind.name(),
                    s.id.value
                ),
                "exactly one way is taken, so the chances must sum to 1",
            );
        }
    }

    /// Reports fields that do not belong to the step's kind.
    fn fields_for_kind(&mut self, s: &StepDef) {
        use StepKind::*;
        let k = s.kind;
        let work = matches!(k, Task | Wait | Receive | First | Subprocess);
        let checks: [(&str, bool, bool); 19] = [
            ("performer", s.performer.is_some(), k == Task),
            ("mode", s.mode.is_some(), k == Task),
            ("tags", !s.tags.is_empty(), work),
            ("value", s.value.is_some(), work),
            ("shows", !s.shows.is_empty(), k == Task),
            (
                "sets",
                !s.sets.is_empty(),
                matches!(k, Task | Receive | First | Subprocess),
            ),
            (
                "duration",
                s.duration.is_some(),
                matches!(k, Task | Receive | First | Subprocess),
            ),
            ("deadline", s.deadline.is_some(), matches!(k, Task | Subprocess)),
            ("timeout", s.timeout.is_some(), matches!(k, Task | Receive | Subprocess)),
            ("waits_on", s.waits_on.is_some(), work),
            ("branches", !s.branches.is_empty(), matches!(k, Decision | Inclusive)),
            ("otherwise", s.otherwise.is_some(), matches!(k, Decision | Inclusive)),
            ("arms", !s.arms.is_empty(), k == First),
            ("needs", s.needs.is_some(), k == Join),
            ("wait", s.wait.is_some(), k == Wait),
            ("message", s.message.is_some(), matches!(k, Receive | Start)),
            ("correlation", s.correlation.is_some(), matches!(k, Receive | First)),
            ("process", s.process.is_some(), k == Subprocess),
            ("outcome", s.outcome.is_some(), matches!(k, End | Terminate)),
        ];
        for (field, present, allowed) in checks {
            if present && !allowed {
                self.err(
                    "field-not-for-kind",
                    Place::of(&s.id),
                    format!("`{field}` does not apply to a {} step (`{}`)", k.name(), s.id.value),
                    format!("remove `{field}`, or change `kind:`"),
                );
            }
        }
        if s.schedule.is_some() && k != Start {
            self.err(
                "field-not-for-kind",
                Place::of(&s.id),
                format!("`schedule` applies only to the start step, not to `{}`", s.id.value),
                "move it to the `start` step",
            );
        }
        if s.next.is_some() && matches!(k, End | Terminate | Decision | Inclusive | First) {
            let help = if matches!(k, Decision | Inclusive) {
                "a decision leaves by its `branches` and `otherwise`"
            } else if k == First {
                "a first-come choice leaves by its `arms`: give each its `next`"
            } else {
                "nothing follows an end"
            };
            self.err(
                "field-not-for-kind",
                Place::of(&s.id),
                format!("`next` does not apply to a {} step (`{}`)", k.name(), s.id.value),
                help,
            );
        }
    }
}
