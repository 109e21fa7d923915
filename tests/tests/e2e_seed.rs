//! The seed walk-through end to end with the project's own commands, in the
//! three-host lab: `ovn-mesos tenant-init` / `gateway-init` / `network-init`
//! for coke and pepsi, then `ovn-mesos run --master 10.10.1.11:5050 --tasks
//! tasks/` inside `mesos-master`, then `curl` from `outside` through each
//! tenant's VIP. Every test starts its own lab and framework and tears both
//! down (also on failure, through `Drop`).
//!
//! Covered: both VIPs answer Apache and nginx, `ovn-mesos vip` shows them;
//! a killed nginx task leaves the VIP and its replacement joins it; the VIP
//! keeps answering while the framework is SIGKILLed and started again, which
//! then adopts its tasks; with the framework frozen, OVN's own health checks
//! take a killed backend out of the VIP; a frozen backend leaves the VIP at
//! its failed health check and is replaced; a checked service scaled from one
//! to four instances fails no curl (new backends join once healthy);
//! stopping the lab leaves nothing. Two timings are
//! printed as `BENCH` lines: `ovn-mesos run` to the first answer through
//! the VIP, and a backend's TASK_RUNNING to its first answer through the VIP.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use ovn_mesos_tests::binaries::ovn_mesos_binary;
use ovn_mesos_tests::daemon::pid_is_alive;
use ovn_mesos_tests::lab::state::netns_exists;
use ovn_mesos_tests::lab::{Host, Lab};
use ovn_mesos_tests::wait_for;

#[path = "e2e_seed/framework.rs"]
mod framework;
#[path = "e2e_seed/probe.rs"]
mod probe;
#[allow(dead_code)]
#[path = "e2e_lab/support.rs"]
mod support;

use framework::*;
use probe::*;

/// A seeded lab with the framework running and both VIPs answering with
/// both backends.
fn running() -> (Lab, Framework) {
    let mut lab = support::seeded();
    let fw = Framework::start(&mut lab);
    for vip in [COKE_VIP, PEPSI_VIP] {
        wait_both_backends(&lab, vip, READY);
    }
    (lab, fw)
}

#[test]
fn the_seed_scenario_serves_apache_and_nginx_through_both_tenants_vips() {
    let mut lab = support::seeded();
    let fw = Framework::start(&mut lab);
    let (first, body) = wait_first_answer(&lab, COKE_VIP, fw.started, READY);
    eprintln!(
        "BENCH ovn-mesos run -> first answer through {COKE_VIP}: {} ms ({body})",
        first.as_millis()
    );
    for vip in [COKE_VIP, PEPSI_VIP] {
        let answers = wait_both_backends(&lab, vip, READY);
        eprintln!("{vip}: {} answers {:?}", answers.len(), tally(&answers));
    }
    let running = wait_four_running(&lab, &fw);
    let cli = ovn_mesos_binary().unwrap().display().to_string();
    for (tenant, name, vip) in [
        ("coke", "coke-web", COKE_VIP),
        ("pepsi", "pepsi-web", PEPSI_VIP),
    ] {
        let svc = service(&lab, tenant, name).unwrap();
        assert_eq!(svc.vips, vec![vip.to_string()], "{svc:?}");
        let mut want: Vec<String> = running
            .iter()
            .filter(|t| t.tenant == tenant)
            .map(|t| format!("{}:80", t.ip))
            .collect();
        want.sort();
        let mut backends = svc.backends.clone();
        backends.sort();
        assert_eq!(backends, want, "{name}: backends are its running tasks");
        assert_eq!(backends.len(), 2);
        // The service's two tasks run on the two agents: the VIP's traffic
        // crosses geneve tunnels to both.
        let hosts: BTreeSet<Host> = running
            .iter()
            .filter(|t| t.tenant == tenant)
            .map(host_of)
            .collect();
        assert_eq!(
            hosts,
            BTreeSet::from([Host::Agent1, Host::Agent2]),
            "{name}"
        );
        let out = lab.exec(Host::Master, &[&cli, "vip", name]).unwrap();
        eprintln!("$ ovn-mesos vip {name}\n{out}");
        assert!(out.contains(vip), "{out}");
        for b in &backends {
            assert!(out.contains(b.as_str()), "{b} not in:\n{out}");
        }
    }
    lab.check_logs().unwrap();
}

