//! LAUNCH to TASK_RUNNING (network ready: namespace, veth, OVS port bound,
//! `ovn-installed`) for 50 tasks, one executor each, on a real chassis;
//! beside it, in the same run, the original CNI plugin's steps as commands
//! (`ovn-nbctl --wait=sb lsp-add`, `ip netns add`, `ip link add ... veth`,
//! `ip link set netns`, `ip addr`, `ip route`, `ovs-vsctl add-port ... --
//! set Interface ... external_ids:iface-id=...`). Prints p50/p99 of both (the
//! executor's as it logs it, from LAUNCH received to TASK_RUNNING sent, and
//! as the agent sees it, adding the HTTP transfer of both), the median of
//! each setup step, the executors' memory, and PASS/FAIL lines for the
//! targets: executor p50 at most 0.3x the baseline's, executor VmRSS under
//! 15 MB.
//!
//! `cargo bench -p ovn-mesos-executor --bench launch_to_running` (as root).

use std::process::Command;
use std::time::{Duration, Instant};

use mesos_proto::v1::network_info::IpAddress;
use mesos_proto::v1::{
    CommandInfo, ContainerInfo, ExecutorId, Label, Labels, NetworkInfo, TaskId, TaskInfo, TaskState,
};
use ovn::attachment;
use ovn_mesos_executor::proc_info;
use ovn_mesos_executor::test_agent::{ExecutorProcess, ExecutorSpec, TestAgent};
use ovn_mesos_tests::{Chassis, OvnCentral};

const TASKS: usize = 50;
const FRAMEWORK: &str = "ovn-mesos-bench";
const T: Duration = Duration::from_secs(60);
const RSS_LIMIT_KIB: u64 = 15 * 1024;

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(bench())
}

fn mac(i: usize, net: u8) -> String {
    format!("0a:58:0a:{net:02x}:{:02x}:{:02x}", i / 256, i % 256 + 2)
}

fn ip(i: usize, net: u8) -> String {
    format!("10.{net}.{}.{}", i / 256, i % 256 + 2)
}

