//! The dashboard of one process over a period, for administrators and
//! auditors: cases started, finished and open; tasks finished and how many
//! of them late (the SLA breach rate); the escalation ladders' rungs fired;
//! how long each step's tasks took (median and 90th percentile); and the
//! same by unit, role and person, with the period's best three people and a
//! unit score in which unanswered notices to the mayor's office weigh
//! against the unit. Hamedan's 137 centre shows the mayor exactly this.
//!
//! Every figure is counted by the database with one of
//! [`DASHBOARD_QUERIES`], from the rows written with each case's events in
//! its transaction (the task log, the rungs, the cases' end instants and
//! searchable keys; `engine/src/engine/worklog.rs` folds them) and from the
//! open task rows. The page names those queries.
//!
//! Owns: [`Dashboard`], [`Tally`] and [`Engine::dashboard_as`]. Must not:
//! read cases' states, or show a process to a clerk.

use std::collections::{BTreeMap, HashMap};

use super::*;
use crate::definition::EscalationAction;
use crate::store::{
    CASES_ENDED, CASES_ENDED_BY, CASES_ENDED_SINCE, CASES_ENDED_SINCE_BY, CASES_OPEN_BY, CASES_OPEN_SINCE,
    CASES_OPEN_SINCE_BY, CASES_STARTED, CASES_STARTED_BY,
};
pub use crate::store::{DASHBOARD_QUERIES, OPEN_CASES_NOW, OPEN_TASKS_NOW, PERIOD_LOG};

/// Tasks a person must have finished in the period to be ranked among its
/// best three.
pub const BEST_MIN_DONE: i64 = 3;
/// What each task overdue now takes off a unit's score.
pub const SCORE_OVERDUE: i64 = 2;
/// What each unanswered notice to the mayor's office takes off a unit's
/// score.
pub const SCORE_NOTICE: i64 = 5;

/// Task figures of one unit, role or person (or of the whole process).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Tasks finished in the period.
    pub done: i64,
    /// Of them, finished after their due instant.
    pub late: i64,
    /// Open tasks now (task rows).
    pub open_now: i64,
    /// Of them, past their due instant now.
    pub overdue_now: i64,
    /// Tasks whose ladder notified a role (the `notify` rung: the mayor's
    /// office) and that were still open at the period's end.
    pub notices_open: i64,
}

impl Tally {
    /// Adds `o`'s figures to these.
    pub fn add(&mut self, o: &Tally) {
        self.done += o.done;
        self.late += o.late;
        self.open_now += o.open_now;
        self.overdue_now += o.overdue_now;
        self.notices_open += o.notices_open;
    }

    /// Tasks finished in the period by their due instant (or without one).
    pub fn on_time(&self) -> i64 {
        self.done - self.late
    }

    /// The share finished on time, in whole percent (`None`: none finished).
    pub fn on_time_percent(&self) -> Option<i64> {
        (self.done > 0).then(|| (self.on_time() * 100 + self.done / 2) / self.done)
    }

    /// The unit score: on time − late − [`SCORE_OVERDUE`] × overdue now −
    /// [`SCORE_NOTICE`] × unanswered notices.
    pub fn score(&self) -> i64 {
        self.on_time() - self.late - SCORE_OVERDUE * self.overdue_now - SCORE_NOTICE * self.notices_open
    }
}

/// Cases of the process in the period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseCounts {
    /// Started in the period.
    pub started: i64,
    /// Reached an end in the period (completed, terminated or cancelled).
    pub finished: i64,
    /// Open at the period's end.
    pub open: i64,
}

/// How long a step's tasks took, from opened to finished, of those finished
/// in the period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepTime {
    /// The step's id.
    pub step: String,
    /// Its Persian title.
    pub title: String,
    /// Its English title.
    pub title_en: Option<String>,
    /// Tasks finished.
    pub done: i64,
    /// The median, in seconds (nearest rank).
    pub median_s: i64,
    /// The 90th percentile, in seconds (nearest rank).
    pub p90_s: i64,
}