#[test]
fn a_killed_nginx_task_leaves_the_vip_and_its_replacement_joins_it() {
    let (lab, fw) = running();
    let nginx = running_task(&tasks(&lab).unwrap(), "nginxcoke").expect("nginxcoke runs");
    let c = container(&lab, &nginx).unwrap();
    assert!(!c.pids.is_empty(), "no process in {}", c.netns);
    let killed = Instant::now();
    for pid in &c.pids {
        let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
    }
    // The window is the relaunch backoff (1 s) plus the launch: 5 in a row.
    let requests = wait_only(&lab, COKE_VIP, "apache", 5, Duration::from_secs(20));
    eprintln!(
        "nginx task {} killed: 5 apache answers in a row after {} ms ({requests} requests)",
        nginx.id,
        killed.elapsed().as_millis()
    );

    // The replacement: its TASK_RUNNING (seen in /v1/tasks, polled on a
    // thread) and its first answer through the VIP (curled here).
    let running_at: Mutex<Option<Instant>> = Mutex::new(None);
    let replacement = std::thread::scope(|s| {
        let watcher = s.spawn(|| {
            let task = wait_for(
                "a replacement nginxcoke task in TASK_RUNNING in /v1/tasks",
                READY,
                || {
                    let t = running_task(&tasks(&lab)?, "nginxcoke");
                    Ok(t.filter(|t| t.id != nginx.id))
                },
            );
            *running_at.lock().unwrap() = Some(Instant::now());
            task
        });
        let answered = wait_for(
            &format!("nginx to answer through {COKE_VIP} again"),
            READY,
            || Ok((curl_vip(&lab, COKE_VIP).ok().as_deref() == Some("nginx")).then(Instant::now)),
        );
        let task = watcher.join().expect("watcher thread").unwrap();
        let answered = answered.unwrap_or_else(|e| panic!("{e:#}\n{}", fw.log_tail(&lab)));
        let running_at = running_at.lock().unwrap().expect("seen running");
        eprintln!(
            "BENCH TASK_RUNNING -> answering through the VIP: {} ms (task {}, {} ms after the kill)",
            answered.saturating_duration_since(running_at).as_millis(),
            task.id,
            running_at.duration_since(killed).as_millis()
        );
        task
    });
    assert_ne!(replacement.id, nginx.id);
    let old = tasks(&lab).unwrap().into_iter().find(|t| t.id == nginx.id);
    assert!(
        old.as_ref().is_none_or(|t| t.state != "TASK_RUNNING"),
        "the killed task still shows as running: {old:?}"
    );
    let answers = wait_both_backends(&lab, COKE_VIP, READY);
    eprintln!("after the replacement: {:?}", tally(&answers));
    let svc = service(&lab, "coke", "coke-web").unwrap();
    assert_eq!(svc.backends.len(), 2, "{svc:?}");
    assert!(svc.backends.contains(&format!("{}:80", replacement.ip)));
}

/// `curl` through both VIPs from `outside` every `period` until `stop`.
fn curl_loop(outside: &str, period: Duration, stop: &AtomicBool, out: &Mutex<Vec<Curl>>) {
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        for vip in [COKE_VIP, PEPSI_VIP] {
            let at = Instant::now();
            let result = curl_backend(outside, vip);
            out.lock().unwrap().push((at, vip, result));
        }
        next += period;
        // The loop's fixed rate (the measured thing, not a wait).
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
}

/// Names of the NB rows of `table` (`ovn-nbctl --bare --columns=name list`), sorted.
fn nb_names(lab: &Lab, table: &str) -> Vec<String> {
    let out = lab
        .nbctl(&["--bare", "--columns=name", "list", table])
        .unwrap();
    let mut names: Vec<String> = out
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    names.sort();
    names
}

