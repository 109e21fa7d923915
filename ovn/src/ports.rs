//! Task logical switch ports: the port the framework provisions before each
//! Mesos LAUNCH (`ovn-nbctl lsp-add <switch> <task> -- lsp-set-addresses <task>
//! "MAC IP" -- lsp-set-port-security <task> "MAC IP"`), with the address chosen
//! here rather than by northd, so the task can be told its IP before it runs.
//!
//! Addresses come from the switch's `other_config:subnet` minus
//! `exclude_ips`, the router port's address and every address a port of the
//! switch holds (static, `dynamic_addresses`), all read from the monitored
//! cache, which shows a client's own commits before `transact` returns. The MAC
//! is derived from the IP ([`crate::ipam::mac_for_ip`]). One transaction
//! inserts the port (fixed uuid) and adds it to the switch's `ports` (which
//! must match exactly one switch), guarded by a `wait` on the switch's
//! `_version`: if any other writer changed the switch since the cache was read,
//! the transaction aborts and is recomputed, so two processes never hand out
//! one address. Within a process, allocation on a switch is serialized by an
//! async lock, and each switch's address index is kept in step with the cache
//! incrementally (see `index.rs`), so provisioning cost does not grow with the
//! size of the NB.
//!
//! [`commit_task_ports_batch`] returns as soon as the NB committed the ports
//! (a task may be launched with them then) and keeps their switches locked
//! for this process until its cache shows them ([`PortsCommitted::visible`]).
//!
//! The client must monitor `Logical_Switch`, `Logical_Switch_Port` and
//! `Logical_Router_Port` with all columns (`_version` comes with them).

mod index;
mod inventory;
mod monitor;
mod name;
mod plan;
mod registry;

use std::collections::{BTreeMap, HashSet};
use std::net::Ipv4Addr;

use ipnetwork::Ipv4Network;
use tracing::{debug, info, info_span, Instrument};
use uuid::Uuid;

use crate::ipam::{IpamError, MacAddr};
use crate::nb::{LogicalSwitch, LogicalSwitchPort, Table, NB_DB};
use crate::ovsdb::{Cache, Client, Committed, Datum, Mutation, OpErrorKind, Txn};
use crate::owner::{self, Kind};

pub use inventory::{delete_task_port, list_task_ports};
pub use monitor::reserve_monitor_ip;
pub use name::{port_name, MAX_NAME_LEN};

use index::SwitchIndex;
use plan::{guard_switch, plan_port, resolve_switch, Planned, SwitchRef};

/// What port a task needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskPortSpec {
    /// The network's logical switch, e.g. `coke1`.
    pub switch: String,
    pub task_id: String,
    pub framework_id: String,
    /// The service the task backs, if any (`ovn-mesos/service`).
    pub service: Option<String>,
    /// `options:requested-chassis`: the agent's OVS `system-id`.
    pub requested_chassis: Option<String>,
    /// Keep this address (e.g. the task's address before a restart) instead
    /// of taking the next free one.
    pub ip: Option<Ipv4Addr>,
    /// The agent the task is launched on (`ovn-mesos/agent-id`,
    /// `ovn-mesos/hostname`): with the task and framework ids, the NB alone
    /// says where each task of a framework runs.
    pub agent: Option<PortAgent>,
    /// The version of its definition the task runs (`ovn-mesos/version`):
    /// whoever adopts the task from its port alone knows whether a
    /// deployment under way still has to replace it.
    pub version: Option<String>,
}

/// The Mesos agent a task port's task runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortAgent {
    pub id: String,
    pub hostname: String,
}

/// A task's port as provisioned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskPort {
    /// The port name ([`port_name`] of the task id); the OVS `iface-id`.
    pub name: String,
    pub switch: String,
    pub tenant: String,
    pub mac: MacAddr,
    pub ip: Ipv4Addr,
    /// The switch subnet's prefix length (the container's `IP/prefix`).
    pub prefix_len: u8,
    /// The router port's address on the switch: the container's default route.
    pub gateway: Ipv4Addr,
    pub uuid: Uuid,
    pub task_id: String,
    pub framework_id: String,
    pub service: Option<String>,
    /// The agent its task was launched on, when the port says.
    pub agent: Option<PortAgent>,
    /// The version of its definition its task runs, when the port says
    /// (ports made before the key existed do not).
    pub version: Option<String>,
}

