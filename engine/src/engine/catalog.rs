//! The catalog: compiled deployments and calendars, cached and loaded from
//! the store on demand inside the unit of work; deploying a definition.
//!
//! Owns: [`Deployment`], the in-memory cache and how a deployment gets into
//! it. Must not: decide what a case does; trust the cache over the store
//! (deployments are immutable, so the store's row is the truth).

use std::collections::HashMap;
use std::sync::Arc;

use super::*;

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
pub(super) struct Catalog {
    pub(super) calendars: HashMap<String, Arc<WorkCalendar>>,
    pub(super) deployments: Vec<Arc<Deployment>>,
    pub(super) by_key: HashMap<(String, u32), usize>,
}

impl Catalog {
    pub(super) fn get(&self, process: &str, version: u32) -> Option<Arc<Deployment>> {
        self.by_key
            .get(&(process.to_owned(), version))
            .map(|&i| self.deployments[i].clone())
    }
}

impl Engine {
    pub(super) fn catalog(&self) -> std::sync::RwLockReadGuard<'_, Catalog> {
        self.catalog.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn catalog_mut(&self) -> std::sync::RwLockWriteGuard<'_, Catalog> {
        self.catalog.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads calendars and definitions from the database (others may have
    /// deployed since). A stored definition this node cannot compile is
    /// left out of the catalog and logged; its cases are left for a node
    /// that can.
    pub(super) async fn reload(&self) -> Result<(), EngineError> {
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
    pub(super) async fn backfill_incidents(&self) -> Result<(), EngineError> {
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
                let read = work::read_rows(row.id, &d.process, &d.calendar, &row.state);
                self.store
                    .save_case(&mut w.tx, row.id, &row.state, &[], now, Some(&rows), &read, None)
                    .await?;
            }
            self.store.set_meta(&mut w.tx, "incidents-backfilled", "1").await?;
            Ok(())
        }
        .await;
        w.finish(r).await
    }

    /// Builds the read rows (tasks, searchable keys) of cases stored before
    /// they existed, a batch of cases per transaction, each case under its
    /// row lock (once: a marker in `meta` says it was done). A case whose
    /// definition this node cannot load keeps no read rows, and is logged.
    pub(super) async fn backfill_read_rows(&self) -> Result<(), EngineError> {
        const MARK: &str = "read-rows-backfilled";
        const BATCH: i64 = 500;
        let done = {
            let mut w = self.work().await?;
            let r = self.store.meta(&mut w.tx, MARK).await.map_err(EngineError::from);
            w.finish(r).await?
        };
        if done.is_some() {
            return Ok(());
        }
        let mut after = 0;
        loop {
            let mut w = self.work().await?;
            let r = async {
                let rows = self.store.lock_cases_after(&mut w.tx, after, BATCH).await?;
                for row in &rows {
                    let Some(d) = self.catalog().get(&row.process, row.version) else {
                        tracing::error!(case = row.id, process = %row.process, version = row.version, "no read rows: the case's definition cannot be loaded here");
                        continue;
                    };
                    let read = work::read_rows(row.id, &d.process, &d.calendar, &row.state);
                    self.store.write_read_rows(&mut w.tx, row.id, &read, None).await?;
                }
                let last = rows.last().map(|r| r.id);
                if last.is_none() {
                    self.store.set_meta(&mut w.tx, MARK, "1").await?;
                }
                Ok::<_, EngineError>(last)
            }
            .await;
            match w.finish(r).await? {
                Some(last) => after = last,
                None => return Ok(()),
            }
        }
    }

