//! Why the scheduler could not start or had to stop. Problems it can live
//! with (a launch that failed, a VIP it could not write yet, a master that
//! is away) are logged and retried, never returned.

use crate::mesos::MesosError;
use crate::state::StateError;
use crate::tasks::TaskFileError;

/// A reason to stop the scheduler.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// A task file is invalid or names an unknown network; nothing was
    /// launched.
    #[error(transparent)]
    TaskFiles(#[from] TaskFileError),

    /// A stored definition cannot be read (a state dir written by hand?).
    #[error("stored definition refused: {0}")]
    Definitions(String),

    /// The state dir cannot be used (locked by another scheduler, corrupt,
    /// unwritable).
    #[error(transparent)]
    State(#[from] StateError),

    /// Another instance subscribed with the framework id and the master
    /// failed the framework over to it (an HA leader that was deposed:
    /// it must not take the framework back).
    #[error("the Mesos master failed the framework over to another instance")]
    FailedOver,

    /// The master refused the framework for good (e.g. a bad role or
    /// principal); retrying cannot help.
    #[error("Mesos master {master}")]
    Mesos {
        master: String,
        #[source]
        source: MesosError,
    },
}

impl SchedulerError {
    /// Retrying cannot help: a bad task file or stored definition, state
    /// that is corrupt or too new, or the master's refusal. (A standby
    /// that wins the election with it stops instead of leading.)
    pub fn is_config(&self) -> bool {
        match self {
            SchedulerError::TaskFiles(_)
            | SchedulerError::Definitions(_)
            | SchedulerError::Mesos { .. } => true,
            SchedulerError::State(e) => e.is_corrupt(),
            SchedulerError::FailedOver => false,
        }
    }
}
