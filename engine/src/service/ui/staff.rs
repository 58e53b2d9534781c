//! Signing staff in and out of the console, and the session every staff
//! page and form goes through.
//!
//! A member of staff signs in at `/ui/login` with the same API token (or
//! identity-provider JWT) the API takes; the session is kept in the store
//! (every node knows it; signing out ends it everywhere) and its cookie is
//! `HttpOnly`, `SameSite=Strict`, limited to `/ui`, and `Secure` when the
//! request came over HTTPS (`X-Forwarded-Proto: https` from the proxy in
//! front). A session of a file token asks the tokens file again on every
//! request, so a token removed from it (SIGHUP) ends its sessions too; a
//! JWT's session ends when the JWT would. Every form carries the session's
//! secret (`_csrf`), and a browser's cross-site POST (`Origin`,
//! `Sec-Fetch-Site`) is refused before it is read; the login form carries a
//! secret of its own, double-submitted in a cookie, so nobody can sign a
//! victim in as someone else.

use std::sync::Arc;

use askama::Template;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use subtle::ConstantTimeEq;

use super::super::{Access, ApiError, Caller, Service, Token};
use super::html;
use crate::engine::{secret, Grants};

/// The session cookie.
pub(super) const SESSION_COOKIE: &str = "ravand_session";
/// The login form's double-submitted secret.
const LOGIN_COOKIE: &str = "ravand_login";
/// The chosen language (`en` or `fa`).
const LANG_COOKIE: &str = "ravand_lang";
/// How long a session lasts: a working day.
pub const SESSION_SECONDS: i64 = 8 * 3600;

/// The staff pages' words in one language.
pub(super) struct Words {
    pub lang: &'static str,
    pub dir: &'static str,
    pub other: &'static str,
    pub other_lang: &'static str,
    pub console: &'static str,
    pub login: &'static str,
    pub token: &'static str,
    pub token_hint: &'static str,
    pub sign_in: &'static str,
    pub logout: &'static str,
    pub bad_token: &'static str,
    pub stale_form: &'static str,
    pub cross_site: &'static str,
    pub limited: &'static str,
    pub desk: &'static str,
    pub mine: &'static str,
    pub roles: &'static str,
    pub no_tasks: &'static str,
    pub task: &'static str,
    pub process: &'static str,
    pub case: &'static str,
    pub role: &'static str,
    pub assignee: &'static str,
    pub nobody: &'static str,
    pub due: &'static str,
    pub overdue: &'static str,
    pub claim: &'static str,
    pub next_page: &'static str,
    pub first_page: &'static str,
    pub tracking: &'static str,
    pub opened: &'static str,
    pub notices: &'static str,
    pub shows: &'static str,
    pub inputs: &'static str,
    pub complete: &'static str,
    pub required: &'static str,
    pub completed: &'static str,
    pub claimed: &'static str,
    pub not_yours: &'static str,
    pub refused: &'static str,
    pub fix_fields: &'static str,
    pub not_number: &'static str,
    pub not_integer: &'static str,
    pub yes: &'static str,
    pub no: &'static str,
    pub kind_text: &'static str,
    pub kind_number: &'static str,
    pub kind_integer: &'static str,
    pub kind_bool: &'static str,
    pub kind_date: &'static str,
    pub kind_choice: &'static str,
    pub kind_list: &'static str,
    pub remind: &'static str,
    pub warn: &'static str,
    pub record: &'static str,
    pub reassign: &'static str,
    pub notify: &'static str,
    pub time_n: &'static str,
    pub back: &'static str,
    pub case_page: &'static str,
    pub status: &'static str,
    pub stage: &'static str,
    pub case_due: &'static str,
    pub open_tasks: &'static str,
    pub timers: &'static str,
    pub incidents: &'static str,
    pub history: &'static str,
    pub data: &'static str,
    pub suspend: &'static str,
    pub resume: &'static str,
    pub cancel: &'static str,
    pub reason: &'static str,
    pub managed: &'static str,
    pub resolved: &'static str,
    pub bad_json: &'static str,
    pub retry: &'static str,
    pub fix_data: &'static str,
    pub open_case: &'static str,
    pub graph: &'static str,
    pub here: &'static str,
    pub done_steps: &'static str,
    pub full_size: &'static str,
    pub processes: &'static str,
    pub manage: &'static str,
}

