//! Applying notifications to the [`Cache`]: `update2`/`update3` (and the
//! `monitor_cond` snapshot) and plain `update`. In an `update2` "modify", a set
//! column (also an optional value, `min 0 max 1`) carries the symmetric
//! difference of old and new, a map column carries keys to add (new key),
//! replace (new value) or remove (same value as now), and a scalar carries its
//! new value (ovsdb-server(7), "update2 notification"). Inserted rows get the
//! default value for monitored columns the server leaves out.

use serde_json::Value;
use uuid::Uuid;

use super::{Cache, NAME};
use crate::ovsdb::datum::{row_from_json, Datum, Row};
use crate::ovsdb::error::Error;
use crate::ovsdb::jsonrpc::short;

impl Cache {
    /// Applies the `<table-updates2>` of an `update2` or `update3` notification
    /// (also the result of `monitor_cond`); returns how many rows changed.
    pub fn apply_update2(&mut self, updates: &Value) -> Result<usize, Error> {
        let mut changed = 0;
        for (table, rows) in objects(updates, "table-updates2")? {
            for (uuid, row_update) in objects(rows, "table-update2")? {
                let uuid = parse_uuid(uuid)?;
                let (kind, body) = single_member(row_update)?;
                match kind {
                    "initial" | "insert" => {
                        let row = self.full_row(table, row_from_json(body)?);
                        self.put(table, uuid, row);
                    }
                    "delete" => {
                        self.take(table, &uuid);
                    }
                    "modify" => {
                        let diff = row_from_json(body)?;
                        let old = match self.take(table, &uuid) {
                            Some(old) => old,
                            None => {
                                tracing::warn!(table, %uuid, "update2 modifies a row the cache does not have");
                                self.full_row(table, Row::new())
                            }
                        };
                        let new = self.apply_diff(table, old, diff);
                        self.put(table, uuid, new);
                    }
                    other => {
                        return Err(Error::Protocol(format!(
                            "unknown row update kind {other:?}"
                        )));
                    }
                }
                changed += 1;
            }
        }
        Ok(changed)
    }

    /// Applies the `<table-updates>` of a plain `update` notification (`old`/`new`).
    pub fn apply_update(&mut self, updates: &Value) -> Result<usize, Error> {
        let mut changed = 0;
        for (table, rows) in objects(updates, "table-updates")? {
            for (uuid, row_update) in objects(rows, "table-update")? {
                let uuid = parse_uuid(uuid)?;
                match row_update.get("new") {
                    None => {
                        self.take(table, &uuid);
                    }
                    Some(new) => {
                        let new = self.normalize_row(table, row_from_json(new)?);
                        let row = match self.take(table, &uuid) {
                            Some(mut old) => {
                                old.extend(new);
                                old
                            }
                            None => self.full_row(table, new),
                        };
                        self.put(table, uuid, row);
                    }
                }
                changed += 1;
            }
        }
        Ok(changed)
    }

    /// Puts a row in the cache as if the server had sent it (normalised, with
    /// defaults for left-out monitored columns): for fixtures in tests of code
    /// that builds transactions from a cache. Returns the previous row.
    pub fn insert_row(&mut self, table: &str, uuid: Uuid, row: Row) -> Option<Row> {
        let row = self.full_row(table, row);
        self.put(table, uuid, row)
    }

    /// Removes a row, as a `delete` from the server would (for fixtures).
    pub fn remove_row(&mut self, table: &str, uuid: &Uuid) -> Option<Row> {
        self.take(table, uuid)
    }

    /// Stores a row, keeping the name index current; returns the one it replaced.
    fn put(&mut self, table: &str, uuid: Uuid, row: Row) -> Option<Row> {
        if let Some(name) = row.get(NAME).and_then(Datum::as_str) {
            self.names
                .entry(table.to_owned())
                .or_default()
                .entry(name.to_owned())
                .or_default()
                .insert(uuid);
        }
        let old = self
            .tables
            .entry(table.to_owned())
            .or_default()
            .insert(uuid, row);
        if let Some(old) = &old {
            self.unindex(table, uuid, old);
        }
        old
    }

    /// Removes a row and its name index entry.
    fn take(&mut self, table: &str, uuid: &Uuid) -> Option<Row> {
        let old = self.tables.get_mut(table)?.remove(uuid)?;
        self.unindex(table, *uuid, &old);
        Some(old)
    }

    /// Drops `old`'s name entry unless the row now stored under `uuid`
    /// has the same name.
    fn unindex(&mut self, table: &str, uuid: Uuid, old: &Row) {
        let Some(name) = old.get(NAME).and_then(Datum::as_str) else {
            return;
        };
        let now = self
            .tables
            .get(table)
            .and_then(|t| t.get(&uuid))
            .and_then(|r| r.get(NAME))
            .and_then(Datum::as_str);
        if now == Some(name) {
            return;
        }
        if let Some(names) = self.names.get_mut(table) {
            if let Some(uuids) = names.get_mut(name) {
                uuids.remove(&uuid);
                if uuids.is_empty() {
                    names.remove(name);
                }
            }
        }
    }

