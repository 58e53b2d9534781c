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
    simulate: &'static str,
    cases: &'static str,
    seed: &'static str,
    sim_note: &'static str,
    bad_cases: &'static str,
    bad_seed: &'static str,
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
    simulate: "با شبیه‌سازی",
    cases: "پرونده‌ها",
    seed: "بذر",
    sim_note: "شبیه‌سازی هر دو نسخه با یک سناریو: پرونده‌ها روزی یکی می‌رسند، مدت‌ها و احتمال‌ها همان‌اند که تعریف می‌گوید، و کسی در صف نمی‌ماند (سناریوی پیش‌فرض ravand simulate؛ سناریوی دیگر با ravand compare --scenario).",
    bad_cases: "شمار پرونده‌ها باید عددی از ۱ تا ۵۰۰۰ باشد",
    bad_seed: "بذر باید عددی نامنفی باشد",
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
    simulate: "with a simulation",
    cases: "cases",
    seed: "seed",
    sim_note: "Both versions simulated under one scenario: one case a day, the definition's durations and probabilities, nobody queues (ravand simulate's default scenario; another with ravand compare --scenario).",
    bad_cases: "the number of cases must be a whole number from 1 to 5000",
    bad_seed: "the seed must be a whole number, not negative",
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
    sim: bool,
    cases: String,
    seed: String,
    sim_note: Option<String>,
}

/// The page's query: `ID@VERSION` each (the version may be left out).
#[derive(Debug, Default, Deserialize)]
pub(super) struct CompareQuery {
    lang: Option<String>,
    a: Option<String>,
    b: Option<String>,
    /// Add the simulated figures.
    sim: Option<String>,
    /// How many cases to simulate (1–[`MAX_SIM_CASES`], by default
    /// [`SIM_CASES`]).
    cases: Option<String>,
    /// The simulation's seed (by default 1).
    seed: Option<String>,
}

/// Cases simulated per version unless the form says otherwise.
pub const SIM_CASES: u32 = 500;
/// The most cases the page simulates per version.
pub const MAX_SIM_CASES: u32 = 5000;

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
        sim: q.sim.is_some(),
        cases: q.cases.clone().unwrap_or_else(|| SIM_CASES.to_string()),
        seed: q.seed.clone().unwrap_or_else(|| "1".to_owned()),
        sim_note: None,
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
    let mut found: Vec<Arc<crate::engine::Deployment>> = Vec::new();
    for spec in [a, b] {
        let (id, version) = spec.split_once('@').unwrap_or((spec, ""));
        let dep = if !may_see(&st, id) {
            None
        } else if version.is_empty() {
            s.engine.latest_deployment(id).await?
        } else {
            match version.parse::<u32>() {
                Ok(v) => s.engine.deployed(id, v).await?,
                Err(_) => None,
            }
        };
        match dep {
            Some(dep) => found.push(dep),
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
    let sims = if page.sim {
        let cases = match page.cases.trim().parse::<u32>() {
            Ok(n) if (1..=MAX_SIM_CASES).contains(&n) => n,
            _ => return Ok(refusal_page(&st, w, StatusCode::UNPROCESSABLE_ENTITY, d.bad_cases)),
        };
        let Ok(seed) = page.seed.trim().parse::<u64>() else {
            return Ok(refusal_page(&st, w, StatusCode::UNPROCESSABLE_ENTITY, d.bad_seed));
        };
        let deps = (found[0].clone(), found[1].clone());
        let ran = tokio::task::spawn_blocking(move || simulate_both(&deps.0, &deps.1, cases, seed))
            .await
            .map_err(|e| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    format!("the simulation stopped: {e}"),
                )
            })?;
        match ran {
            Ok(r) => Some(r),
            Err(e) => return Ok(refusal_page(&st, w, StatusCode::UNPROCESSABLE_ENTITY, &e)),
        }
    } else {
        None
    };
    let found: Vec<Arc<Process>> = found.iter().map(|d| d.process.clone()).collect();
    let (pa, pb) = (&found[0], &found[1]);
    page.a = format!("{}@{}", pa.id.0, pa.version);
    page.b = format!("{}@{}", pb.id.0, pb.version);
    let mut changes = crate::measure::compare(pa, pb);
    if let Some((ra, rb)) = &sims {
        changes.extend(crate::sim::compare_rows(ra, rb));
        page.sim_note = Some(d.sim_note.to_owned());
    }
    page.rows = changes
        .into_iter()
        .map(|c| {
            let fa = crate::render::html::figure_fa(&c.figure);
            let name = if w.lang == "en" || fa.is_empty() {
                c.figure.clone()
            } else {
                fa
            };
            // What the models count is a whole number; expectations are not.
            let count = !c.figure.starts_with("expected") && !c.figure.starts_with("simulated");
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

/// Both versions simulated under the default scenario with `cases` and
/// `seed`, each on its own calendar.
fn simulate_both(
    a: &crate::engine::Deployment,
    b: &crate::engine::Deployment,
    cases: u32,
    seed: u64,
) -> Result<(crate::sim::Report, crate::sim::Report), String> {
    let (mut sc, _) = crate::sim::default_scenario().map_err(|d| {
        d.first().map_or_else(
            || "the default scenario does not load".to_owned(),
            |d| d.message.clone(),
        )
    })?;
    sc.cases = Some(cases);
    sc.seed = seed;
    let run =
        |d: &crate::engine::Deployment| crate::sim::simulate(&d.process, &d.calendar, &sc).map_err(|e| e.to_string());
    Ok((run(a)?, run(b)?))
}
