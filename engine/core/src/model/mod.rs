//! The compiled process: an immutable, indexed graph that the validator,
//! measurement, rendering and the runtime read.
//!
//! Owns: [`Process`] and its parts (steps, edges, conditions, deadlines) with
//! every reference resolved to an index and every duration parsed, and
//! [`compile`], which builds it from a [`ProcessDef`] and reports, with their
//! places, the problems that stop it being built.
//!
//! Must not: parse text (that is `definition`) or judge the control flow as a
//! whole (reachability, soundness: that is `validate`).

mod compile;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

pub use compile::{compile, compile_distribution, compile_schedule, CompileContext, MAX_INCLUSIVE_BRANCHES};

pub use crate::definition::duration::{Basis, Duration};
pub use crate::definition::{EscalationAction, StepKind, Tag, TaskMode, ValueClass, VarType};
use crate::diagnostic::Place;

/// Index of a step in [`Process::steps`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct StepIx(pub u32);

impl StepIx {
    /// As an index into [`Process::steps`].
    pub fn ix(self) -> usize {
        self.0 as usize
    }
}

/// Index of an edge in [`Process::edges`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct EdgeIx(pub u32);

impl EdgeIx {
    /// As an index into [`Process::edges`].
    pub fn ix(self) -> usize {
        self.0 as usize
    }
}

/// Index of a role in [`Process::roles`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct RoleIx(pub u32);

impl RoleIx {
    /// As an index into [`Process::roles`].
    pub fn ix(self) -> usize {
        self.0 as usize
    }
}

/// Index of a variable in [`Process::variables`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct VarIx(pub u32);

