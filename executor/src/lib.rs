//! ovn-mesos-executor: the custom Mesos executor that joins each task to its
//! OVN logical switch port.
//!
//! For every LAUNCH it creates a network namespace, a veth pair (host end
//! `ovnm<hash>`, container end `eth0` with the port's MAC, MTU, IP and default
//! route, tx checksum offload off), adds the host end to `br-int` in one
//! OVSDB transaction with `external_ids:iface-id=<logical port>`, waits for
//! ovn-controller's `ovn-installed`, runs the task's command inside the
//! namespace (with its own `/etc/resolv.conf` when the attachment has DNS
//! labels) and reports TASK_RUNNING with the task's IP. Whatever the path
//! (exit, kill, failed setup, SIGTERM), port, veth, namespace and
//! resolv.conf are removed; at start, ports left by a killed executor are
//! collected.
//!
//! The task attachment contract is documented in [`attachment`].
//!
//! Layers: [`mesos_env`], [`config`], [`attachment`], [`names`] (plain data);
//! [`netns`], [`netlink`], [`ethtool`], [`ovs`] (one kernel or database
//! mechanism each); [`plumbing`] and [`gc`] (a task's network as a whole);
//! [`resolv`] (a task's own `/etc/resolv.conf`); [`process`] and
//! [`exec_in_netns`] (the task's process); [`health`] (its
//! Mesos health checks); [`status`],
//! [`updates`], [`api`] (the executor API); [`task`] and [`executor`] (the
//! lifecycle and the event loop).

pub mod api;
pub mod attachment;
pub mod config;
pub use mesos_proto::duration;
pub mod ethtool;
pub mod exec_in_netns;
pub mod executor;
pub mod gc;
pub mod health;
pub mod mesos_env;
pub mod names;
pub mod netlink;
pub mod netns;
pub mod ovs;
pub mod ovs_session;
pub mod plumbing;
pub mod proc_info;
pub mod process;
pub mod resolv;
pub mod status;
pub mod task;
#[cfg(feature = "test-agent")]
pub mod test_agent;
pub mod updates;

pub use attachment::{Attachment, AttachmentError};
pub use config::ExecutorConfig;
pub use executor::{run, ExecutorError, Outcome};
pub use mesos_env::MesosEnv;
pub use names::TaskNames;
