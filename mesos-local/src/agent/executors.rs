//! What the agent does on the master's commands: `Slave::run` (a task to a
//! new or existing executor, queued until it subscribes), `killTask`
//! (TASK_KILLED before delivery, KILL to the executor, or the command
//! executor's kill), `reconcileTasks`, acknowledgements, messages and
//! pings. Shutdowns and executor exits are in `termination`.

use std::sync::Arc;
use std::time::Duration;

use mesos_proto::v1::executor::{event, Event};
use mesos_proto::v1::{self, task_status, TaskState, TaskStatus};
use tracing::warn;

use super::state::{AgentFramework, AgentState, ExecutorKind, ExecutorState, TaskRecord};
use super::status::Origin;
use super::Agent;
use crate::protocol::{
    agent_event, master_message, KillTask, MasterMessage, ReconcileTasks, RunTask,
};

/// An agent-generated status for a task.
pub(crate) fn agent_status(
    task_id: &v1::TaskId,
    state: TaskState,
    reason: task_status::Reason,
    message: &str,
) -> TaskStatus {
    let mut status = TaskStatus {
        task_id: task_id.clone(),
        message: Some(message.to_string()),
        ..Default::default()
    };
    status.set_state(state);
    status.set_reason(reason);
    status
}

impl Agent {
    /// Handles one message of the master's stream.
    pub(crate) fn handle_master_message(self: &Arc<Self>, message: MasterMessage) {
        let Some(kind) = message.kind else { return };
        match kind {
            master_message::Kind::Registered(_) => {}
            master_message::Kind::RunTask(run) => self.run_task(run),
            master_message::Kind::KillTask(kill) => self.kill_task(kill),
            master_message::Kind::ShutdownExecutor(target) => {
                let framework_id = target.framework_id.unwrap_or_default().value;
                let executor_id = target.executor_id.unwrap_or_default().value;
                let mut state = self.lock();
                self.shutdown_executor(&mut state, &framework_id, &executor_id);
            }
            master_message::Kind::ShutdownFramework(id) => self.shutdown_framework(&id.value),
            master_message::Kind::Acknowledge(ack) => {
                let framework_id = ack.framework_id.unwrap_or_default().value;
                let task_id = ack.task_id.unwrap_or_default().value;
                self.acknowledge(&framework_id, &task_id, &ack.uuid);
            }
            master_message::Kind::FrameworkMessage(data) => {
                let framework_id = data.framework_id.unwrap_or_default().value;
                let executor_id = data.executor_id.unwrap_or_default().value;
                let mut state = self.lock();
                let delivered = state
                    .executor_mut(&framework_id, &executor_id)
                    .is_some_and(|e| {
                        e.send(Event {
                            r#type: Some(event::Type::Message as i32),
                            message: Some(event::Message { data: data.data }),
                            ..Default::default()
                        })
                    });
                if !delivered {
                    warn!(framework = %framework_id, executor = %executor_id, "dropping message: executor not running");
                }
            }
            master_message::Kind::Ping(seq) => self.send_to_master(agent_event::Kind::Pong(seq)),
            master_message::Kind::UpdateFramework(info) => {
                // The framework (re)subscribed: resend its pending updates
                // now instead of at the next retry (`Slave::updateFramework`).
                let id = info.id.clone().unwrap_or_default().value;
                if let Some(framework) = self.lock().frameworks.get_mut(&id) {
                    framework.info = info;
                }
                self.resend_in_flight(Some(&id));
            }
            master_message::Kind::ReconcileTasks(reconcile) => self.reconcile_tasks(reconcile),
        }
    }

    fn run_task(self: &Arc<Self>, run: RunTask) {
        let framework_info = run.framework.unwrap_or_default();
        let framework_id = framework_info.id.clone().unwrap_or_default().value;
        let mut state = self.lock();
        if state.terminating {
            warn!(framework = %framework_id, "ignoring task: the agent is terminating");
            return;
        }
        let framework = state
            .frameworks
            .entry(framework_id.clone())
            .or_insert_with(|| AgentFramework {
                info: framework_info.clone(),
                terminating: false,
                executors: Default::default(),
            });
        framework.info = framework_info.clone();
        if framework.terminating {
            warn!(framework = %framework_id, "ignoring task of a terminating framework");
            return;
        }
        if self.config.noop_executor || self.config.noop_hold {
            drop(state);
            return self.noop_run(&framework_id, run.task, run.task_group, run.executor);
        }
        match (run.task, run.task_group, run.executor) {
            (Some(task), _, _) if task.executor.is_none() => {
                self.launch_command_task(&mut state, &framework_info, task)
            }
            (Some(task), _, _) => {
                let executor = task.executor.clone().unwrap_or_default();
                self.deliver(&mut state, &framework_info, executor, vec![task], None);
            }
            (None, Some(group), Some(executor)) => {
                self.deliver(
                    &mut state,
                    &framework_info,
                    executor,
                    Vec::new(),
                    Some(group),
                );
            }
            _ => warn!(framework = %framework_id, "RunTask without a task"),
        }
    }

