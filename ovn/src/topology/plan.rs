//! The planner: desired state + snapshot -> the operations of ONE transaction.
//! Level-triggered, as ovn-kubernetes' ensure: managed parents are inserted or
//! have their differing columns updated; children (ports, routes, NAT) are
//! matched by name or key, updated in place when they differ, inserted when
//! missing; owned rows of the command's scope that are not desired are deleted.
//! When the database already matches, the transaction is empty.
//!
//! Concurrency: a new router or switch is guarded by a `wait` for "no row with
//! this name" (OVN does not index those names); adding children to an existing
//! parent is guarded by a `wait` on the parent's reference column as read, so
//! two racing commands cannot both add a default route or take the same join
//! address. Port names are indexed by OVN itself. Every insert has a fixed uuid.

use std::collections::BTreeSet;

use uuid::Uuid;

use super::desired::{Desired, DesiredRouter, DesiredSwitch, Scope};
use super::matching::{describe_nat, describe_route, lrp_elsewhere, lsp_elsewhere, ChildKind};
use super::report::{Action, Report};
use super::snapshot::Snapshot;
use super::TopologyError;
use crate::nb::logical_router::{
    add_router_refs_ops, delete_router_ops, remove_router_refs_ops, RouterRefs,
};
use crate::nb::logical_switch::{add_ports_ops, delete_switch_ops, remove_ports_ops};
use crate::nb::{
    self, guard_name_absent, insert_ops, update_ops, LogicalRouter, LogicalRouterPort,
    LogicalRouterStaticRoute, LogicalSwitch, LogicalSwitchPort, Nat, Table, NB_DB,
};
use crate::ovsdb::{Datum, Row, Txn};

/// The transaction of one command and what it changes.
#[derive(Debug, Clone)]
pub struct Plan {
    pub txn: Txn,
    pub report: Report,
}

impl Plan {
    /// The transaction, or None when there is nothing to do.
    pub fn into_txn(self) -> Option<Txn> {
        (!self.txn.is_empty()).then_some(self.txn)
    }
}

/// Plans the transaction that makes `snap` match `desired`.
pub fn plan(snap: &Snapshot, desired: &Desired) -> Result<Plan, TopologyError> {
    let mut p = Planner {
        snap,
        scope: &desired.scope,
        txn: Txn::new(NB_DB),
        report: Report::default(),
    };
    for d in &desired.routers {
        p.router(d)?;
    }
    for d in &desired.switches {
        p.switch(d)?;
    }
    let routers: BTreeSet<&str> = desired.routers.iter().map(|d| d.name.as_str()).collect();
    let switches: BTreeSet<&str> = desired.switches.iter().map(|d| d.name.as_str()).collect();
    for r in snap
        .routers
        .values()
        .filter(|r| !routers.contains(r.name.as_str()))
    {
        p.undesired_router(r);
    }
    for s in snap
        .switches
        .values()
        .filter(|s| !switches.contains(s.name.as_str()))
    {
        p.undesired_switch(s);
    }
    Ok(Plan {
        txn: p.txn,
        report: p.report,
    })
}

pub(super) struct Planner<'a> {
    pub snap: &'a Snapshot,
    pub scope: &'a Scope,
    pub txn: Txn,
    pub report: Report,
}

