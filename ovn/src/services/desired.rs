//! The pure stage of a service: spec + tenant view -> the exact load balancer
//! row and the routers/switches it must be attached to; then existing rows ->
//! the one transaction that makes the NB match (empty when it already does).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddrV4;

use uuid::Uuid;

use std::net::Ipv4Addr;

use super::fabric::{fabric_ops, Fabric};
use super::view::{Attachable, TenantView};
use super::{hairpin_ip, ClusterIp, ServiceChange, ServiceError, ServiceSpec, CLUSTER_IP};
use crate::nb::dns::set_records_ops;
use crate::nb::load_balancer::{
    add_to_router_ops, create_or_update_load_balancer_ops, delete_load_balancer_ops,
    remove_from_router_ops, remove_from_switch_ops,
};
use crate::nb::load_balancer_group::{
    add_load_balancers_to_group_ops, remove_load_balancers_from_group_ops,
};
use crate::nb::{insert_ops, LoadBalancer, LoadBalancerHealthCheck, Table, NB_DB};
use crate::ovsdb::{Condition, Datum, Expect, Operation, Txn, WaitUntil};
use crate::owner::{self, Kind, Owner};

/// The load balancer name of a service: `<tenant>_<service>_<protocol>`, e.g.
/// `coke_web_tcp` (what `ovn-nbctl lb-list` shows). Rows are found by their
/// ownership `external_ids`, never by this name.
pub fn load_balancer_name(spec: &ServiceSpec) -> String {
    format!("{}_{}_{}", spec.tenant, spec.name, spec.protocol)
}

/// The `vips` value for a backend set: sorted, without duplicates,
/// comma-separated (`192.168.1.2:80,192.168.1.3:80`); empty for no backends.
pub fn backends_value(backends: &[SocketAddrV4]) -> String {
    let set: BTreeSet<&SocketAddrV4> = backends.iter().collect();
    set.into_iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Parses a `vips` value back into backends ("" is none).
pub fn parse_backends(value: &str) -> Result<Vec<SocketAddrV4>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<SocketAddrV4>()
                .map_err(|_| format!("backend {s:?} is not IPv4:port"))
        })
        .collect()
}

/// The rows a service should have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DesiredService {
    /// The load balancer (its uuid is a fresh one until [`plan`] reuses the
    /// existing row's).
    pub lb: LoadBalancer,
    /// Routers it must be attached to: every gateway router of the tenant.
    pub routers: BTreeSet<Uuid>,
    /// Its cluster IP, and whether it is newly taken (then the transaction
    /// guards against another service taking it meanwhile).
    pub cluster_ip: Option<(Ipv4Addr, bool)>,
    /// Its DNS name (only with a cluster IP).
    pub dns_name: Option<String>,
    /// Its health check rows, one per VIP (uuids fresh until [`plan`] finds
    /// the existing rows equal); none without OVN health checks.
    pub health_checks: Vec<LoadBalancerHealthCheck>,
}

/// The `ip_port_mappings` and health check rows of `spec` (one per VIP of
/// `vips`), or none when OVN health checks are off, or when a backend's
/// switch has no reserved source address: a backend without a mapping
/// would be left out of the flows, so then there are no checks at all.
fn health_rows(
    spec: &ServiceSpec,
    view: &TenantView,
    vips: &BTreeMap<String, String>,
    ids: &BTreeMap<String, String>,
) -> (BTreeMap<String, String>, Vec<LoadBalancerHealthCheck>) {
    let Some(health) = &spec.health else {
        return Default::default();
    };
    let mut mappings = BTreeMap::new();
    for backend in &spec.backends {
        let ip = backend.ip();
        let source = health.ports.get(ip).and_then(|p| {
            let switch = view.switches.iter().find(|s| s.name == p.switch)?;
            Some((p, switch.monitor_ip?))
        });
        let Some((port, source)) = source else {
            tracing::warn!(
                service = %spec.key(),
                backend = %ip,
                "no OVN health checks: the backend's port or its switch's reserved source address is unknown"
            );
            return Default::default();
        };
        mappings.insert(ip.to_string(), format!("{}:{source}", port.port));
    }
    let options: BTreeMap<String, String> = [
        ("interval", health.interval),
        ("timeout", health.timeout),
        ("success_count", health.success_count),
        ("failure_count", health.failure_count),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_string()))
    .collect();
    let checks = vips
        .keys()
        .map(|vip| LoadBalancerHealthCheck {
            uuid: Uuid::new_v4(),
            vip: vip.clone(),
            options: options.clone(),
            external_ids: ids.clone(),
        })
        .collect();
    (mappings, checks)
}

