//! The ACCEPT call (`Master::accept` / `_accept`): offer validation (unique,
//! outstanding, this framework's, one agent), then each LAUNCH or
//! LAUNCH_GROUP task validated against what is left of the offered
//! resources. Invalid offers turn every task into TASK_LOST (TASK_DROPPED
//! for partition-aware frameworks) with REASON_INVALID_OFFERS; an invalid
//! task gets TASK_ERROR with REASON_TASK_INVALID; valid tasks are staged
//! and sent to the agent; what is left is declined for
//! `filters.refuse_seconds` (default 5).

use std::collections::{HashMap, HashSet};

use mesos_proto::v1::scheduler::call;
use mesos_proto::v1::{offer::operation, task_status, ExecutorInfo, Task, TaskInfo, TaskState};
use tracing::{info, warn};

use super::events::master_status;
use super::state::MasterState;
use super::validation::{self, TaskContext};
use super::Master;
use crate::protocol::{master_message, RunTask};
use crate::resources::Resources;

/// The validated offers of an ACCEPT: their agent and resources.
struct Accepted {
    agent_id: String,
    offered: Resources,
}

impl MasterState {
    /// `validation::offer::validate`, then removes the offers. On error the
    /// offers that existed are still removed (resources recovered).
    fn take_offers(
        &mut self,
        framework_id: &str,
        offer_ids: &[String],
    ) -> Result<Accepted, String> {
        let error = validation::check_offers(framework_id, offer_ids, |id| {
            self.offers
                .get(id)
                .map(|o| (o.framework.as_str(), o.agent.as_str()))
        })
        .err();
        let mut accepted = Accepted {
            agent_id: String::new(),
            offered: Resources::new(),
        };
        for id in offer_ids {
            let owned = self
                .offers
                .get(id)
                .is_some_and(|o| o.framework == framework_id);
            if !owned {
                continue;
            }
            if let Some(record) = self.remove_offer(id, false) {
                accepted.agent_id = record.agent;
                accepted.offered.add(&record.resources);
            }
        }
        match error {
            Some(error) => Err(error),
            None => Ok(accepted),
        }
    }

    /// Sends TASK_LOST/TASK_DROPPED (REASON_INVALID_OFFERS) for every task
    /// of the launch operations.
    fn drop_launches(
        &self,
        framework_id: &str,
        operations: &[mesos_proto::v1::offer::Operation],
        error: &str,
    ) {
        let Some(framework) = self.frameworks.get(framework_id) else {
            return;
        };
        let state = if framework.partition_aware() {
            TaskState::TaskDropped
        } else {
            TaskState::TaskLost
        };
        for task in launched_tasks(operations) {
            framework.send_update(master_status(
                &task.task_id,
                state,
                task_status::Reason::InvalidOffers,
                format!("Task launched with invalid offers: {error}"),
                Some(&task.agent_id),
            ));
        }
    }

    /// Stages a validated task: master records, resources, and RunTask to
    /// the agent.
    fn launch(
        &mut self,
        framework_id: &str,
        agent_id: &str,
        task: TaskInfo,
        consumed: &Resources,
        send: bool,
    ) {
        let Some(framework) = self.frameworks.get_mut(framework_id) else {
            return;
        };
        let mut record = Task {
            name: task.name.clone(),
            task_id: task.task_id.clone(),
            framework_id: framework.id.clone(),
            executor_id: task.executor.as_ref().map(|e| e.executor_id.clone()),
            agent_id: task.agent_id.clone(),
            resources: task.resources.clone(),
            labels: task.labels.clone(),
            discovery: task.discovery.clone(),
            container: task.container.clone(),
            health_check: task.health_check.clone(),
            kill_policy: task.kill_policy,
            user: framework.info.user.clone().into(),
            ..Default::default()
        };
        record.set_state(TaskState::TaskStaging);
        framework.tasks.insert(task.task_id.value.clone(), record);
        let info = framework.info.clone();
        if let Some(agent) = self.agents.get_mut(agent_id) {
            agent
                .tasks
                .entry(framework_id.to_string())
                .or_default()
                .insert(task.task_id.value.clone());
            if let Some(executor) = &task.executor {
                agent
                    .executors
                    .entry(framework_id.to_string())
                    .or_default()
                    .entry(executor.executor_id.value.clone())
                    .or_insert_with(|| executor.clone());
            }
        }
        self.add_used(framework_id, agent_id, consumed);
        info!(framework = %framework_id, agent = %agent_id, task = %task.task_id, "launching task");
        if send {
            self.send_to_agent(
                agent_id,
                master_message::Kind::RunTask(RunTask {
                    framework: Some(info),
                    task: Some(task),
                    executor: None,
                    task_group: None,
                }),
            );
        }
    }
}

/// Every TaskInfo of the LAUNCH and LAUNCH_GROUP operations.
fn launched_tasks(operations: &[mesos_proto::v1::offer::Operation]) -> Vec<&TaskInfo> {
    operations
        .iter()
        .flat_map(|op| match op.r#type() {
            operation::Type::Launch => op
                .launch
                .iter()
                .flat_map(|l| l.task_infos.iter())
                .collect::<Vec<_>>(),
            operation::Type::LaunchGroup => op
                .launch_group
                .iter()
                .flat_map(|g| g.task_group.tasks.iter())
                .collect(),
            _ => Vec::new(),
        })
        .collect()
}