#[test]
fn the_vip_keeps_answering_while_the_framework_is_killed_and_restarted() {
    let (mut lab, mut fw) = running();
    let before = wait_four_running(&lab, &fw);
    let lsps_before = nb_names(&lab, "Logical_Switch_Port");
    let lbs_before = nb_names(&lab, "Load_Balancer");
    let outside = lab.netns(Host::Outside);
    let stop = AtomicBool::new(false);
    let probes: Mutex<Vec<Curl>> = Mutex::new(Vec::new());
    let count_since = |t: Instant| probes.lock().unwrap().iter().filter(|p| p.0 >= t).count();
    let (killed, restarted, adopted) = std::thread::scope(|s| {
        s.spawn(|| curl_loop(&outside, Duration::from_millis(100), &stop, &probes));
        let t0 = Instant::now();
        wait_for("10 curls before the kill", READY, || {
            Ok((count_since(t0) >= 10).then_some(()))
        })
        .unwrap();
        let killed = Instant::now();
        fw.kill();
        wait_for("20 curls while the framework is down", READY, || {
            Ok((count_since(killed) >= 20).then_some(()))
        })
        .unwrap();
        let restarted = Instant::now();
        fw.restart(&mut lab);
        wait_subscribed(&lab, &fw);
        let after = wait_four_running(&lab, &fw);
        let adopted = Instant::now();
        wait_for(
            "20 curls after the restarted framework reported its tasks",
            READY,
            || Ok((count_since(adopted) >= 20).then_some(())),
        )
        .unwrap();
        stop.store(true, Ordering::Relaxed);
        let same = |v: &[ovn_mesos::api::TaskView]| -> Vec<(String, String, String)> {
            v.iter()
                .map(|t| (t.id.clone(), t.ip.clone(), t.port.clone()))
                .collect()
        };
        assert_eq!(same(&after), same(&before), "the same tasks, IPs and ports");
        (killed, restarted, adopted)
    });
    let probes = probes.into_inner().unwrap();
    let failed: Vec<&Curl> = probes.iter().filter(|p| p.2.is_err()).collect();
    let mut seen: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (_, vip, r) in &probes {
        if let Ok(body) = r {
            seen.entry(vip).or_default().insert(body.as_str());
        }
    }
    eprintln!(
        "{} curls, {} failed; framework down {} ms; restart to tasks reported {} ms; answers {seen:?}",
        probes.len(),
        failed.len(),
        restarted.duration_since(killed).as_millis(),
        adopted.duration_since(restarted).as_millis()
    );
    assert!(
        failed.is_empty(),
        "{} of {} curls failed: {:?}",
        failed.len(),
        probes.len(),
        failed
            .iter()
            .map(|(t, vip, r)| (t.duration_since(killed).as_millis(), vip, r))
            .collect::<Vec<_>>()
    );
    for vip in [COKE_VIP, PEPSI_VIP] {
        assert_eq!(
            seen.get(vip),
            Some(&BTreeSet::from(["apache", "nginx"])),
            "{vip}"
        );
    }
    // No relaunch, no duplicate rows: the restarted framework adopted what was there.
    let ids: BTreeSet<String> = tasks(&lab).unwrap().into_iter().map(|t| t.id).collect();
    let ids_before: BTreeSet<String> = before.iter().map(|t| t.id.clone()).collect();
    assert_eq!(ids, ids_before, "tasks known after the restart");
    assert_eq!(nb_names(&lab, "Logical_Switch_Port"), lsps_before);
    let lbs = nb_names(&lab, "Load_Balancer");
    assert_eq!(lbs, lbs_before);
    let distinct: BTreeSet<&String> = lbs.iter().collect();
    assert_eq!(
        distinct.len(),
        lbs.len(),
        "duplicate load balancers: {lbs:?}"
    );
    lab.check_logs().unwrap();
}

#[test]
fn a_frozen_backend_leaves_the_vip_after_its_failed_check_and_curls_succeed_again() {
    let (lab, _fw) = running();
    let apache = running_task(&tasks(&lab).unwrap(), "apachecoke").expect("apachecoke runs");
    let c = container(&lab, &apache).unwrap();
    assert!(!c.pids.is_empty(), "no process in {}", c.netns);
    // frozen, not dead: the kernel still completes TCP handshakes, so OVN's
    // L4 probe finds it alive; the executor's HTTP check does not
    let frozen = Instant::now();
    for pid in &c.pids {
        let _ = kill(Pid::from_raw(*pid), Signal::SIGSTOP);
    }
    let requests = wait_only(&lab, COKE_VIP, "nginx", 20, Duration::from_secs(30));
    eprintln!(
        "BENCH apache frozen: 20 nginx answers in a row after {} ms ({requests} requests)",
        frozen.elapsed().as_millis()
    );
    for _ in 0..20 {
        assert_eq!(curl_vip(&lab, COKE_VIP).unwrap(), "nginx");
    }
    // killed after 3 failed checks, replaced, and back once healthy
    wait_both_backends(&lab, COKE_VIP, READY);
    let now = tasks(&lab).unwrap();
    assert!(
        running_task(&now, "apachecoke").is_some_and(|t| t.id != apache.id),
        "apache replaced: {now:?}"
    );
    lab.check_logs().unwrap();
}

