//! Task validation for LAUNCH and LAUNCH_GROUP (`validation::task` in
//! Mesos): id, uniqueness, agent, kill policy, resources, then the
//! executor and whether task and executor fit the offered resources.

use std::collections::{HashMap, HashSet};

use mesos_proto::v1::{executor_info, ExecutorInfo, TaskInfo};

use super::validate_id;
use crate::resources::{self, Resources};

/// What task validation needs to know about the framework and agent.
pub(crate) struct TaskContext<'a> {
    pub framework_id: &'a str,
    /// Whether a task id is taken by a live task of the framework
    /// (including ones added earlier in the same ACCEPT).
    pub task_id_taken: &'a dyn Fn(&str) -> bool,
    pub agent_id: &'a str,
    /// The framework's executors on the agent (including ones added
    /// earlier in the same ACCEPT).
    pub executors: &'a HashMap<String, ExecutorInfo>,
    /// What is left of the offered resources.
    pub available: &'a Resources,
}

impl std::fmt::Debug for TaskContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskContext")
            .field("framework_id", &self.framework_id)
            .field("agent_id", &self.agent_id)
            .field("available", &self.available)
            .finish_non_exhaustive()
    }
}

fn validate_task_fields(task: &TaskInfo, ctx: &TaskContext<'_>) -> Result<Resources, String> {
    validate_id(&task.task_id.value).map_err(|e| format!("Task ID is invalid: {e}"))?;
    if (ctx.task_id_taken)(&task.task_id.value) {
        return Err(format!("Task has duplicate ID: {}", task.task_id.value));
    }
    if task.agent_id.value != ctx.agent_id {
        return Err(format!(
            "Task uses invalid agent {} while agent {} is expected",
            task.agent_id.value, ctx.agent_id
        ));
    }
    let negative_grace = task
        .kill_policy
        .as_ref()
        .and_then(|k| k.grace_period.as_ref())
        .is_some_and(|g| g.nanoseconds < 0);
    if negative_grace {
        return Err("Task's 'kill_policy.grace_period' must be non-negative".into());
    }
    if task.resources.is_empty() {
        return Err("Task uses no resources".into());
    }
    resources::validate(&task.resources)
        .map_err(|e| format!("Task uses invalid resources: Invalid resources: {e}"))?;
    Resources::from_protos(&task.resources).map_err(|e| e.to_string())
}

fn validate_executor(executor: &ExecutorInfo, ctx: &TaskContext<'_>) -> Result<(), String> {
    match executor.r#type() {
        executor_info::Type::Default if executor.command.is_some() => {
            return Err("'ExecutorInfo.command' must not be set for 'DEFAULT' executor".into())
        }
        executor_info::Type::Custom if executor.command.is_none() => {
            return Err("'ExecutorInfo.command' must be set for 'CUSTOM' executor".into())
        }
        _ => {}
    }
    validate_id(&executor.executor_id.value).map_err(|e| format!("Executor ID is invalid: {e}"))?;
    match &executor.framework_id {
        None => return Err("'ExecutorInfo.framework_id' must be set".into()),
        Some(id) if id.value != ctx.framework_id => {
            return Err(format!(
                "ExecutorInfo has an invalid FrameworkID (Actual: {} vs Expected: {})",
                id.value, ctx.framework_id
            ))
        }
        Some(_) => {}
    }
    let negative_grace = executor
        .shutdown_grace_period
        .as_ref()
        .is_some_and(|g| g.nanoseconds < 0);
    if negative_grace {
        return Err("ExecutorInfo's 'shutdown_grace_period' must be non-negative".into());
    }
    resources::validate(&executor.resources)
        .map_err(|e| format!("Executor uses invalid resources: Invalid resources: {e}"))?;
    if let Some(existing) = ctx.executors.get(&executor.executor_id.value) {
        if existing != executor {
            return Err(
                "ExecutorInfo is not compatible with existing ExecutorInfo with same ExecutorID)."
                    .into(),
            );
        }
    }
    Ok(())
}

/// `validation::task::validate` for a LAUNCH: returns the resources the
/// task consumes (its own, plus its executor's when the executor is new).
pub(crate) fn validate_task(task: &TaskInfo, ctx: &TaskContext<'_>) -> Result<Resources, String> {
    let mut total = validate_task_fields(task, ctx)?;
    if task.executor.is_some() == task.command.is_some() {
        return Err(
            "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present"
                .into(),
        );
    }
    if let Some(executor) = &task.executor {
        validate_executor(executor, ctx)?;
        if executor.r#type.is_some() && executor.r#type() != executor_info::Type::Custom {
            return Err("'ExecutorInfo.type' must be 'CUSTOM'".into());
        }
        if executor.command.is_none() {
            return Err("'ExecutorInfo.command' must be set".into());
        }
        if !ctx.executors.contains_key(&executor.executor_id.value) {
            total.add(&Resources::from_protos(&executor.resources).map_err(|e| e.to_string())?);
        }
    }
    if !ctx.available.contains(&total) {
        return Err(format!(
            "Total resources {total} required by task and its executor is more than available {}",
            ctx.available
        ));
    }
    Ok(total)
}

