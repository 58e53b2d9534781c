//! The engine an embedder calls: deploy definitions, start cases, work their
//! tasks, deliver messages, fire due timers and recurring starts, and read
//! status and history.
//!
//! Owns: the versioned definitions (compiled once, cached, and loaded from
//! the store when another node deployed them), units of work (one database
//! transaction per request: each case it touches is read under its row lock,
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

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

use rand::{Rng, SeedableRng};
use serde::Serialize;
use sha2::Digest;

pub use access::{Actor, Grants, Scope};

use crate::definition::{Limits, SourceFile};
use crate::diagnostic::Diagnostic;
use crate::model::{CompileContext, Process};
use crate::runtime::{
    self, CaseView, Command, CommandError, Data, Event, EventKind, Input, Instance, Internal, Status, TaskId, TokenId,
};
pub use crate::store::{AuditRow, IncidentFilter, IncidentRow, StoreError};
use crate::store::{Backend, DefinitionRow, Store, Tx};
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

/// A compiled, deployed definition.
pub struct Deployment {
    /// Process and version.
    pub key: DefinitionKey,
    /// The compiled process.
    pub process: Arc<Process>,
    /// Its calendar.
    pub calendar: Arc<WorkCalendar>,
}

#[derive(Default)]
struct Catalog {
    calendars: HashMap<String, Arc<WorkCalendar>>,
    deployments: Vec<Arc<Deployment>>,
    by_key: HashMap<(String, u32), usize>,
}

impl Catalog {
    fn get(&self, process: &str, version: u32) -> Option<Arc<Deployment>> {
        self.by_key
            .get(&(process.to_owned(), version))
            .map(|&i| self.deployments[i].clone())
    }
}

/// The engine. Share it behind an `Arc`; every method takes `&self`.
pub struct Engine {
    store: Store,
    catalog: RwLock<Catalog>,
    clock: Arc<dyn Clock>,
    limits: Limits,
    rng: Mutex<rand::rngs::StdRng>,
    /// SQLite has one writer: units of work in this process take turns.
    writer: tokio::sync::Mutex<()>,
    /// Calendars already warned about for timers past the years they cover.
    warned: Mutex<HashSet<String>>,
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

/// One round of `tick`.
enum Round {
    /// Nothing was due.
    Idle,
    /// This many fired or started; `skip` are cases or processes to pass over.
    Fired {
        n: usize,
        skip_cases: Vec<i64>,
        skip_processes: Vec<String>,
    },
}

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
        let e = Engine {
            store,
            catalog: RwLock::new(Catalog::default()),
            clock,
            limits: Limits::default(),
            rng: Mutex::new(rand::rngs::StdRng::seed_from_u64(seed)),
            writer: tokio::sync::Mutex::new(()),
            warned: Mutex::new(HashSet::new()),
        };
        e.reload().await?;
        e.backfill_incidents().await?;
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

