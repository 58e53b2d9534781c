//! The OpenAPI document's shapes of what the engine returns, and the parts
//! every operation shares (authentication, refusals).
//!
//! The engine's own types live in the pure core, which does not depend on
//! utoipa; these structs say, for the document only, how those types
//! serialise. `http::the_api_description_says_what_the_answers_hold`
//! compares each with a real answer, key by key, so they cannot drift.

#![allow(dead_code)]

use serde_json::{json, Value};
use utoipa::ToSchema;

/// Where a case stands.
#[derive(ToSchema)]
#[schema(as = Status, rename_all = "kebab-case")]
pub enum StatusDoc {
    /// Work goes on.
    Running,
    /// Held by a manager; clocks stopped.
    Suspended,
    /// Reached an end.
    Completed,
    /// Stopped at a terminate step.
    Terminated,
    /// Cancelled from outside.
    Cancelled,
}

/// A deployed definition.
#[derive(ToSchema)]
#[schema(as = DefinitionKey)]
pub struct DefinitionKeyDoc {
    /// The process id.
    process: String,
    /// Its version.
    version: u32,
    /// SHA-256 of the source text, hex.
    hash: String,
}

/// An open task.
#[derive(ToSchema)]
#[schema(as = TaskView)]
pub struct TaskViewDoc {
    /// The task's id in its case.
    task: u32,
    /// Its step's id.
    step: String,
    /// Its step's title.
    title: String,
    /// Whose list it is on.
    role: Option<String>,
    /// Who claimed it.
    assignee: Option<String>,
    /// When it was opened (seconds since the epoch).
    created_at: i64,
    /// When it is due (seconds since the epoch).
    due_at: Option<i64>,
    /// The due instant in Solar Hijri and Gregorian.
    due: Option<String>,
    /// Whether its deadline has passed.
    overdue: bool,
    /// For one instance of a task with multiple instances: its item (for a
    /// count, its number from 1); left out for any other task.
    item: Option<Value>,
}

/// An open task with its case, as the worklist lists it.
#[derive(ToSchema)]
#[schema(as = WorkItem)]
pub struct WorkItemDoc {
    /// The case.
    case: u64,
    /// The task.
    task: TaskViewDoc,
}

/// An open task with its case, as `/tasks` lists it.
#[derive(ToSchema)]
#[schema(as = TaskItem)]
pub struct TaskItemDoc {
    /// The case.
    case: u64,
    /// The case's process.
    process: String,
    /// The process version.
    version: u32,
    /// The unit of the role whose list it is on.
    unit: Option<String>,
    /// The task.
    task: TaskViewDoc,
}

/// A page of open tasks.
#[derive(ToSchema)]
#[schema(as = TaskPage)]
pub struct TaskPageDoc {
    /// The tasks, by due instant.
    items: Vec<TaskItemDoc>,
    /// The cursor of the next page (`after`); null on the last.
    next: Option<String>,
}

/// A case as listed.
#[derive(ToSchema)]
#[schema(as = CaseItem)]
pub struct CaseItemDoc {
    /// Its id.
    case: u64,
    /// Its process.
    process: String,
    /// The process version.
    version: u32,
    /// Where it stands.
    status: StatusDoc,
    /// Its tracking code.
    tracking_code: String,
    /// When it started (seconds since the epoch).
    started_at: i64,
    /// When it last changed (seconds since the epoch).
    updated_at: i64,
}

/// A page of cases.
#[derive(ToSchema)]
#[schema(as = CasePage)]
pub struct CasePageDoc {
    /// The cases, newest first.
    items: Vec<CaseItemDoc>,
    /// The cursor of the next page (`after`); null on the last.
    next: Option<String>,
}

/// An event of the feed.
#[derive(ToSchema)]
#[schema(as = FeedItem)]
pub struct FeedItemDoc {
    /// Its position: pass as `after` to read what follows.
    position: String,
    /// Its case.
    case: u64,
    /// The case's process.
    process: String,
    /// The event as in the case's history: `seq`, `at`, and `type` naming
    /// its kind, with that kind's fields.
    #[schema(value_type = Object)]
    event: Value,
}

/// A page of the event feed.
#[derive(ToSchema)]
#[schema(as = FeedPage)]
pub struct FeedPageDoc {
    /// The events, in commit order.
    items: Vec<FeedItemDoc>,
    /// Where to read on from; the same cursor again when nothing new came.
    next: Option<String>,
}

/// Where a case stands.
#[derive(ToSchema)]
#[schema(as = CaseView)]
pub struct CaseViewDoc {
    /// The process id.
    process: String,
    /// Its version.
    version: u32,
    /// Where it stands.
    status: StatusDoc,
    /// How it ended.
    outcome: Option<String>,
    /// The steps where the case is, each as [id, title].
    stage: Vec<Vec<String>>,
    /// Open tasks.
    tasks: Vec<TaskViewDoc>,
    /// The case deadline in both calendars.
    case_due: Option<String>,
    /// When the next timer fires (seconds since the epoch).
    next_timer: Option<i64>,
    /// Open incidents, as text.
    incidents: Vec<String>,
    /// The case data.
    #[schema(value_type = Object)]
    data: Value,
}

