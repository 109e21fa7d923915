//! `ovn-mesos run` end to end: the real binary as a child process against
//! real OVN daemons (central + one chassis), mesos-local and the real
//! `ovn-mesos-executor`, with the shipped task files (Apache and nginx
//! behind the coke-web and pepsi-web VIPs).
//!
//! Covered: every task RUNNING with its port (switch, addresses, port
//! security, requested-chassis, owner keys) and an address of
//! 192.168.1.0/24; the VIPs list exactly the running backends (API, `vip
//! --json`, NB); HTTP between containers through OVN; a killed task losing
//! its backend and port and being replaced, also when killed through
//! `DELETE /v1/tasks/{id}`; SIGTERM and SIGKILL restarts
//! keeping the framework id, tasks and addresses without duplicate rows; a
//! master restart; bad task files and an exhausted subnet; `teardown`.

mod framework_common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use framework_common::checks::{
    all, check_ports, check_vip, curl, framework_id, netns, saved_framework_id, shipped, started,
    task, wait_running, Task,
};
use framework_common::nb::{load_balancers, lsp_count, task_ports, NbPort};
use framework_common::{add_network, netns_pids, Framework, Lab, MasterKind, CHASSIS, WAIT};
use ovn_mesos_tests::wait_for;

#[test]
fn the_shipped_tasks_run_on_their_ports_behind_their_vips() {
    let t0 = Instant::now();
    let lab = Lab::start(MasterKind::InProcess);
    let tasks_dir = Lab::shipped("");
    let fw = Framework::start(&lab, "run", &[tasks_dir], &lab.state_dir("state"));
    let framework = framework_id(&lab, &fw);
    let by_def = wait_running(
        &lab,
        &fw,
        &[
            ("apachecoke", 1),
            ("nginxcoke", 1),
            ("apachepepsi", 1),
            ("nginxpepsi", 1),
        ],
    );
    started("four tasks running", t0);
    let tasks = all(&by_def);
    for t in &tasks {
        let tenant = if t.definition.ends_with("coke") {
            "coke"
        } else {
            "pepsi"
        };
        assert_eq!(t.tenant, tenant, "{t:?}");
        assert_eq!(t.service, format!("{tenant}-web"), "{t:?}");
    }
    check_ports(&lab, &framework, &tasks);
    for (tenant, gateway) in [("coke", "10.10.1.12"), ("pepsi", "10.10.1.14")] {
        let running: Vec<&Task> = tasks.iter().filter(|t| t.tenant == tenant).collect();
        assert_eq!(running.len(), 2);
        check_vip(
            &lab,
            &fw,
            tenant,
            &format!("{tenant}-web"),
            gateway,
            &running,
        );
    }
    let (status, services) = lab
        .http_get(&format!("http://{}/v1/services", fw.api))
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        services["services"].as_array().map(Vec::len),
        Some(2),
        "{services}"
    );

    // HTTP through OVN, container to container on each tenant's switch.
    let one = |def: &str| by_def[def][0].clone();
    for tenant in ["coke", "pepsi"] {
        let apache = one(&format!("apache{tenant}"));
        let nginx = one(&format!("nginx{tenant}"));
        let (ns_a, ns_n) = (
            netns(&lab, &framework, &apache),
            netns(&lab, &framework, &nginx),
        );
        assert_eq!(
            curl(&ns_n, &format!("http://{}/", apache.ip)).trim(),
            "apache"
        );
        assert_eq!(
            curl(&ns_a, &format!("http://{}/", nginx.ip)).trim(),
            "nginx"
        );
    }
    started("test done", t0);
}

/// Waits until `victim` (of nginxcoke, beside one apachecoke task) is gone
/// from the API and the NB and another nginxcoke task runs; that task.
fn wait_replaced(lab: &Lab, fw: &Framework, victim: &Task) -> Task {
    wait_for(
        "the killed nginxcoke task to be gone from the API and the NB, and a new one RUNNING",
        WAIT,
        || {
            let tasks: Vec<Task> = fw.tasks(lab)?.iter().map(task).collect();
            let ports = task_ports(&lab.central)?;
            let new: Vec<&Task> = tasks
                .iter()
                .filter(|t| t.definition == "nginxcoke" && t.state == "TASK_RUNNING")
                .collect();
            let gone =
                !tasks.iter().any(|t| t.id == victim.id) && !ports.contains_key(&victim.port);
            Ok((gone && new.len() == 1 && tasks.len() == 2).then(|| new[0].clone()))
        },
    )
    .unwrap_or_else(|e| panic!("{e:#}\nlog:\n{}", fw.log_text()))
}

