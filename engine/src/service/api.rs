//! Routes and handlers.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use super::{count, doc, Access, ApiError, ErrorBody, Service};
use crate::engine::{CaseFilter, CaseId, TaskFilter};
use crate::runtime::{Command, Data, TaskId, TokenId};
use crate::store::IncidentFilter;
use crate::time::Timestamp;

/// The largest request body accepted.
pub(super) const MAX_BODY: usize = 1024 * 1024;
/// The longest a request may take, body included.
pub(super) const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

type Res<T> = Result<T, ApiError>;

/// The service's routes, ready to mount: `Router::new().nest("/ravand", router(service))`.
pub fn router(s: Arc<Service>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/openapi.json", get(openapi))
        .route("/metrics", get(metrics))
        .route("/definitions", post(deploy).get(definitions))
        .route("/cases", post(start).get(list_cases))
        .route("/tasks", get(list_tasks))
        .route("/events", get(events))
        .route("/webhooks", post(add_webhook).get(list_webhooks))
        .route("/webhooks/{id}", axum::routing::delete(remove_webhook))
        .route("/jobs/acquire", post(acquire_jobs))
        .route("/jobs/{id}/{task}/extend", post(extend_job))
        .route("/jobs/{id}/{task}/complete", post(complete_job))
        .route("/jobs/{id}/{task}/fail", post(fail_job))
        .route("/cases/{id}", get(status))
        .route("/cases/{id}/history", get(history))
        .route("/cases/{id}/tasks/{task}/claim", post(claim))
        .route("/cases/{id}/tasks/{task}/complete", post(complete))
        .route("/cases/{id}/suspend", post(suspend))
        .route("/cases/{id}/resume", post(resume))
        .route("/cases/{id}/cancel", post(cancel))
        .route("/cases/{id}/instances", post(add_instances))
        .route("/messages", post(message))
        .route("/worklist", get(worklist))
        .route("/overdue", get(overdue))
        .route("/public/cases/{code}", get(public))
        .route("/incidents", get(incidents))
        .route("/cases/{id}/incidents/{token}/resolve", post(resolve))
        .route("/cases/{id}/audit", get(audit))
        .route("/processes/{id}/log", get(process_log))
        .merge(super::ui::routes())
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not-found", "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "this route does not take that method",
            )
        })
        .layer(axum::middleware::from_fn(json_refusals))
        .layer(axum::middleware::from_fn(timeout))
        .layer(axum::middleware::from_fn_with_state(s.clone(), counted))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(s)
}

/// Every refusal is JSON `{error, message}`: a refusal made outside the
/// handlers (a path that does not decode, a duplicate query key) arrives as
/// text and is wrapped here.
async fn json_refusals(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let res = next.run(req).await;
    let status = res.status();
    let is_json = res
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        // The console's pages answer their refusals as pages.
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    if status.as_u16() < 400 || is_json {
        return res;
    }
    let bytes = axum::body::to_bytes(res.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).trim().to_owned();
    let code = if status.is_server_error() {
        "internal"
    } else {
        "bad-request"
    };
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("refused").to_owned()
    } else {
        text
    };
    ApiError::new(status, code, message).into_response()
}

/// A request that takes longer than [`REQUEST_TIMEOUT`] (a client sending
/// its body slowly) is answered 503; a unit of work it interrupted is
/// rolled back.
async fn timeout(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "the request took too long; if it changed something, it may or may not have been applied",
        )
        .into_response(),
    }
}

/// Counts every response for `/metrics` and logs it through `tracing`.
async fn counted(
    State(s): State<Arc<Service>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    // The route's template, never the path itself: a path may carry a
    // citizen's tracking code, which does not belong in the log.
    let method = req.method().clone();
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "(no route)".to_owned(), |m| m.as_str().to_owned());
    let started = std::time::Instant::now();
    let res = next.run(req).await;
    let status = res.status();
    let elapsed = started.elapsed();
    count(&s, method.as_str(), &path, status, elapsed.as_secs_f64());
    let micros = elapsed.as_micros() as u64;
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
        health,
        metrics,
        openapi,
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
        add_instances,
        message,
        worklist,
        overdue,
        list_tasks,
        list_cases,
        events,
        add_webhook,
        list_webhooks,
        remove_webhook,
        acquire_jobs,
        extend_job,
        complete_job,
        fail_job,
        public,
        incidents,
        resolve,
        audit,
        process_log
    ),
    components(schemas(
        DeployBody,
        LogFormat,
        StartBody,
        Started,
        ClaimBody,
        CompleteBody,
        MessageBody,
        Correlated,
        CancelBody,
        InstancesBody,
        ResolveBody,
        PublicView,
        ErrorBody
    ))
)]
pub struct ApiDoc;

/// Whether the service answers.
#[utoipa::path(get, path = "/health", responses((status = 200, description = "the service answers", content_type = "text/plain", body = String)))]
async fn health() -> &'static str {
    "ok"
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", responses((status = 200, description = "the OpenAPI document", body = Object)))]
async fn openapi() -> impl IntoResponse {
    Json(openapi_document())
}

/// The OpenAPI document of the service, as `/openapi.json` serves it.
pub fn openapi_document() -> serde_json::Value {
    super::doc::finish(serde_json::to_value(ApiDoc::openapi()).unwrap_or_default())
}

