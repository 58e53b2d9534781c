//! The processes pages: `/ui/processes` (each deployed process and its
//! versions), `/ui/processes/{id}` (one version: its graph with the tagged
//! steps marked, and its `measure` figures), and `/ui/processes/check`
//! (the validator's diagnostics for a pasted definition, each at its line,
//! the line marked in the text; nothing is deployed).
//!
//! Must not: deploy (that is the API's, for analysts), or show a clerk a
//! process it is not granted.

use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::super::{Access, ApiError, Service};
use super::desk::{checked, digits, engine_refusal, refusal_page};
use super::html;
use super::staff::{field, form_fields, staff, to_login, with_cookies, words, Chrome, Staff, Words};
use crate::definition::Tag;
use crate::diagnostic::Severity;

/// The largest definition the check form takes (the API's body limit is larger; a form is typed or pasted).
const MAX_PASTED: usize = 512 * 1024;

/// The tags marked on a graph, in the order a step's fill is chosen, with
/// their fills.
const MARKED: [(Tag, &str); 4] = [
    (Tag::Discretionary, "#f6c1c1"),
    (Tag::Signature, "#c9d7f7"),
    (Tag::Inspection, "#f7e2b5"),
    (Tag::Payment, "#c6efd6"),
];

/// The processes pages' own words.
struct PWords {
    processes: &'static str,
    versions: &'static str,
    version: &'static str,
    none: &'static str,
    figures: &'static str,
    check: &'static str,
    compare: &'static str,
    check_hint: &'static str,
    source: &'static str,
    file_name: &'static str,
    send: &'static str,
    no_problems: &'static str,
    problems: &'static str,
    error: &'static str,
    warning: &'static str,
    too_big: &'static str,
    unreadable: &'static str,
    upload: &'static str,
    tags: [&'static str; 4],
    figure_names: [&'static str; 10],
}

const PFA: PWords = PWords {
    processes: "فرایندها",
    versions: "نسخه‌ها",
    version: "نسخه",
    none: "فرایندی در دسترس شما نیست.",
    figures: "شمارش‌ها",
    check: "بررسی یک تعریف",
    compare: "مقایسهٔ دو فرایند یا دو نسخه",
    check_hint: "متن YAML یک فرایند را اینجا بگذارید؛ هر ایراد با شمارهٔ سطرش نشان داده می‌شود. چیزی مستقر نمی‌شود.",
    source: "متن تعریف",
    file_name: "نام پرونده",
    send: "بررسی",
    no_problems: "ایرادی نیست.",
    problems: "ایرادها",
    error: "خطا",
    warning: "هشدار",
    too_big: "متن بیش از اندازه بزرگ است.",
    unreadable: "این فرم خوانده نشد (پرونده باید متن UTF-8 باشد).",
    upload: "یا بارگذاری پروندهٔ YAML",
    tags: ["امضای طلایی (صلاحدیدی)", "امضا", "بازدید", "پرداخت"],
    figure_names: [
        "گام‌ها",
        "دروازه‌های مسیریابی",
        "دست‌به‌دست شدن‌ها",
        "نقش‌های درگیر",
        "امضاهای طلایی",
        "امضاها",
        "تأییدها",
        "گام‌های دارای مهلت",
        "کمترین گام در یک پرونده",
        "بیشترین گام در یک پرونده",
    ],
};

const PEN: PWords = PWords {
    processes: "Processes",
    versions: "Versions",
    version: "version",
    none: "No process is open to you.",
    figures: "Figures",
    check: "Check a definition",
    compare: "Compare two processes or versions",
    check_hint: "Paste a process's YAML here; every problem is shown at its line. Nothing is deployed.",
    source: "Definition",
    file_name: "File name",
    send: "Check",
    no_problems: "No problems.",
    problems: "Problems",
    error: "error",
    warning: "warning",
    too_big: "The text is too large.",
    unreadable: "The form could not be read (a file must be UTF-8 text).",
    upload: "or upload a YAML file",
    tags: ["discretionary (golden signature)", "signature", "inspection", "payment"],
    figure_names: [
        "steps",
        "routing gateways",
        "hand-offs",
        "roles involved",
        "discretionary signatures",
        "signatures",
        "approvals",
        "steps with a deadline",
        "fewest steps in a case",
        "most steps in a case",
    ],
};

fn pwords(w: &Words) -> &'static PWords {
    if w.lang == "en" {
        &PEN
    } else {
        &PFA
    }
}

/// Whether this member of staff may see `process`'s definition.
pub(super) fn may_see(st: &Staff, process: &str) -> bool {
    matches!(st.caller.access, Access::Analyst | Access::Auditor | Access::Admin) || st.caller.actor.may_read(process)
}

/// A process's graph in DOT with its discretionary, signature, inspection
/// and payment steps filled in.
pub(super) fn tagged_dot(p: &crate::model::Process) -> String {
    crate::render::dot_marked(p, |ix| {
        let tags = p.step(ix).tags;
        MARKED.iter().find(|(t, _)| tags.contains(*t)).map(|(_, fill)| *fill)
    })
}

/// A process on the list.
struct Listed {
    href: String,
    title: String,
    id: String,
    versions: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "processes.html")]
