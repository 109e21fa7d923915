//! What the tests read from the NB with `ovn-nbctl --format=json find/list`:
//! task ports (name, switch, addresses, port security, options and
//! `external_ids`) and load balancers (name, VIPs). The OVSDB JSON cells
//! (`["set", [...]]`, `["map", [[k, v]...]]`, `["uuid", ...]`) are decoded
//! here.

use std::collections::BTreeMap;

use anyhow::Context;
use ovn_mesos_tests::OvnCentral;
use serde_json::Value;

/// One task port as the NB has it.
#[derive(Debug, Clone, PartialEq)]
pub struct NbPort {
    pub name: String,
    /// The switch holding it (`ovn-nbctl lsp-get-ls`).
    pub switch: String,
    pub addresses: Vec<String>,
    pub port_security: Vec<String>,
    pub options: BTreeMap<String, String>,
    pub external_ids: BTreeMap<String, String>,
}

impl NbPort {
    /// `external_ids:<key>`.
    pub fn id(&self, key: &str) -> &str {
        self.external_ids.get(key).map_or("", String::as_str)
    }

    /// The IPv4 of its `addresses` ("MAC IP").
    pub fn ip(&self) -> &str {
        self.addresses
            .first()
            .and_then(|a| a.split_whitespace().nth(1))
            .unwrap_or("")
    }
}

/// One load balancer: name and `vips` (VIP -> "ip:port,ip:port").
#[derive(Debug, Clone, PartialEq)]
pub struct NbLb {
    pub name: String,
    pub vips: BTreeMap<String, String>,
}

impl NbLb {
    /// The backends of `vip`, sorted.
    pub fn backends(&self, vip: &str) -> Vec<String> {
        let mut b: Vec<String> = self
            .vips
            .get(vip)
            .map(|v| {
                v.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        b.sort();
        b
    }
}

/// A cell as a list of strings (a scalar is one element).
fn strings(cell: &Value) -> Vec<String> {
    match cell {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) if a.first() == Some(&Value::from("set")) => a
            .get(1)
            .and_then(Value::as_array)
            .map(|items| items.iter().flat_map(strings).collect())
            .unwrap_or_default(),
        Value::Array(a) if a.first() == Some(&Value::from("uuid")) => {
            a.get(1).map(strings).unwrap_or_default()
        }
        _ => Vec::new(),
    }
}

/// A `["map", [[k, v]...]]` cell.
fn map(cell: &Value) -> BTreeMap<String, String> {
    cell.get(1)
        .and_then(Value::as_array)
        .map(|pairs| {
            pairs
                .iter()
                .filter_map(|p| Some((p[0].as_str()?.to_owned(), p[1].as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// Rows of `ovn-nbctl --format=json --columns=<columns> <command...>`, as
/// column -> cell.
fn rows(
    central: &OvnCentral,
    columns: &str,
    command: &[&str],
) -> anyhow::Result<Vec<BTreeMap<String, Value>>> {
    let cols = format!("--columns={columns}");
    let mut args = vec!["--format=json", cols.as_str()];
    args.extend_from_slice(command);
    let text = central.nbctl(&args)?;
    let json: Value = serde_json::from_str(&text).with_context(|| format!("nbctl JSON: {text}"))?;
    let headings: Vec<String> = json["headings"]
        .as_array()
        .context("headings")?
        .iter()
        .filter_map(|h| h.as_str().map(str::to_owned))
        .collect();
    Ok(json["data"]
        .as_array()
        .context("data")?
        .iter()
        .filter_map(Value::as_array)
        .map(|row| headings.iter().cloned().zip(row.iter().cloned()).collect())
        .collect())
}

/// Every task port (`external_ids:ovn-mesos/kind=task-port`), by name.
pub fn task_ports(central: &OvnCentral) -> anyhow::Result<BTreeMap<String, NbPort>> {
    let found = rows(
        central,
        "name,addresses,port_security,options,external_ids",
        &[
            "find",
            "Logical_Switch_Port",
            "external_ids:ovn-mesos/kind=task-port",
        ],
    )?;
    let mut out = BTreeMap::new();
    for row in found {
        let name = strings(&row["name"]).concat();
        let switch = central.nbctl(&["lsp-get-ls", &name])?;
        // "<uuid> (coke1)"
        let switch = switch
            .split_once('(')
            .map(|(_, s)| s.trim_end_matches(')').to_owned())
            .unwrap_or(switch);
        out.insert(
            name.clone(),
            NbPort {
                name,
                switch,
                addresses: strings(&row["addresses"]),
                port_security: strings(&row["port_security"]),
                options: map(&row["options"]),
                external_ids: map(&row["external_ids"]),
            },
        );
    }
    Ok(out)
}

/// How many logical switch ports the NB holds in all.
pub fn lsp_count(central: &OvnCentral) -> anyhow::Result<usize> {
    Ok(rows(central, "name", &["list", "Logical_Switch_Port"])?.len())
}

/// Every load balancer, by name.
pub fn load_balancers(central: &OvnCentral) -> anyhow::Result<BTreeMap<String, NbLb>> {
    Ok(rows(central, "name,vips", &["list", "Load_Balancer"])?
        .into_iter()
        .map(|row| {
            let name = strings(&row["name"]).concat();
            (
                name.clone(),
                NbLb {
                    name,
                    vips: map(&row["vips"]),
                },
            )
        })
        .collect())
}