#[test]
fn a_task_killed_through_the_api_is_replaced_on_a_new_port() {
    let lab = Lab::start(MasterKind::InProcess);
    let files = shipped(&["apachecoke", "nginxcoke"]);
    let fw = Framework::start(&lab, "run", &files, &lab.state_dir("state"));
    let before = wait_running(&lab, &fw, &[("apachecoke", 1), ("nginxcoke", 1)]);
    let victim = before["nginxcoke"][0].clone();
    let apache = before["apachecoke"][0].clone();

    let (status, body) = fw.kill_task(&lab, "nginxcoke.nope").unwrap();
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"], "no task nginxcoke.nope");
    let (status, body) = fw.kill_task(&lab, &victim.id).unwrap();
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["task"], victim.id.as_str());

    let replaced = wait_replaced(&lab, &fw, &victim);
    assert_ne!(replaced.port, victim.port, "a new port");
    check_vip(
        &lab,
        &fw,
        "coke",
        "coke-web",
        "10.10.1.12",
        &[&apache, &replaced],
    );
    let log = fw.log_text();
    assert!(
        log.contains("killing the task at the operator's request"),
        "{log}"
    );
}

#[test]
fn a_killed_task_loses_its_backend_and_port_and_is_replaced() {
    let t0 = Instant::now();
    let lab = Lab::start(MasterKind::InProcess);
    let files = shipped(&["apachecoke", "nginxcoke"]);
    let fw = Framework::start(&lab, "run", &files, &lab.state_dir("state"));
    let framework = framework_id(&lab, &fw);
    let before = wait_running(&lab, &fw, &[("apachecoke", 1), ("nginxcoke", 1)]);
    let victim = before["nginxcoke"][0].clone();
    let apache = before["apachecoke"][0].clone();
    check_vip(
        &lab,
        &fw,
        "coke",
        "coke-web",
        "10.10.1.12",
        &[&apache, &victim],
    );

    // Kill the task's processes: everything in its network namespace.
    let ns = netns(&lab, &framework, &victim);
    let pids = netns_pids(&ns);
    assert!(!pids.is_empty(), "processes in {ns}");
    for pid in pids {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let replaced = wait_replaced(&lab, &fw, &victim);
    assert_ne!(replaced.id, victim.id, "a new task id");
    assert_ne!(replaced.port, victim.port, "a new port");
    let tasks: Vec<Task> = fw.tasks(&lab).unwrap().iter().map(task).collect();
    check_ports(&lab, &framework, &tasks);
    check_vip(
        &lab,
        &fw,
        "coke",
        "coke-web",
        "10.10.1.12",
        &[&apache, &replaced],
    );
    if replaced.ip != victim.ip {
        let lbs = load_balancers(&lab.central).unwrap();
        let backends = lbs["coke_coke-web_tcp"].backends("10.10.1.12:32350");
        assert!(
            !backends.contains(&format!("{}:80", victim.ip)),
            "{backends:?}"
        );
    }
    assert!(
        fw.log_text().contains("task ended"),
        "the log tells the task ended"
    );
    assert!(
        !Path::new("/var/run/netns").join(&ns).exists(),
        "{ns} removed"
    );
    started("test done", t0);
}

/// What a restart must keep: the tasks (id -> IP), the LSP count, one LB.
fn restart_invariants(lab: &Lab, fw: &Framework) -> (BTreeMap<String, String>, usize) {
    let tasks = wait_running(lab, fw, &[("apachecoke", 1), ("nginxcoke", 1)]);
    let ips = all(&tasks).into_iter().map(|t| (t.id, t.ip)).collect();
    let lsps = lsp_count(&lab.central).unwrap();
    let lbs = load_balancers(&lab.central).unwrap();
    let coke: Vec<&String> = lbs.keys().filter(|n| n.starts_with("coke_")).collect();
    assert_eq!(coke, ["coke_coke-web_tcp"], "one LB per service");
    (ips, lsps)
}

#[test]
fn a_restarted_framework_keeps_its_id_its_tasks_and_their_addresses() {
    let t0 = Instant::now();
    let lab = Lab::start(MasterKind::InProcess);
    let files = shipped(&["apachecoke", "nginxcoke"]);
    let state = lab.state_dir("state");
    let mut fw = Framework::start(&lab, "run-1", &files, &state);
    let framework = framework_id(&lab, &fw);
    assert_eq!(
        saved_framework_id(&state).as_deref(),
        Some(framework.as_str())
    );
    let (ips, lsps) = restart_invariants(&lab, &fw);
    let netns_before: Vec<String> = fw
        .tasks(&lab)
        .unwrap()
        .iter()
        .map(|t| netns(&lab, &framework, &task(t)))
        .collect();

    for (round, crash) in [(2, false), (3, true)] {
        if crash {
            fw.kill9();
        } else {
            let status = fw.sigterm().unwrap();
            assert!(status.success(), "SIGTERM exits 0: {status}");
            assert!(fw.log_text().contains("stopping"), "{}", fw.log_text());
        }
        for ns in &netns_before {
            assert!(
                !netns_pids(ns).is_empty(),
                "task in {ns} runs on while the framework is away"
            );
        }
        drop(fw);
        fw = Framework::start(&lab, &format!("run-{round}"), &files, &state);
        assert_eq!(
            framework_id(&lab, &fw),
            framework,
            "same framework id (round {round})"
        );
        assert_eq!(
            saved_framework_id(&state).as_deref(),
            Some(framework.as_str())
        );
        let (ips_now, lsps_now) = restart_invariants(&lab, &fw);
        assert_eq!(ips_now, ips, "same tasks, same addresses (round {round})");
        assert_eq!(lsps_now, lsps, "no duplicate port (round {round})");
        let tasks: Vec<Task> = fw.tasks(&lab).unwrap().iter().map(task).collect();
        check_ports(&lab, &framework, &tasks);
        for t in fw.tasks(&lab).unwrap() {
            assert_eq!(
                t["hostname"], CHASSIS,
                "the agent's hostname comes back with the task (round {round}): {t}"
            );
        }
        let running: Vec<&Task> = tasks.iter().collect();
        check_vip(&lab, &fw, "coke", "coke-web", "10.10.1.12", &running);
        assert!(
            fw.log_text().contains("tasks of the earlier run recovered"),
            "{}",
            fw.log_text()
        );
    }
    started("test done", t0);
}

#[test]
fn a_restarted_master_leaves_the_tasks_running_on_their_ports() {
    let t0 = Instant::now();
    let mut lab = Lab::start(MasterKind::Process);
    let files = shipped(&["apachecoke", "nginxcoke"]);
    let fw = Framework::start(&lab, "run", &files, &lab.state_dir("state"));
    let framework = framework_id(&lab, &fw);
    let (ips, lsps) = restart_invariants(&lab, &fw);
    let ports_before = task_ports(&lab.central).unwrap();

    lab.restart_master();
    started("master restarted", t0);
    // The new master learns the framework (resubscription) and the tasks
    // (agent re-registration) again.
    let what = format!("the restarted master to list framework {framework} with 2 running tasks");
    wait_for(&what, WAIT, || {
        let state = lab.master_state()?;
        let fw_state = state["frameworks"]
            .as_array()
            .and_then(|a| a.iter().find(|f| f["id"] == framework.as_str()).cloned());
        let Some(f) = fw_state else {
            anyhow::bail!("frameworks: {}", state["frameworks"]);
        };
        let running = f["tasks"].as_array().map_or(0, |t| {
            t.iter().filter(|t| t["state"] == "TASK_RUNNING").count()
        });
        Ok((f["active"] == true && running == 2).then_some(()))
    })
    .unwrap_or_else(|e| panic!("{e:#}\nframework log:\n{}", fw.log_text()));
    wait_for("GET /health to answer 200 again", WAIT, || {
        Ok((fw.health(&lab)?.0 == 200).then_some(()))
    })
    .unwrap();
    assert_eq!(framework_id(&lab, &fw), framework);
    wait_for(
        "the framework log to say it resubscribed with its id (failover=true)",
        WAIT,
        || Ok(fw.log_text().contains("failover=true").then_some(())),
    )
    .unwrap();
    let log = fw.log_text();
    assert!(!log.contains("task ended"), "no task ended:\n{log}");
    let (ips_now, lsps_now) = restart_invariants(&lab, &fw);
    assert_eq!(ips_now, ips, "the same tasks with the same addresses");
    assert_eq!(lsps_now, lsps);
    assert_eq!(
        task_ports(&lab.central).unwrap(),
        ports_before,
        "ports unchanged"
    );
    let tasks: Vec<Task> = fw.tasks(&lab).unwrap().iter().map(task).collect();
    check_vip(
        &lab,
        &fw,
        "coke",
        "coke-web",
        "10.10.1.12",
        &tasks.iter().collect::<Vec<_>>(),
    );
    started("test done", t0);
}

/// Nothing of a refused start: no task port, no load balancer, no
/// framework id, no framework at the master.
fn assert_nothing_created(lab: &Lab, state: &Path) {
    assert!(task_ports(&lab.central).unwrap().is_empty(), "no task port");
    assert!(
        load_balancers(&lab.central).unwrap().is_empty(),
        "no load balancer"
    );
    assert_eq!(saved_framework_id(state), None, "no framework id saved");
    let frameworks = lab.master_state().unwrap()["frameworks"].clone();
    assert_eq!(frameworks.as_array().map(Vec::len), Some(0), "{frameworks}");
}

#[test]
fn bad_task_files_stop_run_with_one_line_and_launch_nothing() {
    let t0 = Instant::now();
    let lab = Lab::start(MasterKind::InProcess);
    let good = Lab::shipped("apachecoke.json");
    let malformed = lab.write_file(
        "bad/malformed.json",
        "{\"name\": \"x\",\n  \"task_id\": }\n",
    );
    let unknown = lab.write_file(
        "bad/unknown-network.json",
        &std::fs::read_to_string(Lab::shipped("nginxcoke.json"))
            .unwrap()
            .replace("\"coke1\"", "\"nope1\""),
    );
    let cases = [
        (&malformed, vec!["invalid JSON", "line 2"]),
        (
            &unknown,
            vec!["container.network_infos", "nope1", "not a network"],
        ),
    ];
    for (i, (file, words)) in cases.into_iter().enumerate() {
        let state = lab.state_dir(&format!("state-{i}"));
        let out = Framework::run_expecting_exit(&lab, &[good.clone(), file.clone()], &state);
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        // stderr also carries the info log; the error is one line of its own.
        let lines: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.starts_with("ovn-mesos: error: "))
            .collect();
        assert_eq!(lines.len(), 1, "one error line: {:?}", out.stderr);
        let line = lines[0];
        assert!(
            line.contains(&file.display().to_string()),
            "names the file: {line}"
        );
        for w in words {
            assert!(line.contains(w), "{w:?} in {line}");
        }
        assert!(
            !line.contains("apachecoke.json"),
            "the good file is not blamed: {line}"
        );
        assert_nothing_created(&lab, &state);
    }
    started("test done", t0);
}