impl<'a> Planner<'a> {
    fn router(&mut self, d: &DesiredRouter) -> Result<(), TopologyError> {
        let snap = self.snap;
        let (existing, duplicates) = self.pick(snap.routers_named(&d.name), d.kind, &d.name)?;
        for u in duplicates {
            delete_router_ops(&mut self.txn, u);
        }
        let Some(existing) = existing else {
            let Some(row) = &d.row else {
                return Err(TopologyError::Missing {
                    table: LogicalRouter::TABLE,
                    name: d.name.clone(),
                });
            };
            return self.new_router(d, row);
        };
        if let Some(row) = &d.row {
            if update_ops(
                &mut self.txn,
                existing,
                row,
                nb::logical_router::UPDATE_COLUMNS,
            ) {
                self.report
                    .push(Action::Updated, LogicalRouter::TABLE, &d.name);
            }
        }
        let mut sub = Txn::new(NB_DB);
        let ports = self.children(
            &mut sub,
            &d.name,
            snap.ports_of_router(existing).collect(),
            &d.ports,
            ChildKind {
                key: &|p: &LogicalRouterPort| p.name.clone(),
                ids: &|p: &LogicalRouterPort| &p.external_ids,
                elsewhere: &|p: &LogicalRouterPort| lrp_elsewhere(snap, p),
                columns: nb::logical_router_port::UPDATE_COLUMNS,
            },
        )?;
        let routes = self.children(
            &mut sub,
            &d.name,
            existing
                .static_routes
                .iter()
                .filter_map(|u| snap.routes.get(u))
                .collect(),
            &d.routes,
            ChildKind {
                key: &|r: &LogicalRouterStaticRoute| describe_route(r, &d.name),
                ids: &|r: &LogicalRouterStaticRoute| &r.external_ids,
                elsewhere: &|_: &LogicalRouterStaticRoute| None,
                columns: nb::static_route::UPDATE_COLUMNS,
            },
        )?;
        let nats = self.children(
            &mut sub,
            &d.name,
            existing
                .nat
                .iter()
                .filter_map(|u| snap.nats.get(u))
                .collect(),
            &d.nats,
            ChildKind {
                key: &|n: &Nat| describe_nat(n, &d.name),
                ids: &|n: &Nat| &n.external_ids,
                elsewhere: &|_: &Nat| None,
                columns: nb::nat::UPDATE_COLUMNS,
            },
        )?;
        let mut guard = Row::new();
        for (which, changes) in [
            (RouterRefs::Ports, &ports),
            (RouterRefs::StaticRoutes, &routes),
            (RouterRefs::Nat, &nats),
        ] {
            if !changes.added.is_empty() {
                guard.insert(
                    which.column().to_owned(),
                    Datum::set(existing.refs(which).iter().copied()),
                );
            }
            add_router_refs_ops(&mut sub, existing.uuid, which, &changes.added);
            remove_router_refs_ops(&mut sub, existing.uuid, which, &changes.removed);
        }
        if !guard.is_empty() {
            self.txn
                .guard_row(LogicalRouter::TABLE, existing.uuid, guard);
        }
        self.txn.extend(sub);
        Ok(())
    }

    fn new_router(&mut self, d: &DesiredRouter, row: &LogicalRouter) -> Result<(), TopologyError> {
        let snap = self.snap;
        for p in &d.ports {
            if let Some(owner) = lrp_elsewhere(snap, p) {
                return Err(TopologyError::NameTaken {
                    table: LogicalRouterPort::TABLE,
                    name: p.name.clone(),
                    owner,
                });
            }
        }
        guard_name_absent(&mut self.txn, LogicalRouter::TABLE, &d.name);
        for p in &d.ports {
            insert_ops(&mut self.txn, p);
            self.report
                .push(Action::Created, LogicalRouterPort::TABLE, &p.name);
        }
        for r in &d.routes {
            insert_ops(&mut self.txn, r);
            self.report.push(
                Action::Created,
                LogicalRouterStaticRoute::TABLE,
                describe_route(r, &d.name),
            );
        }
        for n in &d.nats {
            insert_ops(&mut self.txn, n);
            self.report
                .push(Action::Created, Nat::TABLE, describe_nat(n, &d.name));
        }
        let mut row = row.clone();
        row.name = d.name.clone();
        row.ports = d.ports.iter().map(|p| p.uuid).collect();
        row.static_routes = d.routes.iter().map(|r| r.uuid).collect();
        row.nat = d.nats.iter().map(|n| n.uuid).collect();
        insert_ops(&mut self.txn, &row);
        self.report
            .push(Action::Created, LogicalRouter::TABLE, &d.name);
        Ok(())
    }

    fn switch(&mut self, d: &DesiredSwitch) -> Result<(), TopologyError> {
        let snap = self.snap;
        let (existing, duplicates) = self.pick(snap.switches_named(&d.name), d.kind, &d.name)?;
        for u in duplicates {
            delete_switch_ops(&mut self.txn, u);
        }
        let Some(existing) = existing else {
            let Some(row) = &d.row else {
                return Err(TopologyError::Missing {
                    table: LogicalSwitch::TABLE,
                    name: d.name.clone(),
                });
            };
            return self.new_switch(d, row);
        };
        if let Some(row) = &d.row {
            // Keys others keep on the switch stay: the framework's reserved
            // health-check source (`ovn-mesos/svc-monitor-ip`, and its
            // `exclude_ips`); the topology's own keys are set as desired.
            let mut row = row.clone();
            for (k, v) in &existing.external_ids {
                row.external_ids
                    .entry(k.clone())
                    .or_insert_with(|| v.clone());
            }
            for (k, v) in &existing.other_config {
                row.other_config
                    .entry(k.clone())
                    .or_insert_with(|| v.clone());
            }
            if update_ops(
                &mut self.txn,
                existing,
                &row,
                nb::logical_switch::UPDATE_COLUMNS,
            ) {
                self.report
                    .push(Action::Updated, LogicalSwitch::TABLE, &d.name);
            }
        }
        let mut sub = Txn::new(NB_DB);
        let ports = self.children(
            &mut sub,
            &d.name,
            snap.ports_of_switch(existing).collect(),
            &d.ports,
            ChildKind {
                key: &|p: &LogicalSwitchPort| p.name.clone(),
                ids: &|p: &LogicalSwitchPort| &p.external_ids,
                elsewhere: &|p: &LogicalSwitchPort| lsp_elsewhere(snap, p),
                columns: nb::logical_switch_port::UPDATE_COLUMNS,
            },
        )?;
        if !ports.added.is_empty() {
            let mut guard = Row::new();
            guard.insert(
                "ports".to_owned(),
                Datum::set(existing.ports.iter().copied()),
            );
            self.txn
                .guard_row(LogicalSwitch::TABLE, existing.uuid, guard);
        }
        add_ports_ops(&mut sub, existing.uuid, &ports.added);
        remove_ports_ops(&mut sub, existing.uuid, &ports.removed);
        self.txn.extend(sub);
        Ok(())
    }

