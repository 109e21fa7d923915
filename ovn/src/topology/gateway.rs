//! `gateway-init` / `gateway-delete`: a gateway of a tenant on one chassis.
//! The gateway router `GR_<tenant>_<system-id>` (`options:chassis`) joins the
//! tenant's join switch with an address allocated from 100.64.0.0/16
//! (`rtoj-/jtor-GR_...`), and its external switch `ext_<tenant>_<system-id>`
//! with the physical address (`rtoe-/etor-GR_...`). Routes: the tenant router
//! sends `0.0.0.0/0` to each gateway's join address (ECMP with several
//! gateways); the gateway sends the cluster subnet back to 100.64.0.1 and
//! `0.0.0.0/0` to the default gateway; one SNAT rule maps the cluster subnet
//! to the physical address. The external switch reaches the physical network
//! through a localnet port (localnet mode) or a physical interface plugged into
//! `br-int` (the original `--physical-interface` mode).

use std::net::Ipv4Addr;

use ipnetwork::Ipv4Network;

use super::desired::{Desired, DesiredRouter, DesiredSwitch, Part, Scope};
use super::local_ovs::{plan_ovs, OvsSnapshot, OvsWant};
use super::names::{
    external_switch, external_to_router, gateway_router, join_switch, join_to_router,
    localnet_port, physical_port, router_to_external, router_to_join, tenant_router,
    JOIN_ROUTER_IP, JOIN_SUBNET,
};
use super::plan::{plan, Plan};
use super::snapshot::Snapshot;
use super::validate::{check_name, check_physical, check_subnet, check_tenant_name};
use super::{check_monitored, commit, commit_nb, Report, TopologyError, OVS_TABLES};
use crate::ipam::{mac_for_ip, SubnetIpam};
use crate::nb::{
    LogicalRouter, LogicalRouterPort, LogicalRouterStaticRoute, LogicalSwitch, LogicalSwitchPort,
    Nat,
};
use crate::ovsdb::Client;
use crate::owner::{self, Kind, Owner};

/// How the external switch reaches the physical network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayMode {
    /// A localnet port for `physnet`, mapped on the chassis to `bridge`
    /// (`ovn-bridge-mappings`), which is created if missing, with `interface`
    /// (the physical NIC), if given, as its port.
    Localnet {
        physnet: String,
        bridge: String,
        interface: Option<String>,
    },
    /// The physical interface itself plugged into `br-int`, bound to a VIF
    /// port `<iface>_<system-id>` of the external switch.
    PhysicalInterface { iface: String },
}

/// What `gateway-init` creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewaySpec {
    pub tenant: String,
    /// The tenant's cluster subnet (SNAT source, route back to the tenant
    /// router); None uses the one stored by tenant-init. Given when none is
    /// stored, it is stored on the tenant router.
    pub cluster_subnet: Option<Ipv4Network>,
    /// The gateway's address on the physical network with its prefix, e.g. 10.10.1.12/24.
    pub physical_ip: Ipv4Network,
    /// The physical network's router, e.g. 10.10.1.1.
    pub default_gw: Ipv4Addr,
    pub mode: GatewayMode,
    /// The chassis; None reads `external_ids:system-id` from the local OVS.
    pub system_id: Option<String>,
}

/// What a gateway command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayReport {
    /// `GR_<tenant>_<system-id>`.
    pub router: String,
    pub system_id: String,
    /// The gateway router's join address (None after a delete).
    pub join_ip: Option<Ipv4Addr>,
    /// Changes to the NB.
    pub nb: Report,
    /// Changes to the local OVS (empty without a local OVS client).
    pub ovs: Report,
}

fn scope(tenant: &str, system_id: &str) -> Scope {
    Scope {
        tenant: tenant.to_owned(),
        chassis: Part::Is(system_id.to_owned()),
        network: Part::Absent,
    }
}

