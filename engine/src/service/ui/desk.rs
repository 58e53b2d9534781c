//! The staff's cartable: `/ui/desk` (my tasks, my roles' tasks, by due,
//! overdue ones marked, paged), a task's page with the case data its step
//! shows and a form made from what it sets, and the claim and complete
//! forms.
//!
//! Must not: judge a completion (the engine checks the caller's grants and
//! the outputs inside the unit of work, and its refusals are shown next to
//! the field they name), or need JavaScript.

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::Value;

use super::super::{ApiError, Service};
use super::staff::{field, fields, same_secret, same_site, staff, to_login, with_cookies, words, Chrome, Staff, Words};
use super::{fa_digits, html, western_digits};
use crate::definition::{EscalationAction, VarType};
use crate::engine::{CaseId, EngineError, Field, TaskFilter, TaskForm};
use crate::runtime::{Command, CommandError, TaskId};

/// Tasks on one page of the desk.
const DESK_PAGE: i64 = 25;

/// `GET /ui`: on to the desk.
pub(super) async fn home() -> Redirect {
    Redirect::to("/ui/desk")
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    c: Chrome,
    title: &'static str,
    message: String,
}

/// A page that says why something was refused.
pub(super) fn refusal_page(st: &Staff, w: &'static Words, status: StatusCode, message: &str) -> Response {
    let p = MessagePage {
        c: st.chrome(w, "/ui/desk"),
        title: w.refused,
        message: message.to_owned(),
    };
    html(status, p.render())
}

/// An engine refusal as a page: its status, and its message.
pub(super) fn engine_refusal(st: &Staff, w: &'static Words, e: EngineError) -> Response {
    let text = e.to_string();
    let status = ApiError::from(e).status;
    refusal_page(st, w, status, &text)
}

/// A task on the desk.
struct Row {
    href: String,
    case_href: String,
    title: String,
    process: String,
    case: String,
    role: String,
    assignee: String,
    due: String,
    overdue: bool,
    claimable: bool,
}

#[derive(Template)]
#[template(path = "desk.html")]
struct DeskPage {
    c: Chrome,
    mine: bool,
    rows: Vec<Row>,
    notice: Option<&'static str>,
    next_href: Option<String>,
    paged: bool,
    first_href: String,
    /// This page again, for the list's refresh.
    here_href: String,
}

/// The desk's query: which list, from where, and what was just done.
#[derive(Debug, Default, Deserialize)]
pub(super) struct DeskQuery {
    lang: Option<String>,
    view: Option<String>,
    after: Option<String>,
    done: Option<String>,
}

/// Digits as the page's language writes them.
pub(super) fn digits(w: &Words, s: &str) -> String {
    if w.lang == "fa" {
        fa_digits(s)
    } else {
        s.to_owned()
    }
}

