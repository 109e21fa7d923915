//! `ovn-mesos`: the framework binary.
fn main() {}
