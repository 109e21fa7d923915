//! The framework's launch path end to end (`cargo bench -p ovn-mesos-tests
//! --bench framework_launch`): real OVN central (NB, SB, ovn-northd), a
//! tenant with a `/20` network and an NB-only gateway, task files (four
//! templates, two of them one service with a VIP), `mesos-local run
//! --agents 100 --noop-hold` (tasks answered TASK_RUNNING and kept up, no
//! process started) and `ovn-mesos run`, both as release processes built
//! on demand (`MESOS_LOCAL_BIN` / `OVN_MESOS_BIN` use given binaries).
//!
//! Measured, side by side in one run against a bare scheduler on
//! `mesos_local::client` (no ports, plain LAUNCH of as many tasks with the
//! same resources on the same agents, run first and torn down):
//! launches/s (first OFFERS received -> every task TASK_RUNNING; the
//! framework's from its `/metrics` polled every 10 ms), offer -> ACCEPT
//! latency p50/p99 (the framework's from its histogram, so given as the
//! bucket's upper bound, port transaction included) and the framework's
//! VmRSS/VmHWM with every task running. Targets: p99 < 10 ms, >= 1,000
//! launches/s, RSS < 50 MB; PASS/FAIL per target, exit 1 on a FAIL.
//! `FRAMEWORK_BENCH_TASKS` / `FRAMEWORK_BENCH_AGENTS` change the sizes
//! (2,000 / 100; without `--bench`, as `cargo test --benches` runs it, a
//! 200 / 10 smoke run); `FRAMEWORK_BENCH_KEEP=1` keeps the work dir (task
//! files, state dir, `ovn-mesos.log`).

mod baseline;
mod setup;

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use mesos_local::testing::ProcessCluster;
use ovn_mesos_tests::lab::ovn_mesos_binary;
use ovn_mesos_tests::OvnCentral;

use setup::{bucket_quantile, memory_mb, Framework, Scrape, LAUNCH_CPUS, LAUNCH_MEM};

const TARGET_P99: Duration = Duration::from_millis(10);
const TARGET_LAUNCHES_PER_SEC: f64 = 1_000.0;
const TARGET_RSS_MB: f64 = 50.0;
const AGENT_CPUS: f64 = 4.0;
const AGENT_MEM: f64 = 4096.0;
const POLL: Duration = Duration::from_millis(10);

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What the framework run measured.
struct Measured {
    launch: Duration,
    buckets: Vec<(f64, f64)>,
    latency_sum: f64,
    latency_count: f64,
    rss: f64,
    hwm: f64,
    final_scrape: Scrape,
}

/// Runs `ovn-mesos run` until `tasks` TASK_RUNNING updates, polling its
/// `/metrics`, then until its API shows them all running.
async fn framework(fw: &mut Framework, tasks: usize) -> anyhow::Result<Measured> {
    let http = reqwest::Client::new();
    let running_updates = "ovn_mesos_task_updates_total{state=\"TASK_RUNNING\"}";
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut first_offers: Option<Instant> = None;
    let launch = loop {
        fw.check_alive()?;
        if Instant::now() > deadline {
            bail!(
                "{tasks} tasks not running within 120 s; see {}",
                fw.log.display()
            );
        }
        if let Ok(scrape) = Scrape::get(&http, &fw.api).await {
            let now = Instant::now();
            if scrape.value("ovn_mesos_launch_failures_total") > 0.0 {
                bail!("launches failed; see {}", fw.log.display());
            }
            if scrape.value("ovn_mesos_offers_received_total") > 0.0 {
                first_offers.get_or_insert(now);
            }
            if scrape.value(running_updates) >= tasks as f64 {
                break now.duration_since(first_offers.unwrap_or(now));
            }
        }
        tokio::time::sleep(POLL).await;
    };
    // The API view (published every 20 ms) shows every task running.
    let view = "ovn_mesos_tasks{state=\"TASK_RUNNING\"}";
    let final_scrape = loop {
        let scrape = Scrape::get(&http, &fw.api).await?;
        if scrape.value(view) >= tasks as f64 {
            break scrape;
        }
        if Instant::now() > deadline {
            bail!("the API never showed {tasks} running tasks");
        }
        tokio::time::sleep(POLL).await;
    };
    let (rss, hwm) = memory_mb(&fw.pid().to_string());
    let (buckets, latency_sum, latency_count) = final_scrape.latency();
    Ok(Measured {
        launch,
        buckets,
        latency_sum,
        latency_count,
        rss,
        hwm,
        final_scrape,
    })
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "FAIL"
    }
}

fn ms(seconds: f64) -> String {
    if seconds.is_infinite() {
        "> 10 s".into()
    } else {
        format!("{:.2} ms", seconds * 1e3)
    }
}