#[test]
fn with_the_framework_frozen_ovn_takes_a_dead_backend_out_of_the_vip() {
    let (lab, fw) = running();
    // OVN checks every VIP, probing each backend from its network's reserved
    // address (the last usable one of 192.168.1.0/24)
    let vips = lab
        .nbctl(&[
            "--bare",
            "--columns=vip",
            "list",
            "Load_Balancer_Health_Check",
        ])
        .unwrap();
    for vip in [COKE_VIP, PEPSI_VIP] {
        assert!(
            vips.lines().any(|l| l == vip),
            "no health check of {vip}: {vips}"
        );
    }
    let mappings = lab
        .nbctl(&[
            "--bare",
            "--columns=ip_port_mappings",
            "list",
            "Load_Balancer",
        ])
        .unwrap();
    assert!(mappings.contains(":192.168.1.254"), "{mappings}");
    let reserved = lab
        .nbctl(&["get", "Logical_Switch", "coke1", "other_config:exclude_ips"])
        .unwrap();
    assert_eq!(reserved.trim().trim_matches('"'), "192.168.1.254");

    let nginx = running_task(&tasks(&lab).unwrap(), "nginxcoke").expect("nginxcoke runs");
    let c = container(&lab, &nginx).unwrap();
    assert!(!c.pids.is_empty(), "no process in {}", c.netns);
    // nothing the framework does can help now
    kill(Pid::from_raw(fw.pid), Signal::SIGSTOP).expect("SIGSTOP the framework");
    let killed = Instant::now();
    for pid in &c.pids {
        let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
    }
    // OVN's detection time (a probe every 2 s, 2 failures, 1 s timeout) and
    // northd's and ovn-controller's turn: then only apache answers
    let requests = wait_only(&lab, COKE_VIP, "apache", 20, Duration::from_secs(30));
    let out_after = killed.elapsed();
    // the load balancer row still lists nginx: OVN left it out by itself
    let vips = lab
        .nbctl(&["--bare", "--columns=vips", "list", "Load_Balancer"])
        .unwrap();
    assert!(vips.contains(&format!("{}:80", nginx.ip)), "{vips}");
    // and every curl now succeeds
    for _ in 0..20 {
        assert_eq!(curl_vip(&lab, COKE_VIP).unwrap(), "apache");
    }
    // `ovn-mesos vip --sb` shows nginx listed but not serving: its port is
    // down (the executor removed it), or OVN's probes found it offline
    let cli = ovn_mesos_binary().unwrap().display().to_string();
    let sb = format!("tcp:{}:6642", Host::Master.ip());
    let marked = [
        format!("{}:80 [offline: not serving]", nginx.ip),
        format!("{}:80 [port down: not serving]", nginx.ip),
    ];
    let out = wait_for(
        "nginx marked not serving by `ovn-mesos vip --sb`",
        READY,
        || {
            let out = lab.exec(Host::Master, &[&cli, "vip", "coke-web", "--sb", &sb])?;
            if marked.iter().any(|m| out.contains(m)) {
                Ok(Some(out))
            } else {
                anyhow::bail!("{out}")
            }
        },
    )
    .unwrap();
    eprintln!("$ ovn-mesos vip coke-web --sb {sb}\n{out}");
    kill(Pid::from_raw(fw.pid), Signal::SIGCONT).expect("SIGCONT the framework");
    eprintln!(
        "BENCH nginx killed with the framework frozen: 20 apache answers in a row after {} ms ({requests} requests)",
        out_after.as_millis()
    );
    // the framework, back, replaces nginx and the VIP serves both again
    wait_both_backends(&lab, COKE_VIP, READY);
    lab.check_logs().unwrap();
}

