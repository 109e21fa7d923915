//! High availability through ZooKeeper (`cargo bench -p ovn-mesos-tests
//! --bench ha_failover`): a standalone ZooKeeper (`ovn_mesos_tests::ZooKeeper`),
//! real OVN central (NB, SB, ovn-northd) with the launch bench's tenant, `/20`
//! network and NB-only gateway, `mesos-local run --agents 20 --noop-hold`
//! (tasks answered TASK_RUNNING and kept up, no process started) and
//! `ovn-mesos run` processes, all release builds made on demand
//! (`MESOS_LOCAL_BIN` / `OVN_MESOS_BIN` use given binaries). One run, two
//! parts:
//!
//! * **Takeover.** `HA_BENCH_TASKS` (200) tasks run under three `ovn-mesos
//!   run --zk ... --zk-session-timeout` instances (`HA_BENCH_SESSION_MS`,
//!   2,000 ms). `HA_BENCH_KILLS` (10) times the leading instance is
//!   SIGKILLed, and measured from the kill: (a) until another instance's
//!   `/health` says `"role":"leader"` with 200 (subscribed), and (b) until
//!   its `/v1/tasks` shows every task TASK_RUNNING (reconciled); the
//!   survivors' `/health` and then the new leader's `/v1/tasks` are polled
//!   every 5 ms. Then a fresh instance takes the killed one's place and the
//!   next kill waits until it stands by. Each round checks that the
//!   framework id never changes, that the task ids and their IPs stay the
//!   same (nothing relaunched), that no IP is held twice, that the NB's task
//!   ports are exactly the tasks' and that the master runs exactly them,
//!   active, under one framework. The new leader's log gives each takeover's
//!   stages (elected, NB epoch raised, shared state read, tasks adopted,
//!   subscribed, last TASK_RUNNING update), against the kill's wall clock.
//!   p50 / p99 / max of (a) and (b), and each over the session
//!   timeout, which is the floor: the killed leader's ZooKeeper session must
//!   expire before a standby can lead.
//! * **Launch rate, `--zk` against without it.** One `ovn-mesos run`
//!   launching `HA_BENCH_LAUNCH_TASKS` (1,000) tasks from scratch, its
//!   `/metrics` polled every 10 ms: process start -> every task
//!   TASK_RUNNING, without `--zk` (its own state dir) and with one `--zk`
//!   instance (a fresh ZooKeeper path per run), in the order baseline, zk,
//!   zk, baseline. Each starts once `ovn-nbctl --wait=sb sync` says
//!   ovn-northd has processed the previous teardown; after each run the
//!   instance is stopped (SIGTERM), torn down (`ovn-mesos teardown`, with
//!   `--zk` for the zk runs) and the master's resources are awaited free.
//!   Also shown: the ZooKeeper transactions the run made (the server's zxid
//!   before and after), the task records the state dir holds, the
//!   process' CPU time (and its task record writer thread's), and for
//!   information the launch path alone (first LAUNCH counted -> every task
//!   TASK_RUNNING).
//!
//! Targets: takeover (b) p99 <= the session timeout + 2 s, and launches/s
//! with `--zk` >= 0.9x without (the mean of each's two runs); PASS/FAIL
//! each, and a line for the checks of every round; exit 1 on a FAIL.
//! Without `--bench` (as `cargo test --benches` runs it) a smoke run: 20
//! tasks, 2 kills, 100 launched, 4 agents, no verdict. `HA_BENCH_AGENTS`
//! sets the agents (20), `HA_BENCH_LOG` the instances' log filter (`info`),
//! `HA_BENCH_KEEP=1` keeps the work dir (task files, state dirs, every
//! instance's log). Everything started is stopped by pid.

#[path = "../framework_launch/setup.rs"]
#[allow(dead_code)] // the launch bench's world: not every helper is used here
mod setup;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use mesos_local::testing::ProcessCluster;
use ovn_mesos_tests::bench::{env_usize, quantile};
use ovn_mesos_tests::binaries::ovn_mesos_binary;
use ovn_mesos_tests::ha::{self, Instance, Task};
use ovn_mesos_tests::{wait_for_async, OvnCentral, ZooKeeper};
use serde_json::Value;

use setup::Scrape;