    fn new_switch(&mut self, d: &DesiredSwitch, row: &LogicalSwitch) -> Result<(), TopologyError> {
        let snap = self.snap;
        for p in &d.ports {
            if let Some(owner) = lsp_elsewhere(snap, p) {
                return Err(TopologyError::NameTaken {
                    table: LogicalSwitchPort::TABLE,
                    name: p.name.clone(),
                    owner,
                });
            }
        }
        guard_name_absent(&mut self.txn, LogicalSwitch::TABLE, &d.name);
        for p in &d.ports {
            insert_ops(&mut self.txn, p);
            self.report
                .push(Action::Created, LogicalSwitchPort::TABLE, &p.name);
        }
        let mut row = row.clone();
        row.name = d.name.clone();
        row.ports = d.ports.iter().map(|p| p.uuid).collect();
        insert_ops(&mut self.txn, &row);
        self.report
            .push(Action::Created, LogicalSwitch::TABLE, &d.name);
        Ok(())
    }

    /// A router no desired entry names: deleted when in scope, else its
    /// in-scope children are detached.
    fn undesired_router(&mut self, r: &LogicalRouter) {
        let snap = self.snap;
        if self.scope.covers(&r.external_ids) {
            delete_router_ops(&mut self.txn, r.uuid);
            self.report
                .push(Action::Deleted, LogicalRouter::TABLE, &r.name);
            return;
        }
        let ports: Vec<Uuid> = snap
            .ports_of_router(r)
            .filter(|p| self.scope.covers(&p.external_ids))
            .map(|p| {
                self.report
                    .push(Action::Deleted, LogicalRouterPort::TABLE, &p.name);
                p.uuid
            })
            .collect();
        let routes: Vec<Uuid> = r
            .static_routes
            .iter()
            .filter_map(|u| snap.routes.get(u))
            .filter(|x| self.scope.covers(&x.external_ids))
            .map(|x| {
                self.report.push(
                    Action::Deleted,
                    LogicalRouterStaticRoute::TABLE,
                    describe_route(x, &r.name),
                );
                x.uuid
            })
            .collect();
        let nats: Vec<Uuid> = r
            .nat
            .iter()
            .filter_map(|u| snap.nats.get(u))
            .filter(|x| self.scope.covers(&x.external_ids))
            .map(|x| {
                self.report
                    .push(Action::Deleted, Nat::TABLE, describe_nat(x, &r.name));
                x.uuid
            })
            .collect();
        remove_router_refs_ops(&mut self.txn, r.uuid, RouterRefs::Ports, &ports);
        remove_router_refs_ops(&mut self.txn, r.uuid, RouterRefs::StaticRoutes, &routes);
        remove_router_refs_ops(&mut self.txn, r.uuid, RouterRefs::Nat, &nats);
    }

    /// A switch no desired entry names: deleted when in scope, else its
    /// in-scope ports are detached.
    fn undesired_switch(&mut self, s: &LogicalSwitch) {
        let snap = self.snap;
        if self.scope.covers(&s.external_ids) {
            delete_switch_ops(&mut self.txn, s.uuid);
            self.report
                .push(Action::Deleted, LogicalSwitch::TABLE, &s.name);
            return;
        }
        let ports: Vec<Uuid> = snap
            .ports_of_switch(s)
            .filter(|p| self.scope.covers(&p.external_ids))
            .map(|p| {
                self.report
                    .push(Action::Deleted, LogicalSwitchPort::TABLE, &p.name);
                p.uuid
            })
            .collect();
        remove_ports_ops(&mut self.txn, s.uuid, &ports);
    }
}
