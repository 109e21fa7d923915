//! `Logical_Router_Port` rows (`ovn-nbctl lrp-add`, `lrp-del`): the typed row
//! and the verbs that create, update and delete a router port.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::column::{Columns, RowBuilder};
use super::logical_router::{add_router_refs_ops, remove_router_refs_ops, RouterRefs};
use super::{create_or_update_ops, Named, RowError, Table, Writable};
use crate::ovsdb::{Row, Txn};

/// One `Logical_Router_Port` row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogicalRouterPort {
    pub uuid: Uuid,
    pub name: String,
    /// e.g. `0a:58:c0:a8:01:01`.
    pub mac: String,
    /// e.g. `["192.168.1.1/24"]`.
    pub networks: Vec<String>,
    pub options: BTreeMap<String, String>,
    pub external_ids: BTreeMap<String, String>,
}

/// The columns [`create_or_update_router_port_ops`] keeps equal to the desired row.
pub const UPDATE_COLUMNS: &[&str] = &["name", "mac", "networks", "options", "external_ids"];

impl Table for LogicalRouterPort {
    const TABLE: &'static str = "Logical_Router_Port";

    fn from_row(uuid: Uuid, row: &Row) -> Result<Self, RowError> {
        let c = Columns::new(Self::TABLE, uuid, row);
        Ok(LogicalRouterPort {
            uuid,
            name: c.string("name")?,
            mac: c.string("mac")?,
            networks: c.strings("networks")?,
            options: c.map("options")?,
            external_ids: c.map("external_ids")?,
        })
    }
}

impl Writable for LogicalRouterPort {
    fn uuid(&self) -> Uuid {
        self.uuid
    }

    fn to_row(&self) -> Row {
        RowBuilder::new()
            .string("name", &self.name)
            .string("mac", &self.mac)
            .strings("networks", &self.networks)
            .map("options", &self.options)
            .map("external_ids", &self.external_ids)
            .build()
    }
}

impl Named for LogicalRouterPort {
    fn name(&self) -> &str {
        &self.name
    }
}

impl LogicalRouterPort {
    /// A new port (fresh uuid) with one network, e.g. `192.168.1.1/24`.
    pub fn new(
        name: impl Into<String>,
        mac: impl Into<String>,
        network: impl Into<String>,
    ) -> Self {
        LogicalRouterPort {
            uuid: Uuid::new_v4(),
            name: name.into(),
            mac: mac.into(),
            networks: vec![network.into()],
            ..Default::default()
        }
    }

    /// The address part of the first network (`192.168.1.1` of `192.168.1.1/24`).
    pub fn first_ip(&self) -> Option<&str> {
        self.networks
            .first()
            .map(|n| n.split_once('/').map_or(n.as_str(), |(ip, _)| ip))
    }
}

/// `ovn-nbctl --may-exist lrp-add <router> <port> <mac> <network>`: inserts
/// `desired` and attaches it to `router` when `existing` is None, else updates
/// the [`UPDATE_COLUMNS`] that differ. Returns the port's uuid and whether
/// anything was appended.
pub fn create_or_update_router_port_ops(
    txn: &mut Txn,
    router: Uuid,
    existing: Option<&LogicalRouterPort>,
    desired: &LogicalRouterPort,
) -> (Uuid, bool) {
    let (uuid, changed) = create_or_update_ops(txn, existing, desired, UPDATE_COLUMNS);
    if existing.is_none() {
        add_router_refs_ops(txn, router, RouterRefs::Ports, &[uuid]);
    }
    (uuid, changed)
}

/// `ovn-nbctl lrp-del`: detaches the ports from `router`; the server deletes them.
pub fn delete_router_ports_ops(txn: &mut Txn, router: Uuid, ports: &[Uuid]) {
    remove_router_refs_ops(txn, router, RouterRefs::Ports, ports);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_reads_back_what_to_row_wrote() {
        let p = LogicalRouterPort::new("rtos-coke1", "0a:58:c0:a8:01:01", "192.168.1.1/24");
        assert_eq!(LogicalRouterPort::from_row(p.uuid, &p.to_row()).unwrap(), p);
        assert_eq!(p.first_ip(), Some("192.168.1.1"));
    }

    #[test]
    fn a_changed_network_is_one_update_of_that_column() {
        let old = LogicalRouterPort::new("rtoj-coke", "0a:58:64:40:00:01", "100.64.0.1/16");
        let mut new = old.clone();
        new.networks = vec!["100.64.0.9/16".into()];
        let mut txn = Txn::new(super::super::NB_DB);
        let (uuid, changed) =
            create_or_update_router_port_ops(&mut txn, Uuid::new_v4(), Some(&old), &new);
        assert!(changed);
        assert_eq!(uuid, old.uuid);
        let op = &txn.to_params()[1];
        assert_eq!(op["op"], "update");
        assert_eq!(op["row"].as_object().unwrap().len(), 1);
    }

    #[test]
    fn a_new_port_is_inserted_and_attached_to_its_router() {
        let p = LogicalRouterPort::new("rtoj-coke", "0a:58:64:40:00:01", "100.64.0.1/16");
        let mut txn = Txn::new(super::super::NB_DB);
        create_or_update_router_port_ops(&mut txn, Uuid::new_v4(), None, &p);
        let params = txn.to_params();
        assert_eq!(params[1]["op"], "insert");
        assert_eq!(params[2]["mutations"][0][0], "ports");
    }
}
