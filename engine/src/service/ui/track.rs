//! The citizen's page: `/track` (a form) and `/track/{code}` (where a case
//! stands), without login, rate-limited as the public API.
//!
//! Must not: show a citizen anything of the staff or the case data (that is
//! `Engine::track`'s choice).

use std::sync::Arc;

use askama::Template;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::super::Service;
use super::fa_digits;
use crate::engine::Tracked;
use crate::runtime::Status;

/// A page's words in one language.
struct Labels {
    lang: &'static str,
    dir: &'static str,
    title: &'static str,
    other: &'static str,
    other_lang: &'static str,
    code: &'static str,
    look: &'static str,
    status: &'static str,
    stage: &'static str,
    since: &'static str,
    due: &'static str,
    case_due: &'static str,
    expected: &'static str,
    done: &'static str,
    none_done: &'static str,
    not_found: &'static str,
    limited: &'static str,
}

const FA: Labels = Labels {
    lang: "fa",
    dir: "rtl",
    title: "پیگیری پرونده",
    other: "English",
    other_lang: "en",
    code: "کد پیگیری",
    look: "پیگیری",
    status: "وضعیت",
    stage: "مرحلهٔ کنونی",
    since: "از",
    due: "مهلت انجام",
    case_due: "مهلت پرونده",
    expected: "آنچه از شما انتظار می‌رود:",
    done: "مراحل انجام‌شده",
    none_done: "هنوز مرحله‌ای انجام نشده است.",
    not_found: "پرونده‌ای با این کد پیگیری نیست.",
    limited: "درخواست‌ها بیش از اندازه است؛ چند ثانیه دیگر دوباره بکوشید.",
};

const EN: Labels = Labels {
    lang: "en",
    dir: "ltr",
    title: "Track a case",
    other: "فارسی",
    other_lang: "fa",
    code: "Tracking code",
    look: "Look up",
    status: "Status",
    stage: "Now at",
    since: "Since",
    due: "Due",
    case_due: "Case deadline",
    expected: "What is expected of you:",
    done: "Steps done",
    none_done: "No step is done yet.",
    not_found: "No case has this tracking code.",
    limited: "Too many lookups; try again in a few seconds.",
};

/// The case as the page shows it: every text in the page's language.
struct Shown {
    process: String,
    status: String,
    stage: Vec<String>,
    since: Option<String>,
    due: Vec<String>,
    case_due: Option<String>,
    expected: Vec<String>,
    done: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "track.html")]
struct TrackPage<'a> {
    l: &'a Labels,
    code: String,
    switch_href: String,
    refusal: Option<&'static str>,
    case: Option<Shown>,
}

/// `?lang=en` (anything else is Persian) and, on the form, `code`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct PageQuery {
    lang: Option<String>,
    code: Option<String>,
}

impl PageQuery {
    fn labels(&self) -> &'static Labels {
        if self.lang.as_deref() == Some("en") {
            &EN
        } else {
            &FA
        }
    }
}

pub(super) fn status_text(s: Status, en: bool) -> &'static str {
    match (s, en) {
        (Status::Running, false) => "در جریان",
        (Status::Suspended, false) => "متوقف",
        (Status::Completed, false) => "پایان یافته",
        (Status::Terminated, false) => "خاتمه یافته",
        (Status::Cancelled, false) => "لغو شده",
        (Status::Running, true) => "in progress",
        (Status::Suspended, true) => "suspended",
        (Status::Completed, true) => "completed",
        (Status::Terminated, true) => "ended",
        (Status::Cancelled, true) => "cancelled",
    }
}

fn shown(t: Tracked, en: bool) -> Shown {
    let d = |s: String| if en { s } else { fa_digits(&s) };
    let process = match (en, t.process_en) {
        (true, Some(title)) => title,
        _ => t.process,
    };
    Shown {
        process,
        status: status_text(t.status, en).to_owned(),
        stage: t.stage,
        since: t.since.map(d),
        due: t.due.into_iter().map(d).collect(),
        case_due: t.case_due.map(d),
        expected: t.expected,
        done: t.done.into_iter().map(|(title, when)| (title, d(when))).collect(),
    }
}

fn page(status: StatusCode, p: &TrackPage<'_>) -> Response {
    super::html(status, p.render())
}

fn switch_href(path: &str, en: bool) -> String {
    if en {
        path.to_owned()
    } else {
        format!("{path}?lang=en")
    }
}

/// Whether `code` can be a tracking code (letters and digits, not too long).
fn plausible(code: &str) -> bool {
    !code.is_empty() && code.len() <= 64 && code.chars().all(|c| c.is_ascii_alphanumeric())
}

/// `GET /track`: the form; with `code`, on to that code's page.
pub(super) async fn track_form(Query(q): Query<PageQuery>) -> Response {
    let l = q.labels();
    let en = l.lang == "en";
    match q.code.as_deref().map(str::trim) {
        Some(code) if plausible(code) => {
            let to = format!(
                "/track/{}{}",
                code.to_ascii_uppercase(),
                if en { "?lang=en" } else { "" }
            );
            Redirect::to(&to).into_response()
        }
        Some(code) => page(
            StatusCode::NOT_FOUND,
            &TrackPage {
                l,
                code: code.chars().take(64).collect(),
                switch_href: switch_href("/track", en),
                refusal: Some(l.not_found),
                case: None,
            },
        ),
        None => page(
            StatusCode::OK,
            &TrackPage {
                l,
                code: String::new(),
                switch_href: switch_href("/track", en),
                refusal: None,
                case: None,
            },
        ),
    }
}

/// `GET /track/{code}`: where the case stands, for its citizen.
pub(super) async fn track_case(
    State(s): State<Arc<Service>>,
    peer: Option<axum::Extension<ConnectInfo<std::net::SocketAddr>>>,
    Path(code): Path<String>,
    Query(q): Query<PageQuery>,
) -> Response {
    let l = q.labels();
    let en = l.lang == "en";
    let here = format!("/track/{code}");
    let mut p = TrackPage {
        l,
        code: code.chars().take(64).collect(),
        switch_href: switch_href(&here, en),
        refusal: None,
        case: None,
    };
    if !s.public_limit.check(peer.map(|p| p.0 .0)) {
        s.metrics.rate_limited.inc();
        p.refusal = Some(l.limited);
        return page(StatusCode::TOO_MANY_REQUESTS, &p);
    }
    // Codes are upper case; a code typed in lower case is the same code.
    let found = if plausible(&code) {
        s.engine.track(&code.to_ascii_uppercase()).await
    } else {
        Ok(None)
    };
    match found {
        Ok(Some(t)) => {
            p.case = Some(shown(t, en));
            page(StatusCode::OK, &p)
        }
        Ok(None) => {
            p.refusal = Some(l.not_found);
            page(StatusCode::NOT_FOUND, &p)
        }
        Err(e) => super::super::ApiError::from(e).into_response(),
    }
}
