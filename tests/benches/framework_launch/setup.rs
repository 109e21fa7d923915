//! The bench's world (the launch bench's, and the rolling deployment
//! bench's, which includes this file): OVN central (`OvnCentral`: NB, SB,
//! ovn-northd), a tenant with one network and an NB-only gateway (what
//! `ovn-mesos tenant-init`, `network-init` and `gateway-init --system-id`
//! write), the task files, `ovn-mesos run` as a child process, its
//! `/metrics` scraped, and a process's memory from `/proc/<pid>/status`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use ovn::nb::NB_DB;
use ovn::ovsdb::{Client, ClientConfig};
use ovn::topology::{
    gateway_init, monitor_nb, network_init, tenant_init, GatewayMode, GatewaySpec, NetworkSpec,
    TenantSpec,
};
use serde_json::json;

pub const TENANT: &str = "bench";
pub const NETWORK: &str = "benchnet";
/// Room for 4,094 task ports.
pub const SUBNET: &str = "10.128.0.0/20";
/// Task resources; the framework adds its executor's 0.1 cpus / 32 MB.
pub const TASK_CPUS: f64 = 0.01;
pub const TASK_MEM: f64 = 16.0;
/// What each launch takes from an agent, executor included.
pub const LAUNCH_CPUS: f64 = TASK_CPUS + 0.1;
pub const LAUNCH_MEM: f64 = TASK_MEM + 32.0;
/// A task file may ask for at most this many instances.
const MAX_INSTANCES: usize = 1000;

/// Tenant, network (`subnet`, inside `10.128.0.0/16`) and an NB-only
/// gateway (`GR_bench_bench-gw`).
pub async fn topology(nb_remote: &str, subnet: &str) -> anyhow::Result<()> {
    let nb = Client::connect(monitor_nb(ClientConfig::new(nb_remote, NB_DB)?)).await?;
    tenant_init(
        &nb,
        &TenantSpec {
            name: TENANT.into(),
            cluster_subnet: Some("10.128.0.0/16".parse()?),
            service_subnet: None,
        },
    )
    .await?;
    network_init(
        &nb,
        &NetworkSpec {
            tenant: TENANT.into(),
            name: NETWORK.into(),
            subnet: subnet.parse()?,
        },
    )
    .await?;
    let gateway = GatewaySpec {
        tenant: TENANT.into(),
        cluster_subnet: None,
        physical_ip: "172.16.0.2/24".parse()?,
        default_gw: "172.16.0.1".parse()?,
        mode: GatewayMode::Localnet {
            physnet: "physnet".into(),
            bridge: "br-ex".into(),
            interface: None,
        },
        system_id: Some("bench-gw".into()),
    };
    gateway_init(&nb, None, &gateway).await?;
    nb.close().await;
    Ok(())
}

/// Writes task files for `tasks` instances in `dir`: four templates (more
/// when one would exceed 1,000 instances), the first two one service with
/// a VIP. Returns how many files.
pub fn task_files(dir: &Path, tasks: usize) -> anyhow::Result<usize> {
    let templates = 4.max(tasks.div_ceil(MAX_INSTANCES));
    for i in 0..templates {
        let instances = tasks / templates + usize::from(i < tasks % templates);
        let name = format!("bench{i}");
        let mut task = json!({
            "name": name,
            "task_id": {"value": name},
            "agent_id": {"value": ""},
            "resources": [
                {"name": "cpus", "type": "SCALAR", "scalar": {"value": TASK_CPUS}},
                {"name": "mem", "type": "SCALAR", "scalar": {"value": TASK_MEM}}
            ],
            "command": {"shell": true, "value": "sleep 1000000"},
            "container": {"type": "MESOS", "network_infos": [{
                "name": "ovn",
                "labels": {"labels": [{"key": "logical_switch", "value": NETWORK}]}
            }]},
            "labels": {"labels": [
                {"key": "ovn-mesos/instances", "value": instances.to_string()}
            ]}
        });
        if i < 2 {
            task["discovery"] = json!({
                "visibility": "EXTERNAL",
                "name": "bench-web",
                "ports": {"ports": [{
                    "number": 8080, "name": "http", "protocol": "tcp",
                    "labels": {"labels": [{"key": "VIP_0", "value": "/bench-web:32350"}]}
                }]}
            });
        }
        std::fs::write(
            dir.join(format!("{name}.json")),
            serde_json::to_vec_pretty(&task)?,
        )?;
    }
    Ok(templates)
}

/// A free loopback address for the framework's API.
pub fn free_addr() -> anyhow::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.to_string())
}

/// `ovn-mesos run`, stopped with SIGTERM (then SIGKILL) on drop.
pub struct Framework {
    child: Child,
    pub api: String,
    pub log: PathBuf,
}

