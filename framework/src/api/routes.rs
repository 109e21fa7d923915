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
//! | `GET /v1/definitions` | `{"definitions":[DefinitionView...]}` |
//! | `POST /v1/definitions` | body: a task file's JSON; 201 `{"definition":"..","result":"created",..}`, else 200 with `updated`, `scaled` or `unchanged` |
//! | `GET /v1/definitions/{id}` | a `DefinitionView` (with its deployment), or 404 |
//! | `PUT /v1/definitions/{id}` | as `POST`; the body's id must be `{id}` |
//! | `PUT /v1/definitions/{id}/instances` | body `{"instances":N}`; 200 `{"definition":"..","result":"scaled"\|"unchanged","instances":N}` |
//! | `DELETE /v1/definitions/{id}` | 200 `{"definition":"..","result":"deleted"}`; its tasks drain and go |
//! | `GET /v1/deployments` | `{"deployments":[DeploymentView...]}` |
//! | `DELETE /v1/deployments/{definition}` | cancels the definition's deployment: back to the definition it replaced; 200 `{"definition":"..","result":"cancelled","deployment":".."}`, 409 when none is under way |
//! | `GET /v1/events` | Server-Sent Events, one JSON object with a `type` each; `?event_type=T` (repeatable) filters |
//! | `GET /health` | 200 `{"status":"ok","role":"leader","leader":"<api>",..}` when connected, else 503 `{"status":"disconnected",..}`; a standby of `--zk`: 200 `{"status":"standby","role":"standby","leader":"<the leader's api>"}`, 503 while no instance leads |
//! | `GET /metrics` | Prometheus text, `text/plain; version=0.0.4` |
//!
//! A standby of `--zk` answers `/health` and `/metrics` itself and every
//! other request with 307 to the same path on the leader's advertised API
//! address (method and body are kept, as `curl -L` and the `ovn-mesos`
//! client follow it), or 503 while no instance leads.
//!
//! Unknown paths answer 404 and other methods 405, both `{"error":"..."}`.
//! A refused change answers 400 (a bad body or field, an unknown network),
//! 404 (no such definition) or 409 (a VIP conflict, no deployment to
//! cancel), each with one line naming the culprit, and changes nothing.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, put};
use axum::{Json, Router};
use serde::Serialize;
use tokio::sync::{oneshot, watch};

use super::control::{
    Command, Commands, DefinitionAnswer, DefinitionRefused, DefinitionRequest, KillRefused,
};
use super::events::EventHub;
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
    /// Requests to the scheduler (task kills, definitions); without it
    /// they answer 503.
    pub commands: Option<Commands>,
    /// The event stream; without it `/v1/events` answers 503.
    pub events: Option<EventHub>,
    /// This instance's role in an HA framework (`--zk`); none for a single
    /// instance, which always leads.
    pub ha: Option<HaRole>,
}

/// What `/health` and the standby redirects need of the election.
#[derive(Clone, Debug)]
pub struct HaRole {
    /// This instance's advertised API address.
    pub advertise: String,
    /// This instance leads (and schedules).
    pub leading: watch::Receiver<bool>,
    /// The leader's advertised API address, as the latch in ZooKeeper says.
    pub leader: watch::Receiver<Option<String>>,
}

impl HaRole {
    fn leading(&self) -> bool {
        *self.leading.borrow()
    }

    /// Who leads: this instance, or the one the latch names (never this
    /// instance when it does not lead: its own node of an earlier session
    /// may linger until that session expires).
    fn leader(&self) -> Option<String> {
        if self.leading() {
            return Some(self.advertise.clone());
        }
        self.leader
            .borrow()
            .clone()
            .filter(|leader| *leader != self.advertise)
    }
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
        .route(
            "/v1/definitions",
            get(list_definitions).post(apply_definition),
        )
        .route(
            "/v1/definitions/{id}",
            get(one_definition)
                .put(replace_definition)
                .delete(delete_definition),
        )
        .route("/v1/definitions/{id}/instances", put(scale_definition))
        .route("/v1/deployments", get(list_deployments))
        .route("/v1/deployments/{id}", delete(cancel_deployment))
        .route("/v1/events", get(events))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            standby_redirect,
        ))
        .with_state(state)
}

