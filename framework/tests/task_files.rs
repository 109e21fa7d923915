//! The task files as users write them: the seed's original mesos-execute
//! files load unchanged, the shipped `tasks/*.json` form one web service per
//! tenant, and bad sets of files are refused as a whole, one line per file.

use std::collections::BTreeMap;
use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ovn::services::{Protocol, ServiceKey};
use ovn::topology::NetworkInfo;
use ovn_mesos::tasks::{load_paths, Services, TaskDefinition, Topology};

/// The 2017 lab's mesos-execute task files, kept unchanged as fixtures.
const SEED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/seed-tasks");
const SHIPPED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tasks");

/// The lab's topology: tenants coke and pepsi, one network each, one
/// gateway each (10.10.1.12 and 10.10.1.14).
struct Lab {
    networks: BTreeMap<String, NetworkInfo>,
    gateways: BTreeMap<String, Vec<Ipv4Addr>>,
}

impl Lab {
    fn new() -> Self {
        let net = |tenant: &str, name: &str, third: u8| NetworkInfo {
            tenant: tenant.into(),
            name: name.into(),
            subnet: format!("192.168.{third}.0/24").parse().unwrap(),
            router_ip: Ipv4Addr::new(192, 168, third, 1),
            router_mac: "0a:58:c0:a8:01:01".parse().unwrap(),
        };
        Lab {
            networks: [
                ("coke1", net("coke", "coke1", 1)),
                ("pepsi1", net("pepsi", "pepsi1", 2)),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
            gateways: [
                ("coke".to_owned(), vec![Ipv4Addr::new(10, 10, 1, 12)]),
                ("pepsi".to_owned(), vec![Ipv4Addr::new(10, 10, 1, 14)]),
            ]
            .into_iter()
            .collect(),
        }
    }
}

impl Topology for Lab {
    fn network(&self, switch: &str) -> Option<NetworkInfo> {
        self.networks.get(switch).cloned()
    }

