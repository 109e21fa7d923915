//! The chassis side of `gateway-init`, on the local Open_vSwitch database:
//! localnet mode maps the physical network to a bridge
//! (`ovs-vsctl set Open_vSwitch . external_ids:ovn-bridge-mappings=...`,
//! merged with existing mappings) and creates the bridge (`add-br`, with
//! `ovn-bridge-datapath-type`) and its physical port if missing; physical
//! interface mode plugs the interface into `br-int` with
//! `external_ids:iface-id=<logical port>` (`add-port br-int <iface>`).
//! One transaction per command, diffed like the NB side.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::report::{Action, Report};
use super::TopologyError;
use crate::nb::Table;
use crate::ovsdb::{Cache, Txn};
use crate::vswitch::interface::IFACE_ID;
use crate::vswitch::open_vswitch::BRIDGE_MAPPINGS;
use crate::vswitch::{
    add_bridge_ops, add_port_ops, del_port_ops, merge_bridge_mappings, set_external_ids_ops,
    set_map_keys_ops, Bridge, Interface, OpenVswitch, Port, VSWITCH_DB,
};

/// The integration bridge ovn-controller uses.
pub const BR_INT: &str = "br-int";

/// The local OVS rows gateway commands read.
#[derive(Debug, Clone, Default)]
pub(crate) struct OvsSnapshot {
    pub root: Option<OpenVswitch>,
    pub bridges: BTreeMap<Uuid, Bridge>,
    pub ports: BTreeMap<Uuid, Port>,
    pub interfaces: BTreeMap<Uuid, Interface>,
}

fn collect<T: Table>(cache: &Cache) -> BTreeMap<Uuid, T> {
    cache
        .table(T::TABLE)
        .filter_map(|(u, r)| T::from_row(*u, r).ok().map(|t| (*u, t)))
        .collect()
}

impl OvsSnapshot {
    pub fn from_cache(cache: &Cache) -> OvsSnapshot {
        OvsSnapshot {
            root: crate::vswitch::open_vswitch(cache),
            bridges: collect(cache),
            ports: collect(cache),
            interfaces: collect(cache),
        }
    }

    fn bridge(&self, name: &str) -> Option<&Bridge> {
        self.bridges.values().find(|b| b.name == name)
    }

    /// The port named `name` and the bridge holding it.
    fn port(&self, name: &str) -> Option<(&Port, Option<&Bridge>)> {
        let p = self.ports.values().find(|p| p.name == name)?;
        Some((p, self.bridges.values().find(|b| b.ports.contains(&p.uuid))))
    }

    fn interfaces_of<'a>(&'a self, port: &'a Port) -> impl Iterator<Item = &'a Interface> {
        port.interfaces
            .iter()
            .filter_map(|u| self.interfaces.get(u))
    }
}

/// What a gateway command wants on the local OVS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OvsWant {
    /// `physnet:bridge` in `ovn-bridge-mappings`, the bridge, and the physical
    /// interface (if any) as a port of it.
    Localnet {
        physnet: String,
        bridge: String,
        interface: Option<String>,
    },
    /// `iface` a port of `br-int` bound to the logical port `iface_id`.
    BrIntPort { iface: String, iface_id: String },
    /// No `br-int` port bound to any of these logical ports.
    NoBrIntPorts { iface_ids: Vec<String> },
}