pub(super) const FA: Words = Words {
    lang: "fa",
    dir: "rtl",
    other: "English",
    other_lang: "en",
    console: "کارتابل راوند",
    login: "ورود کارکنان",
    token: "کلید دسترسی",
    token_hint: "کلید دسترسی (توکن) را که مدیر سامانه به شما داده است وارد کنید.",
    sign_in: "ورود",
    logout: "خروج",
    bad_token: "این کلید دسترسی پذیرفته نشد.",
    stale_form: "این فرم کهنه است؛ صفحه را دوباره باز کنید و دوباره بفرستید.",
    cross_site: "درخواست از پایگاه دیگری آمده است و پذیرفته نشد.",
    limited: "درخواست‌ها بیش از اندازه است؛ چند ثانیه دیگر دوباره بکوشید.",
    desk: "کارتابل",
    mine: "کارهای من",
    roles: "کارهای نقش‌های من",
    no_tasks: "کاری در این فهرست نیست.",
    task: "کار",
    process: "فرایند",
    case: "پرونده",
    role: "نقش",
    assignee: "در دست",
    nobody: "—",
    due: "مهلت",
    overdue: "گذشته از مهلت",
    claim: "برداشتن کار",
    next_page: "صفحهٔ بعد",
    first_page: "صفحهٔ نخست",
    tracking: "کد پیگیری",
    opened: "آغاز",
    notices: "تذکرها و اخطارها",
    shows: "اطلاعات پرونده",
    inputs: "آنچه باید ثبت شود",
    complete: "انجام شد",
    required: "لازم",
    completed: "کار انجام و ثبت شد.",
    claimed: "کار را برداشتید.",
    not_yours: "شما اجازهٔ انجام این کار را ندارید؛ فقط می‌توانید آن را ببینید.",
    refused: "پذیرفته نشد:",
    fix_fields: "برخی خانه‌ها درست پر نشده‌اند.",
    not_number: "باید عدد باشد.",
    not_integer: "باید عدد درست (بی‌اعشار) باشد.",
    yes: "بله",
    no: "خیر",
    kind_text: "متن",
    kind_number: "عدد",
    kind_integer: "عدد درست",
    kind_bool: "بله یا خیر",
    kind_date: "تاریخ، مانند ۱۴۰۵-۰۱-۱۵",
    kind_choice: "یکی از گزینه‌ها",
    kind_list: "فهرستی جدا شده با ویرگول",
    remind: "تذکر",
    warn: "اخطار",
    record: "ثبت در پروندهٔ کارگزینی",
    reassign: "ارجاع به نقش دیگر",
    notify: "گزارش به مقام بالاتر",
    time_n: "بار",
    back: "بازگشت به کارتابل",
    case_page: "پرونده",
    status: "وضعیت",
    stage: "مرحلهٔ کنونی",
    case_due: "مهلت پرونده",
    open_tasks: "کارهای باز",
    timers: "زمان‌سنج‌ها",
    incidents: "گره‌ها",
    history: "سابقه",
    data: "اطلاعات",
    suspend: "توقف پرونده",
    resume: "ادامهٔ پرونده",
    cancel: "لغو پرونده",
    reason: "دلیل لغو",
    managed: "انجام شد.",
    resolved: "گام دوباره اجرا شد.",
    bad_json: "این داده‌ها یک شیء JSON نیستند",
    retry: "اجرای دوبارهٔ گام",
    fix_data: "داده‌های اصلاحی، به صورت JSON (اختیاری)",
    open_case: "دیدن پرونده",
    graph: "نمودار فرایند",
    here: "اکنون اینجاست",
    done_steps: "انجام‌شده",
    full_size: "نمودار در اندازهٔ کامل (برای بزرگ‌نمایی و جابه‌جایی)",
    processes: "فرایندها",
    manage: "داشبورد",
};

