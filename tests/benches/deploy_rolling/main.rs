//! Rolling deployments at scale (`cargo bench -p ovn-mesos-tests --bench
//! deploy_rolling`): real OVN central (NB, SB, ovn-northd), a tenant with
//! a `/18` network and an NB-only gateway, `mesos-local run --agents 100
//! --noop-hold` (tasks answered TASK_RUNNING and kept up, no process
//! started) and `ovn-mesos run`, both release processes built on demand
//! (`MESOS_LOCAL_BIN` / `OVN_MESOS_BIN` use given binaries).
//!
//! Measured, side by side in one run:
//!
//! * the bare scheduler (`baseline.rs`, run first and torn down): the same
//!   rolling update of `DEPLOY_BENCH_INSTANCES` (1,000) tasks with no OVN,
//!   no VIP and no state, by Marathon's rule with minimum health 0.5 and
//!   maximum over capacity 1.0;
//! * the framework: one definition of 1,000 instances, a service with a
//!   VIP, `minimum-health-capacity` 0.5 and `drain-seconds` 0, its tasks
//!   running; then `PUT /v1/definitions/roll` with a new command, and
//!   `GET /v1/definitions/roll` polled every 10 ms until its deployment is
//!   gone and every task runs the new version, and `/metrics` with it.
//!   Replacements per second = instances / (PUT sent -> done). The poll
//!   also checks the rule: the service's VIP backends
//!   (`ovn_mesos_service_backends`) never fall below minimum health x
//!   instances and the tasks never exceed instances x (1 + maximum over
//!   capacity). A second
//!   update with the default drain (5 s) follows, for the record;
//! * RSS: a fresh `ovn-mesos run` given `DEPLOY_BENCH_DEFINITIONS` (1,000)
//!   definitions of `DEPLOY_BENCH_PER_DEFINITION` (10) instances through
//!   `POST /v1/definitions`, each its own service with a VIP; its VmRSS and
//!   VmHWM once every task runs (and how fast the API took the 1,000
//!   definitions, each written durably).
//!
//! Targets: >= 350 replacements/s (ten times Marathon's published 35
//! tasks/s: 500 instances in 14.2 s on 189 agents), and the rule held;
//! PASS/FAIL each, exit 1 on a FAIL. Without `--bench` (as `cargo test
//! --benches` runs it) a smoke run: 100 instances on 10 agents, 50
//! definitions of 4. `DEPLOY_BENCH_KEEP=1` keeps the work dir;
//! `FRAMEWORK_BENCH_LOG` is the framework's log filter (`info`).

#[path = "../framework_launch/bare.rs"]
mod bare;
mod baseline;
#[path = "../framework_launch/setup.rs"]
#[allow(dead_code)] // the launch bench's world: not every helper is used here
mod setup;

use ovn_mesos_tests::bench::env_usize;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::stream::{self, StreamExt};
use mesos_local::testing::ProcessCluster;
use ovn_mesos_tests::lab::ovn_mesos_binary;
use ovn_mesos_tests::OvnCentral;
use serde_json::{json, Value};

use setup::{memory_mb, Framework, Scrape, NETWORK, TASK_CPUS, TASK_MEM};

/// Room for 16,382 task ports.
const SUBNET: &str = "10.128.0.0/18";
/// 145 launches per agent (0.11 cpus, 48 MB each).
const AGENT_RESOURCES: &str = "cpus:16;mem:16384;disk:4096;ports:[31000-32000]";
const MIN_HEALTH: f64 = 0.5;
const MAX_OVER: f64 = 1.0;
/// Marathon's published deploy rate: 500 instances in 14.2 s.
const MARATHON_PER_SEC: f64 = 500.0 / 14.2;
const TARGET_PER_SEC: f64 = 350.0;
const POLL: Duration = Duration::from_millis(10);
const ROLL: &str = "roll";
/// The rolled service's VIP backends, as `/metrics` shows them.
const BACKENDS: &str = "ovn_mesos_service_backends{tenant=\"bench\",service=\"bench-roll\"}";

