//! The engine an embedder calls: deploy definitions, start cases, work their
//! tasks, deliver messages, fire due timers, and read status and history.
//!
//! Owns: the versioned definitions, the cases and their histories (in memory
//! for now, behind a narrow storage interface the database store will take
//! over), the indexes of due timers and open subscriptions, tracking codes,
//! and calling child cases for subprocess steps.
//!
//! Must not: decide process semantics (that is `runtime`) or read the clock
//! anywhere but through its [`Clock`].

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use rand::{Rng, SeedableRng};
use serde::Serialize;
use sha2::Digest;

use crate::definition::{Limits, SourceFile};
use crate::diagnostic::Diagnostic;
use crate::model::{CompileContext, Process};
use crate::runtime::{self, CaseView, Command, CommandError, Data, Event, EventKind, Instance, LocalId};
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
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
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
}

struct Deployment {
    key: DefinitionKey,
    process: Arc<Process>,
    calendar: Arc<WorkCalendar>,
}

struct Case {
    deployment: usize,
    state: Instance,
    history: Vec<Event>,
    tracking_code: String,
    /// The parent case and its token waiting at a subprocess step.
    parent: Option<(CaseId, LocalId)>,
    /// The timer entries of this case in the due index.
    indexed: Vec<(Timestamp, LocalId)>,
}

struct Inner {
    calendars: HashMap<String, Arc<WorkCalendar>>,
    deployments: Vec<Deployment>,
    latest: HashMap<String, usize>,
    cases: HashMap<CaseId, Case>,
    by_code: HashMap<String, CaseId>,
    due: BTreeSet<(Timestamp, CaseId, LocalId)>,
    /// Recurring starts: (instant, deployment, occurrence number from 0).
    schedules: BTreeSet<(Timestamp, usize, u32)>,
    next_case: u64,
    rng: rand::rngs::StdRng,
}

/// The engine. Cheap to share behind an `Arc`; every method takes `&self`.
pub struct Engine {
    inner: Mutex<Inner>,
    clock: Arc<dyn Clock>,
    limits: Limits,
}

/// The most timers one `tick` fires, so a flood cannot stall a caller.
const MAX_FIRED_PER_TICK: usize = 1_000_000;
/// The deepest chain of subprocess calls.
const MAX_CHILD_DEPTH: usize = 32;