/// `GET /ui/desk`: my tasks (`view=mine`) or every task of my roles.
pub(super) async fn desk(
    State(s): State<Arc<Service>>,
    h: HeaderMap,
    Query(q): Query<DeskQuery>,
) -> Result<Response, ApiError> {
    let (w, lang) = words(&h, q.lang.as_deref());
    let Some(st) = staff(&s, &h).await? else {
        return Ok(to_login("/ui/desk"));
    };
    let mine = q.view.as_deref() == Some("mine");
    let filter = TaskFilter {
        assignee: mine.then(|| st.caller.user.clone()),
        ..TaskFilter::default()
    };
    let page = match s
        .engine
        .tasks_as(&st.caller.actor, &filter, q.after.as_deref(), Some(DESK_PAGE))
        .await
    {
        Ok(p) => p,
        Err(e) => return Ok(engine_refusal(&st, w, e)),
    };
    let mut titles: HashMap<String, Option<Arc<crate::model::Process>>> = HashMap::new();
    let mut rows = Vec::with_capacity(page.items.len());
    for t in page.items {
        if !titles.contains_key(&t.process) {
            let p = s.engine.process(&t.process).await?;
            titles.insert(t.process.clone(), p);
        }
        let p = titles.get(&t.process).and_then(Option::as_ref);
        let process = p.map_or(t.process.clone(), |p| match (w.lang, &p.title_en) {
            ("en", Some(en)) => en.clone(),
            _ => p.title.clone(),
        });
        let step_en = p
            .and_then(|p| p.find(&t.task.step))
            .and_then(|ix| p.and_then(|p| p.step(ix).title_en.clone()));
        let title = match (w.lang, step_en) {
            ("en", Some(en)) => en,
            _ => t.task.title.clone(),
        };
        let role = t.task.role.as_deref().map_or(w.nobody.to_owned(), |r| {
            p.and_then(|p| p.roles.iter().find(|x| x.id == r))
                .map_or(r.to_owned(), |x| {
                    if w.lang == "en" {
                        x.id.clone()
                    } else {
                        x.title.clone()
                    }
                })
        });
        rows.push(Row {
            href: format!("/ui/cases/{}/tasks/{}", t.case.0, t.task.task.0),
            case_href: format!("/ui/cases/{}", t.case.0),
            title,
            process,
            case: digits(w, &t.case.0.to_string()),
            role,
            assignee: t.task.assignee.clone().unwrap_or_else(|| w.nobody.to_owned()),
            due: t.task.due.as_deref().map_or(w.nobody.to_owned(), |d| digits(w, d)),
            overdue: t.task.overdue,
            claimable: t.task.assignee.is_none() && st.caller.actor.may_work(&t.process, t.task.role.as_deref()),
        });
    }
    let view = if mine { "mine" } else { "roles" };
    let page = DeskPage {
        c: st.chrome(w, "/ui/desk"),
        mine,
        rows,
        notice: match q.done.as_deref() {
            Some("completed") => Some(w.completed),
            Some("claimed") => Some(w.claimed),
            _ => None,
        },
        next_href: page.next.map(|n| format!("/ui/desk?view={view}&after={n}")),
        paged: q.after.is_some(),
        first_href: format!("/ui/desk?view={view}"),
        here_href: match &q.after {
            Some(a) => format!(
                "/ui/desk?view={view}&after={}",
                form_urlencoded::byte_serialize(a.as_bytes()).collect::<String>()
            ),
            None => format!("/ui/desk?view={view}"),
        },
    };
    Ok(with_cookies(html(StatusCode::OK, page.render()), lang))
}

/// A field of the task's form as the page shows it.
struct FieldView {
    name: String,
    label: String,
    required: bool,
    value: String,
    choices: Vec<(String, String, bool)>,
    inputmode: &'static str,
    kind: &'static str,
    error: Option<String>,
}

/// The task as its page shows it.
struct TaskView {
    href: String,
    case_href: String,
    title: String,
    process: String,
    case: String,
    tracking: String,
    role: String,
    assignee: String,
    opened: String,
    due: Option<String>,
    overdue: bool,
    notices: Vec<String>,
    shows: Vec<(String, String)>,
    fields: Vec<FieldView>,
    may_work: bool,
    claimable: bool,
}

#[derive(Template)]
#[template(path = "task.html")]
struct TaskPage {
    c: Chrome,
    t: TaskView,
    notice: Option<&'static str>,
    refusal: Option<String>,
}

/// A value as a field holds it (`true`/`false` for a yes-or-no choice).
fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A field's label: its Persian title, or its name.
fn label(w: &Words, f: &Field) -> String {
    match (&f.title, w.lang) {
        (Some(t), "fa") => t.clone(),
        _ => f.name.clone(),
    }
}

