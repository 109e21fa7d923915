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
//!
//! * burst: launches/s (first OFFERS received -> every task TASK_RUNNING;
//!   the framework's from its `/metrics` polled every 10 ms), and per used
//!   offer of the burst's one OFFERS event of 100 offers: offer taken up ->
//!   ACCEPT answered (IPAM, port transaction, ACCEPT) and OFFERS received ->
//!   ACCEPT answered (plus the wait behind the event's earlier offers);
//! * steady state: `FRAMEWORK_BENCH_RELAUNCHES` (300) tasks killed one at a
//!   time (`DELETE /v1/tasks/{id}`; the bare scheduler sends KILL and
//!   REVIVE) and each replacement launched from the next OFFERS event:
//!   the same two latencies, and kill -> replacement RUNNING;
//! * the framework's VmRSS/VmHWM with every task running;
//! * right after the steady phase, with the framework's ports still in the
//!   NB, the port transaction alone (`raw.rs`), as many samples as the
//!   steady phase had ACCEPTs, each with as many ports as they carried:
//!   sent by the raw loop (the transaction `ovn::ports` builds, on a plain
//!   unix socket, no cache) and by the ovn-mesos client
//!   (`commit_task_ports_batch`, what the launch pipeline calls per
//!   offer); each sample's ports are deleted before the next.
//!
//! The framework's latencies come from its histograms, so they are given as
//! the bucket's upper bound. Targets: steady-state OFFERS received -> ACCEPT
//! answered p99 <= 1.5 x (the bare scheduler's p99 of the same span + the
//! raw loop's p99 of the port transaction), all three measured in this run
//! so that the shared cores count on both sides (met when the framework's
//! p99 bucket bound is within it), >= 1,000 launches/s, RSS < 50 MB;
//! PASS/FAIL per target, exit 1 on a FAIL. The former absolute target
//! (p99 < 10 ms) is shown for the record. The burst's latencies are shown
//! beside them: there 100 offers arrive at once and the master, the NB,
//! ovn-northd and the framework share the machine's cores.
//! `FRAMEWORK_BENCH_TASKS` / `FRAMEWORK_BENCH_AGENTS` change the sizes
//! (2,000 / 100; without `--bench`, as `cargo test --benches` runs it, a
//! 200 / 10 smoke run with 10 relaunches); `FRAMEWORK_BENCH_KEEP=1` keeps
//! the work dir (task files, state dir, `ovn-mesos.log`);
//! `FRAMEWORK_BENCH_LOG` is the framework's log filter (`info`; e.g.
//! `info,ovn_mesos::scheduler::launcher=debug` logs each ACCEPT's timings).
//! `FRAMEWORK_BENCH_NORTHD=paused` is a diagnostic: ovn-northd is stopped
//! (SIGSTOP) once the topology is in place and resumed before teardown, as
//! if it ran on other machines (the framework writes only the NB and waits
//! for nothing from ovn-northd); the targets are set for it running.

#[allow(dead_code)] // shared with the rolling bench, which uses all of it
mod bare;
mod baseline;
mod raw;
mod setup;

use ovn_mesos_tests::bench::env_usize;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use mesos_local::testing::ProcessCluster;
use ovn_mesos_tests::lab::ovn_mesos_binary;
use ovn_mesos_tests::OvnCentral;

use setup::{
    bucket_quantile, cpu_seconds, histogram_delta, memory_mb, over_bound, Framework, Scrape,
    LAUNCH_CPUS, LAUNCH_MEM,
};

/// The former absolute steady p99 target, shown for the record.
const FORMER_TARGET_P99: Duration = Duration::from_millis(10);
/// Steady p99 <= this x (bare scheduler's p99 + raw port transaction's p99).
const TARGET_RATIO: f64 = 1.5;
const TARGET_LAUNCHES_PER_SEC: f64 = 1_000.0;
const TARGET_RSS_MB: f64 = 50.0;
const AGENT_CPUS: f64 = 4.0;
const AGENT_MEM: f64 = 4096.0;
const POLL: Duration = Duration::from_millis(10);