/// A task file: `instances` of `command`, the service `service` with the
/// VIP `/service:port`, and the given extra labels.
fn definition(
    id: &str,
    instances: usize,
    command: &str,
    service: &str,
    port: u16,
    labels: &[(&str, String)],
) -> Value {
    let mut all = vec![json!({"key": "ovn-mesos/instances", "value": instances.to_string()})];
    all.extend(labels.iter().map(|(k, v)| json!({"key": k, "value": v})));
    json!({
        "name": id,
        "task_id": {"value": id},
        "agent_id": {"value": ""},
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": TASK_CPUS}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": TASK_MEM}}
        ],
        "command": {"shell": true, "value": command},
        "container": {"type": "MESOS", "network_infos": [{
            "name": "ovn",
            "labels": {"labels": [{"key": "logical_switch", "value": NETWORK}]}
        }]},
        "discovery": {
            "visibility": "EXTERNAL",
            "name": service,
            "ports": {"ports": [{
                "number": 8080, "name": "http", "protocol": "tcp",
                "labels": {"labels": [{"key": "VIP_0", "value": format!("/{service}:{port}")}]}
            }]}
        },
        "labels": {"labels": all}
    })
}

fn roll(instances: usize, command: &str, drain: Option<&str>) -> Value {
    let mut labels = vec![("ovn-mesos/minimum-health-capacity", MIN_HEALTH.to_string())];
    labels.push(("ovn-mesos/maximum-over-capacity", MAX_OVER.to_string()));
    if let Some(drain) = drain {
        labels.push(("ovn-mesos/drain-seconds", drain.to_owned()));
    }
    definition(ROLL, instances, command, "bench-roll", 32400, &labels)
}

async fn get_json(http: &reqwest::Client, url: &str) -> anyhow::Result<Value> {
    let response = http.get(url).send().await?;
    let status = response.status();
    let body = response.text().await?;
    if !status.is_success() {
        bail!("GET {url}: {status} {body}");
    }
    Ok(serde_json::from_str(&body)?)
}

async fn send(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<&Value>,
) -> anyhow::Result<Value> {
    let mut request = http.request(method.clone(), url);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await?;
    let status = response.status();
    let text = response.text().await?;
    if !status.is_success() {
        bail!("{method} {url}: {status} {text}");
    }
    Ok(serde_json::from_str(&text)?)
}

/// What one rolling update of the framework measured.
struct Rolled {
    took: Duration,
    /// The fewest VIP backends and the most tasks seen while it ran.
    min_serving: u64,
    max_tasks: u64,
    polls: usize,
}

