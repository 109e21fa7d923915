//! Database schemas as returned by `get_schema` (RFC 7047 section 3.2;
//! `ovsdb-client get-schema`): tables, their columns' types (key and optional
//! value atomic types, `min`/`max`, `refTable`) and indexes. The cache needs the
//! column types to apply `update2` diffs (a set column's diff is a symmetric
//! difference, a scalar's is the new value) and to fill in default values the
//! server leaves out.

use std::collections::BTreeMap;

use serde_json::Value;
use uuid::Uuid;

use super::datum::{Atom, Datum};
use super::error::Error;

/// An atomic type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtomicType {
    Integer,
    Real,
    Boolean,
    String,
    Uuid,
}

impl AtomicType {
    fn parse(s: &str) -> Result<AtomicType, Error> {
        Ok(match s {
            "integer" => AtomicType::Integer,
            "real" => AtomicType::Real,
            "boolean" => AtomicType::Boolean,
            "string" => AtomicType::String,
            "uuid" => AtomicType::Uuid,
            other => return Err(Error::Schema(format!("unknown atomic type {other:?}"))),
        })
    }

    /// The type's default atom (`0`, `0.0`, `false`, `""`, the all-zero uuid).
    pub fn default_atom(self) -> Atom {
        match self {
            AtomicType::Integer => Atom::Integer(0),
            AtomicType::Real => Atom::Real(0.0),
            AtomicType::Boolean => Atom::Boolean(false),
            AtomicType::String => Atom::String(String::new()),
            AtomicType::Uuid => Atom::Uuid(Uuid::nil()),
        }
    }
}

/// A key or value type: an atomic type with constraints.
#[derive(Debug, Clone, PartialEq)]
pub struct BaseType {
    pub atomic: AtomicType,
    /// For uuid columns: the table the references point into.
    pub ref_table: Option<String>,
    /// For references: true when `refType` is `weak`.
    pub weak: bool,
}

impl BaseType {
    fn parse(v: &Value) -> Result<BaseType, Error> {
        match v {
            Value::String(s) => Ok(BaseType {
                atomic: AtomicType::parse(s)?,
                ref_table: None,
                weak: false,
            }),
            Value::Object(o) => {
                let atomic = o
                    .get("type")
                    .and_then(Value::as_str)
                    .ok_or_else(|| Error::Schema(format!("base type without \"type\": {v}")))?;
                Ok(BaseType {
                    atomic: AtomicType::parse(atomic)?,
                    ref_table: o.get("refTable").and_then(Value::as_str).map(str::to_owned),
                    weak: o.get("refType").and_then(Value::as_str) == Some("weak"),
                })
            }
            _ => Err(Error::Schema(format!("malformed base type {v}"))),
        }
    }

    fn normalize(&self, a: Atom) -> Atom {
        match (self.atomic, a) {
            // ovsdb-server prints integral reals without a fraction ("0").
            (AtomicType::Real, Atom::Integer(i)) => Atom::Real(i as f64),
            (_, a) => a,
        }
    }
}

/// A column's type.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnType {
    pub key: BaseType,
    /// Present for map columns.
    pub value: Option<BaseType>,
    pub min: u64,
    /// `None` for `"unlimited"`.
    pub max: Option<u64>,
}

impl ColumnType {
    fn parse(v: &Value) -> Result<ColumnType, Error> {
        if let Value::String(_) = v {
            return Ok(ColumnType {
                key: BaseType::parse(v)?,
                value: None,
                min: 1,
                max: Some(1),
            });
        }
        let o = v
            .as_object()
            .ok_or_else(|| Error::Schema(format!("malformed column type {v}")))?;
        let key = BaseType::parse(
            o.get("key")
                .ok_or_else(|| Error::Schema(format!("column type without \"key\": {v}")))?,
        )?;
        let value = o.get("value").map(BaseType::parse).transpose()?;
        let min = match o.get("min") {
            None => 1,
            Some(m) => m
                .as_u64()
                .ok_or_else(|| Error::Schema(format!("bad \"min\" in {v}")))?,
        };
        let max = match o.get("max") {
            None => Some(1),
            Some(Value::String(s)) if s == "unlimited" => None,
            Some(m) => Some(
                m.as_u64()
                    .ok_or_else(|| Error::Schema(format!("bad \"max\" in {v}")))?,
            ),
        };
        Ok(ColumnType {
            key,
            value,
            min,
            max,
        })
    }

    /// A map column (`external_ids`, `options`).
    pub fn is_map(&self) -> bool {
        self.value.is_some()
    }

    /// Exactly one atom (`min == max == 1`, not a map): `update2` sends its new value.
    pub fn is_scalar(&self) -> bool {
        !self.is_map() && self.min == 1 && self.max == Some(1)
    }

