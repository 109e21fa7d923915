//! `ovn-mesos run --zk`: several framework instances, one leader, against
//! real daemons: a standalone ZooKeeper, OVN central (NB, SB, ovn-northd),
//! a `mesos-local run --noop-hold` cluster (tasks answered TASK_RUNNING and
//! kept up without executors: the framework's side is all real, ports and
//! VIPs included) and three `ovn-mesos run --zk ... --zk-session-timeout
//! 2secs` processes.
//!
//! * Exactly one of three instances leads; the standbys say so on
//!   `/health` and answer the API with 307 to the leader.
//! * The leader is SIGKILLed in the middle of a 200-task launch: a standby
//!   leads, subscribed with the same framework id, within the session
//!   timeout + 2 s; at the end every instance runs, with no duplicate task
//!   or IP and no leaked port.
//! * The new leader is frozen (SIGSTOP) past its session: the third
//!   instance leads; thawed, the frozen one steps down and writes nothing.
//! * A deployment under way survives a leader change.
//! * ZooKeeper gone: the leader stops scheduling and the tasks keep
//!   running; ZooKeeper back: an instance leads again, nothing relaunched.
//! * Bad `--zk` URLs and a dead ZooKeeper: one line each.

#[allow(dead_code)]
#[path = "../benches/framework_launch/setup.rs"]
mod setup;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use mesos_local::testing::ProcessCluster;
use nix::sys::signal::Signal;
use ovn::nb::nb_global::LEADER_EPOCH;
use ovn_mesos_tests::binaries::ovn_mesos_binary;
use ovn_mesos_tests::ha::{self, Instance, Task};
use ovn_mesos_tests::{wait_for, OvnCentral, ZooKeeper};
use serde_json::Value;

/// The framework instances' ZooKeeper session timeout.
const SESSION: Duration = Duration::from_secs(2);
/// The takeover bound the issue sets: the session timeout + 2 s.
const TAKEOVER: Duration = Duration::from_secs(4);
/// Long waits (a launch of 200 tasks, a deployment).
const WAIT: Duration = Duration::from_secs(90);
/// The znode of the framework's election and state.
const ZK_PATH: &str = "/ovn-mesos";
/// One request of the API (but `/health`).
const REQUEST: Duration = Duration::from_secs(5);

/// The leader's tasks: id -> state, IP and version.
type Tasks = BTreeMap<String, Task>;

/// The daemons, the cluster and the instances of one test.
struct World {
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    /// Does not follow redirects: the standbys' 307 is checked.
    raw: reqwest::Client,
    zk: ZooKeeper,
    central: OvnCentral,
    cluster: ProcessCluster,
    work: tempfile::TempDir,
    tasks: PathBuf,
    bin: PathBuf,
}

impl World {
    /// ZooKeeper, OVN, the bench topology, `agents` no-op agents and task
    /// files for `tasks` instances.
    fn start(tasks: usize, agents: usize) -> World {
        World::start_with(tasks, agents, ZooKeeper::start().expect("ZooKeeper"))
    }

    fn start_with(tasks: usize, agents: usize, zk: ZooKeeper) -> World {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let central = OvnCentral::start().expect("OVN central");
        rt.block_on(setup::topology(&central.nb_remote(), setup::SUBNET))
            .expect("topology");
        let work = tempfile::Builder::new()
            .prefix("ovn-mesos-standby-")
            .tempdir()
            .expect("temp dir");
        let task_dir = work.path().join("tasks");
        std::fs::create_dir_all(&task_dir).unwrap();
        setup::task_files(&task_dir, tasks).expect("task files");
        let cluster =
            ha::noop_cluster(agents, &work.path().join("mesos")).expect("mesos-local cluster");
        World {
            rt,
            http: reqwest::Client::new(),
            raw: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            zk,
            central,
            cluster,
            work,
            tasks: task_dir,
            bin: ovn_mesos_binary().expect("ovn-mesos binary"),
        }
    }

    fn zk_url(&self) -> String {
        self.zk.zk_url(ZK_PATH)
    }