/// A task file of `instances` copies of `sleep` on network `switch`.
fn sleeper(name: &str, switch: &str, instances: u32) -> String {
    serde_json::json!({
        "name": name,
        "task_id": {"value": name},
        "agent_id": {"value": ""},
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.01}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": 8}}
        ],
        "command": {"value": "exec sleep 600"},
        "container": {"type": "MESOS", "network_infos": [{"name": "ovn", "labels": {"labels": [
            {"key": "logical_switch", "value": switch}
        ]}}]},
        "labels": {"labels": [
            {"key": "ovn-mesos/instances", "value": instances.to_string()},
            {"key": "ovn-mesos/backoff-seconds", "value": "1"}
        ]}
    })
    .to_string()
}

#[test]
fn an_exhausted_subnet_runs_the_tasks_that_fit_and_says_why_the_rest_wait() {
    let t0 = Instant::now();
    let lab = Lab::start(MasterKind::InProcess);
    // 192.168.9.0/29: .1 is the router port, .2-.6 are free (5 addresses).
    add_network(&lab, "small1", "192.168.9.0/29");
    let file = lab.write_file("tasks/sleepers.json", &sleeper("sleepers", "small1", 7));
    let fw = Framework::start(&lab, "run", &[file], &lab.state_dir("state"));
    let what = "5 sleepers RUNNING and the log naming small1 with no free address";
    let running = wait_for(what, WAIT, || {
        let tasks: Vec<Task> = fw.tasks(&lab)?.iter().map(task).collect();
        let log = fw.log_text();
        let said = log
            .lines()
            .any(|l| l.contains("small1") && l.contains("no free address"));
        let running = tasks.iter().filter(|t| t.state == "TASK_RUNNING").count();
        Ok((said && running == 5 && tasks.len() == 5).then_some(tasks))
    })
    .unwrap_or_else(|e| panic!("{e:#}\nlog:\n{}", fw.log_text()));
    let framework = framework_id(&lab, &fw);
    for t in &running {
        netns(&lab, &framework, t);
    }
    let ports = task_ports(&lab.central).unwrap();
    assert_eq!(ports.len(), 5, "no extra port: {ports:?}");
    assert!(ports.values().all(|p| p.switch == "small1"), "{ports:?}");
    let mut ips: Vec<&str> = ports.values().map(NbPort::ip).collect();
    ips.sort();
    assert_eq!(
        ips,
        [
            "192.168.9.2",
            "192.168.9.3",
            "192.168.9.4",
            "192.168.9.5",
            "192.168.9.6"
        ]
    );
    started("test done", t0);
}

