//! Unit tests of the pure service stage: VIP building and diffing.

use std::net::Ipv4Addr;

use super::*;
use crate::services::view::Gateway;
use crate::services::{BackendPort, ClusterIp, LbHealth, Protocol};

fn addr(s: &str) -> SocketAddrV4 {
    s.parse().unwrap()
}

fn spec(backends: &[&str]) -> ServiceSpec {
    ServiceSpec {
        tenant: "coke".into(),
        name: "web".into(),
        protocol: Protocol::Tcp,
        port: 32350,
        backends: backends.iter().map(|b| addr(b)).collect(),
        cluster_ip: None,
        dns_name: None,
        health: None,
    }
}

fn attachable(name: &str, lbs: &[Uuid]) -> Attachable {
    Attachable {
        uuid: Uuid::new_v4(),
        name: name.into(),
        load_balancers: lbs.to_vec(),
        monitor_ip: None,
        groups: Vec::new(),
        dns_records: Vec::new(),
    }
}

fn view(gateway_ips: &[&str]) -> TenantView {
    TenantView {
        exists: true,
        gateways: gateway_ips
            .iter()
            .enumerate()
            .map(|(i, ip)| Gateway {
                router: attachable(&format!("GR_coke_ch{i}"), &[]),
                ip: ip.parse::<Ipv4Addr>().unwrap(),
            })
            .collect(),
        switches: vec![attachable("coke1", &[]), attachable("coke2", &[])],
        ..TenantView::default()
    }
}

/// [`desired_service`] for a service not in the NB yet, no cluster IPs taken.
fn desired(spec: &ServiceSpec, view: &TenantView) -> Result<DesiredService, ServiceError> {
    desired_service(spec, view, None, &BTreeMap::new)
}

/// The existing state after `desired` was applied.
fn applied(desired: &DesiredService, view: &TenantView) -> Existing {
    let pick = |all: Vec<&Attachable>, want: &BTreeSet<Uuid>| {
        all.into_iter()
            .filter(|a| want.contains(&a.uuid))
            .cloned()
            .collect()
    };
    Existing {
        lb: desired.lb.clone(),
        routers: pick(
            view.gateways.iter().map(|g| &g.router).collect(),
            &desired.routers,
        ),
        switches: Vec::new(),
        health_checks: desired.health_checks.clone(),
    }
}

/// Each operation of `txn`: its name and table.
fn ops_of(txn: &Txn) -> Vec<(&str, Option<&str>)> {
    txn.ops
        .iter()
        .map(|(op, _)| (op.name(), op.table()))
        .collect()
}

/// `spec` with OVN health checks, each backend on `coke1`'s port `p<ip>`.
fn checked(mut spec: ServiceSpec) -> ServiceSpec {
    let ports = spec
        .backends
        .iter()
        .map(|b| {
            let port = BackendPort {
                port: format!("p{}", b.ip()),
                switch: "coke1".into(),
            };
            (*b.ip(), port)
        })
        .collect();
    spec.health = Some(LbHealth::new(ports));
    spec
}

/// `view` with coke1's reserved source address.
fn with_monitor_ip(mut view: TenantView) -> TenantView {
    view.switches[0].monitor_ip = Some("192.168.1.254".parse().unwrap());
    view
}

