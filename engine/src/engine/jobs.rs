//! External tasks: the service steps that name a `topic` are done by the
//! municipality's own programs, which fetch and lock their jobs by topic
//! with a lease, extend it, complete the job with typed outputs, or fail it
//! with a retry count; when the retries run out the case gets an incident.
//!
//! Owns: who holds a job (checked inside the unit of work that completes or
//! fails it, against the job row locked there, so exactly one worker's
//! completion is applied), leases, backoff. Must not: complete a task
//! itself (the runtime's `Complete` does), or let a job be completed by a
//! worker that does not hold it.

use serde::Serialize;

use super::*;
use crate::store::JobRow;

/// The most jobs one acquire hands out.
pub const MAX_JOBS_PER_ACQUIRE: usize = 100;
/// The longest lease.
pub const MAX_LEASE_S: i64 = 24 * 3600;
/// The first retry's backoff when the worker does not say (it doubles with
/// each failure, up to [`MAX_BACKOFF_S`]).
pub const FIRST_BACKOFF_S: i64 = 10;
/// The longest backoff the engine picks itself.
pub const MAX_BACKOFF_S: i64 = 3600;

/// A job handed to a worker.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    /// Its case.
    pub case: CaseId,
    /// Its task in the case (with the case, the job's id).
    pub task: TaskId,
    /// The step's topic.
    pub topic: String,
    /// The case's process.
    pub process: String,
    /// The step's id.
    pub step: String,
    /// Who holds it now.
    pub worker: String,
    /// Until when (seconds since the epoch): extend before, or another
    /// worker may take it.
    pub lock_until: Timestamp,
    /// Retries left, as the last failure said (`None` before any).
    pub retries: Option<u32>,
    /// The last failure's message.
    pub last_error: Option<String>,
    /// The case data the step shows (all of it when it shows none).
    pub variables: Data,
}

/// What became of a failed job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "then", rename_all = "kebab-case")]
pub enum Failed {
    /// It is offered again from this instant.
    Retry {
        /// Seconds since the epoch.
        at: Timestamp,
    },
    /// No retries were left: the case has an incident at the step.
    Incident,
}

fn bad(what: String) -> EngineError {
    EngineError::BadInput(what)
}

fn check_worker(worker: &str) -> Result<(), EngineError> {
    if worker.is_empty() || worker.len() > 200 {
        return Err(bad("`worker` names the worker: 1 to 200 characters".into()));
    }
    Ok(())
}

fn check_lease(lease_s: i64) -> Result<(), EngineError> {
    if !(1..=MAX_LEASE_S).contains(&lease_s) {
        return Err(bad(format!("a lease is 1 to {MAX_LEASE_S} seconds, not {lease_s}")));
    }
    Ok(())
}

/// The job row, if `worker` holds it (its lease may have run out, as long
/// as nobody else has taken it since).
fn held(row: Option<JobRow>, case: CaseId, task: TaskId, worker: &str) -> Result<JobRow, EngineError> {
    let row = row.ok_or_else(|| EngineError::NoSuchJob(format!("no open job for task {task} of case {case}")))?;
    match &row.worker {
        Some(w) if w == worker => Ok(row),
        Some(w) => Err(EngineError::JobLost(format!(
            "job {case}/{task} is held by `{w}`, not `{worker}` (its lease ran out and it was taken)"
        ))),
        None => Err(EngineError::JobLost(format!(
            "job {case}/{task} is not held by `{worker}`: acquire it first"
        ))),
    }
}

impl Engine {
    /// Hands up to `max` free jobs of `topic` to `worker` until `lease_s`
    /// from now, oldest first, among those `actor` may work. On PostgreSQL
    /// several nodes acquire at once without handing a job out twice.
    pub async fn acquire_jobs_as(
        &self,
        actor: &Actor,
        topic: &str,
        worker: &str,
        max: usize,
        lease_s: i64,
    ) -> Result<Vec<Job>, EngineError> {
        check_worker(worker)?;
        check_lease(lease_s)?;
        if !(1..=MAX_JOBS_PER_ACQUIRE).contains(&max) {
            return Err(bad(format!("`max` is 1 to {MAX_JOBS_PER_ACQUIRE} jobs, not {max}")));
        }
        let grants = query::task_grants(actor);
        let now = self.clock.now();
        let until = Timestamp(now.0.saturating_add(lease_s));
        let rows = self
            .retrying(|| async {
                let mut w = self.work().await?;
                let r = async {
                    let rows = self
                        .store
                        .free_jobs(&mut w.tx, topic, now, max as i64, grants.as_deref())
                        .await?;
                    for j in &rows {
                        self.store.lease_job(&mut w.tx, j.case, j.task, worker, until).await?;
                    }
                    Ok(rows)
                }
                .await;
                w.finish(r).await
            })
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for j in rows {
            let (c, d) = self
                .read_as(actor, CaseId(j.case as u64), "fetch a job's variables")
                .await?;
            let variables = shown_data(&d.process, &j.step, &c.state.data);
            out.push(Job {
                case: CaseId(j.case as u64),
                task: j.task,
                topic: j.topic,
                process: j.process,
                step: j.step,
                worker: worker.to_owned(),
                lock_until: until,
                retries: j.retries,
                last_error: j.last_error,
                variables,
            });
        }
        Ok(out)
    }

