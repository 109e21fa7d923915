//! The port transaction alone, against the framework's NB right after its
//! steady phase (its task ports still there, so the NB and the switch are
//! the size they had), sample by sample in the steady phase's batch shape:
//!
//! * the raw loop: the transaction the framework commits per offer, exactly
//!   as `ovn::ports` builds it (`plan_task_port` on a snapshot of the NB:
//!   the `wait` guard on the switch's `_version`, the fixed-uuid inserts,
//!   the one mutate of the switch's `ports`), sent as one `transact` on a
//!   plain unix socket with no monitor and no cache, timed from the request
//!   written to the reply read: the NB's own cost of the transaction under
//!   the run's load. Before each sample an untimed `select` reads the
//!   switch's current `_version` for the guard (what the client's cache
//!   holds); after it an untimed transaction deletes the ports again;
//! * the ovn-mesos client: `commit_task_ports_batch` (what the launch
//!   pipeline calls per offer), timed up to the commit as the framework's
//!   latency counts it, then the wait for the cache and `delete_task_port`
//!   per port (as the framework drops a killed task's port), untimed.
//!
//! The ports belong to framework id [`RAW_FRAMEWORK`], so the framework
//! treats none of them as its own; [`check_clean`] fails if one is left.

use std::io::{BufReader, Write};
use std::net::Ipv4Addr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use ovn::nb::{LogicalSwitchPort, Table, NB_DB};
use ovn::ovsdb::{Cache, Client, ClientConfig, Datum};
use ovn::owner::{self, Kind};
use ovn::ports::{
    commit_task_ports_batch, delete_task_port, list_task_ports, plan_task_port, PortError,
    TaskPortSpec,
};
use ovn::topology::monitor_nb;
use serde_json::{json, Value};
use uuid::Uuid;

use super::setup::{NETWORK, SUBNET};

/// The framework id of the ports the loops create.
pub const RAW_FRAMEWORK: &str = "bench-raw-loop-0000";
/// How often a sample is sent again when its guard found the switch changed.
const MAX_RETRIES: usize = 5;

/// How many ports each of `samples` transactions carries so that they add
/// up to `ports` (the steady phase's ACCEPTs and the tasks they launched).
pub fn shape(samples: usize, ports: usize) -> Vec<usize> {
    if samples == 0 {
        return Vec::new();
    }
    let (each, extra) = (ports / samples, ports % samples);
    (0..samples)
        .map(|i| (each + usize::from(i < extra)).max(1))
        .collect()
}

/// One loop's samples.
pub struct Samples {
    pub took: Vec<Duration>,
    /// Samples sent again because another writer changed the switch.
    pub retries: usize,
}

/// A client like the framework's (`connect_nb`: the topology tables and the
/// service tables).
async fn connect(nb_remote: &str) -> anyhow::Result<Client> {
    let config = ovn::services::monitor_services(monitor_nb(ClientConfig::new(nb_remote, NB_DB)?));
    Client::connect(config)
        .await
        .with_context(|| format!("connecting to the NB at {nb_remote}"))
}

/// The `requested-chassis` values of the task ports in `cache`, sorted:
/// the agents the framework launched on.
fn chassis(cache: &Cache) -> Vec<String> {
    let mut all: Vec<String> = cache
        .table(LogicalSwitchPort::TABLE)
        .filter(|(_, row)| {
            let ids = row
                .get("external_ids")
                .map(Datum::string_map_value)
                .unwrap_or_default();
            owner::kind_of(&ids) == Some(Kind::TaskPort)
        })
        .filter_map(|(_, row)| {
            row.get("options")
                .map(Datum::string_map_value)
                .and_then(|o| o.get("requested-chassis").cloned())
        })
        .collect();
    all.sort();
    all.dedup();
    all
}

/// A new task's port spec, like the framework's for an instance of a
/// service template on agent `chassis`.
fn spec(chassis: &str, ip: Option<Ipv4Addr>) -> TaskPortSpec {
    TaskPortSpec {
        switch: NETWORK.into(),
        task_id: format!("rawloop.{}", Uuid::new_v4().simple()),
        framework_id: RAW_FRAMEWORK.into(),
        service: Some("bench-web".into()),
        requested_chassis: Some(chassis.to_owned()),
        ip,
        agent: None,
        version: None,
    }
}

