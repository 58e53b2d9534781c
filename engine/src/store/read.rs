//! Read models: the open tasks and the searchable keys of cases as rows of
//! their own, written beside the case in its transaction; pages of them by
//! keyset; and the feed of every event in commit order.
//!
//! Owns: the `tasks`, `case_keys` tables and the events' feed positions.
//! Must not: derive a row from a case's state (the engine hands the rows
//! over ready), or page by OFFSET.

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::{corrupt, status_from_name, Backend, Store, StoreError, Tx};
use crate::runtime::{Event, Status, TaskId};
use crate::time::Timestamp;

/// An open task as its read row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRow {
    /// Its case.
    pub case: i64,
    /// Its id in the case.
    pub task: TaskId,
    /// The case's process.
    pub process: String,
    /// The process version.
    pub version: u32,
    /// The step's id.
    pub step: String,
    /// The step's title.
    pub title: String,
    /// The role whose list it is on.
    pub role: Option<String>,
    /// That role's organisational unit.
    pub unit: Option<String>,
    /// Who claimed it.
    pub assignee: Option<String>,
    /// When it was opened.
    pub created_at: Timestamp,
    /// When it is due.
    pub due: Option<Timestamp>,
    /// The due instant shown in both calendars.
    pub due_text: Option<String>,
    /// Whether its deadline has passed.
    pub overdue: bool,
    /// For one instance of a task with multiple instances: its item, as JSON.
    pub item: Option<String>,
}

/// The rows of one case beside its state, as the engine derived them from
/// it: the read models, and the timer and subscription rows the engine's
/// loops look cases up by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadRows {
    /// Its pending timers with a due instant, (timer id, due).
    pub timers: Vec<(i64, i64)>,
    /// Its open subscriptions, (subscription id, message, key).
    pub subs: Vec<(i64, String, Option<String>)>,
    /// Its open tasks.
    pub tasks: Vec<TaskRow>,
    /// Its searchable keys, (key, value): `stage` and `data.NAME`.
    pub keys: Vec<(String, String)>,
    /// Its open tasks that are jobs for outside workers (not in `tasks`).
    pub jobs: Vec<super::NewJob>,
    /// Its process (the keys carry it).
    pub process: String,
    /// When it started and ended (the keys carry these too).
    pub span: (i64, Option<i64>),
}

/// Which open tasks to list.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    /// Only this process.
    pub process: Option<String>,
    /// Only this role's list.
    pub role: Option<String>,
    /// Only claimed by this user.
    pub assignee: Option<String>,
    /// Only of this organisational unit.
    pub unit: Option<String>,
    /// Only overdue (`true`) or only not yet overdue (`false`).
    pub overdue: Option<bool>,
    /// Due before this instant.
    pub due_before: Option<Timestamp>,
    /// Due at or after this instant.
    pub due_after: Option<Timestamp>,
}

/// Which tasks a page holds.
#[derive(Debug, Clone, Default)]
pub struct TaskQuery {
    /// What the caller asked for.
    pub filter: TaskFilter,
    /// The actor's grants: (process, role), `None` for every role of the
    /// process; `None` for no limit.
    pub grants: Option<Vec<(String, Option<String>)>>,
    /// After this (due key, case, task), in the page order.
    pub after: Option<(i64, i64, i64)>,
    /// At most this many.
    pub limit: i64,
}

/// A case as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseListRow {
    /// Its id.
    pub id: i64,
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

/// Which cases to list.
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    /// Only this process.
    pub process: Option<String>,
    /// Only this version (with `process`).
    pub version: Option<u32>,
    /// Only with this status.
    pub status: Option<Status>,
    /// Only cases at this step (its id).
    pub stage: Option<String>,
    /// Started at or after.
    pub started_after: Option<Timestamp>,
    /// Started before.
    pub started_before: Option<Timestamp>,
    /// Only the case with this tracking code.
    pub tracking_code: Option<String>,
    /// Data equal to these values, (variable, value); each variable must be
    /// declared `searchable`.
    pub data: Vec<(String, String)>,
}

