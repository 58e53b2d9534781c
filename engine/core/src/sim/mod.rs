//! Discrete-event simulation of many cases through the same runtime.
//!
//! Owns: scenarios (arrivals, case data, headcounts and calendars per role,
//! duration overrides, priorities, horizon, replications, seed), checking a
//! scenario against its process (every problem at its line), the event loop
//! under a virtual clock (`run`), and the figures of a run (`output`).
//!
//! Must not: model step semantics. Every case advances only through
//! `runtime::start_with` / `runtime::handle_with`; the simulator decides
//! what the outside world does (who works when, how long it takes, which
//! way a decision with branch probabilities goes) and when.
//!
//! Determinism: one seed gives the same report, bit for bit; replication r
//! uses seed + r.

mod output;
mod run;

use std::collections::{BTreeMap, HashMap};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use crate::definition::duration::{self, Duration};
use crate::definition::{DistributionDef, SStr, ScheduleDef};
use crate::diagnostic::{suggest, Diagnostic, Place};
use crate::model::{Distribution, Process, Schedule, StepKind, VarType};
use crate::time::{Timestamp, WorkCalendar};

pub use output::{to_csv, to_log, to_text, to_xes};

/// A simulation scenario (YAML).
#[allow(missing_docs)] // its fields are documented as the scenario JSON Schema is (issue 15)
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Ravand simulation scenario")]
pub struct Scenario {
    /// Cases to simulate in each replication (after the warm-up). With
    /// `horizon` too, arrivals stop at whichever comes first.
    #[serde(default)]
    pub cases: Option<u32>,
    /// How long cases keep arriving after `start`, e.g. `9 months`; cases
    /// that arrived run to their end.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub horizon: Option<SStr>,
    /// Cases simulated first and left out of the figures.
    #[serde(default)]
    pub warmup: u32,
    #[serde(default = "one")]
    pub replications: u32,
    #[serde(default)]
    pub seed: u64,
    /// When the first case may arrive (local time on the process calendar),
    /// default `2026-04-04T08:00`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub start: Option<SStr>,
    #[schemars(with = "Arrivals")]
    pub arrivals: Spanned<Arrivals>,
    /// People per role: `clerk: 5`, or `clerk: {people: 5, calendar:
    /// tehran-municipal}` for people who keep their own working hours. A
    /// role not listed is never short of people.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, ResourceDef>")]
    pub resources: HashMap<SStr, ResourceDef>,
    /// Durations that replace the definition's, by step id (tasks,
    /// receives, subprocesses): `review: {triangular: {min: 1 working days,
    /// mode: 2 working days, max: 5 working days}}`.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, DistributionDef>")]
    pub durations: HashMap<SStr, DistributionDef>,
    /// How case data is drawn, by variable: `{bernoulli: 0.3}`,
    /// `{choice: {a: 0.7, b: 0.3}}` or `{value: …}`. Variables not listed are
    /// drawn by type (a fair coin for `bool`, a uniform pick for `enum`).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, DataDef>")]
    pub data: HashMap<SStr, DataDef>,
    /// A `bool` case variable; cases where it is true are served first in
    /// every queue (e.g. `partner`, the municipality's partner citizens).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub priority: Option<SStr>,
    /// Calendars that `resources` name, loaded by the caller (see
    /// [`Scenario::calendar_names`]).
    #[serde(skip)]
    #[schemars(skip)]
    pub calendars: BTreeMap<String, WorkCalendar>,
}

fn one() -> u32 {
    1
}

const DEFAULT_START: &str = "2026-04-04T08:00";

/// How cases arrive: exactly one of `every`, `poisson` and `schedule`.
/// Intervals in working time (`30 working minutes`) count only the process
/// calendar's opening hours, so cases arrive only while offices are open.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Arrivals {
    /// One arrival every so often: `30 minutes`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub every: Option<SStr>,
    /// A Poisson process with this mean time between arrivals.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub poisson: Option<SStr>,
    /// An arrival at each occurrence of a recurring schedule, e.g.
    /// `{repeat: R/2026-04-07T19:00/P14D}` or `{cron: "0 0 19 * * Tue"}`.
    #[serde(default)]
    pub schedule: Option<ScheduleDef>,
    /// Cases arriving together at each arrival (default 1), e.g. the
    /// requests heard at one public meeting.
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub batch: Option<Spanned<u32>>,
}

