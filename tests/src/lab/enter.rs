//! Running code of the test process inside a lab namespace: a scoped thread
//! that joins the namespace (`setns(2)`, like `ip netns exec` does for a
//! command) before running the closure, so sockets it opens (an HTTP
//! client of the mesos master at 10.10.1.11:5050, an OVSDB client over
//! TCP) live on the lab's underlay. Other threads stay where they are.

use std::fs::File;

use anyhow::Context;
use nix::sched::{setns, CloneFlags};

/// Runs `f` on a new thread inside network namespace `netns` and returns
/// its result. `f` typically builds a current-thread tokio runtime.
pub fn in_netns<T: Send>(netns: &str, f: impl FnOnce() -> T + Send) -> anyhow::Result<T> {
    let path = format!("/var/run/netns/{netns}");
    let file = File::open(&path).with_context(|| format!("cannot open {path}"))?;
    std::thread::scope(|s| {
        s.spawn(move || {
            setns(&file, CloneFlags::CLONE_NEWNET)
                .with_context(|| format!("setns into {netns}"))?;
            Ok(f())
        })
        .join()
        .map_err(|_| anyhow::anyhow!("the thread in {netns} panicked"))?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_namespace_is_an_error() {
        let err = in_netns("ovn-mesos-no-such-netns", || ()).unwrap_err();
        assert!(
            err.to_string()
                .contains("/var/run/netns/ovn-mesos-no-such-netns"),
            "{err}"
        );
    }
}
