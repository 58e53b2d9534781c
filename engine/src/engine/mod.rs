//! The engine an embedder calls: deploy definitions, start cases, work their
//! tasks, deliver messages, fire due timers and recurring starts, and read
//! status and history.
//!
//! Owns: the versioned definitions (compiled once, cached), units of work
//! (one database transaction per request: each case it touches is read under
//! its row lock, advanced by the runtime, and written back with its new
//! events, timers and subscriptions before the request is acknowledged),
//! message correlation, child cases for subprocess steps, and tracking codes.
//!
//! Must not: decide process semantics (that is `runtime`), write SQL (that is
//! `store`), or read the clock anywhere but through its [`Clock`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use rand::{Rng, SeedableRng};
use serde::Serialize;
use sha2::Digest;

use crate::definition::{Limits, SourceFile};
use crate::diagnostic::Diagnostic;
use crate::model::{CompileContext, Process};
use crate::runtime::{self, CaseView, Command, CommandError, Data, Event, EventKind, Instance, LocalId};
use crate::store::{Backend, DefinitionRow, Store, StoreError, Tx};
use crate::time::{Clock, Timestamp, WorkCalendar};

/// A deployed definition: (process id, version, content hash).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct DefinitionKey {
    pub process: String,
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
    pub case: CaseId,
    /// For the citizen: unguessable, shown on the SMS.
    pub tracking_code: String,
}

/// Why the engine refused a request. Nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("the definition is not valid")]
    Invalid(Vec<Diagnostic>),
    #[error("process `{0}` version {1} is already deployed with other content; raise `version`")]
    VersionConflict(String, u32),
    #[error("no deployed process `{0}`")]
    NoSuchProcess(String),
    #[error("no case {0}")]
    NoSuchCase(CaseId),
    #[error("no open subscription for message `{0}` with that key")]
    NotCorrelated(String),
    #[error("calendar: {0}")]
    Calendar(String),
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for EngineError {
    fn from(e: sqlx::Error) -> EngineError {
        EngineError::Store(StoreError::Db(e))
    }
}

/// A compiled, deployed definition.
pub struct Deployment {
    pub key: DefinitionKey,
    pub process: Arc<Process>,
    pub calendar: Arc<WorkCalendar>,
}

#[derive(Default)]
struct Catalog {
    calendars: HashMap<String, Arc<WorkCalendar>>,
    deployments: Vec<Arc<Deployment>>,
    by_key: HashMap<(String, u32), usize>,
    latest: HashMap<String, usize>,
}

