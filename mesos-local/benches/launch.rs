//! Launch benchmark: `cargo bench -p mesos-local --bench launch`.
//!
//! The master runs as its own process (`mesos-local master`, so its memory
//! is measured alone); 1,000 agents run in this process with the
//! `--noop-executor` bench setting (every task is answered with
//! TASK_RUNNING and TASK_FINISHED at once, no process is started, but the
//! updates still travel agent -> master -> scheduler -> acknowledgement ->
//! agent like real ones); a Rust scheduler in this process, over real HTTP
//! with protobuf, launches 10,000 tasks (10 per offer) and acknowledges
//! every update.
//!
//! Reported: offers/s (the first OFFERS for every agent), launches/s (first
//! ACCEPT to the last TASK_RUNNING), the full update cycle, the master's
//! RSS, and as a baseline the rate of no-op scheduler calls (REQUEST) on
//! the same master with the same client. Targets: >= 5,000 launches/s and
//! < 300 MB master RSS; PASS/FAIL is printed per target and the process
//! exits 1 on a FAIL. `BENCH_AGENTS` and `BENCH_TASKS` override the sizes;
//! `BENCH_MASTER` and `BENCH_MASTER_PID` point it at a running master.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use mesos_local::agent::{self, AgentHandle};
use mesos_local::client::SchedulerClient;
use mesos_local::testing::{command_task, framework_info};
use mesos_local::AgentConfig;
use mesos_proto::v1::scheduler::{call, event, Call};
use mesos_proto::v1::{offer::operation, Filters, Offer, TaskState};
use mesos_proto::Encoding;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::sync::Semaphore;

/// The same allocator as the `mesos-local` binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TARGET_LAUNCHES_PER_SEC: f64 = 5_000.0;
const TARGET_RSS_MB: f64 = 300.0;
const TASKS_PER_OFFER: usize = 10;
const AGENT_RESOURCES: &str = "cpus:4;mem:4096;disk:4096;ports:[31000-32000]";
const IN_FLIGHT: usize = 128;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `VmRSS` and `VmHWM` of a process, in MB.
fn memory_mb(pid: &str) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

struct MasterProcess(Child);

impl Drop for MasterProcess {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.0.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let _ = self.0.wait();
    }
}

fn start_master() -> anyhow::Result<(MasterProcess, String)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mesos-local"))
        .args(["master", "--ip", "127.0.0.1", "--port", "0"])
        .env("MESOS_LOCAL_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting mesos-local master")?;
    let stdout = child.stdout.take().context("master stdout")?;
    let master = MasterProcess(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let address = line
        .split_once("http://")
        .map(|(_, a)| a.trim().to_string())
        .context("master address on stdout")?;
    Ok((master, address))
}

async fn start_agents(
    master: &str,
    count: usize,
    dir: &std::path::Path,
) -> anyhow::Result<Vec<AgentHandle>> {
    let http = reqwest::Client::builder().tcp_nodelay(true).build()?;
    let starts = (0..count).map(|i| {
        let config = AgentConfig {
            master: master.to_string(),
            port: 0,
            work_dir: dir.join(format!("agent-{i}")),
            resources: Some(AGENT_RESOURCES.to_string()),
            noop_executor: true,
            ..AgentConfig::default()
        };
        agent::start_with_client(config, http.clone())
    });
    let agents: Vec<AgentHandle> = futures::future::try_join_all(starts).await?;
    for agent in &agents {
        if agent
            .wait_registered(Duration::from_secs(60))
            .await
            .is_none()
        {
            bail!("agent {} did not register", agent.endpoint());
        }
    }
    Ok(agents)
}