/// Plans the local OVS transaction for `want`.
pub(crate) fn plan_ovs(snap: &OvsSnapshot, want: &OvsWant) -> Result<(Txn, Report), TopologyError> {
    let mut txn = Txn::new(VSWITCH_DB);
    let mut report = Report::default();
    let root = snap.root.as_ref().ok_or(TopologyError::NoOpenVswitchRow)?;
    match want {
        OvsWant::Localnet {
            physnet,
            bridge,
            interface,
        } => {
            let current = root
                .external_ids
                .get(BRIDGE_MAPPINGS)
                .map_or("", String::as_str);
            if let Some(merged) = merge_bridge_mappings(current, physnet, bridge)? {
                let mut ids = BTreeMap::new();
                ids.insert(BRIDGE_MAPPINGS.to_owned(), merged.clone());
                set_external_ids_ops(&mut txn, root, &ids);
                report.push(
                    Action::Updated,
                    OpenVswitch::TABLE,
                    format!("external_ids:{BRIDGE_MAPPINGS}={merged}"),
                );
            }
            let br = match snap.bridge(bridge) {
                Some(b) => b.clone(),
                None => {
                    report.push(Action::Created, Bridge::TABLE, bridge);
                    add_bridge_ops(&mut txn, root, bridge, root.bridge_datapath_type(), None)
                }
            };
            if let Some(iface) = interface {
                match snap.port(iface) {
                    Some((_, Some(b))) if b.name == *bridge => {}
                    Some((_, other)) => {
                        return Err(TopologyError::InterfaceInUse {
                            iface: iface.clone(),
                            bridge: other.map_or_else(|| "(none)".to_owned(), |b| b.name.clone()),
                        })
                    }
                    None => {
                        add_port_ops(&mut txn, &br, iface, &BTreeMap::new());
                        report.push(Action::Created, Port::TABLE, format!("{iface} on {bridge}"));
                    }
                }
            }
        }
        OvsWant::BrIntPort { iface, iface_id } => {
            let br = match snap.bridge(BR_INT) {
                Some(b) => b.clone(),
                None => {
                    report.push(Action::Created, Bridge::TABLE, BR_INT);
                    add_bridge_ops(
                        &mut txn,
                        root,
                        BR_INT,
                        root.bridge_datapath_type(),
                        Some("secure"),
                    )
                }
            };
            match snap.port(iface) {
                Some((port, Some(b))) if b.name == BR_INT => {
                    for i in snap.interfaces_of(port).filter(|i| i.name == *iface) {
                        let mut ids = BTreeMap::new();
                        ids.insert(IFACE_ID.to_owned(), iface_id.clone());
                        let table = Interface::TABLE;
                        if set_map_keys_ops(
                            &mut txn,
                            table,
                            i.uuid,
                            "external_ids",
                            &i.external_ids,
                            &ids,
                        ) {
                            report.push(
                                Action::Updated,
                                Interface::TABLE,
                                format!("{iface} external_ids:{IFACE_ID}={iface_id}"),
                            );
                        }
                    }
                }
                Some((_, other)) => {
                    return Err(TopologyError::InterfaceInUse {
                        iface: iface.clone(),
                        bridge: other.map_or_else(|| "(none)".to_owned(), |b| b.name.clone()),
                    })
                }
                None => {
                    let mut ids = BTreeMap::new();
                    ids.insert(IFACE_ID.to_owned(), iface_id.clone());
                    add_port_ops(&mut txn, &br, iface, &ids);
                    report.push(Action::Created, Port::TABLE, format!("{iface} on {BR_INT}"));
                }
            }
        }
        OvsWant::NoBrIntPorts { iface_ids } => {
            if let Some(br) = snap.bridge(BR_INT) {
                for port in br.ports.iter().filter_map(|u| snap.ports.get(u)) {
                    let bound = snap.interfaces_of(port).any(|i| {
                        i.iface_id()
                            .is_some_and(|id| iface_ids.iter().any(|w| w == id))
                    });
                    if bound {
                        del_port_ops(&mut txn, br, port);
                        report.push(
                            Action::Deleted,
                            Port::TABLE,
                            format!("{} on {BR_INT}", port.name),
                        );
                    }
                }
            }
        }
    }
    Ok((txn, report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vswitch::open_vswitch::BRIDGE_DATAPATH_TYPE;

    fn root(ids: &[(&str, &str)]) -> OpenVswitch {
        OpenVswitch {
            uuid: Uuid::new_v4(),
            external_ids: ids
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..Default::default()
        }
    }

    fn with_bridge(
        mut snap: OvsSnapshot,
        name: &str,
        ports: &[(&str, &[(&str, &str)])],
    ) -> OvsSnapshot {
        let mut br = Bridge {
            uuid: Uuid::new_v4(),
            name: name.into(),
            ..Default::default()
        };
        for (pname, ids) in ports {
            let i = Interface {
                uuid: Uuid::new_v4(),
                name: (*pname).into(),
                external_ids: ids
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
                ..Default::default()
            };
            let p = Port {
                uuid: Uuid::new_v4(),
                name: (*pname).into(),
                interfaces: vec![i.uuid],
                ..Default::default()
            };
            br.ports.push(p.uuid);
            snap.interfaces.insert(i.uuid, i);
            snap.ports.insert(p.uuid, p);
        }
        snap.bridges.insert(br.uuid, br);
        snap
    }

    fn localnet(interface: Option<&str>) -> OvsWant {
        OvsWant::Localnet {
            physnet: "physnet".into(),
            bridge: "br-ex".into(),
            interface: interface.map(str::to_owned),
        }
    }

    #[test]
    fn localnet_adds_the_mapping_and_creates_the_bridge_with_the_configured_datapath() {
        let snap = OvsSnapshot {
            root: Some(root(&[
                ("ovn-bridge-mappings", "other:br-other"),
                (BRIDGE_DATAPATH_TYPE, "netdev"),
            ])),
            ..Default::default()
        };
        let (txn, report) = plan_ovs(&snap, &localnet(Some("eth1"))).unwrap();
        let p = txn.to_params();
        let text = p.to_string();
        assert!(text.contains("other:br-other,physnet:br-ex"), "{text}");
        assert!(text.contains("\"datapath_type\":\"netdev\""), "{text}");
        assert_eq!(report.count(Action::Created), 2, "{report}");
    }

    #[test]
    fn localnet_already_in_place_changes_nothing() {
        let snap = OvsSnapshot {
            root: Some(root(&[("ovn-bridge-mappings", "physnet:br-ex")])),
            ..Default::default()
        };
        let snap = with_bridge(snap, "br-ex", &[("eth1", &[])]);
        let (txn, report) = plan_ovs(&snap, &localnet(Some("eth1"))).unwrap();
        assert!(txn.is_empty() && report.is_empty(), "{report}");
    }

    #[test]
    fn a_physnet_mapped_to_another_bridge_is_refused() {
        let snap = OvsSnapshot {
            root: Some(root(&[("ovn-bridge-mappings", "physnet:br-eth9")])),
            ..Default::default()
        };
        let e = plan_ovs(&snap, &localnet(None)).unwrap_err().to_string();
        assert!(e.contains("already mapped to bridge br-eth9"), "{e}");
    }

    #[test]
    fn the_physical_interface_is_plugged_into_br_int_with_its_iface_id() {
        let snap = with_bridge(
            OvsSnapshot {
                root: Some(root(&[])),
                ..Default::default()
            },
            BR_INT,
            &[],
        );
        let want = OvsWant::BrIntPort {
            iface: "eth1".into(),
            iface_id: "eth1_m".into(),
        };
        let (txn, _) = plan_ovs(&snap, &want).unwrap();
        assert!(txn
            .to_params()
            .to_string()
            .contains("[\"iface-id\",\"eth1_m\"]"));
        let bound = with_bridge(
            OvsSnapshot {
                root: Some(root(&[])),
                ..Default::default()
            },
            BR_INT,
            &[("eth1", &[("iface-id", "eth1_m")])],
        );
        assert!(plan_ovs(&bound, &want).unwrap().0.is_empty());
        let stale = with_bridge(
            OvsSnapshot {
                root: Some(root(&[])),
                ..Default::default()
            },
            BR_INT,
            &[("eth1", &[("iface-id", "old"), ("keep", "me")])],
        );
        let (txn, report) = plan_ovs(&stale, &want).unwrap();
        let p = txn.to_params();
        assert_eq!(
            (p[1]["op"].as_str(), p[2]["op"].as_str()),
            (Some("wait"), Some("update"))
        );
        assert_eq!(
            p[2]["row"]["external_ids"],
            serde_json::json!(["map", [["iface-id", "eth1_m"], ["keep", "me"]]])
        );
        assert_eq!(report.count(Action::Updated), 1);
        let elsewhere = with_bridge(bound.clone(), "br-ex", &[]);
        let moved = with_bridge(
            OvsSnapshot {
                root: elsewhere.root.clone(),
                ..Default::default()
            },
            "br-ex",
            &[("eth1", &[])],
        );
        let e = plan_ovs(&moved, &want).unwrap_err().to_string();
        assert_eq!(e, "interface eth1 is already a port of bridge br-ex");
    }

    #[test]
    fn only_ports_bound_to_the_given_logical_ports_are_removed() {
        let snap = with_bridge(
            OvsSnapshot {
                root: Some(root(&[])),
                ..Default::default()
            },
            BR_INT,
            &[
                ("eth1", &[("iface-id", "eth1_m")]),
                ("veth7", &[("iface-id", "task-7")]),
            ],
        );
        let (txn, report) = plan_ovs(
            &snap,
            &OvsWant::NoBrIntPorts {
                iface_ids: vec!["eth1_m".into()],
            },
        )
        .unwrap();
        assert_eq!(txn.len(), 1);
        assert_eq!(report.changes[0].name, "eth1 on br-int");
    }

    #[test]
    fn an_uninitialised_database_is_an_error() {
        let e = plan_ovs(&OvsSnapshot::default(), &localnet(None)).unwrap_err();
        assert!(matches!(e, TopologyError::NoOpenVswitchRow));
    }
}
