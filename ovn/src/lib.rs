//! The OVN control plane of ovn-mesos: an async OVSDB client with a monitored
//! cache ([`ovsdb`]), typed rows for the Northbound and local Open_vSwitch tables,
//! pure IPAM, the tenant/gateway/network topology and service load balancers,
//! and the contract by which the framework and its executor attach a task to
//! its logical switch port ([`attachment`]).

pub mod attachment;
pub mod ipam;
pub mod nb;
pub mod ovsdb;
pub mod owner;
pub mod policy;
pub mod ports;
pub mod report;
pub mod services;
pub mod topology;
pub mod vswitch;
