//! The I/O stage of services: ensure one service, delete one, or reconcile a
//! whole desired set (the repair pass at framework start-up). Each change is
//! computed from the monitored cache and committed as one transaction through
//! [`Client::ensure`], which recomputes and retries when a guard or the
//! connection fails; nothing is sent when the NB already matches.

use std::collections::BTreeSet;

use tracing::{info, info_span, Instrument};

use super::desired::{delete_ops, desired_service, plan, validate, Existing};
use super::fabric::Fabric;
use super::view::{
    attached_to, cluster_ips, load_balancers_of, service_load_balancers, service_of, tenant_view,
};
use super::{
    ReconcileReport, ReconcileScope, ServiceChange, ServiceError, ServiceKey, ServiceSpec,
};
use crate::nb::{LoadBalancerHealthCheck, NB_DB};
use crate::ovsdb::{Cache, Client, Txn};

/// The owned load balancers of a service with their attachments, oldest first.
fn existing(cache: &Cache, tenant: &str, name: &str) -> Vec<Existing> {
    load_balancers_of(cache, tenant, name)
        .into_iter()
        .map(|lb| {
            let (routers, switches) = attached_to(cache, lb.uuid);
            let health_checks = lb
                .health_check
                .iter()
                .filter_map(|u| crate::nb::get::<LoadBalancerHealthCheck>(cache, u))
                .collect();
            Existing {
                lb,
                routers,
                switches,
                health_checks,
            }
        })
        .collect()
}

/// Creates or updates the load balancer of `spec` (`ovn-nbctl --may-exist
/// lb-add` + `lr-lb-add` on every gateway router of the tenant [+ `ls-lb-add`
/// on its network switches]) in one transaction: VIP `<gateway IP>:<port>` per
/// gateway, the backend set replaced as a whole. A second call with the same
/// spec sends nothing and returns [`ServiceChange::Unchanged`].
pub async fn ensure_service(
    nb: &Client,
    spec: &ServiceSpec,
) -> Result<ServiceChange, ServiceError> {
    validate(spec)?;
    let key = spec.key();
    let span = info_span!("ensure_service", service = %key);
    async {
        let change = nb
            .ensure(&format!("service {key}"), |cache| {
                let view = tenant_view(cache, &spec.tenant);
                let found = existing(cache, &spec.tenant, &spec.name);
                let taken = || cluster_ips(cache, &spec.tenant);
                let desired = desired_service(spec, &view, found.first().map(|e| &e.lb), &taken)?;
                let (txn, change) = plan(desired, &found, &view);
                Ok::<_, ServiceError>(((!txn.is_empty()).then_some(txn), change))
            })
            .await
            .map_err(|source| ServiceError::Ovsdb {
                service: key.to_string(),
                source,
            })??;
        if change.changed() {
            info!(
                lb = %change.uuid(),
                change = ?change,
                backends = spec.backends.len(),
                "service load balancer written"
            );
        }
        Ok(change)
    }
    .instrument(span)
    .await
}

/// Detaches the service's load balancer from every router and switch and
/// deletes it, in one transaction (`ovn-nbctl lr-lb-del` ... `lb-del`).
/// Returns false when there was nothing to delete.
pub async fn delete_service(nb: &Client, tenant: &str, name: &str) -> Result<bool, ServiceError> {
    let key = ServiceKey::new(tenant, name);
    let deleted = nb
        .ensure(&format!("delete service {key}"), |cache| {
            let found = existing(cache, tenant, name);
            if found.is_empty() {
                return Ok::<_, ServiceError>((None, false));
            }
            let mut txn = Txn::new(NB_DB);
            let fabric = Fabric::existing(&tenant_view(cache, tenant));
            delete_ops(&mut txn, &found, fabric.as_ref(), None);
            Ok((Some(txn), true))
        })
        .await
        .map_err(|source| ServiceError::Ovsdb {
            service: key.to_string(),
            source,
        })??;
    if deleted {
        info!(service = %key, "service load balancer deleted");
    }
    Ok(deleted)
}

/// Level-triggered repair: ensures every desired service (each in its own
/// transaction; a gateway added since the last pass gets its VIP and the
/// attachment) and deletes the owned service load balancers within `scope`
/// that no desired service names. Per-service failures are collected in the
/// report; only a duplicate service in `desired` fails the whole call.
pub async fn reconcile_services(
    nb: &Client,
    desired: &[ServiceSpec],
    scope: &ReconcileScope,
) -> Result<ReconcileReport, ServiceError> {
    let mut wanted = BTreeSet::new();
    for spec in desired {
        if !wanted.insert(spec.key()) {
            return Err(ServiceError::InvalidSpec {
                service: spec.key().to_string(),
                reason: "listed twice in the desired services".to_owned(),
            });
        }
    }
    let mut report = ReconcileReport::default();
    for spec in desired {
        match ensure_service(nb, spec).await {
            Ok(change) => report.ensured.push((spec.key(), change)),
            Err(e) => report.failed.push((spec.key(), e)),
        }
    }
    let stale: BTreeSet<ServiceKey> = nb.read(|cache| {
        service_load_balancers(cache)
            .iter()
            .map(|lb| {
                let (t, n) = service_of(lb);
                ServiceKey::new(t, n)
            })
            .filter(|k| scope.covers(&k.tenant) && !wanted.contains(k))
            .collect()
    });
    for key in stale {
        match delete_service(nb, &key.tenant, &key.name).await {
            Ok(true) => report.deleted.push(key),
            Ok(false) => {}
            Err(e) => report.failed.push((key, e)),
        }
    }
    info!(
        ensured = report.ensured.len(),
        deleted = report.deleted.len(),
        failed = report.failed.len(),
        "services reconciled"
    );
    Ok(report)
}
