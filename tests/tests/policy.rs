//! Service port groups and policies against real ovsdb-server and
//! ovn-northd: a port group per service with its tasks' ports, the two
//! ACLs of a policy naming a peer's address set, task ports joining their
//! service's group in the transaction that creates them, a policy change
//! rewriting only the allow rule, and the delete.

use std::collections::BTreeSet;

use ovn::nb::port_group::port_group_name;
use ovn::nb::NB_DB;
use ovn::ovsdb::{Client, ClientConfig};
use ovn::policy::{delete_port_group, ensure_port_group, find_port_group, PortGroupSpec};
use ovn::ports::{create_task_port, TaskPortSpec};
use ovn::topology::{monitor_nb, network_init, tenant_init, NetworkSpec, TenantSpec};
use ovn_mesos_tests::OvnCentral;

fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

fn nbctl(central: &OvnCentral, args: &[&str]) -> String {
    blocking(|| central.nbctl(args)).unwrap()
}

async fn connect(central: &OvnCentral) -> Client {
    let config = ovn::services::monitor_services(monitor_nb(
        ClientConfig::new(&central.nb_remote(), NB_DB).unwrap(),
    ));
    Client::connect(config).await.unwrap()
}

async fn port(nb: &Client, task: &str, service: &str) -> String {
    let spec = TaskPortSpec {
        switch: "coke1".into(),
        task_id: task.into(),
        framework_id: "fw-1".into(),
        service: Some(service.into()),
        requested_chassis: None,
        ip: None,
        agent: None,
        version: None,
    };
    create_task_port(nb, &spec).await.unwrap().name
}

fn group(tenant: &str, service: &str, ports: &[&str], policy: Option<&str>) -> PortGroupSpec {
    PortGroupSpec {
        tenant: tenant.into(),
        service: service.into(),
        ports: ports
            .iter()
            .map(|p| (*p).to_owned())
            .collect::<BTreeSet<_>>(),
        policy: policy.map(|p| p.parse().unwrap()),
    }
}

/// The port names of a port group, sorted.
fn members(central: &OvnCentral, pg: &str) -> Vec<String> {
    let uuids = nbctl(
        central,
        &["--bare", "--columns=ports", "list", "Port_Group", pg],
    );
    let mut names: Vec<String> = uuids
        .split_whitespace()
        .map(|u| {
            nbctl(central, &["get", "Logical_Switch_Port", u, "name"])
                .trim()
                .trim_matches('"')
                .to_owned()
        })
        .collect();
    names.sort();
    names
}

/// A fresh OVN central with tenant coke (cluster subnet 192.168.0.0/16),
/// and a client.
async fn coke() -> (OvnCentral, Client) {
    let central = blocking(OvnCentral::start).unwrap();
    let nb = connect(&central).await;
    let tenant = TenantSpec {
        name: "coke".into(),
        cluster_subnet: Some("192.168.0.0/16".parse().unwrap()),
        service_subnet: None,
    };
    tenant_init(&nb, &tenant).await.unwrap();
    (central, nb)
}