/// Whether two sets of health check rows say the same (uuids aside).
fn same_checks(a: &[LoadBalancerHealthCheck], b: &[LoadBalancerHealthCheck]) -> bool {
    let key =
        |c: &LoadBalancerHealthCheck| (c.vip.clone(), c.options.clone(), c.external_ids.clone());
    let (mut a, mut b): (Vec<_>, Vec<_>) =
        (a.iter().map(key).collect(), b.iter().map(key).collect());
    a.sort();
    b.sort();
    a == b
}

/// Checks what no NB state can fix.
pub(crate) fn validate(spec: &ServiceSpec) -> Result<(), ServiceError> {
    let bad = |reason: &str| ServiceError::InvalidSpec {
        service: spec.key().to_string(),
        reason: reason.to_owned(),
    };
    if spec.tenant.is_empty() || spec.name.is_empty() {
        return Err(bad("tenant and service name must not be empty"));
    }
    if spec.port == 0 {
        return Err(bad("the VIP port must not be 0"));
    }
    if spec.dns_name.is_some() && spec.cluster_ip.is_none() {
        return Err(bad("a DNS name needs a cluster IP"));
    }
    Ok(())
}

/// The cluster IPs held by the tenant's services, read only when needed
/// (a new address, a fixed one): the one a service's row holds is kept
/// without reading them, so a backend change costs no scan.
pub(crate) type Taken<'a> = &'a dyn Fn() -> BTreeMap<Ipv4Addr, String>;

/// The cluster IP of `spec`: a fixed one if usable; else the one its load
/// balancer holds if still in the subnet (it was guarded when taken);
/// else the lowest free address of the service subnet. Usable: in the
/// subnet, not its network, broadcast or hairpin address, and held by no
/// other service of the tenant (`taken`).
fn cluster_ip(
    spec: &ServiceSpec,
    view: &TenantView,
    held: Option<&LoadBalancer>,
    taken: Taken<'_>,
) -> Result<Option<(Ipv4Addr, bool)>, ServiceError> {
    let Some(want) = spec.cluster_ip else {
        return Ok(None);
    };
    let subnet = view.service_subnet;
    let reserved = [subnet.network(), subnet.broadcast(), hairpin_ip(subnet)];
    let in_range = |ip: Ipv4Addr| subnet.contains(ip) && !reserved.contains(&ip);
    let held = held
        .and_then(|lb| lb.external_ids.get(CLUSTER_IP))
        .and_then(|ip| ip.parse::<Ipv4Addr>().ok());
    let chosen = match want {
        ClusterIp::Fixed(ip) if held == Some(ip) && in_range(ip) => ip,
        ClusterIp::Fixed(ip) => {
            let taken = taken();
            if !in_range(ip) || taken.get(&ip).is_some_and(|holder| *holder != spec.name) {
                return Err(ServiceError::InvalidSpec {
                    service: spec.key().to_string(),
                    reason: format!(
                        "cluster IP {ip} is outside service subnet {subnet}, reserved, or another service's"
                    ),
                });
            }
            ip
        }
        ClusterIp::Allocate => match held.filter(|ip| in_range(*ip)) {
            Some(ip) => ip,
            None => {
                let taken = taken();
                subnet
                    .iter()
                    .find(|ip| {
                        in_range(*ip) && taken.get(ip).is_none_or(|holder| *holder == spec.name)
                    })
                    .ok_or_else(|| ServiceError::ServiceSubnetFull {
                        tenant: spec.tenant.clone(),
                        service: spec.name.clone(),
                        subnet,
                    })?
            }
        },
    };
    Ok(Some((chosen, held != Some(chosen))))
}

