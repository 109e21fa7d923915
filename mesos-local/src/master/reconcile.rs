//! Task reconciliation (`Master::_reconcileTasks`). Implicit (no tasks):
//! the latest state of every task the master knows. Explicit: per task,
//! its latest state if known; otherwise TASK_GONE when its agent is
//! registered, TASK_UNREACHABLE when the agent is unreachable,
//! TASK_UNKNOWN when the agent is unknown; frameworks without
//! PARTITION_AWARE get TASK_LOST instead of the last three. Every update
//! is master-generated: no uuid, SOURCE_MASTER, REASON_RECONCILIATION.

use mesos_proto::v1::scheduler::call::reconcile;
use mesos_proto::v1::{task_status, ContainerStatus, Task, TaskState, TaskStatus, TimeInfo};

use super::events::master_status;
use super::framework::reported_state;
use super::state::MasterState;

const LATEST: &str = "Reconciliation: Latest task state";

/// A reconciliation update of a known task: its reported state, executor,
/// health and container status (IPs) from its latest status.
fn known_task_status(task: &Task) -> TaskStatus {
    let mut status = master_status(
        &task.task_id,
        reported_state(task),
        task_status::Reason::Reconciliation,
        LATEST,
        Some(&task.agent_id),
    );
    status.executor_id = task.executor_id.clone();
    if let Some(latest) = task.statuses.last() {
        status.healthy = latest.healthy;
        status.container_status = latest.container_status.clone();
        status.check_status = latest.check_status;
        status.unreachable_time = latest.unreachable_time;
    }
    if status.container_status.is_none() {
        status.container_status = task
            .statuses
            .iter()
            .rev()
            .find_map(|s| s.container_status.clone())
            .filter(|c: &ContainerStatus| !c.network_infos.is_empty());
    }
    status
}

impl MasterState {
    /// RECONCILE for a framework; updates go on its stream.
    pub(crate) fn reconcile(&self, framework_id: &str, tasks: Vec<reconcile::Task>) {
        let Some(framework) = self.frameworks.get(framework_id) else {
            return;
        };
        if tasks.is_empty() {
            tracing::info!(framework = %framework_id, "implicit reconciliation");
            for task in framework.tasks.values() {
                framework.send_update(known_task_status(task));
            }
            if framework.partition_aware() {
                for task in framework.unreachable_tasks.values() {
                    framework.send_update(known_task_status(task));
                }
            }
            return;
        }
        tracing::info!(framework = %framework_id, tasks = tasks.len(), "explicit reconciliation");
        let partition_aware = framework.partition_aware();
        let lost_or = |state: TaskState| {
            if partition_aware {
                state
            } else {
                TaskState::TaskLost
            }
        };
        for wanted in tasks {
            let id = &wanted.task_id;
            let agent = wanted.agent_id.as_ref();
            let status = if let Some(task) = framework.tasks.get(&id.value) {
                known_task_status(task)
            } else if let Some(task) = framework.unreachable_tasks.get(&id.value) {
                let mut status = known_task_status(task);
                status.set_state(lost_or(TaskState::TaskUnreachable));
                status
            } else if let Some(agent_id) = agent.filter(|a| self.agents.contains_key(&a.value)) {
                master_status(
                    id,
                    lost_or(TaskState::TaskGone),
                    task_status::Reason::Reconciliation,
                    "Reconciliation: Task is unknown to the agent",
                    Some(agent_id),
                )
            } else if let Some((agent_id, time)) =
                agent.and_then(|a| self.unreachable_agents.get(&a.value).map(|t| (a, *t)))
            {
                let mut status = master_status(
                    id,
                    lost_or(TaskState::TaskUnreachable),
                    task_status::Reason::Reconciliation,
                    "Reconciliation: Task is unreachable",
                    Some(agent_id),
                );
                status.unreachable_time = Some(TimeInfo {
                    nanoseconds: (time * 1e9) as i64,
                });
                status
            } else {
                master_status(
                    id,
                    lost_or(TaskState::TaskUnknown),
                    task_status::Reason::Reconciliation,
                    "Reconciliation: Task is unknown",
                    agent,
                )
            };
            framework.send_update(status);
        }
    }
}
