//! Read-your-writes for the monitored cache. The `transact` reply and the
//! `update2` notifications for the same transaction travel separately, so a
//! caller that reads the cache right after a commit could miss its own write. A
//! [`Fence`] lists what the cache must show once a transaction's changes have
//! arrived: inserted rows present, rows deleted by `_uuid` absent, columns set
//! by `update` holding the written values, elements added or removed by
//! `mutate` present or absent. The session checks every pending fence after
//! each applied notification, and an item once seen stays satisfied, so a later
//! change by someone else cannot hide that ours arrived. (A server that merges
//! updates for a backlogged client can still fold ours into a later change of
//! the same column; the wait then ends in `Error::Timeout`, retryable, although
//! the write committed.)

mod effects;

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use uuid::Uuid;

use super::cache::Cache;
use super::datum::{Atom, Datum, Row};
use super::operation::Txn;
use effects::checks;
pub use effects::fixed_names;

/// One thing a row must show.
#[derive(Debug, Clone, PartialEq)]
enum ColumnCheck {
    Equals(String, Datum),
    HasAtoms(String, Vec<Atom>),
    LacksAtoms(String, Vec<Atom>),
    /// Map pairs a mutate `insert` adds (keys absent before it, or deleted earlier in the txn).
    HasPairs(String, Vec<(Atom, Atom)>),
    LacksKeys(String, Vec<Atom>),
    LacksPairs(String, Vec<(Atom, Atom)>),
}

impl ColumnCheck {
    fn column(&self) -> &str {
        match self {
            ColumnCheck::Equals(c, _)
            | ColumnCheck::HasAtoms(c, _)
            | ColumnCheck::LacksAtoms(c, _)
            | ColumnCheck::HasPairs(c, _)
            | ColumnCheck::LacksKeys(c, _)
            | ColumnCheck::LacksPairs(c, _) => c,
        }
    }

