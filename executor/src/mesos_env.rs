//! The environment a Mesos agent gives an executor (`executorEnvironment()`
//! in the agent): where the agent's executor API is, which framework and
//! executor this is, the sandbox, checkpointing and the timing of shutdown and
//! reconnection. Read once at start into a plain [`MesosEnv`].

use std::path::PathBuf;
use std::time::Duration;

use mesos_proto::v1::{AgentId, ExecutorId, FrameworkId};

use crate::duration::{self, DurationError};

/// `ip:port` of the agent's HTTP API.
pub const AGENT_ENDPOINT: &str = "MESOS_AGENT_ENDPOINT";
pub const FRAMEWORK_ID: &str = "MESOS_FRAMEWORK_ID";
pub const EXECUTOR_ID: &str = "MESOS_EXECUTOR_ID";
/// The agent's id (Mesos still calls it a slave here).
pub const SLAVE_ID: &str = "MESOS_SLAVE_ID";
pub const AGENT_ID: &str = "MESOS_AGENT_ID";
pub const DIRECTORY: &str = "MESOS_DIRECTORY";
pub const SANDBOX: &str = "MESOS_SANDBOX";
/// "1" when the framework checkpoints: the executor survives agent restarts.
pub const CHECKPOINT: &str = "MESOS_CHECKPOINT";
pub const SHUTDOWN_GRACE_PERIOD: &str = "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD";
pub const RECOVERY_TIMEOUT: &str = "MESOS_RECOVERY_TIMEOUT";
pub const SUBSCRIPTION_BACKOFF_MAX: &str = "MESOS_SUBSCRIPTION_BACKOFF_MAX";

/// Mesos' defaults when a variable is absent.
pub const DEFAULT_SHUTDOWN_GRACE_PERIOD: Duration = Duration::from_secs(5);
pub const DEFAULT_RECOVERY_TIMEOUT: Duration = Duration::from_secs(15 * 60);
pub const DEFAULT_SUBSCRIPTION_BACKOFF_MAX: Duration = Duration::from_secs(2);

/// Why the environment is not an executor's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    /// A variable every executor gets is missing or empty (not started by an agent?).
    #[error("{name} is not set; the executor must be started by a Mesos agent")]
    Missing { name: &'static str },
    /// A duration variable is malformed.
    #[error("{name} is not a duration")]
    BadDuration {
        name: &'static str,
        #[source]
        source: DurationError,
    },
}

/// What the agent told the executor through its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MesosEnv {
    /// `host:port` of the agent (`POST http://<endpoint>/api/v1/executor`).
    pub agent_endpoint: String,
    pub framework_id: FrameworkId,
    pub executor_id: ExecutorId,
    /// The agent id, when the agent gives it (it also comes with SUBSCRIBED).
    pub agent_id: Option<AgentId>,
    /// The executor's work directory on the agent.
    pub directory: PathBuf,
    /// The sandbox as tasks see it (equal to `directory` without a container image).
    pub sandbox: PathBuf,
    /// With checkpointing the executor retries a lost connection; without, it exits.
    pub checkpoint: bool,
    pub shutdown_grace_period: Duration,
    /// How long to keep retrying after a disconnection (checkpointing only).
    pub recovery_timeout: Duration,
    /// Upper bound of the resubscription backoff.
    pub subscription_backoff_max: Duration,
}

impl MesosEnv {
    /// Reads the process environment.
    pub fn from_env() -> Result<MesosEnv, EnvError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the variables through `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<MesosEnv, EnvError> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let required = |name: &'static str| get(name).ok_or(EnvError::Missing { name });
        let duration = |name: &'static str, default: Duration| match get(name) {
            None => Ok(default),
            Some(v) => duration::parse(&v).map_err(|source| EnvError::BadDuration { name, source }),
        };
        let directory = PathBuf::from(required(DIRECTORY)?);
        Ok(MesosEnv {
            agent_endpoint: required(AGENT_ENDPOINT)?,
            framework_id: FrameworkId::new(required(FRAMEWORK_ID)?),
            executor_id: ExecutorId::new(required(EXECUTOR_ID)?),
            agent_id: get(AGENT_ID).or_else(|| get(SLAVE_ID)).map(AgentId::new),
            sandbox: get(SANDBOX).map_or_else(|| directory.clone(), PathBuf::from),
            directory,
            checkpoint: get(CHECKPOINT).is_some_and(|v| v.trim() == "1"),
            shutdown_grace_period: duration(SHUTDOWN_GRACE_PERIOD, DEFAULT_SHUTDOWN_GRACE_PERIOD)?,
            recovery_timeout: duration(RECOVERY_TIMEOUT, DEFAULT_RECOVERY_TIMEOUT)?,
            subscription_backoff_max: duration(
                SUBSCRIPTION_BACKOFF_MAX,
                DEFAULT_SUBSCRIPTION_BACKOFF_MAX,
            )?,
        })
    }

    /// `http://<endpoint>/api/v1/executor`.
    pub fn executor_api_url(&self) -> String {
        format!("http://{}/api/v1/executor", self.agent_endpoint)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Result<MesosEnv, EnvError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        MesosEnv::from_lookup(|k| map.get(k).cloned())
    }

    const BASE: [(&str, &str); 4] = [
        (AGENT_ENDPOINT, "127.0.0.1:5051"),
        (FRAMEWORK_ID, "fw-1"),
        (EXECUTOR_ID, "ex-1"),
        (DIRECTORY, "/tmp/sandbox"),
    ];

    #[test]
    fn the_agent_environment_is_read_with_mesos_defaults() {
        let e = env(&BASE).unwrap();
        assert_eq!(
            e.executor_api_url(),
            "http://127.0.0.1:5051/api/v1/executor"
        );
        assert_eq!(e.framework_id.as_str(), "fw-1");
        assert_eq!(e.sandbox, PathBuf::from("/tmp/sandbox"));
        assert!(!e.checkpoint);
        assert_eq!(e.shutdown_grace_period, Duration::from_secs(5));
        assert_eq!(e.agent_id, None);
    }

    #[test]
    fn checkpointing_and_durations_come_from_their_variables() {
        let mut vars = BASE.to_vec();
        vars.extend([
            (CHECKPOINT, "1"),
            (SHUTDOWN_GRACE_PERIOD, "3secs"),
            (RECOVERY_TIMEOUT, "15mins"),
            (SUBSCRIPTION_BACKOFF_MAX, "500ms"),
            (SLAVE_ID, "agent-7"),
        ]);
        let e = env(&vars).unwrap();
        assert!(e.checkpoint);
        assert_eq!(e.shutdown_grace_period, Duration::from_secs(3));
        assert_eq!(e.recovery_timeout, Duration::from_secs(900));
        assert_eq!(e.subscription_backoff_max, Duration::from_millis(500));
        assert_eq!(e.agent_id, Some(AgentId::new("agent-7")));
    }

    #[test]
    fn a_missing_variable_or_bad_duration_is_named() {
        let e = env(&BASE[..3]).unwrap_err();
        assert_eq!(e, EnvError::Missing { name: DIRECTORY });
        let mut vars = BASE.to_vec();
        vars.push((SHUTDOWN_GRACE_PERIOD, "soon"));
        let e = env(&vars).unwrap_err();
        assert_eq!(
            e.to_string(),
            "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD is not a duration"
        );
        let cause = std::error::Error::source(&e).expect("the duration's reason");
        assert!(cause.to_string().contains("soon"), "{cause}");
        vars.pop();
        vars.push((CHECKPOINT, "0"));
        assert!(!env(&vars).unwrap().checkpoint, "\"0\" is off");
    }
}
