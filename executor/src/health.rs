//! Mesos health checks, run by the executor: interpreting `TaskInfo.health_check`
//! is the executor's job (so says Mesos' own documentation of health
//! checks), and this follows
//! what apache/mesos' `src/checks/health_checker.cpp` does for its own
//! executors:
//!
//! * the first check runs `delay_seconds` after the task started, the next
//!   `interval_seconds` after the previous one ended; each is bounded by
//!   `timeout_seconds` (a check that takes longer failed);
//! * a failure within `grace_period_seconds` of the start, before the first
//!   success, is ignored; the first success ends the grace period;
//! * every other failure is reported (healthy = false) with the count of
//!   failures in a row; `consecutive_failures` in a row kill the task;
//! * the first success, and the first after failures, report healthy = true.
//!
//! The probes run in the task's network namespace against the task's own
//! address: HTTP (`GET path`, healthy on a status in `statuses`, else
//! 200-399) and TCP (a connection) on a thread that entered the namespace
//! ([`crate::netns::run_in`]); COMMAND through the `exec-in-netns` helper,
//! with the task's environment, in its own process group, which is killed
//! whole when the check times out or is dropped.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use mesos_proto::health::{HealthSpec, Probe};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::netns;
use crate::process::CommandSpec;
use ovn::report::Chain;

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Healthy,
    /// Why it failed, one line.
    Unhealthy(String),
}

/// A health report to send (a TASK_RUNNING update with `healthy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthChange {
    pub healthy: bool,
    /// Failures in a row, this one included (0 when healthy).
    pub consecutive_failures: u32,
    /// The task must be killed: `consecutive_failures` reached the limit.
    pub kill: bool,
    /// Why the last check failed.
    pub reason: Option<String>,
}

/// What the check results mean, in Mesos' terms (`HealthChecker::failure`
/// and `success`).
#[derive(Debug)]
pub struct Tracker {
    started: Instant,
    grace: Duration,
    limit: u32,
    initializing: bool,
    failures: u32,
}

impl Tracker {
    /// A tracker for a task started at `started`.
    pub fn new(spec: &HealthSpec, started: Instant) -> Tracker {
        Tracker {
            started,
            grace: spec.grace_period,
            limit: spec.consecutive_failures,
            initializing: true,
            failures: 0,
        }
    }

    /// The report `verdict` (at `now`) calls for, if any.
    pub fn record(&mut self, verdict: &Verdict, now: Instant) -> Option<HealthChange> {
        match verdict {
            Verdict::Healthy => {
                let report = self.initializing || self.failures > 0;
                self.initializing = false;
                self.failures = 0;
                report.then_some(HealthChange {
                    healthy: true,
                    consecutive_failures: 0,
                    kill: false,
                    reason: None,
                })
            }
            Verdict::Unhealthy(why) => {
                if self.initializing
                    && !self.grace.is_zero()
                    && now.duration_since(self.started) <= self.grace
                {
                    debug!(reason = %why, "health check failed within the grace period: ignored");
                    return None;
                }
                self.failures += 1;
                Some(HealthChange {
                    healthy: false,
                    consecutive_failures: self.failures,
                    kill: self.failures >= self.limit,
                    reason: Some(why.clone()),
                })
            }
        }
    }
}

/// Where and how a task's check runs.
#[derive(Debug, Clone)]
pub struct Target {
    /// The task's network namespace.
    pub netns: String,
    /// The task's address.
    pub ip: Ipv4Addr,
    /// This executor's binary (the `exec-in-netns` helper), for COMMAND.
    pub helper: PathBuf,
    /// The task's sandbox (working directory of a COMMAND check).
    pub sandbox: PathBuf,
    /// The task's own resolv.conf, which a COMMAND check sees too.
    pub resolv_conf: Option<PathBuf>,
    /// The task command's environment (a COMMAND check's too).
    pub env: Vec<(String, String)>,
}

/// A task's checks, one after another, as a stream of [`HealthChange`]s.
#[derive(Debug)]
pub struct HealthChecks {
    spec: HealthSpec,
    target: Target,
    tracker: Tracker,
    next_at: Instant,
}

impl HealthChecks {
    /// The checks of a task started at `started`; the first runs after the delay.
    pub fn new(spec: HealthSpec, target: Target, started: Instant) -> HealthChecks {
        HealthChecks {
            tracker: Tracker::new(&spec, started),
            next_at: started + spec.delay,
            spec,
            target,
        }
    }

