//! Routes and handlers.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use super::{count, Access, ApiError, Caller, ErrorBody, Service};
use crate::engine::CaseId;
use crate::runtime::{Command, Data, LocalId};

/// The largest request body accepted.
const MAX_BODY: usize = 1024 * 1024;

type Res<T> = Result<T, ApiError>;

/// The service's routes, ready to mount: `Router::new().nest("/ravand", router(service))`.
pub fn router(s: Arc<Service>) -> Router {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/openapi.json", get(openapi))
        .route("/metrics", get(metrics))
        .route("/definitions", post(deploy).get(definitions))
        .route("/cases", post(start))
        .route("/cases/{id}", get(status))
        .route("/cases/{id}/history", get(history))
        .route("/cases/{id}/tasks/{task}/claim", post(claim))
        .route("/cases/{id}/tasks/{task}/complete", post(complete))
        .route("/cases/{id}/suspend", post(suspend))
        .route("/cases/{id}/resume", post(resume))
        .route("/cases/{id}/cancel", post(cancel))
        .route("/messages", post(message))
        .route("/worklist", get(worklist))
        .route("/overdue", get(overdue))
        .route("/public/cases/{code}", get(public))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not-found", "no such route") })
        .layer(axum::middleware::from_fn_with_state(s.clone(), counted))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(s)
}

/// Counts every response for `/metrics` and logs it through `tracing`.
async fn counted(
    State(s): State<Arc<Service>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let started = std::time::Instant::now();
    let res = next.run(req).await;
    let status = res.status();
    count(&s, status);
    let micros = started.elapsed().as_micros() as u64;
    if status.is_server_error() {
        tracing::error!(%method, %path, status = status.as_u16(), micros, "request");
    } else if status.is_client_error() {
        tracing::warn!(%method, %path, status = status.as_u16(), micros, "request");
    } else {
        tracing::info!(%method, %path, status = status.as_u16(), micros, "request");
    }
    res
}

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Ravand", description = "A workflow engine for municipal processes"),
    paths(
        deploy,
        definitions,
        start,
        status,
        history,
        claim,
        complete,
        suspend,
        resume,
        cancel,
        message,
        worklist,
        overdue,
        public
    ),
    components(schemas(
        DeployBody,
        StartBody,
        Started,
        ClaimBody,
        CompleteBody,
        MessageBody,
        Correlated,
        CancelBody,
        PublicView,
        ErrorBody,
        Access
    ))
)]
pub struct ApiDoc;

async fn openapi() -> impl IntoResponse {
    Json(ApiDoc::openapi())
}

async fn metrics(State(s): State<Arc<Service>>) -> impl IntoResponse {
    let m = &s.metrics;
    let body = format!(
        "# HELP ravand_http_requests_total HTTP requests answered.\n# TYPE ravand_http_requests_total counter\nravand_http_requests_total {}\n\
         # HELP ravand_http_client_errors_total Requests answered 4xx.\n# TYPE ravand_http_client_errors_total counter\nravand_http_client_errors_total {}\n\
         # HELP ravand_http_server_errors_total Requests answered 5xx.\n# TYPE ravand_http_server_errors_total counter\nravand_http_server_errors_total {}\n\
         # HELP ravand_cases_started_total Cases started.\n# TYPE ravand_cases_started_total counter\nravand_cases_started_total {}\n\
         # HELP ravand_tasks_completed_total Tasks completed.\n# TYPE ravand_tasks_completed_total counter\nravand_tasks_completed_total {}\n\
         # HELP ravand_messages_total Messages delivered.\n# TYPE ravand_messages_total counter\nravand_messages_total {}\n",
        m.requests.load(Ordering::Relaxed),
        m.client_errors.load(Ordering::Relaxed),
        m.server_errors.load(Ordering::Relaxed),
        m.cases_started.load(Ordering::Relaxed),
        m.tasks_completed.load(Ordering::Relaxed),
        m.messages.load(Ordering::Relaxed),
    );
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

fn case_id(raw: &str) -> Res<CaseId> {
    raw.parse::<u64>().map(CaseId).map_err(|_| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no-such-case",
            format!("`{raw}` is not a case id"),
        )
    })
}