/// People of one role.
#[allow(missing_docs)] // its fields are documented as the scenario JSON Schema is (issue 15)
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ResourceDef {
    People(u32),
    Pool {
        people: u32,
        /// A calendar id (a file in `calendars/` beside the process): they
        /// start work only in its opening hours, and working-time durations
        /// run on it.
        #[serde(default)]
        calendar: Option<String>,
    },
}

/// How one variable is drawn.
#[allow(missing_docs)] // its fields are documented as the scenario JSON Schema is (issue 15)
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum DataDef {
    Bernoulli(f64),
    Choice(BTreeMap<String, f64>),
    #[schemars(with = "serde_json::Value")]
    Value(serde_json::Value),
}

impl Scenario {
    /// The calendars `resources` name, for the caller to load into
    /// `calendars`.
    pub fn calendar_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .resources
            .values()
            .filter_map(|r| match r {
                ResourceDef::Pool { calendar, .. } => calendar.clone(),
                ResourceDef::People(_) => None,
            })
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

/// What a run found.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    /// The process id.
    pub process: String,
    /// Which scenario ran, when it is worth saying (the default one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    /// The scenario's case count per replication, and its horizon in days.
    pub cases: Option<u32>,
    /// The horizon, in days from the start.
    pub horizon_days: Option<f64>,
    /// Replications run.
    pub replications: u32,
    /// The seed of replication 0.
    pub seed: u64,
    /// Cases that arrived, over all replications (warm-up left out).
    pub arrived: u64,
    /// Cases finished, over all replications (warm-up left out).
    pub finished: u64,
    /// Cycle time in calendar days: mean, p50, p90, p95 over all finished
    /// cases, and the 95% confidence half-width of the mean over replications.
    pub cycle_days: Stats,
    /// Cycle time in working days on the process calendar (each working
    /// day passed counts 1, a part of one its share of that day's hours).
    pub cycle_working_days: Stats,
    /// Per finished case, summed over its activities (parallel branches
    /// overlap, so the sums may exceed the cycle time): days being worked on
    /// (by staff, the citizen or an outside body), and days waiting in a
    /// queue for a free person.
    pub processing_days_mean: f64,
    /// Mean days a case spent queueing for people.
    pub queue_days_mean: f64,
    /// Per finished case, days at steps marked `waits_on: citizen` (the
    /// file waits on the owner: documents, payments, visits).
    pub citizen_days_mean: f64,
    /// Steps a case went through (tasks, waits, receives, subprocesses).
    pub steps_mean: f64,
    /// Escalation rungs fired per case.
    pub escalations_mean: f64,
    /// Share of cases with a missed deadline (case or task).
    pub sla_breach_rate: f64,
    /// Per staffed role, ranked by total waiting (the bottlenecks).
    pub roles: Vec<RoleFigures>,
    /// Every step done, the most time per case first.
    pub slowest_steps: Vec<StepFigures>,
    /// The first counted case of replication 0, activity by activity.
    pub sample_case: Option<SampleCase>,
    /// Cases that never finished (stuck on an incident or a message that
    /// never comes).
    pub unfinished: u64,
    /// Why they did not finish, the most cases first: the step, and an
    /// incident's reason or what the case still waits for.
    pub unfinished_why: Vec<Unfinished>,
    /// Cases started, over every replication (warm-up included).
    pub cases_started: u64,
    /// Activities done, over every replication.
    pub activities: u64,
    /// Every finished case's cycle time in days, sorted (for histograms).
    #[serde(skip)]
    pub cycle_samples: Vec<f64>,
}

/// A sample's mean, spread and percentiles (days).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Stats {
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// Half-width of the 95% confidence interval of the mean over the
    /// replications; `None` (JSON `null`) with one replication.
    pub ci95: Option<f64>,
}

/// Cases that did not finish for one reason at one step.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Unfinished {
    /// Where they stopped.
    pub step: String,
    /// Why.
    pub reason: String,
    /// How many cases.
    pub cases: u64,
}