/// Which cases a page holds.
#[derive(Debug, Clone, Default)]
pub struct CaseQuery {
    /// What the caller asked for.
    pub filter: CaseFilter,
    /// Only these processes (an actor's grants); `None` for all.
    pub processes: Option<Vec<String>>,
    /// Cases with a smaller id than this (the page order is newest first).
    pub before: Option<i64>,
    /// At most this many.
    pub limit: i64,
}

/// An event in the feed.
#[derive(Debug, Clone)]
pub struct FeedRow {
    /// Its position: (transaction, sequence), increasing in commit order.
    pub position: (i64, i64),
    /// Its case.
    pub case: i64,
    /// The case's process.
    pub process: String,
    /// The event.
    pub event: Event,
}

/// Numbered `$n` placeholders and the values bound to them, in order.
#[derive(Default)]
struct Sql {
    text: String,
    binds: Vec<Bind>,
}

enum Bind {
    Int(i64),
    Text(String),
}

impl Sql {
    fn new(text: &str) -> Sql {
        Sql {
            text: text.to_owned(),
            binds: Vec::new(),
        }
    }

    /// The next placeholder, bound to `b`.
    fn mark(&mut self, b: Bind) -> String {
        self.binds.push(b);
        format!("${}", self.binds.len())
    }

    fn and(&mut self, clause: &str, b: Bind) {
        let m = self.mark(b);
        self.text.push_str(&clause.replace('?', &m));
    }

    fn query(&self) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments> {
        let mut q = sqlx::query(AssertSqlSafe(self.text.clone()));
        for b in &self.binds {
            q = match b {
                Bind::Int(i) => q.bind(*i),
                Bind::Text(t) => q.bind(t.as_str()),
            };
        }
        q
    }
}

fn task_row(r: &AnyRow) -> Result<TaskRow, StoreError> {
    Ok(TaskRow {
        case: r.try_get(0)?,
        task: TaskId(u32::try_from(r.try_get::<i64, _>(1)?).map_err(corrupt)?),
        process: r.try_get(2)?,
        version: u32::try_from(r.try_get::<i64, _>(3)?).map_err(corrupt)?,
        step: r.try_get(4)?,
        title: r.try_get(5)?,
        role: r.try_get(6)?,
        unit: r.try_get(7)?,
        assignee: r.try_get(8)?,
        created_at: Timestamp(r.try_get(9)?),
        due: r.try_get::<Option<i64>, _>(10)?.map(Timestamp),
        due_text: r.try_get(11)?,
        overdue: r.try_get::<i64, _>(12)? != 0,
        item: r.try_get(13)?,
    })
}

const TASK_COLUMNS: &str =
    "case_id, task_id, process, version, step, title, role, unit, assignee, created_at, due, due_text, overdue, item";

/// The sort key of a task's due instant: the instant, or last when none.
pub fn due_key(due: Option<Timestamp>) -> i64 {
    due.map_or(i64::MAX, |d| d.0)
}

impl Store {
    /// Replaces a case's read rows with `rows`. With `before` (the rows
    /// stored now), a table whose rows did not change is not touched.
    pub async fn write_read_rows(
        &self,
        tx: &mut Tx,
        id: i64,
        rows: &ReadRows,
        before: Option<&ReadRows>,
    ) -> Result<(), StoreError> {
        if before.is_none_or(|b| b.tasks != rows.tasks) {
            self.write_tasks(tx, id, &rows.tasks, before.is_some_and(|b| b.tasks.is_empty()))
                .await?;
        }
        if before.is_none_or(|b| b.keys != rows.keys || b.span != rows.span) {
            self.write_keys(tx, id, rows, before.is_some_and(|b| b.keys.is_empty()))
                .await?;
        }
        if before.is_none_or(|b| b.jobs != rows.jobs) {
            self.write_jobs(tx, id, &rows.jobs).await?;
        }
        Ok(())
    }

