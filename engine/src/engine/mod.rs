//! The engine an embedder calls: deploy definitions, start cases, work their
//! tasks, deliver messages, fire due timers and recurring starts, and read
//! status and history.
//!
//! Owns: the versioned definitions (compiled once, cached, and loaded from
//! the store when another node deployed them), units of work (one database
//! transaction per request, which on SQLite the units queued for the writer
//! share, a savepoint each, see `group`: each case it touches is read under its row lock,
//! checked against the actor's grants, advanced by the runtime, and written
//! back with its new events, timers, subscriptions and incidents before the
//! request is acknowledged; a unit that meets a transient database fault is
//! rolled back and run again), message correlation, child cases for
//! subprocess steps, and tracking codes.
//!
//! Must not: decide process semantics (that is `runtime`), write SQL (that is
//! `store`), read the clock anywhere but through its [`Clock`], or delete a
//! timer, schedule or subscription row for any reason but the state of the
//! case (or process) it belongs to.

mod access;
mod catalog;
mod dashboard;
mod desk;
mod export;
mod group;
mod hooks;
mod jobs;
mod lines;
mod public;
mod query;
mod sessions;
mod stats;
mod tick;
mod work;
mod worklog;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

use rand::{Rng, SeedableRng};
use serde::Serialize;
use sha2::Digest;

pub use access::{Actor, Grants, Scope};
use catalog::Catalog;
pub use catalog::Deployment;
pub use dashboard::{
    CaseCounts, Dashboard, LogLine, StepTime, Tally, BEST_MIN_DONE, DASHBOARD_QUERIES, OPEN_CASES_NOW, OPEN_TASKS_NOW,
    SCORE_NOTICE, SCORE_OVERDUE,
};
pub use desk::{CaseRecord, Field, Moment, Notice, Stuck, TaskForm};
pub use hooks::{event_kind, Delivery, Webhook, FIRST_HOOK_BACKOFF_S, MAX_HOOK_BACKOFF_S};
pub use jobs::{Failed, Job, FIRST_BACKOFF_S, MAX_BACKOFF_S, MAX_JOBS_PER_ACQUIRE, MAX_LEASE_S};
pub use public::Tracked;
pub use query::{CaseFilter, CaseItem, FeedItem, Page, TaskFilter, TaskItem, DEFAULT_PAGE, MAX_PAGE};
pub use sessions::{secret, Opened, Session};
pub use stats::{CommitCounts, FinishedLabels, Gauges, Load, ProcessLabel, Stats};
use tick::next_occurrence;
use work::{hex, incident_rows, refuse_engine_owned, Work};

use crate::definition::{Limits, SourceFile};
use crate::diagnostic::Diagnostic;
use crate::model::{CompileContext, Process};
use crate::runtime::{
    self, CaseView, Command, CommandError, Data, Event, EventKind, Input, Instance, Internal, Status, TaskId, TokenId,
};
pub use crate::store::{AuditRow, IncidentFilter, IncidentRow, StoreError};
use crate::store::{Backend, DefinitionRow, NewJob, ReadRows, Store, TaskRow, Tx};
use crate::time::{Clock, Timestamp, WorkCalendar};

/// A deployed definition: (process id, version, content hash).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct DefinitionKey {
    /// The process id.
    pub process: String,
    /// Its version.
    pub version: u32,
    /// SHA-256 of the source text, hex.
    pub hash: String,
}

/// A case's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct CaseId(pub u64);

impl std::fmt::Display for CaseId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What starting a case returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Started {
    /// The new case's id.
    pub case: CaseId,
    /// For the citizen: unguessable, shown on the SMS.
    pub tracking_code: String,
    /// Whether an earlier start with the same idempotency key made this
    /// case (and this call started nothing).
    pub replayed: bool,
}

