//! `POST /api/v1/executor` (`Slave::Http::executor`), with Mesos' checks
//! in order: 503 while the agent has not finished start-up, 405, 400/415
//! Content-Type, 400 undecodable or invalid call, 406 Accept, 400 unknown
//! framework or executor, 403 any call but SUBSCRIBE before subscribing;
//! SUBSCRIBE answers a 200 event stream (SUBSCRIBED, the queued LAUNCH
//! events, then HEARTBEATs), UPDATE/MESSAGE/HEARTBEAT answer 202.
//! Also `GET /health` and a small `GET /state`.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use mesos_proto::v1::executor::{call, event, Call, Event};
use mesos_proto::v1::{task_status, AgentInfo, TaskState};
use mesos_proto::Encoding;
use serde_json::{json, Value};
use tracing::{debug, info};

use super::state::{ExecutorConnection, ExecutorState, TaskRecord};
use super::status::Origin;
use super::Agent;
use crate::api::{self, check_uuid, ApiError};
use crate::protocol::{agent_event, ExecutorData};
use crate::stream::{self, StreamSpec};

/// `validation::executor::call::validate`.
fn validate(call: &Call) -> Result<(), String> {
    if call.r#type.is_none() {
        return Err("Expecting 'type' to be present".into());
    }
    match call.r#type() {
        call::Type::Subscribe if call.subscribe.is_none() => {
            Err("Expecting 'subscribe' to be present".into())
        }
        call::Type::Update => {
            let Some(update) = &call.update else {
                return Err("Expecting 'update' to be present".into());
            };
            let status = &update.status;
            let Some(uuid) = &status.uuid else {
                return Err("Expecting 'uuid' to be present".into());
            };
            check_uuid(uuid)?;
            if status
                .executor_id
                .as_ref()
                .is_some_and(|e| *e != call.executor_id)
            {
                return Err(format!(
                    "ExecutorID in Call: {} does not match ExecutorID in TaskStatus: {}",
                    call.executor_id.value,
                    status.executor_id.clone().unwrap_or_default().value
                ));
            }
            if status.source() != task_status::Source::Executor {
                return Err(format!(
                    "Received Call from executor {} of framework {} with invalid source, expecting 'SOURCE_EXECUTOR'",
                    call.executor_id.value, call.framework_id.value
                ));
            }
            if status.state() == TaskState::TaskStaging {
                return Err(format!(
                    "Received TASK_STAGING from executor {} of framework {} which is not allowed",
                    call.executor_id.value, call.framework_id.value
                ));
            }
            Ok(())
        }
        call::Type::Message if call.message.is_none() => {
            Err("Expecting 'message' to be present".into())
        }
        _ => Ok(()),
    }
}

/// The axum handler.
pub(crate) async fn executor(
    State(agent): State<Arc<Agent>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match handle(&agent, &method, &headers, &body) {
        Ok(response) => response,
        Err(error) => {
            debug!(status = %error.status, message = %error.message, "executor call refused");
            error.into_response()
        }
    }
}

fn handle(
    agent: &Arc<Agent>,
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    if !agent.recovered.load(Ordering::SeqCst) {
        return Err(ApiError::unavailable("Agent has not finished recovery"));
    }
    api::require_post(method)?;
    let encoding = api::content_encoding(headers)?;
    let call: Call = api::decode_call(encoding, body)?;
    validate(&call)
        .map_err(|e| ApiError::bad_request(format!("Failed to validate Executor::Call: {e}")))?;
    let accept = api::accept_encoding(headers)?;
    let framework_id = call.framework_id.value.clone();
    let executor_id = call.executor_id.value.clone();
    let mut state = agent.lock();
    let Some(framework) = state.frameworks.get(&framework_id) else {
        return Err(ApiError::bad_request("Framework cannot be found"));
    };
    let Some(executor) = framework.executors.get(&executor_id) else {
        return Err(ApiError::bad_request("Executor cannot be found"));
    };
    if executor.state == ExecutorState::Registering && call.r#type() != call::Type::Subscribe {
        return Err(ApiError::forbidden("Executor is not subscribed"));
    }
    match call.r#type() {
        call::Type::Subscribe => {
            drop(state);
            Ok(subscribe(
                agent,
                &framework_id,
                &executor_id,
                call.subscribe.unwrap_or_default(),
                accept,
            ))
        }
        call::Type::Update => {
            let status = call.update.map(|u| u.status).unwrap_or_default();
            agent.status_update(&mut state, &framework_id, status, Origin::Executor);
            Ok(api::accepted())
        }
        call::Type::Message => {
            agent.send_to_master(agent_event::Kind::ExecutorMessage(ExecutorData {
                framework_id: Some(call.framework_id),
                executor_id: Some(call.executor_id),
                data: call.message.map(|m| m.data).unwrap_or_default(),
            }));
            Ok(api::accepted())
        }
        call::Type::Heartbeat => Ok(api::accepted()),
        call::Type::Unknown => Err(ApiError::not_implemented()),
    }
}

fn typed(kind: event::Type) -> Event {
    Event {
        r#type: Some(kind as i32),
        ..Default::default()
    }
}

