//! `ACL` rows (`ovn-nbctl acl-add`, `acl-del`, `acl-list` on a port group):
//! the typed row and the verbs that add, update and remove a port group's
//! ACLs.
//!
//! In the 23.03 schema `ACL` is *not* a root table, and `Port_Group.acls` (as
//! `Logical_Switch.acls`) holds strong references to it. So:
//! - a new ACL row must be referenced in the same transaction it is inserted
//!   in: otherwise ovsdb-server garbage-collects it at commit, and the
//!   transaction *succeeds* without the row (no error says so).
//!   [`create_or_update_acl_ops`] inserts and attaches it in one go;
//!   [`insert_acls_ops`] inserts rows that the caller references itself (from
//!   a port group's `acls` written in the same transaction, or with
//!   [`add_acls_to_port_group_ops`]);
//! - an ACL is deleted by the database once no port group or switch refers to
//!   it, so removing it ([`delete_acl_ops`], `acl-del`) is a `mutate` deleting
//!   it from `Port_Group.acls` ([`remove_acls_from_port_group_ops`]), never a
//!   `delete` of the row (which would fail on the strong reference).
//!
//! There is no `tier` column in 23.03 (it came in 23.06).

use std::collections::BTreeMap;

use uuid::Uuid;

use super::column::{Columns, RowBuilder};
use super::port_group::PortGroup;
use super::{add_refs_ops, insert_ops, remove_refs_ops, update_ops, RowError, Table, Writable};
use crate::ovsdb::{Datum, Row, Txn};

/// One `ACL` row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Acl {
    pub uuid: Uuid,
    /// At most 63 characters (the schema's limit); reported in the logs.
    pub name: Option<String>,
    /// `from-lport` or `to-lport`.
    pub direction: String,
    /// 0 to 32767; higher wins.
    pub priority: i64,
    /// An OVN logical flow match, e.g. `outport == @pg && ip4.src == $pg2_ip4`.
    pub r#match: String,
    /// `allow`, `allow-related`, `allow-stateless`, `drop` or `reject`.
    pub action: String,
    /// Log the packets the ACL matches.
    pub log: bool,
    /// `alert`, `warning`, `notice`, `info` or `debug` (with `log`).
    pub severity: Option<String>,
    pub external_ids: BTreeMap<String, String>,
}

/// The columns [`create_or_update_acl_ops`] keeps equal to the desired row
/// (everything ovn-mesos writes).
pub const UPDATE_COLUMNS: &[&str] = &[
    "name",
    "direction",
    "priority",
    "match",
    "action",
    "log",
    "severity",
    "external_ids",
];

impl Table for Acl {
    const TABLE: &'static str = "ACL";

    fn from_row(uuid: Uuid, row: &Row) -> Result<Self, RowError> {
        let c = Columns::new(Self::TABLE, uuid, row);
        Ok(Acl {
            uuid,
            name: c.opt_string("name")?,
            direction: c.string("direction")?,
            priority: c.opt_int("priority")?.unwrap_or(0),
            r#match: c.string("match")?,
            action: c.string("action")?,
            log: c.opt_bool("log")?.unwrap_or(false),
            severity: c.opt_string("severity")?,
            external_ids: c.map("external_ids")?,
        })
    }
}

impl Writable for Acl {
    fn uuid(&self) -> Uuid {
        self.uuid
    }