pub(super) const EN: Words = Words {
    lang: "en",
    dir: "ltr",
    other: "فارسی",
    other_lang: "fa",
    console: "Ravand desk",
    login: "Staff sign-in",
    token: "Access token",
    token_hint: "Enter the access token your administrator gave you.",
    sign_in: "Sign in",
    logout: "Sign out",
    bad_token: "This access token was not accepted.",
    stale_form: "This form is stale; open the page again and send it again.",
    cross_site: "The request came from another site and was refused.",
    limited: "Too many attempts; try again in a few seconds.",
    desk: "Desk",
    mine: "My tasks",
    roles: "My roles' tasks",
    no_tasks: "No task is on this list.",
    task: "Task",
    process: "Process",
    case: "Case",
    role: "Role",
    assignee: "Held by",
    nobody: "—",
    due: "Due",
    overdue: "overdue",
    claim: "Claim",
    next_page: "Next page",
    first_page: "First page",
    tracking: "Tracking code",
    opened: "Opened",
    notices: "Reminders and warnings",
    shows: "Case data",
    inputs: "To record",
    complete: "Done",
    required: "required",
    completed: "The task is done and recorded.",
    claimed: "You hold the task now.",
    not_yours: "You may not work this task; you may only see it.",
    refused: "Refused:",
    fix_fields: "Some fields are not filled in right.",
    not_number: "Must be a number.",
    not_integer: "Must be a whole number.",
    yes: "Yes",
    no: "No",
    kind_text: "text",
    kind_number: "number",
    kind_integer: "whole number",
    kind_bool: "yes or no",
    kind_date: "date, e.g. 1405-01-15 or 2026-04-04",
    kind_choice: "one of the choices",
    kind_list: "a list, separated by commas",
    remind: "reminder",
    warn: "warning",
    record: "recorded in the personnel file",
    reassign: "moved to another role",
    notify: "reported up",
    time_n: "time",
    back: "Back to the desk",
    case_page: "Case",
    status: "Status",
    stage: "Now at",
    case_due: "Case deadline",
    open_tasks: "Open tasks",
    timers: "Timers",
    incidents: "Incidents",
    history: "History",
    data: "Data",
    suspend: "Suspend the case",
    resume: "Resume the case",
    cancel: "Cancel the case",
    reason: "Why it is cancelled",
    managed: "Done.",
    resolved: "The step was tried again.",
    bad_json: "this data is not a JSON object",
    retry: "Try the step again",
    fix_data: "Corrected data, as JSON (optional)",
    open_case: "Open the case",
    graph: "Process graph",
    here: "now here",
    done_steps: "done",
    full_size: "The graph at full size (to zoom and pan)",
    processes: "Processes",
    manage: "Dashboard",
};

/// What every staff page shows around its content.
pub(super) struct Chrome {
    pub w: &'static Words,
    pub user: Option<String>,
    pub csrf: String,
    pub switch_href: String,
}

/// A signed-in member of staff.
pub(super) struct Staff {
    pub caller: Caller,
    pub csrf: String,
    session: String,
}

impl Staff {
    /// The page chrome for this person, on the page at `path`.
    pub fn chrome(&self, w: &'static Words, path: &str) -> Chrome {
        Chrome {
            w,
            user: Some(self.caller.user.clone()),
            csrf: self.csrf.clone(),
            switch_href: format!("{path}?lang={}", w.other_lang),
        }
    }
}

