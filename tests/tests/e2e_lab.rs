//! The seed's three-host lab end to end, with real daemons: every test starts
//! its own lab (unique namespace prefix, own directory) and tears it down
//! (also on failure, through `Drop`).
//!
//! Covered: the seed's network steps with the `ovn-mesos` CLI; containers on
//! two agents over geneve (ping, TCP, 1 MiB); tenant isolation on the same
//! subnet; port security against a changed IP or MAC; a gateway-router VIP
//! written with `ovn::services::ensure_service` answering `curl` from
//! `outside` with both backends; teardown and `cleanup_stale` leaving no
//! namespace, daemon or directory.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use mesos_proto::v1::TaskState;
use ovn::nb::NB_DB;
use ovn::ovsdb::{Client, ClientConfig};
use ovn::ports::TaskPortSpec;
use ovn::services::{ensure_service, Protocol, ServiceSpec};
use ovn::topology::monitor_nb;
use ovn_mesos_executor::attachment::{label, NETNS};
use ovn_mesos_tests::binaries::executor_binary;
use ovn_mesos_tests::lab::state::{is_running, netns_exists};
use ovn_mesos_tests::lab::{in_netns, Host, Lab};
use ovn_mesos_tests::wait_for;

#[path = "e2e_lab/support.rs"]
mod support;
#[path = "e2e_lab/task.rs"]
mod task;

use support::*;

#[test]
fn the_seed_network_steps_build_both_tenants_and_their_gateways_answer() {
    let lab = seeded();
    let routers = lab.nbctl(&["lr-list"]).unwrap();
    for r in [
        "coke",
        "pepsi",
        "GR_coke_mesos-master",
        "GR_pepsi_mesos-agent1",
    ] {
        assert!(
            routers.contains(&format!("({r})")),
            "router {r} missing:\n{routers}"
        );
    }
    for (gr, chassis) in [
        ("GR_coke_mesos-master", "mesos-master"),
        ("GR_pepsi_mesos-agent1", "mesos-agent1"),
    ] {
        let pinned = lab
            .nbctl(&["get", "Logical_Router", gr, "options:chassis"])
            .unwrap();
        assert_eq!(pinned.trim_matches('"'), chassis);
    }
    for ls in ["coke1", "pepsi1"] {
        let subnet = lab
            .nbctl(&["get", "Logical_Switch", ls, "other_config:subnet"])
            .unwrap();
        assert_eq!(subnet.trim_matches('"'), "192.168.1.0/24", "{ls}");
    }
    // The chassis script configured every host, and gateway-init plugged
    // each gateway NIC into br-ex of its own host.
    let ids = lab
        .vsctl(Host::Agent2, &["get", "Open_vSwitch", ".", "external_ids"])
        .unwrap();
    for want in [
        "system-id=mesos-agent2",
        "hostname=mesos-agent2",
        "ovn-encap-ip=\"10.10.1.15\"",
        "ovn-encap-type=geneve",
        "ovn-bridge-datapath-type=netdev",
        "ovn-remote=\"tcp:10.10.1.11:6642\"",
    ] {
        assert!(ids.contains(want), "{want} not in {ids}");
    }
    let br_int = [
        "get",
        "Bridge",
        "br-int",
        "datapath_type",
        "fail_mode",
        "other_config",
    ];
    let bridge = lab.vsctl(Host::Agent2, &br_int).unwrap();
    assert_eq!(bridge, "netdev\nsecure\n{disable-in-band=\"true\"}");
    // The script is idempotent: a second run leaves the same settings.
    lab.configure_chassis(Host::Agent2).unwrap();
    let again = lab
        .vsctl(Host::Agent2, &["get", "Open_vSwitch", ".", "external_ids"])
        .unwrap();
    assert_eq!(again, ids);
    assert_eq!(lab.vsctl(Host::Agent2, &br_int).unwrap(), bridge);
    for host in [Host::Master, Host::Agent1] {
        let ports = lab.vsctl(host, &["list-ports", "br-ex"]).unwrap();
        assert!(
            ports.lines().any(|p| p == "eth1"),
            "{host}: br-ex ports {ports}"
        );
    }
    // Both gateway routers answer on the underlay, from the outside host.
    for gw in ["10.10.1.12", "10.10.1.14"] {
        wait_for(&format!("outside to ping the gateway {gw}"), WAIT, || {
            Ok(lab.exec(Host::Outside, &["ping", "-c1", "-W1", gw]).ok())
        })
        .unwrap();
    }
    // The steps are level-triggered: a second run succeeds and changes nothing.
    let before = lab.nbctl(&["show"]).unwrap();
    lab.network_init_seed().expect("seed steps again");
    assert_eq!(lab.nbctl(&["show"]).unwrap(), before);
    lab.check_logs().unwrap();
}