    /// Starts instance `name`; it answers `/health` once it stands by or leads.
    fn instance(&self, name: &str) -> Instance {
        let run = ha::Run {
            bin: &self.bin,
            nb: &self.central.nb_remote(),
            master: self.cluster.master(),
            tasks: &self.tasks,
            work: self.work.path(),
            log_filter: "info",
            zk: Some((&self.zk_url(), SESSION)),
        };
        let instance = Instance::spawn(name, &run).expect("spawn ovn-mesos run");
        wait_for(&format!("{name}: GET /health to answer"), WAIT, || {
            Ok(self.health(&instance).map(|_| ()))
        })
        .unwrap_or_else(|e| panic!("{e:#}\n{}", instance.log_text()));
        instance
    }

    /// `/health`: status and body, if it answers.
    fn health(&self, i: &Instance) -> Option<(u16, Value)> {
        self.rt.block_on(ha::health(&self.http, &i.api))
    }

    /// The one subscribed leader among `instances` (None while there is
    /// none); a second one fails the test.
    fn leader<'a>(&self, instances: &[&'a Instance]) -> anyhow::Result<Option<&'a Instance>> {
        let leaders = self.rt.block_on(ha::leaders(&self.http, instances));
        if leaders.len() > 1 {
            let names: Vec<_> = leaders
                .iter()
                .map(|(k, _)| instances[*k].name.as_str())
                .collect();
            bail!("more than one leader: {names:?}");
        }
        Ok(leaders
            .into_iter()
            .find(|(_, status)| *status == 200)
            .map(|(k, _)| instances[k]))
    }

    fn wait_leader<'a>(&self, instances: &[&'a Instance]) -> &'a Instance {
        wait_for("one subscribed leader", WAIT, || self.leader(instances))
            .unwrap_or_else(|e| panic!("{e:#}\n{}", logs(instances)))
    }

    /// GET a JSON path of an instance's API (following redirects).
    fn get(&self, i: &Instance, path: &str) -> anyhow::Result<Value> {
        self.rt.block_on(ha::get(&self.http, &i.api, path, REQUEST))
    }

    /// The leader's tasks.
    fn tasks(&self, i: &Instance) -> anyhow::Result<Tasks> {
        self.rt.block_on(ha::tasks(&self.http, &i.api, REQUEST))
    }

    /// Waits until the leader `i` shows `n` tasks, all running.
    fn wait_running(&self, i: &Instance, n: usize) -> Tasks {
        let mut last = Tasks::new();
        wait_for(&format!("{}: {n} tasks TASK_RUNNING", i.name), WAIT, || {
            last = self.tasks(i)?;
            Ok(ha::all_running(&last, n).then(|| last.clone()))
        })
        .unwrap_or_else(|e| panic!("{e:#}: {:?}\n{}", ha::states(&last), i.log_text()))
    }

    /// The task ports in the NB: task id -> ip.
    fn nb_ports(&self) -> BTreeMap<String, String> {
        ha::nb_ports(&self.central).expect("the NB's task ports")
    }

    /// The NB leader epoch.
    fn epoch(&self) -> u64 {
        let out = self
            .central
            .nbctl(&[
                "get",
                "NB_Global",
                ".",
                &format!("external_ids:\"{LEADER_EPOCH}\""),
            ])
            .expect("ovn-nbctl get NB_Global");
        out.trim().trim_matches('"').parse().unwrap_or(0)
    }

    /// The master's view: framework id -> (active, running task ids).
    fn master_frameworks(&self) -> BTreeMap<String, (bool, BTreeSet<String>)> {
        self.rt
            .block_on(ha::master_frameworks(self.cluster.master()))
            .expect("master /state")
    }

    /// A counter or gauge of an instance's `/metrics`.
    fn metric(&self, i: &Instance, name: &str) -> f64 {
        let text = self
            .rt
            .block_on(async {
                self.http
                    .get(format!("http://{}/metrics", i.api))
                    .send()
                    .await?
                    .text()
                    .await
            })
            .unwrap_or_default();
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or(0.0)
    }
}

fn logs(instances: &[&Instance]) -> String {
    instances
        .iter()
        .map(|i| i.tail(40))
        .collect::<Vec<_>>()
        .join("\n")
}

