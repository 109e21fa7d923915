//! `Bridge` rows and `ovs-vsctl add-br` (a bridge with its internal port of
//! the same name, attached to the root row, in one transaction).

use std::collections::BTreeMap;

use uuid::Uuid;

use super::interface::Interface;
use super::open_vswitch::OpenVswitch;
use super::port::Port;
use crate::nb::column::{Columns, RowBuilder};
use crate::nb::{add_refs_ops, insert_ops, Named, RowError, Table, Writable};
use crate::ovsdb::{Row, Txn};

/// One `Bridge` row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bridge {
    pub uuid: Uuid,
    pub name: String,
    /// `Port` references.
    pub ports: Vec<Uuid>,
    /// "" or "system" (kernel datapath), "netdev" (userspace datapath).
    pub datapath_type: String,
    /// `standalone` or `secure`.
    pub fail_mode: Option<String>,
    pub external_ids: BTreeMap<String, String>,
    pub other_config: BTreeMap<String, String>,
}

impl Table for Bridge {
    const TABLE: &'static str = "Bridge";

    fn from_row(uuid: Uuid, row: &Row) -> Result<Self, RowError> {
        let c = Columns::new(Self::TABLE, uuid, row);
        Ok(Bridge {
            uuid,
            name: c.string("name")?,
            ports: c.uuids("ports")?,
            datapath_type: c.string("datapath_type")?,
            fail_mode: c.opt_string("fail_mode")?,
            external_ids: c.map("external_ids")?,
            other_config: c.map("other_config")?,
        })
    }
}

impl Writable for Bridge {
    fn uuid(&self) -> Uuid {
        self.uuid
    }

    fn to_row(&self) -> Row {
        RowBuilder::new()
            .string("name", &self.name)
            .uuids("ports", &self.ports)
            .string("datapath_type", &self.datapath_type)
            .opt_string("fail_mode", self.fail_mode.as_ref())
            .map("external_ids", &self.external_ids)
            .map("other_config", &self.other_config)
            .build()
    }
}

impl Named for Bridge {
    fn name(&self) -> &str {
        &self.name
    }
}

/// `ovs-vsctl add-br <name> -- set Bridge <name> datapath_type=<type>`: the
/// bridge, its internal interface and port of the same name, attached to the
/// root row; `fail_mode` as `ovs-vsctl set-fail-mode` (`secure` for `br-int`).
/// Returns the bridge as it will be (its uuid fixed).
pub fn add_bridge_ops(
    txn: &mut Txn,
    root: &OpenVswitch,
    name: &str,
    datapath_type: &str,
    fail_mode: Option<&str>,
) -> Bridge {
    let iface = Interface {
        uuid: Uuid::new_v4(),
        name: name.to_owned(),
        type_: "internal".to_owned(),
        ..Default::default()
    };
    let port = Port {
        uuid: Uuid::new_v4(),
        name: name.to_owned(),
        interfaces: vec![iface.uuid],
        external_ids: BTreeMap::new(),
    };
    let bridge = Bridge {
        uuid: Uuid::new_v4(),
        name: name.to_owned(),
        ports: vec![port.uuid],
        datapath_type: datapath_type.to_owned(),
        fail_mode: fail_mode.map(str::to_owned),
        ..Default::default()
    };
    insert_ops(txn, &iface);
    insert_ops(txn, &port);
    insert_ops(txn, &bridge);
    add_refs_ops(
        txn,
        OpenVswitch::TABLE,
        root.uuid,
        "bridges",
        &[bridge.uuid],
    );
    bridge
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_bridge_has_its_internal_port_and_is_attached_to_the_root() {
        let root = OpenVswitch {
            uuid: Uuid::new_v4(),
            ..Default::default()
        };
        let mut txn = Txn::new(super::super::VSWITCH_DB);
        let br = add_bridge_ops(&mut txn, &root, "br-ex", "netdev", None);
        let p = txn.to_params();
        assert_eq!(p[1]["row"]["type"], "internal");
        assert_eq!(p[3]["table"], "Bridge");
        assert_eq!(p[3]["row"]["datapath_type"], "netdev");
        assert_eq!(p[4]["table"], "Open_vSwitch");
        assert_eq!(
            p[4]["mutations"][0][2],
            serde_json::json!(["uuid", br.uuid.to_string()])
        );
        assert_eq!(br.ports.len(), 1);
    }

    #[test]
    fn a_row_reads_back_what_to_row_wrote() {
        let b = Bridge {
            uuid: Uuid::new_v4(),
            name: "br-int".into(),
            datapath_type: "netdev".into(),
            fail_mode: Some("secure".into()),
            ..Default::default()
        };
        assert_eq!(Bridge::from_row(b.uuid, &b.to_row()).unwrap(), b);
    }
}
