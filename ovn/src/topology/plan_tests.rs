//! Table-driven tests of the topology commands' planning, without daemons:
//! each plan is applied to an in-memory database ([`super::snapshot::sim`])
//! and planned again, which must then be empty.

use std::net::Ipv4Addr;

use super::fixtures::{apply, gateway, gw_init, net, network, seed, tenant, with_task_port};
use super::gateway::{plan_gateway_delete, plan_gateway_init, GatewayMode};
use super::network::{plan_network_delete, plan_network_init};
use super::plan::Plan;
use super::snapshot::Snapshot;
use super::tenant::{plan_tenant_delete, plan_tenant_init, TenantSpec};
use super::TopologyError;
use crate::nb::Nat;
use crate::owner::{self, Kind};

fn routes_of(s: &Snapshot, router: &str) -> Vec<String> {
    let r = s.routers_named(router)[0];
    let mut v: Vec<String> = r
        .static_routes
        .iter()
        .map(|u| {
            let x = &s.routes[u];
            format!(
                "{} {} {}",
                x.ip_prefix,
                x.nexthop,
                x.output_port.clone().unwrap_or_default()
            )
        })
        .collect();
    v.sort();
    v
}

fn nats_of<'a>(s: &'a Snapshot, router: &str) -> Vec<&'a Nat> {
    s.routers_named(router)[0]
        .nat
        .iter()
        .map(|u| &s.nats[u])
        .collect()
}

fn lrp_network(s: &Snapshot, name: &str) -> String {
    s.router_port_named(name).unwrap().0.networks.join(",")
}

#[test]
fn tenant_init_creates_the_router_and_join_switch_once() {
    let s = apply(&Snapshot::default(), |x| {
        plan_tenant_init(x, &tenant("coke"))
    });
    assert_eq!(s.routers.len(), 1);
    assert_eq!(lrp_network(&s, "rtoj-coke"), "100.64.0.1/16");
    let (jtor, sw) = s.switch_port_named("jtor-coke").unwrap();
    assert_eq!(sw.unwrap().name, "join_coke");
    assert_eq!(jtor.router_port(), Some("rtoj-coke"));
    assert_eq!(s.cluster_subnet("coke"), Some(net("192.168.0.0/16")));
    assert!(owner::is_tenant_row(
        &s.routers_named("coke")[0].external_ids,
        Kind::TenantRouter,
        "coke"
    ));
}

#[test]
fn the_service_subnet_is_the_given_one_or_the_default_and_is_kept() {
    let s = apply(&Snapshot::default(), |x| {
        plan_tenant_init(x, &tenant("coke"))
    });
    assert_eq!(s.service_subnet("coke"), Some(net("10.96.0.0/16")));
    // a re-run without one keeps it, and so does one with the same
    assert_eq!(apply(&s, |x| plan_tenant_init(x, &tenant("coke"))), s);
    let same = TenantSpec {
        service_subnet: Some(net("10.96.0.0/16")),
        ..tenant("coke")
    };
    assert_eq!(apply(&s, |x| plan_tenant_init(x, &same)), s);
    // a tenant created with its own
    let own = TenantSpec {
        service_subnet: Some(net("10.200.0.0/16")),
        ..tenant("fanta")
    };
    let s = apply(&s, |x| plan_tenant_init(x, &own));
    assert_eq!(s.service_subnet("fanta"), Some(net("10.200.0.0/16")));
    assert_eq!(s.service_subnet("coke"), Some(net("10.96.0.0/16")));
}

