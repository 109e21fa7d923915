//! `network-init` / `network-delete`: a tenant network, the logical switch
//! `<network>` (`ovn-nbctl ls-add`, `other_config:subnet=<cidr>`) attached to
//! the tenant router by `rtos-<network>` (first host of the subnet) and
//! `stor-<network>`. Network names are global in OVN: a name another tenant
//! holds is an error; the same subnet in two tenants is fine. A network keeps
//! its subnet: `network-init` of an existing network with another subnet is
//! refused whether or not tasks are on it (their addresses and routes come
//! from the subnet); a switch without a readable subnet is repaired.

use ipnetwork::Ipv4Network;

use super::desired::{Desired, DesiredRouter, DesiredSwitch, Part, Scope};
use super::names::{router_to_switch, switch_to_router, tenant_router};
use super::plan::{plan, Plan};
use super::snapshot::{owner_label, Snapshot};
use super::validate::{check_network_name, check_subnet, check_tenant_name};
use super::{commit_nb, Report, TopologyError};
use crate::ipam::mac_for_ip;
use crate::nb::{LogicalRouterPort, LogicalSwitch, LogicalSwitchPort, Table};
use crate::ovsdb::Client;
use crate::owner::{self, Kind, Owner};

/// What `network-init` creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkSpec {
    pub tenant: String,
    /// The network and its logical switch's name (`logical_switch=coke1` in task files).
    pub name: String,
    /// e.g. 192.168.1.0/24; the router port takes the first host.
    pub subnet: Ipv4Network,
}

fn scope(tenant: &str, network: &str) -> Scope {
    Scope {
        tenant: tenant.to_owned(),
        chassis: Part::Absent,
        network: Part::Is(network.to_owned()),
    }
}

/// Errors unless the switch `name`, if any, is the tenant's network switch.
fn check_not_taken(snap: &Snapshot, tenant: &str, name: &str) -> Result<(), TopologyError> {
    for sw in snap.switches_named(name) {
        if !owner::is_tenant_row(&sw.external_ids, Kind::NetworkSwitch, tenant) {
            return Err(TopologyError::NameTaken {
                table: LogicalSwitch::TABLE,
                name: name.to_owned(),
                owner: owner_label(&sw.external_ids),
            });
        }
    }
    Ok(())
}

/// Errors when the network exists with another subnet than `spec`'s.
fn check_same_subnet(snap: &Snapshot, spec: &NetworkSpec) -> Result<(), TopologyError> {
    let current = snap
        .owned_switch(&spec.name, Kind::NetworkSwitch, &spec.tenant)
        .and_then(LogicalSwitch::subnet)
        .and_then(|s| s.parse::<Ipv4Network>().ok());
    match current {
        Some(current) if current != spec.subnet => Err(TopologyError::SubnetChange {
            tenant: spec.tenant.clone(),
            network: spec.name.clone(),
            current,
            given: spec.subnet,
        }),
        _ => Ok(()),
    }
}

