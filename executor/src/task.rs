//! One task's life, from LAUNCH to its terminal update: TASK_STARTING, the
//! attachment read, the network set up, the command started inside the
//! namespace, TASK_RUNNING, then the exit (or a kill: TASK_KILLING, SIGTERM,
//! SIGKILL after the grace period), the network removed, and TASK_FINISHED,
//! TASK_FAILED or TASK_KILLED. The network is removed before the terminal
//! update is sent, on every path. A task with a `health_check` is checked
//! while it runs ([`crate::health`]): each report is a TASK_RUNNING update
//! with `healthy` and reason REASON_TASK_HEALTH_CHECK_STATUS_UPDATED, and
//! `consecutive_failures` in a row kill it (TASK_KILLED, `healthy` false,
//! the message says why), as Mesos' command executor does.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mesos_proto::health::HealthSpec;
use mesos_proto::v1::task_status::Reason;
use mesos_proto::v1::{KillPolicy, TaskId, TaskInfo, TaskState, TaskStatus};
use tokio::sync::{mpsc, watch};
use tracing::{info, info_span, warn, Instrument};

use crate::attachment::Attachment;
use crate::health::{HealthChange, HealthChecks, Target};
use crate::plumbing::{Plumber, SetupError};
use crate::process::{describe_exit, CommandError, CommandSpec, TaskProcess};
use crate::status::Reporter;
use ovn::report::Chain;

/// What a task reports to the executor loop.
#[derive(Debug)]
pub enum TaskEvent {
    /// A status update to send.
    Status(Box<TaskStatus>),
    /// The task is over (its terminal update was reported before this).
    Done(TaskId),
}

/// What every task of this executor shares.
#[derive(Debug)]
pub struct TaskContext {
    pub plumber: Plumber,
    pub reporter: Reporter,
    /// This executor's binary (the `exec-in-netns` helper).
    pub helper: PathBuf,
    pub sandbox: PathBuf,
    /// Grace between SIGTERM and SIGKILL when a task without a kill policy
    /// is killed for its health.
    pub default_grace: Duration,
    pub events: mpsc::UnboundedSender<TaskEvent>,
}

/// How a task ended: its terminal update's state, message, reason and,
/// after a kill for its health, `healthy` false.
type Ending = (TaskState, String, Option<Reason>, Option<bool>);

/// A kill order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kill {
    /// Time between SIGTERM and SIGKILL.
    pub grace: Duration,
    /// Send TASK_KILLING first (the framework has the TASK_KILLING_STATE
    /// capability, as Mesos' executors check).
    pub report_killing: bool,
}

/// The kill order of a task, once there is one.
pub type KillOrder = Option<Kill>;

/// The grace period of a kill policy (the task's or a KILL event's), if set.
pub fn policy_grace(policy: Option<KillPolicy>) -> Option<Duration> {
    policy
        .and_then(|p| p.grace_period)
        .map(|g| crate::duration::from_nanos(g.nanoseconds))
}

impl TaskContext {
    fn report(
        &self,
        task: &TaskId,
        state: TaskState,
        message: Option<String>,
        reason: Option<Reason>,
    ) {
        let status = self.reporter.status(task, state, message, reason);
        let _ = self.events.send(TaskEvent::Status(Box::new(status)));
    }
}

/// Runs `task` to its end; `received` is when its LAUNCH arrived. `kill`
/// carries a kill order once the task must be killed.
pub async fn run_task(
    ctx: Arc<TaskContext>,
    task: TaskInfo,
    received: Instant,
    kill: watch::Receiver<KillOrder>,
) {
    let id = task.task_id.clone();
    let span = info_span!("task", task = %id);
    async {
        let (state, message, reason, healthy) = lifecycle(&ctx, &task, received, kill).await;
        info!(state = ?state, message = %message, "task ended");
        let mut status = ctx.reporter.status(&id, state, Some(message), reason);
        status.healthy = healthy;
        let _ = ctx.events.send(TaskEvent::Status(Box::new(status)));
        let _ = ctx.events.send(TaskEvent::Done(id));
    }
    .instrument(span)
    .await
}