impl VarIx {
    /// As an index into [`Process::variables`].
    pub fn ix(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for StepIx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Per incoming edge of an inclusive join: which steps can still reach it.
pub type Upstream = Vec<(EdgeIx, Vec<bool>)>;

/// A process id such as `building-permit`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProcessId(pub String);

impl fmt::Display for ProcessId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A set of [`Tag`]s as bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TagSet(u16);

impl TagSet {
    /// Adds `t`; whether it was not there yet.
    pub fn insert(&mut self, t: Tag) -> bool {
        let bit = 1u16 << (t as u16);
        let new = self.0 & bit == 0;
        self.0 |= bit;
        new
    }
    /// Whether `t` is in the set.
    pub fn contains(self, t: Tag) -> bool {
        self.0 & (1u16 << (t as u16)) != 0
    }
    /// The tags in the set, in [`Tag::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Tag> {
        Tag::ALL.into_iter().filter(move |t| self.contains(*t))
    }
    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// A compiled process definition.
#[derive(Debug)]
pub struct Process {
    /// Its id.
    pub id: ProcessId,
    /// Its version.
    pub version: u32,
    /// Its Persian title.
    pub title: String,
    /// Its English title.
    pub title_en: Option<String>,
    /// The calendar's name, if the process names one.
    pub calendar: Option<String>,
    /// Whether staff reads of its cases are recorded (classified files).
    pub restricted: bool,
    /// The roles, by [`RoleIx`].
    pub roles: Vec<Role>,
    /// The case variables, by [`VarIx`].
    pub variables: Vec<Variable>,
    /// The steps, by [`StepIx`], in the order written.
    pub steps: Vec<Step>,
    /// The edges, by [`EdgeIx`].
    pub edges: Vec<Edge>,
    /// The one `start` step.
    pub start: StepIx,
    /// A deadline on the whole case.
    pub deadline: Option<Deadline>,
    /// Steps some deadline counts `from`: their completion time is kept.
    pub anchors: Vec<bool>,
    by_id: HashMap<String, StepIx>,
    /// For each inclusive join, for each incoming edge: which steps can
    /// still reach that edge without passing through the join.
    upstream: std::sync::OnceLock<HashMap<StepIx, Upstream>>,
    /// For each partial join: the steps of the region it closes (see
    /// [`Process::feeds`]).
    regions: std::sync::OnceLock<HashMap<StepIx, Vec<bool>>>,
}

impl Process {
    /// The step at `ix`.
    pub fn step(&self, ix: StepIx) -> &Step {
        &self.steps[ix.ix()]
    }
    /// The edge at `ix`.
    pub fn edge(&self, ix: EdgeIx) -> &Edge {
        &self.edges[ix.ix()]
    }
    /// The step with this id.
    pub fn find(&self, id: &str) -> Option<StepIx> {
        self.by_id.get(id).copied()
    }
    /// The role at `ix`.
    pub fn role(&self, ix: RoleIx) -> &Role {
        &self.roles[ix.ix()]
    }
    /// The variable at `ix`.
    pub fn var(&self, ix: VarIx) -> &Variable {
        &self.variables[ix.ix()]
    }
    /// The variable named `name`.
    pub fn variable(&self, name: &str) -> Option<&Variable> {
        self.variables.iter().find(|v| v.name == name)
    }
    /// Every step's index, in order.
    pub fn step_ixs(&self) -> impl Iterator<Item = StepIx> {
        (0..self.steps.len() as u32).map(StepIx)
    }

    /// For a partial join: whether a token at step `s` is on a branch the
    /// join withdraws when it goes on. The branches are the region the join
    /// closes: the steps on a way from the join's immediate dominator (the
    /// split its branches start from, as a rule) to the join, passing
    /// through neither. False for every other join and step.
    pub fn feeds(&self, join: StepIx, s: StepIx) -> bool {
        let regions = self.regions.get_or_init(|| {
            self.step_ixs()
                .filter(|j| self.step(*j).needs().is_some())
                .map(|j| (j, self.region(j)))
                .collect()
        });
        regions.get(&join).is_some_and(|r| r[s.ix()])
    }

    /// The steps strictly between `join`'s immediate dominator and `join`.
    fn region(&self, join: StepIx) -> Vec<bool> {
        let n = self.steps.len();
        let mut g = petgraph::graphmap::DiGraphMap::<u32, ()>::new();
        for s in self.step_ixs() {
            g.add_node(s.0);
        }
        for e in &self.edges {
            g.add_edge(e.from.0, e.to.0, ());
        }
        let doms = petgraph::algo::dominators::simple_fast(&g, self.start.0);
        let Some(split) = doms.immediate_dominator(join.0).map(StepIx) else {
            return vec![false; n];
        };
        let walk = |from: StepIx, stop: StepIx, forward: bool| {
            let mut seen = vec![false; n];
            let mut todo = vec![from];
            while let Some(s) = todo.pop() {
                let step = self.step(s);
                let edges = if forward { &step.outgoing } else { &step.incoming };
                for e in edges {
                    let t = if forward { self.edge(*e).to } else { self.edge(*e).from };
                    if t != stop && t != from && !std::mem::replace(&mut seen[t.ix()], true) {
                        todo.push(t);
                    }
                }
            }
            seen
        };
        let after = walk(split, join, true);
        let before = walk(join, split, false);
        after.iter().zip(&before).map(|(a, b)| *a && *b).collect()
    }

    /// The way on from a step that is not a timeout: its `next`.
    pub fn next_edge(&self, s: StepIx) -> Option<EdgeIx> {
        self.step(s)
            .outgoing
            .iter()
            .copied()
            .find(|e| !matches!(self.edge(*e).kind, EdgeKind::Timeout))
    }

    /// For an inclusive join: per incoming edge, the steps from which it can
    /// be reached without passing through the join (computed once).
    pub fn upstream_of(&self, join: StepIx) -> &[(EdgeIx, Vec<bool>)] {
        let map = self.upstream.get_or_init(|| {
            let mut map = HashMap::new();
            for j in self
                .step_ixs()
                .filter(|j| self.step(*j).kind == StepKind::InclusiveJoin)
            {
                let mut per = Vec::new();
                for &f in &self.step(j).incoming {
                    let mut can = vec![false; self.steps.len()];
                    let mut todo = vec![self.edge(f).from];
                    while let Some(s) = todo.pop() {
                        if s == j || std::mem::replace(&mut can[s.ix()], true) {
                            continue;
                        }
                        todo.extend(self.step(s).incoming.iter().map(|e| self.edge(*e).from));
                    }
                    per.push((f, can));
                }
                map.insert(j, per);
            }
            map
        });
        map.get(&join).map_or(&[], Vec::as_slice)
    }
}

/// A role: whose list a task is on.
#[derive(Debug, Clone)]
pub struct Role {
    /// Its id.
    pub id: String,
    /// Its Persian title.
    pub title: String,
    /// The organisational unit it belongs to.
    pub unit: Option<String>,
    /// The organisation above that unit.
    pub organisation: Option<String>,
}

/// A case variable.
#[derive(Debug, Clone)]
pub struct Variable {
    /// Its name.
    pub name: String,
    /// Its type.
    pub ty: VarType,
    /// Its Persian title.
    pub title: Option<String>,
    /// For an enum: its values.
    pub values: Vec<String>,
    /// Whether a case must start with it.
    pub required: bool,
    /// Whether cases are found by its value (a searchable key).
    pub searchable: bool,
}

/// A step of the compiled process.
#[derive(Debug)]
pub struct Step {
    /// Its id.
    pub id: String,
    /// Its Persian title (the id when none is written).
    pub title: String,
    /// Its English title.
    pub title_en: Option<String>,
    /// What kind of step it is.
    pub kind: StepKind,
    /// What kind of work it is.
    pub tags: TagSet,
    /// Its value class (lean analysis).
    pub value: Option<ValueClass>,
    /// Variables a task, receive or subprocess sets.
    pub sets: Vec<VarIx>,
    /// How long it takes, for simulation.
    pub duration: Option<Distribution>,
    /// Its deadline and escalation ladder.
    pub deadline: Option<Deadline>,
    /// An interrupting timer: its duration, and the edge taken when it fires.
    pub timeout: Option<(Duration, EdgeIx)>,
    /// Whether the case waits on the citizen here (case clocks that pause for the citizen stop).
    pub waits_on_citizen: bool,
    /// What only its kind has (a receive's message, a subprocess's
    /// process, a wait's instant, a task's performer, …).
    pub spec: Spec,
    /// Edges out, in the order written: `next` (or branches, then
    /// `otherwise`), then the timeout edge if any.
    pub outgoing: Vec<EdgeIx>,
    /// Edges in.
    pub incoming: Vec<EdgeIx>,
    /// Where the step's id is written.
    pub place: Place,
}

/// How many instances of a task a case makes when it gets there.
#[derive(Debug)]
pub enum Instances {
    /// One per item of a `list` variable.
    Over(VarIx),
    /// As many as an expression over case data gives.
    Count(Condition),
}

/// Multiple instances of a task (`each:`).
#[derive(Debug)]
pub struct Each {
    /// How many, and of what.
    pub instances: Instances,
    /// The variable each instance sees its item as.
    pub item: Option<VarIx>,
    /// One after the other rather than all at once.
    pub sequential: bool,
    /// Read after each instance is done: when it holds, the rest are withdrawn.
    pub until: Option<Condition>,
    /// The `list` variable gathering each done instance's values.
    pub gather: Option<VarIx>,
}

/// The fields only some kinds of step have. A receive always has its
/// message, a subprocess the process it calls, a wait what it waits for: by
/// construction, not by a check at each use.
#[derive(Debug)]
pub enum Spec {
    /// A start: a recurring schedule, or the message that starts a case.
    Start {
        /// When cases start on their own.
        schedule: Option<Schedule>,
        /// The message that starts a case.
        message: Option<String>,
    },
    /// A task: a person's, or an automatic one.
    Task {
        /// Whose list it goes on.
        performer: Option<RoleIx>,
        /// User, manual or service.
        mode: TaskMode,
        /// Variables it shows.
        shows: Vec<VarIx>,
        /// For a service task: variables computed by rule, in order.
        compute: Vec<(VarIx, Condition)>,
        /// For a service task done by an outside worker: its jobs' topic.
        topic: Option<String>,
        /// Multiple instances of the task, when it has them.
        each: Option<Box<Each>>,
    },
    /// A wait, and what it waits for.
    Wait(WaitFor),
    /// A receive.
    Receive {
        /// The message it waits for.
        message: String,
        /// The key that matches a message to this case.
        correlation: Option<Condition>,
    },
    /// A first-come choice: its arms are its outgoing edges
    /// ([`EdgeKind::Arm`]); the message arms share one correlation key.
    First {
        /// The key that matches its messages to this case.
        correlation: Option<Condition>,
    },
    /// A join that goes on after `needs` of its incoming branches (fewer
    /// than all) and withdraws the rest.
    PartialJoin {
        /// How many branches it waits for.
        needs: u32,
    },
    /// A subprocess call, and the process it calls.
    Subprocess(ProcessId),
    /// An end or a terminate, and how the case ends there.
    End(Option<String>),
    /// A decision, split or join: its edges are all it has. (Also what a step
    /// whose own fields did not compile holds; such a process is never
    /// built, see [`compile`].)
    Gateway,
}

impl Step {
    /// For a task: whose list it goes on.
    pub fn performer(&self) -> Option<RoleIx> {
        match &self.spec {
            Spec::Task { performer, .. } => *performer,
            _ => None,
        }
    }
    /// For a task: user, manual or service (the default for other steps).
    pub fn mode(&self) -> TaskMode {
        match &self.spec {
            Spec::Task { mode, .. } => *mode,
            _ => TaskMode::default(),
        }
    }
    /// Variables a task shows.
    pub fn shows(&self) -> &[VarIx] {
        match &self.spec {
            Spec::Task { shows, .. } => shows,
            _ => &[],
        }
    }
    /// The topic an outside worker fetches this service task's jobs by.
    pub fn topic(&self) -> Option<&str> {
        match &self.spec {
            Spec::Task { topic, .. } => topic.as_deref(),
            _ => None,
        }
    }
    /// A task's multiple instances, when it has them.
    pub fn each(&self) -> Option<&Each> {
        match &self.spec {
            Spec::Task { each, .. } => each.as_deref(),
            _ => None,
        }
    }
    /// Variables a service task computes, in order.
    pub fn compute(&self) -> &[(VarIx, Condition)] {
        match &self.spec {
            Spec::Task { compute, .. } => compute,
            _ => &[],
        }
    }
    /// What a wait waits for.
    pub fn wait(&self) -> Option<&WaitFor> {
        match &self.spec {
            Spec::Wait(w) => Some(w),
            _ => None,
        }
    }
    /// The ways out of a `first` step with what each waits for, in the
    /// order written (empty for any other step).
    pub fn arms<'p>(&self, p: &'p Process) -> Vec<(EdgeIx, &'p Trigger)> {
        self.outgoing
            .iter()
            .filter_map(|e| match &p.edge(*e).kind {
                EdgeKind::Arm { trigger, .. } => Some((*e, trigger)),
                _ => None,
            })
            .collect()
    }
    /// The message a receive waits for, or that starts a case.
    pub fn message(&self) -> Option<&str> {
        match &self.spec {
            Spec::Receive { message, .. } => Some(message),
            Spec::Start { message, .. } => message.as_deref(),
            _ => None,
        }
    }
    /// A receive's or a `first` step's correlation key.
    pub fn correlation(&self) -> Option<&Condition> {
        match &self.spec {
            Spec::Receive { correlation, .. } | Spec::First { correlation } => correlation.as_ref(),
            _ => None,
        }
    }
    /// For a partial join: how many of its incoming branches it waits for
    /// (fewer than all); `None` for every other step.
    pub fn needs(&self) -> Option<usize> {
        match self.spec {
            Spec::PartialJoin { needs } => Some(needs as usize),
            _ => None,
        }
    }
    /// The process a subprocess calls.
    pub fn calls(&self) -> Option<&ProcessId> {
        match &self.spec {
            Spec::Subprocess(p) => Some(p),
            _ => None,
        }
    }
    /// How the case ends at an end or terminate.
    pub fn outcome(&self) -> Option<&str> {
        match &self.spec {
            Spec::End(o) => o.as_deref(),
            _ => None,
        }
    }
    /// A start's recurring schedule.
    pub fn schedule(&self) -> Option<&Schedule> {
        match &self.spec {
            Spec::Start { schedule, .. } => schedule.as_ref(),
            _ => None,
        }
    }

    /// Whether a case "goes through" this step: tasks, waits, receives,
    /// first-come choices and subprocess calls count; starts, gateways and
    /// ends do not.
    pub fn counts(&self) -> bool {
        matches!(
            self.kind,
            StepKind::Task | StepKind::Wait | StepKind::Receive | StepKind::First | StepKind::Subprocess
        )
    }
    /// Whether the step is a gateway (decision, split or join).
    pub fn is_gateway(&self) -> bool {
        matches!(
            self.kind,
            StepKind::Decision | StepKind::Inclusive | StepKind::InclusiveJoin | StepKind::Parallel | StepKind::Join
        )
    }
}

/// An edge between two steps.
#[derive(Debug)]
pub struct Edge {
    /// The step it leaves.
    pub from: StepIx,
    /// The step it enters.
    pub to: StepIx,
    /// What kind of way out it is.
    pub kind: EdgeKind,
    /// Where the target is written.
    pub place: Place,
}

/// What kind of way out an edge is.
#[derive(Debug)]
pub enum EdgeKind {
    /// `next`, or one of the targets of a parallel split.
    Next,
    /// A decision branch.
    Branch {
        /// Taken when this holds.
        condition: Condition,
        /// Its chance, for simulation.
        probability: Option<f64>,
    },
    /// A decision's `otherwise`.
    Otherwise {
        /// Its chance, for simulation.
        probability: Option<f64>,
    },
    /// Taken when the step's interrupting timer fires.
    Timeout,
    /// One way out of a `first` step: taken when its message or timer comes
    /// before the others'.
    Arm {
        /// What it waits for.
        trigger: Trigger,
        /// Its chance, for simulation and measurement.
        probability: Option<f64>,
    },
}

/// What an arm of a `first` step waits for.
#[derive(Debug, Clone)]
pub enum Trigger {
    /// A message by this name (matched by the step's correlation key).
    Message(String),
    /// A timer: a duration from entering the step, or a date of the case.
    Timer(WaitFor),
}

impl EdgeKind {
    /// The chance written on a branch or `otherwise`, for simulation.
    pub fn probability(&self) -> Option<f64> {
        match self {
            EdgeKind::Branch { probability, .. }
            | EdgeKind::Otherwise { probability }
            | EdgeKind::Arm { probability, .. } => *probability,
            _ => None,
        }
    }
}

/// A compiled CEL condition and its source text.
#[derive(Clone)]
pub struct Condition {
    /// The CEL text as written.
    pub source: String,
    /// The compiled program.
    pub program: Arc<cel::Program>,
    /// The case variables it reads, sorted.
    pub variables: Vec<String>,
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Condition({:?})", self.source)
    }
}