/// Why a task port could not be provisioned or removed.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// The spec is unusable (empty task or framework id, a task twice in one
    /// batch); fix the caller.
    #[error("invalid task port spec for task {task:?}: {reason}")]
    InvalidSpec { task: String, reason: String },

    /// No logical switch has this name (`network-init` not run?).
    #[error("logical switch {switch:?} does not exist")]
    UnknownSwitch { switch: String },

    /// The switch exists but ovn-mesos did not create it as a network, so it
    /// does not allocate addresses on it.
    #[error("logical switch {switch:?} is not an ovn-mesos network")]
    NotOvnMesosNetwork { switch: String },

    /// The switch has no `other_config:subnet` to allocate from.
    #[error("logical switch {switch:?} has no other_config:subnet")]
    NoSubnet { switch: String },

    /// The switch's `subnet` or `exclude_ips` cannot be parsed.
    #[error("logical switch {switch:?} has a bad address configuration")]
    BadSubnet {
        switch: String,
        #[source]
        source: IpamError,
    },

    /// Every address of the subnet is held or excluded; nothing was created.
    #[error("logical switch {switch:?}: subnet {subnet} has no free address")]
    SubnetFull { switch: String, subnet: Ipv4Network },

    /// The requested address is taken, reserved or outside the subnet.
    #[error("logical switch {switch:?}: address {ip} cannot be used")]
    IpUnavailable {
        switch: String,
        ip: Ipv4Addr,
        #[source]
        source: IpamError,
    },

    /// A port of this name exists but is not this task's port.
    #[error("a logical switch port named {name:?} exists already ({holder})")]
    NameTaken { name: String, holder: String },

    /// `delete_task_port` was asked to delete a port ovn-mesos did not create
    /// for a task.
    #[error("logical switch port {name:?} is not an ovn-mesos task port")]
    NotATaskPort { name: String },

    /// The NB transaction failed (see [`crate::ovsdb::Error::is_retryable`]).
    #[error("NB transaction for {what} failed")]
    Ovsdb {
        what: String,
        #[source]
        source: crate::ovsdb::Error,
    },
}

/// Provisions the port of one task in one transaction and returns it; if the
/// task's port exists already it is returned unchanged (no second address).
pub async fn create_task_port(nb: &Client, spec: &TaskPortSpec) -> Result<TaskPort, PortError> {
    let mut ports = create_task_ports_batch(nb, std::slice::from_ref(spec)).await?;
    ports.pop().ok_or_else(|| PortError::InvalidSpec {
        task: spec.task_id.clone(),
        reason: "no port was planned".to_owned(),
    })
}

/// Provisions the ports of many tasks (on one or several switches) in ONE
/// transaction, in `specs` order; ports that exist already are returned as
/// they are. Either every new port is created or none is.
pub async fn create_task_ports_batch(
    nb: &Client,
    specs: &[TaskPortSpec],
) -> Result<Vec<TaskPort>, PortError> {
    let (ports, committed) = commit_task_ports_batch(nb, specs).await?;
    committed.visible().await?;
    Ok(ports)
}

/// Ports committed to the NB that the client's cache may not show yet
/// ([`commit_task_ports_batch`]). Their switches stay locked for this
/// process's other allocations until [`PortsCommitted::visible`], so the
/// next address is never chosen from a cache without them.
#[must_use = "await `visible` before the next allocation on these switches"]
#[derive(Debug)]
pub struct PortsCommitted {
    committed: Committed,
    names: Vec<String>,
    _locked: Locked,
}

impl PortsCommitted {
    /// Waits until the cache shows the ports, then frees their switches.
    pub async fn visible(self) -> Result<(), PortError> {
        self.committed
            .visible()
            .await
            .map_err(|source| PortError::Ovsdb {
                what: format!("task ports {}", self.names.join(", ")),
                source,
            })
    }
}