/// `n` addresses free in `cache`, from the top of the subnet down (away
/// from where the framework allocates).
fn free_addresses(cache: &Cache, chassis: &str, n: usize) -> anyhow::Result<Vec<Ipv4Addr>> {
    let (net, len) = SUBNET.split_once('/').context("SUBNET is a.b.c.d/len")?;
    let base = u32::from(net.parse::<Ipv4Addr>()?);
    let hosts = 1u32 << (32 - len.parse::<u32>()?);
    let mut free = Vec::with_capacity(n);
    for offset in (1..hosts - 1).rev() {
        if free.len() == n {
            break;
        }
        let ip = Ipv4Addr::from(base + offset);
        match plan_task_port(cache, &spec(chassis, Some(ip))) {
            Ok(_) => free.push(ip),
            Err(PortError::IpUnavailable { .. }) => {}
            Err(e) => bail!("planning a raw loop port: {e}"),
        }
    }
    if free.len() < n {
        bail!(
            "{SUBNET} has {} free addresses, the raw loop needs {n}",
            free.len()
        );
    }
    Ok(free)
}

/// One sample's transaction and the uuids of its ports.
struct Planned {
    params: Value,
    ports: Vec<Uuid>,
}

/// `op`'s name (`""` when it has none).
fn op_name(op: &Value) -> &str {
    op["op"].as_str().unwrap_or("")
}

/// The transactions `plan_task_port` builds for the ports of one sample,
/// made into the one transaction `commit_task_ports_batch` commits for
/// them: the first guard, every insert, one mutate adding them all to the
/// switch, and one adding them to their service's port group when it has
/// one.
fn merge(plans: Vec<Value>) -> anyhow::Result<Planned> {
    let mut guard = None;
    let mut inserts = Vec::new();
    let mut mutate: Option<Value> = None;
    let mut group: Option<Value> = None;
    let mut ports = Vec::new();
    for plan in plans {
        let ops = plan.as_array().context("transact params are an array")?;
        let names: Vec<&str> = ops.iter().skip(1).map(op_name).collect();
        // the last mutate, when the service has a port group: the port
        // joins it in the same transaction
        let joins = names == ["wait", "insert", "mutate", "mutate"]
            && ops[4]["table"] == json!("Port_Group");
        if (names != ["wait", "insert", "mutate"] && !joins) || ops[0] != json!(NB_DB) {
            bail!("the port transaction is not [wait, insert, mutate (, mutate of Port_Group)] any more ({names:?}); update the raw loop");
        }
        if joins {
            group.get_or_insert_with(|| ops[4].clone());
        }
        if ops[1]["columns"] != json!(["_version"]) {
            bail!(
                "the port transaction's guard is not on _version ({}); update the raw loop",
                ops[1]["columns"]
            );
        }
        let uuid: Uuid = ops[2]["uuid"]
            .as_str()
            .context("the port insert has a fixed uuid")?
            .parse()?;
        ports.push(uuid);
        guard.get_or_insert_with(|| ops[1].clone());
        inserts.push(ops[2].clone());
        mutate.get_or_insert_with(|| ops[3].clone());
    }
    let (Some(guard), Some(mut mutate)) = (guard, mutate) else {
        bail!("a raw loop sample without ports");
    };
    if ports.len() > 1 {
        let added: Vec<Value> = ports
            .iter()
            .map(|u| json!(["uuid", u.to_string()]))
            .collect();
        mutate["mutations"][0][2] = json!(["set", added.clone()]);
        if let Some(g) = group.as_mut() {
            g["mutations"][0][2] = json!(["set", added]);
        }
    }
    let mut params = vec![json!(NB_DB), guard];
    params.extend(inserts);
    params.push(mutate);
    params.extend(group);
    Ok(Planned {
        params: Value::Array(params),
        ports,
    })
}

