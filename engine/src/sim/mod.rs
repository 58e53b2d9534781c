//! Discrete-event simulation of many cases through the same runtime.
//!
//! Owns: scenarios (arrivals, case data, headcounts per role, priorities,
//! replications, seed), the event loop under a virtual clock, sampling task
//! durations, queues for scarce roles, and the figures of a run.
//!
//! Must not: model step semantics. Every case advances only through
//! `runtime::start_with` / `runtime::handle_with`; the simulator decides
//! what the outside world does (who works when, how long it takes, which
//! way a decision with branch probabilities goes) and when.
//!
//! Determinism: one seed gives the same report, bit for bit; replication r
//! uses seed + r.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

use rand::{Rng, SeedableRng};
use rand_distr::Distribution as _;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::definition::duration::{self, Basis, Duration};
use crate::model::{Distribution, Process, VarType};
use crate::runtime::{self, Chooser, Command, Data, EventKind, Instance, LocalId};
use crate::time::{Timestamp, WorkCalendar};

/// A simulation scenario (YAML).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Ravand simulation scenario")]
pub struct Scenario {
    /// Cases to simulate in each replication (after the warm-up).
    pub cases: u32,
    /// Cases simulated first and left out of the figures.
    #[serde(default)]
    pub warmup: u32,
    #[serde(default = "one")]
    pub replications: u32,
    #[serde(default)]
    pub seed: u64,
    /// When the first case arrives (local time on the process calendar).
    #[serde(default = "default_start")]
    pub start: String,
    pub arrivals: Arrivals,
    /// People per role; a role not listed is never short of people.
    #[serde(default)]
    pub resources: BTreeMap<String, u32>,
    /// How case data is drawn, by variable: `{bernoulli: 0.3}`,
    /// `{choice: {a: 0.7, b: 0.3}}` or `{value: …}`. Variables not listed are
    /// drawn by type (a fair coin for `bool`, a uniform pick for `enum`).
    #[serde(default)]
    pub data: BTreeMap<String, DataDef>,
    /// A `bool` case variable; cases where it is true are served first in
    /// every queue (e.g. `partner`, the municipality's partner citizens).
    #[serde(default)]
    pub priority: Option<String>,
}

fn one() -> u32 {
    1
}

fn default_start() -> String {
    "2026-04-04T08:00".into()
}

/// How cases arrive.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum Arrivals {
    /// One case every so often: `{every: 30 minutes}`.
    Every(String),
    /// A Poisson process with this mean time between cases.
    Poisson(String),
}

/// How one variable is drawn.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum DataDef {
    Bernoulli(f64),
    Choice(BTreeMap<String, f64>),
    #[schemars(with = "serde_json::Value")]
    Value(serde_json::Value),
}

/// What a run found.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    pub process: String,
    pub cases: u32,
    pub replications: u32,
    pub seed: u64,
    /// Cases finished, over all replications (warm-up left out).
    pub finished: u64,
    /// Cycle time in calendar days: mean, p50, p90, p95 over all finished
    /// cases, and the 95% confidence half-width of the mean over replications.
    pub cycle_days: Stats,
    /// Steps a case went through (tasks, waits, receives, subprocesses).
    pub steps_mean: f64,
    /// Escalation rungs fired per case.
    pub escalations_mean: f64,
    /// Share of cases with a missed deadline (case or task).
    pub sla_breach_rate: f64,
    /// Per role: utilisation (busy share of staffed time) and mean wait in
    /// the queue, in hours; ranked by total waiting (the bottlenecks).
    pub roles: Vec<RoleFigures>,
    /// Cases that never finished (stuck on an incident or past the horizon).
    pub unfinished: u64,
    /// Wall time of the simulation itself, and its rates.
    pub elapsed_s: f64,
    pub cases_per_s: f64,
    pub activities_per_s: f64,
    /// Every finished case's cycle time in days, sorted (for histograms).
    #[serde(skip)]
    pub cycle_samples: Vec<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Stats {
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub ci95: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RoleFigures {
    pub role: String,
    pub people: Option<u32>,
    pub utilisation: Option<f64>,
    pub mean_wait_hours: f64,
    pub total_wait_days: f64,
}

/// One line of the event log of replication 0 (for CSV and XES).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogEntry {
    pub case: u32,
    pub activity: String,
    pub at: Timestamp,
    /// `start` or `complete`.
    pub lifecycle: &'static str,
    pub resource: Option<String>,
}

