//! The HTTP service (feature `http`): a router an embedder mounts in its own
//! axum app, and that `ravand serve` runs.
//!
//! Owns: routes, request and response bodies, API tokens and what each role
//! may do, turning every refusal into a 4xx with a JSON body, the OpenAPI
//! document, and Prometheus metrics.
//!
//! Must not: hold business rules. Every decision about a case is the
//! engine's; the service checks who may ask, and translates.
//!
//! Roles: `analyst` deploys and reads definitions; `clerk` starts cases,
//! sends messages, and claims and completes the tasks of the process roles
//! listed on its token; `auditor` reads everything; `admin` may do all of it
//! and suspend, resume and cancel cases. A citizen needs no token: the
//! tracking code is the key to `GET /public/cases/{code}`, which shows only
//! the stage and its dates.

mod api;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

pub use api::{router, ApiDoc};

use crate::engine::{Engine, EngineError};
use crate::runtime::CommandError;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    Analyst,
    Clerk,
    Auditor,
    Admin,
}

/// One API token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Token {
    pub token: String,
    pub access: Access,
    /// Who is acting (recorded in history).
    pub user: String,
    /// For clerks: the process roles whose tasks they work.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// The caller, once its token checked out.
#[derive(Debug, Clone)]
pub struct Caller {
    pub access: Access,
    pub user: String,
    pub roles: Vec<String>,
}

/// Request counters for `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    pub requests: AtomicU64,
    pub client_errors: AtomicU64,
    pub server_errors: AtomicU64,
    pub cases_started: AtomicU64,
    pub tasks_completed: AtomicU64,
    pub messages: AtomicU64,
}

/// What the handlers share.
pub struct Service {
    pub engine: Arc<Engine>,
    tokens: HashMap<String, Caller>,
    pub metrics: Metrics,
}

impl Service {
    pub fn new(engine: Arc<Engine>, tokens: Vec<Token>) -> Arc<Service> {
        let tokens = tokens
            .into_iter()
            .map(|t| {
                (
                    t.token,
                    Caller {
                        access: t.access,
                        user: t.user,
                        roles: t.roles,
                    },
                )
            })
            .collect();
        Arc::new(Service {
            engine,
            tokens,
            metrics: Metrics::default(),
        })
    }

    /// The caller of a request, or 401.
    fn caller(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        let h = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let token = h.strip_prefix("Bearer ").unwrap_or("").trim();
        if token.is_empty() {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send `Authorization: Bearer <token>`",
            ));
        }
        self.tokens
            .get(token)
            .cloned()
            .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "unknown token"))
    }

    /// The caller, if its access is one of `allowed`; else 401 or 403.
    fn allow(&self, headers: &HeaderMap, allowed: &[Access]) -> Result<Caller, ApiError> {
        let c = self.caller(headers)?;
        if c.access == Access::Admin || allowed.contains(&c.access) {
            Ok(c)
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("a {:?} token may not do this", c.access).to_lowercase(),
            ))
        }
    }
}

/// An error body: `{"error": code, "message": text, "details": …}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub details: Option<serde_json::Value>,
}

/// A refused request.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: ErrorBody {
                error: code.to_owned(),
                message: message.into(),
                details: None,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> ApiError {
        let status = match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, "bad-request", r.body_text())
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> ApiError {
        let msg = e.to_string();
        match e {
            EngineError::Invalid(diags) => ApiError {
                status: StatusCode::BAD_REQUEST,
                body: ErrorBody {
                    error: "invalid-definition".into(),
                    message: msg,
                    details: serde_json::to_value(diags).ok(),
                },
            },
            EngineError::VersionConflict(..) => ApiError::new(StatusCode::CONFLICT, "version-conflict", msg),
            EngineError::NoSuchProcess(_) => ApiError::new(StatusCode::NOT_FOUND, "no-such-process", msg),
            EngineError::NoSuchCase(_) => ApiError::new(StatusCode::NOT_FOUND, "no-such-case", msg),
            EngineError::NotCorrelated(_) => ApiError::new(StatusCode::NOT_FOUND, "not-correlated", msg),
            EngineError::Calendar(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "calendar", msg),
            EngineError::Command(c) => match c {
                CommandError::NoSuchTask(_)
                | CommandError::NoSuchSubscription(_)
                | CommandError::NoSuchTimer(_)
                | CommandError::NoSuchChild(_) => ApiError::new(StatusCode::NOT_FOUND, "not-found", msg),
                CommandError::BadData(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "bad-data", msg),
                CommandError::NotRunning(_)
                | CommandError::NotSuspended
                | CommandError::ClaimedByOther { .. }
                | CommandError::TimerNotDue(_) => ApiError::new(StatusCode::CONFLICT, "conflict", msg),
            },
            EngineError::Store(_) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store", msg),
        }
    }
}

/// Counts a response for `/metrics`.
fn count(s: &Service, status: StatusCode) {
    s.metrics.requests.fetch_add(1, Ordering::Relaxed);
    if status.is_client_error() {
        s.metrics.client_errors.fetch_add(1, Ordering::Relaxed);
    } else if status.is_server_error() {
        s.metrics.server_errors.fetch_add(1, Ordering::Relaxed);
    }
}
