//! A task's network, end to end: the namespace, the task's resolv.conf
//! when its attachment has DNS labels ([`crate::resolv`]), the veth pair
//! configured inside the namespace, the OVS port bound to the logical switch
//! port, and the wait for ovn-controller. [`Plumber::setup`] either returns
//! a ready network or removes everything it created before reporting the
//! error; [`Plumber::teardown`] removes port, veth, namespace and
//! resolv.conf, whatever is left.
//!
//! The equivalent commands (the original CNI plugin's steps), in this order;
//! the container side runs while ovn-controller binds the port:
//! ```text
//! ip netns add <ns>
//! ip link add <veth> mtu <mtu> up type veth peer name eth0 address <mac> mtu <mtu> netns <ns>
//! ovs-vsctl add-port br-int <veth> -- set Interface <veth> external_ids:iface-id=<lsp> ...
//! ( ip netns exec <ns> ethtool -K eth0 tx off; ip -n <ns> link set lo up
//!   ip -n <ns> addr add <ip>/<len> dev eth0; ip -n <ns> link set eth0 up
//!   ip -n <ns> route add default via <gw> ) &
//! ovs-vsctl wait-until Interface <veth> external_ids:ovn-installed=true; wait
//! ```

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mesos_proto::v1::{FrameworkId, TaskId};
use nix::sys::signal::{kill, Signal};
use tracing::{debug, info, warn};

use crate::attachment::{Attachment, Dns};
use crate::ethtool;
use crate::gc::owner_alias;
use crate::names::{TaskNames, CONTAINER_IFACE};
use crate::netlink::{LinkError, Netlink, VethSpec};
use crate::netns::{self, NetnsError};
use crate::ovs::{task_owner, OvsError, OvsPorts, PortSpec};
use crate::ovs_session::OvsSession;
use crate::proc_info::Me;
use crate::resolv::{self, ResolvConf, Servers, HOST_RESOLV_CONF, RESOLVED_RESOLV_CONF, RUN_DIR};
use ovn::report::Chain;

