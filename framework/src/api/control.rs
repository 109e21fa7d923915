//! Requests from the API to the scheduler: the API's handlers only read
//! snapshots, except `DELETE /v1/tasks/{id}`, which asks the scheduler's
//! event loop to kill a task and waits for its answer.

use tokio::sync::{mpsc, oneshot};

/// A request to the scheduler, answered on its `reply` channel.
#[derive(Debug)]
pub enum Command {
    /// Kill one task (the restart policy does not count it as a failure:
    /// a replacement is launched at once, like Marathon's task kill).
    Kill {
        task_id: String,
        reply: oneshot::Sender<Result<(), KillRefused>>,
    },
}

/// Why a kill was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KillRefused {
    /// No task of this framework has the id.
    #[error("no task {0}")]
    UnknownTask(String),
    /// The framework is not subscribed to a master.
    #[error("not subscribed to a Mesos master; try again")]
    NotConnected,
    /// The master refused or did not answer the KILL call.
    #[error("KILL of task {task} failed: {reason}")]
    Mesos { task: String, reason: String },
}

/// The sending end the API holds.
pub type Commands = mpsc::Sender<Command>;
