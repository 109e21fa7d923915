//! `DNS` rows (`ovn-nbctl create DNS records=...`, `destroy DNS`,
//! `set`/`remove DNS <dns> records`, `add`/`remove Logical_Switch <ls>
//! dns_records`; ovn-nbctl has no dedicated DNS commands): the typed row and
//! the verbs that create, update and delete a record set, change single
//! records, and attach it to (or detach it from) logical switches.
//!
//! In the 23.03 schema `DNS` is a root table (no index, no `options` column;
//! that column came later), and `Logical_Switch.dns_records` holds *weak*
//! references: detaching a record set from its last switch leaves it in place
//! (it must be deleted with [`delete_dns_ops`]), and deleting it drops it from
//! every switch by itself, except that ovsdb-server 3.1.0 leaves the dangling
//! reference in a switch that the same transaction modified *before* the
//! delete (until the server restarts). So a delete detaches explicitly, as
//! the load balancer verbs do: [`remove_dns_from_switch_ops`] for every switch
//! it is attached to, then [`delete_dns_ops`].

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::column::{Columns, RowBuilder};
use super::logical_switch::LogicalSwitch;
use super::{add_refs_ops, create_or_update_ops, remove_refs_ops, RowError, Table, Writable};
use crate::ovsdb::{Datum, Mutation, Row, Txn};

/// One `DNS` row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dns {
    pub uuid: Uuid,
    /// Host name (`"web.coke.ovn"`, OVN matches it case-insensitively) to its
    /// space-separated addresses (`"192.168.1.2 192.168.1.3"`); ovn-controller
    /// answers the queries of ports on the switches this row is attached to.
    pub records: BTreeMap<String, String>,
    pub external_ids: BTreeMap<String, String>,
}

/// The columns [`create_or_update_dns_ops`] keeps equal to the desired row
/// (everything ovn-mesos writes; [`set_records_ops`] changes single records).
pub const UPDATE_COLUMNS: &[&str] = &["records", "external_ids"];

impl Table for Dns {
    const TABLE: &'static str = "DNS";

    fn from_row(uuid: Uuid, row: &Row) -> Result<Self, RowError> {
        let c = Columns::new(Self::TABLE, uuid, row);
        Ok(Dns {
            uuid,
            records: c.map("records")?,
            external_ids: c.map("external_ids")?,
        })
    }
}

impl Writable for Dns {
    fn uuid(&self) -> Uuid {
        self.uuid
    }

    fn to_row(&self) -> Row {
        RowBuilder::new()
            .map("records", &self.records)
            .map("external_ids", &self.external_ids)
            .build()
    }
}

/// `ovn-nbctl create DNS` / `set DNS <dns> records=...`: inserts `desired`
/// when `existing` is None, else updates the [`UPDATE_COLUMNS`] that differ
/// (replacing every record at once). Returns the row's uuid and whether
/// anything was appended.
pub fn create_or_update_dns_ops(
    txn: &mut Txn,
    existing: Option<&Dns>,
    desired: &Dns,
) -> (Uuid, bool) {
    create_or_update_ops(txn, existing, desired, UPDATE_COLUMNS)
}

/// `ovn-nbctl destroy DNS <dns>`: deletes the record set; the switches'
/// (weak) references to it go with it, but detach it first in the same
/// transaction ([`remove_dns_from_switch_ops`], see the module doc).
pub fn delete_dns_ops(txn: &mut Txn, dns: Uuid) {
    txn.delete_row(Dns::TABLE, dns);
}

/// `ovn-nbctl set DNS <dns> records:<host>=<addrs>` for each of `set` and
/// `remove DNS <dns> records <host>` for each of `remove`, as one `mutate`
/// that leaves the other records (written by others) alone: a `delete` of
/// the keys of both `remove` and `set` (a map `delete` with a set of keys
/// drops those entries, whatever their values), then an `insert` of the `set`
/// pairs (a map `insert` never overwrites an existing key, hence the delete
/// first). Appends nothing when both are empty.
pub fn set_records_ops(
    txn: &mut Txn,
    dns: Uuid,
    set: &BTreeMap<String, String>,
    remove: &[String],
) {
    let keys: BTreeSet<&str> = remove
        .iter()
        .chain(set.keys())
        .map(String::as_str)
        .collect();
    if keys.is_empty() {
        return;
    }
    let mut mutations = vec![Mutation::delete("records", Datum::set(keys))];
    if !set.is_empty() {
        mutations.push(Mutation::insert("records", Datum::string_map(set)));
    }
    txn.mutate_row(Dns::TABLE, dns, mutations);
}

/// `ovn-nbctl add Logical_Switch <switch> dns_records <dns>...`.
pub fn add_dns_to_switch_ops(txn: &mut Txn, switch: Uuid, dns: &[Uuid]) {
    add_refs_ops(txn, LogicalSwitch::TABLE, switch, "dns_records", dns);
}