/// Counters in the Prometheus text format.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "OpenMetrics text exposition", content_type = "application/openmetrics-text", body = String)))]
async fn metrics(State(s): State<Arc<Service>>) -> Res<impl IntoResponse> {
    use prometheus_client::encoding::EncodeLabelSet;
    use prometheus_client::metrics::family::Family;
    use prometheus_client::metrics::gauge::Gauge;
    use prometheus_client::metrics::info::Info;
    #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
    struct ListLabels {
        process: String,
        role: String,
    }
    #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
    struct TopicLabels {
        topic: String,
    }
    #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
    struct ProcessLabels {
        process: String,
    }
    let mut reg = prometheus_client::registry::Registry::default();
    s.metrics.register(&mut reg);
    s.engine.stats().register(&mut reg);
    let g = s.engine.gauges().await?;
    let (open, overdue) = (
        Family::<ListLabels, Gauge>::default(),
        Family::<ListLabels, Gauge>::default(),
    );
    for (process, role, n, late) in g.tasks {
        let l = ListLabels { process, role };
        open.get_or_create(&l).set(n);
        overdue.get_or_create(&l).set(late);
    }
    reg.register(
        "ravand_tasks_open",
        "Open tasks on people's lists, by process and role",
        open,
    );
    reg.register("ravand_tasks_overdue", "Overdue tasks, by process and role", overdue);
    let (waiting, held) = (
        Family::<TopicLabels, Gauge>::default(),
        Family::<TopicLabels, Gauge>::default(),
    );
    for (topic, w, h) in g.jobs {
        let l = TopicLabels { topic };
        waiting.get_or_create(&l).set(w);
        held.get_or_create(&l).set(h);
    }
    reg.register("ravand_jobs_waiting", "Jobs no worker holds, by topic", waiting);
    reg.register("ravand_jobs_locked", "Jobs a worker holds, by topic", held);
    let incidents = Family::<ProcessLabels, Gauge>::default();
    for (process, n) in g.incidents {
        incidents.get_or_create(&ProcessLabels { process }).set(n);
    }
    reg.register("ravand_incidents_open", "Open incidents, by process", incidents);
    reg.register(
        "ravand_build",
        "The running build",
        Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
    );
    let mut body = String::new();
    prometheus_client::encoding::text::encode(&mut body, &reg)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    ))
}

/// A decimal id as written: digits only, no sign, no leading zero.
fn strict<T: std::str::FromStr>(raw: &str) -> Option<T> {
    let ok = !raw.is_empty()
        && raw.bytes().all(|b| b.is_ascii_digit())
        && (raw == "0" || !raw.starts_with('0'))
        && raw.len() <= 20;
    ok.then(|| raw.parse().ok()).flatten()
}

pub(in crate::service) fn case_id(raw: &str) -> Res<CaseId> {
    strict::<u64>(raw).map(CaseId).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no-such-case",
            format!("`{raw}` is not a case id"),
        )
    })
}

pub(in crate::service) fn task_id(raw: &str) -> Res<TaskId> {
    strict::<u32>(raw)
        .map(TaskId)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not-found", format!("`{raw}` is not a task id")))
}

/// A token id in a path (an incident is named by its token).
fn token_id(raw: &str) -> Res<TokenId> {
    strict::<u32>(raw)
        .map(TokenId)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not-found", format!("`{raw}` is not a token id")))
}

fn body<T>(b: Result<Json<T>, JsonRejection>) -> Res<T> {
    Ok(b?.0)
}

/// A body that may be left out (as for suspend): no bytes at all is the
/// default value; anything else must be the JSON object.
fn optional<T: Default + serde::de::DeserializeOwned>(bytes: axum::body::Bytes) -> Res<T> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad-request", e.to_string()))
}

/// The request's `Idempotency-Key`, when it sends one.
fn idempotency_key(h: &HeaderMap) -> Res<Option<&str>> {
    h.get("idempotency-key")
        .map(|k| {
            k.to_str().map_err(|_| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "bad-data",
                    "an idempotency key is visible ASCII characters",
                )
            })
        })
        .transpose()
}

/// Whether an answer repeats an earlier one (`idempotent-replayed`).
fn replayed_header(replayed: bool) -> [(&'static str, &'static str); 1] {
    [("idempotent-replayed", if replayed { "true" } else { "false" })]
}

/// A definition to deploy: its file name (for diagnostics) and YAML text.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DeployBody {
    pub name: String,
    pub source: String,
}

