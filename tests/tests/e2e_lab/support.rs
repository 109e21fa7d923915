//! Helpers of the lab tests: a fresh (and seeded) lab per test, probes
//! between containers (ping, HTTP), and checks that a lab left nothing.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use ovn_mesos_tests::lab::state::{is_running, netns_exists, LabState};
use ovn_mesos_tests::lab::{Container, Host, Lab, LabConfig};
use ovn_mesos_tests::wait_for;

pub const WAIT: Duration = Duration::from_secs(20);

/// A fresh lab; its start time goes to stderr.
pub fn lab() -> Lab {
    start(LabConfig::for_test())
}

/// A fresh lab of `config`, its steps logged to the test's output
/// (`OVN_MESOS_LAB_LOG`, `info` by default); its start time goes to stderr.
pub fn start(config: LabConfig) -> Lab {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("OVN_MESOS_LAB_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_test_writer()
        .try_init();
    let what = if config.ha { "HA lab" } else { "lab" };
    let lab = Lab::start(config).unwrap_or_else(|e| panic!("{what} starts: {e:?}"));
    eprintln!(
        "{what} {} started in {} ms",
        lab.config().prefix,
        lab.startup_time().as_millis()
    );
    lab
}

/// A lab with the seed's tenants, gateways and networks.
pub fn seeded() -> Lab {
    let lab = lab();
    let t = Instant::now();
    lab.network_init_seed().expect("seed network steps");
    eprintln!("seed network steps took {} ms", t.elapsed().as_millis());
    lab
}

pub fn ping_once(lab: &Lab, from: &Container, to: Ipv4Addr) -> anyhow::Result<String> {
    lab.exec_in(&from.netns, &["ping", "-c1", "-W1", &to.to_string()])
}

/// Polls until `from` gets an echo reply from `to`.
pub fn wait_ping(lab: &Lab, from: &Container, to: Ipv4Addr) {
    wait_for(&format!("{} to ping {to}", from.name), WAIT, || {
        Ok(ping_once(lab, from, to).ok())
    })
    .unwrap();
}

/// Three echo requests, 1 s reply deadline: none may be answered.
pub fn assert_unreachable(lab: &Lab, from: &Container, to: Ipv4Addr) {
    let r = lab.exec_in(
        &from.netns,
        &["ping", "-c3", "-i0.2", "-W1", &to.to_string()],
    );
    assert!(r.is_err(), "{} reached {to}: {r:?}", from.name);
}

/// `python3 -m http.server 80` in `c`, serving `index.html` = its name and
/// a 1 MiB `big.bin`; returns once it answers locally.
pub fn http_server(lab: &mut Lab, c: &Container) {
    let www = lab.dir().join(format!("www-{}", c.name));
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), format!("{}\n", c.name)).unwrap();
    std::fs::write(www.join("big.bin"), vec![7u8; 1 << 20]).unwrap();
    let dir = www.display().to_string();
    let argv = [
        "/usr/bin/python3",
        "-m",
        "http.server",
        "80",
        "--bind",
        "0.0.0.0",
        "--directory",
        &dir,
    ];
    lab.spawn_process(&c.netns.clone(), &format!("http-{}", c.name), &argv)
        .unwrap();
    wait_for(&format!("http server in {}", c.name), WAIT, || {
        Ok(lab
            .exec_in(&c.netns, &["curl", "-sS", "-m", "1", "http://127.0.0.1/"])
            .ok())
    })
    .unwrap();
}

pub fn curl_from(lab: &Lab, c: &Container, url: &str) -> anyhow::Result<String> {
    lab.exec_in(&c.netns, &["curl", "-sS", "-m", "5", url])
}

/// The chassis name a logical port is bound to in SB.
pub fn bound_chassis(lab: &Lab, port: &str) -> String {
    let uuid = lab
        .sbctl(&[
            "--bare",
            "--columns=chassis",
            "find",
            "Port_Binding",
            &format!("logical_port={port}"),
        ])
        .unwrap();
    lab.sbctl(&["--bare", "--columns=name", "list", "Chassis", uuid.trim()])
        .unwrap()
}

/// Everything a lab's state lists is gone: processes, namespaces, directory.
pub fn assert_gone(state: &LabState) {
    let running: Vec<_> = state.processes.iter().filter(|p| is_running(p)).collect();
    assert!(running.is_empty(), "still running: {running:?}");
    let netns: Vec<_> = state.netns.iter().filter(|n| netns_exists(n)).collect();
    assert!(netns.is_empty(), "namespaces left: {netns:?}");
    let listed = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        !listed.contains(&state.prefix),
        "ip netns list still shows {}:\n{listed}",
        state.prefix
    );
    assert!(!state.dir.exists(), "{} left", state.dir.display());
}

/// A lab with a container and a process in it, and what its state lists.
pub fn busy_lab() -> (Lab, LabState) {
    let mut lab = seeded();
    let c = lab.container(Host::Agent1, "c", "coke1", None).unwrap();
    http_server(&mut lab, &c);
    let state = lab.state().clone();
    assert!(state.processes.len() >= 14, "{:?}", state.processes);
    assert!(
        state.processes.iter().all(is_running),
        "{:?}",
        state.processes
    );
    assert_eq!(state.netns.len(), 6);
    assert!(
        state.links.iter().any(|l| l.name == "lc0"),
        "{:?}",
        state.links
    );
    (lab, state)
}