    fn catalog(&self) -> std::sync::RwLockReadGuard<'_, Catalog> {
        self.catalog.read().unwrap_or_else(|e| e.into_inner())
    }

    fn catalog_mut(&self) -> std::sync::RwLockWriteGuard<'_, Catalog> {
        self.catalog.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads calendars and definitions from the database (others may have
    /// deployed since). A stored definition this node cannot compile is
    /// left out of the catalog and logged; its cases are left for a node
    /// that can.
    async fn reload(&self) -> Result<(), EngineError> {
        for (name, source) in self.store.calendars().await? {
            self.compile_calendar(&name, &source)?;
        }
        for d in self.store.definitions().await? {
            if self.catalog().by_key.contains_key(&(d.process.clone(), d.version)) {
                continue;
            }
            if let Err(e) = self.install_row(d) {
                tracing::error!(error = %e, "a stored definition cannot be loaded");
            }
        }
        Ok(())
    }

    /// Fills the incident rows of a database written before they existed
    /// (once: a marker in `meta` says it was done).
    async fn backfill_incidents(&self) -> Result<(), EngineError> {
        let done = {
            let mut w = self.work().await?;
            let r = self
                .store
                .meta(&mut w.tx, "incidents-backfilled")
                .await
                .map_err(EngineError::from);
            w.finish(r).await?
        };
        if done.is_some() {
            return Ok(());
        }
        let open = self.store.open_cases().await?;
        let mut w = self.work().await?;
        let r = async {
            let now = self.clock.now();
            for row in open.iter().filter(|r| !r.state.incidents.is_empty()) {
                let Some(d) = self.catalog().get(&row.process, row.version) else {
                    continue;
                };
                let rows = incident_rows(&d.process, &row.state);
                self.store
                    .save_case(&mut w.tx, row.id, &row.state, &[], now, Some(&rows))
                    .await?;
            }
            self.store.set_meta(&mut w.tx, "incidents-backfilled", "1").await?;
            Ok(())
        }
        .await;
        w.finish(r).await
    }

    fn compile_calendar(&self, name: &str, text: &str) -> Result<String, EngineError> {
        let (def, diags) = crate::validate::validate_calendar(&SourceFile::new(name, text), &self.limits);
        if diags.iter().any(Diagnostic::is_error) {
            return Err(EngineError::Invalid(diags));
        }
        let def = def.ok_or(EngineError::Invalid(diags))?;
        let cal = WorkCalendar::from_def(&def).map_err(|e| EngineError::Calendar(e.to_string()))?;
        let id = def.id.value.clone();
        self.catalog_mut().calendars.insert(id.clone(), Arc::new(cal));
        Ok(id)
    }

    /// Compiles a stored definition and adds it to the catalog.
    fn install_row(&self, d: DefinitionRow) -> Result<Arc<Deployment>, EngineError> {
        let unloadable = |why: String| EngineError::Unloadable(d.process.clone(), d.version, why);
        let report = crate::validate::validate_source(
            SourceFile::new(&d.name, d.source.as_str()),
            &CompileContext::default(),
            &self.limits,
        );
        let Some(p) = report.process else {
            let first = report
                .diagnostics
                .iter()
                .find(|x| x.is_error())
                .map_or_else(|| "it does not validate".to_owned(), |x| x.message.clone());
            return Err(unloadable(first));
        };
        let dep = self.make_deployment(p, d.hash).map_err(|e| unloadable(e.to_string()))?;
        Ok(self.adopt(Arc::new(dep)))
    }

    /// A deployment of a compiled process, not yet in the catalog.
    fn make_deployment(&self, process: Process, hash: String) -> Result<Deployment, EngineError> {
        let calendar = match &process.calendar {
            Some(n) => self
                .catalog()
                .calendars
                .get(n)
                .cloned()
                .ok_or_else(|| EngineError::Calendar(format!("no calendar `{n}` is registered")))?,
            None => Arc::new(WorkCalendar::always()),
        };
        let key = DefinitionKey {
            process: process.id.0.clone(),
            version: process.version,
            hash,
        };
        Ok(Deployment {
            key,
            process: Arc::new(process),
            calendar,
        })
    }

    /// Adds a stored deployment to the catalog (the one already there wins).
    fn adopt(&self, d: Arc<Deployment>) -> Arc<Deployment> {
        let mut c = self.catalog_mut();
        if let Some(old) = c.get(&d.key.process, d.key.version) {
            return old;
        }
        let ix = c.deployments.len();
        c.by_key.insert((d.key.process.clone(), d.key.version), ix);
        c.deployments.push(d.clone());
        d
    }

    /// A deployment, from the catalog or else from the store inside `tx`
    /// (another node may have deployed it: deployments never change, so
    /// loading one is always safe).
    async fn deployment(&self, tx: &mut Tx, process: &str, version: u32) -> Result<Arc<Deployment>, EngineError> {
        if let Some(d) = self.catalog().get(process, version) {
            return Ok(d);
        }
        let row = self
            .store
            .definition(tx, process, version)
            .await?
            .ok_or_else(|| EngineError::NoSuchProcess(process.to_owned()))?;
        for (name, source) in self.store.calendars_in(tx).await? {
            self.compile_calendar(&name, &source)?;
        }
        self.install_row(row)
    }

    /// The newest deployed version of a process, as the store has it.
    async fn latest(&self, tx: &mut Tx, process: &str) -> Result<Arc<Deployment>, EngineError> {
        let v = self
            .store
            .latest_version(tx, process)
            .await?
            .ok_or_else(|| EngineError::NoSuchProcess(process.to_owned()))?;
        self.deployment(tx, process, v).await
    }

    /// Registers a working calendar (a `calendars/*.yaml` file's text).
    pub async fn add_calendar(&self, name: &str, text: &str) -> Result<(), EngineError> {
        let id = self.compile_calendar(name, text)?;
        self.store.put_calendar(&id, text).await?;
        Ok(())
    }

    /// Registers every `*.yaml` calendar in a folder.
    pub async fn add_calendars_from(&self, dir: &std::path::Path) -> Result<usize, EngineError> {
        let mut n = 0;
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| EngineError::Calendar(format!("{}: {e}", dir.display())))?
            .flatten()
            .map(|e| e.path())
            .collect();
        paths.sort();
        for p in paths.iter().filter(|p| p.extension().is_some_and(|x| x == "yaml")) {
            let text =
                std::fs::read_to_string(p).map_err(|e| EngineError::Calendar(format!("{}: {e}", p.display())))?;
            self.add_calendar(&p.display().to_string(), &text).await?;
            n += 1;
        }
        Ok(n)
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
                    tracing::warn!(error = %e, attempt, "transient database fault; the unit of work runs again");
                    tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
                    attempt += 1;
                }
                Err(e @ EngineError::Store(_)) => {
                    tracing::error!(error = %e, "database fault");
                    return Err(e);
                }
                r => return r,
            }
        }
    }

    /// Deploys a definition. The same content twice is a no-op returning
    /// the same key; other content under a deployed (id, version) is refused.
    pub async fn deploy(&self, name: &str, text: &str) -> Result<DefinitionKey, EngineError> {
        let hash = hex(&sha2::Sha256::digest(text.as_bytes()));
        // Calendars other nodes registered count too.
        for (n, source) in self.store.calendars().await? {
            self.compile_calendar(&n, &source)?;
        }
        // Called processes may be deployed later, so they are not checked here.
        let calendars: Vec<String> = self.catalog().calendars.keys().cloned().collect();
        let ctx = CompileContext {
            calendars: Some(calendars),
            processes: None,
        };
        let report = crate::validate::validate_source(SourceFile::new(name, text), &ctx, &self.limits);
        let Some(process) = report.process else {
            return Err(EngineError::Invalid(report.diagnostics));
        };
        let (id, version) = (process.id.0.clone(), process.version);
        if let Some(d) = self.catalog().get(&id, version) {
            return if d.key.hash == hash {
                Ok(d.key.clone())
            } else {
                Err(EngineError::VersionConflict(id, version))
            };
        }
        let d = Arc::new(self.make_deployment(process, hash.clone())?);
        let row = DefinitionRow {
            process: id.clone(),
            version,
            hash: hash.clone(),
            name: name.to_owned(),
            source: text.to_owned(),
        };
        let key = self.retrying(|| self.deploy_once(&row, &d)).await?;
        // Only a stored deployment enters the catalog.
        if key.hash == hash {
            self.adopt(d);
        }
        Ok(key)
    }

    async fn deploy_once(&self, row: &DefinitionRow, d: &Arc<Deployment>) -> Result<DefinitionKey, EngineError> {
        let mut w = self.work().await?;
        let r = async {
            if !self.store.insert_definition(&mut w.tx, row, self.clock.now()).await? {
                let stored = self
                    .store
                    .definition(&mut w.tx, &row.process, row.version)
                    .await?
                    .ok_or_else(|| EngineError::NoSuchProcess(row.process.clone()))?;
                return if stored.hash == row.hash {
                    Ok(d.key.clone())
                } else {
                    Err(EngineError::VersionConflict(row.process.clone(), row.version))
                };
            }
            // The newest version takes over the process's recurring start.
            let newest = self.store.latest_version(&mut w.tx, &row.process).await?;
            if newest == Some(row.version) {
                match next_occurrence(d, self.clock.now(), 0) {
                    Some(first) => {
                        self.store
                            .put_schedule(&mut w.tx, &row.process, row.version, first, 0)
                            .await?
                    }
                    None => self.store.delete_schedule(&mut w.tx, &row.process).await?,
                }
            }
            Ok(d.key.clone())
        }
        .await;
        w.finish(r).await
    }

    /// The deployed definitions, oldest first.
    pub async fn definitions(&self) -> Result<Vec<DefinitionKey>, EngineError> {
        self.reload().await?;
        Ok(self.catalog().deployments.iter().map(|d| d.key.clone()).collect())
    }

    /// The latest version of a deployed process.
    pub async fn process(&self, id: &str) -> Result<Option<Arc<Process>>, EngineError> {
        self.reload().await?;
        let c = self.catalog();
        Ok(c.deployments
            .iter()
            .filter(|d| d.key.process == id)
            .max_by_key(|d| d.key.version)
            .map(|d| d.process.clone()))
    }

    async fn work(&self) -> Result<Work<'_>, EngineError> {
        let guard = match self.store.backend() {
            Backend::Sqlite => Some(self.writer.lock().await),
            Backend::Postgres => None,
        };
        Ok(Work {
            engine: self,
            tx: self.store.begin().await?,
            cases: HashMap::new(),
            order: Vec::new(),
            cascaded: HashSet::new(),
            _guard: guard,
        })
    }

    /// Starts a case of the latest version of `process`.
    pub async fn start(&self, process: &str, data: Data, by: Option<String>) -> Result<Started, EngineError> {
        self.start_as(&Actor::system(by), process, data).await
    }

    /// Starts a case of the latest version of `process` for `actor`, who
    /// must be granted the process. Engine-owned data is refused.
    pub async fn start_as(&self, actor: &Actor, process: &str, data: Data) -> Result<Started, EngineError> {
        refuse_engine_owned(&data)?;
        if !actor.may_start(process) {
            return Err(EngineError::Forbidden(format!(
                "you are not granted process `{process}`"
            )));
        }
        let now = self.clock.now();
        self.retrying(|| async {
            let mut w = self.work().await?;
            let r = async {
                let d = self.latest(&mut w.tx, process).await?;
                let id = w.start_case(&d, data.clone(), actor.user.clone(), None, 0, now).await?;
                w.settle(id, 0, now).await?;
                let code = w
                    .cases
                    .get(&(id.0 as i64))
                    .map(|c| c.row.tracking_code.clone())
                    .unwrap_or_default();
                Ok(Started {
                    case: id,
                    tracking_code: code,
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
        match &cmd {
            Command::Complete { outputs: d, .. } => refuse_engine_owned(d)?,
            Command::SetData { values: d, .. } | Command::Resolve { values: d, .. } => refuse_engine_owned(d)?,
            _ => {}
        }
        let now = self.clock.now();
        self.retrying(|| async {
            let mut w = self.work().await?;
            let r = async {
                w.load(case).await?;
                w.check(actor, case, &cmd)?;
                let from = w.command(case, cmd.clone(), now).await?;
                w.settle(case, from, now).await
            }
            .await;
            w.finish(r).await
        })
        .await
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

    /// Fires every timer due at or before `now`, and starts the recurring
    /// cases whose instant has come, earliest first, each at its own
    /// instant. Returns how many fired or started. Engines sharing one
    /// PostgreSQL database each claim different timers: every timer fires
    /// exactly once. A timer whose case this node cannot load is left in
    /// place (and logged) for a node that can.
    pub async fn tick(&self, now: Timestamp) -> Result<usize, EngineError> {
        let mut fired = 0;
        let mut skip_cases: Vec<i64> = Vec::new();
        let mut skip_processes: Vec<String> = Vec::new();
        let mut idle_rounds = 0;
        while fired < MAX_FIRED_PER_TICK && idle_rounds < 10 && skip_cases.len() + skip_processes.len() < MAX_SKIPPED {
            let round = self
                .retrying(|| self.tick_once(now, &skip_cases, &skip_processes))
                .await?;
            match round {
                Round::Idle => break,
                Round::Fired {
                    n,
                    skip_cases: c,
                    skip_processes: p,
                } => {
                    idle_rounds = if n == 0 { idle_rounds + 1 } else { 0 };
                    fired += n;
                    skip_cases.extend(c);
                    skip_processes.extend(p);
                }
            }
        }
        Ok(fired)
    }

    async fn tick_once(
        &self,
        now: Timestamp,
        skip_cases: &[i64],
        skip_processes: &[String],
    ) -> Result<Round, EngineError> {
        let mut w = self.work().await?;
        let r = w.tick_round(now, skip_cases, skip_processes).await;
        w.finish(r).await
    }

    /// The earliest pending timer of any case, or recurring start.
    pub async fn next_due(&self) -> Result<Option<Timestamp>, EngineError> {
        Ok(self.store.next_due().await?)
    }

    /// The next recurring start of a process, if it has a schedule.
    pub async fn next_start(&self, process: &str) -> Result<Option<Timestamp>, EngineError> {
        Ok(self.store.schedule_of(process).await?)
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

    /// Open tasks that `actor` may work (an auditor: every one).
    pub async fn open_tasks_as(&self, actor: &Actor) -> Result<Vec<(CaseId, runtime::TaskView)>, EngineError> {
        let mut out = Vec::new();
        let mut missing = false;
        for row in self.store.open_cases().await? {
            if !actor.may_read(&row.process) {
                continue;
            }
            let cached = self.catalog().get(&row.process, row.version);
            let d = match cached {
                Some(d) => d,
                None if !missing => {
                    missing = true;
                    self.reload().await?;
                    let found = self.catalog().get(&row.process, row.version);
                    match found {
                        Some(d) => d,
                        None => continue,
                    }
                }
                None => continue,
            };
            let view = CaseView::of(&d.process, &d.calendar, &row.state);
            out.extend(
                view.tasks
                    .into_iter()
                    .filter(|t| actor.grants == Grants::ReadAll || actor.may_work(&row.process, t.role.as_deref()))
                    .map(|t| (CaseId(row.id as u64), t)),
            );
        }
        Ok(out)
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

/// Commits a transaction when `r` is a success, rolls it back otherwise.
async fn finish<T>(tx: Tx, r: Result<T, EngineError>) -> Result<T, EngineError> {
    match r {
        Ok(v) => {
            tx.commit().await?;
            Ok(v)
        }
        Err(e) => {
            if let Err(re) = tx.rollback().await {
                tracing::error!(error = %re, "rollback failed; the connection was closed");
            }
            Err(e)
        }
    }
}

/// Refuses data a client may not write.
fn refuse_engine_owned(data: &Data) -> Result<(), EngineError> {
    match data.keys().find(|k| ENGINE_OWNED.contains(&k.as_str())) {
        Some(k) => Err(EngineError::BadInput(format!(
            "`{k}` is set by the engine and cannot be written"
        ))),
        None => Ok(()),
    }
}

/// A case's open incidents as (token, step id, message).
fn incident_rows(p: &Process, st: &Instance) -> Vec<(TokenId, String, String)> {
    st.incidents
        .iter()
        .map(|(token, message)| {
            let step = st
                .token(*token)
                .and_then(|t| p.steps.get(t.step.ix()))
                .map_or_else(|| "-".to_owned(), |s| s.id.clone());
            (*token, step, message.clone())
        })
        .collect()
}

/// A case loaded into a unit of work.
struct Loaded {
    row: crate::store::CaseRow,
    deployment: Arc<Deployment>,
    /// Events produced in this unit of work, not yet written.
    new: Vec<Event>,
    /// Its rows disagreed with its state: rewrite them from the state.
    resync: bool,
}

/// One transaction: the cases it touched, written back at commit.
struct Work<'a> {
    engine: &'a Engine,
    tx: Tx,
    cases: HashMap<i64, Loaded>,
    order: Vec<i64>,
    /// Children cancelled because their parent withdrew them: they do not
    /// report back.
    cascaded: HashSet<i64>,
    _guard: Option<tokio::sync::MutexGuard<'a, ()>>,
}

impl Work<'_> {
    /// Loads a case under its row lock (once per unit of work), with its
    /// deployment (loaded from the store if this node has not seen it).
    async fn load(&mut self, id: CaseId) -> Result<(), EngineError> {
        let key = id.0 as i64;
        if self.cases.contains_key(&key) {
            return Ok(());
        }
        let store = self.engine.store.clone();
        let row = store
            .lock_case(&mut self.tx, key)
            .await?
            .ok_or(EngineError::NoSuchCase(id))?;
        let deployment = self.engine.deployment(&mut self.tx, &row.process, row.version).await?;
        self.cases.insert(
            key,
            Loaded {
                row,
                deployment,
                new: Vec::new(),
                resync: false,
            },
        );
        self.order.push(key);
        Ok(())
    }

    /// Checks `actor`'s grants for `cmd` against the loaded case.
    /// The locked case, if `actor` may see its process at all.
    fn granted(&self, actor: &Actor, case: CaseId) -> Result<&Loaded, EngineError> {
        let c = self.cases.get(&(case.0 as i64)).ok_or(EngineError::NoSuchCase(case))?;
        let process = &c.row.process;
        if !actor.may_read(process) {
            return Err(EngineError::Forbidden(format!(
                "case {case} belongs to process `{process}`, which you are not granted"
            )));
        }
        Ok(c)
    }

    /// Whether `actor` may send a message to the locked case.
    fn check_message(&self, actor: &Actor, case: CaseId) -> Result<(), EngineError> {
        let process = &self.granted(actor, case)?.row.process;
        if actor.may_start(process) {
            Ok(())
        } else {
            Err(EngineError::Forbidden(format!(
                "you may not send messages to cases of `{process}`"
            )))
        }
    }

    fn check(&self, actor: &Actor, case: CaseId, cmd: &Command) -> Result<(), EngineError> {
        let c = self.granted(actor, case)?;
        let process = &c.row.process;
        let forbid = |what: String| Err(EngineError::Forbidden(what));
        match cmd {
            Command::Claim { task, .. } | Command::Complete { task, .. } | Command::Assign { task, .. } => {
                // A task that is not open is the runtime's to refuse.
                let Some(t) = c.row.state.task(*task) else {
                    return Ok(());
                };
                let role = t
                    .role
                    .and_then(|r| c.deployment.process.roles.get(r.ix()))
                    .map(|r| r.id.as_str());
                if matches!(cmd, Command::Assign { .. }) && !actor.may_manage() {
                    return forbid("only an administrator assigns tasks to others".into());
                }
                if actor.may_work(process, role) {
                    Ok(())
                } else {
                    match role {
                        Some(r) => forbid(format!("task {task} is on the list of `{process}/{r}`, not yours")),
                        None => forbid(format!("task {task} has no performer; only `{process}/*` may work it")),
                    }
                }
            }
            Command::SetData { .. }
            | Command::Resolve { .. }
            | Command::Suspend { .. }
            | Command::Resume { .. }
            | Command::Cancel { .. } => {
                if actor.may_manage() {
                    Ok(())
                } else {
                    forbid("only an administrator may do this".into())
                }
            }
        }
    }

    async fn start_case(
        &mut self,
        d: &Arc<Deployment>,
        mut data: Data,
        by: Option<String>,
        parent: Option<(CaseId, TokenId)>,
        depth: u32,
        now: Timestamp,
    ) -> Result<CaseId, EngineError> {
        // A code already taken is drawn again: an engine restarted with the
        // same seed walks the codes its earlier run gave out.
        let mut code = String::new();
        for _ in 0..MAX_CODE_DRAWS {
            code = {
                let mut rng = self.engine.rng.lock().unwrap_or_else(|e| e.into_inner());
                tracking_code(&mut rng)
            };
            if !self.engine.store.code_taken(&mut self.tx, &code).await? {
                break;
            }
        }
        // A process that declares `tracking_code` gets the case's code in its
        // data (messages from outside correlate on it).
        if d.process
            .variable("tracking_code")
            .is_some_and(|v| v.ty == crate::model::VarType::String)
        {
            data.insert("tracking_code".to_owned(), serde_json::Value::String(code.clone()));
        }
        let mut events = Vec::new();
        let state = runtime::start(&d.process, &d.calendar, data, by, now, &mut events)?;
        let parent_row = parent.map(|(c, t)| (c.0 as i64, t));
        let store = self.engine.store.clone();
        let new = crate::store::NewCase {
            process: &d.key.process,
            version: d.key.version,
            tracking_code: &code,
            parent: parent_row,
            depth,
        };
        let id = store.insert_case(&mut self.tx, &new, &state, now).await?;
        let row = crate::store::CaseRow {
            id,
            process: d.key.process.clone(),
            version: d.key.version,
            tracking_code: code,
            parent: parent_row,
            depth,
            state,
        };
        self.cases.insert(
            id,
            Loaded {
                row,
                deployment: d.clone(),
                new: events,
                resync: false,
            },
        );
        self.order.push(id);
        Ok(CaseId(id as u64))
    }

    /// Applies a command; returns where its events begin among the case's
    /// new events.
    async fn command(&mut self, id: CaseId, cmd: impl Into<Input>, now: Timestamp) -> Result<usize, EngineError> {
        self.load(id).await?;
        let c = self.cases.get_mut(&(id.0 as i64)).ok_or(EngineError::NoSuchCase(id))?;
        let from = c.new.len();
        runtime::handle(
            &c.deployment.process,
            &c.deployment.calendar,
            &mut c.row.state,
            cmd,
            now,
            &mut c.new,
        )?;
        Ok(from)
    }

    /// Starts the child a parent's token asked for; `Ok(Err(reason))` when it
    /// cannot be started (the parent then gets an incident).
    async fn start_child(
        &mut self,
        parent: CaseId,
        token: TokenId,
        process: &str,
        depth: u32,
        data: &Data,
        now: Timestamp,
    ) -> Result<Result<CaseId, String>, EngineError> {
        if depth >= MAX_CHILD_DEPTH {
            return Ok(Err(format!(
                "calls nested deeper than {MAX_CHILD_DEPTH}: process `{process}` is not started"
            )));
        }
        let d = match self.engine.latest(&mut self.tx, process).await {
            Ok(d) => d,
            Err(EngineError::NoSuchProcess(_)) => {
                return Ok(Err(format!(
                    "process `{process}` is not deployed; deploy it and resolve the incident"
                )))
            }
            Err(e @ EngineError::Unloadable(..)) => return Ok(Err(e.to_string())),
            Err(e) => return Err(e),
        };
        let input = child_data(&d.process, data);
        match self
            .start_case(&d, input, None, Some((parent, token)), depth + 1, now)
            .await
        {
            Ok(child) => Ok(Ok(child)),
            Err(EngineError::Command(e)) => Ok(Err(format!("the called case of `{process}` was refused: {e}"))),
            Err(e) => Err(e),
        }
    }

    /// After a case changed (its new events from `from` on): start the
    /// children it asked for, cancel the children it withdrew, and tell its
    /// parent when it finished.
    async fn settle(&mut self, id: CaseId, from: usize, now: Timestamp) -> Result<(), EngineError> {
        let mut queue = vec![(id, from)];
        while let Some((id, from)) = queue.pop() {
            let Some(c) = self.cases.get(&(id.0 as i64)) else {
                continue;
            };
            let mut requested: Vec<(TokenId, String)> = Vec::new();
            let mut withdrawn: Vec<TokenId> = Vec::new();
            for e in &c.new[from.min(c.new.len())..] {
                match &e.kind {
                    EventKind::ChildRequested { token, process, .. } => requested.push((*token, process.clone())),
                    EventKind::ChildWithdrawn { token } => withdrawn.push(*token),
                    _ => {}
                }
            }
            let st = &c.row.state;
            let (status, outcome, data) = (st.status, st.outcome.clone(), st.data.clone());
            let (parent, depth) = (c.row.parent, c.row.depth);
            for (token, process) in requested {
                match self.start_child(id, token, &process, depth, &data, now).await? {
                    Ok(child) => queue.push((child, 0)),
                    Err(reason) => {
                        tracing::warn!(case = id.0, %reason, "a subprocess step's child was not started");
                        let f = self
                            .command(id, Internal::ChildNotStarted { token, reason }, now)
                            .await?;
                        queue.push((id, f));
                    }
                }
            }
            for token in withdrawn {
                let child = self.engine.store.child_of(&mut self.tx, id.0 as i64, token).await?;
                let Some(child) = child else { continue };
                let child = CaseId(child as u64);
                self.load(child).await?;
                let cancel = Command::Cancel {
                    by: None,
                    reason: Some(format!("withdrawn by its parent case {id}")),
                };
                match self.command(child, cancel, now).await {
                    Ok(f) => {
                        self.cascaded.insert(child.0 as i64);
                        queue.push((child, f));
                    }
                    Err(EngineError::Command(CommandError::NotRunning(_))) => {}
                    Err(e) => return Err(e),
                }
            }
            if status.is_finished() && !self.cascaded.contains(&(id.0 as i64)) {
                if let Some((pid, token)) = parent {
                    let pid = CaseId(pid as u64);
                    let cmd = Internal::ChildFinished {
                        token,
                        outcome,
                        data,
                        cancelled: status == Status::Cancelled,
                    };
                    match self.command(pid, cmd, now).await {
                        Ok(f) => queue.push((pid, f)),
                        // The parent no longer waits for it (it finished, or
                        // its token moved on): nothing to tell, but say so.
                        Err(EngineError::Command(e @ (CommandError::NotRunning(_) | CommandError::NoSuchChild(_)))) => {
                            tracing::warn!(case = id.0, parent = pid.0, error = %e, "a finished child case's parent no longer waits for it");
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        Ok(())
    }

    /// One round of `tick`: a recurring start or a batch of due timers.
    async fn tick_round(
        &mut self,
        now: Timestamp,
        skip_cases: &[i64],
        skip_processes: &[String],
    ) -> Result<Round, EngineError> {
        let store = self.engine.store.clone();
        let claimed = store
            .claim_due_timers(&mut self.tx, now, TICK_BATCH, skip_cases)
            .await?;
        let schedule = store.claim_due_schedule(&mut self.tx, now, skip_processes).await?;
        // A recurring start before the first claimed timer goes first.
        if let Some(s) = schedule.filter(|s| claimed.first().is_none_or(|t| s.due <= t.2)) {
            let d = match self.engine.deployment(&mut self.tx, &s.process, s.version).await {
                Ok(d) => d,
                Err(e @ (EngineError::Unloadable(..) | EngineError::NoSuchProcess(_))) => {
                    tracing::error!(process = %s.process, version = s.version, error = %e, "a recurring start is left for a node that can load its process");
                    return Ok(Round::Fired {
                        n: 0,
                        skip_cases: Vec::new(),
                        skip_processes: vec![s.process],
                    });
                }
                Err(e) => return Err(e),
            };
            match next_occurrence(&d, s.due.plus_seconds(1), s.n + 1) {
                Some(next) => {
                    store
                        .put_schedule(&mut self.tx, &s.process, s.version, next, s.n + 1)
                        .await?
                }
                None => store.delete_schedule(&mut self.tx, &s.process).await?,
            }
            match self
                .start_case(&d, Data::new(), Some("schedule".into()), None, 0, s.due)
                .await
            {
                Ok(id) => self.settle(id, 0, s.due).await?,
                // The definition cannot start a case without data: this
                // occurrence is skipped, and said so.
                Err(EngineError::Command(e)) => {
                    tracing::error!(process = %s.process, error = %e, "a recurring start was refused by its process");
                }
                Err(e) => return Err(e),
            }
            return Ok(Round::Fired {
                n: 1,
                skip_cases: Vec::new(),
                skip_processes: Vec::new(),
            });
        }
        if claimed.is_empty() {
            return Ok(Round::Idle);
        }
        // Lock the cases in id order first, so engines sharing a database
        // cannot deadlock on each other; then fire in time order.
        let mut by_case: Vec<i64> = claimed.iter().map(|c| c.0).collect();
        by_case.sort();
        by_case.dedup();
        let mut skip = Vec::new();
        for case in by_case {
            match self.load(CaseId(case as u64)).await {
                Ok(()) => {}
                Err(e @ (EngineError::NoSuchCase(_) | EngineError::NoSuchProcess(_) | EngineError::Unloadable(..))) => {
                    tracing::error!(case, error = %e, "timers of a case this node cannot load are left for a node that can");
                    skip.push(case);
                }
                Err(e) => return Err(e),
            }
        }
        let mut fired = 0;
        for (i, &(case, timer, due)) in claimed.iter().enumerate() {
            if skip.contains(&case) {
                continue;
            }
            let id = CaseId(case as u64);
            match self.command(id, Internal::FireTimer { timer }, due).await {
                Ok(from) => {
                    self.settle(id, from, due).await?;
                    fired += 1;
                }
                // The row disagrees with the case (the timer is gone, paused
                // or moved): the case's rows are written again from its state.
                Err(EngineError::Command(e)) => {
                    tracing::warn!(case, timer = timer.0, error = %e, "a timer row disagreed with its case; rows rewritten from the state");
                    if let Some(c) = self.cases.get_mut(&case) {
                        c.resync = true;
                    }
                }
                Err(e) => return Err(e),
            }
            // A firing that made a timer due before the next claimed one
            // ends the batch: the next round claims in time order again.
            let next = claimed.get(i + 1).map(|c| c.2);
            let earlier = self
                .cases
                .values()
                .filter_map(|c| c.row.state.next_due())
                .filter(|d| *d <= now)
                .min();
            if let (Some(e), Some(n)) = (earlier, next) {
                if e < n {
                    break;
                }
            }
        }
        Ok(Round::Fired {
            n: fired,
            skip_cases: skip,
            skip_processes: Vec::new(),
        })
    }

    /// Writes every touched case and commits (the acknowledgement point)
    /// when `r` is a success; rolls everything back otherwise.
    async fn finish<T>(mut self, r: Result<T, EngineError>) -> Result<T, EngineError> {
        if r.is_ok() {
            if let Err(e) = self.write().await {
                return finish(self.tx, Err(e)).await;
            }
        }
        finish(self.tx, r).await
    }

    async fn write(&mut self) -> Result<(), EngineError> {
        let store = self.engine.store.clone();
        let now = self.engine.clock.now();
        for id in &self.order {
            let Some(c) = self.cases.get(id) else { continue };
            if c.new.is_empty() && !c.resync {
                continue;
            }
            let touched = c.resync
                || !c.row.state.incidents.is_empty()
                || c.new
                    .iter()
                    .any(|e| matches!(e.kind, EventKind::Incident { .. } | EventKind::IncidentResolved { .. }));
            let rows = touched.then(|| incident_rows(&c.deployment.process, &c.row.state));
            let cal = &c.deployment.calendar;
            if let Some(due) = c
                .row
                .state
                .timers
                .iter()
                .filter_map(|t| t.due)
                .find(|d| !cal.covers(*d))
            {
                let mut warned = self.engine.warned.lock().unwrap_or_else(|e| e.into_inner());
                if warned.insert(cal.name.clone()) {
                    tracing::warn!(
                        calendar = %cal.name,
                        case = *id,
                        due = %cal.show(due),
                        "a timer falls outside the years the calendar's holiday lists cover; lunar holidays there count as working days"
                    );
                }
            }
            store
                .save_case(&mut self.tx, *id, &c.row.state, &c.new, now, rows.as_deref())
                .await?;
        }
        Ok(())
    }
}

/// The first occurrence (number `n` from 0) of a deployment's recurring
/// start at or after `from`.
fn next_occurrence(d: &Deployment, from: Timestamp, n: u32) -> Option<Timestamp> {
    let start = d.process.step(d.process.start);
    d.calendar.next_occurrence(start.schedule.as_ref()?, from, n)
}

/// The parent's data that the child declares (but what the engine owns:
/// the child gets its own tracking code).
fn child_data(child: &Process, parent: &Data) -> Data {
    parent
        .iter()
        .filter(|(k, _)| child.variable(k).is_some() && !ENGINE_OWNED.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A tracking code: 10 characters from an alphabet without look-alikes
/// (50 bits).
fn tracking_code(rng: &mut rand::rngs::StdRng) -> String {
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    (0..10)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
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
