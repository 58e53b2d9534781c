//! The dashboard's rows: each task's life in `task_log`, each escalation
//! rung fired in `rungs`, the instant a case ended in `cases.ended_at`;
//! written from a case's new events in the transaction that writes them,
//! and counted by the queries the dashboard names.
//!
//! Owns: the `task_log` and `rungs` tables, `cases.ended_at`, and the
//! dashboard's queries ([`DASHBOARD_QUERIES`]). Must not: read a case's
//! state or history to count a figure (the rows are there for that).

use sqlx::{AssertSqlSafe, Row};

use super::{corrupt, Store, StoreError, Tx};
use crate::time::Timestamp;

/// A task opened by a unit of work, as its log row is first written (what
/// happened to it later in the same unit already folded in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedTask {
    /// Its id in the case.
    pub task: i64,
    /// Its step's id.
    pub step: String,
    /// The role whose list it is on.
    pub role: Option<String>,
    /// That role's unit.
    pub unit: Option<String>,
    /// When it was opened.
    pub opened_at: i64,
    /// When it is due.
    pub due: Option<i64>,
    /// Who holds it.
    pub holder: Option<String>,
    /// Since when.
    pub claimed_at: Option<i64>,
    /// `completed`, `cancelled` or `ended`, once closed.
    pub outcome: Option<&'static str>,
    /// When it was closed.
    pub closed_at: Option<i64>,
    /// Who completed it.
    pub done_by: Option<String>,
    /// When its ladder first notified a role (the mayor's office).
    pub notified_at: Option<i64>,
}

/// What a unit of work did to a task opened by an earlier one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskChange {
    /// Claimed or assigned.
    Claimed {
        /// The task.
        task: i64,
        /// Who holds it now.
        user: String,
        /// When.
        at: i64,
    },
    /// Moved to another role's list (its holder let go).
    Reassigned {
        /// The task.
        task: i64,
        /// The new role.
        role: String,
        /// Its unit.
        unit: Option<String>,
    },
    /// Closed.
    Closed {
        /// The task.
        task: i64,
        /// `completed` or `cancelled`.
        outcome: &'static str,
        /// When.
        at: i64,
        /// Who completed it.
        by: Option<String>,
    },
    /// Its ladder notified a role.
    Notified {
        /// The task.
        task: i64,
        /// When.
        at: i64,
    },
}

/// The dashboard rows a unit of work adds to one case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkLog {
    /// Tasks it opened.
    pub opened: Vec<LoggedTask>,
    /// What it did to tasks opened before, in order.
    pub changes: Vec<TaskChange>,
    /// Rungs fired: (event seq, instant, action as the API spells it).
    pub rungs: Vec<(u64, i64, &'static str)>,
    /// When the case ended, if it did.
    pub ended: Option<i64>,
}

impl WorkLog {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.opened.is_empty() && self.changes.is_empty() && self.rungs.is_empty() && self.ended.is_none()
    }
}

/// Cases of a process started in `[$2, $3)`.
pub const CASES_STARTED: &str =
    "SELECT COUNT(*) FROM cases WHERE process = $1 AND started_at >= $2 AND started_at < $3";
/// Cases of a process that ended in `[$2, $3)`.
pub const CASES_ENDED: &str = "SELECT COUNT(*) FROM cases WHERE process = $1 AND ended_at >= $2 AND ended_at < $3";
/// Cases of a process open now that started at or after `$2`.
pub const CASES_OPEN_SINCE: &str =
    "SELECT COUNT(*) FROM cases WHERE process = $1 AND started_at >= $2 AND ended_at IS NULL";
/// Cases of a process that started before `$2` and ended at or after it.
pub const CASES_ENDED_SINCE: &str =
    "SELECT COUNT(*) FROM cases WHERE process = $1 AND ended_at >= $2 AND started_at < $2";
/// As [`CASES_STARTED`], by a searchable key's value (`$4`: `data.NAME`;
/// the cases without one are what the values leave of the whole).
pub const CASES_STARTED_BY: &str =
    "SELECT value, COUNT(*) FROM case_keys WHERE process = $1 AND key = $4 AND key <> 'stage' \
     AND started_at >= $2 AND started_at < $3 GROUP BY value";
/// As [`CASES_ENDED`], by a searchable key's value.
pub const CASES_ENDED_BY: &str =
    "SELECT value, COUNT(*) FROM case_keys WHERE process = $1 AND key = $4 AND key <> 'stage' \
     AND ended_at IS NOT NULL AND ended_at >= $2 AND ended_at < $3 GROUP BY value";
