//! Facts about task states shared by master and agent.

use mesos_proto::v1::TaskState;

/// Whether `state` is terminal (`protobuf::isTerminalState`): the task
/// will not change state again.
pub fn is_terminal(state: TaskState) -> bool {
    matches!(
        state,
        TaskState::TaskFinished
            | TaskState::TaskFailed
            | TaskState::TaskKilled
            | TaskState::TaskError
            | TaskState::TaskLost
            | TaskState::TaskDropped
            | TaskState::TaskGone
            | TaskState::TaskGoneByOperator
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_states_are_not_terminal() {
        for state in [
            TaskState::TaskStaging,
            TaskState::TaskStarting,
            TaskState::TaskRunning,
            TaskState::TaskKilling,
            TaskState::TaskUnreachable,
            TaskState::TaskUnknown,
        ] {
            assert!(!is_terminal(state), "{state:?}");
        }
        for state in [
            TaskState::TaskFinished,
            TaskState::TaskFailed,
            TaskState::TaskKilled,
            TaskState::TaskLost,
            TaskState::TaskGone,
        ] {
            assert!(is_terminal(state), "{state:?}");
        }
    }
}