/// What a `wait` step waits for.
#[derive(Debug, Clone)]
pub enum WaitFor {
    /// A length of time from when the step is entered.
    Duration(Duration),
    /// A fixed local date-time in the calendar's time zone.
    Until(chrono::NaiveDateTime),
    /// The value of a `date` variable.
    UntilData(VarIx),
}

/// A duration distribution, for simulation.
#[derive(Debug, Clone, PartialEq)]
pub enum Distribution {
    /// Always this long.
    Fixed(Duration),
    /// Any length between two, equally likely.
    Uniform {
        /// Shortest.
        min: Duration,
        /// Longest.
        max: Duration,
    },
    /// Between two, most likely at a third.
    Triangular {
        /// Shortest.
        min: Duration,
        /// Most likely.
        mode: Duration,
        /// Longest.
        max: Duration,
    },
    /// Normal (cut at zero).
    Normal {
        /// Mean.
        mean: Duration,
        /// Standard deviation.
        sd: Duration,
    },
    /// Log-normal, by the mean and deviation of the lengths themselves.
    Lognormal {
        /// Mean.
        mean: Duration,
        /// Standard deviation.
        sd: Duration,
    },
    /// Exponential (memoryless).
    Exponential {
        /// Mean.
        mean: Duration,
    },
}

