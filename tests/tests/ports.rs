//! Task ports against a real NB: addresses from the subnet skipping the router,
//! excluded, static and northd-assigned addresses; a full subnet that leaves
//! nothing behind; fresh processes rebuilding IPAM from the NB; concurrent
//! allocation from several clients and several processes without a duplicate;
//! the `_version` guard refusing a stale plan; batches in one transaction;
//! deletion; the agent and definition version a port names, read back.
//!
//! Other processes are this test binary run again on the ignored test
//! `ports_child_process`, which provisions ports as its environment says.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use ovn::nb::NB_DB;
use ovn::ovsdb::{Client, ClientConfig, Datum, Error, OpErrorKind};
use ovn::ports::{
    commit_task_ports_batch, create_task_port, create_task_ports_batch, delete_task_port,
    list_task_ports, plan_task_port, reserve_monitor_ip, PortAgent, PortError, TaskPort,
    TaskPortSpec,
};
use ovn::topology::{monitor_nb, network_init, tenant_init, NetworkSpec, TenantSpec};
use ovn_mesos_tests::OvnCentral;

const CHILD_NB: &str = "OVN_MESOS_TEST_CHILD_NB";
const CHILD_TASKS: &str = "OVN_MESOS_TEST_CHILD_TASKS";

fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

fn nbctl(central: &OvnCentral, args: &[&str]) -> String {
    blocking(|| central.nbctl(args)).unwrap()
}

/// `tenant-init coke` and `network-init coke1` (`subnet`; the tenant router
/// port takes its first host), then `exclude_ips` set by hand if given.
async fn add_network(nb: &Client, central: &OvnCentral, subnet: &str, exclude: Option<&str>) {
    let tenant = TenantSpec {
        name: "coke".into(),
        cluster_subnet: Some("192.168.0.0/16".parse().unwrap()),
        service_subnet: None,
    };
    tenant_init(nb, &tenant).await.unwrap();
    let net = NetworkSpec {
        tenant: "coke".into(),
        name: "coke1".into(),
        subnet: subnet.parse().unwrap(),
    };
    network_init(nb, &net).await.unwrap();
    if let Some(e) = exclude {
        let kv = format!("other_config:exclude_ips=\"{e}\"");
        nbctl(central, &["set", "logical_switch", "coke1", &kv]);
        nb.wait_until("exclude_ips in the cache", Duration::from_secs(10), |c| {
            c.find("Logical_Switch", "name", &Datum::string("coke1"))
                .first()
                .and_then(|(_, r)| r.get("other_config"))
                .is_some_and(|oc| oc.string_map_value().contains_key("exclude_ips"))
        })
        .await
        .unwrap();
    }
}

async fn connect(remote: &str) -> Client {
    let config = monitor_nb(ClientConfig::new(remote, NB_DB).unwrap());
    Client::connect(config).await.unwrap()
}

