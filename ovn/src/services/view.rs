//! What the services code reads from the NB cache: a tenant's gateway routers
//! (with their physical address) and network switches, the owned service load
//! balancers, and which routers and switches refer to a load balancer.
//!
//! Gateways come from [`crate::topology::find_gateway_routers`] (a gateway
//! router without a readable external address is not a gateway yet). Switches
//! are read by ownership keys ([`crate::owner`]) decoding only `name` and
//! `load_balancer`, so a switch's (possibly huge) `ports` set is never parsed.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use uuid::Uuid;

use ipnetwork::Ipv4Network;

use super::Protocol;
use crate::nb::{
    find_by_name, Dns, LoadBalancer, LoadBalancerGroup, LogicalRouter, LogicalSwitch, Table,
};
use crate::ovsdb::{Cache, Datum, Row};
use crate::owner::{self, Kind};
use crate::topology::{find_gateway_routers, tenant_service_subnet, DEFAULT_SERVICE_SUBNET};

/// A router or switch a load balancer can be attached to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attachable {
    pub uuid: Uuid,
    pub name: String,
    /// Its `load_balancer` column.
    pub load_balancers: Vec<Uuid>,
    /// A network switch's reserved health-check source address
    /// (`external_ids:ovn-mesos/svc-monitor-ip`); `None` for routers.
    pub monitor_ip: Option<Ipv4Addr>,
    /// A switch's `load_balancer_group` column.
    pub groups: Vec<Uuid>,
    /// A switch's `dns_records` column.
    pub dns_records: Vec<Uuid>,
}

/// A gateway router of a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Gateway {
    pub router: Attachable,
    /// The address of its external port (`rtoe-<router>`).
    pub ip: Ipv4Addr,
}

/// The parts of a tenant's topology services use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TenantView {
    /// True when the tenant's router exists.
    pub exists: bool,
    pub gateways: Vec<Gateway>,
    pub switches: Vec<Attachable>,
    /// Where its services' cluster IPs come from (the tenant router's
    /// `ovn-mesos/service-subnet`, else the default).
    pub service_subnet: Ipv4Network,
    /// Its load balancer group ([`super::fabric::group_name`]).
    pub group: Option<LoadBalancerGroup>,
    /// Its DNS row (the oldest, when several).
    pub dns: Option<Dns>,
    /// Every DNS row it owns, in uuid order.
    pub all_dns: Vec<Dns>,
}

impl Default for TenantView {
    fn default() -> Self {
        TenantView {
            exists: false,
            gateways: Vec::new(),
            switches: Vec::new(),
            service_subnet: DEFAULT_SERVICE_SUBNET,
            group: None,
            dns: None,
            all_dns: Vec::new(),
        }
    }
}

fn external_ids(row: &Row) -> BTreeMap<String, String> {
    row.get("external_ids")
        .map(Datum::string_map_value)
        .unwrap_or_default()
}

fn attachable(uuid: Uuid, row: &Row) -> Attachable {
    Attachable {
        uuid,
        name: row
            .get("name")
            .and_then(Datum::as_str)
            .unwrap_or_default()
            .to_owned(),
        load_balancers: row
            .get("load_balancer")
            .map(Datum::uuids)
            .unwrap_or_default(),
        monitor_ip: external_ids(row)
            .get(super::SVC_MONITOR_IP)
            .and_then(|ip| ip.parse().ok()),
        groups: row
            .get("load_balancer_group")
            .map(Datum::uuids)
            .unwrap_or_default(),
        dns_records: row.get("dns_records").map(Datum::uuids).unwrap_or_default(),
    }
}

/// Every logical switch, read as [`Attachable`].
pub(crate) fn all_switches(cache: &Cache) -> Vec<Attachable> {
    cache
        .table(LogicalSwitch::TABLE)
        .map(|(u, row)| attachable(*u, row))
        .collect()
}