    /// A set column, including optional values (`min 0, max 1`): `update2` sends
    /// the symmetric difference.
    pub fn is_set(&self) -> bool {
        !self.is_map() && !self.is_scalar()
    }

    /// The value a row has in this column when nothing was written.
    pub fn default_datum(&self) -> Datum {
        if self.is_map() {
            Datum::Map(BTreeMap::new())
        } else if self.min == 0 {
            Datum::empty()
        } else {
            Datum::atom(self.key.atomic.default_atom())
        }
    }

    /// Brings a datum into this type's canonical form: an empty set in a map
    /// column becomes the empty map and integral reals become reals, so values
    /// from the server and values built by callers compare equal.
    pub fn normalize(&self, d: Datum) -> Datum {
        match (d, &self.value) {
            (Datum::Set(s), Some(_)) if s.is_empty() => Datum::Map(BTreeMap::new()),
            (Datum::Map(m), Some(vt)) => Datum::Map(
                m.into_iter()
                    .map(|(k, v)| (self.key.normalize(k), vt.normalize(v)))
                    .collect(),
            ),
            (Datum::Set(s), _) => {
                Datum::Set(s.into_iter().map(|a| self.key.normalize(a)).collect())
            }
            (d, None) => d,
        }
    }
}

/// One column.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSchema {
    pub name: String,
    pub kind: ColumnType,
    pub ephemeral: bool,
    pub mutable: bool,
}

/// One table.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSchema {
    pub name: String,
    pub columns: BTreeMap<String, ColumnSchema>,
    /// Column sets whose values must be unique across rows (checked at commit).
    pub indexes: Vec<Vec<String>>,
    /// Root tables keep unreferenced rows; others garbage-collect them.
    pub is_root: bool,
    pub max_rows: Option<u64>,
}

impl TableSchema {
    pub fn column(&self, name: &str) -> Option<&ColumnSchema> {
        self.columns.get(name)
    }
}

/// A database schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    pub name: String,
    pub version: String,
    pub tables: BTreeMap<String, TableSchema>,
}