fn spec(task: &str) -> TaskPortSpec {
    TaskPortSpec {
        switch: "coke1".into(),
        task_id: task.into(),
        framework_id: "fw-1".into(),
        service: Some("web".into()),
        requested_chassis: Some("agent1".into()),
        ip: None,
        agent: None,
        version: None,
    }
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// The IPv4 address of every port on `coke1` according to `ovn-nbctl`, for
/// static and dynamic ports alike.
fn nb_addresses(central: &OvnCentral) -> Vec<Ipv4Addr> {
    let ports = nbctl(
        central,
        &[
            "--bare",
            "--columns=addresses,dynamic_addresses",
            "list",
            "Logical_Switch_Port",
        ],
    );
    ports
        .split_whitespace()
        .filter_map(|w| w.trim_matches('"').parse::<Ipv4Addr>().ok())
        .collect()
}

fn assert_distinct(ips: &[Ipv4Addr]) {
    let set: BTreeSet<&Ipv4Addr> = ips.iter().collect();
    assert_eq!(set.len(), ips.len(), "duplicate address among {ips:?}");
}

/// The database log records (`ovsdb-tool show-log`) that insert a port named
/// like `name_prefix`.
fn insert_records(central: &OvnCentral, name_prefix: &str) -> BTreeSet<String> {
    let db = central.dir().join("nb.db");
    let out = std::process::Command::new("ovsdb-tool")
        .args(["show-log", "-m"])
        .arg(&db)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut record = String::new();
    let mut found = BTreeSet::new();
    let needle = format!("Logical_Switch_Port insert row \"{name_prefix}");
    for line in text.lines() {
        if line.starts_with("record ") {
            record = line.split(':').next().unwrap_or_default().to_owned();
        } else if line.contains(&needle) {
            found.insert(record.clone());
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn ports_get_distinct_addresses_around_router_excluded_static_and_dynamic_ones() {
    let central = blocking(OvnCentral::start).unwrap();
    let nb = connect(&central.nb_remote()).await;
    add_network(
        &nb,
        &central,
        "192.168.1.0/24",
        Some("192.168.1.2..192.168.1.4"),
    )
    .await;
    nbctl(
        &central,
        &[
            "lsp-add",
            "coke1",
            "manual",
            "--",
            "lsp-set-addresses",
            "manual",
            "0a:00:00:00:00:05 192.168.1.5",
        ],
    );
    nbctl(
        &central,
        &[
            "lsp-add",
            "coke1",
            "dyn",
            "--",
            "lsp-set-addresses",
            "dyn",
            "dynamic",
        ],
    );
    blocking(|| central.sync_sb()).unwrap();
    nb.wait_until(
        "northd's dynamic address for port dyn",
        Duration::from_secs(10),
        |c| {
            c.find("Logical_Switch_Port", "name", &Datum::string("dyn"))
                .first()
                .and_then(|(_, r)| r.get("dynamic_addresses")?.as_str().map(str::to_owned))
                .is_some()
        },
    )
    .await
    .unwrap();
    let dynamic = nbctl(
        &central,
        &[
            "--bare",
            "--columns=dynamic_addresses",
            "list",
            "Logical_Switch_Port",
            "dyn",
        ],
    );
    let dynamic_ip: Ipv4Addr = dynamic
        .trim_matches('"')
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();

    let mut got = Vec::new();
    for i in 0..6 {
        got.push(
            create_task_port(&nb, &spec(&format!("web.{i}")))
                .await
                .unwrap(),
        );
    }
    let ips: Vec<Ipv4Addr> = got.iter().map(|p| p.ip).collect();
    assert_distinct(&ips);
    for taken in [
        "192.168.1.1",
        "192.168.1.2",
        "192.168.1.3",
        "192.168.1.4",
        "192.168.1.5",
    ] {
        assert!(!ips.contains(&ip(taken)), "{taken} was handed out: {ips:?}");
    }
    assert!(
        !ips.contains(&dynamic_ip),
        "northd's {dynamic_ip} was handed out"
    );
    let p = &got[0];
    assert_eq!(
        (p.gateway, p.prefix_len, p.tenant.as_str()),
        (ip("192.168.1.1"), 24, "coke")
    );
    assert_eq!(p.mac, ovn::ipam::mac_for_ip(p.ip));
    let want = format!("{} {}", p.mac, p.ip);
    assert_eq!(nbctl(&central, &["lsp-get-addresses", "web.0"]), want);
    assert_eq!(nbctl(&central, &["lsp-get-port-security", "web.0"]), want);
    assert_eq!(
        nbctl(&central, &["lsp-get-options", "web.0"]),
        "requested-chassis=agent1"
    );
    assert_eq!(insert_records(&central, "web.0").len(), 1);

    // The same task again: the same port, no transaction. (northd writes
    // `up` into new ports: let it finish before taking the dump.)
    blocking(|| central.sync_sb()).unwrap();
    let before = blocking(|| central.nb_dump()).unwrap();
    let again = create_task_port(&nb, &spec("web.0")).await.unwrap();
    assert_eq!(&again, p);
    assert_eq!(blocking(|| central.nb_dump()).unwrap(), before);

    let listed: Vec<String> = nb
        .read(list_task_ports)
        .iter()
        .map(|p| p.name.clone())
        .collect();
    assert_eq!(
        listed,
        (0..6).map(|i| format!("web.{i}")).collect::<Vec<_>>()
    );

    // A port names the agent and the definition version of its task: what
    // a scheduler with only the NB (a new leader) reads back.
    let mut s = spec("web.6");
    s.agent = Some(PortAgent {
        id: "a1-S0".into(),
        hostname: "mesos-agent1".into(),
    });
    s.version = Some("0123456789abcdef".into());
    create_task_port(&nb, &s).await.unwrap();
    for (key, want) in [
        ("ovn-mesos/agent-id", "a1-S0"),
        ("ovn-mesos/hostname", "mesos-agent1"),
        ("ovn-mesos/version", "0123456789abcdef"),
    ] {
        let got = nbctl(
            &central,
            &[
                "get",
                "Logical_Switch_Port",
                "web.6",
                &format!("external_ids:\"{key}\""),
            ],
        );
        assert_eq!(got.trim().trim_matches('"'), want, "external_ids:{key}");
    }
    let read = nb
        .read(list_task_ports)
        .into_iter()
        .find(|p| p.name == "web.6")
        .expect("web.6 listed");
    assert_eq!((read.agent, read.version), (s.agent, s.version));
    assert_distinct(&nb_addresses(&central));
    blocking(|| central.check_logs()).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_subnet_is_an_error_that_leaves_nothing_half_created() {
    let central = blocking(OvnCentral::start).unwrap();
    let nb = connect(&central.nb_remote()).await;
    add_network(&nb, &central, "192.168.1.0/29", None).await;
    for i in 0..3 {
        create_task_port(&nb, &spec(&format!("t{i}")))
            .await
            .unwrap();
    }
    // Two addresses left (.5, .6): a batch of three fails as a whole.
    blocking(|| central.sync_sb()).unwrap();
    let before = blocking(|| central.nb_dump()).unwrap();
    let batch: Vec<TaskPortSpec> = (3..6).map(|i| spec(&format!("t{i}"))).collect();
    let e = create_task_ports_batch(&nb, &batch).await.unwrap_err();
    assert!(matches!(e, PortError::SubnetFull { .. }), "{e:?}");
    assert_eq!(
        blocking(|| central.nb_dump()).unwrap(),
        before,
        "the failed batch wrote something"
    );
    for i in 3..5 {
        create_task_port(&nb, &spec(&format!("t{i}")))
            .await
            .unwrap();
    }
    let e = create_task_port(&nb, &spec("t5")).await.unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, PortError::SubnetFull { .. }), "{e:?}");
    assert!(
        text.contains("coke1") && text.contains("192.168.1.0/29"),
        "{text}"
    );
    assert!(!nbctl(&central, &["lsp-list", "coke1"]).contains("t5"));

    for (sw, want) in [
        ("pepsi1", "does not exist"),
        ("join", "not an ovn-mesos network"),
    ] {
        nbctl(&central, &["--may-exist", "ls-add", "join"]);
        let mut s = spec("x");
        s.switch = sw.into();
        let e = create_task_port(&nb, &s).await.unwrap_err();
        assert!(
            e.to_string().contains(want) && e.to_string().contains(sw),
            "{e}"
        );
    }
    blocking(|| central.check_logs()).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_network_reserves_its_health_check_source_address_once_and_ipam_skips_it() {
    let central = blocking(OvnCentral::start).unwrap();
    let nb = connect(&central.nb_remote()).await;
    // /29: the router has .1, tasks may have .2-.6
    add_network(&nb, &central, "192.168.1.0/29", None).await;
    // a network made before reservations, whose last address a task holds
    let mut last = spec("holds-the-last");
    last.ip = Some(ip("192.168.1.6"));
    create_task_port(&nb, &last).await.unwrap();
    let reserved = reserve_monitor_ip(&nb, "coke1").await.unwrap();
    assert_eq!(reserved, ip("192.168.1.5"), "the highest free address");
    assert_eq!(
        nbctl(
            &central,
            &["get", "Logical_Switch", "coke1", "other_config:exclude_ips"]
        )
        .trim(),
        "\"192.168.1.5\""
    );
    assert_eq!(
        nbctl(
            &central,
            &[
                "get",
                "Logical_Switch",
                "coke1",
                "external_ids:\"ovn-mesos/svc-monitor-ip\""
            ]
        )
        .trim(),
        "\"192.168.1.5\""
    );
    // asked again: the same address, nothing written; network-init again
    // keeps the reservation (the keys it does not own stay)
    blocking(|| central.sync_sb()).unwrap();
    let before = blocking(|| central.nb_dump()).unwrap();
    assert_eq!(reserve_monitor_ip(&nb, "coke1").await.unwrap(), reserved);
    let net = NetworkSpec {
        tenant: "coke".into(),
        name: "coke1".into(),
        subnet: "192.168.1.0/29".parse().unwrap(),
    };
    let report = network_init(&nb, &net).await.unwrap();
    assert!(report.is_empty(), "{report:?}");
    assert_eq!(blocking(|| central.nb_dump()).unwrap(), before);
    // IPAM hands out .2-.4 and then refuses, never .5
    let mut got = Vec::new();
    for i in 0..3 {
        got.push(
            create_task_port(&nb, &spec(&format!("t{i}")))
                .await
                .unwrap()
                .ip,
        );
    }
    assert_eq!(
        got,
        [ip("192.168.1.2"), ip("192.168.1.3"), ip("192.168.1.4")]
    );
    let e = create_task_port(&nb, &spec("t3")).await.unwrap_err();
    assert!(matches!(e, PortError::SubnetFull { .. }), "{e:?}");
    // an unknown network is an error naming it
    let e = reserve_monitor_ip(&nb, "pepsi1").await.unwrap_err();
    assert!(e.to_string().contains("pepsi1"), "{e}");
    blocking(|| central.check_logs()).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_is_one_transaction_and_delete_removes_port_and_reference() {
    let central = blocking(OvnCentral::start).unwrap();
    let nb = connect(&central.nb_remote()).await;
    add_network(&nb, &central, "192.168.1.0/24", None).await;
    let batch: Vec<TaskPortSpec> = (0..10).map(|i| spec(&format!("b{i}"))).collect();
    let ports = create_task_ports_batch(&nb, &batch).await.unwrap();
    assert_distinct(&ports.iter().map(|p| p.ip).collect::<Vec<_>>());
    assert_eq!(
        insert_records(&central, "b").len(),
        1,
        "the batch took several transactions"
    );

    let victim = &ports[3];
    assert!(delete_task_port(&nb, &victim.name).await.unwrap());
    assert!(!nbctl(&central, &["lsp-list", "coke1"]).contains("(b3)"));
    let refs = nbctl(
        &central,
        &[
            "--bare",
            "--columns=ports",
            "list",
            "Logical_Switch",
            "coke1",
        ],
    );
    assert!(!refs.contains(&victim.uuid.to_string()), "{refs}");
    assert!(nbctl(&central, &["find", "Logical_Switch_Port", "name=b3"]).is_empty());
    assert!(!delete_task_port(&nb, &victim.name).await.unwrap());
    let e = delete_task_port(&nb, "stor-coke1").await.unwrap_err();
    assert!(matches!(e, PortError::NotATaskPort { .. }), "{e:?}");

    // A kept address after a restart: the task gets its old IP back.
    let mut keep = spec("b3");
    keep.ip = Some(victim.ip);
    assert_eq!(create_task_port(&nb, &keep).await.unwrap().ip, victim.ip);
    let mut clash = spec("c0");
    clash.ip = Some(ports[0].ip);
    let e = create_task_port(&nb, &clash).await.unwrap_err();
    assert!(matches!(e, PortError::IpUnavailable { .. }), "{e:?}");
    blocking(|| central.check_logs()).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn committed_ports_exist_at_once_and_hold_their_switch_until_the_cache_shows_them() {
    let central = blocking(OvnCentral::start).unwrap();
    let nb = connect(&central.nb_remote()).await;
    add_network(&nb, &central, "192.168.1.0/24", None).await;
    let batch = [spec("k0"), spec("k1")];
    let (ports, committed) = commit_task_ports_batch(&nb, &batch).await.unwrap();
    // Committed: another client (ovn-nbctl) sees them before this one waited.
    let listed = nbctl(&central, &["lsp-list", "coke1"]);
    assert!(
        listed.contains("(k0)") && listed.contains("(k1)"),
        "{listed}"
    );
    // The switch is held: another allocation on it cannot choose an address
    // until the first ports are in this client's cache.
    let held = tokio::time::timeout(
        Duration::from_millis(200),
        create_task_port(&nb, &spec("k2")),
    )
    .await;
    assert!(
        held.is_err(),
        "allocated while the switch was held: {held:?}"
    );
    committed.visible().await.unwrap();
    for p in &ports {
        let cached = nb.read(|c| {
            c.find(
                "Logical_Switch_Port",
                "name",
                &Datum::string(p.name.as_str()),
            )
            .len()
        });
        assert_eq!(cached, 1, "{} not in the cache", p.name);
    }
    let third = create_task_port(&nb, &spec("k2")).await.unwrap();
    assert_distinct(&[ports[0].ip, ports[1].ip, third.ip]);
    assert_eq!(nb_addresses(&central).len(), 3);
    blocking(|| central.check_logs()).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_made_from_a_stale_cache_is_refused_by_the_switch_guard() {
    let central = blocking(OvnCentral::start).unwrap();
    let nb = connect(&central.nb_remote()).await;
    add_network(&nb, &central, "192.168.1.0/24", None).await;
    let (txn, planned) = nb.read(|c| plan_task_port(c, &spec("late"))).unwrap();
    let txn = txn.expect("a new port needs a transaction");
    // Another process adds a port with exactly that address meanwhile.
    let address = format!("{} {}", planned.mac, planned.ip);
    nbctl(
        &central,
        &[
            "lsp-add",
            "coke1",
            "other",
            "--",
            "lsp-set-addresses",
            "other",
            &address,
        ],
    );
    let e = nb.transact(&txn).await.unwrap_err();
    assert!(
        matches!(
            e,
            Error::Op {
                kind: OpErrorKind::TimedOut,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(nbctl(&central, &["find", "Logical_Switch_Port", "name=late"]).is_empty());
    // The real call recomputes from the cache and avoids the address.
    let port = create_task_port(&nb, &spec("late")).await.unwrap();
    assert_ne!(port.ip, planned.ip);
    assert_distinct(&nb_addresses(&central));
}

/// Provisions `count` ports named `<prefix>.<i>` from `clients` concurrently.
async fn provision(clients: &[Client], prefix: &str, count: usize) -> Vec<TaskPort> {
    let tasks: Vec<_> = (0..count)
        .map(|i| {
            let nb = clients[i % clients.len()].clone();
            let s = spec(&format!("{prefix}.{i}"));
            tokio::spawn(async move { create_task_port(&nb, &s).await })
        })
        .collect();
    let mut ports = Vec::new();
    for t in tasks {
        ports.push(t.await.unwrap().unwrap());
    }
    ports
}

/// Runs this binary's `ports_child_process` in a new process.
async fn child(remote: &str, prefix: &str, count: usize) -> Vec<Ipv4Addr> {
    let out = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "ports_child_process",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_NB, remote)
        .env(CHILD_TASKS, format!("{prefix}:{count}"))
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ips: Vec<Ipv4Addr> = stdout
        .lines()
        // The test harness may print "test ... " on the same line first.
        .filter_map(|l| l.split_once("PORT ").map(|(_, rest)| rest))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
        .collect();
    assert_eq!(ips.len(), count, "child output:\n{stdout}");
    ips
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "run by other tests as a separate process"]
async fn ports_child_process() {
    let remote = std::env::var(CHILD_NB).expect("run by the ports tests only");
    let tasks = std::env::var(CHILD_TASKS).unwrap();
    let (prefix, count) = tasks.split_once(':').unwrap();
    let nb = connect(&remote).await;
    for p in provision(
        &[nb.clone(), connect(&remote).await],
        prefix,
        count.parse().unwrap(),
    )
    .await
    {
        println!("PORT {} {}", p.name, p.ip);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn clients_and_processes_allocating_at_once_never_share_an_address() {
    let central = blocking(OvnCentral::start).unwrap();
    add_network(
        &connect(&central.nb_remote()).await,
        &central,
        "192.168.1.0/24",
        None,
    )
    .await;
    let remote = central.nb_remote();

    // A process that ran before (and exited): its ports are in the NB only.
    let mut all = child(&remote, "first", 3).await;
    // 20 concurrent calls from two clients of this process, while two other
    // processes do the same on the same switch.
    let clients = [connect(&remote).await, connect(&remote).await];
    let (here, a, b) = tokio::join!(
        provision(&clients, "here", 20),
        child(&remote, "pa", 10),
        child(&remote, "pb", 10)
    );
    all.extend(here.iter().map(|p| p.ip));
    all.extend(a);
    all.extend(b);
    assert_eq!(all.len(), 43);
    assert_distinct(&all);
    let in_nb = nb_addresses(&central);
    assert_eq!(
        in_nb.len(),
        43,
        "43 task ports (the router port has none): {in_nb:?}"
    );
    assert_distinct(&in_nb);

    // A fresh client after all of that still sees every used address.
    let fresh = connect(&remote).await;
    let next = create_task_port(&fresh, &spec("last")).await.unwrap();
    assert!(!all.contains(&next.ip));
    blocking(|| central.check_logs()).unwrap();
}