/// Rows of `table` owned as `kind` by `tenant`, in uuid order.
fn tenant_rows<'a>(
    cache: &'a Cache,
    table: &'static str,
    kind: Kind,
    tenant: &'a str,
) -> impl Iterator<Item = (Uuid, &'a Row)> + 'a {
    cache
        .table(table)
        .filter(move |(_, row)| owner::is_tenant_row(&external_ids(row), kind, tenant))
        .map(|(u, row)| (*u, row))
}

/// The tenant's router, gateway routers and network switches.
pub(crate) fn tenant_view(cache: &Cache, tenant: &str) -> TenantView {
    let exists = tenant_rows(cache, LogicalRouter::TABLE, Kind::TenantRouter, tenant)
        .next()
        .is_some();
    let gateways = find_gateway_routers(cache, tenant)
        .into_iter()
        .map(|g| Gateway {
            router: Attachable {
                uuid: g.router.uuid,
                name: g.router.name,
                load_balancers: g.router.load_balancer,
                monitor_ip: None,
                groups: Vec::new(),
                dns_records: Vec::new(),
            },
            ip: g.physical_ip,
        })
        .collect();
    let switches = tenant_rows(cache, LogicalSwitch::TABLE, Kind::NetworkSwitch, tenant)
        .map(|(u, row)| attachable(u, row))
        .collect();
    let all_dns: Vec<Dns> = tenant_rows(cache, Dns::TABLE, Kind::Dns, tenant)
        .filter_map(|(u, row)| Dns::from_row(u, row).ok())
        .collect();
    TenantView {
        exists,
        gateways,
        switches,
        service_subnet: tenant_service_subnet(cache, tenant).unwrap_or(DEFAULT_SERVICE_SUBNET),
        group: find_by_name::<LoadBalancerGroup>(cache, &super::fabric::group_name(tenant)),
        dns: all_dns.first().cloned(),
        all_dns,
    }
}

/// The cluster IPs the tenant's service load balancers hold, with the
/// service holding each. Reads only each row's `external_ids` (a large
/// `vips` map is never parsed).
pub(crate) fn cluster_ips(cache: &Cache, tenant: &str) -> BTreeMap<Ipv4Addr, String> {
    cache
        .table(LoadBalancer::TABLE)
        .filter_map(|(_, row)| {
            let ids = external_ids(row);
            if owner::kind_of(&ids) != Some(Kind::LoadBalancer)
                || ids.get(owner::TENANT).map(String::as_str) != Some(tenant)
            {
                return None;
            }
            let ip = ids.get(owner::CLUSTER_IP)?.parse().ok()?;
            Some((ip, ids.get(owner::SERVICE)?.clone()))
        })
        .collect()
}

/// Every owned service load balancer (malformed rows are logged and skipped).
pub(crate) fn service_load_balancers(cache: &Cache) -> Vec<LoadBalancer> {
    crate::nb::list::<LoadBalancer>(cache)
        .into_iter()
        .filter(|lb| {
            owner::kind_of(&lb.external_ids) == Some(Kind::LoadBalancer)
                && lb.external_ids.contains_key(owner::SERVICE)
        })
        .collect()
}

/// The tenant and service an owned load balancer belongs to.
pub(crate) fn service_of(lb: &LoadBalancer) -> (&str, &str) {
    let get = |k: &str| lb.external_ids.get(k).map(String::as_str).unwrap_or("");
    (get(owner::TENANT), get(owner::SERVICE))
}

/// The owned load balancers of one service, in uuid order (normally one; two
/// only after concurrent creators raced, which ensure repairs). Looked up
/// by the names ovn-mesos gives them (the cache indexes names), so a
/// change costs the same with a thousand services; a row renamed by hand
/// is still found by a scan of every load balancer when the names give
/// none.
pub(crate) fn load_balancers_of(cache: &Cache, tenant: &str, name: &str) -> Vec<LoadBalancer> {
    let ours = |lb: &LoadBalancer| {
        owner::kind_of(&lb.external_ids) == Some(Kind::LoadBalancer)
            && service_of(lb) == (tenant, name)
    };
    let mut found: Vec<LoadBalancer> = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp]
        .into_iter()
        .flat_map(|p| {
            let lb_name = format!("{tenant}_{name}_{p}");
            crate::nb::find_all_by_name::<LoadBalancer>(cache, &lb_name)
        })
        .filter(ours)
        .collect();
    if found.is_empty() {
        found = service_load_balancers(cache)
            .into_iter()
            .filter(ours)
            .collect();
    }
    found.sort_by_key(|lb| lb.uuid);
    found
}

/// Routers and switches whose `load_balancer` column refers to `lb`.
pub(crate) fn attached_to(cache: &Cache, lb: Uuid) -> (Vec<Attachable>, Vec<Attachable>) {
    let scan = |table: &str| -> Vec<Attachable> {
        cache
            .table(table)
            .map(|(u, row)| attachable(*u, row))
            .filter(|a| a.load_balancers.contains(&lb))
            .collect()
    };
    (scan(LogicalRouter::TABLE), scan(LogicalSwitch::TABLE))
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Raw NB rows for the services unit tests.

    use super::*;
    use crate::owner::Owner;

    pub(crate) fn row(pairs: Vec<(&str, Datum)>) -> Row {
        pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }

    pub(crate) fn ids(kind: Kind, tenant: &str) -> Datum {
        Datum::string_map(Owner::new(kind).tenant(tenant).as_map())
    }

    pub(crate) fn router(
        name: &str,
        kind: Kind,
        tenant: &str,
        ports: &[Uuid],
        lbs: &[Uuid],
    ) -> Row {
        // A gateway router is pinned to chassis `ch1`.
        row(vec![
            ("name", Datum::string(name)),
            ("options", Datum::map([("chassis", "ch1")])),
            ("ports", Datum::set(ports.iter().copied())),
            ("load_balancer", Datum::set(lbs.iter().copied())),
            ("external_ids", ids(kind, tenant)),
        ])
    }

    pub(crate) fn router_port(name: &str, network: &str) -> Row {
        row(vec![
            ("name", Datum::string(name)),
            ("networks", Datum::set([network])),
        ])
    }

    pub(crate) fn switch(name: &str, tenant: &str, lbs: &[Uuid]) -> Row {
        row(vec![
            ("name", Datum::string(name)),
            ("load_balancer", Datum::set(lbs.iter().copied())),
            ("external_ids", ids(Kind::NetworkSwitch, tenant)),
        ])
    }
}
