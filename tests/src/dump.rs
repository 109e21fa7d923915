//! Whole-database dumps as canonical JSON, to compare database contents.
//!
//! `ovsdb-client get-schema` names the tables, one `ovsdb-client transact`
//! selects every row of every table, and the result is put in canonical form:
//! `{table: [row, ...]}` with tables and columns in name order, rows sorted by
//! `_uuid`, set members and map pairs sorted, `_version` left out (it is
//! bookkeeping that changes on every write). Two dumps of an unchanged
//! database compare equal, and so do dumps before and after a server restart.

use anyhow::{bail, Context};
use serde_json::{json, Map, Value};

use crate::workdir::WorkDir;

/// All rows of database `db` at `remote` (`unix:/.../nb.sock`) in canonical form.
pub fn dump_db(work: &WorkDir, remote: &str, db: &str) -> anyhow::Result<Value> {
    let schema = work.run("ovsdb-client", &["get-schema", remote, db])?;
    let schema: Value = serde_json::from_str(&schema).context("parsing the schema")?;
    let tables: Vec<String> = schema["tables"]
        .as_object()
        .context("schema without tables")?
        .keys()
        .cloned()
        .collect();
    let mut request = vec![json!(db)];
    request.extend(
        tables
            .iter()
            .map(|t| json!({"op": "select", "table": t, "where": []})),
    );
    let request = Value::Array(request).to_string();
    let reply = work.run("ovsdb-client", &["transact", remote, &request])?;
    let reply: Value = serde_json::from_str(&reply).context("parsing the transact reply")?;
    canonical_dump(&tables, &reply)
}

/// Turns the reply to one `select` per table into `{table: [rows]}`.
pub fn canonical_dump(tables: &[String], reply: &Value) -> anyhow::Result<Value> {
    let results = reply.as_array().context("transact reply is not an array")?;
    if results.len() != tables.len() {
        bail!(
            "transact reply has {} results for {} tables: {reply}",
            results.len(),
            tables.len()
        );
    }
    let mut pairs: Vec<(&String, Value)> = Vec::new();
    for (table, result) in tables.iter().zip(results) {
        if let Some(err) = result.get("error") {
            bail!("select on {table} failed: {err} {}", result["details"]);
        }
        let rows = result["rows"]
            .as_array()
            .with_context(|| format!("select on {table} returned no rows array: {result}"))?;
        let mut rows: Vec<Value> = rows.iter().map(canonical_row).collect();
        rows.sort_by_key(|r| r["_uuid"].to_string());
        pairs.push((table, Value::Array(rows)));
    }
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = Map::new();
    for (table, rows) in pairs {
        out.insert(table.clone(), rows);
    }
    Ok(Value::Object(out))
}

fn canonical_row(row: &Value) -> Value {
    let Some(columns) = row.as_object() else {
        return row.clone();
    };
    let mut names: Vec<&String> = columns.keys().filter(|c| *c != "_version").collect();
    names.sort();
    let mut out = Map::new();
    for name in names {
        out.insert(name.clone(), canonical_datum(&columns[name]));
    }
    Value::Object(out)
}

/// Sorts the members of `["set", [...]]` and the pairs of `["map", [...]]`.
fn canonical_datum(datum: &Value) -> Value {
    match datum.as_array().map(Vec::as_slice) {
        Some([Value::String(kind), Value::Array(items)]) if kind == "set" || kind == "map" => {
            let mut items = items.clone();
            items.sort_by_key(|v| v.to_string());
            json!([kind, items])
        }
        _ => datum.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dump_is_the_same_whatever_the_order_of_rows_sets_and_maps() {
        let tables = vec!["B".to_string(), "A".to_string()];
        let one = json!([
            {"rows": [
                {"_uuid": ["uuid", "2"], "_version": ["uuid", "v1"], "s": ["set", [1, 2]]},
                {"_uuid": ["uuid", "1"], "m": ["map", [["a", "1"], ["b", "2"]]]}
            ]},
            {"rows": []}
        ]);
        let two = json!([
            {"rows": [
                {"m": ["map", [["b", "2"], ["a", "1"]]], "_uuid": ["uuid", "1"]},
                {"s": ["set", [2, 1]], "_version": ["uuid", "v2"], "_uuid": ["uuid", "2"]}
            ]},
            {"rows": []}
        ]);
        let a = canonical_dump(&tables, &one).unwrap();
        let b = canonical_dump(&tables, &two).unwrap();
        assert_eq!(a, b);
        assert_eq!(a["B"][0]["_uuid"], json!(["uuid", "1"]));
        assert!(a["B"][1].get("_version").is_none());
        let keys: Vec<&String> = a.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["A", "B"]);
    }

    #[test]
    fn a_failed_select_or_a_short_reply_is_an_error() {
        let tables = vec!["A".to_string()];
        let err = canonical_dump(&tables, &json!([{"error": "unknown table"}]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("select on A failed"), "{err}");
        assert!(canonical_dump(&tables, &json!([])).is_err());
    }
}
