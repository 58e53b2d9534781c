//! The dashboard, `/ui/dashboard`: one process over a chosen period (cases
//! started, finished, open; the SLA breach rate; escalations by rung; time
//! per step; by unit, role, person and a searchable case field; the best
//! three; the unit score with its formula), and the period's event log as
//! CSV at `/ui/dashboard/events.csv`, for administrators and auditors.
//!
//! Must not: count anything itself (the engine folds the figures), or show
//! a clerk the page.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::super::{Access, ApiError, Service};
use super::desk::{digits, engine_refusal, refusal_page};
use super::staff::{staff, to_login, with_cookies, words, Staff, Words};
use super::{html, western_digits};
use crate::definition::{parse_local_datetime, EscalationAction};
use crate::engine::DASHBOARD_QUERIES;
use crate::engine::{Dashboard, Deployment, Tally, BEST_MIN_DONE, SCORE_NOTICE, SCORE_OVERDUE};
use crate::time::Timestamp;

/// The longest period the dashboard folds, in days.
const MAX_DAYS: i64 = 400;

/// The page's own words.
struct DWords {
    title: &'static str,
    process: &'static str,
    from: &'static str,
    to: &'static str,
    by: &'static str,
    show: &'static str,
    date_hint: &'static str,
    bad_date: &'static str,
    too_long: &'static str,
    none: &'static str,
    only: &'static str,
    cases: &'static str,
    started: &'static str,
    finished: &'static str,
    open_end: &'static str,
    open_now: &'static str,
    tasks: &'static str,
    done: &'static str,
    on_time: &'static str,
    late: &'static str,
    breach: &'static str,
    overdue_now: &'static str,
    tasks_open: &'static str,
    notices: &'static str,
    escalations: &'static str,
    rung: &'static str,
    fired: &'static str,
    rungs: [&'static str; 5],
    steps: &'static str,
    step: &'static str,
    median: &'static str,
    p90: &'static str,
    units: &'static str,
    organisations: &'static str,
    organisation: &'static str,
    no_organisation: &'static str,
    unit: &'static str,
    no_unit: &'static str,
    roles: &'static str,
    role: &'static str,
    no_role: &'static str,
    people: &'static str,
    person: &'static str,
    share: &'static str,
    score: &'static str,
    formula: &'static str,
    best: &'static str,
    best_rule: &'static str,
    nobody: &'static str,
    value: &'static str,
    unset: &'static str,
    how: &'static str,
    how_text: &'static str,
    log: &'static str,
    now_view: &'static str,
    day: &'static str,
    hour: &'static str,
    minute: &'static str,
}

const DFA: DWords = DWords {
    title: "داشبورد",
    process: "فرایند",
    from: "از",
    to: "تا",
    by: "به تفکیک",
    show: "نمایش",
    date_hint: "تاریخ خورشیدی (۱۴۰۵-۰۹-۰۱) یا میلادی",
    bad_date: "این تاریخ خوانده نشد",
    too_long: "بازه بیش از ۴۰۰ روز است",
    none: "فرایندی مستقر نیست.",
    only: "این صفحه برای مدیران و بازرسان است.",
    cases: "پرونده‌ها",
    started: "آغازشده در بازه",
    finished: "پایان‌یافته در بازه",
    open_end: "باز در پایان بازه",
    open_now: "باز اکنون",
    tasks: "کارها",
    done: "انجام‌شده",
    on_time: "به‌موقع",
    late: "با تأخیر",
    breach: "نرخ نقض مهلت",
    overdue_now: "گذشته از مهلت اکنون",
    tasks_open: "کار باز اکنون",
    notices: "گزارش به شهردار بی‌پاسخ",
    escalations: "پله‌های پیگیری اجراشده",
    rung: "پله",
    fired: "دفعات",
    rungs: ["تذکر", "اخطار", "درج در پرونده", "واگذاری به دیگری", "گزارش به شهردار"],
    steps: "زمان هر گام",
    step: "گام",
    median: "میانه",
    p90: "صدک ۹۰",
    units: "واحدها",
    organisations: "سازمان‌ها",
    organisation: "سازمان",
    no_organisation: "بدون سازمان",
    unit: "واحد",
    no_unit: "بدون واحد",
    roles: "نقش‌ها",
    role: "نقش",
    no_role: "بدون نقش",
    people: "کارمندان",
    person: "کارمند",
    share: "سهم به‌موقع",
    score: "امتیاز",
    formula: "امتیاز واحد = به‌موقع − با تأخیر − {o} × گذشته از مهلت اکنون − {n} × گزارش به شهردار بی‌پاسخ",
    best: "سه کارمند نمونهٔ بازه",
    best_rule: "به ترتیب سهم به‌موقع و سپس شمار کار انجام‌شده، از میان کسانی که دست‌کم {m} کار در بازه انجام داده‌اند.",
    nobody: "هنوز کسی به اندازهٔ کافی کار انجام نداده است.",
    value: "مقدار",
    unset: "بی‌مقدار",
    how: "این شمارش‌ها از کجا می‌آیند",
    how_text: "هر عدد را پایگاه داده با یکی از این پرسش‌ها می‌شمارد ($1 فرایند؛ $2 و $3 آغاز و پایان بازه، یا پایان بازه)، از ردیف‌هایی که با هر رویداد پرونده در همان تراکنش نوشته می‌شوند: سرگذشت هر کار، پله‌های پیگیری، زمان پایان پرونده‌ها و کلیدهای جست‌وجوی آن‌ها. پرونده‌های باز در پایان بازه = باز اکنون − آغازشده از پایان بازه به بعد + پایان‌یافته از آن پس. تفکیک بر پایهٔ مقدار کنونی فیلد است.",
    log: "دریافت رویدادهای بازه (CSV)",
    now_view: "کار باز اکنون به تفکیک واحد و کارمند",
    day: "روز",
    hour: "ساعت",
    minute: "دقیقه",
};

const DEN: DWords = DWords {
    title: "Dashboard",
    process: "Process",
    from: "From",
    to: "To",
    by: "Split by",
    show: "Show",
    date_hint: "Solar Hijri (1405-09-01) or Gregorian date",
    bad_date: "this date could not be read",
    too_long: "the period is longer than 400 days",
    none: "No process is deployed.",
    only: "This page is for administrators and auditors.",
    cases: "Cases",
    started: "Started in the period",
    finished: "Finished in the period",
    open_end: "Open at the period's end",
    open_now: "Open now",
    tasks: "Tasks",
    done: "Done",
    on_time: "On time",
    late: "Late",
    breach: "SLA breach rate",
    overdue_now: "Overdue now",
    tasks_open: "Open now",
    notices: "Unanswered notices to the mayor",
    escalations: "Escalation rungs fired",
    rung: "Rung",
    fired: "Times",
    rungs: ["Reminder", "Warning", "File record", "Reassignment", "Mayor's notice"],
    steps: "Time per step",
    step: "Step",
    median: "Median",
    p90: "90th percentile",
    units: "Units",
    organisations: "Organisations",
    organisation: "Organisation",
    no_organisation: "no organisation",
    unit: "Unit",
    no_unit: "no unit",
    roles: "Roles",
    role: "Role",
    no_role: "no role",
    people: "People",
    person: "Person",
    share: "On-time share",
    score: "Score",
    formula: "Unit score = on time − late − {o} × overdue now − {n} × unanswered notices to the mayor",
    best: "The period's three model employees",
    best_rule: "By on-time share, then by tasks done, among those who did at least {m} tasks in the period.",
    nobody: "Nobody has done enough tasks yet.",
    value: "Value",
    unset: "unset",
    how: "Where these figures come from",
    how_text: "The database counts each figure with one of these queries ($1 the process; $2 and $3 the period's start and end, or its end), from rows written with each of a case's events in the same transaction: each task's life, the ladders' rungs, when cases ended, and their searchable keys. Cases open at the period's end = open now − those started since its end + those ended since. The split by field uses the field's value now.",
    log: "Download the period's events (CSV)",
    now_view: "Open work now by unit and person",
    day: "d",
    hour: "h",
    minute: "min",
};

/// A figure: its key (for the page's readers), the number, and as shown.
struct Cell {
    k: &'static str,
    v: String,
    shown: String,
}

/// A table row: its key, its name as shown, its figures.
struct Line {
    key: String,
    name: String,
    cells: Vec<Cell>,
}

/// A table of figures.
struct Table {
    id: &'static str,
    title: String,
    heads: Vec<&'static str>,
    lines: Vec<Line>,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    c: super::staff::Chrome,
    d: &'static DWords,
    processes: Vec<(String, String, bool)>,
    fields: Vec<(String, String, bool)>,
    from: String,
    to: String,
    error: Option<String>,
    totals: Vec<(&'static str, Vec<Cell>)>,
    tables: Vec<Table>,
    best: Vec<String>,
    best_rule: String,
    formula: String,
    queries: &'static [(&'static str, &'static str)],
    log_href: String,
}

/// The dashboard's query.
#[derive(Debug, Default, Deserialize)]
pub(super) struct DashQuery {
    lang: Option<String>,
    process: Option<String>,
    from: Option<String>,
    to: Option<String>,
    by: Option<String>,
}

/// A date typed into the form as the start of that day in `d`'s calendar
/// (`next`: the start of the day after).
fn day_start(d: &Deployment, text: &str, next: bool) -> Option<Timestamp> {
    let l = parse_local_datetime(western_digits(text).trim()).ok()?;
    let date = if next { l.date().succ_opt()? } else { l.date() };
    Some(d.calendar.instant(date.and_hms_opt(0, 0, 0)?))
}

/// The Solar Hijri date of `t` in `d`'s calendar, as the form writes it.
fn solar_date(d: &Deployment, t: Timestamp) -> String {
    d.calendar.show(t).chars().take(10).collect()
}

fn cell(w: &Words, k: &'static str, n: i64) -> Cell {
    Cell {
        k,
        v: n.to_string(),
        shown: digits(w, &n.to_string()),
    }
}

fn percent(w: &Words, k: &'static str, p: Option<i64>) -> Cell {
    Cell {
        k,
        v: p.map_or(String::new(), |p| p.to_string()),
        shown: p.map_or("—".to_owned(), |p| digits(w, &format!("{p}٪"))),
    }
}

/// A span of seconds as days, hours and minutes.
fn span(w: &Words, d: &DWords, k: &'static str, s: i64) -> Cell {
    let (days, hours, mins) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    let shown = if days > 0 {
        format!("{days} {} {hours} {}", d.day, d.hour)
    } else if hours > 0 {
        format!("{hours} {} {mins} {}", d.hour, d.minute)
    } else {
        format!("{mins} {}", d.minute)
    };
    Cell {
        k,
        v: s.to_string(),
        shown: digits(w, &shown),
    }
}

fn tally_cells(w: &Words, t: &Tally, score: bool) -> Vec<Cell> {
    let mut v = vec![
        cell(w, "done", t.done),
        cell(w, "on_time", t.on_time()),
        cell(w, "late", t.late),
        percent(w, "share", t.on_time_percent()),
        cell(w, "open_now", t.open_now),
        cell(w, "overdue_now", t.overdue_now),
        cell(w, "notices", t.notices_open),
    ];
    if score {
        v.push(cell(w, "score", t.score()));
    }
    v
}

fn tally_heads(d: &'static DWords, first: &'static str, score: bool) -> Vec<&'static str> {
    let mut v = vec![
        first,
        d.done,
        d.on_time,
        d.late,
        d.share,
        d.tasks_open,
        d.overdue_now,
        d.notices,
    ];
    if score {
        v.push(d.score);
    }
    v
}

/// The period asked for, or the 30 days to today.
fn period(d: &Deployment, q: &DashQuery, now: Timestamp, dw: &DWords) -> Result<(Timestamp, Timestamp), String> {
    let today_next = day_start(d, &solar_date(d, now), true).unwrap_or(now);
    let to = match q.to.as_deref().filter(|s| !s.trim().is_empty()) {
        Some(t) => day_start(d, t, true).ok_or_else(|| format!("{}: {}", dw.to, dw.bad_date))?,
        None => today_next,
    };
    let from = match q.from.as_deref().filter(|s| !s.trim().is_empty()) {
        Some(f) => day_start(d, f, false).ok_or_else(|| format!("{}: {}", dw.from, dw.bad_date))?,
        None => Timestamp(to.0 - 30 * 86_400),
    };
    if to.0 - from.0 > MAX_DAYS * 86_400 {
        return Err(dw.too_long.to_owned());
    }
    Ok((from, to.max(from)))
}

/// The signed-in overseer and the process asked for (the first deployed
/// when none is), or the page that answers instead.
async fn prologue(
    s: &Service,
    h: &HeaderMap,
    q: &DashQuery,
    here: &str,
) -> Result<Result<(Staff, &'static Words, Option<HeaderValue>, Option<Arc<Deployment>>), Response>, ApiError> {
    let (w, lang) = words(h, q.lang.as_deref());
    let Some(st) = staff(s, h).await? else {
        return Ok(Err(to_login(here)));
    };
    let d = if w.lang == "en" { &DEN } else { &DFA };
    if !matches!(st.caller.access, Access::Admin | Access::Auditor) {
        return Ok(Err(refusal_page(&st, w, StatusCode::FORBIDDEN, d.only)));
    }
    let keys = s.engine.definitions().await?;
    let process = match q.process.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => p.to_owned(),
        None => match keys.first() {
            Some(k) => k.process.clone(),
            None => return Ok(Ok((st, w, lang, None))),
        },
    };
    match s.engine.latest_deployment(&process).await? {
        Some(dep) => Ok(Ok((st, w, lang, Some(dep)))),
        None => Ok(Err(engine_refusal(
            &st,
            w,
            crate::engine::EngineError::NoSuchProcess(process),
        ))),
    }
}