/// The gateway's join address: the one it has, else the first free one of
/// 100.64.0.0/16 among the tenant's router ports.
pub fn join_ip_for(
    snap: &Snapshot,
    tenant: &str,
    system_id: &str,
) -> Result<Ipv4Addr, TopologyError> {
    let gr = gateway_router(tenant, system_id);
    if let Some(r) = snap.owned_router(&gr, Kind::GatewayRouter, tenant) {
        let rtoj = router_to_join(&gr);
        if let Some((_, ip)) = snap
            .router_ips_in(r, JOIN_SUBNET)
            .into_iter()
            .find(|(n, _)| *n == rtoj)
        {
            return Ok(ip);
        }
    }
    let full = |source| TopologyError::JoinFull {
        tenant: tenant.to_owned(),
        source,
    };
    let mut ipam = SubnetIpam::new(JOIN_SUBNET).map_err(full)?;
    let routers = snap
        .tenant_router(tenant)
        .into_iter()
        .chain(snap.gateways_of(tenant));
    for r in routers {
        for (_, ip) in snap.router_ips_in(r, JOIN_SUBNET) {
            // The tenant router's 100.64.0.1 is reserved already; a duplicate is not ours to fix.
            let _ = ipam.mark_used(ip);
        }
    }
    ipam.allocate().map_err(full)
}

/// The rows `gateway-init` wants on chassis `system_id`, and the join address.
pub fn gateway_desired(
    snap: &Snapshot,
    spec: &GatewaySpec,
    system_id: &str,
) -> Result<(Desired, Ipv4Addr), TopologyError> {
    let t = spec.tenant.as_str();
    check_tenant_name(t)?;
    check_name("system-id", system_id)?;
    check_mode(&spec.mode)?;
    let Some(tenant_lr) = snap.tenant_router(t) else {
        return Err(TopologyError::UnknownTenant {
            tenant: t.to_owned(),
        });
    };
    if let Some(c) = spec.cluster_subnet {
        check_subnet("cluster subnet", c)?;
    }
    let stored = snap.cluster_subnet(t);
    let cluster = match (stored, spec.cluster_subnet) {
        (Some(s), Some(g)) if s != g => {
            return Err(TopologyError::ClusterSubnetMismatch {
                tenant: t.to_owned(),
                stored: s,
                given: g,
            })
        }
        (Some(s), _) => s,
        (None, Some(g)) => g,
        (None, None) => {
            return Err(TopologyError::NoClusterSubnet {
                tenant: t.to_owned(),
            })
        }
    };
    check_physical(spec.physical_ip, spec.default_gw, Some(cluster))?;
    let join_ip = join_ip_for(snap, t, system_id)?;

    let ids = |kind| {
        Owner::new(kind)
            .tenant(t)
            .with(owner::CHASSIS, system_id)
            .into_map()
    };
    let gr = gateway_router(t, system_id);
    let (rtoj, rtoe) = (router_to_join(&gr), router_to_external(&gr));
    let phys = spec.physical_ip;

    // The tenant router: a default route to this gateway; the cluster subnet
    // stored when it was not yet.
    let tenant_row = stored.is_none().then(|| {
        let mut r = tenant_lr.clone();
        r.external_ids
            .insert(owner::CLUSTER_SUBNET.to_owned(), cluster.to_string());
        r
    });
    let mut default_route = LogicalRouterStaticRoute::new("0.0.0.0/0", join_ip.to_string());
    default_route.external_ids = ids(Kind::Route);

    let mut gr_row = LogicalRouter {
        uuid: uuid::Uuid::new_v4(),
        name: gr.clone(),
        external_ids: ids(Kind::GatewayRouter),
        ..Default::default()
    };
    gr_row
        .options
        .insert("chassis".into(), system_id.to_owned());
    gr_row
        .options
        .insert("lb_force_snat_ip".into(), "router_ip".into());
    let mut gr_join = LogicalRouterPort::new(
        &rtoj,
        mac_for_ip(join_ip).to_string(),
        format!("{join_ip}/{}", JOIN_SUBNET.prefix()),
    );
    gr_join.external_ids = ids(Kind::RouterPort);
    let mut gr_ext =
        LogicalRouterPort::new(&rtoe, mac_for_ip(phys.ip()).to_string(), phys.to_string());
    gr_ext.external_ids = ids(Kind::RouterPort);
    let mut back = LogicalRouterStaticRoute::new(cluster.to_string(), JOIN_ROUTER_IP.to_string());
    back.external_ids = ids(Kind::Route);
    let mut out =
        LogicalRouterStaticRoute::new("0.0.0.0/0", spec.default_gw.to_string()).via_port(&rtoe);
    out.external_ids = ids(Kind::Route);
    let mut snat = Nat::snat(phys.ip().to_string(), cluster.to_string());
    snat.external_ids = ids(Kind::Nat);

    let ext = external_switch(t, system_id);
    let ext_row = LogicalSwitch {
        uuid: uuid::Uuid::new_v4(),
        name: ext.clone(),
        external_ids: ids(Kind::ExternalSwitch),
        ..Default::default()
    };
    let etor = LogicalSwitchPort::router(external_to_router(&gr), &rtoe)
        .with_external_ids(ids(Kind::SwitchPort));
    let uplink = match &spec.mode {
        GatewayMode::Localnet { physnet, .. } => {
            LogicalSwitchPort::localnet(localnet_port(&ext), physnet)
        }
        GatewayMode::PhysicalInterface { iface } => {
            LogicalSwitchPort::unknown_vif(physical_port(iface, system_id))
        }
    }
    .with_external_ids(ids(Kind::SwitchPort));
    let jtor = LogicalSwitchPort::router(join_to_router(&gr), &rtoj)
        .with_external_ids(ids(Kind::SwitchPort));

    let desired = Desired {
        scope: scope(t, system_id),
        routers: vec![
            DesiredRouter {
                name: tenant_router(t),
                kind: Kind::TenantRouter,
                row: tenant_row,
                ports: Vec::new(),
                routes: vec![default_route],
                nats: Vec::new(),
            },
            DesiredRouter {
                name: gr.clone(),
                kind: Kind::GatewayRouter,
                row: Some(gr_row),
                ports: vec![gr_join, gr_ext],
                routes: vec![back, out],
                nats: vec![snat],
            },
        ],
        switches: vec![
            DesiredSwitch {
                name: join_switch(t),
                kind: Kind::JoinSwitch,
                row: None,
                ports: vec![jtor],
            },
            DesiredSwitch {
                name: ext,
                kind: Kind::ExternalSwitch,
                row: Some(ext_row),
                ports: vec![etor, uplink],
            },
        ],
    };
    Ok((desired, join_ip))
}