    /// Borrows the column (a switch's `ports` can hold thousands of uuids:
    /// this runs after every applied update, so it must not copy it).
    fn holds(&self, row: &Row) -> bool {
        let empty = Datum::default();
        let get = |c: &String| row.get(c).unwrap_or(&empty);
        match self {
            ColumnCheck::Equals(c, d) => get(c) == d,
            ColumnCheck::HasAtoms(c, atoms) => match get(c) {
                Datum::Set(s) => atoms.iter().all(|a| s.contains(a)),
                Datum::Map(_) => false,
            },
            ColumnCheck::LacksAtoms(c, atoms) => match get(c) {
                Datum::Set(s) => atoms.iter().all(|a| !s.contains(a)),
                Datum::Map(_) => true,
            },
            ColumnCheck::HasPairs(c, pairs) => match get(c) {
                Datum::Map(m) => pairs.iter().all(|(k, v)| m.get(k) == Some(v)),
                Datum::Set(_) => pairs.is_empty(),
            },
            ColumnCheck::LacksKeys(c, keys) => match get(c) {
                Datum::Map(m) => keys.iter().all(|k| !m.contains_key(k)),
                Datum::Set(_) => true,
            },
            ColumnCheck::LacksPairs(c, pairs) => match get(c) {
                Datum::Map(m) => pairs.iter().all(|(k, v)| m.get(k) != Some(v)),
                Datum::Set(_) => true,
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Check {
    Present {
        table: String,
        uuid: Uuid,
    },
    Absent {
        table: String,
        uuid: Uuid,
    },
    /// The row shows every column check; if the row is gone and was in the cache
    /// when the fence was made, someone deleted it after us, which also counts.
    Row {
        table: String,
        uuid: Uuid,
        was_present: bool,
        columns: Vec<ColumnCheck>,
    },
}

impl Check {
    fn holds(&self, cache: &Cache) -> bool {
        match self {
            Check::Present { table, uuid } => cache.contains(table, uuid),
            Check::Absent { table, uuid } => !cache.contains(table, uuid),
            Check::Row {
                table,
                uuid,
                was_present,
                columns,
            } => match cache.row(table, uuid) {
                Some(row) => columns.iter().all(|c| c.holds(row)),
                None => *was_present,
            },
        }
    }
}

#[derive(Debug)]
struct Item {
    op_index: usize,
    check: Check,
    done: bool,
}

/// What the cache must show for one transaction; see the module docs.
#[derive(Debug, Default)]
pub struct Fence {
    items: Mutex<Vec<Item>>,
}

impl Fence {
    /// Adds the checks for `txn`'s operations that can be resolved with the
    /// uuids in `names` (uuid-name -> row uuid) and are not already present, then
    /// checks them against `cache`.
    pub fn add(&self, txn: &Txn, names: &HashMap<String, Uuid>, cache: &Cache) {
        let mut items = self.items.lock().expect("fence lock");
        let known: BTreeSet<usize> = items.iter().map(|i| i.op_index).collect();
        for (op_index, check) in checks(txn, names, cache) {
            if !known.contains(&op_index) {
                let done = check.holds(cache);
                items.push(Item {
                    op_index,
                    check,
                    done,
                });
            }
        }
    }

    /// Marks the checks that `cache` satisfies; they stay satisfied.
    pub fn observe(&self, cache: &Cache) {
        for item in self.items.lock().expect("fence lock").iter_mut() {
            if !item.done && item.check.holds(cache) {
                item.done = true;
            }
        }
    }

    /// True once every check has been satisfied.
    pub fn is_done(&self) -> bool {
        self.items
            .lock()
            .expect("fence lock")
            .iter()
            .all(|i| i.done)
    }

    /// The checks still waiting, for error messages.
    pub fn waiting_for(&self) -> String {
        let items = self.items.lock().expect("fence lock");
        let waiting: Vec<String> = items
            .iter()
            .filter(|i| !i.done)
            .map(|i| match &i.check {
                Check::Present { table, uuid } => format!("{table} {uuid} to appear"),
                Check::Absent { table, uuid } => format!("{table} {uuid} to disappear"),
                Check::Row { table, uuid, .. } => format!("{table} {uuid} to change"),
            })
            .collect();
        waiting.join(", ")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ovsdb::datum::Row;
    use crate::ovsdb::operation::{Expect, Operation};
    use crate::ovsdb::schema::tests::sample;
    use serde_json::json;
    use std::sync::Arc;

    pub(crate) const LS: &str = "Logical_Switch";
    pub(crate) const LSP: &str = "Logical_Switch_Port";

    /// A cache monitoring the sample schema's switch and port tables.
    pub(crate) fn cache() -> Cache {
        Cache::new(Arc::new(sample()), &[(LS.into(), None), (LSP.into(), None)])
    }

    pub(crate) fn apply(c: &mut Cache, updates: serde_json::Value) {
        c.apply_update2(&updates).unwrap();
    }

    pub(crate) fn named_row(name: &str) -> Row {
        Row::from([("name".to_string(), Datum::string(name))])
    }

    #[test]
    fn an_insert_waits_for_its_row_and_stays_satisfied() {
        let mut c = cache();
        let mut txn = Txn::new("db");
        let (_, u) = txn.insert(LS, named_row("sw0"));
        let fence = Fence::default();
        fence.add(&txn, &fixed_names(&txn), &c);
        assert!(!fence.is_done());
        assert!(fence.waiting_for().contains(&u.to_string()));
        apply(
            &mut c,
            json!({LS: {u.to_string(): {"insert": {"name": "sw0"}}}}),
        );
        fence.observe(&c);
        apply(&mut c, json!({LS: {u.to_string(): {"delete": null}}}));
        fence.observe(&c);
        assert!(fence.is_done(), "seen once is enough even if deleted later");
    }

    #[test]
    fn a_row_deleted_by_someone_else_after_our_update_counts_as_seen() {
        let mut c = cache();
        let sw = Uuid::from_u128(1);
        apply(
            &mut c,
            json!({LS: {sw.to_string(): {"initial": {"name": "sw0"}}}}),
        );
        let mut txn = Txn::new("db");
        txn.update_row(LS, sw, named_row("sw1"));
        let fence = Fence::default();
        fence.add(&txn, &fixed_names(&txn), &c);
        apply(&mut c, json!({LS: {sw.to_string(): {"delete": null}}}));
        fence.observe(&c);
        assert!(fence.is_done());
    }

    #[test]
    fn names_learned_from_the_reply_add_the_missing_checks_once() {
        let c = cache();
        let mut txn = Txn::new("db");
        txn.push(
            Operation::Insert {
                table: LS.into(),
                row: named_row("sw9"),
                uuid_name: Some("n".into()),
                uuid: None,
            },
            Expect::Any,
        );
        let fence = Fence::default();
        fence.add(&txn, &fixed_names(&txn), &c);
        assert!(fence.is_done(), "nothing known before the reply");
        let names = HashMap::from([("n".to_string(), Uuid::from_u128(9))]);
        fence.add(&txn, &names, &c);
        fence.add(&txn, &names, &c);
        assert_eq!(fence.items.lock().unwrap().len(), 1);
        assert!(!fence.is_done());
    }
}