/// `GET /ui/dashboard`.
pub(super) async fn dashboard(
    State(s): State<Arc<Service>>,
    h: HeaderMap,
    Query(q): Query<DashQuery>,
) -> Result<Response, ApiError> {
    let (st, w, lang, dep) = match prologue(&s, &h, &q, "/ui/dashboard").await? {
        Ok(x) => x,
        Err(page) => return Ok(page),
    };
    let dw = if w.lang == "en" { &DEN } else { &DFA };
    let mut page = DashboardPage {
        c: st.chrome(w, "/ui/dashboard"),
        d: dw,
        processes: Vec::new(),
        fields: Vec::new(),
        from: String::new(),
        to: String::new(),
        error: None,
        totals: Vec::new(),
        tables: Vec::new(),
        best: Vec::new(),
        best_rule: dw.best_rule.replace("{m}", &digits(w, &BEST_MIN_DONE.to_string())),
        formula: dw
            .formula
            .replace("{o}", &digits(w, &SCORE_OVERDUE.to_string()))
            .replace("{n}", &digits(w, &SCORE_NOTICE.to_string())),
        queries: &DASHBOARD_QUERIES,
        log_href: String::new(),
    };
    let Some(dep) = dep else {
        page.error = Some(dw.none.to_owned());
        return Ok(with_cookies(html(StatusCode::OK, page.render()), lang));
    };
    let process = dep.key.process.clone();
    let mut seen = std::collections::BTreeSet::new();
    for k in s.engine.definitions().await? {
        if seen.insert(k.process.clone()) {
            let title = match s.engine.process(&k.process).await? {
                Some(p) if w.lang == "en" => p.title_en.clone().unwrap_or_else(|| p.title.clone()),
                Some(p) => p.title.clone(),
                None => k.process.clone(),
            };
            let chosen = k.process == process;
            page.processes.push((k.process, title, chosen));
        }
    }
    let (from, to) = match period(&dep, &q, s.engine.now(), dw) {
        Ok(p) => p,
        Err(e) => {
            page.from = q.from.clone().unwrap_or_default();
            page.to = q.to.clone().unwrap_or_default();
            page.error = Some(e);
            return Ok(with_cookies(
                html(StatusCode::UNPROCESSABLE_ENTITY, page.render()),
                lang,
            ));
        }
    };
    page.from = solar_date(&dep, from);
    page.to = solar_date(&dep, Timestamp(to.0 - 1));
    let dash = match s
        .engine
        .dashboard_as(&st.caller.actor, &process, from, to, q.by.as_deref())
        .await
    {
        Ok(x) => x,
        Err(e) => return Ok(engine_refusal(&st, w, e)),
    };
    page.fields = dep
        .process
        .variables
        .iter()
        .filter(|v| v.searchable)
        .map(|v| {
            let chosen = dash.field.as_ref().is_some_and(|f| f.0 == v.name);
            (
                v.name.clone(),
                v.title.clone().unwrap_or_else(|| v.name.clone()),
                chosen,
            )
        })
        .collect();
    page.log_href = format!(
        "/ui/dashboard/events.csv?process={}&from={}&to={}",
        form_urlencoded::byte_serialize(process.as_bytes()).collect::<String>(),
        page.from,
        page.to
    );
    fill(&mut page, w, dw, &dash);
    Ok(with_cookies(html(StatusCode::OK, page.render()), lang))
}