struct ListPage {
    c: Chrome,
    p: &'static PWords,
    items: Vec<Listed>,
}

/// The language query (and, for one process, its version).
#[derive(Debug, Default, Deserialize)]
pub(super) struct LangQuery {
    lang: Option<String>,
    version: Option<String>,
}

impl LangQuery {
    /// The language asked for.
    pub(super) fn lang(&self) -> Option<&str> {
        self.lang.as_deref()
    }
}

/// `GET /ui/processes`.
pub(super) async fn list(
    State(s): State<Arc<Service>>,
    h: HeaderMap,
    Query(q): Query<LangQuery>,
) -> Result<Response, ApiError> {
    let (w, lang) = words(&h, q.lang.as_deref());
    let Some(st) = staff(&s, &h).await? else {
        return Ok(to_login("/ui/processes"));
    };
    let mut by: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for k in s.engine.definitions().await? {
        if may_see(&st, &k.process) {
            by.entry(k.process).or_default().push(k.version);
        }
    }
    let mut items = Vec::new();
    for (id, mut versions) in by {
        versions.sort_unstable();
        let latest = s.engine.process(&id).await?;
        let title = latest.map_or(id.clone(), |p| match (w.lang, &p.title_en) {
            ("en", Some(t)) => t.clone(),
            _ => p.title.clone(),
        });
        items.push(Listed {
            href: format!("/ui/processes/{id}"),
            versions: versions
                .iter()
                .map(|v| (format!("/ui/processes/{id}?version={v}"), digits(w, &v.to_string())))
                .collect(),
            title,
            id,
        });
    }
    let page = ListPage {
        c: st.chrome(w, "/ui/processes"),
        p: pwords(w),
        items,
    };
    Ok(with_cookies(html(StatusCode::OK, page.render()), lang))
}

