//! Sending a transaction and checking the `transact` reply (RFC 7047 section
//! 4.1.3): one result per operation, an error object at the first failing
//! operation (the rest are null), or one extra trailing error when every
//! operation succeeded but the commit failed. Every result is checked: errors
//! become [`Error::Op`] or [`Error::Commit`], and a row count that the
//! operation's [`Expect`] rejects becomes [`Error::Count`], so a `mutate` that
//! matched nothing is a failure. Operations that need a row get a `wait`
//! guard, so that failure also aborts the transaction on the server.

use serde_json::{json, Value};
use uuid::Uuid;

use super::datum::{row_from_json, Row};
use super::error::{Error, OpErrorKind};
use super::jsonrpc::short;
use super::operation::{Condition, Expect, Function, Operation, Txn, WaitUntil};

/// The result of one operation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpResult {
    /// Rows matched by `update`, `mutate`, `delete`.
    pub count: Option<u64>,
    /// The new row's uuid, for `insert`.
    pub uuid: Option<Uuid>,
    /// The selected rows, for `select`.
    pub rows: Option<Vec<Row>>,
}

impl OpResult {
    fn from_json(v: &Value) -> Result<OpResult, Error> {
        let Value::Object(o) = v else {
            return Ok(OpResult::default());
        };
        let count = o.get("count").and_then(Value::as_u64);
        let uuid = match o.get("uuid") {
            None => None,
            Some(u) => Some(
                u.get(1)
                    .and_then(Value::as_str)
                    .and_then(|s| Uuid::parse_str(s).ok())
                    .ok_or_else(|| Error::Protocol(format!("bad insert uuid {}", short(u))))?,
            ),
        };
        let rows = match o.get("rows") {
            None => None,
            Some(Value::Array(rows)) => {
                Some(rows.iter().map(row_from_json).collect::<Result<_, _>>()?)
            }
            Some(other) => {
                return Err(Error::Protocol(format!("bad select rows {}", short(other))))
            }
        };
        Ok(OpResult { count, uuid, rows })
    }
}

fn error_object(v: &Value) -> Option<(OpErrorKind, String)> {
    let kind = v.get("error")?.as_str()?;
    let details = v
        .get("details")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Some((OpErrorKind::from_rfc(kind), details))
}

/// What is sent for a transaction: its operations, each `update`, `mutate`
/// or `delete` that must match at least one row preceded by a `wait` guard
/// (`until "!="` no rows, timeout 0) that aborts the whole transaction when
/// nothing matches. So the usual "row must exist" expectation fails atomically
/// instead of being found out after the commit.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The `transact` params.
    pub params: Value,
    /// For each sent operation: the transaction operation it belongs to, and
    /// whether it is that operation's guard.
    slots: Vec<(usize, bool)>,
}

impl Plan {
    /// Builds the params for `txn`, guarding operations that need a row.
    pub fn new(txn: &Txn) -> Plan {
        let mut params = vec![json!(txn.database)];
        let mut slots = Vec::with_capacity(txn.ops.len());
        // Rows an earlier `wait` already proved present (see `proves_present`).
        let mut present: Vec<(&str, Uuid)> = Vec::new();
        for (index, (op, expect)) in txn.ops.iter().enumerate() {
            let proven = single_uuid(op).is_some_and(|row| present.contains(&row));
            if !proven {
                if let Some(guard) = guard(op, *expect) {
                    params.push(guard);
                    slots.push((index, true));
                }
            }
            match op {
                Operation::Delete { table, .. } => present.retain(|(t, _)| t != table),
                _ => present.extend(proves_present(op)),
            }
            params.push(op.to_json());
            slots.push((index, false));
        }
        Plan {
            params: Value::Array(params),
            slots,
        }
    }