/// The page's figures from the engine's dashboard.
fn fill(page: &mut DashboardPage, w: &Words, dw: &'static DWords, dash: &Dashboard) {
    let t = &dash.tasks;
    page.totals = vec![
        (
            dw.cases,
            vec![
                cell(w, "started", dash.cases.started),
                cell(w, "finished", dash.cases.finished),
                cell(w, "open_end", dash.cases.open),
                cell(w, "open_cases_now", dash.cases_open_now),
            ],
        ),
        (
            dw.tasks,
            vec![
                cell(w, "done", t.done),
                cell(w, "late", t.late),
                percent(w, "breach", (t.done > 0).then(|| (t.late * 100 + t.done / 2) / t.done)),
                cell(w, "open_now", t.open_now),
                cell(w, "overdue_now", t.overdue_now),
                cell(w, "notices", t.notices_open),
            ],
        ),
    ];
    page.tables.push(Table {
        id: "rungs",
        title: dw.escalations.to_owned(),
        heads: vec![dw.rung, dw.fired],
        lines: dash
            .escalations
            .iter()
            .map(|(a, n)| Line {
                key: a.as_str().to_owned(),
                name: EscalationAction::ALL
                    .iter()
                    .position(|r| r == a)
                    .map_or("", |i| dw.rungs[i])
                    .to_owned(),
                cells: vec![cell(w, "fired", *n)],
            })
            .collect(),
    });
    page.tables.push(Table {
        id: "steps",
        title: dw.steps.to_owned(),
        heads: vec![dw.step, dw.done, dw.median, dw.p90],
        lines: dash
            .steps
            .iter()
            .map(|s| Line {
                key: s.step.clone(),
                name: match (&s.title_en, w.lang) {
                    (Some(en), "en") => en.clone(),
                    _ => s.title.clone(),
                },
                cells: vec![
                    cell(w, "done", s.done),
                    span(w, dw, "median", s.median_s),
                    span(w, dw, "p90", s.p90_s),
                ],
            })
            .collect(),
    });
    if !dash.organisations.is_empty() {
        page.tables.push(Table {
            id: "organisations",
            title: dw.organisations.to_owned(),
            heads: tally_heads(dw, dw.organisation, true),
            lines: dash
                .organisations
                .iter()
                .map(|(o, t)| Line {
                    key: o.clone(),
                    name: if o.is_empty() {
                        dw.no_organisation.to_owned()
                    } else {
                        o.clone()
                    },
                    cells: tally_cells(w, t, true),
                })
                .collect(),
        });
    }
    page.tables.push(Table {
        id: "units",
        title: dw.units.to_owned(),
        heads: tally_heads(dw, dw.unit, true),
        lines: dash
            .units
            .iter()
            .map(|(u, t)| Line {
                key: u.clone(),
                name: if u.is_empty() { dw.no_unit.to_owned() } else { u.clone() },
                cells: tally_cells(w, t, true),
            })
            .collect(),
    });
    page.tables.push(Table {
        id: "roles",
        title: dw.roles.to_owned(),
        heads: tally_heads(dw, dw.role, false),
        lines: dash
            .roles
            .iter()
            .map(|(r, (title, t))| Line {
                key: r.clone(),
                name: if r.is_empty() {
                    dw.no_role.to_owned()
                } else if title.is_empty() {
                    r.clone()
                } else {
                    title.clone()
                },
                cells: tally_cells(w, t, false),
            })
            .collect(),
    });
    page.tables.push(Table {
        id: "people",
        title: dw.people.to_owned(),
        heads: tally_heads(dw, dw.person, false),
        lines: dash
            .people
            .iter()
            .map(|(p, t)| Line {
                key: p.clone(),
                name: p.clone(),
                cells: tally_cells(w, t, false),
            })
            .collect(),
    });
    if let Some((name, title)) = &dash.field {
        page.tables.push(Table {
            id: "field",
            title: format!("{}: {}", dw.by, title.as_deref().unwrap_or(name)),
            heads: vec![dw.value, dw.started, dw.finished, dw.open_end],
            lines: dash
                .by_field
                .iter()
                .map(|(v, c)| Line {
                    key: v.clone(),
                    name: if v.is_empty() { dw.unset.to_owned() } else { v.clone() },
                    cells: vec![
                        cell(w, "started", c.started),
                        cell(w, "finished", c.finished),
                        cell(w, "open_end", c.open),
                    ],
                })
                .collect(),
        });
    }
    page.best.clone_from(&dash.best);
}

