//! The master's record of one framework: its info, its subscription stream
//! (if connected), its tasks, offers and decline filters, and helpers to
//! send it events.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use mesos_proto::v1::scheduler::{event, Event};
use mesos_proto::v1::{
    self, framework_info::capability, FrameworkInfo, Task, TaskState, TaskStatus,
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::resources::Resources;
use crate::stream::{EventSender, SendError};

/// A connected framework's subscription stream.
#[derive(Debug)]
pub(crate) struct Connection {
    /// `Mesos-Stream-Id` of the subscription.
    pub stream_id: String,
    /// Queue of the stream's events.
    pub events: EventSender<Event>,
    /// Ends the stream (after queued events).
    pub close: CancellationToken,
}

/// A refused-resources filter from DECLINE or ACCEPT leftovers.
#[derive(Debug, Clone)]
pub(crate) struct Filter {
    /// Offers on the agent contained in these resources are filtered.
    pub resources: Resources,
    /// When the filter lapses.
    pub expires: Instant,
}

/// One framework known to the master.
#[derive(Debug)]
pub(crate) struct Framework {
    pub id: v1::FrameworkId,
    pub info: FrameworkInfo,
    pub connection: Option<Connection>,
    /// Bumped on every (re)subscription: a failover timer armed before
    /// belongs to an older generation and does nothing.
    pub generation: u64,
    pub registered_time: f64,
    pub unregistered_time: Option<f64>,
    /// Live tasks and terminal ones whose last update is unacknowledged.
    pub tasks: HashMap<String, Task>,
    /// Tasks lost with an unreachable agent (partition-aware frameworks).
    pub unreachable_tasks: HashMap<String, Task>,
    pub completed_tasks: VecDeque<Task>,
    /// Outstanding offer ids.
    pub offers: HashSet<String>,
    /// Decline filters per agent id.
    pub filters: HashMap<String, Vec<Filter>>,
    /// Roles whose offers are suppressed.
    pub suppressed_roles: BTreeSet<String>,
    /// Resources used by tasks and executors plus offered (for DRF).
    pub allocated: Resources,
}

impl Framework {
    pub fn new(info: FrameworkInfo, now: f64) -> Self {
        let id = info.id.clone().unwrap_or_default();
        Framework {
            id,
            info,
            connection: None,
            generation: 0,
            registered_time: now,
            unregistered_time: None,
            tasks: HashMap::new(),
            unreachable_tasks: HashMap::new(),
            completed_tasks: VecDeque::new(),
            offers: HashSet::new(),
            filters: HashMap::new(),
            suppressed_roles: BTreeSet::new(),
            allocated: Resources::new(),
        }
    }

    pub fn is_connected(&self) -> bool {
        self.connection.is_some()
    }

    fn has_capability(&self, wanted: capability::Type) -> bool {
        self.info.capabilities.iter().any(|c| c.r#type() == wanted)
    }

    /// Whether the framework opted into PARTITION_AWARE.
    pub fn partition_aware(&self) -> bool {
        self.has_capability(capability::Type::PartitionAware)
    }

    /// The roles the framework subscribes with: `roles` for MULTI_ROLE
    /// frameworks, else `role` (default `*`).
    pub fn roles(&self) -> Vec<String> {
        if self.has_capability(capability::Type::MultiRole) {
            self.info.roles.clone()
        } else {
            vec![self.info.role().to_string()]
        }
    }

    /// Queues an event on the subscription stream; a full queue (a
    /// scheduler not reading) closes the stream, which disconnects the
    /// framework.
    pub fn send(&self, event: Event) {
        let Some(connection) = &self.connection else {
            return;
        };
        match connection.events.send(event) {
            Ok(()) => {}
            Err(SendError::Closed) => {}
            Err(SendError::Full) => {
                warn!(framework = %self.id, "scheduler is not reading its event stream; closing it");
                connection.close.cancel();
            }
        }
    }

    /// Sends an UPDATE event with `status`.
    pub fn send_update(&self, status: TaskStatus) {
        self.send(Event {
            r#type: Some(event::Type::Update as i32),
            update: Some(event::Update { status }),
            ..Default::default()
        });
    }

    /// Moves a task to the completed list (bounded).
    pub fn complete_task(&mut self, task: Task, max_completed: usize) {
        self.completed_tasks.push_back(task);
        while self.completed_tasks.len() > max_completed {
            self.completed_tasks.pop_front();
        }
    }

    /// Drops expired filters and answers whether `offerable` on `agent`
    /// is filtered (contained in a live refused set).
    pub fn is_filtered(&mut self, agent: &str, offerable: &Resources, now: Instant) -> bool {
        let Some(filters) = self.filters.get_mut(agent) else {
            return false;
        };
        filters.retain(|f| f.expires > now);
        if filters.is_empty() {
            self.filters.remove(agent);
            return false;
        }
        filters.iter().any(|f| f.resources.contains(offerable))
    }
}

/// The state reconciliation reports for a task: the state of the latest
/// update sent to the scheduler (`status_update_state`), else its state.
pub(crate) fn reported_state(task: &Task) -> TaskState {
    task.status_update_state
        .and_then(|s| TaskState::try_from(s).ok())
        .unwrap_or_else(|| task.state())
}

/// Records `status` on `task` like `Master::updateTask`: the state moves
/// unless already terminal, the latest acknowledgeable update is noted,
/// consecutive statuses of one state collapse and only the latest keeps
/// its `data`. Returns whether the task just became terminal.
pub(crate) fn update_task(task: &mut Task, status: &TaskStatus) -> bool {
    let new_state = status.state();
    let was_terminal = task.state().is_terminal();
    if !was_terminal {
        task.set_state(new_state);
    }
    if status.uuid.is_some() {
        task.status_update_state = Some(new_state as i32);
        task.status_update_uuid = status.uuid.clone();
    }
    if task
        .statuses
        .last()
        .is_some_and(|s| s.state == status.state)
    {
        task.statuses.pop();
    }
    if let Some(previous) = task.statuses.last_mut() {
        previous.data = None;
    }
    task.statuses.push(status.clone());
    !was_terminal && new_state.is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(state: TaskState, uuid: Option<u8>) -> TaskStatus {
        let mut s = TaskStatus {
            task_id: "t".into(),
            uuid: uuid.map(|b| vec![b; 16]),
            data: Some(b"payload".to_vec()),
            ..Default::default()
        };
        s.set_state(state);
        s
    }

    #[test]
    fn terminal_tasks_keep_their_state() {
        let mut task = Task::default();
        task.set_state(TaskState::TaskStaging);
        assert!(!update_task(
            &mut task,
            &status(TaskState::TaskRunning, Some(1))
        ));
        assert!(update_task(
            &mut task,
            &status(TaskState::TaskFinished, Some(2))
        ));
        assert!(!update_task(
            &mut task,
            &status(TaskState::TaskRunning, Some(3))
        ));
        assert_eq!(task.state(), TaskState::TaskFinished);
        assert_eq!(task.status_update_uuid, Some(vec![3; 16]));
    }

    #[test]
    fn repeated_states_collapse_and_old_data_is_dropped() {
        let mut task = Task::default();
        update_task(&mut task, &status(TaskState::TaskRunning, Some(1)));
        update_task(&mut task, &status(TaskState::TaskRunning, Some(2)));
        update_task(&mut task, &status(TaskState::TaskKilled, Some(3)));
        assert_eq!(task.statuses.len(), 2);
        assert_eq!(task.statuses[0].data, None);
        assert!(task.statuses[1].data.is_some());
    }

    #[test]
    fn updates_without_uuid_do_not_move_the_acknowledged_state() {
        let mut task = Task::default();
        update_task(&mut task, &status(TaskState::TaskRunning, Some(1)));
        update_task(&mut task, &status(TaskState::TaskLost, None));
        assert_eq!(reported_state(&task), TaskState::TaskRunning);
        assert_eq!(task.state(), TaskState::TaskLost);
    }
}
