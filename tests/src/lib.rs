//! Test harness: real OVN/OVS daemons in a private temp dir per test.
//!
//! * [`OvnCentral`]: NB + SB ovsdb-server and ovn-northd on unix sockets.
//! * [`RaftNb`]: a clustered (Raft) NB database.
//! * [`LocalOvs`]: a chassis' Open_vSwitch database server.
//! * [`Chassis`]: a full chassis (ovs-vswitchd, ovn-controller, `br-int`) in
//!   its own network namespace, registered with an [`OvnCentral`].
//! * [`ZooKeeper`]: a standalone ZooKeeper server or an ensemble (`java`
//!   with Debian's jars), on free loopback ports.
//! * [`wait_for`] / [`poll::wait_for_async`]: poll a condition with a deadline.
//! * [`binaries`]: the `ovn-mesos`, `ovn-mesos-executor` and `mesos-local`
//!   binaries tests run, built on demand by one helper.
//! * [`ha`]: `ovn-mesos run --zk` instances as child processes and what the
//!   HA test and bench read of them (`/health`, `/v1/tasks`, the leader, the
//!   NB's task ports, the master's frameworks).
//!
//! Everything an instance starts lives in its own `ovn-mesos-test-XXXXXX`
//! directory (`OVS_*`/`OVN_*` dirs point there), so tests run in parallel in
//! separate processes. Daemons stop on drop (graceful, then by pid); set
//! `OVN_MESOS_KEEP_TEST_DIR=1` to keep the directories for inspection.

pub mod bench;
pub mod binaries;
pub mod central;
pub mod chassis;
pub mod daemon;
pub mod dump;
pub mod ha;
pub mod lab;
pub mod logs;
pub mod ovs;
pub mod poll;
pub mod raft;
pub mod workdir;
pub mod zookeeper;

pub use central::OvnCentral;
pub use chassis::Chassis;
pub use daemon::{Daemon, DaemonSpec};
pub use ovs::LocalOvs;
pub use poll::{wait_for, wait_for_async};
pub use raft::RaftNb;
pub use workdir::WorkDir;
pub use zookeeper::ZooKeeper;
