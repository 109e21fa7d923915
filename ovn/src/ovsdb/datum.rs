//! OVSDB values (RFC 7047 section 5.1): atoms, sets and maps, with their JSON
//! wire encoding (`["set", [...]]`, `["map", [[k, v], ...]]`, `["uuid", "..."]`,
//! `["named-uuid", "..."]`). Sets and maps are kept in canonical (sorted,
//! de-duplicated) order so two data compare equal exactly when OVSDB would
//! consider them equal; a "diff, skip when equal" reconcile relies on that.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{json, Value};
use uuid::Uuid;

/// A row as a map from column name to datum (the `<row>` of RFC 7047).
pub type Row = BTreeMap<String, Datum>;

/// Why a JSON value is not a valid OVSDB datum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid OVSDB datum {json}: {reason}")]
pub struct DatumError {
    /// The offending JSON, shortened.
    pub json: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl DatumError {
    fn new(json: &Value, reason: &'static str) -> Self {
        let mut json = json.to_string();
        if json.len() > 120 {
            let mut cut = 117;
            while !json.is_char_boundary(cut) {
                cut -= 1;
            }
            json.truncate(cut);
            json.push_str("...");
        }
        DatumError { json, reason }
    }
}

/// One OVSDB atom.
#[derive(Debug, Clone)]
pub enum Atom {
    Integer(i64),
    Real(f64),
    Boolean(bool),
    String(String),
    /// A row reference.
    Uuid(Uuid),
    /// A reference to a row inserted earlier in the same transaction.
    NamedUuid(String),
}

impl Atom {
    fn rank(&self) -> u8 {
        match self {
            Atom::Integer(_) => 0,
            Atom::Real(_) => 1,
            Atom::Boolean(_) => 2,
            Atom::String(_) => 3,
            Atom::Uuid(_) => 4,
            Atom::NamedUuid(_) => 5,
        }
    }

    /// The atom's JSON form.
    pub fn to_json(&self) -> Value {
        match self {
            Atom::Integer(i) => json!(i),
            Atom::Real(r) => json!(r),
            Atom::Boolean(b) => json!(b),
            Atom::String(s) => json!(s),
            Atom::Uuid(u) => json!(["uuid", u.to_string()]),
            Atom::NamedUuid(n) => json!(["named-uuid", n]),
        }
    }