fn view(w: &'static Words, f: &TaskForm, typed: &[(String, String)], errors: &HashMap<String, String>) -> TaskView {
    let action = |a: EscalationAction| match a {
        EscalationAction::Remind => w.remind,
        EscalationAction::Warn => w.warn,
        EscalationAction::Record => w.record,
        EscalationAction::Reassign => w.reassign,
        EscalationAction::Notify => w.notify,
    };
    let fields = f
        .sets
        .iter()
        .map(|x| {
            let value = field(typed, &x.name)
                .map(str::to_owned)
                .or_else(|| x.value.as_ref().map(as_text))
                .unwrap_or_default();
            let choices = match x.ty {
                VarType::Bool => vec![("true", w.yes), ("false", w.no)]
                    .into_iter()
                    .map(|(v, t)| (v.to_owned(), t.to_owned(), value == v))
                    .collect(),
                VarType::Enum => x.values.iter().map(|v| (v.clone(), v.clone(), value == *v)).collect(),
                _ => Vec::new(),
            };
            let (inputmode, kind) = match x.ty {
                VarType::String => ("text", w.kind_text),
                VarType::Number => ("decimal", w.kind_number),
                VarType::Integer => ("numeric", w.kind_integer),
                VarType::Bool => ("text", w.kind_bool),
                VarType::Date => ("text", w.kind_date),
                VarType::Enum => ("text", w.kind_choice),
                VarType::List => ("text", w.kind_list),
            };
            FieldView {
                name: x.name.clone(),
                label: label(w, x),
                required: x.required && x.value.is_none(),
                value,
                choices,
                inputmode,
                kind,
                error: errors.get(&x.name).cloned(),
            }
        })
        .collect();
    let shown = |v: &Value| match v {
        Value::Bool(true) => w.yes.to_owned(),
        Value::Bool(false) => w.no.to_owned(),
        other => digits(w, &as_text(other)),
    };
    let title = match (w.lang, &f.title_en) {
        ("en", Some(en)) => en.clone(),
        _ => f.task.title.clone(),
    };
    let process = match (w.lang, &f.process_title_en) {
        ("en", Some(en)) => en.clone(),
        _ => f.process_title.clone(),
    };
    TaskView {
        href: format!("/ui/cases/{}/tasks/{}", f.case.0, f.task.task.0),
        case_href: format!("/ui/cases/{}", f.case.0),
        title,
        process,
        case: digits(w, &f.case.0.to_string()),
        tracking: f.tracking_code.clone(),
        role: match (w.lang, &f.task.role, &f.role_title) {
            ("fa", _, Some(t)) => t.clone(),
            (_, Some(r), _) => r.clone(),
            _ => w.nobody.to_owned(),
        },
        assignee: f.task.assignee.clone().unwrap_or_else(|| w.nobody.to_owned()),
        opened: digits(w, &f.opened),
        due: f.task.due.as_deref().map(|d| digits(w, d)),
        overdue: f.task.overdue,
        notices: f
            .notices
            .iter()
            .map(|n| digits(w, &format!("{} — {} ({} {})", n.at, action(n.action), n.n, w.time_n)))
            .collect(),
        shows: f
            .shows
            .iter()
            .map(|x| (label(w, x), x.value.as_ref().map_or(w.nobody.to_owned(), shown)))
            .collect(),
        fields,
        may_work: f.may_work,
        claimable: f.may_work && f.task.assignee.is_none(),
    }
}

/// A case and task id from the path, or a 404 page.
fn ids(st: &Staff, w: &'static Words, id: &str, task: &str) -> Result<(CaseId, TaskId), Box<Response>> {
    let c = super::super::api::case_id(id);
    let t = super::super::api::task_id(task);
    match (c, t) {
        (Ok(c), Ok(t)) => Ok((c, t)),
        (Err(e), _) | (_, Err(e)) => Err(Box::new(refusal_page(st, w, StatusCode::NOT_FOUND, &e.body.message))),
    }
}

/// The query of a task's page.
#[derive(Debug, Default, Deserialize)]
pub(super) struct TaskQuery {
    lang: Option<String>,
    done: Option<String>,
}

