//! The tenant/gateway/network topology against real OVN: every command twice
//! leaves the NB identical (and ovn-northd accepts it), the seed's coke and
//! pepsi tenants read as users know them in `ovn-nbctl`, several gateways per
//! tenant, localnet and physical-interface modes on a local Open_vSwitch
//! database, deletes that restore the database exactly, and refusals that
//! write nothing.

use std::net::Ipv4Addr;

use ovn::nb::NB_DB;
use ovn::ovsdb::{Client, ClientConfig};
use ovn::owner::Kind;
use ovn::topology::{
    self, find_gateway_routers, gateway_delete, gateway_init, gateway_ips, network_delete,
    network_info, network_init, owned_switch, tenant_delete, tenant_init, tenant_of_switch,
    GatewayMode, GatewaySpec, NetworkSpec, TenantSpec, TopologyError,
};
use ovn::vswitch::VSWITCH_DB;
use ovn_mesos_tests::{LocalOvs, OvnCentral};
use serde_json::Value;

/// Runs a blocking harness call without stalling the clients' tasks.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

async fn nb_client(central: &OvnCentral) -> Client {
    let config = ClientConfig::new(&central.nb_remote(), NB_DB).unwrap();
    Client::connect(topology::monitor_nb(config)).await.unwrap()
}

async fn ovs_client(ovs: &LocalOvs) -> Client {
    let config = ClientConfig::new(&ovs.db_remote(), VSWITCH_DB).unwrap();
    Client::connect(topology::monitor_ovs(config))
        .await
        .unwrap()
}

/// The NB once ovn-northd has caught up (it writes `Logical_Switch_Port.up`),
/// without `NB_Global`, whose counters every `--wait=sb sync` bumps.
fn dump(central: &OvnCentral) -> Value {
    let mut d = blocking(|| {
        central.sync_sb()?;
        central.nb_dump()
    })
    .unwrap();
    d.as_object_mut().unwrap().remove("NB_Global");
    d
}

/// `ovn-nbctl --wait=sb sync`, and northd logged no error.
fn synced(central: &OvnCentral) {
    blocking(|| {
        central.sync_sb().unwrap();
        central.check_logs().unwrap();
    });
}

fn nbctl(central: &OvnCentral, args: &[&str]) -> String {
    blocking(|| central.nbctl(args)).unwrap()
}

/// Lines with runs of blanks squeezed, for comparing `ovn-nbctl` tables.
fn squeeze(s: &str) -> Vec<String> {
    s.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect()
}

/// Parses a subnet into whatever network type the spec field has.
fn cidr<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    s.parse().unwrap()
}

fn tenant(name: &str) -> TenantSpec {
    TenantSpec {
        name: name.into(),
        cluster_subnet: Some(cidr("192.168.0.0/16")),
        service_subnet: None,
    }
}

fn gateway(t: &str, physical: &str, system_id: Option<&str>, mode: GatewayMode) -> GatewaySpec {
    GatewaySpec {
        tenant: t.into(),
        cluster_subnet: Some(cidr("192.168.0.0/16")),
        physical_ip: cidr(physical),
        default_gw: Ipv4Addr::new(10, 10, 1, 1),
        mode,
        system_id: system_id.map(str::to_owned),
    }
}

fn localnet(interface: Option<&str>) -> GatewayMode {
    GatewayMode::Localnet {
        physnet: "physnet".into(),
        bridge: "br-ex".into(),
        interface: interface.map(str::to_owned),
    }
}

fn network(t: &str, name: &str, subnet: &str) -> NetworkSpec {
    NetworkSpec {
        tenant: t.into(),
        name: name.into(),
        subnet: cidr(subnet),
    }
}

