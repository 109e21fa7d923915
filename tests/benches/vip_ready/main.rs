//! How soon a new backend answers through its service's two VIPs once it
//! turned healthy (`cargo bench -p ovn-mesos-tests --bench vip_ready`).
//!
//! The seeded three-host lab (`ovn_mesos_tests::lab`: OVN central, an
//! ovn-controller and a userspace-datapath ovs-vswitchd per host, geneve
//! between them, `mesos-local` master and agents) runs the real `ovn-mesos
//! run` with the real `ovn-mesos-executor`, given two definitions of tenant
//! coke through `POST /v1/definitions`: `vipready`, one nginx task that
//! answers its own task id (the executor's `MESOS_EXECUTOR_ID` less its
//! `ovn-mesos.` prefix), HTTP health check every 1 s, a VIP port 32370, so
//! a north-south VIP on coke's gateway router (`10.10.1.12:32370`, reached
//! from `outside`) and an east-west one, its cluster IP (`10.96.0.x:32370`,
//! on every coke switch through the tenant's load balancer group); and
//! `vipclient`, a task with no VIP, whose network namespace the east-west
//! requests come from.
//!
//! One trial: `PUT /v1/definitions/vipready/instances` 2, and while the new
//! task starts, two probes run side by side, one per path, each a `curl`
//! (`nsenter --net` into the client task, or into `outside`) every 20 ms of
//! four parallel connections (`-Z`, so with two backends the new one is
//! missed by a round 1 time in 16), 300 ms to connect, 500 ms in all. The
//! start is the framework's own time of the task's health: the `"at"` (Unix
//! seconds, ms) of the first `health_changed` (or `status_update`) event
//! with `healthy: true` for it on `GET /v1/events`, read by a `curl -N` in
//! `mesos-master`. The end is the bench's wall clock (the same host clock)
//! when the first probe whose answers hold the new task's id returned. Then
//! the service is scaled back to 1 and the next trial waits until one task
//! runs and the API lists one backend.
//!
//! Printed: p50/p99/max of each path, of the framework's own part (healthy
//! to the first `vip_backends` event listing the task, handed to the VIP
//! writer), and east-west p99 / north-south p99.
//! Targets: east-west p99 at most 1.5 x north-south p99 (both are the same
//! load balancer row; the east-west path skips the gateway) and both p99
//! under 3 s; PASS/FAIL, exit 1 on a FAIL. `VIP_READY_TRIALS` (default 20)
//! sets the trials; the run takes about a minute, plus the release
//! `ovn-mesos`, `ovn-mesos-executor` and `mesos-local` it builds first
//! when they are out of date. Without `--bench` (as `cargo test --benches`
//! runs it) it does nothing. Needs root.

#[allow(dead_code)]
#[path = "../../tests/e2e_deploy/api.rs"]
mod api;
#[allow(dead_code)]
#[path = "../../tests/e2e_seed/framework.rs"]
mod framework;
#[allow(dead_code)]
#[path = "../../tests/e2e_seed/probe.rs"]
mod probe;
#[allow(dead_code)]
#[path = "../../tests/e2e_lab/support.rs"]
mod support;

use ovn_mesos_tests::bench::{env_usize, quantile};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use ovn_mesos::api::TaskView;
use ovn_mesos_tests::binaries::{executor_binary, mesos_local_binary, ovn_mesos_binary};
use ovn_mesos_tests::lab::{Host, Lab};
use ovn_mesos_tests::wait_for;
use serde_json::{json, Value};

use api::{apply, own_service, scale, wait_placed, SETTLE};
use framework::{service, tasks, wait_subscribed, Framework, API, READY};
use probe::container;

/// The benched service (and its definition).
const SERVICE: &str = "vipready";
/// The definition whose task the east-west probe runs in.
const CLIENT: &str = "vipclient";
const TENANT: &str = "coke";
const VIP_PORT: u16 = 32370;
/// A probe's pace: one round of `PARALLEL` requests every 20 ms.
const PACE: Duration = Duration::from_millis(20);
const PARALLEL: usize = 4;
/// How long a new task may take, once healthy, to answer on both paths.
const ANSWER_DEADLINE: Duration = Duration::from_secs(30);
/// The target: east-west p99 <= 1.5 x north-south p99 ...
const RATIO_LIMIT: f64 = 1.5;
/// ... and both p99 under 3 s.
const P99_LIMIT: Duration = Duration::from_secs(3);