const LAUNCH_LATENCY: &str = "launch_latency_seconds";
const OFFER_LATENCY: &str = "offer_latency_seconds";
const RUNNING_UPDATES: &str = "ovn_mesos_task_updates_total{state=\"TASK_RUNNING\"}";
const TASKS_LAUNCHED: &str = "ovn_mesos_tasks_launched_total";

/// A phase's latency histograms (cumulative buckets).
struct Histograms {
    launch: Vec<(f64, f64)>,
    offer: Vec<(f64, f64)>,
}

impl Histograms {
    fn of(scrape: &Scrape) -> Histograms {
        Histograms {
            launch: scrape.histogram(LAUNCH_LATENCY),
            offer: scrape.histogram(OFFER_LATENCY),
        }
    }

    fn since(&self, earlier: &Histograms) -> Histograms {
        Histograms {
            launch: histogram_delta(&earlier.launch, &self.launch),
            offer: histogram_delta(&earlier.offer, &self.offer),
        }
    }

    fn count(&self) -> f64 {
        self.offer.last().map_or(0.0, |b| b.1)
    }
}

/// What the framework run measured.
struct Measured {
    launch: Duration,
    burst: Histograms,
    steady: Histograms,
    /// Tasks launched in the steady phase's ACCEPTs.
    steady_tasks: f64,
    replaced: Vec<Duration>,
    rss: f64,
    hwm: f64,
    /// CPU seconds of the framework and of its state writer thread.
    cpu: (f64, f64),
    final_scrape: Scrape,
}

