//! The master's read-only endpoints: `GET /version` (what pymesos asks
//! first), `GET /health` and `GET /state` (`/master/state`), the last in the
//! shape of Mesos' `/state`: agents with resources and attributes,
//! frameworks with tasks whose `statuses[].container_status.network_infos`
//! carry the task IPs (what Mesos-DNS and operators read).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use mesos_proto::v1::{Task, TaskStatus};
use serde_json::{json, Map, Value};

use super::framework::Framework;
use super::state::{AgentRecord, MasterState};
use super::Master;
use crate::config::MESOS_VERSION;
use crate::resources::{attributes_state_json, Resources};

/// `GET /version`.
pub(crate) async fn version() -> Json<Value> {
    Json(version_json())
}

fn version_json() -> Value {
    json!({
        "version": MESOS_VERSION,
        "build_user": "mesos-local",
        "build_date": "",
        "build_time": 0.0,
        "git_tag": MESOS_VERSION,
    })
}

/// `GET /health`: 200, empty body.
pub(crate) async fn health() -> StatusCode {
    StatusCode::OK
}

/// `GET /state`: redirected to the leader by a master that does not lead
/// (as Mesos' `Master::Http::state`).
pub(crate) async fn state_endpoint(State(master): State<Arc<Master>>, uri: Uri) -> Response {
    if !master.elected() {
        return master.redirect(&uri);
    }
    Json(state(&master)).into_response()
}

fn proto_json<M: prost::Message + prost::Name>(message: &M) -> Value {
    mesos_proto::to_json(message).unwrap_or(Value::Null)
}

fn status_json(status: &TaskStatus) -> Value {
    let mut model = Map::new();
    model.insert("state".into(), json!(status.state().as_str_name()));
    model.insert(
        "timestamp".into(),
        json!(status.timestamp.unwrap_or_default()),
    );
    if let Some(labels) = &status.labels {
        model.insert("labels".into(), proto_json(labels)["labels"].clone());
    }
    if let Some(container_status) = &status.container_status {
        model.insert("container_status".into(), proto_json(container_status));
    }
    if let Some(healthy) = status.healthy {
        model.insert("healthy".into(), json!(healthy));
    }
    Value::Object(model)
}

fn task_json(task: &Task) -> Value {
    let resources = Resources::from_protos(&task.resources).unwrap_or_default();
    let role = task
        .resources
        .iter()
        .find_map(|r| r.allocation_info.as_ref().and_then(|a| a.role.clone()))
        .unwrap_or_else(|| "*".into());
    let mut model = json!({
        "id": task.task_id.value,
        "name": task.name,
        "framework_id": task.framework_id.value,
        "executor_id": task.executor_id.as_ref().map(|e| e.value.clone()).unwrap_or_default(),
        "slave_id": task.agent_id.value,
        "state": task.state().as_str_name(),
        "resources": resources.to_state_json(),
        "role": role,
        "statuses": task.statuses.iter().map(status_json).collect::<Vec<_>>(),
    });
    if let Some(user) = &task.user {
        model["user"] = json!(user);
    }
    if let Some(labels) = &task.labels {
        model["labels"] = proto_json(labels)["labels"].clone();
    }
    if let Some(discovery) = &task.discovery {
        model["discovery"] = proto_json(discovery);
    }
    if let Some(container) = &task.container {
        model["container"] = proto_json(container);
    }
    model
}