/// As [`CASES_OPEN_SINCE`], by a searchable key's value (`$3`).
pub const CASES_OPEN_SINCE_BY: &str =
    "SELECT value, COUNT(*) FROM case_keys WHERE process = $1 AND key = $3 AND key <> 'stage' \
     AND started_at >= $2 AND ended_at IS NULL GROUP BY value";
/// As [`CASES_ENDED_SINCE`], by a searchable key's value (`$3`).
pub const CASES_ENDED_SINCE_BY: &str =
    "SELECT value, COUNT(*) FROM case_keys WHERE process = $1 AND key = $3 AND key <> 'stage' \
     AND ended_at IS NOT NULL AND ended_at >= $2 AND started_at < $2 GROUP BY value";
/// The open cases of a process by a searchable key's value (`$2`).
pub const CASES_OPEN_BY: &str =
    "SELECT value, COUNT(*) FROM case_keys WHERE process = $1 AND key = $2 AND key <> 'stage' \
     AND ended_at IS NULL GROUP BY value";
/// Tasks of a process completed in `[$2, $3)`, by unit, role and person
/// (who completed it, or else who held it), with how many after their due
/// instant.
pub const TASKS_DONE: &str = "SELECT COALESCE(unit, ''), COALESCE(role, ''), COALESCE(done_by, holder, ''), COUNT(*), \
     SUM(CASE WHEN due IS NOT NULL AND closed_at > due THEN 1 ELSE 0 END) FROM task_log \
     WHERE process = $1 AND outcome = 'completed' AND closed_at >= $2 AND closed_at < $3 GROUP BY unit, role, COALESCE(done_by, holder, '')";
/// The time from opened to completed of each of a process's tasks
/// completed in `[$2, $3)`, with its step: the median and the 90th
/// percentile (nearest rank) of each step's are taken from these.
pub const STEP_TIMES: &str = "SELECT step, closed_at - opened_at FROM task_log \
     WHERE process = $1 AND outcome = 'completed' AND closed_at >= $2 AND closed_at < $3";
/// Rungs of a process's ladders fired in `[$2, $3)`, by action.
pub const RUNGS_FIRED: &str =
    "SELECT action, COUNT(*) FROM rungs WHERE process = $1 AND at >= $2 AND at < $3 GROUP BY action";
/// Tasks of a process whose ladder notified a role (the mayor's office)
/// before `$2` and that were still open then, by unit, role and who held
/// them then.
pub const NOTICES_OPEN: &str = "SELECT COALESCE(unit, ''), COALESCE(role, ''), CASE WHEN claimed_at < $2 THEN COALESCE(holder, '') ELSE '' END, COUNT(*) \
     FROM task_log WHERE process = $1 AND notified_at < $2 AND (closed_at IS NULL OR closed_at >= $2) \
     GROUP BY unit, role, CASE WHEN claimed_at < $2 THEN COALESCE(holder, '') ELSE '' END";

/// Every query the dashboard counts with, by name, as its page shows them.
pub const DASHBOARD_QUERIES: [(&str, &str); 15] = [
    ("CASES_STARTED", CASES_STARTED),
    ("CASES_ENDED", CASES_ENDED),
    ("CASES_OPEN_SINCE", CASES_OPEN_SINCE),
    ("CASES_ENDED_SINCE", CASES_ENDED_SINCE),
    ("CASES_STARTED_BY", CASES_STARTED_BY),
    ("CASES_ENDED_BY", CASES_ENDED_BY),
    ("CASES_OPEN_SINCE_BY", CASES_OPEN_SINCE_BY),
    ("CASES_ENDED_SINCE_BY", CASES_ENDED_SINCE_BY),
    ("CASES_OPEN_BY", CASES_OPEN_BY),
    ("TASKS_DONE", TASKS_DONE),
    ("STEP_TIMES", STEP_TIMES),
    ("RUNGS_FIRED", RUNGS_FIRED),
    ("NOTICES_OPEN", NOTICES_OPEN),
    ("OPEN_TASKS_NOW", super::OPEN_TASKS_NOW),
    ("OPEN_CASES_NOW", super::OPEN_CASES_NOW),
];

/// A step's time figures as [`STEP_TIMES`] gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRanks {
    /// The step's id.
    pub step: String,
    /// Tasks completed.
    pub n: i64,
    /// The median, in seconds.
    pub median: i64,
    /// The 90th percentile, in seconds.
    pub p90: i64,
}

