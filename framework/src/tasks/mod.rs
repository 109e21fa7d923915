//! Task definitions: mesos-execute TaskInfo JSON files turned into validated
//! desired services (data flow step 1 of `docs/architecture.md`).
//!
//! A task file is one Mesos `TaskInfo` in Mesos JSON, exactly what
//! `mesos-execute --task=file://...` reads; the seed's original files load
//! unchanged. What ovn-mesos reads from it:
//!
//! * `name`, `task_id.value` (the template id; defaults to `name`),
//!   `resources` (`cpus`, `mem`, `disk`, `ports`), `command`;
//! * the network: `container.network_infos[].labels` `logical_switch=<switch>`
//!   (the tenant is the switch's owner in the NB, found by [`Services::resolve`]);
//! * the service: `discovery.name` (default: the task `name`), the backend
//!   port `discovery.ports.ports[].number` and a port label `VIP_0` =
//!   `/<service>:<port>` (DC/OS named VIP) or `<gateway-ip>:<port>`;
//! * instances and restart policy in task `labels` ([`LABEL_INSTANCES`] ...).
//!
//! Parsing ([`parse_task_file`], [`load_paths`]) is pure: it names the switch
//! only. [`Services::resolve`] looks the switches up ([`Topology`]) and groups
//! the definitions into services. Errors are [`Problem`] lines naming the
//! file and field; fields ovn-mesos ignores give [`Warning`]s.

mod fields;
mod ignored;
mod load;
mod parse;
mod problem;
mod services;
mod template;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use mesos_proto::v1::{CommandInfo, TaskId, TaskInfo, TaskState};
use ovn::services::Protocol;

pub(crate) use load::expand;
pub use load::load_paths;
pub use parse::{parse_task_file, parse_task_value};
pub use problem::{Problem, TaskFileError, Warning};
pub use services::{Member, Service, Services, Topology};
pub use template::TemplateId;

