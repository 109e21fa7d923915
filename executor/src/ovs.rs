//! The task's port on the local Open_vSwitch database: `ovs-vsctl add-port
//! <bridge> <veth> -- set Interface <veth> external_ids:iface-id=<lsp> ...` and
//! `ovs-vsctl del-port` as one transaction each, the wait for ovn-controller's
//! `external_ids:ovn-installed="true"`, and the list of ports the executor
//! owns (for the garbage collection of a killed executor's leftovers).

use std::collections::BTreeMap;
use std::time::Duration;

use ovn::nb::{find_by_name, list};
use ovn::ovsdb::{self, Client, ClientConfig, Txn};
use ovn::owner::{self, Kind, Owner};
use ovn::vswitch::interface::IFACE_ID;
use ovn::vswitch::{add_port_ops, del_port_ops, Bridge, Interface, Port, VSWITCH_DB};
use tracing::debug;

/// `external_ids` key: the MAC the port was created for (as OpenStack/OVN-k8s set it).
pub const ATTACHED_MAC: &str = "attached-mac";
/// `external_ids` key: `active` once the interface is the logical port's.
pub const IFACE_STATUS: &str = "iface-status";
/// `external_ids` key: the task's network namespace name.
pub use ovn::attachment::NETNS;
/// `external_ids` keys: pid and start time (clock ticks since boot) of the
/// executor that made the port; a port whose executor is gone is stale.
pub const EXECUTOR_PID: &str = "ovn-mesos/executor-pid";
pub const EXECUTOR_START: &str = "ovn-mesos/executor-start";

/// Why an OVS port operation failed.
#[derive(Debug, thiserror::Error)]
pub enum OvsError {
    /// The local OVSDB server cannot be reached.
    #[error("OVSDB {remote} unreachable")]
    Unreachable {
        remote: String,
        #[source]
        source: ovsdb::Error,
    },
    /// The attachment names a bridge that does not exist.
    #[error("bridge {bridge} does not exist in the local Open_vSwitch database")]
    UnknownBridge { bridge: String },
    /// A transaction failed.
    #[error("{what} failed")]
    Transact {
        what: String,
        #[source]
        source: ovsdb::Error,
    },
    /// ovn-controller did not report the port installed in time.
    #[error("logical port {lsp} not installed on port {port} within {timeout:?} (is the logical switch port defined and this chassis connected?){}", error.as_ref().map(|e| format!("; interface error: {e}")).unwrap_or_default())]
    NotInstalled {
        port: String,
        lsp: String,
        timeout: Duration,
        error: Option<String>,
    },
}

/// The port to create for a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    /// Port and interface name: the host end of the veth.
    pub name: String,
    pub bridge: String,
    /// The logical switch port (`iface-id`).
    pub logical_port: String,
    pub mac: String,
    /// Ownership: task, framework, namespace, executor pid and start time.
    pub owner: BTreeMap<String, String>,
}

impl PortSpec {
    /// The interface's `external_ids`.
    pub fn external_ids(&self) -> BTreeMap<String, String> {
        let mut ids = self.owner.clone();
        ids.insert(IFACE_ID.to_owned(), self.logical_port.clone());
        ids.insert(ATTACHED_MAC.to_owned(), self.mac.clone());
        ids.insert(IFACE_STATUS.to_owned(), "active".to_owned());
        ids
    }
}

/// The ownership `external_ids` of a task port.
pub fn task_owner(
    framework: &str,
    task: &str,
    netns: &str,
    executor_pid: u32,
    executor_start: u64,
) -> BTreeMap<String, String> {
    Owner::new(Kind::TaskPort)
        .with(owner::FRAMEWORK, framework)
        .with(owner::TASK, task)
        .with(NETNS, netns)
        .with(EXECUTOR_PID, executor_pid.to_string())
        .with(EXECUTOR_START, executor_start.to_string())
        .into_map()
}

/// A task port found in the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedPort {
    pub name: String,
    pub netns: String,
    pub task: String,
    pub executor_pid: Option<i32>,
    pub executor_start: Option<u64>,
}

/// A session on the local Open_vSwitch database.
#[derive(Debug, Clone)]
pub struct OvsPorts {
    client: Client,
}