/// The takeover bound: the session timeout + this.
const TAKEOVER_MARGIN: Duration = Duration::from_secs(2);
const TARGET_LAUNCH_RATIO: f64 = 0.9;
/// Polls of `/health` and `/v1/tasks` while a takeover is timed.
const POLL: Duration = Duration::from_millis(5);
/// Polls of `/metrics` while a launch is timed.
const METRICS_POLL: Duration = Duration::from_millis(10);
/// Every other wait (an instance's API, a launch, a standby).
const WAIT: Duration = Duration::from_secs(120);
/// One `/v1/tasks` request's limit.
const REQUEST: Duration = Duration::from_secs(2);
const RUNNING: &str = "ovn_mesos_tasks{state=\"TASK_RUNNING\"}";
const ZK_HA_PATH: &str = "/ovn-mesos-ha";

/// The run's sizes and settings.
struct Settings {
    bench: bool,
    tasks: usize,
    kills: usize,
    session: Duration,
    launch_tasks: usize,
    agents: usize,
    log: String,
}

impl Settings {
    fn from_env(bench: bool) -> Settings {
        Settings {
            bench,
            tasks: env_usize("HA_BENCH_TASKS", if bench { 200 } else { 20 }),
            kills: env_usize("HA_BENCH_KILLS", if bench { 10 } else { 2 }),
            session: Duration::from_millis(env_usize("HA_BENCH_SESSION_MS", 2000) as u64),
            launch_tasks: env_usize("HA_BENCH_LAUNCH_TASKS", if bench { 1000 } else { 100 }),
            agents: env_usize("HA_BENCH_AGENTS", if bench { 20 } else { 4 }),
            log: std::env::var("HA_BENCH_LOG").unwrap_or_else(|_| "info".into()),
        }
    }
}

/// The daemons every part shares. Dropped last (the instances first).
struct World {
    http: reqwest::Client,
    bin: PathBuf,
    settings: Settings,
    cluster: ProcessCluster,
    central: OvnCentral,
    zk: ZooKeeper,
    work: PathBuf,
}

/// `/v1/tasks`: task id -> state, IP and version.
type Tasks = BTreeMap<String, Task>;

impl World {
    /// Starts `ovn-mesos run` named `name` on the task files in `tasks`,
    /// with `--zk zk_url` when given.
    fn spawn(&self, name: &str, tasks: &Path, zk_url: Option<&str>) -> anyhow::Result<Instance> {
        let run = ha::Run {
            bin: &self.bin,
            nb: &self.central.nb_remote(),
            master: self.cluster.master(),
            tasks,
            work: &self.work,
            log_filter: &self.settings.log,
            zk: zk_url.map(|url| (url, self.settings.session)),
        };
        Instance::spawn(name, &run)
    }

    /// Waits until `i` answers `/health` with `role` and 200, naming
    /// `leader` when given.
    async fn wait_role(
        &self,
        i: &mut Instance,
        role: &str,
        leader: Option<&str>,
    ) -> anyhow::Result<Value> {
        let what = format!("{} to answer /health as a {role} with 200", i.name);
        let result = wait_for_async(&what, WAIT, || {
            let alive = i.check_alive();
            let api = i.api.clone();
            async move {
                alive?;
                Ok(ha::health(&self.http, &api).await.filter(|(status, body)| {
                    *status == 200
                        && body["role"] == role
                        && leader.is_none_or(|l| body["leader"] == l)
                }))
            }
        })
        .await;
        result.map(|(_, body)| body).with_context(|| i.tail(30))
    }

    /// Waits until `i` lists `n` tasks, all TASK_RUNNING.
    async fn wait_running(
        &self,
        i: &mut Instance,
        n: usize,
        poll: Duration,
    ) -> anyhow::Result<Tasks> {
        let deadline = Instant::now() + WAIT;
        let mut last = Tasks::new();
        loop {
            i.check_alive()?;
            if let Ok(tasks) = ha::tasks(&self.http, &i.api, REQUEST).await {
                if ha::all_running(&tasks, n) {
                    return Ok(tasks);
                }
                last = tasks;
            }
            if Instant::now() > deadline {
                bail!(
                    "{}: {n} tasks TASK_RUNNING not seen in {WAIT:?}; last {:?}\n{}",
                    i.name,
                    ha::states(&last),
                    i.tail(30)
                );
            }
            tokio::time::sleep(poll).await;
        }
    }

