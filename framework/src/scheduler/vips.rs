//! The services controller (data flow step 6): level-triggered, it turns
//! the book's backends into each service's load balancer on the tenant's
//! gateway routers. Desired state = every service of the task files with
//! its backend tasks' `IP:port`; a service without backends keeps its VIP
//! with an empty backend set (`options:reject=true` answers a TCP RST, so
//! clients fail fast instead of hanging). One `ensure_service` transaction
//! per service whose backends changed; a full pass ([`VipController::resync`])
//! also rewrites what someone changed by hand, adds VIPs to gateways created
//! since, and deletes the load balancers of services no task file names.
//!
//! The writes run in their own task ([`VipWriter`]): the scheduler hands
//! it the latest desired state and goes on, so an offer never waits for a
//! load balancer transaction. Only the newest desired state is written (a
//! burst of changes makes one pass), which is what level-triggered means.
//! Passes are at least a minimum interval apart (`--vip-interval`, like
//! kube-proxy's minimum sync period): the first change after a quiet spell
//! is written at once, changes during churn are gathered, so ovn-northd
//! recomputes a large load balancer a few times a second at most instead
//! of once per task.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

use ovn::ovsdb::Client;
use ovn::policy::{delete_port_group, ensure_port_group, list_port_groups, PortGroupSpec};
use ovn::services::{
    delete_service, ensure_service, list_services, reconcile_services, BackendPort, ReconcileScope,
    ServiceChange, ServiceKey, ServiceSpec,
};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Duration, Instant};
use tracing::{info, warn};

use super::book::Book;
use super::core::{Input, ServiceAddresses};
use crate::api::Metrics;
use crate::tasks::Services;
use ovn::report::Chain;

/// The desired load balancers: one per service with a VIP, backends
/// sorted, names in `dns_domain`.
pub fn desired(services: &Services, book: &Book, dns_domain: &str) -> Vec<ServiceSpec> {
    type Backends = (Vec<SocketAddrV4>, BTreeMap<Ipv4Addr, BackendPort>);
    let mut backends: BTreeMap<(&str, &str), Backends> = BTreeMap::new();
    for task in book.tasks().filter(|t| t.is_backend()) {
        let Some(port) = task.backend_port() else {
            continue;
        };
        let r = &task.record;
        let (addrs, ports) = backends.entry((&r.tenant, &r.service)).or_default();
        addrs.push(SocketAddrV4::new(r.port.ip, port));
        ports.insert(
            r.port.ip,
            BackendPort {
                port: r.port.name.clone(),
                switch: r.switch.clone(),
            },
        );
    }
    services
        .iter()
        .filter_map(|service| {
            let key = (service.key.tenant.as_str(), service.key.name.as_str());
            let (mut addrs, ports) = backends.remove(&key).unwrap_or_default();
            addrs.sort();
            addrs.dedup();
            service.spec(addrs, ports, dns_domain)
        })
        .collect()
}

/// Every service's port group: its tasks' ports (each task the book
/// knows, whatever its state: a port that does not exist is skipped) and
/// its policy.
pub fn port_groups(services: &Services, book: &Book) -> Vec<PortGroupSpec> {
    let mut ports: BTreeMap<(&str, &str), BTreeSet<String>> = BTreeMap::new();
    for task in book.tasks() {
        let r = &task.record;
        ports
            .entry((&r.tenant, &r.service))
            .or_default()
            .insert(r.port.name.clone());
    }
    services
        .iter()
        .map(|service| {
            let key = (service.key.tenant.as_str(), service.key.name.as_str());
            PortGroupSpec {
                tenant: service.key.tenant.clone(),
                service: service.key.name.clone(),
                ports: ports.remove(&key).unwrap_or_default(),
                policy: service.policy.clone(),
            }
        })
        .collect()
}

/// Remembers what was written, so an unchanged service costs nothing.
#[derive(Debug, Default)]
pub struct VipController {
    written: BTreeMap<ServiceKey, ServiceSpec>,
    /// The port groups written, by service.
    groups: BTreeMap<ServiceKey, PortGroupSpec>,
    /// Tenants whose stale service load balancers a resync may delete.
    tenants: BTreeSet<String>,
}