/// Every sample's transaction, planned on one snapshot of the NB; and the
/// switch's uuid.
fn plan_all(cache: &Cache, shape: &[usize]) -> anyhow::Result<(Vec<Planned>, Uuid)> {
    let agents = chassis(cache);
    if agents.is_empty() {
        bail!("no task port in the NB to take a requested-chassis from");
    }
    let widest = shape.iter().copied().max().unwrap_or(1);
    let addresses = free_addresses(cache, &agents[0], widest)?;
    let mut planned = Vec::with_capacity(shape.len());
    for (i, &ports) in shape.iter().enumerate() {
        let agent = &agents[i % agents.len()];
        let plans = addresses[..ports]
            .iter()
            .map(|ip| match plan_task_port(cache, &spec(agent, Some(*ip)))? {
                (Some(txn), _) => Ok(txn.to_params()),
                (None, port) => bail!("the raw loop's port {} exists already", port.name),
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        planned.push(merge(plans)?);
    }
    let switch = planned
        .first()
        .and_then(|p| p.params[1]["where"][0][2][1].as_str())
        .context("the guard names the switch")?
        .parse()?;
    Ok((planned, switch))
}

/// A blocking JSON-RPC connection to the NB's unix socket.
struct Raw {
    stream: UnixStream,
    replies: serde_json::StreamDeserializer<
        'static,
        serde_json::de::IoRead<BufReader<UnixStream>>,
        Value,
    >,
    next_id: u64,
}

impl Raw {
    fn connect(path: &Path) -> anyhow::Result<Raw> {
        let stream = UnixStream::connect(path)
            .with_context(|| format!("connecting to {}", path.display()))?;
        let replies = serde_json::Deserializer::from_reader(BufReader::new(stream.try_clone()?))
            .into_iter::<Value>();
        Ok(Raw {
            stream,
            replies,
            next_id: 0,
        })
    }

    /// Sends `transact` with `params` and returns its `result` array,
    /// answering the server's echo requests meanwhile.
    fn transact(&mut self, params: &Value) -> anyhow::Result<Vec<Value>> {
        self.next_id += 1;
        let id = json!(self.next_id);
        let request = json!({"id": id, "method": "transact", "params": params});
        self.stream.write_all(&serde_json::to_vec(&request)?)?;
        loop {
            let msg = self
                .replies
                .next()
                .context("the NB closed the connection")??;
            if msg["method"] == "echo" {
                let reply = json!({"id": msg["id"], "result": msg["params"], "error": null});
                self.stream.write_all(&serde_json::to_vec(&reply)?)?;
            } else if msg["id"] == id {
                if !msg["error"].is_null() {
                    bail!("transact failed: {}", msg["error"]);
                }
                return msg["result"]
                    .as_array()
                    .cloned()
                    .context("transact reply without result");
            }
        }
    }

    /// The switch's current `_version`.
    fn version(&mut self, switch: Uuid) -> anyhow::Result<Value> {
        let params = json!([NB_DB, {"op": "select", "table": "Logical_Switch",
            "where": [["_uuid", "==", ["uuid", switch.to_string()]]], "columns": ["_version"]}]);
        let result = self.transact(&params)?;
        let version = result
            .first()
            .and_then(|r| r["rows"].get(0))
            .map(|row| row["_version"].clone())
            .filter(|v| !v.is_null())
            .with_context(|| format!("switch {switch} not found: {result:?}"))?;
        Ok(version)
    }

    /// Deletes `ports` from the switch and the port table.
    fn delete(&mut self, switch: Uuid, ports: &[Uuid]) -> anyhow::Result<()> {
        let removed: Vec<Value> = ports
            .iter()
            .map(|u| json!(["uuid", u.to_string()]))
            .collect();
        let mut params = vec![
            json!(NB_DB),
            json!({"op": "mutate", "table": "Logical_Switch",
                "where": [["_uuid", "==", ["uuid", switch.to_string()]]],
                "mutations": [["ports", "delete", ["set", removed]]]}),
        ];
        params.extend(ports.iter().map(|u| {
            json!({"op": "delete", "table": "Logical_Switch_Port",
                "where": [["_uuid", "==", ["uuid", u.to_string()]]]})
        }));
        let result = self.transact(&Value::Array(params))?;
        if result.len() != ports.len() + 1 || result.iter().any(|r| r["count"] != json!(1)) {
            bail!("deleting the raw loop's ports {ports:?}: {result:?}");
        }
        Ok(())
    }
}

/// The raw loop: one sample per entry of `shape`, that many ports each.
pub async fn raw_loop(nb_remote: &str, shape: &[usize]) -> anyhow::Result<Samples> {
    if shape.is_empty() {
        return Ok(Samples {
            took: Vec::new(),
            retries: 0,
        });
    }
    let path = PathBuf::from(
        nb_remote
            .strip_prefix("unix:")
            .with_context(|| format!("the raw loop needs a unix: NB remote, not {nb_remote}"))?,
    );
    let nb = connect(nb_remote).await?;
    let planned = nb.read(|cache| plan_all(cache, shape));
    // No monitor of this process while the loop runs.
    nb.close().await;
    drop(nb);
    let (planned, switch) = planned?;
    tokio::task::spawn_blocking(move || -> anyhow::Result<Samples> {
        let mut raw = Raw::connect(&path)?;
        let mut samples = Samples {
            took: Vec::with_capacity(planned.len()),
            retries: 0,
        };
        for mut sample in planned {
            let mut attempts = 0;
            let took = loop {
                sample.params[1]["rows"][0]["_version"] = raw.version(switch)?;
                let sent = Instant::now();
                let result = raw.transact(&sample.params)?;
                let took = sent.elapsed();
                if result.len() != sample.params.as_array().map_or(0, |p| p.len() - 1) {
                    bail!("the raw loop's transaction: {result:?}");
                }
                if result[0]["error"] == "timed out" && attempts < MAX_RETRIES {
                    attempts += 1;
                    samples.retries += 1;
                    continue;
                }
                if result
                    .iter()
                    .any(|r| r.get("error").is_some_and(|e| !e.is_null()))
                    || result.last().map(|r| &r["count"]) != Some(&json!(1))
                {
                    bail!("the raw loop's transaction failed: {result:?}");
                }
                break took;
            };
            samples.took.push(took);
            raw.delete(switch, &sample.ports)?;
        }
        Ok(samples)
    })
    .await
    .context("the raw loop's thread")?
}

/// The ovn-mesos client's loop: one `commit_task_ports_batch` per entry of
/// `shape`, then each port deleted.
pub async fn client_loop(nb_remote: &str, shape: &[usize]) -> anyhow::Result<Samples> {
    let nb = connect(nb_remote).await?;
    let result = async {
        let agents = nb.read(chassis);
        if agents.is_empty() {
            bail!("no task port in the NB to take a requested-chassis from");
        }
        let mut took = Vec::with_capacity(shape.len());
        for (i, &ports) in shape.iter().enumerate() {
            let agent = &agents[i % agents.len()];
            let specs: Vec<TaskPortSpec> = (0..ports).map(|_| spec(agent, None)).collect();
            let sent = Instant::now();
            let (made, committed) = commit_task_ports_batch(&nb, &specs).await?;
            took.push(sent.elapsed());
            committed.visible().await?;
            for port in made {
                if !delete_task_port(&nb, &port.name).await? {
                    bail!(
                        "the client loop's port {} was gone before its delete",
                        port.name
                    );
                }
            }
        }
        Ok(Samples { took, retries: 0 })
    }
    .await;
    nb.close().await;
    result
}

/// Fails if a port of either loop is still in the NB.
pub async fn check_clean(nb_remote: &str) -> anyhow::Result<()> {
    let nb = connect(nb_remote).await?;
    let left: Vec<String> = nb.read(|cache| {
        list_task_ports(cache)
            .into_iter()
            .filter(|p| p.framework_id == RAW_FRAMEWORK)
            .map(|p| p.name)
            .collect()
    });
    nb.close().await;
    if !left.is_empty() {
        bail!(
            "the port loops left {} ports: {}",
            left.len(),
            left.join(", ")
        );
    }
    Ok(())
}
