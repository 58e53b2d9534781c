//! Finding work and cases at city scale: pages of open tasks and of cases
//! from their read rows (never from the cases' states), and the feed of
//! every event in commit order, each behind an opaque keyset cursor.
//!
//! Owns: the filters an embedder passes, the page shape, the cursors and
//! how an actor's grants limit each list. Must not: page by OFFSET, or show
//! an actor a task, case or event of a process it is not granted.

use serde::Serialize;

use super::*;
use crate::runtime::TaskView;
pub use crate::store::{CaseFilter, TaskFilter};
use crate::store::{CaseListRow, CaseQuery, FeedRow, TaskQuery, TaskRow};

/// The default length of a page.
pub const DEFAULT_PAGE: i64 = 50;
/// The longest page.
pub const MAX_PAGE: i64 = 500;

/// One page of a list: its items and the cursor of the next page (`None`
/// when this is the last; for the event feed, always the position to ask
/// after next time).
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    /// The items, in the list's order.
    pub items: Vec<T>,
    /// Pass as `after` to get the next page.
    pub next: Option<String>,
}

/// An open task with its case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskItem {
    /// The case.
    pub case: CaseId,
    /// The case's process.
    pub process: String,
    /// The process version.
    pub version: u32,
    /// The unit of the role whose list it is on.
    pub unit: Option<String>,
    /// The task.
    pub task: TaskView,
}

/// A case as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseItem {
    /// Its id.
    pub case: CaseId,
    /// Its process.
    pub process: String,
    /// The process version.
    pub version: u32,
    /// Where it stands.
    pub status: Status,
    /// Its tracking code.
    pub tracking_code: String,
    /// When it started.
    pub started_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// An event of the feed.
#[derive(Debug, Clone, Serialize)]
pub struct FeedItem {
    /// Its position: pass as `after` to read what follows it.
    pub position: String,
    /// Its case.
    pub case: CaseId,
    /// The case's process.
    pub process: String,
    /// The event, as in the case's history.
    pub event: Event,
}

/// A cursor: a kind letter and integers, hex-encoded so that clients treat
/// it as opaque.
fn cursor(kind: char, parts: &[i64]) -> String {
    let text: Vec<String> = std::iter::once(kind.to_string())
        .chain(parts.iter().map(i64::to_string))
        .collect();
    hex(text.join(":").as_bytes())
}

/// Reads a cursor of `kind` with `n` integers.
fn uncursor(kind: char, n: usize, raw: &str) -> Result<Vec<i64>, EngineError> {
    let bad = || EngineError::BadQuery(format!("`{raw}` is not a cursor this list gave out"));
    if !raw.len().is_multiple_of(2) || raw.len() > 200 {
        return Err(bad());
    }
    let bytes: Option<Vec<u8>> = (0..raw.len())
        .step_by(2)
        .map(|i| raw.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect();
    let text = String::from_utf8(bytes.ok_or_else(bad)?).map_err(|_| bad())?;
    let mut parts = text.split(':');
    if parts.next() != Some(kind.encode_utf8(&mut [0; 4])) {
        return Err(bad());
    }
    let nums: Result<Vec<i64>, _> = parts.map(str::parse).collect();
    match nums {
        Ok(v) if v.len() == n => Ok(v),
        _ => Err(bad()),
    }
}

/// The page length asked for, within bounds.
fn page_len(limit: Option<i64>) -> Result<i64, EngineError> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(n) => Err(EngineError::BadQuery(format!(
            "`limit` must be between 1 and {MAX_PAGE}, not {n}"
        ))),
    }
}

impl TaskRow {
    fn item(self) -> TaskItem {
        TaskItem {
            case: CaseId(self.case as u64),
            process: self.process,
            version: self.version,
            unit: self.unit,
            task: TaskView {
                task: self.task,
                step: self.step,
                title: self.title,
                role: self.role,
                assignee: self.assignee,
                created_at: self.created_at,
                due_at: self.due,
                due: self.due_text,
                overdue: self.overdue,
                item: self.item.and_then(|x| serde_json::from_str(&x).ok()),
            },
        }
    }
}

