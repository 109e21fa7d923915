//! Start-up garbage collection: task ports this executor kind created whose
//! executor is gone (SIGKILLed, crashed) or whose namespace is gone. Each one
//! is torn down like a finished task: OVS port, host veth, processes left in
//! the namespace, the namespace. An executor killed after creating a veth
//! but before adding its port leaves a veth with no port: its alias
//! (`ovn-mesos pid=<pid> start=<ticks> netns=<name>`) names the owner, and it
//! is removed the same way once that owner is gone. A task's files
//! ([`crate::resolv`]) whose namespace is gone go too.

use tracing::{info, warn};

use crate::names::{TaskNames, PREFIX};
use crate::netns;
use crate::ovs::OwnedPort;
use crate::plumbing::{Plumber, SetupError};
use crate::proc_info::{self, Me};
use crate::resolv;
use ovn::report::Chain;

/// Why a port is stale, or None when its executor still runs and its namespace exists.
pub fn stale_reason(
    port: &OwnedPort,
    netns_exists: bool,
    executor_alive: bool,
) -> Option<&'static str> {
    if !netns_exists {
        Some("its network namespace is gone")
    } else if !executor_alive {
        Some("its executor is gone")
    } else {
        None
    }
    .filter(|_| !port.name.is_empty())
}

/// The alias a task's host veth carries until its OVS port exists.
pub fn owner_alias(me: Me, netns: &str) -> String {
    format!(
        "{ALIAS_PREFIX} pid={} start={} netns={netns}",
        me.pid, me.start_time
    )
}

/// `(pid, start time, netns)` from an [`owner_alias`].
pub fn parse_owner_alias(alias: &str) -> Option<(i32, u64, String)> {
    let rest = alias.strip_prefix(ALIAS_PREFIX)?;
    let (mut pid, mut start, mut netns) = (None, None, None);
    for field in rest.split_whitespace() {
        match field.split_once('=')? {
            ("pid", v) => pid = v.parse().ok(),
            ("start", v) => start = v.parse().ok(),
            ("netns", v) => netns = Some(v.to_owned()),
            _ => {}
        }
    }
    Some((pid?, start?, netns?))
}

const ALIAS_PREFIX: &str = "ovn-mesos";

/// Removes every stale task port, and task veths without a port whose
/// executor is gone, then task files whose namespace is gone; returns the
/// names of the ports and veths removed.
pub async fn collect_garbage(plumber: &Plumber) -> Result<Vec<TaskNames>, SetupError> {
    let ovs = plumber.ovs().get().await?;
    let mut removed = Vec::new();
    for (name, alias) in plumber.host().links_with_prefix(PREFIX).await? {
        let Some((pid, start, netns)) = alias.as_deref().and_then(parse_owner_alias) else {
            continue;
        };
        if ovs.has_port(&name) || proc_info::is_alive(pid, Some(start)) {
            continue;
        }
        let names = TaskNames {
            netns,
            host_veth: name,
        };
        info!(veth = %names.host_veth, netns = %names.netns, "removing a task veth its dead executor never plugged");
        match plumber.teardown(&names).await {
            Ok(()) => removed.push(names),
            Err(e) => {
                warn!(veth = %names.host_veth, error = %Chain(&e), "could not remove a stale task veth")
            }
        }
    }
    for port in ovs.owned_ports() {
        let alive = port
            .executor_pid
            .is_some_and(|pid| proc_info::is_alive(pid, port.executor_start));
        let Some(reason) = stale_reason(&port, netns::exists(&port.netns), alive) else {
            continue;
        };
        let names = TaskNames {
            netns: port.netns.clone(),
            host_veth: port.name.clone(),
        };
        info!(port = %port.name, netns = %port.netns, task = %port.task, reason, "removing a stale task port");
        match plumber.teardown(&names).await {
            Ok(()) => removed.push(names),
            Err(e) => {
                warn!(port = %port.name, error = %Chain(&e), "could not remove a stale task port")
            }
        }
    }
    remove_orphan_files(plumber.run_dir());
    Ok(removed)
}

/// Removes the files of tasks whose namespace is gone. (A task's files are
/// written after its namespace is made and removed after it is deleted.)
fn remove_orphan_files(run_dir: &std::path::Path) {
    for netns in resolv::task_dirs(run_dir, PREFIX) {
        if netns::exists(&netns) {
            continue;
        }
        let dir = resolv::task_dir(run_dir, &netns);
        match resolv::remove(run_dir, &netns) {
            Ok(()) => {
                info!(netns = %netns, dir = %dir.display(), "removed the files of a task whose namespace is gone")
            }
            Err(e) => {
                warn!(netns = %netns, dir = %dir.display(), error = %Chain(&e), "could not remove a stale task's files")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port() -> OwnedPort {
        OwnedPort {
            name: "ovnm0123456789".into(),
            netns: "ovnm-0123456789".into(),
            task: "t".into(),
            executor_pid: Some(1),
            executor_start: Some(1),
        }
    }

    #[test]
    fn an_owner_alias_reads_back() {
        let me = Me {
            pid: 42,
            start_time: 777,
        };
        let alias = owner_alias(me, "ovnm-0123456789");
        assert_eq!(alias, "ovn-mesos pid=42 start=777 netns=ovnm-0123456789");
        assert_eq!(
            parse_owner_alias(&alias),
            Some((42, 777, "ovnm-0123456789".into()))
        );
        assert_eq!(parse_owner_alias("something else"), None);
        assert_eq!(parse_owner_alias("ovn-mesos pid=42"), None);
    }

    #[test]
    fn a_port_is_stale_when_its_namespace_or_executor_is_gone() {
        assert_eq!(stale_reason(&port(), true, true), None);
        assert_eq!(
            stale_reason(&port(), false, true),
            Some("its network namespace is gone")
        );
        assert_eq!(
            stale_reason(&port(), true, false),
            Some("its executor is gone")
        );
    }
}