    /// Runs checks until one calls for a report. Cancel-safe between checks;
    /// a check cancelled half-way leaves no process behind.
    pub async fn next(&mut self) -> HealthChange {
        loop {
            tokio::time::sleep_until(self.next_at).await;
            let verdict = check(&self.spec, &self.target).await;
            self.next_at = Instant::now() + self.spec.interval;
            if let Verdict::Unhealthy(why) = &verdict {
                warn!(reason = %why, "health check failed");
            }
            if let Some(change) = self.tracker.record(&verdict, Instant::now()) {
                return change;
            }
        }
    }
}

/// How long one check may take: `timeout_seconds`, or when that is 0 the
/// interval (at least a second).
fn limit(spec: &HealthSpec) -> Duration {
    if spec.timeout.is_zero() {
        spec.interval.max(Duration::from_secs(1))
    } else {
        spec.timeout
    }
}

/// One check of `spec` against `target`, bounded by its timeout.
pub async fn check(spec: &HealthSpec, target: &Target) -> Verdict {
    let timeout = limit(spec);
    let deadline = std::time::Instant::now() + timeout;
    let addr = |port: u16| SocketAddr::from((target.ip, port));
    let run = async {
        match &spec.probe {
            Probe::Tcp { port } => {
                let addr = addr(*port);
                in_netns(&target.netns, move || {
                    remaining(deadline)
                        .and_then(|left| TcpStream::connect_timeout(&addr, left))
                        .map(|_| Verdict::Healthy)
                        .map_err(|e| format!("TCP connection to {addr} failed: {e}"))
                })
                .await
            }
            Probe::Http {
                port,
                path,
                statuses,
            } => {
                let (addr, path, statuses) = (addr(*port), path.clone(), statuses.clone());
                in_netns(&target.netns, move || {
                    http_get(addr, &path, &statuses, deadline)
                })
                .await
            }
            Probe::Command(command) => run_command(command, target).await,
        }
    };
    match tokio::time::timeout(timeout, run).await {
        Ok(Ok(verdict)) => verdict,
        Ok(Err(why)) => Verdict::Unhealthy(why),
        Err(_) => Verdict::Unhealthy(format!("timed out after {timeout:?}")),
    }
}

/// The time left before `deadline`, or an error when it has passed.
fn remaining(deadline: std::time::Instant) -> std::io::Result<Duration> {
    let left = deadline.saturating_duration_since(std::time::Instant::now());
    if left.is_zero() {
        Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "timed out",
        ))
    } else {
        Ok(left)
    }
}

/// Runs `probe` on a thread inside the namespace.
async fn in_netns<F>(name: &str, probe: F) -> Result<Verdict, String>
where
    F: FnOnce() -> Result<Verdict, String> + Send + 'static,
{
    match netns::run_in(name, probe).await {
        Ok(result) => result,
        Err(e) => Err(format!(
            "cannot enter the task's network namespace: {}",
            Chain(&e)
        )),
    }
}

/// `GET path` on `addr`: the verdict of its status line.
fn http_get(
    addr: SocketAddr,
    path: &str,
    statuses: &[u32],
    deadline: std::time::Instant,
) -> Result<Verdict, String> {
    let io = |e: std::io::Error| format!("HTTP GET http://{addr}{path} failed: {e}");
    let mut stream =
        TcpStream::connect_timeout(&addr, remaining(deadline).map_err(io)?).map_err(io)?;
    stream
        .set_write_timeout(Some(remaining(deadline).map_err(io)?))
        .map_err(io)?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: ovn-mesos-executor\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).map_err(io)?;
    let mut head = Vec::with_capacity(64);
    let mut buf = [0u8; 256];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 1024 {
        stream
            .set_read_timeout(Some(remaining(deadline).map_err(io)?))
            .map_err(io)?;
        let n = stream.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let line = line.lines().next().unwrap_or_default();
    let code: u32 = line
        .strip_prefix("HTTP/")
        .and_then(|rest| rest.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("HTTP GET http://{addr}{path}: no status line in {line:?}"))?;
    let healthy = if statuses.is_empty() {
        (200..400).contains(&code)
    } else {
        statuses.contains(&code)
    };
    Ok(if healthy {
        Verdict::Healthy
    } else {
        Verdict::Unhealthy(format!("HTTP GET http://{addr}{path} answered {code}"))
    })
}