    /// Checks a `transact` result against the transaction; see the module docs.
    pub fn check(&self, txn: &Txn, result: &Value) -> Result<Vec<OpResult>, Error> {
        let items = result.as_array().ok_or_else(|| {
            Error::Protocol(format!(
                "transact result is not an array: {}",
                short(result)
            ))
        })?;
        for (slot, item) in items.iter().enumerate() {
            let Some((kind, details)) = error_object(item) else {
                continue;
            };
            let Some(&(index, is_guard)) = self.slots.get(slot) else {
                return Err(Error::Commit { kind, details });
            };
            let (op, expect) = &txn.ops[index];
            return Err(if is_guard && kind == OpErrorKind::TimedOut {
                Error::Count {
                    index,
                    op: op.name(),
                    table: op.table().unwrap_or_default().to_owned(),
                    count: 0,
                    expect: *expect,
                }
            } else {
                Error::Op {
                    index,
                    op: op.name(),
                    table: op.table().map(str::to_owned),
                    kind,
                    details,
                }
            });
        }
        if items.len() < self.slots.len() {
            return Err(Error::Protocol(format!(
                "transact returned {} results for {} operations",
                items.len(),
                self.slots.len()
            )));
        }
        let mut results = Vec::with_capacity(txn.ops.len());
        for (&(index, is_guard), item) in self.slots.iter().zip(items) {
            if is_guard {
                continue;
            }
            let (op, expect) = &txn.ops[index];
            let r = OpResult::from_json(item)?;
            let count = match op {
                Operation::Update { .. } | Operation::Mutate { .. } | Operation::Delete { .. } => {
                    Some(r.count.ok_or_else(|| {
                        Error::Protocol(format!(
                            "{} result without a count: {}",
                            op.name(),
                            short(item)
                        ))
                    })?)
                }
                Operation::Select { .. } => {
                    Some(r.rows.as_ref().map_or(0, |rows| rows.len() as u64))
                }
                _ => None,
            };
            if let Some(count) = count {
                if !expect.accepts(count) {
                    return Err(Error::Count {
                        index,
                        op: op.name(),
                        table: op.table().unwrap_or_default().to_owned(),
                        count,
                        expect: *expect,
                    });
                }
            }
            results.push(r);
        }
        Ok(results)
    }
}

/// The table and row of an `update`, `mutate` or `delete` whose condition is
/// exactly `_uuid == U`.
fn single_uuid(op: &Operation) -> Option<(&str, Uuid)> {
    let (table, conditions) = match op {
        Operation::Update {
            table, conditions, ..
        }
        | Operation::Mutate {
            table, conditions, ..
        }
        | Operation::Delete { table, conditions } => (table, conditions),
        _ => return None,
    };
    by_uuid(table, conditions)
}

fn by_uuid<'a>(table: &'a str, conditions: &[Condition]) -> Option<(&'a str, Uuid)> {
    match conditions {
        [c] if c.column == "_uuid" && c.function == Function::Eq => {
            Some((table, c.value.as_uuid()?))
        }
        _ => None,
    }
}

/// The row a `wait` proves present when it passes: `until "=="` on exactly
/// `_uuid == U` with one expected row (the guard `ovn-nbctl`-style writers
/// put on the row they change, e.g. its `_version`). A later operation on that
/// row needs no guard of its own: the transaction aborts at the `wait` if the
/// row is gone, and nothing between them deletes it (a `delete` on the table
/// forgets the proof).
fn proves_present(op: &Operation) -> Option<(&str, Uuid)> {
    match op {
        Operation::Wait {
            table,
            conditions,
            until: WaitUntil::Equal,
            rows,
            ..
        } if rows.len() == 1 => by_uuid(table, conditions),
        _ => None,
    }
}

/// The `wait` that makes the server abort when `op` would match no row.
fn guard(op: &Operation, expect: Expect) -> Option<Value> {
    let needs_a_row = match expect {
        Expect::AtLeastOne => true,
        Expect::Exactly(n) => n >= 1,
        Expect::Any => false,
    };
    let (table, conditions) = match op {
        Operation::Update {
            table, conditions, ..
        }
        | Operation::Mutate {
            table, conditions, ..
        }
        | Operation::Delete { table, conditions } => (table, conditions),
        _ => return None,
    };
    needs_a_row.then(|| {
        json!({
            "op": "wait",
            "table": table,
            "where": conditions.iter().map(Condition::to_json).collect::<Vec<_>>(),
            "columns": [],
            "until": "!=",
            "rows": [],
            "timeout": 0,
        })
    })
}

