//! `mesos-local run`: a master and N agents in one process, like the old
//! `mesos-local`. Each in-process agent has its own HTTP listener (port
//! `agent.port + i`, or an ephemeral one when 0), so `MESOS_AGENT_ENDPOINT`
//! is unambiguous even when two agents run executors with the same id, and
//! its own work directory `<work_dir>/agent-<i>`; agents talk to the master
//! over HTTP exactly as separate agent processes do, sharing one
//! connection pool.

use std::time::Duration;

use tracing::info;

use crate::agent::{self, AgentHandle};
use crate::config::{AgentConfig, ClusterConfig};
use crate::error::Error;
use crate::master::{self, MasterHandle};

/// A running in-process cluster.
#[derive(Debug)]
pub struct ClusterHandle {
    /// The master.
    pub master: MasterHandle,
    /// The agents, in start order.
    pub agents: Vec<AgentHandle>,
}

impl ClusterHandle {
    /// The master's `ip:port`.
    pub fn master_endpoint(&self) -> String {
        self.master.endpoint()
    }

    /// Waits until every agent is registered; false on timeout.
    pub async fn wait_agents_registered(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        for agent in &self.agents {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if agent.wait_registered(left).await.is_none() {
                return false;
            }
        }
        true
    }

    /// Stops the agents (killing their executors), then the master.
    pub async fn shutdown(self) {
        let ClusterHandle { master, agents } = self;
        futures::future::join_all(agents.into_iter().map(AgentHandle::shutdown)).await;
        master.shutdown().await;
    }
}

/// Starts the master, then the agents.
pub async fn start(config: ClusterConfig) -> Result<ClusterHandle, Error> {
    let master = master::start(config.master.clone()).await?;
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .build()
        .map_err(|e| Error::Client(e.to_string()))?;
    let mut agents = Vec::with_capacity(config.agents);
    for i in 0..config.agents {
        let port = match config.agent.port {
            0 => 0,
            base => base.saturating_add(u16::try_from(i).unwrap_or(u16::MAX)),
        };
        let agent_config = AgentConfig {
            master: master.endpoint(),
            port,
            work_dir: config.agent.work_dir.join(format!("agent-{i}")),
            ..config.agent.clone()
        };
        match agent::start_with_client(agent_config, http.clone()).await {
            Ok(agent) => agents.push(agent),
            Err(e) => {
                let partial = ClusterHandle { master, agents };
                partial.shutdown().await;
                return Err(e);
            }
        }
    }
    info!(master = %master.endpoint(), agents = agents.len(), "cluster started");
    Ok(ClusterHandle { master, agents })
}
