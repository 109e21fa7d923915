//! `mesos-local` in the lab: the master in `mesos-master` on 10.10.1.11:5050,
//! one agent per agent host on `<host ip>:5051` with `--hostname` = the host
//! name (= the chassis `system-id`, so the framework's requested-chassis
//! matches) and an executor environment that points `ovn-mesos-executor` at
//! that host's Open_vSwitch database and namespace.
//!
//! They run as `ip netns exec <host> mesos-local ...` (the pid is
//! mesos-local's: `ip netns exec` execs), stdout to `<dir>/logs/<name>.out`
//! where the `listening on` line is awaited, and are stopped by pid.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;

use super::plan::{Host, MESOS_AGENT_PORT, MESOS_MASTER_PORT};
use super::state::rank;
use super::Lab;
use crate::poll::wait_for;

/// Resources of each agent (the seed's VMs are small).
pub const AGENT_RESOURCES: &str = "cpus:4;mem:4096;disk:10000;ports:[31000-32000]";

/// How long mesos-local may take to listen and register.
const READY: Duration = Duration::from_secs(30);

impl Lab {
    /// Starts the master and both agents and waits until the master lists them.
    pub(super) fn start_mesos(&mut self) -> anyhow::Result<()> {
        let bin = crate::binaries::mesos_local_binary()?.display().to_string();
        let master_ip = Host::Master.ip().to_string();
        let work = self
            .host_dir(Host::Master)
            .join("mesos")
            .display()
            .to_string();
        let port = MESOS_MASTER_PORT.to_string();
        self.start_mesos_process(
            Host::Master,
            "mesos-master",
            &[
                &bin,
                "master",
                "--ip",
                &master_ip,
                "--port",
                &port,
                "--work-dir",
                &work,
                "--hostname",
                Host::Master.name(),
            ],
            &[],
            rank::MESOS_MASTER,
        )?;
        let master = self.mesos_master();
        for host in Host::AGENTS {
            let ip = host.ip().to_string();
            let work = self.host_dir(host).join("mesos").display().to_string();
            let port = MESOS_AGENT_PORT.to_string();
            let attributes = format!("ovn-chassis:{}", host.name());
            let env = serde_json::to_string(&self.executor_env(host))?;
            self.start_mesos_process(
                host,
                &format!("{}-agent", host.name()),
                &[
                    &bin,
                    "agent",
                    "--master",
                    &master,
                    "--ip",
                    &ip,
                    "--port",
                    &port,
                    "--work-dir",
                    &work,
                    "--hostname",
                    host.name(),
                    "--resources",
                    AGENT_RESOURCES,
                    "--attributes",
                    &attributes,
                    "--executor-environment-variables",
                    &env,
                ],
                &[],
                rank::MESOS_AGENT,
            )?;
        }
        let url = format!("http://{master}/state");
        wait_for(
            "both agents registered with the mesos master",
            READY,
            || {
                let text = self.exec(Host::Master, &["curl", "-sS", "-m", "2", &url])?;
                let state: serde_json::Value = serde_json::from_str(&text)?;
                let hostnames: Vec<&str> = state["slaves"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|s| s["hostname"].as_str()).collect())
                    .unwrap_or_default();
                Ok(Host::AGENTS
                    .iter()
                    .all(|h| hostnames.contains(&h.name()))
                    .then_some(()))
            },
        )
    }

    /// The base environment of executors on `host`'s agent: `PATH`, the
    /// host's `OVS_RUNDIR`, `OVN_MESOS_OVS_DB` and `OVN_MESOS_HOST_NETNS`.
    pub fn executor_env(&self, host: Host) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        env.insert(
            "PATH".to_string(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        );
        env.insert(
            "OVS_RUNDIR".into(),
            self.host_dir(host).display().to_string(),
        );
        env.insert("OVN_MESOS_OVS_DB".into(), self.ovs_remote(host));
        env.insert("OVN_MESOS_HOST_NETNS".into(), self.netns(host));
        env
    }

    /// The agent of `host`, `<host ip>:5051`.
    pub fn mesos_agent(&self, host: Host) -> String {
        format!("{}:{}", host.ip(), MESOS_AGENT_PORT)
    }

    fn start_mesos_process(
        &mut self,
        host: Host,
        name: &str,
        argv: &[&str],
        env: &[(String, String)],
        rank: u8,
    ) -> anyhow::Result<()> {
        let ns = self.netns(host);
        let pid = self.spawn_with(&ns, name, argv, env, rank)?;
        let out = self.process_stdout(name);
        let log = self.dir.join("logs").join(format!("{name}.log"));
        wait_for(&format!("{name} (pid {pid}) to listen"), READY, || {
            if !crate::daemon::pid_is_alive(pid) {
                anyhow::bail!("{name} exited; see {}", log.display());
            }
            let text = std::fs::read_to_string(&out).unwrap_or_default();
            Ok(text.contains("listening on http://").then_some(()))
        })
        .with_context(|| {
            format!(
                "last lines of {}:\n{}",
                log.display(),
                crate::daemon::tail(&log, 10)
            )
        })
    }
}