/// Task label: how many copies of the task the service runs (0 to
/// [`MAX_INSTANCES`], default 1).
pub const LABEL_INSTANCES: &str = "ovn-mesos/instances";
/// Task label: when to relaunch a task that ended: `always` (default),
/// `on-failure` or `never` ([`RestartMode`]).
pub const LABEL_RESTART: &str = "ovn-mesos/restart";
/// Task label: the delay before the first relaunch, in seconds (default 1).
pub const LABEL_BACKOFF_SECONDS: &str = "ovn-mesos/backoff-seconds";
/// Task label: the factor the delay grows by after each failure (default 2).
pub const LABEL_BACKOFF_FACTOR: &str = "ovn-mesos/backoff-factor";
/// Task label: the longest delay between relaunches, in seconds (default 300).
pub const LABEL_MAX_BACKOFF_SECONDS: &str = "ovn-mesos/max-backoff-seconds";
/// Task label: `false` turns off OVN's load-balancer health checks of the
/// service's backends (`true`, the default, writes them; one member saying
/// `false` turns them off for the service).
pub const LABEL_OVN_HEALTH_CHECK: &str = "ovn-mesos/ovn-health-check";
/// Task label: the share of the instances that must stay healthy backends
/// while a deployment replaces tasks, from 0 to 1 (default 1, as Marathon's
/// `upgradeStrategy.minimumHealthCapacity`).
pub const LABEL_MINIMUM_HEALTH_CAPACITY: &str = "ovn-mesos/minimum-health-capacity";
/// Task label: how many tasks beyond the instances a deployment may run at
/// once, as a share of the instances from 0 to 1 (default 1, as Marathon's
/// `upgradeStrategy.maximumOverCapacity`).
pub const LABEL_MAXIMUM_OVER_CAPACITY: &str = "ovn-mesos/maximum-over-capacity";
/// Task label: how long a task that is taken out of its VIP (replaced,
/// scaled down, deleted) keeps running before it is killed, in seconds
/// (default 5; 0 kills at once).
pub const LABEL_DRAIN_SECONDS: &str = "ovn-mesos/drain-seconds";
/// Task label: a deployment that makes no progress this long, in seconds,
/// is shown as stuck (default 120).
pub const LABEL_PROGRESS_DEADLINE_SECONDS: &str = "ovn-mesos/progress-deadline-seconds";
/// Task label: placement constraints in Marathon's JSON form, e.g.
/// `[["hostname","UNIQUE"]]` ([`crate::launch::constraints`]).
pub const LABEL_CONSTRAINTS: &str = "ovn-mesos/constraints";
/// Task label: who may open connections to the service's tasks
/// (`api,external,10.10.1.0/24`: services of the tenant, `tenant`,
/// `external`, CIDRs; [`ovn::policy::Policy`]). Without it, anything in
/// the tenant may; with it, nothing else may. Every definition of a
/// service must say the same.
pub const LABEL_ALLOW_FROM: &str = "ovn-mesos/allow-from";
/// Every `ovn-mesos/` task label; any other key with that prefix is an error
/// (a typo must not silently fall back to a default).
pub const KNOWN_LABELS: [&str; 12] = [
    LABEL_INSTANCES,
    LABEL_RESTART,
    LABEL_BACKOFF_SECONDS,
    LABEL_BACKOFF_FACTOR,
    LABEL_MAX_BACKOFF_SECONDS,
    LABEL_OVN_HEALTH_CHECK,
    LABEL_MINIMUM_HEALTH_CAPACITY,
    LABEL_MAXIMUM_OVER_CAPACITY,
    LABEL_DRAIN_SECONDS,
    LABEL_PROGRESS_DEADLINE_SECONDS,
    LABEL_CONSTRAINTS,
    LABEL_ALLOW_FROM,
];
/// Labels that change how a definition is deployed or scaled, or who may
/// reach its tasks, not what its tasks run: a change of only these (or of
/// the instance count) starts no deployment (a policy is applied to the
/// running tasks' port group).
pub const ROLLOUT_LABELS: [&str; 6] = [
    LABEL_ALLOW_FROM,
    LABEL_INSTANCES,
    LABEL_MINIMUM_HEALTH_CAPACITY,
    LABEL_MAXIMUM_OVER_CAPACITY,
    LABEL_DRAIN_SECONDS,
    LABEL_PROGRESS_DEADLINE_SECONDS,
];
/// Label of `container.network_infos[]` naming the task's logical switch
/// (the attachment contract's key).
pub use ovn::attachment::LOGICAL_SWITCH as LABEL_LOGICAL_SWITCH;
/// Prefix of the `discovery.ports.ports[].labels` key asking for a VIP
/// (`VIP_0`, `VIP_1` ...: the DC/OS convention).
pub const VIP_LABEL_PREFIX: &str = "VIP_";
/// The largest `ovn-mesos/instances`.
pub const MAX_INSTANCES: u32 = 1000;