/// Why a simulation could not run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("scenario: {0}")]
    Scenario(String),
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Arrive,
    /// A person (or an outside body) finished a task.
    Done {
        case: u32,
        task: LocalId,
    },
    /// A message arrived for a subscription.
    Message {
        case: u32,
        sub: LocalId,
    },
    /// A called process finished.
    Child {
        case: u32,
        token: LocalId,
    },
    Timer {
        case: u32,
        timer: LocalId,
    },
}

/// Working seconds in a working day, for sampling durations given in days.
const WORKING_DAY_SECONDS: f64 = 7.0 * 3600.0;
/// The most events one replication handles: a scenario that never ends stops.
const MAX_EVENTS: u64 = 50_000_000;

fn scalar(d: &Duration) -> f64 {
    match d.basis {
        Basis::Calendar => d.seconds as f64 + d.months as f64 * 30.44 * 86_400.0,
        Basis::Working => d.seconds as f64 + d.working_days as f64 * WORKING_DAY_SECONDS,
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

struct Pool {
    role: u32,
    people: u32,
    busy: u32,
    /// Waiting tasks: (priority high first, arrival order).
    queue: BinaryHeap<(bool, Reverse<u64>, u32, LocalId, i64)>,
    busy_seconds: f64,
    wait_seconds: f64,
    served: u64,
}

struct SimCase {
    st: Instance,
    arrived: Timestamp,
    counted: bool,
    steps: u32,
    escalations: u32,
    breached: bool,
    seen: usize,
}

/// Runs a scenario on a process.
pub fn simulate(p: &Process, cal: &WorkCalendar, sc: &Scenario) -> Result<Report, SimError> {
    simulate_with_log(p, cal, sc, false).map(|x| x.0)
}

/// Runs a scenario; with `log`, also returns the event log of the first
/// replication (task starts and completions, with the role).
pub fn simulate_with_log(
    p: &Process,
    cal: &WorkCalendar,
    sc: &Scenario,
    log: bool,
) -> Result<(Report, Vec<LogEntry>), SimError> {
    let mut entries: Vec<LogEntry> = Vec::new();
    let started = std::time::Instant::now();
    let interval = match &sc.arrivals {
        Arrivals::Every(s) | Arrivals::Poisson(s) => duration::parse(s).map_err(|e| SimError::Scenario(e.0))?,
    };
    let t0 = cal.parse_local(&sc.start).map_err(SimError::Scenario)?;
    let mut cycle: Vec<f64> = Vec::new();
    let mut rep_means: Vec<f64> = Vec::new();
    let (mut steps, mut escalations, mut breaches, mut unfinished, mut activities) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut role_wait: BTreeMap<String, (f64, u64, f64, f64, Option<u32>)> = BTreeMap::new();
    for rep in 0..sc.replications.max(1) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(sc.seed.wrapping_add(u64::from(rep)));
        let mut coin = Coin(rand::rngs::StdRng::seed_from_u64(
            sc.seed.wrapping_add(u64::from(rep)).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        ));
        let mut pools: HashMap<u32, Pool> = HashMap::new();
        for (role, n) in &sc.resources {
            let Some(ix) = p.roles.iter().position(|r| r.id == *role) else {
                return Err(SimError::Scenario(format!("`{role}` is not a role of `{}`", p.id)));
            };
            pools.insert(
                ix as u32,
                Pool {
                    role: ix as u32,
                    people: *n,
                    busy: 0,
                    queue: BinaryHeap::new(),
                    busy_seconds: 0.0,
                    wait_seconds: 0.0,
                    served: 0,
                },
            );
        }
        let mut queue: BinaryHeap<Reverse<(Timestamp, u64, Ev)>> = BinaryHeap::new();
        // Tasks someone is working on, and the pool that person is from.
        let mut working: HashMap<(u32, LocalId), u32> = HashMap::new();
        let mut seq = 0u64;
        // Arrival order in the role queues.
        let mut qseq = 0u64;
        let mut push = |q: &mut BinaryHeap<Reverse<(Timestamp, u64, Ev)>>, t: Timestamp, ev: Ev| {
            seq += 1;
            q.push(Reverse((t, seq, ev)));
        };
        let total = sc.cases + sc.warmup;
        let mut cases: Vec<SimCase> = Vec::new();
        push(&mut queue, t0, Ev::Arrive);
        let mut handled = 0u64;
        let mut horizon = t0;
        while let Some(Reverse((now, _, ev))) = queue.pop() {
            handled += 1;
            if handled > MAX_EVENTS {
                break;
            }
            horizon = horizon.max(now);
            let mut out = Vec::new();
            let target = match ev {
                Ev::Arrive => {
                    let data = draw_start_data(p, sc, &mut rng);
                    let st = match runtime::start_with(p, cal, data, None, now, &mut out, &mut coin) {
                        Ok(st) => st,
                        Err(e) => return Err(SimError::Scenario(format!("a case cannot start: {e}"))),
                    };
                    let i = cases.len() as u32;
                    cases.push(SimCase {
                        st,
                        arrived: now,
                        counted: i >= sc.warmup,
                        steps: 0,
                        escalations: 0,
                        breached: false,
                        seen: 0,
                    });
                    if (cases.len() as u32) < total {
                        let gap = match sc.arrivals {
                            Arrivals::Every(_) => scalar(&interval),
                            Arrivals::Poisson(_) => rand_distr::Exp::new(1.0 / scalar(&interval).max(1e-9))
                                .map_or(scalar(&interval), |e| e.sample(&mut rng)),
                        };
                        push(&mut queue, advance(cal, now, interval.basis, gap), Ev::Arrive);
                    }
                    i
                }
                Ev::Done { case, task } => {
                    // The worker is free again, whatever became of the task.
                    if let Some(role) = working.remove(&(case, task)) {
                        if let Some(pool) = pools.get_mut(&role) {
                            pool.busy = pool.busy.saturating_sub(1);
                        }
                        dispatch(
                            &mut pools,
                            role,
                            now,
                            cal,
                            p,
                            &cases,
                            &mut working,
                            &mut rng,
                            &mut |t2, e2| push(&mut queue, t2, e2),
                        );
                    }
                    let c = &mut cases[case as usize];
                    let Some(t) = c.st.task(task).cloned() else { continue };
                    let outputs = draw_outputs(p, &p.steps[t.step as usize].sets, sc, &mut rng);
                    let c = &mut cases[case as usize];
                    if runtime::handle_with(
                        p,
                        cal,
                        &mut c.st,
                        Command::Complete {
                            task,
                            by: None,
                            outputs,
                        },
                        now,
                        &mut out,
                        &mut coin,
                    )
                    .is_err()
                    {
                        continue;
                    }
                    activities += 1;
                    case
                }
                Ev::Message { case, sub } => {
                    let c = &mut cases[case as usize];
                    let Some(s) = c.st.subscriptions.iter().find(|s| s.id == sub) else {
                        continue;
                    };
                    let step = c.st.token(s.token).map_or(0, |t| t.step);
                    let data = draw_outputs(p, &p.steps[step as usize].sets, sc, &mut rng);
                    if runtime::handle_with(
                        p,
                        cal,
                        &mut c.st,
                        Command::Deliver { sub, data },
                        now,
                        &mut out,
                        &mut coin,
                    )
                    .is_err()
                    {
                        continue;
                    }
                    activities += 1;
                    case
                }
                Ev::Child { case, token } => {
                    let c = &mut cases[case as usize];
                    let step = c.st.token(token).map_or(0, |t| t.step);
                    let data = draw_outputs(p, &p.steps[step as usize].sets, sc, &mut rng);
                    if runtime::handle_with(
                        p,
                        cal,
                        &mut c.st,
                        Command::ChildFinished {
                            token,
                            outcome: None,
                            data,
                        },
                        now,
                        &mut out,
                        &mut coin,
                    )
                    .is_err()
                    {
                        continue;
                    }
                    activities += 1;
                    case
                }
                Ev::Timer { case, timer } => {
                    let c = &mut cases[case as usize];
                    if c.st.timer(timer).and_then(|t| t.due) != Some(now) {
                        continue;
                    }
                    if runtime::handle_with(
                        p,
                        cal,
                        &mut c.st,
                        Command::FireTimer { timer },
                        now,
                        &mut out,
                        &mut coin,
                    )
                    .is_err()
                    {
                        continue;
                    }
                    case
                }
            };
            // React to what the runtime did.
            let ci = target as usize;
            for e in &out {
                match &e.kind {
                    EventKind::TaskCreated { task, role, step, .. } => {
                        if log && rep == 0 {
                            let st = &p.steps[*step as usize];
                            entries.push(LogEntry {
                                case: target,
                                activity: st.title_en.clone().unwrap_or_else(|| st.title.clone()),
                                at: now,
                                lifecycle: "start",
                                resource: role.map(|r| p.roles[r as usize].id.clone()),
                            });
                        }
                        let prio = sc
                            .priority
                            .as_ref()
                            .is_some_and(|v| cases[ci].st.data.get(v) == Some(&serde_json::Value::Bool(true)));
                        match role.and_then(|r| pools.get_mut(&r).map(|pool| (r, pool))) {
                            Some((r, pool)) => {
                                qseq += 1;
                                pool.queue.push((prio, Reverse(qseq), target, *task, now.0));
                                let _ = step;
                                dispatch(
                                    &mut pools,
                                    r,
                                    now,
                                    cal,
                                    p,
                                    &cases,
                                    &mut working,
                                    &mut rng,
                                    &mut |t2, e2| push(&mut queue, t2, e2),
                                );
                            }
                            None => {
                                let d = p.steps[*step as usize]
                                    .duration
                                    .as_ref()
                                    .map_or(0.0, |d| sample(d, &mut rng));
                                let basis = p.steps[*step as usize]
                                    .duration
                                    .as_ref()
                                    .map_or(Basis::Calendar, Distribution::basis);
                                push(
                                    &mut queue,
                                    advance(cal, now, basis, d),
                                    Ev::Done {
                                        case: target,
                                        task: *task,
                                    },
                                );
                            }
                        }
                    }
                    // A task being worked on stays with its worker; a waiting
                    // one joins the new role's queue (its old entry goes stale).
                    EventKind::TaskReassigned { task, role } if !working.contains_key(&(target, *task)) => {
                        if let Some(pool) = pools.get_mut(role) {
                            qseq += 1;
                            pool.queue.push((false, Reverse(qseq), target, *task, now.0));
                            dispatch(
                                &mut pools,
                                *role,
                                now,
                                cal,
                                p,
                                &cases,
                                &mut working,
                                &mut rng,
                                &mut |t2, e2| push(&mut queue, t2, e2),
                            );
                        }
                    }
                    EventKind::SubscriptionOpened { sub, token, .. } => {
                        let step = cases[ci].st.token(*token).map_or(0, |t| t.step);
                        if let Some(d) = &p.steps[step as usize].duration {
                            let secs = sample(d, &mut rng);
                            push(
                                &mut queue,
                                advance(cal, now, d.basis(), secs),
                                Ev::Message {
                                    case: target,
                                    sub: *sub,
                                },
                            );
                        }
                    }
                    EventKind::ChildRequested { token, step, .. } => {
                        let d = p.steps[*step as usize].duration.as_ref();
                        let secs = d.map_or(0.0, |d| sample(d, &mut rng));
                        let basis = d.map_or(Basis::Calendar, Distribution::basis);
                        push(
                            &mut queue,
                            advance(cal, now, basis, secs),
                            Ev::Child {
                                case: target,
                                token: *token,
                            },
                        );
                    }
                    EventKind::TimerScheduled { timer, due, .. } => push(
                        &mut queue,
                        *due,
                        Ev::Timer {
                            case: target,
                            timer: *timer,
                        },
                    ),
                    EventKind::TimersResumed { timers, .. } => {
                        for (timer, due) in timers {
                            if let Some(d) = due {
                                push(
                                    &mut queue,
                                    *d,
                                    Ev::Timer {
                                        case: target,
                                        timer: *timer,
                                    },
                                );
                            }
                        }
                    }
                    EventKind::StepCompleted { step, .. } if p.steps[*step as usize].counts() => {
                        cases[ci].steps += 1;
                        if log && rep == 0 {
                            let st = &p.steps[*step as usize];
                            entries.push(LogEntry {
                                case: target,
                                activity: st.title_en.clone().unwrap_or_else(|| st.title.clone()),
                                at: now,
                                lifecycle: "complete",
                                resource: st.performer.map(|r| p.roles[r.0 as usize].id.clone()),
                            });
                        }
                    }
                    EventKind::Escalated { .. } => cases[ci].escalations += 1,
                    EventKind::TaskOverdue { .. } | EventKind::CaseOverdue => cases[ci].breached = true,
                    _ => {}
                }
            }
            cases[ci].seen += out.len();
        }
        // Figures of this replication.
        let mut sum = 0.0;
        let mut n = 0u64;
        for c in cases.iter().filter(|c| c.counted) {
            match c.st.ended_at {
                Some(end) if c.st.status.is_finished() => {
                    let days = (end.0 - c.arrived.0) as f64 / 86_400.0;
                    cycle.push(days);
                    sum += days;
                    n += 1;
                    steps += u64::from(c.steps);
                    escalations += u64::from(c.escalations);
                    breaches += u64::from(c.breached);
                }
                _ => unfinished += 1,
            }
        }
        if n > 0 {
            rep_means.push(sum / n as f64);
        }
        let span = (horizon.0 - t0.0).max(1) as f64;
        for (ix, pool) in &pools {
            let e = role_wait
                .entry(p.roles[*ix as usize].id.clone())
                .or_insert((0.0, 0, 0.0, 0.0, Some(pool.people)));
            e.0 += pool.wait_seconds;
            e.1 += pool.served;
            e.2 += pool.busy_seconds;
            e.3 += f64::from(pool.people) * span;
        }
    }
    let finished = cycle.len() as u64;
    cycle.sort_by(f64::total_cmp);
    let pct = |q: f64| {
        if cycle.is_empty() {
            0.0
        } else {
            cycle[((cycle.len() - 1) as f64 * q).round() as usize]
        }
    };
    let mean = if cycle.is_empty() {
        0.0
    } else {
        cycle.iter().sum::<f64>() / cycle.len() as f64
    };
    let ci95 = if rep_means.len() > 1 {
        let m = rep_means.iter().sum::<f64>() / rep_means.len() as f64;
        let var = rep_means.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (rep_means.len() - 1) as f64;
        t975(rep_means.len() - 1) * (var / rep_means.len() as f64).sqrt()
    } else {
        0.0
    };
    let mut roles: Vec<RoleFigures> = role_wait
        .into_iter()
        .map(|(role, (wait, served, busy, staffed, people))| RoleFigures {
            role,
            people,
            utilisation: (staffed > 0.0).then(|| busy / staffed),
            mean_wait_hours: if served > 0 { wait / served as f64 / 3600.0 } else { 0.0 },
            total_wait_days: wait / 86_400.0,
        })
        .collect();
    roles.sort_by(|a, b| {
        b.total_wait_days
            .total_cmp(&a.total_wait_days)
            .then(a.role.cmp(&b.role))
    });
    let per = |x: u64| if finished > 0 { x as f64 / finished as f64 } else { 0.0 };
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    entries.sort_by_key(|e| (e.case, e.at));
    Ok((
        Report {
            process: p.id.0.clone(),
            cases: sc.cases,
            replications: sc.replications.max(1),
            seed: sc.seed,
            finished,
            cycle_days: Stats {
                mean,
                p50: pct(0.5),
                p90: pct(0.9),
                p95: pct(0.95),
                ci95,
            },
            steps_mean: per(steps),
            escalations_mean: per(escalations),
            sla_breach_rate: per(breaches),
            roles,
            unfinished,
            elapsed_s: elapsed,
            cases_per_s: (sc.cases + sc.warmup) as f64 * sc.replications.max(1) as f64 / elapsed,
            activities_per_s: activities as f64 / elapsed,
            cycle_samples: cycle,
        },
        entries,
    ))
}

/// The log as CSV: `case,activity,timestamp,lifecycle,resource`.
pub fn to_csv(log: &[LogEntry]) -> String {
    let q = |s: &str| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_owned()
        }
    };
    let mut out = String::from("case,activity,timestamp,lifecycle,resource\n");
    for e in log {
        out.push_str(&format!(
            "{},{},{},{},{}\n",
            e.case,
            q(&e.activity),
            e.at,
            e.lifecycle,
            q(e.resource.as_deref().unwrap_or(""))
        ));
    }
    out
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The log as XES (IEEE 1849), for PM4Py, ProM and Disco.
pub fn to_xes(process: &str, log: &[LogEntry]) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<log xes.version=\"1.0\" xes.features=\"nested-attributes\" xmlns=\"http://www.xes-standard.org/\">\n");
    for (name, prefix, uri) in [
        ("Concept", "concept", "http://www.xes-standard.org/concept.xesext"),
        ("Time", "time", "http://www.xes-standard.org/time.xesext"),
        ("Lifecycle", "lifecycle", "http://www.xes-standard.org/lifecycle.xesext"),
        ("Organizational", "org", "http://www.xes-standard.org/org.xesext"),
    ] {
        out.push_str(&format!(
            "  <extension name=\"{name}\" prefix=\"{prefix}\" uri=\"{uri}\"/>\n"
        ));
    }
    out.push_str(&format!(
        "  <string key=\"concept:name\" value=\"{}\"/>\n",
        xml(process)
    ));
    let mut i = 0;
    while i < log.len() {
        let case = log[i].case;
        out.push_str(&format!(
            "  <trace>\n    <string key=\"concept:name\" value=\"case-{case}\"/>\n"
        ));
        while i < log.len() && log[i].case == case {
            let e = &log[i];
            out.push_str("    <event>\n");
            out.push_str(&format!(
                "      <string key=\"concept:name\" value=\"{}\"/>\n",
                xml(&e.activity)
            ));
            out.push_str(&format!(
                "      <date key=\"time:timestamp\" value=\"{}\"/>\n",
                e.at.to_utc().format("%Y-%m-%dT%H:%M:%S%.3f+00:00")
            ));
            out.push_str(&format!(
                "      <string key=\"lifecycle:transition\" value=\"{}\"/>\n",
                e.lifecycle
            ));
            if let Some(r) = &e.resource {
                out.push_str(&format!("      <string key=\"org:resource\" value=\"{}\"/>\n", xml(r)));
            }
            out.push_str("    </event>\n");
            i += 1;
        }
        out.push_str("  </trace>\n");
    }
    out.push_str("</log>\n");
    out
}