/// `GET /ui/cases/{id}/tasks/{task}`: the task, and its form for those who may work it.
pub(super) async fn task(
    State(s): State<Arc<Service>>,
    h: HeaderMap,
    Path((id, task)): Path<(String, String)>,
    Query(q): Query<TaskQuery>,
) -> Result<Response, ApiError> {
    let (w, lang) = words(&h, q.lang.as_deref());
    let here = format!("/ui/cases/{id}/tasks/{task}");
    let Some(st) = staff(&s, &h).await? else {
        return Ok(to_login(&here));
    };
    let (case, task) = match ids(&st, w, &id, &task) {
        Ok(x) => x,
        Err(r) => return Ok(*r),
    };
    let form = match s.engine.task_form_as(&st.caller.actor, case, task).await {
        Ok(f) => f,
        Err(e) => return Ok(engine_refusal(&st, w, e)),
    };
    let page = TaskPage {
        c: st.chrome(w, &here),
        t: view(w, &form, &[], &HashMap::new()),
        notice: (q.done.as_deref() == Some("claimed")).then_some(w.claimed),
        refusal: (!form.may_work).then(|| w.not_yours.to_owned()),
    };
    Ok(with_cookies(html(StatusCode::OK, page.render()), lang))
}

/// A signed-in member of staff whose form came from this site with the
/// session's secret; else the page that says why not.
pub(super) async fn checked(
    s: &Service,
    h: &HeaderMap,
    f: &[(String, String)],
    here: &str,
) -> Result<Result<Staff, Box<Response>>, ApiError> {
    let (w, _) = words(h, None);
    let Some(st) = staff(s, h).await? else {
        return Ok(Err(Box::new(to_login(here))));
    };
    if !same_site(h) {
        return Ok(Err(Box::new(refusal_page(&st, w, StatusCode::FORBIDDEN, w.cross_site))));
    }
    if !same_secret(field(f, "_csrf").unwrap_or(""), &st.csrf) {
        return Ok(Err(Box::new(refusal_page(&st, w, StatusCode::FORBIDDEN, w.stale_form))));
    }
    Ok(Ok(st))
}

/// A form posted to a task: checked, with its fields and the ids in its path.
struct Posted {
    w: &'static Words,
    here: String,
    f: Vec<(String, String)>,
    st: Staff,
    case: CaseId,
    task: TaskId,
}

/// Checks a form posted to task `task` of case `id`; the page that says
/// why not when it fails.
async fn posted(
    s: &Service,
    h: &HeaderMap,
    id: &str,
    task: &str,
    body: &[u8],
) -> Result<Result<Posted, Box<Response>>, ApiError> {
    let (w, _) = words(h, None);
    let here = format!("/ui/cases/{id}/tasks/{task}");
    let f = fields(body);
    let st = match checked(s, h, &f, &here).await? {
        Ok(st) => st,
        Err(r) => return Ok(Err(r)),
    };
    let (case, task) = match ids(&st, w, id, task) {
        Ok(x) => x,
        Err(r) => return Ok(Err(r)),
    };
    Ok(Ok(Posted {
        w,
        here,
        f,
        st,
        case,
        task,
    }))
}