    /// The ZooKeeper server's zxid: its transactions so far (this epoch).
    fn zxid(&self) -> anyhow::Result<u64> {
        let srvr = self.zk.srvr(0)?;
        let zxid = srvr
            .lines()
            .find_map(|l| l.strip_prefix("Zxid:").map(str::trim))
            .with_context(|| format!("no Zxid in srvr: {srvr}"))?;
        Ok(u64::from_str_radix(zxid.trim_start_matches("0x"), 16)? & 0xffff_ffff)
    }

    /// `ovn-mesos teardown` (with `--zk zk_url`, else with `state_dir`),
    /// retried while ZooKeeper still counts a stopped instance in the
    /// election; then waits until the master's resources are free. Returns
    /// how long that took and the task ports left in the NB.
    async fn teardown(
        &self,
        state_dir: &Path,
        zk_url: Option<&str>,
    ) -> anyhow::Result<(Duration, usize)> {
        let started = Instant::now();
        let what = format!(
            "ovn-mesos teardown{} to succeed",
            zk_url.map(|u| format!(" --zk {u}")).unwrap_or_default()
        );
        wait_for_async(&what, Duration::from_secs(30), || async {
            // Ok(Some(result)): done or failed for good; Err: try again.
            let mut command = Command::new(&self.bin);
            command
                .args(["--nb", &self.central.nb_remote(), "teardown"])
                .args(["--master", self.cluster.master(), "--state-dir"])
                .arg(state_dir)
                .env("NO_COLOR", "1")
                .env_remove("OVN_MESOS_ZK");
            if let Some(url) = zk_url {
                let session = ha::session_flag(self.settings.session);
                command.args(["--zk", url, "--zk-session-timeout", &session]);
            }
            let out = tokio::process::Command::from(command)
                .stdin(Stdio::null())
                .output()
                .await?;
            if out.status.success() {
                return Ok(Some(Ok(())));
            }
            let stderr = String::from_utf8_lossy(&out.stderr);
            if stderr.contains("in the election") || stderr.contains("took the latch") {
                bail!("{}", stderr.trim());
            }
            Ok(Some(Err(anyhow::anyhow!("{}", stderr.trim()))))
        })
        .await??;
        setup::wait_resources_free(&self.http, self.cluster.master()).await?;
        Ok((started.elapsed(), ha::nb_ports(&self.central)?.len()))
    }
}

/// Seconds since the Unix epoch of a log line's RFC 3339 UTC timestamp
/// (`2026-12-07T22:30:15.123456Z ...`, tracing's format).
fn log_time(line: &str) -> Option<f64> {
    let stamp = line.split_whitespace().next()?.strip_suffix('Z')?;
    let (date, time) = stamp.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':');
    let (h, min, sec) = (
        t.next()?.parse::<i64>().ok()?,
        t.next()?.parse::<i64>().ok()?,
        t.next()?.parse::<f64>().ok()?,
    );
    // Days from 1970-01-01 (Howard Hinnant's days_from_civil).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3_600 + min * 60) as f64 + sec)
}

fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A takeover's stages in the new leader's log: name, and the line that
/// ends it (its first after the kill; the last for the last update).
const STAGES: [(&str, &str); 6] = [
    ("elected", "elected leader"),
    ("NB epoch raised", "NB leader epoch raised"),
    ("shared state read", "shared state loaded from ZooKeeper"),
    (
        "tasks adopted from the NB",
        "tasks of the earlier run recovered",
    ),
    ("subscribed", "scheduler::core: subscribed"),
    ("last TASK_RUNNING update", "to=\"TASK_RUNNING\""),
];

/// When each of [`STAGES`] ended, in ms after `after` (Unix seconds), from
/// the lines of `log` at or after it.
fn stages_ms(log: &str, after: f64) -> Vec<Option<f64>> {
    let since = |needle: &'static str| {
        log.lines()
            .filter(move |l| l.contains(needle))
            .filter_map(log_time)
            .filter(move |t| *t >= after - 0.001)
            .map(move |t| (t - after) * 1e3)
    };
    let last = STAGES.len() - 1;
    STAGES
        .iter()
        .enumerate()
        .map(|(k, (_, needle))| {
            if k == last {
                since(needle).reduce(f64::max)
            } else {
                since(needle).next()
            }
        })
        .collect()
}

