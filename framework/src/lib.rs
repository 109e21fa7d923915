//! The ovn-mesos framework library. `ovn-mesos` (`main.rs`) is a thin
//! binary over it; `docs/architecture.md` is the map.
//!
//! * [`cli`]: the command line (clap, every option also from an env var);
//! * [`client`]: the commands that talk to a running framework over its
//!   HTTP API (`apply`, `scale`, `delete`, `cancel`, `get`, `events`);
//! * [`network`]: the network commands (`tenant-init` ... `vip`);
//! * [`tasks`]: task files turned into validated desired services;
//! * [`launch`]: placement on offers and the `TaskInfo` of a launch (no I/O);
//! * [`scheduler`]: the pure scheduler core and the event loop with its
//!   workers behind `ovn-mesos run`;
//! * [`mesos`]: the v1 scheduler API connection (subscribe, events, calls);
//! * [`state`]: the state dir (framework id, task records), or the shared
//!   state in ZooKeeper with `--zk`;
//! * [`ha`]: leader election in ZooKeeper (`run --zk`);
//! * [`api`]: the HTTP API, its snapshot and the Prometheus metrics;
//! * [`run`]: `ovn-mesos run` and `ovn-mesos teardown`;
//! * [`cpu`]: lowering a background thread's CPU priority;
//! * [`exit`]: exit codes and one-line error reports.

pub mod api;
pub mod cli;
pub mod client;
pub(crate) mod cpu;
pub mod exit;
pub mod ha;
pub(crate) mod launch;
pub mod mesos;
pub mod network;
pub mod run;
pub mod scheduler;
pub(crate) mod state;
pub mod tasks;