impl Engine {
    /// A page of the open tasks `actor` may work (an auditor: every one),
    /// by due instant (tasks without one last), then case and task.
    pub async fn tasks_as(
        &self,
        actor: &Actor,
        filter: &TaskFilter,
        after: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Page<TaskItem>, EngineError> {
        let limit = page_len(limit)?;
        let after = after
            .map(|raw| uncursor('t', 3, raw).map(|v| (v[0], v[1], v[2])))
            .transpose()?;
        let q = TaskQuery {
            filter: filter.clone(),
            grants: task_grants(actor),
            after,
            limit: limit + 1,
        };
        let mut rows = self.store.task_page(&q).await?;
        let next = (rows.len() as i64 > limit).then(|| {
            rows.truncate(limit as usize);
            rows.last()
                .map(|t| cursor('t', &[crate::store::due_key(t.due), t.case, i64::from(t.task.0)]))
        });
        Ok(Page {
            items: rows.into_iter().map(TaskRow::item).collect(),
            next: next.flatten(),
        })
    }

    /// Every open task `actor` may work, by case and task: the unpaged
    /// worklist, read from the task rows.
    pub async fn worklist_as(&self, actor: &Actor) -> Result<Vec<TaskItem>, EngineError> {
        let grants = task_grants(actor);
        let rows = self.store.all_tasks().await?;
        Ok(rows
            .into_iter()
            .filter(|t| {
                grants
                    .as_ref()
                    .is_none_or(|g| g.iter().any(|(p, r)| *p == t.process && (r.is_none() || *r == t.role)))
            })
            .map(TaskRow::item)
            .collect())
    }

    /// A page of the cases `actor` may read, newest first.
    pub async fn cases_as(
        &self,
        actor: &Actor,
        filter: &CaseFilter,
        after: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Page<CaseItem>, EngineError> {
        let limit = page_len(limit)?;
        let before = after.map(|raw| uncursor('c', 1, raw).map(|v| v[0])).transpose()?;
        if filter.version.is_some() && filter.process.is_none() {
            return Err(EngineError::BadQuery("`version` needs `process`".into()));
        }
        for (name, _) in &filter.data {
            self.check_searchable(filter.process.as_deref(), name)?;
        }
        let q = CaseQuery {
            filter: filter.clone(),
            processes: actor.read_processes(),
            before,
            limit: limit + 1,
        };
        let mut rows = self.store.case_page(&q).await?;
        let next = (rows.len() as i64 > limit).then(|| {
            rows.truncate(limit as usize);
            rows.last().map(|c| cursor('c', &[c.id]))
        });
        Ok(Page {
            items: rows.into_iter().map(CaseListRow::item).collect(),
            next: next.flatten(),
        })
    }

    /// A variable searched by must be declared `searchable` by some
    /// deployed version (of `process`, when given): otherwise the search
    /// would silently find nothing.
    fn check_searchable(&self, process: Option<&str>, name: &str) -> Result<(), EngineError> {
        let cat = self.catalog();
        let found = cat
            .deployments
            .iter()
            .filter(|d| process.is_none_or(|p| d.key.process == p))
            .any(|d| d.process.variable(name).is_some_and(|v| v.searchable));
        if found {
            Ok(())
        } else {
            Err(EngineError::BadQuery(format!(
                "`{name}` is not a searchable variable{}; declare it `searchable: true` under `data:`",
                process.map(|p| format!(" of `{p}`")).unwrap_or_default()
            )))
        }
    }

    /// Events after the position `after` (from the start when `None`), in
    /// commit order across every node, of the cases `actor` may read. Staff
    /// do not get the events of restricted processes here (those are read
    /// case by case, in the audit trail).
    pub async fn events_as(
        &self,
        actor: &Actor,
        after: Option<&str>,
        limit: Option<i64>,
    ) -> Result<Page<FeedItem>, EngineError> {
        let limit = page_len(limit)?;
        let from = match after {
            Some(raw) => {
                let v = uncursor('e', 2, raw)?;
                (v[0], v[1])
            }
            None => (i64::MIN, i64::MIN),
        };
        let processes = actor.read_processes();
        // Left out, not listed: a process deployed by another node since
        // this one loaded its catalog is then shown, never skipped (the
        // cursor moves past what a page leaves out). The catalog is read
        // again first, so a restricted process deployed elsewhere is known.
        let restricted: Vec<String> = if actor.staff {
            self.reload().await?;
            let cat = self.catalog();
            let mut r: Vec<String> = cat
                .deployments
                .iter()
                .filter(|d| d.process.restricted)
                .map(|d| d.key.process.clone())
                .collect();
            r.sort();
            r.dedup();
            r
        } else {
            Vec::new()
        };
        let rows = self.store.feed(from, limit, processes.as_deref(), &restricted).await?;
        let next = rows.last().map_or(from, |r| r.position);
        Ok(Page {
            next: Some(cursor('e', &[next.0, next.1])),
            items: rows.into_iter().map(FeedRow::item).collect(),
        })
    }
}

impl CaseListRow {
    fn item(self) -> CaseItem {
        CaseItem {
            case: CaseId(self.id as u64),
            process: self.process,
            version: self.version,
            status: self.status,
            tracking_code: self.tracking_code,
            started_at: self.started_at,
            updated_at: self.updated_at,
        }
    }
}

impl FeedRow {
    pub(super) fn item(self) -> FeedItem {
        FeedItem {
            position: cursor('e', &[self.position.0, self.position.1]),
            case: CaseId(self.case as u64),
            process: self.process,
            event: self.event,
        }
    }
}

/// The task lists an actor may see, as (process, role or every role);
/// `None` for every list.
pub(super) fn task_grants(actor: &Actor) -> Option<Vec<(String, Option<String>)>> {
    match &actor.grants {
        Grants::All | Grants::ReadAll => None,
        Grants::Scoped(s) => Some(
            s.roles
                .iter()
                .filter_map(|r| r.split_once('/'))
                .map(|(p, r)| (p.to_owned(), (r != "*").then(|| r.to_owned())))
                .collect(),
        ),
    }
}
