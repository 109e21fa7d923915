//! How the planner matches existing rows to desired ones: children (ports by
//! name, routes and NAT rules by key) are matched within their parent, a row
//! of the same key owned by someone else is a conflict, and a parent's owned
//! twins (left by a race) are found for deletion.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::plan::Planner;
use super::report::Action;
use super::snapshot::{owner_label, Snapshot};
use super::TopologyError;
use crate::nb::{
    insert_ops, update_ops, LogicalRouter, LogicalRouterPort, LogicalRouterStaticRoute,
    LogicalSwitch, LogicalSwitchPort, Nat, Writable,
};
use crate::ovsdb::Txn;
use crate::owner;

/// How one kind of child row is matched and described.
pub(super) struct ChildKind<'f, T> {
    pub key: &'f dyn Fn(&T) -> String,
    pub ids: &'f dyn Fn(&T) -> &BTreeMap<String, String>,
    /// Who else holds a row with this key (ports: names are global).
    pub elsewhere: &'f dyn Fn(&T) -> Option<String>,
    pub columns: &'static [&'static str],
}

/// The children to attach to and detach from a parent.
#[derive(Default)]
pub(super) struct ChildChanges {
    pub added: Vec<Uuid>,
    pub removed: Vec<Uuid>,
}

impl Planner<'_> {
    pub(super) fn taken(
        &self,
        table: &'static str,
        name: &str,
        ids: &BTreeMap<String, String>,
    ) -> TopologyError {
        TopologyError::NameTaken {
            table,
            name: name.to_owned(),
            owner: owner_label(ids),
        }
    }

    /// Diffs `existing` children (of a parent being kept) against `desired`.
    pub(super) fn children<T: Writable>(
        &mut self,
        sub: &mut Txn,
        parent: &str,
        existing: Vec<&T>,
        desired: &[T],
        kind: ChildKind<'_, T>,
    ) -> Result<ChildChanges, TopologyError> {
        let mut changes = ChildChanges::default();
        let mut matched = BTreeSet::new();
        for d in desired {
            let key = (kind.key)(d);
            let same_key = existing.iter().filter(|e| (kind.key)(e) == key);
            let mut ours = None;
            for e in same_key {
                if !self.scope.covers((kind.ids)(e)) {
                    return Err(self.taken(T::TABLE, &format!("{key} on {parent}"), (kind.ids)(e)));
                }
                if ours.is_none() {
                    ours = Some(*e);
                }
            }
            match ours {
                Some(e) => {
                    matched.insert(e.uuid());
                    if update_ops(sub, e, d, kind.columns) {
                        self.report.push(Action::Updated, T::TABLE, &key);
                    }
                }
                None => {
                    if let Some(owner) = (kind.elsewhere)(d) {
                        return Err(TopologyError::NameTaken {
                            table: T::TABLE,
                            name: key,
                            owner,
                        });
                    }
                    insert_ops(sub, d);
                    changes.added.push(d.uuid());
                    self.report.push(Action::Created, T::TABLE, &key);
                }
            }
        }
        for e in existing {
            if !matched.contains(&e.uuid()) && self.scope.covers((kind.ids)(e)) {
                changes.removed.push(e.uuid());
                self.report.push(Action::Deleted, T::TABLE, (kind.key)(e));
            }
        }
        Ok(changes)
    }

    /// Finds the parent named `name` owned by the tenant as `kind`; with
    /// twins (left by a race), the one with the most children. Twins in scope
    /// are returned for deletion; a row of that name owned by anyone else is
    /// an error.
    pub(super) fn pick<'s, P: Parent>(
        &mut self,
        named: Vec<&'s P>,
        kind: owner::Kind,
        name: &str,
    ) -> Result<(Option<&'s P>, Vec<Uuid>), TopologyError> {
        let is_ours = |p: &P| owner::is_tenant_row(p.ids(), kind, &self.scope.tenant);
        let ours = named
            .iter()
            .copied()
            .filter(|p| is_ours(p))
            .max_by_key(|p| (p.children(), std::cmp::Reverse(p.uuid())));
        let mut duplicates = Vec::new();
        for p in named {
            if ours.is_some_and(|o| o.uuid() == p.uuid()) {
                continue;
            }
            if !is_ours(p) {
                return Err(self.taken(P::TABLE, name, p.ids()));
            }
            if self.scope.covers(p.ids()) {
                duplicates.push(p.uuid());
                self.report.push(Action::Deleted, P::TABLE, name);
            }
        }
        Ok((ours, duplicates))
    }
}

/// A router or switch, as [`Planner::pick`] sees it.
pub(super) trait Parent: Writable {
    fn ids(&self) -> &BTreeMap<String, String>;
    /// How many rows it refers to.
    fn children(&self) -> usize;
}

impl Parent for LogicalRouter {
    fn ids(&self) -> &BTreeMap<String, String> {
        &self.external_ids
    }
    fn children(&self) -> usize {
        self.ports.len() + self.static_routes.len() + self.nat.len()
    }
}

impl Parent for LogicalSwitch {
    fn ids(&self) -> &BTreeMap<String, String> {
        &self.external_ids
    }
    fn children(&self) -> usize {
        self.ports.len()
    }
}

pub(super) fn lrp_elsewhere(snap: &Snapshot, d: &LogicalRouterPort) -> Option<String> {
    snap.router_port_named(&d.name).map(|(p, parent)| {
        let on = parent.map_or_else(String::new, |r| format!(" on router {}", r.name));
        format!("{}{on}", owner_label(&p.external_ids))
    })
}

pub(super) fn lsp_elsewhere(snap: &Snapshot, d: &LogicalSwitchPort) -> Option<String> {
    snap.switch_port_named(&d.name).map(|(p, parent)| {
        let on = parent.map_or_else(String::new, |s| format!(" on switch {}", s.name));
        format!("{}{on}", owner_label(&p.external_ids))
    })
}

/// `0.0.0.0/0 via 10.10.1.1 (rtoe-GR_coke_m) on GR_coke_m`: a route's identity.
pub(crate) fn describe_route(r: &LogicalRouterStaticRoute, router: &str) -> String {
    let k = r.key();
    let mut s = format!("{} via {}", k.ip_prefix, k.nexthop);
    if k.policy != "dst-ip" {
        s.push_str(&format!(" ({})", k.policy));
    }
    if let Some(p) = &k.output_port {
        s.push_str(&format!(" out {p}"));
    }
    format!("{s} on {router}")
}

/// `snat for 192.168.0.0/16 on GR_coke_m`: a NAT rule's identity.
pub(crate) fn describe_nat(n: &Nat, router: &str) -> String {
    let (t, logical) = n.key();
    format!("{t} for {logical} on {router}")
}
