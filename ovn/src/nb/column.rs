//! Typed column access for `from_row`: reads one column of a raw [`Row`] as a
//! string, optional value, set or map, tolerating a missing column (a monitor
//! may carry only some columns) and naming the column when its type is wrong.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::RowError;
use crate::ovsdb::{Atom, Datum, Row};

/// Reads the columns of one row of `table`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Columns<'a> {
    table: &'static str,
    uuid: Uuid,
    row: &'a Row,
}

impl<'a> Columns<'a> {
    pub(crate) fn new(table: &'static str, uuid: Uuid, row: &'a Row) -> Self {
        Columns { table, uuid, row }
    }

    fn bad(&self, column: &str, expected: &'static str, found: &Datum) -> RowError {
        RowError::BadColumn {
            table: self.table,
            uuid: self.uuid,
            column: column.to_owned(),
            expected,
            found: found.to_string(),
        }
    }

    fn set(&self, column: &str, expected: &'static str) -> Result<Option<&'a Datum>, RowError> {
        match self.row.get(column) {
            None => Ok(None),
            Some(d @ Datum::Set(_)) => Ok(Some(d)),
            Some(d) => Err(self.bad(column, expected, d)),
        }
    }

    /// A scalar string column; missing reads as "".
    pub(crate) fn string(&self, column: &str) -> Result<String, RowError> {
        Ok(self.opt_string(column)?.unwrap_or_default())
    }

    /// An optional string column (`min: 0, max: 1`); missing or empty reads as None.
    pub(crate) fn opt_string(&self, column: &str) -> Result<Option<String>, RowError> {
        self.opt(column, "a string", |a| a.as_str().map(str::to_owned))
    }

    /// An optional integer column.
    pub(crate) fn opt_int(&self, column: &str) -> Result<Option<i64>, RowError> {
        self.opt(column, "an integer", Atom::as_int)
    }

    /// An optional boolean column.
    pub(crate) fn opt_bool(&self, column: &str) -> Result<Option<bool>, RowError> {
        self.opt(column, "a boolean", Atom::as_bool)
    }

    fn opt<T>(
        &self,
        column: &str,
        expected: &'static str,
        get: impl Fn(&Atom) -> Option<T>,
    ) -> Result<Option<T>, RowError> {
        let Some(d) = self.set(column, expected)? else {
            return Ok(None);
        };
        match d {
            Datum::Set(s) if s.is_empty() => Ok(None),
            Datum::Set(s) if s.len() == 1 => s
                .iter()
                .next()
                .and_then(&get)
                .map(Some)
                .ok_or_else(|| self.bad(column, expected, d)),
            _ => Err(self.bad(column, expected, d)),
        }
    }

    /// A set of strings; missing reads as empty.
    pub(crate) fn strings(&self, column: &str) -> Result<Vec<String>, RowError> {
        self.members(column, "a set of strings", |a| {
            a.as_str().map(str::to_owned)
        })
    }

    /// A set of row references; missing reads as empty.
    pub(crate) fn uuids(&self, column: &str) -> Result<Vec<Uuid>, RowError> {
        self.members(column, "a set of uuids", Atom::as_uuid)
    }

    fn members<T>(
        &self,
        column: &str,
        expected: &'static str,
        get: impl Fn(&Atom) -> Option<T>,
    ) -> Result<Vec<T>, RowError> {
        let Some(d) = self.set(column, expected)? else {
            return Ok(Vec::new());
        };
        d.atoms()
            .map(|a| get(a).ok_or_else(|| self.bad(column, expected, d)))
            .collect()
    }

    /// A string-to-string map; missing (or the empty set) reads as empty.
    pub(crate) fn map(&self, column: &str) -> Result<BTreeMap<String, String>, RowError> {
        const EXPECTED: &str = "a string map";
        match self.row.get(column) {
            None => Ok(BTreeMap::new()),
            Some(Datum::Set(s)) if s.is_empty() => Ok(BTreeMap::new()),
            Some(d @ Datum::Map(m)) => m
                .iter()
                .map(|(k, v)| match (k.as_str(), v.as_str()) {
                    (Some(k), Some(v)) => Ok((k.to_owned(), v.to_owned())),
                    _ => Err(self.bad(column, EXPECTED, d)),
                })
                .collect(),
            Some(d) => Err(self.bad(column, EXPECTED, d)),
        }
    }
}

/// Builds a row column by column (the `to_row` side).
#[derive(Debug, Default)]
pub(crate) struct RowBuilder {
    row: Row,
}

impl RowBuilder {
    pub(crate) fn new() -> Self {
        RowBuilder::default()
    }
    pub(crate) fn string(mut self, column: &str, value: &str) -> Self {
        self.row.insert(column.to_owned(), Datum::string(value));
        self
    }
    pub(crate) fn opt_string(mut self, column: &str, value: Option<&String>) -> Self {
        self.row
            .insert(column.to_owned(), Datum::set(value.map(String::as_str)));
        self
    }
    pub(crate) fn opt_bool(mut self, column: &str, value: Option<bool>) -> Self {
        self.row.insert(column.to_owned(), Datum::set(value));
        self
    }
    pub(crate) fn strings(mut self, column: &str, values: &[String]) -> Self {
        self.row.insert(
            column.to_owned(),
            Datum::set(values.iter().map(String::as_str)),
        );
        self
    }
    pub(crate) fn uuids(mut self, column: &str, values: &[Uuid]) -> Self {
        self.row
            .insert(column.to_owned(), Datum::set(values.iter().copied()));
        self
    }
    pub(crate) fn map(mut self, column: &str, values: &BTreeMap<String, String>) -> Self {
        self.row
            .insert(column.to_owned(), Datum::string_map(values));
        self
    }
    pub(crate) fn build(self) -> Row {
        self.row
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pairs: &[(&str, Datum)]) -> Row {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn missing_columns_read_as_their_empty_values() {
        let r = Row::new();
        let c = Columns::new("T", Uuid::nil(), &r);
        assert_eq!(c.string("name").unwrap(), "");
        assert_eq!(c.opt_string("peer").unwrap(), None);
        assert!(c.strings("addresses").unwrap().is_empty());
        assert!(c.uuids("ports").unwrap().is_empty());
        assert!(c.map("external_ids").unwrap().is_empty());
        assert_eq!(c.opt_bool("up").unwrap(), None);
    }

    #[test]
    fn a_column_of_the_wrong_type_is_named_in_the_error() {
        let r = row(&[("name", Datum::int(3)), ("ports", Datum::set(["x"]))]);
        let c = Columns::new("Logical_Switch", Uuid::nil(), &r);
        let e = c.string("name").unwrap_err().to_string();
        assert!(e.contains("Logical_Switch") && e.contains("name"), "{e}");
        assert!(c.uuids("ports").is_err());
        assert!(c.map("name").is_err());
    }

    #[test]
    fn built_rows_read_back_the_same_values() {
        let mut m = BTreeMap::new();
        m.insert("k".to_owned(), "v".to_owned());
        let u = Uuid::new_v4();
        let r = RowBuilder::new()
            .string("name", "sw0")
            .opt_string("peer", None)
            .opt_bool("up", Some(true))
            .strings("addresses", &["router".to_owned()])
            .uuids("ports", &[u])
            .map("external_ids", &m)
            .build();
        let c = Columns::new("T", Uuid::nil(), &r);
        assert_eq!(c.string("name").unwrap(), "sw0");
        assert_eq!(c.opt_string("peer").unwrap(), None);
        assert_eq!(c.opt_bool("up").unwrap(), Some(true));
        assert_eq!(c.strings("addresses").unwrap(), vec!["router".to_owned()]);
        assert_eq!(c.uuids("ports").unwrap(), vec![u]);
        assert_eq!(c.map("external_ids").unwrap(), m);
    }
}