/// Waits until `roll` has `instances` tasks running and healthy, all of
/// `version` (any when `None`), and no deployment.
async fn settled(
    fw: &mut Framework,
    http: &reqwest::Client,
    instances: usize,
    version: Option<&str>,
    deadline: Instant,
) -> anyhow::Result<Value> {
    let url = format!("http://{}/v1/definitions/{ROLL}", fw.api);
    let mut last = Value::Null;
    loop {
        fw.check_alive()?;
        if let Ok(view) = get_json(http, &url).await {
            let done = view["deployment"].is_null()
                && view["running"].as_u64() == Some(instances as u64)
                && view["healthy"].as_u64() == Some(instances as u64)
                && version.is_none_or(|v| view["version"].as_str() == Some(v));
            if done {
                return Ok(view);
            }
            last = view;
        }
        if Instant::now() > deadline {
            bail!(
                "{ROLL} not settled at {instances} tasks of version {version:?}; last seen running {}, healthy {}, deployment {}; see {}",
                last["running"],
                last["healthy"],
                last["deployment"],
                fw.log.display()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// PUTs `file` and polls the definition until its deployment is done.
async fn update(
    fw: &mut Framework,
    http: &reqwest::Client,
    file: &Value,
    instances: usize,
) -> anyhow::Result<Rolled> {
    let url = format!("http://{}/v1/definitions/{ROLL}", fw.api);
    let started = Instant::now();
    let answer = send(http, reqwest::Method::PUT, &url, Some(file)).await?;
    if answer["result"] != "updated" {
        bail!("PUT {url} answered {answer}: expected an update");
    }
    let version = answer["version"]
        .as_str()
        .context("the PUT's answer has no version")?
        .to_owned();
    let deadline = started + Duration::from_secs(120);
    let mut min_serving = u64::MAX;
    let mut max_tasks = 0;
    let mut polls = 0;
    loop {
        fw.check_alive()?;
        let (view, scrape) = tokio::try_join!(get_json(http, &url), Scrape::get(http, &fw.api))?;
        polls += 1;
        min_serving = min_serving.min(scrape.value(BACKENDS) as u64);
        let deployment = &view["deployment"];
        if !deployment.is_null() {
            let tasks = deployment["new_tasks"].as_u64().unwrap_or(0)
                + deployment["old_tasks"].as_u64().unwrap_or(0);
            max_tasks = max_tasks.max(tasks);
        }
        if deployment.is_null()
            && view["version"].as_str() == Some(&version)
            && view["running"].as_u64() == Some(instances as u64)
            && view["healthy"].as_u64() == Some(instances as u64)
        {
            return Ok(Rolled {
                took: started.elapsed(),
                min_serving,
                max_tasks,
                polls,
            });
        }
        if Instant::now() > deadline {
            bail!(
                "the update of {ROLL} not done in 120 s: running {}, healthy {}, deployment {deployment}; see {}",
                view["running"],
                view["healthy"],
                fw.log.display()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until the master shows no task and no resources in use.
async fn tasks_gone(fw: &mut Framework, http: &reqwest::Client) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let url = format!("http://{}/v1/tasks", fw.api);
    loop {
        fw.check_alive()?;
        let listed = get_json(http, &url).await?;
        let left = listed["tasks"].as_array().map_or(0, Vec::len);
        if left == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "{left} tasks left 60 s after the delete; see {}",
                fw.log.display()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// What the RSS phase measured.
struct Footprint {
    applied: Duration,
    running: Duration,
    rss: f64,
    hwm: f64,
}

/// A fresh framework given `definitions` definitions of `each` instances
/// through the API; its memory once every task runs.
async fn footprint(
    ovn_mesos: &Path,
    nb: &str,
    master: &str,
    work: &Path,
    definitions: usize,
    each: usize,
) -> anyhow::Result<Footprint> {
    let tasks_dir = work.join("no-tasks");
    std::fs::create_dir_all(&tasks_dir)?;
    let state = work.join("footprint");
    std::fs::create_dir_all(&state)?;
    let mut fw = Framework::start(ovn_mesos, nb, master, &tasks_dir, &state)?;
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Scrape::get(&http, &fw.api).await.is_err() {
        fw.check_alive()?;
        if Instant::now() > deadline {
            bail!(
                "the framework's API not up in 30 s; see {}",
                fw.log.display()
            );
        }
        tokio::time::sleep(POLL).await;
    }
    let url = format!("http://{}/v1/definitions", fw.api);
    let started = Instant::now();
    let bodies: Vec<Value> = (0..definitions)
        .map(|i| {
            let id = format!("svc{i}");
            definition(&id, each, "sleep 1000000", &id, 20000 + i as u16, &[])
        })
        .collect();
    let answers: Vec<anyhow::Result<Value>> = stream::iter(bodies.iter())
        .map(|body| send(&http, reqwest::Method::POST, &url, Some(body)))
        .buffer_unordered(8)
        .collect()
        .await;
    for answer in answers {
        let answer = answer?;
        if answer["result"] != "created" {
            bail!("POST {url} answered {answer}: expected created");
        }
    }
    let applied = started.elapsed();
    let want = (definitions * each) as f64;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        fw.check_alive()?;
        let scrape = Scrape::get(&http, &fw.api).await?;
        if scrape.value("ovn_mesos_launch_failures_total") > 0.0 {
            bail!("launches failed; see {}", fw.log.display());
        }
        let running = scrape.value("ovn_mesos_tasks{state=\"TASK_RUNNING\"}");
        if running >= want {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "{running} of {want} tasks running 300 s after the definitions; see {}",
                fw.log.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let running = started.elapsed();
    let listed = get_json(&http, &url).await?;
    let in_force = listed["definitions"].as_array().map_or(0, Vec::len);
    if in_force != definitions {
        bail!("GET {url} lists {in_force} definitions, {definitions} were created");
    }
    let (rss, hwm) = memory_mb(&fw.pid().to_string());
    fw.stop();
    Ok(Footprint {
        applied,
        running,
        rss,
        hwm,
    })
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "FAIL"
    }
}

async fn run(bench: bool) -> anyhow::Result<bool> {
    let instances = env_usize("DEPLOY_BENCH_INSTANCES", if bench { 1000 } else { 100 });
    let agents = env_usize("DEPLOY_BENCH_AGENTS", if bench { 100 } else { 10 });
    let definitions = env_usize("DEPLOY_BENCH_DEFINITIONS", if bench { 1000 } else { 50 });
    let each = env_usize("DEPLOY_BENCH_PER_DEFINITION", if bench { 10 } else { 4 });
    if instances > 1000 || each > 1000 {
        bail!("a definition has at most 1,000 instances");
    }
    let mesos_local = mesos_local::testing::binary()?;
    let ovn_mesos = ovn_mesos_binary()?;
    let central = OvnCentral::start()?;
    let nb = central.nb_remote();
    setup::topology(&nb, SUBNET).await?;
    let work = tempfile::tempdir()?;
    let mut cluster = ProcessCluster::start(
        agents,
        &work.path().join("mesos"),
        &["--noop-hold", "--resources", AGENT_RESOURCES],
    )?;
    let master = cluster.master().to_owned();
    println!(
        "rolling deployment benchmark: {instances} instances, minimum health {MIN_HEALTH}, maximum over capacity {MAX_OVER}, \
         on {agents} agents (mesos-local run --noop-hold, {}), real NB + ovn-northd; then RSS with {definitions} definitions \
         of {each} instances",
        mesos_local.display()
    );

    let base = baseline::run(&master, instances, MIN_HEALTH)
        .await
        .context("baseline")?;
    let http = reqwest::Client::new();
    setup::wait_resources_free(&http, &master).await?;

    let task_dir = work.path().join("tasks");
    std::fs::create_dir_all(&task_dir)?;
    std::fs::write(
        task_dir.join(format!("{ROLL}.json")),
        serde_json::to_vec_pretty(&roll(instances, "sleep 1000000", Some("0")))?,
    )?;
    let mut fw = Framework::start(&ovn_mesos, &nb, &master, &task_dir, work.path())?;
    let deadline = Instant::now() + Duration::from_secs(120);
    settled(&mut fw, &http, instances, None, deadline).await?;
    let (rss_roll, _) = memory_mb(&fw.pid().to_string());
    let rolled = update(
        &mut fw,
        &http,
        &roll(instances, "sleep 2000000", Some("0")),
        instances,
    )
    .await?;
    let drained = update(
        &mut fw,
        &http,
        &roll(instances, "sleep 3000000", None),
        instances,
    )
    .await?;
    let (_, hwm_roll) = memory_mb(&fw.pid().to_string());
    send(
        &http,
        reqwest::Method::DELETE,
        &format!("http://{}/v1/definitions/{ROLL}", fw.api),
        None,
    )
    .await?;
    tasks_gone(&mut fw, &http).await?;
    fw.stop();
    setup::wait_resources_free(&http, &master).await?;

    let foot = footprint(&ovn_mesos, &nb, &master, work.path(), definitions, each)
        .await
        .context("RSS with many definitions")?;
    cluster.stop();
    drop(central);

    let per_sec = |d: Duration| instances as f64 / d.as_secs_f64();
    let fw_rate = per_sec(rolled.took);
    let base_rate = per_sec(base.rolled);
    let minimum = (MIN_HEALTH * instances as f64).ceil() as u64;
    let maximum = (instances as f64 * (1.0 + MAX_OVER)).floor() as u64;
    println!();
    println!("| measure | ovn-mesos | bare scheduler (baseline) | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| rolling update of {instances}, drain 0 s: apply -> done | {:.2} s | {:.2} s | {:.2}x |",
        rolled.took.as_secs_f64(),
        base.rolled.as_secs_f64(),
        rolled.took.as_secs_f64() / base.rolled.as_secs_f64()
    );
    println!(
        "| replacements/s | {fw_rate:.0} | {base_rate:.0} | {:.2}x |",
        fw_rate / base_rate
    );
    println!(
        "| replacements/s against Marathon's published {MARATHON_PER_SEC:.1}/s | {:.1}x | | |",
        fw_rate / MARATHON_PER_SEC
    );
    println!(
        "| fewest VIP backends (ovn-mesos, {} polls) / tasks running and not being killed (baseline) during the update, minimum {minimum} | {} | {} | |",
        rolled.polls, rolled.min_serving, base.min_serving
    );
    println!(
        "| most tasks during the update (ovn-mesos), maximum {maximum} | {} | | |",
        rolled.max_tasks
    );
    println!(
        "| rolling update of {instances}, drain 5 s (the default): apply -> done, fewest VIP backends, most tasks | {:.2} s, {}, {} | | |",
        drained.took.as_secs_f64(),
        drained.min_serving,
        drained.max_tasks
    );
    println!(
        "| framework VmRSS with {instances} tasks running / VmHWM after both updates | {rss_roll:.1} MB / {hwm_roll:.1} MB | | |"
    );
    println!(
        "| {definitions} definitions x {each} instances (each a service with a VIP): POSTed (8 at a time) / all {} running | {:.2} s ({:.0} definitions/s) / {:.2} s | | |",
        definitions * each,
        foot.applied.as_secs_f64(),
        definitions as f64 / foot.applied.as_secs_f64(),
        foot.running.as_secs_f64()
    );
    println!(
        "| framework VmRSS / VmHWM with {definitions} definitions x {each} instances running | {:.1} MB / {:.1} MB | | |",
        foot.rss, foot.hwm
    );
    println!();
    let rate_ok = fw_rate >= TARGET_PER_SEC;
    let rule_ok = [&rolled, &drained]
        .iter()
        .all(|r| r.min_serving >= minimum && r.max_tasks <= maximum);
    println!(
        "target >= {TARGET_PER_SEC:.0} replacements/s (10x Marathon's {MARATHON_PER_SEC:.1}/s): {} ({fw_rate:.0}/s, {:.1}x Marathon, {:.2}x the bare scheduler)",
        verdict(rate_ok),
        fw_rate / MARATHON_PER_SEC,
        fw_rate / base_rate
    );
    println!(
        "target: VIP backends >= {minimum} and tasks <= {maximum} throughout both updates: {} (fewest backends {} and {}, most tasks {} and {})",
        verdict(rule_ok),
        rolled.min_serving,
        drained.min_serving,
        rolled.max_tasks,
        drained.max_tasks
    );
    if std::env::var_os("DEPLOY_BENCH_KEEP").is_some() {
        println!(
            "kept the task files, state dirs and logs in {}",
            work.keep().display()
        );
    }
    Ok(!bench || (rate_ok && rule_ok))
}

fn main() -> std::process::ExitCode {
    // `cargo bench` passes `--bench`; without it this is a smoke run.
    let bench = std::env::args().any(|a| a == "--bench");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(bench)) {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(e) => {
            eprintln!("benchmark failed: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
