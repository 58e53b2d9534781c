//! The event loop of one replication, and the totals over replications.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};

use rand::{Rng, SeedableRng};
use rand_distr::Distribution as _;

use super::{DataDef, LogEntry, Plan, SampleActivity, SampleCase, SimError, Spacing};
use crate::definition::duration::{Basis, Duration};
use crate::eventlog::Transition;
use crate::model::{Distribution, Process, RoleIx, StepIx, VarType};
use crate::runtime::{
    self, Chooser, Command, Data, Event, EventKind, Input, Instance, Internal, SubId, TaskId, TimerId, TokenId,
};
use crate::time::{Timestamp, WorkCalendar};

/// Seconds in a calendar day.
const SECONDS_PER_DAY: f64 = crate::definition::duration::SECONDS_PER_DAY as f64;
/// Opening seconds in a working day, for sampling durations given in days.
const WORKING_DAY_S: f64 = crate::definition::duration::NOMINAL_WORKING_DAY_S as f64;
/// The most events one replication handles: a scenario that never ends stops.
const MAX_EVENTS: u64 = 50_000_000;

/// What the replications found, summed.
#[derive(Default)]
pub(super) struct Totals {
    /// Per finished counted case: calendar and working days.
    pub cycle: Vec<f64>,
    pub working: Vec<f64>,
    /// The mean cycle time of each replication, in days and working days.
    pub rep_means: Vec<f64>,
    pub rep_working_means: Vec<f64>,
    /// Cases started (warm-up included) and counted.
    pub started: u64,
    pub arrived: u64,
    pub steps: u64,
    pub escalations: u64,
    pub breaches: u64,
    pub unfinished: u64,
    /// Why counted cases did not finish: (step id, reason) → cases.
    pub unfinished_why: std::collections::BTreeMap<(String, String), u64>,
    pub activities: u64,
    pub processing_s: f64,
    pub queue_s: f64,
    pub citizen_s: f64,
    /// By role index (staffed roles only).
    pub roles: Vec<Option<RoleTotals>>,
    /// By step index: seconds spent and times done (counted cases).
    pub step_s: Vec<f64>,
    pub step_n: Vec<u64>,
    pub sample: Option<SampleCase>,
    pub log: Vec<LogEntry>,
}

#[derive(Default, Clone)]
pub(super) struct RoleTotals {
    pub people: u32,
    pub wait_s: f64,
    pub served: u64,
    pub busy_open_s: f64,
    pub staffed_open_s: f64,
    pub queue_area: f64,
    pub span_s: f64,
    pub max_queue: u32,
}

impl RoleTotals {
    /// Adds another replication's figures.
    fn add(&mut self, o: &RoleTotals) {
        self.people = o.people;
        self.wait_s += o.wait_s;
        self.served += o.served;
        self.busy_open_s += o.busy_open_s;
        self.staffed_open_s += o.staffed_open_s;
        self.queue_area += o.queue_area;
        self.span_s += o.span_s;
        self.max_queue = self.max_queue.max(o.max_queue);
    }
}

struct Coin(rand::rngs::StdRng);

impl Chooser for Coin {
    fn pick(&mut self, probabilities: &[f64]) -> usize {
        let mut x: f64 = self.0.random::<f64>() * probabilities.iter().sum::<f64>();
        for (i, p) in probabilities.iter().enumerate() {
            if x < *p {
                return i;
            }
            x -= p;
        }
        probabilities.len().saturating_sub(1)
    }
    fn take(&mut self, probability: f64) -> bool {
        self.0.random::<f64>() < probability
    }
}

/// What happens next in the simulated world.
#[derive(Debug, Clone, Copy)]
enum Ev {
    Arrive,
    /// A person (or an outside body) finished a task begun at `started`.
    Done {
        case: u32,
        task: TaskId,
        started: Timestamp,
    },
    /// A message arrived for a subscription opened at `started`.
    Message {
        case: u32,
        sub: SubId,
        started: Timestamp,
    },
    /// A called process finished.
    Child {
        case: u32,
        token: TokenId,
        started: Timestamp,
    },
    Timer {
        case: u32,
        timer: TimerId,
    },
}

