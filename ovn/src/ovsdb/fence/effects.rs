//! The effects a transaction must have on the monitored cache, derived from
//! its operations: which rows appear (inserts; a non-root row only when the
//! transaction references it, else it is garbage-collected), which disappear
//! (deletes by `_uuid`), and which columns change how (updates and set/map
//! mutations by `_uuid`). Named uuids are resolved from fixed-uuid inserts
//! before sending and from the reply after it.

use std::collections::HashMap;

use uuid::Uuid;

use super::{Check, ColumnCheck};
use crate::ovsdb::cache::Cache;
use crate::ovsdb::datum::{Atom, Datum};
use crate::ovsdb::operation::{Condition, Function, Mutator, Operation, Txn};

/// The uuid-name -> uuid map known before sending: fixed-uuid inserts.
pub fn fixed_names(txn: &Txn) -> HashMap<String, Uuid> {
    txn.ops
        .iter()
        .filter_map(|(op, _)| match op {
            Operation::Insert {
                uuid_name: Some(n),
                uuid: Some(u),
                ..
            } => Some((n.clone(), *u)),
            _ => None,
        })
        .collect()
}

/// Replaces named-uuid atoms by the rows' uuids; `None` if one is unknown.
fn resolve(d: &Datum, names: &HashMap<String, Uuid>) -> Option<Datum> {
    let atom = |a: &Atom| match a {
        Atom::NamedUuid(n) => names.get(n).map(|u| Atom::Uuid(*u)),
        other => Some(other.clone()),
    };
    Some(match d {
        Datum::Set(s) => Datum::Set(s.iter().map(atom).collect::<Option<_>>()?),
        Datum::Map(m) => Datum::Map(
            m.iter()
                .map(|(k, v)| Some((atom(k)?, atom(v)?)))
                .collect::<Option<_>>()?,
        ),
    })
}

/// The row an operation targets when its condition is exactly `_uuid == U`.
fn target(conditions: &[Condition], names: &HashMap<String, Uuid>) -> Option<Uuid> {
    match conditions {
        [c] if c.column == "_uuid" && c.function == Function::Eq => {
            resolve(&c.value, names)?.as_uuid()
        }
        _ => None,
    }
}

/// Which operations mention each named uuid and uuid (in row values and
/// mutation values), built once per transaction so that finding whether an
/// insert is referenced stays linear in the size of the transaction.
#[derive(Default)]
struct Mentions {
    names: HashMap<String, Vec<usize>>,
    uuids: HashMap<Uuid, Vec<usize>>,
}

impl Mentions {
    fn of(txn: &Txn) -> Mentions {
        let mut m = Mentions::default();
        for (i, (op, _)) in txn.ops.iter().enumerate() {
            let mut note = |d: &Datum| {
                let mut atom = |a: &Atom| match a {
                    Atom::NamedUuid(n) => m.names.entry(n.clone()).or_default().push(i),
                    Atom::Uuid(u) => m.uuids.entry(*u).or_default().push(i),
                    _ => {}
                };
                match d {
                    Datum::Set(s) => s.iter().for_each(&mut atom),
                    Datum::Map(map) => map.iter().for_each(|(k, v)| {
                        atom(k);
                        atom(v);
                    }),
                }
            };
            match op {
                Operation::Insert { row, .. } | Operation::Update { row, .. } => {
                    row.values().for_each(&mut note)
                }
                Operation::Mutate { mutations, .. } => {
                    mutations.iter().for_each(|m| note(&m.value))
                }
                _ => {}
            }
        }
        m
    }

    /// True when an operation other than `index` mentions the inserted row (so
    /// a non-root row is referenced and survives garbage collection).
    fn referenced(&self, index: usize, name: Option<&String>, uuid: Option<Uuid>) -> bool {
        let other = |ops: Option<&Vec<usize>>| ops.is_some_and(|v| v.iter().any(|&i| i != index));
        name.is_some_and(|n| other(self.names.get(n)))
            || uuid.is_some_and(|u| other(self.uuids.get(&u)))
    }
}

