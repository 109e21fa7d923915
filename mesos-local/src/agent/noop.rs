//! The `--noop-executor` bench setting: launched tasks get their status
//! updates without any process being started. The updates still go
//! through the agent's status update streams (source SOURCE_EXECUTOR, as
//! an executor would send them), so the master and the scheduler see the
//! full update/acknowledge traffic of real tasks. Two modes:
//!
//! * finish (`--noop-executor`): TASK_RUNNING then TASK_FINISHED at once;
//!   a custom executor named by such tasks is reported exited (status 0)
//!   after its tasks, so the master frees its resources.
//! * hold (`--noop-hold`): TASK_RUNNING, and the task stays up, held by a
//!   no-op executor in the agent's state ([`ExecutorKind::Noop`]) until
//!   KILL (TASK_KILLED for that task), SHUTDOWN of its executor (TASK_KILLED
//!   for each of its tasks) or the framework's shutdown (no updates: the
//!   framework is gone). An executor whose tasks all ended exits (reported
//!   to the master when it was a custom executor). Reconciliation and
//!   re-registration see held tasks like any other.

use std::sync::Arc;

use mesos_proto::v1::{
    task_status, ExecutorInfo, TaskGroupInfo, TaskId, TaskInfo, TaskState, TaskStatus,
};
use tracing::debug;

use super::executors::agent_status;
use super::state::{AgentState, Executor, ExecutorKind, ExecutorState, TaskRecord};
use super::status::Origin;
use super::Agent;
use crate::protocol::{agent_event, ExecutorExited};

/// A status as the no-op executor sends it.
fn noop_status(
    task_id: &TaskId,
    executor_id: Option<&str>,
    state: TaskState,
    message: Option<&str>,
) -> TaskStatus {
    let mut status = TaskStatus {
        task_id: task_id.clone(),
        executor_id: executor_id.map(Into::into),
        message: message.map(str::to_owned),
        ..Default::default()
    };
    status.set_state(state);
    status.set_source(task_status::Source::Executor);
    status
}

impl Agent {
    /// Answers the tasks of a RunTask without running them.
    pub(crate) fn noop_run(
        self: &Arc<Self>,
        framework_id: &str,
        task: Option<TaskInfo>,
        group: Option<TaskGroupInfo>,
        executor: Option<ExecutorInfo>,
    ) {
        let tasks: Vec<TaskInfo> = task
            .into_iter()
            .chain(group.into_iter().flat_map(|g| g.tasks))
            .collect();
        if self.config.noop_hold {
            return self.noop_hold(framework_id, tasks, executor);
        }
        let mut state = self.lock();
        let mut exited = Vec::new();
        for task in tasks {
            let executor_id = task
                .executor
                .as_ref()
                .or(executor.as_ref())
                .map(|e| e.executor_id.clone());
            let reported = executor_id
                .as_ref()
                .map_or(task.task_id.value.as_str(), |e| e.value.as_str());
            for state_ in [TaskState::TaskRunning, TaskState::TaskFinished] {
                let status = noop_status(&task.task_id, Some(reported), state_, None);
                self.status_update(&mut state, framework_id, status, Origin::Agent);
            }
            if let Some(id) = executor_id {
                if !exited.contains(&id) {
                    exited.push(id);
                }
            }
        }
        drop(state);
        for executor_id in exited {
            self.send_to_master(agent_event::Kind::ExecutorExited(ExecutorExited {
                framework_id: Some(framework_id.into()),
                executor_id: Some(executor_id),
                status: 0,
            }));
        }
    }