/// The WARN and ERROR lines of a log, timestamps and fields' values cut
/// off (kept: level, target, message): line -> count.
fn complaints(log: &str, into: &mut BTreeMap<String, usize>) {
    for line in log.lines() {
        let mut words = line.split_whitespace();
        let _stamp = words.next();
        let Some(level) = words.next() else { continue };
        if level != "WARN" && level != "ERROR" {
            continue;
        }
        let rest: Vec<&str> = words.take_while(|w| !w.contains('=')).collect();
        let key = format!("{level} {}", rest.join(" "));
        *into.entry(key).or_default() += 1;
    }
}

/// One takeover.
struct Round {
    killed: String,
    leader: String,
    /// Kill -> another instance leads, subscribed (a).
    leads: Duration,
    /// Kill -> that leader shows every task TASK_RUNNING (b).
    reconciled: Duration,
    /// From its log, when each of [`STAGES`] ended, ms after the kill.
    stages: Vec<Option<f64>>,
    /// A fresh instance's start -> it stands by.
    replaced: Duration,
}

/// What the takeover part measured.
struct Takeover {
    rounds: Vec<Round>,
    first_launch: Duration,
    violations: Vec<String>,
    teardown: Duration,
    ports_left: usize,
}

async fn takeover(world: &World) -> anyhow::Result<Takeover> {
    let s = &world.settings;
    let n = s.tasks;
    let tasks_dir = world.work.join("ha-tasks");
    std::fs::create_dir_all(&tasks_dir)?;
    setup::task_files(&tasks_dir, n)?;
    let url = world.zk.zk_url(ZK_HA_PATH);
    let started = Instant::now();
    let mut instances = Vec::new();
    for name in ["a", "b", "c"] {
        instances.push(world.spawn(name, &tasks_dir, Some(&url))?);
    }
    // One of them leads, subscribed; the others stand by and name it.
    let first = wait_for_async("one of a, b, c to lead, subscribed", WAIT, || async {
        let leaders = ha::leaders(&world.http, &instances).await;
        Ok(leaders
            .into_iter()
            .find(|(_, status)| *status == 200)
            .map(|(k, _)| k))
    })
    .await?;
    let mut leader = first;
    let first_tasks = {
        let i = &mut instances[leader];
        world.wait_running(i, n, Duration::from_millis(20)).await?
    };
    let first_launch = started.elapsed();
    let framework_id = ha::health(&world.http, &instances[leader].api)
        .await
        .and_then(|(_, b)| b["framework_id"].as_str().map(str::to_owned))
        .context("the leader's /health has no framework id")?;
    let leader_api = instances[leader].api.clone();
    for (k, i) in instances.iter_mut().enumerate() {
        if k != leader {
            world.wait_role(i, "standby", Some(&leader_api)).await?;
        }
    }
    let ips = ha::ips(&first_tasks);
    let mut violations = Vec::new();
    check_round(
        world,
        0,
        &framework_id,
        &framework_id,
        &ips,
        &first_tasks,
        &mut violations,
    )
    .await?;
    println!(
        "takeover: {n} tasks running under a, b, c ({} leads, framework {framework_id}) {:.1} s after their start",
        instances[leader].name,
        first_launch.as_secs_f64()
    );

    let mut rounds = Vec::new();
    let mut dead = Vec::new();
    for round in 1..=s.kills {
        let (killed_at, killed_wall) = (Instant::now(), SystemTime::now());
        instances[leader].kill9();
        let killed = instances.remove(leader);
        // (a): another instance leads, subscribed.
        let deadline = killed_at + s.session * 5 + WAIT;
        let mut two_leaders = false;
        let (new, leads) = loop {
            let leading = ha::leaders(&world.http, &instances).await;
            let seen = killed_at.elapsed();
            if leading.len() > 1 && !two_leaders {
                two_leaders = true;
                violations.push(format!(
                    "round {round}: {} instances say they lead",
                    leading.len()
                ));
            }
            if let Some((k, _)) = leading.into_iter().find(|(_, status)| *status == 200) {
                break (k, seen);
            }
            for i in &mut instances {
                i.check_alive()?;
            }
            if Instant::now() > deadline {
                let logs: Vec<String> = instances.iter().map(|i| i.tail(20)).collect();
                bail!(
                    "round {round}: no instance leads, subscribed, {:?} after {} was killed\n{}",
                    deadline - killed_at,
                    killed.name,
                    logs.join("\n")
                );
            }
            tokio::time::sleep(POLL).await;
        };
        // (b): its tasks, all TASK_RUNNING.
        let tasks = world.wait_running(&mut instances[new], n, POLL).await?;
        let reconciled = killed_at.elapsed();
        leader = new;
        let health = ha::health(&world.http, &instances[leader].api)
            .await
            .map(|(_, b)| b)
            .unwrap_or_default();
        let now_id = health["framework_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        check_round(
            world,
            round,
            &framework_id,
            &now_id,
            &ips,
            &tasks,
            &mut violations,
        )
        .await?;
        let log = instances[leader].log_text();
        let after = unix_seconds(killed_wall);
        let stages = stages_ms(&log, after);
        // A fresh instance in the killed one's place.
        let name = format!("r{round}");
        let mut fresh = world.spawn(&name, &tasks_dir, Some(&url))?;
        let leader_api = instances[leader].api.clone();
        world
            .wait_role(&mut fresh, "standby", Some(&leader_api))
            .await?;
        let replaced = fresh.started.elapsed();
        println!(
            "round {round:>2}: killed {}, {} leads after {} ms, all {n} running after {} ms (its log: {}); {name} stands by after {} ms",
            killed.name,
            instances[leader].name,
            leads.as_millis(),
            reconciled.as_millis(),
            stages.iter().map(|t| opt_ms(*t)).collect::<Vec<_>>().join(" / "),
            replaced.as_millis()
        );
        rounds.push(Round {
            killed: killed.name.clone(),
            leader: instances[leader].name.clone(),
            leads,
            reconciled,
            stages,
            replaced,
        });
        dead.push(killed);
        instances.push(fresh);
    }
    // Stop every instance, the standbys first (a stopped leader releases
    // the latch and a standby would lead next), then the framework goes.
    for (k, i) in instances.iter_mut().enumerate() {
        if k != leader {
            i.stop();
        }
    }
    instances[leader].stop();
    // The instances' complaints, for the record.
    let mut all = BTreeMap::new();
    for i in dead.iter().chain(instances.iter()) {
        complaints(&i.log_text(), &mut all);
    }
    let (teardown, ports_left) = world
        .teardown(&world.work.join("ha-teardown-state"), Some(&url))
        .await
        .context("teardown of the takeover's framework")?;
    print_complaints("takeover instances", &all);
    Ok(Takeover {
        rounds,
        first_launch,
        violations,
        teardown,
        ports_left,
    })
}