impl VipController {
    /// A controller that owns the service load balancers of `tenants`
    /// (those of the task files and of the tasks found at start).
    pub fn new(tenants: impl IntoIterator<Item = String>) -> VipController {
        VipController {
            written: BTreeMap::new(),
            groups: BTreeMap::new(),
            tenants: tenants.into_iter().collect(),
        }
    }

    /// Writes the services whose backends differ from what was last
    /// written, and deletes the load balancers it wrote of services no
    /// longer desired (a definition deleted, a VIP dropped); a failed one
    /// is tried again at the next call.
    /// Returns true when a load balancer was created or deleted (so a
    /// service's addresses may be new or gone).
    pub async fn sync(&mut self, nb: &Client, specs: &[ServiceSpec], metrics: &Metrics) -> bool {
        let mut addressed = false;
        let wanted: BTreeSet<ServiceKey> = specs.iter().map(ServiceSpec::key).collect();
        let gone: Vec<ServiceKey> = self
            .written
            .keys()
            .filter(|k| !wanted.contains(*k))
            .cloned()
            .collect();
        for key in gone {
            match delete_service(nb, &key.tenant, &key.name).await {
                Ok(deleted) => {
                    if deleted {
                        metrics.ovsdb_transaction();
                        metrics.vip_update();
                        addressed = true;
                        info!(service = %key, "load balancer of a removed service deleted");
                    }
                    self.written.remove(&key);
                }
                Err(e) => {
                    metrics.ovsdb_error();
                    warn!(service = %key, error = %Chain(&e), "cannot delete the load balancer of a removed service; will retry");
                }
            }
        }
        for spec in specs {
            let key = spec.key();
            if self.written.get(&key) == Some(spec) {
                continue;
            }
            match ensure_service(nb, spec).await {
                Ok(change) => {
                    if change.changed() {
                        metrics.ovsdb_transaction();
                        metrics.vip_update();
                    }
                    // a new row, or another name or VIP wanted
                    addressed |= matches!(change, ServiceChange::Created { .. })
                        || self.written.get(&key).is_none_or(|w| {
                            (w.port, w.protocol, &w.dns_name, w.cluster_ip)
                                != (spec.port, spec.protocol, &spec.dns_name, spec.cluster_ip)
                        });
                    info!(service = %key, backends = spec.backends.len(), "service backends in place");
                    self.written.insert(key, spec.clone());
                }
                Err(e) => {
                    metrics.ovsdb_error();
                    self.written.remove(&key);
                    warn!(service = %key, error = %Chain(&e), "cannot write the service load balancer; will retry");
                }
            }
        }
        addressed
    }