/// One process over one period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dashboard {
    /// The process.
    pub process: String,
    /// Its Persian title (latest version).
    pub title: String,
    /// Its English title.
    pub title_en: Option<String>,
    /// The period's start.
    pub from: Timestamp,
    /// Its end (exclusive).
    pub to: Timestamp,
    /// Cases started, finished and open at the end.
    pub cases: CaseCounts,
    /// Cases open now.
    pub cases_open_now: i64,
    /// The whole process's task figures.
    pub tasks: Tally,
    /// Rungs fired in the period, by action, every action listed.
    pub escalations: Vec<(EscalationAction, i64)>,
    /// Time per step, slowest median first.
    pub steps: Vec<StepTime>,
    /// By organisation, when the process's roles name theirs (`""`: a
    /// role without one, or no role): the sum of its roles' figures.
    pub organisations: BTreeMap<String, Tally>,
    /// By unit (`""`: a role without a unit, or no role).
    pub units: BTreeMap<String, Tally>,
    /// By role id: its title and figures (`""`: tasks without a role).
    pub roles: BTreeMap<String, (String, Tally)>,
    /// By person (who finished or holds the tasks).
    pub people: BTreeMap<String, Tally>,
    /// The period's best three: by on-time share, then tasks finished, of
    /// those who finished at least [`BEST_MIN_DONE`].
    pub best: Vec<String>,
    /// The searchable variable the cases are split by: name and title.
    pub field: Option<(String, Option<String>)>,
    /// Cases by that variable's value at the period's end (`""`: unset).
    pub by_field: BTreeMap<String, CaseCounts>,
}

/// One event of a process's event log, as the auditor downloads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// The case.
    pub case: i64,
    /// Its tracking code.
    pub code: String,
    /// The event's position in the case's history.
    pub seq: u64,
    /// When.
    pub at: Timestamp,
    /// When, in both calendars.
    pub shown: String,
    /// The event's type, as the API's history names it (`task_completed`).
    pub event: String,
    /// The step it concerns (a task's step for task events).
    pub step: Option<String>,
    /// That step's Persian title.
    pub title: Option<String>,
    /// Its English title.
    pub title_en: Option<String>,
    /// The role whose list the task is on.
    pub role: Option<String>,
    /// That role's unit.
    pub unit: Option<String>,
    /// Who did it, when a person or outside system did.
    pub person: Option<String>,
}

fn overseer(actor: &Actor, what: &str) -> Result<(), EngineError> {
    if matches!(actor.grants, Grants::All | Grants::ReadAll) {
        Ok(())
    } else {
        Err(EngineError::Forbidden(format!(
            "{what} is for administrators and auditors"
        )))
    }
}

impl Engine {
    /// Version `version` of `process`, from `cache` or the catalog.
    async fn deployment_cached(
        &self,
        cache: &mut HashMap<u32, Arc<Deployment>>,
        process: &str,
        version: u32,
    ) -> Result<Arc<Deployment>, EngineError> {
        if let Some(x) = cache.get(&version) {
            return Ok(x.clone());
        }
        let found = self.catalog().get(process, version);
        let x = match found {
            Some(x) => x,
            None => {
                self.reload().await?;
                let again = self.catalog().get(process, version);
                again.ok_or_else(|| EngineError::NoSuchProcess(process.to_owned()))?
            }
        };
        cache.insert(version, x.clone());
        Ok(x)
    }

    /// The latest deployed version of a process, with its calendar.
    pub async fn latest_deployment(&self, process: &str) -> Result<Option<Arc<Deployment>>, EngineError> {
        self.reload().await?;
        let c = self.catalog();
        Ok(c.deployments
            .iter()
            .filter(|d| d.key.process == process)
            .max_by_key(|d| d.key.version)
            .cloned())
    }

