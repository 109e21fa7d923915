//! The executor's plain configuration (what `main` builds from flags, the
//! Mesos environment and `OVN_MESOS_*` variables; tests build it directly).

use std::path::PathBuf;
use std::time::Duration;

use mesos_proto::Encoding;

use crate::mesos_env::MesosEnv;

/// Default `OVS_RUNDIR` (the local Open_vSwitch database socket lives there).
pub const DEFAULT_OVS_RUNDIR: &str = "/var/run/openvswitch";
/// Default wait for `ovn-installed`.
pub const DEFAULT_INSTALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Default bound of one OVSDB connection attempt.
pub const DEFAULT_OVSDB_TIMEOUT: Duration = Duration::from_secs(5);

/// Everything the executor needs to run.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    pub mesos: MesosEnv,
    /// Encoding of calls and events (protobuf by default).
    pub encoding: Encoding,
    /// The local Open_vSwitch database (`unix:$OVS_RUNDIR/db.sock`).
    pub ovs_db: String,
    /// The namespace in which veth host ends are created (where
    /// ovs-vswitchd runs); None = the executor's own.
    pub host_netns: Option<String>,
    /// How long to wait for ovn-controller's `ovn-installed`.
    pub install_timeout: Duration,
    /// Bound of one OVSDB connection attempt.
    pub ovsdb_timeout: Duration,
    /// Exit once every task is over and every update acknowledged (one task
    /// per executor, like the Mesos command executor); otherwise stay until
    /// SHUTDOWN.
    pub exit_when_idle: bool,
    /// This executor's binary, spawned as the `exec-in-netns` helper.
    pub helper: PathBuf,
}

/// `unix:<OVS_RUNDIR or /var/run/openvswitch>/db.sock`.
pub fn default_ovs_db(ovs_rundir: Option<&str>) -> String {
    let dir = ovs_rundir
        .filter(|d| !d.trim().is_empty())
        .unwrap_or(DEFAULT_OVS_RUNDIR);
    format!("unix:{}/db.sock", dir.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ovs_socket_follows_ovs_rundir() {
        assert_eq!(default_ovs_db(None), "unix:/var/run/openvswitch/db.sock");
        assert_eq!(default_ovs_db(Some("/tmp/x/")), "unix:/tmp/x/db.sock");
        assert_eq!(
            default_ovs_db(Some("")),
            "unix:/var/run/openvswitch/db.sock"
        );
    }
}
