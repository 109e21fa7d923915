//! The launch pipeline (data flow steps 2-4): for an OFFERS event, place
//! the instances that are wanted now on the offers, then offer by offer
//! provision its tasks' logical switch ports (one NB transaction per offer:
//! addresses, `port_security`, `requested-chassis`, owner `external_ids`)
//! and, once the NB committed them, send its ACCEPT with one LAUNCH of
//! CUSTOM-executor tasks that carry their attachment (the wait for the
//! client's cache to show the ports comes after, before the next offer's
//! addresses are chosen). The ACCEPT runs in the background while the next
//! offer's ports are made, so the master launches the first tasks while
//! the last ports are created. A task is never launched without its port;
//! the ports of a failed ACCEPT are deleted (the failure comes back to the
//! event loop as an [`AcceptFailed`]). Offers that are not used are
//! declined with a filter (short while something waits, long when nothing
//! does), after the event's ACCEPTs were answered.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use mesos_proto::v1::{Offer, OfferId, TaskId, TaskInfo, TaskState};
use ovn::ports::{
    commit_task_ports_batch, create_task_port, delete_task_port, PortError, PortsCommitted,
    TaskPort, TaskPortSpec,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use super::book::LiveTask;
use super::Scheduler;
use crate::api::Metrics;
use crate::launch::{self, new_task_id, place, LaunchResources, OfferSlot, Want};
use crate::mesos::{launch_operation, Caller};
use crate::state::{PortRecord, TaskRecord};
use crate::tasks::{Member, Service};

/// One instance placed on an offer, before its port exists.
#[derive(Debug)]
struct Planned {
    template: String,
    slot: usize,
    resources: LaunchResources,
    task_id: TaskId,
}

/// The tasks of an ACCEPT the master refused: their ports and records go
/// and their templates back off.
#[derive(Debug)]
pub(super) struct AcceptFailed {
    /// (template, port) of each task.
    tasks: Vec<(String, TaskPort)>,
}

/// One offer's ACCEPT, sent in the background.
struct Accept {
    caller: Caller,
    metrics: Arc<Metrics>,
    failed: mpsc::UnboundedSender<AcceptFailed>,
    offer_id: OfferId,
    hostname: String,
    tasks: Vec<(String, TaskPort)>,
    infos: Vec<TaskInfo>,
    refuse: f64,
    received: Instant,
    taken: Instant,
}

impl Accept {
    async fn send(self) {
        let n = self.infos.len() as u64;
        let sent = Instant::now();
        let result = self
            .caller
            .accept(
                vec![self.offer_id.clone()],
                vec![launch_operation(self.infos)],
                Some(self.refuse),
            )
            .await;
        match result {
            Ok(()) => {
                debug!(
                    offer = %self.offer_id,
                    tasks = n,
                    waited_us = self.taken.duration_since(self.received).as_micros() as u64,
                    ports_us = sent.duration_since(self.taken).as_micros() as u64,
                    accept_us = sent.elapsed().as_micros() as u64,
                    "ACCEPT answered"
                );
                self.metrics.launch_latency(self.taken.elapsed());
                self.metrics.offer_latency(self.received.elapsed());
                self.metrics.task_launched(n);
                for (_, port) in &self.tasks {
                    info!(task = %port.task_id, agent = %self.hostname, ip = %port.ip, port = %port.name, "task launched");
                }
            }
            Err(e) => {
                error!(offer = %self.offer_id, agent = %self.hostname, error = %e, "ACCEPT failed; deleting the tasks' ports");
                self.metrics.launch_failed(n);
                let failed = AcceptFailed { tasks: self.tasks };
                if let Err(mpsc::error::SendError(failed)) = self.failed.send(failed) {
                    // The scheduler is gone; the next start-up repair or
                    // reconciliation removes the ports.
                    warn!(
                        tasks = failed.tasks.len(),
                        "ACCEPT failed while stopping; the ports stay until the next start"
                    );
                }
            }
        }
    }
}

/// Waits until the client's cache shows committed ports. A port that does
/// not show in time exists in the NB all the same (its task is launched);
/// the session's resync brings the cache up to date.
async fn visible(committed: Option<PortsCommitted>) {
    if let Some(committed) = committed {
        if let Err(e) = committed.visible().await {
            warn!(error = %e, "committed task ports not yet in the NB cache");
        }
    }
}

impl Scheduler {
    pub(super) async fn on_offers(&mut self, caller: &Caller, offers: Vec<Offer>) {
        let received = Instant::now();
        self.metrics.offer_received(offers.len() as u64);
        let wants = self.book.wants(received);
        if wants.is_empty() {
            let ids = offers.iter().map(|o| o.id.clone()).collect();
            self.decline(caller, ids);
            return;
        }
        let mut slots: Vec<OfferSlot> = offers
            .iter()
            .map(|o| OfferSlot::new(o, &self.config.role, &self.config.chassis_attribute))
            .collect();
        let mut by_slot: BTreeMap<usize, Vec<Planned>> = BTreeMap::new();
        for p in self.plan(&mut slots, &wants) {
            by_slot.entry(p.slot).or_default().push(p);
        }
        let mut unused: Vec<OfferId> = (0..slots.len())
            .filter(|i| !by_slot.contains_key(i))
            .map(|i| slots[i].offer_id.clone())
            .collect();
        let mut accepts = Vec::new();
        for (slot, planned) in by_slot {
            let taken = Instant::now();
            let (ready, committed) = self
                .provision(caller, &slots[slot], planned, received)
                .await;
            let offer = &slots[slot];
            if ready.is_empty() {
                unused.push(offer.offer_id.clone());
                visible(committed).await;
                continue;
            }
            let (tasks, infos) = ready.into_iter().unzip();
            let accept = Accept {
                caller: caller.clone(),
                metrics: self.metrics.clone(),
                failed: self.accept_failed.clone(),
                offer_id: offer.offer_id.clone(),
                hostname: offer.hostname.clone(),
                tasks,
                infos,
                // After this offer's tasks entered the book: long once
                // nothing waits any more.
                refuse: self.refuse_seconds(Instant::now()),
                received,
                taken,
            };
            accepts.push(tokio::spawn(accept.send()));
            // The ports exist in the NB; the next offer's addresses are
            // chosen once the cache shows them.
            visible(committed).await;
        }
        self.decline_after(caller, unused, accepts);
        self.touch(false);
    }

    /// The tasks of a refused ACCEPT leave the book, their ports and
    /// records go, and their templates back off.
    pub(super) async fn on_accept_failed(&mut self, failed: AcceptFailed) {
        let now = Instant::now();
        for (template, port) in failed.tasks {
            let id = TaskId::new(&port.task_id);
            self.book.remove(&id);
            self.book.launch_failed(&template, now);
            self.drop_port(&port.name).await;
            if let Err(e) = self.store.queue_removal(&id) {
                warn!(task = %id, error = %e, "cannot remove the task record");
            }
        }
        self.touch(false);
    }

    /// Places the wanted instances on the offers' free resources.
    fn plan(&self, slots: &mut [OfferSlot], wants: &[(String, u32)]) -> Vec<Planned> {
        let members = self.members();
        let mut list: Vec<Want<'_>> = Vec::new();
        for (template, count) in wants {
            let Some((service, member)) = members.get(template.as_str()) else {
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
        place(slots, &list, &self.config.executor, self.book.load())
            .into_iter()
            .map(|p| Planned {
                template: p.want.definition.task_id.as_str().to_owned(),
                task_id: new_task_id(p.want.definition),
                slot: p.slot,
                resources: p.resources,
            })
            .collect()
    }

    /// Creates the ports of one offer's planned tasks (one transaction)
    /// and their TaskInfos, enters the tasks in the book and queues their
    /// records. Instances whose port could not be made are put off with
    /// backoff. Returns as soon as the NB committed the ports, with the
    /// wait for the client's cache to show them.
    async fn provision(
        &mut self,
        caller: &Caller,
        slot: &OfferSlot,
        planned: Vec<Planned>,
        received: Instant,
    ) -> (Vec<((String, TaskPort), TaskInfo)>, Option<PortsCommitted>) {
        let framework_id = caller.framework_id().clone();
        let mut group: Vec<(Planned, TaskPortSpec)> = Vec::with_capacity(planned.len());
        {
            let members = self.members();
            for p in planned {
                let Some((_, member)) = members.get(p.template.as_str()) else {
                    continue;
                };
                let spec = TaskPortSpec {
                    switch: member.definition.switch.clone(),
                    task_id: p.task_id.as_str().to_owned(),
                    framework_id: framework_id.as_str().to_owned(),
                    service: Some(member.definition.service.clone()),
                    requested_chassis: Some(slot.chassis.clone()),
                    ip: None,
                };
                group.push((p, spec));
            }
        }
        let specs: Vec<TaskPortSpec> = group.iter().map(|(_, s)| s.clone()).collect();
        let mut committed = None;
        let made = match commit_task_ports_batch(&self.nb, &specs).await {
            Ok((ports, pending)) => {
                self.metrics.ovsdb_transaction();
                committed = Some(pending);
                group.into_iter().map(|(p, _)| p).zip(ports).collect()
            }
            Err(PortError::SubnetFull { .. }) if group.len() > 1 => {
                // Some fit: create them one by one, so the full subnet
                // holds back only the tasks it has no address for.
                self.one_by_one(group, received).await
            }
            Err(e) => {
                self.metrics.ovsdb_error();
                self.metrics.launch_failed(group.len() as u64);
                error!(agent = %slot.hostname, tasks = group.len(), error = %e, "cannot provision task ports; nothing launched for them");
                for (p, _) in &group {
                    self.book.launch_failed(&p.template, received);
                }
                return (Vec::new(), None);
            }
        };
        let mut ready = Vec::with_capacity(made.len());
        for (p, port) in made {
            let info = {
                let members = self.members();
                let Some((_, member)) = members.get(p.template.as_str()) else {
                    continue;
                };
                launch::task_info(
                    &member.definition,
                    &p.task_id,
                    &slot.agent_id,
                    p.resources,
                    &port,
                    &framework_id,
                    &self.config.executor,
                )
            };
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
            self.persist(&record);
            self.book
                .insert(LiveTask::new(record, Some(slot.hostname.clone()), received));
            ready.push(((p.template, port), info));
        }
        (ready, committed)
    }

    /// Creates the ports of `group` one transaction each, after the batch
    /// found the subnet too small for all of them.
    async fn one_by_one(
        &mut self,
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
                    error!(switch = %spec.switch, task = %p.task_id, error = %e, "cannot provision the task's port; it is not launched");
                    self.book.launch_failed(&p.template, received);
                }
            }
        }
        made
    }

    /// Each template's service and member.
    fn members(&self) -> BTreeMap<&str, (&Service, &Member)> {
        self.services
            .members()
            .map(|(s, m)| (m.definition.task_id.as_str(), (s, m)))
            .collect()
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

    /// Declines offers in the background.
    pub(super) fn decline(&self, caller: &Caller, ids: Vec<OfferId>) {
        self.decline_after(caller, ids, Vec::new());
    }

    /// Declines offers in the background once `first` (the event's
    /// ACCEPTs) are answered, so the master takes the ACCEPTs first.
    fn decline_after(&self, caller: &Caller, ids: Vec<OfferId>, first: Vec<JoinHandle<()>>) {
        if ids.is_empty() {
            return;
        }
        let n = ids.len() as u64;
        let refuse = self.refuse_seconds(Instant::now());
        let caller = caller.clone();
        let metrics = self.metrics.clone();
        tokio::spawn(async move {
            for accept in first {
                let _ = accept.await;
            }
            match caller.decline(ids, refuse).await {
                Ok(()) => metrics.offer_declined(n),
                Err(e) => warn!(error = %e, "DECLINE failed (the offers time out on their own)"),
            }
        });
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
