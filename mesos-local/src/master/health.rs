//! Agent health: the master pings every agent each `agent_ping_timeout`;
//! one that misses `max_agent_ping_timeouts` pongs in a row is marked
//! unreachable (`Master::markUnreachable`): its tasks become
//! TASK_UNREACHABLE (partition-aware frameworks) or TASK_LOST with
//! REASON_AGENT_REMOVED, its offers are rescinded and every framework gets
//! a FAILURE event naming the agent.

use std::sync::Arc;

use mesos_proto::v1::{task_status, TaskState, TimeInfo};
use tracing::warn;

use super::events::{self, master_status, now_secs};
use super::framework::update_task;
use super::state::MasterState;
use super::Master;
use crate::protocol::master_message;

/// Unreachable agents remembered for reconciliation answers.
const MAX_UNREACHABLE_AGENTS: usize = 1000;

impl Master {
    /// Pings every agent each `agent_ping_timeout`; an agent missing
    /// `max_agent_ping_timeouts` pongs in a row is unreachable.
    pub(crate) async fn run_agent_health_checks(self: Arc<Self>) {
        let mut interval = tokio::time::interval(self.config.agent_ping_timeout);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = self.cancel.cancelled() => return,
                _ = interval.tick() => {}
            }
            let mut state = self.lock();
            let mut lost = Vec::new();
            for agent in state.agents.values_mut() {
                if agent.pong_seq < agent.ping_seq {
                    agent.missed_pings += 1;
                } else {
                    agent.missed_pings = 0;
                }
                if agent.missed_pings >= self.config.max_agent_ping_timeouts {
                    lost.push(agent.id.value.clone());
                } else {
                    agent.ping_seq += 1;
                    agent.send(master_message::Kind::Ping(agent.ping_seq));
                }
            }
            for agent_id in lost {
                self.mark_unreachable(&mut state, &agent_id);
            }
        }
    }

    /// Removes an agent that stopped answering pings.
    pub(crate) fn mark_unreachable(&self, state: &mut MasterState, agent_id: &str) {
        warn!(agent = %agent_id, "agent unreachable: health check timed out");
        state.rescind_agent_offers(agent_id);
        let Some(mut agent) = state.agents.remove(agent_id) else {
            return;
        };
        state.totals = None;
        if let Some(link) = agent.link.take() {
            link.close.cancel();
        }
        let now = now_secs();
        let message = format!(
            "Agent {} is unreachable: health check timed out",
            agent.info.hostname
        );
        for (framework_id, used) in &agent.used {
            if let Some(framework) = state.frameworks.get_mut(framework_id) {
                framework.allocated.subtract(used);
            }
        }
        for (framework_id, task_ids) in agent.tasks.drain() {
            let Some(framework) = state.frameworks.get_mut(&framework_id) else {
                continue;
            };
            let partition_aware = framework.partition_aware();
            for task_id in task_ids {
                let Some(mut task) = framework.tasks.remove(&task_id) else {
                    continue;
                };
                if task.state().is_terminal() {
                    framework.complete_task(task, state.max_completed_tasks);
                    continue;
                }
                let new_state = if partition_aware {
                    TaskState::TaskUnreachable
                } else {
                    TaskState::TaskLost
                };
                let mut status = master_status(
                    &task.task_id,
                    new_state,
                    task_status::Reason::AgentRemoved,
                    message.clone(),
                    Some(&task.agent_id),
                );
                status.executor_id = task.executor_id.clone();
                if partition_aware {
                    status.unreachable_time = Some(TimeInfo {
                        nanoseconds: (now * 1e9) as i64,
                    });
                }
                update_task(&mut task, &status);
                framework.send_update(status);
                if partition_aware {
                    framework.unreachable_tasks.insert(task_id, task);
                } else {
                    framework.complete_task(task, state.max_completed_tasks);
                }
            }
        }
        for framework in state.frameworks.values() {
            framework.send(events::failure(&agent.id, None, None));
        }
        state.unreachable_agents.insert(agent_id.to_string(), now);
        while state.unreachable_agents.len() > MAX_UNREACHABLE_AGENTS {
            let oldest = state
                .unreachable_agents
                .iter()
                .min_by(|a, b| a.1.total_cmp(b.1))
                .map(|(id, _)| id.clone());
            match oldest {
                Some(id) => state.unreachable_agents.remove(&id),
                None => break,
            };
        }
        self.trigger_allocation();
    }
}