async fn run(bench: bool) -> anyhow::Result<bool> {
    let tasks = env_usize("FRAMEWORK_BENCH_TASKS", if bench { 2000 } else { 200 });
    let agents = env_usize("FRAMEWORK_BENCH_AGENTS", if bench { 100 } else { 10 });
    let per_agent = (AGENT_CPUS / LAUNCH_CPUS)
        .min(AGENT_MEM / LAUNCH_MEM)
        .floor() as usize;
    if tasks > agents * per_agent {
        bail!("{agents} agents hold at most {} tasks", agents * per_agent);
    }
    let mesos_local = mesos_local::testing::binary()?;
    let ovn_mesos = ovn_mesos_binary()?;
    let central = OvnCentral::start()?;
    setup::topology(&central.nb_remote()).await?;
    let work = tempfile::tempdir()?;
    let task_dir = work.path().join("tasks");
    std::fs::create_dir_all(&task_dir)?;
    let templates = setup::task_files(&task_dir, tasks)?;
    let resources = format!("cpus:{AGENT_CPUS};mem:{AGENT_MEM};disk:4096;ports:[31000-32000]");
    let mut cluster = ProcessCluster::start(
        agents,
        &work.path().join("mesos"),
        &["--noop-hold", "--resources", &resources],
    )?;
    let master = cluster.master().to_owned();
    println!(
        "framework launch benchmark: {tasks} tasks ({templates} task files, 2 of them one service with a VIP), \
         {agents} agents (mesos-local run --noop-hold, {}), real NB + ovn-northd",
        mesos_local.display()
    );

    let base = baseline::run(&master, tasks).await.context("baseline")?;
    setup::wait_resources_free(&reqwest::Client::new(), &master).await?;

    let mut fw = Framework::start(
        &ovn_mesos,
        &central.nb_remote(),
        &master,
        &task_dir,
        work.path(),
    )?;
    let measured = framework(&mut fw, tasks).await?;
    fw.stop();
    cluster.stop();

    let fw_rate = tasks as f64 / measured.launch.as_secs_f64();
    let base_rate = tasks as f64 / base.launch.as_secs_f64();
    let fw_p50 = bucket_quantile(&measured.buckets, 0.5);
    let fw_p99 = bucket_quantile(&measured.buckets, 0.99);
    let fw_mean = measured.latency_sum / measured.latency_count.max(1.0);
    let base_p50 = baseline::quantile(&base.latencies, 0.5).as_secs_f64();
    let base_p99 = baseline::quantile(&base.latencies, 0.99).as_secs_f64();
    let base_mean = base
        .latencies
        .iter()
        .map(Duration::as_secs_f64)
        .sum::<f64>()
        / base.latencies.len().max(1) as f64;
    // The baseline's values put in the framework's buckets, to compare
    // like with like.
    let bound = |s: f64| {
        measured
            .buckets
            .iter()
            .map(|b| b.0)
            .find(|le| s <= *le)
            .unwrap_or(f64::INFINITY)
    };
    let scrape = &measured.final_scrape;

    println!();
    println!("| measure | ovn-mesos | bare scheduler (baseline) | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| launches/s (first OFFERS -> {tasks} RUNNING) | {fw_rate:.0} ({:.2} s) | {base_rate:.0} ({:.2} s) | {:.2}x |",
        measured.launch.as_secs_f64(),
        base.launch.as_secs_f64(),
        fw_rate / base_rate
    );
    println!(
        "| offer -> ACCEPT p50 | <= {} | {} (<= {}) | {:.1}x (bucket bounds) |",
        ms(fw_p50),
        ms(base_p50),
        ms(bound(base_p50)),
        fw_p50 / bound(base_p50)
    );
    println!(
        "| offer -> ACCEPT p99 | <= {} | {} (<= {}) | {:.1}x (bucket bounds) |",
        ms(fw_p99),
        ms(base_p99),
        ms(bound(base_p99)),
        fw_p99 / bound(base_p99)
    );
    println!(
        "| offer -> ACCEPT mean | {} | {} | {:.1}x |",
        ms(fw_mean),
        ms(base_mean),
        fw_mean / base_mean
    );
    println!(
        "| ACCEPTs observed | {:.0} | {} | |",
        measured.latency_count,
        base.latencies.len()
    );
    println!(
        "| framework VmRSS / VmHWM, {tasks} running | {:.1} MB / {:.1} MB | | |",
        measured.rss, measured.hwm
    );
    println!(
        "| framework: offers received, OVSDB transactions, VIP updates | {:.0}, {:.0}, {:.0} | | |",
        scrape.value("ovn_mesos_offers_received_total"),
        scrape.value("ovn_mesos_ovsdb_transactions_total"),
        scrape.value("ovn_mesos_vip_updates_total")
    );
    println!("(framework times from /metrics polled every {POLL:?}; its latency is a histogram, so p50/p99 are bucket upper bounds)");
    println!();
    let p99_ok = fw_p99 < TARGET_P99.as_secs_f64();
    let rate_ok = fw_rate >= TARGET_LAUNCHES_PER_SEC;
    let rss_ok = measured.hwm < TARGET_RSS_MB;
    println!(
        "target offer -> ACCEPT p99 < {} ms: {} (p99 <= {})",
        TARGET_P99.as_millis(),
        verdict(p99_ok),
        ms(fw_p99)
    );
    println!(
        "target >= {TARGET_LAUNCHES_PER_SEC:.0} launches/s: {} ({fw_rate:.0}/s, {:.2}x the bare scheduler)",
        verdict(rate_ok),
        fw_rate / base_rate
    );
    println!(
        "target framework RSS < {TARGET_RSS_MB:.0} MB at {tasks} tasks: {} (VmRSS {:.1} MB, VmHWM {:.1} MB)",
        verdict(rss_ok),
        measured.rss,
        measured.hwm
    );
    drop(central);
    if std::env::var_os("FRAMEWORK_BENCH_KEEP").is_some() {
        println!(
            "kept the task files, state dir and ovn-mesos.log in {}",
            work.keep().display()
        );
    }
    Ok(!bench || (p99_ok && rate_ok && rss_ok))
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
