//! What agents report about tasks and executors (`Master::statusUpdate`,
//! `Master::exitedExecutor`, executor messages): the task's state is
//! recorded, resources of a task that became terminal are recovered, and
//! the update is forwarded as an UPDATE event when the framework is
//! connected (otherwise the agent keeps retrying until it is).

use mesos_proto::v1::TaskStatus;
use tracing::{debug, warn};

use super::events;
use super::framework::update_task;
use super::state::MasterState;
use super::Master;
use crate::ids::uuid_text;
use crate::protocol::{ExecutorData, ExecutorExited};
use crate::resources::Resources;

impl Master {
    /// A status update relayed by an agent.
    pub(crate) fn status_update(
        &self,
        state: &mut MasterState,
        agent_id: &str,
        framework_id: &str,
        status: TaskStatus,
    ) {
        let Some(framework) = state.frameworks.get_mut(framework_id) else {
            warn!(framework = %framework_id, task = %status.task_id, "ignoring status update for unknown framework");
            return;
        };
        debug!(
            framework = %framework_id,
            task = %status.task_id,
            state = ?status.state(),
            uuid = %status.uuid.as_deref().map(uuid_text).unwrap_or_default(),
            "status update"
        );
        let mut recovered = None;
        match framework.tasks.get_mut(&status.task_id.value) {
            Some(task) => {
                if update_task(task, &status) {
                    recovered = Some(Resources::from_protos(&task.resources).unwrap_or_default());
                }
            }
            None => {
                warn!(framework = %framework_id, task = %status.task_id, "status update for a task the master does not know")
            }
        }
        if framework.is_connected() {
            framework.send_update(status);
        } else {
            debug!(framework = %framework_id, "framework disconnected; the agent will retry the update");
        }
        if let Some(resources) = recovered {
            state.recover_used(framework_id, agent_id, &resources);
            self.trigger_allocation();
        }
    }

    /// A custom executor exited: its resources are recovered and the
    /// framework gets a FAILURE event with the wait status.
    pub(crate) fn executor_exited(
        &self,
        state: &mut MasterState,
        agent_id: &str,
        exit: ExecutorExited,
    ) {
        let framework_id = exit.framework_id.unwrap_or_default().value;
        let executor_id = exit.executor_id.unwrap_or_default();
        debug!(framework = %framework_id, executor = %executor_id, status = exit.status, "executor exited");
        state.remove_executor(&framework_id, agent_id, &executor_id.value);
        self.trigger_allocation();
        let agent = agent_id.into();
        if let Some(framework) = state.frameworks.get(&framework_id) {
            framework.send(events::failure(
                &agent,
                Some(&executor_id),
                Some(exit.status),
            ));
        }
    }

    /// Data from an executor for its scheduler.
    pub(crate) fn executor_message(&self, state: &MasterState, agent_id: &str, data: ExecutorData) {
        let framework_id = data.framework_id.unwrap_or_default().value;
        let executor_id = data.executor_id.unwrap_or_default();
        match state.frameworks.get(&framework_id) {
            Some(framework) => {
                framework.send(events::message(&agent_id.into(), &executor_id, data.data))
            }
            None => {
                warn!(framework = %framework_id, "dropping executor message for unknown framework")
            }
        }
    }
}
