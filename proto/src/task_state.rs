//! Facts about task states that every side of the protocol needs: whether a
//! state is terminal (Mesos' `protobuf::isTerminalState`).

use crate::v1::TaskState;

impl TaskState {
    /// Whether a task in this state will never change state again
    /// (`protobuf::isTerminalState`): FINISHED, FAILED, KILLED, ERROR, LOST,
    /// DROPPED, GONE and GONE_BY_OPERATOR. KILLING, UNREACHABLE and UNKNOWN
    /// are not: the task may still come back or end.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_states_a_task_never_leaves_are_terminal() {
        let live = [
            TaskState::TaskStaging,
            TaskState::TaskStarting,
            TaskState::TaskRunning,
            TaskState::TaskKilling,
            TaskState::TaskUnreachable,
            TaskState::TaskUnknown,
        ];
        let terminal = [
            TaskState::TaskFinished,
            TaskState::TaskFailed,
            TaskState::TaskKilled,
            TaskState::TaskError,
            TaskState::TaskLost,
            TaskState::TaskDropped,
            TaskState::TaskGone,
            TaskState::TaskGoneByOperator,
        ];
        for state in live {
            assert!(!state.is_terminal(), "{state:?}");
        }
        for state in terminal {
            assert!(state.is_terminal(), "{state:?}");
        }
        // Every state of the enum is in one of the two lists.
        let all = (0..64).filter_map(|n| TaskState::try_from(n).ok()).count();
        assert_eq!(all, live.len() + terminal.len());
    }
}
