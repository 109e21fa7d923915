//! How executors end on the agent: SHUTDOWN of one executor (tell it, or
//! SIGTERM its process group when it has no connection, then SIGKILL the
//! group after the grace period: `Slave::_shutdownExecutor` and
//! `shutdownExecutorTimeout`), shutdown of a whole framework, the agent's
//! own stop (`Slave::shutdown`: every framework shut down, the agent waits
//! until their executors are gone), and `executorTerminated`: every task
//! still live gets TASK_FAILED (REASON_EXECUTOR_TERMINATED, or the pending
//! termination's reason such as a registration timeout), a custom
//! executor's exit is reported to the master (which sends FAILURE), and
//! leftovers of its process group are killed.

use std::sync::Arc;
use std::time::Duration;

use mesos_proto::v1::executor::{event, Event};
use mesos_proto::v1::{self, task_status, TaskState};
use nix::sys::signal::Signal;
use tracing::{info, warn};

use super::executors::agent_status;
use super::process::signal_group;
use super::state::{AgentState, ExecutorKind, ExecutorState};
use super::status::Origin;
use super::Agent;
use crate::protocol::{agent_event, ExecutorExited};

/// How long the agent's stop waits for executors killed at the end of
/// their grace period to be reaped.
const EXIT_AFTER_KILL: Duration = Duration::from_secs(5);

impl Agent {
    /// SHUTDOWN: the executor is told to stop (SIGTERM to its process group
    /// when it has no event stream to hear it) and its group is killed
    /// after its grace period if it is still there.
    pub(crate) fn shutdown_executor(
        self: &Arc<Self>,
        state: &mut AgentState,
        framework_id: &str,
        executor_id: &str,
    ) {
        let Some(executor) = state.executor_mut(framework_id, executor_id) else {
            warn!(framework = %framework_id, executor = %executor_id, "cannot shut down unknown executor");
            return;
        };
        if executor.state == ExecutorState::Terminating {
            return;
        }
        if matches!(executor.kind, ExecutorKind::Noop { .. }) {
            return self.noop_shutdown(state, framework_id, executor_id);
        }
        info!(framework = %framework_id, executor = %executor_id, "shutting down executor");
        let grace = executor.shutdown_grace;
        executor.state = ExecutorState::Terminating;
        match &executor.kind {
            ExecutorKind::Noop { .. } => {}
            ExecutorKind::Command { kill } => {
                let _ = kill.send(grace);
            }
            ExecutorKind::Custom => {
                let told = executor.send(Event {
                    r#type: Some(event::Type::Shutdown as i32),
                    ..Default::default()
                });
                let (container, pid) = (executor.container_id.clone(), executor.pid);
                if let (false, Some(pid)) = (told, pid) {
                    info!(framework = %framework_id, executor = %executor_id, pid, "executor has no connection; sending SIGTERM");
                    signal_group(pid, Signal::SIGTERM);
                }
                let agent = Arc::downgrade(self);
                let (framework_id, executor_id) =
                    (framework_id.to_string(), executor_id.to_string());
                tokio::spawn(async move {
                    tokio::time::sleep(grace).await;
                    let Some(agent) = agent.upgrade() else { return };
                    let state = agent.lock();
                    let alive = state
                        .frameworks
                        .get(&framework_id)
                        .and_then(|f| f.executors.get(&executor_id))
                        .is_some_and(|e| e.container_id == container);
                    if let (true, Some(pid)) = (alive, pid) {
                        info!(framework = %framework_id, executor = %executor_id, "grace period over; killing executor");
                        signal_group(pid, Signal::SIGKILL);
                    }
                });
            }
        }
    }

    pub(crate) fn shutdown_framework(self: &Arc<Self>, framework_id: &str) {
        let mut state = self.lock();
        state.updates.remove_framework(framework_id);
        let Some(framework) = state.frameworks.get_mut(framework_id) else {
            return;
        };
        info!(framework = %framework_id, "shutting down framework");
        framework.terminating = true;
        let executors: Vec<String> = framework.executors.keys().cloned().collect();
        if executors.is_empty() {
            state.frameworks.remove(framework_id);
        }
        for executor_id in executors {
            self.shutdown_executor(&mut state, framework_id, &executor_id);
        }
    }

