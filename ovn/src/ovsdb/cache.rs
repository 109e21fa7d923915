//! The monitored replica of a database: table -> row uuid -> row, filled from
//! the initial `monitor_cond` snapshot and kept current by notifications
//! (applied in [`update`]). Readers use [`Cache::table`], [`Cache::row`] and
//! [`Cache::find`]; values are kept in their schema's canonical form.

mod update;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use uuid::Uuid;

use super::datum::{Datum, Row};
use super::schema::{ColumnType, Schema};

/// A replica of the monitored tables.
#[derive(Debug, Clone, Default)]
pub struct Cache {
    schema: Option<Arc<Schema>>,
    /// Monitored columns per table (`None` = every column of the schema).
    columns: BTreeMap<String, Option<Vec<String>>>,
    tables: BTreeMap<String, BTreeMap<Uuid, Row>>,
    /// Per table, the rows whose `name` column holds one string, by that
    /// string: [`Cache::find`] by name without a scan.
    names: BTreeMap<String, HashMap<String, BTreeSet<Uuid>>>,
}

/// The column [`Cache::find`] looks up through an index.
const NAME: &str = "name";

impl Cache {
    /// An empty cache for the given monitored tables.
    pub fn new(schema: Arc<Schema>, monitored: &[(String, Option<Vec<String>>)]) -> Cache {
        Cache {
            columns: monitored.iter().cloned().collect(),
            tables: monitored
                .iter()
                .map(|(t, _)| (t.clone(), BTreeMap::new()))
                .collect(),
            schema: Some(schema),
            names: BTreeMap::new(),
        }
    }

    /// The rows of `table` in uuid order (nothing for an unknown or unmonitored table).
    pub fn table(&self, name: &str) -> impl Iterator<Item = (&Uuid, &Row)> {
        self.tables.get(name).into_iter().flat_map(|t| t.iter())
    }

    /// One row.
    pub fn row(&self, table: &str, uuid: &Uuid) -> Option<&Row> {
        self.tables.get(table)?.get(uuid)
    }

    /// True when the row is present.
    pub fn contains(&self, table: &str, uuid: &Uuid) -> bool {
        self.row(table, uuid).is_some()
    }

    /// Rows whose `column` equals `value` (`ovn-nbctl find TABLE column=value`);
    /// `_uuid` looks the row up directly.
    pub fn find(&self, table: &str, column: &str, value: &Datum) -> Vec<(Uuid, &Row)> {
        if column == "_uuid" {
            return value
                .as_uuid()
                .and_then(|u| Some((u, self.row(table, &u)?)))
                .into_iter()
                .collect();
        }
        let value = match self.column_type(table, column) {
            Some(ty) => ty.normalize(value.clone()),
            None => value.clone(),
        };
        if let (NAME, Some(name)) = (column, value.as_str()) {
            // A row matches only if its name is this one string: all such
            // rows are in the index.
            let Some(uuids) = self.names.get(table).and_then(|n| n.get(name)) else {
                return Vec::new();
            };
            return uuids
                .iter()
                .filter_map(|u| Some((*u, self.row(table, u)?)))
                .filter(|(_, row)| row.get(column) == Some(&value))
                .collect();
        }
        self.table(table)
            .filter(|(_, row)| row.get(column) == Some(&value))
            .map(|(u, row)| (*u, row))
            .collect()
    }

    /// How many rows `table` has.
    pub fn len(&self, table: &str) -> usize {
        self.tables.get(table).map_or(0, BTreeMap::len)
    }

    /// True when no monitored table has a row.
    pub fn is_empty(&self) -> bool {
        self.tables.values().all(BTreeMap::is_empty)
    }

    /// The names of the monitored tables.
    pub fn table_names(&self) -> impl Iterator<Item = &str> {
        self.tables.keys().map(String::as_str)
    }

    /// The schema the cache was built for.
    pub fn schema(&self) -> Option<&Schema> {
        self.schema.as_deref()
    }

    /// A column's type from the schema.
    pub fn column_type(&self, table: &str, column: &str) -> Option<&ColumnType> {
        self.schema.as_ref()?.column_type(table, column)
    }

