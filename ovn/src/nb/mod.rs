//! Typed rows of the OVN_Northbound tables ovn-mesos uses, one file per table
//! with fixed verbs (as ovn-kubernetes' `libovsdb/ops`): the struct, its
//! [`Table`] impl (`from_row`, tolerant of missing optional columns), `to_row`
//! for the columns we write, and `*_ops` functions that append operations to a
//! [`Txn`] committed once by the caller.
//!
//! Reads go through the monitored cache: [`list`], [`get`], [`find_by_name`].

pub mod acl;
pub(crate) mod column;
pub mod dns;
pub mod load_balancer;
pub mod load_balancer_group;
pub mod logical_router;
pub mod logical_router_port;
pub mod logical_switch;
pub mod logical_switch_port;
pub mod nat;
pub mod nb_global;
pub mod port_group;
pub mod static_route;

use std::collections::BTreeSet;

use tracing::warn;
use uuid::Uuid;

use crate::ovsdb::{
    Cache, Condition, Datum, Expect, Mutation, Mutator, Operation, Row, Txn, WaitUntil,
};
use crate::report::Chain;

pub use acl::Acl;
pub use dns::Dns;
pub use load_balancer::{LoadBalancer, LoadBalancerHealthCheck};
pub use load_balancer_group::LoadBalancerGroup;
pub use logical_router::LogicalRouter;
pub use logical_router_port::LogicalRouterPort;
pub use logical_switch::LogicalSwitch;
pub use logical_switch_port::LogicalSwitchPort;
pub use nat::Nat;
pub use nb_global::NbGlobal;
pub use port_group::PortGroup;
pub use static_route::LogicalRouterStaticRoute;

/// The Northbound database name.
pub const NB_DB: &str = "OVN_Northbound";

/// Why a raw row could not be read as its typed form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    /// A column holds a value of another type than the schema gives (a schema
    /// mismatch or a bug); the row is skipped by [`list`].
    #[error("{table} row {uuid}: column {column} is {found}, expected {expected}")]
    BadColumn {
        table: &'static str,
        uuid: Uuid,
        column: String,
        expected: &'static str,
        found: String,
    },
}

/// A table with a typed row.
pub trait Table: Sized {
    /// The table's name in the schema.
    const TABLE: &'static str;
    /// Reads a row; missing columns read as their empty value.
    fn from_row(uuid: Uuid, row: &Row) -> Result<Self, RowError>;
}

/// A typed row that can be written back.
pub trait Writable: Table {
    /// The row's uuid (for a row still to be inserted: the uuid it will get).
    fn uuid(&self) -> Uuid;
    /// The columns ovn-mesos writes, with this row's values.
    fn to_row(&self) -> Row;
}

/// A table whose rows have a `name` column.
pub trait Named: Table {
    fn name(&self) -> &str;
}

/// Every row of `T`'s table in the cache (malformed rows are logged and skipped),
/// in uuid order.
pub fn list<T: Table>(cache: &Cache) -> Vec<T> {
    let mut rows: Vec<(Uuid, T)> = cache
        .table(T::TABLE)
        .filter_map(|(uuid, row)| read::<T>(*uuid, row))
        .collect();
    rows.sort_by_key(|(u, _)| *u);
    rows.into_iter().map(|(_, t)| t).collect()
}

/// The row `uuid` of `T`'s table, if present and well-formed.
pub fn get<T: Table>(cache: &Cache, uuid: &Uuid) -> Option<T> {
    cache
        .row(T::TABLE, uuid)
        .and_then(|row| read::<T>(*uuid, row))
        .map(|(_, t)| t)
}

/// The row named `name` (`ovn-nbctl ls-list`/`lr-list` by name). Switch and
/// router names are not unique in OVN; when several share the name, the one
/// with the smallest uuid is returned (see [`find_all_by_name`]).
pub fn find_by_name<T: Named>(cache: &Cache, name: &str) -> Option<T> {
    find_all_by_name(cache, name).into_iter().next()
}

/// Every row named `name`, in uuid order.
pub fn find_all_by_name<T: Named>(cache: &Cache, name: &str) -> Vec<T> {
    let mut rows: Vec<(Uuid, T)> = cache
        .find(T::TABLE, "name", &Datum::string(name))
        .into_iter()
        .filter_map(|(uuid, row)| read::<T>(uuid, row))
        .collect();
    rows.sort_by_key(|(u, _)| *u);
    rows.into_iter().map(|(_, t)| t).collect()
}

fn read<T: Table>(uuid: Uuid, row: &Row) -> Option<(Uuid, T)> {
    match T::from_row(uuid, row) {
        Ok(t) => Some((uuid, t)),
        Err(e) => {
            warn!(table = T::TABLE, %uuid, error = %Chain(&e), "skipping malformed row");
            None
        }
    }
}

/// Appends an insert of `row` with its own uuid (fixed, so a retry after a lost
/// reply fails with `duplicate uuid` instead of adding a twin).
pub fn insert_ops<T: Writable>(txn: &mut Txn, row: &T) {
    txn.insert_with_uuid(T::TABLE, row.to_row(), row.uuid());
}

/// The columns among `columns` whose values in `desired` differ from `existing`.
pub fn changed_columns<T: Writable>(existing: &T, desired: &T, columns: &[&str]) -> Row {
    let old = existing.to_row();
    let new = desired.to_row();
    columns
        .iter()
        .filter_map(|c| {
            let want = new.get(*c)?;
            (old.get(*c) != Some(want)).then(|| ((*c).to_owned(), want.clone()))
        })
        .collect()
}