pub(super) fn checks(
    txn: &Txn,
    names: &HashMap<String, Uuid>,
    cache: &Cache,
) -> Vec<(usize, Check)> {
    let mut out = Vec::new();
    let mut mentions: Option<Mentions> = None;
    // Map keys deleted so far in this transaction, per (row, column).
    let mut deleted: std::collections::BTreeSet<(Uuid, String, Atom)> = Default::default();
    for (index, (op, _)) in txn.ops.iter().enumerate() {
        let Some(table) = op.table() else { continue };
        if !cache.monitors(table, None) {
            continue;
        }
        let t = table.to_owned();
        match op {
            Operation::Insert {
                uuid_name, uuid, ..
            } => {
                let uuid = uuid.or_else(|| uuid_name.as_ref().and_then(|n| names.get(n).copied()));
                let Some(uuid) = uuid else { continue };
                let root = cache
                    .schema()
                    .and_then(|s| s.table(table))
                    .is_none_or(|ts| ts.is_root);
                if root
                    || mentions
                        .get_or_insert_with(|| Mentions::of(txn))
                        .referenced(index, uuid_name.as_ref(), Some(uuid))
                {
                    out.push((index, Check::Present { table: t, uuid }));
                }
            }
            Operation::Delete { conditions, .. } => {
                if let Some(uuid) = target(conditions, names) {
                    out.push((index, Check::Absent { table: t, uuid }));
                }
            }
            Operation::Update {
                conditions, row, ..
            } => {
                let Some(uuid) = target(conditions, names) else {
                    continue;
                };
                let mut columns = Vec::new();
                for (c, d) in row {
                    if !cache.monitors(table, Some(c)) {
                        continue;
                    }
                    let Some(d) = resolve(d, names) else { continue };
                    columns.push(ColumnCheck::Equals(c.clone(), cache.normalize(table, c, d)));
                }
                if !columns.is_empty() {
                    let was_present = cache.contains(table, &uuid);
                    out.push((
                        index,
                        Check::Row {
                            table: t,
                            uuid,
                            was_present,
                            columns,
                        },
                    ));
                }
            }
            Operation::Mutate {
                conditions,
                mutations,
                ..
            } => {
                let Some(uuid) = target(conditions, names) else {
                    continue;
                };
                let mut columns = Vec::new();
                for m in mutations {
                    let (true, Some(ty)) = (
                        cache.monitors(table, Some(&m.column)),
                        cache.column_type(table, &m.column),
                    ) else {
                        continue;
                    };
                    let Some(d) = resolve(&m.value, names) else {
                        continue;
                    };
                    let c = m.column.clone();
                    let d = match (ty.is_map(), d) {
                        (true, Datum::Set(s)) if m.mutator == Mutator::Delete => Datum::Set(s),
                        (_, d) => ty.normalize(d),
                    };
                    columns.push(match (m.mutator, d) {
                        (Mutator::Insert, Datum::Set(s)) => {
                            ColumnCheck::HasAtoms(c, s.into_iter().collect())
                        }
                        (Mutator::Insert, Datum::Map(m)) => {
                            // OVSDB ignores an inserted pair whose key is present:
                            // only keys absent before (or deleted earlier in this
                            // transaction) take the new value.
                            let current = cache
                                .row(table, &uuid)
                                .and_then(|r| r.get(&c))
                                .map(|d| match d {
                                    Datum::Map(m) => m.keys().cloned().collect(),
                                    Datum::Set(_) => Vec::new(),
                                })
                                .unwrap_or_default();
                            let pairs: Vec<(Atom, Atom)> = m
                                .into_iter()
                                .filter(|(k, _)| {
                                    !current.contains(k)
                                        || deleted.contains(&(uuid, c.clone(), k.clone()))
                                })
                                .collect();
                            if pairs.is_empty() {
                                continue;
                            }
                            ColumnCheck::HasPairs(c, pairs)
                        }
                        (Mutator::Delete, Datum::Set(s)) if ty.is_map() => {
                            deleted.extend(s.iter().map(|k| (uuid, c.clone(), k.clone())));
                            ColumnCheck::LacksKeys(c, s.into_iter().collect())
                        }
                        (Mutator::Delete, Datum::Set(s)) => {
                            ColumnCheck::LacksAtoms(c, s.into_iter().collect())
                        }
                        (Mutator::Delete, Datum::Map(m)) => {
                            ColumnCheck::LacksPairs(c, m.into_iter().collect())
                        }
                        _ => continue,
                    });
                }
                if !columns.is_empty() {
                    let was_present = cache.contains(table, &uuid);
                    out.push((
                        index,
                        Check::Row {
                            table: t,
                            uuid,
                            was_present,
                            columns,
                        },
                    ));
                }
            }
            _ => {}
        }
    }
    keep_last_per_column(&mut out);
    out
}

