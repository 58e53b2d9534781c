//! A case's page for staff: where it stands, its open tasks and timers
//! with their due dates, its incidents, its data, its history with dates
//! in both calendars, and, for those allowed, suspend, resume and cancel.
//!
//! Must not: decide who may manage a case (the engine checks it in the
//! unit of work; the buttons are only shown to those it would let).

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::super::{ApiError, Service};
use super::desk::{checked, digits, engine_refusal, refusal_page};
use super::staff::{field, fields, staff, to_login, with_cookies, words, Chrome, Staff, Words};
use super::{html, track::status_text};
use crate::engine::{CaseId, CaseRecord};
use crate::runtime::{Command, Status};

/// An open incident as the case page lists it, with its repair form.
struct Incident {
    token: u32,
    step: String,
    message: String,
    /// The data typed into the form (kept when it is refused).
    data: String,
    /// Why the form was refused, beside its field.
    error: Option<String>,
}

/// An open task as the case page lists it.
struct OpenTask {
    href: String,
    title: String,
    assignee: String,
    due: String,
    overdue: bool,
}

#[derive(Template)]
#[template(path = "case.html")]
struct CasePage {
    c: Chrome,
    id: String,
    href: String,
    process: String,
    tracking: String,
    status: &'static str,
    outcome: Option<String>,
    stage: Vec<String>,
    case_due: Option<String>,
    tasks: Vec<OpenTask>,
    timers: Vec<String>,
    incidents: Vec<Incident>,
    data: Vec<(String, String)>,
    moments: Vec<(String, String)>,
    running: bool,
    suspended: bool,
    may_manage: bool,
    notice: Option<&'static str>,
    graph: Option<String>,
}

/// The case page's query.
#[derive(Debug, Default, Deserialize)]
pub(super) struct CaseQuery {
    lang: Option<String>,
    done: Option<String>,
}

/// The signed-in member of staff and case `id`'s record as they may see
/// it; else the page that says why not (the login page, a 404, a 403).
async fn record(
    s: &Service,
    h: &HeaderMap,
    w: &'static Words,
    id: &str,
) -> Result<Result<(Staff, CaseId, CaseRecord), Box<Response>>, ApiError> {
    let Some(st) = staff(s, h).await? else {
        return Ok(Err(Box::new(to_login(&format!("/ui/cases/{id}")))));
    };
    let case = match super::super::api::case_id(id) {
        Ok(c) => c,
        Err(e) => {
            return Ok(Err(Box::new(refusal_page(
                &st,
                w,
                StatusCode::NOT_FOUND,
                &e.body.message,
            ))))
        }
    };
    match s.engine.case_record_as(&st.caller.actor, case).await {
        Ok(r) => Ok(Ok((st, case, r))),
        Err(e) => Ok(Err(Box::new(engine_refusal(&st, w, e)))),
    }
}

/// `GET /ui/cases/{id}`.
pub(super) async fn case(
    State(s): State<Arc<Service>>,
    h: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<CaseQuery>,
) -> Result<Response, ApiError> {
    let (w, lang) = words(&h, q.lang.as_deref());
    let here = format!("/ui/cases/{id}");
    let (st, case, r) = match record(&s, &h, w, &id).await? {
        Ok(x) => x,
        Err(r) => return Ok(*r),
    };
    let notice = match q.done.as_deref() {
        Some("managed") => Some(w.managed),
        Some("resolved") => Some(w.resolved),
        _ => None,
    };
    let page = page_of(&st, w, &here, case, &r, notice, None);
    Ok(with_cookies(html(StatusCode::OK, page.render()), lang))
}