fn task_id(raw: &str) -> Res<LocalId> {
    raw.parse::<LocalId>()
        .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "not-found", format!("`{raw}` is not a task id")))
}

fn body<T>(b: Result<Json<T>, JsonRejection>) -> Res<T> {
    Ok(b?.0)
}

/// A definition to deploy: its file name (for diagnostics) and YAML text.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DeployBody {
    pub name: String,
    pub source: String,
}

/// Deploy a definition. A rejected one returns the validator's diagnostics.
#[utoipa::path(post, path = "/definitions", request_body = DeployBody,
    responses((status = 201, description = "deployed (or already deployed with this content)"), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn deploy(
    State(s): State<Arc<Service>>,
    h: HeaderMap,
    b: Result<Json<DeployBody>, JsonRejection>,
) -> Res<impl IntoResponse> {
    s.allow(&h, &[Access::Analyst])?;
    let b = body(b)?;
    let key = s.engine.deploy(&b.name, &b.source).await?;
    Ok((StatusCode::CREATED, Json(key)))
}

/// The deployed definitions.
#[utoipa::path(get, path = "/definitions", responses((status = 200, description = "(process, version, hash) of each")))]
async fn definitions(State(s): State<Arc<Service>>, h: HeaderMap) -> Res<impl IntoResponse> {
    s.allow(&h, &[Access::Analyst, Access::Auditor, Access::Clerk])?;
    Ok(Json(s.engine.definitions().await))
}

/// A case to start: the process id and its start data.
#[derive(Debug, Deserialize, ToSchema)]
pub struct StartBody {
    pub process: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub data: Data,
}

/// A started case.
#[derive(Debug, Serialize, ToSchema)]
pub struct Started {
    pub case: u64,
    /// For the citizen: unguessable.
    pub tracking_code: String,
}

/// Start a case of the latest version of a process.
#[utoipa::path(post, path = "/cases", request_body = StartBody, responses((status = 201, body = Started), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn start(
    State(s): State<Arc<Service>>,
    h: HeaderMap,
    b: Result<Json<StartBody>, JsonRejection>,
) -> Res<impl IntoResponse> {
    let c = s.allow(&h, &[Access::Clerk])?;
    let b = body(b)?;
    let st = s.engine.start(&b.process, b.data, Some(c.user)).await?;
    s.metrics.cases_started.fetch_add(1, Ordering::Relaxed);
    Ok((
        StatusCode::CREATED,
        Json(Started {
            case: st.case.0,
            tracking_code: st.tracking_code,
        }),
    ))
}

/// Where a case stands: stage, open tasks with due dates (Solar Hijri and
/// Gregorian), data.
#[utoipa::path(get, path = "/cases/{id}", params(("id" = u64, Path)), responses((status = 200, description = "the case"), (status = 404, body = ErrorBody)))]
async fn status(State(s): State<Arc<Service>>, h: HeaderMap, Path(id): Path<String>) -> Res<impl IntoResponse> {
    s.allow(&h, &[Access::Clerk, Access::Auditor])?;
    Ok(Json(s.engine.status(case_id(&id)?).await?))
}

/// A case's full history: the events, and lines for people.
#[utoipa::path(get, path = "/cases/{id}/history", params(("id" = u64, Path)), responses((status = 200, description = "events and lines"), (status = 404, body = ErrorBody)))]
async fn history(State(s): State<Arc<Service>>, h: HeaderMap, Path(id): Path<String>) -> Res<impl IntoResponse> {
    s.allow(&h, &[Access::Clerk, Access::Auditor])?;
    let id = case_id(&id)?;
    let events = s.engine.history(id).await?;
    let lines = s.engine.history_lines(id).await?;
    Ok(Json(serde_json::json!({ "events": events, "lines": lines })))
}

