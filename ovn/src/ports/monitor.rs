//! The health-check source address of a network ([`crate::services::SVC_MONITOR_IP`]):
//! OVN's load-balancer health checks probe a backend from an address of the
//! backend's own subnet that no port uses, and ovn-northd answers ARP for it
//! on the switch. One is reserved per network switch, the highest free
//! address of its subnet (the last usable one on a new network), in the
//! switch's `external_ids` and in its `other_config:exclude_ips`, so IPAM
//! never gives it to a task. A network made before the reservation existed
//! gets one the first time it is asked for, from what its ports leave free.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use tracing::info;

use super::index::SwitchIndex;
use super::plan::{guard_switch, resolve_switch};
use super::{registry, PortError};
use crate::nb::{LogicalSwitch, Table, NB_DB};
use crate::ovsdb::{Datum, Row, Txn};
use crate::services::SVC_MONITOR_IP;

/// The reserved health-check source address of network switch `switch`,
/// reserving one (one transaction, the switch's allocations held off
/// meanwhile) when it has none yet.
pub async fn reserve_monitor_ip(
    nb: &crate::ovsdb::Client,
    switch: &str,
) -> Result<Ipv4Addr, PortError> {
    let uuid = nb.read(|cache| resolve_switch(cache, switch))?.uuid;
    let _locked = registry::lock_all(&[uuid]).await;
    let what = format!("the health-check source address of {switch}");
    let (ip, reserved) = nb
        .ensure(&what, |cache| {
            let sw = resolve_switch(cache, switch)?;
            let row = cache.row(LogicalSwitch::TABLE, &sw.uuid).ok_or_else(|| {
                PortError::UnknownSwitch {
                    switch: switch.to_owned(),
                }
            })?;
            let map = |column: &str| -> BTreeMap<String, String> {
                row.get(column)
                    .map(Datum::string_map_value)
                    .unwrap_or_default()
            };
            let mut ids = map("external_ids");
            if let Some(ip) = ids.get(SVC_MONITOR_IP).and_then(|v| v.parse().ok()) {
                return Ok((None, (ip, false)));
            }
            let index = SwitchIndex::build(cache, sw.uuid, &sw.name, row)?;
            let ip = index.highest_free().ok_or_else(|| PortError::SubnetFull {
                switch: switch.to_owned(),
                subnet: index.subnet(),
            })?;
            let mut config = map("other_config");
            let exclude = match config.get("exclude_ips").map(|e| e.trim()) {
                Some(e) if !e.is_empty() => format!("{e} {ip}"),
                _ => ip.to_string(),
            };
            config.insert("exclude_ips".to_owned(), exclude);
            ids.insert(SVC_MONITOR_IP.to_owned(), ip.to_string());
            let mut txn = Txn::new(NB_DB);
            guard_switch(&mut txn, sw.uuid, row);
            let update: Row = [
                ("other_config".to_owned(), Datum::string_map(&config)),
                ("external_ids".to_owned(), Datum::string_map(&ids)),
            ]
            .into_iter()
            .collect();
            txn.update_row(LogicalSwitch::TABLE, sw.uuid, update);
            Ok::<_, PortError>((Some(txn), (ip, true)))
        })
        .await
        .map_err(|source| PortError::Ovsdb { what, source })??;
    if reserved {
        info!(switch, %ip, "health-check source address reserved");
    }
    Ok(ip)
}
