//! `tenant-init` / `tenant-delete`: a tenant's own rows, the tenant router
//! `<tenant>` (`ovn-nbctl lr-add`) with its port `rtoj-<tenant>` 100.64.0.1/16
//! on the join switch `join_<tenant>` (`ls-add`, `lsp-add jtor-<tenant>`).
//! The cluster subnet, when known, is stored on the tenant router
//! (`external_ids:ovn-mesos/cluster-subnet`) and checked by later commands.

use ipnetwork::Ipv4Network;

use super::desired::{Desired, DesiredRouter, DesiredSwitch, Part, Scope};
use super::names::{
    join_switch, join_to_router, router_to_join, tenant_router, JOIN_ROUTER_IP, JOIN_SUBNET,
};
use super::plan::{plan, Plan};
use super::snapshot::Snapshot;
use super::validate::{check_subnet, check_tenant_name};
use super::{commit_nb, Report, TopologyError};
use crate::ipam::mac_for_ip;
use crate::nb::{LogicalRouter, LogicalRouterPort, LogicalSwitch, LogicalSwitchPort};
use crate::ovsdb::Client;
use crate::owner::{self, Kind, Owner};

/// What `tenant-init` creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSpec {
    /// The tenant (and its router's) name.
    pub name: String,
    /// The subnet every network of the tenant lies in, e.g. 192.168.0.0/16;
    /// None keeps what is stored (or leaves it unknown).
    pub cluster_subnet: Option<Ipv4Network>,
    /// The subnet its services' east-west VIPs come from; None keeps what
    /// is stored, or takes [`DEFAULT_SERVICE_SUBNET`]. Once stored it
    /// cannot change.
    pub service_subnet: Option<Ipv4Network>,
}

/// The service subnet of a tenant that names none: outside the lab's
/// underlay (10.10.1.0/24), cluster subnet (192.168.0.0/16) and join
/// subnet (100.64.0.0/16), as Kubernetes' default service range is.
pub const DEFAULT_SERVICE_SUBNET: Ipv4Network =
    match Ipv4Network::new_checked(std::net::Ipv4Addr::new(10, 96, 0, 0), 16) {
        Some(net) => net,
        None => panic!("10.96.0.0/16 is a valid network"),
    };

/// The tenant's scope: its rows that belong to no gateway and no network.
fn own_scope(tenant: &str) -> Scope {
    Scope {
        tenant: tenant.to_owned(),
        chassis: Part::Absent,
        network: Part::Absent,
    }
}

/// The tenant's service subnet: the one given, else the one stored, else
/// the default; a change of a stored one is refused, and so is one that
/// overlaps the cluster subnet or a network of the tenant (`check_subnet`
/// refuses the join subnet).
fn service_subnet(
    snap: &Snapshot,
    spec: &TenantSpec,
    cluster: Option<Ipv4Network>,
) -> Result<Ipv4Network, TopologyError> {
    let t = spec.name.as_str();
    if let Some(s) = spec.service_subnet {
        check_subnet("service subnet", s)?;
    }
    let service = match (snap.service_subnet(t), spec.service_subnet) {
        (Some(stored), Some(given)) if stored != given => {
            return Err(TopologyError::ServiceSubnetMismatch {
                tenant: t.to_owned(),
                stored,
                given,
            })
        }
        (stored, given) => given.or(stored).unwrap_or(DEFAULT_SERVICE_SUBNET),
    };
    let overlap = |what: String, other: Ipv4Network| {
        if service.overlaps(other) {
            Err(TopologyError::ServiceSubnetOverlap {
                tenant: t.to_owned(),
                service,
                what,
                other,
            })
        } else {
            Ok(())
        }
    };
    if let Some(c) = cluster {
        overlap("the cluster subnet".into(), c)?;
    }
    for sw in snap.networks_of(t) {
        if let Some(subnet) = sw.subnet().and_then(|s| s.parse::<Ipv4Network>().ok()) {
            overlap(format!("network {}", sw.name), subnet)?;
        }
    }
    Ok(service)
}