/// Polls the framework's `/metrics` until `done` holds.
async fn poll_until(
    fw: &mut Framework,
    http: &reqwest::Client,
    what: &str,
    deadline: Instant,
    done: impl Fn(&Scrape) -> bool,
) -> anyhow::Result<Scrape> {
    loop {
        fw.check_alive()?;
        if Instant::now() > deadline {
            bail!("timed out waiting for {what}; see {}", fw.log.display());
        }
        if let Ok(scrape) = Scrape::get(http, &fw.api).await {
            if scrape.value("ovn_mesos_launch_failures_total") > 0.0 {
                bail!("launches failed; see {}", fw.log.display());
            }
            if done(&scrape) {
                return Ok(scrape);
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Runs `ovn-mesos run` until `tasks` TASK_RUNNING updates, polling its
/// `/metrics`, then until its API shows them all running; then kills and
/// replaces `relaunches` tasks one at a time.
async fn framework(
    fw: &mut Framework,
    tasks: usize,
    relaunches: usize,
) -> anyhow::Result<Measured> {
    let http = reqwest::Client::new();
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
            if scrape.value(RUNNING_UPDATES) >= tasks as f64 {
                break now.duration_since(first_offers.unwrap_or(now));
            }
        }
        tokio::time::sleep(POLL).await;
    };
    // The API view shows every task running.
    let view = "ovn_mesos_tasks{state=\"TASK_RUNNING\"}";
    let after_burst = poll_until(
        fw,
        &http,
        "the API to show every task running",
        deadline,
        |s| s.value(view) >= tasks as f64,
    )
    .await?;
    let (rss, hwm) = memory_mb(&fw.pid().to_string());
    let burst = Histograms::of(&after_burst);

    // Steady state: one task killed and replaced at a time.
    let listed: serde_json::Value = http
        .get(format!("http://{}/v1/tasks", fw.api))
        .send()
        .await?
        .json()
        .await?;
    let victims: Vec<String> = listed["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["id"].as_str().map(str::to_owned))
        .take(relaunches)
        .collect();
    let mut replaced = Vec::with_capacity(victims.len());
    let mut running = after_burst.value(RUNNING_UPDATES);
    for victim in &victims {
        let killed = Instant::now();
        let response = http
            .delete(format!("http://{}/v1/tasks/{victim}", fw.api))
            .send()
            .await?;
        if response.status() != reqwest::StatusCode::ACCEPTED {
            bail!(
                "DELETE /v1/tasks/{victim}: {} {}",
                response.status(),
                response.text().await.unwrap_or_default()
            );
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        let what = format!("the replacement of {victim} to run");
        let scrape = poll_until(fw, &http, &what, deadline, |s| {
            s.value(RUNNING_UPDATES) > running
        })
        .await?;
        replaced.push(killed.elapsed());
        running = scrape.value(RUNNING_UPDATES);
    }
    let final_scrape = Scrape::get(&http, &fw.api).await?;
    let cpu = cpu_seconds(&fw.pid().to_string(), "state-writer");
    let steady = Histograms::of(&final_scrape).since(&burst);
    let steady_tasks = final_scrape.value(TASKS_LAUNCHED) - after_burst.value(TASKS_LAUNCHED);
    Ok(Measured {
        launch,
        burst,
        steady,
        steady_tasks,
        replaced,
        rss,
        hwm,
        cpu,
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

/// p50 and p99 of exact values.
fn exact(values: &[Duration]) -> (f64, f64) {
    (
        baseline::quantile(values, 0.5).as_secs_f64(),
        baseline::quantile(values, 0.99).as_secs_f64(),
    )
}

/// The upper bound of the bucket of `buckets` that holds `s` seconds.
fn bucket_of(buckets: &[(f64, f64)], s: f64) -> f64 {
    buckets
        .iter()
        .map(|b| b.0)
        .find(|le| s <= *le)
        .unwrap_or(f64::INFINITY)
}

/// One table row of a latency: the framework's bucket bounds, the
/// baseline's exact values (and their bucket bounds), the ratio of the
/// p99 bounds.
fn latency_row(what: &str, fw: &[(f64, f64)], base: &[Duration]) {
    let (p50, p99) = (bucket_quantile(fw, 0.5), bucket_quantile(fw, 0.99));
    let (b50, b99) = exact(base);
    let bound = |s: f64| bucket_of(fw, s);
    println!(
        "| {what} p50 / p99 | <= {} / <= {} | {} / {} (<= {} / <= {}) | {:.1}x |",
        ms(p50),
        ms(p99),
        ms(b50),
        ms(b99),
        ms(bound(b50)),
        ms(bound(b99)),
        p99 / bound(b99)
    );
}

async fn run(bench: bool) -> anyhow::Result<bool> {
    let tasks = env_usize("FRAMEWORK_BENCH_TASKS", if bench { 2000 } else { 200 });
    let agents = env_usize("FRAMEWORK_BENCH_AGENTS", if bench { 100 } else { 10 });
    let relaunches = env_usize("FRAMEWORK_BENCH_RELAUNCHES", if bench { 300 } else { 10 });
    let per_agent = (AGENT_CPUS / LAUNCH_CPUS)
        .min(AGENT_MEM / LAUNCH_MEM)
        .floor() as usize;
    if tasks > agents * per_agent {
        bail!("{agents} agents hold at most {} tasks", agents * per_agent);
    }
    if relaunches > tasks {
        bail!("cannot relaunch {relaunches} of {tasks} tasks");
    }
    let pause_northd = match std::env::var("FRAMEWORK_BENCH_NORTHD").as_deref() {
        Ok("paused") => true,
        Ok("running") | Err(_) => false,
        Ok(other) => bail!("FRAMEWORK_BENCH_NORTHD={other}: expected 'running' or 'paused'"),
    };
    let mesos_local = mesos_local::testing::binary()?;
    let ovn_mesos = ovn_mesos_binary()?;
    let central = OvnCentral::start()?;
    setup::topology(&central.nb_remote(), setup::SUBNET).await?;
    let northd_paused = if pause_northd {
        Some(setup::Paused::stop(central.northd_pid())?)
    } else {
        None
    };
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
         {agents} agents (mesos-local run --noop-hold, {}), real NB + ovn-northd{}; then {relaunches} tasks \
         killed and replaced one at a time",
        mesos_local.display(),
        if northd_paused.is_some() {
            " (ovn-northd PAUSED: a diagnostic, the targets are set for it running)"
        } else {
            ""
        }
    );

    let base = baseline::run(&master, tasks, relaunches)
        .await
        .context("baseline")?;
    setup::wait_resources_free(&reqwest::Client::new(), &master).await?;

    let mut fw = Framework::start(
        &ovn_mesos,
        &central.nb_remote(),
        &master,
        &task_dir,
        work.path(),
    )?;
    let measured = framework(&mut fw, tasks, relaunches).await?;
    // The port transaction alone, right after the steady phase with the
    // framework's ports still in the NB: as many transactions as it had
    // ACCEPTs, as many ports each as they carried.
    let shape = raw::shape(
        measured.steady.count() as usize,
        measured.steady_tasks as usize,
    );
    let raw_loop = raw::raw_loop(&central.nb_remote(), &shape)
        .await
        .context("raw loop")?;
    let client_loop = raw::client_loop(&central.nb_remote(), &shape)
        .await
        .context("client port loop")?;
    raw::check_clean(&central.nb_remote()).await?;
    fw.check_alive()?;
    fw.stop();
    cluster.stop();

    let fw_rate = tasks as f64 / measured.launch.as_secs_f64();
    let base_rate = tasks as f64 / base.launch.as_secs_f64();
    let scrape = &measured.final_scrape;
    let mean =
        |v: &[Duration]| v.iter().map(Duration::as_secs_f64).sum::<f64>() / v.len().max(1) as f64;

    println!();
    println!("| measure | ovn-mesos | bare scheduler (baseline) | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| burst: launches/s (first OFFERS -> {tasks} RUNNING) | {fw_rate:.0} ({:.2} s) | {base_rate:.0} ({:.2} s) | {:.2}x |",
        measured.launch.as_secs_f64(),
        base.launch.as_secs_f64(),
        fw_rate / base_rate
    );
    latency_row(
        "burst: offer taken up -> ACCEPT answered (baseline: the ACCEPT call)",
        &measured.burst.launch,
        &base.burst.call,
    );
    latency_row(
        "burst: OFFERS received -> ACCEPT answered",
        &measured.burst.offer,
        &base.burst.waited,
    );
    println!(
        "| burst: ACCEPTs | {:.0} | {} | |",
        measured.burst.count(),
        base.burst.waited.len()
    );
    latency_row(
        "steady: offer taken up -> ACCEPT answered (baseline: the ACCEPT call)",
        &measured.steady.launch,
        &base.steady.call,
    );
    latency_row(
        "steady: OFFERS received -> ACCEPT answered",
        &measured.steady.offer,
        &base.steady.waited,
    );
    let shape_text = match (
        shape.first(),
        shape.iter().all(|k| Some(k) == shape.first()),
    ) {
        (Some(k), true) => format!(
            "{} transactions of {k} port{}",
            shape.len(),
            if *k == 1 { "" } else { "s" }
        ),
        _ => format!(
            "{} transactions, {} ports",
            shape.len(),
            shape.iter().sum::<usize>()
        ),
    };
    let (c50, c99) = exact(&client_loop.took);
    let (r50, r99) = exact(&raw_loop.took);
    let bucket = |s: f64| bucket_of(&measured.steady.offer, s);
    println!(
        "| steady, right after: the port transaction alone, {shape_text} (ovn-mesos: its client's commit_task_ports_batch; baseline column: the raw loop, the same transaction on a plain socket) p50 / p99 | {} / {} | {} / {} (<= {} / <= {}) | {:.1}x |",
        ms(c50),
        ms(c99),
        ms(r50),
        ms(r99),
        ms(bucket(r50)),
        ms(bucket(r99)),
        c99 / r99
    );
    println!(
        "| steady: kill -> replacement RUNNING, mean ({} relaunches) | {} | {} | {:.1}x |",
        measured.replaced.len(),
        ms(mean(&measured.replaced)),
        ms(mean(&base.replaced)),
        mean(&measured.replaced) / mean(&base.replaced)
    );
    println!(
        "| framework VmRSS / VmHWM, {tasks} running | {:.1} MB / {:.1} MB | | |",
        measured.rss, measured.hwm
    );
    println!(
        "| framework CPU time, burst and steady phase (of it the task record writer) | {:.2} s ({:.2} s) | | |",
        measured.cpu.0, measured.cpu.1
    );
    println!(
        "| framework: offers received, OVSDB transactions, VIP updates | {:.0}, {:.0}, {:.0} | | |",
        scrape.value("ovn_mesos_offers_received_total"),
        scrape.value("ovn_mesos_ovsdb_transactions_total"),
        scrape.value("ovn_mesos_vip_updates_total")
    );
    println!("(framework times from /metrics polled every {POLL:?}; its latencies are histograms, so p50/p99 are bucket upper bounds)");
    println!();
    let steady_p99 = bucket_quantile(&measured.steady.offer, 0.99);
    let burst_p99 = bucket_quantile(&measured.burst.launch, 0.99);
    let bare_p99 = exact(&base.steady.waited).1;
    let bound = TARGET_RATIO * (bare_p99 + r99);
    // The framework's p99 lies in the bucket (below, steady_p99]; a bucket
    // bound within the bound means every value of the bucket is.
    let below = measured
        .steady
        .offer
        .iter()
        .map(|b| b.0)
        .take_while(|le| *le < steady_p99)
        .last()
        .unwrap_or(0.0);
    let p99_ok = steady_p99 <= bound && measured.steady.count() > 0.0 && !raw_loop.took.is_empty();
    let rate_ok = fw_rate >= TARGET_LAUNCHES_PER_SEC;
    let rss_ok = measured.hwm < TARGET_RSS_MB;
    let within = measured
        .steady
        .offer
        .iter()
        .map(|b| b.0)
        .take_while(|le| *le <= bound)
        .last();
    let over_within =
        match within.and_then(|le| Some((le, over_bound(&measured.steady.offer, le)?))) {
            Some((le, n)) => format!(
                "{n:.0} of {:.0} framework ACCEPTs over {}, the largest bucket bound within it",
                measured.steady.count(),
                ms(le)
            ),
            None => "no bucket bound is within it".to_owned(),
        };
    let undecided = if !p99_ok && below < bound {
        "; the bound falls inside the framework p99's bucket, which the histogram does not split"
    } else {
        ""
    };
    let retries = if raw_loop.retries > 0 {
        format!(
            ", {} raw samples sent again after another writer changed the switch",
            raw_loop.retries
        )
    } else {
        String::new()
    };
    println!(
        "steady OFFERS received -> ACCEPT answered p99, same run: framework <= {} (bucket {} - {}), bare scheduler {}; the port transaction alone ({shape_text}, right after): raw loop {}, ovn-mesos client {}{retries}",
        ms(steady_p99),
        ms(below),
        ms(steady_p99),
        ms(bare_p99),
        ms(r99),
        ms(c99)
    );
    println!(
        "target steady offer -> ACCEPT p99 <= {TARGET_RATIO} x (bare scheduler's ACCEPT p99 + raw loop's port transaction p99) = {TARGET_RATIO} x ({} + {}) = {}: {} (framework p99 <= {}; {over_within}{undecided})",
        ms(bare_p99),
        ms(r99),
        ms(bound),
        verdict(p99_ok),
        ms(steady_p99),
    );
    let target = FORMER_TARGET_P99.as_secs_f64();
    let over = over_bound(&measured.steady.offer, target)
        .map_or_else(|| "?".to_owned(), |n| format!("{n:.0}"));
    let base_over = base
        .steady
        .waited
        .iter()
        .filter(|d| d.as_secs_f64() > target)
        .count();
    println!(
        "former target offer -> ACCEPT p99 < {} ms (steady state, port transaction included), for the record: {} (p99 <= {}, {over} of {:.0} over {} ms, bare scheduler {base_over} of {}; in the burst <= {} from taking the offer up)",
        FORMER_TARGET_P99.as_millis(),
        if steady_p99 <= target && measured.steady.count() > 0.0 {
            "met"
        } else {
            "not met"
        },
        ms(steady_p99),
        measured.steady.count(),
        FORMER_TARGET_P99.as_millis(),
        base.steady.waited.len(),
        ms(burst_p99)
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
    drop(northd_paused);
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