/// An event in the queue: earliest first, then in the order scheduled.
struct Scheduled {
    at: Timestamp,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    /// Reversed, so that `BinaryHeap` pops the earliest.
    fn cmp(&self, other: &Self) -> Ordering {
        other.at.cmp(&self.at).then(other.seq.cmp(&self.seq))
    }
}

/// Where a task of a staffed role is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Queued(RoleIx),
    Working(RoleIx),
}

struct Pool<'a> {
    people: u32,
    cal: Option<&'a WorkCalendar>,
    busy: u32,
    /// Waiting tasks: (priority high first, arrival order, case, task,
    /// queued at). Entries whose task left the queue are skipped.
    queue: BinaryHeap<(bool, Reverse<u64>, u32, TaskId, Timestamp)>,
    waiting: u32,
    last_change: Timestamp,
    totals: RoleTotals,
}

impl Pool<'_> {
    /// Adds the queue length since the last change to its time-integral.
    fn integrate(&mut self, now: Timestamp) {
        self.totals.queue_area += f64::from(self.waiting) * (now.0 - self.last_change.0).max(0) as f64;
        self.last_change = now;
    }

    /// A task joins (`up`) or leaves the queue.
    fn queue_changes(&mut self, now: Timestamp, up: bool) {
        self.integrate(now);
        if up {
            self.waiting += 1;
            self.totals.max_queue = self.totals.max_queue.max(self.waiting);
        } else {
            self.waiting = self.waiting.saturating_sub(1);
        }
    }
}

struct SimCase {
    st: Instance,
    arrived: Timestamp,
    counted: bool,
    steps: u32,
    escalations: u32,
    breached: bool,
    processing_s: f64,
    queue_s: f64,
    citizen_s: f64,
}

/// One replication.
struct Rep<'p, 'a> {
    plan: &'p Plan<'a>,
    p: &'a Process,
    cal: &'a WorkCalendar,
    t: &'p mut Totals,
    rep: u32,
    log: bool,
    rng: rand::rngs::StdRng,
    coin: Coin,
    pools: Vec<Option<Pool<'a>>>,
    slots: HashMap<(u32, TaskId), Slot>,
    queue: BinaryHeap<Scheduled>,
    seq: u64,
    qseq: u64,
    cases: Vec<SimCase>,
    out: Vec<Event>,
    /// Arrivals so far (for the occurrences of a schedule).
    arrivals: u32,
    last: Timestamp,
    /// The case shown activity by activity.
    sample: Option<u32>,
    /// For the log: people of each role by number, those free again
    /// (lowest first) and how many were ever needed.
    staff: Vec<(BinaryHeap<Reverse<u32>>, u32)>,
    /// For the log: who works on a step of a case, named on its completion.
    working: HashMap<(u32, StepIx), (RoleIx, u32)>,
    /// For the log: who works on a task, free again when the work is done.
    held: HashMap<(u32, TaskId), (RoleIx, u32)>,
}

/// Runs every replication of a plan.
pub(super) fn run(plan: &Plan<'_>, log: bool) -> Result<Totals, SimError> {
    let p = plan.p;
    let mut t = Totals {
        roles: vec![None; p.roles.len()],
        step_s: vec![0.0; p.steps.len()],
        step_n: vec![0; p.steps.len()],
        ..Totals::default()
    };
    for rep in 0..plan.sc.replications.max(1) {
        let seed = plan.sc.seed.wrapping_add(u64::from(rep));
        let pools = plan
            .pools
            .iter()
            .map(|x| {
                x.map(|(people, cal)| Pool {
                    people,
                    cal,
                    busy: 0,
                    queue: BinaryHeap::new(),
                    waiting: 0,
                    last_change: plan.t0,
                    totals: RoleTotals {
                        people,
                        ..RoleTotals::default()
                    },
                })
            })
            .collect();
        Rep {
            plan,
            p,
            cal: plan.cal,
            t: &mut t,
            rep,
            log,
            rng: rand::rngs::StdRng::seed_from_u64(seed),
            coin: Coin(rand::rngs::StdRng::seed_from_u64(
                seed.wrapping_mul(0x9E37_79B9_7F4A_7C15),
            )),
            pools,
            slots: HashMap::new(),
            queue: BinaryHeap::new(),
            seq: 0,
            qseq: 0,
            cases: Vec::new(),
            out: Vec::new(),
            arrivals: 0,
            last: plan.t0,
            sample: (rep == 0).then_some(plan.sc.warmup),
            staff: vec![(BinaryHeap::new(), 0); p.roles.len()],
            working: HashMap::new(),
            held: HashMap::new(),
        }
        .run()?;
    }
    t.log.sort_by_key(|e| (e.case, e.at));
    Ok(t)
}

