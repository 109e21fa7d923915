//! The built-in command executor for tasks with a `command` and no
//! `executor` (Mesos' `src/launcher/executor.cpp`), run inside the agent
//! instead of as a separate `mesos-executor` process: it reports
//! TASK_STARTING, starts the command in the sandbox in its own session,
//! reports TASK_RUNNING, and on exit TASK_FINISHED (status 0),
//! TASK_FAILED (`Command exited with status N`) or TASK_KILLED after a
//! kill. A kill sends TASK_KILLING first when the framework has the
//! TASK_KILLING_STATE capability, then SIGTERM to the process group and
//! SIGKILL after the grace period (the kill policy's, default 3 s).

use std::os::unix::process::ExitStatusExt;
use std::sync::Arc;
use std::time::Duration;

use mesos_proto::v1::{
    framework_info::capability, task_status, ExecutorInfo, FrameworkInfo, TaskInfo, TaskState,
    TaskStatus,
};
use nix::sys::signal::Signal;
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::environment::{add_command_environment, executor_environment, EnvFacts};
use super::fetcher;
use super::launch::prepare_sandbox;
use super::process::{self, describe_wait_status, signal_group, ProcessSpec};
use super::state::{AgentState, Executor, ExecutorKind, ExecutorState, TaskRecord};
use super::status::Origin;
use super::Agent;

/// Grace period of a kill without kill policy.
pub(crate) const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(3);

/// The ExecutorInfo Mesos generates for a command task.
fn command_executor_info(framework_id: &str, task: &TaskInfo) -> ExecutorInfo {
    let command = task.command.clone().unwrap_or_default();
    ExecutorInfo {
        executor_id: task.task_id.value.as_str().into(),
        framework_id: Some(framework_id.into()),
        name: Some(format!(
            "Command Executor (Task: {}) (Command: sh -c '{}')",
            task.task_id.value,
            command.value.clone().unwrap_or_default()
        )),
        source: Some(task.task_id.value.clone()),
        command: Some(command),
        ..Default::default()
    }
}

/// An executor-originated status of the command task.
fn command_status(task: &TaskInfo, state: TaskState, message: Option<String>) -> TaskStatus {
    let mut status = TaskStatus {
        task_id: task.task_id.clone(),
        message,
        ..Default::default()
    };
    status.set_state(state);
    status.set_source(task_status::Source::Executor);
    status
}

