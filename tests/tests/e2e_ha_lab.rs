//! The three-host lab in HA mode (`LabConfig::ha`: `ovn-mesos-lab up --ha`,
//! `HA=1 make demo`), with real OVN, a real ZooKeeper and mesos-local:
//!
//! * the lab's own pieces: ZooKeeper serving on 10.10.1.11:2181 inside
//!   `mesos-master` (reachable over the underlay from the agents), a
//!   `mesos-local master --zk zk://10.10.1.11:2181/mesos` in each of the
//!   three hosts with exactly one leading and the others redirecting to it,
//!   both agents registered with the leader; stopping the lab stops
//!   ZooKeeper by pid and leaves nothing;
//! * the HA demo's walk-through: the seed's network steps, three `ovn-mesos
//!   run --zk zk://10.10.1.11:2181/ovn-mesos` instances (one per host, API
//!   on `<host ip>:8089`), one leader; while both VIPs are curled every 50 ms
//!   from `outside`, the leading instance is SIGKILLed (another leads, with
//!   the same tasks), then the leading mesos master (another leads, the
//!   agents and the framework follow it, nothing is relaunched). Not one curl
//!   may fail. The takeover and failover times are printed as `BENCH` lines.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use ovn_mesos_tests::binaries::{executor_binary, ovn_mesos_binary};
use ovn_mesos_tests::daemon::pid_is_alive;
use ovn_mesos_tests::lab::plan::{
    NB_PORT, ZK_MESOS_PATH, ZK_OVN_MESOS_PATH, ZK_SESSION_TIMEOUT, ZOOKEEPER_PORT,
};
use ovn_mesos_tests::lab::state::rank;
use ovn_mesos_tests::lab::{
    in_netns, wait_task_ports_removed, Host, Lab, LabConfig, ZOOKEEPER_PROCESS,
};
use ovn_mesos_tests::wait_for;
use ovn_mesos_tests::workdir::run_command;
use ovn_mesos_tests::zookeeper::{four_letter, Mode};
use serde_json::Value;

#[allow(dead_code)]
#[path = "e2e_seed/probe.rs"]
mod probe;
#[allow(dead_code)]
#[path = "e2e_lab/support.rs"]
mod support;

use probe::{curl_backend, wait_both_backends, Curl, COKE_VIP, PEPSI_VIP};

/// The framework instances' API port (on each host's underlay address).
const API_PORT: u16 = 8089;
/// How long the framework may take to subscribe, launch and report; also
/// the deadline of a failover.
const READY: Duration = Duration::from_secs(60);
/// Time between two curls of the prober.
const CURL_EVERY: Duration = Duration::from_millis(50);
/// Curls the prober makes before a kill and after a recovery.
const CURLS_AROUND: usize = 10;

/// A lab in HA mode (ZooKeeper, three masters).
fn ha_lab() -> Lab {
    let mut config = LabConfig::for_test();
    config.ha = true;
    support::start(config)
}

