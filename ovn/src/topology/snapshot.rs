//! The NB rows a topology command reads, as typed rows gathered once from the
//! monitored cache, with the lookups the commands need (by name, by owner,
//! a port's parent). The planner works on a `Snapshot` so it can be unit-tested
//! without a database.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnetwork::Ipv4Network;
use uuid::Uuid;

use crate::nb::{
    LogicalRouter, LogicalRouterPort, LogicalRouterStaticRoute, LogicalSwitch, LogicalSwitchPort,
    Nat, Table,
};
use crate::ovsdb::{Cache, Row};
use crate::owner::{self, Kind};
use crate::report::Chain;

/// The topology tables' rows, by uuid.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub routers: BTreeMap<Uuid, LogicalRouter>,
    pub switches: BTreeMap<Uuid, LogicalSwitch>,
    pub router_ports: BTreeMap<Uuid, LogicalRouterPort>,
    pub switch_ports: BTreeMap<Uuid, LogicalSwitchPort>,
    pub routes: BTreeMap<Uuid, LogicalRouterStaticRoute>,
    pub nats: BTreeMap<Uuid, Nat>,
}

fn collect<'a, T: Table>(rows: impl Iterator<Item = (&'a Uuid, &'a Row)>) -> BTreeMap<Uuid, T> {
    rows.filter_map(|(u, r)| match T::from_row(*u, r) {
        Ok(t) => Some((*u, t)),
        Err(e) => {
            tracing::warn!(table = T::TABLE, uuid = %u, error = %Chain(&e), "skipping malformed row");
            None
        }
    })
    .collect()
}

/// `ovn-mesos/tenant` of an owned row.
pub(crate) fn tenant_of(ids: &BTreeMap<String, String>) -> Option<&str> {
    owner::is_owned(ids)
        .then(|| ids.get(owner::TENANT).map(String::as_str))
        .flatten()
}

/// Who a row belongs to, for error messages.
pub(crate) fn owner_label(ids: &BTreeMap<String, String>) -> String {
    match (owner::kind_of(ids), tenant_of(ids)) {
        (Some(kind), Some(t)) => {
            let mut s = format!("{kind} of tenant {t}");
            if let Some(n) = ids.get(owner::NETWORK) {
                s.push_str(&format!(", network {n}"));
            }
            if let Some(c) = ids.get(owner::CHASSIS) {
                s.push_str(&format!(", chassis {c}"));
            }
            s
        }
        (Some(kind), None) => format!("{kind} without a tenant"),
        _ if owner::is_owned(ids) => "ovn-mesos (unknown kind)".to_owned(),
        _ => "someone else (not created by ovn-mesos)".to_owned(),
    }
}

impl Snapshot {
    /// Reads every topology table from the cache.
    pub fn from_cache(cache: &Cache) -> Snapshot {
        Snapshot {
            routers: collect(cache.table(LogicalRouter::TABLE)),
            switches: collect(cache.table(LogicalSwitch::TABLE)),
            router_ports: collect(cache.table(LogicalRouterPort::TABLE)),
            switch_ports: collect(cache.table(LogicalSwitchPort::TABLE)),
            routes: collect(cache.table(LogicalRouterStaticRoute::TABLE)),
            nats: collect(cache.table(Nat::TABLE)),
        }
    }

    /// Routers named `name`, in uuid order.
    pub fn routers_named(&self, name: &str) -> Vec<&LogicalRouter> {
        self.routers.values().filter(|r| r.name == name).collect()
    }

    /// Switches named `name`, in uuid order.
    pub fn switches_named(&self, name: &str) -> Vec<&LogicalSwitch> {
        self.switches.values().filter(|s| s.name == name).collect()
    }

    /// The owned router of `kind` and `tenant` named `name`.
    pub fn owned_router(&self, name: &str, kind: Kind, tenant: &str) -> Option<&LogicalRouter> {
        self.routers
            .values()
            .find(|r| r.name == name && owner::is_tenant_row(&r.external_ids, kind, tenant))
    }

    /// The owned switch of `kind` and `tenant` named `name`.
    pub fn owned_switch(&self, name: &str, kind: Kind, tenant: &str) -> Option<&LogicalSwitch> {
        self.switches
            .values()
            .find(|s| s.name == name && owner::is_tenant_row(&s.external_ids, kind, tenant))
    }

    /// The switch port named `name` and the switch holding it.
    pub fn switch_port_named(
        &self,
        name: &str,
    ) -> Option<(&LogicalSwitchPort, Option<&LogicalSwitch>)> {
        let port = self.switch_ports.values().find(|p| p.name == name)?;
        let parent = self
            .switches
            .values()
            .find(|s| s.ports.contains(&port.uuid));
        Some((port, parent))
    }

