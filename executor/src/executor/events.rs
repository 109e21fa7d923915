//! The executor loop's reactions: agent events (LAUNCH, KILL,
//! ACKNOWLEDGED, SHUTDOWN ...), task events (updates to send, tasks over),
//! the idle check and the shutdown that kills every task within the grace
//! period.

use std::time::Duration;

use mesos_proto::v1::executor::{event, Event};
use mesos_proto::v1::framework_info::capability;
use mesos_proto::v1::task_status::Reason;
use mesos_proto::v1::{TaskId, TaskState, TaskStatus};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::{Loop, Outcome, Slot, Step};
use crate::task::{policy_grace, run_task, Kill, TaskEvent};

impl Loop {
    pub(super) fn on_event(&mut self, ev: Event) -> Step {
        use event::Type;
        match ev.r#type() {
            Type::Subscribed => {
                if let Some(s) = ev.subscribed {
                    if let Some(id) = s.agent_info.id {
                        self.agent_id = Some(id);
                    }
                    self.killing_state = s
                        .framework_info
                        .capabilities
                        .iter()
                        .any(|c| c.r#type() == capability::Type::TaskKillingState);
                    debug!(executor = %s.executor_info.executor_id, "SUBSCRIBED");
                }
            }
            Type::Launch => match ev.launch {
                Some(l) => self.launch(l.task),
                None => warn!("LAUNCH without a task"),
            },
            Type::LaunchGroup => {
                for task in ev
                    .launch_group
                    .map(|g| g.task_group.tasks)
                    .unwrap_or_default()
                {
                    let s = self.ctx.reporter.status(
                        &task.task_id,
                        TaskState::TaskFailed,
                        Some(
                            "task groups (LAUNCH_GROUP) are not supported by ovn-mesos-executor"
                                .into(),
                        ),
                        Some(Reason::TaskGroupInvalid),
                    );
                    self.send(s);
                }
            }
            Type::Kill => {
                if let Some(k) = ev.kill {
                    self.kill(&k.task_id, policy_grace(k.kill_policy));
                }
            }
            Type::Acknowledged => {
                if let Some(a) = ev.acknowledged {
                    if !self.unacked.acknowledge(&a.task_id, &a.uuid) {
                        debug!(task = %a.task_id, "acknowledgement of an unknown update");
                    }
                    if self.idle() {
                        return Step::Exit(Outcome::Idle);
                    }
                }
            }
            Type::Message => {
                let len = ev.message.map_or(0, |m| m.data.len());
                info!(bytes = len, "framework message");
            }
            Type::Shutdown => return Step::Exit(Outcome::Shutdown),
            Type::Error => {
                let msg = ev.error.map(|e| e.message).unwrap_or_default();
                return Step::Lost(format!("agent ERROR: {msg}"));
            }
            Type::Heartbeat => debug!("heartbeat"),
            Type::Unknown => debug!("ignoring an unknown event"),
        }
        Step::Go
    }

    fn launch(&mut self, task: mesos_proto::v1::TaskInfo) {
        let id = task.task_id.clone();
        if self.tasks.contains_key(&id) {
            warn!(task = %id, "LAUNCH of a task already known; ignored");
            return;
        }
        info!(task = %id, "LAUNCH");
        self.launched_any = true;
        self.unacked.add_task(task.clone());
        let task_grace = policy_grace(task.kill_policy);
        let (kill, orders) = watch::channel(None);
        let received = std::time::Instant::now();
        let handle = tokio::spawn(run_task(self.ctx.clone(), task, received, orders));
        self.tasks.insert(
            id,
            Slot {
                kill,
                task_grace,
                done: false,
                handle,
            },
        );
    }

    fn kill(&mut self, id: &TaskId, grace: Option<Duration>) {
        let Some(slot) = self.tasks.get(id) else {
            warn!(task = %id, "KILL of an unknown task");
            return;
        };
        let grace = grace
            .or(slot.task_grace)
            .unwrap_or(self.config.mesos.shutdown_grace_period);
        info!(task = %id, ?grace, "KILL");
        slot.kill.send_replace(Some(Kill {
            grace,
            report_killing: self.killing_state,
        }));
    }

    pub(super) fn on_task_event(&mut self, te: TaskEvent) -> Option<Outcome> {
        match te {
            TaskEvent::Status(s) => self.send(*s),
            TaskEvent::Done(id) => {
                if let Some(slot) = self.tasks.get_mut(&id) {
                    slot.done = true;
                }
            }
        }
        self.idle().then_some(Outcome::Idle)
    }

    fn send(&mut self, mut status: TaskStatus) {
        if status.agent_id.is_none() {
            status.agent_id = self.agent_id.clone();
        }
        self.unacked.add_update(status.clone());
        if let Some(outbox) = &self.outbox {
            let _ = outbox.send(status);
        }
    }

    fn idle(&self) -> bool {
        self.config.exit_when_idle
            && self.launched_any
            && self.tasks.values().all(|s| s.done)
            && self.unacked.is_empty()
    }

    /// Kills every running task (half the shutdown grace period
    /// between SIGTERM and SIGKILL) and waits for their terminal updates.
    pub(super) async fn shut_down(&mut self, outcome: Outcome) -> Outcome {
        let grace = self.config.mesos.shutdown_grace_period;
        let running = self.tasks.values().filter(|s| !s.done).count();
        if running > 0 {
            info!(?outcome, running, "killing every task");
        }
        for slot in self.tasks.values().filter(|s| !s.done) {
            slot.kill.send_replace(Some(Kill {
                grace: grace / 2,
                report_killing: self.killing_state,
            }));
        }
        let deadline = Instant::now() + grace * 3 / 4;
        while self.tasks.values().any(|s| !s.done) {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(te)) => {
                    let _ = self.on_task_event(te);
                }
                _ => break,
            }
        }
        for (id, slot) in &self.tasks {
            if !slot.done {
                warn!(task = %id, "task did not end within the grace period");
                slot.handle.abort();
            }
        }
        outcome
    }
}