#[test]
fn the_seed_topology_has_the_names_routes_and_one_snat_per_gateway() {
    let s = seed();
    for (t, sid, phys, join) in [
        ("coke", "mesos-master", "10.10.1.12", "100.64.0.2"),
        ("pepsi", "mesos-agent1", "10.10.1.14", "100.64.0.2"),
    ] {
        let gr = format!("GR_{t}_{sid}");
        let r = s.routers_named(&gr)[0];
        assert_eq!(r.chassis(), Some(sid));
        assert_eq!(r.options.get("lb_force_snat_ip").unwrap(), "router_ip");
        assert_eq!(lrp_network(&s, &format!("rtoj-{gr}")), format!("{join}/16"));
        assert_eq!(lrp_network(&s, &format!("rtoe-{gr}")), format!("{phys}/24"));
        assert_eq!(
            routes_of(&s, &gr),
            vec![
                format!("0.0.0.0/0 10.10.1.1 rtoe-{gr}"),
                "192.168.0.0/16 100.64.0.1 ".to_owned()
            ]
        );
        assert_eq!(routes_of(&s, t), vec![format!("0.0.0.0/0 {join} ")]);
        let nats = nats_of(&s, &gr);
        assert_eq!(nats.len(), 1);
        assert_eq!(
            (nats[0].type_.as_str(), nats[0].external_ip.as_str()),
            ("snat", phys)
        );
        assert_eq!(nats[0].logical_ip, "192.168.0.0/16");
        let ext = format!("ext_{t}_{sid}");
        let lnet = s.switch_port_named(&format!("lnet-{ext}")).unwrap();
        assert_eq!(lnet.1.unwrap().name, ext);
        assert_eq!(lnet.0.options.get("network_name").unwrap(), "physnet");
        assert_eq!(
            s.switch_port_named(&format!("etor-{gr}"))
                .unwrap()
                .1
                .unwrap()
                .name,
            ext
        );
        assert_eq!(
            s.switch_port_named(&format!("jtor-{gr}"))
                .unwrap()
                .1
                .unwrap()
                .name,
            format!("join_{t}")
        );
    }
    assert_eq!(lrp_network(&s, "rtos-coke1"), "192.168.1.1/24");
    assert_eq!(lrp_network(&s, "rtos-pepsi1"), "192.168.1.1/24");
    assert_eq!(
        s.router_port_named("rtos-coke1").unwrap().0.mac,
        "0a:58:c0:a8:01:01"
    );
    assert_eq!(
        s.router_port_named("rtos-coke1").unwrap().1.unwrap().name,
        "coke"
    );
    assert_eq!(
        s.switches_named("coke1")[0].subnet(),
        Some("192.168.1.0/24")
    );
}

#[test]
fn a_second_gateway_gets_the_next_join_address_and_an_ecmp_route() {
    let s = seed();
    let s = gw_init(&s, &gateway("coke", "10.10.1.13/24"), "mesos-agent2");
    assert_eq!(
        lrp_network(&s, "rtoj-GR_coke_mesos-agent2"),
        "100.64.0.3/16"
    );
    assert_eq!(
        routes_of(&s, "coke"),
        vec!["0.0.0.0/0 100.64.0.2 ", "0.0.0.0/0 100.64.0.3 "]
    );
    // Re-running the first gateway keeps its address.
    let again = plan_gateway_init(&s, &gateway("coke", "10.10.1.12/24"), "mesos-master").unwrap();
    assert_eq!(again.1, Ipv4Addr::new(100, 64, 0, 2));
    assert!(again.0.txn.is_empty());
}

#[test]
fn a_changed_physical_address_updates_the_one_snat_rule_in_place() {
    let s = seed();
    let s = gw_init(&s, &gateway("coke", "10.10.1.20/24"), "mesos-master");
    let nats = nats_of(&s, "GR_coke_mesos-master");
    assert_eq!(nats.len(), 1);
    assert_eq!(nats[0].external_ip, "10.10.1.20");
    assert_eq!(
        lrp_network(&s, "rtoe-GR_coke_mesos-master"),
        "10.10.1.20/24"
    );
}

#[test]
fn switching_gateway_mode_replaces_the_uplink_port() {
    let s = seed();
    let mut spec = gateway("coke", "10.10.1.12/24");
    spec.mode = GatewayMode::PhysicalInterface {
        iface: "enp0s9".into(),
    };
    let s = gw_init(&s, &spec, "mesos-master");
    assert!(s.switch_port_named("lnet-ext_coke_mesos-master").is_none());
    let (vif, sw) = s.switch_port_named("enp0s9_mesos-master").unwrap();
    assert_eq!(sw.unwrap().name, "ext_coke_mesos-master");
    assert_eq!(
        (vif.type_.as_str(), vif.addresses.clone()),
        ("", vec!["unknown".to_owned()])
    );
}

type Init = Box<dyn Fn(&Snapshot) -> Snapshot>;
type Delete = Box<dyn Fn(&Snapshot) -> Result<Plan, TopologyError>>;