impl<'a> Rep<'_, 'a> {
    fn push(&mut self, at: Timestamp, ev: Ev) {
        self.seq += 1;
        self.queue.push(Scheduled { at, seq: self.seq, ev });
    }

    fn run(mut self) -> Result<(), SimError> {
        let first = match &self.plan.spacing {
            Spacing::Schedule(s) => self.cal.next_occurrence(s, self.plan.t0, 0),
            _ => Some(self.plan.t0),
        };
        if let Some(at) = first.filter(|at| self.plan.horizon.is_none_or(|h| *at <= h)) {
            self.push(at, Ev::Arrive);
        }
        let mut handled = 0u64;
        while let Some(Scheduled { at: now, ev, .. }) = self.queue.pop() {
            handled += 1;
            if handled > MAX_EVENTS {
                break;
            }
            self.last = self.last.max(now);
            self.out.clear();
            let target = match ev {
                Ev::Arrive => {
                    self.arrive(now)?;
                    None
                }
                Ev::Done { case, task, started } => {
                    // An instance's task is logged done on its own; its
                    // step completes once, when the instances are over.
                    if let Some(step) = self.cases[ix(case)]
                        .st
                        .task(task)
                        .filter(|t| t.instance.is_some())
                        .map(|t| t.step)
                    {
                        self.log_instance_done(case, task, step, now);
                    }
                    self.free_worker(case, task, now);
                    match self.cases[ix(case)].st.task(task) {
                        Some(t) => {
                            let (step, queued) = (t.step, t.created_at);
                            self.complete(case, step, queued, started, now, |outputs| {
                                Command::Complete {
                                    task,
                                    by: None,
                                    outputs,
                                }
                                .into()
                            })
                        }
                        None => None,
                    }
                }
                Ev::Message { case, sub, started } => {
                    let st = &self.cases[ix(case)].st;
                    match st.subscriptions.iter().find(|s| s.id == sub) {
                        // A subscription's token is always there (invariant).
                        Some(s) => match st.token(s.token).map(|t| t.step) {
                            Some(step) => self.complete(case, step, started, started, now, |data| {
                                Internal::Deliver { sub, data, by: None }.into()
                            }),
                            None => None,
                        },
                        None => None,
                    }
                }
                Ev::Child { case, token, started } => {
                    // A child of a token withdrawn meanwhile comes back to nothing.
                    match self.cases[ix(case)].st.token(token).map(|t| t.step) {
                        Some(step) => self.complete(case, step, started, started, now, |data| {
                            Internal::ChildFinished {
                                token,
                                outcome: None,
                                data,
                                cancelled: false,
                            }
                            .into()
                        }),
                        None => None,
                    }
                }
                Ev::Timer { case, timer } => {
                    let c = &mut self.cases[ix(case)];
                    let fires = c.st.timer(timer).and_then(|t| t.due) == Some(now)
                        && runtime::handle_with(
                            self.p,
                            self.cal,
                            &mut c.st,
                            Internal::FireTimer { timer },
                            now,
                            &mut self.out,
                            &mut self.coin,
                        )
                        .is_ok();
                    fires.then_some(case)
                }
            };
            if let Some(case) = target {
                self.react(case, now);
            }
        }
        self.finish();
        Ok(())
    }

    /// Cases arrive (a batch of them), and the next arrival is scheduled.
    fn arrive(&mut self, now: Timestamp) -> Result<(), SimError> {
        for _ in 0..self.plan.batch {
            if self.cases.len() as u64 >= self.plan.max_cases {
                break;
            }
            let data = draw_start_data(self.plan, &mut self.rng);
            self.out.clear();
            let st = runtime::start_with(self.p, self.cal, data, None, now, &mut self.out, &mut self.coin)
                .map_err(|e| SimError::Scenario(format!("a case cannot start: {e}")))?;
            let i = self.cases.len() as u32;
            self.cases.push(SimCase {
                st,
                arrived: now,
                counted: i >= self.plan.sc.warmup,
                steps: 0,
                escalations: 0,
                breached: false,
                processing_s: 0.0,
                queue_s: 0.0,
                citizen_s: 0.0,
            });
            self.react(i, now);
        }
        self.arrivals += 1;
        if (self.cases.len() as u64) < self.plan.max_cases {
            let next = match &self.plan.spacing {
                Spacing::Every(d) => Some(advance(self.cal, now, d.basis, scalar(d))),
                Spacing::Poisson(d) => {
                    let gap =
                        rand_distr::Exp::new(1.0 / scalar(d).max(1e-9)).map_or(scalar(d), |e| e.sample(&mut self.rng));
                    Some(advance(self.cal, now, d.basis, gap))
                }
                Spacing::Schedule(s) => self.cal.next_occurrence(s, now.plus_seconds(1), self.arrivals),
            };
            if let Some(at) = next.filter(|at| self.plan.horizon.is_none_or(|h| *at <= h)) {
                self.push(at, Ev::Arrive);
            }
        }
        Ok(())
    }

    /// The worker on a finished task is free again, whatever became of it.
    fn free_worker(&mut self, case: u32, task: TaskId, now: Timestamp) {
        if let Some((r, n)) = self.held.remove(&(case, task)) {
            self.staff[r.ix()].0.push(Reverse(n));
        }
        if self.slots.is_empty() {
            return;
        }
        if let Some(Slot::Working(role)) = self.slots.remove(&(case, task)) {
            if let Some(pool) = self.pools[role.ix()].as_mut() {
                pool.busy = pool.busy.saturating_sub(1);
            }
            self.dispatch(role, now);
        }
    }

    /// Completes an activity through the runtime, with the outputs the
    /// scenario draws for its step; counts it. The case, if it moved.
    fn complete(
        &mut self,
        case: u32,
        step: StepIx,
        queued: Timestamp,
        started: Timestamp,
        now: Timestamp,
        command: impl FnOnce(Data) -> Input,
    ) -> Option<u32> {
        let data = draw_outputs(self.plan, step, &mut self.rng);
        let c = &mut self.cases[ix(case)];
        runtime::handle_with(
            self.p,
            self.cal,
            &mut c.st,
            command(data),
            now,
            &mut self.out,
            &mut self.coin,
        )
        .ok()?;
        self.t.activities += 1;
        let secs = (now.0 - started.0) as f64;
        c.processing_s += secs;
        if self.p.step(step).waits_on_citizen {
            c.citizen_s += (now.0 - queued.0) as f64;
        }
        if c.counted {
            self.t.step_s[step.ix()] += secs;
            self.t.step_n[step.ix()] += 1;
        }
        if self.sample == Some(case) {
            let arrived = c.arrived;
            let s = self.p.step(step);
            let day = |t: Timestamp| (t.0 - arrived.0) as f64 / 86_400.0;
            let row = SampleActivity {
                step: s.id.clone(),
                title: s.title.clone(),
                role: s.performer().map(|r| self.p.role(r).id.clone()),
                queued_day: day(queued),
                started_day: day(started),
                ended_day: day(now),
            };
            self.t
                .sample
                .get_or_insert_with(|| SampleCase {
                    case,
                    arrived,
                    arrived_local: self.cal.show(arrived),
                    ended: None,
                    outcome: None,
                    activities: Vec::new(),
                })
                .activities
                .push(row);
        }
        Some(case)
    }

    fn priority(&self, case: u32) -> bool {
        self.plan
            .priority
            .as_ref()
            .is_some_and(|v| self.cases[ix(case)].st.data.get(v) == Some(&serde_json::Value::Bool(true)))
    }

    /// A task joins its role's queue.
    fn enqueue(&mut self, case: u32, task: TaskId, role: RoleIx, now: Timestamp) {
        let prio = self.priority(case);
        let Some(pool) = self.pools[role.ix()].as_mut() else {
            return;
        };
        self.qseq += 1;
        pool.queue.push((prio, Reverse(self.qseq), case, task, now));
        pool.queue_changes(now, true);
        self.slots.insert((case, task), Slot::Queued(role));
        self.dispatch(role, now);
    }

    /// A task left its queue without being worked on (cancelled, moved).
    fn withdraw(&mut self, case: u32, task: TaskId, now: Timestamp) {
        if let Some(Slot::Queued(role)) = self.slots.get(&(case, task)).copied() {
            self.slots.remove(&(case, task));
            if let Some(pool) = self.pools[role.ix()].as_mut() {
                pool.queue_changes(now, false);
            }
        }
    }

    /// Gives waiting tasks of `role` to free people, highest priority first.
    fn dispatch(&mut self, role: RoleIx, now: Timestamp) {
        loop {
            let Some(pool) = self.pools[role.ix()].as_mut() else {
                return;
            };
            if pool.busy >= pool.people {
                return;
            }
            let Some((_, _, case, task, queued)) = pool.queue.pop() else {
                return;
            };
            if self.slots.get(&(case, task)) != Some(&Slot::Queued(role)) {
                continue;
            }
            pool.queue_changes(now, false);
            let Some(step) = self.cases[ix(case)].st.task(task).map(|t| t.step) else {
                self.slots.remove(&(case, task));
                continue;
            };
            pool.busy += 1;
            pool.totals.served += 1;
            let own = pool.cal;
            self.slots.insert((case, task), Slot::Working(role));
            let (start, done) = self.work(step, now, own);
            // The wait lasts until work begins (a person with their own
            // hours may take a task at night and begin in the morning).
            let wait = (start.0 - queued.0).max(0) as f64;
            self.cases[ix(case)].queue_s += wait;
            if let Some(pool) = self.pools[role.ix()].as_mut() {
                let cal = own.unwrap_or(self.cal);
                pool.totals.wait_s += wait;
                pool.totals.busy_open_s += cal.open_seconds_between(start, done) as f64;
            }
            self.log_start(case, task, step, start, Some(role));
            self.push(
                done,
                Ev::Done {
                    case,
                    task,
                    started: start,
                },
            );
        }
    }

    /// When work on `step` that may begin at `now` begins and ends: people
    /// with their own calendar begin in its opening hours, and working time
    /// runs on it.
    ///
    /// A fixed duration is added as the runtime adds one (`2 working days`
    /// is the same time on the second working day after); a drawn one is
    /// opening time, a working day counting 7 hours.
    fn work(&mut self, step: StepIx, now: Timestamp, own: Option<&WorkCalendar>) -> (Timestamp, Timestamp) {
        let d = self.plan.durations[step.ix()].as_ref();
        let cal = own.unwrap_or(self.cal);
        let start = if own.is_some() { cal.next_open(now) } else { now };
        if let Some(Distribution::Fixed(x)) = d {
            return (start, cal.add(start, x));
        }
        let secs = d.map_or(0.0, |d| sample(d, &mut self.rng));
        let basis = d.map_or(Basis::Calendar, Distribution::basis);
        (start, advance(cal, start, basis, secs))
    }

    fn log_start(&mut self, case: u32, task: TaskId, step: StepIx, at: Timestamp, role: Option<RoleIx>) {
        if self.log && self.rep == 0 {
            let who = role.map(|r| {
                let (free, hired) = &mut self.staff[r.ix()];
                let n = free.pop().map_or_else(
                    || {
                        *hired += 1;
                        *hired
                    },
                    |Reverse(n)| n,
                );
                self.working.insert((case, step), (r, n));
                self.held.insert((case, task), (r, n));
                (r, n)
            });
            self.log_entry(case, step, at, Transition::Start, who);
        }
    }

    /// Logs that `step` of `case` was done, by whom began it.
    fn log_done(&mut self, case: u32, step: StepIx, at: Timestamp) {
        if self.log && self.rep == 0 {
            let who = self.working.remove(&(case, step));
            self.log_entry(case, step, at, Transition::Complete, who);
        }
    }

    /// Logs that one instance's task of `step` was done, by whom began it.
    fn log_instance_done(&mut self, case: u32, task: TaskId, step: StepIx, at: Timestamp) {
        if self.log && self.rep == 0 {
            let who = self.held.get(&(case, task)).copied();
            self.log_entry(case, step, at, Transition::Complete, who);
        }
    }

    fn log_entry(&mut self, case: u32, step: StepIx, at: Timestamp, lifecycle: Transition, who: Option<(RoleIx, u32)>) {
        let s = self.p.step(step);
        let role = who.map(|(r, _)| self.p.role(r));
        self.t.log.push(LogEntry {
            case,
            step: s.id.clone(),
            activity: s.title.clone(),
            activity_en: s.title_en.clone(),
            at,
            lifecycle,
            resource: match (role, who) {
                (Some(r), Some((_, n))) => format!("{}#{n}", r.id),
                _ => crate::eventlog::ENGINE_RESOURCE.to_owned(),
            },
            role: role.map(|r| r.id.clone()),
            unit: role.and_then(|r| r.unit.clone()),
            warmup: case < self.plan.sc.warmup,
        });
    }

    /// Reacts to what the runtime did to `case`.
    fn react(&mut self, case: u32, now: Timestamp) {
        let out = std::mem::take(&mut self.out);
        for e in &out {
            match &e.kind {
                EventKind::TaskCreated { task, role, step, .. } => {
                    match role.filter(|r| self.pools[r.ix()].is_some()) {
                        Some(r) => self.enqueue(case, *task, r, now),
                        None => {
                            let (start, done) = self.work(*step, now, None);
                            self.log_start(case, *task, *step, start, *role);
                            self.push(
                                done,
                                Ev::Done {
                                    case,
                                    task: *task,
                                    started: start,
                                },
                            );
                        }
                    }
                }
                // A task being worked on stays with its worker; a waiting
                // one moves to the new role's queue.
                EventKind::TaskReassigned { task, role } => {
                    if let Some(Slot::Queued(_)) = self.slots.get(&(case, *task)) {
                        self.withdraw(case, *task, now);
                        self.enqueue(case, *task, *role, now);
                    } else if !self.slots.contains_key(&(case, *task)) && self.pools[role.ix()].is_some() {
                        self.enqueue(case, *task, *role, now);
                    }
                }
                EventKind::TaskCancelled { task } => self.withdraw(case, *task, now),
                // At a first-come choice one arm is drawn by the arms'
                // probabilities (evenly when none): a message arm's message
                // comes after the step's duration, racing the timer arms; a
                // timer arm drawn sends no message, so a timer decides.
                EventKind::TokenParked {
                    token,
                    park: runtime::Park::First,
                } => {
                    let st = &self.cases[ix(case)].st;
                    let Some(step) = st.token(*token).map(|t| t.step) else {
                        continue;
                    };
                    let arms = self.p.step(step).arms(self.p);
                    let weights: Vec<f64> = arms
                        .iter()
                        .map(|(e, _)| self.p.edge(*e).kind.probability().unwrap_or(1.0))
                        .collect();
                    let drawn = arms.get(self.coin.pick(&weights)).map(|(_, t)| *t);
                    let sub = match drawn {
                        Some(crate::model::Trigger::Message(m)) => st
                            .subscriptions
                            .iter()
                            .find(|s| s.token == *token && s.message == *m)
                            .map(|s| s.id),
                        _ => None,
                    };
                    if let (Some(sub), true) = (sub, self.plan.durations[step.ix()].is_some()) {
                        let (_, done) = self.work(step, now, None);
                        self.push(
                            done,
                            Ev::Message {
                                case,
                                sub,
                                started: now,
                            },
                        );
                    }
                }
                EventKind::SubscriptionOpened { sub, token, .. } => {
                    // The event just opened it for this token.
                    let Some(step) = self.cases[ix(case)].st.token(*token).map(|t| t.step) else {
                        continue;
                    };
                    if self.p.step(step).kind != crate::model::StepKind::First
                        && self.plan.durations[step.ix()].is_some()
                    {
                        let (_, done) = self.work(step, now, None);
                        self.push(
                            done,
                            Ev::Message {
                                case,
                                sub: *sub,
                                started: now,
                            },
                        );
                    }
                }
                EventKind::ChildRequested { token, step, .. } => {
                    let (_, done) = self.work(*step, now, None);
                    self.push(
                        done,
                        Ev::Child {
                            case,
                            token: *token,
                            started: now,
                        },
                    );
                }
                EventKind::TimerScheduled { timer, due, .. } => self.push(*due, Ev::Timer { case, timer: *timer }),
                EventKind::TimersResumed { timers, .. } => {
                    for (timer, due) in timers {
                        if let Some(d) = due {
                            self.push(*d, Ev::Timer { case, timer: *timer });
                        }
                    }
                }
                EventKind::StepCompleted { step, .. } if self.p.step(*step).counts() => {
                    self.cases[ix(case)].steps += 1;
                    if self.p.step(*step).each().is_some() {
                        self.working.remove(&(case, *step));
                    } else {
                        self.log_done(case, *step, now);
                    }
                }
                EventKind::Escalated { .. } => self.cases[ix(case)].escalations += 1,
                EventKind::TaskOverdue { .. } | EventKind::CaseOverdue => self.cases[ix(case)].breached = true,
                _ => {}
            }
        }
        self.out = out;
    }

    /// Adds this replication's figures to the totals.
    fn finish(self) {
        let t = self.t;
        let (mut sum, mut sum_working, mut n) = (0.0, 0.0, 0u64);
        t.started += self.cases.len() as u64;
        for c in self.cases.iter().filter(|c| c.counted) {
            t.arrived += 1;
            match c.st.ended_at {
                Some(end) if c.st.status.is_finished() => {
                    let days = (end.0 - c.arrived.0) as f64 / 86_400.0;
                    t.cycle.push(days);
                    let working = self.cal.working_days_between(c.arrived, end);
                    t.working.push(working);
                    sum += days;
                    sum_working += working;
                    n += 1;
                    t.steps += u64::from(c.steps);
                    t.escalations += u64::from(c.escalations);
                    t.breaches += u64::from(c.breached);
                    t.processing_s += c.processing_s;
                    t.queue_s += c.queue_s;
                    t.citizen_s += c.citizen_s;
                }
                _ => {
                    t.unfinished += 1;
                    let step = |ix: StepIx| {
                        self.p
                            .steps
                            .get(ix.ix())
                            .map_or_else(|| "-".to_owned(), |s| s.id.clone())
                    };
                    let why = match c.st.incidents.iter().next() {
                        Some((token, message)) => {
                            let at = c.st.token(*token).map_or_else(|| "-".to_owned(), |k| step(k.step));
                            (at, format!("incident: {message}"))
                        }
                        None => match c.st.tokens.first() {
                            Some(k) => {
                                let what = match k.park {
                                    runtime::Park::Message { .. } => "still waiting for a message",
                                    runtime::Park::First => "still waiting for a message or a timer",
                                    runtime::Park::Task { .. } => "still waiting for a person",
                                    runtime::Park::Timer { .. } => "still waiting for its timer",
                                    runtime::Park::Child => "still waiting for a called case",
                                    _ => "still waiting",
                                };
                                (step(k.step), what.to_owned())
                            }
                            None => ("-".to_owned(), "not finished".to_owned()),
                        },
                    };
                    *t.unfinished_why.entry(why).or_insert(0) += 1;
                }
            }
        }
        if n > 0 {
            t.rep_means.push(sum / n as f64);
            t.rep_working_means.push(sum_working / n as f64);
        }
        if let Some(s) = t.sample.as_mut().filter(|_| self.rep == 0) {
            if let Some(c) = self.cases.get(s.case as usize) {
                s.ended = c.st.ended_at;
                s.outcome = c.st.outcome.clone();
            }
        }
        let span = (self.last.0 - self.plan.t0.0).max(1) as f64;
        for (i, pool) in self.pools.into_iter().enumerate() {
            let Some(mut pool) = pool else { continue };
            pool.integrate(self.last);
            let cal = pool.cal.unwrap_or(self.cal);
            pool.totals.staffed_open_s =
                f64::from(pool.people) * cal.open_seconds_between(self.plan.t0, self.last) as f64;
            pool.totals.span_s = span;
            t.roles[i].get_or_insert_with(RoleTotals::default).add(&pool.totals);
        }
    }
}