impl Master {
    /// Handles an ACCEPT call of a connected framework.
    pub(crate) fn accept(&self, state: &mut MasterState, framework_id: &str, accept: call::Accept) {
        let offer_ids: Vec<String> = accept.offer_ids.iter().map(|o| o.value.clone()).collect();
        let accepted = match state.take_offers(framework_id, &offer_ids) {
            Ok(accepted) => accepted,
            Err(error) => {
                warn!(framework = %framework_id, %error, "ACCEPT call used invalid offers");
                state.drop_launches(framework_id, &accept.operations, &error);
                self.trigger_allocation();
                return;
            }
        };
        let agent_id = accepted.agent_id.clone();
        let mut available = accepted.offered.clone();
        // Task ids launched by this ACCEPT (the framework's live ones are
        // looked up in place).
        let mut added: HashSet<String> = HashSet::new();
        let mut executors: HashMap<String, ExecutorInfo> = state
            .agents
            .get(&agent_id)
            .and_then(|a| a.executors.get(framework_id).cloned())
            .unwrap_or_default();
        for op in accept.operations {
            match op.r#type() {
                operation::Type::Launch => {
                    for task in op.launch.map(|l| l.task_infos).unwrap_or_default() {
                        let task = with_executor_framework(task, framework_id);
                        let taken =
                            |id: &str| added.contains(id) || is_live_task(state, framework_id, id);
                        let checked = validation::validate_task(
                            &task,
                            &TaskContext {
                                framework_id,
                                task_id_taken: &taken,
                                agent_id: &agent_id,
                                executors: &executors,
                                available: &available,
                            },
                        );
                        match checked {
                            Ok(consumed) => {
                                available.subtract(&consumed);
                                added.insert(task.task_id.value.clone());
                                if let Some(e) = &task.executor {
                                    executors.insert(e.executor_id.value.clone(), e.clone());
                                }
                                state.launch(framework_id, &agent_id, task, &consumed, true);
                            }
                            Err(error) => self.task_error(
                                state,
                                framework_id,
                                &task,
                                task_status::Reason::TaskInvalid,
                                &error,
                            ),
                        }
                    }
                }
                operation::Type::LaunchGroup => {
                    let Some(group) = op.launch_group else {
                        continue;
                    };
                    let mut executor = group.executor;
                    executor
                        .framework_id
                        .get_or_insert_with(|| framework_id.into());
                    let tasks: Vec<TaskInfo> = group
                        .task_group
                        .tasks
                        .into_iter()
                        .map(|t| with_executor_framework(t, framework_id))
                        .collect();
                    let taken =
                        |id: &str| added.contains(id) || is_live_task(state, framework_id, id);
                    let checked = validation::validate_task_group(
                        &tasks,
                        &executor,
                        &TaskContext {
                            framework_id,
                            task_id_taken: &taken,
                            agent_id: &agent_id,
                            executors: &executors,
                            available: &available,
                        },
                    );
                    match checked {
                        Ok(consumed) => {
                            available.subtract(&consumed);
                            executors.insert(executor.executor_id.value.clone(), executor.clone());
                            added.extend(tasks.iter().map(|t| t.task_id.value.clone()));
                            self.launch_group(
                                state,
                                framework_id,
                                &agent_id,
                                executor,
                                tasks,
                                &consumed,
                            );
                        }
                        Err(error) => {
                            for task in &tasks {
                                self.task_error(
                                    state,
                                    framework_id,
                                    task,
                                    task_status::Reason::TaskGroupInvalid,
                                    &error,
                                );
                            }
                        }
                    }
                }
                other => {
                    warn!(framework = %framework_id, operation = ?other, "offer operation not supported by mesos-local; ignored");
                }
            }
        }
        let refuse = accept.filters.as_ref().map_or(5.0, |f| f.refuse_seconds());
        state.add_filter(
            framework_id,
            &agent_id,
            available,
            refuse,
            self.config.allocation_interval,
        );
        self.trigger_allocation();
    }

    fn task_error(
        &self,
        state: &MasterState,
        framework_id: &str,
        task: &TaskInfo,
        reason: task_status::Reason,
        error: &str,
    ) {
        warn!(framework = %framework_id, task = %task.task_id, %error, "invalid task");
        if let Some(framework) = state.frameworks.get(framework_id) {
            framework.send_update(master_status(
                &task.task_id,
                TaskState::TaskError,
                reason,
                error,
                Some(&task.agent_id),
            ));
        }
    }

    fn launch_group(
        &self,
        state: &mut MasterState,
        framework_id: &str,
        agent_id: &str,
        executor: ExecutorInfo,
        tasks: Vec<TaskInfo>,
        consumed: &Resources,
    ) {
        let info = state.frameworks.get(framework_id).map(|f| f.info.clone());
        let mut first = true;
        for task in &tasks {
            // Resources are accounted once, for the whole group.
            let share = if first {
                consumed.clone()
            } else {
                Resources::new()
            };
            first = false;
            let mut task = task.clone();
            task.executor.get_or_insert_with(|| executor.clone());
            state.launch(framework_id, agent_id, task, &share, false);
        }
        state.send_to_agent(
            agent_id,
            master_message::Kind::RunTask(RunTask {
                framework: info,
                task: None,
                executor: Some(executor),
                task_group: Some(mesos_proto::v1::TaskGroupInfo { tasks }),
            }),
        );
    }
}

/// Whether the framework has a live task with this id.
fn is_live_task(state: &MasterState, framework_id: &str, task_id: &str) -> bool {
    state
        .frameworks
        .get(framework_id)
        .is_some_and(|f| f.tasks.contains_key(task_id))
}

/// Fills `ExecutorInfo.framework_id` as the master does before validating.
fn with_executor_framework(mut task: TaskInfo, framework_id: &str) -> TaskInfo {
    if let Some(executor) = task.executor.as_mut() {
        executor
            .framework_id
            .get_or_insert_with(|| framework_id.into());
    }
    task
}