/// Checks a `transact` result for `txn` sent as [`Plan::new`] built it.
pub fn check_results(txn: &Txn, result: &Value) -> Result<Vec<OpResult>, Error> {
    Plan::new(txn).check(txn, result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ovsdb::datum::Datum;
    use crate::ovsdb::operation::Mutation;

    /// insert, mutate (Exactly(1): guarded), select. On the wire:
    /// insert, wait, mutate, select.
    fn three_ops() -> Txn {
        let mut txn = Txn::new("OVN_Northbound");
        let mut row = Row::new();
        row.insert("name".into(), Datum::string("p1"));
        txn.insert("Logical_Switch_Port", row);
        let ls = Uuid::from_u128(7);
        txn.mutate_row(
            "Logical_Switch",
            ls,
            vec![Mutation::insert("ports", Datum::uuid(ls))],
        );
        txn.push(
            Operation::Select {
                table: "Logical_Switch".into(),
                conditions: vec![Condition::eq("name", Datum::string("sw0"))],
                columns: None,
            },
            Expect::Any,
        );
        txn
    }

    fn inserted() -> Value {
        json!({"uuid": ["uuid", Uuid::from_u128(1).to_string()]})
    }

    #[test]
    fn operations_that_need_a_row_are_preceded_by_a_wait_guard() {
        let txn = three_ops();
        let plan = Plan::new(&txn);
        let p = plan.params.as_array().unwrap();
        assert_eq!(p.len(), 5);
        assert_eq!(p[0], json!("OVN_Northbound"));
        assert_eq!(p[1]["op"], json!("insert"));
        assert_eq!(
            p[2],
            json!({"op": "wait", "table": "Logical_Switch", "where": p[3]["where"].clone(),
                   "columns": [], "until": "!=", "rows": [], "timeout": 0})
        );
        assert_eq!(p[3]["op"], json!("mutate"));
        assert_eq!(p[4]["op"], json!("select"));
        let mut unguarded = Txn::new("db");
        unguarded.push(
            Operation::Delete {
                table: "T".into(),
                conditions: vec![],
            },
            Expect::Any,
        );
        unguarded.push(
            Operation::Delete {
                table: "T".into(),
                conditions: vec![],
            },
            Expect::Exactly(0),
        );
        assert_eq!(Plan::new(&unguarded).params.as_array().unwrap().len(), 3);
    }

    #[test]
    fn a_row_proven_present_by_an_earlier_wait_needs_no_guard_until_a_delete() {
        let ls = Uuid::from_u128(7);
        let version = Row::from([("_version".to_string(), Datum::uuid(Uuid::from_u128(8)))]);
        let mutate = |txn: &mut Txn| {
            txn.mutate_row(
                "Logical_Switch",
                ls,
                vec![Mutation::insert("ports", Datum::uuid(ls))],
            );
        };
        let mut txn = Txn::new("OVN_Northbound");
        txn.guard_row("Logical_Switch", ls, version.clone());
        mutate(&mut txn);
        let ops: Vec<Value> = Plan::new(&txn).params.as_array().unwrap()[1..].to_vec();
        let names: Vec<&Value> = ops.iter().map(|o| &o["op"]).collect();
        assert_eq!(names, [&json!("wait"), &json!("mutate")]);
        // A delete on the table in between forgets the proof.
        txn.delete_row("Logical_Switch", Uuid::from_u128(9));
        mutate(&mut txn);
        let ops = Plan::new(&txn).params;
        let names: Vec<&Value> = ops.as_array().unwrap()[1..]
            .iter()
            .map(|o| &o["op"])
            .collect();
        let wait = json!("wait");
        let expected = [
            &wait,
            &json!("mutate"),
            &wait,
            &json!("delete"),
            &wait,
            &json!("mutate"),
        ];
        assert_eq!(names, expected);
        // The count of the unguarded mutate is still checked.
        let mut txn = Txn::new("OVN_Northbound");
        txn.guard_row("Logical_Switch", ls, version);
        mutate(&mut txn);
        assert!(matches!(
            check_results(&txn, &json!([{}, {"count": 0}])),
            Err(Error::Count {
                index: 1,
                count: 0,
                ..
            })
        ));
    }

    #[test]
    fn a_successful_reply_gives_uuids_counts_and_rows_without_the_guards() {
        let r = check_results(
            &three_ops(),
            &json!([inserted(), {}, {"count": 1}, {"rows": [{"name": "sw0"}]}]),
        )
        .unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].uuid, Some(Uuid::from_u128(1)));
        assert_eq!(r[1].count, Some(1));
        assert_eq!(r[2].rows.as_ref().unwrap()[0]["name"], Datum::string("sw0"));
    }

    #[test]
    fn a_failed_guard_is_a_count_error_for_its_operation() {
        let reply = json!([inserted(), {"error": "timed out", "details": "\"where\" clause test failed"}, null, null]);
        match check_results(&three_ops(), &reply).unwrap_err() {
            Error::Count {
                index,
                op,
                table,
                count,
                expect,
            } => {
                assert_eq!(
                    (index, op, table.as_str(), count),
                    (1, "mutate", "Logical_Switch", 0)
                );
                assert_eq!(expect, Expect::Exactly(1));
            }
            other => panic!("expected a count error, got {other:?}"),
        }
    }

    #[test]
    fn a_count_the_guard_cannot_express_is_checked_after_the_fact() {
        let mut txn = Txn::new("db");
        txn.push(
            Operation::Delete {
                table: "T".into(),
                conditions: vec![],
            },
            Expect::Exactly(2),
        );
        match check_results(&txn, &json!([{}, {"count": 3}])).unwrap_err() {
            Error::Count {
                index: 0,
                count: 3,
                expect: Expect::Exactly(2),
                ..
            } => {}
            other => panic!("expected a count error, got {other:?}"),
        }
    }

    #[test]
    fn a_select_count_is_checked_too() {
        let mut txn = Txn::new("db");
        txn.push(
            Operation::Select {
                table: "T".into(),
                conditions: vec![],
                columns: None,
            },
            Expect::AtLeastOne,
        );
        assert!(matches!(
            check_results(&txn, &json!([{"rows": []}])),
            Err(Error::Count { count: 0, .. })
        ));
    }

    #[test]
    fn each_rfc_error_string_maps_to_its_kind_at_the_failing_operation() {
        let unknown = (
            "weird new error",
            OpErrorKind::Other("weird new error".into()),
        );
        for (s, kind) in crate::ovsdb::error::tests::RFC_STRINGS
            .into_iter()
            .chain([unknown])
        {
            // The mutate itself (wire slot 3, after insert and the guard) fails.
            let reply = json!([inserted(), {}, {"error": s, "details": "why"}, null]);
            match check_results(&three_ops(), &reply).unwrap_err() {
                Error::Op {
                    index,
                    op,
                    table,
                    kind: k,
                    details,
                } => {
                    assert_eq!(index, 1, "{s}");
                    assert_eq!(op, "mutate");
                    assert_eq!(table.as_deref(), Some("Logical_Switch"));
                    assert_eq!(k, kind);
                    assert_eq!(details, "why");
                }
                other => panic!("{s}: expected an operation error, got {other:?}"),
            }
        }
    }

    #[test]
    fn a_trailing_error_is_a_commit_error() {
        let reply = json!([
            inserted(),
            {},
            {"count": 1},
            {"rows": []},
            {"error": "constraint violation", "details": "Transaction causes multiple rows in \"Logical_Switch_Port\" table to have identical values (p) for index on column \"name\"."}
        ]);
        match check_results(&three_ops(), &reply).unwrap_err() {
            Error::Commit { kind, details } => {
                assert_eq!(kind, OpErrorKind::ConstraintViolation);
                assert!(details.contains("identical values"));
            }
            other => panic!("expected a commit error, got {other:?}"),
        }
    }

    #[test]
    fn short_or_malformed_replies_are_protocol_errors() {
        for bad in [
            json!({}),
            json!([{"uuid": ["uuid", "x"]}]),
            json!([inserted(), {}, {"count": 1}]),
            json!([inserted(), {}, {}, {"rows": []}]),
        ] {
            assert!(
                matches!(check_results(&three_ops(), &bad), Err(Error::Protocol(_))),
                "{bad} was accepted"
            );
        }
    }
}