fn scalar(d: &Duration) -> f64 {
    match d.basis {
        Basis::Calendar => d.seconds as f64 + d.months as f64 * 30.44 * SECONDS_PER_DAY,
        Basis::Working => {
            d.seconds as f64 + (d.working_days as f64 + f64::from(d.working_day_permille) / 1000.0) * WORKING_DAY_S
        }
    }
}

/// Draws a duration in seconds of its basis.
fn sample(d: &Distribution, rng: &mut rand::rngs::StdRng) -> f64 {
    let v = match d {
        Distribution::Fixed(x) => scalar(x),
        Distribution::Uniform { min, max } => {
            let (a, b) = (scalar(min), scalar(max));
            if b > a {
                rng.random_range(a..b)
            } else {
                a
            }
        }
        Distribution::Triangular { min, mode, max } => {
            let (a, c, b) = (scalar(min), scalar(mode), scalar(max));
            rand_distr::Triangular::new(a, b, c).map_or(c, |t| t.sample(rng))
        }
        Distribution::Normal { mean, sd } => {
            rand_distr::Normal::new(scalar(mean), scalar(sd)).map_or(scalar(mean), |n| n.sample(rng))
        }
        Distribution::Lognormal { mean, sd } => {
            // From the mean and sd of the variable to those of its logarithm.
            let (m, s) = (scalar(mean).max(1.0), scalar(sd));
            let sigma2 = (1.0 + (s * s) / (m * m)).ln();
            rand_distr::LogNormal::new(m.ln() - sigma2 / 2.0, sigma2.sqrt()).map_or(m, |l| l.sample(rng))
        }
        Distribution::Exponential { mean } => {
            rand_distr::Exp::new(1.0 / scalar(mean).max(1e-9)).map_or(scalar(mean), |e| e.sample(rng))
        }
    };
    v.max(0.0)
}