#[test]
fn containers_on_two_agents_talk_across_the_geneve_tunnel() {
    let mut lab = seeded();
    let a = lab.container(Host::Agent1, "a", "coke1", None).unwrap();
    let b = lab.container(Host::Agent2, "b", "coke1", None).unwrap();
    assert_eq!(bound_chassis(&lab, "a"), "mesos-agent1");
    assert_eq!(bound_chassis(&lab, "b"), "mesos-agent2");
    wait_ping(&lab, &a, b.ip());
    wait_ping(&lab, &b, a.ip());
    http_server(&mut lab, &b);
    let url = format!("http://{}/", b.ip());
    assert_eq!(curl_from(&lab, &a, &url).unwrap(), "b");
    // Bulk: frames of the container MTU plus geneve fit the underlay.
    let big = format!("http://{}/big.bin", b.ip());
    let size = lab
        .exec_in(
            &a.netns,
            &[
                "curl",
                "-sS",
                "-m",
                "20",
                "-o",
                "/dev/null",
                "-w",
                "%{size_download}",
                &big,
            ],
        )
        .unwrap();
    assert_eq!(size, (1 << 20).to_string());
    // The traffic was encapsulated by agent1 towards agent2's endpoint.
    let flows = lab
        .vswitchd_appctl(Host::Agent1, &["dpctl/dump-flows"])
        .unwrap();
    assert!(
        flows.contains("tnl_push") && flows.contains("dst=10.10.1.15"),
        "no geneve encapsulation to 10.10.1.15 in agent1's datapath:\n{flows}"
    );
    lab.check_logs().unwrap();
}

#[test]
fn tenants_on_the_same_subnet_are_isolated() {
    let mut lab = seeded();
    let ten = Some(Ipv4Addr::new(192, 168, 1, 10));
    let twenty = Some(Ipv4Addr::new(192, 168, 1, 20));
    let coke_a = lab.container(Host::Agent1, "coke-a", "coke1", ten).unwrap();
    let pepsi_b = lab
        .container(Host::Agent2, "pepsi-b", "pepsi1", twenty)
        .unwrap();
    let router = Ipv4Addr::new(192, 168, 1, 1);
    // Both are up on their own tenant's network...
    wait_ping(&lab, &coke_a, router);
    wait_ping(&lab, &pepsi_b, router);
    // ...and cannot reach each other although they share 192.168.1.0/24.
    assert_unreachable(&lab, &coke_a, pepsi_b.ip());
    assert_unreachable(&lab, &pepsi_b, coke_a.ip());
    // A coke container at pepsi-b's address is reachable for coke only.
    let coke_c = lab
        .container(Host::Agent2, "coke-c", "coke1", twenty)
        .unwrap();
    wait_ping(&lab, &coke_a, coke_c.ip());
    http_server(&mut lab, &coke_c);
    assert_eq!(
        curl_from(&lab, &coke_a, "http://192.168.1.20/").unwrap(),
        "coke-c"
    );
    assert_unreachable(&lab, &pepsi_b, coke_a.ip());
    lab.check_logs().unwrap();
}

#[test]
fn port_security_drops_a_container_that_changes_its_ip_or_mac() {
    let mut lab = seeded();
    let a = lab.container(Host::Agent1, "a", "coke1", None).unwrap();
    let b = lab.container(Host::Agent2, "b", "coke1", None).unwrap();
    wait_ping(&lab, &a, b.ip());
    let own = format!("{}/24", a.ip());
    let ip = |args: &[&str]| {
        let mut argv = vec!["ip"];
        argv.extend_from_slice(args);
        lab.exec_in(&a.netns, &argv).unwrap();
    };
    // Another IP on the same subnet.
    ip(&["addr", "del", &own, "dev", "eth0"]);
    ip(&["addr", "add", "192.168.1.77/24", "dev", "eth0"]);
    assert_unreachable(&lab, &a, b.ip());
    ip(&["addr", "del", "192.168.1.77/24", "dev", "eth0"]);
    ip(&["addr", "add", &own, "dev", "eth0"]);
    wait_ping(&lab, &a, b.ip());
    // Another MAC.
    ip(&["link", "set", "eth0", "address", "0a:58:c0:a8:01:ee"]);
    assert_unreachable(&lab, &a, b.ip());
    ip(&["link", "set", "eth0", "address", &a.mac()]);
    wait_ping(&lab, &a, b.ip());
    lab.check_logs().unwrap();
}