/// Why a task's network could not be set up (everything created was removed).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Netns(#[from] NetnsError),
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error(transparent)]
    Ovs(#[from] OvsError),
    /// `ethtool -K eth0 tx off` failed inside the namespace.
    #[error("cannot turn tx checksum offload off on {CONTAINER_IFACE}: {0}")]
    Offload(#[source] std::io::Error),
    /// The setup was called off (the task was killed) while waiting for OVN.
    #[error("network setup cancelled")]
    Cancelled,
    /// The task's resolv.conf (or its directory) could not be written or
    /// removed.
    #[error("cannot {action} {}", path.display())]
    TaskFile {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Inside the namespace: tx checksum offload off on `eth0` (`ethtool -K eth0
/// tx off`), `lo` up, the address, `eth0` up, the default route.
async fn configure_inside(netns: &str, a: &Attachment) -> Result<(), SetupError> {
    let (inside, offload) =
        Netlink::in_netns_with(netns, || ethtool::set_tx_checksum(CONTAINER_IFACE, false)).await?;
    offload.map_err(SetupError::Offload)?;
    inside.set_up("lo").await?;
    inside
        .add_address(CONTAINER_IFACE, a.ip, a.prefix_len)
        .await?;
    inside.set_up(CONTAINER_IFACE).await?;
    if let Some(gw) = a.gateway {
        inside.add_default_route(gw).await?;
    }
    Ok(())
}

/// What a ready task network is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskNetwork {
    pub names: TaskNames,
    pub attachment: Attachment,
}

/// Sets up and tears down task networks on this host.
#[derive(Debug)]
pub struct Plumber {
    /// Netlink in the namespace where ovs-vswitchd runs (veth host ends go there).
    host: Netlink,
    ovs: OvsSession,
    framework: FrameworkId,
    install_timeout: Duration,
    me: Me,
    /// Where the tasks' resolv.conf files go ([`RUN_DIR`]).
    run_dir: PathBuf,
}

impl Plumber {
    pub fn new(
        host: Netlink,
        ovs: OvsSession,
        framework: FrameworkId,
        install_timeout: Duration,
    ) -> Plumber {
        Plumber {
            host,
            ovs,
            framework,
            install_timeout,
            me: Me::current(),
            run_dir: PathBuf::from(RUN_DIR),
        }
    }

    /// Where the tasks' resolv.conf files go.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// The resolv.conf [`Plumber::setup`] writes for a task with
    /// `attachment` whose names are `names`; None when the attachment has
    /// no DNS labels (the task keeps the host's `/etc/resolv.conf`).
    pub fn resolv_conf(&self, names: &TaskNames, attachment: &Attachment) -> Option<PathBuf> {
        attachment
            .dns
            .as_ref()
            .map(|_| resolv::path_of(&self.run_dir, &names.netns))
    }

    /// The names `task`'s namespace and veth get.
    pub fn names(&self, task: &TaskId) -> TaskNames {
        TaskNames::new(self.framework.as_str(), task.as_str())
    }

    /// The OVSDB session (shared with garbage collection).
    pub fn ovs(&self) -> &OvsSession {
        &self.ovs
    }

    /// The netlink connection of the host namespace.
    pub fn host(&self) -> &Netlink {
        &self.host
    }

    /// Creates the task's network and waits until OVN has installed its port.
    /// `cancel` completing during the wait ends it with
    /// [`SetupError::Cancelled`]. On error, whatever was created is removed
    /// before returning.
    pub async fn setup(
        &self,
        task: &TaskId,
        attachment: &Attachment,
        cancel: impl Future<Output = ()>,
    ) -> Result<TaskNetwork, SetupError> {
        let names = self.names(task);
        let started = Instant::now();
        // Checks that create nothing come first.
        let ovs = self.ovs.get().await?;
        ovs.require_bridge(&attachment.bridge)?;
        netns::create(&names.netns).await?;
        debug!(netns = %names.netns, elapsed_us = started.elapsed().as_micros() as u64, "namespace created");
        match self.plumb(&ovs, task, &names, attachment, cancel).await {
            Ok(()) => {
                info!(task = %task, netns = %names.netns, port = %names.host_veth, ip = %attachment.ip, "network ready");
                Ok(TaskNetwork {
                    names,
                    attachment: attachment.clone(),
                })
            }
            Err(e) => {
                warn!(task = %task, error = %Chain(&e), "network setup failed; removing what was created");
                if let Err(t) = self.teardown(&names).await {
                    warn!(task = %task, error = %Chain(&t), "cleanup after a failed setup incomplete");
                }
                Err(e)
            }
        }
    }

    /// The veth pair first (the device must exist for ovs-vswitchd), then the
    /// OVS port; while ovn-controller binds it, the container side is
    /// configured (the two overlap).
    async fn plumb(
        &self,
        ovs: &OvsPorts,
        task: &TaskId,
        names: &TaskNames,
        a: &Attachment,
        cancel: impl Future<Output = ()>,
    ) -> Result<(), SetupError> {
        if let Some(dns) = &a.dns {
            self.write_resolv_conf(task, names, dns, a.gateway)
                .map_err(|source| SetupError::TaskFile {
                    action: "write the task's resolv.conf",
                    path: resolv::path_of(&self.run_dir, &names.netns),
                    source,
                })?;
        }
        let spec = VethSpec {
            host: names.host_veth.clone(),
            peer: CONTAINER_IFACE.to_owned(),
            mac: a.mac,
            mtu: a.mtu,
        };
        let t0 = Instant::now();
        let file = netns::open(&names.netns)?;
        self.host.add_veth(&spec, &file).await?;
        drop(file);
        // Until the OVS port records the owner, the veth's alias does (see gc).
        self.host
            .set_alias(&names.host_veth, &owner_alias(self.me, &names.netns))
            .await?;
        let t1 = Instant::now();
        let port = PortSpec {
            name: names.host_veth.clone(),
            bridge: a.bridge.clone(),
            logical_port: a.logical_port.clone(),
            mac: a.mac.to_string(),
            owner: task_owner(
                self.framework.as_str(),
                task.as_str(),
                &names.netns,
                self.me.pid,
                self.me.start_time,
            ),
        };
        ovs.add_port(&port).await?;
        let t2 = Instant::now();
        let inside = async {
            let r = configure_inside(&names.netns, a).await;
            (r, t2.elapsed())
        };
        let installed = async {
            let r = ovs
                .wait_installed(&names.host_veth, &a.logical_port, self.install_timeout)
                .await;
            (r, t2.elapsed())
        };
        // Only the waits are raced against `cancel`: every request that
        // creates something has completed, so teardown sees all of it.
        let ((inside, inside_took), (installed, installed_took)) = tokio::select! {
            both = async { tokio::join!(inside, installed) } => both,
            () = cancel => return Err(SetupError::Cancelled),
        };
        inside?;
        installed?;
        debug!(
            veth_us = (t1 - t0).as_micros() as u64,
            add_port_us = (t2 - t1).as_micros() as u64,
            inside_us = inside_took.as_micros() as u64,
            installed_us = installed_took.as_micros() as u64,
            "network plumbed"
        );
        Ok(())
    }

    /// Writes the task's resolv.conf (after its namespace exists, so garbage
    /// collection never takes it for a leftover): nameservers as
    /// [`crate::resolv`] says, with a warning when only the gateway or
    /// nothing is left, or some are left out.
    fn write_resolv_conf(
        &self,
        task: &TaskId,
        names: &TaskNames,
        dns: &Dns,
        gateway: Option<std::net::Ipv4Addr>,
    ) -> std::io::Result<()> {
        let read = |path: &str| match std::fs::read_to_string(path) {
            Ok(text) => Some(text),
            Err(e) => {
                debug!(path, error = %e, "cannot read a resolv.conf of the host");
                None
            }
        };
        let host = resolv::host_text(read(HOST_RESOLV_CONF), read(RESOLVED_RESOLV_CONF));
        let conf = ResolvConf::new(dns, host.as_deref(), gateway);
        let path = resolv::write(&self.run_dir, &names.netns, &conf)?;
        let servers: Vec<String> = conf.nameservers.iter().map(|s| s.to_string()).collect();
        let (path, search) = (path.display(), conf.search.join(" "));
        match conf.from {
            Servers::Gateway => warn!(
                task = %task, %path, host_resolv_conf = HOST_RESOLV_CONF, gateway = %servers.join(","),
                "the host's resolv.conf has no nameserver a task can reach (IPv4, not loopback): the task's names its gateway; service names resolve through OVN, other names do not (set ovn-mesos run --dns-server)"
            ),
            Servers::Nowhere => warn!(
                task = %task, %path, host_resolv_conf = HOST_RESOLV_CONF,
                "the task's resolv.conf has no nameserver: none in its attachment, none a task can reach in the host's resolv.conf, no gateway; its names do not resolve"
            ),
            Servers::Label | Servers::Host => {
                debug!(task = %task, %path, %search, nameservers = %servers.join(","), from = conf.from.as_str(), "task resolv.conf written")
            }
        }
        if !conf.dropped.is_empty() {
            let dropped: Vec<String> = conf.dropped.iter().map(|s| s.to_string()).collect();
            warn!(task = %task, %path, dropped = %dropped.join(","), "more nameservers than a resolv.conf takes: the first 3 are used");
        }
        Ok(())
    }

    /// Removes the task's OVS port (one transaction), its host veth, its
    /// namespace (killing any process still inside it) and its resolv.conf.
    /// Idempotent; every step is tried even when an earlier one fails (the
    /// first error is returned).
    pub async fn teardown(&self, names: &TaskNames) -> Result<(), SetupError> {
        let mut first: Option<SetupError> = None;
        let mut note = |e: SetupError| {
            warn!(netns = %names.netns, error = %Chain(&e), "cleanup step failed");
            first.get_or_insert(e);
        };
        match self.ovs.get().await {
            Ok(ovs) => {
                if let Err(e) = ovs.del_ports(std::slice::from_ref(&names.host_veth)).await {
                    note(e.into());
                }
            }
            Err(e) => note(e.into()),
        }
        if let Err(e) = self.host.delete_link(&names.host_veth).await {
            note(e.into());
        }
        for pid in netns::pids_in(&names.netns) {
            debug!(netns = %names.netns, %pid, "killing a process left in the namespace");
            let _ = kill(pid, Signal::SIGKILL);
        }
        if let Err(e) = netns::delete(&names.netns) {
            note(e.into());
        }
        if let Err(source) = resolv::remove(&self.run_dir, &names.netns) {
            note(SetupError::TaskFile {
                action: "remove the task's files",
                path: resolv::task_dir(&self.run_dir, &names.netns),
                source,
            });
        }
        match first {
            None => {
                debug!(netns = %names.netns, port = %names.host_veth, "network removed");
                Ok(())
            }
            Some(e) => Err(e),
        }
    }
}
