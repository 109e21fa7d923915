//! Builders of the scheduler API events and of master-generated task
//! statuses (no uuid, `SOURCE_MASTER`), so every part of the master emits
//! them in one shape.

use std::time::{SystemTime, UNIX_EPOCH};

use mesos_proto::v1::scheduler::{event, Event};
use mesos_proto::v1::{self, task_status, TaskState, TaskStatus};

/// Seconds since the Unix epoch, as Mesos timestamps are.
pub(crate) fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

/// A master-generated status: no uuid (never acknowledged),
/// `SOURCE_MASTER`, timestamped now.
pub(crate) fn master_status(
    task_id: &v1::TaskId,
    state: TaskState,
    reason: task_status::Reason,
    message: impl Into<String>,
    agent_id: Option<&v1::AgentId>,
) -> TaskStatus {
    let mut status = TaskStatus {
        task_id: task_id.clone(),
        message: Some(message.into()),
        agent_id: agent_id.cloned(),
        timestamp: Some(now_secs()),
        ..Default::default()
    };
    status.set_state(state);
    status.set_source(task_status::Source::Master);
    status.set_reason(reason);
    status
}

fn typed(kind: event::Type) -> Event {
    Event {
        r#type: Some(kind as i32),
        ..Default::default()
    }
}

/// `SUBSCRIBED`.
pub(crate) fn subscribed(
    framework_id: &v1::FrameworkId,
    heartbeat_seconds: f64,
    master_info: &v1::MasterInfo,
) -> Event {
    Event {
        subscribed: Some(event::Subscribed {
            framework_id: framework_id.clone(),
            heartbeat_interval_seconds: Some(heartbeat_seconds),
            master_info: Some(master_info.clone()),
        }),
        ..typed(event::Type::Subscribed)
    }
}

/// `HEARTBEAT`.
pub(crate) fn heartbeat() -> Event {
    typed(event::Type::Heartbeat)
}

/// `ERROR` with a message; the stream is closed after it.
pub(crate) fn error(message: impl Into<String>) -> Event {
    Event {
        error: Some(event::Error {
            message: message.into(),
        }),
        ..typed(event::Type::Error)
    }
}

/// `OFFERS`.
pub(crate) fn offers(offers: Vec<v1::Offer>) -> Event {
    Event {
        offers: Some(event::Offers { offers }),
        ..typed(event::Type::Offers)
    }
}

/// `RESCIND` of one offer.
pub(crate) fn rescind(offer_id: &str) -> Event {
    Event {
        rescind: Some(event::Rescind {
            offer_id: offer_id.into(),
        }),
        ..typed(event::Type::Rescind)
    }
}

/// `FAILURE`: an executor exited (with its wait status) or, without an
/// executor, an agent was lost.
pub(crate) fn failure(
    agent_id: &v1::AgentId,
    executor_id: Option<&v1::ExecutorId>,
    status: Option<i32>,
) -> Event {
    Event {
        failure: Some(event::Failure {
            agent_id: Some(agent_id.clone()),
            executor_id: executor_id.cloned(),
            status,
        }),
        ..typed(event::Type::Failure)
    }
}

/// `MESSAGE` from an executor.
pub(crate) fn message(
    agent_id: &v1::AgentId,
    executor_id: &v1::ExecutorId,
    data: Vec<u8>,
) -> Event {
    Event {
        message: Some(event::Message {
            agent_id: agent_id.clone(),
            executor_id: executor_id.clone(),
            data,
        }),
        ..typed(event::Type::Message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_statuses_carry_no_uuid() {
        let status = master_status(
            &"t".into(),
            TaskState::TaskLost,
            task_status::Reason::Reconciliation,
            "Reconciliation: Task is unknown",
            None,
        );
        assert_eq!(status.uuid, None);
        assert_eq!(status.source(), task_status::Source::Master);
        assert!(status.timestamp.is_some_and(|t| t > 1.0e9));
    }

    #[test]
    fn events_carry_their_type() {
        assert_eq!(heartbeat().r#type(), event::Type::Heartbeat);
        assert_eq!(
            rescind("o").rescind.map(|r| r.offer_id.value),
            Some("o".into())
        );
        let failure = failure(&"a".into(), None, None)
            .failure
            .expect("failure set");
        assert_eq!(failure.agent_id, Some("a".into()));
    }
}