    /// Hands tasks to a custom executor: LAUNCH when subscribed, queued
    /// while registering, launched first when new, refused when it is
    /// shutting down.
    fn deliver(
        self: &Arc<Self>,
        state: &mut AgentState,
        framework: &v1::FrameworkInfo,
        executor_info: v1::ExecutorInfo,
        tasks: Vec<v1::TaskInfo>,
        group: Option<v1::TaskGroupInfo>,
    ) {
        let framework_id = framework.id.clone().unwrap_or_default().value;
        let executor_id = executor_info.executor_id.value.clone();
        if state.executor_mut(&framework_id, &executor_id).is_none() {
            self.launch_executor(state, framework, executor_info);
        }
        let Some(executor) = state.executor_mut(&framework_id, &executor_id) else {
            return;
        };
        let all: Vec<v1::TaskInfo> = tasks
            .iter()
            .chain(group.iter().flat_map(|g| g.tasks.iter()))
            .cloned()
            .collect();
        match executor.state {
            ExecutorState::Terminating => {
                for task in all {
                    let status = agent_status(
                        &task.task_id,
                        TaskState::TaskLost,
                        task_status::Reason::ExecutorTerminated,
                        "Executor terminating",
                    );
                    self.status_update(state, &framework_id, status, Origin::Agent);
                }
            }
            ExecutorState::Registering => {
                executor.queued.extend(tasks);
                executor.queued_groups.extend(group);
            }
            ExecutorState::Running => {
                for task in &all {
                    executor.launched.insert(
                        task.task_id.value.clone(),
                        TaskRecord {
                            info: task.clone(),
                            state: TaskState::TaskStaging,
                            latest: None,
                        },
                    );
                }
                match group {
                    Some(group) => {
                        executor.send(Event {
                            r#type: Some(event::Type::LaunchGroup as i32),
                            launch_group: Some(event::LaunchGroup { task_group: group }),
                            ..Default::default()
                        });
                    }
                    None => {
                        for task in tasks {
                            executor.send(Event {
                                r#type: Some(event::Type::Launch as i32),
                                launch: Some(event::Launch { task }),
                                ..Default::default()
                            });
                        }
                    }
                }
            }
        }
    }

    fn kill_task(self: &Arc<Self>, kill: KillTask) {
        let framework_id = kill.framework_id.unwrap_or_default().value;
        let task_id = kill.task_id.unwrap_or_default();
        let mut state = self.lock();
        let Some(executor) = state.executor_of_task_mut(&framework_id, &task_id.value) else {
            if state.updates.has_stream(&framework_id, &task_id.value) {
                return; // Terminal update still being delivered.
            }
            let lost = if kill.partition_aware {
                TaskState::TaskDropped
            } else {
                TaskState::TaskLost
            };
            warn!(framework = %framework_id, task = %task_id, "cannot kill task: no executor runs it");
            let status = agent_status(
                &task_id,
                lost,
                task_status::Reason::ExecutorTerminated,
                "Cannot find executor",
            );
            return self.status_update(&mut state, &framework_id, status, Origin::Agent);
        };
        let queued_before = executor.queued.len() + executor.queued_groups.len();
        executor.queued.retain(|t| t.task_id != task_id);
        executor
            .queued_groups
            .retain(|g| !g.tasks.iter().any(|t| t.task_id == task_id));
        if executor.queued.len() + executor.queued_groups.len() < queued_before {
            let executor_id = executor.info.executor_id.value.clone();
            let idle = !executor.has_live_tasks();
            let status = agent_status(
                &task_id,
                TaskState::TaskKilled,
                task_status::Reason::TaskKilledDuringLaunch,
                "Killed before delivery to the executor",
            );
            self.status_update(&mut state, &framework_id, status, Origin::Agent);
            if idle {
                self.shutdown_executor(&mut state, &framework_id, &executor_id);
            }
            return;
        }
        if matches!(executor.kind, ExecutorKind::Noop { .. }) {
            return self.noop_kill(&mut state, &framework_id, &task_id);
        }
        match &executor.kind {
            ExecutorKind::Noop { .. } => {}
            ExecutorKind::Command { kill: killer } => {
                let grace = kill
                    .kill_policy
                    .as_ref()
                    .or(executor
                        .launched
                        .get(&task_id.value)
                        .and_then(|t| t.info.kill_policy.as_ref()))
                    .and_then(|p| p.grace_period.as_ref())
                    .map_or(super::command_executor::DEFAULT_KILL_GRACE, |d| {
                        Duration::from_nanos(d.nanoseconds.max(0) as u64)
                    });
                let _ = killer.send(grace);
            }
            ExecutorKind::Custom => {
                executor.send(Event {
                    r#type: Some(event::Type::Kill as i32),
                    kill: Some(event::Kill {
                        task_id,
                        kill_policy: kill.kill_policy,
                    }),
                    ..Default::default()
                });
            }
        }
    }

    fn reconcile_tasks(self: &Arc<Self>, reconcile: ReconcileTasks) {
        let framework_id = reconcile.framework_id.unwrap_or_default().value;
        let mut state = self.lock();
        state
            .frameworks
            .entry(framework_id.clone())
            .or_insert_with(|| AgentFramework {
                info: v1::FrameworkInfo {
                    id: Some(framework_id.as_str().into()),
                    ..Default::default()
                },
                terminating: false,
                executors: Default::default(),
            });
        let lost = if reconcile.partition_aware {
            TaskState::TaskDropped
        } else {
            TaskState::TaskLost
        };
        for task_id in reconcile.task_ids {
            let known = state
                .executor_of_task(&framework_id, &task_id.value)
                .is_some()
                || state.updates.has_stream(&framework_id, &task_id.value);
            if !known {
                let status = agent_status(
                    &task_id,
                    lost,
                    task_status::Reason::Reconciliation,
                    "Reconciliation: task unknown to the agent",
                );
                self.status_update(&mut state, &framework_id, status, Origin::Agent);
            }
        }
    }
}