/// nginx answering `<task id>\n` to every request on port 80; the task id
/// is the executor id less its `ovn-mesos.` prefix.
const COMMAND: &str = r#"d="${MESOS_SANDBOX:-$PWD}"; id="${MESOS_EXECUTOR_ID#ovn-mesos.}"
[ -n "$id" ] || { echo "no MESOS_EXECUTOR_ID" >&2; exit 1; }
printf '%s\n' "daemon off;" "pid $d/nginx.pid;" "error_log stderr;" "worker_processes 1;" "events { worker_connections 256; }" "http {" "  access_log off;" "  client_body_temp_path $d/client_body;" "  proxy_temp_path $d/proxy;" "  server { listen 80; location / { default_type text/plain; return 200 '$id\n'; } }" "}" > "$d/nginx.conf" || exit 1
exec /usr/sbin/nginx -c "$d/nginx.conf" -p "$d""#;

fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The labels of both definitions: instances, no drain.
fn labels(instances: u32) -> Value {
    json!([
        {"key": "ovn-mesos/instances", "value": instances.to_string()},
        {"key": "ovn-mesos/drain-seconds", "value": "0"},
    ])
}

/// `vipready`: nginx answering its task id, checked, with a VIP.
fn benched() -> Value {
    let mut file = own_service(SERVICE, labels(1));
    file["command"]["value"] = COMMAND.into();
    file["discovery"] = json!({"visibility": "EXTERNAL", "name": SERVICE, "ports": {"ports": [
        {"number": 80, "name": "http", "protocol": "tcp",
         "labels": {"labels": [{"key": "VIP_0", "value": format!("/{SERVICE}:{VIP_PORT}")}]}}
    ]}});
    file
}

/// The tasks of `vipready` in `/v1/tasks`.
fn service_tasks(lab: &Lab) -> anyhow::Result<Vec<TaskView>> {
    Ok(tasks(lab)?
        .into_iter()
        .filter(|t| t.definition == SERVICE)
        .collect())
}

/// What the event stream (saved in `events`) says of a new task: the
/// framework's time (`"at"`, Unix seconds) and type of the first event
/// that reports it healthy, and the time of the first `vip_backends` of
/// the service after it that lists the task (handed to the VIP writer).
struct Healthy {
    at: f64,
    kind: String,
    handed: Option<f64>,
}

fn healthy(events: &Path, task: &str) -> anyhow::Result<Option<Healthy>> {
    let text = std::fs::read_to_string(events)?;
    let mut found: Option<(Healthy, String)> = None;
    for line in text.lines() {
        let Some(data) = line.strip_prefix("data:") else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<Value>(data.trim()) else {
            continue;
        };
        if v["type"] == "dropped" {
            bail!("the event stream dropped the bench: {v}");
        }
        match &mut found {
            None if v["task"] == task && v["healthy"] == true => {
                let (Some(at), Some(ip)) = (v["at"].as_f64(), v["ip"].as_str()) else {
                    bail!("no time or ip in {v}");
                };
                let kind = v["type"].as_str().unwrap_or("?").to_owned();
                let h = Healthy {
                    at,
                    kind,
                    handed: None,
                };
                found = Some((h, format!("{ip}:80")));
            }
            Some((h, backend))
                if v["type"] == "vip_backends"
                    && v["service"] == SERVICE
                    && v["backends"]
                        .as_array()
                        .is_some_and(|b| b.iter().any(|b| b == backend.as_str())) =>
            {
                h.handed = v["at"].as_f64();
                break;
            }
            _ => {}
        }
    }
    Ok(found.map(|(h, _)| h))
}

/// One path's prober: `nsenter --net=<ns> curl` of `PARALLEL` connections
/// to one URL, and when each answer (a task id) was first seen.
struct Prober {
    argv: Vec<String>,
    seen: Mutex<BTreeMap<String, SystemTime>>,
    rounds: AtomicU64,
    busy_us: AtomicU64,
}

