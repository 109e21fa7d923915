//! Builders of the offer operations the framework sends in ACCEPT.

use mesos_proto::v1::offer::{operation, Operation};
use mesos_proto::v1::TaskInfo;

/// A LAUNCH operation of `tasks` (what `mesos-execute` sends in ACCEPT).
pub fn launch_operation(tasks: Vec<TaskInfo>) -> Operation {
    Operation {
        r#type: Some(operation::Type::Launch as i32),
        launch: Some(operation::Launch { task_infos: tasks }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_launch_operation_carries_its_tasks() {
        let task = TaskInfo {
            name: "web".into(),
            task_id: "web-1".into(),
            ..Default::default()
        };
        let operation = launch_operation(vec![task.clone()]);
        assert_eq!(operation.r#type(), operation::Type::Launch);
        assert_eq!(operation.launch.map(|l| l.task_infos), Some(vec![task]));
        assert!(operation.launch_group.is_none());
    }
}