    /// The dashboard of `process` over `[from, to)`, split by the
    /// searchable variable `by` (by default the process's first), for an
    /// administrator or an auditor.
    pub async fn dashboard_as(
        &self,
        actor: &Actor,
        process: &str,
        from: Timestamp,
        to: Timestamp,
        by: Option<&str>,
    ) -> Result<Dashboard, EngineError> {
        overseer(actor, "the dashboard")?;
        let latest = self
            .latest_deployment(process)
            .await?
            .ok_or_else(|| EngineError::NoSuchProcess(process.to_owned()))?;
        let lp = &latest.process;
        let field = match by {
            Some(name) => lp.variables.iter().find(|v| v.searchable && v.name == name),
            None => lp.variables.iter().find(|v| v.searchable),
        }
        .map(|v| (v.name.clone(), v.title.clone()));
        let (cases_open_now, open_rows) = self.store.open_now(process).await?;
        let st = &self.store;
        let mut d = Dashboard {
            process: process.to_owned(),
            title: lp.title.clone(),
            title_en: lp.title_en.clone(),
            from,
            to,
            cases: CaseCounts {
                started: st.count(CASES_STARTED, process, from.0, Some(to.0)).await?,
                finished: st.count(CASES_ENDED, process, from.0, Some(to.0)).await?,
                // Open at the end: open now, less those started since, plus
                // those that ended since having started before.
                open: cases_open_now - st.count(CASES_OPEN_SINCE, process, to.0, None).await?
                    + st.count(CASES_ENDED_SINCE, process, to.0, None).await?,
            },
            cases_open_now,
            tasks: Tally::default(),
            escalations: Vec::new(),
            steps: Vec::new(),
            organisations: BTreeMap::new(),
            units: BTreeMap::new(),
            roles: BTreeMap::new(),
            people: BTreeMap::new(),
            best: Vec::new(),
            by_field: BTreeMap::new(),
            field,
        };
        if let Some((name, _)) = &d.field {
            let key = format!("data.{name}");
            let mut by: BTreeMap<String, CaseCounts> = BTreeMap::new();
            let (period, end) = ([from.0, to.0], [to.0]);
            for (v, n) in st.counts_by(CASES_STARTED_BY, process, &period, &key).await? {
                by.entry(v).or_default().started += n;
            }
            for (v, n) in st.counts_by(CASES_ENDED_BY, process, &period, &key).await? {
                by.entry(v).or_default().finished += n;
            }
            for (v, n) in st.counts_by(CASES_OPEN_BY, process, &[], &key).await? {
                by.entry(v).or_default().open += n;
            }
            for (v, n) in st.counts_by(CASES_OPEN_SINCE_BY, process, &end, &key).await? {
                by.entry(v).or_default().open -= n;
            }
            for (v, n) in st.counts_by(CASES_ENDED_SINCE_BY, process, &end, &key).await? {
                by.entry(v).or_default().open += n;
            }
            // The cases without a value: what the values leave of the whole.
            let valued = by.values().fold(CaseCounts::default(), |mut a, c| {
                a.started += c.started;
                a.finished += c.finished;
                a.open += c.open;
                a
            });
            let unset = by.entry(String::new()).or_default();
            unset.started = d.cases.started - valued.started;
            unset.finished = d.cases.finished - valued.finished;
            unset.open = d.cases.open - valued.open;
            by.retain(|_, c| c.started != 0 || c.finished != 0 || c.open != 0);
            d.by_field = by;
        }
        let role_title = |role: &str| {
            lp.roles
                .iter()
                .find(|r| r.id == role)
                .map(|r| r.title.clone())
                .unwrap_or_default()
        };
        let add = |d: &mut Dashboard, unit: String, role: String, person: String, f: &dyn Fn(&mut Tally)| {
            f(&mut d.tasks);
            f(d.units.entry(unit).or_default());
            let title = role_title(&role);
            f(&mut d.roles.entry(role).or_insert_with(|| (title, Tally::default())).1);
            if !person.is_empty() {
                f(d.people.entry(person).or_default());
            }
        };
        for (unit, role, person, n, late) in st.tasks_done(process, from, to).await? {
            add(&mut d, unit, role, person, &|t| {
                t.done += n;
                t.late += late;
            });
        }
        for (unit, role, holder, n) in st.notices_open(process, to).await? {
            add(&mut d, unit, role, holder, &|t| t.notices_open += n);
        }
        for (unit, role, assignee, n, overdue) in open_rows {
            add(&mut d, unit, role, assignee, &|t| {
                t.open_now += n;
                t.overdue_now += overdue;
            });
        }
        if lp.roles.iter().any(|r| r.organisation.is_some()) {
            for (role, (_, t)) in &d.roles {
                let org = lp
                    .roles
                    .iter()
                    .find(|r| &r.id == role)
                    .and_then(|r| r.organisation.clone());
                d.organisations.entry(org.unwrap_or_default()).or_default().add(t);
            }
        }
        let fired: HashMap<String, i64> = st.rungs_fired(process, from, to).await?.into_iter().collect();
        d.escalations = EscalationAction::ALL
            .into_iter()
            .map(|a| (a, fired.get(a.as_str()).copied().unwrap_or(0)))
            .collect();
        d.steps = st
            .step_times(process, from, to)
            .await?
            .into_iter()
            .map(|r| {
                let (title, title_en) = lp
                    .steps
                    .iter()
                    .find(|s| s.id == r.step)
                    .map(|s| (s.title.clone(), s.title_en.clone()))
                    .unwrap_or_default();
                StepTime {
                    done: r.n,
                    median_s: r.median,
                    p90_s: r.p90,
                    step: r.step,
                    title,
                    title_en,
                }
            })
            .collect();
        d.steps
            .sort_by(|a, b| b.median_s.cmp(&a.median_s).then_with(|| a.step.cmp(&b.step)));
        let mut ranked: Vec<(&String, &Tally)> = d.people.iter().filter(|(_, t)| t.done >= BEST_MIN_DONE).collect();
        ranked.sort_by(|a, b| {
            (b.1.on_time() * a.1.done)
                .cmp(&(a.1.on_time() * b.1.done))
                .then_with(|| b.1.done.cmp(&a.1.done))
                .then_with(|| a.0.cmp(b.0))
        });
        d.best = ranked.into_iter().take(3).map(|(w, _)| w.clone()).collect();
        Ok(d)
    }
}