    /// Hold mode: each task joins its (no-op) executor and reports
    /// TASK_RUNNING. A task without executor gets one of its own, like
    /// the command executor.
    fn noop_hold(
        self: &Arc<Self>,
        framework_id: &str,
        tasks: Vec<TaskInfo>,
        group_executor: Option<ExecutorInfo>,
    ) {
        let mut state = self.lock();
        let agent_id = state.agent_id.clone().unwrap_or_default();
        for task in tasks {
            let (info, custom) = match task.executor.clone().or(group_executor.clone()) {
                Some(info) => (info, true),
                None => (
                    ExecutorInfo {
                        executor_id: task.task_id.value.as_str().into(),
                        framework_id: Some(framework_id.into()),
                        ..Default::default()
                    },
                    false,
                ),
            };
            let executor_id = info.executor_id.value.clone();
            let Some(framework) = state.frameworks.get_mut(framework_id) else {
                return;
            };
            let container_id = crate::ids::new_uuid();
            let directory = self.sandbox_dir(&agent_id, framework_id, &executor_id, &container_id);
            let executor = framework
                .executors
                .entry(executor_id.clone())
                .or_insert_with(|| Executor {
                    info,
                    container_id,
                    directory,
                    kind: ExecutorKind::Noop { custom },
                    state: ExecutorState::Running,
                    connection: None,
                    queued: Vec::new(),
                    queued_groups: Vec::new(),
                    launched: Default::default(),
                    pid: None,
                    termination: None,
                    shutdown_grace: self.config.executor_shutdown_grace_period,
                });
            if executor.state == ExecutorState::Terminating {
                let status = agent_status(
                    &task.task_id,
                    TaskState::TaskLost,
                    task_status::Reason::ExecutorTerminated,
                    "Executor terminating",
                );
                self.status_update(&mut state, framework_id, status, Origin::Agent);
                continue;
            }
            executor.launched.insert(
                task.task_id.value.clone(),
                TaskRecord {
                    info: task.clone(),
                    state: TaskState::TaskStaging,
                    latest: None,
                },
            );
            let status = noop_status(
                &task.task_id,
                Some(&executor_id),
                TaskState::TaskRunning,
                None,
            );
            self.status_update(&mut state, framework_id, status, Origin::Agent);
        }
    }

    /// KILL of a held task: TASK_KILLED, and its executor exits when that
    /// was its last live task.
    pub(crate) fn noop_kill(
        self: &Arc<Self>,
        state: &mut AgentState,
        framework_id: &str,
        task_id: &TaskId,
    ) {
        let Some(executor) = state.executor_of_task_mut(framework_id, &task_id.value) else {
            return;
        };
        let executor_id = executor.info.executor_id.value.clone();
        let live = executor
            .launched
            .get(&task_id.value)
            .is_some_and(|t| !t.state.is_terminal());
        if live {
            debug!(framework = %framework_id, task = %task_id, "noop executor kills its task");
            let status = noop_status(
                task_id,
                Some(&executor_id),
                TaskState::TaskKilled,
                Some("Killed by the noop executor"),
            );
            self.status_update(state, framework_id, status, Origin::Agent);
        }
        self.noop_exit_when_idle(state, framework_id, &executor_id);
    }

    /// SHUTDOWN of a no-op executor: each live task gets TASK_KILLED (not
    /// sent when the framework is shutting down), then the executor exits.
    pub(crate) fn noop_shutdown(
        self: &Arc<Self>,
        state: &mut AgentState,
        framework_id: &str,
        executor_id: &str,
    ) {
        let Some(executor) = state.executor_mut(framework_id, executor_id) else {
            return;
        };
        executor.state = ExecutorState::Terminating;
        let live: Vec<TaskId> = executor
            .launched
            .values()
            .filter(|t| !t.state.is_terminal())
            .map(|t| t.info.task_id.clone())
            .collect();
        for task_id in live {
            let status = noop_status(
                &task_id,
                Some(executor_id),
                TaskState::TaskKilled,
                Some("Executor shut down"),
            );
            self.status_update(state, framework_id, status, Origin::Agent);
        }
        self.noop_exit_when_idle(state, framework_id, executor_id);
    }

    /// A no-op executor without live tasks exits: it leaves the agent's
    /// state (with its framework, if that is shutting down and has no
    /// executor left) and a custom one is reported exited to the master.
    fn noop_exit_when_idle(&self, state: &mut AgentState, framework_id: &str, executor_id: &str) {
        let Some(framework) = state.frameworks.get_mut(framework_id) else {
            return;
        };
        let Some(executor) = framework.executors.get(executor_id) else {
            return;
        };
        if executor.has_live_tasks() {
            return;
        }
        let custom = matches!(executor.kind, ExecutorKind::Noop { custom: true });
        framework.executors.remove(executor_id);
        self.executor_exited.notify_waiters();
        if framework.terminating && framework.executors.is_empty() {
            state.frameworks.remove(framework_id);
        }
        if custom {
            self.send_to_master(agent_event::Kind::ExecutorExited(ExecutorExited {
                framework_id: Some(framework_id.into()),
                executor_id: Some(executor_id.into()),
                status: 0,
            }));
        }
    }
}
