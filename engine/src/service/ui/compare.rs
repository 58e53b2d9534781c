//! Two process versions side by side, `/ui/compare?a=ID@V&b=ID@V`: what
//! `ravand compare` measures from the models (steps, expected steps and
//! days per case, approvals, signatures, golden signatures, inspections,
//! payments, citizen visits, inquiries, hand-offs, roles, fewest and most
//! steps a case), labelled in Persian, counts as integers, with the change;
//! and both graphs with their tagged steps filled in. A reform (the permit's
//! current and reformed processes) or two versions of one process.
//!
//! Must not: measure anything itself (`measure::compare` does), or show a
//! clerk a process not granted.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::super::{ApiError, Service};
use super::desk::{digits, refusal_page};
use super::html;
use super::processes::{may_see, tagged_dot};
use super::staff::{staff, to_login, with_cookies, words, Chrome, Words};
use crate::model::Process;

/// The page's own words.
struct CWords {
    title: &'static str,
    old: &'static str,
    new: &'static str,
    show: &'static str,
    figure: &'static str,
    change: &'static str,
    pick: &'static str,
    no_such: &'static str,
    graphs: &'static str,
    version: &'static str,
}

const CFA: CWords = CWords {
    title: "مقایسهٔ دو فرایند",
    old: "پیش از اصلاح",
    new: "پس از اصلاح",
    show: "مقایسه",
    figure: "شمارش",
    change: "تغییر",
    pick: "دو فرایند یا دو نسخه را برای مقایسه برگزینید.",
    no_such: "این نسخه مستقر نیست یا در دسترس شما نیست",
    graphs: "نمودارها",
    version: "نسخه",
};

const CEN: CWords = CWords {
    title: "Compare two processes",
    old: "Before",
    new: "After",
    show: "Compare",
    figure: "Figure",
    change: "Change",
    pick: "Choose two processes or two versions to compare.",
    no_such: "that version is not deployed or not granted to you",
    graphs: "Graphs",
    version: "version",
};

/// One line of the comparison.
struct Row {
    key: String,
    name: String,
    old: String,
    new: String,
    change: String,
}

/// A side: its heading in the table, its title and graph.
struct Side {
    short: String,
    title: String,
    graph: Option<String>,
}

#[derive(Template)]
#[template(path = "compare.html")]
struct ComparePage {
    c: Chrome,
    d: &'static CWords,
    choices: Vec<(String, String)>,
    a: String,
    b: String,
    rows: Vec<Row>,
    sides: Vec<Side>,
    note: Option<String>,
}

/// The page's query: `ID@VERSION` each (the version may be left out).
#[derive(Debug, Default, Deserialize)]
pub(super) struct CompareQuery {
    lang: Option<String>,
    a: Option<String>,
    b: Option<String>,
}

fn number(w: &Words, x: f64, count: bool) -> String {
    let text = if count || x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    };
    // Persian writes its decimal point as `٫`.
    let text = if w.lang == "fa" { text.replace('.', "٫") } else { text };
    digits(w, &text)
}

/// `GET /ui/compare`.
pub(super) async fn compare(
    State(s): State<Arc<Service>>,
    h: HeaderMap,
    Query(q): Query<CompareQuery>,
) -> Result<Response, ApiError> {
    let (w, lang) = words(&h, q.lang.as_deref());
    let Some(st) = staff(&s, &h).await? else {
        return Ok(to_login("/ui/compare"));
    };
    let d = if w.lang == "en" { &CEN } else { &CFA };
    let mut keys = s.engine.definitions().await?;
    keys.retain(|k| may_see(&st, &k.process));
    keys.sort_by(|x, y| (&x.process, x.version).cmp(&(&y.process, y.version)));
    let mut page = ComparePage {
        c: st.chrome(w, "/ui/compare"),
        d,
        choices: Vec::new(),
        a: q.a.clone().unwrap_or_default(),
        b: q.b.clone().unwrap_or_default(),
        rows: Vec::new(),
        sides: Vec::new(),
        note: None,
    };
    for k in &keys {
        let title = match s.engine.process_version(&k.process, k.version).await? {
            Some(p) if w.lang == "en" => p.title_en.clone().unwrap_or_else(|| p.title.clone()),
            Some(p) => p.title.clone(),
            None => k.process.clone(),
        };
        page.choices.push((
            format!("{}@{}", k.process, k.version),
            format!("{title} — {} {}", d.version, digits(w, &k.version.to_string())),
        ));
    }
    let (Some(a), Some(b)) = (q.a.as_deref(), q.b.as_deref()) else {
        page.note = Some(d.pick.to_owned());
        return Ok(with_cookies(html(StatusCode::OK, page.render()), lang));
    };
    let mut found: Vec<Arc<Process>> = Vec::new();
    for spec in [a, b] {
        let (id, version) = spec.split_once('@').unwrap_or((spec, ""));
        let p = if !may_see(&st, id) {
            None
        } else if version.is_empty() {
            s.engine.process(id).await?
        } else {
            match version.parse::<u32>() {
                Ok(v) => s.engine.process_version(id, v).await?,
                Err(_) => None,
            }
        };
        match p {
            Some(p) => found.push(p),
            None => {
                return Ok(refusal_page(
                    &st,
                    w,
                    StatusCode::NOT_FOUND,
                    &format!("{spec}: {}", d.no_such),
                ))
            }
        }
    }
    let (pa, pb) = (&found[0], &found[1]);
    page.a = format!("{}@{}", pa.id.0, pa.version);
    page.b = format!("{}@{}", pb.id.0, pb.version);
    page.rows = crate::measure::compare(pa, pb)
        .into_iter()
        .map(|c| {
            let fa = crate::render::html::figure_fa(&c.figure);
            let name = if w.lang == "en" || fa.is_empty() {
                c.figure.clone()
            } else {
                fa
            };
            // What the models count is a whole number; expectations are not.
            let count = !c.figure.starts_with("expected");
            Row {
                name,
                old: number(w, c.old, count),
                new: number(w, c.new, count),
                change: c
                    .percent
                    .map_or_else(|| "—".to_owned(), |p| digits(w, &format!("{p:+.0}٪"))),
                key: c.figure,
            }
        })
        .collect();
    for (p, side) in [(pa, d.old), (pb, d.new)] {
        let title = match (w.lang, &p.title_en) {
            ("en", Some(t)) => t.clone(),
            _ => p.title.clone(),
        };
        let title = format!("{side}: {title} — {} {}", d.version, digits(w, &p.version.to_string()));
        page.sides.push(Side {
            short: format!("{side} ({} {})", d.version, digits(w, &p.version.to_string())),
            graph: super::graph::svg(&tagged_dot(p), &title),
            title,
        });
    }
    Ok(with_cookies(html(StatusCode::OK, page.render()), lang))
}
