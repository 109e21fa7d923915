//! The launcher (data flow steps 3-4): a worker of one subscription that
//! runs the core's [`OfferBatch`]es. Offer by offer it makes the tasks'
//! logical switch ports (one NB transaction per offer: addresses,
//! `port_security`, `requested-chassis`, owner `external_ids`), reports
//! them to the core ([`Input::Provisioned`]) and, once the NB committed
//! them, sends the ACCEPT with one LAUNCH of CUSTOM-executor tasks that
//! carry their attachment. The ACCEPT runs in the background while the
//! next offer's ports are made; the next offer's addresses are chosen once
//! the client's cache shows the ports. A task is never launched without
//! its port; a refused ACCEPT comes back as [`Input::AcceptFailed`] (the
//! core deletes the ports). The batch's unused offers are declined once
//! its ACCEPTs were answered, so the master takes the ACCEPTs first.

use std::sync::Arc;
use std::time::Instant;

use mesos_proto::v1::{OfferId, TaskId, TaskInfo};
use ovn::ovsdb::Client;
use ovn::ports::{
    commit_task_ports_batch, create_task_port, PortAgent, PortError, PortsCommitted, TaskPort,
    TaskPortSpec,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use super::core::{Input, LaunchOrder, OfferBatch, PlannedTask, Provisioned};
use crate::api::Metrics;
use crate::launch::{self, ExecutorSettings};
use crate::mesos::{launch_operation, Caller};
use crate::tasks::TemplateId;
use ovn::report::Chain;

/// The launcher of one subscription.
#[derive(Debug)]
pub(super) struct Launcher {
    tx: mpsc::UnboundedSender<OfferBatch>,
    task: JoinHandle<()>,
}

/// What the launcher needs besides its queue.
struct Context {
    caller: Caller,
    nb: Client,
    metrics: Arc<Metrics>,
    executor: ExecutorSettings,
    inputs: mpsc::UnboundedSender<Input>,
}

impl Launcher {
    pub(super) fn start(
        caller: Caller,
        nb: Client,
        metrics: Arc<Metrics>,
        executor: ExecutorSettings,
        inputs: mpsc::UnboundedSender<Input>,
    ) -> Launcher {
        let (tx, rx) = mpsc::unbounded_channel();
        let cx = Context {
            caller,
            nb,
            metrics,
            executor,
            inputs,
        };
        Launcher {
            tx,
            task: tokio::spawn(run(cx, rx)),
        }
    }

    /// Queues a batch; gives it back if the launcher is gone.
    pub(super) fn send(&self, batch: OfferBatch) -> Result<(), OfferBatch> {
        self.tx.send(batch).map_err(|e| e.0)
    }

    /// Runs what is queued, then ends.
    pub(super) async fn finish(self) {
        drop(self.tx);
        if let Err(e) = self.task.await {
            warn!(error = %Chain(&e), "the launcher failed");
        }
    }
}

async fn run(cx: Context, mut rx: mpsc::UnboundedReceiver<OfferBatch>) {
    while let Some(batch) = rx.recv().await {
        let mut accepts = Vec::with_capacity(batch.launches.len());
        let mut unused = batch.decline;
        for order in batch.launches {
            let offer_id = order.offer_id.clone();
            let (accept, committed) = provision(&cx, order).await;
            match accept {
                Some(accept) => accepts.push(tokio::spawn(accept.send())),
                None => unused.push(offer_id),
            }
            // The ports exist in the NB; the next offer's addresses are
            // chosen once the cache shows them.
            visible(committed).await;
        }
        decline_after(&cx, unused, batch.refuse, batch.issued, accepts);
    }
}

/// Makes one offer's ports, reports them, and returns its ACCEPT (none
/// when no port could be made) with the wait for the cache.
async fn provision(cx: &Context, order: LaunchOrder) -> (Option<Accept>, Option<PortsCommitted>) {
    let taken = Instant::now();
    let framework_id = cx.caller.framework_id().clone();
    let specs: Vec<TaskPortSpec> = order
        .tasks
        .iter()
        .map(|p| TaskPortSpec {
            switch: p.member.definition.switch.clone(),
            task_id: p.task_id.as_str().to_owned(),
            framework_id: framework_id.as_str().to_owned(),
            service: Some(p.member.definition.service.clone()),
            requested_chassis: Some(order.chassis.clone()),
            ip: None,
            agent: Some(PortAgent {
                id: order.agent_id.as_str().to_owned(),
                hostname: order.hostname.clone(),
            }),
            // The version the book counts it as (`Book::begin_launch`
            // took it from the same member): a leader that finds the task
            // by its port alone still knows what it runs.
            version: Some(p.member.definition.version.clone()),
        })
        .collect();
    let mut committed = None;
    let mut failed = Vec::new();
    let made: Vec<(PlannedTask, TaskPort)> = match commit_task_ports_batch(&cx.nb, &specs).await {
        Ok((ports, pending)) => {
            cx.metrics.ovsdb_transaction();
            committed = Some(pending);
            order.tasks.iter().cloned().zip(ports).collect()
        }
        Err(PortError::SubnetFull { .. }) if specs.len() > 1 => {
            // Some fit: create them one by one, so the full subnet holds
            // back only the tasks it has no address for.
            one_by_one(cx, &order.tasks, specs, &mut failed).await
        }
        Err(e) => {
            cx.metrics.ovsdb_error();
            cx.metrics.launch_failed(specs.len() as u64);
            error!(agent = %order.hostname, tasks = specs.len(), error = %Chain(&e), "cannot provision task ports; nothing launched for them");
            failed.extend(
                order
                    .tasks
                    .iter()
                    .map(|p| (p.template.clone(), p.task_id.clone())),
            );
            Vec::new()
        }
    };
    let mut tasks = Vec::with_capacity(made.len());
    let mut infos = Vec::with_capacity(made.len());
    for (p, port) in &made {
        infos.push(launch::task_info(
            &p.member.definition,
            &p.task_id,
            &order.agent_id,
            p.resources.clone(),
            port,
            &framework_id,
            &cx.executor,
        ));
        tasks.push((p.template.clone(), port.clone()));
    }
    let report = Provisioned {
        received: order.received,
        agent_id: order.agent_id.clone(),
        hostname: order.hostname.clone(),
        made: tasks.clone(),
        failed,
    };
    // Before the ACCEPT: the core has the tasks before any update on them.
    let _ = cx.inputs.send(Input::Provisioned(report));
    if infos.is_empty() {
        return (None, committed);
    }
    let accept = Accept {
        caller: cx.caller.clone(),
        metrics: cx.metrics.clone(),
        inputs: cx.inputs.clone(),
        offer_id: order.offer_id,
        hostname: order.hostname,
        tasks,
        infos,
        refuse: order.refuse,
        received: order.received,
        taken,
    };
    (Some(accept), committed)
}

/// Creates the ports one transaction each, after the batch found the
/// subnet too small for all of them.
async fn one_by_one(
    cx: &Context,
    planned: &[PlannedTask],
    specs: Vec<TaskPortSpec>,
    failed: &mut Vec<(TemplateId, TaskId)>,
) -> Vec<(PlannedTask, TaskPort)> {
    let mut made = Vec::new();
    for (p, spec) in planned.iter().zip(specs) {
        match create_task_port(&cx.nb, &spec).await {
            Ok(port) => {
                cx.metrics.ovsdb_transaction();
                made.push((p.clone(), port));
            }
            Err(e) => {
                cx.metrics.ovsdb_error();
                cx.metrics.launch_failed(1);
                error!(switch = %spec.switch, task = %p.task_id, error = %Chain(&e), "cannot provision the task's port; it is not launched");
                failed.push((p.template.clone(), p.task_id.clone()));
            }
        }
    }
    made
}

/// Waits until the client's cache shows committed ports. A port that does
/// not show in time exists in the NB all the same (its task is launched);
/// the next full pass brings the cache up to date.
async fn visible(committed: Option<PortsCommitted>) {
    if let Some(committed) = committed {
        if let Err(e) = committed.visible().await {
            warn!(error = %Chain(&e), "committed task ports not yet in the NB cache");
        }
    }
}

/// Declines offers in the background once `first` (the batch's ACCEPTs)
/// are answered, then reports the batch answered (its filters are set).
fn decline_after(
    cx: &Context,
    ids: Vec<OfferId>,
    refuse: f64,
    issued: Instant,
    first: Vec<JoinHandle<()>>,
) {
    let n = ids.len() as u64;
    let caller = cx.caller.clone();
    let metrics = cx.metrics.clone();
    let inputs = cx.inputs.clone();
    tokio::spawn(async move {
        for accept in first {
            let _ = accept.await;
        }
        if !ids.is_empty() {
            match caller.decline(ids, refuse).await {
                Ok(()) => metrics.offer_declined(n),
                Err(e) => {
                    warn!(error = %Chain(&e), "DECLINE failed (the offers time out on their own)")
                }
            }
        }
        let _ = inputs.send(Input::OffersAnswered { issued, refuse });
    });
}

/// One offer's ACCEPT, sent in the background.
struct Accept {
    caller: Caller,
    metrics: Arc<Metrics>,
    inputs: mpsc::UnboundedSender<Input>,
    offer_id: OfferId,
    hostname: String,
    tasks: Vec<(TemplateId, TaskPort)>,
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
                error!(offer = %self.offer_id, agent = %self.hostname, error = %Chain(&e), "ACCEPT failed; the tasks' ports go");
                self.metrics.launch_failed(n);
                let tasks = self
                    .tasks
                    .into_iter()
                    .map(|(template, port)| (template, TaskId::new(&port.task_id), port.name))
                    .collect();
                if self.inputs.send(Input::AcceptFailed(tasks)).is_err() {
                    // The scheduler is gone; the next start-up repair or
                    // reconciliation removes the ports.
                    warn!("ACCEPT failed while stopping; the ports stay until the next start");
                }
            }
        }
    }
}