/// A case's history.
#[derive(ToSchema)]
#[schema(as = History)]
pub struct HistoryDoc {
    /// Every event, in order.
    #[schema(value_type = Vec<Object>)]
    events: Vec<Value>,
    /// The events that matter to people, as lines.
    lines: Vec<String>,
}

/// An open incident.
#[derive(ToSchema)]
#[schema(as = Incident)]
pub struct IncidentDoc {
    /// The case.
    case: u64,
    /// The token it stopped (the id to resolve).
    token: u32,
    /// The case's process.
    process: String,
    /// The step's id.
    step: String,
    /// What went wrong.
    message: String,
    /// When it was raised (seconds since the epoch).
    since: i64,
}

/// A read recorded in a case's audit trail.
#[derive(ToSchema)]
#[schema(as = AuditEntry)]
pub struct AuditDoc {
    /// When (seconds since the epoch).
    at: i64,
    /// Who read.
    who: String,
    /// What was read.
    what: String,
}

/// A job handed to a worker.
#[derive(ToSchema)]
#[schema(as = Job)]
pub struct JobDoc {
    /// Its case.
    case: u64,
    /// Its task in the case.
    task: u32,
    /// The step's topic.
    topic: String,
    /// The case's process.
    process: String,
    /// The step's id.
    step: String,
    /// Who holds it.
    worker: String,
    /// Until when (seconds since the epoch).
    lock_until: i64,
    /// Retries left, as the last failure said.
    retries: Option<u32>,
    /// The last failure's message.
    last_error: Option<String>,
    /// The case data the step shows.
    #[schema(value_type = Object)]
    variables: Value,
}

/// What became of a failed job: `retry` (offered again `at`) or `incident`.
#[derive(ToSchema)]
#[schema(as = Failed)]
pub struct FailedDoc {
    /// `retry` or `incident`.
    then: String,
    /// For a retry: when (seconds since the epoch).
    at: Option<i64>,
}

/// A webhook subscription.
#[derive(ToSchema)]
#[schema(as = Webhook)]
pub struct WebhookDoc {
    /// Its id.
    id: i64,
    /// Where events are posted.
    url: String,
    /// The event kinds it wants (empty: all).
    events: Vec<String>,
    /// Only events of this process's cases.
    process: Option<String>,
    /// When it was made (seconds since the epoch).
    created_at: i64,
    /// Events delivered so far.
    delivered: i64,
    /// Failed attempts since the last delivery.
    failures: i64,
    /// The next attempt after a failure (seconds since the epoch).
    next_attempt: i64,
    /// The last failure.
    last_error: Option<String>,
}

/// Routes that need no token.
const PUBLIC: &[&str] = &["/health", "/metrics", "/openapi.json", "/public/cases/{code}"];

/// Adds to the generated document what every operation shares: bearer
/// authentication (a token from the tokens file, or the identity
/// provider's JWT), and the refusals the service makes before a handler
/// runs, each with the error body.
pub fn finish(mut doc: Value) -> Value {
    doc["components"]["securitySchemes"] = json!({
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "A token of the tokens file, or a JWT of the configured identity provider."
        }
    });
    doc["security"] = json!([{ "bearer": [] }]);
    doc["servers"] = json!([{ "url": "/", "description": "the server that serves this document" }]);
    doc["info"]["license"] = json!({ "name": "MIT OR Apache-2.0", "identifier": "MIT OR Apache-2.0" });
    let error = |what: &str| {
        json!({
            "description": what,
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } } }
        })
    };
    let Some(paths) = doc["paths"].as_object_mut() else {
        return doc;
    };
    for (path, item) in paths.iter_mut() {
        let public = PUBLIC.contains(&path.as_str());
        let Some(ops) = item.as_object_mut() else { continue };
        for (method, op) in ops.iter_mut() {
            let has_body = op.get("requestBody").is_some();
            let has_params = op
                .get("parameters")
                .is_some_and(|p| p.as_array().is_some_and(|a| !a.is_empty()));
            if public {
                op["security"] = json!([]);
            }
            let responses = &mut op["responses"];
            let mut add = |code: &str, what: &str| {
                if responses.get(code).is_none() {
                    responses[code] = error(what);
                }
            };
            if !public {
                add("401", "no token, or one that is not valid");
                add("403", "the token does not grant this");
            }
            if has_body || has_params || method == "post" {
                add("400", "the request is malformed (JSON, path or query)");
            }
            if method == "post" {
                add("413", "the body is larger than the service takes");
                add("415", "the body is not `application/json`");
            }
            if path == "/public/cases/{code}" {
                add("429", "too many lookups; wait a few seconds");
            }
            add("503", "the database is unavailable, or the request took too long");
        }
    }
    doc
}
