//! What the `ovn-mesos run` tests check: the tasks of `GET /v1/tasks`
//! (waited for until RUNNING), each task's NB port against what the
//! framework must write, and a service's VIP in the API, `ovn-mesos vip
//! --json` and the NB load balancer.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use ovn::attachment::TaskNames;
use ovn_mesos_tests::wait_for;
use serde_json::Value;

use super::nb::{load_balancers, task_ports, NbPort};
use super::{in_netns, Framework, Lab, CHASSIS, WAIT};

/// One task as `GET /v1/tasks` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub id: String,
    pub definition: String,
    pub tenant: String,
    pub service: String,
    pub ip: String,
    pub mac: String,
    pub port: String,
    pub state: String,
    /// The API's `agent_id` and `hostname` of the task.
    pub agent_id: String,
    pub hostname: String,
    /// The version of its definition it runs.
    pub version: String,
}

pub fn task(v: &Value) -> Task {
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
    Task {
        id: s("id"),
        definition: s("definition"),
        tenant: s("tenant"),
        service: s("service"),
        ip: s("ip"),
        mac: s("mac"),
        port: s("port"),
        state: s("state"),
        agent_id: s("agent_id"),
        hostname: s("hostname"),
        version: s("version"),
    }
}

pub fn shipped(names: &[&str]) -> Vec<PathBuf> {
    names
        .iter()
        .map(|n| Lab::shipped(&format!("{n}.json")))
        .collect()
}

/// Waits until the API lists exactly `want` (definition -> instances)
/// tasks, all TASK_RUNNING; the tasks by definition.
pub fn wait_running(
    lab: &Lab,
    fw: &Framework,
    want: &[(&str, usize)],
) -> BTreeMap<String, Vec<Task>> {
    let what = format!("tasks {want:?} to be TASK_RUNNING in GET /v1/tasks");
    let tasks = wait_for(&what, WAIT, || {
        let tasks: Vec<Task> = fw.tasks(lab)?.iter().map(task).collect();
        let mut by_def: BTreeMap<String, Vec<Task>> = BTreeMap::new();
        for t in &tasks {
            by_def
                .entry(t.definition.clone())
                .or_default()
                .push(t.clone());
        }
        let done = tasks.len() == want.iter().map(|w| w.1).sum::<usize>()
            && tasks.iter().all(|t| t.state == "TASK_RUNNING")
            && want
                .iter()
                .all(|(d, n)| by_def.get(*d).map_or(0, Vec::len) == *n);
        if !done {
            anyhow::bail!("tasks now: {tasks:?}");
        }
        Ok(Some(by_def))
    });
    tasks.unwrap_or_else(|e| panic!("{e:#}\nframework log:\n{}", fw.log_text()))
}

pub fn framework_id(lab: &Lab, fw: &Framework) -> String {
    let (status, body) = fw.health(lab).expect("GET /health");
    assert_eq!(status, 200, "{body}");
    body["framework_id"]
        .as_str()
        .expect("framework_id in /health")
        .to_owned()
}

/// The framework id in `<state dir>/framework.json`, if any.
pub fn saved_framework_id(state_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(state_dir.join("framework.json")).ok()?;
    let json: Value = serde_json::from_str(&text).ok()?;
    json["framework_id"].as_str().map(str::to_owned)
}

/// The task's network namespace (the executor's naming), noted for cleanup.
pub fn netns(lab: &Lab, framework: &str, t: &Task) -> String {
    let ns = TaskNames::new(framework, &t.id).netns;
    lab.note_netns(&ns);
    ns
}

