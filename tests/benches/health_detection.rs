//! How fast a hung backend leaves its VIP, and what checking costs.
//!
//! 1. **Detection**: `ovn-mesos run` (the real binary) with the shipped coke
//!    task files (Apache and nginx, HTTP health check every 1 s, 2 s timeout,
//!    3 failures) against real OVN, one chassis and mesos-local. Each trial
//!    freezes nginx (SIGSTOP to every process of its container: the kernel
//!    still completes TCP handshakes, the server never answers) and measures
//!    until the NB load balancer no longer lists it; then thaws it and waits
//!    until it is back. The limit is the configured detection time,
//!    `interval × consecutive_failures + timeout` (5 s); the target is p99
//!    within the limit + 300 ms, and the ratio p99 / limit is printed.
//! 2. **Cost**: two executors, each running one HTTP server task, one with
//!    a 1 s HTTP health check and one without, side by side for the same
//!    time: their CPU time and RSS, and the ratios checked / unchecked.
//!
//! `cargo bench -p ovn-mesos-tests --bench health_detection`; `HEALTH_BENCH_TRIALS`
//! (default 20) and `HEALTH_BENCH_COST_SECONDS` (default 30) change the run.

#[path = "../tests/executor_common/mod.rs"]
mod executor_common;
#[path = "../tests/framework_common/mod.rs"]
mod framework_common;

use ovn_mesos_tests::bench::{env_usize, quantile};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use framework_common::checks::{framework_id, netns, shipped, wait_running};
use framework_common::nb::load_balancers;
use framework_common::{netns_pids, signal_pids, Framework, Lab, MasterKind};
use mesos_proto::v1::health_check::{HttpCheckInfo, Type};
use mesos_proto::v1::{ExecutorId, HealthCheck, TaskId, TaskState};
use ovn_mesos_tests::wait_for;

const VIP: &str = "10.10.1.12:32350";
/// The shipped checks: interval 1 s, timeout 2 s, 3 consecutive failures.
const INTERVAL_S: u64 = 1;
const TIMEOUT_S: u64 = 2;
const FAILURES: u64 = 3;
/// The configured detection time, `interval × consecutive_failures + timeout`.
const LIMIT: Duration = Duration::from_secs(INTERVAL_S * FAILURES + TIMEOUT_S);
const MARGIN: Duration = Duration::from_millis(300);

/// Whether `backend` is in the NB backends of coke-web's VIP.
fn listed(lab: &Lab, backend: &str) -> anyhow::Result<bool> {
    let lbs = load_balancers(&lab.central)?;
    Ok(lbs
        .get("coke_coke-web_tcp")
        .is_some_and(|lb| lb.backends(VIP).iter().any(|b| b == backend)))
}

/// The shipped nginx file's check is the one the limit is computed from.
fn check_shipped_timings() -> anyhow::Result<()> {
    let text = std::fs::read_to_string(Lab::shipped("nginxcoke.json"))?;
    let v: serde_json::Value = serde_json::from_str(&text)?;
    let h = &v["health_check"];
    let got = (
        h["interval_seconds"].as_f64(),
        h["timeout_seconds"].as_f64(),
        h["consecutive_failures"].as_u64(),
    );
    let want = (
        Some(INTERVAL_S as f64),
        Some(TIMEOUT_S as f64),
        Some(FAILURES),
    );
    anyhow::ensure!(
        got == want,
        "tasks/nginxcoke.json's check {got:?} is not the benched {want:?}"
    );
    Ok(())
}

/// Freezes nginx `trials` times; each time until it is out of the VIP.
fn detection(trials: usize) -> anyhow::Result<Vec<Duration>> {
    let lab = Lab::start(MasterKind::InProcess);
    let fw = Framework::start(
        &lab,
        "bench",
        &shipped(&["apachecoke", "nginxcoke"]),
        &lab.state_dir("state"),
    );
    let framework = framework_id(&lab, &fw);
    let by_def = wait_running(&lab, &fw, &[("apachecoke", 1), ("nginxcoke", 1)]);
    let nginx = by_def["nginxcoke"][0].clone();
    let ns = netns(&lab, &framework, &nginx);
    lab.note_netns(&ns);
    let backend = format!("{}:80", nginx.ip);
    let mut out = Vec::with_capacity(trials);
    for trial in 0..trials {
        wait_for("nginx in the VIP", Duration::from_secs(30), || {
            Ok(listed(&lab, &backend)?.then_some(()))
        })?;
        let pids = netns_pids(&ns);
        anyhow::ensure!(!pids.is_empty(), "no process in {ns}");
        check_shipped_timings()?;
        // a random point of the check cycle
        std::thread::sleep(Duration::from_millis(37 * (trial as u64 % 27)));
        let frozen = Instant::now();
        signal_pids(&pids, "-STOP");
        let waited = wait_for("nginx out of the VIP", LIMIT * 3, || {
            Ok((!listed(&lab, &backend)?).then(|| frozen.elapsed()))
        });
        signal_pids(&pids, "-CONT");
        let took = waited?;
        eprintln!(
            "trial {trial:2}: out of the VIP after {} ms",
            took.as_millis()
        );
        out.push(took);
    }
    Ok(out)
}