/// SUBSCRIBE (`Slave::subscribe`): replaces any earlier connection, takes
/// in the executor's unacknowledged updates, sends SUBSCRIBED and the
/// queued tasks. A terminating executor or framework gets SHUTDOWN.
fn subscribe(
    agent: &Arc<Agent>,
    framework_id: &str,
    executor_id: &str,
    subscribe: call::Subscribe,
    encoding: Encoding,
) -> Response {
    let close = agent.cancel.child_token();
    let mut state = agent.lock();
    let connection_id = state.next_connection;
    state.next_connection += 1;
    let weak: Weak<Agent> = Arc::downgrade(agent);
    let (fid, eid) = (framework_id.to_string(), executor_id.to_string());
    let (events, body) = stream::event_stream(StreamSpec {
        encoder: stream::mesos_encoder::<Event>(encoding),
        heartbeat: Some((
            agent.config.executor_heartbeat_interval,
            typed(event::Type::Heartbeat),
        )),
        capacity: 1 << 14,
        cancel: close.clone(),
        on_close: Some(Box::new(move || {
            if let Some(agent) = weak.upgrade() {
                if let Some(executor) = agent.lock().executor_mut(&fid, &eid) {
                    if executor
                        .connection
                        .as_ref()
                        .is_some_and(|c| c.id == connection_id)
                    {
                        info!(framework = %fid, executor = %eid, "executor disconnected");
                        executor.connection = None;
                    }
                }
            }
        })),
    });
    let agent_id = state.agent_id.clone().unwrap_or_default();
    let terminating = state
        .frameworks
        .get(framework_id)
        .is_none_or(|f| f.terminating);
    let framework_info = state
        .frameworks
        .get(framework_id)
        .map(|f| f.info.clone())
        .unwrap_or_default();
    let Some(executor) = state.executor_mut(framework_id, executor_id) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    if terminating || executor.state == ExecutorState::Terminating {
        info!(framework = %framework_id, executor = %executor_id, "shutting down executor that subscribed while terminating");
        let _ = events.send(typed(event::Type::Shutdown));
        close.cancel();
    } else {
        if let Some(old) = executor.connection.take() {
            info!(framework = %framework_id, executor = %executor_id, "closing existing connection of executor");
            old.close.cancel();
        }
        executor.state = ExecutorState::Running;
        executor.connection = Some(ExecutorConnection {
            id: connection_id,
            events,
            close,
        });
        let mut agent_info: AgentInfo = agent.info.clone();
        agent_info.id = Some(agent_id.as_str().into());
        let mut executor_info = executor.info.clone();
        executor_info.framework_id = framework_info.id.clone();
        executor.send(Event {
            subscribed: Some(event::Subscribed {
                executor_info,
                framework_info,
                agent_info,
                container_id: Some(mesos_proto::v1::ContainerId::new(
                    executor.container_id.clone(),
                )),
            }),
            ..typed(event::Type::Subscribed)
        });
        info!(framework = %framework_id, executor = %executor_id, "executor subscribed");
        for task in std::mem::take(&mut executor.queued) {
            executor.launched.insert(
                task.task_id.value.clone(),
                TaskRecord {
                    info: task.clone(),
                    state: TaskState::TaskStaging,
                    latest: None,
                },
            );
            executor.send(Event {
                launch: Some(event::Launch { task }),
                ..typed(event::Type::Launch)
            });
        }
        for group in std::mem::take(&mut executor.queued_groups) {
            for task in &group.tasks {
                executor.launched.insert(
                    task.task_id.value.clone(),
                    TaskRecord {
                        info: task.clone(),
                        state: TaskState::TaskStaging,
                        latest: None,
                    },
                );
            }
            executor.send(Event {
                launch_group: Some(event::LaunchGroup { task_group: group }),
                ..typed(event::Type::LaunchGroup)
            });
        }
        for update in subscribe.unacknowledged_updates {
            agent.status_update(&mut state, framework_id, update.status, Origin::Executor);
        }
    }
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(encoding.content_type()),
    );
    response
}

/// `GET /health`.
pub(crate) async fn health() -> StatusCode {
    StatusCode::OK
}

/// `GET /state`: the agent's frameworks, executors and their sandboxes.
pub(crate) async fn state(State(agent): State<Arc<Agent>>) -> Json<Value> {
    let state = agent.lock();
    let frameworks: Vec<Value> = state
        .frameworks
        .iter()
        .map(|(id, framework)| {
            let executors: Vec<Value> = framework
                .executors
                .values()
                .map(|e| {
                    json!({
                        "id": e.info.executor_id.value,
                        "container": e.container_id,
                        "directory": e.directory.display().to_string(),
                        "pid": e.pid,
                        "tasks": e.launched.values().map(|t| json!({"id": t.info.task_id.value, "state": t.state.as_str_name()})).collect::<Vec<_>>(),
                        "queued_tasks": e.queued.iter().map(|t| t.task_id.value.clone()).collect::<Vec<_>>(),
                    })
                })
                .collect();
            json!({"id": id, "name": framework.info.name, "executors": executors})
        })
        .collect();
    Json(json!({
        "id": state.agent_id,
        "hostname": agent.info.hostname,
        "pid": format!("slave(1)@{}", agent.endpoint),
        "version": crate::config::MESOS_VERSION,
        "frameworks": frameworks,
        "pending_status_updates": state.updates.pending_count(),
    }))
}