/// The exact load balancer row and attachments for `spec` in `view`.
pub(crate) fn desired_service(
    spec: &ServiceSpec,
    view: &TenantView,
    held: Option<&LoadBalancer>,
    taken: Taken<'_>,
) -> Result<DesiredService, ServiceError> {
    validate(spec)?;
    if !view.exists {
        return Err(ServiceError::UnknownTenant {
            tenant: spec.tenant.clone(),
        });
    }
    if view.gateways.is_empty() {
        return Err(ServiceError::NoGateway {
            tenant: spec.tenant.clone(),
        });
    }
    let backends = backends_value(&spec.backends);
    let mut vips = BTreeMap::new();
    for gw in &view.gateways {
        vips.insert(
            SocketAddrV4::new(gw.ip, spec.port).to_string(),
            backends.clone(),
        );
    }
    let mut ids = Owner::new(Kind::LoadBalancer)
        .tenant(&spec.tenant)
        .with(owner::SERVICE, &spec.name);
    let mut options: BTreeMap<String, String> =
        [("reject", "true"), ("neighbor_responder", "none")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
    let cluster_ip = cluster_ip(spec, view, held, taken)?;
    if let Some((ip, _)) = cluster_ip {
        vips.insert(
            SocketAddrV4::new(ip, spec.port).to_string(),
            backends.clone(),
        );
        ids = ids.with(CLUSTER_IP, ip.to_string());
        options.insert(
            "hairpin_snat_ip".to_owned(),
            hairpin_ip(view.service_subnet).to_string(),
        );
    }
    let external_ids = ids.into_map();
    let (ip_port_mappings, health_checks) = health_rows(spec, view, &vips, &external_ids);
    let lb = LoadBalancer {
        uuid: Uuid::new_v4(),
        name: load_balancer_name(spec),
        vips,
        protocol: Some(spec.protocol.as_str().to_owned()),
        options,
        external_ids,
        health_check: health_checks.iter().map(|c| c.uuid).collect(),
        ip_port_mappings,
    };
    Ok(DesiredService {
        lb,
        routers: view.gateways.iter().map(|g| g.router.uuid).collect(),
        cluster_ip,
        dns_name: spec.dns_name.clone(),
        health_checks,
    })
}

/// An owned load balancer of the service as it is now, with the routers and
/// switches that refer to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Existing {
    pub lb: LoadBalancer,
    pub routers: Vec<Attachable>,
    pub switches: Vec<Attachable>,
    /// The health check rows its `health_check` column refers to.
    pub health_checks: Vec<LoadBalancerHealthCheck>,
}

/// Appends a guard that aborts the transaction (a retryable "timed out") if
/// an owned load balancer of this service appeared meanwhile, so two
/// concurrent creators cannot make twins.
fn guard_absent(txn: &mut Txn, lb: &LoadBalancer) {
    let keys = [owner::OWNER, owner::KIND, owner::TENANT, owner::SERVICE];
    let ids: BTreeMap<&String, &String> = lb
        .external_ids
        .iter()
        .filter(|(k, _)| keys.contains(&k.as_str()))
        .collect();
    txn.push(
        Operation::Wait {
            table: LoadBalancer::TABLE.to_owned(),
            conditions: vec![Condition::includes(
                "external_ids",
                Datum::string_map(ids.into_iter()),
            )],
            columns: vec!["name".to_owned()],
            until: WaitUntil::Equal,
            rows: Vec::new(),
            timeout_ms: Some(0),
        },
        Expect::Any,
    );
}

/// Appends a guard that aborts the transaction (retryably) if a load
/// balancer of the tenant took cluster IP `ip` meanwhile.
fn guard_cluster_ip(txn: &mut Txn, tenant: &str, ip: Ipv4Addr) {
    let ids = Owner::new(Kind::LoadBalancer)
        .tenant(tenant)
        .with(CLUSTER_IP, ip.to_string())
        .into_map();
    txn.push(
        Operation::Wait {
            table: LoadBalancer::TABLE.to_owned(),
            conditions: vec![Condition::includes(
                "external_ids",
                Datum::string_map(ids.iter()),
            )],
            columns: vec!["name".to_owned()],
            until: WaitUntil::Equal,
            rows: Vec::new(),
            timeout_ms: Some(0),
        },
        Expect::Any,
    );
}

/// The DNS names of `fabric` that point at one of `ips`.
fn names_of(fabric: &Fabric, ips: &[String]) -> Vec<String> {
    fabric
        .records
        .iter()
        .filter(|(_, v)| ips.contains(v))
        .map(|(k, _)| k.clone())
        .collect()
}

/// Appends the detach + delete of load balancers no longer wanted: out of
/// every router, switch and the tenant's group, their names out of its
/// DNS row.
/// A name in `keep` stays (the surviving row's, when twins go).
pub(crate) fn delete_ops(
    txn: &mut Txn,
    existing: &[Existing],
    fabric: Option<&Fabric>,
    keep: Option<&str>,
) {
    let mut held = Vec::new();
    for e in existing {
        for r in &e.routers {
            remove_from_router_ops(txn, r.uuid, &[e.lb.uuid]);
        }
        for s in &e.switches {
            remove_from_switch_ops(txn, s.uuid, &[e.lb.uuid]);
        }
        if let Some(f) = fabric.filter(|f| f.members.contains(&e.lb.uuid)) {
            remove_load_balancers_from_group_ops(txn, f.group, &[e.lb.uuid]);
        }
        delete_load_balancer_ops(txn, e.lb.uuid);
        held.extend(e.lb.external_ids.get(CLUSTER_IP).cloned());
    }
    if let Some((f, dns)) = fabric.and_then(|f| Some((f, f.dns?))) {
        let names: Vec<String> = names_of(f, &held)
            .into_iter()
            .filter(|n| keep != Some(n.as_str()))
            .collect();
        set_records_ops(txn, dns, &BTreeMap::new(), &names);
    }
}

