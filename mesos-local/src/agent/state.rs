//! The agent's in-memory state: frameworks, their executors (custom
//! processes or the built-in command executor), the tasks each executor
//! holds, and the status update streams. Guarded by one mutex; nothing
//! here awaits.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use mesos_proto::v1::executor::Event;
use mesos_proto::v1::{
    task_status, ExecutorInfo, FrameworkInfo, Task, TaskGroupInfo, TaskInfo, TaskState, TaskStatus,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::updates::UpdateManager;
use crate::stream::{EventSender, SendError};

/// Lifecycle of an executor (`Executor::State`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExecutorState {
    /// Started, not yet subscribed.
    Registering,
    /// Subscribed.
    Running,
    /// Asked to shut down.
    Terminating,
}

/// How the executor runs.
#[derive(Debug)]
pub(crate) enum ExecutorKind {
    /// A process started from `ExecutorInfo.command` (speaks the v1 API).
    Custom,
    /// The built-in command executor running one task's command; kill
    /// requests carry the grace period.
    Command {
        kill: mpsc::UnboundedSender<Duration>,
    },
    /// The `--noop-hold` bench setting's executor (no process): it holds
    /// its tasks RUNNING until they are killed. `custom` when the tasks
    /// named an `ExecutorInfo` (else one per task, like `Command`).
    Noop { custom: bool },
}

impl ExecutorKind {
    /// Whether the master knows it as an executor (a custom one).
    pub fn is_custom(&self) -> bool {
        matches!(
            self,
            ExecutorKind::Custom | ExecutorKind::Noop { custom: true }
        )
    }
}

/// A subscribed executor's event stream.
#[derive(Debug)]
pub(crate) struct ExecutorConnection {
    pub id: u64,
    pub events: EventSender<Event>,
    pub close: CancellationToken,
}

/// A task handed to an executor, with its latest state.
#[derive(Debug, Clone)]
pub(crate) struct TaskRecord {
    pub info: TaskInfo,
    pub state: TaskState,
    pub latest: Option<TaskStatus>,
}

/// Why an executor is being terminated (`pendingTermination`).
#[derive(Debug, Clone)]
pub(crate) struct Termination {
    pub state: TaskState,
    pub reason: task_status::Reason,
    pub message: String,
}

/// One executor of a framework on this agent.
#[derive(Debug)]
pub(crate) struct Executor {
    pub info: ExecutorInfo,
    pub container_id: String,
    pub directory: PathBuf,
    pub kind: ExecutorKind,
    pub state: ExecutorState,
    pub connection: Option<ExecutorConnection>,
    /// Tasks waiting for the executor to subscribe.
    pub queued: Vec<TaskInfo>,
    pub queued_groups: Vec<TaskGroupInfo>,
    /// Tasks delivered to the executor.
    pub launched: HashMap<String, TaskRecord>,
    /// Process (group) id once started.
    pub pid: Option<u32>,
    pub termination: Option<Termination>,
    /// Grace period between SHUTDOWN and SIGKILL.
    pub shutdown_grace: Duration,
}

impl Executor {
    /// Sends an event if subscribed; a full queue closes the stream.
    pub fn send(&self, event: Event) -> bool {
        let Some(connection) = &self.connection else {
            return false;
        };
        match connection.events.send(event) {
            Ok(()) => true,
            Err(SendError::Closed) => false,
            Err(SendError::Full) => {
                warn!(executor = %self.info.executor_id, "executor is not reading its event stream; closing it");
                connection.close.cancel();
                false
            }
        }
    }

    /// Whether the executor holds `task_id` (queued or launched).
    pub fn has_task(&self, task_id: &str) -> bool {
        self.launched.contains_key(task_id)
            || self.queued.iter().any(|t| t.task_id.value == task_id)
            || self
                .queued_groups
                .iter()
                .any(|g| g.tasks.iter().any(|t| t.task_id.value == task_id))
    }

    /// Whether any task is queued or not yet terminal.
    pub fn has_live_tasks(&self) -> bool {
        !self.queued.is_empty()
            || !self.queued_groups.is_empty()
            || self.launched.values().any(|t| !t.state.is_terminal())
    }

    /// The tasks as `Task` messages for re-registration.
    pub fn tasks(&self, framework: &FrameworkInfo, agent_id: &str) -> Vec<Task> {
        let queued = self
            .queued
            .iter()
            .chain(self.queued_groups.iter().flat_map(|g| g.tasks.iter()))
            .map(|t| (t, TaskState::TaskStaging, None));
        let launched = self
            .launched
            .values()
            .map(|r| (&r.info, r.state, r.latest.clone()));
        queued
            .chain(launched)
            .map(|(info, state, latest)| {
                let mut task = Task {
                    name: info.name.clone(),
                    task_id: info.task_id.clone(),
                    framework_id: framework.id.clone().unwrap_or_default(),
                    executor_id: self.kind.is_custom().then(|| self.info.executor_id.clone()),
                    agent_id: agent_id.into(),
                    resources: info.resources.clone(),
                    statuses: latest.into_iter().collect(),
                    labels: info.labels.clone(),
                    discovery: info.discovery.clone(),
                    container: info.container.clone(),
                    ..Default::default()
                };
                task.set_state(state);
                task
            })
            .collect()
    }
}

/// A framework with executors on this agent.
#[derive(Debug)]
pub(crate) struct AgentFramework {
    pub info: FrameworkInfo,
    /// Shut down by the master: no new tasks, no updates.
    pub terminating: bool,
    pub executors: HashMap<String, Executor>,
}

/// Everything the agent knows.
#[derive(Debug)]
pub(crate) struct AgentState {
    /// Assigned by the master at the first registration.
    pub agent_id: Option<String>,
    pub frameworks: HashMap<String, AgentFramework>,
    pub updates: UpdateManager,
    /// Ids for executor connections.
    pub next_connection: u64,
    /// The agent is stopping: no new task is started.
    pub terminating: bool,
}

impl AgentState {
    /// The executor holding a task.
    pub fn executor_of_task(&self, framework_id: &str, task_id: &str) -> Option<&Executor> {
        self.frameworks
            .get(framework_id)?
            .executors
            .values()
            .find(|e| e.has_task(task_id))
    }

    /// The executor holding a task, mutably.
    pub fn executor_of_task_mut(
        &mut self,
        framework_id: &str,
        task_id: &str,
    ) -> Option<&mut Executor> {
        self.frameworks
            .get_mut(framework_id)?
            .executors
            .values_mut()
            .find(|e| e.has_task(task_id))
    }

    /// An executor by id.
    pub fn executor_mut(&mut self, framework_id: &str, executor_id: &str) -> Option<&mut Executor> {
        self.frameworks
            .get_mut(framework_id)?
            .executors
            .get_mut(executor_id)
    }
}