impl OvsPorts {
    /// Connects to `remote` (`unix:/var/run/openvswitch/db.sock`) and monitors
    /// the bridge, port and interface columns it needs.
    pub async fn connect(remote: &str, timeout: Duration) -> Result<OvsPorts, OvsError> {
        let unreachable = |source| OvsError::Unreachable {
            remote: remote.to_owned(),
            source,
        };
        let mut config = ClientConfig::new(remote, VSWITCH_DB)
            .map_err(unreachable)?
            .monitor_columns("Bridge", &["name", "ports"])
            .monitor_columns("Port", &["name", "interfaces"])
            .monitor_columns("Interface", &["name", "external_ids", "error", "ofport"])
            .monitor_columns("Open_vSwitch", &["next_cfg", "cur_cfg"]);
        config.connect_timeout = timeout;
        config.ensure_deadline = timeout;
        let client = Client::connect(config).await.map_err(unreachable)?;
        Ok(OvsPorts { client })
    }

    /// `ovs-vsctl add-port <bridge> <name> -- set Interface <name>
    /// external_ids:...`, one transaction. The bridge must exist.
    pub async fn add_port(&self, spec: &PortSpec) -> Result<(), OvsError> {
        let what = format!("ovs-vsctl add-port {} {}", spec.bridge, spec.name);
        let ids = spec.external_ids();
        self.client
            .ensure(&what, |cache| {
                if find_by_name::<Port>(cache, &spec.name).is_some() {
                    return Ok((None, ()));
                }
                let Some(bridge) = find_by_name::<Bridge>(cache, &spec.bridge) else {
                    return Err(OvsError::UnknownBridge {
                        bridge: spec.bridge.clone(),
                    });
                };
                let mut txn = Txn::new(VSWITCH_DB);
                add_port_ops(&mut txn, &bridge, &spec.name, &ids);
                Ok((Some(txn), ()))
            })
            .await
            .map_err(|source| OvsError::Transact { what, source })??;
        debug!(port = %spec.name, bridge = %spec.bridge, lsp = %spec.logical_port, "port added");
        Ok(())
    }

    /// Waits until ovn-controller sets `external_ids:ovn-installed="true"` on
    /// interface `name` (`ovs-vsctl wait-until Interface <name>
    /// external_ids:ovn-installed=true`).
    pub async fn wait_installed(
        &self,
        name: &str,
        lsp: &str,
        timeout: Duration,
    ) -> Result<(), OvsError> {
        let installed = |cache: &ovsdb::Cache| {
            find_by_name::<Interface>(cache, name).is_some_and(|i| i.ovn_installed())
        };
        match self
            .client
            .wait_until("ovn-installed", timeout, installed)
            .await
        {
            Ok(()) => Ok(()),
            Err(_) => Err(OvsError::NotInstalled {
                port: name.to_owned(),
                lsp: lsp.to_owned(),
                timeout,
                error: self
                    .client
                    .read(|c| find_by_name::<Interface>(c, name).and_then(|i| i.error)),
            }),
        }
    }