/// One staffed role's figures: utilisation, queueing, waits.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RoleFigures {
    /// The role id.
    pub role: String,
    /// People in it, when staffed.
    pub people: Option<u32>,
    /// Busy share of the people's opening time (their own calendar, or the
    /// process's).
    pub utilisation: Option<f64>,
    /// Mean wait of a task in the role's queue, in hours.
    pub mean_wait_hours: f64,
    /// Days all its tasks waited for someone, summed.
    pub total_wait_days: f64,
    /// Tasks waiting in the queue: time-averaged, and the most at once.
    pub mean_queue: f64,
    /// The longest queue seen.
    pub max_queue: u32,
}

/// One step's figures: how often it was done and how long it took.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StepFigures {
    /// The step id.
    pub step: String,
    /// Its title.
    pub title: String,
    /// Times the step was done per counted case (finished or not: the
    /// times are summed over all of them), how long it took each time
    /// (days), and the product.
    pub per_case: f64,
    /// Mean days each time it is done.
    pub mean_days: f64,
    /// Days it takes per case, visits summed.
    pub days_per_case: f64,
}

/// One case, activity by activity (the first counted case of replication 0).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SampleCase {
    /// Its number in the replication.
    pub case: u32,
    /// When it arrived.
    pub arrived: Timestamp,
    /// The arrival as people read it (Solar Hijri, then Gregorian).
    pub arrived_local: String,
    /// When it ended.
    pub ended: Option<Timestamp>,
    /// How it ended.
    pub outcome: Option<String>,
    /// What was done, in order.
    pub activities: Vec<SampleActivity>,
}

/// One activity of the sample case; times in days since the case arrived.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SampleActivity {
    /// The step id.
    pub step: String,
    /// Its title.
    pub title: String,
    /// Who did it.
    pub role: Option<String>,
    /// When it was queued, in days from arrival.
    pub queued_day: f64,
    /// When work began, in days from arrival.
    pub started_day: f64,
    /// When it was done, in days from arrival.
    pub ended_day: f64,
}

/// One line of the event log of replication 0 (for XES, CSV and OCEL, as
/// [`to_log`] shapes it like the log of real cases).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogEntry {
    /// The case number.
    pub case: u32,
    /// The step id.
    pub step: String,
    /// The step's title.
    pub activity: String,
    /// Its English title.
    pub activity_en: Option<String>,
    /// When.
    pub at: Timestamp,
    /// Work began or was done.
    pub lifecycle: crate::eventlog::Transition,
    /// Who did it: a person of the role's (`clerk#2`, numbered in the
    /// replication), or [`crate::eventlog::ENGINE_RESOURCE`] for a step no
    /// person does.
    pub resource: String,
    /// The role whose work it is.
    pub role: Option<String>,
    /// That role's unit.
    pub unit: Option<String>,
    /// Whether the case arrived in the warm-up (left out of the figures).
    pub warmup: bool,
}

/// Why a simulation could not run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The scenario does not fit the process; each problem at its line.
    #[error("{}", .0.iter().map(|d| format!("{}:{}: {}", d.line, d.column, d.message)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<Diagnostic>),
    /// The scenario cannot run on this process.
    #[error("scenario: {0}")]
    Scenario(String),
}

/// How arrivals are spaced, resolved.
enum Spacing {
    Every(Duration),
    Poisson(Duration),
    Schedule(Schedule),
}

/// A scenario checked against its process and resolved to indices.
struct Plan<'a> {
    p: &'a Process,
    cal: &'a WorkCalendar,
    sc: &'a Scenario,
    t0: Timestamp,
    horizon: Option<Timestamp>,
    /// Cases that may arrive in a replication, warm-up included.
    max_cases: u64,
    spacing: Spacing,
    batch: u32,
    /// By role index: headcount and own calendar, for staffed roles.
    pools: Vec<Option<(u32, Option<&'a WorkCalendar>)>>,
    /// By step index: the duration to sample (the scenario's or the
    /// definition's).
    durations: Vec<Option<Distribution>>,
    data: BTreeMap<String, DataDef>,
    priority: Option<String>,
}

/// Most cases one replication may start (a horizon with a tiny interval
/// would otherwise fill memory).
const MAX_CASES: u64 = 10_000_000;

