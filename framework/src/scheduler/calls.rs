//! The master calls of one subscription, sent by workers so the event loop
//! never waits for the master: [`Calls`] sends KILL, REVIVE, SUPPRESS and
//! RECONCILE one at a time in the order the core asked for them, and
//! reports failures back as inputs; [`Acknowledger`] sends the
//! ACKNOWLEDGE of every handled update, a few at a time.

use std::time::Duration;

use futures::StreamExt;
use mesos_proto::v1::TaskStatus;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::warn;

use super::core::{Input, MasterCall, OfferCall};
use crate::api::KillRefused;
use crate::mesos::Caller;
use ovn::report::Chain;

/// How many ACKNOWLEDGE calls are in flight at most.
const ACK_CONCURRENCY: usize = 8;
/// How long a graceful stop waits for queued acknowledgements.
const ACK_DRAIN: Duration = Duration::from_secs(2);

/// The sender of KILL, REVIVE, SUPPRESS and RECONCILE calls.
#[derive(Debug)]
pub(super) struct Calls {
    tx: mpsc::UnboundedSender<MasterCall>,
    task: JoinHandle<()>,
}

impl Calls {
    pub(super) fn start(caller: Caller, inputs: mpsc::UnboundedSender<Input>) -> Calls {
        let (tx, rx) = mpsc::unbounded_channel();
        Calls {
            tx,
            task: tokio::spawn(run(caller, rx, inputs)),
        }
    }

    /// Queues a call.
    pub(super) fn send(&self, call: MasterCall) {
        if let Err(mpsc::error::SendError(call)) = self.tx.send(call) {
            refuse(call);
        }
    }

    /// Drops what is queued: the subscription is gone.
    pub(super) fn stop(self) {
        self.task.abort();
    }
}

/// Answers a call that can no longer be sent.
pub(super) fn refuse(call: MasterCall) {
    if let MasterCall::Kill {
        reply: Some(reply), ..
    } = call
    {
        let _ = reply.send(Err(KillRefused::NotConnected));
    }
}

async fn run(
    caller: Caller,
    mut rx: mpsc::UnboundedReceiver<MasterCall>,
    inputs: mpsc::UnboundedSender<Input>,
) {
    while let Some(call) = rx.recv().await {
        match call {
            MasterCall::Kill { task, agent, reply } => {
                let result = caller.kill(task.clone(), agent).await;
                if let Err(e) = &result {
                    warn!(task = %task, error = %Chain(e), "KILL failed");
                    let _ = inputs.send(Input::KillFailed(task.clone()));
                }
                if let Some(reply) = reply {
                    let _ = reply.send(result.map_err(|e| KillRefused::Mesos {
                        task: task.as_str().to_owned(),
                        reason: Chain(&e).to_string(),
                    }));
                }
            }
            MasterCall::Revive => {
                if let Err(e) = caller.revive().await {
                    warn!(error = %Chain(&e), "REVIVE failed");
                    let _ = inputs.send(Input::CallFailed(OfferCall::Revive));
                }
            }
            MasterCall::Suppress => {
                if let Err(e) = caller.suppress().await {
                    warn!(error = %Chain(&e), "SUPPRESS failed");
                    let _ = inputs.send(Input::CallFailed(OfferCall::Suppress));
                }
            }
            MasterCall::Reconcile(tasks) => {
                let implicit = tasks.is_empty();
                if let Err(e) = caller.reconcile(tasks).await {
                    let kind = if implicit { "implicit" } else { "explicit" };
                    warn!(kind, error = %Chain(&e), "RECONCILE failed");
                }
            }
        }
    }
}

/// The ACKNOWLEDGE sender of one subscription.
#[derive(Debug)]
pub(super) struct Acknowledger {
    tx: mpsc::UnboundedSender<TaskStatus>,
    task: JoinHandle<()>,
}

impl Acknowledger {
    pub(super) fn start(caller: Caller) -> Acknowledger {
        let (tx, rx) = mpsc::unbounded_channel();
        Acknowledger {
            tx,
            task: tokio::spawn(acknowledge_all(caller, rx)),
        }
    }

    pub(super) fn send(&self, status: TaskStatus) {
        // A gone acknowledger means a gone stream: Mesos sends the update
        // again.
        let _ = self.tx.send(status);
    }

    /// A graceful stop: sends what is queued, for a short while.
    pub(super) async fn drain(self) {
        drop(self.tx);
        if tokio::time::timeout(ACK_DRAIN, self.task).await.is_err() {
            warn!("acknowledgements still unanswered at shutdown; Mesos sends those updates again");
        }
    }

    /// A dead stream: its acknowledgements are not waited for (Mesos sends
    /// those updates again).
    pub(super) fn abort(self) {
        self.task.abort();
    }
}

/// Sends the ACKNOWLEDGE of every update queued on `updates` until the
/// queue is closed and drained.
async fn acknowledge_all(caller: Caller, updates: mpsc::UnboundedReceiver<TaskStatus>) {
    let updates = futures::stream::unfold(updates, |mut rx| async move {
        rx.recv().await.map(|status| (status, rx))
    });
    updates
        .for_each_concurrent(ACK_CONCURRENCY, |status| {
            let caller = &caller;
            async move {
                if let Err(e) = caller.acknowledge(&status).await {
                    warn!(task = %status.task_id, error = %Chain(&e), "ACKNOWLEDGE failed; Mesos will send the update again");
                }
            }
        })
        .await;
}
