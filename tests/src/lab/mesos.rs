//! `mesos-local` in the lab: the master in `mesos-master` on 10.10.1.11:5050,
//! one agent per agent host on `<host ip>:5051` with `--hostname` = the host
//! name (= the chassis `system-id`, so the framework's requested-chassis
//! matches) and an executor environment that points `ovn-mesos-executor` at
//! that host's Open_vSwitch database and namespace.
//!
//! They run as `ip netns exec <host> mesos-local ...` (the pid is
//! mesos-local's: `ip netns exec` execs), stdout to `<dir>/logs/<name>.out`
//! where the `listening on` line is awaited, and are stopped by pid.
//!
//! In HA mode every chassis host runs a master on `<host ip>:5050` (process
//! `mesos-master-<short host name>`, work dir `<dir>/<short>/mesos-master`,
//! no `--hostname`, so its redirects name its address) with `--zk
//! zk://10.10.1.11:2181/mesos --zk-session-timeout 2secs`; the agents get
//! `--master zk://10.10.1.11:2181/mesos` and follow the leader.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;

use super::plan::{Host, MESOS_AGENT_PORT, MESOS_MASTER_PORT, ZK_MESOS_PATH, ZK_SESSION_TIMEOUT};
use super::state::rank;
use super::Lab;
use crate::poll::wait_for;

/// Resources of each agent (the seed's VMs are small).
pub const AGENT_RESOURCES: &str = "cpus:4;mem:4096;disk:10000;ports:[31000-32000]";

/// How long mesos-local may take to listen and register.
const READY: Duration = Duration::from_secs(30);

impl Lab {
    /// Starts the master (in HA mode the three masters) and both agents and
    /// waits until the (leading) master lists them.
    pub(super) fn start_mesos(&mut self) -> anyhow::Result<()> {
        let bin = crate::binaries::mesos_local_binary()?.display().to_string();
        let port = MESOS_MASTER_PORT.to_string();
        let zk = self.zk_url(ZK_MESOS_PATH);
        for host in self.mesos_master_hosts() {
            let ip = host.ip().to_string();
            let mut argv = vec![
                bin.clone(),
                "master".into(),
                "--ip".into(),
                ip,
                "--port".into(),
                port.clone(),
                "--work-dir".into(),
            ];
            match &zk {
                None => argv.extend([
                    self.host_dir(host).join("mesos").display().to_string(),
                    "--hostname".into(),
                    host.name().into(),
                ]),
                Some(zk) => argv.extend([
                    self.host_dir(host)
                        .join("mesos-master")
                        .display()
                        .to_string(),
                    "--zk".into(),
                    zk.clone(),
                    "--zk-session-timeout".into(),
                    ZK_SESSION_TIMEOUT.into(),
                ]),
            }
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            let name = self.mesos_master_process(host);
            self.start_mesos_process(host, &name, &argv, &[], rank::MESOS_MASTER)?;
        }
        let master = self.mesos_master();
        for host in Host::AGENTS {
            let ip = host.ip().to_string();
            let work = self.host_dir(host).join("mesos").display().to_string();
            let port = MESOS_AGENT_PORT.to_string();
            let attributes = format!("ovn-chassis:{}", host.name());
            let env = serde_json::to_string(&self.executor_env(host))?;
            let mut argv = vec![
                bin.as_str(),
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
            ];
            if zk.is_some() {
                argv.extend(["--zk-session-timeout", ZK_SESSION_TIMEOUT]);
            }
            self.start_mesos_process(
                host,
                &format!("{}-agent", host.name()),
                &argv,
                &[],
                rank::MESOS_AGENT,
            )?;
        }
        wait_for(
            "both agents registered with the (leading) mesos master",
            READY,
            || {
                let Some(leader) = self.leading_master() else {
                    anyhow::bail!("no mesos master leads yet");
                };
                let hostnames = self.registered_agents(leader)?;
                Ok(Host::AGENTS
                    .iter()
                    .all(|h| hostnames.iter().any(|n| n == h.name()))
                    .then_some(()))
            },
        )
    }

    /// The hosts running a `mesos-local master`: the three chassis in HA
    /// mode, else `mesos-master`.
    pub fn mesos_master_hosts(&self) -> Vec<Host> {
        if self.config.ha {
            Host::MASTERS.to_vec()
        } else {
            vec![Host::Master]
        }
    }

    /// The lab's name of `host`'s master process (its logs are
    /// `<dir>/logs/<name>.{out,log}`): `mesos-master`, or in HA mode
    /// `mesos-master-<short host name>` (`mesos-master-agent1` ...).
    pub fn mesos_master_process(&self, host: Host) -> String {
        if self.config.ha {
            format!("mesos-master-{}", host.short())
        } else {
            "mesos-master".into()
        }
    }

    /// `<host ip>:5050`, the master of `host`.
    pub fn mesos_master_of(&self, host: Host) -> String {
        format!("{}:{}", host.ip(), MESOS_MASTER_PORT)
    }

    /// `GET /state` of `host`'s master (from inside `mesos-master`); Err
    /// unless it answers a JSON document (a master that does not lead
    /// answers 307 to the leader, with no body).
    pub fn master_state(&self, host: Host) -> anyhow::Result<serde_json::Value> {
        let url = format!("http://{}/state", self.mesos_master_of(host));
        let text = self.exec(Host::Master, &["curl", "-sS", "-m", "2", &url])?;
        serde_json::from_str(&text).with_context(|| format!("{url} answered no state: {text:?}"))
    }

    /// The master that leads now: the one whose `/state` says `leader:
    /// master@<its own address>` with an `elected_time` (checked on every
    /// master, in host order). `None` while none does.
    pub fn leading_master(&self) -> Option<Host> {
        self.mesos_master_hosts().into_iter().find(|host| {
            self.master_state(*host).is_ok_and(|s| {
                s["leader"] == format!("master@{}", self.mesos_master_of(*host))
                    && (!self.config.ha || s["elected_time"].is_number())
            })
        })
    }

    /// The hostnames of the active agents `host`'s master lists.
    pub fn registered_agents(&self, host: Host) -> anyhow::Result<Vec<String>> {
        let state = self.master_state(host)?;
        Ok(state["slaves"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|s| s["active"].as_bool() != Some(false))
                    .filter_map(|s| s["hostname"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
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
