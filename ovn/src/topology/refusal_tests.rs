//! Planner tests of refusals (each names its culprit and plans nothing) and
//! of races between commands planned from the same state (the loser's guard
//! fails, and replanning from the fresh state succeeds).

use std::net::Ipv4Addr;

use super::fixtures::{gateway, net, network, seed, tenant};
use super::gateway::plan_gateway_init;
use super::network::{plan_network_delete, plan_network_init};
use super::plan::Plan;
use super::snapshot::{sim, Snapshot};
use super::tenant::{plan_tenant_delete, plan_tenant_init, TenantSpec};
use super::TopologyError;

/// One refused command: what, the command, the expected message.
type Refusal = (
    &'static str,
    Box<dyn Fn(&Snapshot) -> Result<Plan, TopologyError>>,
    &'static str,
);

#[test]
fn refused_commands_say_why_and_plan_nothing() {
    let cases: Vec<Refusal> = vec![
        (
            "network before tenant-init",
            Box::new(|s| plan_network_init(s, &network("sprite", "sprite1", "192.168.1.0/24"))),
            "tenant sprite does not exist (run tenant-init first)",
        ),
        (
            "gateway before tenant-init",
            Box::new(|s| plan_gateway_init(s, &gateway("sprite", "10.10.1.40/24"), "m").map(|p| p.0)),
            "tenant sprite does not exist (run tenant-init first)",
        ),
        (
            "subnet outside the cluster subnet",
            Box::new(|s| plan_network_init(s, &network("coke", "coke9", "10.1.0.0/24"))),
            "subnet 10.1.0.0/24 of network coke9 is outside cluster subnet 192.168.0.0/16 of tenant coke",
        ),
        (
            "overlapping networks of one tenant",
            Box::new(|s| plan_network_init(s, &network("coke", "coke2", "192.168.1.128/25"))),
            "subnet 192.168.1.128/25 of network coke2 overlaps network coke1 (192.168.1.0/24) of tenant coke",
        ),
        (
            "a changed subnet of an existing network",
            Box::new(|s| plan_network_init(s, &network("coke", "coke1", "192.168.7.0/24"))),
            "network coke1 of tenant coke has subnet 192.168.1.0/24, not 192.168.7.0/24: a network's subnet cannot change (delete the network, then create it again)",
        ),
        (
            "a network name another tenant holds",
            Box::new(|s| plan_network_init(s, &network("coke", "pepsi1", "192.168.5.0/24"))),
            "Logical_Switch pepsi1 already exists and belongs to network-switch of tenant pepsi, network pepsi1",
        ),
        (
            "deleting another tenant's network",
            Box::new(|s| plan_network_delete(s, "coke", "pepsi1", true)),
            "Logical_Switch pepsi1 already exists and belongs to network-switch of tenant pepsi, network pepsi1",
        ),
        (
            "a switch made by hand",
            Box::new(|s| plan_network_init(s, &network("coke", "manual", "192.168.7.0/24"))),
            "Logical_Switch manual already exists and belongs to someone else (not created by ovn-mesos)",
        ),
        (
            "another cluster subnet for the tenant",
            Box::new(|s| {
                plan_tenant_init(
                    s,
                    &TenantSpec {
                        name: "coke".into(),
                        cluster_subnet: Some(net("172.16.0.0/16")),
                        service_subnet: None,
                    },
                )
            }),
            "cluster subnet 172.16.0.0/16 differs from 192.168.0.0/16, the cluster subnet of tenant coke",
        ),
        (
            "another service subnet for the tenant",
            Box::new(|s| {
                plan_tenant_init(
                    s,
                    &TenantSpec {
                        service_subnet: Some(net("10.97.0.0/16")),
                        ..tenant("coke")
                    },
                )
            }),
            "service subnet 10.97.0.0/16 differs from 10.96.0.0/16, the service subnet of tenant coke (a service subnet cannot change: its services keep their addresses)",
        ),
        (
            "a service subnet inside the cluster subnet",
            Box::new(|s| {
                plan_tenant_init(
                    s,
                    &TenantSpec {
                        service_subnet: Some(net("192.168.128.0/20")),
                        ..tenant("fanta")
                    },
                )
            }),
            "service subnet 192.168.128.0/20 of tenant fanta overlaps the cluster subnet 192.168.0.0/16",
        ),
        (
            "a service subnet over the join subnet",
            Box::new(|s| {
                plan_tenant_init(
                    s,
                    &TenantSpec {
                        name: "fanta".into(),
                        cluster_subnet: None,
                        service_subnet: Some(net("100.64.0.0/10")),
                    },
                )
            }),
            "invalid service subnet 100.64.0.0/10: overlaps the join subnet 100.64.0.0/16",
        ),
        (
            "a gateway with another cluster subnet",
            Box::new(|s| {
                let mut g = gateway("coke", "10.10.1.12/24");
                g.cluster_subnet = Some(net("172.16.0.0/16"));
                plan_gateway_init(s, &g, "mesos-master").map(|p| p.0)
            }),
            "cluster subnet 172.16.0.0/16 differs from 192.168.0.0/16, the cluster subnet of tenant coke",
        ),
        (
            "a default gateway outside the physical network",
            Box::new(|s| {
                let mut g = gateway("coke", "10.10.1.12/24");
                g.default_gw = Ipv4Addr::new(10, 10, 9, 1);
                plan_gateway_init(s, &g, "mesos-master").map(|p| p.0)
            }),
            "default gateway 10.10.9.1 is not a host of physical network 10.10.1.12/24",
        ),
        (
            "a bad tenant name",
            Box::new(|s| plan_tenant_init(s, &tenant("co ke"))),
            "invalid tenant name \"co ke\": character ' ' is not one of A-Z a-z 0-9 _ . -",
        ),
        (
            "a bad system-id",
            Box::new(|s| plan_gateway_init(s, &gateway("coke", "10.10.1.12/24"), "-x").map(|p| p.0)),
            "invalid system-id name \"-x\": it starts with '-'",
        ),
        (
            "a network subnet with host bits",
            Box::new(|s| plan_network_init(s, &network("coke", "coke3", "192.168.3.1/24"))),
            "invalid subnet 192.168.3.1/24: host bits are set (did you mean 192.168.3.0/24?)",
        ),
        (
            "deleting a tenant that still has networks and gateways",
            Box::new(|s| plan_tenant_delete(s, "coke", false)),
            "tenant coke still has network(s) coke1 and gateway(s) GR_coke_mesos-master; delete them first or cascade",
        ),
        (
            "a gateway without any cluster subnet",
            Box::new(|s| {
                let s = sim::apply(
                    s,
                    &plan_tenant_init(s, &TenantSpec { name: "fanta".into(), cluster_subnet: None, service_subnet: None })?.txn,
                )
                .unwrap();
                let mut g = gateway("fanta", "10.10.1.50/24");
                g.cluster_subnet = None;
                plan_gateway_init(&s, &g, "m").map(|p| p.0)
            }),
            "tenant fanta has no cluster subnet: pass one to tenant-init or gateway-init",
        ),
    ];
    let mut s = seed();
    let mut manual = crate::nb::LogicalSwitch {
        uuid: uuid::Uuid::new_v4(),
        name: "manual".into(),
        ..Default::default()
    };
    manual
        .external_ids
        .insert("owner".into(), "operator".into());
    s.switches.insert(manual.uuid, manual);
    for (what, cmd, want) in cases {
        match cmd(&s) {
            Ok(p) => panic!("{what}: accepted, would do: {}", p.report),
            Err(e) => assert_eq!(e.to_string(), want, "{what}"),
        }
    }
}

