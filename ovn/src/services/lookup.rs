//! Service VIP lookups from the NB cache: which VIPs serve service X, with which
//! backends, on which gateway routers (`ovn-nbctl lb-list` + `lr-lb-list`, but
//! by service rather than by row).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};

use tracing::warn;

use super::desired::parse_backends;
use super::view::{attached_to, service_load_balancers, service_of, tenant_view};
use super::{EastWestVip, Protocol, ServiceError, ServiceInfo, Vip, CLUSTER_IP};
use crate::nb::LoadBalancer;
use crate::ovsdb::Cache;
use crate::report::Chain;

/// The service `name`, of `tenant` when given. Without a tenant, a name used
/// by several tenants is [`ServiceError::Ambiguous`]. `Ok(None)` when no such
/// service exists.
pub fn find_service(
    cache: &Cache,
    tenant: Option<&str>,
    name: &str,
) -> Result<Option<ServiceInfo>, ServiceError> {
    let mut lbs: Vec<LoadBalancer> = service_load_balancers(cache)
        .into_iter()
        .filter(|lb| {
            let (t, n) = service_of(lb);
            n == name && tenant.is_none_or(|want| want == t)
        })
        .collect();
    let mut tenants: Vec<String> = lbs.iter().map(|lb| service_of(lb).0.to_owned()).collect();
    tenants.sort();
    tenants.dedup();
    if tenants.len() > 1 {
        return Err(ServiceError::Ambiguous {
            name: name.to_owned(),
            tenants,
        });
    }
    // Twins (from racing creators) are merged by the next ensure; report the oldest.
    lbs.truncate(1);
    lbs.pop().map(|lb| service_info(cache, &lb)).transpose()
}

/// Every service with an owned load balancer, ordered by tenant then name.
/// Rows that cannot be read as services are logged and skipped.
pub fn list_services(cache: &Cache) -> Vec<ServiceInfo> {
    let mut seen = BTreeMap::new();
    for lb in service_load_balancers(cache) {
        let (tenant, name) = service_of(&lb);
        let key = (tenant.to_owned(), name.to_owned());
        if seen.contains_key(&key) {
            continue;
        }
        match service_info(cache, &lb) {
            Ok(info) => {
                seen.insert(key, info);
            }
            Err(e) => {
                warn!(lb = %lb.uuid, error = %Chain(&e), "skipping unreadable service load balancer")
            }
        }
    }
    seen.into_values().collect()
}

