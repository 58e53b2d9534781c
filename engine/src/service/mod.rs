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
//! Access: `analyst` deploys and reads definitions; `clerk` starts, reads and
//! messages the cases of the processes on its token, and claims and
//! completes the tasks of its `process/role`s; `auditor` reads everything;
//! `admin` may do all of it and suspend, resume, cancel and repair cases.
//! The grants are handed to the engine, which checks them inside the unit
//! of work. A citizen needs no token: the tracking code is the key to
//! `GET /public/cases/{code}` (rate-limited), which shows only the stage and
//! its dates. Tokens are kept as SHA-256 hashes and compared in constant
//! time; JWTs from an identity provider are accepted through a [`Verifier`].

mod api;
mod doc;
mod hooks;
mod jwt;
mod net;
mod ui;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};

use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use subtle::ConstantTimeEq;

pub use api::{openapi_document, router, ApiDoc};
pub use hooks::{deliver_webhooks, signature, DELIVERY_TIMEOUT};
pub use jwt::JwtVerifier;
pub use net::{serve, ServeLimits};

use crate::engine::{Actor, Engine, EngineError, Grants, Scope};
use crate::runtime::CommandError;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Deploys definitions.
    Analyst,
    /// Works tasks and starts cases.
    Clerk,
    /// Reads everything, changes nothing.
    Auditor,
    /// Everything.
    Admin,
}

/// One API token as the tokens file holds it: the SHA-256 of the secret
/// (never the secret), and what it grants.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Token {
    /// SHA-256 of the secret, in hex (`ravand token new` makes one).
    pub sha256: String,
    /// What it may do.
    pub access: Access,
    /// Who is acting (recorded in history).
    pub user: String,
    /// For clerks: the processes whose cases they start, read and message.
    #[serde(default)]
    pub processes: Vec<String>,
    /// For clerks: the roles, each `process/role` (or `process/*`), whose
    /// tasks they claim and complete.
    #[serde(default)]
    pub roles: Vec<String>,
}

impl Token {
    /// A token entry for `secret` (hashing it).
    pub fn for_secret(secret: &str, access: Access, user: &str) -> Token {
        Token {
            sha256: sha256_hex(secret),
            access,
            user: user.to_owned(),
            processes: Vec::new(),
            roles: Vec::new(),
        }
    }
}

/// The service's limits as `ARCHITECTURE.md` words them (a test there
/// checks the notes say these).
#[cfg(test)]
pub(crate) fn stated_limits() -> Vec<String> {
    let l = ServeLimits::default();
    let mib = api::MAX_BODY / (1024 * 1024);
    vec![
        format!("{mib} MiB request bodies"),
        format!("{} s to send headers", l.header_timeout.as_secs()),
        format!("{} s per request", api::REQUEST_TIMEOUT.as_secs()),
        format!("{} connections", l.max_connections),
        format!(
            "public lookups {}/s per address after a burst of {} and {}/s in all",
            net::PER_CLIENT_PER_SECOND,
            net::PER_CLIENT_BURST,
            net::ALL_PER_SECOND
        ),
    ]
}

/// The SHA-256 of a text, as lowercase hex.
pub fn sha256_hex(text: &str) -> String {
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Reads a tokens file's text, refusing secrets in clear and roles not
/// written `process/role`.
pub fn parse_tokens(text: &str) -> Result<Vec<Token>, String> {
    if text.lines().any(|l| {
        let l = l
            .trim_start()
            .trim_start_matches("- ")
            .trim_start_matches('{')
            .trim_start();
        l.starts_with("token:")
    }) {
        return Err("the tokens file holds a secret in clear (`token:`); store its SHA-256 as `sha256:` instead (`ravand token new` prints one)".into());
    }
    let tokens: Vec<Token> = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
    for t in &tokens {
        if t.sha256.len() != 64 || !t.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("token of `{}`: `sha256` must be 64 hex digits", t.user));
        }
        if let Some(r) = t
            .roles
            .iter()
            .find(|r| r.split_once('/').is_none_or(|(p, x)| p.is_empty() || x.is_empty()))
        {
            return Err(format!(
                "token of `{}`: role `{r}` must be written `process/role` (or `process/*`)",
                t.user
            ));
        }
    }
    Ok(tokens)
}

