//! Status updates (data flow step 7): the book follows each task's state
//! and, for a task with a health check, its health (a backend only while
//! healthy);
//! an ended task's port and record go (the book schedules its relaunch);
//! an update for a task this framework does not know is a stray: a running
//! one is killed (it has no port), an ended one's port, if this framework
//! owns one, is deleted. Every update that carries a uuid is acknowledged
//! after it was handled, so a crash in between makes Mesos send it again.

use std::time::Instant;

use mesos_proto::v1::{TaskState, TaskStatus};
use ovn::ports::port_name;
use tracing::info;

use super::{Core, Effect, MasterCall};
use crate::scheduler::book::StatusOutcome;

impl Core {
    pub(super) fn on_update(&mut self, status: TaskStatus, now: Instant) {
        let state = status.state();
        match self.book.on_status(&status, now) {
            StatusOutcome::Unknown => {
                if !self.book.is_launching(&status.task_id) {
                    self.stray(&status);
                }
            }
            StatusOutcome::Same => {}
            StatusOutcome::Health { healthy } => {
                info!(
                    task = %status.task_id,
                    healthy,
                    message = status.message.as_deref().unwrap_or(""),
                    "task health"
                );
                if let Some(task) = self.book.get(&status.task_id) {
                    self.out.push(Effect::WriteRecord(task.record.clone()));
                    let event = super::events::status("health_changed", task, &status);
                    self.out.push(Effect::Event(event));
                }
                self.touch(true, now);
            }
            StatusOutcome::Changed { from } => {
                let task = self
                    .book
                    .get(&status.task_id)
                    .expect("a changed task is in the book");
                info!(task = %task.id(), from = from.as_str_name(), to = state.as_str_name(), "task state");
                let backend_changed = task.is_backend()
                    != matches!(from, TaskState::TaskRunning | TaskState::TaskUnknown)
                    || task.is_checked();
                self.out.push(Effect::WriteRecord(task.record.clone()));
                let event = super::events::status("status_update", task, &status);
                self.out.push(Effect::Event(event));
                self.touch(backend_changed || state == TaskState::TaskRunning, now);
            }
            StatusOutcome::Ended(task) => {
                info!(
                    task = %task.id(),
                    state = state.as_str_name(),
                    reason = status.reason().as_str_name(),
                    message = status.message.as_deref().unwrap_or(""),
                    "task ended"
                );
                self.out
                    .push(Effect::DeletePort(task.record.port.name.clone()));
                self.out.push(Effect::RemoveRecord(task.id().clone()));
                let event = super::events::status("status_update", &task, &status);
                self.out.push(Effect::Event(event));
                self.touch(true, now);
            }
        }
        if status.uuid.is_some() {
            self.out.push(Effect::Acknowledge(status));
        }
    }

    /// An update for a task that is not in the book.
    fn stray(&mut self, status: &TaskStatus) {
        let task = status.task_id.clone();
        let state = status.state();
        if !state.is_terminal() {
            if self.connected {
                info!(task = %task, state = state.as_str_name(), "killing a task this framework does not run");
                self.out.push(Effect::Call(MasterCall::Kill {
                    task,
                    agent: status.agent_id.clone(),
                    reply: None,
                }));
            }
            return;
        }
        let (Some(port), Some(framework)) = (port_name(task.as_str()), self.framework_id.clone())
        else {
            return;
        };
        self.out.push(Effect::DeleteStrayPort { port, framework });
    }
}
