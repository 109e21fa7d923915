//! The launch pipeline (data flow steps 2-4): for an OFFERS event, place
//! the instances that are wanted now, provision their logical switch ports
//! (one NB transaction per switch for the whole event: addresses,
//! `port_security`, `requested-chassis`, owner `external_ids`), then ACCEPT
//! each used offer with one LAUNCH of CUSTOM-executor tasks that carry
//! their attachment. A task is never launched without its port; a port
//! whose ACCEPT failed is deleted. Offers that are not used are declined
//! with a filter (short while something waits, long when nothing does).

use std::collections::BTreeMap;
use std::time::{Instant, SystemTime};

use futures::future::join_all;
use mesos_proto::v1::{Offer, OfferId, TaskId, TaskInfo, TaskState};
use ovn::ports::{
    create_task_port, create_task_ports_batch, delete_task_port, PortError, TaskPort, TaskPortSpec,
};
use tracing::{error, info, warn};

use super::book::LiveTask;
use super::Scheduler;
use crate::launch::{self, new_task_id, place, LaunchResources, Load, OfferSlot, Want};
use crate::mesos::{launch_operation, Caller};
use crate::state::{PortRecord, TaskRecord};

/// One instance placed on an offer, before its port exists.
#[derive(Debug)]
struct Planned {
    template: String,
    slot: usize,
    resources: LaunchResources,
    task_id: TaskId,
}

/// One instance ready to launch.
#[derive(Debug)]
struct Ready {
    template: String,
    port: TaskPort,
    info: TaskInfo,
}

impl Scheduler {
    pub(super) async fn on_offers(&mut self, caller: &Caller, offers: Vec<Offer>) {
        let received = Instant::now();
        self.metrics.offer_received(offers.len() as u64);
        let wants = self.book.wants(received);
        if wants.is_empty() {
            let ids = offers.iter().map(|o| o.id.clone()).collect();
            self.decline(caller, ids).await;
            return;
        }
        let mut slots: Vec<OfferSlot> = offers
            .iter()
            .map(|o| OfferSlot::new(o, &self.config.role, &self.config.chassis_attribute))
            .collect();
        let planned = self.plan(&mut slots, &wants);
        let ready = self.provision(caller, &slots, planned, received).await;

        let mut by_slot: BTreeMap<usize, Vec<Ready>> = BTreeMap::new();
        for (slot, r) in ready {
            by_slot.entry(slot).or_default().push(r);
        }
        let unused: Vec<OfferId> = (0..slots.len())
            .filter(|i| !by_slot.contains_key(i))
            .map(|i| slots[i].offer_id.clone())
            .collect();
        let refuse = self.refuse_seconds(received);
        let accepts = by_slot.iter().map(|(slot, tasks)| {
            let infos: Vec<TaskInfo> = tasks.iter().map(|r| r.info.clone()).collect();
            caller.accept(
                vec![slots[*slot].offer_id.clone()],
                vec![launch_operation(infos)],
                Some(refuse),
            )
        });
        let results = join_all(accepts).await;
        let accepted_at = received.elapsed();
        for ((slot, tasks), result) in by_slot.into_iter().zip(results) {
            match result {
                Ok(()) => {
                    self.metrics.task_launched(tasks.len() as u64);
                    self.metrics.launch_latency(accepted_at);
                    for r in &tasks {
                        info!(task = %r.port.task_id, agent = %slots[slot].hostname, ip = %r.port.ip, port = %r.port.name, "task launched");
                        if let Some(task) = self.book.get(&TaskId::new(&r.port.task_id)) {
                            let record = task.record.clone();
                            self.persist(&record);
                        }
                    }
                }
                Err(e) => {
                    error!(offer = %slots[slot].offer_id, agent = %slots[slot].hostname, error = %e, "ACCEPT failed; deleting the tasks' ports");
                    self.metrics.launch_failed(tasks.len() as u64);
                    for r in tasks {
                        self.book.remove(&TaskId::new(&r.port.task_id));
                        self.book.launch_failed(&r.template, Instant::now());
                        self.drop_port(&r.port.name).await;
                    }
                }
            }
        }
        if !unused.is_empty() {
            self.decline(caller, unused).await;
        }
        self.touch(false);
    }

    /// Places the wanted instances on the offers' free resources.
    fn plan(&self, slots: &mut [OfferSlot], wants: &[(String, u32)]) -> Vec<Planned> {
        let mut list: Vec<Want<'_>> = Vec::new();
        for (template, count) in wants {
            let Some((service, member)) = self
                .services
                .members()
                .find(|(_, m)| m.definition.task_id.as_str() == template)
            else {
                continue;
            };
            for _ in 0..*count {
                list.push(Want {
                    definition: &member.definition,
                    service: &service.key,
                    slot_key: list.len(),
                });
            }
        }
        let mut load = Load::default();
        for task in self.book.tasks() {
            if let Some(agent) = &task.record.agent_id {
                load.add(
                    &ovn::services::ServiceKey::new(&task.record.tenant, &task.record.service),
                    agent,
                );
            }
        }
        place(slots, &list, &self.config.executor, &load)
            .into_iter()
            .map(|p| Planned {
                template: p.want.definition.task_id.as_str().to_owned(),
                task_id: new_task_id(p.want.definition),
                slot: p.slot,
                resources: p.resources,
            })
            .collect()
    }