/// Every task's NB port is exactly what the framework must write.
pub fn check_ports(lab: &Lab, framework: &str, tasks: &[Task]) {
    let ports = task_ports(&lab.central).expect("task ports");
    let names: Vec<&String> = ports.keys().collect();
    let mut expected: Vec<&String> = tasks.iter().map(|t| &t.port).collect();
    expected.sort();
    assert_eq!(names, expected, "exactly one NB port per task");
    let subnet_host = |ip: &str| {
        let ip: Ipv4Addr = ip.parse().expect("IPv4");
        let o = ip.octets();
        o[..3] == [192, 168, 1] && (2..255).contains(&o[3])
    };
    for t in tasks {
        let p: &NbPort = &ports[&t.port];
        let switch = format!("{}1", t.tenant);
        assert_eq!(p.switch, switch, "{p:?}");
        let addr = format!("{} {}", t.mac, t.ip);
        assert_eq!(p.addresses, vec![addr.clone()], "{p:?}");
        assert_eq!(p.port_security, vec![addr], "{p:?}");
        assert!(subnet_host(&t.ip), "{} in 192.168.1.0/24: {t:?}", t.ip);
        assert_eq!(
            p.options.get("requested-chassis").map(String::as_str),
            Some(CHASSIS),
            "{p:?}"
        );
        for (key, value) in [
            ("ovn-mesos/owner", "ovn-mesos"),
            ("ovn-mesos/kind", "task-port"),
            ("ovn-mesos/tenant", t.tenant.as_str()),
            ("ovn-mesos/network", switch.as_str()),
            ("ovn-mesos/task", t.id.as_str()),
            ("ovn-mesos/framework", framework),
            ("ovn-mesos/service", t.service.as_str()),
            ("ovn-mesos/agent-id", t.agent_id.as_str()),
            ("ovn-mesos/hostname", t.hostname.as_str()),
            ("ovn-mesos/version", t.version.as_str()),
        ] {
            assert_eq!(p.id(key), value, "external_ids:{key} of {p:?}");
        }
        assert!(!p.id("ovn-mesos/agent-id").is_empty(), "{p:?}");
        assert!(!p.id("ovn-mesos/version").is_empty(), "{p:?}");
    }
    let mut ips: Vec<(&str, &str)> = tasks.iter().map(|t| (&*t.tenant, &*t.ip)).collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), tasks.len(), "no address twice in a tenant");
}

/// The VIP of `tenant`'s service at `gateway:32350` lists exactly the
/// backends `ip:80` of `running`, in the API, `ovn-mesos vip --json` and
/// the NB load balancer (waited for: VIPs are written 20 ms after a change).
pub fn check_vip(
    lab: &Lab,
    fw: &Framework,
    tenant: &str,
    service: &str,
    gateway: &str,
    running: &[&Task],
) {
    let mut want: Vec<String> = running.iter().map(|t| format!("{}:80", t.ip)).collect();
    want.sort();
    let vip = format!("{gateway}:32350");
    let lb_name = format!("{tenant}_{service}_tcp");
    let what = format!("VIP {vip} of {tenant}/{service} to list {want:?}");
    wait_for(&what, WAIT, || {
        let api = fw.service(lab, tenant, service)?;
        let mut api_backends: Vec<String> = serde_json::from_value(api["backends"].clone())?;
        api_backends.sort();
        let api_vips: Vec<String> = serde_json::from_value(api["vips"].clone())?;
        let (ok, out, err) = lab.cli(&["vip", service, "--tenant", tenant, "--json"]);
        anyhow::ensure!(ok, "vip --json: {err}");
        let cli: Value = serde_json::from_str(&out)?;
        let cli_vip = &cli["vips"][0];
        let mut cli_backends: Vec<String> = serde_json::from_value(cli_vip["backends"].clone())?;
        cli_backends.sort();
        let lbs = load_balancers(&lab.central)?;
        let nb_backends = lbs.get(&lb_name).map(|lb| lb.backends(&vip));
        let same = api_vips == [vip.clone()]
            && api_backends == want
            && cli["vips"].as_array().map_or(0, Vec::len) == 1
            && cli_vip["vip"] == vip.as_str()
            && cli_backends == want
            && nb_backends.as_ref() == Some(&want);
        if !same {
            anyhow::bail!(
                "API vips {api_vips:?} backends {api_backends:?}; vip --json {cli}; NB {lb_name}: {nb_backends:?}"
            );
        }
        Ok(Some(()))
    })
    .unwrap();
}

/// `curl` from namespace `ns` until `url` answers; the body.
pub fn curl(ns: &str, url: &str) -> String {
    wait_for(&format!("{url} to answer from {ns}"), WAIT, || {
        Ok(in_netns(ns, &["curl", "-sS", "-m", "2", url]).ok())
    })
    .unwrap()
}

pub fn all(by_def: &BTreeMap<String, Vec<Task>>) -> Vec<Task> {
    by_def.values().flatten().cloned().collect()
}

pub fn started(what: &str, t: Instant) {
    eprintln!("{what}: {} ms", t.elapsed().as_millis());
}