/// The rows `tenant-init` wants, given what exists.
pub fn tenant_desired(snap: &Snapshot, spec: &TenantSpec) -> Result<Desired, TopologyError> {
    let t = spec.name.as_str();
    check_tenant_name(t)?;
    if let Some(c) = spec.cluster_subnet {
        check_subnet("cluster subnet", c)?;
    }
    let stored = snap.cluster_subnet(t);
    let cluster = match (stored, spec.cluster_subnet) {
        (Some(stored), Some(given)) if stored != given => {
            return Err(TopologyError::ClusterSubnetMismatch {
                tenant: t.to_owned(),
                stored,
                given,
            })
        }
        (stored, given) => given.or(stored),
    };
    if let Some(cluster) = cluster {
        for sw in snap.networks_of(t) {
            if let Some(subnet) = sw.subnet().and_then(|s| s.parse::<Ipv4Network>().ok()) {
                if !subnet.is_subnet_of(cluster) {
                    return Err(TopologyError::SubnetOutsideCluster {
                        tenant: t.to_owned(),
                        network: sw.name.clone(),
                        subnet,
                        cluster,
                    });
                }
            }
        }
    }

    let service = service_subnet(snap, spec, cluster)?;

    let mut router_ids = Owner::new(Kind::TenantRouter).tenant(t);
    if let Some(c) = cluster {
        router_ids = router_ids.with(owner::CLUSTER_SUBNET, c.to_string());
    }
    router_ids = router_ids.with(owner::SERVICE_SUBNET, service.to_string());
    let router = LogicalRouter {
        uuid: uuid::Uuid::new_v4(),
        name: tenant_router(t),
        external_ids: router_ids.into_map(),
        ..Default::default()
    };
    let rtoj = router_to_join(&router.name);
    let mut port = LogicalRouterPort::new(
        &rtoj,
        mac_for_ip(JOIN_ROUTER_IP).to_string(),
        format!("{JOIN_ROUTER_IP}/{}", JOIN_SUBNET.prefix()),
    );
    port.external_ids = Owner::new(Kind::RouterPort).tenant(t).into_map();

    let mut join = LogicalSwitch {
        uuid: uuid::Uuid::new_v4(),
        name: join_switch(t),
        external_ids: Owner::new(Kind::JoinSwitch).tenant(t).into_map(),
        ..Default::default()
    };
    join.other_config
        .insert("subnet".to_owned(), JOIN_SUBNET.to_string());
    let jtor = LogicalSwitchPort::router(join_to_router(&router.name), &rtoj)
        .with_external_ids(Owner::new(Kind::SwitchPort).tenant(t).into_map());

    Ok(Desired {
        scope: own_scope(t),
        routers: vec![DesiredRouter {
            name: router.name.clone(),
            kind: Kind::TenantRouter,
            row: Some(router),
            ports: vec![port],
            routes: Vec::new(),
            nats: Vec::new(),
        }],
        switches: vec![DesiredSwitch {
            name: join.name.clone(),
            kind: Kind::JoinSwitch,
            row: Some(join),
            ports: vec![jtor],
        }],
    })
}

/// Plans `tenant-init`.
pub fn plan_tenant_init(snap: &Snapshot, spec: &TenantSpec) -> Result<Plan, TopologyError> {
    plan(snap, &tenant_desired(snap, spec)?)
}

/// Plans `tenant-delete`: refuses while the tenant has networks or gateways,
/// unless `cascade`, which deletes them too (with their task ports).
pub fn plan_tenant_delete(
    snap: &Snapshot,
    tenant: &str,
    cascade: bool,
) -> Result<Plan, TopologyError> {
    check_tenant_name(tenant)?;
    if !cascade {
        let mut in_use = Vec::new();
        let nets: Vec<&str> = snap
            .networks_of(tenant)
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        if !nets.is_empty() {
            in_use.push(format!("network(s) {}", nets.join(", ")));
        }
        let gws: Vec<&str> = snap
            .gateways_of(tenant)
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        if !gws.is_empty() {
            in_use.push(format!("gateway(s) {}", gws.join(", ")));
        }
        if !in_use.is_empty() {
            return Err(TopologyError::TenantInUse {
                tenant: tenant.to_owned(),
                in_use,
            });
        }
    }
    plan(
        snap,
        &Desired::nothing(Scope {
            tenant: tenant.to_owned(),
            chassis: Part::Any,
            network: Part::Any,
        }),
    )
}

/// `ovn-mesos tenant-init`: creates or repairs the tenant router and join
/// switch in one transaction; a second run changes nothing.
pub async fn tenant_init(nb: &Client, spec: &TenantSpec) -> Result<Report, TopologyError> {
    check_tenant_name(&spec.name)?;
    let what = format!("tenant-init {}", spec.name);
    commit_nb(nb, &what, |snap| plan_tenant_init(snap, spec)).await
}

/// `ovn-mesos tenant-delete`: removes every row of the tenant's (see
/// [`plan_tenant_delete`]); deleting an absent tenant changes nothing. Load
/// balancers of the tenant's services are left to the services code.
pub async fn tenant_delete(
    nb: &Client,
    tenant: &str,
    cascade: bool,
) -> Result<Report, TopologyError> {
    check_tenant_name(tenant)?;
    let what = format!("tenant-delete {tenant}");
    commit_nb(nb, &what, |snap| plan_tenant_delete(snap, tenant, cascade)).await
}
