//! Status updates on the agent (`Slave::statusUpdate`): the agent fills
//! `agent_id`, `executor_id`, timestamp and `container_status` (container
//! id, and the agent's IP as network info when the executor gave none),
//! records the task's state, queues the update in its stream and, for an
//! executor's update, answers ACKNOWLEDGED at once (the agent now owns
//! delivery). Streams are sent to the master one update at a time and
//! retried until the scheduler's acknowledgement arrives.

use std::sync::Arc;
use std::time::Duration;

use mesos_proto::v1::executor::{event, Event};
use mesos_proto::v1::network_info::IpAddress;
use mesos_proto::v1::{task_status, ContainerId, ContainerStatus, NetworkInfo, TaskStatus};
use tracing::{debug, warn};

use super::state::AgentState;
use super::updates::{Acked, Next, StreamKey};
use super::Agent;
use crate::master::now_secs;
use crate::protocol::{agent_event, to_master, StatusUpdate};

/// Who produced an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The executor (UPDATE call, or the built-in command executor).
    Executor,
    /// The agent itself (executor lost, kill before launch, ...).
    Agent,
}

impl Agent {
    /// Takes in a status update for a task of `framework_id`.
    pub(crate) fn status_update(
        self: &Arc<Self>,
        state: &mut AgentState,
        framework_id: &str,
        mut status: TaskStatus,
        origin: Origin,
    ) {
        let accepting = state
            .frameworks
            .get(framework_id)
            .is_some_and(|f| !f.terminating);
        if !accepting {
            debug!(framework = %framework_id, task = %status.task_id, "ignoring status update for unknown or terminating framework");
            return;
        }
        let agent_id = state.agent_id.clone().unwrap_or_default();
        status.agent_id = Some(agent_id.as_str().into());
        status.timestamp.get_or_insert_with(now_secs);
        if origin == Origin::Agent && status.source.is_none() {
            status.set_source(task_status::Source::Agent);
        }
        if status.uuid.is_none() {
            status.uuid = Some(crate::ids::new_uuid_bytes());
        }
        let agent_ip = self
            .endpoint
            .rsplit_once(':')
            .map(|(ip, _)| ip.to_string())
            .unwrap_or_default();
        if let Some(executor) = state.executor_of_task_mut(framework_id, &status.task_id.value) {
            status.executor_id = Some(executor.info.executor_id.clone());
            if origin == Origin::Executor {
                let container = status
                    .container_status
                    .get_or_insert_with(ContainerStatus::default);
                container
                    .container_id
                    .get_or_insert_with(|| ContainerId::new(executor.container_id.clone()));
                if container.network_infos.is_empty() {
                    container.network_infos.push(NetworkInfo {
                        ip_addresses: vec![IpAddress {
                            ip_address: Some(agent_ip),
                            ..Default::default()
                        }],
                        ..Default::default()
                    });
                }
                if container.executor_pid.is_none() {
                    container.executor_pid = executor.pid;
                }
            }
            if let Some(record) = executor.launched.get_mut(&status.task_id.value) {
                if !record.state.is_terminal() {
                    record.state = status.state();
                }
                record.latest = Some(status.clone());
            }
        }
        let uuid = status.uuid.clone().unwrap_or_default();
        let task_id = status.task_id.clone();
        let executor_id = status.executor_id.clone();
        match state.updates.add(framework_id, status) {
            Some(next) => self.forward(framework_id, next),
            None => {
                debug!(framework = %framework_id, task = %task_id, "duplicate status update ignored")
            }
        }
        if origin == Origin::Executor {
            // The agent took the update: acknowledge it to the executor
            // (`Slave::___statusUpdate`).
            if let Some(executor) =
                executor_id.and_then(|e| state.executor_mut(framework_id, &e.value))
            {
                executor.send(Event {
                    r#type: Some(event::Type::Acknowledged as i32),
                    acknowledged: Some(event::Acknowledged { task_id, uuid }),
                    ..Default::default()
                });
            }
        }
    }

    /// Sends the update `next` names and arms its retry timer.
    pub(crate) fn forward(self: &Arc<Self>, framework_id: &str, next: Next) {
        let Next::Send {
            status,
            generation,
            interval,
        } = next
        else {
            return;
        };
        let key: StreamKey = (framework_id.to_string(), status.task_id.value.clone());
        self.send_update_to_master(framework_id, *status);
        self.arm_retry(key, generation, interval);
    }

    fn send_update_to_master(&self, framework_id: &str, status: TaskStatus) {
        self.send_to_master(agent_event::Kind::StatusUpdate(StatusUpdate {
            framework_id: Some(framework_id.into()),
            status: Some(status),
        }));
    }

    fn arm_retry(self: &Arc<Self>, key: StreamKey, generation: u64, interval: Duration) {
        let agent = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::time::sleep(interval).await;
            let Some(agent) = agent.upgrade() else { return };
            if agent.cancel.is_cancelled() {
                return;
            }
            let due = agent.lock().updates.retry(&key, generation);
            if let Some((status, next_interval)) = due {
                debug!(framework = %key.0, task = %key.1, retry_in = ?next_interval, "retrying status update");
                agent.send_update_to_master(&key.0, status);
                agent.arm_retry(key, generation, next_interval);
            }
        });
    }

    /// Resends the in-flight updates (after re-registering: all of them;
    /// after a framework resubscribed: that framework's).
    pub(crate) fn resend_in_flight(&self, framework: Option<&str>) {
        let in_flight = self.lock().updates.in_flight();
        for (framework_id, status) in in_flight {
            if framework.is_none_or(|f| f == framework_id) {
                self.send_update_to_master(&framework_id, status);
            }
        }
    }

    /// The scheduler acknowledged an update.
    pub(crate) fn acknowledge(self: &Arc<Self>, framework_id: &str, task_id: &str, uuid: &[u8]) {
        let mut state = self.lock();
        match state.updates.acknowledge(framework_id, task_id, uuid) {
            Acked::Unexpected => {
                warn!(framework = %framework_id, task = %task_id, uuid = %crate::ids::uuid_text(uuid), "unexpected status update acknowledgement");
            }
            Acked::Done { next, terminal } => {
                if terminal {
                    self.task_completed(&mut state, framework_id, task_id);
                }
                drop(state);
                self.forward(framework_id, next);
            }
        }
    }

    /// Queues an event for the master (dropped, and logged, when the
    /// outbox is full).
    pub(crate) fn send_to_master(&self, kind: agent_event::Kind) {
        if self.outbox.try_send(to_master(kind)).is_err() {
            warn!("outbox to the master is full; event dropped");
        }
    }
}
