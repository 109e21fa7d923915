//! `Logical_Router_Static_Route` rows (`ovn-nbctl lr-route-add`,
//! `lr-route-del`, `lr-route-list`): the typed row and the verbs that add and
//! remove a router's routes. Routes have no name; one is identified by
//! [`LogicalRouterStaticRoute::key`] (prefix, next hop, policy, output port),
//! so several default routes with different next hops (ECMP) can coexist.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::column::{Columns, RowBuilder};
use super::logical_router::{add_router_refs_ops, remove_router_refs_ops, RouterRefs};
use super::{insert_ops, update_ops, RowError, Table, Writable};
use crate::ovsdb::{Row, Txn};

/// One `Logical_Router_Static_Route` row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogicalRouterStaticRoute {
    pub uuid: Uuid,
    /// e.g. `0.0.0.0/0`, `192.168.0.0/16`.
    pub ip_prefix: String,
    pub nexthop: String,
    pub output_port: Option<String>,
    /// `dst-ip` (the default when None) or `src-ip`.
    pub policy: Option<String>,
    pub external_ids: BTreeMap<String, String>,
}

/// What tells two routes apart (`lr-route-add` refuses a second route with the
/// same prefix and next hop without `--ecmp`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouteKey {
    pub ip_prefix: String,
    pub nexthop: String,
    pub policy: String,
    pub output_port: Option<String>,
}

/// The columns [`create_or_update_route_ops`] keeps equal to the desired row.
pub const UPDATE_COLUMNS: &[&str] = &[
    "ip_prefix",
    "nexthop",
    "output_port",
    "policy",
    "external_ids",
];

impl Table for LogicalRouterStaticRoute {
    const TABLE: &'static str = "Logical_Router_Static_Route";

    fn from_row(uuid: Uuid, row: &Row) -> Result<Self, RowError> {
        let c = Columns::new(Self::TABLE, uuid, row);
        Ok(LogicalRouterStaticRoute {
            uuid,
            ip_prefix: c.string("ip_prefix")?,
            nexthop: c.string("nexthop")?,
            output_port: c.opt_string("output_port")?,
            policy: c.opt_string("policy")?,
            external_ids: c.map("external_ids")?,
        })
    }
}

impl Writable for LogicalRouterStaticRoute {
    fn uuid(&self) -> Uuid {
        self.uuid
    }

    fn to_row(&self) -> Row {
        RowBuilder::new()
            .string("ip_prefix", &self.ip_prefix)
            .string("nexthop", &self.nexthop)
            .opt_string("output_port", self.output_port.as_ref())
            .opt_string("policy", self.policy.as_ref())
            .map("external_ids", &self.external_ids)
            .build()
    }
}

impl LogicalRouterStaticRoute {
    /// A new destination route (fresh uuid).
    pub fn new(ip_prefix: impl Into<String>, nexthop: impl Into<String>) -> Self {
        LogicalRouterStaticRoute {
            uuid: Uuid::new_v4(),
            ip_prefix: ip_prefix.into(),
            nexthop: nexthop.into(),
            ..Default::default()
        }
    }

    /// Sets the output port (`lr-route-add <router> <prefix> <nexthop> <port>`).
    pub fn via_port(mut self, port: impl Into<String>) -> Self {
        self.output_port = Some(port.into());
        self
    }

    /// The route's identity; a missing policy means `dst-ip`.
    pub fn key(&self) -> RouteKey {
        RouteKey {
            ip_prefix: self.ip_prefix.clone(),
            nexthop: self.nexthop.clone(),
            policy: self.policy.clone().unwrap_or_else(|| "dst-ip".to_owned()),
            output_port: self.output_port.clone(),
        }
    }
}

/// `ovn-nbctl --may-exist lr-route-add`: inserts `desired` into `router`'s
/// routes when `existing` is None, else updates the columns that differ.
/// Returns the route's uuid and whether anything was appended.
pub fn create_or_update_route_ops(
    txn: &mut Txn,
    router: Uuid,
    existing: Option<&LogicalRouterStaticRoute>,
    desired: &LogicalRouterStaticRoute,
) -> (Uuid, bool) {
    match existing {
        Some(e) => (e.uuid, update_ops(txn, e, desired, UPDATE_COLUMNS)),
        None => {
            insert_ops(txn, desired);
            add_router_refs_ops(txn, router, RouterRefs::StaticRoutes, &[desired.uuid]);
            (desired.uuid, true)
        }
    }
}

/// `ovn-nbctl lr-route-del`: detaches the routes from `router`; the server deletes them.
pub fn delete_routes_ops(txn: &mut Txn, router: Uuid, routes: &[Uuid]) {
    remove_router_refs_ops(txn, router, RouterRefs::StaticRoutes, routes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_reads_back_what_to_row_wrote() {
        let r = LogicalRouterStaticRoute::new("0.0.0.0/0", "10.10.1.1").via_port("rtoe-GR_coke_m");
        assert_eq!(
            LogicalRouterStaticRoute::from_row(r.uuid, &r.to_row()).unwrap(),
            r
        );
    }

    #[test]
    fn a_missing_policy_keys_like_dst_ip() {
        let a = LogicalRouterStaticRoute::new("0.0.0.0/0", "100.64.0.2");
        let mut b = a.clone();
        b.policy = Some("dst-ip".into());
        assert_eq!(a.key(), b.key());
        let c = LogicalRouterStaticRoute::new("0.0.0.0/0", "100.64.0.3");
        assert_ne!(a.key(), c.key());
    }

    #[test]
    fn a_new_route_is_inserted_and_attached() {
        let r = LogicalRouterStaticRoute::new("192.168.0.0/16", "100.64.0.1");
        let mut txn = Txn::new(super::super::NB_DB);
        let (uuid, changed) = create_or_update_route_ops(&mut txn, Uuid::new_v4(), None, &r);
        assert!(changed);
        assert_eq!(uuid, r.uuid);
        assert_eq!(txn.to_params()[2]["mutations"][0][0], "static_routes");
    }
}