/// The caller, once its token checked out.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The access level.
    pub access: Access,
    /// Who.
    pub user: String,
    /// What the engine lets it touch.
    pub actor: Actor,
}

impl Caller {
    fn of(t: &Token) -> Caller {
        let grants = match t.access {
            Access::Admin => Grants::All,
            Access::Auditor => Grants::ReadAll,
            Access::Analyst | Access::Clerk => Grants::Scoped(Scope {
                processes: t.processes.iter().cloned().collect::<BTreeSet<_>>(),
                roles: t.roles.iter().cloned().collect(),
            }),
        };
        Caller {
            access: t.access,
            user: t.user.clone(),
            actor: Actor {
                user: Some(t.user.clone()),
                grants,
                staff: true,
            },
        }
    }
}

/// A request as `/metrics` counts it: the route's template (never the
/// path, which may hold a tracking code), the method and the status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct RequestLabels {
    /// `GET`, `POST`, …
    pub method: String,
    /// The route's template, e.g. `/cases/{id}`.
    pub route: String,
    /// The answer's status code.
    pub status: u16,
}

fn latency() -> Histogram {
    // 100 µs to 30 s.
    Histogram::new(exponential_buckets(0.0001, 2.5, 14))
}

/// The service's metrics for `/metrics` (the engine's own are beside them).
#[derive(Debug)]
pub struct Metrics {
    /// Request latency, by method, route and status.
    pub requests: Family<RequestLabels, Histogram, fn() -> Histogram>,
    /// Tasks and jobs completed through the API.
    pub tasks_completed: Counter,
    /// Messages delivered.
    pub messages: Counter,
    /// Public lookups refused by the rate limit.
    pub rate_limited: Counter,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            requests: Family::new_with_constructor(latency),
            tasks_completed: Counter::default(),
            messages: Counter::default(),
            rate_limited: Counter::default(),
        }
    }
}

impl Metrics {
    /// Registers them (shared: what is counted after this shows).
    pub fn register(&self, r: &mut prometheus_client::registry::Registry) {
        r.register(
            "ravand_http_request_duration_seconds",
            "Time to answer a request, by method, route and status",
            self.requests.clone(),
        );
        r.register(
            "ravand_tasks_completed",
            "Tasks and jobs completed through the API",
            self.tasks_completed.clone(),
        );
        r.register("ravand_messages", "Messages delivered", self.messages.clone());
        r.register(
            "ravand_public_rate_limited",
            "Public lookups refused by the rate limit",
            self.rate_limited.clone(),
        );
    }
}

/// Verifies bearer tokens that are not in the tokens file (the identity
/// provider's JWTs): returns the caller, or `None` when the token is not
/// one it knows.
pub trait Verifier: Send + Sync {
    /// The caller a bearer token stands for, if this verifier accepts it.
    fn verify(&self, token: &str) -> Option<Caller>;

    /// The caller and, when the token says, the instant (Unix seconds) it
    /// stops being valid: a console session lasts no longer.
    fn verify_until(&self, token: &str) -> Option<(Caller, Option<i64>)> {
        self.verify(token).map(|c| (c, None))
    }
}

/// What the handlers share.
pub struct Service {
    /// The engine it serves.
    pub engine: Arc<Engine>,
    tokens: RwLock<Vec<(Vec<u8>, Caller)>>,
    verifier: RwLock<Option<Arc<dyn Verifier>>>,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
    public_limit: net::PublicLimiter,
}

impl Service {
    /// A service over `engine` accepting `tokens`.
    pub fn new(engine: Arc<Engine>, tokens: Vec<Token>) -> Arc<Service> {
        let s = Service {
            engine,
            tokens: RwLock::new(Vec::new()),
            verifier: RwLock::new(None),
            metrics: Metrics::default(),
            public_limit: net::PublicLimiter::new(),
        };
        s.set_tokens(tokens);
        Arc::new(s)
    }

    /// Replaces the accepted tokens (e.g. the tokens file was re-read on
    /// SIGHUP): a token removed from the file is refused from now on.
    pub fn set_tokens(&self, tokens: Vec<Token>) {
        let list = tokens.iter().map(|t| (hex_bytes(&t.sha256), Caller::of(t))).collect();
        *self.tokens.write().unwrap_or_else(|e| e.into_inner()) = list;
    }

