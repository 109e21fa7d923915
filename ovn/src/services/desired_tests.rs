//! Unit tests of the pure service stage: VIP building and diffing.

use std::net::Ipv4Addr;

use super::*;
use crate::services::view::Gateway;
use crate::services::{BackendPort, LbHealth, Protocol};

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
        east_west_vip: None,
        health: None,
    }
}

fn attachable(name: &str, lbs: &[Uuid]) -> Attachable {
    Attachable {
        uuid: Uuid::new_v4(),
        name: name.into(),
        load_balancers: lbs.to_vec(),
        monitor_ip: None,
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
    }
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
        switches: pick(view.switches.iter().collect(), &desired.switches),
        health_checks: desired.health_checks.clone(),
    }
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
    let d = desired_service(&checked(spec(&["192.168.1.2:80", "192.168.1.3:80"])), &view).unwrap();
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
    let (txn, _) = plan(d.clone(), &[]);
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
    let again =
        desired_service(&checked(spec(&["192.168.1.2:80", "192.168.1.3:80"])), &view).unwrap();
    let (txn, change) = plan(again, &[applied(&d, &view)]);
    assert!(txn.is_empty(), "{:?}", txn.to_params());
    assert!(matches!(change, ServiceChange::Unchanged { .. }));
    // a new backend changes the mappings only, the check rows stay
    let more = desired_service(
        &checked(spec(&[
            "192.168.1.2:80",
            "192.168.1.3:80",
            "192.168.1.4:80",
        ])),
        &view,
    )
    .unwrap();
    let (txn, _) = plan(more, &[applied(&d, &view)]);
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
    let d = desired_service(&checked(spec(&["192.168.1.2:80"])), &view(&["10.10.1.12"])).unwrap();
    assert!(d.health_checks.is_empty());
    assert!(d.lb.ip_port_mappings.is_empty());
    // and turned off, an existing service's checks are removed
    let view = with_monitor_ip(view(&["10.10.1.12"]));
    let on = desired_service(&checked(spec(&["192.168.1.2:80"])), &view).unwrap();
    let off = desired_service(&spec(&["192.168.1.2:80"]), &view).unwrap();
    let (txn, _) = plan(off, &[applied(&on, &view)]);
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
    let d = desired_service(
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
    assert!(d.switches.is_empty());
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
fn an_east_west_vip_is_added_and_attaches_the_tenant_switches() {
    let mut s = spec(&["192.168.1.2:80"]);
    s.east_west_vip = Some(addr("10.96.0.10:80"));
    let v = view(&["10.10.1.12"]);
    let d = desired_service(&s, &v).unwrap();
    assert_eq!(
        d.lb.vips.get("10.96.0.10:80").map(String::as_str),
        Some("192.168.1.2:80")
    );
    assert_eq!(
        d.lb.external_ids.get(EAST_WEST_VIP).map(String::as_str),
        Some("10.96.0.10:80")
    );
    assert_eq!(d.switches, v.switches.iter().map(|s| s.uuid).collect());
}

#[test]
fn no_backends_keep_the_vip_with_an_empty_value() {
    let d = desired_service(&spec(&[]), &view(&["10.10.1.12"])).unwrap();
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
        let e = desired_service(&s, &v).unwrap_err();
        assert!(format!("{e:?}").starts_with(want), "{e:?} is not {want}");
    }
}

#[test]
fn a_new_service_is_created_guarded_and_attached_in_one_transaction() {
    let v = view(&["10.10.1.12", "10.10.1.14"]);
    let d = desired_service(&spec(&["192.168.1.2:80"]), &v).unwrap();
    let (txn, change) = plan(d.clone(), &[]);
    assert_eq!(change, ServiceChange::Created { uuid: d.lb.uuid });
    let ops: Vec<&str> = txn.ops.iter().map(|(op, _)| op.name()).collect();
    assert_eq!(ops, vec!["wait", "insert", "mutate", "mutate"]);
}

#[test]
fn an_applied_service_plans_no_transaction() {
    let v = view(&["10.10.1.12"]);
    let d = desired_service(&spec(&["192.168.1.2:80"]), &v).unwrap();
    let existing = applied(&d, &v);
    let again = desired_service(&spec(&["192.168.1.2:80"]), &v).unwrap();
    let (txn, change) = plan(again, &[existing]);
    assert!(txn.is_empty(), "{:?}", txn.ops);
    assert_eq!(change, ServiceChange::Unchanged { uuid: d.lb.uuid });
}

#[test]
fn replacing_backends_is_one_update_of_the_load_balancer_only() {
    let v = view(&["10.10.1.12"]);
    let d = desired_service(&spec(&["192.168.1.2:80"]), &v).unwrap();
    let existing = applied(&d, &v);
    let next = desired_service(&spec(&["192.168.1.3:80", "192.168.1.4:80"]), &v).unwrap();
    let (txn, change) = plan(next, &[existing]);
    assert_eq!(change, ServiceChange::Updated { uuid: d.lb.uuid });
    assert_eq!(txn.len(), 1);
    let op = &txn.to_params()[1];
    assert_eq!(op["op"], "update");
    assert_eq!(op["table"], "Load_Balancer");
}

#[test]
fn a_gateway_added_later_gets_a_vip_and_the_attachment() {
    let before = view(&["10.10.1.12"]);
    let d = desired_service(&spec(&["192.168.1.2:80"]), &before).unwrap();
    let existing = applied(&d, &before);
    let mut after = view(&["10.10.1.12", "10.10.1.14"]);
    after.gateways[0] = before.gateways[0].clone();
    let next = desired_service(&spec(&["192.168.1.2:80"]), &after).unwrap();
    let (txn, _) = plan(next, &[existing]);
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
    let d = desired_service(&spec(&["192.168.1.2:80"]), &v).unwrap();
    let mut existing = applied(&d, &v);
    existing.routers.push(attachable("GR_old", &[d.lb.uuid]));
    let mut twin = applied(&d, &v);
    twin.lb.uuid = Uuid::new_v4();
    let next = desired_service(&spec(&["192.168.1.2:80"]), &v).unwrap();
    let (txn, change) = plan(next, &[existing, twin.clone()]);
    assert!(change.changed());
    let ops: Vec<(&str, Option<&str>)> = txn
        .ops
        .iter()
        .map(|(op, _)| (op.name(), op.table()))
        .collect();
    assert_eq!(
        ops,
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
