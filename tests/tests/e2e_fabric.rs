//! The service fabric in the three-host lab, with real traffic from the
//! containers the executor made, and the framework running the shipped
//! task files (coke-web and pepsi-web, each with an apache and an nginx
//! backend, both tenants with the default service subnet 10.96.0.0/16).
//!
//! Names and cluster IPs: inside a coke task, `getent hosts
//! coke-web.coke.ovn-mesos` (and `coke-web`, through the `search` line of
//! the task's own `resolv.conf`) gives coke-web's cluster IP, answered by
//! ovn-controller; other names go on to the upstream resolver (a small
//! one on `outside`); curl by name reaches both backends; a backend
//! reaches its own service (hair-pin). pepsi's tasks cannot resolve
//! coke's names, and the same cluster IP in pepsi is pepsi's own service.
//! The cluster IP stays across a framework restart and a redeploy.
//!
//! Policy: a service `guarded` that allows only the service `client` and
//! `external`. `client` reaches it; `coke-web` (another service of the
//! tenant) and `bare` (a task with no VIP and no policy) time out; `outside`
//! through the gateway VIP answers. A CIDR added to the policy at runtime
//! lets `bare` in (no redeploy), while `bare2`, outside the CIDR, still
//! times out. Scaled up and redeployed, every new task of `guarded` is in
//! its port group when it first runs and refuses `bare2` at once; removed
//! tasks leave the group.

use std::collections::BTreeSet;
use std::process::Command;

use anyhow::{bail, Context};
use ovn_mesos::api::TaskView;
use ovn_mesos_tests::binaries::ovn_mesos_binary;
use ovn_mesos_tests::lab::{Host, Lab};
use ovn_mesos_tests::wait_for;
use serde_json::{json, Value};

#[allow(dead_code)]
#[path = "e2e_deploy/api.rs"]
mod api;
#[allow(dead_code)]
#[path = "e2e_seed/framework.rs"]
mod framework;
#[allow(dead_code)]
#[path = "e2e_seed/probe.rs"]
mod probe;
#[allow(dead_code)]
#[path = "e2e_lab/support.rs"]
mod support;

use api::*;
use framework::*;
use probe::*;

/// The upstream resolver on `outside`: `upstream.test` is 10.10.1.1,
/// every other name does not exist.
const UPSTREAM_DNS: &str = r#"
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.10.1.1", 53))
while True:
    q, peer = s.recvfrom(512)
    tid, = struct.unpack("!H", q[:2])
    i, labels = 12, []
    while q[i]:
        labels.append(q[i + 1:i + 1 + q[i]].decode().lower())
        i += q[i] + 1
    qtype, = struct.unpack("!H", q[i + 1:i + 3])
    question = q[12:i + 5]
    name = ".".join(labels)
    if name == "upstream.test":
        answers = [b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton("10.10.1.1")] if qtype == 1 else []
        flags = 0x8180
    else:
        answers, flags = [], 0x8183
    s.sendto(struct.pack("!HHHHHH", tid, flags, 1, len(answers), 0, 0) + question + b"".join(answers), peer)
"#;