    /// Stops every executor like `Slave::shutdown`: each framework is shut
    /// down (its executors get SHUTDOWN, or SIGTERM without a connection,
    /// and SIGKILL after their grace period), then the agent waits until
    /// they have all exited. Should one outlive its grace period and the
    /// kill by [`EXIT_AFTER_KILL`], every group left is killed again and the
    /// wait ends.
    pub(crate) async fn shutdown_all(self: &Arc<Self>) {
        let (frameworks, grace) = {
            let mut state = self.lock();
            state.terminating = true;
            let grace = state
                .frameworks
                .values()
                .flat_map(|f| f.executors.values())
                .map(|e| e.shutdown_grace)
                .max()
                .unwrap_or_default();
            let frameworks: Vec<String> = state.frameworks.keys().cloned().collect();
            (frameworks, grace)
        };
        info!(
            frameworks = frameworks.len(),
            ?grace,
            "shutting down every framework"
        );
        for framework_id in frameworks {
            self.shutdown_framework(&framework_id);
        }
        let deadline = tokio::time::Instant::now() + grace + EXIT_AFTER_KILL;
        loop {
            let exited = self.executor_exited.notified();
            tokio::pin!(exited);
            exited.as_mut().enable();
            let left = self.executor_count();
            if left == 0 {
                return;
            }
            if tokio::time::timeout_at(deadline, exited).await.is_err() {
                warn!(
                    left,
                    "executors still running after their grace period; killing them"
                );
                self.kill_all_executors();
                return;
            }
        }
    }

    /// How many executors the agent holds.
    fn executor_count(&self) -> usize {
        self.lock()
            .frameworks
            .values()
            .map(|f| f.executors.len())
            .sum()
    }

    /// An executor's process is gone (`executorTerminated`).
    pub(crate) fn executor_terminated(
        self: &Arc<Self>,
        framework_id: &str,
        executor_id: &str,
        container_id: &str,
        wait_status: i32,
    ) {
        let mut state = self.lock();
        let matches = state
            .executor_mut(framework_id, executor_id)
            .is_some_and(|e| e.container_id == container_id);
        if !matches {
            return;
        }
        let terminating = state
            .frameworks
            .get(framework_id)
            .is_some_and(|f| f.terminating);
        let Some(mut executor) = state
            .frameworks
            .get_mut(framework_id)
            .and_then(|f| f.executors.remove(executor_id))
        else {
            return;
        };
        info!(framework = %framework_id, executor = %executor_id, status = %super::process::describe_wait_status(wait_status), "executor terminated");
        if let Some(pid) = executor.pid {
            signal_group(pid, Signal::SIGKILL);
        }
        if let Some(connection) = executor.connection.take() {
            connection.close.cancel();
        }
        let termination = executor.termination.clone();
        let (state_, reason, message) = match &termination {
            Some(t) => (t.state, t.reason, t.message.clone()),
            None => (
                TaskState::TaskFailed,
                task_status::Reason::ExecutorTerminated,
                "Executor terminated".to_string(),
            ),
        };
        let live: Vec<v1::TaskId> = executor
            .launched
            .values()
            .filter(|t| !t.state.is_terminal())
            .map(|t| t.info.task_id.clone())
            .chain(executor.queued.iter().map(|t| t.task_id.clone()))
            .chain(
                executor
                    .queued_groups
                    .iter()
                    .flat_map(|g| g.tasks.iter().map(|t| t.task_id.clone())),
            )
            .collect();
        // Put it back while the updates are recorded (for executor ids).
        let is_custom = matches!(executor.kind, ExecutorKind::Custom);
        if !terminating {
            if let Some(framework) = state.frameworks.get_mut(framework_id) {
                framework
                    .executors
                    .insert(executor_id.to_string(), executor);
            }
            for task_id in live {
                let mut status = agent_status(&task_id, state_, reason, &message);
                status.executor_id = Some(executor_id.into());
                self.status_update(&mut state, framework_id, status, Origin::Agent);
            }
            if let Some(framework) = state.frameworks.get_mut(framework_id) {
                framework.executors.remove(executor_id);
            }
        }
        if is_custom {
            self.send_to_master(agent_event::Kind::ExecutorExited(ExecutorExited {
                framework_id: Some(framework_id.into()),
                executor_id: Some(executor_id.into()),
                status: wait_status,
            }));
        }
        let agent_id = state.agent_id.clone().unwrap_or_default();
        let _ =
            std::fs::remove_file(self.pid_file(&agent_id, framework_id, executor_id, container_id));
        let done = state
            .frameworks
            .get(framework_id)
            .is_some_and(|f| f.terminating && f.executors.is_empty());
        if done {
            state.frameworks.remove(framework_id);
        }
        drop(state);
        self.executor_exited.notify_waiters();
    }

    /// The terminal update of a task was acknowledged: forget the task.
    pub(crate) fn task_completed(&self, state: &mut AgentState, framework_id: &str, task_id: &str) {
        if let Some(executor) = state.executor_of_task_mut(framework_id, task_id) {
            executor.launched.remove(task_id);
        }
    }

    /// Kills every executor process group at once (a dropped agent, or
    /// executors that outlived the agent's stop).
    pub(crate) fn kill_all_executors(&self) {
        let state = self.lock();
        for framework in state.frameworks.values() {
            for executor in framework.executors.values() {
                if let Some(pid) = executor.pid {
                    signal_group(pid, Signal::SIGKILL);
                }
                if let ExecutorKind::Command { kill } = &executor.kind {
                    let _ = kill.send(Duration::ZERO);
                }
            }
        }
    }
}
