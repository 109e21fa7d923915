//! `ovn-mesos run` instances as child processes, with `--zk` for high
//! availability, and what the HA test (`framework_standby`) and the
//! `ha_failover` bench read of them and around them: their `/health` and
//! `/v1/tasks`, which of them leads, the NB's task ports and the master's
//! frameworks, on a `mesos-local run --noop-hold` cluster ([`noop_cluster`]).
//!
//! The HTTP readers are async, over the caller's `reqwest::Client`: the
//! bench polls in its own runtime, the test blocks on its runtime.

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use mesos_local::testing::ProcessCluster;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

use crate::OvnCentral;

/// A no-op agent's resources: 72 launches of 0.11 cpus and 48 MB each.
pub const AGENT_RESOURCES: &str = "cpus:8;mem:8192;disk:4096;ports:[31000-32000]";

/// How long a `/health` request may take.
const HEALTH_REQUEST: Duration = Duration::from_secs(2);

/// `mesos-local run` with `agents` agents of [`AGENT_RESOURCES`], its files
/// in `dir`: tasks are answered TASK_RUNNING and kept up without a process
/// (`--noop-hold`), so the framework's side is all real.
pub fn noop_cluster(agents: usize, dir: &Path) -> anyhow::Result<ProcessCluster> {
    let extra = ["--noop-hold", "--resources", AGENT_RESOURCES];
    Ok(ProcessCluster::start(agents, dir, &extra)?)
}

/// A free loopback address for an instance's API.
pub fn free_addr() -> anyhow::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.to_string())
}

/// A session timeout as `--zk-session-timeout` takes it (`2000ms`).
pub fn session_flag(session: Duration) -> String {
    format!("{}ms", session.as_millis())
}

/// How to start an `ovn-mesos run` ([`Instance::spawn`]).
#[derive(Debug)]
pub struct Run<'a> {
    /// The `ovn-mesos` binary.
    pub bin: &'a Path,
    /// `--nb`.
    pub nb: &'a str,
    /// `--master`.
    pub master: &'a str,
    /// `--tasks`.
    pub tasks: &'a Path,
    /// Where the instance's log (`<name>.log`) and state dir
    /// (`<name>-state`) go.
    pub work: &'a Path,
    /// `OVN_MESOS_LOG`.
    pub log_filter: &'a str,
    /// `--zk <url> --zk-session-timeout <session>` (and `--advertise-api`,
    /// the API address) when given.
    pub zk: Option<(&'a str, Duration)>,
}

/// One `ovn-mesos run`, stopped by pid on drop ([`Instance::stop`]).
#[derive(Debug)]
pub struct Instance {
    pub name: String,
    pub child: Child,
    /// `--api`, a free loopback address.
    pub api: String,
    /// Its stderr.
    pub log: PathBuf,
    /// `--state-dir`.
    pub state_dir: PathBuf,
    /// Just before the process was started.
    pub started: Instant,
}

impl Instance {
    /// Starts `ovn-mesos run` named `name` as `run` says, `OVN_MESOS_ZK`
    /// unset; stdout is dropped, stderr goes to the log.
    pub fn spawn(name: &str, run: &Run<'_>) -> anyhow::Result<Instance> {
        let api = free_addr()?;
        let log = run.work.join(format!("{name}.log"));
        let state_dir = run.work.join(format!("{name}-state"));
        let mut command = Command::new(run.bin);
        command
            .args(["--nb", run.nb, "run"])
            .args(["--master", run.master, "--api", &api])
            .arg("--tasks")
            .arg(run.tasks)
            .arg("--state-dir")
            .arg(&state_dir);
        if let Some((url, session)) = run.zk {
            command
                .args(["--advertise-api", &api, "--zk", url])
                .args(["--zk-session-timeout", &session_flag(session)]);
        }
        let started = Instant::now();
        let child = command
            .env("OVN_MESOS_LOG", run.log_filter)
            .env("NO_COLOR", "1")
            .env_remove("OVN_MESOS_ZK")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .with_context(|| format!("starting {}", run.bin.display()))?;
        Ok(Instance {
            name: name.to_owned(),
            child,
            api,
            log,
            state_dir,
            started,
        })
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    /// Sends `signal`, if the process is still there.
    pub fn signal(&self, signal: Signal) {
        let _ = kill(self.pid(), signal);
    }

    /// Fails, with the end of its log, if the process exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("{} exited ({status})\n{}", self.name, self.tail(30));
        }
        Ok(())
    }

    /// SIGKILL, then reaps the process.
    pub fn kill9(&mut self) {
        self.signal(Signal::SIGKILL);
        let _ = self.child.wait();
    }

    /// SIGCONT (it may be frozen) and SIGTERM, then SIGKILL after 10 s;
    /// polls for the exit.
    pub fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        self.signal(Signal::SIGCONT);
        self.signal(Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        eprintln!("{} did not stop 10 s after SIGTERM: SIGKILL", self.name);
        self.kill9();
    }

    /// Its log so far (empty if unreadable).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `lines` of its log under a header naming it.
    pub fn tail(&self, lines: usize) -> String {
        format!(
            "--- last lines of {} ({}) ---\n{}",
            self.name,
            self.log.display(),
            tail(&self.log_text(), lines)
        )
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The last `lines` lines of `text`.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// `GET /health` of the instance at `api` (2 s at most): the status and
/// the body, if it answers.
pub async fn health(http: &reqwest::Client, api: &str) -> Option<(u16, Value)> {
    let r = http
        .get(format!("http://{api}/health"))
        .timeout(HEALTH_REQUEST)
        .send()
        .await
        .ok()?;
    let status = r.status().as_u16();
    Some((status, r.json().await.ok()?))
}

/// Which of `instances` say `"role":"leader"` on `/health` (all asked at
/// once): their index and the status they answered, 200 once subscribed.
pub async fn leaders<I: Borrow<Instance>>(
    http: &reqwest::Client,
    instances: &[I],
) -> Vec<(usize, u16)> {
    let answers =
        futures::future::join_all(instances.iter().map(|i| health(http, &i.borrow().api))).await;
    answers
        .into_iter()
        .enumerate()
        .filter_map(|(k, a)| {
            a.filter(|(_, body)| body["role"] == "leader")
                .map(|(status, _)| (k, status))
        })
        .collect()
}

/// `GET <path>` of the instance at `api`, `timeout` at most: the JSON body
/// of a 2xx answer (following redirects as `http` does).
pub async fn get(
    http: &reqwest::Client,
    api: &str,
    path: &str,
    timeout: Duration,
) -> anyhow::Result<Value> {
    let r = http
        .get(format!("http://{api}{path}"))
        .timeout(timeout)
        .send()
        .await?;
    anyhow::ensure!(r.status().is_success(), "GET {path}: {}", r.status());
    Ok(r.json().await?)
}

/// A task as `/v1/tasks` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Task {
    pub state: String,
    pub ip: String,
    /// The version of its definition.
    pub version: String,
}