fn framework_json(state: &MasterState, framework: &Framework, agents: &[&AgentRecord]) -> Value {
    let info = &framework.info;
    let mut offered = Resources::new();
    let offers: Vec<Value> = framework
        .offers
        .iter()
        .filter_map(|id| state.offers.get(id))
        .map(|o| {
            offered.add(&o.resources);
            json!({
                "id": o.offer.id.value,
                "framework_id": o.framework,
                "slave_id": o.agent,
                "resources": o.resources.to_state_json(),
            })
        })
        .collect();
    let used = framework.allocated.minus(&offered);
    let executors: Vec<Value> = agents
        .iter()
        .flat_map(|agent| {
            agent
                .executors
                .get(&framework.id.value)
                .into_iter()
                .flat_map(move |es| {
                    es.values().map(move |e| {
                        let mut model = proto_json(e);
                        model["slave_id"] = json!(agent.id.value);
                        model
                    })
                })
        })
        .collect();
    json!({
        "id": framework.id.value,
        "name": info.name,
        "user": info.user,
        "hostname": info.hostname.clone().unwrap_or_default(),
        "webui_url": info.webui_url.clone().unwrap_or_default(),
        "principal": info.principal,
        "role": info.role(),
        "roles": framework.roles(),
        "failover_timeout": info.failover_timeout(),
        "checkpoint": info.checkpoint(),
        "capabilities": info.capabilities.iter().map(|c| c.r#type().as_str_name()).collect::<Vec<_>>(),
        "active": framework.is_connected(),
        "connected": framework.is_connected(),
        "recovered": false,
        "registered_time": framework.registered_time,
        "unregistered_time": framework.unregistered_time.unwrap_or(0.0),
        "resources": framework.allocated.to_state_json(),
        "used_resources": used.to_state_json(),
        "offered_resources": offered.to_state_json(),
        "tasks": framework.tasks.values().map(task_json).collect::<Vec<_>>(),
        "unreachable_tasks": framework.unreachable_tasks.values().map(task_json).collect::<Vec<_>>(),
        "completed_tasks": framework.completed_tasks.iter().map(task_json).collect::<Vec<_>>(),
        "offers": offers,
        "executors": executors,
    })
}

fn agent_json(agent: &AgentRecord) -> Value {
    let (_, port) = agent.endpoint.rsplit_once(':').unwrap_or(("", "5051"));
    json!({
        "id": agent.id.value,
        "pid": agent.pid(),
        "hostname": agent.info.hostname,
        "port": port.parse::<u16>().unwrap_or(5051),
        "registered_time": agent.registered_time,
        "reregistered_time": agent.reregistered_time,
        "resources": agent.total.to_state_json(),
        "used_resources": agent.used_total.to_state_json(),
        "offered_resources": agent.offered.to_state_json(),
        "unreserved_resources": agent.total.allocatable_to(&[]).to_state_json(),
        "reserved_resources": {},
        "attributes": attributes_state_json(&agent.info.attributes),
        "active": agent.is_connected(),
        "version": MESOS_VERSION,
    })
}

/// The `/state` document.
pub(crate) fn state(master: &Master) -> Value {
    let state = master.lock();
    let mut agents: Vec<&AgentRecord> = state.agents.values().collect();
    agents.sort_by(|a, b| a.id.cmp(&b.id));
    let mut frameworks: Vec<Value> = state
        .frameworks
        .values()
        .map(|f| framework_json(&state, f, &agents))
        .collect();
    frameworks.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    let mut document = version_json();
    let extra = json!({
        "id": master.info.id,
        "pid": master.pid,
        "hostname": master.info.hostname,
        "start_time": master.start_time,
        "activated_slaves": agents.iter().filter(|a| a.is_connected()).count(),
        "deactivated_slaves": agents.iter().filter(|a| !a.is_connected()).count(),
        "unreachable_slaves": state.unreachable_agents.len(),
        "flags": {
            "heartbeat_interval": crate::duration::format(master.config.heartbeat_interval),
            "agent_ping_timeout": crate::duration::format(master.config.agent_ping_timeout),
            "max_agent_ping_timeouts": master.config.max_agent_ping_timeouts.to_string(),
            "allocation_interval": crate::duration::format(master.config.allocation_interval),
        },
        "slaves": agents.iter().map(|a| agent_json(a)).collect::<Vec<_>>(),
        "frameworks": frameworks,
        "completed_frameworks": state.completed_frameworks.iter().map(|f| framework_json(&state, f, &agents)).collect::<Vec<_>>(),
        "orphan_tasks": [],
        "unregistered_frameworks": [],
    });
    if let (Some(doc), Value::Object(more)) = (document.as_object_mut(), extra) {
        doc.extend(more);
        // Who leads, as this master knows it.
        if let Some(time) = master.elected_time.lock().ok().and_then(|t| *t) {
            if master.elected() {
                doc.insert("elected_time".into(), json!(time));
            }
        }
        if let Some(leader) = master.leader() {
            doc.insert(
                "leader".into(),
                json!(leader.pid.clone().unwrap_or_default()),
            );
            doc.insert("leader_info".into(), proto_json(&leader));
        }
    }
    document
}
