//! The dashboard of one process over a period, for administrators and
//! auditors: cases started, finished and open; tasks finished and how many
//! of them late (the SLA breach rate); the escalation ladders' rungs fired;
//! how long each step's tasks took (median and 90th percentile); and the
//! same by unit, role and person, with the period's best three people and a
//! unit score in which unanswered notices to the mayor's office weigh
//! against the unit. Hamedan's 137 centre shows the mayor exactly this.
//!
//! Every period figure is folded from the events [`PERIOD_EVENTS`] selects;
//! the figures of work open now come from the task rows by
//! [`OPEN_TASKS_NOW`] and [`OPEN_CASES_NOW`]. The page names those queries.
//!
//! Owns: [`Dashboard`], [`Tally`] and [`Engine::dashboard_as`]. Must not:
//! read cases' states, or show a process to a clerk.

use std::collections::{BTreeMap, HashMap};

use super::*;
use crate::definition::EscalationAction;
pub use crate::store::{OPEN_CASES_NOW, OPEN_TASKS_NOW, PERIOD_EVENTS, PERIOD_LOG};

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

/// An open task as the fold follows it.
struct Open {
    step: String,
    role: String,
    unit: String,
    opened: Timestamp,
    due: Option<Timestamp>,
    holder: Option<String>,
    notified: bool,
}