/// Reads one owned load balancer as a service.
fn service_info(cache: &Cache, lb: &LoadBalancer) -> Result<ServiceInfo, ServiceError> {
    let bad = |reason: String| ServiceError::BadRow {
        load_balancer: lb.uuid,
        reason,
    };
    let (tenant, name) = service_of(lb);
    let protocol = match lb.protocol.as_deref() {
        None => Protocol::Tcp,
        Some(p) => p.parse().map_err(|_| bad(format!("protocol {p:?}")))?,
    };
    let cluster_ip = lb.external_ids.get(CLUSTER_IP);
    let view = tenant_view(cache, tenant);
    let router_by_ip: BTreeMap<Ipv4Addr, &str> = view
        .gateways
        .iter()
        .map(|g| (g.ip, g.router.name.as_str()))
        .collect();
    let (_, mut switches) = attached_to(cache, lb.uuid);
    if let Some(g) = view
        .group
        .as_ref()
        .filter(|g| g.load_balancer.contains(&lb.uuid))
    {
        switches.extend(
            view.switches
                .iter()
                .filter(|s| s.groups.contains(&g.uuid))
                .cloned(),
        );
    }
    let mut switches: Vec<String> = switches.into_iter().map(|s| s.name).collect();
    switches.sort();
    switches.dedup();
    let mut vips = Vec::new();
    let mut east_west = None;
    for (key, value) in &lb.vips {
        let vip: SocketAddrV4 = key
            .parse()
            .map_err(|_| bad(format!("VIP {key:?} is not IPv4:port")))?;
        let backends = parse_backends(value).map_err(bad)?;
        if cluster_ip.is_some_and(|ip| *ip == vip.ip().to_string()) {
            let names = view
                .all_dns
                .iter()
                .flat_map(|d| d.records.iter())
                .filter(|(_, v)| cluster_ip == Some(*v))
                .map(|(k, _)| k.clone())
                .collect();
            east_west = Some(EastWestVip {
                vip,
                backends,
                switches: switches.clone(),
                names,
            });
        } else {
            let router = router_by_ip.get(vip.ip()).copied().unwrap_or_default();
            vips.push(Vip {
                vip,
                backends,
                router: router.to_owned(),
            });
        }
    }
    Ok(ServiceInfo {
        tenant: tenant.to_owned(),
        name: name.to_owned(),
        protocol,
        load_balancer: lb.name.clone(),
        uuid: lb.uuid,
        vips,
        east_west,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Map, Value};
    use uuid::Uuid;

    use super::*;
    use crate::nb::Writable;
    use crate::ovsdb::datum::row_to_json;
    use crate::ovsdb::Row;
    use crate::owner::Kind;
    use crate::services::view::fixtures::{router, router_port, switch};
    use crate::services::{ClusterIp, ServiceKey, ServiceSpec};

    fn cache(rows: Vec<(&str, Uuid, Row)>) -> Cache {
        let mut tables: Map<String, Value> = Map::new();
        for (table, uuid, row) in rows {
            let t = tables.entry(table).or_insert_with(|| json!({}));
            t[uuid.to_string()] = json!({ "initial": row_to_json(&row) });
        }
        let mut c = Cache::default();
        c.apply_update2(&Value::Object(tables)).unwrap();
        c
    }

    fn service_lb(tenant: &str, name: &str, gw_ip: &str, ew: Option<&str>) -> LoadBalancer {
        let spec = ServiceSpec {
            tenant: tenant.into(),
            name: name.into(),
            protocol: Protocol::Udp,
            port: 32350,
            backends: vec!["192.168.1.2:53".parse().unwrap()],
            cluster_ip: ew.map(|v| ClusterIp::Fixed(v.parse().unwrap())),
            dns_name: None,
            health: None,
        };
        let mut view = super::super::view::TenantView {
            exists: true,
            ..Default::default()
        };
        view.gateways.push(super::super::view::Gateway {
            router: super::super::view::Attachable {
                uuid: Uuid::new_v4(),
                name: "GR".into(),
                load_balancers: vec![],
                monitor_ip: None,
                groups: vec![],
                dns_records: vec![],
            },
            ip: gw_ip.parse().unwrap(),
        });
        super::super::desired::desired_service(&spec, &view, None, &BTreeMap::new)
            .unwrap()
            .lb
    }

    /// Tenant `coke` with gateway `GR_coke_ch1` (10.10.1.12) and switch
    /// `coke1`, both carrying `lb`; tenant `pepsi` with a service of the same name.
    fn world(lb: &LoadBalancer, pepsi: &LoadBalancer) -> Cache {
        let (gr, lrp, sw, tr) = (
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
        );
        cache(vec![
            (
                "Logical_Router",
                tr,
                router("coke", Kind::TenantRouter, "coke", &[], &[]),
            ),
            (
                "Logical_Router",
                gr,
                router(
                    "GR_coke_ch1",
                    Kind::GatewayRouter,
                    "coke",
                    &[lrp],
                    &[lb.uuid],
                ),
            ),
            (
                "Logical_Router_Port",
                lrp,
                router_port("rtoe-GR_coke_ch1", "10.10.1.12/24"),
            ),
            ("Logical_Switch", sw, switch("coke1", "coke", &[lb.uuid])),
            ("Load_Balancer", lb.uuid, lb.to_row()),
            ("Load_Balancer", pepsi.uuid, pepsi.to_row()),
        ])
    }

    #[test]
    fn a_service_is_found_with_its_vips_routers_and_switches() {
        let lb = service_lb("coke", "dns", "10.10.1.12", Some("10.96.0.10"));
        let pepsi = service_lb("pepsi", "dns", "10.10.2.12", None);
        let c = world(&lb, &pepsi);
        let info = find_service(&c, Some("coke"), "dns").unwrap().unwrap();
        assert_eq!(info.key(), ServiceKey::new("coke", "dns"));
        assert_eq!(info.protocol, Protocol::Udp);
        assert_eq!(info.load_balancer, "coke_dns_udp");
        assert_eq!(info.vips.len(), 1);
        assert_eq!(info.vips[0].vip, "10.10.1.12:32350".parse().unwrap());
        assert_eq!(info.vips[0].router, "GR_coke_ch1");
        assert_eq!(
            info.vips[0].backends,
            vec!["192.168.1.2:53".parse().unwrap()]
        );
        let ew = info.east_west.unwrap();
        assert_eq!(ew.vip, "10.96.0.10:32350".parse().unwrap());
        assert_eq!(ew.switches, vec!["coke1".to_owned()]);
    }

    #[test]
    fn a_name_in_two_tenants_needs_the_tenant() {
        let lb = service_lb("coke", "dns", "10.10.1.12", None);
        let pepsi = service_lb("pepsi", "dns", "10.10.2.12", None);
        let c = world(&lb, &pepsi);
        let e = find_service(&c, None, "dns").unwrap_err();
        assert!(
            matches!(e, ServiceError::Ambiguous { ref tenants, .. } if tenants == &["coke", "pepsi"])
        );
        let p = find_service(&c, Some("pepsi"), "dns").unwrap().unwrap();
        assert_eq!(
            p.vips[0].router, "",
            "pepsi has no gateway router in this cache"
        );
        assert!(find_service(&c, None, "web").unwrap().is_none());
    }

    #[test]
    fn listing_skips_unreadable_rows_and_orders_by_tenant() {
        let lb = service_lb("coke", "dns", "10.10.1.12", None);
        let mut pepsi = service_lb("pepsi", "dns", "10.10.2.12", None);
        let c = world(&lb, &pepsi);
        let names: Vec<String> = list_services(&c)
            .iter()
            .map(|s| s.key().to_string())
            .collect();
        assert_eq!(names, vec!["coke/dns", "pepsi/dns"]);
        pepsi.vips.insert("not-a-vip".into(), String::new());
        let c = world(&lb, &pepsi);
        assert_eq!(list_services(&c).len(), 1);
        assert!(matches!(
            find_service(&c, Some("pepsi"), "dns"),
            Err(ServiceError::BadRow { .. })
        ));
    }
}