#[test]
fn health_checks_are_one_row_per_vip_with_a_mapping_per_backend() {
    let view = with_monitor_ip(view(&["10.10.1.12", "10.10.1.14"]));
    let d = desired(&checked(spec(&["192.168.1.2:80", "192.168.1.3:80"])), &view).unwrap();
    let vips: BTreeSet<&str> = d.health_checks.iter().map(|c| c.vip.as_str()).collect();
    assert_eq!(vips, ["10.10.1.12:32350", "10.10.1.14:32350"].into());
    assert_eq!(d.lb.health_check.len(), 2);
    assert_eq!(d.health_checks[0].options["interval"], "2");
    assert_eq!(d.health_checks[0].options["failure_count"], "2");
    assert_eq!(
        d.lb.ip_port_mappings["192.168.1.2"],
        "p192.168.1.2:192.168.1.254"
    );
    assert_eq!(d.lb.ip_port_mappings.len(), 2);
    // written once, then equal: nothing to send
    let (txn, _) = plan(d.clone(), &[], &view);
    let params = txn.to_params();
    let ops = params.as_array().unwrap();
    let tables: Vec<&str> = ops[1..]
        .iter()
        .filter_map(|o| o["table"].as_str())
        .collect();
    assert_eq!(
        tables
            .iter()
            .filter(|t| **t == "Load_Balancer_Health_Check")
            .count(),
        2,
        "{tables:?}"
    );
    let again = desired(&checked(spec(&["192.168.1.2:80", "192.168.1.3:80"])), &view).unwrap();
    let (txn, change) = plan(again, &[applied(&d, &view)], &view);
    assert!(txn.is_empty(), "{:?}", txn.to_params());
    assert!(matches!(change, ServiceChange::Unchanged { .. }));
    // a new backend changes the mappings only, the check rows stay
    let more = desired(
        &checked(spec(&[
            "192.168.1.2:80",
            "192.168.1.3:80",
            "192.168.1.4:80",
        ])),
        &view,
    )
    .unwrap();
    let (txn, _) = plan(more, &[applied(&d, &view)], &view);
    let params = txn.to_params();
    let ops = params.as_array().unwrap();
    assert_eq!(ops.len(), 2, "{ops:?}");
    let cols: BTreeSet<&String> = ops[1]["row"].as_object().unwrap().keys().collect();
    assert_eq!(
        cols,
        [&"vips".to_owned(), &"ip_port_mappings".to_owned()].into()
    );
}

#[test]
fn without_a_reserved_source_address_there_are_no_health_checks() {
    let d = desired(&checked(spec(&["192.168.1.2:80"])), &view(&["10.10.1.12"])).unwrap();
    assert!(d.health_checks.is_empty());
    assert!(d.lb.ip_port_mappings.is_empty());
    // and turned off, an existing service's checks are removed
    let view = with_monitor_ip(view(&["10.10.1.12"]));
    let on = desired(&checked(spec(&["192.168.1.2:80"])), &view).unwrap();
    let off = desired(&spec(&["192.168.1.2:80"]), &view).unwrap();
    let (txn, _) = plan(off, &[applied(&on, &view)], &view);
    let params = txn.to_params();
    let ops = params.as_array().unwrap();
    let cols: BTreeSet<&String> = ops[1]["row"].as_object().unwrap().keys().collect();
    assert_eq!(
        cols,
        [&"health_check".to_owned(), &"ip_port_mappings".to_owned()].into()
    );
}

#[test]
fn backend_values_are_sorted_deduplicated_and_comma_separated() {
    let cases: &[(&[&str], &str)] = &[
        (&[], ""),
        (
            &["192.168.1.3:80", "192.168.1.2:80"],
            "192.168.1.2:80,192.168.1.3:80",
        ),
        (&["192.168.1.2:80", "192.168.1.2:80"], "192.168.1.2:80"),
        (
            &["192.168.1.2:8080", "192.168.1.2:80"],
            "192.168.1.2:80,192.168.1.2:8080",
        ),
    ];
    for (backends, want) in cases {
        let b: Vec<SocketAddrV4> = backends.iter().map(|s| addr(s)).collect();
        assert_eq!(backends_value(&b), *want, "{backends:?}");
        let mut sorted = b.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(parse_backends(want).unwrap(), sorted);
    }
}

#[test]
fn malformed_backend_values_are_errors() {
    for bad in ["192.168.1.2", "192.168.1.2:80,x", "[fd00::1]:80"] {
        assert!(parse_backends(bad).is_err(), "{bad}");
    }
}

#[test]
fn the_load_balancer_has_one_vip_per_gateway_with_the_service_port() {
    let d = desired(
        &spec(&["192.168.1.3:80", "192.168.1.2:80"]),
        &view(&["10.10.1.12", "10.10.1.14"]),
    )
    .unwrap();
    let vips: Vec<(&str, &str)> =
        d.lb.vips
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
    assert_eq!(
        vips,
        vec![
            ("10.10.1.12:32350", "192.168.1.2:80,192.168.1.3:80"),
            ("10.10.1.14:32350", "192.168.1.2:80,192.168.1.3:80"),
        ]
    );
    assert_eq!(d.lb.name, "coke_web_tcp");
    assert_eq!(d.lb.protocol.as_deref(), Some("tcp"));
    assert_eq!(d.lb.options.get("reject").map(String::as_str), Some("true"));
    assert_eq!(d.routers.len(), 2);
    assert!(owner::is_tenant_row(
        &d.lb.external_ids,
        Kind::LoadBalancer,
        "coke"
    ));
    assert_eq!(
        d.lb.external_ids.get(owner::SERVICE).map(String::as_str),
        Some("web")
    );
}

