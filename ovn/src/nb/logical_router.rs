//! `Logical_Router` rows (`ovn-nbctl lr-add`, `lr-del`, `lr-list`): the typed
//! row and the verbs that create, update and delete a router and attach or
//! detach its ports, static routes and NAT rules.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::column::{Columns, RowBuilder};
use super::{
    add_refs_ops, create_or_update_ops, remove_refs_ops, Named, RowError, Table, Writable,
};
use crate::ovsdb::{Row, Txn};

/// One `Logical_Router` row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogicalRouter {
    pub uuid: Uuid,
    pub name: String,
    /// `Logical_Router_Port` references.
    pub ports: Vec<Uuid>,
    /// `Logical_Router_Static_Route` references.
    pub static_routes: Vec<Uuid>,
    /// `NAT` references.
    pub nat: Vec<Uuid>,
    /// `Load_Balancer` references (weak).
    pub load_balancer: Vec<Uuid>,
    /// e.g. `chassis=<system-id>` (a gateway router), `lb_force_snat_ip=router_ip`.
    pub options: BTreeMap<String, String>,
    pub external_ids: BTreeMap<String, String>,
}

/// The columns [`create_or_update_router_ops`] keeps equal to the desired row;
/// the reference sets are changed by mutation only.
pub const UPDATE_COLUMNS: &[&str] = &["name", "options", "external_ids"];

/// The reference-set columns of a router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouterRefs {
    Ports,
    StaticRoutes,
    Nat,
    LoadBalancer,
}

impl RouterRefs {
    /// The column's name.
    pub fn column(self) -> &'static str {
        match self {
            RouterRefs::Ports => "ports",
            RouterRefs::StaticRoutes => "static_routes",
            RouterRefs::Nat => "nat",
            RouterRefs::LoadBalancer => "load_balancer",
        }
    }
}

impl Table for LogicalRouter {
    const TABLE: &'static str = "Logical_Router";

    fn from_row(uuid: Uuid, row: &Row) -> Result<Self, RowError> {
        let c = Columns::new(Self::TABLE, uuid, row);
        Ok(LogicalRouter {
            uuid,
            name: c.string("name")?,
            ports: c.uuids("ports")?,
            static_routes: c.uuids("static_routes")?,
            nat: c.uuids("nat")?,
            load_balancer: c.uuids("load_balancer")?,
            options: c.map("options")?,
            external_ids: c.map("external_ids")?,
        })
    }
}

impl Writable for LogicalRouter {
    fn uuid(&self) -> Uuid {
        self.uuid
    }

    fn to_row(&self) -> Row {
        RowBuilder::new()
            .string("name", &self.name)
            .uuids("ports", &self.ports)
            .uuids("static_routes", &self.static_routes)
            .uuids("nat", &self.nat)
            .uuids("load_balancer", &self.load_balancer)
            .map("options", &self.options)
            .map("external_ids", &self.external_ids)
            .build()
    }
}

impl Named for LogicalRouter {
    fn name(&self) -> &str {
        &self.name
    }
}

impl LogicalRouter {
    /// `options:chassis`: the chassis a gateway router is pinned to.
    pub fn chassis(&self) -> Option<&str> {
        self.options.get("chassis").map(String::as_str)
    }

    /// The uuids of one reference set.
    pub fn refs(&self, which: RouterRefs) -> &[Uuid] {
        match which {
            RouterRefs::Ports => &self.ports,
            RouterRefs::StaticRoutes => &self.static_routes,
            RouterRefs::Nat => &self.nat,
            RouterRefs::LoadBalancer => &self.load_balancer,
        }
    }
}

/// `ovn-nbctl --may-exist lr-add`: inserts `desired` (with its reference sets)
/// when `existing` is None, else updates the [`UPDATE_COLUMNS`] that differ.
/// Returns the router's uuid and whether anything was appended.
pub fn create_or_update_router_ops(
    txn: &mut Txn,
    existing: Option<&LogicalRouter>,
    desired: &LogicalRouter,
) -> (Uuid, bool) {
    create_or_update_ops(txn, existing, desired, UPDATE_COLUMNS)
}

/// `ovn-nbctl lr-del`: deletes the router; its ports, routes and NAT rules go
/// with it (load balancers are only unlinked).
pub fn delete_router_ops(txn: &mut Txn, router: Uuid) {
    txn.delete_row(LogicalRouter::TABLE, router);
}

/// Adds rows to one of `router`'s reference sets.
pub fn add_router_refs_ops(txn: &mut Txn, router: Uuid, which: RouterRefs, uuids: &[Uuid]) {
    add_refs_ops(txn, LogicalRouter::TABLE, router, which.column(), uuids);
}

/// Removes rows from one of `router`'s reference sets (ports, routes and NAT
/// rules removed this way are deleted by the server).
pub fn remove_router_refs_ops(txn: &mut Txn, router: Uuid, which: RouterRefs, uuids: &[Uuid]) {
    remove_refs_ops(txn, LogicalRouter::TABLE, router, which.column(), uuids);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_reads_back_what_to_row_wrote() {
        let mut lr = LogicalRouter {
            uuid: Uuid::new_v4(),
            name: "GR_coke_mesos-master".into(),
            nat: vec![Uuid::new_v4()],
            ..Default::default()
        };
        lr.options.insert("chassis".into(), "mesos-master".into());
        let back = LogicalRouter::from_row(lr.uuid, &lr.to_row()).unwrap();
        assert_eq!(back, lr);
        assert_eq!(back.chassis(), Some("mesos-master"));
        assert_eq!(back.refs(RouterRefs::Nat), lr.nat.as_slice());
    }

    #[test]
    fn an_update_never_overwrites_load_balancers() {
        let mut existing = LogicalRouter {
            uuid: Uuid::new_v4(),
            name: "GR_coke_m".into(),
            load_balancer: vec![Uuid::new_v4()],
            ..Default::default()
        };
        existing.options.insert("chassis".into(), "old".into());
        let mut desired = existing.clone();
        desired.load_balancer.clear();
        desired.options.insert("chassis".into(), "m".into());
        let mut txn = Txn::new(super::super::NB_DB);
        create_or_update_router_ops(&mut txn, Some(&existing), &desired);
        let op = &txn.to_params()[1];
        assert_eq!(op["op"], "update");
        assert!(op["row"].get("load_balancer").is_none());
        assert!(op["row"].get("options").is_some());
    }

    #[test]
    fn reference_changes_name_their_column() {
        let mut txn = Txn::new(super::super::NB_DB);
        add_router_refs_ops(
            &mut txn,
            Uuid::new_v4(),
            RouterRefs::StaticRoutes,
            &[Uuid::new_v4()],
        );
        remove_router_refs_ops(&mut txn, Uuid::new_v4(), RouterRefs::Nat, &[Uuid::new_v4()]);
        let p = txn.to_params();
        assert_eq!(p[1]["mutations"][0][0], "static_routes");
        assert_eq!(p[2]["mutations"][0][0], "nat");
        assert_eq!(p[2]["mutations"][0][1], "delete");
    }
}