/// Deploy a definition. A rejected one returns the validator's diagnostics.
#[utoipa::path(post, path = "/definitions", request_body = DeployBody,
    responses((status = 201, description = "deployed (or already deployed with this content)", body = doc::DefinitionKeyDoc), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
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
#[utoipa::path(get, path = "/definitions", responses((status = 200, description = "(process, version, hash) of each", body = Vec<doc::DefinitionKeyDoc>)))]
async fn definitions(State(s): State<Arc<Service>>, h: HeaderMap) -> Res<impl IntoResponse> {
    s.allow(&h, &[Access::Analyst, Access::Auditor, Access::Clerk])?;
    Ok(Json(s.engine.definitions().await?))
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

/// Start a case of the latest version of a process. With an
/// `Idempotency-Key` header the start happens at most once for that key
/// (per caller): sent again with the same body, the answer is the same case
/// with `Idempotent-Replayed: true`; with another body, 422.
#[utoipa::path(post, path = "/cases", request_body = StartBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters, e.g. a UUID; the same on every retry of one start")),
    responses((status = 201, body = Started, headers(("Idempotent-Replayed" = String, description = "`true` when an earlier start with this key made the case"))),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn start(
    State(s): State<Arc<Service>>,
    h: HeaderMap,
    b: Result<Json<StartBody>, JsonRejection>,
) -> Res<impl IntoResponse> {
    let c = s.allow(&h, &[Access::Clerk])?;
    let b = body(b)?;
    let st = match idempotency_key(&h)? {
        None => s.engine.start_as(&c.actor, &b.process, b.data).await?,
        Some(k) => s.engine.start_once_as(&c.actor, &b.process, b.data, k).await?,
    };
    Ok((
        StatusCode::CREATED,
        replayed_header(st.replayed),
        Json(Started {
            case: st.case.0,
            tracking_code: st.tracking_code,
        }),
    ))
}

/// Where a case stands: stage, open tasks with due dates (Solar Hijri and
/// Gregorian), data.
#[utoipa::path(get, path = "/cases/{id}", params(("id" = u64, Path)), responses((status = 200, description = "the case", body = doc::CaseViewDoc), (status = 404, body = ErrorBody)))]
async fn status(State(s): State<Arc<Service>>, h: HeaderMap, Path(id): Path<String>) -> Res<impl IntoResponse> {
    let c = s.allow(&h, &[Access::Clerk, Access::Auditor])?;
    Ok(Json(s.engine.status_as(&c.actor, case_id(&id)?).await?))
}

/// A case's full history: the events, and lines for people.
#[utoipa::path(get, path = "/cases/{id}/history", params(("id" = u64, Path)), responses((status = 200, description = "events and lines", body = doc::HistoryDoc), (status = 404, body = ErrorBody)))]
async fn history(State(s): State<Arc<Service>>, h: HeaderMap, Path(id): Path<String>) -> Res<impl IntoResponse> {
    let c = s.allow(&h, &[Access::Clerk, Access::Auditor])?;
    let id = case_id(&id)?;
    let (events, lines) = s.engine.history_as(&c.actor, id).await?;
    Ok(Json(serde_json::json!({ "events": events, "lines": lines })))
}

/// Who claims a task (a clerk claims it for themself).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ClaimBody {
    #[serde(default)]
    pub user: Option<String>,
}

/// Claim a task.
#[utoipa::path(post, path = "/cases/{id}/tasks/{task}/claim", params(("id" = u64, Path), ("task" = u32, Path)), request_body = ClaimBody,
    responses((status = 204, description = "done"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn claim(
    State(s): State<Arc<Service>>,
    h: HeaderMap,
    Path((id, task)): Path<(String, String)>,
    b: axum::body::Bytes,
) -> Res<impl IntoResponse> {
    let c = s.allow(&h, &[Access::Clerk])?;
    let (id, task) = (case_id(&id)?, task_id(&task)?);
    let b: ClaimBody = optional(b)?;
    let user = if c.access == Access::Admin {
        b.user.unwrap_or(c.user.clone())
    } else {
        c.user.clone()
    };
    s.engine.command_as(&c.actor, id, Command::Claim { task, user }).await?;
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
#[utoipa::path(post, path = "/cases/{id}/tasks/{task}/complete", params(("id" = u64, Path), ("task" = u32, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters, e.g. a UUID; the same on every retry of one completion: a retry of one that was applied answers 204 again and is not applied twice")),
    request_body = CompleteBody,
    responses((status = 204, description = "done", headers(("Idempotent-Replayed" = String, description = "`true` when an earlier completion with this key did it"))), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn complete(
    State(s): State<Arc<Service>>,
    h: HeaderMap,
    Path((id, task)): Path<(String, String)>,
    b: axum::body::Bytes,
) -> Res<impl IntoResponse> {
    let c = s.allow(&h, &[Access::Clerk])?;
    let (id, task) = (case_id(&id)?, task_id(&task)?);
    let b: CompleteBody = optional(b)?;
    let cmd = Command::Complete {
        task,
        by: Some(c.user.clone()),
        outputs: b.outputs,
    };
    let replayed = match idempotency_key(&h)? {
        None => {
            s.engine.command_as(&c.actor, id, cmd).await?;
            false
        }
        Some(k) => s.engine.command_once_as(&c.actor, id, cmd, k).await?,
    };
    if !replayed {
        s.metrics.tasks_completed.inc();
    }
    Ok((StatusCode::NO_CONTENT, replayed_header(replayed)))
}

/// Instances to add to a task with multiple instances under way.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstancesBody {
    /// The step's id.
    pub step: String,
    /// One item per new instance, appended to the step's list.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<serde_json::Value>,
}

/// Add instances to a task with multiple instances under way (`each: {over:
/// …}`), e.g. another body to ask: one task per item opens (at once, or in
/// turn when they run one after the other). For the step's performers and
/// administrators.
#[utoipa::path(post, path = "/cases/{id}/instances", params(("id" = u64, Path)), request_body = InstancesBody,
    responses((status = 204, description = "added"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_instances(
    State(s): State<Arc<Service>>,
    h: HeaderMap,
    Path(id): Path<String>,
    b: Result<Json<InstancesBody>, JsonRejection>,
) -> Res<impl IntoResponse> {
    let c = s.allow(&h, &[Access::Clerk])?;
    let id = case_id(&id)?;
    let b = body(b)?;
    let cmd = Command::AddInstances {
        step: b.step,
        items: b.items,
        by: Some(c.user.clone()),
    };
    s.engine.command_as(&c.actor, id, cmd).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Why a case is cancelled.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CancelBody {
    #[serde(default)]
    pub reason: Option<String>,
}

/// Suspend a case: its clocks stop.
#[utoipa::path(post, path = "/cases/{id}/suspend", params(("id" = u64, Path)), responses((status = 204, description = "suspended"), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn suspend(State(s): State<Arc<Service>>, h: HeaderMap, Path(id): Path<String>) -> Res<impl IntoResponse> {
    let c = s.allow(&h, &[])?;
    s.engine
        .command_as(
            &c.actor,
            case_id(&id)?,
            Command::Suspend {
                by: Some(c.user.clone()),
            },
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Resume a case: its clocks restart with the time left.
#[utoipa::path(post, path = "/cases/{id}/resume", params(("id" = u64, Path)), responses((status = 204, description = "resumed"), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn resume(State(s): State<Arc<Service>>, h: HeaderMap, Path(id): Path<String>) -> Res<impl IntoResponse> {
    let c = s.allow(&h, &[])?;
    s.engine
        .command_as(
            &c.actor,
            case_id(&id)?,
            Command::Resume {
                by: Some(c.user.clone()),
            },
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Cancel a case.
#[utoipa::path(post, path = "/cases/{id}/cancel", params(("id" = u64, Path)), request_body = CancelBody, responses((status = 204, description = "cancelled"), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn cancel(
    State(s): State<Arc<Service>>,
    h: HeaderMap,
    Path(id): Path<String>,
    b: axum::body::Bytes,
) -> Res<impl IntoResponse> {
    let c = s.allow(&h, &[])?;
    let b: CancelBody = optional(b)?;
    s.engine
        .command_as(
            &c.actor,
            case_id(&id)?,
            Command::Cancel {
                by: Some(c.user.clone()),
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
#[utoipa::path(post, path = "/messages", request_body = MessageBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters, e.g. a UUID; the same on every retry of one message: a retry of one that was delivered answers with its case and is not delivered twice")),
    responses((status = 200, body = Correlated, headers(("Idempotent-Replayed" = String, description = "`true` when an earlier message with this key was delivered"))), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn message(
    State(s): State<Arc<Service>>,
    h: HeaderMap,
    b: Result<Json<MessageBody>, JsonRejection>,
) -> Res<impl IntoResponse> {
    let c = s.allow(&h, &[Access::Clerk])?;
    let b = body(b)?;
    let (case, replayed) = match idempotency_key(&h)? {
        None => (
            s.engine.message_as(&c.actor, &b.name, b.key.as_deref(), b.data).await?,
            false,
        ),
        Some(k) => {
            s.engine
                .message_once_as(&c.actor, &b.name, b.key.as_deref(), b.data, k)
                .await?
        }
    };
    if !replayed {
        s.metrics.messages.inc();
    }
    Ok((replayed_header(replayed), Json(Correlated { case: case.0 })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WorklistQuery {
    /// Only tasks on this role's list.
    pub role: Option<String>,
    /// Only tasks claimed by this user.
    pub assignee: Option<String>,
}

/// The open tasks ("cartable"): a clerk sees those of its roles.
#[utoipa::path(get, path = "/worklist", params(WorklistQuery), responses((status = 200, description = "open tasks with their case", body = Vec<doc::WorkItemDoc>)))]
async fn worklist(
    State(s): State<Arc<Service>>,
    h: HeaderMap,
    Query(q): Query<WorklistQuery>,
) -> Res<impl IntoResponse> {
    let c = s.allow(&h, &[Access::Clerk, Access::Auditor])?;
    let tasks = s.engine.open_tasks_as(&c.actor).await?;
    let list: Vec<serde_json::Value> = tasks
        .into_iter()
        .filter(|(_, t)| q.role.as_ref().is_none_or(|r| t.role.as_ref() == Some(r)))
        .filter(|(_, t)| q.assignee.as_ref().is_none_or(|a| t.assignee.as_ref() == Some(a)))
        .map(|(case, t)| serde_json::json!({ "case": case.0, "task": t }))
        .collect();
    Ok(Json(list))
}

/// Overdue tasks of the open cases, filtered like the worklist.
#[utoipa::path(get, path = "/overdue", responses((status = 200, description = "overdue tasks with their case", body = Vec<doc::WorkItemDoc>)))]
async fn overdue(State(s): State<Arc<Service>>, h: HeaderMap) -> Res<impl IntoResponse> {
    let c = s.allow(&h, &[Access::Clerk, Access::Auditor])?;
    let list: Vec<serde_json::Value> = s
        .engine
        .open_tasks_as(&c.actor)
        .await?
        .into_iter()
        .filter(|(_, t)| t.overdue)
        .map(|(case, t)| serde_json::json!({ "case": case.0, "task": t }))
        .collect();
    Ok(Json(list))
}

/// Which open tasks to list, a page at a time.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TasksQuery {
    /// Only tasks of this process.
    pub process: Option<String>,
    /// Only tasks on this role's list.
    pub role: Option<String>,
    /// Only tasks claimed by this user.
    pub assignee: Option<String>,
    /// Only tasks of this organisational unit (the role's `unit`).
    pub unit: Option<String>,
    /// Only overdue tasks (`true`), or only those not overdue (`false`).
    pub overdue: Option<bool>,
    /// Only tasks due before this instant (seconds since the epoch).
    pub due_before: Option<i64>,
    /// Only tasks due at or after this instant (seconds since the epoch).
    pub due_after: Option<i64>,
    /// The `next` cursor of the previous page.
    pub after: Option<String>,
    /// How many (default 50, at most 500).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// Open tasks, by due instant (tasks without one last): a clerk sees those
/// of its roles, an auditor every one. A page `{items, next}`.
#[utoipa::path(get, path = "/tasks", params(TasksQuery), responses((status = 200, description = "a page of open tasks", body = doc::TaskPageDoc), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_tasks(
    State(s): State<Arc<Service>>,
    h: HeaderMap,
    Query(q): Query<TasksQuery>,
) -> Res<impl IntoResponse> {
    let c = s.allow(&h, &[Access::Clerk, Access::Auditor])?;
    let f = TaskFilter {
        process: q.process,
        role: q.role,
        assignee: q.assignee,
        unit: q.unit,
        overdue: q.overdue,
        due_before: q.due_before.map(Timestamp),
        due_after: q.due_after.map(Timestamp),
    };
    Ok(Json(
        s.engine.tasks_as(&c.actor, &f, q.after.as_deref(), q.limit).await?,
    ))
}

/// Which cases to list, a page at a time (newest first).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CasesQuery {
    /// Only cases of this process.
    pub process: Option<String>,
    /// Only cases of this version (with `process`).
    pub version: Option<u32>,
    /// Only cases with this status.
    #[param(value_type = Option<doc::StatusDoc>)]
    pub status: Option<String>,
    /// Only cases at this step (its id).
    pub stage: Option<String>,
    /// Only cases started at or after this instant (seconds since the epoch).
    pub started_after: Option<i64>,
    /// Only cases started before this instant (seconds since the epoch).
    pub started_before: Option<i64>,
    /// Only the case with this tracking code.
    pub tracking_code: Option<String>,
    /// `NAME:VALUE` of a variable declared `searchable`; repeat for more.
    pub data: Option<Vec<String>>,
    /// The `next` cursor of the previous page.
    pub after: Option<String>,
    /// How many (default 50, at most 500).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

impl CasesQuery {
    /// Reads the query string: every key once, but `data`, which repeats.
    fn parse(raw: Option<&str>) -> Res<CasesQuery> {
        let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, "bad-query", m);
        let mut q = CasesQuery::default();
        let mut seen = std::collections::HashSet::new();
        for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            let (k, v) = (k.into_owned(), v.into_owned());
            if k != "data" && !seen.insert(k.clone()) {
                return Err(bad(format!("`{k}` is given twice")));
            }
            let int = |v: &str| {
                v.parse::<i64>()
                    .map_err(|_| bad(format!("`{k}` must be an integer, not `{v}`")))
            };
            match k.as_str() {
                "process" => q.process = Some(v),
                "version" => {
                    q.version = Some(
                        v.parse()
                            .map_err(|_| bad(format!("`version` must be a version number, not `{v}`")))?,
                    )
                }
                "status" => q.status = Some(v),
                "stage" => q.stage = Some(v),
                "started_after" => q.started_after = Some(int(&v)?),
                "started_before" => q.started_before = Some(int(&v)?),
                "tracking_code" => q.tracking_code = Some(v),
                "data" => q.data.get_or_insert_with(Vec::new).push(v),
                "after" => q.after = Some(v),
                "limit" => q.limit = Some(int(&v)?),
                _ => return Err(bad(format!("unknown query parameter `{k}`"))),
            }
        }
        Ok(q)
    }
}

/// Cases, newest first, found by process, version, status, stage, start
/// date, tracking code and searchable data. A page `{items, next}`.
#[utoipa::path(get, path = "/cases", params(CasesQuery), responses((status = 200, description = "a page of cases", body = doc::CasePageDoc), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_cases(
    State(s): State<Arc<Service>>,
    h: HeaderMap,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> Res<impl IntoResponse> {
    let c = s.allow(&h, &[Access::Clerk, Access::Auditor])?;
    let q = CasesQuery::parse(raw.as_deref())?;
    let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, "bad-query", m);
    let status = q
        .status
        .as_deref()
        .map(|n| crate::runtime::Status::from_name(n).ok_or_else(|| bad(format!("`{n}` is not a case status"))))
        .transpose()?;
    let mut data = Vec::new();
    for d in q.data.unwrap_or_default() {
        let (k, v) = d
            .split_once(':')
            .ok_or_else(|| bad(format!("`data` is NAME:VALUE, not `{d}`")))?;
        data.push((k.to_owned(), v.to_owned()));
    }
    let f = CaseFilter {
        process: q.process,
        version: q.version,
        status,
        stage: q.stage,
        started_after: q.started_after.map(Timestamp),
        started_before: q.started_before.map(Timestamp),
        tracking_code: q.tracking_code,
        data,
    };
    Ok(Json(
        s.engine.cases_as(&c.actor, &f, q.after.as_deref(), q.limit).await?,
    ))
}

/// Where to read the event feed from.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// The `next` of the previous page (or an item's `position`); from the
    /// first event when left out.
    pub after: Option<String>,
    /// How many (default 50, at most 500).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// Every history event across cases, in commit order: a consumer keeps
/// `next` and asks again with it, and misses nothing and sees nothing twice.
#[utoipa::path(get, path = "/events", params(EventsQuery), responses((status = 200, description = "a page of events", body = doc::FeedPageDoc), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn events(State(s): State<Arc<Service>>, h: HeaderMap, Query(q): Query<EventsQuery>) -> Res<impl IntoResponse> {
    let c = s.allow(&h, &[Access::Clerk, Access::Auditor])?;
    Ok(Json(s.engine.events_as(&c.actor, q.after.as_deref(), q.limit).await?))
}

/// A webhook subscription to make.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookBody {
    /// Where to POST each event (http:// or https://).
    #[schema(pattern = "^https?://[^\\s\\x00-\\x1f\\x7f-\\x9f]+$", max_length = 2000)]
    pub url: String,
    /// The event kinds wanted (`task-created`, `completed`, …); all when
    /// left out or empty.
    #[serde(default)]
    pub events: Vec<String>,
    /// Only events of this process's cases.
    #[serde(default)]
    pub process: Option<String>,
    /// The key each delivery is signed with (HMAC-SHA256 of the body, in
    /// `X-Ravand-Signature: sha256=<hex>`); at least 16 characters.
    #[schema(min_length = 16)]
    pub secret: String,
}

/// Subscribe a URL to events, from now on: each is POSTed as JSON
/// `{webhook, position, case, process, event}`, in commit order, at least
/// once (the `Idempotency-Key` header is the same on a retry), signed with
/// the secret; a failing receiver is retried with a backoff that doubles.
#[utoipa::path(post, path = "/webhooks", request_body = WebhookBody,
    responses((status = 201, body = doc::WebhookDoc), (status = 422, body = ErrorBody)))]
async fn add_webhook(
    State(s): State<Arc<Service>>,
    h: HeaderMap,
    b: Result<Json<WebhookBody>, JsonRejection>,
) -> Res<impl IntoResponse> {
    s.allow(&h, &[])?;
    let b = body(b)?;
    let w = s
        .engine
        .add_webhook(&b.url, &b.events, b.process.as_deref(), &b.secret)
        .await?;
    Ok((StatusCode::CREATED, Json(w)))
}

/// The webhook subscriptions, with how their deliveries go.
#[utoipa::path(get, path = "/webhooks", responses((status = 200, body = Vec<doc::WebhookDoc>)))]
async fn list_webhooks(State(s): State<Arc<Service>>, h: HeaderMap) -> Res<impl IntoResponse> {
    s.allow(&h, &[])?;
    Ok(Json(s.engine.webhooks().await?))
}

/// End a webhook subscription.
#[utoipa::path(delete, path = "/webhooks/{id}", params(("id" = i64, Path)), responses((status = 204, description = "ended"), (status = 404, body = ErrorBody)))]
async fn remove_webhook(State(s): State<Arc<Service>>, h: HeaderMap, Path(id): Path<String>) -> Res<impl IntoResponse> {
    s.allow(&h, &[])?;
    let id = strict::<i64>(&id).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no-such-webhook",
            format!("`{id}` is not a webhook id"),
        )
    })?;
    s.engine.remove_webhook(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The longest an acquire waits for a job to come.
pub(super) const MAX_ACQUIRE_WAIT_S: u64 = 25;

fn default_one() -> usize {
    1
}

/// A whole number as JSON may write it: `50` or `50.0` (JSON Schema's
/// `integer` admits both).
fn whole<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64>,
{
    use serde::de::Error;
    let n = serde_json::Number::deserialize(d)?;
    let i = match (n.as_i64(), n.as_f64()) {
        (Some(i), _) => Some(i),
        (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(f as i64),
        _ => None,
    };
    i.and_then(|i| T::try_from(i).ok())
        .ok_or_else(|| D::Error::custom(format!("{n} is not a whole number in range")))
}

/// [`whole`], for a field that may be left out or null.
fn whole_opt<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64>,
{
    #[derive(Deserialize)]
    struct W<T: TryFrom<i64>>(#[serde(deserialize_with = "whole")] T);
    Ok(Option::<W<T>>::deserialize(d)?.map(|w| w.0))
}

fn default_lease() -> i64 {
    300
}

/// What a worker asks for.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcquireBody {
    /// The topic its steps name (`topic:` in the definition).
    pub topic: String,
    /// Who the worker is (it must say so again to complete or fail).
    #[schema(min_length = 1, max_length = 200)]
    pub worker: String,
    /// How many jobs at most (default 1, at most 100).
    #[serde(default = "default_one", deserialize_with = "whole")]
    #[schema(minimum = 1, maximum = 100)]
    pub max: usize,
    /// The lease, in seconds (default 300): extend it before it runs out.
    #[serde(default = "default_lease", deserialize_with = "whole")]
    #[schema(minimum = 1, maximum = 86400)]
    pub lease: i64,
    /// Seconds to wait for a job when none is free (long polling; default
    /// 0, at most 25).
    #[serde(default, deserialize_with = "whole")]
    #[schema(minimum = 0, maximum = 25)]
    pub wait: u64,
}

/// Fetch and lock jobs of a topic, oldest first: each is held by this
/// worker until its lease runs out, and by nobody else, also across nodes.
#[utoipa::path(post, path = "/jobs/acquire", request_body = AcquireBody,
    responses((status = 200, description = "the jobs now held (maybe none)", body = Vec<doc::JobDoc>), (status = 422, body = ErrorBody)))]
async fn acquire_jobs(
    State(s): State<Arc<Service>>,
    h: HeaderMap,
    b: Result<Json<AcquireBody>, JsonRejection>,
) -> Res<impl IntoResponse> {
    let c = s.allow(&h, &[Access::Clerk])?;
    let b = body(b)?;
    if b.wait > MAX_ACQUIRE_WAIT_S {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad-data",
            format!("`wait` is at most {MAX_ACQUIRE_WAIT_S} seconds, not {}", b.wait),
        ));
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(b.wait);
    loop {
        let jobs = s
            .engine
            .acquire_jobs_as(&c.actor, &b.topic, &b.worker, b.max, b.lease)
            .await?;
        if !jobs.is_empty() || std::time::Instant::now() >= deadline {
            return Ok(Json(jobs));
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// A worker keeping its job.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtendBody {
    /// The worker holding it.
    #[schema(min_length = 1, max_length = 200)]
    pub worker: String,
    /// The new lease, in seconds from now.
    #[serde(deserialize_with = "whole")]
    #[schema(minimum = 1, maximum = 86400)]
    pub lease: i64,
}

/// The new end of a lease.
#[derive(Debug, Serialize, ToSchema)]
pub struct Lease {
    /// Seconds since the epoch.
    pub lock_until: i64,
}

/// Extend the lease of a job the worker holds.
#[utoipa::path(post, path = "/jobs/{id}/{task}/extend", params(("id" = u64, Path, description = "the case"), ("task" = u32, Path, description = "the job's task")), request_body = ExtendBody,
    responses((status = 200, body = Lease), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn extend_job(
    State(s): State<Arc<Service>>,
    h: HeaderMap,
    Path((id, task)): Path<(String, String)>,
    b: Result<Json<ExtendBody>, JsonRejection>,
) -> Res<impl IntoResponse> {
    let c = s.allow(&h, &[Access::Clerk])?;
    let (id, task) = (case_id(&id)?, task_id(&task)?);
    let b = body(b)?;
    let until = s.engine.extend_job_as(&c.actor, id, task, &b.worker, b.lease).await?;
    Ok(Json(Lease { lock_until: until.0 }))
}

/// A job done.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteJobBody {
    /// The worker holding it.
    #[schema(min_length = 1, max_length = 200)]
    pub worker: String,
    /// What the step `sets`, typed as the definition declares.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub outputs: Data,
}

/// Complete a job the worker holds; the case moves on.
#[utoipa::path(post, path = "/jobs/{id}/{task}/complete", params(("id" = u64, Path, description = "the case"), ("task" = u32, Path, description = "the job's task")), request_body = CompleteJobBody,
    responses((status = 204, description = "completed"), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn complete_job(
    State(s): State<Arc<Service>>,
    h: HeaderMap,
    Path((id, task)): Path<(String, String)>,
    b: Result<Json<CompleteJobBody>, JsonRejection>,
) -> Res<impl IntoResponse> {
    let c = s.allow(&h, &[Access::Clerk])?;
    let (id, task) = (case_id(&id)?, task_id(&task)?);
    let b = body(b)?;
    s.engine
        .complete_job_as(&c.actor, id, task, &b.worker, b.outputs)
        .await?;
    s.metrics.tasks_completed.inc();
    Ok(StatusCode::NO_CONTENT)
}

/// A job that went wrong.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FailJobBody {
    /// The worker holding it.
    #[schema(min_length = 1, max_length = 200)]
    pub worker: String,
    /// What went wrong.
    pub message: String,
    /// Retries left: 0 raises an incident on the case.
    #[serde(deserialize_with = "whole")]
    pub retries: u32,
    /// Seconds before it is offered again (default: 10, doubling with each
    /// failure, at most an hour).
    #[serde(default, deserialize_with = "whole_opt")]
    #[schema(minimum = 0, maximum = 86400)]
    pub retry_in: Option<i64>,
}

/// Fail a job the worker holds: it is offered again after a backoff, or,
/// with no retries left, the case gets an incident.
#[utoipa::path(post, path = "/jobs/{id}/{task}/fail", params(("id" = u64, Path, description = "the case"), ("task" = u32, Path, description = "the job's task")), request_body = FailJobBody,
    responses((status = 200, body = doc::FailedDoc), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn fail_job(
    State(s): State<Arc<Service>>,
    h: HeaderMap,
    Path((id, task)): Path<(String, String)>,
    b: Result<Json<FailJobBody>, JsonRejection>,
) -> Res<impl IntoResponse> {
    let c = s.allow(&h, &[Access::Clerk])?;
    let (id, task) = (case_id(&id)?, task_id(&task)?);
    let b = body(b)?;
    let f = s
        .engine
        .fail_job_as(&c.actor, id, task, &b.worker, &b.message, b.retries, b.retry_in)
        .await?;
    Ok(Json(f))
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
async fn public(
    State(s): State<Arc<Service>>,
    peer: Option<axum::Extension<ConnectInfo<std::net::SocketAddr>>>,
    Path(code): Path<String>,
) -> Res<impl IntoResponse> {
    if !s.public_limit.check(peer.map(|p| p.0 .0)) {
        s.metrics.rate_limited.inc();
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "too many lookups; wait a few seconds",
        ));
    }
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

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct IncidentQuery {
    /// Only incidents of this process.
    pub process: Option<String>,
    /// Only incidents at this step (its id).
    pub step: Option<String>,
    /// Only incidents raised at or after this instant (seconds since the epoch).
    pub since: Option<i64>,
    /// At most this many (default and most: 500).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// Open incidents across cases: where cases are stuck and why.
#[utoipa::path(get, path = "/incidents", params(IncidentQuery), responses((status = 200, description = "open incidents, oldest first", body = Vec<doc::IncidentDoc>), (status = 400, body = ErrorBody)))]
async fn incidents(
    State(s): State<Arc<Service>>,
    h: HeaderMap,
    Query(q): Query<IncidentQuery>,
) -> Res<impl IntoResponse> {
    let c = s.allow(&h, &[Access::Clerk, Access::Auditor])?;
    let f = IncidentFilter {
        process: q.process,
        step: q.step,
        since: q.since.map(Timestamp),
        processes: None,
        limit: match q.limit {
            None => 500,
            Some(n @ 1..=500) => n,
            Some(n) => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad-query",
                    format!("`limit` must be between 1 and 500, not {n}"),
                ))
            }
        },
    };
    Ok(Json(s.engine.incidents_as(&c.actor, f).await?))
}

/// The repair of an incident: data to set (may be empty) before the retry.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    #[serde(default)]
    #[schema(value_type = Object)]
    pub data: Data,
}

/// Resolve an incident: set the missing data and retry the step. Recorded
/// in the history with who did it.
#[utoipa::path(post, path = "/cases/{id}/incidents/{token}/resolve", params(("id" = u64, Path), ("token" = u32, Path)), request_body = ResolveBody,
    responses((status = 204, description = "done"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn resolve(
    State(s): State<Arc<Service>>,
    h: HeaderMap,
    Path((id, token)): Path<(String, String)>,
    b: axum::body::Bytes,
) -> Res<impl IntoResponse> {
    let c = s.allow(&h, &[])?;
    let (id, token) = (case_id(&id)?, token_id(&token)?);
    let b: ResolveBody = optional(b)?;
    let cmd = Command::Resolve {
        token,
        values: b.data,
        by: Some(c.user.clone()),
    };
    s.engine.command_as(&c.actor, id, cmd).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A case's audit trail: who read a restricted case, and when.
#[utoipa::path(get, path = "/cases/{id}/audit", params(("id" = u64, Path)), responses((status = 200, description = "reads recorded", body = Vec<doc::AuditDoc>), (status = 404, body = ErrorBody)))]
async fn audit(State(s): State<Arc<Service>>, h: HeaderMap, Path(id): Path<String>) -> Res<impl IntoResponse> {
    s.allow(&h, &[Access::Auditor])?;
    Ok(Json(s.engine.audit(case_id(&id)?).await?))
}

/// The formats an event log is downloaded in.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// XES (IEEE 1849): ProM, Disco, PM4Py.
    Xes,
    /// CSV, its columns the XES keys (`case:concept:name`, `concept:name`,
    /// `time:timestamp`, `lifecycle:transition`, `org:resource`…).
    Csv,
    /// OCEL 2.0 JSON: cases, tasks and people as objects.
    Ocel,
}

/// Which part of a process's event log to download.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    /// `xes` (default), `csv` or `ocel`.
    pub format: Option<LogFormat>,
    /// The period's start (seconds since the epoch; from the first event
    /// when left out).
    #[param(minimum = 0)]
    pub from: Option<i64>,
    /// The period's end, not included (seconds since the epoch; now when
    /// left out). A period that ends before it starts is empty.
    #[param(minimum = 0)]
    pub to: Option<i64>,
}

/// The event log of a process's cases that were open during the period
/// `[from, to)`: their events in it (tasks scheduled, assigned, reassigned,
/// completed, withdrawn; steps done; deadlines passed; escalation rungs;
/// timers; messages; incidents; the case's start and end), each case with
/// its tracking code, version, status, outcome and searchable data, for
/// process-mining tools. A long history is read a period at a time.
#[utoipa::path(get, path = "/processes/{id}/log", params(("id" = String, Path, description = "the process id"), LogQuery),
    responses((status = 200, description = "the event log", content(
        (String = "application/xml"), (String = "text/csv"), (Object = "application/json"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn process_log(
    State(s): State<Arc<Service>>,
    h: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<LogQuery>,
) -> Res<impl IntoResponse> {
    let c = s.allow(&h, &[Access::Auditor])?;
    let bad = |m: &str| ApiError::new(StatusCode::BAD_REQUEST, "bad-query", m.to_owned());
    if q.from.is_some_and(|t| t < 0) || q.to.is_some_and(|t| t < 0) {
        return Err(bad("`from` and `to` are seconds since the epoch, not negative"));
    }
    let from = Timestamp(q.from.unwrap_or(i64::MIN / 2));
    let to = Timestamp(q.to.unwrap_or_else(|| s.engine.now().0.saturating_add(1))).max(from);
    if s.engine.latest_deployment(&id).await?.is_none() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("no process `{id}` is deployed"),
        ));
    }
    let log = s.engine.export_log_as(&c.actor, &id, from, to).await?;
    let format = match q.format.unwrap_or(LogFormat::Xes) {
        LogFormat::Xes => crate::eventlog::Format::Xes,
        LogFormat::Csv => crate::eventlog::Format::Csv,
        LogFormat::Ocel => crate::eventlog::Format::Ocel,
    };
    let name: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .collect();
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, format.media_type().to_owned()),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.{}\"", format.extension()),
            ),
        ],
        format.write(&log),
    ))
}