#[test]
fn a_checked_service_scaled_from_one_to_four_fails_no_curl() {
    let mut lab = support::seeded();
    // coke-web of nginx only, one instance, with the shipped health check
    let dir = lab.dir().join("scaled-tasks");
    std::fs::create_dir_all(&dir).unwrap();
    let shipped = framework::tasks_dir().join("nginxcoke.json");
    let mut file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(shipped).unwrap()).unwrap();
    let write = |file: &serde_json::Value| {
        std::fs::write(dir.join("nginxcoke.json"), file.to_string()).unwrap();
    };
    let set_instances = |file: &mut serde_json::Value, n: u32| {
        for label in file["labels"]["labels"].as_array_mut().unwrap() {
            if label["key"] == "ovn-mesos/instances" {
                label["value"] = n.to_string().into();
            }
        }
    };
    set_instances(&mut file, 1);
    write(&file);
    let mut fw = Framework::start_with(&mut lab, &dir);
    wait_only(&lab, COKE_VIP, "nginx", 3, READY);
    let outside = lab.netns(Host::Outside);
    let answers = curling(&outside, COKE_VIP, 20, || {
        // scale: the file says 4, the framework restarts (keeping its task)
        fw.stop();
        set_instances(&mut file, 4);
        write(&file);
        fw.restart(&mut lab);
        wait_for("coke-web with 4 healthy backends", READY, || {
            let svc = service(&lab, "coke", "coke-web")?;
            Ok((svc.backends.len() == 4 && svc.healthy == 4).then_some(()))
        })
        .unwrap_or_else(|e| panic!("{e:#}\n{}", fw.log_tail(&lab)));
    });
    let failed: Vec<&String> = answers.iter().filter_map(|a| a.as_ref().err()).collect();
    eprintln!(
        "{} curls while coke-web scaled from 1 to 4, {} failed",
        answers.len(),
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "{} of {} curls failed: {failed:?}",
        failed.len(),
        answers.len()
    );
    assert!(answers.iter().all(|a| a.as_deref() == Ok("nginx")));
    lab.check_logs().unwrap();
}

/// The Apache document root when the task had to move it out of its sandbox
/// (`mktemp -d /tmp/ovn-mesos-www.XXXXXX`, see the shipped task).
fn apache_www_outside(lab: &Lab) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![lab.dir().to_path_buf()];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                dirs.push(p);
            } else if p.file_name().is_some_and(|n| n == "apache.conf") {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                found.extend(
                    text.lines()
                        .filter_map(|l| l.strip_prefix("DocumentRoot "))
                        .map(std::path::PathBuf::from)
                        .filter(|w| !w.starts_with(lab.dir())),
                );
            }
        }
    }
    found
}

#[test]
fn tearing_down_the_framework_and_the_lab_leaves_no_namespace_veth_process_or_directory() {
    let (mut lab, mut fw) = running();
    let running = wait_four_running(&lab, &fw);
    let containers: Vec<(Host, Container)> = running
        .iter()
        .map(|t| (host_of(t), container(&lab, t).unwrap()))
        .collect();
    for (host, c) in &containers {
        assert!(!c.pids.is_empty(), "no process in {}", c.netns);
        lab.exec(*host, &["ip", "link", "show", "dev", &c.veth])
            .unwrap_or_else(|e| panic!("{} not on {host}: {e:#}", c.veth));
    }
    let www = apache_www_outside(&lab);
    // The demo's teardown: stop the framework, `ovn-mesos teardown` (Mesos
    // kills the tasks, each executor removes its container), stop the lab.
    let t = Instant::now();
    fw.stop();
    let out = fw.teardown().unwrap();
    eprintln!("$ ovn-mesos teardown\n{out}");
    wait_for(
        "every task's executor to exit after removing its container",
        READY,
        || {
            Ok(containers
                .iter()
                .all(|(_, c)| !pid_is_alive(c.executor_pid) && !netns_exists(&c.netns))
                .then_some(()))
        },
    )
    .unwrap();
    assert_eq!(nb_names(&lab, "Load_Balancer"), Vec::<String>::new());
    let state = lab.state().clone();
    lab.stop().unwrap();
    eprintln!(
        "framework, tasks and lab torn down in {} ms",
        t.elapsed().as_millis()
    );
    support::assert_gone(&state);
    let mut left = Vec::new();
    let links = std::process::Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
        .unwrap();
    let links = String::from_utf8_lossy(&links.stdout).to_string();
    for (host, c) in &containers {
        if netns_exists(&c.netns) {
            left.push(format!("netns {} ({host})", c.netns));
        }
        for pid in c.pids.iter().chain([&c.executor_pid]) {
            if pid_is_alive(*pid) {
                left.push(format!("process {pid} of {} ({host})", c.netns));
            }
        }
        if links.contains(c.veth.as_str()) {
            left.push(format!("veth {}", c.veth));
        }
    }
    left.extend(
        www.iter()
            .filter(|d| d.exists())
            .map(|d| format!("task temp dir {}", d.display())),
    );
    assert!(left.is_empty(), "left behind: {left:#?}");
}