/// [`create_task_ports_batch`] that returns once the NB committed the
/// ports (they exist: a task may be launched with them), before the
/// client's cache shows them.
pub async fn commit_task_ports_batch(
    nb: &Client,
    specs: &[TaskPortSpec],
) -> Result<(Vec<TaskPort>, PortsCommitted), PortError> {
    if specs.is_empty() {
        let done = PortsCommitted {
            committed: Committed::seen(),
            names: Vec::new(),
            _locked: Vec::new(),
        };
        return Ok((Vec::new(), done));
    }
    let names = validate(specs)?;
    let switches: Vec<SwitchRef> = nb.read(|c| {
        specs
            .iter()
            .map(|s| resolve_switch(c, &s.switch))
            .collect::<Result<_, _>>()
    })?;
    let uuids: Vec<Uuid> = specs.iter().map(|_| Uuid::new_v4()).collect();
    let span = info_span!("task_ports", count = specs.len(), first = %names[0]);
    async {
        let sw_uuids: Vec<Uuid> = switches.iter().map(|s| s.uuid).collect();
        let mut locked = registry::lock_all(&sw_uuids).await;
        // The addresses the last build took from the indexes: given back
        // when the build runs again or the write fails.
        let mut taken: Vec<(Uuid, Ipv4Addr)> = Vec::new();
        let result = nb
            .ensure_committed("task ports", |cache| {
                release(&mut locked, taken.drain(..));
                let planned = plan_batch(cache, &mut locked, &switches, specs, &names, &uuids)?;
                taken = new_addresses(&switches, &planned);
                Ok((assemble(cache, &switches, &planned), planned))
            })
            .await;
        let (planned, committed) = match result {
            Ok(Ok(done)) => done,
            Ok(Err(refused)) => return Err(refused),
            Err(source) => {
                release(&mut locked, taken.drain(..));
                return Err(commit_error(nb, &names, source));
            }
        };
        let mut ports = Vec::with_capacity(planned.len());
        for (p, sw) in planned.into_iter().zip(&switches) {
            match p {
                Planned::Existing(port) => {
                    debug!(port = %port.name, ip = %port.ip, "task port exists already");
                    ports.push(port);
                }
                Planned::New { port, .. } => {
                    if let Some(idx) = index_of(&mut locked, sw.uuid) {
                        idx.add_created(port.uuid, &port.name, port.ip);
                    }
                    info!(port = %port.name, switch = %port.switch, ip = %port.ip, "task port created");
                    ports.push(port);
                }
            }
        }
        let committed = PortsCommitted {
            committed,
            names,
            _locked: locked,
        };
        Ok((ports, committed))
    }
    .instrument(span)
    .await
}

type Locked = Vec<(Uuid, tokio::sync::OwnedMutexGuard<Option<SwitchIndex>>)>;

fn index_of(locked: &mut Locked, switch: Uuid) -> Option<&mut SwitchIndex> {
    locked
        .iter_mut()
        .find(|(u, _)| *u == switch)
        .and_then(|(_, g)| g.as_mut())
}

/// Checks the specs and returns their port names.
fn validate(specs: &[TaskPortSpec]) -> Result<Vec<String>, PortError> {
    let mut seen = HashSet::new();
    specs
        .iter()
        .map(|s| {
            let bad = |reason: &str| PortError::InvalidSpec {
                task: s.task_id.clone(),
                reason: reason.to_owned(),
            };
            if s.framework_id.is_empty() {
                return Err(bad("the framework id is empty"));
            }
            let name = port_name(&s.task_id).ok_or_else(|| bad("the task id is empty"))?;
            if !seen.insert(name.clone()) {
                return Err(bad("the task appears twice in one batch"));
            }
            Ok(name)
        })
        .collect()
}

/// Brings every locked index in step with `cache` and plans every spec.
fn plan_batch(
    cache: &Cache,
    locked: &mut Locked,
    switches: &[SwitchRef],
    specs: &[TaskPortSpec],
    names: &[String],
    uuids: &[Uuid],
) -> Result<Vec<Planned>, PortError> {
    for (uuid, slot) in locked.iter_mut() {
        let sw = switches
            .iter()
            .find(|s| s.uuid == *uuid)
            .expect("locked switches come from specs");
        let row =
            cache
                .row(LogicalSwitch::TABLE, uuid)
                .ok_or_else(|| PortError::UnknownSwitch {
                    switch: sw.name.clone(),
                })?;
        match slot.as_mut() {
            Some(idx) => idx.sync(cache, &sw.name, row)?,
            None => **slot = Some(SwitchIndex::build(cache, *uuid, &sw.name, row)?),
        }
    }
    let mut planned = Vec::with_capacity(specs.len());
    for (i, spec) in specs.iter().enumerate() {
        let sw = &switches[i];
        let idx = index_of(locked, sw.uuid).expect("every switch is indexed above");
        match plan_port(cache, idx, sw, spec, &names[i], uuids[i]) {
            Ok(p) => planned.push(p),
            Err(e) => {
                release(locked, new_addresses(switches, &planned));
                return Err(e);
            }
        }
    }
    Ok(planned)
}

/// The switch and address of every planned new port.
fn new_addresses(switches: &[SwitchRef], planned: &[Planned]) -> Vec<(Uuid, Ipv4Addr)> {
    planned
        .iter()
        .zip(switches)
        .filter_map(|(p, sw)| match p {
            Planned::New { port, .. } => Some((sw.uuid, port.ip)),
            Planned::Existing(_) => None,
        })
        .collect()
}

/// Gives back addresses of planned new ports that were not created.
fn release(locked: &mut Locked, addresses: impl IntoIterator<Item = (Uuid, Ipv4Addr)>) {
    for (switch, ip) in addresses {
        if let Some(idx) = index_of(locked, switch) {
            idx.release(ip);
        }
    }
}