#[test]
fn a_racing_gateway_that_took_the_join_address_makes_the_other_plan_fail_its_guard() {
    let s = seed();
    let a = plan_gateway_init(&s, &gateway("coke", "10.10.1.13/24"), "agent-a").unwrap();
    let b = plan_gateway_init(&s, &gateway("coke", "10.10.1.15/24"), "agent-b").unwrap();
    assert_eq!(a.1, b.1, "both computed from the same state");
    let after_a = sim::apply(&s, &a.0.txn).unwrap();
    let e = sim::apply(&after_a, &b.0.txn).unwrap_err();
    assert!(e.contains("timed out"), "{e}");
    // Recomputed from the fresh state (what ensure does), b gets the next address.
    let b2 = plan_gateway_init(&after_a, &gateway("coke", "10.10.1.15/24"), "agent-b").unwrap();
    assert_eq!(b2.1, Ipv4Addr::new(100, 64, 0, 4));
}

#[test]
fn a_racing_tenant_init_cannot_create_a_second_router() {
    let empty = Snapshot::default();
    let a = plan_tenant_init(&empty, &tenant("coke")).unwrap();
    let b = plan_tenant_init(&empty, &tenant("coke")).unwrap();
    let after_a = sim::apply(&empty, &a.txn).unwrap();
    assert!(sim::apply(&after_a, &b.txn)
        .unwrap_err()
        .contains("timed out"));
}