    /// Builds the dashboard's rows (task log, rungs, end instants, keys
    /// with process and openness) of cases stored before they existed,
    /// from their histories, a batch of cases per transaction under their
    /// row locks (once: a marker in `meta` says it was done).
    pub(super) async fn backfill_work_log(&self) -> Result<(), EngineError> {
        const MARK: &str = "work-log-backfilled";
        const BATCH: i64 = 200;
        let done = {
            let mut w = self.work().await?;
            let r = self.store.meta(&mut w.tx, MARK).await.map_err(EngineError::from);
            w.finish(r).await?
        };
        if done.is_some() {
            return Ok(());
        }
        let mut after = 0;
        loop {
            let mut w = self.work().await?;
            let r = async {
                let rows = self.store.lock_cases_after(&mut w.tx, after, BATCH).await?;
                let Some(last) = rows.last().map(|r| r.id) else {
                    self.store.set_meta(&mut w.tx, MARK, "1").await?;
                    return Ok::<_, EngineError>(None);
                };
                let mut histories: HashMap<i64, Vec<Event>> = HashMap::new();
                for (case, e) in self.store.histories_in(&mut w.tx, after, last).await? {
                    histories.entry(case).or_default().push(e);
                }
                for row in &rows {
                    let Some(d) = self.catalog().get(&row.process, row.version) else {
                        tracing::error!(case = row.id, process = %row.process, version = row.version, "no dashboard rows: the case's definition cannot be loaded here");
                        continue;
                    };
                    let events = histories.get(&row.id).map_or(&[][..], Vec::as_slice);
                    self.store.clear_work_log(&mut w.tx, row.id).await?;
                    let log = super::worklog::work_log(&d.process, events);
                    self.store.write_work_log(&mut w.tx, row.id, &row.process, &log).await?;
                    let read = work::read_rows(row.id, &d.process, &d.calendar, &row.state);
                    self.store.write_keys(&mut w.tx, row.id, &read, false).await?;
                }
                Ok(Some(last))
            }
            .await;
            match w.finish(r).await? {
                Some(last) => after = last,
                None => return Ok(()),
            }
        }
    }

    pub(super) fn compile_calendar(&self, name: &str, text: &str) -> Result<String, EngineError> {
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
    pub(super) fn install_row(&self, d: DefinitionRow) -> Result<Arc<Deployment>, EngineError> {
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
    pub(super) fn make_deployment(&self, process: Process, hash: String) -> Result<Deployment, EngineError> {
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
    pub(super) fn adopt(&self, d: Arc<Deployment>) -> Arc<Deployment> {
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
    pub(super) async fn deployment(
        &self,
        tx: &mut Tx,
        process: &str,
        version: u32,
    ) -> Result<Arc<Deployment>, EngineError> {
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
    pub(super) async fn latest(&self, tx: &mut Tx, process: &str) -> Result<Arc<Deployment>, EngineError> {
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

    /// Validates a definition as deploying it would, without deploying:
    /// the compiled process (when there are no errors) and every diagnostic.
    async fn validated(&self, name: &str, text: &str) -> Result<crate::validate::Report, EngineError> {
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
        Ok(crate::validate::validate_source(
            SourceFile::new(name, text),
            &ctx,
            &self.limits,
        ))
    }

    /// Every problem deploying this definition would report (warnings too),
    /// each at its line; nothing is deployed.
    pub async fn check_definition(&self, name: &str, text: &str) -> Result<Vec<Diagnostic>, EngineError> {
        Ok(self.validated(name, text).await?.diagnostics)
    }

    /// A deployed version of a process.
    pub async fn deployed(&self, id: &str, version: u32) -> Result<Option<Arc<Deployment>>, EngineError> {
        self.reload().await?;
        Ok(self.catalog().get(id, version))
    }

    /// One version of a process.
    pub async fn process_version(&self, id: &str, version: u32) -> Result<Option<Arc<Process>>, EngineError> {
        self.reload().await?;
        Ok(self.catalog().get(id, version).map(|d| d.process.clone()))
    }

    /// Deploys a definition. The same content twice is a no-op returning
    /// the same key; other content under a deployed (id, version) is refused.
    pub async fn deploy(&self, name: &str, text: &str) -> Result<DefinitionKey, EngineError> {
        let hash = hex(&sha2::Sha256::digest(text.as_bytes()));
        let report = self.validated(name, text).await?;
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

    pub(super) async fn deploy_once(
        &self,
        row: &DefinitionRow,
        d: &Arc<Deployment>,
    ) -> Result<DefinitionKey, EngineError> {
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
}