    fn normalize_row(&self, table: &str, row: Row) -> Row {
        row.into_iter()
            .map(|(c, d)| {
                let d = match self.column_type(table, &c) {
                    Some(ty) => ty.normalize(d),
                    None => d,
                };
                (c, d)
            })
            .collect()
    }

    /// A row with every monitored column: the server leaves out columns that
    /// hold their default value.
    fn full_row(&self, table: &str, row: Row) -> Row {
        let mut row = self.normalize_row(table, row);
        let Some(t) = self.schema.as_ref().and_then(|s| s.table(table)) else {
            return row;
        };
        let wanted: Vec<&String> = match self.columns.get(table) {
            Some(Some(cols)) => cols.iter().collect(),
            _ => t.columns.keys().collect(),
        };
        for c in wanted {
            if let (false, Some(col)) = (row.contains_key(c), t.column(c)) {
                row.insert(c.clone(), col.kind.default_datum());
            }
        }
        row
    }

    fn apply_diff(&self, table: &str, mut row: Row, diff: Row) -> Row {
        for (column, d) in diff {
            let ty = self.column_type(table, &column);
            let d = match ty {
                Some(ty) => ty.normalize(d),
                None => d,
            };
            let new = match (ty, row.remove(&column)) {
                (Some(ty), Some(old)) if !ty.is_scalar() => apply_column_diff(old, d),
                (Some(ty), None) if !ty.is_scalar() => apply_column_diff(ty.default_datum(), d),
                _ => d,
            };
            row.insert(column, new);
        }
        row
    }
}

/// Applies one set or map column's `update2` diff.
fn apply_column_diff(old: Datum, diff: Datum) -> Datum {
    match (old, diff) {
        (Datum::Set(mut old), Datum::Set(diff)) => {
            for a in diff {
                if !old.remove(&a) {
                    old.insert(a);
                }
            }
            Datum::Set(old)
        }
        (Datum::Map(mut old), Datum::Map(diff)) => {
            for (k, v) in diff {
                if old.get(&k) == Some(&v) {
                    old.remove(&k);
                } else {
                    old.insert(k, v);
                }
            }
            Datum::Map(old)
        }
        // An empty map column may read as an empty set before normalisation.
        (Datum::Set(old), Datum::Map(diff)) if old.is_empty() => Datum::Map(diff),
        (_, diff) => diff,
    }
}

fn objects<'a>(v: &'a Value, what: &str) -> Result<&'a serde_json::Map<String, Value>, Error> {
    v.as_object()
        .ok_or_else(|| Error::Protocol(format!("{what} is not an object: {}", short(v))))
}

fn single_member(v: &Value) -> Result<(&str, &Value), Error> {
    let o = objects(v, "row-update2")?;
    match (o.len(), o.iter().next()) {
        (1, Some((k, v))) => Ok((k.as_str(), v)),
        _ => Err(Error::Protocol(format!(
            "row-update2 must have exactly one member: {}",
            short(v)
        ))),
    }
}

