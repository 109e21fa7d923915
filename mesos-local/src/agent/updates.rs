//! The agent's status update manager (`TaskStatusUpdateManager`): one
//! stream per task, updates delivered in order with ONE outstanding at a
//! time, the outstanding one retried (first after
//! `status_update_retry_interval`, doubling up to a maximum) until the
//! scheduler acknowledges its uuid, then the next one is sent. A stream
//! ends when its terminal update is acknowledged.
//!
//! Memory is bounded: beyond `max_pending` queued updates for one task,
//! the oldest non-terminal update that is not in flight is dropped (and
//! logged). Pure state: the agent sends and arms the retry timers.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use mesos_proto::v1::TaskStatus;
use tracing::warn;

use crate::ids::uuid_text;

/// Acknowledged uuids remembered per stream to ignore duplicates.
const REMEMBERED_ACKS: usize = 8;

/// `(framework id, task id)`.
pub(crate) type StreamKey = (String, String);

#[derive(Debug)]
struct Stream {
    pending: VecDeque<TaskStatus>,
    /// Whether the head has been sent and awaits its acknowledgement.
    in_flight: bool,
    interval: Duration,
    /// Bumped whenever the head changes: stale retry timers do nothing.
    generation: u64,
    acked: VecDeque<Vec<u8>>,
}

/// What to do after adding or acknowledging an update.
#[derive(Debug, PartialEq)]
pub(crate) enum Next {
    /// Nothing to send now.
    Nothing,
    /// Send this update and arm a retry timer for `(generation, interval)`.
    Send {
        status: Box<TaskStatus>,
        generation: u64,
        interval: Duration,
    },
}

/// Result of an acknowledgement.
#[derive(Debug, PartialEq)]
pub(crate) enum Acked {
    /// The uuid is not the outstanding update's.
    Unexpected,
    /// Acknowledged; `terminal` when the stream ended with it.
    Done { next: Next, terminal: bool },
}

/// All streams of the agent.
#[derive(Debug)]
pub(crate) struct UpdateManager {
    streams: HashMap<StreamKey, Stream>,
    max_pending: usize,
    retry_min: Duration,
    retry_max: Duration,
}

impl UpdateManager {
    pub fn new(max_pending: usize, retry_min: Duration, retry_max: Duration) -> Self {
        UpdateManager {
            streams: HashMap::new(),
            max_pending: max_pending.max(2),
            retry_min,
            retry_max: retry_max.max(retry_min),
        }
    }

    /// Queues an update (must carry a uuid). Duplicates of a queued or
    /// recently acknowledged uuid are ignored (`None`).
    pub fn add(&mut self, framework_id: &str, status: TaskStatus) -> Option<Next> {
        let key = (framework_id.to_string(), status.task_id.value.clone());
        let retry_min = self.retry_min;
        let stream = self.streams.entry(key.clone()).or_insert_with(|| Stream {
            pending: VecDeque::new(),
            in_flight: false,
            interval: retry_min,
            generation: 0,
            acked: VecDeque::new(),
        });
        let uuid = status.uuid.clone().unwrap_or_default();
        if stream
            .pending
            .iter()
            .any(|s| s.uuid.as_deref() == Some(uuid.as_slice()))
            || stream.acked.contains(&uuid)
        {
            return None;
        }
        stream.pending.push_back(status);
        if stream.pending.len() > self.max_pending {
            let first_droppable = usize::from(stream.in_flight);
            let victim = (first_droppable..stream.pending.len())
                .find(|&i| !stream.pending[i].state().is_terminal());
            if let Some(i) = victim {
                if let Some(dropped) = stream.pending.remove(i) {
                    warn!(
                        framework = %key.0,
                        task = %key.1,
                        state = ?dropped.state(),
                        uuid = %uuid_text(dropped.uuid.as_deref().unwrap_or_default()),
                        cap = self.max_pending,
                        "too many unacknowledged status updates; dropped the oldest non-terminal one"
                    );
                }
            }
        }
        Some(Self::send_head(stream, self.retry_min))
    }

    fn send_head(stream: &mut Stream, retry_min: Duration) -> Next {
        if stream.in_flight {
            return Next::Nothing;
        }
        match stream.pending.front() {
            Some(head) => {
                stream.in_flight = true;
                stream.interval = retry_min;
                stream.generation += 1;
                Next::Send {
                    status: Box::new(head.clone()),
                    generation: stream.generation,
                    interval: stream.interval,
                }
            }
            None => Next::Nothing,
        }
    }

    /// The scheduler acknowledged `uuid` for a task.
    pub fn acknowledge(&mut self, framework_id: &str, task_id: &str, uuid: &[u8]) -> Acked {
        let key = (framework_id.to_string(), task_id.to_string());
        let Some(stream) = self.streams.get_mut(&key) else {
            return Acked::Unexpected;
        };
        let matches = stream.in_flight
            && stream.pending.front().and_then(|s| s.uuid.as_deref()) == Some(uuid);
        if !matches {
            return Acked::Unexpected;
        }
        let Some(head) = stream.pending.pop_front() else {
            return Acked::Unexpected;
        };
        stream.in_flight = false;
        stream.acked.push_back(uuid.to_vec());
        if stream.acked.len() > REMEMBERED_ACKS {
            stream.acked.pop_front();
        }
        let terminal = head.state().is_terminal();
        if terminal && stream.pending.is_empty() {
            self.streams.remove(&key);
            return Acked::Done {
                next: Next::Nothing,
                terminal: true,
            };
        }
        Acked::Done {
            next: Self::send_head(stream, self.retry_min),
            terminal,
        }
    }

