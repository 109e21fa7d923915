//! The master's side of the agent protocol: registration and
//! re-registration (adopting the tasks and executors an agent reports,
//! asking it to reconcile tasks it no longer has), the command stream and
//! the events endpoint. Health checks are in `health`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use mesos_proto::APPLICATION_PROTOBUF;
use prost::Message;
use tracing::{info, warn};

use super::events::now_secs;
use super::framework::Framework;
use super::state::{AgentLink, AgentRecord, MasterState};
use super::Master;
use crate::protocol::{
    agent_event, master_message, AgentMessages, ReconcileTasks, RegisterAgent, Registered,
};
use crate::resources::Resources;
use crate::stream::{self, StreamSpec};

/// `503` for agents reaching a master that does not lead (a Mesos master
/// drops their messages: "not elected yet"); they retry, following their
/// detector.
fn not_leading() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "Not the leading master").into_response()
}

/// `POST /internal/agent/subscribe`.
pub(crate) async fn subscribe_endpoint(State(master): State<Arc<Master>>, body: Bytes) -> Response {
    if !master.elected() {
        return not_leading();
    }
    match RegisterAgent::decode(body.as_ref()) {
        Ok(register) => master.register_agent(register),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            format!("Failed to parse RegisterAgent: {e}"),
        )
            .into_response(),
    }
}

/// `POST /internal/agent/events`.
pub(crate) async fn events_endpoint(State(master): State<Arc<Master>>, body: Bytes) -> Response {
    if !master.elected() {
        return not_leading();
    }
    let batch = match AgentMessages::decode(body.as_ref()) {
        Ok(batch) => batch,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("Failed to parse AgentMessages: {e}"),
            )
                .into_response()
        }
    };
    let mut state = master.lock();
    let known = state
        .agents
        .get(&batch.agent_id)
        .is_some_and(|a| a.session == batch.session && a.is_connected());
    if !known {
        return (StatusCode::CONFLICT, "Unknown agent session; re-register").into_response();
    }
    for event in batch.events {
        match event.kind {
            Some(agent_event::Kind::StatusUpdate(update)) => {
                let framework_id = update.framework_id.unwrap_or_default().value;
                if let Some(status) = update.status {
                    master.status_update(&mut state, &batch.agent_id, &framework_id, status);
                }
            }
            Some(agent_event::Kind::ExecutorExited(exit)) => {
                master.executor_exited(&mut state, &batch.agent_id, exit)
            }
            Some(agent_event::Kind::ExecutorMessage(data)) => {
                master.executor_message(&state, &batch.agent_id, data)
            }
            Some(agent_event::Kind::Pong(seq)) => {
                if let Some(agent) = state.agents.get_mut(&batch.agent_id) {
                    agent.pong_seq = agent.pong_seq.max(seq);
                }
            }
            None => {}
        }
    }
    StatusCode::ACCEPTED.into_response()
}

impl Master {
    fn register_agent(self: &Arc<Self>, mut register: RegisterAgent) -> Response {
        let mut info = register.agent_info.take().unwrap_or_default();
        let total = match Resources::from_protos(&info.resources) {
            Ok(total) => total,
            Err(e) => {
                return (
                    StatusCode::BAD_REQUEST,
                    format!("Invalid agent resources: {e}"),
                )
                    .into_response()
            }
        };
        let session = crate::ids::new_uuid();
        let close = self.cancel.child_token();
        let mut state = self.lock();
        let reregistering = info.id.as_ref().is_some_and(|id| !id.value.is_empty());
        let agent_id = match info.id.as_ref().filter(|id| !id.value.is_empty()) {
            Some(id) => id.value.clone(),
            None => state.ids.agent(),
        };
        info.id = Some(agent_id.as_str().into());
        let weak: Weak<Master> = Arc::downgrade(self);
        let (closed_agent, closed_session) = (agent_id.clone(), session.clone());
        let (events, body) = stream::event_stream(StreamSpec {
            encoder: stream::protobuf_encoder(),
            heartbeat: None,
            capacity: self.config.event_queue_capacity,
            cancel: close.clone(),
            on_close: Some(Box::new(move || {
                if let Some(master) = weak.upgrade() {
                    master.agent_stream_closed(&closed_agent, &closed_session);
                }
            })),
        });
        let link = AgentLink { events, close };
        let reported: HashSet<(String, String)> = register
            .tasks
            .iter()
            .map(|t| (t.framework_id.value.clone(), t.task_id.value.clone()))
            .collect();
        match state.agents.get_mut(&agent_id) {
            Some(agent) => {
                info!(agent = %agent_id, endpoint = %register.endpoint, "agent re-registered");
                if let Some(old) = agent.link.replace(link) {
                    old.close.cancel();
                }
                agent.session = session.clone();
                agent.endpoint = register.endpoint.clone();
                agent.info = info.clone();
                agent.total = total;
                agent.missed_pings = 0;
                agent.pong_seq = agent.ping_seq;
                agent.reregistered_time = Some(now_secs());
                self.ask_reconciliation(&state, &agent_id, &reported);
            }
            None => {
                let readded = state.unreachable_agents.remove(&agent_id).is_some();
                if reregistering {
                    // Unknown to this master (it was restarted, or took
                    // over the leadership): adopted with what it reports.
                    info!(agent = %agent_id, endpoint = %register.endpoint, readded, "agent re-registered with a new master");
                } else {
                    info!(agent = %agent_id, endpoint = %register.endpoint, "agent registered");
                }
                let record = AgentRecord {
                    id: agent_id.as_str().into(),
                    info: info.clone(),
                    endpoint: register.endpoint.clone(),
                    total,
                    used: HashMap::new(),
                    used_total: Resources::new(),
                    offered: Resources::new(),
                    session: session.clone(),
                    link: Some(link),
                    ping_seq: 0,
                    pong_seq: 0,
                    missed_pings: 0,
                    registered_time: now_secs(),
                    reregistered_time: None,
                    tasks: HashMap::new(),
                    executors: HashMap::new(),
                    offers: HashSet::new(),
                };
                state.agents.insert(agent_id.clone(), record);
            }
        }
        self.adopt(&mut state, &agent_id, register);
        state.mark_dirty(&agent_id);
        state.totals = None;
        if let Some(agent) = state.agents.get(&agent_id) {
            agent.send(master_message::Kind::Registered(Registered {
                agent_id: Some(agent_id.as_str().into()),
                session,
                master_info: Some(self.info.clone()),
            }));
        }
        drop(state);
        self.trigger_allocation();
        let mut response = (StatusCode::OK, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(APPLICATION_PROTOBUF),
        );
        response
    }