/// (CPU seconds, RSS KiB) of each of two executors over `seconds`: one
/// whose task has a 1 s HTTP health check, one whose task has none.
fn cost(seconds: u64) -> anyhow::Result<((f64, u64), (f64, u64))> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let lab = executor_common::Lab::start().await;
        let server = "exec /usr/bin/python3 -m http.server 8080 --bind 0.0.0.0 --directory /";
        let mut procs = Vec::new();
        for (n, name, checked) in [(2u8, "checked", true), (3u8, "unchecked", false)] {
            let port = executor_common::Port::nth(n);
            lab.add_lsp(&port);
            let mut task = executor_common::task(name, &port, server);
            if checked {
                task.health_check = Some(HealthCheck {
                    r#type: Some(Type::Http as i32),
                    http: Some(HttpCheckInfo {
                        port: 8080,
                        ..Default::default()
                    }),
                    delay_seconds: Some(0.0),
                    interval_seconds: Some(1.0),
                    timeout_seconds: Some(2.0),
                    ..Default::default()
                });
            }
            let p = lab.executor(&lab.spec(name)).await;
            lab.agent
                .launch(&ExecutorId::from(name), task)
                .map_err(anyhow::Error::msg)?;
            lab.agent
                .wait_update(
                    &TaskId::from(name),
                    TaskState::TaskRunning,
                    Duration::from_secs(30),
                )
                .await
                .map_err(anyhow::Error::msg)?;
            procs.push(p);
        }
        // CPU time of every thread, in seconds, from schedstat (nanoseconds)
        let cpu = |pid: i32| -> f64 {
            std::fs::read_dir(format!("/proc/{pid}/task"))
                .into_iter()
                .flatten()
                .filter_map(|e| e.ok())
                .filter_map(|e| std::fs::read_to_string(e.path().join("schedstat")).ok())
                .filter_map(|s| s.split_whitespace().next()?.parse::<f64>().ok())
                .sum::<f64>()
                / 1e9
        };
        let before: Vec<f64> = procs.iter().map(|p| cpu(p.pid())).collect();
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        let used: Vec<f64> = procs
            .iter()
            .zip(&before)
            .map(|(p, b)| cpu(p.pid()) - b)
            .collect();
        let rss: Vec<u64> = procs.iter().map(|p| p.rss_kib().unwrap_or(0)).collect();
        let healthy = lab
            .agent
            .updates(&TaskId::from("checked"))
            .iter()
            .any(|r| r.status.healthy == Some(true));
        anyhow::ensure!(healthy, "the checked task never reported healthy");
        for name in ["checked", "unchecked"] {
            lab.agent.shutdown(&ExecutorId::from(name)).ok();
        }
        for mut p in procs {
            let _ = p.wait_exit(Duration::from_secs(20)).await;
        }
        Ok(((used[0], rss[0]), (used[1], rss[1])))
    })
}

fn main() -> ExitCode {
    if std::env::args().any(|a| a == "--list") {
        return ExitCode::SUCCESS;
    }
    if !std::env::args().any(|a| a == "--bench") {
        // `cargo test` builds and runs benches without --bench: nothing to do
        return ExitCode::SUCCESS;
    }
    let trials = env_usize("HEALTH_BENCH_TRIALS", 20).max(1);
    let seconds = env_usize("HEALTH_BENCH_COST_SECONDS", 30) as u64;
    let mut times = match detection(trials) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("health_detection: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    times.sort();
    let (p50, p99) = (quantile(&times, 0.5), quantile(&times, 0.99));
    let ok = p99 <= LIMIT + MARGIN;
    println!("health_detection: a frozen backend out of its VIP, {trials} trials");
    println!(
        "  p50 {} ms, p99 {} ms, max {} ms; limit (interval 1 s x 3 failures + timeout 2 s) {} ms",
        p50.as_millis(),
        p99.as_millis(),
        times.last().map_or(0, |t| t.as_millis()),
        LIMIT.as_millis()
    );
    println!(
        "  p99 / limit = {:.2}; target p99 <= limit + 300 ms: {}",
        p99.as_secs_f64() / LIMIT.as_secs_f64(),
        if ok { "PASS" } else { "FAIL" }
    );
    let ((cpu_c, rss_c), (cpu_u, rss_u)) = match cost(seconds) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("health_detection: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "health_check_cost: one executor with a 1 s HTTP check beside one without, {seconds} s"
    );
    println!(
        "  CPU {:.1} ms vs {:.1} ms (ratio {:.2}, {:.2} ms per check); RSS {} KiB vs {} KiB (ratio {:.2})",
        cpu_c * 1e3,
        cpu_u * 1e3,
        cpu_c / cpu_u.max(1e-6),
        (cpu_c - cpu_u) * 1e3 / seconds as f64,
        rss_c,
        rss_u,
        rss_c as f64 / rss_u.max(1) as f64
    );
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