fn check(p: &Process, sc: &Scenario) -> Vec<Diagnostic> {
    let mut d = Vec::new();
    let top = Place::of(&sc.arrivals);
    if sc.cases.is_none() && sc.horizon.is_none() {
        d.push(
            Diagnostic::error(
                "scenario-end",
                Place::top(),
                "the scenario says neither `cases` nor `horizon`",
            )
            .help("add `cases: 1000` (per replication), or `horizon: 9 months`"),
        );
    }
    if sc.replications == 0 {
        d.push(Diagnostic::error(
            "scenario-replications",
            Place::top(),
            "`replications` must be at least 1",
        ));
    }
    let a = &sc.arrivals.value;
    let given = [a.every.is_some(), a.poisson.is_some(), a.schedule.is_some()];
    if given.iter().filter(|x| **x).count() != 1 {
        d.push(
            Diagnostic::error(
                "scenario-arrivals",
                top,
                "`arrivals` needs exactly one of `every`, `poisson` and `schedule`",
            )
            .help("e.g. `arrivals: {poisson: 12 hours}`"),
        );
    }
    if let Some(b) = &a.batch {
        if b.value == 0 {
            d.push(Diagnostic::error(
                "scenario-arrivals",
                Place::of(b),
                "`batch` must be at least 1",
            ));
        }
    }
    for (role, r) in &sc.resources {
        if !p.roles.iter().any(|x| x.id == role.value) {
            d.push(unknown("role", role, p.roles.iter().map(|r| r.id.as_str())));
        }
        let (ResourceDef::People(n) | ResourceDef::Pool { people: n, .. }) = r;
        if *n == 0 {
            d.push(
                Diagnostic::error(
                    "scenario-resources",
                    Place::of(role),
                    format!("`{}` has no people", role.value),
                )
                .help("give it at least 1, or leave the role out (never short of people)"),
            );
        }
        if let ResourceDef::Pool { calendar: Some(c), .. } = r {
            if !sc.calendars.contains_key(c) {
                d.push(
                    Diagnostic::error(
                        "scenario-calendar",
                        Place::of(role),
                        format!("calendar `{c}` of `{}` is not loaded", role.value),
                    )
                    .help("put it in `calendars/` beside the process file"),
                );
            }
        }
    }
    for step in sc.durations.keys() {
        match p.steps.iter().find(|s| s.id == step.value) {
            None => d.push(unknown("step", step, p.steps.iter().map(|s| s.id.as_str()))),
            Some(s) if !matches!(s.kind, StepKind::Task | StepKind::Receive | StepKind::First | StepKind::Subprocess) => d.push(
                Diagnostic::error(
                    "scenario-duration",
                    Place::of(step),
                    format!(
                        "`{}` is a {:?} step; only tasks, receives, first-come choices and subprocesses take a duration",
                        step.value, s.kind
                    ),
                )
                .help("a wait's time comes from its definition"),
            ),
            Some(_) => {}
        }
    }
    for (name, def) in &sc.data {
        let Some(v) = p.variable(&name.value) else {
            d.push(unknown("variable", name, p.variables.iter().map(|v| v.name.as_str())));
            continue;
        };
        let fits = match def {
            DataDef::Bernoulli(x) => v.ty == VarType::Bool && (0.0..=1.0).contains(x),
            DataDef::Choice(m) => {
                matches!(v.ty, VarType::Enum | VarType::String)
                    && m.values().all(|w| *w >= 0.0 && w.is_finite())
                    && m.values().sum::<f64>() > 0.0
                    && (v.ty != VarType::Enum || m.keys().all(|k| v.values.contains(k)))
            }
            DataDef::Value(x) => crate::runtime::check_value(v, x).is_ok(),
        };
        if !fits {
            d.push(
                Diagnostic::error(
                    "scenario-data",
                    Place::of(name),
                    format!("this draw does not fit `{}` ({:?})", name.value, v.ty),
                )
                .help("`bernoulli: p` (0 ≤ p ≤ 1) for a bool, `choice: {value: weight}` with its values for an enum or a string, `value:` of its type otherwise"),
            );
        }
    }
    if let Some(pr) = &sc.priority {
        if p.variable(&pr.value).is_none_or(|v| v.ty != VarType::Bool) {
            d.push(
                Diagnostic::error(
                    "scenario-priority",
                    Place::of(pr),
                    format!("`{}` is not a bool variable of the process", pr.value),
                )
                .help("priority names a `bool` case variable, e.g. `partner`"),
            );
        }
    }
    d
}