/// A case as the fold follows it.
#[derive(Default)]
struct Followed {
    started: Option<Timestamp>,
    ended: bool,
    field: Option<String>,
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

/// The nearest-rank percentile `p` (0–100) of sorted `v`.
fn rank(v: &[i64], p: usize) -> i64 {
    let n = v.len();
    let k = (p * n).div_ceil(100).clamp(1, n.max(1));
    v.get(k - 1).copied().unwrap_or(0)
}

fn text_of(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
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
        let events = self.store.period_events(PERIOD_EVENTS, process, from, to).await?;
        let (cases_open_now, open_rows) = self.store.open_now(process).await?;

        let mut deployments: HashMap<u32, Arc<Deployment>> = HashMap::new();
        let mut open: HashMap<(i64, TaskId), Open> = HashMap::new();
        let mut cases: HashMap<i64, Followed> = HashMap::new();
        let mut d = Dashboard {
            process: process.to_owned(),
            title: lp.title.clone(),
            title_en: lp.title_en.clone(),
            from,
            to,
            cases: CaseCounts::default(),
            cases_open_now,
            tasks: Tally::default(),
            escalations: Vec::new(),
            steps: Vec::new(),
            units: BTreeMap::new(),
            roles: BTreeMap::new(),
            people: BTreeMap::new(),
            best: Vec::new(),
            by_field: BTreeMap::new(),
            field,
        };
        let mut rungs: BTreeMap<EscalationAction, i64> = BTreeMap::new();
        let mut times: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        let mut titles: HashMap<String, (String, Option<String>)> = HashMap::new();
        let mut role_titles: HashMap<String, String> = HashMap::new();
        let in_period = |t: Timestamp| t >= from && t < to;
        for pe in &events {
            let (case, e) = (&pe.case, &pe.event);
            let dep = self.deployment_cached(&mut deployments, process, pe.version).await?;
            let p = &dep.process;
            let role_of = |r: Option<crate::model::RoleIx>| -> (String, String, String) {
                r.and_then(|r| p.roles.get(r.ix()))
                    .map(|r| (r.id.clone(), r.title.clone(), r.unit.clone().unwrap_or_default()))
                    .unwrap_or_default()
            };
            let c = cases.entry(*case).or_default();
            let field_name = d.field.as_ref().map(|f| f.0.as_str());
            match &e.kind {
                EventKind::Started { data, .. } => {
                    c.started = Some(e.at);
                    if let Some(v) = field_name.and_then(|f| data.get(f)) {
                        c.field = Some(text_of(v));
                    }
                }
                EventKind::DataSet { values, .. } => {
                    if let Some(v) = field_name.and_then(|f| values.get(f)) {
                        c.field = Some(text_of(v));
                    }
                }
                EventKind::Completed { .. } | EventKind::Terminated { .. } | EventKind::Cancelled { .. } => {
                    c.ended = true;
                    let k = c.field.clone().unwrap_or_default();
                    if in_period(e.at) {
                        d.cases.finished += 1;
                        d.by_field.entry(k).or_default().finished += 1;
                    }
                    open.retain(|(oc, _), _| oc != case);
                }
                EventKind::TaskCreated {
                    task, step, role, due, ..
                } => {
                    let s = p.steps.get(step.ix());
                    let step_id = s.map(|s| s.id.clone()).unwrap_or_default();
                    if let Some(s) = s {
                        titles.insert(step_id.clone(), (s.title.clone(), s.title_en.clone()));
                    }
                    let (role, title, unit) = role_of(*role);
                    role_titles.insert(role.clone(), title);
                    open.insert(
                        (*case, *task),
                        Open {
                            step: step_id,
                            role,
                            unit,
                            opened: e.at,
                            due: *due,
                            holder: None,
                            notified: false,
                        },
                    );
                }
                EventKind::TaskClaimed { task, user } => {
                    if let Some(o) = open.get_mut(&(*case, *task)) {
                        o.holder = Some(user.clone());
                    }
                }
                EventKind::TaskReassigned { task, role } => {
                    let (role, title, unit) = role_of(Some(*role));
                    if let Some(o) = open.get_mut(&(*case, *task)) {
                        role_titles.insert(role.clone(), title);
                        o.role = role;
                        o.unit = unit;
                        o.holder = None;
                    }
                }
                EventKind::TaskCompleted { task, by } => {
                    if let Some(o) = open.remove(&(*case, *task)) {
                        if in_period(e.at) {
                            let late = i64::from(o.due.is_some_and(|due| e.at > due));
                            let who = by.clone().or(o.holder.clone());
                            let mut tallies = vec![
                                &mut d.tasks,
                                d.units.entry(o.unit.clone()).or_default(),
                                &mut d
                                    .roles
                                    .entry(o.role.clone())
                                    .or_insert_with(|| {
                                        (role_titles.get(&o.role).cloned().unwrap_or_default(), Tally::default())
                                    })
                                    .1,
                            ];
                            if let Some(who) = who {
                                tallies.push(d.people.entry(who).or_default());
                            }
                            for t in tallies {
                                t.done += 1;
                                t.late += late;
                            }
                            times.entry(o.step).or_default().push(e.at.0 - o.opened.0);
                        }
                    }
                }
                EventKind::TaskCancelled { task } => {
                    open.remove(&(*case, *task));
                }
                EventKind::Escalated { scope, action, .. } => {
                    if in_period(e.at) {
                        *rungs.entry(*action).or_default() += 1;
                    }
                    if let (runtime::Scope::Task { task }, EscalationAction::Notify) = (scope, action) {
                        if let Some(o) = open.get_mut(&(*case, *task)) {
                            o.notified = true;
                        }
                    }
                }
                _ => {}
            }
        }
        for c in cases.values() {
            let k = c.field.clone().unwrap_or_default();
            if c.started.is_some_and(in_period) {
                d.cases.started += 1;
                d.by_field.entry(k.clone()).or_default().started += 1;
            }
            if c.started.is_some() && !c.ended {
                d.cases.open += 1;
                d.by_field.entry(k).or_default().open += 1;
            }
        }
        for o in open.values().filter(|o| o.notified) {
            d.tasks.notices_open += 1;
            d.units.entry(o.unit.clone()).or_default().notices_open += 1;
            d.roles
                .entry(o.role.clone())
                .or_insert_with(|| (role_titles.get(&o.role).cloned().unwrap_or_default(), Tally::default()))
                .1
                .notices_open += 1;
            if let Some(h) = &o.holder {
                d.people.entry(h.clone()).or_default().notices_open += 1;
            }
        }
        for (unit, role, assignee, n, overdue) in open_rows {
            let title = lp
                .roles
                .iter()
                .find(|r| r.id == role)
                .map(|r| r.title.clone())
                .or_else(|| role_titles.get(&role).cloned())
                .unwrap_or_default();
            let mut tallies = vec![
                &mut d.tasks,
                d.units.entry(unit).or_default(),
                &mut d.roles.entry(role).or_insert_with(|| (title, Tally::default())).1,
            ];
            if !assignee.is_empty() {
                tallies.push(d.people.entry(assignee).or_default());
            }
            for t in tallies {
                t.open_now += n;
                t.overdue_now += overdue;
            }
        }
        d.escalations = [
            EscalationAction::Remind,
            EscalationAction::Warn,
            EscalationAction::Record,
            EscalationAction::Reassign,
            EscalationAction::Notify,
        ]
        .into_iter()
        .map(|a| (a, rungs.get(&a).copied().unwrap_or(0)))
        .collect();
        d.steps = times
            .into_iter()
            .map(|(step, mut v)| {
                v.sort_unstable();
                let (title, title_en) = lp
                    .steps
                    .iter()
                    .find(|s| s.id == step)
                    .map(|s| (s.title.clone(), s.title_en.clone()))
                    .or_else(|| titles.get(&step).cloned())
                    .unwrap_or_default();
                StepTime {
                    done: v.len() as i64,
                    median_s: rank(&v, 50),
                    p90_s: rank(&v, 90),
                    step,
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

impl Engine {
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
        let events = self.store.period_events(PERIOD_LOG, process, from, to).await?;
        let mut deployments: HashMap<u32, Arc<Deployment>> = HashMap::new();
        let mut tasks: HashMap<(i64, TaskId), (crate::model::StepIx, Option<crate::model::RoleIx>)> = HashMap::new();
        let mut out = Vec::new();
        for pe in &events {
            let dep = self.deployment_cached(&mut deployments, process, pe.version).await?;
            let (p, e) = (&dep.process, &pe.event);
            let mut role = None;
            let (step, person) = match &e.kind {
                EventKind::Started { by, .. }
                | EventKind::Suspended { by }
                | EventKind::Resumed { by }
                | EventKind::Cancelled { by, .. }
                | EventKind::DataSet { by, .. }
                | EventKind::MessageReceived { by, .. }
                | EventKind::IncidentResolved { by, .. } => (None, by.clone()),
                EventKind::TokenCreated { step, .. }
                | EventKind::TokenMoved { step, .. }
                | EventKind::StepCompleted { step, .. }
                | EventKind::Decided { step, .. }
                | EventKind::ChildRequested { step, .. }
                | EventKind::Incident { step, .. }
                | EventKind::Terminated { step, .. } => (Some(*step), None),
                EventKind::TaskCreated {
                    task, step, role: r, ..
                } => {
                    tasks.insert((pe.case, *task), (*step, *r));
                    role = *r;
                    (Some(*step), None)
                }
                EventKind::TaskReassigned { task, role: r } => {
                    let t = tasks.get_mut(&(pe.case, *task));
                    let step = t.map(|t| {
                        t.1 = Some(*r);
                        t.0
                    });
                    role = Some(*r);
                    (step, None)
                }
                EventKind::TaskClaimed { task, user } => {
                    let t = tasks.get(&(pe.case, *task)).copied();
                    role = t.and_then(|t| t.1);
                    (t.map(|t| t.0), Some(user.clone()))
                }
                EventKind::TaskCompleted { task, by } => {
                    let t = tasks.get(&(pe.case, *task)).copied();
                    role = t.and_then(|t| t.1);
                    (t.map(|t| t.0), by.clone())
                }
                EventKind::TaskCancelled { task } | EventKind::TaskOverdue { task } => {
                    let t = tasks.get(&(pe.case, *task)).copied();
                    role = t.and_then(|t| t.1);
                    (t.map(|t| t.0), None)
                }
                EventKind::Escalated {
                    scope: runtime::Scope::Task { task },
                    ..
                } => {
                    let t = tasks.get(&(pe.case, *task)).copied();
                    role = t.and_then(|t| t.1);
                    (t.map(|t| t.0), None)
                }
                _ => (None, None),
            };
            if e.at < from {
                continue;
            }
            let s = step.and_then(|s| p.steps.get(s.ix()));
            let r = role.and_then(|r| p.roles.get(r.ix()));
            out.push(LogLine {
                case: pe.case,
                code: pe.code.clone(),
                seq: e.seq,
                at: e.at,
                shown: dep.calendar.show(e.at),
                event: event_kind(e),
                step: s.map(|s| s.id.clone()),
                title: s.map(|s| s.title.clone()),
                title_en: s.and_then(|s| s.title_en.clone()),
                role: r.map(|r| r.id.clone()),
                unit: r.and_then(|r| r.unit.clone()),
                person,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<i64> = (1..=10).collect();
        assert_eq!(rank(&v, 50), 5);
        assert_eq!(rank(&v, 90), 9);
        assert_eq!(rank(&[7], 90), 7);
        assert_eq!(rank(&[], 50), 0);
        assert_eq!(rank(&[1, 2, 3], 50), 2);
    }

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