    fn gateway_ips(&self, tenant: &str) -> Vec<Ipv4Addr> {
        self.gateways.get(tenant).cloned().unwrap_or_default()
    }
}

fn seed(name: &str) -> PathBuf {
    Path::new(SEED).join(name)
}

fn load_one(path: PathBuf) -> (TaskDefinition, Vec<String>) {
    let (mut defs, warnings) = load_paths(&[path]).expect("the file loads");
    assert_eq!(defs.len(), 1);
    (
        defs.remove(0),
        warnings.iter().map(ToString::to_string).collect(),
    )
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    path
}

fn shipped(name: &str) -> String {
    fs::read_to_string(Path::new(SHIPPED).join(name)).unwrap()
}

#[test]
fn each_seed_file_loads_unchanged_with_a_warning_for_its_image() {
    let expected = [
        (
            "apachecoke",
            "task1",
            "1234",
            "coke1",
            "/run-apache.sh",
            "fedora/apache",
        ),
        (
            "nginxcoke",
            "task2",
            "9234",
            "coke1",
            "nginx -g 'daemon off;'",
            "nginx",
        ),
        (
            "apachepepsi",
            "task3",
            "4234",
            "pepsi1",
            "/run-apache.sh",
            "fedora/apache",
        ),
        (
            "nginxpepsi",
            "task4",
            "5234",
            "pepsi1",
            "nginx -g 'daemon off;'",
            "nginx",
        ),
    ];
    for (file, name, id, switch, command, image) in expected {
        let (d, warnings) = load_one(seed(file));
        assert_eq!(
            (d.name.as_str(), d.task_id.as_str(), d.switch.as_str()),
            (name, id, switch)
        );
        assert_eq!(
            d.service, name,
            "without discovery the service is the task name"
        );
        assert_eq!((d.vip, d.backend_port, d.instances), (None, None, 1));
        assert_eq!(
            (d.resources.cpus, d.resources.mem, d.resources.ports),
            (0.1, 32.0, 0)
        );
        assert_eq!(d.command.value.as_deref(), Some(command));
        assert_eq!(d.task_info.agent_id.value, "");
        let image_warning = format!(
            "{}: container.mesos.image: image \"{image}\" ignored",
            seed(file).display()
        );
        assert!(
            warnings.iter().any(|w| w.starts_with(&image_warning)),
            "{warnings:#?}"
        );
        for i in 0..2 {
            let roles = format!(
                "{}: resources[{i}].roles: not a TaskInfo field; ignored",
                seed(file).display()
            );
            assert!(warnings.contains(&roles), "{warnings:#?}");
        }
    }
}

#[test]
fn the_seed_files_resolve_to_one_service_each_in_their_tenants() {
    // The seed's files have no .json extension, so they are named one by
    // one (as mesos-execute users do); a directory load looks for *.json.
    let (dir_defs, dir_warnings) = load_paths(&[PathBuf::from(SEED)]).unwrap();
    assert!(dir_defs.is_empty());
    assert!(dir_warnings[0].message.contains("no *.json task files"));
    let files = ["apachecoke", "nginxcoke", "apachepepsi", "nginxpepsi"].map(seed);
    let (defs, _) = load_paths(&files).expect("the seed files load");
    let services = Services::resolve(defs, &Lab::new()).unwrap();
    let keys: Vec<String> = services.iter().map(|s| s.key.to_string()).collect();
    assert_eq!(
        keys,
        ["coke/task1", "coke/task2", "pepsi/task3", "pepsi/task4"]
    );
    assert!(services
        .iter()
        .all(|s| s.vip.is_none() && s.spec(vec![], Default::default(), "ovn-mesos").is_none()));
}

#[test]
fn the_shipped_files_form_one_web_service_per_tenant_with_its_vip() {
    let (defs, warnings) = load_paths(&[PathBuf::from(SHIPPED)]).expect("tasks/ loads");
    assert!(warnings.is_empty(), "{warnings:#?}");
    assert_eq!(defs.len(), 4);
    let services = Services::resolve(defs, &Lab::new()).unwrap();
    assert_eq!(services.len(), 2);
    for (tenant, files) in [
        ("coke", ["apachecoke", "nginxcoke"]),
        ("pepsi", ["apachepepsi", "nginxpepsi"]),
    ] {
        let key = ServiceKey::new(tenant, format!("{tenant}-web"));
        let service = services
            .get(&key)
            .unwrap_or_else(|| panic!("no service {key}"));
        let vip = service.vip.expect("a VIP");
        assert_eq!(
            (vip.port, vip.protocol, vip.address),
            (32350, Protocol::Tcp, None)
        );
        let names: Vec<_> = service
            .members
            .iter()
            .map(|m| m.definition.name.as_str())
            .collect();
        assert_eq!(names, files);
        assert!(service
            .members
            .iter()
            .all(|m| m.definition.backend_port == Some(80)));
        assert!(service.members.iter().all(|m| m.network.tenant == tenant));
        let spec = service
            .spec(
                vec!["192.168.1.2:80".parse().unwrap()],
                Default::default(),
                "ovn-mesos",
            )
            .unwrap();
        assert_eq!((spec.port, spec.backends.len()), (32350, 1));
        assert_eq!(spec.cluster_ip, Some(ovn::services::ClusterIp::Allocate));
        assert_eq!(
            spec.dns_name.as_deref(),
            Some(format!("{tenant}-web.{tenant}.ovn-mesos").as_str())
        );
        assert_eq!(service.instances(), 2);
    }
}

#[test]
fn the_shipped_commands_run_real_servers_with_a_python_fallback() {
    for (file, server, marker) in [
        ("apachecoke.json", "/usr/sbin/apache2", "-D FOREGROUND"),
        ("nginxpepsi.json", "/usr/sbin/nginx", "daemon off;"),
    ] {
        let (d, _) = load_one(Path::new(SHIPPED).join(file));
        let script = d.command.value.unwrap();
        assert!(
            script.contains(server) && script.contains(marker),
            "{script}"
        );
        assert!(script.contains("${MESOS_SANDBOX:-$PWD}"), "{script}");
        assert!(
            script.contains("/usr/bin/python3 -m http.server 80"),
            "{script}"
        );
    }
}

#[test]
fn an_address_vip_must_be_a_gateway_of_the_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let good = shipped("apachecoke.json").replace("/coke-web:32350", "10.10.1.12:32350");
    let bad = shipped("nginxcoke.json").replace("/coke-web:32350", "10.10.1.99:32350");
    let good = write(dir.path(), "a.json", &good);
    let defs = load_paths(std::slice::from_ref(&good)).unwrap().0;
    let services = Services::resolve(defs, &Lab::new()).unwrap();
    let vip = services.iter().next().unwrap().vip.unwrap();
    assert_eq!(vip.address, Some(Ipv4Addr::new(10, 10, 1, 12)));

    let bad = write(dir.path(), "b.json", &bad);
    let defs = load_paths(&[good, bad.clone()]).unwrap().0;
    let err = Services::resolve(defs, &Lab::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: discovery.ports: VIP address 10.10.1.99 is not the physical IP of a gateway router of tenant coke (gateways: 10.10.1.12)",
            bad.display()
        )
    );
}

#[test]
fn a_vip_in_a_tenant_without_a_gateway_is_refused_naming_the_service_and_tenant() {
    let mut lab = Lab::new();
    lab.gateways.remove("pepsi");
    let dir = tempfile::tempdir().unwrap();
    let coke = write(dir.path(), "a.json", &shipped("apachecoke.json"));
    let pepsi = write(dir.path(), "b.json", &shipped("apachepepsi.json"));
    let pepsi_too = write(dir.path(), "c.json", &shipped("nginxpepsi.json"));
    let defs = load_paths(&[coke.clone(), pepsi.clone(), pepsi_too])
        .unwrap()
        .0;
    let err = Services::resolve(defs, &lab).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: discovery.ports: service pepsi/pepsi-web has VIP 32350/tcp, but tenant pepsi has no gateway router to hold it (create one with ovn-mesos gateway-init)",
            pepsi.display()
        ),
        "one problem for the service, naming the file its VIP comes from"
    );

    // Without a VIP the tenant needs no gateway; coke keeps its VIP.
    let defs = load_paths(&[coke, seed("apachepepsi")]).unwrap().0;
    let services = Services::resolve(defs, &lab).unwrap();
    let keys: Vec<String> = services.iter().map(|s| s.key.to_string()).collect();
    assert_eq!(keys, ["coke/coke-web", "pepsi/task3"]);
}