/// What a session stands for, as its row keeps it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
enum Subject {
    /// A token of the tokens file, by its SHA-256.
    Token(String),
    /// A JWT's verified claims.
    Claims(Token),
}

/// A caller as a tokens-file entry (for keeping a JWT's claims).
fn record(c: &Caller) -> Token {
    let (processes, roles) = match &c.actor.grants {
        Grants::Scoped(s) => (s.processes.iter().cloned().collect(), s.roles.iter().cloned().collect()),
        Grants::All | Grants::ReadAll => (Vec::new(), Vec::new()),
    };
    Token {
        sha256: String::new(),
        access: c.access,
        user: c.user.clone(),
        processes,
        roles,
    }
}

/// The value of cookie `name`.
pub(super) fn cookie<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// Whether the request came over HTTPS (as the proxy in front says).
fn secure(h: &HeaderMap) -> bool {
    h.get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// A `Set-Cookie` value.
fn set_cookie(h: &HeaderMap, name: &str, value: &str, path: &str, max_age: i64) -> HeaderValue {
    let flags = if secure(h) { "; Secure" } else { "" };
    let text = format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Strict{flags}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("ravand_invalid=; Max-Age=0"))
}

/// The language of a page: `?lang=` if given (and remembered in a
/// cookie), else the cookie's, else Persian.
pub(super) fn words(h: &HeaderMap, asked: Option<&str>) -> (&'static Words, Option<HeaderValue>) {
    let chosen = |l: &str| if l == "en" { &EN } else { &FA };
    match asked {
        Some(l) => {
            let w = chosen(l);
            (w, Some(set_cookie(h, LANG_COOKIE, w.lang, "/", 365 * 86400)))
        }
        None => (chosen(cookie(h, LANG_COOKIE).unwrap_or("fa")), None),
    }
}

/// Adds `Set-Cookie` headers to a response.
pub(super) fn with_cookies(mut r: Response, cookies: impl IntoIterator<Item = HeaderValue>) -> Response {
    for c in cookies {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r
}

/// Whether a browser says the request came from this site (a request
/// without `Origin` and `Sec-Fetch-Site`, from a program, passes: its form
/// secret still has to match).
pub(super) fn same_site(h: &HeaderMap) -> bool {
    let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok());
    // Browsers that send it say exactly where the request came from.
    if let Some(site) = get("sec-fetch-site") {
        return site == "same-origin" || site == "none";
    }
    // `Origin: null` is what a page without a referrer sends: no answer.
    match (get("origin").filter(|o| *o != "null"), get("host")) {
        (Some(origin), Some(host)) => origin == format!("http://{host}") || origin == format!("https://{host}"),
        (Some(_), None) => false,
        (None, _) => true,
    }
}

/// Whether two secrets are equal, in constant time.
pub(super) fn same_secret(a: &str, b: &str) -> bool {
    !a.is_empty() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

impl Service {
    /// The caller a session stands for now, if it still stands for one.
    fn session_caller(&self, subject: &str) -> Option<Caller> {
        match serde_json::from_str::<Subject>(subject).ok()? {
            Subject::Token(hash) => {
                let want = super::super::hex_bytes(&hash);
                let mut found = None;
                for (h, c) in self.tokens.read().unwrap_or_else(|e| e.into_inner()).iter() {
                    if bool::from(h.as_slice().ct_eq(want.as_slice())) {
                        found = Some(c.clone());
                    }
                }
                found
            }
            Subject::Claims(t) => Some(Caller::of(&t)),
        }
    }

    /// What a token typed at the login stands for, and until when (a
    /// JWT's expiry), if it is one the service accepts.
    fn login_subject(&self, token: &str) -> Option<(Subject, Option<i64>)> {
        let presented = sha2::Sha256::digest(token.as_bytes());
        let mut found = false;
        for (h, _) in self.tokens.read().unwrap_or_else(|e| e.into_inner()).iter() {
            if bool::from(h.as_slice().ct_eq(presented.as_slice())) {
                found = true;
            }
        }
        if found {
            return Some((Subject::Token(crate::service::sha256_hex(token)), None));
        }
        let verifier = self.verifier.read().unwrap_or_else(|e| e.into_inner()).clone()?;
        let (caller, exp) = verifier.verify_until(token)?;
        Some((Subject::Claims(record(&caller)), exp))
    }
}

/// The signed-in member of staff behind a request, if any.
pub(super) async fn staff(s: &Service, h: &HeaderMap) -> Result<Option<Staff>, ApiError> {
    let Some(id) = cookie(h, SESSION_COOKIE) else {
        return Ok(None);
    };
    let Some(session) = s.engine.session(id).await? else {
        return Ok(None);
    };
    Ok(s.session_caller(&session.subject).map(|caller| Staff {
        caller,
        csrf: session.csrf,
        session: id.to_owned(),
    }))
}

/// Where to go after signing in: a console page, never elsewhere.
pub(super) fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/ui/") && !n.starts_with("/ui//") && !n.contains('\\') && n.len() < 512 => {
            n.to_owned()
        }
        _ => "/ui/desk".to_owned(),
    }
}