fn opt_ms(ms: Option<f64>) -> String {
    ms.map_or_else(|| "?".into(), |ms| format!("{ms:.0}"))
}

fn print_complaints(whose: &str, all: &BTreeMap<String, usize>) {
    if all.is_empty() {
        println!("{whose}: no WARN or ERROR line in their logs");
        return;
    }
    println!("{whose}: WARN and ERROR lines in their logs (count, line without fields):");
    for (line, count) in all {
        let short: String = line.chars().take(200).collect();
        println!("  {count:>4} x {short}");
    }
}

/// The checks of a round: the framework id, the task ids and IPs, no IP
/// twice, the NB's task ports, the master's view.
async fn check_round(
    world: &World,
    round: usize,
    framework_id: &str,
    now_id: &str,
    ips: &BTreeMap<String, String>,
    tasks: &Tasks,
    violations: &mut Vec<String>,
) -> anyhow::Result<()> {
    if now_id != framework_id {
        violations.push(format!(
            "round {round}: framework id {now_id:?}, not {framework_id}"
        ));
    }
    let now = ha::ips(tasks);
    if &now != ips {
        let gone: Vec<_> = ips.keys().filter(|k| !now.contains_key(*k)).collect();
        let new: Vec<_> = now.keys().filter(|k| !ips.contains_key(*k)).collect();
        let moved = ips
            .iter()
            .filter(|(k, ip)| now.get(*k).is_some_and(|n| n != *ip))
            .count();
        violations.push(format!(
            "round {round}: the tasks changed: {} gone {gone:?}, {} new {new:?}, {moved} with another IP",
            gone.len(),
            new.len()
        ));
    }
    let distinct: BTreeSet<&String> = now.values().collect();
    if distinct.len() != now.len() {
        violations.push(format!(
            "round {round}: {} tasks hold {} IPs",
            now.len(),
            distinct.len()
        ));
    }
    let ports = ha::nb_ports(&world.central)?;
    if ports != now {
        violations.push(format!(
            "round {round}: the NB has {} task ports for {} tasks (or other addresses)",
            ports.len(),
            now.len()
        ));
    }
    let frameworks = ha::master_frameworks(world.cluster.master()).await?;
    let expected: BTreeSet<String> = now.keys().cloned().collect();
    match frameworks.get(framework_id) {
        Some((true, running)) if running == &expected && frameworks.len() == 1 => {}
        Some((active, running)) => violations.push(format!(
            "round {round}: at the master, {} framework(s); ours active {active}, running {} of the {} tasks, {} others",
            frameworks.len(),
            running.intersection(&expected).count(),
            expected.len(),
            running.difference(&expected).count()
        )),
        None => violations.push(format!(
            "round {round}: the master does not know framework {framework_id}"
        )),
    }
    Ok(())
}

