//! The pure stage of a service: spec + tenant view -> the exact load balancer
//! row and the routers/switches it must be attached to; then existing rows ->
//! the one transaction that makes the NB match (empty when it already does).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddrV4;

use uuid::Uuid;

use super::view::{Attachable, TenantView};
use super::{ServiceChange, ServiceError, ServiceSpec, EAST_WEST_VIP};
use crate::nb::load_balancer::{
    add_to_router_ops, add_to_switch_ops, create_or_update_load_balancer_ops,
    delete_load_balancer_ops, remove_from_router_ops, remove_from_switch_ops,
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
    /// Switches it must be attached to: the tenant's network switches when
    /// the service has an east-west VIP, else none.
    pub switches: BTreeSet<Uuid>,
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
    if spec.east_west_vip.is_some_and(|v| v.port() == 0) {
        return Err(bad("the east-west VIP port must not be 0"));
    }
    Ok(())
}

/// The exact load balancer row and attachments for `spec` in `view`.
pub(crate) fn desired_service(
    spec: &ServiceSpec,
    view: &TenantView,
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
    if let Some(ew) = spec.east_west_vip {
        vips.insert(ew.to_string(), backends.clone());
        ids = ids.with(EAST_WEST_VIP, ew.to_string());
    }
    let options = [("reject", "true"), ("neighbor_responder", "none")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
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
        switches: match spec.east_west_vip {
            Some(_) => view.switches.iter().map(|s| s.uuid).collect(),
            None => BTreeSet::new(),
        },
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

/// Appends the detach + delete of load balancers no longer wanted.
pub(crate) fn delete_ops(txn: &mut Txn, existing: &[Existing]) {
    for e in existing {
        for r in &e.routers {
            remove_from_router_ops(txn, r.uuid, &[e.lb.uuid]);
        }
        for s in &e.switches {
            remove_from_switch_ops(txn, s.uuid, &[e.lb.uuid]);
        }
        delete_load_balancer_ops(txn, e.lb.uuid);
    }
}

/// The transaction taking `existing` (oldest first) to `desired`: reuse the
/// first existing row (update only differing columns), attach/detach by set
/// difference, delete any twin rows. The transaction is empty when nothing
/// differs.
pub(crate) fn plan(mut desired: DesiredService, existing: &[Existing]) -> (Txn, ServiceChange) {
    let mut txn = Txn::new(NB_DB);
    let keep = existing.first();
    let (have_routers, have_switches): (BTreeSet<Uuid>, BTreeSet<Uuid>) = match keep {
        Some(e) => {
            desired.lb.uuid = e.lb.uuid;
            (
                e.routers.iter().map(|a| a.uuid).collect(),
                e.switches.iter().map(|a| a.uuid).collect(),
            )
        }
        None => {
            guard_absent(&mut txn, &desired.lb);
            Default::default()
        }
    };
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
    for s in desired.switches.difference(&have_switches) {
        add_to_switch_ops(&mut txn, *s, &[uuid]);
    }
    for s in have_switches.difference(&desired.switches) {
        remove_from_switch_ops(&mut txn, *s, &[uuid]);
    }
    delete_ops(&mut txn, existing.get(1..).unwrap_or_default());
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