fn check_mode(mode: &GatewayMode) -> Result<(), TopologyError> {
    match mode {
        GatewayMode::Localnet {
            physnet,
            bridge,
            interface,
        } => {
            check_name("physical network", physnet)?;
            check_name("bridge", bridge)?;
            if let Some(i) = interface {
                check_name("interface", i)?;
            }
        }
        GatewayMode::PhysicalInterface { iface } => check_name("interface", iface)?,
    }
    Ok(())
}

/// Plans `gateway-init` on chassis `system_id`.
pub fn plan_gateway_init(
    snap: &Snapshot,
    spec: &GatewaySpec,
    system_id: &str,
) -> Result<(Plan, Ipv4Addr), TopologyError> {
    let (desired, join_ip) = gateway_desired(snap, spec, system_id)?;
    Ok((plan(snap, &desired)?, join_ip))
}

/// Plans `gateway-delete`: every row of the gateway (router, external switch,
/// its join port and the tenant router's route to it).
pub fn plan_gateway_delete(
    snap: &Snapshot,
    tenant: &str,
    system_id: &str,
) -> Result<Plan, TopologyError> {
    check_tenant_name(tenant)?;
    check_name("system-id", system_id)?;
    plan(snap, &Desired::nothing(scope(tenant, system_id)))
}

/// The chassis: the given one, else the local OVS's `system-id`.
fn resolve_system_id(ovs: Option<&Client>, given: Option<&str>) -> Result<String, TopologyError> {
    if let Some(s) = given {
        check_name("system-id", s)?;
        return Ok(s.to_owned());
    }
    let ovs = ovs.ok_or(TopologyError::NoSystemId)?;
    check_monitored(ovs, &OVS_TABLES)?;
    ovs.read(|c| crate::vswitch::open_vswitch(c).and_then(|o| o.system_id().map(str::to_owned)))
        .ok_or(TopologyError::NoSystemId)
}