/// The longest idempotency key taken.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// What a keyed start's request was, to tell a retry from a key reused
/// for another start: a hash of the process and the data (its keys are
/// ordered, so the same data gives the same digest).
fn start_digest(process: &str, data: &Data) -> String {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    h.update(process.as_bytes());
    h.update([0]);
    h.update(serde_json::to_vec(data).unwrap_or_default());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The digest of a command to one case, as its idempotency key is kept.
fn command_digest(case: CaseId, cmd: &Command) -> String {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    h.update(b"command");
    h.update(case.0.to_be_bytes());
    h.update(serde_json::to_vec(cmd).unwrap_or_default());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The digest of a message, as its idempotency key is kept.
fn message_digest(name: &str, key: Option<&str>, data: &Data) -> String {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    h.update(b"message");
    h.update(name.as_bytes());
    h.update([0]);
    h.update(key.unwrap_or_default().as_bytes());
    h.update([0]);
    h.update(serde_json::to_vec(data).unwrap_or_default());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// An idempotency key is 1 to [`MAX_IDEMPOTENCY_KEY`] visible ASCII characters.
fn check_key(key: &str) -> Result<(), EngineError> {
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY || key.chars().any(|c| !c.is_ascii_graphic()) {
        return Err(EngineError::BadInput(format!(
            "an idempotency key is 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters (a UUID, say)"
        )));
    }
    Ok(())
}

/// Case data the engine owns: no client may write it (it is set by the
/// engine when a process declares it).
pub const ENGINE_OWNED: &[&str] = &["tracking_code"];

/// Why the engine refused a request. Nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The definition has errors.
    #[error("the definition is not valid")]
    Invalid(Vec<Diagnostic>),
    /// Another text was deployed under this process and version.
    #[error("process `{0}` version {1} is already deployed with other content; raise `version`")]
    VersionConflict(String, u32),
    /// No process by that id is deployed.
    #[error("no deployed process `{0}`")]
    NoSuchProcess(String),
    /// A stored deployment this node cannot compile (e.g. it was deployed
    /// by a newer version of Ravand, or its calendar is missing).
    #[error("process `{0}` version {1} is deployed but cannot be loaded here: {2}")]
    Unloadable(String, u32, String),
    /// No such case.
    #[error("no case {0}")]
    NoSuchCase(CaseId),
    /// No case waits for this message (and key).
    #[error("no open subscription for message `{0}` with that key")]
    NotCorrelated(String),
    /// A calendar is missing or invalid.
    #[error("calendar: {0}")]
    Calendar(String),
    /// The actor may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// Input refused before it reached a case (e.g. engine-owned data).
    #[error("{0}")]
    BadInput(String),
    /// No webhook subscription with that id.
    #[error("no webhook {0}")]
    NoSuchWebhook(i64),
    /// No open job for that task.
    #[error("{0}")]
    NoSuchJob(String),
    /// The worker does not hold the job (its lease ran out and another
    /// worker took it, or it never acquired it).
    #[error("{0}")]
    JobLost(String),
    /// A list was asked for in a way it cannot answer (a cursor it did not
    /// give out, a page too long, a filter on what is not searchable).
    #[error("{0}")]
    BadQuery(String),
    /// An idempotency key sent again with another request.
    #[error("{0}")]
    KeyReused(String),
    /// The case refused the command.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl EngineError {
    /// Whether the unit of work may be run again (nothing of it committed).
    fn is_transient(&self) -> bool {
        matches!(self, EngineError::Store(e) if e.is_transient())
    }
}

impl From<sqlx::Error> for EngineError {
    fn from(e: sqlx::Error) -> EngineError {
        EngineError::Store(StoreError::Db(e))
    }
}

/// The engine. Share it behind an `Arc`; every method takes `&self`.
pub struct Engine {
    store: Store,
    catalog: RwLock<Catalog>,
    clock: Arc<dyn Clock>,
    limits: Limits,
    rng: Mutex<rand::rngs::StdRng>,
    /// SQLite has one writer: units of work in this process take turns,
    /// and those that queue share a commit (`group`).
    writer: group::Writer,
    /// Calendars already warned about for timers past the years they cover.
    warned: Mutex<HashSet<String>>,
    /// What an operator watches.
    stats: Stats,
}

/// Timers claimed and fired in one transaction by `tick`.
const TICK_BATCH: i64 = 200;
/// The most timers one `tick` fires, so a flood cannot stall a caller.
const MAX_FIRED_PER_TICK: usize = 10_000_000;
/// The deepest nesting of subprocess calls.
pub const MAX_CHILD_DEPTH: u32 = 32;
/// How often a unit of work that met a transient fault is tried in all.
const ATTEMPTS: u32 = 5;
/// Most tracking codes drawn for one case before the insert is left to the
/// unique index.
const MAX_CODE_DRAWS: usize = 100_000;
/// Most cases or processes one `tick` passes over because this node cannot
/// load their definition (they are left for a node that can).
const MAX_SKIPPED: usize = 1_000;

impl Engine {
    /// An engine on an in-memory SQLite database (tests, `ravand run`).
    pub async fn in_memory(clock: Arc<dyn Clock>, seed: u64) -> Result<Engine, EngineError> {
        Engine::open("sqlite::memory:", clock, seed).await
    }

    /// An engine on a database (`sqlite://ravand.db`, `postgres://…`): the
    /// schema is migrated, and the calendars and definitions already deployed
    /// there are loaded. `seed` drives the tracking codes: tests pass a fixed
    /// one to repeat themselves; a service must pass a random one (from the
    /// operating system), or its codes can be guessed.
    pub async fn open(url: &str, clock: Arc<dyn Clock>, seed: u64) -> Result<Engine, EngineError> {
        let store = Store::connect(url).await?;
        let stats = Stats::default();
        let e = Engine {
            store,
            catalog: RwLock::new(Catalog::default()),
            clock,
            limits: Limits::default(),
            rng: Mutex::new(rand::rngs::StdRng::seed_from_u64(seed)),
            writer: group::Writer::new(stats.commits.clone()),
            warned: Mutex::new(HashSet::new()),
            stats,
        };
        e.reload().await?;
        e.backfill_incidents().await?;
        e.backfill_read_rows().await?;
        e.backfill_work_log().await?;
        Ok(e)
    }

    /// Copies a SQLite database at `url` to `file`, consistently while
    /// other processes write (`VACUUM INTO`). PostgreSQL is copied by its
    /// own tools (`pg_dump`), which `ravand backup` calls.
    pub async fn backup_sqlite(url: &str, file: &std::path::Path) -> Result<(), EngineError> {
        Ok(Store::connect(url).await?.backup_to(file).await?)
    }

    /// The engine's clock, now.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Runs a unit of work, trying again when it met a transient fault
    /// (nothing of a failed attempt was committed).
    async fn retrying<T, F, Fut>(&self, mut f: F) -> Result<T, EngineError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, EngineError>>,
    {
        let mut attempt = 1;
        loop {
            match f().await {
                Err(e) if e.is_transient() && attempt < ATTEMPTS => {
                    self.stats.retries.inc();
                    tracing::warn!(error = %e, attempt, "transient database fault; the unit of work runs again");
                    tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
                    attempt += 1;
                }
                Err(e @ EngineError::Store(_)) => {
                    self.stats.db_errors.inc();
                    tracing::error!(error = %e, "database fault");
                    return Err(e);
                }
                r => return r,
            }
        }
    }

    async fn work(&self) -> Result<Work<'_>, EngineError> {
        let (turn, tx) = match self.store.backend() {
            Backend::Sqlite => {
                let (turn, tx) = self.writer.turn(&self.store).await?;
                (Some(turn), tx)
            }
            Backend::Postgres => (None, self.store.begin().await?),
        };
        Ok(Work {
            engine: self,
            tx,
            cases: HashMap::new(),
            order: Vec::new(),
            cascaded: HashSet::new(),
            turn,
        })
    }

    /// Starts a case of the latest version of `process`.
    pub async fn start(&self, process: &str, data: Data, by: Option<String>) -> Result<Started, EngineError> {
        self.start_as(&Actor::system(by), process, data).await
    }

    /// Starts a case of the latest version of `process` for `actor`, who
    /// must be granted the process. Engine-owned data is refused.
    pub async fn start_as(&self, actor: &Actor, process: &str, data: Data) -> Result<Started, EngineError> {
        self.start_keyed(actor, process, data, None).await
    }

    /// Starts a case as [`Engine::start_as`] does, at most once for `key`
    /// (a client's idempotency key, scoped to the actor): the same key sent
    /// again, with the same process and data, is given the case the first
    /// start made (`replayed`), however many times and on whichever node;
    /// with another process or other data it is refused. The key is taken
    /// in the start's own unit of work.
    pub async fn start_once_as(
        &self,
        actor: &Actor,
        process: &str,
        data: Data,
        key: &str,
    ) -> Result<Started, EngineError> {
        check_key(key)?;
        self.start_keyed(actor, process, data, Some(key)).await
    }

    async fn start_keyed(
        &self,
        actor: &Actor,
        process: &str,
        data: Data,
        key: Option<&str>,
    ) -> Result<Started, EngineError> {
        refuse_engine_owned(&data)?;
        if !actor.may_start(process) {
            return Err(EngineError::Forbidden(format!(
                "you are not granted process `{process}`"
            )));
        }
        let owner = actor.user.clone().unwrap_or_default();
        let digest = key.map(|_| start_digest(process, &data));
        let now = self.clock.now();
        self.retrying(|| async {
            let mut w = self.work().await?;
            let r = async {
                if let (Some(key), Some(digest)) = (key, &digest) {
                    if let Some((case, was)) = self.store.start_key(&mut w.tx, &owner, key).await? {
                        if &was != digest {
                            return Err(EngineError::KeyReused(format!(
                                "idempotency key `{key}` was used for another start (another process or other data); \
                                 send a new key for a new case"
                            )));
                        }
                        let code = self.store.tracking_code_of(&mut w.tx, case).await?;
                        return Ok(Started {
                            case: CaseId(case as u64),
                            tracking_code: code,
                            replayed: true,
                        });
                    }
                }
                let d = self.latest(&mut w.tx, process).await?;
                let id = w.start_case(&d, data.clone(), actor.user.clone(), None, 0, now).await?;
                w.settle(id, 0, now).await?;
                if let (Some(key), Some(digest)) = (key, &digest) {
                    self.store
                        .take_start_key(&mut w.tx, &owner, key, digest, id.0 as i64, now)
                        .await?;
                }
                let code = w
                    .cases
                    .get(&(id.0 as i64))
                    .map(|c| c.row.tracking_code.clone())
                    .unwrap_or_default();
                Ok(Started {
                    case: id,
                    tracking_code: code,
                    replayed: false,
                })
            }
            .await;
            w.finish(r).await
        })
        .await
    }

    /// Applies a command to a case, with full rights.
    pub async fn command(&self, case: CaseId, cmd: Command) -> Result<(), EngineError> {
        self.command_as(&Actor::system(None), case, cmd).await
    }

    /// Applies a command to a case for `actor`: the grants are checked
    /// against the case as it is locked in this unit of work (so a task
    /// reassigned a moment ago is judged by its new role).
    pub async fn command_as(&self, actor: &Actor, case: CaseId, cmd: Command) -> Result<(), EngineError> {
        self.command_keyed(actor, case, cmd, None).await.map(|_| ())
    }

    /// [`Engine::command_as`] at most once for `key` (an `Idempotency-Key`):
    /// a command sent again with the key of one that was applied is not
    /// applied again and answers as it did (`Ok(true)`: replayed), so a
    /// client whose answer was lost may retry a completion. The key is taken
    /// in the command's own unit of work, after the case is locked, so two
    /// copies racing on two nodes apply once; keys are scoped to who sends
    /// them and kept as long as the case; a key sent again with another
    /// command is refused ([`EngineError::KeyReused`]).
    pub async fn command_once_as(
        &self,
        actor: &Actor,
        case: CaseId,
        cmd: Command,
        key: &str,
    ) -> Result<bool, EngineError> {
        check_key(key)?;
        self.command_keyed(actor, case, cmd, Some(key)).await
    }

    /// A command in its unit of work, once per `key` when one is given;
    /// whether it was a replay.
    async fn command_keyed(
        &self,
        actor: &Actor,
        case: CaseId,
        cmd: Command,
        key: Option<&str>,
    ) -> Result<bool, EngineError> {
        match &cmd {
            Command::Complete { outputs: d, .. } => refuse_engine_owned(d)?,
            Command::SetData { values: d, .. } | Command::Resolve { values: d, .. } => refuse_engine_owned(d)?,
            _ => {}
        }
        let owner = actor.user.clone().unwrap_or_default();
        let digest = key.map(|_| command_digest(case, &cmd));
        let now = self.clock.now();
        self.retrying(|| async {
            let mut w = self.work().await?;
            let r = async {
                w.load(case).await?;
                w.check(actor, case, &cmd)?;
                if let (Some(key), Some(digest)) = (key, &digest) {
                    if self.key_seen(&mut w.tx, &owner, key, digest).await?.is_some() {
                        return Ok(true);
                    }
                }
                let from = w.command(case, cmd.clone(), now).await?;
                w.settle(case, from, now).await?;
                if let (Some(key), Some(digest)) = (key, &digest) {
                    self.store
                        .take_start_key(&mut w.tx, &owner, key, digest, case.0 as i64, now)
                        .await?;
                }
                Ok(false)
            }
            .await;
            w.finish(r).await
        })
        .await
    }

    /// [`Engine::message_as`] at most once for `key`: a message sent again
    /// with the key of one that was delivered is not delivered again, and
    /// answers with the case it went to (`(case, true)`: replayed).
    pub async fn message_once_as(
        &self,
        actor: &Actor,
        name: &str,
        correlation: Option<&str>,
        data: Data,
        key: &str,
    ) -> Result<(CaseId, bool), EngineError> {
        check_key(key)?;
        refuse_engine_owned(&data)?;
        let owner = actor.user.clone().unwrap_or_default();
        let digest = message_digest(name, correlation, &data);
        let now = self.clock.now();
        let allowed = actor.start_processes();
        self.retrying(|| async {
            let mut w = self.work().await?;
            let r = async {
                if let Some(case) = self.key_seen(&mut w.tx, &owner, key, &digest).await? {
                    return Ok((CaseId(case as u64), true));
                }
                let found = self
                    .store
                    .find_subscription(&mut w.tx, name, correlation, allowed.as_deref())
                    .await?;
                let Some((case, sub)) = found else {
                    // A copy delivered while this one looked is a replay.
                    return match self.key_seen(&mut w.tx, &owner, key, &digest).await? {
                        Some(case) => Ok((CaseId(case as u64), true)),
                        None => Err(EngineError::NotCorrelated(name.to_owned())),
                    };
                };
                let case = CaseId(case as u64);
                w.load(case).await?;
                w.check_message(actor, case)?;
                // A copy that held the case's lock before this one is a replay.
                if let Some(case) = self.key_seen(&mut w.tx, &owner, key, &digest).await? {
                    return Ok((CaseId(case as u64), true));
                }
                let cmd = Internal::Deliver {
                    sub,
                    data: data.clone(),
                    by: actor.user.clone(),
                };
                let from = w.command(case, cmd, now).await?;
                w.settle(case, from, now).await?;
                self.store
                    .take_start_key(&mut w.tx, &owner, key, &digest, case.0 as i64, now)
                    .await?;
                Ok((case, false))
            }
            .await;
            w.finish(r).await
        })
        .await
    }

    /// The case a request with this key went to, when one did; a key kept
    /// for another request is [`EngineError::KeyReused`].
    async fn key_seen(&self, tx: &mut Tx, owner: &str, key: &str, digest: &str) -> Result<Option<i64>, EngineError> {
        match self.store.start_key(tx, owner, key).await? {
            Some((case, was)) if was == digest => Ok(Some(case)),
            Some(_) => Err(EngineError::KeyReused(format!(
                "idempotency key `{key}` was used for another request; send a new key for a new one"
            ))),
            None => Ok(None),
        }
    }

    /// Claims a task for `user`.
    pub async fn claim(&self, case: CaseId, task: TaskId, user: &str) -> Result<(), EngineError> {
        self.command(
            case,
            Command::Claim {
                task,
                user: user.to_owned(),
            },
        )
        .await
    }

    /// Completes a task with its outputs.
    pub async fn complete(
        &self,
        case: CaseId,
        task: TaskId,
        by: Option<String>,
        outputs: Data,
    ) -> Result<(), EngineError> {
        self.command(case, Command::Complete { task, by, outputs }).await
    }

    /// Delivers a message to the oldest open subscription with this name and
    /// key (a subscription without a key takes any). Returns the case.
    pub async fn message(&self, name: &str, key: Option<&str>, data: Data) -> Result<CaseId, EngineError> {
        self.message_as(&Actor::system(None), name, key, data).await
    }

    /// [`Engine::message`] for `actor`: only cases of processes granted to
    /// it are candidates, and the sender is recorded.
    pub async fn message_as(
        &self,
        actor: &Actor,
        name: &str,
        key: Option<&str>,
        data: Data,
    ) -> Result<CaseId, EngineError> {
        refuse_engine_owned(&data)?;
        let now = self.clock.now();
        let allowed = actor.start_processes();
        self.retrying(|| async {
            let mut w = self.work().await?;
            let r = async {
                let (case, sub) = self
                    .store
                    .find_subscription(&mut w.tx, name, key, allowed.as_deref())
                    .await?
                    .ok_or_else(|| EngineError::NotCorrelated(name.to_owned()))?;
                let case = CaseId(case as u64);
                let cmd = Internal::Deliver {
                    sub,
                    data: data.clone(),
                    by: actor.user.clone(),
                };
                w.load(case).await?;
                w.check_message(actor, case)?;
                let from = w.command(case, cmd, now).await?;
                w.settle(case, from, now).await?;
                Ok(case)
            }
            .await;
            w.finish(r).await
        })
        .await
    }

    /// A case row and its deployment, read without a lock. For a restricted
    /// process and a staff actor the read is recorded in the case's audit
    /// trail first (a read that cannot be recorded is refused).
    async fn read_as(
        &self,
        actor: &Actor,
        case: CaseId,
        what: &str,
    ) -> Result<(crate::store::CaseRow, Arc<Deployment>), EngineError> {
        let row = self
            .store
            .case(case.0 as i64)
            .await?
            .ok_or(EngineError::NoSuchCase(case))?;
        if !actor.may_read(&row.process) {
            return Err(EngineError::Forbidden(format!(
                "case {case} belongs to process `{}`, which you are not granted",
                row.process
            )));
        }
        let cached = self.catalog().get(&row.process, row.version);
        let d = match cached {
            Some(d) => d,
            None => {
                self.reload().await?;
                let found = self.catalog().get(&row.process, row.version);
                found.ok_or_else(|| EngineError::NoSuchProcess(row.process.clone()))?
            }
        };
        if d.process.restricted && actor.staff {
            let who = actor.user.clone().unwrap_or_else(|| "-".into());
            let now = self.clock.now();
            self.retrying(|| async {
                let mut w = self.work().await?;
                let r = self.store.audit(&mut w.tx, case.0 as i64, now, &who, what).await;
                w.finish(r.map_err(EngineError::from)).await
            })
            .await?;
        }
        Ok((row, d))
    }

    /// Where a case stands.
    pub async fn status(&self, case: CaseId) -> Result<CaseView, EngineError> {
        self.status_as(&Actor::system(None), case).await
    }

    /// Where a case stands, for `actor` (who must be granted its process).
    pub async fn status_as(&self, actor: &Actor, case: CaseId) -> Result<CaseView, EngineError> {
        let (row, d) = self.read_as(actor, case, "read the case").await?;
        Ok(CaseView::of(&d.process, &d.calendar, &row.state))
    }

    /// The state of a case (for tests and tools).
    pub async fn instance(&self, case: CaseId) -> Result<Instance, EngineError> {
        Ok(self
            .read_as(&Actor::system(None), case, "read the state")
            .await?
            .0
            .state)
    }

    /// The tracking code of a case.
    pub async fn tracking_code(&self, case: CaseId) -> Result<String, EngineError> {
        Ok(self
            .read_as(&Actor::system(None), case, "read the tracking code")
            .await?
            .0
            .tracking_code)
    }

    /// A case's full history.
    pub async fn history(&self, case: CaseId) -> Result<Vec<Event>, EngineError> {
        Ok(self.history_as(&Actor::system(None), case).await?.0)
    }

    /// A case's history as events and as lines for people, for `actor`.
    pub async fn history_as(&self, actor: &Actor, case: CaseId) -> Result<(Vec<Event>, Vec<String>), EngineError> {
        let (_, d) = self.read_as(actor, case, "read the history").await?;
        let events = self.store.history(case.0 as i64).await?;
        let lines = events
            .iter()
            .filter_map(|e| runtime::describe(&d.process, &d.calendar, e))
            .collect();
        Ok((events, lines))
    }

    /// A case's history as lines for people.
    pub async fn history_lines(&self, case: CaseId) -> Result<Vec<String>, EngineError> {
        Ok(self.history_as(&Actor::system(None), case).await?.1)
    }

    /// A case's audit trail (reads of restricted cases by staff).
    pub async fn audit(&self, case: CaseId) -> Result<Vec<AuditRow>, EngineError> {
        self.store
            .case(case.0 as i64)
            .await?
            .ok_or(EngineError::NoSuchCase(case))?;
        Ok(self.store.audit_of(case.0 as i64).await?)
    }

    /// The case with this tracking code.
    pub async fn find_by_code(&self, code: &str) -> Result<Option<CaseId>, EngineError> {
        Ok(self.store.find_by_code(code).await?.map(|i| CaseId(i as u64)))
    }

    /// Open tasks of every case not finished, with the case they belong to.
    pub async fn open_tasks(&self) -> Result<Vec<(CaseId, runtime::TaskView)>, EngineError> {
        self.open_tasks_as(&Actor::system(None)).await
    }

    /// Open tasks that `actor` may work (an auditor: every one), by case
    /// and task, from the task rows.
    pub async fn open_tasks_as(&self, actor: &Actor) -> Result<Vec<(CaseId, runtime::TaskView)>, EngineError> {
        Ok(self
            .worklist_as(actor)
            .await?
            .into_iter()
            .map(|t| (t.case, t.task))
            .collect())
    }

    /// Open incidents across cases that `actor` may read.
    pub async fn incidents_as(
        &self,
        actor: &Actor,
        mut filter: IncidentFilter,
    ) -> Result<Vec<IncidentRow>, EngineError> {
        filter.processes = actor.read_processes();
        if filter.limit <= 0 {
            filter.limit = 500;
        }
        Ok(self.store.incidents(&filter).await?)
    }

    /// Cases, with their process and status.
    pub async fn cases(&self) -> Result<Vec<(CaseId, String, runtime::Status)>, EngineError> {
        let rows = self.store.cases().await?;
        Ok(rows.into_iter().map(|(id, p, s)| (CaseId(id as u64), p, s)).collect())
    }
}

#[cfg(test)]
mod tests {
    /// `ARCHITECTURE.md` states the engine's and the service's limits as the
    /// code has them.
    #[test]
    fn the_architecture_notes_state_these_limits() {
        // Words joined by single spaces, numbers without their thousands commas.
        let notes = include_str!("../../../ARCHITECTURE.md")
            .replace(',', "")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let mut said = vec![
            format!("{} nested subprocess calls", super::MAX_CHILD_DEPTH),
            format!("{} timers per tick", super::MAX_FIRED_PER_TICK),
            format!("{} attempts of a unit of work", super::ATTEMPTS),
        ];
        #[cfg(feature = "http")]
        said.extend(crate::service::stated_limits());
        for s in said {
            assert!(notes.contains(&s), "ARCHITECTURE.md should say `{s}`");
        }
    }
}