    /// Accepts bearer tokens this verifier vouches for (JWTs), besides the file's.
    pub fn set_verifier(&self, v: Option<Arc<dyn Verifier>>) {
        *self.verifier.write().unwrap_or_else(|e| e.into_inner()) = v;
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
        let presented = sha2::Sha256::digest(token.as_bytes());
        // Every entry is compared, in constant time: no early exit tells
        // how close a guess came.
        let mut found: Option<Caller> = None;
        for (hash, caller) in self.tokens.read().unwrap_or_else(|e| e.into_inner()).iter() {
            if bool::from(hash.as_slice().ct_eq(presented.as_slice())) {
                found = Some(caller.clone());
            }
        }
        if let Some(c) = found {
            return Ok(c);
        }
        let verifier = self.verifier.read().unwrap_or_else(|e| e.into_inner()).clone();
        verifier
            .and_then(|v| v.verify(token))
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

fn hex_bytes(h: &str) -> Vec<u8> {
    (0..h.len() / 2)
        .filter_map(|i| h.get(2 * i..2 * i + 2).and_then(|x| u8::from_str_radix(x, 16).ok()))
        .collect()
}

/// An error body: `{"error": code, "message": text, "details": …}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A stable code (`not-found`, `forbidden`, …).
    pub error: String,
    /// What went wrong.
    pub message: String,
    /// Diagnostics, when a definition was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Vec<Object>)]
    pub details: Option<serde_json::Value>,
}

/// A refused request.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

impl ApiError {
    /// A refusal: HTTP status, stable code, message.
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
            EngineError::Forbidden(_) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", msg),
            EngineError::BadInput(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "bad-data", msg),
            EngineError::KeyReused(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "idempotency-key-reused", msg),
            EngineError::BadQuery(_) => ApiError::new(StatusCode::BAD_REQUEST, "bad-query", msg),
            EngineError::NoSuchWebhook(_) => ApiError::new(StatusCode::NOT_FOUND, "no-such-webhook", msg),
            EngineError::NoSuchJob(_) => ApiError::new(StatusCode::NOT_FOUND, "no-such-job", msg),
            EngineError::JobLost(_) => ApiError::new(StatusCode::CONFLICT, "lease-lost", msg),
            EngineError::Unloadable(..) => {
                tracing::error!(error = %msg, "refused: a definition cannot be loaded");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unloadable", msg)
            }
            EngineError::NoSuchCase(_) => ApiError::new(StatusCode::NOT_FOUND, "no-such-case", msg),
            EngineError::NotCorrelated(_) => ApiError::new(StatusCode::NOT_FOUND, "not-correlated", msg),
            EngineError::Calendar(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "calendar", msg),
            EngineError::Command(c) => match c {
                CommandError::NoSuchTask(_)
                | CommandError::NoSuchSubscription(_)
                | CommandError::NoSuchTimer(_)
                | CommandError::NoSuchChild(_)
                | CommandError::NoSuchIncident(_)
                | CommandError::NoInstances(_) => ApiError::new(StatusCode::NOT_FOUND, "not-found", msg),
                CommandError::BadData(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "bad-data", msg),
                CommandError::Inconsistent(_) => {
                    tracing::error!(error = %msg, "a case's state is inconsistent");
                    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "inconsistent", msg)
                }
                CommandError::NotRunning(_)
                | CommandError::NotSuspended
                | CommandError::ClaimedByOther { .. }
                | CommandError::TimerNotDue(_) => ApiError::new(StatusCode::CONFLICT, "conflict", msg),
            },
            EngineError::Store(_) => {
                tracing::error!(error = %msg, "refused: database fault");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store", msg)
            }
        }
    }
}

/// Counts a response for `/metrics`.
fn count(s: &Service, method: &str, route: &str, status: StatusCode, secs: f64) {
    s.metrics
        .requests
        .get_or_create(&RequestLabels {
            method: method.to_owned(),
            route: route.to_owned(),
            status: status.as_u16(),
        })
        .observe(secs);
}