#[test]
fn a_vip_on_the_coke_gateway_router_answers_outside_with_both_backends() {
    let mut lab = seeded();
    let a = lab.container(Host::Agent1, "web-a", "coke1", None).unwrap();
    let b = lab.container(Host::Agent2, "web-b", "coke1", None).unwrap();
    http_server(&mut lab, &a);
    http_server(&mut lab, &b);
    let spec = ServiceSpec {
        tenant: "coke".into(),
        name: "web".into(),
        protocol: Protocol::Tcp,
        port: 32350,
        backends: vec![SocketAddrV4::new(a.ip(), 80), SocketAddrV4::new(b.ip(), 80)],
        cluster_ip: None,
        dns_name: None,
        health: None,
    };
    let remote = lab.nb_unix_remote();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let config = ovn::services::monitor_services(monitor_nb(
                ClientConfig::new(&remote, NB_DB).unwrap(),
            ));
            let nb = Client::connect(config).await.unwrap();
            ensure_service(&nb, &spec).await.unwrap();
            nb.close().await;
        });
    let vips = lab.nbctl(&["lb-list"]).unwrap();
    assert!(vips.contains("10.10.1.12:32350"), "{vips}");
    let mut answers = Vec::new();
    wait_for(
        "20+ answers from 10.10.1.12:32350 naming both backends",
        Duration::from_secs(30),
        || {
            answers.push(lab.curl("http://10.10.1.12:32350/")?);
            let seen: BTreeSet<&str> = answers.iter().map(String::as_str).collect();
            Ok((answers.len() >= 20 && seen.len() == 2).then_some(()))
        },
    )
    .unwrap();
    assert!(
        answers.iter().all(|s| s == "web-a" || s == "web-b"),
        "{answers:?}"
    );
    lab.check_logs().unwrap();
}

#[test]
fn a_task_launched_through_the_lab_agent_is_plugged_into_that_host() {
    let mut lab = seeded();
    let client = lab
        .container(Host::Agent2, "client", "coke1", None)
        .unwrap();
    let port = lab
        .create_task_port(&TaskPortSpec {
            switch: "coke1".into(),
            task_id: "web-1".into(),
            framework_id: "ovn-mesos-lab-e2e".into(),
            service: None,
            requested_chassis: Some(Host::Agent1.name().into()),
            ip: None,
            agent: None,
            version: None,
        })
        .unwrap();
    let www = lab.dir().join("www-task");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), "task web-1\n").unwrap();
    let command = format!(
        "exec /usr/bin/python3 -m http.server 8080 --directory {}",
        www.display()
    );
    let executor = executor_binary().unwrap().display().to_string();
    let master = lab.mesos_master();
    let lab = &lab;
    // The scheduler talks to 10.10.1.11:5050 from inside mesos-master.
    in_netns(&lab.netns(Host::Master), || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut s = task::Scheduler::subscribe(&master).await;
            s.launch(Host::Agent1.name(), "web-1", &port, &executor, &command)
                .await;
            let running = s.until("web-1", TaskState::TaskRunning).await;
            let ni = running
                .container_status
                .expect("container_status")
                .network_infos[0]
                .clone();
            assert_eq!(ni.ip_addresses[0].ip_address, Some(port.ip.to_string()));
            let ns = label(ni.labels.as_ref(), NETNS).expect("the task's netns");
            // The executor plugged the task into agent1's br-int (its veth
            // host end in agent1's namespace) and ovn-controller bound it there.
            let ports = lab.vsctl(Host::Agent1, &["list-ports", "br-int"]).unwrap();
            assert!(
                ports.lines().any(|p| p.starts_with("ovnm")),
                "agent1 br-int: {ports}"
            );
            assert_eq!(bound_chassis(lab, "web-1"), "mesos-agent1");
            let url = format!("http://{}:8080/", port.ip);
            let body = wait_for(&format!("{url} from the container on agent2"), WAIT, || {
                Ok(curl_from(lab, &client, &url).ok())
            })
            .unwrap();
            assert_eq!(body, "task web-1");
            s.teardown().await;
            wait_for(
                "the task's port, veth and netns to be removed",
                WAIT,
                || {
                    let ports = lab.vsctl(Host::Agent1, &["list-ports", "br-int"])?;
                    Ok((!ports.contains("ovnm") && !netns_exists(&ns)).then_some(()))
                },
            )
            .unwrap();
        })
    })
    .unwrap();
}

#[test]
fn stopping_a_lab_leaves_no_namespace_veth_daemon_or_directory() {
    let (mut lab, state) = busy_lab();
    let took = lab.stop().unwrap();
    eprintln!("lab {} stopped in {} ms", state.prefix, took.as_millis());
    assert_gone(&state);
    assert_eq!(
        lab.stop().unwrap(),
        Duration::ZERO,
        "a second stop is a no-op"
    );
}

#[test]
fn cleanup_stale_removes_a_lab_whose_owner_was_killed() {
    let (lab, state) = busy_lab();
    // The owner goes away without tearing anything down.
    std::mem::forget(lab);
    assert!(state.processes.iter().all(is_running));
    let t = Instant::now();
    assert!(Lab::cleanup_stale(&state.dir).unwrap(), "state found");
    eprintln!(
        "stale lab {} cleaned in {} ms",
        state.prefix,
        t.elapsed().as_millis()
    );
    assert_gone(&state);
    assert!(
        !Lab::cleanup_stale(&state.dir).unwrap(),
        "nothing left to clean"
    );
}