impl Schema {
    /// Parses the result of `get_schema`.
    pub fn from_json(v: &Value) -> Result<Schema, Error> {
        let name = v
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::Schema("schema without a name".into()))?
            .to_owned();
        let version = v
            .get("version")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let tables_json = v
            .get("tables")
            .and_then(Value::as_object)
            .ok_or_else(|| Error::Schema(format!("schema {name} without tables")))?;
        let mut tables = BTreeMap::new();
        for (tname, t) in tables_json {
            let cols = t
                .get("columns")
                .and_then(Value::as_object)
                .ok_or_else(|| Error::Schema(format!("table {tname} without columns")))?;
            let mut columns = BTreeMap::new();
            for (cname, c) in cols {
                let kind = ColumnType::parse(c.get("type").ok_or_else(|| {
                    Error::Schema(format!("column {tname}.{cname} without a type"))
                })?)
                .map_err(|e| Error::Schema(format!("column {tname}.{cname}: {e}")))?;
                columns.insert(
                    cname.clone(),
                    ColumnSchema {
                        name: cname.clone(),
                        kind,
                        ephemeral: c.get("ephemeral").and_then(Value::as_bool).unwrap_or(false),
                        mutable: c.get("mutable").and_then(Value::as_bool).unwrap_or(true),
                    },
                );
            }
            let indexes = match t.get("indexes") {
                None => Vec::new(),
                Some(ix) => serde_json::from_value::<Vec<Vec<String>>>(ix.clone())
                    .map_err(|e| Error::Schema(format!("table {tname} indexes: {e}")))?,
            };
            tables.insert(
                tname.clone(),
                TableSchema {
                    name: tname.clone(),
                    columns,
                    indexes,
                    is_root: t.get("isRoot").and_then(Value::as_bool).unwrap_or(false),
                    max_rows: t.get("maxRows").and_then(Value::as_u64),
                },
            );
        }
        Ok(Schema {
            name,
            version,
            tables,
        })
    }

    pub fn table(&self, name: &str) -> Option<&TableSchema> {
        self.tables.get(name)
    }

    /// A column's type; `None` for unknown tables/columns and for `_uuid`/`_version`.
    pub fn column_type(&self, table: &str, column: &str) -> Option<&ColumnType> {
        self.tables
            .get(table)
            .and_then(|t| t.columns.get(column))
            .map(|c| &c.kind)
    }

    /// Checks that `table` exists and has every column in `columns`.
    pub fn check_columns(&self, table: &str, columns: Option<&[String]>) -> Result<(), Error> {
        let t = self
            .table(table)
            .ok_or_else(|| Error::Schema(format!("database {} has no table {table}", self.name)))?;
        for c in columns.unwrap_or_default() {
            if t.column(c).is_none() {
                return Err(Error::Schema(format!(
                    "table {table} of database {} has no column {c}",
                    self.name
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// A small schema in the shape of the NB one, used by the cache tests too.
    pub(crate) fn sample() -> Schema {
        Schema::from_json(&json!({
            "name": "OVN_Northbound",
            "version": "7.0.0",
            "tables": {
                "Logical_Switch": {
                    "columns": {
                        "name": {"type": "string"},
                        "ports": {"type": {"key": {"type": "uuid", "refTable": "Logical_Switch_Port", "refType": "strong"},
                                           "min": 0, "max": "unlimited"}},
                        "external_ids": {"type": {"key": "string", "value": "string", "min": 0, "max": "unlimited"}},
                        "tag": {"type": {"key": {"type": "integer", "minInteger": 1, "maxInteger": 4095}, "min": 0, "max": 1}},
                        "weight": {"type": "real"}
                    },
                    "isRoot": true
                },
                "Logical_Switch_Port": {
                    "columns": {
                        "name": {"type": "string"},
                        "addresses": {"type": {"key": "string", "min": 0, "max": "unlimited"}},
                        "up": {"type": {"key": "boolean", "min": 0, "max": 1}}
                    },
                    "indexes": [["name"]],
                    "isRoot": false
                }
            }
        }))
        .unwrap()
    }

    #[test]
    fn column_kinds_follow_min_max_and_value() {
        let s = sample();
        let ty = |c| s.column_type("Logical_Switch", c).unwrap();
        assert!(ty("name").is_scalar());
        assert!(ty("ports").is_set());
        assert!(ty("tag").is_set(), "an optional value diffs like a set");
        assert!(ty("external_ids").is_map());
        assert_eq!(
            ty("ports").key.ref_table.as_deref(),
            Some("Logical_Switch_Port")
        );
        assert_eq!(ty("ports").max, None);
        assert_eq!(
            s.table("Logical_Switch_Port").unwrap().indexes,
            vec![vec!["name".to_string()]]
        );
        assert!(s.table("Logical_Switch").unwrap().is_root);
    }

    #[test]
    fn defaults_are_empty_for_optional_columns_and_zero_for_scalars() {
        let s = sample();
        let ty = |c| s.column_type("Logical_Switch", c).unwrap();
        assert_eq!(ty("name").default_datum(), Datum::string(""));
        assert_eq!(ty("tag").default_datum(), Datum::empty());
        assert_eq!(
            ty("external_ids").default_datum(),
            Datum::Map(BTreeMap::new())
        );
    }

    #[test]
    fn normalizing_makes_empty_maps_maps_and_integral_reals_reals() {
        let s = sample();
        let ty = |c| s.column_type("Logical_Switch", c).unwrap();
        assert_eq!(
            ty("external_ids").normalize(Datum::empty()),
            Datum::Map(BTreeMap::new())
        );
        assert_eq!(
            ty("weight").normalize(Datum::int(2)),
            Datum::atom(Atom::Real(2.0))
        );
        assert_eq!(ty("name").normalize(Datum::string("x")), Datum::string("x"));
    }

    #[test]
    fn unknown_tables_and_columns_are_schema_errors() {
        let s = sample();
        assert!(s
            .check_columns("Logical_Switch", Some(&["name".into()]))
            .is_ok());
        assert!(matches!(
            s.check_columns("Nope", None),
            Err(Error::Schema(_))
        ));
        assert!(matches!(
            s.check_columns("Logical_Switch", Some(&["nope".into()])),
            Err(Error::Schema(_))
        ));
    }

    #[test]
    fn the_installed_nb_schema_parses_when_present() {
        let Ok(text) = std::fs::read_to_string("/usr/share/ovn/ovn-nb.ovsschema") else {
            return;
        };
        let s = Schema::from_json(&serde_json::from_str(&text).unwrap()).unwrap();
        assert_eq!(s.name, "OVN_Northbound");
        assert!(s
            .column_type("Logical_Switch_Port", "options")
            .unwrap()
            .is_map());
    }

    #[test]
    fn malformed_schemas_are_errors() {
        for bad in [
            json!({}),
            json!({"name": "x"}),
            json!({"name": "x", "tables": {"T": {}}}),
            json!({"name": "x", "tables": {"T": {"columns": {"c": {"type": "float"}}}}}),
            json!({"name": "x", "tables": {"T": {"columns": {"c": {"type": {"min": 0}}}}}}),
        ] {
            assert!(Schema::from_json(&bad).is_err(), "{bad} was accepted");
        }
    }
}