/// `validation::task::group::validate` for a LAUNCH_GROUP: returns the
/// resources the group consumes.
pub(crate) fn validate_task_group(
    tasks: &[TaskInfo],
    executor: &ExecutorInfo,
    ctx: &TaskContext<'_>,
) -> Result<Resources, String> {
    let mut total = Resources::new();
    let mut seen = HashSet::new();
    for task in tasks {
        let checked = validate_task_fields(task, ctx)
            .and_then(|r| {
                if seen.insert(task.task_id.value.clone()) {
                    Ok(r)
                } else {
                    Err(format!("Task has duplicate ID: {}", task.task_id.value))
                }
            })
            .and_then(|r| match &task.executor {
                None => Err("'TaskInfo.executor' must be set".to_string()),
                Some(e) if e != executor => Err(format!(
                    "The `ExecutorInfo` of task '{}' is different from executor '{}'",
                    task.task_id.value, executor.executor_id.value
                )),
                Some(_) => Ok(r),
            })
            .map_err(|e| format!("Task '{}' is invalid: {e}", task.task_id.value))?;
        total.add(&checked);
    }
    validate_executor(executor, ctx)?;
    if executor.r#type.is_none() {
        return Err("'ExecutorInfo.type' must be set".into());
    }
    if executor.r#type() == executor_info::Type::Unknown {
        return Err("Unknown executor type".into());
    }
    if !ctx.executors.contains_key(&executor.executor_id.value) {
        total.add(&Resources::from_protos(&executor.resources).map_err(|e| e.to_string())?);
    }
    if !ctx.available.contains(&total) {
        return Err(format!(
            "Total resources {total} required by task group and its executor are more than available {}",
            ctx.available
        ));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use mesos_proto::v1::{CommandInfo, FrameworkId};

    use super::*;

    fn task(id: &str, resources: &str) -> TaskInfo {
        TaskInfo {
            name: id.into(),
            task_id: id.into(),
            agent_id: "a1".into(),
            resources: Resources::parse(resources).expect("valid").to_protos(None),
            command: Some(CommandInfo {
                value: Some("true".into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn check(task: &TaskInfo, available: &str, existing: &[&str]) -> Result<Resources, String> {
        let ids: HashSet<String> = existing.iter().map(|s| s.to_string()).collect();
        let executors = HashMap::new();
        let available = Resources::parse(available).expect("valid");
        let taken = |id: &str| ids.contains(id);
        validate_task(
            task,
            &TaskContext {
                framework_id: "f",
                task_id_taken: &taken,
                agent_id: "a1",
                executors: &executors,
                available: &available,
            },
        )
    }

    #[test]
    fn a_fitting_command_task_is_valid() {
        let consumed = check(&task("t1", "cpus:1;mem:32"), "cpus:2;mem:64", &[]).expect("valid");
        assert_eq!(consumed.cpus(), Some(1.0));
    }

    #[test]
    fn task_problems_get_mesos_messages() {
        let table: Vec<(TaskInfo, &str, &[&str], &str)> = vec![
            (task("t1", "cpus:1"), "cpus:1", &["t1"], "Task has duplicate ID: t1"),
            (task("a/b", "cpus:1"), "cpus:1", &[], "Task ID is invalid: 'a/b' contains invalid characters"),
            (task("", "cpus:1"), "cpus:1", &[], "Task ID is invalid: ID must not be empty"),
            (task("t1", ""), "cpus:1", &[], "Task uses no resources"),
            (task("t1", "cpus:2"), "cpus:1", &[], "Total resources cpus:2 required by task and its executor is more than available cpus:1"),
        ];
        for (task, available, existing, expected) in table {
            assert_eq!(check(&task, available, existing), Err(expected.to_string()));
        }
        let mut other_agent = task("t1", "cpus:1");
        other_agent.agent_id = "a2".into();
        assert_eq!(
            check(&other_agent, "cpus:1", &[]),
            Err("Task uses invalid agent a2 while agent a1 is expected".into())
        );
        let mut neither = task("t1", "cpus:1");
        neither.command = None;
        assert!(check(&neither, "cpus:1", &[])
            .expect_err("invalid")
            .starts_with("Task should have"));
    }

    #[test]
    fn a_custom_executor_needs_command_and_framework_id() {
        let mut t = task("t1", "cpus:1");
        t.command = None;
        t.executor = Some(ExecutorInfo {
            executor_id: "e".into(),
            framework_id: Some(FrameworkId::from("f")),
            r#type: Some(executor_info::Type::Custom as i32),
            ..Default::default()
        });
        assert_eq!(
            check(&t, "cpus:1", &[]),
            Err("'ExecutorInfo.command' must be set for 'CUSTOM' executor".into())
        );
    }
}