/// The rows `network-init` wants, given what exists.
pub fn network_desired(snap: &Snapshot, spec: &NetworkSpec) -> Result<Desired, TopologyError> {
    let (t, n, subnet) = (spec.tenant.as_str(), spec.name.as_str(), spec.subnet);
    check_tenant_name(t)?;
    check_network_name(n)?;
    check_subnet("subnet", subnet)?;
    if snap.tenant_router(t).is_none() {
        return Err(TopologyError::UnknownTenant {
            tenant: t.to_owned(),
        });
    }
    check_not_taken(snap, t, n)?;
    check_same_subnet(snap, spec)?;
    if let Some(cluster) = snap.cluster_subnet(t) {
        if !subnet.is_subnet_of(cluster) {
            return Err(TopologyError::SubnetOutsideCluster {
                tenant: t.to_owned(),
                network: n.to_owned(),
                subnet,
                cluster,
            });
        }
    }
    for other in snap.networks_of(t).into_iter().filter(|s| s.name != n) {
        let Some(os) = other.subnet() else { continue };
        if os.parse::<Ipv4Network>().is_ok_and(|o| o.overlaps(subnet)) {
            return Err(TopologyError::SubnetOverlap {
                tenant: t.to_owned(),
                network: n.to_owned(),
                subnet,
                other: other.name.clone(),
                other_subnet: os.to_owned(),
            });
        }
    }

    let ids = |kind| {
        Owner::new(kind)
            .tenant(t)
            .with(owner::NETWORK, n)
            .into_map()
    };
    let router_ip = subnet.nth(1).expect("a /30 or larger has a first host");
    let rtos = router_to_switch(n);
    let mut port = LogicalRouterPort::new(
        &rtos,
        mac_for_ip(router_ip).to_string(),
        format!("{router_ip}/{}", subnet.prefix()),
    );
    port.external_ids = ids(Kind::RouterPort);
    let mut switch = LogicalSwitch {
        uuid: uuid::Uuid::new_v4(),
        name: n.to_owned(),
        external_ids: ids(Kind::NetworkSwitch),
        ..Default::default()
    };
    switch
        .other_config
        .insert("subnet".to_owned(), subnet.to_string());
    let stor = LogicalSwitchPort::router(switch_to_router(n), &rtos)
        .with_external_ids(ids(Kind::SwitchPort));

    Ok(Desired {
        scope: scope(t, n),
        routers: vec![DesiredRouter {
            name: tenant_router(t),
            kind: Kind::TenantRouter,
            row: None,
            ports: vec![port],
            routes: Vec::new(),
            nats: Vec::new(),
        }],
        switches: vec![DesiredSwitch {
            name: n.to_owned(),
            kind: Kind::NetworkSwitch,
            row: Some(switch),
            ports: vec![stor],
        }],
    })
}

/// Plans `network-init`.
pub fn plan_network_init(snap: &Snapshot, spec: &NetworkSpec) -> Result<Plan, TopologyError> {
    plan(snap, &network_desired(snap, spec)?)
}

/// How many task ports (non-router ports) to name in a refusal.
const EXAMPLES: usize = 3;

/// Plans `network-delete`: refuses while task ports (every port but the
/// router port) are on the switch, unless `force`, which deletes them with it.
pub fn plan_network_delete(
    snap: &Snapshot,
    tenant: &str,
    name: &str,
    force: bool,
) -> Result<Plan, TopologyError> {
    check_tenant_name(tenant)?;
    check_network_name(name)?;
    check_not_taken(snap, tenant, name)?;
    if !force {
        let mut tasks: Vec<&str> = snap
            .switches_named(name)
            .into_iter()
            .flat_map(|sw| snap.ports_of_switch(sw))
            .filter(|p| !p.is_router_port())
            .map(|p| p.name.as_str())
            .collect();
        tasks.sort_unstable();
        if !tasks.is_empty() {
            return Err(TopologyError::NetworkInUse {
                network: name.to_owned(),
                count: tasks.len(),
                examples: tasks
                    .iter()
                    .take(EXAMPLES)
                    .map(|s| (*s).to_owned())
                    .collect(),
            });
        }
    }
    plan(snap, &Desired::nothing(scope(tenant, name)))
}

/// `ovn-mesos network-init`: creates or repairs the network switch and its
/// router attachment in one transaction; a second run changes nothing, and
/// a run with another subnet is [`TopologyError::SubnetChange`].
pub async fn network_init(nb: &Client, spec: &NetworkSpec) -> Result<Report, TopologyError> {
    check_tenant_name(&spec.tenant)?;
    check_network_name(&spec.name)?;
    let what = format!("network-init {}/{}", spec.tenant, spec.name);
    commit_nb(nb, &what, |snap| plan_network_init(snap, spec)).await
}

/// `ovn-mesos network-delete`: removes the network switch and the tenant
/// router's port on it (see [`plan_network_delete`]); an absent network
/// changes nothing.
pub async fn network_delete(
    nb: &Client,
    tenant: &str,
    name: &str,
    force: bool,
) -> Result<Report, TopologyError> {
    check_tenant_name(tenant)?;
    check_network_name(name)?;
    let what = format!("network-delete {tenant}/{name}");
    commit_nb(nb, &what, |snap| {
        plan_network_delete(snap, tenant, name, force)
    })
    .await
}