/// No task id twice, no IP twice, and the NB holds exactly the tasks' ports
/// with their addresses.
fn check_no_duplicate_or_leak(world: &World, tasks: &Tasks) {
    let ips: BTreeSet<&str> = tasks.values().map(|t| t.ip.as_str()).collect();
    assert_eq!(ips.len(), tasks.len(), "an IP is held by two tasks");
    assert_eq!(
        world.nb_ports(),
        ha::ips(tasks),
        "the NB's task ports are the running tasks'"
    );
}

#[test]
fn a_standby_takes_over_a_launch_and_a_frozen_leader_is_fenced() {
    const TASKS: usize = 200;
    let world = World::start(TASKS, 10);
    let a = world.instance("a");
    let mut b = world.instance("b");
    let mut c = world.instance("c");
    let all = [&a, &b, &c];
    let first = world.wait_leader(&all);
    // Exactly one leads; the others stand by and name it.
    for i in all {
        let (status, body) = world.health(i).expect("health");
        if i.name == first.name {
            assert_eq!(body["role"], "leader", "{body}");
            assert_eq!(body["leader"], first.api.as_str(), "{body}");
        } else {
            assert_eq!(
                (status, &body["role"]),
                (200, &Value::from("standby")),
                "{body}"
            );
            assert_eq!(body["leader"], first.api.as_str(), "{body}");
        }
    }
    // A standby's API redirects to the leader, the method kept.
    let standby = all.iter().find(|i| i.name != first.name).unwrap();
    let (status, location) = world.rt.block_on(async {
        let r = world
            .raw
            .post(format!("http://{}/v1/definitions", standby.api))
            .body("{}")
            .send()
            .await
            .unwrap();
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        (r.status().as_u16(), location)
    });
    assert_eq!(status, 307);
    assert_eq!(location, format!("http://{}/v1/definitions", first.api));

    // SIGKILL the leader in the middle of the launch.
    wait_for(
        "the launch to be under way (50 tasks launched)",
        WAIT,
        || {
            let launched = world.metric(first, "ovn_mesos_tasks_launched_total");
            Ok((launched >= 50.0).then_some(launched))
        },
    )
    .unwrap();
    let launched = world.metric(first, "ovn_mesos_tasks_launched_total");
    let framework = world.health(first).unwrap().1["framework_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let first_name = first.name.clone();
    let (mut a, b_c) = (a, [&mut b, &mut c]);
    let killed = Instant::now();
    let mut survivors: Vec<&Instance> = Vec::new();
    if a.name == first_name {
        a.kill9();
        survivors.extend(b_c.into_iter().map(|i| &*i));
    } else {
        for i in b_c {
            if i.name == first_name {
                i.kill9();
            } else {
                survivors.push(&*i);
            }
        }
        survivors.push(&a);
    }
    eprintln!("killed leader {first_name} after {launched} launches");
    let second = world.wait_leader(&survivors);
    let takeover = killed.elapsed();
    let health = world.health(second).unwrap().1;
    assert_eq!(health["framework_id"], framework.as_str(), "{health}");
    eprintln!(
        "{} leads {} ms after the kill",
        second.name,
        takeover.as_millis()
    );
    assert!(
        takeover <= TAKEOVER,
        "takeover took {takeover:?}, more than the session timeout + 2 s\n{}",
        logs(&survivors)
    );
    let tasks = world.wait_running(second, TASKS);
    check_no_duplicate_or_leak(&world, &tasks);
    let frameworks = world.master_frameworks();
    assert_eq!(
        frameworks.len(),
        1,
        "one framework at the master: {frameworks:?}"
    );
    let (active, at_master) = &frameworks[&framework];
    assert!(active);
    assert_eq!(
        at_master,
        &tasks.keys().cloned().collect::<BTreeSet<_>>(),
        "the master runs exactly the leader's tasks"
    );

    // Freeze the new leader past its session: the third instance leads.
    let third = *survivors.iter().find(|i| i.name != second.name).unwrap();
    let epoch = world.epoch();
    second.signal(Signal::SIGSTOP);
    let frozen = Instant::now();
    let now_leading = world.wait_leader(&[third]);
    eprintln!(
        "{} leads {} ms after {} froze",
        now_leading.name,
        frozen.elapsed().as_millis(),
        second.name
    );
    assert!(world.epoch() > epoch, "the new leader raised the NB epoch");
    let tasks_third = world.wait_running(third, TASKS);
    assert_eq!(
        tasks_third.keys().collect::<Vec<_>>(),
        tasks.keys().collect::<Vec<_>>()
    );
    let ports_before = world.nb_ports();
    let epoch_third = world.epoch();
    // Thawed, the deposed leader steps down.
    second.signal(Signal::SIGCONT);
    wait_for(
        &format!("{} to stand by after the thaw", second.name),
        WAIT,
        || {
            Ok(world
                .health(second)
                .filter(|(_, body)| body["role"] == "standby")
                .map(|_| ()))
        },
    )
    .unwrap_or_else(|e| panic!("{e:#}\n{}", second.log_text()));
    assert_eq!(
        world.leader(&survivors).unwrap().map(|i| &i.name),
        Some(&third.name)
    );
    assert_eq!(
        world.epoch(),
        epoch_third,
        "the deposed leader raised nothing"
    );
    assert_eq!(
        world.nb_ports(),
        ports_before,
        "the deposed leader changed no port"
    );
    let tasks_after = world.wait_running(third, TASKS);
    check_no_duplicate_or_leak(&world, &tasks_after);
    let log = second.log_text();
    assert!(
        log.contains("standing by again"),
        "the deposed leader says it stepped down:\n{}",
        second.tail(30)
    );
}

#[test]
fn a_deployment_and_zookeeper_outage_survive_leader_changes() {
    const TASKS: usize = 20;
    let mut world = World::start(TASKS, 2);
    let mut a = world.instance("a");
    world.wait_leader(&[&a]);
    let b = world.instance("b");
    let first = world.wait_leader(&[&a, &b]);
    assert_eq!(first.name, "a", "the instance that leads keeps leading");
    let before = world.wait_running(&a, TASKS);
    let old_bench0: BTreeSet<String> = before
        .keys()
        .filter(|id| id.starts_with("bench0"))
        .cloned()
        .collect();
    let framework = world.health(&a).unwrap().1["framework_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let nb = world.central.nb_remote();
    wait_for("bench-web's VIP to have its 10 backends", WAIT, || {
        Ok((vip_backends(&nb) == Some(10)).then_some(()))
    })
    .unwrap();

    // A deployment of bench0 with a long drain: kill the leader while old
    // tasks are still draining.
    let definition = world.get(&a, "/v1/definitions/bench0").unwrap();
    let mut body = definition["definition"].clone();
    body["command"]["value"] = Value::from("sleep 2000000");
    let labels = body["labels"]["labels"].as_array_mut().unwrap();
    labels.push(serde_json::json!({"key": "ovn-mesos/drain-seconds", "value": "4"}));
    let answer: Value = world.rt.block_on(async {
        world
            .http
            .put(format!("http://{}/v1/definitions/bench0", a.api))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    assert_eq!(answer["result"], "updated", "{answer}");
    let version = answer["version"].as_str().unwrap().to_owned();
    wait_for("the deployment to be under way", WAIT, || {
        let d = world.get(&a, "/v1/deployments")?;
        Ok(d["deployments"]
            .as_array()
            .is_some_and(|d| d.iter().any(|d| d["definition"] == "bench0"))
            .then_some(()))
    })
    .unwrap();
    // The VIP's backends while the leader changes: the new leader adopts
    // the tasks from their ports and must not empty the VIP before Mesos
    // answers its reconciliation.
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = start_backend_sampler(world.central.nb_remote(), sampling.clone());
    a.kill9();
    let killed = Instant::now();
    let second = world.wait_leader(&[&b]);
    eprintln!("b leads {} ms after the kill", killed.elapsed().as_millis());
    assert_eq!(second.name, "b");
    assert_eq!(
        world.health(&b).unwrap().1["framework_id"],
        framework.as_str()
    );
    wait_for(
        "the deployment to finish under the new leader",
        WAIT,
        || {
            let tasks = world.tasks(&b)?;
            let bench0: Vec<_> = tasks
                .iter()
                .filter(|(id, _)| id.starts_with("bench0"))
                .collect();
            let deployments = world.get(&b, "/v1/deployments")?;
            let done = deployments["deployments"]
                .as_array()
                .is_none_or(|d| !d.iter().any(|d| d["definition"] == "bench0"));
            Ok((done
                && !bench0.is_empty()
                && bench0
                    .iter()
                    .all(|(_, t)| t.state == "TASK_RUNNING" && t.version == version))
            .then_some(()))
        },
    )
    .unwrap_or_else(|e| panic!("{e:#}\n{}", b.tail(40)));
    sampling.store(false, Ordering::Relaxed);
    let samples = sampler.join().unwrap();
    let fewest = samples.iter().min().copied().unwrap_or(0);
    eprintln!(
        "bench-web's backends during the takeover: {} samples, fewest {fewest}",
        samples.len()
    );
    assert!(samples.len() >= 5, "the sampler ran: {samples:?}");
    assert!(
        fewest > 0,
        "the VIP was emptied during the takeover: {samples:?}"
    );
    let tasks = world.wait_running(&b, TASKS);
    check_no_duplicate_or_leak(&world, &tasks);
    // The tasks of the old version were replaced, not adopted as new ones.
    let (_, running) = world.master_frameworks()[&framework].clone();
    let left: Vec<_> = old_bench0.intersection(&running).collect();
    assert!(left.is_empty(), "old-version tasks still run: {left:?}");
    assert_eq!(running.len(), TASKS);

    // ZooKeeper gone: the leader stops scheduling; the tasks keep running.
    let zk_pid = world.zk.pid(0).unwrap();
    world.zk.kill(0).unwrap();
    wait_for("b to stop leading without ZooKeeper", SESSION * 5, || {
        Ok(world
            .health(&b)
            .filter(|(_, body)| body["role"] == "standby")
            .map(|_| ()))
    })
    .unwrap_or_else(|e| panic!("{e:#} (ZooKeeper pid {zk_pid} killed)\n{}", b.tail(30)));
    let (active, running) = world.master_frameworks()[&framework].clone();
    assert!(!active, "the framework is disconnected at the master");
    assert_eq!(running.len(), TASKS, "the tasks keep running");
    // ZooKeeper back: b leads again, nothing relaunched.
    world.zk.restart(0).unwrap();
    world.wait_leader(&[&b]);
    let again = world.wait_running(&b, TASKS);
    assert_eq!(
        again.keys().collect::<Vec<_>>(),
        tasks.keys().collect::<Vec<_>>()
    );
    check_no_duplicate_or_leak(&world, &again);

    // A graceful stop (SIGTERM) hands over at once: the latch goes with
    // the session, without waiting for it to expire.
    let c = world.instance("c");
    wait_for("c to stand by behind b", WAIT, || {
        Ok(world
            .health(&c)
            .filter(|(_, body)| body["role"] == "standby" && body["leader"] == b.api.as_str())
            .map(|_| ()))
    })
    .unwrap();
    let mut b = b;
    b.signal(Signal::SIGTERM);
    let stopped = Instant::now();
    let status = wait_for("b to exit after SIGTERM", WAIT, || {
        Ok(b.child.try_wait()?)
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}", b.tail(30)));
    assert!(status.success(), "b exited {status}");
    world.wait_leader(&[&c]);
    let handover = stopped.elapsed();
    eprintln!("c leads {} ms after b's SIGTERM", handover.as_millis());
    assert!(
        handover < SESSION,
        "a graceful stop handed over in {handover:?}, not before the session timeout"
    );
    let last = world.wait_running(&c, TASKS);
    assert_eq!(
        last.keys().collect::<Vec<_>>(),
        tasks.keys().collect::<Vec<_>>()
    );
}

#[test]
fn a_zookeeper_member_lost_with_a_majority_kept_changes_nothing() {
    const TASKS: usize = 10;
    let zk = ZooKeeper::ensemble(3).expect("a ZooKeeper ensemble of three");
    let mut world = World::start_with(TASKS, 1, zk);
    let a = world.instance("a");
    world.wait_leader(&[&a]);
    let b = world.instance("b");
    let tasks = world.wait_running(&a, TASKS);
    let epoch = world.epoch();
    // Each member in turn, so the one each instance is connected to goes
    // at some point.
    for member in 0..3 {
        world.zk.kill(member).unwrap();
        // Two session timeouts: long enough for a lost session to show.
        let until = Instant::now() + SESSION * 2;
        wait_for(
            &format!("{:?} with ZooKeeper member {member} down", SESSION * 2),
            SESSION * 3,
            || {
                let leader = world.leader(&[&a, &b])?;
                anyhow::ensure!(
                    leader.is_some_and(|l| l.name == "a"),
                    "a stopped leading with member {member} down\n{}",
                    logs(&[&a, &b])
                );
                Ok((Instant::now() >= until).then_some(()))
            },
        )
        .unwrap();
        world.zk.restart(member).unwrap();
        world.zk.wait_for_leader(WAIT).unwrap();
    }
    assert_eq!(world.epoch(), epoch, "no other leader raised the NB epoch");
    let after = world.wait_running(&a, TASKS);
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        tasks.keys().collect::<Vec<_>>()
    );
    for i in [&a, &b] {
        assert!(
            !i.log_text().contains("standing by again"),
            "{} lost its term:\n{}",
            i.name,
            i.tail(30)
        );
    }
}

#[test]
fn bad_zookeeper_urls_and_a_dead_zookeeper_are_one_line_each() {
    let bin = ovn_mesos_binary().expect("ovn-mesos binary");
    let dir = tempfile::tempdir().unwrap();
    let dead = format!("zk://{}/ovn-mesos", ha::free_addr().unwrap());
    for (zk, expected) in [
        ("zk://", "no ZooKeeper server"),
        ("zk://z1:2181", "no path"),
        ("http://z1:2181/ovn-mesos", "expected zk://"),
        ("zk://u:p@z1:2181/x", "credentials"),
        (dead.as_str(), "cannot reach ZooKeeper"),
    ] {
        let out = Command::new(&bin)
            .args(["--nb", "unix:/nonexistent/nb.sock", "run"])
            .args(["--master", "127.0.0.1:5050", "--zk", zk])
            .args(["--zk-session-timeout", "1secs", "--api", "127.0.0.1:0"])
            .arg("--tasks")
            .arg(dir.path())
            .env_remove("OVN_MESOS_ZK")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{zk}: {stderr}");
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{zk}: one line: {stderr}");
        assert!(lines[0].contains(expected), "{zk}: {stderr}");
    }
}

/// bench-web's backends on its gateway VIP (`None` if ovn-nbctl failed).
fn vip_backends(nb: &str) -> Option<usize> {
    let out = Command::new("ovn-nbctl")
        .args([
            &format!("--db={nb}"),
            "--timeout=5",
            "--bare",
            "--columns=vips",
        ])
        .args([
            "find",
            "Load_Balancer",
            "external_ids:ovn-mesos/service=bench-web",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let text = String::from_utf8_lossy(&out.stdout);
    // `172.16.0.2:32350=10.128.0.3:8080,10.128.0.4:8080 10.96.0.2:32350=...`
    Some(
        text.split_whitespace()
            .find_map(|kv| kv.strip_prefix("172.16.0.2:32350="))
            .map(|v| v.split(',').filter(|b| !b.is_empty()).count())
            .unwrap_or(0),
    )
}

/// Counts bench-web's backends every 20 ms until `running` is cleared.
fn start_backend_sampler(
    nb: String,
    running: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Vec<usize>> {
    std::thread::spawn(move || {
        let mut counts = Vec::new();
        while running.load(Ordering::Relaxed) {
            counts.extend(vip_backends(&nb));
            // Pacing between samples, not waiting for a condition.
            std::thread::sleep(Duration::from_millis(20));
        }
        counts
    })
}