/// Appends an update of `existing` setting the `columns` that differ in
/// `desired`; appends nothing and returns false when they are all equal.
pub fn update_ops<T: Writable>(txn: &mut Txn, existing: &T, desired: &T, columns: &[&str]) -> bool {
    let changed = changed_columns(existing, desired, columns);
    if changed.is_empty() {
        return false;
    }
    txn.update_row(T::TABLE, existing.uuid(), changed);
    true
}

/// Inserts `desired` when `existing` is None, else updates the `columns` that
/// differ. Returns the row's uuid and whether an operation was appended.
pub fn create_or_update_ops<T: Writable>(
    txn: &mut Txn,
    existing: Option<&T>,
    desired: &T,
    columns: &[&str],
) -> (Uuid, bool) {
    match existing {
        Some(e) => (e.uuid(), update_ops(txn, e, desired, columns)),
        None => {
            insert_ops(txn, desired);
            (desired.uuid(), true)
        }
    }
}

/// Appends a guard that aborts the transaction (as a retryable "timed out"
/// `wait` failure) if any row of `table` is named `name`: two concurrent
/// creators of a switch or router (whose names OVN does not index) cannot both
/// insert one.
pub fn guard_name_absent(txn: &mut Txn, table: &str, name: &str) {
    txn.push(
        Operation::Wait {
            table: table.to_owned(),
            conditions: vec![Condition::eq("name", Datum::string(name))],
            columns: vec!["name".to_owned()],
            until: WaitUntil::Equal,
            rows: Vec::new(),
            timeout_ms: Some(0),
        },
        Expect::Any,
    );
}

/// Appends a mutation adding `uuids` to the reference set `column` of row
/// `parent` (a no-op when `uuids` is empty).
pub fn add_refs_ops(txn: &mut Txn, table: &str, parent: Uuid, column: &str, uuids: &[Uuid]) {
    mutate_refs(txn, table, parent, Mutator::Insert, column, uuids);
}

/// Appends a mutation removing `uuids` from the reference set `column` of row
/// `parent`. The removed rows, if not root rows (ports, routes, NAT), are
/// garbage-collected by the server once nothing refers to them.
pub fn remove_refs_ops(txn: &mut Txn, table: &str, parent: Uuid, column: &str, uuids: &[Uuid]) {
    mutate_refs(txn, table, parent, Mutator::Delete, column, uuids);
}

/// One `mutate` of the reference set `column` of row `parent` with the set of
/// `uuids`: `Mutator::Insert` adds them, `Mutator::Delete` removes them.
fn mutate_refs(
    txn: &mut Txn,
    table: &str,
    parent: Uuid,
    mutator: Mutator,
    column: &str,
    uuids: &[Uuid],
) {
    if uuids.is_empty() {
        return;
    }
    let set: BTreeSet<Uuid> = uuids.iter().copied().collect();
    txn.mutate_row(
        table,
        parent,
        vec![Mutation::new(column, mutator, Datum::set(set))],
    );
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn switch(name: &str, subnet: &str) -> LogicalSwitch {
        let mut other_config = BTreeMap::new();
        other_config.insert("subnet".to_owned(), subnet.to_owned());
        LogicalSwitch {
            uuid: Uuid::new_v4(),
            name: name.to_owned(),
            other_config,
            ..LogicalSwitch::default()
        }
    }

    #[test]
    fn equal_rows_produce_no_update() {
        let a = switch("coke1", "192.168.1.0/24");
        let mut b = a.clone();
        b.ports.push(Uuid::new_v4());
        let mut txn = Txn::new(NB_DB);
        assert!(!update_ops(&mut txn, &a, &b, &["name", "other_config"]));
        assert!(txn.is_empty());
    }

    #[test]
    fn an_update_sets_only_the_differing_columns() {
        let a = switch("coke1", "192.168.1.0/24");
        let mut b = switch("coke1", "192.168.2.0/24");
        b.uuid = a.uuid;
        let changed = changed_columns(&a, &b, &["name", "other_config", "external_ids"]);
        assert_eq!(changed.keys().collect::<Vec<_>>(), vec!["other_config"]);
        let mut txn = Txn::new(NB_DB);
        assert!(update_ops(&mut txn, &a, &b, &["name", "other_config"]));
        assert_eq!(txn.len(), 1);
    }

    #[test]
    fn create_or_update_inserts_a_missing_row_with_its_uuid() {
        let s = switch("coke1", "192.168.1.0/24");
        let mut txn = Txn::new(NB_DB);
        let (uuid, changed) = create_or_update_ops(&mut txn, None, &s, &["name"]);
        assert!(changed);
        assert_eq!(uuid, s.uuid);
        let p = txn.to_params();
        assert_eq!(p[1]["op"], "insert");
        assert_eq!(p[1]["uuid"], s.uuid.to_string());
    }

    #[test]
    fn a_name_guard_waits_for_no_row_with_that_name() {
        let mut txn = Txn::new(NB_DB);
        guard_name_absent(&mut txn, "Logical_Router", "coke");
        let op = &txn.to_params()[1];
        assert_eq!(op["op"], "wait");
        assert_eq!(op["rows"], serde_json::json!([]));
        assert_eq!(op["where"], serde_json::json!([["name", "==", "coke"]]));
    }

    #[test]
    fn empty_reference_changes_append_nothing() {
        let mut txn = Txn::new(NB_DB);
        add_refs_ops(&mut txn, "Logical_Switch", Uuid::new_v4(), "ports", &[]);
        remove_refs_ops(&mut txn, "Logical_Switch", Uuid::new_v4(), "ports", &[]);
        assert!(txn.is_empty());
    }
}
