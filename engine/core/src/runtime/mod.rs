//! The case state machine: one pure core for live cases and simulation.
//!
//! Owns: a case's state ([`Instance`]), the commands that change it
//! ([`Command`]), and the history events they produce ([`Event`]). A case
//! advances by [`handle`]: a function of (process, calendar, state, command,
//! now) that returns the events it produced. Every change of state is an
//! event applied by [`apply`], the only code that mutates an `Instance`; so
//! [`replay`] of a history rebuilds exactly the state (history is the truth).
//!
//! Semantics, in short: a token enters a step; a user or manual task opens
//! a task and waits for `Complete`; a service task computes and goes on; a
//! decision takes the first branch whose CEL condition holds, else
//! `otherwise`; an inclusive decision every branch that holds; a parallel
//! split all branches; a join waits for every incoming branch; an inclusive
//! join waits while a token elsewhere can still reach one of its empty
//! inputs but none of its marked ones (BPMN 2.0); waits schedule timers;
//! receives open a subscription matched by message name and correlation key;
//! a subprocess asks the embedder to start a child case and waits for it; an
//! end consumes its token and, when none is left, completes the case with
//! its outcome; a terminate ends the case at once. Deadlines compute their
//! due instant in working time on the process calendar; each rung of an
//! escalation ladder is a timer that fires once (or every N, at most `times`).
//! Suspension pauses every timer with the time left in its own basis, and
//! resumption restarts it; case deadlines with `pauses_for_citizen` pause
//! likewise while a token waits at a `waits_on: citizen` step.
//!
//! Must not: read a clock, do I/O, or draw random numbers. `now` comes in;
//! events go out; randomness belongs to the simulator.

mod apply;
mod data;
mod exec;
mod view;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use apply::apply;
pub use data::{check_value, Data};
pub use exec::{handle, handle_with, start, start_with, Chooser};
pub use view::{describe, CaseView, TaskView};

use crate::definition::duration::Basis;
use crate::definition::EscalationAction;
use crate::model::{EdgeIx, RoleIx, StepIx};
use crate::time::Timestamp;

/// Ids inside one case. Tokens, tasks, timers and subscriptions draw from
/// one counter ([`Instance::next_id`]), so no two things in a case share a
/// number; each kind has its own type so one cannot stand for another.
/// Stored as plain numbers (serde-transparent).
macro_rules! local_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u32);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

local_id!(
    /// A token: a thread of control.
    TokenId
);
local_id!(
    /// An open task (a work item).
    TaskId
);
local_id!(
    /// A pending timer.
    TimerId
);
local_id!(
    /// An open message subscription.
    SubId
);

/// Why a timer is paused: a set of reasons (a timer may be paused by the
/// case's suspension and by the citizen's clock at once). Stored as its
/// bits (serde-transparent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Pauses(u8);

impl Pauses {
    /// Not paused.
    pub const NONE: Pauses = Pauses(0);
    /// The case is suspended.
    pub const SUSPENDED: Pauses = Pauses(1);
    /// The case waits on the citizen (a `waits_on: citizen` step).
    pub const CITIZEN: Pauses = Pauses(2);

    /// Whether no reason holds.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// Whether `reason` is among these.
    pub fn contains(self, reason: Pauses) -> bool {
        self.0 & reason.0 != 0
    }
    /// These and `reason`.
    pub fn with(self, reason: Pauses) -> Pauses {
        Pauses(self.0 | reason.0)
    }
    /// These without `reason`.
    pub fn without(self, reason: Pauses) -> Pauses {
        Pauses(self.0 & !reason.0)
    }
}

/// Where a case stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Work goes on.
    #[default]
    Running,
    /// Held by a manager; clocks stopped.
    Suspended,
    /// Reached an end.
    Completed,
    /// Stopped at a terminate step.
    Terminated,
    /// Cancelled from outside.
    Cancelled,
}

impl Status {
    /// Every status, in order.
    pub const ALL: [Status; 5] = [
        Status::Running,
        Status::Suspended,
        Status::Completed,
        Status::Terminated,
        Status::Cancelled,
    ];

    /// Whether the case has ended (nothing in it can move again).
    pub fn is_finished(self) -> bool {
        matches!(self, Status::Completed | Status::Terminated | Status::Cancelled)
    }