impl Engine {
    /// An engine with the given clock; tracking codes from `seed`.
    pub fn new(clock: Arc<dyn Clock>, seed: u64) -> Engine {
        Engine {
            inner: Mutex::new(Inner {
                calendars: HashMap::new(),
                deployments: Vec::new(),
                latest: HashMap::new(),
                cases: HashMap::new(),
                by_code: HashMap::new(),
                due: BTreeSet::new(),
                schedules: BTreeSet::new(),
                next_case: 1,
                rng: rand::rngs::StdRng::seed_from_u64(seed),
            }),
            clock,
            limits: Limits::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock is a bug; the data is still whole
        // (every change is applied event by event), so go on with it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Registers a working calendar (a `calendars/*.yaml` file's text).
    pub async fn add_calendar(&self, name: &str, text: &str) -> Result<(), EngineError> {
        let (def, diags) = crate::validate::validate_calendar(&SourceFile::new(name, text), &self.limits);
        if diags.iter().any(Diagnostic::is_error) {
            return Err(EngineError::Invalid(diags));
        }
        let def = def.ok_or(EngineError::Invalid(diags))?;
        let cal = WorkCalendar::from_def(&def).map_err(|e| EngineError::Calendar(e.to_string()))?;
        self.lock().calendars.insert(def.id.value.clone(), Arc::new(cal));
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
        let mut g = self.lock();
        // Called processes may be deployed later, so they are not checked here.
        let ctx = CompileContext {
            calendars: Some(g.calendars.keys().cloned().collect()),
            processes: None,
        };
        let report = crate::validate::validate_source(SourceFile::new(name, text), &ctx, &self.limits);
        let Some(process) = report.process else {
            return Err(EngineError::Invalid(report.diagnostics));
        };
        if let Some(d) = g
            .deployments
            .iter()
            .find(|d| d.key.process == process.id.0 && d.key.version == process.version)
        {
            if d.key.hash == hash {
                return Ok(d.key.clone());
            }
            return Err(EngineError::VersionConflict(process.id.0.clone(), process.version));
        }
        let calendar = match &process.calendar {
            Some(c) => g
                .calendars
                .get(c)
                .cloned()
                .ok_or_else(|| EngineError::Calendar(format!("`{c}` is not registered")))?,
            None => Arc::new(WorkCalendar::always()),
        };
        let key = DefinitionKey {
            process: process.id.0.clone(),
            version: process.version,
            hash,
        };
        let ix = g.deployments.len();
        let newer = g
            .latest
            .get(&key.process)
            .is_none_or(|&i| g.deployments[i].key.version < key.version);
        g.deployments.push(Deployment {
            key: key.clone(),
            process: Arc::new(process),
            calendar,
        });
        if newer {
            // The newest version takes over the process's recurring start.
            if let Some(old) = g.latest.insert(key.process.clone(), ix) {
                g.schedules.retain(|s| s.1 != old);
            }
            let now = self.clock.now();
            if let Some(first) = next_occurrence(&g.deployments[ix], now, 0) {
                g.schedules.insert((first, ix, 0));
            }
        }
        Ok(key)
    }

    /// The deployed definitions, oldest first.
    pub async fn definitions(&self) -> Vec<DefinitionKey> {
        self.lock().deployments.iter().map(|d| d.key.clone()).collect()
    }

    /// The latest version of a deployed process.
    pub async fn process(&self, id: &str) -> Option<Arc<Process>> {
        let g = self.lock();
        g.latest.get(id).map(|&i| g.deployments[i].process.clone())
    }

    /// Starts a case of the latest version of `process`.
    pub async fn start(&self, process: &str, data: Data, by: Option<String>) -> Result<Started, EngineError> {
        let now = self.clock.now();
        let mut g = self.lock();
        let ix = *g
            .latest
            .get(process)
            .ok_or_else(|| EngineError::NoSuchProcess(process.to_owned()))?;
        let id = g.start_case(ix, data, by, None, now)?;
        g.settle(id, 0, now, 0);
        let tracking_code = g.cases.get(&id).map(|c| c.tracking_code.clone()).unwrap_or_default();
        Ok(Started {
            case: id,
            tracking_code,
        })
    }

    /// Applies a command to a case.
    pub async fn command(&self, case: CaseId, cmd: Command) -> Result<(), EngineError> {
        let now = self.clock.now();
        let mut g = self.lock();
        let from = g.command(case, cmd, now)?;
        g.settle(case, from, now, 0);
        Ok(())
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
        let mut g = self.lock();
        let mut found: Option<(CaseId, LocalId)> = None;
        let mut ids: Vec<&CaseId> = g.cases.keys().collect();
        ids.sort();
        'outer: for id in ids {
            let c = &g.cases[id];
            for s in &c.state.subscriptions {
                if s.message == name && (s.key.is_none() || s.key.as_deref() == key) {
                    found = Some((*id, s.id));
                    break 'outer;
                }
            }
        }
        let (case, sub) = found.ok_or_else(|| EngineError::NotCorrelated(name.to_owned()))?;
        let from = g.command(case, Command::Deliver { sub, data }, now)?;
        g.settle(case, from, now, 0);
        Ok(case)
    }

    /// Fires every timer due at or before `now`, and starts the recurring
    /// cases whose instant has come, earliest first. Returns how many fired
    /// or started.
    pub async fn tick(&self, now: Timestamp) -> usize {
        let mut g = self.lock();
        let mut fired = 0;
        while fired < MAX_FIRED_PER_TICK {
            let next_timer = g.due.iter().next().copied();
            let next_start = g.schedules.iter().next().copied();
            if let Some((at, ix, n)) = next_start.filter(|s| s.0 <= now && next_timer.is_none_or(|t| s.0 <= t.0)) {
                g.schedules.remove(&(at, ix, n));
                if let Some(next) = next_occurrence(&g.deployments[ix], at.plus_seconds(1), n + 1) {
                    g.schedules.insert((next, ix, n + 1));
                }
                if let Ok(id) = g.start_case(ix, Data::new(), Some("schedule".into()), None, at) {
                    g.settle(id, 0, at, 0);
                    fired += 1;
                }
                continue;
            }
            let Some((due, case, timer)) = next_timer else {
                break;
            };
            if due > now {
                break;
            }
            g.due.remove(&(due, case, timer));
            // Fire at the timer's own instant, so histories read true even
            // when the tick comes late.
            if let Ok(from) = g.command(case, Command::FireTimer { timer }, due) {
                fired += 1;
                g.settle(case, from, due, 0);
            }
        }
        fired
    }

    /// The earliest pending timer of any case, or recurring start.
    pub async fn next_due(&self) -> Option<Timestamp> {
        let g = self.lock();
        let t = g.due.iter().next().map(|d| d.0);
        let s = g.schedules.iter().next().map(|d| d.0);
        t.into_iter().chain(s).min()
    }

    /// The next recurring start of a process, if it has a schedule.
    pub async fn next_start(&self, process: &str) -> Option<Timestamp> {
        let g = self.lock();
        let ix = *g.latest.get(process)?;
        g.schedules.iter().find(|s| s.1 == ix).map(|s| s.0)
    }

    pub async fn status(&self, case: CaseId) -> Result<CaseView, EngineError> {
        let g = self.lock();
        let c = g.cases.get(&case).ok_or(EngineError::NoSuchCase(case))?;
        let d = &g.deployments[c.deployment];
        Ok(CaseView::of(&d.process, &d.calendar, &c.state))
    }

    /// The state of a case (for tests and tools).
    pub async fn instance(&self, case: CaseId) -> Result<Instance, EngineError> {
        let g = self.lock();
        g.cases
            .get(&case)
            .map(|c| c.state.clone())
            .ok_or(EngineError::NoSuchCase(case))
    }

    /// A case's full history.
    pub async fn history(&self, case: CaseId) -> Result<Vec<Event>, EngineError> {
        let g = self.lock();
        g.cases
            .get(&case)
            .map(|c| c.history.clone())
            .ok_or(EngineError::NoSuchCase(case))
    }

    /// A case's history as lines for people.
    pub async fn history_lines(&self, case: CaseId) -> Result<Vec<String>, EngineError> {
        let g = self.lock();
        let c = g.cases.get(&case).ok_or(EngineError::NoSuchCase(case))?;
        let d = &g.deployments[c.deployment];
        Ok(c.history
            .iter()
            .filter_map(|e| runtime::describe(&d.process, &d.calendar, e))
            .collect())
    }

    /// The case with this tracking code.
    pub async fn find_by_code(&self, code: &str) -> Option<CaseId> {
        self.lock().by_code.get(code).copied()
    }

    /// Cases, with their process and status.
    pub async fn cases(&self) -> Vec<(CaseId, String, runtime::Status)> {
        let g = self.lock();
        let mut v: Vec<_> = g
            .cases
            .iter()
            .map(|(id, c)| (*id, c.state.process.clone(), c.state.status))
            .collect();
        v.sort_by_key(|x| x.0);
        v
    }
}

impl Inner {
    fn start_case(
        &mut self,
        ix: usize,
        mut data: Data,
        by: Option<String>,
        parent: Option<(CaseId, LocalId)>,
        now: Timestamp,
    ) -> Result<CaseId, EngineError> {
        let code = loop {
            let c = tracking_code(&mut self.rng);
            if !self.by_code.contains_key(&c) {
                break c;
            }
        };
        let d = &self.deployments[ix];
        // A process that declares `tracking_code` gets the case's code in its
        // data (messages from outside correlate on it).
        if d.process
            .variable("tracking_code")
            .is_some_and(|v| v.ty == crate::model::VarType::String)
        {
            data.entry("tracking_code".to_owned())
                .or_insert_with(|| serde_json::Value::String(code.clone()));
        }
        let mut history = Vec::new();
        let state = runtime::start(&d.process, &d.calendar, data, by, now, &mut history)?;
        let id = CaseId(self.next_case);
        self.next_case += 1;
        self.by_code.insert(code.clone(), id);
        self.cases.insert(
            id,
            Case {
                deployment: ix,
                state,
                history,
                tracking_code: code,
                parent,
                indexed: Vec::new(),
            },
        );
        Ok(id)
    }