/// The period's event log, one row an event.
pub(super) async fn events_csv(
    State(s): State<Arc<Service>>,
    h: HeaderMap,
    Query(q): Query<DashQuery>,
) -> Result<Response, ApiError> {
    let (st, w, _, dep) = match prologue(&s, &h, &q, "/ui/dashboard").await? {
        Ok(x) => x,
        Err(page) => return Ok(page),
    };
    let dw = if w.lang == "en" { &DEN } else { &DFA };
    let Some(dep) = dep else {
        return Ok(refusal_page(&st, w, StatusCode::NOT_FOUND, dw.none));
    };
    let (from, to) = match period(&dep, &q, s.engine.now(), dw) {
        Ok(p) => p,
        Err(e) => return Ok(refusal_page(&st, w, StatusCode::UNPROCESSABLE_ENTITY, &e)),
    };
    let lines = match s
        .engine
        .event_log_as(&st.caller.actor, &dep.key.process, from, to)
        .await
    {
        Ok(x) => x,
        Err(e) => return Ok(engine_refusal(&st, w, e)),
    };
    let mut out = csv::Writer::from_writer(Vec::new());
    let head = [
        "case",
        "tracking_code",
        "seq",
        "timestamp",
        "when",
        "event",
        "step",
        "activity",
        "activity_en",
        "role",
        "unit",
        "resource",
    ];
    let written = out.write_record(head).and_then(|()| {
        lines.iter().try_for_each(|l| {
            out.write_record([
                l.case.to_string().as_str(),
                &l.code,
                &l.seq.to_string(),
                &l.at.to_utc().to_rfc3339(),
                &l.shown,
                &l.event,
                l.step.as_deref().unwrap_or(""),
                l.title.as_deref().unwrap_or(""),
                l.title_en.as_deref().unwrap_or(""),
                l.role.as_deref().unwrap_or(""),
                l.unit.as_deref().unwrap_or(""),
                l.person.as_deref().unwrap_or(""),
            ])
        })
    });
    let body = written
        .map_err(|e| e.to_string())
        .and_then(|()| out.into_inner().map_err(|e| e.to_string()))
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "io", e))?;
    let name = format!(
        "attachment; filename=\"{}-{}-{}.csv\"",
        dep.key
            .process
            .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_"),
        solar_date(&dep, from),
        solar_date(&dep, Timestamp(to.0 - 1))
    );
    let mut r = (StatusCode::OK, body).into_response();
    let hs = r.headers_mut();
    hs.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&name) {
        hs.insert(header::CONTENT_DISPOSITION, v);
    }
    hs.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}