impl Catalog {
    fn get(&self, process: &str, version: u32) -> Option<Arc<Deployment>> {
        self.by_key
            .get(&(process.to_owned(), version))
            .map(|&i| self.deployments[i].clone())
    }
    fn latest(&self, process: &str) -> Option<Arc<Deployment>> {
        self.latest.get(process).map(|&i| self.deployments[i].clone())
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
}

/// Timers claimed and fired in one transaction by `tick`.
const TICK_BATCH: i64 = 200;
/// The most timers one `tick` fires, so a flood cannot stall a caller.
const MAX_FIRED_PER_TICK: usize = 10_000_000;
/// The deepest chain of subprocess calls.
const MAX_CHILD_DEPTH: usize = 32;

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
        };
        e.reload().await?;
        Ok(e)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

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
    /// deployed since).
    async fn reload(&self) -> Result<(), EngineError> {
        for (name, source) in self.store.calendars().await? {
            self.compile_calendar(&name, &source)?;
        }
        for d in self.store.definitions().await? {
            if self.catalog().by_key.contains_key(&(d.process.clone(), d.version)) {
                continue;
            }
            let report = crate::validate::validate_source(
                SourceFile::new(&d.name, d.source.as_str()),
                &CompileContext::default(),
                &self.limits,
            );
            let Some(p) = report.process else { continue };
            self.install(p, d.hash);
        }
        Ok(())
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

    fn install(&self, process: Process, hash: String) -> Arc<Deployment> {
        let mut c = self.catalog_mut();
        let calendar = process
            .calendar
            .as_ref()
            .and_then(|n| c.calendars.get(n).cloned())
            .unwrap_or_else(|| Arc::new(WorkCalendar::always()));
        let key = DefinitionKey {
            process: process.id.0.clone(),
            version: process.version,
            hash,
        };
        let d = Arc::new(Deployment {
            key: key.clone(),
            process: Arc::new(process),
            calendar,
        });
        let ix = c.deployments.len();
        c.deployments.push(d.clone());
        c.by_key.insert((key.process.clone(), key.version), ix);
        let newer = c
            .latest
            .get(&key.process)
            .is_none_or(|&i| c.deployments[i].key.version < key.version);
        if newer {
            c.latest.insert(key.process.clone(), ix);
        }
        d
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
            .map_err(|e| EngineError::Calendar(e.to_string()))?
            .flatten()
            .map(|e| e.path())
            .collect();
        paths.sort();
        for p in paths.iter().filter(|p| p.extension().is_some_and(|x| x == "yaml")) {
            let text = std::fs::read_to_string(p).map_err(|e| EngineError::Calendar(e.to_string()))?;
            self.add_calendar(&p.display().to_string(), &text).await?;
            n += 1;
        }
        Ok(n)
    }

    /// Deploys a definition. The same content twice is a no-op returning
    /// the same key; other content under a deployed (id, version) is refused.
    pub async fn deploy(&self, name: &str, text: &str) -> Result<DefinitionKey, EngineError> {
        let hash = hex(&sha2::Sha256::digest(text.as_bytes()));
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
        self.reload().await?;
        if let Some(d) = self.catalog().get(&id, version) {
            return if d.key.hash == hash {
                Ok(d.key.clone())
            } else {
                Err(EngineError::VersionConflict(id, version))
            };
        }
        let row = DefinitionRow {
            process: id.clone(),
            version,
            hash: hash.clone(),
            name: name.to_owned(),
            source: text.to_owned(),
        };
        if !self.store.put_definition(&row, self.clock.now()).await? {
            // Another engine deployed this (id, version) just now.
            self.reload().await?;
            let d = self
                .catalog()
                .get(&id, version)
                .ok_or_else(|| EngineError::NoSuchProcess(id.clone()))?;
            return if d.key.hash == hash {
                Ok(d.key.clone())
            } else {
                Err(EngineError::VersionConflict(id, version))
            };
        }
        let d = self.install(process, hash);
        // The newest version takes over the process's recurring start.
        if self.catalog().latest(&id).is_some_and(|l| l.key.version == version) {
            let _w = self.writer.lock().await;
            let mut tx = self.store.begin().await?;
            match next_occurrence(&d, self.clock.now(), 0) {
                Some(first) => self.store.put_schedule(&mut tx, &id, version, first, 0).await?,
                None => self.store.delete_schedule(&mut tx, &id).await?,
            }
            tx.commit().await?;
        }
        Ok(d.key.clone())
    }

    /// The deployed definitions, oldest first.
    pub async fn definitions(&self) -> Vec<DefinitionKey> {
        let _ = self.reload().await;
        self.catalog().deployments.iter().map(|d| d.key.clone()).collect()
    }

    /// The latest version of a deployed process.
    pub async fn process(&self, id: &str) -> Option<Arc<Process>> {
        if self.catalog().latest(id).is_none() {
            let _ = self.reload().await;
        }
        self.catalog().latest(id).map(|d| d.process.clone())
    }

    async fn work(&self) -> Result<Work<'_>, EngineError> {
        let guard = match self.store.backend() {
            Backend::Sqlite => Some(self.writer.lock().await),
            Backend::Postgres => None,
        };
        Ok(Work {
            engine: self,
            tx: Some(self.store.begin().await?),
            cases: HashMap::new(),
            order: Vec::new(),
            _guard: guard,
        })
    }

    /// Starts a case of the latest version of `process`.
    pub async fn start(&self, process: &str, data: Data, by: Option<String>) -> Result<Started, EngineError> {
        let now = self.clock.now();
        let cached = self.catalog().latest(process);
        let d = match cached {
            Some(d) => d,
            None => {
                self.reload().await?;
                let found = self.catalog().latest(process);
                found.ok_or_else(|| EngineError::NoSuchProcess(process.to_owned()))?
            }
        };
        let mut w = self.work().await?;
        let id = w.start_case(&d, data, by, None, now).await?;
        w.settle(id, 0, now, 0).await?;
        let code = w
            .cases
            .get(&(id.0 as i64))
            .map(|c| c.row.tracking_code.clone())
            .unwrap_or_default();
        w.commit().await?;
        Ok(Started {
            case: id,
            tracking_code: code,
        })
    }

    /// Applies a command to a case.
    pub async fn command(&self, case: CaseId, cmd: Command) -> Result<(), EngineError> {
        let now = self.clock.now();
        let mut w = self.work().await?;
        let from = w.command(case, cmd, now).await?;
        w.settle(case, from, now, 0).await?;
        w.commit().await
    }

    pub async fn claim(&self, case: CaseId, task: LocalId, user: &str) -> Result<(), EngineError> {
        self.command(
            case,
            Command::Claim {
                task,
                user: user.to_owned(),
            },
        )
        .await
    }

    pub async fn complete(
        &self,
        case: CaseId,
        task: LocalId,
        by: Option<String>,
        outputs: Data,
    ) -> Result<(), EngineError> {
        self.command(case, Command::Complete { task, by, outputs }).await
    }

    /// Delivers a message to the oldest open subscription with this name and
    /// key (a subscription without a key takes any). Returns the case.
    pub async fn message(&self, name: &str, key: Option<&str>, data: Data) -> Result<CaseId, EngineError> {
        let now = self.clock.now();
        for _ in 0..3 {
            let (case, sub) = self
                .store
                .find_subscription(name, key)
                .await?
                .ok_or_else(|| EngineError::NotCorrelated(name.to_owned()))?;
            let case = CaseId(case as u64);
            let mut w = self.work().await?;
            match w
                .command(
                    case,
                    Command::Deliver {
                        sub,
                        data: data.clone(),
                    },
                    now,
                )
                .await
            {
                Ok(from) => {
                    w.settle(case, from, now, 0).await?;
                    w.commit().await?;
                    return Ok(case);
                }
                // Taken by someone else between the lookup and the lock.
                Err(EngineError::Command(CommandError::NoSuchSubscription(_))) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(EngineError::NotCorrelated(name.to_owned()))
    }

    /// Fires every timer due at or before `now`, and starts the recurring
    /// cases whose instant has come, earliest first, each at its own
    /// instant. Returns how many fired or started. Engines sharing one
    /// PostgreSQL database each claim different timers: every timer fires
    /// exactly once.
    pub async fn tick(&self, now: Timestamp) -> Result<usize, EngineError> {
        let mut fired = 0;
        while fired < MAX_FIRED_PER_TICK {
            let mut w = self.work().await?;
            let claimed = {
                let tx =
                    w.tx.as_mut()
                        .ok_or_else(|| EngineError::Calendar("transaction gone".into()))?;
                self.store.claim_due_timers(tx, now, TICK_BATCH).await?
            };
            let schedule = {
                let tx =
                    w.tx.as_mut()
                        .ok_or_else(|| EngineError::Calendar("transaction gone".into()))?;
                self.store.claim_due_schedule(tx, now).await?
            };
            // A recurring start before the first claimed timer goes first.
            if let Some(s) = schedule.filter(|s| claimed.first().is_none_or(|t| s.due <= t.2)) {
                let d = self.catalog().get(&s.process, s.version);
                if let Some(d) = d {
                    {
                        let tx =
                            w.tx.as_mut()
                                .ok_or_else(|| EngineError::Calendar("transaction gone".into()))?;
                        match next_occurrence(&d, s.due.plus_seconds(1), s.n + 1) {
                            Some(next) => {
                                self.store
                                    .put_schedule(tx, &s.process, s.version, next, s.n + 1)
                                    .await?
                            }
                            None => self.store.delete_schedule(tx, &s.process).await?,
                        }
                    }
                    if let Ok(id) = w
                        .start_case(&d, Data::new(), Some("schedule".into()), None, s.due)
                        .await
                    {
                        w.settle(id, 0, s.due, 0).await?;
                    }
                    fired += 1;
                } else {
                    let tx =
                        w.tx.as_mut()
                            .ok_or_else(|| EngineError::Calendar("transaction gone".into()))?;
                    self.store.delete_schedule(tx, &s.process).await?;
                }
                w.commit().await?;
                continue;
            }
            if claimed.is_empty() {
                break;
            }
            // Lock the cases in id order first, so engines sharing a
            // database cannot deadlock on each other; then fire in time order.
            let mut by_case: Vec<i64> = claimed.iter().map(|c| c.0).collect();
            by_case.sort();
            by_case.dedup();
            for case in by_case {
                match w.load(CaseId(case as u64)).await {
                    Ok(()) | Err(EngineError::NoSuchCase(_)) | Err(EngineError::NoSuchProcess(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            for (i, &(case, timer, due)) in claimed.iter().enumerate() {
                let id = CaseId(case as u64);
                match w.command(id, Command::FireTimer { timer }, due).await {
                    Ok(from) => {
                        w.settle(id, from, due, 0).await?;
                        fired += 1;
                    }
                    // Gone from the case (cancelled in the meantime): drop the row.
                    Err(EngineError::Command(_))
                    | Err(EngineError::NoSuchCase(_))
                    | Err(EngineError::NoSuchProcess(_)) => {
                        let tx = w.tx()?;
                        self.store.delete_timer(tx, case, timer).await?;
                    }
                    Err(e) => return Err(e),
                }
                // A firing that made a timer due before the next claimed one
                // ends the batch: the next round claims in time order again.
                let next = claimed.get(i + 1).map(|c| c.2);
                let earlier = w
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
            w.commit().await?;
        }
        Ok(fired)
    }

    /// The earliest pending timer of any case, or recurring start.
    pub async fn next_due(&self) -> Result<Option<Timestamp>, EngineError> {
        Ok(self.store.next_due().await?)
    }

    /// The next recurring start of a process, if it has a schedule.
    pub async fn next_start(&self, process: &str) -> Result<Option<Timestamp>, EngineError> {
        Ok(self.store.schedule_of(process).await?)
    }

    async fn read(&self, case: CaseId) -> Result<(crate::store::CaseRow, Arc<Deployment>), EngineError> {
        let row = self
            .store
            .case(case.0 as i64)
            .await?
            .ok_or(EngineError::NoSuchCase(case))?;
        let cached = self.catalog().get(&row.process, row.version);
        let d = match cached {
            Some(d) => d,
            None => {
                self.reload().await?;
                let found = self.catalog().get(&row.process, row.version);
                found.ok_or_else(|| EngineError::NoSuchProcess(row.process.clone()))?
            }
        };
        Ok((row, d))
    }

    pub async fn status(&self, case: CaseId) -> Result<CaseView, EngineError> {
        let (row, d) = self.read(case).await?;
        Ok(CaseView::of(&d.process, &d.calendar, &row.state))
    }

    /// The state of a case (for tests and tools).
    pub async fn instance(&self, case: CaseId) -> Result<Instance, EngineError> {
        Ok(self.read(case).await?.0.state)
    }

    /// The tracking code of a case.
    pub async fn tracking_code(&self, case: CaseId) -> Result<String, EngineError> {
        Ok(self.read(case).await?.0.tracking_code)
    }

    /// A case's full history.
    pub async fn history(&self, case: CaseId) -> Result<Vec<Event>, EngineError> {
        self.read(case).await?;
        Ok(self.store.history(case.0 as i64).await?)
    }

    /// A case's history as lines for people.
    pub async fn history_lines(&self, case: CaseId) -> Result<Vec<String>, EngineError> {
        let (_, d) = self.read(case).await?;
        let events = self.store.history(case.0 as i64).await?;
        Ok(events
            .iter()
            .filter_map(|e| runtime::describe(&d.process, &d.calendar, e))
            .collect())
    }

    /// The case with this tracking code.
    pub async fn find_by_code(&self, code: &str) -> Result<Option<CaseId>, EngineError> {
        Ok(self.store.find_by_code(code).await?.map(|i| CaseId(i as u64)))
    }

    /// Open tasks of every case not finished, with the case they belong to.
    pub async fn open_tasks(&self) -> Result<Vec<(CaseId, runtime::TaskView)>, EngineError> {
        let mut out = Vec::new();
        for row in self.store.open_cases().await? {
            let cached = self.catalog().get(&row.process, row.version);
            let Some(d) = cached else { continue };
            let view = CaseView::of(&d.process, &d.calendar, &row.state);
            out.extend(view.tasks.into_iter().map(|t| (CaseId(row.id as u64), t)));
        }
        Ok(out)
    }

    /// Cases, with their process and status.
    pub async fn cases(&self) -> Result<Vec<(CaseId, String, runtime::Status)>, EngineError> {
        let rows = self.store.cases().await?;
        Ok(rows
            .into_iter()
            .map(|(id, p, s)| {
                let status = match s.as_str() {
                    "suspended" => runtime::Status::Suspended,
                    "completed" => runtime::Status::Completed,
                    "terminated" => runtime::Status::Terminated,
                    "cancelled" => runtime::Status::Cancelled,
                    _ => runtime::Status::Running,
                };
                (CaseId(id as u64), p, status)
            })
            .collect())
    }
}

/// A case loaded into a unit of work.
struct Loaded {
    row: crate::store::CaseRow,
    deployment: Arc<Deployment>,
    /// Events produced in this unit of work, not yet written.
    new: Vec<Event>,
}

/// One transaction: the cases it touched, written back at commit.
struct Work<'a> {
    engine: &'a Engine,
    tx: Option<Tx>,
    cases: HashMap<i64, Loaded>,
    order: Vec<i64>,
    _guard: Option<tokio::sync::MutexGuard<'a, ()>>,
}

impl Work<'_> {
    fn tx(&mut self) -> Result<&mut Tx, EngineError> {
        self.tx
            .as_mut()
            .ok_or_else(|| EngineError::Calendar("transaction gone".into()))
    }

    /// Loads a case under its row lock (once per unit of work).
    async fn load(&mut self, id: CaseId) -> Result<(), EngineError> {
        let key = id.0 as i64;
        if self.cases.contains_key(&key) {
            return Ok(());
        }
        let store = self.engine.store.clone();
        let row = store
            .lock_case(self.tx()?, key)
            .await?
            .ok_or(EngineError::NoSuchCase(id))?;
        let deployment = match self.engine.catalog().get(&row.process, row.version) {
            Some(d) => d,
            None => return Err(EngineError::NoSuchProcess(row.process.clone())),
        };
        self.cases.insert(
            key,
            Loaded {
                row,
                deployment,
                new: Vec::new(),
            },
        );
        self.order.push(key);
        Ok(())
    }

    async fn start_case(
        &mut self,
        d: &Arc<Deployment>,
        mut data: Data,
        by: Option<String>,
        parent: Option<(CaseId, LocalId)>,
        now: Timestamp,
    ) -> Result<CaseId, EngineError> {
        let code = {
            let mut rng = self.engine.rng.lock().unwrap_or_else(|e| e.into_inner());
            tracking_code(&mut rng)
        };
        // A process that declares `tracking_code` gets the case's code in its
        // data (messages from outside correlate on it).
        if d.process
            .variable("tracking_code")
            .is_some_and(|v| v.ty == crate::model::VarType::String)
        {
            data.entry("tracking_code".to_owned())
                .or_insert_with(|| serde_json::Value::String(code.clone()));
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
        };
        let id = store.insert_case(self.tx()?, &new, &state, now).await?;
        let row = crate::store::CaseRow {
            id,
            process: d.key.process.clone(),
            version: d.key.version,
            tracking_code: code,
            parent: parent_row,
            state,
        };
        self.cases.insert(
            id,
            Loaded {
                row,
                deployment: d.clone(),
                new: events,
            },
        );
        self.order.push(id);
        Ok(CaseId(id as u64))
    }

    /// Applies a command; returns where its events begin among the case's
    /// new events.
    async fn command(&mut self, id: CaseId, cmd: Command, now: Timestamp) -> Result<usize, EngineError> {
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

    /// After a case changed (its new events from `from` on): start the
    /// children it asked for, and tell its parent when it finished.
    async fn settle(&mut self, id: CaseId, from: usize, now: Timestamp, depth: usize) -> Result<(), EngineError> {
        let mut queue = vec![(id, from, depth)];
        while let Some((id, from, depth)) = queue.pop() {
            let Some(c) = self.cases.get(&(id.0 as i64)) else {
                continue;
            };
            let requested: Vec<(LocalId, String)> = c.new[from.min(c.new.len())..]
                .iter()
                .filter_map(|e| match &e.kind {
                    EventKind::ChildRequested { token, process, .. } => Some((*token, process.clone())),
                    _ => None,
                })
                .collect();
            let finished = c.row.state.status.is_finished();
            let (outcome, data, parent) = (c.row.state.outcome.clone(), c.row.state.data.clone(), c.row.parent);
            for (token, process) in requested {
                // A process not deployed (yet): the token waits at the step.
                let Some(d) = self.engine.catalog().latest(&process) else {
                    continue;
                };
                if depth >= MAX_CHILD_DEPTH {
                    continue;
                }
                let input = child_data(&d.process, &data);
                let child = self.start_case(&d, input, None, Some((id, token)), now).await?;
                queue.push((child, 0, depth + 1));
            }
            if finished {
                if let Some((pid, token)) = parent {
                    let pid = CaseId(pid as u64);
                    if let Ok(pfrom) = self
                        .command(pid, Command::ChildFinished { token, outcome, data }, now)
                        .await
                    {
                        queue.push((pid, pfrom, depth + 1));
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes every touched case and commits: the acknowledgement point.
    async fn commit(mut self) -> Result<(), EngineError> {
        let store = self.engine.store.clone();
        let mut tx = self
            .tx
            .take()
            .ok_or_else(|| EngineError::Calendar("transaction gone".into()))?;
        let now = self.engine.clock.now();
        for id in &self.order {
            if let Some(c) = self.cases.get(id) {
                if !c.new.is_empty() {
                    store.save_case(&mut tx, *id, &c.row.state, &c.new, now).await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

/// The first occurrence (number `n` from 0) of a deployment's recurring
/// start at or after `from`.
fn next_occurrence(d: &Deployment, from: Timestamp, n: u32) -> Option<Timestamp> {
    let start = d.process.step(d.process.start);
    start.schedule.as_ref()?.next(&d.calendar, from, n)
}

/// The parent's data that the child declares.
fn child_data(child: &Process, parent: &Data) -> Data {
    parent
        .iter()
        .filter(|(k, _)| child.variable(k).is_some())
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