#[test]
fn no_backends_keep_the_vip_with_an_empty_value() {
    let d = desired(&spec(&[]), &view(&["10.10.1.12"])).unwrap();
    assert_eq!(
        d.lb.vips.get("10.10.1.12:32350").map(String::as_str),
        Some("")
    );
}

#[test]
fn unusable_tenants_and_specs_are_typed_errors() {
    let mut unknown = view(&["10.10.1.12"]);
    unknown.exists = false;
    let mut port0 = spec(&[]);
    port0.port = 0;
    let cases: Vec<(ServiceSpec, TenantView, &str)> = vec![
        (spec(&[]), unknown, "UnknownTenant"),
        (spec(&[]), view(&[]), "NoGateway"),
        (port0, view(&["10.10.1.12"]), "InvalidSpec"),
    ];
    for (s, v, want) in cases {
        let e = desired(&s, &v).unwrap_err();
        assert!(format!("{e:?}").starts_with(want), "{e:?} is not {want}");
    }
}

#[test]
fn a_new_service_is_created_guarded_and_attached_in_one_transaction() {
    let v = view(&["10.10.1.12", "10.10.1.14"]);
    let d = desired(&spec(&["192.168.1.2:80"]), &v).unwrap();
    let (txn, change) = plan(d.clone(), &[], &v);
    assert_eq!(change, ServiceChange::Created { uuid: d.lb.uuid });
    let ops: Vec<&str> = txn.ops.iter().map(|(op, _)| op.name()).collect();
    assert_eq!(ops, vec!["wait", "insert", "mutate", "mutate"]);
}

#[test]
fn an_applied_service_plans_no_transaction() {
    let v = view(&["10.10.1.12"]);
    let d = desired(&spec(&["192.168.1.2:80"]), &v).unwrap();
    let existing = applied(&d, &v);
    let again = desired(&spec(&["192.168.1.2:80"]), &v).unwrap();
    let (txn, change) = plan(again, &[existing], &v);
    assert!(txn.is_empty(), "{:?}", txn.ops);
    assert_eq!(change, ServiceChange::Unchanged { uuid: d.lb.uuid });
}

#[test]
fn replacing_backends_is_one_update_of_the_load_balancer_only() {
    let v = view(&["10.10.1.12"]);
    let d = desired(&spec(&["192.168.1.2:80"]), &v).unwrap();
    let existing = applied(&d, &v);
    let next = desired(&spec(&["192.168.1.3:80", "192.168.1.4:80"]), &v).unwrap();
    let (txn, change) = plan(next, &[existing], &v);
    assert_eq!(change, ServiceChange::Updated { uuid: d.lb.uuid });
    assert_eq!(txn.len(), 1);
    let op = &txn.to_params()[1];
    assert_eq!(op["op"], "update");
    assert_eq!(op["table"], "Load_Balancer");
}

#[test]
fn a_gateway_added_later_gets_a_vip_and_the_attachment() {
    let before = view(&["10.10.1.12"]);
    let d = desired(&spec(&["192.168.1.2:80"]), &before).unwrap();
    let existing = applied(&d, &before);
    let mut after = view(&["10.10.1.12", "10.10.1.14"]);
    after.gateways[0] = before.gateways[0].clone();
    let next = desired(&spec(&["192.168.1.2:80"]), &after).unwrap();
    let (txn, _) = plan(next, &[existing], &after);
    let p = txn.to_params();
    assert_eq!(txn.len(), 2);
    assert_eq!(p[1]["op"], "update");
    assert_eq!(p[2]["op"], "mutate");
    assert_eq!(
        p[2]["where"][0][2][1],
        after.gateways[1].router.uuid.to_string()
    );
}

#[test]
fn stale_attachments_and_twin_rows_are_removed() {
    let v = view(&["10.10.1.12"]);
    let d = desired(&spec(&["192.168.1.2:80"]), &v).unwrap();
    let mut existing = applied(&d, &v);
    existing.routers.push(attachable("GR_old", &[d.lb.uuid]));
    let mut twin = applied(&d, &v);
    twin.lb.uuid = Uuid::new_v4();
    let next = desired(&spec(&["192.168.1.2:80"]), &v).unwrap();
    let (txn, change) = plan(next, &[existing, twin.clone()], &v);
    assert!(change.changed());
    assert_eq!(
        ops_of(&txn),
        vec![
            ("mutate", Some("Logical_Router")),
            ("mutate", Some("Logical_Router")),
            ("delete", Some("Load_Balancer")),
        ]
    );
    assert_eq!(
        txn.to_params()[3]["where"][0][2][1],
        twin.lb.uuid.to_string()
    );
}

