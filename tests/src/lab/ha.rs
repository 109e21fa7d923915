//! The lab's HA mode ([`super::LabConfig::ha`]): ZooKeeper in `mesos-master`
//! on 10.10.1.11:2181, started by the ZooKeeper harness
//! ([`crate::zookeeper::ZooKeeper::start_with`]: `ip netns exec
//! mesos-master java ...`, its files in `<dir>/zookeeper`), recorded in the
//! state file with its pid like the other lab processes and stopped by pid
//! at teardown, after the mesos-local masters and agents that use it.

use anyhow::Context;
use tracing::info;

use super::plan::{Host, ZOOKEEPER_PORT};
use super::state::rank;
use super::Lab;
use crate::zookeeper::{Placement, ZooKeeper};

/// The lab's name of the ZooKeeper process (state file, `ovn-mesos-lab
/// status`).
pub const ZOOKEEPER_PROCESS: &str = "mesos-master/zookeeper";

impl Lab {
    /// Starts ZooKeeper in `mesos-master` on 10.10.1.11:2181 and returns
    /// once it serves (`srvr` says `Mode: standalone`).
    pub(super) fn start_zookeeper(&mut self) -> anyhow::Result<()> {
        let placement = Placement {
            address: Some(Host::Master.ip()),
            client_port: Some(ZOOKEEPER_PORT),
            netns: Some(self.netns(Host::Master)),
            dir: Some(self.dir.join("zookeeper")),
        };
        let zk = ZooKeeper::start_with(&placement)?;
        let pid = zk.pid(0).context("ZooKeeper has no pid")?;
        self.state
            .add_process(ZOOKEEPER_PROCESS, pid, rank::ZOOKEEPER, None, &[]);
        self.state.save()?;
        info!(
            pid,
            address = %zk.member_address(0),
            ms = zk.started_in().as_millis() as u64,
            "ZooKeeper serving"
        );
        self.zookeeper = Some(zk);
        Ok(())
    }

    /// The lab's ZooKeeper (HA mode), e.g. for its four-letter words
    /// ([`ZooKeeper::srvr`], sent from inside `mesos-master`) and its logs
    /// ([`ZooKeeper::check_logs`]).
    pub fn zookeeper(&self) -> Option<&ZooKeeper> {
        self.zookeeper.as_ref()
    }

    /// `zk://10.10.1.11:2181<path>` in HA mode, else `None`.
    pub fn zk_url(&self, path: &str) -> Option<String> {
        self.config.zk_url(path)
    }
}