/// The nearest rank (from 1) of percentile `p` among `n`.
fn nearest_rank(n: i64, p: i64) -> i64 {
    (n * p + 99) / 100
}

impl Store {
    /// The rows `query` gives for a process and a period (`$1`, `$2`, `$3`).
    pub(super) async fn period_rows(
        &self,
        query: &'static str,
        process: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<sqlx::any::AnyRow>, StoreError> {
        Ok(sqlx::query(query)
            .bind(process)
            .bind(from.0)
            .bind(to.0)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Writes what a unit of work added to a case's dashboard rows.
    pub async fn write_work_log(&self, tx: &mut Tx, id: i64, process: &str, log: &WorkLog) -> Result<(), StoreError> {
        const COLS: usize = 14;
        for chunk in log.opened.chunks(40) {
            let mut sql = String::from(
                "INSERT INTO task_log (case_id, task_id, process, step, role, unit, opened_at, due, holder, claimed_at, \
                 outcome, closed_at, done_by, notified_at) VALUES ",
            );
            for i in 0..chunk.len() {
                if i > 0 {
                    sql.push(',');
                }
                let marks: Vec<String> = (1..=COLS).map(|k| format!("${}", i * COLS + k)).collect();
                sql.push_str(&format!("({})", marks.join(", ")));
            }
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for t in chunk {
                q = q
                    .bind(id)
                    .bind(t.task)
                    .bind(process)
                    .bind(t.step.as_str())
                    .bind(t.role.as_deref())
                    .bind(t.unit.as_deref())
                    .bind(t.opened_at)
                    .bind(t.due)
                    .bind(t.holder.as_deref())
                    .bind(t.claimed_at)
                    .bind(t.outcome)
                    .bind(t.closed_at)
                    .bind(t.done_by.as_deref())
                    .bind(t.notified_at);
            }
            q.execute(&mut **tx).await?;
        }
        for c in &log.changes {
            let q = match c {
                TaskChange::Claimed { task, user, at } => {
                    sqlx::query("UPDATE task_log SET holder = $1, claimed_at = $2 WHERE case_id = $3 AND task_id = $4")
                        .bind(user.as_str())
                        .bind(*at)
                        .bind(id)
                        .bind(*task)
                }
                TaskChange::Reassigned { task, role, unit } => sqlx::query(
                    "UPDATE task_log SET role = $1, unit = $2, holder = NULL, claimed_at = NULL WHERE case_id = $3 AND task_id = $4",
                )
                .bind(role.as_str())
                .bind(unit.as_deref())
                .bind(id)
                .bind(*task),
                TaskChange::Closed { task, outcome, at, by } => sqlx::query(
                    "UPDATE task_log SET outcome = $1, closed_at = $2, done_by = $3 WHERE case_id = $4 AND task_id = $5 AND outcome IS NULL",
                )
                .bind(*outcome)
                .bind(*at)
                .bind(by.as_deref())
                .bind(id)
                .bind(*task),
                TaskChange::Notified { task, at } => sqlx::query(
                    "UPDATE task_log SET notified_at = $1 WHERE case_id = $2 AND task_id = $3 AND notified_at IS NULL",
                )
                .bind(*at)
                .bind(id)
                .bind(*task),
            };
            q.execute(&mut **tx).await?;
        }
        for chunk in log.rungs.chunks(100) {
            let mut sql = String::from("INSERT INTO rungs (case_id, seq, process, at, action) VALUES ");
            for i in 0..chunk.len() {
                if i > 0 {
                    sql.push(',');
                }
                let b = i * 5;
                sql.push_str(&format!("(${}, ${}, ${}, ${}, ${})", b + 1, b + 2, b + 3, b + 4, b + 5));
            }
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for (seq, at, action) in chunk {
                q = q
                    .bind(id)
                    .bind(i64::try_from(*seq).map_err(corrupt)?)
                    .bind(process)
                    .bind(*at)
                    .bind(*action);
            }
            q.execute(&mut **tx).await?;
        }
        if let Some(at) = log.ended {
            sqlx::query("UPDATE cases SET ended_at = $1 WHERE id = $2")
                .bind(at)
                .bind(id)
                .execute(&mut **tx)
                .await?;
            sqlx::query("UPDATE task_log SET outcome = 'ended', closed_at = $1 WHERE case_id = $2 AND outcome IS NULL")
                .bind(at)
                .bind(id)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Removes a case's dashboard rows (before they are built again from
    /// its history).
    pub async fn clear_work_log(&self, tx: &mut Tx, id: i64) -> Result<(), StoreError> {
        for sql in [
            "DELETE FROM task_log WHERE case_id = $1",
            "DELETE FROM rungs WHERE case_id = $1",
            "UPDATE cases SET ended_at = NULL WHERE id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// The histories of the cases with ids in `(after, upto]`, in the
    /// transaction (for building their rows under their locks).
    pub async fn histories_in(
        &self,
        tx: &mut Tx,
        after: i64,
        upto: i64,
    ) -> Result<Vec<(i64, crate::runtime::Event)>, StoreError> {
        let rows =
            sqlx::query("SELECT case_id, body FROM events WHERE case_id > $1 AND case_id <= $2 ORDER BY case_id, seq")
                .bind(after)
                .bind(upto)
                .fetch_all(&mut **tx)
                .await?;
        rows.iter()
            .map(|r| {
                let body: String = r.try_get(1)?;
                Ok((r.try_get(0)?, serde_json::from_str(&body).map_err(corrupt)?))
            })
            .collect()
    }

    /// One count (`query`: one of the `CASES_*` counts) for a process.
    pub async fn count(&self, query: &'static str, process: &str, a: i64, b: Option<i64>) -> Result<i64, StoreError> {
        let mut q = sqlx::query(query).bind(process).bind(a);
        if let Some(b) = b {
            q = q.bind(b);
        }
        Ok(q.fetch_one(&self.pool).await?.try_get(0)?)
    }

    /// Counts by a searchable key's value (`query`: one of the `*_BY`
    /// counts; `binds` after the process).
    pub async fn counts_by(
        &self,
        query: &'static str,
        process: &str,
        ints: &[i64],
        key: &str,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let mut q = sqlx::query(query).bind(process);
        for i in ints {
            q = q.bind(*i);
        }
        let rows = q.bind(key).fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
    }

    /// [`TASKS_DONE`]: (unit, role, person, completed, of them late).
    pub async fn tasks_done(
        &self,
        process: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(String, String, String, i64, i64)>, StoreError> {
        let rows = self.period_rows(TASKS_DONE, process, from, to).await?;
        rows.iter()
            .map(|r| {
                let late: Option<i64> = r.try_get(4)?;
                Ok((
                    r.try_get(0)?,
                    r.try_get(1)?,
                    r.try_get(2)?,
                    r.try_get(3)?,
                    late.unwrap_or(0),
                ))
            })
            .collect()
    }

    /// [`NOTICES_OPEN`]: (unit, role, holder then, tasks).
    pub async fn notices_open(
        &self,
        process: &str,
        at: Timestamp,
    ) -> Result<Vec<(String, String, String, i64)>, StoreError> {
        let rows = sqlx::query(NOTICES_OPEN)
            .bind(process)
            .bind(at.0)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
            .collect()
    }

    /// [`RUNGS_FIRED`]: (action, rungs).
    pub async fn rungs_fired(
        &self,
        process: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = self.period_rows(RUNGS_FIRED, process, from, to).await?;
        rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
    }

    /// [`STEP_TIMES`], by step id.
    pub async fn step_times(
        &self,
        process: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<StepRanks>, StoreError> {
        let rows = self.period_rows(STEP_TIMES, process, from, to).await?;
        let mut by_step: std::collections::BTreeMap<String, Vec<i64>> = Default::default();
        for r in &rows {
            by_step.entry(r.try_get(0)?).or_default().push(r.try_get(1)?);
        }
        Ok(by_step
            .into_iter()
            .map(|(step, mut took)| {
                took.sort_unstable();
                let n = took.len() as i64;
                let at = |p: i64| {
                    let k = usize::try_from(nearest_rank(n, p).max(1) - 1).unwrap_or(0);
                    took.get(k).copied().unwrap_or(0)
                };
                StepRanks {
                    median: at(50),
                    p90: at(90),
                    step,
                    n,
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::nearest_rank;

    #[test]
    fn nearest_ranks() {
        assert_eq!(nearest_rank(10, 50), 5);
        assert_eq!(nearest_rank(10, 90), 9);
        assert_eq!(nearest_rank(1, 90), 1);
        assert_eq!(nearest_rank(3, 50), 2);
        assert_eq!(nearest_rank(101, 90), 91);
    }
}
