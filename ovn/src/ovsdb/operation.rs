//! OVSDB transaction operations (RFC 7047 section 5.2) and the [`Txn`] builder
//! that collects them, each with the row count it must match. Library code builds
//! a `Txn` (an operation list) and commits it once; the client checks every
//! result against its [`Expect`], so an `update` or `mutate` that matched no row
//! where one was required fails the change instead of passing silently.

use std::fmt;

use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::datum::{row_to_json, Datum, Row};

/// A comparison function in a `where` clause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Lt,
    Le,
    Eq,
    Ne,
    Ge,
    Gt,
    Includes,
    Excludes,
}

impl Function {
    pub fn as_str(self) -> &'static str {
        match self {
            Function::Lt => "<",
            Function::Le => "<=",
            Function::Eq => "==",
            Function::Ne => "!=",
            Function::Ge => ">=",
            Function::Gt => ">",
            Function::Includes => "includes",
            Function::Excludes => "excludes",
        }
    }
}

/// One `[column, function, value]` condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub column: String,
    pub function: Function,
    pub value: Datum,
}

impl Condition {
    pub fn new(column: impl Into<String>, function: Function, value: Datum) -> Self {
        Condition {
            column: column.into(),
            function,
            value,
        }
    }
    /// `column == value`.
    pub fn eq(column: impl Into<String>, value: Datum) -> Self {
        Condition::new(column, Function::Eq, value)
    }
    /// `_uuid == uuid`: the one row with that uuid.
    pub fn uuid(uuid: Uuid) -> Self {
        Condition::eq("_uuid", Datum::uuid(uuid))
    }
    /// `column includes value` (for maps: every given key/value pair is present).
    pub fn includes(column: impl Into<String>, value: Datum) -> Self {
        Condition::new(column, Function::Includes, value)
    }
    pub fn to_json(&self) -> Value {
        json!([self.column, self.function.as_str(), self.value.to_json()])
    }
}

/// A mutator of a `mutate` operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutator {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Insert,
    Delete,
}

impl Mutator {
    pub fn as_str(self) -> &'static str {
        match self {
            Mutator::Add => "+=",
            Mutator::Sub => "-=",
            Mutator::Mul => "*=",
            Mutator::Div => "/=",
            Mutator::Mod => "%=",
            Mutator::Insert => "insert",
            Mutator::Delete => "delete",
        }
    }
}

/// One `[column, mutator, value]` mutation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mutation {
    pub column: String,
    pub mutator: Mutator,
    pub value: Datum,
}

impl Mutation {
    pub fn new(column: impl Into<String>, mutator: Mutator, value: Datum) -> Self {
        Mutation {
            column: column.into(),
            mutator,
            value,
        }
    }
    /// Adds the elements (or map pairs) of `value` to `column`.
    pub fn insert(column: impl Into<String>, value: Datum) -> Self {
        Mutation::new(column, Mutator::Insert, value)
    }
    /// Removes the elements (or, given a set of keys, the map entries) of `value`.
    pub fn delete(column: impl Into<String>, value: Datum) -> Self {
        Mutation::new(column, Mutator::Delete, value)
    }
    pub fn to_json(&self) -> Value {
        json!([self.column, self.mutator.as_str(), self.value.to_json()])
    }
}

/// The `until` of a `wait` operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitUntil {
    /// The selected rows equal the given rows.
    Equal,
    /// The selected rows differ from the given rows.
    NotEqual,
}

/// One OVSDB operation.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    /// `ovn-nbctl ls-add` and friends: a new row. `uuid` fixes the row's uuid
    /// (ovsdb-server 2.17+), which makes a retried insert detectable: the second
    /// attempt fails with `duplicate uuid` instead of adding a twin.
    Insert {
        table: String,
        row: Row,
        uuid_name: Option<String>,
        uuid: Option<Uuid>,
    },
    Select {
        table: String,
        conditions: Vec<Condition>,
        columns: Option<Vec<String>>,
    },
    Update {
        table: String,
        conditions: Vec<Condition>,
        row: Row,
    },
    Mutate {
        table: String,
        conditions: Vec<Condition>,
        mutations: Vec<Mutation>,
    },
    Delete {
        table: String,
        conditions: Vec<Condition>,
    },
    /// Aborts the transaction unless the selected rows' `columns` are (or are
    /// not) exactly `rows`: the optimistic-concurrency guard.
    Wait {
        table: String,
        conditions: Vec<Condition>,
        columns: Vec<String>,
        until: WaitUntil,
        rows: Vec<Row>,
        timeout_ms: Option<u64>,
    },
    /// Written to the database log (`ovn-nbctl --comment`-like).
    Comment(String),
}