    /// Applies a command; returns where its events begin in the history.
    fn command(&mut self, id: CaseId, cmd: Command, now: Timestamp) -> Result<usize, EngineError> {
        let c = self.cases.get_mut(&id).ok_or(EngineError::NoSuchCase(id))?;
        let d = &self.deployments[c.deployment];
        let from = c.history.len();
        runtime::handle(&d.process, &d.calendar, &mut c.state, cmd, now, &mut c.history)?;
        Ok(from)
    }

    /// After a case changed (its events from `from` on are new): re-index
    /// its timers, start the children it asked for, and tell its parent when
    /// it finished.
    fn settle(&mut self, id: CaseId, from: usize, now: Timestamp, depth: usize) {
        let Some(c) = self.cases.get_mut(&id) else { return };
        for (t, timer) in c.indexed.drain(..) {
            self.due.remove(&(t, id, timer));
        }
        let entries: Vec<(Timestamp, LocalId)> =
            c.state.timers.iter().filter_map(|t| t.due.map(|d| (d, t.id))).collect();
        for &(t, timer) in &entries {
            self.due.insert((t, id, timer));
        }
        c.indexed = entries;
        let requested: Vec<(LocalId, String)> = c.history[from.min(c.history.len())..]
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::ChildRequested { token, process, .. } => Some((*token, process.clone())),
                _ => None,
            })
            .collect();
        let finished = c.state.status.is_finished();
        let (outcome, data, parent) = (c.state.outcome.clone(), c.state.data.clone(), c.parent);
        for (token, process) in requested {
            // A process not deployed (yet): the token waits at the step,
            // visible in the case's stage.
            let Some(&ix) = self.latest.get(&process) else { continue };
            if depth >= MAX_CHILD_DEPTH {
                continue;
            }
            let input = child_data(&self.deployments[ix].process, &data);
            if let Ok(child) = self.start_case(ix, input, None, Some((id, token)), now) {
                self.settle(child, 0, now, depth + 1);
            }
        }
        if finished {
            if let Some((pid, token)) = parent {
                if let Ok(pfrom) = self.command(pid, Command::ChildFinished { token, outcome, data }, now) {
                    self.settle(pid, pfrom, now, depth + 1);
                }
            }
        }
    }
}

