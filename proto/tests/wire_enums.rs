//! The wire contract, enums: value names and numbers are those of Apache
//! Mesos. Each table, written from the upstream `.proto` files, lists every
//! value, so a missing or extra value fails too.

mod common;

use common::assert_enum;

#[test]
fn task_states_have_the_original_numbers() {
    assert_enum(
        "mesos.v1.TaskState",
        &[
            ("TASK_STAGING", 6),
            ("TASK_STARTING", 0),
            ("TASK_RUNNING", 1),
            ("TASK_KILLING", 8),
            ("TASK_FINISHED", 2),
            ("TASK_FAILED", 3),
            ("TASK_KILLED", 4),
            ("TASK_ERROR", 7),
            ("TASK_LOST", 5),
            ("TASK_DROPPED", 9),
            ("TASK_UNREACHABLE", 10),
            ("TASK_GONE", 11),
            ("TASK_GONE_BY_OPERATOR", 12),
            ("TASK_UNKNOWN", 13),
        ],
    );
}

#[test]
fn status_reasons_and_sources_have_the_original_numbers() {
    assert_enum(
        "mesos.v1.TaskStatus.Source",
        &[
            ("SOURCE_MASTER", 0),
            ("SOURCE_AGENT", 1),
            ("SOURCE_EXECUTOR", 2),
        ],
    );
    assert_enum(
        "mesos.v1.TaskStatus.Reason",
        &[
            ("REASON_COMMAND_EXECUTOR_FAILED", 0),
            ("REASON_CONTAINER_LAUNCH_FAILED", 21),
            ("REASON_CONTAINER_LIMITATION", 19),
            ("REASON_CONTAINER_LIMITATION_DISK", 20),
            ("REASON_CONTAINER_LIMITATION_MEMORY", 8),
            ("REASON_CONTAINER_PREEMPTED", 17),
            ("REASON_CONTAINER_UPDATE_FAILED", 22),
            ("REASON_MAX_COMPLETION_TIME_REACHED", 33),
            ("REASON_EXECUTOR_REGISTRATION_TIMEOUT", 23),
            ("REASON_EXECUTOR_REREGISTRATION_TIMEOUT", 24),
            ("REASON_EXECUTOR_TERMINATED", 1),
            ("REASON_EXECUTOR_UNREGISTERED", 2),
            ("REASON_FRAMEWORK_REMOVED", 3),
            ("REASON_GC_ERROR", 4),
            ("REASON_INVALID_FRAMEWORKID", 5),
            ("REASON_INVALID_OFFERS", 6),
            ("REASON_IO_SWITCHBOARD_EXITED", 27),
            ("REASON_MASTER_DISCONNECTED", 7),
            ("REASON_RECONCILIATION", 9),
            ("REASON_RESOURCES_UNKNOWN", 18),
            ("REASON_AGENT_DISCONNECTED", 10),
            ("REASON_AGENT_DRAINING", 34),
            ("REASON_AGENT_REMOVED", 11),
            ("REASON_AGENT_REMOVED_BY_OPERATOR", 31),
            ("REASON_AGENT_REREGISTERED", 32),
            ("REASON_AGENT_RESTARTED", 12),
            ("REASON_AGENT_UNKNOWN", 13),
            ("REASON_TASK_KILLED_DURING_LAUNCH", 30),
            ("REASON_TASK_CHECK_STATUS_UPDATED", 28),
            ("REASON_TASK_HEALTH_CHECK_STATUS_UPDATED", 29),
            ("REASON_TASK_GROUP_INVALID", 25),
            ("REASON_TASK_GROUP_UNAUTHORIZED", 26),
            ("REASON_TASK_INVALID", 14),
            ("REASON_TASK_UNAUTHORIZED", 15),
            ("REASON_TASK_UNKNOWN", 16),
        ],
    );
}

#[test]
fn scheduler_call_and_event_types_have_the_original_numbers() {
    assert_enum(
        "mesos.v1.scheduler.Call.Type",
        &[
            ("UNKNOWN", 0),
            ("SUBSCRIBE", 1),
            ("TEARDOWN", 2),
            ("ACCEPT", 3),
            ("DECLINE", 4),
            ("ACCEPT_INVERSE_OFFERS", 13),
            ("DECLINE_INVERSE_OFFERS", 14),
            ("REVIVE", 5),
            ("KILL", 6),
            ("SHUTDOWN", 7),
            ("ACKNOWLEDGE", 8),
            ("ACKNOWLEDGE_OPERATION_STATUS", 15),
            ("RECONCILE", 9),
            ("RECONCILE_OPERATIONS", 16),
            ("MESSAGE", 10),
            ("REQUEST", 11),
            ("SUPPRESS", 12),
            ("UPDATE_FRAMEWORK", 17),
        ],
    );
    assert_enum(
        "mesos.v1.scheduler.Event.Type",
        &[
            ("UNKNOWN", 0),
            ("SUBSCRIBED", 1),
            ("OFFERS", 2),
            ("INVERSE_OFFERS", 9),
            ("RESCIND", 3),
            ("RESCIND_INVERSE_OFFER", 10),
            ("UPDATE", 4),
            ("UPDATE_OPERATION_STATUS", 11),
            ("MESSAGE", 5),
            ("FAILURE", 6),
            ("ERROR", 7),
            ("HEARTBEAT", 8),
        ],
    );
}

#[test]
fn executor_call_and_event_types_have_the_original_numbers() {
    assert_enum(
        "mesos.v1.executor.Call.Type",
        &[
            ("UNKNOWN", 0),
            ("SUBSCRIBE", 1),
            ("UPDATE", 2),
            ("MESSAGE", 3),
            ("HEARTBEAT", 4),
        ],
    );
    assert_enum(
        "mesos.v1.executor.Event.Type",
        &[
            ("UNKNOWN", 0),
            ("SUBSCRIBED", 1),
            ("LAUNCH", 2),
            ("LAUNCH_GROUP", 8),
            ("KILL", 3),
            ("ACKNOWLEDGED", 4),
            ("MESSAGE", 5),
            ("ERROR", 6),
            ("SHUTDOWN", 7),
            ("HEARTBEAT", 9),
        ],
    );
}