impl Operation {
    /// The operation's table, if it has one.
    pub fn table(&self) -> Option<&str> {
        match self {
            Operation::Insert { table, .. }
            | Operation::Select { table, .. }
            | Operation::Update { table, .. }
            | Operation::Mutate { table, .. }
            | Operation::Delete { table, .. }
            | Operation::Wait { table, .. } => Some(table),
            Operation::Comment(_) => None,
        }
    }

    /// The operation's name on the wire (`insert`, `mutate` ...).
    pub fn name(&self) -> &'static str {
        match self {
            Operation::Insert { .. } => "insert",
            Operation::Select { .. } => "select",
            Operation::Update { .. } => "update",
            Operation::Mutate { .. } => "mutate",
            Operation::Delete { .. } => "delete",
            Operation::Wait { .. } => "wait",
            Operation::Comment(_) => "comment",
        }
    }

    pub fn to_json(&self) -> Value {
        fn conds(c: &[Condition]) -> Value {
            Value::Array(c.iter().map(Condition::to_json).collect())
        }
        let mut o = Map::new();
        o.insert("op".into(), json!(self.name()));
        if let Some(t) = self.table() {
            o.insert("table".into(), json!(t));
        }
        match self {
            Operation::Insert {
                row,
                uuid_name,
                uuid,
                ..
            } => {
                o.insert("row".into(), row_to_json(row));
                if let Some(n) = uuid_name {
                    o.insert("uuid-name".into(), json!(n));
                }
                if let Some(u) = uuid {
                    o.insert("uuid".into(), json!(u.to_string()));
                }
            }
            Operation::Select {
                conditions,
                columns,
                ..
            } => {
                o.insert("where".into(), conds(conditions));
                if let Some(c) = columns {
                    o.insert("columns".into(), json!(c));
                }
            }
            Operation::Update {
                conditions, row, ..
            } => {
                o.insert("where".into(), conds(conditions));
                o.insert("row".into(), row_to_json(row));
            }
            Operation::Mutate {
                conditions,
                mutations,
                ..
            } => {
                o.insert("where".into(), conds(conditions));
                o.insert(
                    "mutations".into(),
                    Value::Array(mutations.iter().map(Mutation::to_json).collect()),
                );
            }
            Operation::Delete { conditions, .. } => {
                o.insert("where".into(), conds(conditions));
            }
            Operation::Wait {
                conditions,
                columns,
                until,
                rows,
                timeout_ms,
                ..
            } => {
                o.insert("where".into(), conds(conditions));
                o.insert("columns".into(), json!(columns));
                o.insert(
                    "until".into(),
                    json!(match until {
                        WaitUntil::Equal => "==",
                        WaitUntil::NotEqual => "!=",
                    }),
                );
                o.insert(
                    "rows".into(),
                    Value::Array(rows.iter().map(row_to_json).collect()),
                );
                o.insert("timeout".into(), json!(timeout_ms.unwrap_or(0)));
            }
            Operation::Comment(c) => {
                o.insert("comment".into(), json!(c));
            }
        }
        Value::Object(o)
    }
}

/// How many rows an operation must match for the transaction to count as done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Any count, including none (e.g. "delete if present").
    Any,
    /// At least one row.
    AtLeastOne,
    /// Exactly this many rows.
    Exactly(u64),
}

impl Expect {
    /// True when `count` satisfies the expectation.
    pub fn accepts(self, count: u64) -> bool {
        match self {
            Expect::Any => true,
            Expect::AtLeastOne => count >= 1,
            Expect::Exactly(n) => count == n,
        }
    }
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::Any => write!(f, "any number of rows"),
            Expect::AtLeastOne => write!(f, "at least one row"),
            Expect::Exactly(n) => write!(f, "exactly {n} row(s)"),
        }
    }
}

/// One transaction: an operation list for one database, committed at once.
#[derive(Debug, Clone, PartialEq)]
pub struct Txn {
    pub database: String,
    pub ops: Vec<(Operation, Expect)>,
    next_name: u32,
}

impl Txn {
    pub fn new(database: impl Into<String>) -> Self {
        Txn {
            database: database.into(),
            ops: Vec::new(),
            next_name: 0,
        }
    }

    /// True when there is nothing to commit.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Appends any operation with its expectation.
    pub fn push(&mut self, op: Operation, expect: Expect) -> &mut Self {
        self.ops.push((op, expect));
        self
    }

    /// Appends every operation of `other` (same database), renaming nothing:
    /// builders use distinct uuid-names via [`Txn::insert`].
    pub fn extend(&mut self, other: Txn) -> &mut Self {
        self.ops.extend(other.ops);
        self.next_name = self.next_name.max(other.next_name);
        self
    }

    /// Inserts `row` with a fresh uuid-name and a fixed row uuid; returns a datum
    /// referring to the new row (usable in later operations of this transaction)
    /// and the uuid the row will have.
    pub fn insert(&mut self, table: impl Into<String>, row: Row) -> (Datum, Uuid) {
        let uuid = Uuid::new_v4();
        let name = self.insert_with_uuid(table, row, uuid);
        (name, uuid)
    }