/// The transaction taking `existing` (oldest first) to `desired`: reuse the
/// first existing row (update only differing columns), attach/detach by set
/// difference, delete any twin rows. A service with a cluster IP also gets
/// the tenant's fabric (created or attached where missing), membership of
/// its load balancer group and its DNS name. The transaction is empty when
/// nothing differs.
pub(crate) fn plan(
    mut desired: DesiredService,
    existing: &[Existing],
    view: &TenantView,
) -> (Txn, ServiceChange) {
    let mut txn = Txn::new(NB_DB);
    let keep = existing.first();
    let have_routers: BTreeSet<Uuid> = match keep {
        Some(e) => {
            desired.lb.uuid = e.lb.uuid;
            e.routers.iter().map(|a| a.uuid).collect()
        }
        None => {
            guard_absent(&mut txn, &desired.lb);
            BTreeSet::new()
        }
    };
    if let Some((ip, true)) = desired.cluster_ip {
        guard_cluster_ip(&mut txn, &desired.lb.external_ids[owner::TENANT], ip);
    }
    let uuid = desired.lb.uuid;
    match keep {
        // the same checks: keep the rows (and the column) as they are
        Some(e) if same_checks(&e.health_checks, &desired.health_checks) => {
            desired.lb.health_check = e.lb.health_check.clone();
        }
        // new rows; the old ones, no longer referred to, go with the update
        _ => {
            for check in &desired.health_checks {
                insert_ops(&mut txn, check);
            }
        }
    }
    create_or_update_load_balancer_ops(&mut txn, keep.map(|e| &e.lb), &desired.lb);
    for r in desired.routers.difference(&have_routers) {
        add_to_router_ops(&mut txn, *r, &[uuid]);
    }
    for r in have_routers.difference(&desired.routers) {
        remove_from_router_ops(&mut txn, *r, &[uuid]);
    }
    // the east-west VIP reaches switches through the group only
    for s in keep.map(|e| e.switches.as_slice()).unwrap_or_default() {
        remove_from_switch_ops(&mut txn, s.uuid, &[uuid]);
    }
    let tenant = desired.lb.external_ids[owner::TENANT].clone();
    let fabric = match desired.cluster_ip {
        Some(_) => Some(fabric_ops(&mut txn, &tenant, view)),
        None => Fabric::existing(view),
    };
    if let Some(f) = &fabric {
        let member = f.members.contains(&uuid);
        match desired.cluster_ip {
            Some(_) if !member => add_load_balancers_to_group_ops(&mut txn, f.group, &[uuid]),
            None if member => remove_load_balancers_from_group_ops(&mut txn, f.group, &[uuid]),
            _ => {}
        }
        // its names: those pointing at the addresses it held or holds,
        // except the one wanted
        let mut ips: Vec<String> = keep
            .and_then(|e| e.lb.external_ids.get(CLUSTER_IP).cloned())
            .into_iter()
            .collect();
        let want = desired
            .cluster_ip
            .zip(desired.dns_name.as_ref())
            .map(|((ip, _), name)| (name.clone(), ip.to_string()));
        ips.extend(want.as_ref().map(|(_, ip)| ip.clone()));
        let mut set = BTreeMap::new();
        let remove: Vec<String> = names_of(f, &ips)
            .into_iter()
            .filter(|n| want.as_ref().is_none_or(|(w, _)| w != n))
            .collect();
        if let Some((name, ip)) = want {
            if f.records.get(&name) != Some(&ip) {
                set.insert(name, ip);
            }
        }
        if let Some(dns) = f.dns {
            set_records_ops(&mut txn, dns, &set, &remove);
        }
    }
    delete_ops(
        &mut txn,
        existing.get(1..).unwrap_or_default(),
        fabric.as_ref(),
        desired.dns_name.as_deref(),
    );
    let change = match (keep, txn.is_empty()) {
        (None, _) => ServiceChange::Created { uuid },
        (Some(_), false) => ServiceChange::Updated { uuid },
        (Some(_), true) => ServiceChange::Unchanged { uuid },
    };
    (txn, change)
}

#[cfg(test)]
#[path = "desired_tests.rs"]
mod tests;