#[test]
fn every_delete_removes_exactly_what_its_init_created() {
    let base = seed();
    let cases: Vec<(&str, Init, Delete)> = vec![
        (
            "network",
            Box::new(|s| {
                apply(s, |x| {
                    plan_network_init(x, &network("coke", "coke2", "192.168.2.0/24"))
                })
            }),
            Box::new(|s| plan_network_delete(s, "coke", "coke2", false)),
        ),
        (
            "second gateway",
            Box::new(|s| gw_init(s, &gateway("coke", "10.10.1.13/24"), "mesos-agent2")),
            Box::new(|s| plan_gateway_delete(s, "coke", "mesos-agent2")),
        ),
        (
            "tenant",
            Box::new(|s| apply(s, |x| plan_tenant_init(x, &tenant("fanta")))),
            Box::new(|s| plan_tenant_delete(s, "fanta", false)),
        ),
        (
            "tenant with a gateway and a network, cascading",
            Box::new(|s| {
                let t = TenantSpec {
                    name: "fanta".into(),
                    cluster_subnet: None,
                    service_subnet: None,
                };
                let s = apply(s, |x| plan_tenant_init(x, &t));
                let mut g = gateway("fanta", "10.10.1.30/24");
                g.cluster_subnet = Some(net("172.16.0.0/16"));
                let s = gw_init(&s, &g, "mesos-master");
                apply(&s, |x| {
                    plan_network_init(x, &network("fanta", "fanta1", "172.16.1.0/24"))
                })
            }),
            Box::new(|s| plan_tenant_delete(s, "fanta", true)),
        ),
    ];
    for (what, init, delete) in cases {
        let created = init(&base);
        assert_ne!(created, base, "{what}: init changed nothing");
        let deleted = apply(&created, &delete);
        assert_eq!(
            deleted, base,
            "{what}: delete did not restore the state before init"
        );
    }
}

#[test]
fn task_ports_survive_a_network_init_rerun() {
    let s = with_task_port(&seed(), "coke1", "task-1");
    let s = apply(&s, |x| {
        plan_network_init(x, &network("coke", "coke1", "192.168.1.0/24"))
    });
    assert!(s.switch_port_named("task-1").is_some());
}

#[test]
fn network_delete_refuses_while_task_ports_exist_unless_forced() {
    let mut s = seed();
    for i in 1..=4 {
        s = with_task_port(&s, "coke1", &format!("task-{i}"));
    }
    let e = plan_network_delete(&s, "coke", "coke1", false)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "network coke1 still has 4 task port(s) (task-1, task-2, task-3); stop the tasks or force the delete"
    );
    let s = apply(&s, |x| plan_network_delete(x, "coke", "coke1", true));
    assert!(s.switches_named("coke1").is_empty());
    assert!(s.switch_port_named("task-1").is_none());
    assert!(s.router_port_named("rtos-coke1").is_none());
    assert!(
        s.switches_named("pepsi1").len() == 1,
        "the other tenant's network stays"
    );
}

#[test]
fn deleting_what_does_not_exist_changes_nothing() {
    let s = seed();
    for plan in [
        plan_network_delete(&s, "coke", "nope", false),
        plan_gateway_delete(&s, "coke", "nowhere"),
        plan_tenant_delete(&s, "nobody", false),
    ] {
        assert!(plan.unwrap().txn.is_empty());
    }
}

#[test]
fn the_same_subnet_in_two_tenants_is_fine() {
    let s = seed();
    assert_eq!(
        s.networks_of("coke")[0].subnet(),
        s.networks_of("pepsi")[0].subnet()
    );
}

#[test]
fn an_owned_duplicate_router_is_removed_whichever_sorts_first() {
    let s = apply(&Snapshot::default(), |x| {
        plan_tenant_init(x, &tenant("coke"))
    });
    for twin_uuid in [uuid::Uuid::from_u128(0), uuid::Uuid::from_u128(u128::MAX)] {
        let mut twin = s.routers_named("coke")[0].clone();
        twin.uuid = twin_uuid;
        twin.ports.clear();
        let mut s2 = s.clone();
        s2.routers.insert(twin.uuid, twin);
        let after = apply(&s2, |x| plan_tenant_init(x, &tenant("coke")));
        assert_eq!(after.routers_named("coke").len(), 1);
        assert_eq!(after, s, "the complete router is kept");
    }
}