impl Agent {
    /// Starts a command task under the built-in command executor.
    pub(crate) fn launch_command_task(
        self: &Arc<Self>,
        state: &mut AgentState,
        framework: &FrameworkInfo,
        task: TaskInfo,
    ) {
        let framework_id = framework.id.clone().unwrap_or_default().value;
        let executor_info = command_executor_info(&framework_id, &task);
        let executor_id = executor_info.executor_id.value.clone();
        let agent_id = state.agent_id.clone().unwrap_or_default();
        let container_id = crate::ids::new_uuid();
        let directory = self.sandbox_dir(&agent_id, &framework_id, &executor_id, &container_id);
        let mut env = executor_environment(&EnvFacts {
            config: &self.config,
            endpoint: &self.endpoint,
            agent_id: &agent_id,
            framework,
            executor: &executor_info,
            directory: &directory,
        });
        add_command_environment(&mut env, task.command.as_ref());
        let spec = ProcessSpec {
            command: task.command.clone().unwrap_or_default(),
            directory: directory.clone(),
            env,
            pid_file: Some(self.pid_file(&agent_id, &framework_id, &executor_id, &container_id)),
        };
        let killing_state = framework
            .capabilities
            .iter()
            .any(|c| c.r#type() == capability::Type::TaskKillingState);
        let (kill_tx, kill_rx) = mpsc::unbounded_channel();
        let Some(framework_entry) = state.frameworks.get_mut(&framework_id) else {
            return;
        };
        if framework_entry.executors.contains_key(&executor_id) {
            warn!(framework = %framework_id, task = %task.task_id, "a command executor for this task id already runs");
            return;
        }
        framework_entry.executors.insert(
            executor_id.clone(),
            Executor {
                info: executor_info,
                container_id: container_id.clone(),
                directory,
                kind: ExecutorKind::Command { kill: kill_tx },
                state: ExecutorState::Running,
                connection: None,
                queued: Vec::new(),
                queued_groups: Vec::new(),
                launched: [(
                    task.task_id.value.clone(),
                    TaskRecord {
                        info: task.clone(),
                        state: TaskState::TaskStaging,
                        latest: None,
                    },
                )]
                .into(),
                pid: None,
                termination: None,
                shutdown_grace: self.config.executor_shutdown_grace_period,
            },
        );
        info!(framework = %framework_id, task = %task.task_id, "starting command task");
        let agent = Arc::clone(self);
        tokio::spawn(async move {
            agent
                .run_command_task(
                    framework_id,
                    executor_id,
                    container_id,
                    task,
                    spec,
                    killing_state,
                    kill_rx,
                )
                .await;
        });
    }

    fn command_update(self: &Arc<Self>, framework_id: &str, status: TaskStatus) {
        let mut state = self.lock();
        self.status_update(&mut state, framework_id, status, Origin::Executor);
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_command_task(
        self: Arc<Self>,
        framework_id: String,
        executor_id: String,
        container_id: String,
        task: TaskInfo,
        spec: ProcessSpec,
        killing_state: bool,
        mut kill_rx: mpsc::UnboundedReceiver<Duration>,
    ) {
        self.command_update(
            &framework_id,
            command_status(&task, TaskState::TaskStarting, None),
        );
        let uris = spec.command.uris.clone();
        let dir = spec.directory.clone();
        let prepared = tokio::task::spawn_blocking(move || {
            prepare_sandbox(&dir).map_err(|e| format!("cannot create sandbox: {e}"))?;
            fetcher::fetch(&uris, &dir).map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|e| Err(format!("sandbox preparation panicked: {e}")));
        let mut child =
            match prepared.and_then(|()| process::spawn(&spec).map_err(crate::api::chain)) {
                Ok(child) => child,
                Err(error) => {
                    let message = format!("Failed to launch task subprocess: {error}");
                    warn!(framework = %framework_id, task = %task.task_id, %message);
                    self.command_update(
                        &framework_id,
                        command_status(&task, TaskState::TaskFailed, Some(message)),
                    );
                    return self.command_executor_done(&framework_id, &executor_id, &container_id);
                }
            };
        let pid = child.id().unwrap_or_default();
        if let Some(executor) = self.lock().executor_mut(&framework_id, &executor_id) {
            executor.pid = Some(pid);
        }
        if self.cancel.is_cancelled() {
            signal_group(pid, Signal::SIGKILL);
        }
        self.command_update(
            &framework_id,
            command_status(&task, TaskState::TaskRunning, None),
        );
        let mut killed = false;
        let mut escalation: Option<tokio::time::Instant> = None;
        let status = loop {
            let deadline = async {
                match escalation {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                exit = child.wait() => break exit.map(|s| s.into_raw()).unwrap_or(-1),
                grace = kill_rx.recv(), if !killed => {
                    let grace = grace.unwrap_or(Duration::ZERO);
                    killed = true;
                    if killing_state {
                        self.command_update(&framework_id, command_status(&task, TaskState::TaskKilling, None));
                    }
                    info!(task = %task.task_id, ?grace, "killing command task");
                    signal_group(pid, Signal::SIGTERM);
                    escalation = Some(tokio::time::Instant::now() + grace);
                }
                () = deadline => {
                    signal_group(pid, Signal::SIGKILL);
                    escalation = None;
                }
            }
        };
        let state = if killed {
            TaskState::TaskKilled
        } else if status == 0 {
            TaskState::TaskFinished
        } else {
            TaskState::TaskFailed
        };
        let message = format!("Command {}", describe_wait_status(status));
        info!(task = %task.task_id, ?state, %message, "command task ended");
        self.command_update(&framework_id, command_status(&task, state, Some(message)));
        signal_group(pid, Signal::SIGKILL);
        self.command_executor_done(&framework_id, &executor_id, &container_id);
    }

    /// The command executor ends with its task: forget the executor (its
    /// task's update stream lives on until acknowledged).
    fn command_executor_done(&self, framework_id: &str, executor_id: &str, container_id: &str) {
        let mut state = self.lock();
        let agent_id = state.agent_id.clone().unwrap_or_default();
        if let Some(framework) = state.frameworks.get_mut(framework_id) {
            if framework
                .executors
                .get(executor_id)
                .is_some_and(|e| e.container_id == container_id)
            {
                framework.executors.remove(executor_id);
            }
            if framework.terminating && framework.executors.is_empty() {
                state.frameworks.remove(framework_id);
            }
        }
        drop(state);
        let _ =
            std::fs::remove_file(self.pid_file(&agent_id, framework_id, executor_id, container_id));
        self.executor_exited.notify_waiters();
    }
}