    /// Replaces a case's task rows (`none_stored`: there are none to delete).
    async fn write_tasks(&self, tx: &mut Tx, id: i64, tasks: &[TaskRow], none_stored: bool) -> Result<(), StoreError> {
        if !none_stored {
            sqlx::query("DELETE FROM tasks WHERE case_id = $1")
                .bind(id)
                .execute(&mut **tx)
                .await?;
        }
        for chunk in tasks.chunks(50) {
            let mut sql = format!("INSERT INTO tasks ({TASK_COLUMNS}, due_key) VALUES ");
            for i in 0..chunk.len() {
                let b = i * 15;
                if i > 0 {
                    sql.push(',');
                }
                let marks: Vec<String> = (1..=15).map(|k| format!("${}", b + k)).collect();
                sql.push_str(&format!("({})", marks.join(", ")));
            }
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for t in chunk {
                q = q
                    .bind(id)
                    .bind(i64::from(t.task.0))
                    .bind(t.process.as_str())
                    .bind(i64::from(t.version))
                    .bind(t.step.as_str())
                    .bind(t.title.as_str())
                    .bind(t.role.as_deref())
                    .bind(t.unit.as_deref())
                    .bind(t.assignee.as_deref())
                    .bind(t.created_at.0)
                    .bind(t.due.map(|d| d.0))
                    .bind(t.due_text.as_deref())
                    .bind(i64::from(t.overdue))
                    .bind(t.item.as_deref())
                    .bind(due_key(t.due));
            }
            q.execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// Replaces a case's searchable keys (`none_stored`: none to delete),
    /// with its process and when it started and ended.
    pub async fn write_keys(&self, tx: &mut Tx, id: i64, rows: &ReadRows, none_stored: bool) -> Result<(), StoreError> {
        let keys = &rows.keys;
        if !none_stored {
            sqlx::query("DELETE FROM case_keys WHERE case_id = $1")
                .bind(id)
                .execute(&mut **tx)
                .await?;
        }
        for chunk in keys.chunks(100) {
            let mut sql =
                String::from("INSERT INTO case_keys (case_id, key, value, process, started_at, ended_at) VALUES ");
            for i in 0..chunk.len() {
                if i > 0 {
                    sql.push(',');
                }
                let b = i * 6;
                sql.push_str(&format!(
                    "(${}, ${}, ${}, ${}, ${}, ${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6
                ));
            }
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for (k, v) in chunk {
                q = q
                    .bind(id)
                    .bind(k.as_str())
                    .bind(v.as_str())
                    .bind(rows.process.as_str())
                    .bind(rows.span.0)
                    .bind(rows.span.1);
            }
            q.execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// A page of open tasks, by due instant (none last), then case and task.
    pub async fn task_page(&self, q: &TaskQuery) -> Result<Vec<TaskRow>, StoreError> {
        let mut sql = Sql::new(&format!("SELECT {TASK_COLUMNS} FROM tasks WHERE 1 = 1"));
        if let Some(p) = &q.filter.process {
            sql.and(" AND process = ?", Bind::Text(p.clone()));
        }
        if let Some(r) = &q.filter.role {
            sql.and(" AND role = ?", Bind::Text(r.clone()));
        }
        if let Some(a) = &q.filter.assignee {
            sql.and(" AND assignee = ?", Bind::Text(a.clone()));
        }
        if let Some(u) = &q.filter.unit {
            sql.and(" AND unit = ?", Bind::Text(u.clone()));
        }
        match q.filter.overdue {
            Some(true) => sql.text.push_str(" AND overdue = 1"),
            Some(false) => sql.text.push_str(" AND overdue = 0"),
            None => {}
        }
        if let Some(t) = q.filter.due_before {
            sql.and(" AND due_key < ?", Bind::Int(t.0));
        }
        if let Some(t) = q.filter.due_after {
            sql.and(" AND due_key >= ?", Bind::Int(t.0));
        }
        if let Some(grants) = &q.grants {
            if grants.is_empty() {
                return Ok(Vec::new());
            }
            let mut any = Vec::new();
            for (p, r) in grants {
                let pm = sql.mark(Bind::Text(p.clone()));
                match r {
                    Some(r) => {
                        let rm = sql.mark(Bind::Text(r.clone()));
                        any.push(format!("(process = {pm} AND role = {rm})"));
                    }
                    None => any.push(format!("process = {pm}")),
                }
            }
            sql.text.push_str(&format!(" AND ({})", any.join(" OR ")));
        }
        if let Some((d, c, t)) = q.after {
            let (dm, cm, tm) = (sql.mark(Bind::Int(d)), sql.mark(Bind::Int(c)), sql.mark(Bind::Int(t)));
            sql.text
                .push_str(&format!(" AND (due_key, case_id, task_id) > ({dm}, {cm}, {tm})"));
        }
        sql.text
            .push_str(&format!(" ORDER BY due_key, case_id, task_id LIMIT {}", q.limit.max(1)));
        let rows = sql.query().fetch_all(&self.pool).await?;
        rows.iter().map(task_row).collect()
    }

    /// Per process and role: open tasks, and of them overdue.
    pub async fn task_counts(&self) -> Result<Vec<(String, String, i64, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT process, COALESCE(role, ''), COUNT(*), CAST(SUM(overdue) AS BIGINT) FROM tasks GROUP BY process, role ORDER BY process, role",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
            .collect()
    }

    /// Per process, unit and assignee (`''` for none): open tasks, and of
    /// them overdue.
    pub async fn task_load(&self) -> Result<Vec<(String, String, String, i64, i64)>, StoreError> {
        // Grouped in the order of the covering index `tasks_load` (process,
        // unit, role, assignee), so no sort; the roles are summed here.
        let rows = sqlx::query(
            "SELECT process, COALESCE(unit, ''), COALESCE(assignee, ''), COUNT(*), CAST(SUM(overdue) AS BIGINT) \
             FROM tasks GROUP BY process, unit, role, assignee ORDER BY process, unit, role, assignee",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut load: std::collections::BTreeMap<(String, String, String), (i64, i64)> = Default::default();
        for r in &rows {
            let n: i64 = r.try_get(3)?;
            let late: Option<i64> = r.try_get(4)?;
            let e = load.entry((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)).or_default();
            e.0 += n;
            e.1 += late.unwrap_or(0);
        }
        Ok(load
            .into_iter()
            .map(|((p, u, a), (n, late))| (p, u, a, n, late))
            .collect())
    }

    /// Per process: open incidents.
    pub async fn incident_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query("SELECT process, COUNT(*) FROM incidents GROUP BY process ORDER BY process")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
    }

    /// Every open task, by case and task (the unpaged worklist).
    pub async fn all_tasks(&self) -> Result<Vec<TaskRow>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {TASK_COLUMNS} FROM tasks ORDER BY case_id, task_id"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(task_row).collect()
    }

    /// A page of cases, newest first.
    pub async fn case_page(&self, q: &CaseQuery) -> Result<Vec<CaseListRow>, StoreError> {
        let mut sql = Sql::new(
            "SELECT c.id, c.process, c.version, c.status, c.tracking_code, c.started_at, c.updated_at FROM cases c WHERE 1 = 1",
        );
        if let Some(p) = &q.filter.process {
            sql.and(" AND c.process = ?", Bind::Text(p.clone()));
        }
        if let Some(v) = q.filter.version {
            sql.and(" AND c.version = ?", Bind::Int(i64::from(v)));
        }
        if let Some(s) = q.filter.status {
            sql.and(" AND c.status = ?", Bind::Text(s.as_str().to_owned()));
        }
        if let Some(t) = q.filter.started_after {
            sql.and(" AND c.started_at >= ?", Bind::Int(t.0));
        }
        if let Some(t) = q.filter.started_before {
            sql.and(" AND c.started_at < ?", Bind::Int(t.0));
        }
        if let Some(code) = &q.filter.tracking_code {
            sql.and(" AND c.tracking_code = ?", Bind::Text(code.clone()));
        }
        let mut keys = q
            .filter
            .stage
            .iter()
            .map(|s| ("stage".to_owned(), s.clone()))
            .chain(q.filter.data.iter().map(|(k, v)| (format!("data.{k}"), v.clone())));
        // The first key drives the search through its index, walked in id
        // order; the others are checked per case.
        let mut order = "c.id";
        if let Some((k, v)) = keys.next() {
            let km = sql.mark(Bind::Text(k));
            let vm = sql.mark(Bind::Text(v));
            sql.text.push_str(&format!(" AND k0.key = {km} AND k0.value = {vm}"));
            order = "k0.case_id";
        }
        for (k, v) in keys {
            let km = sql.mark(Bind::Text(k));
            let vm = sql.mark(Bind::Text(v));
            sql.text.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM case_keys k WHERE k.case_id = c.id AND k.key = {km} AND k.value = {vm})"
            ));
        }
        if let Some(ps) = &q.processes {
            if ps.is_empty() {
                return Ok(Vec::new());
            }
            let marks: Vec<String> = ps.iter().map(|p| sql.mark(Bind::Text(p.clone()))).collect();
            sql.text.push_str(&format!(" AND c.process IN ({})", marks.join(", ")));
        }
        if let Some(b) = q.before {
            sql.and(&format!(" AND {order} < ?"), Bind::Int(b));
        }
        if order != "c.id" {
            sql.text = sql.text.replacen(
                " FROM cases c WHERE",
                " FROM case_keys k0 JOIN cases c ON c.id = k0.case_id WHERE",
                1,
            );
        }
        sql.text
            .push_str(&format!(" ORDER BY {order} DESC LIMIT {}", q.limit.max(1)));
        let rows = sql.query().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(CaseListRow {
                    id: r.try_get(0)?,
                    process: r.try_get(1)?,
                    version: u32::try_from(r.try_get::<i64, _>(2)?).map_err(corrupt)?,
                    status: status_from_name(&r.try_get::<String, _>(3)?)?,
                    tracking_code: r.try_get(4)?,
                    started_at: Timestamp(r.try_get(5)?),
                    updated_at: Timestamp(r.try_get(6)?),
                })
            })
            .collect()
    }

    /// Events after `after` in commit order, among the cases of
    /// `processes` when given, but those of `exclude`. On PostgreSQL only transactions older than
    /// every one still running are shown, so nothing can later appear
    /// before a position already read.
    pub async fn feed(
        &self,
        after: (i64, i64),
        limit: i64,
        processes: Option<&[String]>,
        exclude: &[String],
    ) -> Result<Vec<FeedRow>, StoreError> {
        let mut sql = Sql::new(
            "SELECT e.tx, e.pos, e.case_id, c.process, e.body FROM events e JOIN cases c ON c.id = e.case_id WHERE ",
        );
        // SQLite's `tx` is always 0 and its `pos` the table's key.
        let order = match self.backend {
            Backend::Sqlite => {
                let pm = sql.mark(Bind::Int(if after.0 > 0 { i64::MAX } else { after.1 }));
                sql.text.push_str(&format!("e.pos > {pm}"));
                "e.pos"
            }
            Backend::Postgres => {
                let (tm, pm) = (sql.mark(Bind::Int(after.0)), sql.mark(Bind::Int(after.1)));
                sql.text.push_str(&format!(
                    "(e.tx, e.pos) > ({tm}, {pm}) AND e.tx < pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
                ));
                "e.tx, e.pos"
            }
        };
        if let Some(ps) = processes {
            if ps.is_empty() {
                return Ok(Vec::new());
            }
            let marks: Vec<String> = ps.iter().map(|p| sql.mark(Bind::Text(p.clone()))).collect();
            sql.text.push_str(&format!(" AND c.process IN ({})", marks.join(", ")));
        }
        if !exclude.is_empty() {
            let marks: Vec<String> = exclude.iter().map(|p| sql.mark(Bind::Text(p.clone()))).collect();
            sql.text
                .push_str(&format!(" AND c.process NOT IN ({})", marks.join(", ")));
        }
        sql.text.push_str(&format!(" ORDER BY {order} LIMIT {}", limit.max(1)));
        let rows = sql.query().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let body: String = r.try_get(4)?;
                Ok(FeedRow {
                    position: (r.try_get(0)?, r.try_get(1)?),
                    case: r.try_get(2)?,
                    process: r.try_get(3)?,
                    event: serde_json::from_str(&body).map_err(corrupt)?,
                })
            })
            .collect()
    }

    /// Up to `limit` cases with an id above `after`, by id, each locked
    /// until the transaction ends (rebuilding read rows).
    pub async fn lock_cases_after(
        &self,
        tx: &mut Tx,
        after: i64,
        limit: i64,
    ) -> Result<Vec<super::CaseRow>, StoreError> {
        let sql = format!(
            "SELECT {} FROM cases WHERE id > $1 ORDER BY id LIMIT {}{}",
            Store::CASE_COLUMNS,
            limit.max(1),
            self.for_update()
        );
        let rows = sqlx::query(AssertSqlSafe(sql)).bind(after).fetch_all(&mut **tx).await?;
        rows.iter().map(Store::case_row).collect()
    }
}