    /// The one spelling of a status: in stored rows, in JSON, in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Suspended => "suspended",
            Status::Completed => "completed",
            Status::Terminated => "terminated",
            Status::Cancelled => "cancelled",
        }
    }

    /// The status spelled `name`, if any.
    pub fn from_name(name: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a token is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "at")]
pub enum Park {
    /// Moving; never left so between commands.
    Moving,
    /// At an open task.
    Task {
        /// The task.
        task: TaskId,
    },
    /// At a wait step's timer.
    Timer {
        /// The timer.
        timer: TimerId,
    },
    /// At a receive's subscription.
    Message {
        /// The subscription.
        sub: SubId,
    },
    /// At a first-come choice: for any of its arms' subscriptions and
    /// timers (all carry this token).
    First,
    /// At a join, for the other branches.
    Join,
    /// At a subprocess step, for its child case.
    Child,
    /// At a task with multiple instances, for its instances' tasks
    /// ([`Instance::many`]).
    Many,
    /// Stopped by an incident.
    Incident,
}

/// A token: a thread of control at a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    /// Its id.
    pub id: TokenId,
    /// The step it is at.
    pub step: StepIx,
    /// The edge it came in by (joins need it).
    pub edge: Option<EdgeIx>,
    /// What it waits for.
    pub park: Park,
}

/// An open task (a work item on someone's list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// Its id.
    pub id: TaskId,
    /// The token waiting on it.
    pub token: TokenId,
    /// Its step.
    pub step: StepIx,
    /// The role whose list it is on (changes on reassignment).
    pub role: Option<RoleIx>,
    /// Who claimed it.
    pub assignee: Option<String>,
    /// When it was opened.
    pub created_at: Timestamp,
    /// When it is due; moves when its clock is paused and resumed.
    pub due_at: Option<Timestamp>,
    /// Whether its deadline has passed.
    pub overdue: bool,
    /// For one instance of a task with multiple instances: which (from 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<u32>,
}

/// A task with multiple instances under way: its items, and how many are
/// opened and done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Many {
    /// The token waiting at the step.
    pub token: TokenId,
    /// The step.
    pub step: StepIx,
    /// One item per instance (for a count, the numbers from 1).
    pub items: Vec<serde_json::Value>,
    /// How many instances have been opened (the next one's index).
    pub opened: u32,
    /// How many are done.
    pub done: u32,
}

/// Whose deadline a rung belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "of")]
pub enum Scope {
    /// The whole case's deadline.
    Case,
    /// A task's deadline.
    Task {
        /// The task whose deadline it is.
        task: TaskId,
    },
}

/// What a timer does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Purpose {
    /// A `wait` step.
    Wait {
        /// The token waiting at the step.
        token: TokenId,
    },
    /// An arm of a first-come choice: when it fires first, the token leaves
    /// by `edge`.
    Arm {
        /// The token waiting at the choice.
        token: TokenId,
        /// The arm's way out.
        edge: EdgeIx,
    },
    /// An interrupting timeout.
    Timeout {
        /// The token the timeout takes away.
        token: TokenId,
    },
    /// A deadline falls due.
    Due {
        /// Whose deadline.
        scope: Scope,
    },
    /// Rung `rung` of an escalation ladder, the `n`-th time (from 1).
    Rung {
        /// Whose ladder.
        scope: Scope,
        /// The rung's place on the ladder, from 0.
        rung: u16,
        /// How many times it has fired, this one included (from 1).
        n: u32,
    },
}

/// A pending timer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timer {
    /// Its id.
    pub id: TimerId,
    /// When it fires; `None` while paused.
    pub due: Option<Timestamp>,
    /// While paused: the time left, in seconds of `basis` (for working
    /// time: opening seconds after `remaining_days` whole working days).
    #[serde(rename = "remaining")]
    pub remaining_s: i64,
    /// While paused, for working time: whole working days left before the
    /// `remaining` seconds, so a resumed rung keeps its working-day offset
    /// (and its time of day) however long each day's hours are.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub remaining_days: u32,
    /// Calendar or working time.
    pub basis: Basis,
    /// What it does when it fires.
    pub purpose: Purpose,
    /// Whether it pauses while the case waits on the citizen.
    pub citizen_clock: bool,
    /// The reasons it is paused for now.
    pub paused: Pauses,
}