fn unknown<'a>(what: &str, name: &SStr, candidates: impl IntoIterator<Item = &'a str>) -> Diagnostic {
    Diagnostic::error(
        "scenario-unknown",
        Place::of(name),
        format!("`{}` is not a {what} of the process", name.value),
    )
    .help(suggest(&name.value, candidates, format!("use a {what} of the process")))
}

fn parse_duration(s: &SStr, what: &str, diags: &mut Vec<Diagnostic>) -> Option<Duration> {
    match duration::parse(&s.value) {
        Ok(d) if !d.is_zero() => Some(d),
        Ok(_) => {
            diags.push(Diagnostic::error(
                "bad-duration",
                Place::of(s),
                format!("{what} must be longer than 0"),
            ));
            None
        }
        Err(e) => {
            diags.push(Diagnostic::error(
                "bad-duration",
                Place::of(s),
                format!("{what}: {}", e.0),
            ));
            None
        }
    }
}

fn prepare<'a>(p: &'a Process, cal: &'a WorkCalendar, sc: &'a Scenario) -> Result<Plan<'a>, SimError> {
    let mut diags = check(p, sc);
    let t0 = match &sc.start {
        None => cal.parse_local(DEFAULT_START).ok(),
        Some(s) => match cal.parse_local(&s.value) {
            Ok(t) => Some(t),
            Err(e) => {
                diags.push(Diagnostic::error("scenario-start", Place::of(s), e));
                None
            }
        },
    };
    let horizon = sc
        .horizon
        .as_ref()
        .and_then(|h| parse_duration(h, "`horizon`", &mut diags))
        .zip(t0)
        .map(|(d, t0)| cal.add(t0, &d));
    let a = &sc.arrivals.value;
    let spacing = if let Some(s) = &a.every {
        parse_duration(s, "`every`", &mut diags).map(Spacing::Every)
    } else if let Some(s) = &a.poisson {
        parse_duration(s, "`poisson`", &mut diags).map(Spacing::Poisson)
    } else if let Some(s) = &a.schedule {
        match crate::model::compile_schedule(s, Place::of(&sc.arrivals)) {
            Ok(x) => Some(Spacing::Schedule(x)),
            Err(e) => {
                diags.extend(e);
                None
            }
        }
    } else {
        None
    };
    let mut durations: Vec<Option<Distribution>> = p.steps.iter().map(|s| s.duration.clone()).collect();
    for (step, def) in &sc.durations {
        match crate::model::compile_distribution(def) {
            Ok(x) => {
                if let Some(i) = p.steps.iter().position(|s| s.id == step.value) {
                    durations[i] = Some(x);
                }
            }
            Err(e) => diags.extend(e),
        }
    }
    let mut pools = vec![None; p.roles.len()];
    for (role, r) in &sc.resources {
        if let Some(i) = p.roles.iter().position(|x| x.id == role.value) {
            pools[i] = Some(match r {
                ResourceDef::People(n) => (*n, None),
                ResourceDef::Pool { people, calendar } => {
                    (*people, calendar.as_ref().and_then(|c| sc.calendars.get(c)))
                }
            });
        }
    }
    let (Some(t0), Some(spacing), true) = (t0, spacing, diags.iter().all(|d| !d.is_error())) else {
        crate::diagnostic::sort(&mut diags);
        return Err(SimError::Invalid(diags));
    };
    let max_cases = sc
        .cases
        .map_or(MAX_CASES, |n| u64::from(n) + u64::from(sc.warmup))
        .min(MAX_CASES);
    Ok(Plan {
        p,
        cal,
        sc,
        t0,
        horizon,
        max_cases,
        spacing,
        batch: a.batch.as_ref().map_or(1, |b| b.value),
        pools,
        durations,
        data: sc.data.iter().map(|(k, v)| (k.value.clone(), v.clone())).collect(),
        priority: sc.priority.as_ref().map(|x| x.value.clone()),
    })
}