    /// True when `table` is monitored, and (given a column) that column too.
    pub fn monitors(&self, table: &str, column: Option<&str>) -> bool {
        match (self.columns.get(table), column) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(Some(cols)), Some(c)) => cols.iter().any(|m| m == c),
            (Some(None), Some(c)) => self.column_type(table, c).is_some(),
        }
    }

    /// `d` in the canonical form of `table.column` (see [`ColumnType::normalize`]).
    pub fn normalize(&self, table: &str, column: &str, d: Datum) -> Datum {
        match self.column_type(table, column) {
            Some(ty) => ty.normalize(d),
            None => d,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ovsdb::schema::tests::sample;
    use serde_json::json;

    const LS: &str = "Logical_Switch";

    fn uuid(n: u8) -> Uuid {
        Uuid::from_bytes([n; 16])
    }

    #[test]
    fn find_matches_by_value_and_by_uuid() {
        let mut c = Cache::new(Arc::new(sample()), &[(LS.into(), None)]);
        c.apply_update2(&json!({LS: {
            uuid(1).to_string(): {"initial": {"name": "sw0"}},
            uuid(3).to_string(): {"insert": {"name": "sw3"}}
        }}))
        .unwrap();
        let found = c.find(LS, "name", &Datum::string("sw3"));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, uuid(3));
        assert_eq!(c.find(LS, "_uuid", &Datum::uuid(uuid(1))).len(), 1);
        assert_eq!(
            c.find(LS, "external_ids", &Datum::empty()).len(),
            2,
            "an empty set finds empty maps"
        );
        assert!(c.find("Nope", "name", &Datum::string("sw0")).is_empty());
        assert_eq!(c.table("Nope").count(), 0);
        assert_eq!((c.len(LS), c.len("Nope"), c.is_empty()), (2, 0, false));
    }

    /// The name index against a scan of the rows, after each change.
    fn by_scan(c: &Cache, name: &str) -> Vec<Uuid> {
        c.table(LS)
            .filter(|(_, r)| r.get("name").and_then(Datum::as_str) == Some(name))
            .map(|(u, _)| *u)
            .collect()
    }

    fn by_find(c: &Cache, name: &str) -> Vec<Uuid> {
        c.find(LS, "name", &Datum::string(name))
            .into_iter()
            .map(|(u, _)| u)
            .collect()
    }

    #[test]
    fn find_by_name_follows_inserts_renames_duplicates_and_deletes() {
        let mut c = Cache::new(Arc::new(sample()), &[(LS.into(), None)]);
        let names = ["a", "b", "c"];
        let check = |c: &Cache, step: &str| {
            for n in names {
                assert_eq!(by_find(c, n), by_scan(c, n), "{n:?} after {step}");
            }
        };
        c.apply_update2(&json!({LS: {
            uuid(1).to_string(): {"initial": {"name": "a"}},
            uuid(2).to_string(): {"initial": {"name": "a"}},
            uuid(3).to_string(): {"initial": {"name": "b"}}
        }}))
        .unwrap();
        check(&c, "the snapshot");
        assert_eq!(
            by_find(&c, "a"),
            [uuid(1), uuid(2)],
            "duplicates, in uuid order"
        );
        c.apply_update2(&json!({LS: {uuid(1).to_string(): {"modify": {"name": "c"}}}}))
            .unwrap();
        check(&c, "a rename");
        assert_eq!(by_find(&c, "a"), [uuid(2)]);
        c.apply_update2(&json!({LS: {uuid(3).to_string(): {"modify": {"other_config": ["map", [["k", "v"]]]}}}}))
            .unwrap();
        check(&c, "a change of another column");
        assert_eq!(by_find(&c, "b"), [uuid(3)]);
        c.apply_update2(&json!({LS: {uuid(2).to_string(): {"delete": null}}}))
            .unwrap();
        check(&c, "a delete");
        assert!(by_find(&c, "a").is_empty());
        c.apply_update(&json!({LS: {uuid(3).to_string(): {"new": {"name": "a"}}}}))
            .unwrap();
        check(&c, "a plain update");
        assert_eq!(by_find(&c, "a"), [uuid(3)]);
        c.remove_row(LS, &uuid(3));
        c.insert_row(
            LS,
            uuid(4),
            [("name".to_owned(), Datum::string("b"))].into(),
        );
        check(&c, "fixture rows");
        assert_eq!(by_find(&c, "b"), [uuid(4)]);
    }

    #[test]
    fn monitored_tables_and_columns_are_known() {
        let c = Cache::new(
            Arc::new(sample()),
            &[
                (LS.into(), None),
                ("Logical_Switch_Port".into(), Some(vec!["name".into()])),
            ],
        );
        assert!(c.monitors(LS, Some("ports")));
        assert!(c.monitors("Logical_Switch_Port", Some("name")));
        assert!(!c.monitors("Logical_Switch_Port", Some("up")));
        assert!(!c.monitors("Nope", None));
        assert_eq!(
            c.table_names().collect::<Vec<_>>(),
            [LS, "Logical_Switch_Port"]
        );
    }
}