/// An open message subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// Its id.
    pub id: SubId,
    /// The token waiting on it.
    pub token: TokenId,
    /// The message name it waits for.
    pub message: String,
    /// The correlation key it waits for.
    pub key: Option<String>,
}

/// A child case's completion kept until its suspended parent resumes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldChild {
    /// The parent's token waiting at the subprocess step.
    pub token: TokenId,
    /// The child's outcome.
    pub outcome: Option<String>,
    /// What the child gives back.
    pub data: Data,
    /// Whether the child was cancelled rather than finished.
    pub cancelled: bool,
}

/// The state of one case. Only [`apply`] changes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Instance {
    /// The process id.
    pub process: String,
    /// The version it runs on (for good).
    pub version: u32,
    /// Where it stands.
    pub status: Status,
    /// Its variables.
    pub data: Data,
    /// Threads of control.
    pub tokens: Vec<Token>,
    /// Open tasks.
    pub tasks: Vec<Task>,
    /// Pending timers.
    pub timers: Vec<Timer>,
    /// Open subscriptions.
    pub subscriptions: Vec<Subscription>,
    /// Incidents: tokens stopped by an error in a condition or data.
    pub incidents: BTreeMap<TokenId, String>,
    /// When each step last completed (for deadlines counted `from` it).
    pub completed: BTreeMap<StepIx, Timestamp>,
    /// Completions of child cases that arrived while this case was
    /// suspended; they are taken when it resumes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<HeldChild>,
    /// Tasks with multiple instances under way.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub many: Vec<Many>,
    /// When the case deadline falls due.
    pub case_due: Option<Timestamp>,
    /// When it started.
    pub started_at: Timestamp,
    /// When it ended.
    pub ended_at: Option<Timestamp>,
    /// How it ended.
    pub outcome: Option<String>,
    /// The next free local id (of any kind).
    pub next_id: u32,
    /// Events applied so far.
    pub seq: u64,
}

impl Instance {
    /// The token `id`, if the case holds it.
    pub fn token(&self, id: TokenId) -> Option<&Token> {
        self.tokens.iter().find(|t| t.id == id)
    }
    /// The open task `id`.
    pub fn task(&self, id: TaskId) -> Option<&Task> {
        self.tasks.iter().find(|t| t.id == id)
    }
    /// The multiple instances a token waits for.
    pub fn many(&self, token: TokenId) -> Option<&Many> {
        self.many.iter().find(|m| m.token == token)
    }
    /// The item of an instance's task, when it is one.
    pub fn item_of(&self, task: &Task) -> Option<&serde_json::Value> {
        let i = task.instance?;
        self.many(task.token)?.items.get(i as usize)
    }
    /// The pending timer `id`.
    pub fn timer(&self, id: TimerId) -> Option<&Timer> {
        self.timers.iter().find(|t| t.id == id)
    }
    /// The earliest instant a timer of this case is due.
    pub fn next_due(&self) -> Option<Timestamp> {
        self.timers.iter().filter_map(|t| t.due).min()
    }
    /// Timers due at or before `now`, earliest first (ties by id).
    pub fn due_timers(&self, now: Timestamp) -> Vec<TimerId> {
        let mut v: Vec<(Timestamp, TimerId)> = self
            .timers
            .iter()
            .filter_map(|t| t.due.filter(|d| *d <= now).map(|d| (d, t.id)))
            .collect();
        v.sort();
        v.into_iter().map(|x| x.1).collect()
    }