/// One validated task file: a template the scheduler launches
/// [`instances`](Self::instances) copies of.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskDefinition {
    /// The file it came from, as given (or as found in a directory).
    pub file: PathBuf,
    /// The TaskInfo as read, normalised: `agent_id` cleared (the offer
    /// fills it), `task_id` the template id.
    pub task_info: TaskInfo,
    /// The task `name`.
    pub name: String,
    /// The template id (`task_id.value`, or `name` when that is empty);
    /// unique across the files of one load.
    pub task_id: TaskId,
    /// The logical switch from the `logical_switch` network label.
    pub switch: String,
    /// The service: `discovery.name`, else the VIP's name, else `name`.
    pub service: String,
    /// The VIP asked for with a `VIP_<n>` port label.
    pub vip: Option<VipRequest>,
    /// The port the task listens on: the VIP port's `number`, else the
    /// first `discovery.ports` entry's.
    pub backend_port: Option<u16>,
    /// How many copies to run.
    pub instances: u32,
    pub restart: RestartPolicy,
    /// OVN health checks for its service's VIP ([`LABEL_OVN_HEALTH_CHECK`]).
    pub ovn_health_check: bool,
    pub resources: Resources,
    /// The command to run (`value` through `sh -c`, or `arguments` when
    /// `shell` is false).
    pub command: CommandInfo,
    /// How tasks of an earlier version are replaced, and how a task leaves.
    pub rollout: Rollout,
    /// Placement constraints ([`LABEL_CONSTRAINTS`]).
    pub constraints: Vec<crate::launch::constraints::Constraint>,
    /// Who may connect to its service's tasks ([`LABEL_ALLOW_FROM`]).
    pub allow_from: Option<ovn::policy::Policy>,
    /// The task file's JSON as given.
    pub body: std::sync::Arc<serde_json::Value>,
    /// What the tasks run, as a digest of the file without its
    /// [`ROLLOUT_LABELS`] ([`version_of`]): tasks of another version are
    /// replaced by a deployment.
    pub version: String,
}

/// How a definition's tasks are replaced and taken out (Marathon's
/// `upgradeStrategy`, plus the drain and the progress deadline).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rollout {
    /// The share of the instances that stays healthy during a deployment.
    pub minimum_health_capacity: f64,
    /// The share of the instances a deployment may run beyond them.
    pub maximum_over_capacity: f64,
    /// How long a task leaving its VIP keeps running before its KILL.
    pub drain: Duration,
    /// A deployment without progress this long is stuck.
    pub progress_deadline: Duration,
}

impl Default for Rollout {
    fn default() -> Self {
        Rollout {
            minimum_health_capacity: 1.0,
            maximum_over_capacity: 1.0,
            drain: Duration::from_secs(5),
            progress_deadline: Duration::from_secs(120),
        }
    }
}

impl Rollout {
    /// How many healthy backends a deployment of `instances` keeps:
    /// `ceil(instances × minimum_health_capacity)`, as Marathon.
    pub fn min_healthy(&self, instances: u32) -> u32 {
        (f64::from(instances) * self.minimum_health_capacity - 1e-9)
            .ceil()
            .max(0.0) as u32
    }

    /// How many tasks a deployment of `instances` may run at once:
    /// `floor(instances × (1 + maximum_over_capacity))`, as Marathon.
    pub fn max_tasks(&self, instances: u32) -> u32 {
        (f64::from(instances) * (1.0 + self.maximum_over_capacity) + 1e-9).floor() as u32
    }
}

/// The version of a task file's JSON: an FNV-1a digest (16 hex digits) of
/// its canonical form (keys sorted, no spaces) without the
/// [`ROLLOUT_LABELS`], so a scale or a strategy change keeps the version and
/// any other change makes a new one. Stable across builds (it is stored).
pub fn version_of(value: &serde_json::Value) -> String {
    let mut value = value.clone();
    if let Some(labels) = value
        .get_mut("labels")
        .and_then(|l| l.get_mut("labels"))
        .and_then(|l| l.as_array_mut())
    {
        labels.retain(|l| {
            !l.get("key")
                .and_then(|k| k.as_str())
                .is_some_and(|k| ROLLOUT_LABELS.contains(&k))
        });
    }
    // serde_json's map is ordered by key, so this is canonical.
    let text = value.to_string();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

impl TaskDefinition {
    /// The template this definition is: its task id.
    pub fn template(&self) -> TemplateId {
        TemplateId::from(&self.task_id)
    }
}

/// A VIP asked for by a task file: the service answers on `port` at the
/// physical IP of each of its tenant's gateway routers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VipRequest {
    /// The VIP port, e.g. 32350.
    pub port: u16,
    /// The port's `protocol` (`tcp` when absent).
    pub protocol: Protocol,
    /// The gateway address written in an `<ip>:<port>` label; it must be the
    /// physical IP of one of the tenant's gateway routers.
    pub address: Option<Ipv4Addr>,
}