    /// The router port named `name` and the router holding it.
    pub fn router_port_named(
        &self,
        name: &str,
    ) -> Option<(&LogicalRouterPort, Option<&LogicalRouter>)> {
        let port = self.router_ports.values().find(|p| p.name == name)?;
        let parent = self.routers.values().find(|r| r.ports.contains(&port.uuid));
        Some((port, parent))
    }

    /// The ports of `switch` present in the snapshot.
    pub fn ports_of_switch<'a>(
        &'a self,
        switch: &'a LogicalSwitch,
    ) -> impl Iterator<Item = &'a LogicalSwitchPort> {
        switch.ports.iter().filter_map(|u| self.switch_ports.get(u))
    }

    /// The ports of `router` present in the snapshot.
    pub fn ports_of_router<'a>(
        &'a self,
        router: &'a LogicalRouter,
    ) -> impl Iterator<Item = &'a LogicalRouterPort> {
        router.ports.iter().filter_map(|u| self.router_ports.get(u))
    }

    /// The tenant's router, if `tenant-init` has run.
    pub fn tenant_router(&self, tenant: &str) -> Option<&LogicalRouter> {
        self.owned_router(tenant, Kind::TenantRouter, tenant)
    }

    /// The cluster subnet stored on the tenant router.
    pub fn cluster_subnet(&self, tenant: &str) -> Option<Ipv4Network> {
        self.tenant_router(tenant)?
            .external_ids
            .get(owner::CLUSTER_SUBNET)?
            .parse()
            .ok()
    }

    /// The service subnet stored on the tenant router.
    pub fn service_subnet(&self, tenant: &str) -> Option<Ipv4Network> {
        self.tenant_router(tenant)?
            .external_ids
            .get(owner::SERVICE_SUBNET)?
            .parse()
            .ok()
    }

    /// The tenant's network switches, in uuid order.
    pub fn networks_of(&self, tenant: &str) -> Vec<&LogicalSwitch> {
        self.switches
            .values()
            .filter(|s| owner::is_tenant_row(&s.external_ids, Kind::NetworkSwitch, tenant))
            .collect()
    }

    /// The tenant's gateway routers, in uuid order.
    pub fn gateways_of(&self, tenant: &str) -> Vec<&LogicalRouter> {
        self.routers
            .values()
            .filter(|r| owner::is_tenant_row(&r.external_ids, Kind::GatewayRouter, tenant))
            .collect()
    }

    /// The IPv4 addresses of `router`'s ports inside `subnet`.
    pub fn router_ips_in(
        &self,
        router: &LogicalRouter,
        subnet: Ipv4Network,
    ) -> Vec<(String, Ipv4Addr)> {
        self.ports_of_router(router)
            .flat_map(|p| {
                p.networks.iter().filter_map(move |n| {
                    let net: Ipv4Network = n.parse().ok()?;
                    subnet
                        .contains(net.ip())
                        .then(|| (p.name.clone(), net.ip()))
                })
            })
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod sim {
    //! A small in-memory OVSDB for the planner's tests: applies a [`Txn`]'s
    //! operations to a snapshot the way ovsdb-server would (fixed-uuid
    //! inserts, updates and mutations by uuid, name-absent waits, garbage
    //! collection of unreferenced ports, routes and NAT rules).

    use std::collections::BTreeMap;

    use uuid::Uuid;

    use super::*;
    use crate::nb::Writable;
    use crate::ovsdb::{Atom, Datum, Mutator, Operation, Txn, WaitUntil};

    type Raw = BTreeMap<String, BTreeMap<Uuid, Row>>;

    fn to_raw(s: &Snapshot) -> Raw {
        fn put<T: Writable>(raw: &mut Raw, rows: &BTreeMap<Uuid, T>) {
            let t = raw.entry(T::TABLE.to_owned()).or_default();
            for (u, r) in rows {
                t.insert(*u, r.to_row());
            }
        }
        let mut raw = Raw::new();
        put(&mut raw, &s.routers);
        put(&mut raw, &s.switches);
        put(&mut raw, &s.router_ports);
        put(&mut raw, &s.switch_ports);
        put(&mut raw, &s.routes);
        put(&mut raw, &s.nats);
        raw
    }

    fn from_raw(raw: &Raw) -> Snapshot {
        let empty = BTreeMap::new();
        let t = |name: &str| raw.get(name).unwrap_or(&empty).iter();
        Snapshot {
            routers: collect(t(LogicalRouter::TABLE)),
            switches: collect(t(LogicalSwitch::TABLE)),
            router_ports: collect(t(LogicalRouterPort::TABLE)),
            switch_ports: collect(t(LogicalSwitchPort::TABLE)),
            routes: collect(t(LogicalRouterStaticRoute::TABLE)),
            nats: collect(t(Nat::TABLE)),
        }
    }

    fn target(conditions: &[crate::ovsdb::Condition]) -> Uuid {
        conditions[0].value.as_uuid().expect("operations by uuid")
    }

    /// Applies `txn`; Err(reason) when ovsdb-server would reject it.
    pub(crate) fn apply(s: &Snapshot, txn: &Txn) -> Result<Snapshot, String> {
        let mut raw = to_raw(s);
        for (op, _) in &txn.ops {
            match op {
                Operation::Insert {
                    table, row, uuid, ..
                } => {
                    let u = uuid.expect("fixed uuid");
                    let t = raw.entry(table.clone()).or_default();
                    if t.insert(u, row.clone()).is_some() {
                        return Err(format!("duplicate uuid {u}"));
                    }
                }
                Operation::Update {
                    table,
                    conditions,
                    row,
                } => {
                    let r = raw
                        .get_mut(table)
                        .and_then(|t| t.get_mut(&target(conditions)))
                        .ok_or("update of a missing row")?;
                    r.extend(row.clone());
                }
                Operation::Mutate {
                    table,
                    conditions,
                    mutations,
                } => {
                    let r = raw
                        .get_mut(table)
                        .and_then(|t| t.get_mut(&target(conditions)))
                        .ok_or("mutate of a missing row")?;
                    for m in mutations {
                        let col = r.entry(m.column.clone()).or_default();
                        mutate(col, m.mutator, &m.value);
                    }
                }
                Operation::Delete { table, conditions } => {
                    raw.get_mut(table)
                        .and_then(|t| t.remove(&target(conditions)))
                        .ok_or("delete of a missing row")?;
                }
                Operation::Wait {
                    table,
                    conditions,
                    until,
                    rows,
                    ..
                } => {
                    let matching: Vec<&Row> = raw
                        .get(table)
                        .map(|t| {
                            t.iter()
                                .filter(|(u, r)| {
                                    conditions.iter().all(|c| {
                                        if c.column == "_uuid" {
                                            Some(**u) == c.value.as_uuid()
                                        } else {
                                            r.get(&c.column) == Some(&c.value)
                                        }
                                    })
                                })
                                .map(|(_, r)| r)
                                .collect()
                        })
                        .unwrap_or_default();
                    let equal = matching.len() == rows.len()
                        && matching
                            .iter()
                            .zip(rows)
                            .all(|(m, w)| w.iter().all(|(k, v)| m.get(k) == Some(v)));
                    if equal != (*until == WaitUntil::Equal) {
                        return Err(format!("wait on {table} timed out"));
                    }
                }
                other => panic!("unexpected operation {other:?}"),
            }
        }
        gc(&mut raw);
        Ok(from_raw(&raw))
    }

    fn mutate(col: &mut Datum, mutator: Mutator, value: &Datum) {
        match (col, mutator) {
            (Datum::Set(s), Mutator::Insert) => s.extend(value.atoms().cloned()),
            (Datum::Set(s), Mutator::Delete) => {
                for a in value.atoms() {
                    s.remove(a);
                }
            }
            (Datum::Map(m), Mutator::Insert) => {
                if let Datum::Map(add) = value {
                    for (k, v) in add {
                        m.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                }
            }
            (Datum::Map(m), Mutator::Delete) => {
                for a in value.atoms() {
                    m.remove(a);
                }
            }
            (col, _) => panic!("unsupported mutation of {col:?}"),
        }
    }

    fn gc(raw: &mut Raw) {
        let refs = |raw: &Raw, table: &str, column: &str| -> Vec<Uuid> {
            raw.get(table)
                .map(|t| {
                    t.values()
                        .filter_map(|r| r.get(column))
                        .flat_map(|d| d.atoms().filter_map(Atom::as_uuid).collect::<Vec<_>>())
                        .collect()
                })
                .unwrap_or_default()
        };
        let children = [
            (LogicalSwitchPort::TABLE, LogicalSwitch::TABLE, "ports"),
            (LogicalRouterPort::TABLE, LogicalRouter::TABLE, "ports"),
            (
                LogicalRouterStaticRoute::TABLE,
                LogicalRouter::TABLE,
                "static_routes",
            ),
            (Nat::TABLE, LogicalRouter::TABLE, "nat"),
        ];
        for (child, parent, column) in children {
            let live = refs(raw, parent, column);
            if let Some(t) = raw.get_mut(child) {
                t.retain(|u, _| live.contains(u));
            }
        }
    }
}
