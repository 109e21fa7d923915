//! Framework lifecycle: SUBSCRIBE (new framework, failover of a known one,
//! recovery of an unknown id), disconnection when the stream drops, the
//! `failover_timeout` after which a disconnected framework is removed,
//! and removal itself (TEARDOWN): tasks marked killed, executors shut down
//! on the agents, offers dropped.

use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use mesos_proto::v1::scheduler::{call, Event};
use mesos_proto::v1::{task_status, TaskState};
use mesos_proto::{Encoding, MESOS_STREAM_ID_HEADER};
use tracing::{info, warn};

use super::events::{self, master_status, now_secs};
use super::framework::{update_task, Connection, Framework};
use super::state::MasterState;
use super::validation;
use super::Master;
use crate::ids;
use crate::protocol::master_message;
use crate::resources::Resources;
use crate::stream::{self, StreamSpec};

impl Master {
    /// SUBSCRIBE: answers `200` with the event stream; problems with the
    /// framework info are an ERROR event on that stream, as in Mesos.
    pub(crate) fn subscribe(
        self: &Arc<Self>,
        subscribe: call::Subscribe,
        encoding: Encoding,
    ) -> Response {
        let stream_id = ids::new_uuid();
        let close = self.cancel.child_token();
        let weak: Weak<Master> = Arc::downgrade(self);
        let closed_id = stream_id.clone();
        let (events, body) = stream::event_stream(StreamSpec {
            encoder: stream::mesos_encoder::<Event>(encoding),
            heartbeat: Some((self.config.heartbeat_interval, events::heartbeat())),
            capacity: self.config.event_queue_capacity,
            cancel: close.clone(),
            on_close: Some(Box::new(move || {
                if let Some(master) = weak.upgrade() {
                    master.framework_stream_closed(&closed_id);
                }
            })),
        });
        let connection = Connection {
            stream_id: stream_id.clone(),
            events,
            close,
        };
        {
            let mut state = self.lock();
            self.subscribe_locked(&mut state, subscribe, connection);
        }
        self.trigger_allocation();
        let mut response = (StatusCode::OK, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(encoding.content_type()),
        );
        if let Ok(value) = HeaderValue::from_str(&stream_id) {
            headers.insert(MESOS_STREAM_ID_HEADER, value);
        }
        response
    }

    fn subscribe_locked(
        self: &Arc<Self>,
        state: &mut MasterState,
        subscribe: call::Subscribe,
        connection: Connection,
    ) {
        let mut info = subscribe.framework_info;
        let refuse = |connection: Connection, message: String| {
            info!(%message, "refusing subscription of framework");
            let _ = connection.events.send(events::error(message));
            connection.close.cancel();
        };
        if let Err(message) = validation::validate_framework_info(&info) {
            return refuse(connection, message);
        }
        let requested = info
            .id
            .as_ref()
            .map(|i| i.value.clone())
            .filter(|v| !v.is_empty());
        if let Some(id) = &requested {
            if state.is_completed_framework(id) {
                return refuse(connection, "Framework has been removed".into());
            }
        }
        let id = match requested {
            Some(id) => id,
            None => state.ids.framework(),
        };
        info.id = Some(id.as_str().into());
        let suppressed = subscribe.suppressed_roles.into_iter().collect();
        let subscribed = events::subscribed(
            &id.as_str().into(),
            self.config.heartbeat_interval.as_secs_f64(),
            &self.info,
        );
        match state.frameworks.get_mut(&id) {
            Some(framework) => {
                info!(framework = %id, "framework failed over");
                if let Some(old) = framework.connection.take() {
                    let _ = old.events.send(events::error("Framework failed over"));
                    old.close.cancel();
                }
                framework.info = info.clone();
                framework.suppressed_roles = suppressed;
                framework.generation += 1;
                framework.unregistered_time = None;
                framework.connection = Some(connection);
                framework.send(subscribed);
                state.remove_framework_offers(&id);
            }
            None => {
                info!(framework = %id, name = %info.name, "framework subscribed");
                let mut framework = Framework::new(info.clone(), now_secs());
                framework.suppressed_roles = suppressed;
                framework.generation = 1;
                framework.connection = Some(connection);
                framework.send(subscribed);
                state.frameworks.insert(id.clone(), framework);
            }
        }
        for agent in state.agents.values() {
            agent.send(master_message::Kind::UpdateFramework(info.clone()));
        }
        state.mark_all_dirty();
    }

