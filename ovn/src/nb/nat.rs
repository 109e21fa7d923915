//! `NAT` rows (`ovn-nbctl lr-nat-add`, `lr-nat-del`, `lr-nat-list`): the typed
//! row and the verbs that add and remove a router's NAT rules. A rule is
//! identified by [`Nat::key`] (type, logical IP), as `lr-nat-add` does.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::column::{Columns, RowBuilder};
use super::logical_router::{add_router_refs_ops, remove_router_refs_ops, RouterRefs};
use super::{insert_ops, update_ops, RowError, Table, Writable};
use crate::ovsdb::{Row, Txn};

/// One `NAT` row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Nat {
    pub uuid: Uuid,
    /// `snat`, `dnat` or `dnat_and_snat`.
    pub type_: String,
    pub external_ip: String,
    /// An address or (for `snat`) a subnet.
    pub logical_ip: String,
    pub external_ids: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
}

/// The columns [`create_or_update_nat_ops`] keeps equal to the desired row.
pub const UPDATE_COLUMNS: &[&str] = &[
    "type",
    "external_ip",
    "logical_ip",
    "external_ids",
    "options",
];

impl Table for Nat {
    const TABLE: &'static str = "NAT";

    fn from_row(uuid: Uuid, row: &Row) -> Result<Self, RowError> {
        let c = Columns::new(Self::TABLE, uuid, row);
        Ok(Nat {
            uuid,
            type_: c.string("type")?,
            external_ip: c.string("external_ip")?,
            logical_ip: c.string("logical_ip")?,
            external_ids: c.map("external_ids")?,
            options: c.map("options")?,
        })
    }
}

impl Writable for Nat {
    fn uuid(&self) -> Uuid {
        self.uuid
    }

    fn to_row(&self) -> Row {
        RowBuilder::new()
            .string("type", &self.type_)
            .string("external_ip", &self.external_ip)
            .string("logical_ip", &self.logical_ip)
            .map("external_ids", &self.external_ids)
            .map("options", &self.options)
            .build()
    }
}

impl Nat {
    /// `lr-nat-add <router> snat <external_ip> <logical_ip>` (fresh uuid).
    pub fn snat(external_ip: impl Into<String>, logical_ip: impl Into<String>) -> Self {
        Nat {
            uuid: Uuid::new_v4(),
            type_: "snat".to_owned(),
            external_ip: external_ip.into(),
            logical_ip: logical_ip.into(),
            ..Default::default()
        }
    }

    /// The rule's identity: `lr-nat-add` allows one `snat` per logical IP.
    pub fn key(&self) -> (String, String) {
        (self.type_.clone(), self.logical_ip.clone())
    }
}

/// `ovn-nbctl --may-exist lr-nat-add`: inserts `desired` into `router`'s NAT
/// rules when `existing` is None, else updates the columns that differ (a new
/// external IP updates the one rule instead of adding a second).
pub fn create_or_update_nat_ops(
    txn: &mut Txn,
    router: Uuid,
    existing: Option<&Nat>,
    desired: &Nat,
) -> (Uuid, bool) {
    match existing {
        Some(e) => (e.uuid, update_ops(txn, e, desired, UPDATE_COLUMNS)),
        None => {
            insert_ops(txn, desired);
            add_router_refs_ops(txn, router, RouterRefs::Nat, &[desired.uuid]);
            (desired.uuid, true)
        }
    }
}

/// `ovn-nbctl lr-nat-del`: detaches the rules from `router`; the server deletes them.
pub fn delete_nats_ops(txn: &mut Txn, router: Uuid, nats: &[Uuid]) {
    remove_router_refs_ops(txn, router, RouterRefs::Nat, nats);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_reads_back_what_to_row_wrote() {
        let n = Nat::snat("10.10.1.12", "192.168.0.0/16");
        assert_eq!(Nat::from_row(n.uuid, &n.to_row()).unwrap(), n);
    }

    #[test]
    fn a_new_external_ip_updates_the_existing_rule() {
        let old = Nat::snat("10.10.1.12", "192.168.0.0/16");
        let new = Nat::snat("10.10.1.13", "192.168.0.0/16");
        assert_eq!(old.key(), new.key());
        let mut txn = Txn::new(super::super::NB_DB);
        let (uuid, changed) = create_or_update_nat_ops(&mut txn, Uuid::new_v4(), Some(&old), &new);
        assert!(changed);
        assert_eq!(uuid, old.uuid);
        assert_eq!(txn.len(), 1);
        assert_eq!(txn.to_params()[1]["op"], "update");
    }

    #[test]
    fn an_equal_rule_appends_nothing() {
        let n = Nat::snat("10.10.1.12", "192.168.0.0/16");
        let mut txn = Txn::new(super::super::NB_DB);
        assert!(!create_or_update_nat_ops(&mut txn, Uuid::new_v4(), Some(&n), &n).1);
        assert!(txn.is_empty());
    }
}
