//! The HTTP side of the test agent: `POST /api/v1/executor` decoding calls
//! in their `Content-Type`, SUBSCRIBE streams (SUBSCRIBED first, resent
//! updates recorded), UPDATE recording (and acknowledging) updates.

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::channel::mpsc;
use futures::StreamExt;
use mesos_proto::v1::executor::{call, event, Call, Event};
use mesos_proto::v1::{
    framework_info, AgentInfo, ExecutorId, ExecutorInfo, FrameworkInfo, TaskStatus,
};
use mesos_proto::{recordio, Encoding};

use super::server::{Received, Shared};

pub(super) fn event_of(kind: event::Type) -> Event {
    let mut e = Event::default();
    e.set_type(kind);
    e
}

pub(super) fn ack(status: &TaskStatus) -> Event {
    let mut e = event_of(event::Type::Acknowledged);
    e.acknowledged = Some(event::Acknowledged {
        task_id: status.task_id.clone(),
        uuid: status.uuid.clone().unwrap_or_default(),
    });
    e
}

pub(super) async fn handle(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(encoding) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(Encoding::from_content_type)
    else {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported Content-Type",
        )
            .into_response();
    };
    let call: Call = match encoding.decode(&body) {
        Ok(c) => c,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    if call.framework_id != shared.framework_id {
        return (StatusCode::BAD_REQUEST, "unknown framework").into_response();
    }
    let executor = call.executor_id.clone();
    match call.r#type() {
        call::Type::Subscribe => subscribe(
            &shared,
            executor,
            encoding,
            call.subscribe.unwrap_or_default(),
        ),
        call::Type::Update => {
            let Some(update) = call.update else {
                return (StatusCode::BAD_REQUEST, "UPDATE without update").into_response();
            };
            receive(&shared, &executor, update.status, false);
            StatusCode::ACCEPTED.into_response()
        }
        call::Type::Message | call::Type::Heartbeat => StatusCode::ACCEPTED.into_response(),
        call::Type::Unknown => (StatusCode::BAD_REQUEST, "unknown call").into_response(),
    }
}

fn receive(shared: &Shared, executor: &ExecutorId, status: TaskStatus, resent: bool) {
    let mut agent = shared.agent.lock().expect("agent lock");
    if agent.updates.iter().any(|r| r.status.uuid == status.uuid) {
        return; // a duplicate (resent after a reconnection)
    }
    if agent.auto_ack {
        if let Some((tx, encoding)) = agent.streams.get(executor) {
            if let Ok(body) = encoding.encode(&ack(&status)) {
                let _ = tx.unbounded_send(Bytes::from(recordio::encode(&body)));
            }
        }
    }
    agent.updates.push(Received {
        status,
        at: Instant::now(),
        resent,
    });
    drop(agent);
    shared.bump();
}

fn subscribe(
    shared: &Shared,
    executor: ExecutorId,
    encoding: Encoding,
    sub: call::Subscribe,
) -> Response {
    let (tx, rx) = mpsc::unbounded::<Bytes>();
    {
        let mut agent = shared.agent.lock().expect("agent lock");
        if agent.refuse_subscribe {
            return (StatusCode::SERVICE_UNAVAILABLE, "agent is recovering").into_response();
        }
        let mut e = event_of(event::Type::Subscribed);
        e.subscribed = Some(event::Subscribed {
            executor_info: ExecutorInfo {
                executor_id: executor.clone(),
                framework_id: Some(shared.framework_id.clone()),
                ..Default::default()
            },
            framework_info: FrameworkInfo {
                user: "root".into(),
                name: "ovn-mesos-test".into(),
                id: Some(shared.framework_id.clone()),
                capabilities: vec![framework_info::Capability {
                    r#type: Some(framework_info::capability::Type::TaskKillingState as i32),
                }],
                ..Default::default()
            },
            agent_info: AgentInfo {
                hostname: "localhost".into(),
                id: Some(shared.agent_id.clone()),
                ..Default::default()
            },
            container_id: None,
        });
        if let Ok(body) = encoding.encode(&e) {
            let _ = tx.unbounded_send(Bytes::from(recordio::encode(&body)));
        }
        if let Some((old, _)) = agent.streams.insert(executor.clone(), (tx, encoding)) {
            old.close_channel();
        }
        agent.subscribes.push((executor.clone(), sub.clone()));
    }
    for update in sub.unacknowledged_updates {
        receive(shared, &executor, update.status, true);
    }
    shared.bump();
    let stream = rx.map(Ok::<_, std::convert::Infallible>);
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, encoding.content_type())
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