    /// The stream `stream_id` ended: if it is a framework's current
    /// stream, the framework is disconnected and its failover timer starts.
    pub(crate) fn framework_stream_closed(self: &Arc<Self>, stream_id: &str) {
        let mut state = self.lock();
        let Some(framework) = state.frameworks.values_mut().find(|f| {
            f.connection
                .as_ref()
                .is_some_and(|c| c.stream_id == stream_id)
        }) else {
            return;
        };
        framework.connection = None;
        framework.unregistered_time = Some(now_secs());
        // Deactivated: its decline filters go, as the allocator's
        // `deactivateFramework` drops them (apache/mesos hierarchical.cpp).
        framework.filters.clear();
        let id = framework.id.value.clone();
        let generation = framework.generation;
        let timeout = framework.info.failover_timeout();
        info!(framework = %id, failover_timeout = timeout, "framework disconnected");
        state.remove_framework_offers(&id);
        drop(state);
        self.arm_failover_timer(id, generation, timeout);
    }

    /// Removes the framework after `timeout` seconds unless it resubscribed.
    pub(crate) fn arm_failover_timer(self: &Arc<Self>, id: String, generation: u64, timeout: f64) {
        let master = Arc::downgrade(self);
        let delay = Duration::from_secs_f64(timeout.clamp(0.0, 10.0 * 365.0 * 86_400.0));
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let Some(master) = master.upgrade() else {
                return;
            };
            let mut state = master.lock();
            let expired = state
                .frameworks
                .get(&id)
                .is_some_and(|f| !f.is_connected() && f.generation == generation);
            if expired {
                info!(framework = %id, "framework failover timeout; removing framework");
                master.remove_framework(&mut state, &id);
            }
        });
    }

    /// Removes a framework (TEARDOWN or failover timeout).
    pub(crate) fn remove_framework(&self, state: &mut MasterState, id: &str) {
        state.remove_framework_offers(id);
        let Some(mut framework) = state.frameworks.remove(id) else {
            return;
        };
        if let Some(connection) = framework.connection.take() {
            connection.close.cancel();
        }
        // Tasks are implicitly killed; the update is recorded, not sent.
        let message = format!("Framework {id} removed");
        let tasks: Vec<_> = framework.tasks.drain().map(|(_, t)| t).collect();
        // Put the framework back while accounting, so recovery finds it.
        state.frameworks.insert(id.to_string(), framework);
        for mut task in tasks {
            let agent_id = task.agent_id.value.clone();
            if !task.state().is_terminal() {
                let resources = Resources::from_protos(&task.resources).unwrap_or_default();
                state.recover_used(id, &agent_id, &resources);
            }
            let status = master_status(
                &task.task_id,
                TaskState::TaskKilled,
                task_status::Reason::FrameworkRemoved,
                message.clone(),
                Some(&task.agent_id),
            );
            update_task(&mut task, &status);
            if let Some(agent) = state.agents.get_mut(&agent_id) {
                agent.tasks.remove(id);
            }
            if let Some(f) = state.frameworks.get_mut(id) {
                f.complete_task(task, state.max_completed_tasks);
            }
        }
        let executors: Vec<(String, String)> = state
            .agents
            .iter()
            .flat_map(|(agent_id, agent)| {
                agent
                    .executors
                    .get(id)
                    .into_iter()
                    .flat_map(|e| e.keys().map(|k| (agent_id.clone(), k.clone())))
            })
            .collect();
        for (agent_id, executor_id) in executors {
            state.remove_executor(id, &agent_id, &executor_id);
        }
        for agent in state.agents.values_mut() {
            if let Some(rest) = agent.used.remove(id) {
                agent.used_total.subtract(&rest);
            }
            agent.send(master_message::Kind::ShutdownFramework(id.into()));
        }
        if let Some(mut framework) = state.frameworks.remove(id) {
            framework.unregistered_time.get_or_insert_with(now_secs);
            framework.unreachable_tasks.clear();
            framework.filters.clear();
            state.completed_frameworks.push_back(framework);
            while state.completed_frameworks.len() > state.max_completed_frameworks {
                state.completed_frameworks.pop_front();
            }
        }
        self.trigger_allocation();
        warn!(framework = %id, "framework removed");
    }
}