    /// Creates the planned tasks' ports (one transaction per switch) and
    /// their TaskInfos, and enters them in the book. Instances whose port
    /// could not be made are put off with backoff.
    async fn provision(
        &mut self,
        caller: &Caller,
        slots: &[OfferSlot],
        planned: Vec<Planned>,
        received: Instant,
    ) -> Vec<(usize, Ready)> {
        let framework_id = caller.framework_id().clone();
        let mut by_switch: BTreeMap<String, Vec<(Planned, TaskPortSpec)>> = BTreeMap::new();
        for p in planned {
            let Some(member) = self.member(&p.template) else {
                continue;
            };
            let spec = TaskPortSpec {
                switch: member.definition.switch.clone(),
                task_id: p.task_id.as_str().to_owned(),
                framework_id: framework_id.as_str().to_owned(),
                service: Some(member.definition.service.clone()),
                requested_chassis: Some(slots[p.slot].chassis.clone()),
                ip: None,
            };
            by_switch
                .entry(spec.switch.clone())
                .or_default()
                .push((p, spec));
        }
        let mut ready = Vec::new();
        for (switch, group) in by_switch {
            let specs: Vec<TaskPortSpec> = group.iter().map(|(_, s)| s.clone()).collect();
            let group = match create_task_ports_batch(&self.nb, &specs).await {
                Ok(ports) => {
                    self.metrics.ovsdb_transaction();
                    group.into_iter().map(|(p, _)| p).zip(ports).collect()
                }
                Err(PortError::SubnetFull { .. }) if group.len() > 1 => {
                    // Some fit: create them one by one, so the full subnet
                    // holds back only the tasks it has no address for.
                    self.one_by_one(&switch, group, received).await
                }
                Err(e) => {
                    self.metrics.ovsdb_error();
                    self.metrics.launch_failed(group.len() as u64);
                    error!(switch = %switch, tasks = group.len(), error = %e, "cannot provision task ports; nothing launched for them");
                    for (p, _) in &group {
                        self.book.launch_failed(&p.template, received);
                    }
                    continue;
                }
            };
            for (p, port) in group {
                let Some(member) = self.member(&p.template) else {
                    continue;
                };
                let slot = &slots[p.slot];
                let info = launch::task_info(
                    &member.definition,
                    &p.task_id,
                    &slot.agent_id,
                    p.resources,
                    &port,
                    &framework_id,
                    &self.config.executor,
                );
                let record = TaskRecord {
                    task_id: p.task_id.clone(),
                    service: port.service.clone().unwrap_or_default(),
                    tenant: port.tenant.clone(),
                    switch: port.switch.clone(),
                    definition: p.template.clone(),
                    agent_id: Some(slot.agent_id.clone()),
                    port: PortRecord {
                        name: port.name.clone(),
                        ip: port.ip,
                        mac: port.mac,
                    },
                    state: TaskState::TaskStaging,
                    launched_at: SystemTime::now(),
                    attempts: 1,
                };
                self.book
                    .insert(LiveTask::new(record, Some(slot.hostname.clone()), received));
                ready.push((
                    p.slot,
                    Ready {
                        template: p.template,
                        port,
                        info,
                    },
                ));
            }
        }
        ready
    }

    /// Creates the ports of `group` one transaction each, after the batch
    /// found the subnet too small for all of them.
    async fn one_by_one(
        &mut self,
        switch: &str,
        group: Vec<(Planned, TaskPortSpec)>,
        received: Instant,
    ) -> Vec<(Planned, TaskPort)> {
        let mut made = Vec::new();
        for (p, spec) in group {
            match create_task_port(&self.nb, &spec).await {
                Ok(port) => {
                    self.metrics.ovsdb_transaction();
                    made.push((p, port));
                }
                Err(e) => {
                    self.metrics.ovsdb_error();
                    self.metrics.launch_failed(1);
                    error!(switch = %switch, task = %p.task_id, error = %e, "cannot provision the task's port; it is not launched");
                    self.book.launch_failed(&p.template, received);
                }
            }
        }
        made
    }

    fn member(&self, template: &str) -> Option<&crate::tasks::Member> {
        self.services
            .members()
            .map(|(_, m)| m)
            .find(|m| m.definition.task_id.as_str() == template)
    }

    /// The DECLINE (and ACCEPT leftovers) filter: short while instances
    /// wait for resources, long when nothing does.
    fn refuse_seconds(&self, now: Instant) -> f64 {
        if self.book.waiting(now) {
            self.config.refuse_seconds
        } else {
            self.config.idle_refuse_seconds
        }
    }

    pub(super) async fn decline(&mut self, caller: &Caller, ids: Vec<OfferId>) {
        if ids.is_empty() {
            return;
        }
        let n = ids.len() as u64;
        let refuse = self.refuse_seconds(Instant::now());
        match caller.decline(ids, refuse).await {
            Ok(()) => self.metrics.offer_declined(n),
            Err(e) => warn!(error = %e, "DECLINE failed (the offers time out on their own)"),
        }
    }

    /// Deletes a task's port; a failure is logged and left to the next
    /// start-up repair or stray update.
    pub(super) async fn drop_port(&mut self, name: &str) {
        match delete_task_port(&self.nb, name).await {
            Ok(_) => self.metrics.ovsdb_transaction(),
            Err(e) => {
                self.metrics.ovsdb_error();
                warn!(port = %name, error = %e, "cannot delete the task port");
            }
        }
    }
}