impl Distribution {
    /// The basis of its durations (all parameters share one; compile checks it).
    pub fn basis(&self) -> Basis {
        self.first().basis
    }
    fn first(&self) -> &Duration {
        match self {
            Distribution::Fixed(d) => d,
            Distribution::Uniform { min, .. } | Distribution::Triangular { min, .. } => min,
            Distribution::Normal { mean, .. }
            | Distribution::Lognormal { mean, .. }
            | Distribution::Exponential { mean } => mean,
        }
    }
    /// The mean, in approximate calendar days (see [`Duration::approx_days`]).
    pub fn mean_approx_days(&self) -> f64 {
        match self {
            Distribution::Fixed(d) => d.approx_days(),
            Distribution::Uniform { min, max } => (min.approx_days() + max.approx_days()) / 2.0,
            Distribution::Triangular { min, mode, max } => {
                (min.approx_days() + mode.approx_days() + max.approx_days()) / 3.0
            }
            Distribution::Normal { mean, .. }
            | Distribution::Lognormal { mean, .. }
            | Distribution::Exponential { mean } => mean.approx_days(),
        }
    }
}

/// When a deadline is due.
#[derive(Debug, Clone)]
pub enum Due {
    /// A fixed time after the deadline starts.
    After(Duration),
    /// By the value of a variable, with a default.
    ByData {
        /// The variable read.
        variable: VarIx,
        /// Its values and the time each gives.
        cases: Vec<(String, Duration)>,
        /// The time for any other value.
        otherwise: Duration,
    },
}

/// A deadline and its escalation ladder.
#[derive(Debug, Clone)]
pub struct Deadline {
    /// When it is due.
    pub due: Due,
    /// Counted from the completion of this step, instead of from the start of
    /// the step (or case) that has the deadline.
    pub from: Option<StepIx>,
    /// Whether its clock stops while the case waits on the citizen.
    pub pauses_for_citizen: bool,
    /// The ladder, rung by rung.
    pub escalation: Vec<Rung>,
}

/// One rung of an escalation ladder.
#[derive(Debug, Clone)]
pub struct Rung {
    /// Past the due instant.
    pub after: Duration,
    /// What it does.
    pub action: EscalationAction,
    /// Repeats this often.
    pub every: Option<Duration>,
    /// At most this many times.
    pub times: Option<u32>,
    /// For a reassignment: to whom.
    pub to: Option<RoleIx>,
}

/// A recurring start.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// A cron expression, on the calendar's time zone.
    Cron(Box<cron::Schedule>),
    /// `R[n]/start/period`.
    Repeat {
        /// How many times; `None` for ever.
        count: Option<u32>,
        /// The first, in local time.
        start: chrono::NaiveDateTime,
        /// The time between two.
        period: Duration,
    },
}
