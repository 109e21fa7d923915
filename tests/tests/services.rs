//! Service load balancers against real ovsdb-server and ovn-northd: the seed's
//! `lb-add coke 10.10.1.12:32350 192.168.1.2:80,192.168.1.3:80` + `lr-lb-add`
//! done by `ensure_service`, backend replacement in one transaction, lookups,
//! idempotency, empty backends (reject), a gateway added later, the repair
//! pass, and deletion.

use std::net::SocketAddrV4;

use ovn::nb::NB_DB;
use ovn::ovsdb::{Client, ClientConfig};
use ovn::services::{
    delete_fabric, delete_service, ensure_fabric, ensure_service, find_service, list_services,
    reconcile_services, ClusterIp, Protocol, ReconcileScope, ServiceChange, ServiceError,
    ServiceKey, ServiceSpec,
};
use ovn::topology::{
    gateway_init, monitor_nb, network_init, tenant_init, GatewayMode, GatewaySpec, NetworkSpec,
    TenantSpec,
};
use ovn_mesos_tests::OvnCentral;
use serde_json::Value;

/// Runs a blocking harness call without stalling the client's tasks.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

fn nbctl(central: &OvnCentral, args: &[&str]) -> String {
    blocking(|| central.nbctl(args)).unwrap()
}

/// `tenant-init` and `network-init` (switch `<tenant>1`, 192.168.`octet`.0/24).
async fn add_tenant(nb: &Client, tenant: &str, octet: u8) {
    let spec = TenantSpec {
        name: tenant.into(),
        cluster_subnet: Some("192.168.0.0/16".parse().unwrap()),
        service_subnet: None,
    };
    tenant_init(nb, &spec).await.unwrap();
    let net = NetworkSpec {
        tenant: tenant.into(),
        name: format!("{tenant}1"),
        subnet: format!("192.168.{octet}.0/24").parse().unwrap(),
    };
    network_init(nb, &net).await.unwrap();
}

/// `gateway-init` of `GR_<tenant>_<chassis>` at `ip/24` (NB side only).
async fn add_gateway(nb: &Client, tenant: &str, chassis: &str, ip: &str) {
    let spec = GatewaySpec {
        tenant: tenant.into(),
        cluster_subnet: None,
        physical_ip: format!("{ip}/24").parse().unwrap(),
        // The physical network's router: x.y.z.1 of the gateway's /24.
        default_gw: format!("{}.1", ip.rsplit_once('.').unwrap().0)
            .parse()
            .unwrap(),
        mode: GatewayMode::Localnet {
            physnet: "physnet".into(),
            bridge: "br-ex".into(),
            interface: None,
        },
        system_id: Some(chassis.into()),
    };
    gateway_init(nb, None, &spec).await.unwrap();
}

async fn connect(central: &OvnCentral) -> Client {
    let config = ovn::services::monitor_services(monitor_nb(
        ClientConfig::new(&central.nb_remote(), NB_DB).unwrap(),
    ));
    Client::connect(config).await.unwrap()
}

/// A fresh OVN central with tenant coke and its gateway `GR_coke_ch1` at
/// 10.10.1.12, and a client.
async fn coke_with_gateway() -> (OvnCentral, Client) {
    let central = blocking(OvnCentral::start).unwrap();
    let nb = connect(&central).await;
    add_tenant(&nb, "coke", 1).await;
    add_gateway(&nb, "coke", "ch1", "10.10.1.12").await;
    (central, nb)
}

fn addr(s: &str) -> SocketAddrV4 {
    s.parse().unwrap()
}

