//! Start-up recovery (`docs/architecture.md`, "State and recovery"): the
//! tasks of an earlier run come back into the book with their IPs, from
//! the state dir's records and the NB's task ports, which carry the
//! framework id and task id in `external_ids`. The NB is the source of
//! truth for addresses, so:
//!
//! * a record whose port exists is kept;
//! * a record whose port is gone gets it back with the same address (the
//!   task still runs with it); if the address was taken meanwhile, the task
//!   is killed once subscribed and relaunched;
//! * a port of this framework without a record (a crash between the port
//!   and the record, or a new leader that has only the NB) is adopted as
//!   an unconfirmed task, on the agent and of the definition version its
//!   port names (so a deployment under way goes on replacing it); the
//!   explicit reconciliation at subscribe time says whether it runs (kept)
//!   or not (its port is deleted).
//!
//! Nothing is deleted here: what no live task has is removed once Mesos has
//! answered the reconciliation (stray updates, terminal states).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use mesos_proto::v1::{AgentId, TaskId};
use ovn::ovsdb::Client;
use ovn::ports::{create_task_port, list_task_ports, TaskPort, TaskPortSpec};
use tracing::{info, warn};

use super::book::LiveTask;
use super::core::Core;
use super::SchedulerError;
use crate::state::{StateStore, TaskRecord};
use crate::tasks::{Services, TemplateId};
use ovn::report::Chain;

/// What start-up recovery found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RepairReport {
    /// Records whose port was in place.
    pub kept: usize,
    /// Ports without a record, adopted.
    pub adopted: usize,
    /// Records whose port was created again with the same address.
    pub restored: usize,
    /// Records whose address could not be restored (killed once subscribed).
    pub lost: usize,
}

/// Reserves the health-check source address of every network whose tasks
/// are backends of a VIP with OVN health checks (new networks and those made
/// before the reservation existed alike), before anything is launched. A
/// network that cannot have one keeps its service's VIP without OVN checks
/// (the service writer leaves them out) and is named in a warning.
pub(super) async fn reserve_monitor_addresses(nb: &Client, services: &Services) {
    let switches: BTreeSet<&str> = services
        .iter()
        .filter(|s| s.vip.is_some() && s.ovn_health_check())
        .flat_map(|s| s.members.iter().map(|m| m.definition.switch.as_str()))
        .collect();
    for switch in switches {
        if let Err(e) = ovn::ports::reserve_monitor_ip(nb, switch).await {
            warn!(switch, error = %Chain(&e), "no health-check source address: its VIPs go without OVN health checks");
        }
    }
}

/// Brings the tasks of the earlier run into `core`'s book.
pub(super) async fn recover(
    nb: &Client,
    store: &mut StateStore,
    core: &mut Core,
) -> Result<RepairReport, SchedulerError> {
    let mut report = RepairReport::default();
    let Some(framework_id) = store.framework_id().cloned() else {
        return Ok(report);
    };
    let mut ports: BTreeMap<String, TaskPort> = nb.read(|cache| {
        list_task_ports(cache)
            .into_iter()
            .filter(|p| p.framework_id == framework_id.as_str())
            .map(|p| (p.task_id.clone(), p))
            .collect()
    });
    let now = Instant::now();
    let records: Vec<TaskRecord> = store.tasks().cloned().collect();
    for mut record in records {
        match ports.remove(record.task_id.as_str()) {
            Some(port) if port.ip == record.port.ip => {
                report.kept += 1;
            }
            Some(port) => {
                // The NB is the truth for addresses.
                warn!(task = %record.task_id, recorded = %record.port.ip, nb = %port.ip, "task record has another address than its port; using the port's");
                record.port.ip = port.ip;
                record.port.mac = port.mac;
                persist(store, &record);
                report.kept += 1;
            }
            None => {
                let spec = TaskPortSpec {
                    switch: record.switch.clone(),
                    task_id: record.task_id.as_str().to_owned(),
                    framework_id: framework_id.as_str().to_owned(),
                    service: Some(record.service.clone()),
                    requested_chassis: None,
                    ip: Some(record.port.ip),
                    agent: record.agent_id.as_ref().map(|id| ovn::ports::PortAgent {
                        id: id.as_str().to_owned(),
                        hostname: record.hostname.clone().unwrap_or_default(),
                    }),
                    version: record.version.clone(),
                };
                match create_task_port(nb, &spec).await {
                    Ok(port) => {
                        info!(task = %record.task_id, ip = %port.ip, port = %port.name, "task port restored");
                        report.restored += 1;
                    }
                    Err(e) => {
                        warn!(task = %record.task_id, error = %Chain(&e), "cannot restore the task's port; the task will be killed and relaunched");
                        core.kill_when_subscribed(record.task_id.clone(), record.agent_id.clone());
                        report.lost += 1;
                    }
                }
            }
        }
        core.recovered(LiveTask::new(record, now));
    }
    // A task its service's load balancer serves was a running backend
    // when the last scheduler wrote it: it stays one until reconciliation
    // says otherwise, so a new leader (which has no records) does not
    // empty the VIPs before Mesos answers.
    let serving: BTreeSet<(String, String, std::net::Ipv4Addr)> = nb.read(|cache| {
        ovn::services::list_services(cache)
            .into_iter()
            .flat_map(|s| {
                let backends = s
                    .vips
                    .iter()
                    .flat_map(|v| v.backends.iter())
                    .chain(s.east_west.iter().flat_map(|e| e.backends.iter()))
                    .map(|b| *b.ip())
                    .collect::<Vec<_>>();
                backends
                    .into_iter()
                    .map(move |ip| (s.tenant.clone(), s.name.clone(), ip))
            })
            .collect()
    });
    for (task_id, port) in ports {
        let mut record = adopted(&port);
        let served = port.service.as_ref().is_some_and(|service| {
            serving.contains(&(port.tenant.clone(), service.clone(), port.ip))
        });
        if served {
            record.state = mesos_proto::v1::TaskState::TaskRunning;
            record.healthy = Some(true);
        }
        info!(task = %task_id, ip = %port.ip, agent = ?port.agent, version = ?port.version, backend = served, "task port without a record adopted; reconciliation decides");
        persist(store, &record);
        core.recovered(LiveTask::new(record, now));
        report.adopted += 1;
    }
    Ok(report)
}

/// The record of a task known only by its port (no record): in
/// `TASK_STAGING` until reconciliation speaks, of the template its task id
/// names. The port names its agent (ports made since the key exists), so
/// the task is reconciled and killed there without waiting for an offer,
/// and the version of its definition (likewise), so the book counts a task
/// of an earlier version as one a deployment still replaces; a port
/// without a version leaves it to the book, which takes the task as of
/// the current version (`Book::insert`).
pub(super) fn adopted(port: &TaskPort) -> TaskRecord {
    let template = TemplateId::of_task(&TaskId::new(&port.task_id));
    let (agent_id, hostname) = match &port.agent {
        Some(a) => (Some(AgentId::new(&a.id)), Some(a.hostname.clone())),
        None => (None, None),
    };
    let mut record = TaskRecord::staging(port, template, agent_id, hostname);
    record.version = port.version.clone();
    record
}

/// Queues a task's record for the state writer; a failure is logged
/// (the NB keeps the address, so recovery works without it).
pub(super) fn persist(store: &mut StateStore, record: &TaskRecord) {
    if let Err(e) = store.queue_task(record.clone()) {
        warn!(task = %record.task_id, error = %Chain(&e), "cannot write the task record");
    }
}