/// The 97.5% quantile of Student's t with `df` degrees of freedom.
fn t975(df: usize) -> f64 {
    const T: [f64; 10] = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228];
    match df {
        0 => 0.0,
        1..=10 => T[df - 1],
        11..=20 => 2.1,
        21..=40 => 2.03,
        _ => 1.96,
    }
}

fn advance(cal: &WorkCalendar, now: Timestamp, basis: Basis, seconds: f64) -> Timestamp {
    let s = seconds.round() as i64;
    match basis {
        Basis::Calendar => now.plus_seconds(s),
        Basis::Working => cal.add_open_seconds(now, s),
    }
}

/// Gives waiting tasks of `role` to free people, highest priority first;
/// entries gone stale (task done, cancelled, moved, or taken) are skipped.
#[allow(clippy::too_many_arguments)]
fn dispatch(
    pools: &mut HashMap<u32, Pool>,
    role: u32,
    now: Timestamp,
    cal: &WorkCalendar,
    p: &Process,
    cases: &[SimCase],
    working: &mut HashMap<(u32, LocalId), u32>,
    rng: &mut rand::rngs::StdRng,
    push: &mut dyn FnMut(Timestamp, Ev),
) {
    let Some(pool) = pools.get_mut(&role) else { return };
    while pool.busy < pool.people {
        let Some((_, _, case, task, queued)) = pool.queue.pop() else {
            break;
        };
        let Some(t) = cases.get(case as usize).and_then(|c| c.st.task(task)) else {
            continue;
        };
        if t.role != Some(pool.role) || working.contains_key(&(case, task)) {
            continue;
        }
        let step = &p.steps[t.step as usize];
        let d = step.duration.as_ref().map_or(0.0, |d| sample(d, rng));
        let basis = step.duration.as_ref().map_or(Basis::Calendar, Distribution::basis);
        let done = advance(cal, now, basis, d);
        pool.busy += 1;
        pool.served += 1;
        pool.wait_seconds += (now.0 - queued).max(0) as f64;
        pool.busy_seconds += (done.0 - now.0).max(0) as f64;
        working.insert((case, task), role);
        push(done, Ev::Done { case, task });
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

fn draw_start_data(p: &Process, sc: &Scenario, rng: &mut rand::rngs::StdRng) -> Data {
    let mut d = Data::new();
    for v in &p.variables {
        if v.required
            || sc.data.contains_key(&v.name)
                && !p
                    .steps
                    .iter()
                    .any(|s| s.sets.iter().any(|x| p.variables[x.0 as usize].name == v.name))
        {
            if let Some(x) = draw(v, sc.data.get(&v.name), rng) {
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

fn draw_outputs(p: &Process, sets: &[crate::model::VarIx], sc: &Scenario, rng: &mut rand::rngs::StdRng) -> Data {
    sets.iter()
        .filter_map(|ix| {
            let v = &p.variables[ix.0 as usize];
            draw(v, sc.data.get(&v.name), rng).map(|x| (v.name.clone(), x))
        })
        .collect()
}

/// Reads a scenario file's text.
pub fn parse_scenario(
    src: &crate::definition::SourceFile,
    limits: &crate::definition::Limits,
) -> Result<Scenario, Vec<crate::diagnostic::Diagnostic>> {
    crate::definition::parse_any(src, limits)
}

/// The report as a short text table.
pub fn to_text(r: &Report) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}: {} cases x {} replications, seed {}",
        r.process, r.cases, r.replications, r.seed
    );
    let c = &r.cycle_days;
    let _ = writeln!(
        s,
        "  cycle time (days)   mean {:.2} ± {:.2}   p50 {:.2}   p90 {:.2}   p95 {:.2}",
        c.mean, c.ci95, c.p50, c.p90, c.p95
    );
    let _ = writeln!(s, "  steps per case      {:.1}", r.steps_mean);
    let _ = writeln!(s, "  escalations/case    {:.2}", r.escalations_mean);
    let _ = writeln!(s, "  SLA breach rate     {:.1}%", r.sla_breach_rate * 100.0);
    let _ = writeln!(s, "  finished            {} ({} unfinished)", r.finished, r.unfinished);
    for role in &r.roles {
        let _ = writeln!(
            s,
            "  {:<22} people {:<4} utilisation {:>5}   mean wait {:.1} h",
            role.role,
            role.people.map_or("-".into(), |n| n.to_string()),
            role.utilisation.map_or("-".into(), |u| format!("{:.0}%", u * 100.0)),
            role.mean_wait_hours
        );
    }
    let _ = writeln!(
        s,
        "  {:.0} cases/s, {:.0} activities/s",
        r.cases_per_s, r.activities_per_s
    );
    s
}
