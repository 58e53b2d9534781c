//! What a citizen may see of a case by its tracking code: the stage in the
//! process's own words, since when, what is expected of the citizen, the
//! due dates, and the steps done with their dates.
//!
//! Owns: [`Tracked`] and [`Engine::track`]. Must not: show anything about
//! the staff (who did a step, roles, units), the case data, or incidents.

use super::*;

/// A case as its citizen sees it.
#[derive(Debug, Clone, Serialize)]
pub struct Tracked {
    /// The process's Persian title.
    pub process: String,
    /// Its English title, where the definition gives one.
    pub process_en: Option<String>,
    /// Where the case stands.
    pub status: Status,
    /// How it ended.
    pub outcome: Option<String>,
    /// The titles of the steps the case is at.
    pub stage: Vec<String>,
    /// When it came to them, in both calendars.
    pub since: Option<String>,
    /// The steps at which the case waits on the citizen now.
    pub expected: Vec<String>,
    /// Due dates of the open tasks, in both calendars.
    pub due: Vec<String>,
    /// The case's own deadline, in both calendars.
    pub case_due: Option<String>,
    /// The steps done, in order: (title, when in both calendars).
    pub done: Vec<(String, String)>,
}

impl Engine {
    /// The case with tracking code `code` as its citizen sees it, or
    /// `None` when no case has it.
    pub async fn track(&self, code: &str) -> Result<Option<Tracked>, EngineError> {
        let Some(id) = self.find_by_code(code).await? else {
            return Ok(None);
        };
        let (row, d) = self.read_as(&Actor::system(None), id, "track").await?;
        let (p, cal, st) = (&d.process, &d.calendar, &row.state);
        let view = runtime::CaseView::of(p, cal, st);
        let events = self.store.history(id.0 as i64).await?;
        let here: Vec<_> = st.tokens.iter().map(|t| t.step).collect();
        let mut since = None;
        let mut done = Vec::new();
        for e in &events {
            match &e.kind {
                EventKind::TokenCreated { step, .. } | EventKind::TokenMoved { step, .. } if here.contains(step) => {
                    since = Some(e.at);
                }
                EventKind::StepCompleted { step, .. } if p.step(*step).counts() => {
                    done.push((p.step(*step).title.clone(), cal.show(e.at)));
                }
                _ => {}
            }
        }
        let mut expected: Vec<String> = Vec::new();
        for s in here.iter().map(|s| p.step(*s)).filter(|s| s.waits_on_citizen) {
            if !expected.contains(&s.title) {
                expected.push(s.title.clone());
            }
        }
        Ok(Some(Tracked {
            process: p.title.clone(),
            process_en: p.title_en.clone(),
            status: st.status,
            outcome: view.outcome,
            stage: view.stage.into_iter().map(|(_, t)| t).collect(),
            since: since.filter(|_| !st.status.is_finished()).map(|at| cal.show(at)),
            expected,
            due: view.tasks.iter().filter_map(|t| t.due.clone()).collect(),
            case_due: view.case_due,
            done,
        }))
    }
}
