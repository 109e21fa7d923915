//! `Interface` rows (`ovs-vsctl list Interface`, `set Interface <name>
//! external_ids:iface-id=<lsp>`): what ovn-controller binds to a logical port,
//! and what it reports back (`external_ids:ovn-installed`).

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::nb::column::{Columns, RowBuilder};
use crate::nb::{Named, RowError, Table, Writable};
use crate::ovsdb::Row;

/// `external_ids` key naming the logical switch port an interface is bound to.
pub const IFACE_ID: &str = "iface-id";
/// `external_ids` key ovn-controller sets to "true" once the port's flows are installed.
pub const OVN_INSTALLED: &str = "ovn-installed";

/// One `Interface` row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Interface {
    pub uuid: Uuid,
    pub name: String,
    /// The `type` column: "" (a system device such as a veth end), "internal", ...
    pub type_: String,
    pub external_ids: BTreeMap<String, String>,
    /// Set by ovs-vswitchd; -1 when the device could not be opened.
    pub ofport: Option<i64>,
    /// Set by ovs-vswitchd.
    pub mac_in_use: Option<String>,
    /// Set by ovs-vswitchd when the interface failed (why).
    pub error: Option<String>,
}

impl Table for Interface {
    const TABLE: &'static str = "Interface";

    fn from_row(uuid: Uuid, row: &Row) -> Result<Self, RowError> {
        let c = Columns::new(Self::TABLE, uuid, row);
        Ok(Interface {
            uuid,
            name: c.string("name")?,
            type_: c.string("type")?,
            external_ids: c.map("external_ids")?,
            ofport: c.opt_int("ofport")?,
            mac_in_use: c.opt_string("mac_in_use")?,
            error: c.opt_string("error")?,
        })
    }
}

impl Writable for Interface {
    fn uuid(&self) -> Uuid {
        self.uuid
    }

    /// The columns a client writes (`ofport`, `mac_in_use`, `error` are vswitchd's).
    fn to_row(&self) -> Row {
        RowBuilder::new()
            .string("name", &self.name)
            .string("type", &self.type_)
            .map("external_ids", &self.external_ids)
            .build()
    }
}

impl Named for Interface {
    fn name(&self) -> &str {
        &self.name
    }
}

impl Interface {
    /// `external_ids:iface-id`, the bound logical switch port.
    pub fn iface_id(&self) -> Option<&str> {
        self.external_ids.get(IFACE_ID).map(String::as_str)
    }

    /// True once ovn-controller has installed the port's flows.
    pub fn ovn_installed(&self) -> bool {
        self.external_ids.get(OVN_INSTALLED).map(String::as_str) == Some("true")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ovsdb::Datum;

    #[test]
    fn ovn_installed_is_read_from_external_ids() {
        let mut row = Row::new();
        row.insert("name".into(), Datum::string("veth1"));
        row.insert(
            "external_ids".into(),
            Datum::map([(IFACE_ID, "task-1"), (OVN_INSTALLED, "true")]),
        );
        row.insert("ofport".into(), Datum::int(3));
        let i = Interface::from_row(Uuid::nil(), &row).unwrap();
        assert_eq!(i.iface_id(), Some("task-1"));
        assert!(i.ovn_installed());
        assert_eq!(i.ofport, Some(3));
        assert_eq!(i.mac_in_use, None);
    }

    #[test]
    fn vswitchd_columns_are_never_written() {
        let i = Interface {
            name: "veth1".into(),
            ofport: Some(3),
            ..Default::default()
        };
        let row = i.to_row();
        assert!(!row.contains_key("ofport") && !row.contains_key("mac_in_use"));
    }
}
