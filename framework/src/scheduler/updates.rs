//! Status updates (data flow step 7): the book follows each task's state;
//! an ended task's port and record go (the book schedules its relaunch);
//! an update for a task this framework does not know is a stray: a running
//! one is killed (it has no port), an ended one's port, if any, is deleted.
//! Every update that carries a uuid is acknowledged after it was handled,
//! so a crash in between makes Mesos send it again; the ACKNOWLEDGE calls
//! go out from a background task ([`acknowledge_all`]), a few at a time,
//! so the event loop does not wait for the master's answers.

use std::time::Instant;

use futures::StreamExt;
use mesos_proto::v1::{TaskState, TaskStatus};
use ovn::ports::{list_task_ports, port_name};
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::book::{is_terminal, StatusOutcome};
use super::Scheduler;
use crate::mesos::Caller;

impl Scheduler {
    pub(super) async fn on_update(&mut self, caller: &Caller, status: TaskStatus) {
        let state = status.state();
        self.metrics.status_update(state);
        let now = Instant::now();
        match self.book.on_status(&status, now) {
            StatusOutcome::Unknown => self.stray(caller, &status).await,
            StatusOutcome::Same => {}
            StatusOutcome::Changed { from } => {
                let task = self
                    .book
                    .get(&status.task_id)
                    .expect("a changed task is in the book");
                info!(task = %task.id(), from = from.as_str_name(), to = state.as_str_name(), "task state");
                let record = task.record.clone();
                let backend_changed = task.is_backend()
                    != matches!(from, TaskState::TaskRunning | TaskState::TaskUnknown);
                self.persist(&record);
                self.touch(backend_changed || state == TaskState::TaskRunning);
            }
            StatusOutcome::Ended(task) => {
                info!(
                    task = %task.id(),
                    state = state.as_str_name(),
                    reason = status.reason().as_str_name(),
                    message = status.message.as_deref().unwrap_or(""),
                    "task ended"
                );
                self.drop_port(&task.record.port.name).await;
                if let Err(e) = self.store.queue_removal(task.id()) {
                    warn!(task = %task.id(), error = %e, "cannot remove the task record");
                }
                self.touch(true);
            }
        }
        self.acknowledge(caller, status).await;
    }

    /// Hands an update with a uuid to the acknowledger (inline when there
    /// is none).
    async fn acknowledge(&mut self, caller: &Caller, status: TaskStatus) {
        if status.uuid.is_none() {
            return;
        }
        let status = match &self.acks {
            Some(acks) => match acks.send(status) {
                Ok(()) => return,
                Err(mpsc::error::SendError(status)) => status,
            },
            None => status,
        };
        if let Err(e) = caller.acknowledge(&status).await {
            warn!(task = %status.task_id, error = %e, "ACKNOWLEDGE failed; Mesos will send the update again");
        }
    }

    /// An update for a task that is not in the book.
    async fn stray(&mut self, caller: &Caller, status: &TaskStatus) {
        let task_id = status.task_id.clone();
        let state = status.state();
        if !is_terminal(state) {
            info!(task = %task_id, state = state.as_str_name(), "killing a task this framework does not run");
            if let Err(e) = caller.kill(task_id, status.agent_id.clone()).await {
                warn!(error = %e, "KILL failed");
            }
            return;
        }
        let framework = caller.framework_id().as_str().to_owned();
        let Some(name) = port_name(task_id.as_str()) else {
            return;
        };
        let ours = self.nb.read(|cache| {
            list_task_ports(cache)
                .iter()
                .any(|p| p.name == name && p.framework_id == framework)
        });
        if ours {
            info!(task = %task_id, port = %name, "deleting the port of an ended task");
            self.drop_port(&name).await;
        }
    }
}

/// How many ACKNOWLEDGE calls are in flight at most.
const ACK_CONCURRENCY: usize = 8;

/// Sends the ACKNOWLEDGE of every update queued on `updates` until the
/// queue is closed and drained.
pub(super) async fn acknowledge_all(caller: Caller, updates: mpsc::UnboundedReceiver<TaskStatus>) {
    let updates = futures::stream::unfold(updates, |mut rx| async move {
        rx.recv().await.map(|status| (status, rx))
    });
    updates
        .for_each_concurrent(ACK_CONCURRENCY, |status| {
            let caller = &caller;
            async move {
                if let Err(e) = caller.acknowledge(&status).await {
                    warn!(task = %status.task_id, error = %e, "ACKNOWLEDGE failed; Mesos will send the update again");
                }
            }
        })
        .await;
}
