//! The clock's work: firing due timers and starting recurring cases, each
//! once across every node sharing the database.
//!
//! Owns: claiming due timer and schedule rows (`FOR UPDATE SKIP LOCKED`),
//! firing them in units of work, leaving what this node cannot load for
//! another. Must not: delete a timer or schedule row for any reason but the
//! state of its case.

use super::*;

/// One round of `tick`.
pub(super) enum Round {
    /// Nothing was due.
    Idle,
    /// This many fired or started; `skip` are cases or processes to pass over.
    Fired {
        n: usize,
        skip_cases: Vec<i64>,
        skip_processes: Vec<String>,
        /// Each timer fired: its case's process and its due instant.
        lags: Vec<(String, Timestamp)>,
    },
}

impl Engine {
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
                    ..
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

    pub(super) async fn tick_once(
        &self,
        now: Timestamp,
        skip_cases: &[i64],
        skip_processes: &[String],
    ) -> Result<Round, EngineError> {
        let mut w = self.work().await?;
        let r = w.tick_round(now, skip_cases, skip_processes).await;
        let round = w.finish(r).await?;
        // A timer's lag runs from its due instant to the commit that made
        // its firing durable (seconds with their fraction on the system clock).
        if let Round::Fired { lags, .. } = &round {
            let at = self.clock.now_fine();
            for (process, due) in lags {
                self.stats
                    .timer_lag
                    .get_or_create(&ProcessLabel {
                        process: process.clone(),
                    })
                    .observe((at - due.0 as f64).max(0.0));
            }
        }
        Ok(round)
    }

    /// Fires due timers and recurring starts for as long as it runs: a
    /// round at each whole second of the engine's clock (instants are kept
    /// in whole seconds, so a timer due at second T fires in the round
    /// that starts at T, its lag the round's own time); a round fires all
    /// that is due ([`Engine::tick`]). A failed round is logged and the
    /// next one runs a second later. `ravand serve` runs this on every node.
    pub async fn keep_time(&self) {
        loop {
            let fine = self.clock.now_fine();
            // To the next whole second (a whole second away on a clock that
            // keeps no fraction).
            let wait = 1.0 - fine.fract();
            tokio::time::sleep(std::time::Duration::from_secs_f64(wait.clamp(0.001, 1.0))).await;
            if let Err(e) = self.tick(self.clock.now()).await {
                tracing::error!(error = %e, "tick failed; it runs again in a second");
            }
        }
    }

    /// The earliest pending timer of any case, or recurring start.
    pub async fn next_due(&self) -> Result<Option<Timestamp>, EngineError> {
        Ok(self.store.next_due().await?)
    }

    /// The next recurring start of a process, if it has a schedule.
    pub async fn next_start(&self, process: &str) -> Result<Option<Timestamp>, EngineError> {
        Ok(self.store.schedule_of(process).await?)
    }
}

impl Work<'_> {
    /// One round of `tick`: a recurring start or a batch of due timers.
    pub(super) async fn tick_round(
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
                        lags: Vec::new(),
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
                lags: Vec::new(),
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
        let mut lags = Vec::new();
        for (i, &(case, timer, due)) in claimed.iter().enumerate() {
            if skip.contains(&case) {
                continue;
            }
            let id = CaseId(case as u64);
            match self.command(id, Internal::FireTimer { timer }, due).await {
                Ok(from) => {
                    self.settle(id, from, due).await?;
                    fired += 1;
                    if let Some(c) = self.cases.get(&case) {
                        lags.push((c.row.process.clone(), due));
                    }
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
            lags,
        })
    }
}

/// The first occurrence (number `n` from 0) of a deployment's recurring
/// start at or after `from`.
pub(super) fn next_occurrence(d: &Deployment, from: Timestamp, n: u32) -> Option<Timestamp> {
    let start = d.process.step(d.process.start);
    d.calendar.next_occurrence(start.schedule()?, from, n)
}