/// `GET /v1/tasks` of the instance at `api`: task id -> task.
pub async fn tasks(
    http: &reqwest::Client,
    api: &str,
    timeout: Duration,
) -> anyhow::Result<BTreeMap<String, Task>> {
    let body = get(http, api, "/v1/tasks", timeout).await?;
    let mut tasks = BTreeMap::new();
    for t in body["tasks"].as_array().context("no tasks in /v1/tasks")? {
        let s = |k: &str| t[k].as_str().unwrap_or_default().to_owned();
        let task = Task {
            state: s("state"),
            ip: s("ip"),
            version: s("version"),
        };
        tasks.insert(s("id"), task);
    }
    Ok(tasks)
}

/// Whether `tasks` are `n`, all TASK_RUNNING.
pub fn all_running(tasks: &BTreeMap<String, Task>, n: usize) -> bool {
    tasks.len() == n && tasks.values().all(|t| t.state == "TASK_RUNNING")
}

/// How many of `tasks` are in each state.
pub fn states(tasks: &BTreeMap<String, Task>) -> BTreeMap<&str, usize> {
    let mut states = BTreeMap::new();
    for t in tasks.values() {
        *states.entry(t.state.as_str()).or_default() += 1;
    }
    states
}

/// Task id -> IP of `tasks`.
pub fn ips(tasks: &BTreeMap<String, Task>) -> BTreeMap<String, String> {
    tasks
        .iter()
        .map(|(id, t)| (id.clone(), t.ip.clone()))
        .collect()
}

/// The NB's task ports (`external_ids:ovn-mesos/kind=task-port`): task id
/// -> IP.
pub fn nb_ports(central: &OvnCentral) -> anyhow::Result<BTreeMap<String, String>> {
    let out = central.nbctl(&[
        "--format=csv",
        "--data=bare",
        "--no-headings",
        "--columns=external_ids,addresses",
        "find",
        "Logical_Switch_Port",
        "external_ids:ovn-mesos/kind=task-port",
    ])?;
    let mut ports = BTreeMap::new();
    for line in out.lines().filter(|l| !l.trim().is_empty()) {
        let task = line
            .split([' ', ',', '"'])
            .find_map(|kv| kv.strip_prefix("ovn-mesos/task="))
            .with_context(|| format!("no task id in {line}"))?
            .to_owned();
        let ip = line
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .trim_matches('"')
            .to_owned();
        ports.insert(task, ip);
    }
    Ok(ports)
}

/// The frameworks of the master at `master`: id -> (active, running task
/// ids).
pub async fn master_frameworks(
    master: &str,
) -> anyhow::Result<BTreeMap<String, (bool, BTreeSet<String>)>> {
    let state = mesos_local::testing::master_state(master).await?;
    let mut frameworks = BTreeMap::new();
    for f in state["frameworks"].as_array().into_iter().flatten() {
        let running = f["tasks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| t["state"] == "TASK_RUNNING")
            .filter_map(|t| t["id"].as_str().map(str::to_owned))
            .collect();
        frameworks.insert(
            f["id"].as_str().unwrap_or_default().to_owned(),
            (f["active"] == true, running),
        );
    }
    Ok(frameworks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(state: &str, ip: &str) -> Task {
        Task {
            state: state.into(),
            ip: ip.into(),
            version: "v1".into(),
        }
    }

    #[test]
    fn tasks_are_counted_by_state() {
        let tasks: BTreeMap<String, Task> = [
            ("a".to_owned(), task("TASK_RUNNING", "10.0.0.2")),
            ("b".to_owned(), task("TASK_STAGING", "10.0.0.3")),
        ]
        .into();
        assert!(!all_running(&tasks, 2));
        assert_eq!(
            states(&tasks),
            [("TASK_RUNNING", 1), ("TASK_STAGING", 1)].into()
        );
        assert_eq!(ips(&tasks)["b"], "10.0.0.3");
        let one: BTreeMap<String, Task> = [("a".to_owned(), task("TASK_RUNNING", "x"))].into();
        assert!(all_running(&one, 1));
        assert!(!all_running(&one, 2));
    }

    #[test]
    fn tail_keeps_the_last_lines_and_the_session_flag_is_in_ms() {
        assert_eq!(tail("a\nb\nc", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
        assert_eq!(session_flag(Duration::from_secs(2)), "2000ms");
    }
}
