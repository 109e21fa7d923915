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
//!   and the record) is adopted as an unconfirmed task; the explicit
//!   reconciliation at subscribe time says whether it runs (kept) or not
//!   (its port is deleted).
//!
//! Nothing is deleted here: what no live task has is removed once Mesos has
//! answered the reconciliation (stray updates, terminal states).

use std::collections::BTreeMap;
use std::time::{Instant, SystemTime};

use mesos_proto::v1::{TaskId, TaskState};
use ovn::ports::{create_task_port, list_task_ports, TaskPort, TaskPortSpec};
use tracing::{info, warn};

use super::book::LiveTask;
use super::{Scheduler, SchedulerError};
use crate::state::{PortRecord, TaskRecord};

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

/// The template a task id was made from (`<template>.<suffix>`).
pub fn template_of(task_id: &str) -> &str {
    task_id.rsplit_once('.').map_or(task_id, |(t, _)| t)
}

impl Scheduler {
    pub(super) async fn recover(&mut self) -> Result<RepairReport, SchedulerError> {
        let mut report = RepairReport::default();
        let Some(framework_id) = self.store.framework_id().cloned() else {
            return Ok(report);
        };
        let mut ports: BTreeMap<String, TaskPort> = self.nb.read(|cache| {
            list_task_ports(cache)
                .into_iter()
                .filter(|p| p.framework_id == framework_id.as_str())
                .map(|p| (p.task_id.clone(), p))
                .collect()
        });
        let now = Instant::now();
        let records: Vec<TaskRecord> = self.store.tasks().cloned().collect();
        for record in records {
            match ports.remove(record.task_id.as_str()) {
                Some(port) if port.ip == record.port.ip => {
                    report.kept += 1;
                }
                Some(port) => {
                    // The NB is the truth for addresses.
                    warn!(task = %record.task_id, recorded = %record.port.ip, nb = %port.ip, "task record has another address than its port; using the port's");
                    let mut record = record.clone();
                    record.port.ip = port.ip;
                    record.port.mac = port.mac;
                    self.persist(&record);
                    self.book.insert(LiveTask::new(record, None, now));
                    report.kept += 1;
                    continue;
                }
                None => {
                    let spec = TaskPortSpec {
                        switch: record.switch.clone(),
                        task_id: record.task_id.as_str().to_owned(),
                        framework_id: framework_id.as_str().to_owned(),
                        service: Some(record.service.clone()),
                        requested_chassis: None,
                        ip: Some(record.port.ip),
                    };
                    match create_task_port(&self.nb, &spec).await {
                        Ok(port) => {
                            info!(task = %record.task_id, ip = %port.ip, port = %port.name, "task port restored");
                            report.restored += 1;
                        }
                        Err(e) => {
                            warn!(task = %record.task_id, error = %e, "cannot restore the task's port; the task will be killed and relaunched");
                            self.to_kill
                                .push((record.task_id.clone(), record.agent_id.clone()));
                            report.lost += 1;
                        }
                    }
                }
            }
            self.book.insert(LiveTask::new(record, None, now));
        }
        for (task_id, port) in ports {
            let record = TaskRecord {
                task_id: TaskId::new(&task_id),
                service: port.service.clone().unwrap_or_default(),
                tenant: port.tenant.clone(),
                switch: port.switch.clone(),
                definition: template_of(&task_id).to_owned(),
                agent_id: None,
                port: PortRecord {
                    name: port.name.clone(),
                    ip: port.ip,
                    mac: port.mac,
                },
                state: TaskState::TaskStaging,
                launched_at: SystemTime::now(),
                attempts: 1,
            };
            info!(task = %task_id, ip = %port.ip, "task port without a record adopted; reconciliation decides");
            self.persist(&record);
            self.book.insert(LiveTask::new(record, None, now));
            report.adopted += 1;
        }
        Ok(report)
    }

    /// Queues a task's record for the state writer; a failure is logged
    /// (the NB keeps the address, so recovery works without it).
    pub(super) fn persist(&mut self, record: &TaskRecord) {
        if let Err(e) = self.store.queue_task(record.clone()) {
            warn!(task = %record.task_id, error = %e, "cannot write the task record");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::template_of;

    #[test]
    fn the_template_is_the_task_id_before_its_last_dot() {
        assert_eq!(template_of("nginxcoke.0f3a"), "nginxcoke");
        assert_eq!(template_of("web.v2.0f3a"), "web.v2");
        assert_eq!(template_of("plain"), "plain");
    }
}