    /// The invariants: every token is parked exactly where the other parts
    /// say; a finished case holds nothing open.
    pub fn check_invariants(&self) -> Result<(), String> {
        for t in &self.tokens {
            let ok = match t.park {
                Park::Moving => false,
                Park::Task { task } => self.task(task).is_some_and(|k| k.token == t.id),
                Park::Timer { timer } => self
                    .timer(timer)
                    .is_some_and(|k| k.purpose == Purpose::Wait { token: t.id }),
                Park::Message { sub } => self.subscriptions.iter().any(|s| s.id == sub && s.token == t.id),
                Park::First => {
                    self.subscriptions.iter().any(|s| s.token == t.id)
                        || self
                            .timers
                            .iter()
                            .any(|k| matches!(k.purpose, Purpose::Arm { token, .. } if token == t.id))
                }
                Park::Join | Park::Child => true,
                Park::Many => self.many(t.id).is_some(),
                Park::Incident => self.incidents.contains_key(&t.id),
            };
            if !ok {
                return Err(format!(
                    "token {} is parked at {:?}, which does not hold it",
                    t.id, t.park
                ));
            }
        }
        let mut ids: Vec<TokenId> = self.tokens.iter().map(|t| t.id).collect();
        ids.sort();
        if ids.windows(2).any(|w| w[0] == w[1]) {
            return Err("a token appears twice".into());
        }
        for k in &self.tasks {
            let waits = |t: &Token| match k.instance {
                None => t.park == Park::Task { task: k.id },
                Some(i) => t.park == Park::Many && self.many(t.id).is_some_and(|m| i < m.opened),
            };
            if self.token(k.token).is_none_or(|t| !waits(t)) {
                return Err(format!("task {} has no token waiting on it", k.id));
            }
        }
        for m in &self.many {
            if self.token(m.token).is_none_or(|t| t.park != Park::Many) {
                return Err(format!(
                    "the instances at step {} have no token waiting on them",
                    m.step
                ));
            }
            if m.done > m.opened || m.opened as usize > m.items.len() {
                return Err(format!(
                    "{} of {} instances done, {} opened",
                    m.done,
                    m.items.len(),
                    m.opened
                ));
            }
        }
        for s in &self.subscriptions {
            if self
                .token(s.token)
                .is_none_or(|t| t.park != Park::Message { sub: s.id } && t.park != Park::First)
            {
                return Err(format!("subscription {} has no token waiting on it", s.id));
            }
        }
        for t in &self.timers {
            let live = match t.purpose {
                Purpose::Wait { token } | Purpose::Timeout { token } => self.token(token).is_some(),
                Purpose::Arm { token, .. } => self.token(token).is_some_and(|t| t.park == Park::First),
                Purpose::Due {
                    scope: Scope::Task { task },
                }
                | Purpose::Rung {
                    scope: Scope::Task { task },
                    ..
                } => self.task(task).is_some(),
                Purpose::Due { scope: Scope::Case } | Purpose::Rung { scope: Scope::Case, .. } => {
                    !self.status.is_finished()
                }
            };
            if !live {
                return Err(format!("timer {} outlived what it was for", t.id));
            }
            if t.due.is_none() == t.paused.is_empty() {
                return Err(format!("timer {} is paused {:?} but due {:?}", t.id, t.paused, t.due));
            }
        }
        if self.status.is_finished()
            && (!self.tokens.is_empty()
                || !self.tasks.is_empty()
                || !self.timers.is_empty()
                || !self.subscriptions.is_empty()
                || !self.many.is_empty())
        {
            return Err(format!(
                "finished case still holds {} tokens, {} tasks, {} timers, {} subscriptions",
                self.tokens.len(),
                self.tasks.len(),
                self.timers.len(),
                self.subscriptions.len()
            ));
        }
        Ok(())
    }
}

/// One entry of a case's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the case's history, from 0.
    pub seq: u64,
    /// When.
    pub at: Timestamp,
    /// What.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened. Steps, edges and roles are indexes into the process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "type")]
