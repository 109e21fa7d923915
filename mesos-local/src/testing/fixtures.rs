//! Builders for tests: a cluster config with short timings, framework
//! infos, command tasks and tasks on the test executor.

use std::path::Path;
use std::time::Duration;

use mesos_proto::v1::{executor_info, CommandInfo, ExecutorInfo, FrameworkInfo, TaskInfo};

use crate::config::{AgentConfig, ClusterConfig, MasterConfig};
use crate::resources::Resources;

/// Resources of every test agent.
pub const TEST_RESOURCES: &str = "cpus:4;mem:4096;disk:4096;ports:[31000-32000]";

/// A cluster on 127.0.0.1 with ephemeral ports, agents under `work_dir`,
/// allocation every 50 ms, and otherwise Mesos' defaults.
pub fn fast_cluster_config(work_dir: &Path, agents: usize) -> ClusterConfig {
    ClusterConfig {
        master: MasterConfig {
            port: 0,
            allocation_interval: Duration::from_millis(50),
            ..MasterConfig::default()
        },
        agent: AgentConfig {
            port: 0,
            work_dir: work_dir.to_path_buf(),
            resources: Some(TEST_RESOURCES.to_string()),
            ..AgentConfig::default()
        },
        agents,
        masters: 1,
    }
}

/// A framework info with a one-hour failover timeout, run as the current
/// user.
pub fn framework_info(name: &str) -> FrameworkInfo {
    FrameworkInfo {
        user: std::env::var("USER").unwrap_or_else(|_| "root".into()),
        name: name.to_string(),
        failover_timeout: Some(3600.0),
        ..Default::default()
    }
}

/// A command task (`sh -c command`) using `resources` on `agent_id`.
pub fn command_task(id: &str, agent_id: &str, command: &str, resources: &str) -> TaskInfo {
    TaskInfo {
        name: id.to_string(),
        task_id: id.into(),
        agent_id: agent_id.into(),
        resources: Resources::parse(resources)
            .map(|r| r.to_protos(None))
            .unwrap_or_default(),
        command: Some(CommandInfo {
            value: Some(command.to_string()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The ExecutorInfo of `mesos-local test-executor` from `binary`.
pub fn test_executor_info(binary: &Path, executor_id: &str) -> ExecutorInfo {
    ExecutorInfo {
        r#type: Some(executor_info::Type::Custom as i32),
        executor_id: executor_id.into(),
        command: Some(CommandInfo {
            value: Some(format!("{} test-executor", binary.display())),
            ..Default::default()
        }),
        resources: Resources::parse("cpus:0.1;mem:32")
            .map(|r| r.to_protos(None))
            .unwrap_or_default(),
        ..Default::default()
    }
}

/// A task for the test executor; `data` tells it what to do (`finish`,
/// `fail`, `exit:N`, `updates:N`, anything else: keep running).
pub fn executor_task(id: &str, agent_id: &str, executor: &ExecutorInfo, data: &str) -> TaskInfo {
    TaskInfo {
        name: id.to_string(),
        task_id: id.into(),
        agent_id: agent_id.into(),
        resources: Resources::parse("cpus:0.1;mem:32")
            .map(|r| r.to_protos(None))
            .unwrap_or_default(),
        executor: Some(executor.clone()),
        data: Some(data.as_bytes().to_vec()),
        ..Default::default()
    }
}