fn web(backends: &[&str]) -> ServiceSpec {
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

/// The tables of two NB dumps that differ.
fn changed_tables(before: &Value, after: &Value) -> Vec<String> {
    let (b, a) = (before.as_object().unwrap(), after.as_object().unwrap());
    b.keys().filter(|t| b[*t] != a[*t]).cloned().collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_vip_is_written_replaced_looked_up_and_deleted() {
    let (central, nb) = coke_with_gateway().await;

    let created = ensure_service(&nb, &web(&["192.168.1.3:80", "192.168.1.2:80"]))
        .await
        .unwrap();
    assert!(
        matches!(created, ServiceChange::Created { .. }),
        "{created:?}"
    );
    let lbs = nbctl(&central, &["lb-list"]);
    assert!(lbs.contains("coke_web_tcp"), "{lbs}");
    assert!(
        lbs.contains("10.10.1.12:32350") && lbs.contains("192.168.1.2:80,192.168.1.3:80"),
        "{lbs}"
    );
    let attached = nbctl(&central, &["lr-lb-list", "GR_coke_ch1"]);
    assert!(
        attached.contains("coke_web_tcp") && attached.contains("10.10.1.12:32350"),
        "{attached}"
    );
    blocking(|| central.sync_sb()).unwrap();
    let flows = blocking(|| central.sbctl(&["lflow-list", "GR_coke_ch1"])).unwrap();
    assert!(
        flows.contains("ct_lb_mark(backends=192.168.1.2:80,192.168.1.3:80;"),
        "{flows}"
    );

    // The same spec again: no transaction at all.
    let before = blocking(|| central.nb_dump()).unwrap();
    let again = ensure_service(&nb, &web(&["192.168.1.2:80", "192.168.1.3:80"]))
        .await
        .unwrap();
    assert_eq!(
        again,
        ServiceChange::Unchanged {
            uuid: created.uuid()
        }
    );
    assert_eq!(blocking(|| central.nb_dump()).unwrap(), before);

    // Replacing the backend set changes the load balancer row and nothing else.
    let replaced = ensure_service(&nb, &web(&["192.168.1.4:80"]))
        .await
        .unwrap();
    assert_eq!(
        replaced,
        ServiceChange::Updated {
            uuid: created.uuid()
        }
    );
    let after = blocking(|| central.nb_dump()).unwrap();
    assert_eq!(
        changed_tables(&before, &after),
        vec!["Load_Balancer".to_owned()]
    );
    assert_eq!(after["Load_Balancer"].as_array().unwrap().len(), 1);
    blocking(|| central.sync_sb()).unwrap();
    let flows = blocking(|| central.sbctl(&["lflow-list", "GR_coke_ch1"])).unwrap();
    assert!(
        flows.contains("ct_lb_mark(backends=192.168.1.4:80;"),
        "{flows}"
    );

    let info = nb
        .read(|c| find_service(c, Some("coke"), "web"))
        .unwrap()
        .unwrap();
    let same = nb.read(|c| find_service(c, None, "web")).unwrap().unwrap();
    assert_eq!(info, same);
    assert_eq!(
        (info.protocol, info.load_balancer.as_str()),
        (Protocol::Tcp, "coke_web_tcp")
    );
    assert_eq!(info.vips.len(), 1);
    assert_eq!(info.vips[0].vip, addr("10.10.1.12:32350"));
    assert_eq!(info.vips[0].router, "GR_coke_ch1");
    assert_eq!(info.vips[0].backends, vec![addr("192.168.1.4:80")]);
    assert!(nb
        .read(|c| find_service(c, Some("coke"), "db"))
        .unwrap()
        .is_none());

    // No backends: the VIP stays and northd turns it into a reject (TCP RST).
    ensure_service(&nb, &web(&[])).await.unwrap();
    blocking(|| central.sync_sb()).unwrap();
    let flows = blocking(|| central.sbctl(&["lflow-list", "GR_coke_ch1"])).unwrap();
    let vip_flow = flows
        .lines()
        .find(|l| {
            l.contains("lr_in_dnat")
                && l.contains("ip4.dst == 10.10.1.12")
                && l.contains("tcp.dst == 32350")
        })
        .unwrap_or_else(|| panic!("no DNAT flow for the VIP:\n{flows}"));
    assert!(vip_flow.contains("reject {"), "{vip_flow}");

    assert!(delete_service(&nb, "coke", "web").await.unwrap());
    assert_eq!(nbctl(&central, &["lb-list"]), "");
    assert_eq!(nbctl(&central, &["lr-lb-list", "GR_coke_ch1"]), "");
    assert!(!delete_service(&nb, "coke", "web").await.unwrap());
    assert!(nb.read(|c| find_service(c, None, "web")).unwrap().is_none());
    blocking(|| central.sync_sb()).unwrap();
    blocking(|| central.check_logs()).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_repair_pass_adds_new_gateways_and_removes_unwanted_services_only() {
    let (central, nb) = coke_with_gateway().await;
    nbctl(
        &central,
        &["lb-add", "manual", "10.0.0.1:80", "192.168.1.9:80"],
    );
    ensure_service(&nb, &web(&["192.168.1.2:80"]))
        .await
        .unwrap();
    let mut old = web(&["192.168.1.5:80"]);
    old.name = "old".into();
    ensure_service(&nb, &old).await.unwrap();

    add_gateway(&nb, "coke", "ch2", "10.10.1.14").await;
    let report = reconcile_services(&nb, &[web(&["192.168.1.2:80"])], &ReconcileScope::All)
        .await
        .unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert!(
        matches!(report.ensured[..], [(ref k, ServiceChange::Updated { .. })] if *k == ServiceKey::new("coke", "web"))
    );
    assert_eq!(report.deleted, vec![ServiceKey::new("coke", "old")]);
    for gr in ["GR_coke_ch1", "GR_coke_ch2"] {
        let attached = nbctl(&central, &["lr-lb-list", gr]);
        assert!(
            attached.contains("10.10.1.12:32350") && attached.contains("10.10.1.14:32350"),
            "{gr}: {attached}"
        );
    }
    let lbs = nbctl(&central, &["lb-list"]);
    assert!(
        lbs.contains("manual") && !lbs.contains("coke_old_tcp"),
        "{lbs}"
    );
    let info = nb
        .read(|c| find_service(c, Some("coke"), "web"))
        .unwrap()
        .unwrap();
    let routers: Vec<&str> = info.vips.iter().map(|v| v.router.as_str()).collect();
    assert_eq!(routers, vec!["GR_coke_ch1", "GR_coke_ch2"]);

    // A second pass has nothing to do.
    blocking(|| central.sync_sb()).unwrap();
    let before = blocking(|| central.nb_dump()).unwrap();
    let report = reconcile_services(&nb, &[web(&["192.168.1.2:80"])], &ReconcileScope::All)
        .await
        .unwrap();
    assert!(report.ensured.iter().all(|(_, c)| !c.changed()) && report.deleted.is_empty());
    assert_eq!(blocking(|| central.nb_dump()).unwrap(), before);
    blocking(|| central.sync_sb()).unwrap();
    blocking(|| central.check_logs()).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn tenants_are_checked_east_west_vips_attach_to_switches_and_names_can_be_ambiguous() {
    let central = blocking(OvnCentral::start).unwrap();
    let nb = connect(&central).await;
    add_tenant(&nb, "coke", 1).await;
    add_tenant(&nb, "pepsi", 2).await;
    add_gateway(&nb, "coke", "ch1", "10.10.1.12").await;

    let mut unknown = web(&[]);
    unknown.tenant = "fanta".into();
    let e = ensure_service(&nb, &unknown).await.unwrap_err();
    assert!(
        matches!(e, ServiceError::UnknownTenant { ref tenant } if tenant == "fanta"),
        "{e:?}"
    );
    let mut no_gw = web(&[]);
    no_gw.tenant = "pepsi".into();
    let e = ensure_service(&nb, &no_gw).await.unwrap_err();
    assert!(
        matches!(e, ServiceError::NoGateway { ref tenant } if tenant == "pepsi"),
        "{e}"
    );
    assert!(e.is_retryable());
    assert_eq!(nbctl(&central, &["lb-list"]), "");

    let mut ew = web(&["192.168.1.2:80"]);
    ew.protocol = Protocol::Udp;
    ew.cluster_ip = Some(ClusterIp::Fixed("10.96.0.10".parse().unwrap()));
    ensure_service(&nb, &ew).await.unwrap();
    // through the tenant's group, not on the switch itself (ls-lb-list
    // shows both)
    assert_eq!(
        nbctl(
            &central,
            &["get", "Logical_Switch", "coke1", "load_balancer"]
        )
        .trim(),
        "[]"
    );
    let listed = nbctl(&central, &["ls-lb-list", "coke1"]);
    assert!(listed.contains("10.96.0.10:32350"), "{listed}");
    let group = nbctl(
        &central,
        &[
            "--bare",
            "--columns=_uuid",
            "find",
            "Load_Balancer_Group",
            "name=ovn-mesos_coke",
        ],
    );
    let on_switch = nbctl(
        &central,
        &["get", "Logical_Switch", "coke1", "load_balancer_group"],
    );
    assert_eq!(on_switch.trim(), format!("[{}]", group.trim()));
    let info = nb
        .read(|c| find_service(c, Some("coke"), "web"))
        .unwrap()
        .unwrap();
    let east_west = info.east_west.unwrap();
    assert_eq!(
        (east_west.vip, east_west.switches),
        (addr("10.96.0.10:32350"), vec!["coke1".to_owned()])
    );
    assert_eq!(info.vips.len(), 1);

    add_gateway(&nb, "pepsi", "ch1", "10.10.2.12").await;
    ensure_service(&nb, &no_gw).await.unwrap();
    let e = nb.read(|c| find_service(c, None, "web")).unwrap_err();
    assert!(
        matches!(e, ServiceError::Ambiguous { ref tenants, .. } if tenants == &["coke", "pepsi"]),
        "{e}"
    );
    let all: Vec<String> = nb
        .read(list_services)
        .iter()
        .map(|s| s.key().to_string())
        .collect();
    assert_eq!(all, vec!["coke/web", "pepsi/web"]);
    blocking(|| central.sync_sb()).unwrap();
    blocking(|| central.check_logs()).unwrap();
}

/// The `vip_updates_total` counter of `metrics`.
fn vip_updates(metrics: &ovn_mesos::api::Metrics) -> f64 {
    let text = metrics.render(&ovn_mesos::api::Snapshot::default());
    text.lines()
        .find_map(|l| l.strip_prefix("ovn_mesos_vip_updates_total "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no vip_updates_total in\n{text}"))
}

/// The backends the NB shows for coke/web.
fn backends_in_nb(nb: &Client) -> Option<Vec<SocketAddrV4>> {
    let info = nb.read(|c| find_service(c, Some("coke"), "web")).ok()??;
    info.vips.first().map(|v| v.backends.clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_vip_writer_writes_a_quiet_change_at_once_and_gathers_churn() {
    use ovn_mesos::scheduler::vips::{VipController, VipWriter};
    use ovn_mesos_tests::poll::wait_for_async;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    let (central, nb) = coke_with_gateway().await;
    let metrics = Arc::new(ovn_mesos::api::Metrics::default());
    // Passes 30 s apart: only the first change and the final flush can be
    // written within this test.
    let writer = VipWriter::start(
        VipController::new(["coke".to_owned()]),
        nb.clone(),
        metrics.clone(),
        Duration::from_secs(30),
    );

    writer.sync(vec![web(&["192.168.1.2:80"])]);
    let want = vec![addr("192.168.1.2:80")];
    // The cache can show the write a moment before the writer counts it.
    wait_for_async(
        "the first change in the NB and counted",
        Duration::from_secs(10),
        || {
            let written =
                backends_in_nb(&nb).as_ref() == Some(&want) && vip_updates(&metrics) >= 1.0;
            async move { Ok(written.then_some(())) }
        },
    )
    .await
    .unwrap();
    assert_eq!(vip_updates(&metrics), 1.0);

    // Churn inside the interval: gathered, only the newest is written.
    for i in 3..12 {
        let backends: Vec<String> = (2..i).map(|h| format!("192.168.1.{h}:80")).collect();
        let backends: Vec<&str> = backends.iter().map(String::as_str).collect();
        writer.sync(vec![web(&backends)]);
    }
    let started = Instant::now();
    writer.finish().await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "finishing waited for the interval: {:?}",
        started.elapsed()
    );
    let last: Vec<SocketAddrV4> = (2..11)
        .map(|h| addr(&format!("192.168.1.{h}:80")))
        .collect();
    assert_eq!(backends_in_nb(&nb), Some(last), "the newest backends");
    assert_eq!(
        vip_updates(&metrics),
        2.0,
        "nine changes inside the interval make one write"
    );
    blocking(|| central.check_logs()).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sync_deletes_the_load_balancer_of_a_service_no_longer_desired() {
    use ovn_mesos::scheduler::vips::VipController;
    use ovn_mesos_tests::poll::wait_for_async;
    use std::time::Duration;

    let (central, nb) = coke_with_gateway().await;
    let metrics = ovn_mesos::api::Metrics::default();
    let mut controller = VipController::new(["coke".to_owned()]);
    let mut db = web(&["192.168.1.3:5432"]);
    db.name = "db".into();
    db.port = 32351;
    let present = |name: &str| {
        nb.read(|c| find_service(c, Some("coke"), name))
            .ok()
            .flatten()
            .is_some()
    };
    controller
        .sync(&nb, &[web(&["192.168.1.2:80"]), db.clone()], &metrics)
        .await;
    wait_for_async(
        "web's and db's load balancers in the NB",
        Duration::from_secs(10),
        || {
            let both = present("web") && present("db");
            async move { Ok(both.then_some(())) }
        },
    )
    .await
    .unwrap();
    // web's last definition goes: the next sync deletes its load
    // balancer, not waiting for a resync; db's stays.
    controller.sync(&nb, &[db], &metrics).await;
    wait_for_async(
        "web's load balancer deleted by the sync",
        Duration::from_secs(10),
        || {
            let gone = !present("web");
            async move { Ok(gone.then_some(())) }
        },
    )
    .await
    .unwrap();
    assert!(present("db"), "db's load balancer stays");
    nb.close().await;
    drop(central);
}

/// `ovn-nbctl get` of one column, trimmed.
fn get(central: &OvnCentral, table: &str, record: &str, column: &str) -> String {
    nbctl(central, &["get", table, record, column])
        .trim()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn cluster_ips_names_and_the_tenant_group_reach_every_switch_and_go_with_their_service() {
    let (central, nb) = coke_with_gateway().await;
    // the fabric is built by whoever comes first: here, ensure_fabric
    assert!(ensure_fabric(&nb, "coke").await.unwrap());
    assert!(
        !ensure_fabric(&nb, "coke").await.unwrap(),
        "the second call writes nothing"
    );
    let e = ensure_fabric(&nb, "fanta").await.unwrap_err();
    assert!(matches!(e, ServiceError::UnknownTenant { .. }), "{e}");

    let mut specs = Vec::new();
    for name in ["web", "api", "db"] {
        let mut s = web(&["192.168.1.2:80"]);
        s.name = name.into();
        s.cluster_ip = Some(ClusterIp::Allocate);
        s.dns_name = Some(format!("{name}.coke.ovn-mesos"));
        ensure_service(&nb, &s).await.unwrap();
        specs.push(s);
    }
    let cip = |name: &str| {
        get(
            &central,
            "Load_Balancer",
            &format!("coke_{name}_tcp"),
            "external_ids:\"ovn-mesos/cluster-ip\"",
        )
    };
    assert_eq!(
        [cip("web"), cip("api"), cip("db")],
        ["\"10.96.0.2\"", "\"10.96.0.3\"", "\"10.96.0.4\""]
    );
    let lb = nbctl(&central, &["lb-list", "coke_web_tcp"]);
    assert!(
        lb.contains("10.96.0.2:32350") && lb.contains("10.10.1.12:32350"),
        "{lb}"
    );
    assert_eq!(
        get(
            &central,
            "Load_Balancer",
            "coke_web_tcp",
            "options:hairpin_snat_ip"
        ),
        "\"10.96.0.1\""
    );
    let records = nbctl(&central, &["--bare", "--columns=records", "list", "DNS"]);
    for want in [
        "web.coke.ovn-mesos=10.96.0.2",
        "api.coke.ovn-mesos=10.96.0.3",
        "db.coke.ovn-mesos=10.96.0.4",
    ] {
        assert!(records.contains(want), "{want} in {records}");
    }
    let members = get(
        &central,
        "Load_Balancer_Group",
        "ovn-mesos_coke",
        "load_balancer",
    );
    assert_eq!(members.matches(',').count(), 2, "three members: {members}");

    // a network made later gets the group and the names from ensure_fabric
    let net = NetworkSpec {
        tenant: "coke".into(),
        name: "coke2".into(),
        subnet: "192.168.2.0/24".parse().unwrap(),
    };
    network_init(&nb, &net).await.unwrap();
    assert!(ensure_fabric(&nb, "coke").await.unwrap());
    assert_eq!(
        get(&central, "Logical_Switch", "coke2", "load_balancer_group"),
        get(&central, "Logical_Switch", "coke1", "load_balancer_group")
    );
    assert_eq!(
        get(&central, "Logical_Switch", "coke2", "dns_records"),
        get(&central, "Logical_Switch", "coke1", "dns_records")
    );
    // network-init again (level-triggered) leaves the references alone
    network_init(&nb, &net).await.unwrap();
    assert!(
        !ensure_fabric(&nb, "coke").await.unwrap(),
        "nothing to repair"
    );
    let info = nb
        .read(|c| find_service(c, Some("coke"), "api"))
        .unwrap()
        .unwrap();
    let ew = info.east_west.unwrap();
    assert_eq!(ew.vip, addr("10.96.0.3:32350"));
    assert_eq!(ew.switches, vec!["coke1".to_owned(), "coke2".to_owned()]);
    assert_eq!(ew.names, vec!["api.coke.ovn-mesos".to_owned()]);

    // new backends keep the address; so does a new ensure after the
    // address below was freed
    let mut more = specs[2].clone();
    more.backends.push(addr("192.168.1.3:80"));
    ensure_service(&nb, &more).await.unwrap();
    assert!(delete_service(&nb, "coke", "web").await.unwrap());
    ensure_service(&nb, &more).await.unwrap();
    assert_eq!(cip("db"), "\"10.96.0.4\"");
    let records = nbctl(&central, &["--bare", "--columns=records", "list", "DNS"]);
    assert!(
        !records.contains("web.coke"),
        "the deleted service's name is gone: {records}"
    );
    let members = get(
        &central,
        "Load_Balancer_Group",
        "ovn-mesos_coke",
        "load_balancer",
    );
    assert_eq!(members.matches(',').count(), 1, "two members: {members}");
    // the freed address goes to the next new service
    let mut next = specs[0].clone();
    next.name = "cache".into();
    next.dns_name = Some("cache.coke.ovn-mesos".into());
    ensure_service(&nb, &next).await.unwrap();
    assert_eq!(cip("cache"), "\"10.96.0.2\"");
    blocking(|| central.sync_sb()).unwrap();

    // tenant teardown: services, networks, then the fabric
    for name in ["api", "db", "cache"] {
        delete_service(&nb, "coke", name).await.unwrap();
    }
    let e = ovn::topology::tenant_delete(&nb, "coke", true).await;
    e.unwrap();
    assert!(delete_fabric(&nb, "coke").await.unwrap());
    assert!(!delete_fabric(&nb, "coke").await.unwrap());
    assert_eq!(nbctl(&central, &["list", "Load_Balancer_Group"]), "");
    assert_eq!(nbctl(&central, &["list", "DNS"]), "");
    blocking(|| central.sync_sb()).unwrap();
    blocking(|| central.check_logs()).unwrap();
}
