//! Shared fixtures of the planner tests: specs of the seed lab, and applying
//! a plan to the in-memory database ([`super::snapshot::sim`]) while checking
//! that planning the same command again yields nothing.

use std::net::Ipv4Addr;

use ipnetwork::Ipv4Network;

use super::gateway::{plan_gateway_init, GatewayMode, GatewaySpec};
use super::network::{plan_network_init, NetworkSpec};
use super::plan::Plan;
use super::snapshot::{sim, Snapshot};
use super::tenant::{plan_tenant_init, TenantSpec};
use super::TopologyError;
use crate::nb::LogicalSwitchPort;
use crate::owner::{self, Kind, Owner};

pub(super) fn net(s: &str) -> Ipv4Network {
    s.parse().unwrap()
}

pub(super) fn tenant(name: &str) -> TenantSpec {
    TenantSpec {
        name: name.into(),
        cluster_subnet: Some(net("192.168.0.0/16")),
        service_subnet: None,
    }
}

pub(super) fn localnet() -> GatewayMode {
    GatewayMode::Localnet {
        physnet: "physnet".into(),
        bridge: "br-ex".into(),
        interface: None,
    }
}

pub(super) fn gateway(t: &str, physical: &str) -> GatewaySpec {
    GatewaySpec {
        tenant: t.into(),
        cluster_subnet: Some(net("192.168.0.0/16")),
        physical_ip: net(physical),
        default_gw: Ipv4Addr::new(10, 10, 1, 1),
        mode: localnet(),
        system_id: None,
    }
}

pub(super) fn network(t: &str, name: &str, subnet: &str) -> NetworkSpec {
    NetworkSpec {
        tenant: t.into(),
        name: name.into(),
        subnet: net(subnet),
    }
}

/// Applies a plan, checks the same command then plans nothing, returns the new state.
pub(super) fn apply(
    snap: &Snapshot,
    plan: impl Fn(&Snapshot) -> Result<Plan, TopologyError>,
) -> Snapshot {
    let first = plan(snap).unwrap_or_else(|e| panic!("plan failed: {e}"));
    let after =
        sim::apply(snap, &first.txn).unwrap_or_else(|e| panic!("rejected: {e}\n{:#?}", first.txn));
    let again = plan(&after).unwrap();
    assert!(
        again.txn.is_empty(),
        "second run is not a no-op: {}",
        again.report
    );
    assert!(again.report.is_empty());
    after
}

pub(super) fn gw_init(snap: &Snapshot, spec: &GatewaySpec, sid: &str) -> Snapshot {
    apply(snap, |s| plan_gateway_init(s, spec, sid).map(|(p, _)| p))
}

/// The seed lab: coke on mesos-master, pepsi on mesos-agent1, both with 192.168.1.0/24.
pub(super) fn seed() -> Snapshot {
    let mut s = Snapshot::default();
    for t in ["coke", "pepsi"] {
        s = apply(&s, |x| plan_tenant_init(x, &tenant(t)));
    }
    s = gw_init(&s, &gateway("coke", "10.10.1.12/24"), "mesos-master");
    s = gw_init(&s, &gateway("pepsi", "10.10.1.14/24"), "mesos-agent1");
    s = apply(&s, |x| {
        plan_network_init(x, &network("coke", "coke1", "192.168.1.0/24"))
    });
    apply(&s, |x| {
        plan_network_init(x, &network("pepsi", "pepsi1", "192.168.1.0/24"))
    })
}

/// A task port of the framework on `switch` (kind task-port).
pub(super) fn with_task_port(s: &Snapshot, switch: &str, name: &str) -> Snapshot {
    let sw = s.switches_named(switch)[0].clone();
    let mut port = LogicalSwitchPort::new(name, "");
    port.addresses = vec!["0a:58:c0:a8:01:02 192.168.1.2".into()];
    port.external_ids = Owner::new(Kind::TaskPort)
        .tenant(
            sw.external_ids
                .get(owner::TENANT)
                .cloned()
                .unwrap_or_default(),
        )
        .with(owner::NETWORK, switch)
        .into_map();
    let mut txn = crate::ovsdb::Txn::new(crate::nb::NB_DB);
    crate::nb::logical_switch_port::create_or_update_port_ops(&mut txn, sw.uuid, None, &port);
    sim::apply(s, &txn).unwrap()
}
