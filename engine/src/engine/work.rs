//! A unit of work: the cases one request touches, locked, changed through
//! the runtime, written back with their rows, committed or rolled back
//! whole.
//!
//! Owns: [`Work`] (load and lock, check the actor's grants against the
//! locked case, run commands, start and settle child cases, write), and the
//! engine-owned data of a new case (tracking code). Must not: commit a part
//! of a request; write SQL (that is the store's).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::*;

/// Commits a transaction when `r` is a success, rolls it back otherwise.
pub(super) async fn finish<T>(tx: Tx, r: Result<T, EngineError>) -> Result<T, EngineError> {
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
pub(super) fn refuse_engine_owned(data: &Data) -> Result<(), EngineError> {
    match data.keys().find(|k| ENGINE_OWNED.contains(&k.as_str())) {
        Some(k) => Err(EngineError::BadInput(format!(
            "`{k}` is set by the engine and cannot be written"
        ))),
        None => Ok(()),
    }
}

/// A case's open incidents as (token, step id, message).
pub(super) fn incident_rows(p: &Process, st: &Instance) -> Vec<(TokenId, String, String)> {
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

/// A case's rows beside its state, derived from it: its timers with a due
/// instant, its subscriptions, its open tasks and jobs, and its searchable
/// keys (the steps it is at, its `searchable` data).
pub(super) fn read_rows(id: i64, p: &Process, cal: &WorkCalendar, st: &Instance) -> ReadRows {
    let (jobs, people): (Vec<_>, Vec<_>) = st.tasks.iter().partition(|k| p.step(k.step).topic().is_some());
    let jobs = jobs
        .into_iter()
        .filter_map(|k| {
            let s = p.step(k.step);
            Some(NewJob {
                task: k.id,
                topic: s.topic()?.to_owned(),
                process: st.process.clone(),
                role: k.role.map(|r| p.role(r).id.clone()),
                step: s.id.clone(),
                created_at: k.created_at,
            })
        })
        .collect();
    let tasks = people
        .into_iter()
        .map(|k| {
            let s = p.step(k.step);
            let role = k.role.map(|r| p.role(r));
            TaskRow {
                case: id,
                task: k.id,
                process: st.process.clone(),
                version: st.version,
                step: s.id.clone(),
                title: s.title.clone(),
                role: role.map(|r| r.id.clone()),
                unit: role.and_then(|r| r.unit.clone()),
                assignee: k.assignee.clone(),
                created_at: k.created_at,
                due: k.due_at,
                due_text: k.due_at.map(|d| cal.show(d)),
                overdue: k.overdue,
                item: st.item_of(k).map(|x| x.to_string()),
            }
        })
        .collect();
    let mut keys: Vec<(String, String)> = Vec::new();
    if !st.status.is_finished() {
        for t in &st.tokens {
            let id = &p.step(t.step).id;
            if !keys.iter().any(|(_, v)| v == id) {
                keys.push(("stage".to_owned(), id.clone()));
            }
        }
    }
    for v in p.variables.iter().filter(|v| v.searchable) {
        if let Some(text) = st.data.get(&v.name).and_then(key_text) {
            keys.push((format!("data.{}", v.name), text));
        }
    }
    let timers = st
        .timers
        .iter()
        .filter_map(|t| Some((i64::from(t.id.0), t.due?.0)))
        .collect();
    let subs = st
        .subscriptions
        .iter()
        .map(|s| (i64::from(s.id.0), s.message.clone(), s.key.clone()))
        .collect();
    ReadRows {
        timers,
        subs,
        tasks,
        keys,
        jobs,
        process: st.process.clone(),
        span: (st.started_at.0, st.ended_at.map(|t| t.0)),
    }
}

/// A data value as a searchable key: a string as written, a number or a
/// boolean as JSON spells it; nothing for null, lists and objects.
pub(crate) fn key_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A case loaded into a unit of work.
pub(super) struct Loaded {
    pub(super) row: crate::store::CaseRow,
    pub(super) deployment: Arc<Deployment>,
    /// Events produced in this unit of work, not yet written.
    pub(super) new: Vec<Event>,
    /// Its rows disagreed with its state: rewrite them from the state.
    pub(super) resync: bool,
    /// Its read rows as stored (derived from the state as loaded), so that
    /// only what changed is written.
    pub(super) stored: ReadRows,
}

/// One transaction: the cases it touched, written back at commit.
pub(super) struct Work<'a> {
    pub(super) engine: &'a Engine,
    pub(super) tx: Tx,
    pub(super) cases: HashMap<i64, Loaded>,
    pub(super) order: Vec<i64>,
    /// Children cancelled because their parent withdrew them: they do not
    /// report back.
    pub(super) cascaded: HashSet<i64>,
    /// On SQLite, this unit's turn at the writer (its savepoint in a
    /// transaction other units may share; see `group`).
    pub(super) turn: Option<super::group::Turn>,
}

impl Work<'_> {
    /// Loads a case under its row lock (once per unit of work), with its
    /// deployment (loaded from the store if this node has not seen it).
    pub(super) async fn load(&mut self, id: CaseId) -> Result<(), EngineError> {
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
        let stored = read_rows(key, &deployment.process, &deployment.calendar, &row.state);
        self.cases.insert(
            key,
            Loaded {
                row,
                deployment,
                new: Vec::new(),
                resync: false,
                stored,
            },
        );
        self.order.push(key);
        Ok(())
    }

    /// Checks `actor`'s grants for `cmd` against the loaded case.
    /// The locked case, if `actor` may see its process at all.
    pub(super) fn granted(&self, actor: &Actor, case: CaseId) -> Result<&Loaded, EngineError> {
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
    pub(super) fn check_message(&self, actor: &Actor, case: CaseId) -> Result<(), EngineError> {
        let process = &self.granted(actor, case)?.row.process;
        if actor.may_start(process) {
            Ok(())
        } else {
            Err(EngineError::Forbidden(format!(
                "you may not send messages to cases of `{process}`"
            )))
        }
    }

    pub(super) fn check(&self, actor: &Actor, case: CaseId, cmd: &Command) -> Result<(), EngineError> {
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
            Command::AddInstances { step, .. } => {
                // Whoever works the step's tasks, or a manager.
                let p = &c.deployment.process;
                let role = p
                    .find(step)
                    .and_then(|s| p.step(s).performer())
                    .map(|r| p.role(r).id.as_str());
                if actor.may_manage() || role.is_some() && actor.may_work(process, role) {
                    Ok(())
                } else {
                    forbid(format!(
                        "only the step's performers or an administrator add instances to `{step}`"
                    ))
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

    pub(super) async fn start_case(
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
                // A new case has no rows yet.
                stored: ReadRows::default(),
            },
        );
        self.order.push(id);
        Ok(CaseId(id as u64))
    }

    /// Applies a command; returns where its events begin among the case's
    /// new events.
    pub(super) async fn command(
        &mut self,
        id: CaseId,
        cmd: impl Into<Input>,
        now: Timestamp,
    ) -> Result<usize, EngineError> {
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
    pub(super) async fn start_child(
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
    pub(super) async fn settle(&mut self, id: CaseId, from: usize, now: Timestamp) -> Result<(), EngineError> {
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

    /// Writes every touched case and commits (the acknowledgement point)
    /// when `r` is a success; rolls everything back otherwise.
    pub(super) async fn finish<T>(mut self, r: Result<T, EngineError>) -> Result<T, EngineError> {
        let r = match r {
            Ok(v) => self.write().await.map(|()| v),
            Err(e) => Err(e),
        };
        let ended = self.ended();
        let engine = self.engine;
        let out = match self.turn.take() {
            Some(turn) => turn.end(self.tx, r).await,
            None => finish(self.tx, r).await,
        };
        if out.is_ok() {
            // Counted once committed: a unit of work rolled back and run
            // again is counted when it finally commits.
            for (process, kind) in ended {
                let stats = &engine.stats;
                match kind {
                    None => stats.cases_started.get_or_create(&ProcessLabel { process }).inc(),
                    Some((status, outcome)) => stats
                        .cases_finished
                        .get_or_create(&FinishedLabels {
                            process,
                            status: status.to_owned(),
                            outcome,
                        })
                        .inc(),
                };
            }
        }
        out
    }

    /// The cases this unit of work started (`None`) or ended (how), by
    /// process, from their new events.
    fn ended(&self) -> Vec<(String, Option<(&'static str, String)>)> {
        let mut out = Vec::new();
        for c in self.cases.values() {
            for e in &c.new {
                let end = match &e.kind {
                    EventKind::Started { .. } => None,
                    EventKind::Completed { outcome } => Some((Status::Completed, outcome.clone())),
                    EventKind::Terminated { outcome, .. } => Some((Status::Terminated, outcome.clone())),
                    EventKind::Cancelled { .. } => Some((Status::Cancelled, None)),
                    _ => continue,
                };
                out.push((
                    c.row.process.clone(),
                    end.map(|(s, o)| (s.as_str(), o.unwrap_or_default())),
                ));
            }
        }
        out
    }

    pub(super) async fn write(&mut self) -> Result<(), EngineError> {
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
            let read = read_rows(*id, &c.deployment.process, cal, &c.row.state);
            store
                .save_case(
                    &mut self.tx,
                    *id,
                    &c.row.state,
                    &c.new,
                    now,
                    rows.as_deref(),
                    &read,
                    (!c.resync).then_some(&c.stored),
                )
                .await?;
            let log = super::worklog::work_log(&c.deployment.process, &c.new);
            if !log.is_empty() {
                store.write_work_log(&mut self.tx, *id, &c.row.process, &log).await?;
            }
        }
        Ok(())
    }
}

/// The parent's data that the child declares (but what the engine owns:
/// the child gets its own tracking code).
pub(super) fn child_data(child: &Process, parent: &Data) -> Data {
    parent
        .iter()
        .filter(|(k, _)| child.variable(k).is_some() && !ENGINE_OWNED.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A tracking code: 10 characters from an alphabet without look-alikes
/// (50 bits).
pub(super) fn tracking_code(rng: &mut rand::rngs::StdRng) -> String {
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    (0..10)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}