    /// A retry timer fired: the update to resend (and the next timer), if
    /// the stream still waits on the same head.
    pub fn retry(&mut self, key: &StreamKey, generation: u64) -> Option<(TaskStatus, Duration)> {
        let stream = self.streams.get_mut(key)?;
        if !stream.in_flight || stream.generation != generation {
            return None;
        }
        stream.interval = (stream.interval * 2).min(self.retry_max);
        let head = stream.pending.front()?.clone();
        Some((head, stream.interval))
    }

    /// The in-flight update of every stream with its framework id (resent
    /// after reconnecting or when the framework resubscribes).
    pub fn in_flight(&self) -> Vec<(String, TaskStatus)> {
        self.streams
            .iter()
            .filter(|(_, s)| s.in_flight)
            .filter_map(|((framework, _), s)| {
                s.pending.front().map(|h| (framework.clone(), h.clone()))
            })
            .collect()
    }

    /// Whether the task has updates not yet acknowledged.
    pub fn has_stream(&self, framework_id: &str, task_id: &str) -> bool {
        self.streams
            .contains_key(&(framework_id.to_string(), task_id.to_string()))
    }

    /// Forgets a framework's streams (it was shut down).
    pub fn remove_framework(&mut self, framework_id: &str) {
        self.streams.retain(|(f, _), _| f != framework_id);
    }

    /// How many updates are queued in all.
    pub fn pending_count(&self) -> usize {
        self.streams.values().map(|s| s.pending.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use mesos_proto::v1::TaskState;

    use super::*;

    fn status(state: TaskState, uuid: u8) -> TaskStatus {
        let mut s = TaskStatus {
            task_id: "t".into(),
            uuid: Some(vec![uuid; 16]),
            ..Default::default()
        };
        s.set_state(state);
        s
    }

    fn manager() -> UpdateManager {
        UpdateManager::new(4, Duration::from_secs(10), Duration::from_secs(600))
    }

    fn sent_uuid(next: &Next) -> Option<u8> {
        match next {
            Next::Send { status, .. } => status.uuid.as_ref().map(|u| u[0]),
            Next::Nothing => None,
        }
    }

    #[test]
    fn one_update_is_outstanding_per_task_in_order() {
        let mut m = manager();
        let first = m.add("f", status(TaskState::TaskRunning, 1)).expect("new");
        assert_eq!(sent_uuid(&first), Some(1));
        let second = m.add("f", status(TaskState::TaskFinished, 2)).expect("new");
        assert_eq!(second, Next::Nothing);
        match m.acknowledge("f", "t", &[1; 16]) {
            Acked::Done { next, terminal } => {
                assert!(!terminal);
                assert_eq!(sent_uuid(&next), Some(2));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            m.acknowledge("f", "t", &[2; 16]),
            Acked::Done {
                next: Next::Nothing,
                terminal: true
            }
        );
        assert!(!m.has_stream("f", "t"));
    }

    #[test]
    fn acknowledging_a_queued_update_out_of_order_is_unexpected() {
        let mut m = manager();
        m.add("f", status(TaskState::TaskRunning, 1));
        m.add("f", status(TaskState::TaskRunning, 2));
        assert_eq!(m.acknowledge("f", "t", &[2; 16]), Acked::Unexpected);
        assert_eq!(m.acknowledge("g", "t", &[1; 16]), Acked::Unexpected);
    }

    #[test]
    fn retries_double_up_to_the_maximum_and_stale_timers_do_nothing() {
        let mut m = UpdateManager::new(4, Duration::from_secs(10), Duration::from_secs(30));
        let Next::Send { generation, .. } =
            m.add("f", status(TaskState::TaskRunning, 1)).expect("new")
        else {
            panic!("first update is sent");
        };
        let key = ("f".to_string(), "t".to_string());
        assert_eq!(
            m.retry(&key, generation).map(|(_, d)| d),
            Some(Duration::from_secs(20))
        );
        assert_eq!(
            m.retry(&key, generation).map(|(_, d)| d),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            m.retry(&key, generation).map(|(_, d)| d),
            Some(Duration::from_secs(30))
        );
        assert_eq!(m.retry(&key, generation + 1), None);
    }

    #[test]
    fn duplicates_are_ignored() {
        let mut m = manager();
        m.add("f", status(TaskState::TaskRunning, 1));
        assert_eq!(m.add("f", status(TaskState::TaskRunning, 1)), None);
        m.acknowledge("f", "t", &[1; 16]);
        assert_eq!(m.add("f", status(TaskState::TaskRunning, 1)), None);
    }

    #[test]
    fn the_queue_is_bounded_and_keeps_terminal_updates() {
        let mut m = manager();
        m.add("f", status(TaskState::TaskRunning, 1));
        for uuid in 2..=6 {
            m.add("f", status(TaskState::TaskRunning, uuid));
        }
        m.add("f", status(TaskState::TaskFinished, 7));
        assert_eq!(m.pending_count(), 4);
        // The in-flight head (1) and the terminal update (7) survive.
        let mut seen = Vec::new();
        let mut uuid = 1u8;
        while let Acked::Done { next, .. } = m.acknowledge("f", "t", &[uuid; 16]) {
            seen.push(uuid);
            match sent_uuid(&next) {
                Some(u) => uuid = u,
                None => break,
            }
        }
        assert_eq!(seen.first(), Some(&1));
        assert_eq!(seen.last(), Some(&7));
        assert_eq!(seen.len(), 4);
    }
}