/// The case page of `r`; `refused`: an incident's form that was refused,
/// (token, what was typed, why).
fn page_of(
    st: &Staff,
    w: &'static Words,
    here: &str,
    case: CaseId,
    r: &CaseRecord,
    notice: Option<&'static str>,
    refused: Option<(u32, &str, &str)>,
) -> CasePage {
    let en = w.lang == "en";
    let v = &r.view;
    CasePage {
        c: st.chrome(w, here),
        id: digits(w, &case.0.to_string()),
        href: here.to_owned(),
        process: match (en, &r.process_title_en) {
            (true, Some(t)) => t.clone(),
            _ => r.process_title.clone(),
        },
        tracking: r.tracking_code.clone(),
        status: status_text(v.status, en),
        outcome: v.outcome.clone(),
        stage: v.stage.iter().map(|(_, t)| t.clone()).collect(),
        case_due: v.case_due.as_deref().map(|d| digits(w, d)),
        tasks: v
            .tasks
            .iter()
            .map(|t| OpenTask {
                href: format!("{here}/tasks/{}", t.task.0),
                title: t.title.clone(),
                assignee: t.assignee.clone().unwrap_or_else(|| w.nobody.to_owned()),
                due: t.due.as_deref().map_or(w.nobody.to_owned(), |d| digits(w, d)),
                overdue: t.overdue,
            })
            .collect(),
        timers: r.timers.iter().map(|t| digits(w, t)).collect(),
        incidents: r
            .incidents
            .iter()
            .map(|i| {
                let (data, error) = match refused {
                    Some((t, d, e)) if t == i.token.0 => (d.to_owned(), Some(e.to_owned())),
                    _ => (String::new(), None),
                };
                Incident {
                    token: i.token.0,
                    step: i.step.clone(),
                    message: i.message.clone(),
                    data,
                    error,
                }
            })
            .collect(),
        data: v
            .data
            .iter()
            .map(|(k, x)| {
                let text = match x {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), text)
            })
            .collect(),
        moments: r
            .moments
            .iter()
            .map(|m| {
                let what = if en || m.what_fa.is_empty() {
                    &m.what
                } else {
                    &m.what_fa
                };
                (digits(w, &m.at), what.clone())
            })
            .collect(),
        running: v.status == Status::Running,
        suspended: v.status == Status::Suspended,
        may_manage: r.may_manage,
        notice,
        graph: super::graph::svg(&r.graph, &format!("{}: {}", w.graph, r.process_title)),
    }
}

/// The signed-in sender of a form posted to case `id`'s page (its secret
/// and origin checked) and the case; else the page that answers instead.
async fn posted_to_case(
    s: &Service,
    h: &HeaderMap,
    w: &'static Words,
    f: &[(String, String)],
    id: &str,
) -> Result<Result<(Staff, CaseId), Box<Response>>, ApiError> {
    let st = match checked(s, h, f, &format!("/ui/cases/{id}")).await? {
        Ok(st) => st,
        Err(r) => return Ok(Err(r)),
    };
    match super::super::api::case_id(id) {
        Ok(c) => Ok(Ok((st, c))),
        Err(e) => Ok(Err(Box::new(refusal_page(
            &st,
            w,
            StatusCode::NOT_FOUND,
            &e.body.message,
        )))),
    }
}