/// When a task that ended is launched again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestartMode {
    /// After every terminal state (a long-running service).
    #[default]
    Always,
    /// After every terminal state but `TASK_FINISHED`.
    OnFailure,
    /// Never: the task runs once.
    Never,
}

impl RestartMode {
    /// The label value: `always`, `on-failure` or `never`.
    pub fn as_str(self) -> &'static str {
        match self {
            RestartMode::Always => "always",
            RestartMode::OnFailure => "on-failure",
            RestartMode::Never => "never",
        }
    }
}

/// A task's restart policy: the mode and its exponential backoff.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RestartPolicy {
    pub mode: RestartMode,
    /// Delay before the first relaunch.
    pub backoff: Duration,
    /// Growth of the delay per consecutive failure (at least 1).
    pub backoff_factor: f64,
    /// The delay never exceeds this.
    pub max_backoff: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            mode: RestartMode::Always,
            backoff: Duration::from_secs(1),
            backoff_factor: 2.0,
            max_backoff: Duration::from_secs(300),
        }
    }
}

impl RestartPolicy {
    /// Whether a task that reached `state` is launched again. Non-terminal
    /// states never ask for a relaunch.
    pub fn restarts_after(&self, state: TaskState) -> bool {
        let terminal = state.is_terminal();
        match self.mode {
            RestartMode::Always => terminal,
            RestartMode::OnFailure => terminal && state != TaskState::TaskFinished,
            RestartMode::Never => false,
        }
    }

    /// The delay before relaunching after `failures` consecutive failures
    /// (1 for the first): `backoff * factor^(failures-1)`, capped.
    pub fn delay(&self, failures: u32) -> Duration {
        let exponent = failures.saturating_sub(1).min(64) as i32;
        let secs = self.backoff.as_secs_f64() * self.backoff_factor.powi(exponent);
        let max = self.max_backoff.as_secs_f64();
        Duration::from_secs_f64(if secs.is_finite() { secs.min(max) } else { max })
    }
}

/// What a task needs from an offer.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Resources {
    /// `cpus` (more than 0).
    pub cpus: f64,
    /// `mem` in MB (more than 0).
    pub mem: f64,
    /// `disk` in MB (0 when absent).
    pub disk: f64,
    /// How many host ports of the `ports` ranges (0 when absent).
    pub ports: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_and_stops_at_the_maximum() {
        let policy = RestartPolicy::default();
        assert_eq!(policy.delay(1), Duration::from_secs(1));
        assert_eq!(policy.delay(2), Duration::from_secs(2));
        assert_eq!(policy.delay(4), Duration::from_secs(8));
        assert_eq!(policy.delay(20), Duration::from_secs(300));
        assert_eq!(policy.delay(u32::MAX), Duration::from_secs(300));
    }

    #[test]
    fn on_failure_relaunches_everything_but_a_finished_task() {
        let policy = RestartPolicy {
            mode: RestartMode::OnFailure,
            ..RestartPolicy::default()
        };
        assert!(policy.restarts_after(TaskState::TaskFailed));
        assert!(policy.restarts_after(TaskState::TaskLost));
        assert!(!policy.restarts_after(TaskState::TaskFinished));
        assert!(!policy.restarts_after(TaskState::TaskRunning));
    }

    #[test]
    fn always_relaunches_finished_tasks_and_never_relaunches_nothing() {
        let always = RestartPolicy::default();
        assert!(always.restarts_after(TaskState::TaskFinished));
        assert!(!always.restarts_after(TaskState::TaskStaging));
        let never = RestartPolicy {
            mode: RestartMode::Never,
            ..RestartPolicy::default()
        };
        assert!(!never.restarts_after(TaskState::TaskFailed));
    }
}