/// No-op calls per second on the same master and client (REQUEST is
/// validated, routed and answered 202, with no work behind it).
async fn baseline_calls_per_sec(
    master: &str,
    http: reqwest::Client,
    calls: usize,
) -> anyhow::Result<f64> {
    let mut client = SchedulerClient::with_http(http, master, Encoding::Protobuf);
    let _events = client.subscribe(framework_info("baseline")).await?;
    let client = Arc::new(client);
    let permits = Arc::new(Semaphore::new(IN_FLIGHT));
    let started = Instant::now();
    let mut handles = Vec::with_capacity(calls);
    for _ in 0..calls {
        let permit = Arc::clone(&permits).acquire_owned().await?;
        let client = Arc::clone(&client);
        handles.push(tokio::spawn(async move {
            let result = client
                .call(Call {
                    r#type: Some(call::Type::Request as i32),
                    request: Some(call::Request::default()),
                    ..Default::default()
                })
                .await;
            drop(permit);
            result
        }));
    }
    for handle in handles {
        handle.await??;
    }
    let rate = calls as f64 / started.elapsed().as_secs_f64();
    client
        .call(Call {
            r#type: Some(call::Type::Teardown as i32),
            ..Default::default()
        })
        .await?;
    Ok(rate)
}

fn accept(offer: &Offer, first_task: usize, count: usize) -> Call {
    let tasks = (first_task..first_task + count)
        .map(|i| {
            command_task(
                &format!("task-{i}"),
                &offer.agent_id.value,
                "true",
                "cpus:0.1;mem:32",
            )
        })
        .collect();
    Call {
        r#type: Some(call::Type::Accept as i32),
        accept: Some(call::Accept {
            offer_ids: vec![offer.id.clone()],
            operations: vec![mesos_proto::v1::offer::Operation {
                r#type: Some(operation::Type::Launch as i32),
                launch: Some(operation::Launch { task_infos: tasks }),
                ..Default::default()
            }],
            filters: Some(Filters {
                refuse_seconds: Some(3600.0),
            }),
        }),
        ..Default::default()
    }
}

struct LaunchResult {
    offers: usize,
    offers_per_sec: f64,
    launches_per_sec: f64,
    cycle_secs: f64,
}