/// Kills a check command's process group if it is still there when dropped.
struct Group(Option<Pid>);

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(pid) = self.0.take() {
            let _ = killpg(pid, Signal::SIGKILL);
        }
    }
}

/// A COMMAND check: exit 0 is healthy.
async fn run_command(
    command: &mesos_proto::v1::CommandInfo,
    target: &Target,
) -> Result<Verdict, String> {
    let spec = CommandSpec::from_command(Some(command)).map_err(|e| Chain(&e).to_string())?;
    let mut cmd = tokio::process::Command::new(&target.helper);
    cmd.args(spec.helper_args(&target.netns, target.resolv_conf.as_deref(), false))
        .current_dir(&target.sandbox)
        .env("MESOS_SANDBOX", &target.sandbox)
        .envs(target.env.iter().map(|(k, v)| (k, v)))
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start the check command: {e}"))?;
    let mut group = Group(child.id().map(|p| Pid::from_raw(p as i32)));
    let status = child
        .wait()
        .await
        .map_err(|e| format!("cannot wait for the check command: {e}"))?;
    // The leader is reaped; what it left in its group goes too.
    if let Some(pid) = group.0.take() {
        let _ = killpg(pid, Signal::SIGKILL);
    }
    if status.success() {
        Ok(Verdict::Healthy)
    } else {
        Ok(Verdict::Unhealthy(format!(
            "command {}",
            crate::process::describe_exit(&status)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_proto::v1::health_check::{TcpCheckInfo, Type};
    use mesos_proto::v1::HealthCheck;

    fn spec(grace: f64, failures: u32) -> HealthSpec {
        HealthSpec::from_proto(&HealthCheck {
            r#type: Some(Type::Tcp as i32),
            tcp: Some(TcpCheckInfo {
                port: 80,
                ..Default::default()
            }),
            grace_period_seconds: Some(grace),
            consecutive_failures: Some(failures),
            ..Default::default()
        })
        .unwrap()
    }

    fn bad() -> Verdict {
        Verdict::Unhealthy("down".into())
    }

    #[test]
    fn failures_in_the_grace_period_are_ignored_until_the_first_success() {
        let start = Instant::now();
        let mut t = Tracker::new(&spec(10.0, 3), start);
        assert_eq!(t.record(&bad(), start + Duration::from_secs(5)), None);
        assert_eq!(
            t.record(&bad(), start + Duration::from_secs(10)),
            None,
            "the edge is still grace"
        );
        let change = t
            .record(&bad(), start + Duration::from_millis(10_001))
            .unwrap();
        assert_eq!(
            (change.healthy, change.consecutive_failures, change.kill),
            (false, 1, false)
        );
        // after a success, the grace period is over at once
        let mut t = Tracker::new(&spec(10.0, 3), start);
        assert!(
            t.record(&Verdict::Healthy, start + Duration::from_secs(1))
                .unwrap()
                .healthy
        );
        let change = t.record(&bad(), start + Duration::from_secs(2)).unwrap();
        assert_eq!(change.consecutive_failures, 1);
    }

    #[test]
    fn consecutive_failures_kill_and_a_success_resets_the_count() {
        let start = Instant::now();
        let mut t = Tracker::new(&spec(0.0, 3), start);
        assert!(t.record(&Verdict::Healthy, start).unwrap().healthy);
        assert_eq!(
            t.record(&Verdict::Healthy, start),
            None,
            "no news: no report"
        );
        assert!(!t.record(&bad(), start).unwrap().kill);
        assert!(!t.record(&bad(), start).unwrap().kill);
        assert!(
            t.record(&Verdict::Healthy, start).unwrap().healthy,
            "back to healthy"
        );
        assert!(
            !t.record(&bad(), start).unwrap().kill,
            "the count started over"
        );
        assert!(!t.record(&bad(), start).unwrap().kill);
        let third = t.record(&bad(), start).unwrap();
        assert_eq!(
            (third.healthy, third.consecutive_failures, third.kill),
            (false, 3, true)
        );
        // with no grace period a first failure counts at once
        let mut t = Tracker::new(&spec(0.0, 1), start);
        assert!(t.record(&bad(), start).unwrap().kill);
    }
}
