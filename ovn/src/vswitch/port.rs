//! `Port` rows and the verbs `ovs-vsctl add-port <bridge> <port> -- set
//! Interface <port> external_ids:iface-id=<lsp>` and `ovs-vsctl del-port`,
//! each appended to one transaction.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::bridge::Bridge;
use super::interface::Interface;
use crate::nb::column::{Columns, RowBuilder};
use crate::nb::{add_refs_ops, insert_ops, remove_refs_ops, Named, RowError, Table, Writable};
use crate::ovsdb::{Row, Txn};

/// One `Port` row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Port {
    pub uuid: Uuid,
    pub name: String,
    /// `Interface` references (one, except for bonds).
    pub interfaces: Vec<Uuid>,
    pub external_ids: BTreeMap<String, String>,
}

impl Table for Port {
    const TABLE: &'static str = "Port";

    fn from_row(uuid: Uuid, row: &Row) -> Result<Self, RowError> {
        let c = Columns::new(Self::TABLE, uuid, row);
        Ok(Port {
            uuid,
            name: c.string("name")?,
            interfaces: c.uuids("interfaces")?,
            external_ids: c.map("external_ids")?,
        })
    }
}

impl Writable for Port {
    fn uuid(&self) -> Uuid {
        self.uuid
    }

    fn to_row(&self) -> Row {
        RowBuilder::new()
            .string("name", &self.name)
            .uuids("interfaces", &self.interfaces)
            .map("external_ids", &self.external_ids)
            .build()
    }
}

impl Named for Port {
    fn name(&self) -> &str {
        &self.name
    }
}

/// `ovs-vsctl add-port <bridge> <port_name> -- set Interface <port_name>
/// external_ids:...`: a port with one system interface of the same name
/// carrying `iface_external_ids` (e.g. `iface-id=<logical port>`). Returns the
/// new port's and interface's uuids.
pub fn add_port_ops(
    txn: &mut Txn,
    bridge: &Bridge,
    port_name: &str,
    iface_external_ids: &BTreeMap<String, String>,
) -> (Uuid, Uuid) {
    add_port_of_type_ops(txn, bridge, port_name, "", iface_external_ids)
}

/// [`add_port_ops`] with an interface type (`-- set Interface <name> type=internal`).
pub fn add_port_of_type_ops(
    txn: &mut Txn,
    bridge: &Bridge,
    port_name: &str,
    iface_type: &str,
    iface_external_ids: &BTreeMap<String, String>,
) -> (Uuid, Uuid) {
    let iface = Interface {
        uuid: Uuid::new_v4(),
        name: port_name.to_owned(),
        type_: iface_type.to_owned(),
        external_ids: iface_external_ids.clone(),
        ..Default::default()
    };
    let port = Port {
        uuid: Uuid::new_v4(),
        name: port_name.to_owned(),
        interfaces: vec![iface.uuid],
        external_ids: BTreeMap::new(),
    };
    insert_ops(txn, &iface);
    insert_ops(txn, &port);
    add_refs_ops(txn, Bridge::TABLE, bridge.uuid, "ports", &[port.uuid]);
    (port.uuid, iface.uuid)
}

/// `ovs-vsctl del-port <bridge> <port>`: detaches the port; the server deletes
/// it and its interfaces.
pub fn del_port_ops(txn: &mut Txn, bridge: &Bridge, port: &Port) {
    remove_refs_ops(txn, Bridge::TABLE, bridge.uuid, "ports", &[port.uuid]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adding_a_port_inserts_interface_and_port_and_attaches_it() {
        let bridge = Bridge {
            uuid: Uuid::new_v4(),
            name: "br-int".into(),
            ..Default::default()
        };
        let mut ids = BTreeMap::new();
        ids.insert("iface-id".to_owned(), "task-1".to_owned());
        let mut txn = Txn::new(super::super::VSWITCH_DB);
        let (port, iface) = add_port_ops(&mut txn, &bridge, "veth1", &ids);
        let p = txn.to_params();
        assert_eq!(p[1]["table"], "Interface");
        assert_eq!(p[1]["uuid"], iface.to_string());
        assert_eq!(
            p[1]["row"]["external_ids"],
            serde_json::json!(["map", [["iface-id", "task-1"]]])
        );
        assert_eq!(p[2]["table"], "Port");
        assert_eq!(
            p[2]["row"]["interfaces"],
            serde_json::json!(["uuid", iface.to_string()])
        );
        assert_eq!(p[3]["table"], "Bridge");
        assert_eq!(
            p[3]["mutations"][0][2],
            serde_json::json!(["uuid", port.to_string()])
        );
    }

    #[test]
    fn deleting_a_port_detaches_it_from_its_bridge() {
        let bridge = Bridge {
            uuid: Uuid::new_v4(),
            ..Default::default()
        };
        let port = Port {
            uuid: Uuid::new_v4(),
            name: "veth1".into(),
            ..Default::default()
        };
        let mut txn = Txn::new(super::super::VSWITCH_DB);
        del_port_ops(&mut txn, &bridge, &port);
        let p = txn.to_params();
        assert_eq!(p[1]["op"], "mutate");
        assert_eq!(p[1]["mutations"][0][1], "delete");
    }
}