    /// Inserts `row` with the given row uuid; returns the named-uuid datum.
    pub fn insert_with_uuid(&mut self, table: impl Into<String>, row: Row, uuid: Uuid) -> Datum {
        // uuid-names must be ids: a letter, then letters, digits, underscores.
        let name = format!("row{}_{}", self.next_name, uuid.simple());
        self.next_name += 1;
        self.ops.push((
            Operation::Insert {
                table: table.into(),
                row,
                uuid_name: Some(name.clone()),
                uuid: Some(uuid),
            },
            Expect::Any,
        ));
        Datum::named(name)
    }

    /// Updates columns of exactly the row `uuid` (fails if it is gone).
    pub fn update_row(&mut self, table: impl Into<String>, uuid: Uuid, row: Row) -> &mut Self {
        self.push(
            Operation::Update {
                table: table.into(),
                conditions: vec![Condition::uuid(uuid)],
                row,
            },
            Expect::Exactly(1),
        )
    }

    /// Mutates exactly the row `uuid` (fails if it is gone).
    pub fn mutate_row(
        &mut self,
        table: impl Into<String>,
        uuid: Uuid,
        mutations: Vec<Mutation>,
    ) -> &mut Self {
        self.push(
            Operation::Mutate {
                table: table.into(),
                conditions: vec![Condition::uuid(uuid)],
                mutations,
            },
            Expect::Exactly(1),
        )
    }

    /// Deletes exactly the row `uuid` (fails if it is already gone).
    pub fn delete_row(&mut self, table: impl Into<String>, uuid: Uuid) -> &mut Self {
        self.push(
            Operation::Delete {
                table: table.into(),
                conditions: vec![Condition::uuid(uuid)],
            },
            Expect::Exactly(1),
        )
    }

    /// Guards the transaction: abort unless the row `uuid` still has `row`'s values
    /// in `row`'s columns (what the change was computed from).
    pub fn guard_row(&mut self, table: impl Into<String>, uuid: Uuid, row: Row) -> &mut Self {
        let columns = row.keys().cloned().collect();
        self.push(
            Operation::Wait {
                table: table.into(),
                conditions: vec![Condition::uuid(uuid)],
                columns,
                until: WaitUntil::Equal,
                rows: vec![row],
                timeout_ms: Some(0),
            },
            Expect::Any,
        )
    }

    /// Adds a comment to the database log.
    pub fn comment(&mut self, text: impl Into<String>) -> &mut Self {
        self.push(Operation::Comment(text.into()), Expect::Any)
    }

    /// The `transact` params: `[database, op, op, ...]`.
    pub fn to_params(&self) -> Value {
        let mut v = vec![json!(self.database)];
        v.extend(self.ops.iter().map(|(op, _)| op.to_json()));
        Value::Array(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_insert_carries_its_uuid_name_and_fixed_uuid() {
        let mut txn = Txn::new("OVN_Northbound");
        let mut row = Row::new();
        row.insert("name".into(), Datum::string("sw0"));
        let (named, uuid) = txn.insert("Logical_Switch", row);
        let p = txn.to_params();
        assert_eq!(p[0], json!("OVN_Northbound"));
        assert_eq!(p[1]["op"], json!("insert"));
        assert_eq!(p[1]["uuid"], json!(uuid.to_string()));
        assert_eq!(json!(["named-uuid", p[1]["uuid-name"]]), named.to_json());
    }

    #[test]
    fn row_operations_expect_exactly_one_row() {
        let mut txn = Txn::new("db");
        let u = Uuid::new_v4();
        txn.update_row("T", u, Row::new())
            .mutate_row("T", u, vec![Mutation::insert("ports", Datum::uuid(u))])
            .delete_row("T", u);
        assert!(txn.ops.iter().all(|(_, e)| *e == Expect::Exactly(1)));
        assert_eq!(
            txn.to_params()[2]["mutations"],
            json!([["ports", "insert", ["uuid", u.to_string()]]])
        );
    }

    #[test]
    fn expectations_accept_only_matching_counts() {
        assert!(Expect::Any.accepts(0));
        assert!(!Expect::AtLeastOne.accepts(0));
        assert!(Expect::AtLeastOne.accepts(3));
        assert!(!Expect::Exactly(1).accepts(2));
    }

    #[test]
    fn a_guard_is_a_wait_on_the_rows_columns() {
        let mut txn = Txn::new("db");
        let u = Uuid::new_v4();
        let mut row = Row::new();
        row.insert("ports".into(), Datum::empty());
        txn.guard_row("Logical_Switch", u, row);
        let op = &txn.to_params()[1];
        assert_eq!(op["op"], json!("wait"));
        assert_eq!(op["until"], json!("=="));
        assert_eq!(op["columns"], json!(["ports"]));
        assert_eq!(op["timeout"], json!(0));
    }
}