/// Checks that a clerk works the role the task is on.
async fn may_work(s: &Service, c: &Caller, case: CaseId, task: LocalId) -> Res<()> {
    if c.access == Access::Admin {
        return Ok(());
    }
    let view = s.engine.status(case).await?;
    let t = view.tasks.iter().find(|t| t.task == task).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("no open task {task} in case {case}"),
        )
    })?;
    match &t.role {
        Some(r) if c.roles.contains(r) => Ok(()),
        Some(r) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("task {task} is on the list of `{r}`, not yours"),
        )),
        None => Ok(()),
    }
}

/// Who claims a task (a clerk claims it for themself).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ClaimBody {
    #[serde(default)]
    pub user: Option<String>,
}

/// Claim a task.
#[utoipa::path(post, path = "/cases/{id}/tasks/{task}/claim", params(("id" = u64, Path), ("task" = u32, Path)), request_body = ClaimBody,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn claim(
    State(s): State<Arc<Service>>,
    h: HeaderMap,
    Path((id, task)): Path<(String, String)>,
    b: Result<Json<ClaimBody>, JsonRejection>,
) -> Res<impl IntoResponse> {
    let c = s.allow(&h, &[Access::Clerk])?;
    let (id, task) = (case_id(&id)?, task_id(&task)?);
    let b = body(b)?;
    may_work(&s, &c, id, task).await?;
    let user = if c.access == Access::Admin {
        b.user.unwrap_or(c.user)
    } else {
        c.user
    };
    s.engine.command(id, Command::Claim { task, user }).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A task's outputs.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CompleteBody {
    #[serde(default)]
    #[schema(value_type = Object)]
    pub outputs: Data,
}

/// Complete a task.
#[utoipa::path(post, path = "/cases/{id}/tasks/{task}/complete", params(("id" = u64, Path), ("task" = u32, Path)), request_body = CompleteBody,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn complete(
    State(s): State<Arc<Service>>,
    h: HeaderMap,
    Path((id, task)): Path<(String, String)>,
    b: Result<Json<CompleteBody>, JsonRejection>,
) -> Res<impl IntoResponse> {
    let c = s.allow(&h, &[Access::Clerk])?;
    let (id, task) = (case_id(&id)?, task_id(&task)?);
    let b = body(b)?;
    may_work(&s, &c, id, task).await?;
    s.engine.complete(id, task, Some(c.user), b.outputs).await?;
    s.metrics.tasks_completed.fetch_add(1, Ordering::Relaxed);
    Ok(StatusCode::NO_CONTENT)
}

/// Why a case is cancelled.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CancelBody {
    #[serde(default)]
    pub reason: Option<String>,
}