async fn lifecycle(
    ctx: &TaskContext,
    task: &TaskInfo,
    received: Instant,
    mut kill: watch::Receiver<KillOrder>,
) -> Ending {
    let id = &task.task_id;
    ctx.report(id, TaskState::TaskStarting, None, None);
    let attachment = match Attachment::from_task(task) {
        Ok(a) => a,
        Err(e) => {
            return failed(
                format!("invalid network attachment: {}", Chain(&e)),
                Reason::TaskInvalid,
            )
        }
    };
    let command = match CommandSpec::from_task(task) {
        Ok(c) => c,
        Err(e) => return failed(Chain(&e).to_string(), Reason::TaskInvalid),
    };
    let health = match task.health_check.as_ref().map(HealthSpec::from_proto) {
        None => None,
        Some(Ok(spec)) => Some(spec),
        Some(Err(e)) => return failed(format!("invalid {e}"), Reason::TaskInvalid),
    };
    if kill.borrow().is_some() {
        return killed(
            "killed before its network was set up".into(),
            Some(Reason::TaskKilledDuringLaunch),
        );
    }
    // The helper process starts (and waits at its gate) while the network
    // is set up: its fork and exec are off the critical path.
    // The network setup writes the task's resolv.conf before the gate opens.
    let task_names = ctx.plumber.names(id);
    let resolv_conf = ctx.plumber.resolv_conf(&task_names, &attachment);
    let netns_name = task_names.netns;
    let (helper, sandbox, spec) = (ctx.helper.clone(), ctx.sandbox.clone(), command.clone());
    let resolv = resolv_conf.clone();
    let prepared = tokio::task::spawn_blocking(move || {
        TaskProcess::prepare(&helper, &netns_name, resolv.as_deref(), &spec, &sandbox)
    });
    let mut cancel = kill.clone();
    let killed_meanwhile = async move {
        wait_kill(&mut cancel).await;
    };
    let (network, prepared) = tokio::join!(
        ctx.plumber.setup(id, &attachment, killed_meanwhile),
        prepared
    );
    let prepared = prepared
        .map_err(|e| CommandError::Spawn(std::io::Error::other(Chain(&e).to_string())))
        .and_then(|p| p);
    let (network, mut process) = match (network, prepared) {
        (Ok(n), Ok(p)) => (n, p),
        (Ok(n), Err(e)) => {
            if let Err(t) = ctx.plumber.teardown(&n.names).await {
                warn!(error = %Chain(&t), "network cleanup after a failed start incomplete");
            }
            return failed(Chain(&e).to_string(), Reason::ContainerLaunchFailed);
        }
        (Err(e), prepared) => {
            if let Ok(p) = prepared {
                p.abort().await;
            }
            return match e {
                SetupError::Cancelled => killed(
                    "killed during launch".into(),
                    Some(Reason::TaskKilledDuringLaunch),
                ),
                e => failed(
                    format!("network setup failed: {}", Chain(&e)),
                    Reason::ContainerLaunchFailed,
                ),
            };
        }
    };
    let names = &network.names;
    let cleanup = |what: &'static str| async move {
        if let Err(e) = ctx.plumber.teardown(names).await {
            warn!(error = %Chain(&e), "network cleanup {what} incomplete");
        }
    };
    if kill.borrow().is_some() {
        process.abort().await;
        cleanup("after a kill during launch").await;
        return killed(
            "killed during launch".into(),
            Some(Reason::TaskKilledDuringLaunch),
        );
    }
    if let Err(e) = process.start().await {
        process.abort().await;
        cleanup("after a failed start").await;
        return failed(Chain(&e).to_string(), Reason::ContainerLaunchFailed);
    }
    let pid = process.pid().as_raw() as u32;
    let _ = ctx.events.send(TaskEvent::Status(Box::new(
        ctx.reporter.running(id, &network, pid),
    )));
    info!(
        pid,
        launch_to_running_us = received.elapsed().as_micros() as u64,
        "TASK_RUNNING"
    );
    let mut checks = health.map(|spec| {
        let target = Target {
            netns: names.netns.clone(),
            ip: network.attachment.ip,
            helper: ctx.helper.clone(),
            sandbox: ctx.sandbox.clone(),
            resolv_conf: resolv_conf.clone(),
            env: command.env.clone(),
        };
        HealthChecks::new(spec, target, tokio::time::Instant::now())
    });
    let mut was_killed = false;
    let mut unhealthy: Option<String> = None;
    let exit = loop {
        tokio::select! {
            status = process.wait() => break status,
            order = wait_kill(&mut kill) => {
                was_killed = true;
                if order.report_killing {
                    ctx.report(id, TaskState::TaskKilling, None, None);
                }
                info!(grace = ?order.grace, "killing the task's process group");
                break process.terminate(order.grace).await;
            }
            change = next_change(&mut checks) => {
                let mut status = ctx.reporter.running(id, &network, pid);
                status.healthy = Some(change.healthy);
                status.set_reason(Reason::TaskHealthCheckStatusUpdated);
                status.message = change.reason.as_ref().map(|why| {
                    format!("health check failed {} time(s) in a row: {why}", change.consecutive_failures)
                });
                info!(healthy = change.healthy, failures = change.consecutive_failures, "health");
                let _ = ctx.events.send(TaskEvent::Status(Box::new(status)));
                if change.kill {
                    unhealthy = Some(format!(
                        "killed after {} consecutive failed health checks, the last: {}",
                        change.consecutive_failures,
                        change.reason.as_deref().unwrap_or("unknown")
                    ));
                    let grace = policy_grace(task.kill_policy).unwrap_or(ctx.default_grace);
                    info!(?grace, "killing the task's process group: unhealthy");
                    break process.terminate(grace).await;
                }
            }
        }
    };
    // Whatever the task left in its group goes too.
    process.signal_group(nix::sys::signal::Signal::SIGKILL);
    cleanup("after the task ended").await;
    let how = match &exit {
        Ok(status) => describe_exit(status),
        Err(e) => format!("could not be waited for: {e}"),
    };
    if let Some(why) = unhealthy {
        return (
            TaskState::TaskKilled,
            format!("Command {how}; {why}"),
            None,
            Some(false),
        );
    }
    match (was_killed, exit) {
        (true, _) => killed(format!("Command {how}"), None),
        (false, Ok(status)) if status.success() => (
            TaskState::TaskFinished,
            format!("Command {how}"),
            None,
            None,
        ),
        (false, _) => failed(format!("Command {how}"), Reason::CommandExecutorFailed),
    }
}

/// The next health report, or never for a task without a check.
async fn next_change(checks: &mut Option<HealthChecks>) -> HealthChange {
    match checks {
        Some(checks) => checks.next().await,
        None => std::future::pending().await,
    }
}

async fn wait_kill(kill: &mut watch::Receiver<KillOrder>) -> Kill {
    loop {
        if let Some(order) = *kill.borrow_and_update() {
            return order;
        }
        if kill.changed().await.is_err() {
            // The executor dropped the sender: it is going away; kill now.
            return Kill {
                grace: Duration::ZERO,
                report_killing: false,
            };
        }
    }
}

fn failed(message: String, reason: Reason) -> Ending {
    (TaskState::TaskFailed, message, Some(reason), None)
}

fn killed(message: String, reason: Option<Reason>) -> Ending {
    (TaskState::TaskKilled, message, reason, None)
}