    /// Parses an atom from JSON.
    pub fn from_json(v: &Value) -> Result<Atom, DatumError> {
        match v {
            Value::Bool(b) => Ok(Atom::Boolean(*b)),
            Value::String(s) => Ok(Atom::String(s.clone())),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Ok(Atom::Integer(i))
                } else if let Some(f) = n.as_f64() {
                    Ok(Atom::Real(f))
                } else {
                    Err(DatumError::new(v, "number out of range"))
                }
            }
            Value::Array(a) if a.len() == 2 => match (a[0].as_str(), &a[1]) {
                (Some("uuid"), Value::String(s)) => Uuid::parse_str(s)
                    .map(Atom::Uuid)
                    .map_err(|_| DatumError::new(v, "malformed uuid")),
                (Some("named-uuid"), Value::String(s)) => Ok(Atom::NamedUuid(s.clone())),
                _ => Err(DatumError::new(v, "not an atom")),
            },
            _ => Err(DatumError::new(v, "not an atom")),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Atom::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_uuid(&self) -> Option<Uuid> {
        match self {
            Atom::Uuid(u) => Some(*u),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Atom::Integer(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Atom::Boolean(b) => Some(*b),
            _ => None,
        }
    }
}

impl PartialEq for Atom {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Atom {}
impl PartialOrd for Atom {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Atom {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Atom::Integer(a), Atom::Integer(b)) => a.cmp(b),
            (Atom::Real(a), Atom::Real(b)) => a.total_cmp(b),
            (Atom::Boolean(a), Atom::Boolean(b)) => a.cmp(b),
            (Atom::String(a), Atom::String(b)) => a.cmp(b),
            (Atom::Uuid(a), Atom::Uuid(b)) => a.cmp(b),
            (Atom::NamedUuid(a), Atom::NamedUuid(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Atom::Integer(i) => write!(f, "{i}"),
            Atom::Real(r) => write!(f, "{r}"),
            Atom::Boolean(b) => write!(f, "{b}"),
            Atom::String(s) => write!(f, "{s:?}"),
            Atom::Uuid(u) => write!(f, "{u}"),
            Atom::NamedUuid(n) => write!(f, "@{n}"),
        }
    }
}

impl From<&str> for Atom {
    fn from(s: &str) -> Self {
        Atom::String(s.to_owned())
    }
}
impl From<String> for Atom {
    fn from(s: String) -> Self {
        Atom::String(s)
    }
}
impl From<Uuid> for Atom {
    fn from(u: Uuid) -> Self {
        Atom::Uuid(u)
    }
}
impl From<i64> for Atom {
    fn from(i: i64) -> Self {
        Atom::Integer(i)
    }
}
impl From<bool> for Atom {
    fn from(b: bool) -> Self {
        Atom::Boolean(b)
    }
}

/// An OVSDB datum: every column value is a set (a scalar is a set of one) or a map.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Datum {
    Set(BTreeSet<Atom>),
    Map(BTreeMap<Atom, Atom>),
}

impl Default for Datum {
    fn default() -> Self {
        Datum::Set(BTreeSet::new())
    }
}

impl Datum {
    /// A set of one atom (how a scalar column is written).
    pub fn atom(a: impl Into<Atom>) -> Datum {
        Datum::Set(BTreeSet::from([a.into()]))
    }
    pub fn string(s: impl Into<String>) -> Datum {
        Datum::atom(Atom::String(s.into()))
    }
    pub fn int(i: i64) -> Datum {
        Datum::atom(Atom::Integer(i))
    }
    pub fn boolean(b: bool) -> Datum {
        Datum::atom(Atom::Boolean(b))
    }
    pub fn uuid(u: Uuid) -> Datum {
        Datum::atom(Atom::Uuid(u))
    }
    /// A reference to the row inserted with `uuid-name` `n` in the same transaction.
    pub fn named(n: impl Into<String>) -> Datum {
        Datum::atom(Atom::NamedUuid(n.into()))
    }
    /// The empty set (also the empty map: OVSDB accepts `["set", []]` for either).
    pub fn empty() -> Datum {
        Datum::Set(BTreeSet::new())
    }
    pub fn set<A: Into<Atom>>(items: impl IntoIterator<Item = A>) -> Datum {
        Datum::Set(items.into_iter().map(Into::into).collect())
    }
    pub fn map<K: Into<Atom>, V: Into<Atom>>(items: impl IntoIterator<Item = (K, V)>) -> Datum {
        Datum::Map(
            items
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
    /// A string-to-string map (`external_ids`, `options`, `other_config`).
    pub fn string_map<'a>(items: impl IntoIterator<Item = (&'a String, &'a String)>) -> Datum {
        Datum::Map(
            items
                .into_iter()
                .map(|(k, v)| (Atom::String(k.clone()), Atom::String(v.clone())))
                .collect(),
        )
    }

    /// True for the empty set or map.
    pub fn is_empty(&self) -> bool {
        match self {
            Datum::Set(s) => s.is_empty(),
            Datum::Map(m) => m.is_empty(),
        }
    }

    /// The set's atoms (a map yields nothing).
    pub fn atoms(&self) -> impl Iterator<Item = &Atom> {
        let set = match self {
            Datum::Set(s) => Some(s.iter()),
            Datum::Map(_) => None,
        };
        set.into_iter().flatten()
    }

    /// True when the set holds `atom` (a map holds no atoms).
    pub fn contains(&self, atom: &Atom) -> bool {
        match self {
            Datum::Set(s) => s.contains(atom),
            Datum::Map(_) => false,
        }
    }

    /// The single atom of a scalar or optional column.
    pub fn single(&self) -> Option<&Atom> {
        match self {
            Datum::Set(s) if s.len() == 1 => s.iter().next(),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        self.single().and_then(Atom::as_str)
    }
    pub fn as_uuid(&self) -> Option<Uuid> {
        self.single().and_then(Atom::as_uuid)
    }
    pub fn as_int(&self) -> Option<i64> {
        self.single().and_then(Atom::as_int)
    }
    pub fn as_bool(&self) -> Option<bool> {
        self.single().and_then(Atom::as_bool)
    }
    /// The string members of a set column.
    pub fn strings(&self) -> Vec<String> {
        self.atoms()
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect()
    }
    /// The uuid members of a set column (row references).
    pub fn uuids(&self) -> Vec<Uuid> {
        self.atoms().filter_map(Atom::as_uuid).collect()
    }
    /// A string-to-string map column; the empty set reads as the empty map.
    pub fn string_map_value(&self) -> BTreeMap<String, String> {
        match self {
            Datum::Map(m) => m
                .iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v.as_str()?.to_owned())))
                .collect(),
            Datum::Set(_) => BTreeMap::new(),
        }
    }

    /// The datum's JSON form; a set of one atom is written as the bare atom.
    pub fn to_json(&self) -> Value {
        match self {
            Datum::Set(s) if s.len() == 1 => s.iter().next().map(Atom::to_json).unwrap_or_default(),
            Datum::Set(s) => json!(["set", s.iter().map(Atom::to_json).collect::<Vec<_>>()]),
            Datum::Map(m) => json!([
                "map",
                m.iter()
                    .map(|(k, v)| json!([k.to_json(), v.to_json()]))
                    .collect::<Vec<_>>()
            ]),
        }
    }