/// The query the period's event log is read with: every event before the
/// period's end of the cases of one process that started before it and
/// were open during it (changed at or after its start, or open still), in
/// case and history order. `$1` the process, `$2` the period's start, `$3`
/// its end (seconds since the epoch).
pub const PERIOD_LOG: &str =
    "SELECT c.id, c.version, c.tracking_code, e.body FROM cases c JOIN events e ON e.case_id = c.id \
     WHERE c.process = $1 AND c.started_at < $3 AND (c.updated_at >= $2 OR c.status IN ('running', 'suspended')) \
     AND e.at < $3 ORDER BY c.id, e.seq";

/// The query the dashboard counts work open now from: the open task rows
/// of one process by unit, role and assignee (`''` for none).
pub const OPEN_TASKS_NOW: &str = "SELECT COALESCE(unit, ''), COALESCE(role, ''), COALESCE(assignee, ''), COUNT(*), \
     CAST(SUM(overdue) AS BIGINT) FROM tasks WHERE process = $1 GROUP BY unit, role, assignee ORDER BY unit, role, assignee";

/// The query the dashboard counts cases open now with.
pub const OPEN_CASES_NOW: &str = "SELECT COUNT(*) FROM cases WHERE process = $1 AND ended_at IS NULL";

/// An event of a case as [`PERIOD_LOG`] selects it.
#[derive(Debug, Clone)]
pub struct PeriodEvent {
    /// The case.
    pub case: i64,
    /// Its process version.
    pub version: u32,
    /// Its tracking code.
    pub code: String,
    /// The event.
    pub event: Event,
}