/// On a standby, everything but `/health` and `/metrics` goes to the
/// leader: 307 to the same path and query on its advertised address.
async fn standby_redirect(
    State(state): State<ApiState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let Some(ha) = state.ha.as_ref().filter(|ha| !ha.leading()) else {
        return next.run(request).await;
    };
    let path = request.uri().path();
    if path == "/health" || path == "/metrics" {
        return next.run(request).await;
    }
    let Some(leader) = ha.leader() else {
        return ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: "this instance stands by and no instance leads yet; retry".into(),
        }
        .into_response();
    };
    let target = match request.uri().path_and_query() {
        Some(pq) => format!("http://{leader}{pq}"),
        None => format!("http://{leader}{path}"),
    };
    (
        StatusCode::TEMPORARY_REDIRECT,
        [(header::LOCATION, target)],
        Json(ErrorBody {
            error: &format!("this instance stands by; the leader is {leader}"),
        }),
    )
        .into_response()
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
    /// `leader` or `standby`.
    role: &'static str,
    /// The leader's advertised API address, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    leader: Option<String>,
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
    if let Some(ha) = state.ha.as_ref().filter(|ha| !ha.leading()) {
        let leader = ha.leader();
        let status = match leader {
            Some(_) => StatusCode::OK,
            None => StatusCode::SERVICE_UNAVAILABLE,
        };
        let body = Health {
            status: "standby",
            role: "standby",
            leader,
            framework_id: None,
            master: "",
        };
        return (status, Json(body)).into_response();
    }
    let snapshot = state.current();
    let (status, word) = if snapshot.connected {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "disconnected")
    };
    let body = Health {
        status: word,
        role: "leader",
        leader: state.ha.as_ref().map(|ha| ha.advertise.clone()),
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

#[derive(Serialize)]
struct DefinitionList<'a> {
    definitions: &'a [super::DefinitionView],
}

#[derive(Serialize)]
struct DeploymentList<'a> {
    deployments: &'a [super::DeploymentView],
}

async fn list_definitions(State(state): State<ApiState>) -> Response {
    let snapshot = state.current();
    Json(DefinitionList {
        definitions: &snapshot.definitions,
    })
    .into_response()
}

async fn one_definition(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = path_id(path)?;
    let snapshot = state.current();
    match snapshot.definition(&id) {
        Some(d) => Ok(Json(d).into_response()),
        None => Err(ApiError {
            status: StatusCode::NOT_FOUND,
            message: format!("no definition {id}"),
        }),
    }
}

async fn list_deployments(State(state): State<ApiState>) -> Response {
    let snapshot = state.current();
    Json(DeploymentList {
        deployments: &snapshot.deployments,
    })
    .into_response()
}

fn path_id(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(id)| id).map_err(|rejection| ApiError {
        status: StatusCode::BAD_REQUEST,
        message: rejection.body_text(),
    })
}

async fn apply_definition(
    State(state): State<ApiState>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request = DefinitionRequest::Apply {
        id: None,
        body: body.to_vec(),
    };
    change(&state, request).await
}

async fn replace_definition(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = path_id(path)?;
    let request = DefinitionRequest::Apply {
        id: Some(id),
        body: body.to_vec(),
    };
    change(&state, request).await
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Instances {
    instances: u32,
}

async fn scale_definition(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = path_id(path)?;
    let Instances { instances } = serde_json::from_slice(&body).map_err(|e| ApiError {
        status: StatusCode::BAD_REQUEST,
        message: format!("the body must be {{\"instances\": N}} with N a whole number from 0: {e}"),
    })?;
    change(&state, DefinitionRequest::Scale { id, instances }).await
}

async fn delete_definition(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = path_id(path)?;
    change(&state, DefinitionRequest::Delete { id }).await
}

async fn cancel_deployment(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = path_id(path)?;
    // A deployment is named by its definition, or by its own id.
    let id = id
        .split_once('@')
        .map_or(id.as_str(), |(d, _)| d)
        .to_owned();
    change(&state, DefinitionRequest::Cancel { id }).await
}

/// How long a change waits for the scheduler's answer.
const CHANGE_ANSWER: std::time::Duration = std::time::Duration::from_secs(10);

async fn change(state: &ApiState, request: DefinitionRequest) -> Result<Response, ApiError> {
    let unavailable = |message: &str| ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        message: message.to_owned(),
    };
    let commands = state
        .commands
        .as_ref()
        .ok_or_else(|| unavailable("this API serves no scheduler"))?;
    let (reply, answer) = oneshot::channel();
    commands
        .send(Command::Definition { request, reply })
        .await
        .map_err(|_| unavailable("the scheduler is stopping"))?;
    let answer: Result<DefinitionAnswer, DefinitionRefused> =
        tokio::time::timeout(CHANGE_ANSWER, answer)
            .await
            .map_err(|_| unavailable("the scheduler did not answer in time"))?
            .map_err(|_| unavailable("the scheduler is stopping"))?;
    match answer {
        Ok(answer) => {
            let status = if answer.result == "created" {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok((status, Json(answer)).into_response())
        }
        Err(refused) => {
            let status = match refused {
                DefinitionRefused::Invalid(_) => StatusCode::BAD_REQUEST,
                DefinitionRefused::Unknown(_) => StatusCode::NOT_FOUND,
                DefinitionRefused::Conflict(_) => StatusCode::CONFLICT,
                DefinitionRefused::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            Err(ApiError {
                status,
                message: refused.to_string(),
            })
        }
    }
}

async fn events(
    State(state): State<ApiState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let hub = state.events.as_ref().ok_or_else(|| ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        message: "this API serves no event stream".into(),
    })?;
    Ok(hub.stream_query(query.as_deref()))
}
