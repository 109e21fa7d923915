//! The environment of an executor, as `executorEnvironment()` in Mesos'
//! `slave.cpp` builds it: a base (only `PATH`, or
//! `--executor_environment_variables`), `LIBPROCESS_IP` passed through,
//! the `MESOS_*` variables, then the `CommandInfo.environment` variables.
//! The agent's own environment is not inherited.

use std::collections::BTreeMap;
use std::path::Path;

use mesos_proto::v1::{environment::variable, CommandInfo, ExecutorInfo, FrameworkInfo};
use tracing::warn;

use crate::config::AgentConfig;
use crate::duration;

/// `os::host_default_path()`.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// `MESOS_SUBSCRIPTION_BACKOFF_MAX` given to checkpointing executors.
const SUBSCRIPTION_BACKOFF_MAX: &str = "2secs";

/// The facts the environment is built from.
#[derive(Debug)]
pub(crate) struct EnvFacts<'a> {
    pub config: &'a AgentConfig,
    /// `ip:port` of the agent.
    pub endpoint: &'a str,
    pub agent_id: &'a str,
    pub framework: &'a FrameworkInfo,
    pub executor: &'a ExecutorInfo,
    pub directory: &'a Path,
}

/// Adds `CommandInfo.environment` variables (VALUE, and SECRET given by
/// value; secret references cannot be resolved here and are skipped).
pub(crate) fn add_command_environment(
    env: &mut BTreeMap<String, String>,
    command: Option<&CommandInfo>,
) {
    let variables = command
        .and_then(|c| c.environment.as_ref())
        .map(|e| e.variables.as_slice())
        .unwrap_or_default();
    for var in variables {
        match var.r#type() {
            variable::Type::Secret => {
                let value = var
                    .secret
                    .as_ref()
                    .and_then(|s| s.value.as_ref())
                    .map(|v| String::from_utf8_lossy(&v.data).into_owned());
                match value {
                    Some(value) => {
                        env.insert(var.name.clone(), value);
                    }
                    None => {
                        warn!(name = %var.name, "secret reference in environment cannot be resolved; skipped")
                    }
                }
            }
            _ => {
                env.insert(var.name.clone(), var.value.clone().unwrap_or_default());
            }
        }
    }
}

/// The executor's full environment.
pub(crate) fn executor_environment(facts: &EnvFacts<'_>) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    if let Ok(ip) = std::env::var("LIBPROCESS_IP") {
        env.insert("LIBPROCESS_IP".into(), ip);
    }
    match &facts.config.executor_environment {
        Some(vars) => env.extend(vars.clone()),
        None => {
            env.entry("PATH".into())
                .or_insert_with(|| DEFAULT_PATH.into());
        }
    }
    env.insert("LIBPROCESS_PORT".into(), "0".into());
    let directory = facts.directory.display().to_string();
    let checkpoint = facts.framework.checkpoint();
    let grace = facts
        .executor
        .shutdown_grace_period
        .as_ref()
        .map(|d| std::time::Duration::from_nanos(d.nanoseconds.max(0) as u64))
        .unwrap_or(facts.config.executor_shutdown_grace_period);
    let framework_id = facts
        .executor
        .framework_id
        .clone()
        .or_else(|| facts.framework.id.clone())
        .unwrap_or_default();
    let pairs = [
        ("MESOS_FRAMEWORK_ID", framework_id.value),
        (
            "MESOS_EXECUTOR_ID",
            facts.executor.executor_id.value.clone(),
        ),
        ("MESOS_DIRECTORY", directory.clone()),
        ("MESOS_SANDBOX", directory),
        ("MESOS_SLAVE_ID", facts.agent_id.to_string()),
        ("MESOS_SLAVE_PID", format!("slave(1)@{}", facts.endpoint)),
        ("MESOS_AGENT_ENDPOINT", facts.endpoint.to_string()),
        (
            "MESOS_CHECKPOINT",
            if checkpoint { "1" } else { "0" }.to_string(),
        ),
        ("MESOS_HTTP_COMMAND_EXECUTOR", "0".to_string()),
        (
            "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD",
            duration::format(grace),
        ),
    ];
    for (name, value) in pairs {
        env.insert(name.into(), value);
    }
    if checkpoint {
        env.insert(
            "MESOS_RECOVERY_TIMEOUT".into(),
            duration::format(facts.config.recovery_timeout),
        );
        env.insert(
            "MESOS_SUBSCRIPTION_BACKOFF_MAX".into(),
            SUBSCRIPTION_BACKOFF_MAX.into(),
        );
    }
    add_command_environment(&mut env, facts.executor.command.as_ref());
    env
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use mesos_proto::v1::{environment, Environment};

    use super::*;

    fn facts_env(checkpoint: bool, config: &AgentConfig) -> BTreeMap<String, String> {
        let framework = FrameworkInfo {
            id: Some("f1".into()),
            checkpoint: Some(checkpoint),
            ..Default::default()
        };
        let executor = ExecutorInfo {
            executor_id: "e1".into(),
            command: Some(CommandInfo {
                value: Some("run".into()),
                environment: Some(Environment {
                    variables: vec![environment::Variable {
                        name: "APP".into(),
                        value: Some("web".into()),
                        ..Default::default()
                    }],
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let dir = PathBuf::from("/sandbox");
        executor_environment(&EnvFacts {
            config,
            endpoint: "10.0.0.2:5051",
            agent_id: "a1",
            framework: &framework,
            executor: &executor,
            directory: &dir,
        })
    }

    #[test]
    fn the_mesos_variables_are_set() {
        let env = facts_env(false, &AgentConfig::default());
        assert_eq!(env["MESOS_AGENT_ENDPOINT"], "10.0.0.2:5051");
        assert_eq!(env["MESOS_FRAMEWORK_ID"], "f1");
        assert_eq!(env["MESOS_EXECUTOR_ID"], "e1");
        assert_eq!(env["MESOS_DIRECTORY"], "/sandbox");
        assert_eq!(env["MESOS_SANDBOX"], "/sandbox");
        assert_eq!(env["MESOS_SLAVE_ID"], "a1");
        assert_eq!(env["MESOS_SLAVE_PID"], "slave(1)@10.0.0.2:5051");
        assert_eq!(env["MESOS_CHECKPOINT"], "0");
        assert_eq!(env["MESOS_HTTP_COMMAND_EXECUTOR"], "0");
        assert_eq!(env["MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"], "5secs");
        assert_eq!(env["PATH"], DEFAULT_PATH);
        assert_eq!(env["APP"], "web");
        assert!(!env.contains_key("MESOS_RECOVERY_TIMEOUT"));
    }

    #[test]
    fn checkpointing_adds_recovery_variables() {
        let env = facts_env(true, &AgentConfig::default());
        assert_eq!(env["MESOS_CHECKPOINT"], "1");
        assert_eq!(env["MESOS_RECOVERY_TIMEOUT"], "15mins");
        assert_eq!(env["MESOS_SUBSCRIPTION_BACKOFF_MAX"], "2secs");
    }

    #[test]
    fn the_environment_flag_replaces_the_default_path() {
        let config = AgentConfig {
            executor_environment: Some(BTreeMap::from([("PATH".into(), "/opt/bin".into())])),
            ..AgentConfig::default()
        };
        assert_eq!(facts_env(false, &config)["PATH"], "/opt/bin");
    }
}
