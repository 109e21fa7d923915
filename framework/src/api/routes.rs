//! The routes of the framework's HTTP API (`curl http://host:port/v1/services`):
//! read-only JSON views of the latest [`Snapshot`], the health check and the
//! Prometheus metrics. Every request reads the snapshot the scheduler last
//! published on the watch channel, so changes show up in the next response.
//!
//! | route | answer |
//! |---|---|
//! | `GET /v1/services` | `{"services":[ServiceView...]}` |
//! | `GET /v1/services/{tenant}/{name}` | a `ServiceView`, or 404 `{"error":"no service coke/x"}` |
//! | `GET /v1/tasks` | `{"tasks":[TaskView...]}` |
//! | `DELETE /v1/tasks/{id}` | 202 `{"task":"..","kill":"sent"}` once the KILL is sent; 404 for an unknown task, 503 when not subscribed, 502 when the master refused |
//! | `GET /health` | 200 `{"status":"ok",..}` when connected, else 503 `{"status":"disconnected",..}` |
//! | `GET /metrics` | Prometheus text, `text/plain; version=0.0.4` |
//!
//! Unknown paths answer 404 and other methods 405, both `{"error":"..."}`.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Serialize;
use tokio::sync::{oneshot, watch};

use super::control::{Command, Commands, KillRefused};
use super::metrics::Metrics;
use super::snapshot::{ServiceView, Snapshot, TaskView};

/// The media type of `/metrics`: the Prometheus text format 0.0.4.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What the handlers share: the scheduler's published snapshot and the metrics.
#[derive(Clone, Debug)]
pub struct ApiState {
    /// The latest snapshot; the scheduler sends a new one after every change.
    pub snapshot: watch::Receiver<Arc<Snapshot>>,
    /// The counters the scheduler bumps.
    pub metrics: Arc<Metrics>,
    /// Requests to the scheduler (task kills); without it they answer 503.
    pub commands: Option<Commands>,
}

impl ApiState {
    /// The snapshot as of now (the watch lock is held only to clone the Arc).
    fn current(&self) -> Arc<Snapshot> {
        self.snapshot.borrow().clone()
    }
}

/// The API's routes, for [`super::serve`] or for embedding in another server.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/v1/services", get(list_services))
        .route("/v1/services/{tenant}/{name}", get(one_service))
        .route("/v1/tasks", get(list_tasks))
        .route("/v1/tasks/{id}", delete(kill_task))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// An error answer: `status` with the one-line body `{"error":"<message>"}`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: &self.message,
        };
        (self.status, Json(body)).into_response()
    }
}

#[derive(Serialize)]
struct ServiceList<'a> {
    services: &'a [ServiceView],
}

#[derive(Serialize)]
struct TaskList<'a> {
    tasks: &'a [Arc<TaskView>],
}

#[derive(Serialize)]
struct Health<'a> {
    status: &'static str,
    framework_id: Option<&'a str>,
    master: &'a str,
}

async fn list_services(State(state): State<ApiState>) -> Response {
    let snapshot = state.current();
    Json(ServiceList {
        services: &snapshot.services,
    })
    .into_response()
}

async fn one_service(
    State(state): State<ApiState>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path((tenant, name)) = path.map_err(|rejection| ApiError {
        status: StatusCode::BAD_REQUEST,
        message: rejection.body_text(),
    })?;
    let snapshot = state.current();
    match snapshot.service(&tenant, &name) {
        Some(service) => Ok(Json(service).into_response()),
        None => Err(ApiError {
            status: StatusCode::NOT_FOUND,
            message: format!("no service {tenant}/{name}"),
        }),
    }
}

async fn list_tasks(State(state): State<ApiState>) -> Response {
    let snapshot = state.current();
    Json(TaskList {
        tasks: &snapshot.tasks,
    })
    .into_response()
}

#[derive(Serialize)]
struct KillSent<'a> {
    task: &'a str,
    kill: &'static str,
}

/// How long a kill waits for the scheduler's answer.
const KILL_ANSWER: std::time::Duration = std::time::Duration::from_secs(10);

async fn kill_task(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(task_id) = path.map_err(|rejection| ApiError {
        status: StatusCode::BAD_REQUEST,
        message: rejection.body_text(),
    })?;
    let unavailable = |message: &str| ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        message: message.to_owned(),
    };
    let commands = state
        .commands
        .as_ref()
        .ok_or_else(|| unavailable("this API serves no scheduler"))?;
    if !state.current().connected {
        return Err(unavailable(&KillRefused::NotConnected.to_string()));
    }
    let (reply, answer) = oneshot::channel();
    let command = Command::Kill {
        task_id: task_id.clone(),
        reply,
    };
    commands
        .send(command)
        .await
        .map_err(|_| unavailable("the scheduler is stopping"))?;
    let answer = tokio::time::timeout(KILL_ANSWER, answer)
        .await
        .map_err(|_| unavailable("the scheduler did not answer in time (not subscribed?)"))?
        .map_err(|_| unavailable("the scheduler is stopping"))?;
    match answer {
        Ok(()) => {
            let body = KillSent {
                task: &task_id,
                kill: "sent",
            };
            Ok((StatusCode::ACCEPTED, Json(body)).into_response())
        }
        Err(refused) => {
            let status = match refused {
                KillRefused::UnknownTask(_) => StatusCode::NOT_FOUND,
                KillRefused::NotConnected => StatusCode::SERVICE_UNAVAILABLE,
                KillRefused::Mesos { .. } => StatusCode::BAD_GATEWAY,
            };
            Err(ApiError {
                status,
                message: refused.to_string(),
            })
        }
    }
}

async fn health(State(state): State<ApiState>) -> Response {
    let snapshot = state.current();
    let (status, word) = if snapshot.connected {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "disconnected")
    };
    let body = Health {
        status: word,
        framework_id: snapshot.framework_id.as_deref(),
        master: &snapshot.master,
    };
    (status, Json(body)).into_response()
}

async fn metrics(State(state): State<ApiState>) -> Response {
    let text = state.metrics.render_current(&state.current());
    ([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], text).into_response()
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        message: format!("no route {}", uri.path()),
    }
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        message: format!("method {method} not allowed on {}", uri.path()),
    }
}