/// `ovn-nbctl remove Logical_Switch <switch> dns_records <dns>...`: the
/// record sets (root rows) stay until deleted.
pub fn remove_dns_from_switch_ops(txn: &mut Txn, switch: Uuid, dns: &[Uuid]) {
    remove_refs_ops(txn, LogicalSwitch::TABLE, switch, "dns_records", dns);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::nb::NB_DB;

    fn dns() -> Dns {
        let mut d = Dns {
            uuid: Uuid::new_v4(),
            ..Default::default()
        };
        d.records
            .insert("web.coke.ovn".into(), "192.168.1.2 192.168.1.3".into());
        d.external_ids
            .insert("ovn-mesos/tenant".into(), "coke".into());
        d
    }

    #[test]
    fn a_row_reads_back_what_to_row_wrote() {
        let d = dns();
        assert_eq!(Dns::from_row(d.uuid, &d.to_row()).unwrap(), d);
    }

    #[test]
    fn an_empty_row_reads_as_no_records() {
        let mut row = Row::new();
        row.insert("records".into(), Datum::empty());
        let d = Dns::from_row(Uuid::nil(), &row).unwrap();
        assert!(d.records.is_empty() && d.external_ids.is_empty());
    }

    #[test]
    fn a_new_record_set_is_inserted_and_a_changed_one_updates_records() {
        let existing = dns();
        let mut txn = Txn::new(NB_DB);
        assert!(create_or_update_dns_ops(&mut txn, None, &existing).1);
        let mut desired = existing.clone();
        desired
            .records
            .insert("db.coke.ovn".into(), "192.168.1.4".into());
        let (uuid, changed) = create_or_update_dns_ops(&mut txn, Some(&existing), &desired);
        assert!(changed);
        assert_eq!(uuid, existing.uuid);
        assert!(!create_or_update_dns_ops(&mut txn, Some(&existing), &existing).1);
        let p = txn.to_params();
        assert_eq!(p.as_array().unwrap().len(), 3);
        assert_eq!(p[1]["op"], "insert");
        assert_eq!(p[1]["table"], "DNS");
        assert_eq!(p[2]["op"], "update");
        let cols: Vec<&String> = p[2]["row"].as_object().unwrap().keys().collect();
        assert_eq!(cols, vec!["records"]);
    }

    #[test]
    fn setting_records_deletes_their_keys_then_inserts_the_pairs() {
        let d = Uuid::new_v4();
        let mut set = BTreeMap::new();
        set.insert("web.coke.ovn".to_owned(), "192.168.1.5".to_owned());
        let mut txn = Txn::new(NB_DB);
        set_records_ops(&mut txn, d, &set, &["db.coke.ovn".to_owned()]);
        let op = &txn.to_params()[1];
        assert_eq!(op["op"], "mutate");
        assert_eq!(op["table"], "DNS");
        assert_eq!(
            op["mutations"],
            json!([
                [
                    "records",
                    "delete",
                    ["set", ["db.coke.ovn", "web.coke.ovn"]]
                ],
                [
                    "records",
                    "insert",
                    ["map", [["web.coke.ovn", "192.168.1.5"]]]
                ]
            ])
        );
    }

    #[test]
    fn removing_records_only_deletes_keys() {
        let mut txn = Txn::new(NB_DB);
        set_records_ops(
            &mut txn,
            Uuid::new_v4(),
            &BTreeMap::new(),
            &["db.coke.ovn".to_owned()],
        );
        assert_eq!(
            txn.to_params()[1]["mutations"],
            json!([["records", "delete", "db.coke.ovn"]])
        );
        let mut txn = Txn::new(NB_DB);
        set_records_ops(&mut txn, Uuid::new_v4(), &BTreeMap::new(), &[]);
        assert!(txn.is_empty());
    }

    #[test]
    fn attach_and_detach_mutate_dns_records() {
        let (switch, d) = (Uuid::new_v4(), Uuid::new_v4());
        let mut txn = Txn::new(NB_DB);
        add_dns_to_switch_ops(&mut txn, switch, &[d]);
        remove_dns_from_switch_ops(&mut txn, switch, &[d]);
        delete_dns_ops(&mut txn, d);
        let p = txn.to_params();
        assert_eq!(p[1]["table"], "Logical_Switch");
        assert_eq!(
            p[1]["mutations"],
            json!([["dns_records", "insert", ["uuid", d.to_string()]]])
        );
        assert_eq!(
            p[2]["mutations"],
            json!([["dns_records", "delete", ["uuid", d.to_string()]]])
        );
        assert_eq!(p[3]["op"], "delete");
        assert_eq!(p[3]["table"], "DNS");
    }
}