fn ovs_want(spec: &GatewaySpec, system_id: &str) -> OvsWant {
    match &spec.mode {
        GatewayMode::Localnet {
            physnet,
            bridge,
            interface,
        } => OvsWant::Localnet {
            physnet: physnet.clone(),
            bridge: bridge.clone(),
            interface: interface.clone(),
        },
        GatewayMode::PhysicalInterface { iface } => OvsWant::BrIntPort {
            iface: iface.clone(),
            iface_id: physical_port(iface, system_id),
        },
    }
}

/// `ovn-mesos gateway-init`: creates or repairs the gateway in one NB
/// transaction, then (with a local OVS client) the chassis side in one OVS
/// transaction. The OVS side is checked before the NB is written, so a
/// refused bridge mapping changes nothing. A second run changes nothing.
pub async fn gateway_init(
    nb: &Client,
    ovs: Option<&Client>,
    spec: &GatewaySpec,
) -> Result<GatewayReport, TopologyError> {
    check_tenant_name(&spec.tenant)?;
    check_mode(&spec.mode)?;
    let system_id = resolve_system_id(ovs, spec.system_id.as_deref())?;
    let want = ovs_want(spec, &system_id);
    if let Some(ovs) = ovs {
        check_monitored(ovs, &OVS_TABLES)?;
        ovs.read(|c| plan_ovs(&OvsSnapshot::from_cache(c), &want))?;
    }
    let router = gateway_router(&spec.tenant, &system_id);
    let what = format!("gateway-init {router}");
    let mut join_ip = None;
    let nb_report = commit_nb(nb, &what, |snap| {
        let (plan, ip) = plan_gateway_init(snap, spec, &system_id)?;
        join_ip = Some(ip);
        Ok(plan)
    })
    .await?;
    let ovs_report = match ovs {
        Some(ovs) => {
            commit(ovs, &OVS_TABLES, &what, |c| {
                plan_ovs(&OvsSnapshot::from_cache(c), &want)
            })
            .await?
        }
        None => Report::default(),
    };
    Ok(GatewayReport {
        router,
        system_id,
        join_ip,
        nb: nb_report,
        ovs: ovs_report,
    })
}

/// `ovn-mesos gateway-delete`: removes the gateway's NB rows in one
/// transaction; with a local OVS client, also unplugs a physical interface
/// bound to the gateway (physical interface mode). Bridge mappings and
/// bridges are left alone (other gateways of the chassis may use them).
pub async fn gateway_delete(
    nb: &Client,
    ovs: Option<&Client>,
    tenant: &str,
    system_id: Option<&str>,
) -> Result<GatewayReport, TopologyError> {
    check_tenant_name(tenant)?;
    let system_id = resolve_system_id(ovs, system_id)?;
    let router = gateway_router(tenant, &system_id);
    let what = format!("gateway-delete {router}");
    let mut vifs: Vec<String> = Vec::new();
    let nb_report = commit_nb(nb, &what, |snap| {
        vifs = snap
            .owned_switch(
                &external_switch(tenant, &system_id),
                Kind::ExternalSwitch,
                tenant,
            )
            .map(|sw| {
                snap.ports_of_switch(sw)
                    .filter(|p| p.type_.is_empty())
                    .map(|p| p.name.clone())
                    .collect()
            })
            .unwrap_or_default();
        plan_gateway_delete(snap, tenant, &system_id)
    })
    .await?;
    let ovs_report = match ovs {
        Some(ovs) if !vifs.is_empty() => {
            let want = OvsWant::NoBrIntPorts { iface_ids: vifs };
            commit(ovs, &OVS_TABLES, &what, |c| {
                plan_ovs(&OvsSnapshot::from_cache(c), &want)
            })
            .await?
        }
        _ => Report::default(),
    };
    Ok(GatewayReport {
        router,
        system_id,
        join_ip: None,
        nb: nb_report,
        ovs: ovs_report,
    })
}
