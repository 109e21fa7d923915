//! `mesos-local run`: a master and N agents in one process, like the old
//! `mesos-local`. Each in-process agent has its own HTTP listener (port
//! `agent.port + i`, or an ephemeral one when 0), so `MESOS_AGENT_ENDPOINT`
//! is unambiguous even when two agents run executors with the same id, and
//! its own work directory `<work_dir>/agent-<i>`; agents talk to the master
//! over HTTP exactly as separate agent processes do, sharing one
//! connection pool.
//!
//! `run --masters N --zk zk://...` starts N masters contending in the
//! ZooKeeper group (ports `port .. port+N-1`, work directories
//! `master-<i>`) and agents that follow the leader through the group.
//! A master that loses leadership aborts, as a Mesos master exits; the
//! `mesos-local run` process then restarts it on the same port
//! ([`ClusterHandle::restart_master`]), as a supervisor restarts a Mesos
//! master.

use std::time::Duration;

use tracing::info;

use crate::agent::{self, AgentHandle};
use crate::config::{AgentConfig, ClusterConfig, MasterConfig};
use crate::error::Error;
use crate::master::{self, MasterHandle};

/// A running in-process cluster.
#[derive(Debug)]
pub struct ClusterHandle {
    /// The (first) master.
    pub master: MasterHandle,
    /// Masters 2..N of `--masters N`, in start order.
    pub other_masters: Vec<MasterHandle>,
    /// The agents, in start order.
    pub agents: Vec<AgentHandle>,
    /// Each master's config (restarts use it).
    master_configs: Vec<MasterConfig>,
}

impl ClusterHandle {
    /// The (first) master's `ip:port`.
    pub fn master_endpoint(&self) -> String {
        self.master.endpoint()
    }

    /// Every master, the first one first.
    pub fn masters(&self) -> impl Iterator<Item = &MasterHandle> {
        std::iter::once(&self.master).chain(&self.other_masters)
    }

    /// Master `i` (0: [`Self::master`]).
    pub fn master_at(&self, i: usize) -> Option<&MasterHandle> {
        self.masters().nth(i)
    }

    /// The master that leads, if one does.
    pub fn leader(&self) -> Option<&MasterHandle> {
        self.masters().find(|m| m.is_leading())
    }

    /// Waits until a master aborts (lost leadership): its index and the
    /// reason. Pending forever without ZooKeeper.
    pub async fn master_aborted(&self) -> (usize, String) {
        let waits = self
            .masters()
            .enumerate()
            .map(|(i, m)| Box::pin(async move { (i, m.aborted().await) }));
        futures::future::select_all(waits).await.0
    }

    /// Stops master `i` (if it still runs) and starts it again with its
    /// config, on the port it had: a new master (new id) that contends
    /// again.
    pub async fn restart_master(&mut self, i: usize) -> Result<&MasterHandle, Error> {
        let mut config = self
            .master_configs
            .get(i)
            .cloned()
            .ok_or_else(|| Error::Config(format!("no master {i}")))?;
        let slot = if i == 0 {
            &mut self.master
        } else {
            &mut self.other_masters[i - 1]
        };
        config.port = slot.addr.port();
        config.ip = slot.addr.ip();
        slot.stop().await;
        *slot = master::start(config).await?;
        Ok(slot)
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

    /// Stops the agents (killing their executors), then the masters.
    pub async fn shutdown(self) {
        let ClusterHandle {
            master,
            other_masters,
            agents,
            ..
        } = self;
        futures::future::join_all(agents.into_iter().map(AgentHandle::shutdown)).await;
        futures::future::join_all(
            std::iter::once(master)
                .chain(other_masters)
                .map(MasterHandle::shutdown),
        )
        .await;
    }
}

/// The config of master `i` of `count`.
fn master_config(config: &MasterConfig, i: usize, count: usize) -> MasterConfig {
    let mut master = config.clone();
    if config.port != 0 {
        master.port = config
            .port
            .saturating_add(u16::try_from(i).unwrap_or(u16::MAX));
    }
    if count > 1 {
        master.work_dir = config
            .work_dir
            .as_ref()
            .map(|dir| dir.join(format!("master-{i}")));
    }
    master
}

/// Starts the masters, then the agents.
pub async fn start(config: ClusterConfig) -> Result<ClusterHandle, Error> {
    let count = config.masters.max(1);
    if count > 1 && config.master.zk.is_none() {
        return Err(Error::Config(
            "several masters need --zk (ZooKeeper elects the leader)".into(),
        ));
    }
    let master_configs: Vec<MasterConfig> = (0..count)
        .map(|i| master_config(&config.master, i, count))
        .collect();
    let mut masters = Vec::with_capacity(count);
    for master_config in &master_configs {
        match master::start(master_config.clone()).await {
            Ok(master) => masters.push(master),
            Err(e) => {
                futures::future::join_all(masters.into_iter().map(MasterHandle::shutdown)).await;
                return Err(e);
            }
        }
    }
    let mut masters = masters.into_iter();
    let master = masters
        .next()
        .ok_or_else(|| Error::Config("no master".into()))?;
    let other_masters: Vec<MasterHandle> = masters.collect();
    // Agents follow the leader through ZooKeeper, or use the one master.
    let agent_master = match &config.master.zk {
        Some(zk) => zk.url.to_string(),
        None => master.endpoint(),
    };
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
            master: agent_master.clone(),
            port,
            work_dir: config.agent.work_dir.join(format!("agent-{i}")),
            ..config.agent.clone()
        };
        match agent::start_with_client(agent_config, http.clone()).await {
            Ok(agent) => agents.push(agent),
            Err(e) => {
                let partial = ClusterHandle {
                    master,
                    other_masters,
                    agents,
                    master_configs,
                };
                partial.shutdown().await;
                return Err(e);
            }
        }
    }
    info!(
        master = %master.endpoint(),
        masters = count,
        agents = agents.len(),
        "cluster started"
    );
    Ok(ClusterHandle {
        master,
        other_masters,
        agents,
        master_configs,
    })
}