fn parse_uuid(s: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(s).map_err(|_| Error::Protocol(format!("row uuid {s:?} is not a uuid")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ovsdb::datum::Atom;
    use crate::ovsdb::schema::tests::sample;
    use serde_json::json;
    use std::sync::Arc;

    const LS: &str = "Logical_Switch";

    fn cache() -> Cache {
        Cache::new(
            Arc::new(sample()),
            &[
                (LS.into(), None),
                (
                    "Logical_Switch_Port".into(),
                    Some(vec!["name".into(), "up".into()]),
                ),
            ],
        )
    }

    fn uuid(n: u8) -> Uuid {
        Uuid::from_bytes([n; 16])
    }

    fn with_switch(c: &mut Cache, row: Value) {
        c.apply_update2(&json!({LS: {uuid(1).to_string(): {"initial": row}}}))
            .unwrap();
    }

    fn modify(c: &mut Cache, diff: Value) -> &Row {
        c.apply_update2(&json!({LS: {uuid(1).to_string(): {"modify": diff}}}))
            .unwrap();
        c.row(LS, &uuid(1)).unwrap()
    }

    #[test]
    fn an_initial_row_gets_defaults_for_left_out_columns() {
        let mut c = cache();
        with_switch(&mut c, json!({"name": "sw0"}));
        let row = c.row(LS, &uuid(1)).unwrap();
        assert_eq!(row["name"], Datum::string("sw0"));
        assert_eq!(row["ports"], Datum::empty());
        assert_eq!(
            row["external_ids"],
            Datum::Map(std::collections::BTreeMap::new())
        );
        assert_eq!(row["weight"], Datum::atom(Atom::Real(0.0)));
        assert_eq!(c.len(LS), 1);
    }

    #[test]
    fn only_monitored_columns_are_filled_in() {
        let mut c = cache();
        c.apply_update2(
            &json!({"Logical_Switch_Port": {uuid(2).to_string(): {"insert": {"name": "p"}}}}),
        )
        .unwrap();
        let row = c.row("Logical_Switch_Port", &uuid(2)).unwrap();
        assert_eq!(row.keys().collect::<Vec<_>>(), ["name", "up"]);
    }

    #[test]
    fn a_delete_removes_the_row() {
        let mut c = cache();
        with_switch(&mut c, json!({"name": "sw0"}));
        c.apply_update2(&json!({LS: {uuid(1).to_string(): {"delete": null}}}))
            .unwrap();
        assert!(c.row(LS, &uuid(1)).is_none());
        assert_eq!(c.table(LS).count(), 0);
    }

    #[test]
    fn a_scalar_diff_replaces_the_value() {
        let mut c = cache();
        with_switch(&mut c, json!({"name": "sw0"}));
        assert_eq!(
            modify(&mut c, json!({"name": "sw1"}))["name"],
            Datum::string("sw1")
        );
    }

    #[test]
    fn a_set_diff_is_a_symmetric_difference() {
        let mut c = cache();
        let (a, b, x) = (uuid(7), uuid(8), uuid(9));
        with_switch(
            &mut c,
            json!({"name": "sw0", "ports": ["set", [["uuid", a.to_string()], ["uuid", b.to_string()]]]}),
        );
        // Remove b, add x.
        let row = modify(
            &mut c,
            json!({"ports": ["set", [["uuid", b.to_string()], ["uuid", x.to_string()]]]}),
        );
        assert_eq!(row["ports"], Datum::set([a, x]));
        // A single-element diff is sent bare.
        let row = modify(&mut c, json!({"ports": ["uuid", a.to_string()]}));
        assert_eq!(row["ports"], Datum::set([x]));
    }

    #[test]
    fn an_optional_value_diff_swaps_old_for_new() {
        let mut c = cache();
        with_switch(&mut c, json!({"name": "sw0", "tag": 10}));
        assert_eq!(
            modify(&mut c, json!({"tag": ["set", [10, 20]]}))["tag"],
            Datum::int(20)
        );
        assert_eq!(modify(&mut c, json!({"tag": 20}))["tag"], Datum::empty());
    }

    #[test]
    fn a_map_diff_adds_new_keys_replaces_new_values_and_removes_same_values() {
        let mut c = cache();
        with_switch(
            &mut c,
            json!({"name": "sw0", "external_ids": ["map", [["keep", "1"], ["drop", "2"], ["change", "3"]]]}),
        );
        let row = modify(
            &mut c,
            json!({"external_ids": ["map", [["drop", "2"], ["change", "4"], ["new", "5"]]]}),
        );
        assert_eq!(
            row["external_ids"],
            Datum::map([("keep", "1"), ("change", "4"), ("new", "5")])
        );
    }

    #[test]
    fn a_map_diff_on_an_empty_map_adds_its_keys() {
        let mut c = cache();
        with_switch(&mut c, json!({"name": "sw0"}));
        let row = modify(&mut c, json!({"external_ids": ["map", [["k", "v"]]]}));
        assert_eq!(row["external_ids"], Datum::map([("k", "v")]));
    }

    #[test]
    fn plain_updates_replace_the_columns_in_new_and_delete_without_new() {
        let mut c = cache();
        let u = uuid(1).to_string();
        c.apply_update(
            &json!({LS: {&u: {"new": {"name": "sw0", "external_ids": ["map", [["a", "1"]]]}}}}),
        )
        .unwrap();
        c.apply_update(&json!({LS: {&u: {"old": {"name": "sw0"}, "new": {"name": "sw1"}}}}))
            .unwrap();
        let row = c.row(LS, &uuid(1)).unwrap();
        assert_eq!(row["name"], Datum::string("sw1"));
        assert_eq!(row["external_ids"], Datum::map([("a", "1")]));
        c.apply_update(&json!({LS: {&u: {"old": {"name": "sw1"}}}}))
            .unwrap();
        assert_eq!(c.len(LS), 0);
    }

    #[test]
    fn malformed_updates_are_protocol_errors() {
        let mut c = cache();
        for bad in [
            json!([]),
            json!({LS: []}),
            json!({LS: {"not-a-uuid": {"insert": {}}}}),
            json!({LS: {uuid(1).to_string(): {"insert": {}, "delete": null}}}),
            json!({LS: {uuid(1).to_string(): {"rename": {}}}}),
        ] {
            assert!(c.apply_update2(&bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn fixture_rows_look_like_rows_from_the_server() {
        let mut c = cache();
        let u = uuid(5);
        assert!(c
            .insert_row(
                LS,
                u,
                Row::from([("name".to_string(), Datum::string("fx"))])
            )
            .is_none());
        assert_eq!(c.row(LS, &u).unwrap()["ports"], Datum::empty());
        assert_eq!(c.find(LS, "name", &Datum::string("fx")).len(), 1);
        assert!(c.remove_row(LS, &u).is_some());
        assert!(c.remove_row("Nope", &u).is_none());
        assert_eq!(c.len(LS), 0);
    }
}
