//! The ovn-mesos framework library: the command line ([`cli`]) and the network
//! commands it runs ([`network`]). Later parts add the scheduler.

pub mod cli;
pub mod exit;
pub mod network;
