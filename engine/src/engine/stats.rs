//! What the engine counts for an operator's dashboard: cases started and
//! finished by process and outcome, how late timers fire, transient
//! database faults and the units of work run again for them, database
//! errors. Kept as Prometheus client metrics (`prometheus-client`) that the
//! service registers beside its own; gauges of open work are read from the
//! read rows when scraped ([`Engine::gauges`]).
//!
//! Must not: read the clock but through the engine's [`Clock`], or count a
//! unit of work that did not commit (counts are taken after `COMMIT`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::*;

/// A case's process.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProcessLabel {
    /// The process id.
    pub process: String,
}

/// A finished case's process and how it ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FinishedLabels {
    /// The process id.
    pub process: String,
    /// `completed`, `terminated` or `cancelled`.
    pub status: String,
    /// The end's outcome (empty when none).
    pub outcome: String,
}

fn timer_lag() -> Histogram {
    // From a millisecond to about an hour.
    Histogram::new([
        0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
    ])
}

/// Shared commits and the units of work they made durable.
#[derive(Clone, Debug, Default)]
pub struct CommitCounts {
    /// Commits.
    pub commits: Counter,
    /// Units of work acknowledged after them.
    pub units: Counter,
}

/// The engine's counters.
#[derive(Clone, Debug)]
pub struct Stats {
    /// Cases started, by process.
    pub cases_started: Family<ProcessLabel, Counter>,
    /// Cases finished, by process, status and outcome.
    pub cases_finished: Family<FinishedLabels, Counter>,
    /// Seconds between a timer's due instant and its firing.
    pub timer_lag: Family<ProcessLabel, Histogram, fn() -> Histogram>,
    /// Units of work run again after a transient database fault.
    pub retries: Counter,
    /// Units of work that ended in a database error.
    pub db_errors: Counter,
    /// Commits of units of work, and the units they made durable (on
    /// SQLite units that queue for the writer share a commit; see `group`).
    pub commits: CommitCounts,
}

impl Default for Stats {
    fn default() -> Stats {
        Stats {
            cases_started: Family::default(),
            cases_finished: Family::default(),
            timer_lag: Family::new_with_constructor(timer_lag),
            retries: Counter::default(),
            db_errors: Counter::default(),
            commits: CommitCounts::default(),
        }
    }
}

impl Stats {
    /// Registers the counters (they are shared: what the engine counts
    /// after this shows in `registry`).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "ravand_cases_started",
            "Cases started, by process",
            self.cases_started.clone(),
        );
        registry.register(
            "ravand_cases_finished",
            "Cases finished, by process, status and outcome",
            self.cases_finished.clone(),
        );
        registry.register(
            "ravand_timer_lag_seconds",
            "How long after its due instant a timer fired",
            self.timer_lag.clone(),
        );
        registry.register(
            "ravand_db_retries",
            "Units of work run again after a transient database fault",
            self.retries.clone(),
        );
        registry.register(
            "ravand_db_errors",
            "Units of work refused for a database error",
            self.db_errors.clone(),
        );
        registry.register(
            "ravand_commits",
            "Commits of shared transactions (SQLite)",
            self.commits.commits.clone(),
        );
        registry.register(
            "ravand_commit_units",
            "Units of work made durable by those commits",
            self.commits.units.clone(),
        );
    }
}

/// Open work at one instant, from the read rows.
#[derive(Debug, Clone, Default)]
pub struct Gauges {
    /// (process, role, open tasks, of them overdue).
    pub tasks: Vec<(String, String, i64, i64)>,
    /// (topic, jobs waiting, jobs held by a worker).
    pub jobs: Vec<(String, i64, i64)>,
    /// (process, open incidents).
    pub incidents: Vec<(String, i64)>,
}

/// Open and overdue tasks of one process held by one unit and person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Load {
    /// The process.
    pub process: String,
    /// The unit of the role whose list the tasks are on (`None`: no unit).
    pub unit: Option<String>,
    /// Who claimed them (`None`: not claimed yet).
    pub assignee: Option<String>,
    /// Open tasks.
    pub open: i64,
    /// Of them, overdue.
    pub overdue: i64,
}

impl Engine {
    /// Who holds how much work, and how much of it is late: open and
    /// overdue tasks by process, unit and person, from the task rows, of
    /// the processes `actor` may read.
    pub async fn load_as(&self, actor: &Actor) -> Result<Vec<Load>, EngineError> {
        let allowed = actor.read_processes();
        let some = |s: String| (!s.is_empty()).then_some(s);
        Ok(self
            .store
            .task_load()
            .await?
            .into_iter()
            .filter(|(p, ..)| allowed.as_ref().is_none_or(|a| a.contains(p)))
            .map(|(process, unit, assignee, open, overdue)| Load {
                process,
                unit: some(unit),
                assignee: some(assignee),
                open,
                overdue,
            })
            .collect())
    }

    /// The engine's counters, to register with a Prometheus registry.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Open and overdue tasks by process and role, jobs by topic, and
    /// open incidents by process, counted from the read rows now.
    pub async fn gauges(&self) -> Result<Gauges, EngineError> {
        Ok(Gauges {
            tasks: self.store.task_counts().await?,
            jobs: self.store.job_counts(self.clock.now()).await?,
            incidents: self.store.incident_counts().await?,
        })
    }
}