impl Prober {
    fn new(netns_file: &str, vip: &str) -> Prober {
        let url = format!("http://{vip}/");
        let mut argv: Vec<String> = [
            "nsenter",
            &format!("--net={netns_file}"),
            "--",
            "curl",
            "-sS",
            "-Z",
            "--parallel-immediate",
            "--parallel-max",
            &PARALLEL.to_string(),
            "--connect-timeout",
            "0.3",
            "-m",
            "0.5",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        argv.extend(vec![url; PARALLEL]);
        Prober {
            argv,
            seen: Mutex::new(BTreeMap::new()),
            rounds: AtomicU64::new(0),
            busy_us: AtomicU64::new(0),
        }
    }

    /// One round: the ids that answered (failed connections are left out).
    fn round(&self) -> Vec<String> {
        let out = Command::new(&self.argv[0]).args(&self.argv[1..]).output();
        match out {
            Ok(o) => String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Rounds every `PACE` until `stop`, noting the first time each id
    /// answered (when its round's curl returned).
    fn run(&self, stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) {
            let start = Instant::now();
            let ids = self.round();
            let now = SystemTime::now();
            {
                let mut seen = self.seen.lock().unwrap();
                for id in ids {
                    seen.entry(id).or_insert(now);
                }
            }
            self.rounds.fetch_add(1, Ordering::Relaxed);
            self.busy_us
                .fetch_add(start.elapsed().as_micros() as u64, Ordering::Relaxed);
            // the probe's own pace, not a wait for anything
            std::thread::sleep(PACE.saturating_sub(start.elapsed()));
        }
    }

    fn first_seen(&self, id: &str) -> Option<SystemTime> {
        self.seen.lock().unwrap().get(id).copied()
    }

    /// The mean time a round's curl took, in ms.
    fn mean_round_ms(&self) -> f64 {
        let rounds = self.rounds.load(Ordering::Relaxed).max(1);
        self.busy_us.load(Ordering::Relaxed) as f64 / rounds as f64 / 1e3
    }
}

/// One trial's outcome: the new task, its host, and how long after its
/// healthy event each path first answered with it.
struct Sample {
    task: String,
    host: String,
    /// The type of the event that said it is healthy.
    event: String,
    /// When its backend was handed to the VIP writer (`vip_backends`).
    handed: Option<Duration>,
    east_west: Duration,
    north_south: Duration,
}

/// The fields drop in order: the framework (Mesos kills its tasks) before
/// the lab.
struct Bench {
    fw: Option<Framework>,
    lab: Lab,
    events: PathBuf,
    events_pid: i32,
    east_west: Prober,
    north_south: Prober,
    ew_vip: String,
    ns_vip: String,
    client_host: String,
}

/// Seconds after `at` (Unix seconds, ms), never negative.
fn after(at: f64, t: SystemTime) -> Duration {
    Duration::from_secs_f64((unix(t) - at).max(0.0))
}

impl Bench {
    fn fw(&self) -> &Framework {
        self.fw.as_ref().expect("the framework runs")
    }

    /// The lab, the framework, both definitions running, the event
    /// stream followed and both paths answering the first task.
    fn start() -> anyhow::Result<Bench> {
        // built (release, on demand) before the lab starts, not while it waits
        let t = Instant::now();
        ovn_mesos_binary()?;
        executor_binary()?;
        mesos_local_binary()?;
        eprintln!(
            "vip_ready: binaries ready in {} ms",
            t.elapsed().as_millis()
        );
        let mut lab = support::seeded();
        let t = Instant::now();
        let tasks_dir = lab.dir().join("vip-ready-tasks");
        std::fs::create_dir_all(&tasks_dir)?;
        let fw = Framework::start_with(&mut lab, &tasks_dir);
        wait_subscribed(&lab, &fw);
        assert_eq!(apply(&lab, &benched()), "created");
        assert_eq!(apply(&lab, &own_service(CLIENT, labels(1))), "created");
        for id in [SERVICE, CLIENT] {
            wait_placed(&lab, &fw, id, 1, &format!("{id} running"), |w| w.is_none());
        }
        eprintln!(
            "vip_ready: framework up and both definitions running in {} ms",
            t.elapsed().as_millis()
        );
        let (ew_vip, ns_vip) = wait_for("both VIPs of vipready in the API", READY, || {
            let s = service(&lab, TENANT, SERVICE)?;
            Ok(s.east_west.zip(s.vips.first().cloned()))
        })?;
        let (client, client_c) = wait_for("the client task's container", READY, || {
            let Some(t) = framework::running_task(&tasks(&lab)?, CLIENT) else {
                bail!("not running");
            };
            let c = container(&lab, &t)?;
            Ok((!c.pids.is_empty()).then_some((t, c)))
        })?;
        let outside = format!("/run/netns/{}", lab.netns(Host::Outside));
        anyhow::ensure!(Path::new(&outside).exists(), "no {outside}");
        let east_west = Prober::new(&format!("/proc/{}/ns/net", client_c.pids[0]), &ew_vip);
        let north_south = Prober::new(&outside, &ns_vip);

        // the event stream, saved by a lab process (the lab stops it too)
        let url =
            format!("http://{API}/v1/events?event_type=health_changed&event_type=status_update&event_type=vip_backends");
        let master = lab.netns(Host::Master);
        let events_pid = lab.spawn_process(&master, "vip-ready-events", &["curl", "-sSN", &url])?;
        let events = lab.dir().join("logs").join("vip-ready-events.out");
        wait_for("the event stream attached", READY, || {
            Ok(std::fs::read_to_string(&events)?
                .contains("\"type\":\"attached\"")
                .then_some(()))
        })?;

        let bench = Bench {
            fw: Some(fw),
            lab,
            events,
            events_pid,
            east_west,
            north_south,
            ew_vip,
            ns_vip,
            client_host: client.hostname.unwrap_or_default(),
        };
        let base = bench.steady()?;
        // the body is the task id: both paths answer the first task
        for p in [&bench.east_west, &bench.north_south] {
            wait_for(&format!("{base} answering {:?}", p.argv), READY, || {
                let ids = p.round();
                if let Some(other) = ids.iter().find(|id| **id != base) {
                    bail!("{other:?} answered, not the task id {base}");
                }
                Ok((!ids.is_empty()).then_some(()))
            })?;
        }
        Ok(bench)
    }

    /// Polls until `vipready` has one task, running, and the API lists one
    /// backend; returns its id.
    fn steady(&self) -> anyhow::Result<String> {
        let (lab, fw) = (&self.lab, self.fw());
        wait_for("vipready back to one task and one backend", SETTLE, || {
            if !fw.alive() {
                bail!("ovn-mesos run exited:\n{}", fw.log_tail(lab));
            }
            let mine = service_tasks(lab)?;
            let s = service(lab, TENANT, SERVICE)?;
            match mine.as_slice() {
                [t] if t.state == "TASK_RUNNING" && s.backends.len() == 1 => Ok(Some(t.id.clone())),
                _ => Ok(None),
            }
        })
    }

    /// Scales up by one, measures the new task on both paths, scales back.
    fn trial(&mut self) -> anyhow::Result<Sample> {
        let before: BTreeSet<String> = service_tasks(&self.lab)?
            .into_iter()
            .map(|t| t.id)
            .collect();
        let stop = AtomicBool::new(false);
        let this = &*self;
        let measured = std::thread::scope(|s| {
            s.spawn(|| this.east_west.run(&stop));
            s.spawn(|| this.north_south.run(&stop));
            struct StopOnDrop<'a>(&'a AtomicBool);
            impl Drop for StopOnDrop<'_> {
                fn drop(&mut self) {
                    self.0.store(true, Ordering::Relaxed);
                }
            }
            let _stop = StopOnDrop(&stop);
            this.measure(&before)
        });
        scale(&self.lab, SERVICE, 1);
        let sample = measured?;
        self.steady()?;
        Ok(sample)
    }