impl Store {
    /// The events `query` ([`PERIOD_LOG`]) selects.
    pub async fn period_events(
        &self,
        query: &'static str,
        process: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<PeriodEvent>, StoreError> {
        let rows = self.period_rows(query, process, from, to).await?;
        rows.iter()
            .map(|r| {
                let version: i64 = r.try_get(1)?;
                let body: String = r.try_get(3)?;
                Ok(PeriodEvent {
                    case: r.try_get(0)?,
                    version: u32::try_from(version).map_err(corrupt)?,
                    code: r.try_get(2)?,
                    event: serde_json::from_str(&body).map_err(corrupt)?,
                })
            })
            .collect()
    }

    /// What [`OPEN_TASKS_NOW`] and [`OPEN_CASES_NOW`] count: the open
    /// cases, and (unit, role, assignee, open tasks, of them overdue).
    pub async fn open_now(&self, process: &str) -> Result<(i64, Vec<(String, String, String, i64, i64)>), StoreError> {
        let cases: i64 = sqlx::query(OPEN_CASES_NOW)
            .bind(process)
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        let rows = sqlx::query(OPEN_TASKS_NOW).bind(process).fetch_all(&self.pool).await?;
        let tasks = rows
            .iter()
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    r.try_get(1)?,
                    r.try_get(2)?,
                    r.try_get(3)?,
                    r.try_get(4)?,
                ))
            })
            .collect::<Result<_, StoreError>>()?;
        Ok((cases, tasks))
    }
}
