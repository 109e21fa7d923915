//! Read-only lookups other parts of ovn-mesos use on the NB cache: a tenant's
//! gateway routers with their chassis and physical address (where service
//! VIPs live), the one switch → tenant/network lookup ([`owned_switch`]),
//! and a network's subnet and router port (what a task port needs: gateway
//! IP and MAC).

use std::net::Ipv4Addr;

use ipnetwork::Ipv4Network;
use uuid::Uuid;

use super::names::{router_to_external, router_to_switch};
use crate::ipam::MacAddr;
use crate::nb::Table;
use crate::nb::{find_all_by_name, list, LogicalRouter, LogicalRouterPort, LogicalSwitch};
use crate::ovsdb::{Cache, Datum};
use crate::owner::{self, Kind};

/// One gateway router of a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayInfo {
    pub router: LogicalRouter,
    /// The chassis (`options:chassis`, the system-id).
    pub chassis: String,
    /// The address on the physical network (`rtoe-<router>`), e.g. 10.10.1.12.
    pub physical_ip: Ipv4Addr,
    /// The same with its prefix, e.g. 10.10.1.12/24.
    pub physical_network: Ipv4Network,
}

/// A tenant network (an owned network switch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkInfo {
    pub tenant: String,
    /// The network's and its switch's name.
    pub name: String,
    pub subnet: Ipv4Network,
    /// The tenant router's address on the network: the tasks' default gateway.
    pub router_ip: Ipv4Addr,
    pub router_mac: MacAddr,
}

fn router_port(cache: &Cache, router: &LogicalRouter, name: &str) -> Option<LogicalRouterPort> {
    router
        .ports
        .iter()
        .filter_map(|u| crate::nb::get::<LogicalRouterPort>(cache, u))
        .find(|p| p.name == name)
}

fn first_network(port: &LogicalRouterPort) -> Option<Ipv4Network> {
    port.networks.iter().find_map(|n| n.parse().ok())
}

/// The tenant's gateway routers, ordered by chassis (`ovn-nbctl lr-list` and
/// `find Logical_Router external_ids:ovn-mesos/kind=gateway-router`). A router
/// without a readable external port is skipped.
pub fn find_gateway_routers(cache: &Cache, tenant: &str) -> Vec<GatewayInfo> {
    let mut out: Vec<GatewayInfo> = list::<LogicalRouter>(cache)
        .into_iter()
        .filter(|r| owner::is_tenant_row(&r.external_ids, Kind::GatewayRouter, tenant))
        .filter_map(|router| {
            let chassis = router
                .chassis()
                .or_else(|| router.external_ids.get(owner::CHASSIS).map(String::as_str))?
                .to_owned();
            let net = first_network(&router_port(
                cache,
                &router,
                &router_to_external(&router.name),
            )?)?;
            Some(GatewayInfo {
                chassis,
                physical_ip: net.ip(),
                physical_network: net,
                router,
            })
        })
        .collect();
    out.sort_by(|a, b| a.chassis.cmp(&b.chassis));
    out
}

/// The physical IPs of the tenant's gateway routers, ordered by chassis:
/// where the tenant's service VIPs live. Empty when the tenant has no
/// gateway (yet).
pub fn gateway_ips(cache: &Cache, tenant: &str) -> Vec<Ipv4Addr> {
    find_gateway_routers(cache, tenant)
        .into_iter()
        .map(|g| g.physical_ip)
        .collect()
}

/// An owned switch (a network, join or external switch) found by name, with
/// the owner keys that say whose it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedSwitch {
    pub uuid: Uuid,
    pub name: String,
    pub kind: Kind,
    pub tenant: String,
    /// The network it is (`ovn-mesos/network`), on network switches.
    pub network: Option<String>,
}

/// The switch → tenant/network lookup: the owned switch named `name`, read
/// through the cache's name index from its `external_ids` alone (its `ports`
/// set is never decoded). A network switch comes before any other kind and,
/// among several (only after a race), the smallest uuid. `None` when no
/// switch of that name was created by ovn-mesos for a tenant.
pub fn owned_switch(cache: &Cache, name: &str) -> Option<OwnedSwitch> {
    let mut found: Vec<OwnedSwitch> = cache
        .find(LogicalSwitch::TABLE, "name", &Datum::string(name))
        .into_iter()
        .filter_map(|(uuid, row)| {
            let ids = row
                .get("external_ids")
                .map(Datum::string_map_value)
                .unwrap_or_default();
            Some(OwnedSwitch {
                uuid,
                name: name.to_owned(),
                kind: owner::kind_of(&ids)?,
                tenant: ids.get(owner::TENANT)?.clone(),
                network: ids.get(owner::NETWORK).cloned(),
            })
        })
        .collect();
    found.sort_by_key(|s| (s.kind != Kind::NetworkSwitch, s.uuid));
    found.into_iter().next()
}

/// The tenant owning switch `switch` (a network, join or external switch).
pub fn tenant_of_switch(cache: &Cache, switch: &str) -> Option<String> {
    owned_switch(cache, switch).map(|s| s.tenant)
}

fn info_of(cache: &Cache, sw: &LogicalSwitch) -> Option<NetworkInfo> {
    if owner::kind_of(&sw.external_ids) != Some(Kind::NetworkSwitch) {
        return None;
    }
    let tenant = sw.external_ids.get(owner::TENANT)?.clone();
    let subnet: Ipv4Network = sw.subnet()?.parse().ok()?;
    let rtos = router_to_switch(&sw.name);
    let port = find_all_by_name::<LogicalRouterPort>(cache, &rtos)
        .into_iter()
        .next()?;
    let router_ip = first_network(&port)?.ip();
    Some(NetworkInfo {
        tenant,
        name: sw.name.clone(),
        subnet,
        router_ip,
        router_mac: port.mac.parse().ok()?,
    })
}

/// The network `switch`: tenant, subnet and router port (`ovn-nbctl
/// get Logical_Switch coke1 other_config:subnet`, `lrp-list`). None for a
/// switch that is not an owned, complete network switch.
pub fn network_info(cache: &Cache, switch: &str) -> Option<NetworkInfo> {
    let owned = owned_switch(cache, switch)?;
    info_of(cache, &crate::nb::get::<LogicalSwitch>(cache, &owned.uuid)?)
}

/// Every complete network, of `tenant` when given, ordered by name.
pub fn list_networks(cache: &Cache, tenant: Option<&str>) -> Vec<NetworkInfo> {
    let mut out: Vec<NetworkInfo> = list::<LogicalSwitch>(cache)
        .iter()
        .filter_map(|sw| info_of(cache, sw))
        .filter(|n| tenant.is_none_or(|t| n.tenant == t))
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The service subnet stored on the tenant router, if the tenant exists and has one.
pub fn tenant_service_subnet(cache: &Cache, tenant: &str) -> Option<Ipv4Network> {
    find_all_by_name::<LogicalRouter>(cache, tenant)
        .into_iter()
        .find(|r| owner::is_tenant_row(&r.external_ids, Kind::TenantRouter, tenant))?
        .external_ids
        .get(owner::SERVICE_SUBNET)?
        .parse()
        .ok()
}

/// The cluster subnet stored on the tenant router, if the tenant exists and has one.
pub fn tenant_cluster_subnet(cache: &Cache, tenant: &str) -> Option<Ipv4Network> {
    find_all_by_name::<LogicalRouter>(cache, tenant)
        .into_iter()
        .find(|r| owner::is_tenant_row(&r.external_ids, Kind::TenantRouter, tenant))?
        .external_ids
        .get(owner::CLUSTER_SUBNET)?
        .parse()
        .ok()
}