    /// Writes the port groups that differ from what was last written
    /// (those without a policy first, so every peer's address set exists
    /// before a policy names it), and deletes those of services no longer
    /// desired; with `full`, ensures every one and deletes the owned port
    /// groups of this controller's tenants that no service names. Returns
    /// the services whose port group and policy are in place now.
    pub async fn sync_groups(
        &mut self,
        nb: &Client,
        groups: &[PortGroupSpec],
        full: bool,
        metrics: &Metrics,
    ) -> Vec<ServiceKey> {
        let wanted: BTreeSet<ServiceKey> = groups.iter().map(PortGroupSpec::key).collect();
        let mut gone: BTreeSet<ServiceKey> = self
            .groups
            .keys()
            .filter(|k| !wanted.contains(*k))
            .cloned()
            .collect();
        if full {
            self.groups.clear();
            self.tenants.extend(groups.iter().map(|g| g.tenant.clone()));
            gone.extend(
                nb.read(list_port_groups)
                    .into_iter()
                    .map(|(k, _)| k)
                    .filter(|k| self.tenants.contains(&k.tenant) && !wanted.contains(k)),
            );
        }
        let mut deleted_now = Vec::new();
        for key in gone {
            match delete_port_group(nb, &key.tenant, &key.name).await {
                Ok(deleted) => {
                    if deleted {
                        metrics.ovsdb_transaction();
                        deleted_now.push(key.clone());
                    }
                    self.groups.remove(&key);
                }
                Err(e) => {
                    metrics.ovsdb_error();
                    warn!(service = %key, error = %Chain(&e), "cannot delete the port group of a removed service; will retry");
                }
            }
        }
        let mut ordered: Vec<&PortGroupSpec> = groups.iter().collect();
        ordered.sort_by_key(|g| g.policy.is_some());
        let mut ready = Vec::new();
        for group in ordered {
            let key = group.key();
            if self.groups.get(&key) == Some(group) {
                continue;
            }
            match ensure_port_group(nb, group).await {
                Ok(changed) => {
                    if changed {
                        metrics.ovsdb_transaction();
                    }
                    self.groups.insert(key.clone(), group.clone());
                    ready.push(key);
                }
                Err(e) => {
                    metrics.ovsdb_error();
                    self.groups.remove(&key);
                    warn!(service = %key, error = %Chain(&e), "cannot write the service port group; will retry");
                }
            }
        }
        // A policy naming a service whose group this pass wrote (two new
        // services with policies naming each other, a peer defined after
        // it) or deleted: its allow rule was computed before that address
        // set existed, or names one that is gone (which ovn-controller
        // cannot parse).
        let written: BTreeSet<&ServiceKey> = ready.iter().chain(&deleted_now).collect();
        for group in groups.iter().filter(|g| {
            g.policy.as_ref().is_some_and(|p| {
                p.services
                    .iter()
                    .any(|s| written.contains(&ServiceKey::new(&g.tenant, s)))
            })
        }) {
            match ensure_port_group(nb, group).await {
                Ok(true) => metrics.ovsdb_transaction(),
                Ok(false) => {}
                Err(e) => {
                    metrics.ovsdb_error();
                    self.groups.remove(&group.key());
                    warn!(service = %group.key(), error = %Chain(&e), "cannot write the service port group; will retry");
                }
            }
        }
        ready
    }

    /// The full pass: ensures every desired service (each in its own
    /// transaction) and deletes owned service load balancers of this
    /// controller's tenants that no task file names.
    pub async fn resync(&mut self, nb: &Client, specs: &[ServiceSpec], metrics: &Metrics) {
        self.tenants.extend(specs.iter().map(|s| s.tenant.clone()));
        let scope = ReconcileScope::Tenants(self.tenants.iter().cloned().collect());
        match reconcile_services(nb, specs, &scope).await {
            Ok(report) => {
                let by_key: BTreeMap<ServiceKey, &ServiceSpec> =
                    specs.iter().map(|s| (s.key(), s)).collect();
                self.written.clear();
                for (key, change) in &report.ensured {
                    if change.changed() {
                        metrics.ovsdb_transaction();
                        metrics.vip_update();
                    }
                    if let Some(spec) = by_key.get(key) {
                        self.written.insert(key.clone(), (*spec).clone());
                    }
                }
                for key in &report.deleted {
                    metrics.ovsdb_transaction();
                    info!(service = %key, "load balancer of a removed service deleted");
                }
                for (key, e) in &report.failed {
                    metrics.ovsdb_error();
                    warn!(service = %key, error = %Chain(e), "cannot reconcile the service load balancer; will retry");
                }
            }
            Err(e) => {
                metrics.ovsdb_error();
                warn!(error = %Chain(&e), "cannot reconcile the service load balancers; will retry");
            }
        }
    }
}

/// What the writer is asked to write: the desired services and port
/// groups, and a full pass when `resync` changed; where it reports
/// services' addresses and port groups.
#[derive(Debug, Clone, Default)]
struct Request {
    specs: Arc<Vec<ServiceSpec>>,
    groups: Arc<Vec<PortGroupSpec>>,
    resync: u64,
    reports: Option<mpsc::UnboundedSender<Input>>,
}

/// The services controller's task: writes the newest desired state handed
/// to it, one pass at a time.
#[derive(Debug)]
pub struct VipWriter {
    tx: watch::Sender<Request>,
    task: JoinHandle<()>,
}

impl VipWriter {
    /// Starts the task with `controller`'s memory of what is written; its
    /// passes start at least `interval` apart.
    pub fn start(
        controller: VipController,
        nb: Client,
        metrics: Arc<Metrics>,
        interval: Duration,
    ) -> VipWriter {
        let (tx, rx) = watch::channel(Request::default());
        let task = tokio::spawn(write_loop(controller, nb, metrics, rx, interval));
        VipWriter { tx, task }
    }