/// One launch of M tasks from scratch.
struct Launch {
    zk: bool,
    /// Process start -> every task TASK_RUNNING.
    took: Duration,
    /// Process start -> subscribed; -> the first LAUNCH counted.
    subscribed: Option<Duration>,
    first_launch: Option<Duration>,
    /// ZooKeeper transactions from before the start to after the launch.
    zk_writes: u64,
    /// Files in the state dir's `tasks` after the launch.
    records: usize,
    teardown: Duration,
    ports_left: usize,
    /// `ovn-nbctl --wait=sb sync` before the start.
    northd: Duration,
    /// CPU seconds of the process and of its task record writer thread
    /// when every task ran.
    cpu: (f64, f64),
}

impl Launch {
    fn per_sec(&self, m: usize) -> f64 {
        m as f64 / self.took.as_secs_f64()
    }
}

async fn launch(world: &World, tasks_dir: &Path, run: usize, zk: bool) -> anyhow::Result<Launch> {
    let m = world.settings.launch_tasks as f64;
    let url = zk.then(|| world.zk.zk_url(&format!("/ovn-mesos-launch-{run}")));
    let name = format!("launch{run}-{}", if zk { "zk" } else { "baseline" });
    // ovn-northd has processed the last teardown's deletions.
    let sync = Instant::now();
    world.central.sync_sb()?;
    let northd = sync.elapsed();
    let zxid_before = world.zxid()?;
    let mut i = world.spawn(&name, tasks_dir, url.as_deref())?;
    let deadline = i.started + WAIT;
    let (mut subscribed, mut first_launch) = (None, None);
    let took = loop {
        i.check_alive()?;
        if let Ok(scrape) = Scrape::get(&world.http, &i.api).await {
            let at = i.started.elapsed();
            if subscribed.is_none() && scrape.value("ovn_mesos_connected") >= 1.0 {
                subscribed = Some(at);
            }
            if first_launch.is_none() && scrape.value("ovn_mesos_tasks_launched_total") > 0.0 {
                first_launch = Some(at);
            }
            if scrape.value("ovn_mesos_launch_failures_total") > 0.0 {
                bail!("{name}: launches failed\n{}", i.tail(30));
            }
            if scrape.value(RUNNING) >= m {
                break at;
            }
        }
        if Instant::now() > deadline {
            bail!("{name}: {m} tasks not running in {WAIT:?}\n{}", i.tail(30));
        }
        tokio::time::sleep(METRICS_POLL).await;
    };
    let zk_writes = world.zxid()? - zxid_before;
    let (total, writer) = setup::cpu_seconds(&i.child.id().to_string(), "state-writer");
    // An empty sum is -0.0.
    let cpu = (total, writer + 0.0);
    let mut complaints_seen = BTreeMap::new();
    i.stop();
    // Written by then: a stopping framework flushes its records.
    let records = std::fs::read_dir(i.state_dir.join("tasks")).map_or(0, |d| d.count());
    complaints(&i.log_text(), &mut complaints_seen);
    if !complaints_seen.is_empty() {
        print_complaints(&name, &complaints_seen);
    }
    let (teardown, ports_left) = world
        .teardown(&i.state_dir, url.as_deref())
        .await
        .with_context(|| format!("teardown of {name}"))?;
    Ok(Launch {
        zk,
        took,
        subscribed,
        first_launch,
        zk_writes,
        records,
        teardown,
        ports_left,
        northd,
        cpu,
    })
}

