//! Launching a custom executor (`Slave::launchExecutor` and the Mesos
//! containerizer, minus isolation): a container id, the sandbox
//! `<work-dir>/slaves/<agent>/frameworks/<fw>/executors/<ex>/runs/<container>`
//! (with `runs/latest`), the URIs fetched into it, the process started in
//! its own session with the Mesos environment, a registration timeout,
//! and a waiter that reports the exit.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use mesos_proto::v1::{task_status, ExecutorInfo, FrameworkInfo, TaskState};
use nix::sys::signal::Signal;
use tracing::{info, warn};

use super::environment::{executor_environment, EnvFacts};
use super::fetcher;
use super::process::{self, signal_group, ProcessSpec};
use super::state::{AgentState, Executor, ExecutorKind, ExecutorState, Termination};
use super::Agent;
use crate::duration;

/// Creates `dir` and points `runs/latest` at it.
pub(crate) fn prepare_sandbox(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    if let Some(runs) = dir.parent() {
        let latest = runs.join("latest");
        let _ = std::fs::remove_file(&latest);
        std::os::unix::fs::symlink(dir, latest)?;
    }
    Ok(())
}

impl Agent {
    /// Records a new custom executor (REGISTERING) and starts its process
    /// in the background.
    pub(crate) fn launch_executor(
        self: &Arc<Self>,
        state: &mut AgentState,
        framework: &FrameworkInfo,
        info: ExecutorInfo,
    ) {
        let framework_id = framework.id.clone().unwrap_or_default().value;
        let executor_id = info.executor_id.value.clone();
        let agent_id = state.agent_id.clone().unwrap_or_default();
        let container_id = crate::ids::new_uuid();
        let directory = self.sandbox_dir(&agent_id, &framework_id, &executor_id, &container_id);
        let env = executor_environment(&EnvFacts {
            config: &self.config,
            endpoint: &self.endpoint,
            agent_id: &agent_id,
            framework,
            executor: &info,
            directory: &directory,
        });
        let shutdown_grace = info
            .shutdown_grace_period
            .as_ref()
            .map_or(self.config.executor_shutdown_grace_period, |d| {
                Duration::from_nanos(d.nanoseconds.max(0) as u64)
            });
        let spec = ProcessSpec {
            command: info.command.clone().unwrap_or_default(),
            directory: directory.clone(),
            env,
            pid_file: Some(self.pid_file(&agent_id, &framework_id, &executor_id, &container_id)),
        };
        info!(framework = %framework_id, executor = %executor_id, container = %container_id, "launching executor");
        let Some(framework_entry) = state.frameworks.get_mut(&framework_id) else {
            return;
        };
        framework_entry.executors.insert(
            executor_id.clone(),
            Executor {
                info,
                container_id: container_id.clone(),
                directory,
                kind: ExecutorKind::Custom,
                state: ExecutorState::Registering,
                connection: None,
                queued: Vec::new(),
                queued_groups: Vec::new(),
                launched: Default::default(),
                pid: None,
                termination: None,
                shutdown_grace,
            },
        );
        let agent = Arc::clone(self);
        tokio::spawn(async move {
            agent
                .run_executor_process(framework_id, executor_id, container_id, spec)
                .await;
        });
    }

    async fn run_executor_process(
        self: Arc<Self>,
        framework_id: String,
        executor_id: String,
        container_id: String,
        spec: ProcessSpec,
    ) {
        let uris = spec.command.uris.clone();
        let dir = spec.directory.clone();
        let prepared = tokio::task::spawn_blocking(move || {
            prepare_sandbox(&dir).map_err(|e| format!("cannot create sandbox: {e}"))?;
            fetcher::fetch(&uris, &dir).map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|e| Err(format!("sandbox preparation panicked: {e}")));
        let child = prepared.and_then(|()| process::spawn(&spec).map_err(crate::api::chain));
        let mut child = match child {
            Ok(child) => child,
            Err(error) => {
                warn!(framework = %framework_id, executor = %executor_id, %error, "executor launch failed");
                {
                    let mut state = self.lock();
                    if let Some(executor) = state.executor_mut(&framework_id, &executor_id) {
                        executor.termination = Some(Termination {
                            state: TaskState::TaskFailed,
                            reason: task_status::Reason::ContainerLaunchFailed,
                            message: format!("Failed to launch container: {error}"),
                        });
                    }
                }
                return self.executor_terminated(&framework_id, &executor_id, &container_id, -1);
            }
        };
        let pid = child.id();
        {
            let mut state = self.lock();
            match state.executor_mut(&framework_id, &executor_id) {
                Some(executor) if executor.container_id == container_id => {
                    executor.pid = pid;
                    if executor.state == ExecutorState::Terminating || self.cancel.is_cancelled() {
                        // Shut down before it even started.
                        if let Some(pid) = pid {
                            signal_group(pid, Signal::SIGKILL);
                        }
                    }
                }
                _ => {
                    if let Some(pid) = pid {
                        signal_group(pid, Signal::SIGKILL);
                    }
                }
            }
        }
        self.arm_registration_timeout(&framework_id, &executor_id, &container_id);
        let status = match child.wait().await {
            Ok(status) => status.into_raw(),
            Err(e) => {
                warn!(executor = %executor_id, error = %e, "cannot wait for executor");
                -1
            }
        };
        self.executor_terminated(&framework_id, &executor_id, &container_id, status);
    }

    /// Kills an executor that has not subscribed within
    /// `executor_registration_timeout`; its tasks then fail with
    /// REASON_EXECUTOR_REGISTRATION_TIMEOUT.
    fn arm_registration_timeout(
        self: &Arc<Self>,
        framework_id: &str,
        executor_id: &str,
        container_id: &str,
    ) {
        let timeout = self.config.executor_registration_timeout;
        let agent = Arc::downgrade(self);
        let (framework_id, executor_id, container_id) = (
            framework_id.to_string(),
            executor_id.to_string(),
            container_id.to_string(),
        );
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            let Some(agent) = agent.upgrade() else { return };
            let mut state = agent.lock();
            let Some(executor) = state.executor_mut(&framework_id, &executor_id) else {
                return;
            };
            if executor.container_id != container_id || executor.state != ExecutorState::Registering
            {
                return;
            }
            let message = format!(
                "Executor did not register within {}",
                duration::format(timeout)
            );
            warn!(framework = %framework_id, executor = %executor_id, %message, "terminating executor");
            executor.termination = Some(Termination {
                state: TaskState::TaskFailed,
                reason: task_status::Reason::ExecutorRegistrationTimeout,
                message,
            });
            executor.state = ExecutorState::Terminating;
            if let Some(pid) = executor.pid {
                signal_group(pid, Signal::SIGKILL);
            }
        });
    }
}