#[derive(Template)]
#[template(path = "process.html")]
struct ProcessPage {
    c: Chrome,
    p: &'static PWords,
    title: String,
    id: String,
    version: String,
    versions: Vec<(String, String, bool)>,
    graph: Option<String>,
    legend: Vec<(&'static str, &'static str, String)>,
    figures: Vec<(&'static str, String)>,
}

/// `GET /ui/processes/{id}` (`?version=N`, else the newest).
pub(super) async fn one(
    State(s): State<Arc<Service>>,
    h: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<LangQuery>,
) -> Result<Response, ApiError> {
    let (w, lang) = words(&h, q.lang.as_deref());
    let here = format!("/ui/processes/{id}");
    let Some(st) = staff(&s, &h).await? else {
        return Ok(to_login(&here));
    };
    let pw = pwords(w);
    if !may_see(&st, &id) {
        return Ok(refusal_page(
            &st,
            w,
            StatusCode::FORBIDDEN,
            &format!("process `{id}` is not granted to you"),
        ));
    }
    let found = match q.version.as_deref().map(str::parse::<u32>) {
        None => s.engine.process(&id).await,
        Some(Ok(v)) => s.engine.process_version(&id, v).await,
        Some(Err(_)) => Ok(None),
    };
    let p = match found {
        Ok(Some(p)) => p,
        Ok(None) => return Ok(engine_refusal(&st, w, crate::engine::EngineError::NoSuchProcess(id))),
        Err(e) => return Ok(engine_refusal(&st, w, e)),
    };
    let mut versions: Vec<u32> = s
        .engine
        .definitions()
        .await?
        .into_iter()
        .filter(|k| k.process == id)
        .map(|k| k.version)
        .collect();
    versions.sort_unstable();
    let dot = tagged_dot(&p);
    let m = crate::measure::measure(&p);
    let n = |x: u32| digits(w, &x.to_string());
    let values = [
        m.steps,
        m.gateways,
        m.handoffs,
        m.roles_involved,
        m.discretionary,
        m.signatures,
        m.approvals,
        m.with_deadline,
        m.path.fewest_steps,
        m.path.most_steps,
    ];
    let figures = pw.figure_names.iter().copied().zip(values.into_iter().map(n)).collect();
    let legend = MARKED
        .iter()
        .zip(pw.tags)
        .map(|((t, fill), name)| (name, *fill, n(m.steps_by_tag.get(t.name()).copied().unwrap_or(0))))
        .collect();
    let page = ProcessPage {
        c: st.chrome(w, &here),
        p: pw,
        title: match (w.lang, &p.title_en) {
            ("en", Some(t)) => t.clone(),
            _ => p.title.clone(),
        },
        id: id.clone(),
        version: n(p.version),
        versions: versions
            .iter()
            .map(|v| (format!("{here}?version={v}"), n(*v), *v == p.version))
            .collect(),
        graph: super::graph::svg(&dot, &format!("{}: {}", w.graph, p.title)),
        legend,
        figures,
    };
    Ok(with_cookies(html(StatusCode::OK, page.render()), lang))
}

/// A diagnostic as the check page shows it.
struct Shown {
    at: String,
    line: u32,
    severity: &'static str,
    error: bool,
    code: &'static str,
    message: String,
    help: Option<String>,
}

#[derive(Template)]
#[template(path = "check.html")]
struct CheckPage {
    c: Chrome,
    p: &'static PWords,
    name: String,
    source: String,
    checked: bool,
    refusal: Option<&'static str>,
    problems: Vec<Shown>,
    lines: Vec<(String, String, bool)>,
}

fn check_page(st: &Staff, w: &'static Words) -> CheckPage {
    CheckPage {
        c: st.chrome(w, "/ui/processes/check"),
        p: pwords(w),
        name: "definition.yaml".into(),
        source: String::new(),
        checked: false,
        refusal: None,
        problems: Vec::new(),
        lines: Vec::new(),
    }
}

/// `GET /ui/processes/check`: the form.
pub(super) async fn check_form(
    State(s): State<Arc<Service>>,
    h: HeaderMap,
    Query(q): Query<LangQuery>,
) -> Result<Response, ApiError> {
    let (w, lang) = words(&h, q.lang.as_deref());
    let Some(st) = staff(&s, &h).await? else {
        return Ok(to_login("/ui/processes/check"));
    };
    Ok(with_cookies(html(StatusCode::OK, check_page(&st, w).render()), lang))
}

/// `POST /ui/processes/check` (`_csrf`, `name`, `source`): the diagnostics.
pub(super) async fn check(
    State(s): State<Arc<Service>>,
    h: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let (w, _) = words(&h, None);
    let read = form_fields(&h, body).await;
    let f = read.as_ref().map_or(&[][..], Vec::as_slice);
    let st = match checked(&s, &h, f, "/ui/processes/check").await? {
        Ok(st) => st,
        Err(r) => return Ok(*r),
    };
    let mut page = check_page(&st, w);
    if read.is_err() || f.iter().any(|(k, _)| k.ends_with(".unreadable")) {
        page.refusal = Some(page.p.unreadable);
        return Ok(html(StatusCode::UNPROCESSABLE_ENTITY, page.render()));
    }
    // An uploaded file stands in for the text when nothing was pasted.
    let pasted = field(f, "source").filter(|t| !t.trim().is_empty());
    let uploaded = field(f, "file").filter(|t| !t.trim().is_empty());
    let source = pasted.or(uploaded).unwrap_or("");
    let named = field(f, "name")
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .or_else(|| field(f, "file.name").filter(|_| pasted.is_none()));
    if let Some(name) = named {
        page.name = name.chars().take(200).collect();
    }
    if source.len() > MAX_PASTED {
        page.refusal = Some(page.p.too_big);
        return Ok(html(StatusCode::PAYLOAD_TOO_LARGE, page.render()));
    }
    let diags = match s.engine.check_definition(&page.name, source).await {
        Ok(d) => d,
        Err(e) => return Ok(engine_refusal(&st, w, e)),
    };
    let marked: std::collections::HashSet<u32> = diags.iter().map(|d| d.line).collect();
    page.lines = source
        .lines()
        .enumerate()
        .map(|(i, l)| {
            let n = i as u32 + 1;
            (n.to_string(), l.to_owned(), marked.contains(&n))
        })
        .collect();
    page.problems = diags
        .into_iter()
        .map(|d| {
            let error = d.severity == Severity::Error;
            Shown {
                at: format!("{}:{}:{}", d.file, d.line, d.column),
                line: d.line,
                severity: if error { page.p.error } else { page.p.warning },
                error,
                code: d.code,
                message: d.message,
                help: d.help,
            }
        })
        .collect();
    page.source = source.to_owned();
    page.checked = true;
    let status = if page.problems.iter().any(|p| p.error) {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(html(status, page.render()))
}