#[tokio::test(flavor = "multi_thread")]
async fn port_groups_hold_their_tasks_and_policies_compile_to_two_acls() {
    let (central, nb) = coke().await;
    let net = NetworkSpec {
        tenant: "coke".into(),
        name: "coke1".into(),
        subnet: "192.168.1.0/24".parse().unwrap(),
    };
    network_init(&nb, &net).await.unwrap();

    // a task port made before its group: the group takes it in
    let early = port(&nb, "web.1", "web").await;
    let api = group("coke", "api", &[], None);
    assert!(ensure_port_group(&nb, &api).await.unwrap());
    let web = group(
        "coke",
        "web",
        &[&early, "not-made-yet"],
        Some("api,external,tenant,10.10.1.0/24"),
    );
    assert!(ensure_port_group(&nb, &web).await.unwrap());
    assert!(
        !ensure_port_group(&nb, &web).await.unwrap(),
        "the second call writes nothing"
    );
    let pg = port_group_name("coke", "web");
    let api_pg = port_group_name("coke", "api");
    assert_eq!(members(&central, &pg), vec![early.clone()]);

    let acls = nbctl(&central, &["acl-list", &pg]);
    let want_allow = format!(
        "to-lport  1001 (outport == @{pg} && ip4 && ip4.src == {{${api_pg}_ip4, 192.168.0.0/16, 100.64.0.0/16, 10.10.1.0/24, 10.96.0.1}}) allow-related"
    );
    let want_deny = format!("to-lport  1000 (outport == @{pg} && ip4) drop");
    assert_eq!(
        acls.lines().map(str::trim).collect::<Vec<_>>(),
        vec![want_allow.as_str(), want_deny.as_str()],
        "{acls}"
    );

    // a task port made after: joins in its own transaction
    let late = port(&nb, "web.2", "web").await;
    let mut both = vec![early.clone(), late.clone()];
    both.sort();
    assert_eq!(members(&central, &pg), both);
    // another service's port does not join web's group
    let api_port = port(&nb, "api.1", "api").await;
    assert_eq!(members(&central, &api_pg), vec![api_port]);

    // a policy change rewrites the allow rule only
    let before = nbctl(
        &central,
        &["--bare", "--columns=_uuid", "find", "ACL", "priority=1000"],
    );
    let narrower = group("coke", "web", &[&early], Some("api"));
    assert!(ensure_port_group(&nb, &narrower).await.unwrap());
    let after = nbctl(
        &central,
        &["--bare", "--columns=_uuid", "find", "ACL", "priority=1000"],
    );
    assert_eq!(before, after, "the drop rule stays the same row");
    let acls = nbctl(&central, &["acl-list", &pg]);
    assert!(
        acls.contains(&format!("ip4.src == {{${api_pg}_ip4, 10.96.0.1}}")),
        "{acls}"
    );
    // the group keeps the ports the spec no longer lists (they leave
    // when they are deleted)
    assert_eq!(members(&central, &pg), both);
    // no policy: no ACL
    assert!(ensure_port_group(&nb, &group("coke", "web", &[], None))
        .await
        .unwrap());
    assert_eq!(nbctl(&central, &["acl-list", &pg]), "");
    assert_eq!(
        nbctl(&central, &["list", "ACL"]),
        "",
        "the ACL rows went with the references"
    );

    let found = nb.read(|c| find_port_group(c, "coke", "web")).unwrap();
    assert_eq!(found.name, pg);
    assert!(delete_port_group(&nb, "coke", "web").await.unwrap());
    assert!(!delete_port_group(&nb, "coke", "web").await.unwrap());
    assert!(nb.read(|c| find_port_group(c, "coke", "web")).is_none());
    blocking(|| central.sync_sb()).unwrap();
    blocking(|| central.check_logs()).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn two_new_services_whose_policies_name_each_other_both_get_the_others_address_set() {
    use ovn_mesos::scheduler::vips::VipController;

    let (central, nb) = coke().await;
    let metrics = ovn_mesos::api::Metrics::default();
    let mut controller = VipController::new(["coke".to_owned()]);
    let groups = vec![
        group("coke", "a", &[], Some("b")),
        group("coke", "b", &[], Some("a")),
        group("coke", "c", &[], None),
    ];
    let ready = controller.sync_groups(&nb, &groups, false, &metrics).await;
    assert_eq!(ready.len(), 3);
    for (me, peer) in [("a", "b"), ("b", "a")] {
        let acls = nbctl(&central, &["acl-list", &port_group_name("coke", me)]);
        let want = format!("${}_ip4", port_group_name("coke", peer));
        assert!(acls.contains(&want), "{me}'s rule names {peer}: {acls}");
    }
    // the same groups again: nothing to write; a full pass deletes those
    // of the tenant no service names
    assert!(controller
        .sync_groups(&nb, &groups, false, &metrics)
        .await
        .is_empty());
    let ready = controller
        .sync_groups(&nb, &groups[..2], true, &metrics)
        .await;
    assert_eq!(ready.len(), 2);
    assert!(nb.read(|c| find_port_group(c, "coke", "c")).is_none());
    // a peer whose group goes leaves the rule of the policy naming it
    controller
        .sync_groups(&nb, &groups[..1], false, &metrics)
        .await;
    let acls = nbctl(&central, &["acl-list", &port_group_name("coke", "a")]);
    assert!(!acls.contains(&port_group_name("coke", "b")), "{acls}");
    blocking(|| central.check_logs()).unwrap();
}