#[test]
fn the_ha_lab_runs_zookeeper_on_the_master_and_three_masters_electing_one() {
    let mut lab = ha_lab();
    let zk = lab.zookeeper().expect("an HA lab has ZooKeeper");
    assert_eq!(
        zk.member_address(0),
        format!("{}:{ZOOKEEPER_PORT}", Host::Master.ip())
    );
    assert_eq!(zk.netns(), Some(lab.netns(Host::Master).as_str()));
    assert_eq!(zk.mode(0).unwrap(), Some(Mode::Standalone));
    assert!(zk.dir().starts_with(lab.dir()), "{}", zk.dir().display());
    // Over the underlay, from an agent host.
    let addr = zk.member_address(0).parse().unwrap();
    let ruok = in_netns(&lab.netns(Host::Agent2), || four_letter(addr, "ruok"))
        .unwrap()
        .unwrap();
    assert_eq!(ruok, "imok");
    let zk_pid = zk.pid(0).unwrap();
    let record = lab
        .state()
        .processes
        .iter()
        .find(|p| p.name == ZOOKEEPER_PROCESS)
        .expect("ZooKeeper is in the lab state");
    assert_eq!((record.pid, record.rank), (zk_pid, rank::ZOOKEEPER));

    assert_eq!(lab.mesos_master(), "zk://10.10.1.11:2181/mesos");
    assert_eq!(lab.zk_url(ZK_MESOS_PATH).unwrap(), lab.mesos_master());
    assert_eq!(lab.mesos_master_hosts(), Host::MASTERS.to_vec());
    let leader = lab.leading_master().expect("a mesos master leads");
    let leader_addr = lab.mesos_master_of(leader);
    for host in Host::MASTERS {
        let name = lab.mesos_master_process(host);
        assert!(
            lab.state()
                .processes
                .iter()
                .any(|p| p.name == name && p.rank == rank::MESOS_MASTER),
            "{name} is not in the lab state"
        );
        let url = format!("http://{}/state", lab.mesos_master_of(host));
        let answer = status_and_redirect(&lab, &url);
        if host == leader {
            assert!(answer.starts_with("200"), "{host}: {answer}");
        } else {
            assert_eq!(answer, format!("307 http://{leader_addr}/state"), "{host}");
        }
    }
    let mut agents = lab.registered_agents(leader).unwrap();
    agents.sort();
    assert_eq!(agents, ["mesos-agent1", "mesos-agent2"]);

    let state = lab.state().clone();
    lab.stop().unwrap();
    assert!(!pid_is_alive(zk_pid), "ZooKeeper (pid {zk_pid}) still runs");
    support::assert_gone(&state);
}

/// The three `ovn-mesos run --zk` instances of a lab, one per host (index
/// as [`Host::MASTERS`]), each a lab process (so stopping the lab kills
/// it); dropping stops them and tears the framework down (Mesos kills the
/// tasks, the executors remove their containers) before the lab stops.
struct Instances {
    pids: [i32; 3],
    runs: u32,
    master_netns: String,
    agent_ovs: Vec<String>,
    torn_down: bool,
}

impl Instances {
    fn start(lab: &mut Lab) -> Instances {
        let mut instances = Instances {
            pids: [0; 3],
            runs: 0,
            master_netns: lab.netns(Host::Master),
            agent_ovs: Host::AGENTS.iter().map(|h| lab.ovs_remote(*h)).collect(),
            torn_down: false,
        };
        for i in 0..3 {
            instances.spawn(lab, i);
        }
        instances
    }

    /// Starts instance `i` (again).
    fn spawn(&mut self, lab: &mut Lab, i: usize) {
        let host = Host::MASTERS[i];
        let api = api(host);
        let cli = ovn_mesos_binary().unwrap().display().to_string();
        let executor = executor_binary().unwrap().display().to_string();
        let tasks = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tasks");
        let argv = [
            cli.as_str(),
            "run",
            "--master",
            &lab.mesos_master(),
            "--zk",
            &lab.zk_url(ZK_OVN_MESOS_PATH).unwrap(),
            "--zk-session-timeout",
            ZK_SESSION_TIMEOUT,
            "--api",
            &api,
            "--advertise-api",
            &api,
            "--tasks",
            &tasks.display().to_string(),
            "--nb",
            &lab.nb_remote(),
            "--executor",
            &executor,
        ];
        self.runs += 1;
        let name = format!("ovn-mesos-run-{}-{}", host.short(), self.runs);
        self.pids[i] = lab
            .spawn_process(&lab.netns(host), &name, &argv)
            .expect("ovn-mesos run starts");
    }

    /// SIGKILLs instance `i` and polls until it is gone.
    fn kill(&self, i: usize) {
        let pid = self.pids[i];
        kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
        wait_for(&format!("instance {i} (pid {pid}) to die"), READY, || {
            Ok((!pid_is_alive(pid)).then_some(()))
        })
        .unwrap();
    }

