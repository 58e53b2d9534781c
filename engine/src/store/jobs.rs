//! Jobs for outside workers: one row per open task of a service step that
//! names a topic. The row comes and goes with its task (written with the
//! case's read rows); its lease and retry columns are changed here, under
//! the row's lock, by acquiring, extending and failing.
//!
//! Must not: decide whether a job may be completed or given up (the engine
//! checks the holder inside its unit of work), or lock a case row (so an
//! acquire, which locks only job rows, can never wait in a cycle with a
//! unit of work, which locks the case first).

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::{corrupt, Backend, Store, StoreError, Tx};
use crate::runtime::TaskId;
use crate::time::Timestamp;

/// A job as the case's state makes it: written with the case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// Its task.
    pub task: TaskId,
    /// The step's topic.
    pub topic: String,
    /// The case's process.
    pub process: String,
    /// The role whose task it is.
    pub role: Option<String>,
    /// The step's id.
    pub step: String,
    /// When the task was opened.
    pub created_at: Timestamp,
}

/// A job's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRow {
    /// Its case.
    pub case: i64,
    /// Its task.
    pub task: TaskId,
    /// The step's topic.
    pub topic: String,
    /// The case's process.
    pub process: String,
    /// The role whose task it is.
    pub role: Option<String>,
    /// The step's id.
    pub step: String,
    /// Who holds it.
    pub worker: Option<String>,
    /// Until when.
    pub lock_until: Option<Timestamp>,
    /// Retries left, as the worker last said.
    pub retries: Option<u32>,
    /// How often it failed.
    pub failures: u32,
    /// The last failure's message.
    pub last_error: Option<String>,
}

const JOB_COLUMNS: &str =
    "case_id, task_id, topic, process, role, step, worker, lock_until, retries, failures, last_error";

fn job_row(r: &AnyRow) -> Result<JobRow, StoreError> {
    let u32_of = |v: i64| u32::try_from(v).map_err(corrupt);
    Ok(JobRow {
        case: r.try_get(0)?,
        task: TaskId(u32_of(r.try_get(1)?)?),
        topic: r.try_get(2)?,
        process: r.try_get(3)?,
        role: r.try_get(4)?,
        step: r.try_get(5)?,
        worker: r.try_get(6)?,
        lock_until: r.try_get::<Option<i64>, _>(7)?.map(Timestamp),
        retries: r.try_get::<Option<i64>, _>(8)?.map(u32_of).transpose()?,
        failures: u32_of(r.try_get(9)?)?,
        last_error: r.try_get(10)?,
    })
}

impl Store {
    /// Makes a case's job rows those of `jobs`: rows of tasks no longer
    /// open go, new ones come, and those still open keep their lease and
    /// retries.
    pub(super) async fn write_jobs(&self, tx: &mut Tx, id: i64, jobs: &[NewJob]) -> Result<(), StoreError> {
        let mut sql = String::from("DELETE FROM jobs WHERE case_id = $1");
        if !jobs.is_empty() {
            let ids: Vec<String> = jobs.iter().map(|j| j.task.0.to_string()).collect();
            sql.push_str(&format!(" AND task_id NOT IN ({})", ids.join(", ")));
        }
        sqlx::query(AssertSqlSafe(sql)).bind(id).execute(&mut **tx).await?;
        for j in jobs {
            sqlx::query(
                "INSERT INTO jobs (case_id, task_id, topic, process, role, step, created_at, run_after) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (case_id, task_id) DO NOTHING",
            )
            .bind(id)
            .bind(i64::from(j.task.0))
            .bind(j.topic.as_str())
            .bind(j.process.as_str())
            .bind(j.role.as_deref())
            .bind(j.step.as_str())
            .bind(j.created_at.0)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    /// Up to `limit` jobs of `topic` free at `now` (never leased, or their
    /// lease over, and past any backoff), oldest first, locked until the
    /// transaction ends; on PostgreSQL rows another node is taking are
    /// skipped. `grants` limits them to (process, role or every role).
    pub async fn free_jobs(
        &self,
        tx: &mut Tx,
        topic: &str,
        now: Timestamp,
        limit: i64,
        grants: Option<&[(String, Option<String>)]>,
    ) -> Result<Vec<JobRow>, StoreError> {
        let mut sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE topic = $1 AND run_after <= $2 AND (lock_until IS NULL OR lock_until <= $2)"
        );
        let mut binds: Vec<String> = Vec::new();
        if let Some(g) = grants {
            if g.is_empty() {
                return Ok(Vec::new());
            }
            let mut any = Vec::new();
            for (p, r) in g {
                binds.push(p.clone());
                let pm = format!("${}", binds.len() + 2);
                match r {
                    Some(r) => {
                        binds.push(r.clone());
                        any.push(format!("(process = {pm} AND role = ${})", binds.len() + 2));
                    }
                    None => any.push(format!("process = {pm}")),
                }
            }
            sql.push_str(&format!(" AND ({})", any.join(" OR ")));
        }
        sql.push_str(&format!(" ORDER BY run_after, case_id, task_id LIMIT {}", limit.max(1)));
        if self.backend == Backend::Postgres {
            sql.push_str(" FOR UPDATE SKIP LOCKED");
        }
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(topic).bind(now.0);
        for b in &binds {
            q = q.bind(b.as_str());
        }
        let rows = q.fetch_all(&mut **tx).await?;
        rows.iter().map(job_row).collect()
    }

    /// A job, locked until the transaction ends.
    pub async fn lock_job(&self, tx: &mut Tx, case: i64, task: TaskId) -> Result<Option<JobRow>, StoreError> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE case_id = $1 AND task_id = $2{}",
            self.for_update()
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(case)
            .bind(i64::from(task.0))
            .fetch_optional(&mut **tx)
            .await?;
        row.as_ref().map(job_row).transpose()
    }

    /// Gives a job to `worker` until `until`.
    pub async fn lease_job(
        &self,
        tx: &mut Tx,
        case: i64,
        task: TaskId,
        worker: &str,
        until: Timestamp,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE jobs SET worker = $1, lock_until = $2 WHERE case_id = $3 AND task_id = $4")
            .bind(worker)
            .bind(until.0)
            .bind(case)
            .bind(i64::from(task.0))
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Frees a failed job for another try at `run_after`, with `retries`
    /// left and the worker's message.
    pub async fn retry_job(
        &self,
        tx: &mut Tx,
        case: i64,
        task: TaskId,
        retries: u32,
        run_after: Timestamp,
        error: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE jobs SET worker = NULL, lock_until = NULL, retries = $1, run_after = $2, last_error = $3, failures = failures + 1 \
             WHERE case_id = $4 AND task_id = $5",
        )
        .bind(i64::from(retries))
        .bind(run_after.0)
        .bind(error)
        .bind(case)
        .bind(i64::from(task.0))
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Per topic: jobs waiting for a worker and jobs held by one, at `now`.
    pub async fn job_counts(&self, now: Timestamp) -> Result<Vec<(String, i64, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT topic, SUM(CASE WHEN lock_until IS NULL OR lock_until <= $1 THEN 1 ELSE 0 END), \
                    SUM(CASE WHEN lock_until > $1 THEN 1 ELSE 0 END) FROM jobs GROUP BY topic ORDER BY topic",
        )
        .bind(now.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
    }
}
