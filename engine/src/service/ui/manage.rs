//! The manager's view, `/ui/manage`: which unit and which person holds
//! how much open work and how much of it is late (Hamedan's 137 centre
//! shows the mayor exactly this), from the task rows, for administrators
//! and auditors.
//!
//! Must not: show it to a clerk, or read cases' states (the counts come
//! from the read rows).

use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::super::{Access, ApiError, Service};
use super::desk::{digits, refusal_page};
use super::html;
use super::processes::LangQuery;
use super::staff::{staff, to_login, with_cookies, words, Chrome, Words};

/// The page's own words.
struct MWords {
    title: &'static str,
    by_unit: &'static str,
    by_person: &'static str,
    unit: &'static str,
    person: &'static str,
    open: &'static str,
    overdue: &'static str,
    unclaimed: &'static str,
    no_unit: &'static str,
    nothing: &'static str,
    only: &'static str,
}

const MFA: MWords = MWords {
    title: "کار باز و دیرکرد",
    by_unit: "به تفکیک واحد",
    by_person: "به تفکیک کارمند",
    unit: "واحد",
    person: "کارمند",
    open: "کار باز",
    overdue: "گذشته از مهلت",
    unclaimed: "برداشته‌نشده",
    no_unit: "بدون واحد",
    nothing: "کار بازی نیست.",
    only: "این صفحه برای مدیران و بازرسان است.",
};

const MEN: MWords = MWords {
    title: "Open and late work",
    by_unit: "By unit",
    by_person: "By person",
    unit: "Unit",
    person: "Person",
    open: "Open",
    overdue: "Overdue",
    unclaimed: "not claimed",
    no_unit: "no unit",
    nothing: "No open work.",
    only: "This page is for administrators and auditors.",
};

/// A row: who, open, overdue, and (for a unit) of them not claimed.
struct Line {
    who: String,
    unit: String,
    open: String,
    overdue: String,
    late: bool,
    unclaimed: String,
}

#[derive(Template)]
#[template(path = "manage.html")]
struct ManagePage {
    c: Chrome,
    m: &'static MWords,
    units: Vec<Line>,
    people: Vec<Line>,
}

fn sorted(w: &Words, rows: BTreeMap<(String, String), (i64, i64, i64)>) -> Vec<Line> {
    let mut v: Vec<_> = rows.into_iter().collect();
    v.sort_by(|a, b| (b.1 .1, b.1 .0).cmp(&(a.1 .1, a.1 .0)).then_with(|| a.0.cmp(&b.0)));
    v.into_iter()
        .map(|((who, unit), (open, overdue, unclaimed))| Line {
            who,
            unit,
            open: digits(w, &open.to_string()),
            overdue: digits(w, &overdue.to_string()),
            late: overdue > 0,
            unclaimed: digits(w, &unclaimed.to_string()),
        })
        .collect()
}

/// `GET /ui/manage`.
pub(super) async fn manage(
    State(s): State<Arc<Service>>,
    h: HeaderMap,
    Query(q): Query<LangQuery>,
) -> Result<Response, ApiError> {
    let (w, lang) = words(&h, q.lang());
    let Some(st) = staff(&s, &h).await? else {
        return Ok(to_login("/ui/manage"));
    };
    let m = if w.lang == "en" { &MEN } else { &MFA };
    if !matches!(st.caller.access, Access::Admin | Access::Auditor) {
        return Ok(refusal_page(&st, w, StatusCode::FORBIDDEN, m.only));
    }
    let mut units: BTreeMap<(String, String), (i64, i64, i64)> = BTreeMap::new();
    let mut people: BTreeMap<(String, String), (i64, i64, i64)> = BTreeMap::new();
    for l in s.engine.load_as(&st.caller.actor).await? {
        let unit = l.unit.unwrap_or_else(|| m.no_unit.to_owned());
        let u = units.entry((unit.clone(), String::new())).or_default();
        u.0 += l.open;
        u.1 += l.overdue;
        if l.assignee.is_none() {
            u.2 += l.open;
        }
        if let Some(a) = l.assignee {
            let p = people.entry((a, unit)).or_default();
            p.0 += l.open;
            p.1 += l.overdue;
        }
    }
    let page = ManagePage {
        c: st.chrome(w, "/ui/manage"),
        m,
        units: sorted(w, units),
        people: sorted(w, people),
    };
    Ok(with_cookies(html(StatusCode::OK, page.render()), lang))
}