    /// Fails naming the first instance that exited.
    fn check_alive(&self) -> anyhow::Result<()> {
        for (i, pid) in self.pids.iter().enumerate() {
            if !pid_is_alive(*pid) {
                bail!("instance {} (pid {pid}) exited", Host::MASTERS[i]);
            }
        }
        Ok(())
    }

    /// SIGTERM to every instance at once, then polls until all are gone.
    fn stop_all(&self) {
        for pid in self.pids {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let _ = wait_for("every instance to exit", READY, || {
            Ok(self.pids.iter().all(|p| !pid_is_alive(*p)).then_some(()))
        });
    }

    /// `ovn-mesos teardown --zk ...` (every instance stopped: it refuses
    /// while one is in the election), then polls until no task port is left
    /// on the agents' `br-int`.
    fn teardown(&mut self) -> anyhow::Result<String> {
        self.torn_down = true;
        let cli = ovn_mesos_binary()?.display().to_string();
        let zk = format!("zk://{}:{ZOOKEEPER_PORT}", Host::Master.ip());
        let out = wait_for(
            "ovn-mesos teardown (refused while an instance is in the election)",
            READY,
            || {
                let mut cmd = std::process::Command::new("ip");
                cmd.args(["netns", "exec", &self.master_netns, &cli, "teardown"])
                    .args(["--master", &format!("{zk}{ZK_MESOS_PATH}")])
                    .args(["--zk", &format!("{zk}{ZK_OVN_MESOS_PATH}")])
                    .args(["--zk-session-timeout", ZK_SESSION_TIMEOUT])
                    .args(["--nb", &format!("tcp:{}:{NB_PORT}", Host::Master.ip())]);
                match run_command(cmd) {
                    Ok(out) => Ok(Some(Ok(out))),
                    Err(e) if format!("{e:#}").contains("in the election") => Err(e),
                    Err(e) => Ok(Some(Err(e))),
                }
            },
        )??;
        wait_task_ports_removed(&self.agent_ovs, READY)?;
        Ok(out)
    }
}

impl Drop for Instances {
    fn drop(&mut self) {
        if self.torn_down {
            return;
        }
        self.stop_all();
        if let Err(e) = self.teardown() {
            eprintln!("tearing the framework down: {e:#}");
        }
    }
}

/// `curl` of `url` from `outside`, redirects not followed: `<status>
/// <redirect url>` (`307 http://...`, or `200 ` and nothing after it).
fn status_and_redirect(lab: &Lab, url: &str) -> String {
    let write_out = "%{http_code} %{redirect_url}";
    let argv = ["curl", "-s", "-o", "/dev/null", "-w", write_out, url];
    lab.exec(Host::Outside, &argv).unwrap()
}

/// `<host ip>:8089`, the API of the instance in `host`.
fn api(host: Host) -> String {
    format!("{}:{API_PORT}", host.ip())
}

/// `GET /health` of the instance in `host` (from `outside`): the status and
/// the body; `None` if it does not answer.
fn health(lab: &Lab, host: Host) -> Option<(u16, Value)> {
    let url = format!("http://{}/health", api(host));
    let out = lab
        .exec(
            Host::Outside,
            &["curl", "-s", "-m", "1", "-w", "\n%{http_code}", &url],
        )
        .ok()?;
    let (body, code) = out.rsplit_once('\n')?;
    Some((code.parse().ok()?, serde_json::from_str(body).ok()?))
}

/// The host whose instance says leader with 200 on `/health`.
fn leading_instance(lab: &Lab) -> Option<Host> {
    Host::MASTERS.into_iter().find(|h| {
        health(lab, *h).is_some_and(|(code, body)| code == 200 && body["role"] == "leader")
    })
}

/// The tasks of `GET /v1/tasks` of the instance in `host`: id -> state.
fn tasks(lab: &Lab, host: Host) -> anyhow::Result<BTreeMap<String, String>> {
    let url = format!("http://{}/v1/tasks", api(host));
    let body = lab.exec(Host::Outside, &["curl", "-sSf", "-m", "2", &url])?;
    let doc: Value =
        serde_json::from_str(&body).with_context(|| format!("bad /v1/tasks: {body}"))?;
    doc["tasks"]
        .as_array()
        .context("no tasks array")?
        .iter()
        .map(|t| {
            Ok((
                t["id"].as_str().context("task id")?.to_owned(),
                t["state"].as_str().context("task state")?.to_owned(),
            ))
        })
        .collect()
}

/// Curls both VIPs in turn from `outside` every [`CURL_EVERY`] until `stop`.
fn curl_loop(outside: &str, stop: &AtomicBool, out: &Mutex<Vec<Curl>>) {
    let mut next = Instant::now();
    for vip in [COKE_VIP, PEPSI_VIP].into_iter().cycle() {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let at = Instant::now();
        let result = curl_backend(outside, vip);
        out.lock().unwrap().push((at, vip, result));
        next += CURL_EVERY;
        // The prober's own pace, not a wait for anything.
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
}

/// Polls until the prober made `n` more curls than `seen`.
fn wait_curls(curls: &Mutex<Vec<Curl>>, seen: usize, n: usize) {
    wait_for(&format!("{n} more curls"), READY, || {
        Ok((curls.lock().unwrap().len() >= seen + n).then_some(()))
    })
    .unwrap();
}

/// The failed curls since `since`, as `+<ms> <vip>: <error>` lines.
fn failures(curls: &Mutex<Vec<Curl>>, since: Instant) -> Vec<String> {
    curls
        .lock()
        .unwrap()
        .iter()
        .filter(|(at, _, r)| *at >= since && r.is_err())
        .map(|(at, vip, r)| {
            format!(
                "{:+} ms {vip}: {}",
                at.duration_since(since).as_millis(),
                r.as_ref().unwrap_err()
            )
        })
        .collect()
}

/// Polls until the prober made [`CURLS_AROUND`] more curls, then fails
/// the test if one since `since` failed (`what` happened then).
fn assert_no_failed_curl(curls: &Mutex<Vec<Curl>>, since: Instant, what: &str) {
    let seen = curls.lock().unwrap().len();
    wait_curls(curls, seen, CURLS_AROUND);
    let failed = failures(curls, since);
    assert!(
        failed.is_empty(),
        "{} curls failed after {what}:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

#[test]
fn the_ha_demo_survives_the_leading_framework_and_master_sigkilled_without_a_failed_curl() {
    let mut lab = ha_lab();
    lab.network_init_seed().expect("seed network steps");
    let started = Instant::now();
    let mut instances = Instances::start(&mut lab);
    let leader = wait_for("an ovn-mesos instance to lead", READY, || {
        instances.check_alive()?;
        Ok(leading_instance(&lab))
    })
    .unwrap();
    let before = wait_for("4 running tasks on the leader", READY, || {
        instances.check_alive()?;
        let t = tasks(&lab, leader)?;
        Ok((t.len() == 4 && t.values().all(|s| s == "TASK_RUNNING")).then_some(t))
    })
    .unwrap();
    for vip in [COKE_VIP, PEPSI_VIP] {
        wait_both_backends(&lab, vip, READY);
    }
    eprintln!(
        "BENCH 3 x ovn-mesos run -> both VIPs with both backends: {} ms",
        started.elapsed().as_millis()
    );
    // Exactly one leader; the standbys name it and redirect to it.
    for host in Host::MASTERS.into_iter().filter(|h| *h != leader) {
        let (code, body) = health(&lab, host).expect("a standby answers /health");
        assert_eq!(
            (code, &body["role"]),
            (200, &Value::from("standby")),
            "{host}: {body}"
        );
        assert_eq!(body["leader"], api(leader), "{host}: {body}");
        let url = format!("http://{}/v1/tasks", api(host));
        let answer = status_and_redirect(&lab, &url);
        assert_eq!(
            answer,
            format!("307 http://{}/v1/tasks", api(leader)),
            "{host}"
        );
    }
    let framework_id = health(&lab, leader).unwrap().1["framework_id"]
        .as_str()
        .expect("the leader has a framework id")
        .to_owned();

    let stop = AtomicBool::new(false);
    let curls: Mutex<Vec<Curl>> = Mutex::new(Vec::new());
    let outside = lab.netns(Host::Outside);
    std::thread::scope(|s| {
        s.spawn(|| curl_loop(&outside, &stop, &curls));
        struct StopOnDrop<'a>(&'a AtomicBool);
        impl Drop for StopOnDrop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let _stop = StopOnDrop(&stop);

        // The leading framework instance.
        wait_curls(&curls, 0, CURLS_AROUND);
        let i = Host::MASTERS.iter().position(|h| *h == leader).unwrap();
        let killed = Instant::now();
        instances.kill(i);
        let new = wait_for("another instance to lead", READY, || {
            Ok(leading_instance(&lab).filter(|h| *h != leader))
        })
        .unwrap();
        let takeover = killed.elapsed();
        eprintln!(
            "BENCH leading ovn-mesos ({leader}) SIGKILLed -> {new} says leader with 200: {} ms",
            takeover.as_millis()
        );
        let after = wait_for("the new leader to run the same tasks", READY, || {
            let t = tasks(&lab, new)?;
            Ok((t == before).then_some(t))
        })
        .unwrap_or_else(|e| panic!("{e:#}; before: {before:?}"));
        assert_eq!(after, before);
        assert_no_failed_curl(&curls, killed, "the framework leader was killed");
        // The killed instance, started again, stands by.
        instances.spawn(&mut lab, i);
        wait_for(&format!("{leader} to stand by"), READY, || {
            Ok(health(&lab, leader).filter(|(code, body)| {
                *code == 200 && body["role"] == "standby" && body["leader"] == api(new)
            }))
        })
        .unwrap();

        // The leading mesos master.
        let master = lab.leading_master().expect("a mesos master leads");
        let name = lab.mesos_master_process(master);
        let pid = lab
            .state()
            .processes
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.pid)
            .unwrap();
        let seen = curls.lock().unwrap().len();
        wait_curls(&curls, seen, CURLS_AROUND);
        let killed = Instant::now();
        kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
        let new_master = wait_for(
            "a new master with both agents and the framework, the framework subscribed",
            READY,
            || {
                let Some(m) = lab.leading_master().filter(|m| *m != master) else {
                    return Ok(None);
                };
                let state = lab.master_state(m)?;
                let agents = state["slaves"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|a| a["active"] == true)
                    .count();
                let framework = state["frameworks"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|f| f["id"] == framework_id.as_str() && f["active"] == true);
                let subscribed = leading_instance(&lab).is_some();
                Ok((agents == 2 && framework && subscribed).then_some(m))
            },
        )
        .unwrap();
        eprintln!(
            "BENCH leading mesos master ({}) SIGKILLed -> {} leads, agents and framework on it: {} ms",
            lab.mesos_master_of(master),
            lab.mesos_master_of(new_master),
            killed.elapsed().as_millis()
        );
        assert_eq!(
            lab.leading_master(),
            Some(new_master),
            "the new master still leads"
        );
        let leader_now = leading_instance(&lab).expect("an instance leads");
        let ids: Vec<String> = tasks(&lab, leader_now).unwrap().into_keys().collect();
        assert_eq!(
            ids,
            before.keys().cloned().collect::<Vec<_>>(),
            "the same tasks: nothing relaunched"
        );
        assert_no_failed_curl(&curls, killed, "the leading master was killed");
    });
    let total = curls.lock().unwrap().len();
    eprintln!("{total} curls through {COKE_VIP} and {PEPSI_VIP}, none failed");
    instances.stop_all();
    let out = instances.teardown().expect("teardown with --zk");
    assert!(out.contains("torn down"), "{out}");
    lab.zookeeper().unwrap().check_logs().unwrap();
}