/// To the login page, to come back to `here`.
pub(super) fn to_login(here: &str) -> Response {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("next", here);
    Redirect::to(&format!("/ui/login?{}", q.finish())).into_response()
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    c: Chrome,
    nonce: String,
    next: String,
    refusal: Option<&'static str>,
}

/// The login page's query.
#[derive(Debug, Default, Deserialize)]
pub(super) struct LoginQuery {
    lang: Option<String>,
    next: Option<String>,
}

/// The login form, with a fresh secret in the form and in a cookie.
fn login_page(
    h: &HeaderMap,
    w: &'static Words,
    next: String,
    status: StatusCode,
    refusal: Option<&'static str>,
) -> Response {
    let nonce = secret();
    let page = LoginPage {
        c: Chrome {
            w,
            user: None,
            csrf: String::new(),
            switch_href: format!("/ui/login?lang={}", w.other_lang),
        },
        nonce: nonce.clone(),
        next,
        refusal,
    };
    with_cookies(
        html(status, page.render()),
        [set_cookie(h, LOGIN_COOKIE, &nonce, "/ui/login", 900)],
    )
}

/// `GET /ui/login`: the form (a member of staff already signed in goes on).
pub(super) async fn login_form(
    State(s): State<Arc<Service>>,
    h: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Result<Response, ApiError> {
    let (w, lang) = words(&h, q.lang.as_deref());
    let next = safe_next(q.next.as_deref());
    if staff(&s, &h).await?.is_some() {
        return Ok(with_cookies(Redirect::to(&next).into_response(), lang));
    }
    Ok(with_cookies(login_page(&h, w, next, StatusCode::OK, None), lang))
}

/// The fields of a posted form, url-encoded or `multipart/form-data` (a
/// file's name as the field `NAME.name`, its content, UTF-8, as `NAME`; a
/// field that is not UTF-8 as `NAME.unreadable`, empty).
pub(super) async fn form_fields(h: &HeaderMap, body: axum::body::Bytes) -> Result<Vec<(String, String)>, String> {
    let kind = h
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !kind.starts_with("multipart/form-data") {
        return Ok(fields(&body));
    }
    let boundary = multer::parse_boundary(kind).map_err(|e| e.to_string())?;
    let mut form = multer::Multipart::with_reader(std::io::Cursor::new(body), boundary);
    let mut out = Vec::new();
    while let Some(f) = form.next_field().await.map_err(|e| e.to_string())? {
        let name = f.name().unwrap_or("").to_owned();
        if let Some(file) = f.file_name().filter(|n| !n.is_empty()) {
            out.push((format!("{name}.name"), file.to_owned()));
        }
        let bytes = f.bytes().await.map_err(|e| e.to_string())?;
        match String::from_utf8(bytes.to_vec()) {
            Ok(text) => out.push((name, text)),
            Err(_) => out.push((format!("{name}.unreadable"), String::new())),
        }
    }
    Ok(out)
}

/// A url-encoded form's fields, in order.
pub(super) fn fields(body: &[u8]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in form_urlencoded::parse(body) {
        if !out.iter().any(|(x, _)| *x == k) {
            out.push((k.into_owned(), v.into_owned()));
        }
    }
    out
}

/// A field's value.
pub(super) fn field<'a>(f: &'a [(String, String)], name: &str) -> Option<&'a str> {
    f.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// `POST /ui/login` (`token`, `nonce`, `next`): a session, or the form again.