fn advance(cal: &WorkCalendar, now: Timestamp, basis: Basis, seconds: f64) -> Timestamp {
    let s = seconds.round() as i64;
    match basis {
        Basis::Calendar => now.plus_seconds(s),
        Basis::Working => cal.add_open_seconds(now, s),
    }
}

fn draw(
    var: &crate::model::Variable,
    spec: Option<&DataDef>,
    rng: &mut rand::rngs::StdRng,
) -> Option<serde_json::Value> {
    use serde_json::Value;
    match spec {
        Some(DataDef::Value(v)) => Some(v.clone()),
        Some(DataDef::Bernoulli(p)) => Some(Value::Bool(rng.random::<f64>() < *p)),
        Some(DataDef::Choice(m)) => {
            let total: f64 = m.values().sum();
            let mut x = rng.random::<f64>() * total;
            for (k, w) in m {
                if x < *w {
                    return Some(Value::String(k.clone()));
                }
                x -= w;
            }
            m.keys().last().map(|k| Value::String(k.clone()))
        }
        None => match var.ty {
            VarType::Bool => Some(Value::Bool(rng.random::<bool>())),
            VarType::Enum if !var.values.is_empty() => {
                Some(Value::String(var.values[rng.random_range(0..var.values.len())].clone()))
            }
            VarType::Integer => Some(Value::from(0)),
            VarType::Number => Some(Value::from(0.0)),
            _ => None,
        },
    }
}

fn draw_start_data(plan: &Plan<'_>, rng: &mut rand::rngs::StdRng) -> Data {
    let p = plan.p;
    let mut d = Data::new();
    for v in &p.variables {
        if v.required
            || plan.data.contains_key(&v.name)
                && !p.steps.iter().any(|s| s.sets.iter().any(|x| p.var(*x).name == v.name))
        {
            if let Some(x) = draw(v, plan.data.get(&v.name), rng) {
                d.insert(v.name.clone(), x);
            }
        }
    }
    if p.variable("tracking_code").is_some() {
        d.insert(
            "tracking_code".into(),
            serde_json::Value::String(format!("SIM{}", rng.random::<u32>())),
        );
    }
    d
}

fn draw_outputs(plan: &Plan<'_>, step: StepIx, rng: &mut rand::rngs::StdRng) -> Data {
    let p = plan.p;
    p.step(step)
        .sets
        .iter()
        .filter_map(|ix| {
            let v = p.var(*ix);
            draw(v, plan.data.get(&v.name), rng).map(|x| (v.name.clone(), x))
        })
        .collect()
}

/// A case's number in a replication, as an index into its cases.
fn ix(case: u32) -> usize {
    case as usize
}
