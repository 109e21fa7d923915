//! `Logical_Switch` rows (`ovn-nbctl ls-add`, `ls-del`, `ls-list`): the typed
//! row and the verbs that create, update and delete a switch and attach or
//! detach its ports.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::column::{Columns, RowBuilder};
use super::{
    add_refs_ops, create_or_update_ops, remove_refs_ops, Named, RowError, Table, Writable,
};
use crate::ovsdb::{Row, Txn};

/// One `Logical_Switch` row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogicalSwitch {
    pub uuid: Uuid,
    pub name: String,
    /// `Logical_Switch_Port` references.
    pub ports: Vec<Uuid>,
    /// `Load_Balancer` references (weak).
    pub load_balancer: Vec<Uuid>,
    /// e.g. `subnet=192.168.1.0/24`.
    pub other_config: BTreeMap<String, String>,
    pub external_ids: BTreeMap<String, String>,
}

/// The columns [`create_or_update_ops`] keeps equal to the desired row; `ports`
/// and `load_balancer` are changed by mutation only, so ports and load balancers
/// added by others survive.
pub const UPDATE_COLUMNS: &[&str] = &["name", "other_config", "external_ids"];

impl Table for LogicalSwitch {
    const TABLE: &'static str = "Logical_Switch";

    fn from_row(uuid: Uuid, row: &Row) -> Result<Self, RowError> {
        let c = Columns::new(Self::TABLE, uuid, row);
        Ok(LogicalSwitch {
            uuid,
            name: c.string("name")?,
            ports: c.uuids("ports")?,
            load_balancer: c.uuids("load_balancer")?,
            other_config: c.map("other_config")?,
            external_ids: c.map("external_ids")?,
        })
    }
}

impl Writable for LogicalSwitch {
    fn uuid(&self) -> Uuid {
        self.uuid
    }

    fn to_row(&self) -> Row {
        RowBuilder::new()
            .string("name", &self.name)
            .uuids("ports", &self.ports)
            .uuids("load_balancer", &self.load_balancer)
            .map("other_config", &self.other_config)
            .map("external_ids", &self.external_ids)
            .build()
    }
}

impl Named for LogicalSwitch {
    fn name(&self) -> &str {
        &self.name
    }
}

impl LogicalSwitch {
    /// `other_config:subnet`, the switch's IPv4 subnet as written.
    pub fn subnet(&self) -> Option<&str> {
        self.other_config.get("subnet").map(String::as_str)
    }
}

/// `ovn-nbctl --may-exist ls-add`: inserts `desired` (with its `ports`) when
/// `existing` is None, else updates the [`UPDATE_COLUMNS`] that differ.
/// Returns the switch's uuid and whether anything was appended.
pub fn create_or_update_switch_ops(
    txn: &mut Txn,
    existing: Option<&LogicalSwitch>,
    desired: &LogicalSwitch,
) -> (Uuid, bool) {
    create_or_update_ops(txn, existing, desired, UPDATE_COLUMNS)
}

/// `ovn-nbctl ls-del`: deletes the switch; its ports go with it.
pub fn delete_switch_ops(txn: &mut Txn, switch: Uuid) {
    txn.delete_row(LogicalSwitch::TABLE, switch);
}

/// Attaches existing (or same-transaction inserted) ports to `switch`.
pub fn add_ports_ops(txn: &mut Txn, switch: Uuid, ports: &[Uuid]) {
    add_refs_ops(txn, LogicalSwitch::TABLE, switch, "ports", ports);
}

/// `ovn-nbctl lsp-del`: detaches ports from `switch`; the server deletes them.
pub fn remove_ports_ops(txn: &mut Txn, switch: Uuid, ports: &[Uuid]) {
    remove_refs_ops(txn, LogicalSwitch::TABLE, switch, "ports", ports);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ovsdb::Datum;

    #[test]
    fn a_row_reads_back_what_to_row_wrote() {
        let mut sw = LogicalSwitch {
            uuid: Uuid::new_v4(),
            name: "coke1".into(),
            ports: vec![Uuid::new_v4(), Uuid::new_v4()],
            ..Default::default()
        };
        sw.ports.sort();
        sw.other_config
            .insert("subnet".into(), "192.168.1.0/24".into());
        sw.external_ids
            .insert("ovn-mesos/tenant".into(), "coke".into());
        let back = LogicalSwitch::from_row(sw.uuid, &sw.to_row()).unwrap();
        assert_eq!(back, sw);
        assert_eq!(back.subnet(), Some("192.168.1.0/24"));
    }

    #[test]
    fn a_row_with_only_a_name_is_read_with_empty_columns() {
        let mut row = Row::new();
        row.insert("name".into(), Datum::string("join_coke"));
        let sw = LogicalSwitch::from_row(Uuid::nil(), &row).unwrap();
        assert_eq!(sw.name, "join_coke");
        assert!(sw.ports.is_empty() && sw.other_config.is_empty());
        assert_eq!(sw.subnet(), None);
    }

    #[test]
    fn an_existing_switch_keeps_its_ports_on_update() {
        let existing = LogicalSwitch {
            uuid: Uuid::new_v4(),
            name: "coke1".into(),
            ports: vec![Uuid::new_v4()],
            ..Default::default()
        };
        let mut desired = existing.clone();
        desired.ports.clear();
        desired
            .other_config
            .insert("subnet".into(), "192.168.1.0/24".into());
        let mut txn = Txn::new(super::super::NB_DB);
        let (uuid, changed) = create_or_update_switch_ops(&mut txn, Some(&existing), &desired);
        assert!(changed);
        assert_eq!(uuid, existing.uuid);
        let op = &txn.to_params()[1];
        assert_eq!(op["op"], "update");
        assert!(op["row"].get("ports").is_none());
    }

    #[test]
    fn port_changes_are_mutations_of_the_ports_column() {
        let mut txn = Txn::new(super::super::NB_DB);
        let p = Uuid::new_v4();
        add_ports_ops(&mut txn, Uuid::new_v4(), &[p]);
        remove_ports_ops(&mut txn, Uuid::new_v4(), &[p]);
        let params = txn.to_params();
        assert_eq!(params[1]["mutations"][0][1], "insert");
        assert_eq!(params[2]["mutations"][0][1], "delete");
    }
}