impl Framework {
    pub fn start(
        binary: &Path,
        nb: &str,
        master: &str,
        tasks: &Path,
        work: &Path,
    ) -> anyhow::Result<Framework> {
        let api = free_addr()?;
        let log = work.join("ovn-mesos.log");
        let child = Command::new(binary)
            .args(["--nb", nb, "run", "--master", master, "--api", &api])
            .arg("--tasks")
            .arg(tasks)
            .arg("--state-dir")
            .arg(work.join("state"))
            .env(
                "OVN_MESOS_LOG",
                std::env::var("FRAMEWORK_BENCH_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        Ok(Framework { child, api, log })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails, pointing at the log, if the process exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("ovn-mesos exited ({status}); see {}", self.log.display());
        }
        Ok(())
    }

    /// SIGTERM, then SIGKILL after 10 s.
    pub fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Framework {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One scrape of `/metrics`: `name{labels}` -> value.
pub struct Scrape(pub BTreeMap<String, f64>);

impl Scrape {
    pub async fn get(http: &reqwest::Client, api: &str) -> anyhow::Result<Scrape> {
        let text = http
            .get(format!("http://{api}/metrics"))
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?;
        let samples = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.rsplit_once(' '))
            .filter_map(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
            .collect();
        Ok(Scrape(samples))
    }

    /// A sample by its exact key (`0` when absent).
    pub fn value(&self, key: &str) -> f64 {
        self.0.get(key).copied().unwrap_or(0.0)
    }

    /// The histogram `ovn_mesos_<name>`: `(le seconds, cumulative
    /// count)`, ascending, `+Inf` last.
    pub fn histogram(&self, name: &str) -> Vec<(f64, f64)> {
        let prefix = format!("ovn_mesos_{name}_bucket{{le=\"");
        let mut buckets: Vec<(f64, f64)> = self
            .0
            .iter()
            .filter_map(|(k, v)| {
                let le = k.strip_prefix(&prefix)?.strip_suffix("\"}")?;
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().ok()?
                };
                Some((le, *v))
            })
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        buckets
    }
}

/// The observations of `after` that `before` did not have, bucket by bucket.
pub fn histogram_delta(before: &[(f64, f64)], after: &[(f64, f64)]) -> Vec<(f64, f64)> {
    after
        .iter()
        .map(|(le, n)| {
            let earlier = before
                .iter()
                .find(|(l, _)| l == le)
                .map_or(0.0, |(_, m)| *m);
            (*le, n - earlier)
        })
        .collect()
}

/// The upper bound of the bucket holding quantile `q` (seconds).
pub fn bucket_quantile(buckets: &[(f64, f64)], q: f64) -> f64 {
    let total = buckets.last().map_or(0.0, |b| b.1);
    let rank = (q * total).ceil().max(1.0);
    buckets
        .iter()
        .find(|(_, cumulative)| *cumulative >= rank)
        .map_or(f64::NAN, |(le, _)| *le)
}

/// How many observations went over `bound` (seconds), which must be one of
/// the bucket bounds; `None` when it is not.
pub fn over_bound(buckets: &[(f64, f64)], bound: f64) -> Option<f64> {
    let total = buckets.last().map_or(0.0, |b| b.1);
    buckets
        .iter()
        .find(|(le, _)| (le - bound).abs() < 1e-12)
        .map(|(_, within)| total - within)
}

/// `VmRSS` and `VmHWM` of a process, in MB.
pub fn memory_mb(pid: &str) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// CPU time (user + system, seconds) of a process and of its threads
/// named `thread` (the field after the command name is the 3rd of
/// `/proc/.../stat`; utime and stime are the 14th and 15th).
pub fn cpu_seconds(pid: &str, thread: &str) -> (f64, f64) {
    // USER_HZ: `/proc` counts in hundredths of a second on Linux.
    let ticks = 100.0;
    let of = |stat_path: String| {
        let stat = std::fs::read_to_string(stat_path).unwrap_or_default();
        let fields: Vec<&str> = stat
            .rfind(") ")
            .map(|end| stat[end + 2..].split(' ').collect())
            .unwrap_or_default();
        let field = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
        match (field(11), field(12)) {
            (Some(user), Some(system)) => (user + system) / ticks,
            _ => f64::NAN,
        }
    };
    let threads = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| {
            std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == thread)
        })
        .map(|e| of(e.path().join("stat").display().to_string()))
        .sum();
    (of(format!("/proc/{pid}/stat")), threads)
}

/// Waits until the master's `/state` shows no resources in use (a torn
/// down framework's tasks are gone).
pub async fn wait_resources_free(http: &reqwest::Client, master: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let state: serde_json::Value = http
            .get(format!("http://{master}/state"))
            .send()
            .await?
            .json()
            .await?;
        let used: f64 = state["slaves"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["used_resources"]["cpus"].as_f64())
            .sum();
        if used < 1e-6 {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the master still has {used} cpus in use 30 s after the baseline's TEARDOWN");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A process stopped with SIGSTOP, continued (SIGCONT) when dropped.
#[derive(Debug)]
pub struct Paused(Pid);

impl Paused {
    /// Stops `pid`.
    pub fn stop(pid: i32) -> anyhow::Result<Paused> {
        let pid = Pid::from_raw(pid);
        kill(pid, Signal::SIGSTOP).with_context(|| format!("cannot stop pid {pid}"))?;
        Ok(Paused(pid))
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        let _ = kill(self.0, Signal::SIGCONT);
    }
}
