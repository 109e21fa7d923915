//! `Load_Balancer_Group` rows (`ovn-nbctl create Load_Balancer_Group`,
//! `destroy Load_Balancer_Group`, `add`/`remove Load_Balancer_Group <g>
//! load_balancer`): the typed row and the verbs that create and delete a group,
//! change its load balancers, and attach it to (or detach it from) logical
//! switches (`add`/`remove Logical_Switch <ls> load_balancer_group`; ovn-nbctl
//! has no dedicated `ls-lbg-*` commands in 23.03).
//!
//! In the 23.03 schema `Load_Balancer_Group` is a root table with a unique
//! `name` index and no `external_ids` column. Its `load_balancer` column holds
//! *weak* references: deleting a load balancer drops it from every group by
//! itself. `Logical_Switch.load_balancer_group` and
//! `Logical_Router.load_balancer_group` are *strong* references (the schema
//! gives no `refType`, which defaults to strong), but since the group is a
//! root row it is never garbage-collected: detaching a group from its last
//! switch leaves it in place, it must be deleted explicitly with
//! [`delete_load_balancer_group_ops`], and that delete fails with a
//! referential integrity violation unless the same transaction first detaches
//! the group from every switch and router that still refers to it.

use uuid::Uuid;

use super::column::{Columns, RowBuilder};
use super::logical_switch::LogicalSwitch;
use super::{add_refs_ops, insert_ops, remove_refs_ops, Named, RowError, Table, Writable};
use crate::ovsdb::{Row, Txn};

/// One `Load_Balancer_Group` row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadBalancerGroup {
    pub uuid: Uuid,
    /// Unique (the schema indexes it).
    pub name: String,
    /// `Load_Balancer` references (weak).
    pub load_balancer: Vec<Uuid>,
}

impl Table for LoadBalancerGroup {
    const TABLE: &'static str = "Load_Balancer_Group";

    fn from_row(uuid: Uuid, row: &Row) -> Result<Self, RowError> {
        let c = Columns::new(Self::TABLE, uuid, row);
        Ok(LoadBalancerGroup {
            uuid,
            name: c.string("name")?,
            load_balancer: c.uuids("load_balancer")?,
        })
    }
}

impl Writable for LoadBalancerGroup {
    fn uuid(&self) -> Uuid {
        self.uuid
    }

    fn to_row(&self) -> Row {
        RowBuilder::new()
            .string("name", &self.name)
            .uuids("load_balancer", &self.load_balancer)
            .build()
    }
}

impl Named for LoadBalancerGroup {
    fn name(&self) -> &str {
        &self.name
    }
}

/// `ovn-nbctl create Load_Balancer_Group name=<name> load_balancer=...`:
/// inserts `group` (with its load balancers) under its own uuid. A second
/// group of the same name makes the transaction fail (the name is indexed).
pub fn create_load_balancer_group_ops(txn: &mut Txn, group: &LoadBalancerGroup) {
    insert_ops(txn, group);
}

/// `ovn-nbctl destroy Load_Balancer_Group <group>`: deletes the group. The
/// references to it from `Logical_Switch`/`Logical_Router.load_balancer_group`
/// are strong, so the transaction must also detach it from every switch and
/// router still referring to it ([`remove_group_from_switch_ops`]).
pub fn delete_load_balancer_group_ops(txn: &mut Txn, group: Uuid) {
    txn.delete_row(LoadBalancerGroup::TABLE, group);
}

/// `ovn-nbctl add Load_Balancer_Group <group> load_balancer <lb>...`.
pub fn add_load_balancers_to_group_ops(txn: &mut Txn, group: Uuid, lbs: &[Uuid]) {
    add_refs_ops(txn, LoadBalancerGroup::TABLE, group, "load_balancer", lbs);
}

/// `ovn-nbctl remove Load_Balancer_Group <group> load_balancer <lb>...`: the
/// load balancers themselves (root rows) stay.
pub fn remove_load_balancers_from_group_ops(txn: &mut Txn, group: Uuid, lbs: &[Uuid]) {
    remove_refs_ops(txn, LoadBalancerGroup::TABLE, group, "load_balancer", lbs);
}