    /// The probes run: scale to 2 and wait for the new task on both paths.
    fn measure(&self, before: &BTreeSet<String>) -> anyhow::Result<Sample> {
        let lab = &self.lab;
        scale(lab, SERVICE, 2);
        let new = wait_for("the new vipready task", SETTLE, || {
            Ok(service_tasks(lab)?
                .into_iter()
                .find(|t| !before.contains(&t.id)))
        })?;
        let h = wait_for(&format!("{} healthy on /v1/events", new.id), SETTLE, || {
            healthy(&self.events, &new.id)
        })
        .map_err(|e| anyhow::anyhow!("{e:#}\n{}", self.fw().log_tail(lab)))?;
        let (ew, ns) = wait_for(
            &format!("{} answering through both VIPs", new.id),
            ANSWER_DEADLINE,
            || {
                Ok(self
                    .east_west
                    .first_seen(&new.id)
                    .zip(self.north_south.first_seen(&new.id)))
            },
        )
        .with_context(|| {
            format!(
                "east-west first seen {:?}, north-south {:?}",
                self.east_west.first_seen(&new.id),
                self.north_south.first_seen(&new.id)
            )
        })?;
        let host = service_tasks(lab)?
            .into_iter()
            .find(|t| t.id == new.id)
            .and_then(|t| t.hostname)
            .unwrap_or_default();
        // the backends were handed to the VIP writer long before they answered
        let handed = healthy(&self.events, &new.id)?.and_then(|h| h.handed);
        Ok(Sample {
            task: new.id,
            host,
            event: h.kind,
            handed: handed.map(|t| Duration::from_secs_f64((t - h.at).max(0.0))),
            east_west: after(h.at, ew),
            north_south: after(h.at, ns),
        })
    }