pub(super) async fn login(
    State(s): State<Arc<Service>>,
    peer: Option<axum::Extension<ConnectInfo<std::net::SocketAddr>>>,
    h: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let (w, _) = words(&h, None);
    let f = fields(&body);
    let next = safe_next(field(&f, "next"));
    if !same_site(&h) {
        return Ok(login_page(&h, w, next, StatusCode::FORBIDDEN, Some(w.cross_site)));
    }
    let nonce_ok = match (field(&f, "nonce"), cookie(&h, LOGIN_COOKIE)) {
        (Some(a), Some(b)) => same_secret(a, b),
        _ => false,
    };
    if !nonce_ok {
        return Ok(login_page(&h, w, next, StatusCode::FORBIDDEN, Some(w.stale_form)));
    }
    // Guessing tokens is slowed as public lookups are.
    if !s.public_limit.check(peer.map(|p| p.0 .0)) {
        s.metrics.rate_limited.inc();
        return Ok(login_page(&h, w, next, StatusCode::TOO_MANY_REQUESTS, Some(w.limited)));
    }
    let token = field(&f, "token").unwrap_or("").trim();
    let Some((subject, exp)) = (!token.is_empty()).then(|| s.login_subject(token)).flatten() else {
        return Ok(login_page(&h, w, next, StatusCode::UNAUTHORIZED, Some(w.bad_token)));
    };
    let now = s.engine.now().0;
    let seconds = exp.map_or(SESSION_SECONDS, |e| (e - now).clamp(0, SESSION_SECONDS));
    if seconds == 0 {
        return Ok(login_page(&h, w, next, StatusCode::UNAUTHORIZED, Some(w.bad_token)));
    }
    let text = serde_json::to_string(&subject)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    let opened = s.engine.open_session(&text, seconds).await?;
    let access = match &subject {
        Subject::Token(_) => "token",
        Subject::Claims(t) if t.access == Access::Admin => "jwt-admin",
        Subject::Claims(_) => "jwt",
    };
    tracing::info!(kind = access, "a member of staff signed in to the console");
    Ok(with_cookies(
        Redirect::to(&next).into_response(),
        [
            set_cookie(&h, SESSION_COOKIE, &opened.id, "/ui", seconds),
            set_cookie(&h, LOGIN_COOKIE, "", "/ui/login", 0),
        ],
    ))
}

/// `POST /ui/logout` (`_csrf`): the session ends, everywhere.
pub(super) async fn logout(
    State(s): State<Arc<Service>>,
    h: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let (w, _) = words(&h, None);
    let f = fields(&body);
    let Some(st) = staff(&s, &h).await? else {
        return Ok(to_login("/ui/desk"));
    };
    if !same_site(&h) || !same_secret(field(&f, "_csrf").unwrap_or(""), &st.csrf) {
        return Ok(super::desk::refusal_page(&st, w, StatusCode::FORBIDDEN, w.stale_form));
    }
    s.engine.close_session(&st.session).await?;
    Ok(with_cookies(
        Redirect::to("/ui/login").into_response(),
        [set_cookie(&h, SESSION_COOKIE, "", "/ui", 0)],
    ))
}