/// Runs a scenario on a process.
pub fn simulate(p: &Process, cal: &WorkCalendar, sc: &Scenario) -> Result<Report, SimError> {
    simulate_with_log(p, cal, sc, false).map(|x| x.0)
}

/// Runs a scenario; with `log`, also returns the event log of the first
/// replication (task starts and completions, with the role). The report is
/// a function of the process, calendar and scenario (seed included): it
/// holds no wall-clock figure; a caller that wants the speed times the call
/// and makes a [`Timing`].
pub fn simulate_with_log(
    p: &Process,
    cal: &WorkCalendar,
    sc: &Scenario,
    log: bool,
) -> Result<(Report, Vec<LogEntry>), SimError> {
    let plan = prepare(p, cal, sc)?;
    let totals = run::run(&plan, log)?;
    Ok(output::report(&plan, totals))
}

/// How fast a simulation ran: wall time and rates, kept beside the
/// deterministic [`Report`], never inside it.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Timing {
    /// Wall time of the run, in seconds.
    pub elapsed_s: f64,
    /// Cases started per second of wall time.
    pub cases_per_s: f64,
    /// Activities done per second of wall time.
    pub activities_per_s: f64,
}

impl Timing {
    /// The rates of `r`, run in `elapsed_s` seconds.
    pub fn of(r: &Report, elapsed_s: f64) -> Timing {
        let per = |n: u64| if elapsed_s > 0.0 { n as f64 / elapsed_s } else { 0.0 };
        Timing {
            elapsed_s,
            cases_per_s: per(r.cases_started),
            activities_per_s: per(r.activities),
        }
    }

    /// The rates as a line for people.
    pub fn to_text(&self) -> String {
        format!(
            "  {:.0} cases/s, {:.0} activities/s\n",
            self.cases_per_s, self.activities_per_s
        )
    }
}

/// Reads a scenario file's text.
pub fn parse_scenario(
    src: &crate::definition::SourceFile,
    limits: &crate::definition::Limits,
) -> Result<Scenario, Vec<Diagnostic>> {
    crate::definition::parse_any(src, limits)
}

/// The scenario `ravand simulate FILE` runs when no `--scenario` is given:
/// one arrival stream (a case a day from the scenario's default start), the
/// definition's own durations and branch probabilities, and no role short
/// of people (roles not listed under `resources` never queue).
pub const DEFAULT_SCENARIO: &str = "cases: 1000\nreplications: 1\nseed: 1\narrivals: {every: 1 days}\n";

/// What the report's header says of the default scenario.
pub const DEFAULT_SCENARIO_NOTE: &str =
    "default scenario (no --scenario): 1,000 cases, one a day; the definition's durations and probabilities; nobody queues";

/// The default scenario, with the source its diagnostics would name (a
/// test holds that it parses).
pub fn default_scenario() -> Result<(Scenario, crate::definition::SourceFile), Vec<Diagnostic>> {
    let src = crate::definition::SourceFile::new("(default scenario)", DEFAULT_SCENARIO);
    let sc = parse_scenario(&src, &crate::definition::Limits::default())?;
    Ok((sc, src))
}

/// The simulated figures of two versions under one scenario, as rows of a
/// comparison (after the models' own, `measure::compare`'s).
pub fn compare_rows(old: &Report, new: &Report) -> Vec<crate::measure::Change> {
    use crate::measure::Change;
    vec![
        Change::new("simulated steps per case", old.steps_mean, new.steps_mean),
        Change::new("simulated mean days", old.cycle_days.mean, new.cycle_days.mean),
        Change::new("simulated p50 days", old.cycle_days.p50, new.cycle_days.p50),
        Change::new("simulated p90 days", old.cycle_days.p90, new.cycle_days.p90),
        Change::new(
            "simulated days on the citizen",
            old.citizen_days_mean,
            new.citizen_days_mean,
        ),
    ]
}

/// The JSON Schema of scenario files.
pub fn scenario_schema() -> serde_json::Value {
    crate::definition::for_editors(serde_json::to_value(schemars::schema_for!(Scenario)).unwrap_or_default())
}