/// Runs `argv` inside a task's namespaces (network and mount: it sees the
/// task's own `/etc/resolv.conf`); its stdout, or an error with stderr.
fn in_task(c: &Container, argv: &[&str]) -> anyhow::Result<String> {
    let pid = c
        .pids
        .first()
        .context("no process in the task")?
        .to_string();
    let out = Command::new("nsenter")
        .args(["-t", &pid, "-m", "-n", "--"])
        .args(argv)
        .output()?;
    if !out.status.success() {
        bail!(
            "{argv:?} in {} exited {}: {}",
            c.netns,
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// One curl from a task, 2 s at most: the body.
fn curl_in(c: &Container, url: &str) -> anyhow::Result<String> {
    in_task(
        c,
        &["curl", "-sS", "--connect-timeout", "2", "-m", "3", url],
    )
}

/// Whether a curl from the task to `url` times out (no answer, no refusal).
fn times_out(c: &Container, url: &str) -> bool {
    match curl_in(c, url) {
        Ok(_) => false,
        Err(e) => {
            let e = e.to_string();
            e.contains("timed out") || e.contains("Timeout")
        }
    }
}

/// Curls `url` from the task until every body of `want` answered.
fn wait_answers(c: &Container, url: &str, want: &[&str]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut all = Vec::new();
    wait_for(
        &format!("{want:?} answering {url} from {}", c.netns),
        READY,
        || {
            let body = curl_in(c, url)?;
            if !want.contains(&body.as_str()) {
                bail!("unexpected answer {body:?}");
            }
            seen.insert(body.clone());
            all.push(body);
            Ok((seen.len() == want.len()).then_some(()))
        },
    )
    .unwrap();
    all
}

/// The running task of `definition` and its container.
fn task_container(lab: &Lab, definition: &str) -> (TaskView, Container) {
    wait_for(
        &format!("a running task of {definition} and its container"),
        READY,
        || {
            let Some(t) = running_task(&tasks(lab)?, definition) else {
                bail!("none running");
            };
            let c = container(lab, &t)?;
            if c.pids.is_empty() {
                bail!("no process in {} yet", c.netns);
            }
            Ok(Some((t, c)))
        },
    )
    .unwrap()
}

/// Polls until the service's API view shows its east-west VIP.
fn east_west(lab: &Lab, fw: &Framework, tenant: &str, name: &str) -> (String, Vec<String>) {
    wait_for(
        &format!("the east-west VIP of {tenant}/{name} in the API"),
        READY,
        || {
            let s = service(lab, tenant, name)?;
            Ok(s.east_west.map(|v| (v, s.names)))
        },
    )
    .unwrap_or_else(|e| panic!("{e:#}\n{}", fw.log_tail(lab)))
}

/// The seeded lab with the upstream resolver on `outside` (the
/// framework's `--dns-server`).
fn lab_with_upstream() -> Lab {
    let mut lab = support::seeded();
    let outside = lab.netns(Host::Outside);
    lab.spawn_process(
        &outside,
        "upstream-dns",
        &["/usr/bin/python3", "-c", UPSTREAM_DNS],
    )
    .unwrap();
    lab
}

#[test]
fn services_are_reached_by_name_and_cluster_ip_inside_their_tenant_only() {
    let mut lab = lab_with_upstream();
    let mut fw = Framework::start(&mut lab);
    wait_both_backends(&lab, COKE_VIP, READY);
    wait_both_backends(&lab, PEPSI_VIP, READY);

    // both VIPs in the API, the CLI and the NB; the same address in both
    // tenants, each its own
    let (coke_vip, names) = east_west(&lab, &fw, "coke", "coke-web");
    assert_eq!(coke_vip, "10.96.0.2:32350");
    assert_eq!(names, vec!["coke-web.coke.ovn-mesos".to_owned()]);
    let (pepsi_vip, _) = east_west(&lab, &fw, "pepsi", "pepsi-web");
    assert_eq!(pepsi_vip, coke_vip);
    let vip = lab
        .exec(
            Host::Master,
            &[
                ovn_mesos_binary().unwrap().to_str().unwrap(),
                "--nb",
                &lab.nb_remote(),
                "vip",
                "--tenant",
                "coke",
                "coke-web",
            ],
        )
        .unwrap();
    assert!(
        vip.contains("10.10.1.12:32350 on GR_coke_mesos-master")
            && vip.contains("10.96.0.2:32350 (coke-web.coke.ovn-mesos) on coke1"),
        "{vip}"
    );

    // names, from inside a coke task
    let (_, apache) = task_container(&lab, "apachecoke");
    let resolv = in_task(&apache, &["cat", "/etc/resolv.conf"]).unwrap();
    assert!(
        resolv.contains("search coke.ovn-mesos") && resolv.contains("nameserver 10.10.1.1"),
        "{resolv}"
    );
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    assert!(
        !host_resolv.contains("coke.ovn-mesos"),
        "the host's resolv.conf is untouched"
    );
    for name in ["coke-web.coke.ovn-mesos", "coke-web"] {
        let hosts = in_task(&apache, &["getent", "hosts", name]).unwrap();
        assert!(hosts.starts_with("10.96.0.2 "), "{name}: {hosts}");
    }
    let upstream = in_task(&apache, &["getent", "hosts", "upstream.test"]).unwrap();
    assert!(upstream.starts_with("10.10.1.1 "), "{upstream}");
    // dig sends EDNS by default, which OVN 23.03.1 does not answer
    let dig = in_task(
        &apache,
        &[
            "dig",
            "+noedns",
            "+short",
            "+time=2",
            "+tries=1",
            "coke-web.coke.ovn-mesos",
        ],
    )
    .unwrap();
    assert_eq!(dig, "10.96.0.2");

    // by name, both backends; and a backend reaches its own service
    wait_answers(
        &apache,
        "http://coke-web.coke.ovn-mesos:32350/",
        &["apache", "nginx"],
    );
    wait_answers(&apache, "http://10.96.0.2:32350/", &["apache", "nginx"]);

    // pepsi: coke's names do not exist, and 10.96.0.2 is pepsi's own
    let (_, pepsi) = task_container(&lab, "apachepepsi");
    let e = in_task(&pepsi, &["getent", "hosts", "coke-web.coke.ovn-mesos"]).unwrap_err();
    assert!(e.to_string().contains("exited exit status: 2"), "{e}");
    let hosts = in_task(&pepsi, &["getent", "hosts", "pepsi-web"]).unwrap();
    assert!(hosts.starts_with("10.96.0.2 "), "{hosts}");
    let answers = wait_answers(&pepsi, "http://10.96.0.2:32350/", &["apache", "nginx"]);
    let coke_answers = wait_answers(&apache, "http://10.96.0.2:32350/", &["apache", "nginx"]);
    assert!(!answers.is_empty() && !coke_answers.is_empty());
    let pepsi_ips: BTreeSet<String> = service(&lab, "pepsi", "pepsi-web")
        .unwrap()
        .backends
        .into_iter()
        .collect();
    let lb = lab.nbctl(&["lb-list", "pepsi_pepsi-web_tcp"]).unwrap();
    for b in &pepsi_ips {
        assert!(
            lb.contains(b),
            "pepsi's cluster IP serves pepsi's backends only: {lb}"
        );
    }

    // the address stays across a restart and a redeploy
    restart(&mut lab, &mut fw);
    assert_eq!(
        east_west(&lab, &fw, "coke", "coke-web").0,
        "10.96.0.2:32350"
    );
    assert_eq!(
        apply(&lab, &with_marker(shipped("nginxcoke"), "v2")),
        "updated"
    );
    wait_for("the redeployed nginxcoke running", SETTLE, || {
        let t = running_task(&tasks(&lab)?, "nginxcoke");
        let d = definition(&lab, "nginxcoke")?;
        Ok(t.filter(|t| t.version.as_ref() == Some(&d.version) && d.deployment.is_none()))
    })
    .unwrap();
    assert_eq!(
        east_west(&lab, &fw, "coke", "coke-web").0,
        "10.96.0.2:32350"
    );
    let (_, apache) = task_container(&lab, "apachecoke");
    wait_answers(&apache, "http://coke-web:32350/", &["apache", "nginx"]);
    lab.check_logs_allowing(DATAPATH_RACE).unwrap();
}

/// A definition of its own service running what nginxcoke runs (it
/// answers `nginx`), with `instances`, a VIP port when given, and an
/// `ovn-mesos/allow-from` policy when given.
fn serving(id: &str, instances: u32, vip: Option<u16>, allow_from: Option<&str>) -> Value {
    let mut labels = vec![
        json!({"key": "ovn-mesos/instances", "value": instances.to_string()}),
        json!({"key": "ovn-mesos/drain-seconds", "value": "0"}),
    ];
    if let Some(p) = allow_from {
        labels.push(json!({"key": "ovn-mesos/allow-from", "value": p}));
    }
    let mut file = own_service(id, Value::Array(labels));
    if let Some(port) = vip {
        file["discovery"] = json!({"visibility": "EXTERNAL", "name": id, "ports": {"ports": [
            {"number": 80, "name": "http", "protocol": "tcp",
             "labels": {"labels": [{"key": "VIP_0", "value": format!("/{id}:{port}")}]}}
        ]}});
    }
    file
}

/// The port names in a service's port group (from the NB).
fn group_ports(lab: &Lab, service: &str) -> BTreeSet<String> {
    let pg = ovn::nb::port_group::port_group_name("coke", service);
    let uuids = lab
        .nbctl(&["--bare", "--columns=ports", "list", "Port_Group", &pg])
        .unwrap_or_default();
    uuids
        .split_whitespace()
        .filter_map(|u| lab.nbctl(&["get", "Logical_Switch_Port", u, "name"]).ok())
        .map(|n| n.trim().trim_matches('"').to_owned())
        .collect()
}

#[test]
fn a_policy_admits_its_peers_and_external_and_covers_every_new_task_at_once() {
    let mut lab = lab_with_upstream();
    let fw = Framework::start(&mut lab);
    wait_both_backends(&lab, COKE_VIP, READY);
    for file in [
        serving("guarded", 1, Some(32360), Some("client,external")),
        serving("client", 1, None, None),
        serving("bare", 1, None, None),
        serving("bare2", 1, None, None),
    ] {
        assert_eq!(apply(&lab, &file), "created");
    }
    for id in ["guarded", "client", "bare", "bare2"] {
        wait_placed(&lab, &fw, id, 1, &format!("{id} running"), |w| w.is_none());
    }
    let (cluster, _) = east_west(&lab, &fw, "coke", "guarded");
    let url = format!("http://{cluster}/");
    let (_, client) = task_container(&lab, "client");
    let (bare_task, bare) = task_container(&lab, "bare");
    let (_, bare2) = task_container(&lab, "bare2");
    let (_, web) = task_container(&lab, "apachecoke");

    // the matrix
    wait_answers(&client, &url, &["nginx"]);
    assert!(times_out(&bare, &url), "a bare task is refused");
    assert!(
        times_out(&web, &url),
        "another service of the tenant is refused"
    );
    let gateway = "10.10.1.12:32360";
    wait_for("outside through the gateway VIP", READY, || {
        Ok(curl_vip(&lab, gateway).ok())
    })
    .unwrap();
    // replies to the guarded task's own connections and ARP still work
    let (_, guarded) = task_container(&lab, "guarded");
    wait_answers(&guarded, "http://coke-web:32350/", &["apache", "nginx"]);

    // a CIDR added at runtime: no redeploy, bare is let in, bare2 is not
    let version = definition(&lab, "guarded").unwrap().version;
    let cidr = format!("client,external,{}/32", bare_task.ip);
    // (a change of the policy alone is answered like one of the count)
    assert_eq!(
        apply(&lab, &serving("guarded", 1, Some(32360), Some(&cidr))),
        "scaled"
    );
    wait_answers(&bare, &url, &["nginx"]);
    assert!(times_out(&bare2, &url), "outside the CIDR");
    let d = definition(&lab, "guarded").unwrap();
    assert_eq!(d.version, version, "a policy change deploys nothing");
    assert!(d.deployment.is_none());

    // scale up: every new task is in the group when it first runs, and
    // refuses bare2 at once
    let before: BTreeSet<String> = tasks(&lab)
        .unwrap()
        .into_iter()
        .filter(|t| t.definition == "guarded")
        .map(|t| t.id)
        .collect();
    scale(&lab, "guarded", 3);
    let mut covered = BTreeSet::new();
    wait_for(
        "the 2 new guarded tasks running, each checked",
        SETTLE,
        || {
            for t in tasks(&lab)? {
                if t.definition != "guarded" || before.contains(&t.id) || covered.contains(&t.id) {
                    continue;
                }
                if t.state != "TASK_RUNNING" {
                    continue;
                }
                let members = group_ports(&lab, "guarded");
                assert!(
                    members.contains(&t.port),
                    "{} runs outside its port group {members:?}",
                    t.id
                );
                let direct = format!("http://{}:80/", t.ip);
                assert!(
                    times_out(&bare2, &direct),
                    "new task {} accepted bare2",
                    t.id
                );
                covered.insert(t.id);
            }
            Ok((covered.len() == 2).then_some(()))
        },
    )
    .unwrap_or_else(|e| panic!("{e:#}\n{}", fw.log_tail(&lab)));
    wait_answers(&client, &url, &["nginx"]);

    // redeploy: the new version's tasks are covered too; the old ones leave
    let old: BTreeSet<String> = tasks(&lab)
        .unwrap()
        .into_iter()
        .filter(|t| t.definition == "guarded")
        .map(|t| t.port)
        .collect();
    let next = with_marker(serving("guarded", 3, Some(32360), Some(&cidr)), "v2");
    assert_eq!(apply(&lab, &next), "updated");
    let d = wait_definition(&lab, &fw, "guarded", "guarded redeployed", |d| {
        d.deployment.is_none() && d.running == 3 && d.draining == 0
    });
    let now: Vec<TaskView> = tasks(&lab)
        .unwrap()
        .into_iter()
        .filter(|t| t.definition == "guarded")
        .collect();
    assert!(now.iter().all(|t| t.version.as_ref() == Some(&d.version)));
    for t in &now {
        assert!(
            times_out(&bare2, &format!("http://{}:80/", t.ip)),
            "{}",
            t.id
        );
    }
    let ports: BTreeSet<String> = now.iter().map(|t| t.port.clone()).collect();
    wait_for("the old tasks' ports out of the group", SETTLE, || {
        let members = group_ports(&lab, "guarded");
        if members.intersection(&old).next().is_some() {
            bail!("still in the group: {members:?}");
        }
        Ok((members == ports).then_some(()))
    })
    .unwrap();
    wait_answers(&client, &url, &["nginx"]);
    lab.check_logs_allowing(DATAPATH_RACE).unwrap();
}