#[test]
fn teardown_kills_the_tasks_and_deletes_ports_load_balancers_and_the_framework_id() {
    let t0 = Instant::now();
    let lab = Lab::start(MasterKind::InProcess);
    let files = shipped(&["apachecoke", "nginxcoke"]);
    let state = lab.state_dir("state");
    let mut fw = Framework::start(&lab, "run", &files, &state);
    let framework = framework_id(&lab, &fw);
    let tasks = all(&wait_running(
        &lab,
        &fw,
        &[("apachecoke", 1), ("nginxcoke", 1)],
    ));
    let namespaces: Vec<String> = tasks.iter().map(|t| netns(&lab, &framework, t)).collect();
    assert!(fw.sigterm().unwrap().success());
    assert_eq!(
        task_ports(&lab.central).unwrap().len(),
        2,
        "ports stay while run is stopped"
    );

    let state_arg = state.display().to_string();
    let (ok, out, err) = lab.cli(&[
        "teardown",
        "--master",
        lab.master(),
        "--state-dir",
        &state_arg,
    ]);
    assert!(ok, "teardown: {out}{err}");
    assert!(
        out.contains(&format!("framework {framework} torn down")),
        "{out}"
    );
    assert!(
        out.contains("deleted 2 task port(s), 1 service load balancer(s), 1 port group(s)"),
        "{out}"
    );
    assert!(task_ports(&lab.central).unwrap().is_empty(), "no task port");
    assert!(
        load_balancers(&lab.central).unwrap().is_empty(),
        "no load balancer"
    );
    let groups = lab
        .central
        .nbctl(&["--bare", "--columns=name", "list", "Port_Group"])
        .unwrap();
    assert_eq!(groups.trim(), "", "no port group");
    assert_eq!(saved_framework_id(&state), None, "framework id forgotten");
    wait_for(
        "the torn-down tasks' namespaces to be removed",
        WAIT,
        || {
            Ok(namespaces
                .iter()
                .all(|ns| !Path::new("/var/run/netns").join(ns).exists())
                .then_some(()))
        },
    )
    .unwrap();
    wait_for("the master to list no active framework", WAIT, || {
        let state = lab.master_state()?;
        let active = state["frameworks"].as_array().map_or(0, |a| {
            a.iter().filter(|f| f["id"] == framework.as_str()).count()
        });
        Ok((active == 0).then_some(()))
    })
    .unwrap();
    let ovs_ports = lab.chassis.vsctl(&["list-ports", "br-int"]).unwrap();
    assert!(ovs_ports.trim().is_empty(), "no OVS port left: {ovs_ports}");
    started("test done", t0);
}
