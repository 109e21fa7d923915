//! What the agent has not acknowledged yet: every status update sent (kept
//! until an ACKNOWLEDGED event names its uuid) and every task for which no
//! update has been acknowledged. Both go into the next SUBSCRIBE call, so the
//! agent learns them again after a reconnection.

use std::collections::BTreeMap;

use mesos_proto::v1::executor::call::Update;
use mesos_proto::v1::{TaskId, TaskInfo, TaskStatus};

/// The unacknowledged updates (in the order sent) and tasks.
#[derive(Debug, Default, Clone)]
pub struct Unacknowledged {
    updates: Vec<TaskStatus>,
    tasks: BTreeMap<TaskId, TaskInfo>,
}

impl Unacknowledged {
    /// A task received with LAUNCH.
    pub fn add_task(&mut self, task: TaskInfo) {
        self.tasks.insert(task.task_id.clone(), task);
    }

    /// An update about to be sent.
    pub fn add_update(&mut self, status: TaskStatus) {
        self.updates.push(status);
    }

    /// ACKNOWLEDGED `{task_id, uuid}`: forgets that update, and the task (the
    /// agent knows it now). False when no such update was pending.
    pub fn acknowledge(&mut self, task: &TaskId, uuid: &[u8]) -> bool {
        let before = self.updates.len();
        self.updates
            .retain(|u| !(u.task_id == *task && u.uuid.as_deref() == Some(uuid)));
        let found = self.updates.len() != before;
        if found {
            self.tasks.remove(task);
        }
        found
    }

    /// The SUBSCRIBE lists.
    pub fn for_subscribe(&self) -> (Vec<TaskInfo>, Vec<Update>) {
        (
            self.tasks.values().cloned().collect(),
            self.updates
                .iter()
                .map(|s| Update { status: s.clone() })
                .collect(),
        )
    }

    /// True when `task` has an update still waiting for its acknowledgement.
    pub fn has_updates_for(&self, task: &TaskId) -> bool {
        self.updates.iter().any(|u| u.task_id == *task)
    }

    /// True when nothing waits for an acknowledgement.
    pub fn is_empty(&self) -> bool {
        self.updates.is_empty() && self.tasks.is_empty()
    }

    /// How many updates wait.
    pub fn pending_updates(&self) -> usize {
        self.updates.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(task: &str, uuid: u8) -> TaskStatus {
        TaskStatus {
            task_id: TaskId::from(task),
            uuid: Some(vec![uuid; 16]),
            ..Default::default()
        }
    }

    #[test]
    fn an_acknowledged_update_and_its_task_are_forgotten() {
        let mut u = Unacknowledged::default();
        u.add_task(TaskInfo {
            task_id: TaskId::from("a"),
            ..Default::default()
        });
        u.add_update(status("a", 1));
        u.add_update(status("a", 2));
        let (tasks, updates) = u.for_subscribe();
        assert_eq!((tasks.len(), updates.len()), (1, 2));
        assert!(u.acknowledge(&TaskId::from("a"), &[1; 16]));
        assert!(
            !u.acknowledge(&TaskId::from("a"), &[1; 16]),
            "already acknowledged"
        );
        let (tasks, updates) = u.for_subscribe();
        assert!(tasks.is_empty());
        assert_eq!(updates[0].status.uuid.as_deref(), Some(&[2u8; 16][..]));
        assert!(u.has_updates_for(&TaskId::from("a")));
        assert!(u.acknowledge(&TaskId::from("a"), &[2; 16]));
        assert!(u.is_empty());
    }

    #[test]
    fn an_unknown_uuid_changes_nothing() {
        let mut u = Unacknowledged::default();
        u.add_update(status("a", 1));
        assert!(!u.acknowledge(&TaskId::from("b"), &[1; 16]));
        assert_eq!(u.pending_updates(), 1);
    }
}