fn task(i: usize) -> TaskInfo {
    let label = |k: &str, v: String| Label {
        key: k.into(),
        value: Some(v),
    };
    TaskInfo {
        name: format!("bench-{i}"),
        task_id: TaskId::from(format!("bench-{i}")),
        command: Some(CommandInfo {
            value: Some("exec sleep 600".into()),
            ..Default::default()
        }),
        container: Some(ContainerInfo {
            network_infos: vec![NetworkInfo {
                name: Some(attachment::NETWORK_NAME.into()),
                ip_addresses: vec![IpAddress {
                    ip_address: Some(ip(i, 1)),
                    ..Default::default()
                }],
                labels: Some(Labels {
                    labels: vec![
                        label(attachment::LOGICAL_PORT, format!("e-{i}")),
                        label(attachment::MAC, mac(i, 1)),
                        label(attachment::PREFIX_LEN, "16".into()),
                        label(attachment::GATEWAY, "10.1.255.254".into()),
                    ],
                }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn run(program: &str, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(program).args(args).output()?;
    anyhow::ensure!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

/// The CNI plugin's steps for task `i`, as commands.
fn baseline_one(central: &OvnCentral, chassis: &Chassis, i: usize) -> anyhow::Result<Duration> {
    let (lsp, ns, veth, peer) = (
        format!("b-{i}"),
        format!("omb-{}-{i}", std::process::id()),
        format!("omb{i}"),
        format!("omp{i}"),
    );
    let (m, addr) = (mac(i, 2), ip(i, 2));
    let hn = chassis.netns();
    let started = Instant::now();
    central.nbctl(&[
        "--wait=sb",
        "lsp-add",
        "bench",
        &lsp,
        "--",
        "lsp-set-addresses",
        &lsp,
        &format!("{m} {addr}"),
    ])?;
    run("ip", &["netns", "add", &ns])?;
    run(
        "ip",
        &[
            "-n", hn, "link", "add", &veth, "type", "veth", "peer", "name", &peer,
        ],
    )?;
    run("ip", &["-n", hn, "link", "set", &peer, "netns", &ns])?;
    run("ip", &["-n", &ns, "link", "set", &peer, "name", "eth0"])?;
    run(
        "ip",
        &[
            "-n", &ns, "link", "set", "eth0", "address", &m, "mtu", "1400",
        ],
    )?;
    run(
        "ip",
        &[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{addr}/16"),
            "dev",
            "eth0",
        ],
    )?;
    run("ip", &["-n", &ns, "link", "set", "eth0", "up"])?;
    run("ip", &["-n", &ns, "link", "set", "lo", "up"])?;
    run("ip", &["-n", hn, "link", "set", &veth, "up"])?;
    run(
        "ip",
        &["-n", &ns, "route", "add", "default", "via", "10.2.255.254"],
    )?;
    chassis.vsctl(&[
        "add-port",
        "br-int",
        &veth,
        "--",
        "set",
        "Interface",
        &veth,
        &format!("external_ids:iface-id={lsp}"),
    ])?;
    Ok(started.elapsed())
}

fn baseline_cleanup(chassis: &Chassis, i: usize) {
    let veth = format!("omb{i}");
    let _ = chassis.vsctl(&["--if-exists", "del-port", &veth]);
    let _ = run("ip", &["-n", chassis.netns(), "link", "del", &veth]);
    let _ = run(
        "ip",
        &["netns", "del", &format!("omb-{}-{i}", std::process::id())],
    );
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn bench() -> anyhow::Result<()> {
    let central = OvnCentral::start()?;
    let chassis = Chassis::start(&central, "bench-chassis")?;
    let agent = TestAgent::start(FRAMEWORK).await?;
    let sandboxes = tempfile::tempdir()?;
    let mut nb = vec!["ls-add".to_string(), "bench".into()];
    for i in 0..TASKS {
        let lsp = format!("e-{i}");
        let addr = format!("{} {}", mac(i, 1), ip(i, 1));
        nb.extend(
            [
                "--",
                "lsp-add",
                "bench",
                &lsp,
                "--",
                "lsp-set-addresses",
                &lsp,
                &addr,
            ]
            .map(String::from),
        );
    }
    let nb: Vec<&str> = nb.iter().map(String::as_str).collect();
    central.nbctl(&nb)?;
    central.sync_sb()?;

    // Executors: one per task, subscribed before the clock starts.
    let mut executors = Vec::new();
    for i in 0..TASKS {
        let spec = ExecutorSpec {
            binary: env!("CARGO_BIN_EXE_ovn-mesos-executor").into(),
            agent_endpoint: agent.endpoint(),
            framework_id: FRAMEWORK.into(),
            executor_id: format!("ex-{i}"),
            sandbox: sandboxes.path().join(format!("ex-{i}")),
            checkpoint: false,
            grace: Duration::from_secs(3),
            recovery_timeout: Duration::from_secs(15),
            env: vec![
                ("OVN_MESOS_OVS_DB".into(), chassis.ovs_remote()),
                ("OVN_MESOS_HOST_NETNS".into(), chassis.netns().into()),
                (
                    "OVN_MESOS_LOG".into(),
                    "warn,ovn_mesos_executor::plumbing=debug,ovn_mesos_executor::task=info".into(),
                ),
            ],
        };
        executors.push(ExecutorProcess::spawn(&spec)?);
        agent
            .wait_subscribed(&ExecutorId::from(format!("ex-{i}")), T)
            .await
            .map_err(anyhow::Error::msg)?;
    }
    let mut ours = Vec::new();
    for (i, executor) in executors.iter().enumerate() {
        let t = TaskId::from(format!("bench-{i}"));
        let sent = agent
            .launch(&ExecutorId::from(format!("ex-{i}")), task(i))
            .map_err(anyhow::Error::msg)?;
        let running = agent
            .wait_update(&t, TaskState::TaskRunning, T)
            .await
            .map_err(|e| anyhow::anyhow!("{e}\n{}", executor.log()))?;
        ours.push(running.at - sent);
    }
    let rss: Vec<u64> = executors
        .iter()
        .filter_map(ExecutorProcess::rss_kib)
        .collect();
    let anon: Vec<u64> = executors
        .iter()
        .filter_map(|e| {
            std::fs::read_to_string(format!("/proc/{}/status", e.pid()))
                .ok()?
                .lines()
                .find_map(|l| l.strip_prefix("RssAnon:"))?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .collect();
    let me = proc_info::rss_kib(std::process::id() as i32).unwrap_or(0);
    let logs: Vec<String> = executors.iter().map(ExecutorProcess::log).collect();
    let values = |key: &str| -> Vec<Duration> {
        let mut v: Vec<Duration> = logs
            .iter()
            .filter_map(|l| {
                let rest = &l[l.find(&format!("{key}="))? + key.len() + 1..];
                let n: u64 = rest
                    .split(|c: char| !c.is_ascii_digit())
                    .next()?
                    .parse()
                    .ok()?;
                Some(Duration::from_micros(n))
            })
            .collect();
        v.sort();
        v
    };
    let step = |key: &str| -> Duration {
        let v = values(key);
        if v.is_empty() {
            Duration::ZERO
        } else {
            percentile(&v, 0.5)
        }
    };
    // The executor's own clock: LAUNCH received -> TASK_RUNNING emitted.
    let inside = values("launch_to_running_us");
    let steps = [
        ("netns", step("elapsed_us")),
        ("veth", step("veth_us")),
        ("add-port", step("add_port_us")),
        ("container side (overlapped)", step("inside_us")),
        ("ovn-installed", step("installed_us")),
    ];

    let mut baseline = Vec::new();
    let result =
        (0..TASKS).try_for_each(|i| baseline_one(&central, &chassis, i).map(|d| baseline.push(d)));
    for i in 0..TASKS {
        baseline_cleanup(&chassis, i);
    }
    result?;

    for i in 0..TASKS {
        agent
            .shutdown(&ExecutorId::from(format!("ex-{i}")))
            .map_err(anyhow::Error::msg)?;
    }
    for e in executors.iter_mut() {
        e.wait_exit(T).await.map_err(anyhow::Error::msg)?;
    }
    let left = chassis
        .links()?
        .into_iter()
        .filter(|l| l.starts_with("ovnm"))
        .count();

    ours.sort();
    baseline.sort();
    anyhow::ensure!(
        inside.len() == TASKS,
        "{} executors logged launch_to_running_us; one log:\n{}",
        inside.len(),
        logs.first().map_or("", String::as_str)
    );
    let (i50, i99) = (percentile(&inside, 0.5), percentile(&inside, 0.99));
    let (o50, o99) = (percentile(&ours, 0.5), percentile(&ours, 0.99));
    let (b50, b99) = (percentile(&baseline, 0.5), percentile(&baseline, 0.99));
    let ratio = ms(i50) / ms(b50);
    let max_rss = rss.iter().copied().max().unwrap_or(0);
    let max_anon = anon.iter().copied().max().unwrap_or(0);
    println!("launch_to_running: {TASKS} tasks, one executor each, sequential launches");
    println!(
        "  executor  LAUNCH received -> TASK_RUNNING sent     p50 {:7.1} ms   p99 {:7.1} ms",
        ms(i50),
        ms(i99)
    );
    println!(
        "  agent     LAUNCH sent -> TASK_RUNNING received     p50 {:7.1} ms   p99 {:7.1} ms  (adds HTTP both ways)",
        ms(o50),
        ms(o99)
    );
    println!(
        "  baseline  CNI plugin steps as commands           p50 {:7.1} ms   p99 {:7.1} ms",
        ms(b50),
        ms(b99)
    );
    println!(
        "  ratio p50 executor/baseline = {ratio:.3} (agent-side {:.3})",
        ms(o50) / ms(b50)
    );
    let ovn_wait = steps.last().map_or(Duration::ZERO, |(_, d)| *d);
    println!(
        "  of which OVN's own binding (add-port to ovn-installed, which the baseline never waits for) p50 {:.1} ms = {:.3} x baseline p50",
        ms(ovn_wait),
        ms(ovn_wait) / ms(b50)
    );
    let parts: Vec<String> = steps
        .iter()
        .map(|(k, d)| format!("{k} {:.1} ms", ms(*d)))
        .collect();
    println!("  executor steps, p50 each: {}", parts.join(", "));
    println!(
        "  executor VmRSS max {max_rss} KiB (RssAnon max {max_anon} KiB) over {} executors; bench process {me} KiB",
        rss.len()
    );
    println!("  task veths left after SHUTDOWN: {left}");
    let verdict = |ok: bool| if ok { "PASS" } else { "FAIL" };
    println!(
        "{}: LAUNCH received -> TASK_RUNNING p50 {:.1} ms <= 0.3 x baseline p50 {:.1} ms",
        verdict(ratio <= 0.3),
        ms(i50),
        ms(b50)
    );
    println!(
        "{}: executor VmRSS {max_rss} KiB < {RSS_LIMIT_KIB} KiB per task",
        verdict(max_rss < RSS_LIMIT_KIB && rss.len() == TASKS)
    );
    println!("{}: nothing left after SHUTDOWN", verdict(left == 0));
    Ok(())
}