fn ms(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1e3)
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "FAIL"
    }
}

/// p50 / p99 / max of `samples`, in ms.
fn spread(samples: &[Duration]) -> (Duration, Duration, Duration) {
    let mut sorted = samples.to_vec();
    sorted.sort();
    (
        quantile(&sorted, 0.5),
        quantile(&sorted, 0.99),
        *sorted.last().unwrap_or(&Duration::ZERO),
    )
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(values[values.len() / 2])
}

async fn run(settings: Settings) -> anyhow::Result<bool> {
    let s_bench = settings.bench;
    let (n, kills, m, session) = (
        settings.tasks,
        settings.kills,
        settings.launch_tasks,
        settings.session,
    );
    if m > 4000 || n > 4000 {
        bail!("the /20 network holds 4,094 task ports");
    }
    let bin = ovn_mesos_binary()?;
    let mesos_local = mesos_local::testing::binary()?;
    let keep = std::env::var("HA_BENCH_KEEP").is_ok_and(|v| v == "1");
    let work = tempfile::Builder::new()
        .prefix("ovn-mesos-ha-bench-")
        .tempdir()?;
    let zk = ZooKeeper::start()?;
    let central = OvnCentral::start()?;
    setup::topology(&central.nb_remote(), setup::SUBNET).await?;
    let cluster = ha::noop_cluster(settings.agents, &work.path().join("mesos"))?;
    println!(
        "HA benchmark: {n} tasks under 3 `ovn-mesos run --zk` instances (session timeout {} ms), {kills} leader kills; \
         then {m} tasks launched with and without --zk; {} agents (mesos-local run --noop-hold, {}), real NB + ovn-northd, \
         standalone ZooKeeper; ovn-mesos {}",
        session.as_millis(),
        settings.agents,
        mesos_local.display(),
        bin.display()
    );
    let world = World {
        http: reqwest::Client::new(),
        bin,
        settings,
        cluster,
        central,
        zk,
        work: work.path().to_path_buf(),
    };

    let t = takeover(&world).await.context("takeover")?;
    let leads: Vec<Duration> = t.rounds.iter().map(|r| r.leads).collect();
    let reconciled: Vec<Duration> = t.rounds.iter().map(|r| r.reconciled).collect();
    let (a50, a99, amax) = spread(&leads);
    let (b50, b99, bmax) = spread(&reconciled);
    let floor = session.as_secs_f64();
    println!();
    println!("| takeover, from the SIGKILL ({} rounds, {n} tasks) | p50 | p99 | max | p50 / session | p99 / session |", t.rounds.len());
    println!("|---|---|---|---|---|---|");
    for (what, p50, p99, max) in [
        (
            "(a) another instance leads, subscribed (/health 200)",
            a50,
            a99,
            amax,
        ),
        (
            "(b) its /v1/tasks: all TASK_RUNNING (reconciled)",
            b50,
            b99,
            bmax,
        ),
    ] {
        println!(
            "| {what} | {} ms | {} ms | {} ms | {:.2} | {:.2} |",
            ms(p50),
            ms(p99),
            ms(max),
            p50.as_secs_f64() / floor,
            p99.as_secs_f64() / floor
        );
    }
    let stages: Vec<String> = STAGES
        .iter()
        .enumerate()
        .map(|(k, (name, _))| {
            let mut v: Vec<f64> = t.rounds.iter().filter_map(|r| r.stages[k]).collect();
            format!("{name} {}", opt_ms(median(&mut v)))
        })
        .collect();
    println!(
        "its log, medians in ms after the kill: {}",
        stages.join(", ")
    );
    let mut between: Vec<f64> = t
        .rounds
        .iter()
        .map(|r| (r.reconciled - r.leads).as_secs_f64() * 1e3)
        .collect();
    let replaced: Vec<Duration> = t.rounds.iter().map(|r| r.replaced).collect();
    println!(
        "(a) -> (b) median {} ms; a fresh instance stands by {} ms after its start (p50); the first {n} tasks ran {:.1} s after a, b, c started; \
         teardown --zk and resources free {} ms, task ports left in the NB {}",
        opt_ms(median(&mut between)),
        ms(spread(&replaced).0),
        t.first_launch.as_secs_f64(),
        ms(t.teardown),
        t.ports_left
    );
    let order: Vec<String> = t
        .rounds
        .iter()
        .map(|r| format!("{}->{}", r.killed, r.leader))
        .collect();
    println!("leaders: {}", order.join(", "));

    // Launch rate, baseline and zk alternating.
    let launch_dir = world.work.join("launch-tasks");
    std::fs::create_dir_all(&launch_dir)?;
    setup::task_files(&launch_dir, m)?;
    let mut launches = Vec::new();
    for (run, zk) in [false, true, true, false].into_iter().enumerate() {
        let l = launch(&world, &launch_dir, run + 1, zk)
            .await
            .with_context(|| format!("launch run {}", run + 1))?;
        launches.push(l);
    }
    println!();
    println!("| launch run ({m} tasks) | start -> all running | launches/s | start -> subscribed | start -> first launch | first launch -> all running | ZooKeeper transactions | task records on disk | CPU (record writer) | teardown | ports left | northd sync before |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (k, l) in launches.iter().enumerate() {
        let after_first = l.first_launch.map(|f| l.took.saturating_sub(f));
        println!(
            "| {} {} | {} ms | {:.0} | {} ms | {} ms | {} ms | {} | {} | {:.2} s ({:.2} s) | {} ms | {} | {} ms |",
            k + 1,
            if l.zk { "--zk" } else { "baseline" },
            ms(l.took),
            l.per_sec(m),
            l.subscribed.map_or("?".into(), ms),
            l.first_launch.map_or("?".into(), ms),
            after_first.map_or("?".into(), ms),
            l.zk_writes,
            l.records,
            l.cpu.0,
            l.cpu.1,
            ms(l.teardown),
            l.ports_left,
            ms(l.northd)
        );
    }
    let mean = |zk: bool| {
        let rates: Vec<f64> = launches
            .iter()
            .filter(|l| l.zk == zk)
            .map(|l| l.per_sec(m))
            .collect();
        rates.iter().sum::<f64>() / rates.len() as f64
    };
    let (base_rate, zk_rate) = (mean(false), mean(true));
    let ratio = zk_rate / base_rate;
    println!(
        "launches/s: baseline {base_rate:.0}, --zk {zk_rate:.0} (means of two runs each): ratio zk/baseline {ratio:.2}"
    );
    // For information: the launch path alone, first LAUNCH -> all running.
    let path = |zk: bool| {
        let rates: Vec<f64> = launches
            .iter()
            .filter(|l| l.zk == zk)
            .filter_map(|l| Some(m as f64 / l.took.checked_sub(l.first_launch?)?.as_secs_f64()))
            .collect();
        rates.iter().sum::<f64>() / rates.len() as f64
    };
    println!(
        "launch path alone (first launch -> all running): baseline {:.0}/s, --zk {:.0}/s: ratio {:.2}",
        path(false),
        path(true),
        path(true) / path(false)
    );

    let bound = session + TAKEOVER_MARGIN;
    let takeover_ok = b99 <= bound;
    let launch_ok = ratio >= TARGET_LAUNCH_RATIO;
    let checks_ok = t.violations.is_empty();
    println!();
    for v in &t.violations {
        println!("check failed: {v}");
    }
    if !s_bench {
        println!("smoke run (no --bench): no verdict");
        if keep {
            println!("work dir kept: {}", work.keep().display());
        }
        return Ok(checks_ok);
    }
    println!(
        "takeover p99 (b) {} ms <= session timeout + 2 s = {} ms: {} ({:.2}x the session timeout)",
        ms(b99),
        ms(bound),
        verdict(takeover_ok),
        b99.as_secs_f64() / floor
    );
    println!(
        "launch rate with --zk {ratio:.2}x without >= {TARGET_LAUNCH_RATIO}: {}",
        verdict(launch_ok)
    );
    println!(
        "every round: framework id constant, task set and IPs constant, no IP twice, NB ports and master as the tasks: {}",
        verdict(checks_ok)
    );
    if keep {
        println!("work dir kept: {}", work.keep().display());
    }
    drop(world);
    Ok(takeover_ok && launch_ok && checks_ok)
}

fn main() -> std::process::ExitCode {
    // `cargo bench` passes `--bench`; without it this is a smoke run.
    let bench = std::env::args().any(|a| a == "--bench");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(Settings::from_env(bench))) {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(e) => {
            eprintln!("benchmark failed: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
