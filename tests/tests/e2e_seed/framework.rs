//! The scheduler under test in a lab: `ovn-mesos run --master 10.10.1.11:5050
//! --tasks <repo>/tasks --nb tcp:10.10.1.11:6641` started inside the lab's
//! `mesos-master` namespace (a lab process, so stopping the lab kills it),
//! killed with SIGKILL and started again on the same state dir, and its HTTP
//! API (`/v1/tasks`, `/v1/services/...`, `/health`) read with `curl` from
//! inside that namespace, where it listens.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use ovn_mesos::api::{ServiceView, TaskView};
use ovn_mesos_tests::binaries::{executor_binary, ovn_mesos_binary};
use ovn_mesos_tests::daemon::pid_is_alive;
use ovn_mesos_tests::lab::plan::{MESOS_MASTER_PORT, NB_PORT};
use ovn_mesos_tests::lab::{wait_task_ports_removed, Host, Lab};
use ovn_mesos_tests::wait_for;
use ovn_mesos_tests::workdir::run_command;
use serde::Deserialize;

/// Where the API listens inside `mesos-master` (the lab's own namespace, so
/// no other test shares the port).
pub const API: &str = "127.0.0.1:8089";

/// How long the framework may take to subscribe, launch and report.
pub const READY: Duration = Duration::from_secs(60);

/// The shipped task files (`tasks/` of this checkout).
pub fn tasks_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tasks")
}

/// One `ovn-mesos run` of a lab, and its restarts.
#[derive(Debug)]
pub struct Framework {
    /// The running process.
    pub pid: i32,
    /// `--state-dir`, kept across restarts.
    pub state_dir: PathBuf,
    /// `--tasks`: the shipped task files unless started with others.
    pub tasks: PathBuf,
    /// When the current process was started.
    pub started: Instant,
    runs: u32,
    /// What [`Drop`] needs to tear the tasks down without the lab handle.
    master_netns: String,
    agent_ovs: Vec<String>,
    torn_down: bool,
}

impl Framework {
    /// Starts `ovn-mesos run` in `mesos-master` with a state dir in the lab dir.
    pub fn start(lab: &mut Lab) -> Framework {
        Framework::start_with(lab, &tasks_dir())
    }

    /// Starts `ovn-mesos run` with the task files of `tasks`.
    pub fn start_with(lab: &mut Lab, tasks: &Path) -> Framework {
        let mut fw = Framework {
            pid: 0,
            state_dir: lab.dir().join("ovn-mesos-state"),
            tasks: tasks.to_owned(),
            started: Instant::now(),
            runs: 0,
            master_netns: lab.netns(Host::Master),
            agent_ovs: Host::AGENTS.iter().map(|h| lab.ovs_remote(*h)).collect(),
            torn_down: false,
        };
        fw.spawn(lab);
        fw
    }

    fn spawn(&mut self, lab: &mut Lab) {
        let cli = ovn_mesos_binary().expect("ovn-mesos binary");
        let executor = executor_binary().expect("ovn-mesos-executor binary");
        let tasks = self.tasks.clone();
        let argv: Vec<String> = vec![
            cli.display().to_string(),
            "run".into(),
            "--master".into(),
            lab.mesos_master(),
            "--tasks".into(),
            tasks.display().to_string(),
            "--nb".into(),
            lab.nb_remote(),
            "--state-dir".into(),
            self.state_dir.display().to_string(),
            "--api".into(),
            API.into(),
            "--executor".into(),
            executor.display().to_string(),
            // the lab's upstream resolver is `outside`
            "--dns-server".into(),
            Host::Outside.ip().to_string(),
        ];
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        self.runs += 1;
        let name = format!("ovn-mesos-run-{}", self.runs);
        let ns = lab.netns(Host::Master);
        self.started = Instant::now();
        self.pid = lab
            .spawn_process(&ns, &name, &argv)
            .expect("ovn-mesos run starts");
    }

    /// SIGKILL, then polls until the process is gone (see [`gone`]).
    pub fn kill(&self) {
        kill(Pid::from_raw(self.pid), Signal::SIGKILL).expect("SIGKILL the framework");
        wait_for(
            &format!("ovn-mesos run (pid {}) to die of SIGKILL", self.pid),
            Duration::from_secs(10),
            || Ok(gone(self.pid).then_some(())),
        )
        .unwrap();
    }

    /// SIGTERM (it leaves the tasks to Mesos and exits 0), then polls until
    /// the process is gone.
    pub fn stop(&self) {
        kill(Pid::from_raw(self.pid), Signal::SIGTERM).expect("SIGTERM the framework");
        wait_for(
            &format!("ovn-mesos run (pid {}) to exit after SIGTERM", self.pid),
            Duration::from_secs(20),
            || Ok(gone(self.pid).then_some(())),
        )
        .unwrap();
    }