    /// Extends the lease of a job `worker` holds to `lease_s` from now.
    pub async fn extend_job_as(
        &self,
        actor: &Actor,
        case: CaseId,
        task: TaskId,
        worker: &str,
        lease_s: i64,
    ) -> Result<Timestamp, EngineError> {
        check_worker(worker)?;
        check_lease(lease_s)?;
        let now = self.clock.now();
        let until = Timestamp(now.0.saturating_add(lease_s));
        self.retrying(|| async {
            let mut w = self.work().await?;
            let r = async {
                let row = self.store.lock_job(&mut w.tx, case.0 as i64, task).await?;
                let row = held(row, case, task, worker)?;
                self.job_granted(actor, &row)?;
                self.store.lease_job(&mut w.tx, row.case, task, worker, until).await?;
                Ok(until)
            }
            .await;
            w.finish(r).await
        })
        .await
    }

    /// Completes a job `worker` holds with its outputs (checked against the
    /// step's `sets` like a task's), and moves the case on.
    pub async fn complete_job_as(
        &self,
        actor: &Actor,
        case: CaseId,
        task: TaskId,
        worker: &str,
        outputs: Data,
    ) -> Result<(), EngineError> {
        check_worker(worker)?;
        refuse_engine_owned(&outputs)?;
        let now = self.clock.now();
        self.retrying(|| async {
            let mut w = self.work().await?;
            let r = async {
                w.held_job(actor, case, task, worker).await?;
                let cmd = Command::Complete {
                    task,
                    by: Some(worker.to_owned()),
                    outputs: outputs.clone(),
                };
                let from = w.command(case, cmd, now).await?;
                w.settle(case, from, now).await
            }
            .await;
            w.finish(r).await
        })
        .await
    }

    /// A worker failed a job it holds. With `retries` left it is offered
    /// again after `retry_in_s` (or a backoff that doubles with each
    /// failure); with none left the case gets an incident at the step,
    /// and resolving it enters the step again with a new job.
    #[allow(clippy::too_many_arguments)]
    pub async fn fail_job_as(
        &self,
        actor: &Actor,
        case: CaseId,
        task: TaskId,
        worker: &str,
        message: &str,
        retries: u32,
        retry_in_s: Option<i64>,
    ) -> Result<Failed, EngineError> {
        check_worker(worker)?;
        if let Some(s) = retry_in_s.filter(|s| !(0..=MAX_LEASE_S).contains(s)) {
            return Err(bad(format!("`retry_in` is 0 to {MAX_LEASE_S} seconds, not {s}")));
        }
        let message: String = message.chars().take(2_000).collect();
        let now = self.clock.now();
        self.retrying(|| async {
            let mut w = self.work().await?;
            let r = async {
                let row = w.held_job(actor, case, task, worker).await?;
                if retries > 0 {
                    let backoff = retry_in_s.unwrap_or_else(|| {
                        FIRST_BACKOFF_S
                            .saturating_mul(1_i64 << row.failures.min(20))
                            .min(MAX_BACKOFF_S)
                    });
                    let at = Timestamp(now.0.saturating_add(backoff));
                    self.store
                        .retry_job(&mut w.tx, row.case, task, retries, at, &message)
                        .await?;
                    return Ok(Failed::Retry { at });
                }
                let from = w
                    .command(
                        case,
                        Internal::JobFailed {
                            task,
                            message: message.clone(),
                        },
                        now,
                    )
                    .await?;
                w.settle(case, from, now).await?;
                Ok(Failed::Incident)
            }
            .await;
            w.finish(r).await
        })
        .await
    }

    /// Per topic: jobs waiting for a worker, and jobs held.
    pub async fn job_counts(&self) -> Result<Vec<(String, i64, i64)>, EngineError> {
        Ok(self.store.job_counts(self.clock.now()).await?)
    }

    /// Whether `actor` may work the job's task.
    pub(super) fn job_granted(&self, actor: &Actor, row: &JobRow) -> Result<(), EngineError> {
        if actor.may_work(&row.process, row.role.as_deref()) {
            Ok(())
        } else {
            Err(EngineError::Forbidden(format!(
                "the jobs of `{}/{}` are not yours",
                row.process,
                row.role.as_deref().unwrap_or("*")
            )))
        }
    }
}

impl Work<'_> {
    /// Loads the case under its lock, then the job's row under its own,
    /// and checks that `worker` holds it and `actor` may work it.
    async fn held_job(
        &mut self,
        actor: &Actor,
        case: CaseId,
        task: TaskId,
        worker: &str,
    ) -> Result<JobRow, EngineError> {
        self.load(case).await?;
        let row = self.engine.store.lock_job(&mut self.tx, case.0 as i64, task).await?;
        let row = held(row, case, task, worker)?;
        self.engine.job_granted(actor, &row)?;
        Ok(row)
    }
}

/// The data a step shows, or all of it when it shows none.
fn shown_data(p: &Process, step: &str, data: &Data) -> Data {
    let Some(s) = p.steps.iter().find(|s| s.id == step) else {
        return Data::new();
    };
    if s.shows().is_empty() {
        return data.clone();
    }
    s.shows()
        .iter()
        .filter_map(|v| {
            let name = &p.var(*v).name;
            data.get(name).map(|x| (name.clone(), x.clone()))
        })
        .collect()
}