/// `spec` with a cluster IP and a DNS name.
fn east_west(mut s: ServiceSpec) -> ServiceSpec {
    s.cluster_ip = Some(ClusterIp::Allocate);
    s.dns_name = Some("web.coke.ovn-mesos".into());
    s
}

#[test]
fn cluster_ips_are_the_lowest_free_address_after_the_hairpin_one_and_kept() {
    let v = view(&["10.10.1.12"]);
    let s = east_west(spec(&["192.168.1.2:80"]));
    let d = desired(&s, &v).unwrap();
    // 10.96.0.0 is the network, 10.96.0.1 the hairpin source
    assert_eq!(d.cluster_ip, Some(("10.96.0.2".parse().unwrap(), true)));
    assert_eq!(
        d.lb.vips.get("10.96.0.2:32350").map(String::as_str),
        Some("192.168.1.2:80")
    );
    assert_eq!(d.lb.external_ids[CLUSTER_IP], "10.96.0.2");
    assert_eq!(d.lb.options["hairpin_snat_ip"], "10.96.0.1");
    // taken by other services: the next free one
    let taken: BTreeMap<Ipv4Addr, String> = [
        ("10.96.0.2".parse().unwrap(), "api".to_owned()),
        ("10.96.0.3".parse().unwrap(), "db".to_owned()),
    ]
    .into();
    let d2 = desired_service(&s, &v, None, &|| taken.clone()).unwrap();
    assert_eq!(d2.cluster_ip, Some(("10.96.0.4".parse().unwrap(), true)));
    // the address its row holds is kept, whatever is lower and free
    let mut held = d2.lb.clone();
    held.external_ids
        .insert(CLUSTER_IP.into(), "10.96.0.9".into());
    // (without reading the others': a backend change scans nothing)
    let no_scan = || -> BTreeMap<Ipv4Addr, String> { panic!("the held address needs no scan") };
    let d3 = desired_service(&s, &v, Some(&held), &no_scan).unwrap();
    assert_eq!(d3.cluster_ip, Some(("10.96.0.9".parse().unwrap(), false)));
    // a held address outside the (changed) subnet is replaced
    let mut moved = v.clone();
    moved.service_subnet = "172.30.0.0/24".parse().unwrap();
    let d4 = desired_service(&s, &moved, Some(&held), &|| taken.clone()).unwrap();
    assert_eq!(d4.cluster_ip, Some(("172.30.0.2".parse().unwrap(), true)));
}

#[test]
fn a_full_service_subnet_and_a_taken_fixed_address_are_refused() {
    let mut v = view(&["10.10.1.12"]);
    v.service_subnet = "10.96.0.0/30".parse().unwrap();
    // .0 network, .1 hairpin, .3 broadcast: only .2
    let taken: BTreeMap<Ipv4Addr, String> = [("10.96.0.2".parse().unwrap(), "api".into())].into();
    let e = desired_service(&east_west(spec(&[])), &v, None, &|| taken.clone()).unwrap_err();
    assert!(matches!(e, ServiceError::ServiceSubnetFull { .. }), "{e:?}");
    assert!(e.to_string().contains("10.96.0.0/30"), "{e}");
    let mut fixed = spec(&[]);
    fixed.cluster_ip = Some(ClusterIp::Fixed("10.96.0.2".parse().unwrap()));
    let e = desired_service(&fixed, &v, None, &|| taken.clone()).unwrap_err();
    assert!(e.to_string().contains("10.96.0.2"), "{e}");
    let mut named = spec(&[]);
    named.dns_name = Some("web.coke.ovn-mesos".into());
    assert!(desired(&named, &v).is_err(), "a name needs a cluster IP");
}