/// Keeps only the last check of each (table, row, column): when a transaction
/// touches one column several times (delete a map key, then insert it again),
/// only the final effect shows in the cache, and the earlier checks could
/// contradict it forever. One effect per column is enough: ovsdb-server sends
/// a transaction's changes in one notification.
fn keep_last_per_column(out: &mut Vec<(usize, Check)>) {
    let mut seen = std::collections::HashSet::new();
    for (_, check) in out.iter_mut().rev() {
        if let Check::Row {
            table,
            uuid,
            columns,
            ..
        } = check
        {
            columns.reverse();
            columns.retain(|c| seen.insert((table.clone(), *uuid, c.column().to_owned())));
            columns.reverse();
        }
    }
    out.retain(|(_, c)| !matches!(c, Check::Row { columns, .. } if columns.is_empty()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ovsdb::datum::Row;
    use crate::ovsdb::fence::tests::{apply, cache, named_row, LS, LSP};
    use crate::ovsdb::fence::Fence;
    use crate::ovsdb::operation::Mutation;
    use crate::ovsdb::schema::tests::sample;
    use serde_json::json;
    use std::sync::Arc;

    #[test]
    fn an_unreferenced_non_root_insert_is_not_awaited_but_a_referenced_one_is() {
        let c = cache();
        let mut txn = Txn::new("db");
        txn.insert(LSP, named_row("orphan"));
        let fence = Fence::default();
        fence.add(&txn, &fixed_names(&txn), &c);
        assert!(fence.is_done(), "garbage-collected rows never appear");

        let mut txn = Txn::new("db");
        let (port, _) = txn.insert(LSP, named_row("p1"));
        txn.mutate_row(
            LS,
            Uuid::from_u128(1),
            vec![Mutation::insert("ports", port)],
        );
        let fence = Fence::default();
        fence.add(&txn, &fixed_names(&txn), &c);
        assert_eq!(fence.items.lock().unwrap().len(), 2);
    }

    #[test]
    fn deletes_updates_and_mutates_by_uuid_wait_for_their_effect() {
        let mut c = cache();
        let (sw, gone) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let port = Uuid::from_u128(3);
        apply(
            &mut c,
            json!({LS: {
                sw.to_string(): {"initial": {"name": "sw0", "external_ids": ["map", [["old", "1"]]]}},
                gone.to_string(): {"initial": {"name": "gone"}}
            }}),
        );
        let mut txn = Txn::new("db");
        txn.delete_row(LS, gone);
        txn.update_row(
            LS,
            sw,
            Row::from([("external_ids".to_string(), Datum::empty())]),
        );
        txn.mutate_row(LS, sw, vec![Mutation::insert("ports", Datum::uuid(port))]);
        let fence = Fence::default();
        fence.add(&txn, &fixed_names(&txn), &c);
        assert!(!fence.is_done());
        apply(
            &mut c,
            json!({LS: {
                gone.to_string(): {"delete": null},
                sw.to_string(): {"modify": {"external_ids": ["map", [["old", "1"]]], "ports": ["uuid", port.to_string()]}}
            }}),
        );
        fence.observe(&c);
        assert!(fence.is_done(), "{}", fence.waiting_for());
    }

    #[test]
    fn a_key_deleted_then_inserted_again_waits_only_for_the_final_value() {
        let mut c = cache();
        let sw = Uuid::from_u128(1);
        apply(
            &mut c,
            json!({LS: {sw.to_string(): {"initial": {"name": "sw0", "external_ids": ["map", [["k", "old"]]]}}}}),
        );
        let mut txn = Txn::new("db");
        txn.mutate_row(
            LS,
            sw,
            vec![
                Mutation::delete("external_ids", Datum::set(["k"])),
                Mutation::insert("external_ids", Datum::map([("k", "new")])),
            ],
        );
        let fence = Fence::default();
        fence.add(&txn, &fixed_names(&txn), &c);
        assert!(!fence.is_done());
        apply(
            &mut c,
            json!({LS: {sw.to_string(): {"modify": {"external_ids": ["map", [["k", "new"]]]}}}}),
        );
        fence.observe(&c);
        assert!(fence.is_done(), "{}", fence.waiting_for());
    }

    #[test]
    fn unmonitored_tables_are_not_awaited() {
        let c = Cache::new(Arc::new(sample()), &[(LSP.into(), None)]);
        let mut txn = Txn::new("db");
        txn.insert(LS, named_row("sw0"));
        let fence = Fence::default();
        fence.add(&txn, &fixed_names(&txn), &c);
        assert!(fence.is_done());
    }
}