    /// Asks for the services whose backends changed to be written.
    pub fn sync(&self, specs: Vec<ServiceSpec>) {
        self.tx.send_modify(|r| r.specs = Arc::new(specs));
    }

    /// After each pass that created or deleted a load balancer, the
    /// writer reads the services' addresses from the NB and sends those
    /// new or changed ([`Input::VipsWritten`]) to `inputs`.
    pub fn report_to(&self, inputs: mpsc::UnboundedSender<Input>) {
        self.tx.send_modify(|r| r.reports = Some(inputs));
    }

    /// Asks for the port groups that changed to be written.
    pub fn sync_groups(&self, groups: Vec<PortGroupSpec>) {
        self.tx.send_modify(|r| r.groups = Arc::new(groups));
    }

    /// Asks for a full pass (see [`VipController::resync`]).
    pub fn resync(&self, specs: Vec<ServiceSpec>) {
        self.tx.send_modify(|r| {
            r.specs = Arc::new(specs);
            r.resync += 1;
        });
    }

    /// Writes what was asked last (at once, not after the interval), then
    /// ends the task.
    pub async fn finish(self) {
        drop(self.tx);
        if let Err(e) = self.task.await {
            warn!(error = %Chain(&e), "the load balancer writer failed");
        }
    }
}

async fn write_loop(
    mut controller: VipController,
    nb: Client,
    metrics: Arc<Metrics>,
    mut rx: watch::Receiver<Request>,
    interval: Duration,
) {
    let mut resynced = 0;
    let mut next = Instant::now();
    let mut reported: BTreeMap<ServiceKey, ServiceAddresses> = BTreeMap::new();
    // `changed` still reports a value sent just before the sender went.
    while rx.changed().await.is_ok() {
        // Gather what comes until the next pass may start; a finishing
        // scheduler (the sender gone) is served at once.
        let spaced = sleep_until(next);
        tokio::pin!(spaced);
        loop {
            tokio::select! {
                () = &mut spaced => break,
                more = rx.changed() => {
                    if more.is_err() {
                        break;
                    }
                }
            }
        }
        next = Instant::now() + interval;
        let request = rx.borrow_and_update().clone();
        let full = request.resync != resynced;
        resynced = request.resync;
        let grouped = controller
            .sync_groups(&nb, &request.groups, full, &metrics)
            .await;
        if let (false, Some(inputs)) = (grouped.is_empty(), &request.reports) {
            let _ = inputs.send(Input::GroupsWritten(grouped));
        }
        let addressed = if full {
            controller.resync(&nb, &request.specs, &metrics).await;
            true
        } else {
            controller.sync(&nb, &request.specs, &metrics).await
        };
        if let (true, Some(inputs)) = (addressed, &request.reports) {
            report(&nb, &request.specs, &mut reported, inputs);
        }
    }
}

/// Reads the addresses of the desired services from the NB (one scan)
/// and sends those that differ from what was reported before.
fn report(
    nb: &Client,
    specs: &[ServiceSpec],
    reported: &mut BTreeMap<ServiceKey, ServiceAddresses>,
    inputs: &mpsc::UnboundedSender<Input>,
) {
    let wanted: BTreeSet<ServiceKey> = specs.iter().map(ServiceSpec::key).collect();
    let now: BTreeMap<ServiceKey, ServiceAddresses> = nb.read(|cache| {
        list_services(cache)
            .iter()
            .filter(|info| wanted.contains(&info.key()))
            .map(|info| (info.key(), ServiceAddresses::of(info)))
            .collect()
    });
    let changed: Vec<ServiceAddresses> = now
        .values()
        .filter(|a| reported.get(&a.key) != Some(*a))
        .cloned()
        .collect();
    let removed: Vec<ServiceKey> = reported
        .keys()
        .filter(|k| !now.contains_key(*k))
        .cloned()
        .collect();
    *reported = now;
    if !changed.is_empty() || !removed.is_empty() {
        let _ = inputs.send(Input::VipsWritten { changed, removed });
    }
}