/// Suspend a case: its clocks stop.
#[utoipa::path(post, path = "/cases/{id}/suspend", params(("id" = u64, Path)), responses((status = 204), (status = 409, body = ErrorBody)))]
async fn suspend(State(s): State<Arc<Service>>, h: HeaderMap, Path(id): Path<String>) -> Res<impl IntoResponse> {
    let c = s.allow(&h, &[])?;
    s.engine
        .command(case_id(&id)?, Command::Suspend { by: Some(c.user) })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Resume a case: its clocks restart with the time left.
#[utoipa::path(post, path = "/cases/{id}/resume", params(("id" = u64, Path)), responses((status = 204), (status = 409, body = ErrorBody)))]
async fn resume(State(s): State<Arc<Service>>, h: HeaderMap, Path(id): Path<String>) -> Res<impl IntoResponse> {
    let c = s.allow(&h, &[])?;
    s.engine
        .command(case_id(&id)?, Command::Resume { by: Some(c.user) })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Cancel a case.
#[utoipa::path(post, path = "/cases/{id}/cancel", params(("id" = u64, Path)), request_body = CancelBody, responses((status = 204), (status = 409, body = ErrorBody)))]
async fn cancel(
    State(s): State<Arc<Service>>,
    h: HeaderMap,
    Path(id): Path<String>,
    b: Result<Json<CancelBody>, JsonRejection>,
) -> Res<impl IntoResponse> {
    let c = s.allow(&h, &[])?;
    let b = body(b)?;
    s.engine
        .command(
            case_id(&id)?,
            Command::Cancel {
                by: Some(c.user),
                reason: b.reason,
            },
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A message from outside (e.g. "payment confirmed").
#[derive(Debug, Deserialize, ToSchema)]
pub struct MessageBody {
    pub name: String,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub data: Data,
}

/// The case a message went to.
#[derive(Debug, Serialize, ToSchema)]
pub struct Correlated {
    pub case: u64,
}

/// Send a message; it goes to the oldest case waiting for it with that key.
#[utoipa::path(post, path = "/messages", request_body = MessageBody, responses((status = 200, body = Correlated), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn message(
    State(s): State<Arc<Service>>,
    h: HeaderMap,
    b: Result<Json<MessageBody>, JsonRejection>,
) -> Res<impl IntoResponse> {
    s.allow(&h, &[Access::Clerk])?;
    let b = body(b)?;
    let case = s.engine.message(&b.name, b.key.as_deref(), b.data).await?;
    s.metrics.messages.fetch_add(1, Ordering::Relaxed);
    Ok(Json(Correlated { case: case.0 }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct WorklistQuery {
    /// Only tasks on this role's list.
    pub role: Option<String>,
    /// Only tasks claimed by this user.
    pub assignee: Option<String>,
}

/// The open tasks ("cartable"): a clerk sees those of its roles.
#[utoipa::path(get, path = "/worklist", params(WorklistQuery), responses((status = 200, description = "open tasks with their case")))]
async fn worklist(
    State(s): State<Arc<Service>>,
    h: HeaderMap,
    Query(q): Query<WorklistQuery>,
) -> Res<impl IntoResponse> {
    let c = s.allow(&h, &[Access::Clerk, Access::Auditor])?;
    let tasks = s.engine.open_tasks().await?;
    let list: Vec<serde_json::Value> = tasks
        .into_iter()
        .filter(|(_, t)| c.access != Access::Clerk || t.role.as_ref().is_none_or(|r| c.roles.contains(r)))
        .filter(|(_, t)| q.role.as_ref().is_none_or(|r| t.role.as_ref() == Some(r)))
        .filter(|(_, t)| q.assignee.as_ref().is_none_or(|a| t.assignee.as_ref() == Some(a)))
        .map(|(case, t)| serde_json::json!({ "case": case.0, "task": t }))
        .collect();
    Ok(Json(list))
}

/// Overdue tasks of every open case.
#[utoipa::path(get, path = "/overdue", responses((status = 200, description = "overdue tasks with their case")))]
async fn overdue(State(s): State<Arc<Service>>, h: HeaderMap) -> Res<impl IntoResponse> {
    s.allow(&h, &[Access::Clerk, Access::Auditor])?;
    let list: Vec<serde_json::Value> = s
        .engine
        .open_tasks()
        .await?
        .into_iter()
        .filter(|(_, t)| t.overdue)
        .map(|(case, t)| serde_json::json!({ "case": case.0, "task": t }))
        .collect();
    Ok(Json(list))
}

/// What a citizen sees with a tracking code: the stage and its dates only.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicView {
    pub status: String,
    pub outcome: Option<String>,
    /// Titles of the steps the case is at.
    pub stage: Vec<String>,
    /// Due dates of the open tasks (Solar Hijri and Gregorian).
    pub due: Vec<String>,
    pub case_due: Option<String>,
}

/// A citizen's lookup by tracking code. No token needed.
#[utoipa::path(get, path = "/public/cases/{code}", params(("code" = String, Path)), responses((status = 200, body = PublicView), (status = 404, body = ErrorBody)))]
async fn public(State(s): State<Arc<Service>>, Path(code): Path<String>) -> Res<impl IntoResponse> {
    let unknown = || ApiError::new(StatusCode::NOT_FOUND, "no-such-case", "no case has this tracking code");
    if code.len() > 64 {
        return Err(unknown());
    }
    let id = s.engine.find_by_code(&code).await?.ok_or_else(unknown)?;
    let v = s.engine.status(id).await?;
    Ok(Json(PublicView {
        status: format!("{:?}", v.status).to_lowercase(),
        outcome: v.outcome,
        stage: v.stage.into_iter().map(|(_, title)| title).collect(),
        due: v.tasks.iter().filter_map(|t| t.due.clone()).collect(),
        case_due: v.case_due,
    }))
}