async fn launch_tasks(
    master: &str,
    http: reqwest::Client,
    agents: usize,
    tasks: usize,
) -> anyhow::Result<LaunchResult> {
    let mut client = SchedulerClient::with_http(http, master, Encoding::Protobuf);
    let subscribed_at = Instant::now();
    let mut events = client.subscribe(framework_info("launcher")).await?;
    let client = Arc::new(client);
    let permits = Arc::new(Semaphore::new(IN_FLIGHT));
    let failures = Arc::new(AtomicUsize::new(0));
    let (mut offers_seen, mut launched, mut running, mut finished) =
        (0usize, 0usize, 0usize, 0usize);
    let mut offers_done: Option<Instant> = None;
    let mut first_accept: Option<Instant> = None;
    let mut last_running: Option<Instant> = None;
    let deadline = Instant::now() + Duration::from_secs(300);
    while finished < tasks {
        if Instant::now() > deadline {
            bail!("timed out: {running} running, {finished} finished of {tasks}");
        }
        let event = events
            .next_matching("launch events", Duration::from_secs(60), |_| true)
            .await?;
        let mut outgoing = Vec::new();
        match event.r#type() {
            event::Type::Offers => {
                for offer in event.offers.map(|o| o.offers).unwrap_or_default() {
                    offers_seen += 1;
                    if offers_seen == agents {
                        offers_done = Some(Instant::now());
                    }
                    let count = TASKS_PER_OFFER.min(tasks - launched);
                    if count == 0 {
                        continue;
                    }
                    first_accept.get_or_insert_with(Instant::now);
                    outgoing.push(accept(&offer, launched, count));
                    launched += count;
                }
            }
            event::Type::Update => {
                let status = event.update.map(|u| u.status).unwrap_or_default();
                match status.state() {
                    TaskState::TaskRunning => {
                        running += 1;
                        if running == tasks {
                            last_running = Some(Instant::now());
                        }
                    }
                    TaskState::TaskFinished => finished += 1,
                    other => bail!("unexpected state {other:?} for {}", status.task_id),
                }
                if let (Some(agent_id), Some(uuid)) = (status.agent_id, status.uuid) {
                    outgoing.push(Call {
                        r#type: Some(call::Type::Acknowledge as i32),
                        acknowledge: Some(call::Acknowledge {
                            agent_id,
                            task_id: status.task_id,
                            uuid,
                        }),
                        ..Default::default()
                    });
                }
            }
            _ => {}
        }
        for call in outgoing {
            let permit = Arc::clone(&permits).acquire_owned().await?;
            let (client, failures) = (Arc::clone(&client), Arc::clone(&failures));
            tokio::spawn(async move {
                if client.call(call).await.is_err() {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
                drop(permit);
            });
        }
    }
    let cycle = first_accept.map_or(0.0, |t| t.elapsed().as_secs_f64());
    let _ = Arc::clone(&permits)
        .acquire_many_owned(IN_FLIGHT as u32)
        .await?;
    if failures.load(Ordering::Relaxed) > 0 {
        bail!("{} calls failed", failures.load(Ordering::Relaxed));
    }
    let launch_secs = match (first_accept, last_running) {
        (Some(a), Some(r)) => r.duration_since(a).as_secs_f64(),
        _ => bail!("not every task reached TASK_RUNNING"),
    };
    let offer_secs =
        offers_done.map_or(f64::NAN, |t| t.duration_since(subscribed_at).as_secs_f64());
    client
        .call(Call {
            r#type: Some(call::Type::Teardown as i32),
            ..Default::default()
        })
        .await?;
    Ok(LaunchResult {
        offers: offers_seen,
        offers_per_sec: agents as f64 / offer_secs,
        launches_per_sec: tasks as f64 / launch_secs,
        cycle_secs: cycle,
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
    // Without `--bench` (`cargo test --benches`) a small smoke run.
    let agents = env_usize("BENCH_AGENTS", if bench { 1000 } else { 10 });
    let tasks = env_usize("BENCH_TASKS", if bench { 10_000 } else { 100 });
    let dir = tempfile::tempdir()?;
    // BENCH_MASTER=ip:port and BENCH_MASTER_PID use a master started
    // elsewhere (e.g. under a profiler) instead of spawning one.
    let (master, address, master_pid) = match (
        std::env::var("BENCH_MASTER"),
        std::env::var("BENCH_MASTER_PID"),
    ) {
        (Ok(address), Ok(pid)) => (None, address, pid),
        _ => {
            let (master, address) = start_master()?;
            let pid = master.0.id().to_string();
            (Some(master), address, pid)
        }
    };
    let started = Instant::now();
    let agent_handles = start_agents(&address, agents, dir.path()).await?;
    let agents_secs = started.elapsed().as_secs_f64();
    let http = reqwest::Client::builder().tcp_nodelay(true).build()?;
    let baseline = baseline_calls_per_sec(&address, http.clone(), 20_000).await?;
    let result = launch_tasks(&address, http, agents, tasks).await?;
    let (rss, peak) = memory_mb(&master_pid);
    let (bench_rss, _) = memory_mb("self");
    println!("mesos-local launch benchmark: {agents} agents (noop executor), {tasks} tasks, protobuf scheduler over HTTP");
    println!("  agents registered in        {agents_secs:>10.2} s");
    println!(
        "  offers/s (first {:>5} offers) {:>10.0}",
        result.offers.min(agents),
        result.offers_per_sec
    );
    println!(
        "  launches/s (ACCEPT->RUNNING) {:>10.0}",
        result.launches_per_sec
    );
    println!(
        "  full cycle (RUNNING+FINISHED, all acked) {:.2} s",
        result.cycle_secs
    );
    println!("  baseline no-op calls/s       {baseline:>10.0}");
    println!("  master RSS now / peak        {rss:>7.1} MB / {peak:.1} MB");
    println!("  bench process RSS (agents+scheduler) {bench_rss:.1} MB");
    let launches_ok = result.launches_per_sec >= TARGET_LAUNCHES_PER_SEC;
    let memory_ok = peak < TARGET_RSS_MB;
    println!(
        "  target launches/s >= {TARGET_LAUNCHES_PER_SEC:.0}: {} ({:.0})",
        verdict(launches_ok),
        result.launches_per_sec
    );
    println!(
        "  target master RSS < {TARGET_RSS_MB:.0} MB: {} (peak {peak:.1} MB)",
        verdict(memory_ok)
    );
    futures::future::join_all(agent_handles.into_iter().map(AgentHandle::shutdown)).await;
    drop(master);
    Ok(!bench || (launches_ok && memory_ok))
}

fn main() -> std::process::ExitCode {
    // `cargo bench` passes `--bench`; without it this is a smoke test.
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