#[test]
fn two_vips_in_one_service_are_an_error_naming_both_files() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.json", &shipped("apachecoke.json"));
    let b = write(
        dir.path(),
        "b.json",
        &shipped("nginxcoke.json").replace(":32350", ":8080"),
    );
    let defs = load_paths(&[dir.path().to_owned()]).unwrap().0;
    let err = Services::resolve(defs, &Lab::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: discovery.ports: VIP 8080/tcp of service coke/coke-web conflicts with VIP 32350/tcp in {}",
            b.display(),
            a.display()
        )
    );
}

#[test]
fn two_policies_in_one_service_are_an_error_naming_both_files() {
    let dir = tempfile::tempdir().unwrap();
    let with_policy = |name: &str, policy: &str| {
        let mut v: serde_json::Value = serde_json::from_str(&shipped(name)).unwrap();
        v["labels"]["labels"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"key": "ovn-mesos/allow-from", "value": policy}));
        v.to_string()
    };
    let a = write(
        dir.path(),
        "a.json",
        &with_policy("apachecoke.json", "external"),
    );
    let b = write(
        dir.path(),
        "b.json",
        &with_policy("nginxcoke.json", "tenant"),
    );
    let defs = load_paths(&[dir.path().to_owned()]).unwrap().0;
    let err = Services::resolve(defs, &Lab::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: labels: ovn-mesos/allow-from \"tenant\" of service coke/coke-web differs from \"external\" in {}: every definition of a service must say the same",
            b.display(),
            a.display()
        )
    );
    // the same policy in both: one service with it
    let b = write(
        dir.path(),
        "b.json",
        &with_policy("nginxcoke.json", "external"),
    );
    let defs = load_paths(&[dir.path().to_owned()]).unwrap().0;
    let services = Services::resolve(defs, &Lab::new()).unwrap();
    let web = services.iter().next().unwrap();
    assert_eq!(web.policy.as_ref().unwrap().to_string(), "external");
    assert_eq!(web.members.len(), 2, "{}", b.display());
}

#[test]
fn an_unknown_network_is_an_error_naming_the_switch() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(
        dir.path(),
        "a.json",
        &shipped("apachecoke.json").replace("coke1", "fanta1"),
    );
    let defs = load_paths(std::slice::from_ref(&a)).unwrap().0;
    let err = Services::resolve(defs, &Lab::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: container.network_infos: logical_switch fanta1 is not a network of any tenant (create it with ovn-mesos network-init)",
            a.display()
        )
    );
}

#[test]
fn one_bad_file_refuses_the_whole_load_and_every_bad_file_is_listed() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a-good.json", &shipped("apachecoke.json"));
    let no_switch = shipped("nginxcoke.json").replace("\"logical_switch\"", "\"switch\"");
    let b = write(dir.path(), "b-no-switch.json", &no_switch);
    let c = write(
        dir.path(),
        "c-broken.json",
        "{\"name\": \"x\",\n  \"resources\": [}\n",
    );
    let err = load_paths(&[dir.path().to_owned()]).unwrap_err();
    let lines: Vec<String> = err.problems().iter().map(ToString::to_string).collect();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert_eq!(
        lines[0],
        format!(
            "{}: container.network_infos[0].labels: no logical_switch label",
            b.display()
        )
    );
    assert!(
        lines[1].starts_with(&format!("{}: invalid JSON: ", c.display()))
            && lines[1].contains("line 2 column"),
        "{}",
        lines[1]
    );
    assert_eq!(err.to_string(), lines.join("\n"));
}

#[test]
fn instances_and_restart_labels_are_read_from_the_task_labels() {
    let dir = tempfile::tempdir().unwrap();
    let text = shipped("nginxpepsi.json")
        .replace(
            "\"key\": \"ovn-mesos/instances\",\n        \"value\": \"1\"",
            "\"key\": \"ovn-mesos/instances\",\n        \"value\": \"3\"",
        )
        .replace("\"value\": \"always\"", "\"value\": \"never\"");
    let path = write(dir.path(), "n.json", &text);
    let (d, _) = load_one(path);
    assert_eq!(d.instances, 3);
    assert_eq!(d.restart.mode, ovn_mesos::tasks::RestartMode::Never);
    assert_eq!(d.restart.max_backoff, std::time::Duration::from_secs(60));
}
