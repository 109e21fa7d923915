//! The tenant/gateway/network topology (what the seed's `ovn-mesos-init` did,
//! done level-triggered): `tenant-init` creates the tenant router and its join
//! switch, `gateway-init` a gateway router pinned to a chassis with its
//! external switch, SNAT and routes, `network-init` a network switch attached
//! to the tenant router; the `*-delete` commands remove exactly what those
//! created. See [`names`] for the row names.
//!
//! Every command is ONE NB transaction computed from the monitored cache by
//! [`Client::ensure`]: desired rows ([`desired`]) are diffed against the owned
//! rows ([`plan`]), so a second run writes nothing. Every row carries the
//! ownership `external_ids` of [`crate::owner`] (kind, tenant, and the chassis
//! or network it belongs to).
//!
//! Several gateways per tenant: each gets its own join address (allocated from
//! 100.64.0.0/16), and the tenant router gets one default route per gateway
//! (ECMP). Gateway routers set `options:lb_force_snat_ip=router_ip`: traffic a
//! gateway's load balancer DNATs to a backend leaves with that gateway's join
//! address as source, so the reply returns through the same gateway (where the
//! connection tracking state is) rather than whichever the ECMP route picks.

pub mod desired;
mod error;
pub mod gateway;
mod local_ovs;
mod matching;
pub mod names;
pub mod network;
pub mod plan;
pub mod query;
pub mod report;
pub mod snapshot;
pub mod tenant;
pub mod validate;

use tracing::Instrument;

use crate::ovsdb::{Cache, Client, ClientConfig, Txn};

pub use error::TopologyError;
pub use gateway::{gateway_delete, gateway_init, GatewayMode, GatewayReport, GatewaySpec};
pub use network::{network_delete, network_init, NetworkSpec};
pub use query::{
    find_gateway_routers, gateway_ips, list_networks, network_info, owned_switch,
    tenant_cluster_subnet, tenant_of_switch, tenant_service_subnet, GatewayInfo, NetworkInfo,
    OwnedSwitch,
};
pub use report::{Action, Change, Report};
pub use snapshot::Snapshot;
pub use tenant::{tenant_delete, tenant_init, TenantSpec, DEFAULT_SERVICE_SUBNET};

/// The NB tables a topology client must monitor (all columns): the commands
/// read existing rows from the cache, and an unmonitored table would look empty.
pub const NB_TABLES: [&str; 6] = [
    "Logical_Router",
    "Logical_Switch",
    "Logical_Router_Port",
    "Logical_Switch_Port",
    "Logical_Router_Static_Route",
    "NAT",
];

/// The local Open_vSwitch tables `gateway-init` reads and writes.
pub const OVS_TABLES: [&str; 4] = ["Open_vSwitch", "Bridge", "Port", "Interface"];

/// Adds the monitors the topology commands need to an NB client configuration.
pub fn monitor_nb(config: ClientConfig) -> ClientConfig {
    NB_TABLES.iter().fold(config, |c, t| c.monitor(t))
}

/// Adds the monitors `gateway-init` needs to a local OVS client configuration.
pub fn monitor_ovs(config: ClientConfig) -> ClientConfig {
    OVS_TABLES.iter().fold(config, |c, t| c.monitor(t))
}

/// Fails unless `client` monitors every table of `tables`.
fn check_monitored(client: &Client, tables: &[&str]) -> Result<(), TopologyError> {
    let missing: Vec<String> = client.read(|c| {
        tables
            .iter()
            .filter(|t| !c.table_names().any(|n| n == **t))
            .map(|t| (*t).to_owned())
            .collect()
    });
    if missing.is_empty() {
        Ok(())
    } else {
        Err(TopologyError::NotMonitored { tables: missing })
    }
}

/// Runs one level-triggered command on `client`: `build` computes the
/// transaction from the current cache (again after a retryable failure); a
/// build error aborts without writing; an empty transaction writes nothing.
async fn commit(
    client: &Client,
    tables: &[&str],
    what: &str,
    mut build: impl FnMut(&Cache) -> Result<(Txn, Report), TopologyError>,
) -> Result<Report, TopologyError> {
    check_monitored(client, tables)?;
    let report = client
        .ensure(what, |cache| {
            let (txn, report) = build(cache)?;
            Ok::<_, TopologyError>(((!txn.is_empty()).then_some(txn), report))
        })
        .instrument(tracing::info_span!("topology", command = %what))
        .await??;
    for c in &report.changes {
        tracing::info!(command = what, action = %c.action, table = c.table, name = %c.name, "changed");
    }
    Ok(report)
}

/// [`commit`] on the NB: `build` plans from a snapshot of the topology tables.
async fn commit_nb(
    nb: &Client,
    what: &str,
    mut build: impl FnMut(&Snapshot) -> Result<plan::Plan, TopologyError>,
) -> Result<Report, TopologyError> {
    commit(nb, &NB_TABLES, what, |cache| {
        let plan = build(&Snapshot::from_cache(cache))?;
        Ok((plan.txn, plan.report))
    })
    .await
}

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod plan_tests;
#[cfg(test)]
mod refusal_tests;