    /// Tasks the master has on the agent that it did not report: the
    /// agent answers with TASK_LOST/TASK_DROPPED for those it lost.
    fn ask_reconciliation(
        &self,
        state: &MasterState,
        agent_id: &str,
        reported: &HashSet<(String, String)>,
    ) {
        let Some(agent) = state.agents.get(agent_id) else {
            return;
        };
        for (framework_id, tasks) in &agent.tasks {
            let missing: Vec<_> = tasks
                .iter()
                .filter(|t| !reported.contains(&(framework_id.clone(), (*t).clone())))
                .map(|t| t.as_str().into())
                .collect();
            if missing.is_empty() {
                continue;
            }
            let partition_aware = state
                .frameworks
                .get(framework_id)
                .is_some_and(Framework::partition_aware);
            agent.send(master_message::Kind::ReconcileTasks(ReconcileTasks {
                framework_id: Some(framework_id.as_str().into()),
                task_ids: missing,
                partition_aware,
            }));
        }
    }

    /// Takes in what a (re-)registering agent reports: frameworks unknown
    /// to the master are recovered (removed ones are shut down on the
    /// agent), unknown tasks and executors are added.
    fn adopt(self: &Arc<Self>, state: &mut MasterState, agent_id: &str, register: RegisterAgent) {
        for framework in register.frameworks {
            let Some(id) = framework.id.clone().map(|i| i.value) else {
                continue;
            };
            if state.is_completed_framework(&id) {
                if let Some(agent) = state.agents.get(agent_id) {
                    agent.send(master_message::Kind::ShutdownFramework(id.as_str().into()));
                }
            } else if !state.frameworks.contains_key(&id) {
                info!(framework = %id, agent = %agent_id, "recovering framework reported by agent");
                let timeout = framework.failover_timeout();
                state
                    .frameworks
                    .insert(id.clone(), Framework::new(framework, now_secs()));
                self.arm_failover_timer(id, 0, timeout);
            }
        }
        for task in register.tasks {
            let framework_id = task.framework_id.value.clone();
            let task_id = task.task_id.value.clone();
            let Some(framework) = state.frameworks.get_mut(&framework_id) else {
                continue;
            };
            if framework.tasks.contains_key(&task_id) {
                continue;
            }
            framework.unreachable_tasks.remove(&task_id);
            let live = !task.state().is_terminal();
            let resources = Resources::from_protos(&task.resources).unwrap_or_default();
            framework.tasks.insert(task_id.clone(), task);
            if let Some(agent) = state.agents.get_mut(agent_id) {
                agent
                    .tasks
                    .entry(framework_id.clone())
                    .or_default()
                    .insert(task_id);
            }
            if live {
                state.add_used(&framework_id, agent_id, &resources);
            }
        }
        let reported: HashSet<(String, String)> = register
            .executors
            .iter()
            .map(|e| {
                (
                    e.framework_id.clone().unwrap_or_default().value,
                    e.executor_id.value.clone(),
                )
            })
            .collect();
        let stale: Vec<(String, String)> = state
            .agents
            .get(agent_id)
            .map(|a| {
                a.executors
                    .iter()
                    .flat_map(|(f, es)| es.keys().map(move |e| (f.clone(), e.clone())))
                    .filter(|key| !reported.contains(key))
                    .collect()
            })
            .unwrap_or_default();
        for (framework_id, executor_id) in stale {
            state.remove_executor(&framework_id, agent_id, &executor_id);
        }
        for executor in register.executors {
            let framework_id = executor.framework_id.clone().unwrap_or_default().value;
            let known = state
                .agents
                .get(agent_id)
                .and_then(|a| a.executors.get(&framework_id))
                .is_some_and(|e| e.contains_key(&executor.executor_id.value));
            if known || !state.frameworks.contains_key(&framework_id) {
                continue;
            }
            let resources = Resources::from_protos(&executor.resources).unwrap_or_default();
            if let Some(agent) = state.agents.get_mut(agent_id) {
                agent
                    .executors
                    .entry(framework_id.clone())
                    .or_default()
                    .insert(executor.executor_id.value.clone(), executor);
            }
            state.add_used(&framework_id, agent_id, &resources);
        }
    }

    /// The agent's command stream ended: the agent is disconnected (its
    /// offers rescinded) until it re-registers or is marked unreachable.
    fn agent_stream_closed(&self, agent_id: &str, session: &str) {
        let mut state = self.lock();
        let Some(agent) = state.agents.get_mut(agent_id) else {
            return;
        };
        if agent.session != session || agent.link.is_none() {
            return;
        }
        agent.link = None;
        warn!(agent = %agent_id, "agent disconnected");
        state.rescind_agent_offers(agent_id);
    }
}