    fn to_row(&self) -> Row {
        let mut row = RowBuilder::new()
            .opt_string("name", self.name.as_ref())
            .string("direction", &self.direction)
            .string("match", &self.r#match)
            .string("action", &self.action)
            .opt_string("severity", self.severity.as_ref())
            .map("external_ids", &self.external_ids)
            .build();
        row.insert("priority".to_owned(), Datum::int(self.priority));
        row.insert("log".to_owned(), Datum::boolean(self.log));
        row
    }
}

/// Inserts new ACL rows under their own uuids. ACL is not a root table: the
/// same transaction must reference each of them (a port group inserted or
/// updated with them in `acls`, or [`add_acls_to_port_group_ops`]), or the
/// server silently drops them at commit.
pub fn insert_acls_ops(txn: &mut Txn, acls: &[Acl]) {
    for acl in acls {
        insert_ops(txn, acl);
    }
}

/// `ovn-nbctl --may-exist acl-add <port_group> ...`: inserts `desired` and
/// attaches it to `port_group` when `existing` is None, else updates the
/// [`UPDATE_COLUMNS`] that differ. Returns the ACL's uuid and whether anything
/// was appended.
pub fn create_or_update_acl_ops(
    txn: &mut Txn,
    port_group: Uuid,
    existing: Option<&Acl>,
    desired: &Acl,
) -> (Uuid, bool) {
    match existing {
        Some(e) => (e.uuid, update_ops(txn, e, desired, UPDATE_COLUMNS)),
        None => {
            insert_ops(txn, desired);
            add_acls_to_port_group_ops(txn, port_group, &[desired.uuid]);
            (desired.uuid, true)
        }
    }
}

/// `ovn-nbctl acl-del <port_group> ...`: detaches the ACLs from `port_group`;
/// the server deletes each one no other port group or switch refers to (the
/// same as [`remove_acls_from_port_group_ops`]).
pub fn delete_acl_ops(txn: &mut Txn, port_group: Uuid, acls: &[Uuid]) {
    remove_acls_from_port_group_ops(txn, port_group, acls);
}

/// `ovn-nbctl add Port_Group <pg> acls <acl>...`: attaches ACLs (existing, or
/// inserted in this transaction) to `port_group`.
pub fn add_acls_to_port_group_ops(txn: &mut Txn, port_group: Uuid, acls: &[Uuid]) {
    add_refs_ops(txn, PortGroup::TABLE, port_group, "acls", acls);
}

/// `ovn-nbctl remove Port_Group <pg> acls <acl>...`: detaches ACLs from
/// `port_group`; an ACL nothing refers to any more is deleted by the server.
pub fn remove_acls_from_port_group_ops(txn: &mut Txn, port_group: Uuid, acls: &[Uuid]) {
    remove_refs_ops(txn, PortGroup::TABLE, port_group, "acls", acls);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::nb::NB_DB;

    fn acl() -> Acl {
        let mut a = Acl {
            uuid: Uuid::new_v4(),
            name: Some("coke_web_allow".into()),
            direction: "to-lport".into(),
            priority: 1001,
            r#match: "outport == @pg && ip4.src == $pg_ip4".into(),
            action: "allow-related".into(),
            log: true,
            severity: Some("info".into()),
            ..Default::default()
        };
        a.external_ids
            .insert("ovn-mesos/service".into(), "web".into());
        a
    }

    #[test]
    fn a_row_reads_back_what_to_row_wrote() {
        let a = acl();
        assert_eq!(Acl::from_row(a.uuid, &a.to_row()).unwrap(), a);
        let plain = Acl {
            name: None,
            log: false,
            severity: None,
            ..acl()
        };
        assert_eq!(Acl::from_row(plain.uuid, &plain.to_row()).unwrap(), plain);
    }

    #[test]
    fn scalars_are_written_as_bare_atoms() {
        let a = acl();
        let row = a.to_row();
        assert_eq!(row["priority"].to_json(), 1001);
        assert_eq!(row["log"].to_json(), true);
        assert_eq!(
            row["match"].to_json(),
            "outport == @pg && ip4.src == $pg_ip4"
        );
        assert_eq!(row["name"].to_json(), "coke_web_allow");
        let none = Acl { name: None, ..a };
        assert_eq!(none.to_row()["name"].to_json(), json!(["set", []]));
    }

    #[test]
    fn a_row_with_missing_optional_columns_reads_with_defaults() {
        let mut row = Row::new();
        row.insert("direction".into(), Datum::string("from-lport"));
        row.insert("match".into(), Datum::string("1"));
        row.insert("action".into(), Datum::string("drop"));
        row.insert("name".into(), Datum::empty());
        let a = Acl::from_row(Uuid::nil(), &row).unwrap();
        assert_eq!((a.priority, a.log), (0, false));
        assert_eq!((a.name, a.severity), (None, None));
        assert_eq!(a.r#match, "1");
    }

    #[test]
    fn a_new_acl_is_inserted_and_attached_in_one_transaction() {
        let (pg, a) = (Uuid::new_v4(), acl());
        let mut txn = Txn::new(NB_DB);
        let (uuid, changed) = create_or_update_acl_ops(&mut txn, pg, None, &a);
        assert!(changed);
        assert_eq!(uuid, a.uuid);
        let p = txn.to_params();
        assert_eq!(p[1]["op"], "insert");
        assert_eq!(p[1]["table"], "ACL");
        assert_eq!(p[1]["uuid"], a.uuid.to_string());
        assert_eq!(p[2]["op"], "mutate");
        assert_eq!(p[2]["table"], "Port_Group");
        assert_eq!(
            p[2]["where"],
            json!([["_uuid", "==", ["uuid", pg.to_string()]]])
        );
        assert_eq!(
            p[2]["mutations"],
            json!([["acls", "insert", ["uuid", a.uuid.to_string()]]])
        );
    }

    #[test]
    fn a_changed_acl_updates_only_the_differing_columns() {
        let existing = acl();
        let desired = Acl {
            action: "drop".into(),
            priority: 1000,
            ..existing.clone()
        };
        let mut txn = Txn::new(NB_DB);
        let (uuid, changed) =
            create_or_update_acl_ops(&mut txn, Uuid::new_v4(), Some(&existing), &desired);
        assert!(changed);
        assert_eq!(uuid, existing.uuid);
        assert_eq!(txn.len(), 1);
        let op = &txn.to_params()[1];
        assert_eq!(op["op"], "update");
        let cols: Vec<&String> = op["row"].as_object().unwrap().keys().collect();
        assert_eq!(cols, vec!["action", "priority"]);
        let mut txn = Txn::new(NB_DB);
        assert!(!create_or_update_acl_ops(&mut txn, Uuid::new_v4(), Some(&existing), &existing).1);
        assert!(txn.is_empty());
    }

    #[test]
    fn deleting_acls_detaches_them_from_the_port_group() {
        let (pg, a, b) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let mut txn = Txn::new(NB_DB);
        delete_acl_ops(&mut txn, pg, &[a, b]);
        let op = &txn.to_params()[1];
        assert_eq!(op["op"], "mutate");
        assert_eq!(op["table"], "Port_Group");
        let mut uuids = [a.to_string(), b.to_string()];
        uuids.sort();
        assert_eq!(
            op["mutations"],
            json!([[
                "acls",
                "delete",
                ["set", [["uuid", uuids[0]], ["uuid", uuids[1]]]]
            ]])
        );
        let mut txn = Txn::new(NB_DB);
        delete_acl_ops(&mut txn, pg, &[]);
        assert!(txn.is_empty());
    }

    #[test]
    fn inserted_acls_are_referenced_by_a_new_port_group() {
        let acls = [acl(), acl()];
        let pg = PortGroup {
            uuid: Uuid::new_v4(),
            name: "ovnm_coke_web".into(),
            acls: acls.iter().map(|a| a.uuid).collect(),
            ..Default::default()
        };
        let mut txn = Txn::new(NB_DB);
        insert_acls_ops(&mut txn, &acls);
        crate::nb::port_group::create_or_update_port_group_ops(&mut txn, None, &pg);
        let p = txn.to_params();
        assert_eq!(p[1]["table"], "ACL");
        assert_eq!(p[2]["table"], "ACL");
        assert_eq!(p[3]["table"], "Port_Group");
        assert_eq!(p[3]["op"], "insert");
    }
}