pub enum EventKind {
    /// The case started.
    Started {
        /// The process id.
        process: String,
        /// Its version.
        version: u32,
        /// The data it started with.
        data: Data,
        /// Who started it.
        by: Option<String>,
    },
    /// A token was made.
    TokenCreated {
        /// The token.
        token: TokenId,
        /// Where.
        step: StepIx,
        /// The edge it came in by.
        edge: Option<EdgeIx>,
    },
    /// A token took an edge.
    TokenMoved {
        /// The token.
        token: TokenId,
        /// The step it entered.
        step: StepIx,
        /// The edge taken.
        edge: EdgeIx,
    },
    /// A token waits for something.
    TokenParked {
        /// The token.
        token: TokenId,
        /// What it waits for.
        park: Park,
    },
    /// A token is gone.
    TokenConsumed {
        /// The token.
        token: TokenId,
    },
    /// A step was done.
    StepCompleted {
        /// The step.
        step: StepIx,
        /// Whether a deadline counts from this step (its time is kept).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        anchor: bool,
    },
    /// A decision took its way(s) out.
    Decided {
        /// The decision.
        step: StepIx,
        /// The edges taken.
        taken: Vec<EdgeIx>,
    },
    /// Case data changed.
    DataSet {
        /// The new values.
        values: Data,
        /// Who set it, when a person or system outside the case did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// A task was opened.
    TaskCreated {
        /// The task.
        task: TaskId,
        /// The token waiting on it.
        token: TokenId,
        /// Its step.
        step: StepIx,
        /// Whose list it is on.
        role: Option<RoleIx>,
        /// When it is due.
        due: Option<Timestamp>,
        /// For one instance of a task with multiple instances: which.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instance: Option<u32>,
    },
    /// A task with multiple instances was entered: one per item.
    InstancesPlanned {
        /// The token that waits for them.
        token: TokenId,
        /// The step.
        step: StepIx,
        /// The items, one per instance.
        items: Vec<serde_json::Value>,
    },
    /// Instances were added to a task with multiple instances under way.
    InstancesAdded {
        /// The token that waits for them.
        token: TokenId,
        /// The new items.
        items: Vec<serde_json::Value>,
        /// Who added them.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// One instance's task was done (its `TaskCompleted` comes before).
    InstanceDone {
        /// The token that waits for the instances.
        token: TokenId,
        /// The instance.
        instance: u32,
    },
    /// A task with multiple instances is over: all done, its condition
    /// held, or it was withdrawn (the open instances' tasks are cancelled
    /// before).
    InstancesEnded {
        /// The token that waited for them.
        token: TokenId,
    },
    /// A task was claimed or assigned.
    TaskClaimed {
        /// The task.
        task: TaskId,
        /// Who holds it now.
        user: String,
    },
    /// A task was done.
    TaskCompleted {
        /// The task.
        task: TaskId,
        /// Who did it.
        by: Option<String>,
    },
    /// A task was withdrawn.
    TaskCancelled {
        /// The task.
        task: TaskId,
    },
    /// A task moved to another role's list (escalation).
    TaskReassigned {
        /// The task.
        task: TaskId,
        /// The new role.
        role: RoleIx,
    },
    /// A task's deadline passed.
    TaskOverdue {
        /// The task.
        task: TaskId,
    },
    /// The case deadline passed.
    CaseOverdue,
    /// A rung of an escalation ladder fired.
    Escalated {
        /// Whose ladder.
        scope: Scope,
        /// What it did.
        action: EscalationAction,
        /// For a reassignment: to whom.
        to: Option<RoleIx>,
        /// How many times this rung has fired (from 1).
        n: u32,
    },
    /// The case deadline was set.
    CaseDue {
        /// When it falls due.
        due: Timestamp,
    },
    /// A timer was set.
    TimerScheduled {
        /// The timer.
        timer: TimerId,
        /// When it fires.
        due: Timestamp,
        /// Calendar or working time.
        basis: Basis,
        /// What it does.
        purpose: Purpose,
        /// Whether it pauses while the case waits on the citizen.
        citizen_clock: bool,
    },
    /// A timer fired.
    TimerFired {
        /// The timer.
        timer: TimerId,
    },
    /// A timer was withdrawn.
    TimerCancelled {
        /// The timer.
        timer: TimerId,
    },
    /// Timers paused for `reason`, with the time left on each in seconds
    /// (for working time, opening seconds after the whole working days in
    /// `days`).
    TimersPaused {
        /// Why.
        reason: Pauses,
        /// Each timer and its seconds left.
        timers: Vec<(TimerId, i64)>,
        /// For working time: each timer's whole working days left.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        days: Vec<(TimerId, u32)>,
    },
    /// Timers resumed from `reason`, with their new due instants (`None`
    /// while another reason still holds them).
    TimersResumed {
        /// The reason that ended.
        reason: Pauses,
        /// Each timer and its new due instant.
        timers: Vec<(TimerId, Option<Timestamp>)>,
    },
    /// A receive began to wait for a message.
    SubscriptionOpened {
        /// The subscription.
        sub: SubId,
        /// The token waiting.
        token: TokenId,
        /// The message name.
        message: String,
        /// The correlation key.
        key: Option<String>,
    },
    /// A message came.
    MessageReceived {
        /// The subscription it matched.
        sub: SubId,
        /// Its name.
        message: String,
        /// Who sent it, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// A subscription was withdrawn.
    SubscriptionClosed {
        /// The subscription.
        sub: SubId,
    },
    /// A subprocess step asks for a child case.
    ChildRequested {
        /// The token waiting for it.
        token: TokenId,
        /// The subprocess step.
        step: StepIx,
        /// The process to start.
        process: String,
    },
    /// The child case finished and the token went on.
    ChildFinished {
        /// The token that waited.
        token: TokenId,
        /// The child's outcome.
        outcome: Option<String>,
    },
    /// A child finished while this case was suspended: kept for the resume.
    ChildHeld {
        /// The completion kept.
        child: HeldChild,
    },
    /// The token waiting for a child was withdrawn (the case was cancelled
    /// or terminated, or the step timed out): the child case is cancelled.
    ChildWithdrawn {
        /// The token that waited.
        token: TokenId,
    },
    /// A token was stopped by an error.
    Incident {
        /// The token.
        token: TokenId,
        /// Where.
        step: StepIx,
        /// What went wrong.
        message: String,
    },
    /// An incident was resolved; the step is tried again.
    IncidentResolved {
        /// The token.
        token: TokenId,
        /// Who resolved it, when a person did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// The case was suspended.
    Suspended {
        /// By whom.
        by: Option<String>,
    },
    /// The case was resumed.
    Resumed {
        /// By whom.
        by: Option<String>,
    },
    /// The case reached an end.
    Completed {
        /// How it ended.
        outcome: Option<String>,
    },
    /// The case stopped at a terminate step.
    Terminated {
        /// The step.
        step: StepIx,
        /// How it ended.
        outcome: Option<String>,
    },
    /// The case was cancelled.
    Cancelled {
        /// By whom.
        by: Option<String>,
        /// Why.
        reason: Option<String>,
    },
}

/// A request to change a case: what a person, or a system acting for one,
/// may ask. The engine checks who asks inside the unit of work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "command")]
pub enum Command {
    /// A user takes a task for themselves.
    Claim {
        /// The task.
        task: TaskId,
        /// The user.
        user: String,
    },
    /// A manager gives a task to someone, claimed or not.
    Assign {
        /// The task.
        task: TaskId,
        /// Who gets it.
        user: String,
        /// The manager.
        by: Option<String>,
    },
    /// A task is done, with what it sets.
    Complete {
        /// The task.
        task: TaskId,
        /// Who did it (must be the assignee, if any).
        by: Option<String>,
        /// The variables it sets.
        #[serde(default)]
        outputs: Data,
    },
    /// Resolve one incident: set data (may be empty) and retry the step.
    Resolve {
        /// The token stopped by it.
        token: TokenId,
        /// Data to set first.
        #[serde(default)]
        values: Data,
        /// Who.
        by: Option<String>,
    },
    /// Add instances to a task with multiple instances under way
    /// (`each: {over: …}`): one per item, appended to its list too.
    AddInstances {
        /// The step's id.
        step: String,
        /// The new items.
        items: Vec<serde_json::Value>,
        /// Who.
        #[serde(default)]
        by: Option<String>,
    },
    /// Change case data (and retry incidents).
    SetData {
        /// The new values.
        values: Data,
        /// Who.
        by: Option<String>,
    },
    /// Hold the case; its clocks stop.
    Suspend {
        /// Who.
        by: Option<String>,
    },
    /// Go on after a suspension.
    Resume {
        /// Who.
        by: Option<String>,
    },
    /// End the case from outside.
    Cancel {
        /// Who.
        by: Option<String>,
        /// Why.
        reason: Option<String>,
    },
}

/// What the engine (or the simulator) tells a case on its own: a timer came
/// due, a message was correlated to it, a child case finished or could not
/// start. An embedder of the engine cannot send these; the engine's own
/// loops do, under the same unit of work as the rows they read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "command")]
pub enum Internal {
    /// Deliver a message to an open subscription (the engine finds it).
    Deliver {
        /// The subscription it matched.
        sub: SubId,
        /// The message's data.
        #[serde(default)]
        data: Data,
        /// Who sent it (recorded in history).
        #[serde(default)]
        by: Option<String>,
    },
    /// A timer came due.
    FireTimer {
        /// The timer.
        timer: TimerId,
    },
    /// A child case called by a subprocess step has finished (or, with
    /// `cancelled`, was cancelled on its own: the parent gets an incident).
    /// A suspended parent keeps it until it resumes.
    ChildFinished {
        /// The parent's token waiting at the subprocess step.
        token: TokenId,
        /// The child's outcome.
        outcome: Option<String>,
        /// The child's data.
        #[serde(default)]
        data: Data,
        /// Whether the child was cancelled rather than finished.
        #[serde(default)]
        cancelled: bool,
    },
    /// The child case a subprocess step asked for could not be started:
    /// the waiting token becomes an incident (resolve it to try again).
    ChildNotStarted {
        /// The parent's token waiting at the subprocess step.
        token: TokenId,
        /// Why not.
        reason: String,
    },
    /// The outside worker of a service task's job gave up (its retries ran
    /// out): the task is withdrawn and its token becomes an incident;
    /// resolving it enters the step again, with a new job.
    JobFailed {
        /// The task the job was for.
        task: TaskId,
        /// The worker's last error.
        message: String,
    },
}

/// Anything [`handle`] takes: a [`Command`] or an [`Internal`] notice.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A request from outside.
    Command(Command),
    /// A notice from the engine's own loops.
    Internal(Internal),
}

impl From<Command> for Input {
    fn from(c: Command) -> Input {
        Input::Command(c)
    }
}

impl From<Internal> for Input {
    fn from(c: Internal) -> Input {
        Input::Internal(c)
    }
}

/// Why a command was refused. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The case is not running.
    #[error("the case is {0:?}")]
    NotRunning(Status),
    /// Resume of a case that is not suspended.
    #[error("the case is not suspended")]
    NotSuspended,
    /// No such open task.
    #[error("no open task {0}")]
    NoSuchTask(TaskId),
    /// Someone else holds the task.
    #[error("task {task} is claimed by {assignee}")]
    ClaimedByOther {
        /// The task asked for.
        task: TaskId,
        /// Who holds it.
        assignee: String,
    },
    /// No such open subscription.
    #[error("no open subscription {0}")]
    NoSuchSubscription(SubId),
    /// No such pending timer.
    #[error("no pending timer {0}")]
    NoSuchTimer(TimerId),
    /// The timer is not due yet.
    #[error("timer {0} is not due yet")]
    TimerNotDue(TimerId),
    /// The token does not wait for a child.
    #[error("token {0} is not waiting for a child case")]
    NoSuchChild(TokenId),
    /// No task with multiple instances under way at the step.
    #[error("no instances under way at step `{0}` to add to")]
    NoInstances(String),
    /// No open incident on the token.
    #[error("no open incident on token {0}")]
    NoSuchIncident(TokenId),
    /// Data that does not fit the variables.
    #[error("{0}")]
    BadData(String),
    /// The case's state contradicts itself (a bug, or a row written behind
    /// the engine's back): nothing was changed.
    #[error("the case's state is inconsistent: {0}")]
    Inconsistent(String),
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Rebuilds a case's state from its history.
pub fn replay(events: &[Event]) -> Instance {
    let mut st = Instance::default();
    for e in events {
        apply(&mut st, e);
    }
    st
}

#[cfg(test)]
mod tests {
    use super::Status;

    /// `as_str` is the serde spelling, so rows, JSON and the API agree.
    #[test]
    fn a_status_has_one_spelling() {
        for s in Status::ALL {
            assert_eq!(serde_json::to_value(s).ok(), Some(serde_json::json!(s.as_str())));
            assert_eq!(Status::from_name(s.as_str()), Some(s));
        }
        assert_eq!(Status::from_name("Running"), None);
    }
}