/// A stored event with what it concerns resolved through its definition:
/// the step, the role whose list the task is on, who acted, the task.
pub(super) struct Resolved {
    /// The case.
    pub case: i64,
    /// Its tracking code.
    pub code: String,
    /// The case's process version, deployed.
    pub dep: Arc<Deployment>,
    /// The event.
    pub event: Event,
    /// The step it concerns (a task's step for task events; the step a
    /// timer's token waits at for its timers).
    pub step: Option<crate::model::StepIx>,
    /// The role whose list the task is on.
    pub role: Option<crate::model::RoleIx>,
    /// Who did it, when a person or outside system did.
    pub person: Option<String>,
    /// The task it concerns.
    pub task: Option<TaskId>,
}

impl Engine {
    /// Every event [`PERIOD_LOG`] selects for `process` and `[from, to)`
    /// (those before `from` too: they say what later ones concern), each
    /// resolved, by case and history order.
    pub(super) async fn resolved_events(
        &self,
        process: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Resolved>, EngineError> {
        let events = self.store.period_events(PERIOD_LOG, process, from, to).await?;
        let mut deployments: HashMap<u32, Arc<Deployment>> = HashMap::new();
        let mut tasks: HashMap<(i64, TaskId), (crate::model::StepIx, Option<crate::model::RoleIx>)> = HashMap::new();
        let mut tokens: HashMap<(i64, runtime::TokenId), crate::model::StepIx> = HashMap::new();
        let mut timers: HashMap<(i64, runtime::TimerId), crate::model::StepIx> = HashMap::new();
        let mut out = Vec::with_capacity(events.len());
        for pe in events {
            let dep = self.deployment_cached(&mut deployments, process, pe.version).await?;
            let case = pe.case;
            let task_of = |t: &TaskId| tasks.get(&(case, *t)).copied();
            let mut role = None;
            let mut task = None;
            let (step, person) = match &pe.event.kind {
                EventKind::Started { by, .. }
                | EventKind::Suspended { by }
                | EventKind::Resumed { by }
                | EventKind::Cancelled { by, .. }
                | EventKind::DataSet { by, .. }
                | EventKind::MessageReceived { by, .. }
                | EventKind::IncidentResolved { by, .. } => (None, by.clone()),
                EventKind::TokenCreated { token, step, .. } | EventKind::TokenMoved { token, step, .. } => {
                    tokens.insert((case, *token), *step);
                    (Some(*step), None)
                }
                EventKind::StepCompleted { step, .. }
                | EventKind::Decided { step, .. }
                | EventKind::ChildRequested { step, .. }
                | EventKind::Incident { step, .. }
                | EventKind::Terminated { step, .. } => (Some(*step), None),
                EventKind::TimerScheduled { timer, purpose, .. } => {
                    let at = match purpose {
                        runtime::Purpose::Wait { token }
                        | runtime::Purpose::Arm { token, .. }
                        | runtime::Purpose::Timeout { token } => tokens.get(&(case, *token)).copied(),
                        runtime::Purpose::Due { scope } | runtime::Purpose::Rung { scope, .. } => match scope {
                            runtime::Scope::Task { task } => task_of(task).map(|t| t.0),
                            runtime::Scope::Case => None,
                        },
                    };
                    if let Some(s) = at {
                        timers.insert((case, *timer), s);
                    }
                    (at, None)
                }
                EventKind::TimerFired { timer } | EventKind::TimerCancelled { timer } => {
                    (timers.get(&(case, *timer)).copied(), None)
                }
                EventKind::TaskCreated {
                    task: t, step, role: r, ..
                } => {
                    tasks.insert((case, *t), (*step, *r));
                    role = *r;
                    task = Some(*t);
                    (Some(*step), None)
                }
                EventKind::TaskReassigned { task: t, role: r } => {
                    let step = tasks.get_mut(&(case, *t)).map(|x| {
                        x.1 = Some(*r);
                        x.0
                    });
                    role = Some(*r);
                    task = Some(*t);
                    (step, None)
                }
                EventKind::TaskClaimed { task: t, user } => {
                    let x = task_of(t);
                    role = x.and_then(|x| x.1);
                    task = Some(*t);
                    (x.map(|x| x.0), Some(user.clone()))
                }
                EventKind::TaskCompleted { task: t, by } => {
                    let x = task_of(t);
                    role = x.and_then(|x| x.1);
                    task = Some(*t);
                    (x.map(|x| x.0), by.clone())
                }
                EventKind::TaskCancelled { task: t }
                | EventKind::TaskOverdue { task: t }
                | EventKind::Escalated {
                    scope: runtime::Scope::Task { task: t },
                    ..
                } => {
                    let x = task_of(t);
                    role = x.and_then(|x| x.1);
                    task = Some(*t);
                    (x.map(|x| x.0), None)
                }
                _ => (None, None),
            };
            out.push(Resolved {
                case,
                code: pe.code,
                dep,
                event: pe.event,
                step,
                role,
                person,
                task,
            });
        }
        Ok(out)
    }

    /// Every event of the cases of `process` in `[from, to)`, by case and
    /// history order, with steps, roles and people named, for an
    /// administrator or an auditor (the rows [`PERIOD_LOG`] selects).
    pub async fn event_log_as(
        &self,
        actor: &Actor,
        process: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<LogLine>, EngineError> {
        overseer(actor, "the event log")?;
        let mut out = Vec::new();
        for r in self.resolved_events(process, from, to).await? {
            let e = &r.event;
            if e.at < from {
                continue;
            }
            let p = &r.dep.process;
            // Timers name a step only for the export.
            let step = match e.kind {
                EventKind::TimerScheduled { .. } | EventKind::TimerFired { .. } | EventKind::TimerCancelled { .. } => {
                    None
                }
                _ => r.step,
            };
            let s = step.and_then(|s| p.steps.get(s.ix()));
            let role = r.role.and_then(|x| p.roles.get(x.ix()));
            out.push(LogLine {
                case: r.case,
                code: r.code.clone(),
                seq: e.seq,
                at: e.at,
                shown: r.dep.calendar.show(e.at),
                event: event_kind(e),
                step: s.map(|s| s.id.clone()),
                title: s.map(|s| s.title.clone()),
                title_en: s.and_then(|s| s.title_en.clone()),
                role: role.map(|x| x.id.clone()),
                unit: role.and_then(|x| x.unit.clone()),
                person: r.person,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_score_weighs_late_and_unanswered_work() {
        let t = Tally {
            done: 10,
            late: 3,
            open_now: 4,
            overdue_now: 2,
            notices_open: 1,
        };
        assert_eq!(t.on_time(), 7);
        assert_eq!(t.score(), 7 - 3 - 2 * SCORE_OVERDUE - SCORE_NOTICE);
        assert_eq!(t.on_time_percent(), Some(70));
        assert_eq!(Tally::default().on_time_percent(), None);
    }
}