/// The one transaction of a batch: per switch a guard, the inserts and one
/// `ports` mutation; `None` when every port exists already.
fn assemble(cache: &Cache, switches: &[SwitchRef], planned: &[Planned]) -> Option<Txn> {
    let mut per_switch: BTreeMap<Uuid, Vec<&LogicalSwitchPort>> = BTreeMap::new();
    for (p, sw) in planned.iter().zip(switches) {
        if let Planned::New { row, .. } = p {
            per_switch.entry(sw.uuid).or_default().push(row);
        }
    }
    if per_switch.is_empty() {
        return None;
    }
    let mut txn = Txn::new(NB_DB);
    // each new port joins its service's port group, when there is one,
    // in this same transaction: its policy covers it from the start
    let mut groups: BTreeMap<Uuid, Vec<Uuid>> = BTreeMap::new();
    for p in planned {
        if let Planned::New { port, .. } = p {
            let Some(service) = &port.service else {
                continue;
            };
            let name = crate::nb::port_group::port_group_name(&port.tenant, service);
            if let Some((pg, _)) = cache
                .find(
                    crate::nb::PortGroup::TABLE,
                    "name",
                    &Datum::string(name.as_str()),
                )
                .first()
            {
                groups.entry(*pg).or_default().push(port.uuid);
            }
        }
    }
    for (sw, rows) in per_switch {
        if let Some(row) = cache.row(LogicalSwitch::TABLE, &sw) {
            guard_switch(&mut txn, sw, row);
        }
        for r in &rows {
            crate::nb::insert_ops(&mut txn, *r);
        }
        let added = Datum::set(rows.iter().map(|r| r.uuid));
        txn.mutate_row(
            LogicalSwitch::TABLE,
            sw,
            vec![Mutation::insert("ports", added)],
        );
    }
    for (pg, ports) in groups {
        crate::nb::port_group::add_ports_ops(&mut txn, pg, &ports);
    }
    Some(txn)
}

/// Maps a failed commit to the port error it means: a duplicate port name (the
/// NB indexes names) names the port and who holds it.
fn commit_error(nb: &Client, names: &[String], source: crate::ovsdb::Error) -> PortError {
    use crate::ovsdb::Error;
    let duplicate = matches!(
        &source,
        Error::Commit {
            kind: OpErrorKind::ConstraintViolation,
            ..
        } | Error::Op {
            kind: OpErrorKind::ConstraintViolation,
            ..
        }
    );
    if duplicate {
        let taken = nb.read(|c| {
            names.iter().find_map(|n| {
                let rows = c.find(LogicalSwitchPort::TABLE, "name", &Datum::string(n.as_str()));
                let (_, row) = rows.first()?;
                let ids = row
                    .get("external_ids")
                    .map(Datum::string_map_value)
                    .unwrap_or_default();
                let holder = match (owner::kind_of(&ids), ids.get(owner::TASK)) {
                    (Some(Kind::TaskPort), Some(t)) => format!("task {t}'s port on another switch"),
                    _ => "a port ovn-mesos did not create for a task".to_owned(),
                };
                Some(PortError::NameTaken {
                    name: n.clone(),
                    holder,
                })
            })
        });
        if let Some(e) = taken {
            return e;
        }
    }
    PortError::Ovsdb {
        what: format!(
            "task port {}",
            names.first().map(String::as_str).unwrap_or("")
        ),
        source,
    }
}

/// The transaction [`create_task_port`] would commit for `spec` given `cache`
/// (computed on a fresh index, without locking): for dry runs and tests.
/// `Ok(None)` means the task's port exists (it is returned).
pub fn plan_task_port(
    cache: &Cache,
    spec: &TaskPortSpec,
) -> Result<(Option<Txn>, TaskPort), PortError> {
    let names = validate(std::slice::from_ref(spec))?;
    let sw = resolve_switch(cache, &spec.switch)?;
    let row =
        cache
            .row(LogicalSwitch::TABLE, &sw.uuid)
            .ok_or_else(|| PortError::UnknownSwitch {
                switch: sw.name.clone(),
            })?;
    let mut idx = SwitchIndex::build(cache, sw.uuid, &sw.name, row)?;
    let planned = plan_port(cache, &mut idx, &sw, spec, &names[0], Uuid::new_v4())?;
    let txn = assemble(
        cache,
        std::slice::from_ref(&sw),
        std::slice::from_ref(&planned),
    );
    let port = match planned {
        Planned::Existing(p) | Planned::New { port: p, .. } => p,
    };
    Ok((txn, port))
}