/// The seed's two tenants (coke on mesos-master, pepsi on mesos-agent1, both
/// with network 192.168.1.0/24), configured from off-host (no local OVS).
async fn seed(nb: &Client) {
    for t in ["coke", "pepsi"] {
        tenant_init(nb, &tenant(t)).await.unwrap();
    }
    gateway_init(
        nb,
        None,
        &gateway(
            "coke",
            "10.10.1.12/24",
            Some("mesos-master"),
            localnet(None),
        ),
    )
    .await
    .unwrap();
    gateway_init(
        nb,
        None,
        &gateway(
            "pepsi",
            "10.10.1.14/24",
            Some("mesos-agent1"),
            localnet(None),
        ),
    )
    .await
    .unwrap();
    network_init(nb, &network("coke", "coke1", "192.168.1.0/24"))
        .await
        .unwrap();
    network_init(nb, &network("pepsi", "pepsi1", "192.168.1.0/24"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn every_command_run_twice_leaves_the_nb_identical() {
    let central = blocking(OvnCentral::start).unwrap();
    let ovs = blocking(|| LocalOvs::start("mesos-master")).unwrap();
    let nb = nb_client(&central).await;
    let local = ovs_client(&ovs).await;

    let first = tenant_init(&nb, &tenant("coke")).await.unwrap();
    assert!(!first.is_empty());
    synced(&central);
    let d = dump(&central);
    let again = tenant_init(&nb, &tenant("coke")).await.unwrap();
    assert!(again.is_empty(), "tenant-init rerun changed: {again}");
    assert_eq!(dump(&central), d);
    synced(&central);

    let spec = gateway("coke", "10.10.1.12/24", None, localnet(Some("eth1")));
    let gw = gateway_init(&nb, Some(&local), &spec).await.unwrap();
    assert_eq!(gw.system_id, "mesos-master", "read from the local OVS");
    assert_eq!(gw.router, "GR_coke_mesos-master");
    synced(&central);
    let (d, o) = (dump(&central), blocking(|| ovs.dump()).unwrap());
    let again = gateway_init(&nb, Some(&local), &spec).await.unwrap();
    assert!(
        again.nb.is_empty() && again.ovs.is_empty(),
        "gateway-init rerun changed: {} / {}",
        again.nb,
        again.ovs
    );
    assert_eq!(again.join_ip, gw.join_ip);
    assert_eq!(dump(&central), d);
    assert_eq!(blocking(|| ovs.dump()).unwrap(), o);
    synced(&central);

    let spec = network("coke", "coke1", "192.168.1.0/24");
    network_init(&nb, &spec).await.unwrap();
    synced(&central);
    let d = dump(&central);
    let again = network_init(&nb, &spec).await.unwrap();
    assert!(again.is_empty(), "network-init rerun changed: {again}");
    assert_eq!(dump(&central), d);
    synced(&central);

    // The deletes, twice each, too.
    for _ in 0..2 {
        network_delete(&nb, "coke", "coke1", false).await.unwrap();
        synced(&central);
    }
    for _ in 0..2 {
        gateway_delete(&nb, Some(&local), "coke", None)
            .await
            .unwrap();
        synced(&central);
    }
    for _ in 0..2 {
        tenant_delete(&nb, "coke", false).await.unwrap();
        synced(&central);
    }
    assert_eq!(nbctl(&central, &["show"]), "");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_seed_topology_reads_as_users_know_it() {
    let central = blocking(OvnCentral::start).unwrap();
    let nb = nb_client(&central).await;
    seed(&nb).await;
    let d = dump(&central);
    seed(&nb).await;
    assert_eq!(dump(&central), d, "the seed run twice");
    synced(&central);

    let mut routers = squeeze(&nbctl(
        &central,
        &[
            "--format=csv",
            "--no-headings",
            "--columns=name",
            "list",
            "Logical_Router",
        ],
    ));
    routers.sort();
    assert_eq!(
        routers,
        [
            "GR_coke_mesos-master",
            "GR_pepsi_mesos-agent1",
            "coke",
            "pepsi"
        ]
    );
    let mut switches = squeeze(&nbctl(
        &central,
        &[
            "--format=csv",
            "--no-headings",
            "--columns=name",
            "list",
            "Logical_Switch",
        ],
    ));
    switches.sort();
    assert_eq!(
        switches,
        [
            "coke1",
            "ext_coke_mesos-master",
            "ext_pepsi_mesos-agent1",
            "join_coke",
            "join_pepsi",
            "pepsi1"
        ]
    );

    for (t, sid, phys) in [
        ("coke", "mesos-master", "10.10.1.12"),
        ("pepsi", "mesos-agent1", "10.10.1.14"),
    ] {
        let gr = format!("GR_{t}_{sid}");
        assert_eq!(
            squeeze(&nbctl(&central, &["lr-route-list", &gr])),
            [
                "IPv4 Routes".to_owned(),
                "Route Table <main>:".to_owned(),
                "192.168.0.0/16 100.64.0.1 dst-ip".to_owned(),
                format!("0.0.0.0/0 10.10.1.1 dst-ip rtoe-{gr}"),
            ]
        );
        assert_eq!(
            squeeze(&nbctl(&central, &["lr-nat-list", &gr])),
            [
                "TYPE GATEWAY_PORT EXTERNAL_IP EXTERNAL_PORT LOGICAL_IP EXTERNAL_MAC LOGICAL_PORT"
                    .to_owned(),
                format!("snat {phys} 192.168.0.0/16"),
            ],
            "exactly one SNAT row after two runs"
        );
        assert_eq!(
            squeeze(&nbctl(&central, &["lr-route-list", t])),
            [
                "IPv4 Routes",
                "Route Table <main>:",
                "0.0.0.0/0 100.64.0.2 dst-ip"
            ]
        );
        assert_eq!(
            nbctl(&central, &["get", "Logical_Router", &gr, "options:chassis"]),
            sid
        );
        assert_eq!(
            nbctl(
                &central,
                &["get", "Logical_Router", &gr, "options:lb_force_snat_ip"]
            ),
            "router_ip"
        );
        assert_eq!(
            squeeze(&nbctl(&central, &["lrp-list", &gr])).len(),
            2,
            "rtoj- and rtoe- ports"
        );
        let ext = format!("ext_{t}_{sid}");
        let mut ports: Vec<String> = squeeze(&nbctl(&central, &["lsp-list", &ext]))
            .iter()
            .map(|l| {
                l.split(' ')
                    .nth(1)
                    .unwrap()
                    .trim_matches(|c| c == '(' || c == ')')
                    .to_owned()
            })
            .collect();
        ports.sort();
        assert_eq!(ports, [format!("etor-{gr}"), format!("lnet-{ext}")]);
        assert_eq!(
            nbctl(&central, &["lsp-get-type", &format!("lnet-{ext}")]),
            "localnet"
        );
        assert_eq!(
            nbctl(
                &central,
                &[
                    "get",
                    "Logical_Switch_Port",
                    &format!("lnet-{ext}"),
                    "options:network_name"
                ]
            ),
            "physnet"
        );
        let net = format!("{t}1");
        assert_eq!(
            nbctl(
                &central,
                &["get", "Logical_Switch", &net, "other_config:subnet"]
            ),
            "\"192.168.1.0/24\""
        );
        assert_eq!(
            squeeze(&nbctl(&central, &["lrp-list", t])).len(),
            2,
            "rtoj-{t} and rtos-{net}"
        );
        assert_eq!(
            nbctl(
                &central,
                &[
                    "get",
                    "Logical_Router_Port",
                    &format!("rtos-{net}"),
                    "networks"
                ]
            ),
            "[\"192.168.1.1/24\"]"
        );
        assert_eq!(
            nbctl(&central, &["lsp-get-type", &format!("stor-{net}")]),
            "router"
        );
        assert_eq!(
            nbctl(
                &central,
                &[
                    "get",
                    "Logical_Switch_Port",
                    &format!("stor-{net}"),
                    "addresses"
                ]
            ),
            "[router]"
        );
        assert_eq!(
            nbctl(
                &central,
                &[
                    "get",
                    "Logical_Switch_Port",
                    &format!("stor-{net}"),
                    "options:router-port"
                ]
            ),
            format!("rtos-{net}")
        );
    }

    // The lookups other code uses.
    let (gws, info, owner) = nb.read(|c| {
        (
            find_gateway_routers(c, "coke"),
            network_info(c, "pepsi1"),
            tenant_of_switch(c, "coke1"),
        )
    });
    assert_eq!(gws.len(), 1);
    assert_eq!(
        (gws[0].chassis.as_str(), gws[0].physical_ip),
        ("mesos-master", Ipv4Addr::new(10, 10, 1, 12))
    );
    let info = info.unwrap();
    assert_eq!(info.tenant, "pepsi");
    assert_eq!(info.subnet, cidr("192.168.1.0/24"));
    assert_eq!(info.router_ip, Ipv4Addr::new(192, 168, 1, 1));
    assert_eq!(info.router_mac.to_string(), "0a:58:c0:a8:01:01");
    assert_eq!(owner.as_deref(), Some("coke"));
    let (ips, none, join, coke1, hand_made) = nb.read(|c| {
        (
            gateway_ips(c, "coke"),
            gateway_ips(c, "fanta"),
            owned_switch(c, "join_coke"),
            owned_switch(c, "coke1"),
            owned_switch(c, "nobody"),
        )
    });
    assert_eq!(ips, [Ipv4Addr::new(10, 10, 1, 12)]);
    assert!(none.is_empty());
    let join = join.unwrap();
    assert_eq!(
        (join.kind, join.tenant.as_str(), join.network),
        (Kind::JoinSwitch, "coke", None)
    );
    let coke1 = coke1.unwrap();
    assert_eq!(
        (coke1.kind, coke1.tenant.as_str(), coke1.network.as_deref()),
        (Kind::NetworkSwitch, "coke", Some("coke1"))
    );
    assert_eq!(hand_made, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_gateways_of_one_tenant_get_distinct_join_addresses() {
    let central = blocking(OvnCentral::start).unwrap();
    let nb = nb_client(&central).await;
    tenant_init(&nb, &tenant("coke")).await.unwrap();
    let a = gateway_init(
        &nb,
        None,
        &gateway(
            "coke",
            "10.10.1.12/24",
            Some("mesos-master"),
            localnet(None),
        ),
    )
    .await
    .unwrap();
    let b = gateway_init(
        &nb,
        None,
        &gateway(
            "coke",
            "10.10.1.13/24",
            Some("mesos-agent2"),
            localnet(None),
        ),
    )
    .await
    .unwrap();
    assert_eq!(a.join_ip, Some(Ipv4Addr::new(100, 64, 0, 2)));
    assert_eq!(b.join_ip, Some(Ipv4Addr::new(100, 64, 0, 3)));
    assert_eq!(
        nbctl(
            &central,
            &[
                "get",
                "Logical_Router_Port",
                "rtoj-GR_coke_mesos-agent2",
                "networks"
            ]
        ),
        "[\"100.64.0.3/16\"]"
    );
    let routes = squeeze(&nbctl(&central, &["lr-route-list", "coke"]));
    assert_eq!(
        routes,
        [
            "IPv4 Routes",
            "Route Table <main>:",
            "0.0.0.0/0 100.64.0.2 dst-ip ecmp",
            "0.0.0.0/0 100.64.0.3 dst-ip ecmp"
        ]
    );
    synced(&central);
    // Deleting the first gateway frees its address for the next one.
    gateway_delete(&nb, None, "coke", Some("mesos-master"))
        .await
        .unwrap();
    let c = gateway_init(
        &nb,
        None,
        &gateway(
            "coke",
            "10.10.1.15/24",
            Some("mesos-agent3"),
            localnet(None),
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        c.join_ip,
        Some(Ipv4Addr::new(100, 64, 0, 2)),
        "the freed address is taken again"
    );
    synced(&central);
}

#[tokio::test(flavor = "multi_thread")]
async fn localnet_mode_merges_the_bridge_mapping_and_creates_the_bridge() {
    let central = blocking(OvnCentral::start).unwrap();
    let ovs = blocking(|| LocalOvs::start("mesos-master")).unwrap();
    blocking(|| {
        ovs.vsctl(&[
            "set",
            "Open_vSwitch",
            ".",
            "external_ids:ovn-bridge-mappings=other:br-other",
        ])
    })
    .unwrap();
    let nb = nb_client(&central).await;
    let local = ovs_client(&ovs).await;
    tenant_init(&nb, &tenant("coke")).await.unwrap();
    let spec = gateway("coke", "10.10.1.12/24", None, localnet(Some("eth1")));
    let r = gateway_init(&nb, Some(&local), &spec).await.unwrap();
    assert_eq!(r.ovs.changes.len(), 3, "{}", r.ovs);

    let vsctl = |args: &[&str]| blocking(|| ovs.vsctl(args)).unwrap();
    assert_eq!(
        vsctl(&[
            "get",
            "Open_vSwitch",
            ".",
            "external_ids:ovn-bridge-mappings"
        ]),
        "\"other:br-other,physnet:br-ex\""
    );
    assert_eq!(
        vsctl(&["get", "Bridge", "br-ex", "datapath_type"]),
        "netdev"
    );
    assert_eq!(vsctl(&["list-ports", "br-ex"]), "eth1");
    assert_eq!(vsctl(&["get", "Interface", "br-ex", "type"]), "internal");

    let o = blocking(|| ovs.dump()).unwrap();
    let again = gateway_init(&nb, Some(&local), &spec).await.unwrap();
    assert!(again.ovs.is_empty(), "{}", again.ovs);
    assert_eq!(blocking(|| ovs.dump()).unwrap(), o);

    // A physnet already mapped to another bridge is refused before the NB is touched.
    blocking(|| {
        ovs.vsctl(&[
            "set",
            "Open_vSwitch",
            ".",
            "external_ids:ovn-bridge-mappings=physnet:br-eth9",
        ])
    })
    .unwrap();
    local
        .wait_until(
            "the new mapping in the cache",
            std::time::Duration::from_secs(10),
            |c| {
                ovn::vswitch::open_vswitch(c).is_some_and(|o| {
                    o.bridge_mappings().unwrap() == [("physnet".into(), "br-eth9".into())]
                })
            },
        )
        .await
        .unwrap();
    let (d, o) = (dump(&central), blocking(|| ovs.dump()).unwrap());
    let spec = gateway("pepsi", "10.10.1.14/24", None, localnet(None));
    tenant_init(&nb, &tenant("pepsi")).await.unwrap();
    let d_pepsi = dump(&central);
    assert_ne!(d, d_pepsi);
    let e = gateway_init(&nb, Some(&local), &spec).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "physical network physnet is already mapped to bridge br-eth9, not br-ex"
    );
    assert_eq!(dump(&central), d_pepsi);
    assert_eq!(blocking(|| ovs.dump()).unwrap(), o);
    synced(&central);
}

#[tokio::test(flavor = "multi_thread")]
async fn physical_interface_mode_plugs_the_interface_into_br_int() {
    let central = blocking(OvnCentral::start).unwrap();
    let ovs = blocking(|| LocalOvs::start("mesos-master")).unwrap();
    let nb = nb_client(&central).await;
    let local = ovs_client(&ovs).await;
    tenant_init(&nb, &tenant("coke")).await.unwrap();
    synced(&central);
    let (d0, o0) = (dump(&central), blocking(|| ovs.dump()).unwrap());

    let spec = gateway(
        "coke",
        "10.10.1.12/24",
        None,
        GatewayMode::PhysicalInterface {
            iface: "enp0s9".into(),
        },
    );
    gateway_init(&nb, Some(&local), &spec).await.unwrap();
    let vsctl = |args: &[&str]| blocking(|| ovs.vsctl(args)).unwrap();
    assert_eq!(vsctl(&["list-ports", "br-int"]), "enp0s9");
    assert_eq!(
        vsctl(&["get", "Interface", "enp0s9", "external_ids:iface-id"]),
        "enp0s9_mesos-master"
    );
    assert_eq!(vsctl(&["get", "Bridge", "br-int", "fail_mode"]), "secure");
    assert_eq!(
        nbctl(&central, &["lsp-get-addresses", "enp0s9_mesos-master"]),
        "unknown"
    );
    assert_eq!(
        nbctl(&central, &["lsp-get-ls", "enp0s9_mesos-master"])
            .split_whitespace()
            .last(),
        Some("(ext_coke_mesos-master)")
    );
    synced(&central);

    let (d, o) = (dump(&central), blocking(|| ovs.dump()).unwrap());
    let again = gateway_init(&nb, Some(&local), &spec).await.unwrap();
    assert!(again.nb.is_empty() && again.ovs.is_empty());
    assert_eq!((dump(&central), blocking(|| ovs.dump()).unwrap()), (d, o));

    let del = gateway_delete(&nb, Some(&local), "coke", None)
        .await
        .unwrap();
    assert_eq!(del.ovs.changes.len(), 1, "{}", del.ovs);
    assert_eq!(vsctl(&["list-ports", "br-int"]), "");
    assert_eq!(dump(&central), d0, "the NB is as before gateway-init");
    assert_ne!(
        blocking(|| ovs.dump()).unwrap(),
        o0,
        "br-int stays (ovn-controller's bridge)"
    );
    synced(&central);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_delete_removes_exactly_the_rows_its_init_created() {
    let central = blocking(OvnCentral::start).unwrap();
    let nb = nb_client(&central).await;
    synced(&central);
    let empty = dump(&central);

    // Step by step, each delete undoes its init.
    tenant_init(&nb, &tenant("coke")).await.unwrap();
    let tenant_only = dump(&central);
    gateway_init(
        &nb,
        None,
        &gateway(
            "coke",
            "10.10.1.12/24",
            Some("mesos-master"),
            localnet(None),
        ),
    )
    .await
    .unwrap();
    let with_gateway = dump(&central);
    network_init(&nb, &network("coke", "coke1", "192.168.1.0/24"))
        .await
        .unwrap();
    synced(&central);
    network_delete(&nb, "coke", "coke1", false).await.unwrap();
    assert_eq!(dump(&central), with_gateway, "network-delete");
    gateway_delete(&nb, None, "coke", Some("mesos-master"))
        .await
        .unwrap();
    assert_eq!(dump(&central), tenant_only, "gateway-delete");
    tenant_delete(&nb, "coke", false).await.unwrap();
    assert_eq!(dump(&central), empty, "tenant-delete");
    synced(&central);

    // A network with task ports: refused, then forced.
    seed(&nb).await;
    let seeded = dump(&central);
    network_init(&nb, &network("coke", "coke2", "192.168.2.0/24"))
        .await
        .unwrap();
    nbctl(
        &central,
        &[
            "lsp-add",
            "coke2",
            "task-1",
            "--",
            "lsp-set-addresses",
            "task-1",
            "0a:58:c0:a8:02:02 192.168.2.2",
        ],
    );
    nb.wait_until(
        "task-1 in the cache",
        std::time::Duration::from_secs(10),
        |c| ovn::nb::find_by_name::<ovn::nb::LogicalSwitchPort>(c, "task-1").is_some(),
    )
    .await
    .unwrap();
    let before = dump(&central);
    let e = network_delete(&nb, "coke", "coke2", false)
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "network coke2 still has 1 task port(s) (task-1); stop the tasks or force the delete"
    );
    assert_eq!(dump(&central), before);
    network_delete(&nb, "coke", "coke2", true).await.unwrap();
    assert_eq!(dump(&central), seeded, "forced network-delete");
    synced(&central);

    // Everything of both tenants, cascading.
    for t in ["coke", "pepsi"] {
        tenant_delete(&nb, t, true).await.unwrap();
    }
    assert_eq!(dump(&central), empty, "tenant-delete --cascade");
    synced(&central);
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_commands_leave_the_database_unchanged() {
    let central = blocking(OvnCentral::start).unwrap();
    let nb = nb_client(&central).await;
    seed(&nb).await;
    nbctl(&central, &["ls-add", "manual"]);
    nb.wait_until(
        "switch manual in the cache",
        std::time::Duration::from_secs(10),
        |c| ovn::nb::find_by_name::<ovn::nb::LogicalSwitch>(c, "manual").is_some(),
    )
    .await
    .unwrap();
    let before = dump(&central);
    // tenant-init stored the default service subnet on the tenant router
    assert_eq!(
        nb.read(|c| ovn::topology::tenant_service_subnet(c, "coke")),
        Some(cidr("10.96.0.0/16"))
    );

    let gw = |t: &str, phys: &str| gateway(t, phys, Some("mesos-master"), localnet(None));
    let mut bad_gw = gw("coke", "10.10.1.12/24");
    bad_gw.default_gw = Ipv4Addr::new(10, 10, 9, 1);
    let mut other_cluster = gw("coke", "10.10.1.12/24");
    other_cluster.cluster_subnet = Some(cidr("172.16.0.0/16"));
    let cases: Vec<(&str, Result<(), TopologyError>, &str)> = vec![
        (
            "network before tenant-init",
            network_init(&nb, &network("sprite", "sprite1", "192.168.1.0/24")).await.map(drop),
            "tenant sprite does not exist (run tenant-init first)",
        ),
        (
            "gateway before tenant-init",
            gateway_init(&nb, None, &gw("sprite", "10.10.1.40/24")).await.map(drop),
            "tenant sprite does not exist (run tenant-init first)",
        ),
        (
            "subnet outside the cluster subnet",
            network_init(&nb, &network("coke", "coke9", "10.1.0.0/24")).await.map(drop),
            "subnet 10.1.0.0/24 of network coke9 is outside cluster subnet 192.168.0.0/16 of tenant coke",
        ),
        (
            "overlapping networks of one tenant",
            network_init(&nb, &network("coke", "coke2", "192.168.1.0/25")).await.map(drop),
            "subnet 192.168.1.0/25 of network coke2 overlaps network coke1 (192.168.1.0/24) of tenant coke",
        ),
        (
            "a changed subnet of an existing network",
            network_init(&nb, &network("coke", "coke1", "192.168.7.0/24")).await.map(drop),
            "network coke1 of tenant coke has subnet 192.168.1.0/24, not 192.168.7.0/24: a network's subnet cannot change (delete the network, then create it again)",
        ),
        (
            "a network name another tenant holds",
            network_init(&nb, &network("coke", "pepsi1", "192.168.5.0/24")).await.map(drop),
            "Logical_Switch pepsi1 already exists and belongs to network-switch of tenant pepsi, network pepsi1",
        ),
        (
            "a switch made by hand",
            network_init(&nb, &network("coke", "manual", "192.168.7.0/24")).await.map(drop),
            "Logical_Switch manual already exists and belongs to someone else (not created by ovn-mesos)",
        ),
        (
            "another cluster subnet",
            tenant_init(&nb, &TenantSpec { name: "coke".into(), cluster_subnet: Some(cidr("172.16.0.0/16")), service_subnet: None })
                .await
                .map(drop),
            "cluster subnet 172.16.0.0/16 differs from 192.168.0.0/16, the cluster subnet of tenant coke",
        ),
        (
            "another service subnet",
            tenant_init(&nb, &TenantSpec { service_subnet: Some(cidr("10.97.0.0/16")), ..tenant("coke") })
                .await
                .map(drop),
            "service subnet 10.97.0.0/16 differs from 10.96.0.0/16, the service subnet of tenant coke (a service subnet cannot change: its services keep their addresses)",
        ),
        (
            "a gateway with another cluster subnet",
            gateway_init(&nb, None, &other_cluster).await.map(drop),
            "cluster subnet 172.16.0.0/16 differs from 192.168.0.0/16, the cluster subnet of tenant coke",
        ),
        (
            "a default gateway outside the physical network",
            gateway_init(&nb, None, &bad_gw).await.map(drop),
            "default gateway 10.10.9.1 is not a host of physical network 10.10.1.12/24",
        ),
        (
            "a bad tenant name",
            tenant_init(&nb, &tenant("co/ke")).await.map(drop),
            "invalid tenant name \"co/ke\": character '/' is not one of A-Z a-z 0-9 _ . -",
        ),
        (
            "a bad network name",
            network_init(&nb, &network("coke", "-net", "192.168.3.0/24")).await.map(drop),
            "invalid network name \"-net\": it starts with '-'",
        ),
        (
            "a subnet with host bits",
            network_init(&nb, &network("coke", "coke3", "192.168.3.1/24")).await.map(drop),
            "invalid subnet 192.168.3.1/24: host bits are set (did you mean 192.168.3.0/24?)",
        ),
        (
            "a subnet in the join range",
            network_init(&nb, &network("coke", "coke4", "100.64.8.0/24")).await.map(drop),
            "invalid subnet 100.64.8.0/24: overlaps the join subnet 100.64.0.0/16",
        ),
        (
            "deleting a tenant still in use",
            tenant_delete(&nb, "coke", false).await.map(drop),
            "tenant coke still has network(s) coke1 and gateway(s) GR_coke_mesos-master; delete them first or cascade",
        ),
        (
            "deleting another tenant's network",
            network_delete(&nb, "coke", "pepsi1", true).await.map(drop),
            "Logical_Switch pepsi1 already exists and belongs to network-switch of tenant pepsi, network pepsi1",
        ),
        (
            "a gateway without a system-id and without a local OVS",
            gateway_init(&nb, None, &gateway("coke", "10.10.1.12/24", None, localnet(None))).await.map(drop),
            "no system-id: the local Open_vSwitch has no external_ids:system-id and none was given",
        ),
    ];
    for (what, result, want) in cases {
        match result {
            Ok(()) => panic!("{what}: accepted"),
            Err(e) => assert_eq!(e.to_string(), want, "{what}"),
        }
        assert_eq!(dump(&central), before, "{what}: the NB changed");
    }
    synced(&central);
}

#[tokio::test(flavor = "multi_thread")]
async fn racing_commands_from_two_clients_create_one_topology() {
    let central = blocking(OvnCentral::start).unwrap();
    let (a, b) = (nb_client(&central).await, nb_client(&central).await);
    let coke = tenant("coke");
    let (ra, rb) = tokio::join!(tenant_init(&a, &coke), tenant_init(&b, &coke));
    ra.unwrap();
    rb.unwrap();
    let routers = nbctl(
        &central,
        &[
            "--format=csv",
            "--no-headings",
            "--columns=name",
            "list",
            "Logical_Router",
        ],
    );
    assert_eq!(routers, "coke", "one tenant router, not two");

    let spec_a = gateway(
        "coke",
        "10.10.1.12/24",
        Some("mesos-master"),
        localnet(None),
    );
    let spec_b = gateway(
        "coke",
        "10.10.1.13/24",
        Some("mesos-agent2"),
        localnet(None),
    );
    let (ga, gb) = tokio::join!(
        gateway_init(&a, None, &spec_a),
        gateway_init(&b, None, &spec_b)
    );
    let (ga, gb) = (ga.unwrap(), gb.unwrap());
    assert_ne!(
        ga.join_ip, gb.join_ip,
        "a guard made the loser recompute its join address"
    );
    let mut ips = [ga.join_ip.unwrap(), gb.join_ip.unwrap()];
    ips.sort();
    assert_eq!(
        ips,
        [Ipv4Addr::new(100, 64, 0, 2), Ipv4Addr::new(100, 64, 0, 3)]
    );
    assert_eq!(
        squeeze(&nbctl(&central, &["lr-route-list", "coke"])).len(),
        4,
        "two ECMP default routes"
    );
    synced(&central);
}