    /// `ovn-mesos teardown` with the saved framework id (the framework must be
    /// stopped): Mesos kills the tasks, their ports and load balancers go.
    pub fn teardown(&mut self) -> anyhow::Result<String> {
        self.torn_down = true;
        let cli = ovn_mesos_binary()?.display().to_string();
        let mut cmd = std::process::Command::new("ip");
        cmd.args(["netns", "exec", &self.master_netns, &cli, "teardown"])
            .args([
                "--master",
                &format!("{}:{MESOS_MASTER_PORT}", Host::Master.ip()),
            ])
            .args(["--nb", &format!("tcp:{}:{NB_PORT}", Host::Master.ip())])
            .arg("--state-dir")
            .arg(&self.state_dir);
        run_command(cmd)
    }

    /// Starts it again with the same state dir.
    pub fn restart(&mut self, lab: &mut Lab) {
        self.spawn(lab);
    }

    /// Whether the current process still runs.
    pub fn alive(&self) -> bool {
        pid_is_alive(self.pid)
    }

    /// The last lines of the current process's log, for failure messages.
    pub fn log_tail(&self, lab: &Lab) -> String {
        let log = lab
            .dir()
            .join("logs")
            .join(format!("ovn-mesos-run-{}.log", self.runs));
        ovn_mesos_tests::daemon::tail(&log, 30)
    }
}

impl Drop for Framework {
    /// A test that ends without tearing down (a failure) still stops the
    /// framework and has Mesos kill its tasks before the lab stops, so the
    /// executors remove their containers (stopping an agent SIGKILLs them).
    fn drop(&mut self) {
        if self.torn_down {
            return;
        }
        if self.alive() {
            let _ = kill(Pid::from_raw(self.pid), Signal::SIGTERM);
            let _ = wait_for("the framework to exit", Duration::from_secs(10), || {
                Ok((!self.alive()).then_some(()))
            });
        }
        let result = self
            .teardown()
            .and_then(|_| wait_task_ports_removed(&self.agent_ovs, READY));
        if let Err(e) = result {
            eprintln!("tearing the framework down: {e:#}");
        }
    }
}

/// Whether process `pid` has ended with all of its threads: no process, or
/// a zombie with one thread left. A SIGKILLed process's main thread turns
/// zombie while its other threads still exit, and its files (the API's
/// listening socket) close only with the last of them, so a restart
/// before that finds the port in use.
fn gone(pid: i32) -> bool {
    if pid_is_alive(pid) {
        return false;
    }
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return true;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse::<u32>().ok())
        .is_none_or(|n| n <= 1)
}

/// `curl` of the API from inside `mesos-master`: the body of a 2xx answer.
pub fn api_get(lab: &Lab, path: &str) -> anyhow::Result<String> {
    let url = format!("http://{API}{path}");
    lab.exec(Host::Master, &["curl", "-sSf", "-m", "2", &url])
}

#[derive(Deserialize)]
struct TaskList {
    tasks: Vec<TaskView>,
}

/// `GET /v1/tasks`.
pub fn tasks(lab: &Lab) -> anyhow::Result<Vec<TaskView>> {
    let body = api_get(lab, "/v1/tasks")?;
    let list: TaskList =
        serde_json::from_str(&body).with_context(|| format!("bad /v1/tasks: {body}"))?;
    Ok(list.tasks)
}

/// `GET /v1/services/{tenant}/{name}`.
pub fn service(lab: &Lab, tenant: &str, name: &str) -> anyhow::Result<ServiceView> {
    let body = api_get(lab, &format!("/v1/services/{tenant}/{name}"))?;
    serde_json::from_str(&body).with_context(|| format!("bad service {tenant}/{name}: {body}"))
}

/// Polls `/health` until the framework is subscribed.
pub fn wait_subscribed(lab: &Lab, fw: &Framework) {
    wait_for(
        "GET /health to answer 200 (framework subscribed)",
        READY,
        || {
            if !fw.alive() {
                bail!("ovn-mesos run exited:\n{}", fw.log_tail(lab));
            }
            Ok(api_get(lab, "/health").ok())
        },
    )
    .unwrap();
}

/// Polls `/v1/tasks` until the four shipped tasks run; returns them sorted
/// by definition (apachecoke, apachepepsi, nginxcoke, nginxpepsi).
pub fn wait_four_running(lab: &Lab, fw: &Framework) -> Vec<TaskView> {
    wait_for(
        "the 4 shipped tasks in TASK_RUNNING in /v1/tasks",
        READY,
        || {
            if !fw.alive() {
                bail!("ovn-mesos run exited:\n{}", fw.log_tail(lab));
            }
            let mut running: Vec<TaskView> = tasks(lab)?
                .into_iter()
                .filter(|t| t.state == "TASK_RUNNING")
                .collect();
            running.sort_by(|a, b| a.definition.cmp(&b.definition));
            Ok((running.len() == 4).then_some(running))
        },
    )
    .unwrap()
}

/// The running task of definition `definition`, if any.
pub fn running_task(tasks: &[TaskView], definition: &str) -> Option<TaskView> {
    tasks
        .iter()
        .find(|t| t.definition == definition && t.state == "TASK_RUNNING")
        .cloned()
}

/// The lab host a task runs on (its agent's hostname).
pub fn host_of(task: &TaskView) -> Host {
    task.hostname
        .as_deref()
        .expect("a launched task has a hostname")
        .parse()
        .expect("the hostname is a lab host")
}