    /// Parses a datum from JSON.
    pub fn from_json(v: &Value) -> Result<Datum, DatumError> {
        if let Value::Array(a) = v {
            match (a.first().and_then(Value::as_str), a.get(1), a.len()) {
                (Some("set"), Some(Value::Array(items)), 2) => {
                    return items
                        .iter()
                        .map(Atom::from_json)
                        .collect::<Result<BTreeSet<_>, _>>()
                        .map(Datum::Set);
                }
                (Some("map"), Some(Value::Array(pairs)), 2) => {
                    let mut m = BTreeMap::new();
                    for p in pairs {
                        match p {
                            Value::Array(kv) if kv.len() == 2 => {
                                m.insert(Atom::from_json(&kv[0])?, Atom::from_json(&kv[1])?);
                            }
                            _ => return Err(DatumError::new(v, "map pair is not [key, value]")),
                        }
                    }
                    return Ok(Datum::Map(m));
                }
                _ => {}
            }
        }
        Atom::from_json(v).map(Datum::atom)
    }
}

impl fmt::Display for Datum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Datum::Set(s) if s.len() == 1 => write!(f, "{}", s.iter().next().expect("len 1")),
            Datum::Set(s) => {
                write!(f, "[")?;
                for (i, a) in s.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{a}")?;
                }
                write!(f, "]")
            }
            Datum::Map(m) => {
                write!(f, "{{")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{k}={v}")?;
                }
                write!(f, "}}")
            }
        }
    }
}

/// Encodes a row as a JSON object.
pub fn row_to_json(row: &Row) -> Value {
    Value::Object(row.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
}

/// Parses a JSON object into a row.
pub fn row_from_json(v: &Value) -> Result<Row, DatumError> {
    let obj = v
        .as_object()
        .ok_or_else(|| DatumError::new(v, "row is not an object"))?;
    obj.iter()
        .map(|(k, v)| Ok((k.clone(), Datum::from_json(v)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_atom_set_is_written_bare_and_read_back() {
        let d = Datum::string("coke1");
        assert_eq!(d.to_json(), json!("coke1"));
        assert_eq!(Datum::from_json(&d.to_json()).unwrap(), d);
    }

    #[test]
    fn sets_and_maps_round_trip_in_canonical_order() {
        let s = Datum::set(["b", "a", "b"]);
        assert_eq!(s.to_json(), json!(["set", ["a", "b"]]));
        let m = Datum::map([("k2", "v2"), ("k1", "v1")]);
        assert_eq!(m.to_json(), json!(["map", [["k1", "v1"], ["k2", "v2"]]]));
        assert_eq!(Datum::from_json(&m.to_json()).unwrap(), m);
        assert_eq!(Datum::from_json(&s.to_json()).unwrap(), s);
    }

    #[test]
    fn contains_looks_in_sets_only() {
        let (u, v) = (Uuid::new_v4(), Uuid::new_v4());
        let ports = Datum::set([Atom::Uuid(u)]);
        assert!(ports.contains(&Atom::Uuid(u)));
        assert!(!ports.contains(&Atom::Uuid(v)));
        assert!(!Datum::map([("k", "v")]).contains(&Atom::from("k")));
    }

    #[test]
    fn uuids_and_named_uuids_use_their_tagged_forms() {
        let u = Uuid::new_v4();
        assert_eq!(Datum::uuid(u).to_json(), json!(["uuid", u.to_string()]));
        assert_eq!(
            Datum::named("row1").to_json(),
            json!(["named-uuid", "row1"])
        );
        assert_eq!(
            Datum::from_json(&json!(["uuid", u.to_string()]))
                .unwrap()
                .as_uuid(),
            Some(u)
        );
    }

    #[test]
    fn the_empty_set_reads_as_an_empty_map() {
        let d = Datum::from_json(&json!(["set", []])).unwrap();
        assert!(d.is_empty());
        assert!(d.string_map_value().is_empty());
        assert_eq!(d, Datum::empty());
    }

    #[test]
    fn malformed_data_are_errors_not_panics() {
        for bad in [
            json!(null),
            json!({"a": 1}),
            json!(["uuid", "not-a-uuid"]),
            json!(["map", [["k"]]]),
            json!(["set", [null]]),
            json!(["bogus", 1]),
        ] {
            assert!(Datum::from_json(&bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn rows_round_trip() {
        let mut row = Row::new();
        row.insert("name".into(), Datum::string("sw0"));
        row.insert("external_ids".into(), Datum::map([("owner", "ovn-mesos")]));
        assert_eq!(row_from_json(&row_to_json(&row)).unwrap(), row);
    }
}