/// The first occurrence (number `n` from 0) of a deployment's recurring
/// start at or after `from`.
fn next_occurrence(d: &Deployment, from: Timestamp, n: u32) -> Option<Timestamp> {
    let start = d.process.step(d.process.start);
    match start.schedule.as_ref()? {
        crate::model::Schedule::Cron(c) => {
            let tz = d.calendar.time_zone();
            let after = chrono::TimeZone::from_utc_datetime(&tz, &from.plus_seconds(-1).to_utc().naive_utc());
            c.after(&after).next().map(|t| Timestamp(t.timestamp()))
        }
        crate::model::Schedule::Repeat { count, start, period } => {
            let mut t = d.calendar.instant(*start);
            let mut k = 0u32;
            // Walk the repeats; a short period far in the past is skipped in bulk.
            if period.months == 0
                && period.working_days == 0
                && period.basis == crate::model::Basis::Calendar
                && period.seconds > 0
                && t < from
            {
                let skip = ((from.0 - t.0) as u64).div_ceil(period.seconds);
                k = u32::try_from(skip).ok()?;
                t = t.plus_seconds(i64::try_from(skip.checked_mul(period.seconds)?).ok()?);
            }
            for _ in 0..1_000_000 {
                if t >= from {
                    break;
                }
                t = d.calendar.add(t, period);
                k += 1;
            }
            let k = k.max(n);
            if count.is_some_and(|c| k >= c) || t < from {
                return None;
            }
            Some(t)
        }
    }
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
/// (about 49 bits).
fn tracking_code(rng: &mut rand::rngs::StdRng) -> String {
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    (0..10)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}