    /// `ovs-vsctl --if-exists del-port <name>` for each name, one transaction;
    /// names without a port are skipped. Returns how many were deleted.
    ///
    /// Like `ovs-vsctl`, it then waits (up to 5 s) until ovs-vswitchd has
    /// applied the change (`cur_cfg` reaches the `next_cfg` the transaction
    /// set), so that deleting the port's link afterwards never pulls it from
    /// under a datapath that still reads it.
    pub async fn del_ports(&self, names: &[String]) -> Result<usize, OvsError> {
        let what = format!("ovs-vsctl del-port {}", names.join(" "));
        let (count, target) = self
            .client
            .ensure(&what, |cache| {
                let bridges = list::<Bridge>(cache);
                let mut txn = Txn::new(VSWITCH_DB);
                let mut count = 0;
                for name in names {
                    let Some(port) = find_by_name::<Port>(cache, name) else {
                        continue;
                    };
                    for bridge in bridges.iter().filter(|b| b.ports.contains(&port.uuid)) {
                        del_port_ops(&mut txn, bridge, &port);
                        count += 1;
                    }
                }
                if txn.is_empty() {
                    return Ok::<_, OvsError>((None, (0, None)));
                }
                let root = cache.table("Open_vSwitch").next().map(|(uuid, row)| {
                    let next = row.get("next_cfg").and_then(|d| d.as_int()).unwrap_or(0);
                    (*uuid, next + 1)
                });
                if let Some((uuid, _)) = root {
                    txn.mutate_row(
                        "Open_vSwitch",
                        uuid,
                        vec![ovsdb::Mutation::new(
                            "next_cfg",
                            ovsdb::Mutator::Add,
                            ovsdb::Datum::int(1),
                        )],
                    );
                }
                Ok((Some(txn), (count, root.map(|r| r.1))))
            })
            .await
            .map_err(|source| OvsError::Transact { what, source })??;
        if let Some(target) = target {
            let applied = self
                .client
                .wait_until(
                    "ovs-vswitchd to apply del-port",
                    Duration::from_secs(5),
                    |c| {
                        c.table("Open_vSwitch").any(|(_, row)| {
                            row.get("cur_cfg").and_then(|d| d.as_int()).unwrap_or(0) >= target
                        })
                    },
                )
                .await;
            if let Err(e) = applied {
                debug!(error = %ovn::report::Chain(&e), "ports deleted, ovs-vswitchd not seen applying it");
            }
        }
        Ok(count)
    }

    /// [`OvsError::UnknownBridge`] unless bridge `name` exists (`ovs-vsctl br-exists`).
    pub fn require_bridge(&self, name: &str) -> Result<(), OvsError> {
        if self
            .client
            .read(|c| find_by_name::<Bridge>(c, name).is_some())
        {
            Ok(())
        } else {
            Err(OvsError::UnknownBridge {
                bridge: name.to_owned(),
            })
        }
    }

    /// Whether a port named `name` exists.
    pub fn has_port(&self, name: &str) -> bool {
        self.client
            .read(|c| find_by_name::<Port>(c, name).is_some())
    }

    /// Every task port the executor owns (any executor, any task).
    pub fn owned_ports(&self) -> Vec<OwnedPort> {
        self.client.read(|cache| {
            list::<Interface>(cache)
                .into_iter()
                .filter(|i| owner::kind_of(&i.external_ids) == Some(Kind::TaskPort))
                .filter_map(|i| {
                    let get = |k: &str| i.external_ids.get(k).cloned();
                    Some(OwnedPort {
                        netns: get(NETNS)?,
                        task: get(owner::TASK).unwrap_or_default(),
                        executor_pid: get(EXECUTOR_PID).and_then(|p| p.parse().ok()),
                        executor_start: get(EXECUTOR_START).and_then(|p| p.parse().ok()),
                        name: i.name,
                    })
                })
                .collect()
        })
    }

    /// Closes the session.
    pub async fn close(&self) {
        self.client.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_port_carries_binding_status_and_ownership() {
        let spec = PortSpec {
            name: "ovnm0123456789".into(),
            bridge: "br-int".into(),
            logical_port: "coke1-web-1".into(),
            mac: "0a:58:c0:a8:01:02".into(),
            owner: task_owner("fw", "web-1", "ovnm-0123456789", 42, 7),
        };
        let ids = spec.external_ids();
        assert_eq!(ids[IFACE_ID], "coke1-web-1");
        assert_eq!(ids[ATTACHED_MAC], "0a:58:c0:a8:01:02");
        assert_eq!(ids[IFACE_STATUS], "active");
        assert_eq!(owner::kind_of(&ids), Some(Kind::TaskPort));
        assert_eq!(ids[owner::TASK], "web-1");
        assert_eq!(ids[NETNS], "ovnm-0123456789");
        assert_eq!(
            (ids[EXECUTOR_PID].as_str(), ids[EXECUTOR_START].as_str()),
            ("42", "7")
        );
    }

    #[test]
    fn not_installed_says_which_port_and_why() {
        let e = OvsError::NotInstalled {
            port: "ovnm1".into(),
            lsp: "nope".into(),
            timeout: Duration::from_secs(2),
            error: None,
        };
        let text = e.to_string();
        assert!(
            text.starts_with("logical port nope not installed on port ovnm1 within 2s"),
            "{text}"
        );
        assert!(!text.contains('\n'));
    }
}