/// `ovn-nbctl add Logical_Switch <switch> load_balancer_group <group>...`.
pub fn add_group_to_switch_ops(txn: &mut Txn, switch: Uuid, groups: &[Uuid]) {
    add_refs_ops(
        txn,
        LogicalSwitch::TABLE,
        switch,
        "load_balancer_group",
        groups,
    );
}

/// `ovn-nbctl remove Logical_Switch <switch> load_balancer_group <group>...`:
/// the groups (root rows) stay until deleted.
pub fn remove_group_from_switch_ops(txn: &mut Txn, switch: Uuid, groups: &[Uuid]) {
    remove_refs_ops(
        txn,
        LogicalSwitch::TABLE,
        switch,
        "load_balancer_group",
        groups,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nb::NB_DB;
    use crate::ovsdb::Datum;

    fn group() -> LoadBalancerGroup {
        let mut g = LoadBalancerGroup {
            uuid: Uuid::new_v4(),
            name: "coke_lbs".into(),
            load_balancer: vec![Uuid::new_v4(), Uuid::new_v4()],
        };
        g.load_balancer.sort();
        g
    }

    #[test]
    fn a_row_reads_back_what_to_row_wrote() {
        let g = group();
        assert_eq!(LoadBalancerGroup::from_row(g.uuid, &g.to_row()).unwrap(), g);
    }

    #[test]
    fn a_row_with_only_a_name_is_read_with_no_load_balancers() {
        let mut row = Row::new();
        row.insert("name".into(), Datum::string("coke_lbs"));
        let g = LoadBalancerGroup::from_row(Uuid::nil(), &row).unwrap();
        assert_eq!(g.name(), "coke_lbs");
        assert!(g.load_balancer.is_empty());
    }

    #[test]
    fn the_row_has_no_external_ids_column() {
        assert!(!group().to_row().contains_key("external_ids"));
    }

    #[test]
    fn create_inserts_the_group_with_its_uuid() {
        let g = group();
        let mut txn = Txn::new(NB_DB);
        create_load_balancer_group_ops(&mut txn, &g);
        let op = &txn.to_params()[1];
        assert_eq!(op["op"], "insert");
        assert_eq!(op["table"], "Load_Balancer_Group");
        assert_eq!(op["uuid"], g.uuid.to_string());
        assert_eq!(op["row"]["name"], "coke_lbs");
    }

    #[test]
    fn membership_and_attachment_are_mutations() {
        let (g, lb, switch) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let mut txn = Txn::new(NB_DB);
        add_load_balancers_to_group_ops(&mut txn, g, &[lb]);
        remove_load_balancers_from_group_ops(&mut txn, g, &[lb]);
        add_group_to_switch_ops(&mut txn, switch, &[g]);
        remove_group_from_switch_ops(&mut txn, switch, &[g]);
        delete_load_balancer_group_ops(&mut txn, g);
        let p = txn.to_params();
        assert_eq!(p[1]["op"], "mutate");
        assert_eq!(p[1]["table"], "Load_Balancer_Group");
        assert_eq!(
            p[1]["where"],
            serde_json::json!([["_uuid", "==", ["uuid", g.to_string()]]])
        );
        assert_eq!(
            p[1]["mutations"],
            serde_json::json!([["load_balancer", "insert", ["uuid", lb.to_string()]]])
        );
        assert_eq!(p[2]["mutations"][0][1], "delete");
        assert_eq!(p[3]["table"], "Logical_Switch");
        assert_eq!(
            p[3]["mutations"],
            serde_json::json!([["load_balancer_group", "insert", ["uuid", g.to_string()]]])
        );
        assert_eq!(
            p[4]["mutations"],
            serde_json::json!([["load_balancer_group", "delete", ["uuid", g.to_string()]]])
        );
        assert_eq!(p[5]["op"], "delete");
        assert_eq!(p[5]["table"], "Load_Balancer_Group");
    }

    #[test]
    fn empty_changes_append_nothing() {
        let mut txn = Txn::new(NB_DB);
        add_load_balancers_to_group_ops(&mut txn, Uuid::new_v4(), &[]);
        remove_group_from_switch_ops(&mut txn, Uuid::new_v4(), &[]);
        assert!(txn.is_empty());
    }
}