/// `POST /ui/cases/{id}/tasks/{task}/claim` (`_csrf`): the task is mine.
pub(super) async fn claim(
    State(s): State<Arc<Service>>,
    h: HeaderMap,
    Path((id, task)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let Posted {
        w,
        here,
        st,
        case,
        task,
        ..
    } = match posted(&s, &h, &id, &task, &body).await? {
        Ok(p) => p,
        Err(r) => return Ok(*r),
    };
    let cmd = Command::Claim {
        task,
        user: st.caller.user.clone(),
    };
    match s.engine.command_as(&st.caller.actor, case, cmd).await {
        Ok(()) => Ok(Redirect::to(&format!("{here}?done=claimed")).into_response()),
        Err(e) => Ok(engine_refusal(&st, w, e)),
    }
}

/// Reads what was typed into the step's inputs: the outputs, or a message
/// per field that does not read as its type. Empty fields are left out.
fn outputs(
    w: &Words,
    form: &TaskForm,
    typed: &[(String, String)],
) -> Result<crate::runtime::Data, HashMap<String, String>> {
    let mut out = crate::runtime::Data::new();
    let mut errors = HashMap::new();
    for x in &form.sets {
        let Some(raw) = field(typed, &x.name) else { continue };
        let text = western_digits(raw.trim());
        if text.is_empty() {
            continue;
        }
        let v = match x.ty {
            VarType::Number => text
                .parse::<f64>()
                .ok()
                .and_then(|n| {
                    if n.fract() == 0.0 && n.abs() < 9.0e15 {
                        Some(Value::from(n as i64))
                    } else {
                        serde_json::Number::from_f64(n).map(Value::Number)
                    }
                })
                .ok_or(w.not_number),
            VarType::Integer => text.parse::<i64>().map(Value::from).map_err(|_| w.not_integer),
            VarType::Bool => Ok(Value::Bool(text == "true")),
            VarType::String => Ok(Value::String(raw.trim().to_owned())),
            VarType::Date | VarType::Enum => Ok(Value::String(text)),
            // Items separated by commas (Persian or Latin), as text.
            VarType::List => Ok(Value::Array(
                raw.split([',', '،'])
                    .map(str::trim)
                    .filter(|x| !x.is_empty())
                    .map(|x| Value::String(x.to_owned()))
                    .collect(),
            )),
        };
        match v {
            Ok(v) => {
                out.insert(x.name.clone(), v);
            }
            Err(m) => {
                errors.insert(x.name.clone(), m.to_owned());
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// `POST /ui/cases/{id}/tasks/{task}/complete` (`_csrf` and the step's
/// inputs): done, or the form again with what was refused beside its field.
pub(super) async fn complete(
    State(s): State<Arc<Service>>,
    h: HeaderMap,
    Path((id, task)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let Posted {
        w,
        here,
        f,
        st,
        case,
        task,
    } = match posted(&s, &h, &id, &task, &body).await? {
        Ok(p) => p,
        Err(r) => return Ok(*r),
    };
    let form = match s.engine.task_form_as(&st.caller.actor, case, task).await {
        Ok(f) => f,
        Err(e) => return Ok(engine_refusal(&st, w, e)),
    };
    let again = |status: StatusCode, refusal: String, errors: HashMap<String, String>| {
        let page = TaskPage {
            c: st.chrome(w, &here),
            t: view(w, &form, &f, &errors),
            notice: None,
            refusal: Some(refusal),
        };
        html(status, page.render())
    };
    let data = match outputs(w, &form, &f) {
        Ok(d) => d,
        Err(errors) => return Ok(again(StatusCode::UNPROCESSABLE_ENTITY, w.fix_fields.to_owned(), errors)),
    };
    let cmd = Command::Complete {
        task,
        by: Some(st.caller.user.clone()),
        outputs: data,
    };
    match s.engine.command_as(&st.caller.actor, case, cmd).await {
        Ok(()) => {
            s.metrics.tasks_completed.inc();
            Ok(Redirect::to("/ui/desk?done=completed").into_response())
        }
        Err(EngineError::Command(CommandError::BadData(m))) => {
            // The engine names the variable it refused: the message goes beside that field.
            let mut errors = HashMap::new();
            match form.sets.iter().find(|x| m.contains(&format!("`{}`", x.name))) {
                Some(x) => {
                    errors.insert(x.name.clone(), m);
                    Ok(again(StatusCode::UNPROCESSABLE_ENTITY, w.fix_fields.to_owned(), errors))
                }
                None => Ok(again(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("{} {m}", w.refused),
                    errors,
                )),
            }
        }
        Err(e) => {
            let text = format!("{} {e}", w.refused);
            let status = ApiError::from(e).status;
            Ok(again(status, text, HashMap::new()))
        }
    }
}
