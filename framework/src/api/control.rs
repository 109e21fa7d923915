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
    /// Read the task files of `--tasks` again (SIGHUP).
    Reload,
    /// Change the definitions; answered once the change is written to the
    /// state dir and handed to the scheduler.
    Definition {
        request: DefinitionRequest,
        reply: oneshot::Sender<Result<DefinitionAnswer, DefinitionRefused>>,
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

/// A change of the definitions asked through the API.
#[derive(Debug)]
pub enum DefinitionRequest {
    /// `POST /v1/definitions` (no id) or `PUT /v1/definitions/{id}`.
    Apply { id: Option<String>, body: Vec<u8> },
    /// `PUT /v1/definitions/{id}/instances`.
    Scale { id: String, instances: u32 },
    /// `DELETE /v1/definitions/{id}`.
    Delete { id: String },
    /// `DELETE /v1/deployments/{id}`: back to the definition it replaced.
    Cancel { id: String },
}

/// The scheduler's answer to a [`DefinitionRequest`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DefinitionAnswer {
    /// The definition's id.
    pub definition: String,
    /// `created`, `updated`, `scaled`, `unchanged`, `deleted` or
    /// `cancelled`.
    pub result: &'static str,
    /// The version in force after the change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The instance count in force after the change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instances: Option<u32>,
    /// The deployment the change started (or, for a cancel, cancelled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
}

/// Why a [`DefinitionRequest`] was refused; nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DefinitionRefused {
    /// A bad body or field, an unknown network (400).
    #[error("{0}")]
    Invalid(String),
    /// No such definition (404).
    #[error("{0}")]
    Unknown(String),
    /// It conflicts with what is in force (409).
    #[error("{0}")]
    Conflict(String),
    /// The state dir could not be written (500).
    #[error("{0}")]
    Store(String),
}
