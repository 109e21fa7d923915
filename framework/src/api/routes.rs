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
//! | `GET /health` | 200 `{"status":"ok",..}` when connected, else 503 `{"status":"disconnected",..}` |
//! | `GET /metrics` | Prometheus text, `text/plain; version=0.0.4` |
//!
//! Unknown paths answer 404 and other methods 405, both `{"error":"..."}`.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use tokio::sync::watch;

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
    tasks: &'a [TaskView],
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
    let text = state.metrics.render(&state.current());
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
