//! The services controller (data flow step 6): level-triggered, it turns
//! the book's backends into each service's load balancer on the tenant's
//! gateway routers. Desired state = every service of the task files with
//! its backend tasks' `IP:port`; a service without backends keeps its VIP
//! with an empty backend set (`options:reject=true` answers a TCP RST, so
//! clients fail fast instead of hanging). One `ensure_service` transaction
//! per service whose backends changed; a full pass ([`VipController::resync`])
//! also rewrites what someone changed by hand, adds VIPs to gateways created
//! since, and deletes the load balancers of services no task file names.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddrV4;

use ovn::ovsdb::Client;
use ovn::services::{ensure_service, reconcile_services, ReconcileScope, ServiceKey, ServiceSpec};
use tracing::{info, warn};

use super::book::Book;
use crate::api::Metrics;
use crate::tasks::Services;

/// The desired load balancers: one per service with a VIP, backends sorted.
pub fn desired(services: &Services, book: &Book) -> Vec<ServiceSpec> {
    let backends = book.backends();
    services
        .iter()
        .filter_map(|service| {
            let mut addrs: Vec<SocketAddrV4> = backends
                .get(&service.key)
                .into_iter()
                .flatten()
                .filter_map(|task| {
                    let port = book.backend_port(&task.record.definition)?;
                    Some(SocketAddrV4::new(task.record.port.ip, port))
                })
                .collect();
            addrs.sort();
            addrs.dedup();
            service.spec(addrs)
        })
        .collect()
}

/// Remembers what was written, so an unchanged service costs nothing.
#[derive(Debug, Default)]
pub struct VipController {
    written: BTreeMap<ServiceKey, Vec<SocketAddrV4>>,
    /// Tenants whose stale service load balancers a resync may delete.
    tenants: BTreeSet<String>,
}

impl VipController {
    /// A controller that owns the service load balancers of `tenants`
    /// (those of the task files and of the tasks found at start).
    pub fn new(tenants: impl IntoIterator<Item = String>) -> VipController {
        VipController {
            written: BTreeMap::new(),
            tenants: tenants.into_iter().collect(),
        }
    }

    /// Writes the services whose backends differ from what was last
    /// written; a failed one is tried again at the next call.
    pub async fn sync(&mut self, nb: &Client, specs: &[ServiceSpec], metrics: &Metrics) {
        for spec in specs {
            let key = spec.key();
            if self.written.get(&key) == Some(&spec.backends) {
                continue;
            }
            match ensure_service(nb, spec).await {
                Ok(change) => {
                    if change.changed() {
                        metrics.ovsdb_transaction();
                        metrics.vip_update();
                    }
                    info!(service = %key, backends = spec.backends.len(), "service backends in place");
                    self.written.insert(key, spec.backends.clone());
                }
                Err(e) => {
                    metrics.ovsdb_error();
                    self.written.remove(&key);
                    warn!(service = %key, error = %e, "cannot write the service load balancer; will retry");
                }
            }
        }
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
                        self.written.insert(key.clone(), spec.backends.clone());
                    }
                }
                for key in &report.deleted {
                    metrics.ovsdb_transaction();
                    info!(service = %key, "load balancer of a removed service deleted");
                }
                for (key, e) in &report.failed {
                    metrics.ovsdb_error();
                    warn!(service = %key, error = %e, "cannot reconcile the service load balancer; will retry");
                }
            }
            Err(e) => {
                metrics.ovsdb_error();
                warn!(error = %e, "cannot reconcile the service load balancers; will retry");
            }
        }
    }
}