#[test]
fn the_first_east_west_service_builds_the_fabric_in_its_transaction() {
    let v = view(&["10.10.1.12"]);
    let d = desired(&east_west(spec(&["192.168.1.2:80"])), &v).unwrap();
    let (txn, _) = plan(d.clone(), &[], &v);
    assert_eq!(
        ops_of(&txn),
        vec![
            ("wait", Some("Load_Balancer")),
            ("wait", Some("Load_Balancer")),
            ("insert", Some("Load_Balancer")),
            ("mutate", Some("Logical_Router")),
            ("wait", Some("Load_Balancer_Group")),
            ("insert", Some("Load_Balancer_Group")),
            ("wait", Some("DNS")),
            ("insert", Some("DNS")),
            // each of the two switches: the group, the DNS row
            ("mutate", Some("Logical_Switch")),
            ("mutate", Some("Logical_Switch")),
            ("mutate", Some("Logical_Switch")),
            ("mutate", Some("Logical_Switch")),
            ("mutate", Some("Load_Balancer_Group")),
            ("mutate", Some("DNS")),
        ]
    );
    let p = txn.to_params();
    let dns = p.as_array().unwrap().last().unwrap();
    assert_eq!(
        dns["mutations"],
        serde_json::json!([
            ["records", "delete", "web.coke.ovn-mesos"],
            [
                "records",
                "insert",
                ["map", [["web.coke.ovn-mesos", "10.96.0.2"]]]
            ]
        ])
    );
}

/// `v` with the fabric in place: the group holding `lbs`, the DNS row with
/// `records`, both on every switch.
fn with_fabric(mut v: TenantView, lbs: &[Uuid], records: &[(&str, &str)]) -> TenantView {
    let group = crate::nb::LoadBalancerGroup {
        uuid: Uuid::new_v4(),
        name: super::super::group_name("coke"),
        load_balancer: lbs.to_vec(),
    };
    let dns = crate::nb::Dns {
        uuid: Uuid::new_v4(),
        records: records
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..Default::default()
    };
    for s in &mut v.switches {
        s.groups = vec![group.uuid];
        s.dns_records = vec![dns.uuid];
    }
    v.group = Some(group);
    v.dns = Some(dns.clone());
    v.all_dns = vec![dns];
    v
}

#[test]
fn an_east_west_service_in_place_plans_nothing_and_a_new_name_moves_its_record() {
    let v = view(&["10.10.1.12"]);
    let s = east_west(spec(&["192.168.1.2:80"]));
    let d = desired(&s, &v).unwrap();
    let existing = applied(&d, &v);
    let v = with_fabric(v, &[d.lb.uuid], &[("web.coke.ovn-mesos", "10.96.0.2")]);
    let again = desired_service(&s, &v, Some(&existing.lb), &BTreeMap::new).unwrap();
    assert_eq!(
        again.cluster_ip,
        Some(("10.96.0.2".parse().unwrap(), false))
    );
    let (txn, change) = plan(again, std::slice::from_ref(&existing), &v);
    assert!(txn.is_empty(), "{:?}", txn.to_params());
    assert!(!change.changed());
    // another domain: the old name goes, the new one comes, in one mutate
    let mut renamed = s.clone();
    renamed.dns_name = Some("web.coke.example".into());
    let next = desired_service(&renamed, &v, Some(&existing.lb), &BTreeMap::new).unwrap();
    let (txn, _) = plan(next, std::slice::from_ref(&existing), &v);
    let p = txn.to_params();
    assert_eq!(txn.len(), 1, "{p:?}");
    assert_eq!(p[1]["table"], "DNS");
    assert_eq!(
        p[1]["mutations"],
        serde_json::json!([
            [
                "records",
                "delete",
                ["set", ["web.coke.example", "web.coke.ovn-mesos"]]
            ],
            [
                "records",
                "insert",
                ["map", [["web.coke.example", "10.96.0.2"]]]
            ]
        ])
    );
}

#[test]
fn dropping_the_cluster_ip_leaves_the_group_and_the_name() {
    let v = view(&["10.10.1.12"]);
    let s = east_west(spec(&["192.168.1.2:80"]));
    let d = desired(&s, &v).unwrap();
    let existing = applied(&d, &v);
    let v = with_fabric(v, &[d.lb.uuid], &[("web.coke.ovn-mesos", "10.96.0.2")]);
    let off = desired_service(
        &spec(&["192.168.1.2:80"]),
        &v,
        Some(&existing.lb),
        &BTreeMap::new,
    )
    .unwrap();
    let (txn, _) = plan(off, &[existing], &v);
    let tables: Vec<Option<&str>> = txn.ops.iter().map(|(op, _)| op.table()).collect();
    assert_eq!(
        tables,
        vec![
            Some("Load_Balancer"),
            Some("Load_Balancer_Group"),
            Some("DNS")
        ]
    );
    let p = txn.to_params();
    assert_eq!(p[2]["mutations"][0][1], "delete");
    assert_eq!(
        p[3]["mutations"],
        serde_json::json!([["records", "delete", "web.coke.ovn-mesos"]])
    );
}
