//! The ovn-mesos framework library.