/// `POST /ui/cases/{id}/incidents/{token}/resolve` (`_csrf`, and `data`: a
/// JSON object of values to set first, or nothing): the step is tried
/// again; the engine decides whether the caller may.
pub(super) async fn resolve(
    State(s): State<Arc<Service>>,
    h: HeaderMap,
    Path((id, token)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let (w, _) = words(&h, None);
    let here = format!("/ui/cases/{id}");
    let f = fields(&body);
    let (st, case) = match posted_to_case(&s, &h, w, &f, &id).await? {
        Ok(x) => x,
        Err(r) => return Ok(*r),
    };
    let Some(token) = token.parse::<u32>().ok().filter(|t| t.to_string() == token) else {
        return Ok(refusal_page(&st, w, StatusCode::NOT_FOUND, "no such incident"));
    };
    let text = field(&f, "data").map(str::trim).unwrap_or("");
    let values = if text.is_empty() {
        Ok(crate::runtime::Data::new())
    } else {
        serde_json::from_str::<crate::runtime::Data>(text).map_err(|e| format!("{}: {e}", w.bad_json))
    };
    let cmd = values.map(|values| Command::Resolve {
        token: crate::runtime::TokenId(token),
        values,
        by: Some(st.caller.user.clone()),
    });
    let refusal = match cmd {
        Ok(cmd) => match s.engine.command_as(&st.caller.actor, case, cmd).await {
            Ok(()) => return Ok(Redirect::to(&format!("{here}?done=resolved")).into_response()),
            Err(crate::engine::EngineError::Command(crate::runtime::CommandError::BadData(m))) => m,
            Err(e) => return Ok(engine_refusal(&st, w, e)),
        },
        Err(e) => e,
    };
    // Refused for what was typed: the page again, the reason beside the field.
    match s.engine.case_record_as(&st.caller.actor, case).await {
        Ok(r) => {
            let page = page_of(&st, w, &here, case, &r, None, Some((token, text, &refusal)));
            Ok(html(StatusCode::UNPROCESSABLE_ENTITY, page.render()))
        }
        Err(e) => Ok(engine_refusal(&st, w, e)),
    }
}

/// `POST /ui/cases/{id}/suspend|resume|cancel` (`_csrf`, for a cancel a
/// `reason`): the engine decides whether the caller may.
pub(super) async fn manage(
    State(s): State<Arc<Service>>,
    h: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let (w, _) = words(&h, None);
    let here = format!("/ui/cases/{id}");
    let f = fields(&body);
    let (st, case) = match posted_to_case(&s, &h, w, &f, &id).await? {
        Ok(x) => x,
        Err(r) => return Ok(*r),
    };
    let by = Some(st.caller.user.clone());
    let cmd = match action.as_str() {
        "suspend" => Command::Suspend { by },
        "resume" => Command::Resume { by },
        "cancel" => Command::Cancel {
            by,
            reason: field(&f, "reason")
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_owned),
        },
        _ => return Ok(refusal_page(&st, w, StatusCode::NOT_FOUND, "no such action")),
    };
    match s.engine.command_as(&st.caller.actor, case, cmd).await {
        Ok(()) => Ok(Redirect::to(&format!("{here}?done=managed")).into_response()),
        Err(e) => Ok(engine_refusal(&st, w, e)),
    }
}

/// `GET /ui/cases/{id}/graph.svg`: the case's graph as a document of its
/// own, at full size, for the browser to zoom and pan; set in Vazirmatn.
pub(super) async fn graph_svg(
    State(s): State<Arc<Service>>,
    h: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (w, _) = words(&h, None);
    let (st, _, r) = match record(&s, &h, w, &id).await? {
        Ok(x) => x,
        Err(r) => return Ok(*r),
    };
    let Some(svg) = super::graph::svg(&r.graph, &format!("{}: {}", w.graph, r.process_title)) else {
        return Ok(refusal_page(
            &st,
            w,
            StatusCode::UNPROCESSABLE_ENTITY,
            "the graph could not be laid out",
        ));
    };
    let style = "<style>@font-face { font-family: Vazirmatn; src: url(\"/ui/assets/fonts/Vazirmatn-Regular.woff2\") format(\"woff2\"); } \
        text { font-family: Vazirmatn, sans-serif; font-size: 14px; }</style>";
    let doc = match svg.find('>') {
        Some(at) => format!("{}{style}{}", &svg[..=at], &svg[at + 1..]),
        None => svg,
    };
    let mut res = doc.into_response();
    let hs = res.headers_mut();
    hs.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("image/svg+xml; charset=utf-8"),
    );
    // Its own style block is all it may use: no script, nothing from elsewhere.
    hs.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; font-src 'self'; frame-ancestors 'none'",
        ),
    );
    hs.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    hs.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}