    /// Stops the event stream and the framework (Mesos kills the tasks),
    /// then the lab.
    fn stop(mut self) {
        let _ = kill(Pid::from_raw(self.events_pid), Signal::SIGTERM);
        drop(self.fw.take());
        if let Err(e) = self.lab.stop() {
            eprintln!("vip_ready: stopping the lab: {e:#}");
        }
    }
}

fn line(what: &str, sorted: &[Duration]) -> String {
    format!(
        "  {what}: p50 {} ms, p99 {} ms, max {} ms",
        quantile(sorted, 0.5).as_millis(),
        quantile(sorted, 0.99).as_millis(),
        sorted.last().map_or(0, |t| t.as_millis())
    )
}

fn run(trials: usize) -> anyhow::Result<bool> {
    let t0 = Instant::now();
    let mut bench = Bench::start()?;
    eprintln!(
        "vip_ready: set up in {} s; client on {}, east-west {}, north-south {}",
        t0.elapsed().as_secs(),
        bench.client_host,
        bench.ew_vip,
        bench.ns_vip
    );
    let mut samples = Vec::with_capacity(trials);
    for trial in 0..trials {
        let s = match bench.trial() {
            Ok(s) => s,
            Err(e) => {
                bench.stop();
                return Err(e.context(format!("trial {trial}")));
            }
        };
        eprintln!(
            "trial {trial:2}: {} on {} ({}, to the VIP writer {} ms): east-west {} ms, north-south {} ms",
            s.task,
            s.host,
            s.event,
            s.handed.map_or("?".into(), |d| d.as_millis().to_string()),
            s.east_west.as_millis(),
            s.north_south.as_millis()
        );
        samples.push(s);
    }
    let logs = bench
        .lab
        .check_logs_allowing(api::DATAPATH_RACE)
        .err()
        .map(|e| format!("{e:#}"));
    let (ew_round, ns_round) = (
        bench.east_west.mean_round_ms(),
        bench.north_south.mean_round_ms(),
    );
    let (ew_vip, ns_vip, client_host) = (
        bench.ew_vip.clone(),
        bench.ns_vip.clone(),
        bench.client_host.clone(),
    );
    bench.stop();

    let mut ew: Vec<Duration> = samples.iter().map(|s| s.east_west).collect();
    let mut ns: Vec<Duration> = samples.iter().map(|s| s.north_south).collect();
    ew.sort();
    ns.sort();
    let mut handed: Vec<Duration> = samples.iter().filter_map(|s| s.handed).collect();
    handed.sort();
    let (ew99, ns99) = (quantile(&ew, 0.99), quantile(&ns, 0.99));
    let ratio = ew99.as_secs_f64() / ns99.as_secs_f64().max(1e-3);
    let ok = ratio <= RATIO_LIMIT && ew99 < P99_LIMIT && ns99 < P99_LIMIT;
    println!(
        "vip_ready: a new backend answering through its VIPs after its healthy event, {trials} trials ({} s)",
        t0.elapsed().as_secs()
    );
    println!(
        "{} (from a task on {client_host}, curl round {ew_round:.1} ms)",
        line(&format!("east-west {ew_vip}"), &ew)
    );
    println!(
        "{} (from outside, curl round {ns_round:.1} ms)",
        line(&format!("north-south {ns_vip}"), &ns)
    );
    if !handed.is_empty() {
        println!(
            "{} ({} of {trials} seen)",
            line("handed to the VIP writer (vip_backends)", &handed),
            handed.len()
        );
    }
    println!(
        "  east-west p99 / north-south p99 = {ratio:.2} (p50 {:.2}); target <= {RATIO_LIMIT} and both p99 < {} ms: {}",
        quantile(&ew, 0.5).as_secs_f64() / quantile(&ns, 0.5).as_secs_f64().max(1e-3),
        P99_LIMIT.as_millis(),
        if ok { "PASS" } else { "FAIL" }
    );
    if let Some(e) = logs {
        eprintln!("vip_ready: the lab's daemon logs hold errors: {e}");
    }
    Ok(ok)
}

fn main() -> ExitCode {
    if std::env::args().any(|a| a == "--list") {
        return ExitCode::SUCCESS;
    }
    if !std::env::args().any(|a| a == "--bench") {
        // `cargo test` builds and runs benches without --bench: nothing to do
        return ExitCode::SUCCESS;
    }
    let trials = env_usize("VIP_READY_TRIALS", 20).max(1);
    match run(trials) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("vip_ready: {e:#}");
            ExitCode::FAILURE
        }
    }
}
