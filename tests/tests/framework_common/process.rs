//! `ovn-mesos run` as a child process of a test: started with the lab's NB,
//! master, executor, a state dir and a free `--api` port, its stderr in a
//! log file; stopped with SIGTERM (graceful: tasks keep running) or
//! SIGKILL, by pid; SIGTERM then SIGKILL on drop. The HTTP API is read
//! with [`Framework::tasks`], [`Framework::service`], [`Framework::health`].

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use anyhow::Context;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use ovn_mesos_tests::wait_for;
use serde_json::Value;

use super::{free_api_addr, Lab};

/// How long `run` may take to exit after SIGTERM or a bad start.
const EXIT_WAIT: Duration = Duration::from_secs(20);

/// A running `ovn-mesos run`.
pub struct Framework {
    child: Child,
    pub api: SocketAddr,
    pub state_dir: PathBuf,
    pub log: PathBuf,
}

/// How a `run` that was expected to fail ended.
#[derive(Debug)]
pub struct RunOutcome {
    pub status: ExitStatus,
    pub stderr: String,
}

fn command(lab: &Lab, tasks: &[PathBuf], state_dir: &Path, api: SocketAddr) -> Command {
    let mut cmd = Command::new(&lab.bin);
    cmd.arg("--nb")
        .arg(lab.central.nb_remote())
        .args(["--log", "info"])
        .arg("run")
        .args(["--master", lab.master()])
        .arg("--state-dir")
        .arg(state_dir)
        .args(["--api", &api.to_string()])
        .arg("--executor")
        .arg(&lab.executor)
        .arg("--tasks")
        .args(tasks)
        .env_remove("OVN_MESOS_LOG")
        .stdin(Stdio::null());
    cmd
}

impl Framework {
    /// Starts `run` (log `<test dir>/<name>.log`) and waits until its API
    /// answers `/health` with 200 (subscribed).
    pub fn start(lab: &Lab, name: &str, tasks: &[PathBuf], state_dir: &Path) -> Framework {
        let api = free_api_addr();
        let log = lab.dir.path().join(format!("{name}.log"));
        let file = File::create(&log).expect("framework log");
        let child = command(lab, tasks, state_dir, api)
            .stdout(Stdio::from(file.try_clone().expect("log fd")))
            .stderr(Stdio::from(file))
            .spawn()
            .expect("spawn ovn-mesos run");
        let mut fw = Framework {
            child,
            api,
            state_dir: state_dir.to_path_buf(),
            log,
        };
        let waited = wait_for(
            &format!("{name}: GET /health to answer 200 (subscribed)"),
            super::WAIT,
            || {
                if let Some(status) = fw.child.try_wait()? {
                    anyhow::bail!("ovn-mesos run exited {status}: {}", fw.log_text());
                }
                Ok((fw.health(lab)?.0 == 200).then_some(()))
            },
        );
        if let Err(e) = waited {
            fw.stop();
            panic!("{e:#}\nlog:\n{}", fw.log_text());
        }
        fw
    }

    /// Runs `run` expecting it to exit on its own (a bad start): its exit
    /// status and stderr.
    pub fn run_expecting_exit(lab: &Lab, tasks: &[PathBuf], state_dir: &Path) -> RunOutcome {
        let mut child = command(lab, tasks, state_dir, free_api_addr())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ovn-mesos run");
        let pid = child.id();
        let status = wait_for("ovn-mesos run to exit on a bad start", EXIT_WAIT, || {
            Ok(child.try_wait()?)
        });
        let status = match status {
            Ok(s) => s,
            Err(e) => {
                signal(pid, Signal::SIGKILL);
                let _ = child.wait();
                panic!("{e:#}");
            }
        };
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            std::io::Read::read_to_string(&mut pipe, &mut stderr).expect("stderr");
        }
        RunOutcome { status, stderr }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM and wait for the exit (Err if it takes longer than 20 s).
    pub fn sigterm(&mut self) -> anyhow::Result<ExitStatus> {
        signal(self.pid(), Signal::SIGTERM);
        wait_for("ovn-mesos run to exit after SIGTERM", EXIT_WAIT, || {
            Ok(self.child.try_wait()?)
        })
    }

    /// SIGKILL (a crash) and reap.
    pub fn kill9(&mut self) {
        signal(self.pid(), Signal::SIGKILL);
        let _ = self.child.wait();
    }

    /// SIGTERM, then SIGKILL if it does not exit; idempotent.
    pub fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        if self.sigterm().is_err() {
            self.kill9();
        }
    }

    /// The log so far, without the terminal colour codes.
    pub fn log_text(&self) -> String {
        strip_ansi(&std::fs::read_to_string(&self.log).unwrap_or_default())
    }

    fn get(&self, lab: &Lab, path: &str) -> anyhow::Result<(u16, Value)> {
        lab.http_get(&format!("http://{}{path}", self.api))
    }

    /// `GET /health`: status and body.
    pub fn health(&self, lab: &Lab) -> anyhow::Result<(u16, Value)> {
        self.get(lab, "/health")
    }

    /// `GET /v1/tasks`: the tasks.
    pub fn tasks(&self, lab: &Lab) -> anyhow::Result<Vec<Value>> {
        let (status, body) = self.get(lab, "/v1/tasks")?;
        anyhow::ensure!(status == 200, "GET /v1/tasks: {status} {body}");
        body["tasks"].as_array().cloned().context("tasks array")
    }

    /// `DELETE /v1/tasks/{id}`: status and body.
    pub fn kill_task(&self, lab: &Lab, id: &str) -> anyhow::Result<(u16, Value)> {
        let url = format!("http://{}/v1/tasks/{id}", self.api);
        lab.http(reqwest::Method::DELETE, &url)
    }

    /// `GET /v1/services/{tenant}/{name}`.
    pub fn service(&self, lab: &Lab, tenant: &str, name: &str) -> anyhow::Result<Value> {
        let (status, body) = self.get(lab, &format!("/v1/services/{tenant}/{name}"))?;
        anyhow::ensure!(
            status == 200,
            "GET service {tenant}/{name}: {status} {body}"
        );
        Ok(body)
    }
}

impl Drop for Framework {
    fn drop(&mut self) {
        self.stop();
    }
}

fn signal(pid: u32, sig: Signal) {
    if let Ok(pid) = i32::try_from(pid) {
        let _ = kill(Pid::from_raw(pid), sig);
    }
}

/// `text` without `ESC [ ... m` colour sequences.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
