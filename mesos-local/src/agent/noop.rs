//! The `--noop-executor` bench setting: every launched task is answered at
//! once with TASK_RUNNING then TASK_FINISHED (source SOURCE_EXECUTOR, as an
//! executor would send them), without starting any process. The updates
//! still go through the agent's status update streams, so the master and
//! the scheduler see the full update/acknowledge traffic of real tasks.
//! A custom executor named by such tasks is reported exited (status 0)
//! after its tasks, so the master frees its resources.

use std::sync::Arc;

use mesos_proto::v1::{task_status, ExecutorInfo, TaskGroupInfo, TaskInfo, TaskState, TaskStatus};

use super::status::Origin;
use super::Agent;
use crate::protocol::{agent_event, ExecutorExited};

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
        let mut state = self.lock();
        let mut exited = Vec::new();
        for task in tasks {
            let executor_id = task
                .executor
                .as_ref()
                .or(executor.as_ref())
                .map(|e| e.executor_id.clone());
            for state_ in [TaskState::TaskRunning, TaskState::TaskFinished] {
                let mut status = TaskStatus {
                    task_id: task.task_id.clone(),
                    executor_id: Some(
                        executor_id
                            .clone()
                            .unwrap_or_else(|| task.task_id.value.as_str().into()),
                    ),
                    ..Default::default()
                };
                status.set_state(state_);
                status.set_source(task_status::Source::Executor);
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
}
