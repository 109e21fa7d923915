//! The ovn-mesos framework library: the command line ([`cli`]) and the network
//! commands it runs ([`network`]), the task definitions that describe services
//! ([`tasks`]) and the framework's local state store ([`state`]). The
//! scheduler that launches the tasks builds on these.

pub mod api;
pub mod cli;
pub mod cpu;
pub mod exit;
pub mod launch;
pub mod mesos;
pub mod network;
pub mod run;
pub mod scheduler;
pub mod state;
pub mod tasks;
